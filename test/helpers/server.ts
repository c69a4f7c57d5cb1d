import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConfig, silentLogger, type Clock, type ConfigLayer } from '../../src/core/index.js';
import { parseCard } from '../../src/registry/index.js';
import type { DeploymentSettings } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { createBerthServer, type BerthServer } from '../../src/server/index.js';
import { fixturePath } from './fixtures.js';

export interface TestServer {
  server: BerthServer;
  url: string;
  dataDir: string;
  close(): Promise<void>;
}

/** A real Berth server on 127.0.0.1, port 0, with a temp data dir. */
export async function startServer(
  layer: ConfigLayer = {},
  opts: { example?: boolean; dataDir?: string; clock?: Clock; rolloutClock?: Clock; adminToken?: string; pollMs?: number; jobTimings?: { pollMs?: number; heartbeatMs?: number; leaseMs?: number } } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'berth-test-'));
  // tests run in dev mode (no authentication) unless they configure auth themselves
  const config = resolveConfig(
    { logLevel: 'silent', auth: { dev: layer.auth === undefined } },
    layer,
    { dataDir, server: { host: '127.0.0.1', port: 0, ...(layer.server ?? {}) } },
  );
  const server = await createBerthServer({
    config,
    logger: silentLogger,
    example: opts.example ?? false,
    pollMs: opts.pollMs ?? 0,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.rolloutClock ? { rolloutClock: opts.rolloutClock } : {}),
    ...(opts.adminToken !== undefined ? { adminToken: opts.adminToken } : {}),
    ...(opts.jobTimings !== undefined ? { jobTimings: opts.jobTimings } : {}),
  });
  const url = await server.listen();
  return {
    server,
    url,
    dataDir,
    async close() {
      await server.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const backend = new OnnxBackend();

/** Register a fixture model (with its fixture card) and deploy it under `deployment`. */
export async function deployFixture(
  ts: TestServer,
  model: string,
  opts: { deployment?: string; settings?: DeploymentSettings; card?: boolean; name?: string } = {},
): Promise<{ deployment: string; version: number }> {
  const name = opts.name ?? model;
  const cardFile = fixturePath(model, 'card.json');
  const card = opts.card === false ? undefined : parseCard(readFileSync(cardFile, 'utf8'), cardFile);
  const { version } = await ts.server.registry.registerVersion({
    name,
    filePath: fixturePath(model),
    ...(card ? { card } : {}),
    inspect: (b) => backend.inspect(b),
  });
  const deployment = opts.deployment ?? name;
  await ts.server.registry.deploy({
    name: deployment,
    model: name,
    target: { kind: 'version', version: version.version },
    ...(opts.settings ? { settings: opts.settings } : {}),
  });
  await ts.server.service.refresh();
  return { deployment, version: version.version };
}

/**
 * Register a fixture model (with its card, unless `card: false`) or raw ONNX bytes as the next
 * version of model `name`, without deploying it. Returns the version number.
 */
export async function registerVersion(
  ts: TestServer,
  name: string,
  source: { fixture: string; card?: boolean } | { bytes: Uint8Array; file?: string; cardOf?: string },
): Promise<number> {
  let filePath: string;
  let cardFile: string | undefined;
  if ('fixture' in source) {
    filePath = fixturePath(source.fixture);
    if (source.card !== false) cardFile = fixturePath(source.fixture, 'card.json');
  } else {
    filePath = path.join(ts.dataDir, source.file ?? `upload-${Date.now()}-${Math.random().toString(36).slice(2)}.onnx`);
    writeFileSync(filePath, source.bytes);
    if (source.cardOf) cardFile = fixturePath(source.cardOf, 'card.json');
  }
  const card = cardFile ? parseCard(readFileSync(cardFile, 'utf8'), cardFile) : undefined;
  const { version } = await ts.server.registry.registerVersion({ name, filePath, ...(card ? { card } : {}), inspect: (b) => backend.inspect(b) });
  return version.version;
}

export interface HttpAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** POST JSON and read the answer (parsed when JSON). */
export async function post<T = Record<string, unknown>>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer<T>> {
  return answer<T>(
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

export async function get<T = Record<string, unknown>>(url: string): Promise<HttpAnswer<T>> {
  return answer<T>(await fetch(url));
}

async function answer<T>(res: Response): Promise<HttpAnswer<T>> {
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

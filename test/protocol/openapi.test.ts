import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/core/index.js';
import { createBerthServer, type BerthServer } from '../../src/server/index.js';

let dir: string;
let server: BerthServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-openapi-'));
  server = await createBerthServer({ config: resolveConfig({ dataDir: dir, logLevel: 'silent', auth: { dev: true }, server: { host: '127.0.0.1', port: 0 } }), pollMs: 0 });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Every `METHOD /path` Fastify registered, read from `printRoutes({ commonPrefix: false })`: one
 * line per tree node, four characters of indentation per level, methods in parentheses. HEAD
 * routes Fastify adds for each GET, and the CORS preflight catch-all `OPTIONS *`, are left out;
 * `:param` becomes `{param}`.
 */
function registeredRoutes(tree: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│   |    )*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('').replace(/:([A-Za-z_]+)/g, '{$1}');
    for (const method of (m[3] ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
      if (method !== 'HEAD' && !(method === 'OPTIONS' && path === '*')) out.push(`${method} ${path}`);
    }
  }
  return out.sort();
}

interface OpenApiDoc {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown> };
}

async function fetchDoc(): Promise<OpenApiDoc> {
  const res = await server.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toContain('application/json');
  return JSON.parse(res.body) as OpenApiDoc;
}

describe('the OpenAPI document', () => {
  it('documents every route the server registers, and the server registers every documented route', async () => {
    const doc = await fetchDoc();
    const registered = registeredRoutes(server.app.printRoutes({ commonPrefix: false }));
    expect(registered.length).toBeGreaterThan(30);
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(registered);
    for (const route of documented) {
      const [method, path] = route.split(' ') as [string, string];
      expect(server.app.hasRoute({ method: method as 'GET', url: path.replace(/\{([A-Za-z_]+)\}/g, ':$1') }), route).toBe(true);
    }
  });

  it('is OpenAPI 3.1 with the server version, unique operation ids and every $ref resolving', async () => {
    const doc = await fetchDoc();
    expect(doc.openapi).toBe('3.1.0');
    const status = await server.app.inject({ method: 'GET', url: '/v1/status' });
    expect(doc.info.version).toBe((JSON.parse(status.body) as { version: string }).version);
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(20);
    for (const r of refs) expect(doc.components.schemas, r).toHaveProperty(r);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(Object.keys(op.responses).some((c) => c.startsWith('2')), `${method} ${path}`).toBe(true);
      }
    }
  });
});

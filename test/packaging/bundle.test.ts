import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { BerthError } from '../../src/core/index.js';
import { parseCard, type Registry } from '../../src/registry/index.js';
import {
  DOCKERFILE_RULES,
  IMAGE_PATHS,
  buildBundle,
  lintDockerfile,
  readContainerCommand,
  renderDockerfile,
  type BundleManifest,
  type DockerfileRule,
} from '../../src/packaging/index.js';
import { openEmbeddedRegistry } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { compareToGolden, fixturePath, readGolden, v2Datatype } from '../helpers/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADMIN_TOKEN = 'bundle-test-admin-token-0123456789abcdef';

let tmp: string;
let dist: string;
let registry: Registry;

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
  return { code, out, err };
}

async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a BerthError');
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-bundle-'));
  // The bundle carries the compiled server. Compile the current sources (not whatever dist/ was built
  // last) into a directory of our own, so the server the test starts is the code under test.
  dist = path.join(tmp, 'dist');
  await new Promise<void>((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'sdk', 'tsconfig.json'), '--outDir', path.join(dist, 'sdk')], { cwd: ROOT }, () => resolve());
  });
  await new Promise<void>((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', dist], { cwd: ROOT }, () => resolve());
  });
  expect(existsSync(path.join(dist, 'cli', 'main.js')) && existsSync(path.join(dist, 'packaging', 'bundle.js')) && existsSync(path.join(dist, 'sdk', 'index.js'))).toBe(true);
  // the dashboard is built by Vite (npm run build, before the tests): the bundle takes it as it is
  await cp(path.join(ROOT, 'dist', 'ui'), path.join(dist, 'ui'), { recursive: true });

  // the registry to build from: bc@1 is another model file, bc@2 the logistic regression that bc-api serves
  registry = await openEmbeddedRegistry(path.join(tmp, 'source'), { defaultActor: 'test' });
  const backend = new OnnxBackend();
  const inspect = (bytes: Uint8Array) => backend.inspect(bytes);
  const card = (m: string) => parseCard(readFileSync(fixturePath(m, 'card.json'), 'utf8'), 'card.json');
  await registry.registerVersion({ name: 'bc', filePath: fixturePath('breast-cancer-gbt'), card: card('breast-cancer-gbt'), inspect });
  await registry.registerVersion({
    name: 'bc',
    filePath: fixturePath('breast-cancer-logreg'),
    card: card('breast-cancer-logreg'),
    referencePath: fixturePath('breast-cancer-logreg', 'reference.csv'),
    inspect,
  });
  await registry.deploy({ name: 'bc-api', model: 'bc', target: { kind: 'version', version: 2 }, settings: { maxBatchSize: 16 } });
  await registry.addSignature({ model: 'bc', version: 2, keyId: 'a'.repeat(64), algorithm: 'ed25519', signature: Buffer.from('not a real signature').toString('base64') });
}, 120_000);

afterAll(async () => {
  await registry?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the Dockerfile checks', () => {
  it('find nothing wrong with the Dockerfiles berth build writes', () => {
    for (const mode of ['baked', 'pull'] as const) {
      const text = renderDockerfile({ imageBase: 'node:20-bookworm-slim', mode, berthVersion: '0.1.0', what: 'bc@2' });
      expect(lintDockerfile(text), mode).toEqual([]);
    }
  });

  it('pass hadolint too, when the machine has it', () => {
    const probe = spawnSync('hadolint', ['--version']);
    if (probe.error) return; // not installed (Debian bookworm does not package it): our own checks above stand in
    const file = path.join(tmp, 'Dockerfile.hadolint');
    const text = renderDockerfile({ imageBase: 'node:20-bookworm-slim', mode: 'baked', berthVersion: '0.1.0', what: 'bc@2' });
    return writeFile(file, text).then(() => {
      // DL3008 asks for pinned apt package versions, which Debian's archive does not keep around
      const r = spawnSync('hadolint', ['--ignore', 'DL3008', file], { encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    });
  });

  const GOOD_TAIL = 'USER 10001\nHEALTHCHECK CMD ["node", "-e", "0"]\nCMD ["node", "start.mjs"]\n';
  const GOOD_HEAD = 'FROM node:20-bookworm-slim AS deps\nRUN npm ci --omit=dev\nFROM node:20-bookworm-slim\nWORKDIR /app\n';
  const cases: [DockerfileRule, string][] = [
    ['BD001', `FROM node AS deps\nFROM node:20-bookworm-slim\n${GOOD_TAIL}`],
    ['BD001', `FROM node:latest AS deps\nFROM node:20-bookworm-slim\n${GOOD_TAIL}`],
    ['BD002', `${GOOD_HEAD}HEALTHCHECK CMD ["true"]\nCMD ["node", "start.mjs"]\n`],
    ['BD002', `${GOOD_HEAD}USER root\nHEALTHCHECK CMD ["true"]\nCMD ["node", "start.mjs"]\n`],
    ['BD003', `${GOOD_HEAD}USER 10001\nHEALTHCHECK CMD ["true"]\nCMD node start.mjs\n`],
    ['BD003', `${GOOD_HEAD}USER 10001\nHEALTHCHECK CMD ["true"]\nENTRYPOINT node \\\n  start.mjs\n`],
    ['BD004', `${GOOD_HEAD}USER 10001\nCMD ["node", "start.mjs"]\n`],
    ['BD004', `${GOOD_HEAD}USER 10001\nHEALTHCHECK NONE\nCMD ["node", "start.mjs"]\n`],
    ['BD005', `${GOOD_HEAD}ADD server/ ./\n${GOOD_TAIL}`],
    ['BD006', `${GOOD_HEAD}RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n${GOOD_TAIL}`],
    ['BD007', `${GOOD_HEAD}RUN apt-get update \\\n # the lists stay\n && apt-get install -y --no-install-recommends curl\n${GOOD_TAIL}`],
    ['BD008', `${GOOD_HEAD}ENV BERTH_ADMIN_TOKEN=hunter2\n${GOOD_TAIL}`],
    ['BD008', `ARG NPM_TOKEN\n${GOOD_HEAD}${GOOD_TAIL}`],
    ['BD009', `${GOOD_HEAD}COPY --chown=10001:10001 server/ ./\n${GOOD_TAIL}`],
    ['BD010', `FROM node:20-bookworm-slim\n${GOOD_TAIL}`],
    ['BD011', `${GOOD_HEAD}WORKDIR server\n${GOOD_TAIL}`],
    ['BD012', `FROM node:20-bookworm-slim AS deps\nRUN npm install --omit=dev\nFROM node:20-bookworm-slim\n${GOOD_TAIL}`],
  ];

  it('find each rule broken in a Dockerfile that breaks it, and only that rule', () => {
    expect(lintDockerfile(GOOD_HEAD + GOOD_TAIL)).toEqual([]);
    for (const [rule, text] of cases) {
      const found = lintDockerfile(text);
      expect(found.map((f) => f.rule), `${rule}:\n${text}`).toEqual([rule]);
      expect(found[0]!.line).toBeGreaterThanOrEqual(1);
    }
    expect(new Set(cases.map(([r]) => r))).toEqual(new Set(Object.keys(DOCKERFILE_RULES)));
    // a secret *file* path is not a secret
    expect(lintDockerfile(`${GOOD_HEAD}ENV BERTH_ADMIN_TOKEN_FILE=/run/secrets/berth\n${GOOD_TAIL}`)).toEqual([]);
  });
});

describe('berth build (baked)', () => {
  let out: string;
  let manifest: BundleManifest;
  const progress: string[] = [];

  beforeAll(async () => {
    out = path.join(tmp, 'bundle');
    const plan = await buildBundle(registry, 'bc-api', out, { server: { packageRoot: ROOT, distDir: dist }, onProgress: (l) => progress.push(l) });
    manifest = plan.manifest;
  }, 60_000);

  it('writes the artifacts under content-addressed names with a manifest of their sha256 and size', async () => {
    expect(JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'))).toEqual(manifest);
    const v2 = await registry.getVersion('bc', 2);
    expect(manifest).toMatchObject({
      format: 'berth-bundle/1',
      built: { kind: 'deployment', deployment: 'bc-api' },
      mode: 'baked',
      model: { name: 'bc', version: 2, sha256: v2.sha256, sizeBytes: v2.sizeBytes },
      deployment: { name: 'bc-api', settings: { maxBatchSize: 16 } },
      serve: { workdir: '/opt/berth/server', command: ['node', 'start.mjs', '--config', 'berth.yaml'], dataDir: '/var/lib/berth' },
      imageBase: 'node:20-bookworm-slim',
    });
    expect(manifest.model.signature.inputs.map((i) => i.name)).toEqual(v2.signature.inputs.map((i) => i.name));
    expect(manifest.model.card?.title).toBe(v2.card?.title);
    expect(manifest.artifactSignatures.map((s) => s.keyId)).toEqual(['a'.repeat(64)]);
    expect(manifest.artifacts.map((a) => a.role).sort()).toEqual(['card', 'model', 'reference']);
    for (const a of manifest.artifacts) {
      expect(a.path).toBe(`artifacts/sha256-${a.sha256}${path.extname(a.path!)}`);
      expect(sha256(path.join(out, a.path!))).toBe(a.sha256);
      expect(readFileSync(path.join(out, a.path!)).length).toBe(a.sizeBytes);
    }
    expect(manifest.artifacts.find((a) => a.role === 'model')!.sha256).toBe(sha256(fixturePath('breast-cancer-logreg')));
    expect(progress.some((l) => /^copying model bc@2 /.test(l))).toBe(true);
    expect(progress.some((l) => /^copying server: dist\/ \(\d+ files\)/.test(l))).toBe(true);
  });

  it('pins the server to the lockfile: package.json without scripts, the lockfile, .npmrc, dist and bin', async () => {
    const pkg = JSON.parse(await readFile(path.join(out, 'server', 'package.json'), 'utf8')) as Record<string, unknown>;
    const ours = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg['scripts']).toBeUndefined();
    expect(pkg['dependencies']).toEqual(ours['dependencies']);
    // npm ci refuses a lockfile whose root entry disagrees with package.json
    const lock = JSON.parse(await readFile(path.join(out, 'server', 'package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: unknown; devDependencies?: unknown }> };
    expect(lock.packages['']!.dependencies).toEqual(pkg['dependencies']);
    expect(lock.packages['']!.devDependencies).toEqual(pkg['devDependencies']);
    expect(await readFile(path.join(out, 'server', '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
    expect(existsSync(path.join(out, 'server', 'bin', 'berth.js'))).toBe(true);
    expect(existsSync(path.join(out, 'server', 'dist', 'cli', 'main.js'))).toBe(true);
    expect(readdirSync(path.join(out, 'server', 'dist', 'cli')).some((f) => f.endsWith('.map') || f.endsWith('.d.ts'))).toBe(false);
    // the dashboard whole: its page and styles too, not only scripts
    expect(existsSync(path.join(out, 'server', 'dist', 'ui', 'index.html'))).toBe(true);
    expect(readdirSync(path.join(out, 'server', 'dist', 'ui', 'assets')).some((f) => f.endsWith('.css'))).toBe(true);
    expect(await readFile(path.join(out, 'server', 'berth.yaml'), 'utf8')).toMatch(/^ {2}dev: false$/m);
    expect(await readFile(path.join(out, '.dockerignore'), 'utf8')).toMatch(/^server\/node_modules$/m);
    expect(lintDockerfile(await readFile(path.join(out, 'Dockerfile'), 'utf8'))).toEqual([]);
  });

  it("starts from the bundle exactly as the Dockerfile's CMD does, answers the golden case, and stops on SIGTERM", async () => {
    const container = readContainerCommand(await readFile(path.join(out, 'Dockerfile'), 'utf8'));
    expect(container.user).toBe('10001:10001');
    expect(container.env['BERTH_DATA_DIR']).toBe(IMAGE_PATHS.data);
    // the image's /opt/berth is the bundle directory (COPY server/ ./ into WORKDIR, manifest and artifacts beside it)
    const cwd = path.join(out, path.relative(IMAGE_PATHS.bundle, container.workdir));
    expect(cwd).toBe(path.join(out, 'server'));
    // `npm ci` in the bundle would take minutes and needs the network; node_modules is the only thing
    // the image adds that the bundle lacks, so link the project's (same lockfile) instead.
    await symlink(path.join(ROOT, 'node_modules'), path.join(cwd, 'node_modules'), 'dir');
    // The volume is a fresh writable directory; the image's environment, with the data dir mapped onto
    // it, plus what `docker run` would pass: the admin token, and a free port on loopback for the test.
    const volume = path.join(tmp, 'volume');
    await mkdir(volume);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      ...container.env,
      BERTH_DATA_DIR: volume,
      BERTH_ADMIN_TOKEN: ADMIN_TOKEN,
      BERTH_PORT: '0',
      BERTH_HOST: '127.0.0.1',
    };
    const argv = container.argv.map((a, i) => (i === 0 && a === 'node' ? process.execPath : a));

    const first = await startContainer(argv, cwd, env);
    try {
      expect(first.output()).toMatch(/berth bundle: registered bc version 1 \(built from bc@2/);
      expect(first.output()).toMatch(/deployment bc-api created serving bc@1/);
      expect(first.output()).toMatch(/authentication is on/);
      await waitReady(first.url);
      await inferGolden(first.url);
      const anonymous = await fetch(`${first.url}/v2/models/bc-api/infer`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(anonymous.status).toBe(401);
      const page = await fetch(`${first.url}/ui/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="root"></div>');
    } finally {
      first.child.kill('SIGTERM');
    }
    expect(await first.exited).toBe(0);

    // a restart on the same volume: nothing new is registered or deployed
    const second = await startContainer(argv, cwd, env);
    try {
      expect(second.output()).toMatch(/bc version 1 is already the bundled model/);
      expect(second.output()).toMatch(/deployment bc-api already serving bc@1/);
      await waitReady(second.url);
      await inferGolden(second.url);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
    const seeded = await openEmbeddedRegistry(volume);
    try {
      expect((await seeded.listVersions('bc')).map((v) => v.version)).toEqual([1]);
      expect((await seeded.deploymentHistory('bc-api')).length).toBe(1);
      expect((await seeded.getVersion('bc', 1)).tags['berth.bundle.source']).toBe('bc@2');
      expect((await seeded.getVersion('bc', 1)).reference?.profile).toBeDefined();
    } finally {
      await seeded.close();
    }
  }, 120_000);
});

describe('berth build --pull', () => {
  it('leaves the artifacts out and lists in the manifest what the container will pull', async () => {
    const out = path.join(tmp, 'pull-bundle');
    const { manifest } = await buildBundle(registry, 'bc@2', out, { mode: 'pull', server: { packageRoot: ROOT, distDir: dist } });
    expect(existsSync(path.join(out, 'artifacts'))).toBe(false);
    expect(manifest.mode).toBe('pull');
    expect(manifest.built).toEqual({ kind: 'version', ref: 'bc@2' });
    expect(manifest.deployment.name).toBe('bc');
    const v2 = await registry.getVersion('bc', 2);
    expect(manifest.artifacts).toEqual([
      { role: 'model', sha256: v2.sha256, sizeBytes: v2.sizeBytes, fileName: 'model.onnx', path: null },
      { role: 'reference', sha256: v2.reference!.sha256, sizeBytes: v2.reference!.sizeBytes, fileName: 'reference.csv', path: null, rows: v2.reference!.rows },
    ]);
    const dockerfile = await readFile(path.join(out, 'Dockerfile'), 'utf8');
    expect(dockerfile).not.toMatch(/COPY artifacts/);
    expect(lintDockerfile(dockerfile)).toEqual([]);

    // at start, the container finds the version in the registry it is pointed at, by sha256…
    const ok = await run('--data-dir', path.join(tmp, 'source'), 'bundle', 'seed', out);
    expect(ok.err).toMatch(/the registry holds bc@2 as bc@2/);
    expect(ok.code).toBe(0);
    expect((await registry.getDeployment('bc')).target).toEqual({ kind: 'version', version: 2 });
    // …and refuses to start against one that lacks it
    const empty = await run('--data-dir', path.join(tmp, 'empty-registry'), 'bundle', 'seed', out);
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/built with --pull.*BERTH_DATABASE_URL and BERTH_ARTIFACTS_URL/);
  });
});

describe('berth build refuses', () => {
  const server = (): { packageRoot: string; distDir: string } => ({ packageRoot: ROOT, distDir: dist });

  it('an unknown deployment or version', async () => {
    const d = await rejection(buildBundle(registry, 'nope', path.join(tmp, 'x1'), { server: server() }));
    expect(d.code).toBe('DEPLOYMENT_NOT_FOUND');
    expect(d.message).toMatch(/MODEL@VERSION/);
    expect((await rejection(buildBundle(registry, 'bc@9', path.join(tmp, 'x2'), { server: server() }))).code).toBe('VERSION_NOT_FOUND');
    expect((await rejection(buildBundle(registry, 'nope@1', path.join(tmp, 'x3'), { server: server() }))).code).toBe('MODEL_NOT_FOUND');
    expect(existsSync(path.join(tmp, 'x1'))).toBe(false);
  });

  it('a non-empty --out without --force, and --force over anything but an earlier bundle', async () => {
    const busy = path.join(tmp, 'busy');
    await mkdir(busy);
    await writeFile(path.join(busy, 'notes.txt'), 'mine');
    const e = await rejection(buildBundle(registry, 'bc-api', busy, { server: server() }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.context.field).toBe('out');
    expect(e.message).toMatch(/--out .* --force/);
    const f = await rejection(buildBundle(registry, 'bc-api', busy, { server: server(), force: true }));
    expect(f.context.field).toBe('force');
    expect(readFileSync(path.join(busy, 'notes.txt'), 'utf8')).toBe('mine');

    // an earlier bundle is replaced with --force
    const again = path.join(tmp, 'again');
    await buildBundle(registry, 'bc-api', again, { server: server(), mode: 'pull' });
    await buildBundle(registry, 'bc-api', again, { server: server(), force: true });
    expect(existsSync(path.join(again, 'artifacts'))).toBe(true);
    expect(readdirSync(tmp).some((n) => n.includes('.partial-'))).toBe(false);
  });

  it('a base image without a pinned tag', async () => {
    for (const image of ['node', 'node:latest', 'registry.example.com:5000/node', 'node:20-alpine']) {
      const e = await rejection(buildBundle(registry, 'bc-api', path.join(tmp, 'x4'), { server: server(), imageBase: image }));
      expect(e.context.field, image).toBe('image-base');
    }
  });

  it('on the command line, naming the flag and exiting 1', async () => {
    const busy = path.join(tmp, 'busy-cli');
    await mkdir(busy);
    await writeFile(path.join(busy, 'x'), '');
    const r = await run('--data-dir', path.join(tmp, 'source'), 'build', 'bc-api', '--out', busy);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: --out .* exists and is not empty; pass --force/);
    const unknown = await run('--data-dir', path.join(tmp, 'source'), 'build', 'nope', '--out', path.join(tmp, 'x5'));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/nope.*MODEL@VERSION/);
    const noOut = await run('--data-dir', path.join(tmp, 'source'), 'build', 'bc-api');
    expect(noOut.code).toBe(2);
    expect(noOut.err).toMatch(/--out/);
  });
});

interface Container {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  output(): string;
}

async function startContainer(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Container> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let text = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the bundle did not start: ${text}`)), 60_000);
    const look = (d: Buffer): void => {
      text += d.toString();
      const m = /serving on (http:\/\/[^\s]+)/.exec(text);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`the bundle exited (${code}): ${text}`));
    });
  });
  return { child, url, exited, output: () => text };
}

async function waitReady(url: string): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const r = await fetch(`${url}/v2/health/ready`).catch(() => null);
    if (r?.ok) return;
    if (Date.now() > until) throw new Error(`not ready: ${r?.status}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function inferGolden(url: string): Promise<void> {
  const golden = readGolden('breast-cancer-logreg');
  const c = golden.cases.find((x) => x.name === 'golden_32')!;
  const input = c.inputs['input']!;
  const r = await fetch(`${url}/v2/models/bc-api/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: input.shape, datatype: v2Datatype(input.dtype), data: input.data }] }),
  });
  const body = (await r.json()) as { outputs: { name: string; data: number[] }[] };
  expect(r.status, JSON.stringify(body)).toBe(200);
  for (const [name, expected] of Object.entries(c.expected)) {
    const got = body.outputs.find((o) => o.name === name);
    expect(got, name).toBeDefined();
    expect(compareToGolden(got!.data, expected, golden.tolerance[name]!), name).toBeNull();
  }
}

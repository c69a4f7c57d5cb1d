#!/usr/bin/env node
// Start a real Berth server (the compiled one in dist/) in this process, register and deploy
// fixture models, and print one `BERTH_READY {json}` line on stdout once it answers.
//
//   node bench/serve-fixture.js --fixtures DIR --models breast-cancer-gbt,wide-mlp [--data-dir DIR] [--port 0]
//
// Each model is registered from DIR/<model>/model.onnx with its fixture card (card.json) and
// deployed under its own name with the product defaults (no deployment overrides), so what is
// measured is what `berth serve` gives a user. BERTH_* environment variables still apply (e.g.
// BERTH_MAX_BATCH_SIZE=128) for experiments. Stops on SIGTERM / SIGINT and removes a data dir it
// created itself.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// BERTH_DIST: measure another build of Berth (e.g. a copy of dist/ made for an experiment)
const dist = process.env.BERTH_DIST ? path.resolve(process.env.BERTH_DIST) : path.resolve(here, '..', 'dist');

function opt(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const fixtures = opt('fixtures', null);
const models = (opt('models', '') || '').split(',').filter(Boolean);
const port = Number(opt('port', '0'));
if (!fixtures || models.length === 0) {
  process.stderr.write('usage: serve-fixture.js --fixtures DIR --models a,b [--data-dir DIR] [--port 0]\n');
  process.exit(2);
}
let dataDir = opt('data-dir', null);
const ownDataDir = !dataDir;
if (!dataDir) dataDir = mkdtempSync(path.join(tmpdir(), 'berth-bench-'));

const core = await import(path.join(dist, 'core', 'index.js'));
const { parseCard } = await import(path.join(dist, 'registry', 'index.js'));
const { OnnxBackend } = await import(path.join(dist, 'runtime', 'index.js'));
const { createBerthServer } = await import(path.join(dist, 'server', 'index.js'));

// defaults -> BERTH_* environment -> what the bench needs (loopback, temp data dir)
// the bench measures serving, not authentication: dev mode unless BERTH_DEV=0 and auth come from the environment
const config = core.resolveConfig(
  { logLevel: 'warn', auth: { dev: true } },
  core.configFromEnv(process.env),
  { dataDir, server: { host: '127.0.0.1', port } },
);
const logger = core.createLogger(config.logLevel);
const server = await createBerthServer({ config, logger, example: false });
const backend = new OnnxBackend();
const deployed = [];
for (const model of models) {
  const dir = path.join(fixtures, model);
  const cardFile = path.join(dir, 'card.json');
  const card = existsSync(cardFile) ? parseCard(readFileSync(cardFile, 'utf8'), cardFile) : undefined;
  const { version } = await server.registry.registerVersion({
    name: model,
    filePath: path.join(dir, 'model.onnx'),
    ...(card ? { card } : {}),
    actor: 'bench',
    inspect: (b) => backend.inspect(b),
  });
  await server.registry.deploy({ name: model, model, target: { kind: 'version', version: version.version }, actor: 'bench' });
  deployed.push({ deployment: model, version: version.version, inputs: version.signature.inputs.map((s) => s.name) });
}
await server.service.refresh();
let url;
let cluster = null;
if (config.server.processes !== 1) {
  // several serving processes (BERTH_PROCESSES): hand the prepared data dir to `berth serve`,
  // run as a child in this process group so the bench counts its CPU as the server's
  await server.close();
  const { spawn } = await import('node:child_process');
  cluster = spawn(process.execPath, [path.resolve(here, '..', 'bin', 'berth.js'), 'serve', '--dev', '--data-dir', dataDir, '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  url = await new Promise((resolve, reject) => {
    let out = '';
    cluster.stdout.on('data', (d) => {
      out += d.toString();
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    cluster.once('exit', (code) => reject(new Error(`berth serve exited (${code}): ${out}`)));
  });
} else {
  url = await server.listen();
}
process.stdout.write(`BERTH_READY ${JSON.stringify({ url, pid: process.pid, dataDir, config: { batching: config.batching, runtime: config.runtime, lifecycle: config.lifecycle, processes: config.server.processes }, deployed })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  // a close() that never settles must not leave the process (or its temp data dir) behind
  setTimeout(() => {
    process.stderr.write('serve-fixture: close() did not finish within 5 s; exiting anyway\n');
    if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(1);
  }, 5000);
  try {
    if (cluster) {
      const exited = new Promise((r) => cluster.once('exit', r));
      cluster.kill('SIGTERM');
      await exited;
    } else {
      await server.close();
    }
  } finally {
    if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

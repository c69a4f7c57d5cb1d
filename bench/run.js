#!/usr/bin/env node
// Berth benchmarks. Plain Node ESM so it runs without a build step of its own; it drives the
// compiled server in dist/ (rebuilt first when src/ is newer).
//
//   npm run bench -- serve [--models wide-mlp,breast-cancer-gbt] [--duration 10] [--levels 1,8,32,64]
//                          [--no-peers] [--json out.json] [--warmup 3] [--repeat 2] [--no-build]
//
// `serve` measures, in one run: raw onnxruntime-node in a child process (batch-1 latency, rows/s
// per batch size), then Berth over HTTP and the peer servers of ../shared/peers at each
// concurrency level, the load coming from wrk in its own process pinned to one core, Berth and
// peers alternating level by level. It prints markdown tables with ratios to raw and to the peers
// and a PASS/MISS line per target. See bench/README.md.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  mkdtempSync,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { groupCpuMs, have, killGroup, run, runWrk, tail, wrkDescription } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const PY = process.env.PY || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const OTHER_WARN = 0.5; // cores busy outside the server and wrk above which a run is flagged
const DEFAULT_MODELS = ['wide-mlp', 'breast-cancer-gbt'];
const RAW_BATCHES = [1, 8, 32, 64, 128];
const DEBIAN_PEER_PACKAGES = [
  'python3-sklearn', 'python3-joblib', 'python3-fastapi', 'python3-uvicorn', 'python3-uvloop',
  'python3-httptools', 'python3-torch', 'python3-onnx', 'python3-pandas',
];
/** which peers run beside Berth for which model */
const PEERS_FOR = {
  'breast-cancer-gbt': ['node-diy', 'fastapi-sklearn-2w'],
  'wide-mlp': ['node-diy'],
};

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const fmtInt = (n) => (n === undefined || n === null || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const fmtMs = (n) => (n === undefined || n === null || !Number.isFinite(n) ? 'n/a' : n < 1 ? n.toFixed(3) : n < 100 ? n.toFixed(2) : n.toFixed(0));
const fmtX = (n, d = 2) => (n === undefined || n === null || !Number.isFinite(n) ? 'n/a' : `${n.toFixed(d)}×`);
const fmtSigned = (n) => (n === undefined || n === null || !Number.isFinite(n) ? 'n/a' : `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(3)}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// paths, args

function firstExisting(cands) {
  return cands.find((p) => p && existsSync(p));
}
const FIXTURES = firstExisting([process.env.BERTH_FIXTURES, path.resolve(root, '..', 'shared', 'fixtures'), '/work/shared/fixtures']);
const PEERS_SRC = firstExisting([process.env.BERTH_PEERS, path.resolve(root, '..', 'shared', 'peers'), '/work/shared/peers']);
const PEERS_DIR = path.join(here, '.peers'); // gitignored working copy of the peers
const WORK_DIR = path.join(here, '.work'); // gitignored: request bodies
const LOG_DIR = path.join(here, 'results', 'logs'); // gitignored: server and wrk logs

function usage() {
  return `usage: npm run bench -- serve [options]

  --models a,b       fixture models (default ${DEFAULT_MODELS.join(',')})
  --duration S       seconds per wrk run (default 10)
  --levels 1,8,..    concurrency levels (default 1,8,32,64)
  --warmup S         seconds of warm-up at concurrency 8 per server (default 3, 0 = none)
  --repeat N         passes over the levels (default 2); figures are medians over the passes
  --no-peers         Berth and raw only
  --no-build         use dist/ as it is (default: npm run build when src/ is newer than dist/)
  --json FILE        also write every measurement as JSON

Environment: BERTH_FIXTURES, BERTH_PEERS (where fixtures and peers are), LOAD_CPU (core for wrk, 'none'),
WRK_TIMEOUT (5s), PY (Debian python3), BERTH_* (Berth config, e.g. BERTH_MAX_BATCH_SIZE).`;
}

// ---------------------------------------------------------------------------------------------
// processes

const started = new Set(); // process groups we started, killed on exit
const tempDirs = new Set(); // Berth data dirs we made, removed after their server stopped

function removeTempDirs() {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

async function stopServer(srv) {
  if (!srv || srv.stopped) return;
  srv.stopped = true;
  const exited = srv.exited ?? new Promise((r) => srv.child.once('exit', r));
  killGroup(srv.child, 'SIGTERM');
  const t = await Promise.race([exited.then(() => 'exited'), sleep(8000).then(() => 'timeout')]);
  if (t === 'timeout') killGroup(srv.child, 'SIGKILL');
  started.delete(srv.child);
}

function cleanupAndExit(code) {
  for (const c of started) killGroup(c, 'SIGKILL');
  removeTempDirs();
  process.exit(code);
}
process.on('SIGINT', () => cleanupAndExit(130));
process.on('SIGTERM', () => cleanupAndExit(143));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start a server in its own process group, output to a log file; resolve once `body` POSTed to
 * `url()` answers 2xx. `onLine` sees stdout lines (Berth announces its URL there).
 */
async function startServer({ name, cmd, args, env, cwd, url, body, onLine, diagnose, timeoutMs = 90_000 }) {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${name}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(cmd, args, { cwd: cwd ?? root, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const srv = { name, child, logFile, url: null, stopped: false };
  srv.exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  let buf = '';
  child.stdout.on('data', (d) => {
    out.write(d);
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine?.(line, srv);
    }
  });
  child.stderr.on('data', (d) => out.write(d));
  let dead = null;
  void srv.exited.then((x) => (dead = x));
  const t0 = Date.now();
  let lastErr = '';
  while (Date.now() - t0 < timeoutMs) {
    if (dead) throw new Error(`${name} exited (code ${dead.code}, signal ${dead.sig}) before answering; see ${logFile}:\n${tail(logFile)}`);
    const u = url(srv);
    if (u) {
      try {
        const res = await fetch(u, { method: 'POST', headers: { 'content-type': 'application/json' }, body: readFileSync(body), signal: AbortSignal.timeout(5000) });
        const text = await res.text();
        if (res.ok) {
          srv.url = u;
          srv.sample = safeJson(text);
          return srv;
        }
        lastErr = `HTTP ${res.status}: ${text.slice(0, 300)}`;
      } catch (err) {
        lastErr = String(err?.cause?.code ?? err?.message ?? err);
      }
    }
    await sleep(250);
  }
  const more = diagnose ? await diagnose(srv).catch((err) => `(diagnosis failed: ${err?.message ?? err})`) : '';
  await stopServer(srv);
  throw new Error(`${name} did not answer 2xx to ${path.basename(body)} within ${timeoutMs / 1000}s (last: ${lastErr})${more ? `; ${more}` : ''}; see ${logFile}`);
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Machine-wide CPU counters from /proc/stat (ticks): busy and total, over all cores. */
function machineCpu() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    const idle = f[3] + (f[4] ?? 0);
    return { total, busy: total - idle };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// setup

function ensureBuild(noBuild) {
  const distMain = path.join(root, 'dist', 'server', 'server.js');
  if (noBuild) {
    if (!existsSync(distMain)) throw new Error('--no-build, but dist/ has no compiled server; run npm run build');
    log('--no-build: measuring dist/ as it is');
    return;
  }
  const newestSrc = newestMtime(path.join(root, 'src'), (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  const distTime = existsSync(distMain) ? statSync(distMain).mtimeMs : 0;
  if (distTime >= newestSrc) {
    log('dist/ is up to date');
    return;
  }
  log('src/ is newer than dist/: npm run build');
  const r = run('npm', ['run', 'build'], { cwd: root });
  if (!r.ok) {
    throw new Error(`npm run build failed (exit ${r.status}); fix the build or pass --no-build to measure dist/ as it is:\n${(r.stdout + r.stderr).trim().split('\n').slice(-20).join('\n')}`);
  }
}

function newestMtime(dir, keep) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, keep));
    else if (keep(p)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function aptInstall(pkgs) {
  if (pkgs.length === 0) return true;
  if (process.getuid?.() !== 0) {
    log(`missing Debian packages ${pkgs.join(' ')} and not root: install them with apt-get`);
    return false;
  }
  log(`apt-get install ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = run('apt-get', ['install', '-y', '-q', ...pkgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (!r.ok) {
    run('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
    r = run('apt-get', ['install', '-y', '-q', ...pkgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  }
  if (!r.ok) log(`apt-get install failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r.ok;
}

function dpkgMissing(pkgs) {
  return pkgs.filter((p) => !run('dpkg', ['-s', p], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout.includes('Status: install ok installed'));
}

function ensureWrk() {
  if (!have('wrk')) aptInstall(['wrk']);
  if (!have('wrk')) throw new Error('wrk is not installed and could not be installed (apt-get install wrk)');
}

/** Hash of the peers' source files (not their results), to know when the working copy is stale. */
function peersStamp() {
  const h = createHash('sha256');
  const walk = (dir, rel) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) {
        if (['results', 'node_modules', 'out', 'bodies', '__pycache__'].includes(e.name)) continue;
        walk(path.join(dir, e.name), r);
      } else {
        h.update(r);
        h.update(readFileSync(path.join(dir, e.name)));
      }
    }
  };
  walk(PEERS_SRC, '');
  h.update(FIXTURES);
  return h.digest('hex').slice(0, 16);
}

/** Install what the peers need and prepare the working copy; returns a reason string when peers cannot run. */
function setupPeers() {
  if (!PEERS_SRC) return 'no peers folder found (set BERTH_PEERS or put them at ../shared/peers)';
  const missing = dpkgMissing(DEBIAN_PEER_PACKAGES);
  if (missing.length > 0 && !aptInstall(missing)) return `Debian packages missing and not installable: ${missing.join(' ')}`;
  const stamp = peersStamp();
  const stampFile = path.join(PEERS_DIR, '.berth-bench-setup');
  const ready =
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8').trim() === stamp &&
    existsSync(path.join(PEERS_DIR, 'node', 'node_modules', 'onnxruntime-node')) &&
    existsSync(path.join(PEERS_DIR, 'models', 'out', 'breast-cancer-gbt', 'model.joblib'));
  if (ready) {
    log(`peers: working copy ${path.relative(root, PEERS_DIR)} is set up (cached)`);
    return null;
  }
  log(`peers: copying ${PEERS_SRC} -> ${path.relative(root, PEERS_DIR)} and running run.sh setup (first time: a minute or two)`);
  mkdirSync(PEERS_DIR, { recursive: true });
  // copy the sources over (keeps an existing node_modules; npm ci replaces it anyway)
  for (const e of readdirSync(PEERS_SRC)) {
    if (e === 'results') continue;
    rmSync(path.join(PEERS_DIR, e), { recursive: true, force: true });
    cpSync(path.join(PEERS_SRC, e), path.join(PEERS_DIR, e), { recursive: true });
  }
  makeWritable(PEERS_DIR);
  // node/.npmrc must say onnxruntime-node-install=skip, or npm ci tries to download GPU binaries
  const npmrc = path.join(PEERS_DIR, 'node', '.npmrc');
  const rc = existsSync(npmrc) ? readFileSync(npmrc, 'utf8') : '';
  if (!/onnxruntime-node-install\s*=\s*skip/.test(rc)) writeFileSync(npmrc, `${rc}\nonnxruntime-node-install=skip\n`);
  const r = run('bash', [path.join(PEERS_DIR, 'run.sh'), 'setup'], {
    cwd: PEERS_DIR,
    env: { ...process.env, FIXTURES, PY },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  mkdirSync(LOG_DIR, { recursive: true });
  writeFileSync(path.join(LOG_DIR, 'peers-setup.log'), r.stdout + r.stderr);
  if (!r.ok) return `run.sh setup failed (exit ${r.status}); see ${path.join(LOG_DIR, 'peers-setup.log')}:\n${(r.stdout + r.stderr).trim().split('\n').slice(-8).join('\n')}`;
  writeFileSync(stampFile, `${stamp}\n`);
  return null;
}

function makeWritable(p) {
  const st = statSync(p);
  chmodSync(p, st.mode | 0o200);
  if (st.isDirectory()) for (const e of readdirSync(p)) if (e !== 'node_modules') makeWritable(path.join(p, e));
}

/**
 * Request bodies from the fixture (first golden row, the row raw-ort's batch-1 uses): an Open
 * Inference Protocol v2 body naming the model's input (for Berth and node-diy, the very same
 * bytes) and a {"features": row} body for the /predict peers.
 */
function writeBodies(model) {
  const dir = path.join(FIXTURES, model);
  const golden = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8'));
  const card = JSON.parse(readFileSync(path.join(dir, 'card.json'), 'utf8'));
  const inputs = card.inputs ?? [];
  if (inputs.length !== 1 || !['float32', 'FP32'].includes(inputs[0].dtype)) {
    throw new Error(`${model}: the serve bench takes models with one float32 input (this one has ${inputs.map((i) => `${i.name}:${i.dtype}`).join(', ')})`);
  }
  const name = inputs[0].name;
  const g = golden.cases[0].inputs[name] ?? Object.values(golden.cases[0].inputs)[0];
  const d = g.shape[g.shape.length - 1];
  const row = Array.from(Float32Array.from(g.data.flat(Infinity).slice(0, d)), (v) => Number(v));
  mkdirSync(path.join(WORK_DIR, 'bodies'), { recursive: true });
  const v2 = path.join(WORK_DIR, 'bodies', `${model}-v2.json`);
  const predict = path.join(WORK_DIR, 'bodies', `${model}-predict.json`);
  writeFileSync(v2, JSON.stringify({ inputs: [{ name, shape: [1, d], datatype: 'FP32', data: row }] }));
  writeFileSync(predict, JSON.stringify({ features: row }));
  return { v2, predict, inputName: name, features: d };
}

// ---------------------------------------------------------------------------------------------
// measuring

function runRaw(model) {
  const r = run(process.execPath, [path.join(here, 'raw-ort.js'), path.join(FIXTURES, model), '--batches', RAW_BATCHES.join(','), '--latency-runs', '2000', '--seconds', '1.5'], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (!r.ok) throw new Error(`raw-ort ${model} failed (exit ${r.status}):\n${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Prometheus text -> [{name, labels, value}] */
function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const lm of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function scrapeBerth(url, model) {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
    const samples = parseProm(await res.text());
    const sum = (name, pred = () => true) => samples.filter((s) => s.name === name && pred(s.labels)).reduce((a, s) => a + s.value, 0);
    const byModel = (l) => l.model === model;
    const codes = {};
    for (const s of samples) if (s.name === 'berth_requests_total' && s.labels.model === model) codes[s.labels.code] = (codes[s.labels.code] ?? 0) + s.value;
    const errors = {};
    for (const s of samples) if (s.name === 'berth_errors_total') errors[s.labels.code] = (errors[s.labels.code] ?? 0) + s.value;
    return {
      batchSum: sum('berth_batch_size_sum', byModel),
      batchCount: sum('berth_batch_size_count', byModel),
      queueSum: sum('berth_queue_duration_seconds_sum', (l) => l.deployment === model),
      queueCount: sum('berth_queue_duration_seconds_count', (l) => l.deployment === model),
      inferSum: sum('berth_inference_duration_seconds_sum', byModel),
      inferCount: sum('berth_inference_duration_seconds_count', byModel),
      codes,
      errors,
    };
  } catch (err) {
    return { error: String(err?.message ?? err) };
  }
}

function diffCounts(a = {}, b = {}) {
  const out = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

async function measureOne(srv, model, bodyFile, conns, secs) {
  const cpu0 = groupCpuMs(srv.child.pid);
  const mc0 = machineCpu();
  const m0 = srv.kind === 'berth' ? await scrapeBerth(srv.baseUrl, model) : null;
  const r = await runWrk(srv.inferUrl, bodyFile, conns, secs, { wrkCpu: true });
  const cpu1 = groupCpuMs(srv.child.pid);
  const mc1 = machineCpu();
  const m1 = srv.kind === 'berth' ? await scrapeBerth(srv.baseUrl, model) : null;
  const row = { server: srv.label, conc: conns, ...r };
  if (!r.failed && r.requests > 0) {
    row.cpu_ms_per_req = (cpu1 - cpu0) / r.requests;
    row.cpu_util = (cpu1 - cpu0) / (r.secs * 1000); // cores busy on average
  }
  if (mc0 && mc1 && mc1.total > mc0.total) row.machine_busy = ((mc1.busy - mc0.busy) / (mc1.total - mc0.total)) * os.availableParallelism();
  // what the machine did beside this server and wrk: kernel network work, and anyone else's processes
  if (Number.isFinite(row.machine_busy) && Number.isFinite(row.cpu_util) && Number.isFinite(r.wrk_cpu)) row.other_busy = Math.max(0, row.machine_busy - row.cpu_util - r.wrk_cpu);
  if (m0 && m1 && !m0.error && !m1.error) {
    const dc = m1.batchCount - m0.batchCount;
    row.batches = dc;
    row.mean_batch = dc > 0 ? (m1.batchSum - m0.batchSum) / dc : null;
    row.mean_queue_ms = m1.queueCount > m0.queueCount ? ((m1.queueSum - m0.queueSum) / (m1.queueCount - m0.queueCount)) * 1000 : null;
    row.mean_infer_ms = dc > 0 ? ((m1.inferSum - m0.inferSum) / (m1.inferCount - m0.inferCount)) * 1000 : null;
    row.berth_codes = diffCounts(m0.codes, m1.codes);
    row.berth_errors = diffCounts(m0.errors, m1.errors);
  }
  return row;
}

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/** One row per server and level: medians over the passes (--repeat), counts summed, spread kept. */
function aggregateRuns(runs, levels) {
  const out = [];
  const servers = [...new Set(runs.map((r) => r.server))];
  for (const c of levels) {
    for (const server of servers) {
      const all = runs.filter((r) => r.server === server && r.conc === c);
      if (all.length === 0) continue;
      const ok = all.filter((r) => !r.failed);
      if (ok.length === 0) {
        out.push({ ...all[0], runs: all.length });
        continue;
      }
      const row = { server, conc: c, runs: ok.length, failed_runs: all.length - ok.length };
      for (const k of ['ok_rps', 'rps', 'p50', 'p90', 'p99', 'max', 'mean', 'secs', 'cpu_ms_per_req', 'cpu_util', 'machine_busy', 'wrk_cpu', 'other_busy', 'mean_batch', 'mean_queue_ms', 'mean_infer_ms', 'batches']) {
        if (ok.some((r) => r[k] !== undefined)) row[k] = median(ok.map((r) => r[k] ?? NaN)) ?? null;
      }
      for (const k of ['non2xx', 'sockerr', 'timeouts', 'requests']) row[k] = ok.reduce((a, r) => a + (r[k] ?? 0), 0);
      if (ok.some((r) => r.berth_codes)) {
        row.berth_codes = {};
        row.berth_errors = {};
        for (const r of ok) {
          for (const [k, v] of Object.entries(r.berth_codes ?? {})) row.berth_codes[k] = (row.berth_codes[k] ?? 0) + v;
          for (const [k, v] of Object.entries(r.berth_errors ?? {})) row.berth_errors[k] = (row.berth_errors[k] ?? 0) + v;
        }
      }
      if (ok.length > 1) {
        row.ok_rps_range = [Math.min(...ok.map((r) => r.ok_rps)), Math.max(...ok.map((r) => r.ok_rps))];
        row.p99_range = [Math.min(...ok.map((r) => r.p99)), Math.max(...ok.map((r) => r.p99))];
      }
      out.push(row);
    }
  }
  return out;
}

function maxAbsDiff(a, b) {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return NaN;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(Number(a[i]) - Number(b[i])));
  return m;
}

// ---------------------------------------------------------------------------------------------
// report

function rowLine(r, raw) {
  if (r.failed) return `| ${r.server} | ${r.conc} | FAILED | | | | | | | | | | |`;
  const rawB64 = raw?.throughput.find((t) => t.batch === 64)?.rows_per_s;
  const okRps = r.ok_rps;
  const sock = (r.sockerr ?? 0) + (r.timeouts ?? 0);
  const batch = r.mean_batch === undefined ? '' : r.mean_batch === null ? 'n/a' : r.mean_batch.toFixed(1);
  const rpsCell = `${fmtInt(okRps)}${r.ok_rps_range ? ` (${fmtInt(r.ok_rps_range[0])}–${fmtInt(r.ok_rps_range[1])})` : ''}`;
  const p99Cell = `${fmtMs(r.p99)}${r.p99_range ? ` (${fmtMs(r.p99_range[0])}–${fmtMs(r.p99_range[1])})` : ''}`;
  return `| ${r.server} | ${r.conc} | ${rpsCell} | ${raw ? fmtX(okRps / rawB64) : 'n/a'} | ${fmtMs(r.p50)} | ${raw ? fmtSigned(r.p50 - raw.latency.p50_ms) : 'n/a'} | ${p99Cell} | ${raw ? fmtX(r.p99 / raw.latency.p99_ms, 1) : 'n/a'} | ${r.non2xx}${r.non2xx ? ' ⚠' : ''} | ${sock}${sock ? ' ⚠' : ''} | ${batch} | ${[r.cpu_util, r.wrk_cpu, r.other_busy].map((x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a')).join(' / ')}${r.other_busy > OTHER_WARN ? ' ⚠' : ''} | ${Number.isFinite(r.cpu_ms_per_req) ? r.cpu_ms_per_req.toFixed(3) : 'n/a'} |`;
}

function reportModel(m) {
  const lines = [];
  const raw = m.raw;
  lines.push(`## ${m.model}`, '');
  if (raw) {
    const tp = raw.throughput.map((t) => `batch ${t.batch}: ${fmtInt(t.rows_per_s)}`).join(' · ');
    lines.push(
      `Raw onnxruntime-node ${raw.onnxruntime} in process (intraOp ${raw.options.intraOpNumThreads}, interOp ${raw.options.interOpNumThreads}, optimisation ${raw.options.graphOptimizationLevel}, outputs ${raw.outputs.join('+')}):`,
      `batch-1 latency p50 **${raw.latency.p50_ms.toFixed(4)} ms**, p90 ${raw.latency.p90_ms.toFixed(4)}, p99 ${raw.latency.p99_ms.toFixed(4)} ms over ${raw.latency.runs} runs;`,
      `rows/s ${tp}; **batch 64: ${fmtInt(raw.throughput.find((t) => t.batch === 64)?.rows_per_s)}**, best ${fmtInt(raw.best.rows_per_s)} at batch ${raw.best.batch}.`,
      '',
    );
  }
  if (m.peerNote) lines.push(`Peers: ${m.peerNote}`, '');
  if (m.sanity.length) lines.push(...m.sanity.map((s) => `- ${s}`), '');
  lines.push(
    '| server | conc | req/s (2xx) | ÷ raw b64 rows/s | p50 ms | p50 − raw b1 p50 (ms) | p99 ms | p99 ÷ raw b1 p99 | non-2xx | sock err+timeouts | mean batch | CPU cores: server / wrk / other | server CPU ms/req |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const c of m.levels) for (const r of m.rows.filter((x) => x.conc === c)) lines.push(rowLine(r, raw));
  lines.push('');
  const peers = [...new Set(m.rows.map((r) => r.server))].filter((s) => s !== 'berth');
  if (peers.length) {
    lines.push('Berth ÷ peer, same run (req/s: higher is better for Berth; p50, p99: lower is better for Berth):', '');
    lines.push(`| conc | ${peers.map((p) => `÷ ${p} req/s | p50 | p99`).join(' | ')} |`);
    lines.push(`|---:|${peers.map(() => '---:|---:|---:').join('|')}|`);
    for (const c of m.levels) {
      const b = m.rows.find((r) => r.server === 'berth' && r.conc === c);
      const cells = peers.map((p) => {
        const r = m.rows.find((x) => x.server === p && x.conc === c);
        if (!b || !r || b.failed || r.failed) return 'n/a | n/a | n/a';
        return `${fmtX(b.ok_rps / r.ok_rps)} | ${fmtX(b.p50 / r.p50)} | ${fmtX(b.p99 / r.p99)}`;
      });
      lines.push(`| ${c} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  const notes = [];
  for (const r of m.rows.filter((x) => x.server === 'berth' && !x.failed)) {
    const bad = Object.entries(r.berth_codes ?? {}).filter(([k]) => k !== 'OK');
    if (bad.length) notes.push(`conc ${r.conc}: Berth answered errors ${bad.map(([k, v]) => `${k}×${v}`).join(', ')}`);
    if (r.mean_batch !== undefined)
      notes.push(
        `conc ${r.conc}: ${fmtInt(r.batches)} runtime calls, mean batch ${r.mean_batch?.toFixed(2) ?? 'n/a'} rows, mean queue wait ${r.mean_queue_ms?.toFixed(3) ?? 'n/a'} ms, mean runtime call ${r.mean_infer_ms?.toFixed(3) ?? 'n/a'} ms (${r.mean_infer_ms && r.mean_batch ? `${fmtInt((r.mean_batch / r.mean_infer_ms) * 1000)} rows/s while running` : 'n/a'}), server CPU ${r.cpu_util?.toFixed(2) ?? 'n/a'} of ${r.machine_busy?.toFixed(2) ?? 'n/a'} busy cores`,
      );
  }
  for (const r of m.rows.filter((x) => x.failed)) notes.push(`conc ${r.conc}: ${r.server}: wrk FAILED: ${r.output}`);
  if (notes.length) lines.push('Berth, from its /metrics (delta over each run):', '', ...notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

function evaluateTargets(results) {
  const out = [];
  const get = (model, server, conc) => results.find((m) => m.model === model)?.rows.find((r) => r.server === server && r.conc === conc && !r.failed);
  const rawOf = (model) => results.find((m) => m.model === model)?.raw;
  const add = (name, ok, detail) => out.push({ target: name, status: ok === null ? 'N/A' : ok ? 'PASS' : 'MISS', detail });
  const why = (model, server, conc) => {
    const m = results.find((x) => x.model === model);
    if (!m || !m.levels.includes(conc)) return `not measured (level ${conc} not run)`;
    if (!m.rows.some((r) => r.server === server)) return `not measured (${server} did not run; see the ${model} section)`;
    return `not measured (${server} failed at conc ${conc})`;
  };
  const errNote = (r) => (r && (r.non2xx || r.sockerr || r.timeouts) ? ` (⚠ ${r.non2xx} non-2xx, ${r.sockerr + r.timeouts} socket errors/timeouts)` : '');

  // wide-mlp @64
  if (results.some((m) => m.model === 'wide-mlp')) {
    const b = get('wide-mlp', 'berth', 64);
    const raw = rawOf('wide-mlp');
    const rawB64 = raw?.throughput.find((t) => t.batch === 64)?.rows_per_s;
    if (!b) add('wide-mlp conc 64: served rows/s ≥ 50% of raw batch 64', null, why('wide-mlp', 'berth', 64));
    else
      add(
        'wide-mlp conc 64: served rows/s ≥ 50% of raw batch 64',
        b.ok_rps >= 0.5 * rawB64,
        `Berth ${fmtInt(b.ok_rps)} rows/s vs raw batch 64 ${fmtInt(rawB64)} → ${((100 * b.ok_rps) / rawB64).toFixed(0)}% (need ≥ 50%, i.e. ${fmtInt(0.5 * rawB64)})${errNote(b)}`,
      );
    const p = get('wide-mlp', 'node-diy', 64);
    if (!b || !p) add('wide-mlp conc 64: ≥ 3× node-diy', null, why('wide-mlp', b ? 'node-diy' : 'berth', 64));
    else add('wide-mlp conc 64: ≥ 3× node-diy', b.ok_rps >= 3 * p.ok_rps, `Berth ${fmtInt(b.ok_rps)} vs node-diy ${fmtInt(p.ok_rps)} rows/s → ${fmtX(b.ok_rps / p.ok_rps)} (need ≥ 3×)${errNote(b)}`);
  }
  // breast-cancer-gbt @32
  if (results.some((m) => m.model === 'breast-cancer-gbt')) {
    const b = get('breast-cancer-gbt', 'berth', 32);
    for (const [peer, need] of [['node-diy', 1.2], ['fastapi-sklearn-2w', 6]]) {
      const p = get('breast-cancer-gbt', peer, 32);
      const name = `breast-cancer-gbt conc 32: req/s ≥ ${need}× ${peer}, p99 lower`;
      if (!b || !p) add(name, null, why('breast-cancer-gbt', b ? peer : 'berth', 32));
      else {
        const ok = b.ok_rps >= need * p.ok_rps && b.p99 < p.p99;
        add(name, ok, `req/s ${fmtInt(b.ok_rps)} vs ${fmtInt(p.ok_rps)} → ${fmtX(b.ok_rps / p.ok_rps)} (need ≥ ${need}×); p99 ${fmtMs(b.p99)} vs ${fmtMs(p.p99)} ms (need lower)${errNote(b)}`);
      }
    }
  }
  // conc 1 latency, every model
  for (const m of results) {
    const b = get(m.model, 'berth', 1);
    const name = `${m.model} conc 1: p50 ≤ raw batch-1 p50 + 0.15 ms`;
    if (!b || !m.raw) add(name, null, why(m.model, 'berth', 1));
    else {
      const lim = m.raw.latency.p50_ms + 0.15;
      add(name, b.p50 <= lim, `Berth p50 ${b.p50.toFixed(3)} ms vs raw ${m.raw.latency.p50_ms.toFixed(3)} + 0.15 = ${lim.toFixed(3)} ms (overhead ${(b.p50 - m.raw.latency.p50_ms).toFixed(3)} ms)${errNote(b)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// serve

async function serve(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      models: { type: 'string', default: DEFAULT_MODELS.join(',') },
      duration: { type: 'string', default: '10' },
      levels: { type: 'string', default: '1,8,32,64' },
      warmup: { type: 'string', default: '3' },
      repeat: { type: 'string', default: '2' },
      'no-peers': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const models = values.models.split(',').map((s) => s.trim()).filter(Boolean);
  const duration = Number(values.duration);
  const warmup = Number(values.warmup);
  const levels = values.levels.split(',').map(Number);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat: expected a positive integer, got ${values.repeat}`);
  if (!Number.isFinite(duration) || duration < 1) throw new Error(`--duration: expected seconds >= 1, got ${values.duration}`);
  if (levels.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`--levels: expected positive integers, got ${values.levels}`);
  if (!FIXTURES) throw new Error('fixtures not found: set BERTH_FIXTURES or put them at ../shared/fixtures');
  for (const m of models) if (!existsSync(path.join(FIXTURES, m, 'model.onnx'))) throw new Error(`no fixture model ${m} under ${FIXTURES}`);
  const t0 = Date.now();

  // 1. setup
  ensureBuild(values['no-build']);
  ensureWrk();
  let peersOff = values['no-peers'] ? 'skipped (--no-peers)' : null;
  if (!peersOff) {
    const why = setupPeers();
    if (why) {
      peersOff = `skipped: ${why}`;
      log(`PEERS SKIPPED: ${why}`);
    }
  }
  const bodies = Object.fromEntries(models.map((m) => [m, writeBodies(m)]));
  const git = run('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).stdout.trim();
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).stdout.trim().split('\n').filter(Boolean).length;
  const meta = {
    date: new Date().toISOString(),
    command: `npm run bench -- serve ${argv.join(' ')}`.trim(),
    git: `${git}${dirty ? ` (+${dirty} modified tracked files)` : ''}`,
    node: process.version,
    cpus: `${os.availableParallelism()} × ${os.cpus()[0]?.model ?? '?'}`,
    wrk: wrkDescription(),
    duration,
    warmup,
    levels,
    repeat,
    ...(process.env.BERTH_DIST ? { berthDist: process.env.BERTH_DIST } : {}),
    berthEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BERTH_'))),
  };
  const est = models.reduce((a, m) => a + ((peersOff ? 0 : (PEERS_FOR[m] ?? ['node-diy']).length) + 1) * (repeat * levels.length * (duration + 0.5) + warmup), 0) + models.length * 12;
  log(`measuring ${models.join(', ')} at ${levels.join(', ')} connections, ${duration}s each — about ${Math.ceil(est / 60)} min`);

  // 2. raw, each model in its own child process, nothing else running
  const results = [];
  for (const model of models) {
    log(`raw onnxruntime-node: ${model}`);
    const raw = runRaw(model);
    log(`  batch-1 p50 ${raw.latency.p50_ms.toFixed(4)} ms; rows/s ${raw.throughput.map((t) => `b${t.batch} ${fmtInt(t.rows_per_s)}`).join(', ')}`);
    results.push({ model, raw, runs: [], rows: [], levels, sanity: [], peerNote: peersOff, berthConfig: null });
  }

  // 3 + 4. Berth and peers, alternating per level
  for (const m of results) {
    const model = m.model;
    const body = bodies[model];
    const servers = [];
    try {
      log(`${model}: starting Berth`);
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
      tempDirs.add(dataDir);
      const berth = await startServer({
        name: `berth-${model}`,
        cmd: process.execPath,
        args: [path.join(here, 'serve-fixture.js'), '--fixtures', FIXTURES, '--models', model, '--data-dir', dataDir],
        url: (s) => (s.berthUrl ? `${s.berthUrl}/v2/models/${model}/infer` : null),
        body: body.v2,
        timeoutMs: 60_000,
        diagnose: async (s) => {
          if (!s.berthUrl) return 'Berth never printed BERTH_READY';
          const ready = await fetch(`${s.berthUrl}/v2/models/${model}/ready`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());
          const prom = parseProm(await fetch(`${s.berthUrl}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()));
          const pick = prom.filter((x) => /^berth_(models_loaded|model_loads_total|errors_total|requests_total)$/.test(x.name)).map((x) => `${x.name}${x.labels.code ? `{code=${x.labels.code}}` : ''}=${x.value}`);
          return `GET /v2/models/${model}/ready → ${ready.slice(0, 200)}; metrics: ${pick.join(', ')}`;
        },
        onLine: (line, s) => {
          if (line.startsWith('BERTH_READY ')) {
            const info = JSON.parse(line.slice('BERTH_READY '.length));
            s.berthUrl = info.url;
            m.berthConfig = info.config;
          }
        },
      });
      Object.assign(berth, { kind: 'berth', label: 'berth', baseUrl: berth.berthUrl, inferUrl: `${berth.berthUrl}/v2/models/${model}/infer`, body: body.v2 });
      servers.push(berth);
      if (!peersOff) {
        for (const peer of PEERS_FOR[model] ?? ['node-diy']) {
          const port = await freePort();
          const runSh = path.join(PEERS_DIR, 'run.sh');
          const env = { FIXTURES, PY, PORT: String(port) };
          let spec;
          if (peer === 'node-diy') {
            spec = { args: [runSh, 'node-diy', '--model', path.join(FIXTURES, model, 'model.onnx'), '--name', model, '--port', String(port)], path: `/v2/models/${model}/infer`, body: body.v2 };
          } else if (peer === 'fastapi-sklearn-2w') {
            spec = { args: [runSh, 'fastapi-sklearn', '--workers', '2', '--port', String(port)], path: '/predict', body: body.predict };
          } else continue;
          log(`${model}: starting ${peer} on port ${port}`);
          try {
            const srv = await startServer({ name: `${peer}-${model}`, cmd: 'bash', args: spec.args, env, cwd: PEERS_DIR, url: () => `http://127.0.0.1:${port}${spec.path}`, body: spec.body });
            Object.assign(srv, { kind: 'peer', label: peer, inferUrl: srv.url, body: spec.body });
            servers.push(srv);
          } catch (err) {
            log(`${peer} did not start: ${err.message}`);
            m.sanity.push(`${peer} did not start: ${err.message.split('\n')[0]}`);
          }
        }
      }
      // same model, same answer? (Berth vs node-diy on the same v2 body)
      const diy = servers.find((s) => s.label === 'node-diy');
      const berthOut = berth.sample?.outputs;
      if (diy && berthOut && diy.sample?.outputs) {
        const d0 = diy.sample.outputs[0];
        const b0 = berthOut.find((o) => o.name === d0.name);
        const diff = maxAbsDiff(b0?.data?.flat?.(Infinity), d0.data?.flat?.(Infinity));
        m.sanity.push(`sanity: Berth and node-diy answer the same body with "${d0.name}" max |Δ| = ${Number.isFinite(diff) ? diff.toExponential(2) : 'n/a (shapes differ)'}; Berth returns ${berthOut.map((o) => o.name).join(' + ')}, node-diy ${diy.sample.outputs.map((o) => o.name).join(' + ')}`);
      }
      if (m.berthConfig) m.sanity.push(`Berth config: batching ${JSON.stringify(m.berthConfig.batching)}, runtime ${JSON.stringify(m.berthConfig.runtime)}`);
      if (warmup > 0) {
        for (const s of servers) {
          log(`${model}: warm-up ${s.label} (${warmup}s at 8 connections)`);
          await runWrk(s.inferUrl, s.body, 8, warmup, { wrkCpu: true });
        }
      }
      for (let k = 0; k < repeat * levels.length; k++) {
        const c = levels[k % levels.length];
        const pass = Math.floor(k / levels.length) + 1;
        const order = k % 2 === 0 ? servers : [...servers].reverse();
        for (const s of order) {
          const r = await measureOne(s, model, s.body, c, duration);
          r.pass = pass;
          m.runs.push(r);
          log(
            `${model}${repeat > 1 ? ` pass ${pass}/${repeat}` : ''} conc ${c} ${s.label}: ${r.failed ? `FAILED ${r.output}` : `${fmtInt(r.ok_rps)} req/s, p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, non-2xx ${r.non2xx}, sock ${r.sockerr + r.timeouts}${r.mean_batch != null ? `, mean batch ${r.mean_batch.toFixed(2)}` : ''}`}`,
          );
        }
      }
    } catch (err) {
      log(`${model}: ${err.message}`);
      m.sanity.push(`ERROR: ${err.message.split('\n')[0]}`);
    } finally {
      for (const s of servers) await stopServer(s);
      removeTempDirs();
    }
    m.rows = aggregateRuns(m.runs, levels);
  }

  // 5. report
  const targets = evaluateTargets(results);
  const out = [];
  out.push('# Berth serving benchmark', '');
  out.push(`\`${meta.command}\` — ${meta.date}, git ${meta.git}, Node ${meta.node}, ${meta.cpus}.`);
  if (meta.berthDist) out.push(`**Berth measured from ${meta.berthDist} (BERTH_DIST), not from dist/.**`);
  out.push(`Load: ${meta.wrk}; ${duration}s per run, ${warmup}s warm-up per server; servers not pinned; Berth and peers alternate level by level${repeat > 1 ? `; ${repeat} passes over the levels, figures are medians over the passes, (min–max) in brackets` : ''}.`);
  out.push('Every req/s is whole requests of one row each that answered 2xx (so req/s = rows/s). Ratios to raw: rows/s ÷ raw rows/s at batch 64; p50 as a difference from raw batch-1 p50; p99 ÷ raw batch-1 p99.');
  out.push(`CPU cores (of ${os.availableParallelism()}), averaged over the run: the server's process group / wrk / everything else (kernel network work and other people's processes; ⚠ above ${OTHER_WARN} means the run shared the machine). Mean batch: Berth's own /metrics.`, '');
  const busyRuns = results.flatMap((m) => m.runs.filter((r) => r.other_busy > OTHER_WARN).map((r) => `${m.model} ${r.server} conc ${r.conc}${r.pass ? ` pass ${r.pass}` : ''} (${r.other_busy.toFixed(2)})`));
  if (busyRuns.length) out.push(`⚠ **Other load on the machine** during ${busyRuns.length} of ${results.reduce((a, m) => a + m.runs.length, 0)} runs (cores busy outside the server and wrk): ${busyRuns.join(', ')}. Ratios from those levels are less trustworthy; rerun on a quiet machine.`, '');
  for (const m of results) out.push(reportModel(m));
  out.push('## Targets', '');
  for (const t of targets) out.push(`- **${t.status}** ${t.target}: ${t.detail}`);
  const counts = targets.reduce((a, t) => ((a[t.status] = (a[t.status] ?? 0) + 1), a), {});
  out.push('', `${counts.PASS ?? 0} PASS, ${counts.MISS ?? 0} MISS, ${counts['N/A'] ?? 0} N/A — total time ${((Date.now() - t0) / 60000).toFixed(1)} min. Server logs: ${path.relative(root, LOG_DIR)}/.`, '');
  process.stdout.write(out.join('\n'));
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ meta, results, targets }, null, 1));
    log(`wrote ${values.json}`);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

const [sub, ...rest] = process.argv.slice(2);
try {
  if (sub === 'serve') process.exitCode = await serve(rest);
  else if (sub === 'monitor') process.exitCode = await (await import('./monitor.js')).monitor(rest);
  else if (sub === 'rollout') process.exitCode = await (await import('./rollout.js')).rollout(rest);
  else if (sub === 'security') process.exitCode = await (await import('./security.js')).security(rest);
  else if (sub === 'distributed') process.exitCode = await (await import('./distributed.js')).distributed(rest);
  else if (sub === 'protocol') process.exitCode = await (await import('./protocol.js')).protocol(rest);
  else if (sub === 'batch') process.exitCode = await (await import('./batch.js')).batch(rest);
  else if (sub === 'stream') process.exitCode = await (await import('./stream.js')).stream(rest);
  else if (sub === 'jobs') process.exitCode = await (await import('./jobs.js')).jobs(rest);
  else if (sub === 'explain') process.exitCode = await (await import('./explain.js')).explain(rest);
  else if (sub === 'pipelines') process.exitCode = await (await import('./pipelines.js')).pipelines(rest);
  else if (sub === 'ui') process.exitCode = await (await import('./ui.js')).ui(rest);
  else {
    process.stdout.write(`${usage()}\n`);
    process.exitCode = sub === undefined || sub === 'help' || sub === '--help' || sub === '-h' ? 0 : 2;
  }
} catch (err) {
  process.stderr.write(`bench: ${err?.message ?? err}\n`);
  for (const c of started) killGroup(c, 'SIGKILL');
  removeTempDirs();
  process.exitCode = 1;
}

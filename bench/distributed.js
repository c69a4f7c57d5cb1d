#!/usr/bin/env node
// `npm run bench -- distributed`: what the PostgreSQL-backed data plane (and S3 artifacts) cost the
// hot path, and how fast a replica starts (see bench/README.md, "Distributed"). Plain Node ESM driving
// the compiled server in dist/ (rebuilt first when src/ is newer).
//
//   npm run bench -- distributed [--levels 1,32] [--repeat 3] [--duration 10] [--warmup 3] [--starts 5]
//                                [--no-s3] [--no-build] [--json out.json]
//
// 1. Throughput. Up to three server processes (`node bench/distributed.js serve-child`: createBerthServer
//    + listen, as `berth serve` does, BERTH_* applied), each on a fresh data dir with {auth: {dev: true}}:
//      embedded     the SQLite registry and artifacts in the data dir;
//      postgres     + database.url = BERTH_BENCH_POSTGRES_URL?schema=bench_<random> (the store migrates it);
//      postgres+s3  + its own schema and artifacts.url = s3://berth-bench/<random>?endpoint=<s3rver>
//                   (an s3rver started by the bench, credentials S3RVER/S3RVER; skipped with --no-s3).
//    breast-cancer-gbt is registered as `bc` v1 over HTTP and deployed as `bc` in each. wrk (pinned to a
//    core) runs POST /v2/models/bc/infer and POST /v1/deployments/bc/predict with a 1-row body, the
//    configurations alternating (their order rotating) per level, route and round; raw onnxruntime-node
//    (bench/raw-ort.js) runs in the same run.
// 2. Replica start. With the registry in PostgreSQL (+ S3 when there), `node bin/berth.js --data-dir D
//    serve --dev --database … [--artifacts …] --port 0 --host 127.0.0.1` is spawned and timed to its
//    banner (listening), its first 200 on GET /v2/health/ready and its first 200 infer (and the second
//    infer's latency, to tell a lazy model load from a loaded one): warm = D already holds the model in
//    its artifact cache (one priming start first), cold = a fresh D each time (S3 only: without S3
//    the artifacts live in the registering server's data dir). Warm and cold starts interleave.
// The schemas are dropped at the end (pg), the s3rver stopped and its directory removed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanup, cpuPerRequest, dist, envMeta, FIXTURES, fmtInt, fmtMs, fmtX, groupCpuMs, http, killGroup, LOG_DIR, loadOptions, median, range, rawOrt, roundRatios, root, run, runAsScript, runMeta, runStats, runWrk, sleep, startServeChild, stopServeChild, sum, tempDir, WORK_DIR, wrkDescription } from './lib.js';
import { ensureBuild, ensureWrk, writeBody } from './monitor.js';

const MODEL = 'bc';
const FIXTURE = 'breast-cancer-gbt';
const TARGET_RATIO = 0.95;
const TARGET_READY_S = 2;
const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/test';
const S3_CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
const BUCKET = 'berth-bench';
const ROUTES = {
  infer: (url) => `${url}/v2/models/${MODEL}/infer`,
  predict: (url) => `${url}/v1/deployments/${MODEL}/predict`,
};

const require = createRequire(import.meta.url);
const log = (msg) => process.stderr.write(`[bench distributed] ${msg}\n`);
const fmtPct = (n, d = 1) => (Number.isFinite(n) ? `${(100 * n).toFixed(d)}%` : 'n/a');
const fmtS = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');
const fmtSigned = (n) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(0)}` : 'n/a');

function usage() {
  return `usage: npm run bench -- distributed [options]

  --levels 1,32    wrk connections (default 1,32)
  --repeat N       rounds over levels and routes (default 3); ratios are medians over the rounds
  --duration S     seconds per wrk run (default 10)
  --warmup S       wrk warm-up per configuration at 8 connections (default 3, 0 = none)
  --starts N       replica starts timed per case, warm and cold (default 5)
  --no-s3          no s3rver: no postgres+s3 configuration, replica starts warm only on PostgreSQL
  --no-build       use dist/ as it is (default: npm run build when src/ is newer than dist/)
  --json FILE      also write every measurement as JSON

Environment: BERTH_BENCH_POSTGRES_URL (default ${DEFAULT_PG}; the bench adds ?schema=bench_<random>
and drops that schema at the end), BERTH_FIXTURES, LOAD_CPU (core wrk is pinned to, default 1, 'none'),
WRK_TIMEOUT (5s), BERTH_DIST (another build of Berth), BERTH_* (Berth config, reaches the servers;
BERTH_DATABASE_URL and BERTH_ARTIFACTS_URL are removed from their environment).`;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL, S3

function withSchema(url, schema) {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

async function dropSchemas(baseUrl, schemas) {
  if (schemas.length === 0) return;
  const { default: pg } = await import('pg');
  const u = new URL(baseUrl);
  u.search = '';
  const client = new pg.Client({ connectionString: u.toString() });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s.replace(/"/g, '')}" CASCADE`);
  } finally {
    await client.end();
  }
}

async function pgReachable(baseUrl) {
  const { default: pg } = await import('pg');
  const u = new URL(baseUrl);
  u.search = '';
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 3000 });
  await client.connect();
  const r = await client.query('SHOW server_version');
  await client.end();
  return r.rows[0].server_version;
}

async function startS3() {
  const S3rver = require('s3rver');
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const directory = tempDir('berth-bench-s3rver-');
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, vhostBuckets: false });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();
  return { endpoint, stop: () => server.close() };
}

function childEnv() {
  const env = { ...process.env, ...S3_CREDS };
  delete env.BERTH_DATABASE_URL;
  delete env.BERTH_ARTIFACTS_URL;
  return env;
}

// ---------------------------------------------------------------------------------------------
// throughput

function startServer(cfg, dataDir) {
  return startServeChild({
    script: fileURLToPath(import.meta.url),
    args: ['--data-dir', dataDir, '--layer', JSON.stringify(cfg.layer)],
    env: childEnv(),
    logFile: path.join(LOG_DIR, `distributed-${cfg.name.replace(/\W/g, '-')}.log`),
    label: `the ${cfg.name} server`,
    fields: { cfg, dataDir },
  });
}

async function must(method, url, body) {
  const r = await http(method, url, body, { headers: { 'x-berth-actor': 'bench' } });
  if (!r.ok) throw new Error(`${method} ${new URL(url).pathname} → HTTP ${r.status}: ${r.text.slice(0, 400)}`);
  return r.json;
}

async function setupModel(url) {
  const bytes = readFileSync(path.join(FIXTURES, FIXTURE, 'model.onnx'));
  const card = readFileSync(path.join(FIXTURES, FIXTURE, 'card.json'), 'utf8');
  const t0 = performance.now();
  await must('POST', `${url}/v1/models/${MODEL}/versions`, { model_base64: bytes.toString('base64'), file_name: 'model.onnx', card_text: card, card_file_name: 'card.json', description: `${FIXTURE} (bench distributed)` });
  const registerMs = performance.now() - t0;
  const t1 = performance.now();
  await must('PUT', `${url}/v1/deployments/${MODEL}`, { model: MODEL, version: 1 });
  return { registerMs, deployMs: performance.now() - t1 };
}

async function measure(srv, route, bodyFile, conns, secs) {
  const cpu0 = groupCpuMs(srv.child.pid);
  const r = await runWrk(ROUTES[route](srv.url), bodyFile, conns, secs);
  const cpu1 = groupCpuMs(srv.child.pid);
  return { config: srv.cfg.name, route, conc: conns, ...r, ...cpuPerRequest(cpu1 - cpu0, r) };
}

// ---------------------------------------------------------------------------------------------
// replica start

/**
 * Spawn `berth serve` on `dataDir`; time its banner, first ready 200, first infer 200 and a second
 * infer; then SIGTERM it and wait for it to exit.
 */
async function timeStart({ dataDir, dbUrl, artifactsUrl, body, label, logFile, role }) {
  const args = [path.join(root, 'bin', 'berth.js'), '--data-dir', dataDir, 'serve', '--dev', '--database', dbUrl, ...(artifactsUrl ? ['--artifacts', artifactsUrl] : []), ...(role ? ['--role', role] : []), '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn'];
  const sink = createWriteStream(logFile, { flags: 'a' });
  sink.write(`--- ${label} ${new Date().toISOString()}\n`);
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: root, env: childEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  let dead = null;
  void exited.then((x) => (dead = x));
  let url = null;
  let bannerMs = NaN;
  let buf = '';
  child.stdout.on('data', (d) => {
    sink.write(d);
    buf += d;
    const m = /serving on (https?:\/\/\S+)/.exec(buf);
    if (m && !url) {
      url = m[1];
      bannerMs = performance.now() - t0;
    }
  });
  child.stderr.on('data', (d) => sink.write(d));
  const out = { label, bannerMs, readyMs: NaN, inferMs: NaN, firstInferLatencyMs: NaN, secondInferLatencyMs: NaN };
  try {
    while (!url) {
      if (dead) throw new Error(`${label}: berth serve exited (code ${dead.code}) before listening; see ${logFile}`);
      if (performance.now() - t0 > 60_000) throw new Error(`${label}: no banner within 60 s; see ${logFile}`);
      await sleep(2);
    }
    out.bannerMs = bannerMs;
    for (;;) {
      const r = await fetch(`${url}/v2/health/ready`).catch(() => null);
      if (r) await r.arrayBuffer();
      if (r?.status === 200) break;
      if (dead || performance.now() - t0 > 60_000) throw new Error(`${label}: never ready (last ${r?.status}); see ${logFile}`);
      await sleep(2);
    }
    out.readyMs = performance.now() - t0;
    for (;;) {
      const t1 = performance.now();
      const r = await http('POST', `${url}/v2/models/${MODEL}/infer`, body, { timeoutMs: 30_000 }).catch((err) => ({ ok: false, status: String(err?.message ?? err) }));
      if (r.ok) {
        out.inferMs = performance.now() - t0;
        out.firstInferLatencyMs = performance.now() - t1;
        break;
      }
      if (dead || performance.now() - t0 > 60_000) throw new Error(`${label}: infer never answered 200 (last ${r.status}: ${r.text?.slice(0, 200)}); see ${logFile}`);
      out.inferFailures = (out.inferFailures ?? 0) + 1;
      await sleep(5);
    }
    const t2 = performance.now();
    const r2 = await http('POST', `${url}/v2/models/${MODEL}/infer`, body);
    if (r2.ok) out.secondInferLatencyMs = performance.now() - t2;
  } finally {
    killGroup(child, 'SIGTERM');
    const t = await Promise.race([exited.then(() => 'exited'), sleep(15_000).then(() => 'timeout')]);
    if (t === 'timeout') killGroup(child, 'SIGKILL');
    await new Promise((r) => sink.end(r));
  }
  return out;
}

/** `node -e 0`, N times: what Node's own start costs on this machine. */
function nodeStartMs(n) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    run(process.execPath, ['-e', '0']);
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

/** A fresh Node importing dist/'s CLI entry, core and server modules (what berth serve loads before it opens anything): ms since process start, median of N. */
function importMs(n) {
  const code = `const t0 = performance.now(); for (const m of ['cli/main.js', 'core/index.js', 'server/index.js', 'registry/index.js']) await import(${JSON.stringify(pathToFileURL(dist).href)} + '/' + m).catch(() => undefined); process.stdout.write(String(performance.now()));`;
  const xs = [];
  for (let i = 0; i < n; i++) {
    const r = run(process.execPath, ['--input-type=module', '-e', code], { cwd: root });
    xs.push(Number(r.stdout.trim().split('\n').pop()));
  }
  return median(xs);
}

// ---------------------------------------------------------------------------------------------
// report

function summarize(runs, levels, configs) {
  const rows = [];
  for (const route of Object.keys(ROUTES)) {
    for (const c of levels) {
      for (const cfg of configs) {
        const all = runs.filter((r) => r.route === route && r.conc === c && r.config === cfg);
        const ok = all.filter((r) => !r.failed);
        rows.push({ route, conc: c, config: cfg, ...runStats(ok), failedRuns: all.length - ok.length, sock: sum(ok.map((r) => r.sockerr + r.timeouts)) });
      }
    }
  }
  return rows;
}

function ratios(runs, levels, repeat, configs) {
  const out = [];
  for (const route of Object.keys(ROUTES)) {
    for (const c of levels) {
      const at = runs.filter((r) => r.route === route && r.conc === c);
      // noise: embedded's own req/s spread over the rounds, relative to its median
      const emb = at.filter((r) => r.config === 'embedded' && !r.failed).map((r) => r.ok_rps);
      const [lo, hi] = range(emb);
      const noise = (hi - lo) / median(emb);
      for (const cfg of configs.filter((x) => x !== 'embedded')) out.push({ route, conc: c, config: cfg, ...roundRatios(at, 'config', 'embedded', cfg, repeat), embeddedSpread: noise });
    }
  }
  return out;
}

function startStats(xs, key) {
  const v = xs.map((x) => x[key]).filter(Number.isFinite);
  const [lo, hi] = range(v);
  return { min: lo, median: median(v), max: hi, n: v.length };
}

function targets(res) {
  const t = [];
  const add = (name, ok, detail) => t.push({ status: ok === null ? 'N/A' : ok ? 'PASS' : 'MISS', name, detail });
  const rawB1 = res.raw?.throughput.find((x) => x.batch === 1)?.rows_per_s;
  for (const q of res.ratios.filter((x) => x.route === 'infer' && x.conc === 32)) {
    const e = res.summary.find((r) => r.route === 'infer' && r.conc === 32 && r.config === 'embedded');
    const p = res.summary.find((r) => r.route === 'infer' && r.conc === 32 && r.config === q.config);
    add(
      `${q.config} ÷ embedded ≥ ${TARGET_RATIO * 100} % at c32 on infer`,
      Number.isFinite(q.ratio) ? q.ratio >= TARGET_RATIO : null,
      `median of the per-round ratios ${fmtPct(q.ratio)} (${q.per.map((x) => fmtPct(x.ratio)).join(', ')}); noise: embedded's own req/s spread over the rounds ${fmtPct(q.embeddedSpread)} of its median; ` +
        `medians ${fmtInt(p?.ok_rps)} vs ${fmtInt(e?.ok_rps)} req/s; server CPU ${fmtInt(p?.cpu_us_per_req)} vs ${fmtInt(e?.cpu_us_per_req)} µs/request` +
        (rawB1 ? `; ÷ raw batch-1 rows/s (${fmtInt(rawB1)}): ${fmtX(p?.ok_rps / rawB1)} vs ${fmtX(e?.ok_rps / rawB1)}` : ''),
    );
  }
  if (!res.ratios.some((x) => x.route === 'infer' && x.conc === 32)) add(`postgres ÷ embedded ≥ ${TARGET_RATIO * 100} % at c32 on infer`, null, 'c32 not among --levels');
  const w = res.starts?.warm;
  if (w) {
    const rd = startStats(w, 'readyMs');
    const inf = startStats(w, 'inferMs');
    add(`warm replica ready < ${TARGET_READY_S} s`, rd.n > 0 ? rd.max < TARGET_READY_S * 1000 : null, `spawn → first 200 on /v2/health/ready: median ${fmtS(rd.median)} (min ${fmtS(rd.min)}, max ${fmtS(rd.max)}, ${rd.n} starts); spawn → first 200 infer: median ${fmtS(inf.median)} (max ${fmtS(inf.max)}); Node's own start (node -e 0) ${fmtS(res.starts.nodeMs)} included`);
  }
  const wd = res.starts?.warmData;
  if (wd?.length) {
    const rd = startStats(wd, 'readyMs');
    const inf = startStats(wd, 'inferMs');
    add(`warm --role data replica ready < ${TARGET_READY_S} s`, rd.n > 0 ? rd.max < TARGET_READY_S * 1000 : null, `spawn → first 200 on /v2/health/ready: median ${fmtS(rd.median)} (min ${fmtS(rd.min)}, max ${fmtS(rd.max)}, ${rd.n} starts); spawn → first 200 infer: median ${fmtS(inf.median)} (max ${fmtS(inf.max)})`);
  }
  return t;
}

function render(res, meta) {
  const L = [];
  L.push('# Berth distributed benchmark: the PostgreSQL-backed data plane vs the embedded one, and replica start', '');
  L.push(`\`${meta.command}\` — ${meta.date}, git ${meta.git}, Node ${meta.node}, ${meta.cpus}, PostgreSQL ${meta.postgres}${meta.s3 ? `, s3rver ${meta.s3}` : ''}.`, '');
  if (meta.berthDist) L.push(`**Berth measured from ${meta.berthDist} (BERTH_DIST), not from dist/.**`, '');
  L.push(`Load: ${meta.wrk}; ${meta.duration}s per run, ${meta.warmup}s warm-up per configuration; ${meta.repeat} round(s), the configurations' order rotating per cell; figures are medians over the rounds, (min–max) in brackets. Model \`${MODEL}\` = ${FIXTURE}, 1-row bodies (infer: OIP v2 tensor; predict: {"instances": [row]}).`, '');
  L.push(`Configurations: ${res.configs.map((c) => `**${c.name}** (${c.desc})`).join('; ')}. Setup (register + deploy over HTTP): ${res.configs.map((c) => `${c.name} ${fmtMs(c.setup.registerMs)} + ${fmtMs(c.setup.deployMs)} ms`).join(', ')}.`, '');
  const raw = res.raw;
  const rawB1 = raw?.throughput.find((t) => t.batch === 1)?.rows_per_s;
  if (raw) L.push(`Raw onnxruntime-node in the same run: batch-1 p50 ${raw.latency.p50_ms.toFixed(4)} ms, ${fmtInt(rawB1)} rows/s at batch 1, ${fmtInt(raw.throughput.find((t) => t.batch === 64)?.rows_per_s)} rows/s at batch 64.`, '');
  else L.push(`Raw onnxruntime-node: ${res.rawError}`, '');
  L.push('## Throughput', '');
  L.push('| route | conc | config | req/s | p50 ms | p99 ms | server CPU µs/req | ÷ raw b1 rows/s | non-2xx | failed runs |', '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of res.summary) {
    L.push(`| ${r.route} | ${r.conc} | ${r.config} | ${fmtInt(r.ok_rps)} (${fmtInt(r.ok_rps_range[0])}–${fmtInt(r.ok_rps_range[1])}) | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} (${fmtMs(r.p99_range[0])}–${fmtMs(r.p99_range[1])}) | ${fmtInt(r.cpu_us_per_req)} | ${rawB1 ? fmtX(r.ok_rps / rawB1, 3) : 'n/a'} | ${fmtInt(r.non2xx)} | ${r.failedRuns} |`);
  }
  L.push('', '### Ratio to embedded, round by round', '');
  L.push('| route | conc | config | req/s ratio, median | per round (who ran first) | CPU µs/req diff | p99 diff ms | embedded req/s spread |', '|---|---:|---|---:|---|---:|---:|---:|');
  for (const q of res.ratios) {
    L.push(`| ${q.route} | ${q.conc} | ${q.config} | ${fmtPct(q.ratio)} | ${q.per.map((p) => `${fmtPct(p.ratio)}${p.first ? ` (${p.first === 'embedded' ? 'e' : 'p'})` : ''}`).join(', ')} | ${fmtSigned(q.cpuDiff)} | ${Number.isFinite(q.p99Diff) ? (q.p99Diff >= 0 ? '+' : '−') + fmtMs(Math.abs(q.p99Diff)) : 'n/a'} | ${fmtPct(q.embeddedSpread)} |`);
  }
  const s = res.starts;
  if (s) {
    L.push('', '## Replica start', '');
    L.push(`\`${s.command}\`, registry in PostgreSQL${s.artifacts ? ' and artifacts in S3 (s3rver)' : ' (artifacts in the data dir: cold not measured, needs S3)'}; ${s.n} starts per case, warm and cold interleaved; times from spawn. Warm: the data dir already holds the model in its ${s.artifacts ? 'artifact cache' : 'artifact store'} (primed by one start). Cold: a fresh data dir each time. Node's own start (\`node -e 0\`, median of 5): ${fmtS(s.nodeMs)}; a fresh Node importing dist/'s CLI, core, server and registry modules (no I/O): ${fmtS(s.importMs)}.`, '');
    L.push('| case | listening (banner) | ready 200 | first infer 200 | first infer latency | second infer latency |', '|---|---|---|---|---|---|');
    const cell = (xs, k, f = fmtS) => {
      const st = startStats(xs, k);
      return st.n ? `${f(st.median)} (${f(st.min)}–${f(st.max)})` : 'n/a';
    };
    for (const [name, xs] of Object.entries({ warm: s.warm, 'warm, --role data': s.warmData, cold: s.cold })) {
      if (!xs?.length) continue;
      L.push(`| ${name} | ${cell(xs, 'bannerMs')} | ${cell(xs, 'readyMs')} | ${cell(xs, 'inferMs')} | ${cell(xs, 'firstInferLatencyMs', (v) => `${fmtMs(v)} ms`)} | ${cell(xs, 'secondInferLatencyMs', (v) => `${fmtMs(v)} ms`)} |`);
    }
    L.push('', 'Median (min–max). A first infer much slower than the second means the model loads on first use, not at start.');
  }
  L.push('', '## Targets', '');
  for (const t of res.targets) L.push(`- **${t.status}** ${t.name}: ${t.detail}`);
  L.push('', `Total time ${((Date.now() - meta.t0) / 60000).toFixed(1)} min. Server logs: ${path.relative(root, LOG_DIR)}/distributed-*.log.`, '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------

export async function distributed(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      levels: { type: 'string', default: '1,32' },
      repeat: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      starts: { type: 'string', default: '5' },
      'no-s3': { type: 'boolean', default: false },
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
  const { levels, repeat, duration, warmup } = loadOptions(values);
  const nStarts = Number(values.starts);
  if (!Number.isInteger(nStarts) || nStarts < 0) throw new Error(`--starts: expected an integer >= 0, got ${values.starts}`);
  if (!existsSync(path.join(FIXTURES, FIXTURE, 'model.onnx'))) throw new Error(`no fixture model ${FIXTURE} under ${FIXTURES}`);
  const pgBase = process.env.BERTH_BENCH_POSTGRES_URL || DEFAULT_PG;

  const meta = { ...runMeta('distributed', argv), levels, repeat, duration, warmup, starts: nStarts, ...envMeta() };
  process.once('exit', cleanup);
  ensureBuild(values['no-build']);
  ensureWrk();
  meta.wrk = wrkDescription();
  try {
    meta.postgres = await pgReachable(pgBase);
  } catch (err) {
    throw new Error(`PostgreSQL at ${new URL(pgBase).host} is not reachable (${err.message}); set BERTH_BENCH_POSTGRES_URL`);
  }
  const inferBody = writeBody(FIXTURE);
  const inferJson = JSON.parse(readFileSync(inferBody, 'utf8'));
  const predictBody = path.join(WORK_DIR, 'bodies', `${FIXTURE}-predict.json`);
  writeFileSync(predictBody, JSON.stringify({ instances: [inferJson.inputs[0].data] }));
  const bodyOf = { infer: inferBody, predict: predictBody };

  const tag = randomBytes(4).toString('hex');
  const schemas = [];
  let s3 = null;
  const res = { runs: [] };
  try {
    if (!values['no-s3']) {
      try {
        s3 = await startS3();
        meta.s3 = require('s3rver/package.json').version;
        log(`s3rver on ${s3.endpoint}, bucket ${BUCKET}`);
      } catch (err) {
        log(`s3rver did not start (${err.message}): no postgres+s3 configuration, no cold replica starts`);
      }
    }
    const configs = [{ name: 'embedded', desc: 'SQLite registry, artifacts in the data dir', layer: {} }];
    schemas.push(`bench_${tag}`);
    configs.push({ name: 'postgres', desc: `database.url = …?schema=bench_${tag}`, layer: { database: { url: withSchema(pgBase, `bench_${tag}`) } } });
    if (s3) {
      schemas.push(`bench_${tag}_s3`);
      configs.push({ name: 'postgres+s3', desc: `its own schema bench_${tag}_s3, artifacts.url = s3://${BUCKET}/${tag}?endpoint=…`, layer: { database: { url: withSchema(pgBase, `bench_${tag}_s3`) }, artifacts: { url: `s3://${BUCKET}/${tag}?endpoint=${encodeURIComponent(s3.endpoint)}` } } });
    }
    const names = configs.map((c) => c.name);
    const est = levels.length * 2 * repeat * configs.length * (duration + 1) + configs.length * warmup + nStarts * 3 * 2 + 20;
    log(`${names.join(', ')} × infer, predict × ${levels.join(', ')} connections × ${repeat} round(s) of ${duration}s; ${nStarts} warm + ${s3 ? nStarts : 0} cold replica starts — about ${Math.ceil(est / 60)} min`);

    Object.assign(res, rawOrt(FIXTURE, log));

    // 1. throughput
    const servers = [];
    try {
      for (const cfg of configs) {
        const srv = await startServer(cfg, tempDir(`berth-bench-dist-${cfg.name.replace(/\W/g, '')}-`));
        servers.push(srv);
        cfg.setup = await setupModel(srv.url);
        for (const route of Object.keys(ROUTES)) {
          const r = await http('POST', ROUTES[route](srv.url), readFileSync(bodyOf[route]));
          if (!r.ok) throw new Error(`${cfg.name} ${route} answered HTTP ${r.status}: ${r.text.slice(0, 300)}`);
        }
        log(`${cfg.name}: ${srv.url}, registered in ${fmtMs(cfg.setup.registerMs)} ms, deployed in ${fmtMs(cfg.setup.deployMs)} ms`);
      }
      res.configs = configs.map(({ name, desc, setup }) => ({ name, desc, setup }));
      if (warmup > 0) for (const srv of servers) for (const route of Object.keys(ROUTES)) await runWrk(ROUTES[route](srv.url), bodyOf[route], 8, warmup);
      let cell = 0;
      for (let round = 1; round <= repeat; round++) {
        for (const route of Object.keys(ROUTES)) {
          for (const c of levels) {
            const k = cell++ % servers.length;
            const order = [...servers.slice(k), ...servers.slice(0, k)];
            for (const [i, srv] of order.entries()) {
              const r = await measure(srv, route, bodyOf[route], c, duration);
              r.round = round;
              r.order = i;
              res.runs.push(r);
              log(`round ${round}/${repeat} ${route} c${c} ${srv.cfg.name}: ${r.failed ? `FAILED ${r.output}` : `${fmtInt(r.ok_rps)} req/s, p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, ${fmtInt(r.cpu_us_per_req)} µs CPU/req, non-2xx ${r.non2xx}`}`);
            }
          }
        }
      }
    } finally {
      for (const srv of servers) await stopServeChild(srv);
    }

    // 2. replica start, on the PostgreSQL registry the throughput servers filled (+ S3)
    if (nStarts > 0) {
      const src = s3 ? configs.find((c) => c.name === 'postgres+s3') : configs.find((c) => c.name === 'postgres');
      const srcSrv = servers.find((s) => s.cfg === src);
      const dbUrl = src.layer.database.url;
      const artifactsUrl = src.layer.artifacts?.url ?? null;
      const logFile = path.join(LOG_DIR, 'distributed-replica.log');
      mkdirSync(LOG_DIR, { recursive: true });
      writeFileSync(logFile, '');
      const s = (res.starts = { n: nStarts, artifacts: Boolean(artifactsUrl), warm: [], warmData: [], cold: [], nodeMs: nodeStartMs(5), importMs: importMs(5) });
      s.command = `node bin/berth.js --data-dir D serve --dev --database postgres://…?schema=${new URL(dbUrl).searchParams.get('schema')}${artifactsUrl ? ' --artifacts s3://…?endpoint=…' : ''} --port 0 --host 127.0.0.1 --log-level warn`;
      const warmDir = tempDir('berth-bench-dist-replica-');
      // without S3 the artifacts are files in the registering server's data dir: a replica needs a copy
      if (!artifactsUrl) cpSync(srcSrv.dataDir, warmDir, { recursive: true });
      const prime = await timeStart({ dataDir: warmDir, dbUrl, artifactsUrl, body: inferJson, label: 'prime', logFile });
      s.prime = prime;
      log(`replica prime: ready ${fmtS(prime.readyMs)}, infer ${fmtS(prime.inferMs)}`);
      for (let i = 0; i < nStarts; i++) {
        const w = await timeStart({ dataDir: warmDir, dbUrl, artifactsUrl, body: inferJson, label: `warm ${i + 1}`, logFile });
        s.warm.push(w);
        log(`replica warm ${i + 1}/${nStarts}: banner ${fmtS(w.bannerMs)}, ready ${fmtS(w.readyMs)}, infer ${fmtS(w.inferMs)} (first ${fmtMs(w.firstInferLatencyMs)} ms, second ${fmtMs(w.secondInferLatencyMs)} ms)`);
        // the stateless inference replica an autoscaler adds (--role data)
        const wd = await timeStart({ dataDir: warmDir, dbUrl, artifactsUrl, body: inferJson, label: `warm data ${i + 1}`, logFile, role: 'data' });
        s.warmData.push(wd);
        log(`replica warm --role data ${i + 1}/${nStarts}: banner ${fmtS(wd.bannerMs)}, ready ${fmtS(wd.readyMs)}, infer ${fmtS(wd.inferMs)}`);
        if (artifactsUrl) {
          const c = await timeStart({ dataDir: tempDir('berth-bench-dist-cold-'), dbUrl, artifactsUrl, body: inferJson, label: `cold ${i + 1}`, logFile });
          s.cold.push(c);
          log(`replica cold ${i + 1}/${nStarts}: banner ${fmtS(c.bannerMs)}, ready ${fmtS(c.readyMs)}, infer ${fmtS(c.inferMs)} (first ${fmtMs(c.firstInferLatencyMs)} ms, second ${fmtMs(c.secondInferLatencyMs)} ms)`);
        }
      }
    }
  } finally {
    await dropSchemas(pgBase, schemas).then(
      () => log(`dropped schema(s) ${schemas.join(', ')}`),
      (err) => log(`dropping schema(s) ${schemas.join(', ')} failed: ${err.message}`),
    );
    if (s3) await s3.stop().catch(() => undefined);
    cleanup();
  }

  const names = res.configs.map((c) => c.name);
  res.summary = summarize(res.runs, levels, names);
  res.ratios = ratios(res.runs, levels, repeat, names);
  res.targets = targets(res);
  process.stdout.write(render(res, meta));
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ meta, ...res }, null, 1));
    log(`wrote ${values.json}`);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

/** The server: `berth serve`'s createBerthServer + listen on a data dir, {auth: {dev: true}} + `--layer`, BERTH_* applied. */
async function serveChild(argv) {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, layer: { type: 'string', default: '{}' } }, strict: true });
  const core = await import(pathToFileURL(path.join(dist, 'core', 'index.js')).href);
  const { createBerthServer } = await import(pathToFileURL(path.join(dist, 'server', 'index.js')).href);
  const config = core.resolveConfig({ logLevel: 'warn', auth: { dev: true }, ...JSON.parse(values.layer) }, core.configFromEnv(process.env), {
    dataDir: values['data-dir'],
    server: { host: '127.0.0.1', port: 0 },
  });
  const server = await createBerthServer({ config, logger: core.createLogger(config.logLevel), example: false });
  const url = await server.listen();
  process.stdout.write(`BERTH_READY ${JSON.stringify({ url })}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await runAsScript(import.meta.url, 'distributed', distributed, serveChild);

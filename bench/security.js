#!/usr/bin/env node
// `npm run bench -- security`: what authentication and rate limiting cost the predict path (see
// bench/README.md, "Security"). Plain Node ESM driving the compiled server in dist/ (rebuilt first when
// src/ is newer).
//
//   npm run bench -- security [--levels 32] [--repeat 3] [--duration 10] [--warmup 3] [--no-redis]
//                             [--no-build] [--json out.json]
//
// One server process per configuration (`node bench/security.js serve-child --config NAME`:
// createBerthServer + listen from dist/, product defaults with BERTH_* applied, a fresh temp data dir):
//   off      = { auth: { dev: true } }: no authentication (the guard still sends its security headers);
//   on       = an admin token (createBerthServer's adminToken option), { auth: { dev: false }, rateLimits:
//              { perToken: {rate: 1e9, burst: 1e9}, perDeployment: {rate: 1e9, burst: 1e9} } }: every request
//              presents an API token minted in the child (role predictor) and takes from both buckets,
//              which never run dry;
//   on+redis = on, with the buckets shared through Redis (redis.url = BERTH_BENCH_REDIS_URL, default
//              redis://127.0.0.1:6379), when Redis answers PING; an extra row, not part of the target.
// Each server gets model `bc` = breast-cancer-gbt registered over HTTP (POST /v1/models/bc/versions, with the
// admin token when auth is on) and deployed as `bc` (PUT /v1/deployments/bc). wrk (pinned to a core like the
// other benches, with `-H "Authorization: Bearer berth_…"` for the auth-on servers) runs against the friendly
// route POST /v1/deployments/bc/predict ({"rows":[{feature: value}]}, the fixture's first golden row) and the
// v2 fast path POST /v2/models/bc/infer (the same row as FP32 [1, 30]), per route and level, the configurations
// back to back in alternating order round by round. Raw onnxruntime-node (bench/raw-ort.js) runs in the same
// run. Target (issue 5): predict at 32 connections, on ≥ 95 % of off (median of the per-round ratios).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanup, cpuPerRequest, dist, envMeta, FIXTURES, fmtInt, fmtMs, fmtX, groupCpuMs, http, LOG_DIR, loadOptions, median, rawOrt, range, roundRatios, root, runAsScript, runMeta, runStats, runWrk, serverLogLines, sleep, startServeChild, stopServeChild, sum, tempDir, WORK_DIR, wrkDescription } from './lib.js';
import { ensureBuild, ensureWrk, writeBody } from './monitor.js';

const FIXTURE = 'breast-cancer-gbt';
const NAME = 'bc'; // the model and the deployment
const REDIS_URL = process.env.BERTH_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TARGET_RATIO = 0.95;
const TARGET_CONC = 32;
const UNLIMITED = { rate: 1e9, burst: 1e9 };
/** each configuration's config layer (under BERTH_* and the bench's data dir and loopback) */
const CONFIGS = {
  off: { auth: { dev: true } },
  on: { auth: { dev: false }, rateLimits: { perToken: UNLIMITED, perDeployment: UNLIMITED } },
  'on+redis': { auth: { dev: false }, rateLimits: { perToken: UNLIMITED, perDeployment: UNLIMITED }, redis: { url: REDIS_URL } },
};
const authOn = (c) => CONFIGS[c].auth.dev === false;
const ROUTES = {
  predict: { path: `/v1/deployments/${NAME}/predict`, label: `POST /v1/deployments/${NAME}/predict` },
  infer: { path: `/v2/models/${NAME}/infer`, label: `POST /v2/models/${NAME}/infer (fast path)` },
};

const log = (msg) => process.stderr.write(`[bench security] ${msg}\n`);
const fmtPct = (n, d = 1) => (Number.isFinite(n) ? `${(100 * n).toFixed(d)} %` : 'n/a');
const fmtSigned = (n, d = 1) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(d)}` : 'n/a');

function usage() {
  return `usage: npm run bench -- security [options]

  --levels 1,32    wrk connections (default 32; the target is at 32)
  --repeat N       rounds over routes and levels (default 3); ratios are medians of the per-round ratios
  --duration S     seconds per wrk run (default 10)
  --warmup S       wrk warm-up per server and route at 8 connections (default 3, 0 = none)
  --no-redis       skip the on+redis server even when Redis answers
  --lease-size N   on+redis: rateLimits.leaseSize (requests leased per Redis round trip; default: the product's)
  --no-build       use dist/ as it is (default: npm run build when src/ is newer than dist/)
  --json FILE      also write every measurement as JSON

Environment: BERTH_FIXTURES, LOAD_CPU (core wrk is pinned to, default 1, 'none'), WRK_TIMEOUT (5s),
BERTH_DIST (another build of Berth), BERTH_BENCH_REDIS_URL (default redis://127.0.0.1:6379),
BERTH_* (Berth config, reaches every server).`;
}

// ---------------------------------------------------------------------------------------------
// processes

/** Start one configuration's serve-child on a fresh data dir; resolves once it printed its URL (and token). */
function startServer(config, adminToken, leaseSize) {
  const dataDir = tempDir(`berth-bench-security-${config.replace(/\W/g, '-')}-`);
  return startServeChild({
    script: fileURLToPath(import.meta.url),
    args: ['--config', config, '--data-dir', dataDir, ...(leaseSize !== undefined ? ['--lease-size', String(leaseSize)] : [])],
    // the admin secret reaches the child outside its argv (not in `ps`); the child passes it as the adminToken option
    env: { ...process.env, BERTH_BENCH_ADMIN_SECRET: adminToken },
    logFile: path.join(LOG_DIR, `security-${config.replace(/\W/g, '-')}.log`),
    label: `the ${config} server`,
    fields: { config, dataDir, token: null },
    onLine(line, srv) {
      if (!line.startsWith('BERTH_READY ')) return undefined;
      srv.token = srv.info.token;
      return `BERTH_READY ${JSON.stringify({ ...srv.info, token: srv.token ? `${srv.token.slice(0, 12)}…` : null })}`;
    },
  });
}

/** Whether Redis at `url` answers PING (a bare TCP exchange: the bench itself needs no Redis client). */
function redisAnswers(url, timeoutMs = 1500) {
  return new Promise((resolve) => {
    let u;
    try {
      u = new URL(url);
    } catch {
      return resolve({ ok: false, why: 'not a URL' });
    }
    if (u.protocol !== 'redis:') return resolve({ ok: false, why: `${u.protocol} not probed (only redis://)` });
    const sock = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port) || 6379 });
    let got = '';
    const done = (r) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done({ ok: false, why: 'no answer' }));
    sock.on('error', (e) => done({ ok: false, why: e.code ?? e.message }));
    sock.on('connect', () => {
      const cmds = [];
      if (u.password) cmds.push(u.username ? ['AUTH', decodeURIComponent(u.username), decodeURIComponent(u.password)] : ['AUTH', decodeURIComponent(u.password)]);
      cmds.push(['PING']);
      sock.write(cmds.map((c) => `*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join(''));
    });
    sock.on('data', (d) => {
      got += d;
      if (got.includes('+PONG')) done({ ok: true });
      else if (got.startsWith('-')) done({ ok: false, why: got.split('\r\n')[0] });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP and wrk

const authHeader = (token) => (token ? { authorization: `Bearer ${token}` } : {});

/** the friendly 1-row body: the fixture's first golden row under the card's feature names */
function writePredictBody() {
  const dir = path.join(FIXTURES, FIXTURE);
  const golden = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8'));
  const card = JSON.parse(readFileSync(path.join(dir, 'card.json'), 'utf8'));
  const input = card.inputs[0];
  const names = input.feature_names ?? card.feature_names;
  const g = golden.cases[0].inputs[input.name] ?? Object.values(golden.cases[0].inputs)[0];
  const d = g.shape[g.shape.length - 1];
  if (names.length !== d) throw new Error(`${FIXTURE}: ${names.length} feature names for ${d} values per row`);
  const values = Array.from(Float32Array.from(g.data.flat(Infinity).slice(0, d)), (v) => Number(v));
  const row = Object.fromEntries(names.map((n, i) => [n, values[i]]));
  mkdirSync(path.join(WORK_DIR, 'bodies'), { recursive: true });
  const file = path.join(WORK_DIR, 'bodies', `${FIXTURE}-predict.json`);
  writeFileSync(file, JSON.stringify({ rows: [row] }));
  return file;
}

async function measure(srv, route, bodyFile, conns, secs) {
  const cpu0 = groupCpuMs(srv.child.pid);
  const r = await runWrk(`${srv.url}${ROUTES[route].path}`, bodyFile, conns, secs, { headers: authHeader(srv.token) });
  const cpu1 = groupCpuMs(srv.child.pid);
  return { config: srv.config, route, conc: conns, ...r, ...cpuPerRequest(cpu1 - cpu0, r) };
}

/** Fail loudly: a refused or failed request means the configuration is not what the bench claims to measure. */
async function assertClean(srv, route, bodyFile, r) {
  const bad = r.failed || r.non2xx > 0 || r.non2xxLine > 0 || r.sockerr + r.timeouts > 0;
  if (!bad) return;
  let sample = '';
  try {
    const s = await http('POST', `${srv.url}${ROUTES[route].path}`, readFileSync(bodyFile), { headers: authHeader(srv.token) });
    sample = `; a request now answers HTTP ${s.status}: ${s.text.slice(0, 300)}`;
  } catch (err) {
    sample = `; a request now fails: ${err.message}`;
  }
  throw new Error(
    `${srv.config} ${route} at ${r.conc} connections: ` +
      (r.failed ? `wrk failed: ${r.output}` : `${r.non2xx} non-2xx answers (wrk's Non-2xx line: ${r.non2xxLine}), ${r.sockerr} socket errors, ${r.timeouts} timeouts of ${r.requests} requests`) +
      `${sample}. See ${srv.logFile}.`,
  );
}

// ---------------------------------------------------------------------------------------------
// setup of one server: register, deploy, check

async function setup(srv, adminToken, bodies) {
  const admin = authOn(srv.config) ? authHeader(adminToken) : { 'x-berth-actor': 'bench' };
  const must = async (method, p, body) => {
    const r = await http(method, `${srv.url}${p}`, body, { headers: admin });
    if (!r.ok) throw new Error(`${srv.config}: ${method} ${p} → HTTP ${r.status}: ${r.text.slice(0, 400)}`);
    return r.json;
  };
  const bytes = readFileSync(path.join(FIXTURES, FIXTURE, 'model.onnx'));
  const reg = await must('POST', `/v1/models/${NAME}/versions`, {
    model_base64: bytes.toString('base64'),
    file_name: 'model.onnx',
    card_text: readFileSync(path.join(FIXTURES, FIXTURE, 'card.json'), 'utf8'),
    card_file_name: 'card.json',
    description: `${FIXTURE} (bench security)`,
  });
  const version = reg?.version?.version ?? reg?.version ?? reg?.record?.version;
  if (version !== 1) throw new Error(`${srv.config}: registering ${FIXTURE}: expected version 1, got ${JSON.stringify(reg).slice(0, 300)}`);
  await must('PUT', `/v1/deployments/${NAME}`, { model: NAME, version: 1 });
  const checks = {};
  for (const route of Object.keys(ROUTES)) {
    const body = readFileSync(bodies[route]);
    const t0 = Date.now();
    let r;
    for (;;) {
      r = await http('POST', `${srv.url}${ROUTES[route].path}`, body, { headers: authHeader(srv.token) });
      if (r.ok || Date.now() - t0 > 30_000) break;
      await sleep(250);
    }
    if (!r.ok) throw new Error(`${srv.config}: ${route} answered HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    const c = { ok: r.status, securityHeaders: ['x-content-type-options', 'x-frame-options', 'content-security-policy'].every((h) => r.headers.has(h)) };
    if (route === 'predict') c.answer = r.text.slice(0, 200);
    if (authOn(srv.config)) {
      c.noToken = (await http('POST', `${srv.url}${ROUTES[route].path}`, body)).status;
      c.wrongToken = (await http('POST', `${srv.url}${ROUTES[route].path}`, body, { headers: authHeader(`berth_${randomBytes(12).toString('hex')}_${randomBytes(24).toString('base64url')}`) })).status;
      if (c.noToken !== 401 || c.wrongToken !== 401) throw new Error(`${srv.config}: ${route} without a token answered ${c.noToken}, with a made-up one ${c.wrongToken}; expected 401 for both (is auth really on?)`);
    }
    if (!c.securityHeaders) throw new Error(`${srv.config}: ${route}'s answer lacks the security headers`);
    checks[route] = c;
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// report

function summarize(runs, levels, configs) {
  const rows = [];
  for (const route of Object.keys(ROUTES)) {
    for (const c of levels) {
      for (const config of configs) {
        const ok = runs.filter((r) => r.route === route && r.conc === c && r.config === config && !r.failed);
        rows.push({ route, conc: c, config, ...runStats(ok), requests: sum(ok.map((r) => r.requests)) });
      }
    }
  }
  return rows;
}

/** each auth-on configuration ÷ off, per round, route and level */
function ratios(runs, levels, repeat, configs) {
  const out = [];
  for (const route of Object.keys(ROUTES)) {
    for (const c of levels) {
      const at = runs.filter((r) => r.route === route && r.conc === c);
      const offRps = at.filter((r) => r.config === 'off' && !r.failed).map((r) => r.ok_rps);
      const [lo, hi] = range(offRps);
      for (const config of configs.filter((x) => x !== 'off')) out.push({ route, conc: c, config, ...roundRatios(at, 'config', 'off', config, repeat), offSpread: (hi - lo) / median(offRps) });
    }
  }
  return out;
}

function targets(res, levels) {
  const t = [];
  const rawB1 = res.raw?.throughput.find((x) => x.batch === 1)?.rows_per_s;
  const q = res.ratios.find((x) => x.route === 'predict' && x.conc === TARGET_CONC && x.config === 'on');
  const name = `predict c${TARGET_CONC}: on ≥ ${TARGET_RATIO * 100} % of off`;
  if (!levels.includes(TARGET_CONC)) t.push({ status: 'N/A', name, detail: `not measured (--levels ${levels.join(',')} leaves out ${TARGET_CONC})` });
  else if (!q || !Number.isFinite(q.ratio)) t.push({ status: 'N/A', name, detail: 'not measured (a wrk run failed)' });
  else {
    const on = res.summary.find((r) => r.route === 'predict' && r.conc === TARGET_CONC && r.config === 'on');
    const off = res.summary.find((r) => r.route === 'predict' && r.conc === TARGET_CONC && r.config === 'off');
    t.push({
      status: q.ratio >= TARGET_RATIO ? 'PASS' : 'MISS',
      name,
      detail:
        `median of the per-round ratios ${fmtPct(q.ratio)} (${q.per.map((p) => fmtPct(p.ratio)).join(', ')}); medians ${fmtInt(on.ok_rps)} vs ${fmtInt(off.ok_rps)} req/s; ` +
        `server CPU ${fmtInt(on.cpu_us_per_req)} vs ${fmtInt(off.cpu_us_per_req)} µs per request; off's own spread over the rounds ${fmtPct(q.offSpread)}` +
        (rawB1 ? `; ÷ raw batch-1 rows/s (${fmtInt(rawB1)}): on ${fmtX(on.ok_rps / rawB1)}, off ${fmtX(off.ok_rps / rawB1)}` : ''),
    });
  }
  for (const x of res.ratios.filter((r) => !(r.route === 'predict' && r.conc === TARGET_CONC && r.config === 'on'))) {
    t.push({ status: 'info', name: `${x.route} c${x.conc}: ${x.config} ÷ off`, detail: `${fmtPct(x.ratio)} (${x.per.map((p) => fmtPct(p.ratio)).join(', ')}); server CPU ${fmtSigned(x.cpuDiff)} µs per request (median of rounds)` });
  }
  const non2xx = sum(res.summary.map((r) => r.non2xx));
  t.push({ status: non2xx === 0 ? 'PASS' : 'MISS', name: 'no request refused or failed under load (rate limits never bite)', detail: `${fmtInt(non2xx)} non-2xx of ${fmtInt(sum(res.summary.map((r) => r.requests)))} requests` });
  return t;
}

function render(res, meta) {
  const L = [];
  const raw = res.raw;
  const rawB1 = raw?.throughput.find((t) => t.batch === 1)?.rows_per_s;
  const configs = meta.configs;
  L.push('# Berth security benchmark: what authentication and rate limits cost the predict path', '');
  L.push(`\`${meta.command}\` — ${meta.date}, git ${meta.git}, Node ${meta.node}, ${meta.cpus}.`, '');
  if (meta.berthDist) L.push(`**Berth measured from ${meta.berthDist} (BERTH_DIST), not from dist/.**`, '');
  const what = {
    off: '`{"auth":{"dev":true}}` — no authentication; the security headers are still sent',
    on: `adminToken option + \`${JSON.stringify(CONFIGS.on)}\` — every request presents an API token (role predictor, minted in the child) and takes from its token bucket and the deployment's, in process; no bucket runs dry`,
    'on+redis': `as on, plus \`{"redis":{"url":"${REDIS_URL.replace(/\/\/[^@/]*@/, '//[redacted]@')}"}}\` — the buckets shared through Redis, leased ${res.servers?.['on+redis']?.leaseSize ?? '?'} requests at a time (extra row, not part of the target)`,
  };
  L.push(
    `One server process per configuration (\`node bench/security.js serve-child\`: \`createBerthServer\` + \`listen\` from dist/, product defaults with BERTH_* applied, a fresh data dir each, batching ${JSON.stringify(res.servers?.off?.batching ?? {})}, extraction detection ${JSON.stringify(res.servers?.off?.extraction ?? {})} in all), model \`${NAME}\` = ${FIXTURE} registered over HTTP and deployed as \`${NAME}\`:`,
    ...configs.map((c) => `- \`${c}\`: ${what[c]};`),
    '',
  );
  if (meta.redisSkipped) L.push(`on+redis not measured: ${meta.redisSkipped}.`, '');
  const chk = res.checks?.on?.predict;
  if (chk) L.push(`Checked before loading: with auth on, no token → HTTP ${chk.noToken}, a made-up \`berth_…\` token → ${chk.wrongToken}, the predictor token → ${chk.ok}, on both routes; every configuration sends the security headers. The predict answer: \`${res.checks.on.predict.answer}\`.`, '');
  L.push(
    `Load: ${meta.wrk}; ${meta.warmup}s warm-up per server and route at 8 connections, then ${meta.repeat} round(s); in each round, per route and level, the configurations run back to back, ` +
      `in the order ${configs.join(', ')} in odd rounds and reversed in even rounds (so slow drift of the machine favours none); ${meta.duration}s per run. ` +
      `Bodies: predict \`{"rows":[{…30 named features…}]}\`, infer a v2 FP32 [1, 30] tensor, both the fixture's first golden row. The auth-on servers get \`Authorization: Bearer berth_…\` on every request (wrk -H).`,
    '',
  );
  if (raw) {
    L.push(`Raw onnxruntime-node ${raw.onnxruntime}, ${FIXTURE} in a child process (bench/raw-ort.js, Berth's session options): batch-1 p50 ${raw.latency.p50_ms.toFixed(4)} ms; **rows/s at batch 1: ${fmtInt(rawB1)}**, at batch 64: ${fmtInt(raw.throughput.find((t) => t.batch === 64)?.rows_per_s)}.`, '');
  } else L.push(`Raw onnxruntime-node: ${res.rawError ?? 'not measured'}.`, '');

  L.push('## Auth on vs off', '');
  L.push('| route | conc | off req/s | on req/s | **on ÷ off** (per round) | off p50 / p99 ms | on p50 / p99 ms | off ÷ raw b1 | on ÷ raw b1 | server CPU µs/req off / on |');
  L.push('| --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: | --- |');
  const S = (route, conc, config) => res.summary.find((r) => r.route === route && r.conc === conc && r.config === config);
  for (const q of res.ratios.filter((x) => x.config === 'on')) {
    const off = S(q.route, q.conc, 'off');
    const on = S(q.route, q.conc, 'on');
    L.push(
      `| ${q.route} | ${q.conc} | ${fmtInt(off.ok_rps)} | ${fmtInt(on.ok_rps)} | **${fmtPct(q.ratio)}** (${q.per.map((p) => fmtPct(p.ratio)).join(', ')}) | ${fmtMs(off.p50)} / ${fmtMs(off.p99)} | ${fmtMs(on.p50)} / ${fmtMs(on.p99)} | ${fmtX(off.ok_rps / rawB1)} | ${fmtX(on.ok_rps / rawB1)} | ${fmtInt(off.cpu_us_per_req)} / ${fmtInt(on.cpu_us_per_req)} |`,
    );
  }
  L.push('');
  L.push('Every configuration (medians over the rounds, min–max in brackets):', '');
  L.push('| route | conc | config | req/s (2xx) | ÷ off (median of rounds) | ÷ raw b1 rows/s | p50 ms | p99 ms | non-2xx | server CPU µs/req | server cores |');
  L.push('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of res.summary) {
    if (r.runs === 0) {
      L.push(`| ${r.route} | ${r.conc} | ${r.config} | FAILED | | | | | | | |`);
      continue;
    }
    const q = res.ratios.find((x) => x.route === r.route && x.conc === r.conc && x.config === r.config);
    const rng = r.runs > 1 ? ` (${fmtInt(r.ok_rps_range[0])}–${fmtInt(r.ok_rps_range[1])})` : '';
    const prng = r.runs > 1 ? ` (${fmtMs(r.p99_range[0])}–${fmtMs(r.p99_range[1])})` : '';
    L.push(
      `| ${r.route} | ${r.conc} | ${r.config} | ${fmtInt(r.ok_rps)}${rng} | ${q ? fmtPct(q.ratio) : '—'} | ${fmtX(r.ok_rps / rawB1)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)}${prng} | ${r.non2xx}${r.non2xx ? ' ⚠' : ''} | ${fmtInt(r.cpu_us_per_req)} | ${Number.isFinite(r.cpu_cores) ? r.cpu_cores.toFixed(2) : 'n/a'} |`,
    );
  }
  L.push('');
  const spreads = res.ratios.filter((x) => x.config === 'on').map((x) => `${x.route} c${x.conc} ${fmtPct(x.offSpread)}`);
  L.push(
    `Machine noise: this is a shared, noisy machine; absolute req/s drift from run to run, so only same-run ratios count. off's own req/s spread over the rounds ((max − min) ÷ median): ${spreads.join(', ')}. ` +
      'A ratio closer to 100 % than that spread is within noise; the per-round ratios show how far one round can stray.',
    '',
  );
  const logs = Object.entries(res.serverLogs ?? {}).filter(([, l]) => l.length);
  for (const [c, l] of logs) L.push(`Server log of \`${c}\` (warn and above): ${l.length} line(s), e.g. \`${l[0].slice(0, 200)}\``);
  if (logs.length) L.push('');
  L.push('## Targets', '');
  for (const t of res.targets) L.push(`- **${t.status}** ${t.name}: ${t.detail}`);
  L.push('', `Total time ${((Date.now() - meta.t0) / 60000).toFixed(1)} min. Server logs: ${path.relative(root, LOG_DIR)}/security-*.log.`, '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------

export async function security(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      levels: { type: 'string', default: String(TARGET_CONC) },
      repeat: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      'no-redis': { type: 'boolean', default: false },
      'lease-size': { type: 'string' },
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
  if (!existsSync(path.join(FIXTURES, FIXTURE, 'model.onnx'))) throw new Error(`no fixture model ${FIXTURE} under ${FIXTURES}`);

  const leaseSize = values['lease-size'] === undefined ? undefined : Number(values['lease-size']);
  if (leaseSize !== undefined && !(Number.isInteger(leaseSize) && leaseSize >= 1)) throw new Error(`--lease-size: expected a positive integer, got ${values['lease-size']}`);
  const configs = ['off', 'on'];
  let redisSkipped = null;
  if (values['no-redis']) redisSkipped = '--no-redis';
  else {
    const r = await redisAnswers(REDIS_URL);
    if (r.ok) configs.push('on+redis');
    else redisSkipped = `Redis at ${REDIS_URL.replace(/\/\/[^@/]*@/, '//[redacted]@')} did not answer PING (${r.why})`;
  }
  const meta = {
    ...runMeta('security', argv),
    levels,
    repeat,
    duration,
    warmup,
    configs,
    redisSkipped,
    ...(leaseSize !== undefined ? { leaseSize } : {}),
    ...envMeta(),
  };
  process.once('exit', cleanup);

  // 1. setup
  ensureBuild(values['no-build']);
  ensureWrk();
  meta.wrk = wrkDescription();
  const bodies = { predict: writePredictBody(), infer: writeBody(FIXTURE) };
  const routes = Object.keys(ROUTES);
  const est = routes.length * levels.length * repeat * configs.length * (duration + 1) + routes.length * configs.length * warmup + 20;
  log(`measuring ${configs.join(', ')} on ${routes.join(', ')} at ${levels.join(', ')} connections, ${repeat} round(s) of ${duration}s runs — about ${Math.ceil(est / 60)} min`);
  if (redisSkipped) log(`on+redis skipped: ${redisSkipped}`);

  // 2. raw onnxruntime-node, alone
  const res = { runs: [], servers: {}, checks: {}, serverLogs: {}, ...rawOrt(FIXTURE, log) };

  // 3. the servers
  const adminToken = `bench-admin-${randomBytes(24).toString('base64url')}`;
  const servers = {};
  try {
    for (const c of configs) {
      log(`starting Berth ${c} (bench/security.js serve-child)`);
      servers[c] = await startServer(c, adminToken, c === 'on+redis' ? leaseSize : undefined);
      res.servers[c] = { ...servers[c].info, token: servers[c].token ? 'berth_… (predictor)' : null };
      res.checks[c] = await setup(servers[c], adminToken, bodies);
      log(`  ${c}: ${servers[c].url}, ${authOn(c) ? `token ${servers[c].token.slice(0, 12)}…; no token → ${res.checks[c].predict.noToken}` : 'no auth'}; both routes answer 200`);
    }

    // 4. load
    if (warmup > 0) {
      for (const c of configs) {
        for (const route of routes) {
          log(`warm-up ${c} ${route} (${warmup}s at 8 connections)`);
          const w = await runWrk(`${servers[c].url}${ROUTES[route].path}`, bodies[route], 8, warmup, { headers: authHeader(servers[c].token) });
          await assertClean(servers[c], route, bodies[route], { ...w, conc: 8 });
        }
      }
    }
    for (let round = 1; round <= repeat; round++) {
      for (const route of routes) {
        for (const conc of levels) {
          const order = round % 2 === 1 ? configs : [...configs].reverse();
          for (const [i, c] of order.entries()) {
            const r = await measure(servers[c], route, bodies[route], conc, duration);
            r.round = round;
            r.order = i;
            res.runs.push(r);
            log(`round ${round}/${repeat} ${route} conc ${conc} ${c}: ${r.failed ? `FAILED ${r.output}` : `${fmtInt(r.ok_rps)} req/s, p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, ${fmtInt(r.cpu_us_per_req)} µs CPU/req, non-2xx ${r.non2xx}, sock ${r.sockerr + r.timeouts}`}`);
            await assertClean(servers[c], route, bodies[route], r);
          }
        }
      }
    }
  } finally {
    for (const srv of Object.values(servers)) await stopServeChild(srv);
    for (const [c, srv] of Object.entries(servers)) res.serverLogs[c] = serverLogLines(srv);
  }
  cleanup();

  // 5. report
  res.summary = summarize(res.runs, levels, configs);
  res.ratios = ratios(res.runs, levels, repeat, configs);
  res.targets = targets(res, levels);
  process.stdout.write(render(res, meta));
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ meta, ...res }, null, 1));
    log(`wrote ${values.json}`);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

/**
 * The server: `berth serve`'s createBerthServer + listen on a fresh data dir, product defaults with
 * BERTH_* applied and the configuration's layer under them. With auth on it is given the admin secret
 * (adminToken option) and mints one API token (role predictor, no expiry), which it prints with its URL.
 */
async function serveChild(argv) {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, config: { type: 'string' }, 'lease-size': { type: 'string' } }, strict: true });
  const layer = CONFIGS[values.config];
  if (!layer) throw new Error(`--config: expected one of ${Object.keys(CONFIGS).join(', ')}, got ${values.config}`);
  const core = await import(pathToFileURL(path.join(dist, 'core', 'index.js')).href);
  const { createBerthServer } = await import(pathToFileURL(path.join(dist, 'server', 'index.js')).href);
  const config = core.resolveConfig({ logLevel: 'warn', ...layer }, core.configFromEnv(process.env), {
    dataDir: values['data-dir'],
    server: { host: '127.0.0.1', port: 0 },
    ...(values['lease-size'] !== undefined ? { rateLimits: { ...layer.rateLimits, leaseSize: Number(values['lease-size']) } } : {}),
  });
  const on = config.auth.dev === false;
  const server = await createBerthServer({
    config,
    logger: core.createLogger(config.logLevel),
    example: false,
    ...(on ? { adminToken: process.env.BERTH_BENCH_ADMIN_SECRET } : {}),
  });
  let token = null;
  if (on) token = (await server.tokens.create({ name: 'bench', roles: ['predictor'], expiresAt: null })).token;
  await server.service.refresh();
  const url = await server.listen();
  const info = {
    url,
    token,
    auth: { dev: config.auth.dev },
    rateLimits: config.rateLimits,
    leaseSize: config.rateLimits.leaseSize,
    redis: config.redis.url ? config.redis.url.replace(/\/\/[^@/]*@/, '//[redacted]@') : null,
    batching: config.batching,
    extraction: config.extraction,
  };
  process.stdout.write(`BERTH_READY ${JSON.stringify(info)}\n`);
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

await runAsScript(import.meta.url, 'security', security, serveChild);

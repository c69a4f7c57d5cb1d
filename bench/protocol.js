#!/usr/bin/env node
// `npm run bench -- protocol`: rows/s of one model over each wire protocol, against each other and against
// raw onnxruntime-node at the batch size the server ran (see bench/README.md, "Protocol"). Plain Node ESM
// driving the compiled server in dist/ (rebuilt first when src/ is newer).
//
//   npm run bench -- protocol [--levels 1,64] [--repeat 3] [--duration 10] [--warmup 3] [--rows 64]
//                             [--channels 1] [--protocols rest-json,grpc] [--cpu-prof] [--no-build] [--json out.json]
//
// One server process (`node bench/protocol.js serve-child`: createBerthServer + listen from dist/,
// {auth: {dev: true}}, product defaults with BERTH_* applied, server.grpcPort 0, a fresh data dir) serving
// wide-mlp (registered over HTTP, deployed under its own name). Every protocol sends the same R rows
// (--rows, the fixture's golden rows) per request, closed loop, from the core wrk is pinned to:
//   rest-json   wrk, POST /v2/models/wide-mlp/infer with a v2 JSON body (the fast path);
//   grpc        h2load (nghttp2's HTTP/2 load generator, C like wrk), ModelInfer as one prebuilt gRPC frame
//               with the rows in raw_input_contents (one little-endian FP32 buffer);
//   grpc-js     bench/grpc-load.js, the same message from the Node gRPC client (@grpc/grpc-js): not in the
//               default set, because on this machine the client needs more CPU per call than the server;
//   rest-binary (the v2 binary tensor extension): not built yet, reported as not measured.
// Before loading, bench/grpc-load.js checks that gRPC answers the rows as REST-JSON does. Per round, level
// and protocol: rows/s, p50/p99, the server's CPU per request (/proc) and the rows per runtime call it ran
// (berth_batch_size in /metrics). Raw onnxruntime-node (bench/raw-ort.js) runs alone before the server
// starts (batch 1 and 64) and after it stopped (at the mean batch sizes the server ran).
// Targets (the issue's): at 64 connections gRPC and REST-binary ≥ 1.5× REST-JSON's rows/s, and gRPC ≥ 80 %
// of raw's rows/s at the batch size the server ran.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { compareOutputs, modelInferMethod } from './grpc-load.js';
import { cleanup, cpuPerRequest, dist, envMeta, FIXTURES, fmtInt, fmtMs, fmtX, groupCpuMs, have, http, LOAD_CPU, LOG_DIR, loadOptions, median, rawOrt, roundRatios, root, run, runAsScript, runMeta, runStats, runWrk, serverLogLines, sleep, startServeChild, stopServeChild, sum, tempDir, WORK_DIR, WRK_TIMEOUT, wrkDescription, wrkPinned } from './lib.js';
import { ensureBuild, ensureWrk } from './monitor.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = 'wide-mlp';
const NAME = FIXTURE; // the model and the deployment
const BASE = 'rest-json';
const TARGET_CONC = 64;
const TARGET_VS_BASE = 1.5;
const TARGET_VS_RAW = 0.8;
const LOAD_BUSY = 0.9; // load generator cores above which it, not the server, may be the limit
const OTHER_BUSY = 0.5; // cores busy outside server and load generator above which a run shared the machine
const PROF_DIR = path.join(LOG_DIR, 'protocol-prof');

/**
 * The protocols, in the order they run in odd rounds (reversed in even ones). Each has a `label` and
 * either `missing` (why it is not measured) or
 *   prepare(ctx): once, with the server up and REST-JSON's answer to the rows in `ctx.files.answer`: write
 *     what the load needs and check that the protocol answers the same (compareOutputs), throwing if not;
 *   load(ctx, conns, secs): one closed-loop run from the load core, resolving what runWrk does
 *     ({requests, ok_rps, non2xx, p50, p99, secs, …} or {failed, output}) plus `load_cpu` (its cores).
 * REST-binary is a prepare that writes the body (a JSON header whose input declares
 * `parameters.binary_data_size`, then the bytes of `ctx.files.raw`) and checks its answer against
 * `ctx.files.answer` (compareOutputs from grpc-load.js), and a load of runWrk with
 * `{ headers: { 'Inference-Header-Content-Length': headerBytes }, wrkCpu: true }` (wrk-post.lua as it is).
 */
const PROTOCOLS = {
  'rest-json': {
    label: 'REST-JSON',
    wire: `wrk, POST /v2/models/${NAME}/infer, a v2 JSON body (FP32 [R, 256], full-precision numbers; the fast path)`,
    prepare: () => undefined, // it answered the reference
    load: (ctx, conns, secs) => runWrk(`${ctx.url}/v2/models/${NAME}/infer`, ctx.files.json, conns, secs, { wrkCpu: true }).then((r) => ({ ...r, load_cpu: r.wrk_cpu })),
  },
  grpc: {
    label: 'gRPC',
    wire:
      'h2load (nghttp2, C, one thread, like wrk), ModelInfer as one prebuilt gRPC frame (raw_input_contents: one little-endian FP32 buffer), `conns` streams in flight over --channels connection(s); ' +
      'h2load sees HTTP statuses only, so gRPC errors are read from /metrics. Checked first with bench/grpc-load.js',
    prepare: checkGrpc,
    load: h2loadGrpc,
    errorsFromMetrics: true,
  },
  'grpc-js': {
    label: 'gRPC, grpc-js client',
    optional: true, // only when --protocols names it
    wire: 'bench/grpc-load.js (@grpc/grpc-js, the Node client), the same message serialized once, answers counted not decoded; a Node client costs more CPU per call than the server (watch its load cores)',
    prepare: checkGrpc,
    load: grpcLoad,
  },
  'rest-binary': {
    label: 'REST-binary',
    wire: `wrk, POST /v2/models/${NAME}/infer, the binary tensor extension (a JSON header declaring binary_data_size, then the rows as little-endian FP32; Inference-Header-Content-Length), JSON answers`,
    prepare: checkRestBinary,
    load: (ctx, conns, secs) =>
      runWrk(`${ctx.url}/v2/models/${NAME}/infer`, ctx.files.binary, conns, secs, { headers: { 'Inference-Header-Content-Length': String(ctx.binaryHeaderBytes) }, wrkCpu: true }).then((r) => ({ ...r, load_cpu: r.wrk_cpu })),
  },
};

const log = (msg) => process.stderr.write(`[bench protocol] ${msg}\n`);
const fmtPct = (n, d = 1) => (Number.isFinite(n) ? `${(100 * n).toFixed(d)} %` : 'n/a');
const fmtCores = (n) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

function usage() {
  return `usage: npm run bench -- protocol [options]

  --levels 1,64        connections / calls in flight (default 1,64; the targets are at 64)
  --repeat N           rounds over levels and protocols (default 3); ratios are medians of the per-round ratios
  --duration S         seconds per run (default 10)
  --warmup S           warm-up per protocol at 8 connections (default 3, 0 = none)
  --rows R             rows per request (default 64: the issue compares with raw onnxruntime "at the same batch size", so a request carries one batch; --rows 1 measures per-request overhead, with the server's dynamic batching packing concurrent requests
                       up to batching.maxBatchSize rows per runtime call)
  --channels K         gRPC connections the calls spread over (default 1; wrk always opens one per call in flight)
  --protocols a,b      which of ${Object.keys(PROTOCOLS).filter((p) => !PROTOCOLS[p].missing).join(', ')} (default: ${Object.keys(PROTOCOLS).filter((p) => !PROTOCOLS[p].missing && !PROTOCOLS[p].optional).join(', ')})
  --cpu-prof           sample the server's main thread over the measured runs (the inspector's profiler);
                       the report lists where its CPU went. Profiling slows it: use it to look, not to
                       measure, e.g. --protocols grpc --levels 64 --repeat 1
  --no-build           use dist/ as it is (default: npm run build when src/ is newer than dist/)
  --json FILE          also write every measurement as JSON

Environment: BERTH_FIXTURES, LOAD_CPU (core wrk, h2load and grpc-load are pinned to, default 1, 'none'),
WRK_TIMEOUT (5s; also grpc-load's per-call deadline), BERTH_DIST (another build of Berth), BERTH_* (Berth
config, reaches the server, e.g. BERTH_MAX_BATCH_SIZE).`;
}

// ---------------------------------------------------------------------------------------------
// the rows, the bodies, the reference answer

/** The fixture's golden input rows, cycled to `rows`: the input's name, its width and the values (float32). */
function goldenRows(rows) {
  const dir = path.join(FIXTURES, FIXTURE);
  const inputName = JSON.parse(readFileSync(path.join(dir, 'card.json'), 'utf8')).inputs[0].name;
  const g = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8')).cases[0].inputs[inputName];
  const width = g.shape[g.shape.length - 1];
  const pool = Float32Array.from(g.data.flat(Infinity));
  const values = new Float32Array(rows * width);
  for (let i = 0; i < values.length; i++) values[i] = pool[i % pool.length];
  return { inputName, width, values };
}

/** The same rows as a v2 JSON body and as one little-endian FP32 buffer (in bench/.work/bodies/). */
function writeBodies(rows) {
  const { inputName, width, values } = goldenRows(rows);
  const dir = path.join(WORK_DIR, 'bodies');
  mkdirSync(dir, { recursive: true });
  const stem = path.join(dir, `${FIXTURE}-r${rows}`);
  const files = { json: `${stem}-v2.json`, raw: `${stem}.f32`, answer: `${stem}-rest-answer.json` };
  writeFileSync(files.json, JSON.stringify({ inputs: [{ name: inputName, shape: [rows, width], datatype: 'FP32', data: Array.from(values) }] }));
  const raw = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => raw.writeFloatLE(v, 4 * i));
  writeFileSync(files.raw, raw);
  return { inputName, width, values, files };
}

/** Register and deploy the fixture over HTTP, then REST-JSON's answer to the rows (the reference every protocol is checked against). */
async function deploy(ctx) {
  const dir = path.join(FIXTURES, FIXTURE);
  const must = async (method, p, body) => {
    const r = await http(method, `${ctx.url}${p}`, body, { headers: { 'x-berth-actor': 'bench' } });
    if (!r.ok) throw new Error(`${method} ${p} → HTTP ${r.status}: ${r.text.slice(0, 400)}`);
    return r;
  };
  await must('POST', `/v1/models/${NAME}/versions`, {
    model_base64: readFileSync(path.join(dir, 'model.onnx')).toString('base64'),
    file_name: 'model.onnx',
    card_text: readFileSync(path.join(dir, 'card.json'), 'utf8'),
    card_file_name: 'card.json',
    description: `${FIXTURE} (bench protocol)`,
  });
  await must('PUT', `/v1/deployments/${NAME}`, { model: NAME, version: 1 });
  const body = readFileSync(ctx.files.json);
  const t0 = Date.now();
  for (;;) {
    const r = await http('POST', `${ctx.url}/v2/models/${NAME}/infer`, body);
    if (r.ok) {
      writeFileSync(ctx.files.answer, r.text);
      return r.json;
    }
    if (Date.now() - t0 > 30_000) throw new Error(`POST /v2/models/${NAME}/infer answered HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// load, measurement

const timeoutMs = () => Number.parseFloat(WRK_TIMEOUT) * (WRK_TIMEOUT.endsWith('ms') ? 1 : 1000);

/**
 * One bench/grpc-load.js run (pinned like wrk): `conns` calls in flight for `secs` (0: only the checked
 * first call). Its first answer is compared with REST-JSON's; a difference throws.
 */
function grpcLoad(ctx, conns, secs) {
  let args = [
    path.join(here, 'grpc-load.js'),
    ...['--address', ctx.grpcAddress, '--model', NAME, '--input-name', ctx.inputName, '--shape', `${ctx.rows},${ctx.width}`, '--input', ctx.files.raw],
    ...['--concurrency', String(conns), '--duration', String(secs), '--channels', String(ctx.channels), '--timeout-ms', String(timeoutMs()), '--expect', ctx.files.answer],
  ];
  let cmd = process.execPath;
  if (wrkPinned()) {
    args = ['-c', LOAD_CPU, cmd, ...args];
    cmd = 'taskset';
  }
  return new Promise((resolve, reject) => {
    const child = spawn('timeout', [String(secs + 30), cmd, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code === 3) return reject(new Error(`${err.trim()} (bench/grpc-load.js; the REST answer is in ${ctx.files.answer})`));
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) return resolve({ failed: true, output: `grpc-load exited ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}` });
      const r = JSON.parse(line);
      resolve({ ...r, ok_rps: r.rps, non2xx: sum(Object.values(r.errors)), sockerr: 0, timeouts: 0 });
    });
  });
}

/** Write the binary-extension body of the rows and check that its answer is REST-JSON's. */
async function checkRestBinary(ctx) {
  const raw = readFileSync(ctx.files.raw);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: ctx.inputName, shape: [ctx.rows, ctx.width], datatype: 'FP32', parameters: { binary_data_size: raw.length } }] }), 'utf8');
  ctx.files.binary = ctx.files.raw.replace(/\.f32$/, '-binary.bin');
  ctx.binaryHeaderBytes = header.length;
  writeFileSync(ctx.files.binary, Buffer.concat([header, raw]));
  const r = await http('POST', `${ctx.url}/v2/models/${NAME}/infer`, readFileSync(ctx.files.binary), { headers: { 'Inference-Header-Content-Length': String(header.length), 'content-type': 'application/octet-stream' } });
  if (!r.ok) throw new Error(`REST-binary: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  const want = JSON.parse(readFileSync(ctx.files.answer, 'utf8')).outputs;
  const got = r.json.outputs.map((o) => ({ ...o, data: o.data.flat(Infinity) }));
  const c = compareOutputs(got, want);
  if (c.problems.length > 0) throw new Error(`REST-binary answers differently from REST-JSON: ${c.problems.join('; ')}`);
  return c;
}

/** Check once that gRPC answers the rows as REST-JSON did (bench/grpc-load.js, one call); the check's summary. */
async function checkGrpc(ctx) {
  ctx.grpcCheck ??= grpcLoad(ctx, 1, 0).then((r) => {
    if (r.failed) throw new Error(`gRPC at ${ctx.grpcAddress}: ${r.output}`);
    return r.check;
  });
  return ctx.grpcCheck;
}

/** Install h2load (Debian nghttp2-client) when missing and root; whether it is there. */
function ensureH2load() {
  if (!have('h2load') && process.getuid?.() === 0) run('apt-get', ['install', '-y', '-q', 'nghttp2-client'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return have('h2load');
}

/** The rows as one gRPC message frame (flag 0, big-endian length, a serialized ModelInferRequest), for h2load's body. */
function writeGrpcFrame(ctx) {
  const msg = modelInferMethod().requestSerialize({
    model_name: NAME,
    inputs: [{ name: ctx.inputName, datatype: 'FP32', shape: [String(ctx.rows), String(ctx.width)] }],
    raw_input_contents: [readFileSync(ctx.files.raw)],
  });
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  const file = ctx.files.raw.replace(/\.f32$/, '.grpc');
  writeFileSync(file, Buffer.concat([head, msg]));
  return file;
}

/**
 * One h2load run (pinned like wrk): `conns` ModelInfer streams in flight over ctx.channels connections
 * for `secs`. Rates from its summary, latencies from its per-request log, its CPU from bash's `times`.
 */
function h2loadGrpc(ctx, conns, secs) {
  if (!ensureH2load()) return Promise.resolve({ failed: true, output: 'h2load is not installed (apt-get install nghttp2-client); --protocols rest-json,grpc-js measures with the Node client instead' });
  ctx.files.grpc ??= writeGrpcFrame(ctx);
  const clients = Math.min(ctx.channels, conns);
  const logFile = path.join(WORK_DIR, 'h2load-requests.tsv');
  rmSync(logFile, { force: true }); // h2load appends
  const h2 = ['h2load', '-D', String(secs), '-c', String(clients), '-m', String(Math.ceil(conns / clients)), '-t', '1', '-d', ctx.files.grpc, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '--log-file', logFile];
  const cmd = ['timeout', String(secs + 30), ...(wrkPinned() ? ['taskset', '-c', LOAD_CPU] : []), ...h2, `http://${ctx.grpcAddress}${modelInferMethod().path}`];
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', '"$@"; code=$?; times; exit $code', 'bash', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('close', (code) => {
      const num = (re) => Number(re.exec(text)?.[1]);
      const done = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
      const took = num(/finished in ([\d.]+)s/);
      if (code !== 0 || !done || !(took > 0)) return resolve({ failed: true, output: `h2load exited ${code}: ${text.trim().split('\n').slice(-4).join(' | ')}` });
      const lat = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2]) / 1000).sort((a, b) => a - b);
      const at = (q) => lat[Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1)];
      // `times`' second line: the user and system time of the shell's children (timeout, h2load)
      const [u, sy] = [...(text.trim().split('\n').at(-1).matchAll(/(\d+)m([\d.]+)s/g) ?? [])].map((m) => 60 * Number(m[1]) + Number(m[2]));
      const [, , , , ok, failed, errored, timeouts] = done.map(Number);
      resolve({ requests: ok + failed + errored, ok_rps: ok / took, non2xx: failed + errored, sockerr: 0, timeouts, secs: took, p50: at(0.5), p99: at(0.99), load_cpu: (u + sy) / took });
    });
  });
}

/** Sums of the model's batch, runtime and queue histograms in /metrics, and its requests by code. */
async function scrapeMetrics(url) {
  const text = (await http('GET', `${url}/metrics`)).text;
  const m = { codes: {} };
  const series = /^(berth_batch_size|berth_inference_duration_seconds|berth_queue_duration_seconds|berth_requests_total)(_sum|_count)?\{([^}]*)\} (\S+)$/gm;
  for (const [, name, part = '', labels, value] of text.matchAll(series)) {
    if (!labels.includes(`model="${NAME}"`) && !labels.includes(`deployment="${NAME}"`)) continue;
    if (name === 'berth_requests_total') {
      const code = /code="([^"]*)"/.exec(labels)?.[1] ?? '?';
      m.codes[code] = (m.codes[code] ?? 0) + Number(value);
    } else m[name + part] = (m[name + part] ?? 0) + Number(value);
  }
  return m;
}

/** Rows per runtime call, runtime and queue time, and answers by code over one run (the difference of two scrapes). */
function metricsDelta(a, b) {
  const d = (k) => (b[k] ?? 0) - (a[k] ?? 0);
  const calls = d('berth_batch_size_count');
  const codes = Object.fromEntries(Object.keys(b.codes).map((c) => [c, b.codes[c] - (a.codes[c] ?? 0)]).filter(([, n]) => n > 0));
  return {
    calls,
    mean_batch: d('berth_batch_size_sum') / calls,
    infer_ms: (1000 * d('berth_inference_duration_seconds_sum')) / d('berth_inference_duration_seconds_count'),
    queue_ms: (1000 * d('berth_queue_duration_seconds_sum')) / d('berth_queue_duration_seconds_count'),
    codes,
  };
}

const TICK_MS = 1000 / (Number(run('getconf', ['CLK_TCK']).stdout.trim()) || 100);
/** Busy time of the whole machine (all cores), ms, from /proc/stat's first line. */
function machineBusyMs() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

/**
 * Wait until the server has nothing queued or running. A load generator that stops mid-run leaves
 * its requests in flight (h2load and wrk close their connections; the server still answers what it
 * took), and the next run must not start against that backlog: its first requests would find the
 * queue full of the last run's rows.
 */
async function drained(ctx) {
  for (let i = 0; i < 100; i++) {
    const s = JSON.parse((await http('GET', `${ctx.url}/v1/status`)).text);
    if (s.loaded.every((m) => m.queueDepth === 0 && m.inflight === 0)) return;
    await sleep(50);
  }
}

async function measure(ctx, protocol, conns, secs) {
  await drained(ctx);
  const m0 = await scrapeMetrics(ctx.url);
  const cpu0 = groupCpuMs(ctx.srv.child.pid);
  const busy0 = machineBusyMs();
  const r = await PROTOCOLS[protocol].load(ctx, conns, secs);
  const busy1 = machineBusyMs();
  const cpu1 = groupCpuMs(ctx.srv.child.pid);
  const m1 = await scrapeMetrics(ctx.url);
  const run1 = { protocol, conc: conns, ...r, ...cpuPerRequest(cpu1 - cpu0, r), ...metricsDelta(m0, m1) };
  // CANCELLED: requests the load generator abandoned in flight when its run ended (it resets its
  // streams); the server dropped them unrun. The client's doing, not a failure; listed with the codes
  if (PROTOCOLS[protocol].errorsFromMetrics) run1.non2xx = (r.non2xx ?? 0) + sum(Object.entries(run1.codes).filter(([c]) => c !== 'OK' && c !== 'CANCELLED').map(([, n]) => n));
  if (!r.failed) {
    run1.rows_per_s = r.ok_rps * ctx.rows;
    run1.other_cores = Math.max(0, (busy1 - busy0) / (r.secs * 1000) - run1.cpu_cores - (r.load_cpu ?? 0));
  }
  return run1;
}

// ---------------------------------------------------------------------------------------------
// raw onnxruntime at the server's batch sizes

/** Raw rows/s at each batch size in `batches` (bench/raw-ort.js, alone): Map batch → rows/s; empty when it failed. */
function rawAtBatches(batches) {
  if (batches.length === 0) return new Map();
  log(`raw onnxruntime-node at the batch sizes the server ran: ${batches.join(', ')}`);
  const r = run(process.execPath, [path.join(here, 'raw-ort.js'), path.join(FIXTURES, FIXTURE), '--batches', batches.join(','), '--latency-runs', '500', '--seconds', '1.5'], { cwd: root });
  if (!r.ok) {
    log(`raw-ort.js failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return new Map();
  }
  const out = new Map(JSON.parse(r.stdout.trim().split('\n').pop()).throughput.map((t) => [t.batch, t.rows_per_s]));
  log(`  ${[...out].map(([b, v]) => `b${b} ${fmtInt(v)}`).join(', ')} rows/s`);
  return out;
}

/** The batch size raw is compared at for a run: its mean rows per runtime call, rounded (at least 1). */
const rawBatchOf = (r) => (Number.isFinite(r.mean_batch) ? Math.max(1, Math.round(r.mean_batch)) : NaN);

// ---------------------------------------------------------------------------------------------
// the profile

/** Self time by function in the server's CPU profile(s): the top `n`, with their share of all samples. */
function profileTop(dir, n = 25) {
  const self = new Map();
  let total = 0;
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return null;
  }
  for (const f of files) {
    const p = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
    const byId = new Map(p.nodes.map((x) => [x.id, x]));
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0;
      const cf = byId.get(id).callFrame;
      const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(`${root}/`, '')}:${cf.lineNumber + 1}` : '';
      const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    });
  }
  if (total === 0) return null;
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, us]) => ({ fn, ms: us / 1000, share: us / total }));
  return { files: files.length, total_ms: total / 1000, top };
}

// ---------------------------------------------------------------------------------------------
// report

function summarize(runs, levels, protocols) {
  const rows = [];
  for (const c of levels) {
    for (const protocol of protocols) {
      const ok = runs.filter((r) => r.conc === c && r.protocol === protocol && !r.failed);
      rows.push({
        conc: c,
        protocol,
        ...runStats(ok),
        ...Object.fromEntries(['rows_per_s', 'mean_batch', 'infer_ms', 'queue_ms', 'load_cpu', 'other_cores'].map((k) => [k, median(ok.map((r) => r[k]))])),
        requests: sum(ok.map((r) => r.requests)),
        failed: runs.filter((r) => r.conc === c && r.protocol === protocol && r.failed).length,
      });
    }
  }
  return rows;
}

/** Per level and protocol: ÷ REST-JSON round by round, and ÷ raw at the run's own mean batch and at batch 64. */
function ratios(runs, levels, repeat, protocols, rawAt, rawB64) {
  const out = [];
  for (const c of levels) {
    const at = runs.filter((r) => r.conc === c);
    for (const protocol of protocols) {
      const mine = at.filter((r) => r.protocol === protocol && !r.failed);
      const vsRaw = mine.map((r) => ({ round: r.round, batch: rawBatchOf(r), ratio: r.rows_per_s / rawAt.get(rawBatchOf(r)) }));
      out.push({
        conc: c,
        protocol,
        ...(protocol === BASE ? {} : { vsBase: roundRatios(at, 'protocol', BASE, protocol, repeat) }),
        vsRaw: { per: vsRaw, ratio: median(vsRaw.map((x) => x.ratio)) },
        vsRawB64: median(mine.map((r) => r.rows_per_s / rawB64)),
      });
    }
  }
  return out;
}

function targets(res, meta) {
  const t = [];
  const atTarget = meta.levels.includes(TARGET_CONC);
  const S = (p) => res.summary.find((r) => r.conc === TARGET_CONC && r.protocol === p);
  const Q = (p) => res.ratios.find((r) => r.conc === TARGET_CONC && r.protocol === p);
  const na = (name, why) => t.push({ status: 'N/A', name, detail: `not measured (${why})` });
  for (const p of ['grpc', 'rest-binary']) {
    const name = `${PROTOCOLS[p].label} ÷ ${PROTOCOLS[BASE].label} ≥ ${TARGET_VS_BASE}× rows/s at ${TARGET_CONC} connections`;
    if (PROTOCOLS[p].missing) t.push({ status: 'NOT MEASURED', name, detail: `not measured (${PROTOCOLS[p].missing})` });
    else if (!atTarget) na(name, `--levels ${meta.levels.join(',')} leaves out ${TARGET_CONC}`);
    else if (!meta.protocols.includes(p) || !meta.protocols.includes(BASE)) na(name, `--protocols ${meta.protocols.join(',')}`);
    else {
      const q = Q(p).vsBase;
      const [a, b] = [S(p), S(BASE)];
      t.push({
        status: !Number.isFinite(q.ratio) ? 'N/A' : q.ratio >= TARGET_VS_BASE ? 'PASS' : 'MISS',
        name,
        detail: `median of the per-round ratios ${fmtX(q.ratio)} (${q.per.map((x) => fmtX(x.ratio)).join(', ')}); medians ${fmtInt(a.rows_per_s)} vs ${fmtInt(b.rows_per_s)} rows/s; server CPU ${fmtInt(a.cpu_us_per_req)} vs ${fmtInt(b.cpu_us_per_req)} µs per request; mean batch ${fmtMs(a.mean_batch)} vs ${fmtMs(b.mean_batch)} rows`,
      });
    }
  }
  const name = `gRPC ≥ ${TARGET_VS_RAW * 100} % of raw onnxruntime-node's rows/s at the batch size the server ran, ${TARGET_CONC} connections`;
  if (!atTarget) na(name, `--levels ${meta.levels.join(',')} leaves out ${TARGET_CONC}`);
  else if (!meta.protocols.includes('grpc')) na(name, `--protocols ${meta.protocols.join(',')}`);
  else {
    const q = Q('grpc');
    const a = S('grpc');
    t.push({
      status: !Number.isFinite(q.vsRaw.ratio) ? 'N/A' : q.vsRaw.ratio >= TARGET_VS_RAW ? 'PASS' : 'MISS',
      name,
      detail:
        `median of the per-round ratios ${fmtPct(q.vsRaw.ratio)} (${q.vsRaw.per.map((x) => `${fmtPct(x.ratio)} at b${x.batch}`).join(', ')}); gRPC ${fmtInt(a.rows_per_s)} rows/s, mean batch ${fmtMs(a.mean_batch)} rows` +
        `; ÷ raw batch 64 (${fmtInt(res.rawB64)} rows/s): ${fmtPct(q.vsRawB64)}`,
    });
  }
  const errs = sum(res.summary.map((r) => r.non2xx));
  t.push({ status: errs === 0 ? 'PASS' : 'MISS', name: 'no request failed under load', detail: `${fmtInt(errs)} failed of ${fmtInt(sum(res.summary.map((r) => r.requests)))}` });
  return t;
}

function render(res, meta) {
  const L = [];
  L.push(`# Berth protocol benchmark: ${FIXTURE} over ${meta.protocols.map((p) => PROTOCOLS[p].label).join(', ')}`, '');
  L.push(`\`${meta.command}\` — ${meta.date}, git ${meta.git}, Node ${meta.node}, ${meta.cpus}.`, '');
  if (meta.berthDist) L.push(`**Berth measured from ${meta.berthDist} (BERTH_DIST), not from dist/.**`, '');
  if (meta.cpuProf) L.push('**The server ran under `--cpu-prof`: its figures are slowed by the profiler; read the profile, not the rates.**', '');
  const s = res.server ?? {};
  L.push(
    `One server process (\`node bench/protocol.js serve-child\`: \`createBerthServer\` + \`listen\` from dist/, \`{"auth":{"dev":true}}\`, \`server.grpcPort\` 0, product defaults with BERTH_* applied, a fresh data dir): HTTP ${s.url}, gRPC ${s.grpcAddress}; ` +
      `batching ${JSON.stringify(s.batching ?? {})}, runtime ${JSON.stringify(s.runtime ?? {})}. ${FIXTURE} registered over HTTP and deployed as \`${NAME}\`.`,
    '',
  );
  L.push(`Every request carries ${meta.rows} row(s) of 256 FP32 (the fixture's golden rows) and asks for every output. Protocols:`);
  for (const p of Object.keys(PROTOCOLS)) L.push(`- **${PROTOCOLS[p].label}**: ${PROTOCOLS[p].missing ? `not measured (${PROTOCOLS[p].missing})` : meta.protocols.includes(p) ? PROTOCOLS[p].wire : 'not in --protocols'}`);
  L.push('');
  if (res.binaryCheck) L.push(`Checked before loading: REST-binary's answer to the rows matches REST-JSON's (max |Δ| ${res.binaryCheck.maxAbsDiff}, ${res.binaryCheck.exact ? 'bit for bit' : 'within the fixture tolerance'}).`, '');
  if (res.check) L.push(`Checked before loading (bench/grpc-load.js; again on the first call of every grpc-js run): gRPC's answer to the rows matches REST-JSON's — outputs ${res.check.outputs.map((o) => `${o.name} ${o.datatype} [${o.shape}]`).join(', ')}, max |Δ| ${res.check.maxAbsDiff}, ${res.check.exact ? 'bit for bit' : 'within the fixture tolerance'}.`, '');
  L.push(
    `Load: ${meta.wrk}; h2load and bench/grpc-load.js on the same core, ${meta.channels} HTTP/2 connection(s). ${meta.warmup}s warm-up per protocol at 8 connections, then ${meta.repeat} round(s); in each, per level, the protocols back to back, ` +
      `${meta.protocols.join(', ')} in odd rounds and reversed in even ones; ${meta.duration}s per run.`,
    '',
  );
  if (res.raw) {
    const rb = [...res.rawAt].sort((a, b) => a[0] - b[0]);
    L.push(
      `Raw onnxruntime-node ${res.raw.onnxruntime} (bench/raw-ort.js, Berth's session options, alone): batch-1 p50 ${res.raw.latency.p50_ms.toFixed(4)} ms; rows/s at batch 1 ${fmtInt(res.raw.throughput.find((t) => t.batch === 1)?.rows_per_s)}, **at batch 64 ${fmtInt(res.rawB64)}** (before the server started)` +
        (rb.length ? `; at the batch sizes the server ran (after it stopped): ${rb.map(([b, v]) => `b${b} ${fmtInt(v)}`).join(', ')}` : '') +
        '.',
      '',
    );
  } else L.push(`Raw onnxruntime-node: ${res.rawError ?? 'not measured'}.`, '');

  L.push('## Rows/s by protocol', '');
  L.push(`| conc | protocol | rows/s (min–max) | **÷ ${PROTOCOLS[BASE].label}** (per round) | ÷ raw at its batch | ÷ raw b64 | p50 / p99 ms | failed | mean batch rows | runtime ms per call | server CPU µs/req | cores server / load / other |`);
  L.push('| ---: | --- | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of res.summary) {
    if (r.runs === 0) {
      L.push(`| ${r.conc} | ${PROTOCOLS[r.protocol].label} | FAILED | | | | | | | | | |`);
      continue;
    }
    const q = res.ratios.find((x) => x.conc === r.conc && x.protocol === r.protocol);
    const rng = r.runs > 1 ? ` (${fmtInt(r.ok_rps_range[0] * meta.rows)}–${fmtInt(r.ok_rps_range[1] * meta.rows)})` : '';
    const vsBase = q.vsBase ? `**${fmtX(q.vsBase.ratio)}** (${q.vsBase.per.map((x) => fmtX(x.ratio)).join(', ')})` : '—';
    const flags = `${r.load_cpu > LOAD_BUSY ? ' ⚠load' : ''}${r.other_cores > OTHER_BUSY ? ' ⚠other' : ''}`;
    L.push(
      `| ${r.conc} | ${PROTOCOLS[r.protocol].label} | ${fmtInt(r.rows_per_s)}${rng} | ${vsBase} | ${fmtPct(q.vsRaw.ratio, 0)} | ${fmtPct(q.vsRawB64, 0)} | ${fmtMs(r.p50)} / ${fmtMs(r.p99)} | ${r.non2xx}${r.non2xx || r.failed ? ` ⚠${r.failed ? ` ${r.failed} run(s) failed` : ''}` : ''} | ` +
        `${fmtMs(r.mean_batch)} | ${fmtMs(r.infer_ms)} | ${fmtInt(r.cpu_us_per_req)} | ${fmtCores(r.cpu_cores)} / ${fmtCores(r.load_cpu)} / ${fmtCores(r.other_cores)}${flags} |`,
    );
  }
  L.push('');
  L.push(
    `Medians over the rounds. *÷ raw at its batch*: each run's rows/s over raw's at that run's mean rows per runtime call (rounded), median over the rounds. *runtime ms per call*: \`berth_inference_duration_seconds\` (batch handed to the runtime → result back on the event loop). ` +
      `*cores*: the server's process group, the load generator (wrk, h2load or grpc-load), and everything else the machine did (kernel network work, other people's processes); ⚠load marks a load generator above ${LOAD_BUSY} cores (it may be the limit), ⚠other more than ${OTHER_BUSY} cores of other work (someone shared the machine).`,
    '',
  );
  const other = res.runs.filter((r) => r.other_cores > OTHER_BUSY);
  if (other.length) L.push(`⚠ **Other load on the machine** during ${other.length} of ${res.runs.length} runs: ${other.map((r) => `r${r.round} c${r.conc} ${r.protocol} (${r.other_cores.toFixed(2)})`).join(', ')}.`, '');
  const codes = res.runs.filter((r) => Object.keys(r.codes ?? {}).some((c) => c !== 'OK'));
  if (codes.length) L.push(`Error codes in /metrics (CANCELLED: requests a load generator abandoned in flight when its run ended, dropped unrun; not failures): ${codes.map((r) => `r${r.round} c${r.conc} ${r.protocol} ${JSON.stringify(r.codes)}`).join('; ')}.`, '');
  if (res.serverLog?.length) L.push(`Server log (warn and above): ${res.serverLog.length} line(s), e.g. \`${res.serverLog[0].slice(0, 200)}\``, '');
  if (res.profile) {
    L.push(`## Where the server's CPU went (--cpu-prof, ${res.profile.files} profile(s), ${fmtInt(res.profile.total_ms)} ms sampled, self time)`, '');
    L.push('| self ms | share | function |', '| ---: | ---: | --- |');
    for (const x of res.profile.top) L.push(`| ${fmtInt(x.ms)} | ${fmtPct(x.share)} | \`${x.fn}\` |`);
    L.push('', `Profiles: ${path.relative(root, PROF_DIR)}/ (open in Chrome DevTools → Performance).`, '');
  }
  L.push('## Targets', '');
  for (const x of res.targets) L.push(`- **${x.status}** ${x.name}: ${x.detail}`);
  L.push('', `Total time ${((Date.now() - meta.t0) / 60000).toFixed(1)} min. Server log: ${path.relative(root, LOG_DIR)}/protocol.log.`, '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------

/** the options: strings with their defaults (undefined: none), then the flags */
const OPTIONS = { levels: `1,${TARGET_CONC}`, repeat: '3', duration: '10', warmup: '3', rows: '64', channels: '1', protocols: undefined, json: undefined };
const FLAGS = ['cpu-prof', 'no-build', 'help'];

export async function protocol(argv) {
  const options = Object.fromEntries([
    ...Object.entries(OPTIONS).map(([k, d]) => [k, d === undefined ? { type: 'string' } : { type: 'string', default: d }]),
    ...FLAGS.map((f) => [f, { type: 'boolean', default: false }]),
  ]);
  const { values } = parseArgs({ args: argv, options: { ...options, help: { ...options.help, short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const { levels, repeat, duration, warmup } = loadOptions(values);
  const rows = Number(values.rows);
  const channels = Number(values.channels);
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`--rows: expected a positive integer, got ${values.rows}`);
  if (!Number.isInteger(channels) || channels < 1) throw new Error(`--channels: expected a positive integer, got ${values.channels}`);
  const protocols = values.protocols ? values.protocols.split(',').map((p) => p.trim()) : Object.keys(PROTOCOLS).filter((p) => !PROTOCOLS[p].missing && !PROTOCOLS[p].optional);
  for (const p of protocols) {
    if (!PROTOCOLS[p]) throw new Error(`--protocols: expected some of ${Object.keys(PROTOCOLS).join(', ')}, got ${p}`);
    if (PROTOCOLS[p].missing) throw new Error(`--protocols: ${p} cannot be measured (${PROTOCOLS[p].missing})`);
  }
  const meta = { ...runMeta('protocol', argv), levels, repeat, duration, warmup, rows, channels, protocols, cpuProf: values['cpu-prof'], ...envMeta() };
  process.once('exit', cleanup);

  // 1. setup
  ensureBuild(values['no-build']);
  ensureWrk();
  meta.wrk = wrkDescription();
  const est = levels.length * repeat * protocols.length * (duration + 1) + protocols.length * warmup + 40;
  log(`measuring ${protocols.join(', ')} on ${FIXTURE}, ${rows} row(s) per request, at ${levels.join(', ')} connections, ${repeat} round(s) of ${duration}s runs — about ${Math.ceil(est / 60)} min`);

  // 2. raw onnxruntime-node, alone
  const res = { runs: [], ...rawOrt(FIXTURE, log) };
  res.rawB64 = res.raw?.throughput.find((t) => t.batch === 64)?.rows_per_s;

  // 3. the server
  const ctx = { rows, channels, ...writeBodies(rows) };
  const env = { ...process.env };
  if (values['cpu-prof']) {
    rmSync(PROF_DIR, { recursive: true, force: true });
    env.BERTH_BENCH_CPU_PROF = PROF_DIR; // node refuses --cpu-prof in NODE_OPTIONS: the child profiles itself
  }
  log('starting Berth (bench/protocol.js serve-child)');
  ctx.srv = await startServeChild({ script: fileURLToPath(import.meta.url), args: ['--data-dir', tempDir('berth-bench-protocol-')], env, stdin: 'pipe', logFile: path.join(LOG_DIR, 'protocol.log') });
  try {
    ctx.url = ctx.srv.url;
    ctx.grpcAddress = ctx.srv.info.grpcAddress;
    res.server = ctx.srv.info;
    if (!ctx.grpcAddress) throw new Error(`the server printed no gRPC address (${JSON.stringify(ctx.srv.info)}): is dist/ built with gRPC?`);
    await deploy(ctx);
    for (const p of protocols) {
      const check = await PROTOCOLS[p].prepare(ctx);
      if (check && p === 'rest-binary') res.binaryCheck = check;
      else if (check) res.check = check;
    }
    log(`  ${ctx.url}, gRPC ${ctx.grpcAddress}; ${FIXTURE} deployed; ${res.check ? `gRPC answers as REST-JSON does (max |Δ| ${res.check.maxAbsDiff})` : 'REST-JSON answers'}`);

    // 4. load
    if (warmup > 0) {
      for (const p of protocols) {
        log(`warm-up ${p} (${warmup}s at 8 connections)`);
        await PROTOCOLS[p].load(ctx, 8, warmup);
      }
    }
    if (values['cpu-prof']) ctx.srv.child.stdin.write('profile\n'); // the measured runs only
    for (let round = 1; round <= repeat; round++) {
      for (const conc of levels) {
        const order = round % 2 === 1 ? protocols : [...protocols].reverse();
        for (const [i, p] of order.entries()) {
          const r = await measure(ctx, p, conc, duration);
          r.round = round;
          r.order = i;
          res.runs.push(r);
          log(
            `round ${round}/${repeat} conc ${conc} ${p}: ${r.failed ? `FAILED ${r.output}` : `${fmtInt(r.rows_per_s)} rows/s, p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, ${fmtInt(r.cpu_us_per_req)} µs CPU/req, mean batch ${fmtMs(r.mean_batch)}, load ${fmtCores(r.load_cpu)} cores, other ${fmtCores(r.other_cores)}, failed ${r.non2xx}`}`,
          );
        }
      }
    }
  } finally {
    await stopServeChild(ctx.srv);
    res.serverLog = serverLogLines(ctx.srv);
  }
  cleanup();

  // 5. raw at the batch sizes the server ran, alone again
  res.rawAt = rawAtBatches([...new Set(res.runs.filter((r) => !r.failed).map(rawBatchOf).filter(Number.isFinite))].sort((a, b) => a - b));
  if (values['cpu-prof']) res.profile = profileTop(PROF_DIR);

  // 6. report
  res.summary = summarize(res.runs, levels, protocols);
  res.ratios = ratios(res.runs, levels, repeat, protocols, res.rawAt, res.rawB64);
  res.targets = targets(res, meta);
  process.stdout.write(render(res, meta));
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ meta, ...res, rawAt: Object.fromEntries(res.rawAt) }, null, 1));
    log(`wrote ${values.json}`);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

/**
 * With `dir`, sample this process's main thread (the inspector's profiler, as node --cpu-prof does) from
 * the moment a `profile` line arrives on stdin (after setup and warm-up); the function returned writes the
 * profile to `dir`.
 */
function profiler(dir) {
  if (!dir) return async () => undefined;
  let session = null;
  process.stdin.setEncoding('utf8').on('data', async (line) => {
    if (!line.includes('profile') || session) return;
    const { Session } = await import('node:inspector/promises');
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 250 });
    await session.post('Profiler.start');
  });
  return async () => {
    if (!session) return;
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `server-${process.pid}.cpuprofile`), JSON.stringify(profile));
  };
}

/** The server: createBerthServer + listen (HTTP and gRPC on port 0) on a fresh data dir; prints both addresses. */
async function serveChild(argv) {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' } }, strict: true });
  const core = await import(pathToFileURL(path.join(dist, 'core', 'index.js')).href);
  const { createBerthServer } = await import(pathToFileURL(path.join(dist, 'server', 'index.js')).href);
  const config = core.resolveConfig({ logLevel: 'warn', auth: { dev: true } }, core.configFromEnv(process.env), {
    dataDir: values['data-dir'],
    server: { host: '127.0.0.1', port: 0, grpcPort: 0 },
  });
  const server = await createBerthServer({ config, logger: core.createLogger(config.logLevel), example: false });
  const url = await server.listen();
  const profile = profiler(process.env.BERTH_BENCH_CPU_PROF);
  process.stdout.write(`BERTH_READY ${JSON.stringify({ url, grpcAddress: server.grpcAddress, batching: config.batching, runtime: config.runtime, pid: process.pid, cpus: os.availableParallelism() })}\n`);
  const stop = () => server.close().then(profile).then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

await runAsScript(import.meta.url, 'protocol', protocol, serveChild);

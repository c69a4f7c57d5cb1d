#!/usr/bin/env node
// Raw onnxruntime-node, in process, no HTTP: the ceiling Berth is compared to.
// bench/run.js runs this in a child process (so its threads never fight a server) and reads the
// one JSON line it prints last.
//
//   node bench/raw-ort.js MODEL_DIR [--batches 1,8,32,64,128] [--latency-runs 2000] [--seconds 1.5]
//
// Session options are the ones Berth's ONNX backend uses (src/runtime/onnx/onnx-backend.ts):
// graphOptimizationLevel 'all', executionMode 'sequential', intraOpNumThreads 1, interOpNumThreads 1
// (Berth's defaults; BERTH_INTRA_OP_THREADS / BERTH_INTER_OP_THREADS override both sides alike).
// Every output of the model is fetched, as Berth does for a request that names no outputs.
// Input rows: the fixture's first golden case, cycled to the batch size; the batch-1 row is its
// first row, the same row the HTTP bodies carry.
//   * batch-1 latency: 200 warm-up runs, then --latency-runs sequential awaited session.run() calls;
//     p50 / p90 / p99 / mean in ms (tensor creation excluded).
//   * throughput per batch size: 0.3 s warm-up, then sequential runs for --seconds;
//     rows/s = rows / elapsed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// onnxruntime-node from the project's own dependencies (the version Berth runs on)
const require = createRequire(path.join(here, '..', 'package.json'));
const ort = require('onnxruntime-node');

const argv = process.argv.slice(2);
function opt(name, def) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
}
const dir = argv[0];
if (!dir || dir.startsWith('--')) {
  process.stderr.write('usage: raw-ort.js MODEL_DIR [--batches 1,8,32,64,128] [--latency-runs 2000] [--seconds 1.5]\n');
  process.exit(2);
}
const batches = opt('batches', '1,8,32,64,128').split(',').map(Number);
const latencyRuns = Math.max(500, Number(opt('latency-runs', 2000)));
const seconds = Number(opt('seconds', 1.5));
const intra = Number(process.env.BERTH_INTRA_OP_THREADS || 1);
const inter = Number(process.env.BERTH_INTER_OP_THREADS || 1);

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

const options = { graphOptimizationLevel: 'all', executionMode: 'sequential', intraOpNumThreads: intra, interOpNumThreads: inter };
const session = await ort.InferenceSession.create(readFileSync(path.join(dir, 'model.onnx')), options);
const inName = session.inputNames[0];
const outNames = [...session.outputNames];
const golden = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8'));
const gin = golden.cases[0].inputs[inName] ?? Object.values(golden.cases[0].inputs)[0];
const d = gin.shape[gin.shape.length - 1];
const flat = Float32Array.from(gin.data.flat(Infinity));
const poolRows = flat.length / d;
const maxB = Math.max(...batches, 1);
const big = new Float32Array(maxB * d);
for (let i = 0; i < maxB; i++) big.set(flat.subarray((i % poolRows) * d, (i % poolRows + 1) * d), i * d);
const feedsFor = (b) => ({ [inName]: new ort.Tensor('float32', big.subarray(0, b * d), [b, d]) });

const one = feedsFor(1);
for (let i = 0; i < 200; i++) await session.run(one, outNames);
const lat = new Float64Array(latencyRuns);
for (let i = 0; i < latencyRuns; i++) {
  const t0 = now();
  await session.run(one, outNames);
  lat[i] = now() - t0;
}
const sorted = Array.from(lat).sort((a, b) => a - b);
const latency = {
  runs: latencyRuns,
  p50_ms: pct(sorted, 50),
  p90_ms: pct(sorted, 90),
  p99_ms: pct(sorted, 99),
  mean_ms: sorted.reduce((a, b) => a + b, 0) / sorted.length,
};

const throughput = [];
for (const b of batches) {
  const feeds = feedsFor(b);
  let t0 = now();
  while (now() - t0 < 300) await session.run(feeds, outNames);
  let runs = 0;
  let el = 0;
  t0 = now();
  while ((el = now() - t0) < seconds * 1000) {
    await session.run(feeds, outNames);
    runs++;
  }
  throughput.push({ batch: b, runs, rows_per_s: (runs * b) / (el / 1000), ms_per_run: el / runs });
}
await session.release?.();
const best = throughput.reduce((a, b) => (b.rows_per_s > a.rows_per_s ? b : a));
process.stdout.write(
  JSON.stringify({
    model: path.basename(dir),
    onnxruntime: ort.env?.versions?.node ?? 'unknown',
    node: process.version,
    options,
    input: `${inName}[N,${d}]`,
    outputs: outNames,
    latency,
    throughput,
    best,
  }) + '\n',
);

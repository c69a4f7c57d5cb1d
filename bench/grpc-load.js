#!/usr/bin/env node
// A closed-loop gRPC load generator for `inference.GRPCInferenceService/ModelInfer`, what wrk is for
// REST (see bench/README.md, "Protocol"). bench/protocol.js runs it in a child process pinned to the core
// wrk uses and reads the one JSON line it prints last.
//
//   node bench/grpc-load.js --address 127.0.0.1:PORT --model NAME --input-name input --shape 1,256
//        --input FILE.f32 [--concurrency 64] [--duration 10] [--channels 1] [--timeout-ms 5000]
//        [--expect REST-ANSWER.json] [--atol 1e-4] [--rtol 1e-4]
//
// The request (FP32 `--shape`, its elements in `--input` as one little-endian buffer sent as
// raw_input_contents, every output) is built and serialized once with the server's own proto and
// loader options, then sent as those bytes on every call; answers are counted, not decoded (as wrk
// reads no bodies), except the first, which is decoded and, with --expect (a REST v2 answer: {outputs:
// [{name, datatype, shape, data}]}), compared output by output: same names, datatypes and shapes, and
// every element within atol + rtol·|rest| (exit 3, and a message on stderr, when not). `--channels K`
// opens K connections (local subchannel pools) and spreads the `--concurrency` calls over them.
// `--duration 0`: only the first call and its check.
//
// Prints {requests, ok, errors: {STATUS: n}, secs, rps, rows_per_s, p50, p90, p99, max, mean (ms, over
// every call that completed within the duration, failed ones too, as wrk), load_cpu (cores this process
// kept busy), check}.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
// the project's own gRPC stack, the version the server runs
const require = createRequire(path.join(here, '..', 'package.json'));
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

/** src/protocol/grpc/server.ts PROTO_LOADER_OPTIONS: what the server decodes with */
export const PROTO_LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
export const PROTO_FILE = path.join(here, '..', 'proto', 'grpc_predict_v2.proto');

let modelInfer = null;
/** `ModelInfer`'s path and (de)serializers, from the proto (loaded once). */
export function modelInferMethod() {
  modelInfer ??= grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_FILE, PROTO_LOADER_OPTIONS)).inference.GRPCInferenceService.service.ModelInfer;
  return modelInfer;
}

/** A decoded ModelInferResponse's outputs as REST has them: [{name, datatype, shape (numbers), data (numbers)}]. */
export function grpcOutputs(res) {
  return res.outputs.map((o, i) => {
    const raw = res.raw_output_contents?.[i];
    if (o.datatype !== 'FP32' || !raw) throw new Error(`output ${o.name}: expected FP32 in raw_output_contents, got ${o.datatype} ${raw ? 'raw' : 'typed contents'}`);
    return { name: o.name, datatype: o.datatype, shape: o.shape.map(Number), data: Array.from({ length: raw.length / 4 }, (_, k) => raw.readFloatLE(4 * k)) };
  });
}

/**
 * `got`'s outputs against `want`'s (both REST-shaped): `{ ok, maxAbsDiff, exact, problems }`; an element
 * agrees when |got − want| ≤ atol + rtol·|want|, and `exact` when every element is the same float32.
 */
export function compareOutputs(got, want, { atol = 1e-4, rtol = 1e-4 } = {}) {
  const problems = [];
  let maxAbsDiff = 0;
  let exact = true;
  if (got.length !== want.length) problems.push(`${got.length} outputs (${got.map((o) => o.name)}), REST ${want.length} (${want.map((o) => o.name)})`);
  for (const w of want) {
    const g = got.find((o) => o.name === w.name);
    if (!g) {
      problems.push(`no output "${w.name}"`);
      continue;
    }
    const wd = w.data.flat(Infinity);
    if (g.datatype !== w.datatype) problems.push(`"${w.name}": datatype ${g.datatype}, REST ${w.datatype}`);
    if (g.shape.join(',') !== w.shape.join(',')) problems.push(`"${w.name}": shape [${g.shape}], REST [${w.shape}]`);
    if (g.data.length !== wd.length) {
      problems.push(`"${w.name}": ${g.data.length} elements, REST ${wd.length}`);
      continue;
    }
    let bad = 0;
    for (let i = 0; i < wd.length; i++) {
      const d = Math.abs(g.data[i] - wd[i]);
      if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
      if (Math.fround(g.data[i]) !== Math.fround(wd[i])) exact = false;
      if (!(d <= atol + rtol * Math.abs(wd[i]))) bad++;
    }
    if (bad) problems.push(`"${w.name}": ${bad} of ${wd.length} elements differ beyond atol ${atol} + rtol ${rtol}·|x| (max |Δ| ${maxAbsDiff})`);
  }
  return { ok: problems.length === 0, maxAbsDiff, exact: exact && problems.length === 0, problems };
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : NaN);

async function main() {
  const { values: o } = parseArgs({
    options: {
      address: { type: 'string' },
      model: { type: 'string' },
      'input-name': { type: 'string', default: 'input' },
      shape: { type: 'string' },
      input: { type: 'string' },
      concurrency: { type: 'string', default: '1' },
      duration: { type: 'string', default: '10' },
      channels: { type: 'string', default: '1' },
      'timeout-ms': { type: 'string', default: '5000' },
      expect: { type: 'string' },
      atol: { type: 'string', default: '1e-4' },
      rtol: { type: 'string', default: '1e-4' },
    },
    strict: true,
  });
  for (const k of ['address', 'model', 'shape', 'input']) if (!o[k]) throw new Error(`--${k} is required`);
  const conc = Number(o.concurrency);
  const secs = Number(o.duration);
  const nChannels = Math.min(Number(o.channels), conc);
  const timeoutMs = Number(o['timeout-ms']);
  const shape = o.shape.split(',').map(Number);
  const rows = shape[0];
  const raw = readFileSync(o.input);
  if (raw.length !== 4 * shape.reduce((a, b) => a * b, 1)) throw new Error(`--input: ${raw.length} bytes for FP32 [${shape}] (${4 * shape.reduce((a, b) => a * b, 1)} expected)`);

  const method = modelInferMethod();
  const bytes = method.requestSerialize({
    model_name: o.model,
    inputs: [{ name: o['input-name'], datatype: 'FP32', shape: shape.map(String) }],
    raw_input_contents: [raw],
  });
  const channelOptions = { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
  const clients = Array.from({ length: nChannels }, () => new grpc.Client(o.address, grpc.credentials.createInsecure(), channelOptions));
  const same = (b) => b;
  const call = (client, deserialize) =>
    new Promise((resolve) => {
      client.makeUnaryRequest(method.path, same, deserialize, bytes, { deadline: Date.now() + timeoutMs }, (err, res) => resolve({ err, res }));
    });

  // the first call, decoded and checked (on every channel, so each has connected before the clock starts)
  const first = await Promise.all(clients.map((c) => call(c, method.responseDeserialize)));
  const failed = first.find((f) => f.err);
  if (failed) throw new Error(`the first ModelInfer failed: ${failed.err.code} ${grpc.status[failed.err.code] ?? ''} ${failed.err.details ?? failed.err.message}`);
  const outputs = grpcOutputs(first[0].res);
  let check = { outputs: outputs.map((x) => ({ name: x.name, datatype: x.datatype, shape: x.shape })) };
  if (o.expect) {
    const want = JSON.parse(readFileSync(o.expect, 'utf8')).outputs;
    check = { ...check, ...compareOutputs(outputs, want, { atol: Number(o.atol), rtol: Number(o.rtol) }) };
    if (!check.ok) {
      process.stderr.write(`grpc-load: gRPC and REST-JSON answer the same input differently: ${check.problems.join('; ')}\n`);
      process.stdout.write(`${JSON.stringify({ check })}\n`);
      process.exitCode = 3;
      for (const c of clients) c.close();
      return;
    }
  }

  const lat = [];
  const errors = {};
  let ok = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + secs * 1000;
  const slot = async (client) => {
    while (performance.now() < end) {
      const s = performance.now();
      const { err } = await call(client, same);
      const t = performance.now();
      if (t > end) break; // completed after the clock stopped: not counted, as wrk
      lat.push(t - s);
      if (err) {
        const name = grpc.status[err.code] ?? String(err.code);
        errors[name] = (errors[name] ?? 0) + 1;
      } else ok++;
    }
  };
  if (secs > 0) await Promise.all(Array.from({ length: conc }, (_, i) => slot(clients[i % nChannels])));
  const el = secs > 0 ? Math.min(performance.now(), end) - t0 : 0;
  const cpu = process.cpuUsage(cpu0);
  for (const c of clients) c.close();
  lat.sort((a, b) => a - b);
  const s = el / 1000;
  process.stdout.write(
    `${JSON.stringify({
      concurrency: conc,
      channels: nChannels,
      rows,
      requests: lat.length,
      ok,
      errors,
      secs: s,
      rps: s > 0 ? ok / s : NaN,
      rows_per_s: s > 0 ? (ok * rows) / s : NaN,
      p50: pct(lat, 50),
      p90: pct(lat, 90),
      p99: pct(lat, 99),
      max: lat.length ? lat[lat.length - 1] : NaN,
      mean: lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : NaN,
      load_cpu: s > 0 ? (cpu.user + cpu.system) / 1000 / el : NaN,
      check,
    })}\n`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`grpc-load: ${err?.message ?? err}\n`);
    process.exitCode = 1;
  }
}

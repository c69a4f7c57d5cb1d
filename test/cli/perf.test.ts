/*
 * `berth perf` against a real server with real models, over REST (JSON and binary) and gRPC:
 * throughput and percentiles that hold together, the server's statistics counting exactly the
 * requests the client counted, overload counted as errors rather than fatal, refusals that say
 * what to change; and the pieces (duration parser, histogram, input synthesis) on their own.
 */
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import type { ModelMetadata } from 'berth/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { parseConcurrency, parseProtocols } from '../../src/cli/commands/perf.js';
import { main } from '../../src/cli/main.js';
import {
  LatencyHistogram,
  parseInputData,
  parsePerfDuration,
  parseShapeOverrides,
  resolveGrpcUrl,
  runPerf,
  synthesizeInputs,
  type PerfLevel,
  type PerfOptions,
  type PerfReport,
} from '../../src/cli/perf/index.js';
import { boundsOf, bucketOf } from '../../src/cli/perf/histogram.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;
let grpcUrl: string;
let grpcPort: number;

beforeAll(async () => {
  ts = await startServer({ server: { grpcPort: 0 } });
  grpcUrl = `grpc://${ts.server.grpcAddress!}`;
  grpcPort = Number(ts.server.grpcAddress!.split(':').pop());
  await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc' });
  // a queue of one row: concurrent requests overflow it
  await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc-tight', name: 'bc-tight', settings: { maxQueueSize: 1, maxBatchSize: 1 } });
  await deployFixture(ts, 'credit', { deployment: 'credit' });
  await deployFixture(ts, 'tabular-mixed', { deployment: 'mixed' });
}, 60_000);

afterAll(async () => {
  await ts?.close();
});

const quick = (over: Partial<PerfOptions> = {}): PerfOptions => ({
  server: ts.url,
  grpcUrl,
  deployment: 'bc',
  protocols: ['rest-binary'],
  concurrency: [1],
  durationMs: 200,
  warmupMs: 0,
  ...over,
});

async function refusal(p: Promise<unknown>): Promise<BerthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeInstanceOf(BerthError);
  return err as BerthError;
}

function expectSane(l: PerfLevel, rowsPerRequest: number): void {
  const at = `${l.protocol} concurrency ${l.concurrency}`;
  expect(l.successes, at).toBeGreaterThan(0);
  expect(l.requests, at).toBe(l.successes + l.errors.total);
  expect(l.rows, at).toBe(l.successes * rowsPerRequest);
  expect(l.requestsPerSecond, at).toBeCloseTo((l.successes * 1000) / l.durationMs, 6);
  expect(l.rowsPerSecond, at).toBeCloseTo(l.requestsPerSecond * rowsPerRequest, 6);
  const q = l.latencyMs;
  expect(q.count, at).toBe(l.successes);
  expect(q.min, at).toBeGreaterThan(0);
  expect(q.min, at).toBeLessThanOrEqual(q.p50);
  expect(q.p50, at).toBeLessThanOrEqual(q.p90);
  expect(q.p90, at).toBeLessThanOrEqual(q.p95);
  expect(q.p95, at).toBeLessThanOrEqual(q.p99);
  expect(q.p99, at).toBeLessThanOrEqual(q.max);
  expect(q.mean, at).toBeGreaterThanOrEqual(q.min);
  expect(q.mean, at).toBeLessThanOrEqual(q.max);
  expect(l.clientCpuPercent, at).toBeGreaterThan(0);
  // the window starts and ends with nothing in flight: the server counted exactly these requests
  const s = l.server!;
  expect(s, at).not.toBeNull();
  expect(s.success, at).toBe(l.successes);
  expect(s.fail, at).toBe(l.errors.total);
  expect(s.inferences, at).toBe(l.rows);
  expect(s.batchSize!, at).toBeGreaterThanOrEqual(rowsPerRequest);
  expect(s.computeInferUs, at).toBeGreaterThan(0);
  for (const v of [s.queueUs, s.computeInputUs, s.computeOutputUs]) expect(v, at).toBeGreaterThanOrEqual(0);
}

describe('berth perf against a running server', () => {
  it('measures every protocol at every concurrency with numbers that agree with the server', async () => {
    const lines: string[] = [];
    const r = await runPerf(quick({ protocols: ['rest', 'rest-binary', 'grpc'], concurrency: [1, 4], durationMs: 300, warmupMs: 100, batch: 3, onProgress: (l) => lines.push(l) }));
    expect(r.levels.map((l) => `${l.protocol}@${l.concurrency}`)).toEqual(['rest@1', 'rest@4', 'rest-binary@1', 'rest-binary@4', 'grpc@1', 'grpc@4']);
    for (const l of r.levels) {
      expectSane(l, 3);
      expect(l.errors.total).toBe(0);
      expect(l.durationMs).toBeGreaterThanOrEqual(300);
      expect(l.url).toBe(l.protocol === 'grpc' ? grpcUrl : ts.url);
    }
    expect(r.model).toMatchObject({ name: 'bc', rowsPerRequest: 3, source: 'synthetic', inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 30] }] });
    expect(r.options).toMatchObject({ protocols: ['rest', 'rest-binary', 'grpc'], concurrency: [1, 4], durationMs: 300, warmupMs: 100, batch: 3 });
    expect(r.grpcUrl).toBe(grpcUrl);
    expect(lines).toContain('grpc concurrency 4: warming up for 100ms…');
    expect(lines.some((l) => /^rest concurrency 1: [\d.]+ req\/s, p50 [\d.]+ ms, p99 [\d.]+ ms$/.test(l))).toBe(true);
  }, 20_000);

  it('counts 429s from a full queue as errors and keeps measuring', async () => {
    const r = await runPerf(quick({ deployment: 'bc-tight', protocols: ['rest-binary'], concurrency: [16], durationMs: 400 }));
    const l = r.levels[0]!;
    expectSane(l, 1);
    expect(l.errors.byCode['QUEUE_FULL']).toBeGreaterThan(0);
    expect(l.errors.total).toBe(Object.values(l.errors.byCode).reduce((a, b) => a + b, 0));
    expect(l.errors.messages['QUEUE_FULL']).toMatch(/queue/i);
  }, 20_000);

  it('synthesizes strings from the vocabulary and ids inside the valid range the metadata declares', async () => {
    const r = await runPerf(quick({ deployment: 'credit', protocols: ['rest', 'grpc'], batch: 2 }));
    for (const l of r.levels) expectSane(l, 2);
    expect(r.model.inputs.map((i) => `${i.name} ${i.datatype}`)).toEqual(['numeric FP32', 'home_ownership BYTES', 'loan_purpose BYTES', 'region BYTES']);
    const mixed = await runPerf(quick({ deployment: 'mixed' }));
    expectSane(mixed.levels[0]!, 1);
    expect(mixed.model.inputs.map((i) => i.datatype)).toContain('INT64');
  }, 20_000);

  it('sends a v2 request file as is', async () => {
    const file = path.join(ts.dataDir, 'request.json');
    await writeFile(file, JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 30], data: Array.from({ length: 2 }, () => Array.from({ length: 30 }, () => 0.5)) }] }));
    const r = await runPerf(quick({ inputData: file, protocols: ['grpc'] }));
    expect(r.model).toMatchObject({ rowsPerRequest: 2, source: 'file' });
    expectSane(r.levels[0]!, 2);
  });

  it('names a deployment that does not exist and passes on what the server said', async () => {
    const err = await refusal(runPerf(quick({ deployment: 'nope' })));
    expect(err.code).toBe('DEPLOYMENT_NOT_FOUND');
    expect(err.message).toContain(`deployment "nope" at ${ts.url}: `);
    expect(err.message).toContain('berth deployments list');
  });

  it('refuses a --shape that contradicts the model before sending anything', async () => {
    let err = await refusal(runPerf(quick({ shapes: { input: [1, 29] } })));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toBe('--shape input=1,29: dimension 1 of input "input" is fixed at 30 (shape [-1, 30]), got 29');
    err = await refusal(runPerf(quick({ shapes: { input: [1, 30, 1] } })));
    expect(err.message).toContain('has 2 dimensions [-1, 30], got 3; give the full shape, batch dimension first');
    err = await refusal(runPerf(quick({ shapes: { image: [1, 30] } })));
    expect(err.message).toBe('--shape image=…: deployment "bc" has no input "image"; its inputs are "input"');
    err = await refusal(runPerf(quick({ batch: 2, shapes: { input: [4, 30] } })));
    expect(err.message).toContain('its first (batch) dimension is 4 but --batch 2 asks for 2 rows per request');
  });

  it('reports the server refusing the first request with its message and what to change', async () => {
    const file = path.join(ts.dataDir, 'bad-request.json');
    await writeFile(file, JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 29], data: new Array<number>(29).fill(0) }] }));
    const err = await refusal(runPerf(quick({ inputData: file })));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/^rest-binary: deployment "bc" refused the request in .*bad-request\.json: input "input": expected shape \[-1, 30\], got \[1, 29\]/);
    expect(err.message).toContain(`; fix ${file}`);
  });

  it('stops with the error when every request fails, instead of measuring failures', async () => {
    // a stand-in server: metadata and the first request answer, then every request is a 503
    let infers = 0;
    const fake = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url === '/v2/models/flaky') {
        res.end(JSON.stringify({ name: 'flaky', versions: ['1'], platform: 'onnxruntime_onnx', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [] }));
      } else if (req.method === 'POST' && req.url === '/v2/models/flaky/infer') {
        req.resume();
        if (infers++ === 0) res.end(JSON.stringify({ model_name: 'flaky', outputs: [] }));
        else {
          res.statusCode = 503;
          res.end(JSON.stringify({ error: 'model "flaky" failed to load; see the server log', code: 'MODEL_UNAVAILABLE' }));
        }
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ error: 'no such route', code: 'NOT_FOUND' }));
      }
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
      const err = await refusal(runPerf(quick({ server: url, deployment: 'flaky', concurrency: [2], warmupMs: 5000 })));
      expect(err.code).toBe('MODEL_UNAVAILABLE');
      // the other worker's request in flight when the first gave up is counted too
      expect(err.message).toMatch(/^rest-binary concurrency 2: every request to deployment "flaky" failed, so there is nothing to measure; 2[01]× MODEL_UNAVAILABLE: model "flaky" failed to load; see the server log$/);
      // it gave up after a run of failures, not at the end of the 5 s warm-up
      expect(infers).toBeLessThan(30);
    } finally {
      await new Promise<void>((r) => fake.close(() => r()));
    }
  });

  it('finds the gRPC port in the server status, says what to do when it serves none, and finds nothing where nothing runs', async () => {
    const { grpcUrl: _given, ...withoutGrpc } = quick({ protocols: ['grpc'], concurrency: [1] });
    const found = await runPerf(withoutGrpc);
    expect(found.grpcUrl).toBe(grpcUrl);
    expect(found.levels[0]!.successes).toBeGreaterThan(0);
    const restOnly = await startServer();
    try {
      await deployFixture(restOnly, 'breast-cancer-logreg', { deployment: 'bc' });
      const e = await refusal(runPerf({ ...withoutGrpc, server: restOnly.url, deployment: 'bc' }));
      expect(e.message).toMatch(/serves no gRPC.*berth serve --grpc-port PORT.*--grpc-url grpc:\/\/HOST:PORT/);
    } finally {
      await restOnly.close();
    }
    const err = await refusal(runPerf(quick({ server: 'http://127.0.0.1:1' })));
    expect(err.code).toBe('SERVER_UNREACHABLE');
    expect(err.message).toContain('no Berth server answers at http://127.0.0.1:1');
  });
});

describe('berth perf, the command', () => {
  async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await main(['node', 'berth', '--server', ts.url, ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
    return { code, out, err };
  }

  it('prints one JSON document with every figure under --json, progress only on stderr', async () => {
    const r = await run('--json', 'perf', 'bc', '--protocol', 'rest,grpc', '--grpc-port', String(grpcPort), '--concurrency', '1,2', '--duration', '200ms', '--warmup', '50ms', '--batch', '2');
    expect(r.err).not.toMatch(/^berth: /m);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as PerfReport;
    expect(Object.keys(report).sort()).toEqual(['deployment', 'grpcUrl', 'levels', 'model', 'options', 'server', 'startedAt', 'warnings']);
    expect(report).toMatchObject({ deployment: 'bc', server: ts.url, grpcUrl: `grpc://127.0.0.1:${grpcPort}` });
    expect(report.options).toEqual({ protocols: ['rest', 'grpc'], concurrency: [1, 2], durationMs: 200, warmupMs: 50, timeoutMs: 30_000, batch: 2, shapes: {}, inputData: null });
    expect(report.levels).toHaveLength(4);
    for (const l of report.levels) {
      expect(Object.keys(l).sort()).toEqual(
        ['clientCpuPercent', 'concurrency', 'durationMs', 'errors', 'latencyMs', 'protocol', 'requests', 'requestsPerSecond', 'rows', 'rowsPerSecond', 'server', 'successes', 'url'].sort(),
      );
      expect(Object.keys(l.latencyMs).sort()).toEqual(['count', 'max', 'mean', 'min', 'p50', 'p90', 'p95', 'p99']);
      expect(Object.keys(l.server!).sort()).toEqual(['batchSize', 'computeInferUs', 'computeInputUs', 'computeOutputUs', 'executions', 'fail', 'inferences', 'queueUs', 'success']);
      expectSane(l, 2);
    }
    expect(r.err).toContain('rest concurrency 1: warming up for 50ms…');
    expect(r.out).not.toContain('warming up');
  }, 20_000);

  it('prints a table per protocol with a row per concurrency', async () => {
    const r = await run('perf', 'bc', '--concurrency', '1,3', '--duration', '150ms', '--warmup', '0s');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('deployment bc (version 1), 1 row per request, random: input FP32 [1, 30]');
    const header = lines.findIndex((l) => l.startsWith('CONCURRENCY'));
    expect(lines[header - 1]).toBe(`rest-binary  ${ts.url}`);
    expect(lines[header]!.split(/\s{2,}/)).toEqual(['CONCURRENCY', 'REQ/S', 'ROWS/S', 'P50', 'P90', 'P99', 'MAX', 'QUEUE', 'INPUT', 'INFER', 'OUTPUT', 'BATCH', 'ERRORS', 'CLIENT CPU']);
    expect(lines[header + 1]!.trim().split(/\s+/)[0]).toBe('1');
    expect(lines[header + 2]!.trim().split(/\s+/)[0]).toBe('3');
    expect(lines[header + 1]!.trim().split(/\s{2,}/)).toHaveLength(14);
    expect(r.out).toContain('P50…MAX: client-side latency in ms; QUEUE, INPUT, INFER, OUTPUT: server-side µs per request');
  }, 20_000);

  it('answers bad flags as usage errors naming the flag', async () => {
    for (const [args, message] of [
      [['--duration', '10'], "option '--duration <d>' argument '10' is invalid. expected a duration of at least 1ms like 500ms, 10s or 1m, got \"10\" (add a unit: 10s or 10ms)"],
      [['--protocol', 'http'], 'expected one or a comma list of rest, rest-binary, grpc, got "http"'],
      [['--concurrency', '0,4'], 'expected a comma list of whole numbers from 1 to 10000'],
      [['--batch', '0'], "option '--batch <n>' argument '0' is invalid"],
    ] as const) {
      const r = await run('perf', 'bc', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toContain(message);
    }
    const r = await run('perf', 'bc', '--protocol', 'grpc', '--grpc-url', 'http://127.0.0.1:1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: --grpc-url: expected grpc:\/\/HOST:PORT \(or grpcs:\/\/\), got "http:\/\/127.0.0.1:1"/);
  });
});

describe('durations', () => {
  it('reads milliseconds, seconds and minutes', () => {
    expect(parsePerfDuration('--duration', '500ms')).toBe(500);
    expect(parsePerfDuration('--duration', '10s')).toBe(10_000);
    expect(parsePerfDuration('--duration', '1.5s')).toBe(1500);
    expect(parsePerfDuration('--duration', '1m')).toBe(60_000);
    expect(parsePerfDuration('--warmup', '0s')).toBe(0);
  });

  it('refuses a number without a unit, suggesting one', () => {
    expect(() => parsePerfDuration('--duration', '10')).toThrow('--duration: expected a duration like 500ms, 10s or 1m, got "10" (add a unit: 10s or 10ms)');
    expect(() => parsePerfDuration('--duration', 'soon')).toThrow(BerthError);
    expect(() => parsePerfDuration('--duration', '0s', 1)).toThrow('of at least 1ms');
  });
});

describe('the latency histogram', () => {
  it('answers percentiles of a uniform distribution within 1%', () => {
    const h = new LatencyHistogram();
    // 1 µs … 10 000 µs, each once
    for (let us = 1; us <= 10_000; us++) h.record(us / 1000);
    const s = h.summary();
    expect(s.count).toBe(10_000);
    expect(s.min).toBe(0.001);
    expect(s.max).toBe(10);
    expect(s.mean).toBeCloseTo(5.0005, 9);
    for (const [p, want] of [[50, 5], [90, 9], [95, 9.5], [99, 9.9]] as const) {
      expect(Math.abs(h.percentile(p) - want) / want, `p${p}`).toBeLessThan(0.01);
    }
  });

  it('matches the exact percentiles of a long-tailed sample within 1%', () => {
    // a seeded exponential sample: 100 µs plus a 2 ms mean tail
    let seed = 42;
    const next = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const values = Array.from({ length: 50_000 }, () => 0.1 - 2 * Math.log(1 - next()));
    const h = new LatencyHistogram();
    for (const v of values) h.record(v);
    const sorted = values.map((v) => Math.round(v * 1000) / 1000).sort((a, b) => a - b);
    for (const p of [50, 90, 95, 99, 99.9]) {
      const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
      expect(Math.abs(h.percentile(p) - exact) / exact, `p${p}`).toBeLessThan(0.01);
    }
    expect(h.percentile(100)).toBe(sorted[sorted.length - 1]);
  });

  it('is exact for small values, empty when nothing was recorded, and keeps each value inside its bucket', () => {
    const h = new LatencyHistogram();
    expect(h.summary()).toEqual({ count: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 });
    for (const ms of [0.05, 0.1, 0.15, 0.2, 0.25]) h.record(ms);
    expect(h.percentile(50)).toBe(0.15);
    expect(h.percentile(90)).toBe(0.25);
    for (const us of [0, 1, 255, 256, 257, 511, 512, 1023, 1024, 65_535, 1_000_000, 123_456_789, 2 ** 39]) {
      const [lo, hi] = boundsOf(bucketOf(us));
      expect(lo, String(us)).toBeLessThanOrEqual(us);
      expect(hi, String(us)).toBeGreaterThanOrEqual(us);
      expect((hi - lo) / Math.max(1, lo), String(us)).toBeLessThan(1 / 128);
    }
  });
});

describe('input synthesis', () => {
  const meta = (inputs: ModelMetadata['inputs'], parameters?: Record<string, unknown>): ModelMetadata => ({
    name: 'm',
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs,
    outputs: [],
    ...(parameters ? { parameters } : {}),
  });

  it('fills each datatype inside its range, with the batch dimension first', () => {
    const r = synthesizeInputs(
      meta([
        { name: 'x', datatype: 'FP32', shape: [-1, 4] },
        { name: 'id', datatype: 'INT64', shape: [-1, 1], parameters: { valid_range: [3, 5] } },
        { name: 'word', datatype: 'BYTES', shape: [-1, 2], parameters: { vocabulary: ['a', 'b'] } },
        { name: 'flag', datatype: 'BOOL', shape: [-1] },
      ]),
      { batch: 50 },
    );
    expect(r.rows).toBe(50);
    expect(r.inputs.map((i) => i.shape)).toEqual([[50, 4], [50, 1], [50, 2], [50]]);
    const [x, id, word, flag] = r.inputs.map((i) => i.data);
    expect(x).toBeInstanceOf(Float32Array);
    expect([...(x as Float32Array)].every((v) => v >= 0 && v < 1)).toBe(true);
    expect([...(id as BigInt64Array)].every((v) => v >= 3n && v <= 5n)).toBe(true);
    expect(new Set(word as string[])).toEqual(new Set(['a', 'b']));
    expect([...(flag as Uint8Array)].every((v) => v === 0 || v === 1)).toBe(true);
  });

  it('asks for --shape when a dimension besides the batch is variable, and takes the rows from it', () => {
    const m = meta([{ name: 'tokens', datatype: 'INT64', shape: [-1, -1] }]);
    expect(() => synthesizeInputs(m)).toThrow('input "tokens" of deployment "m" has a variable dimension 1 (shape [-1, -1]); give its size with --shape tokens=1,N (the full shape, batch dimension first)');
    const r = synthesizeInputs(m, { shapes: { tokens: [4, 128] } });
    expect(r.rows).toBe(4);
    expect(r.inputs[0]!.shape).toEqual([4, 128]);
  });

  it('refuses --batch for a model without a batch dimension', () => {
    const m = meta([{ name: 'x', datatype: 'FP32', shape: [1, 3] }], { batchable: false });
    expect(synthesizeInputs(m).rows).toBe(1);
    expect(() => synthesizeInputs(m, { batch: 4 })).toThrow('serves a model without a batch dimension');
  });

  it('parses --shape, --protocol and --concurrency and resolves the gRPC address', () => {
    expect(parseShapeOverrides(['tokens=1,128', 'mask = 1, 128'])).toEqual({ tokens: [1, 128], mask: [1, 128] });
    expect(() => parseShapeOverrides(['tokens:1,128'])).toThrow('--shape: expected NAME=D1,D2,… with positive sizes');
    expect(() => parseShapeOverrides(['t=1,0'])).toThrow(BerthError);
    expect(parseProtocols('grpc,rest,grpc')).toEqual(['grpc', 'rest']);
    expect(parseConcurrency('1,8,64')).toEqual([1, 8, 64]);
    expect(resolveGrpcUrl('http://10.0.0.5:8080', undefined, 8081)).toBe('grpc://10.0.0.5:8081');
    expect(resolveGrpcUrl('https://berth.example:443', undefined, 8081)).toBe('grpcs://berth.example:8081');
    expect(resolveGrpcUrl('http://x:1', 'localhost:9000', undefined)).toBe('grpc://localhost:9000');
    expect(() => resolveGrpcUrl('http://x:1', 'http://localhost:9000', undefined)).toThrow('--grpc-url: expected grpc://HOST:PORT');
  });

  it('reads a v2 request with nested data into typed arrays', () => {
    const r = parseInputData({ inputs: [{ name: 'x', datatype: 'INT64', shape: [2, 2], data: [[1, 2], [3, '4']] }] }, 'req.json', true);
    expect(r.rows).toBe(2);
    expect(r.inputs[0]!.data).toEqual(new BigInt64Array([1n, 2n, 3n, 4n]));
    expect(() => parseInputData({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1] }] }, 'req.json', true)).toThrow('shape [2] holds 2 elements but data has 1');
    expect(() => parseInputData({ rows: [] }, 'req.json', true)).toThrow('needs the v2 request shape');
  });
});

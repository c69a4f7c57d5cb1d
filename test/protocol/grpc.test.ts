/*
 * The gRPC transport through a real server with a real model, from a @grpc/grpc-js client built
 * from proto/grpc_predict_v2.proto: golden answers raw and typed, the same guard as REST (tokens,
 * scopes, roles), errors mapped to gRPC status codes with Berth's code alongside, and the tensor
 * codec's refusals naming the field.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG, type ErrorCode } from '../../src/core/index.js';
import { GRPC_CONNECTION_WINDOW_BYTES, GRPC_STATUS, GRPC_STREAM_WINDOW_BYTES, PROTO_LOADER_OPTIONS, protoPath } from '../../src/protocol/index.js';
import http2 from 'node:http2';
import { readLengthPrefixed, writeLengthPrefixed } from '../../src/protocol/codec/raw.js';
import { decodeGrpcInputs, encodeGrpcOutputs } from '../../src/protocol/grpc/tensors.js';
import { compareToGolden, goldenTensor, readGolden } from '../helpers/fixtures.js';
import { deployFixture, post, startServer, type TestServer } from '../helpers/server.js';

const MODEL = 'breast-cancer-logreg';
const ADMIN = 'grpc-test-admin-token-0123456789';

type Client = grpc.Client & Record<string, (req: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void>;

function clientFor(address: string): Client {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath(), PROTO_LOADER_OPTIONS))['inference'] as grpc.GrpcObject;
  const Ctor = pkg['GRPCInferenceService'] as grpc.ServiceClientConstructor;
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as Client;
}

function call(c: Client, rpc: string, req: unknown, token?: string): Promise<Record<string, unknown>> {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => c[rpc]!(req, md, (err, res) => (err ? reject(err) : resolve(res))));
}

async function refusal(p: Promise<unknown>): Promise<grpc.ServiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as grpc.ServiceError,
  );
  expect(err, 'the call should have failed').toBeDefined();
  return err!;
}

const golden = readGolden(MODEL);
const c0 = golden.cases[0]!;
const input = c0.inputs['input']!;

function rawRequest(model = 'bc'): Record<string, unknown> {
  const t = goldenTensor('input', input);
  const data = t.data as Float32Array;
  return { model_name: model, id: 'r-1', inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape.map(String) }], raw_input_contents: [Buffer.from(data.buffer, data.byteOffset, data.byteLength)] };
}

function checkGolden(outputs: { name: string; datatype: string; shape: string[] }[], values: (name: string, i: number) => number[]): void {
  for (const [name, expected] of Object.entries(c0.expected)) {
    const i = outputs.findIndex((o) => o.name === name);
    expect(i, `output ${name}`).toBeGreaterThanOrEqual(0);
    expect(compareToGolden(values(name, i), expected, golden.tolerance[name]!)).toBeNull();
  }
}

function rawValues(res: Record<string, unknown>): (name: string, i: number) => number[] {
  const outs = res['outputs'] as { datatype: string }[];
  const raws = res['raw_output_contents'] as Buffer[];
  return (_name, i) => {
    const b = Buffer.from(raws[i]!);
    const dt = outs[i]!.datatype;
    if (dt === 'FP32') return Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
    if (dt === 'INT64') return Array.from(new BigInt64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), Number);
    throw new Error(`unexpected ${dt}`);
  };
}

describe('gRPC on a dev server', () => {
  let ts: TestServer;
  let c: Client;

  beforeAll(async () => {
    ts = await startServer({ server: { grpcPort: 0 } });
    await deployFixture(ts, MODEL, { deployment: 'bc' });
    c = clientFor(ts.server.grpcAddress!);
  }, 60_000);
  afterAll(async () => {
    c?.close();
    await ts?.close();
  });

  it('lets a client send a whole 64-row request without waiting: wide stream and connection windows', async () => {
    const session = http2.connect(`http://${ts.server.grpcAddress!}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
      expect(settings.initialWindowSize).toBe(GRPC_STREAM_WINDOW_BYTES);
      // the connection window arrives as a WINDOW_UPDATE right after the settings
      for (let i = 0; i < 50 && (session.state.remoteWindowSize ?? 0) < GRPC_CONNECTION_WINDOW_BYTES; i++) await new Promise((r) => setTimeout(r, 10));
      expect(session.state.remoteWindowSize).toBe(GRPC_CONNECTION_WINDOW_BYTES);
    } finally {
      session.close();
    }
  });

  it('answers health, metadata and readiness like REST', async () => {
    expect(await call(c, 'ServerLive', {})).toEqual({ live: true });
    expect(await call(c, 'ServerReady', {})).toEqual({ ready: true });
    expect((await call(c, 'ServerMetadata', {}))['name']).toBe('berth');
    const m = await call(c, 'ModelMetadata', { name: 'bc' });
    expect(m['inputs']).toEqual([{ name: 'input', datatype: 'FP32', shape: ['-1', '30'] }]);
    expect(m['versions']).toEqual(['1']);
    // models load on first use (lifecycle.minLoaded 0), as over REST
    expect(await call(c, 'ModelReady', { name: 'bc' })).toEqual({ ready: false });
    await call(c, 'ModelInfer', rawRequest());
    expect(await call(c, 'ModelReady', { name: 'bc' })).toEqual({ ready: true });
  });

  it('infers raw (raw answers) and typed (typed answers), both golden and equal to REST-JSON', async () => {
    const raw = await call(c, 'ModelInfer', rawRequest());
    expect(raw['model_name']).toBe('bc');
    expect(raw['id']).toBe('r-1');
    checkGolden(raw['outputs'] as never, rawValues(raw));
    const t = goldenTensor('input', input);
    const typed = await call(c, 'ModelInfer', { model_name: 'bc', inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape.map(String), contents: { fp32_contents: Array.from(t.data as Float32Array) } }] });
    expect(typed['raw_output_contents']).toEqual([]);
    const outs = typed['outputs'] as { name: string; contents: Record<string, unknown[]> }[];
    checkGolden(outs as never, (_n, i) => {
      const cts = outs[i]!.contents;
      return ((cts['fp32_contents']!.length > 0 ? cts['fp32_contents'] : cts['int64_contents']) as (number | string)[]).map(Number);
    });
    const rest = await post<{ outputs: { name: string; data: number[] }[] }>(`${ts.url}/v2/models/bc/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] });
    for (const o of rest.body.outputs) {
      const i = (raw['outputs'] as { name: string }[]).findIndex((x) => x.name === o.name);
      expect(rawValues(raw)(o.name, i)).toEqual(o.data.map((x) => (typeof x === 'number' ? Math.fround(x) : x)));
    }
  });

  it('refuses bad requests with the field named and Berth\'s code in the trailers', async () => {
    const wrongShape = rawRequest();
    (wrongShape['inputs'] as { shape: string[] }[])[0]!.shape = ['1', '30'];
    const e1 = await refusal(call(c, 'ModelInfer', wrongShape));
    expect(e1.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e1.details).toMatch(/raw_input_contents\[0\]: expected 120 bytes/);
    expect(e1.metadata.get('berth-field')).toEqual(['raw_input_contents[0]']);
    const e2 = await refusal(call(c, 'ModelInfer', rawRequest('nope')));
    expect(e2.code).toBe(grpc.status.NOT_FOUND);
    expect(e2.metadata.get('berth-code')).toEqual(['DEPLOYMENT_NOT_FOUND']);
    const e3 = await refusal(call(c, 'ModelInfer', { model_name: 'bc', inputs: [{ name: 'input', datatype: 'FP32', shape: ['1', '30'], contents: { int64_contents: ['1'] } }] }));
    expect(e3.details).toBe('inputs[0].contents: a FP32 tensor\'s elements go in fp32_contents, got them in int64_contents');
    const e4 = await refusal(call(c, 'ModelReady', { name: 'bc', version: 'x' }));
    expect(e4.code).toBe(grpc.status.INVALID_ARGUMENT);
    const e5 = await refusal(call(c, 'ModelInfer', { ...rawRequest(), model_name: '' }));
    expect(e5.metadata.get('berth-field')).toEqual(['model_name']);
    expect(e5.details).toBe('model_name: ModelInfer needs the model\'s name, got ""');
  });

  it('pipelines many requests on one ModelStreamInfer stream, a failed one answered in place', async () => {
    const streaming = c as unknown as { ModelStreamInfer: (md: grpc.Metadata) => grpc.ClientDuplexStream<unknown, Record<string, unknown>> };
    const s = streaming.ModelStreamInfer(new grpc.Metadata());
    const answers: Record<string, unknown>[] = [];
    const done = new Promise<void>((resolve, reject) => {
      s.on('data', (d) => answers.push(d));
      s.on('end', () => resolve());
      s.on('error', reject);
    });
    for (let i = 0; i < 5; i++) s.write({ ...rawRequest(i === 3 ? 'nope' : 'bc'), id: `s-${i}` });
    s.end();
    await done;
    expect(answers.map((a) => (a['infer_response'] as { id: string }).id).sort()).toEqual(['s-0', 's-1', 's-2', 's-3', 's-4']);
    const failed = answers.find((a) => (a['infer_response'] as { id: string }).id === 's-3')!;
    expect(failed['error_message']).toMatch(/^DEPLOYMENT_NOT_FOUND: /);
    for (const a of answers.filter((x) => x !== failed)) checkGolden((a['infer_response'] as { outputs: never })['outputs'], rawValues(a['infer_response'] as Record<string, unknown>));
  });

  it('reports statistics over REST and gRPC alike: counts exact, durations summed, batches by size', async () => {
    const before = ((await (await fetch(`${ts.url}/v2/models/bc/stats`)).json()) as { model_stats: { inference_stats: { success: { count: number } } }[] }).model_stats[0]?.inference_stats.success.count ?? 0;
    for (let i = 0; i < 4; i++) await call(c, 'ModelInfer', rawRequest());
    const bad = rawRequest();
    (bad['inputs'] as { datatype: string }[])[0]!.datatype = 'FP64';
    (bad as { raw_input_contents: Buffer[] }).raw_input_contents = [Buffer.alloc(input.shape[0]! * 30 * 8)];
    await refusal(call(c, 'ModelInfer', bad));
    const rest = (await (await fetch(`${ts.url}/v2/models/bc/stats`)).json()) as {
      model_stats: { name: string; version: string; inference_count: number; execution_count: number; last_inference: number; inference_stats: Record<string, { count: number; ns: number }>; batch_stats: { batch_size: number; compute_infer: { count: number } }[] }[];
    };
    expect(rest.model_stats).toHaveLength(1);
    const s = rest.model_stats[0]!;
    expect([s.name, s.version]).toEqual(['bc', '1']);
    expect(s.inference_stats['success']!.count).toBe(before + 4);
    expect(s.inference_stats['fail']!.count).toBeGreaterThanOrEqual(1);
    for (const k of ['queue', 'compute_input', 'compute_infer', 'compute_output']) expect(s.inference_stats[k]!.count, k).toBe(s.inference_stats['success']!.count);
    expect(s.inference_stats['compute_infer']!.ns).toBeGreaterThan(0);
    expect(s.inference_stats['success']!.ns).toBeGreaterThanOrEqual(s.inference_stats['compute_infer']!.ns);
    expect(s.inference_count).toBe(s.inference_stats['success']!.count * input.shape[0]!);
    expect(s.execution_count).toBe(s.batch_stats.reduce((n, b) => n + b.compute_infer.count, 0));
    expect(s.last_inference).toBeGreaterThan(Date.now() - 60_000);
    // the gRPC twin answers the same numbers (int64 as decimal strings)
    const g = await call(c, 'ModelStatistics', { name: 'bc' });
    const gs = (g['model_stats'] as { inference_count: string; inference_stats: Record<string, { count: string }> }[])[0]!;
    expect(Number(gs.inference_count)).toBe(s.inference_count);
    expect(Number(gs.inference_stats['success']!.count)).toBe(s.inference_stats['success']!.count);
    expect(((await call(c, 'ModelStatistics', {}))['model_stats'] as unknown[]).length).toBe(1);
    expect((await refusal(call(c, 'ModelStatistics', { name: 'nope' }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await fetch(`${ts.url}/v2/models/nope/stats`)).status).toBe(404);
  });

  it('lists, unloads and loads through the repository RPCs', async () => {
    const index = await call(c, 'RepositoryIndex', {});
    expect(index['models']).toEqual([{ name: 'bc', version: '1', state: 'READY', reason: '' }]);
    await call(c, 'RepositoryModelUnload', { model_name: 'bc' });
    expect(await call(c, 'ModelReady', { name: 'bc' })).toEqual({ ready: false });
    expect(await call(c, 'RepositoryIndex', { ready: true })).toEqual({ models: [] });
    await call(c, 'RepositoryModelLoad', { model_name: 'bc' });
    expect(await call(c, 'ModelReady', { name: 'bc' })).toEqual({ ready: true });
  });
});

describe('gRPC behind authentication and roles', () => {
  let ts: TestServer;
  let control: TestServer;
  let c: Client;

  beforeAll(async () => {
    ts = await startServer({ server: { grpcPort: 0 }, auth: { dev: false } }, { adminToken: ADMIN });
    await deployFixture(ts, MODEL, { deployment: 'bc' });
    c = clientFor(ts.server.grpcAddress!);
    control = await startServer({ server: { grpcPort: 0, role: 'control' } });
  }, 60_000);
  afterAll(async () => {
    c?.close();
    await ts?.close();
    await control?.close();
  });

  it('admits what the route table admits over REST: health public, inference with a predict scope only', async () => {
    expect(await call(c, 'ServerLive', {})).toEqual({ live: true });
    const none = await refusal(call(c, 'ModelInfer', rawRequest()));
    expect(none.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(none.metadata.get('berth-code')).toEqual(['UNAUTHENTICATED']);
    const bad = await refusal(call(c, 'ModelInfer', rawRequest(), 'berth_nope_wrong'));
    expect(bad.code).toBe(grpc.status.UNAUTHENTICATED);
    // a reader may look at the model but not run it
    const reader = await ts.server.tokens.create({ name: 'reader', scopes: ['read:*'], expiresAt: null });
    expect((await call(c, 'ModelMetadata', { name: 'bc' }, reader.token))['name']).toBe('bc');
    const forbidden = await refusal(call(c, 'ModelInfer', rawRequest(), reader.token));
    expect(forbidden.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(forbidden.details).toMatch(/predict/);
    const predictor = await ts.server.tokens.create({ name: 'app', scopes: ['predict:bc'], expiresAt: null });
    checkGolden(((await call(c, 'ModelInfer', rawRequest(), predictor.token))['outputs']) as never, rawValues(await call(c, 'ModelInfer', rawRequest(), predictor.token)));
    // repository actions need deploy on the model
    expect((await refusal(call(c, 'RepositoryModelUnload', { model_name: 'bc' }, predictor.token))).code).toBe(grpc.status.PERMISSION_DENIED);
    await call(c, 'RepositoryModelUnload', { model_name: 'bc' }, ADMIN);
    await call(c, 'RepositoryModelLoad', { model_name: 'bc' }, ADMIN);
  });

  it('a control plane takes no inference over gRPC either', async () => {
    const cc = clientFor(control.server.grpcAddress!);
    try {
      const e = await refusal(call(cc, 'ModelInfer', rawRequest()));
      expect(e.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(e.metadata.get('berth-code')).toEqual(['WRONG_ROLE']);
      expect(e.details).toMatch(/--role control/);
      expect(await call(cc, 'ServerLive', {})).toEqual({ live: true });
    } finally {
      cc.close();
    }
  });
});

describe('gRPC mapping and codec', () => {
  it('maps every error code to a gRPC status, 429s to RESOURCE_EXHAUSTED and 503s to UNAVAILABLE', () => {
    for (const code of Object.keys(ERROR_CATALOG) as ErrorCode[]) {
      expect(GRPC_STATUS[code], code).toBeDefined();
      const http = ERROR_CATALOG[code].status;
      if (http === 429) expect(GRPC_STATUS[code], code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      if (http === 404) expect(GRPC_STATUS[code], code).toBe(grpc.status.NOT_FOUND);
      if (http === 401) expect(GRPC_STATUS[code], code).toBe(grpc.status.UNAUTHENTICATED);
    }
  });

  it('round-trips every datatype raw and typed, and BYTES length-prefixed', () => {
    const limits = { maxTensorElements: 1000 };
    const cases: [string, Buffer, unknown[]][] = [
      ['INT8', Buffer.from(new Int8Array([-128, 0, 127]).buffer), [-128, 0, 127]],
      ['UINT16', Buffer.from(new Uint16Array([0, 65535, 7]).buffer), [0, 65535, 7]],
      ['INT64', Buffer.from(new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]).buffer), [-(2n ** 63n), 0n, 2n ** 63n - 1n]],
      ['FP64', Buffer.from(new Float64Array([0.1, -2.5, 1e300]).buffer), [0.1, -2.5, 1e300]],
      ['BOOL', Buffer.from([1, 0, 1]), [1, 0, 1]],
    ];
    for (const [dt, buf, values] of cases) {
      const [t] = decodeGrpcInputs({ inputs: [{ name: 'x', datatype: dt, shape: ['3'] }], raw_input_contents: [buf] }, limits);
      expect(Array.from(t!.data as ArrayLike<unknown>), dt).toEqual(values);
      const back = encodeGrpcOutputs([t!], true).raw_output_contents[0]!;
      expect(Buffer.compare(back, buf), dt).toBe(0);
      const typed = encodeGrpcOutputs([t!], false).outputs[0]!.contents!;
      const [again] = decodeGrpcInputs({ inputs: [{ name: 'x', datatype: dt, shape: ['3'], contents: typed }] }, limits);
      expect(Array.from(again!.data as ArrayLike<unknown>), `${dt} typed`).toEqual(values);
    }
    const words = ['héllo', '', 'a\u0000b'];
    const packed = writeLengthPrefixed(words);
    expect(readLengthPrefixed(packed, 3, 'f')).toEqual(words);
    expect(() => readLengthPrefixed(packed.subarray(0, packed.length - 1), 3, 'raw_input_contents[0]')).toThrow(/raw_input_contents\[0\]: expected element 2 of 3 bytes/);
  });

  it('refuses out-of-range typed values, negative dimensions, raw/input count mismatches and too many elements', () => {
    const limits = { maxTensorElements: 10 };
    expect(() => decodeGrpcInputs({ inputs: [{ name: 'x', datatype: 'INT8', shape: ['1'], contents: { int_contents: [300] } }] }, limits)).toThrow(/inputs\[0\]\.contents\.int_contents\[0\]: expected a INT8 in \[-128, 127\], got 300/);
    expect(() => decodeGrpcInputs({ inputs: [{ name: 'x', datatype: 'FP32', shape: ['-1'] }] }, limits)).toThrow(/inputs\[0\]\.shape: expected dimensions >= 0/);
    expect(() => decodeGrpcInputs({ inputs: [{ name: 'x', datatype: 'FP32', shape: ['1'] }, { name: 'y', datatype: 'FP32', shape: ['1'] }], raw_input_contents: [Buffer.alloc(4)] }, limits)).toThrow(/raw_input_contents: expected one entry per input \(2\), got 1/);
    expect(() => decodeGrpcInputs({ inputs: [{ name: 'x', datatype: 'FP32', shape: ['11'] }] }, limits)).toThrow(/more than the limit of 10/);
    expect(() => decodeGrpcInputs({ inputs: [{ name: 'x', datatype: 'FLOAT', shape: ['1'] }] }, limits)).toThrow(/inputs\[0\]\.datatype: expected one of BOOL/);
    expect(() => decodeGrpcInputs({ inputs: [] }, limits)).toThrow(/inputs: expected at least one input tensor/);
    // elements in both forms at once: refused, not one silently ignored
    expect(() => decodeGrpcInputs({ inputs: [{ name: 'x', datatype: 'FP32', shape: ['1'], contents: { fp32_contents: [1] } }], raw_input_contents: [Buffer.alloc(4)] }, limits)).toThrow(
      /inputs\[0\]\.contents\.fp32_contents: give the elements either in contents or in raw_input_contents, not both/,
    );
    // BYTES are text: bytes that are not UTF-8 are refused, raw and typed, never replaced
    expect(() => decodeGrpcInputs({ inputs: [{ name: 's', datatype: 'BYTES', shape: ['1'] }], raw_input_contents: [Buffer.from([2, 0, 0, 0, 0xff, 0xfe])] }, limits)).toThrow(/raw_input_contents\[0\]: element 0 is not UTF-8 text/);
    expect(() => decodeGrpcInputs({ inputs: [{ name: 's', datatype: 'BYTES', shape: ['1'], contents: { bytes_contents: [Buffer.from([0xc3])] } }] }, limits)).toThrow(/inputs\[0\]\.contents\.bytes_contents: element 0 is not UTF-8 text/);
  });
});

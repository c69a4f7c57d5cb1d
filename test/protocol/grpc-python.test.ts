/*
 * Berth's gRPC service from another language: a Python grpcio client whose stubs are generated
 * from proto/grpc_predict_v2.proto at run time (test/protocol/grpc_interop.py) calls every
 * implemented RPC of two real servers. Every fixture with a golden.json is deployed; each golden
 * case is sent raw and typed, and each answer must match the golden outputs and, element for
 * element, the REST-JSON answer of the same server. The Python script only reports; this file
 * judges.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protoPath } from '../../src/protocol/index.js';
import {
  FIXTURES,
  FIXTURE_MODELS,
  compareToGolden,
  fixturePath,
  flatten,
  readCardJson,
  readGolden,
  v2Datatype,
  type GoldenCase,
} from '../helpers/fixtures.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./grpc_interop.py', import.meta.url));
const PYTHON_GRPC_SKIP_REASON = `Python gRPC interop skipped: ${PYTHON} cannot import grpc and grpc_tools; apt-get install python3-grpcio python3-grpc-tools to run it`;

function pythonGrpcAvailable(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import grpc, grpc_tools.protoc'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

const HAVE_PYTHON_GRPC = pythonGrpcAvailable();
if (!HAVE_PYTHON_GRPC) console.warn(`grpc-python: ${PYTHON_GRPC_SKIP_REASON}`);

/** Every fixture folder with golden outputs: each must be served, or the test says why not. */
const GOLDEN_FIXTURES = existsSync(FIXTURES)
  ? readdirSync(FIXTURES, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(fixturePath(d.name, 'golden.json')))
      .map((d) => d.name)
      .sort()
  : [];

const ADMIN = 'grpc-python-admin-token-0123456789';
const AUTH_MODEL = 'breast-cancer-logreg';
const STREAM_ROWS = 3;
const UNKNOWN = 'no-such-deployment';

/** The typed field each fixture datatype's elements come back in. */
const CONTENTS_FIELD: Readonly<Record<string, string>> = { FP32: 'fp32_contents', FP64: 'fp64_contents', INT64: 'int64_contents', INT32: 'int_contents', BYTES: 'bytes_contents', BOOL: 'bool_contents' };

type Mode = 'raw' | 'typed';
type Credentials = 'token' | 'none' | 'wrong';

interface JobTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}
interface InferSpec {
  model: string;
  version?: string;
  id: string;
  mode: Mode;
  inputs: JobTensor[];
}
type Step = { label: string; credentials?: Credentials } & (
  | { rpc: 'ModelInfer'; infer: InferSpec }
  | { rpc: 'ModelStreamInfer'; stream: InferSpec[] }
  | { rpc: string; request: Record<string, unknown> }
);

interface PyOutput {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
  contents_fields: string[];
}
interface PyInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  raw_output_count: number;
  outputs: PyOutput[];
}
interface PyResult {
  label: string;
  ok: boolean;
  code: string;
  details?: string;
  trailing?: Record<string, string>;
  response?: Record<string, unknown>;
  answers?: { error_message: string; response: PyInferResponse }[];
}

interface CardIO {
  name: string;
  dtype: string;
  shape: number[];
}

/** The golden case's inputs (rows `rows`, all by default) in the card's input order, flat. */
function caseInputs(model: string, c: GoldenCase, rows?: [number, number]): JobTensor[] {
  const card = readCardJson(model) as unknown as { inputs: CardIO[] };
  return card.inputs.map((i) => {
    const g = c.inputs[i.name]!;
    const flat = flatten(g.data);
    const [start, end] = rows ?? [0, g.shape[0]!];
    const per = flat.length / g.shape[0]!;
    return { name: i.name, datatype: v2Datatype(g.dtype), shape: [end - start, ...g.shape.slice(1)], data: flat.slice(start * per, end * per) };
  });
}

function inferStep(label: string, spec: InferSpec, credentials?: Credentials): Step {
  return { label, rpc: 'ModelInfer', infer: spec, ...(credentials ? { credentials } : {}) };
}

function unaryStep(label: string, rpc: string, request: Record<string, unknown> = {}, credentials?: Credentials): Step {
  return { label, rpc, request, ...(credentials ? { credentials } : {}) };
}

interface InferCase {
  model: string;
  c: GoldenCase;
  mode: Mode;
  label: string;
}
interface StreamRequest {
  model: string;
  c: GoldenCase;
  spec: InferSpec;
  rows: [number, number];
}

/**
 * The dev server's job: every RPC, every served fixture's golden cases raw and typed, one stream
 * carrying slices of every fixture, the errors, then the repository RPCs.
 */
function devJob(served: readonly string[]): { steps: Step[]; inferCases: InferCase[]; streamRequests: StreamRequest[] } {
  const bcInputs = caseInputs(AUTH_MODEL, readGolden(AUTH_MODEL).cases[0]!);
  const input0 = bcInputs[0]!;
  const inferCases: InferCase[] = [];
  const steps: Step[] = [unaryStep('live', 'ServerLive'), unaryStep('ready', 'ServerReady'), unaryStep('server-metadata', 'ServerMetadata')];
  for (const m of served) steps.push(unaryStep(`metadata:${m}`, 'ModelMetadata', { name: m }));
  for (const m of served) {
    for (const c of readGolden(m).cases) {
      for (const mode of ['raw', 'typed'] as const) {
        const label = `infer:${m}:${c.name}:${mode}`;
        inferCases.push({ model: m, c, mode, label });
        steps.push(inferStep(label, { model: m, id: label, mode, inputs: caseInputs(m, c) }));
      }
    }
  }
  for (const m of served) steps.push(unaryStep(`model-ready:${m}`, 'ModelReady', { name: m }));
  steps.push(
    unaryStep('metadata-version', 'ModelMetadata', { name: AUTH_MODEL, version: '1' }),
    unaryStep('ready-version', 'ModelReady', { name: AUTH_MODEL, version: '1' }),
    inferStep('infer-version', { model: AUTH_MODEL, version: '1', id: 'v1', mode: 'typed', inputs: bcInputs }),
  );
  // one stream, every request written before any answer is read: two slices per fixture
  // (one raw, one typed) and one for a deployment that does not exist, answered in place
  const streamRequests: StreamRequest[] = [];
  served.forEach((m, k) => {
    const c = readGolden(m).cases[0]!;
    const starts = Object.values(c.inputs)[0]!.shape[0]! - STREAM_ROWS + 1;
    (['raw', 'typed'] as const).forEach((mode, j) => {
      const start = ((2 * k + j) * STREAM_ROWS) % starts;
      const rows: [number, number] = [start, start + STREAM_ROWS];
      streamRequests.push({ model: m, c, spec: { model: m, id: `stream:${m}:${mode}`, mode, inputs: caseInputs(m, c, rows) }, rows });
    });
  });
  const stream = streamRequests.map((r) => r.spec);
  stream.splice(3, 0, { model: UNKNOWN, id: 'stream:unknown', mode: 'raw', inputs: bcInputs });
  steps.push(
    { label: 'stream', rpc: 'ModelStreamInfer', stream },
    inferStep('error:unknown-model', { model: UNKNOWN, id: 'e1', mode: 'raw', inputs: bcInputs }),
    unaryStep('error:unknown-metadata', 'ModelMetadata', { name: UNKNOWN }),
    unaryStep('error:unknown-ready', 'ModelReady', { name: UNKNOWN }),
    unaryStep('error:unknown-version', 'ModelMetadata', { name: AUTH_MODEL, version: '7' }),
    unaryStep('error:no-name', 'ModelMetadata', {}),
    inferStep('error:infer-unknown-version', { model: AUTH_MODEL, version: '7', id: 'e5', mode: 'raw', inputs: bcInputs }),
    // 32 rows of bytes under a 1-row shape
    inferStep('error:raw-size', { model: AUTH_MODEL, id: 'e2', mode: 'raw', inputs: [{ ...input0, shape: [1, 30] }] }),
    // a consistent tensor of the wrong shape for the model
    inferStep('error:model-shape', { model: AUTH_MODEL, id: 'e3', mode: 'typed', inputs: [{ ...input0, shape: [32, 29], data: input0.data.slice(0, 32 * 29) }] }),
    // fewer typed elements than the shape says
    inferStep('error:typed-count', { model: AUTH_MODEL, id: 'e4', mode: 'typed', inputs: [{ ...input0, data: input0.data.slice(30) }] }),
    // the repository: list, unload one, see it gone from the ready list, load it, use it again
    unaryStep('index', 'RepositoryIndex'),
    unaryStep('unload', 'RepositoryModelUnload', { model_name: AUTH_MODEL }),
    unaryStep('ready-after-unload', 'ModelReady', { name: AUTH_MODEL }),
    unaryStep('index-ready-after-unload', 'RepositoryIndex', { ready: true }),
    unaryStep('load', 'RepositoryModelLoad', { model_name: AUTH_MODEL }),
    unaryStep('ready-after-load', 'ModelReady', { name: AUTH_MODEL }),
    inferStep('infer-after-load', { model: AUTH_MODEL, id: 'after-load', mode: 'raw', inputs: bcInputs }),
    unaryStep('error:unload-unknown', 'RepositoryModelUnload', { model_name: UNKNOWN }),
  );
  return { steps, inferCases, streamRequests };
}

/** The secured server's job (deployment `bc`): refusals without valid credentials, work with a predict token. */
function securedSteps(): Step[] {
  const bcInputs = caseInputs(AUTH_MODEL, readGolden(AUTH_MODEL).cases[0]!);
  const bcSpec = (id: string, mode: Mode): InferSpec => ({ model: 'bc', id, mode, inputs: bcInputs });
  return [
    unaryStep('live-anonymous', 'ServerLive', {}, 'none'),
    inferStep('infer-anonymous', bcSpec('a1', 'raw'), 'none'),
    inferStep('infer-wrong-token', bcSpec('a2', 'raw'), 'wrong'),
    unaryStep('metadata-anonymous', 'ModelMetadata', { name: 'bc' }, 'none'),
    unaryStep('index-anonymous', 'RepositoryIndex', {}, 'none'),
    { label: 'stream-anonymous', rpc: 'ModelStreamInfer', stream: [bcSpec('a3', 'raw'), bcSpec('a4', 'typed')], credentials: 'none' },
    inferStep('infer-token-raw', bcSpec('a5', 'raw')),
    inferStep('infer-token-typed', bcSpec('a6', 'typed')),
    unaryStep('metadata-token', 'ModelMetadata', { name: 'bc' }),
    { label: 'stream-token', rpc: 'ModelStreamInfer', stream: [bcSpec('a7', 'raw'), bcSpec('a8', 'typed')] },
    unaryStep('unload-predict-token', 'RepositoryModelUnload', { model_name: 'bc' }),
  ];
}

/** Run the Python client on one job; its stdout is the JSON result. */
async function runPython(address: string, token: string | null, steps: Step[], dir: string): Promise<Map<string, PyResult>> {
  const stubs = path.join(dir, 'stubs');
  mkdirSync(stubs);
  const job = path.join(dir, 'job.json');
  writeFileSync(job, JSON.stringify({ token, steps }));
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      PYTHON,
      [SCRIPT, '--proto', protoPath(), '--stubs', stubs, '--address', address, '--job', job],
      { timeout: 120_000, maxBuffer: 256 * 1024 * 1024 },
      (err, out, errOut) => (err ? reject(new Error(`${SCRIPT} failed: ${err.message}\n${errOut}`)) : resolve(out)),
    );
  });
  const results = (JSON.parse(stdout) as { steps: PyResult[] }).steps;
  expect(results.map((r) => r.label)).toEqual(steps.map((s) => s.label));
  return new Map(results.map((r) => [r.label, r]));
}

function result(results: Map<string, PyResult>, label: string): PyResult {
  const r = results.get(label);
  if (!r) throw new Error(`no result for step ${label}`);
  return r;
}

/** A successful unary answer's response, or a failed assertion naming the status. */
function okResponse<T = Record<string, unknown>>(r: PyResult): T {
  expect(r.ok, `${r.label}: ${r.code} ${r.details ?? ''}`).toBe(true);
  return r.response as T;
}

function expectRefusal(r: PyResult, code: string, berthCode: string, field?: string): void {
  expect(r.ok, `${r.label} should have failed`).toBe(false);
  expect(r.code, `${r.label}: ${r.details ?? ''}`).toBe(code);
  expect(r.trailing?.['berth-code'], r.label).toBe(berthCode);
  if (field !== undefined) expect(r.trailing?.['berth-field'], r.label).toBe(field);
}

/** The answer came back the way the inputs went: raw_output_contents for raw, typed contents for typed. */
function expectSameWay(res: PyInferResponse, mode: Mode, where: string): void {
  if (mode === 'raw') {
    expect(res.raw_output_count, where).toBe(res.outputs.length);
    for (const o of res.outputs) expect(o.contents_fields, `${where} ${o.name}`).toEqual([]);
  } else {
    expect(res.raw_output_count, where).toBe(0);
    for (const o of res.outputs) expect(o.contents_fields, `${where} ${o.name}`).toEqual([CONTENTS_FIELD[o.datatype]]);
  }
}

function expectGolden(model: string, c: GoldenCase, res: PyInferResponse, where: string, rows?: [number, number]): void {
  const golden = readGolden(model);
  expect(res.outputs.map((o) => o.name).sort(), where).toEqual(Object.keys(c.expected).sort());
  for (const o of res.outputs) {
    const expected = c.expected[o.name]!;
    expect(o.datatype, `${where} ${o.name}`).toBe(v2Datatype(expected.dtype));
    const shape = expected.shape.slice();
    if (rows) shape[0] = rows[1] - rows[0];
    expect(o.shape.map(Number), `${where} ${o.name}`).toEqual(shape);
    expect(compareToGolden(o.data, expected, golden.tolerance[o.name]!, rows), `${where} ${o.name}`).toBeNull();
  }
}

interface RestOutput {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

/** REST-JSON values as gRPC carries them: FP32 numbers are float32, whatever digits JSON used. */
function asFloat32(datatype: string, data: unknown[]): unknown[] {
  return datatype === 'FP32' ? data.map((x) => (typeof x === 'number' ? Math.fround(x) : x)) : data;
}

describe.skipIf(!HAVE_PYTHON_GRPC)(`Python grpcio client against Berth's gRPC service${HAVE_PYTHON_GRPC ? '' : ` (${PYTHON_GRPC_SKIP_REASON})`}`, () => {
  let work: string;
  const unservable = new Map<string, string>();
  const served: string[] = [];
  const inferCases: InferCase[] = [];
  const streamRequests: StreamRequest[] = [];
  const rest = new Map<string, { status: number; text: string; outputs: RestOutput[] }>();
  let dev: TestServer;
  let secured: TestServer;
  let devResults: Map<string, PyResult>;
  let authResults: Map<string, PyResult>;
  let predictToken: string;
  let restMetadata: Map<string, Record<string, unknown>>;
  let restServer: Record<string, unknown>;
  let restIndex: unknown;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'berth-grpc-python-'));
    dev = await startServer({ server: { grpcPort: 0 } });
    secured = await startServer({ server: { grpcPort: 0 }, auth: { dev: false } }, { adminToken: ADMIN });
    for (const m of GOLDEN_FIXTURES) {
      try {
        await deployFixture(dev, m);
        served.push(m);
      } catch (err) {
        unservable.set(m, err instanceof Error ? err.message : String(err));
      }
    }
    await deployFixture(secured, AUTH_MODEL, { deployment: 'bc' });
    predictToken = (await secured.server.tokens.create({ name: 'python-app', scopes: ['predict:bc'], expiresAt: null })).token;

    const job = devJob(served);
    inferCases.push(...job.inferCases);
    streamRequests.push(...job.streamRequests);

    [devResults, authResults] = await Promise.all([
      runPython(dev.server.grpcAddress!, null, job.steps, mkdtempSync(path.join(work, 'dev-'))),
      runPython(secured.server.grpcAddress!, predictToken, securedSteps(), mkdtempSync(path.join(work, 'auth-'))),
    ]);

    // the same questions to the same server over REST
    for (const { model, c, label } of inferCases) {
      if (rest.has(`${model}:${c.name}`)) continue;
      const inputs = caseInputs(model, c);
      const res = await post<{ outputs: RestOutput[] }>(`${dev.url}/v2/models/${model}/infer`, { id: label, inputs });
      rest.set(`${model}:${c.name}`, { status: res.status, text: res.text, outputs: res.body.outputs });
    }
    restMetadata = new Map();
    for (const m of served) restMetadata.set(m, (await get(`${dev.url}/v2/models/${m}`)).body);
    restServer = (await get(`${dev.url}/v2`)).body;
    restIndex = (await post(`${dev.url}/v2/repository/index`, {})).body;
  }, 180_000);

  afterAll(async () => {
    await dev?.close();
    await secured?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('finds every fixture with golden outputs and serves each of them', () => {
    expect(GOLDEN_FIXTURES.length, `no fixture with a golden.json under ${FIXTURES}`).toBeGreaterThan(0);
    for (const m of FIXTURE_MODELS) expect(GOLDEN_FIXTURES, `fixture ${m} (test/helpers/fixtures.ts) has no golden.json under ${FIXTURES}`).toContain(m);
    for (const m of GOLDEN_FIXTURES) expect(unservable.get(m), `fixture ${m} has a golden.json but Berth cannot serve it`).toBeUndefined();
  });

  it('answers ServerLive, ServerReady and ServerMetadata as REST answers GET /v2', () => {
    expect(okResponse(result(devResults, 'live'))).toEqual({ live: true });
    expect(okResponse(result(devResults, 'ready'))).toEqual({ ready: true });
    const meta = okResponse(result(devResults, 'server-metadata'));
    expect(meta).toEqual({ name: restServer['name'], version: restServer['version'], extensions: restServer['extensions'] });
    expect(meta['name']).toBe('berth');
  });

  it('answers ModelMetadata with the card\'s tensors, as REST answers GET /v2/models/<name>', () => {
    for (const m of served) {
      const meta = okResponse<{ name: string; versions: string[]; platform: string; inputs: { name: string; datatype: string; shape: string[] }[]; outputs: { name: string; datatype: string; shape: string[] }[] }>(
        result(devResults, `metadata:${m}`),
      );
      const r = restMetadata.get(m)!;
      // the proto's TensorMetadata has no parameters: REST's feature_names do not travel over gRPC
      const tensors = (ts: { name: string; datatype: string; shape: (string | number)[] }[]): unknown[] => ts.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(Number) }));
      const restTensors = (key: string): unknown[] => tensors(r[key] as { name: string; datatype: string; shape: number[] }[]);
      expect({ ...meta, inputs: tensors(meta.inputs), outputs: tensors(meta.outputs) }, m).toEqual({ name: r['name'], versions: r['versions'], platform: r['platform'], inputs: restTensors('inputs'), outputs: restTensors('outputs') });
      const card = readCardJson(m) as unknown as { inputs: CardIO[] };
      expect(tensors(meta.inputs), m).toEqual(card.inputs.map((i) => ({ name: i.name, datatype: v2Datatype(i.dtype), shape: i.shape })));
    }
  });

  it('answers every golden case raw and typed, the way it was asked, within the golden tolerances', () => {
    expect(inferCases.length).toBeGreaterThanOrEqual(2 * served.length);
    for (const { model, c, mode, label } of inferCases) {
      const res = okResponse<PyInferResponse>(result(devResults, label));
      expect(res.model_name, label).toBe(model);
      expect(res.model_version, label).toBe('1');
      expect(res.id, label).toBe(label);
      expectSameWay(res, mode, label);
      expectGolden(model, c, res, label);
    }
  });

  it('answers every golden case raw and typed with exactly the values REST-JSON gives for the same inputs', () => {
    for (const { model, c, label } of inferCases) {
      const r = rest.get(`${model}:${c.name}`)!;
      expect(r.status, `${label} over REST: ${r.text.slice(0, 300)}`).toBe(200);
      const res = okResponse<PyInferResponse>(result(devResults, label));
      for (const o of res.outputs) {
        const twin = r.outputs.find((x) => x.name === o.name);
        expect(twin, `${label} ${o.name} over REST`).toBeDefined();
        expect(o.datatype, `${label} ${o.name}`).toBe(twin!.datatype);
        expect(o.shape.map(Number), `${label} ${o.name}`).toEqual(twin!.shape);
        expect(o.data, `${label} ${o.name}`).toEqual(asFloat32(twin!.datatype, flatten(twin!.data)));
      }
    }
  });

  it('reports every deployment ready once it has answered, and takes an explicit version', () => {
    for (const m of served) expect(okResponse(result(devResults, `model-ready:${m}`)), m).toEqual({ ready: true });
    expect(okResponse(result(devResults, 'ready-version'))).toEqual({ ready: true });
    expect(okResponse(result(devResults, 'metadata-version'))['versions']).toEqual(['1']);
    const res = okResponse<PyInferResponse>(result(devResults, 'infer-version'));
    expect(res.model_version).toBe('1');
    expectSameWay(res, 'typed', 'infer-version');
    expectGolden(AUTH_MODEL, readGolden(AUTH_MODEL).cases[0]!, res, 'infer-version');
  });

  it('answers every request pipelined on one ModelStreamInfer stream once, with its id, a failed one in place', () => {
    const r = result(devResults, 'stream');
    expect(r.ok, `${r.code} ${r.details ?? ''}`).toBe(true);
    const answers = r.answers!;
    const ids = answers.map((a) => a.response.id);
    expect([...ids].sort()).toEqual([...streamRequests.map((s) => s.spec.id), 'stream:unknown'].sort());
    for (const { model, c, spec, rows } of streamRequests) {
      const a = answers.find((x) => x.response.id === spec.id)!;
      expect(a.error_message, spec.id).toBe('');
      expect(a.response.model_name, spec.id).toBe(model);
      expectSameWay(a.response, spec.mode, spec.id);
      expectGolden(model, c, a.response, spec.id, rows);
    }
    const failed = answers.find((a) => a.response.id === 'stream:unknown')!;
    expect(failed.error_message).toMatch(/^DEPLOYMENT_NOT_FOUND: .*no-such-deployment/);
    expect(failed.response.model_name).toBe(UNKNOWN);
  });

  it('refuses an unknown model with NOT_FOUND and malformed tensors with INVALID_ARGUMENT naming the field', () => {
    for (const label of ['error:unknown-model', 'error:unknown-metadata', 'error:unknown-ready', 'error:unload-unknown']) {
      const r = result(devResults, label);
      expectRefusal(r, 'NOT_FOUND', 'DEPLOYMENT_NOT_FOUND');
      expect(r.details, label).toMatch(/no-such-deployment/);
    }
    for (const label of ['error:unknown-version', 'error:infer-unknown-version']) expectRefusal(result(devResults, label), 'NOT_FOUND', 'VERSION_NOT_FOUND');
    const noName = result(devResults, 'error:no-name');
    expectRefusal(noName, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'name');
    expect(noName.details).toBe('name: ModelMetadata needs the model\'s name, got ""');
    const size = result(devResults, 'error:raw-size');
    expectRefusal(size, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'raw_input_contents[0]');
    expect(size.details).toMatch(/^raw_input_contents\[0\]: expected 120 bytes .*got 3840/);
    const shape = result(devResults, 'error:model-shape');
    expectRefusal(shape, 'INVALID_ARGUMENT', 'INVALID_INPUT', 'input');
    expect(shape.details).toMatch(/^input "input": expected shape \[-1, 30\], got \[32, 29\]/);
    const count = result(devResults, 'error:typed-count');
    expectRefusal(count, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'inputs[0].contents.fp32_contents');
    expect(count.details).toBe('inputs[0].contents.fp32_contents: expected 960 elements (the shape\'s count), got 930');
  });

  it('lists, unloads and loads deployments through the repository RPCs, as REST lists them', () => {
    const index = okResponse<{ models: { name: string; version: string; state: string; reason: string }[] }>(result(devResults, 'index'));
    expect(index.models.map((x) => x.name).sort()).toEqual([...served].sort());
    for (const x of index.models) expect(x, x.name).toEqual({ name: x.name, version: '1', state: 'READY', reason: '' });
    // REST answers the bare list (v2 REST), gRPC wraps it in `models`
    expect(index.models).toEqual(restIndex);
    expect(okResponse(result(devResults, 'unload'))).toEqual({});
    expect(okResponse(result(devResults, 'ready-after-unload'))).toEqual({ ready: false });
    const readyOnly = okResponse<{ models: { name: string }[] }>(result(devResults, 'index-ready-after-unload'));
    expect(readyOnly.models.map((x) => x.name).sort()).toEqual(served.filter((m) => m !== AUTH_MODEL).sort());
    expect(okResponse(result(devResults, 'load'))).toEqual({});
    expect(okResponse(result(devResults, 'ready-after-load'))).toEqual({ ready: true });
    const after = okResponse<PyInferResponse>(result(devResults, 'infer-after-load'));
    expectGolden(AUTH_MODEL, readGolden(AUTH_MODEL).cases[0]!, after, 'infer-after-load');
  });

  it('behind authentication: refuses calls without valid credentials, works with a Bearer token', () => {
    expect(okResponse(result(authResults, 'live-anonymous'))).toEqual({ live: true });
    for (const label of ['infer-anonymous', 'infer-wrong-token', 'metadata-anonymous', 'index-anonymous']) expectRefusal(result(authResults, label), 'UNAUTHENTICATED', 'UNAUTHENTICATED');
    const anonymous = result(authResults, 'stream-anonymous');
    expect(anonymous.ok, `${anonymous.code} ${anonymous.details ?? ''}`).toBe(true);
    expect(anonymous.answers!.map((a) => a.response.id).sort()).toEqual(['a3', 'a4']);
    for (const a of anonymous.answers!) {
      expect(a.error_message, a.response.id).toMatch(/^UNAUTHENTICATED: /);
      expect(a.response.outputs, a.response.id).toEqual([]);
    }
    const bc = readGolden(AUTH_MODEL).cases[0]!;
    for (const [label, mode] of [['infer-token-raw', 'raw'], ['infer-token-typed', 'typed']] as const) {
      const res = okResponse<PyInferResponse>(result(authResults, label));
      expectSameWay(res, mode, label);
      expectGolden(AUTH_MODEL, bc, res, label);
    }
    expect(okResponse(result(authResults, 'metadata-token'))['name']).toBe('bc');
    const streamed = result(authResults, 'stream-token');
    expect(streamed.answers!.map((a) => a.response.id).sort()).toEqual(['a7', 'a8']);
    for (const a of streamed.answers!) {
      expect(a.error_message, a.response.id).toBe('');
      expectGolden(AUTH_MODEL, bc, a.response, a.response.id);
    }
    // a predict scope runs the model but does not manage it
    expectRefusal(result(authResults, 'unload-predict-token'), 'PERMISSION_DENIED', 'FORBIDDEN');
  });
});

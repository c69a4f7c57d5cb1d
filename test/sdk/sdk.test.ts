/*
 * The TypeScript SDK (`berth/sdk`) against a real server with real models, over REST-JSON,
 * REST-binary and gRPC: every fixture's golden answers, every datatype through an Identity model
 * (the three transports must answer identical tensors), the management API, errors as classes with
 * the server's code, retries that honour Retry-After, deadlines and cancellation; pipelines, their
 * runs (wait, logs, follow, cancel) and lineage.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BerthApiError,
  BerthClientError,
  ConflictError,
  createClient,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  type BerthClient,
  type ClientOptions,
  type Datatype,
  type RunLogLine,
  type Tensor,
} from 'berth/sdk';
import { OnnxBackend } from '../../src/runtime/index.js';
import { compareToGolden, FIXTURE_MODELS, fixturePath, goldenTensor, readGolden } from '../helpers/fixtures.js';
import { identityModel, ONNX_ELEM_TYPES } from '../helpers/onnx-proto.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

const TRANSPORTS = ['rest-json', 'rest-binary', 'grpc'] as const;
type Transport = (typeof TRANSPORTS)[number];

function clientFor(ts: TestServer, t: Transport, extra: Partial<ClientOptions> = {}): BerthClient {
  if (t === 'grpc') return createClient({ url: `grpc://${ts.server.grpcAddress!}`, managementUrl: ts.url, ...extra });
  return createClient({ url: ts.url, binary: t === 'rest-binary', ...extra });
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err, 'the call should have failed').toBeInstanceOf(Error);
  return err!;
}

/** A tensor's data as comparable values (bits for floats, so NaN compares equal to itself). */
function comparable(t: Tensor): unknown[] {
  if (t.datatype === 'BYTES') return (t.data as (string | Uint8Array)[]).map((v) => (typeof v === 'string' ? v : Buffer.from(v).toString('hex')));
  const d = t.data as Float32Array;
  return Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}

const backend = new OnnxBackend();

describe('the SDK over REST-JSON, REST-binary and gRPC', () => {
  let ts: TestServer;
  let dir: string;
  const clients = {} as Record<Transport, BerthClient>;

  beforeAll(async () => {
    ts = await startServer({ server: { grpcPort: 0 } });
    dir = ts.dataDir;
    for (const m of FIXTURE_MODELS) await deployFixture(ts, m, { deployment: m });
    for (const dt of Object.keys(ONNX_ELEM_TYPES) as Datatype[]) {
      const file = path.join(dir, `id-${dt}.onnx`);
      writeFileSync(file, identityModel(ONNX_ELEM_TYPES[dt], 3));
      const name = `id-${dt.toLowerCase()}`;
      await ts.server.registry.registerVersion({ name, filePath: file, inspect: (b) => backend.inspect(b) });
      await ts.server.registry.deploy({ name, model: name, target: { kind: 'version', version: 1 } });
    }
    await ts.server.registry.deploy({ name: 'slow', model: 'breast-cancer-logreg', target: { kind: 'version', version: 1 }, settings: { maxQueueDelayMs: 1500, maxBatchSize: 64 } });
    await ts.server.service.refresh();
    for (const t of TRANSPORTS) clients[t] = clientFor(ts, t);
  }, 120_000);

  afterAll(async () => {
    for (const c of Object.values(clients)) await c.close();
    await ts?.close();
  });

  it.each(FIXTURE_MODELS)('%s: every golden case, the same tensors over all three transports', async (model) => {
    const golden = readGolden(model);
    for (const c of golden.cases) {
      const inputs = Object.entries(c.inputs).map(([name, g]) => {
        const t = goldenTensor(name, g);
        return { name, datatype: t.datatype, shape: t.shape, data: t.data };
      });
      const answers = await Promise.all(TRANSPORTS.map((t) => clients[t].infer(model, inputs, { id: `${model}-${c.name}` })));
      for (const [k, r] of answers.entries()) {
        const where = `${model} ${c.name} over ${TRANSPORTS[k]}`;
        expect(r.modelName, where).toBe(model);
        expect(r.id, where).toBe(`${model}-${c.name}`);
        for (const [name, expected] of Object.entries(c.expected)) {
          const out = r.output(name);
          expect(out.shape, `${where}: ${name}`).toEqual(expected.shape);
          expect(compareToGolden(out.data as ArrayLike<unknown>, expected, golden.tolerance[name]!), `${where}: ${name}`).toBeNull();
        }
      }
      // not merely close to the golden values: the transports agree bit for bit
      const [json, binary, grpc] = answers.map((r) => r.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, data: comparable(o) })));
      expect(binary).toEqual(json);
      expect(grpc).toEqual(json);
    }
  });

  const SAMPLES: Record<Datatype, Tensor['data']> = {
    BOOL: new Uint8Array([1, 0, 1, 0, 0, 1]),
    UINT8: new Uint8Array([0, 128, 255, 1, 2, 3]),
    UINT16: new Uint16Array([0, 1000, 65535, 7, 8, 9]),
    UINT32: new Uint32Array([0, 70000, 4294967295, 1, 2, 3]),
    UINT64: new BigUint64Array([0n, 9007199254740993n, 18446744073709551615n, 1n, 2n, 3n]),
    INT8: new Int8Array([-128, 0, 127, 1, -1, 5]),
    INT16: new Int16Array([-32768, 0, 32767, 1, -1, 5]),
    INT32: new Int32Array([-2147483648, 0, 2147483647, 1, -1, 5]),
    INT64: new BigInt64Array([-9223372036854775808n, 42n, 9223372036854775807n, 9007199254740993n, -1n, 0n]),
    FP16: new Uint16Array([0x3e00, 0xfbff, 0x1400, 0x7c00, 0x0001, 0x7e00]),
    FP32: new Float32Array([3.5, -0.125, NaN, Infinity, 1e-45, -3.4028234663852886e38]),
    FP64: new Float64Array([0.1, -1e300, -Infinity, NaN, 5e-324, 1 / 3]),
    BYTES: ['plain', 'with "quotes" and\nnewline', 'ünïcødé ✓', '', 'x'.repeat(300), '🚢 berth'],
  };

  it.each(Object.keys(SAMPLES) as Datatype[])('datatype %s goes in and comes back identical over every transport', async (dt) => {
    const input = { name: 'X', datatype: dt, shape: [2, 3], data: SAMPLES[dt] };
    for (const t of TRANSPORTS) {
      const y = (await clients[t].infer(`id-${dt.toLowerCase()}`, [input])).output('Y');
      expect(y.datatype, t).toBe(dt);
      expect(y.shape, t).toEqual([2, 3]);
      expect(comparable(y), `${dt} over ${t}`).toEqual(comparable(input as Tensor));
      if (dt !== 'BYTES') expect(y.data.constructor, t).toBe(SAMPLES[dt].constructor);
    }
  });

  it('takes inputs by name with the datatype read off the typed array', async () => {
    const data = goldenTensor('input', readGolden('breast-cancer-logreg').cases[0]!.inputs['input']!).data as Float32Array;
    for (const t of TRANSPORTS) {
      const r = await clients[t].infer('breast-cancer-logreg', { input: { data, shape: [data.length / 30, 30] } }, { outputs: ['probabilities'] });
      expect(r.outputs.map((o) => o.name), t).toEqual(['probabilities']);
      expect(r.output('probabilities').data, t).toBeInstanceOf(Float32Array);
      expect(() => r.output('label')).toThrow(/no output named "label".*probabilities/);
    }
  });

  it('health, metadata, statistics and the repository answer alike over REST and gRPC', async () => {
    for (const t of TRANSPORTS) {
      const c = clients[t];
      expect(await c.live(), t).toBe(true);
      expect(await c.ready(), t).toBe(true);
      expect(await c.modelReady('breast-cancer-logreg'), t).toBe(true);
      expect((await c.serverMetadata()).extensions, t).toContain('statistics');
      const md = await c.modelMetadata('wide-mlp');
      expect(md.inputs[0], t).toMatchObject({ name: 'input', datatype: 'FP32', shape: [-1, 256] });
      const [s] = await c.statistics('breast-cancer-logreg');
      expect(s!.name, t).toBe('breast-cancer-logreg');
      expect(s!.inferenceStats.success.count, t).toBeGreaterThan(0);
      expect(s!.inferenceStats.computeInfer.ns, t).toBeGreaterThan(0);
      const index = await c.repositoryIndex();
      expect(index.find((m) => m.name === 'wide-mlp')?.state, t).toBe('READY');
    }
    // the two transports read the same counters
    const [rest] = await clients['rest-json'].statistics('credit');
    const [grpc] = await clients.grpc.statistics('credit');
    expect(grpc!.inferenceCount).toBe(rest!.inferenceCount);
    expect(grpc!.inferenceStats.success).toEqual(rest!.inferenceStats.success);
  });

  it('refusals are error classes carrying the server code and field, over every transport', async () => {
    for (const t of TRANSPORTS) {
      const bad = await failure(clients[t].infer('breast-cancer-logreg', { input: { data: new Float32Array(29), shape: [1, 29] } }));
      expect(bad, t).toBeInstanceOf(InvalidRequestError);
      expect(bad, t).toMatchObject({ code: 'INVALID_INPUT', status: 400, transport: t === 'grpc' ? 'grpc' : 'rest' });
      expect(bad.message, t).toMatch(/expected shape \[-1, 30\], got \[1, 29\]/);
      const missing = await failure(clients[t].infer('no-such-deployment', { input: new Float32Array(30) }));
      expect(missing, t).toBeInstanceOf(NotFoundError);
      expect((missing as BerthApiError).code, t).toBe('DEPLOYMENT_NOT_FOUND');
      // bytes that are not text: JSON cannot carry them, the binary forms reach the server, which names the element
      const notText = await failure(clients[t].infer('id-bytes', [{ name: 'X', datatype: 'BYTES', shape: [1, 3], data: ['a', new Uint8Array([0xff, 0xfe]), 'c'] }]));
      if (t === 'rest-json') expect(notText, t).toMatchObject({ name: 'BerthClientError', code: 'INVALID_ARGUMENT' });
      else expect(notText, t).toBeInstanceOf(InvalidRequestError);
      expect(notText.message, t).toMatch(/element 1 is not UTF-8/);
      // the runtime's strings end at a NUL: refused rather than cut short
      const nul = await failure(clients[t].infer('id-bytes', [{ name: 'X', datatype: 'BYTES', shape: [1, 3], data: ['a', 'b\u0000c', 'd'] }]));
      expect(nul, t).toBeInstanceOf(InvalidRequestError);
      expect(nul, t).toMatchObject({ code: 'INVALID_INPUT', field: 'X' });
      expect(nul.message, t).toMatch(/input "X" row 0.*element|NUL character/);
    }
    // arguments that cannot be sent fail here, before any request
    await expect(clients['rest-binary'].infer('wide-mlp', { input: { data: new Float32Array(10), shape: [1, 256] } })).rejects.toThrow(/shape \[1,256\] holds 256 elements but data has 10/);
    await expect(clients['rest-binary'].infer('wide-mlp', [{ name: 'input', data: [1, 2, 3] }])).rejects.toThrow(/give a datatype/);
    await expect(clients['rest-binary'].infer('wide-mlp', {})).rejects.toThrow(/at least one input/);
  });

  it('a deadline covers the call: a queue that holds requests longer fails with DEADLINE_EXCEEDED; an AbortSignal cancels', async () => {
    const input = { input: { data: new Float32Array(30), shape: [1, 30] } };
    for (const t of TRANSPORTS) {
      const started = Date.now();
      const late = await failure(clients[t].infer('slow', input, { timeoutMs: 200 }));
      expect(late, t).toBeInstanceOf(BerthClientError);
      expect((late as BerthClientError).code, t).toBe('DEADLINE_EXCEEDED');
      expect(late.message, t).toMatch(/200 ms deadline/);
      expect(Date.now() - started, t).toBeLessThan(1400);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const aborted = await failure(clients[t].infer('slow', input, { signal: ac.signal }));
      expect((aborted as BerthClientError).code, t).toBe('ABORTED');
      // given time, the same request answers
      expect((await clients[t].infer('slow', input)).output('label').data, t).toBeInstanceOf(BigInt64Array);
    }
  });

  it('says clearly when nothing answers at the address', async () => {
    for (const url of ['http://127.0.0.1:9', 'grpc://127.0.0.1:9']) {
      const c = createClient({ url, timeoutMs: 5000 });
      const err = await failure(c.live());
      expect(err, url).toBeInstanceOf(BerthClientError);
      expect((err as BerthClientError).code, url).toBe('UNREACHABLE');
      expect(err.message, url).toMatch(/127\.0\.0\.1:9/);
      await c.close();
    }
    expect(() => createClient({ url: 'ftp://x' })).toThrow(/expected http:\/\/, https:\/\/, grpc:\/\/ or grpcs:\/\//);
    expect(() => createClient({ url: 'grpc://localhost' })).toThrow(/names no port/);
    const grpcOnly = createClient({ url: `grpc://${ts.server.grpcAddress!}` });
    await expect(grpcOnly.models.list()).rejects.toThrow(/managementUrl/);
    await grpcOnly.close();
    await expect(clients['rest-json'].live()).resolves.toBe(true);
  });

  it('manages models, aliases, deployments and rollouts with typed answers (over REST, also from a gRPC client)', async () => {
    const c = clients.grpc;
    const bytes = new Uint8Array(readFileSync(fixturePath('breast-cancer-gbt')));
    const reg = await c.models.register('sdk-model', { model: bytes, fileName: 'gbt.onnx', card: readFileSync(fixturePath('breast-cancer-gbt', 'card.json'), 'utf8'), cardFileName: 'card.json', description: 'from the SDK', tags: { team: 'sdk' } });
    expect(reg.created).toBe(true);
    expect(reg.version).toMatchObject({ model: 'sdk-model', version: 1, sizeBytes: bytes.length, description: 'from the SDK', tags: { team: 'sdk' } });
    expect((await c.models.register('sdk-model', { model: bytes })).created).toBe(false);
    expect((await c.models.list()).models.map((m) => m.name)).toContain('sdk-model');
    expect(await c.models.setAlias('sdk-model', 'production', 1)).toMatchObject({ alias: 'production', version: 1, previousVersion: null, changed: true });
    expect((await c.models.get('sdk-model')).aliases).toEqual({ production: 1 });
    expect((await c.models.update('sdk-model', { tags: { owner: 'me' } })).tags).toEqual({ owner: 'me' });
    expect((await c.models.versions('sdk-model')).versions.map((v) => v.version)).toEqual([1]);
    const dep = await c.deployments.deploy('sdk-api', { model: 'sdk-model', alias: 'production' });
    expect(dep).toMatchObject({ created: true, changed: true, deployment: { name: 'sdk-api', target: { kind: 'alias', alias: 'production' }, revision: 1 } });
    expect((await c.deployments.list()).deployments.map((d) => d.deployment.name)).toContain('sdk-api');
    expect(await c.deployments.get('sdk-api')).toMatchObject({ deployment: { model: 'sdk-model' }, servedVersion: 1 });
    const g = readGolden('breast-cancer-gbt');
    const probs = g.cases[0]!.expected['probabilities']!;
    const r = await c.infer('sdk-api', { input: { data: goldenTensor('input', g.cases[0]!.inputs['input']!).data as Float32Array, shape: g.cases[0]!.inputs['input']!.shape } });
    expect(r.modelName).toBe('sdk-api');
    expect(compareToGolden(r.output('probabilities').data as Float32Array, probs, g.tolerance['probabilities']!)).toBeNull();
    const p = await c.predict('sdk-api', [Array.from({ length: 30 }, () => 0.5)]);
    expect(p).toMatchObject({ deployment: 'sdk-api', model: 'sdk-model', version: 1 });
    expect(p.predictions).toHaveLength(1);
    expect(await c.rollouts.list('sdk-api')).toEqual([]);
    // a rollout to a challenger (the logistic regression, same input), steered from the SDK
    const v2 = await c.models.register('sdk-model', { model: new Uint8Array(readFileSync(fixturePath('breast-cancer-logreg'))), card: readFileSync(fixturePath('breast-cancer-logreg', 'card.json'), 'utf8'), cardFileName: 'card.json' });
    expect(v2.version.version).toBe(2);
    const started = await c.rollouts.start('sdk-api', { toVersion: 2, steps: '10,50,100', interval: '10m' });
    expect(started).toMatchObject({ deployment: 'sdk-api', fromVersion: 1, toVersion: 2, strategy: 'canary', state: 'progressing', step: 0 });
    expect((await c.rollouts.status('sdk-api')).rollout).toMatchObject({ id: started.id, currentStep: { kind: 'weight', percent: 10 } });
    const busy = await failure(c.rollouts.start('sdk-api', { toVersion: 2 }));
    expect(busy).toBeInstanceOf(ConflictError);
    expect((busy as BerthApiError).code).toBe('ROLLOUT_STATE');
    expect(await c.rollouts.pause('sdk-api', 'looking at the numbers')).toMatchObject({ state: 'paused' });
    expect(await c.rollouts.resume('sdk-api')).toMatchObject({ state: 'progressing' });
    const done = await c.rollouts.promote('sdk-api');
    expect(done.state).toBe('promoted');
    expect((await c.rollouts.list('sdk-api')).map((r) => r.id)).toEqual([started.id]);
    expect((await c.deployments.get('sdk-api')).servedVersion).toBe(2);
    const back = await c.rollouts.rollback('sdk-api');
    expect(back.deployment.name).toBe('sdk-api');
    expect((await c.deployments.get('sdk-api')).servedVersion).toBe(1);
    const conflict = await failure(c.models.setAlias('sdk-model', 'production', 7));
    expect(conflict).toBeInstanceOf(NotFoundError);
    expect((conflict as BerthApiError).code).toBe('VERSION_NOT_FOUND');
    expect(await c.deployments.delete('sdk-api')).toEqual({ name: 'sdk-api', deleted: true });
    expect(await c.models.deleteAlias('sdk-model', 'production')).toMatchObject({ deleted: true });
    expect((await c.whoami()).scopes.length).toBeGreaterThan(0);
  });
});

describe('the SDK with authentication and rate limits', () => {
  const ADMIN = 'sdk-test-admin-token-0123456789abcdef';
  let ts: TestServer;

  beforeAll(async () => {
    ts = await startServer({ server: { grpcPort: 0 }, auth: { dev: false } }, { adminToken: ADMIN });
    await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc' });
  }, 60_000);

  afterAll(async () => {
    await ts?.close();
  });

  const input = { input: { data: new Float32Array(30), shape: [1, 30] } };

  it('without a token: UnauthenticatedError; with a token lacking the scope: ForbiddenError; both transports', async () => {
    const reader = await ts.server.tokens.create({ name: 'reader', scopes: ['read:*'], expiresAt: null });
    for (const t of TRANSPORTS) {
      const anon = clientFor(ts, t);
      const e1 = await failure(anon.infer('bc', input));
      expect(e1, t).toBeInstanceOf(UnauthenticatedError);
      expect((e1 as BerthApiError).code, t).toBe('UNAUTHENTICATED');
      await anon.close();
      const ro = clientFor(ts, t, { token: reader.token });
      const e2 = await failure(ro.infer('bc', input));
      expect(e2, t).toBeInstanceOf(ForbiddenError);
      expect(e2.message, t).toMatch(/predict:bc/);
      expect((await ro.modelMetadata('bc')).name, t).toBe('bc');
      await ro.close();
      const admin = clientFor(ts, t, { token: ADMIN });
      expect((await admin.infer('bc', input)).outputs.length, t).toBe(2);
      await admin.close();
    }
  });

  it('retries a 429 after the server’s Retry-After, within the deadline; or hands it over when told not to retry', async () => {
    const limited = await ts.server.tokens.create({ name: 'slowpoke', scopes: ['predict:bc'], expiresAt: null, rateLimit: { rate: 1, burst: 1 } });
    for (const t of TRANSPORTS) {
      const c = clientFor(ts, t, { token: limited.token });
      // use the burst, then find the limit without retrying
      await c.infer('bc', input, { retry: false }).catch(() => undefined);
      const refused = await failure(c.infer('bc', input, { retry: false }));
      expect(refused, t).toBeInstanceOf(RateLimitedError);
      expect(refused, t).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
      expect((refused as RateLimitedError).retryAfterMs, t).toBeGreaterThanOrEqual(1000);
      // a deadline shorter than the advertised wait: no pointless wait, the refusal at once
      const started = Date.now();
      await expect(c.infer('bc', input, { timeoutMs: 300 }), t).rejects.toBeInstanceOf(RateLimitedError);
      expect(Date.now() - started, t).toBeLessThan(300);
      // with the default policy the client waits as asked and succeeds
      const t0 = Date.now();
      const r = await c.infer('bc', input);
      expect(r.outputs.length, t).toBe(2);
      expect(Date.now() - t0, t).toBeGreaterThanOrEqual(900);
      await c.close();
    }
  }, 30_000);
});

describe('pipelines and runs', () => {
  let ts: TestServer;
  let client: BerthClient;
  let work: string;
  const model = fixturePath('breast-cancer-logreg');
  // JSON is YAML: the commands need no quoting by hand. `${…}` is the pipeline's interpolation, not JavaScript's.
  const TRAIN = [
    "const fs=require('fs');",
    'fs.copyFileSync(process.argv[1],process.argv[2]);',
    "fs.writeFileSync(process.argv[3],'lr='+process.argv[4]);",
    "fs.appendFileSync(process.env.BERTH_METRICS_FILE,JSON.stringify({key:'loss',value:0.5,step:1})+'\\n');",
    "console.log('trained with lr',process.argv[4]);",
  ].join('');
  const CHECK = "const t=require('fs').readFileSync(process.argv[1],'utf8');console.log('check:',t);console.error('a line on stderr');";
  const PIPELINE = JSON.stringify({
    pipeline: 'sdk-train',
    description: 'train, check, register',
    params: { lr: 0.1 },
    steps: {
      train: {
        run: [process.execPath, '-e', TRAIN, model, '${outputs.model}', '${outputs.note}', '${params.lr}'],
        data: ['input.csv'],
        outputs: { model: 'model.onnx', note: 'note.txt' },
      },
      check: { needs: ['train'], run: [process.execPath, '-e', CHECK, '${steps.train.outputs.note}'] },
      register: { needs: ['check'], uses: 'register', with: { model: 'sdk-ct', file: '${steps.train.outputs.model}' } },
    },
  }, null, 2);
  const SLEEPER = JSON.stringify({ pipeline: 'sdk-sleep', steps: { sleep: { run: [process.execPath, '-e', "console.log('sleeping');setTimeout(()=>{},60000)"] } } });

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'berth-sdk-pipes-'));
    writeFileSync(path.join(work, 'input.csv'), 'a,b\n1,2\n3,4\n');
    ts = await startServer({}, { jobTimings: { pollMs: 100, heartbeatMs: 300, leaseMs: 5000 } });
    client = createClient({ url: ts.url });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await ts?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('stores pipelines: created, unchanged, a new version when the text changes; lists, pauses and resumes them', async () => {
    const put = await client.pipelines.put(PIPELINE, work);
    expect(put).toMatchObject({ created: true, changed: true, pipeline: { name: 'sdk-train', version: 1, enabled: true, source: PIPELINE } });
    expect(put.pipeline.spec.params).toEqual({ lr: 0.1 });
    expect(put.pipeline.spec.steps.map((s) => `${s.name}:${s.kind}`)).toEqual(['train:command', 'check:command', 'register:builtin']);
    const train = put.pipeline.spec.steps[0]!;
    expect(train.kind === 'command' && train.data).toEqual(['input.csv']);
    expect(await client.pipelines.put(PIPELINE, work)).toMatchObject({ created: false, changed: false, pipeline: { version: 1 } });
    expect((await client.pipelines.put(SLEEPER, work)).created).toBe(true);
    expect((await client.pipelines.list()).pipelines.map((p) => p.name)).toEqual(['sdk-sleep', 'sdk-train']);
    expect(await client.pipelines.pause('sdk-train')).toMatchObject({ name: 'sdk-train', enabled: false });
    expect((await client.pipelines.get('sdk-train')).enabled).toBe(false);
    expect((await client.pipelines.resume('sdk-train')).enabled).toBe(true);
  });

  it('runs a pipeline with a param, waits for it, and reads its steps, metrics, logs and lineage', async () => {
    const started = await client.pipelines.run('sdk-train', { params: { lr: 0.25 }, trigger: { kind: 'git', commit: 'abc123' } });
    expect(started).toMatchObject({ pipeline: 'sdk-train', state: 'queued', mode: 'server', pipelineVersion: 1, params: { lr: 0.25 }, trigger: { kind: 'git', detail: { commit: 'abc123' } } });
    expect(started).not.toHaveProperty('spec');
    const seen: string[] = [];
    const run = await client.runs.wait(started.id, { intervalMs: 100, timeoutMs: 50_000, onUpdate: (r) => seen.push(r.state) });
    expect(run.state, JSON.stringify(run.error)).toBe('succeeded');
    expect(seen.at(-1)).toBe('succeeded');
    expect(run.steps.map((s) => [s.name, s.state, s.exitCode])).toEqual([['train', 'succeeded', 0], ['check', 'succeeded', 0], ['register', 'succeeded', null]]);
    expect(Object.keys(run.steps[0]!.outputs ?? {}).sort()).toEqual(['model', 'note']);
    expect(run.steps[2]!.result).toMatchObject({ model: 'sdk-ct', version: 1, created: true });
    expect(run.result).toEqual({ model: 'sdk-ct', version: 1 });
    expect(run.spec.name).toBe('sdk-train');
    expect(run.metrics).toEqual([{ step: 'train', key: 'loss', value: 0.5, metricStep: 1, at: expect.any(String) }]);
    const sha = createHash('sha256').update(readFileSync(path.join(work, 'input.csv'))).digest('hex');
    expect(run.datasets).toEqual([{ step: 'train', path: expect.stringMatching(/input\.csv$/), sha256: sha, bytes: 12 }]);

    // logs: all of them, one step's, and paged with `after`
    const all = await client.runs.logs(run.id);
    expect(all).toMatchObject({ run: run.id, state: 'succeeded' });
    expect(all.next).toBe(all.lines.at(-1)!.seq);
    expect(all.lines).toContainEqual(expect.objectContaining({ step: 'train', stream: 'stdout', line: 'trained with lr 0.25' }));
    expect(all.lines).toContainEqual(expect.objectContaining({ step: 'check', stream: 'stderr', line: 'a line on stderr' }));
    const check = await client.runs.logs(run.id, { step: 'check' });
    expect(check.lines.every((l) => l.step === 'check')).toBe(true);
    expect(check.lines.map((l) => l.line)).toContain('check: lr=0.25');
    const page = await client.runs.logs(run.id, { limit: 2 });
    expect(page.lines.map((l) => l.seq)).toEqual(all.lines.slice(0, 2).map((l) => l.seq));
    expect((await client.runs.logs(run.id, { after: page.next })).lines).toEqual(all.lines.slice(2));
    expect((await client.runs.logs(run.id, { after: all.next })).lines).toEqual([]);
    // follow on an ended run: every line once, then the loop ends
    const followed: RunLogLine[] = [];
    for await (const l of client.runs.follow(run.id)) followed.push(l);
    expect(followed).toEqual(all.lines);
    const fromPage: RunLogLine[] = [];
    for await (const l of client.runs.follow(run.id, { after: page.next, step: 'train' })) fromPage.push(l);
    expect(fromPage).toEqual(all.lines.slice(2).filter((l) => l.step === 'train'));

    // listed, newest first
    expect((await client.runs.list({ pipeline: 'sdk-train' })).runs.map((r) => r.id)).toEqual([run.id]);
    expect((await client.runs.list({ state: 'succeeded', limit: 5 })).runs.map((r) => r.id)).toContain(run.id);
    expect((await client.runs.list({ before: run.id })).runs.map((r) => r.id)).not.toContain(run.id);
    const listed = await client.pipelines.runs('sdk-train', { limit: 1 });
    expect(listed.runs.map((r) => r.id)).toEqual([run.id]);
    expect(listed.runs[0]).not.toHaveProperty('spec');

    // lineage both ways: the version to its run, the dataset (by a prefix of its sha256) to its runs and versions
    const version = await client.lineage.version('sdk-ct', 1);
    expect(version).toMatchObject({ model: 'sdk-ct', version: 1, lineage: { pipeline: 'sdk-train', pipelineRun: run.id, params: { lr: 0.25 } } });
    expect(version.run).toMatchObject({ id: run.id, state: 'succeeded', metrics: [{ key: 'loss', value: 0.5 }] });
    expect(await client.lineage.version('sdk-ct', 'latest')).toMatchObject({ version: 1 });
    const data = await client.lineage.dataset(sha.slice(0, 12));
    expect(data.dataset).toBe(sha.slice(0, 12));
    expect(data.runs).toEqual([{ run: run.id, step: 'train', path: expect.stringMatching(/input\.csv$/), sha256: sha }]);
    expect(data.versions).toEqual([{ model: 'sdk-ct', version: 1, runs: [run.id] }]);
  });

  it('follows a running run, gives up waiting at a deadline or a signal, and cancels it', async () => {
    const started = await client.pipelines.run('sdk-sleep');
    expect(started.trigger).toEqual({ kind: 'api' });
    // follow until the step is sleeping, then leave the loop
    const lines: RunLogLine[] = [];
    for await (const l of client.runs.follow(started.id, { intervalMs: 100 })) {
      lines.push(l);
      if (l.line === 'sleeping') break;
    }
    expect(lines.at(-1)).toMatchObject({ step: 'sleep', stream: 'stdout', line: 'sleeping' });
    expect((await client.runs.get(started.id)).state).toBe('running');

    const late = await failure(client.runs.wait(started.id, { intervalMs: 100, timeoutMs: 300 }));
    expect(late).toBeInstanceOf(BerthClientError);
    expect(late).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(late.message).toMatch(new RegExp(`run ${started.id}: still running after 300 ms`));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    expect(await failure(client.runs.wait(started.id, { intervalMs: 100, signal: ac.signal }))).toMatchObject({ name: 'BerthClientError', code: 'ABORTED' });

    const asked = await client.runs.cancel(started.id);
    expect(asked).toMatchObject({ id: started.id, cancelRequested: true });
    expect(asked).not.toHaveProperty('spec');
    const ended = await client.runs.wait(started.id, { intervalMs: 100, timeoutMs: 30_000 });
    expect(ended.state).toBe('cancelled');
    expect(ended.error).toMatchObject({ code: 'CANCELLED' });
    expect(ended.steps[0]).toMatchObject({ name: 'sleep', state: 'cancelled' });
    expect((await client.runs.list({ state: 'cancelled' })).runs.map((r) => r.id)).toEqual([started.id]);
    // an ended run cannot be cancelled again
    const again = await failure(client.runs.cancel(started.id));
    expect(again).toBeInstanceOf(ConflictError);
    expect(again).toMatchObject({ code: 'FAILED_PRECONDITION', status: 409 });
  });

  it('refusals are error classes with the server’s code and field', async () => {
    const undeclared = await failure(client.pipelines.run('sdk-train', { params: { x: 1 } }));
    expect(undeclared).toBeInstanceOf(InvalidRequestError);
    expect(undeclared).toMatchObject({ code: 'INVALID_ARGUMENT', status: 400, field: 'params.x' });
    expect(undeclared.message).toMatch(/declares \(lr\)/);
    const typed = await failure(client.pipelines.run('sdk-train', { params: { lr: 'fast' } }));
    expect(typed).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'params.lr' });
    const trigger = await failure(client.pipelines.run('sdk-train', { trigger: { kind: 'alert' as 'api' } }));
    expect(trigger).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'trigger.kind' });
    const bad = await failure(client.pipelines.put('pipeline: [', work));
    expect(bad).toBeInstanceOf(InvalidRequestError);
    expect(bad).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'pipeline' });
    const nowhere = await failure(client.pipelines.put(PIPELINE, path.join(work, 'missing')));
    expect(nowhere).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workdir' });

    for (const p of [client.pipelines.get('ghost'), client.pipelines.run('ghost'), client.pipelines.runs('ghost'), client.pipelines.pause('ghost'), client.pipelines.delete('ghost')]) {
      const e = await failure(p);
      expect(e).toBeInstanceOf(NotFoundError);
      expect(e).toMatchObject({ code: 'NOT_FOUND', field: 'pipeline' });
    }
    const noRun = await failure(client.runs.get(99_999));
    expect(noRun).toBeInstanceOf(NotFoundError);
    expect(noRun).toMatchObject({ code: 'NOT_FOUND', field: 'run' });
    await expect(client.runs.wait(99_999)).rejects.toBeInstanceOf(NotFoundError);
    await expect((async () => { for await (const _ of client.runs.follow(99_999)) break; })()).rejects.toBeInstanceOf(NotFoundError);
    expect(await failure(client.runs.list({ state: 'bogus' as 'queued' }))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'state' });
    expect(await failure(client.lineage.dataset('xyz'))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'dataset' });
    expect(await failure(client.lineage.version('sdk-ct', 7))).toBeInstanceOf(NotFoundError);

    // deleting a pipeline keeps its runs and their lineage
    expect(await client.pipelines.delete('sdk-train')).toEqual({ pipeline: 'sdk-train', deleted: true });
    expect((await client.pipelines.list()).pipelines.map((p) => p.name)).toEqual(['sdk-sleep']);
    expect((await client.runs.list({ pipeline: 'sdk-train' })).runs).toHaveLength(1);
    expect((await client.lineage.version('sdk-ct', 1)).run?.pipeline).toBe('sdk-train');
  });

  it('the management API is REST only: a gRPC client without managementUrl says so', async () => {
    const grpcOnly = createClient({ url: 'grpc://127.0.0.1:9' });
    await expect(grpcOnly.runs.get(1)).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/managementUrl/) });
    await expect(grpcOnly.pipelines.list()).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await grpcOnly.close();
  });
});

/*
 * A client that goes away while its request waits takes the request out of the queue: over HTTP
 * (the socket closes) and over gRPC (the call is cancelled). The model never runs it, the queue's
 * rows are freed at once, and the request is counted under CANCELLED, not as a failure of the
 * version. The deployment's queue holds requests for 3 s (maxQueueDelayMs) so there is time to
 * leave.
 */
import { request } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTO_LOADER_OPTIONS, protoPath } from '../../src/protocol/index.js';
import { metricValue } from '../helpers/metrics.js';
import { deployFixture, get, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;
const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: new Array(30).fill(0.5) }] });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function queued(): Promise<number> {
  const s = await get<{ loaded: { model: string; queueDepth: number }[] }>(`${ts.url}/v1/status`);
  return s.body.loaded.reduce((n, m) => n + m.queueDepth, 0);
}

async function counted(code: string): Promise<number> {
  const m = (await get<string>(`${ts.url}/metrics`)).text;
  return metricValue(m, 'berth_requests_total', { deployment: 'held', code }) ?? 0;
}

beforeAll(async () => {
  ts = await startServer({ server: { grpcPort: 0 } });
  await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'held', settings: { maxQueueDelayMs: 3000, maxBatchSize: 64 } });
  // loaded before the test, so the request waits in the batcher's queue, not for a load
  await fetch(`${ts.url}/v2/repository/models/held/load`, { method: 'POST' });
}, 60_000);

afterAll(async () => {
  await ts?.close();
});

describe('a client that goes away while its request waits', () => {
  it('over HTTP: closing the socket drops the request from the queue', async () => {
    const before = await counted('CANCELLED');
    const u = new URL(`${ts.url}/v2/models/held/infer`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    req.on('error', () => undefined);
    req.end(body);
    for (let i = 0; i < 100 && (await queued()) === 0; i++) await sleep(10);
    expect(await queued()).toBe(1);
    req.destroy();
    for (let i = 0; i < 100 && (await queued()) > 0; i++) await sleep(10);
    expect(await queued()).toBe(0);
    for (let i = 0; i < 100 && (await counted('CANCELLED')) === before; i++) await sleep(10);
    expect(await counted('CANCELLED')).toBe(before + 1);
    expect(await counted('OK')).toBe(0);
  });

  it('over gRPC: cancelling the call drops the request from the queue', async () => {
    const before = await counted('CANCELLED');
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath(), PROTO_LOADER_OPTIONS))['inference'] as grpc.GrpcObject;
    const Ctor = pkg['GRPCInferenceService'] as grpc.ServiceClientConstructor;
    const client = new Ctor(ts.server.grpcAddress!, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (req: unknown, cb: (err: grpc.ServiceError | null) => void) => grpc.ClientUnaryCall>;
    try {
      const data = new Float32Array(30).fill(0.5);
      const done = new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client['ModelInfer']!({ model_name: 'held', inputs: [{ name: 'input', datatype: 'FP32', shape: ['1', '30'] }], raw_input_contents: [Buffer.from(data.buffer)] }, (err) => resolve(err));
        void (async () => {
          for (let i = 0; i < 100 && (await queued()) === 0; i++) await sleep(10);
          call.cancel();
        })();
      });
      expect((await done)?.code).toBe(grpc.status.CANCELLED);
      for (let i = 0; i < 100 && (await queued()) > 0; i++) await sleep(10);
      expect(await queued()).toBe(0);
      for (let i = 0; i < 100 && (await counted('CANCELLED')) === before; i++) await sleep(10);
      expect(await counted('CANCELLED')).toBe(before + 1);
    } finally {
      client.close();
    }
  });

  it('a client that stays gets its answer after the queue delay', async () => {
    const r = await fetch(`${ts.url}/v2/models/held/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(r.status).toBe(200);
    expect(await counted('OK')).toBe(1);
  });
});

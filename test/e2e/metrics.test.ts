import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flatten, readGolden } from '../helpers/fixtures.js';
import { metricValue } from '../helpers/metrics.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;
const row = (flatten(readGolden('breast-cancer-gbt').cases[0]!.inputs['input']!.data) as number[]).slice(0, 30);

beforeAll(async () => {
  ts = await startServer();
  await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'bc' });
});
afterAll(async () => {
  await ts?.close();
});

describe('GET /metrics', () => {
  it('counts requests by deployment, version and status, with latency, queue, inference and batch-size histograms', async () => {
    const ok = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] };
    for (let i = 0; i < 5; i++) expect((await post(`${ts.url}/v2/models/bc/infer`, ok)).status).toBe(200);
    expect((await post(`${ts.url}/v2/models/bc/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 29], data: row.slice(1) }] })).status).toBe(400);
    expect((await post(`${ts.url}/v2/models/bc/infer`, '{nope')).status).toBe(400);
    const res = await get<string>(`${ts.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const m = res.text;
    expect(metricValue(m, 'berth_requests_total', { deployment: 'bc', model: 'breast-cancer-gbt', version: '1', code: 'OK' })).toBe(5);
    expect(metricValue(m, 'berth_requests_total', { deployment: 'bc', code: 'INVALID_INPUT' })).toBe(1);
    expect(metricValue(m, 'berth_errors_total', { code: 'INVALID_INPUT' })).toBe(1);
    expect(metricValue(m, 'berth_errors_total')).toBe(2);
    expect(metricValue(m, 'berth_request_duration_seconds_count', { deployment: 'bc', version: '1' })).toBe(5);
    expect(metricValue(m, 'berth_queue_duration_seconds_count', { deployment: 'bc', version: '1' })).toBe(5);
    expect(metricValue(m, 'berth_inference_duration_seconds_count', { model: 'breast-cancer-gbt', version: '1' })).toBe(5);
    expect(metricValue(m, 'berth_batch_size_sum', { model: 'breast-cancer-gbt', version: '1' })).toBe(5);
    expect(metricValue(m, 'berth_models_loaded')).toBe(1);
    expect(metricValue(m, 'berth_model_memory_bytes', { model: 'breast-cancer-gbt', version: '1' })).toBeGreaterThan(40_000);
    expect(metricValue(m, 'berth_cold_starts')).toBe(1);
    expect(m).toMatch(/^berth_process_resident_memory_bytes /m);
  });
});

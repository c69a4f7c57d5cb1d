/**
 * The chart-shaped monitoring views through a real server: the timeline (a window cut into time
 * buckets, drift per column per bucket), the newest logged requests, and a version's reference
 * profile as histograms. Traffic is the breast-cancer fixture's documented files: no drift first,
 * then covariate drift on exactly three features.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedRequest, MonitorTimeline, ReferenceView } from '../../src/monitor/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;
const MODEL = 'breast-cancer-gbt';

function csv(file: string): { header: string[]; rows: number[][] } {
  const lines = readFileSync(fixturePath(MODEL, file), 'utf8').trim().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',').map((x) => (x === '' ? NaN : Number(x)))) };
}

/** Send every row (label dropped) in requests of `per` rows; the answers in order. */
async function send(file: string, per: number): Promise<{ rows: Record<string, number>[]; answer: { request_id: string; predictions: unknown[] } }[]> {
  const { header, rows } = csv(file);
  const li = header.indexOf('label');
  const out = [];
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per).map((r) => Object.fromEntries(header.map((h, j) => [h, r[j]!] as const).filter((_, j) => j !== li)));
    const res = await post<{ request_id: string; predictions: unknown[] }>(`${ts.url}/v1/deployments/bc/predict`, { rows: chunk });
    expect(res.status, res.text).toBe(200);
    out.push({ rows: chunk, answer: res.body });
  }
  return out;
}

let start = 0;
let split = 0;
let end = 0;
let lastSent: Awaited<ReturnType<typeof send>> = [];

beforeAll(async () => {
  ts = await startServer({ inferenceLog: { maxRowsPerSecond: 0 } });
  await deployFixture(ts, MODEL, { deployment: 'bc' });
  const res = await post(`${ts.url}/v1/models/${MODEL}/versions/1/profile`, {
    reference_base64: readFileSync(fixturePath(MODEL, 'reference.csv')).toString('base64'),
    reference_file_name: 'reference.csv',
  });
  expect(res.status).toBe(201);
  await deployFixture(ts, MODEL, { deployment: 'bc-noref', name: 'bc-noref-model' });
  start = Date.now();
  await send('current_nodrift.csv', 15);
  await new Promise((r) => setTimeout(r, 5));
  split = Date.now();
  await new Promise((r) => setTimeout(r, 5));
  lastSent = await send('current_covariate_drift.csv', 15);
  await new Promise((r) => setTimeout(r, 5));
  end = Date.now();
}, 120_000);

afterAll(async () => {
  await ts?.close();
});

describe('GET /v1/deployments/{name}/monitor/timeline', () => {
  it('cuts the window into buckets: no drift before the change, exactly the three shifted features after it', async () => {
    // two buckets of equal width meeting where the drifted traffic began
    const width = Math.max(split - start, end - split) + 2;
    const from = new Date(split - width).toISOString();
    const to = new Date(split + width).toISOString();
    const res = await get<MonitorTimeline>(`${ts.url}/v1/deployments/bc/monitor/timeline?window=${from}..${to}&points=2`);
    expect(res.status, res.text).toBe(200);
    const t = res.body;
    expect(t.buckets).toHaveLength(2);
    expect(t.reference).toEqual({ kind: 'profile', version: 1, rows: 284 });
    expect(t.columns.filter((c) => c.role === 'feature')).toHaveLength(30);
    expect(t.columns.filter((c) => c.role === 'prediction').map((c) => c.name)).toEqual(['prediction', 'score']);
    const [before, after] = t.buckets as [MonitorTimeline['buckets'][0], MonitorTimeline['buckets'][0]];
    expect(before.rows).toBe(285);
    expect(after.rows).toBe(csv('current_covariate_drift.csv').rows.length);
    expect(before.requests).toBe(Math.ceil(285 / 15));
    const drifted = (b: typeof before): string[] => Object.entries(b.drift).filter(([name, c]) => c.drifted && t.columns.find((x) => x.name === name)?.role === 'feature').map(([n]) => n).sort();
    expect(drifted(before)).toEqual([]);
    expect(drifted(after)).toEqual(['mean area', 'mean texture', 'worst smoothness']);
    expect(after.driftShare).toBeCloseTo(3 / 30, 10);
    expect(before.driftShare).toBe(0);
    expect(before.errorRate).toBe(0);
    expect(before.missingShare).toBe(0);
    // each cell carries the score and the threshold it was held against
    const area = after.drift['mean area']!;
    expect(area.score).toBeLessThan(area.threshold);
    expect(area.verdict).toBe('drift');
    expect(new Date(after.to).getTime()).toBe(split + width);
  });

  it('a bucket without traffic is there, empty, so the chart keeps its time axis', async () => {
    const from = new Date(end + 1000).toISOString();
    const to = new Date(end + 61_000).toISOString();
    const res = await get<MonitorTimeline>(`${ts.url}/v1/deployments/bc/monitor/timeline?window=${from}..${to}&points=6`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.buckets.map((b) => b.rows)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(res.body.buckets.every((b) => b.driftShare === null && b.errorRate === null)).toBe(true);
    expect(res.body.bucketSeconds).toBe(10);
  });

  it('refuses row-count windows, bad points and unknown parameters, naming the field', async () => {
    for (const [q, field] of [['window=100rows', 'window'], ['points=1', 'points'], ['points=500', 'points'], ['points=x', 'points'], ['bins=3', 'bins']] as const) {
      const res = await get<{ field: string; code: string }>(`${ts.url}/v1/deployments/bc/monitor/timeline?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.field, q).toBe(field);
    }
    expect((await get(`${ts.url}/v1/deployments/nope/monitor/timeline`)).status).toBe(404);
  });
});

describe('GET /v1/deployments/{name}/requests', () => {
  it('answers the newest requests first, with the features sent and the prediction answered', async () => {
    const res = await get<{ requests: LoggedRequest[] }>(`${ts.url}/v1/deployments/bc/requests?limit=3`);
    expect(res.status, res.text).toBe(200);
    const got = res.body.requests;
    expect(got).toHaveLength(3);
    const newest = lastSent.slice(-3).reverse();
    expect(got.map((r) => r.requestId)).toEqual(newest.map((s) => s.answer.request_id));
    const first = got[0]!;
    expect(first.version).toBe(1);
    expect(first.status).toBe('OK');
    expect(first.rows).toHaveLength(newest[0]!.rows.length);
    for (const [i, row] of first.rows.entries()) {
      for (const [k, v] of Object.entries(newest[0]!.rows[i]!)) expect(row.features[k], k).toBeCloseTo(v, 4);
      const answered = newest[0]!.answer.predictions[i] as { label: string | number; probabilities?: Record<string, number> };
      expect(String(row.prediction['prediction'])).toBe(String(answered.label));
    }
  });

  it('refuses a bad limit', async () => {
    for (const q of ['limit=0', 'limit=5000', 'limit=a', 'other=1']) {
      const res = await get<{ field: string }>(`${ts.url}/v1/deployments/bc/requests?${q}`);
      expect(res.status, q).toBe(400);
    }
  });
});

describe('GET /v1/models/{name}/versions/{version}/reference', () => {
  it("draws the reference profile: each feature's range and mean are the reference file's, the shares sum to 1", async () => {
    const res = await get<ReferenceView>(`${ts.url}/v1/models/${MODEL}/versions/1/reference`);
    expect(res.status, res.text).toBe(200);
    const ref = res.body;
    expect(ref.rows).toBe(284);
    expect(ref.source).toBe('reference.csv');
    const { header, rows } = csv('reference.csv');
    const j = header.indexOf('mean radius');
    const values = rows.map((r) => r[j]!);
    const col = ref.columns.find((c) => c.name === 'mean radius')!;
    expect(col.kind).toBe('numeric');
    if (col.kind !== 'numeric') return;
    expect(col.role).toBe('feature');
    expect(col.count).toBe(284);
    expect(col.min).toBe(Math.min(...values));
    expect(col.max).toBe(Math.max(...values));
    expect(col.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 9);
    expect(col.histogram.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(col.histogram.edges).toHaveLength(21);
    // the first bin holds exactly the values up to its upper edge (the profile is exact at 284 rows)
    expect(col.histogram.shares[0]! * 284).toBeCloseTo(values.filter((v) => v <= col.histogram.edges[1]!).length, 6);
    expect(col.cdf.q).toHaveLength(51);
    expect(col.cdf.x[0]).toBe(col.min);
    expect(col.cdf.x[50]).toBe(col.max);
    const pred = ref.columns.find((c) => c.name === 'prediction')!;
    expect(pred.role).toBe('prediction');
    expect(pred.histogram.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(ref.columns.findIndex((c) => c.role === 'prediction')).toBe(30);
  });

  it('answers 404 for a version without reference data, saying how to attach it', async () => {
    const res = await get<{ code: string; error: string }>(`${ts.url}/v1/models/bc-noref-model/versions/1/reference`);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND');
    expect(res.body.error).toMatch(/berth models profile bc-noref-model 1 --reference/);
    expect((await get(`${ts.url}/v1/models/${MODEL}/versions/0/reference`)).status).toBe(400);
  });
});

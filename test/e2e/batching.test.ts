import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareToGolden, fixturePath, flatten, readGolden } from '../helpers/fixtures.js';
import { metricValue } from '../helpers/metrics.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;

beforeAll(async () => {
  ts = await startServer();
  await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'gbt-window', settings: { maxBatchSize: 64, maxQueueDelayMs: 200 } });
  await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'gbt-eager', settings: { maxBatchSize: 16, maxQueueDelayMs: 0 } });
  await deployFixture(ts, 'wide-mlp', { deployment: 'mlp-tiny-queue', settings: { maxBatchSize: 1, maxQueueSize: 4 } });
  await deployFixture(ts, 'wide-mlp', { deployment: 'mlp-serial', settings: { maxBatchSize: 1, maxQueueSize: 10_000 } });
  await deployFixture(ts, 'tabular-mixed', { deployment: 'eta', settings: { maxBatchSize: 64, maxQueueDelayMs: 100 } });
  await deployFixture(ts, 'tabular-mixed', { deployment: 'eta-no-card', name: 'tabular-mixed-bare', card: false, settings: { maxBatchSize: 64, maxQueueDelayMs: 100 } });
});

afterAll(async () => {
  await ts?.close();
});

const gbt = readGolden('breast-cancer-gbt');
const heldout = gbt.cases.find((c) => c.name === 'heldout_all')!;
const X = flatten(heldout.inputs['input']!.data) as number[];

function gbtBody(start: number, rows: number): unknown {
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 30], data: X.slice(start * 30, (start + rows) * 30) }] };
}

async function metrics(): Promise<string> {
  return (await get<string>(`${ts.url}/metrics`)).text;
}

describe('dynamic batching over HTTP', () => {
  it('coalesces concurrent single-row requests into one onnxruntime call', async () => {
    const before = await metrics();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, r) => post(`${ts.url}/v2/models/gbt-window/infer`, gbtBody(r, 1))));
    const after = await metrics();
    answers.forEach((a) => expect(a.status).toBe(200));
    const batches = metricValue(after, 'berth_batch_size_count', { model: 'breast-cancer-gbt' }) - metricValue(before, 'berth_batch_size_count', { model: 'breast-cancer-gbt' });
    const rows = metricValue(after, 'berth_batch_size_sum', { model: 'breast-cancer-gbt' }) - metricValue(before, 'berth_batch_size_sum', { model: 'breast-cancer-gbt' });
    expect(rows).toBe(20);
    expect(batches).toBeLessThanOrEqual(2);
  });

  it('gives each caller exactly its own rows when requests of mixed sizes arrive together', async () => {
    const sizes = [1, 3, 1, 7, 2, 1, 5, 1, 1, 4, 2, 6, 1, 3, 8, 1, 2, 9, 1, 1];
    let start = 0;
    const jobs = sizes.map((n) => {
      const s = start;
      start += n;
      return { s, n };
    });
    for (const deployment of ['gbt-window', 'gbt-eager']) {
      const answers = await Promise.all(
        jobs.map(({ s, n }) => post<{ outputs: { name: string; shape: number[]; data: number[] }[] }>(`${ts.url}/v2/models/${deployment}/infer`, gbtBody(s, n))),
      );
      answers.forEach((a, i) => {
        const { s, n } = jobs[i]!;
        expect(a.status).toBe(200);
        for (const o of a.body.outputs) {
          expect(o.shape[0]).toBe(n);
          expect(compareToGolden(o.data, heldout.expected[o.name]!, gbt.tolerance[o.name]!, [s, s + n]), `${deployment} request ${i} ${o.name}`).toBeNull();
        }
      });
    }
  });

  it('answers 429 with Retry-After when the queue is full, and serves the rest', async () => {
    const row = (flatten(readGolden('wide-mlp').cases[0]!.inputs['input']!.data) as number[]).slice(0, 256);
    const body = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: row }] };
    const answers = await Promise.all(Array.from({ length: 64 }, () => post(`${ts.url}/v2/models/mlp-tiny-queue/infer`, body)));
    const full = answers.filter((a) => a.status === 429);
    const ok = answers.filter((a) => a.status === 200);
    expect(full.length).toBeGreaterThan(0);
    expect(ok.length).toBeGreaterThan(0);
    expect(full.length + ok.length).toBe(64);
    expect(full[0]!.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect((full[0]!.body as { code: string; error: string }).code).toBe('QUEUE_FULL');
    expect((full[0]!.body as { error: string }).error).toMatch(/queue is full/);
  });

  it('drops requests whose deadline passed before they reach the runtime', async () => {
    const row = (flatten(readGolden('wide-mlp').cases[0]!.inputs['input']!.data) as number[]).slice(0, 256);
    const body = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: row }], parameters: { timeout_ms: 2 } };
    await post(`${ts.url}/v2/models/mlp-serial/infer`, { inputs: body.inputs }); // loaded and warm
    const before = await metrics();
    const answers = await Promise.all(Array.from({ length: 200 }, () => post(`${ts.url}/v2/models/mlp-serial/infer`, body)));
    const after = await metrics();
    const late = answers.filter((a) => a.status === 504);
    expect(late.length).toBeGreaterThan(0);
    expect((late[0]!.body as { code: string }).code).toBe('DEADLINE_EXCEEDED');
    answers.forEach((a) => expect([200, 504], a.text).toContain(a.status));
    const ran = metricValue(after, 'berth_batch_size_sum', { model: 'wide-mlp' }) - metricValue(before, 'berth_batch_size_sum', { model: 'wide-mlp' });
    // a timed-out request may have been running already; the queued ones never ran
    expect(ran).toBeLessThan(200);
    expect(ran).toBeGreaterThanOrEqual(answers.filter((a) => a.status === 200).length);
  });
});

describe('one bad request among good ones', () => {
  const eta = readGolden('tabular-mixed');
  const g = eta.cases[0]!;
  const num = flatten(g.inputs['numeric']!.data) as number[];
  const cat = flatten(g.inputs['category']!.data) as number[];
  const quality = readFileSync(fixturePath('tabular-mixed', 'current_quality.csv'), 'utf8').trim().split('\n');
  const badRow = quality[1 + 57]!.split(',').map(Number); // city_id 12 (outside the 12-city embedding)

  const body = (numeric: number[], cityId: number): unknown => ({
    inputs: [
      { name: 'numeric', datatype: 'FP32', shape: [1, 8], data: numeric },
      { name: 'category', datatype: 'INT64', shape: [1, 1], data: [cityId] },
    ],
  });

  for (const [deployment, how] of [['eta', 'the card declares the id range'], ['eta-no-card', 'only the runtime notices']] as const) {
    it(`fails only the culprit and answers its neighbours correctly when ${how}`, async () => {
      const requests = Array.from({ length: 16 }, (_, r) => body(num.slice(r * 8, r * 8 + 8), cat[r]!));
      requests.splice(7, 0, body(badRow.slice(0, 8), badRow[8]!));
      const answers = await Promise.all(requests.map((b) => post<{ outputs: { data: number[] }[]; error: string; field: string }>(`${ts.url}/v2/models/${deployment}/infer`, b)));
      answers.forEach((a, i) => {
        if (i === 7) {
          expect(a.status).toBe(400);
          expect(a.body.error).toMatch(deployment === 'eta' ? /city_id.*\[0, 11\].*got 12/ : /rejected this request's input.*12/i);
          if (deployment === 'eta') expect(a.body.field).toBe('city_id');
          return;
        }
        const r = i < 7 ? i : i - 1;
        expect(a.status, a.text).toBe(200);
        expect(compareToGolden(a.body.outputs[0]!.data, g.expected['eta_minutes']!, eta.tolerance['eta_minutes']!, [r, r + 1])).toBeNull();
      });
    });
  }

  it('refuses negative category ids that the runtime would silently wrap around', async () => {
    const a = await post<{ error: string; field: string }>(`${ts.url}/v2/models/eta/infer`, body(num.slice(0, 8), -3));
    expect(a.status).toBe(400);
    expect(a.body.field).toBe('city_id');
    expect(a.body.error).toMatch(/expected an id in \[0, 11\].*got -3/);
  });
});

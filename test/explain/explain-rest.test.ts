/*
 * Explanations end to end on a real server: reference data attached through the management API
 * (which summarises the background once and stores it), then `POST /v1/deployments/{name}/explain`
 * and `POST /v2/models/{name}/explain` on real fixtures, and `berth explain` against the server.
 * Answers are checked against the fixtures' golden outputs (the prediction) and against each other
 * (exact Kernel SHAP equals interventional TreeSHAP on the same background); every bad request
 * gets a 4xx naming the field.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { ExplainResult } from '../../src/explain/index.js';
import type { ImportanceResult } from 'berth/sdk';
import { fixturePath, flatten, readGolden } from '../helpers/fixtures.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${ts.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function attachReference(model: string, version: number): Promise<Record<string, unknown>> {
  const data = readFileSync(fixturePath(model, 'reference.csv'));
  const r = await post(`/v1/models/${model}/versions/${version}/profile`, { reference_base64: data.toString('base64'), reference_file_name: 'reference.csv' });
  expect(r.status).toBe(201);
  return r.body;
}

/** The golden_32 case's inputs as rows of named features, and its expected outputs. */
function goldenRows(model: string): { rows: Record<string, number>[]; matrix: number[][]; expected: Record<string, number[]> } {
  const g = readGolden(model);
  const c = g.cases.find((x) => x.name === 'golden_32') ?? g.cases[0]!;
  const card = JSON.parse(readFileSync(fixturePath(model, 'card.json'), 'utf8')) as { inputs: { name: string; feature_names: string[] }[] };
  const names = card.inputs[0]!.feature_names;
  const flat = flatten(c.inputs[card.inputs[0]!.name]!.data) as number[];
  const matrix = Array.from({ length: flat.length / names.length }, (_, r) => flat.slice(r * names.length, (r + 1) * names.length));
  const expected = Object.fromEntries(Object.entries(c.expected).map(([k, v]) => [k, flatten(v.data) as number[]]));
  return { rows: matrix.map((m) => Object.fromEntries(names.map((n, j) => [n, m[j]!]))), matrix, expected };
}

const sum = (e: ExplainResult['explanations'][number]): number => e.contributions.reduce((s, c) => s + c.contribution, 0);
const logit = (p: number): number => Math.log(p / (1 - p));

beforeAll(async () => {
  ts = await startServer();
  await deployFixture(ts, 'breast-cancer-gbt');
  await deployFixture(ts, 'diabetes-gbt-regressor');
  await deployFixture(ts, 'breast-cancer-logreg');
  const bc = await attachReference('breast-cancer-gbt', 1);
  expect((bc['reference'] as { background?: { rows: number; method: string } }).background).toMatchObject({ rows: 100, method: 'kmeans' });
  await attachReference('diabetes-gbt-regressor', 1);
  await deployFixture(ts, 'credit');
  await attachReference('credit', 1);
}, 120_000);

afterAll(async () => {
  await ts?.close();
});

describe('explain over REST', () => {
  it('explains a tree ensemble exactly with path-dependent TreeSHAP: base + Σ = the margin of the golden probability, every feature listed', async () => {
    const { rows, expected } = goldenRows('breast-cancer-gbt');
    const r = await post('/v1/deployments/breast-cancer-gbt/explain', { rows: rows.slice(0, 8) });
    expect(r.status).toBe(200);
    const res = r.body as unknown as ExplainResult;
    expect(res).toMatchObject({ deployment: 'breast-cancer-gbt', model: 'breast-cancer-gbt', version: 1, method: 'tree-path-dependent', exact: true, space: 'margin', evaluations: 0 });
    expect(res.explanations).toHaveLength(8);
    res.explanations.forEach((e, i) => {
      expect(e.contributions).toHaveLength(30);
      const mags = e.contributions.map((c) => Math.abs(c.contribution));
      expect(mags).toEqual([...mags].sort((a, b) => b - a));
      expect(Math.abs(e.base_value + sum(e) - e.prediction)).toBeLessThan(1e-6);
      // the predicted class's probability, as the golden file has it, and its log-odds
      const p = expected['probabilities']!;
      const cls = p[i * 2 + 1]! >= p[i * 2]! ? 1 : 0;
      expect(e.output).toBeCloseTo(p[i * 2 + cls]!, 5);
      expect(Math.abs(e.prediction - logit(p[i * 2 + cls]!))).toBeLessThan(1e-4);
      expect(e.class).toBe(cls === 1 ? 'benign' : 'malignant');
    });
    // the row's own values come back beside the contributions
    const first = res.explanations[0]!.contributions.find((c) => c.feature === 'mean radius')!;
    expect(first.value).toBeCloseTo(rows[0]!['mean radius']!, 4);
  });

  it('explains a named class, and the other class gets the opposite contributions', async () => {
    const { rows } = goldenRows('breast-cancer-gbt');
    const a = (await post('/v1/deployments/breast-cancer-gbt/explain', { rows: rows.slice(0, 1), class: 'benign' })).body as unknown as ExplainResult;
    const b = (await post('/v1/deployments/breast-cancer-gbt/explain', { rows: rows.slice(0, 1), class: 'malignant' })).body as unknown as ExplainResult;
    const by = (r: ExplainResult) => Object.fromEntries(r.explanations[0]!.contributions.map((c) => [c.feature, c.contribution]));
    const ca = by(a);
    const cb = by(b);
    for (const f of Object.keys(ca)) expect(cb[f]).toBeCloseTo(-ca[f]!, 12);
    expect(a.explanations[0]!.prediction).toBeCloseTo(-b.explanations[0]!.prediction, 12);
  });

  it('gives the same exact values by interventional TreeSHAP and by Kernel SHAP enumerating every coalition (diabetes, 10 features)', async () => {
    const { rows, expected } = goldenRows('diabetes-gbt-regressor');
    const tree = (await post('/v1/deployments/diabetes-gbt-regressor/explain', { rows: rows.slice(0, 3), method: 'tree-interventional' })).body as unknown as ExplainResult;
    const kernel = (await post('/v1/deployments/diabetes-gbt-regressor/explain', { rows: rows.slice(0, 3), method: 'kernel', budget: 1022 })).body as unknown as ExplainResult;
    expect(tree).toMatchObject({ method: 'tree-interventional', exact: true, space: 'margin', background: { rows: 100, method: 'kmeans', source: 'reference' } });
    expect(kernel).toMatchObject({ method: 'kernel', exact: true, space: 'value', coalitions: 1022, budget: 1022 });
    expect(kernel.evaluations).toBe(3 * (1022 * 100 + 100 + 1)); // per row: every coalition over the background, the empty one, and the row itself
    for (let i = 0; i < 3; i++) {
      const t = tree.explanations[i]!;
      const k = kernel.explanations[i]!;
      expect(k.output).toBeCloseTo(expected['variable']![i]!, 3);
      expect(t.prediction).toBeCloseTo(k.prediction, 3); // trees in float64, the runtime in float32
      expect(t.base_value).toBeCloseTo(k.base_value, 3);
      const kc = Object.fromEntries(k.contributions.map((c) => [c.feature, c.contribution]));
      for (const c of t.contributions) expect(Math.abs(c.contribution - kc[c.feature]!)).toBeLessThan(1e-3);
      expect(Math.abs(k.base_value + sum(k) - k.prediction)).toBeLessThan(1e-6);
    }
  });

  it('samples with Kernel SHAP under a smaller budget and says how far to trust it', async () => {
    const { rows } = goldenRows('breast-cancer-gbt');
    const r = (await post('/v1/deployments/breast-cancer-gbt/explain', { rows: rows.slice(0, 1), method: 'kernel', budget: 256, link: 'logit', seed: 7 })).body as unknown as ExplainResult;
    expect(r).toMatchObject({ method: 'kernel', exact: false, space: 'log-odds', coalitions: 256 });
    const e = r.explanations[0]!;
    expect(Math.abs(e.base_value + sum(e) - e.prediction)).toBeLessThan(1e-6);
    expect(e.contributions.every((c) => typeof c.standard_error === 'number' && c.standard_error >= 0)).toBe(true);
    // the same seed, the same answer
    const again = (await post('/v1/deployments/breast-cancer-gbt/explain', { rows: rows.slice(0, 1), method: 'kernel', budget: 256, link: 'logit', seed: 7 })).body as unknown as ExplainResult;
    expect(again.explanations).toEqual(r.explanations);
  });

  it('explains a model with string categoricals over several inputs (credit) by Kernel SHAP, the categories shown as they came', async () => {
    const g = readGolden('credit').cases.find((x) => x.name === 'golden_32')!;
    const card = JSON.parse(readFileSync(fixturePath('credit', 'card.json'), 'utf8')) as { inputs: { name: string; feature_names: string[] }[] };
    const row: Record<string, number | string> = {};
    for (const input of card.inputs) {
      const flat = flatten(g.inputs[input.name]!.data) as (number | string)[];
      input.feature_names.forEach((n, j) => (row[n] = flat[j]!));
    }
    const predicted = (await post('/v1/deployments/credit/predict', { rows: [row] })).body as { predictions: { label: string; probabilities: Record<string, number> }[] };
    const r = await post('/v1/deployments/credit/explain', { rows: [row], budget: 512, seed: 3 });
    expect(r.status).toBe(200);
    const res = r.body as unknown as ExplainResult;
    expect(res).toMatchObject({ method: 'kernel', exact: false, space: 'probability', coalitions: 512 });
    const e = res.explanations[0]!;
    expect(e.class).toBe(predicted.predictions[0]!.label);
    expect(e.output).toBeCloseTo(predicted.predictions[0]!.probabilities[e.class!]!, 5);
    expect(Math.abs(e.base_value + sum(e) - e.prediction)).toBeLessThan(1e-6);
    expect(e.contributions).toHaveLength(Object.keys(row).length);
    const region = e.contributions.find((c) => c.feature === 'region')!;
    expect(region.value).toBe(row['region']);
  }, 60_000);

  it('explains with LIME on request: a local linear model with its fidelity, each feature with the row\'s bin', async () => {
    const { rows } = goldenRows('diabetes-gbt-regressor');
    const r = await post('/v1/deployments/diabetes-gbt-regressor/explain', { rows: rows.slice(0, 2), method: 'lime', samples: 2000, seed: 4 });
    expect(r.status).toBe(200);
    const res = r.body as unknown as ExplainResult;
    expect(res).toMatchObject({ method: 'lime', exact: false, space: 'value', samples: 2000, evaluations: 4000, background: { rows: 221, method: 'sample', source: 'reference' } });
    const tree = (await post('/v1/deployments/diabetes-gbt-regressor/explain', { rows: rows.slice(0, 2) })).body as unknown as ExplainResult;
    res.explanations.forEach((e, i) => {
      expect(e.fidelity).toBeGreaterThanOrEqual(0);
      expect(e.fidelity).toBeLessThanOrEqual(1);
      expect(Math.abs(e.base_value + sum(e) - e.prediction)).toBeLessThan(1e-6);
      expect(e.output).toBeCloseTo(tree.explanations[i]!.prediction, 3);
      expect(e.contributions.every((c) => typeof c.condition === 'string' && c.condition.includes(c.feature))).toBe(true);
    });
    // LIME needs training rows for its bins: refused, with the way out, on a version without reference data
    const none = await post('/v1/deployments/breast-cancer-logreg/explain', { rows: goldenRows('breast-cancer-gbt').rows.slice(0, 1), method: 'lime' });
    expect(none.status).toBe(409);
    expect(none.body['error']).toContain('LIME');
    expect((await post('/v1/deployments/diabetes-gbt-regressor/explain', { rows: rows.slice(0, 1), method: 'lime', samples: 5 })).body).toMatchObject({ field: 'samples' });
  });

  it('keeps explained rows when asked and answers them again from the cache, the same numbers without model runs', async () => {
    const { rows } = goldenRows('diabetes-gbt-regressor');
    const body = { rows: rows.slice(3, 6), method: 'kernel', budget: 300, seed: 5, cache: true };
    const first = (await post('/v1/deployments/diabetes-gbt-regressor/explain', body)).body as unknown as ExplainResult;
    expect(first).toMatchObject({ cached: 0 });
    expect(first.evaluations).toBeGreaterThan(0);
    // two rows seen, one new: only the new one runs the model
    const second = (await post('/v1/deployments/diabetes-gbt-regressor/explain', { ...body, rows: [rows[4], rows[7], rows[3]] })).body as unknown as ExplainResult;
    expect(second.cached).toBe(2);
    expect(second.evaluations).toBe(first.evaluations / 3);
    expect(second.explanations[0]).toEqual(first.explanations[1]);
    expect(second.explanations[2]).toEqual(first.explanations[0]);
    // other options are other entries; without cache: true nothing is read or kept
    expect(((await post('/v1/deployments/diabetes-gbt-regressor/explain', { ...body, seed: 6 })).body as unknown as ExplainResult).cached).toBe(0);
    expect(((await post('/v1/deployments/diabetes-gbt-regressor/explain', { ...body, cache: false })).body as unknown as ExplainResult).cached).toBe(0);
    expect((await post('/v1/deployments/diabetes-gbt-regressor/explain', { ...body, cache: 'yes' })).body).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'cache' });
  });

  it('answers the v2 form like the friendly one', async () => {
    const { rows, matrix } = goldenRows('breast-cancer-gbt');
    const v1 = (await post('/v1/deployments/breast-cancer-gbt/explain', { rows: rows.slice(0, 2) })).body as unknown as ExplainResult;
    const v2 = await post('/v2/models/breast-cancer-gbt/explain', { id: 'x1', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 30], data: matrix.slice(0, 2).flat() }] });
    expect(v2.status).toBe(200);
    expect(v2.body).toMatchObject({ model_name: 'breast-cancer-gbt', id: 'x1', method: 'tree-path-dependent' });
    expect((v2.body as unknown as ExplainResult).explanations).toEqual(v1.explanations);
  });

  it('refuses bad requests with a 4xx naming the field, and says how to get what is missing', async () => {
    const { rows } = goldenRows('breast-cancer-gbt');
    const one = rows.slice(0, 1);
    const cases: [string, unknown, number, string, string][] = [
      ['/v1/deployments/breast-cancer-gbt/explain', { rows: one, methd: 'tree' }, 400, 'methd', 'unknown field'],
      ['/v1/deployments/breast-cancer-gbt/explain', { rows: one, method: 'shapley' }, 400, 'method', 'one of auto'],
      ['/v1/deployments/breast-cancer-gbt/explain', { rows: one, budget: 1.5 }, 400, 'budget', 'whole number'],
      ['/v1/deployments/breast-cancer-gbt/explain', { rows: one, class: 'maybe' }, 400, 'class', 'malignant'],
      ['/v1/deployments/breast-cancer-gbt/explain', { rows: [{ 'mean radius': 1 }] }, 400, 'rows[0].mean texture', 'missing'],
      ['/v1/deployments/breast-cancer-logreg/explain', { rows: one, method: 'tree' }, 400, 'method', 'not a tree ensemble'],
      ['/v1/deployments/breast-cancer-logreg/explain', { rows: one }, 409, 'method', 'berth models profile breast-cancer-logreg 1 --reference'],
      ['/v1/deployments/nope/explain', { rows: one }, 404, '', 'nope'],
      ['/v1/deployments/breast-cancer-gbt/explain', { rows: Array.from({ length: 50 }, () => rows[0]), method: 'kernel', budget: 1 << 20 }, 413, 'budget', 'explain.maxJobEvaluations'],
      ['/v1/deployments/breast-cancer-gbt/explain', { rows: one, async: 'yes' }, 400, 'async', 'true or false'],
    ];
    for (const [path, body, status, field, words] of cases) {
      const r = await post(path, body);
      expect({ path, body: JSON.stringify(body).slice(0, 60), status: r.status }).toEqual({ path, body: JSON.stringify(body).slice(0, 60), status });
      if (field !== '') expect(r.body['field']).toBe(field);
      expect(String(r.body['error'])).toContain(words);
    }
  });
});

describe('explain jobs', () => {
  async function waitJob(deployment: string, id: number, states: string[]): Promise<Record<string, unknown>> {
    for (let i = 0; i < 600; i++) {
      const j = (await (await fetch(`${ts.url}/v1/deployments/${deployment}/explain/jobs/${id}`)).json()) as Record<string, unknown>;
      if (states.includes(j['state'] as string)) return j;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`explain job ${id} never reached ${states.join('/')}`);
  }

  it('queue a request asked to run async, stating the cost up front, and give the same answer as the synchronous one', async () => {
    const { rows } = goldenRows('diabetes-gbt-regressor');
    const body = { rows: rows.slice(0, 3), method: 'kernel', budget: 1022 };
    const r = await post('/v1/deployments/diabetes-gbt-regressor/explain', { ...body, async: true });
    expect(r.status).toBe(202);
    const job = r.body['job'] as { id: number; estimate: { method: string; rows: number; evaluations: number } };
    expect(job.estimate).toEqual({ method: 'kernel', rows: 3, evaluations: 3 * (1022 * 100 + 100 + 1) });
    expect(String(r.body['message'])).toContain(`/v1/deployments/diabetes-gbt-regressor/explain/jobs/${job.id}`);
    const done = await waitJob('diabetes-gbt-regressor', job.id, ['succeeded', 'failed', 'cancelled']);
    expect(done).toMatchObject({ state: 'succeeded', kind: 'explain', deployment: 'diabetes-gbt-regressor', progress: { rowsDone: 3, rowsTotal: 3 }, summary: { rows: 3, evaluations: job.estimate.evaluations } });
    const result = (await (await fetch(`${ts.url}/v1/deployments/diabetes-gbt-regressor/explain/jobs/${job.id}/result`)).json()) as ExplainResult;
    const sync = (await post('/v1/deployments/diabetes-gbt-regressor/explain', body)).body as unknown as ExplainResult;
    expect(result.explanations).toEqual(sync.explanations);
    expect(result).toMatchObject({ deployment: 'diabetes-gbt-regressor', method: 'kernel', exact: true });
    // an explain job is not a batch job, and belongs to its deployment
    expect((await fetch(`${ts.url}/v1/jobs/${job.id}`)).status).toBe(404);
    expect((await fetch(`${ts.url}/v1/deployments/breast-cancer-gbt/explain/jobs/${job.id}`)).status).toBe(404);
    // the CLI: --async queues and says how to follow; --job shows the result once it is there
    let out = '';
    const io = { out: (t: string) => void (out += t), err: () => undefined, env: {} };
    expect(await main(['node', 'berth', '--server', ts.url, 'explain', 'diabetes-gbt-regressor', '--rows', JSON.stringify(rows.slice(0, 1)), '--async'], io)).toBe(0);
    const queued = /explain job (\d+)/.exec(out);
    expect(queued).not.toBeNull();
    expect(out).toContain(`then: berth explain diabetes-gbt-regressor --job ${queued![1]}`);
    await waitJob('diabetes-gbt-regressor', Number(queued![1]), ['succeeded']);
    out = '';
    expect(await main(['node', 'berth', '--server', ts.url, 'explain', 'diabetes-gbt-regressor', '--job', queued![1]!], io)).toBe(0);
    expect(out).toContain('row 0: prediction');
    expect(out).toContain('FEATURE');
  }, 60_000);

  it('turn a request over the synchronous limit into a job, which can be cancelled, and has no result then', async () => {
    const { rows } = goldenRows('breast-cancer-gbt');
    const r = await post('/v1/deployments/breast-cancer-gbt/explain', { rows: Array.from({ length: 400 }, (_, i) => rows[i % rows.length]), method: 'kernel' });
    expect(r.status).toBe(202);
    const id = (r.body['job'] as { id: number }).id;
    const c = await post(`/v1/deployments/breast-cancer-gbt/explain/jobs/${id}/cancel`, {});
    expect(c.status).toBe(200);
    const end = await waitJob('breast-cancer-gbt', id, ['cancelled', 'succeeded', 'failed']);
    expect(end).toMatchObject({ state: 'cancelled', error: { code: 'CANCELLED' } });
    const res = await fetch(`${ts.url}/v1/deployments/breast-cancer-gbt/explain/jobs/${id}/result`);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe('JOB_STATE');
  }, 60_000);
});

describe('permutation importance', () => {
  it('ranks every feature by how much shuffling it hurts the metric on the labelled reference, with t-intervals', async () => {
    const r = await post('/v1/deployments/diabetes-gbt-regressor/importance', { repeats: 3, seed: 2 });
    expect(r.status).toBe(200);
    const res = r.body as unknown as ImportanceResult;
    expect(res).toMatchObject({ deployment: 'diabetes-gbt-regressor', metric: 'r2', repeats: 3, confidence: 0.95, rows: 221, evaluations: 221 * (1 + 10 * 3) });
    // the baseline is the model's r2 on its reference rows, as the fixture's card measured it on held-out rows
    expect(res.baseline).toBeGreaterThan(0.3);
    expect(res.baseline).toBeLessThan(1);
    expect(res.features).toHaveLength(10);
    expect(res.features.map((f) => f.mean)).toEqual([...res.features.map((f) => f.mean)].sort((a, b) => b - a));
    for (const f of res.features) {
      expect(f.low).toBeLessThanOrEqual(f.mean);
      expect(f.high).toBeGreaterThanOrEqual(f.mean);
    }
    expect(res.features[0]!.low).toBeGreaterThan(0);
    // the classifier: accuracy on the predicted class by default, roc-auc on the last class when asked
    const acc = (await post('/v1/deployments/breast-cancer-gbt/importance', { repeats: 2, max_rows: 100 })).body as unknown as ImportanceResult;
    expect(acc).toMatchObject({ metric: 'accuracy', rows: 100 });
    expect(acc.baseline).toBeGreaterThan(0.9);
    const auc = (await post('/v1/deployments/breast-cancer-gbt/importance', { metric: 'roc-auc', repeats: 2, max_rows: 100 })).body as unknown as ImportanceResult;
    expect(auc).toMatchObject({ metric: 'roc-auc', class: 'benign' });
    // refusals name the field
    expect((await post('/v1/deployments/diabetes-gbt-regressor/importance', { metric: 'accuracy' })).body).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'metric' });
    expect((await post('/v1/deployments/diabetes-gbt-regressor/importance', { repeats: 1 })).body).toMatchObject({ field: 'repeats' });
    expect((await post('/v1/deployments/diabetes-gbt-regressor/importance', { rows: 3 })).body).toMatchObject({ field: 'rows' });
    expect((await post('/v1/deployments/breast-cancer-logreg/importance', {})).status).toBe(409);
    // the CLI's table
    let out = '';
    const io = { out: (t: string) => void (out += t), err: () => undefined, env: {} };
    expect(await main(['node', 'berth', '--server', ts.url, 'importance', 'diabetes-gbt-regressor', '--repeats', '3', '--seed', '2'], io)).toBe(0);
    expect(out).toContain('r2');
    expect(out).toMatch(/FEATURE +IMPORTANCE +INTERVAL +MATTERS/);
    expect(out).toContain(res.features[0]!.feature);
  }, 60_000);
});

describe('the monitoring report', () => {
  it('shows what drives the predictions: mean |contribution| per feature over reference rows, as a bar chart in the HTML', async () => {
    const json = await fetch(`${ts.url}/v1/deployments/breast-cancer-gbt/monitor?window=1h`);
    expect(json.status).toBe(200);
    const report = (await json.json()) as { explanations: { method: string; space: string; rows: number; features: { feature: string; meanAbs: number; mean: number }[] } };
    expect(report.explanations).toMatchObject({ method: 'tree-path-dependent', space: 'margin of class benign', rows: 200 });
    const f = report.explanations.features;
    expect(f).toHaveLength(30);
    expect(f.map((x) => x.meanAbs)).toEqual([...f.map((x) => x.meanAbs)].sort((a, b) => b - a));
    expect(f.every((x) => x.meanAbs >= Math.abs(x.mean))).toBe(true);
    expect(f[0]!.meanAbs).toBeGreaterThan(0);
    const html = await (await fetch(`${ts.url}/v1/deployments/breast-cancer-gbt/monitor?window=1h&format=html`)).text();
    expect(html).toContain('<section id="explanations">');
    expect(html).toContain('What drives the predictions');
    expect(html).toContain(`<title>${f[0]!.feature}: `);
    expect((html.match(/<g><title>/g) ?? []).length).toBeGreaterThanOrEqual(30);
    // a version without reference data has no such section
    const logreg = (await (await fetch(`${ts.url}/v1/deployments/breast-cancer-logreg/monitor?window=1h`)).json()) as { explanations: unknown };
    expect(logreg.explanations).toBeNull();
  });
});

describe('berth explain', () => {
  it('prints a table with bars in a terminal and the server JSON with --json', async () => {
    const { rows } = goldenRows('breast-cancer-gbt');
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t), env: {} };
    expect(await main(['node', 'berth', '--server', ts.url, 'explain', 'breast-cancer-gbt', '--row', JSON.stringify(rows[0]), '--top', '5'], io)).toBe(0);
    expect(err).toBe('');
    expect(out).toContain('tree-path-dependent, exact');
    expect(out).toMatch(/row 0, class (benign|malignant): prediction -?\d/);
    expect(out).toContain('FEATURE');
    expect(out).toContain('█');
    expect(out).toContain('… 25 more features, together');
    out = '';
    expect(await main(['node', 'berth', '--server', ts.url, 'explain', 'breast-cancer-gbt', '--row', JSON.stringify(rows[0]), '--json', '--top', '5'], io)).toBe(0);
    const json = JSON.parse(out) as ExplainResult;
    expect(json.explanations[0]!.contributions).toHaveLength(30);
    // a page of bar charts, one per row, every feature in it
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-explain-html-'));
    const page = path.join(dir, 'why.html');
    out = '';
    err = '';
    expect(await main(['node', 'berth', '--server', ts.url, 'explain', 'breast-cancer-gbt', '--rows', JSON.stringify(rows.slice(0, 2)), '--html', page], io)).toBe(0);
    expect(err).toBe(`wrote ${page}\n`);
    const html = readFileSync(page, 'utf8');
    expect((html.match(/<svg class="contrib"/g) ?? []).length).toBe(2);
    expect((html.match(/<g><title>/g) ?? []).length).toBe(60);
    expect(html).toContain('mean radius = ');
    await rm(dir, { recursive: true, force: true });
  });
});

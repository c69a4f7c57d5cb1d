import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../src/explain/background.js';
import type { ExplainableModel } from '../../src/explain/kernel-shap.js';
import { computeMetric, permutationImportance, studentTQuantile, type LabelledRows } from '../../src/explain/permutation.js';
import { TreeShap } from '../../src/explain/tree-shap.js';
import { coversFrom, treeModelOf } from '../../src/explain/trees.js';
import { OnnxBackend, type LoadedModel } from '../../src/runtime/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { fixturePath, readCardJson } from '../helpers/fixtures.js';

/** A model from a function of one row, counting calls and rows. */
class FunctionModel implements ExplainableModel {
  calls = 0;
  rows = 0;
  largestCall = 0;

  constructor(
    readonly featureCount: number,
    private readonly f: (row: Float32Array) => number,
  ) {}

  async predict(rows: Float32Array, n: number): Promise<Float64Array> {
    this.calls++;
    this.rows += n;
    this.largestCall = Math.max(this.largestCall, n);
    const M = this.featureCount;
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) y[i] = this.f(rows.subarray(i * M, i * M + M));
    return y;
  }
}

const logistic = (z: number): number => 1 / (1 + Math.exp(-z));

/**
 * n rows of three uniform features and labels from f = 3·x0 + 0.5·x1 (x2 ignored): the value
 * plus a little noise (regression), or a coin flip with probability σ(8·(x0 − 0.5) + x1 − 0.5)
 * (classification).
 */
function synthetic(n: number, kind: 'regression' | 'classification', seed = 1): LabelledRows {
  const rng = createSeededRandom(seed);
  const rows = new Float32Array(n * 3);
  const labels = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 3; j++) rows[i * 3 + j] = rng.next();
    const [x0, x1] = [rows[i * 3]!, rows[i * 3 + 1]!];
    labels[i] = kind === 'regression' ? 3 * x0 + 0.5 * x1 + 0.1 * (rng.next() - 0.5) : rng.next() < logistic(8 * (x0 - 0.5) + x1 - 0.5) ? 1 : 0;
  }
  return { rows, n, labels };
}
const regressor = (): FunctionModel => new FunctionModel(3, (x) => 3 * x[0]! + 0.5 * x[1]!);
const classifier = (): FunctionModel => new FunctionModel(3, (x) => logistic(8 * (x[0]! - 0.5) + x[1]! - 0.5));

describe('Student t quantiles', () => {
  it('match scipy.stats.t.ppf to 1e-9', () => {
    // scipy 1.x: t.ppf(p, df)
    const known: [number, number, number][] = [
      [0.975, 1, 12.706204736174694],
      [0.975, 2, 4.302652729749464],
      [0.975, 4, 2.7764451051977934],
      [0.975, 9, 2.262157162798205],
      [0.975, 29, 2.045229642132703],
      [0.975, 1000, 1.9623390808264083],
      [0.975, 100000, 1.9599877075346095],
      [0.95, 10, 1.8124611228116756],
      [0.995, 5, 4.032142983555228],
      [0.9, 3, 1.637744353696209],
      [0.999, 2, 22.327124770119866],
    ];
    for (const [p, df, t] of known) {
      expect(Math.abs(studentTQuantile(p, df) - t)).toBeLessThan(1e-9 * Math.max(1, t));
      expect(Math.abs(studentTQuantile(1 - p, df) + t)).toBeLessThan(1e-9 * Math.max(1, t));
    }
    expect(studentTQuantile(0.5, 7)).toBe(0);
  });

  it('refuses p outside (0, 1) and df that is not a positive integer', async () => {
    const field = async (f: () => number): Promise<unknown> => (await expectCode(Promise.resolve().then(f), 'INVALID_ARGUMENT')).context.field;
    expect(await field(() => studentTQuantile(1, 4))).toBe('p');
    expect(await field(() => studentTQuantile(0, 4))).toBe('p');
    expect(await field(() => studentTQuantile(0.975, 0))).toBe('df');
    expect(await field(() => studentTQuantile(0.975, 2.5))).toBe('df');
  });
});

describe('metrics on small hand-checked cases', () => {
  const L = (...v: number[]): Float64Array => Float64Array.from(v);

  it('accuracy: a threshold on the probability of class 1 (default 0.5, ≥ counts as 1), or the class code itself', () => {
    // classes at 0.5: 0, 1, 1, 0 against 0, 1, 1, 1 → 3 of 4
    expect(computeMetric('accuracy', [0.2, 0.7, 0.5, 0.49], L(0, 1, 1, 1))).toBe(0.75);
    // at 0.6: 0, 1, 0, 0 → 2 of 4
    expect(computeMetric('accuracy', [0.2, 0.7, 0.5, 0.49], L(0, 1, 1, 1), { kind: 'threshold', threshold: 0.6 })).toBe(0.5);
    expect(computeMetric('accuracy', [0, 2, 1, 2], L(0, 2, 2, 2), { kind: 'label' })).toBe(0.75);
  });

  it('r2, rmse and mae', () => {
    // ȳ = 2.5, Σ(y − ȳ)² = 5, Σ(y − ŷ)² = 1
    expect(computeMetric('r2', [1, 2, 3, 5], L(1, 2, 3, 4))).toBeCloseTo(0.8, 14);
    // labels that do not vary: 1 for a perfect fit, else 0 (scikit-learn)
    expect(computeMetric('r2', [2, 2], L(2, 2))).toBe(1);
    expect(computeMetric('r2', [2, 3], L(2, 2))).toBe(0);
    // errors 1, 0, 0, 2: √(5/4) and 3/4
    expect(computeMetric('rmse', [2, 2, 3, 2], L(1, 2, 3, 4))).toBeCloseTo(Math.sqrt(1.25), 14);
    expect(computeMetric('mae', [2, 2, 3, 2], L(1, 2, 3, 4))).toBe(0.75);
  });

  it('log-loss, with probabilities clipped to [1e-15, 1 − 1e-15]', () => {
    expect(computeMetric('log-loss', [0.8, 0.3], L(1, 0))).toBeCloseTo(-(Math.log(0.8) + Math.log(0.7)) / 2, 14);
    // certain and wrong: −ln(1e-15) ≈ 34.54 rather than infinity
    expect(computeMetric('log-loss', [1, 0], L(0, 1))).toBeCloseTo(34.54, 2);
  });

  it('roc-auc counts a tie between a positive and a negative as one half', () => {
    // positives 0.35, 0.8, 0.4; negatives 0.1, 0.4, 0.4. Pairs won: 1 + 3 + (1 + ½ + ½) = 6 of 9
    expect(computeMetric('roc-auc', [0.1, 0.4, 0.35, 0.8, 0.4, 0.4], L(0, 0, 1, 1, 0, 1))).toBeCloseTo(2 / 3, 14);
    expect(computeMetric('roc-auc', [0.5, 0.5, 0.5, 0.5], L(0, 1, 0, 1))).toBe(0.5);
    expect(computeMetric('roc-auc', [0.1, 0.2, 0.8, 0.9], L(0, 0, 1, 1))).toBe(1);
    expect(computeMetric('roc-auc', [0.9, 0.8, 0.2, 0.1], L(0, 0, 1, 1))).toBe(0);
  });

  it('refuses labels that do not suit the metric, naming the label', async () => {
    const field = async (f: () => number): Promise<unknown> => (await expectCode(Promise.resolve().then(f), 'INVALID_ARGUMENT')).context.field;
    expect(await field(() => computeMetric('log-loss', [0.5, 0.5], L(1, 2)))).toBe('labels[1]');
    expect(await field(() => computeMetric('accuracy', [0.5, 0.5], L(0, 3)))).toBe('labels[1]');
    expect(await field(() => computeMetric('roc-auc', [0.5, 0.5], L(1, 1)))).toBe('labels');
    expect(await field(() => computeMetric('r2', [0.5], L(1, 2)))).toBe('predictions');
  });
});

describe('permutation importance on a synthetic model (x0 matters a lot, x1 a little, x2 not at all)', () => {
  it('ranks x0 > x1 > x2 under r2, with x0\'s 95% t-interval above 0 and x2 exactly 0', async () => {
    const data = synthetic(500, 'regression');
    const model = regressor();
    const imp = await permutationImportance(model, data, { metric: 'r2', seed: 3, featureNames: ['a', 'b', 'c'] });
    expect(imp.features.map((f) => f.index)).toEqual([0, 1, 2]);
    expect(imp.features.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    const [f0, f1, f2] = imp.features as [(typeof imp.features)[0], (typeof imp.features)[0], (typeof imp.features)[0]];
    expect(imp.baseline).toBeGreaterThan(0.99);
    expect(imp.repeats).toBe(5);
    expect(imp.rows).toBe(500);
    expect(imp.evaluations).toBe(500 * (1 + 5 * 3));
    // one call: every shuffled copy of every repeat in one Float32Array
    expect(model.calls).toBe(1);
    expect(model.rows).toBe(imp.evaluations);
    expect(f0.low).toBeGreaterThan(0);
    expect(f1.low).toBeGreaterThan(0);
    expect(f1.high).toBeLessThan(f0.low);
    // the model ignores x2: its predictions, and so the metric, do not change at all
    expect(Array.from(f2.values)).toEqual([0, 0, 0, 0, 0]);
    expect(f2.low).toBeLessThanOrEqual(0);
    expect(f2.high).toBeGreaterThanOrEqual(0);
    // the interval is mean ± t_{0.975,4}·sd/√5 over the five repeats' values
    for (const f of imp.features) {
      const mean = f.values.reduce((s, v) => s + v, 0) / 5;
      const sd = Math.sqrt(f.values.reduce((s, v) => s + (v - mean) ** 2, 0) / 4);
      expect(f.mean).toBeCloseTo(mean, 14);
      expect(f.sd).toBeCloseTo(sd, 14);
      expect(f.high - f.mean).toBeCloseTo((2.7764451051977934 * sd) / Math.sqrt(5), 12);
      expect(f.mean - f.low).toBeCloseTo((2.7764451051977934 * sd) / Math.sqrt(5), 12);
    }
  });

  it('counts worsening as positive for loss metrics too (rmse, mae, log-loss) and for accuracy and roc-auc', async () => {
    const reg = synthetic(400, 'regression', 2);
    for (const metric of ['rmse', 'mae'] as const) {
      const imp = await permutationImportance(regressor(), reg, { metric, seed: 1 });
      expect(imp.features.map((f) => f.index)).toEqual([0, 1, 2]);
      expect(imp.features[0]!.low).toBeGreaterThan(0);
      expect(imp.features[2]!.mean).toBe(0);
    }
    const cls = synthetic(400, 'classification', 2);
    for (const metric of ['accuracy', 'log-loss', 'roc-auc'] as const) {
      const imp = await permutationImportance(classifier(), cls, { metric, seed: 1 });
      expect(imp.features[0]!.index).toBe(0);
      expect(imp.features[0]!.low).toBeGreaterThan(0);
      expect(imp.features.find((f) => f.index === 2)!.mean).toBe(0);
    }
  });

  it('is deterministic by seed, and the same whatever the rows per predict call (blocks spanning calls)', async () => {
    const data = synthetic(300, 'regression');
    const a = await permutationImportance(regressor(), data, { metric: 'r2', seed: 5, repeats: 4 });
    const chunked = regressor();
    const b = await permutationImportance(chunked, data, { metric: 'r2', seed: 5, repeats: 4, maxRowsPerCall: 77 });
    expect(chunked.calls).toBe(Math.ceil((300 * (1 + 4 * 3)) / 77));
    expect(chunked.largestCall).toBe(77);
    expect(b).toEqual(a);
    const c = await permutationImportance(regressor(), data, { metric: 'r2', seed: 6, repeats: 4 });
    expect(c.features[0]!.values).not.toEqual(a.features[0]!.values);
  });

  it('measures a seeded sample of maxRows rows', async () => {
    const data = synthetic(1000, 'regression');
    const model = regressor();
    const imp = await permutationImportance(model, data, { metric: 'r2', seed: 2, maxRows: 200, repeats: 3 });
    expect(imp.rows).toBe(200);
    expect(imp.evaluations).toBe(200 * (1 + 3 * 3));
    expect(model.rows).toBe(imp.evaluations);
    expect(imp.features.map((f) => f.index)).toEqual([0, 1, 2]);
    const again = await permutationImportance(regressor(), data, { metric: 'r2', seed: 2, maxRows: 200, repeats: 3 });
    expect(again).toEqual(imp);
    // maxRows above n measures every row
    expect((await permutationImportance(regressor(), data, { metric: 'r2', maxRows: 5000 })).rows).toBe(1000);
  });

  it('refuses bad options and data with INVALID_ARGUMENT naming the field', async () => {
    const data = synthetic(50, 'regression');
    const field = async (p: Promise<unknown>): Promise<unknown> => (await expectCode(p, 'INVALID_ARGUMENT')).context.field;
    const m = regressor();
    expect(await field(permutationImportance(m, data, { metric: 'f1' as 'r2' }))).toBe('metric');
    expect(await field(permutationImportance(m, data, { metric: 'r2', repeats: 1 }))).toBe('repeats');
    expect(await field(permutationImportance(m, data, { metric: 'r2', repeats: 2.5 }))).toBe('repeats');
    expect(await field(permutationImportance(m, data, { metric: 'r2', seed: -1 }))).toBe('seed');
    expect(await field(permutationImportance(m, data, { metric: 'r2', maxRows: 1 }))).toBe('maxRows');
    expect(await field(permutationImportance(m, data, { metric: 'r2', confidence: 1 }))).toBe('confidence');
    expect(await field(permutationImportance(m, data, { metric: 'accuracy', decision: { kind: 'threshold', threshold: NaN } }))).toBe('decision');
    expect(await field(permutationImportance(m, data, { metric: 'r2', featureNames: ['a'] }))).toBe('featureNames');
    expect(await field(permutationImportance(m, data, { metric: 'r2', maxRowsPerCall: 0 }))).toBe('maxRowsPerCall');
    expect(await field(permutationImportance(m, { ...data, rows: data.rows.subarray(3) }, { metric: 'r2' }))).toBe('rows');
    expect(await field(permutationImportance(m, { ...data, labels: data.labels.subarray(1) }, { metric: 'r2' }))).toBe('labels');
    expect(await field(permutationImportance(m, { rows: data.rows.subarray(0, 3), n: 1, labels: data.labels.subarray(0, 1) }, { metric: 'r2' }))).toBe('n');
    const nanLabels = data.labels.slice();
    nanLabels[3] = NaN;
    expect(await field(permutationImportance(m, { ...data, labels: nanLabels }, { metric: 'r2' }))).toBe('labels[3]');
    // regression labels under a probability metric
    expect(await field(permutationImportance(m, data, { metric: 'log-loss' }))).toMatch(/^labels\[\d+\]$/);
  });

  it('refuses a model that answers NaN with INFERENCE_FAILED', async () => {
    const nan = new FunctionModel(3, () => NaN);
    await expectCode(permutationImportance(nan, synthetic(20, 'regression'), { metric: 'r2' }), 'INFERENCE_FAILED');
  });
});

describe('permutation importance on diabetes-gbt-regressor through onnxruntime', () => {
  let loaded: LoadedModel;
  beforeAll(async () => {
    loaded = await new OnnxBackend().load(readFileSync(fixturePath('diabetes-gbt-regressor')), { intraOpThreads: 1, interOpThreads: 1 });
  });
  afterAll(async () => {
    await loaded?.dispose();
  });

  class Diabetes implements ExplainableModel {
    readonly featureCount = 10;
    calls = 0;
    async predict(rows: Float32Array, n: number): Promise<Float64Array> {
      this.calls++;
      const [out] = await loaded.run([{ name: 'input', datatype: 'FP32', shape: [n, 10], data: rows }], ['variable']);
      return Float64Array.from(out!.data as Float32Array);
    }
  }

  /** reference.csv: the card's ten features, then `label`. */
  function reference(): LabelledRows & { names: string[] } {
    const card = readCardJson('diabetes-gbt-regressor') as { inputs: { feature_names: string[] }[] };
    const names = card.inputs[0]!.feature_names;
    const lines = readFileSync(fixturePath('diabetes-gbt-regressor', 'reference.csv'), 'utf8').split('\n').filter((l) => l.trim() !== '');
    expect(lines[0]!.split(',')).toEqual([...names, 'label']);
    const n = lines.length - 1;
    const rows = new Float32Array(n * 10);
    const labels = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const cells = lines[i + 1]!.split(',');
      for (let j = 0; j < 10; j++) rows[i * 10 + j] = Number(cells[j]);
      labels[i] = Number(cells[10]);
    }
    return { rows, n, labels, names };
  }

  it('gives finite r2 importances in one call, a baseline equal to the model\'s own r2, and the same top 3 and last feature as mean |TreeSHAP|', async () => {
    const data = reference();
    const model = new Diabetes();
    const imp = await permutationImportance(model, data, { metric: 'r2', seed: 0, featureNames: data.names });
    expect(model.calls).toBe(1);
    expect(imp.evaluations).toBe(data.n * 51);
    expect(imp.features).toHaveLength(10);
    expect(new Set(imp.features.map((f) => f.index)).size).toBe(10);
    for (const f of imp.features) {
      expect([f.mean, f.sd, f.low, f.high].every(Number.isFinite)).toBe(true);
      expect(f.name).toBe(data.names[f.index]);
    }
    for (let k = 1; k < 10; k++) expect(imp.features[k - 1]!.mean).toBeGreaterThanOrEqual(imp.features[k]!.mean);

    // the baseline, computed here from one plain call
    const y = await new Diabetes().predict(data.rows, data.n);
    const mean = data.labels.reduce((s, v) => s + v, 0) / data.n;
    let sse = 0;
    let sst = 0;
    for (let i = 0; i < data.n; i++) {
      sse += (data.labels[i]! - y[i]!) ** 2;
      sst += (data.labels[i]! - mean) ** 2;
    }
    expect(Math.abs(imp.baseline - (1 - sse / sst))).toBeLessThan(1e-12);

    // a second opinion on which features the trees lean on: mean |path-dependent TreeSHAP| over the same rows
    const tree = treeModelOf(readFileSync(fixturePath('diabetes-gbt-regressor')))!;
    const shap = new TreeShap(tree.ensemble, { covers: coversFrom(tree.ensemble, data.rows, data.n) });
    const meanAbs = new Float64Array(10);
    for (let i = 0; i < data.n; i++) {
      const c = shap.pathDependent(data.rows.subarray(i * 10, i * 10 + 10)).targets[0]!.contributions;
      for (let j = 0; j < 10; j++) meanAbs[j]! += Math.abs(c[j]!) / data.n;
    }
    const byShap = Array.from(meanAbs, (v, j) => [v, j] as const)
      .sort((a, b) => b[0] - a[0])
      .map((p) => p[1]);
    expect(imp.features.slice(0, 3).map((f) => f.index)).toEqual(byShap.slice(0, 3));
    expect(imp.features[9]!.index).toBe(byShap[9]);
    expect(imp.features[0]!.low).toBeGreaterThan(0);
  });

  it('gives exactly 0 to a feature held constant in the data; the model itself splits on every feature', async () => {
    // every one of the ten features has a split, so "a feature the model never uses" cannot be
    // shown on this model (the synthetic test shows it); a column without variation can
    const tree = treeModelOf(readFileSync(fixturePath('diabetes-gbt-regressor')))!;
    expect(new Set(Array.from(tree.ensemble.feature).filter((f) => f >= 0)).size).toBe(10);
    const data = reference();
    const rows = data.rows.slice();
    for (let i = 0; i < data.n; i++) rows[i * 10 + 1] = 1; // sex
    const imp = await permutationImportance(new Diabetes(), { rows, n: data.n, labels: data.labels }, { metric: 'r2', seed: 1, repeats: 3 });
    const sex = imp.features.find((f) => f.index === 1)!;
    expect(Array.from(sex.values)).toEqual([0, 0, 0]);
    expect(imp.features.every((f) => Number.isFinite(f.mean))).toBe(true);
  });

  it('is deterministic by seed through the runtime', async () => {
    const data = reference();
    const a = await permutationImportance(new Diabetes(), data, { metric: 'mae', seed: 11, repeats: 3, maxRows: 100 });
    const b = await permutationImportance(new Diabetes(), data, { metric: 'mae', seed: 11, repeats: 3, maxRows: 100 });
    expect(b).toEqual(a);
    expect(a.rows).toBe(100);
  });
});

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackground, createSeededRandom, type Background } from '../../src/explain/background.js';
import type { ExplainableModel } from '../../src/explain/kernel-shap.js';
import { explainLime, LimeTabular, type LimeExplanation } from '../../src/explain/lime.js';
import { TreeShap } from '../../src/explain/tree-shap.js';
import { coversFrom, treeModelOf } from '../../src/explain/trees.js';
import { OnnxBackend, type LoadedModel } from '../../src/runtime/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { fixturePath, readCardJson } from '../helpers/fixtures.js';

/** f(x) = b + w·x, counting calls and keeping every row it was asked about. */
class LinearModel implements ExplainableModel {
  calls = 0;
  rows = 0;
  largestCall = 0;
  seen: Float32Array[] = [];

  constructor(
    readonly w: readonly number[],
    readonly b = 0,
  ) {}

  get featureCount(): number {
    return this.w.length;
  }

  async predict(rows: Float32Array, n: number): Promise<Float64Array> {
    this.calls++;
    this.rows += n;
    this.largestCall = Math.max(this.largestCall, n);
    this.seen.push(rows.slice(0, n * this.w.length));
    const M = this.w.length;
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = this.b;
      // a zero weight ignores its feature, even when it is missing (NaN)
      for (let j = 0; j < M; j++) if (this.w[j] !== 0) s += this.w[j]! * rows[i * M + j]!;
      y[i] = s;
    }
    return y;
  }
}

/**
 * n rows of M independent features, each a shuffled grid (i + 0.5)/n of [0, 1]: uniform, with
 * quartiles at 0.25, 0.5 and 0.75 (to 1/n) so the bins are [0, ¼], (¼, ½], (½, ¾], (¾, 1] and
 * their means ⅛, ⅜, ⅝, ⅞.
 */
function gridRows(n: number, M: number, seed: number): Float32Array {
  const rng = createSeededRandom(seed);
  const rows = new Float32Array(n * M);
  const order = new Int32Array(n);
  for (let j = 0; j < M; j++) {
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const k = rng.int(i + 1);
      const t = order[i]!;
      order[i] = order[k]!;
      order[k] = t;
    }
    for (let i = 0; i < n; i++) rows[i * M + j] = (order[i]! + 0.5) / n;
  }
  return rows;
}

/** n rows of M independent fair coin flips (0 or 1). */
function coinRows(n: number, M: number, seed: number): Float32Array {
  const rng = createSeededRandom(seed);
  return Float32Array.from({ length: n * M }, () => (rng.next() < 0.5 ? 1 : 0));
}

const sum = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v, 0);

/** Feature indices by |value|, largest first (ties by index). */
function topFeatures(values: ArrayLike<number>, k: number): number[] {
  return Array.from(values, (v, j) => [Math.abs(v), j] as const)
    .sort((p, q) => q[0] - p[0] || p[1] - q[1])
    .slice(0, k)
    .map((p) => p[1]);
}

describe('LIME on a linear model over independent features', () => {
  // f = w·x with feature 4 a dummy
  const w = [2, -1, 0.5, -3, 0];
  const M = w.length;

  it('recovers ±w exactly on 0/1 features with α = 0 (the surrogate is the model), R² = 1, and a dummy weight of 0', async () => {
    // On a 0/1 feature a sample is in x's bin exactly when it has x's value, so
    // f = Σ w_j (1 − x_j) + Σ w_j (2x_j − 1) z_j is linear in the binary representation z.
    const bg = createBackground(coinRows(1000, M, 2), 1000, M);
    const x = Float32Array.from([1, 1, 0, 0, 1]);
    const model = new LinearModel(w);
    const e = await explainLime(model, x, bg, { alpha: 0, seed: 1 });
    for (let j = 0; j < M; j++) expect(Math.abs(e.contributions[j]! - (2 * x[j]! - 1) * w[j]!)).toBeLessThan(1e-9);
    expect(Math.abs(e.contributions[4]!)).toBeLessThan(1e-9);
    expect(e.score).toBeGreaterThan(1 - 1e-12);
    expect(e.prediction).toBe(2 - 1);
    expect(Math.abs(e.localPrediction - e.prediction)).toBeLessThan(1e-9);
    expect(Math.abs(e.intercept - w.reduce((s, wj, j) => s + wj * (1 - x[j]!), 0))).toBeLessThan(1e-9);
  });

  it('with the default ridge (α = 1) stays within 0.01 of ±w, fidelity R² > 0.99, dummy |weight| < 0.01', async () => {
    // α = 1 against a total kernel weight in the thousands shrinks the weights by well under 1%
    const bg = createBackground(coinRows(1000, M, 2), 1000, M);
    const x = Float32Array.from([1, 1, 0, 0, 1]);
    for (let seed = 0; seed < 3; seed++) {
      const e = await explainLime(new LinearModel(w), x, bg, { seed });
      for (let j = 0; j < M; j++) expect(Math.abs(e.contributions[j]! - (2 * x[j]! - 1) * w[j]!)).toBeLessThan(0.01);
      expect(Math.abs(e.contributions[4]!)).toBeLessThan(0.01);
      expect(e.score).toBeGreaterThan(0.99);
      expect(Math.abs(e.localPrediction - (e.intercept + sum(e.contributions)))).toBeLessThan(1e-12);
    }
  });

  it('fits scikit-learn\'s weighted ridge: centred on the kernel-weighted means, α on the slopes only, weighted R²', async () => {
    // f = 2·x0 − x1 + 1.5·x0·x1 on 0/1 features is not linear in the flags, so the fit leaves a
    // residual; α = 50 shrinks visibly. The same fit is redone here from the rows the model saw.
    const bg = createBackground(coinRows(400, 2, 8), 400, 2);
    const seen: Float32Array[] = [];
    const model: ExplainableModel = {
      featureCount: 2,
      predict: async (rows, n) => {
        seen.push(rows.slice());
        return Float64Array.from({ length: n }, (_, i) => 2 * rows[i * 2]! - rows[i * 2 + 1]! + 1.5 * rows[i * 2]! * rows[i * 2 + 1]!);
      },
    };
    const x = Float32Array.from([1, 0]);
    const e = await explainLime(model, x, bg, { alpha: 50, samples: 800, seed: 2 });
    const rows = seen[0]!;
    const width = 0.75 * Math.sqrt(2);
    let W = 0;
    const zBar = [0, 0];
    let yBar = 0;
    const k: number[] = [];
    const z: [number, number][] = [];
    const y: number[] = [];
    for (let s = 0; s < 800; s++) {
      const zs: [number, number] = [rows[s * 2] === x[0] ? 1 : 0, rows[s * 2 + 1] === x[1] ? 1 : 0];
      const d2 = 2 - zs[0] - zs[1];
      const ks = Math.exp(-d2 / (2 * width * width));
      const ys = 2 * rows[s * 2]! - rows[s * 2 + 1]! + 1.5 * rows[s * 2]! * rows[s * 2 + 1]!;
      z.push(zs);
      k.push(ks);
      y.push(ys);
      W += ks;
      zBar[0]! += ks * zs[0];
      zBar[1]! += ks * zs[1];
      yBar += ks * ys;
    }
    zBar[0]! /= W;
    zBar[1]! /= W;
    yBar /= W;
    let a00 = 50;
    let a01 = 0;
    let a11 = 50;
    let h0 = 0;
    let h1 = 0;
    for (let s = 0; s < 800; s++) {
      const c0 = z[s]![0] - zBar[0]!;
      const c1 = z[s]![1] - zBar[1]!;
      const yc = y[s]! - yBar;
      a00 += k[s]! * c0 * c0;
      a01 += k[s]! * c0 * c1;
      a11 += k[s]! * c1 * c1;
      h0 += k[s]! * c0 * yc;
      h1 += k[s]! * c1 * yc;
    }
    const det = a00 * a11 - a01 * a01;
    const b0 = (a11 * h0 - a01 * h1) / det;
    const b1 = (a00 * h1 - a01 * h0) / det;
    const intercept = yBar - zBar[0]! * b0 - zBar[1]! * b1;
    let sse = 0;
    let sst = 0;
    for (let s = 0; s < 800; s++) {
      sse += k[s]! * (y[s]! - intercept - b0 * z[s]![0] - b1 * z[s]![1]) ** 2;
      sst += k[s]! * (y[s]! - yBar) ** 2;
    }
    expect(Math.abs(e.contributions[0]! - b0)).toBeLessThan(1e-9);
    expect(Math.abs(e.contributions[1]! - b1)).toBeLessThan(1e-9);
    expect(Math.abs(e.intercept - intercept)).toBeLessThan(1e-9);
    expect(Math.abs(e.score - (1 - sse / sst))).toBeLessThan(1e-9);
    expect(e.score).toBeLessThan(0.99);
    expect(e.score).toBeGreaterThan(0);
  });

  it('on uniform features recovers the bin effects w·(mean of x\'s bin − mean of the other bins) within 0.1, in their order, dummy within 0.1', async () => {
    // With x in the bottom bin the effect is w·(⅛ − (⅜ + ⅝ + ⅞)/3) = −w/2; in the top bin +w/2.
    // Over 100 seeds the weights averaged within 0.005 of these and never strayed more than
    // 0.078 (the sampling error of one run is about 0.025); the dummy's weight likewise.
    const bg = createBackground(gridRows(2000, M, 1), 2000, M);
    const lime = new LimeTabular(bg);
    const x = Float32Array.from([0.1, 0.1, 0.9, 0.9, 0.6]);
    const expected = [-1, 0.5, 0.25, -1.5, 0];
    const order = (a: ArrayLike<number>): number[] => Array.from(a, (v, j) => [v, j] as const).sort((p, q) => p[0] - q[0]).map((p) => p[1]);
    for (let seed = 0; seed < 5; seed++) {
      const e = await lime.explain(new LinearModel(w), x, { seed });
      for (let j = 0; j < M; j++) expect(Math.abs(e.contributions[j]! - expected[j]!)).toBeLessThan(0.1);
      expect(order(e.contributions)).toEqual(order(expected));
      for (let j = 0; j < 4; j++) expect(Math.sign(e.contributions[j]!)).toBe(Math.sign(expected[j]!));
      // a bin flag cannot carry the spread of the values within the other bins: R² is about 0.6 here (0.587–0.622 over 100 seeds)
      expect(e.score).toBeGreaterThan(0.5);
      expect(e.score).toBeLessThanOrEqual(1);
    }
  });

  it('draws each feature\'s bin with the training frequencies and values by a truncated normal inside the bin', async () => {
    const n = 2000;
    const bg = createBackground(gridRows(n, M, 1), n, M);
    const model = new LinearModel(w);
    const x = Float32Array.from([0.1, 0.4, 0.6, 0.9, 0.5]);
    const e = await explainLime(model, x, bg, { seed: 4 });
    expect(model.calls).toBe(1);
    const rows = model.seen[0]!;
    expect(rows.subarray(0, M)).toEqual(x); // sample 0 is the row itself
    const N = e.samples;
    const q = [0.250125, 0.5, 0.749875]; // numpy's linear percentiles of the grid
    const bounds = [0.00025, q[0]!, q[1]!, q[2]!, 0.99975];
    for (let j = 0; j < M; j++) {
      const count = [0, 0, 0, 0];
      const sums = [0, 0, 0, 0];
      let lowest = Infinity;
      let highest = -Infinity;
      for (let s = 1; s < N; s++) {
        const v = rows[s * M + j]!;
        const b = v <= q[0]! ? 0 : v <= q[1]! ? 1 : v <= q[2]! ? 2 : 3;
        lowest = Math.min(lowest, v);
        highest = Math.max(highest, v);
        count[b]!++;
        sums[b]! += v;
      }
      // the first bin starts at the training minimum, the last ends at the maximum
      expect(lowest).toBeGreaterThanOrEqual(Math.fround(bounds[0]!));
      expect(highest).toBeLessThanOrEqual(Math.fround(bounds[4]!));
      for (let b = 0; b < 4; b++) {
        // a binomial share of 4,999 draws has a standard error of 0.006; the truncated normal is symmetric about the bin's mean
        expect(Math.abs(count[b]! / (N - 1) - 0.25)).toBeLessThan(0.03);
        expect(Math.abs(sums[b]! / count[b]! - (bounds[b]! + bounds[b + 1]!) / 2)).toBeLessThan(0.01);
      }
    }
  });

  it('samples a categorical feature from its value frequencies and a missing value as a state of its own', async () => {
    // feature 0: codes 0, 1, 2 in shares ½, ⅓, ⅙; feature 1: numeric with every fifth value missing
    const n = 600;
    const rows = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      rows[i * 2] = i % 6 < 3 ? 0 : i % 6 < 5 ? 1 : 2;
      rows[i * 2 + 1] = i % 5 === 0 ? NaN : i;
    }
    const bg = createBackground(rows, n, 2);
    const model = new LinearModel([1, 0]);
    const rowsSeen = (): Float32Array => model.seen[0]!;
    const e = await explainLime(model, Float32Array.from([1, NaN]), bg, { categorical: [true, false], featureNames: ['colour', 'size'], seed: 2 });
    expect(e.descriptions).toEqual(['colour = 1', 'size is missing']);
    const seen = rowsSeen();
    const shares = new Map<number, number>();
    let missing = 0;
    for (let s = 1; s < e.samples; s++) {
      const c = seen[s * 2]!;
      shares.set(c, (shares.get(c) ?? 0) + 1 / (e.samples - 1));
      if (Number.isNaN(seen[s * 2 + 1]!)) missing += 1 / (e.samples - 1);
    }
    expect([...shares.keys()].sort()).toEqual([0, 1, 2]);
    expect(Math.abs(shares.get(0)! - 1 / 2)).toBeLessThan(0.03);
    expect(Math.abs(shares.get(1)! - 1 / 3)).toBeLessThan(0.03);
    expect(Math.abs(shares.get(2)! - 1 / 6)).toBeLessThan(0.03);
    expect(Math.abs(missing - 0.2)).toBeLessThan(0.03);
    // f = colour: being colour 1 rather than 0 or 2 (in shares ½ : ⅙) is worth 1 − (0·¾ + 2·¼) = 0.5;
    // size is ignored. Over 50 seeds both weights stayed within 0.041 of that.
    expect(Math.abs(e.contributions[0]! - 0.5)).toBeLessThan(0.08);
    expect(Math.abs(e.contributions[1]!)).toBeLessThan(0.08);
  });

  it('gives a feature that never varies in the training rows a weight of exactly 0', async () => {
    const n = 500;
    const rows = gridRows(n, 3, 5);
    for (let i = 0; i < n; i++) rows[i * 3 + 1] = 7;
    const e = await explainLime(new LinearModel([1, 5, -1]), Float32Array.from([0.3, 7, 0.8]), createBackground(rows, n, 3), { seed: 0 });
    expect(e.contributions[1]).toBe(0);
    expect(e.descriptions[1]).toBe('x1 <= 7');
  });

  it('is deterministic by seed, and the same whether the samples go in one predict call or five', async () => {
    const bg = createBackground(gridRows(1000, M, 3), 1000, M);
    const x = Float32Array.from([0.2, 0.5, 0.7, 0.95, 0.1]);
    const one = new LinearModel(w);
    const a = await explainLime(one, x, bg, { seed: 9 });
    expect(one.calls).toBe(1);
    expect(one.rows).toBe(5000);
    expect(a.samples).toBe(5000);
    expect(a.evaluations).toBe(5000);
    const five = new LinearModel(w);
    const b = await explainLime(five, x, bg, { seed: 9, maxRowsPerCall: 1000 });
    expect(five.calls).toBe(5);
    expect(five.largestCall).toBe(1000);
    expect(b).toEqual(a);
    const c = await explainLime(new LinearModel(w), x, bg, { seed: 10 });
    expect(c.contributions).not.toEqual(a.contributions);
    const d = await explainLime(new LinearModel(w), x, bg, { seed: 9, samples: 300, kernelWidth: 2 });
    expect(d.samples).toBe(300);
    expect(d.kernelWidth).toBe(2);
    expect(a.kernelWidth).toBeCloseTo(0.75 * Math.sqrt(M), 12);
  });

  it('describes each feature\'s bin with numpy\'s linear quartiles, and weighted quartiles for a weighted background', () => {
    // numpy.percentile([1 … 8], [25, 50, 75]) = [2.75, 4.5, 6.25]
    const rows = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const lime = new LimeTabular(createBackground(rows, 8, 1), { featureNames: ['age'] });
    expect(lime.describe(Float32Array.from([1]))).toEqual(['age <= 2.75']);
    expect(lime.describe(Float32Array.from([2.75]))).toEqual(['age <= 2.75']);
    expect(lime.describe(Float32Array.from([3]))).toEqual(['2.75 < age <= 4.5']);
    expect(lime.describe(Float32Array.from([5]))).toEqual(['4.5 < age <= 6.25']);
    expect(lime.describe(Float32Array.from([8]))).toEqual(['age > 6.25']);
    expect(lime.describe(Float32Array.from([NaN]))).toEqual(['age is missing']);
    // values 1, 2, 3, 4 weighted 0.1, 0.1, 0.1, 0.7 sit at 0, ⅙, ⅓, 1: quartiles 2.5, 3.25, 3.625
    const weighted = new LimeTabular(createBackground(Float32Array.from([1, 2, 3, 4]), 4, 1, { weights: [0.1, 0.1, 0.1, 0.7] }));
    expect(weighted.describe(Float32Array.from([2]))).toEqual(['x0 <= 2.5']);
    expect(weighted.describe(Float32Array.from([3.5]))).toEqual(['3.25 < x0 <= 3.625']);
    // equal weights: [1, 2, 3, 4] → 1.75, 2.5, 3.25
    const equal = new LimeTabular(createBackground(Float32Array.from([1, 2, 3, 4]), 4, 1));
    expect(equal.describe(Float32Array.from([3.5]))).toEqual(['x0 > 3.25']);
    // thresholds closer than 4 significant digits get more digits
    const close = new LimeTabular(createBackground(Float32Array.from([1, 1.00001, 1.00002, 1.00003, 1.00004]), 5, 1));
    expect(close.describe(Float32Array.from([1.000015]))).toEqual(['1.00001 < x0 <= 1.00002']);
  });

  it('refuses bad options with INVALID_ARGUMENT naming the field', async () => {
    const bg = createBackground(gridRows(100, M, 1), 100, M);
    const x = new Float32Array(M).fill(0.5);
    const field = async (p: Promise<unknown>): Promise<unknown> => (await expectCode(p, 'INVALID_ARGUMENT')).context.field;
    const model = new LinearModel(w);
    expect(await field(explainLime(model, x, bg, { samples: 1 }))).toBe('samples');
    expect(await field(explainLime(model, x, bg, { samples: 100.5 }))).toBe('samples');
    expect(await field(explainLime(model, x, bg, { kernelWidth: 0 }))).toBe('kernelWidth');
    expect(await field(explainLime(model, x, bg, { kernelWidth: NaN }))).toBe('kernelWidth');
    expect(await field(explainLime(model, x, bg, { seed: -1 }))).toBe('seed');
    expect(await field(explainLime(model, x, bg, { alpha: -1 }))).toBe('alpha');
    expect(await field(explainLime(model, x, bg, { maxRowsPerCall: 0 }))).toBe('maxRowsPerCall');
    expect(await field(explainLime(model, x, bg, { featureNames: ['a'] }))).toBe('featureNames');
    expect(await field(explainLime(model, x, bg, { featureNames: ['a', 'b', '', 'd', 'e'] }))).toBe('featureNames[2]');
    expect(await field(explainLime(model, x, bg, { categorical: [true] }))).toBe('categorical');
    expect(await field(explainLime(model, x.subarray(0, 4), bg))).toBe('x');
    expect(await field(explainLime(new LinearModel([1, 2]), x, bg))).toBe('featureCount');
    expect(await field(explainLime(model, x, { ...bg, weights: new Float64Array(100) }))).toBe('training.weights');
    expect(await field(explainLime(model, x, { ...bg, n: 99 }))).toBe('training');
    const infinite = bg.rows.slice();
    infinite[7 * M + 2] = Infinity;
    expect(await field(explainLime(model, x, { ...bg, rows: infinite }))).toBe('training.rows[7][2]');
  });

  it('refuses a model that answers NaN or the wrong number of values with INFERENCE_FAILED', async () => {
    const bg = createBackground(gridRows(100, 2, 1), 100, 2);
    const nan: ExplainableModel = { featureCount: 2, predict: async (_rows, n) => new Float64Array(n).fill(NaN) };
    await expectCode(explainLime(nan, new Float32Array(2), bg), 'INFERENCE_FAILED');
    const short: ExplainableModel = { featureCount: 2, predict: async (_rows, n) => new Float64Array(n - 1) };
    await expectCode(explainLime(short, new Float32Array(2), bg), 'INFERENCE_FAILED');
  });
});

describe('LIME on breast-cancer-gbt through onnxruntime', () => {
  let loaded: LoadedModel;
  beforeAll(async () => {
    loaded = await new OnnxBackend().load(readFileSync(fixturePath('breast-cancer-gbt')), { intraOpThreads: 1, interOpThreads: 1 });
  });
  afterAll(async () => {
    await loaded?.dispose();
  });

  /** p(class 1) from the `probabilities` output [n, 2]. */
  class ProbabilityOfOne implements ExplainableModel {
    readonly featureCount = 30;
    calls = 0;
    async predict(rows: Float32Array, n: number): Promise<Float64Array> {
      this.calls++;
      const [out] = await loaded.run([{ name: 'input', datatype: 'FP32', shape: [n, 30], data: rows }], ['probabilities']);
      const p = out!.data as Float32Array;
      const y = new Float64Array(n);
      for (let i = 0; i < n; i++) y[i] = p[i * 2 + 1]!;
      return y;
    }
  }

  function reference(): { bg: Background; names: string[] } {
    const card = readCardJson('breast-cancer-gbt') as { inputs: { feature_names: string[] }[] };
    const names = card.inputs[0]!.feature_names;
    const lines = readFileSync(fixturePath('breast-cancer-gbt', 'reference.csv'), 'utf8').split('\n').filter((l) => l.trim() !== '');
    expect(lines[0]!.split(',').slice(0, 30)).toEqual(names);
    const n = lines.length - 1;
    const rows = new Float32Array(n * 30);
    for (let i = 0; i < n; i++) {
      const cells = lines[i + 1]!.split(',');
      for (let j = 0; j < 30; j++) rows[i * 30 + j] = Number(cells[j]);
    }
    return { bg: createBackground(rows, n, 30), names };
  }

  it('explains p(class 1) in one predict call with a fidelity in [0, 1], and its top 5 features share at least 3 with path-dependent TreeSHAP on rows 0–3', async () => {
    // LIME explains the probability through quartile flags, TreeSHAP the log-odds exactly, so
    // they need not agree in detail; on these rows 3 or 4 of the top 5 are shared (over rows
    // 0, 1, 2, 3, 10, 50, 100, 150, 200, 283 the overlap was 2 to 5, 3.6 on average).
    const { bg, names } = reference();
    const tree = treeModelOf(readFileSync(fixturePath('breast-cancer-gbt')))!;
    const shap = new TreeShap(tree.ensemble, { covers: coversFrom(tree.ensemble, bg.rows, bg.n) });
    const lime = new LimeTabular(bg, { featureNames: names });
    for (let r = 0; r < 4; r++) {
      const x = bg.rows.slice(r * 30, r * 30 + 30);
      const model = new ProbabilityOfOne();
      const e: LimeExplanation = await lime.explain(model, x, { seed: 0 });
      expect(model.calls).toBe(1);
      const direct = await new ProbabilityOfOne().predict(x, 1);
      expect(e.prediction).toBe(direct[0]);
      expect(e.score).toBeGreaterThanOrEqual(0);
      expect(e.score).toBeLessThanOrEqual(1);
      expect(e.contributions.every(Number.isFinite)).toBe(true);
      expect(Math.abs(e.localPrediction - (e.intercept + sum(e.contributions)))).toBeLessThan(1e-12);
      expect(e.descriptions).toHaveLength(30);
      e.descriptions.forEach((d, j) => expect(d).toContain(names[j]!));
      const fromShap = topFeatures(shap.pathDependent(x).targets[0]!.contributions, 5);
      const fromLime = topFeatures(e.contributions, 5);
      expect(fromLime.filter((j) => fromShap.includes(j)).length).toBeGreaterThanOrEqual(3);
    }
  });
});

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedModel } from '../../src/runtime/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import {
  backgroundFromJson,
  backgroundToJson,
  createBackground,
  summarizeBackground,
  type Background,
} from '../../src/explain/background.js';
import { exactShapley, kernelShap, type ExplainableModel, type ShapleyExplanation } from '../../src/explain/kernel-shap.js';
import { expectCode } from '../helpers/expect-code.js';
import { fixturePath, readCardJson } from '../helpers/fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** test/explain/reference/diabetes-shapley.json, written by scripts/explain-reference/shapley.py */
interface Reference {
  features: string[];
  background: { rows: (number | null)[][]; weights: number[]; rows_index: number[] };
  rows: { source: string; row: number; x: (number | null)[]; base: number; prediction: number; shapley: number[] }[];
}
const reference = JSON.parse(readFileSync(path.join(here, 'reference', 'diabetes-shapley.json'), 'utf8')) as Reference;

/**
 * How far a Shapley value computed from onnxruntime's outputs may sit from the float64 reference.
 * The runtime sums the 100 trees' leaf weights in float32, so each output (~150) carries rounding
 * error: f(x) differs from the reference by up to 3.6e-5 on these rows (the fixture's own golden
 * tolerance is 1e-4). φ is a weighted sum of differences v(S ∪ {i}) − v(S) with weights summing to
 * 1, so it inherits at most twice that error; observed: at most 1.4e-5 over the six rows.
 */
const FLOAT32_TOLERANCE = 5e-5;

const f32 = (values: readonly (number | null)[]): Float32Array => Float32Array.from(values, (v) => (v === null ? NaN : v));
const sum = (a: Float64Array): number => a.reduce((s, v) => s + v, 0);

/** The explained scalar of one output column of a real onnxruntime session, counting calls and rows. */
class OnnxExplainable implements ExplainableModel {
  calls = 0;
  rows = 0;
  largestCall = 0;

  constructor(
    private readonly loaded: LoadedModel,
    readonly featureCount: number,
    private readonly output: string,
    private readonly column = 0,
    private readonly columns = 1,
  ) {}

  async predict(rows: Float32Array, n: number): Promise<Float64Array> {
    this.calls++;
    this.rows += n;
    this.largestCall = Math.max(this.largestCall, n);
    const [out] = await this.loaded.run([{ name: 'input', datatype: 'FP32', shape: [n, this.featureCount], data: rows }], [this.output]);
    const data = out!.data as Float32Array;
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) y[i] = data[i * this.columns + this.column]!;
    return y;
  }
}

/** A fixture CSV's feature columns (checked against the card), NaN for empty fields. */
function readFeatureRows(model: string, file: string): { rows: Float32Array; n: number; M: number } {
  const card = readCardJson(model) as { inputs: { feature_names: string[] }[] };
  const features = card.inputs[0]!.feature_names;
  const M = features.length;
  const lines = readFileSync(fixturePath(model, file), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]!.split(',');
  expect(header.slice(0, M)).toEqual(features);
  const n = lines.length - 1;
  const rows = new Float32Array(n * M);
  for (let i = 0; i < n; i++) {
    const cells = lines[i + 1]!.split(',');
    for (let j = 0; j < M; j++) rows[i * M + j] = cells[j] === '' ? NaN : Number(cells[j]);
  }
  return { rows, n, M };
}

function referenceBackground(): Background {
  const rows = reference.background.rows;
  return createBackground(f32(rows.flat()), rows.length, reference.features.length, { weights: reference.background.weights });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

let diabetes: LoadedModel;
let cancer: LoadedModel;
beforeAll(async () => {
  const backend = new OnnxBackend();
  diabetes = await backend.load(readFileSync(fixturePath('diabetes-gbt-regressor')), { intraOpThreads: 1, interOpThreads: 1 });
  cancer = await backend.load(readFileSync(fixturePath('breast-cancer-gbt')), { intraOpThreads: 1, interOpThreads: 1 });
});
afterAll(async () => {
  await diabetes?.dispose();
  await cancer?.dispose();
});
const diabetesModel = (): OnnxExplainable => new OnnxExplainable(diabetes, 10, 'variable');

describe('Kernel SHAP on diabetes-gbt-regressor against the brute-force reference', () => {
  it('has a reference of six rows (one with a missing value) against a background of 20 rows', () => {
    expect(reference.features).toHaveLength(10);
    expect(reference.background.rows).toHaveLength(20);
    expect(reference.rows).toHaveLength(6);
    expect(reference.rows.some((r) => r.x.includes(null))).toBe(true);
  });

  it('enumerates all 1,022 coalitions at budget 1,022 and matches the reference to 5e-5, base + Σφ = prediction to 1e-6', async () => {
    const bg = referenceBackground();
    for (const r of reference.rows) {
      const model = diabetesModel();
      const e = await kernelShap(model, f32(r.x), bg, { budget: 1022 });
      expect(e.exact).toBe(true);
      expect(e.standardErrors).toBeUndefined();
      expect(e.coalitions).toBe(1022);
      expect(e.evaluations).toBe(20 + 1 + 1022 * 20);
      expect(model.rows).toBe(e.evaluations);
      expect(model.calls).toBe(1);
      expect(maxDiff(e.contributions, r.shapley)).toBeLessThanOrEqual(FLOAT32_TOLERANCE);
      // the base is a mean over 20 outputs, the prediction one output: the golden tolerance (1e-4) holds for it
      expect(Math.abs(e.base - r.base)).toBeLessThanOrEqual(1e-5);
      expect(Math.abs(e.prediction - r.prediction)).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(e.base + sum(e.contributions) - e.prediction)).toBeLessThanOrEqual(1e-6);
      expect(e.output).toBe(e.prediction);
    }
  });

  it('exactShapley (brute force over all 2^10 coalitions) matches the reference to 5e-5, and enumerating Kernel SHAP to 1e-9', async () => {
    const bg = referenceBackground();
    for (const r of reference.rows) {
      const x = f32(r.x);
      const exact = await exactShapley(diabetesModel(), x, bg);
      expect(exact.exact).toBe(true);
      expect(exact.evaluations).toBe(21 + 1024 * 20);
      expect(maxDiff(exact.contributions, r.shapley)).toBeLessThanOrEqual(FLOAT32_TOLERANCE);
      expect(Math.abs(exact.base + sum(exact.contributions) - exact.prediction)).toBeLessThanOrEqual(1e-6);
      // same model outputs, so the two exact computations agree to rounding
      const kernel = await kernelShap(diabetesModel(), x, bg, { budget: 2048 });
      expect(maxDiff(kernel.contributions, exact.contributions)).toBeLessThanOrEqual(1e-9);
    }
  });

  it('at a sampled budget of 256 paired coalitions is exact up to float32 noise (5e-5), with standard errors below 1e-5', async () => {
    // Depth-2 trees give a game with interactions of order ≤ 2 (a tree is 1[a]·g(b) + (1 − 1[a])·h(c)),
    // and the paired Kernel SHAP fit recovers such games exactly whichever pairs are drawn: the
    // sampling error vanishes and only the runtime's float32 rounding is left.
    const bg = referenceBackground();
    for (const r of reference.rows) {
      const model = diabetesModel();
      const e = await kernelShap(model, f32(r.x), bg, { budget: 256, seed: 3 });
      expect(e.exact).toBe(false);
      expect(e.coalitions).toBeLessThanOrEqual(256);
      expect(e.coalitions).toBeGreaterThan(250);
      expect(e.evaluations).toBe(21 + e.coalitions * 20);
      expect(model.calls).toBe(1);
      expect(maxDiff(e.contributions, r.shapley)).toBeLessThanOrEqual(FLOAT32_TOLERANCE);
      expect(Math.abs(e.base + sum(e.contributions) - e.prediction)).toBeLessThanOrEqual(1e-6);
      expect(Math.max(...e.standardErrors!)).toBeLessThan(1e-5);
    }
  });

  it('at 256 unpaired coalitions stays within 5 standard errors of the reference, RMS error ≤ 0.5 (observed 0.30), standard errors of the error\'s order', async () => {
    // Unpaired draws do not cancel the pairwise terms: over 6 rows × 20 seeds the RMS error was
    // 0.30 (contributions reach 66), the largest 2.1, and the worst |error| / standard error 3.6.
    const bg = referenceBackground();
    let errSq = 0;
    let seSq = 0;
    let count = 0;
    for (const r of reference.rows) {
      for (let seed = 0; seed < 5; seed++) {
        const e = await kernelShap(diabetesModel(), f32(r.x), bg, { budget: 256, seed, paired: false });
        expect(Math.abs(e.base + sum(e.contributions) - e.prediction)).toBeLessThanOrEqual(1e-6);
        for (let j = 0; j < 10; j++) {
          const err = Math.abs(e.contributions[j]! - r.shapley[j]!);
          const se = e.standardErrors![j]!;
          expect(err).toBeLessThanOrEqual(5 * se + FLOAT32_TOLERANCE);
          errSq += err * err;
          seSq += se * se;
          count++;
        }
      }
    }
    const rmsErr = Math.sqrt(errSq / count);
    const rmsSe = Math.sqrt(seSq / count);
    expect(rmsErr).toBeLessThanOrEqual(0.5);
    expect(rmsSe / rmsErr).toBeGreaterThan(0.5);
    expect(rmsSe / rmsErr).toBeLessThan(2);
  });
});

/** A synthetic game with 3- and 4-way interactions (M = 12); features 10 and 11 are ignored. */
const SYNTH_M = 12;
function synthModel(): ExplainableModel & { calls: number } {
  return {
    featureCount: SYNTH_M,
    calls: 0,
    async predict(rows: Float32Array, n: number): Promise<Float64Array> {
      this.calls++;
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const o = i * SYNTH_M;
        const v = (j: number): number => rows[o + j]!;
        out[i] = v(0) * v(1) * v(2) + Math.sin(v(3) + v(4) * v(5)) + (v(6) > 0.3 ? v(7) * v(8) * v(9) : v(5)) + Math.max(v(0), v(4), v(8));
      }
      return out;
    },
  };
}

/** Deterministic uniform numbers in [−1, 1) (a linear congruential generator). */
function uniforms(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 4294967296) * 2 - 1;
  });
}

describe('Kernel SHAP with sampled coalitions on a game with higher-order interactions', () => {
  it('at 256 paired coalitions (M = 12) is within 6 standard errors of exactShapley, RMS error ≤ 0.01 (observed 0.005)', async () => {
    // Over 4 rows × 25 seeds the RMS error was 0.0047 (contributions reach 0.92), the largest 0.018,
    // the worst |error| / standard error 4.6, and the RMS standard error 0.0050.
    const bg = createBackground(uniforms(30 * SYNTH_M, 7), 30, SYNTH_M);
    let errSq = 0;
    let seSq = 0;
    let count = 0;
    for (let row = 0; row < 4; row++) {
      const x = uniforms(SYNTH_M, 100 + row);
      const exact = await exactShapley(synthModel(), x, bg);
      for (let seed = 0; seed < 5; seed++) {
        const model = synthModel();
        const e = await kernelShap(model, x, bg, { budget: 256, seed });
        expect(e.exact).toBe(false);
        expect(model.calls).toBe(1);
        expect(Math.abs(e.base + sum(e.contributions) - e.prediction)).toBeLessThanOrEqual(1e-9);
        for (let j = 0; j < SYNTH_M; j++) {
          const err = Math.abs(e.contributions[j]! - exact.contributions[j]!);
          const se = e.standardErrors![j]!;
          expect(err).toBeLessThanOrEqual(6 * se + 1e-9);
          errSq += err * err;
          seSq += se * se;
          count++;
        }
      }
    }
    const rmsErr = Math.sqrt(errSq / count);
    expect(rmsErr).toBeLessThanOrEqual(0.01);
    expect(Math.sqrt(seSq / count) / rmsErr).toBeGreaterThan(0.5);
    expect(Math.sqrt(seSq / count) / rmsErr).toBeLessThan(2);
  });

  it('recovers an additive model exactly from sampled coalitions', async () => {
    const M = 20;
    const coef = uniforms(M, 5);
    const linear: ExplainableModel = {
      featureCount: M,
      async predict(rows, n) {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) for (let j = 0; j < M; j++) out[i]! += coef[j]! * rows[i * M + j]!;
        return out;
      },
    };
    const bg = createBackground(uniforms(10 * M, 9), 10, M);
    const x = uniforms(M, 11);
    const e = await kernelShap(linear, x, bg, { budget: 300, seed: 1, paired: false });
    expect(e.exact).toBe(false);
    for (let j = 0; j < M; j++) {
      let mean = 0;
      for (let b = 0; b < 10; b++) mean += bg.rows[b * M + j]! / 10;
      expect(e.contributions[j]).toBeCloseTo(coef[j]! * (x[j]! - mean), 9);
      expect(e.standardErrors![j]).toBeLessThan(1e-9);
    }
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const bg = createBackground(uniforms(30 * SYNTH_M, 7), 30, SYNTH_M);
    const x = uniforms(SYNTH_M, 100);
    const a = await kernelShap(synthModel(), x, bg, { budget: 200, seed: 42 });
    const b = await kernelShap(synthModel(), x, bg, { budget: 200, seed: 42 });
    const c = await kernelShap(synthModel(), x, bg, { budget: 200, seed: 43 });
    expect(b.contributions).toEqual(a.contributions);
    expect(b.standardErrors).toEqual(a.standardErrors);
    expect(c.contributions).not.toEqual(a.contributions);
    const d = await kernelShap(synthModel(), x, bg, { budget: 200 });
    const e = await kernelShap(synthModel(), x, bg, { budget: 200 });
    expect(e.contributions).toEqual(d.contributions);
  });

  it('gives the same answer in one predict call or in calls of at most maxRowsPerCall rows', async () => {
    const bg = createBackground(uniforms(30 * SYNTH_M, 7), 30, SYNTH_M);
    const x = uniforms(SYNTH_M, 101);
    const one = synthModel();
    const a = await kernelShap(one, x, bg, { budget: 500, seed: 2 });
    expect(one.calls).toBe(1);
    let largest = 0;
    const chunked: ExplainableModel & { calls: number } = {
      featureCount: SYNTH_M,
      calls: 0,
      predict(rows, n) {
        this.calls++;
        largest = Math.max(largest, n);
        expect(rows.length).toBe(n * SYNTH_M);
        return one.predict(rows, n);
      },
    };
    const b = await kernelShap(chunked, x, bg, { budget: 500, seed: 2, maxRowsPerCall: 1000 });
    expect(chunked.calls).toBe(Math.ceil(a.evaluations / 1000));
    expect(largest).toBe(1000);
    expect(b.contributions).toEqual(a.contributions);
    expect(b.base).toBe(a.base);
  });
});

describe('Shapley properties', () => {
  // f = x0·x1 + x0 + x1 + 0·x2: features 0 and 1 are interchangeable, feature 2 is a dummy
  const model: ExplainableModel = {
    featureCount: 3,
    async predict(rows, n) {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = rows[i * 3]! * rows[i * 3 + 1]! + rows[i * 3]! + rows[i * 3 + 1]! + 0 * rows[i * 3 + 2]!;
      return out;
    },
  };
  // the background is symmetric in features 0 and 1 (each row has its mirror), and x0 = x1
  const bg = createBackground(Float32Array.from([1, 3, 5, 3, 1, -2, 0.5, -1, 4, -1, 0.5, 9]), 4, 3);
  const x = Float32Array.from([2, 2, 7]);

  it('gives interchangeable features equal values and a feature the model ignores exactly 0', async () => {
    for (const e of [await kernelShap(model, x, bg), await exactShapley(model, x, bg)]) {
      expect(e.exact).toBe(true);
      expect(e.contributions[0]).toBeCloseTo(e.contributions[1]!, 12);
      expect(e.contributions[0]).not.toBeCloseTo(0, 3);
      expect(e.contributions[2]).toBe(0);
      expect(e.base + sum(e.contributions)).toBeCloseTo(e.prediction, 12);
    }
  });

  it('gives exactly 0 to a feature whose value equals every background row\'s, without spending coalitions on it', async () => {
    const M = SYNTH_M;
    const rows = uniforms(30 * M, 7);
    const x = uniforms(M, 102);
    for (let b = 0; b < 30; b++) rows[b * M + 3] = x[3]!;
    const e = await kernelShap(synthModel(), x, createBackground(rows, 30, M), { budget: 256, seed: 1 });
    expect(e.contributions[3]).toBe(0);
    expect(e.standardErrors![3]).toBe(0);
    // 11 varying features: 2^11 − 2 = 2,046 coalitions fit the default budget, so the answer is exact
    const full = await kernelShap(synthModel(), x, createBackground(rows, 30, M));
    expect(full.exact).toBe(true);
    expect(full.coalitions).toBe(2046);
    const brute = await exactShapley(synthModel(), x, createBackground(rows, 30, M));
    expect(maxDiff(full.contributions, brute.contributions)).toBeLessThanOrEqual(1e-12);
  });

  it('with link logit adds up in log-odds: base = logit(E p), prediction = logit(p(x))', async () => {
    const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
    const prob: ExplainableModel = {
      featureCount: 4,
      async predict(rows, n) {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const [a, b, c, d] = [rows[i * 4]!, rows[i * 4 + 1]!, rows[i * 4 + 2]!, rows[i * 4 + 3]!];
          out[i] = sigmoid(a + 2 * b - c + a * d);
        }
        return out;
      },
    };
    const pbg = createBackground(uniforms(40, 3), 10, 4);
    const px = Float32Array.from([0.9, 0.4, -0.7, 0.8]);
    const e = await kernelShap(prob, px, pbg, { link: 'logit' });
    const logit = (p: number): number => Math.log(p / (1 - p));
    const p = (await prob.predict(px, 1))[0]!;
    const mean = sum(await prob.predict(pbg.rows, 10)) / 10;
    expect(e.link).toBe('logit');
    expect(e.output).toBeCloseTo(p, 15);
    expect(e.prediction).toBeCloseTo(logit(p), 12);
    expect(e.base).toBeCloseTo(logit(mean), 12);
    expect(Math.abs(e.base + sum(e.contributions) - e.prediction)).toBeLessThanOrEqual(1e-12);
    const brute = await exactShapley(prob, px, pbg, { link: 'logit' });
    expect(maxDiff(e.contributions, brute.contributions)).toBeLessThanOrEqual(1e-12);
    // in probability space the same row adds up to p instead
    const id = await kernelShap(prob, px, pbg);
    expect(id.base + sum(id.contributions)).toBeCloseTo(p, 12);
  });

  it('explains breast-cancer-gbt\'s probability in log-odds with 2,048 coalitions in one predict call', async () => {
    const ref = readFeatureRows('breast-cancer-gbt', 'reference.csv');
    const bg = summarizeBackground(ref.rows, ref.n, ref.M, { size: 100, seed: 1 });
    const model = new OnnxExplainable(cancer, 30, 'probabilities', 1, 2);
    const x = ref.rows.slice(7 * 30, 8 * 30);
    const e = await kernelShap(model, x, bg, { link: 'logit', seed: 1 });
    expect(e.exact).toBe(false);
    // sampling stops when a fresh pair would overrun the budget, so the last slot may stay empty
    expect(e.coalitions).toBeGreaterThanOrEqual(2047);
    expect(e.coalitions).toBeLessThanOrEqual(2048);
    expect(e.evaluations).toBe(100 + 1 + e.coalitions * 100);
    expect(model.calls).toBe(1);
    expect(Math.abs(e.base + sum(e.contributions) - e.prediction)).toBeLessThanOrEqual(1e-6);
    expect(e.prediction).toBeCloseTo(Math.log(e.output / (1 - e.output)), 9);
    expect(e.standardErrors!.every((s) => Number.isFinite(s) && s >= 0)).toBe(true);
  });
});

describe('Kernel SHAP arguments', () => {
  const bg = createBackground(uniforms(30 * SYNTH_M, 7), 30, SYNTH_M);
  const x = uniforms(SYNTH_M, 100);

  it('refuses a row, background, budget or link that does not fit, naming the field', async () => {
    expect((await expectCode(kernelShap(synthModel(), x.subarray(0, 11), bg), 'INVALID_ARGUMENT')).context.field).toBe('x');
    const other = createBackground(uniforms(30 * 11, 7), 30, 11);
    expect((await expectCode(kernelShap(synthModel(), x, other), 'INVALID_ARGUMENT')).context.field).toBe('background.M');
    expect((await expectCode(kernelShap(synthModel(), x, bg, { budget: 0 }), 'INVALID_ARGUMENT')).context.field).toBe('budget');
    expect((await expectCode(kernelShap(synthModel(), x, bg, { budget: 5 }), 'INVALID_ARGUMENT')).message).toMatch(/at least the number of features .* \(12\)/);
    expect((await expectCode(kernelShap(synthModel(), x, bg, { link: 'probit' as 'logit' }), 'INVALID_ARGUMENT')).context.field).toBe('link');
    expect((await expectCode(kernelShap(synthModel(), x, bg, { maxRowsPerCall: 0 }), 'INVALID_ARGUMENT')).context.field).toBe('maxRowsPerCall');
  });

  it('refuses exact Shapley values for more than 16 features', async () => {
    const wide: ExplainableModel = { featureCount: 17, predict: async (_rows, n) => new Float64Array(n) };
    const err = await expectCode(exactShapley(wide, new Float32Array(17), createBackground(new Float32Array(17), 1, 17)), 'INVALID_ARGUMENT');
    expect(err.message).toMatch(/limited to 16 features; this model has 17/);
  });

  it('fails loudly when the model answers the wrong number of values or a non-finite one', async () => {
    const short: ExplainableModel = { featureCount: SYNTH_M, predict: async (_rows, n) => new Float64Array(n - 1) };
    await expectCode(kernelShap(short, x, bg), 'INFERENCE_FAILED');
    const nan: ExplainableModel = { featureCount: SYNTH_M, predict: async (_rows, n) => new Float64Array(n).fill(NaN) };
    await expectCode(kernelShap(nan, x, bg), 'INFERENCE_FAILED');
  });
});

describe('background summaries', () => {
  const diab = (): { rows: Float32Array; n: number; M: number } => readFeatureRows('diabetes-gbt-regressor', 'reference.csv');

  it('k-means gives `size` weighted centroids whose weights sum to 1 and whose weighted mean is the data mean', () => {
    const { rows, n, M } = diab();
    expect(n).toBe(221);
    const bg = summarizeBackground(rows, n, M, { size: 20, seed: 1 });
    expect(bg.method).toBe('kmeans');
    expect(bg.n).toBe(20);
    expect(bg.rows).toHaveLength(20 * M);
    expect(sum(bg.weights)).toBeCloseTo(1, 12);
    for (const w of bg.weights) {
      expect(w).toBeGreaterThan(0);
      expect(Math.abs(w * n - Math.round(w * n))).toBeLessThan(1e-9); // a share of whole rows
    }
    for (let j = 0; j < M; j++) {
      let mean = 0;
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = rows[i * M + j]!;
        mean += v / n;
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      let weighted = 0;
      for (let c = 0; c < bg.n; c++) {
        const v = bg.rows[c * M + j]!;
        expect(v).toBeGreaterThanOrEqual(min);
        expect(v).toBeLessThanOrEqual(max);
        weighted += bg.weights[c]! * v;
      }
      // each centroid is its cluster's mean, stored as float32
      expect(Math.abs(weighted - mean)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(mean)));
    }
    expect(summarizeBackground(rows, n, M).n).toBe(100);
  });

  it('k-means fitted on a sample of maxFitRows rows still weighs every row', () => {
    const { rows, n, M } = diab();
    const bg = summarizeBackground(rows, n, M, { size: 10, seed: 4, maxFitRows: 60 });
    expect(bg.n).toBe(10);
    expect(sum(bg.weights)).toBeCloseTo(1, 12);
    for (const w of bg.weights) expect(Math.abs(w * n - Math.round(w * n))).toBeLessThan(1e-9);
    // the final centroids are the means of clusters holding all 221 rows
    for (let j = 0; j < M; j++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += rows[i * M + j]! / n;
      let weighted = 0;
      for (let c = 0; c < bg.n; c++) weighted += bg.weights[c]! * bg.rows[c * M + j]!;
      expect(Math.abs(weighted - mean)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(mean)));
    }
    expect(() => summarizeBackground(rows, n, M, { size: 10, maxFitRows: 5 })).toThrow(/maxFitRows must be an integer ≥ 10/);
  });

  it('k-means is deterministic for a seed, differs between seeds, and summarises better than a sample of the same size', () => {
    const { rows, n, M } = diab();
    const a = summarizeBackground(rows, n, M, { size: 10, seed: 5 });
    const b = summarizeBackground(rows, n, M, { size: 10, seed: 5 });
    const c = summarizeBackground(rows, n, M, { size: 10, seed: 6 });
    expect(b.rows).toEqual(a.rows);
    expect(b.weights).toEqual(a.weights);
    expect(c.rows).not.toEqual(a.rows);
    // scaled squared distance of every row to its nearest background row: k-means's objective
    const sd = new Float64Array(M);
    for (let j = 0; j < M; j++) {
      let m = 0;
      let s = 0;
      for (let i = 0; i < n; i++) m += rows[i * M + j]! / n;
      for (let i = 0; i < n; i++) s += (rows[i * M + j]! - m) ** 2 / n;
      sd[j] = Math.sqrt(s);
    }
    const cost = (bg: Background): number => {
      let total = 0;
      for (let i = 0; i < n; i++) {
        let best = Infinity;
        for (let c2 = 0; c2 < bg.n; c2++) {
          let d = 0;
          for (let j = 0; j < M; j++) d += ((rows[i * M + j]! - bg.rows[c2 * M + j]!) / sd[j]!) ** 2;
          best = Math.min(best, d);
        }
        total += best;
      }
      return total;
    };
    const sample = summarizeBackground(rows, n, M, { size: 10, seed: 5, method: 'sample' });
    expect(cost(a)).toBeLessThan(0.8 * cost(sample));
  });

  it('sample draws `size` distinct rows of the data in their order, with equal weights, deterministically', () => {
    const { rows, n, M } = diab();
    const bg = summarizeBackground(rows, n, M, { method: 'sample', size: 25, seed: 9 });
    expect(bg.method).toBe('sample');
    expect(bg.n).toBe(25);
    expect(Array.from(bg.weights)).toEqual(new Array(25).fill(1 / 25));
    let last = -1;
    for (let r = 0; r < 25; r++) {
      const row = bg.rows.subarray(r * M, r * M + M);
      let found = -1;
      for (let i = last + 1; i < n && found < 0; i++) if (rows.subarray(i * M, i * M + M).every((v, j) => v === row[j])) found = i;
      expect(found).toBeGreaterThan(last);
      last = found;
    }
    expect(summarizeBackground(rows, n, M, { method: 'sample', size: 25, seed: 9 }).rows).toEqual(bg.rows);
    expect(summarizeBackground(rows, n, M, { method: 'sample', size: 25, seed: 10 }).rows).not.toEqual(bg.rows);
  });

  it('keeps every row with equal weights when there are no more rows than `size`', () => {
    const { rows, n, M } = diab();
    for (const method of ['kmeans', 'sample'] as const) {
      const bg = summarizeBackground(rows, n, M, { method, size: 221 });
      expect(bg.method).toBe('all');
      expect(bg.n).toBe(221);
      expect(bg.rows).toEqual(rows);
      expect(bg.weights.every((w) => w === 1 / 221)).toBe(true);
    }
  });

  it('gives a categorical feature its cluster\'s most frequent code, and ignores NaN in distances and means', () => {
    // two clear groups on feature 0; feature 1 holds codes (mostly 1 in the first group, 2 in the
    // second); feature 2 is missing in some rows and in all rows of the second group
    const data: number[] = [];
    const codesA = [1, 1, 1, 3, 1, 7];
    const codesB = [2, 2, 5, 2, 5, 2];
    for (let i = 0; i < 6; i++) data.push(0.1 * i, codesA[i]!, i % 2 === 0 ? NaN : 10 + i);
    for (let i = 0; i < 6; i++) data.push(100 + 0.1 * i, codesB[i]!, NaN);
    const rows = Float32Array.from(data);
    const bg = summarizeBackground(rows, 12, 3, { size: 2, seed: 3, categorical: [false, true, false] });
    expect(bg.n).toBe(2);
    const groups = [0, 1].map((c) => ({ x: bg.rows[c * 3]!, code: bg.rows[c * 3 + 1]!, f2: bg.rows[c * 3 + 2]!, w: bg.weights[c]! })).sort((a, b) => a.x - b.x);
    expect(groups[0]!.x).toBeCloseTo(0.25, 5);
    expect(groups[0]!.code).toBe(1);
    expect(groups[0]!.f2).toBeCloseTo((11 + 13 + 15) / 3, 4);
    expect(groups[1]!.x).toBeCloseTo(100.25, 4);
    expect(groups[1]!.code).toBe(2);
    expect(groups[1]!.f2).toBeNaN();
    expect(groups.map((g) => g.w)).toEqual([0.5, 0.5]);
    // without the flag the code is a mean
    const plain = summarizeBackground(rows, 12, 3, { size: 2, seed: 3 });
    expect([plain.rows[1]!, plain.rows[4]!].some((c) => !Number.isInteger(c))).toBe(true);
  });

  it('stops at the number of distinct rows', () => {
    const rows = Float32Array.from([1, 2, 1, 2, 3, 4, 3, 4, 1, 2]);
    const bg = summarizeBackground(rows, 5, 2, { size: 4 });
    expect(bg.n).toBe(2);
    expect(Array.from(bg.weights).sort()).toEqual([0.4, 0.6]);
  });

  it('round-trips through JSON exactly, NaN included', () => {
    const { rows, n, M } = diab();
    for (let i = 0; i < n; i += 3) rows[i * M + 3] = NaN;
    const bg = summarizeBackground(rows, n, M, { size: 30, seed: 2, method: 'sample' });
    const json = JSON.parse(JSON.stringify(backgroundToJson(bg))) as unknown;
    const back = backgroundFromJson(json);
    expect(back).toEqual(bg);
    const km = summarizeBackground(rows, n, M, { size: 30, seed: 2 });
    expect(backgroundFromJson(JSON.stringify(backgroundToJson(km)))).toEqual(km);
    // float32 values are written in their shortest form
    expect(backgroundToJson(createBackground(Float32Array.from([0.1, 22.4]), 1, 2)).rows).toEqual([[0.1, 22.4]]);
  });

  it('refuses malformed JSON naming the field', () => {
    const good = backgroundToJson(createBackground(Float32Array.from([1, 2, 3, 4]), 2, 2));
    const field = (value: unknown): string => {
      try {
        backgroundFromJson(value);
      } catch (err) {
        expect((err as { code: string }).code).toBe('INVALID_ARGUMENT');
        return String((err as { context: { field: string } }).context.field);
      }
      throw new Error('expected INVALID_ARGUMENT');
    };
    expect(field('{not json')).toBe('background');
    expect(field([])).toBe('background');
    expect(field({ ...good, format: 'other/1' })).toBe('background.format');
    expect(field({ ...good, method: 'median' })).toBe('background.method');
    expect(field({ ...good, seed: -1 })).toBe('background.seed');
    expect(field({ ...good, n: 0 })).toBe('background.n');
    expect(field({ ...good, M: 1.5 })).toBe('background.M');
    expect(field({ ...good, rows: [[1, 2]] })).toBe('background.rows');
    expect(field({ ...good, rows: [[1, 2], [3]] })).toBe('background.rows[1]');
    expect(field({ ...good, rows: [[1, 2], [3, '4']] })).toBe('background.rows[1][1]');
    expect(field({ ...good, weights: [0.5] })).toBe('background.weights');
    expect(field({ ...good, weights: [0.5, -0.5] })).toBe('background.weights[1]');
    expect(field({ ...good, weights: [0.5, 0.6] })).toBe('background.weights');
    const { weights: _w, ...noWeights } = good;
    expect(field(noWeights)).toBe('background.weights');
  });

  it('refuses arguments that do not fit', () => {
    const rows = new Float32Array(10);
    expect(() => summarizeBackground(rows, 3, 3)).toThrow(/expected n × M = 3 × 3 = 9 values, got 10/);
    expect(() => summarizeBackground(rows, 5, 2, { size: 0 })).toThrow(/size must be an integer ≥ 1/);
    expect(() => summarizeBackground(rows, 5, 2, { method: 'median' as 'kmeans' })).toThrow(/method must be one of kmeans, sample/);
    expect(() => summarizeBackground(rows, 5, 2, { categorical: [true] })).toThrow(/categorical must flag each of the 2 features/);
    expect(() => createBackground(rows, 5, 2, { weights: [1, 1, 1, 1, -1] })).toThrow(/weights\[4\]/);
  });
});

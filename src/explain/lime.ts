/**
 * Tabular LIME (Ribeiro, Singh & Guestrin 2016, "Why should I trust you?"), with the defaults of
 * the original `LimeTabularExplainer`:
 *
 * - Numeric features are cut into quartile bins of the training rows (the 25th, 50th and 75th
 *   percentiles, duplicates merged: `v <= q0`, `q0 < v <= q1`, …, `v > qK`). Categorical features
 *   keep their values.
 * - Sample 0 is the explained row itself. Every other sample draws, feature by feature and
 *   independently, a bin (or category) with the training rows' frequencies, then a value in the
 *   bin from a normal with the bin's mean and standard deviation, truncated to the bin's bounds
 *   (the first bin starts at the training minimum, the last ends at the maximum), as LIME does.
 * - The interpretable representation is binary: 1 where the sample's bin (category) is the
 *   explained row's, else 0. A sample's weight is exp(−d² / (2·width²)) with d² the number of
 *   zeros (LIME's √(exp(−d²/width²)) on Euclidean distance), width 0.75·√M by default.
 * - A ridge regression (α = 1, intercept unpenalised) on the binary features, weighted by the
 *   kernel, gives one weight per feature; its weighted R² is the fidelity (LIME's `score`).
 *
 * Unlike LIME, every feature is fitted (LIME's `num_features` = M, so no feature selection), the
 * training rows may carry weights (a background summary), and missing values (NaN) are a state
 * of their own: a numeric feature's NaN rows form a "missing" bin that is drawn with their
 * frequency and gives the model NaN.
 */
import { BerthError } from '../core/index.js';
import { createSeededRandom, type Background, type SeededRandom } from './background.js';
import type { ExplainableModel } from './kernel-shap.js';
import { solveSymmetric } from './linear-algebra.js';

/** How `LimeTabular` reads the training rows: which features are categorical, and their names. */
export interface LimeTabularOptions {
  /**
   * Which features hold category codes (length M, default none). A categorical feature is
   * sampled from its values' frequencies and matches when the value equals the row's.
   */
  categorical?: readonly boolean[];
  /** one name per feature, used in the bin descriptions (default `x0`, `x1`, …) */
  featureNames?: readonly string[];
}

/** Options of one LIME explanation. */
export interface LimeExplainOptions {
  /** samples in the neighbourhood, the explained row included (default 5,000, as LIME's num_samples) */
  samples?: number;
  /** the exponential kernel's width (default 0.75·√M) */
  kernelWidth?: number;
  /** seed of the sampling (default 0); same inputs and seed, same answer */
  seed?: number;
  /** the ridge penalty (default 1, as scikit-learn's Ridge that LIME uses); 0 is least squares */
  alpha?: number;
  /** the most rows in one `predict` call (default 262,144) */
  maxRowsPerCall?: number;
}

/** Options of `explainLime`: those of the discretisation and of the explanation together. */
export type LimeOptions = LimeTabularOptions & LimeExplainOptions;

/** One row's LIME explanation. localPrediction = intercept + Σ contributions. */
export interface LimeExplanation {
  /**
   * LIME's weight of each feature (model order): how much the surrogate's output rises when a
   * sample's feature is in the explained row's bin (category) rather than another one
   */
  contributions: Float64Array;
  /** the surrogate's intercept: its output when no feature is in the row's bin */
  intercept: number;
  /** the surrogate at the explained row (every binary feature 1): intercept + Σ contributions */
  localPrediction: number;
  /** the model's own output for the row, f(x) */
  prediction: number;
  /** the kernel-weighted R² of the surrogate on the samples, in [0, 1] (LIME's `score`) */
  score: number;
  /** per feature, the row's bin or category: `"0.5 < age <= 0.9"`, `"age > 1.3"`, `"sex = 2"`, `"bmi is missing"` */
  descriptions: string[];
  /** the kernel width used */
  kernelWidth: number;
  /** samples drawn, the explained row included */
  samples: number;
  /** model rows evaluated (= samples) */
  evaluations: number;
}

/** A numeric feature: K sorted thresholds make bins 0 … K, and state K + 1 is "missing". */
interface NumericStates {
  readonly kind: 'numeric';
  readonly thresholds: Float64Array;
  /** per state 0 … K + 1 */
  readonly frequency: Float64Array;
  /** per bin 0 … K: the mean, standard deviation and bounds of the truncated normal */
  readonly mean: Float64Array;
  readonly sd: Float64Array;
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly digits: number;
}

/** A categorical feature: its distinct values (NaN, when present, last) are its states. */
interface CategoricalStates {
  readonly kind: 'categorical';
  readonly values: Float64Array;
  readonly frequency: Float64Array;
}

type FeatureStates = NumericStates | CategoricalStates;

const DEFAULT_SAMPLES = 5000;
const MAX_SAMPLES = 1 << 24;
const DEFAULT_ALPHA = 1;
const DEFAULT_MAX_ROWS_PER_CALL = 262_144;
const QUARTILES = [0.25, 0.5, 0.75] as const;
/** LIME adds this to every bin's standard deviation */
const SD_FLOOR = 1e-11;

/**
 * LIME's discretisation of training rows, computed once and reused for many rows.
 *
 * The statistics are weighted by the background's weights. With equal weights the quartiles are
 * numpy's default (linear) percentiles, as LIME computes them; with unequal weights each sorted
 * value sits at the midpoint of its weight on the cumulative scale, rescaled so the smallest is
 * at 0 and the largest at 1, and the quartiles are interpolated between those points.
 *
 * @example
 * const lime = new LimeTabular(createBackground(reference, n, M), { featureNames });
 * const e = await lime.explain(model, row, { seed: 1 });
 * // e.localPrediction === e.intercept + Σ e.contributions; e.score is the fit's weighted R²
 */
export class LimeTabular {
  /** the number of features */
  readonly M: number;
  readonly featureNames: readonly string[];
  private readonly states: readonly FeatureStates[];

  constructor(training: Background, options: LimeTabularOptions = {}) {
    const { rows, n, M, weights } = training;
    if (!Number.isInteger(M) || M < 1) {
      throw new BerthError('INVALID_ARGUMENT', `the training rows must have at least one feature, got M = ${M}`, { field: 'training.M', got: M });
    }
    if (!Number.isInteger(n) || n < 1 || rows.length !== n * M || weights.length !== n) {
      throw new BerthError('INVALID_ARGUMENT', `the training rows must hold n ≥ 1 rows of ${M} values and one weight per row (n = ${n}, ${rows.length} values, ${weights.length} weights)`, {
        field: 'training',
      });
    }
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      if (!(w >= 0) || !Number.isFinite(w)) {
        throw new BerthError('INVALID_ARGUMENT', `training weights[${i}] must be a finite number ≥ 0, got ${w}`, { field: `training.weights[${i}]`, got: w });
      }
      total += w;
    }
    if (!(total > 0)) throw new BerthError('INVALID_ARGUMENT', 'the training weights must have a positive total, got 0', { field: 'training.weights' });
    const categorical = options.categorical;
    if (categorical !== undefined && (!Array.isArray(categorical) || categorical.length !== M)) {
      throw new BerthError('INVALID_ARGUMENT', `categorical must flag each of the ${M} features, got ${Array.isArray(categorical) ? `${categorical.length} flags` : typeof categorical}`, {
        field: 'categorical',
        expected: M,
        got: Array.isArray(categorical) ? categorical.length : typeof categorical,
      });
    }
    const names = options.featureNames;
    if (names !== undefined) {
      if (!Array.isArray(names) || names.length !== M) {
        throw new BerthError('INVALID_ARGUMENT', `featureNames must name each of the ${M} features, got ${Array.isArray(names) ? `${names.length} names` : typeof names}`, {
          field: 'featureNames',
          expected: M,
          got: Array.isArray(names) ? names.length : typeof names,
        });
      }
      names.forEach((name, j) => {
        if (typeof name !== 'string' || name === '') {
          throw new BerthError('INVALID_ARGUMENT', `featureNames[${j}] must be a non-empty string, got ${JSON.stringify(name)}`, { field: `featureNames[${j}]`, got: name });
        }
      });
    }
    this.M = M;
    this.featureNames = names ? names.slice() : Array.from({ length: M }, (_, j) => `x${j}`);
    const states: FeatureStates[] = [];
    const equal = weights.every((w) => w === weights[0]);
    for (let j = 0; j < M; j++) {
      states.push(categorical?.[j] === true ? categoricalStates(rows, n, M, j, weights, total) : numericStates(rows, n, M, j, weights, total, equal));
    }
    this.states = states;
  }

  /** Each feature's bin (or category) of `x` in words, as in `LimeExplanation.descriptions`. */
  describe(x: Float32Array): string[] {
    this.checkRow(x);
    const out: string[] = [];
    for (let j = 0; j < this.M; j++) out.push(this.describeFeature(j, x[j]!));
    return out;
  }

  /**
   * Explain f at x: draw the neighbourhood, evaluate it in as few `predict` calls as
   * `maxRowsPerCall` allows (one Float32Array of samples × M), and fit the weighted ridge.
   */
  async explain(model: ExplainableModel, x: Float32Array, options: LimeExplainOptions = {}): Promise<LimeExplanation> {
    const M = this.M;
    if (model.featureCount !== M) {
      throw new BerthError('INVALID_ARGUMENT', `the model takes ${model.featureCount} features; the training rows have ${M}`, { field: 'featureCount', expected: M, got: model.featureCount });
    }
    this.checkRow(x);
    const N = options.samples ?? DEFAULT_SAMPLES;
    if (!Number.isInteger(N) || N < 2 || N > MAX_SAMPLES) {
      throw new BerthError('INVALID_ARGUMENT', `samples must be an integer from 2 to ${MAX_SAMPLES}, got ${N}`, { field: 'samples', expected: `2 … ${MAX_SAMPLES}`, got: N });
    }
    const kernelWidth = options.kernelWidth ?? 0.75 * Math.sqrt(M);
    if (typeof kernelWidth !== 'number' || !Number.isFinite(kernelWidth) || kernelWidth <= 0) {
      throw new BerthError('INVALID_ARGUMENT', `kernelWidth must be a finite number > 0, got ${kernelWidth}`, { field: 'kernelWidth', got: kernelWidth });
    }
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new BerthError('INVALID_ARGUMENT', `seed must be an integer from 0 to 4294967295, got ${seed}`, { field: 'seed', got: seed });
    }
    const alpha = options.alpha ?? DEFAULT_ALPHA;
    if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) {
      throw new BerthError('INVALID_ARGUMENT', `alpha must be a finite number ≥ 0, got ${alpha}`, { field: 'alpha', got: alpha });
    }
    const maxRowsPerCall = options.maxRowsPerCall ?? DEFAULT_MAX_ROWS_PER_CALL;
    if (!Number.isInteger(maxRowsPerCall) || maxRowsPerCall < 1) {
      throw new BerthError('INVALID_ARGUMENT', `maxRowsPerCall must be an integer ≥ 1, got ${maxRowsPerCall}`, { field: 'maxRowsPerCall', got: maxRowsPerCall });
    }

    const { rows, binary } = this.sample(x, N, createSeededRandom(seed));
    const y = await evaluate(model, rows, N, M, maxRowsPerCall);

    // the kernel on the binary representation: d² is the number of features off the row's bin
    const kernel = new Float64Array(N);
    const twoW2 = 2 * kernelWidth * kernelWidth;
    for (let s = 0; s < N; s++) {
      let d2 = 0;
      for (let j = 0, o = s * M; j < M; j++) d2 += 1 - binary[o + j]!;
      kernel[s] = Math.exp(-d2 / twoW2);
    }
    const fit = weightedRidge(binary, y, kernel, N, M, alpha);
    let localPrediction = fit.intercept;
    for (let j = 0; j < M; j++) localPrediction += fit.coefficients[j]!;
    return {
      contributions: fit.coefficients,
      intercept: fit.intercept,
      localPrediction,
      prediction: y[0]!,
      score: fit.r2,
      descriptions: this.describe(x),
      kernelWidth,
      samples: N,
      evaluations: N,
    };
  }

  private checkRow(x: Float32Array): void {
    if (!(x instanceof Float32Array) || x.length !== this.M) {
      throw new BerthError('INVALID_ARGUMENT', `the explained row must be a Float32Array of ${this.M} values, got ${x instanceof Float32Array ? `${x.length} values` : typeof x}`, {
        field: 'x',
        expected: this.M,
        got: x instanceof Float32Array ? x.length : typeof x,
      });
    }
  }

  /** The neighbourhood: rows (sample 0 = x) and their binary representation, both N × M. */
  private sample(x: Float32Array, N: number, rng: SeededRandom): { rows: Float32Array; binary: Uint8Array } {
    const M = this.M;
    const rows = new Float32Array(N * M);
    const binary = new Uint8Array(N * M);
    rows.set(x, 0);
    binary.fill(1, 0, M);
    for (let j = 0; j < M; j++) {
      const st = this.states[j]!;
      const own = stateOf(st, x[j]!);
      const cumulative = cumulativeOf(st.frequency);
      for (let s = 1; s < N; s++) {
        const k = draw(cumulative, rng);
        const o = s * M + j;
        binary[o] = k === own ? 1 : 0;
        rows[o] = st.kind === 'categorical' ? st.values[k]! : valueInBin(st, k, rng);
      }
    }
    return { rows, binary };
  }

  private describeFeature(j: number, v: number): string {
    const name = this.featureNames[j]!;
    const st = this.states[j]!;
    if (v !== v) return `${name} is missing`;
    if (st.kind === 'categorical') return `${name} = ${formatNumber(v, 17)}`;
    const q = st.thresholds;
    const K = q.length;
    if (K === 0) return `${name} (no training values)`;
    const b = stateOf(st, v);
    const f = (t: number): string => formatNumber(t, st.digits);
    if (b === 0) return `${name} <= ${f(q[0]!)}`;
    if (b === K) return `${name} > ${f(q[K - 1]!)}`;
    return `${f(q[b - 1]!)} < ${name} <= ${f(q[b]!)}`;
  }
}

/**
 * LIME for one row: `new LimeTabular(training, options).explain(model, x, options)`. Build a
 * `LimeTabular` once to explain many rows against the same training rows.
 *
 * @example
 * const e = await explainLime(model, row, createBackground(reference, n, M), { featureNames, seed: 3 });
 */
export async function explainLime(model: ExplainableModel, x: Float32Array, training: Background, options: LimeOptions = {}): Promise<LimeExplanation> {
  return new LimeTabular(training, options).explain(model, x, options);
}

// ---------------------------------------------------------------------------------------------
// Discretisation

function numericStates(rows: Float32Array, n: number, M: number, j: number, weights: Float64Array, total: number, equal: boolean): NumericStates {
  const idx: number[] = [];
  let missing = 0;
  for (let i = 0; i < n; i++) {
    if (weights[i] === 0) continue;
    const v = rows[i * M + j]!;
    if (v !== v) {
      missing += weights[i]!;
    } else if (v === Infinity || v === -Infinity) {
      // a bin reaching to infinity has no normal to draw from
      throw new BerthError('INVALID_ARGUMENT', `training row ${i} holds ${v} for numeric feature ${j}; LIME needs finite values (NaN for missing)`, {
        field: `training.rows[${i}][${j}]`,
        got: String(v),
      });
    } else {
      idx.push(i);
    }
  }
  idx.sort((a, b) => rows[a * M + j]! - rows[b * M + j]!);
  const m = idx.length;
  const values = new Float64Array(m);
  const w = new Float64Array(m);
  for (let t = 0; t < m; t++) {
    values[t] = rows[idx[t]! * M + j]!;
    w[t] = weights[idx[t]!]!;
  }
  const thresholds: number[] = [];
  if (m > 0) {
    for (const p of QUARTILES) {
      const q = equal ? linearQuantile(values, p) : weightedQuantile(values, w, p);
      if (thresholds.length === 0 || q > thresholds[thresholds.length - 1]!) thresholds.push(q);
    }
  }
  const K = thresholds.length;
  const q = Float64Array.from(thresholds);
  const frequency = new Float64Array(K + 2);
  const sum = new Float64Array(K + 1);
  const mean = new Float64Array(K + 1);
  const sd = new Float64Array(K + 1);
  const binOf = new Int32Array(m);
  for (let t = 0; t < m; t++) {
    const b = binIndex(q, values[t]!);
    binOf[t] = b;
    frequency[b]! += w[t]!;
    sum[b]! += w[t]! * values[t]!;
  }
  for (let b = 0; b <= K; b++) mean[b] = frequency[b]! > 0 ? sum[b]! / frequency[b]! : 0;
  for (let t = 0; t < m; t++) {
    const b = binOf[t]!;
    const d = values[t]! - mean[b]!;
    sd[b]! += w[t]! * d * d;
  }
  for (let b = 0; b <= K; b++) sd[b] = (frequency[b]! > 0 ? Math.sqrt(sd[b]! / frequency[b]!) : 0) + SD_FLOOR;
  frequency[K + 1] = missing;
  for (let s = 0; s < K + 2; s++) frequency[s] = frequency[s]! / total;
  const lo = new Float64Array(K + 1);
  const hi = new Float64Array(K + 1);
  for (let b = 0; b <= K; b++) {
    lo[b] = b === 0 ? (m > 0 ? values[0]! : 0) : q[b - 1]!;
    hi[b] = b === K ? (m > 0 ? values[m - 1]! : 0) : q[b]!;
  }
  return { kind: 'numeric', thresholds: q, frequency, mean, sd, lo, hi, digits: distinctDigits(q) };
}

function categoricalStates(rows: Float32Array, n: number, M: number, j: number, weights: Float64Array, total: number): CategoricalStates {
  // Map keys compare by SameValueZero: NaN is one key, and 0 and −0 are the same category
  const tally = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (w === 0) continue;
    const v = rows[i * M + j]!;
    tally.set(v, (tally.get(v) ?? 0) + w);
  }
  const keys = [...tally.keys()].sort((a, b) => (a !== a ? 1 : b !== b ? -1 : a - b));
  return {
    kind: 'categorical',
    values: Float64Array.from(keys),
    frequency: Float64Array.from(keys, (k) => tally.get(k)! / total),
  };
}

/** The bin of a value: the number of thresholds below it (numpy's searchsorted, side left). */
function binIndex(q: Float64Array, v: number): number {
  let a = 0;
  let b = q.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (q[mid]! < v) a = mid + 1;
    else b = mid;
  }
  return a;
}

/** The state of a value: its bin, K + 1 for NaN, or −1 for a category the training rows lack. */
function stateOf(st: FeatureStates, v: number): number {
  if (st.kind === 'numeric') return v !== v ? st.thresholds.length + 1 : binIndex(st.thresholds, v);
  for (let k = 0; k < st.values.length; k++) {
    const c = st.values[k]!;
    if (c === v || (c !== c && v !== v)) return k;
  }
  return -1;
}

/** numpy's default percentile of sorted values: linear between order statistics at (m − 1)·p. */
function linearQuantile(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const i = Math.floor(h);
  const frac = h - i;
  const a = sorted[i]!;
  return frac === 0 || i + 1 >= sorted.length ? a : a + frac * (sorted[i + 1]! - a);
}

/**
 * A weighted quantile that is `linearQuantile` when the weights are equal: value t sits at
 * (C_t − w_t/2 − w_0/2) / (W − w_0/2 − w_last/2) with C_t the cumulative weight through t.
 */
function weightedQuantile(sorted: Float64Array, w: Float64Array, p: number): number {
  const m = sorted.length;
  if (m === 1) return sorted[0]!;
  let W = 0;
  for (let t = 0; t < m; t++) W += w[t]!;
  const start = w[0]! / 2;
  const span = W - w[0]! / 2 - w[m - 1]! / 2;
  let cum = 0;
  let prevPos = 0;
  for (let t = 0; t < m; t++) {
    cum += w[t]!;
    const pos = span > 0 ? (cum - w[t]! / 2 - start) / span : t / (m - 1);
    if (pos >= p) {
      if (t === 0 || pos === prevPos) return sorted[t]!;
      const a = sorted[t - 1]!;
      return a + ((p - prevPos) / (pos - prevPos)) * (sorted[t]! - a);
    }
    prevPos = pos;
  }
  return sorted[m - 1]!;
}

/** The fewest significant digits (at least 4) that keep a feature's thresholds apart. */
function distinctDigits(q: Float64Array): number {
  for (let d = 4; d < 17; d++) {
    const seen = new Set<string>();
    for (const v of q) seen.add(formatNumber(v, d));
    if (seen.size === q.length) return d;
  }
  return 17;
}

function formatNumber(v: number, digits: number): string {
  return String(Number(v.toPrecision(digits)));
}

// ---------------------------------------------------------------------------------------------
// Sampling

/** Cumulative frequencies; states of frequency 0 are never drawn. */
function cumulativeOf(frequency: Float64Array): Float64Array {
  const c = new Float64Array(frequency.length);
  let s = 0;
  let last = -1;
  for (let k = 0; k < frequency.length; k++) {
    s += frequency[k]!;
    c[k] = s;
    if (frequency[k]! > 0) last = k;
  }
  // guard against rounding: the last state that can be drawn takes every u up to 1
  if (last >= 0) for (let k = last; k < c.length; k++) c[k] = Infinity;
  return c;
}

function draw(cumulative: Float64Array, rng: SeededRandom): number {
  const u = rng.next();
  let a = 0;
  let b = cumulative.length - 1;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (u < cumulative[mid]!) b = mid;
    else a = mid + 1;
  }
  return a;
}

/**
 * A value of bin b: mean + sd·z with z standard normal truncated to the bin's bounds, NaN for
 * the missing state. The float32 it becomes is kept inside the bin, so the model sees a value
 * of the bin the binary representation says.
 */
function valueInBin(st: NumericStates, b: number, rng: SeededRandom): number {
  const K = st.thresholds.length;
  if (b === K + 1) return NaN;
  const lo = st.lo[b]!;
  const hi = st.hi[b]!;
  if (!(hi > lo)) return lo;
  const mean = st.mean[b]!;
  const sd = st.sd[b]!;
  let v = Math.fround(mean + sd * truncatedNormal((lo - mean) / sd, (hi - mean) / sd, rng));
  // bins are (q[b−1], q[b]]: the first is closed below at the training minimum, the last closed above at the maximum
  if (v < lo || (b > 0 && v === lo)) v = b > 0 ? float32Above(lo) : Math.fround(lo);
  if (v > hi) v = b < K ? float32AtOrBelow(hi) : Math.fround(hi);
  return v;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The smallest float32 greater than v (v finite). */
function float32Above(v: number): number {
  const r = Math.fround(v);
  if (r > v) return r;
  if (r === 0) return 1.401298464324817e-45;
  f32[0] = r;
  u32[0] = r > 0 ? u32[0]! + 1 : u32[0]! - 1;
  return f32[0]!;
}

/** The largest float32 not greater than v (v finite). */
function float32AtOrBelow(v: number): number {
  const r = Math.fround(v);
  if (r <= v) return r;
  if (r === 0) return -1.401298464324817e-45;
  f32[0] = r;
  u32[0] = r > 0 ? u32[0]! - 1 : u32[0]! + 1;
  return f32[0]!;
}

/** A standard normal draw (Box–Muller; one of the pair is used). */
function normal(rng: SeededRandom): number {
  const u = 1 - rng.next(); // (0, 1]
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A standard normal draw truncated to [a, b] (a < b), by rejection (Robert 1995): plain normal
 * draws when [a, b] holds 0 and is wide, a uniform proposal when it is narrow, an exponential
 * one far in a tail. Every branch accepts at least about one proposal in five.
 */
function truncatedNormal(a: number, b: number, rng: SeededRandom): number {
  if (!(b > a)) return a;
  if (b <= 0) return -truncatedNormal(-b, -a, rng);
  if (a < 0) {
    if (b - a >= 2.5) {
      for (;;) {
        const z = normal(rng);
        if (z >= a && z <= b) return z;
      }
    }
    for (;;) {
      const z = a + (b - a) * rng.next();
      if (rng.next() <= Math.exp((-z * z) / 2)) return z;
    }
  }
  // 0 ≤ a < b: the upper tail
  if ((b - a) * Math.max(a, 1) < 1) {
    for (;;) {
      const z = a + (b - a) * rng.next();
      if (rng.next() <= Math.exp((a * a - z * z) / 2)) return z;
    }
  }
  const lambda = (a + Math.sqrt(a * a + 4)) / 2;
  for (;;) {
    const z = a - Math.log(1 - rng.next()) / lambda;
    if (z > b) continue;
    const e = z - lambda;
    if (rng.next() <= Math.exp((-e * e) / 2)) return z;
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation and fit

async function evaluate(model: ExplainableModel, rows: Float32Array, N: number, M: number, maxRowsPerCall: number): Promise<Float64Array> {
  const y = new Float64Array(N);
  for (let r0 = 0; r0 < N; r0 += maxRowsPerCall) {
    const count = Math.min(maxRowsPerCall, N - r0);
    const out = await model.predict(count === N ? rows : rows.subarray(r0 * M, (r0 + count) * M), count);
    if (!out || out.length !== count) {
      throw new BerthError('INFERENCE_FAILED', `the explained model returned ${out ? out.length : 'no'} values for ${count} rows; expected one per row`, {
        expected: count,
        got: out ? out.length : 0,
      });
    }
    y.set(out, r0);
  }
  for (let s = 0; s < N; s++) {
    if (!Number.isFinite(y[s]!)) {
      throw new BerthError('INFERENCE_FAILED', `the explained model returned ${y[s]} for ${s === 0 ? 'the explained row' : `perturbed sample ${s}`}; LIME needs finite outputs`);
    }
  }
  return y;
}

/**
 * min Σ_s k_s (y_s − b − z_s·β)² + α‖β‖² over β and an unpenalised intercept b, as scikit-learn's
 * Ridge with sample weights: the columns and y are centred on their weighted means, the normal
 * equations (ZcᵀKZc + αI)β = ZcᵀKyc are solved by Cholesky, and b = ȳ − z̄·β. A column without
 * variation (with α = 0) gets a tiny ridge so the system still factors.
 */
function weightedRidge(
  Z: Uint8Array,
  y: Float64Array,
  k: Float64Array,
  N: number,
  M: number,
  alpha: number,
): { coefficients: Float64Array; intercept: number; r2: number } {
  let W = 0;
  let yBar = 0;
  const zBar = new Float64Array(M);
  for (let s = 0; s < N; s++) {
    const w = k[s]!;
    W += w;
    yBar += w * y[s]!;
    for (let j = 0, o = s * M; j < M; j++) zBar[j]! += w * Z[o + j]!;
  }
  yBar /= W;
  for (let j = 0; j < M; j++) zBar[j] = zBar[j]! / W;

  const A = new Float64Array(M * M);
  const h = new Float64Array(M);
  const c = new Float64Array(M);
  let sst = 0;
  for (let s = 0; s < N; s++) {
    const w = k[s]!;
    const yc = y[s]! - yBar;
    sst += w * yc * yc;
    for (let j = 0, o = s * M; j < M; j++) c[j] = Z[o + j]! - zBar[j]!;
    for (let i = 0; i < M; i++) {
      const wc = w * c[i]!;
      h[i]! += wc * yc;
      const row = i * M;
      for (let j = i; j < M; j++) A[row + j]! += wc * c[j]!;
    }
  }
  for (let i = 0; i < M; i++) {
    A[i * M + i]! += alpha;
    for (let j = i + 1; j < M; j++) A[j * M + i] = A[i * M + j]!;
  }
  const beta = solveSymmetric(A, h, M, 'LIME');
  let intercept = yBar;
  for (let j = 0; j < M; j++) intercept -= zBar[j]! * beta[j]!;

  let sse = 0;
  for (let s = 0; s < N; s++) {
    let pred = intercept;
    for (let j = 0, o = s * M; j < M; j++) if (Z[o + j] === 1) pred += beta[j]!;
    const e = y[s]! - pred;
    sse += k[s]! * e * e;
  }
  // scikit-learn's r2_score: 1 when the outputs do not vary and are fitted exactly, 0 when they do not vary but are not
  const r2 = sst > 0 ? 1 - sse / sst : sse === 0 ? 1 : 0;
  return { coefficients: beta, intercept, r2: Math.min(1, Math.max(0, r2)) };
}


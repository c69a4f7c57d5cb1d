/**
 * Permutation feature importance over a labelled table (Breiman 2001; Fisher, Rudin & Dominici
 * 2019): how much a metric of the model worsens when one feature's column is shuffled, breaking
 * its link to the label while keeping its distribution.
 */
import { BerthError } from '../core/index.js';
import { createSeededRandom, type SeededRandom } from './background.js';
import type { ExplainableModel } from './kernel-shap.js';

/**
 * The metrics permutation importance can measure:
 * - `accuracy`: the share of rows whose class (see `PermutationImportanceOptions.decision`)
 *   equals the label;
 * - `r2`, `rmse`, `mae`: regression, the model's output against the label;
 * - `log-loss`, `roc-auc`: the model's output is the probability of class 1, labels are 0 or 1.
 */
export const PERMUTATION_METRICS = ['accuracy', 'r2', 'rmse', 'mae', 'log-loss', 'roc-auc'] as const;
export type PermutationMetric = (typeof PERMUTATION_METRICS)[number];

/** The metrics where lower is better: their importance is permuted − baseline. */
const LOSSES: ReadonlySet<PermutationMetric> = new Set<PermutationMetric>(['rmse', 'mae', 'log-loss']);

/**
 * How `accuracy` turns the model's output into a class:
 * - `threshold` (default, threshold 0.5): the output is the probability (or score) of class 1;
 *   the class is 1 when output ≥ threshold, else 0, and labels must be 0 or 1;
 * - `label`: the output is the class code itself (e.g. an adapter that returns the predicted
 *   label's index) and is right when it equals the label exactly.
 */
export type AccuracyDecision = { readonly kind: 'threshold'; readonly threshold: number } | { readonly kind: 'label' };

/** A labelled table: n rows of M features (row-major) and one label per row. */
export interface LabelledRows {
  readonly rows: Float32Array;
  readonly n: number;
  readonly labels: Float64Array;
}

/** Options of `permutationImportance`. */
export interface PermutationImportanceOptions {
  metric: PermutationMetric;
  /** how many times each feature's column is shuffled (default 5, at least 2 for an interval) */
  repeats?: number;
  /** seed of the row sample and the shuffles (default 0); same inputs and seed, same answer */
  seed?: number;
  /** measure on a seeded sample of at most this many rows (default: every row) */
  maxRows?: number;
  /** the interval's confidence level (default 0.95) */
  confidence?: number;
  /** `accuracy` only: how the output becomes a class (default threshold 0.5) */
  decision?: AccuracyDecision;
  /** one name per feature (default `x0`, `x1`, …) */
  featureNames?: readonly string[];
  /** the most rows in one `predict` call (default 262,144; fewer when 64 MiB of rows would not hold them) */
  maxRowsPerCall?: number;
}

/** One feature's importance over the repeats. Larger is more important, whatever the metric. */
export interface FeatureImportance {
  /** the feature's index in the model's order */
  index: number;
  name: string;
  /** the mean over repeats of the worsening: baseline − permuted (permuted − baseline for losses) */
  mean: number;
  /** the sample standard deviation over repeats */
  sd: number;
  /** the t-interval of the mean: mean ± t_{(1+confidence)/2, R−1} · sd / √R */
  low: number;
  high: number;
  /** the worsening of each repeat */
  values: Float64Array;
}

/** What `permutationImportance` returns. */
export interface PermutationImportance {
  metric: PermutationMetric;
  /** the metric on the unshuffled rows */
  baseline: number;
  repeats: number;
  confidence: number;
  /** rows measured (n, or maxRows when the sample is smaller) */
  rows: number;
  /** model rows evaluated: rows · (1 + repeats · M) */
  evaluations: number;
  /** every feature, most important first (ties in feature order) */
  features: FeatureImportance[];
}

const DEFAULT_REPEATS = 5;
const MAX_REPEATS = 10_000;
const DEFAULT_CONFIDENCE = 0.95;
const DEFAULT_MAX_ROWS_PER_CALL = 262_144;
/** the most values in one call's row buffer (64 MiB of float32), whatever maxRowsPerCall says */
const MAX_CHUNK_VALUES = 1 << 24;
const LOG_LOSS_EPS = 1e-15;

/**
 * Permutation importance of every feature of a model over labelled rows.
 *
 * The baseline is the metric on the rows as they are. Then, R times, each feature's column in
 * turn is shuffled (a seeded Fisher–Yates permutation of the rows, fresh for every repeat and
 * feature) and the metric measured again; the importance is the worsening. The rows of every
 * shuffled copy are built straight into one Float32Array and evaluated in as few `predict` calls
 * as `maxRowsPerCall` allows (one call for rows · (1 + R · M) ≤ 262,144). A feature the model
 * does not use gets exactly 0 in every repeat, and so does one that is constant in the rows.
 *
 * @example
 * const imp = await permutationImportance(model, { rows, n, labels }, { metric: 'r2', repeats: 5, seed: 1 });
 * imp.features[0]; // the most important feature, with its mean, sd and 95% interval
 */
export async function permutationImportance(model: ExplainableModel, data: LabelledRows, options: PermutationImportanceOptions): Promise<PermutationImportance> {
  const M = model.featureCount;
  if (!Number.isInteger(M) || M < 1) {
    throw new BerthError('INVALID_ARGUMENT', `the model must have at least one feature, got featureCount ${M}`, { field: 'featureCount', got: M });
  }
  const o = checkOptions(options, M);
  const { rows: allRows, n: allN, labels: allLabels } = checkData(data, M);
  const rng = createSeededRandom(o.seed);

  // the rows measured: all, or a seeded sample (kept in order)
  let rows = allRows;
  let labels = allLabels;
  let n = allN;
  if (o.maxRows !== undefined && o.maxRows < allN) {
    n = o.maxRows;
    const chosen = sampleIndices(allN, n, rng);
    rows = new Float32Array(n * M);
    labels = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      rows.set(allRows.subarray(chosen[r]! * M, chosen[r]! * M + M), r * M);
      labels[r] = allLabels[chosen[r]!]!;
    }
  }
  const metric = createMetric(o.metric, labels, o.decision);

  const R = o.repeats;
  const blocks = 1 + R * M; // block 0: the rows as they are; then (repeat, feature) in order
  const total = blocks * n;
  const chunkRows = Math.min(total, o.maxRowsPerCall, Math.max(1, Math.floor(MAX_CHUNK_VALUES / M)));
  const buffer = new Float32Array(chunkRows * M);
  const permutation = new Int32Array(n);
  const predictions = new Float64Array(n);
  const scores = new Float64Array(blocks);

  // filling: block by block, row by row; a block may span calls
  let fillBlock = 0;
  let fillRow = 0;
  // folding the outputs back
  let foldBlock = 0;
  let foldRow = 0;

  for (let r0 = 0; r0 < total; r0 += chunkRows) {
    const count = Math.min(chunkRows, total - r0);
    let dst = 0;
    while (dst < count * M) {
      if (fillRow === 0 && fillBlock > 0) shuffle(permutation, rng);
      const take = Math.min(n - fillRow, count - dst / M);
      buffer.set(rows.subarray(fillRow * M, (fillRow + take) * M), dst);
      if (fillBlock > 0) {
        const j = (fillBlock - 1) % M;
        for (let t = 0; t < take; t++) buffer[dst + t * M + j] = rows[permutation[fillRow + t]! * M + j]!;
      }
      dst += take * M;
      fillRow += take;
      if (fillRow === n) {
        fillRow = 0;
        fillBlock++;
      }
    }
    const y = await model.predict(count === chunkRows ? buffer : buffer.subarray(0, count * M), count);
    if (!y || y.length !== count) {
      throw new BerthError('INFERENCE_FAILED', `the model returned ${y ? y.length : 'no'} values for ${count} rows; expected one per row`, {
        expected: count,
        got: y ? y.length : 0,
      });
    }
    let i = 0;
    while (i < count) {
      const take = Math.min(n - foldRow, count - i);
      predictions.set(y.subarray(i, i + take), foldRow);
      i += take;
      foldRow += take;
      if (foldRow === n) {
        for (let r = 0; r < n; r++) {
          if (!Number.isFinite(predictions[r]!)) {
            throw new BerthError('INFERENCE_FAILED', `the model returned ${predictions[r]} for row ${r}${foldBlock === 0 ? '' : ` with feature ${(foldBlock - 1) % M} shuffled`}; permutation importance needs finite outputs`);
          }
        }
        scores[foldBlock] = metric(predictions);
        foldRow = 0;
        foldBlock++;
      }
    }
  }

  const baseline = scores[0]!;
  const loss = LOSSES.has(o.metric);
  const t = studentTQuantile((1 + o.confidence) / 2, R - 1);
  const features: FeatureImportance[] = [];
  for (let j = 0; j < M; j++) {
    const values = new Float64Array(R);
    for (let r = 0; r < R; r++) {
      const s = scores[1 + r * M + j]!;
      values[r] = loss ? s - baseline : baseline - s;
    }
    let mean = 0;
    for (const v of values) mean += v;
    mean /= R;
    let ss = 0;
    for (const v of values) ss += (v - mean) * (v - mean);
    const sd = Math.sqrt(ss / (R - 1));
    const half = (t * sd) / Math.sqrt(R);
    features.push({ index: j, name: o.featureNames[j]!, mean, sd, low: mean - half, high: mean + half, values });
  }
  features.sort((a, b) => b.mean - a.mean || a.index - b.index);
  return { metric: o.metric, baseline, repeats: R, confidence: o.confidence, rows: n, evaluations: total, features };
}

// ---------------------------------------------------------------------------------------------
// Metrics

/**
 * A metric of predictions against labels, as permutation importance computes it (exported for
 * tests and reports). Throws INVALID_ARGUMENT when the labels do not suit the metric (a
 * probability metric or threshold accuracy needs labels 0 and 1, and `roc-auc` both classes).
 *
 * - `accuracy`: the share of rows classified right (see `AccuracyDecision`).
 * - `r2`: 1 − Σ(y − ŷ)² / Σ(y − ȳ)²; when the labels do not vary, 1 for a perfect fit, else 0
 *   (scikit-learn's convention).
 * - `rmse`: √(mean (y − ŷ)²); `mae`: mean |y − ŷ|.
 * - `log-loss`: −mean(y·ln p + (1 − y)·ln(1 − p)), p clipped to [1e-15, 1 − 1e-15].
 * - `roc-auc`: the Mann–Whitney statistic, tied scores sharing their mean rank (a tie between a
 *   positive and a negative counts one half).
 */
export function computeMetric(metric: PermutationMetric, predictions: ArrayLike<number>, labels: Float64Array, decision?: AccuracyDecision): number {
  if (!(PERMUTATION_METRICS as readonly string[]).includes(metric)) {
    throw new BerthError('INVALID_ARGUMENT', `metric must be one of ${PERMUTATION_METRICS.join(', ')}, got ${JSON.stringify(metric)}`, { field: 'metric', expected: PERMUTATION_METRICS, got: metric });
  }
  if (predictions.length !== labels.length || labels.length < 1) {
    throw new BerthError('INVALID_ARGUMENT', `expected one prediction per label (${labels.length}, at least 1), got ${predictions.length}`, { field: 'predictions', expected: labels.length, got: predictions.length });
  }
  return createMetric(metric, labels, checkDecision(decision))(predictions);
}

/** The metric as a function of the predictions, with what depends only on the labels computed once. */
function createMetric(metric: PermutationMetric, labels: Float64Array, decision: AccuracyDecision): (p: ArrayLike<number>) => number {
  const n = labels.length;
  const needsBinary = metric === 'log-loss' || metric === 'roc-auc' || (metric === 'accuracy' && decision.kind === 'threshold');
  if (needsBinary) {
    for (let i = 0; i < n; i++) {
      const l = labels[i]!;
      if (l !== 0 && l !== 1) {
        throw new BerthError('INVALID_ARGUMENT', `labels[${i}] is ${l}; metric ${metric}${metric === 'accuracy' ? ' with a threshold' : ''} needs labels 0 or 1`, {
          field: `labels[${i}]`,
          expected: '0 or 1',
          got: l,
        });
      }
    }
  }
  switch (metric) {
    case 'accuracy': {
      if (decision.kind === 'label') {
        return (p) => {
          let right = 0;
          for (let i = 0; i < n; i++) if (p[i] === labels[i]) right++;
          return right / n;
        };
      }
      const th = decision.threshold;
      return (p) => {
        let right = 0;
        for (let i = 0; i < n; i++) if ((p[i]! >= th ? 1 : 0) === labels[i]) right++;
        return right / n;
      };
    }
    case 'r2': {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += labels[i]!;
      mean /= n;
      let sst = 0;
      for (let i = 0; i < n; i++) sst += (labels[i]! - mean) ** 2;
      return (p) => {
        let sse = 0;
        for (let i = 0; i < n; i++) sse += (labels[i]! - p[i]!) ** 2;
        if (sst > 0) return 1 - sse / sst;
        return sse === 0 ? 1 : 0;
      };
    }
    case 'rmse':
      return (p) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += (labels[i]! - p[i]!) ** 2;
        return Math.sqrt(s / n);
      };
    case 'mae':
      return (p) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += Math.abs(labels[i]! - p[i]!);
        return s / n;
      };
    case 'log-loss':
      return (p) => {
        let s = 0;
        for (let i = 0; i < n; i++) {
          const q = Math.min(1 - LOG_LOSS_EPS, Math.max(LOG_LOSS_EPS, p[i]!));
          s -= labels[i] === 1 ? Math.log(q) : Math.log(1 - q);
        }
        return s / n;
      };
    case 'roc-auc': {
      let positives = 0;
      for (let i = 0; i < n; i++) positives += labels[i]!;
      const negatives = n - positives;
      if (positives === 0 || negatives === 0) {
        throw new BerthError('INVALID_ARGUMENT', `roc-auc needs both classes among the labels; all ${n} are ${positives === 0 ? 0 : 1}`, { field: 'labels' });
      }
      const order = new Int32Array(n);
      return (p) => {
        for (let i = 0; i < n; i++) order[i] = i;
        order.sort((a, b) => p[a]! - p[b]!);
        // sum of the positives' ranks (1-based), tied runs sharing their mean rank
        let rankSum = 0;
        for (let a = 0; a < n; ) {
          let b = a + 1;
          while (b < n && p[order[b]!] === p[order[a]!]) b++;
          const meanRank = (a + 1 + b) / 2;
          for (let t = a; t < b; t++) if (labels[order[t]!] === 1) rankSum += meanRank;
          a = b;
        }
        return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Student's t

/**
 * The p-quantile of Student's t distribution with `df` degrees of freedom (a positive integer):
 * the t with P(T ≤ t) = p. The distribution function is the exact finite series for integer
 * degrees of freedom (Abramowitz & Stegun 26.7.3–4), inverted by bisection to full double
 * precision. Throws INVALID_ARGUMENT for p outside (0, 1) or df not an integer from 1 to 10^6.
 *
 * @example
 * studentTQuantile(0.975, 4); // 2.7764451051977987
 */
export function studentTQuantile(p: number, df: number): number {
  if (typeof p !== 'number' || !(p > 0 && p < 1)) {
    throw new BerthError('INVALID_ARGUMENT', `p must be a probability strictly between 0 and 1, got ${p}`, { field: 'p', got: p });
  }
  if (!Number.isInteger(df) || df < 1 || df > 1_000_000) {
    throw new BerthError('INVALID_ARGUMENT', `df must be an integer from 1 to 1000000, got ${df}`, { field: 'df', got: df });
  }
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  // P(|T| ≤ t) = 2p − 1; A is increasing in t
  const target = 2 * p - 1;
  let lo = 0;
  let hi = 1;
  while (studentTCentral(hi, df) < target) {
    lo = hi;
    hi *= 2;
    if (!Number.isFinite(hi)) return Infinity;
  }
  for (let i = 0; i < 200; i++) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (studentTCentral(mid, df) < target) lo = mid;
    else hi = mid;
  }
  return lo + (hi - lo) / 2;
}

/** A(t | ν) = P(|T| ≤ t) for t ≥ 0 and integer ν, by the finite series in θ = atan(t / √ν). */
function studentTCentral(t: number, df: number): number {
  const theta = Math.atan(t / Math.sqrt(df));
  const s = Math.sin(theta);
  const c = Math.cos(theta);
  const c2 = c * c;
  if (df % 2 === 1) {
    if (df === 1) return (2 / Math.PI) * theta;
    // θ + sin θ (cos θ + (2/3) cos³θ + … + (2·4…(ν−3))/(1·3…(ν−2)) cos^(ν−2) θ)
    let term = c;
    let sum = c;
    for (let k = 3; k <= df - 2; k += 2) {
      term *= (c2 * (k - 1)) / k;
      sum += term;
    }
    return (2 / Math.PI) * (theta + s * sum);
  }
  // sin θ (1 + (1/2) cos²θ + (1·3)/(2·4) cos⁴θ + … + (1·3…(ν−3))/(2·4…(ν−2)) cos^(ν−2) θ)
  let term = 1;
  let sum = 1;
  for (let k = 2; k <= df - 2; k += 2) {
    term *= (c2 * (k - 1)) / k;
    sum += term;
  }
  return s * sum;
}

// ---------------------------------------------------------------------------------------------
// Checks and helpers

interface CheckedOptions {
  metric: PermutationMetric;
  repeats: number;
  seed: number;
  maxRows: number | undefined;
  confidence: number;
  decision: AccuracyDecision;
  featureNames: readonly string[];
  maxRowsPerCall: number;
}

function checkOptions(options: PermutationImportanceOptions, M: number): CheckedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new BerthError('INVALID_ARGUMENT', 'permutation importance needs options with at least a metric', { field: 'options' });
  }
  const metric = options.metric;
  if (!(PERMUTATION_METRICS as readonly string[]).includes(metric)) {
    throw new BerthError('INVALID_ARGUMENT', `metric must be one of ${PERMUTATION_METRICS.join(', ')}, got ${JSON.stringify(metric)}`, { field: 'metric', expected: PERMUTATION_METRICS, got: metric });
  }
  const repeats = options.repeats ?? DEFAULT_REPEATS;
  if (!Number.isInteger(repeats) || repeats < 2 || repeats > MAX_REPEATS) {
    throw new BerthError('INVALID_ARGUMENT', `repeats must be an integer from 2 to ${MAX_REPEATS} (an interval needs at least two), got ${repeats}`, { field: 'repeats', got: repeats });
  }
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new BerthError('INVALID_ARGUMENT', `seed must be an integer from 0 to 4294967295, got ${seed}`, { field: 'seed', got: seed });
  }
  const maxRows = options.maxRows;
  if (maxRows !== undefined && (!Number.isInteger(maxRows) || maxRows < 2)) {
    throw new BerthError('INVALID_ARGUMENT', `maxRows must be an integer ≥ 2, got ${maxRows}`, { field: 'maxRows', got: maxRows });
  }
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  if (typeof confidence !== 'number' || !(confidence > 0 && confidence < 1)) {
    throw new BerthError('INVALID_ARGUMENT', `confidence must be a number strictly between 0 and 1, got ${confidence}`, { field: 'confidence', got: confidence });
  }
  const decision = checkDecision(options.decision);
  const names = options.featureNames;
  if (names !== undefined) {
    if (!Array.isArray(names) || names.length !== M) {
      throw new BerthError('INVALID_ARGUMENT', `featureNames must name each of the ${M} features, got ${Array.isArray(names) ? `${names.length} names` : typeof names}`, {
        field: 'featureNames',
        expected: M,
      });
    }
    names.forEach((name, j) => {
      if (typeof name !== 'string' || name === '') {
        throw new BerthError('INVALID_ARGUMENT', `featureNames[${j}] must be a non-empty string, got ${JSON.stringify(name)}`, { field: `featureNames[${j}]`, got: name });
      }
    });
  }
  const maxRowsPerCall = options.maxRowsPerCall ?? DEFAULT_MAX_ROWS_PER_CALL;
  if (!Number.isInteger(maxRowsPerCall) || maxRowsPerCall < 1) {
    throw new BerthError('INVALID_ARGUMENT', `maxRowsPerCall must be an integer ≥ 1, got ${maxRowsPerCall}`, { field: 'maxRowsPerCall', got: maxRowsPerCall });
  }
  return {
    metric,
    repeats,
    seed,
    maxRows,
    confidence,
    decision,
    featureNames: names ? names.slice() : Array.from({ length: M }, (_, j) => `x${j}`),
    maxRowsPerCall,
  };
}

function checkDecision(decision: AccuracyDecision | undefined): AccuracyDecision {
  if (decision === undefined) return { kind: 'threshold', threshold: 0.5 };
  if (typeof decision === 'object' && decision !== null) {
    if (decision.kind === 'label') return decision;
    if (decision.kind === 'threshold' && typeof decision.threshold === 'number' && Number.isFinite(decision.threshold)) return decision;
  }
  throw new BerthError('INVALID_ARGUMENT', `decision must be { kind: 'threshold', threshold: <finite number> } or { kind: 'label' }, got ${JSON.stringify(decision)}`, {
    field: 'decision',
    got: decision,
  });
}

function checkData(data: LabelledRows, M: number): LabelledRows {
  if (typeof data !== 'object' || data === null || !(data.rows instanceof Float32Array) || !(data.labels instanceof Float64Array)) {
    throw new BerthError('INVALID_ARGUMENT', 'the data must be { rows: Float32Array, n, labels: Float64Array }', { field: 'data' });
  }
  const { rows, n, labels } = data;
  if (!Number.isInteger(n) || n < 2) {
    throw new BerthError('INVALID_ARGUMENT', `the data must hold at least 2 rows, got n = ${n}`, { field: 'n', expected: '≥ 2', got: n });
  }
  if (rows.length !== n * M) {
    throw new BerthError('INVALID_ARGUMENT', `rows: expected n × M = ${n} × ${M} = ${n * M} values, got ${rows.length}`, { field: 'rows', expected: n * M, got: rows.length });
  }
  if (labels.length !== n) {
    throw new BerthError('INVALID_ARGUMENT', `labels: expected one per row (${n}), got ${labels.length}`, { field: 'labels', expected: n, got: labels.length });
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(labels[i]!)) {
      throw new BerthError('INVALID_ARGUMENT', `labels[${i}] must be a finite number, got ${labels[i]}`, { field: `labels[${i}]`, got: labels[i] });
    }
  }
  return data;
}

/** k of n row indices without replacement (partial Fisher–Yates), in increasing order. */
function sampleIndices(n: number, k: number, rng: SeededRandom): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order.slice(0, k).sort();
}

/** A fresh uniform permutation of 0 … n−1 into `out` (Fisher–Yates). */
function shuffle(out: Int32Array, rng: SeededRandom): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
}

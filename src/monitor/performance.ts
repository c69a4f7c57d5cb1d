/**
 * Model quality once ground truth is known, and an estimate of it before: classification metrics
 * (accuracy, precision, recall, F1, ROC AUC, log loss), regression metrics (MAE, RMSE, R²), and a
 * confidence-based estimate of accuracy (CBPE-style) from the model's own scores, calibrated on the
 * reference data where the labels were known.
 */

export interface ClassificationMetrics {
  rows: number;
  accuracy: number;
  /** binary: of the positive class; multiclass: macro averages */
  precision: number;
  recall: number;
  f1: number;
  /** binary: from the positive-class score; multiclass: macro one-vs-rest; null without scores */
  rocAuc: number | null;
  /** mean −log p(true class), probabilities clipped to [1e-15, 1 − 1e-15]; null without probabilities */
  logLoss: number | null;
  /** share of rows labelled positive (binary) */
  positiveRate: number | null;
}

export interface RegressionMetrics {
  rows: number;
  mae: number;
  rmse: number;
  r2: number;
  /** mean(prediction − label): positive when the model over-predicts */
  bias: number;
}

/**
 * Classification metrics over rows with a known label. `pred[i]` and `truth[i]` are class indices
 * (−1 = unknown: the row is skipped); `proba` is row-major [rows, k] (or null); `positive` the index
 * of the positive class for binary problems (null for multiclass).
 */
export function classificationMetrics(
  pred: Int32Array,
  truth: Int32Array,
  k: number,
  proba: Float64Array | null,
  positive: number | null,
  weights: Float64Array | null = null,
): ClassificationMetrics | null {
  const n = pred.length;
  const tp = new Float64Array(k);
  const fp = new Float64Array(k);
  const fn = new Float64Array(k);
  let total = 0;
  let correct = 0;
  let ll = 0;
  let llOk = proba !== null;
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const t = truth[i]!;
    const p = pred[i]!;
    if (t < 0 || p < 0 || t >= k || p >= k) continue;
    const w = weights ? weights[i]! : 1;
    total += w;
    if (t === p) {
      correct += w;
      tp[t] = tp[t]! + w;
    } else {
      fp[p] = fp[p]! + w;
      fn[t] = fn[t]! + w;
    }
    if (positive !== null && t === positive) pos += w;
    if (proba !== null) {
      const q = proba[i * k + t]!;
      if (Number.isNaN(q)) llOk = false;
      else ll -= w * Math.log(Math.min(1 - 1e-15, Math.max(1e-15, q)));
    }
  }
  if (total === 0) return null;
  const prec = (c: number): number => (tp[c]! + fp[c]! > 0 ? tp[c]! / (tp[c]! + fp[c]!) : 0);
  const rec = (c: number): number => (tp[c]! + fn[c]! > 0 ? tp[c]! / (tp[c]! + fn[c]!) : 0);
  const f1 = (c: number): number => {
    const a = prec(c);
    const b = rec(c);
    return a + b > 0 ? (2 * a * b) / (a + b) : 0;
  };
  let precision: number;
  let recall: number;
  let f: number;
  if (positive !== null) {
    precision = prec(positive);
    recall = rec(positive);
    f = f1(positive);
  } else {
    // macro over the classes present in truth or predictions
    const present = [...Array(k).keys()].filter((c) => tp[c]! + fp[c]! + fn[c]! > 0);
    precision = mean(present.map(prec));
    recall = mean(present.map(rec));
    f = mean(present.map(f1));
  }
  let auc: number | null = null;
  if (proba !== null) {
    if (positive !== null) auc = rocAuc(column(proba, k, positive), truth, positive, weights);
    else {
      const aucs: number[] = [];
      for (let c = 0; c < k; c++) {
        const a = rocAuc(column(proba, k, c), truth, c, weights);
        if (a !== null) aucs.push(a);
      }
      auc = aucs.length > 0 ? mean(aucs) : null;
    }
  }
  return {
    rows: total,
    accuracy: correct / total,
    precision,
    recall,
    f1: f,
    rocAuc: auc,
    logLoss: llOk && proba !== null ? ll / total : null,
    positiveRate: positive !== null ? pos / total : null,
  };
}

/**
 * Area under the ROC curve of `score` for "truth == cls" (ties counted half: the Mann–Whitney
 * statistic), weighted. Null when only one class is present.
 */
export function rocAuc(score: Float64Array, truth: Int32Array, cls: number, weights: Float64Array | null = null): number | null {
  const idx: number[] = [];
  for (let i = 0; i < score.length; i++) if (truth[i]! >= 0 && !Number.isNaN(score[i]!)) idx.push(i);
  idx.sort((a, b) => score[a]! - score[b]!);
  let posW = 0;
  let negW = 0;
  let area = 0;
  // walk groups of tied scores: each positive beats the negatives below it, ties count half
  let negBelow = 0;
  for (let g = 0; g < idx.length; ) {
    let h = g;
    let gp = 0;
    let gn = 0;
    while (h < idx.length && score[idx[h]!] === score[idx[g]!]) {
      const i = idx[h]!;
      const w = weights ? weights[i]! : 1;
      if (truth[i] === cls) gp += w;
      else gn += w;
      h++;
    }
    area += gp * (negBelow + gn / 2);
    negBelow += gn;
    posW += gp;
    negW += gn;
    g = h;
  }
  if (posW === 0 || negW === 0) return null;
  return area / (posW * negW);
}

/** Regression metrics over rows with a finite label and prediction. */
export function regressionMetrics(pred: Float64Array, truth: Float64Array, weights: Float64Array | null = null): RegressionMetrics | null {
  let total = 0;
  let sumT = 0;
  for (let i = 0; i < pred.length; i++) {
    if (!Number.isFinite(pred[i]!) || !Number.isFinite(truth[i]!)) continue;
    const w = weights ? weights[i]! : 1;
    total += w;
    sumT += w * truth[i]!;
  }
  if (total === 0) return null;
  const meanT = sumT / total;
  let ae = 0;
  let se = 0;
  let st = 0;
  let bias = 0;
  for (let i = 0; i < pred.length; i++) {
    if (!Number.isFinite(pred[i]!) || !Number.isFinite(truth[i]!)) continue;
    const w = weights ? weights[i]! : 1;
    const e = pred[i]! - truth[i]!;
    ae += w * Math.abs(e);
    se += w * e * e;
    bias += w * e;
    st += w * (truth[i]! - meanT) ** 2;
  }
  return { rows: total, mae: ae / total, rmse: Math.sqrt(se / total), r2: st > 0 ? 1 - se / st : NaN, bias: bias / total };
}

// ---------------------------------------------------------------------------------------------
// Confidence-based performance estimation

/**
 * A reliability map learned on the reference (where labels are known): for bins of the model's
 * confidence in its predicted class, the share of those predictions that were right. Applying it
 * to live confidences estimates accuracy before any label arrives.
 */
export interface Calibration {
  format: 'berth-calibration/1';
  /** bin upper edges of confidence, ascending, last = 1 */
  edges: number[];
  /** observed accuracy per bin (NaN for empty bins: the bin's own confidence is used) */
  accuracy: number[];
  counts: number[];
  /** accuracy over the whole reference */
  referenceAccuracy: number;
  rows: number;
}

/** Bins of equal reference mass (up to `bins`), so sparse confidence ranges still get a robust rate. */
export function fitCalibration(confidence: Float64Array, correct: Uint8Array, bins = 20): Calibration | null {
  const idx: number[] = [];
  for (let i = 0; i < confidence.length; i++) if (Number.isFinite(confidence[i]!)) idx.push(i);
  if (idx.length < 2 * bins) bins = Math.max(1, Math.floor(idx.length / 10));
  if (idx.length === 0) return null;
  idx.sort((a, b) => confidence[a]! - confidence[b]!);
  const edges: number[] = [];
  const accuracy: number[] = [];
  const counts: number[] = [];
  let right = 0;
  for (let b = 0; b < bins; b++) {
    const lo = Math.floor((b * idx.length) / bins);
    const hi = Math.floor(((b + 1) * idx.length) / bins);
    if (hi <= lo) continue;
    let c = 0;
    for (let j = lo; j < hi; j++) c += correct[idx[j]!]!;
    right += c;
    const upper = b === bins - 1 ? Infinity : confidence[idx[hi - 1]!]!;
    if (edges.length > 0 && upper <= edges[edges.length - 1]!) {
      // ties across the boundary: fold into the previous bin
      const k = counts.length - 1;
      accuracy[k] = (accuracy[k]! * counts[k]! + c) / (counts[k]! + (hi - lo));
      counts[k] = counts[k]! + (hi - lo);
      continue;
    }
    edges.push(upper);
    accuracy.push(c / (hi - lo));
    counts.push(hi - lo);
  }
  return { format: 'berth-calibration/1', edges: edges.map((e) => (Number.isFinite(e) ? e : 1)), accuracy, counts, referenceAccuracy: right / idx.length, rows: idx.length };
}

/** The calibrated probability that a prediction made with confidence `c` is right (NaN for no confidence). */
export function calibratedCorrectness(cal: Calibration, c: number): number {
  if (!Number.isFinite(c)) return NaN;
  let b = 0;
  while (b < cal.edges.length - 1 && c > cal.edges[b]!) b++;
  const a = cal.accuracy[b]!;
  // an empty bin of the reference: the model's own confidence is the best guess
  return Number.isNaN(a) ? c : a;
}

/** Estimated accuracy of rows with these confidences: the mean calibrated probability of being right. */
export function estimateAccuracy(cal: Calibration, confidence: Float64Array, weights: Float64Array | null = null): { accuracy: number; rows: number } | null {
  let total = 0;
  let sum = 0;
  for (let i = 0; i < confidence.length; i++) {
    const p = calibratedCorrectness(cal, confidence[i]!);
    if (Number.isNaN(p)) continue;
    const w = weights ? weights[i]! : 1;
    total += w;
    sum += w * p;
  }
  return total > 0 ? { accuracy: sum / total, rows: total } : null;
}

function column(m: Float64Array, k: number, c: number): Float64Array {
  const n = m.length / k;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = m[i * k + c]!;
  return out;
}

function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

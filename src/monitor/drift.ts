/**
 * Drift of a window of traffic against a reference (a stored profile, or an earlier window), per
 * column and for the dataset. Two presets:
 *
 * - `berth` (default): a column drifts when its test's Benjamini–Hochberg-adjusted p-value is below
 *   `alpha` AND its population stability index, on bins fixed at the reference's deciles (or on its
 *   categories), is at least `psiThreshold`. Below `minRows` rows on either side the verdict is
 *   `insufficient_data`. Continuous numerics use the two-sample KS test; categoricals and numerics
 *   with at most `discreteMaxValues` distinct reference values use chi-square.
 * - `evidently`: Evidently 0.4's default test per column and its thresholds, unchanged
 *   (`stats/evidently.ts`), for teams comparing numbers with an Evidently report.
 *
 * See docs/drift-statistics.md for why the default differs from Evidently's.
 */
import { BerthError } from '../core/index.js';
import { isNumericColumn, type Column, type Table } from '../data/index.js';
import { sortFloat64, type CategoricalColumnProfile, type DatasetProfile, type NumericColumnProfile } from './profile/index.js';
import {
  benjaminiHochberg,
  chiSquareHomogeneity,
  cramersV,
  evidentlyColumnDrift,
  histogramCounts,
  jensenShannonDistance,
  ksTwoSampleSorted,
  ksAsymptoticPValue,
  psi,
  quantileEdges,
  wasserstein1Sorted,
  type EvidentlyTest,
} from './stats/index.js';
import { answeredRows, rowWeights } from './inference-log/rows.js';

export const DRIFT_PRESETS = ['berth', 'evidently'] as const;
export type DriftPreset = (typeof DRIFT_PRESETS)[number];

export interface DriftOptions {
  preset: DriftPreset;
  /** false-discovery rate across columns (berth) */
  alpha: number;
  /** PSI at or above which a significant change counts as drift (berth) */
  psiThreshold: number;
  /** fewer rows than this on either side: `insufficient_data` */
  minRows: number;
  /** the dataset drifts when at least this share of evaluated feature columns drift */
  driftShare: number;
  /** decile bins by default */
  bins: number;
  /** numerics with at most this many distinct reference values are compared as categories */
  discreteMaxValues: number;
}

export const DEFAULT_DRIFT_OPTIONS: DriftOptions = {
  preset: 'berth',
  alpha: 0.05,
  psiThreshold: 0.1,
  minRows: 100,
  driftShare: 0.5,
  bins: 10,
  discreteMaxValues: 20,
};

export interface DriftColumnSpec {
  name: string;
  kind: 'numeric' | 'categorical';
  /** prediction columns are reported apart and do not count towards the dataset's drift share */
  role?: 'feature' | 'prediction';
}

export type DriftVerdict = 'drift' | 'no_drift' | 'insufficient_data' | 'missing';

/** A histogram for charts: bins (numeric ranges or categories) with each side's share. */
export interface DriftHistogram {
  /** bin labels: `[lo, hi)` ranges or category names */
  labels: string[];
  /** numeric bins: the edges (labels.length + 1 of them, ±Infinity at open ends) */
  edges?: number[];
  reference: number[];
  current: number[];
}

export interface ColumnDrift {
  column: string;
  kind: 'numeric' | 'categorical';
  role: 'feature' | 'prediction';
  /** the test behind the verdict: ks, chisquare, z, wasserstein, jensenshannon, psi */
  test: EvidentlyTest;
  /** the test's statistic (KS D, chi-square, the distance for distance tests) */
  statistic: number;
  pValue: number | null;
  /** BH-adjusted p-value (berth preset) */
  pAdjusted: number | null;
  psi: number | null;
  jensenShannon: number | null;
  wassersteinNormed: number | null;
  cramersV: number | null;
  /** the score compared with the threshold, and the threshold (as the preset defines them) */
  score: number;
  threshold: number;
  referenceRows: number;
  currentRows: number;
  verdict: DriftVerdict;
  drifted: boolean;
  histogram: DriftHistogram;
}

export interface DriftReport {
  preset: DriftPreset;
  options: DriftOptions;
  columns: ColumnDrift[];
  predictions: ColumnDrift[];
  evaluatedColumns: number;
  driftedColumns: number;
  /** drifted / evaluated feature columns (0 when none could be evaluated) */
  driftShare: number;
  datasetDrift: boolean;
  verdict: 'drift' | 'no_drift' | 'insufficient_data';
}

/** The reference side: a stored profile, or the rows of an earlier window. */
export type DriftReference = { kind: 'profile'; profile: DatasetProfile } | { kind: 'table'; table: Table };

// ---------------------------------------------------------------------------------------------
// Samples: what each side of a column looks like, whatever it came from

interface NumericSample {
  /** finite values ascending, and their weights (null = all 1) */
  values: Float64Array;
  weights: Float64Array | null;
  /** total weight (rows) of finite values */
  total: number;
  std: number;
  /** exact value → weight when the reference has few distinct values */
  distinct: Map<number, number> | null;
}

interface CategoricalSample {
  counts: Map<string, number>;
  total: number;
}

function numericFromProfile(p: NumericColumnProfile): NumericSample {
  const { values, weights } = p.kll.items();
  let unit = true;
  for (let i = 0; i < weights.length && unit; i++) if (weights[i] !== 1) unit = false;
  const distinct = p.smallDomain ? new Map(p.smallDomain.values.map((v, i) => [v, p.smallDomain!.counts[i]!])) : null;
  return { values, weights: unit ? null : weights, total: p.weight, std: p.weight > 0 ? Math.sqrt(p.m2 / p.weight) : 0, distinct };
}

function categoricalFromProfile(p: CategoricalColumnProfile | NumericColumnProfile): CategoricalSample {
  const counts = new Map<string, number>();
  if (p.kind === 'categorical') {
    for (const [v, c] of p.frequencies.entries()) counts.set(v, c);
    if (p.frequencies.otherCount > 0) counts.set('(other)', p.frequencies.otherCount);
    return { counts, total: p.frequencies.total };
  }
  const sd = p.smallDomain;
  if (sd) sd.values.forEach((v, i) => counts.set(String(v), sd.counts[i]!));
  return { counts, total: p.weight };
}

function numericFromColumn(col: Column, weights: Float64Array | null, ok: Uint8Array | null): NumericSample {
  const n = col.type === 'string' ? col.codes.length : col.values.length;
  let raw: Float64Array;
  if (col.type === 'string') {
    const parsed = col.dictionary.map((s) => (s.trim() === '' ? NaN : Number(s)));
    raw = new Float64Array(n);
    for (let i = 0; i < n; i++) raw[i] = col.codes[i]! < 0 ? NaN : parsed[col.codes[i]!]!;
  } else if (col.type === 'binary') {
    raw = new Float64Array(0);
  } else {
    raw = col.values;
  }
  // one pass: keep the finite values of answered rows (and their weights)
  const buf = new Float64Array(raw.length);
  const wbuf = weights ? new Float64Array(raw.length) : null;
  let count = 0;
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]!;
    if (v - v !== 0 || (ok !== null && !ok[i])) continue; // NaN and ±Infinity fail v - v === 0
    if (wbuf) wbuf[count] = weights![i]!;
    buf[count++] = v;
  }
  const values = buf.subarray(0, count);
  let w: Float64Array | null = wbuf ? wbuf.subarray(0, count) : null;
  if (w) {
    // co-sort values and weights (sampled logs only; unweighted columns take the fast path)
    const idx = Uint32Array.from({ length: count }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
    const sv = new Float64Array(count);
    const sw = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      sv[i] = values[idx[i]!]!;
      sw[i] = w[idx[i]!]!;
    }
    values.set(sv);
    w = sw;
  } else {
    sortFloat64(values);
  }
  // mean, then the centred second moment (two cheap passes, no division per value)
  let total = 0;
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const wi = w ? w[i]! : 1;
    total += wi;
    sum += wi * values[i]!;
  }
  const mean = total > 0 ? sum / total : 0;
  let m2 = 0;
  for (let i = 0; i < count; i++) {
    const d = values[i]! - mean;
    m2 += (w ? w[i]! : 1) * d * d;
  }
  return { values, weights: w, total, std: total > 0 ? Math.sqrt(m2 / total) : 0, distinct: null };
}

function categoricalFromColumn(col: Column, weights: Float64Array | null, ok: Uint8Array | null): CategoricalSample {
  const counts = new Map<string, number>();
  let total = 0;
  if (col.type === 'string') {
    const per = new Float64Array(col.dictionary.length);
    for (let i = 0; i < col.codes.length; i++) {
      const c = col.codes[i]!;
      if (c < 0 || (ok !== null && !ok[i])) continue;
      const wi = weights ? weights[i]! : 1;
      per[c] = per[c]! + wi;
    }
    per.forEach((c, k) => {
      if (c > 0) {
        const key = col.dictionary[k]!;
        counts.set(key, (counts.get(key) ?? 0) + c);
        total += c;
      }
    });
  } else if (col.type !== 'binary') {
    for (let i = 0; i < col.values.length; i++) {
      const v = col.values[i]!;
      if (Number.isNaN(v) || (ok !== null && !ok[i])) continue;
      const wi = weights ? weights[i]! : 1;
      const key = String(v);
      counts.set(key, (counts.get(key) ?? 0) + wi);
      total += wi;
    }
  }
  return { counts, total };
}

function distinctOf(s: NumericSample, limit: number): Map<number, number> | null {
  if (s.distinct) return s.distinct.size <= limit ? s.distinct : null;
  const m = new Map<number, number>();
  for (let i = 0; i < s.values.length; i++) {
    const v = s.values[i]!;
    m.set(v, (m.get(v) ?? 0) + (s.weights ? s.weights[i]! : 1));
    if (m.size > limit) return null;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// The analysis

/**
 * Compare `current` (a window's rows) with the reference, column by column, then decide for the
 * dataset. Columns absent from the reference are skipped; absent from the window: verdict `missing`.
 */
export function computeDrift(reference: DriftReference, current: Table, specs: readonly DriftColumnSpec[], options: Partial<DriftOptions> = {}): DriftReport {
  const opts: DriftOptions = { ...DEFAULT_DRIFT_OPTIONS, ...options };
  if (!(DRIFT_PRESETS as readonly string[]).includes(opts.preset)) {
    throw new BerthError('INVALID_ARGUMENT', `preset: expected one of ${DRIFT_PRESETS.join(', ')}, got ${JSON.stringify(opts.preset)}`, {
      field: 'preset', expected: DRIFT_PRESETS, got: opts.preset,
    });
  }
  const curWeights = rowWeights(current);
  const curOk = answeredRows(current);
  const refTable = reference.kind === 'table' ? reference.table : null;
  const refWeights = refTable ? rowWeights(refTable) : null;
  const refOk = refTable ? answeredRows(refTable) : null;

  const results: ColumnDrift[] = [];
  for (const spec of specs) {
    const curCol = current.columns.find((c) => c.name === spec.name);
    let refNumeric: NumericSample | null = null;
    let refCategorical: CategoricalSample | null = null;
    if (reference.kind === 'profile') {
      const p = reference.profile.columns.find((c) => c.name === spec.name);
      if (!p) continue;
      if (spec.kind === 'numeric' && p.kind === 'numeric') refNumeric = numericFromProfile(p);
      else refCategorical = categoricalFromProfile(p);
    } else {
      const c = reference.table.columns.find((x) => x.name === spec.name);
      if (!c) continue;
      if (spec.kind === 'numeric') refNumeric = numericFromColumn(c, refWeights, refOk);
      else refCategorical = categoricalFromColumn(c, refWeights, refOk);
    }
    const role = spec.role ?? 'feature';
    if (refNumeric) {
      const cur = curCol ? numericFromColumn(curCol, curWeights, curOk) : null;
      results.push(numericDrift(spec.name, role, refNumeric, cur, opts));
    } else if (refCategorical) {
      const cur = curCol ? categoricalFromColumn(curCol, curWeights, curOk) : null;
      results.push(categoricalDrift(spec.name, spec.kind, role, refCategorical, cur, opts));
    }
  }

  // the dataset: BH across the feature columns that could be tested, then the share
  const features = results.filter((r) => r.role === 'feature');
  if (opts.preset === 'berth') {
    const tested = results.filter((r) => r.pValue !== null && r.verdict !== 'insufficient_data' && r.verdict !== 'missing');
    const testedFeatures = tested.filter((r) => r.role === 'feature');
    const adjusted = benjaminiHochberg(testedFeatures.map((r) => r.pValue!));
    testedFeatures.forEach((r, i) => (r.pAdjusted = adjusted[i]!));
    // predictions are one family of their own
    const preds = tested.filter((r) => r.role === 'prediction');
    const adjPred = benjaminiHochberg(preds.map((r) => r.pValue!));
    preds.forEach((r, i) => (r.pAdjusted = adjPred[i]!));
    for (const r of tested) {
      r.drifted = r.pAdjusted! < opts.alpha && r.psi !== null && r.psi >= opts.psiThreshold;
      r.verdict = r.drifted ? 'drift' : 'no_drift';
      r.score = r.pAdjusted!;
      r.threshold = opts.alpha;
    }
  }
  const evaluated = features.filter((r) => r.verdict === 'drift' || r.verdict === 'no_drift');
  const drifted = evaluated.filter((r) => r.drifted).length;
  const share = evaluated.length > 0 ? drifted / evaluated.length : 0;
  const datasetDrift = evaluated.length > 0 && share >= opts.driftShare;
  return {
    preset: opts.preset,
    options: opts,
    columns: features,
    predictions: results.filter((r) => r.role === 'prediction'),
    evaluatedColumns: evaluated.length,
    driftedColumns: drifted,
    driftShare: share,
    datasetDrift,
    verdict: evaluated.length === 0 ? 'insufficient_data' : datasetDrift ? 'drift' : 'no_drift',
  };
}

function emptyResult(column: string, kind: 'numeric' | 'categorical', role: 'feature' | 'prediction', refRows: number, curRows: number, verdict: DriftVerdict): ColumnDrift {
  return {
    column, kind, role, test: kind === 'numeric' ? 'ks' : 'chisquare', statistic: NaN, pValue: null, pAdjusted: null, psi: null,
    jensenShannon: null, wassersteinNormed: null, cramersV: null, score: NaN, threshold: NaN,
    referenceRows: refRows, currentRows: curRows, verdict, drifted: false, histogram: { labels: [], reference: [], current: [] },
  };
}

function numericDrift(name: string, role: 'feature' | 'prediction', ref: NumericSample, cur: NumericSample | null, opts: DriftOptions): ColumnDrift {
  if (cur === null) return emptyResult(name, 'numeric', role, ref.total, 0, 'missing');
  const small = ref.total < opts.minRows || cur.total < opts.minRows || ref.values.length === 0 || cur.values.length === 0;
  const refDistinct = distinctOf(ref, opts.discreteMaxValues);
  if (opts.preset === 'evidently') {
    if (ref.values.length === 0 || cur.values.length === 0) return emptyResult(name, 'numeric', role, ref.total, cur.total, 'insufficient_data');
    return evidentlyNumeric(name, role, ref, cur);
  }
  if (refDistinct !== null) {
    // few distinct values: compare as categories (chi-square on value counts)
    const refCat: CategoricalSample = { counts: new Map([...refDistinct].map(([v, c]) => [String(v), c])), total: ref.total };
    const curCat: CategoricalSample = { counts: new Map(), total: cur.total };
    // the values are sorted: count runs, and turn only the distinct values into keys
    const v = cur.values;
    for (let i = 0; i < v.length; ) {
      let j = i;
      let w = 0;
      while (j < v.length && v[j] === v[i]) {
        w += cur.weights ? cur.weights[j]! : 1;
        j++;
      }
      const k = String(v[i]!);
      curCat.counts.set(k, (curCat.counts.get(k) ?? 0) + w);
      i = j;
    }
    const r = categoricalDrift(name, 'numeric', role, refCat, curCat, opts, true);
    r.wassersteinNormed = wasserstein1Sorted(ref.values, cur.values, ref.weights ?? undefined, cur.weights ?? undefined) / Math.max(ref.std, 1e-3);
    return r;
  }
  const edges = referenceEdges(ref, opts.bins);
  const refCounts = binCounts(ref, edges);
  const curCounts = binCounts(cur, edges);
  let statistic: number;
  let pValue: number;
  if (ref.weights === null && cur.weights === null) {
    const ks = ksTwoSampleSorted(ref.values, cur.values);
    statistic = ks.statistic;
    pValue = ks.pValue;
  } else {
    const ks = ksSortedWeighted(ref, cur);
    statistic = ks.statistic;
    pValue = ks.pValue;
  }
  const result: ColumnDrift = {
    column: name, kind: 'numeric', role, test: 'ks', statistic, pValue, pAdjusted: null,
    psi: psi(refCounts, curCounts), jensenShannon: jensenShannonDistance(refCounts, curCounts),
    wassersteinNormed: wasserstein1Sorted(ref.values, cur.values, ref.weights ?? undefined, cur.weights ?? undefined) / Math.max(ref.std, 1e-3),
    cramersV: null, score: pValue, threshold: opts.alpha, referenceRows: ref.total, currentRows: cur.total,
    verdict: small ? 'insufficient_data' : 'no_drift', drifted: false,
    histogram: displayHistogram(ref, cur),
  };
  return result;
}

function categoricalDrift(
  name: string,
  kind: 'numeric' | 'categorical',
  role: 'feature' | 'prediction',
  ref: CategoricalSample,
  cur: CategoricalSample | null,
  opts: DriftOptions,
  discrete = false,
): ColumnDrift {
  if (cur === null) return emptyResult(name, kind, role, ref.total, 0, 'missing');
  // categories: the reference's by frequency, then new ones
  const cats = [...ref.counts.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  if (discrete) cats.sort((a, b) => Number(a) - Number(b));
  const known = new Set(cats);
  const extra = [...cur.counts.keys()].filter((k) => !known.has(k)).sort();
  if (discrete) extra.sort((a, b) => Number(a) - Number(b));
  const all = [...cats, ...extra];
  const refCounts = Float64Array.from(all, (k) => ref.counts.get(k) ?? 0);
  const curCounts = Float64Array.from(all, (k) => cur.counts.get(k) ?? 0);
  const histogram: DriftHistogram = {
    labels: all,
    reference: Array.from(refCounts, (c) => (ref.total > 0 ? c / ref.total : 0)),
    current: Array.from(curCounts, (c) => (cur.total > 0 ? c / cur.total : 0)),
  };
  if (opts.preset === 'evidently') {
    if (ref.total === 0 || cur.total === 0) return { ...emptyResult(name, kind, role, ref.total, cur.total, 'insufficient_data'), histogram };
    const e = evidentlyColumnDrift({ kind: 'categorical', referenceCounts: refCounts, currentCounts: curCounts });
    return {
      column: name, kind, role, test: e.test, statistic: e.score, pValue: e.test === 'chisquare' || e.test === 'z' ? e.score : null, pAdjusted: null,
      psi: psi(refCounts, curCounts), jensenShannon: jensenShannonDistance(refCounts, curCounts), wassersteinNormed: null,
      cramersV: cramersV(refCounts, curCounts), score: e.score, threshold: e.threshold, referenceRows: ref.total, currentRows: cur.total,
      verdict: e.drifted ? 'drift' : 'no_drift', drifted: e.drifted, histogram,
    };
  }
  const small = ref.total < opts.minRows || cur.total < opts.minRows;
  let statistic = NaN;
  let pValue = 1;
  if (all.length >= 2 && ref.total > 0 && cur.total > 0) {
    const chi = chiSquareHomogeneity(refCounts, curCounts);
    statistic = chi.statistic;
    pValue = chi.pValue;
  }
  return {
    column: name, kind, role, test: 'chisquare', statistic, pValue, pAdjusted: null,
    psi: ref.total > 0 && cur.total > 0 ? psi(refCounts, curCounts) : null,
    jensenShannon: ref.total > 0 && cur.total > 0 ? jensenShannonDistance(refCounts, curCounts) : null,
    wassersteinNormed: null, cramersV: ref.total > 0 && cur.total > 0 && all.length >= 2 ? cramersV(refCounts, curCounts) : null,
    score: pValue, threshold: opts.alpha, referenceRows: ref.total, currentRows: cur.total,
    verdict: small ? 'insufficient_data' : 'no_drift', drifted: false, histogram,
  };
}

function evidentlyNumeric(name: string, role: 'feature' | 'prediction', ref: NumericSample, cur: NumericSample): ColumnDrift {
  // Evidently works on raw values: a sketched reference stands in by repeating each kept value by its weight
  const refRaw = ref.weights ? expand(ref.values, ref.weights) : ref.values;
  const curRaw = cur.weights ? expand(cur.values, cur.weights) : cur.values;
  const e = evidentlyColumnDrift({ kind: 'numerical', reference: refRaw, current: curRaw });
  return {
    column: name, kind: 'numeric', role, test: e.test, statistic: e.score, pValue: e.test === 'ks' || e.test === 'chisquare' || e.test === 'z' ? e.score : null,
    pAdjusted: null, psi: null, jensenShannon: null,
    wassersteinNormed: wasserstein1Sorted(ref.values, cur.values, ref.weights ?? undefined, cur.weights ?? undefined) / Math.max(ref.std, 1e-3),
    cramersV: null, score: e.score, threshold: e.threshold, referenceRows: ref.total, currentRows: cur.total,
    verdict: e.drifted ? 'drift' : 'no_drift', drifted: e.drifted, histogram: displayHistogram(ref, cur),
  };
}

/** Decile edges of the reference (weighted quantiles of a sketch), open at both ends. */
function referenceEdges(ref: NumericSample, bins: number): Float64Array {
  if (ref.weights === null) return quantileEdges(ref.values, bins);
  const total = ref.total;
  const raw: number[] = [];
  let acc = 0;
  let q = 1;
  for (let i = 0; i < ref.values.length && q < bins; i++) {
    acc += ref.weights[i]!;
    while (q < bins && acc >= (q / bins) * total) {
      raw.push(ref.values[i]!);
      q++;
    }
  }
  const edges = [-Infinity];
  for (const e of raw) if (e > edges[edges.length - 1]!) edges.push(e);
  edges.push(Infinity);
  return Float64Array.from(edges);
}

/** 20 equal-width bins over the reference's 1st–99th percentile, plus a bin each side for the rest. */
function displayHistogram(ref: NumericSample, cur: NumericSample): DriftHistogram {
  const q = (p: number): number => weightedQuantile(ref, p);
  let lo = q(0.01);
  let hi = q(0.99);
  if (!(hi > lo)) {
    lo = ref.values[0] ?? 0;
    hi = ref.values[ref.values.length - 1] ?? lo + 1;
    if (!(hi > lo)) hi = lo + 1;
  }
  const k = 20;
  const edges = [-Infinity];
  for (let i = 0; i <= k; i++) edges.push(lo + ((hi - lo) * i) / k);
  edges.push(Infinity);
  const e = Float64Array.from(edges);
  const rc = binCounts(ref, e);
  const cc = binCounts(cur, e);
  const fmt = (x: number): string => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : x > 0 ? '∞' : '−∞');
  const labels = Array.from({ length: edges.length - 1 }, (_, i) => `[${fmt(edges[i]!)}, ${fmt(edges[i + 1]!)})`);
  const rt = ref.total || 1;
  const ct = cur.total || 1;
  return { labels, edges, reference: Array.from(rc, (c) => c / rt), current: Array.from(cc, (c) => c / ct) };
}

function weightedQuantile(s: NumericSample, p: number): number {
  if (s.values.length === 0) return NaN;
  if (s.weights === null) return s.values[Math.min(s.values.length - 1, Math.floor(p * s.values.length))]!;
  let acc = 0;
  for (let i = 0; i < s.values.length; i++) {
    acc += s.weights[i]!;
    if (acc >= p * s.total) return s.values[i]!;
  }
  return s.values[s.values.length - 1]!;
}

/**
 * `histogramCounts` semantics (bins [e_i, e_i+1), the last closed) on a sorted sample: an unweighted one
 * is counted by binary search, O(k log n) instead of a pass over its values.
 */
function binCounts(s: NumericSample, edges: Float64Array): Float64Array {
  if (s.weights !== null) return histogramCounts(s.values, edges, { sorted: true, weights: s.weights });
  const v = s.values;
  const lower = (x: number): number => {
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const upper = (x: number): number => {
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const k = edges.length - 1;
  const out = new Float64Array(k);
  for (let i = 0; i < k; i++) out[i] = (i === k - 1 ? upper(edges[i + 1]!) : lower(edges[i + 1]!)) - lower(edges[i]!);
  return out;
}

/** `ksWeighted` on two sorted samples, either of which may be unweighted (no array of ones needed). */
function ksSortedWeighted(a: NumericSample, b: NumericSample): { statistic: number; pValue: number } {
  const wa = a.weights;
  const wb = b.weights;
  let ta = 0;
  let ta2 = 0;
  for (let i = 0; i < a.values.length; i++) {
    const w = wa ? wa[i]! : 1;
    ta += w;
    ta2 += w * w;
  }
  let tb = 0;
  let tb2 = 0;
  for (let i = 0; i < b.values.length; i++) {
    const w = wb ? wb[i]! : 1;
    tb += w;
    tb2 += w * w;
  }
  let i = 0;
  let j = 0;
  let ca = 0;
  let cb = 0;
  let d = 0;
  const av = a.values;
  const bv = b.values;
  while (i < av.length || j < bv.length) {
    const x = j >= bv.length || (i < av.length && av[i]! <= bv[j]!) ? av[i]! : bv[j]!;
    for (; i < av.length && av[i]! <= x; i++) ca += wa ? wa[i]! : 1;
    for (; j < bv.length && bv[j]! <= x; j++) cb += wb ? wb[j]! : 1;
    const gap = Math.abs(ca / ta - cb / tb);
    if (gap > d) d = gap;
  }
  const pValue = ksAsymptoticPValue(d, (ta * ta) / ta2, (tb * tb) / tb2);
  return { statistic: d, pValue };
}

function expand(values: Float64Array, weights: Float64Array): Float64Array {
  let n = 0;
  for (let i = 0; i < weights.length; i++) n += Math.max(0, Math.round(weights[i]!));
  const out = new Float64Array(n);
  let j = 0;
  for (let i = 0; i < values.length; i++) {
    const r = Math.max(0, Math.round(weights[i]!));
    out.fill(values[i]!, j, j + r);
    j += r;
  }
  return out;
}

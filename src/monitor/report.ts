/**
 * One monitoring report of a window of a deployment's traffic: drift against the reference (or an
 * earlier window), data quality, performance (realised from late labels, estimated from confidence
 * before they come), fairness per sensitive attribute, latency. Pure: the caller reads the log,
 * the reference and the labels; `MonitorService.report` does that.
 */
import { isNumericColumn, type Column, type Table } from '../data/index.js';
import { computeDrift, type DriftOptions, type DriftReference, type DriftReport } from './drift.js';
import { fairnessReport, type FairnessReport } from './fairness.js';
import type { StoredFeedback } from './feedback.js';
import { LOG_LATENCY, LOG_REQUEST_ID, LOG_ROW, LOG_TS, LOG_VERSION, LOG_WEIGHT } from './inference-log/segment.js';
import {
  calibratedCorrectness,
  classificationMetrics,
  regressionMetrics,
  type Calibration,
  type ClassificationMetrics,
  type RegressionMetrics,
} from './performance.js';
import { sortFloat64, type DatasetProfile } from './profile/index.js';
import { answeredRows, rowWeights } from './inference-log/rows.js';
import { analyzeQuality, type QualityColumnReference, type QualityOptions, type QualityReport } from './quality.js';
import { PREDICTION_COLUMN, SCORE_COLUMN, probaColumn, profileColumns, type MonitoringSchema } from './schema.js';

export const REPORT_FORMAT = 'berth-monitor-report/1';

export interface PerformancePoint {
  from: number;
  to: number;
  rows: number;
  labelled: number;
  /** accuracy (classifiers) or RMSE (regressors) of the labelled rows; null without labels */
  realized: number | null;
  /** estimated accuracy from confidence (classifiers with a calibration) */
  estimated: number | null;
}

export interface PerformanceSection {
  kind: 'classification' | 'regression' | 'none';
  /** rows of the window whose label has arrived */
  labelledRows: number;
  /** labels received that match no logged row of this window */
  unmatchedLabels: number;
  classification: ClassificationMetrics | null;
  regression: RegressionMetrics | null;
  /** CBPE-style estimate over every answered row of the window */
  estimatedAccuracy: number | null;
  /** what the card or the reference says the model scored when it was trained */
  referenceMetrics: Record<string, number>;
  series: PerformancePoint[];
  byVersion: { version: number; rows: number; labelled: number; accuracy: number | null; rmse: number | null }[];
}

export interface LatencySection {
  rows: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** refused or failed requests / all requests */
  errorRate: number;
}

export interface MonitorReport {
  format: typeof REPORT_FORMAT;
  deployment: string;
  model: string;
  versions: number[];
  generatedAt: string;
  window: { from: string | null; to: string | null; description: string; rows: number; requests: number };
  reference: { kind: 'profile'; version: number; rows: number; source: string | null } | { kind: 'window'; description: string; rows: number } | null;
  drift: DriftReport | null;
  quality: QualityReport;
  performance: PerformanceSection;
  fairness: FairnessReport[];
  latency: LatencySection;
  /** one line per finding, most important first, for people and alerts */
  summary: string[];
  /** what drives the model's predictions: mean |contribution| per feature over reference rows (null: no explanation available) */
  explanations?: ReportExplanations | null;
}

/** Global feature importance from explanations, as the report shows it. */
export interface ReportExplanations {
  /** the explanation method (tree-path-dependent, tree-interventional, kernel) */
  method: string;
  /** what the contributions are in (margin, probability, value…) */
  space: string;
  /** reference rows explained */
  rows: number;
  /** every feature, largest mean |contribution| first */
  features: { feature: string; meanAbs: number; mean: number }[];
}

export interface ReportInput {
  deployment: string;
  model: string;
  schema: MonitoringSchema;
  /** the window's rows from the inference log (null when it holds none) */
  current: Table | null;
  window: { from: number | null; to: number | null; description: string };
  reference: { kind: 'profile'; version: number; profile: DatasetProfile; calibration: Calibration | null } | { kind: 'window'; table: Table; description: string } | null;
  feedback: StoredFeedback[];
  referenceMetrics?: Record<string, number>;
  drift?: Partial<DriftOptions>;
  quality?: Partial<QualityOptions>;
  /** buckets of the performance series */
  seriesPoints?: number;
  now: number;
}

const EMPTY: Table = { rows: 0, columns: [] };

export function buildReport(input: ReportInput): MonitorReport {
  const t = input.current ?? EMPTY;
  const schema = input.schema;
  const specs = profileColumns(schema).map((c) => ({
    ...c,
    role: c.name === PREDICTION_COLUMN || c.name === SCORE_COLUMN ? ('prediction' as const) : ('feature' as const),
  }));
  let drift: DriftReport | null = null;
  let driftRef: DriftReference | null = null;
  if (input.reference?.kind === 'profile') driftRef = { kind: 'profile', profile: input.reference.profile };
  else if (input.reference?.kind === 'window') driftRef = { kind: 'table', table: input.reference.table };
  if (driftRef && t.rows > 0) drift = computeDrift(driftRef, t, specs, input.drift ?? {});

  const quality = analyzeQuality(t, qualityReferences(schema, input.reference), input.quality ?? {});
  // shared by the sections: which rows were answered, their weights, and the labels joined once
  const rows: RowFacts = { ok: okMask(t), weights: rowWeights(t), labels: joinLabels(t, input.feedback) };
  const performance = performanceSection(t, schema, input, rows);
  const fairness = fairnessSection(t, schema, input, rows);
  const latency = latencySection(t, rows);
  const versions = distinctNumbers(t, LOG_VERSION);

  const report: MonitorReport = {
    format: REPORT_FORMAT,
    deployment: input.deployment,
    model: input.model,
    versions,
    generatedAt: new Date(input.now).toISOString(),
    window: {
      from: input.window.from === null ? null : new Date(input.window.from).toISOString(),
      to: input.window.to === null ? null : new Date(input.window.to).toISOString(),
      description: input.window.description,
      rows: quality.rows,
      requests: requestCount(t),
    },
    reference:
      input.reference?.kind === 'profile'
        ? { kind: 'profile', version: input.reference.version, rows: input.reference.profile.rows, source: input.reference.profile.source ?? null }
        : input.reference?.kind === 'window'
          ? { kind: 'window', description: input.reference.description, rows: input.reference.table.rows }
          : null,
    drift,
    quality,
    performance,
    fairness,
    latency,
    summary: [],
  };
  report.summary = summarize(report);
  return report;
}

function qualityReferences(schema: MonitoringSchema, ref: ReportInput['reference']): QualityColumnReference[] {
  const profile = ref?.kind === 'profile' ? ref.profile : null;
  return schema.features.map((f) => {
    const r: QualityColumnReference = { name: f.name, kind: f.kind, missingShare: 0 };
    if (f.vocabulary) r.vocabulary = f.vocabulary;
    if (f.validRange && f.kind === 'numeric') r.validRange = f.validRange;
    const p = profile?.columns.find((c) => c.name === f.name);
    if (p) {
      const rows = p.count + p.missing + (p.kind === 'numeric' ? p.nonFinite : 0);
      r.missingShare = rows > 0 ? p.missing / rows : 0;
      r.rows = p.count;
      if (p.kind === 'numeric') {
        if (p.count > 0) {
          r.min = p.min;
          r.max = p.max;
        }
        r.distinct = p.smallDomain ? p.smallDomain.values.length : null;
      } else {
        r.categories = p.frequencies.entries().map(([v]) => v);
        r.distinct = p.frequencies.distinct;
      }
    }
    return r;
  });
}

// ---------------------------------------------------------------------------------------------
// performance

interface RowFacts {
  ok: Uint8Array;
  weights: Float64Array | null;
  labels: { labels: (string | null)[]; unmatched: number };
}

function performanceSection(t: Table, schema: MonitoringSchema, input: ReportInput, facts: RowFacts): PerformanceSection {
  const p = schema.prediction;
  const out: PerformanceSection = {
    kind: p.kind,
    labelledRows: 0,
    unmatchedLabels: 0,
    classification: null,
    regression: null,
    estimatedAccuracy: null,
    referenceMetrics: input.referenceMetrics ?? {},
    series: [],
    byVersion: [],
  };
  if (p.kind === 'none' || t.rows === 0) {
    out.unmatchedLabels = input.feedback.length;
    return out;
  }
  const n = t.rows;
  const truthText = facts.labels;
  out.unmatchedLabels = truthText.unmatched;
  const { weights, ok } = facts;
  const ts = numericColumn(t, LOG_TS) ?? new Float64Array(n);
  const versions = numericColumn(t, LOG_VERSION) ?? new Float64Array(n);
  let labelled = 0;
  for (let i = 0; i < n; i++) if (ok[i] && truthText.labels[i] !== null) labelled += weights ? weights[i]! : 1;
  out.labelledRows = labelled;

  const cal = input.reference?.kind === 'profile' ? input.reference.calibration : null;
  if (p.kind === 'classification') {
    const k = p.classes.length;
    const index = new Map(p.classes.map((c, i) => [c, i]));
    const predCol = t.columns.find((c) => c.name === PREDICTION_COLUMN);
    const pred = new Int32Array(n).fill(-1);
    if (predCol && predCol.type === 'string') {
      const map = predCol.dictionary.map((d) => index.get(d) ?? -1);
      for (let i = 0; i < n; i++) pred[i] = ok[i] && predCol.codes[i]! >= 0 ? map[predCol.codes[i]!]! : -1;
    }
    const truth = Int32Array.from(truthText.labels, (l, i) => (ok[i] && l !== null ? (index.get(l) ?? -1) : -1));
    let proba: Float64Array | null = null;
    const cols = p.classes.map((c) => numericColumn(t, probaColumn(c)));
    if (k > 0 && cols.every((c) => c !== null)) {
      proba = new Float64Array(n * k);
      for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) proba[i * k + c] = cols[c]![i]!;
    }
    const confidence = confidenceOf(proba, pred, k, ok);
    out.classification = classificationMetrics(pred, truth, k, proba, p.positiveIndex, weights);
    // one pass for the series and the versions: accuracy = right / labelled, estimate = mean calibrated confidence
    const est = cal && confidence ? Float64Array.from(confidence, (c) => calibratedCorrectness(cal, c)) : null;
    const agg = aggregate(ts, versions, ok, weights, input.seriesPoints ?? 12, (i) => {
      const l = truth[i]! >= 0 && pred[i]! >= 0;
      return { labelled: l, value: l && truth[i] === pred[i] ? 1 : 0, estimate: est ? est[i]! : NaN };
    });
    out.series = agg.series.map((b) => ({ ...b.bounds, rows: b.rows, labelled: b.labelled, realized: b.labelled > 0 ? b.sum / b.labelled : null, estimated: b.estN > 0 ? b.est / b.estN : null }));
    out.byVersion = agg.versions.map((v) => ({ version: v.key, rows: v.rows, labelled: v.labelled, accuracy: v.labelled > 0 ? v.sum / v.labelled : null, rmse: null }));
    // every answered row belongs to one version: their sums are the window's
    const estN = agg.versions.reduce((a, v) => a + v.estN, 0);
    if (estN > 0) out.estimatedAccuracy = agg.versions.reduce((a, v) => a + v.est, 0) / estN;
  } else {
    const predCol = numericColumn(t, PREDICTION_COLUMN) ?? new Float64Array(n).fill(NaN);
    const pred = Float64Array.from(predCol, (v, i) => (ok[i] ? v : NaN));
    const truth = Float64Array.from(truthText.labels, (l) => (l === null ? NaN : Number(l)));
    out.regression = regressionMetrics(pred, truth, weights);
    const agg = aggregate(ts, versions, ok, weights, input.seriesPoints ?? 12, (i) => {
      const l = Number.isFinite(pred[i]!) && Number.isFinite(truth[i]!);
      return { labelled: l, value: l ? (pred[i]! - truth[i]!) ** 2 : 0, estimate: NaN };
    });
    out.series = agg.series.map((b) => ({ ...b.bounds, rows: b.rows, labelled: b.labelled, realized: b.labelled > 0 ? Math.sqrt(b.sum / b.labelled) : null, estimated: null }));
    out.byVersion = agg.versions.map((v) => ({ version: v.key, rows: v.rows, labelled: v.labelled, accuracy: null, rmse: v.labelled > 0 ? Math.sqrt(v.sum / v.labelled) : null }));
  }
  return out;
}

/** The model's probability for the class it predicted, per row (NaN where unknown). */
function confidenceOf(proba: Float64Array | null, pred: Int32Array, k: number, ok: Uint8Array): Float64Array | null {
  if (proba === null) return null;
  const n = pred.length;
  const out = new Float64Array(n).fill(NaN);
  for (let i = 0; i < n; i++) {
    if (!ok[i]) continue;
    const c = pred[i]!;
    if (c >= 0) out[i] = proba[i * k + c]!;
    else {
      let m = -Infinity;
      for (let j = 0; j < k; j++) m = Math.max(m, proba[i * k + j]!);
      out[i] = m;
    }
  }
  return out;
}

/** Labels per logged row, joined on (request id, row). */
function joinLabels(t: Table, feedback: readonly StoredFeedback[]): { labels: (string | null)[]; unmatched: number } {
  const n = t.rows;
  const labels: (string | null)[] = new Array<string | null>(n).fill(null);
  const idCol = t.columns.find((c) => c.name === LOG_REQUEST_ID);
  const rowCol = numericColumn(t, LOG_ROW);
  if (!idCol || idCol.type !== 'string' || feedback.length === 0) return { labels, unmatched: feedback.length };
  const byKey = new Map<string, string>();
  for (const f of feedback) byKey.set(`${f.requestId}\u0000${f.row}`, f.label);
  let matched = 0;
  for (let i = 0; i < n; i++) {
    const code = idCol.codes[i]!;
    if (code < 0) continue;
    const key = `${idCol.dictionary[code]!}\u0000${rowCol ? rowCol[i]! : 0}`;
    const l = byKey.get(key);
    if (l !== undefined) {
      labels[i] = l;
      matched++;
    }
  }
  return { labels, unmatched: Math.max(0, feedback.length - matched) };
}

interface Acc {
  rows: number;
  labelled: number;
  sum: number;
  est: number;
  estN: number;
}

/**
 * One pass over the answered rows: per time bucket (equal spans over the window's rows) and per
 * version, the rows, the labelled rows, the sum of a per-row value over them and of an estimate.
 */
function aggregate(
  ts: Float64Array,
  versions: Float64Array,
  ok: Uint8Array,
  weights: Float64Array | null,
  points: number,
  at: (i: number) => { labelled: boolean; value: number; estimate: number },
): { series: (Acc & { bounds: { from: number; to: number } })[]; versions: (Acc & { key: number })[] } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < ts.length; i++) {
    if (!ok[i]) continue;
    if (ts[i]! < lo) lo = ts[i]!;
    if (ts[i]! > hi) hi = ts[i]!;
  }
  if (!Number.isFinite(lo)) return { series: [], versions: [] };
  const span = Math.max(1, hi - lo + 1);
  const fresh = (): Acc => ({ rows: 0, labelled: 0, sum: 0, est: 0, estN: 0 });
  const buckets = Array.from({ length: points }, fresh);
  const byVersion = new Map<number, Acc>();
  for (let i = 0; i < ts.length; i++) {
    if (!ok[i]) continue;
    const w = weights ? weights[i]! : 1;
    const r = at(i);
    const b = buckets[Math.min(points - 1, Math.floor(((ts[i]! - lo) / span) * points))]!;
    let v = byVersion.get(versions[i]!);
    if (!v) {
      v = fresh();
      byVersion.set(versions[i]!, v);
    }
    for (const a of [b, v]) {
      a.rows += w;
      if (r.labelled) {
        a.labelled += w;
        a.sum += w * r.value;
      }
      if (!Number.isNaN(r.estimate)) {
        a.est += w * r.estimate;
        a.estN += w;
      }
    }
  }
  return {
    series: buckets
      .map((b, k) => ({ ...b, bounds: { from: lo + (span * k) / points, to: lo + (span * (k + 1)) / points } }))
      .filter((b) => b.rows > 0),
    versions: [...byVersion.entries()].sort((a, b) => a[0] - b[0]).map(([key, a]) => ({ ...a, key })),
  };
}


// ---------------------------------------------------------------------------------------------
// fairness

function fairnessSection(t: Table, schema: MonitoringSchema, input: ReportInput, facts: RowFacts): FairnessReport[] {
  const p = schema.prediction;
  if (p.kind !== 'classification' || p.positiveIndex === null || t.rows === 0) return [];
  const positive = p.classes[p.positiveIndex]!;
  const n = t.rows;
  const { ok, weights } = facts;
  const predCol = t.columns.find((c) => c.name === PREDICTION_COLUMN);
  if (!predCol || predCol.type !== 'string') return [];
  const posCode = predCol.dictionary.indexOf(positive);
  const predicted = new Uint8Array(n);
  for (let i = 0; i < n; i++) predicted[i] = predCol.codes[i] === posCode ? 1 : 0;
  const truth = Int8Array.from(facts.labels.labels, (l) => (l === null ? -1 : l === positive ? 1 : 0));
  const out: FairnessReport[] = [];
  for (const attr of schema.sensitiveAttributes) {
    const col = t.columns.find((c) => c.name === attr);
    if (!col) continue;
    const groups = groupValues(col, n, ok, input.reference?.kind === 'profile' ? input.reference.profile : null);
    const r = fairnessReport(attr, p.classNames[p.positiveIndex] ?? positive, groups, predicted, truth, weights);
    if (r) out.push(r);
  }
  return out;
}

/** The group of each row: categories as they are; numbers by the reference's quartiles. */
function groupValues(col: Column, n: number, ok: Uint8Array, profile: DatasetProfile | null): (string | null)[] {
  const out: (string | null)[] = new Array<string | null>(n).fill(null);
  if (col.type === 'string') {
    for (let i = 0; i < n; i++) if (ok[i] && col.codes[i]! >= 0) out[i] = col.dictionary[col.codes[i]!]!;
    return out;
  }
  if (!isNumericColumn(col)) return out;
  const p = profile?.columns.find((c) => c.name === col.name);
  let edges: number[];
  if (p && p.kind === 'numeric' && p.count > 0) {
    if (p.smallDomain && p.smallDomain.values.length <= 10) {
      for (let i = 0; i < n; i++) if (ok[i] && !Number.isNaN(col.values[i]!)) out[i] = String(col.values[i]!);
      return out;
    }
    edges = [...new Set(p.kll.quantiles([0.25, 0.5, 0.75]))];
  } else {
    const v = Float64Array.from(col.values.filter((x) => !Number.isNaN(x))).sort();
    edges = [...new Set([0.25, 0.5, 0.75].map((q) => v[Math.floor(q * (v.length - 1))]!))];
  }
  const fmt = (x: number): string => Number(x.toPrecision(4)).toString();
  const labels = edges.map((e, j) => (j === 0 ? `≤ ${fmt(e)}` : `${fmt(edges[j - 1]!)}–${fmt(e)}`)).concat(`> ${fmt(edges[edges.length - 1]!)}`);
  for (let i = 0; i < n; i++) {
    const v = col.values[i]!;
    if (!ok[i] || Number.isNaN(v)) continue;
    let b = 0;
    while (b < edges.length && v > edges[b]!) b++;
    out[i] = labels[b]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// latency, summary, helpers

function latencySection(t: Table, facts: RowFacts): LatencySection {
  const lat = numericColumn(t, LOG_LATENCY);
  const { ok, weights } = facts;
  const row = numericColumn(t, LOG_ROW);
  // one latency per request: its first row
  const buf = new Float64Array(t.rows);
  let m = 0;
  let requests = 0;
  let failed = 0;
  for (let i = 0; i < t.rows; i++) {
    if (row && row[i] !== 0) continue;
    const w = weights ? weights[i]! : 1;
    requests += w;
    if (!ok[i]) failed += w;
    else if (lat) buf[m++] = lat[i]!;
  }
  const vals = buf.subarray(0, m);
  sortFloat64(vals);
  const q = (p: number): number | null => (vals.length === 0 ? null : vals[Math.min(vals.length - 1, Math.ceil(p * vals.length) - 1)]!);
  return { rows: vals.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), errorRate: requests > 0 ? failed / requests : 0 };
}

function summarize(r: MonitorReport): string[] {
  const out: string[] = [];
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  if (r.window.rows === 0) return ['no traffic in this window'];
  if (r.drift) {
    const d = r.drift;
    const drifted = d.columns.filter((c) => c.drifted).map((c) => c.column);
    if (d.verdict === 'insufficient_data') out.push(`drift: not enough data (fewer than ${d.options.minRows} rows)`);
    else if (drifted.length > 0) out.push(`drift: ${drifted.length} of ${d.evaluatedColumns} features drifted (${drifted.join(', ')})${d.datasetDrift ? ' — dataset drift' : ''}`);
    else out.push(`drift: none of ${d.evaluatedColumns} features drifted`);
    const pd = d.predictions.filter((c) => c.drifted).map((c) => c.column);
    if (pd.length > 0) out.push(`prediction drift: ${pd.join(', ')}`);
  } else {
    out.push('drift: no reference profile (register with --reference or run `berth models profile`)');
  }
  for (const f of r.quality.findings) out.push(`quality: ${f.check.replace(/_/g, ' ')}${f.column ? ` in ${f.column}` : ''} (${pct(f.share)} of rows)`);
  const perf = r.performance;
  if (perf.classification) out.push(`accuracy ${perf.classification.accuracy.toFixed(4)} on ${perf.labelledRows} labelled rows`);
  if (perf.regression) out.push(`RMSE ${perf.regression.rmse.toFixed(4)} on ${perf.labelledRows} labelled rows`);
  if (perf.estimatedAccuracy !== null) out.push(`estimated accuracy ${perf.estimatedAccuracy.toFixed(4)} (from confidence, before labels)`);
  for (const f of r.fairness) {
    if (f.fourFifthsViolated) out.push(`fairness: disparate impact ${f.disparateImpact.toFixed(3)} by ${f.attribute} is below 0.8 (four-fifths rule)`);
  }
  return out;
}

/** The values of a numeric column, or null when the table has no such numeric column. */
export function numericColumn(t: Table, name: string): Float64Array | null {
  const c = t.columns.find((x) => x.name === name);
  return c && isNumericColumn(c) ? c.values : null;
}

function okMask(t: Table): Uint8Array {
  return answeredRows(t) ?? new Uint8Array(t.rows).fill(1);
}

function distinctNumbers(t: Table, name: string): number[] {
  const v = numericColumn(t, name);
  if (!v) return [];
  return [...new Set(v)].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
}

/** Requests in the window: each has exactly one row 0 (weighted by the sampling weights). */
function requestCount(t: Table): number {
  const row = numericColumn(t, LOG_ROW);
  if (!row) return t.rows;
  const w = numericColumn(t, LOG_WEIGHT);
  let n = 0;
  for (let i = 0; i < t.rows; i++) if (row[i] === 0) n += w ? w[i]! : 1;
  return Math.round(n);
}

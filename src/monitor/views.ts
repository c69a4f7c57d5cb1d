/**
 * Views of monitoring data shaped for charts (the dashboard, and anyone drawing them): a version's
 * reference profile as histograms, a window cut into time buckets with drift and quality per
 * bucket, and the newest logged requests with their features and predictions.
 */
import { findColumn, sliceTable, stringValues, type Column, type Table } from '../data/index.js';
import type { DriftVerdict } from './drift.js';
import { LOG_REQUEST_ID, LOG_ROW, LOG_STATUS, LOG_TS, LOG_VERSION } from './inference-log/segment.js';
import type { ColumnProfile, DatasetProfile } from './profile/index.js';
import { numericSummary } from './profile/index.js';
import { buildReport, numericColumn, type ReportInput } from './report.js';
import { PREDICTION_COLUMN, SCORE_COLUMN, probaColumn, profileColumns, type MonitoringSchema } from './schema.js';

// ---------------------------------------------------------------------------------------------
// a reference profile as histograms

export interface ReferenceHistogram {
  /** bin labels: `[lo, hi)` ranges, the distinct values of a small numeric domain, or categories */
  labels: string[];
  /** equal-width numeric bins: labels.length + 1 edges; empty for a small domain or categories */
  edges: number[];
  /** each bin's share of the non-missing values (they sum to 1) */
  shares: number[];
}

export type ReferenceColumnView =
  | {
      name: string;
      kind: 'numeric';
      role: 'feature' | 'prediction';
      count: number;
      missing: number;
      min: number | null;
      max: number | null;
      mean: number | null;
      std: number | null;
      /** true when the column holds few distinct values: the histogram's bins are those values */
      discrete: boolean;
      histogram: ReferenceHistogram;
      /** quantiles x at q = 0, 0.02, …, 1: re-bin two profiles onto common edges with it */
      cdf: { q: number[]; x: number[] };
    }
  | {
      name: string;
      kind: 'categorical';
      role: 'feature' | 'prediction';
      count: number;
      missing: number;
      distinct: number | null;
      histogram: ReferenceHistogram;
    };

export interface ReferenceView {
  model: string;
  version: number;
  rows: number;
  source: string | null;
  createdAt: string;
  columns: ReferenceColumnView[];
}

const HISTOGRAM_BINS = 20;
const CDF_POINTS = 51;
/** categories beyond this many are summed into one `(other)` bar */
const MAX_CATEGORIES = 30;

/** A reference profile as one histogram per monitored column (features first, then predictions). */
export function referenceView(model: string, version: number, profile: DatasetProfile, schema: MonitoringSchema): ReferenceView {
  const roles = new Map(profileColumns(schema).map((c) => [c.name, c.name === PREDICTION_COLUMN || c.name === SCORE_COLUMN ? 'prediction' : 'feature'] as const));
  const columns = profile.columns
    .filter((c) => roles.has(c.name))
    .map((c) => columnView(c, roles.get(c.name)!))
    .sort((a, b) => (a.role === b.role ? 0 : a.role === 'feature' ? -1 : 1));
  return { model, version, rows: profile.rows, source: profile.source ?? null, createdAt: profile.createdAt, columns };
}

function columnView(c: ColumnProfile, role: 'feature' | 'prediction'): ReferenceColumnView {
  if (c.kind === 'categorical') {
    const entries = c.frequencies.entries();
    const total = entries.reduce((s, [, n]) => s + n, 0) + c.frequencies.otherCount;
    const top = entries.slice(0, MAX_CATEGORIES);
    const rest = total - top.reduce((s, [, n]) => s + n, 0);
    const labels = top.map(([v]) => v);
    const shares = top.map(([, n]) => (total > 0 ? n / total : 0));
    if (rest > 0) {
      labels.push('(other)');
      shares.push(rest / total);
    }
    return { name: c.name, kind: 'categorical', role, count: c.count, missing: c.missing, distinct: c.frequencies.distinct, histogram: { labels, edges: [], shares } };
  }
  const s = numericSummary(c);
  const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
  const q = Array.from({ length: CDF_POINTS }, (_, i) => i / (CDF_POINTS - 1));
  const x = c.count > 0 ? c.kll.quantiles(q) : [];
  let histogram: ReferenceHistogram;
  const discrete = c.smallDomain !== null && c.smallDomain.values.length > 0 && c.smallDomain.values.length <= HISTOGRAM_BINS;
  if (c.count === 0) {
    histogram = { labels: [], edges: [], shares: [] };
  } else if (discrete) {
    const total = c.smallDomain!.counts.reduce((a, b) => a + b, 0);
    histogram = { labels: c.smallDomain!.values.map(String), edges: [], shares: c.smallDomain!.counts.map((n) => (total > 0 ? n / total : 0)) };
  } else {
    const lo = c.min;
    const hi = c.max > c.min ? c.max : c.min + 1;
    const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) => lo + ((hi - lo) * i) / HISTOGRAM_BINS);
    const ranks = c.kll.cdf(edges);
    const shares = edges.slice(1).map((_, i) => Math.max(0, ranks[i + 1]! - (i === 0 ? 0 : ranks[i]!)));
    histogram = { labels: edges.slice(1).map((e, i) => `[${short(edges[i]!)}, ${short(e)})`), edges, shares };
  }
  return {
    name: c.name, kind: 'numeric', role, count: c.count, missing: c.missing,
    min: finite(s.min), max: finite(s.max), mean: finite(s.mean), std: finite(s.std),
    discrete, histogram, cdf: { q, x },
  };
}

function short(x: number): string {
  return Number(x.toPrecision(4)).toString();
}

// ---------------------------------------------------------------------------------------------
// a window over time

export interface TimelineColumn {
  name: string;
  kind: 'numeric' | 'categorical';
  role: 'feature' | 'prediction';
}

export interface TimelineCell {
  /** the drift test's score and the threshold it is held against (the report's preset decides both) */
  score: number;
  threshold: number;
  test: string;
  drifted: boolean;
  verdict: DriftVerdict;
}

export interface TimelineBucket {
  from: string;
  to: string;
  rows: number;
  requests: number;
  /** refused requests / requests (null without requests) */
  errorRate: number | null;
  p99Ms: number | null;
  /** drifted / evaluated features (null: no reference, or no rows) */
  driftShare: number | null;
  datasetDrift: boolean | null;
  /** the share of missing feature values among answered rows */
  missingShare: number | null;
  /** rejected rows / rows */
  rejectedShare: number | null;
  /** quality findings in the bucket, by check */
  findings: Record<string, number>;
  /** per column (features and predictions) */
  drift: Record<string, TimelineCell>;
}

export interface MonitorTimeline {
  format: 'berth-timeline/1';
  deployment: string;
  model: string;
  generatedAt: string;
  window: { from: string; to: string; description: string };
  bucketSeconds: number;
  reference: { kind: 'profile'; version: number; rows: number } | { kind: 'window'; description: string; rows: number } | null;
  columns: TimelineColumn[];
  buckets: TimelineBucket[];
}

export interface TimelineInput {
  base: Omit<ReportInput, 'current' | 'window' | 'feedback'>;
  current: Table | null;
  from: number;
  to: number;
  description: string;
  points: number;
}

/**
 * Cut a window's rows (oldest first, as the log reader gives them) into `points` equal time buckets
 * and report each against the same reference: the drift per column, quality and errors per bucket.
 */
export function buildTimeline(input: TimelineInput): MonitorTimeline {
  const { base, current, from, to, points } = input;
  const width = Math.max(1, Math.ceil((to - from) / points));
  const ts = current ? numericColumn(current, LOG_TS) : null;
  const buckets: TimelineBucket[] = [];
  let start = 0;
  for (let b = 0; b < points; b++) {
    const bFrom = from + b * width;
    const bTo = b === points - 1 ? Math.max(to, bFrom + 1) : bFrom + width;
    let end = start;
    if (ts) while (end < ts.length && ts[end]! < bTo) end++;
    const part = current && end > start ? sliceTable(current, start, end) : null;
    start = end;
    const r = buildReport({ ...base, current: part, feedback: [], window: { from: bFrom, to: bTo, description: '' } });
    const drift: Record<string, TimelineCell> = {};
    for (const c of [...(r.drift?.columns ?? []), ...(r.drift?.predictions ?? [])]) {
      drift[c.column] = { score: c.score, threshold: c.threshold, test: c.test, drifted: c.drifted, verdict: c.verdict };
    }
    const answered = r.quality.columns.reduce((s, c) => s + c.rows, 0);
    const missing = r.quality.columns.reduce((s, c) => s + c.missing.count, 0);
    const findings: Record<string, number> = {};
    for (const f of r.quality.findings) findings[f.check] = (findings[f.check] ?? 0) + 1;
    buckets.push({
      from: new Date(bFrom).toISOString(),
      to: new Date(bTo).toISOString(),
      rows: r.quality.rows,
      requests: r.window.requests,
      errorRate: r.window.requests > 0 ? r.latency.errorRate : null,
      p99Ms: r.latency.rows > 0 && Number.isFinite(r.latency.p99) ? r.latency.p99 : null,
      driftShare: r.drift && r.drift.evaluatedColumns > 0 ? r.drift.driftShare : null,
      datasetDrift: r.drift ? r.drift.datasetDrift : null,
      missingShare: answered > 0 ? missing / answered : null,
      rejectedShare: r.quality.rows > 0 ? r.quality.rejected.share : null,
      findings,
      drift,
    });
  }
  const ref = base.reference;
  return {
    format: 'berth-timeline/1',
    deployment: base.deployment,
    model: base.model,
    generatedAt: new Date(base.now).toISOString(),
    window: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), description: input.description },
    bucketSeconds: width / 1000,
    reference:
      ref?.kind === 'profile'
        ? { kind: 'profile', version: ref.version, rows: ref.profile.rows }
        : ref?.kind === 'window'
          ? { kind: 'window', description: ref.description, rows: ref.table.rows }
          : null,
    columns: profileColumns(base.schema).map((c) => ({ ...c, role: c.name === PREDICTION_COLUMN || c.name === SCORE_COLUMN ? 'prediction' : 'feature' })),
    buckets,
  };
}

// ---------------------------------------------------------------------------------------------
// the newest requests

export type LoggedValue = number | string | null;

export interface LoggedRequest {
  requestId: string;
  at: string;
  version: number;
  /** `OK`, or the error code the request was refused with */
  status: string;
  rows: { features: Record<string, LoggedValue>; prediction: Record<string, LoggedValue> }[];
}

/** The requests of a window (the newest N, oldest first from the reader), newest first, each with its rows. */
export function loggedRequests(t: Table | null, schema: MonitoringSchema): LoggedRequest[] {
  if (!t || t.rows === 0) return [];
  const ids = findColumn(t, LOG_REQUEST_ID);
  const ts = numericColumn(t, LOG_TS);
  const ver = numericColumn(t, LOG_VERSION);
  const row = numericColumn(t, LOG_ROW);
  const status = findColumn(t, LOG_STATUS);
  const none = (): LoggedValue => null;
  const features = schema.features.map((f) => {
    const c = findColumn(t, f.name);
    return [f.name, c ? reader(c) : none] as const;
  });
  const preds: (readonly [string, (i: number) => LoggedValue])[] = [];
  const { classes, classNames } = schema.prediction;
  for (const n of [PREDICTION_COLUMN, SCORE_COLUMN, ...classes.map(probaColumn)]) {
    const c = findColumn(t, n);
    if (!c) continue;
    const read = reader(c);
    // the log keeps the class label; people read the card's class name (as /predict answers it)
    if (n === PREDICTION_COLUMN && classes.length > 0) {
      preds.push([n, (i) => {
        const v = read(i);
        const k = v === null ? -1 : classes.indexOf(String(v));
        return k < 0 ? v : (classNames[k] ?? v);
      }]);
    } else preds.push([n, read]);
  }
  const idText = ids ? reader(ids) : () => null;
  const statusText = status ? reader(status) : () => null;
  const byId = new Map<string, LoggedRequest>();
  const out: LoggedRequest[] = [];
  for (let i = 0; i < t.rows; i++) {
    const id = String(idText(i) ?? `row-${i}`);
    let r = byId.get(id);
    if (!r) {
      r = { requestId: id, at: new Date(ts?.[i] ?? 0).toISOString(), version: ver?.[i] ?? 0, status: String(statusText(i) ?? 'OK'), rows: [] };
      byId.set(id, r);
      out.push(r);
    }
    const f: Record<string, LoggedValue> = {};
    for (const [name, read] of features) f[name] = read(i);
    const p: Record<string, LoggedValue> = {};
    for (const [name, read] of preds) p[name] = read(i);
    const at = row ? row[i]! : r.rows.length;
    r.rows[Number.isFinite(at) ? at : r.rows.length] = { features: f, prediction: p };
  }
  for (const r of out) r.rows = r.rows.filter((x) => x !== undefined);
  return out.reverse();
}

function reader(c: Column): (i: number) => LoggedValue {
  if (c.type === 'string') {
    const v = stringValues(c);
    return (i) => v[i] ?? null;
  }
  if (c.type === 'binary') return () => null;
  const vals = c.values;
  return (i) => (Number.isNaN(vals[i]!) ? null : vals[i]!);
}

/**
 * Alert rules: `<metric> <op> <threshold>[%| ms] [for <duration>]` over a deployment's traffic,
 * e.g. `drift_share > 0.3 for 15m`, `accuracy < 0.9`, `p99_ms > 50`, `error_rate > 1%`.
 */
import { BerthError, toBerthError } from '../../core/index.js';
import { parseWindow } from '../window.js';
import type { MonitorReport } from '../report.js';

export const ALERT_METRICS = {
  drift_share: 'share of features that drifted against the reference (0..1)',
  drifted_features: 'number of features that drifted',
  prediction_drift: '1 when a prediction column drifted, else 0',
  accuracy: 'realised accuracy of the labelled rows (classifiers)',
  estimated_accuracy: "accuracy estimated from the model's confidence, before labels (classifiers)",
  f1: 'realised F1 (classifiers)',
  roc_auc: 'realised ROC AUC (classifiers)',
  rmse: 'realised RMSE (regressors)',
  mae: 'realised MAE (regressors)',
  p50_ms: 'median latency (ms)',
  p95_ms: '95th percentile latency (ms)',
  p99_ms: '99th percentile latency (ms)',
  error_rate: 'refused or failed requests / all requests (0..1)',
  missing_share: 'the largest share of missing values of any feature (0..1)',
  quality_findings: 'number of data-quality findings',
  rejected_share: 'share of requests refused by validation (0..1)',
  disparate_impact: 'lowest disparate impact over sensitive attributes (1 = parity)',
  rows: 'rows of traffic in the window',
} as const;
export type AlertMetric = keyof typeof ALERT_METRICS;

const OPS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type AlertOp = (typeof OPS)[number];

export interface AlertRuleSpec {
  name: string;
  /** a deployment name, or `*` for every deployment */
  deployment: string;
  /** the condition, e.g. `drift_share > 0.3 for 15m` */
  when: string;
  /** the traffic each evaluation looks at (default 15m) */
  window?: string;
  severity?: 'info' | 'warning' | 'critical';
}

export interface AlertRule extends Required<Omit<AlertRuleSpec, 'severity'>> {
  severity: 'info' | 'warning' | 'critical';
  metric: AlertMetric;
  op: AlertOp;
  threshold: number;
  /** how long the condition must hold before the alert fires (0 = at once) */
  forMs: number;
}

const DURATION: Record<string, number> = { s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parse and check a rule; errors name the rule and the part that is wrong. */
export function parseAlertRule(spec: AlertRuleSpec, field = 'rule'): AlertRule {
  const bad = (what: string, expected: string, got: unknown): BerthError =>
    new BerthError('INVALID_CONFIG', `${field}.${what}: expected ${expected}, got ${JSON.stringify(got)}`, { field: `${field}.${what}`, expected, got });
  if (typeof spec.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(spec.name)) throw bad('name', 'a name of letters, digits, . _ -', spec.name);
  if (typeof spec.deployment !== 'string' || spec.deployment === '') throw bad('deployment', 'a deployment name or "*"', spec.deployment);
  if (typeof spec.when !== 'string') throw bad('when', 'a condition like "drift_share > 0.3 for 15m"', spec.when);
  const m = /^\s*([a-z0-9_]+)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*(%|ms)?\s*(?:for\s+(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d))?\s*$/i.exec(spec.when);
  if (!m) throw bad('when', '"<metric> <op> <number>[%|ms] [for <duration>]", e.g. "drift_share > 0.3 for 15m", "p99_ms > 50", "error_rate > 1%"', spec.when);
  const metric = m[1]!.toLowerCase();
  if (!(metric in ALERT_METRICS)) throw bad('when', `a metric among ${Object.keys(ALERT_METRICS).join(', ')}`, metric);
  let threshold = Number(m[3]);
  if (m[4] === '%') threshold /= 100;
  const forMs = m[5] === undefined ? 0 : Number(m[5]) * DURATION[m[6]!.toLowerCase()]!;
  const severity = spec.severity ?? 'warning';
  if (!['info', 'warning', 'critical'].includes(severity)) throw bad('severity', 'info, warning or critical', severity);
  const window = spec.window ?? '15m';
  try {
    parseWindow(window, 0, `${field}.window`);
  } catch (err) {
    throw new BerthError('INVALID_CONFIG', toBerthError(err).message, { field: `${field}.window`, got: window });
  }
  return { name: spec.name, deployment: spec.deployment, when: spec.when, window, severity, metric: metric as AlertMetric, op: m[2] as AlertOp, threshold, forMs };
}

/** The metric's value in a report; null when the report cannot say (no labels, not enough data…). */
export function metricValue(report: MonitorReport, metric: AlertMetric): number | null {
  const d = report.drift;
  const perf = report.performance;
  switch (metric) {
    case 'drift_share':
      return d && d.evaluatedColumns > 0 ? d.driftShare : null;
    case 'drifted_features':
      return d && d.evaluatedColumns > 0 ? d.driftedColumns : null;
    case 'prediction_drift':
      return d && d.predictions.some((p) => p.verdict === 'drift' || p.verdict === 'no_drift') ? (d.predictions.some((p) => p.drifted) ? 1 : 0) : null;
    case 'accuracy':
      return perf.classification?.accuracy ?? null;
    case 'estimated_accuracy':
      return perf.estimatedAccuracy;
    case 'f1':
      return perf.classification?.f1 ?? null;
    case 'roc_auc':
      return perf.classification?.rocAuc ?? null;
    case 'rmse':
      return perf.regression?.rmse ?? null;
    case 'mae':
      return perf.regression?.mae ?? null;
    case 'p50_ms':
      return report.latency.p50;
    case 'p95_ms':
      return report.latency.p95;
    case 'p99_ms':
      return report.latency.p99;
    case 'error_rate':
      return report.window.rows > 0 ? report.latency.errorRate : null;
    case 'missing_share':
      return report.quality.columns.length > 0 && report.window.rows > 0 ? Math.max(...report.quality.columns.map((c) => c.missing.share)) : null;
    case 'quality_findings':
      return report.window.rows > 0 ? report.quality.findings.length : null;
    case 'rejected_share':
      return report.window.rows > 0 ? report.quality.rejected.share : null;
    case 'disparate_impact':
      return report.fairness.length > 0 ? Math.min(...report.fairness.map((f) => f.disparateImpact)) : null;
    case 'rows':
      return report.window.rows;
  }
}

export function holds(op: AlertOp, value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}

/**
 * The shapes of the monitoring answers the dashboard draws (the server's `MonitorReport`,
 * `MonitorTimeline` and `/v1/alerts`), as far as the pages read them.
 */
export interface DriftColumn {
  column: string;
  kind: 'numeric' | 'categorical';
  role: 'feature' | 'prediction';
  test: string;
  statistic: number;
  pValue: number | null;
  score: number;
  threshold: number;
  verdict: string;
  drifted: boolean;
  histogram: { labels: string[]; reference: number[]; current: number[] };
}

export interface ColumnQuality {
  name: string;
  kind: 'numeric' | 'categorical';
  rows: number;
  missing: { count: number; share: number; referenceShare: number };
  outOfRange?: { count: number; share: number; allowed: [number, number] };
  unknownCategories?: { count: number; share: number; top: { value: string; count: number }[] };
  typeErrors?: { count: number; share: number };
  constant: boolean;
  findings: string[];
}

export interface FairnessGroup {
  group: string;
  rows: number;
  selectionRate: number;
  truePositiveRate: number | null;
  falsePositiveRate: number | null;
  accuracy: number | null;
  labelledRows: number;
}

export interface MonitorReport {
  deployment: string;
  model: string;
  versions: number[];
  generatedAt: string;
  window: { from: string | null; to: string | null; description: string; rows: number; requests: number };
  reference: { kind: 'profile'; version: number; rows: number; source: string | null } | { kind: 'window'; description: string; rows: number } | null;
  drift: { preset: string; columns: DriftColumn[]; predictions: DriftColumn[]; evaluatedColumns: number; driftedColumns: number; driftShare: number; datasetDrift: boolean; verdict: string } | null;
  quality: {
    rows: number;
    rejected: { count: number; share: number; byField: Record<string, number>; byCode: Record<string, number> };
    columns: ColumnQuality[];
    findings: { column: string | null; check: string; share: number }[];
  };
  performance: {
    kind: 'classification' | 'regression' | 'none';
    labelledRows: number;
    unmatchedLabels: number;
    classification: { rows: number; accuracy: number; precision: number; recall: number; f1: number; rocAuc: number | null } | null;
    regression: { rows: number; rmse: number; mae: number; r2: number } | null;
    estimatedAccuracy: number | null;
    referenceMetrics: Record<string, number>;
    series: { from: number; to: number; rows: number; labelled: number; realized: number | null; estimated: number | null }[];
  };
  fairness: {
    attribute: string;
    positiveClass: string;
    groups: FairnessGroup[];
    demographicParityDifference: number;
    disparateImpact: number;
    equalizedOddsDifference: number | null;
    fourFifthsViolated: boolean;
    minGroupRows: number;
  }[];
  latency: { rows: number; p50: number | null; p95: number | null; p99: number | null; errorRate: number };
  summary: string[];
}

export interface TimelineCell {
  score: number;
  threshold: number;
  test: string;
  drifted: boolean;
  verdict: string;
}

export interface MonitorTimeline {
  window: { from: string; to: string; description: string };
  bucketSeconds: number;
  reference: { kind: string; rows: number } | null;
  columns: { name: string; kind: 'numeric' | 'categorical'; role: 'feature' | 'prediction' }[];
  buckets: {
    from: string;
    to: string;
    rows: number;
    requests: number;
    errorRate: number | null;
    p99Ms: number | null;
    driftShare: number | null;
    datasetDrift: boolean | null;
    missingShare: number | null;
    rejectedShare: number | null;
    findings: Record<string, number>;
    drift: Record<string, TimelineCell>;
  }[];
}

export interface AlertStatus {
  rule: string;
  deployment: string;
  metric: string;
  condition: string;
  severity: string;
  state: 'ok' | 'pending' | 'firing';
  value: number | null;
  since: string | null;
  firedAt: string | null;
  lastEvaluatedAt: string;
}

export interface AlertEvent {
  id: number;
  at: string;
  rule: string;
  deployment: string;
  kind: 'firing' | 'resolved' | 'repeat';
  value: number | null;
  severity?: string;
  message?: string;
}

export interface AlertsAnswer {
  rules: { name: string; deployment: string; when: string; window: string; severity: string }[];
  alerts: AlertStatus[];
  events: AlertEvent[];
}

/** How far a drift score is towards (or past) its threshold, 0 … 1 (1 = drifted). p-value tests drift below it, distances above. */
export function driftSeverity(c: { score: number; threshold: number; drifted: boolean; test: string }): number {
  if (c.drifted) return 1;
  if (!Number.isFinite(c.score) || !(c.threshold > 0)) return 0;
  const pValueTest = c.test === 'ks' || c.test === 'chisquare' || c.test === 'z';
  const r = pValueTest ? c.threshold / Math.max(c.score, 1e-12) : c.score / c.threshold;
  return Math.max(0, Math.min(0.95, r));
}

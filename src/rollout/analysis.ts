/**
 * A step's verdict: the candidate's numbers against thresholds and against the stable version
 * over the same window. Pure: the controller gathers the numbers, this decides and says why.
 */
import type { AnalysisMetric, AnalysisSpec, MetricCheck } from './spec.js';
import type { DeploymentWindow, Reservoir, ShadowWindow, VersionWindow } from './stats.js';

export const VERDICTS = ['pass', 'fail', 'inconclusive', 'no-data'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** One metric's outcome. */
export interface CheckResult {
  metric: AnalysisMetric;
  /** `skipped`: no data for it and not required */
  outcome: 'pass' | 'fail' | 'inconclusive' | 'skipped';
  candidate: number | null;
  stable: number | null;
  thresholds: Omit<MetricCheck, 'metric' | 'required'>;
  detail: string;
}

export interface AnalysisResult {
  verdict: Verdict;
  /** one sentence: why this verdict */
  reason: string;
  /** where the candidate's numbers come from: live traffic, shadow copies or the preview route */
  mode: 'split' | 'shadow' | 'preview';
  samples: { candidate: number; stable: number; minSamples: number };
  checks: CheckResult[];
  window: { since: number; until: number };
}

/** Accuracy on labelled feedback of both versions over the window (from monitoring), when known. */
export interface AccuracyNumbers {
  candidate: { accuracy: number | null; labelled: number };
  stable: { accuracy: number | null; labelled: number };
}

export interface AnalysisInput {
  spec: AnalysisSpec;
  window: DeploymentWindow;
  stable: number;
  candidate: number;
  mode: 'split' | 'shadow' | 'preview';
  accuracy: AccuracyNumbers | null;
  now: number;
}

/** Judge a step. */
export function analyse(input: AnalysisInput): AnalysisResult {
  const { spec, window: w, mode } = input;
  const stable = w.versions.get(input.stable) ?? null;
  const cand: VersionWindow | ShadowWindow | null =
    mode === 'shadow' ? (w.shadows.get(input.candidate) ?? null) : mode === 'preview' ? (w.preview.get(input.candidate) ?? null) : (w.versions.get(input.candidate) ?? null);
  const candidateSamples = cand === null ? 0 : 'copies' in cand ? cand.copies : cand.requests;
  const stableSamples = stable?.requests ?? 0;
  const base = { mode, samples: { candidate: candidateSamples, stable: stableSamples, minSamples: spec.minSamples }, window: { since: w.since, until: input.now } };
  const where = mode === 'shadow' ? 'shadow copies' : mode === 'preview' ? 'preview requests' : 'requests';
  if (candidateSamples === 0) {
    return { ...base, verdict: 'no-data', reason: `version ${input.candidate} received no ${where} in this step; the no-data policy is "${spec.noData}"`, checks: [] };
  }
  if (candidateSamples < spec.minSamples) {
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `version ${input.candidate} has ${candidateSamples} ${where} in this step, fewer than the ${spec.minSamples} needed for a verdict; waiting for more`,
      checks: [],
    };
  }
  const checks = spec.metrics.map((c) => check(c, input, cand!, stable));
  const failed = checks.filter((c) => c.outcome === 'fail');
  const waiting = checks.filter((c) => c.outcome === 'inconclusive');
  if (failed.length > 0) return { ...base, verdict: 'fail', reason: failed.map((c) => c.detail).join('; '), checks };
  if (waiting.length > 0) return { ...base, verdict: 'inconclusive', reason: waiting.map((c) => c.detail).join('; '), checks };
  const judged = checks.filter((c) => c.outcome === 'pass').map((c) => c.metric);
  return { ...base, verdict: 'pass', reason: `${candidateSamples} ${where}; ${judged.length > 0 ? `within thresholds: ${judged.join(', ')}` : 'no metric had data'}`, checks };
}

function check(c: MetricCheck, input: AnalysisInput, cand: VersionWindow | ShadowWindow, stable: VersionWindow | null): CheckResult {
  const { metric, required, ...thresholds } = c;
  const enough = (v: VersionWindow | null): v is VersionWindow => v !== null && v.requests >= input.spec.minSamples;
  let candidate: number | null = null;
  let reference: number | null = null;
  switch (metric) {
    case 'error_rate':
      candidate = errorRate(cand);
      reference = enough(stable) ? stable.failures / stable.requests : null;
      break;
    case 'latency_p50':
      candidate = cand.latency.quantile(0.5);
      reference = enough(stable) ? stable.latency.quantile(0.5) : null;
      break;
    case 'latency_p99':
      candidate = cand.latency.quantile(0.99);
      reference = enough(stable) ? stable.latency.quantile(0.99) : null;
      break;
    case 'prediction_drift':
      candidate = enough(stable) ? predictionDistance(cand, stable) : null;
      reference = 0;
      break;
    case 'shadow_agreement': {
      const sw = shadowOf(input, cand);
      candidate = sw && sw.rows > 0 ? sw.agreed / sw.rows : null;
      break;
    }
    case 'shadow_mean_abs_diff': {
      const sw = shadowOf(input, cand);
      candidate = sw && sw.probRows > 0 ? sw.absDiffSum / sw.probRows : null;
      break;
    }
    case 'accuracy': {
      const a = input.accuracy;
      const min = input.spec.minLabels;
      candidate = a && a.candidate.labelled >= min ? a.candidate.accuracy : null;
      reference = a && a.stable.labelled >= min ? a.stable.accuracy : null;
      break;
    }
  }
  const result = (outcome: CheckResult['outcome'], detail: string): CheckResult => ({ metric, outcome, candidate, stable: reference, thresholds, detail });
  if (candidate === null) {
    const why = noDataWhy(metric, input);
    return required ? result('inconclusive', `${metric}: ${why}; it is required, so the step waits`) : result('skipped', `${metric}: ${why}`);
  }
  const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));
  const problems: string[] = [];
  if (c.max !== undefined && candidate > c.max) problems.push(`${fmt(candidate)} is above the maximum ${fmt(c.max)}`);
  if (c.min !== undefined && candidate < c.min) problems.push(`${fmt(candidate)} is below the minimum ${fmt(c.min)}`);
  if (reference !== null && metric !== 'prediction_drift') {
    if (c.maxIncrease !== undefined && candidate - reference > c.maxIncrease) {
      problems.push(`${fmt(candidate)} is ${fmt(candidate - reference)} above the stable version's ${fmt(reference)} (allowed +${fmt(c.maxIncrease)})`);
    }
    if (c.maxDecrease !== undefined && reference - candidate > c.maxDecrease) {
      problems.push(`${fmt(candidate)} is ${fmt(reference - candidate)} below the stable version's ${fmt(reference)} (allowed −${fmt(c.maxDecrease)})`);
    }
    if (c.maxRatio !== undefined && reference > 0 && candidate / reference > c.maxRatio) {
      problems.push(`${fmt(candidate)} is ${(candidate / reference).toFixed(2)}× the stable version's ${fmt(reference)} (allowed ${c.maxRatio}×)`);
    }
  }
  if (problems.length > 0) return result('fail', `${metric} ${problems.join(' and ')}`);
  return result('pass', `${metric} ${fmt(candidate)}${reference !== null && metric !== 'prediction_drift' ? ` (stable ${fmt(reference)})` : ''}`);
}

function errorRate(w: VersionWindow | ShadowWindow): number {
  return 'copies' in w ? w.failures / Math.max(1, w.copies) : w.failures / Math.max(1, w.requests);
}

function shadowOf(input: AnalysisInput, cand: VersionWindow | ShadowWindow): ShadowWindow | null {
  if ('copies' in cand) return cand;
  return input.window.shadows.get(input.candidate) ?? null;
}

function noDataWhy(metric: AnalysisMetric, input: AnalysisInput): string {
  switch (metric) {
    case 'accuracy':
      return `fewer than ${input.spec.minLabels} labelled rows per version in this step (send ground truth: POST /v1/deployments/{name}/feedback)`;
    case 'shadow_agreement':
    case 'shadow_mean_abs_diff':
      return 'no shadow copies compared in this step';
    case 'prediction_drift':
      return `the stable version answered fewer than ${input.spec.minSamples} requests in this step`;
    default:
      return 'no data in this step';
  }
}

/**
 * Distance between the candidate's and the stable version's predictions in the window: the
 * Jensen–Shannon distance (base 2, in [0, 1]) of predicted-class shares for classifiers, of
 * 20-bin histograms over the pooled range for regressors.
 */
export function predictionDistance(a: { labels: Map<string, number>; values: Reservoir }, b: { labels: Map<string, number>; values: Reservoir }): number | null {
  if (a.labels.size > 0 || b.labels.size > 0) {
    const keys = [...new Set([...a.labels.keys(), ...b.labels.keys()])];
    return jensenShannonDistance(
      keys.map((k) => a.labels.get(k) ?? 0),
      keys.map((k) => b.labels.get(k) ?? 0),
    );
  }
  const xa = a.values.sorted();
  const xb = b.values.sorted();
  if (xa.length === 0 || xb.length === 0) return null;
  const lo = Math.min(xa[0]!, xb[0]!);
  const hi = Math.max(xa[xa.length - 1]!, xb[xb.length - 1]!);
  if (hi === lo) return 0;
  const bins = 20;
  const ha = new Array<number>(bins).fill(0);
  const hb = new Array<number>(bins).fill(0);
  for (const x of xa) ha[Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins))]!++;
  for (const x of xb) hb[Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins))]!++;
  return jensenShannonDistance(ha, hb);
}

/** sqrt of the Jensen–Shannon divergence (log base 2) of two count vectors. */
export function jensenShannonDistance(p: readonly number[], q: readonly number[]): number {
  const sp = p.reduce((s, x) => s + x, 0);
  const sq = q.reduce((s, x) => s + x, 0);
  if (sp === 0 || sq === 0) return 0;
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]! / sp;
    const b = q[i]! / sq;
    const m = (a + b) / 2;
    if (a > 0) js += 0.5 * a * Math.log2(a / m);
    if (b > 0) js += 0.5 * b * Math.log2(b / m);
  }
  return Math.sqrt(Math.max(0, js));
}

/**
 * What a rollout is asked to do, checked once at the door: strategy, steps, interval, analysis
 * thresholds, gates and the no-data policy. Everything here is plain data, stored with the rollout.
 */
import { parse as parseYaml } from 'yaml';
import { BerthError } from '../core/index.js';
import { STICKY_SOURCES, type StickySource } from '../registry/index.js';
import { parseGateSpec, type GateSpec } from './gates.js';

export const STRATEGIES = ['canary', 'blue-green'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** One step: a share of live traffic, a shadow phase (copies only), or a preview phase (blue-green). */
export type RolloutStep = { kind: 'weight'; percent: number } | { kind: 'shadow' } | { kind: 'preview' };

export const ANALYSIS_METRICS = [
  'error_rate',
  'latency_p50',
  'latency_p99',
  'prediction_drift',
  'shadow_agreement',
  'shadow_mean_abs_diff',
  'accuracy',
] as const;
export type AnalysisMetric = (typeof ANALYSIS_METRICS)[number];

/** One metric's thresholds: absolute (`min`/`max`) and relative to the stable version. */
export interface MetricCheck {
  metric: AnalysisMetric;
  min?: number;
  max?: number;
  /** candidate − stable may not exceed this (error rate, drift) */
  maxIncrease?: number;
  /** stable − candidate may not exceed this (accuracy) */
  maxDecrease?: number;
  /** candidate / stable may not exceed this (latency) */
  maxRatio?: number;
  /** without data for this metric the verdict is inconclusive (default: the metric is skipped) */
  required?: boolean;
}

export const NO_DATA_POLICIES = ['pause', 'fail', 'pass'] as const;
export type NoDataPolicy = (typeof NO_DATA_POLICIES)[number];

export interface AnalysisSpec {
  /** requests the candidate must have answered in the step before any verdict */
  minSamples: number;
  /** consecutive failed analyses before the rollout rolls back */
  failureLimit: number;
  /** what a step in which the candidate got no traffic at all means */
  noData: NoDataPolicy;
  /** labelled rows (feedback) each version needs before accuracy is compared */
  minLabels: number;
  metrics: MetricCheck[];
}

/** Thresholds used when a rollout names none: HTTP health plus the model's own behaviour. */
export const DEFAULT_ANALYSIS: AnalysisSpec = {
  minSamples: 100,
  failureLimit: 2,
  noData: 'pause',
  minLabels: 30,
  metrics: [
    { metric: 'error_rate', max: 0.05, maxIncrease: 0.01 },
    { metric: 'latency_p99', maxRatio: 2 },
    { metric: 'prediction_drift', max: 0.1 },
    { metric: 'shadow_agreement', min: 0.9 },
    { metric: 'accuracy', maxDecrease: 0.02 },
  ],
};

export interface RolloutSpec {
  strategy: Strategy;
  steps: RolloutStep[];
  /** how long each step collects traffic before its analysis, ms */
  intervalMs: number;
  analysis: AnalysisSpec;
  gates: GateSpec;
  /** blue-green: how long the old version stays loaded for an instant switch back, ms */
  keepOldMs: number;
  sticky: { from: StickySource; name: string } | null;
  /** allow a signature change that breaks the stable version's callers */
  allowBreaking: boolean;
}

/** What a caller sends to start a rollout (API body, CLI flags). */
export interface StartRolloutRequest {
  toVersion: number;
  strategy?: Strategy;
  /** `"5,25,50,100"`, `"shadow,10,50,100"`, or the list */
  steps?: string | (number | 'shadow' | 'preview')[];
  /** `"10m"`, `"30s"` or milliseconds */
  interval?: string | number;
  /** an analysis spec object, or its YAML/JSON text */
  analysis?: unknown;
  gates?: unknown;
  keepOld?: string | number;
  sticky?: string | { from: StickySource; name: string } | null;
  noData?: NoDataPolicy;
  allowBreaking?: boolean;
}

/** `500ms`, `30s`, `10m`, `2h`, `1d`, or a number of milliseconds. */
export function parseDuration(field: string, raw: string | number): number {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0) return Math.round(raw);
  const m = typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw) : null;
  if (!m) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: expected a duration like 30s, 10m or 2h, got ${JSON.stringify(raw)}`, {
      field,
      expected: 'duration (500ms, 30s, 10m, 2h, 1d)',
      got: raw,
    });
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Math.round(Number(m[1]) * unit);
}

function bad(field: string, expected: string, got: unknown): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${JSON.stringify(got)}`, { field, expected, got });
}

/** Parse `5,25,50,100` / `shadow,10,100` into steps; every weight in (0, 100], increasing. */
export function parseSteps(raw: string | (number | string)[], strategy: Strategy): RolloutStep[] {
  if (strategy === 'blue-green') return [{ kind: 'preview' }, { kind: 'weight', percent: 100 }];
  const items = typeof raw === 'string' ? raw.split(',').map((x) => x.trim()).filter((x) => x.length > 0) : raw;
  if (items.length === 0) throw bad('steps', 'a list like 5,25,50,100', raw);
  const steps: RolloutStep[] = [];
  let last = 0;
  for (const it of items) {
    if (it === 'shadow') {
      if (steps.some((s) => s.kind === 'weight')) throw bad('steps', 'the shadow step before any weight', raw);
      steps.push({ kind: 'shadow' });
      continue;
    }
    const n = typeof it === 'number' ? it : Number(it);
    if (!Number.isFinite(n) || n <= 0 || n > 100) throw bad('steps', 'percentages in (0, 100] (or "shadow" first)', it);
    if (n <= last) throw bad('steps', 'increasing percentages', raw);
    steps.push({ kind: 'weight', percent: n });
    last = n;
  }
  // the last step is the full switch: a rollout always ends with every request on the new version
  if (last !== 100) steps.push({ kind: 'weight', percent: 100 });
  return steps;
}

/** Check an analysis spec (object, or YAML/JSON text) and fill in the defaults. */
export function parseAnalysisSpec(raw: unknown, noData?: NoDataPolicy): AnalysisSpec {
  let doc = raw;
  if (typeof raw === 'string') {
    try {
      doc = parseYaml(raw) as unknown;
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `analysis: not valid YAML or JSON: ${err instanceof Error ? err.message : String(err)}`, { field: 'analysis' });
    }
  }
  if (doc === undefined || doc === null) return { ...DEFAULT_ANALYSIS, ...(noData ? { noData } : {}) };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw bad('analysis', 'an object with minSamples, failureLimit, noData, metrics', doc);
  const d = doc as Record<string, unknown>;
  const known = ['minSamples', 'failureLimit', 'noData', 'minLabels', 'metrics'];
  for (const k of Object.keys(d)) if (!known.includes(k)) throw bad(`analysis.${k}`, `one of ${known.join(', ')}`, k);
  const int = (k: string, min: number, dflt: number): number => {
    const v = d[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(`analysis.${k}`, `an integer >= ${min}`, v);
    return v;
  };
  const nd = d['noData'] ?? noData ?? DEFAULT_ANALYSIS.noData;
  if (!(NO_DATA_POLICIES as readonly unknown[]).includes(nd)) throw bad('analysis.noData', NO_DATA_POLICIES.join(' | '), nd);
  let metrics = DEFAULT_ANALYSIS.metrics;
  if (d['metrics'] !== undefined) {
    if (!Array.isArray(d['metrics'])) throw bad('analysis.metrics', 'a list of {metric, min|max|maxIncrease|maxDecrease|maxRatio}', d['metrics']);
    metrics = d['metrics'].map((m: unknown, i) => parseMetricCheck(m, `analysis.metrics[${i}]`));
  }
  return {
    minSamples: int('minSamples', 1, DEFAULT_ANALYSIS.minSamples),
    failureLimit: int('failureLimit', 1, DEFAULT_ANALYSIS.failureLimit),
    minLabels: int('minLabels', 1, DEFAULT_ANALYSIS.minLabels),
    noData: nd as NoDataPolicy,
    metrics,
  };
}

function parseMetricCheck(raw: unknown, field: string): MetricCheck {
  if (raw === null || typeof raw !== 'object') throw bad(field, '{metric, min|max|maxIncrease|maxDecrease|maxRatio}', raw);
  const m = raw as Record<string, unknown>;
  const metric = m['metric'] ?? m['name'];
  if (!(ANALYSIS_METRICS as readonly unknown[]).includes(metric)) throw bad(`${field}.metric`, ANALYSIS_METRICS.join(' | '), metric);
  const out: MetricCheck = { metric: metric as AnalysisMetric };
  for (const k of ['min', 'max', 'maxIncrease', 'maxDecrease', 'maxRatio'] as const) {
    const v = m[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`${field}.${k}`, 'a number >= 0', v);
    out[k] = v;
  }
  for (const k of Object.keys(m)) {
    if (!['metric', 'name', 'min', 'max', 'maxIncrease', 'maxDecrease', 'maxRatio', 'required'].includes(k)) throw bad(`${field}.${k}`, 'metric, min, max, maxIncrease, maxDecrease, maxRatio or required', k);
  }
  if (m['required'] !== undefined) {
    if (typeof m['required'] !== 'boolean') throw bad(`${field}.required`, 'true or false', m['required']);
    out.required = m['required'];
  }
  if (['min', 'max', 'maxIncrease', 'maxDecrease', 'maxRatio'].every((k) => out[k as keyof MetricCheck] === undefined)) {
    throw bad(field, `at least one threshold for ${out.metric} (min, max, maxIncrease, maxDecrease, maxRatio)`, raw);
  }
  return out;
}

/** `header:x-user-id`, `parameter:user_id`, `input:customer_id`, or the object. */
export function parseSticky(raw: StartRolloutRequest['sticky']): RolloutSpec['sticky'] {
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw === 'object') {
    if (!(STICKY_SOURCES as readonly unknown[]).includes(raw.from) || typeof raw.name !== 'string' || raw.name.length === 0) {
      throw bad('sticky', `{"from": ${STICKY_SOURCES.join('|')}, "name": "..."}`, raw);
    }
    return { from: raw.from, name: raw.from === 'header' ? raw.name.toLowerCase() : raw.name };
  }
  const i = raw.indexOf(':');
  const from = raw.slice(0, i);
  const name = raw.slice(i + 1);
  if (i <= 0 || !(STICKY_SOURCES as readonly string[]).includes(from) || name.length === 0) {
    throw bad('sticky', 'header:NAME, parameter:NAME or input:NAME', raw);
  }
  return { from: from as StickySource, name: from === 'header' ? name.toLowerCase() : name };
}

/** Turn a start request into a complete, checked spec. */
export function parseRolloutRequest(req: StartRolloutRequest): RolloutSpec {
  if (req === null || typeof req !== 'object') throw bad('body', 'an object with toVersion, strategy, steps, interval, analysis', req);
  const strategy = req.strategy ?? 'canary';
  if (!(STRATEGIES as readonly unknown[]).includes(strategy)) throw bad('strategy', STRATEGIES.join(' | '), strategy);
  if (req.noData !== undefined && !(NO_DATA_POLICIES as readonly unknown[]).includes(req.noData)) throw bad('noData', NO_DATA_POLICIES.join(' | '), req.noData);
  const intervalMs = parseDuration('interval', req.interval ?? '10m');
  if (intervalMs < 1000) throw bad('interval', 'at least 1s', req.interval);
  const keepOldMs = parseDuration('keepOld', req.keepOld ?? '10m');
  if (req.allowBreaking !== undefined && typeof req.allowBreaking !== 'boolean') throw bad('allowBreaking', 'true or false', req.allowBreaking);
  const gates = req.gates === undefined || req.gates === null ? {} : parseGateSpec(typeof req.gates === 'string' ? (parseYaml(req.gates) as unknown) : req.gates, 'gates');
  return {
    strategy,
    steps: parseSteps(req.steps ?? '5,25,50,100', strategy),
    intervalMs,
    analysis: parseAnalysisSpec(req.analysis, req.noData),
    gates,
    keepOldMs,
    sticky: parseSticky(req.sticky),
    allowBreaking: req.allowBreaking ?? false,
  };
}

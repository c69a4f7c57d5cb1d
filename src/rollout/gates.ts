/**
 * Rollout gates: the checks a model version must pass before it gets any traffic. Each gate
 * measures one thing (quality on a labelled data set, latency under a short load, file size,
 * resident memory, signature compatibility with the stable version) and says, in one sentence a
 * person can act on, what it measured against what threshold.
 *
 * Gates only measure and judge; the rollout controller decides what to do with the report.
 *
 * @example
 * const spec = parseGateSpec({ evaluation: { dataset: 'holdout.csv', metrics: [{ name: 'accuracy', min: 0.9 }] } });
 * const report = await runGates(spec, { candidate, stable, predictor: onnxPredictor(registry) });
 * if (!report.passed) for (const r of report.results) if (!r.passed) console.log(r.detail);
 */
import path from 'node:path';
import { BerthError, allocateData, formatShape, type Signature, type Tensor, type TensorSpec } from '../core/index.js';
import { sliceTable, type Column, type Table } from '../data/index.js';
import {
  cellText,
  classificationMetrics,
  extractPredictions,
  monitoringSchema,
  readReferenceFile,
  regressionMetrics,
  tableToInputs,
  type MonitoringSchema,
  type PredictorFactory,
} from '../monitor/index.js';
import type { VersionRecord } from '../registry/index.js';

/** The kinds of gate a report holds. */
export const GATE_KINDS = ['evaluation', 'latency', 'size', 'memory', 'signature'] as const;
export type GateKind = (typeof GATE_KINDS)[number];

/** Metrics of classifiers (from `classificationMetrics`); higher is better except log_loss. */
export const CLASSIFICATION_GATE_METRICS = ['accuracy', 'f1', 'precision', 'recall', 'roc_auc', 'log_loss'] as const;
/** Metrics of regressors (from `regressionMetrics`); higher is better only for r2. */
export const REGRESSION_GATE_METRICS = ['rmse', 'mae', 'r2'] as const;
export const GATE_METRICS = [...CLASSIFICATION_GATE_METRICS, ...REGRESSION_GATE_METRICS] as const;
export type GateMetric = (typeof GATE_METRICS)[number];

/** One metric threshold of the evaluation gate. */
export interface MetricGate {
  name: GateMetric;
  /** absolute floor on the candidate's value */
  min?: number;
  /** absolute ceiling on the candidate's value */
  max?: number;
  /** candidate − stable must be ≥ −maxDecrease (same rows) */
  maxDecrease?: number;
  /** candidate − stable must be ≤ maxIncrease (same rows) */
  maxIncrease?: number;
}

export interface GateSpec {
  /** evaluate on a named dataset (CSV or Parquet with a label column) */
  evaluation?: {
    /** file path (CSV/Parquet) */
    dataset: string;
    /** default: the card's monitoring label column, else `label` */
    labelColumn?: string;
    metrics: MetricGate[];
  };
  /** latency budget from a short load run against the loaded candidate */
  latency?: { p50Ms?: number; p99Ms?: number; requests?: number; concurrency?: number };
  /** size and memory limits */
  size?: { maxBytes?: number; maxMemoryBytes?: number };
  /** signature compatibility with the stable version; breaking changes need allowBreaking */
  signature?: { allowBreaking?: boolean };
}

export interface GateResult {
  gate: GateKind;
  passed: boolean;
  /** one sentence a person can act on: what was measured, against what threshold, what to do */
  detail: string;
  /** the numbers the verdict was based on (metric values of candidate and stable, thresholds, p50/p99, bytes…) */
  numbers: Record<string, number | string | boolean | null>;
}

export interface GateReport {
  passed: boolean;
  results: GateResult[];
}

export interface GateContext {
  candidate: VersionRecord;
  stable: VersionRecord | null;
  /** runs a version's model in this process (`onnxPredictor(registry)` in production) */
  predictor: PredictorFactory;
  /** run one request on the candidate as it is loaded for serving (the controller passes the serving path) */
  runCandidate?: (inputs: Tensor[]) => Promise<unknown>;
  /** measured resident memory of the loaded candidate, bytes (from the ModelManager) */
  memoryBytes?: () => number | null;
}

/** Latency runs send this many requests first and do not count them: sessions warm up lazily. */
export const LATENCY_WARMUP_REQUESTS = 10;
const DEFAULT_LATENCY_REQUESTS = 300;
const DEFAULT_LATENCY_CONCURRENCY = 4;
/** rows per model call while evaluating (bounds memory on large data sets) */
const EVALUATION_BATCH_ROWS = 4096;

// ---------------------------------------------------------------------------------------------
// Parsing

interface Problem {
  field: string;
  expected: string;
  got: unknown;
}

/**
 * Check a gate spec (from a rollout request or config), reporting every problem at once as
 * INVALID_ARGUMENT; the context names the first problem's field, what was expected and what came.
 * Unknown keys are refused so that a misspelt threshold cannot silently switch a gate off.
 */
export function parseGateSpec(raw: unknown, field = 'gates'): GateSpec {
  const problems: Problem[] = [];
  const spec: GateSpec = {};
  const root = objectAt(raw, field, ['evaluation', 'latency', 'size', 'signature'], problems);
  if (root) {
    if (root['evaluation'] !== undefined) {
      const e = parseEvaluation(root['evaluation'], `${field}.evaluation`, problems);
      if (e) spec.evaluation = e;
    }
    if (root['latency'] !== undefined) {
      const l = parseLatency(root['latency'], `${field}.latency`, problems);
      if (l) spec.latency = l;
    }
    if (root['size'] !== undefined) {
      const s = parseSize(root['size'], `${field}.size`, problems);
      if (s) spec.size = s;
    }
    if (root['signature'] !== undefined) {
      const s = objectAt(root['signature'], `${field}.signature`, ['allowBreaking'], problems);
      if (s) {
        spec.signature = {};
        const a = s['allowBreaking'];
        if (a === undefined) {
          // nothing to set
        } else if (typeof a === 'boolean') spec.signature.allowBreaking = a;
        else problems.push({ field: `${field}.signature.allowBreaking`, expected: 'true or false', got: a });
      }
    }
  }
  if (problems.length > 0) {
    const first = problems[0]!;
    const lines = problems.map((p) => `${p.field}: expected ${p.expected}, got ${JSON.stringify(p.got)}`);
    throw new BerthError('INVALID_ARGUMENT', problems.length === 1 ? `invalid gates: ${lines[0]}` : `invalid gates:\n  ${lines.join('\n  ')}`, {
      field: first.field,
      expected: first.expected,
      got: first.got,
      problems: lines,
    });
  }
  return spec;
}

/** The value as a plain object with only `keys`, or null after recording why not. */
function objectAt(v: unknown, field: string, keys: readonly string[], problems: Problem[]): Record<string, unknown> | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problems.push({ field, expected: `an object with ${keys.join(', ')}`, got: v });
    return null;
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!keys.includes(k) && o[k] !== undefined) problems.push({ field: `${field}.${k}`, expected: `no such field (known: ${keys.join(', ')})`, got: o[k] });
  }
  return o;
}

/** A number > 0 (or ≥ 0 when `zero`), integer when asked; undefined when absent. */
function numberAt(o: Record<string, unknown>, key: string, field: string, problems: Problem[], opts: { zero?: boolean; integer?: boolean } = {}): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const ok = typeof v === 'number' && Number.isFinite(v) && (opts.zero ? v >= 0 : v > 0) && (!opts.integer || Number.isSafeInteger(v));
  if (ok) return v;
  problems.push({ field: `${field}.${key}`, expected: `${opts.integer ? 'an integer' : 'a number'} ${opts.zero ? '>= 0' : '> 0'}`, got: v });
  return undefined;
}

function parseEvaluation(v: unknown, field: string, problems: Problem[]): GateSpec['evaluation'] | null {
  const o = objectAt(v, field, ['dataset', 'labelColumn', 'metrics'], problems);
  if (!o) return null;
  const dataset = o['dataset'];
  if (typeof dataset !== 'string' || dataset.trim() === '') problems.push({ field: `${field}.dataset`, expected: 'the path of a CSV or Parquet file', got: dataset });
  const label = o['labelColumn'];
  if (label !== undefined && (typeof label !== 'string' || label === '')) problems.push({ field: `${field}.labelColumn`, expected: 'a column name', got: label });
  const list = o['metrics'];
  const metrics: MetricGate[] = [];
  if (!Array.isArray(list) || list.length === 0) {
    problems.push({ field: `${field}.metrics`, expected: 'a non-empty list of {"name", "min" | "max" | "maxDecrease" | "maxIncrease"}', got: list });
  } else {
    list.forEach((m: unknown, i) => {
      const g = parseMetricGate(m, `${field}.metrics[${i}]`, problems);
      if (g) metrics.push(g);
    });
  }
  const out: NonNullable<GateSpec['evaluation']> = { dataset: typeof dataset === 'string' ? dataset : '', metrics };
  if (typeof label === 'string' && label !== '') out.labelColumn = label;
  return out;
}

function parseMetricGate(v: unknown, field: string, problems: Problem[]): MetricGate | null {
  const o = objectAt(v, field, ['name', 'min', 'max', 'maxDecrease', 'maxIncrease'], problems);
  if (!o) return null;
  const name = o['name'];
  if (!(GATE_METRICS as readonly unknown[]).includes(name)) {
    problems.push({ field: `${field}.name`, expected: `one of ${GATE_METRICS.join(', ')}`, got: name });
    return null;
  }
  const g: MetricGate = { name: name as GateMetric };
  for (const key of ['min', 'max'] as const) {
    const x = o[key];
    if (x === undefined) continue;
    if (typeof x === 'number' && Number.isFinite(x)) g[key] = x;
    else problems.push({ field: `${field}.${key}`, expected: 'a finite number', got: x });
  }
  for (const key of ['maxDecrease', 'maxIncrease'] as const) {
    const x = numberAt(o, key, field, problems, { zero: true });
    if (x !== undefined) g[key] = x;
  }
  if (g.min === undefined && g.max === undefined && g.maxDecrease === undefined && g.maxIncrease === undefined && !problems.some((p) => p.field.startsWith(`${field}.`))) {
    problems.push({ field, expected: 'at least one of min, max, maxDecrease, maxIncrease', got: v });
  }
  if (g.min !== undefined && g.max !== undefined && g.min > g.max) problems.push({ field: `${field}.max`, expected: `a number >= min (${g.min})`, got: g.max });
  return g;
}

function parseLatency(v: unknown, field: string, problems: Problem[]): GateSpec['latency'] | null {
  const o = objectAt(v, field, ['p50Ms', 'p99Ms', 'requests', 'concurrency'], problems);
  if (!o) return null;
  const out: NonNullable<GateSpec['latency']> = {};
  const p50 = numberAt(o, 'p50Ms', field, problems);
  const p99 = numberAt(o, 'p99Ms', field, problems);
  const requests = numberAt(o, 'requests', field, problems, { integer: true });
  const concurrency = numberAt(o, 'concurrency', field, problems, { integer: true });
  if (p50 !== undefined) out.p50Ms = p50;
  if (p99 !== undefined) out.p99Ms = p99;
  if (requests !== undefined) out.requests = requests;
  if (concurrency !== undefined) out.concurrency = concurrency;
  return out;
}

function parseSize(v: unknown, field: string, problems: Problem[]): GateSpec['size'] | null {
  const o = objectAt(v, field, ['maxBytes', 'maxMemoryBytes'], problems);
  if (!o) return null;
  const out: NonNullable<GateSpec['size']> = {};
  const maxBytes = numberAt(o, 'maxBytes', field, problems, { integer: true });
  const maxMemoryBytes = numberAt(o, 'maxMemoryBytes', field, problems, { integer: true });
  if (maxBytes !== undefined) out.maxBytes = maxBytes;
  if (maxMemoryBytes !== undefined) out.maxMemoryBytes = maxMemoryBytes;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running

/**
 * Run every gate the spec names, plus the signature check whenever a stable version exists (a
 * breaking change must never reach traffic unnoticed). Cheap gates run first. Throws
 * INVALID_ARGUMENT when the spec does not fit the data (label column or features missing, a
 * regression metric on a classifier); every measured verdict is a result, never a throw.
 */
export async function runGates(spec: GateSpec, ctx: GateContext): Promise<GateReport> {
  const results: GateResult[] = [];
  if (ctx.stable || spec.signature) results.push(signatureGate(ctx, spec.signature?.allowBreaking ?? false));
  if (spec.size?.maxBytes !== undefined) results.push(sizeGate(ctx.candidate, spec.size.maxBytes));
  if (spec.size?.maxMemoryBytes !== undefined) results.push(memoryGate(ctx, spec.size.maxMemoryBytes));
  let table: Table | null = null;
  if (spec.evaluation) {
    const evaluated = await evaluationGates(spec.evaluation, ctx);
    table = evaluated.table;
    results.push(...evaluated.results);
  }
  if (spec.latency) results.push(await latencyGate(spec.latency, ctx, table));
  return { passed: results.every((r) => r.passed), results };
}

// --- signature -------------------------------------------------------------------------------

function signatureGate(ctx: GateContext, allowBreaking: boolean): GateResult {
  const c = ctx.candidate;
  if (!ctx.stable) {
    return {
      gate: 'signature',
      passed: true,
      detail: `${c.model} has no stable version, so version ${c.version}'s signature has nothing to stay compatible with`,
      numbers: { candidateVersion: c.version, stableVersion: null, breaking: 0, notes: 0, allowBreaking },
    };
  }
  const s = ctx.stable;
  const { breaking, notes } = checkSignatureCompatibility(s.signature, c.signature);
  const numbers = { candidateVersion: c.version, stableVersion: s.version, breaking: breaking.length, notes: notes.length, allowBreaking };
  const noteText = notes.length > 0 ? ` (notes: ${notes.join('; ')})` : '';
  if (breaking.length === 0) {
    return { gate: 'signature', passed: true, detail: `version ${c.version}'s signature is compatible with stable version ${s.version}${noteText}`, numbers };
  }
  const list = breaking.join('; ');
  if (allowBreaking) {
    return {
      gate: 'signature',
      passed: true,
      detail: `version ${c.version} makes ${breaking.length} breaking change${plural(breaking.length)} to stable version ${s.version}'s signature, allowed by signature.allowBreaking: ${list}`,
      numbers,
    };
  }
  return {
    gate: 'signature',
    passed: false,
    detail: `version ${c.version} makes ${breaking.length} breaking change${plural(breaking.length)} to stable version ${s.version}'s signature: ${list}; keep the stable signature, or update the clients and set signature.allowBreaking`,
    numbers,
  };
}

/**
 * What a client of the stable version would notice if the candidate answered instead. Breaking:
 * an input or output disappears or changes datatype, an input's shape stops accepting what the
 * stable accepted (a fixed dimension differs, or a dynamic one becomes fixed), a new input is
 * required, an output's fixed dimensions change (say, the number of classes), named features are
 * renamed or reordered, categories or id ranges the stable accepted are refused, or non-finite
 * values become forbidden. Everything else that differs is a note.
 */
export function checkSignatureCompatibility(stable: Signature, candidate: Signature): { breaking: string[]; notes: string[] } {
  const out = { breaking: [] as string[], notes: [] as string[] };
  for (const s of stable.inputs) {
    const c = candidate.inputs.find((x) => x.name === s.name);
    if (!c) {
      out.breaking.push(`input "${s.name}" (${s.datatype} ${formatShape(s.shape)}) is missing`);
      continue;
    }
    compareTensor('input', s, c, out);
    compareFeatures(s, c, out);
    compareDomain(s, c, out);
  }
  for (const c of candidate.inputs) {
    if (!stable.inputs.some((s) => s.name === c.name)) out.breaking.push(`new required input "${c.name}" (${c.datatype} ${formatShape(c.shape)})`);
  }
  for (const s of stable.outputs) {
    const c = candidate.outputs.find((x) => x.name === s.name);
    if (!c) out.breaking.push(`output "${s.name}" (${s.datatype} ${formatShape(s.shape)}) is missing`);
    else compareTensor('output', s, c, out);
  }
  for (const c of candidate.outputs) {
    if (!stable.outputs.some((s) => s.name === c.name)) out.notes.push(`new output "${c.name}" (${c.datatype} ${formatShape(c.shape)})`);
  }
  if (stable.batchable && !candidate.batchable) out.notes.push('the candidate cannot batch requests together (a dimension 0 is fixed), so it may serve less throughput');
  return out;
}

type Findings = { breaking: string[]; notes: string[] };

function compareTensor(kind: 'input' | 'output', s: TensorSpec, c: TensorSpec, out: Findings): void {
  const what = `${kind} "${s.name}"`;
  if (s.datatype !== c.datatype) out.breaking.push(`${what} changes datatype from ${s.datatype} to ${c.datatype}`);
  if (s.shape.length !== c.shape.length) {
    out.breaking.push(`${what} changes rank: shape ${formatShape(s.shape)} became ${formatShape(c.shape)}`);
    return;
  }
  s.shape.forEach((sd, i) => {
    const cd = c.shape[i]!;
    if (sd === cd) return;
    const change = `${what} dimension ${i}: ${sd < 0 ? 'dynamic' : sd} became ${cd < 0 ? 'dynamic' : cd} (shape ${formatShape(s.shape)} → ${formatShape(c.shape)})`;
    // an input that stops accepting sizes the stable accepted breaks requests; a wider one does not
    const narrowsInput = kind === 'input' && sd < 0;
    if ((sd >= 0 && cd >= 0) || narrowsInput) out.breaking.push(change);
    else out.notes.push(change);
  });
}

/** Renamed or reordered features send values to the wrong place for every client writing rows by name. */
function compareFeatures(s: TensorSpec, c: TensorSpec, out: Findings): void {
  const a = s.featureNames;
  const b = c.featureNames;
  if (a === undefined && b === undefined) return;
  if (a === undefined || b === undefined) {
    out.notes.push(`input "${s.name}": the ${a === undefined ? 'stable version' : 'candidate'} names no features`);
    return;
  }
  const diffs: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) diffs.push(`position ${i} "${a[i] ?? '(none)'}" → "${b[i] ?? '(none)'}"`);
  }
  if (diffs.length === 0) return;
  const shown = diffs.slice(0, 3).join(', ') + (diffs.length > 3 ? ` and ${diffs.length - 3} more` : '');
  out.breaking.push(`input "${s.name}" renames or reorders features: ${shown}`);
}

/** Categories, id ranges and non-finite values the stable accepted and the candidate refuses. */
function compareDomain(s: TensorSpec, c: TensorSpec, out: Findings): void {
  const what = `input "${s.name}"`;
  if (s.vocabulary && c.vocabulary) {
    if (s.datatype === 'BYTES') {
      const removed = s.vocabulary.filter((v) => !c.vocabulary!.includes(v));
      if (removed.length > 0) out.breaking.push(`${what} no longer accepts the categor${removed.length > 1 ? 'ies' : 'y'} ${preview(removed)}`);
      const added = c.vocabulary.filter((v) => !s.vocabulary!.includes(v));
      if (added.length > 0) out.notes.push(`${what} accepts new categories ${preview(added)}`);
    } else {
      // integer ids name categories by position: a changed position changes what an id means
      const changed = s.vocabulary.findIndex((v, i) => c.vocabulary![i] !== v);
      if (changed >= 0) out.breaking.push(`${what}: id ${changed} meant "${s.vocabulary[changed]}", now ${c.vocabulary[changed] === undefined ? 'is out of range' : `means "${c.vocabulary[changed]}"`}`);
      else if (c.vocabulary.length > s.vocabulary.length) out.notes.push(`${what} accepts ${c.vocabulary.length - s.vocabulary.length} new ids`);
    }
  } else if (s.vocabulary || c.vocabulary) {
    out.notes.push(`${what}: only the ${s.vocabulary ? 'stable version' : 'candidate'} declares a vocabulary`);
  }
  if (s.validRange && c.validRange) {
    const [slo, shi] = s.validRange;
    const [clo, chi] = c.validRange;
    if (clo > slo || chi < shi) out.breaking.push(`${what} narrows its valid range from [${slo}, ${shi}] to [${clo}, ${chi}]`);
    else if (clo !== slo || chi !== shi) out.notes.push(`${what} widens its valid range from [${slo}, ${shi}] to [${clo}, ${chi}]`);
  } else if (!s.validRange && c.validRange) {
    out.breaking.push(`${what} now refuses ids outside [${c.validRange[0]}, ${c.validRange[1]}]`);
  }
  if ((s.allowNonFinite ?? true) && c.allowNonFinite === false) out.breaking.push(`${what} now refuses NaN and ±Infinity`);
}

// --- size and memory -------------------------------------------------------------------------

function sizeGate(v: VersionRecord, maxBytes: number): GateResult {
  const passed = v.sizeBytes <= maxBytes;
  const measured = `version ${v.version}'s model file is ${bytes(v.sizeBytes)}`;
  return {
    gate: 'size',
    passed,
    detail: passed
      ? `${measured}, within the limit ${bytes(maxBytes)}`
      : `${measured}, over the limit ${bytes(maxBytes)}; shrink the model (prune, quantise) or raise size.maxBytes`,
    numbers: { sizeBytes: v.sizeBytes, maxBytes },
  };
}

function memoryGate(ctx: GateContext, maxMemoryBytes: number): GateResult {
  const v = ctx.candidate;
  const measured = ctx.memoryBytes?.() ?? null;
  if (measured === null) {
    return {
      gate: 'memory',
      passed: false,
      detail: `the resident memory of version ${v.version} could not be measured, so the limit ${bytes(maxMemoryBytes)} cannot be checked; load the candidate for serving before running the gates`,
      numbers: { memoryBytes: null, maxMemoryBytes },
    };
  }
  const passed = measured <= maxMemoryBytes;
  const said = `version ${v.version} takes ${bytes(measured)} of memory when loaded`;
  return {
    gate: 'memory',
    passed,
    detail: passed ? `${said}, within the limit ${bytes(maxMemoryBytes)}` : `${said}, over the limit ${bytes(maxMemoryBytes)}; shrink the model or raise size.maxMemoryBytes`,
    numbers: { memoryBytes: measured, maxMemoryBytes },
  };
}

// --- evaluation ------------------------------------------------------------------------------

type MetricValues = Record<GateMetric, number | null>;

/** A version's metrics on the labelled rows of a data set. */
interface Evaluation {
  values: MetricValues;
  /** rows with a known label and a prediction (what the metrics are over) */
  labelledRows: number;
}

async function evaluationGates(spec: NonNullable<GateSpec['evaluation']>, ctx: GateContext): Promise<{ table: Table; results: GateResult[] }> {
  const c = ctx.candidate;
  const schema = schemaOf(c);
  checkMetricsApply(spec.metrics, schema, c);
  const table = await readReferenceFile(spec.dataset);
  const labelColumn = spec.labelColumn ?? schema.labelColumn;
  const labels = labelColumnOf(table, labelColumn, spec.dataset);
  const candidate = await evaluateVersion(c, schema, table, labels, ctx.predictor);
  const relative = spec.metrics.some((m) => m.maxDecrease !== undefined || m.maxIncrease !== undefined);
  const stable = ctx.stable && relative ? await evaluateVersion(ctx.stable, schemaOf(ctx.stable), table, labels, ctx.predictor) : null;
  const where = { dataset: path.basename(spec.dataset), rows: table.rows };
  const results = spec.metrics.map((m) => judgeMetric(m, candidate, stable, ctx, where));
  return { table, results };
}

function schemaOf(v: VersionRecord): MonitoringSchema {
  return monitoringSchema(v.signature, v.card ?? undefined);
}

/** A metric the model cannot have is a mistake in the spec, not a measured failure. */
function checkMetricsApply(metrics: readonly MetricGate[], schema: MonitoringSchema, v: VersionRecord): void {
  const kind = schema.prediction.kind;
  if (kind === 'none') {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `${v.model} version ${v.version} has no output that reads as a label, probabilities or a value, so it cannot be evaluated; name the outputs' roles in its card, or drop the evaluation gate`,
      { model: v.model, version: v.version, field: 'gates.evaluation' },
    );
  }
  const allowed: readonly string[] = kind === 'classification' ? CLASSIFICATION_GATE_METRICS : REGRESSION_GATE_METRICS;
  metrics.forEach((m, i) => {
    if (allowed.includes(m.name)) return;
    throw new BerthError(
      'INVALID_ARGUMENT',
      `gates.evaluation.metrics[${i}].name: ${m.name} does not apply to ${v.model} version ${v.version}, a ${kind === 'classification' ? 'classifier' : 'regressor'}; expected one of ${allowed.join(', ')}`,
      { model: v.model, version: v.version, field: `gates.evaluation.metrics[${i}].name`, expected: allowed, got: m.name },
    );
  });
}

function labelColumnOf(table: Table, name: string, dataset: string): Column {
  const col = table.columns.find((c) => c.name === name);
  if (col) return col;
  const present = table.columns.map((c) => c.name);
  throw new BerthError(
    'INVALID_ARGUMENT',
    `${path.basename(dataset)} has no label column "${name}"; its columns are ${preview(present)}. Name the label with gates.evaluation.labelColumn or the card's monitoring.label_column`,
    { field: 'gates.evaluation.labelColumn', expected: name, got: present },
  );
}

/** Run a version over the table in batches (always disposing it) and score its predictions. */
async function evaluateVersion(v: VersionRecord, schema: MonitoringSchema, table: Table, labels: Column, predictor: PredictorFactory): Promise<Evaluation> {
  const missing = schema.features.filter((f) => !table.columns.some((c) => c.name === f.name)).map((f) => f.name);
  if (missing.length > 0) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `the evaluation data lacks the feature${plural(missing.length)} ${preview(missing)} of ${v.model} version ${v.version}; its columns are ${preview(table.columns.map((c) => c.name))}`,
      { model: v.model, version: v.version, field: 'gates.evaluation.dataset', expected: schema.features.map((f) => f.name), got: table.columns.map((c) => c.name) },
    );
  }
  const k = schema.prediction.classes.length;
  const predicted: (string | null)[] = [];
  const values = new Float64Array(table.rows).fill(NaN);
  let proba: Float64Array | null = schema.prediction.kind === 'classification' && k > 0 ? new Float64Array(table.rows * k) : null;
  const model = await predictor(v);
  try {
    for (let start = 0; start < table.rows; start += EVALUATION_BATCH_ROWS) {
      const end = Math.min(table.rows, start + EVALUATION_BATCH_ROWS);
      const outputs = await model.predict(tableToInputs(sliceTable(table, start, end), v.signature, schema));
      const got = extractPredictions(schema, outputs, end - start);
      if (got.labels) predicted.push(...got.labels);
      if (got.values) values.set(got.values, start);
      if (proba && got.probabilities) proba.set(got.probabilities, start * k);
      else proba = null;
    }
  } finally {
    await model.dispose();
  }
  return schema.prediction.kind === 'classification'
    ? classify(schema, predicted, proba, labels, table.rows)
    : regress(values, labels, table.rows);
}

function classify(schema: MonitoringSchema, predicted: readonly (string | null)[], proba: Float64Array | null, labels: Column, rows: number): Evaluation {
  const p = schema.prediction;
  // labels may be written as the class label (`1`) or its name (`benign`)
  const index = new Map<string, number>();
  p.classNames.forEach((n, i) => index.set(n, i));
  p.classes.forEach((c, i) => index.set(c, i));
  const toIndex = (t: string | null | undefined): number => (t === null || t === undefined ? -1 : (index.get(t) ?? -1));
  const pred = Int32Array.from({ length: rows }, (_, r) => toIndex(predicted[r]));
  const truth = Int32Array.from({ length: rows }, (_, r) => toIndex(cellText(labels, r)));
  const m = classificationMetrics(pred, truth, p.classes.length, proba, p.positiveIndex);
  const values: MetricValues = emptyValues();
  if (m) {
    values.accuracy = m.accuracy;
    values.f1 = m.f1;
    values.precision = m.precision;
    values.recall = m.recall;
    values.roc_auc = m.rocAuc;
    values.log_loss = m.logLoss;
  }
  return { values, labelledRows: m?.rows ?? 0 };
}

function regress(pred: Float64Array, labels: Column, rows: number): Evaluation {
  const truth = Float64Array.from({ length: rows }, (_, r) => {
    const t = cellText(labels, r);
    return t === null || t.trim() === '' ? NaN : Number(t);
  });
  const m = regressionMetrics(pred, truth);
  const values: MetricValues = emptyValues();
  if (m) {
    values.rmse = m.rmse;
    values.mae = m.mae;
    values.r2 = Number.isFinite(m.r2) ? m.r2 : null;
  }
  return { values, labelledRows: m?.rows ?? 0 };
}

function emptyValues(): MetricValues {
  return Object.fromEntries(GATE_METRICS.map((m) => [m, null])) as MetricValues;
}

/** Every threshold of one metric, judged on the candidate's value and the stable's on the same rows. */
function judgeMetric(m: MetricGate, cand: Evaluation, stable: Evaluation | null, ctx: GateContext, where: { dataset: string; rows: number }): GateResult {
  const value = cand.values[m.name];
  const stableValue = stable ? stable.values[m.name] : null;
  const numbers: GateResult['numbers'] = {
    metric: m.name,
    dataset: where.dataset,
    rows: where.rows,
    labelledRows: cand.labelledRows,
    candidate: value,
    candidateVersion: ctx.candidate.version,
    stable: stableValue,
    stableVersion: ctx.stable?.version ?? null,
    delta: value !== null && stableValue !== null ? value - stableValue : null,
    min: m.min ?? null,
    max: m.max ?? null,
    maxDecrease: m.maxDecrease ?? null,
    maxIncrease: m.maxIncrease ?? null,
  };
  const on = `on ${where.dataset} (${cand.labelledRows} labelled row${plural(cand.labelledRows)} of ${where.rows})`;
  if (value === null) {
    return {
      gate: 'evaluation',
      passed: false,
      detail: `${m.name} of version ${ctx.candidate.version} could not be computed ${on} (no probabilities, one class only, or no labelled rows); pick another metric or another data set`,
      numbers,
    };
  }
  const failures: string[] = [];
  const passes: string[] = [];
  if (m.min !== undefined) (value >= m.min ? passes : failures).push(value >= m.min ? `meets the minimum ${fmt(m.min)}` : `is below the minimum ${fmt(m.min)}`);
  if (m.max !== undefined) (value <= m.max ? passes : failures).push(value <= m.max ? `meets the maximum ${fmt(m.max)}` : `is above the maximum ${fmt(m.max)}`);
  const relative = relativeVerdicts(m, value, stableValue, ctx);
  failures.push(...relative.failures);
  passes.push(...relative.passes);
  const subject = `${m.name} ${fmt(value)} of version ${ctx.candidate.version} ${on}`;
  if (failures.length > 0) {
    return { gate: 'evaluation', passed: false, detail: `${subject} ${failures.join(' and ')}; do not promote it until the model or the gate is fixed`, numbers };
  }
  return { gate: 'evaluation', passed: true, detail: `${subject} ${passes.join(' and ')}`, numbers };
}

/** maxDecrease / maxIncrease against the stable version; with no stable version there is nothing to regress from. */
function relativeVerdicts(m: MetricGate, value: number, stableValue: number | null, ctx: GateContext): { failures: string[]; passes: string[] } {
  const out = { failures: [] as string[], passes: [] as string[] };
  if (m.maxDecrease === undefined && m.maxIncrease === undefined) return out;
  if (!ctx.stable) {
    out.passes.push('has no stable version to be compared with');
    return out;
  }
  if (stableValue === null) {
    out.failures.push(`cannot be compared with stable version ${ctx.stable.version}, whose ${m.name} could not be computed`);
    return out;
  }
  const delta = value - stableValue;
  const vs = `stable version ${ctx.stable.version}'s ${fmt(stableValue)} (change ${delta >= 0 ? '+' : ''}${fmt(delta)})`;
  if (m.maxDecrease !== undefined) {
    if (delta >= -m.maxDecrease) out.passes.push(`is within the allowed decrease ${fmt(m.maxDecrease)} of ${vs}`);
    else out.failures.push(`falls more than the allowed ${fmt(m.maxDecrease)} below ${vs}`);
  }
  if (m.maxIncrease !== undefined) {
    if (delta <= m.maxIncrease) out.passes.push(`is within the allowed increase ${fmt(m.maxIncrease)} of ${vs}`);
    else out.failures.push(`rises more than the allowed ${fmt(m.maxIncrease)} above ${vs}`);
  }
  return out;
}

// --- latency ---------------------------------------------------------------------------------

/**
 * Single-row requests against the candidate as served, `concurrency` in flight. The first
 * LATENCY_WARMUP_REQUESTS are sent but not counted; `requests` are measured after them.
 */
async function latencyGate(spec: NonNullable<GateSpec['latency']>, ctx: GateContext, table: Table | null): Promise<GateResult> {
  const v = ctx.candidate;
  const requests = spec.requests ?? DEFAULT_LATENCY_REQUESTS;
  const concurrency = spec.concurrency ?? DEFAULT_LATENCY_CONCURRENCY;
  const budget = { p50Ms: spec.p50Ms ?? null, p99Ms: spec.p99Ms ?? null, requests, concurrency, warmupRequests: LATENCY_WARMUP_REQUESTS };
  if (!ctx.runCandidate) {
    return {
      gate: 'latency',
      passed: false,
      detail: `version ${v.version}'s latency could not be measured: no way to run the loaded candidate was given; load it for serving and pass runCandidate`,
      numbers: { ...budget, p50: null, p99: null },
    };
  }
  const inputs = table ? tableToInputs(sliceTable(table, 0, 1), v.signature, schemaOf(v)) : syntheticRow(v.signature);
  let times: number[];
  try {
    times = await measureLatencies(ctx.runCandidate, inputs, LATENCY_WARMUP_REQUESTS + requests, concurrency);
  } catch (err) {
    return {
      gate: 'latency',
      passed: false,
      detail: `version ${v.version} failed a latency request (${err instanceof Error ? err.message : String(err)}); fix the model before rolling it out`,
      numbers: { ...budget, p50: null, p99: null },
    };
  }
  const measured = times.slice(LATENCY_WARMUP_REQUESTS).sort((a, b) => a - b);
  const p50 = percentile(measured, 0.5);
  const p99 = percentile(measured, 0.99);
  const over: string[] = [];
  if (spec.p50Ms !== undefined && p50 > spec.p50Ms) over.push(`p50 ${ms(p50)} exceeds the budget ${ms(spec.p50Ms)}`);
  if (spec.p99Ms !== undefined && p99 > spec.p99Ms) over.push(`p99 ${ms(p99)} exceeds the budget ${ms(spec.p99Ms)}`);
  const run = `over ${requests} single-row requests, ${concurrency} in flight`;
  const numbers = { ...budget, p50, p99 };
  if (over.length > 0) {
    return { gate: 'latency', passed: false, detail: `version ${v.version}: ${over.join(' and ')} ${run}; make the model faster (smaller, quantised) or raise the budget`, numbers };
  }
  const limits = [spec.p50Ms !== undefined ? `p50 ≤ ${ms(spec.p50Ms)}` : null, spec.p99Ms !== undefined ? `p99 ≤ ${ms(spec.p99Ms)}` : null].filter((x) => x !== null);
  return {
    gate: 'latency',
    passed: true,
    detail: `version ${v.version}: p50 ${ms(p50)} and p99 ${ms(p99)} ${run}${limits.length > 0 ? `, within the budget ${limits.join(', ')}` : ' (no budget set)'}`,
    numbers,
  };
}

/** Wall-clock milliseconds of each of `total` runs, in the order they were started. */
async function measureLatencies(run: (inputs: Tensor[]) => Promise<unknown>, inputs: Tensor[], total: number, concurrency: number): Promise<number[]> {
  const times = new Array<number>(total);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const t0 = performance.now();
      await run(inputs);
      times[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return times;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * One row of inputs when no data set is at hand: zeros shaped like the signature (dynamic
 * dimensions 1), or the first value the input accepts where zero would be refused.
 */
function syntheticRow(sig: Signature): Tensor[] {
  return sig.inputs.map((spec) => {
    const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
    const n = shape.reduce((a, b) => a * b, 1);
    const data = allocateData(spec.datatype, n);
    if (Array.isArray(data)) data.fill(spec.vocabulary?.[0] ?? '');
    else if (spec.validRange && spec.validRange[0] > 0) {
      if (data instanceof BigInt64Array || data instanceof BigUint64Array) data.fill(BigInt(spec.validRange[0]));
      else data.fill(spec.validRange[0]);
    }
    return { name: spec.name, datatype: spec.datatype, shape, data };
  });
}

// --- wording ---------------------------------------------------------------------------------

/** Four significant digits: enough to compare with a card's metrics, short enough to read. */
function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

function ms(x: number): string {
  return `${fmt(x)} ms`;
}

function bytes(n: number): string {
  return `${n} bytes`;
}

function plural(n: number): string {
  return n === 1 ? '' : 's';
}

function preview(names: readonly string[]): string {
  const shown = names.slice(0, 8).map((n) => `"${n}"`).join(', ');
  return names.length > 8 ? `${shown} and ${names.length - 8} more` : shown;
}

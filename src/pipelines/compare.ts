/**
 * Compare a candidate's evaluation with the champion's on the same data, under gates: limits on how
 * much worse the candidate may be, or absolute floors and ceilings. Pure: two evaluations in, a
 * verdict with one row per metric and a reason per failed gate out; {@link comparisonMarkdown}
 * renders it for a pull-request comment.
 *
 * Gate grammar (the CLI's `--gate`, and strings in a pipeline's `compare` step):
 *
 * ```
 * gate    = metric ":-" number "pt"    max drop, in points (metrics where higher is better)
 *         | metric ":+" number "%"     max rise, in percent of the champion (metrics where lower is better)
 *         | metric ">=" number         floor on the candidate's value
 *         | metric "<=" number         ceiling on the candidate's value
 * metric  = one of METRIC_NAMES (accuracy, roc_auc, f1, …, rmse, mae, r2, log_loss)
 * ```
 *
 * A point is 0.01 of a metric read on a 0–1 scale (accuracy, AUC, F1, precision, recall; R² too).
 *
 * @example
 * const c = compareEvaluations(candidate, champion, [parseGate('accuracy:-0.5pt'), parseGate('roc_auc>=0.75')]);
 * if (!c.passed) console.log(c.reasons.join('\n'));
 */
import { BerthError } from '../core/index.js';
import type { EvaluatedDataset, EvaluatedModelInfo, Evaluation } from './evaluate.js';
import { HEADLINE_METRICS, METRICS, METRIC_NAMES, isMetricName, type EvaluatedTask, type MetricName } from './metrics.js';

/**
 * One gate on one metric: every threshold it carries must hold. `maxDrop` is in points and applies to
 * metrics where higher is better; `maxRise` is in percent of the champion's value and applies to
 * metrics where lower is better; `min` and `max` bound the candidate's own value.
 */
export interface Gate {
  metric: MetricName;
  maxDrop?: number;
  maxRise?: number;
  min?: number;
  max?: number;
}

/** The drop, in points, a metric where higher is better may take when no gates are given. */
export const DEFAULT_MAX_DROP_POINTS = 0.5;
/** The rise, in percent, an error metric may take when no gates are given. */
export const DEFAULT_MAX_RISE_PERCENT = 0.5;
/** one point of a metric read on a 0–1 scale */
const POINT = 0.01;
/** float noise allowed at a limit: a candidate equal to the champion always passes */
const EPSILON = 1e-12;

/** One metric of a comparison. */
export interface ComparisonRow {
  metric: MetricName;
  candidate: number | null;
  champion: number | null;
  /** candidate − champion */
  delta: number | null;
  /** the gate's thresholds in words (`≥ −0.5 pt`), null when no gate covers the metric */
  limit: string | null;
  /** true when every threshold holds (and for a metric no gate covers) */
  passed: boolean;
}

/** The verdict of a comparison. */
export interface Comparison {
  passed: boolean;
  rows: ComparisonRow[];
  /** one sentence per failed gate */
  reasons: string[];
  /** the gates applied (the defaults when none were given) */
  gates: Gate[];
  task: EvaluatedTask;
  candidate: EvaluatedModelInfo;
  champion: EvaluatedModelInfo;
  /** the data both were evaluated on */
  datasets: EvaluatedDataset[];
  labelColumn: string;
  labelledRows: number;
}

// ---------------------------------------------------------------------------------------------
// parsing

const GATE_KEYS = ['metric', 'maxDrop', 'maxRise', 'min', 'max'] as const;
const NUMBER = '([0-9]+(?:\\.[0-9]+)?|\\.[0-9]+)';
const SIGNED_NUMBER = '([+-]?(?:[0-9]+(?:\\.[0-9]+)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?)';
const DROP_RE = new RegExp(`^([a-z0-9_]+)\\s*:\\s*-\\s*${NUMBER}\\s*pt$`, 'i');
const RISE_RE = new RegExp(`^([a-z0-9_]+)\\s*:\\s*\\+\\s*${NUMBER}\\s*%$`, 'i');
const BOUND_RE = new RegExp(`^([a-z0-9_]+)\\s*(>=|<=)\\s*${SIGNED_NUMBER}$`, 'i');

/** The gate grammar in one line, for messages and help. */
export const GATE_SYNTAX = 'METRIC:-Npt (max drop in points), METRIC:+N% (max rise in percent), METRIC>=X (floor) or METRIC<=X (ceiling)';

interface Problem {
  field: string;
  expected: string;
  got: unknown;
}

/**
 * Parse one gate written as text: `accuracy:-0.5pt`, `rmse:+2%`, `roc_auc>=0.75`, `log_loss<=0.4`.
 *
 * @throws BerthError INVALID_ARGUMENT naming `field`, with the grammar or the known metrics
 */
export function parseGate(text: string, field = 'gate'): Gate {
  const problems: Problem[] = [];
  const gate = gateFromText(text, field, problems);
  if (gate === undefined || problems.length > 0) throw gateError(problems);
  return gate;
}

/**
 * Parse a list of gates as a pipeline's YAML gives them: strings in the grammar of {@link parseGate},
 * or objects `{ metric, maxDrop?, maxRise?, min?, max? }`. Every problem is reported at once.
 *
 * @example
 * parseGates(['accuracy:-0.5pt', { metric: 'roc_auc', min: 0.75 }], 'steps[2].gates')
 * @throws BerthError INVALID_ARGUMENT naming the first wrong field (`gates[1].maxDrop`), the others in `context.problems`
 */
export function parseGates(raw: unknown, field = 'gates'): Gate[] {
  if (raw === undefined || raw === null) return [];
  const items = Array.isArray(raw) ? raw : [raw];
  const problems: Problem[] = [];
  const gates: Gate[] = [];
  items.forEach((item, i) => {
    const at = Array.isArray(raw) ? `${field}[${i}]` : field;
    const gate = typeof item === 'string' ? gateFromText(item, at, problems) : gateFromObject(item, at, problems);
    if (gate !== undefined) gates.push(gate);
  });
  if (problems.length > 0) throw gateError(problems);
  return gates;
}

function gateFromText(text: string, field: string, problems: Problem[]): Gate | undefined {
  const t = text.trim();
  let m = DROP_RE.exec(t);
  if (m !== null) return checked({ metric: m[1]!.toLowerCase(), maxDrop: Number(m[2]) }, field, text, problems);
  m = RISE_RE.exec(t);
  if (m !== null) return checked({ metric: m[1]!.toLowerCase(), maxRise: Number(m[2]) }, field, text, problems);
  m = BOUND_RE.exec(t);
  if (m !== null) {
    const value = Number(m[3]);
    return checked({ metric: m[1]!.toLowerCase(), ...(m[2] === '>=' ? { min: value } : { max: value }) }, field, text, problems);
  }
  const metric = /^\s*([a-z0-9_]+)/i.exec(t)?.[1];
  if (metric !== undefined && !isMetricName(metric.toLowerCase()) && /^[a-z0-9_]+\s*(:|>=|<=)/i.test(t)) {
    problems.push({ field, expected: `a known metric: ${METRIC_NAMES.join(', ')}`, got: metric });
    return undefined;
  }
  problems.push({ field, expected: `a gate like accuracy:-0.5pt, rmse:+2%, roc_auc>=0.75 or log_loss<=0.4 (${GATE_SYNTAX})`, got: text });
  return undefined;
}

function gateFromObject(raw: unknown, field: string, problems: Problem[]): Gate | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push({ field, expected: `a gate: text (${GATE_SYNTAX}) or a mapping { metric, maxDrop?, maxRise?, min?, max? }`, got: raw });
    return undefined;
  }
  const o = raw as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(GATE_KEYS as readonly string[]).includes(key)) problems.push({ field: `${field}.${key}`, expected: `one of ${GATE_KEYS.join(', ')} (unknown field)`, got: o[key] });
  }
  const gate: { metric: unknown; maxDrop?: number; maxRise?: number; min?: number; max?: number } = { metric: o['metric'] };
  for (const key of ['maxDrop', 'maxRise', 'min', 'max'] as const) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    const nonNegative = key === 'maxDrop' || key === 'maxRise';
    if (typeof v !== 'number' || !Number.isFinite(v) || (nonNegative && v < 0)) {
      problems.push({ field: `${field}.${key}`, expected: nonNegative ? `a number ≥ 0 (${key === 'maxDrop' ? 'points' : 'percent'})` : 'a finite number', got: v });
      continue;
    }
    gate[key] = v;
  }
  const given = (['maxDrop', 'maxRise', 'min', 'max'] as const).some((k) => o[k] !== undefined && o[k] !== null);
  // a threshold given but wrong is reported as such, not as a missing one as well
  if (given && gate.maxDrop === undefined && gate.maxRise === undefined && gate.min === undefined && gate.max === undefined) return undefined;
  return checked(gate, field, raw, problems, true);
}

/** Check a gate's metric and that its thresholds fit the metric; records problems. */
function checked(
  g: { metric: unknown; maxDrop?: number; maxRise?: number; min?: number; max?: number },
  field: string,
  source: unknown,
  problems: Problem[],
  object = false,
): Gate | undefined {
  const before = problems.length;
  const metric = typeof g.metric === 'string' ? g.metric : undefined;
  if (!isMetricName(metric)) {
    problems.push({
      field: object ? `${field}.metric` : field,
      expected: `a known metric: ${METRIC_NAMES.join(', ')}`,
      got: g.metric,
    });
    return undefined;
  }
  const info = METRICS[metric];
  if (g.maxDrop !== undefined && info.better !== 'higher') {
    problems.push({
      field: object ? `${field}.maxDrop` : field,
      expected: `a max rise for ${metric}, where lower is better (${object ? 'maxRise: 2' : `${metric}:+2%`}); a max drop in points fits metrics where higher is better`,
      got: source,
    });
  }
  if (g.maxRise !== undefined && info.better !== 'lower') {
    problems.push({
      field: object ? `${field}.maxRise` : field,
      expected: `a max drop for ${metric}, where higher is better (${object ? 'maxDrop: 0.5' : `${metric}:-0.5pt`}); a max rise in percent fits error metrics`,
      got: source,
    });
  }
  if (g.min !== undefined && g.max !== undefined && g.min > g.max) {
    problems.push({ field: `${field}.min`, expected: `a floor no higher than the ceiling ${g.max}`, got: g.min });
  }
  if (g.maxDrop === undefined && g.maxRise === undefined && g.min === undefined && g.max === undefined && problems.length === before) {
    problems.push({ field, expected: 'at least one of maxDrop, maxRise, min, max', got: source });
  }
  if (problems.length > before) return undefined;
  const gate: Gate = { metric };
  if (g.maxDrop !== undefined) gate.maxDrop = g.maxDrop;
  if (g.maxRise !== undefined) gate.maxRise = g.maxRise;
  if (g.min !== undefined) gate.min = g.min;
  if (g.max !== undefined) gate.max = g.max;
  return gate;
}

function gateError(problems: Problem[]): BerthError {
  const first = problems[0]!;
  const lines = problems.map((p) => `${p.field}: expected ${p.expected}, got ${formatGot(p.got)}`);
  return new BerthError('INVALID_ARGUMENT', lines.length === 1 ? lines[0]! : `invalid gates:\n  ${lines.join('\n  ')}`, {
    field: first.field, expected: first.expected, got: first.got, problems,
  });
}

function formatGot(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** The gate as the text {@link parseGate} reads (thresholds joined with `, `, one per line of text). */
export function gateText(g: Gate): string {
  const parts: string[] = [];
  if (g.maxDrop !== undefined) parts.push(`${g.metric}:-${g.maxDrop}pt`);
  if (g.maxRise !== undefined) parts.push(`${g.metric}:+${g.maxRise}%`);
  if (g.min !== undefined) parts.push(`${g.metric}>=${g.min}`);
  if (g.max !== undefined) parts.push(`${g.metric}<=${g.max}`);
  return parts.join(', ');
}

/** The gates used when none are given: no headline metric worse than the champion's beyond the default allowance. */
export function defaultGates(headline: readonly MetricName[]): Gate[] {
  return headline.map((metric) =>
    METRICS[metric].better === 'higher' ? { metric, maxDrop: DEFAULT_MAX_DROP_POINTS } : { metric, maxRise: DEFAULT_MAX_RISE_PERCENT },
  );
}

// ---------------------------------------------------------------------------------------------
// comparing

/**
 * Judge the candidate against the champion. Without `gates` (or with an empty list) the defaults
 * apply to the task's headline metrics ({@link HEADLINE_METRICS}) that either side has: a drop of at most 0.5 points where higher is better, a
 * rise of at most 0.5 % for errors. Given gates replace the defaults. Every metric either side has is a
 * row; only gated rows can fail.
 *
 * @throws BerthError INVALID_ARGUMENT when the two were evaluated on different data or are of
 *   different tasks, or a gate names a metric the task does not have
 */
export function compareEvaluations(candidate: Evaluation, champion: Evaluation, gates?: readonly Gate[]): Comparison {
  if (candidate.task !== champion.task) {
    throw new BerthError('INVALID_ARGUMENT', `the candidate is a ${candidate.task} model and the champion a ${champion.task} model; only models of one task can be compared; compare the candidate with a version of the same kind`, {
      field: 'task', expected: champion.task, got: candidate.task,
    });
  }
  const sameData = candidate.labelColumn === champion.labelColumn &&
    candidate.datasets.length === champion.datasets.length &&
    candidate.datasets.every((d, i) => d.sha256 === champion.datasets[i]!.sha256);
  if (!sameData) {
    const list = (e: Evaluation): string => `${e.datasets.map((d) => `${d.path} (${d.sha256.slice(0, 12)})`).join(', ')}, label ${e.labelColumn}`;
    throw new BerthError('INVALID_ARGUMENT', `the candidate and the champion were evaluated on different data (candidate: ${list(candidate)}; champion: ${list(champion)}); evaluate both on the same datasets and label column`, {
      field: 'datasets', expected: champion.datasets.map((d) => d.sha256), got: candidate.datasets.map((d) => d.sha256),
    });
  }
  const task = candidate.task;
  // a headline metric either side has: one the candidate lost fails its gate instead of going unjudged
  const headline = HEADLINE_METRICS[task].filter((m) => valueOf(candidate, m) !== null || valueOf(champion, m) !== null);
  const applied = gates !== undefined && gates.length > 0 ? [...gates] : defaultGates(headline);
  applied.forEach((g, i) => {
    const known = METRIC_NAMES.filter((m) => (METRICS[m].tasks as readonly string[]).includes(task));
    if (!known.includes(g.metric)) {
      throw new BerthError('INVALID_ARGUMENT', `gate ${gateText(g)}: ${g.metric} is not computed for a ${task} model; expected one of ${known.join(', ')}`, {
        field: `gates[${i}].metric`, expected: known, got: g.metric,
      });
    }
  });

  // headline first, then other gated metrics, then everything else either side has
  const order: MetricName[] = [];
  const add = (m: string): void => {
    if (isMetricName(m) && !order.includes(m)) order.push(m);
  };
  headline.forEach(add);
  applied.forEach((g) => add(g.metric));
  Object.keys(candidate.metrics).forEach(add);
  Object.keys(champion.metrics).forEach(add);

  const reasons: string[] = [];
  const rows = order.map((metric): ComparisonRow => {
    const cand = valueOf(candidate, metric);
    const champ = valueOf(champion, metric);
    const mine = applied.filter((g) => g.metric === metric);
    let passed = true;
    for (const g of mine) {
      for (const failure of judge(g, cand, champ)) {
        passed = false;
        reasons.push(failure);
      }
    }
    return {
      metric,
      candidate: cand,
      champion: champ,
      delta: cand !== null && champ !== null ? cand - champ : null,
      limit: mine.length > 0 ? mine.map(limitText).join(', ') : null,
      passed,
    };
  });
  return {
    passed: reasons.length === 0,
    rows,
    reasons,
    gates: applied,
    task,
    candidate: candidate.model,
    champion: champion.model,
    datasets: candidate.datasets,
    labelColumn: candidate.labelColumn,
    labelledRows: candidate.labelledRows,
  };
}

function valueOf(e: Evaluation, metric: MetricName): number | null {
  const v = e.metrics[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Each threshold of the gate that fails, as a sentence. */
function judge(g: Gate, cand: number | null, champ: number | null): string[] {
  const m = g.metric;
  if (cand === null) return [`${m}: the candidate has no ${m} on this data (one class only, or no probabilities), so gate ${gateText(g)} cannot pass`];
  const out: string[] = [];
  if (g.min !== undefined && cand < g.min - EPSILON) out.push(`${m} ${fmt(cand)} is below the floor ${g.min}`);
  if (g.max !== undefined && cand > g.max + EPSILON) out.push(`${m} ${fmt(cand)} is above the ceiling ${g.max}`);
  if (g.maxDrop !== undefined || g.maxRise !== undefined) {
    if (champ === null) {
      out.push(`${m}: the champion has no ${m} on this data, so the candidate cannot be compared with it`);
      return out;
    }
    if (g.maxDrop !== undefined) {
      const drop = (champ - cand) / POINT;
      if (drop > g.maxDrop + EPSILON / POINT) out.push(`${m} fell by ${drop.toFixed(2)} pt (${fmt(champ)} → ${fmt(cand)}), more than the ${g.maxDrop} pt allowed`);
    }
    if (g.maxRise !== undefined) {
      const rise = relativeChange(cand, champ);
      if (rise > g.maxRise + EPSILON) {
        out.push(`${m} rose by ${Number.isFinite(rise) ? `${rise.toFixed(2)} %` : 'an unbounded share'} (${fmt(champ)} → ${fmt(cand)}), more than the ${g.maxRise} % allowed`);
      }
    }
  }
  return out;
}

/** (candidate − champion) / |champion| in percent; a rise from 0 is infinite. */
function relativeChange(cand: number, champ: number): number {
  if (champ === 0) return cand > EPSILON ? Infinity : cand < -EPSILON ? -Infinity : 0;
  return ((cand - champ) / Math.abs(champ)) * 100;
}

function limitText(g: Gate): string {
  const parts: string[] = [];
  if (g.maxDrop !== undefined) parts.push(`−${g.maxDrop} pt at most`);
  if (g.maxRise !== undefined) parts.push(`+${g.maxRise} % at most`);
  if (g.min !== undefined) parts.push(`≥ ${g.min}`);
  if (g.max !== undefined) parts.push(`≤ ${g.max}`);
  return parts.join(', ');
}

/** A metric value with 4 decimals (as the fixtures' cards round them); large errors with fewer. */
function fmt(v: number): string {
  if (Math.abs(v) >= 1000) return v.toFixed(1);
  return v.toFixed(4);
}

/** How the row changed, in the unit its gates use: points, or percent of the champion. */
export function changeText(row: Pick<ComparisonRow, 'metric' | 'candidate' | 'champion'>): string {
  if (row.candidate === null || row.champion === null) return '—';
  if (METRICS[row.metric].scale === 'points') {
    const pt = (row.candidate - row.champion) / POINT;
    return `${signed(pt, 2)} pt`;
  }
  const pct = relativeChange(row.candidate, row.champion);
  return Number.isFinite(pct) ? `${signed(pct, 2)} %` : pct > 0 ? '+∞ %' : '−∞ %';
}

function signed(v: number, digits: number): string {
  const t = Math.abs(v).toFixed(digits);
  if (Number(t) === 0) return `±${t}`;
  return v > 0 ? `+${t}` : `−${t}`;
}

// ---------------------------------------------------------------------------------------------
// Markdown

/** Options of {@link comparisonMarkdown}. */
export interface ComparisonMarkdownOptions {
  /** the heading (default `Berth model check`) */
  title?: string;
  /** what to call the candidate and the champion (default: their refs, files or names) */
  candidateLabel?: string;
  championLabel?: string;
  /** seconds both evaluations took, for the footer */
  seconds?: number;
}

/**
 * A Markdown summary for a pull-request comment: the verdict with ✅ or ❌, a table of every metric
 * (champion, candidate, change, gate, result), why it failed, the datasets with their sha256
 * prefixes, and the two models.
 */
export function comparisonMarkdown(c: Comparison, opts: ComparisonMarkdownOptions = {}): string {
  const cand = opts.candidateLabel ?? modelLabel(c.candidate);
  const champ = opts.championLabel ?? modelLabel(c.champion);
  const failed = c.rows.filter((r) => !r.passed).length;
  const gated = c.rows.filter((r) => r.limit !== null).length;
  const lines: string[] = [];
  lines.push(`### ${opts.title ?? 'Berth model check'}`, '');
  lines.push(
    c.passed
      ? `✅ **Passed**: candidate ${code(cand)} meets all ${gated} gate${gated === 1 ? '' : 's'} against champion ${code(champ)}.`
      : `❌ **Failed**: candidate ${code(cand)} fails ${failed} of ${gated} gate${gated === 1 ? '' : 's'} against champion ${code(champ)}.`,
    '',
  );
  lines.push('| metric | champion | candidate | change | gate | result |', '| --- | ---: | ---: | ---: | --- | :---: |');
  for (const r of c.rows) {
    const result = r.limit === null ? '' : r.passed ? '✅' : '❌';
    lines.push(`| ${r.metric} | ${r.champion === null ? '—' : fmt(r.champion)} | ${r.candidate === null ? '—' : fmt(r.candidate)} | ${changeText(r)} | ${cell(r.limit ?? '')} | ${result} |`);
  }
  lines.push('');
  if (c.reasons.length > 0) {
    lines.push('**Why it failed**', '');
    for (const reason of c.reasons) lines.push(`- ${cell(reason)}`);
    lines.push('');
  }
  lines.push(`**Data** (${c.task}, label column ${code(c.labelColumn)}, ${c.labelledRows.toLocaleString('en-US')} labelled rows):`, '');
  for (const d of c.datasets) {
    lines.push(`- ${code(d.path)}: ${d.rows.toLocaleString('en-US')} rows, ${d.labelledRows.toLocaleString('en-US')} labelled, sha256 ${code(d.sha256.slice(0, 12))}`);
  }
  lines.push('', '**Models**:', '');
  lines.push(`- candidate ${code(cand)}: ${modelDetail(c.candidate)}`);
  lines.push(`- champion ${code(champ)}: ${modelDetail(c.champion)}`);
  lines.push('');
  const gates = c.gates.map(gateText).join(', ');
  lines.push(`<sub>berth ci check · gates: ${cell(gates)}${opts.seconds !== undefined ? ` · ${opts.seconds.toFixed(1)} s` : ''}</sub>`, '');
  return lines.join('\n');
}

function modelLabel(m: EvaluatedModelInfo): string {
  if (m.ref !== undefined) return m.ref;
  if (m.file !== undefined) return m.name !== undefined ? `${m.name} (${m.file})` : m.file;
  return m.name ?? m.sha256.slice(0, 12);
}

function modelDetail(m: EvaluatedModelInfo): string {
  const parts: string[] = [];
  if (m.name !== undefined && m.version !== undefined) parts.push(`${m.name} version ${m.version}`);
  else if (m.file !== undefined) parts.push('unregistered file');
  parts.push(`sha256 ${code(m.sha256.slice(0, 12))}`);
  return parts.join(', ');
}

/** Inline code that survives any backticks in the text. */
function code(text: string): string {
  const fence = text.includes('`') ? '``' : '`';
  return `${fence}${fence === '``' ? ` ${text} ` : text}${fence}`;
}

/** Text safe inside a table cell or list item. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

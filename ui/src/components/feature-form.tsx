import type { JSX } from 'react';
import type { SignatureTensor } from '../../../sdk/types.js';
import { breakable } from './contributions.js';

/**
 * A form generated from a version's signature and card: one field per named feature (numbers as
 * text fields parsed strictly, categories as a select of the vocabulary), with the card's valid
 * range and the reference data's training range as hints. Without feature names it falls back to
 * one field per element of a single small input (sent as `instances`), or to JSON only.
 *
 * The form never coerces: an empty or unparsable field is an error shown beside it, not a 0.
 */

/** A column of `GET /v1/models/{name}/versions/{v}/reference` (the reference profile drawn as histograms). */
export interface ReferenceColumnView {
  name: string;
  kind: 'numeric' | 'categorical';
  role: 'feature' | 'prediction';
  count: number;
  missing: number;
  min?: number | null;
  max?: number | null;
  mean?: number | null;
  discrete?: boolean;
  histogram: { labels: string[]; edges: number[]; shares: number[] };
  /** quantiles x at q = 0, 0.02, …, 1 */
  cdf?: { q: number[]; x: number[] };
}

export interface ReferenceView {
  model: string;
  version: number;
  rows: number;
  source: string | null;
  createdAt: string;
  columns: ReferenceColumnView[];
}

export type FieldKind = 'number' | 'integer' | 'category' | 'id-category' | 'text' | 'boolean';

export interface FeatureField {
  /** the feature's name (rows) or `input[i]` (instances) */
  key: string;
  input: string;
  datatype: string;
  kind: FieldKind;
  /** a select's choices: the vocabulary (strings, or ids with their names) */
  options?: { value: string; label: string }[];
  /** the card's valid range (integer inputs): values outside are refused */
  valid?: readonly [number, number];
  /** what the reference (training) data holds: a hint, not a limit */
  training?: { min: number; max: number; median: number; integral: boolean; cdf: { q: number[]; x: number[] } };
  /** the reference's categories, most frequent first, with their shares */
  frequent?: { label: string; share: number }[];
  /** float inputs: `null` (a missing value) is allowed */
  allowMissing: boolean;
}

export interface FormPlan {
  /** rows: named features; instances: one input's elements in order; json: only a JSON instance can be sent */
  kind: 'rows' | 'instances' | 'json';
  fields: FeatureField[];
  /** the input of an `instances` plan */
  input?: string;
  /** why there is no form (json plans) */
  why?: string;
  /** a starting JSON document for the JSON editor of a json plan */
  template?: unknown;
}

/** The most elements of one input shown as separate fields when the card names none. */
const MAX_UNNAMED_FIELDS = 256;

const FLOATS = new Set(['FP16', 'FP32', 'FP64', 'BF16']);
const INTEGERS = new Set(['INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);

/** The form a version's signature (and its reference profile, when there is one) calls for. */
export function planForm(inputs: readonly SignatureTensor[], reference: ReferenceView | null): FormPlan {
  const refs = new Map((reference?.columns ?? []).filter((c) => c.role === 'feature').map((c) => [c.name, c]));
  if (inputs.length > 0 && inputs.every((t) => (t.featureNames?.length ?? 0) > 0)) {
    return { kind: 'rows', fields: inputs.flatMap((t) => t.featureNames!.map((f) => fieldOf(f, t, refs.get(f)))) };
  }
  const only = inputs.length === 1 ? inputs[0]! : null;
  const trailing = only ? only.shape.slice(1) : [];
  const width = trailing.reduce((a, b) => a * b, 1);
  if (only && trailing.every((d) => d > 0) && width <= MAX_UNNAMED_FIELDS && (FLOATS.has(only.datatype) || INTEGERS.has(only.datatype) || only.datatype === 'BYTES' || only.datatype === 'BOOL')) {
    return { kind: 'instances', input: only.name, fields: Array.from({ length: width }, (_, i) => fieldOf(`${only.name}[${i}]`, only, undefined)) };
  }
  const template = inputs.length === 1 ? zeros(inputs[0]!) : Object.fromEntries(inputs.map((t) => [t.name, zeros(t)]));
  const why = only
    ? `the card names no features of input "${only.name}" (shape [${only.shape.join(', ')}]), and it is too large or too deep for a form`
    : 'the card does not name the features of every input';
  return { kind: 'json', fields: [], why, template };
}

function fieldOf(key: string, t: SignatureTensor, ref: ReferenceColumnView | undefined): FeatureField {
  const base = { key, input: t.name, datatype: t.datatype, allowMissing: FLOATS.has(t.datatype) && t.allowNonFinite !== false };
  const frequent = ref?.kind === 'categorical' ? ref.histogram.labels.map((label, i) => ({ label, share: ref.histogram.shares[i] ?? 0 })).filter((c) => c.label !== '(other)') : undefined;
  if (t.datatype === 'BYTES') {
    if (t.vocabulary && t.vocabulary.length > 0) return { ...base, kind: 'category', options: t.vocabulary.map((v) => ({ value: v, label: v })), ...(frequent ? { frequent } : {}) };
    return { ...base, kind: 'text', ...(frequent ? { frequent } : {}) };
  }
  if (t.datatype === 'BOOL') return { ...base, kind: 'boolean', options: [{ value: 'false', label: 'false' }, { value: 'true', label: 'true' }] };
  const training = trainingOf(ref);
  if (INTEGERS.has(t.datatype)) {
    if (t.vocabulary && t.vocabulary.length > 0) {
      const lo = t.validRange?.[0] ?? 0;
      const hi = t.validRange?.[1] ?? t.vocabulary.length - 1;
      const options = t.vocabulary.map((name, id) => ({ value: String(id), label: `${name} (${id})` })).filter((o) => Number(o.value) >= lo && Number(o.value) <= hi);
      return { ...base, kind: 'id-category', options, valid: [lo, hi], ...(training ? { training } : {}) };
    }
    return { ...base, kind: 'integer', ...(t.validRange ? { valid: t.validRange } : {}), ...(training ? { training } : {}) };
  }
  return { ...base, kind: 'number', ...(training ? { training } : {}) };
}

function trainingOf(ref: ReferenceColumnView | undefined): FeatureField['training'] | undefined {
  if (!ref || ref.kind !== 'numeric' || ref.min === null || ref.min === undefined || ref.max === null || ref.max === undefined || !ref.cdf || ref.cdf.x.length === 0) return undefined;
  const cdf = ref.cdf;
  let mid = 0;
  for (let i = 0; i < cdf.q.length; i++) if (Math.abs(cdf.q[i]! - 0.5) < Math.abs(cdf.q[mid]! - 0.5)) mid = i;
  return { min: ref.min, max: ref.max, median: cdf.x[mid]!, integral: cdf.x.every((x) => Number.isInteger(x)), cdf };
}

function zeros(t: SignatureTensor): unknown {
  const dims = t.shape.slice(1).map((d) => (d > 0 ? d : 1));
  const zero = t.datatype === 'BYTES' ? '' : t.datatype === 'BOOL' ? false : 0;
  const build = (i: number): unknown => (i === dims.length ? zero : Array.from({ length: dims[i]! }, () => build(i + 1)));
  return dims.length === 0 ? zero : build(0);
}

// ---------------------------------------------------------------------------------------------
// values: what is typed, what it means

export type FeatureValue = number | string | boolean | null;
export type Parsed = { ok: true; value: FeatureValue } | { ok: false; message: string };

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** What a field's text means, or why it means nothing (no field is ever silently read as 0). */
export function parseField(f: FeatureField, raw: string): Parsed {
  const s = raw.trim();
  switch (f.kind) {
    case 'category':
    case 'id-category':
    case 'boolean':
      if (s === '') return { ok: false, message: 'Pick a value.' };
      if (f.kind === 'boolean') return { ok: true, value: s === 'true' };
      return { ok: true, value: f.kind === 'id-category' ? Number(s) : s };
    case 'text':
      return { ok: true, value: raw };
    case 'number':
    case 'integer': {
      if (s === '') return { ok: false, message: f.allowMissing ? 'Enter a number (or null for a missing value).' : 'Enter a number.' };
      if (s === 'null') return f.allowMissing ? { ok: true, value: null } : { ok: false, message: 'A value is required here: this input does not accept missing values.' };
      if (!NUMBER.test(s)) return { ok: false, message: `"${s}" is not a number.` };
      const n = Number(s);
      if (!Number.isFinite(n)) return { ok: false, message: `${s} is too large.` };
      if (f.kind === 'integer' && !Number.isSafeInteger(n)) return { ok: false, message: `Enter a whole number (got ${s}).` };
      if (f.valid && (n < f.valid[0] || n > f.valid[1])) return { ok: false, message: `Must be from ${f.valid[0]} to ${f.valid[1]} (the card's valid range).` };
      return { ok: true, value: n };
    }
  }
}

/** A warning (not an error) about a value the model never saw in training. */
export function rangeWarning(f: FeatureField, v: FeatureValue): string | null {
  if (typeof v === 'number' && f.training && (v < f.training.min || v > f.training.max)) return 'Outside the training range: the model may extrapolate badly.';
  if (typeof v === 'string' && f.kind === 'text' && f.frequent && f.frequent.length > 0 && !f.frequent.some((c) => c.label === v)) return 'Not a category of the training data.';
  return null;
}

/** The field's value as text in the form. */
export function fieldText(f: FeatureField, v: FeatureValue | undefined): string {
  if (v === undefined) return '';
  if (v === null) return f.allowMissing ? 'null' : '';
  if (typeof v === 'number' && f.datatype === 'FP32') return float32Text(v);
  return String(v);
}

/** The shortest decimal that is the same float32 (a logged 4.909999847412109 is the 4.91 that was sent). */
export function float32Text(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const f = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const c = Number(v.toPrecision(p));
    if (Math.fround(c) === f) return String(c);
  }
  return String(v);
}

/** A sensible starting value: the reference's median or most frequent category, else the middle of the valid range, else the first choice. */
export function defaultText(f: FeatureField): string | null {
  if (f.training) return String(roundLike(f.training.median, f));
  const top = f.frequent?.[0];
  if (top) {
    const value = choiceOf(f, top.label);
    if (value !== null) return value;
  }
  if (f.valid) return String(Math.round((f.valid[0] + f.valid[1]) / 2));
  if (f.kind === 'boolean') return 'false';
  if (f.options && f.options.length > 0) return f.options[0]!.value;
  return null;
}

/** A random value the way the reference data is spread (its quantiles), else uniform over the valid range or the choices; null when nothing is known. */
export function randomText(f: FeatureField, rand: () => number = Math.random): string | null {
  if (f.training) {
    const { q, x } = f.training.cdf;
    const u = rand();
    let i = 1;
    while (i < q.length - 1 && q[i]! < u) i++;
    const q0 = q[i - 1]!;
    const q1 = q[i] ?? 1;
    const t = q1 > q0 ? (u - q0) / (q1 - q0) : 0;
    const v = x[i - 1]! + t * ((x[i] ?? x[i - 1]!) - x[i - 1]!);
    return String(roundLike(v, f));
  }
  if (f.valid) return String(f.valid[0] + Math.floor(rand() * (f.valid[1] - f.valid[0] + 1)));
  const seen = (f.frequent ?? []).map((c) => ({ value: choiceOf(f, c.label), share: c.share })).filter((c): c is { value: string; share: number } => c.value !== null);
  if (seen.length > 0) {
    const total = seen.reduce((s, c) => s + c.share, 0);
    let u = rand() * total;
    for (const c of seen) {
      u -= c.share;
      if (u <= 0) return c.value;
    }
    return seen[seen.length - 1]!.value;
  }
  if (f.options && f.options.length > 0) return f.options[Math.floor(rand() * f.options.length)]!.value;
  return null;
}

/** A reference category as the field's value: itself, or the id of an id-category whose name it is; null when it is not a choice. */
function choiceOf(f: FeatureField, label: string): string | null {
  if (f.options === undefined) return label;
  const o = f.options.find((x) => x.value === label || (f.kind === 'id-category' && x.label === `${label} (${x.value})`));
  return o ? o.value : null;
}

function roundLike(v: number, f: FeatureField): number {
  if (f.kind === 'integer' || f.training?.integral) return Math.round(v);
  return Number(v.toPrecision(4));
}

/** Whether a field's value is known at all beyond its type (a range or a set of choices). */
export function hasRange(f: FeatureField): boolean {
  return f.training !== undefined || f.valid !== undefined || (f.options?.length ?? 0) > 0;
}

// ---------------------------------------------------------------------------------------------
// the fields

export interface FieldState {
  error?: string | undefined;
  /** the server's message for this field (from a 400 naming it) */
  serverError?: string | undefined;
  warning?: string | null | undefined;
}

/** The fields of a plan, grouped into numbers and categories, each with its label, hint and problem. */
export function FeatureFields({
  plan,
  values,
  states,
  filter,
  onChange,
}: {
  plan: FormPlan;
  values: Record<string, string>;
  states: Record<string, FieldState>;
  filter: string;
  onChange: (key: string, text: string) => void;
}): JSX.Element {
  const numeric = plan.fields.filter((f) => f.kind === 'number' || f.kind === 'integer');
  const other = plan.fields.filter((f) => !(f.kind === 'number' || f.kind === 'integer'));
  const groups = [
    { title: 'Numeric features', fields: numeric },
    { title: 'Categorical features', fields: other },
  ].filter((g) => g.fields.length > 0);
  const needle = filter.trim().toLowerCase();
  return (
    <>
      {groups.map((g) => (
        <fieldset key={g.title} className="pg-group">
          <legend>
            {g.title} <span className="muted small">({g.fields.length})</span>
          </legend>
          <div className="pg-fields">
            {g.fields.map((f) => {
              const s = states[f.key] ?? {};
              const hidden = needle !== '' && !f.key.toLowerCase().includes(needle) && !s.error && !s.serverError;
              return <Field key={f.key} f={f} id={idOf(plan, f)} text={values[f.key] ?? ''} state={s} hidden={hidden} onChange={onChange} />;
            })}
          </div>
        </fieldset>
      ))}
    </>
  );
}

/** The id of a field's control (stable, and safe in a selector whatever the feature is called). */
export function idOf(plan: FormPlan, f: FeatureField): string {
  return `pg-field-${plan.fields.indexOf(f)}`;
}

function Field({ f, id, text, state, hidden, onChange }: { f: FeatureField; id: string; text: string; state: FieldState; hidden: boolean; onChange: (key: string, text: string) => void }): JSX.Element {
  const problem = state.serverError ?? state.error;
  const hint = hintOf(f);
  const describedBy = [hint ? `${id}-hint` : null, problem || state.warning ? `${id}-note` : null].filter((x) => x !== null).join(' ') || undefined;
  const common = {
    id,
    name: f.key,
    'aria-invalid': problem ? true : undefined,
    'aria-describedby': describedBy,
    'aria-required': f.kind === 'text' ? undefined : true,
  } as const;
  return (
    <div className="pg-field" hidden={hidden} data-field={f.key}>
      <label htmlFor={id}>{breakable(f.key)}</label>
      {f.options ? (
        <select {...common} value={text} onChange={(e) => onChange(f.key, e.target.value)}>
          {text === '' || !f.options.some((o) => o.value === text) ? <option value={text}>{text === '' ? '— pick one —' : `${text} (not in the vocabulary)`}</option> : null}
          {f.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      ) : (
        <input
          {...common}
          type="text"
          inputMode={f.kind === 'number' ? 'decimal' : f.kind === 'integer' ? 'numeric' : 'text'}
          autoComplete="off"
          spellCheck={false}
          value={text}
          onChange={(e) => onChange(f.key, e.target.value)}
        />
      )}
      {hint ? (
        <span id={`${id}-hint`} className="pg-hint">
          {hint}
        </span>
      ) : null}
      {problem ? (
        <span id={`${id}-note`} className="pg-err" data-testid="field-error">
          {problem}
        </span>
      ) : state.warning ? (
        <span id={`${id}-note`} className="pg-warn">
          {state.warning}
        </span>
      ) : null}
    </div>
  );
}

function hintOf(f: FeatureField): string | null {
  const parts: string[] = [];
  if (f.training) parts.push(`training range ${short(f.training.min)} – ${short(f.training.max)}, median ${short(f.training.median)}`);
  if (f.valid && f.kind === 'integer') parts.push(`valid ${f.valid[0]} – ${f.valid[1]}`);
  if (f.kind === 'category' && f.frequent && f.frequent[0]) parts.push(`most often ${f.frequent[0].label} (${Math.round(f.frequent[0].share * 100)}%)`);
  if (parts.length === 0 && (f.kind === 'number' || f.kind === 'integer')) parts.push(f.kind === 'integer' ? 'a whole number' : f.allowMissing ? 'a number, or null' : 'a number');
  return parts.length > 0 ? parts.join('; ') : null;
}

function short(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(4)));
}

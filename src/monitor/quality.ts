/**
 * Data quality of a window of traffic (or of any table) against the reference: per column the
 * share of missing values, of values outside the reference's range, of categories the reference
 * (or the card's vocabulary) never had, of values of the wrong type, and whether the column went
 * constant; and the share of requests the server refused (schema violations). Shares are weighted
 * by the inference log's sampling weights when given.
 */
import type { Column, Table } from '../data/index.js';
import { LOG_ERROR_FIELD, LOG_STATUS, LOG_WEIGHT } from './inference-log/segment.js';

/** What quality needs to know of a reference column (from its profile, and the card). */
export interface QualityColumnReference {
  name: string;
  kind: 'numeric' | 'categorical';
  /** share of missing values in the reference */
  missingShare: number;
  /** non-missing reference rows: a small reference's range is a rough guess, so more is tolerated beyond it */
  rows?: number;
  min?: number;
  max?: number;
  /** distinct values of the reference (null when more than its sketch counts exactly) */
  distinct?: number | null;
  /** the categories the reference has (categorical columns) */
  categories?: readonly string[];
  /** the card's vocabulary: when present it decides what is unknown */
  vocabulary?: readonly string[];
  /** the card's valid id range (integer inputs) */
  validRange?: readonly [number, number];
}

export interface QualityOptions {
  /** numeric values further than this share of the reference's range beyond its min/max are out of range */
  rangeMargin: number;
  /** missing share this far above the reference's is a finding */
  missingTolerance: number;
  /** out-of-range, unknown-category and type-error shares above this are findings */
  shareThreshold: number;
}

export const DEFAULT_QUALITY_OPTIONS: QualityOptions = { rangeMargin: 0.05, missingTolerance: 0.01, shareThreshold: 0.001 };

export type QualityCheck = 'missing_values' | 'out_of_range' | 'unknown_category' | 'type_error' | 'constant_column' | 'schema_violation';

export interface ShareOf {
  count: number;
  share: number;
}

export interface ColumnQuality {
  name: string;
  kind: 'numeric' | 'categorical';
  /** rows considered (weighted): answered requests only */
  rows: number;
  missing: ShareOf & { referenceShare: number };
  outOfRange?: ShareOf & { allowed: [number, number]; below: number; above: number; min: number | null; max: number | null };
  unknownCategories?: ShareOf & { top: { value: string; count: number }[] };
  typeErrors?: ShareOf & { examples: string[] };
  /** the column holds one value in this window while the reference had several */
  constant: boolean;
  findings: QualityCheck[];
}

export interface QualityReport {
  /** rows in the window (weighted), answered and refused */
  rows: number;
  rejected: ShareOf & { byField: Record<string, number>; byCode: Record<string, number> };
  columns: ColumnQuality[];
  findings: { column: string | null; check: QualityCheck; share: number }[];
  options: QualityOptions;
}

/** Analyse a table's data quality against reference columns (columns missing from the table count as all missing). */
export function analyzeQuality(table: Table, refs: readonly QualityColumnReference[], options: Partial<QualityOptions> = {}): QualityReport {
  const opts: QualityOptions = { ...DEFAULT_QUALITY_OPTIONS, ...options };
  const n = table.rows;
  const weightCol = numericValues(table, LOG_WEIGHT);
  const w = (i: number): number => (weightCol === null ? 1 : weightCol[i]!);
  // refused requests are not rows of data: they count towards schema violations only
  const statusCol = table.columns.find((c) => c.name === LOG_STATUS);
  const okMask = new Uint8Array(n).fill(1);
  const rejected = { count: 0, share: 0, byField: {} as Record<string, number>, byCode: {} as Record<string, number> };
  let total = 0;
  if (statusCol && statusCol.type === 'string') {
    const fieldCol = table.columns.find((c) => c.name === LOG_ERROR_FIELD);
    const okCode = statusCol.dictionary.indexOf('OK');
    for (let i = 0; i < n; i++) {
      const code = statusCol.codes[i]!;
      if (code === okCode || code < 0) continue;
      okMask[i] = 0;
      const wi = w(i);
      rejected.count += wi;
      const c = statusCol.dictionary[code]!;
      rejected.byCode[c] = (rejected.byCode[c] ?? 0) + wi;
      if (fieldCol && fieldCol.type === 'string' && fieldCol.codes[i]! >= 0) {
        const f = fieldCol.dictionary[fieldCol.codes[i]!]!;
        rejected.byField[f] = (rejected.byField[f] ?? 0) + wi;
      }
    }
  }
  let answered = 0;
  for (let i = 0; i < n; i++) {
    const wi = w(i);
    total += wi;
    if (okMask[i]) answered += wi;
  }
  rejected.share = total > 0 ? rejected.count / total : 0;

  const columns = refs.map((ref) => columnQuality(table.columns.find((c) => c.name === ref.name), ref, okMask, w, answered, opts));
  const findings: QualityReport['findings'] = [];
  if (rejected.count > 0 && rejected.share > opts.shareThreshold) findings.push({ column: null, check: 'schema_violation', share: rejected.share });
  for (const c of columns) {
    for (const check of c.findings) {
      const share =
        check === 'missing_values' ? c.missing.share
        : check === 'out_of_range' ? (c.outOfRange?.share ?? 0)
        : check === 'unknown_category' ? (c.unknownCategories?.share ?? 0)
        : check === 'type_error' ? (c.typeErrors?.share ?? 0)
        : 1;
      findings.push({ column: c.name, check, share });
    }
  }
  return { rows: total, rejected, columns, findings, options: opts };
}

function columnQuality(
  col: Column | undefined,
  ref: QualityColumnReference,
  ok: Uint8Array,
  w: (i: number) => number,
  rows: number,
  opts: QualityOptions,
): ColumnQuality {
  const out: ColumnQuality = { name: ref.name, kind: ref.kind, rows, missing: { count: 0, share: 0, referenceShare: ref.missingShare }, constant: false, findings: [] };
  const n = ok.length;
  if (col === undefined || col.type === 'binary') {
    out.missing.count = rows;
    out.missing.share = rows > 0 ? 1 : 0;
  } else if (ref.kind === 'numeric') {
    numericQuality(col, ref, ok, w, n, opts, out);
  } else {
    categoricalQuality(col, ref, ok, w, n, out);
  }
  // one value in a handful of rows says nothing
  if (rows < 30) out.constant = false;
  if (rows > 0) {
    out.missing.share = out.missing.count / rows;
    if (out.outOfRange) out.outOfRange.share = out.outOfRange.count / rows;
    if (out.unknownCategories) out.unknownCategories.share = out.unknownCategories.count / rows;
    if (out.typeErrors) out.typeErrors.share = out.typeErrors.count / rows;
  }
  if (rows > 0 && out.missing.share - ref.missingShare > opts.missingTolerance) out.findings.push('missing_values');
  // n reference values leave about 1/(n+1) of new values beyond each extreme by chance: allow 3× that
  const rangeTolerance = ref.validRange === undefined && ref.rows !== undefined ? Math.max(opts.shareThreshold, 6 / (ref.rows + 1)) : opts.shareThreshold;
  if (out.outOfRange && out.outOfRange.count > 0 && out.outOfRange.share > rangeTolerance) out.findings.push('out_of_range');
  if (out.unknownCategories && out.unknownCategories.count > 0 && out.unknownCategories.share > opts.shareThreshold) out.findings.push('unknown_category');
  if (out.typeErrors && out.typeErrors.count > 0 && out.typeErrors.share > opts.shareThreshold) out.findings.push('type_error');
  if (out.constant) out.findings.push('constant_column');
  return out;
}

function numericQuality(col: Exclude<Column, { type: 'binary' }>, ref: QualityColumnReference, ok: Uint8Array, w: (i: number) => number, n: number, opts: QualityOptions, out: ColumnQuality): void {
  // the allowed range: the card's valid range, else the reference's widened by the margin
  let lo = -Infinity;
  let hi = Infinity;
  if (ref.validRange) [lo, hi] = ref.validRange;
  else if (ref.min !== undefined && ref.max !== undefined && Number.isFinite(ref.min) && Number.isFinite(ref.max)) {
    const margin = (ref.max - ref.min) * opts.rangeMargin;
    lo = ref.min - margin;
    hi = ref.max + margin;
  }
  let values: Float64Array;
  // rows whose text is not a number: type errors, not missing values
  let typeBad: Uint8Array | null = null;
  if (col.type === 'string') {
    const typeErrors = { count: 0, share: 0, examples: [] as string[] };
    // a numeric feature that arrived as text: parse each distinct value once
    const parsed = col.dictionary.map((s) => {
      const t = s.trim();
      const v = t === '' ? NaN : Number(t);
      return { v, bad: t !== '' && Number.isNaN(v) && !/^nan$/i.test(t), text: s };
    });
    values = new Float64Array(n);
    typeBad = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const code = col.codes[i]!;
      const p = code < 0 ? null : parsed[code]!;
      values[i] = p === null ? NaN : p.v;
      if (p?.bad && ok[i]) {
        typeBad[i] = 1;
        typeErrors.count += w(i);
        if (typeErrors.examples.length < 5 && !typeErrors.examples.includes(p.text)) typeErrors.examples.push(p.text);
      }
    }
    out.typeErrors = typeErrors;
  } else {
    values = col.values;
  }
  const oor = { count: 0, share: 0, allowed: [lo, hi] as [number, number], below: 0, above: 0, min: null as number | null, max: null as number | null };
  let first = NaN;
  let constant = true;
  let seen = false;
  for (let i = 0; i < n; i++) {
    if (!ok[i] || typeBad?.[i]) continue;
    const v = values[i]!;
    const wi = w(i);
    if (Number.isNaN(v)) {
      out.missing.count += wi;
      continue;
    }
    if (oor.min === null || v < oor.min) oor.min = v;
    if (oor.max === null || v > oor.max) oor.max = v;
    if (!seen) {
      first = v;
      seen = true;
    } else if (v !== first) constant = false;
    if (v < lo) {
      oor.below += wi;
      oor.count += wi;
    } else if (v > hi) {
      oor.above += wi;
      oor.count += wi;
    }
  }
  out.outOfRange = oor;
  out.constant = seen && constant && (ref.distinct === null || ref.distinct === undefined || ref.distinct > 1) && ref.min !== ref.max;
}

function categoricalQuality(col: Exclude<Column, { type: 'binary' }>, ref: QualityColumnReference, ok: Uint8Array, w: (i: number) => number, n: number, out: ColumnQuality): void {
  const known = new Set(ref.vocabulary ?? ref.categories ?? []);
  const checkUnknown = known.size > 0;
  const counts = new Map<string, number>();
  let distinct = 0;
  let first: string | null = null;
  const add = (key: string, wi: number): void => {
    const c = counts.get(key);
    if (c === undefined) {
      distinct++;
      if (first === null) first = key;
    }
    counts.set(key, (c ?? 0) + wi);
  };
  if (col.type === 'string') {
    const perCode = new Float64Array(col.dictionary.length);
    for (let i = 0; i < n; i++) {
      if (!ok[i]) continue;
      const code = col.codes[i]!;
      if (code < 0) out.missing.count += w(i);
      else perCode[code] = perCode[code]! + w(i);
    }
    perCode.forEach((c, k) => {
      if (c > 0) add(col.dictionary[k]!, c);
    });
  } else {
    for (let i = 0; i < n; i++) {
      if (!ok[i]) continue;
      const v = col.values[i]!;
      if (Number.isNaN(v)) out.missing.count += w(i);
      else add(String(v), w(i));
    }
  }
  const unknown = { count: 0, share: 0, top: [] as { value: string; count: number }[] };
  if (checkUnknown) {
    for (const [value, count] of counts) {
      if (!known.has(value)) {
        unknown.count += count;
        unknown.top.push({ value, count });
      }
    }
    unknown.top.sort((a, b) => b.count - a.count);
    unknown.top = unknown.top.slice(0, 5);
    out.unknownCategories = unknown;
  }
  const refDistinct = ref.distinct ?? ref.categories?.length ?? 2;
  out.constant = distinct === 1 && refDistinct > 1 && first !== null;
}

function numericValues(t: Table, name: string): Float64Array | null {
  const c = t.columns.find((x) => x.name === name);
  return c && c.type !== 'string' && c.type !== 'binary' ? c.values : null;
}

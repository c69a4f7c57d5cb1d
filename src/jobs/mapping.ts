/**
 * Input columns → model tensors, by the card's feature names. Agrees with the friendly endpoint's
 * named rows (`rows: [{feature: value}]`): the same row gives the same tensors, and a string
 * category the vocabulary does not know goes to the model as it does online (the model decides:
 * credit's encoder makes it all zeros). One difference, because a table is not JSON: numbers
 * written as text are parsed (CSV).
 */
import {
  BerthError, INTEGER_RANGES, allocateData, formatShape, isFloatType, toFloat16Bits,
  type Datatype, type Signature, type Tensor, type TensorData, type TensorSpec,
} from '../core/index.js';
import type { Cell, ColumnChunk } from './source.js';

/** Why one input row cannot be scored. `row` is the 1-based input row number (header excluded). */
export interface RowError {
  row: number;
  column: string;
  reason: string;
}

interface InputBinding {
  spec: TensorSpec;
  /** the input column feeding each feature, in feature order */
  columns: number[];
  features: string[];
  trailing: number[];
  /** category → id for integer inputs with a vocabulary; BYTES inputs check membership */
  vocabulary: Map<string, number> | undefined;
}

/** The tensors of the good rows of a slice, and the rows that failed. */
export interface MappedRows {
  tensors: Tensor[];
  /** slice-relative indices of the rows in `tensors`, ascending */
  good: number[];
  /** one error per failed row, in row order */
  errors: RowError[];
}

/**
 * How a model's inputs are filled from a table's columns. Built once per job: missing feature
 * columns fail here, before any row is read.
 *
 * @example
 * const mapping = FeatureMapping.create(version.signature, ['id', 'age', 'income']);
 * const { tensors, errors } = mapping.map(chunk, 0, chunk.rows);
 */
export class FeatureMapping {
  private constructor(
    private readonly inputs: InputBinding[],
    /** every feature, in signature order */
    readonly features: readonly string[],
  ) {}

  /** Bind each feature of `sig` to the input column of the same name. */
  static create(sig: Signature, columnNames: readonly string[]): FeatureMapping {
    const index = new Map<string, number>();
    columnNames.forEach((n, i) => index.set(n, i));
    const unnamed = sig.inputs.find((s) => s.featureNames === undefined || s.featureNames.length === 0);
    if (unnamed !== undefined) {
      throw new BerthError('INVALID_CARD', `input "${unnamed.name}" of the model has no feature names, so table columns cannot be mapped onto it; register the version with a card that lists its features (docs/cards.md)`, {
        field: unnamed.name,
      });
    }
    const features = sig.inputs.flatMap((s) => s.featureNames!);
    const missing = features.filter((f) => !index.has(f));
    if (missing.length > 0) {
      throw new BerthError('INVALID_INPUT', `the input has no column ${missing.slice(0, 10).map((m) => JSON.stringify(m)).join(', ')}${missing.length > 10 ? `, … (${missing.length} missing)` : ''}; the model needs a column per feature (${features.length}: ${listNames(features, 40)}), and the input's columns are ${listNames(columnNames, 40)}; rename the columns to match`, {
        field: missing[0]!, expected: features, got: [...columnNames],
      });
    }
    const inputs = sig.inputs.map((spec): InputBinding => {
      const names = spec.featureNames!;
      const trailing = spec.shape.slice(1);
      let fixed = 1;
      let dynamic = 0;
      for (const d of trailing) {
        if (d < 0) dynamic++;
        else fixed *= d;
      }
      if (dynamic === 1 && names.length % fixed === 0) {
        for (let d = 0; d < trailing.length; d++) if (trailing[d]! < 0) trailing[d] = names.length / fixed;
      } else if (dynamic > 0 || fixed !== names.length) {
        throw new BerthError('INVALID_CARD', `input "${spec.name}" has ${names.length} feature names but its shape ${formatShape(spec.shape)} does not hold that many values per row; fix the card's feature names`, {
          field: spec.name, expected: spec.shape, got: names.length,
        });
      }
      const vocabulary = spec.vocabulary !== undefined ? new Map(spec.vocabulary.map((v, i) => [v, i] as const)) : undefined;
      return { spec, columns: names.map((f) => index.get(f)!), features: names, trailing, vocabulary };
    });
    return new FeatureMapping(inputs, features);
  }

  /**
   * The tensors for rows `[from, to)` of a chunk (slice-relative `good` indices), leaving out rows
   * with problems, which come back as `errors`.
   */
  map(chunk: ColumnChunk, from: number, to: number): MappedRows {
    const n = to - from;
    const bad = new Map<number, RowError>();
    const filled: TensorData[] = [];
    for (const input of this.inputs) {
      const width = input.columns.length;
      const out = allocateData(input.spec.datatype, n * width);
      for (let c = 0; c < width; c++) {
        const column = chunk.columns[input.columns[c]!]!;
        const feature = input.features[c]!;
        for (let r = 0; r < n; r++) {
          const problem = store(input, out, r * width + c, column[from + r]!);
          if (problem !== undefined && !bad.has(r)) {
            bad.set(r, { row: chunk.start + from + r + 1, column: feature, reason: problem });
          }
        }
      }
      filled.push(out);
    }
    const good: number[] = [];
    for (let r = 0; r < n; r++) if (!bad.has(r)) good.push(r);
    const tensors = this.inputs.map((input, i): Tensor => {
      const width = input.columns.length;
      const data = good.length === n ? filled[i]! : pick(filled[i]!, good, width, input.spec.datatype);
      return { name: input.spec.name, datatype: input.spec.datatype, shape: [good.length, ...input.trailing], data };
    });
    const errors = [...bad.values()].sort((a, b) => a.row - b.row);
    return { tensors, good, errors };
  }
}

/** The rows `good` of a row-major array of `width` values per row. */
function pick(data: TensorData, good: readonly number[], width: number, dt: Datatype): TensorData {
  const out = allocateData(dt, good.length * width);
  for (let g = 0; g < good.length; g++) {
    const from = good[g]! * width;
    for (let c = 0; c < width; c++) (out as unknown[])[g * width + c] = (data as ArrayLike<unknown>)[from + c];
  }
  return out;
}

const NON_FINITE_TEXT = new Map<string, number>([
  ['nan', NaN], ['inf', Infinity], ['+inf', Infinity], ['-inf', -Infinity], ['infinity', Infinity], ['+infinity', Infinity], ['-infinity', -Infinity],
]);

/** A number from a cell, or a reason it is not one. `null` (a missing value) is NaN. */
function toNumber(v: Cell): number | string {
  if (v === null) return NaN;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return NaN;
    const special = NON_FINITE_TEXT.get(t.toLowerCase());
    if (special !== undefined) return special;
    const x = Number(t);
    if (!Number.isNaN(x) && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return x;
    return `expected a number, got ${JSON.stringify(v)}`;
  }
  return `expected a number, got ${String(v)}`;
}

/** Store one cell at `i`; returns the problem, if any. */
function store(input: InputBinding, out: TensorData, i: number, v: Cell): string | undefined {
  const spec = input.spec;
  const dt = spec.datatype;
  if (isFloatType(dt)) {
    const x = toNumber(v);
    if (typeof x === 'string') return x;
    if (spec.allowNonFinite === false && !Number.isFinite(x)) {
      return `expected a finite number (the model card forbids NaN and Infinity), got ${v === null ? 'a missing value' : String(v)}`;
    }
    if (dt === 'FP16') (out as Uint16Array)[i] = toFloat16Bits(x);
    else (out as Float32Array | Float64Array)[i] = x;
    return undefined;
  }
  if (dt === 'BYTES') {
    if (v === null) return 'missing value; expected a string';
    const s = typeof v === 'string' ? v : String(v);
    if (s.includes('\u0000')) return 'contains a NUL character (U+0000), which the runtime cuts strings at';
    (out as string[])[i] = s;
    return undefined;
  }
  if (dt === 'BOOL') {
    let b: boolean | undefined;
    if (typeof v === 'boolean') b = v;
    else if (v === 0 || v === 1 || v === 0n || v === 1n) b = Number(v) === 1;
    else if (typeof v === 'string') b = ({ true: true, false: false, '1': true, '0': false } as Record<string, boolean>)[v.trim().toLowerCase()];
    if (b === undefined) return `expected true or false, got ${v === null ? 'a missing value' : JSON.stringify(String(v))}`;
    (out as Uint8Array)[i] = b ? 1 : 0;
    return undefined;
  }
  // integers: a number, an integer text, or a category name of the vocabulary
  let id: bigint | undefined;
  if (v === null) return 'missing value; expected an integer';
  if (typeof v === 'bigint') id = v;
  else if (typeof v === 'number' && Number.isInteger(v)) id = BigInt(v);
  else if (typeof v === 'string') {
    const known = input.vocabulary?.get(v);
    if (known !== undefined) id = BigInt(known);
    else if (/^\s*[+-]?\d+\s*$/.test(v)) id = BigInt(v.trim());
    else if (input.vocabulary !== undefined) return unknownCategory(v, spec);
  }
  if (id === undefined) return `expected an integer, got ${JSON.stringify(String(v))}`;
  const [lo, hi] = INTEGER_RANGES[dt]!;
  if (id < lo || id > hi) return `expected an integer in [${lo}, ${hi}] for ${dt}, got ${id}`;
  if (spec.validRange !== undefined && (id < BigInt(spec.validRange[0]) || id > BigInt(spec.validRange[1]))) {
    const vocab = spec.vocabulary ? ` (${spec.vocabulary.length} known categories: ${spec.vocabulary.slice(0, 12).join(', ')}${spec.vocabulary.length > 12 ? ', …' : ''})` : '';
    return `expected an id in [${spec.validRange[0]}, ${spec.validRange[1]}]${vocab}, got ${id}`;
  }
  if (dt === 'INT64' || dt === 'UINT64') (out as BigInt64Array | BigUint64Array)[i] = id;
  else (out as Int32Array)[i] = Number(id);
  return undefined;
}

function unknownCategory(s: string, spec: TensorSpec): string {
  const vocab = spec.vocabulary ?? [];
  return `unknown category ${JSON.stringify(s)}; known: ${vocab.slice(0, 12).join(', ')}${vocab.length > 12 ? `, … (${vocab.length} in all)` : ''}`;
}

function listNames(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).map((s) => JSON.stringify(s)).join(', ');
  return names.length > max ? `${shown}, … (${names.length} in all)` : shown;
}

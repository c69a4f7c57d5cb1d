import { BerthError } from '../core/index.js';

/**
 * One column of a {@link Table}. Numbers live in a `Float64Array` whatever their logical type, with NaN
 * for a missing value; strings are dictionary-coded (code -1 = missing), so counting categories is
 * counting small integers.
 */
export type Column =
  | { name: string; type: 'double'; values: Float64Array }        // NaN = missing
  | { name: string; type: 'int64'; values: Float64Array }         // integers, exact to 2^53; NaN = missing
  | { name: string; type: 'timestamp_ms'; values: Float64Array }  // ms since epoch UTC; NaN = missing
  | { name: string; type: 'string'; dictionary: string[]; codes: Int32Array } // code -1 = missing
  | { name: string; type: 'binary'; values: (Uint8Array | null)[] };

/** A columnar table: every column holds exactly `rows` values. Treated as immutable once built. */
export interface Table { rows: number; columns: Column[]; metadata?: Record<string, string> }

/** The type tags of {@link Column}. */
export const COLUMN_TYPES = ['double', 'int64', 'timestamp_ms', 'string', 'binary'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** The column types stored as numbers in a `Float64Array`. */
export type NumericColumnType = 'double' | 'int64' | 'timestamp_ms';
export type NumericColumn = Extract<Column, { type: NumericColumnType }>;
export type StringColumn = Extract<Column, { type: 'string' }>;
export type BinaryColumn = Extract<Column, { type: 'binary' }>;

/** True for the columns whose values are a `Float64Array` (double, int64, timestamp_ms). */
export function isNumericColumn(column: Column): column is NumericColumn {
  return column.type === 'double' || column.type === 'int64' || column.type === 'timestamp_ms';
}

/** How many values a column holds. */
export function columnLength(column: Column): number {
  return column.type === 'string' ? column.codes.length : column.values.length;
}

/** The column called `name`, or undefined. */
export function findColumn(table: Table, name: string): Column | undefined {
  return table.columns.find((c) => c.name === name);
}

/**
 * The column called `name`.
 *
 * @throws BerthError INVALID_ARGUMENT naming the column and the columns the table has.
 * @example
 * const age = getColumn(table, 'age'); // throws: table has no column "agee" (columns: age, income)
 */
export function getColumn(table: Table, name: string): Column {
  const column = findColumn(table, name);
  if (!column) {
    throw new BerthError('INVALID_ARGUMENT', `table has no column "${name}" (columns: ${describeNames(table.columns.map((c) => c.name))})`, {
      field: name,
      expected: table.columns.map((c) => c.name),
      got: name,
    });
  }
  return column;
}

/**
 * Check that a table is well formed: unique column names, every column `rows` long, string codes within
 * their dictionary.
 *
 * @throws BerthError INVALID_ARGUMENT naming the first faulty column.
 */
export function validateTable(table: Table): void {
  if (!Number.isInteger(table.rows) || table.rows < 0) {
    throw new BerthError('INVALID_ARGUMENT', `table rows must be a non-negative integer, got ${table.rows}`, {
      field: 'rows',
      expected: 'non-negative integer',
      got: table.rows,
    });
  }
  const seen = new Set<string>();
  for (const column of table.columns) {
    if (seen.has(column.name)) {
      throw new BerthError('INVALID_ARGUMENT', `table has two columns named "${column.name}"`, { field: column.name, expected: 'unique column names', got: column.name });
    }
    seen.add(column.name);
    if (!(COLUMN_TYPES as readonly string[]).includes(column.type)) {
      throw new BerthError('INVALID_ARGUMENT', `column "${column.name}": unknown type "${String(column.type)}" (expected one of ${COLUMN_TYPES.join(', ')})`, {
        field: column.name,
        expected: COLUMN_TYPES,
        got: column.type,
      });
    }
    const length = columnLength(column);
    if (length !== table.rows) {
      throw new BerthError('INVALID_ARGUMENT', `column "${column.name}": expected ${table.rows} values (the table's rows), got ${length}`, {
        field: column.name,
        expected: table.rows,
        got: length,
      });
    }
    if (column.type === 'string') {
      const size = column.dictionary.length;
      const codes = column.codes;
      for (let i = 0; i < codes.length; i++) {
        const code = codes[i]!;
        if (code < -1 || code >= size) {
          throw new BerthError('INVALID_ARGUMENT', `column "${column.name}": row ${i} has code ${code}, outside its dictionary of ${size} strings (-1 = missing)`, {
            field: column.name,
            expected: `-1..${size - 1}`,
            got: code,
          });
        }
      }
    }
  }
}

/** A table with only the named columns, in the order given (columns are shared, not copied). */
export function selectColumns(table: Table, names: readonly string[]): Table {
  return withMetadata({ rows: table.rows, columns: names.map((n) => getColumn(table, n)) }, table.metadata);
}

/**
 * Rows `[start, end)` of a table (negative or out-of-range bounds are clamped like `Array.prototype.slice`).
 * Numeric columns and codes are views on the input's memory; string dictionaries are shared.
 */
export function sliceTable(table: Table, start: number, end: number = table.rows): Table {
  const s = clampIndex(start, table.rows);
  const e = Math.max(s, clampIndex(end, table.rows));
  const columns = table.columns.map((c): Column => {
    switch (c.type) {
      case 'string':
        return { name: c.name, type: 'string', dictionary: c.dictionary, codes: c.codes.subarray(s, e) };
      case 'binary':
        return { name: c.name, type: 'binary', values: c.values.slice(s, e) };
      default:
        return { name: c.name, type: c.type, values: c.values.subarray(s, e) } as Column;
    }
  });
  return withMetadata({ rows: e - s, columns }, table.metadata);
}

/**
 * The rows of several tables one after another. Columns are matched by name and must have the same type
 * in every table; the result has the first table's column order and metadata. String dictionaries are
 * merged (codes re-mapped), keeping only the strings the rows use.
 *
 * With `{ missing: 'fill' }` the tables may hold different columns: the result has every column of any of
 * them (in order of first appearance), and the rows of a table without one read as missing (NaN, code −1,
 * null) — as the inference log's files of different model versions need.
 *
 * @throws BerthError INVALID_ARGUMENT when the tables' columns differ (without `missing: 'fill'`) or a
 *   column's type differs between tables.
 */
export function concatTables(tables: readonly Table[], opts: { missing?: 'error' | 'fill' } = {}): Table {
  const first = tables[0];
  if (!first) return { rows: 0, columns: [] };
  const fill = opts.missing === 'fill';
  const heads: Column[] = [];
  if (fill) {
    const seen = new Set<string>();
    for (const t of tables) {
      for (const c of t.columns) {
        if (seen.has(c.name)) continue;
        seen.add(c.name);
        heads.push(c);
      }
    }
  } else {
    heads.push(...first.columns);
    const names = first.columns.map((c) => c.name);
    for (const [t, table] of tables.entries()) {
      const got = table.columns.map((c) => c.name);
      if (got.length !== names.length || !names.every((n) => got.includes(n))) {
        throw new BerthError('INVALID_ARGUMENT', `table ${t} has columns (${describeNames(got)}), expected the same columns as table 0 (${describeNames(names)})`, {
          field: `tables[${t}]`,
          expected: names,
          got,
        });
      }
    }
  }
  const rows = tables.reduce((n, t) => n + t.rows, 0);
  const columns = heads.map((head): Column => {
    const parts = tables.map((t, i) => {
      const c = fill ? findColumn(t, head.name) : getColumn(t, head.name);
      if (c && c.type !== head.type) {
        throw new BerthError('INVALID_ARGUMENT', `column "${head.name}" is ${c.type} in table ${i} but ${head.type} elsewhere`, {
          field: head.name,
          expected: head.type,
          got: c.type,
        });
      }
      return { rows: t.rows, column: c };
    });
    switch (head.type) {
      case 'string': {
        const builder = new StringColumnBuilder(head.name, rows);
        for (const { rows: n, column } of parts) {
          if (column) builder.pushCodes((column as StringColumn).codes, (column as StringColumn).dictionary);
          else builder.pushMissing(n);
        }
        return builder.build();
      }
      case 'binary':
        return {
          name: head.name,
          type: 'binary',
          values: parts.flatMap(({ rows: n, column }) => (column ? (column as BinaryColumn).values : new Array<null>(n).fill(null))),
        };
      default: {
        const values = new Float64Array(rows);
        let at = 0;
        for (const { rows: n, column } of parts) {
          if (column) values.set((column as NumericColumn).values, at);
          else values.fill(NaN, at, at + n);
          at += n;
        }
        return { name: head.name, type: head.type, values };
      }
    }
  });
  return withMetadata({ rows, columns }, first.metadata);
}

/** The values of a string column as strings (null = missing). */
export function stringValues(column: StringColumn): (string | null)[] {
  const out = new Array<string | null>(column.codes.length);
  for (let i = 0; i < column.codes.length; i++) {
    const code = column.codes[i]!;
    out[i] = code < 0 ? null : column.dictionary[code]!;
  }
  return out;
}

/** A string column from plain values (null or undefined = missing). */
export function createStringColumn(name: string, values: readonly (string | null | undefined)[]): StringColumn {
  const builder = new StringColumnBuilder(name, values.length);
  for (const v of values) builder.push(v);
  return builder.build();
}

/** A numeric column from plain values (null or undefined = missing, stored as NaN). */
export function createNumericColumn(name: string, type: NumericColumnType, values: ArrayLike<number | null | undefined>): NumericColumn {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] ?? NaN;
  return { name, type, values: out };
}

/**
 * Builds a string column one value at a time, dictionary-coding as it goes (a `Map` from string to code).
 *
 * @example
 * const b = new StringColumnBuilder('region');
 * b.push('west'); b.push(null); b.push('west');
 * b.build(); // { name: 'region', type: 'string', dictionary: ['west'], codes: Int32Array [0, -1, 0] }
 */
export class StringColumnBuilder {
  private codes: Int32Array;
  private index = new Map<string, number>();
  private dictionary: string[] = [];
  private size = 0;

  constructor(
    readonly name: string,
    capacity = 1024,
  ) {
    this.codes = new Int32Array(Math.max(16, capacity));
  }

  /** How many values have been pushed. */
  get length(): number {
    return this.size;
  }

  /** The code of a string, adding it to the dictionary if new (does not push a value). */
  codeOf(value: string): number {
    let code = this.index.get(value);
    if (code === undefined) {
      code = this.dictionary.length;
      this.dictionary.push(value);
      this.index.set(value, code);
    }
    return code;
  }

  /** Append one value (null or undefined = missing). */
  push(value: string | null | undefined): void {
    this.pushCode(value === null || value === undefined ? -1 : this.codeOf(value));
  }

  /** Append a code this builder gave out (-1 = missing). */
  pushCode(code: number): void {
    if (this.size === this.codes.length) this.grow(this.size + 1);
    this.codes[this.size++] = code;
  }

  /** Append values given as codes into another dictionary (as a string column holds them). */
  pushCodes(codes: Int32Array, dictionary: readonly string[]): void {
    const map = new Int32Array(dictionary.length).fill(-2);
    if (this.size + codes.length > this.codes.length) this.grow(this.size + codes.length);
    const out = this.codes;
    let at = this.size;
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i]!;
      if (c < 0) {
        out[at++] = -1;
        continue;
      }
      let mapped = map[c]!;
      if (mapped === -2) {
        mapped = this.codeOf(dictionary[c]!);
        map[c] = mapped;
      }
      out[at++] = mapped;
    }
    this.size = at;
  }

  /** Append `count` missing values. */
  pushMissing(count = 1): void {
    if (this.size + count > this.codes.length) this.grow(this.size + count);
    this.codes.fill(-1, this.size, this.size + count);
    this.size += count;
  }

  /** The column built so far (the builder can keep going; the column does not change). */
  build(): StringColumn {
    return { name: this.name, type: 'string', dictionary: this.dictionary.slice(), codes: this.codes.slice(0, this.size) };
  }

  /** The column built so far, without copying it (the builder hands its buffers over and starts new ones). */
  take(): StringColumn {
    const col: StringColumn = { name: this.name, type: 'string', dictionary: this.dictionary, codes: this.codes.subarray(0, this.size) };
    this.codes = new Int32Array(Math.max(16, this.size));
    this.dictionary = [];
    this.index = new Map();
    this.size = 0;
    return col;
  }

  private grow(min: number): void {
    const next = new Int32Array(Math.max(min, this.codes.length * 2));
    next.set(this.codes.subarray(0, this.size));
    this.codes = next;
  }
}

/**
 * Builds a numeric column (double, int64 or timestamp_ms) one value at a time in a growing `Float64Array`.
 *
 * @example
 * const b = new NumericColumnBuilder('age', 'int64');
 * b.push(41); b.push(null);
 * b.build(); // { name: 'age', type: 'int64', values: Float64Array [41, NaN] }
 */
export class NumericColumnBuilder {
  private values: Float64Array;
  private size = 0;

  constructor(
    readonly name: string,
    readonly type: NumericColumnType,
    capacity = 1024,
  ) {
    this.values = new Float64Array(Math.max(16, capacity));
  }

  /** How many values have been pushed. */
  get length(): number {
    return this.size;
  }

  /** Append one value (null or undefined = missing, stored as NaN). */
  push(value: number | null | undefined): void {
    if (this.size === this.values.length) {
      const next = new Float64Array(this.values.length * 2);
      next.set(this.values);
      this.values = next;
    }
    this.values[this.size++] = value ?? NaN;
  }

  /** The column built so far (the builder can keep going; the column does not change). */
  build(): NumericColumn {
    return { name: this.name, type: this.type, values: this.values.slice(0, this.size) };
  }

  /** The column built so far, without copying it (the builder hands its buffer over and starts a new one). */
  take(): NumericColumn {
    const col: NumericColumn = { name: this.name, type: this.type, values: this.values.subarray(0, this.size) };
    this.values = new Float64Array(Math.max(16, this.size));
    this.size = 0;
    return col;
  }
}

function clampIndex(i: number, length: number): number {
  if (i < 0) return Math.max(0, length + i);
  return Math.min(i, length);
}

function withMetadata(table: Table, metadata: Record<string, string> | undefined): Table {
  if (metadata) table.metadata = { ...metadata };
  return table;
}

/** A short list of names for error messages. */
export function describeNames(names: readonly string[], max = 20): string {
  const shown = names.slice(0, max).map((n) => JSON.stringify(n));
  if (names.length > max) shown.push(`… ${names.length - max} more`);
  return shown.length > 0 ? shown.join(', ') : '(none)';
}

import { BerthError, type Clock, systemClock } from '../../core/index.js';
import type { Column, Table } from '../../data/index.js';
import {
  checkRowWeights,
  cloneColumnProfile,
  type CategoricalColumnProfile,
  type ColumnProfile,
  type ColumnProfileJson,
  type ColumnProfileOptions,
  columnProfileFromJSON,
  columnProfileToJSON,
  createCategoricalProfile,
  createNumericProfile,
  type DictionaryColumn,
  mergeColumnProfiles,
  type NumericColumnProfile,
  updateCategoricalProfile,
  updateNumericProfile,
} from './column-profile.js';
import { invalidField, readArray, readNumber, readObject, readString } from './json-fields.js';

export const PROFILE_FORMAT = 'berth-profile/1';

export const COLUMN_KINDS = ['numeric', 'categorical'] as const;
export type ColumnKind = (typeof COLUMN_KINDS)[number];

/** Which columns to profile and how. */
export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
}

/**
 * A mergeable summary of a dataset (a reference set, or a window of the inference log). Its size is
 * bounded by the sketches' k and cap, not by `rows`. `weight` is the total row weight (= rows
 * without weights). `createdAt` is ISO 8601.
 */
export interface DatasetProfile {
  format: typeof PROFILE_FORMAT;
  rows: number;
  weight: number;
  columns: ColumnProfile[];
  createdAt: string;
  source?: string;
}

export interface ProfileBuilderOptions extends ColumnProfileOptions {
  /** where the data came from (a file name, a window), kept in the profile */
  source?: string;
  /** time source for `createdAt` (default the system clock) */
  clock?: Pick<Clock, 'now'>;
}

/**
 * Builds a {@link DatasetProfile} from tables, batch by batch.
 *
 * Column types map to kinds: double/int64 (and timestamp_ms) → numeric, string → categorical. A
 * categorical spec over a double/int64 column profiles the values' decimal text (integer ids as
 * "3"). Anything else is a BerthError INVALID_ARGUMENT naming the column, what was expected and what came.
 *
 * @example
 * const builder = new ProfileBuilder(inferColumnSpecs(table), { source: 'reference.csv' });
 * builder.addTable(table);
 * const text = serializeProfile(builder.build());
 */
export class ProfileBuilder {
  private readonly specs: ColumnSpec[];
  private readonly columns: ColumnProfile[];
  private readonly options: ProfileBuilderOptions;
  private rows = 0;
  private weight = 0;

  constructor(specs: readonly ColumnSpec[], options: ProfileBuilderOptions = {}) {
    const seen = new Set<string>();
    specs.forEach((spec, i) => {
      if (typeof spec.name !== 'string' || spec.name.length === 0) {
        throw new BerthError('INVALID_ARGUMENT', `column spec ${i}: expected a non-empty name, got ${JSON.stringify(spec.name)}`, {
          field: `specs[${i}].name`,
        });
      }
      if (!(COLUMN_KINDS as readonly string[]).includes(spec.kind)) {
        throw new BerthError('INVALID_ARGUMENT', `column "${spec.name}": expected kind ${COLUMN_KINDS.join(' or ')}, got ${JSON.stringify(spec.kind)}`, {
          field: spec.name,
          expected: COLUMN_KINDS.join(' | '),
          got: spec.kind,
        });
      }
      if (seen.has(spec.name)) {
        throw new BerthError('INVALID_ARGUMENT', `column "${spec.name}" is specified twice`, { field: spec.name });
      }
      seen.add(spec.name);
    });
    this.specs = specs.map((s) => ({ name: s.name, kind: s.kind }));
    this.options = options;
    this.columns = this.specs.map((s) => (s.kind === 'numeric' ? createNumericProfile(s.name, options) : createCategoricalProfile(s.name, options)));
  }

  /**
   * Profile every row of `table` (columns found by name; extra columns ignored), with optional
   * per-row weights (e.g. 1 / sampling probability). Everything is checked before anything is
   * counted, so a rejected table leaves the builder unchanged.
   */
  addTable(table: Table, weights?: Float64Array): this {
    const rows = table.rows;
    if (!Number.isInteger(rows) || rows < 0) {
      throw new BerthError('INVALID_ARGUMENT', `table rows: expected an integer >= 0, got ${rows}`, { field: 'rows', got: rows });
    }
    checkRowWeights(weights, rows);
    const byName = new Map(table.columns.map((c) => [c.name, c]));
    const inputs = this.specs.map((spec) => {
      const column = byName.get(spec.name);
      if (column === undefined) {
        const names = table.columns.map((c) => c.name);
        throw new BerthError('INVALID_ARGUMENT', `column "${spec.name}": missing from the table (it has ${names.length > 0 ? names.map((n) => `"${n}"`).join(', ') : 'no columns'})`, {
          field: spec.name,
          expected: spec.kind,
          got: 'no such column',
        });
      }
      return columnInput(spec, column, rows);
    });
    this.specs.forEach((_, i) => {
      const profile = this.columns[i]!;
      const input = inputs[i]!;
      if (profile.kind === 'numeric') updateNumericProfile(profile, input as Float64Array, weights);
      else updateCategoricalProfile(profile, input as DictionaryColumn, weights);
    });
    this.rows += rows;
    if (weights === undefined) this.weight += rows;
    else for (let i = 0; i < weights.length; i++) this.weight += weights[i]!;
    return this;
  }

  /** A snapshot of the profile so far; the builder can keep adding tables afterwards. */
  build(): DatasetProfile {
    const profile: DatasetProfile = {
      format: PROFILE_FORMAT,
      rows: this.rows,
      weight: this.weight,
      columns: this.columns.map(cloneColumnProfile),
      createdAt: new Date((this.options.clock ?? systemClock).now()).toISOString(),
    };
    if (this.options.source !== undefined) profile.source = this.options.source;
    return profile;
  }
}

function columnInput(spec: ColumnSpec, column: Column, rows: number): Float64Array | DictionaryColumn {
  const mismatch = (expected: string): BerthError =>
    new BerthError('INVALID_ARGUMENT', `column "${spec.name}": a ${spec.kind} profile expects a ${expected} column, got ${column.type}`, {
      field: spec.name,
      expected,
      got: column.type,
    });
  const length = column.type === 'string' ? column.codes.length : column.values.length;
  if (length !== rows) {
    throw new BerthError('INVALID_ARGUMENT', `column "${spec.name}": expected ${rows} values (the table's rows), got ${length}`, {
      field: spec.name,
      expected: rows,
      got: length,
    });
  }
  if (spec.kind === 'numeric') {
    if (column.type === 'double' || column.type === 'int64' || column.type === 'timestamp_ms') return column.values;
    throw mismatch('double or int64');
  }
  if (column.type === 'string') return column;
  if (column.type === 'double' || column.type === 'int64') return numbersAsDictionary(column.values);
  throw mismatch('string (or double/int64, profiled as decimal text)');
}

/** Dictionary-code numbers by their decimal text (NaN = missing): integer ids become "3", "17"… */
function numbersAsDictionary(values: Float64Array): DictionaryColumn {
  const index = new Map<number, number>();
  const dictionary: string[] = [];
  const codes = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x !== x) {
      codes[i] = -1;
      continue;
    }
    let code = index.get(x);
    if (code === undefined) {
      code = dictionary.length;
      index.set(x, code);
      dictionary.push(String(x));
    }
    codes[i] = code;
  }
  return { dictionary, codes };
}

/** Column specs for every profilable column of a table: double/int64 → numeric, string → categorical. */
export function inferColumnSpecs(table: Table): ColumnSpec[] {
  const specs: ColumnSpec[] = [];
  for (const c of table.columns) {
    if (c.type === 'double' || c.type === 'int64') specs.push({ name: c.name, kind: 'numeric' });
    else if (c.type === 'string') specs.push({ name: c.name, kind: 'categorical' });
  }
  return specs;
}

/**
 * A new profile of both datasets (inputs unchanged). Both must have the same columns with the same
 * kinds (order may differ; the result follows `a`), else BerthError INVALID_ARGUMENT listing the
 * differences. `createdAt` is the later of the two; `source` is kept when both agree.
 */
export function mergeProfiles(a: DatasetProfile, b: DatasetProfile): DatasetProfile {
  const kindsA = new Map(a.columns.map((c) => [c.name, c.kind]));
  const kindsB = new Map(b.columns.map((c) => [c.name, c.kind]));
  const problems: string[] = [];
  for (const [name, kind] of kindsA) {
    const other = kindsB.get(name);
    if (other === undefined) problems.push(`"${name}" only in the first`);
    else if (other !== kind) problems.push(`"${name}" is ${kind} in the first, ${other} in the second`);
  }
  for (const name of kindsB.keys()) if (!kindsA.has(name)) problems.push(`"${name}" only in the second`);
  if (problems.length > 0) {
    throw new BerthError('INVALID_ARGUMENT', `cannot merge profiles with different columns: ${problems.join('; ')} (expected the same column set)`, {
      field: 'columns',
      expected: [...kindsA.keys()],
      got: [...kindsB.keys()],
    });
  }
  const columnsB = new Map(b.columns.map((c) => [c.name, c]));
  const merged: DatasetProfile = {
    format: PROFILE_FORMAT,
    rows: a.rows + b.rows,
    weight: a.weight + b.weight,
    columns: a.columns.map((c) => mergeColumnProfiles(c, columnsB.get(c.name)!)),
    createdAt: a.createdAt >= b.createdAt ? a.createdAt : b.createdAt,
  };
  if (a.source !== undefined && a.source === b.source) merged.source = a.source;
  return merged;
}

/** The profile as JSON text; float arrays (the KLL levels) as base64 of little-endian doubles. */
export function serializeProfile(profile: DatasetProfile): string {
  const json: {
    format: string;
    rows: number;
    weight: number;
    createdAt: string;
    source?: string;
    columns: ColumnProfileJson[];
  } = { format: profile.format, rows: profile.rows, weight: profile.weight, createdAt: profile.createdAt, columns: profile.columns.map(columnProfileToJSON) };
  if (profile.source !== undefined) json.source = profile.source;
  return JSON.stringify(json);
}

/**
 * Parse {@link serializeProfile} output, validating the format tag, the shape and the sketches'
 * invariants. Bad input → BerthError INVALID_ARGUMENT naming the field (e.g. `columns[2].kll.n`,
 * with the column's name in the message).
 */
export function parseProfile(text: string): DatasetProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `profile: expected JSON, got text that does not parse (${(err as Error).message})`, { field: 'profile' }, { cause: err });
  }
  const o = readObject(json, 'profile');
  if (o['format'] !== PROFILE_FORMAT) throw invalidField('format', `"${PROFILE_FORMAT}"`, o['format']);
  const rows = readNumber(o['rows'], 'rows', { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  const weight = readNumber(o['weight'], 'weight', { min: 0 });
  const createdAt = readString(o['createdAt'], 'createdAt');
  if (Number.isNaN(Date.parse(createdAt))) throw invalidField('createdAt', 'an ISO 8601 date', createdAt);
  const columnsJson = readArray(o['columns'], 'columns');
  const names = new Set<string>();
  const columns = columnsJson.map((c, i) => {
    const field = `columns[${i}]`;
    const name = typeof c === 'object' && c !== null && typeof (c as { name?: unknown }).name === 'string' ? (c as { name: string }).name : undefined;
    let column: ColumnProfile;
    try {
      column = columnProfileFromJSON(c, field);
    } catch (err) {
      if (err instanceof BerthError && name !== undefined) {
        throw new BerthError(err.code, `${err.message} (column "${name}")`, { ...err.context, column: name }, { cause: err });
      }
      throw err;
    }
    if (names.has(column.name)) throw invalidField(`${field}.name`, 'a name no other column has', column.name);
    names.add(column.name);
    const accounted = column.count + column.missing + (column.kind === 'numeric' ? column.nonFinite : 0);
    if (accounted !== rows) {
      throw invalidField(`${field}.count`, `count + missing${column.kind === 'numeric' ? ' + nonFinite' : ''} = rows (${rows})`, accounted);
    }
    return column;
  });
  const profile: DatasetProfile = { format: PROFILE_FORMAT, rows, weight, columns, createdAt };
  if (o['source'] !== undefined) profile.source = readString(o['source'], 'source');
  return profile;
}

/**
 * A column of a profile by name, optionally of a given kind; BerthError INVALID_ARGUMENT if there is
 * none (listing the columns there are) or it has the other kind.
 */
export function profileColumn(profile: DatasetProfile, name: string, kind: 'numeric'): NumericColumnProfile;
export function profileColumn(profile: DatasetProfile, name: string, kind: 'categorical'): CategoricalColumnProfile;
export function profileColumn(profile: DatasetProfile, name: string, kind?: ColumnKind): ColumnProfile;
export function profileColumn(profile: DatasetProfile, name: string, kind?: ColumnKind): ColumnProfile {
  const column = profile.columns.find((c) => c.name === name);
  if (column === undefined) {
    throw new BerthError('INVALID_ARGUMENT', `column "${name}": not in the profile (it has ${profile.columns.map((c) => `"${c.name}"`).join(', ') || 'no columns'})`, {
      field: name,
      got: 'no such column',
    });
  }
  if (kind !== undefined && column.kind !== kind) {
    throw new BerthError('INVALID_ARGUMENT', `column "${name}": expected a ${kind} column, got ${column.kind}`, { field: name, expected: kind, got: column.kind });
  }
  return column;
}

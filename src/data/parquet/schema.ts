/**
 * From a Parquet schema (the flattened SchemaElement list) to Berth's columns: which top-level fields
 * are flat, which leaf each one is, and which {@link ColumnType} it becomes.
 */
import type { ColumnType } from '../table.js';
import { ConvertedType, Logical, PhysicalType, Repetition, type SchemaElement } from './format.js';

/** A top-level field of the file. */
export type FileField =
  | { kind: 'flat'; name: string; element: SchemaElement; leaf: number; optional: boolean }
  | { kind: 'nested'; name: string; leaf: number; leaves: number; what: string };

/** Malformed schema list (reported as a damaged file). */
export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

/** The top-level fields, in order, with the index of their first leaf column chunk. */
export function topLevelFields(schema: readonly SchemaElement[]): FileField[] {
  const root = schema[0];
  if (!root) throw new SchemaError('the schema is empty');
  const fields: FileField[] = [];
  let index = 1;
  let leaf = 0;
  const children = root.numChildren ?? 0;
  for (let c = 0; c < children; c++) {
    const e = schema[index];
    if (!e) throw new SchemaError(`the root declares ${children} fields, the schema lists ${c}`);
    if ((e.numChildren ?? 0) > 0 || e.type === undefined) {
      const leaves = countLeaves(schema, index);
      fields.push({ kind: 'nested', name: e.name, leaf, leaves: leaves.leaves, what: describeGroup(e) });
      index = leaves.next;
      leaf += leaves.leaves;
    } else if (e.repetition === Repetition.REPEATED) {
      fields.push({ kind: 'nested', name: e.name, leaf, leaves: 1, what: 'a repeated field' });
      index++;
      leaf++;
    } else {
      fields.push({ kind: 'flat', name: e.name, element: e, leaf, optional: e.repetition !== Repetition.REQUIRED });
      index++;
      leaf++;
    }
  }
  return fields;
}

/** Leaves under the group at `index`, and the index after the group's subtree. */
function countLeaves(schema: readonly SchemaElement[], index: number, depth = 0): { leaves: number; next: number } {
  if (depth > 100) throw new SchemaError('the schema nests too deeply');
  const e = schema[index];
  if (!e) throw new SchemaError('the schema ends inside a group');
  const children = e.numChildren ?? 0;
  if (children === 0) return { leaves: e.type === undefined ? 0 : 1, next: index + 1 };
  let leaves = 0;
  let next = index + 1;
  for (let c = 0; c < children; c++) {
    const sub = countLeaves(schema, next, depth + 1);
    leaves += sub.leaves;
    next = sub.next;
  }
  return { leaves, next };
}

function describeGroup(e: SchemaElement): string {
  const lt = e.logicalType?.kind;
  if (lt === Logical.LIST || e.convertedType === ConvertedType.LIST) return 'a LIST';
  if (lt === Logical.MAP || e.convertedType === ConvertedType.MAP || e.convertedType === ConvertedType.MAP_KEY_VALUE) return 'a MAP';
  if (lt === Logical.VARIANT) return 'a VARIANT';
  return 'a struct (group)';
}

/**
 * The Berth column type of a flat field, or a reason it has none.
 *
 * BOOLEAN and integers → int64 (booleans as 0/1); FLOAT, DOUBLE, DECIMAL, FLOAT16 → double; DATE,
 * TIMESTAMP (any unit), INT96 → timestamp_ms; STRING/UTF8, ENUM, JSON, UUID → string; other byte arrays →
 * binary. TIME values stay integers in their unit.
 */
export function targetType(e: SchemaElement): ColumnType | { unsupported: string } {
  const lt = e.logicalType?.kind;
  const ct = e.convertedType;
  const decimal = lt === Logical.DECIMAL || ct === ConvertedType.DECIMAL;
  if (lt === Logical.UNKNOWN) return 'double';
  switch (e.type) {
    case PhysicalType.BOOLEAN:
      return 'int64';
    case PhysicalType.INT32:
      if (decimal) return 'double';
      if (lt === Logical.DATE || ct === ConvertedType.DATE) return 'timestamp_ms';
      return 'int64';
    case PhysicalType.INT64:
      if (decimal) return 'double';
      if (lt === Logical.TIMESTAMP || ct === ConvertedType.TIMESTAMP_MILLIS || ct === ConvertedType.TIMESTAMP_MICROS) return 'timestamp_ms';
      return 'int64';
    case PhysicalType.INT96:
      return 'timestamp_ms';
    case PhysicalType.FLOAT:
    case PhysicalType.DOUBLE:
      return 'double';
    case PhysicalType.BYTE_ARRAY:
    case PhysicalType.FIXED_LEN_BYTE_ARRAY:
      if (ct === ConvertedType.INTERVAL) return { unsupported: 'INTERVAL values' };
      if (lt === Logical.BSON || ct === ConvertedType.BSON) return { unsupported: 'BSON values' };
      if (decimal || lt === Logical.FLOAT16) return 'double';
      if (lt === Logical.STRING || lt === Logical.ENUM || lt === Logical.JSON || lt === Logical.UUID) return 'string';
      if (ct === ConvertedType.UTF8 || ct === ConvertedType.ENUM || ct === ConvertedType.JSON) return 'string';
      return 'binary';
    default:
      return { unsupported: `physical type ${String(e.type)}` };
  }
}

/**
 * How the fast reader turns a numeric physical value into the column's number, or null when the fast
 * reader does not handle the type (the general reader does).
 */
export interface NumericConversion {
  physical: 'f64' | 'f32' | 'i32' | 'u32' | 'i64' | 'bool';
  multiply: number;
  divide: number;
}

export function numericConversion(e: SchemaElement): NumericConversion | null {
  const lt = e.logicalType;
  const ct = e.convertedType;
  const plain = (physical: NumericConversion['physical']): NumericConversion => ({ physical, multiply: 1, divide: 1 });
  if (lt?.kind === Logical.DECIMAL || ct === ConvertedType.DECIMAL) {
    // an unscaled integer; dividing by 10^scale rounds once, exactly as parsing the decimal text would
    const scale = lt?.kind === Logical.DECIMAL ? (lt.scale ?? 0) : (e.scale ?? 0);
    if (e.type !== PhysicalType.INT32 && e.type !== PhysicalType.INT64) return null;
    if (!(scale >= 0 && scale <= 22)) return null;
    return { physical: e.type === PhysicalType.INT32 ? 'i32' : 'i64', multiply: 1, divide: 10 ** scale };
  }
  switch (e.type) {
    case PhysicalType.BOOLEAN:
      return plain('bool');
    case PhysicalType.DOUBLE:
      return plain('f64');
    case PhysicalType.FLOAT:
      return plain('f32');
    case PhysicalType.INT32: {
      if (lt?.kind === Logical.DATE || ct === ConvertedType.DATE) return { physical: 'i32', multiply: 86_400_000, divide: 1 };
      const unsigned = (lt?.kind === Logical.INTEGER && lt.isSigned === false) || ct === ConvertedType.UINT_32 || ct === ConvertedType.UINT_16 || ct === ConvertedType.UINT_8;
      return plain(unsigned ? 'u32' : 'i32');
    }
    case PhysicalType.INT64: {
      if ((lt?.kind === Logical.INTEGER && lt.isSigned === false) || ct === ConvertedType.UINT_64) return null;
      if (lt?.kind === Logical.TIMESTAMP) {
        const divide = lt.unit === 'MICROS' ? 1000 : lt.unit === 'NANOS' ? 1_000_000 : 1;
        return { physical: 'i64', multiply: 1, divide };
      }
      if (ct === ConvertedType.TIMESTAMP_MICROS) return { physical: 'i64', multiply: 1, divide: 1000 };
      return plain('i64');
    }
    default:
      return null;
  }
}

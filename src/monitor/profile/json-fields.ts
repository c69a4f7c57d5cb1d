import { BerthError } from '../../core/index.js';

/** A BerthError INVALID_ARGUMENT naming the field of a serialized profile or sketch that is wrong. */
export function invalidField(field: string, expected: string, got: unknown): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${describe(got)}`, {
    field,
    expected,
    got: describe(got),
  });
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? typeof value;
  } catch {
    text = typeof value;
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function readObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidField(field, 'an object', value);
  return value as Record<string, unknown>;
}

export function readArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw invalidField(field, 'an array', value);
  return value;
}

export function readString(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalidField(field, 'a string', value);
  return value;
}

export interface NumberRule {
  integer?: boolean;
  min?: number;
  max?: number;
}

export function readNumber(value: unknown, field: string, rule: NumberRule = {}): number {
  const expected = [
    rule.integer ? 'an integer' : 'a finite number',
    rule.min !== undefined ? `>= ${rule.min}` : '',
    rule.max !== undefined ? `<= ${rule.max}` : '',
  ].filter(Boolean).join(' ');
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidField(field, expected, value);
  if (rule.integer && !Number.isInteger(value)) throw invalidField(field, expected, value);
  if (rule.min !== undefined && value < rule.min) throw invalidField(field, expected, value);
  if (rule.max !== undefined && value > rule.max) throw invalidField(field, expected, value);
  return value;
}

/** A finite number, or `null` standing for NaN (how JSON carries "no value", e.g. the min of nothing). */
export function readNullableNumber(value: unknown, field: string): number {
  if (value === null) return NaN;
  return readNumber(value, field);
}

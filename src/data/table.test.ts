import { describe, expect, it } from 'vitest';
import { isBerthError } from '../core/index.js';
import {
  NumericColumnBuilder,
  StringColumnBuilder,
  concatTables,
  createNumericColumn,
  createStringColumn,
  getColumn,
  selectColumns,
  sliceTable,
  stringValues,
  validateTable,
  type Column,
  type StringColumn,
  type Table,
} from './table.js';

const strings = (c: Column): (string | null)[] => (c.type === 'string' ? stringValues(c) : []);
const numbers = (c: Column): number[] => (c.type === 'string' || c.type === 'binary' ? [] : [...c.values]);

function sample(): Table {
  return {
    rows: 4,
    columns: [
      createNumericColumn('x', 'double', [1, null, 3, 4]),
      createStringColumn('s', ['a', 'b', null, 'a']),
      { name: 'b', type: 'binary', values: [Uint8Array.of(1), null, Uint8Array.of(), Uint8Array.of(2)] },
    ],
    metadata: { k: 'v' },
  };
}

describe('table helpers', () => {
  it('getColumn names the missing column and the ones there are', () => {
    expect(getColumn(sample(), 's').type).toBe('string');
    try {
      getColumn(sample(), 'nope');
      expect.fail('no error');
    } catch (err) {
      expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toBe('table has no column "nope" (columns: "x", "s", "b")');
    }
  });

  it('validateTable rejects wrong lengths, duplicate names and codes outside the dictionary', () => {
    expect(() => validateTable(sample())).not.toThrow();
    expect(() => validateTable({ rows: 5, columns: sample().columns })).toThrow(/column "x": expected 5 values/);
    expect(() => validateTable({ rows: 4, columns: [sample().columns[0]!, sample().columns[0]!] })).toThrow(/two columns named "x"/);
    expect(() => validateTable({ rows: 1, columns: [{ name: 's', type: 'string', dictionary: ['a'], codes: Int32Array.of(-2) }] })).toThrow(/code -2/);
  });

  it('sliceTable takes rows like Array.prototype.slice, as views', () => {
    const t = sample();
    const s = sliceTable(t, 1, 3);
    expect(s.rows).toBe(2);
    expect(numbers(s.columns[0]!)).toEqual([NaN, 3]);
    expect(strings(s.columns[1]!)).toEqual(['b', null]);
    expect(s.metadata).toEqual({ k: 'v' });
    expect(sliceTable(t, -1).rows).toBe(1);
    expect(sliceTable(t, 3, 1).rows).toBe(0);
    expect((s.columns[0] as { values: Float64Array }).values.buffer).toBe((t.columns[0] as { values: Float64Array }).values.buffer);
  });

  it('selectColumns keeps the named columns in the order given', () => {
    expect(selectColumns(sample(), ['b', 'x']).columns.map((c) => c.name)).toEqual(['b', 'x']);
  });

  it('concatTables appends rows, matching columns by name and merging dictionaries', () => {
    const a = sample();
    const b: Table = {
      rows: 2,
      columns: [
        { name: 'b', type: 'binary', values: [null, Uint8Array.of(9)] },
        { name: 's', type: 'string', dictionary: ['unused', 'c', 'a'], codes: Int32Array.of(1, 2) },
        createNumericColumn('x', 'double', [5, 6]),
      ],
    };
    const t = concatTables([a, b]);
    expect(t.rows).toBe(6);
    expect(t.columns.map((c) => c.name)).toEqual(['x', 's', 'b']);
    expect(numbers(t.columns[0]!)).toEqual([1, NaN, 3, 4, 5, 6]);
    expect(strings(t.columns[1]!)).toEqual(['a', 'b', null, 'a', 'c', 'a']);
    expect((t.columns[1] as { dictionary: string[] }).dictionary).toEqual(['a', 'b', 'c']);
    expect((t.columns[2] as { values: unknown[] }).values.length).toBe(6);
    expect(concatTables([])).toEqual({ rows: 0, columns: [] });
  });

  it('concatTables rejects tables whose columns differ', () => {
    const other: Table = { rows: 1, columns: [createNumericColumn('x', 'int64', [1]), createStringColumn('s', ['a']), { name: 'b', type: 'binary', values: [null] }] };
    expect(() => concatTables([sample(), other])).toThrow(/column "x" is int64 in table 1 but double elsewhere/);
    expect(() => concatTables([sample(), { rows: 0, columns: [] }])).toThrow(/table 1 has columns/);
  });

  it('concatTables with missing: fill takes every column of any table and fills the gaps as missing', () => {
    const a: Table = { rows: 2, columns: [createNumericColumn('x', 'double', [1, 2]), createStringColumn('s', ['a', null])] };
    const b: Table = { rows: 1, columns: [createStringColumn('s', ['b']), { name: 'r', type: 'binary', values: [Uint8Array.of(7)] }] };
    const t = concatTables([a, b], { missing: 'fill' });
    expect(t.rows).toBe(3);
    expect(t.columns.map((c) => c.name)).toEqual(['x', 's', 'r']);
    expect(Array.from((t.columns[0] as { values: Float64Array }).values)).toEqual([1, 2, NaN]);
    expect(stringValues(t.columns[1] as StringColumn)).toEqual(['a', null, 'b']);
    expect((t.columns[2] as { values: (Uint8Array | null)[] }).values).toEqual([null, null, Uint8Array.of(7)]);
    const clash: Table = { rows: 1, columns: [createStringColumn('x', ['q'])] };
    expect(() => concatTables([a, clash], { missing: 'fill' })).toThrow(/column "x" is string in table 1 but double elsewhere/);
  });

  it('StringColumnBuilder codes strings in order of first appearance', () => {
    const b = new StringColumnBuilder('s', 1);
    for (const v of ['x', null, 'y', 'x', undefined]) b.push(v);
    b.pushMissing(2);
    b.pushCodes(Int32Array.of(0, -1, 1), ['y', 'z']);
    const c = b.build();
    expect(c.dictionary).toEqual(['x', 'y', 'z']);
    expect([...c.codes]).toEqual([0, -1, 1, 0, -1, -1, -1, 1, -1, 2]);
    b.push('w');
    expect(c.codes.length).toBe(10);
  });

  it('NumericColumnBuilder grows and stores missing values as NaN', () => {
    const b = new NumericColumnBuilder('n', 'int64', 1);
    for (let i = 0; i < 100; i++) b.push(i % 10 === 0 ? null : i);
    const c = b.build();
    expect(c.type).toBe('int64');
    expect(c.values.length).toBe(100);
    expect(Number.isNaN(c.values[0])).toBe(true);
    expect(c.values[99]).toBe(99);
  });
});

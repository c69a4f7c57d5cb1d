import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { concatTables, readParquetFile, readParquetFilesConcatenated, writeParquetFile, type Table } from '../../src/data/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-concat-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function part(offset: number, rows: number, cats: string[]): Table {
  return {
    rows,
    columns: [
      { name: 'x', type: 'double', values: Float64Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? NaN : offset + i * 0.5)) },
      { name: 'n', type: 'int64', values: Float64Array.from({ length: rows }, (_, i) => offset + i) },
      { name: 'c', type: 'string', dictionary: cats, codes: Int32Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? -1 : i % cats.length)) },
    ],
  };
}

describe('readParquetFilesConcatenated', () => {
  it('reads several files into one table equal to reading each and concatenating, dictionaries merged', async () => {
    const tables = [part(0, 1000, ['a', 'b', 'c']), part(5000, 37, ['c', 'z']), part(9000, 2500, ['b', 'q', 'a', 'w'])];
    const files = tables.map((_, i) => path.join(dir, `p${i}.parquet`));
    for (let i = 0; i < tables.length; i++) await writeParquetFile(files[i]!, tables[i]!, { rowGroupRows: 700 });
    const whole = (await readParquetFilesConcatenated(files, ['n', 'c', 'x']))!;
    const expected = concatTables(await Promise.all(files.map((f) => readParquetFile(f, { columns: ['n', 'c', 'x'] }))));
    expect(whole.rows).toBe(3537);
    for (const name of ['n', 'x']) {
      const a = whole.columns.find((c) => c.name === name)!;
      const b = expected.columns.find((c) => c.name === name)!;
      expect(a.type).toBe(b.type);
      expect(Array.from((a as { values: Float64Array }).values)).toEqual(Array.from((b as { values: Float64Array }).values));
    }
    const text = (t: Table): (string | null)[] => {
      const c = t.columns.find((x) => x.name === 'c')!;
      if (c.type !== 'string') throw new Error('not a string column');
      return Array.from(c.codes, (k) => (k < 0 ? null : c.dictionary[k]!));
    };
    expect(text(whole)).toEqual(text(expected));
  });

  it('gives up (null) when a file lacks a column or holds it with another type, so the caller reads file by file', async () => {
    const a = path.join(dir, 'a.parquet');
    const b = path.join(dir, 'b.parquet');
    await writeParquetFile(a, { rows: 2, columns: [{ name: 'x', type: 'double', values: Float64Array.of(1, 2) }] });
    await writeParquetFile(b, { rows: 1, columns: [{ name: 'y', type: 'double', values: Float64Array.of(3) }] });
    expect(await readParquetFilesConcatenated([a, b], ['x'])).toBeNull();
    const c = path.join(dir, 'c.parquet');
    await writeParquetFile(c, { rows: 1, columns: [{ name: 'x', type: 'string', dictionary: ['s'], codes: Int32Array.of(0) }] });
    expect(await readParquetFilesConcatenated([a, c], ['x'])).toBeNull();
  });
});

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/core/index.js';
import {
  createNumericColumn,
  createStringColumn,
  decodeParquet,
  describeParquet,
  encodeParquet,
  readCsvFile,
  readParquetFile,
  stringValues,
  writeParquetFile,
  type Column,
  type Table,
} from '../../src/data/index.js';
import { decodeColumnsGeneral } from '../../src/data/parquet/general-reader.js';
import { fixturePath } from '../helpers/fixtures.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-parquet-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A deterministic pseudo-random source. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s = (s ^ (s >>> 13)) >>> 0;
    return s / 2 ** 32;
  };
}

/** Plain values of a column, for comparison (strings decoded, bytes as arrays). */
function plain(c: Column): unknown[] {
  switch (c.type) {
    case 'string':
      return stringValues(c);
    case 'binary':
      return c.values.map((v) => (v === null ? null : [...v]));
    default:
      return [...c.values];
  }
}

function expectSameTable(got: Table, want: Table): void {
  expect(got.rows).toBe(want.rows);
  expect(got.columns.map((c) => [c.name, c.type])).toEqual(want.columns.map((c) => [c.name, c.type]));
  want.columns.forEach((w, j) => {
    const gc = got.columns[j]!;
    if (gc.type === 'string') expect(new Set(gc.dictionary).size, `column ${w.name}: dictionary entries are unique`).toBe(gc.dictionary.length);
    const g = plain(gc);
    const e = plain(w);
    expect(g.length).toBe(e.length);
    for (let i = 0; i < e.length; i++) {
      const a = g[i];
      const b = e[i];
      if (typeof b === 'number') {
        if (!Object.is(a, b)) expect.fail(`column ${w.name} row ${i}: got ${String(a)}, want ${b}`);
      } else expect(a, `column ${w.name} row ${i}`).toEqual(b);
    }
  });
}

/** A table of every column type with nulls sprinkled in. */
function mixedTable(rows: number, seed = 1): Table {
  const r = rng(seed);
  const cats = ['alpha', 'beta', 'gamma', 'délta', '東京', '', 'x'.repeat(100)];
  const doubles = new Float64Array(rows);
  const ints = new Float64Array(rows);
  const times = new Float64Array(rows);
  const strings: (string | null)[] = [];
  const bytes: (Uint8Array | null)[] = [];
  for (let i = 0; i < rows; i++) {
    const u = r();
    doubles[i] = u < 0.1 ? NaN : u < 0.12 ? -0 : u < 0.13 ? Infinity : u < 0.14 ? -Infinity : (r() - 0.5) * 1e6;
    ints[i] = r() < 0.1 ? NaN : Math.floor((r() - 0.5) * 2 ** 53);
    times[i] = r() < 0.1 ? NaN : 1_700_000_000_000 + Math.floor(r() * 1e10);
    strings.push(r() < 0.15 ? null : cats[Math.floor(r() * cats.length)]!);
    bytes.push(r() < 0.1 ? null : Uint8Array.from({ length: Math.floor(r() * 20) }, () => Math.floor(r() * 256)));
  }
  return {
    rows,
    columns: [
      { name: 'd', type: 'double', values: doubles },
      { name: 'i', type: 'int64', values: ints },
      { name: 't', type: 'timestamp_ms', values: times },
      createStringColumn('s', strings),
      { name: 'b', type: 'binary', values: bytes },
    ],
  };
}

async function expectInvalid(p: Promise<unknown>, ...fragments: string[]): Promise<Error> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').not.toBeNull();
  expect(isBerthError(err, 'INVALID_ARGUMENT'), String(err)).toBe(true);
  for (const f of fragments) expect((err as Error).message).toContain(f);
  return err as Error;
}

describe('Parquet round trip', () => {
  it('keeps every column type, nulls included', async () => {
    const t = mixedTable(5000);
    expectSameTable(await decodeParquet(encodeParquet(t)), t);
  });

  it('writes files hyparquet (an independent reader) decodes to the same values', async () => {
    const t = mixedTable(3000, 5);
    const buf = encodeParquet(t, { rowGroupRows: 1000, pageRows: 256 });
    const footer = buf.subarray(buf.length - 8 - buf.readUInt32LE(buf.length - 8));
    const file = { byteLength: buf.length, slice: (s: number, e?: number) => buf.buffer.slice(buf.byteOffset + s, buf.byteOffset + (e ?? buf.length)) as ArrayBuffer };
    const columns = await decodeColumnsGeneral(file, footer, t.columns.map((c) => ({ name: c.name, target: c.type })), t.rows);
    expectSameTable({ rows: t.rows, columns }, t);
  });

  it('keeps edge values: -0, infinities, ±2^53, empty strings and bytes', async () => {
    const t: Table = {
      rows: 6,
      columns: [
        createNumericColumn('d', 'double', [-0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MAX_VALUE, null]),
        createNumericColumn('i', 'int64', [2 ** 53, -(2 ** 53), 2 ** 53 + 2, -(2 ** 62), 0, -1]),
        createNumericColumn('t', 'timestamp_ms', [0, -1, -86_400_000 * 365 * 100, 8.64e15, null, 1]),
        createStringColumn('s', ['', null, 'a\u0000b', '😀', 'é', '']),
        { name: 'b', type: 'binary', values: [new Uint8Array(0), null, new Uint8Array([0]), null, new Uint8Array(1000).fill(7), new Uint8Array([255, 0])] },
      ],
    };
    expectSameTable(await decodeParquet(encodeParquet(t)), t);
  });

  it('reads empty tables back with their columns and types', async () => {
    const t: Table = {
      rows: 0,
      columns: [
        { name: 'd', type: 'double', values: new Float64Array(0) },
        { name: 'i', type: 'int64', values: new Float64Array(0) },
        { name: 't', type: 'timestamp_ms', values: new Float64Array(0) },
        { name: 's', type: 'string', dictionary: [], codes: new Int32Array(0) },
        { name: 'b', type: 'binary', values: [] },
      ],
    };
    expectSameTable(await decodeParquet(encodeParquet(t)), t);
    const none = await decodeParquet(encodeParquet({ rows: 0, columns: [] }));
    expect(none).toEqual({ rows: 0, columns: [] });
  });

  it('splits rows into row groups and pages, with a dictionary per row group', async () => {
    const t = mixedTable(1003, 7);
    // a string column whose categories change between row groups, all null in one of them
    const s: (string | null)[] = [];
    for (let i = 0; i < 1003; i++) s.push(i >= 200 && i < 300 ? null : `g${Math.floor(i / 100)}-${i % 3}`);
    t.columns.push(createStringColumn('by_group', s));
    const buf = encodeParquet(t, { rowGroupRows: 100, pageRows: 17 });
    expectSameTable(await decodeParquet(buf), t);
    // the file writer recycles scratch memory between column chunks: same bytes
    const file = path.join(tmp, 'groups.parquet');
    await writeParquetFile(file, t, { rowGroupRows: 100, pageRows: 17 });
    expect(readFileSync(file).equals(buf)).toBe(true);
    expectSameTable(await readParquetFile(file), t);
  });

  it('dictionary-codes strings at every index width', async () => {
    for (const distinct of [1, 2, 3, 255, 256, 257, 70_000]) {
      const rows = Math.max(distinct * 2, 10);
      const values = Array.from({ length: rows }, (_, i) => (i % 5 === 4 ? null : `v${(i * 7919) % distinct}`));
      const t: Table = { rows, columns: [createStringColumn('s', values)] };
      const back = await decodeParquet(encodeParquet(t));
      expect(stringValues(back.columns[0] as Extract<Column, { type: 'string' }>)).toEqual(values);
    }
  });

  it('writes only the strings a row group uses, and decodes codes into one merged dictionary', async () => {
    const t: Table = { rows: 4, columns: [{ name: 's', type: 'string', dictionary: ['unused', 'b', 'a', 'never'], codes: Int32Array.from([2, 1, -1, 2]) }] };
    const buf = encodeParquet(t, { rowGroupRows: 2 });
    expect(buf.includes(Buffer.from('unused'))).toBe(false);
    const back = (await decodeParquet(buf)).columns[0] as Extract<Column, { type: 'string' }>;
    expect(back.dictionary).toEqual(['a', 'b']);
    expect([...back.codes]).toEqual([0, 1, -1, 0]);
  });

  it('floors fractional milliseconds of timestamps', async () => {
    const t: Table = { rows: 3, columns: [createNumericColumn('t', 'timestamp_ms', [1.9, -0.5, 1_700_000_000_000.999])] };
    const back = await decodeParquet(encodeParquet(t));
    expect(plain(back.columns[0]!)).toEqual([1, -1, 1_700_000_000_000]);
  });

  it('rejects an int64 column holding a fraction or a value past int64', () => {
    for (const bad of [1.5, Infinity, 2 ** 63]) {
      const t: Table = { rows: 2, columns: [createNumericColumn('n', 'int64', [1, bad])] };
      expect(() => encodeParquet(t)).toThrow(/column "n" \(int64\): row 1 holds/);
    }
  });

  it('rejects malformed tables', () => {
    const short: Table = { rows: 3, columns: [createNumericColumn('a', 'double', [1, 2])] };
    expect(() => encodeParquet(short)).toThrow(/expected 3 values/);
    const badCode: Table = { rows: 1, columns: [{ name: 's', type: 'string', dictionary: ['a'], codes: Int32Array.from([1]) }] };
    expect(() => encodeParquet(badCode)).toThrow(/outside its dictionary/);
  });

  it('stores key-value metadata from the table and the options (options win)', async () => {
    const t: Table = { ...mixedTable(3), metadata: { a: '1', b: 'table' } };
    const back = await decodeParquet(encodeParquet(t, { metadata: { b: 'opts', c: '{"json": true}' } }));
    expect(back.metadata).toEqual({ a: '1', b: 'opts', c: '{"json": true}' });
  });

  it('reads a subset of columns in the order asked, and names unknown ones', async () => {
    const t = mixedTable(50);
    const buf = encodeParquet(t);
    const back = await decodeParquet(buf, { columns: ['s', 'd'] });
    expect(back.columns.map((c) => c.name)).toEqual(['s', 'd']);
    expect(plain(back.columns[1]!)).toEqual(plain(t.columns[0]!));
    await expectInvalid(decodeParquet(buf, { columns: ['nope'], source: 'f.parquet' }), 'f.parquet', '"nope"', '"d", "i"');
  });

  it('describes a file from its footer', async () => {
    const info = await describeParquet(encodeParquet(mixedTable(10)));
    expect(info.rows).toBe(10);
    expect(info.columns).toEqual([
      { name: 'd', type: 'double' },
      { name: 'i', type: 'int64' },
      { name: 't', type: 'timestamp_ms' },
      { name: 's', type: 'string' },
      { name: 'b', type: 'binary' },
    ]);
  });

  it('round-trips the credit fixture read from CSV', async () => {
    const t = await readCsvFile(fixturePath('credit', 'current_quality.csv'));
    const file = path.join(tmp, 'credit.parquet');
    await writeParquetFile(file, t, { rowGroupRows: 6000 });
    expectSameTable(await readParquetFile(file), t);
  });
});

describe('writeParquetFile', () => {
  it('creates missing folders and leaves no temporary file behind', async () => {
    const dir = path.join(tmp, 'a', 'deployment=x', 'hour=2024-01-01T00');
    const file = path.join(dir, 'part-1.parquet');
    const t = mixedTable(10);
    await writeParquetFile(file, t);
    await writeParquetFile(file, mixedTable(20, 3)); // replaces it whole
    expect(readdirSync(dir)).toEqual(['part-1.parquet']);
    expect((await readParquetFile(file)).rows).toBe(20);
  });

  it('leaves no temporary file and no target when encoding fails', async () => {
    const dir = path.join(tmp, 'fail');
    const bad: Table = { rows: 1, columns: [createNumericColumn('n', 'int64', [0.5])] };
    await expect(writeParquetFile(path.join(dir, 'x.parquet'), bad)).rejects.toThrow(/not an integer/);
    expect(readdirSync(dir)).toEqual([]);
    const malformed: Table = { rows: 2, columns: [createNumericColumn('n', 'double', [1])] };
    await expect(writeParquetFile(path.join(tmp, 'never', 'x.parquet'), malformed)).rejects.toThrow(/expected 2 values/);
    expect(() => readdirSync(path.join(tmp, 'never'))).toThrow();
  });
});

describe('reading damaged or foreign input', () => {
  const good = encodeParquet(mixedTable(300), { rowGroupRows: 100, pageRows: 40 });

  it('says a file that is not Parquet is not a Parquet file', async () => {
    await expectInvalid(decodeParquet(Buffer.from('a,b\n1,2\n'), { source: 'data.csv' }), 'data.csv is not a Parquet file', 'PAR1');
    await expectInvalid(decodeParquet(Buffer.alloc(0)), 'not a Parquet file');
    const badMagic = Buffer.from(good);
    badMagic.write('PAR2', 0, 'latin1');
    await expectInvalid(decodeParquet(badMagic), 'not a Parquet file');
  });

  it('says a truncated file is truncated', async () => {
    for (const cut of [4, 11, 12, 100, good.length >> 1, good.length - 9, good.length - 5, good.length - 1]) {
      await expectInvalid(decodeParquet(good.subarray(0, cut)), 'truncated');
    }
  });

  it('reports a wrong footer length', async () => {
    const big = Buffer.from(good);
    big.writeUInt32LE(good.length * 2, good.length - 8);
    await expectInvalid(decodeParquet(big), 'footer length', 'larger than the file');
    for (const delta of [-3, -1, 1, 2, 50]) {
      const off = Buffer.from(good);
      off.writeUInt32LE(good.readUInt32LE(good.length - 8) + delta, good.length - 8);
      await expectInvalid(decodeParquet(off), 'not a valid Parquet file');
    }
  });

  it('answers damaged bytes anywhere with a BerthError or a table, never a crash or a hang', async () => {
    const r = rng(42);
    const started = Date.now();
    for (let k = 0; k < 400; k++) {
      const bad = Buffer.from(good);
      const flips = 1 + Math.floor(r() * 3);
      for (let f = 0; f < flips; f++) bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256);
      try {
        const t = await decodeParquet(bad);
        expect(t.columns.length).toBeGreaterThan(0);
      } catch (err) {
        expect(isBerthError(err, 'INVALID_ARGUMENT'), `flip ${k}: ${String((err as Error).stack)}`).toBe(true);
      }
    }
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('reports a missing file', async () => {
    await expectInvalid(readParquetFile(path.join(tmp, 'nope.parquet')), 'no such file');
  });
});

describe('Parquet speed', () => {
  it('writes and reads 1M rows × 15 double columns (times printed)', async () => {
    const rows = 1_000_000;
    const r = rng(9);
    const columns: Column[] = [];
    for (let j = 0; j < 15; j++) {
      const v = new Float64Array(rows);
      for (let i = 0; i < rows; i++) v[i] = (r() - 0.5) * 1000;
      columns.push({ name: `x${j}`, type: 'double', values: v });
    }
    const t: Table = { rows, columns };
    const file = path.join(tmp, 'wide.parquet');
    let t0 = performance.now();
    const buf = encodeParquet(t);
    const encodeMs = performance.now() - t0;
    t0 = performance.now();
    await writeParquetFile(file, t);
    const writeMs = performance.now() - t0;
    t0 = performance.now();
    const back = await readParquetFile(file);
    const readMs = performance.now() - t0;
    // with 5% nulls in every column
    for (const c of columns) {
      const v = (c as Extract<Column, { type: 'double' }>).values;
      for (let i = 0; i < rows; i += 20) v[i] = NaN;
    }
    t0 = performance.now();
    await writeParquetFile(file, t);
    const writeNullsMs = performance.now() - t0;
    t0 = performance.now();
    const backNulls = await readParquetFile(file);
    const readNullsMs = performance.now() - t0;
    console.log(
      `[parquet] 1M rows × 15 doubles (${(buf.length / 2 ** 20).toFixed(0)} MiB): encode ${encodeMs.toFixed(0)} ms, ` +
        `writeParquetFile ${writeMs.toFixed(0)} ms, readParquetFile ${readMs.toFixed(0)} ms; with 5% nulls: write ${writeNullsMs.toFixed(0)} ms, read ${readNullsMs.toFixed(0)} ms`,
    );
    expect(back.rows).toBe(rows);
    expect(plain(backNulls.columns[14]!).slice(0, 3)).toEqual(plain(columns[14]!).slice(0, 3));
    writeFileSync(path.join(tmp, 'done'), '');
  });
});

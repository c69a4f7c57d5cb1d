/**
 * Interoperability with DuckDB, an independent Parquet implementation: DuckDB reads every file Berth
 * writes (values, types, statistics, hive partitions), and Berth reads what DuckDB writes (snappy, zstd,
 * gzip, uncompressed, data page v2, dictionary-encoded numerics, booleans, decimals, dates).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/core/index.js';
import {
  createNumericColumn,
  createStringColumn,
  decodeParquet,
  readParquetFile,
  stringValues,
  writeParquetFile,
  writeParquetStream,
  type Column,
  type Table,
} from '../../src/data/index.js';
import { decodeColumnsGeneral } from '../../src/data/parquet/general-reader.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-duckdb-'));
let instance: DuckDBInstance;
let db: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
});
afterAll(() => {
  db?.closeSync();
  instance?.closeSync();
  rmSync(tmp, { recursive: true, force: true });
});

/** Rows of a query as JS values, column by column. */
async function columnsOf(sql: string): Promise<Record<string, unknown[]>> {
  const reader = await db.runAndReadAll(sql);
  return reader.getColumnsObjectJS() as Record<string, unknown[]>;
}

const q = (p: string): string => `'${p.replaceAll("'", "''")}'`;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s = (s ^ (s >>> 13)) >>> 0;
    return s / 2 ** 32;
  };
}

/** Every Berth column type, nulls sprinkled, and a row number to keep order by. */
function sampleTable(rows: number, seed: number): Table {
  const r = rng(seed);
  const cats = ['alpha', 'beta', 'gamma', 'délta', '東京', '', 'quote"d, comma', 'x'.repeat(80)];
  const d: (number | null)[] = [];
  const i64: (number | null)[] = [];
  const ts: (number | null)[] = [];
  const s: (string | null)[] = [];
  const b: (Uint8Array | null)[] = [];
  for (let i = 0; i < rows; i++) {
    const u = r();
    d.push(u < 0.1 ? null : u < 0.11 ? -0 : u < 0.12 ? Infinity : u < 0.13 ? -Infinity : (r() - 0.5) * 1e6);
    i64.push(r() < 0.1 ? null : Math.floor((r() - 0.5) * 2 ** 53));
    ts.push(r() < 0.1 ? null : 1_700_000_000_000 + Math.floor((r() - 0.5) * 1e12));
    s.push(r() < 0.15 ? null : cats[Math.floor(r() * cats.length)]!);
    b.push(r() < 0.1 ? null : Uint8Array.from({ length: Math.floor(r() * 12) }, () => Math.floor(r() * 256)));
  }
  return {
    rows,
    columns: [
      createNumericColumn('row', 'int64', Array.from({ length: rows }, (_, i) => i)),
      createNumericColumn('d', 'double', d),
      createNumericColumn('i', 'int64', i64),
      createNumericColumn('t', 'timestamp_ms', ts),
      createStringColumn('s', s),
      { name: 'b', type: 'binary', values: b },
    ],
  };
}

function col(t: Table, name: string): Column {
  const c = t.columns.find((x) => x.name === name);
  if (!c) throw new Error(`no column ${name}`);
  return c;
}

/** Values of a Berth column as DuckDB's JS conversion gives them (null for missing). */
function asDuck(c: Column): unknown[] {
  switch (c.type) {
    case 'string':
      return stringValues(c);
    case 'binary':
      return c.values.map((v) => (v === null ? null : Buffer.from(v).toString('hex').toUpperCase()));
    default:
      return [...c.values].map((v) => (Number.isNaN(v) ? null : v));
  }
}

/** Strings are dictionary-coded with each string once, whatever the file's dictionaries looked like. */
function expectUniqueDictionaries(t: Table): void {
  for (const c of t.columns) if (c.type === 'string') expect(new Set(c.dictionary).size, `${c.name} dictionary`).toBe(c.dictionary.length);
}

function expectSameValues(got: unknown[], want: unknown[], what: string, tolerance = 0): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const a = got[i];
    const b = want[i];
    if (typeof a === 'number' && typeof b === 'number') {
      if (tolerance > 0 && Number.isFinite(b)) {
        if (!(Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(b)))) expect.fail(`${what} row ${i}: got ${a}, want ${b}`);
      } else if (!Object.is(a, b)) expect.fail(`${what} row ${i}: got ${a}, want ${b}`);
    } else if (a !== b) expect.fail(`${what} row ${i}: got ${String(a)}, want ${String(b)}`);
  }
}

describe('a Parquet file written from a stream of tables', () => {
  it('holds every table as row groups, in order, read alike by DuckDB and by Berth', async () => {
    const parts = [sampleTable(700, 1), sampleTable(1, 2), sampleTable(2300, 3)];
    const file = path.join(tmp, 'stream.parquet');
    async function* tables(): AsyncGenerator<Table> {
      for (const t of parts) yield t;
    }
    expect(await writeParquetStream(file, tables(), { rowGroupRows: 1000 })).toBe(3001);
    const back = await readParquetFile(file);
    expect(back.rows).toBe(3001);
    const duck = await columnsOf(`select * from read_parquet(${q(file)})`);
    for (const name of ['d', 'i', 's', 'b']) {
      const want = parts.flatMap((t) => asDuck(col(t, name)));
      expectSameValues(asDuck(col(back, name)), want, `berth ${name}`);
      expectSameValues(duck[name]!.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex').toUpperCase() : typeof v === 'bigint' ? Number(v) : v)), want, `duckdb ${name}`);
    }
    // row groups follow the tables (a table larger than rowGroupRows is split)
    const groups = await columnsOf(`select count(distinct row_group_id) as n from parquet_metadata(${q(file)})`);
    expect(Number(groups['n']![0])).toBe(5); // 700 | 1 | 1000, 1000, 300
  });

  it('writes an empty file with the given schema, and refuses tables whose columns differ', async () => {
    const empty = path.join(tmp, 'empty.parquet');
    async function* none(): AsyncGenerator<Table> {}
    expect(await writeParquetStream(empty, none(), {}, { rows: 0, columns: [createNumericColumn('x', 'double', []), createStringColumn('s', [])] })).toBe(0);
    const back = await readParquetFile(empty);
    expect(back.columns.map((c) => `${c.name}:${c.type}`)).toEqual(['x:double', 's:string']);
    async function* mixed(): AsyncGenerator<Table> {
      yield { rows: 1, columns: [createNumericColumn('x', 'double', [1])] };
      yield { rows: 1, columns: [createNumericColumn('y', 'double', [1])] };
    }
    await expect(writeParquetStream(path.join(tmp, 'mixed.parquet'), mixed())).rejects.toThrow(/every table needs the first one's columns \(x:double\), got \(y:double\)/);
    expect(readdirSync(tmp).filter((f) => f.includes('mixed'))).toEqual([]);
  });
});

describe('DuckDB reads what Berth writes', () => {
  const table = sampleTable(5000, 11);
  const file = path.join(tmp, 'berth.parquet');

  beforeAll(async () => {
    await writeParquetFile(file, { ...table, metadata: { 'berth.format': 'test/1' } }, { rowGroupRows: 1500, pageRows: 400 });
  });

  it('sees the column types Berth means', async () => {
    const cols = await columnsOf(`DESCRIBE SELECT * FROM read_parquet(${q(file)})`);
    expect(Object.fromEntries(cols['column_name']!.map((n, k) => [n, cols['column_type']![k]]))).toEqual({
      row: 'BIGINT',
      d: 'DOUBLE',
      i: 'BIGINT',
      t: 'TIMESTAMP WITH TIME ZONE',
      s: 'VARCHAR',
      b: 'BLOB',
    });
  });

  it('reads every value, nulls, infinities, timestamps and strings included', async () => {
    const got = await columnsOf(
      `SELECT "row"::DOUBLE AS "row", d, i::DOUBLE AS i, epoch_ms(t)::DOUBLE AS t, s, hex(b) AS b FROM read_parquet(${q(file)}) ORDER BY "row"`,
    );
    for (const name of ['row', 'd', 'i', 't', 's', 'b']) expectSameValues(got[name]!, asDuck(col(table, name)), name);
  });

  it('gets the row count, key-value metadata and null counts from the footer', async () => {
    const meta = await columnsOf(`SELECT num_rows, num_row_groups FROM parquet_file_metadata(${q(file)})`);
    expect(meta['num_rows']).toEqual([5000n]);
    expect(meta['num_row_groups']).toEqual([4n]);
    const kv = await columnsOf(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${q(file)})`);
    expect(kv['k']).toEqual(['berth.format']);
    expect(kv['v']).toEqual(['test/1']);
    const stats = await columnsOf(`SELECT path_in_schema AS p, sum(stats_null_count)::DOUBLE AS n FROM parquet_metadata(${q(file)}) GROUP BY 1 ORDER BY 1`);
    const nulls = Object.fromEntries(stats['p']!.map((p, k) => [p, stats['n']![k]]));
    for (const name of ['d', 'i', 't', 's', 'b']) expect(nulls[name], name).toBe(asDuck(col(table, name)).filter((v) => v === null).length);
  });

  it('filters with min/max statistics and gets the same counts as a scan', async () => {
    // wrong statistics would make DuckDB skip row groups that hold matches
    const d = asDuck(col(table, 'd')) as (number | null)[];
    const i = asDuck(col(table, 'i')) as (number | null)[];
    const s = asDuck(col(table, 's')) as (string | null)[];
    const t = asDuck(col(table, 't')) as (number | null)[];
    const cases: [string, number][] = [
      [`d > 400000`, d.filter((v) => v !== null && v > 400000).length],
      [`d = 'Infinity'::DOUBLE`, d.filter((v) => v === Infinity).length],
      [`d <= 0`, d.filter((v) => v !== null && v <= 0).length],
      [`i < -4000000000000000`, i.filter((v) => v !== null && v < -4e15).length],
      [`s = 'gamma'`, s.filter((v) => v === 'gamma').length],
      [`s > 'x'`, s.filter((v) => v !== null && Buffer.compare(Buffer.from(v), Buffer.from('x')) > 0).length],
      [`epoch_ms(t) > 1700000000000`, t.filter((v) => v !== null && v > 1_700_000_000_000).length],
    ];
    for (const [where, want] of cases) {
      const got = await columnsOf(`SELECT count(*)::DOUBLE AS n FROM read_parquet(${q(file)}) WHERE ${where}`);
      expect(got['n'], where).toEqual([want]);
    }
  });

  it('reads hive-partitioned inference-log folders', async () => {
    const root = path.join(tmp, 'log');
    const a = sampleTable(300, 1);
    const b = sampleTable(200, 2);
    await writeParquetFile(path.join(root, 'deployment=x', 'hour=2024-01-01T00', 'part.parquet'), a);
    await writeParquetFile(path.join(root, 'deployment=x', 'hour=2024-01-01T01', 'part.parquet'), b);
    const glob = q(path.join(root, '**', '*.parquet'));
    const got = await columnsOf(
      `SELECT deployment::VARCHAR AS dep, hour::VARCHAR AS hour, count(*)::DOUBLE AS n, count(s)::DOUBLE AS ns, sum(d) FILTER (WHERE isfinite(d))::DOUBLE AS sd
       FROM read_parquet(${glob}, hive_partitioning = true) GROUP BY ALL ORDER BY hour`,
    );
    expect(got['dep']).toEqual(['x', 'x']);
    expect(got['hour']).toEqual(['2024-01-01T00', '2024-01-01T01']);
    expect(got['n']).toEqual([300, 200]);
    const nonNull = (t: Table, n: string): number => asDuck(col(t, n)).filter((v) => v !== null).length;
    expect(got['ns']).toEqual([nonNull(a, 's'), nonNull(b, 's')]);
    const finiteSum = (t: Table): number => (asDuck(col(t, 'd')) as (number | null)[]).reduce<number>((acc, v) => (v !== null && Number.isFinite(v) ? acc + v : acc), 0);
    expect((got['sd'] as number[])[0]).toBeCloseTo(finiteSum(a), 3);
    expect((got['sd'] as number[])[1]).toBeCloseTo(finiteSum(b), 3);
    const filtered = await columnsOf(`SELECT count(*)::DOUBLE AS n FROM read_parquet(${glob}, hive_partitioning = true) WHERE hour = '2024-01-01T01'`);
    expect(filtered['n']).toEqual([200]);
  });
});

describe('Berth reads what DuckDB writes', () => {
  /** Columns DuckDB writes, the Berth type each reads as, and the SQL giving the expected JS value. */
  const COLUMNS: [name: string, type: Column['type'], expected: string, tolerance?: number][] = [
    ['i32', 'int64', 'i32::DOUBLE'],
    ['i64', 'int64', 'i64::DOUBLE'],
    ['u8', 'int64', 'u8::DOUBLE'],
    ['d', 'double', 'd'],
    ['dn', 'double', 'dn'],
    ['f', 'double', 'f::DOUBLE'],
    ['flag', 'int64', 'flag::INTEGER::DOUBLE'],
    ['s', 'string', 's'],
    ['sn', 'string', 'sn'],
    ['uniq', 'string', 'uniq'],
    ['ts', 'timestamp_ms', 'epoch_us(ts)::DOUBLE / 1000'],
    ['tstz', 'timestamp_ms', 'epoch_us(tstz)::DOUBLE / 1000'],
    ['tsms', 'timestamp_ms', 'epoch_ms(tsms)::DOUBLE'],
    ['dt', 'timestamp_ms', 'epoch_ms(dt::TIMESTAMP)::DOUBLE'],
    ['dec', 'double', 'dec::DOUBLE', 1e-12],
    ['blob', 'binary', 'hex(blob)'],
  ];
  const SOURCE = `
    SELECT
      i::INTEGER AS i32,
      (i::BIGINT - 5000) * 1000003 AS i64,
      (i % 256)::UTINYINT AS u8,
      (i * 0.25 - 100)::DOUBLE AS d,
      CASE WHEN i % 5 = 0 THEN NULL WHEN i % 7 = 0 THEN 'inf'::DOUBLE ELSE (i % 13) * 1.5 END AS dn,
      (i * 0.5)::FLOAT AS f,
      CASE WHEN i % 9 = 0 THEN NULL ELSE i % 3 = 0 END AS flag,
      'cat' || (i % 7) AS s,
      CASE WHEN i % 4 = 0 THEN NULL ELSE 'vä' || (i % 11) END AS sn,
      'id-' || i AS uniq,
      TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(i * 1000003) AS ts,
      CASE WHEN i % 6 = 0 THEN NULL ELSE TIMESTAMPTZ '2024-03-10 12:00:00+00' + to_seconds(i) END AS tstz,
      (TIMESTAMP '2023-06-01 00:00:00' + to_milliseconds(i * 17))::TIMESTAMP_MS AS tsms,
      CASE WHEN i % 8 = 0 THEN NULL ELSE DATE '1969-12-01' + i::INTEGER END AS dt,
      (i * 1.25 - 7)::DECIMAL(12, 2) AS dec,
      CASE WHEN i % 3 = 0 THEN NULL ELSE ('\\x' || lpad(to_hex(i % 256), 2, '0'))::BLOB END AS blob
    FROM range(10000) t(i)`;

  beforeAll(async () => {
    await db.run(`CREATE TABLE src AS ${SOURCE}`);
  });

  const VARIANTS: [label: string, options: string][] = [
    ['default (snappy, dictionaries)', ''],
    ['zstd', ', COMPRESSION zstd'],
    ['gzip', ', COMPRESSION gzip'],
    ['uncompressed', ', COMPRESSION uncompressed'],
    ['data page v2', ', PARQUET_VERSION v2'],
    ['data page v2 uncompressed', ', PARQUET_VERSION v2, COMPRESSION uncompressed'],
  ];

  for (const [label, options] of VARIANTS) {
    it(`reads every column of a DuckDB file: ${label}`, async () => {
      const file = path.join(tmp, `duck-${label.replace(/\W+/g, '-')}.parquet`);
      await db.run(`COPY src TO ${q(file)} (FORMAT parquet, ROW_GROUP_SIZE 4096${options})`);
      const t = await readParquetFile(file);
      expect(t.rows).toBe(10000);
      expectUniqueDictionaries(t);
      expect(t.columns.map((c) => [c.name, c.type])).toEqual(COLUMNS.map(([n, type]) => [n, type]));
      const want = await columnsOf(`SELECT ${COLUMNS.map(([n, , sql]) => `${sql} AS "${n}"`).join(', ')} FROM read_parquet(${q(file)})`);
      for (const [name, , , tolerance] of COLUMNS) expectSameValues(asDuck(col(t, name)), want[name]!, `${label}: ${name}`, tolerance ?? 0);
      // the general reader (hyparquet) on every column too, whichever path readParquetFile took
      const buf = readFileSync(file);
      const footer = buf.subarray(buf.length - 8 - buf.readUInt32LE(buf.length - 8));
      const asyncBuffer = { byteLength: buf.length, slice: (s: number, e?: number) => buf.buffer.slice(buf.byteOffset + s, buf.byteOffset + (e ?? buf.length)) as ArrayBuffer };
      const general = await decodeColumnsGeneral(asyncBuffer, footer, COLUMNS.map(([name, target]) => ({ name, target })), 10000);
      expectUniqueDictionaries({ rows: 10000, columns: general });
      for (const [k, [name, type, , tolerance]] of COLUMNS.entries()) {
        expect(general[k]!.type).toBe(type);
        expectSameValues(asDuck(general[k]!), want[name]!, `${label} (general reader): ${name}`, tolerance ?? 0);
      }
    });
  }

  it('reads only the columns asked for', async () => {
    const file = path.join(tmp, 'duck-cols.parquet');
    await db.run(`COPY src TO ${q(file)} (FORMAT parquet)`);
    const t = await readParquetFile(file, { columns: ['sn', 'd'] });
    expect(t.columns.map((c) => c.name)).toEqual(['sn', 'd']);
    const want = await columnsOf(`SELECT sn, d FROM read_parquet(${q(file)})`);
    expectSameValues(asDuck(t.columns[0]!), want['sn']!, 'sn');
    expectSameValues(asDuck(t.columns[1]!), want['d']!, 'd');
  });

  it('names a nested column it cannot read, and reads the flat ones around it', async () => {
    const file = path.join(tmp, 'nested.parquet');
    await db.run(`COPY (SELECT i AS x, [i, i + 1] AS l, {'a': i, 'b': 'z'} AS st, 'k' || i AS y FROM range(10) t(i)) TO ${q(file)} (FORMAT parquet)`);
    const err = await readParquetFile(file).catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain('column "l" is a LIST');
    const err2 = await readParquetFile(file, { columns: ['st'] }).catch((e: unknown) => e);
    expect((err2 as Error).message).toContain('column "st" is a struct');
    const t = await readParquetFile(file, { columns: ['x', 'y'] });
    expect(asDuck(t.columns[0]!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(asDuck(t.columns[1]!)).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
  });

  it('answers damaged compressed files with a BerthError or a table, never a crash or a hang', async () => {
    const file = path.join(tmp, 'fuzz.parquet');
    await db.run(`COPY (SELECT * FROM src LIMIT 2000) TO ${q(file)} (FORMAT parquet, ROW_GROUP_SIZE 500)`);
    const good = readFileSync(file);
    const r = rng(5);
    const started = Date.now();
    for (let k = 0; k < 150; k++) {
      const bad = Buffer.from(good);
      bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256);
      try {
        await decodeParquet(bad);
      } catch (err) {
        expect(isBerthError(err, 'INVALID_ARGUMENT'), `flip ${k}: ${String((err as Error).stack)}`).toBe(true);
      }
    }
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});

describe('round trip through DuckDB', () => {
  it('reads back a file DuckDB rewrote from a Berth file', async () => {
    const table = sampleTable(2000, 3);
    const a = path.join(tmp, 'rt', 'a.parquet');
    const b = path.join(tmp, 'rt', 'b.parquet');
    mkdirSync(path.dirname(a), { recursive: true });
    await writeParquetFile(a, table);
    await db.run(`COPY (SELECT * FROM read_parquet(${q(a)}) ORDER BY "row") TO ${q(b)} (FORMAT parquet)`);
    const back = await readParquetFile(b);
    for (const name of ['row', 'd', 'i', 't', 's', 'b']) expectSameValues(asDuck(col(back, name)), asDuck(col(table, name)), name);
  });
});

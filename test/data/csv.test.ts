import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../../src/core/index.js';
import { getColumn, parseCsv, readCsvFile, stringValues, type Column, type Table } from '../../src/data/index.js';
import { FIXTURES, fixturePath, readCardJson } from '../helpers/fixtures.js';

const TABULAR = ['breast-cancer-logreg', 'breast-cancer-gbt', 'diabetes-gbt-regressor', 'tabular-mixed', 'credit'] as const;
const tmp = mkdtempSync(path.join(tmpdir(), 'berth-csv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function numbers(t: Table, name: string): number[] {
  const c = getColumn(t, name);
  if (c.type === 'string' || c.type === 'binary') throw new Error(`${name} is ${c.type}`);
  return [...c.values];
}

function strings(t: Table, name: string): (string | null)[] {
  const c = getColumn(t, name);
  if (c.type !== 'string') throw new Error(`${name} is ${c.type}`);
  return stringValues(c);
}

function expectError(fn: () => unknown, code: string, ...fragments: string[]): void {
  try {
    fn();
  } catch (err) {
    expect(isBerthError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    for (const f of fragments) expect((err as Error).message).toContain(f);
    return;
  }
  throw new Error('expected an error');
}

async function expectRejection(p: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').not.toBeNull();
  expect(isBerthError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

/** A deliberately naive reader for files without quotes: the independent expectation for fixtures. */
function naiveRead(file: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

describe('parseCsv', () => {
  it('reads quoted fields, doubled quotes, newlines inside quotes and CRLF line ends', () => {
    const t = parseCsv('id,text,n\r\n1,"a,b",2\r\n2,"say ""hi""",3\r\n3,"two\r\nlines",4\r\n4,plain,5\r\n');
    expect(t.rows).toBe(4);
    expect(strings(t, 'text')).toEqual(['a,b', 'say "hi"', 'two\r\nlines', 'plain']);
    expect(numbers(t, 'id')).toEqual([1, 2, 3, 4]);
    expect(numbers(t, 'n')).toEqual([2, 3, 4, 5]);
  });

  it('treats empty fields (quoted or not) as missing values', () => {
    const t = parseCsv('a,b,c\n1,,x\n,"",\n3,2,z\n');
    expect(numbers(t, 'a')).toEqual([1, NaN, 3]);
    expect(numbers(t, 'b')).toEqual([NaN, NaN, 2]);
    expect(strings(t, 'c')).toEqual(['x', null, 'z']);
  });

  it('infers double when every non-empty value is a number, nan and infinities included', () => {
    const t = parseCsv('x,y\n1.5,nan\n-2e3,inf\n.25,-inf\n+7,Infinity\n1E-2,NaN\n 3 ,-Infinity\n');
    expect(getColumn(t, 'x').type).toBe('double');
    expect(getColumn(t, 'y').type).toBe('double');
    expect(numbers(t, 'x')).toEqual([1.5, -2000, 0.25, 7, 0.01, 3]);
    expect(numbers(t, 'y')).toEqual([NaN, Infinity, -Infinity, Infinity, NaN, -Infinity]);
  });

  it('parses numbers exactly as Number() does', () => {
    const samples = ['0.1', '0.2', '0.30000000000000004', '123456789012345678', '1e308', '2.2250738585072014e-308', '4.9e-324', '-0', '0.000001', '9007199254740993', '1.7976931348623157e308', '3.14159265358979323846', '100000000000000000000000', '1e-7', '6.02214076e23'];
    const t = parseCsv(`v\n${samples.join('\n')}\n`);
    const got = numbers(t, 'v');
    samples.forEach((s, i) => expect(Object.is(got[i], Number(s)), `${s}: ${got[i]} vs ${Number(s)}`).toBe(true));
  });

  it('parses 200,000 random decimals exactly as Number() does', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const texts: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const r = rand();
      const v = (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
      texts.push(r < 0.3 ? v.toFixed(Math.floor(rand() * 8)) : r < 0.6 ? v.toPrecision(1 + Math.floor(rand() * 17)) : r < 0.8 ? v.toExponential(Math.floor(rand() * 12)) : String(v));
    }
    const got = numbers(parseCsv(`v\n${texts.join('\n')}\n`), 'v');
    let bad = 0;
    texts.forEach((s, i) => {
      if (!Object.is(got[i], Number(s))) bad++;
    });
    expect(bad).toBe(0);
  });

  it('makes a column string once a value is not a number, keeping the earlier values as written', () => {
    const t = parseCsv('zip,n\n00501,1\n02134,2\n,3\nA1B2C3,4\n00501,5\n');
    expect(getColumn(t, 'zip').type).toBe('string');
    expect(strings(t, 'zip')).toEqual(['00501', '02134', null, 'A1B2C3', '00501']);
    const c = getColumn(t, 'zip') as Extract<Column, { type: 'string' }>;
    expect(new Set(c.dictionary).size).toBe(c.dictionary.length);
  });

  it('keeps the text of nan and inf in a column that turns out to be text', () => {
    const t = parseCsv('v\nnan\ninf\n1.50\nhello\n');
    expect(strings(t, 'v')).toEqual(['nan', 'inf', '1.50', 'hello']);
  });

  it('forces types with opts.types', () => {
    const t = parseCsv('code,v\n001,1\n002,2\n', { types: { code: 'string' } });
    expect(strings(t, 'code')).toEqual(['001', '002']);
    expect(numbers(t, 'v')).toEqual([1, 2]);
  });

  it('rejects non-numeric text in a column forced to double, naming the input, line, column and value', () => {
    expectError(() => parseCsv('a,b\n1,2\n3,x y\n', { types: { b: 'double' }, source: 'data.csv' }), 'INVALID_ARGUMENT', 'data.csv', 'line 3', '"b"', '"x y"');
  });

  it('counts lines inside quoted fields when reporting errors', () => {
    expectError(() => parseCsv('a,b\n"multi\nline",1\n2\n'), 'INVALID_ARGUMENT', 'line 4', 'has 1 field', 'expected 2');
  });

  it('rejects rows with the wrong number of fields, naming the line', () => {
    expectError(() => parseCsv('a,b,c\n1,2,3\n4,5\n'), 'INVALID_ARGUMENT', 'line 3', 'has 2 fields', 'expected 3');
    expectError(() => parseCsv('a,b\n1,2,3\n'), 'INVALID_ARGUMENT', 'line 2', 'has 3 fields');
  });

  it('rejects an unterminated quote and text after a closing quote', () => {
    expectError(() => parseCsv('a,b\n1,"open\n2,3\n'), 'INVALID_ARGUMENT', 'unterminated', 'line 2');
    expectError(() => parseCsv('a,b\n1,"x"y\n'), 'INVALID_ARGUMENT', 'after a closing quote', 'line 2');
  });

  it('needs a header row and unique column names', () => {
    expectError(() => parseCsv(''), 'INVALID_ARGUMENT', 'no header');
    expectError(() => parseCsv('a,b,a\n1,2,3\n'), 'INVALID_ARGUMENT', '"a" twice');
  });

  it('reads a header-only file as an empty table', () => {
    const t = parseCsv('a,b\n');
    expect(t.rows).toBe(0);
    expect(t.columns.map((c) => c.name)).toEqual(['a', 'b']);
  });

  it('keeps only the requested columns, in the requested order', () => {
    const t = parseCsv('a,b,c\n1,x,3\n4,y,6\n', { columns: ['c', 'b'] });
    expect(t.columns.map((c) => c.name)).toEqual(['c', 'b']);
    expect(numbers(t, 'c')).toEqual([3, 6]);
    expectError(() => parseCsv('a,b\n1,2\n', { columns: ['nope'] }), 'INVALID_ARGUMENT', '"nope"', '"a", "b"');
    expectError(() => parseCsv('a,b\n1,2\n', { types: { nope: 'string' } }), 'INVALID_ARGUMENT', '"nope"');
  });

  it('skips blank lines, strips a UTF-8 BOM, accepts a last line without newline, and other delimiters', () => {
    const t = parseCsv('\ufeffa;b\n\n1;x\r\n\r\n2;"y;z"', { delimiter: ';' });
    expect(t.columns.map((c) => c.name)).toEqual(['a', 'b']);
    expect(numbers(t, 'a')).toEqual([1, 2]);
    expect(strings(t, 'b')).toEqual(['x', 'y;z']);
  });

  it('reads UTF-8 text', () => {
    const t = parseCsv(Buffer.from('city,n\nZürich,1\n東京,2\n"São ""Paulo""",3\nZürich,4\n'));
    expect(strings(t, 'city')).toEqual(['Zürich', '東京', 'São "Paulo"', 'Zürich']);
  });
});

describe('readCsvFile', () => {
  it('gives the same table as parseCsv on a file much larger than a read chunk, records straddling chunks', async () => {
    const lines = ['id,name,score,note'];
    for (let i = 0; i < 120_000; i++) {
      const note = i % 7 === 0 ? `"line one\nline ""two"" ${i}"` : i % 11 === 0 ? '' : `n${i % 50}`;
      lines.push(`${i},${i % 13 === 0 ? '"Doe, Jane"' : `name${i % 100}`},${(i * 0.37).toFixed(3)},${note}`);
    }
    // one long field too, larger than a chunk
    lines.push(`120000,long,1.5,"${'x'.repeat(9 << 20)}"`);
    const text = lines.join('\r\n') + '\r\n';
    const file = path.join(tmp, 'big.csv');
    writeFileSync(file, text);
    const fromFile = await readCsvFile(file);
    const fromText = parseCsv(text);
    expect(fromFile.rows).toBe(120_001);
    expect(fromFile.columns.map((c) => c.type)).toEqual(['double', 'string', 'double', 'string']);
    for (const name of ['id', 'score']) expect(numbers(fromFile, name)).toEqual(numbers(fromText, name));
    for (const name of ['name', 'note']) expect(strings(fromFile, name)).toEqual(strings(fromText, name));
    expect(strings(fromFile, 'note')[7]).toBe('line one\nline "two" 7');
    expect(strings(fromFile, 'note')[120_000]!.length).toBe(9 << 20);
    expect(numbers(fromFile, 'score')[1234]).toBe(Number((1234 * 0.37).toFixed(3)));
  });

  it('replays the file for a column that turns to text late, past the first chunk', async () => {
    const lines = ['k,v'];
    for (let i = 0; i < 300_000; i++) lines.push(`${String(i).padStart(7, '0')},${i}`);
    lines.push('later-text,1');
    const file = path.join(tmp, 'late.csv');
    writeFileSync(file, lines.join('\n'));
    const t = await readCsvFile(file);
    const k = strings(t, 'k');
    expect(k[0]).toBe('0000000');
    expect(k[299_999]).toBe('0299999');
    expect(k[300_000]).toBe('later-text');
    expect(getColumn(t, 'v').type).toBe('double');
  });

  it('names the file and line in errors, and reports a missing file', async () => {
    const file = path.join(tmp, 'ragged.csv');
    writeFileSync(file, 'a,b\n1,2\n3,4,5\n');
    await expectRejection(readCsvFile(file), 'INVALID_ARGUMENT', file, 'line 3');
    await expectRejection(readCsvFile(path.join(tmp, 'missing.csv')), 'INVALID_ARGUMENT', 'no such file');
    await expectRejection(readCsvFile(tmp), 'INVALID_ARGUMENT', 'cannot read CSV file');
  });

  for (const model of TABULAR) {
    it(`reads ${model}/reference.csv as the fixture's own columns and values`, async () => {
      const file = fixturePath(model, 'reference.csv');
      const t = await readCsvFile(file);
      const naive = naiveRead(file);
      const card = readCardJson(model) as { monitoring: { columns: string[]; reference: { rows: number } } };
      expect(t.columns.map((c) => c.name)).toEqual(naive.header);
      expect(t.columns.map((c) => c.name)).toEqual(card.monitoring.columns);
      expect(t.rows).toBe(card.monitoring.reference.rows);
      naive.header.forEach((name, j) => {
        const texts = naive.rows.map((r) => r[j]!);
        const numeric = texts.every((s) => s === '' || !Number.isNaN(Number(s)));
        if (numeric) expect(numbers(t, name)).toEqual(texts.map((s) => (s === '' ? NaN : Number(s))));
        else expect(strings(t, name)).toEqual(texts.map((s) => (s === '' ? null : s)));
      });
    });

    it(`reads ${model}/current_quality.csv with missing and out-of-range values where the card says`, async () => {
      const t = await readCsvFile(fixturePath(model, 'current_quality.csv'));
      const card = readCardJson(model) as {
        monitoring: { files: Record<string, { rows: number; changes: { feature: string; problem: string; rows: string; count: number; value?: unknown }[] }> };
      };
      const spec = card.monitoring.files['current_quality.csv']!;
      expect(t.rows).toBe(spec.rows);
      for (const change of spec.changes) {
        const m = /i % (\d+) == (\d+)/.exec(change.rows);
        expect(m, change.rows).not.toBeNull();
        const [mod, rem] = [Number(m![1]), Number(m![2])];
        const rows = [...Array(t.rows).keys()].filter((i) => i % mod === rem);
        expect(rows.length).toBe(change.count);
        const column = getColumn(t, change.feature);
        if (change.problem === 'missing') {
          const values = numbers(t, change.feature);
          expect(rows.every((i) => Number.isNaN(values[i]))).toBe(true);
          expect(values.filter((v) => Number.isNaN(v)).length).toBe(change.count);
        } else if (column.type === 'string') {
          const values = stringValues(column);
          expect(rows.every((i) => values[i] === String(change.value))).toBe(true);
        } else {
          const values = numbers(t, change.feature);
          expect(rows.every((i) => values[i] === Number(change.value))).toBe(true);
        }
      }
    });
  }

  it('reads credit with its three string columns dictionary-coded', async () => {
    const t = await readCsvFile(fixturePath('credit', 'reference.csv'));
    const types = Object.fromEntries(t.columns.map((c) => [c.name, c.type]));
    expect(types).toMatchObject({ home_ownership: 'string', loan_purpose: 'string', region: 'string', age: 'double', label: 'double' });
    const region = getColumn(t, 'region') as Extract<Column, { type: 'string' }>;
    expect([...region.dictionary].sort()).toEqual(['midwest', 'northeast', 'south', 'west']);
    expect(region.codes.every((c) => c >= 0 && c < 4)).toBe(true);
  });

  it('parses a 1M-row, 16-column credit file in a few seconds (time printed)', async () => {
    // the real 1M-row file when it was generated (make/credit_data.py, needs pandas), else the
    // reference rows repeated to the same size
    let file = process.env['BERTH_CREDIT_1M'] ?? '/tmp/credit_1m.csv';
    let source = 'credit_data.py --rows 1000000 --seed 99';
    try {
      readFileSync(file, { flag: 'r' }).subarray(0, 1);
    } catch {
      const ref = readFileSync(path.join(FIXTURES, 'credit', 'reference.csv'), 'utf8');
      const nl = ref.indexOf('\n');
      const body = ref.slice(nl + 1);
      file = path.join(tmp, 'credit_1m.csv');
      writeFileSync(file, ref.slice(0, nl + 1) + body.repeat(50));
      source = 'credit reference.csv × 50';
    }
    const t0 = performance.now();
    const t = await readCsvFile(file);
    const ms = performance.now() - t0;
    console.log(`[csv] ${t.rows} rows × ${t.columns.length} columns (${source}) parsed in ${ms.toFixed(0)} ms`);
    expect(t.rows).toBe(1_000_000);
    expect(t.columns.length).toBe(16);
  });
});

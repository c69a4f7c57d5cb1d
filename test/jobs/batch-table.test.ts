/*
 * Batch outputs into a database table, exactly once: SQLite always, PostgreSQL when
 * BERTH_TEST_POSTGRES_URL is set (a schema of its own, dropped afterwards). The same suite runs on
 * both: golden predictions in the table, the table equal to the CSV output row for row,
 * --if-exists fail/append/replace, resume after a stop, a crash between the commit and the
 * removal of the work dir, rejected rows, no password anywhere; then the real binary killed with
 * SIGKILL at random moments (and during the load itself), several seeds, finished by the same
 * command, every input row in the table exactly once.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { BerthError } from '../../src/core/index.js';
import { parseTableOutput, runBatchJob, type BatchJobSpec } from '../../src/jobs/index.js';
import { openEmbeddedRegistry, parseCard, type Registry, type VersionRecord } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { ROOT, ensureDistBuilt } from '../helpers/dist.js';
import { compareToGolden, fixturePath, flatten, readGolden, type GoldenTensor } from '../helpers/fixtures.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName, withPgClient } from '../helpers/postgres.js';
import { seededRandom } from '../monitor/profile/random.js';

const MODELS = ['breast-cancer-gbt', 'credit'] as const;
type Model = (typeof MODELS)[number];
const ROWS = 32;

let tmp: string;
let dataDir: string;
let registry: Registry;
const versions = new Map<Model, VersionRecord>();
const inputs = new Map<Model, string>();

if (!TEST_POSTGRES_URL) console.info(POSTGRES_SKIP_REASON);

/** A row of a table, by column name. */
type Row = Record<string, unknown>;

/** One database the suite runs against. */
interface Backend {
  name: 'sqlite' | 'postgres';
  /** the `--output` of a table */
  url(table: string): string;
  /** its rows in `_row` order (ties: load order), or null when there is no such table */
  rows(table: string): Promise<Row[] | null>;
  /** the marker rows of jobs delivered into `table` */
  markers(table: string): Promise<{ job_id: string; rows: number }[]>;
  /** one column as the database prints it (exact, whatever its type), in `_row` order */
  texts(table: string, column: string): Promise<string[]>;
  /** run SQL (set-up) */
  exec(sql: string): Promise<void>;
  /** the qualified name the markers and messages use */
  qualified(table: string): string;
}

const PG_SCHEMA = testSchemaName();
/** the test URL with a password in it (trust auth ignores it): it must never be written anywhere */
const PG_PASSWORD = TEST_POSTGRES_URL && new URL(TEST_POSTGRES_URL).password !== '' ? decodeURIComponent(new URL(TEST_POSTGRES_URL).password) : 'pw-never-printed-7f3a9c';

function pgBackend(base: string): Backend {
  const withPw = new URL(base);
  withPw.password = PG_PASSWORD;
  const rowsOf = (r: Row[]): Row[] => r;
  return {
    name: 'postgres',
    url: (table) => {
      const u = new URL(withPw.toString());
      u.searchParams.set('table', `${PG_SCHEMA}.${table}`);
      return u.toString();
    },
    rows: (table) => withPgClient(base, async (c) => {
      const exists = await c.query('select 1 from pg_tables where schemaname = $1 and tablename = $2', [PG_SCHEMA, table]);
      if (exists.rowCount === 0) return null;
      return rowsOf((await c.query(`select * from "${PG_SCHEMA}"."${table}" order by _row`)).rows as Row[]);
    }),
    markers: (table) => withPgClient(base, async (c) => {
      const exists = await c.query("select 1 from pg_tables where schemaname = $1 and tablename = 'berth_batch_outputs'", [PG_SCHEMA]);
      if (exists.rowCount === 0) return [];
      const r = await c.query(`select job_id, rows from "${PG_SCHEMA}".berth_batch_outputs where table_name = $1 order by job_id`, [`${PG_SCHEMA}.${table}`]);
      return r.rows.map((m: { job_id: string; rows: string }) => ({ job_id: m.job_id, rows: Number(m.rows) }));
    }),
    texts: (table, column) => withPgClient(base, async (c) =>
      (await c.query(`select "${column}"::text as v from "${PG_SCHEMA}"."${table}" order by _row`)).rows.map((r: { v: string }) => r.v)),
    exec: (sql) => withPgClient(base, async (c) => void (await c.query(sql.replaceAll('$schema.', `"${PG_SCHEMA}".`)))),
    qualified: (table) => `${PG_SCHEMA}.${table}`,
  };
}

function sqliteBackend(): Backend {
  const file = (): string => path.join(tmp, 'out.db');
  const open = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(file());
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const has = (db: Database.Database, table: string): boolean => db.prepare("select 1 from sqlite_master where type = 'table' and name = ?").get(table) !== undefined;
  return {
    name: 'sqlite',
    url: (table) => `sqlite:${file()}?table=${table}`,
    rows: async (table) => open((db) => (has(db, table) ? (db.prepare(`select * from "${table}" order by _row`).all() as Row[]) : null)),
    markers: async (table) => open((db) => (has(db, 'berth_batch_outputs')
      ? db.prepare('select job_id, rows from berth_batch_outputs where table_name = ? order by job_id').all(table) as { job_id: string; rows: number }[]
      : [])),
    texts: async (table, column) => open((db) =>
      (db.prepare(`select cast("${column}" as text) as v from "${table}" order by _row`).all() as { v: string }[]).map((r) => r.v)),
    exec: async (sql) => open((db) => void db.exec(sql.replaceAll('$schema.', ''))),
    qualified: (table) => table,
  };
}

const BACKENDS: { name: string; backend: () => Backend; skip: boolean }[] = [
  { name: 'SQLite', backend: sqliteBackend, skip: false },
  { name: `PostgreSQL${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, backend: () => pgBackend(TEST_POSTGRES_URL!), skip: !TEST_POSTGRES_URL },
];

/** The golden case's inputs as named columns (features from the card), with an id key column first. */
function goldenCsv(model: Model, v: VersionRecord): string {
  const g = readGolden(model).cases.find((c) => c.name === 'golden_32')!;
  const header = ['id'];
  const columns: unknown[][] = [Array.from({ length: ROWS }, (_, r) => `r${r + 1}`)];
  for (const spec of v.signature.inputs) {
    const t = g.inputs[spec.name]!;
    const flat = flatten(t.data);
    const width = spec.featureNames!.length;
    spec.featureNames!.forEach((f, c) => {
      header.push(f);
      columns.push(Array.from({ length: ROWS }, (_, r) => flat[r * width + c]));
    });
  }
  const lines = [header.join(',')];
  for (let r = 0; r < ROWS; r++) lines.push(columns.map((col) => String(col[r])).join(','));
  return lines.join('\n') + '\n';
}

const classNamesOf = (model: Model): string[] => versions.get(model)!.card!.classes!.names!;

function spec(model: Model, output: string, extra: Partial<BatchJobSpec> = {}): BatchJobSpec {
  return { version: versions.get(model)!, input: inputs.get(model)!, output, ...extra };
}

function expectGolden(model: Model, rows: readonly Row[]): void {
  const g = readGolden(model);
  const gc = g.cases.find((c) => c.name === 'golden_32')!;
  const names = classNamesOf(model);
  expect(compareToGolden(rows.map((r) => names.indexOf(String(r['label']))), gc.expected['label']!, g.tolerance['label']!)).toBeNull();
  const probs = rows.flatMap((r) => [Number(r[`p_${names[0]!}`]), Number(r[`p_${names[1]!}`])]);
  expect(compareToGolden(probs, gc.expected['probabilities'] as GoldenTensor, g.tolerance['probabilities']!)).toBeNull();
  expect(rows.map((r) => r['id'])).toEqual(Array.from({ length: ROWS }, (_, r) => `r${r + 1}`));
}

/** A CSV output as rows of text cells (our fixtures need no quoting). */
function csvRows(text: string): { header: string[]; rows: string[][] } {
  const lines = text.trim().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

/** Table rows as the CSV output writes them: `_row` left out, every value as text. */
function asCsv(rows: readonly Row[], header: readonly string[]): string[][] {
  return rows.map((r) => header.map((h) => (r[h] === null || r[h] === undefined ? '' : String(r[h]))));
}

async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a BerthError');
}

const jobDirs = (): string[] => (existsSync(path.join(dataDir, 'jobs')) ? readdirSync(path.join(dataDir, 'jobs')) : []);

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-batch-table-'));
  dataDir = path.join(tmp, 'data');
  registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'test' });
  const backend = new OnnxBackend();
  for (const m of MODELS) {
    const card = parseCard(readFileSync(fixturePath(m, 'card.json'), 'utf8'), 'card.json');
    const r = await registry.registerVersion({ name: m, filePath: fixturePath(m), card, inspect: (b) => backend.inspect(b) });
    versions.set(m, r.version);
    const file = path.join(tmp, `${m}.csv`);
    await writeFile(file, goldenCsv(m, r.version));
    inputs.set(m, file);
  }
  if (TEST_POSTGRES_URL) await withPgClient(TEST_POSTGRES_URL, (c) => c.query(`create schema "${PG_SCHEMA}"`));
}, 60_000);

afterAll(async () => {
  await registry?.close();
  if (TEST_POSTGRES_URL) await dropSchema(TEST_POSTGRES_URL, PG_SCHEMA);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('table outputs: --output syntax', () => {
  it('parses PostgreSQL and SQLite URLs into a canonical form without the password', () => {
    const t = parseTableOutput('postgresql://berth:s3cret@db.example:5433/shop?sslmode=require&table=ml.scores');
    expect(t.redacted).toBe('postgres://berth@db.example:5433/shop?sslmode=require&table=ml.scores');
    expect(JSON.stringify({ t })).not.toContain('s3cret');
    expect(String(t)).not.toContain('s3cret');
    expect(parseTableOutput(t.redacted).redacted).toBe(t.redacted);
    expect(parseTableOutput('postgres://u:pw@h/db?table=scores&password=pw2').redacted).toBe('postgres://u@h/db?table=scores');
    const s = parseTableOutput('sqlite:out/scores.db?table=scores');
    expect(s.redacted).toBe(`sqlite:${path.resolve('out/scores.db')}?table=scores`);
    expect(parseTableOutput(s.redacted).redacted).toBe(s.redacted);
    expect(parseTableOutput('sqlite:///tmp/x.db?table=t').redacted).toBe('sqlite:/tmp/x.db?table=t');
  });

  it('refuses a URL without a table, a bad table name or other SQLite parameters, never echoing the password', () => {
    const cases: [string, RegExp][] = [
      ['postgres://u:hunter2@h:5432/db', /expected a table name in \?table=\[schema\.\]name, got none/],
      ['postgres://u:hunter2@h:5432/db?table=a.b.c', /table: expected name or schema\.name/],
      ['postgres://u:hunter2@h:5432/db?table=drop%20table', /got "drop table"/],
      ['sqlite:x.db?table=s.t', /table: expected a name/],
      ['sqlite:x.db?table=t&mode=ro', /expected only \?table=name, got the parameter "mode"/],
      ['sqlite:?table=t', /expected a database file after sqlite:/],
    ];
    for (const [url, message] of cases) {
      let err: unknown;
      try {
        parseTableOutput(url);
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('INVALID_ARGUMENT');
      expect((err as BerthError).message, url).toMatch(message);
      expect((err as BerthError).message).not.toContain('hunter2');
    }
  });

  it('answers UNAVAILABLE for a PostgreSQL it cannot reach, before scoring and without the password', async () => {
    let progressed = false;
    const err = await rejection(runBatchJob(spec('credit', 'postgres://u:hunter2@127.0.0.1:1/db?table=t'), { registry, dataDir, onProgress: () => void (progressed = true) }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/^--output postgres:\/\/u@127\.0\.0\.1:1\/db\?table=t: cannot connect: connection refused/);
    expect(err.message).not.toContain('hunter2');
    expect(progressed).toBe(false);
  });

  it('refuses --format with a table output and --if-exists with a file output', async () => {
    const a = await rejection(runBatchJob(spec('credit', `sqlite:${path.join(tmp, 'x.db')}?table=t`, { format: 'csv' }), { registry, dataDir }));
    expect(a.message).toMatch(/--format: a table output .* has no file format.*leave --format out/);
    const b = await rejection(runBatchJob(spec('credit', path.join(tmp, 'x.csv'), { ifExists: 'append' }), { registry, dataDir }));
    expect(b.message).toMatch(/--if-exists: applies to table outputs/);
  });
});

for (const { name, backend: make, skip } of BACKENDS) {
  describe.skipIf(skip)(`batch output into a ${name} table`, () => {
    let db: Backend;
    beforeAll(() => {
      db = make();
    });

    for (const m of MODELS) {
      it(`loads ${m}'s golden labels and probabilities, _row first, keys, then predictions, in input order`, async () => {
        const table = `golden_${m.replace(/-/g, '_')}`;
        const s = await runBatchJob(spec(m, db.url(table)), { registry, dataDir });
        expect(s).toMatchObject({ rowsIn: ROWS, rowsOut: ROWS, rejected: 0, parts: 1, resumed: false, complete: true });
        const rows = (await db.rows(table))!;
        expect(Object.keys(rows[0]!)).toEqual(['_row', 'id', 'label', ...classNamesOf(m).map((n) => `p_${n}`)]);
        expect(rows.map((r) => Number(r['_row']))).toEqual(Array.from({ length: ROWS }, (_, r) => r + 1));
        expectGolden(m, rows);
        expect(await db.markers(table)).toEqual([{ job_id: s.jobId, rows: ROWS }]);
        expect(existsSync(path.join(dataDir, 'jobs', s.jobId))).toBe(false);
      });
    }

    it('holds the same rows as the CSV output of the same job, over several parts', async () => {
      const csv = path.join(tmp, `same-${db.name}.csv`);
      await runBatchJob(spec('credit', csv, { partRows: 7, batchRows: 5 }), { registry, dataDir });
      const s = await runBatchJob(spec('credit', db.url('same_as_csv'), { partRows: 7, batchRows: 5 }), { registry, dataDir });
      expect(s.parts).toBe(5);
      const { header, rows } = csvRows(await readFile(csv, 'utf8'));
      const table = (await db.rows('same_as_csv'))!;
      expect(asCsv(table, header)).toEqual(rows);
    });

    it('keeps integer keys beyond 2^53 exact, and types the columns from their kinds', async () => {
      const file = path.join(tmp, `big-${db.name}.csv`);
      const lines = readFileSync(inputs.get('credit')!, 'utf8').trim().split('\n');
      const big = (r: number): string => (9_007_199_254_740_993n + BigInt(r) * 1_000_003n).toString();
      await writeFile(file, [`big,${lines[0]}`, ...lines.slice(1).map((l, r) => `${big(r)},${l}`)].join('\n') + '\n');
      await runBatchJob(spec('credit', db.url('big_keys'), { input: file, key: ['big', 'id'] }), { registry, dataDir });
      expect(await db.texts('big_keys', 'big')).toEqual(Array.from({ length: ROWS }, (_, r) => big(r)));
      const types = db.name === 'postgres'
        ? await withPgClient(TEST_POSTGRES_URL!, async (c) => (await c.query(
          "select column_name as name, data_type as type from information_schema.columns where table_schema = $1 and table_name = 'big_keys' order by ordinal_position", [PG_SCHEMA])).rows)
        : await (async () => {
          const sq = new Database(path.join(tmp, 'out.db'));
          try {
            return sq.prepare("select name, type from pragma_table_info('big_keys')").all();
          } finally {
            sq.close();
          }
        })();
      const names = classNamesOf('credit');
      expect(types).toEqual(db.name === 'postgres'
        ? [{ name: '_row', type: 'bigint' }, { name: 'big', type: 'bigint' }, { name: 'id', type: 'text' }, { name: 'label', type: 'text' }, ...names.map((n) => ({ name: `p_${n}`, type: 'double precision' }))]
        : [{ name: '_row', type: 'INTEGER' }, { name: 'big', type: 'INTEGER' }, { name: 'id', type: 'TEXT' }, { name: 'label', type: 'TEXT' }, ...names.map((n) => ({ name: `p_${n}`, type: 'REAL' }))]);
    });

    it('--if-exists fail (the default) refuses an existing table before scoring, naming the table and the flag', async () => {
      await db.exec('create table $schema.taken (x integer)');
      const before = jobDirs();
      let progressed = false;
      const err = await rejection(runBatchJob(spec('credit', db.url('taken')), { registry, dataDir, onProgress: () => void (progressed = true) }));
      expect(err.code).toBe('ALREADY_EXISTS');
      expect(err.message).toContain(`table ${db.qualified('taken')} exists already`);
      expect(err.message).toContain('--if-exists append');
      expect(err.message).toContain('--if-exists replace');
      expect(progressed).toBe(false);
      // refused before any work: no unfinished job left behind
      expect(jobDirs()).toEqual(before);
    });

    it('--if-exists append adds another job\'s rows, and names the columns of a table that does not fit', async () => {
      const a = await runBatchJob(spec('credit', db.url('appended')), { registry, dataDir });
      const half = path.join(tmp, `half-${db.name}.csv`);
      await writeFile(half, readFileSync(inputs.get('credit')!, 'utf8').split('\n').slice(0, 11).join('\n') + '\n');
      const b = await runBatchJob(spec('credit', db.url('appended'), { input: half, ifExists: 'append' }), { registry, dataDir });
      expect(b.rowsOut).toBe(10);
      const rows = (await db.rows('appended'))!;
      expect(rows).toHaveLength(ROWS + 10);
      expect((await db.markers('appended')).map((m) => m.job_id).sort()).toEqual([a.jobId, b.jobId].sort());

      // breast-cancer-gbt has other class columns than credit
      const err = await rejection(runBatchJob(spec('breast-cancer-gbt', db.url('appended'), { ifExists: 'append' }), { registry, dataDir }));
      expect(err.code).toBe('INVALID_ARGUMENT');
      const bc = classNamesOf('breast-cancer-gbt');
      expect(err.message).toContain(`table ${db.qualified('appended')} does not fit the job's columns: it has no column "p_${bc[0]}"`);
      expect(err.message).toContain('--if-exists replace');
      expect(await db.rows('appended')).toHaveLength(ROWS + 10);
    });

    it('--if-exists replace recreates the table in the load\'s transaction and forgets the replaced jobs', async () => {
      const a = await runBatchJob(spec('credit', db.url('replaced'), { ifExists: 'replace' }), { registry, dataDir });
      expect(await db.markers('replaced')).toEqual([{ job_id: a.jobId, rows: ROWS }]);
      const b = await runBatchJob(spec('breast-cancer-gbt', db.url('replaced'), { ifExists: 'replace' }), { registry, dataDir });
      expect(Object.keys((await db.rows('replaced'))![0]!)).toContain(`p_${classNamesOf('breast-cancer-gbt')[0]}`);
      expectGolden('breast-cancer-gbt', (await db.rows('replaced'))!);
      expect(await db.markers('replaced')).toEqual([{ job_id: b.jobId, rows: ROWS }]);
      // the first job again: its marker went with the table it had loaded, so it loads again rather than skip
      const a2 = await runBatchJob(spec('credit', db.url('replaced'), { ifExists: 'replace' }), { registry, dataDir });
      expect(a2).toMatchObject({ jobId: a.jobId, resumed: false, rowsOut: ROWS });
      expectGolden('credit', (await db.rows('replaced'))!);
      expect(await db.markers('replaced')).toEqual([{ job_id: a.jobId, rows: ROWS }]);
    });

    it('resumes a stopped job and loads each row once; the same command again loads nothing', async () => {
      const out = db.url('resumed');
      const first = await runBatchJob(spec('breast-cancer-gbt', out, { partRows: 7 }), { registry, dataDir, stopAfterParts: 2 });
      expect(first).toMatchObject({ complete: false, parts: 2, rowsIn: 14 });
      expect(await db.rows('resumed')).toBeNull();
      const second = await runBatchJob(spec('breast-cancer-gbt', out, { partRows: 7 }), { registry, dataDir });
      expect(second).toMatchObject({ jobId: first.jobId, complete: true, resumed: true, parts: 5, rowsIn: ROWS, rowsOut: ROWS });
      const third = await runBatchJob(spec('breast-cancer-gbt', out, { partRows: 7 }), { registry, dataDir });
      expect(third).toMatchObject({ jobId: first.jobId, complete: true, resumed: true, rowsOut: ROWS, parts: 5 });
      const rows = (await db.rows('resumed'))!;
      expect(rows.map((r) => Number(r['_row']))).toEqual(Array.from({ length: ROWS }, (_, r) => r + 1));
      expectGolden('breast-cancer-gbt', rows);
    });

    it('does not load twice after a crash between the commit and the removal of the work dir', async () => {
      const out = db.url('committed');
      // every part written, nothing loaded yet
      const parts = await runBatchJob(spec('credit', out, { partRows: 8 }), { registry, dataDir, stopAfterParts: 4 });
      expect(parts).toMatchObject({ complete: false, parts: 4 });
      const workDir = path.join(dataDir, 'jobs', parts.jobId);
      const saved = path.join(tmp, `saved-${db.name}`);
      await cp(workDir, saved, { recursive: true });
      await runBatchJob(spec('credit', out, { partRows: 8 }), { registry, dataDir });
      expect(existsSync(workDir)).toBe(false);
      // as if the process died right after the commit: the work dir is still there
      await cp(saved, workDir, { recursive: true });
      const again = await runBatchJob(spec('credit', out, { partRows: 8 }), { registry, dataDir });
      expect(again).toMatchObject({ complete: true, resumed: true, rowsOut: ROWS });
      expect(await db.rows('committed')).toHaveLength(ROWS);
      expect(existsSync(workDir)).toBe(false);
    });

    it('puts rejected rows in <table>_rejected with their row numbers, and leaves their _row out of the table', async () => {
      const file = path.join(tmp, `bad-${db.name}.csv`);
      const lines = readFileSync(inputs.get('credit')!, 'utf8').split('\n');
      const age = lines[0]!.split(',').indexOf('age');
      const cells = lines[5]!.split(',');
      cells[age] = 'forty';
      lines[5] = cells.join(',');
      await writeFile(file, lines.join('\n'));
      const err = await rejection(runBatchJob(spec('credit', db.url('with_rejects'), { input: file }), { registry, dataDir }));
      expect(err.message).toContain(`--on-error skip to write such rows to the table ${db.qualified('with_rejects')}_rejected`);
      const s = await runBatchJob(spec('credit', db.url('with_rejects'), { input: file, onError: 'skip', partRows: 4 }), { registry, dataDir });
      expect(s).toMatchObject({ rowsIn: ROWS, rowsOut: ROWS - 1, rejected: 1, rejectedOutput: `the table ${db.qualified('with_rejects')}_rejected` });
      const rows = (await db.rows('with_rejects'))!;
      expect(rows.map((r) => Number(r['_row']))).toEqual(Array.from({ length: ROWS }, (_, r) => r + 1).filter((r) => r !== 5));
      expect(rows.map((r) => r['id'])).toEqual(Array.from({ length: ROWS }, (_, r) => `r${r + 1}`).filter((id) => id !== 'r5'));
      const rejected = (await db.rows('with_rejects_rejected'))!;
      expect(rejected).toHaveLength(1);
      const key: unknown = typeof rejected[0]!['key'] === 'string' ? JSON.parse(rejected[0]!['key'] as string) : rejected[0]!['key'];
      expect({ ...rejected[0], _row: Number(rejected[0]!['_row']), key }).toEqual({
        job_id: s.jobId, _row: 5, column: 'age', reason: 'expected a number, got "forty"', key: { id: 'r5' },
      });
    });

    it('runs from the CLI with --if-exists, and writes the password nowhere: job.json, the summary, errors', async () => {
      const out = db.url('from_cli');
      const secret = db.name === 'postgres' ? PG_PASSWORD : undefined;
      const run = async (...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
        let stdout = '';
        let stderr = '';
        const code = await main(['node', 'berth', '--data-dir', dataDir, 'batch', 'run', '--model', 'credit', '--input', inputs.get('credit')!, '--output', out, '--key', 'id', '--json', ...extra],
          { out: (t) => void (stdout += t), err: (t) => void (stderr += t), env: {} });
        return { code, stdout, stderr };
      };
      // a stopped job keeps its job.json: the table's URL in it has no password
      const stopped = await runBatchJob(spec('credit', out, { key: ['id'], ifExists: 'append', partRows: 8 }), { registry, dataDir, stopAfterParts: 1 });
      const record = await readFile(path.join(dataDir, 'jobs', stopped.jobId, 'job.json'), 'utf8');
      expect(JSON.parse(record)).toMatchObject({ output: parseTableOutput(out).redacted, ifExists: 'append', format: 'jsonl' });
      if (secret !== undefined) expect(record).not.toContain(secret);

      const ok = await run('--if-exists', 'replace');
      expect(ok.code, ok.stderr).toBe(0);
      const summary = JSON.parse(ok.stdout) as Record<string, unknown>;
      expect(summary).toMatchObject({ output: parseTableOutput(out).redacted, rowsOut: ROWS, complete: true });
      const refused = await run();
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/exists already and --if-exists is fail/);
      if (secret !== undefined) for (const text of [ok.stdout, ok.stderr, refused.stderr]) expect(text).not.toContain(secret);
      expect((await db.rows('from_cli'))!).toHaveLength(ROWS);

      // the stopped job, resumed by id with its URL given again (password included): it must name the same table
      const resume = async (output: string): Promise<{ code: number; stdout: string; stderr: string }> => {
        let stdout = '';
        let stderr = '';
        const code = await main(['node', 'berth', '--data-dir', dataDir, 'batch', 'resume', stopped.jobId, '--output', output, '--json'],
          { out: (t) => void (stdout += t), err: (t) => void (stderr += t), env: {} });
        return { code, stdout, stderr };
      };
      const wrong = await resume(db.url('elsewhere'));
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain(`--output: names ${parseTableOutput(db.url('elsewhere')).redacted}, but job ${stopped.jobId} writes ${parseTableOutput(out).redacted}`);
      const resumed = await resume(out);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout)).toMatchObject({ jobId: stopped.jobId, resumed: true, complete: true, rowsOut: ROWS });
      if (secret !== undefined) for (const text of [wrong.stderr, resumed.stdout, resumed.stderr]) expect(text).not.toContain(secret);
      // appended: the replace job's rows, then the resumed job's
      expect((await db.rows('from_cli'))!).toHaveLength(2 * ROWS);
      expect(existsSync(path.join(dataDir, 'jobs', stopped.jobId))).toBe(false);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// kill -9 of the real binary

const bin = path.join(ROOT, 'bin', 'berth.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  ms: number;
  /** the load's transaction was seen open before the kill */
  killedInLoad: boolean;
}

/**
 * `berth --local --data-dir D …args`. With `kill.afterMs` it gets SIGKILL after that long; with
 * `kill.inLoad` it gets SIGKILL `inLoad.delayMs` after `inLoad.open()` first says the load's
 * transaction is open.
 */
function berth(args: string[], kill: { afterMs?: number; inLoad?: { open: () => Promise<boolean>; delayMs: number } } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [bin, '--local', '--data-dir', dataDir, ...args], { cwd: tmp, env: { ...process.env, CI: '1' } });
    let out = '';
    let err = '';
    let killedInLoad = false;
    let done = false;
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const timer = kill.afterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
    const watch = kill.inLoad;
    if (watch !== undefined) {
      void (async () => {
        while (!done) {
          if (await watch.open().catch(() => false)) {
            setTimeout(() => {
              if (!done) {
                killedInLoad = true;
                child.kill('SIGKILL');
              }
            }, watch.delayMs);
            return;
          }
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
    }
    child.on('close', (code, signal) => {
      done = true;
      if (timer) clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - t0, killedInLoad });
    });
  });
}

/** How each database shows that a load is under way, and whether the kill left it uncommitted. */
interface CrashProbe {
  /** the load's transaction is open right now */
  loading(): Promise<boolean>;
  /** after a kill: let the database recover (roll back what the dead process left open) */
  settle(table: string): Promise<void>;
  /** after the process is gone: did it die with the transaction open (nothing committed)? */
  diedMidLoad(table: string): Promise<boolean>;
}

function crashProbe(db: Backend): CrashProbe {
  if (db.name === 'sqlite') {
    const journal = path.join(tmp, 'out.db-journal');
    return {
      // the rollback journal exists from the transaction's first write to its commit
      loading: async () => existsSync(journal),
      // opening the database rolls a hot journal back
      settle: async (table) => void (await db.rows(table)),
      diedMidLoad: async () => existsSync(journal),
    };
  }
  const base = TEST_POSTGRES_URL!;
  const sessions = async (): Promise<number> => withPgClient(base, async (c) => {
    const r = await c.query("select count(*)::int as n from pg_stat_activity where application_name like 'berth batch load %' and xact_start is not null");
    return (r.rows[0] as { n: number }).n;
  });
  // the server rolls back once it sees the socket close
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 200 && (await sessions()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  };
  return {
    loading: async () => (await sessions()) > 0,
    settle,
    diedMidLoad: async (table) => {
      await settle();
      return (await db.markers(table)).length === 0;
    },
  };
}

for (const { name, backend: make, skip } of BACKENDS) {
  describe.skipIf(skip)(`batch jobs into a ${name} table killed with SIGKILL`, () => {
    let input: string;
    let rows: number;

    beforeAll(async () => {
      // the child runs dist/
      ensureDistBuilt(path.join('jobs', 'table-sink.js'));
      // 8,000 credit reference rows with a row id in front; the ground-truth column is dropped
      const lines = readFileSync(fixturePath('credit', 'reference.csv'), 'utf8').trim().split('\n').slice(0, 8001);
      const header = lines[0]!.split(',');
      const drop = header.indexOf('label');
      const keep = (cells: string[]): string[] => cells.filter((_, i) => i !== drop);
      const body = lines.slice(1).map((l, i) => [`r${i + 1}`, ...keep(l.split(','))].join(','));
      rows = body.length;
      input = path.join(tmp, `applicants-${name.slice(0, 6)}.csv`);
      await writeFile(input, [['id', ...keep(header)].join(','), ...body].join('\n') + '\n');
    }, 120_000);

    it('ends with every input row in the table exactly once, equal to the CSV output, over several seeds', async () => {
      const db = make();
      const probe = crashProbe(db);
      const args = (output: string): string[] => ['batch', 'run', '--model', 'credit', '--input', input, '--output', output, '--key', 'id', '--part-rows', '500', '--batch-rows', '250', '--json'];
      const reference = path.join(tmp, `crash-reference-${db.name}.csv`);
      const whole = await berth(args(reference));
      expect(whole.code, whole.err).toBe(0);
      const { header, rows: expected } = csvRows(await readFile(reference, 'utf8'));
      expect(expected).toHaveLength(rows);

      const before = jobDirs();
      let killedMidway = 0;
      let killedInLoad = 0;
      for (const seed of [1, 2, 3, 4]) {
        const random = seededRandom(seed);
        const table = `crash_${seed}`;
        const output = db.url(table);
        // first inside the load's transaction, then anywhere from the process start to the end of an uninterrupted run
        const a = await berth(args(output), { inLoad: { open: probe.loading, delayMs: Math.floor(random() * 15) } });
        if (a.signal === 'SIGKILL') {
          killedMidway++;
          if (a.killedInLoad && (await probe.diedMidLoad(table))) {
            killedInLoad++;
            // readers never see half a load
            expect(await db.rows(table), `seed ${seed}`).toBeNull();
          }
        } else {
          expect(a.code, a.err).toBe(0);
        }
        await probe.settle(table);
        const b = await berth(args(output), { afterMs: Math.floor(random() * whole.ms) });
        if (b.signal === 'SIGKILL') killedMidway++;
        else expect(b.code, b.err).toBe(0);
        await probe.settle(table);
        // finish it: by job id on even seeds (job.json has the URL without its password), else by the same command
        let c: Run | undefined;
        if (seed % 2 === 0) {
          const list = await berth(['batch', 'list', '--json']);
          const jobs = (JSON.parse(list.out) as { jobs: { jobId: string; output: string }[] }).jobs.filter((j) => j.output === parseTableOutput(output).redacted);
          if (jobs.length === 1) c = await berth(['batch', 'resume', jobs[0]!.jobId, '--json']);
        }
        c ??= await berth(args(output));
        expect(c.code, c.err).toBe(0);
        expect(JSON.parse(c.out)).toMatchObject({ rowsIn: rows, rowsOut: rows, complete: true });
        if (db.name === 'postgres') expect(c.out).not.toContain(PG_PASSWORD);
        const got = (await db.rows(table))!;
        expect(got.map((r) => Number(r['_row'])), `seed ${seed}`).toEqual(Array.from({ length: rows }, (_, i) => i + 1));
        expect(asCsv(got, header), `seed ${seed}`).toEqual(expected);
        expect((await db.markers(table)).map((m) => m.rows)).toEqual([rows]);
      }
      expect(killedMidway).toBeGreaterThan(0);
      // at least one kill landed inside the load's transaction, and it was rolled back whole
      expect(killedInLoad).toBeGreaterThan(0);
      // finished jobs leave no work dirs behind
      expect(jobDirs()).toEqual(before);
    }, 120_000);
  });
}

/*
 * Batch inputs beyond local files: SQL queries against PostgreSQL (BERTH_TEST_POSTGRES_URL, a schema
 * of its own; skipped, saying so, when unset) and SQLite, and one file behind an http:// URL (a
 * server this test starts) or an s3:// URL (the s3rver harness). Each is scored and compared with
 * the fixtures' golden outputs, or byte for byte with the same rows read from a local file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { BerthError } from '../../src/core/index.js';
import { runBatchJob, type BatchJobSpec, type BatchSummary } from '../../src/jobs/index.js';
import { openEmbeddedRegistry, parseCard, type Registry, type VersionRecord } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { compareToGolden, fixturePath, flatten, readGolden, type GoldenTensor } from '../helpers/fixtures.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName, withPgClient } from '../helpers/postgres.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from '../registry/s3rver-harness.js';

if (!TEST_POSTGRES_URL) console.info(POSTGRES_SKIP_REASON);

const MODELS = ['breast-cancer-gbt', 'credit'] as const;
type Model = (typeof MODELS)[number];
const ROWS = 32;
/** 2^53 + 1: the first integer a double cannot hold */
const BIG = 9007199254740993n;
/** more digits than a double keeps */
const AMOUNT = '12345678901234567890.0123456789';

let tmp: string;
let dataDir: string;
let registry: Registry;
const versions = new Map<Model, VersionRecord>();
/** each model's golden inputs as a table: an id, the features by name */
const tables = new Map<Model, { features: string[]; text: Set<string>; rows: unknown[][] }>();
const csvFiles = new Map<Model, string>();

function goldenTable(model: Model, v: VersionRecord): { features: string[]; text: Set<string>; rows: unknown[][] } {
  const g = readGolden(model).cases.find((c) => c.name === 'golden_32')!;
  const features: string[] = [];
  const text = new Set<string>();
  const columns: unknown[][] = [];
  for (const spec of v.signature.inputs) {
    const flat = flatten(g.inputs[spec.name]!.data);
    const width = spec.featureNames!.length;
    spec.featureNames!.forEach((f, c) => {
      features.push(f);
      if (spec.datatype === 'BYTES') text.add(f);
      columns.push(Array.from({ length: ROWS }, (_, r) => flat[r * width + c]));
    });
  }
  const rows = Array.from({ length: ROWS }, (_, r) => columns.map((col) => col[r]));
  return { features, text, rows };
}

function csvOf(model: Model): string {
  const t = tables.get(model)!;
  const lines = [['id', ...t.features].join(',')];
  t.rows.forEach((row, r) => lines.push([`r${r + 1}`, ...row.map(String)].join(',')));
  return lines.join('\n') + '\n';
}

function classNamesOf(model: Model): string[] {
  return versions.get(model)!.card!.classes!.names!;
}

/** JSONL output rows. */
async function readJsonl(file: string): Promise<Record<string, unknown>[]> {
  return (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Labels and probabilities against the fixture's golden outputs; ids in input order. */
function expectGolden(model: Model, rows: Record<string, unknown>[]): void {
  const g = readGolden(model);
  const gc = g.cases.find((c) => c.name === 'golden_32')!;
  const names = classNamesOf(model);
  expect(rows).toHaveLength(ROWS);
  const label = rows.map((r) => names.indexOf(String(r['label'])));
  expect(compareToGolden(label, gc.expected['label']!, g.tolerance['label']!)).toBeNull();
  const probs = rows.flatMap((r) => [Number(r[`p_${names[0]!}`]), Number(r[`p_${names[1]!}`])]);
  expect(compareToGolden(probs, gc.expected['probabilities'] as GoldenTensor, g.tolerance['probabilities']!)).toBeNull();
  expect(rows.map((r) => r['id'])).toEqual(Array.from({ length: ROWS }, (_, r) => `r${r + 1}`));
}

function spec(model: Model, input: string, output: string, extra: Partial<BatchJobSpec> = {}): BatchJobSpec {
  return { version: versions.get(model)!, input, output, ...extra };
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

async function jobDirs(): Promise<string[]> {
  return (await readdir(path.join(dataDir, 'jobs')).catch(() => [] as string[])).sort();
}

/** `berth --data-dir D …args` in this process. */
async function berth(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', '--data-dir', dataDir, ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
  return { code, out, err };
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-batch-inputs-'));
  dataDir = path.join(tmp, 'data');
  registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'test' });
  const backend = new OnnxBackend();
  const inspect = (bytes: Uint8Array) => backend.inspect(bytes);
  for (const m of MODELS) {
    const card = parseCard(readFileSync(fixturePath(m, 'card.json'), 'utf8'), 'card.json');
    const r = await registry.registerVersion({ name: m, filePath: fixturePath(m), card, inspect });
    versions.set(m, r.version);
    tables.set(m, goldenTable(m, r.version));
    const file = path.join(tmp, `${m}.csv`);
    await writeFile(file, csvOf(m));
    csvFiles.set(m, file);
  }
}, 60_000);

afterAll(async () => {
  await registry?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('SQLite inputs', () => {
  const dbFile = (): string => path.join(tmp, 'golden.sqlite');
  const query = (m: Model, extra = ''): string => `SELECT id, big, ${tables.get(m)!.features.map((f) => `"${f}"`).join(', ')} FROM "${m}" ${extra}ORDER BY n`;

  beforeAll(() => {
    const db = new Database(dbFile());
    for (const m of MODELS) {
      const t = tables.get(m)!;
      const cols = t.features.map((f) => `"${f}" ${t.text.has(f) ? 'TEXT' : 'REAL'}`);
      db.exec(`CREATE TABLE "${m}" (n INTEGER PRIMARY KEY, id TEXT NOT NULL, big INTEGER NOT NULL, ${cols.join(', ')})`);
      const insert = db.prepare(`INSERT INTO "${m}" VALUES (${['?', '?', '?', ...t.features.map(() => '?')].join(', ')})`);
      // stored in reverse: only the query's ORDER BY puts the rows in input order
      for (let r = ROWS - 1; r >= 0; r--) insert.run(r, `r${r + 1}`, BIG + BigInt(r), ...(t.rows[r] as (string | number)[]));
    }
    db.close();
  });

  for (const m of MODELS) {
    it(`scores ${m} from a query with the golden labels and probabilities, and 64-bit keys exact`, async () => {
      const out = path.join(tmp, `sqlite-${m}.jsonl`);
      const s = await runBatchJob(spec(m, `sqlite:${dbFile()}`, out, { query: query(m), key: ['id', 'big'] }), { registry, dataDir });
      expect(s).toMatchObject({ rowsIn: ROWS, rowsOut: ROWS, rejected: 0, complete: true });
      const rows = await readJsonl(out);
      expectGolden(m, rows);
      // bigints beyond 2^53 keep every digit
      const text = await readFile(out, 'utf8');
      expect(text.split('\n')[0]).toContain(`"big":${BIG}`);
      expect(text.split('\n')[ROWS - 1]).toContain(`"big":${BIG + BigInt(ROWS - 1)}`);
    });
  }

  it('refuses to round a 64-bit key into a Parquet output: the error names the column and the value', async () => {
    const out = path.join(tmp, 'sqlite-big.parquet');
    const err = await runBatchJob(spec('credit', `sqlite:${dbFile()}`, out, { query: query('credit'), key: ['id', 'big'] }), { registry, dataDir }).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_INPUT', context: { field: 'big', got: String(BIG) } });
    expect((err as Error).message).toContain('--format csv');
    expect(existsSync(out)).toBe(false);
  });

  it('reads a path ending .db/.sqlite with --query like sqlite:PATH, and the same rows give the same bytes as the CSV file', async () => {
    const a = path.join(tmp, 'sqlite-plain-path.csv');
    const b = path.join(tmp, 'sqlite-from-csv.csv');
    await runBatchJob(spec('credit', path.relative(process.cwd(), dbFile()), a, { query: query('credit'), key: ['id'] }), { registry, dataDir });
    await runBatchJob(spec('credit', csvFiles.get('credit')!, b, { key: ['id'] }), { registry, dataDir });
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });

  it('resumes after a stop at the first missing part, byte for byte the same as an uninterrupted run', async () => {
    const s = (out: string): BatchJobSpec => spec('credit', `sqlite:${dbFile()}`, out, { query: query('credit'), key: ['id'], partRows: 7, batchRows: 5 });
    const whole = path.join(tmp, 'sqlite-whole.csv');
    await runBatchJob(s(whole), { registry, dataDir });
    const out = path.join(tmp, 'sqlite-resumed.csv');
    const first = await runBatchJob(s(out), { registry, dataDir, stopAfterParts: 2 });
    expect(first).toMatchObject({ complete: false, parts: 2, rowsIn: 14 });
    const second = await runBatchJob(s(out), { registry, dataDir });
    expect(second).toMatchObject({ complete: true, resumed: true, parts: 5, rowsIn: ROWS, rowsOut: ROWS });
    expect(second.jobId).toBe(first.jobId);
    expect((await readFile(out)).equals(await readFile(whole))).toBe(true);
  });

  it('refuses a query without a top-level ORDER BY, saying why, before any work', async () => {
    const before = await jobDirs();
    for (const q of [
      'SELECT * FROM credit',
      'SELECT * FROM (SELECT * FROM credit ORDER BY n)',
      "SELECT *, 'ORDER BY' AS note FROM credit -- ORDER BY n",
    ]) {
      const err = await rejection(runBatchJob(spec('credit', `sqlite:${dbFile()}`, path.join(tmp, 'never.csv'), { query: q }), { registry, dataDir }));
      expect(err.code, q).toBe('INVALID_ARGUMENT');
      expect(err.message, q).toMatch(/^--query: the query has no ORDER BY of its own/);
      expect(err.message, q).toContain('resumes by skipping the rows of its finished parts');
      expect(err.message, q).toContain('ORDER BY a unique key');
    }
    expect(await jobDirs()).toEqual(before);
  });

  it('names the driver\'s problem for a missing table, a missing file, a second statement or a write', async () => {
    const before = await jobDirs();
    const cases: [string, string, RegExp][] = [
      [`sqlite:${dbFile()}`, 'SELECT * FROM nope ORDER BY 1', /^--query: SQLite refused it: no such table: nope; check the table name/],
      [`sqlite:${path.join(tmp, 'absent.db')}`, 'SELECT 1 ORDER BY 1', /cannot open it as an SQLite database .*check the path/],
      [`sqlite:${dbFile()}`, 'SELECT * FROM credit ORDER BY n; DELETE FROM credit', /expected one statement, got several/],
      [`sqlite:${dbFile()}`, 'DELETE FROM credit ORDER BY n', /expected a query that returns rows/],
      [`sqlite:${dbFile()}`, 'SELECT id, n AS id FROM credit ORDER BY n', /returns two columns named "id"/],
    ];
    for (const [input, q, message] of cases) {
      const err = await rejection(runBatchJob(spec('credit', input, path.join(tmp, 'never.csv'), { query: q }), { registry, dataDir }));
      expect(err.code, q).toBe('INVALID_ARGUMENT');
      expect(err.message, q).toMatch(message);
    }
    expect(await jobDirs()).toEqual(before);
    const noQuery = await rejection(runBatchJob(spec('credit', `sqlite:${dbFile()}`, path.join(tmp, 'never.csv')), { registry, dataDir }));
    expect(noQuery.message).toMatch(/^--query: a database input .* needs the query/);
    const fileWithQuery = await rejection(runBatchJob(spec('credit', csvFiles.get('credit')!, path.join(tmp, 'never.csv'), { query: 'SELECT 1 ORDER BY 1' }), { registry, dataDir }));
    expect(fileWithQuery.message).toMatch(/^--query: only a database input takes a query/);
  });

  it('runs from the CLI with --query and prints the summary with --json', async () => {
    const out = path.join(tmp, 'sqlite-cli.jsonl');
    const r = await berth(['batch', 'run', '--model', 'breast-cancer-gbt', '--input', `sqlite:${dbFile()}`, '--query', query('breast-cancer-gbt'), '--output', out, '--key', 'id', '--json']);
    expect(r.err.replace(/^batch: .*\n/gm, '')).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ model: 'breast-cancer-gbt', rowsIn: ROWS, rowsOut: ROWS, complete: true });
    expectGolden('breast-cancer-gbt', await readJsonl(out));
  });
});

describe.skipIf(!TEST_POSTGRES_URL)(`PostgreSQL inputs${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  const schema = testSchemaName();
  const PASSWORD = 'pw-never-written-9f3a';
  /** the test database's URL with a password added (the test server trusts local connections, so any password works) */
  let urlWithPassword: string;
  let url: string;
  const query = (m: Model): string => `SELECT id, big, amount, ${tables.get(m)!.features.map((f) => `"${f}"`).join(', ')} FROM ${schema}."${m}" ORDER BY n`;

  beforeAll(async () => {
    url = TEST_POSTGRES_URL!;
    const u = new URL(url);
    u.password = PASSWORD;
    urlWithPassword = u.toString();
    await withPgClient(url, async (c) => {
      await c.query(`CREATE SCHEMA ${schema}`);
      for (const m of MODELS) {
        const t = tables.get(m)!;
        // breast-cancer's features as NUMERIC (exact decimal text), credit's as double precision
        const numeric = m === 'breast-cancer-gbt' ? 'numeric' : 'double precision';
        const cols = t.features.map((f) => `"${f}" ${t.text.has(f) ? 'text' : numeric}`);
        await c.query(`CREATE TABLE ${schema}."${m}" (n integer PRIMARY KEY, id text NOT NULL, big bigint NOT NULL, amount numeric NOT NULL, ${cols.join(', ')})`);
        for (let r = ROWS - 1; r >= 0; r--) {
          const values = [r, `r${r + 1}`, String(BIG + BigInt(r)), AMOUNT, ...t.rows[r]!.map(String)];
          await c.query(`INSERT INTO ${schema}."${m}" VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`, values);
        }
      }
    });
  });

  afterAll(async () => {
    await dropSchema(TEST_POSTGRES_URL!, schema);
  });

  for (const m of MODELS) {
    it(`scores ${m} from a query with the golden labels and probabilities; BIGINT and NUMERIC keys keep every digit`, async () => {
      const out = path.join(tmp, `pg-${m}.jsonl`);
      const s = await runBatchJob(spec(m, url, out, { query: query(m), key: ['id', 'big', 'amount'] }), { registry, dataDir });
      expect(s).toMatchObject({ rowsIn: ROWS, rowsOut: ROWS, rejected: 0, complete: true });
      expectGolden(m, await readJsonl(out));
      const first = (await readFile(out, 'utf8')).split('\n')[0]!;
      expect(first).toContain(`"big":${BIG}`);
      expect(first).toContain(`"amount":"${AMOUNT}"`);
    });
  }

  it('resumes after a stop at the first missing part, byte for byte the same as an uninterrupted run', async () => {
    const s = (out: string): BatchJobSpec => spec('breast-cancer-gbt', url, out, { query: query('breast-cancer-gbt'), key: ['id'], partRows: 7, batchRows: 3 });
    const whole = path.join(tmp, 'pg-whole.parquet');
    await runBatchJob(s(whole), { registry, dataDir });
    const out = path.join(tmp, 'pg-resumed.parquet');
    const first = await runBatchJob(s(out), { registry, dataDir, stopAfterParts: 3 });
    expect(first).toMatchObject({ complete: false, parts: 3, rowsIn: 21 });
    const second = await runBatchJob(s(out), { registry, dataDir });
    expect(second).toMatchObject({ complete: true, resumed: true, parts: 5, rowsIn: ROWS, rowsOut: ROWS });
    expect(second.jobId).toBe(first.jobId);
    expect((await readFile(out)).equals(await readFile(whole))).toBe(true);
  });

  it('never writes the password: not in job.json, the summary or the CLI output; resume works from the record, or with --input again', async () => {
    const whole = path.join(tmp, 'pg-secret-whole.csv');
    await runBatchJob(spec('credit', url, whole, { query: query('credit'), key: ['id'], partRows: 10 }), { registry, dataDir });

    const out = path.join(tmp, 'pg-secret.csv');
    const stopped = await runBatchJob(spec('credit', urlWithPassword, out, { query: query('credit'), key: ['id'], partRows: 10 }), { registry, dataDir, stopAfterParts: 1 });
    expect(stopped.complete).toBe(false);
    expect(JSON.stringify(stopped)).not.toContain(PASSWORD);
    const recordText = await readFile(path.join(dataDir, 'jobs', stopped.jobId, 'job.json'), 'utf8');
    expect(recordText).not.toContain(PASSWORD);
    const record = JSON.parse(recordText) as Record<string, unknown>;
    expect(record['input']).toBe(new URL(url).toString());
    expect(record['query']).toBe(query('credit'));
    // the password is not part of the job id: the same job, whoever's password it runs with
    const list = await berth(['batch', 'list', '--json']);
    expect(list.out).toContain(stopped.jobId);
    expect(list.out).not.toContain(PASSWORD);

    const wrong = await berth(['batch', 'resume', stopped.jobId, '--input', 'postgres://someone:x@elsewhere:5432/other']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain(`but job ${stopped.jobId} reads`);
    expect(wrong.err).not.toContain('someone:x');

    const resumed = await berth(['batch', 'resume', stopped.jobId, '--input', urlWithPassword, '--json']);
    expect(resumed.code).toBe(0);
    expect(resumed.out + resumed.err).not.toContain(PASSWORD);
    expect(JSON.parse(resumed.out)).toMatchObject({ jobId: stopped.jobId, complete: true, resumed: true, rowsIn: ROWS });
    expect((await readFile(out)).equals(await readFile(whole))).toBe(true);

    // from the record alone (the password would come from PGPASSWORD or ~/.pgpass; this server needs none)
    const out2 = path.join(tmp, 'pg-secret-2.csv');
    const again = await runBatchJob(spec('credit', urlWithPassword, out2, { query: query('credit'), key: ['id'], partRows: 10 }), { registry, dataDir, stopAfterParts: 1 });
    const fromRecord = await berth(['batch', 'resume', again.jobId, '--json']);
    expect(fromRecord.code).toBe(0);
    expect((await readFile(out2)).equals(await readFile(whole))).toBe(true);
  });

  it('answers UNAVAILABLE for an unreachable server and INVALID_ARGUMENT for bad SQL or a missing table, in the driver\'s words, without the password', async () => {
    const before = await jobDirs();
    const down = await rejection(runBatchJob(spec('credit', `postgres://berth:${PASSWORD}@127.0.0.1:9/db`, path.join(tmp, 'never.csv'), { query: 'SELECT 1 ORDER BY 1' }), { registry, dataDir }));
    expect(down.code).toBe('UNAVAILABLE');
    expect(down.message).toMatch(/^--input postgres:\/\/berth@127\.0\.0\.1:9\/db: cannot connect to PostgreSQL \(ECONNREFUSED/);
    expect(down.message).toContain('check the host and port');
    expect(down.message + JSON.stringify(down.context)).not.toContain(PASSWORD);

    const missing = await rejection(runBatchJob(spec('credit', urlWithPassword, path.join(tmp, 'never.csv'), { query: `SELECT * FROM ${schema}.nope ORDER BY 1` }), { registry, dataDir }));
    expect(missing.code).toBe('INVALID_ARGUMENT');
    expect(missing.message).toMatch(new RegExp(`^--query: PostgreSQL refused it: relation "${schema}.nope" does not exist near "${schema}\\.nope .*"; check the table name, and its schema`));
    expect(missing.message).not.toContain(PASSWORD);

    const syntax = await rejection(runBatchJob(spec('credit', url, path.join(tmp, 'never.csv'), { query: `SELECT id FROM ${schema}.credit WHER n > 1 ORDER BY n` }), { registry, dataDir }));
    expect(syntax.code).toBe('INVALID_ARGUMENT');
    expect(syntax.message).toMatch(/^--query: PostgreSQL refused it: syntax error at or near "n" near "n > 1 ORDER BY n"; check the SQL syntax/);

    const columns = await rejection(runBatchJob(spec('credit', url, path.join(tmp, 'never.csv'), { query: `SELECT id FROM ${schema}.credit ORDER BY n` }), { registry, dataDir }));
    expect(columns.code).toBe('INVALID_INPUT');
    expect(columns.message).toContain('the input has no column "age"');
    expect(await jobDirs()).toEqual(before);

    const unordered = await rejection(runBatchJob(spec('credit', url, path.join(tmp, 'never.csv'), { query: `SELECT * FROM ${schema}.credit WHERE n IN (SELECT n FROM ${schema}.credit ORDER BY n LIMIT 5)` }), { registry, dataDir }));
    expect(unordered.code).toBe('INVALID_ARGUMENT');
    expect(unordered.message).toMatch(/^--query: the query has no ORDER BY of its own/);
  });

  it('stops with INVALID_INPUT when a row breaks the query while it streams', async () => {
    const q = `SELECT id, ${tables.get('credit')!.features.map((f) => `"${f}"`).join(', ')}, 1 / (n - 20) AS boom FROM ${schema}.credit ORDER BY n`;
    const err = await rejection(runBatchJob(spec('credit', url, path.join(tmp, 'never.csv'), { query: q, batchRows: 4 }), { registry, dataDir }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/^--query: PostgreSQL failed while returning rows after row 0: division by zero/);
  });
});

describe('URL inputs', () => {
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  let s3: TestS3;
  const saved: Record<string, string | undefined> = {};

  /** the local file's output, which every URL input must equal byte for byte */
  async function localOutput(name: string): Promise<Buffer> {
    const out = path.join(tmp, `url-local-${name}.csv`);
    await runBatchJob(spec('credit', csvFiles.get('credit')!, out, { key: ['id'] }), { registry, dataDir });
    return readFile(out);
  }

  beforeAll(async () => {
    const body = readFileSync(csvFiles.get('credit')!);
    server = createServer((req, res) => {
      const p = req.url ?? '/';
      hits.set(p, (hits.get(p) ?? 0) + 1);
      if (p === '/data/credit.csv' || p === '/data/credit.csv?token=secret-token-1') {
        res.writeHead(200, { 'content-type': 'text/csv', 'content-length': body.length });
        res.end(body);
      } else if (p === '/flaky/credit.csv') {
        // the first answer breaks off halfway; later ones are whole
        res.writeHead(200, { 'content-type': 'text/csv', 'content-length': body.length });
        if (hits.get(p) === 1) {
          res.write(body.subarray(0, body.length >> 1));
          setTimeout(() => res.destroy(), 20);
        } else {
          res.end(body);
        }
      } else {
        res.writeHead(404).end('not here');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    s3 = await startS3rver();
    await s3.createBucket('batch-in');
    await s3.client.send(new PutObjectCommand({ Bucket: 'batch-in', Key: 'inputs/credit.csv', Body: body }));
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) saved[k] = process.env[k];
    process.env['AWS_ACCESS_KEY_ID'] = S3RVER_CREDENTIALS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = S3RVER_CREDENTIALS.secretAccessKey;
    process.env['AWS_REGION'] = 'us-east-1';
  }, 30_000);

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await s3?.stop();
  });

  it('scores an http:// file the same as the local file, downloading it once: a resumed job reuses the download', async () => {
    const local = await localOutput('http');
    const out = path.join(tmp, 'url-http.csv');
    const url = `${base}/data/credit.csv`;
    const events: string[] = [];
    const s = (o: string): BatchJobSpec => spec('credit', url, o, { key: ['id'], partRows: 10 });
    const first = await runBatchJob(s(out), { registry, dataDir, stopAfterParts: 1, onDownload: (p) => p.done && events.push(p.reused ? 'reused' : `downloaded ${p.bytesDone}`) });
    expect(first.complete).toBe(false);
    expect(hits.get('/data/credit.csv')).toBe(1);
    const record = JSON.parse(await readFile(path.join(dataDir, 'jobs', first.jobId, 'job.json'), 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({ input: url, inputFormat: 'csv' });
    const second = await runBatchJob(s(out), { registry, dataDir, onDownload: (p) => p.done && events.push(p.reused ? 'reused' : 'downloaded') });
    expect(second).toMatchObject({ jobId: first.jobId, complete: true, resumed: true, rowsIn: ROWS });
    expect(hits.get('/data/credit.csv')).toBe(1);
    expect(events).toEqual([`downloaded ${readFileSync(csvFiles.get('credit')!).length}`, 'reused']);
    expect((await readFile(out)).equals(local)).toBe(true);
    // a finished job leaves nothing behind, the download included
    expect(await jobDirs()).not.toContain(first.jobId);
  });

  it('starts a broken-off download again on the next run, and keeps a signed URL\'s token out of job.json', async () => {
    const local = await localOutput('flaky');
    const out = path.join(tmp, 'url-flaky.csv');
    const before = await jobDirs();
    const err = await rejection(runBatchJob(spec('credit', `${base}/flaky/credit.csv`, out, { key: ['id'] }), { registry, dataDir }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/^--input http:\/\/127\.0\.0\.1:\d+\/flaky\/credit\.csv: the transfer (broke off|ended) after/);
    expect(err.message).toContain('run the same command again');
    // refused before it started: no work dir, no partial file
    expect(await jobDirs()).toEqual(before);
    await runBatchJob(spec('credit', `${base}/flaky/credit.csv`, out, { key: ['id'] }), { registry, dataDir });
    expect(hits.get('/flaky/credit.csv')).toBe(2);
    expect((await readFile(out)).equals(local)).toBe(true);

    const signed = path.join(tmp, 'url-signed.csv');
    const stopped = await runBatchJob(spec('credit', `${base}/data/credit.csv?token=secret-token-1`, signed, { key: ['id'], partRows: 10 }), { registry, dataDir, stopAfterParts: 1 });
    const recordText = await readFile(path.join(dataDir, 'jobs', stopped.jobId, 'job.json'), 'utf8');
    expect(recordText).not.toContain('secret-token-1');
    const done = await runBatchJob(spec('credit', `${base}/data/credit.csv?token=secret-token-1`, signed, { key: ['id'], partRows: 10 }), { registry, dataDir });
    expect(done).toMatchObject({ jobId: stopped.jobId, complete: true });
    expect((await readFile(signed)).equals(local)).toBe(true);
  });

  it('refuses a URL that is not there, and a glob over URLs', async () => {
    const missing = await rejection(runBatchJob(spec('credit', `${base}/data/nope.csv`, path.join(tmp, 'never.csv')), { registry, dataDir }));
    expect(missing.code).toBe('INVALID_ARGUMENT');
    expect(missing.message).toMatch(/the server answered 404 Not Found; check the URL$/);
    const glob = await rejection(runBatchJob(spec('credit', `${base}/data/*.csv`, path.join(tmp, 'never.csv')), { registry, dataDir }));
    expect(glob.code).toBe('INVALID_ARGUMENT');
    expect(glob.message).toContain('globs are not supported for URL inputs');
  });

  it('scores an s3:// object the same as the local file', async () => {
    const local = await localOutput('s3');
    const out = path.join(tmp, 'url-s3.csv');
    const s: BatchSummary = await runBatchJob(spec('credit', `s3://batch-in/inputs/credit.csv?endpoint=${s3.endpoint}`, out, { key: ['id'] }), { registry, dataDir });
    expect(s).toMatchObject({ rowsIn: ROWS, rowsOut: ROWS, complete: true });
    expect((await readFile(out)).equals(local)).toBe(true);
    const missing = await rejection(runBatchJob(spec('credit', `s3://batch-in/inputs/nope.csv?endpoint=${s3.endpoint}`, path.join(tmp, 'never.csv')), { registry, dataDir }));
    expect(missing.code).toBe('INVALID_ARGUMENT');
    expect(missing.message).toContain('no object "inputs/nope.csv" in bucket "batch-in"');
  });
});

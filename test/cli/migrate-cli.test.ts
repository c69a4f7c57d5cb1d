/*
 * `berth migrate`, run in process through `main`: on the data dir's SQLite registry always, on
 * PostgreSQL (a fresh schema, picked with the store's own `?schema=` URL parameter) when
 * BERTH_TEST_POSTGRES_URL is set. Also the `database.url` setting it reads.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { BerthError, configFromEnv, resolveConfig } from '../../src/core/index.js';
import { SCHEMA_MIGRATIONS, type MigrationReport } from '../../src/registry/index.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName, urlWithSchema } from '../helpers/postgres.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function berth(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env });
  return { code, out, err };
}

const ALL = SCHEMA_MIGRATIONS.map((m) => ({ version: m.version, name: m.name }));
const LATEST = Math.max(...ALL.map((m) => m.version));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-migrate-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('berth migrate on the data dir', () => {
  it('applies every migration to a new berth.db, then says it is up to date', async () => {
    const first = await berth({}, '--data-dir', dir, 'migrate');
    expect(first.code, first.err).toBe(0);
    expect(first.out).toContain(`applied ${ALL.length} migrations to ${join(dir, 'berth.db')}:`);
    expect(first.out).toContain('  1  registry\n');
    expect(first.out).toContain(`now at schema version ${LATEST}`);
    const again = await berth({}, '--data-dir', dir, '--json', 'migrate');
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toEqual({ dialect: 'sqlite', where: join(dir, 'berth.db'), schema: null, applied: [], latest: LATEST });
  });

  it('refuses a database URL that is not PostgreSQL, without echoing it', async () => {
    const r = await berth({}, '--data-dir', dir, 'migrate', '--database', 'mysql://root:hunter2@db/berth');
    expect(r.code).toBe(1);
    expect(r.err).toContain('database.url: expected postgres://');
    expect(r.err).toContain('got a mysql:// URL');
    expect(r.err).not.toContain('hunter2');
  });

  it('names database.url, without the password, when PostgreSQL cannot be reached', async () => {
    const r = await berth({ BERTH_DATABASE_URL: 'postgres://berth:hunter2@127.0.0.1:1/berth' }, '--data-dir', dir, 'migrate');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: database\.url \(postgres:\/\/berth@127\.0\.0\.1:1\/berth\): cannot connect: connection refused/);
    expect(r.err).not.toContain('hunter2');
  });
});

describe('database.url', () => {
  it('comes from BERTH_DATABASE_URL and accepts postgres:// and postgresql://', () => {
    expect(configFromEnv({ BERTH_DATABASE_URL: 'postgres://u:p@h/db' })).toEqual({ database: { url: 'postgres://u:p@h/db' } });
    expect(resolveConfig({ database: { url: 'postgresql://h/db?schema=x' } }).database.url).toBe('postgresql://h/db?schema=x');
    expect(resolveConfig({}).database.url).toBeNull();
  });

  it('is refused with every other value, never echoing it', () => {
    for (const [url, got] of [
      ['mysql://u:hunter2@h/db', 'a mysql:// URL'],
      ['u:hunter2@h/db', 'something that is not a URL'],
      [42, 'number'],
    ] as const) {
      let err: unknown;
      try {
        resolveConfig({ database: { url: url as string } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('INVALID_CONFIG');
      expect((err as BerthError).message).toContain(`database.url: expected postgres://user:password@host:5432/database or postgresql://… (the value is not shown: it may hold a password), got ${got}`);
      expect((err as BerthError).message).not.toContain('hunter2');
    }
  });
});

describe.skipIf(!TEST_POSTGRES_URL)(`berth migrate --database${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  let schema: string;
  beforeEach(() => {
    schema = testSchemaName();
  });
  afterEach(async () => {
    await dropSchema(TEST_POSTGRES_URL!, schema);
  });

  it('creates the schema, applies every migration once, and says so', async () => {
    const url = urlWithSchema(TEST_POSTGRES_URL!, schema);
    const first = await berth({}, '--data-dir', dir, 'migrate', '--database', url);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(new RegExp(`^applied ${ALL.length} migrations to postgres(ql)?://\\S+ \\(schema ${schema}\\):\\n  1  registry\\n`));
    const again = await berth({ BERTH_DATABASE_URL: url }, '--data-dir', dir, '--json', 'migrate');
    expect(again.code, again.err).toBe(0);
    const report = JSON.parse(again.out) as MigrationReport;
    expect(report).toMatchObject({ dialect: 'postgres', schema, applied: [], latest: LATEST });
    expect(report.where).not.toContain('?');
    const text = await berth({}, '--data-dir', dir, 'migrate', '--database', url);
    expect(text.out).toContain(`(schema ${schema}) is up to date (schema version ${LATEST})`);
  });

  it('reads database.url from a config file', async () => {
    const file = join(dir, 'berth.yaml');
    await writeFile(file, `version: 1\ndatabase:\n  url: ${urlWithSchema(TEST_POSTGRES_URL!, schema)}\n`);
    const r = await berth({}, '--json', 'migrate', '--config', file);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ dialect: 'postgres', schema, applied: ALL });
  });
});

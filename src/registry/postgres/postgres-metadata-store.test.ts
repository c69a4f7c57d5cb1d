/*
 * PostgresMetadataStore on a real PostgreSQL (BERTH_TEST_POSTGRES_URL), each test in a schema of
 * its own. The registry's behaviour is the conformance suite's (test/registry/store-conformance);
 * this file covers what is PostgreSQL's own: the lock, int8 parsing, search_path, migrations by
 * several processes, connection errors.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName, urlWithSchema, withPgClient } from '../../../test/helpers/postgres.js';
import { BerthError, ManualClock, type Signature } from '../../core/index.js';
import { FsArtifactStore } from '../fs-artifact-store.js';
import { SCHEMA_MIGRATIONS } from '../migrations.js';
import { Registry } from '../registry.js';
import { PostgresMetadataStore, parseDatabaseUrl, redactDatabaseUrl } from './postgres-metadata-store.js';

const insertModel = (name: string) => ({ name, description: null, tags: '{}', created_at: 1_700_000_000_123, updated_at: 0 });

async function codeOf(p: Promise<unknown>): Promise<BerthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  return err as BerthError;
}

describe('database URLs', () => {
  it('reads the schema parameter, passes the rest to the driver, and prints the URL without its password', () => {
    const parsed = parseDatabaseUrl('postgresql://berth:s3cret@db.internal:6543/reg?schema=team_a&sslmode=require');
    expect(parsed.schemaParam).toBe('team_a');
    expect(parsed.connectionString).toBe('postgresql://berth:s3cret@db.internal:6543/reg?sslmode=require');
    expect(parsed.where).toBe('postgresql://berth@db.internal:6543/reg');
    expect(redactDatabaseUrl('postgres://db/berth')).toBe('postgres://db/berth');
  });

  it('refuses another scheme or a bad schema name without echoing the URL', async () => {
    const scheme = await codeOf(Promise.resolve().then(() => new PostgresMetadataStore({ url: 'mysql://root:hunter2@db/berth' })));
    expect(scheme.code).toBe('INVALID_CONFIG');
    expect(scheme.message).toContain('postgres://');
    expect(scheme.message).not.toContain('hunter2');
    const schema = await codeOf(Promise.resolve().then(() => new PostgresMetadataStore({ url: 'postgres://u:hunter2@db/berth?schema=a;drop' })));
    expect(schema.message).toContain('plain identifier');
    expect(schema.message).not.toContain('hunter2');
  });
});

describe.skipIf(!TEST_POSTGRES_URL)(`PostgresMetadataStore${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  const url = TEST_POSTGRES_URL!;
  let schema: string;
  let stores: PostgresMetadataStore[];
  let store: PostgresMetadataStore;

  const open = (opts: Partial<ConstructorParameters<typeof PostgresMetadataStore>[0]> = {}): PostgresMetadataStore => {
    const s = new PostgresMetadataStore({ url, schema, ...opts });
    stores.push(s);
    return s;
  };

  beforeEach(async () => {
    schema = testSchemaName();
    stores = [];
    store = open();
    await store.migrate();
  });

  afterEach(async () => {
    for (const s of stores) await s.close();
    await dropSchema(url, schema);
  });

  it('creates its schema and keeps every table in it, with text compared byte by byte as in SQLite', async () => {
    const tables = await withPgClient(url, (c) => c.query<{ table_name: string }>('select table_name from information_schema.tables where table_schema = $1 order by 1', [schema]));
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      ['alias_history', 'aliases', 'artifact_signatures', 'audit', 'berth_schema_migrations', 'deployment_history', 'deployments', 'feedback', 'job_logs', 'jobs', 'leases', 'models', 'pipeline_cache', 'pipeline_logs', 'pipeline_runs', 'pipeline_steps', 'pipeline_triggers', 'pipeline_versions', 'pipelines', 'rollout_decisions', 'rollout_windows', 'rollouts', 'run_datasets', 'run_metrics', 'schedules', 'tokens', 'versions'],
    );
    for (const name of ['b', 'B', 'a-b', 'ab', 'a.b', 'A']) await store.transaction((trx) => trx.insertInto('models').values(insertModel(name)).execute());
    const names = await store.db.selectFrom('models').select('name').orderBy('name').execute();
    expect(names.map((n) => n.name)).toEqual(['A', 'B', 'a-b', 'a.b', 'ab', 'b']);
  });

  it('returns int8 columns and count(*) as numbers, without changing pg for anyone else', async () => {
    await store.transaction((trx) => trx.insertInto('models').values(insertModel('fraud')).execute());
    const row = await store.db.selectFrom('models').select(['created_at', sql<number>`count(*)`.as('n')]).groupBy('created_at').executeTakeFirstOrThrow();
    expect(row).toEqual({ created_at: 1_700_000_000_123, n: 1 });
    const global = await withPgClient(url, (c) => c.query<{ v: unknown }>('select 5::int8 as v'));
    expect(global.rows[0]!.v).toBe('5');
    expect(pg.types.getTypeParser(20, 'text')('7')).toBe('7');
  });

  it('migrates once: a second run, and a second process, find nothing to do', async () => {
    const fresh = testSchemaName();
    try {
      const a = open({ schema: fresh });
      const b = open({ url: urlWithSchema(url, fresh), schema: undefined });
      const [ra, rb] = await Promise.all([a.applyMigrations(), b.applyMigrations()]);
      const all = SCHEMA_MIGRATIONS.map((m) => m.version);
      expect([ra, rb].sort((x, y) => y.length - x.length)).toEqual([all, []]);
      expect(await a.applyMigrations()).toEqual([]);
      expect(b.schema).toBe(fresh);
      const rows = await a.db.selectFrom('berth_schema_migrations').select('version').orderBy('version').execute();
      expect(rows.map((r) => r.version)).toEqual(all);
    } finally {
      await dropSchema(url, fresh);
    }
  });

  it('takes the write lock when a transaction begins, so another writer waits, then fails with a clear error', async () => {
    const other = open({ lockTimeoutMs: 150 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inside = new Promise<void>((r) => (started = r));
    const first = store.transaction(async (trx) => {
      await trx.selectFrom('models').selectAll().execute(); // a read only: the lock is already held
      started();
      await held;
      await trx.insertInto('models').values(insertModel('first')).execute();
    });
    await inside;
    const err = await codeOf(other.transaction((trx) => trx.insertInto('models').values(insertModel('second')).execute()));
    expect(err.message).toContain('stayed locked by another writer for 150 ms');
    release();
    await first;
    await other.transaction((trx) => trx.insertInto('models').values(insertModel('second')).execute());
    expect((await store.db.selectFrom('models').select('name').orderBy('name').execute()).map((r) => r.name)).toEqual(['first', 'second']);
  });

  it('tells subscribers of every commit by another process in its schema, and of nothing rolled back or elsewhere', async () => {
    const heard: number[] = [];
    const stop = await store.subscribe(() => heard.push(Date.now()));
    heard.length = 0; // subscribing calls once (changes may have been missed before)
    const other = open();
    const t0 = Date.now();
    await other.transaction((trx) => trx.insertInto('models').values(insertModel('notified')).execute());
    for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(heard).toHaveLength(1);
    expect(heard[0]! - t0).toBeLessThan(1000);
    await other.transaction(async () => {
      throw new Error('rolled back');
    }).catch(() => undefined);
    const elsewhere = open({ schema: `${schema}_x` });
    await elsewhere.migrate();
    await elsewhere.transaction((trx) => trx.insertInto('models').values(insertModel('elsewhere')).execute());
    await new Promise((r) => setTimeout(r, 200));
    expect(heard).toHaveLength(1);
    await stop();
    await other.transaction((trx) => trx.insertInto('models').values(insertModel('after-stop')).execute());
    await new Promise((r) => setTimeout(r, 200));
    expect(heard).toHaveLength(1);
    await dropSchema(url, `${schema}_x`);
  });

  it('refuses a nested transaction instead of waiting for its own lock', async () => {
    const err = await codeOf(store.transaction(() => store.transaction(async () => 1)));
    expect(err.message).toContain('nested metadata transaction');
  });

  it('lets registries in other schemas write while one holds its lock', async () => {
    const elsewhere = testSchemaName();
    try {
      const b = open({ schema: elsewhere, lockTimeoutMs: 150 });
      await b.migrate();
      await store.transaction(async () => {
        await b.transaction((trx) => trx.insertInto('models').values(insertModel('x')).execute());
      });
    } finally {
      await dropSchema(url, elsewhere);
    }
  });

  describe('two processes writing at once', () => {
    const SIGNATURE: Signature = { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }], batchable: true };
    const inspect = async (): Promise<Signature> => structuredClone(SIGNATURE);
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'berth-pg-'));
      await mkdir(join(dir, 'src'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const registryOn = (metadata: PostgresMetadataStore, actor: string) =>
      new Registry({ metadata, artifacts: new FsArtifactStore(join(dir, 'artifacts')), clock: new ManualClock(Date.UTC(2026, 0, 1)), defaultActor: actor });

    it('never hands out one version number twice and keeps the audit chain whole', async () => {
      // two pools, as two replicas would have; 20 registrations from each, all at once
      const a = registryOn(store, 'replica-a');
      const b = registryOn(open(), 'replica-b');
      const files = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const p = join(dir, 'src', `m${i}.onnx`);
          await writeFile(p, `ONNX model ${i}`);
          return p;
        }),
      );
      const results = await Promise.all(files.map((filePath, i) => (i % 2 === 0 ? a : b).registerVersion({ name: 'fraud', filePath, inspect })));
      expect(results.map((r) => r.version.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect((await a.getModel('fraud')).latestVersion).toBe(40);
      const verified = await b.verifyAudit();
      expect(verified).toMatchObject({ ok: true, rows: 40, firstBroken: null });
      const actors = (await a.audit({ limit: 100 })).map((e) => e.actor);
      expect(new Set(actors)).toEqual(new Set(['replica-a', 'replica-b']));
    });

    it('names an audit row edited behind Berth\'s back', async () => {
      const r = registryOn(store, 'ops');
      for (let i = 0; i < 3; i++) {
        const p = join(dir, 'src', `t${i}.onnx`);
        await writeFile(p, `ONNX tamper ${i}`);
        await r.registerVersion({ name: 'fraud', filePath: p, inspect });
      }
      expect((await r.verifyAudit()).ok).toBe(true);
      const [, middle] = await r.audit({ order: 'asc' });
      await withPgClient(url, (c) => c.query(`update "${schema}".audit set details = $1 where id = $2`, ['{"sha256":"forged"}', middle!.id]));
      expect((await r.verifyAudit()).firstBroken).toEqual({ id: middle!.id, reason: expect.stringContaining('no longer match its hash') });
    });
  });

  describe('connection problems', () => {
    it('reports an unreachable database as INVALID_CONFIG naming database.url, without the password', async () => {
      const s = open({ url: 'postgres://berth:hunter2@127.0.0.1:1/berth', schema: undefined });
      const err = await codeOf(s.migrate());
      expect(err.code).toBe('INVALID_CONFIG');
      expect(err.message).toContain('database.url (postgres://berth@127.0.0.1:1/berth): cannot connect: connection refused');
      expect(err.message).not.toContain('hunter2');
      expect(err.context.field).toBe('database.url');
    });

    it('reports a refused login and a missing database the same way', async () => {
      const u = new URL(url);
      u.username = 'no_such_berth_user';
      u.password = 'hunter2';
      const login = await codeOf(open({ url: u.toString() }).migrate());
      expect(login.code).toBe('INVALID_CONFIG');
      expect(login.message).toContain('PostgreSQL refused the login');
      expect(login.message).toContain('check the user and password');
      expect(login.message).not.toContain('hunter2');
      const db = new URL(url);
      db.pathname = '/no_such_berth_db';
      const missing = await codeOf(open({ url: db.toString() }).migrate());
      expect(missing.message).toMatch(/database "no_such_berth_db" does not exist; create it/);
    });
  });
});

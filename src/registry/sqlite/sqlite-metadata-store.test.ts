import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../core/index.js';
import { SqliteMetadataStore } from './sqlite-metadata-store.js';

let dir: string;
let store: SqliteMetadataStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  store = new SqliteMetadataStore({ path: join(dir, 'berth.db'), busyTimeoutMs: 100 });
  await store.migrate();
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const insertModel = (name: string) => ({ name, description: null, tags: '{}', created_at: 0, updated_at: 0 });

describe('SqliteMetadataStore', () => {
  it('runs in WAL mode with synchronous=FULL and foreign keys on', async () => {
    const pragma = async (name: string) => (await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(store.db)).rows[0]?.[name];
    expect(await pragma('journal_mode')).toBe('wal');
    expect(await pragma('synchronous')).toBe(2); // FULL
    expect(await pragma('foreign_keys')).toBe(1);
  });

  it('takes the write lock when a transaction begins, not at its first write', async () => {
    const other = new Database(join(dir, 'berth.db'), { timeout: 0 });
    try {
      await store.transaction(async (trx) => {
        await trx.selectFrom('models').selectAll().execute();
        expect(() => other.exec('begin immediate')).toThrow(/locked|busy/i);
      });
    } finally {
      other.close();
    }
  });

  it('fails with a clear error when another process holds the write lock too long, and writes once it is free', async () => {
    const other = new Database(join(dir, 'berth.db'));
    other.exec('begin immediate');
    try {
      const err = await store.transaction(async (trx) => trx.insertInto('models').values(insertModel('a')).execute()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).message).toContain('stayed locked by another process for 100 ms');
    } finally {
      other.exec('commit');
      other.close();
    }
    await store.transaction(async (trx) => trx.insertInto('models').values(insertModel('a')).execute());
    expect(await store.db.selectFrom('models').select('name').execute()).toEqual([{ name: 'a' }]);
  });

  it('refuses a nested transaction instead of waiting for itself forever', async () => {
    const err = await store
      .transaction(async () => store.transaction(async () => 1))
      .catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('INTERNAL');
  });

  it('enforces that versions belong to an existing model', async () => {
    await expect(
      store.transaction(async (trx) =>
        trx
          .insertInto('versions')
          .values({
            model: 'ghost', version: 1, sha256: 'x', size_bytes: 1, signature: '{}', card: null, lineage: '{}', tags: '{}',
            description: null, created_at: 0, created_by: 't', source_path: '/x', reference: null,
          })
          .execute(),
      ),
    ).rejects.toThrow(/FOREIGN KEY/);
  });
});

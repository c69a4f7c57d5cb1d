import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { BerthError } from '../../core/index.js';
import type { MetadataStore, RegistryDatabase } from '../metadata-store.js';
import { migrateToLatest } from '../migrations.js';

export interface SqliteMetadataStoreOptions {
  /** database file (created if missing); `:memory:` for a throwaway store */
  path: string;
  /** how long a writer waits for another process's write lock before failing (default 5000 ms) */
  busyTimeoutMs?: number;
}

/**
 * The embedded metadata store: one SQLite file in WAL mode.
 *
 * Durability: `synchronous=FULL` makes every acknowledged commit fsync the WAL, so neither a
 * kill -9 nor a power cut loses it. Registry writes are human-rate (a register, an alias move),
 * so the fsync per commit costs nothing that matters; WAL keeps readers unblocked by the writer.
 * Writes take the write lock up front (`BEGIN IMMEDIATE`) so two processes never both read a
 * version number and then collide on it; a waiting writer retries for `busyTimeoutMs`.
 */
export class SqliteMetadataStore implements MetadataStore {
  readonly dialect = 'sqlite' as const;
  readonly db: Kysely<RegistryDatabase>;
  readonly path: string;
  private readonly sqlite: Database.Database;
  private readonly busyTimeoutMs: number;
  private inTransaction = false;
  private closed = false;

  constructor(options: SqliteMetadataStoreOptions) {
    this.path = options.path;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.sqlite = new Database(options.path, { timeout: this.busyTimeoutMs });
    this.sqlite.pragma('journal_mode = WAL');
    this.sqlite.pragma('synchronous = FULL');
    this.sqlite.pragma('foreign_keys = ON');
    this.db = new Kysely<RegistryDatabase>({ dialect: new SqliteDialect({ database: this.sqlite }) });
  }

  async transaction<T>(fn: (trx: Kysely<RegistryDatabase>) => Promise<T>): Promise<T> {
    if (this.inTransaction) {
      // Kysely's SQLite driver has one connection behind a mutex: a nested call would wait forever.
      throw new BerthError('INTERNAL', 'nested metadata transaction: use the transaction handle passed to the callback');
    }
    return this.db.connection().execute(async (conn) => {
      this.inTransaction = true;
      try {
        try {
          await sql`begin immediate`.execute(conn);
        } catch (err) {
          if ((err as { code?: string }).code === 'SQLITE_BUSY') {
            throw new BerthError(
              'INTERNAL',
              `the registry database ${this.path} stayed locked by another process for ${this.busyTimeoutMs} ms; retry, ` +
                'or look for a stuck berth process holding it',
              { path: this.path },
              { cause: err },
            );
          }
          throw err;
        }
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (err) {
          try {
            await sql`rollback`.execute(conn);
          } catch {
            // the original error is the one worth reporting; SQLite may already have rolled back
          }
          throw err;
        }
      } finally {
        this.inTransaction = false;
      }
    });
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
  }
}

import { AsyncLocalStorage } from 'node:async_hooks';
import { Kysely, PostgresDialect, sql, CompiledQuery } from 'kysely';
import pg from 'pg';
import { BerthError } from '../../core/index.js';
import type { MetadataStore, RegistryDatabase } from '../metadata-store.js';
import { migrateToLatest } from '../migrations.js';

export interface PostgresMetadataStoreOptions {
  /**
   * `postgres://user:password@host:5432/database` (or `postgresql://…`). A `schema` query
   * parameter (`…/berth?schema=registry`) is read by the store and removed before connecting;
   * every other parameter (`sslmode`, `application_name`, …) goes to the driver as is.
   */
  url: string;
  /** the schema holding Berth's tables (default: the URL's `schema` parameter, else `public`); created by `migrate()` if missing */
  schema?: string;
  /** most connections in the pool (default 10) */
  maxConnections?: number;
  /** how long opening a connection may take before it fails (default 5000 ms) */
  connectTimeoutMs?: number;
  /** how long a writer waits for another writer's lock before failing (default 5000 ms, like SQLite's busy timeout) */
  lockTimeoutMs?: number;
  /** how long `migrate()` waits for another process's migration (default 120000 ms) */
  migrationLockTimeoutMs?: number;
}

/** int8 (bigint, count(*), bigserial) */
const INT8_OID = 20;
/** The advisory lock's first key: 'BRTH'. The second is a hash of the schema, so registries in different schemas of one database do not wait for each other. */
const LOCK_CLASS = 0x42525448;
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/i;

/**
 * Registry metadata in PostgreSQL, for several Berth processes sharing one registry.
 *
 * Every write transaction first takes `pg_advisory_xact_lock` on one key (per schema), so writers
 * serialise exactly as SQLite's `BEGIN IMMEDIATE` makes them: the registry's read-check-write
 * steps (the next version number, the audit hash chain) see every earlier commit. `migrate()`
 * takes the same lock, so replicas starting together migrate once. int8 columns come back as
 * numbers (a type parser on this pool only; every int8 stored is a millisecond time, an id or a
 * count, far below 2^53).
 *
 * @example
 * const store = new PostgresMetadataStore({ url: 'postgres://berth:secret@db:5432/berth' });
 * await store.migrate();
 * const names = await store.db.selectFrom('models').select('name').execute();
 * await store.close();
 */
/** The channel committed changes are announced on; the payload is the schema. */
const CHANGE_CHANNEL = 'berth_changes';

export class PostgresMetadataStore implements MetadataStore {
  readonly dialect = 'postgres' as const;
  readonly db: Kysely<RegistryDatabase>;
  readonly schema: string;
  /** the URL without its password or query: safe to print */
  readonly where: string;
  private readonly pool: pg.Pool;
  private readonly lockTimeoutMs: number;
  private readonly migrationLockTimeoutMs: number;
  private readonly lockKey: number;
  private readonly inTransaction = new AsyncLocalStorage<true>();
  private closed = false;
  private readonly connectionString: string;
  private readonly listeners = new Set<() => Promise<void>>();

  constructor(options: PostgresMetadataStoreOptions) {
    const { connectionString, schemaParam, where } = parseDatabaseUrl(options.url);
    this.where = where;
    this.connectionString = connectionString;
    const schema = options.schema ?? schemaParam ?? 'public';
    if (!SCHEMA_RE.test(schema)) {
      throw new BerthError('INVALID_CONFIG', `database.url: the schema must be a plain identifier (letters, digits, _; at most 63), got ${JSON.stringify(schema)}`, {
        field: 'database.url',
        got: schema,
      });
    }
    this.schema = schema;
    this.lockKey = hash32(schema);
    this.lockTimeoutMs = options.lockTimeoutMs ?? 5000;
    this.migrationLockTimeoutMs = options.migrationLockTimeoutMs ?? 120_000;
    const types = new pg.TypeOverrides();
    types.setTypeParser(INT8_OID, 'text', (v: string) => Number(v));
    this.pool = new pg.Pool({
      connectionString,
      types,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      application_name: 'berth',
    });
    // An idle connection that breaks (server restart, network) is dropped and replaced by the pool;
    // without a listener the 'error' event would end the process.
    this.pool.on('error', () => undefined);
    const setPath = CompiledQuery.raw(`set search_path to ${quoteIdent(schema)}`);
    this.db = new Kysely<RegistryDatabase>({
      dialect: new PostgresDialect({
        pool: this.pool,
        onCreateConnection: async (conn) => {
          await conn.executeQuery(setPath);
        },
      }),
    });
  }

  transaction<T>(fn: (trx: Kysely<RegistryDatabase>) => Promise<T>): Promise<T> {
    return this.locked(this.lockTimeoutMs, fn);
  }

  async migrate(): Promise<void> {
    await this.applyMigrations();
  }

  /**
   * Create the schema if missing and apply every pending migration, under the write lock (so
   * replicas starting together migrate once). Returns the versions applied (none: up to date).
   */
  async applyMigrations(): Promise<number[]> {
    const view: MetadataStore = {
      dialect: this.dialect,
      db: this.db,
      transaction: (fn) =>
        this.locked(this.migrationLockTimeoutMs, async (trx) => {
          const found = await sql<{ n: number }>`select count(*) as n from pg_namespace where nspname = ${this.schema}`.execute(trx);
          // looked up first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists
          if (Number(found.rows[0]?.n ?? 0) === 0) await sql`create schema ${sql.id(this.schema)}`.execute(trx);
          return fn(trx);
        }),
      migrate: async () => undefined,
      close: async () => undefined,
    };
    return migrateToLatest(view);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.listeners]) await stop();
    await this.db.destroy();
  }

  /**
   * Hear of every committed change to this schema, from any process (PostgreSQL LISTEN/NOTIFY on
   * a connection of its own, reconnected with back-off when it breaks; a reconnect also calls
   * `onChange`, since changes may have been missed). Callers keep polling as the fallback.
   */
  async subscribe(onChange: () => void): Promise<() => Promise<void>> {
    let client: pg.Client | null = null;
    let stopped = false;
    let retry: NodeJS.Timeout | null = null;
    let backoff = 250;
    const connect = async (): Promise<void> => {
      if (stopped) return;
      const c = new pg.Client({ connectionString: this.connectionString, application_name: 'berth-listen' });
      c.on('notification', (n) => {
        if (n.channel === CHANGE_CHANNEL && n.payload === this.schema) onChange();
      });
      c.on('error', () => {
        if (client === c) client = null;
        void c.end().catch(() => undefined);
        schedule();
      });
      try {
        await c.connect();
        await c.query(`listen ${CHANGE_CHANNEL}`);
        if (stopped) return void (await c.end().catch(() => undefined));
        client = c;
        backoff = 250;
        onChange();
      } catch {
        void c.end().catch(() => undefined);
        schedule();
      }
    };
    const schedule = (): void => {
      if (stopped || retry) return;
      retry = setTimeout(() => {
        retry = null;
        void connect();
      }, backoff);
      retry.unref();
      backoff = Math.min(backoff * 2, 10_000);
    };
    await connect();
    const stop = async (): Promise<void> => {
      stopped = true;
      this.listeners.delete(stop);
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    };
    this.listeners.add(stop);
    return stop;
  }

  private async locked<T>(lockTimeoutMs: number, fn: (trx: Kysely<RegistryDatabase>) => Promise<T>): Promise<T> {
    if (this.inTransaction.getStore()) {
      // the lock is held by the outer transaction's connection: the inner one would wait for it forever
      throw new BerthError('INTERNAL', 'nested metadata transaction: use the transaction handle passed to the callback');
    }
    try {
      return await this.db.transaction().execute(async (trx) => {
        await sql`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`.execute(trx);
        try {
          await sql`select pg_advisory_xact_lock(${LOCK_CLASS}::int4, ${this.lockKey}::int4)`.execute(trx);
        } catch (err) {
          if (pgCode(err) === '55P03') {
            throw new BerthError(
              'INTERNAL',
              `the registry database (${this.where}, schema ${this.schema}) stayed locked by another writer for ${lockTimeoutMs} ms; retry, ` +
                'or look for a stuck berth process (pg_locks shows who holds the advisory lock)',
              { field: 'database.url' },
              { cause: err },
            );
          }
          throw err;
        }
        const out = await this.inTransaction.run(true, () => fn(trx));
        // every replica listening hears of the change when (and only if) it commits
        await sql`select pg_notify(${CHANGE_CHANNEL}, ${this.schema})`.execute(trx);
        return out;
      });
    } catch (err) {
      throw describeConnectionError(err, this.where) ?? err;
    }
  }
}

/** The parts of a database URL: what the driver gets, the `schema` parameter, and a printable form. */
export function parseDatabaseUrl(url: string): { connectionString: string; schemaParam: string | undefined; where: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    // the value is not echoed: it may hold a password
    throw new BerthError('INVALID_CONFIG', 'database.url: expected postgres://user:password@host:5432/database (the value is not shown: it may hold a password), got something that is not a URL', {
      field: 'database.url',
    }, { cause: err });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new BerthError('INVALID_CONFIG', `database.url: expected a postgres:// or postgresql:// URL (the value is not shown: it may hold a password), got a ${u.protocol}// URL`, {
      field: 'database.url',
    });
  }
  const schemaParam = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  return { connectionString: u.toString(), schemaParam, where: redactDatabaseUrl(url) };
}

/**
 * A database URL safe to print: scheme, user, host, port and database; never the password or the
 * query (which may carry one too).
 *
 * @example
 * redactDatabaseUrl('postgres://berth:s3cret@db:5432/berth?sslmode=require') // 'postgres://berth@db:5432/berth'
 */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${u.username}@` : '';
    return `${u.protocol}//${user}${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(database.url, not shown)';
  }
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

/**
 * An error meaning the database cannot be reached or refuses us, as INVALID_CONFIG naming
 * `database.url` (printed without its password); null for any other error.
 */
export function describeConnectionError(err: unknown, where: string): BerthError | null {
  if (err instanceof BerthError) return null;
  const code = pgCode(err) ?? (err as { errors?: unknown[] } | null)?.errors?.map(pgCode).find((c) => c !== undefined);
  const message = err instanceof Error ? err.message : String(err);
  let problem: string | undefined;
  if (code !== undefined && NETWORK_CODES[code]) {
    problem = `cannot connect: ${NETWORK_CODES[code]} (${code}); check the host and port, and that PostgreSQL is running and accepts connections from here`;
  } else if (/timeout/i.test(message) && /connect/i.test(message)) {
    problem = 'cannot connect: no answer before the connect timeout; check the host and port, and any firewall between here and PostgreSQL';
  } else if (code === '28P01' || code === '28000') {
    problem = `PostgreSQL refused the login (${message}); check the user and password in the URL (or PGPASSWORD) and pg_hba.conf`;
  } else if (code === '3D000') {
    problem = `${message}; create it (createdb) or fix the database name in the URL`;
  } else if (code === '42501') {
    problem = `${message}; the user needs CREATE on the database (or the schema created for it) to migrate, and read/write on Berth's tables to run`;
  } else if (code === '57P03') {
    problem = `${message}; PostgreSQL is starting up or shutting down, retry shortly`;
  }
  if (problem === undefined) return null;
  return new BerthError('INVALID_CONFIG', `database.url (${where}): ${problem}`, { field: 'database.url' }, { cause: err });
}

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** FNV-1a over the schema name, as a signed 32-bit integer (the advisory lock's second key). */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

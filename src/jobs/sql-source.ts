/**
 * Batch inputs from SQL, through the drivers Berth already has (DuckDB's postgres extension would need
 * a download):
 *
 * - PostgreSQL through `pg`: one connection, a `REPEATABLE READ READ ONLY` transaction (one snapshot
 *   for the whole read, and a query cannot write), a `NO SCROLL` cursor declared over the query,
 *   `MOVE` over the rows of finished parts (the server skips them; nothing crosses the wire) and
 *   `FETCH` of one chunk at a time, the next one requested while the current one is scored;
 * - SQLite through better-sqlite3: the file opened read-only, the statement `iterate()`d in raw
 *   mode with safe integers.
 *
 * Resume skips the rows of finished parts by position, so a query must say its order: one without
 * a top-level ORDER BY is refused before anything runs.
 *
 * Numbers keep their precision: PostgreSQL NUMERIC comes as its exact decimal text (a text column:
 * features parse it into the model's float type, key columns copy it digit for digit), and 64-bit
 * integers (BIGINT, SQLite INTEGER) are JavaScript numbers while they are exact (|v| ≤ 2^53 − 1) and
 * bigints beyond.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { BerthError } from '../core/index.js';
import type {
  Cell, CellKind, ChunkOptions, ColumnChunk, PostgresInput, RowSource, SourceColumn, SqliteInput,
} from './source.js';

/** The SQL dialects a batch query is written in. */
export type SqlDialect = 'postgres' | 'sqlite';

const DEFAULT_CHUNK_ROWS = 8192;

// ---------------------------------------------------------------------------------------------
// The query: one statement that reads rows, in an order it states.

interface ScannedSql {
  /** the words outside parentheses, quotes and comments, upper-cased, in order */
  topWords: string[];
  /** the statement without trailing semicolons and blanks */
  statement: string;
  /** something follows a top-level semicolon */
  several: boolean;
  /** the statement begins with `(` */
  parenthesised: boolean;
}

/** Words at nesting depth 0, skipping quoted text, quoted names and comments. */
function scanSql(sql: string, dialect: SqlDialect): ScannedSql {
  const words: string[] = [];
  let depth = 0;
  let i = 0;
  let end = sql.length;
  let several = false;
  let firstSignificant: string | undefined;
  const n = sql.length;
  const skipQuoted = (close: string, doubled: boolean, backslash: boolean): void => {
    i++;
    while (i < n) {
      const c = sql[i]!;
      if (backslash && c === '\\') {
        i += 2;
        continue;
      }
      if (c === close) {
        if (doubled && sql[i + 1] === close) {
          i += 2;
          continue;
        }
        i++;
        return;
      }
      i++;
    }
  };
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    if (c === '/' && next === '*') {
      // PostgreSQL nests block comments; SQLite does not, and a nested opener there is plain text
      let level = 0;
      while (i < n) {
        if (sql[i] === '/' && sql[i + 1] === '*' && (dialect === 'postgres' || level === 0)) {
          level++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          level--;
          i += 2;
          if (level === 0) break;
        } else {
          i++;
        }
      }
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === ';' && depth <= 0) {
      end = Math.min(end, i);
      // anything but blanks, semicolons and comments after it is a second statement
      const rest = sql.slice(i + 1).replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
      several = /[^\s;]/.test(rest);
      break;
    }
    firstSignificant ??= c;
    if (c === "'") {
      const escaped = dialect === 'postgres' && i > 0 && /[eE]/.test(sql[i - 1]!) && (i < 2 || !/[\w$]/.test(sql[i - 2]!));
      skipQuoted("'", true, escaped);
      continue;
    }
    if (c === '"') {
      skipQuoted('"', true, false);
      continue;
    }
    if (dialect === 'sqlite' && c === '`') {
      skipQuoted('`', true, false);
      continue;
    }
    if (dialect === 'sqlite' && c === '[') {
      skipQuoted(']', false, false);
      continue;
    }
    if (dialect === 'postgres' && c === '$') {
      const tag = /^\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i));
      if (tag !== null && (i === 0 || !/[\w$]/.test(sql[i - 1]!))) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? n : close + tag[0].length;
        continue;
      }
    }
    if (c === '(') {
      depth++;
      i++;
      continue;
    }
    if (c === ')') {
      depth--;
      i++;
      continue;
    }
    if (/[A-Za-z0-9_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      if (depth === 0) words.push(sql.slice(i, j).toUpperCase());
      i = j;
      continue;
    }
    i++;
  }
  return { topWords: words, statement: sql.slice(0, end).trim(), several, parenthesised: firstSignificant === '(' };
}

/**
 * Check a batch query and return it as one statement (trailing semicolons dropped): it must read
 * rows (SELECT, WITH, VALUES or TABLE) and end in a top-level ORDER BY, because resume skips the rows
 * of finished parts by position, which needs the same order on every run.
 *
 * @throws BerthError INVALID_ARGUMENT naming what is missing and what to write
 * @example
 * checkBatchQuery('SELECT * FROM loans ORDER BY id;', 'postgres') // 'SELECT * FROM loans ORDER BY id'
 */
export function checkBatchQuery(query: string, dialect: SqlDialect): string {
  const scanned = scanSql(query, dialect);
  const refuse = (problem: string): BerthError =>
    new BerthError('INVALID_ARGUMENT', `--query: ${problem}`, { field: 'query', got: query.length > 200 ? `${query.slice(0, 200)}…` : query });
  if (scanned.statement === '') throw refuse('expected a SELECT … ORDER BY …, got an empty query');
  if (scanned.several) throw refuse('expected one statement, got several (separated by ";"); give the one SELECT whose rows are scored');
  const first = scanned.topWords[0];
  if (!scanned.parenthesised && !['SELECT', 'WITH', 'VALUES', 'TABLE'].includes(first ?? '')) {
    throw refuse(`expected a query that returns rows (SELECT, WITH, VALUES or TABLE), got one that begins with ${first ?? JSON.stringify(scanned.statement.slice(0, 20))}; batch inputs only read`);
  }
  const words = scanned.topWords;
  const ordered = words.some((w, k) => w === 'ORDER' && words[k + 1] === 'BY');
  if (!ordered) {
    throw refuse('the query has no ORDER BY of its own (one inside parentheses does not count); a job resumes by skipping the rows of its finished parts, which is only exact when every run returns the rows in the same order, so add ORDER BY a unique key at the end, e.g. "… ORDER BY id"');
  }
  return scanned.statement;
}

/** Columns are matched to features by name, so two with one name would make the match ambiguous. */
function refuseDuplicateColumns(names: readonly string[], display: string): void {
  const seen = new Set<string>();
  const twice = names.find((n) => (seen.has(n) ? true : (seen.add(n), false)));
  if (twice !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `--query: returns two columns named ${JSON.stringify(twice)} (on ${display}); columns are matched to the model's features by name, so give each its own (… AS other_name)`, {
      field: 'query', got: [...names],
    });
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

const CURSOR = 'berth_batch_rows';
const DECLARE = `DECLARE ${CURSOR} NO SCROLL CURSOR FOR `;

/** Type OIDs of the types that become numbers or booleans; every other type arrives as the server's text. */
const PG_OID = { bool: 16, int8: 20, int2: 21, int4: 23, oid: 26, float4: 700, float8: 701 } as const;

type PgConvert = (v: string) => Cell;

const keepText: PgConvert = (v) => v;
const toInt: PgConvert = (v) => Number(v);
const toInt8: PgConvert = (v) => {
  const x = Number(v);
  return Number.isSafeInteger(x) ? x : BigInt(v);
};
// float4/float8 text is the shortest exact form (and NaN, Infinity, -Infinity), which Number reads
const toFloat: PgConvert = (v) => Number(v);
const toBool: PgConvert = (v) => v === 't';

function pgColumn(oid: number): { kind: CellKind; convert: PgConvert } {
  switch (oid) {
    case PG_OID.bool:
      return { kind: 'boolean', convert: toBool };
    case PG_OID.int2:
    case PG_OID.int4:
    case PG_OID.oid:
      return { kind: 'integer', convert: toInt };
    case PG_OID.int8:
      return { kind: 'integer', convert: toInt8 };
    case PG_OID.float4:
    case PG_OID.float8:
      return { kind: 'float', convert: toFloat };
    default:
      // NUMERIC (exact decimal text), text types, dates, uuids, json…: the server's own text
      return { kind: 'text', convert: keepText };
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

function pgCode(err: unknown): string | undefined {
  const own = (err as { code?: unknown } | null)?.code;
  if (typeof own === 'string') return own;
  const inner = (err as { errors?: unknown[] } | null)?.errors;
  return inner?.map(pgCode).find((c) => c !== undefined);
}

function pgMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\.$/, '');
}

/** The connection is gone or cannot be made: retrying later may work. */
function connectionLost(err: unknown): boolean {
  const code = pgCode(err);
  if (code !== undefined && (NETWORK_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '25P03'].includes(code))) return true;
  return /connection terminated|connection.*(closed|ended)|not queryable|timeout/i.test(pgMessage(err));
}

/** The query text near a 1-based character position PostgreSQL reported. */
function near(query: string, position: number): string {
  const at = Math.max(0, position - 1);
  const snippet = query.slice(at, at + 30).replace(/\s+/g, ' ');
  return snippet === '' ? '' : ` near "${snippet}${query.length > at + 30 ? '…' : ''}"`;
}

/**
 * Rows of a query against PostgreSQL, read through a server-side cursor in a read-only transaction
 * that lasts until {@link PostgresSource.close}.
 *
 * @example
 * const src = await PostgresSource.open({ kind: 'postgres', url, display, query: 'SELECT * FROM loans ORDER BY id' });
 */
export class PostgresSource implements RowSource {
  readonly format = 'postgres' as const;
  /** the cursor was read from, so another read declares it again */
  private used = false;

  private constructor(
    private readonly client: pg.Client,
    private readonly input: PostgresInput,
    private readonly statement: string,
    readonly columns: readonly SourceColumn[],
    private readonly converters: readonly PgConvert[],
  ) {}

  /**
   * Connect, begin the transaction, declare the cursor and read the columns (without running the
   * query: a zero-row FETCH only describes it).
   *
   * @throws BerthError INVALID_ARGUMENT for a query PostgreSQL refuses or a login it refuses (its
   *   words, and what to check); UNAVAILABLE when the server cannot be reached
   */
  static async open(input: PostgresInput): Promise<PostgresSource> {
    const statement = checkBatchQuery(input.query, 'postgres');
    const client = new pg.Client({
      connectionString: input.url,
      application_name: 'berth batch',
      connectionTimeoutMillis: 15_000,
      // every value arrives as the server's text; each column converts its own (pgColumn)
      types: { getTypeParser: () => keepText },
    });
    // an idle connection that drops emits 'error'; the next query reports it, so it must not crash us
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw connectError(input, err);
    }
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query(DECLARE + statement);
      const described = await client.query(`FETCH FORWARD 0 FROM ${CURSOR}`);
      const shapes = described.fields.map((f) => ({ name: f.name, ...pgColumn(f.dataTypeID) }));
      refuseDuplicateColumns(shapes.map((c) => c.name), input.display);
      return new PostgresSource(client, input, statement, shapes.map(({ name, kind }) => ({ name, kind })), shapes.map((s) => s.convert));
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err instanceof BerthError ? err : queryError(input, statement, err);
    }
  }

  /** Counting would run the query a second time, so the total is left unknown. */
  async countRows(): Promise<number | undefined> {
    return undefined;
  }

  async *chunks(opts: ChunkOptions = {}): AsyncGenerator<ColumnChunk> {
    const skip = opts.skipRows ?? 0;
    const chunkRows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
    if (!Number.isSafeInteger(skip) || skip < 0 || !Number.isSafeInteger(chunkRows) || chunkRows < 1) {
      throw new BerthError('INTERNAL', `chunks: skipRows ${skip} and chunkRows ${chunkRows} must be whole numbers (chunkRows ≥ 1)`);
    }
    let at = skip;
    const run = async (text: string): Promise<void> => {
      try {
        await this.client.query(text);
      } catch (err) {
        throw readError(this.input, at, err);
      }
    };
    if (this.used) {
      // the same snapshot (the transaction is still open), so the same rows in the same order
      await run(`CLOSE ${CURSOR}`);
      await run(DECLARE + this.statement);
    }
    this.used = true;
    // the server steps over the rows of finished parts; none of them is sent
    if (skip > 0) await run(`MOVE FORWARD ${skip} IN ${CURSOR}`);
    const width = this.columns.length;
    const fetchNext = async (): Promise<(string | null)[][]> => {
      try {
        const result = await this.client.query<(string | null)[]>({ text: `FETCH FORWARD ${chunkRows} FROM ${CURSOR}`, rowMode: 'array' });
        return result.rows;
      } catch (err) {
        throw readError(this.input, at, err);
      }
    };
    let pending: Promise<(string | null)[][]> | undefined = fetchNext();
    // a fetch still in flight when the caller stops early is awaited in `finally`, never left unhandled
    pending.catch(() => undefined);
    try {
      while (pending !== undefined) {
        const rows: (string | null)[][] = await pending;
        // fewer rows than asked for: the cursor is at its end
        pending = rows.length < chunkRows ? undefined : fetchNext();
        pending?.catch(() => undefined);
        if (rows.length === 0) break;
        const columns: Cell[][] = [];
        for (let c = 0; c < width; c++) {
          const convert = this.converters[c]!;
          const out = new Array<Cell>(rows.length);
          for (let r = 0; r < rows.length; r++) {
            const v = rows[r]![c]!;
            out[r] = v === null ? null : convert(v);
          }
          columns.push(out);
        }
        const chunk: ColumnChunk = { start: at, rows: rows.length, columns };
        at += rows.length;
        yield chunk;
      }
    } finally {
      if (pending !== undefined) await pending.catch(() => undefined);
    }
  }

  /** End the transaction (it only read) and the connection. */
  async close(): Promise<void> {
    await this.client.query('ROLLBACK').catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}

function connectError(input: PostgresInput, err: unknown): BerthError {
  const code = pgCode(err);
  const message = pgMessage(err);
  const where = input.display;
  const context = { field: 'input', got: where, ...(code !== undefined ? { driverCode: code } : {}) };
  if (code === '28P01' || code === '28000') {
    return new BerthError('INVALID_ARGUMENT', `--input ${where}: PostgreSQL refused the login (${message}); check the user and the password (in the URL, PGPASSWORD or ~/.pgpass) and pg_hba.conf`, context, { cause: err });
  }
  if (code === '3D000') {
    return new BerthError('INVALID_ARGUMENT', `--input ${where}: ${message}; check the database name at the end of the URL`, context, { cause: err });
  }
  if (connectionLost(err)) {
    return new BerthError('UNAVAILABLE', `--input ${where}: cannot connect to PostgreSQL (${code !== undefined ? `${code}: ` : ''}${message}); check the host and port, and that PostgreSQL is running and accepts connections from here, then run the same command again`, context, { cause: err });
  }
  return new BerthError('INVALID_ARGUMENT', `--input ${where}: cannot connect to PostgreSQL (${message}); check the URL (postgres://user@host:5432/database?sslmode=…)`, context, { cause: err });
}

/** An error while declaring the cursor: mostly the query's own problems. */
function queryError(input: PostgresInput, statement: string, err: unknown): BerthError {
  const code = pgCode(err);
  const message = pgMessage(err);
  const context = { field: 'query', got: input.display, ...(code !== undefined ? { driverCode: code } : {}) };
  if (connectionLost(err)) {
    return new BerthError('UNAVAILABLE', `--input ${input.display}: the connection to PostgreSQL was lost before the query ran (${message}); check the server, then run the same command again`, context, { cause: err });
  }
  const rawPosition = Number((err as { position?: unknown } | null)?.position);
  const position = Number.isFinite(rawPosition) ? rawPosition - DECLARE.length : NaN;
  const at = position > 0 ? near(statement, position) : '';
  const hint = {
    '42P01': 'check the table name, and its schema (write schema.table, or set search_path with ?options=-c%20search_path%3Dmy_schema in the URL)',
    '42703': 'check the column names (the query\'s columns are matched to the model\'s features by name)',
    '42601': 'check the SQL syntax',
    '42501': 'the user in the URL needs SELECT on the tables the query reads',
    '25006': 'a batch query only reads: it runs in a read-only transaction',
    '42P18': 'cast the value to a type (e.g. $$text$$::text or 1.5::float8)',
  }[code ?? ''] ?? 'check the query';
  return new BerthError('INVALID_ARGUMENT', `--query: PostgreSQL refused it: ${message}${at}; ${hint} (on ${input.display})`, context, { cause: err });
}

/** An error while reading rows: the connection went, or a row broke the query (a division by zero…). */
function readError(input: PostgresInput, row: number, err: unknown): BerthError {
  const code = pgCode(err);
  const message = pgMessage(err);
  const context = { field: 'query', got: input.display, row, ...(code !== undefined ? { driverCode: code } : {}) };
  if (connectionLost(err)) {
    return new BerthError('UNAVAILABLE', `--input ${input.display}: the connection to PostgreSQL was lost after ${row} rows (${message}); check the server (and idle_in_transaction_session_timeout, which ends a job's transaction while it scores), then run the same command again: finished parts are kept`, context, { cause: err });
  }
  return new BerthError('INVALID_INPUT', `--query: PostgreSQL failed while returning rows after row ${row}: ${message}; fix the query (or the rows it trips on) and run the job again`, context, { cause: err });
}

// ---------------------------------------------------------------------------------------------
// SQLite.

type SqliteValue = null | number | bigint | string | Buffer;

/**
 * A column's kind from its declared type, by SQLite's affinity rules (datatype3.html §3.1), with
 * BOOLEAN as its own; undefined where the values decide (no declared type, NUMERIC affinity).
 */
function sqliteDeclaredKind(declared: string | null): CellKind | 'numeric' | undefined {
  if (declared === null || declared.trim() === '') return undefined;
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'text';
  if (t.includes('BLOB')) return 'text';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'float';
  if (t.includes('BOOL')) return 'boolean';
  return 'numeric';
}

/**
 * The kind of a column whose values decide it, from the first row's value (with safe integers on,
 * SQLite INTEGER values are bigints and REAL values numbers). A NUMERIC-affinity column (DECIMAL,
 * NUMERIC…) stores integers and reals side by side, so any number there makes it a float column.
 */
function kindOfValue(v: SqliteValue | undefined, numericAffinity: boolean): CellKind {
  if (typeof v === 'bigint') return numericAffinity ? 'float' : 'integer';
  if (typeof v === 'number') return 'float';
  return 'text';
}

const exact = (v: bigint): number | bigint => (v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v);

function sqliteCell(v: SqliteValue, kind: CellKind): Cell {
  if (v === null) return null;
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (kind === 'text') return typeof v === 'string' ? v : String(v);
  if (kind === 'boolean' && (v === 0n || v === 1n || v === 0 || v === 1)) return Number(v) === 1;
  if (typeof v === 'bigint') return exact(v);
  return v;
}

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function sqliteError(input: SqliteInput, stage: 'open' | 'query' | 'read', err: unknown, row?: number): BerthError {
  const code = sqliteCode(err);
  const message = pgMessage(err);
  const context = { field: stage === 'open' ? 'input' : 'query', got: input.display, ...(code !== undefined ? { driverCode: code } : {}) };
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new BerthError('UNAVAILABLE', `--input ${input.display}: the database is locked (${message}); another process is writing to it, so run the same command again when it is done`, context, { cause: err });
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_IOERR') === true) {
    return new BerthError('INVALID_ARGUMENT', `--input ${input.display}: cannot open it as an SQLite database (${message}); check the path (sqlite:path/to/file.db) and that it is an SQLite file this user can read`, context, { cause: err });
  }
  if (stage === 'read') {
    return new BerthError('INVALID_INPUT', `--query: SQLite failed while returning rows after row ${row ?? 0}: ${message}; fix the query and run the job again`, context, { cause: err });
  }
  const hint = /no such table/.test(message)
    ? 'check the table name (sqlite3 FILE .tables lists them)'
    : /no such column/.test(message)
      ? 'check the column names (the query\'s columns are matched to the model\'s features by name)'
      : /syntax error/.test(message)
        ? 'check the SQL syntax'
        : 'check the query';
  return new BerthError('INVALID_ARGUMENT', `--query: SQLite refused it: ${message}; ${hint} (on ${input.display})`, context, { cause: err });
}

/**
 * Rows of a query against an SQLite file, opened read-only. Reading holds a read transaction until
 * {@link SqliteSource.close}, so the rows come from one snapshot.
 *
 * @example
 * const src = SqliteSource.open({ kind: 'sqlite', path: '/data/loans.db', display: 'sqlite:/data/loans.db', query: 'SELECT * FROM loans ORDER BY id' });
 */
export class SqliteSource implements RowSource {
  readonly format = 'sqlite' as const;
  private iterator: IterableIterator<SqliteValue[]> | undefined;
  /** the first row, read at open to type the columns whose values decide their kind */
  private peeked: IteratorResult<SqliteValue[]> | undefined;

  private constructor(
    private readonly db: Database.Database,
    private readonly statement: Database.Statement,
    private readonly input: SqliteInput,
    readonly columns: readonly SourceColumn[],
    iterator: IterableIterator<SqliteValue[]>,
    peeked: IteratorResult<SqliteValue[]>,
  ) {
    this.iterator = iterator;
    this.peeked = peeked;
  }

  /**
   * Open the file read-only, prepare the query and type its columns: by declared type where SQLite
   * has one that fixes the values' kind, else by the first row's value.
   *
   * @throws BerthError INVALID_ARGUMENT for a file that is not a readable SQLite database or a query
   *   SQLite refuses; UNAVAILABLE while a writer holds the database locked
   */
  static open(input: SqliteInput): SqliteSource {
    const statement = checkBatchQuery(input.query, 'sqlite');
    let db: Database.Database;
    try {
      db = new Database(input.path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw sqliteError(input, 'open', err);
    }
    try {
      let stmt: Database.Statement;
      try {
        stmt = db.prepare(statement);
      } catch (err) {
        throw sqliteError(input, 'query', err);
      }
      if (!stmt.reader) {
        throw new BerthError('INVALID_ARGUMENT', `--query: expected a query that returns rows; batch inputs only read (on ${input.display})`, { field: 'query' });
      }
      stmt.raw(true).safeIntegers(true);
      const declared = stmt.columns();
      refuseDuplicateColumns(declared.map((d) => d.name), input.display);
      let iterator: IterableIterator<SqliteValue[]>;
      let first: IteratorResult<SqliteValue[]>;
      try {
        iterator = stmt.iterate() as IterableIterator<SqliteValue[]>;
        first = iterator.next();
      } catch (err) {
        throw sqliteError(input, 'read', err, 0);
      }
      const columns = declared.map((d, c): SourceColumn => {
        const k = sqliteDeclaredKind(d.type);
        const kind = k === undefined || k === 'numeric' ? kindOfValue(first.done === true ? undefined : first.value[c], k === 'numeric') : k;
        return { name: d.name, kind };
      });
      return new SqliteSource(db, stmt, input, columns, iterator, first);
    } catch (err) {
      try {
        db.close();
      } catch {
        // a statement still iterating keeps it busy; the process ends it
      }
      throw err;
    }
  }

  /** Counting would run the query a second time, so the total is left unknown. */
  async countRows(): Promise<number | undefined> {
    return undefined;
  }

  async *chunks(opts: ChunkOptions = {}): AsyncGenerator<ColumnChunk> {
    const skip = opts.skipRows ?? 0;
    const chunkRows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
    let iterator = this.iterator;
    let first = this.peeked;
    this.iterator = undefined;
    this.peeked = undefined;
    if (iterator === undefined) {
      iterator = this.statement.iterate() as IterableIterator<SqliteValue[]>;
      first = undefined;
    }
    let at = 0;
    const next = (): IteratorResult<SqliteValue[]> => {
      if (first !== undefined) {
        const r = first;
        first = undefined;
        return r;
      }
      try {
        return iterator.next();
      } catch (err) {
        throw sqliteError(this.input, 'read', err, at);
      }
    };
    const width = this.columns.length;
    const kinds = this.columns.map((c) => c.kind);
    try {
      // SQLite has no cursor to move: the rows of finished parts are stepped over here, never converted
      for (; at < skip; at++) if (next().done === true) return;
      for (;;) {
        const columns: Cell[][] = Array.from({ length: width }, () => []);
        let rows = 0;
        let ended = false;
        while (rows < chunkRows) {
          const r = next();
          if (r.done === true) {
            ended = true;
            break;
          }
          for (let c = 0; c < width; c++) columns[c]!.push(sqliteCell(r.value[c]!, kinds[c]!));
          rows++;
        }
        if (rows > 0) {
          const chunk: ColumnChunk = { start: at, rows, columns };
          at += rows;
          yield chunk;
        }
        if (ended) return;
      }
    } finally {
      iterator.return?.();
    }
  }

  close(): void {
    this.iterator?.return?.();
    this.iterator = undefined;
    if (this.db.open) this.db.close();
  }
}

/**
 * Batch outputs into a database table (PostgreSQL or SQLite), exactly once.
 *
 * The job writes its parts as JSONL files in the work dir, as for a file output; they are the
 * checkpoints. The last step loads every part into the table in one transaction, together with a
 * marker row in `berth_batch_outputs` (job id, table, counts). A job whose marker is there is
 * delivered, and its load is skipped: a crash at any moment, between the commit and the removal
 * of the work dir included, neither duplicates nor loses a row, and readers never see a table
 * half loaded.
 *
 * @example
 * const target = parseTableOutput('postgres://berth@db:5432/shop?table=ml.scores');
 * target.redacted // 'postgres://berth@db:5432/shop?table=ml.scores' (never a password)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { BerthError } from '../core/index.js';
import { isTableOutput, partFiles, type OutputColumn, type PartMeta } from './sink.js';
import type { Cell, CellKind } from './source.js';

export { isTableOutput };

/** What a job does when its output table exists already. */
export const IF_EXISTS = ['fail', 'append', 'replace'] as const;
export type IfExists = (typeof IF_EXISTS)[number];

/** The column each output table starts with: the 1-based input row number (header excluded). */
export const ROW_COLUMN = '_row';

/** The bookkeeping table, beside the output table: one row per delivered job. */
export const OUTPUTS_TABLE = 'berth_batch_outputs';

/** The databases a job can write to. */
export const TABLE_DIALECTS = ['postgres', 'sqlite'] as const;
export type TableDialectName = (typeof TABLE_DIALECTS)[number];

/** What a delivered job's marker row says. */
export interface TableDelivery {
  rowsIn: number;
  rowsOut: number;
  rejected: number;
  parts: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** PostgreSQL cuts identifiers longer than this (in bytes), silently */
const PG_MAX_IDENT = 63;

/**
 * A parsed table output. The connection string (which may hold a password) is private: `redacted`
 * is what job ids, job.json, messages and summaries carry, and `toJSON` prints only that.
 */
export class TableTarget {
  readonly #connect: string;

  private constructor(
    readonly dialect: TableDialectName,
    connect: string,
    /** the printable, canonical form: `postgres://user@host:5432/db?table=schema.name` or `sqlite:/abs/file.db?table=name` */
    readonly redacted: string,
    /** the schema as written (PostgreSQL), or undefined for the connection's current schema */
    readonly schema: string | undefined,
    readonly table: string,
  ) {
    this.#connect = connect;
  }

  /** The table as written: `schema.name` or `name`. */
  get tableName(): string {
    return this.schema === undefined ? this.table : `${this.schema}.${this.table}`;
  }

  /** Where rejected rows go (`--on-error skip`): the table `<name>_rejected` beside the output. */
  get rejectedTableName(): string {
    return `${this.tableName}_rejected`;
  }

  /** @internal the driver's connection string or file; never print it */
  connection(): string {
    return this.#connect;
  }

  toJSON(): string {
    return this.redacted;
  }

  toString(): string {
    return this.redacted;
  }

  /** @internal use {@link parseTableOutput} */
  static create(dialect: TableDialectName, connect: string, redacted: string, schema: string | undefined, table: string): TableTarget {
    return new TableTarget(dialect, connect, redacted, schema, table);
  }
}

const urlForm = 'postgres://user@host:5432/db?table=schema.name or sqlite:path/to/file.db?table=name';

/**
 * Parse `--output` for a table: `postgres://user[:password]@host[:port]/db?table=[schema.]name`
 * (or `postgresql://`), or `sqlite:path/to/file.db?table=name` (a relative path is from the
 * current directory; `sqlite:///abs/file.db` works too). Other query parameters of a PostgreSQL
 * URL (`sslmode`…) go to the driver.
 *
 * @throws BerthError INVALID_ARGUMENT naming what is wrong, never echoing a password.
 */
export function parseTableOutput(output: string): TableTarget {
  if (/^sqlite:/i.test(output)) return parseSqliteOutput(output);
  if (/^postgres(ql)?:\/\//i.test(output)) return parsePostgresOutput(output);
  throw new BerthError('INVALID_ARGUMENT', `--output: expected a table URL (${urlForm}), got a value that is neither`, {
    field: 'output', expected: urlForm,
  });
}

function tableParam(raw: string | null, shown: string, dialect: TableDialectName): { schema: string | undefined; table: string } {
  if (raw === null || raw === '') {
    throw new BerthError('INVALID_ARGUMENT', `--output ${shown}: expected a table name in ?table=${dialect === 'postgres' ? '[schema.]name' : 'name'}, got none; add it, e.g. ${dialect === 'postgres' ? '?table=public.scores' : '?table=scores'}`, {
      field: 'output', expected: 'table=', got: null,
    });
  }
  const parts = raw.split('.');
  const bad = parts.length > (dialect === 'postgres' ? 2 : 1) || parts.some((p) => !IDENT.test(p)) ||
    (dialect === 'postgres' && parts.some((p) => Buffer.byteLength(p) > PG_MAX_IDENT - '_rejected'.length));
  if (bad) {
    const want = dialect === 'postgres'
      ? `name or schema.name, each a letter or _ then letters, digits or _ (at most ${PG_MAX_IDENT - '_rejected'.length} characters)`
      : 'a name: a letter or _ then letters, digits or _';
    throw new BerthError('INVALID_ARGUMENT', `--output ${shown}: table: expected ${want}, got ${JSON.stringify(raw)}`, {
      field: 'output', expected: want, got: raw,
    });
  }
  return parts.length === 2 ? { schema: parts[0]!, table: parts[1]! } : { schema: undefined, table: parts[0]! };
}

function parsePostgresOutput(output: string): TableTarget {
  let u: URL;
  try {
    u = new URL(output);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `--output: expected ${urlForm} (the value is not shown: it may hold a password), got something that is not a URL`, {
      field: 'output', expected: urlForm,
    }, { cause: err });
  }
  const params = new URLSearchParams(u.search);
  const rawTable = params.get('table');
  params.delete('table');
  params.delete('password');
  const kept = params.toString();
  const user = u.username !== '' ? `${u.username}@` : '';
  const db = u.pathname === '/' ? '' : u.pathname;
  const base = `postgres://${user}${u.host}${db}`;
  const { schema, table } = tableParam(rawTable, `${base}${kept !== '' ? `?${kept}` : ''}`, 'postgres');
  const redacted = `${base}?${kept !== '' ? `${kept}&` : ''}table=${schema !== undefined ? `${schema}.` : ''}${table}`;
  if (u.host === '' || db === '') {
    throw new BerthError('INVALID_ARGUMENT', `--output ${redacted}: expected a host and a database (postgres://user@host:5432/db?table=…), got ${u.host === '' ? 'no host' : 'no database'}`, {
      field: 'output', expected: urlForm, got: redacted,
    });
  }
  const connect = new URL(output);
  connect.searchParams.delete('table');
  return TableTarget.create('postgres', connect.toString(), redacted, schema, table);
}

function parseSqliteOutput(output: string): TableTarget {
  let rest = output.replace(/^sqlite:/i, '');
  if (rest.startsWith('//')) rest = rest.slice(2);
  const q = rest.indexOf('?');
  const file = q < 0 ? rest : rest.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
  if (file === '') {
    throw new BerthError('INVALID_ARGUMENT', `--output ${output}: expected a database file after sqlite: (sqlite:path/to/file.db?table=name), got none`, {
      field: 'output', expected: 'sqlite:path/to/file.db?table=name', got: output,
    });
  }
  const abs = path.resolve(file);
  const { table } = tableParam(params.get('table'), `sqlite:${abs}`, 'sqlite');
  const others = [...params.keys()].filter((k) => k !== 'table');
  if (others.length > 0) {
    throw new BerthError('INVALID_ARGUMENT', `--output sqlite:${abs}: expected only ?table=name, got the parameter${others.length > 1 ? 's' : ''} ${others.map((k) => JSON.stringify(k)).join(', ')}; remove ${others.length > 1 ? 'them' : 'it'}`, {
      field: 'output', expected: ['table'], got: others,
    });
  }
  return TableTarget.create('sqlite', abs, `sqlite:${abs}?table=${table}`, undefined, table);
}

/** `--if-exists`, checked: undefined means `fail`. */
export function ifExistsOf(v: string | undefined): IfExists {
  if (v === undefined) return 'fail';
  if ((IF_EXISTS as readonly string[]).includes(v)) return v as IfExists;
  throw new BerthError('INVALID_ARGUMENT', `--if-exists: expected one of ${IF_EXISTS.join(', ')}, got ${JSON.stringify(v)}`, {
    field: 'if-exists', expected: [...IF_EXISTS], got: v,
  });
}

// ---------------------------------------------------------------------------------------------
// Column plans.

/** A column of the output table: name, the job's kind, the SQL type it is created with. */
interface TableColumn {
  name: string;
  kind: CellKind;
  sqlType: string;
}

const PG_TYPES: Record<CellKind, string> = { integer: 'bigint', float: 'double precision', boolean: 'boolean', text: 'text' };
const SQLITE_TYPES: Record<CellKind, string> = { integer: 'INTEGER', float: 'REAL', boolean: 'INTEGER', text: 'TEXT' };
/** The types an existing PostgreSQL column may have for a kind (append). */
const PG_ACCEPTS: Record<CellKind, readonly string[]> = {
  integer: ['bigint', 'integer', 'smallint', 'numeric'],
  float: ['double precision', 'real', 'numeric'],
  boolean: ['boolean'],
  text: ['text', 'character varying', 'character'],
};

function tableColumns(dialect: TableDialectName, columns: readonly OutputColumn[], target: TableTarget): TableColumn[] {
  const clash = columns.find((c) => c.name === ROW_COLUMN);
  if (clash !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `--key: a table output starts with the column "${ROW_COLUMN}" (the input row number), and the job has a column of that name too; pick other key columns with --key, or rename the input column`, {
      field: 'key', got: ROW_COLUMN,
    });
  }
  if (dialect === 'postgres') {
    const long = columns.find((c) => Buffer.byteLength(c.name) > PG_MAX_IDENT);
    if (long !== undefined) {
      throw new BerthError('INVALID_ARGUMENT', `output ${target.redacted}: column ${JSON.stringify(long.name)} is ${Buffer.byteLength(long.name)} bytes long; PostgreSQL keeps at most ${PG_MAX_IDENT}; rename it in the input, or leave it out of --key`, {
        field: 'key', expected: `≤ ${PG_MAX_IDENT} bytes`, got: long.name,
      });
    }
  }
  const types = dialect === 'postgres' ? PG_TYPES : SQLITE_TYPES;
  return [{ name: ROW_COLUMN, kind: 'integer', sqlType: types.integer }, ...columns.map((c) => ({ name: c.name, kind: c.kind, sqlType: types[c.kind] }))];
}

/** The columns of the rejected-rows table (`--on-error skip`). */
function rejectedColumns(dialect: TableDialectName): TableColumn[] {
  const t = dialect === 'postgres' ? PG_TYPES : SQLITE_TYPES;
  return [
    { name: 'job_id', kind: 'text', sqlType: t.text },
    { name: ROW_COLUMN, kind: 'integer', sqlType: t.integer },
    { name: 'column', kind: 'text', sqlType: t.text },
    { name: 'reason', kind: 'text', sqlType: t.text },
    { name: 'key', kind: 'text', sqlType: dialect === 'postgres' ? 'jsonb' : 'TEXT' },
  ];
}

/** A column of a table that exists. */
interface ExistingColumn {
  name: string;
  type: string;
  /** NOT NULL without a default: a column the job does not write must not be one */
  required: boolean;
}

function sqliteAffinity(type: string): string {
  const t = type.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return t === '' || t.includes('BLOB') ? 'BLOB' : 'NUMERIC';
}

function typeFits(dialect: TableDialectName, want: TableColumn, have: string): boolean {
  if (dialect === 'sqlite') return sqliteAffinity(have) === sqliteAffinity(want.sqlType);
  const base = have.replace(/\(.*\)$/, '').trim();
  if (want.sqlType === 'jsonb') return base === 'jsonb' || base === 'json' || base === 'text';
  return PG_ACCEPTS[want.kind].includes(base);
}

/** Problems appending the job's columns to a table that has `existing` (empty when it fits). */
function appendMismatches(dialect: TableDialectName, want: readonly TableColumn[], existing: readonly ExistingColumn[]): string[] {
  const byName = new Map(existing.map((c) => [c.name, c] as const));
  const problems: string[] = [];
  for (const w of want) {
    const e = byName.get(w.name);
    if (e === undefined) problems.push(`it has no column "${w.name}" (the job writes ${w.sqlType})`);
    else if (!typeFits(dialect, w, e.type)) problems.push(`column "${w.name}" is ${e.type}, the job writes ${w.sqlType}`);
  }
  const written = new Set(want.map((w) => w.name));
  for (const e of existing) {
    if (!written.has(e.name) && e.required) problems.push(`column "${e.name}" is NOT NULL without a default, and the job does not write it`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Reading parts back.

/** The rows of one part: output rows with their input row numbers, and the rejected rows. */
interface PartRows {
  rows: Cell[][];
  rowNumbers: number[];
  rejected: { row: number; column: string; reason: string; key: string }[];
}

/** End of the JSON string starting at `s[i]` (a quote): the index after its closing quote. */
function stringEnd(s: string, i: number): number {
  let j = i + 1;
  while (j < s.length && s.charCodeAt(j) !== 34) j += s.charCodeAt(j) === 92 ? 2 : 1;
  return j + 1;
}

/**
 * One line of a JSONL part (`{"name":value,…}`, the columns in order, as sink.ts writes it) as
 * cells. Integers beyond 2^53 come back exact (as bigint), which JSON.parse would round.
 */
export function decodePartLine(line: string, kinds: readonly CellKind[]): Cell[] {
  const out = new Array<Cell>(kinds.length);
  let i = 1;
  for (let c = 0; c < kinds.length; c++) {
    i = stringEnd(line, i) + 1; // the key and its colon
    if (line.charCodeAt(i) === 34) {
      const end = stringEnd(line, i);
      out[c] = JSON.parse(line.slice(i, end)) as string;
      i = end;
    } else {
      let end = i;
      while (end < line.length && line.charCodeAt(end) !== 44 && line.charCodeAt(end) !== 125) end++;
      out[c] = scalarCell(line.slice(i, end), kinds[c]!);
      i = end;
    }
    i++; // the comma, or the closing brace
  }
  if (i !== line.length) throw new Error(`expected ${kinds.length} values, found more`);
  return out;
}

function scalarCell(token: string, kind: CellKind): Cell {
  if (token === 'null') return null;
  if (token === 'true') return true;
  if (token === 'false') return false;
  const n = Number(token);
  if (Number.isNaN(n)) throw new Error(`unexpected value ${JSON.stringify(token)}`);
  if (kind === 'integer' && !Number.isSafeInteger(n) && /^-?\d+$/.test(token)) return BigInt(token);
  return n;
}

async function readPart(dir: string, k: number, partRows: number, columns: readonly OutputColumn[]): Promise<PartRows> {
  const files = partFiles(dir, k, 'jsonl');
  const meta = JSON.parse(await readFile(files.meta, 'utf8')) as PartMeta;
  const rejected: PartRows['rejected'] = [];
  if (meta.rejected > 0) {
    for (const line of (await readFile(files.rejected, 'utf8')).split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line) as { row: number; column: string; reason: string };
      // the key object as written (exact integers); `,"key":` cannot occur inside the strings before it
      const at = line.indexOf(',"key":');
      rejected.push({ row: r.row, column: r.column, reason: r.reason, key: line.slice(at + 7, -1) });
    }
  }
  const kinds = columns.map((c) => c.kind);
  const rows: Cell[][] = [];
  const text = await readFile(files.part, 'utf8');
  let from = 0;
  while (from < text.length) {
    let to = text.indexOf('\n', from);
    if (to < 0) to = text.length;
    if (to > from) {
      try {
        rows.push(decodePartLine(text.slice(from, to), kinds));
      } catch (err) {
        throw new BerthError('INTERNAL', `part ${files.part}, line ${rows.length + 1}: cannot read it back (${err instanceof Error ? err.message : String(err)}); remove the job's work dir ${dir} and run the job again`, { field: 'part' }, { cause: err });
      }
    }
    from = to + 1;
  }
  // part k holds input rows [k·P, (k+1)·P): the output rows are those minus the rejected ones
  const skip = new Set(rejected.map((r) => r.row));
  const rowNumbers: number[] = [];
  for (let n = k * partRows + 1; n <= k * partRows + meta.rowsIn; n++) if (!skip.has(n)) rowNumbers.push(n);
  if (rowNumbers.length !== rows.length || rows.length !== meta.rowsOut) {
    throw new BerthError('INTERNAL', `part ${files.part}: holds ${rows.length} rows, its meta says ${meta.rowsOut} of ${meta.rowsIn} input rows (${rejected.length} rejected); remove the job's work dir ${dir} and run the job again`, { field: 'part' });
  }
  return { rows, rowNumbers, rejected };
}

// ---------------------------------------------------------------------------------------------
// The two databases behind one small interface.

/** Appends rows to one table; `flush` sends what is buffered. */
interface RowWriter {
  add(values: Cell[]): Promise<void>;
  flush(): Promise<void>;
}

/** What the load needs from a database. Every call runs on the one connection it holds. */
interface TableDialect {
  readonly name: TableDialectName;
  /** the table as stored in the marker rows: schema-qualified on PostgreSQL */
  qualified(table: string): string;
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** serialise loads of one job (PostgreSQL: an advisory lock; SQLite: the write lock of BEGIN IMMEDIATE) */
  lockJob(jobId: string): Promise<void>;
  ensureOutputsTable(): Promise<void>;
  readMarker(jobId: string): Promise<TableDelivery | null>;
  deleteMarkers(where: { jobId: string } | { table: string }): Promise<void>;
  insertMarker(jobId: string, table: string, d: TableDelivery): Promise<void>;
  /** the table's columns, or null when there is no such table */
  describe(table: string): Promise<ExistingColumn[] | null>;
  drop(table: string): Promise<void>;
  create(table: string, columns: readonly TableColumn[]): Promise<void>;
  writer(table: string, columns: readonly TableColumn[]): RowWriter;
  close(): Promise<void>;
}

const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;

function pgErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ECONNRESET: 'connection reset',
};

class PostgresTables implements TableDialect {
  readonly name = 'postgres' as const;

  private statements = 0;

  private constructor(private readonly client: pg.Client, private readonly schema: string, private readonly target: TableTarget) {}

  static async open(target: TableTarget, session: string): Promise<PostgresTables> {
    // the session names itself (pg_stat_activity): `berth batch check <job>` or `berth batch load <job>`
    const client = new pg.Client({ connectionString: target.connection(), application_name: session });
    // an error on an idle connection must not crash the process; the next query reports it
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      const code = pgErrorCode(err);
      if (code !== undefined && NETWORK[code] !== undefined) {
        throw new BerthError('UNAVAILABLE', `--output ${target.redacted}: cannot connect: ${NETWORK[code]} (${code}); check the host and port, and that PostgreSQL runs and accepts connections from here, then run the job again (finished parts are kept)`, {
          field: 'output', got: target.redacted,
        }, { cause: err });
      }
      const problem = code === '28P01' || code === '28000'
          ? `the server refused the login (${code}); check the user and the password (in the URL, PGPASSWORD or ~/.pgpass)`
          : code === '3D000'
            ? 'the database does not exist; create it or name another'
            : `cannot connect: ${err instanceof Error ? err.message : String(err)}`;
      throw new BerthError('INVALID_ARGUMENT', `--output ${target.redacted}: ${problem}`, { field: 'output', got: target.redacted }, { cause: err });
    }
    try {
      let schema = target.schema;
      if (schema === undefined) {
        const r = await client.query<{ s: string | null }>('select current_schema() as s');
        schema = r.rows[0]?.s ?? undefined;
        if (schema === undefined) {
          throw new BerthError('INVALID_ARGUMENT', `--output ${target.redacted}: the connection has no current schema (search_path names none that exists); name one: ?table=schema.${target.table}`, { field: 'output', got: target.redacted });
        }
      } else {
        const r = await client.query('select 1 from pg_namespace where nspname = $1', [schema]);
        if (r.rowCount === 0) {
          throw new BerthError('INVALID_ARGUMENT', `--output ${target.redacted}: schema "${schema}" does not exist; create it (create schema ${quote(schema)}) or name another`, { field: 'output', got: schema });
        }
      }
      return new PostgresTables(client, schema, target);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  qualified(table: string): string {
    return `${this.schema}.${table}`;
  }

  private ref(table: string): string {
    return `${quote(this.schema)}.${quote(table)}`;
  }

  async begin(): Promise<void> {
    await this.client.query('begin');
  }

  async commit(): Promise<void> {
    await this.client.query('commit');
  }

  async rollback(): Promise<void> {
    await this.client.query('rollback');
  }

  async lockJob(jobId: string): Promise<void> {
    // the job id is 16 hex digits: exactly a bigint key
    await this.client.query('select pg_advisory_xact_lock($1::bigint)', [BigInt.asIntN(64, BigInt(`0x${jobId}`)).toString()]);
  }

  async ensureOutputsTable(): Promise<void> {
    if (await this.exists(OUTPUTS_TABLE)) return;
    await this.client.query(`create table if not exists ${this.ref(OUTPUTS_TABLE)} (
      job_id text primary key, table_name text not null, rows bigint not null, rows_in bigint not null,
      rejected bigint not null, parts integer not null, finished_at timestamptz not null default now())`);
  }

  private async exists(table: string): Promise<boolean> {
    const r = await this.client.query('select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2', [this.schema, table]);
    return (r.rowCount ?? 0) > 0;
  }

  async readMarker(jobId: string): Promise<TableDelivery | null> {
    if (!(await this.exists(OUTPUTS_TABLE))) return null;
    const r = await this.client.query<{ rows: string; rows_in: string; rejected: string; parts: number }>(
      `select rows, rows_in, rejected, parts from ${this.ref(OUTPUTS_TABLE)} where job_id = $1`, [jobId]);
    const m = r.rows[0];
    return m === undefined ? null : { rowsIn: Number(m.rows_in), rowsOut: Number(m.rows), rejected: Number(m.rejected), parts: Number(m.parts) };
  }

  async deleteMarkers(where: { jobId: string } | { table: string }): Promise<void> {
    if (!(await this.exists(OUTPUTS_TABLE))) return;
    if ('jobId' in where) await this.client.query(`delete from ${this.ref(OUTPUTS_TABLE)} where job_id = $1`, [where.jobId]);
    else await this.client.query(`delete from ${this.ref(OUTPUTS_TABLE)} where table_name = $1`, [where.table]);
  }

  async insertMarker(jobId: string, table: string, d: TableDelivery): Promise<void> {
    await this.client.query(`insert into ${this.ref(OUTPUTS_TABLE)} (job_id, table_name, rows, rows_in, rejected, parts) values ($1, $2, $3, $4, $5, $6)`,
      [jobId, table, d.rowsOut, d.rowsIn, d.rejected, d.parts]);
  }

  async describe(table: string): Promise<ExistingColumn[] | null> {
    const rel = await this.client.query<{ relkind: string }>(
      'select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2', [this.schema, table]);
    const kind = rel.rows[0]?.relkind;
    if (kind === undefined) return null;
    if (kind !== 'r' && kind !== 'p') {
      throw new BerthError('INVALID_ARGUMENT', `--output ${this.target.redacted}: "${this.schema}.${table}" exists and is not a table (a view, sequence or index?); name another table`, { field: 'output', got: `${this.schema}.${table}` });
    }
    const r = await this.client.query<{ name: string; type: string; notnull: boolean; hasdef: boolean }>(
      `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as notnull, a.atthasdef as hasdef
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped order by a.attnum`, [this.schema, table]);
    return r.rows.map((c) => ({ name: c.name, type: c.type, required: c.notnull && !c.hasdef }));
  }

  async drop(table: string): Promise<void> {
    await this.client.query(`drop table if exists ${this.ref(table)}`);
  }

  async create(table: string, columns: readonly TableColumn[]): Promise<void> {
    const cols = columns.map((c) => `${quote(c.name)} ${c.sqlType}${c.name === ROW_COLUMN ? ' not null' : ''}`);
    await this.client.query(`create table ${this.ref(table)} (${cols.join(', ')})`);
  }

  writer(table: string, columns: readonly TableColumn[]): RowWriter {
    // multi-row INSERTs: as many rows as fit in PostgreSQL's 65,535 parameters, at most 1,000
    const width = columns.length;
    const perStatement = Math.max(1, Math.min(1000, Math.floor(65_535 / width)));
    const head = `insert into ${this.ref(table)} (${columns.map((c) => quote(c.name)).join(', ')}) values `;
    const statement = (rows: number): string => {
      const tuples: string[] = [];
      for (let r = 0; r < rows; r++) tuples.push(`(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`);
      return head + tuples.join(', ');
    };
    const full = statement(perStatement);
    // one prepared statement per table for full batches: parsed and planned once
    const name = `berth_load_${this.statements++}`;
    let values: unknown[] = [];
    let rows = 0;
    const send = async (): Promise<void> => {
      if (rows === 0) return;
      if (rows === perStatement) await this.client.query({ name, text: full, values });
      else await this.client.query(statement(rows), values);
      values = [];
      rows = 0;
    };
    return {
      add: async (cells) => {
        for (const v of cells) values.push(typeof v === 'bigint' ? v.toString() : v);
        rows++;
        if (rows === perStatement) await send();
      },
      flush: send,
    };
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

class SqliteTables implements TableDialect {
  readonly name = 'sqlite' as const;

  private constructor(private readonly db: Database.Database) {}

  static open(target: TableTarget): SqliteTables {
    let db: Database.Database;
    try {
      db = new Database(target.connection());
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `--output ${target.redacted}: cannot open the database file: ${err instanceof Error ? err.message : String(err)}; check that its folder exists and is writable`, { field: 'output', got: target.redacted }, { cause: err });
    }
    // a commit must survive a power cut; wait for other writers instead of failing at once
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 10000');
    return new SqliteTables(db);
  }

  qualified(table: string): string {
    return table;
  }

  async begin(): Promise<void> {
    // the write lock now: the marker check and the load see no other writer in between
    this.db.exec('begin immediate');
  }

  async commit(): Promise<void> {
    this.db.exec('commit');
  }

  async rollback(): Promise<void> {
    if (this.db.inTransaction) this.db.exec('rollback');
  }

  async lockJob(): Promise<void> {
    // BEGIN IMMEDIATE already holds the database's one write lock
  }

  async ensureOutputsTable(): Promise<void> {
    this.db.exec(`create table if not exists ${quote(OUTPUTS_TABLE)} (
      job_id text primary key, table_name text not null, rows integer not null, rows_in integer not null,
      rejected integer not null, parts integer not null, finished_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`);
  }

  private exists(table: string): boolean {
    return this.db.prepare("select 1 from sqlite_master where type in ('table', 'view') and name = ?").get(table) !== undefined;
  }

  async readMarker(jobId: string): Promise<TableDelivery | null> {
    if (!this.exists(OUTPUTS_TABLE)) return null;
    const m = this.db.prepare(`select rows, rows_in, rejected, parts from ${quote(OUTPUTS_TABLE)} where job_id = ?`).get(jobId) as
      { rows: number; rows_in: number; rejected: number; parts: number } | undefined;
    return m === undefined ? null : { rowsIn: m.rows_in, rowsOut: m.rows, rejected: m.rejected, parts: m.parts };
  }

  async deleteMarkers(where: { jobId: string } | { table: string }): Promise<void> {
    if (!this.exists(OUTPUTS_TABLE)) return;
    if ('jobId' in where) this.db.prepare(`delete from ${quote(OUTPUTS_TABLE)} where job_id = ?`).run(where.jobId);
    else this.db.prepare(`delete from ${quote(OUTPUTS_TABLE)} where table_name = ?`).run(where.table);
  }

  async insertMarker(jobId: string, table: string, d: TableDelivery): Promise<void> {
    this.db.prepare(`insert into ${quote(OUTPUTS_TABLE)} (job_id, table_name, rows, rows_in, rejected, parts) values (?, ?, ?, ?, ?, ?)`)
      .run(jobId, table, d.rowsOut, d.rowsIn, d.rejected, d.parts);
  }

  async describe(table: string): Promise<ExistingColumn[] | null> {
    const kind = (this.db.prepare('select type from sqlite_master where name = ?').get(table) as { type: string } | undefined)?.type;
    if (kind === undefined) return null;
    if (kind !== 'table') {
      throw new BerthError('INVALID_ARGUMENT', `--output: "${table}" exists and is a ${kind}, not a table; name another table`, { field: 'output', got: table });
    }
    const cols = this.db.prepare(`select name, type, "notnull" as nn, dflt_value as dflt, pk from pragma_table_info(?)`).all(table) as
      { name: string; type: string; nn: number; dflt: string | null; pk: number }[];
    // an INTEGER PRIMARY KEY fills itself (it is the rowid)
    return cols.map((c) => ({ name: c.name, type: c.type, required: c.nn === 1 && c.dflt === null && !(c.pk > 0 && c.type.toUpperCase() === 'INTEGER') }));
  }

  async drop(table: string): Promise<void> {
    this.db.exec(`drop table if exists ${quote(table)}`);
  }

  async create(table: string, columns: readonly TableColumn[]): Promise<void> {
    const cols = columns.map((c) => `${quote(c.name)} ${c.sqlType}${c.name === ROW_COLUMN ? ' NOT NULL' : ''}`);
    this.db.exec(`create table ${quote(table)} (${cols.join(', ')})`);
  }

  writer(table: string, columns: readonly TableColumn[]): RowWriter {
    const insert = this.db.prepare(`insert into ${quote(table)} (${columns.map((c) => quote(c.name)).join(', ')}) values (${columns.map(() => '?').join(', ')})`);
    return {
      add: async (cells) => {
        // SQLite has no booleans: 1 and 0, as it stores them
        insert.run(cells.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)));
      },
      flush: async () => undefined,
    };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

async function openDialect(target: TableTarget, step: 'check' | 'load', jobId: string): Promise<TableDialect> {
  return target.dialect === 'postgres' ? PostgresTables.open(target, `berth batch ${step} ${jobId}`) : SqliteTables.open(target);
}

// ---------------------------------------------------------------------------------------------
// The two steps a job takes: check before scoring, load at the end.

/** What both steps need to know about the job. */
export interface TableOutputPlan {
  target: TableTarget;
  jobId: string;
  /** the job's output columns (keys, then predictions); the table has `_row` in front of them */
  columns: readonly OutputColumn[];
  ifExists: IfExists;
}

function alreadyExists(target: TableTarget, table: string): BerthError {
  return new BerthError('ALREADY_EXISTS', `--output ${target.redacted}: table ${table} exists already and --if-exists is fail (the default); pass --if-exists append to add the rows to it, --if-exists replace to replace it, or name another table`, {
    field: 'if-exists', expected: 'no such table', got: table,
  });
}

function mismatch(target: TableTarget, table: string, problems: readonly string[]): BerthError {
  return new BerthError('INVALID_ARGUMENT', `--output ${target.redacted}: --if-exists append: table ${table} does not fit the job's columns: ${problems.join('; ')}; pass --if-exists replace to recreate it, or name another table`, {
    field: 'if-exists', expected: 'matching columns', got: problems,
  });
}

/**
 * Before any scoring: has this job been delivered already (its marker row is there and so is
 * its table)? Otherwise refuse early what the load would refuse: an existing table with
 * `--if-exists fail`, or one whose columns do not fit with `append`.
 *
 * @returns the marker's counts when the job is delivered (nothing to do), else null.
 * @throws BerthError ALREADY_EXISTS (fail), INVALID_ARGUMENT (columns, connection).
 */
export async function checkTableOutput(plan: TableOutputPlan): Promise<TableDelivery | null> {
  const { target } = plan;
  const db = await openDialect(target, 'check', plan.jobId);
  try {
    const want = tableColumns(db.name, plan.columns, target);
    const existing = await db.describe(target.table).catch((err: unknown) => { throw databaseError(target, 'reading the table', err); });
    const marker = await db.readMarker(plan.jobId).catch((err: unknown) => { throw databaseError(target, 'reading berth_batch_outputs', err); });
    if (marker !== null && existing !== null) return marker;
    if (existing !== null) {
      if (plan.ifExists === 'fail') throw alreadyExists(target, db.qualified(target.table));
      if (plan.ifExists === 'append') {
        const problems = appendMismatches(db.name, want, existing);
        if (problems.length > 0) throw mismatch(target, db.qualified(target.table), problems);
      }
    }
    return null;
  } finally {
    await db.close();
  }
}

/** Options of {@link loadTableOutput}. */
export interface TableLoadOptions extends TableOutputPlan {
  /** the job's work dir, holding parts `0..parts-1` (JSONL) */
  dir: string;
  parts: number;
  partRows: number;
  /** the job's totals over all parts */
  rowsIn: number;
  rejected: number;
}

/**
 * Load every part into the table, in one transaction with the job's marker row. If the marker is
 * there already (a crash after an earlier commit), nothing is loaded. `replace` drops and
 * creates the table inside the same transaction (and forgets the markers of jobs that had loaded
 * into it); `append` checks that the columns fit. Rejected rows go to `<table>_rejected`.
 * One part is in memory at a time.
 *
 * @returns the counts in the marker: this load's, or the earlier one's.
 */
export async function loadTableOutput(o: TableLoadOptions): Promise<TableDelivery> {
  const { target } = o;
  const db = await openDialect(target, 'load', o.jobId);
  let step = 'starting the transaction';
  try {
    const want = tableColumns(db.name, o.columns, target);
    step = 'creating berth_batch_outputs';
    await ensureOutputsTable(db);
    step = 'starting the transaction';
    await db.begin();
    try {
      step = 'locking the job';
      await db.lockJob(o.jobId);
      step = 'reading berth_batch_outputs';
      const qualified = db.qualified(target.table);
      const existing = await db.describe(target.table);
      const marker = await db.readMarker(o.jobId);
      if (marker !== null && existing !== null) {
        await db.rollback();
        return marker;
      }
      // a marker whose table is gone (dropped by hand) no longer says anything
      if (marker !== null) await db.deleteMarkers({ jobId: o.jobId });

      step = 'preparing the table';
      if (existing === null) {
        await db.create(target.table, want);
      } else if (o.ifExists === 'fail') {
        throw alreadyExists(target, qualified);
      } else if (o.ifExists === 'replace') {
        await db.drop(target.table);
        await db.deleteMarkers({ table: qualified });
        await db.create(target.table, want);
      } else {
        const problems = appendMismatches(db.name, want, existing);
        if (problems.length > 0) throw mismatch(target, qualified, problems);
      }
      const rejectedTable = `${target.table}_rejected`;
      const rejectedWant = rejectedColumns(db.name);
      if (o.ifExists === 'replace') await db.drop(rejectedTable);
      if (o.rejected > 0) {
        const have = await db.describe(rejectedTable);
        if (have === null) {
          await db.create(rejectedTable, rejectedWant);
        } else {
          const problems = appendMismatches(db.name, rejectedWant, have);
          if (problems.length > 0) throw mismatch(target, db.qualified(rejectedTable), problems);
        }
      }

      step = 'loading the rows';
      const rows = db.writer(target.table, want);
      const rejects = o.rejected > 0 ? db.writer(rejectedTable, rejectedWant) : undefined;
      let rowsOut = 0;
      let rejected = 0;
      for (let k = 0; k < o.parts; k++) {
        const part = await readPart(o.dir, k, o.partRows, o.columns);
        for (let r = 0; r < part.rows.length; r++) {
          const cells = part.rows[r]!;
          cells.unshift(part.rowNumbers[r]!);
          await rows.add(cells);
        }
        rowsOut += part.rows.length;
        for (const x of part.rejected) await rejects?.add([o.jobId, x.row, x.column, x.reason, x.key]);
        rejected += part.rejected.length;
      }
      await rows.flush();
      await rejects?.flush();
      step = 'writing the marker row';
      const delivery: TableDelivery = { rowsIn: o.rowsIn, rowsOut, rejected, parts: o.parts };
      await db.insertMarker(o.jobId, qualified, delivery);
      step = 'committing';
      await db.commit();
      return delivery;
    } catch (err) {
      await db.rollback().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    throw databaseError(target, step, err);
  } finally {
    await db.close();
  }
}

/** Create the bookkeeping table unless it exists (two jobs creating it at once: the loser tries again). */
async function ensureOutputsTable(db: TableDialect): Promise<void> {
  try {
    await db.ensureOutputsTable();
  } catch (err) {
    const code = pgErrorCode(err);
    if (code !== '23505' && code !== '42P07') throw err;
    await db.ensureOutputsTable();
  }
}

function databaseError(target: TableTarget, step: string, err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const code = pgErrorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  // another job created the same table between our check and our CREATE
  if (code === '42P07') {
    return new BerthError('ALREADY_EXISTS', `--output ${target.redacted}: table ${target.tableName} was created by someone else while this job ran; run the job again with --if-exists append or replace, or name another table`, {
      field: 'if-exists', got: target.tableName,
    }, { cause: err });
  }
  // the connection broke (network, server shut down): the transaction died with it, nothing was committed
  if ((code !== undefined && (NETWORK[code] !== undefined || code.startsWith('08') || code.startsWith('57P'))) || /connection terminated/i.test(message)) {
    return new BerthError('UNAVAILABLE', `--output ${target.redacted}: ${step} failed: the connection was lost (${code ?? message}); nothing of the load was committed; run the same command again when the database is back (finished parts are kept)`, {
      field: 'output', got: target.redacted,
    }, { cause: err });
  }
  const hint = code === '42501' ? 'the user may not do this there; grant it the right (create, insert, drop) or name another table' : 'the job\'s parts are kept: run the same command again to retry';
  return new BerthError('INTERNAL', `--output ${target.redacted}: ${step} failed: ${message}${code !== undefined ? ` (${code})` : ''}; ${hint}`, {
    field: 'output', got: target.redacted,
  }, { cause: err });
}

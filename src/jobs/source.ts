/**
 * Batch inputs, handed out as column chunks in a stable order, a few thousand rows at a time, so
 * memory does not grow with the input. Every kind of input is a {@link RowSource}; {@link openSource}
 * picks the implementation from `--input`:
 *
 * - a CSV, JSONL or Parquet file or glob: {@link TableSource} (DuckDB);
 * - an `http(s)://` or `s3://` URL of one such file: downloaded into the job's work dir (download.ts),
 *   then a TableSource;
 * - `postgres://…` or `sqlite:FILE` with a query: PostgresSource and SqliteSource (sql-source.ts).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../core/index.js';
import type { DownloadProgress } from './download.js';

/** The input formats DuckDB reads for us. */
export const INPUT_FORMATS = ['csv', 'jsonl', 'parquet'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** One value of an input column, as JavaScript sees it (DuckDB types outside these arrive as text). */
export type Cell = null | boolean | number | bigint | string;

/** What kind of values a column holds, from its DuckDB type. */
export type CellKind = 'integer' | 'float' | 'boolean' | 'text';

/** One input column: its name and kind. */
export interface SourceColumn {
  name: string;
  kind: CellKind;
}

/** Rows `[start, start + rows)` of the input (0-based), one array per column in column order. */
export interface ColumnChunk {
  start: number;
  rows: number;
  columns: Cell[][];
}

/** Where the rows of a {@link TableSource} come from. */
export interface SourceSpec {
  /** a file path or a glob (`data/*.csv`) */
  path: string;
  /** default: from the extension */
  format?: InputFormat;
  /** what messages call the input (default: the path); a URL input names its URL, not the downloaded file */
  name?: string;
}

/** What kind of input a source reads: a file format, or a database. */
export const SOURCE_FORMATS = [...INPUT_FORMATS, 'postgres', 'sqlite'] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

/**
 * The rows of a batch input, in an order that is the same on every read (the job resumes by skipping
 * the rows of finished parts). Implemented by {@link TableSource} (files), PostgresSource and
 * SqliteSource (sql-source.ts); {@link openSource} picks one.
 */
export interface RowSource {
  /** the input's columns, in order */
  readonly columns: readonly SourceColumn[];
  /** what kind of input this is */
  readonly format: SourceFormat;
  /** the number of rows when it is known cheaply (Parquet footers), else undefined */
  countRows(): Promise<number | undefined>;
  /** the rows from `skipRows` on, in chunks of `chunkRows`; skipped rows are never converted or mapped */
  chunks(opts?: ChunkOptions): AsyncGenerator<ColumnChunk>;
  /** free the reader (DuckDB, the database connection) */
  close(): void | Promise<void>;
}

/** `--input`, `--input-format` and `--query` as given. */
export interface InputSpec {
  /** a file or glob, an `http(s)://` or `s3://` URL, `postgres://…`, or `sqlite:FILE` */
  input: string;
  /** files and URLs: default from the extension */
  format?: InputFormat;
  /** databases: the query whose rows are scored (`SELECT … ORDER BY …`) */
  query?: string;
}

/** A file or glob on this machine. */
export interface FileInput {
  kind: 'file';
  path: string;
  format: InputFormat;
}

/** One file behind a URL, downloaded into the job's work dir before it is read. */
export interface HttpInput {
  kind: 'http';
  /** the URL as given (with any secrets: used to download, never stored) */
  url: string;
  /** the URL without its secrets: stored in job.json, hashed into the job id, shown in messages */
  display: string;
  format: InputFormat;
  /** the file's name in the work dir */
  fileName: string;
}

/** One S3 object (`s3://bucket/key?endpoint=…&region=…&pathStyle=…`), downloaded like an {@link HttpInput}. */
export interface S3Input {
  kind: 's3';
  bucket: string;
  key: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  display: string;
  format: InputFormat;
  fileName: string;
}

/** A query against PostgreSQL. */
export interface PostgresInput {
  kind: 'postgres';
  /** the URL as given (with its password, if any: used to connect, never stored) */
  url: string;
  /** the URL without its password */
  display: string;
  query: string;
}

/** A query against an SQLite database file, opened read-only. */
export interface SqliteInput {
  kind: 'sqlite';
  /** the database file, absolute */
  path: string;
  /** `sqlite:<absolute path>` */
  display: string;
  query: string;
}

/** `--input` parsed: what to read and how. */
export type InputLocation = FileInput | HttpInput | S3Input | PostgresInput | SqliteInput;

/** Options of {@link openSource}. */
export interface OpenSourceOptions {
  /** the job's work dir: URL inputs are downloaded into `<workDir>/download/` (and reused from there) */
  workDir?: string;
  onDownload?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

/** Options of {@link RowSource.chunks}. */
export interface ChunkOptions {
  /** rows to skip at the start (finished parts on resume); they are skipped without being handed out */
  skipRows?: number;
  /** rows per chunk handed out (default 8,192) */
  chunkRows?: number;
  /** columns to read as text whatever their inferred type (CSV only: model features, parsed row by row) */
  textColumns?: readonly string[];
}

/** The DuckDB API surface we use (imported lazily: DuckDB loads only when a job runs). */
type DuckModule = typeof import('@duckdb/node-api');
type DuckConnection = Awaited<ReturnType<InstanceType<DuckModule['DuckDBInstance']>['connect']>>;
type DuckInstance = InstanceType<DuckModule['DuckDBInstance']>;

/** The input format for a path: `--input-format` if given, else its extension. */
export function inputFormatOf(file: string, explicit?: string): InputFormat {
  if (explicit !== undefined) {
    if ((INPUT_FORMATS as readonly string[]).includes(explicit)) return explicit as InputFormat;
    throw new BerthError('INVALID_ARGUMENT', `--input-format: expected one of ${INPUT_FORMATS.join(', ')}, got ${JSON.stringify(explicit)}`, {
      field: 'input-format', expected: [...INPUT_FORMATS], got: explicit,
    });
  }
  const ext = path.extname(file.replace(/\.(gz|zst)$/i, '')).toLowerCase();
  if (ext === '.csv' || ext === '.tsv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  throw new BerthError('INVALID_ARGUMENT', `input ${JSON.stringify(file)}: cannot tell the format from the extension "${ext}"; name it .csv, .jsonl or .parquet, or pass --input-format csv|jsonl|parquet`, {
    field: 'input', expected: [...INPUT_FORMATS], got: ext,
  });
}

const DATABASE_EXTENSIONS = ['.db', '.sqlite', '.sqlite3'];
const URL_SCHEME = /^([a-z][a-z0-9+.-]+):\/\//i;
/** URL parameters that carry credentials: never stored, never hashed, never shown */
const SECRET_URL_PARAMS = new Set([
  'password', 'sslpassword', 'token', 'access_token', 'api_key', 'apikey', 'secret', 'sig', 'signature',
  'x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'x-goog-signature', 'x-goog-credential',
]);
const S3_PARAMS = ['endpoint', 'region', 'pathStyle'] as const;

function inputError(message: string, got?: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', message, { field: 'input', ...(got !== undefined ? { got } : {}) });
}

/** A URL without its credentials: the password and parameters that carry secrets are left out. */
function withoutSecrets(u: URL): string {
  const c = new URL(u.href);
  c.password = '';
  for (const k of [...c.searchParams.keys()]) {
    if (SECRET_URL_PARAMS.has(k.toLowerCase())) c.searchParams.delete(k);
  }
  return c.href;
}

/** Parse a URL without ever echoing it (it may hold a password). */
function parseUrl(input: string, scheme: string, expected: string): URL {
  try {
    return new URL(input);
  } catch {
    throw inputError(`--input: a ${scheme}:// input that is not a valid URL (not shown: it may hold a password); expected ${expected}`);
  }
}

/** The name a downloaded file gets in the work dir: the URL's last path segment, made safe (no glob characters). */
function downloadName(pathname: string, format: InputFormat): string {
  const base = path.posix.basename(pathname).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return base === '' ? `input.${format}` : base;
}

function refuseRemoteGlob(pathname: string, display: string): void {
  if (/[*[\]{}]/.test(pathname)) {
    throw inputError(`--input ${display}: globs are not supported for URL inputs (only local paths are expanded); pass the URL of one file, or download the files and pass a local glob`, display);
  }
}

function databaseQuery(spec: InputSpec, display: string): string {
  if (spec.format !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `--input-format: applies to files and URLs; the rows of the database ${display} come from --query, so drop --input-format`, { field: 'input-format', got: spec.format });
  }
  if (spec.query === undefined || spec.query.trim() === '') {
    throw new BerthError('INVALID_ARGUMENT', `--query: a database input (${display}) needs the query whose rows are scored, e.g. --query "SELECT * FROM applicants ORDER BY id"`, { field: 'query' });
  }
  return spec.query;
}

function sqliteInput(file: string, spec: InputSpec): SqliteInput {
  if (file.trim() === '') throw inputError('--input: sqlite: names no file; expected sqlite:path/to/file.db');
  const abs = path.resolve(file);
  const display = `sqlite:${abs}`;
  return { kind: 'sqlite', path: abs, display, query: databaseQuery(spec, display) };
}

/**
 * What `--input` (with `--input-format` and `--query`) names: a file or glob, a URL of one file, or a
 * database query. Never echoes a URL's password in its errors.
 *
 * @example
 * parseInput({ input: 'postgres://berth:pw@db/sales', query: 'SELECT * FROM loans ORDER BY id' })
 * // { kind: 'postgres', display: 'postgres://berth@db/sales', … }
 */
export function parseInput(spec: InputSpec): InputLocation {
  const input = spec.input;
  if (input.trim() === '') throw inputError('--input: expected a file or glob, a URL or a database, got an empty string');
  if (/^sqlite:/i.test(input)) {
    let file = input.slice('sqlite:'.length);
    if (file.startsWith('//')) file = file.slice(2);
    return sqliteInput(file, spec);
  }
  const scheme = URL_SCHEME.exec(input)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const u = parseUrl(input, scheme, 'postgres://user@host:5432/database');
    const display = withoutSecrets(u);
    return { kind: 'postgres', url: input, display, query: databaseQuery(spec, display) };
  }
  if (spec.query !== undefined && scheme !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `--query: only a database input takes a query (postgres://… or sqlite:FILE), and --input is a ${scheme}:// URL; drop --query, or point --input at the database`, { field: 'query' });
  }
  if (scheme === 'http' || scheme === 'https') {
    const u = parseUrl(input, scheme, 'https://host/path/file.csv');
    const display = withoutSecrets(u);
    const pathname = decodeURIComponent(u.pathname);
    refuseRemoteGlob(pathname, display);
    const format = spec.format !== undefined ? inputFormatOf(display, spec.format) : inputFormatOf(pathname);
    return { kind: 'http', url: input, display, format, fileName: downloadName(pathname, format) };
  }
  if (scheme === 's3') {
    const u = parseUrl(input, scheme, 's3://bucket/key[?endpoint=http://host:port&region=…]');
    if (u.username !== '' || u.password !== '') {
      throw inputError('--input: credentials do not belong in an s3:// URL (not shown); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) instead');
    }
    const display = u.href;
    const key = decodeURIComponent(u.pathname).replace(/^\/+/, '');
    if (u.hostname === '' || key === '' || key.endsWith('/')) {
      throw inputError(`--input ${display}: expected s3://bucket/key naming one object`, display);
    }
    refuseRemoteGlob(key, display);
    for (const k of u.searchParams.keys()) {
      if (!(S3_PARAMS as readonly string[]).includes(k)) throw inputError(`--input ${display}: unknown parameter ?${k}= (known: ${S3_PARAMS.join(', ')})`, display);
    }
    const endpoint = u.searchParams.get('endpoint') ?? process.env['BERTH_S3_ENDPOINT'] ?? undefined;
    const region = u.searchParams.get('region') ?? undefined;
    const pathStyle = u.searchParams.get('pathStyle');
    if (pathStyle !== null && pathStyle !== 'true' && pathStyle !== 'false') {
      throw inputError(`--input ${display}: pathStyle must be true or false, got ${JSON.stringify(pathStyle)}`, display);
    }
    const format = spec.format !== undefined ? inputFormatOf(display, spec.format) : inputFormatOf(key);
    return {
      kind: 's3', bucket: u.hostname, key, display, format, fileName: downloadName(key, format),
      ...(endpoint !== undefined && endpoint !== '' ? { endpoint } : {}),
      ...(region !== undefined ? { region } : {}),
      ...(pathStyle !== null ? { forcePathStyle: pathStyle === 'true' } : {}),
    };
  }
  if (scheme !== undefined) {
    throw inputError(`--input: Berth does not read ${scheme}:// inputs; expected a file or glob, an http(s):// or s3:// URL of one file, postgres://… or sqlite:FILE (with --query)`);
  }
  const ext = path.extname(input).toLowerCase();
  if (spec.query !== undefined) {
    if (DATABASE_EXTENSIONS.includes(ext)) return sqliteInput(input, spec);
    throw new BerthError('INVALID_ARGUMENT', `--query: only a database input takes a query (postgres://…, sqlite:FILE, or a file ending ${DATABASE_EXTENSIONS.join('/')}), and ${JSON.stringify(input)} is read as a ${ext || 'data'} file; drop --query, or point --input at the database`, { field: 'query' });
  }
  if (DATABASE_EXTENSIONS.includes(ext)) {
    throw inputError(`--input ${JSON.stringify(input)} looks like an SQLite database; pass the rows to score with --query "SELECT * FROM applicants ORDER BY id" (or name it sqlite:${input})`, input);
  }
  return { kind: 'file', path: input, format: inputFormatOf(input, spec.format) };
}

/** What job.json records of an input: enough to open it again, never a password. */
export function inputRecordOf(loc: InputLocation): { input: string; inputFormat?: InputFormat; query?: string } {
  switch (loc.kind) {
    case 'file':
      return { input: path.resolve(loc.path), inputFormat: loc.format };
    case 'http':
    case 's3':
      return { input: loc.display, inputFormat: loc.format };
    case 'postgres':
    case 'sqlite':
      return { input: loc.display, query: loc.query };
  }
}

/**
 * What the job id hashes of an input. A plain file adds its size and time, so a file changed between
 * runs starts a new job; a URL or a query is hashed as written (without secrets): a table or a remote
 * file that changed between runs is not noticed.
 */
export async function inputIdentity(loc: InputLocation): Promise<Record<string, unknown>> {
  if (loc.kind === 'file') {
    const file = path.resolve(loc.path);
    const st = await stat(file).catch(() => undefined);
    return { path: file, format: loc.format, size: st?.size ?? null, mtimeMs: st?.mtimeMs ?? null };
  }
  return { kind: loc.kind, ...inputRecordOf(loc) };
}

/**
 * Open an input as a {@link RowSource}: files through DuckDB, URLs downloaded first (into
 * `opts.workDir`, reused when already whole), PostgreSQL and SQLite through their drivers.
 *
 * @throws BerthError INVALID_ARGUMENT for an input that cannot be read as asked (the driver's words and
 *   what to check), UNAVAILABLE when a database or server cannot be reached
 * @example
 * const src = await openSource({ input: 'sqlite:scores.db', query: 'SELECT * FROM applicants ORDER BY id' });
 */
export async function openSource(spec: InputSpec | InputLocation, opts: OpenSourceOptions = {}): Promise<RowSource> {
  const loc = 'kind' in spec ? spec : parseInput(spec);
  switch (loc.kind) {
    case 'file':
      return TableSource.open({ path: loc.path, format: loc.format });
    case 'http':
    case 's3': {
      if (opts.workDir === undefined) throw new BerthError('INTERNAL', `input ${loc.display}: a URL input needs a work dir to download into`);
      const { downloadInput } = await import('./download.js');
      const file = await downloadInput(loc, opts.workDir, opts);
      return TableSource.open({ path: file, format: loc.format, name: loc.display });
    }
    case 'postgres': {
      const { PostgresSource } = await import('./sql-source.js');
      return PostgresSource.open(loc);
    }
    case 'sqlite': {
      const { SqliteSource } = await import('./sql-source.js');
      return SqliteSource.open(loc);
    }
  }
}

const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const sqlIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`;

const INTEGER_TYPES = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'UHUGEINT']);
const FLOAT_TYPES = new Set(['FLOAT', 'DOUBLE']);

function kindOfType(type: string): CellKind | undefined {
  const t = type.toUpperCase();
  if (INTEGER_TYPES.has(t)) return 'integer';
  if (FLOAT_TYPES.has(t) || t.startsWith('DECIMAL')) return 'float';
  if (t === 'BOOLEAN') return 'boolean';
  if (t === 'VARCHAR') return 'text';
  return undefined;
}

/**
 * An input table read by DuckDB. `open` reads the schema (cheap: DuckDB sniffs a sample);
 * `chunks` streams the rows in input order; `close` frees DuckDB.
 *
 * @example
 * const src = await TableSource.open({ path: 'in/*.parquet' });
 * for await (const chunk of src.chunks({ skipRows: 200_000 })) console.log(chunk.start, chunk.rows);
 * src.close();
 */
export class TableSource implements RowSource {
  private constructor(
    readonly spec: Required<SourceSpec>,
    readonly columns: readonly SourceColumn[],
    private readonly instance: DuckInstance,
    private readonly connection: DuckConnection,
  ) {}

  /** Open an input and read its columns. Throws INVALID_ARGUMENT when it cannot be read. */
  static async open(spec: SourceSpec): Promise<TableSource> {
    const format = spec.format ?? inputFormatOf(spec.path);
    const full: Required<SourceSpec> = { path: spec.path, format, name: spec.name ?? spec.path };
    const { DuckDBInstance } = await import('@duckdb/node-api');
    // order matters more than speed here: rows must come out in input order
    const instance = await DuckDBInstance.create(':memory:', { preserve_insertion_order: 'true', threads: '2' });
    const connection = await instance.connect();
    try {
      const described = await connection.stream(`DESCRIBE SELECT * FROM ${readExpression(full, [])}`);
      const rows = await described.getRowsJS();
      const columns = rows.map((r) => ({ name: String(r[0]), kind: kindOfType(String(r[1])) ?? 'text' }));
      return new TableSource(full, columns, instance, connection);
    } catch (err) {
      connection.closeSync();
      instance.closeSync();
      const where = spec.name !== undefined ? `${spec.name} (downloaded to ${spec.path})` : JSON.stringify(spec.path);
      throw new BerthError('INVALID_ARGUMENT', `input ${where}: cannot read it as ${format}: ${duckMessage(err)}; check the path (globs like data/*.csv are allowed) and the format (--input-format)`, {
        field: 'input', got: full.name,
      }, { cause: err });
    }
  }

  /** The input's format. */
  get format(): InputFormat {
    return this.spec.format;
  }

  /** The number of rows when DuckDB knows it cheaply (Parquet footers), else undefined. */
  async countRows(): Promise<number | undefined> {
    if (this.spec.format !== 'parquet') return undefined;
    const r = await this.connection.stream(`SELECT count(*) FROM ${readExpression(this.spec, [])}`);
    const rows = await r.getRowsJS();
    return Number(rows[0]?.[0] ?? 0);
  }

  /** Stream the rows from `skipRows` on, in input order, in chunks of `chunkRows`. */
  async *chunks(opts: ChunkOptions = {}): AsyncGenerator<ColumnChunk> {
    const skip = opts.skipRows ?? 0;
    const chunkRows = opts.chunkRows ?? 8192;
    const text = new Set(opts.textColumns ?? []);
    const select = this.columns.map((c) => {
      // types JavaScript has no plain value for (dates, lists, structs…) travel as text
      const kept = c.kind !== 'text' || text.has(c.name);
      return kept ? sqlIdent(c.name) : `CAST(${sqlIdent(c.name)} AS VARCHAR) AS ${sqlIdent(c.name)}`;
    });
    const sql = `SELECT ${select.join(', ')} FROM ${readExpression(this.spec, this.spec.format === 'csv' ? [...text] : [])}${skip > 0 ? ` OFFSET ${skip}` : ''}`;
    const { JSDuckDBValueConverter } = await import('@duckdb/node-api');
    let result;
    try {
      result = await this.connection.stream(sql);
    } catch (err) {
      throw readError(this.spec, err);
    }
    const width = this.columns.length;
    let pending: Cell[][] = Array.from({ length: width }, () => []);
    let pendingRows = 0;
    let start = skip;
    for (;;) {
      let chunk;
      try {
        chunk = await result.fetchChunk();
      } catch (err) {
        throw readError(this.spec, err);
      }
      if (chunk === null || chunk.rowCount === 0) break;
      for (let c = 0; c < width; c++) {
        const values = chunk.convertColumnValues(c, JSDuckDBValueConverter);
        const into = pending[c]!;
        for (const v of values) into.push(toCell(v));
      }
      pendingRows += chunk.rowCount;
      if (pendingRows >= chunkRows) {
        yield { start, rows: pendingRows, columns: pending };
        start += pendingRows;
        pending = Array.from({ length: width }, () => []);
        pendingRows = 0;
      }
    }
    if (pendingRows > 0) yield { start, rows: pendingRows, columns: pending };
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

function toCell(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || typeof v === 'boolean') return v;
  return String(v);
}

const CSV_BUFFER_BYTES = 4 * 1024 * 1024;

function readExpression(spec: Required<SourceSpec>, textColumns: readonly string[]): string {
  const file = sqlString(spec.path);
  switch (spec.format) {
    case 'csv': {
      const types = textColumns.length === 0 ? '' : `, types = {${textColumns.map((c) => `${sqlString(c)}: 'VARCHAR'`).join(', ')}}`;
      // DuckDB's default CSV buffer is 32 MiB per reading thread: a large file would hold several of
      // them at once, so memory would grow with the file up to that much. 4 MiB buffers keep the job's
      // memory the same for a small file and a large one, and read as fast (lines stay under 2 MiB,
      // DuckDB's max_line_size)
      return `read_csv(${file}${types}, buffer_size = ${CSV_BUFFER_BYTES})`;
    }
    case 'jsonl':
      return `read_json(${file}, format = 'newline_delimited')`;
    case 'parquet':
      return `read_parquet(${file})`;
  }
}

function duckMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.replace(/\.$/, '');
}

function readError(spec: Required<SourceSpec>, err: unknown): BerthError {
  return new BerthError('INVALID_INPUT', `input ${JSON.stringify(spec.name)}: reading it as ${spec.format} failed: ${duckMessage(err)}`, {
    field: 'input', got: spec.name,
  }, { cause: err });
}

/**
 * Batch inputs: a CSV, JSONL or Parquet file (or glob) read by DuckDB and handed out as column chunks
 * in input order, a few thousand rows at a time, so memory does not grow with the input.
 */
import path from 'node:path';
import { BerthError } from '../core/index.js';

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

/** Where the rows come from. */
export interface SourceSpec {
  /** a file path or a glob (`data/*.csv`) */
  path: string;
  /** default: from the extension */
  format?: InputFormat;
}

/** Options of {@link TableSource.chunks}. */
export interface ChunkOptions {
  /** rows to skip at the start (finished parts on resume); DuckDB skips them without handing them out */
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
export class TableSource {
  private constructor(
    readonly spec: Required<SourceSpec>,
    readonly columns: readonly SourceColumn[],
    private readonly instance: DuckInstance,
    private readonly connection: DuckConnection,
  ) {}

  /** Open an input and read its columns. Throws INVALID_ARGUMENT when it cannot be read. */
  static async open(spec: SourceSpec): Promise<TableSource> {
    const format = spec.format ?? inputFormatOf(spec.path);
    const full: Required<SourceSpec> = { path: spec.path, format };
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
      throw new BerthError('INVALID_ARGUMENT', `input ${JSON.stringify(spec.path)}: cannot read it as ${format}: ${duckMessage(err)}; check the path (globs like data/*.csv are allowed) and the format (--input-format)`, {
        field: 'input', got: spec.path,
      }, { cause: err });
    }
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

function readExpression(spec: Required<SourceSpec>, textColumns: readonly string[]): string {
  const file = sqlString(spec.path);
  switch (spec.format) {
    case 'csv': {
      const types = textColumns.length === 0 ? '' : `, types = {${textColumns.map((c) => `${sqlString(c)}: 'VARCHAR'`).join(', ')}}`;
      return `read_csv(${file}${types})`;
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
  return new BerthError('INVALID_INPUT', `input ${JSON.stringify(spec.path)}: reading it as ${spec.format} failed: ${duckMessage(err)}`, {
    field: 'input', got: spec.path,
  }, { cause: err });
}

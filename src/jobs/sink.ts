/**
 * Batch outputs: numbered parts in the job's work dir (each written to a temporary name, fsynced
 * and renamed, so a part that exists is whole), then one final file assembled from them and
 * renamed onto the output path. No timestamps go into any file: the same input gives the same bytes.
 */
import { open, readFile, rename, rm, readdir } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../core/index.js';
import {
  createNumericColumn, createStringColumn, readParquetFile, writeParquetFile, writeParquetStream,
  type Column, type Table,
} from '../data/index.js';
import type { RowError } from './mapping.js';
import type { Cell, CellKind } from './source.js';

/** The output formats. */
export const OUTPUT_FORMATS = ['csv', 'jsonl', 'parquet'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** One output column. */
export interface OutputColumn {
  name: string;
  kind: CellKind;
}

/** A row that could not be scored, as written to `<output>.rejected.jsonl`. */
export interface RejectedRow extends RowError {
  /** the row's key columns */
  key: Record<string, Cell>;
}

/** What a finished part holds (its `.meta.json`, written before the part itself). */
export interface PartMeta {
  rowsIn: number;
  rowsOut: number;
  rejected: number;
}

/**
 * Whether `--output` names a database table (`postgres://…?table=…`, `postgresql://…`,
 * `sqlite:file.db?table=…`) rather than a file; table-sink.ts parses it.
 */
export function isTableOutput(output: string): boolean {
  return /^(postgres|postgresql|sqlite):/i.test(output);
}

/**
 * The output format for a path: `--format` if given, else its extension. A table output's parts
 * are JSONL (they are read back into the table at the end), and it takes no `--format`.
 */
export function outputFormatOf(file: string, explicit?: string): OutputFormat {
  if (isTableOutput(file)) {
    if (explicit !== undefined) {
      throw new BerthError('INVALID_ARGUMENT', `--format: a table output (postgres://…, sqlite:…) has no file format, got --format ${JSON.stringify(explicit)}; leave --format out`, {
        field: 'format', expected: 'no --format with a table output', got: explicit,
      });
    }
    return 'jsonl';
  }
  if (explicit !== undefined) {
    if ((OUTPUT_FORMATS as readonly string[]).includes(explicit)) return explicit as OutputFormat;
    throw new BerthError('INVALID_ARGUMENT', `--format: expected one of ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(explicit)}`, {
      field: 'format', expected: [...OUTPUT_FORMATS], got: explicit,
    });
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  throw new BerthError('INVALID_ARGUMENT', `output ${JSON.stringify(file)}: cannot tell the format from the extension "${ext}"; name it .csv, .jsonl or .parquet, or pass --format csv|jsonl|parquet`, {
    field: 'output', expected: [...OUTPUT_FORMATS], got: ext,
  });
}

const partName = (k: number, format: OutputFormat): string => `part-${String(k).padStart(6, '0')}.${format}`;

/** File names of part `k` in a work dir. */
export function partFiles(dir: string, k: number, format: OutputFormat): { part: string; rejected: string; meta: string } {
  const base = path.join(dir, partName(k, format));
  return { part: base, rejected: `${base}.rejected.jsonl`, meta: `${base}.meta.json` };
}

/** Write `data` to `file` durably: a temporary name, fsync, rename, fsync of the folder. */
export async function writeFileDurably(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncDir(path.dirname(file));
}

async function syncDir(dir: string): Promise<void> {
  // not every platform lets a folder be fsynced; the rename is still atomic there
  const fh = await open(dir, 'r').catch(() => undefined);
  if (fh === undefined) return;
  try {
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding rows.

function csvCell(v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'string') return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  return String(v);
}

function jsonCell(v: Cell): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return JSON.stringify(v);
}

/** The CSV header line of the columns. */
export function csvHeader(columns: readonly OutputColumn[]): string {
  return columns.map((c) => csvCell(c.name)).join(',') + '\n';
}

/** Rows of `columns` (one value array each) as text in `format` (CSV without its header). */
function encodeText(format: 'csv' | 'jsonl', columns: readonly OutputColumn[], values: readonly Cell[][], rows: number): string {
  const lines: string[] = new Array<string>(rows);
  const keys = columns.map((c) => JSON.stringify(c.name) + ':');
  for (let r = 0; r < rows; r++) {
    let line = '';
    for (let c = 0; c < columns.length; c++) {
      const v = values[c]![r]!;
      if (format === 'csv') line += (c === 0 ? '' : ',') + csvCell(v);
      else line += (c === 0 ? '{' : ',') + keys[c]! + jsonCell(v);
    }
    lines[r] = format === 'csv' ? line : columns.length === 0 ? '{}' : line + '}';
  }
  return rows === 0 ? '' : lines.join('\n') + '\n';
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** Rows as a columnar table for our Parquet writer (booleans as text, integers exact to 2^53). */
export function toTable(columns: readonly OutputColumn[], values: readonly Cell[][], rows: number): Table {
  const out: Column[] = columns.map((col, c): Column => {
    const vs = values[c]!;
    if (col.kind === 'integer' || col.kind === 'float') {
      const nums = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        const v = vs[r]!;
        if (typeof v === 'bigint' && (v > MAX_EXACT || v < -MAX_EXACT)) {
          // our Parquet numbers are doubles: never round a key silently
          throw new BerthError('INVALID_INPUT', `column "${col.name}": the integer ${v} is beyond what a Parquet output keeps exactly (±2^53); write CSV or JSONL (--format csv), or cast the column to text in the query`, {
            field: col.name, expected: 'an integer within ±2^53 for a Parquet output', got: String(v),
          });
        }
        nums[r] = v === null ? NaN : typeof v === 'number' ? v : Number(v);
      }
      // the type follows the column's kind, never its values, so every part has the same schema
      return createNumericColumn(col.name, col.kind === 'integer' ? 'int64' : 'double', nums);
    }
    return createStringColumn(col.name, vs.slice(0, rows).map((v) => (v === null ? null : String(v))));
  });
  return { rows, columns: out };
}

/**
 * Write part `k`: its rejected rows (if any) and its meta first, the part file last, each durably.
 * The part file existing is the checkpoint that it, its side file and its meta are complete.
 */
export async function writePart(
  dir: string, k: number, format: OutputFormat, columns: readonly OutputColumn[], values: readonly Cell[][], rows: number,
  rejected: readonly RejectedRow[], meta: PartMeta,
): Promise<void> {
  const files = partFiles(dir, k, format);
  if (rejected.length > 0) await writeFileDurably(files.rejected, rejected.map(rejectedLine).join(''));
  else await rm(files.rejected, { force: true });
  await writeFileDurably(files.meta, JSON.stringify(meta) + '\n');
  if (format === 'parquet') {
    // the writer writes a temporary file, fsyncs and renames by itself
    await writeParquetFile(files.part, toTable(columns, values, rows));
  } else {
    await writeFileDurably(files.part, encodeText(format, columns, values, rows));
  }
}

function rejectedLine(r: RejectedRow): string {
  const key = Object.entries(r.key).map(([k, v]) => `${JSON.stringify(k)}:${jsonCell(v)}`).join(',');
  return `{"row":${r.row},"column":${JSON.stringify(r.column)},"reason":${JSON.stringify(r.reason)},"key":{${key}}}\n`;
}

/** How many parts from 0 on exist (the job resumes at the first missing one), with their metas. */
export async function finishedParts(dir: string, format: OutputFormat): Promise<PartMeta[]> {
  const names = new Set(await readdir(dir).catch(() => [] as string[]));
  const metas: PartMeta[] = [];
  for (let k = 0; ; k++) {
    const files = partFiles(dir, k, format);
    if (!names.has(path.basename(files.part))) return metas;
    metas.push(JSON.parse(await readFile(files.meta, 'utf8')) as PartMeta);
  }
}

/**
 * Assemble the final output from parts `0..count-1` into `<output>.tmp-<job>`, fsync it and rename
 * it onto `output`; the same for `<output>.rejected.jsonl` when any part has rejected rows (a stale
 * one from an earlier run is removed otherwise). The output is either absent or whole.
 */
export async function assembleOutput(
  dir: string, count: number, format: OutputFormat, columns: readonly OutputColumn[], output: string, jobId: string, anyRejected: boolean,
): Promise<void> {
  const tmp = `${output}.tmp-${jobId}`;
  const parts = Array.from({ length: count }, (_, k) => partFiles(dir, k, format));
  try {
    if (format === 'parquet') {
      // one part in memory at a time: each becomes the final file's next row groups
      async function* partTables(): AsyncGenerator<Table> {
        for (const p of parts) yield await readParquetFile(p.part);
      }
      await writeParquetStream(tmp, partTables(), {}, toTable(columns, columns.map(() => []), 0));
    } else {
      await concatenate(tmp, format === 'csv' ? csvHeader(columns) : '', parts.map((p) => p.part));
    }
    await rename(tmp, output);
    await syncDir(path.dirname(path.resolve(output)));
    const rejectedOut = `${output}.rejected.jsonl`;
    if (anyRejected) {
      const sides: string[] = [];
      for (const p of parts) if (await exists(p.rejected)) sides.push(p.rejected);
      await concatenate(`${rejectedOut}.tmp-${jobId}`, '', sides);
      await rename(`${rejectedOut}.tmp-${jobId}`, rejectedOut);
    } else {
      await rm(rejectedOut, { force: true });
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (fh === undefined) return false;
  await fh.close();
  return true;
}

async function concatenate(target: string, head: string, files: readonly string[]): Promise<void> {
  const fh = await open(target, 'w');
  try {
    if (head !== '') await fh.write(head);
    // one part in memory at a time
    for (const f of files) await fh.write(await readFile(f));
    await fh.sync();
  } finally {
    await fh.close();
  }
}

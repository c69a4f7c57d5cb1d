import { open, type FileHandle } from 'node:fs/promises';
import { BerthError } from '../../core/index.js';
import { describeNames, type Column, type ColumnType, type Table } from '../table.js';
import { FormatError, MAGIC, decodeFileMetaData, type FileMetaData } from './format.js';
import { FastColumnReader, NotFastError, chunkRange } from './fast-reader.js';
import { decodeColumnsGeneral, type GeneralColumn } from './general-reader.js';
import { CorruptDataError } from './rle.js';
import { SchemaError, targetType, topLevelFields, type FileField } from './schema.js';
import { ThriftError } from './thrift.js';

/** Options of {@link readParquetFile} and {@link decodeParquet}. */
export interface ParquetReadOptions {
  /** Read only these columns, in this order (default: every column). */
  columns?: readonly string[];
  /** The name error messages give the input (default: the path, or `Parquet input`). */
  source?: string;
}

/**
 * Read a Parquet file into a {@link Table}. Only the footer and the chunks of the columns asked for are
 * read from disk.
 *
 * Flat columns of any physical type are read (see {@link decodeParquet} for the type mapping). PLAIN and
 * dictionary-encoded columns (what Berth writes, and what DuckDB, pyarrow and Spark write by default:
 * data pages v1 or v2, uncompressed or snappy, gzip, brotli, zstd, lz4_raw) are decoded straight into
 * typed arrays; DELTA and BYTE_STREAM_SPLIT encodings, INT96, byte-array decimals and legacy LZ4 go
 * through hyparquet.
 *
 * @throws BerthError INVALID_ARGUMENT when the file is missing, is not Parquet, is truncated or damaged,
 *   when a requested column does not exist, or is nested (LIST, MAP, struct).
 * @example
 * const t = await readParquetFile('reference.parquet', { columns: ['age', 'region'] });
 */
export async function readParquetFile(path: string, opts: ParquetReadOptions = {}): Promise<Table> {
  const src = await FileSource.open(path);
  try {
    return await decodeSource(src, opts, opts.source ?? path);
  } finally {
    await src.close();
  }
}

/**
 * Decode a Parquet file held in memory into a {@link Table}. Type mapping: FLOAT, DOUBLE, DECIMAL,
 * FLOAT16 → double; BOOLEAN (0/1) and integers → int64 (exact to 2^53); DATE, TIMESTAMP (any unit; micro-
 * and nanoseconds become fractional ms), INT96 → timestamp_ms; STRING, ENUM, JSON, UUID → string; other
 * byte arrays → binary. The footer's key-value metadata becomes `table.metadata`.
 *
 * @throws BerthError INVALID_ARGUMENT as {@link readParquetFile}.
 */
export async function decodeParquet(input: Uint8Array, opts: ParquetReadOptions = {}): Promise<Table> {
  return decodeSource(new MemorySource(input), opts, opts.source ?? 'Parquet input');
}

/**
 * Read the same columns of several Parquet files into one table, rows in file order, each column
 * decoded straight into one array for all the files (no per-file tables to concatenate). Only for
 * files the fast path reads whole, every one holding every column asked for with the same type;
 * otherwise null, and the caller reads file by file.
 */
export async function readParquetFilesConcatenated(paths: readonly string[], columns: readonly string[]): Promise<Table | null> {
  const sources: { src: FileSource; meta: FileMetaData; dataEnd: number; fields: FileField[]; path: string }[] = [];
  try {
    for (const path of paths) {
      const src = await FileSource.open(path);
      const { meta, dataEnd } = await readFooter(src, path).catch(async (err: unknown) => {
        await src.close();
        throw err;
      });
      sources.push({ src, meta, dataEnd, fields: schemaFields(meta, path), path });
    }
    let rows = 0;
    for (const s of sources) rows += s.meta.rowGroups.reduce((n, g) => n + g.numRows, 0);
    if (rows > 2 ** 31 - 1) return null;
    const out: Column[] = [];
    for (const name of columns) {
      let target: ColumnType | null = null;
      let first: Extract<FileField, { kind: 'flat' }> | null = null;
      for (const s of sources) {
        const f = s.fields.find((x) => x.name === name);
        if (!f || f.kind !== 'flat') return null;
        const t = targetType(f.element);
        if (typeof t !== 'string' || (target !== null && t !== target)) return null;
        if (!s.meta.rowGroups.every((g) => FastColumnReader.accepts(g.columns[f.leaf]?.meta))) return null;
        target = t;
        first ??= f;
      }
      if (first === null || target === null) return null;
      let reader: FastColumnReader;
      try {
        reader = new FastColumnReader(first, target, rows);
      } catch (err) {
        if (err instanceof NotFastError) return null;
        throw err;
      }
      let rowBase = 0;
      for (const s of sources) {
        const f = s.fields.find((x) => x.name === name) as Extract<FileField, { kind: 'flat' }>;
        for (const [g, group] of s.meta.rowGroups.entries()) {
          const cm = group.columns[f.leaf]!.meta!;
          const [start, end] = chunkRange(cm);
          if (!(start >= 4 && end >= start && end <= s.dataEnd)) {
            throw damaged(s.path, `column ${JSON.stringify(name)}, row group ${g}: its bytes [${start}, ${end}) lie outside the data section [4, ${s.dataEnd})`);
          }
          try {
            reader.readChunk(await s.src.read(start, end), cm, rowBase, group.numRows);
          } catch (err) {
            if (err instanceof NotFastError) return null;
            if (err instanceof CorruptDataError) throw damaged(s.path, `column ${JSON.stringify(name)}, row group ${g}: ${err.message}`, err);
            throw err;
          }
          rowBase += group.numRows;
        }
      }
      out.push(reader.finish());
    }
    return { rows, columns: out };
  } finally {
    await Promise.all(sources.map((s) => s.src.close()));
  }
}

/** What {@link describeParquet} tells about a file. */
export interface ParquetDescription {
  rows: number;
  /** Every top-level column; `type` is null for one Berth cannot read, with the reason. */
  columns: { name: string; type: ColumnType | null; reason?: string }[];
  metadata: Record<string, string>;
}

/**
 * The columns (names and the types they read as), row count and key-value metadata of a Parquet file
 * (a path or the bytes), from its footer alone.
 *
 * @throws BerthError INVALID_ARGUMENT when the input is not a readable Parquet file.
 */
export async function describeParquet(input: string | Uint8Array, opts: { source?: string } = {}): Promise<ParquetDescription> {
  const src = typeof input === 'string' ? await FileSource.open(input) : new MemorySource(input);
  try {
    const source = opts.source ?? (typeof input === 'string' ? input : 'Parquet input');
    const { meta } = await readFooter(src, source);
    const columns = schemaFields(meta, source).map((f) => {
      if (f.kind === 'nested') return { name: f.name, type: null, reason: f.what };
      const t = targetType(f.element);
      return typeof t === 'string' ? { name: f.name, type: t } : { name: f.name, type: null, reason: t.unsupported };
    });
    return { rows: meta.rowGroups.reduce((n, g) => n + g.numRows, 0), columns, metadata: keyValues(meta) };
  } finally {
    await src.close();
  }
}

/** Random access to a Parquet file's bytes. */
interface ByteSource {
  readonly length: number;
  /** Bytes `[start, end)`; valid only until the next call (a file source reuses one buffer). */
  read(start: number, end: number): Promise<Buffer>;
  /** A fresh copy of bytes `[start, end)`, for hyparquet. */
  slice(start: number, end: number): Promise<ArrayBuffer>;
  close(): Promise<void>;
}

class MemorySource implements ByteSource {
  private readonly buf: Buffer;

  constructor(input: Uint8Array) {
    this.buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }

  get length(): number {
    return this.buf.length;
  }

  read(start: number, end: number): Promise<Buffer> {
    return Promise.resolve(this.buf.subarray(start, end));
  }

  slice(start: number, end: number): Promise<ArrayBuffer> {
    const b = this.buf;
    return Promise.resolve(b.buffer.slice(b.byteOffset + start, b.byteOffset + end) as ArrayBuffer);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A file read in place: each column chunk is read into one reused buffer and decoded from there, so the
 * only large memory touched is the columns themselves.
 */
class FileSource implements ByteSource {
  private scratch = Buffer.alloc(0);

  private constructor(
    private readonly fh: FileHandle,
    readonly length: number,
    private readonly path: string,
  ) {}

  static async open(path: string): Promise<FileSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new BerthError('INVALID_ARGUMENT', `cannot read Parquet file ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { file: path, field: 'path' }, { cause: err });
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BerthError('INVALID_ARGUMENT', `cannot read Parquet file ${path}: not a regular file`, { file: path, field: 'path' });
      return new FileSource(fh, st.size, path);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async read(start: number, end: number): Promise<Buffer> {
    const n = end - start;
    if (this.scratch.length < n) this.scratch = Buffer.allocUnsafe(Math.max(n, Math.min(2 * this.scratch.length, 64 << 20)));
    await this.readInto(this.scratch, start, n);
    return this.scratch.subarray(0, n);
  }

  async slice(start: number, end: number): Promise<ArrayBuffer> {
    const out = Buffer.alloc(end - start);
    await this.readInto(out, start, end - start);
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.length) as ArrayBuffer;
  }

  private async readInto(into: Buffer, start: number, n: number): Promise<void> {
    let filled = 0;
    while (filled < n) {
      const { bytesRead } = await this.fh.read(into, filled, n - filled, start + filled);
      if (bytesRead === 0) throw damaged(this.path, 'it ended while being read (was it truncated meanwhile?)');
      filled += bytesRead;
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Decode the selected columns of a Parquet source. */
async function decodeSource(src: ByteSource, opts: ParquetReadOptions, source: string): Promise<Table> {
  const { meta, dataEnd, footer } = await readFooter(src, source);
  const fields = schemaFields(meta, source);
  const names = fields.map((f) => f.name);
  const wanted = [...new Set(opts.columns ?? names)];
  const selected = wanted.map((name) => {
    const field = fields.find((f) => f.name === name);
    if (!field) {
      throw new BerthError('INVALID_ARGUMENT', `${source}: no column ${JSON.stringify(name)} (the file has ${describeNames(names)})`, {
        file: source,
        field: name,
        expected: names,
        got: name,
      });
    }
    if (field.kind === 'nested') {
      throw new BerthError(
        'INVALID_ARGUMENT',
        `${source}: column ${JSON.stringify(name)} is ${field.what}; Berth reads flat columns only (leave it out with the columns option)`,
        { file: source, field: name, expected: 'a flat column', got: field.what },
      );
    }
    const target = targetType(field.element);
    if (typeof target !== 'string') {
      throw new BerthError('INVALID_ARGUMENT', `${source}: column ${JSON.stringify(name)} holds ${target.unsupported}, which Berth cannot read`, {
        file: source,
        field: name,
        got: target.unsupported,
      });
    }
    return { field, target };
  });

  const leaves = fields.reduce((n, f) => n + (f.kind === 'flat' ? 1 : f.leaves), 0);
  let rows = 0;
  for (const [g, group] of meta.rowGroups.entries()) {
    if (!Number.isSafeInteger(group.numRows) || group.numRows < 0) throw damaged(source, `row group ${g} claims ${group.numRows} rows`);
    if (group.columns.length < leaves) throw damaged(source, `row group ${g} has ${group.columns.length} column chunks for ${leaves} columns`);
    rows += group.numRows;
  }
  if (rows !== meta.numRows) throw damaged(source, `its row groups hold ${rows} rows but the footer says ${meta.numRows}`);
  if (rows > 2 ** 31 - 1) throw damaged(source, `it claims ${rows} rows`);

  const columns = new Map<string, Column>();
  const general: GeneralColumn[] = [];
  for (const { field, target } of selected) {
    const flat = field as Extract<FileField, { kind: 'flat' }>;
    const column = await readFast(src, meta, flat, target, rows, dataEnd, source);
    if (column) columns.set(field.name, column);
    else general.push({ name: field.name, target });
  }
  if (general.length > 0) {
    let decoded: Column[];
    try {
      decoded = await decodeColumnsGeneral({ byteLength: src.length, slice: (s, e) => src.slice(s, e ?? src.length) }, footer, general, rows);
    } catch (err) {
      const which = general.map((g) => JSON.stringify(g.name)).join(', ');
      throw new BerthError('INVALID_ARGUMENT', `${source}: cannot decode column${general.length > 1 ? 's' : ''} ${which}: ${(err as Error).message}`, {
        file: source,
        field: general[0]!.name,
      }, { cause: err });
    }
    for (const c of decoded) columns.set(c.name, c);
  }
  const table: Table = { rows, columns: selected.map(({ field }) => columns.get(field.name)!) };
  const kv = keyValues(meta);
  if (Object.keys(kv).length > 0) table.metadata = kv;
  return table;
}

/** A column through the fast path, or null when some chunk needs the general reader. */
async function readFast(src: ByteSource, meta: FileMetaData, field: Extract<FileField, { kind: 'flat' }>, target: ColumnType, rows: number, dataEnd: number, source: string): Promise<Column | null> {
  if (!meta.rowGroups.every((g) => FastColumnReader.accepts(g.columns[field.leaf]?.meta))) return null;
  let reader: FastColumnReader;
  try {
    reader = new FastColumnReader(field, target, rows);
  } catch (err) {
    if (err instanceof NotFastError) return null;
    if (err instanceof RangeError) {
      throw new BerthError('INVALID_ARGUMENT', `${source}: ${rows} rows of column ${JSON.stringify(field.name)} do not fit in memory (is the file damaged?)`, { file: source, field: field.name, got: rows }, { cause: err });
    }
    throw err;
  }
  let rowBase = 0;
  for (const [g, group] of meta.rowGroups.entries()) {
    const cm = group.columns[field.leaf]!.meta!;
    const [start, end] = chunkRange(cm);
    if (!(start >= 4 && end >= start && end <= dataEnd)) {
      throw damaged(source, `column ${JSON.stringify(field.name)}, row group ${g}: its bytes [${start}, ${end}) lie outside the data section [4, ${dataEnd})`);
    }
    try {
      reader.readChunk(await src.read(start, end), cm, rowBase, group.numRows);
    } catch (err) {
      if (err instanceof NotFastError) return null;
      if (err instanceof CorruptDataError) throw damaged(source, `column ${JSON.stringify(field.name)}, row group ${g}: ${err.message}`, err);
      throw err;
    }
    rowBase += group.numRows;
  }
  return reader.finish();
}

function schemaFields(meta: FileMetaData, source: string): FileField[] {
  try {
    return topLevelFields(meta.schema);
  } catch (err) {
    if (err instanceof SchemaError) throw damaged(source, `its schema is malformed (${err.message})`, err);
    throw err;
  }
}

function keyValues(meta: FileMetaData): Record<string, string> {
  return Object.fromEntries(meta.keyValueMetadata.filter((e) => e.value !== undefined).map((e) => [e.key, e.value!]));
}

/**
 * Check the magic bytes and footer length, and decode the footer. `footer` is the footer with the
 * 8 bytes after it (length, magic), as hyparquet takes it.
 */
async function readFooter(src: ByteSource, source: string): Promise<{ meta: FileMetaData; dataEnd: number; footer: Buffer }> {
  const len = src.length;
  const head = Buffer.from(await src.read(0, Math.min(4, len)));
  if (head.length < 4 || !head.equals(MAGIC)) {
    throw new BerthError('INVALID_ARGUMENT', `${source} is not a Parquet file: it does not start with the magic bytes "PAR1"`, {
      file: source,
      expected: 'PAR1',
      got: head.toString('latin1'),
    });
  }
  if (len < 12) {
    throw new BerthError('INVALID_ARGUMENT', `${source} is truncated: a Parquet file has at least 12 bytes, this one ${len}`, { file: source, expected: '>= 12 bytes', got: len });
  }
  const tail = Buffer.from(await src.read(len - 8, len));
  const magic = tail.subarray(4).toString('latin1');
  if (magic === 'PARE') {
    throw new BerthError('INVALID_ARGUMENT', `${source} is an encrypted Parquet file, which Berth cannot read`, { file: source });
  }
  if (magic !== 'PAR1') {
    throw new BerthError('INVALID_ARGUMENT', `${source} is truncated or damaged: it starts like a Parquet file but does not end with "PAR1"`, {
      file: source,
      expected: 'PAR1',
      got: magic,
    });
  }
  const footerLength = tail.readUInt32LE(0);
  const footerStart = len - 8 - footerLength;
  if (footerStart < 4) {
    throw damaged(source, `its footer length (${footerLength} bytes) is larger than the file (${len} bytes); the file is probably truncated`);
  }
  const footer = Buffer.from(await src.read(footerStart, len));
  try {
    return { meta: decodeFileMetaData(footer, 0, footerLength), dataEnd: footerStart, footer };
  } catch (err) {
    if (err instanceof ThriftError || err instanceof FormatError) throw damaged(source, `its footer cannot be decoded (${err.message})`, err);
    throw err;
  }
}

function damaged(source: string, why: string, cause?: unknown): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${source} is not a valid Parquet file: ${why}`, { file: source }, cause === undefined ? undefined : { cause });
}

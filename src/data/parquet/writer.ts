import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../../core/index.js';
import { validateTable, type Column, type NumericColumn, type Table } from '../table.js';
import {
  Codec,
  ConvertedType,
  Encoding,
  Logical,
  MAGIC,
  PageType,
  PhysicalType,
  Repetition,
  encodeFileMetaData,
  encodePageHeader,
  type ColumnChunk,
  type ColumnMetaData,
  type RowGroup,
  type SchemaElement,
  type Statistics,
} from './format.js';
import { ByteSink, bitWidthFor, encodeHybrid } from './rle.js';

/** Options of {@link encodeParquet} and {@link writeParquetFile}. */
export interface ParquetWriteOptions {
  /** Rows per row group (default 1,048,576). */
  rowGroupRows?: number;
  /** Rows per data page within a row group (default 65,536). */
  pageRows?: number;
  /** Key-value metadata for the footer, over `table.metadata`. */
  metadata?: Record<string, string>;
}

const DEFAULT_ROW_GROUP_ROWS = 1 << 20;
const DEFAULT_PAGE_ROWS = 1 << 16;
const CREATED_BY = 'berth';
/** Longest string kept as a min/max statistic (longer ones are left out rather than truncated). */
const MAX_STAT_BYTES = 64;

/**
 * Encode a table as a Parquet file: a flat schema of OPTIONAL columns, UNCOMPRESSED pages, definition
 * levels in the RLE hybrid encoding (NaN / code -1 / null are nulls).
 *
 * | column       | Parquet                                                                          |
 * |--------------|----------------------------------------------------------------------------------|
 * | double       | DOUBLE, PLAIN                                                                    |
 * | int64        | INT64, PLAIN                                                                     |
 * | timestamp_ms | INT64 TIMESTAMP(MILLIS, UTC) (+ TIMESTAMP_MILLIS), PLAIN; fractions of ms floored  |
 * | string       | BYTE_ARRAY STRING (+ UTF8), dictionary page (PLAIN) + RLE_DICTIONARY data pages  |
 * | binary       | BYTE_ARRAY, PLAIN                                                                |
 *
 * Column statistics carry null_count and, where meaningful, min_value/max_value.
 *
 * @throws BerthError INVALID_ARGUMENT for a malformed table or a non-integer int64 value.
 */
export function encodeParquet(table: Table, opts: ParquetWriteOptions = {}): Buffer {
  const parts: Uint8Array[] = [];
  for (const batch of encodeBatches(table, opts, false)) parts.push(...batch);
  return Buffer.concat(parts);
}

/**
 * Write a table as a Parquet file atomically: a temporary file in the same folder is written and
 * fsynced, then renamed over `file`, then the folder is fsynced. Missing folders are created. The
 * temporary name starts with `.` and ends in `.tmp`, so globs like `*.parquet` never see it.
 *
 * @example
 * await writeParquetFile('logs/deployment=x/hour=2024-05-01T10/part-1.parquet', table, { metadata: { 'berth.format': '1' } });
 */
export async function writeParquetFile(file: string, table: Table, opts: ParquetWriteOptions = {}): Promise<void> {
  // check what can be checked before touching the disk
  validateTable(table);
  checkOptions(opts);
  // each column chunk is written as soon as it is encoded, so its scratch memory serves the next one
  await writeAtomically(file, async (fh) => {
    for (const batch of encodeBatches(table, opts, true)) await writeAll(fh, batch);
  });
}

/**
 * `write` into a temporary file beside `file` (its name starts with `.` and ends in `.tmp`, so
 * globs like `*.parquet` never see it), fsync, rename over `file`, fsync the folder. Missing
 * folders are created; on failure the temporary file is removed.
 */
async function writeAtomically(file: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    try {
      await write(fh);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
}

/** Write buffers in order (writev takes at most 1024 at a time and may write less than asked). */
async function writeAll(fh: FileHandle, parts: Uint8Array[]): Promise<void> {
  for (let i = 0; i < parts.length; i += 1024) {
    const batch = parts.slice(i, i + 1024);
    const total = batch.reduce((n, p) => n + p.byteLength, 0);
    let written = 0;
    while (written < total) {
      const res = await fh.writev(written === 0 ? batch : remaining(batch, written));
      if (res.bytesWritten === 0) throw new Error('write made no progress');
      written += res.bytesWritten;
    }
  }
}

/** The buffers still to write after `written` bytes of `batch`. */
function remaining(batch: Uint8Array[], written: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = written;
  for (const b of batch) {
    if (skip >= b.byteLength) {
      skip -= b.byteLength;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

async function syncDir(dir: string): Promise<void> {
  let dh;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch (err) {
    // some platforms cannot fsync a directory; the rename is still atomic there
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await dh?.close();
  }
}

/**
 * The file as batches of buffers (page headers, levels, values; then the footer), one batch per column
 * chunk. Numeric values without nulls are views on the table's own memory. With `reuse`, scratch memory
 * (dense values, int64 words, dictionary indices) is recycled once the caller asks for the next batch,
 * so a batch must be consumed (written) before then.
 */
function* encodeBatches(table: Table, opts: ParquetWriteOptions, reuse: boolean): Generator<Uint8Array[], void, void> {
  validateTable(table);
  const { groupRows, pageRows } = checkOptions(opts);
  const out = new Output();
  out.push(MAGIC);
  const arena = new Arena(reuse);
  const rowGroups: RowGroup[] = [];
  yield* encodeRowGroups(table, out, arena, groupRows, pageRows, rowGroups);
  yield encodeTail(out, table, table.rows, rowGroups, opts);
}

/** A table's rows as row groups appended to `out`, one batch of buffers per column chunk. */
function* encodeRowGroups(table: Table, out: Output, arena: Arena, groupRows: number, pageRows: number, rowGroups: RowGroup[]): Generator<Uint8Array[], void, void> {
  const encoders = table.columns.map((c) => new ColumnEncoder(c));
  for (let start = 0; start < table.rows; start += groupRows) {
    const end = Math.min(table.rows, start + groupRows);
    const fileOffset = out.offset;
    const columns: ColumnChunk[] = [];
    for (const e of encoders) {
      columns.push(e.writeChunk(out, start, end, pageRows, arena));
      yield out.take();
      arena.reset();
    }
    const size = columns.reduce((n, c) => n + (c.meta?.totalCompressedSize ?? 0), 0);
    rowGroups.push({ columns, totalByteSize: size, numRows: end - start, fileOffset, totalCompressedSize: size, ordinal: rowGroups.length });
  }
}

/** The footer (schema from `schemaOf`, every row group), its length and the closing magic. */
function encodeTail(out: Output, schemaOf: Table, rows: number, rowGroups: RowGroup[], opts: ParquetWriteOptions): Uint8Array[] {
  const keyValue = { ...(schemaOf.metadata ?? {}), ...(opts.metadata ?? {}) };
  const schema: SchemaElement[] = [{ name: 'schema', numChildren: schemaOf.columns.length }, ...schemaOf.columns.map(schemaElementFor)];
  const footer = encodeFileMetaData({
    version: 2,
    schema,
    numRows: rows,
    rowGroups,
    keyValueMetadata: Object.entries(keyValue).map(([key, value]) => ({ key, value: String(value) })),
    createdBy: CREATED_BY,
  });
  out.push(footer);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length, 0);
  out.push(len);
  out.push(MAGIC);
  return out.take();
}

/**
 * Write tables that arrive one after another as the row groups of one Parquet file, holding one
 * table at a time: memory follows the largest table, not the file. Every table must have the
 * first one's columns (names and types, in order). Atomic like {@link writeParquetFile}: a
 * temporary file, fsynced, renamed over `file`. An empty stream needs `empty`, the schema to write.
 *
 * @example
 * await writeParquetStream('scored.parquet', readParts(), {}); // parts of a batch job, in order
 */
export async function writeParquetStream(file: string, tables: AsyncIterable<Table>, opts: ParquetWriteOptions = {}, empty?: Table): Promise<number> {
  const { groupRows, pageRows } = checkOptions(opts);
  let rows = 0;
  await writeAtomically(file, async (fh) => {
    const out = new Output();
    out.push(MAGIC);
    const arena = new Arena(true);
    const rowGroups: RowGroup[] = [];
    let first: Table | undefined;
    for await (const table of tables) {
      validateTable(table);
      if (first === undefined) first = table;
      else sameColumns(first, table);
      for (const batch of encodeRowGroups(table, out, arena, groupRows, pageRows, rowGroups)) await writeAll(fh, batch);
      rows += table.rows;
    }
    const schemaOf = first ?? empty;
    if (schemaOf === undefined) throw new BerthError('INVALID_ARGUMENT', 'writeParquetStream: no tables, and no empty table to take the schema from', { field: 'tables' });
    await writeAll(fh, encodeTail(out, schemaOf, rows, rowGroups, opts));
  });
  return rows;
}

function sameColumns(a: Table, b: Table): void {
  const describe = (t: Table): string => t.columns.map((c) => `${c.name}:${c.type}`).join(', ');
  if (describe(a) !== describe(b)) {
    throw new BerthError('INVALID_ARGUMENT', `writeParquetStream: every table needs the first one's columns (${describe(a)}), got (${describe(b)})`, { field: 'tables' });
  }
}

function checkOptions(opts: ParquetWriteOptions): { groupRows: number; pageRows: number } {
  return {
    groupRows: positiveInteger(opts.rowGroupRows, DEFAULT_ROW_GROUP_ROWS, 'rowGroupRows'),
    pageRows: positiveInteger(opts.pageRows, DEFAULT_PAGE_ROWS, 'pageRows'),
  };
}

function positiveInteger(v: number | undefined, fallback: number, field: string): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) {
    throw new BerthError('INVALID_ARGUMENT', `Parquet option ${field} must be a positive integer, got ${v}`, { field, expected: 'positive integer', got: v });
  }
  return v;
}

/** The buffers not yet handed out, and the file offset the next one lands at. */
class Output {
  private parts: Uint8Array[] = [];
  offset = 0;

  push(b: Uint8Array): void {
    this.parts.push(b);
    this.offset += b.byteLength;
  }

  /** The buffers pushed since the last take. */
  take(): Uint8Array[] {
    const parts = this.parts;
    this.parts = [];
    return parts;
  }
}

/**
 * Scratch memory for one column chunk: a bump allocator over one buffer that `reset` recycles (fresh
 * memory is slow to touch the first time). Without reuse every allocation is new.
 */
class Arena {
  private buf = new ArrayBuffer(0);
  private used = 0;

  constructor(private readonly reuse: boolean) {}

  f64(n: number): Float64Array {
    const [buf, at] = this.region(n * 8);
    return new Float64Array(buf, at, n);
  }

  i32(n: number): Int32Array {
    const [buf, at] = this.region(n * 4);
    return new Int32Array(buf, at, n);
  }

  /** Zeroed bytes. */
  u8(n: number): Uint8Array {
    const [buf, at] = this.region(n);
    const view = new Uint8Array(buf, at, n);
    if (this.reuse) view.fill(0);
    return view;
  }

  /** Recycle everything handed out so far. */
  reset(): void {
    this.used = 0;
  }

  /** An 8-byte-aligned region of `size` bytes: its buffer and offset. */
  private region(size: number): [ArrayBuffer, number] {
    if (!this.reuse) return [new ArrayBuffer(size), 0];
    let at = (this.used + 7) & ~7;
    if (at + size > this.buf.byteLength) {
      // regions already handed out keep the old buffer alive until their batch is written
      this.buf = new ArrayBuffer(Math.max(size, 2 * this.buf.byteLength, 1 << 20));
      at = 0;
    }
    this.used = at + size;
    return [this.buf, at];
  }
}

function schemaElementFor(c: Column): SchemaElement {
  const base = { name: c.name, repetition: Repetition.OPTIONAL };
  switch (c.type) {
    case 'double':
      return { ...base, type: PhysicalType.DOUBLE };
    case 'int64':
      return { ...base, type: PhysicalType.INT64 };
    case 'timestamp_ms':
      return {
        ...base,
        type: PhysicalType.INT64,
        convertedType: ConvertedType.TIMESTAMP_MILLIS,
        logicalType: { kind: Logical.TIMESTAMP, isAdjustedToUTC: true, unit: 'MILLIS' },
      };
    case 'string':
      return { ...base, type: PhysicalType.BYTE_ARRAY, convertedType: ConvertedType.UTF8, logicalType: { kind: Logical.STRING } };
    case 'binary':
      return { ...base, type: PhysicalType.BYTE_ARRAY };
  }
}

/** Writes one column's chunks, row group by row group. */
class ColumnEncoder {
  constructor(private readonly column: Column) {}

  writeChunk(out: Output, start: number, end: number, pageRows: number, arena: Arena): ColumnChunk {
    const chunkStart = out.offset;
    const c = this.column;
    let meta: ColumnMetaData;
    if (c.type === 'string') meta = this.writeStrings(out, c.codes, c.dictionary, start, end, pageRows, arena);
    else if (c.type === 'binary') meta = this.writeBinary(out, c.values, start, end, pageRows, arena);
    else meta = this.writeNumbers(out, c, start, end, pageRows, arena);
    meta.totalUncompressedSize = meta.totalCompressedSize = out.offset - chunkStart;
    return { fileOffset: chunkStart, meta };
  }

  private writeNumbers(out: Output, c: NumericColumn, start: number, end: number, pageRows: number, arena: Arena): ColumnMetaData {
    const values = c.values;
    const isDouble = c.type === 'double';
    let min = Infinity;
    let max = -Infinity;
    let nulls = 0;
    let dataPageOffset = -1;
    for (let p = start; p < end; p += pageRows) {
      const q = Math.min(end, p + pageRows);
      const n = q - p;
      let pageNulls = 0;
      for (let i = p; i < q; i++) {
        const v = values[i]!;
        if (v !== v) pageNulls++;
        else {
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
      nulls += pageNulls;
      let dense: Float64Array = values.subarray(p, q);
      let levels: Uint8Array;
      if (pageNulls === 0) levels = allDefined(n);
      else {
        const defined = arena.u8(n);
        dense = arena.f64(n - pageNulls);
        let j = 0;
        for (let i = 0; i < n; i++) {
          const v = values[p + i]!;
          if (v === v) {
            defined[i] = 1;
            dense[j++] = v;
          }
        }
        levels = encodeLevels(defined, n);
      }
      const body = isDouble ? littleEndian(new Uint8Array(dense.buffer, dense.byteOffset, dense.byteLength)) : int64Bytes(dense, c, p, values, arena.i32(2 * dense.length));
      const at = writeDataPage(out, n, Encoding.PLAIN, levels, [body]);
      if (dataPageOffset < 0) dataPageOffset = at;
    }
    const stats: Statistics = { nullCount: nulls };
    if (min <= max) {
      if (isDouble) {
        // the spec's rule for zeros: a zero minimum is written -0, a zero maximum +0
        stats.minValue = doubleBytes(min === 0 ? -0 : min);
        stats.maxValue = doubleBytes(max === 0 ? 0 : max);
      } else {
        const lo = c.type === 'timestamp_ms' ? Math.floor(min) : min;
        const hi = c.type === 'timestamp_ms' ? Math.floor(max) : max;
        stats.minValue = int64Bytes(Float64Array.of(lo), c, 0, null, new Int32Array(2));
        stats.maxValue = int64Bytes(Float64Array.of(hi), c, 0, null, new Int32Array(2));
      }
    }
    return chunkMeta(isDouble ? PhysicalType.DOUBLE : PhysicalType.INT64, [Encoding.PLAIN, Encoding.RLE], c.name, end - start, dataPageOffset, stats);
  }

  private writeStrings(out: Output, codes: Int32Array, dictionary: string[], start: number, end: number, pageRows: number, arena: Arena): ColumnMetaData {
    // a dictionary of just the strings this row group uses, in order of first use
    const local = arena.i32(dictionary.length).fill(-1);
    const used = arena.i32(Math.min(dictionary.length, end - start));
    let distinct = 0;
    let nulls = 0;
    let bytes = 0;
    for (let i = start; i < end; i++) {
      const code = codes[i]!;
      if (code < 0) nulls++;
      else if (local[code] === -1) {
        local[code] = distinct;
        used[distinct++] = code;
        bytes += 4 + Buffer.byteLength(dictionary[code]!, 'utf8');
      }
    }
    const stats: Statistics = { nullCount: nulls };
    if (distinct === 0) {
      // every value is null: one plain page per page range, no dictionary
      let dataPageOffset = -1;
      for (let p = start; p < end; p += pageRows) {
        const n = Math.min(end, p + pageRows) - p;
        const at = writeDataPage(out, n, Encoding.PLAIN, encodeLevels(arena.u8(n), n), []);
        if (dataPageOffset < 0) dataPageOffset = at;
      }
      return chunkMeta(PhysicalType.BYTE_ARRAY, [Encoding.PLAIN, Encoding.RLE], this.column.name, end - start, dataPageOffset, stats);
    }
    // dictionary page: PLAIN byte arrays (4-byte length, UTF-8 bytes); min/max compare the bytes
    const dictBytes = Buffer.allocUnsafe(bytes);
    let at = 0;
    let minAt = -1;
    let minEnd = -1;
    let maxAt = -1;
    let maxEnd = -1;
    for (let k = 0; k < distinct; k++) {
      const len = dictBytes.write(dictionary[used[k]!]!, at + 4, 'utf8');
      dictBytes.writeUInt32LE(len, at);
      const s0 = at + 4;
      const e0 = s0 + len;
      // source.compare(target, targetStart, targetEnd, sourceStart, sourceEnd) < 0: this entry sorts first
      if (minAt < 0 || dictBytes.compare(dictBytes, minAt, minEnd, s0, e0) < 0) [minAt, minEnd] = [s0, e0];
      if (maxAt < 0 || dictBytes.compare(dictBytes, maxAt, maxEnd, s0, e0) > 0) [maxAt, maxEnd] = [s0, e0];
      at = e0;
    }
    const dictionaryPageOffset = out.offset;
    const dictHeader = encodePageHeader({
      type: PageType.DICTIONARY_PAGE,
      uncompressedSize: dictBytes.length,
      compressedSize: dictBytes.length,
      numValues: distinct,
      encoding: Encoding.PLAIN,
    });
    out.push(dictHeader);
    out.push(dictBytes);
    const width = bitWidthFor(distinct - 1);
    let dataPageOffset = -1;
    for (let p = start; p < end; p += pageRows) {
      const q = Math.min(end, p + pageRows);
      const n = q - p;
      const indices = arena.i32(n);
      let k = 0;
      let pageNulls = 0;
      const defined = arena.u8(n);
      for (let i = p; i < q; i++) {
        const code = codes[i]!;
        if (code < 0) pageNulls++;
        else {
          defined[i - p] = 1;
          indices[k++] = local[code]!;
        }
      }
      const levels = pageNulls === 0 ? allDefined(n) : encodeLevels(defined, n);
      const sink = new ByteSink(16 + ((k * width) >> 3));
      sink.byte(width);
      const body = encodeHybrid(indices, k, width, sink);
      const pageAt = writeDataPage(out, n, Encoding.RLE_DICTIONARY, levels, [body]);
      if (dataPageOffset < 0) dataPageOffset = pageAt;
    }
    if (minEnd - minAt <= MAX_STAT_BYTES && maxEnd - maxAt <= MAX_STAT_BYTES) {
      stats.minValue = Buffer.from(dictBytes.subarray(minAt, minEnd));
      stats.maxValue = Buffer.from(dictBytes.subarray(maxAt, maxEnd));
    }
    const meta = chunkMeta(PhysicalType.BYTE_ARRAY, [Encoding.PLAIN, Encoding.RLE, Encoding.RLE_DICTIONARY], this.column.name, end - start, dataPageOffset, stats);
    meta.dictionaryPageOffset = dictionaryPageOffset;
    return meta;
  }

  private writeBinary(out: Output, values: (Uint8Array | null)[], start: number, end: number, pageRows: number, arena: Arena): ColumnMetaData {
    let nulls = 0;
    let dataPageOffset = -1;
    for (let p = start; p < end; p += pageRows) {
      const q = Math.min(end, p + pageRows);
      const n = q - p;
      const defined = arena.u8(n);
      let pageNulls = 0;
      let size = 0;
      for (let i = p; i < q; i++) {
        const v = values[i];
        if (v === null || v === undefined) {
          pageNulls++;
          continue;
        }
        if (!(v instanceof Uint8Array)) {
          throw new BerthError('INVALID_ARGUMENT', `column "${this.column.name}": row ${i} of a binary column must be a Uint8Array or null`, {
            field: this.column.name,
            expected: 'Uint8Array | null',
            got: typeof v,
          });
        }
        defined[i - p] = 1;
        size += 4 + v.byteLength;
      }
      // PLAIN byte arrays: 4-byte length, then the bytes
      const page = Buffer.allocUnsafe(size);
      let at = 0;
      for (let i = p; i < q; i++) {
        const v = values[i];
        if (!v) continue;
        page.writeUInt32LE(v.byteLength, at);
        page.set(v, at + 4);
        at += 4 + v.byteLength;
      }
      const body = [page];
      nulls += pageNulls;
      const levels = pageNulls === 0 ? allDefined(n) : encodeLevels(defined, n);
      const pageAt = writeDataPage(out, n, Encoding.PLAIN, levels, body);
      if (dataPageOffset < 0) dataPageOffset = pageAt;
    }
    return chunkMeta(PhysicalType.BYTE_ARRAY, [Encoding.PLAIN, Encoding.RLE], this.column.name, end - start, dataPageOffset, { nullCount: nulls });
  }
}

function chunkMeta(type: number, encodings: number[], name: string, numValues: number, dataPageOffset: number, statistics: Statistics): ColumnMetaData {
  return {
    type,
    encodings,
    path: [name],
    codec: Codec.UNCOMPRESSED,
    numValues,
    totalUncompressedSize: 0,
    totalCompressedSize: 0,
    dataPageOffset,
    statistics,
  };
}

/** Write a v1 data page (header, then levels and values); returns the header's offset. */
function writeDataPage(out: Output, numValues: number, encoding: number, levels: Uint8Array, body: Uint8Array[]): number {
  const size = levels.byteLength + body.reduce((n, b) => n + b.byteLength, 0);
  const at = out.offset;
  out.push(
    encodePageHeader({
      type: PageType.DATA_PAGE,
      uncompressedSize: size,
      compressedSize: size,
      numValues,
      encoding,
      definitionLevelEncoding: Encoding.RLE,
      repetitionLevelEncoding: Encoding.RLE,
    }),
  );
  out.push(levels);
  for (const b of body) out.push(b);
  return at;
}

/** Definition levels (4-byte length + hybrid runs, bit width 1) for `n` values all present. */
function allDefined(n: number): Uint8Array {
  const sink = new ByteSink(16);
  sink.byte(0);
  sink.byte(0);
  sink.byte(0);
  sink.byte(0);
  if (n > 0) {
    sink.varint(n * 2);
    sink.byte(1);
  }
  return withLength(sink);
}

/** Definition levels for a 0/1 array. */
function encodeLevels(defined: Uint8Array, n: number): Uint8Array {
  const sink = new ByteSink(8 + (n >> 3));
  sink.byte(0);
  sink.byte(0);
  sink.byte(0);
  sink.byte(0);
  encodeHybrid(defined, n, 1, sink);
  return withLength(sink);
}

function withLength(sink: ByteSink): Uint8Array {
  const bytes = sink.bytes();
  const len = bytes.length - 4;
  bytes[0] = len & 0xff;
  bytes[1] = (len >>> 8) & 0xff;
  bytes[2] = (len >>> 16) & 0xff;
  bytes[3] = (len >>> 24) & 0xff;
  return bytes;
}

function doubleBytes(v: number): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(v, 0);
  return b;
}

const TWO_32 = 2 ** 32;
const TWO_63 = 2 ** 63;

/**
 * Little-endian INT64 bytes of numbers (timestamps floored to whole ms), written into `words`.
 * `rowBase`/`source` only serve the error message for a value that is not an integer.
 */
function int64Bytes(dense: Float64Array, c: NumericColumn, rowBase: number, source: Float64Array | null, words: Int32Array): Uint8Array {
  const floor = c.type === 'timestamp_ms';
  for (let i = 0; i < dense.length; i++) {
    let v = dense[i]!;
    if (floor) v = Math.floor(v);
    if (!Number.isInteger(v) || v < -TWO_63 || v >= TWO_63) {
      const row = source ? findRow(source, rowBase, dense[i]!) : rowBase;
      throw new BerthError(
        'INVALID_ARGUMENT',
        `column "${c.name}" (${c.type}): row ${row} holds ${dense[i]}, which is not an integer in the int64 range; use a double column for fractional values`,
        { field: c.name, expected: 'an integer', got: dense[i] },
      );
    }
    const hi = Math.floor(v / TWO_32);
    words[2 * i] = v - hi * TWO_32;
    words[2 * i + 1] = hi;
  }
  if (!LITTLE_ENDIAN) {
    // each word pair is (low, high); make every word little-endian
    const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
    for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
    return bytes;
  }
  return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** 8-byte values as little-endian bytes (a copy, swapped, on a big-endian host). */
function littleEndian(bytes: Uint8Array): Uint8Array {
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i += 8) out.subarray(i, i + 8).reverse();
  return out;
}

function findRow(values: Float64Array, from: number, v: number): number {
  for (let i = from; i < values.length; i++) if (Object.is(values[i], v)) return i;
  return from;
}

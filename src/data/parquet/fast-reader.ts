/**
 * The fast path of the Parquet reader: flat columns in PLAIN or dictionary encoding, data pages v1 or
 * v2, uncompressed (what Berth writes) or compressed with snappy, gzip, brotli, zstd or lz4_raw (what
 * DuckDB, pyarrow and Spark write by default), decoded straight into typed arrays. Uncompressed PLAIN
 * doubles are one memory copy per page; nothing allocates per value except strings new to the
 * dictionary. Anything else (DELTA or BYTE_STREAM_SPLIT encodings, INT96, byte-array decimals…) raises
 * {@link NotFastError} and the column goes to the general reader (hyparquet).
 */
import { endianness } from 'node:os';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { compressors } from 'hyparquet-compressors';
import { ByteDictionary } from '../byte-dictionary.js';
import type { Column, ColumnType } from '../table.js';
import { Codec, Encoding, PageType, PhysicalType, decodePageHeader, type ColumnMetaData, type PageHeader } from './format.js';
import { CorruptDataError, decodeHybrid } from './rle.js';
import { numericConversion, type FileField, type NumericConversion } from './schema.js';

/** The column uses something the fast path does not decode; the general reader takes it. */
export class NotFastError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'NotFastError';
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';
const FAST_CODECS = new Set<number>([Codec.UNCOMPRESSED, Codec.SNAPPY, Codec.GZIP, Codec.BROTLI, Codec.ZSTD, Codec.LZ4_RAW]);

type Flat = Extract<FileField, { kind: 'flat' }>;

/** Where decoded values go, per target type. */
type Sink =
  | { kind: 'number'; values: Float64Array; conv: NumericConversion }
  | { kind: 'string'; codes: Int32Array; dictionary: ByteDictionary }
  | { kind: 'binary'; values: (Uint8Array | null)[] };

/** A chunk's dictionary, already in the sink's terms. */
type Dictionary = { kind: 'number'; values: Float64Array } | { kind: 'string'; codes: Int32Array } | { kind: 'binary'; values: Uint8Array[] };

/** The byte range `[start, end)` of a column chunk in the file (dictionary page first when there is one). */
export function chunkRange(cm: ColumnMetaData): [number, number] {
  const dict = cm.dictionaryPageOffset;
  const start = dict !== undefined && dict > 0 && dict < cm.dataPageOffset ? dict : cm.dataPageOffset;
  return [start, start + cm.totalCompressedSize];
}

/**
 * Decodes one flat column, chunk by chunk (one per row group), into a column of `rows` values.
 *
 * @throws NotFastError when the column or a chunk needs the general reader; CorruptDataError for damaged data.
 */
export class FastColumnReader {
  private readonly sink: Sink;

  constructor(
    private readonly field: Flat,
    private readonly target: ColumnType,
    rows: number,
  ) {
    if (!LITTLE_ENDIAN) throw new NotFastError('big-endian host');
    this.sink = makeSink(field, target, rows);
  }

  /** Whether this reader can take a chunk at all (codec, metadata in the footer). */
  static accepts(cm: ColumnMetaData | undefined): cm is ColumnMetaData {
    return cm !== undefined && FAST_CODECS.has(cm.codec);
  }

  /** Decode a chunk held in `buf` (the chunk's bytes, from its first page) into rows `[rowBase, rowBase + rows)`. */
  readChunk(buf: Buffer, cm: ColumnMetaData, rowBase: number, rows: number): void {
    if (!FAST_CODECS.has(cm.codec)) throw new NotFastError(`codec ${cm.codec}`);
    if (rows > 0) decodeChunk(buf, cm.codec, this.field, this.sink, rowBase, rows);
  }

  /** The column decoded. */
  finish(): Column {
    const sink = this.sink;
    const name = this.field.name;
    switch (sink.kind) {
      case 'number':
        return { name, type: this.target as 'double' | 'int64' | 'timestamp_ms', values: sink.values };
      case 'string':
        return { name, type: 'string', dictionary: sink.dictionary.strings, codes: sink.codes };
      case 'binary':
        return { name, type: 'binary', values: sink.values };
    }
  }
}

function makeSink(field: Flat, target: ColumnType, rows: number): Sink {
  const physical = field.element.type;
  if (target === 'string' || target === 'binary') {
    if (physical !== PhysicalType.BYTE_ARRAY) throw new NotFastError('not a BYTE_ARRAY');
    if (target === 'string') return { kind: 'string', codes: new Int32Array(rows), dictionary: new ByteDictionary() };
    return { kind: 'binary', values: new Array<Uint8Array | null>(rows).fill(null) };
  }
  const conv = numericConversion(field.element);
  if (!conv) throw new NotFastError('numeric type needs conversion');
  return { kind: 'number', values: new Float64Array(rows), conv };
}

function decodeChunk(buf: Buffer, codec: number, field: Flat, sink: Sink, rowBase: number, rows: number): void {
  const end = buf.length;
  let pos = 0;
  let filled = 0;
  let dictionary: Dictionary | null = null;
  while (filled < rows) {
    if (pos >= end) throw new CorruptDataError(`column chunk ends after ${filled} of ${rows} rows`);
    let header: PageHeader;
    let bodyStart: number;
    try {
      const h = decodePageHeader(buf, pos, end);
      header = h.header;
      bodyStart = h.next;
    } catch (err) {
      throw new CorruptDataError(`bad page header at chunk byte ${pos}: ${(err as Error).message}`);
    }
    const bodyEnd = bodyStart + header.compressedSize;
    if (header.compressedSize < 0 || bodyEnd > end) throw new CorruptDataError(`page at chunk byte ${pos} runs past its column chunk`);
    if (header.type === PageType.DICTIONARY_PAGE) {
      if (header.encoding !== Encoding.PLAIN && header.encoding !== Encoding.PLAIN_DICTIONARY) throw new NotFastError('dictionary encoding');
      const [b, s, e] = pageBody(buf, bodyStart, bodyEnd, codec, header.uncompressedSize);
      dictionary = decodeDictionary(b, s, e, header.numValues ?? 0, sink);
    } else if (header.type === PageType.DATA_PAGE || header.type === PageType.DATA_PAGE_V2) {
      const v2 = header.type === PageType.DATA_PAGE_V2;
      const n = v2 ? (header.numRows ?? -1) : (header.numValues ?? -1);
      if (n < 0 || n > rows - filled) throw new CorruptDataError(`page at chunk byte ${pos} holds ${n} values, ${rows - filled} rows were left`);
      let defined: Uint8Array | null = null;
      let present = n;
      let values: [Buffer, number, number];
      if (v2) {
        // v2: levels stay uncompressed ahead of the (maybe compressed) values
        if ((header.repetitionLevelsByteLength ?? 0) !== 0) throw new NotFastError('repetition levels');
        const defLen = header.definitionLevelsByteLength ?? 0;
        const valuesStart = bodyStart + defLen;
        if (defLen < 0 || valuesStart > bodyEnd) throw new CorruptDataError('definition levels run past the page');
        if (field.optional) ({ defined, present } = decodeLevels(buf, bodyStart, valuesStart, n));
        const compressed = codec !== Codec.UNCOMPRESSED && header.isCompressed !== false;
        values = compressed ? pageBody(buf, valuesStart, bodyEnd, codec, header.uncompressedSize - defLen) : [buf, valuesStart, bodyEnd];
      } else {
        const [b, s, e] = pageBody(buf, bodyStart, bodyEnd, codec, header.uncompressedSize);
        let valuesStart = s;
        if (field.optional) {
          if (header.definitionLevelEncoding !== Encoding.RLE) throw new NotFastError('definition level encoding');
          if (s + 4 > e) throw new CorruptDataError('page too short for its definition levels');
          valuesStart = s + 4 + b.readUInt32LE(s);
          if (valuesStart > e) throw new CorruptDataError('definition levels run past the page');
          ({ defined, present } = decodeLevels(b, s + 4, valuesStart, n));
        }
        values = [b, valuesStart, e];
      }
      const encoding = header.encoding ?? -1;
      if (encoding === Encoding.PLAIN) decodePlain(values[0], values[1], values[2], present, defined, sink, rowBase + filled, n);
      else if (encoding === Encoding.RLE_DICTIONARY || encoding === Encoding.PLAIN_DICTIONARY) {
        if (!dictionary) throw new CorruptDataError('dictionary-encoded page without a dictionary page');
        decodeIndexed(values[0], values[1], values[2], present, defined, sink, dictionary, rowBase + filled, n);
      } else throw new NotFastError(`encoding ${encoding}`);
      filled += n;
    }
    // index pages and unknown page types are skipped
    pos = bodyEnd;
  }
}

const MAX_PAGE_BYTES = 1 << 28;

/** A page's bytes as `[buffer, start, end)`, decompressed when the chunk is compressed. */
function pageBody(buf: Buffer, start: number, end: number, codec: number, size: number): [Buffer, number, number] {
  if (codec === Codec.UNCOMPRESSED) return [buf, start, end];
  if (!(size >= 0 && size <= MAX_PAGE_BYTES)) throw new CorruptDataError(`page claims ${size} bytes uncompressed`);
  const input = buf.subarray(start, end);
  let out: Uint8Array;
  try {
    out = decompress(codec, input, size);
  } catch (err) {
    if (err instanceof NotFastError) throw err;
    throw new CorruptDataError(`cannot decompress a page: ${(err as Error).message}`);
  }
  if (out.length !== size) throw new CorruptDataError(`a page decompressed to ${out.length} bytes, its header says ${size}`);
  return [Buffer.from(out.buffer, out.byteOffset, out.byteLength), 0, out.length];
}

function decompress(codec: number, input: Uint8Array, size: number): Uint8Array {
  switch (codec) {
    case Codec.SNAPPY:
      return compressors.SNAPPY!(input, size);
    case Codec.GZIP:
      return gunzipSync(input);
    case Codec.BROTLI:
      return brotliDecompressSync(input);
    case Codec.ZSTD:
      return compressors.ZSTD!(input, size);
    case Codec.LZ4_RAW:
      return compressors.LZ4_RAW!(input, size);
    default:
      throw new NotFastError(`codec ${codec}`);
  }
}

let levelScratch = new Uint8Array(1024);

/** Definition levels of a flat optional column (bit width 1): null when every value is present. */
function decodeLevels(buf: Buffer, start: number, end: number, n: number): { defined: Uint8Array | null; present: number } {
  if (levelScratch.length < n) levelScratch = new Uint8Array(Math.max(n, levelScratch.length * 2));
  const levels = levelScratch.subarray(0, n);
  decodeHybrid(buf, start, end, 1, n, levels);
  let present = 0;
  for (let i = 0; i < n; i++) present += levels[i]!;
  return { defined: present === n ? null : levels, present };
}

/** A dictionary page's values, turned into the sink's terms (numbers converted, strings coded). */
function decodeDictionary(buf: Buffer, start: number, end: number, count: number, sink: Sink): Dictionary {
  if (count < 0) throw new CorruptDataError('negative dictionary size');
  if (sink.kind === 'number') {
    const values = new Float64Array(count);
    readNumbers(buf, start, end, count, sink.conv, values, 0);
    return { kind: 'number', values };
  }
  if (count > end - start) throw new CorruptDataError('dictionary page too short');
  if (sink.kind === 'string') {
    const codes = new Int32Array(count);
    let p = start;
    for (let i = 0; i < count; i++) {
      const [s, e] = byteArrayAt(buf, p, end);
      codes[i] = sink.dictionary.codeOf(buf, s, e);
      p = e;
    }
    return { kind: 'string', codes };
  }
  const values: Uint8Array[] = new Array<Uint8Array>(count);
  let p = start;
  for (let i = 0; i < count; i++) {
    const [s, e] = byteArrayAt(buf, p, end);
    values[i] = new Uint8Array(buf.subarray(s, e));
    p = e;
  }
  return { kind: 'binary', values };
}

/** The bounds of the PLAIN byte array (4-byte length + bytes) at `p`. */
function byteArrayAt(buf: Buffer, p: number, end: number): [number, number] {
  if (p + 4 > end) throw new CorruptDataError('byte array length runs past the page');
  const len = buf.readUInt32LE(p);
  const e = p + 4 + len;
  if (e > end) throw new CorruptDataError('byte array runs past the page');
  return [p + 4, e];
}

/** PLAIN values of a page: `present` values, placed at the rows `defined` marks (all rows if null). */
function decodePlain(buf: Buffer, start: number, end: number, present: number, defined: Uint8Array | null, sink: Sink, at: number, n: number): void {
  if (sink.kind === 'number') {
    if (!defined) {
      readNumbers(buf, start, end, present, sink.conv, sink.values, at);
      return;
    }
    const dense = new Float64Array(present);
    readNumbers(buf, start, end, present, sink.conv, dense, 0);
    scatterNumbers(dense, defined, sink.values, at, n);
    return;
  }
  let p = start;
  for (let i = 0; i < n; i++) {
    if (defined && defined[i] === 0) {
      if (sink.kind === 'string') sink.codes[at + i] = -1;
      continue;
    }
    const [s, e] = byteArrayAt(buf, p, end);
    if (sink.kind === 'string') sink.codes[at + i] = sink.dictionary.codeOf(buf, s, e);
    else sink.values[at + i] = new Uint8Array(buf.subarray(s, e));
    p = e;
  }
}

let indexScratch = new Int32Array(1024);

/** Dictionary indices of a page (1-byte bit width, then hybrid runs), looked up in the chunk's dictionary. */
function decodeIndexed(buf: Buffer, start: number, end: number, present: number, defined: Uint8Array | null, sink: Sink, dict: Dictionary, at: number, n: number): void {
  if (indexScratch.length < present) indexScratch = new Int32Array(Math.max(present, indexScratch.length * 2));
  const idx = indexScratch;
  if (present > 0) {
    if (start >= end) throw new CorruptDataError('dictionary indices missing');
    decodeHybrid(buf, start + 1, end, buf[start]!, present, idx, 0);
  }
  const size = dict.kind === 'number' ? dict.values.length : dict.kind === 'string' ? dict.codes.length : dict.values.length;
  for (let j = 0; j < present; j++) {
    const k = idx[j]!;
    if (k < 0 || k >= size) throw new CorruptDataError(`dictionary index ${k} outside a dictionary of ${size}`);
  }
  let j = 0;
  if (sink.kind === 'number' && dict.kind === 'number') {
    const out = sink.values;
    const values = dict.values;
    for (let i = 0; i < n; i++) out[at + i] = defined && defined[i] === 0 ? NaN : values[idx[j++]!]!;
  } else if (sink.kind === 'string' && dict.kind === 'string') {
    const out = sink.codes;
    const codes = dict.codes;
    for (let i = 0; i < n; i++) out[at + i] = defined && defined[i] === 0 ? -1 : codes[idx[j++]!]!;
  } else if (sink.kind === 'binary' && dict.kind === 'binary') {
    for (let i = 0; i < n; i++) if (!(defined && defined[i] === 0)) sink.values[at + i] = dict.values[idx[j++]!]!;
  } else throw new CorruptDataError('dictionary does not match the column');
}

function scatterNumbers(dense: Float64Array, defined: Uint8Array, out: Float64Array, at: number, n: number): void {
  let j = 0;
  for (let i = 0; i < n; i++) out[at + i] = defined[i] === 1 ? dense[j++]! : NaN;
}

const TWO_32 = 2 ** 32;

/** Read `count` PLAIN numbers at `start` into `out[at…]`, converted (scaled, widened) to doubles. */
function readNumbers(buf: Buffer, start: number, end: number, count: number, conv: NumericConversion, out: Float64Array, at: number): void {
  if (conv.physical === 'bool') {
    const bytes = (count + 7) >> 3;
    if (start + bytes > end) throw new CorruptDataError(`page holds fewer than ${count} values`);
    for (let i = 0; i < count; i++) out[at + i] = (buf[start + (i >> 3)]! >> (i & 7)) & 1;
    return;
  }
  const width = conv.physical === 'f64' || conv.physical === 'i64' ? 8 : 4;
  const bytes = count * width;
  if (start + bytes > end) throw new CorruptDataError(`page holds fewer than ${count} values`);
  const src = buf.subarray(start, start + bytes);
  switch (conv.physical) {
    case 'f64':
      new Uint8Array(out.buffer, out.byteOffset + at * 8, bytes).set(src);
      return;
    case 'f32': {
      const tmp = new Float32Array(count);
      new Uint8Array(tmp.buffer).set(src);
      for (let i = 0; i < count; i++) out[at + i] = tmp[i]!;
      return;
    }
    case 'i32':
    case 'u32': {
      const tmp = new Int32Array(count);
      new Uint8Array(tmp.buffer).set(src);
      const m = conv.multiply;
      const d = conv.divide;
      if (conv.physical === 'u32') for (let i = 0; i < count; i++) out[at + i] = ((tmp[i]! >>> 0) * m) / d;
      else if (d === 1) for (let i = 0; i < count; i++) out[at + i] = tmp[i]! * m;
      else for (let i = 0; i < count; i++) out[at + i] = tmp[i]! / d;
      return;
    }
    case 'i64': {
      const words = new Int32Array(count * 2);
      new Uint8Array(words.buffer).set(src);
      const d = conv.divide;
      if (d === 1) for (let i = 0; i < count; i++) out[at + i] = words[2 * i + 1]! * TWO_32 + (words[2 * i]! >>> 0);
      else for (let i = 0; i < count; i++) out[at + i] = (words[2 * i + 1]! * TWO_32 + (words[2 * i]! >>> 0)) / d;
      return;
    }
  }
}

/**
 * Parquet's metadata structures (parquet.thrift), as plain objects, and their compact-protocol encoding.
 * Only the fields Berth writes or reads are modelled; others are skipped on read.
 */
import { ThriftReader, ThriftWriter, type ThriftStruct, type ThriftValue } from './thrift.js';

export const MAGIC = Buffer.from('PAR1', 'latin1');

/** Physical types. */
export const PhysicalType = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const;
export const Repetition = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const;
export const ConvertedType = {
  UTF8: 0, MAP: 1, MAP_KEY_VALUE: 2, LIST: 3, ENUM: 4, DECIMAL: 5, DATE: 6, TIME_MILLIS: 7, TIME_MICROS: 8,
  TIMESTAMP_MILLIS: 9, TIMESTAMP_MICROS: 10, UINT_8: 11, UINT_16: 12, UINT_32: 13, UINT_64: 14, INT_8: 15,
  INT_16: 16, INT_32: 17, INT_64: 18, JSON: 19, BSON: 20, INTERVAL: 21,
} as const;
export const Encoding = {
  PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, BIT_PACKED: 4, DELTA_BINARY_PACKED: 5, DELTA_LENGTH_BYTE_ARRAY: 6,
  DELTA_BYTE_ARRAY: 7, RLE_DICTIONARY: 8, BYTE_STREAM_SPLIT: 9,
} as const;
export const Codec = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, LZO: 3, BROTLI: 4, LZ4: 5, ZSTD: 6, LZ4_RAW: 7 } as const;
export const PageType = { DATA_PAGE: 0, INDEX_PAGE: 1, DICTIONARY_PAGE: 2, DATA_PAGE_V2: 3 } as const;

/** LogicalType union member ids (parquet.thrift `union LogicalType`). */
export const Logical = {
  STRING: 1, MAP: 2, LIST: 3, ENUM: 4, DECIMAL: 5, DATE: 6, TIME: 7, TIMESTAMP: 8, INTEGER: 10, UNKNOWN: 11,
  JSON: 12, BSON: 13, UUID: 14, FLOAT16: 15, VARIANT: 16, GEOMETRY: 17, GEOGRAPHY: 18,
} as const;

/** A schema element's logical type: which union member, and the fields that matter to Berth. */
export interface LogicalType {
  kind: number;
  /** TIMESTAMP / TIME: 'MILLIS' | 'MICROS' | 'NANOS' */
  unit?: 'MILLIS' | 'MICROS' | 'NANOS';
  isAdjustedToUTC?: boolean;
  /** INTEGER */
  bitWidth?: number;
  isSigned?: boolean;
  /** DECIMAL */
  scale?: number;
  precision?: number;
}

export interface SchemaElement {
  type?: number;
  typeLength?: number;
  repetition?: number;
  name: string;
  numChildren?: number;
  convertedType?: number;
  scale?: number;
  precision?: number;
  logicalType?: LogicalType;
}

export interface Statistics {
  nullCount?: number;
  distinctCount?: number;
  maxValue?: Uint8Array;
  minValue?: Uint8Array;
}

export interface ColumnMetaData {
  type: number;
  encodings: number[];
  path: string[];
  codec: number;
  numValues: number;
  totalUncompressedSize: number;
  totalCompressedSize: number;
  dataPageOffset: number;
  dictionaryPageOffset?: number;
  statistics?: Statistics;
}

export interface ColumnChunk {
  fileOffset: number;
  meta?: ColumnMetaData;
}

export interface RowGroup {
  columns: ColumnChunk[];
  totalByteSize: number;
  numRows: number;
  fileOffset?: number;
  totalCompressedSize?: number;
  ordinal?: number;
}

export interface FileMetaData {
  version: number;
  schema: SchemaElement[];
  numRows: number;
  rowGroups: RowGroup[];
  keyValueMetadata: { key: string; value: string | undefined }[];
  createdBy?: string;
}

export interface PageHeader {
  type: number;
  uncompressedSize: number;
  compressedSize: number;
  /** DATA_PAGE and DATA_PAGE_V2 */
  numValues?: number;
  encoding?: number;
  /** DATA_PAGE */
  definitionLevelEncoding?: number;
  repetitionLevelEncoding?: number;
  /** DATA_PAGE_V2 */
  numNulls?: number;
  numRows?: number;
  definitionLevelsByteLength?: number;
  repetitionLevelsByteLength?: number;
  isCompressed?: boolean;
  /** DICTIONARY_PAGE: numValues and encoding above */
}

/** A required field was absent or had the wrong type. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

// ---- writing ----

/** Encode FileMetaData (the footer). Every leaf gets a TypeDefinedOrder so min_value/max_value apply. */
export function encodeFileMetaData(meta: FileMetaData): Uint8Array {
  const w = new ThriftWriter();
  w.beginStruct();
  w.i32(1, meta.version);
  w.listStruct(2, meta.schema, writeSchemaElement);
  w.i64(3, meta.numRows);
  w.listStruct(4, meta.rowGroups, writeRowGroup);
  if (meta.keyValueMetadata.length > 0) {
    w.listStruct(5, meta.keyValueMetadata, (w2, kv) => {
      w2.string(1, kv.key);
      if (kv.value !== undefined) w2.string(2, kv.value);
    });
  }
  if (meta.createdBy !== undefined) w.string(6, meta.createdBy);
  const leaves = meta.schema.filter((e) => e.numChildren === undefined);
  // column_orders: one TypeDefinedOrder (union member 1, an empty struct) per leaf
  w.listStruct(7, leaves, (w2) => {
    w2.beginStruct(1).endStruct();
  });
  w.endStruct();
  return w.finish();
}

function writeSchemaElement(w: ThriftWriter, e: SchemaElement): void {
  if (e.type !== undefined) w.i32(1, e.type);
  if (e.typeLength !== undefined) w.i32(2, e.typeLength);
  if (e.repetition !== undefined) w.i32(3, e.repetition);
  w.string(4, e.name);
  if (e.numChildren !== undefined) w.i32(5, e.numChildren);
  if (e.convertedType !== undefined) w.i32(6, e.convertedType);
  if (e.scale !== undefined) w.i32(7, e.scale);
  if (e.precision !== undefined) w.i32(8, e.precision);
  if (e.logicalType) {
    const lt = e.logicalType;
    w.beginStruct(10);
    w.beginStruct(lt.kind);
    if (lt.kind === Logical.TIMESTAMP || lt.kind === Logical.TIME) {
      w.bool(1, lt.isAdjustedToUTC ?? true);
      w.beginStruct(2);
      w.beginStruct(lt.unit === 'MICROS' ? 2 : lt.unit === 'NANOS' ? 3 : 1).endStruct();
      w.endStruct();
    } else if (lt.kind === Logical.INTEGER) {
      w.byteField(1, lt.bitWidth ?? 64);
      w.bool(2, lt.isSigned ?? true);
    } else if (lt.kind === Logical.DECIMAL) {
      w.i32(1, lt.scale ?? 0);
      w.i32(2, lt.precision ?? 0);
    }
    w.endStruct();
    w.endStruct();
  }
}

function writeRowGroup(w: ThriftWriter, rg: RowGroup): void {
  w.listStruct(1, rg.columns, writeColumnChunk);
  w.i64(2, rg.totalByteSize);
  w.i64(3, rg.numRows);
  if (rg.fileOffset !== undefined) w.i64(5, rg.fileOffset);
  if (rg.totalCompressedSize !== undefined) w.i64(6, rg.totalCompressedSize);
  if (rg.ordinal !== undefined) w.i16(7, rg.ordinal);
}

function writeColumnChunk(w: ThriftWriter, c: ColumnChunk): void {
  w.i64(2, c.fileOffset);
  if (c.meta) {
    const m = c.meta;
    w.beginStruct(3);
    w.i32(1, m.type);
    w.listI32(2, m.encodings);
    w.listString(3, m.path);
    w.i32(4, m.codec);
    w.i64(5, m.numValues);
    w.i64(6, m.totalUncompressedSize);
    w.i64(7, m.totalCompressedSize);
    w.i64(9, m.dataPageOffset);
    if (m.dictionaryPageOffset !== undefined) w.i64(11, m.dictionaryPageOffset);
    if (m.statistics) writeStatistics(w, 12, m.statistics);
    w.endStruct();
  }
}

function writeStatistics(w: ThriftWriter, id: number, s: Statistics): void {
  w.beginStruct(id);
  if (s.nullCount !== undefined) w.i64(3, s.nullCount);
  if (s.distinctCount !== undefined) w.i64(4, s.distinctCount);
  if (s.maxValue) w.binary(5, s.maxValue);
  if (s.minValue) w.binary(6, s.minValue);
  w.endStruct();
}

/** Encode a PageHeader (the fields Berth writes: data page v1 and dictionary page). */
export function encodePageHeader(h: PageHeader): Uint8Array {
  const w = new ThriftWriter();
  w.beginStruct();
  w.i32(1, h.type);
  w.i32(2, h.uncompressedSize);
  w.i32(3, h.compressedSize);
  if (h.type === PageType.DATA_PAGE) {
    w.beginStruct(5);
    w.i32(1, h.numValues ?? 0);
    w.i32(2, h.encoding ?? Encoding.PLAIN);
    w.i32(3, h.definitionLevelEncoding ?? Encoding.RLE);
    w.i32(4, h.repetitionLevelEncoding ?? Encoding.RLE);
    w.endStruct();
  } else if (h.type === PageType.DICTIONARY_PAGE) {
    w.beginStruct(7);
    w.i32(1, h.numValues ?? 0);
    w.i32(2, h.encoding ?? Encoding.PLAIN);
    w.endStruct();
  }
  w.endStruct();
  return w.finish();
}

// ---- reading ----

/** Decode FileMetaData from `buf[start, end)`. */
export function decodeFileMetaData(buf: Uint8Array, start: number, end: number): FileMetaData {
  const r = new ThriftReader(buf, start, end);
  const s = r.readStruct();
  return {
    version: num(s, 1, 'FileMetaData.version'),
    schema: list(s, 2, 'FileMetaData.schema').map((e) => readSchemaElement(asStruct(e, 'SchemaElement'))),
    numRows: num(s, 3, 'FileMetaData.num_rows'),
    rowGroups: list(s, 4, 'FileMetaData.row_groups').map((g) => readRowGroup(asStruct(g, 'RowGroup'))),
    keyValueMetadata: optList(s, 5).map((kv) => {
      const m = asStruct(kv, 'KeyValue');
      const value = m.get(2);
      return { key: str(m, 1, 'KeyValue.key'), value: value instanceof Uint8Array ? utf8(value) : undefined };
    }),
    createdBy: optStr(s, 6),
  };
}

/** Decode a PageHeader at `pos`; returns it and where the page's bytes start. */
export function decodePageHeader(buf: Uint8Array, pos: number, end: number): { header: PageHeader; next: number } {
  const r = new ThriftReader(buf, pos, end);
  const s = r.readStruct();
  const header: PageHeader = {
    type: num(s, 1, 'PageHeader.type'),
    uncompressedSize: num(s, 2, 'PageHeader.uncompressed_page_size'),
    compressedSize: num(s, 3, 'PageHeader.compressed_page_size'),
  };
  const v1 = s.get(5);
  if (v1 instanceof Map) {
    header.numValues = num(v1, 1, 'DataPageHeader.num_values');
    header.encoding = num(v1, 2, 'DataPageHeader.encoding');
    header.definitionLevelEncoding = num(v1, 3, 'DataPageHeader.definition_level_encoding');
    header.repetitionLevelEncoding = num(v1, 4, 'DataPageHeader.repetition_level_encoding');
  }
  const dict = s.get(7);
  if (dict instanceof Map) {
    header.numValues = num(dict, 1, 'DictionaryPageHeader.num_values');
    header.encoding = num(dict, 2, 'DictionaryPageHeader.encoding');
  }
  const v2 = s.get(8);
  if (v2 instanceof Map) {
    header.numValues = num(v2, 1, 'DataPageHeaderV2.num_values');
    header.numNulls = num(v2, 2, 'DataPageHeaderV2.num_nulls');
    header.numRows = num(v2, 3, 'DataPageHeaderV2.num_rows');
    header.encoding = num(v2, 4, 'DataPageHeaderV2.encoding');
    header.definitionLevelsByteLength = num(v2, 5, 'DataPageHeaderV2.definition_levels_byte_length');
    header.repetitionLevelsByteLength = num(v2, 6, 'DataPageHeaderV2.repetition_levels_byte_length');
    const c = v2.get(7);
    header.isCompressed = typeof c === 'boolean' ? c : true;
  }
  return { header, next: r.pos };
}

function readSchemaElement(s: ThriftStruct): SchemaElement {
  const e: SchemaElement = { name: str(s, 4, 'SchemaElement.name') };
  const type = optNum(s, 1);
  if (type !== undefined) e.type = type;
  const typeLength = optNum(s, 2);
  if (typeLength !== undefined) e.typeLength = typeLength;
  const repetition = optNum(s, 3);
  if (repetition !== undefined) e.repetition = repetition;
  const numChildren = optNum(s, 5);
  if (numChildren !== undefined) e.numChildren = numChildren;
  const convertedType = optNum(s, 6);
  if (convertedType !== undefined) e.convertedType = convertedType;
  const scale = optNum(s, 7);
  if (scale !== undefined) e.scale = scale;
  const precision = optNum(s, 8);
  if (precision !== undefined) e.precision = precision;
  const lt = s.get(10);
  if (lt instanceof Map) {
    const [kind, body] = [...lt.entries()][0] ?? [];
    if (kind !== undefined) {
      const logical: LogicalType = { kind };
      if (body instanceof Map) {
        if (kind === Logical.TIMESTAMP || kind === Logical.TIME) {
          const utc = body.get(1);
          logical.isAdjustedToUTC = utc === true;
          const unit = body.get(2);
          if (unit instanceof Map) {
            const u = [...unit.keys()][0];
            logical.unit = u === 2 ? 'MICROS' : u === 3 ? 'NANOS' : 'MILLIS';
          }
        } else if (kind === Logical.INTEGER) {
          logical.bitWidth = optNum(body, 1) ?? 64;
          logical.isSigned = body.get(2) !== false;
        } else if (kind === Logical.DECIMAL) {
          logical.scale = optNum(body, 1) ?? 0;
          logical.precision = optNum(body, 2) ?? 0;
        }
      }
      e.logicalType = logical;
    }
  }
  return e;
}

function readRowGroup(s: ThriftStruct): RowGroup {
  const rg: RowGroup = {
    columns: list(s, 1, 'RowGroup.columns').map((c) => readColumnChunk(asStruct(c, 'ColumnChunk'))),
    totalByteSize: num(s, 2, 'RowGroup.total_byte_size'),
    numRows: num(s, 3, 'RowGroup.num_rows'),
  };
  const fileOffset = optNum(s, 5);
  if (fileOffset !== undefined) rg.fileOffset = fileOffset;
  return rg;
}

function readColumnChunk(s: ThriftStruct): ColumnChunk {
  const chunk: ColumnChunk = { fileOffset: optNum(s, 2) ?? 0 };
  const m = s.get(3);
  if (m instanceof Map) {
    const meta: ColumnMetaData = {
      type: num(m, 1, 'ColumnMetaData.type'),
      encodings: list(m, 2, 'ColumnMetaData.encodings').map((v) => (typeof v === 'number' ? v : -1)),
      path: list(m, 3, 'ColumnMetaData.path_in_schema').map((v) => (v instanceof Uint8Array ? utf8(v) : '')),
      codec: num(m, 4, 'ColumnMetaData.codec'),
      numValues: num(m, 5, 'ColumnMetaData.num_values'),
      totalUncompressedSize: num(m, 6, 'ColumnMetaData.total_uncompressed_size'),
      totalCompressedSize: num(m, 7, 'ColumnMetaData.total_compressed_size'),
      dataPageOffset: num(m, 9, 'ColumnMetaData.data_page_offset'),
    };
    const dict = optNum(m, 11);
    if (dict !== undefined) meta.dictionaryPageOffset = dict;
    const st = m.get(12);
    if (st instanceof Map) {
      const stats: Statistics = {};
      const nulls = optNum(st, 3);
      if (nulls !== undefined) stats.nullCount = nulls;
      const max = st.get(5);
      if (max instanceof Uint8Array) stats.maxValue = max;
      const min = st.get(6);
      if (min instanceof Uint8Array) stats.minValue = min;
      meta.statistics = stats;
    }
    chunk.meta = meta;
  }
  return chunk;
}

const decoder = new TextDecoder();
function utf8(b: Uint8Array): string {
  return decoder.decode(b);
}

function num(s: ThriftStruct, id: number, what: string): number {
  const v = s.get(id);
  if (typeof v !== 'number') throw new FormatError(`${what} is missing`);
  return v;
}
function optNum(s: ThriftStruct, id: number): number | undefined {
  const v = s.get(id);
  return typeof v === 'number' ? v : undefined;
}
function str(s: ThriftStruct, id: number, what: string): string {
  const v = s.get(id);
  if (!(v instanceof Uint8Array)) throw new FormatError(`${what} is missing`);
  return utf8(v);
}
function optStr(s: ThriftStruct, id: number): string | undefined {
  const v = s.get(id);
  return v instanceof Uint8Array ? utf8(v) : undefined;
}
function list(s: ThriftStruct, id: number, what: string): ThriftValue[] {
  const v = s.get(id);
  if (!Array.isArray(v)) throw new FormatError(`${what} is missing`);
  return v;
}
function optList(s: ThriftStruct, id: number): ThriftValue[] {
  const v = s.get(id);
  return Array.isArray(v) ? v : [];
}
function asStruct(v: ThriftValue, what: string): ThriftStruct {
  if (!(v instanceof Map)) throw new FormatError(`${what} is not a struct`);
  return v;
}

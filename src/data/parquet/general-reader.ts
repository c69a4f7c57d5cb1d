/**
 * The general path of the Parquet reader, for what the fast path leaves: DELTA and BYTE_STREAM_SPLIT
 * encodings, RLE booleans, INT96, byte-array decimals, FLOAT16, unsigned 64-bit integers, legacy LZ4…
 * Decoding is hyparquet's (decompression hyparquet-compressors'); this file maps its values into Berth's
 * columns.
 */
import { parquetMetadata, parquetRead, type AsyncBuffer, type ParquetParsers } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { StringColumnBuilder, type Column, type ColumnType } from '../table.js';

/** A column to read and the type it becomes. */
export interface GeneralColumn {
  name: string;
  target: ColumnType;
}

const utf8 = new TextDecoder();

/** Parsers that keep hyparquet's values as plain numbers and strings (times in ms since the epoch). */
const PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (v: bigint) => toNumber(v),
  timestampFromMicroseconds: (v: bigint) => toNumber(v) / 1000,
  timestampFromNanoseconds: (v: bigint) => toNumber(v) / 1_000_000,
  dateFromDays: (days: number) => (days === null || days === undefined ? null : Number(days) * 86_400_000),
  stringFromBytes: (b: Uint8Array) => (b ? utf8.decode(b) : b),
  jsonFromBytes: (b: Uint8Array) => (b ? utf8.decode(b) : b),
  // keep geometry as its WKB bytes: Berth stores it as binary
  geometryFromBytes: (b: Uint8Array) => b,
  geographyFromBytes: (b: Uint8Array) => b,
};

function toNumber(v: unknown): number {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  return NaN;
}

/**
 * Read the given columns of a Parquet file with hyparquet. `file` gives the file's bytes on demand;
 * `footer` is the footer with its 8 trailing bytes (length, magic).
 * Errors are hyparquet's (the caller reports them as a damaged or unsupported file).
 */
export async function decodeColumnsGeneral(file: AsyncBuffer, footer: Uint8Array, columns: readonly GeneralColumn[], rows: number): Promise<Column[]> {
  const metadata = parquetMetadata(footer, { parsers: PARSERS, geoparquet: false });
  const sinks = new Map(columns.map((c) => [c.name, makeSink(c, rows)] as const));
  let failure: unknown = null;
  await parquetRead({
    file,
    metadata,
    columns: columns.map((c) => c.name),
    utf8: false,
    geoparquet: false,
    parsers: PARSERS,
    compressors,
    onChunk: (chunk) => {
      try {
        sinks.get(chunk.columnName)?.put(chunk.columnData as ArrayLike<unknown>, chunk.rowStart, Math.min(rows, chunk.rowEnd));
      } catch (err) {
        failure ??= err;
      }
    },
  });
  if (failure) throw failure;
  return columns.map((c) => sinks.get(c.name)!.build());
}

interface GeneralSink {
  put(values: ArrayLike<unknown>, rowStart: number, rowEnd: number): void;
  build(): Column;
}

function makeSink(c: GeneralColumn, rows: number): GeneralSink {
  switch (c.target) {
    case 'string': {
      const codes = new Int32Array(rows).fill(-1);
      const builder = new StringColumnBuilder(c.name, 0);
      return {
        put(values, start, end) {
          for (let r = start; r < end; r++) {
            const v = values[r - start];
            if (v === null || v === undefined) codes[r] = -1;
            else if (typeof v === 'string') codes[r] = builder.codeOf(v);
            else if (v instanceof Uint8Array) codes[r] = builder.codeOf(utf8.decode(v));
            else codes[r] = builder.codeOf(String(v));
          }
        },
        build: () => ({ name: c.name, type: 'string', dictionary: builder.build().dictionary, codes }),
      };
    }
    case 'binary': {
      const out = new Array<Uint8Array | null>(rows).fill(null);
      return {
        put(values, start, end) {
          for (let r = start; r < end; r++) {
            const v = values[r - start];
            if (v instanceof Uint8Array) out[r] = new Uint8Array(v);
            else if (typeof v === 'string') out[r] = new Uint8Array(Buffer.from(v, 'utf8'));
            else out[r] = null;
          }
        },
        build: () => ({ name: c.name, type: 'binary', values: out }),
      };
    }
    default: {
      const type = c.target;
      const out = new Float64Array(rows).fill(NaN);
      return {
        put(values, start, end) {
          if (values instanceof Float64Array || values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint32Array) {
            for (let r = start; r < end; r++) out[r] = values[r - start]!;
            return;
          }
          for (let r = start; r < end; r++) out[r] = numberOf(values[r - start]);
        },
        build: () => ({ name: c.name, type, values: out }) as Column,
      };
    }
  }
}

function numberOf(v: unknown): number {
  if (v === null || v === undefined) return NaN;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return v.getTime();
  throw new Error(`unexpected value ${String(v)} in a numeric column`);
}

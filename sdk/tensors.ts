/**
 * Tensors as the SDK takes and gives them: typed arrays in, typed arrays out. Standalone (the SDK
 * imports nothing from the server), so the little-endian layout of the protocol's raw form is
 * written here again: a BYTES element is a 4-byte little-endian length then its bytes; every
 * other datatype is its elements back to back, little-endian.
 */
import { BerthClientError } from './errors.js';

export const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
/** An Open Inference Protocol v2 datatype. */
export type Datatype = (typeof DATATYPES)[number];

/** One BYTES element: text, or bytes that are not UTF-8 text. */
export type BytesElement = string | Uint8Array;

/** Storage per datatype. FP16 holds IEEE half bits; BOOL holds 0/1 bytes. */
export interface TensorDataMap {
  BOOL: Uint8Array;
  UINT8: Uint8Array;
  UINT16: Uint16Array;
  UINT32: Uint32Array;
  UINT64: BigUint64Array;
  INT8: Int8Array;
  INT16: Int16Array;
  INT32: Int32Array;
  INT64: BigInt64Array;
  FP16: Uint16Array;
  FP32: Float32Array;
  FP64: Float64Array;
  BYTES: BytesElement[];
}
export type TensorData = TensorDataMap[Datatype];

/** A tensor answered by the server. */
export interface Tensor<D extends Datatype = Datatype> {
  name: string;
  datatype: D;
  shape: number[];
  data: TensorDataMap[D];
  parameters?: Record<string, unknown>;
}

/**
 * One input. `datatype` may be left out when `data` says it: Float32Array → FP32,
 * Float64Array → FP64, Int8/16/32Array → INT8/16/32, BigInt64Array → INT64, Uint16/32Array →
 * UINT16/32, BigUint64Array → UINT64, Uint8Array → UINT8, string[] → BYTES. Plain number
 * arrays need a datatype (FP16 takes numbers, or a Uint16Array of half-precision bits; BOOL takes
 * booleans). `shape` defaults to `[data.length]`.
 */
export interface InferInput {
  name: string;
  datatype?: Datatype;
  shape?: number[];
  data: TensorData | number[] | boolean[] | bigint[];
  parameters?: Record<string, unknown>;
}

/** Inputs as a list, or by name: `{ x: new Float32Array(…) }` or `{ x: { data, shape } }`. */
export type InferInputs = InferInput[] | Record<string, TensorData | Omit<InferInput, 'name'>>;

/** An input with everything filled in and its data in typed storage. */
export interface PreparedInput {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
  parameters?: Record<string, unknown>;
}

const CTORS = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
} as const;

type NumericDatatype = keyof typeof CTORS;

export function isDatatype(v: unknown): v is Datatype {
  return typeof v === 'string' && (DATATYPES as readonly string[]).includes(v);
}

/** Bytes per element (0 for BYTES). */
export function elementSize(dt: Datatype): number {
  return dt === 'BYTES' ? 0 : CTORS[dt].BYTES_PER_ELEMENT;
}

function datatypeOf(data: unknown): Datatype | undefined {
  if (data instanceof Float32Array) return 'FP32';
  if (data instanceof Float64Array) return 'FP64';
  if (data instanceof Int32Array) return 'INT32';
  if (data instanceof BigInt64Array) return 'INT64';
  if (data instanceof Uint8Array) return 'UINT8';
  if (data instanceof Int8Array) return 'INT8';
  if (data instanceof Int16Array) return 'INT16';
  if (data instanceof Uint16Array) return 'UINT16';
  if (data instanceof Uint32Array) return 'UINT32';
  if (data instanceof BigUint64Array) return 'UINT64';
  if (Array.isArray(data) && data.length > 0 && data.every((v) => typeof v === 'string' || v instanceof Uint8Array)) return 'BYTES';
  return undefined;
}

/** Normalise the caller's inputs: datatypes and shapes filled in, data in the datatype's storage. */
export function prepareInputs(inputs: InferInputs): PreparedInput[] {
  const list: InferInput[] = Array.isArray(inputs)
    ? inputs
    : Object.entries(inputs).map(([name, v]) => (isTensorLike(v) ? { name, data: v } : { name, ...v }));
  if (list.length === 0) throw new BerthClientError('INVALID_ARGUMENT', 'inputs: expected at least one input, got none');
  return list.map((inp, i) => prepareInput(inp, `inputs[${i}]`));
}

function isTensorLike(v: unknown): v is TensorData {
  return ArrayBuffer.isView(v) || Array.isArray(v);
}

function prepareInput(inp: InferInput, where: string): PreparedInput {
  if (typeof inp.name !== 'string' || inp.name === '') throw new BerthClientError('INVALID_ARGUMENT', `${where}.name: expected a non-empty string, got ${JSON.stringify(inp.name)}`);
  const at = `input ${inp.name}`;
  const datatype = inp.datatype ?? datatypeOf(inp.data);
  if (datatype === undefined) {
    throw new BerthClientError('INVALID_ARGUMENT', `${at}: give a datatype (FP32, INT64, …) or send a typed array such as Float32Array; plain arrays do not say their type`);
  }
  if (!isDatatype(datatype)) throw new BerthClientError('INVALID_ARGUMENT', `${at}.datatype: expected one of ${DATATYPES.join(', ')}, got ${JSON.stringify(datatype)}`);
  const data = toStorage(datatype, inp.data, at);
  const shape = inp.shape ?? [data.length];
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new BerthClientError('INVALID_ARGUMENT', `${at}.shape: expected non-negative integers, got ${JSON.stringify(shape)}`);
    n *= d;
  }
  if (n !== data.length) throw new BerthClientError('INVALID_ARGUMENT', `${at}: shape ${JSON.stringify(shape)} holds ${n} elements but data has ${data.length}`);
  const out: PreparedInput = { name: inp.name, datatype, shape, data };
  if (inp.parameters !== undefined) out.parameters = inp.parameters;
  return out;
}

function toStorage(dt: Datatype, data: InferInput['data'], at: string): TensorData {
  if (dt === 'BYTES') {
    if (!Array.isArray(data) || !data.every((v) => typeof v === 'string' || v instanceof Uint8Array)) {
      throw new BerthClientError('INVALID_ARGUMENT', `${at}: BYTES data is an array of strings or Uint8Arrays`);
    }
    return data as BytesElement[];
  }
  const Ctor = CTORS[dt];
  if (data instanceof Ctor) return data as TensorData;
  if (ArrayBuffer.isView(data)) {
    throw new BerthClientError('INVALID_ARGUMENT', `${at}: datatype ${dt} takes ${Ctor.name}, got ${data.constructor.name}`);
  }
  if (!Array.isArray(data)) throw new BerthClientError('INVALID_ARGUMENT', `${at}: data must be a typed array or an array`);
  const big = dt === 'INT64' || dt === 'UINT64';
  const out = new Ctor(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (dt === 'BOOL') {
      if (typeof v !== 'boolean' && v !== 0 && v !== 1) throw new BerthClientError('INVALID_ARGUMENT', `${at}: element ${i} of a BOOL tensor must be true/false or 0/1, got ${String(v)}`);
      (out as Uint8Array)[i] = v ? 1 : 0;
    } else if (big) {
      if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) {
        throw new BerthClientError('INVALID_ARGUMENT', `${at}: element ${i} of a ${dt} tensor must be a bigint or a safe integer, got ${String(v)}`);
      }
      (out as BigInt64Array)[i] = BigInt(v);
    } else {
      if (typeof v !== 'number') throw new BerthClientError('INVALID_ARGUMENT', `${at}: element ${i} of a ${dt} tensor must be a number, got ${typeof v}`);
      (out as Float64Array)[i] = dt === 'FP16' ? floatToHalf(v) : v;
    }
  }
  return out as TensorData;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** A BYTES element's bytes. */
export function bytesOf(v: BytesElement): Uint8Array {
  return typeof v === 'string' ? encoder.encode(v) : v;
}

/** Text when the bytes are UTF-8, else the bytes themselves. */
export function bytesElement(b: Uint8Array): BytesElement {
  try {
    return utf8.decode(b);
  } catch {
    return b;
  }
}

/** A tensor's data in the protocol's raw form. */
export function toRaw(dt: Datatype, data: TensorData): Uint8Array {
  if (dt === 'BYTES') {
    const parts = (data as BytesElement[]).map(bytesOf);
    let size = 0;
    for (const p of parts) size += 4 + p.length;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    let at = 0;
    for (const p of parts) {
      view.setUint32(at, p.length, true);
      out.set(p, at + 4);
      at += 4 + p.length;
    }
    return out;
  }
  const v = data as Exclude<TensorData, BytesElement[]>;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Raw bytes back into a datatype's storage (copied when unaligned). */
export function fromRaw(dt: Datatype, bytes: Uint8Array, count: number | undefined, what: string): TensorData {
  if (dt === 'BYTES') {
    const out: BytesElement[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at < bytes.length) {
      if (at + 4 > bytes.length) throw new BerthClientError('BAD_RESPONSE', `${what}: a BYTES length prefix is cut off`);
      const n = view.getUint32(at, true);
      if (at + 4 + n > bytes.length) throw new BerthClientError('BAD_RESPONSE', `${what}: a BYTES element runs past the end`);
      out.push(bytesElement(bytes.subarray(at + 4, at + 4 + n)));
      at += 4 + n;
    }
    return out;
  }
  const Ctor = CTORS[dt as NumericDatatype];
  const size = Ctor.BYTES_PER_ELEMENT;
  if (bytes.length % size !== 0 || (count !== undefined && bytes.length !== count * size)) {
    throw new BerthClientError('BAD_RESPONSE', `${what}: ${bytes.length} bytes do not hold ${count ?? 'whole'} ${dt} elements`);
  }
  // a Buffer's slice() is a view, so copy by hand when the offset does not suit the element size
  let aligned = bytes;
  if (bytes.byteOffset % size !== 0) {
    aligned = new Uint8Array(bytes.length);
    aligned.set(bytes);
  }
  return new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.length / size) as TensorData;
}

/** A tensor's data as JSON values (INT64 as numbers when safe, else strings; BYTES as text). */
export function toJsonData(dt: Datatype, data: TensorData, at: string): unknown[] {
  if (dt === 'BYTES') {
    return (data as BytesElement[]).map((v, i) => {
      if (typeof v === 'string') return v;
      const text = bytesElement(v);
      if (typeof text !== 'string') {
        throw new BerthClientError('INVALID_ARGUMENT', `${at}: element ${i} is not UTF-8 text, which JSON cannot carry; use the binary form (binary: true) or gRPC`);
      }
      return text;
    });
  }
  if (dt === 'INT64' || dt === 'UINT64') {
    return Array.from(data as BigInt64Array, (v) => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()));
  }
  if (dt === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (dt === 'FP16') return Array.from(data as Uint16Array, (h) => jsonNumber(halfToFloat(h)));
  if (dt === 'FP32' || dt === 'FP64') return Array.from(data as Float32Array, jsonNumber);
  return Array.from(data as Int32Array);
}

/** JSON has no NaN or infinities: the protocol spells them as strings. */
function jsonNumber(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number → IEEE half bits, rounded to nearest even. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let frac = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (frac !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    frac |= 0x800000;
    const shift = 14 - e;
    let half = frac >> shift;
    const rest = frac & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (frac >> 13);
  const rest = frac & 0x1fff;
  // a carry out of the fraction moves into the exponent, up to infinity: still the right bits
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** JSON values (as the server sent them) into a datatype's storage. */
export function fromJsonData(dt: Datatype, values: unknown[], what: string): TensorData {
  if (dt === 'BYTES') return values.map((v) => (typeof v === 'string' ? v : String(v)));
  const Ctor = CTORS[dt as NumericDatatype];
  const out = new Ctor(values.length);
  const big = dt === 'INT64' || dt === 'UINT64';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (big) (out as BigInt64Array)[i] = BigInt(v as number | string);
    else if (typeof v === 'boolean') (out as Uint8Array)[i] = v ? 1 : 0;
    else if (dt === 'FP16' && (typeof v === 'number' || typeof v === 'string')) (out as Uint16Array)[i] = floatToHalf(Number(v));
    else if (typeof v === 'number') (out as Float64Array)[i] = v;
    else if (typeof v === 'string' && !Number.isNaN(Number(v))) (out as Float64Array)[i] = Number(v);
    else if (v === 'NaN') (out as Float64Array)[i] = NaN;
    else throw new BerthClientError('BAD_RESPONSE', `${what}: element ${i} is ${JSON.stringify(v)}, not a number`);
  }
  return out as TensorData;
}

/**
 * JSON.parse, except that integers too long for a double (the server writes INT64 and UINT64
 * exactly, as digits) arrive as strings of those digits instead of rounded numbers.
 */
export function parseJsonExact(text: string): unknown {
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  let out = '';
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      continue;
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
      const next = text.charCodeAt(j);
      const integer = next !== 46 && next !== 101 && next !== 69; // not followed by . e E
      if (integer && j - i - (c === 45 ? 1 : 0) >= 16) {
        out += text.slice(from, i) + '"' + text.slice(i, j) + '"';
        from = j;
      } else if (!integer) {
        // the rest of the number: fraction and exponent digits are not integers of their own
        while (j < text.length && /[0-9.eE+-]/.test(text[j]!)) j++;
      }
      i = j - 1;
    }
  }
  return JSON.parse(out + text.slice(from));
}

/** Flatten nested JSON arrays (the protocol allows either). */
export function flatJson(v: unknown): unknown[] {
  if (!Array.isArray(v)) return [v];
  if (!v.some(Array.isArray)) return v;
  const out: unknown[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) for (const y of x) walk(y);
    else out.push(x);
  };
  walk(v);
  return out;
}

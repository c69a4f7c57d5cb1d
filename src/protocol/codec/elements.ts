/**
 * Element-level helpers shared by the JSON codecs: parsing the float words JSON cannot carry, writing
 * 64-bit integers without allocating a BigInt per element, counting and describing values for error
 * messages. Internal to `protocol/codec`.
 */
import {
  BerthError, DEFAULT_CONFIG, INTEGER_RANGES, toFloat16Bits, type Datatype, type NumericArray, type TensorData,
} from '../../core/index.js';

/** Limits the decoders enforce before they allocate anything. */
export interface TensorLimits {
  /** elements over all input tensors of one request (`hardening.maxTensorElements`) */
  maxTensorElements: number;
}

/** The defaults of `hardening` (16M elements), for callers that were not given the config. */
export const DEFAULT_TENSOR_LIMITS: TensorLimits = { maxTensorElements: DEFAULT_CONFIG.hardening.maxTensorElements };

/**
 * The 413 for a request whose tensors would hold more elements than allowed. 413 rather than 400:
 * the request is well formed, only too big, and the remedy is the body limit's (send fewer rows
 * per request, or raise the limit).
 */
export function tooManyElements(what: string, field: string, got: number, limit: number): BerthError {
  return new BerthError(
    'PAYLOAD_TOO_LARGE',
    `${what}: ${got} elements in all, more than the limit of ${limit} per request (hardening.maxTensorElements); send fewer rows per request or raise the limit`,
    { field, expected: `at most ${limit} elements`, got },
  );
}

const TWO_32 = 4294967296;

/** True on little-endian hosts, where a BigInt64Array's 32-bit words are [low, high]. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A 32-bit word view over a BigInt64Array/BigUint64Array, or undefined on big-endian hosts (which
 * then take the BigInt path). Writing words avoids one heap BigInt per element: measured 6x faster
 * on 16k INT64 elements.
 */
export function int64Words(out: BigInt64Array | BigUint64Array): Uint32Array | undefined {
  return LITTLE_ENDIAN ? new Uint32Array(out.buffer, out.byteOffset, out.length * 2) : undefined;
}

/**
 * Store a safe integer `v` as element `i` of a 64-bit integer array (two's complement). The caller
 * guarantees `v` is a safe integer (and non-negative for UINT64).
 */
export function storeSafeInt64(out: BigInt64Array | BigUint64Array, words: Uint32Array | undefined, i: number, v: number): void {
  if (words !== undefined) {
    // division by 2^32 is exact; floor gives the (signed) high word, the remainder the low word
    const hi = Math.floor(v / TWO_32);
    words[2 * i] = v - hi * TWO_32;
    words[2 * i + 1] = hi;
  } else {
    out[i] = BigInt(v);
  }
}

/**
 * Parse an exact decimal integer string (`-12`, `18446744073709551615`) into a BigInt within the
 * datatype's range, or undefined. Hand-rolled because BigInt() also accepts whitespace, hex and ''.
 */
export function parseDecimalBigInt(s: string, dt: 'INT64' | 'UINT64'): bigint | undefined {
  const n = s.length;
  let i = s.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  if (n === i || n > 21) return undefined;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const b = BigInt(s);
  const [lo, hi] = INTEGER_RANGES[dt]!;
  return b < lo || b > hi ? undefined : b;
}

/**
 * The float a JSON string stands for, or undefined: "NaN", "Infinity", "-Infinity", and
 * case-insensitively "nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity".
 */
export function parseSpecialFloat(s: string): number | undefined {
  if (s.length < 3 || s.length > 9) return undefined;
  switch (s.toLowerCase()) {
    case 'nan': case '+nan': case '-nan':
      return NaN;
    case 'inf': case '+inf': case 'infinity': case '+infinity':
      return Infinity;
    case '-inf': case '-infinity':
      return -Infinity;
    default:
      return undefined;
  }
}

/**
 * Leaves of a (possibly nested) JSON array, looking only at arrays, never at the numbers: a flat
 * array counts its length. A non-array beside arrays counts as one leaf (the fill reports it).
 * Returns -1 when nesting goes deeper than `maxDepth`.
 */
export function countLeaves(arr: readonly unknown[], maxDepth = 32): number {
  const n = arr.length;
  if (n === 0 || !Array.isArray(arr[0])) return n;
  if (maxDepth === 0) return -1;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const child = arr[i];
    if (Array.isArray(child)) {
      const c = countLeaves(child, maxDepth - 1);
      if (c < 0) return -1;
      total += c;
    } else {
      total += 1;
    }
  }
  return total;
}

/** A value as an error message shows it: `300`, `"abc"`, `null`, `an array`, `an object`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint':
      return String(v);
    case 'boolean':
      return String(v);
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof v}`;
  }
}

/** Context value for `got`: primitives as they came, containers summarised. */
export function gotValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'string' && v.length > 200 ? `${v.slice(0, 200)}…` : v;
  return Array.isArray(v) ? 'array' : 'object';
}

/** A plain JSON object (not null, not an array). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Bounds of the 8-, 16- and 32-bit integer datatypes as numbers. */
export const SMALL_INT_BOUNDS: Partial<Record<Datatype, readonly [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
};

/** What an element of `dt` must look like in the friendly JSON (rows/instances). */
export function expectedFriendly(dt: Datatype): string {
  switch (dt) {
    case 'BOOL':
      return 'true or false';
    case 'FP16': case 'FP32': case 'FP64':
      return 'a number (or null for a missing value)';
    case 'BYTES':
      return 'a string';
    case 'INT64':
      return 'an integer in [-9007199254740991, 9007199254740991]';
    case 'UINT64':
      return 'an integer in [0, 9007199254740991]';
    default: {
      const [lo, hi] = SMALL_INT_BOUNDS[dt]!;
      return `an integer in [${lo}, ${hi}]`;
    }
  }
}

/** Element kinds of the friendly decoder, fixed per input so the per-value switch is on a small int. */
export const KIND_FLOAT = 0;
export const KIND_HALF = 1;
export const KIND_INT = 2;
export const KIND_BIG = 3;
export const KIND_BOOL = 4;
export const KIND_BYTES = 5;

export function kindOf(dt: Datatype): number {
  switch (dt) {
    case 'FP32': case 'FP64': return KIND_FLOAT;
    case 'FP16': return KIND_HALF;
    case 'INT64': case 'UINT64': return KIND_BIG;
    case 'BOOL': return KIND_BOOL;
    case 'BYTES': return KIND_BYTES;
    default: return KIND_INT;
  }
}

/** Everything the friendly per-value store needs about one destination tensor. */
export interface FriendlySink {
  kind: number;
  out: TensorData;
  /** 32-bit word view for INT64/UINT64 on little-endian hosts */
  words: Uint32Array | undefined;
  lo: number;
  hi: number;
}

export function createFriendlySink(dt: Datatype, out: TensorData): FriendlySink {
  const kind = kindOf(dt);
  let lo = -Infinity;
  let hi = Infinity;
  let words: Uint32Array | undefined;
  if (kind === KIND_INT) [lo, hi] = SMALL_INT_BOUNDS[dt]!;
  if (kind === KIND_BIG) {
    lo = dt === 'UINT64' ? 0 : -Number.MAX_SAFE_INTEGER;
    hi = Number.MAX_SAFE_INTEGER;
    words = int64Words(out as BigInt64Array | BigUint64Array);
  }
  return { kind, out, words, lo, hi };
}

/** Half bits of NaN, used for `null` in FP16 inputs. */
const HALF_NAN = 0x7e00;

/**
 * Store one friendly-JSON value (numbers, null → NaN for floats, booleans, strings for BYTES) at
 * index `i`. Returns false when the value does not fit; the caller builds the message.
 */
export function storeFriendly(sink: FriendlySink, i: number, v: unknown): boolean {
  switch (sink.kind) {
    case KIND_FLOAT:
      if (typeof v === 'number') (sink.out as Float32Array | Float64Array)[i] = v;
      else if (v === null) (sink.out as Float32Array | Float64Array)[i] = NaN;
      else return false;
      return true;
    case KIND_HALF:
      if (typeof v === 'number') (sink.out as Uint16Array)[i] = toFloat16Bits(v);
      else if (v === null) (sink.out as Uint16Array)[i] = HALF_NAN;
      else return false;
      return true;
    case KIND_INT:
      if (typeof v !== 'number' || !(v >= sink.lo && v <= sink.hi) || Math.floor(v) !== v) return false;
      (sink.out as Exclude<NumericArray, BigInt64Array | BigUint64Array>)[i] = v;
      return true;
    case KIND_BIG:
      if (typeof v !== 'number' || !(v >= sink.lo && v <= sink.hi) || Math.floor(v) !== v) return false;
      storeSafeInt64(sink.out as BigInt64Array | BigUint64Array, sink.words, i, v);
      return true;
    case KIND_BOOL:
      if (v === true) (sink.out as Uint8Array)[i] = 1;
      else if (v === false) (sink.out as Uint8Array)[i] = 0;
      else return false;
      return true;
    default:
      if (typeof v !== 'string') return false;
      (sink.out as string[])[i] = v;
      return true;
  }
}

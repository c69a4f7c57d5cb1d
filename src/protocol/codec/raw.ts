/**
 * Tensor elements as raw bytes, the layout the protocol's binary forms share (gRPC's
 * raw_input_contents / raw_output_contents and REST's binary tensor extension): numeric elements
 * little-endian, back to back; BYTES elements each preceded by its length as a 4-byte
 * little-endian unsigned integer.
 */
import { BerthError, allocateData, bytesPerElement, type Datatype, type Tensor, type TensorData } from '../../core/index.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A BYTES element as text. Berth's BYTES tensors hold strings, so bytes that are not UTF-8 are
 * refused rather than silently replaced.
 */
export function utf8Element(bytes: Uint8Array, field: string, i: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw invalidField(field, 'UTF-8 text in every BYTES element', `element ${i} is not UTF-8`, `${field}: element ${i} is not UTF-8 text; Berth's BYTES tensors carry text (strings), so send it as UTF-8`);
  }
}

/** INVALID_ARGUMENT naming the field, the expected and the got (the message defaults to saying exactly that). */
export function invalidField(field: string, expected: string, got: unknown, message?: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', message ?? `${field}: expected ${expected}, got ${JSON.stringify(got)}`, { field, expected, got });
}

/** Length-prefixed BYTES elements (4-byte little-endian length, then the bytes) as strings. */
export function readLengthPrefixed(buf: Buffer, n: number, field: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (at + 4 > buf.length) throw invalidField(field, `${n} length-prefixed elements`, `${i} (the buffer ends after ${buf.length} bytes)`);
    const len = buf.readUInt32LE(at);
    at += 4;
    if (at + len > buf.length) throw invalidField(field, `element ${i} of ${len} bytes`, `${buf.length - at} bytes left`);
    out.push(utf8Element(buf.subarray(at, at + len), field, i));
    at += len;
  }
  if (at !== buf.length) throw invalidField(field, `${n} length-prefixed elements filling the buffer`, `${buf.length - at} bytes left over`);
  return out;
}

/** Strings as length-prefixed BYTES elements. */
export function writeLengthPrefixed(values: readonly string[]): Buffer {
  const parts = values.map((v) => Buffer.from(v, 'utf8'));
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, at);
    p.copy(out, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** Raw little-endian bytes as the datatype's typed array (copied: the buffer may be unaligned). */
export function fromRaw(dt: Exclude<Datatype, 'BYTES'>, buf: Buffer, n: number, field: string): TensorData {
  const width = bytesPerElement(dt);
  if (buf.length !== n * width) {
    throw invalidField(field, `${n} × ${width} = ${n * width} bytes (${dt}, shape's element count)`, `${buf.length} bytes`, `${field}: expected ${n * width} bytes (${n} ${dt} elements of ${width}), got ${buf.length}`);
  }
  const out = allocateData(dt, n) as Exclude<TensorData, string[]>;
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(buf);
  if (dt === 'BOOL') for (let i = 0; i < n; i++) if ((out as Uint8Array)[i]! > 1) (out as Uint8Array)[i] = 1;
  return out;
}

/** A tensor's elements as raw little-endian bytes (a view, no copy, for numeric types). */
export function toRaw(t: Tensor): Buffer {
  if (t.datatype === 'BYTES') return writeLengthPrefixed(t.data as string[]);
  const d = t.data as Exclude<TensorData, string[]>;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}


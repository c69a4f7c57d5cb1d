import { endianness } from 'node:os';

const bigEndianHost = endianness() === 'BE';

/**
 * Base64 of the little-endian bytes of `values`. Sketches store their float arrays this way in JSON:
 * 8 bytes per value (≈10.7 characters) instead of up to 24 characters of decimal text.
 */
export function encodeFloat64Base64(values: Float64Array): string {
  if (values.length === 0) return '';
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return (bigEndianHost ? Buffer.from(bytes).swap64() : bytes).toString('base64');
}

/**
 * The inverse of {@link encodeFloat64Base64}; `null` when the text is not base64 of a whole number of
 * doubles (the caller names the field in its error).
 */
export function decodeFloat64Base64(text: string): Float64Array | null {
  if (text.length === 0) return new Float64Array(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 8 !== 0) return null;
  // copy: the Buffer may sit at an unaligned offset of Node's pool
  const out = new Float64Array(bytes.length / 8);
  const view = Buffer.from(out.buffer);
  bytes.copy(view);
  if (bigEndianHost) view.swap64();
  return out;
}

/**
 * Parquet's RLE / bit-packing hybrid encoding, used for definition levels and dictionary indices.
 *
 * A stream is a sequence of runs, each starting with a varint header: `count << 1` for an RLE run (then
 * the repeated value in ceil(width/8) little-endian bytes), or `groups << 1 | 1` for a bit-packed run of
 * `groups × 8` values packed LSB-first at `width` bits each.
 */

/** Malformed encoded data (reported by the reader as a damaged file). */
export class CorruptDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptDataError';
  }
}

/** The bits needed to store values up to `max` (at least 1). */
export function bitWidthFor(max: number): number {
  let w = 1;
  while (w < 32 && max >= 2 ** w) w++;
  return w;
}

/** A little growable byte buffer for encoders. */
export class ByteSink {
  buf: Uint8Array;
  length = 0;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }

  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  varint(v: number): void {
    this.reserve(10);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.length++] = v;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const MIN_RLE_RUN = 8;

/**
 * Encode `count` values (each below 2^width) with the hybrid encoding, preferring RLE runs of 8 or more
 * equal values and bit-packing the rest.
 */
export function encodeHybrid(values: ArrayLike<number>, count: number, width: number, sink = new ByteSink(count >> 2)): Uint8Array {
  const byteWidth = (width + 7) >> 3;
  let i = 0;
  while (i < count) {
    const v = values[i]!;
    let run = 1;
    while (i + run < count && values[i + run] === v) run++;
    if (run >= MIN_RLE_RUN) {
      sink.varint(run * 2);
      sink.reserve(byteWidth);
      for (let b = 0; b < byteWidth; b++) sink.buf[sink.length++] = Math.floor(v / 2 ** (8 * b)) & 0xff;
      i += run;
      continue;
    }
    // bit-pack groups of 8 until a long run starts at a group boundary (or the values end)
    const start = i;
    let groups = 0;
    for (;;) {
      groups++;
      i += 8;
      if (i >= count) break;
      const w = values[i]!;
      let r = 1;
      while (r < MIN_RLE_RUN && i + r < count && values[i + r] === w) r++;
      if (r >= MIN_RLE_RUN) break;
    }
    sink.varint(groups * 2 + 1);
    packBits(values, start, Math.min(count, start + groups * 8), groups * 8, width, sink);
    i = Math.min(i, count);
  }
  return sink.bytes();
}

/** Bit-pack `values[start, end)`, padded with zeros to `slots` values, LSB first. */
function packBits(values: ArrayLike<number>, start: number, end: number, slots: number, width: number, sink: ByteSink): void {
  const bytes = (slots * width) >> 3;
  sink.reserve(bytes);
  const out = sink.buf;
  let at = sink.length;
  out.fill(0, at, at + bytes);
  if (width <= 24) {
    let acc = 0;
    let bits = 0;
    for (let k = 0; k < slots; k++) {
      const v = start + k < end ? values[start + k]! : 0;
      acc |= v << bits;
      bits += width;
      while (bits >= 8) {
        out[at++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
    if (bits > 0) out[at++] = acc & 0xff;
  } else {
    let bitPos = at * 8;
    for (let k = 0; k < slots; k++) {
      const v = start + k < end ? values[start + k]! : 0;
      for (let b = 0; b < width; b++, bitPos++) {
        if (Math.floor(v / 2 ** b) % 2 === 1) out[bitPos >> 3]! |= 1 << (bitPos & 7);
      }
    }
    at += bytes;
  }
  sink.length = sink.length + bytes;
}

/**
 * Decode `count` values of the hybrid encoding from `buf[pos, end)` into `out[outPos…]`.
 * Returns the position after the last run read.
 *
 * @throws CorruptDataError when the runs do not fit the bytes.
 */
export function decodeHybrid(
  buf: Uint8Array,
  pos: number,
  end: number,
  width: number,
  count: number,
  out: Int32Array | Uint8Array,
  outPos = 0,
): number {
  if (width < 0 || width > 32) throw new CorruptDataError(`bit width ${width} is out of range`);
  const byteWidth = (width + 7) >> 3;
  let filled = 0;
  while (filled < count) {
    if (pos >= end) throw new CorruptDataError(`encoded values end after ${filled} of ${count}`);
    // varint header
    let header = 0;
    let scale = 1;
    for (let k = 0; ; k++) {
      if (pos >= end || k > 5) throw new CorruptDataError('bad run header');
      const b = buf[pos++]!;
      header += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
    }
    if (header % 2 === 1) {
      const slots = Math.floor(header / 2) * 8;
      if (slots === 0) throw new CorruptDataError('empty bit-packed run');
      const take = Math.min(slots, count - filled);
      const need = Math.ceil((take * width) / 8);
      if (pos + need > end) throw new CorruptDataError('bit-packed run is cut short');
      unpackBits(buf, pos, width, take, out, outPos + filled);
      filled += take;
      // the run occupies all its slots even when fewer values were wanted (the last run is padded)
      pos = Math.min(end, pos + (slots * width) / 8);
    } else {
      const run = header / 2;
      if (run === 0) throw new CorruptDataError('empty RLE run');
      if (pos + byteWidth > end) throw new CorruptDataError('RLE run is cut short');
      let v = 0;
      for (let b = 0; b < byteWidth; b++) v += buf[pos + b]! * 2 ** (8 * b);
      pos += byteWidth;
      const take = Math.min(run, count - filled);
      out.fill(v, outPos + filled, outPos + filled + take);
      filled += take;
    }
  }
  return pos;
}

function unpackBits(buf: Uint8Array, pos: number, width: number, count: number, out: Int32Array | Uint8Array, at: number): void {
  if (width === 0) {
    out.fill(0, at, at + count);
    return;
  }
  if (width === 1) {
    for (let k = 0; k < count; k++) out[at + k] = (buf[pos + (k >> 3)]! >> (k & 7)) & 1;
    return;
  }
  if (width <= 24) {
    const mask = (1 << width) - 1;
    let acc = 0;
    let bits = 0;
    let p = pos;
    for (let k = 0; k < count; k++) {
      while (bits < width) {
        acc |= buf[p++]! << bits;
        bits += 8;
      }
      out[at + k] = acc & mask;
      acc >>>= width;
      bits -= width;
    }
    return;
  }
  let bitPos = pos * 8;
  for (let k = 0; k < count; k++) {
    let v = 0;
    for (let b = 0; b < width; b++, bitPos++) {
      if ((buf[bitPos >> 3]! >> (bitPos & 7)) & 1) v += 2 ** b;
    }
    out[at + k] = v;
  }
}

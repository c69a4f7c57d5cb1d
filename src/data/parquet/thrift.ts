/**
 * The Thrift compact protocol, as much of it as Parquet's footer and page headers use.
 *
 * Writing is driven by the caller (`ThriftWriter.field*`); reading is generic: a struct becomes a
 * `Map<fieldId, value>` that `format.ts` turns into typed Parquet structures. Every read is bounds-checked
 * and list sizes are checked against the bytes left, so corrupt input ends in a `ThriftError`, never a
 * hang or a huge allocation.
 */

/** Compact-protocol type ids. */
export const CT = {
  STOP: 0,
  TRUE: 1,
  FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const;

/** Malformed Thrift bytes. */
export class ThriftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ThriftError';
  }
}

/** A decoded value: integers (i8..i64) as numbers, binary as bytes, lists as arrays, structs as maps. */
export type ThriftValue = number | boolean | Uint8Array | ThriftValue[] | ThriftStruct;
export type ThriftStruct = Map<number, ThriftValue>;

const MAX_DEPTH = 64;

/** Reads compact-protocol structs from a byte range. */
export class ThriftReader {
  pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  /** Read one struct (up to and including its STOP byte). */
  readStruct(depth = 0): ThriftStruct {
    if (depth > MAX_DEPTH) throw new ThriftError('structures nested too deeply');
    const out: ThriftStruct = new Map();
    let lastId = 0;
    for (;;) {
      const head = this.byte();
      const type = head & 0x0f;
      if (type === CT.STOP) return out;
      const delta = head >> 4;
      const id = delta === 0 ? this.zigzag() : lastId + delta;
      lastId = id;
      if (type === CT.TRUE || type === CT.FALSE) out.set(id, type === CT.TRUE);
      else out.set(id, this.value(type, depth));
    }
  }

  private value(type: number, depth: number): ThriftValue {
    switch (type) {
      case CT.BYTE: {
        const b = this.byte();
        return b > 127 ? b - 256 : b;
      }
      case CT.I16:
      case CT.I32:
      case CT.I64:
        return this.zigzag();
      case CT.DOUBLE: {
        this.need(8);
        const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
        this.pos += 8;
        return v;
      }
      case CT.BINARY: {
        const len = this.varint();
        this.need(len);
        const v = this.buf.subarray(this.pos, this.pos + len);
        this.pos += len;
        return v;
      }
      case CT.LIST:
      case CT.SET: {
        const head = this.byte();
        let size = head >> 4;
        const elem = head & 0x0f;
        if (size === 15) size = this.varint();
        // every element takes at least one byte: a larger size is corrupt
        if (size > this.end - this.pos) throw new ThriftError(`list of ${size} elements in ${this.end - this.pos} bytes`);
        const list: ThriftValue[] = new Array<ThriftValue>(size);
        for (let i = 0; i < size; i++) {
          if (elem === CT.TRUE || elem === CT.FALSE) list[i] = this.byte() === CT.TRUE;
          else if (elem === CT.STRUCT) list[i] = this.readStruct(depth + 1);
          else list[i] = this.value(elem, depth + 1);
        }
        return list;
      }
      case CT.MAP: {
        const size = this.varint();
        if (size === 0) return new Map();
        const kv = this.byte();
        if (size * 2 > this.end - this.pos) throw new ThriftError(`map of ${size} entries in ${this.end - this.pos} bytes`);
        // Parquet metadata has no maps; read and drop the entries to stay in step
        for (let i = 0; i < size; i++) {
          this.value(kv >> 4, depth + 1);
          this.value(kv & 0x0f, depth + 1);
        }
        return new Map();
      }
      case CT.STRUCT:
        return this.readStruct(depth + 1);
      default:
        throw new ThriftError(`unknown compact type ${type} at byte ${this.pos}`);
    }
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new ThriftError(`needs ${n} bytes at ${this.pos}, only ${this.end - this.pos} left`);
  }

  private byte(): number {
    if (this.pos >= this.end) throw new ThriftError('ends in the middle of a structure');
    return this.buf[this.pos++]!;
  }

  /** An unsigned varint as a number (exact to 2^53). */
  private varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new ThriftError('varint longer than 10 bytes');
  }

  /** A zigzag varint (i16, i32 or i64) as a number, exact to 2^53. */
  private zigzag(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
}

/** Writes compact-protocol structs into a growing buffer. Field ids must increase within a struct. */
export class ThriftWriter {
  private buf = new Uint8Array(256);
  private len = 0;
  private lastIds: number[] = [];
  private lastId = 0;

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Start a struct that is a field of the current struct (`id`), or a list element (`id` undefined). */
  beginStruct(id?: number): this {
    if (id !== undefined) this.fieldHeader(id, CT.STRUCT);
    this.lastIds.push(this.lastId);
    this.lastId = 0;
    return this;
  }

  /** End the current struct (writes STOP). */
  endStruct(): this {
    this.byte(CT.STOP);
    this.lastId = this.lastIds.pop() ?? 0;
    return this;
  }

  /** An i32 field (enums are i32). */
  i32(id: number, v: number): this {
    this.fieldHeader(id, CT.I32);
    this.zigzag(v);
    return this;
  }

  /** An i8 field. */
  byteField(id: number, v: number): this {
    this.fieldHeader(id, CT.BYTE);
    this.byte(v & 0xff);
    return this;
  }

  /** An i16 field. */
  i16(id: number, v: number): this {
    this.fieldHeader(id, CT.I16);
    this.zigzag(v);
    return this;
  }

  /** An i64 field (exact to 2^53). */
  i64(id: number, v: number): this {
    this.fieldHeader(id, CT.I64);
    this.zigzag(v);
    return this;
  }

  /** A bool field. */
  bool(id: number, v: boolean): this {
    this.fieldHeader(id, v ? CT.TRUE : CT.FALSE);
    return this;
  }

  /** A binary field. */
  binary(id: number, v: Uint8Array): this {
    this.fieldHeader(id, CT.BINARY);
    this.varint(v.length);
    this.bytes(v);
    return this;
  }

  /** A string field (UTF-8). */
  string(id: number, v: string): this {
    return this.binary(id, Buffer.from(v, 'utf8'));
  }

  /** A list<i32> field. */
  listI32(id: number, values: readonly number[]): this {
    this.fieldHeader(id, CT.LIST);
    this.listHeader(values.length, CT.I32);
    for (const v of values) this.zigzag(v);
    return this;
  }

  /** A list<string> field. */
  listString(id: number, values: readonly string[]): this {
    this.fieldHeader(id, CT.LIST);
    this.listHeader(values.length, CT.BINARY);
    for (const v of values) {
      const b = Buffer.from(v, 'utf8');
      this.varint(b.length);
      this.bytes(b);
    }
    return this;
  }

  /** A list<struct> field; `each` writes one element's fields between begin/endStruct done here. */
  listStruct<T>(id: number, items: readonly T[], each: (w: ThriftWriter, item: T) => void): this {
    this.fieldHeader(id, CT.LIST);
    this.listHeader(items.length, CT.STRUCT);
    for (const item of items) {
      this.beginStruct();
      each(this, item);
      this.endStruct();
    }
    return this;
  }

  private fieldHeader(id: number, type: number): void {
    const delta = id - this.lastId;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.lastId = id;
  }

  private listHeader(size: number, elem: number): void {
    if (size < 15) this.byte((size << 4) | elem);
    else {
      this.byte(0xf0 | elem);
      this.varint(size);
    }
  }

  private zigzag(v: number): void {
    // 2v for v >= 0, -2v - 1 for v < 0, in doubles so it stays exact past 2^31
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  private varint(v: number): void {
    this.reserve(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  private bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

/**
 * Growable column buffers for the inference log: one typed array per column that doubles when
 * full, so appending a row is a few stores and no allocation.
 */
import type { Column } from '../../data/index.js';

/** Doubles (NaN = missing), also used for int64 and timestamp columns. */
export class NumberColumnBuilder {
  private buf: Float64Array;
  length = 0;

  constructor(
    readonly name: string,
    readonly type: 'double' | 'int64' | 'timestamp_ms',
    capacity = 1024,
  ) {
    this.buf = new Float64Array(capacity);
  }

  push(v: number): void {
    if (this.length === this.buf.length) this.grow();
    this.buf[this.length++] = v;
  }

  /** Fill up to `length` with NaN (a column added to rows logged before it existed). */
  padTo(length: number): void {
    while (this.length < length) this.push(NaN);
  }

  private grow(): void {
    const next = new Float64Array(this.buf.length * 2);
    next.set(this.buf);
    this.buf = next;
  }

  /** The column so far; the builder starts over. */
  take(): Column {
    const values = this.buf.slice(0, this.length);
    this.length = 0;
    return { name: this.name, type: this.type, values };
  }
}

/** Strings, dictionary-coded as they arrive (-1 = missing). */
export class StringColumnBuilder {
  private codes: Int32Array;
  private dict = new Map<string, number>();
  private values: string[] = [];
  length = 0;

  constructor(
    readonly name: string,
    capacity = 1024,
  ) {
    this.codes = new Int32Array(capacity);
  }

  push(v: string | null): void {
    if (this.length === this.codes.length) {
      const next = new Int32Array(this.codes.length * 2);
      next.set(this.codes);
      this.codes = next;
    }
    if (v === null) {
      this.codes[this.length++] = -1;
      return;
    }
    let code = this.dict.get(v);
    if (code === undefined) {
      code = this.values.length;
      this.values.push(v);
      this.dict.set(v, code);
    }
    this.codes[this.length++] = code;
  }

  padTo(length: number): void {
    while (this.length < length) this.push(null);
  }

  take(): Column {
    const col: Column = { name: this.name, type: 'string', dictionary: this.values, codes: this.codes.slice(0, this.length) };
    this.length = 0;
    this.dict = new Map();
    this.values = [];
    return col;
  }
}

/** Raw bytes per row (inputs without feature names). */
export class BinaryColumnBuilder {
  private values: (Uint8Array | null)[] = [];

  constructor(readonly name: string) {}

  get length(): number {
    return this.values.length;
  }

  push(v: Uint8Array | null): void {
    this.values.push(v);
  }

  padTo(length: number): void {
    while (this.values.length < length) this.values.push(null);
  }

  take(): Column {
    const col: Column = { name: this.name, type: 'binary', values: this.values };
    this.values = [];
    return col;
  }
}

export type ColumnBuilder = NumberColumnBuilder | StringColumnBuilder | BinaryColumnBuilder;

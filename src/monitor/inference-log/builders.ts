/**
 * The inference log's column buffers: the data layer's growable builders, plus what a log segment
 * needs of them — padding a column a request did not fill — and a string builder for values that
 * are almost all distinct and arrive in runs (request ids), which skips the dictionary's map.
 */
import { NumericColumnBuilder, StringColumnBuilder as DataStringBuilder, type Column } from '../../data/index.js';

/** Doubles (NaN = missing), also used for int64 and timestamp columns. */
export class NumberColumnBuilder extends NumericColumnBuilder {
  /** Fill up to `length` with missing values (rows logged without this column). */
  padTo(length: number): void {
    while (this.length < length) this.push(NaN);
  }
}

/** Strings, dictionary-coded as they arrive (null = missing). */
export class StringColumnBuilder extends DataStringBuilder {
  padTo(length: number): void {
    if (this.length < length) this.pushMissing(length - this.length);
  }
}

/**
 * Strings that change from row to row but repeat in runs (all rows of one request share its id): a
 * new value gets a new dictionary entry without a map lookup; a repeat of the last one reuses its code.
 * A value seen again later gets a second entry (readers decode codes to strings, so nothing changes).
 */
export class RunStringBuilder {
  private codes = new Int32Array(1024);
  private dictionary: string[] = [];
  private last: string | null = null;
  length = 0;

  constructor(readonly name: string) {}

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
    if (v !== this.last) {
      this.dictionary.push(v);
      this.last = v;
    }
    this.codes[this.length++] = this.dictionary.length - 1;
  }

  padTo(length: number): void {
    while (this.length < length) this.push(null);
  }

  take(): Column {
    const col: Column = { name: this.name, type: 'string', dictionary: this.dictionary, codes: this.codes.subarray(0, this.length) };
    this.codes = new Int32Array(Math.max(1024, this.length));
    this.dictionary = [];
    this.last = null;
    this.length = 0;
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

export type ColumnBuilder = NumberColumnBuilder | StringColumnBuilder | RunStringBuilder | BinaryColumnBuilder;

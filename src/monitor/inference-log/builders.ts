/**
 * The inference log's column buffers: the data layer's growable builders, plus what a log segment
 * needs of them — padding a column that a request did not fill, and taking the rows buffered so far
 * while starting over.
 */
import { NumericColumnBuilder, StringColumnBuilder as DataStringBuilder, type Column, type NumericColumnType } from '../../data/index.js';

/** Doubles (NaN = missing), also used for int64 and timestamp columns. */
export class NumberColumnBuilder {
  private b: NumericColumnBuilder;

  constructor(
    readonly name: string,
    readonly type: NumericColumnType,
  ) {
    this.b = new NumericColumnBuilder(name, type);
  }

  get length(): number {
    return this.b.length;
  }

  push(v: number): void {
    this.b.push(v);
  }

  /** Fill up to `length` with missing values (rows logged without this column). */
  padTo(length: number): void {
    while (this.b.length < length) this.b.push(NaN);
  }

  /** The column so far; the builder starts over. */
  take(): Column {
    const col = this.b.build();
    this.b = new NumericColumnBuilder(this.name, this.type);
    return col;
  }
}

/** Strings, dictionary-coded as they arrive (null = missing). */
export class StringColumnBuilder {
  private b: DataStringBuilder;

  constructor(readonly name: string) {
    this.b = new DataStringBuilder(name);
  }

  get length(): number {
    return this.b.length;
  }

  push(v: string | null): void {
    this.b.push(v);
  }

  padTo(length: number): void {
    if (this.b.length < length) this.b.pushMissing(length - this.b.length);
  }

  take(): Column {
    const col = this.b.build();
    this.b = new DataStringBuilder(this.name);
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

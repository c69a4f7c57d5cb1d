import { BerthError } from '../../core/index.js';
import { invalidField, readArray, readNumber, readObject, readString } from './json-fields.js';

export const FREQUENCY_DEFAULT_CAP = 1000;
export const FREQUENCY_MAX_CAP = 1_000_000;

export interface FrequencySketchOptions {
  /** most distinct values kept (default 1000) */
  cap?: number;
}

export interface FrequencySketchJson {
  cap: number;
  /** total weight added */
  total: number;
  /** weight not attributed to any kept value (0 while exact) */
  other: number;
  /** bound on how much any value's count is underestimated (0 while exact) */
  maxError: number;
  exact: boolean;
  values: string[];
  counts: number[];
}

/**
 * Counts of categories (strings), exact while there are at most `cap` distinct values, bounded after.
 *
 * Beyond the cap it is a Misra–Gries summary in its mergeable form (Agarwal et al., "Mergeable
 * summaries", 2012): whenever more than `cap` values are tracked, the (cap+1)-th largest count c is
 * subtracted from every count and the values left at zero or below are dropped. Each reduction removes
 * at least (cap+1)·c of weight and lowers any one value's count by at most c, so for every value v:
 *
 *     count(v) − maxError ≤ estimate(v) ≤ count(v),   maxError ≤ otherCount / (cap + 1) ≤ total / (cap + 1)
 *
 * where `otherCount` is the weight no kept value accounts for (`total − Σ estimates`). Any value with
 * a true share above 1/(cap+1) is therefore always kept. Estimates never overcount, so the kept counts
 * plus `otherCount` add up to `total` — a consistent histogram with an "other" bucket for drift tests.
 * Ties at the threshold are all dropped; the bound still holds.
 *
 * Counts are weights (sampling weights from the inference log), so they need not be integers.
 *
 * @example
 * const f = new FrequencySketch();
 * f.addCounts(['a', 'b'], [3, 1]);
 * f.estimate('a'); // 3
 */
export class FrequencySketch {
  readonly cap: number;
  private counts = new Map<string, number>();
  private totalWeight = 0;
  private otherWeight = 0;
  private errorBound = 0;
  private isExact = true;

  constructor(options: FrequencySketchOptions = {}) {
    const cap = options.cap ?? FREQUENCY_DEFAULT_CAP;
    if (!Number.isInteger(cap) || cap < 1 || cap > FREQUENCY_MAX_CAP) {
      throw new BerthError('INVALID_ARGUMENT', `frequency sketch cap: expected an integer in [1, ${FREQUENCY_MAX_CAP}], got ${cap}`, {
        field: 'cap',
        expected: `integer in [1, ${FREQUENCY_MAX_CAP}]`,
        got: cap,
      });
    }
    this.cap = cap;
  }

  /** total weight added */
  get total(): number {
    return this.totalWeight;
  }

  /** weight of values no longer tracked individually (0 while exact) */
  get otherCount(): number {
    return this.otherWeight;
  }

  /** the most any {@link estimate} falls short of the true count (0 while exact) */
  get maxError(): number {
    return this.errorBound;
  }

  /** true while every value ever added is tracked with its exact count */
  get exact(): boolean {
    return this.isExact;
  }

  /** number of distinct values seen while exact; null once beyond the cap (it is then > cap) */
  get distinct(): number | null {
    return this.isExact ? this.counts.size : null;
  }

  /** number of values tracked now (≤ cap) */
  get size(): number {
    return this.counts.size;
  }

  /** Add `weight` (default 1, finite and ≥ 0) to a value's count. */
  add(value: string, weight = 1): void {
    checkWeight(weight, 'weight');
    if (weight === 0) return;
    this.counts.set(value, (this.counts.get(value) ?? 0) + weight);
    this.totalWeight += weight;
    if (this.counts.size > this.cap) this.reduce();
  }

  /**
   * Add `counts[i]` to `values[i]` for each i (repeated values add up) — the batch path: a column's
   * per-dictionary-entry counts go in here in one reduction at most.
   */
  addCounts(values: readonly string[], counts: ArrayLike<number>): void {
    if (values.length !== counts.length) {
      throw new BerthError('INVALID_ARGUMENT', `frequency sketch: expected one count per value (${values.length}), got ${counts.length} counts`, {
        field: 'counts',
        expected: values.length,
        got: counts.length,
      });
    }
    for (let i = 0; i < values.length; i++) {
      const w = counts[i]!;
      checkWeight(w, `counts[${i}]`);
      if (w === 0) continue;
      const v = values[i]!;
      this.counts.set(v, (this.counts.get(v) ?? 0) + w);
      this.totalWeight += w;
    }
    if (this.counts.size > this.cap) this.reduce();
  }

  /** Fold `other` into this sketch (the cap stays this sketch's). */
  merge(other: FrequencySketch): this {
    const entries = [...other.counts];
    for (const [v, w] of entries) this.counts.set(v, (this.counts.get(v) ?? 0) + w);
    this.totalWeight += other.totalWeight;
    this.otherWeight += other.otherWeight;
    this.errorBound += other.errorBound;
    this.isExact &&= other.isExact;
    if (this.counts.size > this.cap) this.reduce();
    return this;
  }

  clone(): FrequencySketch {
    const copy = new FrequencySketch({ cap: this.cap });
    copy.merge(this);
    return copy;
  }

  /** Estimated count of a value (0 if not tracked); never above the true count. */
  estimate(value: string): number {
    return this.counts.get(value) ?? 0;
  }

  /** Tracked values with their counts, largest first (ties by value), at most `limit`. */
  entries(limit = Infinity): Array<[value: string, count: number]> {
    const all = [...this.counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return Number.isFinite(limit) ? all.slice(0, limit) : all;
  }

  toJSON(): FrequencySketchJson {
    const entries = this.entries();
    return {
      cap: this.cap,
      total: this.totalWeight,
      other: this.otherWeight,
      maxError: this.errorBound,
      exact: this.isExact,
      values: entries.map((e) => e[0]),
      counts: entries.map((e) => e[1]),
    };
  }

  /** Rebuild from {@link toJSON} output; bad input → BerthError INVALID_ARGUMENT naming the field. */
  static fromJSON(json: unknown, field = 'frequencies'): FrequencySketch {
    const o = readObject(json, field);
    const cap = readNumber(o['cap'], `${field}.cap`, { integer: true, min: 1, max: FREQUENCY_MAX_CAP });
    const total = readNumber(o['total'], `${field}.total`, { min: 0 });
    const other = readNumber(o['other'], `${field}.other`, { min: 0 });
    const maxError = readNumber(o['maxError'], `${field}.maxError`, { min: 0 });
    if (typeof o['exact'] !== 'boolean') throw invalidField(`${field}.exact`, 'a boolean', o['exact']);
    const values = readArray(o['values'], `${field}.values`);
    const counts = readArray(o['counts'], `${field}.counts`);
    if (counts.length !== values.length) throw invalidField(`${field}.counts`, `${values.length} counts (one per value)`, counts.length);
    if (values.length > cap) throw invalidField(`${field}.values`, `at most cap = ${cap} values`, values.length);
    const sketch = new FrequencySketch({ cap });
    let sum = 0;
    for (let i = 0; i < values.length; i++) {
      const v = readString(values[i], `${field}.values[${i}]`);
      const c = readNumber(counts[i], `${field}.counts[${i}]`, { min: 0 });
      if (sketch.counts.has(v)) throw invalidField(`${field}.values[${i}]`, 'distinct values', v);
      sketch.counts.set(v, c);
      sum += c;
    }
    if (Math.abs(sum + other - total) > 1e-9 * Math.max(1, total)) {
      throw invalidField(`${field}.total`, `the sum of the counts and other (${sum + other})`, total);
    }
    sketch.totalWeight = total;
    sketch.otherWeight = other;
    sketch.errorBound = maxError;
    sketch.isExact = o['exact'];
    return sketch;
  }

  private reduce(): void {
    const sorted = Float64Array.from(this.counts.values()).sort();
    const threshold = sorted[sorted.length - 1 - this.cap]!; // the (cap+1)-th largest
    for (const [v, c] of this.counts) {
      if (c <= threshold) {
        this.counts.delete(v);
        this.otherWeight += c;
      } else {
        this.counts.set(v, c - threshold);
        this.otherWeight += threshold;
      }
    }
    this.errorBound += threshold;
    this.isExact = false;
  }
}

function checkWeight(w: number, field: string): void {
  if (!(w >= 0 && w < Infinity)) {
    throw new BerthError('INVALID_ARGUMENT', `frequency sketch ${field}: expected a finite weight >= 0, got ${w}`, {
      field,
      expected: 'finite >= 0',
      got: w,
    });
  }
}

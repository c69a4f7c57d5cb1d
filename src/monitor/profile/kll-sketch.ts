import { BerthError } from '../../core/index.js';
import { decodeFloat64Base64, encodeFloat64Base64 } from './float64-codec.js';
import { invalidField, readArray, readNullableNumber, readNumber, readObject, readString } from './json-fields.js';
import { sortFloat64 } from './sort-float64.js';

export const KLL_DEFAULT_K = 2048;
export const KLL_MIN_K = 8;
export const KLL_MAX_K = 65536;

export interface KllSketchOptions {
  /** accuracy parameter: the sketch is exact up to `k` items and keeps about 3k afterwards (default 2048) */
  k?: number;
  /** seed of the coin that picks which half of a level survives a compaction (default a fixed constant) */
  seed?: number;
}

/** The serialized form: each level's items as base64 of little-endian doubles (level h weighs 2^h). */
export interface KllSketchJson {
  k: number;
  n: number;
  /** null while empty */
  min: number | null;
  max: number | null;
  /** state of the coin, so that a parsed sketch continues exactly as the original would have */
  rng: number;
  levels: string[];
}

/** The weighted sample a sketch keeps: distinct values ascending, each with the weight it stands for. */
export interface KllItems {
  values: Float64Array;
  weights: Float64Array;
}

/** Items with no smaller capacity: the lowest levels of a deep sketch keep at least this many. */
const MIN_LEVEL_CAPACITY = 8;
/** updateMany appends this many values to level 0 before compressing (one radix sort per block). */
const BLOCK = 32768;
const DEFAULT_SEED = 0x5eed_b347;

/**
 * A KLL quantile sketch (Karnin, Lang & Liberty, "Optimal quantile approximation in streams", 2016)
 * over doubles: mergeable, with a size bounded by `k` whatever the number of items.
 *
 * Level h holds items that each stand for 2^h inputs; level h ≥ 1 is kept sorted. Level capacities
 * shrink geometrically (factor 2/3) from the top level (capacity k) down, never below 8, so about 3k
 * items are kept in all. When the sketch holds more than the sum of the capacities, the lowest level
 * at or over its capacity is compacted: sorted, and every other item (odd or even positions, a coin
 * flip) moves up a level with twice the weight — an odd item out stays. This is the "lazy" variant of
 * Apache DataSketches.
 *
 * Guarantees:
 * - **Exact while n ≤ k**: nothing is compacted before the sketch holds more than k items, so every
 *   item is kept with weight 1 and quantiles, ranks and {@link items} are exact.
 * - **Rank error**: for any x, |rank(x) − true rank(x)| ≤ ε with high probability, ε ∝ 1/k. Measured
 *   as the worst error over 1000 query points, across seeds (kll-sketch.test.ts prints it):
 *   `updateMany` (fewer, bigger compactions) median 1.0/k, 99th percentile 1.3/k; `update` one value at
 *   a time (the textbook lazy KLL) median 1.45/k, 99th percentile 2.0–2.4/k, for k = 128 … 2048 —
 *   so ε ≈ 1.65/k is typical, and {@link rankErrorBound} (2.5/k; 0.0012 at k = 2048) is the bound the
 *   tests hold every path to. Merging in any order (sequential, reversed, tree, different sizes) keeps
 *   the bound: a merge only appends levels and compacts, and the error is the sum of independent ±2^h
 *   compaction errors whatever their order.
 * - **Deterministic**: the coin is a seeded PRNG (mulberry32) whose state is part of the sketch, so the
 *   same sequence of calls on the same input gives the same sketch, also across `toJSON`/`fromJSON`.
 *   `update` one at a time and `updateMany` of the same values give different (equally accurate)
 *   sketches, because `updateMany` compacts in blocks.
 *
 * Only finite values are sketched: NaN and ±Infinity are ignored (profiles count them separately).
 *
 * @example
 * const s = new KllSketch();
 * s.updateMany(Float64Array.from([3, 1, 2]));
 * s.quantile(0.5); // 2
 */
export class KllSketch {
  private kParam: number;
  private count = 0;
  private minValue = NaN;
  private maxValue = NaN;
  private rngState: number;
  private levels: Float64Array[] = [new Float64Array(16)];
  private sizes: number[] = [0];
  private capacities: number[] = [];
  private totalCapacity = 0;
  private retainedCount = 0;
  private view: { values: Float64Array; weights: Float64Array; cumulative: Float64Array } | null = null;

  constructor(options: KllSketchOptions = {}) {
    const k = options.k ?? KLL_DEFAULT_K;
    if (!Number.isInteger(k) || k < KLL_MIN_K || k > KLL_MAX_K) {
      throw new BerthError('INVALID_ARGUMENT', `KLL sketch k: expected an integer in [${KLL_MIN_K}, ${KLL_MAX_K}], got ${k}`, {
        field: 'k',
        expected: `integer in [${KLL_MIN_K}, ${KLL_MAX_K}]`,
        got: k,
      });
    }
    this.kParam = k;
    this.rngState = (options.seed ?? DEFAULT_SEED) >>> 0;
    this.recomputeCapacities();
  }

  /**
   * The normalized rank error the tests hold the sketch to: 2.5/k, above the worst error measured over
   * hundreds of seeded runs (see the class comment). Exact (0 error) while n ≤ k.
   */
  static rankErrorBound(k: number): number {
    return 2.5 / k;
  }

  get k(): number {
    return this.kParam;
  }

  /** number of (finite) items seen, or their total weight when weighted */
  get n(): number {
    return this.count;
  }

  /** smallest item seen, NaN while empty */
  get min(): number {
    return this.minValue;
  }

  /** largest item seen, NaN while empty */
  get max(): number {
    return this.maxValue;
  }

  /** number of items the sketch keeps (≤ about 3k after any update) */
  get retained(): number {
    return this.retainedCount;
  }

  /** true while the sketch has one level: every item seen kept with weight 1 (nothing compacted, no weight > 1 given) */
  get exact(): boolean {
    return this.levels.length === 1;
  }

  /** Add one value (ignored unless finite). */
  update(x: number): void {
    if (!Number.isFinite(x)) return;
    this.view = null;
    this.observe(x);
    this.count++;
    const size = this.sizes[0]!;
    this.ensureRoom(0, size + 1);
    this.levels[0]![size] = x;
    this.sizes[0] = size + 1;
    this.retainedCount++;
    if (this.retainedCount > this.totalCapacity) this.compress();
  }

  /**
   * Add many values; NaN and ±Infinity are skipped. With `weights` (same length, finite, ≥ 0), each
   * value counts that many times: weights are rounded to integers stochastically (unbiased, with the
   * sketch's coin) and each integer weight is split into its binary digits, an item going straight to
   * every level h whose bit is set — so a weight-8 value costs one item, not eight.
   *
   * The unweighted path is the fast one: values are appended to level 0 in blocks of 32768 and each
   * block is radix-sorted and compacted at once.
   */
  updateMany(values: Float64Array, weights?: Float64Array): void {
    if (weights !== undefined) {
      if (weights.length !== values.length) {
        throw new BerthError('INVALID_ARGUMENT', `KLL sketch weights: expected ${values.length} weights (one per value), got ${weights.length}`, {
          field: 'weights',
          expected: values.length,
          got: weights.length,
        });
      }
      this.updateWeighted(values, weights);
      return;
    }
    this.view = null;
    let lo = this.minValue;
    let hi = this.maxValue;
    if (this.count === 0) {
      lo = Infinity;
      hi = -Infinity;
    }
    // Level 0 works in a staging buffer shared by all sketches (big enough for a block on top of a
    // full sketch), so a sketch does not keep a block-sized buffer of its own; its items are copied
    // back at the end. Safe because this runs synchronously and nothing in it re-enters.
    const own = this.levels[0]!;
    const needed = this.totalCapacity + BLOCK + 1;
    if (staging.length < needed) staging = new Float64Array(needed);
    staging.set(own.subarray(0, this.sizes[0]!));
    this.levels[0] = staging;
    try {
      for (let start = 0; start < values.length; start += BLOCK) {
        const end = Math.min(values.length, start + BLOCK);
        let size = this.sizes[0]!;
        this.ensureRoom(0, size + (end - start));
        const level0 = this.levels[0]!;
        const before = size;
        for (let i = start; i < end; i++) {
          const x = values[i]!;
          // x - x is 0 for finite x and NaN for NaN and ±Infinity
          if (x - x === 0) {
            level0[size++] = x;
            if (x < lo) lo = x;
            if (x > hi) hi = x;
          }
        }
        const added = size - before;
        this.sizes[0] = size;
        this.count += added;
        this.retainedCount += added;
        if (this.retainedCount > this.totalCapacity) this.compress();
      }
    } finally {
      const size = this.sizes[0]!;
      const used = this.levels[0]!;
      const back = own.length >= size ? own : new Float64Array(Math.max(size, 2 * own.length));
      back.set(used.subarray(0, size));
      this.levels[0] = back;
    }
    if (this.count > 0) {
      this.minValue = lo;
      this.maxValue = hi;
    }
  }

  /**
   * Fold `other` into this sketch (`other` is unchanged). The result has the smaller of the two k and
   * the same error guarantee as one sketch fed both streams; merging is order-independent in that sense.
   */
  merge(other: KllSketch): this {
    if (other.count === 0) return this;
    const source = other === this ? other.clone() : other;
    this.view = null;
    while (this.levels.length < source.levels.length) this.addLevel();
    for (let h = 0; h < source.levels.length; h++) {
      const size = source.sizes[h]!;
      if (size === 0) continue;
      const items = source.levels[h]!.subarray(0, size);
      if (h === 0) {
        const mine = this.sizes[0]!;
        this.ensureRoom(0, mine + size);
        this.levels[0]!.set(items, mine);
        this.sizes[0] = mine + size;
      } else {
        this.mergeSortedInto(h, items, size);
      }
      this.retainedCount += size;
    }
    if (this.count === 0 || source.minValue < this.minValue) this.minValue = source.minValue;
    if (this.count === 0 || source.maxValue > this.maxValue) this.maxValue = source.maxValue;
    this.count += source.count;
    if (source.kParam < this.kParam) {
      this.kParam = source.kParam;
      this.recomputeCapacities();
    }
    if (this.retainedCount > this.totalCapacity) this.compress();
    this.trimLevel0();
    return this;
  }

  clone(): KllSketch {
    const copy = new KllSketch({ k: this.kParam, seed: this.rngState });
    copy.count = this.count;
    copy.minValue = this.minValue;
    copy.maxValue = this.maxValue;
    copy.levels = this.levels.map((level, h) => level.slice(0, Math.max(this.sizes[h]!, 1)));
    copy.sizes = this.sizes.slice();
    copy.retainedCount = this.retainedCount;
    copy.recomputeCapacities();
    return copy;
  }

  /**
   * The q-quantile (0 ≤ q ≤ 1): the smallest kept value v whose weight of items ≤ v reaches q·n — the
   * "inverted CDF" definition, so for an exact sketch it is `sorted[ceil(q·n) − 1]`. q = 0 and q = 1
   * give the exact min and max. NaN while empty.
   */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) {
      throw new BerthError('INVALID_ARGUMENT', `quantile: expected q in [0, 1], got ${q}`, { field: 'q', expected: '[0, 1]', got: q });
    }
    if (this.count === 0) return NaN;
    if (q === 0) return this.minValue;
    if (q === 1) return this.maxValue;
    const { values, cumulative } = this.sortedView();
    // tolerance absorbs the rounding of q·n (e.g. 0.07 · 100 = 7.000000000000001) without ever
    // spanning a whole unit of weight
    const target = q * this.count - Math.min(0.25, this.count * 1e-12);
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! >= target) hi = mid;
      else lo = mid + 1;
    }
    return values[lo]!;
  }

  /** {@link quantile} for each of `qs`. */
  quantiles(qs: ArrayLike<number>): number[] {
    const out: number[] = [];
    for (let i = 0; i < qs.length; i++) out.push(this.quantile(qs[i]!));
    return out;
  }

  /** Normalized rank of x: the share of the weight on items ≤ x (0 below the min, 1 from the max). NaN while empty. */
  rank(x: number): number {
    if (this.count === 0 || Number.isNaN(x)) return NaN;
    if (x < this.minValue) return 0;
    if (x >= this.maxValue) return 1;
    const { values, cumulative } = this.sortedView();
    // last index with values[i] <= x
    let lo = -1;
    let hi = values.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (values[mid]! <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo < 0 ? 0 : cumulative[lo]! / this.count;
  }

  /**
   * The estimated CDF: `cdf(x)` is {@link rank}(x); `cdf(points)` is the rank at each point (e.g. the
   * edges of bins fixed in advance — differences of consecutive values are the bins' shares).
   */
  cdf(x: number): number;
  cdf(points: ArrayLike<number>): number[];
  cdf(arg: number | ArrayLike<number>): number | number[] {
    if (typeof arg === 'number') return this.rank(arg);
    const out: number[] = [];
    for (let i = 0; i < arg.length; i++) out.push(this.rank(arg[i]!));
    return out;
  }

  /**
   * The weighted sample the sketch keeps: distinct values ascending and the weight each stands for
   * (the weights sum to n). Two-sample statistics on sketches (weighted KS, Wasserstein) run on this.
   * Fresh arrays: the caller may keep or change them.
   */
  items(): KllItems {
    const { values, weights } = this.sortedView();
    return { values: values.slice(), weights: weights.slice() };
  }

  toJSON(): KllSketchJson {
    return {
      k: this.kParam,
      n: this.count,
      min: this.count === 0 ? null : this.minValue,
      max: this.count === 0 ? null : this.maxValue,
      rng: this.rngState,
      levels: this.levels.map((level, h) => encodeFloat64Base64(level.subarray(0, this.sizes[h]!))),
    };
  }

  /**
   * Rebuild a sketch from {@link toJSON} output, checking its shape and invariants (levels ≥ 1 sorted,
   * items within [min, max], Σ size·2^h = n). Bad input → BerthError INVALID_ARGUMENT naming the
   * field under `field` (e.g. `columns[2].kll.levels[3]`).
   */
  static fromJSON(json: unknown, field = 'kll'): KllSketch {
    const o = readObject(json, field);
    const k = readNumber(o['k'], `${field}.k`, { integer: true, min: KLL_MIN_K, max: KLL_MAX_K });
    const n = readNumber(o['n'], `${field}.n`, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
    const rng = readNumber(o['rng'], `${field}.rng`, { integer: true, min: 0, max: 0xffffffff });
    const min = readNullableNumber(o['min'], `${field}.min`);
    const max = readNullableNumber(o['max'], `${field}.max`);
    if (n > 0 && (Number.isNaN(min) || Number.isNaN(max) || min > max)) {
      throw invalidField(`${field}.min`, 'finite min <= max for a non-empty sketch', { min: o['min'], max: o['max'] });
    }
    const levelTexts = readArray(o['levels'], `${field}.levels`);
    if (levelTexts.length < 1 || levelTexts.length > 64) throw invalidField(`${field}.levels`, 'between 1 and 64 levels', levelTexts.length);
    const sketch = new KllSketch({ k, seed: rng });
    sketch.levels = [];
    sketch.sizes = [];
    let weight = 0;
    levelTexts.forEach((text, h) => {
      const levelField = `${field}.levels[${h}]`;
      const items = decodeFloat64Base64(readString(text, levelField));
      if (items === null) throw invalidField(levelField, 'base64 of little-endian doubles', text);
      for (let i = 0; i < items.length; i++) {
        const x = items[i]!;
        if (!(x >= min && x <= max)) throw invalidField(`${levelField}[${i}]`, `a value within [min, max] = [${min}, ${max}]`, x);
        if (h > 0 && i > 0 && x < items[i - 1]!) throw invalidField(levelField, 'items in ascending order', `${items[i - 1]} before ${x}`);
      }
      weight += items.length * 2 ** h;
      sketch.levels.push(items.length > 0 ? items : new Float64Array(1));
      sketch.sizes.push(items.length);
    });
    if (weight !== n) throw invalidField(`${field}.n`, `the total weight of the levels (${weight})`, n);
    sketch.count = n;
    sketch.minValue = n > 0 ? min : NaN;
    sketch.maxValue = n > 0 ? max : NaN;
    sketch.retainedCount = sketch.sizes.reduce((a, b) => a + b, 0);
    sketch.recomputeCapacities();
    if (sketch.retainedCount > sketch.totalCapacity) sketch.compress();
    return sketch;
  }

  // ---------------------------------------------------------------------------------------------

  private updateWeighted(values: Float64Array, weights: Float64Array): void {
    this.view = null;
    const pending: Float64Array[] = [];
    const pendingSizes: number[] = [];
    const push = (h: number, x: number): void => {
      while (pending.length <= h) {
        pending.push(new Float64Array(64));
        pendingSizes.push(0);
      }
      let buf = pending[h]!;
      const size = pendingSizes[h]!;
      if (size === buf.length) {
        const grown = new Float64Array(buf.length * 2);
        grown.set(buf);
        pending[h] = buf = grown;
      }
      buf[size] = x;
      pendingSizes[h] = size + 1;
    };
    for (let start = 0; start < values.length; start += BLOCK) {
      const end = Math.min(values.length, start + BLOCK);
      for (let i = start; i < end; i++) {
        const x = values[i]!;
        const w = weights[i]!;
        if (!(w >= 0 && w < Infinity)) {
          throw new BerthError('INVALID_ARGUMENT', `KLL sketch weights[${i}]: expected a finite weight >= 0, got ${w}`, {
            field: `weights[${i}]`,
            expected: 'finite >= 0',
            got: w,
          });
        }
        if (x - x !== 0) continue;
        let r = Math.floor(w);
        const fraction = w - r;
        if (fraction > 0 && this.nextUnit() < fraction) r++;
        if (r === 0) continue;
        this.observe(x);
        this.count += r;
        for (let h = 0; r > 0; h++) {
          if (r % 2 === 1) push(h, x);
          r = Math.floor(r / 2);
        }
      }
      for (let h = 0; h < pending.length; h++) {
        const size = pendingSizes[h]!;
        if (size === 0) continue;
        while (this.levels.length <= h) this.addLevel();
        const items = pending[h]!;
        if (h === 0) {
          const mine = this.sizes[0]!;
          this.ensureRoom(0, mine + size);
          this.levels[0]!.set(items.subarray(0, size), mine);
          this.sizes[0] = mine + size;
        } else {
          sortFloat64(items, size);
          this.mergeSortedInto(h, items, size);
        }
        this.retainedCount += size;
        pendingSizes[h] = 0;
      }
      if (this.retainedCount > this.totalCapacity) this.compress();
    }
    this.trimLevel0();
  }

  private observe(x: number): void {
    if (this.count === 0) {
      this.minValue = x;
      this.maxValue = x;
    } else {
      if (x < this.minValue) this.minValue = x;
      if (x > this.maxValue) this.maxValue = x;
    }
  }

  private compress(): void {
    while (this.retainedCount > this.totalCapacity) {
      let h = 0;
      while (this.sizes[h]! < this.capacities[h]!) h++;
      this.compactLevel(h);
    }
  }

  private compactLevel(h: number): void {
    if (h === this.levels.length - 1) this.addLevel();
    const items = this.levels[h]!;
    const size = this.sizes[h]!;
    if (h === 0) sortFloat64(items, size);
    const odd = size & 1;
    const half = (size - odd) >>> 1;
    const offset = this.nextBit();
    if (halfScratch.length < half) halfScratch = new Float64Array(Math.max(half, halfScratch.length * 2));
    for (let i = 0, j = offset; i < half; i++, j += 2) halfScratch[i] = items[j]!;
    this.mergeSortedInto(h + 1, halfScratch, half);
    if (odd) items[0] = items[size - 1]!; // the largest stays, alone (so still sorted)
    this.sizes[h] = odd;
    this.retainedCount -= half;
  }

  /** Merge `items[0, count)` (ascending) into level h (ascending), back to front in place. */
  private mergeSortedInto(h: number, items: Float64Array, count: number): void {
    const size = this.sizes[h]!;
    this.ensureRoom(h, size + count);
    const level = this.levels[h]!;
    let i = size - 1;
    let j = count - 1;
    let w = size + count - 1;
    while (j >= 0) {
      const b = items[j]!;
      if (i >= 0 && level[i]! > b) level[w--] = level[i--]!;
      else {
        level[w--] = b;
        j--;
      }
    }
    this.sizes[h] = size + count;
  }

  private ensureRoom(h: number, needed: number): void {
    const level = this.levels[h]!;
    if (level.length >= needed) return;
    const grown = new Float64Array(Math.max(needed, level.length * 2));
    grown.set(level.subarray(0, this.sizes[h]!));
    this.levels[h] = grown;
  }

  /** After a bulk update level 0 may have a block-sized buffer; give the memory back. */
  private trimLevel0(): void {
    const level = this.levels[0]!;
    const keep = Math.max(16, this.sizes[0]!, 2 * this.capacities[0]!);
    if (level.length > 2 * keep) this.levels[0] = level.slice(0, keep);
  }

  private addLevel(): void {
    this.levels.push(new Float64Array(16));
    this.sizes.push(0);
    this.recomputeCapacities();
  }

  private recomputeCapacities(): void {
    const height = this.levels.length;
    this.capacities = [];
    this.totalCapacity = 0;
    for (let h = 0; h < height; h++) {
      const c = Math.max(MIN_LEVEL_CAPACITY, Math.floor(this.kParam * (2 / 3) ** (height - 1 - h)));
      this.capacities.push(c);
      this.totalCapacity += c;
    }
  }

  private sortedView(): { values: Float64Array; weights: Float64Array; cumulative: Float64Array } {
    if (this.view) return this.view;
    // merge levels bottom-up into one ascending run, then fold equal values together
    let values: Float64Array = this.levels[0]!.slice(0, this.sizes[0]!);
    sortFloat64(values);
    let weights: Float64Array = new Float64Array(values.length).fill(1);
    for (let h = 1; h < this.levels.length; h++) {
      const size = this.sizes[h]!;
      if (size === 0) continue;
      const level = this.levels[h]!;
      const w = 2 ** h;
      const mergedValues = new Float64Array(values.length + size);
      const mergedWeights = new Float64Array(values.length + size);
      let i = 0;
      let j = 0;
      let o = 0;
      while (i < values.length || j < size) {
        if (j >= size || (i < values.length && values[i]! <= level[j]!)) {
          mergedValues[o] = values[i]!;
          mergedWeights[o++] = weights[i++]!;
        } else {
          mergedValues[o] = level[j++]!;
          mergedWeights[o++] = w;
        }
      }
      values = mergedValues;
      weights = mergedWeights;
    }
    let distinct = 0;
    for (let i = 0; i < values.length; i++) {
      if (distinct > 0 && values[distinct - 1] === values[i]) weights[distinct - 1]! += weights[i]!;
      else {
        values[distinct] = values[i]!;
        weights[distinct++] = weights[i]!;
      }
    }
    values = values.slice(0, distinct);
    weights = weights.slice(0, distinct);
    const cumulative = new Float64Array(distinct);
    let sum = 0;
    for (let i = 0; i < distinct; i++) cumulative[i] = sum += weights[i]!;
    this.view = { values, weights, cumulative };
    return this.view;
  }

  /** mulberry32: a small, fast, well-mixed 32-bit generator; its state is serialized with the sketch. */
  private nextUint32(): number {
    this.rngState = (this.rngState + 0x6d2b79f5) >>> 0;
    let t = this.rngState;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  private nextBit(): number {
    return this.nextUint32() >>> 31;
  }

  private nextUnit(): number {
    return this.nextUint32() / 4294967296;
  }
}

let halfScratch = new Float64Array(1024);
let staging = new Float64Array(0);

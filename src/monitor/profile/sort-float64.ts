import { endianness } from 'node:os';

/**
 * In-place ascending sort of `values[0, length)` (no NaN). Below a few hundred items the engine's sort;
 * above, an LSD radix sort on the IEEE-754 bits (see below), 2–4× faster than
 * `Float64Array.prototype.sort` on a block of 32k doubles — what makes building a profile over a million
 * rows take tens of milliseconds per column (see `kll-sketch.ts`).
 */
export function sortFloat64(values: Float64Array, length = values.length): void {
  if (length < RADIX_MIN || bigEndianHost) {
    values.subarray(0, length).sort();
    return;
  }
  radixSort(values, length);
}

const RADIX_MIN = 384;
const bigEndianHost = endianness() === 'BE';
const BUCKETS = 2048;
const MASK = BUCKETS - 1;
/** runs of equal 42-bit prefixes up to this long are insertion-sorted, longer ones by the engine */
const INSERTION_MAX = 16;

let scratch = new Float64Array(0);
const counts = new Uint32Array(4 * BUCKETS);

/**
 * Each double maps to an unsigned 64-bit key of the same order (negatives: all bits flipped;
 * positives: sign bit set). The keys are radix-sorted on their top 42 bits only — the high word in
 * three 11-bit digits and the top 10 bits of the low word — four passes instead of six, a pass
 * skipped when every item has the same digit. Items equal in those 42 bits (relative difference below
 * ~1e-9, or exact ties) end up adjacent; a last scan sorts each such run, which for real data is
 * almost always already in order or a pair. Words are read little-endian (checked above).
 */
function radixSort(values: Float64Array, n: number): void {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
  let a: Uint32Array = new Uint32Array(values.buffer, values.byteOffset, 2 * n);
  let b: Uint32Array = new Uint32Array(scratch.buffer, 0, 2 * n);
  const n2 = 2 * n;
  counts.fill(0);
  for (let i = 0; i < n2; i += 2) {
    let lo = a[i]!;
    let hi = a[i + 1]!;
    if (hi & 0x80000000) {
      lo = ~lo >>> 0;
      hi = ~hi >>> 0;
    } else {
      hi = (hi | 0x80000000) >>> 0;
    }
    a[i] = lo;
    a[i + 1] = hi;
    counts[lo >>> 22]!++;
    counts[BUCKETS + (hi & MASK)]!++;
    counts[2 * BUCKETS + ((hi >>> 11) & MASK)]!++;
    counts[3 * BUCKETS + (hi >>> 22)]!++;
  }
  // digit 0: bits 22..31 of the low word
  if (counts[a[0]! >>> 22] !== n) {
    prefixSums(0);
    for (let i = 0; i < n2; i += 2) {
      const lo = a[i]!;
      const p = 2 * counts[lo >>> 22]!++;
      b[p] = lo;
      b[p + 1] = a[i + 1]!;
    }
    const t = a;
    a = b;
    b = t;
  }
  // digits 1..3: the high word, 11 bits at a time
  for (let d = 1; d < 4; d++) {
    const base = d * BUCKETS;
    const shift = (d - 1) * 11;
    if (counts[base + ((a[1]! >>> shift) & MASK)] === n) continue;
    prefixSums(base);
    for (let i = 0; i < n2; i += 2) {
      const hi = a[i + 1]!;
      const p = 2 * counts[base + ((hi >>> shift) & MASK)]!++;
      b[p] = a[i]!;
      b[p + 1] = hi;
    }
    const t = a;
    a = b;
    b = t;
  }
  for (let i = 0; i < n2; i += 2) {
    const hi = a[i + 1]!;
    if (hi & 0x80000000) {
      a[i + 1] = hi & 0x7fffffff;
    } else {
      a[i] = ~a[i]!;
      a[i + 1] = ~hi;
    }
  }
  if (a.buffer !== values.buffer) values.set(new Float64Array(a.buffer, 0, n));
  sortRuns(values, n, new Uint32Array(values.buffer, values.byteOffset, n2));
}

function prefixSums(base: number): void {
  let sum = 0;
  for (let j = base; j < base + BUCKETS; j++) {
    const c = counts[j]!;
    counts[j] = sum;
    sum += c;
  }
}

/** Sort each run of adjacent values that share their top 42 bits (the radix passes left them unordered). */
function sortRuns(values: Float64Array, n: number, words: Uint32Array): void {
  let i = 0;
  while (i < n - 1) {
    const hi = words[2 * i + 1]!;
    const top = words[2 * i]! >>> 22;
    if (words[2 * i + 3] !== hi || words[2 * i + 2]! >>> 22 !== top) {
      i++;
      continue;
    }
    let j = i + 1;
    let sorted = values[i]! <= values[j]!;
    while (j + 1 < n && words[2 * j + 3] === hi && words[2 * j + 2]! >>> 22 === top) {
      j++;
      if (values[j - 1]! > values[j]!) sorted = false;
    }
    if (!sorted) {
      if (j - i < INSERTION_MAX) {
        for (let p = i + 1; p <= j; p++) {
          const x = values[p]!;
          let q = p - 1;
          while (q >= i && values[q]! > x) {
            values[q + 1] = values[q]!;
            q--;
          }
          values[q + 1] = x;
        }
      } else {
        values.subarray(i, j + 1).sort();
      }
    }
    i = j + 1;
  }
}

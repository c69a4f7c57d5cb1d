import { BerthError } from '../../core/index.js';

/**
 * An ascending Float64Array copy of `values` (numeric sort of a typed array, no comparator
 * callback). Throws on NaN: missing values must be dropped before testing, and a NaN would otherwise
 * land at an arbitrary end of the order.
 */
export function sortedCopy(values: ArrayLike<number>, context = 'sortedCopy'): Float64Array {
  const out = Float64Array.from(values);
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i]!)) {
      throw new BerthError('INVALID_ARGUMENT', `${context}: value ${i} is NaN; drop missing values before testing`);
    }
  }
  return out.sort();
}

/** True when `values` is in ascending order (NaN anywhere makes it false). */
export function isSorted(values: ArrayLike<number>): boolean {
  for (let i = 1; i < values.length; i++) if (!(values[i - 1]! <= values[i]!)) return false;
  return values.length !== 1 || !Number.isNaN(values[0]!);
}

/** The finite values of `values` (drops NaN and ±Infinity), as a new Float64Array. */
export function finiteValues(values: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) n++;
  const out = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) out[k++] = v;
  }
  return out;
}

/** Number of distinct values in an ascending array. */
export function countDistinctSorted(sorted: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) n++;
  return n;
}

/** Number of distinct values in the union of two ascending arrays (one merge pass). */
export function countDistinctUnionSorted(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < a.length || j < b.length) {
    const x = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    n++;
    while (i < a.length && a[i] === x) i++;
    while (j < b.length && b[j] === x) j++;
  }
  return n;
}

/**
 * The distinct values of the union of two ascending arrays with the count of each in either array:
 * `{ values, countsA, countsB }` (one merge pass), e.g. for a chi-square test on a numeric column with
 * few distinct values.
 */
export function distinctCountsSorted(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): { values: Float64Array; countsA: Float64Array; countsB: Float64Array } {
  const k = countDistinctUnionSorted(a, b);
  const values = new Float64Array(k);
  const countsA = new Float64Array(k);
  const countsB = new Float64Array(k);
  let i = 0;
  let j = 0;
  for (let c = 0; c < k; c++) {
    const x = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    values[c] = x;
    let ca = 0;
    let cb = 0;
    while (i < a.length && a[i] === x) {
      i++;
      ca++;
    }
    while (j < b.length && b[j] === x) {
      j++;
      cb++;
    }
    countsA[c] = ca;
    countsB[c] = cb;
  }
  return { values, countsA, countsB };
}

import { BerthError } from '../../core/index.js';
import { isSorted } from './sorting.js';

/**
 * `num` evenly spaced values from `start` to `stop` inclusive, computed exactly as `numpy.linspace`
 * does (i·step + start, last value set to `stop`), so edges built here equal numpy's bit for bit.
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 0) return out;
  const div = num - 1;
  const delta = stop - start;
  if (div > 0) {
    const step = delta / div;
    for (let i = 0; i < num; i++) out[i] = (step === 0 ? (i / div) * delta : i * step) + start;
    out[num - 1] = stop;
  } else {
    out[0] = start;
  }
  return out;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of ascending, NaN-free values with linear interpolation between order
 * statistics, numerically identical to `numpy.quantile(values, q)` (method 'linear', numpy's
 * two-sided interpolation formula).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new BerthError('INVALID_ARGUMENT', 'quantileSorted: no values');
  if (!(q >= 0 && q <= 1)) throw new BerthError('INVALID_ARGUMENT', `quantileSorted: q must lie in [0, 1], got ${q}`);
  const virtual = (n - 1) * q;
  if (virtual >= n - 1) return sorted[n - 1]!;
  const prev = Math.floor(virtual);
  const gamma = virtual - prev;
  const a = sorted[prev]!;
  const b = sorted[prev + 1]!;
  const diff = b - a;
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

export interface QuantileEdgesOptions {
  /**
   * Replace the first edge with −∞ and the last with +∞ (default true), so current values outside
   * the reference range fall into the end bins instead of being dropped — what drift binning needs.
   */
  openEnds?: boolean;
}

/**
 * Bin edges at the reference quantiles 0, 1/bins, …, 1 (numpy's linear quantiles of an ascending,
 * NaN-free array), with duplicate edges removed (ties in the reference merge bins, so a column with
 * few distinct values gets fewer bins) and, by default, open ends (first −∞, last +∞). Use with
 * `histogramCounts` for both samples: bins are left-closed [e_i, e_{i+1}), so a value equal to an
 * inner edge counts in the bin to its right. Fewer than 3 edges (at most one bin; a constant
 * reference gives a single edge) means the reference has (almost) no spread: count distinct values
 * instead, as Berth's and the fixtures' PSI do.
 *
 * @example
 * quantileEdges(sortedRef, 10); // reference-decile edges: [-Inf, q10, q20, …, q90, +Inf] when no ties
 */
export function quantileEdges(sortedRef: ArrayLike<number>, bins: number, opts: QuantileEdgesOptions = {}): Float64Array {
  if (!Number.isInteger(bins) || bins < 1) throw new BerthError('INVALID_ARGUMENT', `quantileEdges: bins must be a positive integer, got ${bins}`);
  const qs = linspace(0, 1, bins + 1);
  const raw = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) raw[i] = quantileSorted(sortedRef, qs[i]!);
  raw.sort();
  let k = 0;
  for (let i = 0; i <= bins; i++) if (i === 0 || raw[i] !== raw[k - 1]) raw[k++] = raw[i]!;
  const edges = raw.slice(0, k);
  if (opts.openEnds ?? true) {
    edges[0] = -Infinity;
    if (k > 1) edges[k - 1] = Infinity;
  }
  return edges;
}

/**
 * Edges like `numpy.histogram_bin_edges(values, bins='sturges')` for a sample with the given minimum,
 * maximum and size: ⌈(max − min) / ((max − min)/(log₂ n + 1))⌉ equal-width bins spanning [min, max]
 * (±0.5 around a constant sample). Evidently bins numeric columns this way for its Jensen–Shannon and
 * PSI scores (over reference and current together).
 */
export function sturgesEdges(min: number, max: number, n: number): Float64Array {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new BerthError('INVALID_ARGUMENT', `sturgesEdges: need a finite range, got [${min}, ${max}]`);
  }
  let first = min;
  let last = max;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  let nBins = 1;
  if (n > 0) {
    const width = (max - min) / (Math.log2(n) + 1);
    nBins = width ? Math.ceil((last - first) / width) : 1;
  }
  return linspace(first, last, nBins + 1);
}

export interface HistogramOptions {
  /** Weight of each value (default 1). */
  weights?: ArrayLike<number>;
  /** The values are known to be ascending: one linear pass instead of a binary search per value. Checked. */
  sorted?: boolean;
}

/**
 * Counts of `values` in the bins defined by ascending `edges` (k + 1 edges → k counts), with
 * `numpy.histogram` semantics: bin i is [e_i, e_{i+1}) (left-closed) except the last, which is
 * [e_{k−1}, e_k] (closed on both sides); values outside [e_0, e_k] and NaN are not counted. With
 * `quantileEdges` (open ends) every non-NaN value is counted. Values may be unsorted (binary search
 * per value, O(n log k)); pass `sorted: true` for a single merge pass.
 */
export function histogramCounts(values: ArrayLike<number>, edges: ArrayLike<number>, opts: HistogramOptions = {}): Float64Array {
  const ne = edges.length;
  if (ne < 2) throw new BerthError('INVALID_ARGUMENT', `histogramCounts: need at least 2 edges, got ${ne}`);
  if (!isSorted(edges)) throw new BerthError('INVALID_ARGUMENT', 'histogramCounts: edges must be ascending and not NaN');
  const w = opts.weights;
  if (w !== undefined && w.length !== values.length) {
    throw new BerthError('INVALID_ARGUMENT', `histogramCounts: ${values.length} values but ${w.length} weights`);
  }
  const k = ne - 1;
  const counts = new Float64Array(k);
  const lo = edges[0]!;
  const hi = edges[k]!;
  const n = values.length;
  if (opts.sorted) {
    if (!isSortedIgnoringNaNTail(values)) throw new BerthError('INVALID_ARGUMENT', 'histogramCounts: sorted: true but the values are not ascending');
    let b = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (!(v >= lo) || v > hi) continue;
      while (b < k - 1 && v >= edges[b + 1]!) b++;
      counts[b]! += w === undefined ? 1 : w[i]!;
    }
    return counts;
  }
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!(v >= lo) || v > hi) continue;
    // largest b with edges[b] ≤ v, capped at k − 1 (the last bin is closed on the right)
    let l = 0;
    let r = k;
    while (l < r) {
      const mid = (l + r + 1) >> 1;
      if (edges[mid]! <= v) l = mid;
      else r = mid - 1;
    }
    const bin = l === k ? k - 1 : l;
    counts[bin]! += w === undefined ? 1 : w[i]!;
  }
  return counts;
}

function isSortedIgnoringNaNTail(values: ArrayLike<number>): boolean {
  let last = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    if (v < last) return false;
    last = v;
  }
  return true;
}

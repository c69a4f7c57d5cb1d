import { BerthError } from '../../core/index.js';
import type { NumericColumnProfile } from './column-profile.js';

export interface NumericSummary {
  count: number;
  missing: number;
  nonFinite: number;
  min: number;
  max: number;
  mean: number;
  /** sample standard deviation, Σw(x − mean)² / (Σw − 1) — pandas' `std()` without weights; NaN below a weight of 2 */
  std: number;
  /** KLL quantiles (inverted-CDF definition, exact while the column has ≤ k values) */
  quantiles: { p01: number; p05: number; p25: number; p50: number; p75: number; p95: number; p99: number };
}

const SUMMARY_QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] as const;

/** Descriptive statistics of a numeric column profile (NaN where there are no values). */
export function numericSummary(col: NumericColumnProfile): NumericSummary {
  const [p01, p05, p25, p50, p75, p95, p99] = col.kll.quantiles(SUMMARY_QUANTILES) as [number, number, number, number, number, number, number];
  return {
    count: col.count,
    missing: col.missing,
    nonFinite: col.nonFinite,
    min: col.min,
    max: col.max,
    mean: col.weight > 0 ? col.mean : NaN,
    std: col.weight > 1 ? Math.sqrt(col.m2 / (col.weight - 1)) : NaN,
    quantiles: { p01, p05, p25, p50, p75, p95, p99 },
  };
}

/**
 * Bins fixed on a reference column, for PSI and chi-square on numerics.
 *
 * Semantics (both kinds): `edges` ascending and distinct; with m edges there are m + 1 bins and bin i
 * is (edges[i−1], edges[i]] — closed on the right — with edges[−1] = −∞ and edges[m] = +∞. So the
 * first bin is (−∞, e0] and the last (e_{m−1}, +∞). Use {@link binIndex} to place a value.
 *
 * - `quantile`: edges are the reference's interior quantiles 1/bins … (bins−1)/bins (inverted-CDF,
 *   deduplicated — a value holding a large share collapses several edges into one). Closing bins on
 *   the right matches that quantile definition: bin i holds at least the share its edge promises.
 * - `discrete`: the reference has a small domain (≤ 64 distinct values); edges are those values, so
 *   bin i (i < m) holds exactly the value edges[i] in the reference, and the last bin (above the
 *   reference's max) is empty in the reference; values between two reference values fall into the
 *   bin of the next larger one. Treat each bin as a category.
 */
export interface BinEdges {
  kind: 'quantile' | 'discrete';
  edges: number[];
}

/** Bins for a reference numeric column: its small domain if any, else its `bins` quantiles (default deciles). */
export function referenceBinEdges(col: NumericColumnProfile, bins = 10): BinEdges {
  if (!Number.isInteger(bins) || bins < 2) {
    throw new BerthError('INVALID_ARGUMENT', `bins: expected an integer >= 2, got ${bins}`, { field: 'bins', expected: '>= 2', got: bins });
  }
  if (col.smallDomain !== null && col.smallDomain.values.length > 0) {
    return { kind: 'discrete', edges: col.smallDomain.values.slice() };
  }
  const edges: number[] = [];
  if (col.kll.n > 0) {
    for (let i = 1; i < bins; i++) {
      const e = col.kll.quantile(i / bins);
      if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
    }
  }
  return { kind: 'quantile', edges };
}

/** The bin of x under {@link BinEdges} semantics: the number of edges strictly below x (0 … m). */
export function binIndex(edges: readonly number[], x: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The weight a numeric column profile puts in each bin (length edges.length + 1): exact from the small
 * domain when the profile has one, else from the KLL's weighted sample (exact while it is exact,
 * within its rank error otherwise). Works for the reference and for a window's profile alike.
 */
export function binWeights(col: NumericColumnProfile, binning: BinEdges): Float64Array {
  const out = new Float64Array(binning.edges.length + 1);
  const add = (values: ArrayLike<number>, weights: ArrayLike<number>): void => {
    for (let i = 0; i < values.length; i++) {
      const b = binIndex(binning.edges, values[i]!);
      out[b] = out[b]! + weights[i]!;
    }
  };
  if (col.smallDomain !== null) add(col.smallDomain.values, col.smallDomain.counts);
  else {
    const { values, weights } = col.kll.items();
    add(values, weights);
  }
  return out;
}

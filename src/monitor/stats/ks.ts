import { BerthError } from '../../core/index.js';
import { kolmogorovNSf } from './kolmogorov.js';
import { sortedCopy } from './sorting.js';

/** How `ksTwoSample` computes its p-value: like scipy's `method` argument of `ks_2samp`. */
export const KS_METHODS = ['auto', 'exact', 'asymp'] as const;
export type KsMethod = (typeof KS_METHODS)[number];

export interface KsOptions {
  /**
   * `auto` (default): exact when both samples have at most 10 000 values, else asymptotic — scipy
   * 1.10's rule. `exact`: the exact null distribution (falls back to asymptotic when the lowest common
   * multiple of the sizes is too large, as scipy does). `asymp`: always asymptotic.
   */
  method?: KsMethod;
  /** Only the two-sided alternative is implemented. */
  alternative?: 'two-sided';
}

export interface KsResult {
  /** sup |F_a − F_b| of the two empirical CDFs (rounded to a multiple of 1/lcm(n_a, n_b) when exact). */
  statistic: number;
  /** Two-sided p-value. */
  pValue: number;
  /** The method actually used. */
  method: 'exact' | 'asymp';
}

/** scipy's MAX_AUTO_N: `auto` is exact when both samples are at most this large. */
export const KS_MAX_EXACT_AUTO_N = 10_000;
const INT32_MAX = 2147483647;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * sup_x |F_a(x) − F_b(x)| for two ascending arrays, one merge pass. Ties are handled the way
 * scipy does (the empirical CDFs are compared only after every value equal to x is counted).
 */
export function ksStatisticSorted(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const na = a.length;
  const nb = b.length;
  let i = 0;
  let j = 0;
  let maxS = 0; // max F_a − F_b
  let minS = 0; // max F_b − F_a
  while (i < na && j < nb) {
    const ai = a[i]!;
    const bj = b[j]!;
    const x = ai <= bj ? ai : bj;
    while (i < na && a[i]! <= x) i++;
    while (j < nb && b[j]! <= x) j++;
    const diff = i / na - j / nb;
    if (diff > maxS) maxS = diff;
    else if (-diff > minS) minS = -diff;
  }
  // once one sample is exhausted its CDF is 1: the remaining steps only shrink |diff| towards 0
  return minS > maxS ? minS : maxS;
}

/**
 * P(D ≥ h/n) for two samples of equal size n (scipy `_compute_prob_outside_square`).
 */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  let k = Math.floor(n / h);
  while (k >= 0) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
    k -= 1;
  }
  return 2 * P;
}

/**
 * The proportion of lattice paths from (0,0) to (m,n) that leave the band |x/m − y/n| < h/lcm(m,n)
 * (scipy `_compute_outer_prob_inside_method`: Hodges' inside method with Viehmann's recursion for
 * 1 − p, so small p-values keep their precision).
 */
function probOutsideBand(m0: number, n0: number, g: number, h: number): number {
  const m = Math.max(m0, n0);
  const n = Math.min(m0, n0);
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  for (let j = minj; j < maxj; j++) A[j] = 0;
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.max(Math.floor((ng * i - h) / mg) + 1, 0);
    minj = Math.min(minj, n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    const width = maxj - minj;
    const offset = minj - lastminj;
    for (let jj = 0; jj < width; jj++) {
      const j = jj + minj;
      val = (A[jj + offset]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = width;
    if (lastlen > curlen) A.fill(1, width, width + (lastlen - curlen));
  }
  return A[maxj - minj - 1]!;
}

/**
 * The asymptotic two-sided p-value for a two-sample statistic d, exactly as scipy 1.10 computes it:
 * `kstwo.sf(d, round(n·m/(n+m)))`. Sizes may be effective (non-integer) sizes; NaN when the rounded
 * size is below 1.
 */
export function ksAsymptoticPValue(d: number, n1: number, n2: number): number {
  const big = Math.max(n1, n2);
  const small = Math.min(n1, n2);
  const en = (big * small) / (big + small);
  return kolmogorovNSf(roundHalfEven(en), d);
}

/**
 * Two-sample Kolmogorov–Smirnov test on ascending, NaN-free arrays (sort once, reuse). Same result as
 * `scipy.stats.ks_2samp(a, b)` (scipy 1.10, two-sided): the statistic with scipy's tie handling, the
 * exact p-value for small samples (the `auto` rule: both sizes ≤ 10 000) and scipy's asymptotic one
 * otherwise. Cost: one merge pass, plus O(n) (equal sizes) or O(n·band) (unequal sizes) for an exact
 * p-value.
 *
 * @example
 * const r = ksTwoSampleSorted(Float64Array.of(1, 2, 3), Float64Array.of(2, 3, 4, 5));
 * // r.statistic = 0.5, r.method = 'exact'
 */
export function ksTwoSampleSorted(a: ArrayLike<number>, b: ArrayLike<number>, opts: KsOptions = {}): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) {
    throw new BerthError('INVALID_ARGUMENT', `ksTwoSample: both samples need at least one value, got ${n1} and ${n2}`);
  }
  if (opts.alternative !== undefined && opts.alternative !== 'two-sided') {
    throw new BerthError('INVALID_ARGUMENT', `ksTwoSample: only the two-sided alternative is implemented, got "${String(opts.alternative)}"`);
  }
  let d = ksStatisticSorted(a, b);
  const g = gcd(n1, n2);
  const n1g = n1 / g;
  const n2g = n2 / g;
  let mode: 'auto' | 'exact' | 'asymp' = opts.method ?? 'auto';
  if (!(KS_METHODS as readonly string[]).includes(mode)) {
    throw new BerthError('INVALID_ARGUMENT', `ksTwoSample: method must be one of ${KS_METHODS.join(', ')}, got "${String(mode)}"`);
  }
  if (mode === 'auto') mode = Math.max(n1, n2) <= KS_MAX_EXACT_AUTO_N ? 'exact' : 'asymp';
  else if (mode === 'exact' && n1g >= INT32_MAX / n2g) mode = 'asymp';

  if (mode === 'exact') {
    const lcm = n1g * n2;
    const h = roundHalfEven(d * lcm);
    d = h / lcm;
    if (h === 0) return { statistic: d, pValue: 1, method: 'exact' };
    const prob = n1 === n2 ? probOutsideSquare(n1, h) : probOutsideBand(n1, n2, g, h);
    if (prob >= 0 && prob <= 1) return { statistic: d, pValue: prob, method: 'exact' };
    // like scipy: an exact computation that fails falls back to the asymptotic one
  }
  const p = ksAsymptoticPValue(d, n1, n2);
  return { statistic: d, pValue: Number.isNaN(p) ? p : Math.min(1, Math.max(0, p)), method: 'asymp' };
}

/**
 * Two-sample Kolmogorov–Smirnov test on unsorted arrays: copies and sorts both, then
 * `ksTwoSampleSorted`. Throws on NaN (drop missing values first).
 */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>, opts: KsOptions = {}): KsResult {
  return ksTwoSampleSorted(sortedCopy(a, 'ksTwoSample'), sortedCopy(b, 'ksTwoSample'), opts);
}

export interface KsWeightedResult {
  /** sup |F_a − F_b| of the weighted empirical CDFs. */
  statistic: number;
  /** Asymptotic two-sided p-value with the effective sizes in place of n₁, n₂ (`ksAsymptoticPValue`). */
  pValue: number;
  /** Kish effective sizes (Σw)²/Σw² of the two samples. */
  effectiveSizes: [number, number];
}

function checkWeights(name: string, values: ArrayLike<number>, weights: ArrayLike<number>): void {
  if (values.length !== weights.length) {
    throw new BerthError('INVALID_ARGUMENT', `ksWeighted: ${name} has ${values.length} values but ${weights.length} weights`);
  }
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (!(w >= 0) || w === Infinity) throw new BerthError('INVALID_ARGUMENT', `ksWeighted: ${name} weight ${i} is ${w}; weights must be finite and ≥ 0`);
  }
}

/**
 * Kolmogorov–Smirnov distance between two weighted samples (e.g. a sketch's items with their weights,
 * or an inference log sampled with weight 1/probability). Values must be ascending; weights ≥ 0.
 * F(x) = Σ_{v ≤ x} w / Σ w. The p-value is the asymptotic one with Kish's effective sample sizes
 * n_eff = (Σw)²/Σw², which reduce to n₁, n₂ for unit weights (so it then equals `ksTwoSample`'s
 * asymptotic p-value). It treats the weights as sampling weights, not as frequencies: integer weights
 * give the statistic of the expanded sample but a p-value for the effective size.
 */
export function ksWeighted(
  aValues: ArrayLike<number>,
  aWeights: ArrayLike<number>,
  bValues: ArrayLike<number>,
  bWeights: ArrayLike<number>,
): KsWeightedResult {
  checkWeights('a', aValues, aWeights);
  checkWeights('b', bValues, bWeights);
  let wa = 0;
  let wa2 = 0;
  for (let i = 0; i < aWeights.length; i++) {
    const w = aWeights[i]!;
    wa += w;
    wa2 += w * w;
  }
  let wb = 0;
  let wb2 = 0;
  for (let i = 0; i < bWeights.length; i++) {
    const w = bWeights[i]!;
    wb += w;
    wb2 += w * w;
  }
  if (!(wa > 0) || !(wb > 0)) {
    throw new BerthError('INVALID_ARGUMENT', `ksWeighted: both samples need a positive total weight, got ${wa} and ${wb}`);
  }
  const na = aValues.length;
  const nb = bValues.length;
  let i = 0;
  let j = 0;
  let ca = 0;
  let cb = 0;
  let d = 0;
  while (i < na && j < nb) {
    const ai = aValues[i]!;
    const bj = bValues[j]!;
    const x = ai <= bj ? ai : bj;
    while (i < na && aValues[i]! <= x) ca += aWeights[i++]!;
    while (j < nb && bValues[j]! <= x) cb += bWeights[j++]!;
    const diff = Math.abs(ca / wa - cb / wb);
    if (diff > d) d = diff;
  }
  const effA = (wa * wa) / wa2;
  const effB = (wb * wb) / wb2;
  const p = ksAsymptoticPValue(d, effA, effB);
  return { statistic: d, pValue: p, effectiveSizes: [effA, effB] };
}

import { BerthError } from '../../core/index.js';
import { sortedCopy } from './sorting.js';

function checkWeights(name: string, values: ArrayLike<number>, weights: ArrayLike<number> | undefined): number {
  if (weights === undefined) return values.length;
  if (weights.length !== values.length) {
    throw new BerthError('INVALID_ARGUMENT', `wasserstein1: ${name} has ${values.length} values but ${weights.length} weights`);
  }
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (!(w >= 0) || w === Infinity) throw new BerthError('INVALID_ARGUMENT', `wasserstein1: ${name} weight ${i} is ${w}; weights must be finite and ≥ 0`);
    total += w;
  }
  return total;
}

/**
 * First Wasserstein (earth mover's) distance between two ascending samples, optionally weighted
 * (weights aligned with the sorted values): ∫ |F_u(x) − F_v(x)| dx over the two (weighted) empirical
 * CDFs, one merge pass, compensated summation. Same value as `scipy.stats.wasserstein_distance`.
 * In the units of the data (see `wassersteinNormed` for a scale-free form).
 */
export function wasserstein1Sorted(
  u: ArrayLike<number>,
  v: ArrayLike<number>,
  uWeights?: ArrayLike<number>,
  vWeights?: ArrayLike<number>,
): number {
  const nu = u.length;
  const nv = v.length;
  if (nu === 0 || nv === 0) throw new BerthError('INVALID_ARGUMENT', `wasserstein1: both samples need at least one value, got ${nu} and ${nv}`);
  const tu = checkWeights('u', u, uWeights);
  const tv = checkWeights('v', v, vWeights);
  if (!(tu > 0) || !(tv > 0)) throw new BerthError('INVALID_ARGUMENT', `wasserstein1: total weights must be positive, got ${tu} and ${tv}`);
  let i = 0;
  let j = 0;
  let cu = 0;
  let cv = 0;
  let sum = 0;
  let comp = 0; // Neumaier compensation
  let prev = NaN;
  while (i < nu || j < nv) {
    const x = j >= nv || (i < nu && u[i]! <= v[j]!) ? u[i]! : v[j]!;
    if (i + j > 0) {
      const term = Math.abs(cu / tu - cv / tv) * (x - prev);
      const t = sum + term;
      comp += Math.abs(sum) >= Math.abs(term) ? sum - t + term : term - t + sum;
      sum = t;
    }
    if (uWeights === undefined) {
      while (i < nu && u[i]! <= x) {
        i++;
        cu++;
      }
    } else {
      while (i < nu && u[i]! <= x) cu += uWeights[i++]!;
    }
    if (vWeights === undefined) {
      while (j < nv && v[j]! <= x) {
        j++;
        cv++;
      }
    } else {
      while (j < nv && v[j]! <= x) cv += vWeights[j++]!;
    }
    prev = x;
  }
  return sum + comp;
}

/** Sorts values (and their weights along) ascending: a typed-array sort without weights, an index sort with. */
function sortWithWeights(values: ArrayLike<number>, weights: ArrayLike<number> | undefined): [Float64Array, Float64Array | undefined] {
  if (weights === undefined) return [sortedCopy(values, 'wasserstein1'), undefined];
  const n = values.length;
  if (weights.length !== n) throw new BerthError('INVALID_ARGUMENT', `wasserstein1: ${n} values but ${weights.length} weights`);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(values[i]!)) throw new BerthError('INVALID_ARGUMENT', `wasserstein1: value ${i} is NaN; drop missing values first`);
    idx[i] = i;
  }
  idx.sort((a, b) => values[a]! - values[b]!);
  const sv = new Float64Array(n);
  const sw = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    sv[k] = values[idx[k]!]!;
    sw[k] = weights[idx[k]!]!;
  }
  return [sv, sw];
}

/**
 * First Wasserstein distance between two unsorted samples, optionally weighted, like
 * `scipy.stats.wasserstein_distance(u, v, u_weights, v_weights)`. Sorts copies, then `wasserstein1Sorted`.
 */
export function wasserstein1(
  uValues: ArrayLike<number>,
  vValues: ArrayLike<number>,
  uWeights?: ArrayLike<number>,
  vWeights?: ArrayLike<number>,
): number {
  const [u, uw] = sortWithWeights(uValues, uWeights);
  const [v, vw] = sortWithWeights(vValues, vWeights);
  return wasserstein1Sorted(u, v, uw, vw);
}

/** Population standard deviation (ddof = 0, like `np.std`), two passes. */
export function populationStd(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return NaN;
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i]!;
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    ss += d * d;
  }
  return Math.sqrt(ss / n);
}

export interface WassersteinNormedOptions {
  /** Floor for the reference standard deviation, so a constant reference does not divide by 0. Default 0.001 (Evidently's). */
  minStd?: number;
}

/**
 * Wasserstein-1 distance divided by the reference's standard deviation (ddof 0, floored at
 * `minStd` = 0.001): W₁(ref, cur) / max(std(ref), 0.001). This is Evidently's "Wasserstein distance
 * (normed)" — its default numeric drift score above 1000 reference rows, drift when ≥ 0.1 (a shift of
 * the whole distribution by 0.1 standard deviations scores 0.1). Inputs ascending.
 */
export function wassersteinNormedSorted(ref: ArrayLike<number>, cur: ArrayLike<number>, opts: WassersteinNormedOptions = {}): number {
  const norm = Math.max(populationStd(ref), opts.minStd ?? 0.001);
  return wasserstein1Sorted(ref, cur) / norm;
}

/** `wassersteinNormedSorted` on unsorted inputs (sorts copies). */
export function wassersteinNormed(ref: ArrayLike<number>, cur: ArrayLike<number>, opts: WassersteinNormedOptions = {}): number {
  return wassersteinNormedSorted(sortedCopy(ref, 'wassersteinNormed'), sortedCopy(cur, 'wassersteinNormed'), opts);
}

import { BerthError } from '../../core/index.js';

/** x·ln(x/y) with scipy `rel_entr`'s conventions: 0 when x = 0, ∞ when y = 0 < x. */
function relEntr(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Infinity;
}

/**
 * Jensen–Shannon distance between two distributions given as non-negative weights over the same bins
 * (counts or proportions; each is normalised to sum 1), like `scipy.spatial.distance.jensenshannon(p, q, base)`:
 *
 *   m = (p + q)/2,  JS = √( (KL(p‖m) + KL(q‖m)) / 2 ),  KL in nats, or in `base` units when given.
 *
 * Symmetric and bounded: 0 ≤ JS ≤ √ln 2 ≈ 0.833 with the natural log, ≤ 1 with base 2. Unlike scipy,
 * a sum that rounds below zero for nearly identical inputs gives 0, not NaN.
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>, base?: number): number {
  const k = p.length;
  if (q.length !== k) throw new BerthError('INVALID_ARGUMENT', `jensenShannonDistance: ${k} bins in p but ${q.length} in q`);
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < k; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  if (!(sp > 0) || !(sq > 0)) {
    throw new BerthError('INVALID_ARGUMENT', `jensenShannonDistance: both distributions need a positive total, got ${sp} and ${sq}`);
  }
  let left = 0;
  let right = 0;
  for (let i = 0; i < k; i++) {
    const pi = p[i]! / sp;
    const qi = q[i]! / sq;
    const m = (pi + qi) / 2;
    left += relEntr(pi, m);
    right += relEntr(qi, m);
  }
  let js = left + right;
  if (base !== undefined) js /= Math.log(base);
  return js > 0 ? Math.sqrt(js / 2) : 0;
}

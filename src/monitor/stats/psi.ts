import { BerthError } from '../../core/index.js';

/** Proportions are floored at this value before the logarithm (Berth's and the fixtures' choice). */
export const PSI_EPSILON = 1e-4;

/**
 * Population stability index of two binned distributions (counts per bin or category, same order):
 *
 *   r_i = max(ref_i / Σ ref, eps),  c_i = max(cur_i / Σ cur, eps),  PSI = Σ_i (c_i − r_i) · ln(c_i / r_i)
 *
 * Each proportion is floored at `eps` (default 1e-4) independently, so an empty bin contributes a
 * finite amount instead of ∞; proportions are not renormalised after flooring. Every term is ≥ 0.
 * Rules of thumb: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift. PSI depends on the
 * binning; Berth bins numeric columns at the reference deciles (`quantileEdges(ref, 10)`).
 *
 * @example
 * psi([50, 50], [60, 40]); // ≈ 0.0405
 */
export function psi(refCounts: ArrayLike<number>, curCounts: ArrayLike<number>, eps: number = PSI_EPSILON): number {
  const k = refCounts.length;
  if (curCounts.length !== k) {
    throw new BerthError('INVALID_ARGUMENT', `psi: ${k} reference bins but ${curCounts.length} current bins`);
  }
  let tr = 0;
  let tc = 0;
  for (let i = 0; i < k; i++) {
    tr += refCounts[i]!;
    tc += curCounts[i]!;
  }
  if (!(tr > 0) || !(tc > 0)) {
    throw new BerthError('INVALID_ARGUMENT', `psi: both distributions need a positive total, got ${tr} and ${tc}`);
  }
  let s = 0;
  for (let i = 0; i < k; i++) {
    const r = Math.max(refCounts[i]! / tr, eps);
    const c = Math.max(curCounts[i]! / tc, eps);
    s += (c - r) * Math.log(c / r);
  }
  return s;
}

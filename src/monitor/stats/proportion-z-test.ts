import { BerthError } from '../../core/index.js';
import { normalSf } from './special.js';

export interface ZTestResult {
  /** z = (p_a − p_b) / √(P(1−P)(1/n_a + 1/n_b)), P the pooled proportion. */
  statistic: number;
  /** Two-sided p-value 2·(1 − Φ(|z|)), computed from the upper tail (no cancellation for large |z|). */
  pValue: number;
}

/**
 * Two-sided two-proportion z-test with a pooled variance (statsmodels `proportions_ztest` on two
 * samples). When both samples are all successes or all failures (P = 0 or 1) there is no evidence of a
 * difference: statistic 0, p = 1.
 *
 * @example
 * proportionZTest(45, 100, 60, 100); // { statistic ≈ −2.12, pValue ≈ 0.034 }
 */
export function proportionZTest(successA: number, nA: number, successB: number, nB: number): ZTestResult {
  if (!(nA > 0) || !(nB > 0)) throw new BerthError('INVALID_ARGUMENT', `proportionZTest: sizes must be positive, got ${nA} and ${nB}`);
  if (!(successA >= 0 && successA <= nA) || !(successB >= 0 && successB <= nB)) {
    throw new BerthError('INVALID_ARGUMENT', `proportionZTest: successes must lie in [0, n], got ${successA}/${nA} and ${successB}/${nB}`);
  }
  const pa = successA / nA;
  const pb = successB / nB;
  const pooled = (successA + successB) / (nA + nB);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / nA + 1 / nB));
  if (se === 0) return { statistic: 0, pValue: 1 };
  const z = (pa - pb) / se;
  return { statistic: z, pValue: Math.min(1, 2 * normalSf(Math.abs(z))) };
}

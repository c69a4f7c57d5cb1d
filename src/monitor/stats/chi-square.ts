import { BerthError } from '../../core/index.js';
import { chiSquareSf } from './special.js';

export interface ChiSquareResult {
  /** Pearson's statistic Σ (observed − expected)² / expected. */
  statistic: number;
  /** Degrees of freedom. */
  dof: number;
  /** P(χ²_dof ≥ statistic). */
  pValue: number;
}

/**
 * Pearson's chi-square goodness-of-fit test, like `scipy.stats.chisquare(observed, expected)`:
 * statistic Σ (o − e)²/e, dof = k − 1, p = χ²_{k−1} survival. Without `expected` every category
 * expects the mean count. As in scipy 1.10 the two totals must agree to 1e-8 relative; an expected
 * count of 0 with an observed count above 0 gives an infinite statistic and p = 0.
 */
export function chiSquareGoodnessOfFit(observed: ArrayLike<number>, expected?: ArrayLike<number>): ChiSquareResult {
  const k = observed.length;
  if (k === 0) throw new BerthError('INVALID_ARGUMENT', 'chiSquareGoodnessOfFit: no categories');
  let sumO = 0;
  for (let i = 0; i < k; i++) sumO += observed[i]!;
  let mean = sumO / k;
  if (expected !== undefined) {
    if (expected.length !== k) {
      throw new BerthError('INVALID_ARGUMENT', `chiSquareGoodnessOfFit: ${k} observed counts but ${expected.length} expected counts`);
    }
    let sumE = 0;
    for (let i = 0; i < k; i++) sumE += expected[i]!;
    if (Math.abs(sumO - sumE) / Math.min(sumO, sumE) > 1e-8) {
      throw new BerthError(
        'INVALID_ARGUMENT',
        `chiSquareGoodnessOfFit: observed counts sum to ${sumO} but expected counts to ${sumE}; scale the expected counts to the observed total`,
      );
    }
    mean = NaN;
  }
  let stat = 0;
  for (let i = 0; i < k; i++) {
    const e = expected === undefined ? mean : expected[i]!;
    const diff = observed[i]! - e;
    stat += (diff * diff) / e;
  }
  const dof = k - 1;
  return { statistic: stat, dof, pValue: chiSquareSf(stat, dof) };
}

/** The columns (categories) where a or b is non-zero. */
function nonEmptyColumns(countsA: ArrayLike<number>, countsB: ArrayLike<number>, context: string): number[] {
  if (countsA.length !== countsB.length) {
    throw new BerthError('INVALID_ARGUMENT', `${context}: ${countsA.length} categories in the first sample but ${countsB.length} in the second`);
  }
  const cols: number[] = [];
  for (let i = 0; i < countsA.length; i++) {
    const a = countsA[i]!;
    const b = countsB[i]!;
    if (!(a >= 0) || !(b >= 0)) throw new BerthError('INVALID_ARGUMENT', `${context}: category ${i} has a negative or NaN count`);
    if (a > 0 || b > 0) cols.push(i);
  }
  return cols;
}

function homogeneityStatistic(countsA: ArrayLike<number>, countsB: ArrayLike<number>, context: string): { stat: number; k: number; total: number } {
  const cols = nonEmptyColumns(countsA, countsB, context);
  let ta = 0;
  let tb = 0;
  for (const c of cols) {
    ta += countsA[c]!;
    tb += countsB[c]!;
  }
  const total = ta + tb;
  if (cols.length > 1 && (ta === 0 || tb === 0)) {
    throw new BerthError('INVALID_ARGUMENT', `${context}: one sample is empty (totals ${ta} and ${tb}); there is nothing to compare`);
  }
  let stat = 0;
  for (const c of cols) {
    const col = countsA[c]! + countsB[c]!;
    const ea = (ta * col) / total;
    const eb = (tb * col) / total;
    const da = countsA[c]! - ea;
    const db = countsB[c]! - eb;
    stat += (da * da) / ea + (db * db) / eb;
  }
  return { stat, k: cols.length, total };
}

/**
 * Chi-square test of homogeneity of two samples' category counts: the 2×k contingency table
 * [countsA; countsB], like `scipy.stats.chi2_contingency(np.array([a, b]), correction=False)` after
 * dropping the categories that are zero in both. Expected counts are row total × column total / N,
 * dof = k − 1. With one non-empty category (dof 0) the result is statistic 0, p = 1, as in scipy.
 */
export function chiSquareHomogeneity(countsA: ArrayLike<number>, countsB: ArrayLike<number>): ChiSquareResult {
  const { stat, k } = homogeneityStatistic(countsA, countsB, 'chiSquareHomogeneity');
  if (k === 0) throw new BerthError('INVALID_ARGUMENT', 'chiSquareHomogeneity: every category is empty in both samples');
  const dof = k - 1;
  if (dof === 0) return { statistic: 0, dof: 0, pValue: 1 };
  return { statistic: stat, dof, pValue: chiSquareSf(stat, dof) };
}

/**
 * Cramér's V of the 2×k table [countsA; countsB] (categories empty in both dropped):
 * √(χ² / (N·(min(2, k) − 1))), without bias correction, like
 * `scipy.stats.contingency.association(table, method='cramer')`. 0 = same distribution, 1 = disjoint
 * supports. An effect size: unlike the p-value it does not grow with the sample size. 0 when k < 2.
 */
export function cramersV(countsA: ArrayLike<number>, countsB: ArrayLike<number>): number {
  const { stat, k, total } = homogeneityStatistic(countsA, countsB, 'cramersV');
  if (k < 2) return 0;
  return Math.sqrt(stat / total);
}

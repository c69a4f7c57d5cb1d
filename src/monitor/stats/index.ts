/**
 * Pure statistics for drift detection, over typed arrays. Each function matches its scipy / numpy /
 * statsmodels counterpart (checked against values from `scripts/stats-expected.py`); functions named
 * `…Sorted` take ascending arrays so a caller can sort each column once and reuse it.
 */
export { erf, erfc, logGamma, normalCdf, normalSf, regularizedGammaP, regularizedGammaQ, chiSquareSf } from './special.js';
export { kolmogorovSf, kolmogorovNSf, smirnovSf } from './kolmogorov.js';
export {
  KS_METHODS,
  KS_MAX_EXACT_AUTO_N,
  ksTwoSample,
  ksTwoSampleSorted,
  ksStatisticSorted,
  ksAsymptoticPValue,
  ksWeighted,
} from './ks.js';
export type { KsMethod, KsOptions, KsResult, KsWeightedResult } from './ks.js';
export { chiSquareGoodnessOfFit, chiSquareHomogeneity, cramersV } from './chi-square.js';
export type { ChiSquareResult } from './chi-square.js';
export { psi, PSI_EPSILON } from './psi.js';
export { jensenShannonDistance } from './jensen-shannon.js';
export { wasserstein1, wasserstein1Sorted, wassersteinNormed, wassersteinNormedSorted, populationStd } from './wasserstein.js';
export type { WassersteinNormedOptions } from './wasserstein.js';
export { proportionZTest } from './proportion-z-test.js';
export type { ZTestResult } from './proportion-z-test.js';
export { benjaminiHochberg } from './benjamini-hochberg.js';
export { histogramCounts, quantileEdges, quantileSorted, sturgesEdges, linspace } from './binning.js';
export type { HistogramOptions, QuantileEdgesOptions } from './binning.js';
export { sortedCopy, isSorted, finiteValues, countDistinctSorted, countDistinctUnionSorted, distinctCountsSorted } from './sorting.js';
export * from './evidently.js';

import { describe, expect, it } from 'vitest';
import { generate, seededRandom } from '../../../test/monitor/profile/random.js';
import { createNumericProfile, updateNumericProfile } from './column-profile.js';
import { binIndex, binWeights, numericSummary, referenceBinEdges } from './summary.js';

/** numpy's 'inverted_cdf' quantile of sorted data */
function invertedCdf(sorted: Float64Array, q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length - 1e-9) - 1)]!;
}

describe('numericSummary', () => {
  it('matches exact statistics while the sketch is exact (pandas-style sample std)', () => {
    const data = generate('lognormal', 2000, 3);
    const p = createNumericProfile('x');
    updateNumericProfile(p, Float64Array.of(NaN, ...data));
    const s = numericSummary(p);
    const sorted = data.slice().sort();
    const mean = data.reduce((a, b) => a + b, 0) / data.length;
    const variance = data.reduce((a, x) => a + (x - mean) ** 2, 0) / (data.length - 1);
    expect(s.count).toBe(2000);
    expect(s.missing).toBe(1);
    expect(s.mean).toBeCloseTo(mean, 12);
    expect(s.std).toBeCloseTo(Math.sqrt(variance), 12);
    expect([s.min, s.max]).toEqual([sorted[0], sorted[1999]]);
    expect(s.quantiles).toEqual({
      p01: invertedCdf(sorted, 0.01),
      p05: invertedCdf(sorted, 0.05),
      p25: invertedCdf(sorted, 0.25),
      p50: invertedCdf(sorted, 0.5),
      p75: invertedCdf(sorted, 0.75),
      p95: invertedCdf(sorted, 0.95),
      p99: invertedCdf(sorted, 0.99),
    });
  });

  it('is NaN where there is nothing to describe', () => {
    const s = numericSummary(createNumericProfile('x'));
    expect([s.mean, s.std, s.min, s.quantiles.p50]).toEqual([NaN, NaN, NaN, NaN]);
  });
});

describe('referenceBinEdges', () => {
  it('gives the deciles of a continuous column, each bin holding its tenth', () => {
    const data = generate('uniform', 5000, 2);
    const p = createNumericProfile('x');
    updateNumericProfile(p, data.map((x) => x * 100));
    const sorted = data.map((x) => x * 100).sort();
    const bins = referenceBinEdges(p);
    expect(bins.kind).toBe('quantile');
    expect(bins.edges).toEqual(Array.from({ length: 9 }, (_, i) => invertedCdf(sorted, (i + 1) / 10)));
    const w = binWeights(p, bins);
    expect(Array.from(w)).toEqual(new Array(10).fill(500));
  });

  it('deduplicates edges of a column with heavy ties', () => {
    const data = generate('ties', 10_000, 4); // half zeros
    const p = createNumericProfile('x', { k: 16_384 }); // exact: 10k items
    updateNumericProfile(p, data);
    // 'ties' has more than 64 distinct values (a continuous tail), so quantile bins
    const bins = referenceBinEdges(p);
    expect(bins.kind).toBe('quantile');
    const sorted = data.slice().sort();
    const deciles = Array.from({ length: 9 }, (_, i) => invertedCdf(sorted, (i + 1) / 10));
    expect(bins.edges).toEqual([...new Set(deciles)]);
    expect(bins.edges[0]).toBe(0);
    expect(new Set(bins.edges).size).toBe(bins.edges.length);
    const w = binWeights(p, bins);
    expect(w[0]).toBe(data.filter((x) => x <= 0).length);
    expect(w.reduce((a, b) => a + b, 0)).toBe(10_000);
  });

  it('uses the distinct values of a small domain, flagged discrete', () => {
    const random = seededRandom(6);
    const data = Float64Array.from({ length: 3000 }, () => [36, 60, 12][Math.floor(random() * 3)]!);
    const p = createNumericProfile('loan_term_months');
    updateNumericProfile(p, data);
    const bins = referenceBinEdges(p);
    expect(bins).toEqual({ kind: 'discrete', edges: [12, 36, 60] });
    expect(Array.from(binWeights(p, bins))).toEqual([12, 36, 60].map((t) => data.filter((x) => x === t).length).concat(0));
  });

  it('places values right-closed with open ends', () => {
    const edges = [1, 2, 3];
    expect([-Infinity, 0, 1, 1.5, 2, 3, 3.01, Infinity].map((x) => binIndex(edges, x))).toEqual([0, 0, 0, 1, 1, 2, 3, 3]);
    expect(() => referenceBinEdges(createNumericProfile('x'), 1)).toThrow(/bins: expected an integer >= 2, got 1/);
    expect(referenceBinEdges(createNumericProfile('x'))).toEqual({ kind: 'quantile', edges: [] });
  });
});

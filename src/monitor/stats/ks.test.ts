import { describe, expect, it } from 'vitest';
import { ksTwoSample, ksTwoSampleSorted, ksWeighted } from './ks.js';

describe('ksTwoSample', () => {
  it('gives the same result on unsorted input as ksTwoSampleSorted on the sorted copies', () => {
    const a = [3.2, 1.1, 2.5, 9.9, 0.3, 2.5];
    const b = [2.0, 8.1, 2.5, 4.4, 7.7];
    const sorted = ksTwoSampleSorted([...a].sort((x, y) => x - y), [...b].sort((x, y) => x - y));
    expect(ksTwoSample(a, b)).toEqual(sorted);
    expect(ksTwoSample(b, a)).toEqual(sorted);
  });

  it('computes the documented example exactly', () => {
    const r = ksTwoSampleSorted(Float64Array.of(1, 2, 3), Float64Array.of(2, 3, 4, 5));
    expect(r.statistic).toBe(0.5);
    expect(r.method).toBe('exact');
    expect(r.pValue).toBeCloseTo(0.6571428571428571, 15); // scipy.stats.ks_2samp([1,2,3],[2,3,4,5])
  });

  it('uses the exact distribution up to 10 000 values per sample and the asymptotic one above (auto)', () => {
    const a = Float64Array.from({ length: 10_000 }, (_, i) => i);
    const b = Float64Array.from({ length: 10_001 }, (_, i) => i + 0.5);
    expect(ksTwoSampleSorted(a, a).method).toBe('exact');
    expect(ksTwoSampleSorted(a, b).method).toBe('asymp');
    expect(ksTwoSampleSorted(a, b, { method: 'exact' }).method).toBe('exact');
    expect(ksTwoSampleSorted(a, a, { method: 'asymp' }).method).toBe('asymp');
  });

  it('rejects NaN, empty samples and one-sided alternatives with a message saying what to do', () => {
    expect(() => ksTwoSample([1, NaN], [1])).toThrow(/NaN; drop missing values/);
    expect(() => ksTwoSample([], [1])).toThrow(/at least one value/);
    // @ts-expect-error only two-sided exists
    expect(() => ksTwoSample([1], [2], { alternative: 'less' })).toThrow(/two-sided/);
  });
});

describe('ksWeighted', () => {
  it('equals the KS statistic of the expanded sample for integer weights', () => {
    const a = [1, 2, 3, 5];
    const wa = [2, 1, 3, 1];
    const b = [2, 4, 6];
    const wb = [1, 4, 2];
    const expand = (v: number[], w: number[]): number[] => v.flatMap((x, i) => Array<number>(w[i]!).fill(x));
    const r = ksWeighted(a, wa, b, wb);
    expect(r.statistic).toBeCloseTo(ksTwoSample(expand(a, wa), expand(b, wb)).statistic, 14);
    expect(r.effectiveSizes[0]).toBeCloseTo(49 / 15, 14);
  });

  it("with unit weights equals ksTwoSample's statistic and asymptotic p-value", () => {
    const a = Float64Array.from({ length: 400 }, (_, i) => Math.sin(i) * 3);
    const b = Float64Array.from({ length: 300 }, (_, i) => Math.cos(i * 1.7) * 3 + 0.2);
    a.sort();
    b.sort();
    const r = ksWeighted(a, new Float64Array(400).fill(1), b, new Float64Array(300).fill(1));
    const ks = ksTwoSampleSorted(a, b, { method: 'asymp' });
    expect(r.statistic).toBe(ks.statistic);
    expect(r.pValue).toBe(ks.pValue);
    expect(r.effectiveSizes).toEqual([400, 300]);
  });

  it('rejects mismatched weights and zero total weight', () => {
    expect(() => ksWeighted([1, 2], [1], [1], [1])).toThrow(/2 values but 1 weights/);
    expect(() => ksWeighted([1], [0], [1], [1])).toThrow(/positive total weight/);
  });
});

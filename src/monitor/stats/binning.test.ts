import { describe, expect, it } from 'vitest';
import { histogramCounts, quantileEdges, sturgesEdges } from './binning.js';

describe('histogramCounts', () => {
  it('uses left-closed bins, a right-closed last bin, and drops values outside the edges and NaN', () => {
    const edges = [0, 1, 2, 3];
    const values = [-0.5, 0, 0.5, 1, 1.999, 2, 3, 3.5, NaN];
    expect(Array.from(histogramCounts(values, edges))).toEqual([2, 2, 2]);
    expect(Array.from(histogramCounts([...values].sort((a, b) => a - b), edges, { sorted: true }))).toEqual([2, 2, 2]);
  });

  it('weights values and leaves bins between duplicate edges empty', () => {
    expect(Array.from(histogramCounts([0.5, 1, 1, 1.5], [0, 1, 1, 2], { weights: [1, 2, 3, 4] }))).toEqual([1, 0, 9]);
  });

  it('rejects unsorted edges and a false sorted flag', () => {
    expect(() => histogramCounts([1], [1, 0])).toThrow(/ascending/);
    expect(() => histogramCounts([2, 1], [0, 3], { sorted: true })).toThrow(/not ascending/);
  });
});

describe('quantileEdges', () => {
  it('gives reference-decile edges with open ends, so every current value is counted', () => {
    const ref = Float64Array.from({ length: 101 }, (_, i) => i);
    const edges = quantileEdges(ref, 10);
    // numpy's own rounding is reproduced too: np.quantile(arange(101), 0.3) = 30.000000000000004
    expect(Array.from(edges)).toEqual([-Infinity, 10, 20, 30.000000000000004, 40, 50, 60.00000000000001, 70, 80, 90, Infinity]);
    const counts = histogramCounts([-5, 10, 95, 1000], edges);
    expect(counts[0]).toBe(1);
    expect(counts[1]).toBe(1); // 10 is an inner edge: it counts to the right
    expect(counts[9]).toBe(2);
  });

  it('merges tied quantiles, down to a single bin for a constant reference', () => {
    expect(Array.from(quantileEdges(Float64Array.of(0, 0, 0, 0, 0, 0, 1, 2), 4))).toEqual([-Infinity, 0.25, Infinity]);
    expect(Array.from(quantileEdges(Float64Array.of(3, 3, 3), 10))).toEqual([-Infinity]); // constant: count values instead
    expect(Array.from(quantileEdges(Float64Array.of(1, 2, 3), 2, { openEnds: false }))).toEqual([1, 2, 3]);
  });
});

describe('sturgesEdges', () => {
  it('spans ±0.5 around a constant sample', () => {
    expect(Array.from(sturgesEdges(4, 4, 10))).toEqual([3.5, 4.5]);
  });
});

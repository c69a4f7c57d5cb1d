import { describe, expect, it } from 'vitest';
import { benjaminiHochberg } from './benjamini-hochberg.js';
import { chiSquareGoodnessOfFit, chiSquareHomogeneity, cramersV } from './chi-square.js';
import { evidentlyColumnDrift } from './evidently.js';
import { jensenShannonDistance } from './jensen-shannon.js';
import { proportionZTest } from './proportion-z-test.js';
import { psi } from './psi.js';
import { wasserstein1, wassersteinNormed } from './wasserstein.js';

describe('the documented examples', () => {
  it('psi([50, 50], [60, 40]) ≈ 0.0405', () => {
    expect(psi([50, 50], [60, 40])).toBeCloseTo(0.1 * Math.log(1.2) - 0.1 * Math.log(0.8), 15);
  });
  it('proportionZTest(45, 100, 60, 100) ≈ (−2.12, 0.034)', () => {
    const r = proportionZTest(45, 100, 60, 100);
    expect(r.statistic).toBeCloseTo(-2.124, 3);
    expect(r.pValue).toBeCloseTo(0.0337, 4);
  });
  it('benjaminiHochberg([0.01, 0.04, 0.03, NaN]) = [0.03, 0.04, 0.04, NaN]', () => {
    const r = Array.from(benjaminiHochberg([0.01, 0.04, 0.03, NaN]));
    expect(r.slice(0, 3).map((x) => +x.toFixed(12))).toEqual([0.03, 0.04, 0.04]);
    expect(r[3]).toBeNaN();
  });
  it("evidentlyColumnDrift on a small binary column runs the Z-test", () => {
    const r = evidentlyColumnDrift({ kind: 'categorical', referenceCounts: [450, 50], currentCounts: [400, 100] });
    expect(r.test).toBe('z');
    expect(r.score).toBeGreaterThan(5e-6);
    expect(r.score).toBeLessThan(2e-5);
    expect(r.drifted).toBe(true);
  });
});

describe('properties', () => {
  it('Benjamini–Hochberg adjusted values are ≥ the raw ones, ≤ 1, and monotone in them', () => {
    const p = Array.from({ length: 200 }, (_, i) => ((i * 7919) % 1000) / 1000 / (1 + (i % 7)));
    const q = benjaminiHochberg(p);
    const order = p.map((_, i) => i).sort((a, b) => p[a]! - p[b]!);
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      expect(q[i]!).toBeGreaterThanOrEqual(p[i]!);
      expect(q[i]!).toBeLessThanOrEqual(1);
      if (k > 0) expect(q[i]!).toBeGreaterThanOrEqual(q[order[k - 1]!]!);
    }
    expect(Array.from(benjaminiHochberg([NaN, NaN])).every(Number.isNaN)).toBe(true);
  });

  it('Jensen–Shannon is symmetric, 0 for equal inputs and at most √ln2 (1 in base 2)', () => {
    expect(jensenShannonDistance([1, 2, 3], [2, 4, 6])).toBe(0);
    expect(jensenShannonDistance([1, 0], [0, 1])).toBeCloseTo(Math.sqrt(Math.LN2), 15);
    expect(jensenShannonDistance([1, 0], [0, 1], 2)).toBeCloseTo(1, 15);
    expect(jensenShannonDistance([3, 1, 2], [1, 1, 5])).toBe(jensenShannonDistance([1, 1, 5], [3, 1, 2]));
  });

  it('Wasserstein-1 of a shifted sample is the shift; the normed form divides by the reference std', () => {
    const ref = [0, 1, 2, 3, 4];
    const cur = ref.map((x) => x + 0.7);
    expect(wasserstein1(ref, cur)).toBeCloseTo(0.7, 14);
    expect(wassersteinNormed(ref, cur)).toBeCloseTo(0.7 / Math.sqrt(2), 14);
    expect(wassersteinNormed([5, 5, 5], [5, 5, 6])).toBeCloseTo(1 / 3 / 0.001, 9);
  });

  it('chi-square rejects totals that disagree, and homogeneity ignores categories empty in both samples', () => {
    expect(() => chiSquareGoodnessOfFit([10, 10], [5, 5])).toThrow(/scale the expected counts/);
    expect(chiSquareHomogeneity([10, 0, 5], [8, 0, 7])).toEqual(chiSquareHomogeneity([10, 5], [8, 7]));
    expect(chiSquareHomogeneity([5, 0], [7, 0])).toEqual({ statistic: 0, dof: 0, pValue: 1 });
    expect(() => chiSquareHomogeneity([1, 2], [0, 0])).toThrow(/one sample is empty/);
    expect(cramersV([10, 0], [0, 10])).toBeCloseTo(1, 15);
  });
});

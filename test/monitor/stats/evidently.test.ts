import { describe, expect, it } from 'vitest';
import {
  EVIDENTLY_DEFAULTS,
  evidentlyBinnedProportions,
  evidentlyChiSquare,
  evidentlyColumnDrift,
  evidentlyColumnInfo,
  evidentlyDatasetDrift,
  evidentlyDefaultTest,
  evidentlyJensenShannon,
  evidentlyKs,
  evidentlyPsi,
  evidentlyZ,
  type EvidentlyColumn,
} from '../../../src/monitor/stats/index.js';
import { closeTo, readExpected, relErr, sample, type SampleSpec, toNum } from './generate.js';

const expected = readExpected();

function column(k: { kind: 'num' | 'cat'; ref: number[] | SampleSpec; cur: number[] | SampleSpec }): EvidentlyColumn {
  return k.kind === 'num'
    ? { kind: 'numerical', reference: sample(k.ref), current: sample(k.cur) }
    : { kind: 'categorical', referenceCounts: k.ref as number[], currentCounts: k.cur as number[] };
}

describe("Evidently 0.4.x default drift tests", () => {
  it('choose the test by column kind, reference size (≤ 1000 rows) and unique values (5, 2)', () => {
    const pick = (kind: 'numerical' | 'categorical', referenceRows: number, uniqueValues: number): string =>
      evidentlyDefaultTest({ kind, referenceRows, uniqueValues }).test;
    expect(pick('numerical', 1000, 6)).toBe('ks');
    expect(pick('numerical', 1000, 5)).toBe('chisquare');
    expect(pick('numerical', 1000, 3)).toBe('chisquare');
    expect(pick('numerical', 1000, 2)).toBe('z');
    expect(pick('numerical', 1000, 1)).toBe('z');
    expect(pick('categorical', 50, 40)).toBe('chisquare');
    expect(pick('categorical', 50, 2)).toBe('z');
    expect(pick('numerical', 1001, 6)).toBe('wasserstein');
    expect(pick('numerical', 1001, 5)).toBe('jensenshannon');
    expect(pick('categorical', 1001, 2)).toBe('jensenshannon');
    expect(pick('categorical', 1_000_000, 300)).toBe('jensenshannon');
  });

  it('use p-value thresholds 0.05 (KS: p ≤ t; chi-square, Z: p < t) and distance thresholds 0.1 (≥ t)', () => {
    expect(evidentlyDefaultTest({ kind: 'numerical', referenceRows: 10, uniqueValues: 10 })).toMatchObject({ threshold: 0.05, comparison: 'score <= threshold' });
    expect(evidentlyDefaultTest({ kind: 'categorical', referenceRows: 10, uniqueValues: 3 })).toMatchObject({ threshold: 0.05, comparison: 'score < threshold' });
    expect(evidentlyDefaultTest({ kind: 'categorical', referenceRows: 10, uniqueValues: 2 })).toMatchObject({ threshold: 0.05, comparison: 'score < threshold' });
    expect(evidentlyDefaultTest({ kind: 'numerical', referenceRows: 5000, uniqueValues: 10 })).toMatchObject({ threshold: 0.1, comparison: 'score >= threshold' });
    expect(evidentlyDefaultTest({ kind: 'categorical', referenceRows: 5000, uniqueValues: 10 })).toMatchObject({ threshold: 0.1, comparison: 'score >= threshold' });
    // at the threshold exactly: KS drifts, chi-square does not
    const same: EvidentlyColumn = { kind: 'numerical', reference: [1, 2, 3, 4, 5, 6], current: [1, 2, 3, 4, 5, 6] };
    expect(evidentlyKs(same, 1).drifted).toBe(true); // p = 1 ≤ 1
    const cat: EvidentlyColumn = { kind: 'categorical', referenceCounts: [10, 10, 10], currentCounts: [10, 10, 10] };
    expect(evidentlyChiSquare(cat, 1).drifted).toBe(false); // p = 1 is not < 1
    expect(evidentlyPsi(cat, 0).drifted).toBe(true); // 0 ≥ 0
  });

  it('call a dataset drifted when the share of drifted columns is at least 0.5', () => {
    expect(EVIDENTLY_DEFAULTS.driftShare).toBe(0.5);
    expect(evidentlyDatasetDrift([true, false])).toEqual({ numberOfColumns: 2, numberOfDriftedColumns: 1, shareOfDriftedColumns: 0.5, datasetDrift: true });
    expect(evidentlyDatasetDrift([true, false, false]).datasetDrift).toBe(false);
    expect(evidentlyDatasetDrift([true, false, false], 0.3).datasetDrift).toBe(true);
  });

  it('drop NaN and ±Infinity before counting rows and unique values', () => {
    const info = evidentlyColumnInfo({ kind: 'numerical', reference: [1, NaN, 2, Infinity, 3], current: [3, 4, -Infinity] });
    expect(info).toEqual({ kind: 'numerical', referenceRows: 3, uniqueValues: 4 });
    expect(evidentlyColumnInfo({ kind: 'categorical', referenceCounts: [5, 0, 2], currentCounts: [1, 0, 0] })).toEqual({
      kind: 'categorical',
      referenceRows: 7,
      uniqueValues: 2,
    });
  });

  it('bin numerics by Sturges over reference ∪ current when the reference has > 20 unique values, else by value; fill empty PSI bins', () => {
    const few: EvidentlyColumn = { kind: 'numerical', reference: [1, 1, 2, 3], current: [1, 4, 4, 4] };
    const b = evidentlyBinnedProportions(few, false);
    expect(Array.from(b.reference)).toEqual([0.5, 0.25, 0.25, 0]);
    expect(Array.from(b.current)).toEqual([0.25, 0, 0, 0.75]);
    const filled = evidentlyBinnedProportions(few, true);
    expect(Array.from(filled.reference)).toEqual([0.5, 0.25, 0.25, 1e-4]);
    // a smallest proportion ≤ 1e-4 makes the fill a millionth of it
    const rare = evidentlyBinnedProportions({ kind: 'categorical', referenceCounts: [99_999, 1, 0], currentCounts: [5, 5, 5] }, true);
    expect(rare.reference[2]).toBeCloseTo(1e-5 / 1e6, 20);
    const many = evidentlyBinnedProportions({ kind: 'numerical', reference: Array.from({ length: 100 }, (_, i) => i), current: [0, 99] }, false);
    expect(many.reference.length).toBe(8); // ⌈log2(102) + 1⌉ equal-width bins
  });

  it('match the Python re-implementation of Evidently on synthetic columns', () => {
    const problems: string[] = [];
    for (const k of expected.evidentlySynthetic) {
      const col = column(k);
      const r = evidentlyColumnDrift(col);
      const e = k.expected;
      if (r.test !== e.test) problems.push(`${k.name}: test ${r.test}, expected ${e.test}`);
      if (!closeTo(r.score, toNum(e.score))) problems.push(`${k.name}: score ${r.score}, expected ${toNum(e.score)} (rel ${relErr(r.score, toNum(e.score))})`);
      if (r.drifted !== e.drifted || r.threshold !== e.threshold) problems.push(`${k.name}: ${JSON.stringify(r)} vs ${JSON.stringify(e)}`);
      const psiScore = evidentlyPsi(col).score;
      if (!closeTo(psiScore, toNum(e.psi), 1e-12)) problems.push(`${k.name}: PSI ${psiScore}, expected ${toNum(e.psi)}`);
      const js = evidentlyJensenShannon(col).score;
      if (!closeTo(js, toNum(e.jensenshannon), 1e-12)) problems.push(`${k.name}: JS ${js}, expected ${toNum(e.jensenshannon)}`);
      if (e.uniqueValues !== undefined) {
        const info = evidentlyColumnInfo(col);
        if (info.uniqueValues !== e.uniqueValues || info.referenceRows !== e.referenceRows) problems.push(`${k.name}: info ${JSON.stringify(info)}`);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it("compute the Z-test's p-value as 2·(1 − Φ(|z|)), so it bottoms out at 0 instead of a tiny tail", () => {
    const r = evidentlyZ({ kind: 'categorical', referenceCounts: [900, 100], currentCounts: [100, 900] });
    expect(r.score).toBe(0);
    expect(r.drifted).toBe(true);
    expect(evidentlyZ({ kind: 'categorical', referenceCounts: [7, 0], currentCounts: [9, 0] }).score).toBe(1);
  });

  it('reject tests that do not apply to the column', () => {
    expect(() => evidentlyKs({ kind: 'categorical', referenceCounts: [1, 2], currentCounts: [2, 1] })).toThrow(/numerical/);
    expect(() => evidentlyZ({ kind: 'categorical', referenceCounts: [1, 2, 3], currentCounts: [2, 1, 3] })).toThrow(/at most 2/);
    expect(() => evidentlyColumnDrift({ kind: 'numerical', reference: [NaN], current: [1] })).toThrow(/empty column/);
  });
});

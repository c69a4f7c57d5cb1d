import { describe, expect, it } from 'vitest';
import { generate, seededRandom } from '../../../test/monitor/profile/random.js';
import {
  columnProfileFromJSON,
  columnProfileToJSON,
  createCategoricalProfile,
  createNumericProfile,
  mergeColumnProfiles,
  type NumericColumnProfile,
  updateCategoricalProfile,
  updateNumericProfile,
} from './column-profile.js';

/** exact weighted mean and Σw(x−mean)² of the finite values, computed the slow obvious way */
function exactMoments(values: Float64Array, weights?: Float64Array): { weight: number; mean: number; m2: number } {
  let weight = 0;
  let sum = 0;
  values.forEach((x, i) => {
    if (Number.isFinite(x)) {
      weight += weights ? weights[i]! : 1;
      sum += (weights ? weights[i]! : 1) * x;
    }
  });
  const mean = sum / weight;
  let m2 = 0;
  values.forEach((x, i) => {
    if (Number.isFinite(x)) m2 += (weights ? weights[i]! : 1) * (x - mean) ** 2;
  });
  return { weight, mean, m2 };
}

function withSpecials(data: Float64Array, seed: number): Float64Array {
  const random = seededRandom(seed);
  return data.map((x) => {
    const u = random();
    return u < 0.03 ? NaN : u < 0.035 ? Infinity : u < 0.04 ? -Infinity : x;
  });
}

describe('numeric column profile', () => {
  it('counts missing and non-finite values apart and matches exact moments over several batches', () => {
    const data = withSpecials(generate('lognormal', 100_000, 1), 2);
    const p = createNumericProfile('x');
    for (let start = 0; start < data.length; start += 7_000) updateNumericProfile(p, data.subarray(start, start + 7_000));
    const finite = data.filter((x) => Number.isFinite(x));
    const exact = exactMoments(data);
    expect(p.missing).toBe(data.filter((x) => Number.isNaN(x)).length);
    expect(p.nonFinite).toBe(data.filter((x) => x === Infinity || x === -Infinity).length);
    expect(p.count).toBe(finite.length);
    expect(p.count + p.missing + p.nonFinite).toBe(100_000);
    expect(p.weight).toBe(finite.length);
    expect(p.min).toBe(Math.min(...finite));
    expect(p.max).toBe(Math.max(...finite));
    expect(p.mean).toBeCloseTo(exact.mean, 10);
    expect(p.m2 / exact.m2).toBeCloseTo(1, 10);
    expect(p.kll.n).toBe(finite.length);
    expect(p.smallDomain).toBeNull();
  });

  it('weights rows: integer weights give the same moments as repeating the rows', () => {
    const random = seededRandom(5);
    const values = Float64Array.from({ length: 5000 }, () => Math.round(random() * 1000) / 10);
    const weights = Float64Array.from({ length: 5000 }, () => 1 + Math.floor(random() * 4));
    const weighted = createNumericProfile('x');
    updateNumericProfile(weighted, values.subarray(0, 2000), weights.subarray(0, 2000));
    updateNumericProfile(weighted, values.subarray(2000), weights.subarray(2000));
    const repeated: number[] = [];
    values.forEach((x, i) => {
      for (let r = 0; r < weights[i]!; r++) repeated.push(x);
    });
    const exact = exactMoments(Float64Array.from(repeated));
    expect(weighted.count).toBe(5000);
    expect(weighted.weight).toBe(repeated.length);
    expect(weighted.mean).toBeCloseTo(exact.mean, 10);
    expect(weighted.m2 / exact.m2).toBeCloseTo(1, 10);
    expect(weighted.kll.n).toBe(repeated.length);
    // the small domain is not small here (1000 values), so it is dropped
    expect(weighted.smallDomain).toBeNull();
    expect(() => updateNumericProfile(weighted, values, weights.subarray(1))).toThrow(/weights: expected one weight per row \(5000\), got 4999/);
  });

  it('keeps exact weighted counts of a small domain (e.g. loan terms), dropping it past 64 values', () => {
    const terms = [12, 24, 36, 48, 60];
    const random = seededRandom(8);
    const data = Float64Array.from({ length: 30_000 }, () => (random() < 0.01 ? NaN : terms[Math.floor(random() * 5)]!));
    const weights = Float64Array.from({ length: 30_000 }, () => (random() < 0.5 ? 1 : 0.5));
    const p = createNumericProfile('loan_term_months');
    updateNumericProfile(p, data.subarray(0, 10_000), weights.subarray(0, 10_000));
    updateNumericProfile(p, data.subarray(10_000), weights.subarray(10_000));
    expect(p.smallDomain!.values).toEqual(terms);
    const expected = terms.map((t) => {
      let w = 0;
      data.forEach((x, i) => {
        if (x === t) w += weights[i]!;
      });
      return w;
    });
    expect(p.smallDomain!.counts).toEqual(expected);

    const q = createNumericProfile('x');
    updateNumericProfile(q, Float64Array.from({ length: 64 }, (_, i) => i - 0));
    updateNumericProfile(q, Float64Array.of(-0, 0, 63));
    expect(q.smallDomain!.values.length).toBe(64);
    expect(q.smallDomain!.counts[0]).toBe(3); // -0 counted as 0
    updateNumericProfile(q, Float64Array.of(64));
    expect(q.smallDomain).toBeNull();
    updateNumericProfile(q, Float64Array.of(1));
    expect(q.smallDomain).toBeNull();
  });

  it('merges two column profiles into the profile of the concatenated data', () => {
    const a = withSpecials(generate('uniform', 30_000, 3), 4);
    const b = withSpecials(generate('lognormal', 20_000, 5), 6);
    const pa = createNumericProfile('x');
    const pb = createNumericProfile('x');
    updateNumericProfile(pa, a);
    updateNumericProfile(pb, b);
    const merged = mergeColumnProfiles(pa, pb) as NumericColumnProfile;
    const all = new Float64Array(50_000);
    all.set(a);
    all.set(b, 30_000);
    const exact = exactMoments(all);
    expect(merged.count).toBe(pa.count + pb.count);
    expect(merged.mean).toBeCloseTo(exact.mean, 10);
    expect(merged.m2 / exact.m2).toBeCloseTo(1, 10);
    expect(merged.min).toBe(Math.min(pa.min, pb.min));
    expect(merged.max).toBe(Math.max(pa.max, pb.max));
    expect(merged.kll.n).toBe(pa.kll.n + pb.kll.n);
    expect(pa.kll.n).toBe(pa.count); // inputs untouched

    const s1 = createNumericProfile('t');
    const s2 = createNumericProfile('t');
    updateNumericProfile(s1, Float64Array.of(1, 2, 2));
    updateNumericProfile(s2, Float64Array.of(2, 3));
    expect((mergeColumnProfiles(s1, s2) as NumericColumnProfile).smallDomain).toEqual({ values: [1, 2, 3], counts: [1, 3, 1] });
    expect(() => mergeColumnProfiles(s1, createCategoricalProfile('t'))).toThrow(/cannot merge column "t" \(numeric\) with column "t" \(categorical\)/);
  });

  it('an empty profile has NaN min/max and survives JSON', () => {
    const p = createNumericProfile('empty');
    updateNumericProfile(p, Float64Array.of(NaN, NaN));
    const back = columnProfileFromJSON(JSON.parse(JSON.stringify(columnProfileToJSON(p))), 'c') as NumericColumnProfile;
    expect(back.count).toBe(0);
    expect(back.missing).toBe(2);
    expect(back.min).toBeNaN();
    expect(back.kll.n).toBe(0);
  });
});

describe('categorical column profile', () => {
  it('counts dictionary codes exactly, with weights and missing codes', () => {
    const dictionary = ['RENT', 'OWN', 'MORTGAGE', 'OTHER'];
    const random = seededRandom(9);
    const codes = Int32Array.from({ length: 50_000 }, () => (random() < 0.05 ? -1 : Math.floor(random() ** 2 * 4)));
    const weights = Float64Array.from({ length: 50_000 }, () => (random() < 0.2 ? 5 : 1));
    const p = createCategoricalProfile('home_ownership');
    updateCategoricalProfile(p, { dictionary, codes: codes.subarray(0, 20_000) }, weights.subarray(0, 20_000));
    updateCategoricalProfile(p, { dictionary, codes: codes.subarray(20_000) }, weights.subarray(20_000));
    const missing = codes.filter((c) => c === -1).length;
    expect(p.missing).toBe(missing);
    expect(p.count).toBe(50_000 - missing);
    for (let d = 0; d < 4; d++) {
      let w = 0;
      codes.forEach((c, i) => {
        if (c === d) w += weights[i]!;
      });
      expect(p.frequencies.estimate(dictionary[d]!)).toBe(w);
    }
    expect(() => updateCategoricalProfile(p, { dictionary, codes: Int32Array.of(4) })).toThrow(
      /column "home_ownership": code 4 at row 0 is outside the dictionary \(expected -1 for missing or 0\.\.3\)/,
    );
  });

  it('adds up repeated dictionary entries', () => {
    const p = createCategoricalProfile('c');
    updateCategoricalProfile(p, { dictionary: ['a', 'b', 'a'], codes: Int32Array.of(0, 1, 2, 2, -1) });
    expect(p.frequencies.entries()).toEqual([['a', 3], ['b', 1]]);
    expect([p.count, p.missing]).toEqual([4, 1]);
  });
});

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../test/monitor/profile/random.js';
import { FrequencySketch } from './frequency-sketch.js';

/** a Zipf-like stream over `distinct` values: value i has weight ∝ 1/(i+1) */
function zipfStream(n: number, distinct: number, seed: number): string[] {
  const random = seededRandom(seed);
  const cdf: number[] = [];
  let sum = 0;
  for (let i = 0; i < distinct; i++) cdf.push((sum += 1 / (i + 1)));
  const out: string[] = [];
  for (let j = 0; j < n; j++) {
    const u = random() * sum;
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! >= u) hi = mid;
      else lo = mid + 1;
    }
    out.push(`v${lo}`);
  }
  return out;
}

function exactCounts(stream: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of stream) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

describe('FrequencySketch', () => {
  it('counts exactly while there are at most cap distinct values', () => {
    const stream = zipfStream(20_000, 50, 1);
    const f = new FrequencySketch({ cap: 50 });
    for (const v of stream) f.add(v);
    const exact = exactCounts(stream);
    expect(f.exact).toBe(true);
    expect(f.distinct).toBe(exact.size);
    expect(f.total).toBe(20_000);
    expect(f.otherCount).toBe(0);
    for (const [v, c] of exact) expect(f.estimate(v)).toBe(c);
    const entries = f.entries();
    expect(entries[0]![0]).toBe('v0');
    expect(entries.map((e) => e[1])).toEqual([...exact.values()].sort((a, b) => b - a));
  });

  it('beyond the cap keeps the heavy hitters, never overcounts and undercounts by at most maxError <= other/(cap+1)', () => {
    const stream = zipfStream(100_000, 20_000, 2);
    const exact = exactCounts(stream);
    const cap = 100;
    const f = new FrequencySketch({ cap });
    // in batches, as a categorical column feeds it
    for (let start = 0; start < stream.length; start += 10_000) {
      const batch = exactCounts(stream.slice(start, start + 10_000));
      f.addCounts([...batch.keys()], [...batch.values()]);
    }
    expect(f.exact).toBe(false);
    expect(f.distinct).toBeNull();
    expect(f.size).toBeLessThanOrEqual(cap);
    expect(f.maxError).toBeGreaterThan(0);
    expect(f.maxError).toBeLessThanOrEqual(f.otherCount / (cap + 1) + 1e-9);
    const kept = f.entries().reduce((a, e) => a + e[1], 0);
    expect(kept + f.otherCount).toBeCloseTo(100_000, 6);
    let worst = 0;
    for (const [v, c] of exact) {
      const e = f.estimate(v);
      expect(e).toBeLessThanOrEqual(c);
      expect(c - e).toBeLessThanOrEqual(f.maxError + 1e-9);
      worst = Math.max(worst, c - e);
      if (c > 100_000 / (cap + 1)) expect(e).toBeGreaterThan(0);
    }
    console.log(`FrequencySketch cap=${cap} on 100k Zipf over 20k values: worst undercount ${worst}, maxError ${f.maxError}, other ${f.otherCount}`);
  });

  it('merges: the merged summary keeps the guarantee for the union', () => {
    const a = zipfStream(30_000, 5000, 3);
    const b = zipfStream(30_000, 5000, 4);
    const fa = new FrequencySketch({ cap: 64 });
    const fb = new FrequencySketch({ cap: 64 });
    a.forEach((v) => fa.add(v));
    b.forEach((v) => fb.add(v));
    const merged = fa.clone().merge(fb);
    expect(merged.total).toBe(60_000);
    const exact = exactCounts([...a, ...b]);
    for (const [v, c] of exact) {
      const e = merged.estimate(v);
      expect(e).toBeLessThanOrEqual(c);
      expect(c - e).toBeLessThanOrEqual(merged.maxError + 1e-9);
    }
    expect(merged.maxError).toBeLessThanOrEqual(merged.otherCount / 65 + 1e-9);
    expect(fa.total).toBe(30_000);
  });

  it('merging exact sketches stays exact while the union fits the cap', () => {
    const a = new FrequencySketch({ cap: 3 });
    const b = new FrequencySketch({ cap: 3 });
    a.addCounts(['x', 'y'], [2, 1]);
    b.addCounts(['y', 'z'], [5, 1]);
    a.merge(b);
    expect(a.exact).toBe(true);
    expect(a.entries()).toEqual([['y', 6], ['x', 2], ['z', 1]]);
    a.add('w');
    expect(a.exact).toBe(false);
    // the 4th largest count (1) comes off every count: w and z drop out
    expect(a.entries()).toEqual([['y', 5], ['x', 1]]);
    expect(a.otherCount).toBe(4);
    expect(a.maxError).toBe(1);
  });

  it('takes fractional weights and round-trips through JSON', () => {
    const f = new FrequencySketch({ cap: 2 });
    f.addCounts(['a', 'b', 'c', 'a'], [0.5, 2.25, 1, 4]);
    const g = FrequencySketch.fromJSON(JSON.parse(JSON.stringify(f.toJSON())));
    expect(g.toJSON()).toEqual(f.toJSON());
    expect(g.estimate('a')).toBe(3.5);
    expect(g.total).toBe(7.75);
  });

  it('rejects bad weights and malformed JSON naming the field', () => {
    const f = new FrequencySketch();
    expect(() => f.add('a', -1)).toThrow(/weight: expected a finite weight >= 0, got -1/);
    expect(() => f.addCounts(['a'], [1, 2])).toThrow(/expected one count per value \(1\), got 2 counts/);
    const json = { cap: 2, total: 3, other: 0, maxError: 0, exact: true, values: ['a', 'b'], counts: [1, 2] };
    expect(() => FrequencySketch.fromJSON({ ...json, counts: [1] }, 'columns[0].frequencies')).toThrow(/columns\[0\]\.frequencies\.counts: expected 2 counts/);
    expect(() => FrequencySketch.fromJSON({ ...json, total: 4 })).toThrow(/frequencies\.total: expected the sum of the counts and other \(3\), got 4/);
    expect(() => FrequencySketch.fromJSON({ ...json, values: ['a', 7] })).toThrow(/frequencies\.values\[1\]: expected a string, got 7/);
    expect(() => FrequencySketch.fromJSON({ ...json, cap: 1 })).toThrow(/frequencies\.values: expected at most cap = 1 values/);
  });
});

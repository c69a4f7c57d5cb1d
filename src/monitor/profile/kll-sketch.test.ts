import { describe, expect, it } from 'vitest';
import { generate, measureRankErrors, seededRandom, type Distribution } from '../../../test/monitor/profile/random.js';
import { KllSketch } from './kll-sketch.js';

const K = 2048;
const BOUND = KllSketch.rankErrorBound(K);

describe('KllSketch', () => {
  it('is exact while it holds at most k items: every item kept with weight 1', () => {
    const random = seededRandom(3);
    const data = Float64Array.from({ length: K }, () => Math.round(random() * 500) / 10);
    const s = new KllSketch({ k: K });
    s.updateMany(data.subarray(0, 1000));
    for (let i = 1000; i < K; i++) s.update(data[i]!);
    expect(s.exact).toBe(true);
    expect(s.n).toBe(K);
    const sorted = data.slice().sort();
    const { values, weights } = s.items();
    // items are the distinct values with their multiplicities
    const distinct = [...new Set(sorted)];
    expect(Array.from(values)).toEqual(distinct);
    expect(Array.from(weights)).toEqual(distinct.map((v) => sorted.filter((x) => x === v).length));
    for (let j = 0; j <= 100; j++) {
      const q = j / 100;
      const expected = q === 0 ? sorted[0]! : sorted[Math.ceil(q * K - 1e-9) - 1]!;
      expect(s.quantile(q)).toBe(expected);
    }
    for (const x of [-1, 0, 12.3, 25, 49.9, 50, 51]) {
      expect(s.rank(x)).toBe(sorted.filter((v) => v <= x).length / K);
      expect(s.cdf(x)).toBe(s.rank(x));
    }
    expect(s.cdf([10, 20, 30])).toEqual([10, 20, 30].map((x) => sorted.filter((v) => v <= x).length / K));
    s.update(1);
    expect(s.exact).toBe(false);
    expect(s.retained).toBeLessThan(K + 1);
  });

  it('stays exact for n <= k through merges', () => {
    const a = new KllSketch({ k: 100 });
    const b = new KllSketch({ k: 100 });
    a.updateMany(Float64Array.from({ length: 60 }, (_, i) => i));
    b.updateMany(Float64Array.from({ length: 40 }, (_, i) => 100 + i));
    a.merge(b);
    expect(a.exact).toBe(true);
    expect(a.items().values.length).toBe(100);
    expect(a.quantile(0.6)).toBe(59);
  });

  for (const dist of ['uniform', 'lognormal', 'ties'] as Distribution[]) {
    it(`keeps rank and quantile errors within ${BOUND.toFixed(5)} (2.5/k) on 1M ${dist} values`, () => {
      const data = generate(dist, 1_000_000, 11);
      const sorted = data.slice().sort();
      new KllSketch({ k: K }).updateMany(generate(dist, 100_000, 1)); // JIT warm-up, so the time printed is steady-state
      const s = new KllSketch({ k: K });
      const t0 = performance.now();
      s.updateMany(data);
      const ms = performance.now() - t0;
      const errors = measureRankErrors(s, sorted);
      console.log(`KLL k=${K} ${dist} 1M: rank error ${errors.rank.toFixed(6)} (${(errors.rank * K).toFixed(2)}/k), quantile error ${errors.quantile.toFixed(6)}, retained ${s.retained}, updateMany ${ms.toFixed(1)} ms`);
      expect(errors.rank).toBeLessThan(BOUND);
      expect(errors.quantile).toBeLessThan(BOUND);
      expect(s.n).toBe(1_000_000);
      expect(s.min).toBe(sorted[0]);
      expect(s.max).toBe(sorted[sorted.length - 1]);
      expect(s.quantile(0)).toBe(sorted[0]);
      expect(s.quantile(1)).toBe(sorted[sorted.length - 1]);
      const { weights } = s.items();
      expect(weights.reduce((a, b) => a + b, 0)).toBe(1_000_000);
    });
  }

  it('one update at a time is within the bound too (the plain lazy KLL path)', () => {
    const data = generate('lognormal', 300_000, 5);
    const sorted = data.slice().sort();
    const s = new KllSketch({ k: 256 });
    for (let i = 0; i < data.length; i++) s.update(data[i]!);
    const errors = measureRankErrors(s, sorted);
    console.log(`KLL k=256 one at a time, 300k lognormal: rank error ${errors.rank.toFixed(5)} (${(errors.rank * 256).toFixed(2)}/k)`);
    expect(errors.rank).toBeLessThan(KllSketch.rankErrorBound(256));
    expect(errors.quantile).toBeLessThan(KllSketch.rankErrorBound(256));
  });

  it('holds the bound across 40 seeds on both update paths (and prints the spread)', () => {
    const k = 128;
    const data = generate('lognormal', 100_000, 31);
    const sorted = data.slice().sort();
    for (const path of ['updateMany', 'update'] as const) {
      const errors: number[] = [];
      for (let seed = 1; seed <= 40; seed++) {
        const s = new KllSketch({ k, seed });
        if (path === 'updateMany') s.updateMany(data);
        else for (let i = 0; i < data.length; i++) s.update(data[i]!);
        errors.push(measureRankErrors(s, sorted).rank * k);
      }
      errors.sort((a, b) => a - b);
      console.log(`KLL k=${k} ${path}, 40 seeds: worst rank error × k: median ${errors[20]!.toFixed(2)}, max ${errors[39]!.toFixed(2)}`);
      expect(errors[39]! / k).toBeLessThan(KllSketch.rankErrorBound(k));
    }
  });

  it('merging 100 sketches of 10k items is as accurate as one sketch of 1M, in any merge order', () => {
    const data = generate('lognormal', 1_000_000, 23);
    const sorted = data.slice().sort();
    const parts = Array.from({ length: 100 }, (_, i) => {
      const s = new KllSketch({ k: K, seed: i + 1 });
      s.updateMany(data.subarray(i * 10_000, (i + 1) * 10_000));
      return s;
    });
    const single = new KllSketch({ k: K });
    single.updateMany(data);
    const sequential = parts.reduce((acc, p) => acc.merge(p), new KllSketch({ k: K }));
    const reversed = parts.slice().reverse().reduce((acc, p) => acc.merge(p), new KllSketch({ k: K }));
    let level = parts.map((p) => p.clone());
    while (level.length > 1) {
      const next: KllSketch[] = [];
      for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? level[i]!.merge(level[i + 1]!) : level[i]!);
      level = next;
    }
    const tree = level[0]!;
    for (const [name, s] of Object.entries({ single, sequential, reversed, tree })) {
      const errors = measureRankErrors(s, sorted);
      console.log(`KLL 100×10k ${name}: rank error ${errors.rank.toFixed(6)} (${(errors.rank * K).toFixed(2)}/k), retained ${s.retained}`);
      expect(s.n).toBe(1_000_000);
      expect(errors.rank).toBeLessThan(BOUND);
      expect(errors.quantile).toBeLessThan(BOUND);
    }
    for (let j = 1; j < 100; j++) {
      expect(Math.abs(sequential.rank(single.quantile(j / 100)) - single.rank(single.quantile(j / 100)))).toBeLessThan(2 * BOUND);
    }
    // the parts were not changed by merging them into others
    expect(parts[0]!.n).toBe(10_000);
  });

  it('serializes compactly, bounded by k and not by n', () => {
    const small = new KllSketch();
    small.updateMany(generate('uniform', 10_000, 1));
    const large = new KllSketch();
    large.updateMany(generate('uniform', 1_000_000, 2));
    const smallBytes = JSON.stringify(small.toJSON()).length;
    const largeBytes = JSON.stringify(large.toJSON()).length;
    console.log(`KLL k=2048 serialized: 10k items ${smallBytes} B (${small.retained} kept), 1M items ${largeBytes} B (${large.retained} kept)`);
    // about 3k doubles at 8 bytes, base64: ~65 KB
    expect(smallBytes).toBeLessThan(100_000);
    expect(largeBytes).toBeLessThan(100_000);
  });

  it('round-trips through JSON and continues exactly as the original would', () => {
    const data = generate('ties', 50_000, 9);
    const a = new KllSketch({ k: 200 });
    a.updateMany(data.subarray(0, 25_000));
    const b = KllSketch.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    expect(b.toJSON()).toEqual(a.toJSON());
    a.updateMany(data.subarray(25_000));
    b.updateMany(data.subarray(25_000));
    expect(b.toJSON()).toEqual(a.toJSON());
    expect(b.quantiles([0.1, 0.5, 0.9])).toEqual(a.quantiles([0.1, 0.5, 0.9]));
  });

  it('is deterministic: the same input gives the same sketch; another seed a different, equally valid one', () => {
    const data = generate('uniform', 100_000, 4);
    const sketch = (seed?: number): KllSketch => {
      const s = new KllSketch({ k: 128, seed });
      s.updateMany(data);
      return s;
    };
    expect(sketch().toJSON()).toEqual(sketch().toJSON());
    expect(sketch(99).toJSON().levels).not.toEqual(sketch().toJSON().levels);
  });

  it('ignores NaN and ±Infinity', () => {
    const s = new KllSketch();
    s.updateMany(Float64Array.from([1, NaN, Infinity, 2, -Infinity, 3]));
    s.update(NaN);
    s.update(Infinity);
    expect(s.n).toBe(3);
    expect([s.min, s.max, s.quantile(0.5)]).toEqual([1, 3, 2]);
  });

  it('is NaN for queries while empty and refuses q outside [0, 1]', () => {
    const s = new KllSketch();
    expect(s.quantile(0.5)).toBeNaN();
    expect(s.rank(1)).toBeNaN();
    expect(s.min).toBeNaN();
    expect(() => s.quantile(1.5)).toThrow(/expected q in \[0, 1\], got 1.5/);
    expect(() => new KllSketch({ k: 3 })).toThrow(/k: expected an integer in \[8, 65536\], got 3/);
  });

  it('weights values: weight w counts like w copies, fractional weights rounded without bias', () => {
    const random = seededRandom(12);
    const n = 200_000;
    const values = Float64Array.from({ length: n }, () => random());
    // values above 0.5 are ten times as likely: rank(0.5) = 0.5 / (0.5 + 5) = 1/11
    const weights = Float64Array.from(values, (x) => (x > 0.5 ? 10 : 1));
    const s = new KllSketch({ k: 512 });
    s.updateMany(values, weights);
    const expectedN = weights.reduce((a, b) => a + b, 0);
    expect(s.n).toBe(expectedN);
    const exactRank = (x: number): number => {
      let w = 0;
      for (let i = 0; i < n; i++) if (values[i]! <= x) w += weights[i]!;
      return w / expectedN;
    };
    for (const x of [0.1, 0.3, 0.5, 0.7, 0.9]) expect(Math.abs(s.rank(x) - exactRank(x))).toBeLessThan(KllSketch.rankErrorBound(512));

    const f = new KllSketch({ k: 512 });
    f.updateMany(values, new Float64Array(n).fill(2.5));
    expect(Math.abs(f.n / (2.5 * n) - 1)).toBeLessThan(0.01);
    expect(Math.abs(f.quantile(0.5) - 0.5)).toBeLessThan(0.01);
    expect(() => f.updateMany(values, new Float64Array(3))).toThrow(/expected 200000 weights/);
    expect(() => f.updateMany(Float64Array.of(1), Float64Array.of(-1))).toThrow(/weights\[0\]: expected a finite weight >= 0, got -1/);
  });

  it('merges sketches of different k into the smaller k', () => {
    const a = new KllSketch({ k: 512 });
    const b = new KllSketch({ k: 128 });
    a.updateMany(generate('uniform', 50_000, 1));
    b.updateMany(generate('uniform', 50_000, 2));
    a.merge(b);
    expect(a.k).toBe(128);
    expect(a.n).toBe(100_000);
    expect(a.retained).toBeLessThan(3 * 128 + 8 * 16);
  });

  it('rejects malformed JSON naming the field', () => {
    const good = new KllSketch({ k: 16 });
    good.updateMany(Float64Array.from({ length: 100 }, (_, i) => i));
    const json = good.toJSON();
    const bad = (patch: Record<string, unknown>): unknown => ({ ...json, ...patch });
    expect(() => KllSketch.fromJSON(bad({ k: 2.5 }), 'col.kll')).toThrow(/col\.kll\.k: expected an integer >= 8 <= 65536, got 2\.5/);
    expect(() => KllSketch.fromJSON(bad({ n: 99 }))).toThrow(/kll\.n: expected the total weight of the levels \(100\), got 99/);
    expect(() => KllSketch.fromJSON(bad({ levels: ['not base64!'] }))).toThrow(/kll\.levels\[0\]: expected base64/);
    expect(() => KllSketch.fromJSON(bad({ min: 50 }))).toThrow(/kll\.levels\[\d\]\[\d+\]: expected a value within \[min, max\]/);
    expect(() => KllSketch.fromJSON(null)).toThrow(/kll: expected an object, got null/);
    try {
      KllSketch.fromJSON(bad({ rng: -1 }));
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', context: { field: 'kll.rng' } });
    }
  });
});

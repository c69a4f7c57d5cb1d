import { describe, expect, it } from 'vitest';
import { sortFloat64 } from './sort-float64.js';

function pseudoRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

describe('sortFloat64', () => {
  const random = pseudoRandom(7);
  const cases: Record<string, Float64Array> = {
    'mixed signs and magnitudes': Float64Array.from({ length: 5000 }, () => (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20)),
    'integers with ties': Float64Array.from({ length: 5000 }, () => Math.floor(random() * 30) - 10),
    'specials': Float64Array.from({ length: 2000 }, (_, i) =>
      [0, -0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE, 1e-310][i % 9]! * (i % 2 ? 1 : 1),
    ),
    'already sorted': Float64Array.from({ length: 3000 }, (_, i) => i / 7),
    'reverse sorted': Float64Array.from({ length: 3000 }, (_, i) => -i / 7),
    'a tight cluster (one long run of equal 42-bit prefixes)': Float64Array.from({ length: 5000 }, () => 1 + random() * 1e-9),
    'a tight negative cluster': Float64Array.from({ length: 5000 }, () => -1 - random() * 1e-12),
    'large integers (1e9 + i)': Float64Array.from({ length: 5000 }, () => 1e9 + Math.floor(random() * 100_000)),
    'timestamps in ms within an hour': Float64Array.from({ length: 5000 }, () => 1.7e12 + Math.floor(random() * 3.6e6)),
    'pairs sharing 42 bits': Float64Array.from({ length: 5000 }, (_, i) => Math.floor(i / 2) + (i % 2 ? 1e-13 : 2e-13) * Math.floor(i / 2 + 1)),
    'small (engine sort)': Float64Array.from({ length: 100 }, () => random()),
  };
  for (const [name, data] of Object.entries(cases)) {
    it(`sorts ${name} exactly as Float64Array.prototype.sort does`, () => {
      const expected = data.slice().sort();
      const actual = data.slice();
      sortFloat64(actual);
      expect(Array.from(actual).map((x) => Object.is(x, -0) ? '-0' : String(x))).toEqual(Array.from(expected).map((x) => Object.is(x, -0) ? '-0' : String(x)));
    });
  }

  it('sorts only the given prefix and leaves the rest alone', () => {
    const data = Float64Array.from({ length: 1000 }, (_, i) => 1000 - i);
    sortFloat64(data, 600);
    expect(Array.from(data.subarray(0, 600))).toEqual(Array.from({ length: 600 }, (_, i) => 401 + i));
    expect(data[600]).toBe(400);
  });

  it('sorts a subarray view that does not start at the buffer start', () => {
    const backing = Float64Array.from({ length: 1200 }, (_, i) => (i * 7919) % 1200);
    const view = backing.subarray(100, 1100);
    const expected = view.slice().sort();
    sortFloat64(view);
    expect(Array.from(view)).toEqual(Array.from(expected));
    expect(backing[0]).toBe(0);
  });
});

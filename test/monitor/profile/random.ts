/** Seeded generators for the profile tests (the data, not the sketches' coins). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normal(random: () => number): () => number {
  return () => {
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

export type Distribution = 'uniform' | 'lognormal' | 'ties';

/** n values of a distribution: uniform(0, 1); lognormal(0, 1.5); heavy ties (half zeros, the rest 1..20 skewed, a few continuous) */
export function generate(dist: Distribution, n: number, seed: number): Float64Array {
  const random = seededRandom(seed);
  const gauss = normal(random);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (dist === 'uniform') out[i] = random();
    else if (dist === 'lognormal') out[i] = Math.exp(1.5 * gauss());
    else {
      const u = random();
      out[i] = u < 0.5 ? 0 : u < 0.95 ? 1 + Math.floor(20 * random() ** 2) : 100 * random();
    }
  }
  return out;
}

/** Index of the first element > x in ascending `sorted` (= number of elements ≤ x). */
export function upperBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element >= x (= number of elements < x). */
export function lowerBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What a quantile sketch is measured against: exact ranks from the sorted data. */
export interface RankErrors {
  /** max over 999 query points x of |sketch.rank(x) − true share of values ≤ x| */
  rank: number;
  /** max over q = 0.001 … 0.999 of the distance from q to the true rank interval of sketch.quantile(q) */
  quantile: number;
}

export function measureRankErrors(sketch: { rank(x: number): number; quantile(q: number): number }, sorted: Float64Array): RankErrors {
  const n = sorted.length;
  let rank = 0;
  let quantile = 0;
  for (let j = 1; j < 1000; j++) {
    const x = sorted[Math.floor((j / 1000) * n)]!;
    rank = Math.max(rank, Math.abs(sketch.rank(x) - upperBound(sorted, x) / n));
    // a point between data values too (not only values the data holds)
    const between = (x + sorted[Math.min(n - 1, Math.floor((j / 1000) * n) + 1)]!) / 2;
    rank = Math.max(rank, Math.abs(sketch.rank(between) - upperBound(sorted, between) / n));
    const q = j / 1000;
    const v = sketch.quantile(q);
    const lo = lowerBound(sorted, v) / n;
    const hi = upperBound(sorted, v) / n;
    quantile = Math.max(quantile, q < lo ? lo - q : q > hi ? q - hi : 0);
  }
  return { rank, quantile };
}

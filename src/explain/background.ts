import { BerthError } from '../core/index.js';

/**
 * How a background was made: `kmeans` (weighted centroids), `sample` (a seeded sample of rows,
 * equal weights) or `all` (every row given, equal weights: what both methods return when the
 * reference has no more rows than the requested size, and what caller-supplied rows become).
 */
export const BACKGROUND_METHODS = ['kmeans', 'sample', 'all'] as const;
export type BackgroundMethod = (typeof BACKGROUND_METHODS)[number];

/** The methods `summarizeBackground` can be asked for. */
export const SUMMARY_METHODS = ['kmeans', 'sample'] as const;
export type SummaryMethod = (typeof SUMMARY_METHODS)[number];

/**
 * The rows an explanation compares against: n weighted rows of M features (row-major, NaN for
 * missing, categories as codes). The expected model output over them is an explanation's base value.
 */
export interface Background {
  /** n × M values, row-major */
  readonly rows: Float32Array;
  readonly n: number;
  readonly M: number;
  /** one weight per row, non-negative, summing to 1 */
  readonly weights: Float64Array;
  readonly method: BackgroundMethod;
  /** the seed the summary was made with (0 when no randomness was involved) */
  readonly seed: number;
}

/** Options of `summarizeBackground`. */
export interface SummarizeBackgroundOptions {
  /** `kmeans` (default) or `sample` */
  method?: SummaryMethod;
  /** the number of background rows wanted (default 100) */
  size?: number;
  /** seed of the k-means++ initialisation or of the sample (default 0); same seed, same summary */
  seed?: number;
  /**
   * which features hold category codes (length M). A k-means centroid takes the most frequent
   * code of its cluster there instead of the mean, and distances count a code mismatch as 1.
   */
  categorical?: readonly boolean[];
  /** the most Lloyd iterations k-means runs (default 50) */
  maxIterations?: number;
  /**
   * k-means fits its centroids on a seeded sample of at most this many rows (default 5,000), then
   * assigns every row to its nearest centroid for the final centroids and weights
   */
  maxFitRows?: number;
}

/** The serialised form of a background (`background.json`). NaN is written as null. */
export interface BackgroundJson {
  format: typeof BACKGROUND_FORMAT;
  method: BackgroundMethod;
  seed: number;
  n: number;
  M: number;
  rows: (number | null)[][];
  weights: number[];
}

const BACKGROUND_FORMAT = 'berth-background/1';
const DEFAULT_SIZE = 100;
const DEFAULT_MAX_ITERATIONS = 50;
const DEFAULT_MAX_FIT_ROWS = 5000;

/**
 * A background summary of reference rows (n × M, row-major).
 *
 * - `kmeans` (default): k-means++ seeding and at most `maxIterations` Lloyd iterations (on a
 *   seeded sample of `maxFitRows` rows when there are more), then one assignment of every row;
 *   each centroid is weighted by the share of rows in its cluster. Distances are Euclidean over
 *   features scaled by their standard deviation (so a feature in the hundreds does not drown one
 *   below 1); a feature missing (NaN) in either row is left out and the rest scaled up to M
 *   features, as scikit-learn's nan_euclidean does. A centroid's value is the mean of its rows'
 *   non-NaN values (NaN when all are missing), or for `categorical` features their most frequent
 *   code (the smallest on a tie). Fewer than `size` rows come back when the data has fewer
 *   distinct rows.
 * - `sample`: `size` rows drawn without replacement (kept in their original order), equal weights.
 *
 * When n ≤ size every row is kept with equal weight (method `all`).
 *
 * @example
 * const bg = summarizeBackground(rows, 284, 30, { size: 100, seed: 7 });
 */
export function summarizeBackground(rows: Float32Array, n: number, M: number, options: SummarizeBackgroundOptions = {}): Background {
  checkShape(rows, n, M);
  const method = options.method ?? 'kmeans';
  if (!(SUMMARY_METHODS as readonly string[]).includes(method)) {
    throw new BerthError('INVALID_ARGUMENT', `background method must be one of ${SUMMARY_METHODS.join(', ')}, got ${JSON.stringify(method)}`, {
      field: 'method',
      expected: SUMMARY_METHODS,
      got: method,
    });
  }
  const size = options.size ?? DEFAULT_SIZE;
  checkInteger('size', size, 1);
  const seed = options.seed ?? 0;
  checkSeed(seed);
  const maxIterations = options.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  checkInteger('maxIterations', maxIterations, 1);
  const categorical = options.categorical;
  if (categorical && categorical.length !== M) {
    throw new BerthError('INVALID_ARGUMENT', `categorical must flag each of the ${M} features, got ${categorical.length} flags`, {
      field: 'categorical',
      expected: M,
      got: categorical.length,
    });
  }

  if (n <= size) return { rows: rows.slice(0, n * M), n, M, weights: new Float64Array(n).fill(1 / n), method: 'all', seed };
  if (method === 'sample') return sampleRows(rows, n, M, size, seed);
  const maxFitRows = options.maxFitRows ?? DEFAULT_MAX_FIT_ROWS;
  checkInteger('maxFitRows', maxFitRows, size);
  return kmeansSummary(rows, n, M, size, seed, categorical ?? new Array<boolean>(M).fill(false), maxIterations, maxFitRows);
}

/**
 * A background of the given rows as they are, with the given weights (equal when omitted;
 * normalised to sum 1). Throws INVALID_ARGUMENT naming the field when the shapes disagree or a
 * weight is negative or not finite.
 */
export function createBackground(
  rows: Float32Array,
  n: number,
  M: number,
  options: { weights?: ArrayLike<number>; method?: BackgroundMethod; seed?: number } = {},
): Background {
  checkShape(rows, n, M);
  const weights = options.weights ? normalizedWeights(options.weights, n) : new Float64Array(n).fill(1 / n);
  const method = options.method ?? 'all';
  if (!(BACKGROUND_METHODS as readonly string[]).includes(method)) {
    throw new BerthError('INVALID_ARGUMENT', `background method must be one of ${BACKGROUND_METHODS.join(', ')}, got ${JSON.stringify(method)}`, {
      field: 'method',
      got: method,
    });
  }
  const seed = options.seed ?? 0;
  checkSeed(seed);
  return { rows, n, M, weights, method, seed };
}

/** The JSON form of a background (`background.json`): plain arrays, NaN as null, float32 values written in their shortest exact form. */
export function backgroundToJson(background: Background): BackgroundJson {
  const { rows: data, n, M } = background;
  const rows: (number | null)[][] = [];
  for (let i = 0; i < n; i++) {
    const row: (number | null)[] = new Array<number | null>(M);
    for (let j = 0; j < M; j++) row[j] = shortestFloat32(data[i * M + j]!);
    rows.push(row);
  }
  return {
    format: BACKGROUND_FORMAT,
    method: background.method,
    seed: background.seed,
    n,
    M,
    rows,
    weights: Array.from(background.weights),
  };
}

/**
 * Read a background from its JSON form (a parsed value or the JSON text), checking every field.
 * Throws BerthError INVALID_ARGUMENT naming the field at fault (`background.rows[3]`, …).
 */
export function backgroundFromJson(json: unknown): Background {
  let value = json;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `background: not valid JSON (${(err as Error).message})`, { field: 'background' }, { cause: err });
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('background', 'expected an object with format, method, seed, n, M, rows and weights', value);
  }
  const o = value as Record<string, unknown>;
  if (o['format'] !== BACKGROUND_FORMAT) throw invalid('background.format', `expected "${BACKGROUND_FORMAT}"`, o['format']);
  const method = o['method'];
  if (typeof method !== 'string' || !(BACKGROUND_METHODS as readonly string[]).includes(method)) {
    throw invalid('background.method', `expected one of ${BACKGROUND_METHODS.join(', ')}`, method);
  }
  const seed = o['seed'];
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw invalid('background.seed', 'expected an integer from 0 to 4294967295', seed);
  }
  const n = o['n'];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw invalid('background.n', 'expected an integer ≥ 1', n);
  const M = o['M'];
  if (typeof M !== 'number' || !Number.isInteger(M) || M < 1) throw invalid('background.M', 'expected an integer ≥ 1', M);
  const rowsValue = o['rows'];
  if (!Array.isArray(rowsValue) || rowsValue.length !== n) {
    throw invalid('background.rows', `expected an array of n = ${n} rows`, rowsValue, Array.isArray(rowsValue) ? `${rowsValue.length} rows` : describe(rowsValue));
  }
  const rows = new Float32Array(n * M);
  for (let i = 0; i < n; i++) {
    const row: unknown = rowsValue[i];
    if (!Array.isArray(row) || row.length !== M) {
      throw invalid(`background.rows[${i}]`, `expected an array of M = ${M} numbers`, row, Array.isArray(row) ? `${row.length} values` : describe(row));
    }
    for (let j = 0; j < M; j++) {
      const v: unknown = row[j];
      if (v === null) rows[i * M + j] = NaN;
      else if (typeof v === 'number' && Number.isFinite(v)) rows[i * M + j] = v;
      else throw invalid(`background.rows[${i}][${j}]`, 'expected a finite number, or null for a missing value', v);
    }
  }
  const weightsValue = o['weights'];
  if (!Array.isArray(weightsValue) || weightsValue.length !== n) {
    throw invalid('background.weights', `expected an array of n = ${n} weights`, weightsValue, Array.isArray(weightsValue) ? `${weightsValue.length} weights` : describe(weightsValue));
  }
  const weights = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const w: unknown = weightsValue[i];
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw invalid(`background.weights[${i}]`, 'expected a finite number ≥ 0', w);
    weights[i] = w;
    sum += w;
  }
  if (!(Math.abs(sum - 1) <= 1e-6)) throw invalid('background.weights', 'expected weights summing to 1 (within 1e-6)', sum, `a sum of ${sum}`);
  return { rows, n, M, weights, method: method as BackgroundMethod, seed };
}

/**
 * A small seeded generator (xoshiro128**, seeded through splitmix32): `next()` is uniform in
 * [0, 1), `int(k)` uniform in 0..k−1. Same seed, same sequence, on every platform.
 */
export interface SeededRandom {
  next(): number;
  int(k: number): number;
}

/** A `SeededRandom` started from `seed` (an unsigned 32-bit integer). */
export function createSeededRandom(seed: number): SeededRandom {
  let x = seed >>> 0;
  const splitmix = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = splitmix();
  let s1 = splitmix();
  let s2 = splitmix();
  let s3 = splitmix();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  return {
    next: () => nextUint32() / 4294967296,
    int: (k: number) => Math.floor((nextUint32() / 4294967296) * k),
  };
}

function rotl(v: number, k: number): number {
  return (v << k) | (v >>> (32 - k));
}

function sampleRows(rows: Float32Array, n: number, M: number, size: number, seed: number): Background {
  const rng = createSeededRandom(seed);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // partial Fisher–Yates: the first `size` slots become a uniform sample without replacement
  for (let i = 0; i < size; i++) {
    const j = i + rng.int(n - i);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const chosen = order.subarray(0, size).sort();
  const out = new Float32Array(size * M);
  for (let r = 0; r < size; r++) out.set(rows.subarray(chosen[r]! * M, chosen[r]! * M + M), r * M);
  return { rows: out, n: size, M, weights: new Float64Array(size).fill(1 / size), method: 'sample', seed };
}

function kmeansSummary(
  rows: Float32Array,
  n: number,
  M: number,
  k: number,
  seed: number,
  categorical: readonly boolean[],
  maxIterations: number,
  maxFitRows: number,
): Background {
  const isCat = Uint8Array.from(categorical, (c) => (c ? 1 : 0));
  const rng = createSeededRandom(seed);
  // the centroids are fitted on at most maxFitRows rows (a seeded sample), then every row is assigned
  let fit = rows;
  let fitN = n;
  if (n > maxFitRows) {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = 0; i < maxFitRows; i++) {
      const j = i + rng.int(n - i);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    const chosen = order.subarray(0, maxFitRows).sort();
    fit = new Float32Array(maxFitRows * M);
    for (let r = 0; r < maxFitRows; r++) fit.set(rows.subarray(chosen[r]! * M, chosen[r]! * M + M), r * M);
    fitN = maxFitRows;
  }
  const scale = featureScales(fit, fitN, M, isCat);
  const dist = (data: Float32Array, i: number, centers: Float64Array, c: number): number => {
    let sum = 0;
    let present = 0;
    const ro = i * M;
    const co = c * M;
    for (let j = 0; j < M; j++) {
      const a = data[ro + j]!;
      const b = centers[co + j]!;
      if (a !== a || b !== b) continue;
      present++;
      if (isCat[j] === 1) {
        if (a !== b) sum += 1;
      } else {
        const d = (a - b) * scale[j]!;
        sum += d * d;
      }
    }
    return present === 0 ? 0 : (sum * M) / present;
  };
  /** Assign each row of data to its nearest centre; returns how many rows changed cluster. */
  const assignAll = (data: Float32Array, count: number, kk: number, centers: Float64Array, assign: Int32Array, nearest: Float64Array): number => {
    let changed = 0;
    for (let i = 0; i < count; i++) {
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < kk; c++) {
        const d = dist(data, i, centers, c);
        if (d < bestD) {
          bestD = d;
          best = c;
        }
      }
      nearest[i] = bestD;
      if (assign[i] !== best) {
        assign[i] = best;
        changed++;
      }
    }
    return changed;
  };

  // k-means++: each next centre is a row drawn with probability ∝ its squared distance to the nearest centre so far
  const centers = new Float64Array(k * M);
  const first = rng.int(fitN);
  for (let j = 0; j < M; j++) centers[j] = fit[first * M + j]!;
  let kk = 1;
  const nearest = new Float64Array(fitN);
  for (let i = 0; i < fitN; i++) nearest[i] = dist(fit, i, centers, 0);
  while (kk < k) {
    let total = 0;
    for (let i = 0; i < fitN; i++) total += nearest[i]!;
    if (!(total > 0)) break; // fewer distinct rows than centres
    let target = rng.next() * total;
    let pick = -1;
    for (let i = 0; i < fitN; i++) {
      const d = nearest[i]!;
      if (d <= 0) continue;
      pick = i;
      target -= d;
      if (target < 0) break;
    }
    for (let j = 0; j < M; j++) centers[kk * M + j] = fit[pick * M + j]!;
    for (let i = 0; i < fitN; i++) {
      const d = dist(fit, i, centers, kk);
      if (d < nearest[i]!) nearest[i] = d;
    }
    kk++;
  }

  // Lloyd iterations until no row changes cluster
  const assign = new Int32Array(fitN).fill(-1);
  const counts = new Int32Array(kk);
  const sums = new Float64Array(kk * M);
  const present = new Float64Array(kk * M);
  for (let iter = 0; iter < maxIterations; iter++) {
    if (assignAll(fit, fitN, kk, centers, assign, nearest) === 0 && iter > 0) break;
    updateCenters(fit, fitN, M, kk, assign, isCat, centers, counts, sums, present);
    // an empty cluster takes over the row farthest from its own centre
    for (let c = 0; c < kk; c++) {
      if (counts[c] !== 0) continue;
      let far = -1;
      let farD = 0;
      for (let i = 0; i < fitN; i++) {
        if (nearest[i]! > farD && counts[assign[i]!]! > 1) {
          farD = nearest[i]!;
          far = i;
        }
      }
      if (far < 0) continue;
      counts[assign[far]!]!--;
      assign[far] = c;
      counts[c] = 1;
      nearest[far] = 0;
      for (let j = 0; j < M; j++) centers[c * M + j] = fit[far * M + j]!;
    }
  }
  // the final clusters hold every row: centres and weights from all of them
  const finalAssign = fit === rows ? assign : new Int32Array(n).fill(-1);
  assignAll(rows, n, kk, centers, finalAssign, fit === rows ? nearest : new Float64Array(n));
  updateCenters(rows, n, M, kk, finalAssign, isCat, centers, counts, sums, present);

  let m = 0;
  for (let c = 0; c < kk; c++) if (counts[c]! > 0) m++;
  const out = new Float32Array(m * M);
  const weights = new Float64Array(m);
  let r = 0;
  for (let c = 0; c < kk; c++) {
    if (counts[c] === 0) continue;
    for (let j = 0; j < M; j++) out[r * M + j] = centers[c * M + j]!;
    weights[r] = counts[c]! / n;
    r++;
  }
  return { rows: out, n: m, M, weights, method: 'kmeans', seed };
}

/** Centres from an assignment: non-NaN means, or the most frequent code of a categorical feature. */
function updateCenters(
  rows: Float32Array,
  n: number,
  M: number,
  k: number,
  assign: Int32Array,
  isCat: Uint8Array,
  centers: Float64Array,
  counts: Int32Array,
  sums: Float64Array,
  present: Float64Array,
): void {
  counts.fill(0);
  sums.fill(0);
  present.fill(0);
  for (let i = 0; i < n; i++) {
    const c = assign[i]!;
    counts[c]!++;
    const ro = i * M;
    const co = c * M;
    for (let j = 0; j < M; j++) {
      const v = rows[ro + j]!;
      if (v !== v) continue;
      sums[co + j]! += v;
      present[co + j]!++;
    }
  }
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) continue; // keeps its old centre until it is refilled
    for (let j = 0; j < M; j++) {
      if (isCat[j] === 1) continue;
      const p = present[c * M + j]!;
      centers[c * M + j] = p > 0 ? sums[c * M + j]! / p : NaN;
    }
  }
  for (let j = 0; j < M; j++) {
    if (isCat[j] !== 1) continue;
    const tallies: Map<number, number>[] = [];
    for (let c = 0; c < k; c++) tallies.push(new Map());
    for (let i = 0; i < n; i++) {
      const v = rows[i * M + j]!;
      if (v !== v) continue;
      const t = tallies[assign[i]!]!;
      t.set(v, (t.get(v) ?? 0) + 1);
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      let mode = NaN;
      let best = 0;
      for (const [code, count] of tallies[c]!) {
        if (count > best || (count === best && code < mode)) {
          best = count;
          mode = code;
        }
      }
      centers[c * M + j] = mode;
    }
  }
}

/** 1/σ of each numeric feature over its non-NaN values (1 when σ is 0 or undefined); 1 for categorical ones. */
function featureScales(rows: Float32Array, n: number, M: number, isCat: Uint8Array): Float64Array {
  const scale = new Float64Array(M).fill(1);
  for (let j = 0; j < M; j++) {
    if (isCat[j] === 1) continue;
    let count = 0;
    let mean = 0;
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      const v = rows[i * M + j]!;
      if (v !== v) continue;
      count++;
      const d = v - mean;
      mean += d / count;
      m2 += d * (v - mean);
    }
    const sd = count > 1 ? Math.sqrt(m2 / count) : 0;
    if (sd > 0 && Number.isFinite(sd)) scale[j] = 1 / sd;
  }
  return scale;
}

/** The shortest decimal that reads back as the same float32; null for NaN. */
function shortestFloat32(v: number): number | null {
  if (v !== v) return null;
  for (let p = 1; p < 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return s;
  }
  return v;
}

function normalizedWeights(values: ArrayLike<number>, n: number): Float64Array {
  if (values.length !== n) {
    throw new BerthError('INVALID_ARGUMENT', `background weights: expected one weight per row (${n}), got ${values.length}`, {
      field: 'weights',
      expected: n,
      got: values.length,
    });
  }
  const weights = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const w = values[i]!;
    if (!Number.isFinite(w) || w < 0) {
      throw new BerthError('INVALID_ARGUMENT', `background weights[${i}]: expected a finite number ≥ 0, got ${w}`, { field: `weights[${i}]`, got: w });
    }
    weights[i] = w;
    sum += w;
  }
  if (!(sum > 0)) throw new BerthError('INVALID_ARGUMENT', 'background weights: expected a positive total, got 0', { field: 'weights' });
  for (let i = 0; i < n; i++) weights[i] = weights[i]! / sum;
  return weights;
}

function checkShape(rows: Float32Array, n: number, M: number): void {
  checkInteger('n', n, 1);
  checkInteger('M', M, 1);
  if (rows.length !== n * M) {
    throw new BerthError('INVALID_ARGUMENT', `background rows: expected n × M = ${n} × ${M} = ${n * M} values, got ${rows.length}`, {
      field: 'rows',
      expected: n * M,
      got: rows.length,
    });
  }
}

function checkInteger(field: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new BerthError('INVALID_ARGUMENT', `${field} must be an integer ≥ ${min}, got ${value}`, { field, expected: `integer ≥ ${min}`, got: value });
  }
}

function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new BerthError('INVALID_ARGUMENT', `seed must be an integer from 0 to 4294967295, got ${seed}`, { field: 'seed', got: seed });
  }
}

function invalid(field: string, expected: string, got: unknown, shown = describe(got)): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: ${expected}, got ${shown}`, { field, expected, got: shown });
}

function describe(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? JSON.stringify(`${v.slice(0, 40)}…`) : JSON.stringify(v);
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

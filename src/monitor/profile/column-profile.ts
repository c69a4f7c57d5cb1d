import { BerthError } from '../../core/index.js';
import { countDistinct } from './count-distinct.js';
import { FrequencySketch, type FrequencySketchJson } from './frequency-sketch.js';
import { invalidField, readArray, readNullableNumber, readNumber, readObject, readString } from './json-fields.js';
import { KllSketch, type KllSketchJson } from './kll-sketch.js';

/** A numeric column keeps exact value counts while it has at most this many distinct values. */
export const SMALL_DOMAIN_LIMIT = 64;

/** Exact (weighted) counts of a numeric column with few distinct values; `values` ascending. */
export interface SmallDomain {
  values: number[];
  counts: number[];
}

/**
 * Profile of a numeric column. Rows split into `count` (finite values) + `missing` (NaN) +
 * `nonFinite` (±Infinity); everything else describes the finite values only. `weight` is their total
 * weight (= count without row weights); `mean` and `m2` = Σ w·(x − mean)² are weighted and merge
 * with Chan et al.'s parallel formula. `min`/`max` are NaN while `count` is 0.
 */
export interface NumericColumnProfile {
  kind: 'numeric';
  name: string;
  count: number;
  missing: number;
  nonFinite: number;
  weight: number;
  min: number;
  max: number;
  mean: number;
  m2: number;
  kll: KllSketch;
  /** exact value → weight while the column has ≤ 64 distinct finite values, else null (for good) */
  smallDomain: SmallDomain | null;
}

/** Profile of a categorical column: `count` non-missing rows, `missing` rows, weighted category counts. */
export interface CategoricalColumnProfile {
  kind: 'categorical';
  name: string;
  count: number;
  missing: number;
  frequencies: FrequencySketch;
}

export type ColumnProfile = NumericColumnProfile | CategoricalColumnProfile;

export interface ColumnProfileOptions {
  /** KLL accuracy parameter (default 2048) */
  k?: number;
  /** seed of the KLL coin (default fixed; see KllSketch) */
  seed?: number;
  /** most distinct categories tracked exactly (default 1000) */
  cap?: number;
}

/** A dictionary-coded string column: `codes[i]` indexes `dictionary`, −1 = missing. */
export interface DictionaryColumn {
  dictionary: readonly string[];
  codes: Int32Array;
}

export function createNumericProfile(name: string, options: ColumnProfileOptions = {}): NumericColumnProfile {
  return {
    kind: 'numeric',
    name,
    count: 0,
    missing: 0,
    nonFinite: 0,
    weight: 0,
    min: NaN,
    max: NaN,
    mean: 0,
    m2: 0,
    kll: new KllSketch({ k: options.k, seed: options.seed }),
    smallDomain: { values: [], counts: [] },
  };
}

export function createCategoricalProfile(name: string, options: ColumnProfileOptions = {}): CategoricalColumnProfile {
  return { kind: 'categorical', name, count: 0, missing: 0, frequencies: new FrequencySketch({ cap: options.cap }) };
}

/**
 * Check optional row weights: `rows` of them, each finite and ≥ 0. Throws BerthError INVALID_ARGUMENT
 * naming the first bad one.
 */
export function checkRowWeights(weights: Float64Array | undefined, rows: number, what = 'weights'): void {
  if (weights === undefined) return;
  if (weights.length !== rows) {
    throw new BerthError('INVALID_ARGUMENT', `${what}: expected one weight per row (${rows}), got ${weights.length}`, {
      field: what,
      expected: rows,
      got: weights.length,
    });
  }
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (!(w >= 0 && w < Infinity)) {
      throw new BerthError('INVALID_ARGUMENT', `${what}[${i}]: expected a finite weight >= 0, got ${w}`, {
        field: `${what}[${i}]`,
        expected: 'finite >= 0',
        got: w,
      });
    }
  }
}

/**
 * Add a batch of values (NaN = missing, ±Infinity counted in `nonFinite` and otherwise ignored), with
 * optional per-row weights (default 1; a row of weight 0 still counts in `count`, `min` and `max` but
 * weighs nothing). Two passes over the typed arrays and one bulk sketch update, no copy and no per-row
 * allocation. Whole batches are better than slices of them: a big batch with few distinct values is
 * sketched as (value, count) pairs (see below).
 */
export function updateNumericProfile(profile: NumericColumnProfile, values: Float64Array, weights?: Float64Array): void {
  const n = values.length;
  checkRowWeights(weights, n);
  let m = 0;
  let lo = Infinity;
  let hi = -Infinity;
  let sumW = 0;
  let sumWX = 0;
  let nan = 0;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    // x - x is 0 for finite x, NaN for NaN and ±Infinity
    if (x - x === 0) {
      m++;
      const w = weights === undefined ? 1 : weights[i]!;
      sumW += w;
      sumWX += w * x;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    } else if (x !== x) nan++;
  }
  profile.missing += nan;
  profile.nonFinite += n - m - nan;
  if (m === 0) return;
  // batch mean and M2 (two-pass: stable), then Chan et al.'s merge with what the profile holds
  if (sumW > 0) {
    const mean = sumWX / sumW;
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      const d = values[i]! - mean;
      if (d - d === 0) m2 += weights === undefined ? d * d : weights[i]! * d * d;
    }
    combineMoments(profile, sumW, mean, m2);
  }
  profile.min = profile.count === 0 || lo < profile.min ? lo : profile.min;
  profile.max = profile.count === 0 || hi > profile.max ? hi : profile.max;
  profile.count += m;
  // Count the batch's distinct values: exactly what the small domain needs, and — for a big batch
  // with few distinct values (a discrete column, or decimals with a few digits) — a cheaper way to
  // feed the sketch: (value, count) pairs are the same distribution as the rows (a weight-c item is
  // c copies, kept without error) and cost no sort of m rows. Only once the sketch is past exact
  // anyway, so that a column of at most k values stays exact item by item.
  const bulk = m >= DEDUPE_MIN_ROWS;
  const distinct =
    bulk || profile.smallDomain !== null ? countDistinct(values, weights, bulk ? DEDUPE_LIMIT : SMALL_DOMAIN_LIMIT) : null;
  if (profile.smallDomain !== null) {
    profile.smallDomain =
      distinct === null ? null : mergeSmallDomains(profile.smallDomain, { values: Array.from(distinct.values), counts: Array.from(distinct.counts) });
  }
  if (distinct !== null && profile.kll.n + m > profile.kll.k && distinct.values.length * 4 <= m) {
    profile.kll.updateMany(distinct.values, distinct.counts);
  } else {
    profile.kll.updateMany(values, weights); // skips NaN and ±Infinity itself
  }
}

/** Batches at least this big are checked for few distinct values (see updateNumericProfile). */
const DEDUPE_MIN_ROWS = 16_384;
/** …and sketched as (value, count) pairs when they have at most this many. */
const DEDUPE_LIMIT = 4096;

function combineMoments(profile: { weight: number; mean: number; m2: number }, weight: number, mean: number, m2: number): void {
  const total = profile.weight + weight;
  if (weight === 0) return;
  if (profile.weight === 0) {
    profile.weight = weight;
    profile.mean = mean;
    profile.m2 = m2;
    return;
  }
  const delta = mean - profile.mean;
  profile.mean += (delta * weight) / total;
  profile.m2 += m2 + (delta * delta * profile.weight * weight) / total;
  profile.weight = total;
}

/**
 * Add a batch of a dictionary-coded column (code −1 = missing), with optional per-row weights. Codes
 * are counted into a typed array first and the per-entry counts then go to the frequency sketch in
 * one batch (repeated dictionary entries add up).
 */
export function updateCategoricalProfile(profile: CategoricalColumnProfile, column: DictionaryColumn, weights?: Float64Array): void {
  const { dictionary, codes } = column;
  const n = codes.length;
  checkRowWeights(weights, n);
  const size = dictionary.length;
  const counts = weights === undefined ? new Int32Array(size) : new Float64Array(size);
  let missing = 0;
  for (let i = 0; i < n; i++) {
    const c = codes[i]!;
    if (c >= 0 && c < size) counts[c] = counts[c]! + (weights === undefined ? 1 : weights[i]!);
    else if (c === -1) missing++;
    else {
      throw new BerthError('INVALID_ARGUMENT', `column "${profile.name}": code ${c} at row ${i} is outside the dictionary (expected -1 for missing or 0..${size - 1})`, {
        field: profile.name,
        expected: `-1..${size - 1}`,
        got: c,
      });
    }
  }
  profile.missing += missing;
  profile.count += n - missing;
  profile.frequencies.addCounts(dictionary, counts);
}

/** A new profile holding both (inputs unchanged); same name and kind required. */
export function mergeColumnProfiles(a: ColumnProfile, b: ColumnProfile): ColumnProfile {
  if (a.name !== b.name || a.kind !== b.kind) {
    throw new BerthError('INVALID_ARGUMENT', `cannot merge column "${a.name}" (${a.kind}) with column "${b.name}" (${b.kind}): expected the same name and kind`, {
      field: a.name,
      expected: `${a.name} (${a.kind})`,
      got: `${b.name} (${b.kind})`,
    });
  }
  if (a.kind === 'categorical' && b.kind === 'categorical') {
    return { ...a, count: a.count + b.count, missing: a.missing + b.missing, frequencies: a.frequencies.clone().merge(b.frequencies) };
  }
  const x = a as NumericColumnProfile;
  const y = b as NumericColumnProfile;
  const merged: NumericColumnProfile = {
    ...x,
    count: x.count + y.count,
    missing: x.missing + y.missing,
    nonFinite: x.nonFinite + y.nonFinite,
    min: x.count === 0 ? y.min : y.count === 0 ? x.min : Math.min(x.min, y.min),
    max: x.count === 0 ? y.max : y.count === 0 ? x.max : Math.max(x.max, y.max),
    kll: x.kll.clone().merge(y.kll),
    smallDomain: mergeSmallDomains(x.smallDomain, y.smallDomain),
  };
  combineMoments(merged, y.weight, y.mean, y.m2);
  return merged;
}

function mergeSmallDomains(a: SmallDomain | null, b: SmallDomain | null): SmallDomain | null {
  if (a === null || b === null) return null;
  const values: number[] = [];
  const counts: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.values.length || j < b.values.length) {
    const u = a.values[i];
    const v = b.values[j];
    if (v === undefined || (u !== undefined && u < v)) {
      values.push(u!);
      counts.push(a.counts[i++]!);
    } else if (u === undefined || v < u) {
      values.push(v);
      counts.push(b.counts[j++]!);
    } else {
      values.push(u);
      counts.push(a.counts[i++]! + b.counts[j++]!);
    }
    if (values.length > SMALL_DOMAIN_LIMIT) return null;
  }
  return { values, counts };
}

/** A deep copy (sketches cloned). */
export function cloneColumnProfile(p: ColumnProfile): ColumnProfile {
  if (p.kind === 'categorical') return { ...p, frequencies: p.frequencies.clone() };
  return {
    ...p,
    kll: p.kll.clone(),
    smallDomain: p.smallDomain && { values: p.smallDomain.values.slice(), counts: p.smallDomain.counts.slice() },
  };
}

export interface NumericColumnProfileJson {
  kind: 'numeric';
  name: string;
  count: number;
  missing: number;
  nonFinite: number;
  weight: number;
  min: number | null;
  max: number | null;
  mean: number;
  m2: number;
  smallDomain: SmallDomain | null;
  kll: KllSketchJson;
}

export interface CategoricalColumnProfileJson {
  kind: 'categorical';
  name: string;
  count: number;
  missing: number;
  frequencies: FrequencySketchJson;
}

export type ColumnProfileJson = NumericColumnProfileJson | CategoricalColumnProfileJson;

export function columnProfileToJSON(p: ColumnProfile): ColumnProfileJson {
  if (p.kind === 'categorical') {
    return { kind: 'categorical', name: p.name, count: p.count, missing: p.missing, frequencies: p.frequencies.toJSON() };
  }
  return {
    kind: 'numeric',
    name: p.name,
    count: p.count,
    missing: p.missing,
    nonFinite: p.nonFinite,
    weight: p.weight,
    min: p.count === 0 ? null : p.min,
    max: p.count === 0 ? null : p.max,
    mean: p.mean,
    m2: p.m2,
    smallDomain: p.smallDomain,
    // a column with few distinct values is exactly its small domain: store the sketch rebuilt from
    // those (value, count) pairs, so its size does not grow with the rows (ties fill a KLL otherwise)
    kll: (p.smallDomain !== null ? sketchOfDomain(p.smallDomain, p.kll.k) : p.kll).toJSON(),
  };
}

function sketchOfDomain(d: SmallDomain, k: number): KllSketch {
  const s = new KllSketch({ k });
  if (d.values.length > 0) s.updateMany(Float64Array.from(d.values), Float64Array.from(d.counts));
  return s;
}

/**
 * Rebuild a column profile from {@link columnProfileToJSON} output, checking its shape; bad input →
 * BerthError INVALID_ARGUMENT naming the field under `field` (e.g. `columns[3].smallDomain.values`).
 */
export function columnProfileFromJSON(json: unknown, field: string): ColumnProfile {
  const o = readObject(json, field);
  const name = readString(o['name'], `${field}.name`);
  const count = readNumber(o['count'], `${field}.count`, { integer: true, min: 0 });
  const missing = readNumber(o['missing'], `${field}.missing`, { integer: true, min: 0 });
  if (o['kind'] === 'categorical') {
    return { kind: 'categorical', name, count, missing, frequencies: FrequencySketch.fromJSON(o['frequencies'], `${field}.frequencies`) };
  }
  if (o['kind'] !== 'numeric') throw invalidField(`${field}.kind`, '"numeric" or "categorical"', o['kind']);
  const nonFinite = readNumber(o['nonFinite'], `${field}.nonFinite`, { integer: true, min: 0 });
  const weight = readNumber(o['weight'], `${field}.weight`, { min: 0 });
  const min = readNullableNumber(o['min'], `${field}.min`);
  const max = readNullableNumber(o['max'], `${field}.max`);
  if (count > 0 && (Number.isNaN(min) || Number.isNaN(max) || min > max)) {
    throw invalidField(`${field}.min`, 'finite min <= max when count > 0', { min: o['min'], max: o['max'] });
  }
  const mean = readNumber(o['mean'], `${field}.mean`);
  const m2 = readNumber(o['m2'], `${field}.m2`, { min: 0 });
  let smallDomain: SmallDomain | null = null;
  if (o['smallDomain'] !== null) {
    const d = readObject(o['smallDomain'], `${field}.smallDomain`);
    const values = readArray(d['values'], `${field}.smallDomain.values`);
    const counts = readArray(d['counts'], `${field}.smallDomain.counts`);
    if (values.length > SMALL_DOMAIN_LIMIT) throw invalidField(`${field}.smallDomain.values`, `at most ${SMALL_DOMAIN_LIMIT} values`, values.length);
    if (counts.length !== values.length) throw invalidField(`${field}.smallDomain.counts`, `${values.length} counts (one per value)`, counts.length);
    smallDomain = { values: [], counts: [] };
    for (let i = 0; i < values.length; i++) {
      const v = readNumber(values[i], `${field}.smallDomain.values[${i}]`);
      if (i > 0 && !(v > smallDomain.values[i - 1]!)) throw invalidField(`${field}.smallDomain.values`, 'distinct values in ascending order', values);
      smallDomain.values.push(v);
      smallDomain.counts.push(readNumber(counts[i], `${field}.smallDomain.counts[${i}]`, { min: 0 }));
    }
  }
  const kll = KllSketch.fromJSON(o['kll'], `${field}.kll`);
  return { kind: 'numeric', name, count, missing, nonFinite, weight, min: count > 0 ? min : NaN, max: count > 0 ? max : NaN, mean, m2, kll, smallDomain };
}

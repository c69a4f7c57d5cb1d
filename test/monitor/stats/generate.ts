import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Deterministic samples, bit-identical to `generate()` in scripts/stats-expected.py: xorshift32 and
 * only operations that are exact or correctly rounded in both languages (+, −, ×, ÷, floor, sqrt).
 */
export interface SampleSpec {
  seed: number;
  n: number;
  dist: 'uniform' | 'normal' | 'cubic' | 'int';
  loc?: number;
  scale?: number;
  k?: number;
  decimals?: number;
}

export interface WeightSpec {
  seed: number;
  mod: number;
}

function xorshift32(seed: number): () => number {
  let x = seed >>> 0;
  if (x === 0) x = 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const SQRT3 = Math.sqrt(3);

export function generate(spec: SampleSpec): Float64Array {
  const next = xorshift32(spec.seed);
  const u = (): number => next() / 4294967296;
  const loc = spec.loc ?? 0;
  const scale = spec.scale ?? 1;
  const out = new Float64Array(spec.n);
  for (let i = 0; i < spec.n; i++) {
    let z: number;
    switch (spec.dist) {
      case 'uniform':
        z = u();
        break;
      case 'normal':
        z = (u() + u() + u() + u() - 2) * SQRT3;
        break;
      case 'cubic':
        z = (u() + u() + u() + u() - 2) * SQRT3;
        z = z * z * z;
        break;
      case 'int':
        z = Math.floor(u() * spec.k!);
        break;
    }
    let v = loc + scale * z;
    if (spec.decimals !== undefined) {
      const f = 10 ** spec.decimals;
      v = Math.floor(v * f + 0.5) / f;
    }
    out[i] = v;
  }
  return out;
}

/** A sample given inline (array) or as a generator spec. */
export function sample(s: number[] | SampleSpec): Float64Array {
  return Array.isArray(s) ? Float64Array.from(s) : generate(s);
}

/** Integer weights 1 + (xorshift32 mod `mod`). */
export function intWeights(spec: WeightSpec, n: number): Float64Array {
  const next = xorshift32(spec.seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = 1 + (next() % spec.mod);
  return out;
}

/** JSON numbers, with "NaN" / "Infinity" / "-Infinity" strings for the values JSON lacks. */
export type JsonNum = number | 'NaN' | 'Infinity' | '-Infinity';
export function toNum(x: JsonNum): number {
  return typeof x === 'number' ? x : Number(x);
}

const here = path.dirname(fileURLToPath(import.meta.url));
export function readExpected(): any {
  return JSON.parse(readFileSync(path.join(here, 'expected.json'), 'utf8'));
}

/** The fixture CSVs have no quoted fields: split lines and commas; an empty field is missing. */
export function readCsv(file: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

/** A numeric column without its missing values. */
export function numericColumn(csv: { header: string[]; rows: string[][] }, name: string): Float64Array {
  const i = csv.header.indexOf(name);
  if (i < 0) throw new Error(`no column ${name}`);
  const out: number[] = [];
  for (const r of csv.rows) if (r[i] !== '') out.push(Number(r[i]));
  return Float64Array.from(out);
}

/** Counts of a categorical column's values in the given category order (missing values skipped). */
export function categoryCounts(csv: { header: string[]; rows: string[][] }, name: string, categories: string[]): Float64Array {
  const i = csv.header.indexOf(name);
  const index = new Map(categories.map((c, k) => [c, k]));
  const out = new Float64Array(categories.length);
  for (const r of csv.rows) {
    const v = r[i]!;
    if (v === '') continue;
    const k = index.get(v);
    if (k === undefined) throw new Error(`category ${v} of ${name} not in the expected list`);
    out[k]!++;
  }
  return out;
}

/**
 * |actual − expected| ≤ 1e-6, and for expected values below 1e-3 also a relative error ≤ `rel`
 * (default 1e-9), so tiny p-values must match in their digits, not only in being ≈ 0. An expected 0 or
 * subnormal value (underflow) accepts any actual below 1e-300. `rel = 0` demands exact equality.
 */
export function closeTo(actual: number, expected: number, rel = 1e-9, abs = 1e-6): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  if (rel === 0) return actual === expected;
  if (!Number.isFinite(expected)) return actual === expected;
  if (Math.abs(expected) < 1e-300) return Math.abs(actual) < 1e-300; // 0 or subnormal: no digits to compare
  const err = Math.abs(actual - expected);
  if (err > abs) return false;
  if (Math.abs(expected) < 1e-3 && err > rel * Math.abs(expected)) return false;
  return true;
}

/** Relative error, for reporting. */
export function relErr(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
}

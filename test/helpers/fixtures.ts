import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Datatype, Tensor, TensorData } from '../../src/core/index.js';
import { allocateData } from '../../src/core/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Where the shared fixtures live: BERTH_FIXTURES, else `../shared/fixtures` beside the checkout,
 * else the workplace's `/work/shared/fixtures`.
 */
export const FIXTURES: string =
  process.env['BERTH_FIXTURES'] ??
  [path.resolve(here, '..', '..', '..', 'shared', 'fixtures'), '/work/shared/fixtures'].find((p) => existsSync(p)) ??
  path.resolve(here, '..', '..', '..', 'shared', 'fixtures');

export const FIXTURE_MODELS = [
  'breast-cancer-logreg',
  'breast-cancer-gbt',
  'diabetes-gbt-regressor',
  'digits-mlp',
  'digits-cnn',
  'tabular-mixed',
  'credit',
  'wide-mlp',
] as const;
export type FixtureModel = (typeof FIXTURE_MODELS)[number];

export function fixturePath(model: string, file = 'model.onnx'): string {
  return path.join(FIXTURES, model, file);
}

export interface GoldenTensor {
  dtype: string;
  shape: number[];
  data: unknown;
}

export interface GoldenCase {
  name: string;
  inputs: Record<string, GoldenTensor>;
  expected: Record<string, GoldenTensor>;
}

export type Tolerance = { exact: true } | { atol: number; rtol: number };

export interface Golden {
  cases: GoldenCase[];
  tolerance: Record<string, Tolerance>;
}

const cache = new Map<string, Golden>();

export function readGolden(model: string): Golden {
  let g = cache.get(model);
  if (!g) {
    g = JSON.parse(readFileSync(fixturePath(model, 'golden.json'), 'utf8')) as Golden;
    cache.set(model, g);
  }
  return g;
}

export function readCardJson(model: string): Record<string, unknown> {
  return JSON.parse(readFileSync(fixturePath(model, 'card.json'), 'utf8')) as Record<string, unknown>;
}

const DTYPES: Record<string, Datatype> = {
  float32: 'FP32',
  float64: 'FP64',
  int64: 'INT64',
  int32: 'INT32',
  string: 'BYTES',
  bool: 'BOOL',
  uint8: 'UINT8',
};

export function v2Datatype(dtype: string): Datatype {
  const d = DTYPES[dtype];
  if (!d) throw new Error(`unknown golden dtype ${dtype}`);
  return d;
}

export function flatten(data: unknown): unknown[] {
  return Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data];
}

/** A golden input as a typed tensor. */
export function goldenTensor(name: string, g: GoldenTensor, rows?: [number, number]): Tensor {
  const datatype = v2Datatype(g.dtype);
  let flat = flatten(g.data);
  const shape = g.shape.slice();
  if (rows) {
    const per = flat.length / shape[0]!;
    flat = flat.slice(rows[0] * per, rows[1] * per);
    shape[0] = rows[1] - rows[0];
  }
  const data = allocateData(datatype, flat.length) as TensorData;
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (datatype === 'BYTES') (data as string[])[i] = String(v);
    else if (datatype === 'INT64') (data as BigInt64Array)[i] = BigInt(v as number);
    else (data as Float32Array)[i] = v as number;
  }
  return { name, datatype, shape, data };
}

/** Compare actual output values with a golden expectation; returns a problem description or null. */
export function compareToGolden(actual: ArrayLike<unknown>, expected: GoldenTensor, tol: Tolerance, rows?: [number, number]): string | null {
  let flat = flatten(expected.data) as number[];
  if (rows) {
    const per = flat.length / expected.shape[0]!;
    flat = flat.slice(rows[0] * per, rows[1] * per);
  }
  if (actual.length !== flat.length) return `length ${actual.length} != expected ${flat.length}`;
  for (let i = 0; i < flat.length; i++) {
    const a = Number(actual[i] as number | bigint);
    const e = Number(flat[i]);
    if ('exact' in tol) {
      if (a !== e) return `element ${i}: ${a} != ${e} (exact)`;
    } else if (!(Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e))) {
      return `element ${i}: |${a} - ${e}| > ${tol.atol} + ${tol.rtol}·|e|`;
    }
  }
  return null;
}

/**
 * An Open Inference Protocol body of one held-out breast-cancer row: request i carries row
 * (224·i mod 285), a permutation, so consecutive requests (which a split hands to one arm in runs
 * of 10) carry rows from all over the file, as live traffic would.
 */
export function heldoutRowBody(i: number): Record<string, unknown> {
  const heldout = readGolden('breast-cancer-logreg').cases.find((c) => c.name === 'heldout_all')!;
  const input = heldout.inputs['input']!;
  const r = (i * 224) % input.shape[0]!;
  const t = goldenTensor('input', input, [r, r + 1]);
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] };
}

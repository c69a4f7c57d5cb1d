/**
 * The request `berth perf` sends: synthesized from the deployment's metadata (random values of
 * each input's datatype, inside the range or vocabulary the model card declares), or read from a
 * v2 request file. Built once; every request of a run sends the same tensors.
 */
import { readFile } from 'node:fs/promises';
import type { Datatype, InferInput, ModelMetadata, TensorData, TensorMetadata } from 'berth/sdk';
import { BerthError } from '../../core/index.js';

/** One input as sent: everything filled in, data in its datatype's storage. */
export interface RequestInput extends InferInput {
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

/** The inputs of one request and how many rows they hold. */
export interface RequestInputs {
  inputs: RequestInput[];
  /** rows per request: the batch dimension's size (1 for a model that does not batch) */
  rows: number;
  /** `synthetic` (from the metadata) or `file` (--input-data) */
  source: 'synthetic' | 'file';
}

export interface SynthesisOptions {
  /** rows per request; unset: the first dimension of the --shape overrides, else 1 */
  batch?: number;
  /** full shapes by input name, batch dimension first (`--shape input=1,256`) */
  shapes?: Readonly<Record<string, readonly number[]>>;
  /** uniform in [0, 1) (default Math.random); injectable for tests */
  random?: () => number;
}

/** Does the deployment's model take a batch dimension first? (REST metadata says; else guess from a leading -1.) */
export function isBatchable(meta: ModelMetadata): boolean {
  const said = meta.parameters?.['batchable'];
  if (typeof said === 'boolean') return said;
  return meta.inputs.length > 0 && meta.inputs.every((i) => i.shape[0] === -1);
}

/**
 * Random inputs for every input of the deployment: FP16/FP32/FP64 uniform in [0, 1), integers
 * small (0–9), BOOL 0/1, BYTES short lowercase words; inside the card's valid range or vocabulary
 * when the metadata carries one. Variable dimensions other than the batch need a --shape.
 *
 * @example
 * synthesizeInputs(meta, { batch: 8 }) // { inputs: [{ name: 'input', datatype: 'FP32', shape: [8, 30], data: Float32Array(240) }], rows: 8, … }
 */
export function synthesizeInputs(meta: ModelMetadata, opts: SynthesisOptions = {}): RequestInputs {
  const random = opts.random ?? Math.random;
  const shapes = opts.shapes ?? {};
  const batchable = isBatchable(meta);
  const names = meta.inputs.map((i) => i.name);
  for (const name of Object.keys(shapes)) {
    if (!names.includes(name)) {
      throw new BerthError('INVALID_ARGUMENT', `--shape ${name}=…: deployment "${meta.name}" has no input "${name}"; its inputs are ${names.map((n) => `"${n}"`).join(', ')}`, {
        field: '--shape',
        expected: names,
        got: name,
      });
    }
  }
  if (!batchable && opts.batch !== undefined && opts.batch !== 1) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `--batch ${opts.batch}: deployment "${meta.name}" serves a model without a batch dimension, so each request is one row; drop --batch (give full shapes with --shape if it has variable dimensions)`,
      { field: '--batch', got: opts.batch },
    );
  }
  const rows = batchable ? rowsOf(meta, opts.batch, shapes) : 1;
  const inputs = meta.inputs.map((spec): RequestInput => {
    const shape = shapeOf(meta, spec, shapes[spec.name], batchable, rows);
    const count = shape.reduce((a, b) => a * b, 1);
    return { name: spec.name, datatype: spec.datatype, shape, data: randomData(spec, count, random) };
  });
  return { inputs, rows, source: 'synthetic' };
}

function rowsOf(meta: ModelMetadata, batch: number | undefined, shapes: Readonly<Record<string, readonly number[]>>): number {
  if (batch !== undefined && (!Number.isInteger(batch) || batch < 1)) {
    throw new BerthError('INVALID_ARGUMENT', `--batch: expected a whole number of rows ≥ 1, got ${batch}`, { field: '--batch', got: batch });
  }
  const given = Object.entries(shapes);
  let rows = batch;
  let from = batch === undefined ? '' : `--batch ${batch}`;
  for (const [name, shape] of given) {
    const first = shape[0];
    if (first === undefined) continue;
    if (rows === undefined) {
      rows = first;
      from = `--shape ${name}=${shape.join(',')}`;
    } else if (first !== rows) {
      throw new BerthError(
        'INVALID_ARGUMENT',
        `--shape ${name}=${shape.join(',')}: its first (batch) dimension is ${first} but ${from} asks for ${rows} rows per request; every input of deployment "${meta.name}" needs the same number of rows`,
        { field: '--shape', expected: rows, got: first },
      );
    }
  }
  return rows ?? 1;
}

function shapeOf(meta: ModelMetadata, spec: TensorMetadata, override: readonly number[] | undefined, batchable: boolean, rows: number): number[] {
  const want = spec.shape;
  const wanted = `[${want.join(', ')}]`;
  if (override !== undefined) {
    const given = override.join(',');
    if (override.length !== want.length) {
      throw new BerthError(
        'INVALID_ARGUMENT',
        `--shape ${spec.name}=${given}: input "${spec.name}" of deployment "${meta.name}" has ${want.length} dimensions ${wanted}, got ${override.length}; give the full shape, batch dimension first`,
        { field: '--shape', expected: want, got: [...override] },
      );
    }
    want.forEach((d, i) => {
      if (d !== -1 && override[i] !== d) {
        throw new BerthError(
          'INVALID_ARGUMENT',
          `--shape ${spec.name}=${given}: dimension ${i} of input "${spec.name}" is fixed at ${d} (shape ${wanted}), got ${override[i]}`,
          { field: '--shape', expected: want, got: [...override] },
        );
      }
    });
    return [...override];
  }
  return want.map((d, i) => {
    if (i === 0 && batchable) {
      if (d !== -1 && d !== rows) {
        throw new BerthError('INVALID_ARGUMENT', `input "${spec.name}" of deployment "${meta.name}" takes exactly ${d} rows (shape ${wanted}); pass --batch ${d}`, {
          field: '--batch',
          expected: d,
          got: rows,
        });
      }
      return rows;
    }
    if (d === -1) {
      const example = want.map((x, k) => (k === 0 && batchable ? rows : x === -1 ? 'N' : x)).join(',');
      throw new BerthError(
        'INVALID_ARGUMENT',
        `input "${spec.name}" of deployment "${meta.name}" has a variable dimension ${i} (shape ${wanted}); give its size with --shape ${spec.name}=${example} (the full shape, batch dimension first)`,
        { field: '--shape', expected: want },
      );
    }
    return d;
  });
}

function randomData(spec: TensorMetadata, count: number, random: () => number): TensorData {
  const range = validRange(spec);
  const vocabulary = spec.parameters?.['vocabulary'];
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  // integers: ids inside the card's range when it declares one, else small ones
  const [ilo, ihi] = range ? [Math.ceil(range[0]), Math.floor(Math.min(range[1], range[0] + 1_000_000))] : [0, 9];
  const fill = <T extends { length: number; [i: number]: number }>(a: T, f: () => number): T => {
    for (let i = 0; i < a.length; i++) a[i] = f();
    return a;
  };
  const float = (): number => (range ? range[0] + random() * (range[1] - range[0]) : random());
  const dt: Datatype = spec.datatype;
  switch (dt) {
    case 'FP32':
      return fill(new Float32Array(count), float);
    case 'FP64':
      return fill(new Float64Array(count), float);
    case 'FP16':
      return fill(new Uint16Array(count), () => halfBits(float()));
    case 'BOOL':
      return fill(new Uint8Array(count), () => int(0, 1));
    case 'INT8':
      return fill(new Int8Array(count), () => int(Math.max(ilo, -128), Math.min(ihi, 127)));
    case 'INT16':
      return fill(new Int16Array(count), () => int(Math.max(ilo, -32768), Math.min(ihi, 32767)));
    case 'INT32':
      return fill(new Int32Array(count), () => int(ilo, ihi));
    case 'UINT8':
      return fill(new Uint8Array(count), () => int(Math.max(ilo, 0), Math.min(ihi, 255)));
    case 'UINT16':
      return fill(new Uint16Array(count), () => int(Math.max(ilo, 0), Math.min(ihi, 65535)));
    case 'UINT32':
      return fill(new Uint32Array(count), () => int(Math.max(ilo, 0), ihi));
    case 'INT64': {
      const a = new BigInt64Array(count);
      for (let i = 0; i < count; i++) a[i] = BigInt(int(ilo, ihi));
      return a;
    }
    case 'UINT64': {
      const a = new BigUint64Array(count);
      for (let i = 0; i < count; i++) a[i] = BigInt(int(Math.max(ilo, 0), ihi));
      return a;
    }
    case 'BYTES': {
      const words = Array.isArray(vocabulary) && vocabulary.length > 0 && vocabulary.every((v) => typeof v === 'string') ? (vocabulary as string[]) : null;
      const out: string[] = new Array<string>(count);
      for (let i = 0; i < count; i++) {
        if (words) out[i] = words[Math.floor(random() * words.length)]!;
        else out[i] = Array.from({ length: int(4, 8) }, () => String.fromCharCode(97 + int(0, 25))).join('');
      }
      return out;
    }
  }
}

function validRange(spec: TensorMetadata): [number, number] | null {
  const r = spec.parameters?.['valid_range'];
  if (Array.isArray(r) && r.length === 2 && typeof r[0] === 'number' && typeof r[1] === 'number' && r[0] <= r[1]) return [r[0], r[1]];
  return null;
}

/** IEEE 754 half-precision bits of a number in [0, 65504] (rounded toward zero; enough for load). */
function halfBits(x: number): number {
  if (x === 0) return 0;
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = (bits >>> 13) & 0x3ff;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7bff;
  return sign | (exponent << 10) | mantissa;
}

/**
 * `--shape input=1,256` (repeatable) into full shapes by input name.
 *
 * @example
 * parseShapeOverrides(['tokens=1,128', 'mask=1,128']) // { tokens: [1, 128], mask: [1, 128] }
 */
export function parseShapeOverrides(pairs: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const pair of pairs) {
    const at = pair.lastIndexOf('=');
    const name = at > 0 ? pair.slice(0, at).trim() : '';
    const dims = at > 0 ? pair.slice(at + 1).split(',').map((d) => d.trim()) : [];
    if (name === '' || dims.length === 0 || !dims.every((d) => /^[1-9]\d*$/.test(d))) {
      throw new BerthError('INVALID_ARGUMENT', `--shape: expected NAME=D1,D2,… with positive sizes (the full shape, batch dimension first), like input=1,256; got ${JSON.stringify(pair)}`, {
        field: '--shape',
        got: pair,
      });
    }
    if (name in out) throw new BerthError('INVALID_ARGUMENT', `--shape: input "${name}" is given twice`, { field: '--shape', got: pair });
    out[name] = dims.map(Number);
  }
  return out;
}

/**
 * A v2 request file (`{"inputs": [{name, datatype, shape, data}]}`, data flat or nested) as the
 * tensors to send, unchanged.
 */
export async function readInputData(file: string, batchable: boolean): Promise<RequestInputs> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `--input-data: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { field: '--input-data', got: file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `--input-data: ${file} is not JSON (${err instanceof Error ? err.message : String(err)})`, { field: '--input-data', got: file });
  }
  return parseInputData(json, file, batchable);
}

/** The tensors of a parsed v2 request body; `where` names it in errors. */
export function parseInputData(json: unknown, where: string, batchable: boolean): RequestInputs {
  const list = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as { inputs?: unknown }).inputs : undefined;
  if (!Array.isArray(list) || list.length === 0) {
    throw new BerthError('INVALID_ARGUMENT', `--input-data: ${where} needs the v2 request shape {"inputs": [{"name", "datatype", "shape", "data"}, …]}`, { field: '--input-data' });
  }
  const inputs = list.map((raw: unknown, i): RequestInput => {
    const at = `--input-data: ${where} inputs[${i}]`;
    if (raw === null || typeof raw !== 'object') throw new BerthError('INVALID_ARGUMENT', `${at}: expected an object {name, datatype, shape, data}`, { field: '--input-data' });
    const t = raw as { name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown };
    if (typeof t.name !== 'string' || t.name === '') throw new BerthError('INVALID_ARGUMENT', `${at}.name: expected a non-empty string`, { field: '--input-data' });
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
      throw new BerthError('INVALID_ARGUMENT', `${at}.shape: expected an array of sizes, got ${JSON.stringify(t.shape)}`, { field: '--input-data' });
    }
    const shape = t.shape as number[];
    const values = flatten(t.data);
    const count = shape.reduce((a, b) => a * b, 1);
    if (values.length !== count) {
      throw new BerthError('INVALID_ARGUMENT', `${at} (${t.name}): shape [${shape.join(', ')}] holds ${count} elements but data has ${values.length}`, { field: '--input-data' });
    }
    const datatype = t.datatype;
    if (typeof datatype !== 'string' || !(datatype in STORAGE)) {
      throw new BerthError('INVALID_ARGUMENT', `${at}.datatype: expected one of ${Object.keys(STORAGE).join(', ')}, got ${JSON.stringify(datatype)}`, { field: '--input-data' });
    }
    return { name: t.name, datatype: datatype as Datatype, shape, data: STORAGE[datatype as Exclude<Datatype, 'FP16'>](values, `${at} (${t.name})`) };
  });
  const first = inputs[0]!.shape[0];
  return { inputs, rows: batchable && first !== undefined ? first : 1, source: 'file' };
}

function flatten(v: unknown): unknown[] {
  if (!Array.isArray(v)) return v === undefined ? [] : [v];
  const out: unknown[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) for (const y of x) walk(y);
    else out.push(x);
  };
  walk(v);
  return out;
}

type Convert = (values: unknown[], at: string) => TensorData;

function numbers<T extends { [i: number]: number }>(make: (n: number) => T): (values: unknown[], at: string) => T {
  return (values, at) => {
    const out = make(values.length);
    values.forEach((v, i) => {
      if (typeof v === 'boolean') out[i] = v ? 1 : 0;
      else if (typeof v === 'number') out[i] = v;
      else throw new BerthError('INVALID_ARGUMENT', `${at}: element ${i} is ${JSON.stringify(v)}, not a number`, { field: '--input-data' });
    });
    return out;
  };
}

function bigints<T extends { [i: number]: bigint }>(make: (n: number) => T): (values: unknown[], at: string) => T {
  return (values, at) => {
    const out = make(values.length);
    values.forEach((v, i) => {
      if ((typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v))) out[i] = BigInt(v);
      else throw new BerthError('INVALID_ARGUMENT', `${at}: element ${i} is ${JSON.stringify(v)}, not an integer`, { field: '--input-data' });
    });
    return out;
  };
}

/** JSON values into each datatype's storage (FP16 has no JSON form here: use FP32 inputs or the SDK). */
const STORAGE: Record<Exclude<Datatype, 'FP16'>, Convert> = {
  BOOL: numbers((n) => new Uint8Array(n)),
  UINT8: numbers((n) => new Uint8Array(n)),
  UINT16: numbers((n) => new Uint16Array(n)),
  UINT32: numbers((n) => new Uint32Array(n)),
  UINT64: bigints((n) => new BigUint64Array(n)),
  INT8: numbers((n) => new Int8Array(n)),
  INT16: numbers((n) => new Int16Array(n)),
  INT32: numbers((n) => new Int32Array(n)),
  INT64: bigints((n) => new BigInt64Array(n)),
  FP32: numbers((n) => new Float32Array(n)),
  FP64: numbers((n) => new Float64Array(n)),
  BYTES: (values, at) =>
    values.map((v, i) => {
      if (typeof v !== 'string') throw new BerthError('INVALID_ARGUMENT', `${at}: element ${i} of a BYTES input is ${JSON.stringify(v)}, not a string`, { field: '--input-data' });
      return v;
    }),
};

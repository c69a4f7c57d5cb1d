/**
 * Tensors between the gRPC messages (as @grpc/proto-loader hands them over: int64 as decimal
 * strings, bytes as Buffers) and Berth's flat typed arrays. Inputs come either typed (the
 * `contents` field of their datatype) or raw (`raw_input_contents`, one little-endian buffer per
 * input, BYTES elements each preceded by a 4-byte length); answers go back the way the request
 * came, so a tritonclient (raw) and a KServe SDK client (typed) each read what they sent.
 */
import { BerthError, DATATYPES, INTEGER_RANGES, allocateData, elementCount, isDatatype, type Datatype, type Tensor, type TensorData } from '../../core/index.js';
import { tooManyElements, type TensorLimits } from '../codec/elements.js';
import { fromRaw, invalidField, readLengthPrefixed, toRaw, utf8Element } from '../codec/raw.js';

/** `InferTensorContents` as decoded (defaults on: every list present). */
export interface GrpcContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: (string | number)[];
  uint_contents?: number[];
  uint64_contents?: (string | number)[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

export interface GrpcParameter {
  parameter_choice?: string;
  bool_param?: boolean;
  int64_param?: string | number;
  string_param?: string;
  double_param?: number;
  uint64_param?: string | number;
}

export interface GrpcInputTensor {
  name?: string;
  datatype?: string;
  shape?: (string | number)[];
  parameters?: Record<string, GrpcParameter>;
  contents?: GrpcContents | null;
}

export interface GrpcInferRequest {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, GrpcParameter>;
  inputs?: GrpcInputTensor[];
  outputs?: { name?: string; parameters?: Record<string, GrpcParameter> }[];
  raw_input_contents?: Buffer[];
}

export interface GrpcOutputTensor {
  name: string;
  datatype: string;
  shape: string[];
  contents?: GrpcContents;
}

/** Which typed field holds each datatype's elements (FP16 has none: raw only). */
const CONTENTS_FIELD: Readonly<Record<Datatype, keyof GrpcContents | null>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP16: null,
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

/** A parameter map as plain values (int64 and uint64 as numbers when exact, else decimal strings). */
export function fromGrpcParameters(params: Record<string, GrpcParameter> | undefined): Record<string, unknown> | undefined {
  if (!params) return undefined;
  const keys = Object.keys(params);
  if (keys.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const p = params[k]!;
    const which = p.parameter_choice;
    const v = which ? (p as Record<string, unknown>)[which] : undefined;
    if ((which === 'int64_param' || which === 'uint64_param') && typeof v === 'string') {
      const n = Number(v);
      out[k] = Number.isSafeInteger(n) ? n : v;
    } else {
      out[k] = v;
    }
  }
  return out;
}

function parseShape(raw: (string | number)[] | undefined, field: string): number[] {
  const shape: number[] = [];
  for (const d of raw ?? []) {
    const n = typeof d === 'number' ? d : Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw invalidField(field, 'dimensions >= 0', raw);
    shape.push(n);
  }
  return shape;
}

function fromContents(dt: Datatype, c: GrpcContents | null | undefined, n: number, field: string): TensorData {
  const key = CONTENTS_FIELD[dt];
  if (key === null) throw invalidField(`${field}.contents`, 'raw_input_contents (FP16 has no typed contents field)', 'contents');
  const values = (c?.[key] ?? []) as unknown[];
  if (values.length !== n) {
    const other = c ? (Object.keys(CONTENTS_FIELD) as Datatype[]).map((d) => CONTENTS_FIELD[d]).find((k) => k !== null && k !== key && ((c[k] as unknown[] | undefined)?.length ?? 0) > 0) : undefined;
    throw invalidField(
      `${field}.contents.${key}`,
      `${n} elements (the shape's count)`,
      values.length,
      other
        ? `${field}.contents: a ${dt} tensor's elements go in ${key}, got them in ${other}`
        : `${field}.contents.${key}: expected ${n} elements (the shape's count), got ${values.length}`,
    );
  }
  const out = allocateData(dt, n);
  if (dt === 'BYTES') {
    const s = out as string[];
    for (let i = 0; i < n; i++) s[i] = utf8Element(values[i] as Buffer, `${field}.contents.${key}`, i);
    return out;
  }
  if (dt === 'INT64' || dt === 'UINT64') {
    const big = out as BigInt64Array | BigUint64Array;
    for (let i = 0; i < n; i++) big[i] = BigInt(values[i] as string | number);
    return out;
  }
  const range = INTEGER_RANGES[dt];
  const typed = out as Exclude<TensorData, string[] | BigInt64Array | BigUint64Array>;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const x = typeof v === 'boolean' ? (v ? 1 : 0) : (v as number);
    if (range && (x < Number(range[0]) || x > Number(range[1]))) throw invalidField(`${field}.contents.${key}[${i}]`, `a ${dt} in [${range[0]}, ${range[1]}]`, x);
    typed[i] = x;
  }
  return out;
}

/** The request's inputs as tensors; INVALID_ARGUMENT naming the field for anything malformed. */
export function decodeGrpcInputs(req: GrpcInferRequest, limits: TensorLimits): Tensor[] {
  const inputs = req.inputs ?? [];
  const raw = req.raw_input_contents ?? [];
  if (inputs.length === 0) throw invalidField('inputs', 'at least one input tensor', 0);
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw invalidField('raw_input_contents', `one entry per input (${inputs.length})`, raw.length);
  }
  let total = 0;
  return inputs.map((t, i) => {
    const field = `inputs[${i}]`;
    if (typeof t.name !== 'string' || t.name === '') throw invalidField(`${field}.name`, 'a tensor name', t.name ?? '');
    if (!isDatatype(t.datatype)) throw invalidField(`${field}.datatype`, `one of ${DATATYPES.join(', ')}`, t.datatype ?? '');
    const shape = parseShape(t.shape, `${field}.shape`);
    const n = elementCount(shape);
    total += n;
    if (total > limits.maxTensorElements) throw tooManyElements('the inputs', 'inputs', total, limits.maxTensorElements);
    const dt = t.datatype;
    let data: TensorData;
    if (raw.length > 0) {
      const typed = t.contents ? Object.entries(t.contents).find(([, v]) => Array.isArray(v) && v.length > 0) : undefined;
      if (typed) {
        throw invalidField(`${field}.contents.${typed[0]}`, 'no typed contents when raw_input_contents is used', `${typed[1].length} elements`,
          `${field}.contents.${typed[0]}: give the elements either in contents or in raw_input_contents, not both (this request uses raw_input_contents)`);
      }
      data = dt === 'BYTES' ? readLengthPrefixed(raw[i]!, n, `raw_input_contents[${i}]`) : fromRaw(dt, raw[i]!, n, `raw_input_contents[${i}]`);
    } else {
      data = fromContents(dt, t.contents, n, field);
    }
    const parameters = fromGrpcParameters(t.parameters);
    return { name: t.name, datatype: dt, shape, data, ...(parameters ? { parameters } : {}) };
  });
}

function toContents(t: Tensor): GrpcContents {
  const key = CONTENTS_FIELD[t.datatype];
  if (key === null) {
    throw new BerthError('INVALID_ARGUMENT', `output "${t.name}" is FP16, which has no typed contents field; send the inputs raw (raw_input_contents) to get outputs raw`, {
      field: 'raw_input_contents',
    });
  }
  const d = t.data;
  if (t.datatype === 'BYTES') return { [key]: (d as string[]).map((s) => Buffer.from(s, 'utf8')) };
  if (t.datatype === 'INT64' || t.datatype === 'UINT64') return { [key]: Array.from(d as BigInt64Array, (x) => x.toString()) };
  if (t.datatype === 'BOOL') return { [key]: Array.from(d as Uint8Array, (x) => x !== 0) };
  return { [key]: Array.from(d as Float32Array) };
}

/** Outputs as the response's tensors; `raw`: elements in raw_output_contents, else typed contents. */
export function encodeGrpcOutputs(outputs: readonly Tensor[], raw: boolean): { outputs: GrpcOutputTensor[]; raw_output_contents: Buffer[] } {
  return {
    outputs: outputs.map((t) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape.map(String),
      ...(raw ? {} : { contents: toContents(t) }),
    })),
    raw_output_contents: raw ? outputs.map(toRaw) : [],
  };
}

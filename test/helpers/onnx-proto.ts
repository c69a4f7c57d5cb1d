// A tiny protobuf writer, enough to build small ONNX models for edge cases the shared fixtures
// do not cover (external data, fixed batch dimensions).

/** A protobuf varint; negative numbers as their 64-bit two's complement, as protobuf writes int64. */
export function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

/** A field's key: its number and wire type. */
export const key = (field: number, wire: number): number[] => varint((field << 3) | wire);
/** A varint field. */
export const int = (field: number, v: number): number[] => [...key(field, 0), ...varint(v)];
/** A length-delimited field. */
export const bytes = (field: number, b: number[] | Uint8Array): number[] => [...key(field, 2), ...varint(b.length), ...b];
/** A string field (UTF-8). */
export const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s, 'utf8')]);

function valueInfo(name: string, dims: (number | string)[]): number[] {
  const dimMsgs = dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, 1), ...bytes(2, dimMsgs)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

/** Y = X + W for X float32 [batchDim, n], W an initializer of n floats. */
export function addModel(opts: { n: number; batchDim: number | string; externalWeights?: string; weights?: number[] }): Uint8Array {
  const { n } = opts;
  const node = [...str(1, 'X'), ...str(1, 'W'), ...str(2, 'Y'), ...str(4, 'Add')];
  let init = [...int(1, n), ...int(2, 1), ...str(8, 'W')];
  if (opts.externalWeights) {
    const entry = (k: string, v: string): number[] => bytes(13, [...str(1, k), ...str(2, v)]);
    init = [...init, ...entry('location', opts.externalWeights), ...entry('offset', '0'), ...entry('length', String(n * 4)), ...int(14, 1)];
  } else {
    const w = Float32Array.from(opts.weights ?? Array.from({ length: n }, (_, i) => i));
    init = [...init, ...bytes(9, new Uint8Array(w.buffer))];
  }
  const graph = [
    ...bytes(1, node),
    ...str(2, 'add'),
    ...bytes(5, init),
    ...bytes(11, valueInfo('X', [opts.batchDim, n])),
    ...bytes(12, valueInfo('Y', [opts.batchDim, n])),
  ];
  const opset = [...str(1, ''), ...int(2, 13)];
  const model = [...int(1, 8), ...str(2, 'berth-tests'), ...bytes(7, graph), ...bytes(8, opset)];
  return Uint8Array.from(model);
}

/** ONNX TensorProto element types by Open Inference Protocol datatype. */
export const ONNX_ELEM_TYPES = {
  FP32: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BYTES: 8,
  BOOL: 9,
  FP16: 10,
  FP64: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

/** Y = Identity(X) for X of `elemType` and shape [batchDim, width]. */
export function identityModel(elemType: number, width: number, batchDim: number | string = 'N'): Uint8Array {
  const info = (name: string): number[] => {
    const dims = [batchDim, width].flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
    const tensorType = [...int(1, elemType), ...bytes(2, dims)];
    return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
  };
  const node = [...str(1, 'X'), ...str(2, 'Y'), ...str(4, 'Identity')];
  const graph = [...bytes(1, node), ...str(2, 'identity'), ...bytes(11, info('X')), ...bytes(12, info('Y'))];
  const opset = [...str(1, ''), ...int(2, 13)];
  return Uint8Array.from([...int(1, 8), ...str(2, 'berth-tests'), ...bytes(7, graph), ...bytes(8, opset)]);
}

function floatInit(name: string, dims: number[], values: Float32Array): number[] {
  return [...dims.flatMap((d) => int(1, d)), ...int(2, 1), ...str(8, name), ...bytes(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))];
}

function modelOf(graphName: string, nodes: number[][], inits: number[][], input: number[], outputs: number[][]): Uint8Array {
  const graph = [...nodes.flatMap((n) => bytes(1, n)), ...str(2, graphName), ...inits.flatMap((i) => bytes(5, i)), ...bytes(11, input), ...outputs.flatMap((o) => bytes(12, o))];
  const opset = [...str(1, ''), ...int(2, 13)];
  return Uint8Array.from([...int(1, 8), ...str(2, 'berth-tests'), ...bytes(7, graph), ...bytes(8, opset)]);
}

/**
 * A deliberately slow model with the breast-cancer fixtures' input (`input`, float [N, 30]):
 * `layers` dense layers of `hidden` units; its single output is `Y` [N, hidden]. For tests that
 * must see a version still computing after another answered.
 */
export function slowModel(hidden: number, layers: number, inputName = 'input', width = 30): Uint8Array {
  const nodes: number[][] = [];
  const inits: number[][] = [];
  let prev = inputName;
  let fanIn = width;
  for (let l = 0; l < layers; l++) {
    const w = `W${l}`;
    const out = l === layers - 1 ? 'Y' : `H${l}`;
    inits.push(floatInit(w, [fanIn, hidden], new Float32Array(fanIn * hidden).fill(1 / fanIn)));
    nodes.push([...str(1, prev), ...str(1, w), ...str(2, out), ...str(4, 'MatMul')]);
    prev = out;
    fanIn = hidden;
  }
  return modelOf('slow', nodes, inits, valueInfo(inputName, ['N', width]), [valueInfo('Y', ['N', hidden])]);
}

/**
 * A model that loads and accepts any [N, D] float input named `input`, and fails at run time for
 * every width but `n` (it adds an `n`-wide constant): a version broken for real traffic.
 */
export function brokenModel(n = 31, inputName = 'input'): Uint8Array {
  const node = [...str(1, inputName), ...str(1, 'W'), ...str(2, 'Y'), ...str(4, 'Add')];
  return modelOf('broken', [node], [floatInit('W', [n], new Float32Array(n))], valueInfo(inputName, ['N', 'D']), [valueInfo('Y', ['N', 'D'])]);
}

/**
 * A copy of an ONNX file with one float initializer's values replaced (same length): how tests
 * make a "bad" version of a real model, e.g. logistic regression with its intercept shifted so it
 * predicts one class for nearly everything.
 */
export function patchFloatInitializer(model: Uint8Array, name: string, values: number[]): Uint8Array {
  const out = Uint8Array.from(model);
  const nameBytes = [...key(8, 2), ...varint(name.length), ...Buffer.from(name, 'utf8')];
  // the values are either raw_data (field 9) or packed float_data (field 4)
  const raws = [[...key(9, 2), ...varint(values.length * 4)], [...key(4, 2), ...varint(values.length * 4)]];
  const find = (needle: number[], from: number, to: number): number => {
    outer: for (let i = from; i + needle.length <= to; i++) {
      for (let j = 0; j < needle.length; j++) if (out[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  };
  const at = find(nameBytes, 0, out.length);
  if (at < 0) throw new Error(`no initializer named ${name}`);
  // the data sits near the name inside the same TensorProto (before or after it)
  let start = -1;
  for (const raw of raws) {
    let r = find(raw, at + nameBytes.length, Math.min(out.length, at + nameBytes.length + 64));
    if (r < 0) r = find(raw, Math.max(0, at - 16 - values.length * 4), at);
    if (r >= 0) {
      start = r + raw.length;
      break;
    }
  }
  if (start < 0) throw new Error(`initializer ${name} has no data of ${values.length} floats`);
  Buffer.from(out.buffer, out.byteOffset + start, values.length * 4).set(new Uint8Array(Float32Array.from(values).buffer));
  return out;
}

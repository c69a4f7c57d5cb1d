// A tiny protobuf writer, enough to build small ONNX models for edge cases the shared fixtures
// do not cover (external data, fixed batch dimensions).

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const key = (field: number, wire: number): number[] => varint((field << 3) | wire);
const int = (field: number, v: number): number[] => [...key(field, 0), ...varint(v)];
const bytes = (field: number, b: number[] | Uint8Array): number[] => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s, 'utf8')]);

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

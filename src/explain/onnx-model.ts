/**
 * A small reader of ONNX files (protobuf wire format, written by hand: no dependency). It reads
 * what finding and explaining a tree ensemble needs: the opset imports, the graph's nodes with
 * their attributes, the graph's inputs and outputs, and its initializers. Everything else in the
 * file (doc strings, metadata, value_info, training info, functions, subgraph bodies) is skipped.
 *
 * Field numbers are those of onnx.proto3 (checked against onnx 1.12's descriptors):
 * ModelProto ir_version=1 graph=7 opset_import=8; OperatorSetIdProto domain=1 version=2;
 * GraphProto node=1 name=2 initializer=5 input=11 output=12; NodeProto input=1 output=2 name=3
 * op_type=4 attribute=5 domain=7; AttributeProto name=1 f=2 i=3 s=4 t=5 g=6 floats=7 ints=8
 * strings=9 tensors=10 graphs=11 type=20; TensorProto dims=1 data_type=2 float_data=4
 * int32_data=5 int64_data=7 name=8 raw_data=9 double_data=10 data_location=14;
 * ValueInfoProto name=1 type=2; TypeProto tensor_type=1; TypeProto.Tensor elem_type=1 shape=2;
 * TensorShapeProto dim=1; Dimension dim_value=1 dim_param=2.
 */
import { BerthError } from '../core/index.js';

/** ONNX attribute types (AttributeProto.AttributeType), by their wire value. */
export const ONNX_ATTRIBUTE_TYPES = {
  0: 'UNDEFINED',
  1: 'FLOAT',
  2: 'INT',
  3: 'STRING',
  4: 'TENSOR',
  5: 'GRAPH',
  6: 'FLOATS',
  7: 'INTS',
  8: 'STRINGS',
  9: 'TENSORS',
  10: 'GRAPHS',
  11: 'SPARSE_TENSOR',
  12: 'SPARSE_TENSORS',
  13: 'TYPE_PROTO',
  14: 'TYPE_PROTOS',
} as const;
export type OnnxAttributeType = (typeof ONNX_ATTRIBUTE_TYPES)[keyof typeof ONNX_ATTRIBUTE_TYPES];

/** ONNX tensor element types (TensorProto.DataType) that this reader can turn into numbers. */
export const ONNX_ELEMENT_TYPES = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, DOUBLE: 11 } as const;

/**
 * A tensor stored in the file (an initializer or a TENSOR attribute). The numbers are not decoded
 * until asked for (`onnxTensorValues`); `raw` is a view into the file's bytes, not a copy.
 */
export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  /** TensorProto.DataType (1 float, 6 int32, 7 int64, 11 double, …) */
  readonly dataType: number;
  readonly raw: Uint8Array | null;
  readonly floatData: readonly number[];
  readonly doubleData: readonly number[];
  readonly int32Data: readonly number[];
  readonly int64Data: readonly number[];
  /** true when the values live in a file beside the model (data_location = EXTERNAL) */
  readonly external: boolean;
}

/**
 * One node attribute. Which fields are set follows `type`: `f` for FLOAT, `i` for INT, `s` for
 * STRING, `t` for TENSOR, `floats`, `ints`, `strings` for the repeated kinds. GRAPH-valued
 * attributes keep only their type. Integers beyond ±2^53 lose precision (they are JS numbers).
 */
export interface OnnxAttribute {
  readonly name: string;
  readonly type: OnnxAttributeType;
  readonly f: number;
  readonly i: number;
  readonly s: string;
  readonly t: OnnxTensor | null;
  readonly floats: readonly number[];
  readonly ints: readonly number[];
  readonly strings: readonly string[];
}

/** One graph node: an operator applied to named values. */
export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  /** '' (or 'ai.onnx') for standard operators, 'ai.onnx.ml' for the ML operators */
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, OnnxAttribute>;
}

/** A graph input or output: its name and, when the file declares a tensor type, element type and shape. */
export interface OnnxValueInfo {
  readonly name: string;
  /** TensorProto.DataType of a tensor value, or 0 when the value is not a tensor or has no type */
  readonly elemType: number;
  /** dimensions: a number when fixed, a string (the parameter's name, maybe '') when not; null when unknown */
  readonly shape: readonly (number | string)[] | null;
}

/** The top-level graph. */
export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly initializers: readonly OnnxTensor[];
}

/** What `readOnnxModel` returns: the IR version, the operator sets imported, and the graph. */
export interface OnnxModel {
  readonly irVersion: number;
  readonly opsetImports: readonly { readonly domain: string; readonly version: number }[];
  readonly graph: OnnxGraph;
}

/**
 * Read an ONNX ModelProto from its bytes.
 *
 * @throws BerthError INVALID_ARGUMENT when the bytes are not a protobuf message (truncated,
 *   random, a group or unknown wire type) or the message has no graph.
 */
export function readOnnxModel(bytes: Uint8Array): OnnxModel {
  const r = new Reader(bytes);
  try {
    return readModel(r, bytes.length);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError('INVALID_ARGUMENT', `not an ONNX model: ${err instanceof Error ? err.message : String(err)} (at byte ${r.pos} of ${bytes.length})`, {}, { cause: err });
  }
}

/** The attribute `name` of `node`, or undefined. */
export function onnxAttribute(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attributes.get(name);
}

/**
 * The values of a tensor as float64 numbers (FLOAT, DOUBLE, INT32, INT64, UINT8, INT8 and BOOL).
 *
 * @throws BerthError INVALID_ARGUMENT for other element types, external data, or a raw buffer
 *   whose length does not fit the element type.
 */
export function onnxTensorValues(t: OnnxTensor): Float64Array {
  if (t.external) throw new BerthError('INVALID_ARGUMENT', `tensor "${t.name}" keeps its values in an external file; read it with its data`);
  const E = ONNX_ELEMENT_TYPES;
  if (t.raw) {
    const view = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
    const size = t.dataType === E.FLOAT || t.dataType === E.INT32 ? 4 : t.dataType === E.DOUBLE || t.dataType === E.INT64 ? 8 : t.dataType === E.UINT8 || t.dataType === E.INT8 || t.dataType === E.BOOL ? 1 : 0;
    if (size === 0) throw new BerthError('INVALID_ARGUMENT', `tensor "${t.name}" has element type ${t.dataType}; expected a numeric type`);
    if (t.raw.byteLength % size !== 0) throw new BerthError('INVALID_ARGUMENT', `tensor "${t.name}": raw data of ${t.raw.byteLength} bytes is not a whole number of ${size}-byte elements`);
    const n = t.raw.byteLength / size;
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      switch (t.dataType) {
        case E.FLOAT: out[k] = view.getFloat32(k * 4, true); break;
        case E.DOUBLE: out[k] = view.getFloat64(k * 8, true); break;
        case E.INT32: out[k] = view.getInt32(k * 4, true); break;
        case E.INT64: out[k] = Number(view.getBigInt64(k * 8, true)); break;
        case E.INT8: out[k] = view.getInt8(k); break;
        default: out[k] = view.getUint8(k);
      }
    }
    return out;
  }
  switch (t.dataType) {
    case E.FLOAT: return Float64Array.from(t.floatData);
    case E.DOUBLE: return Float64Array.from(t.doubleData);
    case E.INT64: return Float64Array.from(t.int64Data);
    case E.INT32: case E.INT8: case E.UINT8: case E.BOOL: return Float64Array.from(t.int32Data);
    default: throw new BerthError('INVALID_ARGUMENT', `tensor "${t.name}" has element type ${t.dataType}; expected a numeric type`);
  }
}

// ---------------------------------------------------------------------------------------------
// The wire format

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8');

/** A cursor over protobuf bytes. Every read checks bounds and throws a plain Error on failure. */
class Reader {
  pos = 0;
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** A varint as a JS number: int64 two's complement is decoded to its signed value (exact within ±2^53). */
  varint(end: number): number {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= end) throw new Error('truncated varint');
      const b = this.bytes[this.pos++]!;
      const bits = b & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if ((b & 0x80) === 0) return (hi | 0) * 4294967296 + (lo >>> 0);
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** A field key: [field number, wire type]. */
  key(end: number): [number, number] {
    const k = this.varint(end);
    const field = Math.floor(k / 8);
    const wire = k & 7;
    if (field <= 0) throw new Error(`field number ${field}`);
    return [field, wire];
  }

  /** The end offset of a length-delimited field whose length comes next. */
  lengthEnd(end: number): number {
    const len = this.varint(end);
    if (len < 0 || this.pos + len > end) throw new Error('length-delimited field runs past its message');
    return this.pos + len;
  }

  bytesField(end: number): Uint8Array {
    const e = this.lengthEnd(end);
    const out = this.bytes.subarray(this.pos, e);
    this.pos = e;
    return out;
  }

  string(end: number): string {
    return utf8.decode(this.bytesField(end));
  }

  float32(end: number): number {
    if (this.pos + 4 > end) throw new Error('truncated fixed32');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  float64(end: number): number {
    if (this.pos + 8 > end) throw new Error('truncated fixed64');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  skip(wire: number, end: number): void {
    switch (wire) {
      case WIRE_VARINT: this.varint(end); return;
      case WIRE_FIXED64: this.advance(8, end); return;
      case WIRE_BYTES: this.pos = this.lengthEnd(end); return;
      case WIRE_FIXED32: this.advance(4, end); return;
      default: throw new Error(`unsupported wire type ${wire}`);
    }
  }

  private advance(n: number, end: number): void {
    if (this.pos + n > end) throw new Error('truncated fixed-width field');
    this.pos += n;
  }

  /** Repeated varints, packed (wire 2) or one per field (wire 0). */
  varints(wire: number, end: number, out: number[]): void {
    if (wire === WIRE_VARINT) {
      out.push(this.varint(end));
      return;
    }
    expectWire(wire, WIRE_BYTES);
    const e = this.lengthEnd(end);
    while (this.pos < e) out.push(this.varint(e));
  }

  /** Repeated float32, packed (wire 2) or one per field (wire 5). */
  floats(wire: number, end: number, out: number[]): void {
    if (wire === WIRE_FIXED32) {
      out.push(this.float32(end));
      return;
    }
    expectWire(wire, WIRE_BYTES);
    const e = this.lengthEnd(end);
    if ((e - this.pos) % 4 !== 0) throw new Error('packed floats are not a multiple of 4 bytes');
    while (this.pos < e) out.push(this.float32(e));
  }

  /** Repeated float64, packed (wire 2) or one per field (wire 1). */
  doubles(wire: number, end: number, out: number[]): void {
    if (wire === WIRE_FIXED64) {
      out.push(this.float64(end));
      return;
    }
    expectWire(wire, WIRE_BYTES);
    const e = this.lengthEnd(end);
    if ((e - this.pos) % 8 !== 0) throw new Error('packed doubles are not a multiple of 8 bytes');
    while (this.pos < e) out.push(this.float64(e));
  }
}

function expectWire(wire: number, expected: number): void {
  if (wire !== expected) throw new Error(`wire type ${wire} where ${expected} was expected`);
}

function readModel(r: Reader, end: number): OnnxModel {
  let irVersion = 0;
  let graph: OnnxGraph | null = null;
  const opsetImports: { domain: string; version: number }[] = [];
  while (r.pos < end) {
    const [field, wire] = r.key(end);
    if (field === 1 && wire === WIRE_VARINT) irVersion = r.varint(end);
    else if (field === 7 && wire === WIRE_BYTES) graph = readGraph(r, r.lengthEnd(end));
    else if (field === 8 && wire === WIRE_BYTES) opsetImports.push(readOpset(r, r.lengthEnd(end)));
    else r.skip(wire, end);
  }
  if (!graph) throw new BerthError('INVALID_ARGUMENT', 'not an ONNX model: the file has no graph (ModelProto field 7)');
  return { irVersion, opsetImports, graph };
}

function readOpset(r: Reader, end: number): { domain: string; version: number } {
  let domain = '';
  let version = 0;
  while (r.pos < end) {
    const [field, wire] = r.key(end);
    if (field === 1 && wire === WIRE_BYTES) domain = r.string(end);
    else if (field === 2 && wire === WIRE_VARINT) version = r.varint(end);
    else r.skip(wire, end);
  }
  return { domain, version };
}

function readGraph(r: Reader, end: number): OnnxGraph {
  let name = '';
  const nodes: OnnxNode[] = [];
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  const initializers: OnnxTensor[] = [];
  while (r.pos < end) {
    const [field, wire] = r.key(end);
    if (wire !== WIRE_BYTES) {
      r.skip(wire, end);
      continue;
    }
    switch (field) {
      case 1: nodes.push(readNode(r, r.lengthEnd(end))); break;
      case 2: name = r.string(end); break;
      case 5: initializers.push(readTensor(r, r.lengthEnd(end))); break;
      case 11: inputs.push(readValueInfo(r, r.lengthEnd(end))); break;
      case 12: outputs.push(readValueInfo(r, r.lengthEnd(end))); break;
      default: r.skip(wire, end);
    }
  }
  return { name, nodes, inputs, outputs, initializers };
}

function readNode(r: Reader, end: number): OnnxNode {
  let name = '';
  let opType = '';
  let domain = '';
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes = new Map<string, OnnxAttribute>();
  while (r.pos < end) {
    const [field, wire] = r.key(end);
    if (wire !== WIRE_BYTES) {
      r.skip(wire, end);
      continue;
    }
    switch (field) {
      case 1: inputs.push(r.string(end)); break;
      case 2: outputs.push(r.string(end)); break;
      case 3: name = r.string(end); break;
      case 4: opType = r.string(end); break;
      case 5: {
        const a = readAttribute(r, r.lengthEnd(end));
        attributes.set(a.name, a);
        break;
      }
      case 7: domain = r.string(end); break;
      default: r.skip(wire, end);
    }
  }
  return { name, opType, domain, inputs, outputs, attributes };
}

function readAttribute(r: Reader, end: number): OnnxAttribute {
  let name = '';
  let typeCode = -1;
  let f = 0;
  let i = 0;
  let s = '';
  let t: OnnxTensor | null = null;
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  let sawGraph = false;
  while (r.pos < end) {
    const [field, wire] = r.key(end);
    switch (field) {
      case 1: expectWire(wire, WIRE_BYTES); name = r.string(end); break;
      case 2: expectWire(wire, WIRE_FIXED32); f = r.float32(end); break;
      case 3: expectWire(wire, WIRE_VARINT); i = r.varint(end); break;
      case 4: expectWire(wire, WIRE_BYTES); s = r.string(end); break;
      case 5: expectWire(wire, WIRE_BYTES); t = readTensor(r, r.lengthEnd(end)); break;
      case 6: case 11: sawGraph = true; r.skip(wire, end); break;
      case 7: r.floats(wire, end, floats); break;
      case 8: r.varints(wire, end, ints); break;
      case 9: expectWire(wire, WIRE_BYTES); strings.push(r.string(end)); break;
      case 20: expectWire(wire, WIRE_VARINT); typeCode = r.varint(end); break;
      default: r.skip(wire, end);
    }
  }
  // IR version 1 files may omit `type`; infer it from the field that is set.
  let type: OnnxAttributeType;
  if (typeCode >= 0) {
    const known = (ONNX_ATTRIBUTE_TYPES as Record<number, OnnxAttributeType>)[typeCode];
    if (!known) throw new Error(`attribute "${name}" has unknown type ${typeCode}`);
    type = known;
  } else if (floats.length) type = 'FLOATS';
  else if (ints.length) type = 'INTS';
  else if (strings.length) type = 'STRINGS';
  else if (t) type = 'TENSOR';
  else if (sawGraph) type = 'GRAPH';
  else if (s) type = 'STRING';
  else type = 'UNDEFINED';
  return { name, type, f, i, s, t, floats, ints, strings };
}

function readTensor(r: Reader, end: number): OnnxTensor {
  let name = '';
  let dataType = 0;
  let raw: Uint8Array | null = null;
  let external = false;
  const dims: number[] = [];
  const floatData: number[] = [];
  const doubleData: number[] = [];
  const int32Data: number[] = [];
  const int64Data: number[] = [];
  while (r.pos < end) {
    const [field, wire] = r.key(end);
    switch (field) {
      case 1: r.varints(wire, end, dims); break;
      case 2: expectWire(wire, WIRE_VARINT); dataType = r.varint(end); break;
      case 4: r.floats(wire, end, floatData); break;
      case 5: r.varints(wire, end, int32Data); break;
      case 7: r.varints(wire, end, int64Data); break;
      case 8: expectWire(wire, WIRE_BYTES); name = r.string(end); break;
      case 9: expectWire(wire, WIRE_BYTES); raw = r.bytesField(end); break;
      case 10: r.doubles(wire, end, doubleData); break;
      case 13: external = true; r.skip(wire, end); break;
      case 14: expectWire(wire, WIRE_VARINT); if (r.varint(end) === 1) external = true; break;
      default: r.skip(wire, end);
    }
  }
  return { name, dims, dataType, raw, floatData, doubleData, int32Data, int64Data, external };
}

function readValueInfo(r: Reader, end: number): OnnxValueInfo {
  let name = '';
  let elemType = 0;
  let shape: (number | string)[] | null = null;
  while (r.pos < end) {
    const [field, wire] = r.key(end);
    if (field === 1 && wire === WIRE_BYTES) name = r.string(end);
    else if (field === 2 && wire === WIRE_BYTES) {
      // TypeProto: only tensor_type (1) matters here
      const typeEnd = r.lengthEnd(end);
      while (r.pos < typeEnd) {
        const [tf, tw] = r.key(typeEnd);
        if (tf === 1 && tw === WIRE_BYTES) {
          const tensorEnd = r.lengthEnd(typeEnd);
          while (r.pos < tensorEnd) {
            const [ef, ew] = r.key(tensorEnd);
            if (ef === 1 && ew === WIRE_VARINT) elemType = r.varint(tensorEnd);
            else if (ef === 2 && ew === WIRE_BYTES) shape = readShape(r, r.lengthEnd(tensorEnd));
            else r.skip(ew, tensorEnd);
          }
        } else r.skip(tw, typeEnd);
      }
    } else r.skip(wire, end);
  }
  return { name, elemType, shape };
}

function readShape(r: Reader, end: number): (number | string)[] {
  const dims: (number | string)[] = [];
  while (r.pos < end) {
    const [field, wire] = r.key(end);
    if (field !== 1 || wire !== WIRE_BYTES) {
      r.skip(wire, end);
      continue;
    }
    const dimEnd = r.lengthEnd(end);
    let dim: number | string = '';
    while (r.pos < dimEnd) {
      const [df, dw] = r.key(dimEnd);
      if (df === 1 && dw === WIRE_VARINT) dim = r.varint(dimEnd);
      else if (df === 2 && dw === WIRE_BYTES) dim = r.string(dimEnd);
      else r.skip(dw, dimEnd);
    }
    dims.push(dim);
  }
  return dims;
}

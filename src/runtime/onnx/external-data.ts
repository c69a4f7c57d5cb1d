/**
 * Finds initializers whose weights live outside the .onnx file (ONNX "external data"), by walking
 * the protobuf: ModelProto.graph (7) → GraphProto.initializer (5) → TensorProto.external_data (13)
 * / data_location (14). Returns the referenced file names. Only the top-level graph is walked.
 */
export function findExternalData(bytes: Uint8Array): string[] {
  const files = new Set<string>();
  try {
    forEachField(bytes, 0, bytes.length, (field, wire, start, end) => {
      if (field !== 7 || wire !== 2) return;
      forEachField(bytes, start, end, (gField, gWire, gStart, gEnd) => {
        if (gField !== 5 || gWire !== 2) return;
        let external = false;
        let location = '';
        forEachField(bytes, gStart, gEnd, (tField, tWire, tStart, tEnd, value) => {
          if (tField === 14 && tWire === 0 && value === 1) external = true;
          if (tField === 13 && tWire === 2) {
            external = true;
            let k = '';
            let v = '';
            forEachField(bytes, tStart, tEnd, (eField, eWire, eStart, eEnd) => {
              if (eWire !== 2) return;
              const s = Buffer.from(bytes.buffer, bytes.byteOffset + eStart, eEnd - eStart).toString('utf8');
              if (eField === 1) k = s;
              else if (eField === 2) v = s;
            });
            if (k === 'location') location = v;
          }
        });
        if (external) files.add(location || '(unnamed)');
      });
    });
  } catch {
    return []; // not parseable as protobuf: the runtime will say so
  }
  return [...files];
}

type FieldVisitor = (field: number, wire: number, start: number, end: number, value: number) => void;

function readVarint(b: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= b.length) throw new Error('truncated varint');
    const byte = b[pos++]!;
    if (shift < 53) result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return [result, pos];
    if (shift > 70) throw new Error('varint too long');
  }
}

function forEachField(b: Uint8Array, start: number, end: number, visit: FieldVisitor): void {
  let pos = start;
  while (pos < end) {
    const [key, p1] = readVarint(b, pos);
    pos = p1;
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      const [v, p2] = readVarint(b, pos);
      visit(field, wire, pos, p2, v);
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = readVarint(b, pos);
      const e = p2 + len;
      if (e > end) throw new Error('truncated field');
      visit(field, wire, p2, e, len);
      pos = e;
    } else if (wire === 5) {
      pos += 4;
    } else if (wire === 1) {
      pos += 8;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

import {
  BerthError,
  formatShape,
  type Datatype,
  type NumericArray,
  type Signature,
  type Tensor,
  type TensorSpec,
} from '../core/index.js';

/**
 * Check request tensors against the signature (names, dtypes, shapes, element counts, non-finite
 * values the card forbids, id ranges the card declares) and return them in signature order.
 * Every failure is a 400 naming the field, what was expected and what came.
 */
export function validateInputs(sig: Signature, inputs: readonly Tensor[]): Tensor[] {
  const specs = sig.inputs;
  if (inputs.length === 1 && specs.length === 1) {
    const t = inputs[0]!;
    const spec = specs[0]!;
    if (t.name !== spec.name) throw unknownInput(t.name, specs);
    checkTensor(spec, t, sig.batchable);
    return [t];
  }
  const byName = new Map<string, Tensor>();
  for (const t of inputs) {
    if (byName.has(t.name)) {
      throw new BerthError('INVALID_INPUT', `input "${t.name}" appears twice; send each input once`, { field: t.name });
    }
    byName.set(t.name, t);
  }
  for (const name of byName.keys()) {
    if (!specs.some((s) => s.name === name)) throw unknownInput(name, specs);
  }
  const ordered: Tensor[] = [];
  let rows: number | undefined;
  let rowsFrom = '';
  for (const spec of specs) {
    const t = byName.get(spec.name);
    if (!t) {
      throw new BerthError(
        'INVALID_INPUT',
        `input "${spec.name}" is missing: the model takes ${specs.map((s) => `"${s.name}" ${s.datatype} ${formatShape(s.shape)}`).join(', ')}`,
        { field: spec.name, expected: specs.map((s) => s.name), got: [...byName.keys()] },
      );
    }
    checkTensor(spec, t, sig.batchable);
    if (sig.batchable) {
      const r = t.shape[0]!;
      if (rows === undefined) {
        rows = r;
        rowsFrom = t.name;
      } else if (r !== rows) {
        throw new BerthError('INVALID_INPUT', `input "${t.name}" has ${r} rows but input "${rowsFrom}" has ${rows}; every input needs the same first dimension`, {
          field: t.name,
          expected: rows,
          got: r,
        });
      }
    }
    ordered.push(t);
  }
  return ordered;
}

function unknownInput(name: string, specs: readonly TensorSpec[]): BerthError {
  return new BerthError('INVALID_INPUT', `unknown input "${name}": the model's inputs are ${specs.map((s) => `"${s.name}"`).join(', ')}`, {
    field: name,
    expected: specs.map((s) => s.name),
    got: name,
  });
}

function checkTensor(spec: TensorSpec, t: Tensor, batchable: boolean): void {
  if (t.datatype !== spec.datatype) {
    throw new BerthError('INVALID_INPUT', `input "${spec.name}": expected datatype ${spec.datatype}, got ${t.datatype}`, {
      field: spec.name,
      expected: spec.datatype,
      got: t.datatype,
    });
  }
  const shape = t.shape;
  let ok = shape.length === spec.shape.length;
  for (let d = 0; ok && d < shape.length; d++) {
    const want = spec.shape[d]!;
    if (want !== -1 && shape[d] !== want) ok = false;
  }
  if (ok && batchable && shape[0] === 0) ok = false;
  if (!ok) {
    let hint = '';
    const features = spec.featureNames;
    const last = spec.shape.length - 1;
    if (features && shape.length === spec.shape.length && shape[last]! < features.length) {
      hint = ` (feature "${features[shape[last]!]}" and after missing?)`;
    }
    throw new BerthError('INVALID_INPUT', `input "${spec.name}": expected shape ${formatShape(spec.shape)}, got ${formatShape(shape)}${hint}`, {
      field: spec.name,
      expected: spec.shape,
      got: shape,
    });
  }
  let n = 1;
  for (const d of shape) n *= d;
  if (t.data.length !== n) {
    throw new BerthError('INVALID_INPUT', `input "${spec.name}": shape ${formatShape(shape)} needs ${n} elements, got ${t.data.length}`, {
      field: spec.name,
      expected: n,
      got: t.data.length,
    });
  }
  if (spec.datatype === 'BYTES') checkText(spec, t);
  if (spec.allowNonFinite === false && isFloat(spec.datatype)) checkFinite(spec, t);
  if (spec.validRange) checkRange(spec, t, spec.validRange);
}

function isFloat(dt: Datatype): boolean {
  return dt === 'FP32' || dt === 'FP64';
}

function featureAt(spec: TensorSpec, shape: readonly number[], index: number): string {
  const width = shape.length > 1 ? shape[shape.length - 1]! : 1;
  const row = shape.length > 1 ? Math.floor(index / width) : index;
  const col = index % width;
  const feature = spec.featureNames?.[col];
  return feature ? `row ${row}, feature "${feature}"` : `element ${index}`;
}

/** ONNX Runtime keeps strings as C strings: text after a NUL would be dropped without a word. */
function checkText(spec: TensorSpec, t: Tensor): void {
  const data = t.data as string[];
  for (let i = 0; i < data.length; i++) {
    if (data[i]!.includes('\u0000')) {
      throw new BerthError('INVALID_INPUT', `input "${spec.name}" ${featureAt(spec, t.shape, i)}: contains a NUL character (U+0000), which the runtime's string tensors cut the text at; remove it, or send such bytes base64-encoded`, {
        field: spec.name,
        expected: 'text without NUL characters',
        got: 'a NUL character',
      });
    }
  }
}

function checkFinite(spec: TensorSpec, t: Tensor): void {
  const data = t.data as Float32Array | Float64Array;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      throw new BerthError('INVALID_INPUT', `input "${spec.name}" ${featureAt(spec, t.shape, i)}: expected a finite number (the model card forbids NaN and Infinity), got ${v}`, {
        field: spec.featureNames?.[i % (t.shape[t.shape.length - 1] ?? 1)] ?? spec.name,
        expected: 'finite number',
        got: String(v),
      });
    }
  }
}

function checkRange(spec: TensorSpec, t: Tensor, [lo, hi]: [number, number]): void {
  if (Array.isArray(t.data)) return;
  const data = t.data as NumericArray;
  const big = typeof data[0] === 'bigint';
  const loB = big ? BigInt(lo) : lo;
  const hiB = big ? BigInt(hi) : hi;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < loB || v > hiB) {
      const field = spec.featureNames?.[i % (t.shape[t.shape.length - 1] ?? 1)] ?? spec.name;
      const vocab = spec.vocabulary ? ` (${spec.vocabulary.length} known categories: ${spec.vocabulary.slice(0, 12).join(', ')}${spec.vocabulary.length > 12 ? ', …' : ''})` : '';
      throw new BerthError(
        'INVALID_INPUT',
        `input "${spec.name}" ${featureAt(spec, t.shape, i)}: expected an id in [${lo}, ${hi}]${vocab}, got ${String(v)}`,
        { field, expected: [lo, hi], got: String(v) },
      );
    }
  }
}

import type { Datatype } from './tensor.js';

/** One input or output of a model. `shape` uses -1 for a dynamic dimension. */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** symbolic names of dynamic dimensions as the ONNX file declares them (null when unnamed or fixed) */
  dimNames?: (string | null)[];
  /** tabular models: the named features laid out along the last axis, in order */
  featureNames?: string[];
  /** categorical inputs: the known categories (strings for BYTES, names of ids 0..n-1 for integers) */
  vocabulary?: string[];
  /** integer inputs: inclusive valid id range, checked before the runtime sees it */
  validRange?: [number, number];
  /** float inputs: whether NaN/±Infinity may reach the model (default true unless the card forbids) */
  allowNonFinite?: boolean;
  description?: string;
}

/**
 * What goes into and comes out of a model. `batchable` is true when every input and output has a
 * dynamic first dimension, so rows of several requests may be concatenated into one runtime call.
 */
export interface Signature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  batchable: boolean;
}

/** True when every input and output has a dynamic first (batch) dimension. */
export function isBatchable(inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): boolean {
  const dyn = (s: TensorSpec): boolean => s.shape.length > 0 && s.shape[0] === -1;
  return inputs.length > 0 && inputs.every(dyn) && outputs.every(dyn);
}

/** Render a shape the way users write it: `[-1, 30]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

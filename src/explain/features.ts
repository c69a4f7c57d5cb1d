/**
 * The feature space explainers work in: a model's inputs flattened into M features, each row a
 * vector of M float32 numbers. Numeric features keep their values. Features whose values a float32
 * cannot hold exactly (strings, booleans, categorical ids, doubles, wide integers) are stored as
 * codes into a per-feature dictionary of the values seen. Explainers only ever mix values of the
 * explained row and of background rows, so a dictionary of those is all a coalition needs.
 */
import {
  BerthError, allocateData, assignOutputRoles, classNames,
  type Datatype, type ModelCard, type Signature, type Tensor, type TensorData, type TensorSpec,
} from '../core/index.js';

/** One feature of the space. */
export interface FeatureInfo {
  /** the card's feature name, else `<input>[<j>]` (or the input's name for a one-value input) */
  name: string;
  /** the input it belongs to, and its place in that input's row */
  input: string;
  offset: number;
  /** categorical: strings, booleans, ids with a vocabulary; numeric otherwise */
  kind: 'numeric' | 'categorical';
  /** stored as codes into a dictionary (see the module comment) */
  coded: boolean;
}

/** A value as the caller sees it (a dictionary's entry, or the number). */
export type FeatureValue = number | string | boolean | bigint | null;

const FLOAT_EXACT: ReadonlySet<Datatype> = new Set<Datatype>(['FP32', 'FP16', 'INT8', 'INT16', 'UINT8', 'UINT16']);
const INTEGER: ReadonlySet<Datatype> = new Set<Datatype>(['INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);

interface InputLayout {
  spec: TensorSpec;
  /** values per row */
  width: number;
  /** the input's shape after the batch dimension */
  rowShape: number[];
  /** index of its first feature */
  first: number;
}

/**
 * A signature's inputs as one feature vector per row, with the dictionaries of coded features.
 *
 * @example
 * const space = FeatureSpace.of(version.signature);
 * const { rows, n } = space.encode(inputs);     // n × M float32
 * const tensors = space.decode(rows, n);         // back to the model's inputs
 */
export class FeatureSpace {
  private readonly dictionaries: (FeatureValue[] | null)[];
  private readonly lookups: (Map<string, number> | null)[];

  private constructor(
    readonly features: readonly FeatureInfo[],
    private readonly layouts: readonly InputLayout[],
  ) {
    this.dictionaries = features.map((f) => (f.coded ? [] : null));
    this.lookups = features.map((f) => (f.coded ? new Map() : null));
  }

  /**
   * The space of a signature. Refuses inputs whose per-row shape is not fixed. `dictionaries`
   * (from `dictionaryJson`) restores the codes a stored background was written with.
   */
  static of(sig: Signature, dictionaries?: readonly (readonly (number | string | boolean | null)[] | null)[]): FeatureSpace {
    const features: FeatureInfo[] = [];
    const layouts: InputLayout[] = [];
    for (const spec of sig.inputs) {
      const rowShape = spec.shape.slice(1);
      if (rowShape.some((d) => d < 0)) {
        throw new BerthError('INVALID_ARGUMENT', `input "${spec.name}" has shape [${spec.shape.join(', ')}]: explanations need a fixed number of values per row (only the batch dimension may vary)`, {
          field: spec.name, expected: 'a fixed shape after the batch dimension', got: spec.shape,
        });
      }
      const width = rowShape.reduce((a, b) => a * b, 1);
      const categorical = spec.datatype === 'BYTES' || spec.datatype === 'BOOL' || (INTEGER.has(spec.datatype) && spec.vocabulary !== undefined);
      const coded = categorical || !FLOAT_EXACT.has(spec.datatype);
      layouts.push({ spec, width, rowShape, first: features.length });
      for (let j = 0; j < width; j++) {
        const name = spec.featureNames?.length === width ? spec.featureNames[j]! : width === 1 ? spec.name : `${spec.name}[${j}]`;
        features.push({ name, input: spec.name, offset: j, kind: categorical ? 'categorical' : 'numeric', coded });
      }
    }
    const space = new FeatureSpace(features, layouts);
    if (dictionaries !== undefined) {
      if (dictionaries.length !== features.length) {
        throw new BerthError('ARTIFACT_CORRUPTED', `stored feature dictionaries: expected ${features.length}, got ${dictionaries.length}`);
      }
      dictionaries.forEach((d, f) => {
        if (d === null || !features[f]!.coded) return;
        const dt = layouts.find((l) => l.spec.name === features[f]!.input)!.spec.datatype;
        for (const v of d) space.code(f, v === null ? NaN : dt === 'INT64' || dt === 'UINT64' ? BigInt(v as string | number) : v);
      });
    }
    return space;
  }

  /** The dictionaries as JSON-safe lists (64-bit integers as strings), to store beside a background. */
  dictionaryJson(): (Array<number | string | boolean | null> | null)[] {
    return this.dictionaries.map((d) => (d === null ? null : d.map((v) => (typeof v === 'bigint' ? v.toString() : v))));
  }

  get size(): number {
    return this.features.length;
  }

  /** True when the model takes one float32 input holding every feature: rows go to it as they are. */
  get direct(): boolean {
    return this.layouts.length === 1 && this.layouts[0]!.spec.datatype === 'FP32';
  }

  /** Rows of the inputs (validated tensors in signature order) as an n × M matrix. */
  encode(inputs: readonly Tensor[]): { rows: Float32Array; n: number } {
    const n = inputs[0]?.shape[0] ?? 0;
    const M = this.features.length;
    const rows = new Float32Array(n * M);
    this.layouts.forEach((l, i) => {
      const t = inputs[i]!;
      const data = t.data as ArrayLike<number | bigint | boolean | string>;
      for (let r = 0; r < n; r++) {
        for (let j = 0; j < l.width; j++) {
          const f = l.first + j;
          const v = data[r * l.width + j]!;
          rows[r * M + f] = this.dictionaries[f] !== null ? this.code(f, v) : Number(v);
        }
      }
    });
    return { rows, n };
  }

  /** An n × M matrix back into the model's inputs, in signature order. */
  decode(rows: Float32Array, n: number): Tensor[] {
    const M = this.features.length;
    return this.layouts.map((l) => {
      const { spec } = l;
      if (this.layouts.length === 1 && spec.datatype === 'FP32') {
        // every feature is this input's, in order: the matrix is the tensor
        return { name: spec.name, datatype: spec.datatype, shape: [n, ...l.rowShape], data: rows.subarray(0, n * M) };
      }
      const data = allocateData(spec.datatype, n * l.width) as TensorData;
      const out = data as unknown as { [k: number]: unknown };
      for (let j = 0; j < l.width; j++) {
        const f = l.first + j;
        const dict = this.dictionaries[f] ?? null;
        for (let r = 0; r < n; r++) {
          const x = rows[r * M + f]!;
          out[r * l.width + j] = dict !== null ? toElement(spec.datatype, dict[x]!) : toElement(spec.datatype, x);
        }
      }
      return { name: spec.name, datatype: spec.datatype, shape: [n, ...l.rowShape], data };
    });
  }

  /** What a stored number of feature `f` stands for. */
  valueOf(f: number, stored: number): FeatureValue {
    const dict = this.dictionaries[f];
    if (dict === null || dict === undefined) return Number.isNaN(stored) ? null : shortestFloat32(stored);
    return dict[stored] ?? null;
  }

  private code(f: number, v: number | bigint | boolean | string): number {
    const key = typeof v === 'number' && Number.isNaN(v) ? 'n:NaN' : `${typeof v}:${String(v)}`;
    const lookup = this.lookups[f]!;
    let c = lookup.get(key);
    if (c === undefined) {
      c = this.dictionaries[f]!.length;
      this.dictionaries[f]!.push(v);
      lookup.set(key, c);
    }
    return c;
  }
}

/** The shortest decimal that reads back as the same float32 (103.6, not 103.5999984741211). */
export function shortestFloat32(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

function toElement(dt: Datatype, v: FeatureValue): unknown {
  if (dt === 'BYTES') return String(v);
  if (dt === 'BOOL') return v === true || v === 1 ? 1 : 0;
  if (dt === 'INT64' || dt === 'UINT64') return typeof v === 'bigint' ? v : typeof v === 'string' ? BigInt(v) : BigInt(Math.trunc(Number(v)));
  return typeof v === 'bigint' ? Number(v) : Number(v);
}

/** Which output, and which column of it, an explanation explains. */
export interface ExplainedOutput {
  output: string;
  /** column of that output (the class's, or 0) */
  column: number;
  /** the class explained, for classifiers */
  className: string | null;
  /** what the number is: a class probability, a logit/score, or a regression value */
  kind: 'probability' | 'logit' | 'score' | 'value';
  /** columns of the output per row */
  width: number;
}

/**
 * Pick what to explain: a classifier's probability of `className` (default: each row's predicted
 * class, chosen by the caller; here the first class when none is named), else its logits or
 * scores; a regression's value. Refuses a model with only a label output.
 */
export function explainedOutput(sig: Signature, card: ModelCard | undefined, className?: string): ExplainedOutput {
  const roles = assignOutputRoles(sig.outputs, sig, card);
  const pick = (role: 'probabilities' | 'logits' | 'scores' | 'value'): number => roles.findIndex((r) => r === role);
  for (const role of ['probabilities', 'logits', 'scores'] as const) {
    const i = pick(role);
    if (i < 0) continue;
    const spec = sig.outputs[i]!;
    const width = spec.shape.slice(1).reduce((a, b) => a * (b < 0 ? 1 : b), 1);
    const names = classNames(card, width);
    let column = 0;
    if (className !== undefined) {
      column = names.indexOf(className);
      if (column < 0) {
        throw new BerthError('INVALID_ARGUMENT', `class: expected one of ${names.map((c) => JSON.stringify(c)).join(', ')}, got ${JSON.stringify(className)}`, {
          field: 'class', expected: names, got: className,
        });
      }
    }
    return { output: spec.name, column, className: names[column] ?? null, kind: role === 'probabilities' ? 'probability' : role === 'logits' ? 'logit' : 'score', width };
  }
  const v = pick('value');
  if (v >= 0) {
    if (className !== undefined) {
      throw new BerthError('INVALID_ARGUMENT', `class: the model is a regression (output "${sig.outputs[v]!.name}"), so there is no class to pick; leave class out`, { field: 'class', got: className });
    }
    const spec = sig.outputs[v]!;
    return { output: spec.name, column: 0, className: null, kind: 'value', width: spec.shape.slice(1).reduce((a, b) => a * (b < 0 ? 1 : b), 1) };
  }
  throw new BerthError('INVALID_ARGUMENT', `the model has no probabilities, logits, scores or value output to explain (outputs: ${sig.outputs.map((o) => o.name).join(', ')}); declare output roles in its card`, {
    field: 'model', expected: 'an output with role probabilities, logits, scores or value', got: sig.outputs.map((o) => o.name),
  });
}

/** The explained number of each row, from the model's outputs. */
export function explainedValues(outputs: readonly Tensor[], target: ExplainedOutput, n: number): Float64Array {
  const t = outputs.find((o) => o.name === target.output);
  if (t === undefined) throw new BerthError('INTERNAL', `the model did not return output "${target.output}"`);
  const data = t.data as ArrayLike<number>;
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) out[r] = Number(data[r * target.width + target.column]);
  return out;
}

/**
 * Batches of rows → the version's model in this process → prediction columns named from the card:
 * `label`, `p_<class>` per class, or `value` for regressions. The same output-role logic and the
 * same numbers as the friendly endpoint's `postprocessPredictions`, laid out column-wise.
 */
import {
  BerthError, assignOutputRoles, classNames, fromFloat16Bits,
  type ModelCard, type OutputRole, type Signature, type Tensor, type TensorData, type TensorSpec,
} from '../core/index.js';
import type { Registry, VersionRecord } from '../registry/index.js';
import type { LoadedModel } from '../runtime/index.js';
import type { Cell, CellKind } from './source.js';

/**
 * Where a job gets model files: the registry itself, or a server's API (`berth batch run --server`).
 * A `Registry` is one.
 */
export interface ModelArtifacts {
  artifacts: { read(sha256: string): Promise<Uint8Array> };
}

/** One prediction column: its name and what it holds. */
export interface PredictionColumn {
  name: string;
  kind: CellKind;
}

type ColumnSource =
  | { kind: 'label'; output: string; names: Map<string, string> | undefined }
  | { kind: 'argmax'; score: string }
  | { kind: 'probability'; score: string; column: number }
  | { kind: 'value'; output: string; column: number; width: number };

interface ScorePlan {
  /** the probabilities or logits output */
  score: { output: string; width: number; logits: boolean } | undefined;
  multilabel: boolean;
}

/** Values per row of an output spec, or -1 when a trailing dimension is dynamic. */
function widthOfSpec(spec: TensorSpec): number {
  let w = 1;
  for (const d of spec.shape.slice(1)) {
    if (d < 0) return -1;
    w *= d;
  }
  return w;
}

/**
 * Scores batches of rows with one onnxruntime session (one thread).
 *
 * @example
 * const scorer = await Scorer.load(registry, version);
 * const columns = await scorer.score(tensors, rows); // one Cell[] per scorer.columns entry
 * await scorer.dispose();
 */
export class Scorer {
  private constructor(
    private readonly model: LoadedModel,
    readonly columns: readonly PredictionColumn[],
    private readonly extracts: readonly ColumnSource[],
    private readonly plan: ScorePlan,
    private readonly card: ModelCard | undefined,
  ) {}

  /** Load a version's model from the registry's artifacts. */
  static async load(registry: ModelArtifacts, version: VersionRecord): Promise<Scorer> {
    const { OnnxBackend } = await import('../runtime/index.js');
    const bytes = await registry.artifacts.read(version.sha256);
    const model = await new OnnxBackend().load(bytes, { intraOpThreads: 1, interOpThreads: 1 });
    try {
      const { columns, extracts, plan } = planPredictions(version.signature, version.card ?? undefined);
      return new Scorer(model, columns, extracts, plan, version.card ?? undefined);
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  /** Run one batch of `rows` rows; one array of values per prediction column. */
  async score(inputs: readonly Tensor[], rows: number): Promise<Cell[][]> {
    if (rows === 0) return this.columns.map(() => []);
    let outputs: Tensor[];
    try {
      outputs = await this.model.run(inputs);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new BerthError('INFERENCE_FAILED', `the model failed on a batch of ${rows} rows: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    }
    const byName = new Map(outputs.map((t) => [t.name, t] as const));
    const get = (name: string): Tensor => {
      const t = byName.get(name);
      if (t === undefined) throw new BerthError('INTERNAL', `the model returned no output "${name}"`, { field: name });
      return t;
    };
    // probabilities once per batch: they feed both the p_ columns and an argmax label
    let probs: Float64Array | undefined;
    let k = 0;
    const score = this.plan.score;
    if (score !== undefined) {
      const t = get(score.output);
      const vals = numbersOf(t.data, t.datatype === 'FP16');
      const width = vals.length / rows;
      const binary = width === 1;
      k = binary ? 2 : width;
      probs = new Float64Array(rows * k);
      for (let r = 0; r < rows; r++) {
        const base = r * width;
        const o = r * k;
        if (binary) {
          const pos = score.logits ? sigmoid(vals[base]!) : vals[base]!;
          probs[o] = 1 - pos;
          probs[o + 1] = pos;
        } else if (!score.logits) {
          for (let c = 0; c < k; c++) probs[o + c] = vals[base + c]!;
        } else if (this.plan.multilabel) {
          for (let c = 0; c < k; c++) probs[o + c] = sigmoid(vals[base + c]!);
        } else {
          softmaxInto(vals, base, k, probs, o);
        }
      }
    }
    return this.extracts.map((x): Cell[] => {
      const out = new Array<Cell>(rows);
      switch (x.kind) {
        case 'label': {
          const t = get(x.output);
          const raw: ArrayLike<string | number> = t.datatype === 'BYTES' ? (t.data as string[]) : numbersOf(t.data, t.datatype === 'FP16');
          for (let r = 0; r < rows; r++) {
            const v = raw[r]!;
            out[r] = x.names?.get(String(v)) ?? v;
          }
          return out;
        }
        case 'argmax':
          for (let r = 0; r < rows; r++) {
            let best = 0;
            for (let c = 1; c < k; c++) if (probs![r * k + c]! > probs![r * k + best]!) best = c;
            out[r] = classAt(this.card, best, k);
          }
          return out;
        case 'probability':
          for (let r = 0; r < rows; r++) out[r] = probs![r * k + x.column]!;
          return out;
        case 'value': {
          const t = get(x.output);
          if (t.datatype === 'BYTES') {
            const d = t.data as string[];
            for (let r = 0; r < rows; r++) out[r] = d[r * x.width + x.column]!;
            return out;
          }
          const vals = numbersOf(t.data, t.datatype === 'FP16');
          for (let r = 0; r < rows; r++) out[r] = vals[r * x.width + x.column]!;
          return out;
        }
      }
    });
  }

  dispose(): Promise<void> {
    return this.model.dispose();
  }
}

/** Which columns a version's predictions become, from its signature and card (no model run). */
export function planPredictions(sig: Signature, card: ModelCard | undefined): { columns: PredictionColumn[]; extracts: ColumnSource[]; plan: ScorePlan } {
  const roles = assignOutputRoles(sig.outputs, sig, card);
  const byRole = (role: OutputRole): TensorSpec | undefined => {
    const i = roles.indexOf(role);
    return i < 0 ? undefined : sig.outputs[i];
  };
  const multilabel = card?.task === 'multilabel-classification';
  const columns: PredictionColumn[] = [];
  const extracts: ColumnSource[] = [];
  const used = new Set<string>();
  const need = (spec: TensorSpec): number => {
    const w = widthOfSpec(spec);
    if (w < 0) {
      throw new BerthError('INVALID_CARD', `output "${spec.name}" has a dynamic per-row shape [${spec.shape.join(', ')}], so its prediction columns cannot be named before scoring; batch jobs need fixed output widths`, { field: spec.name });
    }
    return w;
  };

  const labelSpec = byRole('label');
  let hasLabel = false;
  if (labelSpec !== undefined && need(labelSpec) === 1) {
    used.add(labelSpec.name);
    hasLabel = true;
    const classes = card?.classes;
    let names: Map<string, string> | undefined;
    if (classes?.names !== undefined && classes.names.length === classes.labels.length) {
      names = new Map(classes.labels.map((l, i) => [String(l), classes.names![i]!] as const));
    }
    const dt = labelSpec.datatype;
    const kind: CellKind = dt === 'BYTES' || names !== undefined ? 'text' : dt === 'FP16' || dt === 'FP32' || dt === 'FP64' ? 'float' : 'integer';
    columns.push({ name: 'label', kind });
    extracts.push({ kind: 'label', output: labelSpec.name, names });
  }

  const probSpec = byRole('probabilities');
  const scoreSpec = probSpec ?? byRole('logits');
  let score: ScorePlan['score'];
  if (scoreSpec !== undefined && scoreSpec.datatype !== 'BYTES') {
    used.add(scoreSpec.name);
    const width = need(scoreSpec);
    const k = width === 1 ? 2 : width;
    score = { output: scoreSpec.name, width, logits: scoreSpec !== probSpec };
    if (!hasLabel && !multilabel) {
      columns.push({ name: 'label', kind: argmaxKind(card, k) });
      extracts.push({ kind: 'argmax', score: scoreSpec.name });
    }
    classNames(card, k).forEach((n, c) => {
      columns.push({ name: `p_${n}`, kind: 'float' });
      extracts.push({ kind: 'probability', score: scoreSpec.name, column: c });
    });
  }

  const valueSpec = byRole('value');
  if (valueSpec !== undefined && valueSpec.datatype !== 'BYTES') {
    used.add(valueSpec.name);
    const width = need(valueSpec);
    for (let c = 0; c < width; c++) {
      columns.push({ name: width === 1 ? 'value' : `value_${c}`, kind: 'float' });
      extracts.push({ kind: 'value', output: valueSpec.name, column: c, width });
    }
  }

  // outputs without a role (and raw scores), as they are
  for (const spec of sig.outputs) {
    if (used.has(spec.name)) continue;
    const width = widthOfSpec(spec);
    if (width < 0) continue;
    const kind: CellKind = spec.datatype === 'BYTES' ? 'text' : spec.datatype.startsWith('FP') ? 'float' : spec.datatype === 'BOOL' ? 'integer' : 'integer';
    for (let c = 0; c < width; c++) {
      columns.push({ name: width === 1 ? spec.name : `${spec.name}_${c}`, kind });
      extracts.push({ kind: 'value', output: spec.name, column: c, width });
    }
  }
  if (columns.length === 0) {
    throw new BerthError('INVALID_CARD', `the model's outputs (${sig.outputs.map((o) => `"${o.name}"`).join(', ')}) give no prediction columns; declare output roles in the card (docs/cards.md)`);
  }
  const dup = columns.find((c, i) => columns.findIndex((d) => d.name === c.name) !== i);
  if (dup !== undefined) {
    throw new BerthError('INVALID_CARD', `two prediction columns would be called "${dup.name}"; give the classes distinct names in the card`, { field: dup.name });
  }
  return { columns, extracts, plan: { score, multilabel } };
}

function argmaxKind(card: ModelCard | undefined, k: number): CellKind {
  const cls = card?.classes;
  if (cls?.names !== undefined && cls.names.length === k) return 'text';
  if (cls !== undefined && cls.labels.length === k) return cls.labels.every((l) => typeof l === 'number') ? 'integer' : 'text';
  return 'integer';
}

/** The label for column `k`: its class name, else its label, else the index (as the friendly endpoint). */
function classAt(card: ModelCard | undefined, k: number, width: number): string | number {
  const cls = card?.classes;
  if (cls?.names !== undefined && cls.names.length === width) return cls.names[k]!;
  if (cls !== undefined && cls.labels.length === width) return cls.labels[k]!;
  return k;
}

function numbersOf(d: TensorData, half: boolean): Float64Array {
  const n = d.length;
  const out = new Float64Array(n);
  if (half) {
    for (let i = 0; i < n; i++) out[i] = fromFloat16Bits((d as Uint16Array)[i]!);
  } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = Number(d[i]!);
  } else if (Array.isArray(d)) {
    for (let i = 0; i < n; i++) out[i] = Number(d[i]);
  } else {
    out.set(d);
  }
  return out;
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

function softmaxInto(vals: Float64Array, base: number, k: number, out: Float64Array, o: number): void {
  let max = -Infinity;
  for (let c = 0; c < k; c++) if (vals[base + c]! > max) max = vals[base + c]!;
  let sum = 0;
  for (let c = 0; c < k; c++) {
    const e = Math.exp(vals[base + c]! - max);
    out[o + c] = e;
    sum += e;
  }
  for (let c = 0; c < k; c++) out[o + c] = out[o + c]! / sum;
}


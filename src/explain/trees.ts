/**
 * Tree ensembles read from ONNX-ML `TreeEnsembleClassifier` / `TreeEnsembleRegressor` nodes, as
 * onnxruntime evaluates them: the same split comparisons (on float32 inputs, with NaN going to
 * the false branch unless `nodes_missing_value_tracks_true` says otherwise), the same roots, the
 * same leaf weights, base values and output layout. What TreeSHAP explains is the *margin*: the
 * raw score per target before the post-transform, which is additive over trees.
 */
import { BerthError } from '../core/index.js';
import { onnxAttribute, onnxTensorValues, readOnnxModel, type OnnxGraph, type OnnxNode } from './onnx-model.js';

/** Split modes of ONNX-ML tree nodes. A node's `mode` is an index into this list. */
export const NODE_MODES = ['LEAF', 'BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'] as const;
export type NodeMode = (typeof NODE_MODES)[number];

/** Post-transforms ONNX-ML tree ensembles apply to their margins. */
export const POST_TRANSFORMS = ['NONE', 'LOGISTIC', 'SOFTMAX', 'SOFTMAX_ZERO', 'PROBIT'] as const;
export type PostTransform = (typeof POST_TRANSFORMS)[number];

/** How trees are combined. MIN and MAX exist in ONNX but are not additive, so they are refused. */
export const AGGREGATE_FUNCTIONS = ['SUM', 'AVERAGE'] as const;
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];

/**
 * How the model's score output (probabilities, or the regression values) comes from the margins,
 * exactly as onnxruntime writes it:
 * - `values` (regressors): the post-transform of the margins. With one target onnxruntime applies
 *   only PROBIT and passes the margin through for every other transform.
 * - `classes` (classifiers): one margin per class label; scores are the post-transform of them.
 * - `binary` (binary classifiers storing one score column, the skl2onnx convention): one margin m
 *   for the second class label. Scores are [σ(−m), σ(m)] (`logistic`, LOGISTIC post-transform,
 *   leaf weights of both signs), [−m, m] (`negate`, other transforms) or [1 − m, m]
 *   (`complement`, when every leaf weight is ≥ 0).
 */
export type ScoreLayout =
  | { readonly kind: 'values' }
  | { readonly kind: 'classes' }
  | { readonly kind: 'binary'; readonly secondClass: 'logistic' | 'negate' | 'complement' };

/** Which margin explains a class: the target's margin times `sign` grows with that class's score. */
export interface ClassMargin {
  readonly target: number;
  readonly sign: 1 | -1;
}

/**
 * The parts of a `TreeEnsemble`; see the class for what each means. Each tree's nodes must be
 * contiguous and in depth-first order (a parent before its children, the root first), as
 * `TreeEnsemble.fromOnnxNode` lays them out.
 */
export interface TreeEnsembleParts {
  kind: 'classifier' | 'regressor';
  featureCount: number;
  targetCount: number;
  treeStart: Int32Array;
  feature: Int32Array;
  threshold: Float64Array;
  mode: Uint8Array;
  yes: Int32Array;
  no: Int32Array;
  missingTracksTrue: Uint8Array;
  hitRates: Float64Array | null;
  hitRatesIgnored: string | null;
  leafValues: Float64Array;
  base: Float64Array;
  aggregate: AggregateFunction;
  postTransform: PostTransform;
  scoreLayout: ScoreLayout;
  classLabels: readonly (number | string)[];
}

/** The deepest tree accepted (edges from root to leaf); TreeSHAP's scratch space grows with its square. */
export const MAX_TREE_DEPTH = 512;

const MODE_LEAF = 0;
const MODE_LEQ = 1;
const MODE_LT = 2;
const MODE_GTE = 3;
const MODE_GT = 4;
const MODE_EQ = 5;

/**
 * A tree ensemble in flat arrays. Trees are stored one after another, each in depth-first order
 * with its root first: tree t holds nodes `treeStart[t]` to `treeStart[t + 1] - 1`. Node arrays
 * are indexed by that global node number; `yes`/`no` hold global numbers too.
 *
 * Leaf values are what a leaf adds to each target's margin: the leaf weights (summed per target),
 * already divided by the tree count for AVERAGE. The margin of a row is
 * `base[t] + Σ over trees of leafValues[leaf · targetCount + t]`.
 */
export class TreeEnsemble {
  /** `classifier` or `regressor` */
  readonly kind: 'classifier' | 'regressor';
  /** how many input features a row has (the input's width, at least the largest feature id + 1) */
  readonly featureCount: number;
  /** how many margins the ensemble computes (see `scoreLayout`) */
  readonly targetCount: number;
  readonly treeCount: number;
  readonly nodeCount: number;
  /** the longest root-to-leaf path, in edges */
  readonly maxDepth: number;
  /** where each tree's nodes start (length treeCount + 1) */
  readonly treeStart: Int32Array;
  /** the feature a node splits on, -1 for leaves */
  readonly feature: Int32Array;
  /** the split threshold (float32 values unless the file stored double thresholds) */
  readonly threshold: Float64Array;
  /** the split mode, an index into NODE_MODES (0 = LEAF) */
  readonly mode: Uint8Array;
  /** the child taken when the comparison holds */
  readonly yes: Int32Array;
  /** the child taken otherwise */
  readonly no: Int32Array;
  /** 1 where a missing value (NaN) takes the true branch */
  readonly missingTracksTrue: Uint8Array;
  /**
   * The file's hit rates per node when they are usable as covers (each inner node's rate equals
   * the sum of its children's), else null; `hitRatesIgnored` then says why, when the file had some.
   */
  readonly hitRates: Float64Array | null;
  readonly hitRatesIgnored: string | null;
  /** nodeCount × targetCount: what each leaf adds to each margin */
  readonly leafValues: Float64Array;
  /** the constant part of each margin (the file's base values) */
  readonly base: Float64Array;
  readonly aggregate: AggregateFunction;
  readonly postTransform: PostTransform;
  readonly scoreLayout: ScoreLayout;
  /** class labels of a classifier (numbers or strings), [] for a regressor */
  readonly classLabels: readonly (number | string)[];

  constructor(parts: TreeEnsembleParts) {
    this.kind = parts.kind;
    this.featureCount = parts.featureCount;
    this.targetCount = parts.targetCount;
    this.treeStart = parts.treeStart;
    this.treeCount = parts.treeStart.length - 1;
    this.nodeCount = parts.feature.length;
    this.feature = parts.feature;
    this.threshold = parts.threshold;
    this.mode = parts.mode;
    this.yes = parts.yes;
    this.no = parts.no;
    this.missingTracksTrue = parts.missingTracksTrue;
    this.hitRates = parts.hitRates;
    this.hitRatesIgnored = parts.hitRatesIgnored;
    this.leafValues = parts.leafValues;
    this.base = parts.base;
    this.aggregate = parts.aggregate;
    this.postTransform = parts.postTransform;
    this.scoreLayout = parts.scoreLayout;
    this.classLabels = parts.classLabels;
    this.maxDepth = depthOf(this);
  }

  /**
   * Build the ensemble of an ai.onnx.ml TreeEnsembleClassifier or TreeEnsembleRegressor node.
   * `featureCount` is the input's width when the graph declares it.
   *
   * @throws BerthError INVALID_ARGUMENT when the node is something else, is inconsistent (a child
   *   that does not exist, a node reached twice), or uses what TreeSHAP cannot explain exactly
   *   (MIN/MAX aggregation, binary layouts where onnxruntime's scores are not additive).
   */
  static fromOnnxNode(node: OnnxNode, options: { featureCount?: number } = {}): TreeEnsemble {
    return new TreeEnsemble(buildParts(node, options.featureCount));
  }

  /** Whether a row with `value` for this node's feature takes the true branch (onnxruntime's rule). */
  goesYes(node: number, value: number): boolean {
    const t = this.threshold[node]!;
    let r: boolean;
    switch (this.mode[node]) {
      case MODE_LEQ: r = value <= t; break;
      case MODE_LT: r = value < t; break;
      case MODE_GTE: r = value >= t; break;
      case MODE_GT: r = value > t; break;
      case MODE_EQ: r = value === t; break;
      default: r = value !== t; // BRANCH_NEQ: NaN != t holds, as in C++
    }
    return r || (this.missingTracksTrue[node] === 1 && value !== value);
  }

  /** The leaf of tree `tree` that the row starting at `rows[offset]` reaches. */
  leafOf(tree: number, rows: Float32Array, offset = 0): number {
    let node = this.treeStart[tree]!;
    const feature = this.feature;
    while (this.mode[node] !== MODE_LEAF) {
      node = this.goesYes(node, rows[offset + feature[node]!]!) ? this.yes[node]! : this.no[node]!;
    }
    return node;
  }

  /**
   * The margins (raw scores before the post-transform) of one row of float32 features, one per
   * target, written into `out` when given.
   */
  margin(row: Float32Array, out: Float64Array = new Float64Array(this.targetCount)): Float64Array {
    checkRow(this, row.length);
    return this.marginAt(row, 0, out);
  }

  /** The margins of n rows (row-major n × featureCount), as n × targetCount numbers. */
  margins(rows: Float32Array, n: number): Float64Array {
    checkRows(this, rows, n);
    const T = this.targetCount;
    const out = new Float64Array(n * T);
    const one = new Float64Array(T);
    for (let r = 0; r < n; r++) {
      this.marginAt(rows, r * this.featureCount, one);
      out.set(one, r * T);
    }
    return out;
  }

  /** @internal the margins of the row at `offset`, without checks */
  marginAt(rows: Float32Array, offset: number, out: Float64Array): Float64Array {
    const T = this.targetCount;
    for (let t = 0; t < T; t++) out[t] = this.base[t]!;
    for (let tree = 0; tree < this.treeCount; tree++) {
      const leaf = this.leafOf(tree, rows, offset);
      for (let t = 0; t < T; t++) out[t]! += this.leafValues[leaf * T + t]!;
    }
    return out;
  }

  /**
   * The model's score output for these margins, as onnxruntime computes it (probabilities of a
   * classifier, values of a regressor; see ScoreLayout). Computed in float64: onnxruntime works in
   * float32, so expect differences of float32 rounding.
   */
  scores(margins: ArrayLike<number>): Float64Array {
    const layout = this.scoreLayout;
    if (layout.kind === 'binary') {
      const m = margins[0]!;
      if (layout.secondClass === 'logistic') return Float64Array.of(logistic(-m), logistic(m));
      if (layout.secondClass === 'negate') return Float64Array.of(-m, m);
      return Float64Array.of(1 - m, m);
    }
    if (layout.kind === 'values' && this.targetCount === 1) {
      return Float64Array.of(this.postTransform === 'PROBIT' ? probit(margins[0]!) : margins[0]!);
    }
    return applyPostTransform(this.postTransform, margins);
  }

  /**
   * Which margin explains class `classIndex` (an index into classLabels) of a classifier: in the
   * `binary` layout both classes share margin 0, the first with sign −1.
   */
  classMargin(classIndex: number): ClassMargin {
    if (this.kind !== 'classifier') throw new BerthError('INVALID_ARGUMENT', 'a regressor has no classes; explain one of its targets instead');
    if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= this.classLabels.length) {
      throw new BerthError('INVALID_ARGUMENT', `class index ${classIndex} is out of range: the model has ${this.classLabels.length} classes`, { got: classIndex });
    }
    if (this.scoreLayout.kind === 'binary') return { target: 0, sign: classIndex === 1 ? 1 : -1 };
    return { target: classIndex, sign: 1 };
  }
}

/**
 * How many rows pass through each node (weighted when `weights` is given), for path-dependent
 * TreeSHAP when the file has no hit rates. `rows` is row-major n × featureCount float32.
 */
export function coversFrom(ensemble: TreeEnsemble, rows: Float32Array, n: number, weights?: ArrayLike<number>): Float64Array {
  checkRows(ensemble, rows, n);
  if (weights && weights.length !== n) throw new BerthError('INVALID_ARGUMENT', `covers: ${weights.length} weights for ${n} rows`);
  const covers = new Float64Array(ensemble.nodeCount);
  const { feature, mode, yes, no, treeStart } = ensemble;
  const M = ensemble.featureCount;
  for (let r = 0; r < n; r++) {
    const w = weights ? weights[r]! : 1;
    if (!(w >= 0) || !Number.isFinite(w)) throw new BerthError('INVALID_ARGUMENT', `covers: weight ${w} of row ${r} is not a finite number ≥ 0`);
    const offset = r * M;
    for (let tree = 0; tree < ensemble.treeCount; tree++) {
      let node = treeStart[tree]!;
      covers[node]! += w;
      while (mode[node] !== MODE_LEAF) {
        node = ensemble.goesYes(node, rows[offset + feature[node]!]!) ? yes[node]! : no[node]!;
        covers[node]! += w;
      }
    }
  }
  return covers;
}

/** A tree model found in an ONNX graph: the ensemble and how the graph feeds it. */
export interface TreeModel {
  readonly ensemble: TreeEnsemble;
  /** the graph's one input (float32, rows of featureCount) */
  readonly inputName: string;
  readonly featureCount: number;
  /** the graph output carrying the scores (probabilities or values) as a tensor, if any (not after ZipMap) */
  readonly scoreOutput: string | null;
  /** the graph output carrying a classifier's labels, if any */
  readonly labelOutput: string | null;
}

/** What `readTreeModel` found: the model, or why the graph is not one TreeSHAP can explain. */
export type TreeModelReading = { readonly model: TreeModel; readonly reason: null } | { readonly model: null; readonly reason: string };

/**
 * Read an ONNX file and decide whether TreeSHAP can explain it exactly: the graph must be one
 * ai.onnx.ml tree ensemble fed by the graph's single float input, with only Cast (to float or
 * double) or Identity nodes before it and ZipMap, Cast or Identity after it.
 *
 * @returns the model, or null and the reason
 * @throws BerthError INVALID_ARGUMENT when the bytes are not an ONNX model at all
 */
export function readTreeModel(bytes: Uint8Array): TreeModelReading {
  const model = readOnnxModel(bytes);
  return treeModelOfGraph(model.graph);
}

/**
 * The tree model in an ONNX file, or null when the graph is anything other than one tree
 * ensemble on one float input (see readTreeModel for the reason).
 *
 * @throws BerthError INVALID_ARGUMENT when the bytes are not an ONNX model at all
 */
export function treeModelOf(bytes: Uint8Array): TreeModel | null {
  return readTreeModel(bytes).model;
}

// ---------------------------------------------------------------------------------------------
// Finding the ensemble in a graph

const ENSEMBLE_OPS = new Set(['TreeEnsembleClassifier', 'TreeEnsembleRegressor']);
const ML_DOMAIN = 'ai.onnx.ml';
const ONNX_FLOAT = 1;
const ONNX_DOUBLE = 11;

function isStandardDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

function notTree(reason: string): TreeModelReading {
  return { model: null, reason };
}

function treeModelOfGraph(g: OnnxGraph): TreeModelReading {
  const initializers = new Set(g.initializers.map((t) => t.name));
  const inputs = g.inputs.filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) return notTree(`the graph has ${inputs.length} inputs; TreeSHAP needs exactly one float input`);
  const input = inputs[0]!;
  if (input.elemType !== ONNX_FLOAT) return notTree(`input "${input.name}" has element type ${input.elemType}, not float (1)`);
  if (input.shape && (input.shape.length < 1 || input.shape.length > 2)) {
    return notTree(`input "${input.name}" has ${input.shape.length} dimensions; a tree ensemble reads rows [N, M]`);
  }
  const width = input.shape ? input.shape[input.shape.length - 1] : undefined;
  const featureCount = typeof width === 'number' && width > 0 ? width : undefined;

  const ensembles = g.nodes.filter((n) => ENSEMBLE_OPS.has(n.opType) && n.domain === ML_DOMAIN);
  if (ensembles.length !== 1) return notTree(`the graph has ${ensembles.length} ai.onnx.ml tree ensembles; TreeSHAP needs exactly one`);
  const ens = ensembles[0]!;
  for (const n of g.nodes) {
    if (n === ens) continue;
    const allowed = ((n.opType === 'Cast' || n.opType === 'Identity') && isStandardDomain(n.domain)) || (n.opType === 'ZipMap' && n.domain === ML_DOMAIN);
    if (!allowed) return notTree(`node "${n.name || n.opType}" (${n.domain ? n.domain + '.' : ''}${n.opType}) is not part of a plain tree ensemble; only Cast, Identity and ZipMap may surround it`);
  }

  // Before the ensemble: a chain of Cast/Identity from the graph input.
  const producer = new Map<string, OnnxNode>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const before = new Set<OnnxNode>();
  let value = ens.inputs[0] ?? '';
  while (value !== input.name) {
    const p = producer.get(value);
    if (!p || p === ens || before.has(p) || p.opType === 'ZipMap') return notTree(`the ensemble's input "${value}" does not come from the graph input "${input.name}" through Cast or Identity`);
    if (p.opType === 'Cast') {
      const to = onnxAttribute(p, 'to')?.i;
      if (to !== ONNX_FLOAT && to !== ONNX_DOUBLE) return notTree(`Cast "${p.name}" before the ensemble converts to type ${to}; only float or double keep the values`);
    }
    before.add(p);
    value = p.inputs[0] ?? '';
  }

  // After the ensemble: every other node reads only what the ensemble (or nodes after it) made.
  const derived = new Set(ens.outputs);
  for (const n of g.nodes) {
    if (n === ens || before.has(n)) continue;
    if (!n.inputs.every((i) => i === '' || derived.has(i))) return notTree(`node "${n.name || n.opType}" does not follow the ensemble`);
    for (const o of n.outputs) derived.add(o);
  }
  for (const o of g.outputs) {
    if (!derived.has(o.name)) return notTree(`graph output "${o.name}" does not come from the ensemble`);
  }

  let ensemble: TreeEnsemble;
  try {
    ensemble = TreeEnsemble.fromOnnxNode(ens, featureCount === undefined ? {} : { featureCount });
  } catch (err) {
    if (err instanceof BerthError) return notTree(err.message);
    throw err;
  }
  const outputNames = new Set(g.outputs.map((o) => o.name));
  const follow = (start: string | undefined): string | null => {
    let v = start;
    for (let guard = 0; v !== undefined && v !== '' && guard <= g.nodes.length; guard++) {
      if (outputNames.has(v)) return v;
      const next = g.nodes.find((n) => (n.opType === 'Identity' || n.opType === 'Cast') && n.inputs[0] === v);
      v = next?.outputs[0];
    }
    return null;
  };
  const isClassifier = ens.opType === 'TreeEnsembleClassifier';
  return {
    model: {
      ensemble,
      inputName: input.name,
      featureCount: ensemble.featureCount,
      scoreOutput: follow(isClassifier ? ens.outputs[1] : ens.outputs[0]),
      labelOutput: isClassifier ? follow(ens.outputs[0]) : null,
    },
    reason: null,
  };
}

// ---------------------------------------------------------------------------------------------
// Building the ensemble from the node's attributes

function refuse(node: OnnxNode, message: string): never {
  throw new BerthError('INVALID_ARGUMENT', `${node.opType} "${node.name}": ${message}`);
}

function intsOf(node: OnnxNode, name: string): readonly number[] {
  return onnxAttribute(node, name)?.ints ?? [];
}

function stringOf(node: OnnxNode, name: string, fallback: string): string {
  const a = onnxAttribute(node, name);
  return a && a.type === 'STRING' ? a.s : fallback;
}

/** A float list attribute, or its `_as_tensor` twin (double precision) when the file has that. */
function numbersOf(node: OnnxNode, name: string): Float64Array {
  const asTensor = onnxAttribute(node, `${name}_as_tensor`);
  const plain = onnxAttribute(node, name);
  if (asTensor?.t && plain && plain.floats.length > 0) refuse(node, `both ${name} and ${name}_as_tensor are set`);
  if (asTensor?.t) return onnxTensorValues(asTensor.t);
  return Float64Array.from(plain?.floats ?? []);
}

const ID_LIMIT = 2 ** 26;

/** One number for (tree id, node id); ids must be integers in [0, 2^26) (onnxruntime reads them as int32). */
function nodeKey(node: OnnxNode, tree: number, id: number): number {
  if (!Number.isInteger(tree) || !Number.isInteger(id) || tree < 0 || id < 0 || tree >= ID_LIMIT || id >= ID_LIMIT) {
    refuse(node, `tree ${tree}, node ${id}: ids must be integers from 0 to ${ID_LIMIT - 1}`);
  }
  return tree * ID_LIMIT + id;
}

interface Weight {
  target: number;
  value: number;
}

function buildParts(node: OnnxNode, declaredWidth: number | undefined): TreeEnsembleParts {
  if (node.domain !== ML_DOMAIN || !ENSEMBLE_OPS.has(node.opType)) {
    throw new BerthError('INVALID_ARGUMENT', `node "${node.name}" is ${node.domain}.${node.opType}, not an ai.onnx.ml tree ensemble`);
  }
  const isClassifier = node.opType === 'TreeEnsembleClassifier';
  const treeIds = intsOf(node, 'nodes_treeids');
  const nodeIds = intsOf(node, 'nodes_nodeids');
  const featureIds = intsOf(node, 'nodes_featureids');
  const trueIds = intsOf(node, 'nodes_truenodeids');
  const falseIds = intsOf(node, 'nodes_falsenodeids');
  const modeNames = onnxAttribute(node, 'nodes_modes')?.strings ?? [];
  const values = numbersOf(node, 'nodes_values');
  const missing = intsOf(node, 'nodes_missing_value_tracks_true');
  const hitRatesRaw = numbersOf(node, 'nodes_hitrates');
  const n = treeIds.length;
  if (n === 0) refuse(node, 'the ensemble has no nodes');
  for (const [name, len] of [['nodes_nodeids', nodeIds.length], ['nodes_featureids', featureIds.length], ['nodes_truenodeids', trueIds.length], ['nodes_falsenodeids', falseIds.length], ['nodes_modes', modeNames.length], ['nodes_values', values.length]] as const) {
    if (len !== n) refuse(node, `${name} has ${len} entries, nodes_treeids ${n}`);
  }
  const modes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const m = NODE_MODES.indexOf(modeNames[i] as NodeMode);
    if (m < 0) refuse(node, `node ${i} has mode "${modeNames[i]}"; expected one of ${NODE_MODES.join(', ')}`);
    modes[i] = m;
  }

  const prefix = isClassifier ? 'class' : 'target';
  const wTree = intsOf(node, `${prefix}_treeids`);
  const wNode = intsOf(node, `${prefix}_nodeids`);
  const wTarget = intsOf(node, `${prefix}_ids`);
  const wValue = numbersOf(node, `${prefix}_weights`);
  if (wNode.length !== wTree.length || wTarget.length !== wTree.length || wValue.length !== wTree.length) {
    refuse(node, `${prefix}_treeids, _nodeids, _ids and _weights have ${wTree.length}, ${wNode.length}, ${wTarget.length} and ${wValue.length} entries`);
  }
  const baseValues = numbersOf(node, 'base_values');

  const postTransform = stringOf(node, 'post_transform', 'NONE') as PostTransform;
  if (!POST_TRANSFORMS.includes(postTransform)) refuse(node, `post_transform "${postTransform}" is not one of ${POST_TRANSFORMS.join(', ')}`);
  let aggregate: AggregateFunction = 'SUM';
  if (!isClassifier) {
    // onnxruntime's classifier always sums (the operator has no aggregate_function); the regressor reads it.
    const agg = stringOf(node, 'aggregate_function', 'SUM');
    if (agg === 'MIN' || agg === 'MAX') {
      refuse(node, `aggregate_function ${agg} takes one tree's value instead of adding them, so the model is not additive over trees and TreeSHAP cannot explain it exactly; use Kernel SHAP`);
    }
    if (agg !== 'SUM' && agg !== 'AVERAGE') refuse(node, `aggregate_function "${agg}" is not one of SUM, AVERAGE, MIN, MAX`);
    aggregate = agg;
  }

  // (tree id, node id) → attribute index
  const index = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = nodeKey(node, treeIds[i]!, nodeIds[i]!);
    if (index.has(key)) refuse(node, `node ${nodeIds[i]} of tree ${treeIds[i]} is listed twice`);
    index.set(key, i);
  }
  const childOf = (i: number, ids: readonly number[], which: string): number => {
    const c = index.get(nodeKey(node, treeIds[i]!, ids[i]!));
    if (c === undefined) refuse(node, `node ${nodeIds[i]} of tree ${treeIds[i]} points to ${which} node ${ids[i]}, which does not exist`);
    if (c === i) refuse(node, `node ${nodeIds[i]} of tree ${treeIds[i]} points to itself`);
    return c;
  };

  // Roots as onnxruntime finds them: the first node of each run of equal tree ids.
  const rootAttrs: number[] = [];
  for (let i = 0; i < n; i++) if (i === 0 || treeIds[i] !== treeIds[i - 1]) rootAttrs.push(i);

  // Lay the trees out depth-first, root first, and catch anything that is not a tree.
  const order: number[] = [];
  const treeStart = new Int32Array(rootAttrs.length + 1);
  const newIndexOfTree: Map<number, number>[] = [];
  for (let t = 0; t < rootAttrs.length; t++) {
    treeStart[t] = order.length;
    const seen = new Map<number, number>();
    const stack = [rootAttrs[t]!];
    while (stack.length) {
      const i = stack.pop()!;
      if (seen.has(i)) refuse(node, `node ${nodeIds[i]} of tree ${treeIds[i]} is reached twice: the nodes do not form a tree`);
      seen.set(i, order.length);
      order.push(i);
      if (order.length > n * rootAttrs.length) refuse(node, 'the trees are too large');
      if (modes[i] !== MODE_LEAF) {
        stack.push(childOf(i, falseIds, 'false'));
        stack.push(childOf(i, trueIds, 'true'));
      }
    }
    newIndexOfTree.push(seen);
  }
  treeStart[rootAttrs.length] = order.length;
  const count = order.length;

  const feature = new Int32Array(count);
  const threshold = new Float64Array(count);
  const mode = new Uint8Array(count);
  const yes = new Int32Array(count);
  const no = new Int32Array(count);
  const missingTracksTrue = new Uint8Array(count);
  let maxFeature = -1;
  for (let t = 0; t < rootAttrs.length; t++) {
    const map = newIndexOfTree[t]!;
    for (let k = treeStart[t]!; k < treeStart[t + 1]!; k++) {
      const i = order[k]!;
      mode[k] = modes[i]!;
      if (modes[i] === MODE_LEAF) {
        feature[k] = -1;
        yes[k] = -1;
        no[k] = -1;
        continue;
      }
      const f = featureIds[i]!;
      if (!Number.isInteger(f) || f < 0) refuse(node, `node ${nodeIds[i]} of tree ${treeIds[i]} splits on feature ${f}`);
      feature[k] = f;
      if (f > maxFeature) maxFeature = f;
      threshold[k] = values[i]!;
      yes[k] = map.get(childOf(i, trueIds, 'true'))!;
      no[k] = map.get(childOf(i, falseIds, 'false'))!;
      missingTracksTrue[k] = missing[i] === 1 ? 1 : 0;
    }
  }
  if (declaredWidth !== undefined && maxFeature >= declaredWidth) {
    refuse(node, `a split reads feature ${maxFeature}, but the input has ${declaredWidth} features`);
  }
  const featureCount = declaredWidth ?? maxFeature + 1;

  // Leaf weights per attribute index, in file order.
  const weightsOf = new Map<number, Weight[]>();
  let allPositive = true;
  const weightTargets = new Set<number>();
  for (let w = 0; w < wTree.length; w++) {
    weightTargets.add(wTarget[w]!);
    if (wValue[w]! < 0) allPositive = false;
    const i = index.get(nodeKey(node, wTree[w]!, wNode[w]!));
    if (i === undefined) refuse(node, `a weight names node ${wNode[w]} of tree ${wTree[w]}, which does not exist`);
    if (modes[i] !== MODE_LEAF) continue; // onnxruntime ignores weights on inner nodes
    let list = weightsOf.get(i);
    if (!list) weightsOf.set(i, (list = []));
    list.push({ target: wTarget[w]!, value: wValue[w]! });
  }

  let targetCount: number;
  let scoreLayout: ScoreLayout;
  let classLabels: (number | string)[] = [];
  let base: Float64Array;
  if (isClassifier) {
    const strings = onnxAttribute(node, 'classlabels_strings')?.strings ?? [];
    classLabels = strings.length > 0 ? [...strings] : [...intsOf(node, 'classlabels_int64s')];
    const C = classLabels.length;
    if (C < 2) refuse(node, `the classifier has ${C} class labels; expected at least 2`);
    for (const id of weightTargets) if (!Number.isInteger(id) || id < 0 || id >= C) refuse(node, `a class weight is for class ${id}, but there are ${C} classes`);
    if (baseValues.length > C) refuse(node, `base_values has ${baseValues.length} entries for ${C} classes`);
    if (C > 2) {
      targetCount = C;
      scoreLayout = { kind: 'classes' };
    } else {
      // onnxruntime's binary rules: whether class 1 has a score decides between two columns of
      // margins and one margin expanded to two columns. Accept only layouts fixed for every row.
      const class1 = class1Presence(treeStart, order, weightsOf);
      if (class1 === 'some rows') {
        refuse(node, 'class 1 has leaf weights in some trees only, so onnxruntime lays out the scores differently from row to row');
      }
      if (baseValues.length === 2) {
        // With class-1 weights onnxruntime's sources write class 0's sum into both columns; without
        // them they add base_values[1] to column 1, but onnxruntime-node 1.30 leaves it out. Either
        // way the layout is not one to explain exactly; Kernel SHAP runs the runtime itself.
        refuse(node, 'a binary classifier with two base values: onnxruntime versions disagree on how they apply to the scores, so TreeSHAP does not explain this layout; use Kernel SHAP');
      }
      if (class1 === 'always') {
        targetCount = 2;
        scoreLayout = { kind: 'classes' };
      } else {
        if (weightTargets.size !== 1) refuse(node, 'the binary classifier has no leaf weights');
        if (postTransform === 'PROBIT') refuse(node, 'a one-column binary classifier with PROBIT writes a single score; TreeSHAP does not explain that layout');
        targetCount = 1;
        scoreLayout = { kind: 'binary', secondClass: allPositive ? 'complement' : postTransform === 'LOGISTIC' ? 'logistic' : 'negate' };
      }
    }
    base = new Float64Array(targetCount);
    for (let k = 0; k < Math.min(targetCount, baseValues.length); k++) base[k] = baseValues[k]!;
  } else {
    targetCount = onnxAttribute(node, 'n_targets')?.i ?? 0;
    if (!Number.isInteger(targetCount) || targetCount < 1) refuse(node, `n_targets is ${targetCount}; expected at least 1`);
    if (targetCount > 1) for (const id of weightTargets) if (!Number.isInteger(id) || id < 0 || id >= targetCount) refuse(node, `a target weight is for target ${id}, but n_targets is ${targetCount}`);
    scoreLayout = { kind: 'values' };
    base = new Float64Array(targetCount);
    if (targetCount === 1) base[0] = baseValues.length === 1 ? baseValues[0]! : 0;
    else if (baseValues.length === targetCount) base.set(baseValues);
  }

  const leafValues = new Float64Array(count * targetCount);
  const scale = aggregate === 'AVERAGE' ? 1 / rootAttrs.length : 1;
  for (let k = 0; k < count; k++) {
    if (mode[k] !== MODE_LEAF) continue;
    const list = weightsOf.get(order[k]!);
    if (!list) continue;
    if (targetCount === 1 && !isClassifier) {
      // onnxruntime's one-target path takes a leaf's first weight, whatever its target id
      leafValues[k] = list[0]!.value * scale;
      continue;
    }
    for (const w of list) leafValues[k * targetCount + w.target]! += w.value;
    if (scale !== 1) for (let t = 0; t < targetCount; t++) leafValues[k * targetCount + t]! *= scale;
  }

  let hitRates: Float64Array | null = null;
  let hitRatesIgnored: string | null = null;
  if (hitRatesRaw.length > 0) {
    if (hitRatesRaw.length !== n) hitRatesIgnored = `nodes_hitrates has ${hitRatesRaw.length} entries for ${n} nodes`;
    else {
      const h = new Float64Array(count);
      for (let k = 0; k < count; k++) h[k] = hitRatesRaw[order[k]!]!;
      hitRatesIgnored = coverProblem(h, mode, yes, no, treeStart);
      if (hitRatesIgnored === null) hitRates = h;
    }
  }

  return {
    kind: isClassifier ? 'classifier' : 'regressor',
    featureCount,
    targetCount,
    treeStart,
    feature,
    threshold,
    mode,
    yes,
    no,
    missingTracksTrue,
    hitRates,
    hitRatesIgnored,
    leafValues,
    base,
    aggregate,
    postTransform,
    scoreLayout,
    classLabels,
  };
}

/** Whether a row always, never, or only sometimes reaches a leaf with a class-1 weight. */
function class1Presence(treeStart: Int32Array, order: number[], weightsOf: Map<number, Weight[]>): 'always' | 'never' | 'some rows' {
  let any = false;
  for (let t = 0; t + 1 < treeStart.length; t++) {
    let leaves = 0;
    let with1 = 0;
    for (let k = treeStart[t]!; k < treeStart[t + 1]!; k++) {
      const list = weightsOf.get(order[k]!);
      if (list === undefined) continue;
      leaves++;
      if (list.some((w) => w.target === 1)) with1++;
    }
    if (with1 > 0) any = true;
    if (leaves > 0 && with1 === leaves) return 'always';
  }
  return any ? 'some rows' : 'never';
}

/** Why hit rates cannot serve as covers (null when they can): each inner node must carry the sum of its children. */
function coverProblem(h: Float64Array, mode: Uint8Array, yes: Int32Array, no: Int32Array, treeStart: Int32Array): string | null {
  for (let k = 0; k < h.length; k++) {
    if (!(h[k]! >= 0) || !Number.isFinite(h[k]!)) return `node ${k} has hit rate ${h[k]}`;
    if (mode[k] === MODE_LEAF) continue;
    const sum = h[yes[k]!]! + h[no[k]!]!;
    if (Math.abs(h[k]! - sum) > 1e-6 * Math.max(1, h[k]!)) return `hit rates are not covers: an inner node has ${h[k]} but its children ${sum} (placeholder values?)`;
  }
  for (let t = 0; t + 1 < treeStart.length; t++) if (!(h[treeStart[t]!]! > 0)) return `the root of tree ${t} has hit rate 0`;
  return null;
}

function depthOf(e: TreeEnsemble): number {
  let max = 0;
  const depth = new Int32Array(e.nodeCount);
  // nodes are in depth-first order, parents before children
  for (let k = 0; k < e.nodeCount; k++) {
    if (e.mode[k] === MODE_LEAF) continue;
    const d = depth[k]! + 1;
    depth[e.yes[k]!] = d;
    depth[e.no[k]!] = d;
    if (d > max) max = d;
  }
  if (max > MAX_TREE_DEPTH) throw new BerthError('INVALID_ARGUMENT', `a tree is ${max} levels deep; TreeSHAP explains trees up to ${MAX_TREE_DEPTH} levels`);
  return max;
}

function checkRow(e: TreeEnsemble, length: number): void {
  if (length !== e.featureCount) throw new BerthError('INVALID_ARGUMENT', `a row has ${length} features; the model expects ${e.featureCount}`, { expected: e.featureCount, got: length });
}

function checkRows(e: TreeEnsemble, rows: Float32Array, n: number): void {
  if (!Number.isInteger(n) || n < 0 || rows.length !== n * e.featureCount) {
    throw new BerthError('INVALID_ARGUMENT', `expected ${n} rows of ${e.featureCount} features (${n * e.featureCount} numbers), got ${rows.length} numbers`, { expected: n * e.featureCount, got: rows.length });
  }
}

// ---------------------------------------------------------------------------------------------
// Post-transforms, as onnxruntime's ml_common.h computes them (in float64 here)

/** The logistic function, computed as onnxruntime does (stable for large |x|). */
export function logistic(x: number): number {
  const v = 1 / (1 + Math.exp(-Math.abs(x)));
  return x < 0 ? 1 - v : v;
}

/** onnxruntime's PROBIT: √2 · erfinv(2x − 1) with its closed-form erfinv approximation. */
export function probit(x: number): number {
  const y = 2 * x - 1;
  const sgn = y < 0 ? -1 : 1;
  const l = Math.log((1 - y) * (1 + y));
  const v = 2 / (Math.PI * 0.147) + 0.5 * l;
  const v2 = (1 / 0.147) * l;
  return Math.SQRT2 * sgn * Math.sqrt(-v + Math.sqrt(v * v - v2));
}

/** Apply a post-transform to a vector of margins (LOGISTIC and PROBIT element-wise, SOFTMAX over the vector). */
export function applyPostTransform(transform: PostTransform, margins: ArrayLike<number>): Float64Array {
  const n = margins.length;
  const out = Float64Array.from(margins);
  switch (transform) {
    case 'LOGISTIC':
      for (let k = 0; k < n; k++) out[k] = logistic(out[k]!);
      return out;
    case 'PROBIT':
      for (let k = 0; k < n; k++) out[k] = probit(out[k]!);
      return out;
    case 'SOFTMAX': {
      let max = -Infinity;
      for (let k = 0; k < n; k++) if (out[k]! > max) max = out[k]!;
      let sum = 0;
      for (let k = 0; k < n; k++) sum += out[k] = Math.exp(out[k]! - max);
      for (let k = 0; k < n; k++) out[k]! /= sum;
      return out;
    }
    case 'SOFTMAX_ZERO': {
      // like SOFTMAX, but margins of (about) zero stay zero and do not count
      let max = -Infinity;
      for (let k = 0; k < n; k++) if (out[k]! > max) max = out[k]!;
      const expNegMax = Math.exp(-max);
      let sum = 0;
      for (let k = 0; k < n; k++) {
        if (out[k]! > 1e-7 || out[k]! < -1e-7) sum += out[k] = Math.exp(out[k]! - max);
        else out[k] = out[k]! * expNegMax;
      }
      for (let k = 0; k < n; k++) out[k]! /= sum;
      return out;
    }
    default:
      return out;
  }
}

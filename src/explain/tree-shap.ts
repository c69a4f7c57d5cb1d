/**
 * Exact TreeSHAP for tree ensembles, in margin (raw score) space where trees add up.
 *
 * - Path-dependent: the Shapley values of v(S) = E[f(x) | x_S], where the expectation follows x
 *   on the features in S and otherwise splits between both children in proportion to their
 *   covers (Lundberg, Erion & Lee 2018, "Consistent individualized feature attribution for tree
 *   ensembles", Algorithm 2: polynomial time, one pass per tree keeping, along the path, how many
 *   ways each subset size can be formed).
 * - Interventional: for each background row b, the Shapley values of v(S) = f(x_S, b_¬S),
 *   computed exactly per tree by walking it with x and b at once; averaged over the background
 *   (weighted when weights are given).
 *
 * Both give base + Σ contributions = margin of x, up to float64 rounding.
 */
import { BerthError } from '../core/index.js';
import type { PostTransform, ScoreLayout, TreeEnsemble } from './trees.js';

/** One target's explanation: base + Σ contributions = margin. */
export interface TreeShapTarget {
  /** the expected margin: cover-weighted (path-dependent) or the background mean (interventional) */
  readonly base: number;
  /** one contribution per input feature */
  readonly contributions: Float64Array;
  /** the margin of the explained row */
  readonly margin: number;
}

/** What TreeSHAP returns for one row. */
export interface TreeShapExplanation {
  readonly method: 'path-dependent' | 'interventional';
  /** one entry per margin of the ensemble (see TreeEnsemble.scoreLayout, classMargin) */
  readonly targets: readonly TreeShapTarget[];
  /** the model's scores for the row (probabilities of a classifier), from the margins */
  readonly scores: Float64Array;
  /** applied by the model to the margins; the explanation itself is in margin space */
  readonly postTransform: PostTransform;
  readonly scoreLayout: ScoreLayout;
}

/** Background rows for interventional TreeSHAP: row-major n × featureCount float32, optionally weighted. */
export interface TreeShapBackground {
  readonly rows: Float32Array;
  readonly n: number;
  /** one weight ≥ 0 per row (default: all equal) */
  readonly weights?: ArrayLike<number>;
}

/** Options of a TreeShap explainer. */
export interface TreeShapOptions {
  /**
   * Rows (or weight) through each node, from `coversFrom` over reference data. Path-dependent
   * TreeSHAP uses these, else the file's hit rates; without either it refuses.
   */
  readonly covers?: Float64Array;
}

const MODE_LEAF = 0;

/**
 * A background ready for interventional TreeSHAP. Per tree, background rows that take the same
 * direction at every inner node give the same walk, so they form one group whose weight is the
 * sum of theirs: the walks per explained row drop from n to the number of groups.
 */
interface PreparedBackground {
  readonly n: number;
  /** the caller's weights array (by identity), to find this preparation again */
  readonly given: ArrayLike<number> | undefined;
  /** each row's direction at every node, n × nodeCount */
  readonly goesYes: Uint8Array;
  /** weighted mean margin per target */
  readonly base: Float64Array;
  /** tree t's groups are groupStart[t] … groupStart[t + 1] − 1 */
  readonly groupStart: Int32Array;
  /** where a group's representative row starts in goesYes */
  readonly groupOffset: Int32Array;
  /** the group's total weight (weights normalised to sum 1) */
  readonly groupWeight: Float64Array;
}

/**
 * Exact TreeSHAP for one ensemble. It keeps scratch space between calls, so reuse one instance
 * for many rows; it is not safe to share one instance across concurrent workers.
 *
 * @example
 * const shap = new TreeShap(model.ensemble, { covers: coversFrom(model.ensemble, reference, n) });
 * const e = shap.pathDependent(row); // e.targets[0].base + Σ e.targets[0].contributions === e.targets[0].margin
 */
export class TreeShap {
  readonly ensemble: TreeEnsemble;
  private readonly covers: Float64Array | null;
  private fracYes: Float64Array | null = null;
  private fracNo: Float64Array | null = null;
  private expected: Float64Array | null = null;
  // path-dependent scratch: one path per recursion level, each of up to maxDepth + 2 elements
  private readonly stride: number;
  private pathFeature: Int32Array | null = null;
  private pathZero: Float64Array | null = null;
  private pathOne: Float64Array | null = null;
  private pathWeight: Float64Array | null = null;
  // shared scratch
  private readonly xGoesYes: Uint8Array;
  private readonly phi: Float64Array;
  // interventional scratch
  private readonly state: Uint8Array;
  private readonly listA: Int32Array;
  private readonly listB: Int32Array;
  private readonly shapleyWeight: Float64Array;
  private readonly prepared = new WeakMap<Float32Array, PreparedBackground[]>();

  constructor(ensemble: TreeEnsemble, options: TreeShapOptions = {}) {
    this.ensemble = ensemble;
    if (options.covers && options.covers.length !== ensemble.nodeCount) {
      throw new BerthError('INVALID_ARGUMENT', `covers has ${options.covers.length} entries; the ensemble has ${ensemble.nodeCount} nodes`);
    }
    this.covers = options.covers ?? ensemble.hitRates;
    const D = ensemble.maxDepth;
    this.stride = D + 2;
    this.xGoesYes = new Uint8Array(ensemble.nodeCount);
    this.phi = new Float64Array(ensemble.featureCount * ensemble.targetCount);
    this.state = new Uint8Array(ensemble.featureCount);
    this.listA = new Int32Array(D + 1);
    this.listB = new Int32Array(D + 1);
    // shapleyWeight[p · (D + 1) + q] = p! q! / (p + q + 1)!: the Shapley weight of a coalition of p
    // players out of the p + q others, in a game of p + q + 1 players
    this.shapleyWeight = new Float64Array((D + 1) * (D + 1));
    for (let q = 0; q <= D; q++) {
      let w = 1 / (q + 1);
      for (let p = 0; p + q <= D; p++) {
        if (p > 0) w *= p / (p + q + 1);
        this.shapleyWeight[p * (D + 1) + q] = w;
      }
    }
  }

  /** Whether path-dependent TreeSHAP has covers (given, or the file's hit rates). */
  get hasCovers(): boolean {
    return this.covers !== null;
  }

  /**
   * The cover-weighted mean margin per target: the base of path-dependent explanations (with
   * covers counted from reference data, the mean margin over that data).
   */
  expectedMargins(): Float64Array {
    this.preparePathDependent();
    return this.expected!.slice();
  }

  /**
   * Path-dependent TreeSHAP of one row (float32, featureCount values).
   *
   * @throws BerthError INVALID_ARGUMENT without covers, or for a row of the wrong length
   */
  pathDependent(x: Float32Array): TreeShapExplanation {
    this.checkRow(x);
    this.preparePathDependent();
    const e = this.ensemble;
    this.fillDirections(x, 0, this.xGoesYes, 0);
    this.phi.fill(0);
    for (let tree = 0; tree < e.treeCount; tree++) this.recurse(e.treeStart[tree]!, 0, 0, 1, 1, -1);
    return this.explanation('path-dependent', this.expected!, e.marginAt(x, 0, new Float64Array(e.targetCount)));
  }

  /**
   * Interventional TreeSHAP of one row against background rows: the weighted mean over the
   * background of the exact Shapley values of v(S) = f(x_S, b_¬S). What the background needs
   * (each row's direction at every node, its margin) is computed once and cached by the identity
   * of `background.rows` and `background.weights`: reuse the same arrays, and do not change them
   * in place afterwards.
   *
   * @throws BerthError INVALID_ARGUMENT for an empty background, bad weights or wrong lengths
   */
  interventional(x: Float32Array, background: TreeShapBackground): TreeShapExplanation {
    this.checkRow(x);
    const bg = this.prepareBackground(background);
    const e = this.ensemble;
    this.fillDirections(x, 0, this.xGoesYes, 0);
    this.phi.fill(0);
    for (let tree = 0; tree < e.treeCount; tree++) {
      const root = e.treeStart[tree]!;
      for (let g = bg.groupStart[tree]!; g < bg.groupStart[tree + 1]!; g++) this.walk(root, bg.goesYes, bg.groupOffset[g]!, 0, 0, bg.groupWeight[g]!);
    }
    return this.explanation('interventional', bg.base, e.marginAt(x, 0, new Float64Array(e.targetCount)));
  }

  // -------------------------------------------------------------------------------------------

  private checkRow(x: Float32Array): void {
    if (x.length !== this.ensemble.featureCount) {
      throw new BerthError('INVALID_ARGUMENT', `the row has ${x.length} features; the model expects ${this.ensemble.featureCount}`, {
        expected: this.ensemble.featureCount,
        got: x.length,
      });
    }
  }

  private explanation(method: TreeShapExplanation['method'], base: Float64Array, margin: Float64Array): TreeShapExplanation {
    const e = this.ensemble;
    const T = e.targetCount;
    const M = e.featureCount;
    const targets: TreeShapTarget[] = [];
    for (let t = 0; t < T; t++) {
      const contributions = new Float64Array(M);
      for (let f = 0; f < M; f++) contributions[f] = this.phi[f * T + t]!;
      targets.push({ base: base[t]!, contributions, margin: margin[t]! });
    }
    return { method, targets, scores: e.scores(margin), postTransform: e.postTransform, scoreLayout: e.scoreLayout };
  }

  /** For every inner node, whether the row at `rowOffset` takes its true branch (1) or not (0). */
  private fillDirections(rows: Float32Array, rowOffset: number, out: Uint8Array, outOffset: number): void {
    const e = this.ensemble;
    for (let k = 0; k < e.nodeCount; k++) {
      out[outOffset + k] = e.mode[k] !== MODE_LEAF && e.goesYes(k, rows[rowOffset + e.feature[k]!]!) ? 1 : 0;
    }
  }

  // ----- path-dependent ----------------------------------------------------------------------

  private preparePathDependent(): void {
    if (this.expected) return;
    const covers = this.covers;
    if (!covers) {
      throw new BerthError(
        'INVALID_ARGUMENT',
        `path-dependent TreeSHAP needs node covers: the model file has no usable hit rates${this.ensemble.hitRatesIgnored ? ` (${this.ensemble.hitRatesIgnored})` : ''}; count them from reference data with coversFrom, or use interventional TreeSHAP with a background`,
      );
    }
    const e = this.ensemble;
    const fracYes = new Float64Array(e.nodeCount);
    const fracNo = new Float64Array(e.nodeCount);
    for (let k = 0; k < e.nodeCount; k++) {
      if (e.mode[k] === MODE_LEAF) continue;
      const cy = covers[e.yes[k]!]!;
      const cn = covers[e.no[k]!]!;
      if (!(cy >= 0 && cn >= 0 && Number.isFinite(cy + cn))) {
        throw new BerthError('INVALID_ARGUMENT', `covers must be finite numbers ≥ 0; node ${k}'s children have ${cy} and ${cn}`);
      }
      const sum = cy + cn;
      // a node no reference row reached splits evenly: any split keeps the explanation additive
      fracYes[k] = sum > 0 ? cy / sum : 0.5;
      fracNo[k] = sum > 0 ? cn / sum : 0.5;
    }
    // expected margin: each leaf weighted by the product of the fractions on its path
    const T = e.targetCount;
    const expected = Float64Array.from(e.base);
    const reach = new Float64Array(e.nodeCount);
    for (let tree = 0; tree < e.treeCount; tree++) {
      reach[e.treeStart[tree]!] = 1;
      for (let k = e.treeStart[tree]!; k < e.treeStart[tree + 1]!; k++) {
        if (e.mode[k] === MODE_LEAF) {
          for (let t = 0; t < T; t++) expected[t]! += reach[k]! * e.leafValues[k * T + t]!;
        } else {
          reach[e.yes[k]!] = reach[k]! * fracYes[k]!;
          reach[e.no[k]!] = reach[k]! * fracNo[k]!;
        }
      }
    }
    const size = (e.maxDepth + 1) * this.stride;
    this.pathFeature = new Int32Array(size);
    this.pathZero = new Float64Array(size);
    this.pathOne = new Float64Array(size);
    this.pathWeight = new Float64Array(size);
    this.fracYes = fracYes;
    this.fracNo = fracNo;
    this.expected = expected;
  }

  /**
   * Algorithm 2's RECURSE. The path of this level is the parent's (`parentLength` elements at
   * level − 1) extended by (feature, zero fraction, one fraction); index 0 is a placeholder root.
   */
  private recurse(node: number, level: number, parentLength: number, zero: number, one: number, feature: number): void {
    const D = this.pathFeature!;
    const Z = this.pathZero!;
    const O = this.pathOne!;
    const W = this.pathWeight!;
    const off = level * this.stride;
    if (level > 0) {
      const parent = off - this.stride;
      for (let k = 0; k < parentLength; k++) {
        D[off + k] = D[parent + k]!;
        Z[off + k] = Z[parent + k]!;
        O[off + k] = O[parent + k]!;
        W[off + k] = W[parent + k]!;
      }
    }
    // EXTEND by one element
    const l = parentLength;
    D[off + l] = feature;
    Z[off + l] = zero;
    O[off + l] = one;
    W[off + l] = l === 0 ? 1 : 0;
    for (let i = l - 1; i >= 0; i--) {
      W[off + i + 1]! += (one * W[off + i]! * (i + 1)) / (l + 1);
      W[off + i] = (zero * W[off + i]! * (l - i)) / (l + 1);
    }
    let length = l + 1;

    const e = this.ensemble;
    if (e.mode[node] === MODE_LEAF) {
      const T = e.targetCount;
      const leaf = node * T;
      for (let i = 1; i < length; i++) {
        const w = this.unwoundSum(off, length, i) * (O[off + i]! - Z[off + i]!);
        const base = D[off + i]! * T;
        for (let t = 0; t < T; t++) this.phi[base + t]! += w * e.leafValues[leaf + t]!;
      }
      return;
    }

    const f = e.feature[node]!;
    const hotIsYes = this.xGoesYes[node] === 1;
    const hot = hotIsYes ? e.yes[node]! : e.no[node]!;
    const cold = hotIsYes ? e.no[node]! : e.yes[node]!;
    const hotFrac = hotIsYes ? this.fracYes![node]! : this.fracNo![node]!;
    const coldFrac = hotIsYes ? this.fracNo![node]! : this.fracYes![node]!;
    let incomingZero = 1;
    let incomingOne = 1;
    // a feature already on the path is taken off it; its fractions carry into the new element
    for (let k = 1; k < length; k++) {
      if (D[off + k] === f) {
        incomingZero = Z[off + k]!;
        incomingOne = O[off + k]!;
        this.unwind(off, length, k);
        length--;
        break;
      }
    }
    // a branch with both fractions 0 adds nothing (and would divide 0 by 0 when unwound)
    if (incomingZero * hotFrac !== 0 || incomingOne !== 0) this.recurse(hot, level + 1, length, incomingZero * hotFrac, incomingOne, f);
    if (incomingZero * coldFrac !== 0) this.recurse(cold, level + 1, length, incomingZero * coldFrac, 0, f);
  }

  /** Algorithm 2's UNWIND, in place: remove element i from the path of `length` elements at `off`. */
  private unwind(off: number, length: number, i: number): void {
    const D = this.pathFeature!;
    const Z = this.pathZero!;
    const O = this.pathOne!;
    const W = this.pathWeight!;
    const one = O[off + i]!;
    const zero = Z[off + i]!;
    let next = W[off + length - 1]!;
    for (let j = length - 2; j >= 0; j--) {
      if (one !== 0) {
        const t = W[off + j]!;
        W[off + j] = (next * length) / ((j + 1) * one);
        next = t - (W[off + j]! * zero * (length - 1 - j)) / length;
      } else {
        W[off + j] = (W[off + j]! * length) / (zero * (length - 1 - j));
      }
    }
    for (let j = i; j < length - 1; j++) {
      D[off + j] = D[off + j + 1]!;
      Z[off + j] = Z[off + j + 1]!;
      O[off + j] = O[off + j + 1]!;
    }
  }

  /** The sum of the weights UNWIND(path, i) would leave, without changing the path. */
  private unwoundSum(off: number, length: number, i: number): number {
    const Z = this.pathZero!;
    const O = this.pathOne!;
    const W = this.pathWeight!;
    const one = O[off + i]!;
    const zero = Z[off + i]!;
    let total = 0;
    if (one !== 0) {
      let next = W[off + length - 1]!;
      for (let j = length - 2; j >= 0; j--) {
        const w = (next * length) / ((j + 1) * one);
        total += w;
        next = W[off + j]! - (w * zero * (length - 1 - j)) / length;
      }
    } else {
      for (let j = length - 2; j >= 0; j--) total += (W[off + j]! * length) / (zero * (length - 1 - j));
    }
    return total;
  }

  // ----- interventional ----------------------------------------------------------------------

  private prepareBackground(background: TreeShapBackground): PreparedBackground {
    const e = this.ensemble;
    const { rows, n } = background;
    if (!Number.isInteger(n) || n < 1) throw new BerthError('INVALID_ARGUMENT', `the background needs at least one row, got ${n}`);
    if (rows.length !== n * e.featureCount) {
      throw new BerthError('INVALID_ARGUMENT', `the background should hold ${n} rows of ${e.featureCount} features (${n * e.featureCount} numbers), got ${rows.length}`);
    }
    const given = background.weights;
    if (given && given.length !== n) throw new BerthError('INVALID_ARGUMENT', `the background has ${n} rows but ${given.length} weights`);
    const cached = this.prepared.get(rows)?.find((p) => p.n === n && p.given === given);
    if (cached) return cached;

    const weights = new Float64Array(n);
    let total = 0;
    for (let b = 0; b < n; b++) {
      const w = given ? given[b]! : 1;
      if (!(w >= 0) || !Number.isFinite(w)) throw new BerthError('INVALID_ARGUMENT', `background weight ${b} is ${w}; weights must be finite and ≥ 0`);
      weights[b] = w;
      total += w;
    }
    if (!(total > 0)) throw new BerthError('INVALID_ARGUMENT', 'the background weights sum to 0');
    for (let b = 0; b < n; b++) weights[b]! /= total;

    const goesYes = new Uint8Array(n * e.nodeCount);
    const T = e.targetCount;
    const base = new Float64Array(T);
    const margin = new Float64Array(T);
    for (let b = 0; b < n; b++) {
      this.fillDirections(rows, b * e.featureCount, goesYes, b * e.nodeCount);
      e.marginAt(rows, b * e.featureCount, margin);
      for (let t = 0; t < T; t++) base[t]! += weights[b]! * margin[t]!;
    }
    const groupStart = new Int32Array(e.treeCount + 1);
    const groupOffset: number[] = [];
    const groupWeight: number[] = [];
    for (let tree = 0; tree < e.treeCount; tree++) {
      groupStart[tree] = groupOffset.length;
      const groups = new Map<number | string, number>();
      const first = e.treeStart[tree]!;
      const end = e.treeStart[tree + 1]!;
      // the directions at the tree's inner nodes as one key: bits of a number while they fit in 52
      const small = end - first <= 52;
      for (let b = 0; b < n; b++) {
        if (weights[b] === 0) continue;
        const offset = b * e.nodeCount;
        let key: number | string = small ? 0 : '';
        for (let k = first; k < end; k++) {
          if (e.mode[k] === MODE_LEAF) continue;
          if (small) key = (key as number) * 2 + goesYes[offset + k]!;
          else key += goesYes[offset + k] === 1 ? '1' : '0';
        }
        const g = groups.get(key);
        if (g === undefined) {
          groups.set(key, groupOffset.length);
          groupOffset.push(offset);
          groupWeight.push(weights[b]!);
        } else groupWeight[g]! += weights[b]!;
      }
    }
    groupStart[e.treeCount] = groupOffset.length;
    const prepared: PreparedBackground = {
      n,
      given,
      goesYes,
      base,
      groupStart,
      groupOffset: Int32Array.from(groupOffset),
      groupWeight: Float64Array.from(groupWeight),
    };
    const list = this.prepared.get(rows) ?? [];
    if (list.length >= 4) list.shift();
    list.push(prepared);
    this.prepared.set(rows, list);
    return prepared;
  }

  /**
   * Walk one tree with x and one background row b. Where they part, the feature is assigned to
   * x (A) on one side and to b (B) on the other; a feature met again follows its assignment. A
   * leaf reached with |A| = a and |B| = c is worth its value exactly to the coalitions that hold
   * all of A and none of B. In that game each feature of A has Shapley value (a−1)! c! / (a+c)!
   * times the leaf value, and each feature of B minus a! (c−1)! / (a+c)! times it.
   */
  private walk(node: number, bGoesYes: Uint8Array, bOffset: number, a: number, c: number, weight: number): void {
    const e = this.ensemble;
    const mode = e.mode;
    const yes = e.yes;
    const no = e.no;
    const x = this.xGoesYes;
    const state = this.state;
    // follow the stretch where x and b agree, or where the feature is already assigned
    while (mode[node] !== MODE_LEAF) {
      const xy = x[node]!;
      const by = bGoesYes[bOffset + node]!;
      if (xy !== by) {
        const f = e.feature[node]!;
        const s = state[f]!;
        if (s === 0) {
          const xChild = xy === 1 ? yes[node]! : no[node]!;
          const bChild = by === 1 ? yes[node]! : no[node]!;
          state[f] = 1;
          this.listA[a] = f;
          this.walk(xChild, bGoesYes, bOffset, a + 1, c, weight);
          state[f] = 2;
          this.listB[c] = f;
          this.walk(bChild, bGoesYes, bOffset, a, c + 1, weight);
          state[f] = 0;
          return;
        }
        node = (s === 1 ? xy : by) === 1 ? yes[node]! : no[node]!;
      } else node = xy === 1 ? yes[node]! : no[node]!;
    }
    if (a + c === 0) return; // x and b share this leaf: no feature makes a difference
    const T = e.targetCount;
    const values = e.leafValues;
    const phi = this.phi;
    const stride = e.maxDepth + 1;
    const leaf = node * T;
    if (a > 0) {
      const w = weight * this.shapleyWeight[(a - 1) * stride + c]!;
      for (let k = 0; k < a; k++) {
        const base = this.listA[k]! * T;
        for (let t = 0; t < T; t++) phi[base + t]! += w * values[leaf + t]!;
      }
    }
    if (c > 0) {
      const w = weight * this.shapleyWeight[a * stride + c - 1]!;
      for (let k = 0; k < c; k++) {
        const base = this.listB[k]! * T;
        for (let t = 0; t < T; t++) phi[base + t]! -= w * values[leaf + t]!;
      }
    }
  }
}

/**
 * Path-dependent TreeSHAP of one row, with covers from `coversFrom` or else the file's hit rates.
 * For many rows, make one `TreeShap` and call `pathDependent` on it.
 */
export function pathDependentTreeShap(ensemble: TreeEnsemble, x: Float32Array, covers?: Float64Array): TreeShapExplanation {
  return new TreeShap(ensemble, covers ? { covers } : {}).pathDependent(x);
}

/**
 * Interventional TreeSHAP of one row against a background. For many rows, make one `TreeShap`
 * and call `interventional` on it (the background's preparation is then cached).
 */
export function interventionalTreeShap(ensemble: TreeEnsemble, x: Float32Array, background: TreeShapBackground): TreeShapExplanation {
  return new TreeShap(ensemble).interventional(x, background);
}

import { BerthError } from '../core/index.js';
import { createSeededRandom, type Background, type SeededRandom } from './background.js';
import { solveSymmetric } from './linear-algebra.js';

/** A model as the explainers see it: M features, rows of M numbers (categories as codes). */
export interface ExplainableModel {
  readonly featureCount: number;
  /**
   * the explained scalar of each of n rows (row-major n × M), in output space. `rows` belongs to
   * the caller, who may overwrite it once the promise settles: copy it to keep it longer.
   */
  predict(rows: Float32Array, n: number): Promise<Float64Array>;
}

/**
 * The space contributions add up in: `identity` (the model's output) or `logit` (log-odds of a
 * probability output; values are clamped to [1e-15, 1 − 1e-15] first).
 */
export const SHAP_LINKS = ['identity', 'logit'] as const;
export type ShapLink = (typeof SHAP_LINKS)[number];

/** Options of `kernelShap`. */
export interface KernelShapOptions {
  /** coalitions to evaluate (default 2,048); each costs one model row per background row */
  budget?: number;
  /** `identity` (default) or `logit` */
  link?: ShapLink;
  /** seed of the coalition sampling (default 0); same inputs and seed, same answer */
  seed?: number;
  /** sample coalitions in complementary pairs (S, ¬S) (default true) */
  paired?: boolean;
  /** the most rows in one `predict` call (default 262,144; fewer when 64 MiB of rows would not hold them) */
  maxRowsPerCall?: number;
}

/** Options of `exactShapley`. */
export interface ExactShapleyOptions {
  link?: ShapLink;
  maxRowsPerCall?: number;
}

/** One row's explanation. In link space, base + Σ contributions = prediction. */
export interface ShapleyExplanation {
  /** the link of the background's weighted mean output: v(∅) */
  base: number;
  /** one per feature, in the model's feature order */
  contributions: Float64Array;
  /** the link of f(x): v(all features) */
  prediction: number;
  /** f(x) in output space (a probability when link is logit) */
  output: number;
  link: ShapLink;
  /** model rows evaluated */
  evaluations: number;
  /** coalitions evaluated, besides the empty and the full one */
  coalitions: number;
  /** true when every coalition was evaluated: the contributions are the exact Shapley values of v */
  exact: boolean;
  /**
   * the sampled estimate's standard error per feature (delete-a-group jackknife over the sampled
   * coalitions), absent when the answer is exact or fewer than two draws were sampled
   */
  standardErrors?: Float64Array;
}

const DEFAULT_BUDGET = 2048;
const DEFAULT_MAX_ROWS_PER_CALL = 262_144;
const MAX_BUDGET = 1 << 24;
/** the most values in one call's row buffer (64 MiB of float32), whatever maxRowsPerCall says */
const MAX_CHUNK_VALUES = 1 << 24;
const EXACT_MAX_FEATURES = 16;
const JACKKNIFE_GROUPS = 16;
const LOGIT_EPS = 1e-15;

/**
 * Kernel SHAP: the Shapley values of v(S) = link(E_b f(x_S, b_¬S)) over a weighted background,
 * for any model.
 *
 * Features whose value in x equals every background row's are left out (they get exactly 0:
 * no coalition can tell them apart). When the 2^m − 2 coalitions of the m remaining features
 * fit in `budget`, all are evaluated and the Shapley formula applied to them (`exact: true`).
 * Otherwise coalition sizes are enumerated from the outside in (sizes 1 and m−1 first) while the
 * budget covers a whole size at its Shapley kernel weight, and the rest are sampled: a size by
 * its kernel weight, then a uniform subset of it, with its complement when `paired`. The values
 * come from one Float32Array of coalition × background rows, evaluated in as few `predict` calls
 * as `maxRowsPerCall` allows, and the contributions from a weighted least squares in which one
 * variable is eliminated so that base + Σ contributions = prediction holds exactly. The
 * standard errors come from refitting with each of 16 groups of sampled coalitions left out.
 *
 * @example
 * const e = await kernelShap(model, row, background, { budget: 2048, link: 'logit', seed: 1 });
 * // e.base + sum(e.contributions) === e.prediction (to rounding)
 */
export async function kernelShap(
  model: ExplainableModel,
  x: Float32Array,
  background: Background,
  options: KernelShapOptions = {},
): Promise<ShapleyExplanation> {
  const M = checkInputs(model, x, background);
  const budget = options.budget ?? DEFAULT_BUDGET;
  if (!Number.isInteger(budget) || budget < 1 || budget > MAX_BUDGET) {
    throw new BerthError('INVALID_ARGUMENT', `budget must be an integer from 1 to ${MAX_BUDGET} coalitions, got ${budget}`, { field: 'budget', got: budget });
  }
  const link = checkLink(options.link);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new BerthError('INVALID_ARGUMENT', `seed must be an integer from 0 to 4294967295, got ${seed}`, { field: 'seed', got: seed });
  }
  const paired = options.paired ?? true;
  const maxRowsPerCall = checkMaxRows(options.maxRowsPerCall);

  const varying = varyingFeatures(x, background);
  const m = varying.length;

  if (m < 31 && 2 ** m - 2 <= budget) {
    // every coalition of the varying features: masks 1 … 2^m − 2 in order
    const count = Math.max(0, 2 ** m - 2);
    const set = new CoalitionBuilder(m, count);
    const mark = new Uint8Array(m);
    for (let mask = 1; mask <= count; mask++) {
      for (let j = 0; j < m; j++) mark[j] = (mask >>> j) & 1;
      set.add(mark);
    }
    const ev = await evaluateCoalitions(model, x, background, set.toCsr(varying), link, maxRowsPerCall);
    const values = new Float64Array(2 ** m);
    values[0] = ev.base;
    values[values.length - 1] = ev.prediction;
    values.set(ev.values, 1);
    const phi = shapleyFromValues(values, m);
    const contributions = new Float64Array(M);
    for (let j = 0; j < m; j++) contributions[varying[j]!] = phi[j]!;
    return {
      base: ev.base,
      contributions,
      prediction: ev.prediction,
      output: ev.output,
      link,
      evaluations: ev.evaluations,
      coalitions: count,
      exact: true,
    };
  }

  if (budget < m) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `budget must be at least the number of features whose value differs from the background (${m}) for the fit to be determined, got ${budget}`,
      { field: 'budget', expected: `≥ ${m}`, got: budget },
    );
  }
  const plan = planCoalitions(m, budget, paired, createSeededRandom(seed));
  const ev = await evaluateCoalitions(model, x, background, plan.set.toCsr(varying), link, maxRowsPerCall);
  const fit = fitContributions(plan, ev, m);
  const contributions = new Float64Array(M);
  for (let j = 0; j < m; j++) contributions[varying[j]!] = fit.phi[j]!;
  const result: ShapleyExplanation = {
    base: ev.base,
    contributions,
    prediction: ev.prediction,
    output: ev.output,
    link,
    evaluations: ev.evaluations,
    coalitions: plan.set.count,
    exact: false,
  };
  if (fit.se) {
    const standardErrors = new Float64Array(M);
    for (let j = 0; j < m; j++) standardErrors[varying[j]!] = fit.se[j]!;
    result.standardErrors = standardErrors;
  }
  return result;
}

/**
 * The exact Shapley values of v(S) = link(E_b f(x_S, b_¬S)) by brute force: every one of the 2^M
 * coalitions (the empty and the full one included) is evaluated against the whole background,
 * and φ_i = Σ_{S ∌ i} |S|!(M−|S|−1)!/M! · (v(S ∪ {i}) − v(S)). No shortcut is taken, so it serves
 * as a cross-check of `kernelShap`. Refuses models of more than 16 features (INVALID_ARGUMENT).
 */
export async function exactShapley(
  model: ExplainableModel,
  x: Float32Array,
  background: Background,
  options: ExactShapleyOptions = {},
): Promise<ShapleyExplanation> {
  const M = checkInputs(model, x, background);
  if (M > EXACT_MAX_FEATURES) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `exact Shapley values evaluate all 2^M coalitions and are limited to ${EXACT_MAX_FEATURES} features; this model has ${M} (use kernelShap)`,
      { field: 'featureCount', expected: `≤ ${EXACT_MAX_FEATURES}`, got: M },
    );
  }
  const link = checkLink(options.link);
  const maxRowsPerCall = checkMaxRows(options.maxRowsPerCall);
  const all = new Int32Array(M);
  for (let j = 0; j < M; j++) all[j] = j;
  const count = 2 ** M;
  const set = new CoalitionBuilder(M, count);
  const mark = new Uint8Array(M);
  for (let mask = 0; mask < count; mask++) {
    for (let j = 0; j < M; j++) mark[j] = (mask >>> j) & 1;
    set.add(mark);
  }
  const ev = await evaluateCoalitions(model, x, background, set.toCsr(all), link, maxRowsPerCall);
  const values = ev.values;
  return {
    base: values[0]!,
    contributions: shapleyFromValues(values, M),
    prediction: values[count - 1]!,
    output: ev.output,
    link,
    evaluations: ev.evaluations,
    coalitions: count - 2,
    exact: true,
  };
}

// ---------------------------------------------------------------------------------------------
// Coalitions

/** Coalitions as 0/1 marks over the m varying features, kept in insertion order. */
class CoalitionBuilder {
  readonly marks: Uint8Array;
  count = 0;

  constructor(
    readonly m: number,
    capacity: number,
  ) {
    this.marks = new Uint8Array(Math.max(1, capacity) * Math.max(1, m));
  }

  add(mark: Uint8Array): number {
    this.marks.set(mark.subarray(0, this.m), this.count * this.m);
    return this.count++;
  }

  /** Each coalition's members as original feature indices (CSR). */
  toCsr(varying: Int32Array): Csr {
    const { m, count, marks } = this;
    const offsets = new Int32Array(count + 1);
    let total = 0;
    for (let k = 0; k < count * m; k++) total += marks[k]!;
    const members = new Int32Array(total);
    let t = 0;
    for (let k = 0; k < count; k++) {
      offsets[k] = t;
      const o = k * m;
      for (let j = 0; j < m; j++) if (marks[o + j] === 1) members[t++] = varying[j]!;
    }
    offsets[count] = t;
    return { count, offsets, members };
  }
}

interface Csr {
  count: number;
  offsets: Int32Array;
  members: Int32Array;
}

/**
 * What the least squares needs of a coalition plan: the coalitions to evaluate, the weight of
 * each enumerated one, and the sampled draws (coalition index, jackknife group).
 */
interface CoalitionPlan {
  set: CoalitionBuilder;
  /** coalitions [0, enumerated) are whole sizes; their kernel weights */
  enumerated: number;
  enumeratedWeights: Float64Array;
  /** kernel mass left to the sampled entries (shared equally among them) */
  sampledMass: number;
  /** one entry per sampled coalition drawn (duplicates included) */
  entryCoalition: Int32Array;
  entryGroup: Int32Array;
  entries: number;
  groups: number;
}

/**
 * Which coalitions to evaluate. Sizes pair up as buckets {u, m−u}; a bucket's Shapley kernel
 * mass is (m−1)/(u(m−u)) for each of its sizes. Buckets are enumerated from u = 1 inward while
 * the budget left, spent at the mass left's rate, reaches every coalition of the bucket at least
 * once; the remaining budget is filled with draws from the remaining buckets.
 */
function planCoalitions(m: number, budget: number, paired: boolean, rng: SeededRandom): CoalitionPlan {
  const buckets = Math.floor(m / 2);
  const mass = new Float64Array(buckets + 1);
  const size = new Float64Array(buckets + 1);
  let total = 0;
  for (let u = 1; u <= buckets; u++) {
    const middle = u === m - u;
    mass[u] = ((m - 1) / (u * (m - u))) * (middle ? 1 : 2);
    size[u] = binomial(m, u) * (middle ? 1 : 2);
    total += mass[u]!;
  }
  for (let u = 1; u <= buckets; u++) mass[u] = mass[u]! / total;

  let budgetLeft = budget;
  let massLeft = 1;
  let firstSampled = 1;
  let enumeratedCount = 0;
  for (let u = 1; u <= buckets; u++) {
    if (size[u]! > budgetLeft || (budgetLeft * (mass[u]! / massLeft)) / size[u]! < 1 - 1e-8) break;
    enumeratedCount += size[u]!;
    budgetLeft -= size[u]!;
    massLeft -= mass[u]!;
    firstSampled = u + 1;
  }
  if (firstSampled > buckets) massLeft = 0;

  const set = new CoalitionBuilder(m, budget);
  const enumeratedWeights = new Float64Array(enumeratedCount);
  const mark = new Uint8Array(m);
  const comb = new Int32Array(m);
  for (let u = 1; u < firstSampled; u++) {
    const middle = u === m - u;
    const w = mass[u]! / size[u]!;
    // every u-subset, as increasing index tuples, with its complement unless u = m − u
    for (let j = 0; j < u; j++) comb[j] = j;
    for (;;) {
      mark.fill(0);
      for (let j = 0; j < u; j++) mark[comb[j]!] = 1;
      enumeratedWeights[set.add(mark)] = w;
      if (!middle) {
        for (let j = 0; j < m; j++) mark[j] = 1 - mark[j]!;
        enumeratedWeights[set.add(mark)] = w;
      }
      let i = u - 1;
      while (i >= 0 && comb[i] === m - u + i) i--;
      if (i < 0) break;
      comb[i]!++;
      for (let j = i + 1; j < u; j++) comb[j] = comb[j - 1]! + 1;
    }
  }
  const enumerated = set.count;

  // sampling: pick a bucket by its mass, a uniform subset of one of its sizes, and (paired) its complement
  const cumulative = new Float64Array(buckets + 1);
  let acc = 0;
  for (let u = firstSampled; u <= buckets; u++) cumulative[u] = acc += mass[u]!;
  const maxDraws = 8 * budgetLeft + 64;
  const entryCoalition = new Int32Array(paired ? 2 * maxDraws : maxDraws);
  const entryGroup = new Int32Array(entryCoalition.length);
  const seen = new Map<string, number>();
  const perm = new Int32Array(m);
  for (let j = 0; j < m; j++) perm[j] = j;
  const complement = new Uint8Array(m);
  let entries = 0;
  let draws = 0;
  const limit = enumerated + budgetLeft;
  while (massLeft > 0 && set.count < limit && draws < maxDraws) {
    const r = rng.next() * acc;
    let u = firstSampled;
    while (u < buckets && cumulative[u]! <= r) u++;
    let s = u;
    if (!paired && u !== m - u && rng.next() < 0.5) s = m - u;
    // a partial Fisher–Yates shuffle picks a uniform s-subset of the features
    mark.fill(0);
    for (let j = 0; j < s; j++) {
      const p = j + rng.int(m - j);
      const t = perm[j]!;
      perm[j] = perm[p]!;
      perm[p] = t;
      mark[perm[j]!] = 1;
    }
    const key = keyOf(mark, m);
    const known = seen.get(key);
    let ckey = '';
    let cknown: number | undefined;
    if (paired) {
      for (let j = 0; j < m; j++) complement[j] = 1 - mark[j]!;
      ckey = keyOf(complement, m);
      cknown = seen.get(ckey);
    }
    const fresh = (known === undefined ? 1 : 0) + (paired && cknown === undefined && ckey !== key ? 1 : 0);
    if (set.count + fresh > limit) break;
    const group = draws % JACKKNIFE_GROUPS;
    let k = known;
    if (k === undefined) {
      k = set.add(mark);
      seen.set(key, k);
    }
    entryCoalition[entries] = k;
    entryGroup[entries++] = group;
    if (paired) {
      let ck = seen.get(ckey);
      if (ck === undefined) {
        ck = set.add(complement);
        seen.set(ckey, ck);
      }
      entryCoalition[entries] = ck;
      entryGroup[entries++] = group;
    }
    draws++;
  }
  return {
    set,
    enumerated,
    enumeratedWeights,
    sampledMass: entries > 0 ? massLeft : 0,
    entryCoalition,
    entryGroup,
    entries,
    groups: Math.min(JACKKNIFE_GROUPS, draws),
  };
}

/** A map key of a 0/1 mark: 16 features per UTF-16 code unit. */
function keyOf(mark: Uint8Array, m: number): string {
  let key = '';
  for (let j = 0; j < m; j += 16) {
    let word = 0;
    const end = Math.min(m, j + 16);
    for (let i = j; i < end; i++) word |= mark[i]! << (i - j);
    key += String.fromCharCode(word);
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

interface Evaluation {
  /** link(E_b f(b)) */
  base: number;
  /** link(f(x)) */
  prediction: number;
  /** f(x) */
  output: number;
  /** link(E_b f(x_S, b_¬S)) per coalition */
  values: Float64Array;
  evaluations: number;
}

/**
 * Evaluate the background (rows 0 … n−1), x (row n) and every coalition against every background
 * row (rows n+1 …), built chunk by chunk straight into one reused Float32Array.
 */
async function evaluateCoalitions(
  model: ExplainableModel,
  x: Float32Array,
  background: Background,
  csr: Csr,
  link: ShapLink,
  maxRowsPerCall: number,
): Promise<Evaluation> {
  const { n, M, weights } = background;
  const bg = background.rows;
  const { count: K, offsets, members } = csr;
  const total = n + 1 + K * n;
  const chunkRows = Math.min(total, maxRowsPerCall, Math.max(1, Math.floor(MAX_CHUNK_VALUES / M)));
  const buffer = new Float32Array(chunkRows * M);
  // n copies of x, and a coalition's non-members (members are sorted: CSR is built in feature order)
  const xTile = new Float32Array(Math.min(n, chunkRows) * M);
  for (let b = 0; b < xTile.length; b += M) xTile.set(x, b);
  const outside = new Int32Array(M);
  const sums = new Float64Array(K);
  let baseSum = 0;
  let output = NaN;

  for (let r0 = 0; r0 < total; r0 += chunkRows) {
    const r1 = Math.min(total, r0 + chunkRows);
    // fill rows r0 … r1−1
    let r = r0;
    let dst = 0;
    if (r < n) {
      const e = Math.min(r1, n);
      buffer.set(bg.subarray(r * M, e * M), 0);
      dst = (e - r) * M;
      r = e;
    }
    if (r === n && r < r1) {
      buffer.set(x, dst);
      dst += M;
      r++;
    }
    while (r < r1) {
      const q = r - n - 1;
      const k = Math.floor(q / n);
      const b0 = q - k * n;
      const b1 = Math.min(n, b0 + (r1 - r));
      const t0 = offsets[k]!;
      const t1 = offsets[k + 1]!;
      const end = dst + (b1 - b0) * M;
      if (2 * (t1 - t0) <= M) {
        // the background rows, then x's values on the coalition's members
        buffer.set(bg.subarray(b0 * M, b1 * M), dst);
        for (let row = dst; row < end; row += M) {
          for (let t = t0; t < t1; t++) {
            const j = members[t]!;
            buffer[row + j] = x[j]!;
          }
        }
      } else {
        // a large coalition: copies of x, then the background's values on the fewer non-members
        let c = 0;
        for (let j = 0, t = t0; j < M; j++) {
          if (t < t1 && members[t] === j) t++;
          else outside[c++] = j;
        }
        buffer.set(xTile.subarray(0, (b1 - b0) * M), dst);
        for (let row = dst, src = b0 * M; row < end; row += M, src += M) {
          for (let t = 0; t < c; t++) {
            const j = outside[t]!;
            buffer[row + j] = bg[src + j]!;
          }
        }
      }
      dst = end;
      r += b1 - b0;
    }

    const rowsInCall = r1 - r0;
    const y = await model.predict(rowsInCall === chunkRows ? buffer : buffer.subarray(0, rowsInCall * M), rowsInCall);
    if (!y || y.length !== rowsInCall) {
      throw new BerthError('INFERENCE_FAILED', `the explained model returned ${y ? y.length : 'no'} values for ${rowsInCall} rows; expected one per row`, {
        expected: rowsInCall,
        got: y ? y.length : 0,
      });
    }

    // fold the outputs into weighted means per coalition
    let i = 0;
    r = r0;
    for (; r < n && r < r1; r++, i++) baseSum += weights[r]! * y[i]!;
    if (r === n && r < r1) {
      output = y[i]!;
      r++;
      i++;
    }
    if (r < r1) {
      const q = r - n - 1;
      let k = Math.floor(q / n);
      let b = q - k * n;
      let acc = sums[k]!;
      for (; i < rowsInCall; i++) {
        acc += weights[b]! * y[i]!;
        if (++b === n) {
          sums[k] = acc;
          b = 0;
          k++;
          acc = k < K ? sums[k]! : 0;
        }
      }
      if (k < K) sums[k] = acc;
    }
  }

  const values = new Float64Array(K);
  for (let k = 0; k < K; k++) values[k] = applyLink(sums[k]!, link);
  const base = applyLink(baseSum, link);
  const prediction = applyLink(output, link);
  if (!Number.isFinite(base) || !Number.isFinite(prediction) || !values.every(Number.isFinite)) {
    throw new BerthError('INFERENCE_FAILED', 'the explained model returned a value that is not finite (NaN or infinite) for some rows; explanations need finite outputs');
  }
  return { base, prediction, output, values, evaluations: total };
}

function applyLink(p: number, link: ShapLink): number {
  if (link === 'identity') return p;
  const q = p < LOGIT_EPS ? LOGIT_EPS : p > 1 - LOGIT_EPS ? 1 - LOGIT_EPS : p;
  return Math.log(q / (1 - q));
}

// ---------------------------------------------------------------------------------------------
// Shapley values

/** φ_i = Σ_{S ∌ i} 1/(m·C(m−1, |S|)) · (v(S ∪ {i}) − v(S)), with v indexed by bit mask. */
function shapleyFromValues(v: Float64Array, m: number): Float64Array {
  const phi = new Float64Array(m);
  if (m === 0) return phi;
  const w = new Float64Array(m);
  for (let s = 0; s < m; s++) w[s] = 1 / (m * binomial(m - 1, s));
  const full = 2 ** m;
  const pop = new Uint8Array(full);
  for (let mask = 1; mask < full; mask++) pop[mask] = pop[mask >>> 1]! + (mask & 1);
  for (let i = 0; i < m; i++) {
    const bit = 1 << i;
    let sum = 0;
    for (let mask = 0; mask < full; mask++) {
      if ((mask & bit) !== 0) continue;
      sum += w[pop[mask]!]! * (v[mask | bit]! - v[mask]!);
    }
    phi[i] = sum;
  }
  return phi;
}

/**
 * The constrained weighted least squares. With Δ = prediction − base and the last feature
 * eliminated (φ_last = Δ − Σ others), each coalition z gives the row a = z_{<last} − z_last·1 and
 * target v(z) − base − z_last·Δ. a is ±1 on a set T (z's members when it lacks the last feature,
 * its non-members otherwise), so the normal equations gain w·1_T1_Tᵀ and w·(±target)·1_T.
 */
function fitContributions(plan: CoalitionPlan, ev: Evaluation, m: number): { phi: Float64Array; se?: Float64Array } {
  const d = m - 1;
  const last = m - 1;
  const delta = ev.prediction - ev.base;
  const { set } = plan;
  const K = set.count;
  // per coalition: T's members and the signed target
  const tOffsets = new Int32Array(K + 1);
  const tMembers = new Int32Array(K * d);
  const target = new Float64Array(K);
  let t = 0;
  for (let k = 0; k < K; k++) {
    tOffsets[k] = t;
    const o = k * m;
    const hasLast = set.marks[o + last] === 1;
    const want = hasLast ? 0 : 1;
    for (let j = 0; j < d; j++) if (set.marks[o + j] === want) tMembers[t++] = j;
    const y = ev.values[k]! - ev.base - (hasLast ? delta : 0);
    target[k] = hasLast ? -y : y;
  }
  tOffsets[K] = t;

  const gram = (A: Float64Array, h: Float64Array, k: number, w: number): void => {
    const t0 = tOffsets[k]!;
    const t1 = tOffsets[k + 1]!;
    const wy = w * target[k]!;
    for (let a = t0; a < t1; a++) {
      const ia = tMembers[a]!;
      h[ia]! += wy;
      const row = ia * d;
      for (let b = t0; b < t1; b++) A[row + tMembers[b]!]! += w;
    }
  };

  const A0 = new Float64Array(d * d);
  const h0 = new Float64Array(d);
  for (let k = 0; k < plan.enumerated; k++) gram(A0, h0, k, plan.enumeratedWeights[k]!);

  const G = plan.groups;
  const groupA: Float64Array[] = [];
  const groupH: Float64Array[] = [];
  const groupEntries = new Int32Array(Math.max(1, G));
  for (let g = 0; g < G; g++) {
    groupA.push(new Float64Array(d * d));
    groupH.push(new Float64Array(d));
  }
  const sumA = new Float64Array(d * d);
  const sumH = new Float64Array(d);
  for (let e = 0; e < plan.entries; e++) {
    const g = plan.entryGroup[e]!;
    gram(groupA[g]!, groupH[g]!, plan.entryCoalition[e]!, 1);
    groupEntries[g]!++;
  }
  for (let g = 0; g < G; g++) {
    const Ag = groupA[g]!;
    const hg = groupH[g]!;
    for (let i = 0; i < d * d; i++) sumA[i]! += Ag[i]!;
    for (let i = 0; i < d; i++) sumH[i]! += hg[i]!;
  }

  const solveWithout = (skip: number): Float64Array => {
    const entries = plan.entries - (skip >= 0 ? groupEntries[skip]! : 0);
    const c = entries > 0 ? plan.sampledMass / entries : 0;
    const A = new Float64Array(d * d);
    const h = new Float64Array(d);
    const As = skip >= 0 ? groupA[skip]! : null;
    const hs = skip >= 0 ? groupH[skip]! : null;
    for (let i = 0; i < d * d; i++) A[i] = A0[i]! + c * (sumA[i]! - (As ? As[i]! : 0));
    for (let i = 0; i < d; i++) h[i] = h0[i]! + c * (sumH[i]! - (hs ? hs[i]! : 0));
    const sol = solveSymmetric(A, h, d, 'Kernel SHAP');
    const phi = new Float64Array(m);
    let rest = 0;
    for (let j = 0; j < d; j++) {
      phi[j] = sol[j]!;
      rest += sol[j]!;
    }
    phi[last] = delta - rest;
    return phi;
  };

  const phi = solveWithout(-1);
  if (G < 2) return { phi };
  const leaveOut: Float64Array[] = [];
  for (let g = 0; g < G; g++) leaveOut.push(solveWithout(g));
  const se = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let mean = 0;
    for (let g = 0; g < G; g++) mean += leaveOut[g]![j]!;
    mean /= G;
    let ss = 0;
    for (let g = 0; g < G; g++) {
      const e = leaveOut[g]![j]! - mean;
      ss += e * e;
    }
    se[j] = Math.sqrt(((G - 1) / G) * ss);
  }
  return { phi, se };
}


// ---------------------------------------------------------------------------------------------
// Checks and helpers

function checkInputs(model: ExplainableModel, x: Float32Array, background: Background): number {
  const M = model.featureCount;
  if (!Number.isInteger(M) || M < 1) {
    throw new BerthError('INVALID_ARGUMENT', `the model must have at least one feature, got featureCount ${M}`, { field: 'featureCount', got: M });
  }
  if (x.length !== M) {
    throw new BerthError('INVALID_ARGUMENT', `the explained row has ${x.length} values; the model takes ${M} features`, { field: 'x', expected: M, got: x.length });
  }
  if (background.M !== M) {
    throw new BerthError('INVALID_ARGUMENT', `the background has ${background.M} features; the model takes ${M}`, { field: 'background.M', expected: M, got: background.M });
  }
  const { n } = background;
  if (!Number.isInteger(n) || n < 1 || background.rows.length !== n * M || background.weights.length !== n) {
    throw new BerthError('INVALID_ARGUMENT', `the background must hold n ≥ 1 rows of ${M} values and one weight per row (n = ${n}, ${background.rows.length} values, ${background.weights.length} weights)`, {
      field: 'background',
    });
  }
  return M;
}

function checkLink(link: ShapLink | undefined): ShapLink {
  const l = link ?? 'identity';
  if (!(SHAP_LINKS as readonly string[]).includes(l)) {
    throw new BerthError('INVALID_ARGUMENT', `link must be one of ${SHAP_LINKS.join(', ')}, got ${JSON.stringify(l)}`, { field: 'link', expected: SHAP_LINKS, got: l });
  }
  return l;
}

function checkMaxRows(value: number | undefined): number {
  const v = value ?? DEFAULT_MAX_ROWS_PER_CALL;
  if (!Number.isInteger(v) || v < 1) {
    throw new BerthError('INVALID_ARGUMENT', `maxRowsPerCall must be an integer ≥ 1, got ${v}`, { field: 'maxRowsPerCall', got: v });
  }
  return v;
}

/** Features where some background row differs from x (NaN equals NaN; 0 equals −0). */
function varyingFeatures(x: Float32Array, background: Background): Int32Array {
  const { rows, n, M } = background;
  const out: number[] = [];
  for (let j = 0; j < M; j++) {
    const xv = x[j]!;
    const xNaN = xv !== xv;
    for (let b = 0; b < n; b++) {
      const v = rows[b * M + j]!;
      if (xNaN ? v === v : v !== xv) {
        out.push(j);
        break;
      }
    }
  }
  return Int32Array.from(out);
}

function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  const kk = Math.min(k, n - k);
  let r = 1;
  // each partial product is C(n − kk + i, i), an integer: exact while below 2^53
  for (let i = 1; i <= kk; i++) r = (r * (n - kk + i)) / i;
  return r < 2 ** 53 ? Math.round(r) : r;
}

/**
 * The friendly tabular JSON endpoint (`POST /v1/deployments/{name}/predict`): named features in,
 * labelled predictions out. `decodeRows` maps `{"rows": [...]}` or `{"instances": [...]}` onto the
 * signature's input tensors; `postprocessPredictions` turns output tensors into per-row labels,
 * named probabilities and values using the model card. Pure functions, no HTTP.
 */
import {
  BerthError, allocateData, assignOutputRoles, classNames, formatShape, fromFloat16Bits, isClassification,
  type CardOutput, type OutputRole, type Datatype, type ModelCard, type Signature, type Tensor, type TensorData, type TensorSpec,
} from '../../core/index.js';
import {
  DEFAULT_TENSOR_LIMITS, countLeaves, createFriendlySink, describeValue, expectedFriendly, gotValue, isPlainObject,
  storeFriendly, tooManyElements, type FriendlySink, type TensorLimits,
} from './elements.js';

/** One row of a friendly prediction response. */
export interface PredictionRow {
  /** the predicted class: its name from the card when known, else the raw label / argmax index */
  label?: string | number;
  /** class name → probability */
  probabilities?: Record<string, number>;
  /** regression output: a number for one value per row, an array for several */
  value?: number | number[];
  /** raw per-class scores of a `scores`-role output */
  scores?: number[];
  /** outputs with no known role, by name (one value per row as a scalar, several as an array) */
  outputs?: Record<string, unknown>;
}

/** deepest nesting followed inside one instance */
const MAX_DEPTH = 32;

// ---------------------------------------------------------------------------------------------
// Plans: what the signature says about laying features out, computed once per Signature object.

interface InputPlan {
  spec: TensorSpec;
  name: string;
  dt: Datatype;
  features: readonly string[] | undefined;
  /** spec.shape.slice(1), with a dynamic dimension resolved where the feature names allow */
  trailing: number[];
  /** values per row, or -1 when it has to be inferred from the data */
  width: number;
  /** position of this input's first feature in the concatenated feature order */
  offset: number;
}

interface Plan {
  inputs: InputPlan[];
  /** every feature in request order (inputs in signature order), when every input names its features */
  features: string[] | undefined;
  featureSet: Set<string>;
  /** the first input without feature names */
  unnamed: InputPlan | undefined;
  /** why the card's feature names cannot be laid onto the shapes, if they cannot */
  cardProblem: string | undefined;
}

const PLANS = new WeakMap<Signature, Plan>();

function planFor(sig: Signature): Plan {
  let plan = PLANS.get(sig);
  if (plan === undefined) {
    plan = buildPlan(sig);
    PLANS.set(sig, plan);
  }
  return plan;
}

function buildPlan(sig: Signature): Plan {
  const inputs: InputPlan[] = [];
  let unnamed: InputPlan | undefined;
  let cardProblem: string | undefined;
  let offset = 0;
  for (const spec of sig.inputs) {
    const trailing = spec.shape.slice(1);
    let dynamic = 0;
    let fixed = 1;
    for (const d of trailing) {
      if (d < 0) dynamic++;
      else fixed *= d;
    }
    const features = spec.featureNames !== undefined && spec.featureNames.length > 0 ? spec.featureNames : undefined;
    let width = dynamic === 0 ? fixed : -1;
    if (features !== undefined) {
      const k = features.length;
      if (dynamic === 0 && fixed !== k) {
        cardProblem ??= `input "${spec.name}" has ${k} feature names but its shape ${formatShape(spec.shape)} holds ${fixed} values per row`;
      } else if (dynamic === 1 && fixed > 0 && k % fixed === 0) {
        for (let d = 0; d < trailing.length; d++) if (trailing[d]! < 0) trailing[d] = k / fixed;
        width = k;
      } else if (dynamic > 0) {
        cardProblem ??= `input "${spec.name}" has ${k} feature names but its shape ${formatShape(spec.shape)} cannot be resolved from them`;
      }
    }
    const ip: InputPlan = { spec, name: spec.name, dt: spec.datatype, features, trailing, width, offset };
    if (features === undefined) unnamed ??= ip;
    else offset += features.length;
    inputs.push(ip);
  }
  const features = unnamed === undefined ? inputs.flatMap((ip) => ip.features!) : undefined;
  return { inputs, features, featureSet: new Set(features ?? []), unnamed, cardProblem };
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/**
 * Decode a friendly predict body into the signature's input tensors (shape `[nRows, ...trailing]`).
 *
 * - `{"rows": [{"age": 46, "region": "south", ...}, ...]}`: every input must name its features
 *   (card `features`); each row must have exactly those keys. Numbers for numeric inputs (`null` →
 *   NaN for float inputs, a missing value), integers in range for integer inputs, strings for BYTES.
 * - `{"instances": [...]}`: with one input, each instance is that input's per-row data (flat or
 *   nested); with several, each instance is an object keyed by input name, or an array of every
 *   feature value in feature order (inputs in signature order).
 *
 * Throws `INVALID_ARGUMENT` for a body that is neither form and `INVALID_INPUT` naming the row and
 * feature otherwise, e.g. `rows[3].mean radius: missing; ...`. Throws `PAYLOAD_TOO_LARGE` (413)
 * before allocating when rows × per-row width over all inputs exceeds `limits.maxTensorElements`
 * (a short instance list of a wide model would otherwise allocate far more than the body holds).
 *
 * @example
 * decodeRows({ rows: [{ a: 1, b: 2 }] }, sig) // sig: one FP32 input [-1, 2] with featureNames ['a', 'b']
 * // → [{ name: 'input', datatype: 'FP32', shape: [1, 2], data: Float32Array [1, 2] }]
 */
export function decodeRows(body: unknown, sig: Signature, limits: TensorLimits = DEFAULT_TENSOR_LIMITS): Tensor[] {
  if (!isPlainObject(body) || (body.rows === undefined) === (body.instances === undefined)) {
    const both = isPlainObject(body) && body.rows !== undefined;
    throw new BerthError('INVALID_ARGUMENT',
      both ? 'request body: send either "rows" or "instances", not both'
        : `request body: expected {"rows": [{feature: value, ...}, ...]} or {"instances": [[...], ...]}, got ${isPlainObject(body) ? `an object with keys ${Object.keys(body).map((k) => JSON.stringify(k)).join(', ') || '(none)'}` : describeValue(body)}`,
      { field: 'body', expected: 'rows or instances', got: gotValue(body) });
  }
  const plan = planFor(sig);
  const budget = { left: limits.maxTensorElements, limit: limits.maxTensorElements };
  return body.rows !== undefined ? decodeRowObjects(body.rows, plan, budget) : decodeInstances(body.instances, plan, budget);
}

/** Elements still allowed in this request; every allocation is charged first. */
interface Budget {
  left: number;
  readonly limit: number;
}

function charge(budget: Budget, elements: number, field: string): void {
  budget.left -= elements;
  if (budget.left < 0) {
    throw tooManyElements(`${field}: the request's input tensors would hold`, field, budget.limit - budget.left, budget.limit);
  }
}

function decodeRowObjects(rows: unknown, plan: Plan, budget: Budget): Tensor[] {
  if (!Array.isArray(rows)) {
    throw new BerthError('INVALID_INPUT', `rows: expected an array of objects (feature → value), got ${describeValue(rows)}`,
      { field: 'rows', expected: 'array of objects', got: gotValue(rows) });
  }
  if (rows.length === 0) {
    throw new BerthError('INVALID_INPUT', 'rows: expected at least one row', { field: 'rows', expected: 'at least one row', got: 0 });
  }
  if (plan.unnamed !== undefined || plan.features === undefined) {
    const name = plan.unnamed?.name ?? '?';
    throw new BerthError('INVALID_INPUT', `rows: the model's card declares no feature names for input "${name}", so named rows cannot be mapped onto it; send {"instances": [...]} with the values in order instead`,
      { field: 'rows', expected: 'instances', got: 'rows' });
  }
  if (plan.cardProblem !== undefined) {
    throw new BerthError('INVALID_CARD', `rows: ${plan.cardProblem}; fix the card's feature names or send {"instances": [...]}`,
      { field: 'rows' });
  }
  const n = rows.length;
  for (let r = 0; r < n; r++) {
    const row: unknown = rows[r];
    if (!isPlainObject(row)) {
      throw new BerthError('INVALID_INPUT', `rows[${r}]: expected an object of feature → value, got ${describeValue(row)}`,
        { field: `rows[${r}]`, expected: 'object', got: gotValue(row) });
    }
  }
  const objects = rows as Record<string, unknown>[];
  const tensors: Tensor[] = [];
  for (const ip of plan.inputs) charge(budget, n * ip.width, 'rows');
  for (const ip of plan.inputs) {
    const width = ip.width;
    const features = ip.features!;
    const out = allocateData(ip.dt, n * width);
    const sink = createFriendlySink(ip.dt, out);
    // column by column: one key looked up across all rows
    for (let c = 0; c < width; c++) {
      const f = features[c]!;
      for (let r = 0; r < n; r++) {
        const row = objects[r]!;
        const v = row[f];
        if (!storeFriendly(sink, r * width + c, v)) {
          if (v === undefined || !Object.hasOwn(row, f)) throw rowKeysError(objects, plan);
          throw valueError(`rows[${r}].${f}`, ip, v);
        }
      }
    }
    tensors.push({ name: ip.name, datatype: ip.dt, shape: [n, ...ip.trailing], data: out });
  }
  // every feature is present, so a row with more keys than features has unknown ones
  const total = plan.features.length;
  for (let r = 0; r < n; r++) {
    let keys = 0;
    for (const _ in objects[r]) keys++;
    if (keys !== total) throw rowKeysError(objects, plan);
  }
  return tensors;
}

/** The first row (in row order) with missing or unknown keys, explained. */
function rowKeysError(rows: Record<string, unknown>[], plan: Plan): BerthError {
  const features = plan.features!;
  const expected = `each row needs exactly these ${features.length} features: ${listNames(features, 40)}`;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const missing = features.filter((f) => !Object.hasOwn(row, f));
    const unknown = Object.keys(row).filter((k) => !plan.featureSet.has(k));
    if (missing.length === 0 && unknown.length === 0) continue;
    const unknownText = unknown.length === 0 ? ''
      : `unknown ${unknown.length === 1 ? 'feature' : 'features'} ${unknown.slice(0, 5).map((k) => withSuggestion(k, features)).join(', ')}${unknown.length > 5 ? `, … (${unknown.length} in all)` : ''}`;
    const context = { field: '', expected: features, got: Object.keys(row) };
    if (missing.length > 0) {
      const more = missing.length > 1
        ? ` (and ${missing.length - 1} more: ${listNames(missing.slice(1), 5)})` : '';
      context.field = `rows[${r}].${missing[0]!}`;
      return new BerthError('INVALID_INPUT', `rows[${r}].${missing[0]!}: missing${more}${unknownText ? `; ${unknownText}` : ''}; ${expected}`, context);
    }
    context.field = `rows[${r}].${unknown[0]!}`;
    return new BerthError('INVALID_INPUT', `rows[${r}]: ${unknownText}; ${expected}`, context);
  }
  return new BerthError('INVALID_INPUT', `rows: ${expected}`, { field: 'rows', expected: features });
}

function valueError(path: string, ip: InputPlan, v: unknown): BerthError {
  const expected = expectedFriendly(ip.dt);
  const hint = typeof v === 'string' && ip.dt !== 'BYTES' && v.trim() !== '' && Number.isFinite(Number(v))
    ? ' (send numbers unquoted)' : '';
  return new BerthError('INVALID_INPUT', `${path}: expected ${expected} for ${ip.dt} input "${ip.name}", got ${describeValue(v)}${hint}`,
    { field: path, expected, got: gotValue(v) });
}

function decodeInstances(instances: unknown, plan: Plan, budget: Budget): Tensor[] {
  if (!Array.isArray(instances)) {
    throw new BerthError('INVALID_INPUT', `instances: expected an array with one entry per row, got ${describeValue(instances)}`,
      { field: 'instances', expected: 'array', got: gotValue(instances) });
  }
  const n = instances.length;
  if (n === 0) {
    throw new BerthError('INVALID_INPUT', 'instances: expected at least one instance', { field: 'instances', expected: 'at least one instance', got: 0 });
  }
  if (plan.inputs.length === 1) {
    const ip = plan.inputs[0]!;
    const fill = beginInput(ip, n, instances[0], 'instances[0]', budget);
    for (let r = 0; r < n; r++) storeInstance(fill, r, instances[r], false);
    return [finishInput(fill, n)];
  }
  // several inputs: objects keyed by input name, or arrays of every feature in order
  const names = plan.inputs.map((ip) => ip.name);
  for (let r = 0; r < n; r++) {
    const inst: unknown = instances[r];
    if (isPlainObject(inst)) {
      const missing = names.filter((k) => !Object.hasOwn(inst, k));
      const unknown = Object.keys(inst).filter((k) => !names.includes(k));
      if (missing.length > 0 || unknown.length > 0) {
        const parts = [];
        if (missing.length > 0) parts.push(`missing ${missing.length === 1 ? 'input' : 'inputs'} ${listNames(missing, 10)}`);
        if (unknown.length > 0) parts.push(`unknown ${unknown.length === 1 ? 'key' : 'keys'} ${unknown.slice(0, 5).map((k) => withSuggestion(k, names)).join(', ')}`);
        const field = missing.length > 0 ? `instances[${r}].${missing[0]!}` : `instances[${r}].${unknown[0]!}`;
        throw new BerthError('INVALID_INPUT', `instances[${r}]: ${parts.join('; ')}; an object instance needs exactly the inputs ${listNames(names, 20)}`,
          { field, expected: names, got: Object.keys(inst) });
      }
    } else if (Array.isArray(inst)) {
      if (plan.features === undefined || plan.cardProblem !== undefined) {
        const why = plan.cardProblem ?? `input "${plan.unnamed!.name}" declares no feature names`;
        throw new BerthError('INVALID_INPUT', `instances[${r}]: an array instance must list every feature in order, but ${why}; send an object keyed by input name (${listNames(names, 20)}) instead`,
          { field: `instances[${r}]`, expected: 'object keyed by input name', got: 'array' });
      }
      if (inst.length !== plan.features.length) {
        throw new BerthError('INVALID_INPUT', `instances[${r}]: expected ${plan.features.length} values in feature order (${listNames(plan.features, 40)}), got ${inst.length}`,
          { field: `instances[${r}]`, expected: plan.features.length, got: inst.length });
      }
    } else {
      throw new BerthError('INVALID_INPUT', `instances[${r}]: expected an object keyed by input name (${listNames(names, 20)}) or an array of all feature values in order, got ${describeValue(inst)}`,
        { field: `instances[${r}]`, expected: 'object or array', got: gotValue(inst) });
    }
  }
  const first: unknown = instances[0];
  const tensors: Tensor[] = [];
  for (const ip of plan.inputs) {
    const sample = isPlainObject(first) ? first[ip.name] : undefined;
    const fill = beginInput(ip, n, sample, `instances[0].${ip.name}`, budget);
    for (let r = 0; r < n; r++) {
      const inst = instances[r] as unknown[] | Record<string, unknown>;
      if (Array.isArray(inst)) {
        // feature-ordered array: this input's features sit at [offset, offset + width)
        const base = r * fill.width;
        for (let c = 0; c < fill.width; c++) {
          const v = inst[ip.offset + c];
          if (!storeFriendly(fill.sink, base + c, v)) {
            throw valueError(`instances[${r}][${ip.offset + c}] (feature "${ip.features![c]!}")`, ip, v);
          }
        }
      } else {
        storeInstance(fill, r, inst[ip.name], true);
      }
    }
    tensors.push(finishInput(fill, n));
  }
  return tensors;
}

/** One input being filled from instances. */
interface InputFill {
  ip: InputPlan;
  width: number;
  trailing: number[];
  out: TensorData;
  sink: FriendlySink;
  /** next flat index while walking nested values */
  at: number;
  /** the value that did not fit, after a failed walk */
  bad: unknown;
}

function beginInput(ip: InputPlan, n: number, sample: unknown, samplePath: string, budget: Budget): InputFill {
  let width = ip.width;
  let trailing = ip.trailing;
  if (width < 0) [width, trailing] = inferTrailing(ip, sample, samplePath);
  charge(budget, n * width, 'instances');
  const out = allocateData(ip.dt, n * width);
  return { ip, width, trailing, out, sink: createFriendlySink(ip.dt, out), at: 0, bad: undefined };
}

function finishInput(fill: InputFill, n: number): Tensor {
  return { name: fill.ip.name, datatype: fill.ip.dt, shape: [n, ...fill.trailing], data: fill.out };
}

/** Resolve dynamic trailing dimensions from the first instance. */
function inferTrailing(ip: InputPlan, sample: unknown, path: string): [number, number[]] {
  const trailing = ip.trailing.slice();
  const count = Array.isArray(sample) ? countLeaves(sample, MAX_DEPTH) : 1;
  const dynamic = trailing.filter((d) => d < 0).length;
  const fixed = trailing.reduce((p, d) => (d < 0 ? p : p * d), 1);
  if (dynamic === 1 && count >= 0 && fixed > 0 && count % fixed === 0) {
    for (let d = 0; d < trailing.length; d++) if (trailing[d]! < 0) trailing[d] = count / fixed;
    return [count, trailing];
  }
  if (dynamic > 1 && Array.isArray(sample)) {
    // take the dimensions from the nesting of the first instance
    const dims: number[] = [];
    let a: unknown = sample;
    while (Array.isArray(a) && dims.length <= trailing.length) {
      dims.push(a.length);
      a = a[0];
    }
    if (dims.length === trailing.length && dims.every((d, i) => trailing[i]! < 0 || trailing[i] === d)) {
      return [dims.reduce((p, d) => p * d, 1), dims];
    }
  }
  throw new BerthError('INVALID_INPUT', `${path}: cannot infer the per-row shape ${formatShape(ip.spec.shape.slice(1))} of input "${ip.name}" (shape ${formatShape(ip.spec.shape)}) from ${describeValue(sample)}${count >= 0 && Array.isArray(sample) ? ` with ${count} values` : ''}; send nested arrays matching the shape`,
    { field: path, expected: ip.spec.shape, got: gotValue(sample) });
}

/**
 * Store one row of one input from an instance value: a scalar (when a row holds one value) or a flat
 * or nested array of `width` values. `keyed` means the value came from `instances[r][name]`.
 */
function storeInstance(fill: InputFill, r: number, v: unknown, keyed: boolean): void {
  const ip = fill.ip;
  const width = fill.width;
  const path = keyed ? `instances[${r}].${ip.name}` : `instances[${r}]`;
  if (!Array.isArray(v)) {
    if (v === undefined) {
      throw new BerthError('INVALID_INPUT', `${path}: missing; expected ${width} ${width === 1 ? 'value' : 'values'} for input "${ip.name}"`,
        { field: path, expected: width, got: undefined });
    }
    if (width !== 1) {
      throw new BerthError('INVALID_INPUT', `${path}: expected an array of ${width} values for input "${ip.name}" (shape ${formatShape(ip.spec.shape)}), got ${describeValue(v)}`,
        { field: path, expected: width, got: gotValue(v) });
    }
    if (!storeFriendly(fill.sink, r, v)) throw valueError(path, ip, v);
    return;
  }
  const count = countLeaves(v, MAX_DEPTH);
  if (count !== width) {
    const got = count < 0 ? `data nested deeper than ${MAX_DEPTH} levels` : `${count}`;
    throw new BerthError('INVALID_INPUT', `${path}: input "${ip.name}" needs ${width} values per row (shape ${formatShape(ip.spec.shape)}), got ${got}`,
      { field: path, expected: width, got: count });
  }
  fill.at = r * width;
  if (!walkFriendly(fill, v, 0)) {
    throw valueError(`${path} element ${fill.at - r * width}`, ip, fill.bad);
  }
}

/** Store nested values in row-major order; on a value that does not fit, leave it in `fill.bad`. */
function walkFriendly(fill: InputFill, arr: readonly unknown[], depth: number): boolean {
  for (let k = 0; k < arr.length; k++) {
    const v = arr[k];
    if (Array.isArray(v) && depth < MAX_DEPTH) {
      if (!walkFriendly(fill, v, depth + 1)) return false;
    } else {
      if (!storeFriendly(fill.sink, fill.at, v)) {
        fill.bad = v;
        return false;
      }
      fill.at++;
    }
  }
  return true;
}

function listNames(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).map((s) => JSON.stringify(s)).join(', ');
  return names.length > max ? `${shown}, … (${names.length} in all)` : shown;
}

/** `"agee" (did you mean "age"?)` when a known name is close. */
function withSuggestion(key: string, known: readonly string[]): string {
  const lower = key.toLowerCase().trim();
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase(), 3);
    if (d < bestDist) {
      bestDist = d;
      best = k;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(key.length / 3)));
  return best !== undefined && bestDist <= limit ? `${JSON.stringify(key)} (did you mean ${JSON.stringify(best)}?)` : JSON.stringify(key);
}

/** Levenshtein distance, giving up (returning max + 1) once it exceeds `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    prev = cur;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Post-processing.

type Role = OutputRole;

/**
 * Turn a batch's output tensors into one friendly row per input row.
 *
 * Roles come from `card.outputs[].role`; outputs the card gives no role get one inferred from their
 * names (`label`, `probabilities`, `logits`, `scores`), and when the card declares no roles at all,
 * the first float output of a regression model (or of a model without a card) is the `value`. Classification: a probabilities output gives `probabilities` keyed by class name
 * (card `classes.names`, else the labels as strings, else "0".."K-1"); logits are turned into
 * probabilities by a numerically stable softmax (sigmoid for one column or multilabel models);
 * `label` is the label output's class name if there is one, else the argmax. A single-column
 * probability/logit of a binary model is expanded to both classes. Outputs without a role are
 * returned under `outputs`.
 *
 * @example
 * postprocessPredictions([{ name: 'logits', datatype: 'FP32', shape: [1, 2], data: new Float32Array([0, 1]) }], sig, card, 1)
 * // → [{ label: 'b', probabilities: { a: 0.2689…, b: 0.7310… } }]  (card.classes.names = ['a', 'b'])
 */
export function postprocessPredictions(outputs: Tensor[], sig: Signature, card: ModelCard | undefined, rowCount: number): PredictionRow[] {
  const rows: PredictionRow[] = new Array<PredictionRow>(rowCount);
  for (let r = 0; r < rowCount; r++) rows[r] = {};
  if (rowCount === 0) return rows;
  const roles = assignOutputRoles(outputs, sig, card);
  const task = card?.task;
  const multilabel = task === 'multilabel-classification';
  const classes = card?.classes;
  const byRole = (role: Role): Tensor | undefined => {
    const i = roles.indexOf(role);
    return i < 0 ? undefined : outputs[i];
  };
  const labelT = byRole('label');
  const probT = byRole('probabilities');
  const logitT = probT === undefined ? byRole('logits') : undefined;
  const used = new Set<Tensor>();

  // the label output: one value per row, mapped to the class name
  let hasLabel = false;
  if (labelT !== undefined && widthOf(labelT, rowCount) === 1) {
    used.add(labelT);
    hasLabel = true;
    const nameOf = new Map<string, string>();
    if (classes?.names !== undefined && classes.names.length === classes.labels.length) {
      classes.labels.forEach((l, i) => nameOf.set(String(l), classes.names![i]!));
    }
    const raw = labelT.datatype === 'BYTES' ? (labelT.data as string[]) : numbersOf(labelT);
    for (let r = 0; r < rowCount; r++) {
      const v = raw[r]!;
      rows[r]!.label = nameOf.get(String(v)) ?? v;
    }
  }

  // probabilities, from a probabilities output or from logits
  const scoreT = probT ?? logitT;
  if (scoreT !== undefined && scoreT.datatype !== 'BYTES') {
    used.add(scoreT);
    const k = widthOf(scoreT, rowCount);
    const vals = numbersOf(scoreT);
    const binary = k === 1;
    const names = classNames(card, binary ? 2 : k);
    const p = new Float64Array(binary ? 2 : k);
    for (let r = 0; r < rowCount; r++) {
      const base = r * k;
      if (binary) {
        const x = vals[base]!;
        const pos = scoreT === logitT ? sigmoid(x) : x;
        p[0] = 1 - pos;
        p[1] = pos;
      } else if (scoreT === probT) {
        for (let c = 0; c < k; c++) p[c] = vals[base + c]!;
      } else if (multilabel) {
        for (let c = 0; c < k; c++) p[c] = sigmoid(vals[base + c]!);
      } else {
        softmaxInto(vals, base, k, p);
      }
      const probs: Record<string, number> = {};
      for (let c = 0; c < p.length; c++) probs[names[c]!] = p[c]!;
      const row = rows[r]!;
      row.probabilities = probs;
      if (!hasLabel && !multilabel) row.label = classAt(card, argmax(p), p.length);
    }
  }

  // regression values and raw scores
  const valueT = byRole('value');
  if (valueT !== undefined && valueT.datatype !== 'BYTES') {
    used.add(valueT);
    const k = widthOf(valueT, rowCount);
    const vals = numbersOf(valueT);
    for (let r = 0; r < rowCount; r++) rows[r]!.value = k === 1 ? vals[r]! : Array.from(vals.subarray(r * k, r * k + k));
  }
  const scoresT = byRole('scores');
  if (scoresT !== undefined && scoresT.datatype !== 'BYTES' && !used.has(scoresT)) {
    used.add(scoresT);
    const k = widthOf(scoresT, rowCount);
    const vals = numbersOf(scoresT);
    for (let r = 0; r < rowCount; r++) rows[r]!.scores = Array.from(vals.subarray(r * k, r * k + k));
  }

  // everything else, as is
  for (const t of outputs) {
    if (used.has(t)) continue;
    const k = widthOf(t, rowCount);
    const vals: ArrayLike<unknown> = t.datatype === 'BYTES' ? (t.data as string[]) : plainValuesOf(t);
    for (let r = 0; r < rowCount; r++) {
      const row = rows[r]!;
      row.outputs ??= {};
      row.outputs[t.name] = k === 1 ? vals[r] : Array.prototype.slice.call(vals, r * k, r * k + k);
    }
  }
  return rows;
}

function widthOf(t: Tensor, rowCount: number): number {
  const k = t.data.length / rowCount;
  if (!Number.isInteger(k)) {
    throw new BerthError('INTERNAL', `output "${t.name}" has ${t.data.length} values (shape ${formatShape(t.shape)}), which does not split into ${rowCount} rows`,
      { field: t.name, expected: `a multiple of ${rowCount}`, got: t.data.length });
  }
  return k;
}

/** A numeric output as float64 numbers (FP16 decoded, 64-bit integers converted). */
function numbersOf(t: Tensor): Float64Array {
  const d = t.data;
  const n = d.length;
  const out = new Float64Array(n);
  if (t.datatype === 'FP16') {
    const h = d as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = fromFloat16Bits(h[i]!);
  } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = Number(d[i]!);
  } else {
    out.set(d as Exclude<TensorData, string[] | BigInt64Array | BigUint64Array>);
  }
  return out;
}

/** Values of an output for JSON: numbers (64-bit integers beyond 2^53 as decimal strings), BOOL as booleans. */
function plainValuesOf(t: Tensor): ArrayLike<unknown> {
  const d = t.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    return Array.from(d, (b) => (b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : String(b)));
  }
  if (t.datatype === 'BOOL') return Array.from(d as Uint8Array, (b) => b !== 0);
  return numbersOf(t);
}

/** The label for column `k`: its class name, else its label, else the index. */
function classAt(card: ModelCard | undefined, k: number, width: number): string | number {
  const cls = card?.classes;
  if (cls?.names !== undefined && cls.names.length === width) return cls.names[k]!;
  if (cls !== undefined && cls.labels.length === width) return cls.labels[k]!;
  return k;
}

function argmax(p: Float64Array): number {
  let best = 0;
  for (let c = 1; c < p.length; c++) if (p[c]! > p[best]!) best = c;
  return best;
}

function sigmoid(x: number): number {
  // split by sign so exp never overflows
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Numerically stable softmax of vals[base, base + k) into out. */
function softmaxInto(vals: Float64Array, base: number, k: number, out: Float64Array): void {
  let max = -Infinity;
  for (let c = 0; c < k; c++) if (vals[base + c]! > max) max = vals[base + c]!;
  let sum = 0;
  for (let c = 0; c < k; c++) {
    const e = Math.exp(vals[base + c]! - max);
    out[c] = e;
    sum += e;
  }
  for (let c = 0; c < k; c++) out[c] = out[c]! / sum;
}

import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  BerthError,
  INTEGER_RANGES,
  TASKS,
  formatShape,
  isFloatType,
  type CardInput,
  type CardOutput,
  type Lineage,
  type ModelCard,
  type Signature,
  type Task,
  type TensorSpec,
} from '../core/index.js';

/** Output roles a card may declare. */
export const CARD_OUTPUT_ROLES = ['label', 'probabilities', 'logits', 'scores', 'value'] as const satisfies readonly NonNullable<CardOutput['role']>[];

/** Card document formats `parseCard` understands. */
export const CARD_FORMATS = ['berth-card/1', 'fixture-card/1'] as const;

interface Problem {
  field: string;
  expected: string;
  got: unknown;
  /** how to say what came when it is not a value from the document */
  gotText?: string;
}

/**
 * Parse a model card document into the normalised `ModelCard`.
 *
 * Reads Berth's own `berth-card/1` (JSON or YAML, see docs/model-card.md) strictly, and the test
 * fixtures' `fixture-card/1` JSON leniently (only the fields Berth uses). Throws INVALID_CARD listing
 * every problem with its field, what was expected and what came.
 *
 * @example
 * const card = parseCard(await readFile('card.yaml', 'utf8'), 'card.yaml');
 */
export function parseCard(text: string, fileName: string): ModelCard {
  const doc = parseDocument(text, fileName);
  if (!isRecord(doc)) {
    throw cardError(fileName, undefined, [{ field: '(document)', expected: 'a mapping of card fields', got: doc }]);
  }
  const problems: Problem[] = [];
  let card: ModelCard;
  let format: string;
  if (doc['format'] !== undefined) {
    format = String(doc['format']);
    if (doc['format'] !== 'berth-card/1') {
      throw cardError(fileName, undefined, [
        { field: 'format', expected: `"berth-card/1" (the only Berth card format this version reads)`, got: doc['format'] },
      ]);
    }
    card = readBerthCard(doc, problems);
  } else if (doc['card_format'] === 'fixture-card/1') {
    format = 'fixture-card/1';
    card = readFixtureCard(doc, problems);
  } else {
    throw cardError(fileName, undefined, [
      {
        field: 'format',
        expected: '"format: berth-card/1" (or a fixture card with "card_format": "fixture-card/1")',
        got: doc['card_format'] ?? doc['format'],
      },
    ]);
  }
  if (problems.length > 0) throw cardError(fileName, format, problems);
  card.source = { format, document: doc };
  return card;
}

/**
 * Merge a card's facts into the signature read from the model file, checking that they fit:
 * every card input/output names a real one, feature counts match the fixed last dimension,
 * `valid_range` only on integer inputs, `vocabulary` only on BYTES or integer inputs.
 * Integer inputs with a K-name vocabulary and no range get the range [0, K-1]. Float inputs
 * allow NaN/±Infinity unless the input or the card says otherwise. Returns a new signature.
 */
export function mergeCardIntoSignature(sig: Signature, card: ModelCard | undefined): Signature {
  const problems: Problem[] = [];
  const inputs: TensorSpec[] = sig.inputs.map(cloneSpec);
  const outputs: TensorSpec[] = sig.outputs.map(cloneSpec);
  const inputsByName = new Map(inputs.map((s) => [s.name, s]));
  const outputsByName = new Map(outputs.map((s) => [s.name, s]));

  const cardInputs = card?.inputs ?? [];
  const unknownInputs = cardInputs.filter((ci) => !inputsByName.has(ci.name)).map((ci) => ci.name);
  if (unknownInputs.length > 0) {
    problems.push({
      field: 'inputs',
      expected: `names of the model's inputs: ${describeSpecs(inputs)}`,
      got: unknownInputs,
    });
  }
  cardInputs.forEach((ci, i) => {
    const spec = inputsByName.get(ci.name);
    if (spec) mergeInput(spec, ci, `inputs[${i}] ("${ci.name}")`, problems);
  });

  // A card that only lists features at the top level describes the model's single input.
  if (card?.features && inputs.length === 1 && !cardInputs.some((ci) => ci.features)) {
    const spec = inputs[0]!;
    if (checkFeatureCount(spec, card.features, 'features', problems)) spec.featureNames = [...card.features];
  }

  for (const spec of inputs) {
    if (spec.vocabulary && !spec.validRange && INTEGER_RANGES[spec.datatype]) {
      spec.validRange = [0, spec.vocabulary.length - 1];
    }
    if (isFloatType(spec.datatype)) spec.allowNonFinite = spec.allowNonFinite ?? card?.allowNonFinite ?? true;
  }

  const cardOutputs = card?.outputs ?? [];
  const unknownOutputs = cardOutputs.filter((co) => !outputsByName.has(co.name)).map((co) => co.name);
  if (unknownOutputs.length > 0) {
    problems.push({
      field: 'outputs',
      expected: `names of the model's outputs: ${describeSpecs(outputs)}`,
      got: unknownOutputs,
    });
  }
  cardOutputs.forEach((co, i) => {
    const spec = outputsByName.get(co.name);
    if (!spec) return;
    if (co.description !== undefined) spec.description = co.description;
    const width = spec.shape.length >= 2 ? spec.shape[spec.shape.length - 1]! : -1;
    if (card?.classes && (co.role === 'probabilities' || co.role === 'logits') && width > 0 && width !== card.classes.labels.length) {
      problems.push({
        field: `outputs[${i}] ("${co.name}")`,
        expected: `${card.classes.labels.length} columns, one per class in classes.labels`,
        got: spec.shape, gotText: `shape ${formatShape(spec.shape)} (${width} columns)`,
      });
    }
  });

  if (problems.length > 0) {
    throw new BerthError(
      'INVALID_CARD',
      `the model card does not fit the model:\n  ${problems.map(formatProblem).join('\n  ')}\n` +
        'Fix the card so it names the model\'s real inputs and outputs (see docs/model-card.md) and register again.',
      { field: problems[0]!.field, expected: problems[0]!.expected, got: problems[0]!.got, problems },
    );
  }
  return { inputs, outputs, batchable: sig.batchable };
}

function mergeInput(spec: TensorSpec, ci: CardInput, field: string, problems: Problem[]): void {
  const isInteger = INTEGER_RANGES[spec.datatype] !== undefined;
  const typeDesc = `${spec.datatype} ${formatShape(spec.shape)}`;
  if (ci.features && checkFeatureCount(spec, ci.features, `${field}.features`, problems)) spec.featureNames = [...ci.features];
  if (ci.vocabulary) {
    if (spec.datatype === 'BYTES' || isInteger) spec.vocabulary = [...ci.vocabulary];
    else problems.push({ field: `${field}.vocabulary`, expected: 'a BYTES (string) or integer input', got: spec.datatype, gotText: `a ${typeDesc} input` });
  }
  if (ci.validRange) {
    const limits = INTEGER_RANGES[spec.datatype];
    if (!limits) {
      problems.push({ field: `${field}.valid_range`, expected: 'an integer input', got: spec.datatype, gotText: `a ${typeDesc} input` });
    } else if (BigInt(ci.validRange[0]) < limits[0] || BigInt(ci.validRange[1]) > limits[1]) {
      problems.push({ field: `${field}.valid_range`, expected: `a range within ${spec.datatype} [${limits[0]}, ${limits[1]}]`, got: ci.validRange });
    } else {
      spec.validRange = [ci.validRange[0], ci.validRange[1]];
    }
  }
  if (ci.allowNonFinite !== undefined) {
    if (isFloatType(spec.datatype)) spec.allowNonFinite = ci.allowNonFinite;
    else problems.push({ field: `${field}.allow_non_finite`, expected: 'a float input', got: spec.datatype, gotText: `a ${typeDesc} input` });
  }
  if (ci.description !== undefined) spec.description = ci.description;
}

/** Features lie along the last axis; a batch-only input [-1] (or a scalar) carries one feature. */
function checkFeatureCount(spec: TensorSpec, features: string[], field: string, problems: Problem[]): boolean {
  const rank = spec.shape.length;
  const width = rank === 0 || (rank === 1 && spec.shape[0] === -1) ? 1 : spec.shape[rank - 1]!;
  if (width > 0 && features.length !== width) {
    problems.push({
      field,
      expected: `${width} feature names (input "${spec.name}" has shape ${formatShape(spec.shape)})`,
      got: features.length, gotText: `${features.length} names`,
    });
    return false;
  }
  return true;
}

function cloneSpec(s: TensorSpec): TensorSpec {
  const c: TensorSpec = { ...s, shape: [...s.shape] };
  if (s.dimNames) c.dimNames = [...s.dimNames];
  if (s.featureNames) c.featureNames = [...s.featureNames];
  if (s.vocabulary) c.vocabulary = [...s.vocabulary];
  if (s.validRange) c.validRange = [s.validRange[0], s.validRange[1]];
  return c;
}

function describeSpecs(specs: TensorSpec[]): string {
  return specs.map((s) => `${s.name} (${s.datatype} ${formatShape(s.shape)})`).join(', ') || '(none)';
}

// ---------------------------------------------------------------------------------------------
// berth-card/1

const BERTH_KEYS = [
  'format', 'title', 'task', 'description', 'features', 'inputs', 'outputs', 'classes', 'metrics', 'lineage', 'tags',
  'allow_non_finite', 'serving', 'monitoring',
] as const;
const MONITORING_KEYS = ['label_column', 'sensitive_attributes', 'positive_class'] as const;
const BERTH_INPUT_KEYS = ['name', 'features', 'vocabulary', 'valid_range', 'allow_non_finite', 'description'] as const;
const BERTH_OUTPUT_KEYS = ['name', 'role', 'description'] as const;
const BERTH_CLASSES_KEYS = ['labels', 'names'] as const;
const SERVING_FIELDS = {
  max_batch_size: ['maxBatchSize', 1],
  max_queue_delay_ms: ['maxQueueDelayMs', 0],
  max_queue_size: ['maxQueueSize', 1],
  timeout_ms: ['timeoutMs', 1],
} as const;

function readBerthCard(doc: Record<string, unknown>, p: Problem[]): ModelCard {
  rejectUnknownKeys(doc, BERTH_KEYS, '', p);
  const card: ModelCard = { format: 'berth-card/1' };
  setIfDefined(card, 'title', optString(doc['title'], 'title', p));
  setIfDefined(card, 'task', optTask(doc['task'], p));
  setIfDefined(card, 'description', optString(doc['description'], 'description', p));
  setIfDefined(card, 'features', optStringList(doc['features'], 'features', p));

  const inputs = optList(doc['inputs'], 'inputs', p)?.map((raw, i): CardInput | undefined => {
    const field = `inputs[${i}]`;
    if (!isRecord(raw)) return void p.push({ field, expected: 'a mapping with at least "name"', got: raw });
    rejectUnknownKeys(raw, BERTH_INPUT_KEYS, `${field}.`, p);
    const name = reqName(raw['name'], `${field}.name`, p);
    if (name === undefined) return undefined;
    const ci: CardInput = { name };
    setIfDefined(ci, 'features', optStringList(raw['features'], `${field}.features`, p));
    setIfDefined(ci, 'vocabulary', optStringList(raw['vocabulary'], `${field}.vocabulary`, p));
    setIfDefined(ci, 'validRange', optRange(raw['valid_range'], `${field}.valid_range`, p));
    setIfDefined(ci, 'allowNonFinite', optBool(raw['allow_non_finite'], `${field}.allow_non_finite`, p));
    setIfDefined(ci, 'description', optString(raw['description'], `${field}.description`, p));
    return ci;
  });
  if (inputs) card.inputs = uniqueByName(inputs, 'inputs', p);

  const outputs = optList(doc['outputs'], 'outputs', p)?.map((raw, i): CardOutput | undefined => {
    const field = `outputs[${i}]`;
    if (!isRecord(raw)) return void p.push({ field, expected: 'a mapping with at least "name"', got: raw });
    rejectUnknownKeys(raw, BERTH_OUTPUT_KEYS, `${field}.`, p);
    const name = reqName(raw['name'], `${field}.name`, p);
    if (name === undefined) return undefined;
    const co: CardOutput = { name };
    const role = raw['role'];
    if (role !== undefined && role !== null) {
      if ((CARD_OUTPUT_ROLES as readonly unknown[]).includes(role)) co.role = role as CardOutput['role'];
      else p.push({ field: `${field}.role`, expected: `one of ${CARD_OUTPUT_ROLES.join(', ')}`, got: role });
    }
    setIfDefined(co, 'description', optString(raw['description'], `${field}.description`, p));
    return co;
  });
  if (outputs) card.outputs = uniqueByName(outputs, 'outputs', p);

  const classes = doc['classes'];
  if (classes !== undefined && classes !== null) {
    if (!isRecord(classes)) {
      p.push({ field: 'classes', expected: 'a mapping with "labels" (and optionally "names")', got: classes });
    } else {
      rejectUnknownKeys(classes, BERTH_CLASSES_KEYS, 'classes.', p);
      setIfDefined(card, 'classes', readClasses(classes['labels'], classes['names'], 'classes.labels', 'classes.names', p));
    }
  }
  setIfDefined(card, 'metrics', readMetrics(doc['metrics'], true, p));
  const lineage = doc['lineage'];
  if (lineage !== undefined && lineage !== null) {
    if (isRecord(lineage)) card.lineage = readLineage(lineage, p);
    else p.push({ field: 'lineage', expected: 'a mapping (framework, dataset, parent, …)', got: lineage });
  }
  setIfDefined(card, 'tags', readTags(doc['tags'], p));
  setIfDefined(card, 'allowNonFinite', optBool(doc['allow_non_finite'], 'allow_non_finite', p));

  const serving = doc['serving'];
  if (serving !== undefined && serving !== null) {
    if (!isRecord(serving)) {
      p.push({ field: 'serving', expected: `a mapping of ${Object.keys(SERVING_FIELDS).join(', ')}`, got: serving });
    } else {
      rejectUnknownKeys(serving, Object.keys(SERVING_FIELDS), 'serving.', p);
      const out: NonNullable<ModelCard['serving']> = {};
      for (const [key, [prop, min]] of Object.entries(SERVING_FIELDS)) {
        const v = serving[key];
        if (v === undefined || v === null) continue;
        if (typeof v === 'number' && Number.isSafeInteger(v) && v >= min) out[prop] = v;
        else p.push({ field: `serving.${key}`, expected: `an integer >= ${min}`, got: v });
      }
      card.serving = out;
    }
  }

  const monitoring = doc['monitoring'];
  if (monitoring !== undefined && monitoring !== null) {
    if (!isRecord(monitoring)) {
      p.push({ field: 'monitoring', expected: `a mapping of ${MONITORING_KEYS.join(', ')}`, got: monitoring });
    } else {
      rejectUnknownKeys(monitoring, MONITORING_KEYS, 'monitoring.', p);
      setIfDefined(card, 'monitoring', readMonitoring(monitoring, card, p));
    }
  }

  // Per-input features are slices of the request's feature list, so they must come from it.
  if (card.features && card.inputs) {
    const all = new Set(card.features);
    card.inputs.forEach((ci, i) => {
      const missing = (ci.features ?? []).filter((f) => !all.has(f));
      if (missing.length > 0) p.push({ field: `inputs[${i}].features`, expected: 'names listed in the top-level "features"', got: missing });
    });
  }
  return card;
}

function readLineage(raw: Record<string, unknown>, p: Problem[]): Lineage {
  const lineage: Lineage = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined || value === null) continue;
    const prop = snakeToCamel(key);
    if (key === 'framework') {
      const fw = readFramework(value, 'lineage.framework', p);
      if (fw) lineage.framework = fw;
    } else if (['dataset', 'parent', 'source_path', 'git_commit', 'git_remote', 'user', 'registered_at'].includes(key)) {
      setIfDefined(lineage, prop, optString(value, `lineage.${key}`, p));
    } else if (key === 'git_dirty') {
      setIfDefined(lineage, prop, optBool(value, `lineage.${key}`, p));
    } else {
      lineage[prop] = value;
    }
  }
  return lineage;
}

function readFramework(value: unknown, field: string, p: Problem[]): Lineage['framework'] | undefined {
  if (typeof value === 'string') return { name: value };
  if (!isRecord(value)) return void p.push({ field, expected: 'a mapping with "name" and "version" (or a name)', got: value });
  const fw: NonNullable<Lineage['framework']> = { ...value };
  const name = optString(value['name'], `${field}.name`, p);
  // YAML reads `version: 1.2` as a number; a framework version is text.
  const version = typeof value['version'] === 'number' ? String(value['version']) : optString(value['version'], `${field}.version`, p);
  delete fw['name'];
  delete fw['version'];
  setIfDefined(fw, 'name', name);
  setIfDefined(fw, 'version', version);
  return fw;
}

function readTags(raw: unknown, p: Problem[]): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) return void p.push({ field: 'tags', expected: 'a mapping of name: value', got: raw });
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === 'string') tags[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') tags[k] = String(v);
    else p.push({ field: `tags.${k}`, expected: 'a string', got: v });
  }
  return tags;
}

function optTask(raw: unknown, p: Problem[]): Task | undefined {
  if (raw === undefined || raw === null) return undefined;
  if ((TASKS as readonly unknown[]).includes(raw)) return raw as Task;
  return void p.push({ field: 'task', expected: `one of ${TASKS.join(', ')}`, got: raw });
}

// ---------------------------------------------------------------------------------------------
// fixture-card/1 (the shared test fixtures): read what Berth uses, ignore the rest

function readFixtureCard(doc: Record<string, unknown>, p: Problem[]): ModelCard {
  const card: ModelCard = { format: 'berth-card/1' };
  setIfDefined(card, 'title', optString(doc['title'], 'title', p));
  setIfDefined(card, 'description', optString(doc['description'], 'description', p));
  const rawTask = doc['task'];
  if (rawTask !== undefined && rawTask !== null) {
    if (typeof rawTask !== 'string') p.push({ field: 'task', expected: 'a string', got: rawTask });
    else card.task = (TASKS as readonly string[]).includes(rawTask) ? (rawTask as Task) : 'other';
  }
  setIfDefined(card, 'features', optStringList(doc['feature_names'], 'feature_names', p));

  const inputs = optList(doc['inputs'], 'inputs', p)?.map((raw, i): CardInput | undefined => {
    const field = `inputs[${i}]`;
    if (!isRecord(raw)) return void p.push({ field, expected: 'a mapping with at least "name"', got: raw });
    const name = reqName(raw['name'], `${field}.name`, p);
    if (name === undefined) return undefined;
    const ci: CardInput = { name };
    setIfDefined(ci, 'features', optStringList(raw['feature_names'], `${field}.feature_names`, p));
    setIfDefined(ci, 'vocabulary', optStringList(raw['vocabulary'], `${field}.vocabulary`, p));
    setIfDefined(ci, 'validRange', optRange(raw['valid_range'], `${field}.valid_range`, p));
    setIfDefined(ci, 'description', optString(raw['description'], `${field}.description`, p));
    return ci;
  });
  if (inputs) card.inputs = uniqueByName(inputs, 'inputs', p);

  const outputs = optList(doc['outputs'], 'outputs', p)?.map((raw, i): CardOutput | undefined => {
    const field = `outputs[${i}]`;
    if (!isRecord(raw)) return void p.push({ field, expected: 'a mapping with at least "name"', got: raw });
    const name = reqName(raw['name'], `${field}.name`, p);
    if (name === undefined) return undefined;
    const co: CardOutput = { name };
    setIfDefined(co, 'role', inferOutputRole(name, raw['dtype'], rawTask));
    setIfDefined(co, 'description', optString(raw['description'], `${field}.description`, p));
    return co;
  });
  if (outputs) card.outputs = uniqueByName(outputs, 'outputs', p);

  if (doc['class_labels'] !== undefined && doc['class_labels'] !== null) {
    setIfDefined(card, 'classes', readClasses(doc['class_labels'], doc['class_names'], 'class_labels', 'class_names', p));
  }
  setIfDefined(card, 'metrics', readMetrics(doc['metrics'], false, p));

  const lineage: Lineage = {};
  if (doc['framework'] !== undefined && doc['framework'] !== null) {
    setIfDefined(lineage, 'framework', readFramework(doc['framework'], 'framework', p));
  }
  const data = doc['data'];
  if (isRecord(data) && typeof data['dataset'] === 'string') lineage.dataset = data['dataset'];
  if (Object.keys(lineage).length > 0) card.lineage = lineage;
  const mon = doc['monitoring'];
  if (isRecord(mon)) {
    const m: NonNullable<ModelCard['monitoring']> = {};
    if (typeof mon['label_column'] === 'string') m.labelColumn = mon['label_column'];
    const sens = mon['sensitive_attributes'];
    if (Array.isArray(sens) && sens.every((x) => typeof x === 'string')) m.sensitiveAttributes = sens as string[];
    if (Object.keys(m).length > 0) card.monitoring = m;
  }
  return card;
}

function readMonitoring(raw: Record<string, unknown>, card: ModelCard, p: Problem[]): ModelCard['monitoring'] | undefined {
  const out: NonNullable<ModelCard['monitoring']> = {};
  setIfDefined(out, 'labelColumn', optString(raw['label_column'], 'monitoring.label_column', p));
  setIfDefined(out, 'sensitiveAttributes', optStringList(raw['sensitive_attributes'], 'monitoring.sensitive_attributes', p));
  const pos = raw['positive_class'];
  if (pos !== undefined && pos !== null) {
    const labels = card.classes?.labels;
    const names = card.classes?.names;
    if (typeof pos !== 'string' && typeof pos !== 'number') {
      p.push({ field: 'monitoring.positive_class', expected: 'a class label or name', got: pos });
    } else if (labels && !labels.some((l) => String(l) === String(pos)) && !(names ?? []).includes(String(pos))) {
      p.push({ field: 'monitoring.positive_class', expected: `one of the classes ${JSON.stringify(names ?? labels)}`, got: pos });
    } else {
      out.positiveClass = pos;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** What a fixture output means, from its name (fixture cards do not say). */
function inferOutputRole(name: string, dtype: unknown, task: unknown): CardOutput['role'] | undefined {
  const n = name.toLowerCase();
  if (n === 'label' && typeof dtype === 'string' && /^(u?int\d+|string)$/.test(dtype)) return 'label';
  if (n === 'probabilities' || n.includes('prob')) return 'probabilities';
  if (n === 'logits') return 'logits';
  if (task === 'regression') return 'value';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// shared field readers: each returns undefined and records a problem when the value is wrong

function readClasses(
  rawLabels: unknown,
  rawNames: unknown,
  labelsField: string,
  namesField: string,
  p: Problem[],
): ModelCard['classes'] | undefined {
  if (!Array.isArray(rawLabels) || rawLabels.length === 0) {
    return void p.push({ field: labelsField, expected: 'a non-empty list of class labels (numbers or strings)', got: rawLabels });
  }
  const bad = rawLabels.filter((l) => !(typeof l === 'string' || (typeof l === 'number' && Number.isFinite(l))));
  if (bad.length > 0) return void p.push({ field: labelsField, expected: 'numbers or strings', got: bad });
  if (new Set(rawLabels).size !== rawLabels.length) return void p.push({ field: labelsField, expected: 'distinct labels', got: rawLabels });
  const labels = rawLabels as (number | string)[];
  const names = optStringList(rawNames, namesField, p);
  if (names && names.length !== labels.length) {
    return void p.push({ field: namesField, expected: `${labels.length} names, one per label`, got: names.length, gotText: `${names.length} names` });
  }
  return names ? { labels, names } : { labels };
}

function readMetrics(raw: unknown, strict: boolean, p: Problem[]): Record<string, number> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) return void p.push({ field: 'metrics', expected: 'a mapping of metric name: number', got: raw });
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === 'number' && Number.isFinite(v)) metrics[k] = v;
    else if (strict) p.push({ field: `metrics.${k}`, expected: 'a finite number', got: v });
  }
  return metrics;
}

function rejectUnknownKeys(obj: Record<string, unknown>, known: readonly string[], prefix: string, p: Problem[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      const hint = closestName(key, known);
      p.push({
        field: `${prefix}${key}`,
        expected: hint ? `a known field (did you mean "${hint}"?)` : `one of ${known.join(', ')} (unknown field)`,
        got: obj[key],
      });
    }
  }
}

/** The known name a typo most likely meant: one sharing its first four letters, or within two edits. */
function closestName(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of known) {
    if (k.length >= 4 && name.startsWith(k.slice(0, 4))) return name;
    const d = editDistance(k, name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function optString(raw: unknown, field: string, p: Problem[]): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') return raw;
  return void p.push({ field, expected: 'a string', got: raw });
}

function reqName(raw: unknown, field: string, p: Problem[]): string | undefined {
  if (typeof raw === 'string' && raw !== '') return raw;
  return void p.push({ field, expected: 'a non-empty name', got: raw });
}

function optBool(raw: unknown, field: string, p: Problem[]): boolean | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'boolean') return raw;
  return void p.push({ field, expected: 'true or false', got: raw });
}

function optList(raw: unknown, field: string, p: Problem[]): unknown[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (Array.isArray(raw)) return raw;
  return void p.push({ field, expected: 'a list', got: raw });
}

function optStringList(raw: unknown, field: string, p: Problem[]): string[] | undefined {
  const list = optList(raw, field, p);
  if (!list) return undefined;
  const bad = list.filter((x) => typeof x !== 'string' || x === '');
  if (bad.length > 0) return void p.push({ field, expected: 'a list of non-empty strings', got: bad });
  const seen = new Set<string>();
  const dups = (list as string[]).filter((x) => (seen.has(x) ? true : (seen.add(x), false)));
  if (dups.length > 0) return void p.push({ field, expected: 'distinct names', got: dups, gotText: `duplicates ${JSON.stringify(dups)}` });
  return list as string[];
}

function optRange(raw: unknown, field: string, p: Problem[]): [number, number] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (Array.isArray(raw) && raw.length === 2 && raw.every((x) => Number.isSafeInteger(x)) && (raw[0] as number) <= (raw[1] as number)) {
    return [raw[0] as number, raw[1] as number];
  }
  return void p.push({ field, expected: '[min, max]: two integers with min <= max', got: raw });
}

function uniqueByName<T extends { name: string }>(items: (T | undefined)[], field: string, p: Problem[]): T[] {
  const out = items.filter((x): x is T => x !== undefined);
  const seen = new Set<string>();
  for (const item of out) {
    if (seen.has(item.name)) p.push({ field, expected: 'each name once', got: item.name, gotText: `"${item.name}" twice` });
    seen.add(item.name);
  }
  return out;
}

function setIfDefined<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}

function snakeToCamel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseDocument(text: string, fileName: string): unknown {
  const isJson = extname(fileName).toLowerCase() === '.json';
  try {
    return isJson ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new BerthError(
      'INVALID_CARD',
      `model card ${fileName} is not valid ${isJson ? 'JSON' : 'YAML'}: ${reason}\nFix the syntax and register again.`,
      { field: '(document)', expected: isJson ? 'JSON' : 'YAML', got: reason },
      { cause: err },
    );
  }
}

function formatGot(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'nothing' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

function formatProblem(pr: Problem): string {
  return `${pr.field}: expected ${pr.expected}, got ${pr.gotText ?? formatGot(pr.got)}`;
}

function cardError(fileName: string, format: string | undefined, problems: Problem[]): BerthError {
  const first = problems[0]!;
  return new BerthError(
    'INVALID_CARD',
    `invalid model card ${fileName}${format ? ` (${format})` : ''}:\n  ${problems.map(formatProblem).join('\n  ')}\n` +
      'Fix the card and register again; the format is described in docs/model-card.md.',
    { field: first.field, expected: first.expected, got: first.got, problems },
  );
}

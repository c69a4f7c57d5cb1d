/**
 * Evaluate a model on labelled data: run it over one or more CSV, JSONL or Parquet files exactly as
 * `berth batch run` would (the jobs layer's source, card mapping and scorer), then compare its
 * predictions with the label column using monitoring's metric functions. The model is a registry
 * version (`credit@production`) or a model file with its card, before it is registered.
 *
 * @example
 * const e = await evaluateModel(
 *   { model: { kind: 'registry', ref: 'credit@production' }, datasets: ['holdout.csv'] },
 *   { registry },
 * );
 * console.log(e.metrics.accuracy, e.headline); // 0.8663 [ 'accuracy', 'roc_auc', 'f1' ]
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, ModelRef, isBerthError, type Signature } from '../core/index.js';
import { FeatureMapping, Scorer, inputFormatOf, openSource, type Cell, type ModelArtifacts, type RowSource } from '../jobs/index.js';
import { classificationMetrics, monitoringSchema, regressionMetrics, type PredictionSpec } from '../monitor/index.js';
import { mergeCardIntoSignature, parseCard, type VersionRecord } from '../registry/index.js';
import { EVALUATED_TASKS, HEADLINE_METRICS, isEvaluatedTask, type EvaluatedTask, type MetricName } from './metrics.js';

/** Where versions and their files come from: a `Registry`, or a server's API through the CLI. */
export interface EvaluationRegistry extends ModelArtifacts {
  resolve(ref: ModelRef): Promise<VersionRecord>;
}

/** The model to evaluate: a registered version, or a model file and its card. */
export type EvaluatedModel =
  | { kind: 'registry'; ref: ModelRef | string }
  | {
      kind: 'files';
      /** the ONNX file */
      file: string;
      /** its card, `berth-card/1` in JSON or YAML (as `berth models register --card` reads it) */
      card: string;
      /** what reports call it (default: nothing; the file names it) */
      name?: string;
    };

/** What to evaluate on what. */
export interface EvaluationInput {
  model: EvaluatedModel;
  /** CSV, JSONL or Parquet files holding the model's feature columns and the label column */
  datasets: readonly string[];
  /** the ground-truth column (default `label`) */
  labelColumn?: string;
  /** rows per runtime call (default 4,096) */
  batchRows?: number;
}

/** What evaluation needs besides its input. */
export interface EvaluationDeps {
  /** needed for a registry version */
  registry?: EvaluationRegistry;
  now?: () => number;
}

/** Which model was evaluated. */
export interface EvaluatedModelInfo {
  /** the reference as given (`credit@production`), for a registry version */
  ref?: string;
  name?: string;
  version?: number;
  sha256: string;
  /** the model file, for a model given as files */
  file?: string;
}

/** One dataset of an evaluation. */
export interface EvaluatedDataset {
  path: string;
  /** of the file's bytes */
  sha256: string;
  rows: number;
  labelledRows: number;
}

/** A model's quality on labelled data. */
export interface Evaluation {
  model: EvaluatedModelInfo;
  task: EvaluatedTask;
  labelColumn: string;
  /** rows read, over every dataset */
  rows: number;
  /** rows with a label: the ones the metrics count (rows without one are skipped) */
  labelledRows: number;
  /** metric name → value; a metric that cannot be computed (one class only, no probabilities) is absent */
  metrics: Record<string, number>;
  /** the metrics gates use by default, those of `metrics` that apply to the task */
  headline: MetricName[];
  datasets: EvaluatedDataset[];
  seconds: number;
}

const DEFAULT_LABEL_COLUMN = 'label';
const DEFAULT_BATCH_ROWS = 4096;
const CHUNK_ROWS = 8192;

/**
 * Run a model over labelled datasets and compute its metrics against the label column. Metrics are
 * pooled over all datasets; rows whose label is empty are skipped and counted.
 *
 * @throws BerthError INVALID_ARGUMENT for a dataset that does not exist or lacks the label column,
 *   INVALID_CARD for a model whose card names no task Berth can evaluate, INVALID_INPUT for a labelled
 *   row that cannot be scored or a label that is not one of the model's classes
 */
export async function evaluateModel(input: EvaluationInput, deps: EvaluationDeps = {}): Promise<Evaluation> {
  const now = deps.now ?? Date.now;
  const started = now();
  const labelColumn = input.labelColumn ?? DEFAULT_LABEL_COLUMN;
  if (labelColumn.trim() === '') {
    throw new BerthError('INVALID_ARGUMENT', 'label column: expected a column name, got an empty string; pass the name of the ground-truth column (e.g. --label label)', {
      field: 'label', expected: 'a column name', got: labelColumn,
    });
  }
  const batchRows = input.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isSafeInteger(batchRows) || batchRows < 1) {
    throw new BerthError('INVALID_ARGUMENT', `batchRows: expected a whole number ≥ 1, got ${batchRows}`, { field: 'batchRows', expected: '≥ 1', got: batchRows });
  }
  if (input.datasets.length === 0) {
    throw new BerthError('INVALID_ARGUMENT', 'datasets: expected at least one labelled CSV, JSONL or Parquet file, got none; pass --dataset FILE', {
      field: 'dataset', expected: 'one or more files', got: [],
    });
  }
  // every dataset is checked before any model is loaded
  const datasets = await Promise.all(input.datasets.map((d) => checkDataset(d)));
  const { version, artifacts, info } = await loadModel(input.model, deps);
  const task = taskOf(version, info);
  const spec = monitoringSchema(version.signature, version.card ?? undefined).prediction;
  const scorer = await Scorer.load(artifacts, version);
  try {
    const reader = predictionReader(scorer, spec, task, version, info);
    const acc = new Accumulator(task === 'regression' ? 0 : spec.classes.length, reader.hasProbabilities);
    const evaluated: EvaluatedDataset[] = [];
    for (const d of datasets) {
      const counts = await scoreDataset(d.path, { version, scorer, reader, acc, labelColumn, batchRows, spec, task });
      evaluated.push({ path: d.path, sha256: await d.sha256, ...counts });
    }
    const metrics = task === 'regression' ? regressionOf(acc) : classificationOf(acc, task, spec);
    const headline = HEADLINE_METRICS[task].filter((m) => metrics[m] !== undefined);
    return {
      model: info,
      task,
      labelColumn,
      rows: evaluated.reduce((s, d) => s + d.rows, 0),
      labelledRows: evaluated.reduce((s, d) => s + d.labelledRows, 0),
      metrics,
      headline,
      datasets: evaluated,
      seconds: (now() - started) / 1000,
    };
  } finally {
    await scorer.dispose().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// the model

interface LoadedModelFacts {
  version: VersionRecord;
  artifacts: ModelArtifacts;
  info: EvaluatedModelInfo;
}

async function loadModel(model: EvaluatedModel, deps: EvaluationDeps): Promise<LoadedModelFacts> {
  if (model.kind === 'registry') {
    if (deps.registry === undefined) {
      throw new BerthError('INTERNAL', `evaluating ${String(model.ref)} needs a registry to resolve it in (deps.registry)`, { field: 'registry' });
    }
    const ref = typeof model.ref === 'string' ? ModelRef.parse(model.ref) : model.ref;
    const version = await deps.registry.resolve(ref);
    return {
      version,
      artifacts: deps.registry,
      info: { ref: ref.toString(), name: version.model, version: version.version, sha256: version.sha256 },
    };
  }
  return loadModelFiles(model);
}

/**
 * A model file and its card read as registration reads them (parseCard, the runtime's inspect,
 * mergeCardIntoSignature), as an unregistered version: number 0, nothing stored.
 */
async function loadModelFiles(model: Extract<EvaluatedModel, { kind: 'files' }>): Promise<LoadedModelFacts> {
  const bytes = await readInputFile(model.file, 'model', 'an ONNX model file', '--candidate-file');
  const cardText = (await readInputFile(model.card, 'card', 'a model card (berth-card/1, JSON or YAML)', '--candidate-card')).toString();
  const card = parseCard(cardText, path.basename(model.card));
  const { OnnxBackend } = await import('../runtime/index.js');
  let raw: Signature;
  try {
    raw = await new OnnxBackend().inspect(bytes);
  } catch (err) {
    if (isBerthError(err, 'INVALID_MODEL')) {
      throw new BerthError('INVALID_MODEL', `${model.file} is not a loadable model: ${err.message}`, { ...err.context, field: 'model', got: model.file }, { cause: err });
    }
    throw err;
  }
  const signature = mergeCardIntoSignature(raw, card);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const file = path.resolve(model.file);
  const name = model.name ?? path.basename(model.file);
  const version: VersionRecord = {
    model: name, version: 0, sha256, sizeBytes: bytes.byteLength, signature, card,
    lineage: { ...card.lineage, sourcePath: file }, tags: { ...card.tags }, description: card.description ?? null,
    createdAt: new Date().toISOString(), createdBy: '', sourcePath: file, reference: null,
  };
  return {
    version,
    artifacts: { artifacts: { read: () => Promise.resolve(bytes) } },
    info: { ...(model.name !== undefined ? { name: model.name } : {}), sha256, file: model.file },
  };
}

async function readInputFile(file: string, field: string, what: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`;
    throw new BerthError('INVALID_ARGUMENT', `${field} ${file} ${reason}; expected ${what}; check the path given to ${flag}`, {
      field, expected: what, got: file,
    }, { cause: err });
  }
}

function describeModel(info: EvaluatedModelInfo): string {
  if (info.ref !== undefined) return info.version !== undefined && !/@\d+$/.test(info.ref) ? `${info.ref} (version ${info.version})` : info.ref;
  return info.file ?? info.name ?? info.sha256.slice(0, 12);
}

function taskOf(version: VersionRecord, info: EvaluatedModelInfo): EvaluatedTask {
  const task = version.card?.task;
  if (isEvaluatedTask(task)) return task;
  const expected = EVALUATED_TASKS.join(', ');
  const fix = info.file !== undefined
    ? `add "task: ${EVALUATED_TASKS[0]}" (or another of them) to the card`
    : 'register the version again with a card that names its task (berth models register … --card card.yaml)';
  throw new BerthError(
    'INVALID_CARD',
    task === undefined
      ? `${describeModel(info)} has ${version.card === null ? 'no model card' : 'no task in its card'}, so Berth cannot tell which metrics apply; expected a task of ${expected}; ${fix} (docs/model-card.md)`
      : `${describeModel(info)} is a ${task} model; evaluation computes metrics for ${expected} only`,
    { field: 'task', expected: [...EVALUATED_TASKS], got: task ?? null, ...(info.name !== undefined ? { model: info.name } : {}), ...(info.version !== undefined ? { version: info.version } : {}) },
  );
}

// ---------------------------------------------------------------------------------------------
// datasets

interface CheckedDataset {
  path: string;
  /** hashed while the model loads */
  sha256: Promise<string>;
}

async function checkDataset(file: string): Promise<CheckedDataset> {
  const st = await stat(file).catch(() => undefined);
  if (st === undefined || !st.isFile()) {
    throw new BerthError('INVALID_ARGUMENT', `dataset ${file} ${st === undefined ? 'does not exist' : 'is not a file'}; expected a labelled CSV, JSONL or Parquet file; check the path given to --dataset`, {
      field: 'dataset', expected: 'an existing .csv, .jsonl or .parquet file', got: file,
    });
  }
  try {
    inputFormatOf(file);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `dataset ${file}: the format cannot be told from its name; expected a file ending .csv, .jsonl or .parquet; rename it`, {
      field: 'dataset', expected: ['.csv', '.jsonl', '.parquet'], got: path.extname(file),
    }, { cause: err });
  }
  const sha256 = hashFile(file);
  // a rejection is read when the result is built; until then it must not count as unhandled
  sha256.catch(() => undefined);
  return { path: file, sha256 };
}

function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (b) => h.update(b))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

// ---------------------------------------------------------------------------------------------
// predictions and labels

/** Reads the scorer's prediction columns as class indices (and probabilities) or values. */
interface PredictionReader {
  hasProbabilities: boolean;
  /** class → index: labels and names, as text */
  classIndex: Map<string, number>;
  /** column of the predicted class (classification) or value (regression) */
  predicted: number;
  /** columns of the class probabilities, in class order */
  probabilities: number[];
}

function predictionReader(scorer: Scorer, spec: PredictionSpec, task: EvaluatedTask, version: VersionRecord, info: EvaluatedModelInfo): PredictionReader {
  const names = scorer.columns.map((c) => c.name);
  if (task === 'regression') {
    const predicted = names.indexOf('value');
    if (spec.kind !== 'regression' || predicted < 0) {
      throw new BerthError('INVALID_CARD', `${describeModel(info)} is a regression model by its card, but none of its outputs (${version.signature.outputs.map((o) => `"${o.name}"`).join(', ')}) reads as one value per row; give the output the role "value" in the card (docs/model-card.md)`, {
        field: 'outputs', expected: 'one output with the role value and one value per row', got: version.signature.outputs.map((o) => o.name),
      });
    }
    return { hasProbabilities: false, classIndex: new Map(), predicted, probabilities: [] };
  }
  const predicted = names.indexOf('label');
  if (spec.kind !== 'classification' || predicted < 0 || spec.classes.length < 2) {
    throw new BerthError('INVALID_CARD', `${describeModel(info)} is a ${task} model by its card, but its outputs (${version.signature.outputs.map((o) => `"${o.name}"`).join(', ')}) give no predicted class; give an output the role label, probabilities or logits in the card (docs/model-card.md)`, {
      field: 'outputs', expected: 'an output with the role label, probabilities or logits', got: version.signature.outputs.map((o) => o.name),
    });
  }
  const classIndex = new Map<string, number>();
  spec.classNames.forEach((n, i) => classIndex.set(n, i));
  spec.classes.forEach((c, i) => classIndex.set(c, i));
  const probabilities = spec.classNames.map((n) => names.indexOf(`p_${n}`));
  const hasProbabilities = probabilities.every((i) => i >= 0);
  return { hasProbabilities, classIndex, predicted, probabilities: hasProbabilities ? probabilities : [] };
}

/** Growing columns of labelled rows: truth, prediction, and probabilities when the model gives them. */
class Accumulator {
  rows = 0;
  truth: Float64Array = new Float64Array(CHUNK_ROWS);
  predicted: Float64Array = new Float64Array(CHUNK_ROWS);
  proba: Float64Array | null;

  constructor(
    readonly k: number,
    withProbabilities: boolean,
  ) {
    this.proba = withProbabilities && k > 0 ? new Float64Array(CHUNK_ROWS * k) : null;
  }

  push(truth: number, predicted: number, proba: ArrayLike<number> | null): void {
    if (this.rows === this.truth.length) this.grow();
    this.truth[this.rows] = truth;
    this.predicted[this.rows] = predicted;
    if (this.proba !== null && proba !== null) this.proba.set(proba, this.rows * this.k);
    this.rows++;
  }

  private grow(): void {
    const size = this.truth.length * 2;
    const widen = (a: Float64Array, n: number): Float64Array => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.truth = widen(this.truth, size);
    this.predicted = widen(this.predicted, size);
    if (this.proba !== null) this.proba = widen(this.proba, size * this.k);
  }
}

interface ScoreContext {
  version: VersionRecord;
  scorer: Scorer;
  reader: PredictionReader;
  acc: Accumulator;
  labelColumn: string;
  batchRows: number;
  spec: PredictionSpec;
  task: EvaluatedTask;
}

/** A label cell as a class index, NaN for a missing label, or the text of an unknown class. */
function classOf(v: Cell, classIndex: Map<string, number>): number | string {
  if (v === null) return NaN;
  const text = typeof v === 'boolean' ? (v ? '1' : '0') : String(v).trim();
  if (text === '') return NaN;
  const i = classIndex.get(text);
  if (i !== undefined) return i;
  // `1.0` in a file of floats is the class `1`
  const n = Number(text);
  if (Number.isFinite(n)) {
    const j = classIndex.get(String(n));
    if (j !== undefined) return j;
  }
  return text;
}

/** A label cell as a number, NaN for a missing label, or the text of a value that is not a number. */
function valueOf(v: Cell): number | string {
  if (v === null) return NaN;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  const t = v.trim();
  if (t === '') return NaN;
  const n = Number(t);
  return Number.isNaN(n) ? t : n;
}

function isMissing(v: Cell): boolean {
  return v === null || (typeof v === 'string' && v.trim() === '') || (typeof v === 'number' && Number.isNaN(v));
}

/** Score one dataset into the accumulator; its row counts. */
async function scoreDataset(file: string, ctx: ScoreContext): Promise<{ rows: number; labelledRows: number }> {
  let source: RowSource;
  try {
    source = await openSource({ input: file });
  } catch (err) {
    if (isBerthError(err, 'INVALID_ARGUMENT')) {
      const reason = err.message.replace(/^input /, '').replace(/; check the path .*$/s, '');
      throw new BerthError('INVALID_ARGUMENT', `dataset ${reason}; check that the file holds what its extension says (.csv, .jsonl, .parquet)`, {
        ...err.context, field: 'dataset', got: file,
      }, { cause: err });
    }
    throw err;
  }
  try {
    const names = source.columns.map((c) => c.name);
    const labelAt = names.indexOf(ctx.labelColumn);
    if (labelAt < 0) {
      throw new BerthError('INVALID_ARGUMENT', `dataset ${file} has no label column "${ctx.labelColumn}"; its columns are ${listNames(names)}; name the ground-truth column with --label COLUMN (or the step's labelColumn)`, {
        field: 'label', expected: ctx.labelColumn, got: names,
      });
    }
    let mapping: FeatureMapping;
    try {
      mapping = FeatureMapping.create(ctx.version.signature, names);
    } catch (err) {
      if (isBerthError(err, 'INVALID_INPUT')) {
        throw new BerthError('INVALID_INPUT', `dataset ${file}: ${err.message}`, { ...err.context, field: err.context.field ?? 'dataset' }, { cause: err });
      }
      throw err;
    }
    let rows = 0;
    let labelled = 0;
    const textColumns = source.format === 'csv' ? mapping.features : [];
    const { reader, acc, scorer, task } = ctx;
    const k = acc.k;
    const probs = acc.proba !== null ? new Float64Array(k) : null;
    for await (const chunk of source.chunks({ chunkRows: Math.max(CHUNK_ROWS, ctx.batchRows), textColumns })) {
      const labels = chunk.columns[labelAt]!;
      for (let at = 0; at < chunk.rows; at += ctx.batchRows) {
        const to = Math.min(chunk.rows, at + ctx.batchRows);
        const mapped = mapping.map(chunk, at, to);
        // a row that cannot be scored matters only when it carries a label
        const bad = mapped.errors.find((e) => !isMissing(labels[e.row - 1 - chunk.start]!));
        if (bad !== undefined) {
          throw new BerthError('INVALID_INPUT', `dataset ${file}, row ${bad.row}, column "${bad.column}": ${bad.reason}; fix the row, or empty its label to leave it out of the evaluation`, {
            field: bad.column, got: bad.row,
          });
        }
        const predictions = await scorer.score(mapped.tensors, mapped.good.length);
        const predicted = predictions[reader.predicted]!;
        mapped.good.forEach((g, j) => {
          const r = at + g;
          const cell = labels[r]!;
          const truth = task === 'regression' ? valueOf(cell) : classOf(cell, reader.classIndex);
          if (typeof truth === 'string') throw badLabel(file, chunk.start + r + 1, truth, ctx);
          if (Number.isNaN(truth)) return;
          let p: number;
          if (task === 'regression') p = Number(predicted[j]);
          else {
            const c = classOf(predicted[j]!, reader.classIndex);
            if (typeof c !== 'number' || Number.isNaN(c)) throw unknownPrediction(predicted[j]!, ctx);
            p = c;
          }
          if (probs !== null) for (let c = 0; c < k; c++) probs[c] = Number(predictions[reader.probabilities[c]!]![j]);
          acc.push(truth, p, probs);
          labelled++;
        });
        rows += to - at;
      }
    }
    return { rows, labelledRows: labelled };
  } finally {
    await source.close();
  }
}

function badLabel(file: string, row: number, got: string, ctx: ScoreContext): BerthError {
  if (ctx.task === 'regression') {
    return new BerthError('INVALID_INPUT', `dataset ${file}, row ${row}: label ${JSON.stringify(got)} in column "${ctx.labelColumn}" is not a number, and this model is a regression; fix the label, or empty it to leave the row out`, {
      field: ctx.labelColumn, expected: 'a number', got,
    });
  }
  const classes = ctx.spec.classes.map((c, i) => (ctx.spec.classNames[i] !== c ? `${c} (${ctx.spec.classNames[i]})` : c));
  return new BerthError('INVALID_INPUT', `dataset ${file}, row ${row}: label ${JSON.stringify(got)} in column "${ctx.labelColumn}" is not one of the model's classes ${classes.join(', ')}; write each label as a class label or name, or check that --label names the right column`, {
    field: ctx.labelColumn, expected: ctx.spec.classes, got,
  });
}

function unknownPrediction(got: Cell, ctx: ScoreContext): BerthError {
  const v = ctx.version;
  return new BerthError('INVALID_CARD', `${v.model}${v.version > 0 ? `@${v.version}` : ''} predicted the class ${JSON.stringify(String(got))}, which is not one of the classes its card lists (${ctx.spec.classes.join(', ')}); fix the card's classes so that they match the model's labels`, {
    field: 'classes', expected: ctx.spec.classes, got: String(got),
  });
}

// ---------------------------------------------------------------------------------------------
// metrics

function classificationOf(acc: Accumulator, task: EvaluatedTask, spec: PredictionSpec): Record<string, number> {
  const n = acc.rows;
  const truth = Int32Array.from(acc.truth.subarray(0, n));
  const pred = Int32Array.from(acc.predicted.subarray(0, n));
  const proba = acc.proba !== null ? acc.proba.subarray(0, n * acc.k) : null;
  const binary = task === 'binary-classification';
  const m = classificationMetrics(pred, truth, acc.k, proba, binary ? spec.positiveIndex ?? 1 : null);
  const out: Record<string, number> = {};
  if (m === null) return out;
  const put = (name: MetricName, v: number | null): void => {
    if (v !== null && Number.isFinite(v)) out[name] = v;
  };
  put('accuracy', m.accuracy);
  put(binary ? 'precision' : 'macro_precision', m.precision);
  put(binary ? 'recall' : 'macro_recall', m.recall);
  put(binary ? 'f1' : 'macro_f1', m.f1);
  put(binary ? 'roc_auc' : 'macro_roc_auc', m.rocAuc);
  put('log_loss', m.logLoss);
  return out;
}

function regressionOf(acc: Accumulator): Record<string, number> {
  const m = regressionMetrics(acc.predicted.subarray(0, acc.rows), acc.truth.subarray(0, acc.rows));
  const out: Record<string, number> = {};
  if (m === null) return out;
  for (const [name, v] of [['rmse', m.rmse], ['mae', m.mae], ['r2', m.r2]] as const) if (Number.isFinite(v)) out[name] = v;
  return out;
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 30).map((n) => JSON.stringify(n)).join(', ');
  return names.length > 30 ? `${shown}, … (${names.length} in all)` : shown;
}

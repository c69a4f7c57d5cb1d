/**
 * Reference profiles: the statistics of a version's training data that live traffic is compared
 * with. Built from a table (CSV or Parquet) by the version's monitored view: each feature column,
 * the label column, and the model's own predictions on the reference rows (so prediction drift has
 * something to drift from).
 */
import { BerthError, allocateData, toFloat16Bits, type Datatype, type Signature, type Tensor, type TensorData } from '../core/index.js';
import { isNumericColumn, sliceTable, type Column, type Table } from '../data/index.js';
import { LogSegment } from './inference-log/segment.js';
import { classificationMetrics, fitCalibration, regressionMetrics, type Calibration } from './performance.js';
import { ProfileBuilder, type ColumnSpec, type DatasetProfile } from './profile/index.js';
import { PREDICTION_COLUMN, SCORE_COLUMN, profileColumns, type MonitoringSchema } from './schema.js';

/** Runs the model on a batch of inputs (in signature order); outputs as the runtime returns them. */
export type PredictFn = (inputs: Tensor[]) => Promise<Tensor[]>;

export interface ReferenceProfileOptions {
  /** run the model over the reference to profile its predictions */
  predict?: PredictFn;
  /** rows per model call */
  batchRows?: number;
  /** where the data came from, kept in the profile */
  source?: string;
  /** called after each batch with rows done and the total (progress bars) */
  onProgress?: (done: number, total: number) => void;
}

export interface ReferenceProfileResult {
  profile: DatasetProfile;
  /** the profiled columns (features found in the table, predictions, label) */
  columns: string[];
  /** features the model has that the table lacks (profiled as absent) */
  missingFeatures: string[];
  predictions: boolean;
  /** confidence → accuracy on the reference (classifiers with probabilities and labels) */
  calibration: Calibration | null;
  /** the model's metrics on the reference rows, when they have labels */
  metrics: Record<string, number>;
}

/**
 * Profile a reference table for a version. Every feature of the schema must be a column of the
 * table (else INVALID_ARGUMENT naming the missing ones and the table's columns), except that a table
 * without the label is fine.
 */
export async function buildReferenceProfile(
  table: Table,
  schema: MonitoringSchema,
  signature: Signature,
  opts: ReferenceProfileOptions = {},
): Promise<ReferenceProfileResult> {
  const names = new Set(table.columns.map((c) => c.name));
  const missing = schema.features.filter((f) => !names.has(f.name)).map((f) => f.name);
  if (schema.features.length > 0 && missing.length === schema.features.length) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `reference data has none of the model's features (${preview(schema.features.map((f) => f.name))}); its columns are ${preview([...names])}`,
      { field: 'reference', expected: schema.features.map((f) => f.name), got: [...names] },
    );
  }
  if (missing.length > 0) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `reference data lacks the feature${missing.length > 1 ? 's' : ''} ${preview(missing)}; its columns are ${preview([...names])}. Profile a file with every feature the model takes.`,
      { field: 'reference', expected: schema.features.map((f) => f.name), got: [...names] },
    );
  }
  const canPredict = opts.predict !== undefined && schema.prediction.kind !== 'none' && schema.rawInputs.length === 0;
  const specs: ColumnSpec[] = profileColumns(schema, { label: true }).filter(
    (c) => names.has(c.name) || (canPredict && (c.name === PREDICTION_COLUMN || c.name === SCORE_COLUMN)),
  );
  const builder = new ProfileBuilder(specs, opts.source !== undefined ? { source: opts.source } : {});
  const batch = Math.max(1, opts.batchRows ?? 4096);
  const labelCol = table.columns.find((c) => c.name === schema.labelColumn);
  const p = schema.prediction;
  // predictions and labels side by side, for the calibration and the reference metrics
  const predText: (string | null)[] = [];
  const predValue: number[] = [];
  const confidence: number[] = [];
  const labels: (string | null)[] = [];
  for (let start = 0; start < table.rows; start += batch) {
    const end = Math.min(table.rows, start + batch);
    const part = sliceTable(table, start, end);
    if (canPredict) {
      const inputs = tableToInputs(part, signature, schema);
      const outputs = await opts.predict!(inputs);
      const seg = new LogSegment('reference', 'reference', 0, schema, signature.inputs.map((s) => s.name));
      seg.append('reference', inputs, outputs, end - start, 0, 0, 1);
      const predicted = seg.take();
      const extra = predicted.columns.filter((c) => c.name === PREDICTION_COLUMN || c.name === SCORE_COLUMN);
      collectPredictions(predicted, schema, predText, predValue, confidence);
      for (let r = start; r < end; r++) labels.push(labelCol ? cellText(labelCol, r) : null);
      builder.addTable({ rows: part.rows, columns: [...part.columns.filter((c) => c.name !== PREDICTION_COLUMN && c.name !== SCORE_COLUMN), ...extra] });
    } else {
      builder.addTable(part);
    }
    opts.onProgress?.(end, table.rows);
  }
  let calibration: Calibration | null = null;
  const metrics: Record<string, number> = {};
  if (canPredict && labelCol) {
    if (p.kind === 'classification') {
      const index = new Map(p.classes.map((c, i) => [c, i]));
      const pred = Int32Array.from(predText, (t) => (t === null ? -1 : (index.get(t) ?? -1)));
      const truth = Int32Array.from(labels, (t) => (t === null ? -1 : (index.get(t) ?? -1)));
      const m = classificationMetrics(pred, truth, p.classes.length, null, p.positiveIndex);
      if (m) {
        metrics['accuracy'] = m.accuracy;
        metrics['f1'] = m.f1;
        const correct = Uint8Array.from(pred, (c, i) => (c >= 0 && c === truth[i] ? 1 : 0));
        const conf = Float64Array.from(confidence, (c, i) => (truth[i]! >= 0 ? c : NaN));
        calibration = fitCalibration(conf, correct);
      }
    } else if (p.kind === 'regression') {
      const m = regressionMetrics(Float64Array.from(predValue), Float64Array.from(labels, (t) => (t === null ? NaN : Number(t))));
      if (m) {
        metrics['rmse'] = m.rmse;
        metrics['mae'] = m.mae;
        metrics['r2'] = m.r2;
      }
    }
  }
  return { profile: builder.build(), columns: specs.map((s) => s.name), missingFeatures: missing, predictions: canPredict, calibration, metrics };
}

/** The predicted label (or value) and the confidence in it of each row of a logged batch. */
function collectPredictions(t: Table, schema: MonitoringSchema, text: (string | null)[], value: number[], confidence: number[]): void {
  const pred = t.columns.find((c) => c.name === PREDICTION_COLUMN);
  const p = schema.prediction;
  const probs = p.classes.map((c) => t.columns.find((x) => x.name === `proba_${c}`));
  for (let r = 0; r < t.rows; r++) {
    if (pred && pred.type === 'string') {
      const code = pred.codes[r]!;
      const label = code < 0 ? null : pred.dictionary[code]!;
      text.push(label);
      const ci = label === null ? -1 : p.classes.indexOf(label);
      const col = ci >= 0 ? probs[ci] : undefined;
      confidence.push(col && isNumericColumn(col) ? col.values[r]! : NaN);
    } else if (pred && isNumericColumn(pred)) {
      value.push(pred.values[r]!);
    }
  }
}

/**
 * One cell as label text: strings as written, numbers in JavaScript's shortest form (so a CSV's
 * `1` and a card's class label `1` match), null when missing. Exported for the rollout gates, which
 * match a data set's labels to the model's classes the same way the reference metrics do.
 */
export function cellText(c: Column, r: number): string | null {
  if (c.type === 'string') return c.codes[r]! < 0 ? null : c.dictionary[c.codes[r]!]!;
  if (isNumericColumn(c)) return Number.isNaN(c.values[r]!) ? null : String(c.values[r]!);
  return null;
}

/**
 * The model's input tensors for a table's rows, laid out by the schema's features. Missing numbers
 * become NaN (float inputs); a missing or non-integer value of an integer input, or a missing string,
 * is refused naming the row and column, since the model cannot run on it.
 */
export function tableToInputs(table: Table, signature: Signature, schema: MonitoringSchema): Tensor[] {
  const n = table.rows;
  return signature.inputs.map((spec) => {
    const feats = schema.features.filter((f) => f.input === spec.name);
    if (feats.length === 0) {
      throw new BerthError('INVALID_ARGUMENT', `input "${spec.name}" has no named features, so rows of a table cannot be laid onto it`, { field: spec.name });
    }
    const width = feats[0]!.width;
    const shape = spec.shape.map((d, i) => (i === 0 ? n : d < 0 ? 1 : d));
    const data: TensorData = allocateData(spec.datatype, n * width);
    for (const f of feats) {
      const col = table.columns.find((c) => c.name === f.name)!;
      fill(data, spec.datatype, col, f.index, width, n);
    }
    return { name: spec.name, datatype: spec.datatype, shape, data };
  });
}

function fill(data: TensorData, dt: Datatype, col: Column, index: number, width: number, n: number): void {
  const bad = (r: number, v: unknown, expected: string): BerthError =>
    new BerthError('INVALID_ARGUMENT', `reference row ${r + 1}, column "${col.name}": expected ${expected}, got ${JSON.stringify(v)}`, {
      field: col.name, expected, got: v,
    });
  if (dt === 'BYTES') {
    const out = data as string[];
    for (let r = 0; r < n; r++) {
      let v: string | null;
      if (col.type === 'string') v = col.codes[r]! < 0 ? null : col.dictionary[col.codes[r]!]!;
      else if (isNumericColumn(col)) v = Number.isNaN(col.values[r]!) ? null : String(col.values[r]!);
      else v = null;
      if (v === null) throw bad(r, null, 'a string');
      out[r * width + index] = v;
    }
    return;
  }
  const numeric = (r: number): number => {
    if (isNumericColumn(col)) return col.values[r]!;
    if (col.type === 'string') {
      const c = col.codes[r]!;
      if (c < 0) return NaN;
      const s = col.dictionary[c]!;
      const v = Number(s);
      if (s.trim() === '' || Number.isNaN(v)) throw bad(r, s, 'a number');
      return v;
    }
    return NaN;
  };
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let r = 0; r < n; r++) {
      const v = numeric(r);
      if (!Number.isSafeInteger(v)) throw bad(r, v, 'an integer');
      (data as BigInt64Array)[r * width + index] = BigInt(v);
    }
    return;
  }
  const out = data as Float32Array;
  const integer = dt !== 'FP32' && dt !== 'FP64' && dt !== 'FP16';
  for (let r = 0; r < n; r++) {
    const v = numeric(r);
    if (integer && !Number.isInteger(v)) throw bad(r, v, 'an integer');
    out[r * width + index] = dt === 'FP16' ? toFloat16Bits(v) : v;
  }
}

function preview(names: readonly string[]): string {
  const shown = names.slice(0, 8).map((n) => `"${n}"`).join(', ');
  return names.length > 8 ? `${shown} and ${names.length - 8} more` : shown;
}

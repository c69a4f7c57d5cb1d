/**
 * The rows one deployment's version has logged since the last flush, column by column. Appending a
 * request copies its feature values and predictions out of the tensors (which may then be freed).
 */
import { fromFloat16Bits, type Tensor } from '../../core/index.js';
import type { Table } from '../../data/index.js';
import { PREDICTION_COLUMN, SCORE_COLUMN, probaColumn, type MonitoringSchema } from '../schema.js';
import { BinaryColumnBuilder, NumberColumnBuilder, RunStringBuilder, StringColumnBuilder, type ColumnBuilder } from './builders.js';

/** Columns every log file has, before the features. */
export const LOG_TS = 'ts';
export const LOG_REQUEST_ID = 'request_id';
export const LOG_ROW = 'row';
export const LOG_MODEL = 'model';
export const LOG_VERSION = 'version';
export const LOG_LATENCY = 'latency_ms';
export const LOG_WEIGHT = 'weight';
/** `OK`, or the error code of a refused request (its features and predictions are missing) */
export const LOG_STATUS = 'status';
/** the field a refused request was refused for (`inputs[0]`, a feature name, …) */
export const LOG_ERROR_FIELD = 'error_field';
/** `primary` (answered the caller), `shadow` (a copy) or `preview` (the blue-green preview route) */
export const LOG_ROLE = 'role';

/** Rows of different roles live in different files: `part-` (primary), `shadow-`, `preview-`. */
export type LogRole = 'primary' | 'shadow' | 'preview';

/** The file-name prefix of a role's log files (reports read `part-` files unless asked otherwise). */
export function logFilePrefix(role: LogRole): string {
  return role === 'primary' ? 'part-' : `${role}-`;
}

/** classifiers with more classes than this log the score and label only, not every probability */
export const MAX_PROBA_COLUMNS = 32;

interface FeatureSlot {
  index: number;
  categorical: boolean;
  builder: NumberColumnBuilder | StringColumnBuilder;
}

/** The features of one input tensor: copied together, row by row. */
interface InputGroup {
  input: number;
  width: number;
  slots: FeatureSlot[];
}

export class LogSegment {
  readonly builders: ColumnBuilder[] = [];
  private readonly ts = new NumberColumnBuilder(LOG_TS, 'timestamp_ms');
  private readonly requestId = new RunStringBuilder(LOG_REQUEST_ID);
  private readonly row = new NumberColumnBuilder(LOG_ROW, 'int64');
  private readonly model = new StringColumnBuilder(LOG_MODEL);
  private readonly version = new NumberColumnBuilder(LOG_VERSION, 'int64');
  private readonly latency = new NumberColumnBuilder(LOG_LATENCY, 'double');
  private readonly weight = new NumberColumnBuilder(LOG_WEIGHT, 'double');
  private readonly status = new StringColumnBuilder(LOG_STATUS);
  private readonly errorField = new StringColumnBuilder(LOG_ERROR_FIELD);
  private readonly roleColumn = new RunStringBuilder(LOG_ROLE);
  private readonly groups: InputGroup[] = [];
  private readonly raw: { input: number; builder: BinaryColumnBuilder }[] = [];
  private readonly prediction: NumberColumnBuilder | StringColumnBuilder | null;
  private readonly score: NumberColumnBuilder | null;
  private readonly proba: NumberColumnBuilder[] = [];
  private inputIndex = new Map<string, number>();
  rows = 0;
  /** wall-clock ms of the first buffered row (for the flush interval) */
  firstAt = 0;
  /** the hour partition of the buffered rows */
  hour = '';

  constructor(
    readonly deployment: string,
    readonly modelName: string,
    readonly modelVersion: number,
    readonly schema: MonitoringSchema,
    inputNames: readonly string[],
    readonly role: LogRole = 'primary',
  ) {
    inputNames.forEach((n, i) => this.inputIndex.set(n, i));
    this.builders.push(this.ts, this.requestId, this.row, this.model, this.version, this.latency, this.weight, this.status, this.errorField, this.roleColumn);
    for (const f of schema.features) {
      const categorical = f.kind === 'categorical';
      const builder = categorical ? new StringColumnBuilder(f.name) : new NumberColumnBuilder(f.name, 'double');
      const input = this.inputIndex.get(f.input) ?? -1;
      let g = this.groups.find((x) => x.input === input);
      if (!g) {
        g = { input, width: f.width, slots: [] };
        this.groups.push(g);
      }
      g.slots.push({ index: f.index, categorical, builder });
      this.builders.push(builder);
    }
    const p = schema.prediction;
    if (p.kind === 'classification') {
      this.prediction = new StringColumnBuilder(PREDICTION_COLUMN);
      this.builders.push(this.prediction);
      if (p.probabilitiesOutput !== undefined || p.logitsOutput !== undefined) {
        this.score = new NumberColumnBuilder(SCORE_COLUMN, 'double');
        this.builders.push(this.score);
        if (p.classes.length <= MAX_PROBA_COLUMNS) {
          for (const c of p.classes) {
            const b = new NumberColumnBuilder(probaColumn(c), 'double');
            this.proba.push(b);
            this.builders.push(b);
          }
        }
      } else {
        this.score = null;
      }
    } else if (p.kind === 'regression') {
      this.prediction = new NumberColumnBuilder(PREDICTION_COLUMN, 'double');
      this.builders.push(this.prediction);
      this.score = null;
    } else {
      this.prediction = null;
      this.score = null;
    }
    for (const r of schema.rawInputs) {
      const builder = new BinaryColumnBuilder(`input.${r.name}`);
      this.raw.push({ input: this.inputIndex.get(r.name) ?? -1, builder });
      this.builders.push(builder);
    }
  }

  /** Copy one request's rows in (all of them, with sampling weight `weight`). */
  append(
    requestId: string,
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
    rows: number,
    latencyMs: number,
    timestampMs: number,
    weight: number,
  ): void {
    if (this.rows === 0) this.firstAt = timestampMs;
    for (let r = 0; r < rows; r++) {
      this.ts.push(timestampMs);
      this.requestId.push(requestId);
      this.row.push(r);
      this.model.push(this.modelName);
      this.version.push(this.modelVersion);
      this.latency.push(latencyMs);
      this.weight.push(weight);
      this.status.push('OK');
      this.errorField.push(null);
      this.roleColumn.push(this.role);
    }
    for (const g of this.groups) {
      const t = g.input >= 0 ? inputs[g.input] : undefined;
      const d = t?.data;
      if (t === undefined || d === undefined) {
        for (const f of g.slots) f.builder.padTo(this.rows + rows);
      } else if (d instanceof Float32Array || d instanceof Float64Array) {
        // the common case: float features copied in one tight loop per request
        const w = g.width;
        const slots = g.slots;
        for (let r = 0; r < rows; r++) {
          const base = r * w;
          for (let j = 0; j < slots.length; j++) {
            const f = slots[j]!;
            if (f.categorical) (f.builder as StringColumnBuilder).push(String(d[base + f.index]!));
            else (f.builder as NumberColumnBuilder).push(d[base + f.index]!);
          }
        }
      } else {
        for (const f of g.slots) {
          if (f.categorical) pushCategorical(f.builder as StringColumnBuilder, t, f.index, g.width, rows);
          else pushNumeric(f.builder as NumberColumnBuilder, t, f.index, g.width, rows);
        }
      }
    }
    this.appendPredictions(outputs, rows);
    for (const r of this.raw) {
      const t = r.input >= 0 ? inputs[r.input] : undefined;
      for (let i = 0; i < rows; i++) r.builder.push(t === undefined ? null : rowBytes(t, i, rows));
    }
    this.rows += rows;
  }

  private appendPredictions(outputs: readonly Tensor[], rows: number): void {
    const p = this.schema.prediction;
    const end = this.rows + rows;
    if (p.kind === 'regression') {
      const t = outputs.find((o) => o.name === p.valueOutput);
      const b = this.prediction as NumberColumnBuilder;
      if (t === undefined || t.datatype === 'BYTES') return b.padTo(end);
      pushNumeric(b, t, 0, Math.max(1, t.data.length / rows), rows);
      return;
    }
    if (p.kind !== 'classification') return;
    const labelB = this.prediction as StringColumnBuilder;
    const scoreT = outputs.find((o) => o.name === (p.probabilitiesOutput ?? p.logitsOutput));
    const labelT = outputs.find((o) => o.name === p.labelOutput);
    const k = p.classes.length;
    let probs: Float64Array | null = null;
    if (scoreT !== undefined && scoreT.datatype !== 'BYTES' && k > 0) {
      probs = probabilities(scoreT, rows, k, scoreT.name === p.logitsOutput);
    }
    if (probs !== null) {
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (probs[r * k + c]! > probs[r * k + best]!) best = c;
        this.score!.push(p.positiveIndex !== null ? probs[r * k + p.positiveIndex]! : probs[r * k + best]!);
        for (let c = 0; c < this.proba.length; c++) this.proba[c]!.push(probs[r * k + c]!);
        if (labelT === undefined) labelB.push(p.classes[best]!);
      }
    } else {
      this.score?.padTo(end);
      for (const b of this.proba) b.padTo(end);
    }
    if (labelT !== undefined) pushCategorical(labelB, labelT, 0, Math.max(1, labelT.data.length / rows), rows);
    else labelB.padTo(end);
  }

  /** A refused request: one row with its error code and field; features and predictions missing. */
  appendFailure(requestId: string, code: string, field: string | null, latencyMs: number, timestampMs: number, weight: number): void {
    if (this.rows === 0) this.firstAt = timestampMs;
    this.ts.push(timestampMs);
    this.requestId.push(requestId);
    this.row.push(0);
    this.model.push(this.modelName);
    this.version.push(this.modelVersion);
    this.latency.push(latencyMs);
    this.weight.push(weight);
    this.status.push(code);
    this.errorField.push(field);
    this.roleColumn.push(this.role);
    this.rows++;
    for (const b of this.builders) b.padTo(this.rows);
  }

  /** The buffered rows as a table; the segment starts over. */
  take(): Table {
    const rows = this.rows;
    for (const b of this.builders) b.padTo(rows);
    const table: Table = { rows, columns: this.builders.map((b) => b.take()) };
    this.rows = 0;
    return table;
  }
}

/** Column `index` of each of `rows` rows of a [rows, width] numeric tensor, as doubles. */
function pushNumeric(b: NumberColumnBuilder, t: Tensor, index: number, width: number, rows: number): void {
  const d = t.data;
  if (t.datatype === 'BYTES') return b.padTo(b.length + rows);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let r = 0; r < rows; r++) b.push(Number(d[r * width + index]!));
  } else if (t.datatype === 'FP16') {
    const h = d as Uint16Array;
    for (let r = 0; r < rows; r++) b.push(fromFloat16Bits(h[r * width + index]!));
  } else {
    const n = d as Float32Array;
    for (let r = 0; r < rows; r++) b.push(n[r * width + index]!);
  }
}

/** Categories as text: strings as sent, integers as decimal text, booleans as 0/1. */
function pushCategorical(b: StringColumnBuilder, t: Tensor, index: number, width: number, rows: number): void {
  const d = t.data;
  if (Array.isArray(d)) {
    for (let r = 0; r < rows; r++) b.push(d[r * width + index] ?? null);
  } else if (t.datatype === 'FP16') {
    const h = d as Uint16Array;
    for (let r = 0; r < rows; r++) b.push(String(fromFloat16Bits(h[r * width + index]!)));
  } else {
    const n = d as ArrayLike<number | bigint>;
    for (let r = 0; r < rows; r++) b.push(String(n[r * width + index]!));
  }
}

/** Class probabilities [rows, k] from a probabilities or logits output (softmax; one column = sigmoid). */
function probabilities(t: Tensor, rows: number, k: number, logits: boolean): Float64Array {
  const d = t.data as ArrayLike<number | bigint>;
  const w = d.length / rows;
  const out = new Float64Array(rows * k);
  const num = (i: number): number => (t.datatype === 'FP16' ? fromFloat16Bits(d[i] as number) : Number(d[i]!));
  for (let r = 0; r < rows; r++) {
    if (w === 1 && k === 2) {
      const x = num(r);
      const pos = logits ? 1 / (1 + Math.exp(-x)) : x;
      out[r * 2] = 1 - pos;
      out[r * 2 + 1] = pos;
    } else if (logits) {
      let max = -Infinity;
      for (let c = 0; c < k; c++) max = Math.max(max, num(r * w + c));
      let sum = 0;
      for (let c = 0; c < k; c++) sum += out[r * k + c] = Math.exp(num(r * w + c) - max);
      for (let c = 0; c < k; c++) out[r * k + c] = out[r * k + c]! / sum;
    } else {
      for (let c = 0; c < k; c++) out[r * k + c] = c < w ? num(r * w + c) : NaN;
    }
  }
  return out;
}

/** The bytes of row `r` of a tensor with `rows` rows (strings: UTF-8 JSON of the row's values). */
function rowBytes(t: Tensor, r: number, rows: number): Uint8Array {
  const d = t.data;
  const per = d.length / rows;
  if (Array.isArray(d)) return Buffer.from(JSON.stringify(d.slice(r * per, r * per + per)));
  const view = d as Exclude<Tensor['data'], string[]>;
  const bytes = view.BYTES_PER_ELEMENT;
  return new Uint8Array(view.buffer.slice(view.byteOffset + r * per * bytes, view.byteOffset + (r + 1) * per * bytes));
}

/** A request's predictions as monitoring reads them: class labels (and probabilities), or values. */
export interface ExtractedPredictions {
  /** predicted class per row (classification), as the log writes it */
  labels: (string | null)[] | null;
  /** class probabilities [rows, classes] in schema order (classifiers with a score output) */
  probabilities: Float64Array | null;
  /** predicted value per row (regression) */
  values: Float64Array | null;
}

/** Read the predictions out of a request's outputs, the same way the log records them. */
export function extractPredictions(schema: MonitoringSchema, outputs: readonly Tensor[], rows: number): ExtractedPredictions {
  const p = schema.prediction;
  if (p.kind === 'regression') {
    const t = outputs.find((o) => o.name === p.valueOutput);
    if (t === undefined || t.datatype === 'BYTES') return { labels: null, probabilities: null, values: null };
    const d = t.data as ArrayLike<number | bigint>;
    const w = Math.max(1, d.length / rows);
    const values = new Float64Array(rows);
    for (let r = 0; r < rows; r++) values[r] = t.datatype === 'FP16' ? fromFloat16Bits(d[r * w] as number) : Number(d[r * w]!);
    return { labels: null, probabilities: null, values };
  }
  if (p.kind !== 'classification') return { labels: null, probabilities: null, values: null };
  const k = p.classes.length;
  const scoreT = outputs.find((o) => o.name === (p.probabilitiesOutput ?? p.logitsOutput));
  const labelT = outputs.find((o) => o.name === p.labelOutput);
  const probs = scoreT !== undefined && scoreT.datatype !== 'BYTES' && k > 0 ? probabilities(scoreT, rows, k, scoreT.name === p.logitsOutput) : null;
  const labels: (string | null)[] = new Array<string | null>(rows).fill(null);
  if (labelT !== undefined) {
    const d = labelT.data;
    const w = Math.max(1, d.length / rows);
    for (let r = 0; r < rows; r++) {
      const v = d[r * w];
      labels[r] = v === undefined || v === null ? null : labelT.datatype === 'FP16' ? String(fromFloat16Bits(v as number)) : String(v);
    }
  } else if (probs !== null) {
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (probs[r * k + c]! > probs[r * k + best]!) best = c;
      labels[r] = p.classes[best]!;
    }
  }
  return { labels, probabilities: probs, values: null };
}

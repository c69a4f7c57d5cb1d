/**
 * Ground truth that arrives after the prediction (minutes or days later), keyed by the request id
 * the prediction was answered with and the row within that request. Stored in the registry's
 * database (SQLite or PostgreSQL), so every replica sees every label; a label sent again for the
 * same row replaces the earlier one (a correction). Joined to the inference log at analysis time.
 */
import { BerthError } from '../core/index.js';
import type { Registry } from '../registry/index.js';
import type { MonitoringSchema } from './schema.js';

/** One label as sent by a client, before checking. */
export interface FeedbackInput {
  request_id?: unknown;
  row?: unknown;
  label?: unknown;
}

/** One checked label. `label` is the class label as text (classifiers) or the number as text. */
export interface FeedbackItem {
  requestId: string;
  row: number;
  label: string;
}

export interface StoredFeedback extends FeedbackItem {
  receivedAt: number;
}

/**
 * Check a feedback body against the deployment's schema and flatten it to one item per row. Accepts
 * `{request_id, label}` (label may be a list, one per row of the request), `{request_id, row, label}`,
 * or `{items: [...]}` of those. Any problem rejects the whole body, naming the field.
 */
export function parseFeedback(body: unknown, schema: MonitoringSchema): FeedbackItem[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw bad('body', 'a JSON object {"request_id", "label"} or {"items": [...]}', body);
  }
  const b = body as Record<string, unknown>;
  const list = b['items'] !== undefined ? b['items'] : [b];
  if (!Array.isArray(list)) throw bad('items', 'a list of {"request_id", "label"}', b['items']);
  if (list.length === 0) throw bad('items', 'at least one item', list);
  const out: FeedbackItem[] = [];
  list.forEach((raw, i) => {
    const field = b['items'] !== undefined ? `items[${i}]` : '';
    const at = (f: string): string => (field ? `${field}.${f}` : f);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad(field || 'body', 'an object {"request_id", "label"}', raw);
    const it = raw as FeedbackInput;
    const id = it.request_id;
    if (typeof id !== 'string' || id === '' || id.length > 256) {
      throw bad(at('request_id'), 'the non-empty request id the prediction was answered with (x-request-id), at most 256 characters', id);
    }
    if (it.label === undefined || it.label === null) throw bad(at('label'), 'the true label', it.label);
    if (Array.isArray(it.label)) {
      if (it.row !== undefined) throw bad(at('row'), 'no row when label is a list (one label per row of the request)', it.row);
      if (it.label.length === 0) throw bad(at('label'), 'one label per row of the request', it.label);
      it.label.forEach((l, r) => out.push({ requestId: id, row: r, label: normaliseLabel(l, schema, `${at('label')}[${r}]`) }));
      return;
    }
    const row = it.row ?? 0;
    if (typeof row !== 'number' || !Number.isSafeInteger(row) || row < 0) throw bad(at('row'), 'the row index within the request (an integer >= 0)', row);
    out.push({ requestId: id, row, label: normaliseLabel(it.label, schema, at('label')) });
  });
  return out;
}

/** A label as the log writes predictions: the class label as text, or the value as text. */
export function normaliseLabel(v: unknown, schema: MonitoringSchema, field: string): string {
  const p = schema.prediction;
  if (p.kind === 'regression') {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(field, 'a finite number (this model is a regressor)', v);
    return String(v);
  }
  if (p.kind === 'classification') {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw bad(field, `one of the classes ${describeClasses(schema)}`, v);
    }
    const text = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
    const byLabel = p.classes.indexOf(text);
    if (byLabel >= 0) return p.classes[byLabel]!;
    const byName = p.classNames.indexOf(text);
    if (byName >= 0) return p.classes[byName]!;
    if (p.classes.length === 0) return text;
    throw bad(field, `one of the classes ${describeClasses(schema)}`, v);
  }
  if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return String(v);
  throw bad(field, 'a string or a finite number', v);
}

function describeClasses(schema: MonitoringSchema): string {
  const p = schema.prediction;
  return p.classes.map((c, i) => (p.classNames[i] !== undefined && p.classNames[i] !== c ? `${c} (${p.classNames[i]})` : c)).join(', ');
}

function bad(field: string, expected: string, got: unknown): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`, { field, expected, got });
}

/** Where labels live. */
export interface FeedbackStore {
  /** Store labels for a deployment, all or none; returns how many replaced an earlier label. */
  put(deployment: string, items: readonly FeedbackItem[], receivedAt: number): Promise<{ stored: number; replaced: number }>;
  /** Every label of a deployment received at or after `since` (ms). */
  labelsSince(deployment: string, since: number): Promise<StoredFeedback[]>;
  count(deployment: string): Promise<number>;
}

/**
 * Labels in the registry's database (the `feedback` table): every replica sharing the registry
 * reads the same ground truth, whichever of them received it.
 */
export class RegistryFeedbackStore implements FeedbackStore {
  constructor(private readonly registry: Registry) {}

  put(deployment: string, items: readonly FeedbackItem[], receivedAt: number): Promise<{ stored: number; replaced: number }> {
    return this.registry.putFeedback(deployment, items, receivedAt);
  }

  labelsSince(deployment: string, since: number): Promise<StoredFeedback[]> {
    return this.registry.feedbackSince(deployment, since);
  }

  count(deployment: string): Promise<number> {
    return this.registry.feedbackCount(deployment);
  }
}

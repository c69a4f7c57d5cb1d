/**
 * Which rows of a log table carry data, and what each weighs — asked by drift, quality and reports
 * alike, so they agree on it.
 */
import { isNumericColumn, type Table } from '../../data/index.js';
import { LOG_STATUS, LOG_WEIGHT } from './segment.js';

/**
 * Rows of answered requests: 1, refused or failed ones (whose features and predictions are missing): 0.
 * A row without a status (a table that is not a log) counts as answered. Null when every row is.
 */
export function answeredRows(t: Table): Uint8Array | null {
  const c = t.columns.find((x) => x.name === LOG_STATUS);
  if (!c || c.type !== 'string') return null;
  const ok = c.dictionary.indexOf('OK');
  let mask: Uint8Array | null = null;
  for (let i = 0; i < t.rows; i++) {
    const code = c.codes[i]!;
    if (code === ok || code < 0) continue;
    mask ??= new Uint8Array(t.rows).fill(1);
    mask[i] = 0;
  }
  return mask;
}

/** Sampling weights of a log table's rows; null when every row weighs 1 (or the table has none). */
export function rowWeights(t: Table): Float64Array | null {
  const c = t.columns.find((x) => x.name === LOG_WEIGHT);
  if (!c || !isNumericColumn(c)) return null;
  for (let i = 0; i < c.values.length; i++) if (c.values[i] !== 1) return c.values;
  return null;
}

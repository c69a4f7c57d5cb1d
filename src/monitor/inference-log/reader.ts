/**
 * Reading a window of a deployment's inference log back: only the hour partitions the window
 * touches, only the columns asked for, rows filtered by timestamp (and version), as one table.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, toBerthError } from '../../core/index.js';
import { concatTables, describeParquet, readParquetFile, readParquetFilesConcatenated, type Column, type ParquetDescription, type Table } from '../../data/index.js';
import { deploymentDir, hourPartition } from './inference-log.js';
import { LOG_REQUEST_ID, LOG_TS, LOG_VERSION, LOG_WEIGHT, logFilePrefix, type LogRole } from './segment.js';

/** Which logged rows: a time range [from, to) and/or the newest N rows, optionally of one version. */
export interface LogWindow {
  from?: number;
  to?: number;
  lastRows?: number;
  /** the newest N requests, each with all its rows */
  lastRequests?: number;
  version?: number;
  /** whose rows: what answered callers (default), shadow copies, or the preview route */
  role?: LogRole;
}

/** What a read found, besides the rows. */
export interface LogReadInfo {
  /** the window held more rows than `maxRows`: a uniform sample of its files was read, weights scaled */
  truncated: boolean;
  /** files read, and files the window holds */
  files: number;
  filesInWindow: number;
  /** what each sampled row's weight was multiplied by (1 when everything was read) */
  weightFactor: number;
}

export interface LogFile {
  path: string;
  hour: string;
}

/** Whether an hour partition value overlaps [from, to) (either end open when undefined). */
export function hourInRange(from?: number, to?: number): (hour: string) => boolean {
  const lo = from === undefined ? '' : hourPartition(from);
  const hi = to === undefined ? '\uffff' : hourPartition(to - 1);
  return (hour) => hour >= lo && hour <= hi;
}

/** The log files of a deployment whose hour overlaps [from, to), oldest hour first. */
export async function listLogFiles(dataDir: string, deployment: string, from?: number, to?: number, role: LogRole = 'primary'): Promise<LogFile[]> {
  const prefix = logFilePrefix(role);
  const root = deploymentDir(dataDir, deployment);
  const inRange = hourInRange(from, to);
  const hours = (await readdir(root).catch(() => [] as string[]))
    .filter((h) => h.startsWith('hour='))
    .map((h) => h.slice(5))
    .filter(inRange)
    .sort();
  const out: LogFile[] = [];
  for (const hour of hours) {
    const files = (await readdir(path.join(root, `hour=${hour}`)).catch(() => [] as string[])).filter((f) => f.startsWith(prefix) && f.endsWith('.parquet')).sort();
    for (const f of files) out.push({ path: path.join(root, `hour=${hour}`, f), hour });
  }
  return out;
}

/**
 * The rows of a window, oldest first, as one table whose columns are the union of the files'
 * (a column missing from a file reads as missing). Null when the window holds no rows.
 */
export async function readInferenceLog(
  dataDir: string,
  deployment: string,
  window: LogWindow,
  opts: { columns?: string[]; maxRows?: number; info?: LogReadInfo } = {},
): Promise<Table | null> {
  if (window.from !== undefined && window.to !== undefined && window.from >= window.to) {
    throw new BerthError('INVALID_ARGUMENT', `window: "from" must be before "to", got from ${new Date(window.from).toISOString()} and to ${new Date(window.to).toISOString()}`, {
      field: 'window', expected: 'from < to', got: { from: window.from, to: window.to },
    });
  }
  const files = await listLogFiles(dataDir, deployment, window.from, window.to, window.role);
  const columns = opts.columns === undefined ? undefined : [...new Set([LOG_TS, LOG_VERSION, ...(window.lastRequests !== undefined ? [LOG_REQUEST_ID] : []), ...opts.columns])];
  const described = new Map<string, ParquetDescription>();
  const describe = async (f: LogFile): Promise<ParquetDescription> => {
    let d = described.get(f.path);
    if (!d) {
      d = await describeParquet(f.path);
      described.set(f.path, d);
    }
    return d;
  };

  // A time window larger than the cap is read as a uniform sample of its files (seeded, so the same
  // window gives the same report), and each row then stands for total / read rows.
  let chosen = files;
  let factor = 1;
  const byTime = window.lastRows === undefined && window.lastRequests === undefined;
  if (byTime && opts.maxRows !== undefined && files.length > 1) {
    const sizes = await Promise.all(files.map(async (f) => (await describe(f)).rows));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > opts.maxRows) {
      const order = files.map((_, i) => i);
      let seed = 0x2545f491;
      for (let i = order.length - 1; i > 0; i--) {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        const j = (seed >>> 0) % (i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const pick = new Set<number>();
      let picked = 0;
      for (const i of order) {
        if (picked >= opts.maxRows) break;
        pick.add(i);
        picked += sizes[i]!;
      }
      chosen = files.filter((_, i) => pick.has(i));
      factor = total / picked;
    }
  }

  // a time window over files that all hold the same columns: one read straight into window-sized arrays
  if (byTime && columns !== undefined && chosen.length > 1) {
    const all = await Promise.all(chosen.map(async (f) => new Set((await describe(f)).columns.map((c) => c.name))));
    const common = columns.filter((c) => all.every((have) => have.has(c)));
    const anywhere = columns.filter((c) => all.some((have) => have.has(c)));
    if (common.length === anywhere.length) {
      const whole = await readParquetFilesConcatenated(chosen.map((f) => f.path), common);
      if (whole !== null) {
        if (opts.info) {
          opts.info.truncated = factor !== 1;
          opts.info.files = chosen.length;
          opts.info.filesInWindow = files.length;
          opts.info.weightFactor = factor;
        }
        const kept = filterRows(whole, window);
        return kept.rows === 0 ? null : scaleWeights(sortByTs(kept), factor);
      }
    }
  }

  const parts: Table[] = [];
  let rows = 0;
  // newest first, so that "the last N rows/requests" never reads old hours
  const limit = window.lastRows ?? Infinity;
  const requests = new Set<string>();
  for (const f of [...chosen].reverse()) {
    if (rows >= limit || (window.lastRequests !== undefined && requests.size >= window.lastRequests)) break;
    // files of different versions hold different columns: ask each only for what it has
    let cols = columns;
    if (cols !== undefined) {
      const have = new Set((await describe(f)).columns.map((c) => c.name));
      cols = cols.filter((c) => have.has(c));
    }
    const t = await readParquetFile(f.path, cols === undefined ? {} : { columns: cols });
    const kept = filterRows(t, window);
    if (kept.rows === 0) continue;
    parts.push(kept);
    rows += kept.rows;
    if (window.lastRequests !== undefined) {
      const ids = kept.columns.find((c) => c.name === LOG_REQUEST_ID);
      if (ids && ids.type === 'string') for (let i = 0; i < ids.codes.length; i++) if (ids.codes[i]! >= 0) requests.add(ids.dictionary[ids.codes[i]!]!);
    }
  }
  if (opts.info) {
    opts.info.truncated = factor !== 1;
    opts.info.files = parts.length;
    opts.info.filesInWindow = files.length;
    opts.info.weightFactor = factor;
  }
  if (parts.length === 0) return null;
  let table = unionTables(parts.reverse());
  table = sortByTs(table);
  if (table.rows > limit) table = takeRows(table, indexRange(table.rows - limit, table.rows));
  if (window.lastRequests !== undefined) table = newestRequests(table, window.lastRequests);
  table = scaleWeights(table, factor);
  return table;
}

/** The rows of the newest `n` requests (rows of one request are logged together, in order). */
function newestRequests(t: Table, n: number): Table {
  const ids = t.columns.find((c) => c.name === LOG_REQUEST_ID);
  if (!ids || ids.type !== 'string') return t;
  const seen = new Set<number>();
  let start = t.rows;
  for (let i = t.rows - 1; i >= 0; i--) {
    const code = ids.codes[i]!;
    if (!seen.has(code)) {
      if (seen.size === n) break;
      seen.add(code);
    }
    start = i;
  }
  return start === 0 ? t : takeRows(t, indexRange(start, t.rows));
}

/** Multiply the sampling weights (rows read from a sample of the files stand for the rest). */
function scaleWeights(t: Table, factor: number): Table {
  if (factor === 1) return t;
  const w = t.columns.find((c) => c.name === LOG_WEIGHT);
  if (!w || w.type !== 'double') return t;
  const scaled = Float64Array.from(w.values, (x) => x * factor);
  return { ...t, columns: t.columns.map((c) => (c === w ? { name: c.name, type: 'double', values: scaled } : c)) };
}

function filterRows(t: Table, w: LogWindow): Table {
  if (w.from === undefined && w.to === undefined && w.version === undefined) return t;
  const ts = numbers(t, LOG_TS);
  const ver = w.version === undefined ? null : numbers(t, LOG_VERSION);
  if (ts === null) return t;
  let all = true;
  const keep: number[] = [];
  for (let i = 0; i < t.rows; i++) {
    const x = ts[i]!;
    const ok = (w.from === undefined || x >= w.from) && (w.to === undefined || x < w.to) && (ver === null || ver[i] === w.version);
    if (ok) keep.push(i);
    else all = false;
  }
  return all ? t : takeRows(t, Int32Array.from(keep));
}

function numbers(t: Table, name: string): Float64Array | null {
  const c = t.columns.find((c) => c.name === name);
  return c && c.type !== 'string' && c.type !== 'binary' ? c.values : null;
}

function indexRange(from: number, to: number): Int32Array {
  const idx = new Int32Array(to - from);
  for (let i = 0; i < idx.length; i++) idx[i] = from + i;
  return idx;
}

function sortByTs(t: Table): Table {
  const ts = numbers(t, LOG_TS);
  if (ts === null) return t;
  let sorted = true;
  for (let i = 1; i < ts.length && sorted; i++) if (ts[i]! < ts[i - 1]!) sorted = false;
  if (sorted) return t;
  const idx = Int32Array.from({ length: t.rows }, (_, i) => i).sort((a, b) => ts[a]! - ts[b]! || a - b);
  return takeRows(t, idx);
}

/** The rows at `idx`, in that order. */
export function takeRows(t: Table, idx: Int32Array): Table {
  const columns: Column[] = t.columns.map((c): Column => {
    switch (c.type) {
      case 'string': {
        const codes = new Int32Array(idx.length);
        for (let i = 0; i < idx.length; i++) codes[i] = c.codes[idx[i]!]!;
        return { name: c.name, type: 'string', dictionary: c.dictionary, codes };
      }
      case 'binary':
        return { name: c.name, type: 'binary', values: Array.from(idx, (i) => c.values[i] ?? null) };
      default: {
        const values = new Float64Array(idx.length);
        for (let i = 0; i < idx.length; i++) values[i] = c.values[idx[i]!]!;
        return { name: c.name, type: c.type, values };
      }
    }
  });
  return t.metadata ? { rows: idx.length, columns, metadata: t.metadata } : { rows: idx.length, columns };
}

/** Concatenate the parts of a window; files of different versions may hold different columns. */
function unionTables(parts: readonly Table[]): Table {
  if (parts.length === 1) return parts[0]!;
  try {
    return concatTables(parts, { missing: 'fill' });
  } catch (err) {
    const e = toBerthError(err);
    throw new BerthError('INVALID_ARGUMENT', `${e.message}: the window spans versions that log this column differently; read one version at a time (--version)`, e.context);
  }
}

import { BerthError } from '../core/index.js';

/** A window as users write it, resolved against "now". */
export interface ResolvedWindow {
  from: number | null;
  to: number | null;
  lastRows: number | null;
  /** the newest N requests (each with all its rows) */
  lastRequests: number | null;
  description: string;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parse a window:
 * - `15m`, `2h`, `7d`, `90s`, `1w`: the last so long, up to now;
 * - `1000rows` (or `1000r`): the newest 1000 rows; `500requests`: the newest 500 requests, all their rows;
 * - `2026-11-24T08:00Z..2026-11-24T10:00Z`: an explicit range (either side may be empty: open);
 * - `all`: everything retained.
 *
 * @example
 * parseWindow('15m', Date.parse('2026-11-24T10:00Z')); // { from: 09:45, to: 10:00, … }
 */
export function parseWindow(text: string, now: number, field = 'window'): ResolvedWindow {
  const s = text.trim();
  if (s === 'all') return { from: null, to: null, lastRows: null, lastRequests: null, description: 'all retained traffic' };
  let m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(s);
  if (m) {
    const ms = Number(m[1]) * UNITS[m[2]!]!;
    if (ms <= 0) throw bad(field, text);
    return { from: now - ms, to: now + 1, lastRows: null, lastRequests: null, description: `last ${s}` };
  }
  m = /^(\d+)\s*(?:rows?|r)$/.exec(s);
  if (m) {
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n) || n <= 0) throw bad(field, text);
    return { from: null, to: null, lastRows: n, lastRequests: null, description: `last ${n} rows` };
  }
  m = /^(\d+)\s*(?:requests?|req)$/.exec(s);
  if (m) {
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n) || n <= 0) throw bad(field, text);
    return { from: null, to: null, lastRows: null, lastRequests: n, description: `last ${n} requests` };
  }
  const range = s.split('..');
  if (range.length === 2) {
    const from = range[0] === '' ? null : instant(range[0]!, field, text);
    const to = range[1] === '' ? null : instant(range[1]!, field, text);
    if (from !== null && to !== null && from >= to) {
      throw new BerthError('INVALID_ARGUMENT', `${field}: the range must start before it ends, got ${JSON.stringify(text)}`, { field, expected: 'FROM..TO with FROM < TO', got: text });
    }
    return { from, to, lastRows: null, lastRequests: null, description: `${range[0] || 'start'} .. ${range[1] || 'now'}` };
  }
  throw bad(field, text);
}

function instant(s: string, field: string, text: string): number {
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw bad(field, text);
  return t;
}

function bad(field: string, got: string): BerthError {
  return new BerthError(
    'INVALID_ARGUMENT',
    `${field}: expected a duration (15m, 2h, 7d), a row count (1000rows), a request count (500requests), a time range (2026-11-24T08:00Z..2026-11-24T10:00Z) or "all", got ${JSON.stringify(got)}`,
    { field, expected: 'duration | Nrows | Nrequests | FROM..TO | all', got },
  );
}

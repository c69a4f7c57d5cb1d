import { readFile } from 'node:fs/promises';
import { BerthError } from '../core/index.js';

/*
 * Parsers of what people type on the command line: times, sizes, tags, JSON arguments. Each throws
 * INVALID_ARGUMENT naming the option, what it expected and what came.
 */

function invalid(field: string, expected: string, got: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${JSON.stringify(got)}`, { field, expected, got });
}

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const UNIT_MS: Record<string, number> = {
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hr: 3_600_000, hrs: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
  w: 604_800_000, week: 604_800_000, weeks: 604_800_000,
};

/**
 * A moment as people write it, in the local time zone unless it says otherwise:
 * `2026-11-17 14:03`, `2026-11-17T14:03:00Z`, `2026-11-17`, `14:03` (today), `yesterday 14:03`,
 * `last tuesday 14:03`, `tuesday`, `2h ago`, `90 minutes ago`, `now`, or epoch milliseconds.
 * Returns epoch milliseconds.
 */
export function parseUserTime(field: string, text: string, now: number = Date.now()): number {
  const s = text.trim().toLowerCase();
  const expected = 'a time like "2026-11-17 14:03", "2026-11-17T14:03:00Z", "yesterday 14:03", "last tuesday 14:03", "2h ago" or epoch milliseconds';
  if (s === 'now') return now;
  if (/^[0-9]{10,16}$/.test(s)) return Number(s);
  const rel = /^(\d+(?:\.\d+)?)\s*([a-z]+)\s+ago$/.exec(s);
  if (rel) {
    const unit = UNIT_MS[rel[2]!];
    if (unit === undefined) throw invalid(field, expected, text);
    return now - Math.round(Number(rel[1]) * unit);
  }
  const full = /^(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?\s*(z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (full) {
    const [, y, mo, d, h, mi, sec, frac, zone] = full;
    if (zone !== undefined) {
      const ms = Date.parse(text.trim().replace(' ', 'T'));
      if (Number.isFinite(ms)) return ms;
      throw invalid(field, expected, text);
    }
    const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(sec ?? 0), Number((frac ?? '0').padEnd(3, '0')));
    if (date.getMonth() !== Number(mo) - 1 || date.getDate() !== Number(d)) throw invalid(field, expected, text);
    return date.getTime();
  }
  // [yesterday | today | last <weekday> | <weekday>] [HH:MM[:SS]]
  const day = /^(?:(today|yesterday)|(last\s+)?(sunday|monday|tuesday|wednesday|thursday|friday|saturday))?\s*(?:(?:at\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (day && s !== '') {
    const [, rel2, , weekday, h, mi, sec] = day;
    const base = new Date(now);
    const date = new Date(base.getFullYear(), base.getMonth(), base.getDate(), Number(h ?? 0), Number(mi ?? 0), Number(sec ?? 0));
    if (rel2 === 'yesterday') date.setDate(date.getDate() - 1);
    if (weekday !== undefined) {
      const want = WEEKDAYS.indexOf(weekday);
      let back = (base.getDay() - want + 7) % 7;
      // "tuesday" on a Tuesday means today; "last tuesday" means a week ago
      if (back === 0 && day[2] !== undefined) back = 7;
      date.setDate(date.getDate() - back);
    }
    if (Number(h ?? 0) > 23 || Number(mi ?? 0) > 59 || Number(sec ?? 0) > 59) throw invalid(field, expected, text);
    return date.getTime();
  }
  throw invalid(field, expected, text);
}

/** `512MB` (10^6), `512MiB` (2^20), `1.5GB`, `1048576` → bytes. */
export function parseBytes(field: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|tb|t|kib|mib|gib|tib)?\s*$/i.exec(text);
  if (!m) throw invalid(field, 'a size like 512MB, 2GiB or a number of bytes', text);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult: Record<string, number> = {
    b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
    kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
  };
  return Math.round(Number(m[1]) * mult[unit]!);
}

/** A non-negative integer option. */
export function parseCount(field: string, text: string, min = 0): number {
  if (!/^\d{1,15}$/.test(text.trim()) || Number(text) < min) throw invalid(field, `an integer >= ${min}`, text);
  return Number(text);
}

/** A version number (1, 2, …). */
export function parseVersionArg(field: string, text: string): number {
  return parseCount(field, text, 1);
}

/** `k=v` pairs into tags; the value may contain `=`. */
export function parseTags(field: string, pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw invalid(field, 'KEY=VALUE', pair);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/** A JSON argument given inline or as `@file.json` (`@-` reads stdin). */
export async function readJsonArg(field: string, text: string, stdin: () => Promise<string> = readStdin): Promise<unknown> {
  let source = text;
  let where = 'the argument';
  if (text.startsWith('@')) {
    const file = text.slice(1);
    where = file === '-' ? 'stdin' : file;
    try {
      source = file === '-' ? await stdin() : await readFile(file, 'utf8');
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `${field}: cannot read ${file}: ${(err as Error).message}`, { field, got: text }, { cause: err });
    }
  }
  try {
    return JSON.parse(source) as unknown;
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: ${where} is not valid JSON (${(err as Error).message})`, { field, expected: 'JSON', got: text.slice(0, 80) });
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/*
 * Traffic and rollout flags. The server checks the request again in full; these check the shape of
 * what was typed so a typo is a usage error naming the flag, before anything is sent.
 */

const STICKY_FROM = ['header', 'parameter', 'input'] as const;

/** `30s`, `10m`, `2h`, `1d`, `500ms` or milliseconds (the rollout API's grammar); returns the text as typed, checked. */
export function parseDurationArg(field: string, text: string, minMs = 0): string {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']! : NaN;
  if (!m || !(ms >= minMs)) throw invalid(field, `a duration like 30s, 10m or 2h${minMs > 0 ? ` (at least ${minMs / 1000}s)` : ''}`, text);
  return text.trim();
}

/** `5,25,50,100` or `shadow,10,50,100`: percentages in (0, 100], increasing, `shadow` only first. */
export function parseStepsArg(field: string, text: string): string {
  const items = text.split(',').map((x) => x.trim());
  const expected = 'increasing percentages in (0, 100] like 5,25,50,100, optionally after "shadow" (shadow,10,100)';
  let last = 0;
  items.forEach((it, i) => {
    if (it === 'shadow' && i === 0) return;
    const n = /^\d+(?:\.\d+)?$/.test(it) ? Number(it) : NaN;
    if (!(n > last && n <= 100)) throw invalid(field, expected, text);
    last = n;
  });
  return items.join(',');
}

/** `header:x-user-id`, `parameter:user_id` or `input:customer_id`. */
export function parseStickyArg(field: string, text: string): { from: (typeof STICKY_FROM)[number]; name: string } {
  const i = text.indexOf(':');
  const from = text.slice(0, i);
  const name = text.slice(i + 1);
  if (i <= 0 || !(STICKY_FROM as readonly string[]).includes(from) || name.length === 0 || name.length > 128) {
    throw invalid(field, 'header:NAME, parameter:NAME or input:NAME', text);
  }
  return { from: from as (typeof STICKY_FROM)[number], name: from === 'header' ? name.toLowerCase() : name };
}

/**
 * `2=10,3=5` (version=percent) into traffic arms. With `defaultPercent`, `3` alone means
 * `3=defaultPercent` (shadows: a copy of every request). Shares must not add up to more than 100.
 */
export function parseArmsArg(field: string, text: string, opts: { defaultPercent?: number } = {}): { version: number; percent: number }[] {
  const shadows = opts.defaultPercent !== undefined;
  const expected = shadows ? 'VERSION[=PERCENT][,…] with PERCENT in (0, 100], like 3 or 3=50,4=10' : 'VERSION=PERCENT[,…] with PERCENT in [0, 100], like 2=10 or 2=10,3=5';
  const arms: { version: number; percent: number }[] = [];
  for (const part of text.split(',').map((x) => x.trim())) {
    const m = /^(\d{1,9})(?:=(\d+(?:\.\d+)?)%?)?$/.exec(part);
    const version = m ? Number(m[1]) : NaN;
    const percent = m?.[2] !== undefined ? Number(m[2]) : opts.defaultPercent;
    if (!m || version < 1 || percent === undefined || percent > 100 || (shadows && percent === 0)) {
      throw invalid(field, expected, text);
    }
    if (arms.some((a) => a.version === version)) throw invalid(field, `each version once (${version} is listed twice)`, text);
    arms.push({ version, percent });
  }
  const total = arms.reduce((s, a) => s + a.percent, 0);
  if (!shadows && total > 100) throw invalid(field, `shares adding up to at most 100% (these add up to ${total}%)`, text);
  return arms;
}

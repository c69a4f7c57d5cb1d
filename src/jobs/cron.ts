/**
 * Cron schedules for scheduled batch jobs: a 5-field parser (Vixie syntax and semantics), the
 * instants a schedule fires in an IANA time zone, and which runs are due after downtime.
 * Pure: no timers, no clock; the caller passes `now`.
 *
 * The schedule is a set of local wall-clock minutes (those matching the fields), each turned into
 * one instant:
 * - a local time that exists once fires then;
 * - a local time that occurs twice (the clock goes back) fires once, at its first occurrence;
 * - a local time that does not exist (the clock jumps forward) fires at the first instant after
 *   the gap, the moment of the change (with Europe/Paris, `30 2 * * *` fires at 03:00 CEST on the
 *   last Sunday of March). Several times in the same gap fire once, together.
 *
 * Time zone rules come from the platform's Intl (ICU); there is no dependency.
 */
import { BerthError } from '../core/index.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** How far next() and previous() may look before giving up (never reached by a parsed schedule). */
const SEARCH_YEARS = 400;
/** Spacing of the offset samples that find a zone's transitions (none in real data are closer). */
const TRANSITION_PROBE_MS = 12 * 3_600_000;

/** The five fields of an expression, in order. */
export const CRON_FIELDS = ['minute', 'hour', 'day-of-month', 'month', 'day-of-week'] as const;
export type CronField = (typeof CRON_FIELDS)[number];

/** The @macros and the expression each stands for. */
export const CRON_MACROS = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
} as const satisfies Record<string, string>;

/** What to do with runs that fell in downtime (docs/batch.md, "Schedules: cron syntax"). */
export const MISSED_POLICIES = ['skip', 'run-once', 'run-all'] as const;
export type MissedPolicy = (typeof MISSED_POLICIES)[number];

/** Options of {@link parseCron}. */
export interface CronOptions {
  /** an IANA zone name (`Europe/Paris`); the fields are read in its wall-clock time (default `UTC`) */
  timezone?: string;
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
const MONTH_WORDS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'] as const;
const DAY_WORDS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;
const WRITE_FIVE = 'write 5 fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * *"';

interface FieldSpec {
  name: CronField;
  min: number;
  max: number;
  /** how many distinct values the field has (the largest step) */
  distinct: number;
  /** names accepted for values, value = index + nameBase */
  names?: readonly string[];
  nameBase: number;
  takes: string;
}

const SPECS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59, distinct: 60, nameBase: 0, takes: '0-59' },
  { name: 'hour', min: 0, max: 23, distinct: 24, nameBase: 0, takes: '0-23' },
  { name: 'day-of-month', min: 1, max: 31, distinct: 31, nameBase: 0, takes: '1-31' },
  { name: 'month', min: 1, max: 12, distinct: 12, names: MONTH_NAMES, nameBase: 1, takes: '1-12 or JAN-DEC' },
  { name: 'day-of-week', min: 0, max: 7, distinct: 7, names: DAY_NAMES, nameBase: 0, takes: '0-7 (0 and 7 are Sunday) or SUN-SAT' },
];

/** One parsed field: its values (sorted, day-of-week 7 folded onto 0) and whether it was written `*` or `*∕n`. */
interface FieldSet {
  values: readonly number[];
  has: readonly boolean[];
  star: boolean;
}

interface Fields {
  minute: FieldSet;
  hour: FieldSet;
  dom: FieldSet;
  month: FieldSet;
  dow: FieldSet;
}

/** Wall-clock parts of a naive local time. */
interface Parts {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
}

// ---------------------------------------------------------------------------------------------
// Parsing

function invalid(expr: string, message: string, context: Record<string, unknown> = {}): BerthError {
  return new BerthError('INVALID_ARGUMENT', `cron ${JSON.stringify(expr)}: ${message}`, { field: 'cron', ...context });
}

function parseValue(expr: string, spec: FieldSpec, token: string): number {
  let value: number;
  if (/^\d+$/.test(token)) {
    value = Number(token);
  } else {
    const index = spec.names?.indexOf(token.toUpperCase()) ?? -1;
    if (index < 0) {
      const unsupported = /[LW#?]/i.test(token) ? ' (L, W, # and ? are not supported)' : '';
      throw invalid(expr, `${spec.name} ${JSON.stringify(token)} is not ${spec.names ? 'a number or a name' : 'a number'}${unsupported}; ${spec.name} takes ${spec.takes}`, {
        cronField: spec.name, expected: spec.takes, got: token,
      });
    }
    value = index + spec.nameBase;
  }
  if (value < spec.min || value > spec.max) {
    throw invalid(expr, `${spec.name} ${token} is out of range; ${spec.name} takes ${spec.takes}`, {
      cronField: spec.name, expected: spec.takes, got: token,
    });
  }
  return value;
}

function parseField(expr: string, spec: FieldSpec, text: string): FieldSet {
  const items = text.split(',');
  const has: boolean[] = new Array<boolean>(spec.max + 1).fill(false);
  const star = text.startsWith('*');
  for (const item of items) {
    if (item === '') {
      throw invalid(expr, `${spec.name} ${JSON.stringify(text)} has an empty list item; separate values with single commas, e.g. "1,15"`, {
        cronField: spec.name, expected: spec.takes, got: text,
      });
    }
    if (item.startsWith('*') && items.length > 1) {
      throw invalid(expr, `${spec.name} ${JSON.stringify(text)} mixes "*" into a list; write "*" or "*/n" alone, or list the values`, {
        cronField: spec.name, expected: spec.takes, got: text,
      });
    }
    const pieces = item.split('/');
    if (pieces.length > 2) {
      throw invalid(expr, `${spec.name} ${JSON.stringify(item)} has more than one "/"; write a step as "*/15" or "1-30/2"`, {
        cronField: spec.name, expected: spec.takes, got: item,
      });
    }
    const [base = '', stepText] = pieces;
    if (base === '') {
      throw invalid(expr, `${spec.name} ${JSON.stringify(item)} has no value before "/"; write a step as "*/15" or "1-30/2"`, {
        cronField: spec.name, expected: spec.takes, got: item,
      });
    }
    let step = 1;
    if (stepText !== undefined) {
      step = /^\d+$/.test(stepText) ? Number(stepText) : Number.NaN;
      if (!(step >= 1 && step <= spec.distinct)) {
        throw invalid(expr, `${spec.name} step ${JSON.stringify(stepText)} in ${JSON.stringify(item)} must be a whole number from 1 to ${spec.distinct}`, {
          cronField: spec.name, expected: `1-${spec.distinct}`, got: item,
        });
      }
    }
    let lo: number;
    let hi: number;
    if (base === '*') {
      lo = spec.min;
      hi = spec.max;
    } else {
      const dash = base.indexOf('-', 1);
      if (dash < 0) {
        lo = parseValue(expr, spec, base);
        hi = stepText === undefined ? lo : spec.max;
      } else {
        lo = parseValue(expr, spec, base.slice(0, dash));
        hi = parseValue(expr, spec, base.slice(dash + 1));
        // FRI-SUN: Sunday as 7 closes a range that runs to the end of the week
        if (spec.name === 'day-of-week' && hi === 0 && lo > 0) hi = 7;
        if (lo > hi) {
          throw invalid(expr, `${spec.name} range ${JSON.stringify(base)} runs backwards; write the low value first, e.g. "${base.slice(dash + 1)}-${base.slice(0, dash)}"`, {
            cronField: spec.name, expected: spec.takes, got: base,
          });
        }
      }
    }
    for (let v = lo; v <= hi; v += step) has[spec.name === 'day-of-week' && v === 7 ? 0 : v] = true;
  }
  if (spec.name === 'day-of-week') has.length = 7;
  const values: number[] = [];
  has.forEach((on, v) => { if (on) values.push(v); });
  return { values, has, star };
}

function maxDaysIn(month: number): number {
  return month === 2 ? 29 : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function daysInMonth(y: number, month: number): number {
  if (month === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return maxDaysIn(month);
}

/** Refuse a schedule that never fires: days of the month that none of its months has. */
function checkPossible(expr: string, f: Fields): void {
  // With both day fields restricted, any weekday matches in every month; with day-of-month
  // written `*∕n` it holds day 1. Only a restricted day-of-month alone can be impossible.
  if (f.dom.star || !f.dow.star) return;
  for (const m of f.month.values) if (f.dom.values.some((d) => d <= maxDaysIn(m))) return;
  const months = englishList(f.month.values.map((m) => MONTH_WORDS[m - 1]!));
  const days = englishList(f.dom.values.map(String), 'or');
  throw invalid(expr, `never fires: ${months} ${f.month.values.length > 1 ? 'have' : 'has'} no day ${days}; pick days those months have (February has 29 at most)`, {
    cronField: 'day-of-month', got: f.dom.values.join(','),
  });
}

/**
 * Parse a cron expression: 5 fields (minute hour day-of-month month day-of-week) or a macro.
 *
 * Fields take `*`, values, lists (`1,15`), ranges (`1-5`), steps (`*∕15`, `1-30/2`, `5/10` = 5 to
 * the end every 10), month names JAN–DEC and weekday names SUN–SAT (any case); day-of-week 7 is
 * Sunday. Macros: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`.
 * When day-of-month and day-of-week are both restricted (neither starts with `*`), a day matches
 * if either does (Vixie cron). Throws `INVALID_ARGUMENT` (field `cron`, or `timezone`) naming the
 * field, what it takes and the bad token; a schedule that can never fire is refused.
 *
 * @example
 * parseCron('30 9 * * MON-FRI', { timezone: 'Europe/Paris' }).describe() // 'at 09:30 on Monday to Friday (Europe/Paris)'
 */
export function parseCron(expr: string, opts: CronOptions = {}): CronSchedule {
  if (typeof expr !== 'string') throw invalid(String(expr), `expected a string; ${WRITE_FIVE}`);
  const source = expr.trim();
  if (source === '') throw invalid(expr, `the expression is empty; ${WRITE_FIVE}`);
  let text = source;
  if (source.startsWith('@')) {
    const macro = source.toLowerCase();
    if (!Object.hasOwn(CRON_MACROS, macro)) {
      throw invalid(expr, `unknown macro ${JSON.stringify(source)}; use one of ${Object.keys(CRON_MACROS).join(', ')}, or ${WRITE_FIVE}`, {
        expected: Object.keys(CRON_MACROS), got: source,
      });
    }
    text = CRON_MACROS[macro as keyof typeof CRON_MACROS];
  }
  const parts = text.split(/\s+/);
  if (parts.length !== 5) {
    const extra = parts.length === 6 || parts.length === 7 ? ' (seconds and years are not supported)' : '';
    throw invalid(expr, `expected 5 fields, got ${parts.length}${extra}; ${WRITE_FIVE}`, { expected: 5, got: parts.length });
  }
  const sets = parts.map((p, i) => parseField(expr, SPECS[i]!, p));
  const fields: Fields = { minute: sets[0]!, hour: sets[1]!, dom: sets[2]!, month: sets[3]!, dow: sets[4]! };
  checkPossible(expr, fields);
  return new CronSchedule(source, fields, zoneFor(opts.timezone ?? 'UTC'));
}

// ---------------------------------------------------------------------------------------------
// Canonical text and description

function isStep(values: readonly number[], min: number, max: number): number {
  // values = min, min+s, min+2s, … up to the last before max: returns s (>= 2), else 0
  if (values.length < 2 || values[0] !== min) return 0;
  const s = values[1]! - values[0]!;
  if (s < 2) return 0;
  for (let i = 1; i < values.length; i++) if (values[i]! - values[i - 1]! !== s) return 0;
  return values[values.length - 1]! + s > max ? s : 0;
}

function arithmetic(values: readonly number[]): number {
  if (values.length < 3) return 0;
  const s = values[1]! - values[0]!;
  if (s < 2) return 0;
  for (let i = 1; i < values.length; i++) if (values[i]! - values[i - 1]! !== s) return 0;
  return s;
}

function runs(values: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const v of values) {
    const last = out[out.length - 1];
    if (last && last[1] === v - 1) last[1] = v;
    else out.push([v, v]);
  }
  return out;
}

function canonicalField(spec: FieldSpec, set: FieldSet): string {
  const { values } = set;
  const full = values.length === spec.distinct;
  const starMatters = spec.name === 'day-of-month' || spec.name === 'day-of-week';
  const max = spec.name === 'day-of-week' ? 6 : spec.max;
  if (starMatters && set.star) {
    // only `*` and `*∕n` start with a star; n is the gap between values (one value: the widest step)
    if (full) return '*';
    return `*/${values.length > 1 ? values[1]! - values[0]! : spec.distinct}`;
  }
  if (full && !starMatters) return '*';
  const step = isStep(values, spec.min, max);
  if (step > 0 && !starMatters && values.length >= 3) return `*/${step}`;
  const s = arithmetic(values);
  if (s > 0) return `${values[0]}-${values[values.length - 1]}/${s}`;
  return runs(values).map(([a, b]) => (a === b ? `${a}` : b === a + 1 ? `${a},${b}` : `${a}-${b}`)).join(',');
}

function englishList(items: readonly string[], conj = 'and'): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} ${conj} ${items[items.length - 1]}`;
}

/** "1 to 5, 10 and 20"; an arithmetic run of 4 or more as "1, 3, …, 31". */
function listOf(values: readonly number[], word: (v: number) => string = String, conj = 'and'): string {
  const s = arithmetic(values);
  if (s > 0 && values.length >= 4) return `${word(values[0]!)}, ${word(values[1]!)}, …, ${word(values[values.length - 1]!)}`;
  const items = runs(values).flatMap(([a, b]) => (b - a >= 2 ? [`${word(a)} to ${word(b)}`] : a === b ? [word(a)] : [word(a), word(b)]));
  return englishList(items, conj);
}

function hhmm(h: number, m: number): string {
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

/** The time part of a description, and whether it repeats within a day (then "every day" goes without saying). */
function describeTime(f: Fields): { text: string; repeats: boolean } {
  const M = f.minute.values;
  const H = f.hour.values;
  const allM = M.length === 60;
  const allH = H.length === 24;
  // "every n minutes" only when n divides the hour, so the gap is the same across the hour
  const mEvery = isStep(M, 0, 59);
  const mStep = mEvery > 0 && 60 % mEvery === 0 ? mEvery : 0;
  const hEvery = isStep(H, 0, 23);
  const hStep = hEvery > 0 && 24 % hEvery === 0 ? hEvery : 0;
  const hRuns = runs(H);
  const hRange = hRuns.length === 1 ? hRuns[0]! : null;
  const hours = listOf(H);
  const repeating = (text: string): { text: string; repeats: boolean } => ({ text, repeats: true });
  if (allM) {
    if (allH) return repeating('every minute');
    if (hRange) return repeating(`every minute from ${hhmm(hRange[0], 0)} to ${hhmm(hRange[1], 59)}`);
    return repeating(`every minute during hours ${hours}`);
  }
  if (mStep > 0) {
    if (allH) return repeating(`every ${mStep} minutes`);
    if (hRange) return repeating(`every ${mStep} minutes from ${hhmm(hRange[0], 0)} to ${hhmm(hRange[1], 60 - mStep)}`);
    return repeating(`every ${mStep} minutes during hours ${hours}`);
  }
  if (M.length === 1) {
    const m = M[0]!;
    if (allH) return repeating(m === 0 ? 'every hour' : `every hour at minute ${m}`);
    if (hStep > 0 && H.length >= 3) return repeating(m === 0 ? `every ${hStep} hours` : `every ${hStep} hours at minute ${m}`);
    if (hRange && H.length >= 3) return repeating(`every hour from ${hhmm(hRange[0], m)} to ${hhmm(hRange[1], m)}`);
  }
  if (!allH && M.length * H.length <= 6) return { text: `at ${englishList(H.flatMap((h) => M.map((m) => hhmm(h, m))))}`, repeats: false };
  return repeating(`at minute${M.length > 1 ? 's' : ''} ${listOf(M)} past ${allH ? 'every hour' : `hours ${hours}`}`);
}

/** Weekdays in reading order (Monday first), so Saturday and Sunday sit together. */
function weekdays(values: readonly number[]): string {
  const monFirst = values.map((v) => (v === 0 ? 7 : v)).sort((a, b) => a - b);
  return listOf(monFirst, (v) => DAY_WORDS[v % 7]!);
}

/** The days part of a description: which days (empty for every day) and which months (empty for all). */
function describeDays(f: Fields): { days: string; months: string } {
  const domAll = f.dom.values.length === 31;
  const dowAll = f.dow.values.length === 7;
  const dom = f.dom.values;
  const domText = dom.length === 1 ? `day ${dom[0]} of the month` : `days ${listOf(dom)} of the month`;
  const monthNames = listOf(f.month.values, (m) => MONTH_WORDS[m - 1]!);
  const months = f.month.values.length === 12 ? '' : `in ${monthNames}`;
  if (!f.dom.star && !f.dow.star) {
    // either matches: a full one makes every day match
    return { days: domAll || dowAll ? '' : `on ${domText} or on ${weekdays(f.dow.values)}`, months };
  }
  if (!domAll && !dowAll) {
    const mondayFirst = f.dow.values.map((v) => (v === 0 ? 7 : v)).sort((a, b) => a - b);
    return { days: `on ${domText} when that day is a ${listOf(mondayFirst, (v) => DAY_WORDS[v % 7]!, 'or')}`, months };
  }
  if (!domAll) {
    if (dom.length === 1 && f.month.values.length === 1) return { days: `on ${dom[0]} ${monthNames}`, months: '' };
    return { days: `on ${domText}`, months };
  }
  return { days: dowAll ? '' : `on ${weekdays(f.dow.values)}`, months };
}

// ---------------------------------------------------------------------------------------------
// Time zones (Intl only)

/** A time zone as the engine needs it; "naive" times are wall-clock times written as UTC ms. */
interface Zone {
  readonly name: string;
  /** the wall-clock time at instant t */
  local(t: number): number;
  /** the instant of a wall-clock time, by the DST rule at the top of this file */
  resolve(naive: number): number;
  /** upper bound of the offsets (local − instant) around instant t */
  maxOffsetNear(t: number): number;
  /** forward jumps with `at` in (from, to]: the wall clock skips [start, end) at instant `at` */
  gaps(from: number, to: number): Array<{ at: number; start: number; end: number }>;
}

const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Universal', 'Etc/Zulu', 'Universal', 'Zulu', 'Etc/UCT', 'UCT', 'Etc/GMT0', 'GMT0', 'Etc/Greenwich', 'Greenwich']);

const UTC_ZONE: Zone = {
  name: 'UTC',
  local: (t) => t,
  resolve: (naive) => naive,
  maxOffsetNear: () => 0,
  gaps: () => [],
};

/** en-US numeric parts, in the order month, day, year, hour, minute, second */
const LOCAL_PARTS = /^(\d+)\D+(\d+)\D+(\d+)\D+(\d+)\D+(\d+)\D+(\d+)$/;
const HOUR_MS = 3_600_000;
const PROBE_CACHE_SIZE = 4096;

class IntlZone implements Zone {
  private readonly format: Intl.DateTimeFormat;
  /** offsets at whole hours, for the probes a day either side of a time (any hour of that day will do) */
  private readonly probes = new Map<number, number>();

  constructor(readonly name: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
  }

  local(t: number): number {
    const ms = ((t % 1000) + 1000) % 1000;
    // format() and a regular expression cost a third of formatToParts()
    const m = LOCAL_PARTS.exec(this.format.format(t));
    if (m) return naiveOf(Number(m[3]), Number(m[1]), Number(m[2]), Number(m[4]), Number(m[5])) + Number(m[6]) * 1000 + ms;
    let y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    for (const p of this.format.formatToParts(t)) {
      switch (p.type) {
        case 'year': y = Number(p.value); break;
        case 'month': mo = Number(p.value); break;
        case 'day': d = Number(p.value); break;
        case 'hour': h = Number(p.value); break;
        case 'minute': mi = Number(p.value); break;
        case 'second': sec = Number(p.value); break;
        default: break;
      }
    }
    return naiveOf(y, mo, d, h, mi) + sec * 1000 + ms;
  }

  private probe(t: number): number {
    const hour = Math.floor(t / HOUR_MS) * HOUR_MS;
    let o = this.probes.get(hour);
    if (o === undefined) {
      if (this.probes.size >= PROBE_CACHE_SIZE) this.probes.clear();
      o = this.offset(hour);
      this.probes.set(hour, o);
    }
    return o;
  }

  private offset(t: number): number {
    return this.local(t) - t;
  }

  resolve(naive: number): number {
    // the offsets a day either side; the instant lies within 14 h of the wall-clock reading
    const before = this.probe(naive - DAY_MS);
    const after = this.probe(naive + DAY_MS);
    if (before === after && this.local(naive - before) === naive) return naive - before;
    const offsets = [...new Set([before, after, this.offset(naive - before), this.offset(naive - after)])];
    const valid = offsets.map((o) => naive - o).filter((t) => this.local(t) === naive).sort((a, b) => a - b);
    // twice (clock back): the first occurrence
    if (valid.length > 0) return valid[0]!;
    // never (clock forward): the first instant whose wall clock is past this time, i.e. the change
    let lo = naive - Math.max(...offsets);
    let hi = naive - Math.min(...offsets);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.local(mid) > naive) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  maxOffsetNear(t: number): number {
    return Math.max(this.offset(t - DAY_MS), this.offset(t), this.offset(t + DAY_MS));
  }

  gaps(from: number, to: number): Array<{ at: number; start: number; end: number }> {
    const out: Array<{ at: number; start: number; end: number }> = [];
    let t0 = from;
    let o0 = this.offset(t0);
    while (t0 < to) {
      const t1 = Math.min(t0 + TRANSITION_PROBE_MS, to);
      const o1 = this.offset(t1);
      if (o1 !== o0) {
        let lo = t0;
        let hi = t1;
        while (hi - lo > 1) {
          const mid = Math.floor((lo + hi) / 2);
          if (this.offset(mid) === o0) lo = mid;
          else hi = mid;
        }
        const oAt = this.offset(hi);
        if (oAt > o0) out.push({ at: hi, start: hi + o0, end: hi + oAt });
      }
      t0 = t1;
      o0 = o1;
    }
    return out;
  }
}

const ZONES = new Map<string, Zone>();

function zoneFor(timezone: string): Zone {
  const cached = ZONES.get(timezone);
  if (cached) return cached;
  let name: string;
  try {
    if (typeof timezone !== 'string' || timezone.trim() === '') throw new RangeError('empty');
    name = new Intl.DateTimeFormat('en-US', { timeZone: timezone.trim() }).resolvedOptions().timeZone;
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT',
      `timezone ${JSON.stringify(timezone)} is not a time zone this platform knows; use an IANA name such as "UTC", "Europe/Paris" or "America/New_York"`,
      { field: 'timezone', expected: 'an IANA time zone name', got: timezone }, { cause: err });
  }
  const zone = UTC_NAMES.has(name) ? UTC_ZONE : new IntlZone(name);
  ZONES.set(timezone, zone);
  return zone;
}

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic on naive times

function naiveOf(y: number, mo: number, d: number, h: number, mi: number): number {
  const t = Date.UTC(y, mo - 1, d, h, mi);
  // Date.UTC reads years 0-99 as 1900-1999
  return y >= 0 && y < 100 ? new Date(t).setUTCFullYear(y) : t;
}

function partsOf(naive: number): Parts {
  const date = new Date(naive);
  return { y: date.getUTCFullYear(), mo: date.getUTCMonth() + 1, d: date.getUTCDate(), h: date.getUTCHours(), mi: date.getUTCMinutes() };
}

function weekdayOf(y: number, mo: number, d: number): number {
  return new Date(naiveOf(y, mo, d, 0, 0)).getUTCDay();
}

function nextIn(set: FieldSet, from: number): number {
  for (const v of set.values) if (v >= from) return v;
  return -1;
}

function prevIn(set: FieldSet, from: number): number {
  for (let i = set.values.length - 1; i >= 0; i--) if (set.values[i]! <= from) return set.values[i]!;
  return -1;
}

function timeOf(date: Date, what: string): number {
  const t = date instanceof Date ? date.getTime() : Number.NaN;
  if (!Number.isFinite(t)) {
    throw new BerthError('INVALID_ARGUMENT', `${what}: expected a valid Date, got ${String(date)}`, { field: what, got: String(date) });
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// The schedule

/**
 * A parsed cron schedule in one time zone: the instants it fires, and a description for people.
 * Made by {@link parseCron}; immutable.
 */
export class CronSchedule {
  /** the expression in canonical form (names as numbers, macros expanded, 7 as 0) */
  readonly expression: string;
  /** the time zone the fields are read in (IANA name, as the platform spells it) */
  readonly timezone: string;

  /** @internal use {@link parseCron} */
  constructor(
    /** the expression as written (trimmed) */
    readonly source: string,
    private readonly fields: Fields,
    private readonly zone: Zone,
  ) {
    const f = fields;
    this.expression = [f.minute, f.hour, f.dom, f.month, f.dow].map((set, i) => canonicalField(SPECS[i]!, set)).join(' ');
    this.timezone = zone.name;
  }

  /** The first instant strictly after `after`. */
  next(after: Date): Date {
    return new Date(this.search(timeOf(after, 'after')).at);
  }

  /** The `n` instants following `after`, in order. */
  nextN(after: Date, n: number): Date[] {
    if (!Number.isInteger(n) || n < 0) {
      throw new BerthError('INVALID_ARGUMENT', `n: expected a whole number >= 0, got ${n}`, { field: 'n', got: n });
    }
    const out: Date[] = [];
    let t = timeOf(after, 'after');
    while (out.length < n) {
      t = this.search(t).at;
      out.push(new Date(t));
    }
    return out;
  }

  /** The last instant strictly before `before`. */
  previous(before: Date): Date {
    return new Date(this.searchBack(timeOf(before, 'before')));
  }

  /** The instants after `from` up to and including `to`, in order, at most `limit` of them. */
  between(from: Date, to: Date, limit = 1000): Date[] {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new BerthError('INVALID_ARGUMENT', `limit: expected a whole number >= 0, got ${limit}`, { field: 'limit', got: limit });
    }
    const end = timeOf(to, 'to');
    const out: Date[] = [];
    let t = timeOf(from, 'from');
    while (out.length < limit) {
      t = this.search(t).at;
      if (t > end) break;
      out.push(new Date(t));
    }
    return out;
  }

  /**
   * How many instants fall after `from` up to and including `to`, without visiting them: calendar
   * arithmetic on wall-clock days, less the times that collapse into one instant in a DST gap.
   */
  count(from: Date, to: Date): number {
    const a = timeOf(from, 'from');
    const b = timeOf(to, 'to');
    if (b <= a) return 0;
    const first = this.search(a);
    if (first.at > b) return 0;
    const end = this.search(b);
    let n = this.countLocal(first.lt, end.lt);
    for (const gap of this.zone.gaps(a, b)) {
      if (gap.at <= a || gap.at > b) continue;
      const group = this.countLocal(gap.start, gap.end) + (gap.end % MINUTE_MS === 0 && this.matchesLocal(gap.end) ? 1 : 0);
      if (group > 1) n -= group - 1;
    }
    return n;
  }

  /** A short English description for people: "at 02:00 every day", "every 15 minutes", … */
  describe(): string {
    const time = describeTime(this.fields);
    const { days, months } = describeDays(this.fields);
    // "every 15 minutes" needs no "every day"; "at 02:00" does
    const words = [time.text, days === '' && !time.repeats ? 'every day' : days, months].filter((w) => w !== '');
    const when = words.join(' ');
    return this.timezone === 'UTC' ? when : `${when} (${this.timezone})`;
  }

  /** What to store: the canonical expression and the zone. */
  toJSON(): { expression: string; timezone: string } {
    return { expression: this.expression, timezone: this.timezone };
  }

  // The instants are resolve(lt) for the matching wall-clock times lt, and resolve never goes
  // backwards as lt grows; so the first lt whose instant is past `a` gives the next instant.
  private search(a: number): { at: number; lt: number } {
    let lt = Math.floor(this.zone.local(a) / MINUTE_MS) * MINUTE_MS;
    for (;;) {
      lt = this.nextLocal(lt);
      const at = this.zone.resolve(lt);
      if (at > a) return { at, lt };
      lt += MINUTE_MS;
    }
  }

  private searchBack(b: number): number {
    // no wall-clock time later than b + the largest offset around can map to an instant before b
    let lt = Math.floor((b + this.zone.maxOffsetNear(b)) / MINUTE_MS) * MINUTE_MS;
    for (;;) {
      lt = this.prevLocal(lt);
      const at = this.zone.resolve(lt);
      if (at < b) return at;
      lt -= MINUTE_MS;
    }
  }

  private dayMatches(y: number, mo: number, d: number): boolean {
    const { dom, dow } = this.fields;
    const onDay = dom.has[d] === true;
    if (dom.star || dow.star) {
      // one of them unrestricted (starts with *): both must match
      if (!onDay) return false;
      return dow.values.length === 7 || dow.has[weekdayOf(y, mo, d)] === true;
    }
    // both restricted: either may match
    return onDay || dow.has[weekdayOf(y, mo, d)] === true;
  }

  private matchesLocal(naive: number): boolean {
    const p = partsOf(naive);
    return this.fields.minute.has[p.mi] === true && this.fields.hour.has[p.h] === true &&
      this.fields.month.has[p.mo] === true && this.dayMatches(p.y, p.mo, p.d);
  }

  /** The first matching wall-clock minute at or after `naive`, jumping field by field. */
  private nextLocal(naive: number): number {
    const { minute, hour, month } = this.fields;
    let { y, mo, d, h, mi } = partsOf(naive);
    const limit = y + SEARCH_YEARS;
    while (y <= limit) {
      if (!month.has[mo]) {
        const m = nextIn(month, mo);
        if (m < 0) { y++; mo = month.values[0]!; } else mo = m;
        d = 1; h = 0; mi = 0;
        continue;
      }
      const dim = daysInMonth(y, mo);
      let day = d;
      while (day <= dim && !this.dayMatches(y, mo, day)) day++;
      if (day > dim) {
        if (++mo > 12) { mo = 1; y++; }
        d = 1; h = 0; mi = 0;
        continue;
      }
      if (day !== d) { d = day; h = 0; mi = 0; }
      const hh = nextIn(hour, h);
      if (hh < 0) { d++; h = 0; mi = 0; continue; }
      if (hh !== h) { h = hh; mi = 0; }
      const mm = nextIn(minute, mi);
      if (mm < 0) {
        if (++h > 23) { d++; h = 0; }
        mi = 0;
        continue;
      }
      return naiveOf(y, mo, d, h, mm);
    }
    throw new BerthError('INTERNAL', `cron ${JSON.stringify(this.expression)}: no time within ${SEARCH_YEARS} years`);
  }

  /** The last matching wall-clock minute at or before `naive`. */
  private prevLocal(naive: number): number {
    const { minute, hour, month } = this.fields;
    let { y, mo, d, h, mi } = partsOf(naive);
    const limit = y - SEARCH_YEARS;
    while (y >= limit) {
      if (!month.has[mo]) {
        const m = prevIn(month, mo);
        if (m < 0) { y--; mo = month.values[month.values.length - 1]!; } else mo = m;
        d = 31; h = 23; mi = 59;
        continue;
      }
      const dim = daysInMonth(y, mo);
      if (d > dim) { d = dim; h = 23; mi = 59; }
      let day = d;
      while (day >= 1 && !this.dayMatches(y, mo, day)) day--;
      if (day < 1) {
        if (--mo < 1) { mo = 12; y--; }
        d = 31; h = 23; mi = 59;
        continue;
      }
      if (day !== d) { d = day; h = 23; mi = 59; }
      const hh = prevIn(hour, h);
      if (hh < 0) { d--; h = 23; mi = 59; continue; }
      if (hh !== h) { h = hh; mi = 59; }
      const mm = prevIn(minute, mi);
      if (mm < 0) {
        if (--h < 0) { d--; h = 23; }
        mi = 59;
        continue;
      }
      return naiveOf(y, mo, d, h, mm);
    }
    throw new BerthError('INTERNAL', `cron ${JSON.stringify(this.expression)}: no time within ${SEARCH_YEARS} years`);
  }

  /** Matching wall-clock minutes x with a <= x < b (naive ms), day by day. */
  private countLocal(a: number, b: number): number {
    const start = Math.ceil(a / MINUTE_MS) * MINUTE_MS;
    if (b <= start) return 0;
    const firstDay = Math.floor(start / DAY_MS);
    const lastDay = Math.floor((b - 1) / DAY_MS);
    const startMinute = (start - firstDay * DAY_MS) / MINUTE_MS;
    const endMinute = Math.ceil((b - lastDay * DAY_MS) / MINUTE_MS);
    const perDay = this.fields.hour.values.length * this.fields.minute.values.length;
    let { y, mo, d } = partsOf(firstDay * DAY_MS);
    let n = 0;
    for (let day = firstDay; day <= lastDay; day++) {
      if (this.fields.month.has[mo] && this.dayMatches(y, mo, d)) {
        const lo = day === firstDay ? startMinute : 0;
        const hi = day === lastDay ? endMinute : 1440;
        n += lo === 0 && hi === 1440 ? perDay : this.minutesIn(lo, hi);
      }
      if (++d > daysInMonth(y, mo)) {
        d = 1;
        if (++mo > 12) { mo = 1; y++; }
      }
    }
    return n;
  }

  /** Matching minutes of the day in [lo, hi) (minutes since midnight). */
  private minutesIn(lo: number, hi: number): number {
    let n = 0;
    for (const h of this.fields.hour.values) {
      for (const m of this.fields.minute.values) {
        const x = h * 60 + m;
        if (x >= lo && x < hi) n++;
      }
    }
    return n;
  }
}

// ---------------------------------------------------------------------------------------------
// Missed runs

/** Input of {@link dueRuns}. */
export interface DueRunsInput {
  schedule: CronSchedule;
  /** the instant of the last run fired (null before the first) */
  lastScheduledAt: Date | null;
  /** when the schedule was created: runs before it are not owed */
  createdAt: Date;
  now: Date;
  missed: MissedPolicy;
  /** `run-all`: the most runs fired at once (default 100); older ones beyond it are skipped */
  maxCatchUp?: number;
  /** `skip`: how late a run may be and still count as on time (default 60,000 ms) */
  graceMs?: number;
}

/** Which runs to fire now. */
export interface DueRuns {
  /** scheduled instants to run now, oldest first */
  fire: Date[];
  /** scheduled instants since the last run that will not run */
  skipped: number;
  /** the next instant after now */
  nextAt: Date;
}

/**
 * Which scheduled instants to run now. The runs owed are the instants after `lastScheduledAt`
 * (or `createdAt`) up to and including `now`:
 * - `skip`: only the latest, and only if it is at most `graceMs` old (a scheduler that is on time);
 * - `run-once`: the latest, standing for all of them;
 * - `run-all`: all of them in order, at most `maxCatchUp` (the latest ones); the rest are skipped.
 * The caller records the last fired instant as the next `lastScheduledAt` (or `now` when nothing
 * fired and some were skipped) and sleeps until `nextAt`.
 *
 * @example
 * dueRuns({ schedule: parseCron('0 2 * * *'), lastScheduledAt: new Date('2026-03-01T02:00:00Z'),
 *           createdAt, now: new Date('2026-03-04T09:00:00Z'), missed: 'run-once' })
 * // { fire: [2026-03-04T02:00:00Z], skipped: 2, nextAt: 2026-03-05T02:00:00Z }
 */
export function dueRuns(input: DueRunsInput): DueRuns {
  const { schedule, missed } = input;
  if (!(schedule instanceof CronSchedule)) {
    throw new BerthError('INVALID_ARGUMENT', 'schedule: expected a CronSchedule from parseCron()', { field: 'schedule' });
  }
  if (!(MISSED_POLICIES as readonly string[]).includes(missed)) {
    throw new BerthError('INVALID_ARGUMENT', `missed: expected one of ${MISSED_POLICIES.join(', ')}, got ${JSON.stringify(missed)}`, {
      field: 'missed', expected: [...MISSED_POLICIES], got: missed,
    });
  }
  const maxCatchUp = input.maxCatchUp ?? 100;
  if (!Number.isInteger(maxCatchUp) || maxCatchUp < 1) {
    throw new BerthError('INVALID_ARGUMENT', `maxCatchUp: expected a whole number >= 1, got ${maxCatchUp}`, { field: 'maxCatchUp', got: maxCatchUp });
  }
  const graceMs = input.graceMs ?? 60_000;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new BerthError('INVALID_ARGUMENT', `graceMs: expected a number >= 0, got ${graceMs}`, { field: 'graceMs', got: graceMs });
  }
  const now = timeOf(input.now, 'now');
  const since = input.lastScheduledAt === null ? timeOf(input.createdAt, 'createdAt') : timeOf(input.lastScheduledAt, 'lastScheduledAt');
  const nextAt = schedule.next(new Date(Math.max(now, since)));
  if (now <= since) return { fire: [], skipped: 0, nextAt };
  const owed = schedule.count(new Date(since), new Date(now));
  if (owed === 0) return { fire: [], skipped: 0, nextAt };
  const take = missed === 'run-all' ? Math.min(owed, maxCatchUp) : 1;
  const fire: Date[] = [];
  let before = now + 1;
  while (fire.length < take) {
    const at = schedule.previous(new Date(before));
    fire.push(at);
    before = at.getTime();
  }
  fire.reverse();
  if (missed === 'skip' && now - fire[0]!.getTime() > graceMs) return { fire: [], skipped: owed, nextAt };
  return { fire, skipped: owed - fire.length, nextAt };
}

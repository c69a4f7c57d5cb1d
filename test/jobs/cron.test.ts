import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { MISSED_POLICIES, dueRuns, parseCron, type CronSchedule, type MissedPolicy } from '../../src/jobs/index.js';

const iso = (dates: readonly Date[]): string[] => dates.map((d) => d.toISOString());
const at = (s: string): Date => new Date(s);

function seq(expr: string, after: string, n: number, timezone?: string): string[] {
  return iso(parseCron(expr, timezone === undefined ? {} : { timezone }).nextN(at(after), n));
}

/** The BerthError a call throws. */
function errorOf(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a BerthError, nothing was thrown');
}

describe('parseCron: sequences in UTC', () => {
  it('fires every 15 minutes, strictly after the given instant', () => {
    expect(seq('*/15 * * * *', '2026-01-01T00:07:00Z', 5)).toEqual([
      '2026-01-01T00:15:00.000Z', '2026-01-01T00:30:00.000Z', '2026-01-01T00:45:00.000Z',
      '2026-01-01T01:00:00.000Z', '2026-01-01T01:15:00.000Z',
    ]);
    const s = parseCron('*/15 * * * *');
    expect(s.next(at('2026-01-01T00:15:00Z')).toISOString()).toBe('2026-01-01T00:30:00.000Z');
    expect(s.next(at('2026-01-01T00:14:59.999Z')).toISOString()).toBe('2026-01-01T00:15:00.000Z');
    expect(s.next(at('2026-12-31T23:59:30Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('fires on the hour in business hours on weekdays, over the weekend to Monday', () => {
    // 2026-01-02 is a Friday
    expect(seq('0 9-17 * * MON-FRI', '2026-01-02T16:30:00Z', 4)).toEqual([
      '2026-01-02T17:00:00.000Z', '2026-01-05T09:00:00.000Z', '2026-01-05T10:00:00.000Z', '2026-01-05T11:00:00.000Z',
    ]);
    expect(seq('30 9 * * 1-5', '2026-01-09T10:00:00Z', 2)).toEqual(['2026-01-12T09:30:00.000Z', '2026-01-13T09:30:00.000Z']);
  });

  it('skips months without the day, and walks month ends', () => {
    expect(seq('0 0 31 * *', '2026-01-31T00:00:00Z', 6)).toEqual([
      '2026-03-31T00:00:00.000Z', '2026-05-31T00:00:00.000Z', '2026-07-31T00:00:00.000Z',
      '2026-08-31T00:00:00.000Z', '2026-10-31T00:00:00.000Z', '2026-12-31T00:00:00.000Z',
    ]);
    expect(seq('0 12 30 * *', '2026-01-30T12:00:00Z', 2)).toEqual(['2026-03-30T12:00:00.000Z', '2026-04-30T12:00:00.000Z']);
    expect(seq('0 0 28-31 * *', '2026-02-27T00:00:00Z', 6)).toEqual([
      '2026-02-28T00:00:00.000Z', '2026-03-28T00:00:00.000Z', '2026-03-29T00:00:00.000Z',
      '2026-03-30T00:00:00.000Z', '2026-03-31T00:00:00.000Z', '2026-04-28T00:00:00.000Z',
    ]);
  });

  it('finds 29 February years ahead at once, and skips 2100', () => {
    const s = parseCron('0 0 29 2 *');
    const started = performance.now();
    expect(iso(s.nextN(at('2027-01-01T00:00:00Z'), 3))).toEqual([
      '2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z', '2036-02-29T00:00:00.000Z',
    ]);
    expect(s.next(at('2096-03-01T00:00:00Z')).toISOString()).toBe('2104-02-29T00:00:00.000Z');
    expect(s.previous(at('2104-02-29T00:00:00Z')).toISOString()).toBe('2096-02-29T00:00:00.000Z');
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('matches a day when either restricted day field matches (Vixie OR rule)', () => {
    // March 2026: the 1st is a Sunday, Mondays are 2, 9, 16, 23, 30
    expect(seq('0 0 1,15 * MON', '2026-02-28T00:00:00Z', 8)).toEqual([
      '2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z', '2026-03-09T00:00:00.000Z', '2026-03-15T00:00:00.000Z',
      '2026-03-16T00:00:00.000Z', '2026-03-23T00:00:00.000Z', '2026-03-30T00:00:00.000Z', '2026-04-01T00:00:00.000Z',
    ]);
    // a full but written-out day-of-month is still restricted: every day matches
    expect(seq('0 0 1-31 * MON', '2026-03-02T12:00:00Z', 2)).toEqual(['2026-03-03T00:00:00.000Z', '2026-03-04T00:00:00.000Z']);
  });

  it('needs both day fields when one starts with * (Vixie AND rule for */n)', () => {
    // odd days that are Mondays: March 9, 23; April 13, 27
    expect(seq('0 0 */2 * MON', '2026-03-01T00:00:00Z', 4)).toEqual([
      '2026-03-09T00:00:00.000Z', '2026-03-23T00:00:00.000Z', '2026-04-13T00:00:00.000Z', '2026-04-27T00:00:00.000Z',
    ]);
    expect(seq('0 0 * * MON', '2026-03-01T00:00:00Z', 2)).toEqual(['2026-03-02T00:00:00.000Z', '2026-03-09T00:00:00.000Z']);
    expect(seq('0 0 13 * *', '2026-03-01T00:00:00Z', 2)).toEqual(['2026-03-13T00:00:00.000Z', '2026-04-13T00:00:00.000Z']);
  });

  it('reads month and weekday names in any case, and 7 as Sunday', () => {
    // Sundays: January 2026 4, 11, 18, 25; July 2026 5, 12, 19, 26
    const expected = ['2026-01-25T12:00:00.000Z', '2026-07-05T12:00:00.000Z', '2026-07-12T12:00:00.000Z'];
    expect(seq('0 12 * JAN,jul sun', '2026-01-20T00:00:00Z', 3)).toEqual(expected);
    expect(seq('0 12 * 1,7 7', '2026-01-20T00:00:00Z', 3)).toEqual(expected);
    expect(seq('0 12 * 1,7 0', '2026-01-20T00:00:00Z', 3)).toEqual(expected);
    expect(parseCron('0 12 * JAN,jul sun').expression).toBe('0 12 * 1,7 0');
    // a range may close on Sunday: FRI-SUN is 5-7; 2026-03-06 is a Friday
    expect(seq('0 0 * * FRI-SUN', '2026-03-05T00:00:00Z', 4)).toEqual([
      '2026-03-06T00:00:00.000Z', '2026-03-07T00:00:00.000Z', '2026-03-08T00:00:00.000Z', '2026-03-13T00:00:00.000Z',
    ]);
    expect(parseCron('0 0 * * fri-sun').expression).toBe('0 0 * * 0,5,6');
    expect(parseCron('0 0 * * 5-7').expression).toBe('0 0 * * 0,5,6');
  });

  it('reads ranges with steps and open steps (5/10 is 5 to the end every 10)', () => {
    expect(seq('5/10 * * * *', '2026-01-01T00:00:00Z', 7)).toEqual([
      '2026-01-01T00:05:00.000Z', '2026-01-01T00:15:00.000Z', '2026-01-01T00:25:00.000Z', '2026-01-01T00:35:00.000Z',
      '2026-01-01T00:45:00.000Z', '2026-01-01T00:55:00.000Z', '2026-01-01T01:05:00.000Z',
    ]);
    expect(seq('1-30/2 8 * * *', '2026-01-01T08:24:00Z', 4)).toEqual([
      '2026-01-01T08:25:00.000Z', '2026-01-01T08:27:00.000Z', '2026-01-01T08:29:00.000Z', '2026-01-02T08:01:00.000Z',
    ]);
    expect(seq('0 0 1 */4 *', '2026-01-01T00:00:00Z', 3)).toEqual([
      '2026-05-01T00:00:00.000Z', '2026-09-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z',
    ]);
  });

  it('expands the macros', () => {
    const after = '2026-06-01T00:00:00Z'; // a Monday
    expect(seq('@yearly', after, 1)).toEqual(['2027-01-01T00:00:00.000Z']);
    expect(seq('@annually', after, 1)).toEqual(['2027-01-01T00:00:00.000Z']);
    expect(seq('@monthly', after, 1)).toEqual(['2026-07-01T00:00:00.000Z']);
    expect(seq('@weekly', after, 2)).toEqual(['2026-06-07T00:00:00.000Z', '2026-06-14T00:00:00.000Z']);
    expect(seq('@daily', after, 1)).toEqual(['2026-06-02T00:00:00.000Z']);
    expect(seq('@MIDNIGHT', after, 1)).toEqual(['2026-06-02T00:00:00.000Z']);
    expect(seq('@hourly', after, 2)).toEqual(['2026-06-01T01:00:00.000Z', '2026-06-01T02:00:00.000Z']);
    const weekly = parseCron(' @weekly ');
    expect(weekly.expression).toBe('0 0 * * 0');
    expect(weekly.source).toBe('@weekly');
  });

  it('walks backwards with previous(), strictly before', () => {
    const s = parseCron('0 9-17 * * MON-FRI');
    expect(s.previous(at('2026-01-05T09:00:00Z')).toISOString()).toBe('2026-01-02T17:00:00.000Z');
    expect(s.previous(at('2026-01-05T09:00:00.001Z')).toISOString()).toBe('2026-01-05T09:00:00.000Z');
    expect(parseCron('0 0 31 * *').previous(at('2026-03-01T00:00:00Z')).toISOString()).toBe('2026-01-31T00:00:00.000Z');
  });

  it('lists the instants between two dates: after from, up to and including to, at most limit', () => {
    const s = parseCron('0 * * * *');
    expect(iso(s.between(at('2026-01-01T00:00:00Z'), at('2026-01-01T03:00:00Z')))).toEqual([
      '2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z', '2026-01-01T03:00:00.000Z',
    ]);
    expect(s.between(at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:00Z'), 5)).toHaveLength(5);
    expect(s.between(at('2026-01-01T03:00:00Z'), at('2026-01-01T00:00:00Z'))).toEqual([]);
    expect(s.count(at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:00Z'))).toBe(24);
  });

  it('writes a canonical expression that parses back to the same schedule', () => {
    const cases: Array<[string, string]> = [
      ['30 9 * * mon-fri', '30 9 * * 1-5'],
      ['0-59/15 * * * *', '*/15 * * * *'],
      ['*/15 * * * *', '*/15 * * * *'],
      ['5/10 * * * *', '5-55/10 * * * *'],
      ['0,1,2,3 0 * * *', '0-3 0 * * *'],
      ['0 0 1-31 * MON', '0 0 1-31 * 1'],
      ['0 0 */2 * 7', '0 0 */2 * 0'],
      ['0 0 * * 1-7', '0 0 * * 0-6'],
      ['0 0 * * */7', '0 0 * * */7'],
      ['0 0 */31 * *', '0 0 */31 * *'],
      ['0 0 * jan-dec *', '0 0 * * *'],
      ['0 0 1 */3 *', '0 0 1 */3 *'],
      ['*/30 * * * *', '0,30 * * * *'],
      ['0 0 */15 * *', '0 0 */15 * *'],
      ['0\t2   *\t* *', '0 2 * * *'],
    ];
    for (const [written, canonical] of cases) {
      const s = parseCron(written);
      expect(s.expression, written).toBe(canonical);
      const again = parseCron(s.expression);
      expect(again.expression).toBe(canonical);
      expect(iso(again.nextN(at('2026-02-20T00:00:00Z'), 20))).toEqual(iso(s.nextN(at('2026-02-20T00:00:00Z'), 20)));
    }
    expect(JSON.stringify(parseCron('@daily', { timezone: 'europe/paris' }))).toBe('{"expression":"0 0 * * *","timezone":"Europe/Paris"}');
  });
});

describe('parseCron: time zones and daylight saving', () => {
  it('reads the fields in the zone\'s wall clock', () => {
    // Paris is UTC+1 in winter, New York UTC-5
    expect(seq('0 2 * * *', '2026-01-10T00:00:00Z', 2, 'Europe/Paris')).toEqual(['2026-01-10T01:00:00.000Z', '2026-01-11T01:00:00.000Z']);
    expect(seq('0 2 * * *', '2026-01-10T00:00:00Z', 1, 'America/New_York')).toEqual(['2026-01-10T07:00:00.000Z']);
    // the day and weekday are the local ones: Monday 00:30 in Paris is Sunday 23:30 UTC
    expect(seq('30 0 * * MON', '2026-01-01T00:00:00Z', 1, 'Europe/Paris')).toEqual(['2026-01-04T23:30:00.000Z']);
    expect(parseCron('0 0 * * *', { timezone: 'Asia/Kolkata' }).next(at('2026-01-01T00:00:00Z')).toISOString()).toBe('2026-01-01T18:30:00.000Z');
  });

  it('Europe/Paris spring forward (29 March 2026): a missing time fires once at the change', () => {
    // 02:00 CET jumps to 03:00 CEST at 01:00 UTC
    expect(seq('30 2 * * *', '2026-03-27T12:00:00Z', 3, 'Europe/Paris')).toEqual([
      '2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z',
    ]);
    // 02:00, 02:30 (missing) and 03:00 all land on 01:00 UTC: one run
    expect(seq('*/30 2-3 * * *', '2026-03-28T12:00:00Z', 6, 'Europe/Paris')).toEqual([
      '2026-03-29T01:00:00.000Z', '2026-03-29T01:30:00.000Z',
      '2026-03-30T00:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-30T01:00:00.000Z', '2026-03-30T01:30:00.000Z',
    ]);
    // every 30 minutes goes straight on in UTC
    expect(seq('*/30 * * * *', '2026-03-29T00:00:00Z', 4, 'Europe/Paris')).toEqual([
      '2026-03-29T00:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-29T02:00:00.000Z',
    ]);
    const s = parseCron('30 2 * * *', { timezone: 'Europe/Paris' });
    expect(s.previous(at('2026-03-30T00:00:00Z')).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(s.count(at('2026-03-27T12:00:00Z'), at('2026-03-30T12:00:00Z'))).toBe(3);
    expect(parseCron('*/30 2-3 * * *', { timezone: 'Europe/Paris' }).count(at('2026-03-28T12:00:00Z'), at('2026-03-30T12:00:00Z'))).toBe(6);
  });

  it('Europe/Paris fall back (25 October 2026): a repeated time fires once, the first time', () => {
    // 03:00 CEST goes back to 02:00 CET at 01:00 UTC
    expect(seq('30 2 * * *', '2026-10-23T12:00:00Z', 3, 'Europe/Paris')).toEqual([
      '2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z',
    ]);
    // the repeated hour runs once: nothing at 01:00 or 01:30 UTC
    expect(seq('*/30 * * * *', '2026-10-24T23:00:00Z', 5, 'Europe/Paris')).toEqual([
      '2026-10-24T23:30:00.000Z', '2026-10-25T00:00:00.000Z', '2026-10-25T00:30:00.000Z',
      '2026-10-25T02:00:00.000Z', '2026-10-25T02:30:00.000Z',
    ]);
    const s = parseCron('*/30 * * * *', { timezone: 'Europe/Paris' });
    expect(s.next(at('2026-10-25T01:10:00Z')).toISOString()).toBe('2026-10-25T02:00:00.000Z');
    expect(s.previous(at('2026-10-25T02:00:00Z')).toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(s.previous(at('2026-10-25T01:45:00Z')).toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(s.count(at('2026-10-24T22:00:00Z'), at('2026-10-25T03:00:00Z'))).toBe(8);
  });

  it('America/New_York spring forward (8 March 2026)', () => {
    // 02:00 EST jumps to 03:00 EDT at 07:00 UTC
    expect(seq('30 2 * * *', '2026-03-06T12:00:00Z', 3, 'America/New_York')).toEqual([
      '2026-03-07T07:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z',
    ]);
    expect(seq('*/20 1-2 * * *', '2026-03-08T00:00:00Z', 5, 'America/New_York')).toEqual([
      '2026-03-08T06:00:00.000Z', '2026-03-08T06:20:00.000Z', '2026-03-08T06:40:00.000Z',
      '2026-03-08T07:00:00.000Z', '2026-03-09T05:00:00.000Z',
    ]);
  });

  it('America/New_York fall back (1 November 2026)', () => {
    // 02:00 EDT goes back to 01:00 EST at 06:00 UTC
    expect(seq('0 1 * * *', '2026-10-30T12:00:00Z', 3, 'America/New_York')).toEqual([
      '2026-10-31T05:00:00.000Z', '2026-11-01T05:00:00.000Z', '2026-11-02T06:00:00.000Z',
    ]);
    expect(seq('*/20 1-2 * * *', '2026-11-01T00:00:00Z', 6, 'America/New_York')).toEqual([
      '2026-11-01T05:00:00.000Z', '2026-11-01T05:20:00.000Z', '2026-11-01T05:40:00.000Z',
      '2026-11-01T07:00:00.000Z', '2026-11-01T07:20:00.000Z', '2026-11-01T07:40:00.000Z',
    ]);
  });

  it('names the zone as the platform spells it', () => {
    expect(parseCron('0 0 * * *').timezone).toBe('UTC');
    expect(parseCron('0 0 * * *', { timezone: 'america/new_york' }).timezone).toBe('America/New_York');
    expect(parseCron('0 0 * * *', { timezone: 'Etc/UTC' }).timezone).toBe('UTC');
  });
});

describe('parseCron: errors', () => {
  const cases: Array<{ expr: string; cronField?: string; says: string[] }> = [
    { expr: '', says: ['empty', 'write 5 fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * *"'] },
    { expr: '0 2 * *', says: ['expected 5 fields, got 4', 'write 5 fields: minute hour day-of-month month day-of-week'] },
    { expr: '0 0 2 * * *', says: ['got 6', 'seconds and years are not supported', 'write 5 fields'] },
    { expr: '@reboot', says: ['unknown macro "@reboot"', '@daily', 'write 5 fields'] },
    { expr: '60 * * * *', cronField: 'minute', says: ['minute 60 is out of range', 'minute takes 0-59'] },
    { expr: '0 24 * * *', cronField: 'hour', says: ['hour 24 is out of range', 'hour takes 0-23'] },
    { expr: '0 0 32 * *', cronField: 'day-of-month', says: ['day-of-month 32 is out of range', 'day-of-month takes 1-31'] },
    { expr: '0 0 0 * *', cronField: 'day-of-month', says: ['day-of-month 0 is out of range', '1-31'] },
    { expr: '0 0 * 13 *', cronField: 'month', says: ['month 13 is out of range', 'month takes 1-12 or JAN-DEC'] },
    { expr: '0 0 * * 8', cronField: 'day-of-week', says: ['day-of-week 8 is out of range', '0-7 (0 and 7 are Sunday) or SUN-SAT'] },
    { expr: '0 0 * FOO *', cronField: 'month', says: ['month "FOO" is not a number or a name', 'JAN-DEC'] },
    { expr: '0 0 * MON *', cronField: 'month', says: ['month "MON" is not a number or a name'] },
    { expr: '0 0 * * MOX', cronField: 'day-of-week', says: ['day-of-week "MOX"', 'SUN-SAT'] },
    { expr: '0 0 L * *', cronField: 'day-of-month', says: ['"L"', 'L, W, # and ? are not supported', '1-31'] },
    { expr: 'x 0 * * *', cronField: 'minute', says: ['minute "x" is not a number', '0-59'] },
    { expr: '*/0 * * * *', cronField: 'minute', says: ['minute step "0"', 'from 1 to 60'] },
    { expr: '0 */25 * * *', cronField: 'hour', says: ['hour step "25"', 'from 1 to 24'] },
    { expr: '5-1 * * * *', cronField: 'minute', says: ['minute range "5-1" runs backwards', '"1-5"'] },
    { expr: '1,,2 * * * *', cronField: 'minute', says: ['empty list item'] },
    { expr: '*,5 * * * *', cronField: 'minute', says: ['mixes "*" into a list'] },
    { expr: '1/2/3 * * * *', cronField: 'minute', says: ['more than one "/"'] },
    { expr: '/5 * * * *', cronField: 'minute', says: ['no value before "/"'] },
    { expr: '0 0 30 2 *', cronField: 'day-of-month', says: ['never fires', 'February has no day 30'] },
    { expr: '0 0 31 4,6,9,11 *', cronField: 'day-of-month', says: ['never fires', 'April, June, September and November have no day 31'] },
  ];
  for (const c of cases) {
    it(`refuses ${JSON.stringify(c.expr)}`, () => {
      const err = errorOf(() => parseCron(c.expr));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.status).toBe(400);
      expect(err.context.field).toBe('cron');
      if (c.cronField) expect(err.context.cronField).toBe(c.cronField);
      expect(err.message.startsWith(`cron ${JSON.stringify(c.expr)}: `)).toBe(true);
      for (const s of c.says) expect(err.message).toContain(s);
    });
  }

  it('refuses an unknown time zone under field "timezone"', () => {
    for (const timezone of ['Mars/Olympus', '', '+01:00']) {
      const err = errorOf(() => parseCron('0 2 * * *', { timezone }));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.context.field).toBe('timezone');
      expect(err.message).toContain(`timezone ${JSON.stringify(timezone)}`);
      expect(err.message).toContain('use an IANA name such as "UTC", "Europe/Paris"');
    }
  });

  it('accepts an impossible-looking day that some listed month has, and 29 February', () => {
    expect(parseCron('0 0 31 2,3 *').next(at('2026-01-01T00:00:00Z')).toISOString()).toBe('2026-03-31T00:00:00.000Z');
    expect(parseCron('0 0 30 2 MON').next(at('2026-01-01T00:00:00Z')).toISOString()).toBe('2026-02-02T00:00:00.000Z');
  });

  it('refuses invalid dates and counts', () => {
    const s = parseCron('0 * * * *');
    expect(errorOf(() => s.next(new Date('nope'))).context.field).toBe('after');
    expect(errorOf(() => s.nextN(at('2026-01-01T00:00:00Z'), -1)).context.field).toBe('n');
    expect(errorOf(() => s.between(at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:00Z'), 1.5)).context.field).toBe('limit');
  });
});

describe('CronSchedule.describe', () => {
  const cases: Array<[string, string, string?]> = [
    ['0 2 * * *', 'at 02:00 every day'],
    ['*/15 * * * *', 'every 15 minutes'],
    ['30 9 * * 1-5', 'at 09:30 on Monday to Friday'],
    ['0 9-17 * * MON-FRI', 'every hour from 09:00 to 17:00 on Monday to Friday'],
    ['* * * * *', 'every minute'],
    ['@hourly', 'every hour'],
    ['15 * * * *', 'every hour at minute 15'],
    ['@daily', 'at 00:00 every day'],
    ['@weekly', 'at 00:00 on Sunday'],
    ['@monthly', 'at 00:00 on day 1 of the month'],
    ['@yearly', 'at 00:00 on 1 January'],
    ['0 0 29 2 *', 'at 00:00 on 29 February'],
    ['0 0 1,15 * MON', 'at 00:00 on days 1 and 15 of the month or on Monday'],
    ['0 0 */2 * MON', 'at 00:00 on days 1, 3, …, 31 of the month when that day is a Monday'],
    ['0 12 * * SAT,SUN', 'at 12:00 on Saturday and Sunday'],
    ['0 0,12 * * *', 'at 00:00 and 12:00 every day'],
    ['*/10 9-17 * * *', 'every 10 minutes from 09:00 to 17:50'],
    ['0 */6 * * *', 'every 6 hours'],
    ['0 */12 * * *', 'at 00:00 and 12:00 every day'],
    ['5,35 * * * *', 'at minutes 5 and 35 past every hour'],
    ['0 0 * 3-5 *', 'at 00:00 every day in March to May'],
    ['*/5 * * JAN,JUL *', 'every 5 minutes in January and July'],
    ['0 2 * * *', 'at 02:00 every day (Europe/Paris)', 'Europe/Paris'],
  ];
  for (const [expr, text, timezone] of cases) {
    it(`describes ${JSON.stringify(expr)}${timezone ? ` in ${timezone}` : ''} as "${text}"`, () => {
      expect(parseCron(expr, timezone ? { timezone } : {}).describe()).toBe(text);
    });
  }
});

describe('dueRuns', () => {
  const hourly = parseCron('0 * * * *');
  const createdAt = at('2026-01-01T00:00:00Z');
  const run = (missed: MissedPolicy, last: string | null, now: string, extra: { maxCatchUp?: number; graceMs?: number; schedule?: CronSchedule } = {}) => {
    const r = dueRuns({ schedule: extra.schedule ?? hourly, lastScheduledAt: last === null ? null : at(last), createdAt, now: at(now), missed, ...extra });
    return { fire: iso(r.fire), skipped: r.skipped, nextAt: r.nextAt.toISOString() };
  };

  it('lists the policies', () => {
    expect(MISSED_POLICIES).toEqual(['skip', 'run-once', 'run-all']);
  });

  it('fires the run that is due now under every policy when nothing was missed', () => {
    for (const missed of MISSED_POLICIES) {
      expect(run(missed, '2026-01-01T10:00:00Z', '2026-01-01T11:00:20Z')).toEqual({
        fire: ['2026-01-01T11:00:00.000Z'], skipped: 0, nextAt: '2026-01-01T12:00:00.000Z',
      });
      expect(run(missed, '2026-01-01T11:00:00Z', '2026-01-01T11:30:00Z')).toEqual({
        fire: [], skipped: 0, nextAt: '2026-01-01T12:00:00.000Z',
      });
    }
  });

  it('fires the first run after creation', () => {
    expect(run('skip', null, '2026-01-01T01:00:05Z')).toEqual({ fire: ['2026-01-01T01:00:00.000Z'], skipped: 0, nextAt: '2026-01-01T02:00:00.000Z' });
    // created exactly on an instant: that instant is not owed
    expect(run('run-all', null, '2026-01-01T00:00:30Z')).toEqual({ fire: [], skipped: 0, nextAt: '2026-01-01T01:00:00.000Z' });
  });

  it('skip: fires only a run within the grace window', () => {
    expect(run('skip', '2026-01-01T10:00:00Z', '2026-01-01T11:01:00Z')).toEqual({ fire: ['2026-01-01T11:00:00.000Z'], skipped: 0, nextAt: '2026-01-01T12:00:00.000Z' });
    expect(run('skip', '2026-01-01T10:00:00Z', '2026-01-01T11:01:01Z')).toEqual({ fire: [], skipped: 1, nextAt: '2026-01-01T12:00:00.000Z' });
    expect(run('skip', '2026-01-01T10:00:00Z', '2026-01-01T11:04:00Z', { graceMs: 300_000 })).toEqual({ fire: ['2026-01-01T11:00:00.000Z'], skipped: 0, nextAt: '2026-01-01T12:00:00.000Z' });
  });

  it('short downtime: skip drops, run-once runs the latest, run-all runs each in order', () => {
    const last = '2026-01-01T10:00:00Z';
    const now = '2026-01-01T13:30:00Z';
    const nextAt = '2026-01-01T14:00:00.000Z';
    expect(run('skip', last, now)).toEqual({ fire: [], skipped: 3, nextAt });
    expect(run('run-once', last, now)).toEqual({ fire: ['2026-01-01T13:00:00.000Z'], skipped: 2, nextAt });
    expect(run('run-all', last, now)).toEqual({
      fire: ['2026-01-01T11:00:00.000Z', '2026-01-01T12:00:00.000Z', '2026-01-01T13:00:00.000Z'], skipped: 0, nextAt,
    });
    // just back and on time for the latest: skip keeps that one
    expect(run('skip', last, '2026-01-01T13:00:10Z')).toEqual({ fire: ['2026-01-01T13:00:00.000Z'], skipped: 2, nextAt });
  });

  it('long downtime: run-all keeps the latest maxCatchUp runs and counts the rest as skipped', () => {
    const every5 = parseCron('*/5 * * * *');
    const last = '2026-01-01T00:00:00Z';
    const now = '2026-01-02T00:00:10Z'; // 288 runs owed, the last 10 s ago
    const nextAt = '2026-01-02T00:05:00.000Z';
    const all = run('run-all', last, now, { schedule: every5 });
    expect(all.fire).toHaveLength(100);
    expect(all.fire[0]).toBe('2026-01-01T15:45:00.000Z');
    expect(all.fire[99]).toBe('2026-01-02T00:00:00.000Z');
    expect(all.skipped).toBe(188);
    expect(all.nextAt).toBe(nextAt);
    expect(run('run-all', last, now, { schedule: every5, maxCatchUp: 3 })).toEqual({
      fire: ['2026-01-01T23:50:00.000Z', '2026-01-01T23:55:00.000Z', '2026-01-02T00:00:00.000Z'], skipped: 285, nextAt,
    });
    expect(run('run-once', last, now, { schedule: every5 })).toEqual({ fire: ['2026-01-02T00:00:00.000Z'], skipped: 287, nextAt });
    expect(run('skip', last, now, { schedule: every5 })).toEqual({ fire: ['2026-01-02T00:00:00.000Z'], skipped: 287, nextAt });
  });

  it('counts years of missed minutes without visiting them, across DST', () => {
    const everyMinute = parseCron('* * * * *', { timezone: 'Europe/Paris' });
    const started = performance.now();
    const r = dueRuns({
      schedule: everyMinute, lastScheduledAt: at('2020-01-01T00:00:00Z'), createdAt, now: at('2026-01-01T00:00:00Z'), missed: 'run-all',
    });
    // 2,192 days of UTC minutes, less the repeated hour of each of the 6 autumns
    expect(r.skipped + r.fire.length).toBe(2192 * 1440 - 6 * 60);
    expect(r.fire).toHaveLength(100);
    expect(r.fire[99]!.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('counts what it would list, over a year in zones with DST', () => {
    const from = at('2026-01-01T00:00:00Z');
    const to = at('2027-01-01T00:00:00Z');
    for (const timezone of ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe']) {
      for (const expr of ['*/7 1-3 * * MON', '30 2 * * *', '0,30 0-2 1,15 * SUN', '15 */2 * * *']) {
        const s = parseCron(expr, { timezone });
        expect(s.count(from, to), `${expr} in ${timezone}`).toBe(s.between(from, to, 100_000).length);
      }
    }
  });

  it('owes nothing when now is not after the last run', () => {
    expect(run('run-all', '2026-01-01T11:00:00Z', '2026-01-01T11:00:00Z')).toEqual({ fire: [], skipped: 0, nextAt: '2026-01-01T12:00:00.000Z' });
    expect(run('run-all', '2026-01-01T12:00:00Z', '2026-01-01T11:00:00Z')).toEqual({ fire: [], skipped: 0, nextAt: '2026-01-01T13:00:00.000Z' });
  });

  it('refuses a bad policy, cap or grace', () => {
    const base = { schedule: hourly, lastScheduledAt: null, createdAt, now: at('2026-01-01T05:00:00Z') };
    expect(errorOf(() => dueRuns({ ...base, missed: 'later' as MissedPolicy })).context.field).toBe('missed');
    expect(errorOf(() => dueRuns({ ...base, missed: 'run-all', maxCatchUp: 0 })).context.field).toBe('maxCatchUp');
    expect(errorOf(() => dueRuns({ ...base, missed: 'skip', graceMs: -1 })).context.field).toBe('graceMs');
  });
});

// ---------------------------------------------------------------------------------------------
// Property: between() equals a brute-force minute scan of the wall clock

interface FieldCase {
  text: string;
  values: Set<number>;
}

/** min, max and largest step of each field; day-of-week runs to 7 (Sunday again), as in cronie */
const BOUNDS = [[0, 59, 60], [0, 23, 24], [1, 31, 31], [1, 12, 12], [0, 7, 7]] as const;

function fieldArb(index: number): fc.Arbitrary<FieldCase> {
  const [min, max, largestStep] = BOUNDS[index]!;
  const all = (lo: number, hi: number, step: number): Set<number> => {
    const s = new Set<number>();
    for (let v = lo; v <= hi; v += step) s.add(index === 4 && v === 7 ? 0 : v);
    return s;
  };
  const value = fc.integer({ min, max });
  const step = fc.integer({ min: 1, max: largestStep });
  const options: Array<fc.Arbitrary<FieldCase>> = [
    fc.constant({ text: '*', values: all(min, max, 1) }),
    step.map((s) => ({ text: `*/${s}`, values: all(min, max, s) })),
    value.map((v) => ({ text: `${v}`, values: all(v, v, 1) })),
    fc.tuple(value, value).map(([a, b]) => ({ text: `${Math.min(a, b)}-${Math.max(a, b)}`, values: all(Math.min(a, b), Math.max(a, b), 1) })),
    fc.tuple(value, value, step).map(([a, b, s]) => ({ text: `${Math.min(a, b)}-${Math.max(a, b)}/${s}`, values: all(Math.min(a, b), Math.max(a, b), s) })),
    fc.tuple(value, step).map(([a, s]) => ({ text: `${a}/${s}`, values: all(a, max, s) })),
    fc.uniqueArray(value, { minLength: 2, maxLength: 4 }).map((vs) => ({ text: vs.join(','), values: new Set(vs.map((v) => (index === 4 && v === 7 ? 0 : v))) })),
  ];
  // the day fields and month mostly unrestricted, so that a few days hold some instants
  const weights = index >= 2 ? [6, 1, 1, 1, 1, 1, 1] : [1, 2, 2, 2, 2, 2, 2];
  return fc.oneof(...options.map((arbitrary, i) => ({ arbitrary, weight: weights[i]! })));
}

/** Zones and 2026 starting points: mostly a day or two before the zone changes its offset. */
const WINDOWS: ReadonlyArray<readonly [string, string]> = [
  ['UTC', '2026-03-27T00:00:00Z'],
  ['Asia/Kolkata', '2026-06-14T00:00:00Z'],
  // Europe: 29 March and 25 October, 01:00 UTC
  ['Europe/Paris', '2026-03-27T00:00:00Z'], ['Europe/Paris', '2026-10-23T18:00:00Z'], ['Europe/Paris', '2026-07-01T00:00:00Z'],
  // US: 8 March 07:00 UTC and 1 November 06:00 UTC
  ['America/New_York', '2026-03-06T12:00:00Z'], ['America/New_York', '2026-10-30T06:00:00Z'],
  // Lord Howe moves by 30 minutes: 5 April (02:00 → 01:30) and 4 October (02:00 → 02:30)
  ['Australia/Lord_Howe', '2026-04-03T10:00:00Z'], ['Australia/Lord_Howe', '2026-10-02T10:00:00Z'],
];

/** The wall clock in a zone, as UTC ms of the same reading (minute offsets only). */
function localMinute(format: Intl.DateTimeFormat, t: number): number {
  const p: Record<string, number> = {};
  for (const part of format.formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!);
}

/** Every instant the rule at the top of cron.ts gives, found by looking at each UTC minute in turn. */
function bruteForce(timezone: string, matches: (local: number) => boolean, from: number, to: number): number[] {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric',
  });
  const fired = new Set<number>();
  const seen = new Set<number>();
  let previous: number | null = null;
  // start a day early so that a repeated hour is known to be repeated
  for (let t = Math.floor((from - 86_400_000) / 60_000) * 60_000; t <= to; t += 60_000) {
    const local = localMinute(format, t);
    let fires = false;
    if (previous !== null) for (let x = previous + 60_000; x < local; x += 60_000) if (matches(x)) fires = true; // the clock skipped x
    if (!seen.has(local)) {
      seen.add(local);
      if (matches(local)) fires = true;
    }
    if (fires && t > from) fired.add(t);
    previous = local;
  }
  return [...fired].sort((a, b) => a - b);
}

// BERTH_FUZZ_SEED and BERTH_FUZZ_RUNS (a multiplier) as in test/e2e/fuzz.test.ts
const SEED = Number(process.env['BERTH_FUZZ_SEED'] ?? 20260329);
const SCALE = Number(process.env['BERTH_FUZZ_RUNS'] ?? 1);

describe('property: every instant matches and none is missed', () => {
  it('agrees with a brute-force scan over three days, in five zones, around DST changes', () => {
    const arb = fc.record({
      fields: fc.tuple(fieldArb(0), fieldArb(1), fieldArb(2), fieldArb(3), fieldArb(4)),
      window: fc.constantFrom(...WINDOWS),
      shiftMinutes: fc.integer({ min: 0, max: 1440 }), // the change stays inside the 3 days
    });
    fc.assert(fc.property(arb, ({ fields, window: [zone, start], shiftMinutes }) => {
      const [minute, hour, dom, month, dow] = fields;
      const expr = fields.map((f) => f.text).join(' ');
      let schedule: CronSchedule;
      try {
        schedule = parseCron(expr, { timezone: zone });
      } catch (err) {
        // only a day-of-month that none of the months has may be refused
        expect(err).toBeInstanceOf(BerthError);
        expect((err as BerthError).message).toContain('never fires');
        return;
      }
      const domStar = dom.text.startsWith('*');
      const dowStar = dow.text.startsWith('*');
      const matches = (local: number): boolean => {
        const d = new Date(local);
        if (!minute.values.has(d.getUTCMinutes()) || !hour.values.has(d.getUTCHours()) || !month.values.has(d.getUTCMonth() + 1)) return false;
        const onDom = dom.values.has(d.getUTCDate());
        const onDow = dow.values.has(d.getUTCDay());
        return domStar || dowStar ? onDom && onDow : onDom || onDow;
      };
      const from = Date.parse(start) + shiftMinutes * 60_000 + 17_000;
      const to = from + 3 * 86_400_000;
      const got = schedule.between(new Date(from), new Date(to), 10_000).map((d) => d.getTime());
      const expected = bruteForce(zone, matches, from, to);
      expect(got.map((t) => new Date(t).toISOString()), `${expr} in ${zone}`).toEqual(expected.map((t) => new Date(t).toISOString()));
      expect(schedule.count(new Date(from), new Date(to))).toBe(expected.length);
      if (expected.length > 0) {
        expect(schedule.previous(new Date(expected[expected.length - 1]! + 1)).getTime()).toBe(expected[expected.length - 1]);
        expect(schedule.previous(new Date(expected[0]!)).getTime()).toBeLessThanOrEqual(from);
      }
      // the canonical text is the same schedule
      const again = parseCron(schedule.expression, { timezone: zone });
      expect(again.expression).toBe(schedule.expression);
      expect(again.between(new Date(from), new Date(to), 10_000).map((d) => d.getTime())).toEqual(got);
    }), { seed: SEED, numRuns: Math.round(100 * SCALE) });
  }, 60_000 * SCALE);
});

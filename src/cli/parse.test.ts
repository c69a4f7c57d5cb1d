import { describe, expect, it } from 'vitest';
import { parseDuration, parseSteps, parseSticky } from '../rollout/index.js';
import { parseArmsArg, parseBytes, parseDurationArg, parseStepsArg, parseStickyArg, parseTags, parseUserTime } from './parse.js';

// Wednesday 2026-11-18 15:30:00 local time
const NOW = new Date(2026, 10, 18, 15, 30, 0).getTime();
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number => new Date(y, mo - 1, d, h, mi, s).getTime();

describe('parseUserTime', () => {
  it('reads a date and time without a zone as local time', () => {
    expect(parseUserTime('--at', '2026-11-17 14:03', NOW)).toBe(local(2026, 11, 17, 14, 3));
    expect(parseUserTime('--at', '2026-11-17T14:03:09', NOW)).toBe(local(2026, 11, 17, 14, 3, 9));
    expect(parseUserTime('--at', '2026-11-17', NOW)).toBe(local(2026, 11, 17));
  });

  it('honours an explicit zone and epoch milliseconds', () => {
    expect(parseUserTime('--at', '2026-11-17T14:03:00Z', NOW)).toBe(Date.UTC(2026, 10, 17, 14, 3));
    expect(parseUserTime('--at', '2026-11-17T14:03:00+02:00', NOW)).toBe(Date.UTC(2026, 10, 17, 12, 3));
    expect(parseUserTime('--at', '1763388180000', NOW)).toBe(1763388180000);
  });

  it('understands today, yesterday, weekdays and "ago"', () => {
    expect(parseUserTime('--at', '14:03', NOW)).toBe(local(2026, 11, 18, 14, 3));
    expect(parseUserTime('--at', 'yesterday 14:03', NOW)).toBe(local(2026, 11, 17, 14, 3));
    expect(parseUserTime('--at', 'last tuesday 14:03', NOW)).toBe(local(2026, 11, 17, 14, 3));
    expect(parseUserTime('--at', 'last wednesday', NOW)).toBe(local(2026, 11, 11));
    expect(parseUserTime('--at', 'wednesday 9:00', NOW)).toBe(local(2026, 11, 18, 9, 0));
    expect(parseUserTime('--at', '2h ago', NOW)).toBe(NOW - 2 * 3_600_000);
    expect(parseUserTime('--at', '90 minutes ago', NOW)).toBe(NOW - 90 * 60_000);
    expect(parseUserTime('--at', 'now', NOW)).toBe(NOW);
  });

  it('refuses what it cannot read, naming the option and showing what it expected', () => {
    for (const bad of ['soon', '2026-13-01', '2026-02-30 10:00', '25:00', '3 fortnights ago', '']) {
      expect(() => parseUserTime('--at', bad, NOW), bad).toThrowError(/^--at: expected a time like/);
    }
  });
});

describe('parseBytes', () => {
  it('reads decimal and binary units', () => {
    expect(parseBytes('--memory-budget', '512MB')).toBe(512_000_000);
    expect(parseBytes('--memory-budget', '2GiB')).toBe(2 * 2 ** 30);
    expect(parseBytes('--memory-budget', '1.5 gb')).toBe(1_500_000_000);
    expect(parseBytes('--memory-budget', '4096')).toBe(4096);
    expect(() => parseBytes('--memory-budget', 'lots')).toThrowError(/--memory-budget: expected a size like 512MB/);
  });
});

describe('parseTags', () => {
  it('splits at the first equals sign and refuses a pair without a key', () => {
    expect(parseTags('--tag', ['team=fraud', 'query=a=b', 'empty='])).toEqual({ team: 'fraud', query: 'a=b', empty: '' });
    expect(() => parseTags('--tag', ['=x'])).toThrowError(/--tag: expected KEY=VALUE/);
  });
});

describe('traffic and rollout flags', () => {
  it('reads version=percent arms, with a default percent for shadows', () => {
    expect(parseArmsArg('--split', '2=10')).toEqual([{ version: 2, percent: 10 }]);
    expect(parseArmsArg('--split', '2=10, 3=5.5%')).toEqual([{ version: 2, percent: 10 }, { version: 3, percent: 5.5 }]);
    expect(parseArmsArg('--split', '2=0')).toEqual([{ version: 2, percent: 0 }]);
    expect(parseArmsArg('--shadow', '3', { defaultPercent: 100 })).toEqual([{ version: 3, percent: 100 }]);
    expect(parseArmsArg('--shadow', '3=50,4', { defaultPercent: 100 })).toEqual([{ version: 3, percent: 50 }, { version: 4, percent: 100 }]);
  });

  it('refuses arms it cannot read, naming the flag, what it expected and what came', () => {
    expect(() => parseArmsArg('--split', '2')).toThrowError('--split: expected VERSION=PERCENT[,…] with PERCENT in [0, 100], like 2=10 or 2=10,3=5, got "2"');
    expect(() => parseArmsArg('--split', '0=10')).toThrowError(/^--split: expected VERSION=PERCENT/);
    expect(() => parseArmsArg('--split', '2=101')).toThrowError(/^--split: expected VERSION=PERCENT/);
    expect(() => parseArmsArg('--split', '2=60,3=41')).toThrowError('--split: expected shares adding up to at most 100% (these add up to 101%), got "2=60,3=41"');
    expect(() => parseArmsArg('--split', '2=1,2=2')).toThrowError('--split: expected each version once (2 is listed twice), got "2=1,2=2"');
    expect(() => parseArmsArg('--shadow', '3=0', { defaultPercent: 100 })).toThrowError(/^--shadow: expected VERSION\[=PERCENT\]/);
  });

  it('reads sticky keys, durations and steps as the rollout API does', () => {
    expect(parseStickyArg('--sticky', 'header:X-User-Id')).toEqual({ from: 'header', name: 'x-user-id' });
    expect(parseStickyArg('--sticky', 'input:Customer')).toEqual({ from: 'input', name: 'Customer' });
    expect(() => parseStickyArg('--sticky', 'x-user-id')).toThrowError('--sticky: expected header:NAME, parameter:NAME or input:NAME, got "x-user-id"');
    for (const ok of ['10m', '30s', '2h', '1d', '1500ms', '90000', '1.5m']) expect(parseDurationArg('--interval', ok, 1000)).toBe(ok);
    for (const bad of ['soon', '10 minutes', '-5m', '500ms', '']) expect(() => parseDurationArg('--interval', bad, 1000), bad).toThrowError(/^--interval: expected a duration like 30s, 10m or 2h \(at least 1s\)/);
    expect(parseDurationArg('--keep-old', '0')).toBe('0');
    for (const ok of ['5,25,50,100', 'shadow,10,100', '50', 'shadow', ' 5, 100 ']) expect(() => parseStepsArg('--steps', ok), ok).not.toThrow();
    for (const bad of ['50,10', '10,shadow', '0,50', '5,150', 'five', '5,,100', '']) expect(() => parseStepsArg('--steps', bad), bad).toThrowError(/^--steps: expected increasing percentages/);
  });

  it("agrees with the rollout API's own parsers on what they accept and refuse", () => {
    // the CLI checks flags without loading the rollout code; the server is the judge of record
    const verdict = (fn: () => unknown): unknown => {
      try {
        return fn() ?? 'accepted';
      } catch {
        return 'refused';
      }
    };
    const ok = (fn: () => unknown): boolean => verdict(fn) !== 'refused';
    for (const t of ['10m', '30s', '2h', '1d', '1500ms', '90000', '1.5m', 'soon', '10 minutes', '-5m', '']) {
      expect(ok(() => parseDurationArg('--interval', t)), t).toBe(ok(() => parseDuration('interval', t)));
    }
    for (const t of ['5,25,50,100', 'shadow,10,100', '50', '50,10', '10,shadow', '0,50', '5,150', 'five']) {
      expect(ok(() => parseStepsArg('--steps', t)), t).toBe(ok(() => parseSteps(t, 'canary')));
    }
    for (const t of ['header:X-User-Id', 'parameter:user_id', 'input:customer', 'cookie:x', 'header:', 'x']) {
      expect(verdict(() => parseStickyArg('--sticky', t)), t).toEqual(verdict(() => parseSticky(t)));
    }
  });
});

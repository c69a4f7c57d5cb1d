import { describe, expect, it } from 'vitest';
import { parseBytes, parseTags, parseUserTime } from './parse.js';

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

import { describe, expect, it } from 'vitest';
import { CircuitBreaker, ShareCounter, WeightedScheduler, isVersionFailure, readStickyKey, stickyArm } from './router.js';

describe('WeightedScheduler', () => {
  it('is exact over every 100 requests, in runs of 10 consecutive requests per arm', () => {
    const s = new WeightedScheduler([90, 10]);
    const picks = Array.from({ length: 1000 }, () => s.next());
    for (let start = 0; start + 100 <= 1000; start += 100) {
      expect(picks.slice(start, start + 100).filter((p) => p === 1).length).toBe(10);
    }
    for (let start = 0; start < 1000; start += 10) expect(new Set(picks.slice(start, start + 10)).size).toBe(1);
    // three arms with uneven shares
    const t = new WeightedScheduler([50, 30, 20]);
    const counts = [0, 0, 0];
    for (let i = 0; i < 100; i++) counts[t.next()]!++;
    expect(counts).toEqual([50, 30, 20]);
    // run length 1: the plain smooth round-robin, exact over every 10
    const u = new WeightedScheduler([90, 10], 1);
    const one = Array.from({ length: 100 }, () => u.next());
    for (let start = 0; start < 100; start += 10) expect(one.slice(start, start + 10).filter((p) => p === 1).length).toBe(1);
  });

  it('never picks a zero weight', () => {
    const s = new WeightedScheduler([0, 60, 40]);
    const picks = Array.from({ length: 100 }, () => s.next());
    expect(picks.filter((p) => p === 0)).toEqual([]);
    expect(picks.filter((p) => p === 1).length).toBe(60);
  });
});

describe('stickyArm', () => {
  it('spreads keys by share and keeps each key put when only a canary share grows', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    const at10 = keys.map((k) => stickyArm(k, [90, 100]));
    const share = at10.filter((a) => a === 1).length / keys.length;
    expect(share).toBeGreaterThan(0.09);
    expect(share).toBeLessThan(0.11);
    // the canary grows from 10% to 25%: keys move only from stable to canary, never back
    const at25 = keys.map((k) => stickyArm(k, [75, 100]));
    keys.forEach((_, i) => {
      if (at10[i] === 1) expect(at25[i]).toBe(1);
    });
    expect(at25.filter((a) => a === 1).length / keys.length).toBeGreaterThan(0.23);
  });

  it('reads keys from a header, a parameter or an input', () => {
    const req = { headers: { 'x-user': ['u1', 'u2'] }, parameters: { uid: 42 }, inputs: [{ name: 'customer', data: ['c-9', 'c-10'] }] };
    expect(readStickyKey({ from: 'header', name: 'x-user' }, req)).toBe('u1');
    expect(readStickyKey({ from: 'parameter', name: 'uid' }, req)).toBe('42');
    expect(readStickyKey({ from: 'input', name: 'customer' }, req)).toBe('c-9');
    expect(readStickyKey({ from: 'parameter', name: 'missing' }, req)).toBeUndefined();
  });
});

describe('CircuitBreaker', () => {
  it('opens once the window holds enough requests with too many failures, not before', () => {
    const b = new CircuitBreaker({ errorPercent: 50, minRequests: 10, windowMs: 10_000 });
    for (let i = 0; i < 9; i++) expect(b.record(true, 1000 + i)).toBeNull();
    const trip = b.record(true, 1010);
    expect(trip).toEqual({ requests: 10, failures: 10, windowMs: 10_000, errorPercent: 50 });
    expect(b.open).toBe(true);
  });

  it('forgets failures older than its window', () => {
    const b = new CircuitBreaker({ errorPercent: 50, minRequests: 4, windowMs: 1000 });
    b.record(true, 0);
    b.record(true, 10);
    b.record(true, 20);
    // 2 s later the old failures are out of the window: one failure among successes does not trip
    for (let i = 0; i < 5; i++) expect(b.record(false, 2000 + i)).toBeNull();
    expect(b.record(true, 2010)).toBeNull();
    expect(b.open).toBe(false);
  });

  it('counts version failures, not bad requests', () => {
    expect(isVersionFailure('INFERENCE_FAILED', {})).toBe(true);
    expect(isVersionFailure('DEADLINE_EXCEEDED', {})).toBe(true);
    expect(isVersionFailure('INVALID_INPUT', { source: 'runtime' })).toBe(true);
    expect(isVersionFailure('INVALID_INPUT', { field: 'inputs[0]' })).toBe(false);
    expect(isVersionFailure('QUEUE_FULL', {})).toBe(false);
  });
});

describe('ShareCounter', () => {
  it('takes exactly its share, evenly spaced', () => {
    const c = new ShareCounter(25);
    const taken = Array.from({ length: 100 }, () => c.take());
    expect(taken.filter(Boolean).length).toBe(25);
    expect(taken.slice(0, 8)).toEqual([false, false, false, true, false, false, false, true]);
  });
});

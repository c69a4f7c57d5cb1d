import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { LocalRateLimiter, rateLimitedError, retryAfterSeconds } from '../../src/security/rate-limit.js';

/** A limiter on a clock that only moves when told to. */
function manual(options: { idleMs?: number; sweepIntervalMs?: number } = {}): { limiter: LocalRateLimiter; advance(ms: number): void } {
  let t = 1_000;
  const limiter = new LocalRateLimiter({ ...options, now: () => t });
  return { limiter, advance: (ms) => void (t += ms) };
}

function takeMany(limiter: LocalRateLimiter, key: string, spec: { rate: number; burst: number }, n: number): number {
  let granted = 0;
  for (let i = 0; i < n; i++) if (limiter.take(key, spec) === 0) granted++;
  return granted;
}

describe('LocalRateLimiter', () => {
  it('allows the burst at once, then refuses with the seconds until the next token', () => {
    const { limiter, advance } = manual();
    const spec = { rate: 2, burst: 5 };
    for (let i = 0; i < 5; i++) expect(limiter.take('token:a', spec)).toBe(0);
    expect(limiter.take('token:a', spec)).toBeCloseTo(0.5, 9);
    advance(200);
    expect(limiter.take('token:a', spec)).toBeCloseTo(0.3, 9);
  });

  it('refills at the rate and never above the burst', () => {
    const { limiter, advance } = manual();
    const spec = { rate: 10, burst: 20 };
    expect(takeMany(limiter, 'k', spec, 20)).toBe(20);
    advance(1_000);
    expect(takeMany(limiter, 'k', spec, 100)).toBe(10);
    advance(350);
    expect(takeMany(limiter, 'k', spec, 100)).toBe(3);
    advance(3_600_000);
    expect(takeMany(limiter, 'k', spec, 100)).toBe(20);
  });

  it('keeps a bucket per key', () => {
    const { limiter } = manual();
    const spec = { rate: 1, burst: 2 };
    expect(takeMany(limiter, 'token:a', spec, 5)).toBe(2);
    expect(takeMany(limiter, 'token:b', spec, 5)).toBe(2);
    expect(takeMany(limiter, 'deployment:a', spec, 5)).toBe(2);
  });

  it('works as a daily quota: 10 000 a day, then one more every 8.64 s', () => {
    const { limiter, advance } = manual();
    const quota = { rate: 10_000 / 86_400, burst: 10_000 };
    expect(takeMany(limiter, 'quota', quota, 10_000)).toBe(10_000);
    const wait = limiter.take('quota', quota);
    expect(wait).toBeCloseTo(8.64, 6);
    expect(retryAfterSeconds(wait)).toBe(9);
    advance(8_640);
    expect(limiter.take('quota', quota)).toBe(0);
    expect(limiter.take('quota', quota)).toBeGreaterThan(8.6);
    advance(43_200_000); // half a day refills half the quota
    expect(takeMany(limiter, 'quota', quota, 20_000)).toBe(5_000);
  });

  it('applies a changed rate from then on', () => {
    const { limiter, advance } = manual();
    expect(takeMany(limiter, 'k', { rate: 1, burst: 10 }, 10)).toBe(10);
    advance(500); // half a token under the old rate
    expect(limiter.take('k', { rate: 100, burst: 10 })).toBeCloseTo(0.005, 9);
    advance(5);
    expect(limiter.take('k', { rate: 100, burst: 10 })).toBe(0);
    advance(1_000);
    expect(takeMany(limiter, 'k', { rate: 100, burst: 10 }, 50)).toBe(10);
  });

  it('applies a changed burst from then on: a smaller one drops the tokens above it, a larger one fills up at the rate', () => {
    const { limiter, advance } = manual();
    expect(limiter.take('k', { rate: 1, burst: 10 })).toBe(0);
    expect(takeMany(limiter, 'k', { rate: 1, burst: 3 }, 10)).toBe(3);
    advance(60_000); // full at 3 under the old burst
    expect(takeMany(limiter, 'k', { rate: 1, burst: 30 }, 100)).toBe(3);
    advance(20_000);
    expect(takeMany(limiter, 'k', { rate: 1, burst: 30 }, 100)).toBe(20);
    advance(60_000);
    expect(takeMany(limiter, 'k', { rate: 1, burst: 30 }, 100)).toBe(30);
  });

  it('treats a burst below 1 as 1, so a request can still pass', () => {
    const { limiter } = manual();
    expect(limiter.take('k', { rate: 1, burst: 0.5 })).toBe(0);
    expect(limiter.take('k', { rate: 1, burst: 0.5 })).toBeCloseTo(1, 9);
  });

  it('sweeps buckets full for longer than idleMs, so 100 000 keys do not stay in memory', () => {
    const { limiter, advance } = manual(); // idle 10 min, sweep at most every minute
    const spec = { rate: 1, burst: 5 };
    for (let i = 0; i < 100_000; i++) limiter.take(`token:${i}`, spec);
    const quota = { rate: 1 / 3_600, burst: 2 };
    takeMany(limiter, 'drained-quota', quota, 2);
    expect(limiter.size).toBe(100_001);

    advance(5 * 60_000); // full for 5 min: kept
    limiter.take('token:0', spec);
    expect(limiter.size).toBe(100_001);

    advance(6 * 60_000); // full for 11 min: dropped; the quota is still refilling: kept
    limiter.take('other', spec);
    expect(limiter.size).toBe(3);

    // a dropped bucket behaves like the full bucket it was
    expect(takeMany(limiter, 'token:1', spec, 10)).toBe(5);
    // the drained quota kept its state: after 11 min at 1 an hour, the next token is 49 min away
    expect(limiter.take('drained-quota', quota)).toBeCloseTo(2_940, 6);
  });

  it('sweeps no more often than sweepIntervalMs', () => {
    const { limiter, advance } = manual({ idleMs: 1_000, sweepIntervalMs: 10_000 });
    const spec = { rate: 1_000, burst: 1 };
    limiter.take('a', spec);
    advance(9_000);
    limiter.take('b', spec); // a has been full for ~9 s, but no sweep is due yet
    expect(limiter.size).toBe(2);
    advance(1_500);
    limiter.take('c', spec);
    expect(limiter.size).toBe(1);
  });

  it('never grants more than burst + rate × elapsed, whatever the pattern of takes and pauses', () => {
    fc.assert(
      fc.property(
        fc.record({ rate: fc.double({ min: 0.01, max: 1_000, noNaN: true }), burst: fc.integer({ min: 1, max: 200 }) }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 100 })), { minLength: 1, maxLength: 40 }),
        (spec, steps) => {
          const { limiter, advance } = manual();
          let granted = 0;
          let elapsed = 0;
          for (const [pause, takes] of steps) {
            advance(pause);
            elapsed += pause;
            for (let i = 0; i < takes; i++) {
              const wait = limiter.take('k', spec);
              if (wait === 0) granted++;
              else expect(wait).toBeGreaterThan(0);
            }
          }
          expect(granted).toBeLessThanOrEqual(spec.burst + (spec.rate * elapsed) / 1000 + 1e-6);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('retryAfterSeconds and rateLimitedError', () => {
  it('rounds a wait up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(0.001)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1.2)).toBe(2);
    expect(retryAfterSeconds(8_640)).toBe(8_640);
    expect(retryAfterSeconds(Infinity)).toBe(86_400);
  });

  it('builds a 429 RATE_LIMITED error carrying retryAfterSeconds', () => {
    const err = rateLimitedError('deployment fraud', 2.5, { deployment: 'fraud' });
    expect(err).toBeInstanceOf(BerthError);
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.status).toBe(429);
    expect(err.context).toMatchObject({ deployment: 'fraud', retryAfterSeconds: 3 });
    expect(err.message).toContain('deployment fraud');
  });
});

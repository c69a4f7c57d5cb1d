import { Redis } from 'ioredis';
import { BerthError, type ErrorContext, type Logger } from '../core/index.js';
import type { RateSpec } from './principal.js';

/**
 * Token buckets for per-token and per-deployment limits and quotas. `rate` tokens refill per second up to
 * `burst`; a quota is a bucket with a slow rate (10 000 a day = `{rate: 10000 / 86400, burst: 10000}`).
 *
 * `take` answers 0 when the request may go, else the seconds until one token will be available (> 0). It
 * answers a plain number on the common path and a Promise only when it must ask someone else (Redis), so
 * callers await only then:
 *
 * @example
 * let wait = limiter.take(`token:${principal.id}`, spec);
 * if (typeof wait !== 'number') wait = await wait;
 * if (wait > 0) throw rateLimitedError(`token ${principal.name}`, wait);
 */
export interface RateLimiter {
  take(key: string, spec: RateSpec): number | Promise<number>;
  close(): Promise<void>;
}

/** Seconds for a Retry-After header: the wait rounded up, at least 1 (a day when the wait is unbounded). */
export function retryAfterSeconds(wait: number): number {
  if (!Number.isFinite(wait)) return 86_400;
  return Math.max(1, Math.ceil(wait));
}

/** The RATE_LIMITED error for `subject` (e.g. `token k3J9x2`, `deployment fraud`) after `take` answered `wait`. */
export function rateLimitedError(subject: string, wait: number, context: ErrorContext = {}): BerthError {
  const seconds = retryAfterSeconds(wait);
  return new BerthError('RATE_LIMITED', `rate limit of ${subject} reached; retry in ${seconds} s`, { ...context, retryAfterSeconds: seconds });
}

export interface LocalRateLimiterOptions {
  /** monotonic milliseconds; default performance.now */
  now?: () => number;
  /** a bucket that has been full this long is dropped (a dropped bucket and a full one behave the same); default 10 min */
  idleMs?: number;
  /** how often (at most) a take looks for idle buckets; default 60 s */
  sweepIntervalMs?: number;
}

/** One key's bucket; one allocation per key, then updated in place. */
class Bucket {
  tokens: number;
  last: number;
  rate: number;
  burst: number;
  /** the capacity: `burst`, but at least 1 so a request can ever pass */
  cap: number;

  constructor(spec: RateSpec, now: number) {
    this.rate = spec.rate;
    this.burst = spec.burst;
    this.cap = spec.burst >= 1 ? spec.burst : 1;
    this.tokens = this.cap;
    this.last = now;
  }

  refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      if (this.rate > 0) {
        const t = this.tokens + (elapsed * this.rate) / 1000;
        this.tokens = t < this.cap ? t : this.cap;
      }
      this.last = now;
    }
  }

  /** Account for the time under the old spec, then follow the new one; tokens above the new capacity are dropped. */
  respec(spec: RateSpec, now: number): void {
    this.refill(now);
    this.rate = spec.rate;
    this.burst = spec.burst;
    this.cap = spec.burst >= 1 ? spec.burst : 1;
    if (this.tokens > this.cap) this.tokens = this.cap;
  }

  /** When the bucket is (or will be) full, in the clock's ms. */
  fullAt(): number {
    if (this.tokens >= this.cap) return this.last;
    return this.rate > 0 ? this.last + ((this.cap - this.tokens) * 1000) / this.rate : Infinity;
  }
}

/**
 * In-process token buckets, refilled lazily from a monotonic clock. `take` is synchronous and allocates only
 * for a key it has not seen (or has swept). Buckets full for `idleMs` are swept, at most every
 * `sweepIntervalMs`, from within a take, so the map holds only keys used in the last `idleMs` or so.
 */
export class LocalRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly idleMs: number;
  private readonly sweepIntervalMs: number;
  private nextSweep: number;

  constructor(options: LocalRateLimiterOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.idleMs = options.idleMs ?? 10 * 60_000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.nextSweep = this.now() + this.sweepIntervalMs;
  }

  take(key: string, spec: RateSpec): number {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = new Bucket(spec, now);
      this.buckets.set(key, b);
    } else if (b.rate !== spec.rate || b.burst !== spec.burst) {
      b.respec(spec, now);
    } else {
      b.refill(now);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return b.rate > 0 ? (1 - b.tokens) / b.rate : Infinity;
  }

  /** Number of buckets held (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** Drop every bucket that has been full for `idleMs`. */
  sweep(now: number = this.now()): void {
    this.nextSweep = now + this.sweepIntervalMs;
    const before = now - this.idleMs;
    for (const [key, b] of this.buckets) {
      if (b.fullAt() < before) this.buckets.delete(key);
    }
  }

  async close(): Promise<void> {
    this.buckets.clear();
  }
}

/**
 * The bucket lives in a hash {t: tokens, ts: ms of the last refill}; time is the Redis server's, so the
 * clocks of the processes do not matter. Grants up to ARGV[3] whole tokens (fewer when fewer are left) and
 * answers {granted, wait ms until one token when none was granted}. A missing key is a full bucket, so the
 * key expires once it would have refilled.
 */
const LEASE_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
if rate == nil or rate <= 0 then rate = 1e-9 end
if burst == nil or burst < 1 then burst = 1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
elseif now > ts then
  tokens = tokens + (now - ts) * rate / 1000
  ts = now
end
if tokens > burst then tokens = burst end
local granted = math.floor(tokens)
if granted > want then granted = want end
local wait = 0
if granted > 0 then
  tokens = tokens - granted
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
  if wait < 1 then wait = 1 end
end
redis.call('HSET', KEYS[1], 't', tokens, 'ts', ts)
local ttl = math.ceil((burst - tokens) * 1000 / rate) + 1000
if ttl > 34560000000 then ttl = 34560000000 end
redis.call('PEXPIRE', KEYS[1], ttl)
return {granted, wait}
`;

export interface RedisRateLimiterOptions {
  /** redis:// or rediss:// URL; never logged (it may hold a password) */
  url: string;
  /** key prefix; default `berth:rl:` */
  prefix?: string;
  /** tokens leased per round trip, at most; default 20 (never more than max(1, floor(burst / 10))) */
  leaseSize?: number;
  logger: Logger;
  /** used while Redis is down or slow; default a LocalRateLimiter (closed with this limiter) */
  fallback?: RateLimiter;
  /** a lease unanswered after this long counts as Redis being down; default 50 ms */
  timeoutMs?: number;
  /** leased tokens unused after this long are dropped, never returned; default 1000 ms */
  leaseTtlMs?: number;
  /** while Redis is down, one request tries it again this often; default 1000 ms */
  retryMs?: number;
  /** monotonic milliseconds, for lease lifetimes; default performance.now */
  now?: () => number;
}

/** What this process holds for one key. One allocation per key, then updated in place. */
class Lease {
  /** leased tokens not used yet */
  tokens = 0;
  /** after this (monotonic ms) the leased tokens are dropped */
  expiresAt = 0;
  /** Redis answered "none left"; until this time takes answer the remaining wait without asking again */
  deniedUntil = 0;
  /** the lease being fetched; concurrent takes of the key wait for it */
  inflight: Promise<void> | null = null;
  /** below this many leased tokens a take starts the next lease in the background */
  lowWater = 0;
  rate: number;
  burst: number;

  constructor(spec: RateSpec) {
    this.rate = spec.rate;
    this.burst = spec.burst;
  }
}

type LeaseCommand = (key: string, rate: number, burst: number, want: number) => Promise<unknown>;

/**
 * Token buckets in Redis, shared by every process. Each process leases up to `leaseSize` tokens of a key in
 * one script call and spends them locally, so most takes are synchronous; a lease lives `leaseTtlMs`, so a
 * process can overspend the global limit by at most one lease. A "none left" answer is remembered for the
 * wait it named, so refused requests do not reach Redis either. When Redis is down or slower than
 * `timeoutMs` the `fallback` limiter decides (each process alone), with one warning per outage.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly client: Redis;
  private readonly lease: LeaseCommand;
  private readonly leases = new Map<string, Lease>();
  private readonly prefix: string;
  private readonly leaseSize: number;
  private readonly logger: Logger;
  private readonly fallback: RateLimiter;
  private readonly ownsFallback: boolean;
  private readonly timeoutMs: number;
  private readonly leaseTtlMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private readonly secret: string | null;
  /** monotonic ms the current outage began, null while Redis answers */
  private downSince: number | null = null;
  /** during an outage, no round trip before this */
  private retryAt = 0;
  private nextSweep: number;
  private closed = false;

  constructor(options: RedisRateLimiterOptions) {
    this.prefix = options.prefix ?? 'berth:rl:';
    this.leaseSize = Math.max(1, Math.floor(options.leaseSize ?? 20));
    this.logger = options.logger;
    this.ownsFallback = options.fallback === undefined;
    this.fallback = options.fallback ?? new LocalRateLimiter({ now: options.now });
    this.timeoutMs = options.timeoutMs ?? 50;
    this.leaseTtlMs = options.leaseTtlMs ?? 1000;
    this.retryMs = options.retryMs ?? 1000;
    this.now = options.now ?? (() => performance.now());
    this.nextSweep = this.now() + 60_000;
    this.secret = passwordOf(options.url);
    this.client = new Redis(options.url, {
      // a take must not wait for a reconnect: while not connected, commands fail at once and the fallback decides
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    });
    this.client.defineCommand('berthRateLease', { numberOfKeys: 1, lua: LEASE_SCRIPT });
    const command = (this.client as unknown as { berthRateLease: LeaseCommand }).berthRateLease;
    this.lease = command.bind(this.client);
    this.client.on('error', (err: unknown) => this.markDown(err));
    this.client.on('ready', () => this.markUp());
  }

  take(key: string, spec: RateSpec): number | Promise<number> {
    const now = this.now();
    let l = this.leases.get(key);
    if (l !== undefined) {
      if (l.rate !== spec.rate || l.burst !== spec.burst) {
        // the old refusal was for the old spec; tokens already leased stay good
        l.rate = spec.rate;
        l.burst = spec.burst;
        l.deniedUntil = 0;
      }
      if (l.tokens >= 1) {
        if (now < l.expiresAt) {
          l.tokens -= 1;
          // refill before the lease runs dry, so busy keys never wait for a round trip
          if (l.inflight === null && l.tokens < l.lowWater && now >= l.deniedUntil && this.downSince === null && !this.closed && this.client.status === 'ready') {
            l.inflight = this.fetch(key, spec, l, now);
          }
          return 0;
        }
        l.tokens = 0;
      }
      if (now < l.deniedUntil) return (l.deniedUntil - now) / 1000;
      if (l.inflight !== null) return l.inflight.then(() => this.take(key, spec));
    }
    if (now >= this.nextSweep) this.sweep(now);
    if (this.closed || this.client.status !== 'ready') return this.fallback.take(key, spec);
    if (this.downSince !== null) {
      if (now < this.retryAt) return this.fallback.take(key, spec);
      this.retryAt = now + this.retryMs; // this take is the one probe of this interval
    }
    if (l === undefined) {
      l = new Lease(spec);
      this.leases.set(key, l);
    }
    const p = this.fetch(key, spec, l, now);
    l.inflight = p;
    return p.then(() => this.take(key, spec));
  }

  /** Lease tokens for `key` from Redis into `l`; never rejects (a failure marks Redis down). */
  private fetch(key: string, spec: RateSpec, l: Lease, sentAt: number): Promise<void> {
    const want = Math.max(1, Math.min(this.leaseSize, Math.floor(spec.burst / 10)));
    // leases of a few tokens (small bursts) are not refilled ahead: accuracy matters more there
    l.lowWater = want >= 4 ? want / 2 : 0;
    return new Promise<void>((resolve) => {
      let settled = false;
      const finish = (err: unknown, reply: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        l.inflight = null;
        const parsed = err === null ? parseReply(reply) : null;
        if (parsed === null) {
          this.markDown(err ?? new Error('unexpected reply from the rate-limit script'));
          this.retryAt = this.now() + this.retryMs;
        } else {
          this.markUp();
          const [granted, waitMs] = parsed;
          if (granted > 0) {
            // a refill adds to what is left of a lease still valid (at most 1.5 leases held)
            l.tokens = (this.now() < l.expiresAt ? l.tokens : 0) + granted;
            l.expiresAt = sentAt + this.leaseTtlMs;
          } else {
            // none left in Redis: spend what is still leased, and ask again only after the wait
            if (!(l.tokens >= 1 && this.now() < l.expiresAt)) l.tokens = 0;
            l.deniedUntil = this.now() + waitMs;
          }
        }
        resolve();
      };
      const timer = setTimeout(() => finish(new Error(`no answer within ${this.timeoutMs} ms`), null), this.timeoutMs);
      this.lease(this.prefix + key, spec.rate, spec.burst, want).then(
        (reply) => finish(null, reply),
        (err: unknown) => finish(err ?? new Error('lease failed'), null),
      );
    });
  }

  private markDown(err: unknown): void {
    if (this.closed || this.downSince !== null) return;
    this.downSince = this.now();
    this.logger.warn('rate limits: Redis unavailable, each process now limits alone until it answers again', {
      error: this.redact(err instanceof Error ? err.message : String(err)),
    });
  }

  private markUp(): void {
    if (this.downSince === null) return;
    const seconds = Math.round((this.now() - this.downSince) / 1000);
    this.downSince = null;
    this.logger.info('rate limits: Redis answers again; limits are shared again', { outageSeconds: seconds });
  }

  private redact(text: string): string {
    let out = text.replace(/\/\/[^@\s/]*@/g, '//***@');
    if (this.secret !== null && this.secret.length > 0) out = out.split(this.secret).join('***');
    return out;
  }

  /** Forget leases that expired and are not refusing or fetching. */
  private sweep(now: number): void {
    this.nextSweep = now + 60_000;
    for (const [key, l] of this.leases) {
      if (l.inflight === null && now >= l.expiresAt && now >= l.deniedUntil) this.leases.delete(key);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.leases.clear();
    if (this.client.status === 'ready') {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
    if (this.ownsFallback) await this.fallback.close();
  }
}

function parseReply(reply: unknown): [number, number] | null {
  if (!Array.isArray(reply) || reply.length < 2) return null;
  const granted = Number(reply[0]);
  const waitMs = Number(reply[1]);
  if (!Number.isFinite(granted) || !Number.isFinite(waitMs) || granted < 0) return null;
  return [granted, granted > 0 ? 0 : Math.max(1, waitMs)];
}

function passwordOf(url: string): string | null {
  try {
    const p = new URL(url).password;
    return p === '' ? null : decodeURIComponent(p);
  } catch {
    return null;
  }
}

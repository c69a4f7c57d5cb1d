/*
 * RedisRateLimiter against a real Redis. Runs when BERTH_TEST_REDIS_URL is set (e.g. redis://127.0.0.1:6379);
 * the "Redis is down" tests need no Redis and always run. Every run uses its own key prefix, so test files
 * running in parallel never share a bucket.
 */
import { randomUUID } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/core/index.js';
import { LocalRateLimiter, RedisRateLimiter, type RateLimiter } from '../../src/security/rate-limit.js';
import type { RateSpec } from '../../src/security/principal.js';

const REDIS_URL = process.env['BERTH_TEST_REDIS_URL'];
if (!REDIS_URL) console.warn('rate-limit-redis.test.ts: BERTH_TEST_REDIS_URL is not set; skipping the tests that need a real Redis');

const PREFIX = `berth:test:rl:${process.pid}:${randomUUID().slice(0, 8)}:`;

function capture(): { logger: Logger; lines: Array<{ level: string; msg: string; [k: string]: unknown }>; raw: string[] } {
  const raw: string[] = [];
  const lines: Array<{ level: string; msg: string }> = [];
  const logger = createLogger('debug', (line) => {
    raw.push(line);
    lines.push(JSON.parse(line) as { level: string; msg: string });
  });
  return { logger, lines, raw };
}

async function take(limiter: RateLimiter, key: string, spec: RateSpec): Promise<number> {
  const r = limiter.take(key, spec);
  return typeof r === 'number' ? r : await r;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(check: () => boolean | Promise<boolean>, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('RedisRateLimiter when Redis is unreachable', () => {
  it('falls back to local limits without throwing, warns once per outage, and never logs the URL', async () => {
    const { logger, lines, raw } = capture();
    const url = `redis://berth:s3cret-pw@127.0.0.1:${await closedPort()}/0`;
    const limiter = new RedisRateLimiter({ url, prefix: PREFIX, logger, retryMs: 50 });
    try {
      const spec = { rate: 1, burst: 3 };
      const results: Array<number | Promise<number>> = [];
      for (let i = 0; i < 5; i++) results.push(limiter.take('k', spec));
      // no Redis round trip at all: the local fallback answers synchronously
      expect(results.map((r) => typeof r)).toEqual(['number', 'number', 'number', 'number', 'number']);
      expect(results.slice(0, 3)).toEqual([0, 0, 0]);
      expect(results[3]).toBeGreaterThan(0);

      await until(() => lines.some((l) => l.level === 'warn'));
      await sleep(400); // several reconnect attempts fail meanwhile
      for (let i = 0; i < 50; i++) await take(limiter, `k${i % 5}`, spec);
      expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
      expect(lines[0]?.msg).toMatch(/Redis unavailable/);
      expect(raw.join('\n')).not.toContain('s3cret-pw');
      expect(raw.join('\n')).not.toContain('redis://');
    } finally {
      await limiter.close();
    }
  });

  it('uses the fallback it is given', async () => {
    const { logger } = capture();
    const fallback = new LocalRateLimiter();
    const limiter = new RedisRateLimiter({ url: `redis://127.0.0.1:${await closedPort()}`, logger, fallback });
    try {
      expect(limiter.take('k', { rate: 1, burst: 1 })).toBe(0);
      expect(fallback.size).toBe(1);
      expect(fallback.take('k', { rate: 1, burst: 1 })).toBeGreaterThan(0);
    } finally {
      await limiter.close();
      await fallback.close();
    }
  });
});

describe.skipIf(!REDIS_URL)('RedisRateLimiter against Redis (BERTH_TEST_REDIS_URL)', () => {
  const url = REDIS_URL ?? '';
  let admin: Redis;
  const open: RedisRateLimiter[] = [];

  /** A limiter whose connection is ready, so the first take leases instead of falling back. */
  async function limiter(options: Partial<ConstructorParameters<typeof RedisRateLimiter>[0]> = {}): Promise<RedisRateLimiter> {
    const l = new RedisRateLimiter({ url, prefix: PREFIX, logger: capture().logger, ...options });
    open.push(l);
    const client = (l as unknown as { client: Redis }).client;
    await until(() => client.status === 'ready');
    return l;
  }

  async function tokensLeft(key: string): Promise<number> {
    return Number(await admin.hget(PREFIX + key, 't'));
  }

  beforeAll(async () => {
    admin = new Redis(url);
    await admin.ping();
  });

  afterAll(async () => {
    await Promise.all(open.map((l) => l.close()));
    const keys = await admin.keys(`${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('shares one bucket between processes: two limiters hammering rate 50/s burst 50 for 2 s get burst + rate × 2', async () => {
    const spec = { rate: 50, burst: 50 };
    const leaseCap = 5; // max(1, floor(50 / 10)) < leaseSize 20
    const a = await limiter({ leaseSize: 20 });
    const b = await limiter({ leaseSize: 20 });
    const start = performance.now();
    const end = start + 2_000;
    const hammer = async (l: RedisRateLimiter): Promise<{ granted: number; refused: number; minWait: number; maxWait: number }> => {
      const out = { granted: 0, refused: 0, minWait: Infinity, maxWait: 0 };
      while (performance.now() < end) {
        const wait = await take(l, 'shared', spec);
        if (wait === 0) out.granted++;
        else {
          out.refused++;
          out.minWait = Math.min(out.minWait, wait);
          out.maxWait = Math.max(out.maxWait, wait);
        }
        await tick();
      }
      return out;
    };
    const [ra, rb] = await Promise.all([hammer(a), hammer(b)]);
    const elapsed = (performance.now() - start) / 1000;
    const total = ra.granted + rb.granted;
    const expected = spec.burst + spec.rate * elapsed;
    expect(total).toBeGreaterThanOrEqual(expected - 2 * leaseCap - 5);
    expect(total).toBeLessThanOrEqual(expected + 2 * leaseCap);
    expect(ra.granted).toBeGreaterThan(20); // both processes got a share
    expect(rb.granted).toBeGreaterThan(20);
    for (const r of [ra, rb]) {
      expect(r.refused).toBeGreaterThan(0);
      expect(r.minWait).toBeGreaterThan(0);
      expect(r.maxWait).toBeLessThanOrEqual(1 / spec.rate + 0.002); // never more than one token's refill
    }
  });

  it('leases at most burst / 10 tokens, so a burst-10 limit stays exact across processes', async () => {
    const spec = { rate: 1 / 3_600, burst: 10 };
    const a = await limiter();
    const b = await limiter();
    let granted = 0;
    const waits: number[] = [];
    for (let i = 0; i < 20; i++) {
      for (const l of [a, b]) {
        const w = await take(l, 'small', spec);
        if (w === 0) granted++;
        else waits.push(w);
      }
    }
    expect(granted).toBe(10);
    expect(waits).toHaveLength(30);
    // about an hour until the next token (the first refusal at least; the rest count down from it)
    for (const w of waits) expect(w).toBeGreaterThan(3_500);
    for (const w of waits) expect(w).toBeLessThanOrEqual(3_600);
  });

  it('answers a refused key from the remembered wait, without a round trip', async () => {
    const spec = { rate: 1 / 60, burst: 1 };
    const a = await limiter();
    expect(await take(a, 'refused', spec)).toBe(0);
    expect(await take(a, 'refused', spec)).toBeGreaterThan(59);
    const again = a.take('refused', spec);
    expect(typeof again).toBe('number');
    expect(again).toBeGreaterThan(59);
  });

  it('lets concurrent takes of one key share a single lease request', async () => {
    const spec = { rate: 1 / 3_600, burst: 1_000 };
    const a = await limiter({ leaseSize: 20 });
    const pending = Array.from({ length: 20 }, () => a.take('concurrent', spec));
    expect(pending.every((p) => p instanceof Promise)).toBe(true);
    expect(await Promise.all(pending)).toEqual(new Array(20).fill(0));
    // one lease served all 20; as it ran low a take leased the next in the background…
    await until(async () => (await tokensLeft('concurrent')) < 970);
    expect(await tokensLeft('concurrent')).toBeCloseTo(960, 0);
    // …so the next take is answered at once from it, without another round trip
    expect(a.take('concurrent', spec)).toBe(0);
    expect(await tokensLeft('concurrent')).toBeCloseTo(960, 0);
  });

  it('drops leased tokens unused after the lease lifetime instead of spending them late', async () => {
    let t = 0;
    const spec = { rate: 1 / 3_600, burst: 100 }; // lease 10
    const a = await limiter({ now: () => t, leaseTtlMs: 1_000 });
    expect(await take(a, 'expiring', spec)).toBe(0);
    expect(await tokensLeft('expiring')).toBeCloseTo(90, 0);
    expect(a.take('expiring', spec)).toBe(0); // from the lease, synchronously
    t += 1_001;
    const next = a.take('expiring', spec);
    expect(next).toBeInstanceOf(Promise);
    expect(await next).toBe(0);
    expect(await tokensLeft('expiring')).toBeCloseTo(80, 0); // the 8 left in the old lease were not returned
  });

  it('sets a TTL on the bucket, no longer than it takes to refill', async () => {
    const a = await limiter();
    expect(await take(a, 'ttl', { rate: 10, burst: 10 })).toBe(0);
    const ttl = await admin.pttl(PREFIX + 'ttl');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_000 + 1_000);
  });

  it('falls back when Redis answers slower than 50 ms, warns once, and shares limits again once it answers', async () => {
    const target = new URL(url);
    const proxy = stallableProxy(target.hostname, Number(target.port || 6379));
    const port = await proxy.listen();
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(port);
    const { logger, lines } = capture();
    const a = await limiter({ url: proxied.toString(), logger, retryMs: 100 });
    try {
      const spec = { rate: 1 / 3_600, burst: 10 }; // lease 1: every take asks Redis
      expect(await take(a, 'slow', spec)).toBe(0);
      expect(await tokensLeft('slow')).toBeCloseTo(9, 0);

      proxy.stall(true);
      const before = performance.now();
      expect(await take(a, 'slow', spec)).toBe(0); // the fallback's own bucket
      expect(performance.now() - before).toBeLessThan(1_000);
      expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
      // within the retry interval, takes do not wait for Redis at all
      const r = a.take('slow', spec);
      expect(typeof r).toBe('number');
      await sleep(150);
      expect(await take(a, 'slow', spec)).toBe(0); // the probe times out as well: fallback again
      expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);

      proxy.stall(false);
      await sleep(150);
      expect(await take(a, 'slow', spec)).toBe(0);
      await until(() => lines.some((l) => l.level === 'info' && /answers again/.test(l.msg)));
      expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    } finally {
      await a.close();
      await proxy.close();
    }
  });
});

/** A TCP proxy that can hold back what clients send, to make Redis look slow. */
function stallableProxy(host: string, port: number): { listen(): Promise<number>; stall(on: boolean): void; close(): Promise<void> } {
  let stalled = false;
  const links: Array<{ client: Socket; upstream: Socket; held: Buffer[] }> = [];
  const server: Server = createServer((client) => {
    const upstream = connect(port, host);
    const link = { client, upstream, held: [] as Buffer[] };
    links.push(link);
    client.on('data', (d: Buffer) => (stalled ? link.held.push(d) : upstream.write(d)));
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return {
    listen: () =>
      new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))),
    stall(on) {
      stalled = on;
      if (!on) for (const l of links) for (const d of l.held.splice(0)) l.upstream.write(d);
    },
    close: () =>
      new Promise((resolve) => {
        for (const l of links) l.client.destroy();
        server.close(() => resolve());
      }),
  };
}

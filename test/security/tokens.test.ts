import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError, silentLogger } from '../../src/core/index.js';
import { openEmbeddedRegistry, type Registry } from '../../src/registry/index.js';
import { checkSecret, hashSecret, TokenService } from '../../src/security/index.js';

let dir: string;
let registry: Registry;
let now = Date.parse('2026-11-24T12:00:00Z');
let getTokenCalls = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-tokens-'));
  registry = await openEmbeddedRegistry(dir);
  const real = registry.getToken.bind(registry);
  registry.getToken = async (id: string) => {
    getTokenCalls++;
    return real(id);
  };
});
afterAll(async () => {
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

const service = (): TokenService => new TokenService({ registry, logger: silentLogger, now: () => now });

async function refusal(p: unknown): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal');
}

describe('scrypt hashes', () => {
  it('verify the right secret only, and never contain it', async () => {
    const h = await hashSecret('s3cret-value');
    expect(h).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(h).not.toContain('s3cret-value');
    expect(await checkSecret('s3cret-value', h)).toBe(true);
    expect(await checkSecret('s3cret-valuf', h)).toBe(false);
    expect(await checkSecret('s3cret-value', 'md5$abc')).toBe(false);
    // two hashes of one secret differ (per-token salt)
    expect(await hashSecret('s3cret-value')).not.toBe(h);
  });
});

describe('TokenService', () => {
  it('mints a token shown once, stores only its hash, and verifies it: slow once, then synchronously', async () => {
    const tokens = service();
    const { token, record } = await tokens.create({ name: 'app', scopes: ['predict:fraud'], expiresAt: now + 3_600_000 }, 'ana');
    expect(token).toMatch(/^berth_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const stored = await registry.getToken(record.id);
    expect(stored.hash).not.toContain(token.slice(-43));
    expect(stored.createdBy).toBe('ana');
    const first = tokens.verify(token);
    expect(first).toBeInstanceOf(Promise);
    const p = await first;
    expect(p).toMatchObject({ kind: 'token', id: record.id, name: `token:${record.id} (app)`, scopes: [{ verb: 'predict', resource: 'fraud' }] });
    const again = tokens.verify(token);
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toBe(p);
  });

  it('refuses a wrong secret, and a replay of it costs no second lookup', async () => {
    const tokens = service();
    const { record } = await tokens.create({ name: 'x', roles: ['viewer'], expiresAt: null });
    const wrong = `berth_${record.id}_${'A'.repeat(43)}`;
    const e = await refusal(tokens.verify(wrong));
    expect(isBerthError(e, 'UNAUTHENTICATED')).toBe(true);
    expect(e.message).not.toContain('A'.repeat(43));
    const before = getTokenCalls;
    expect(isBerthError(await refusal(tokens.verify(wrong)), 'UNAUTHENTICATED')).toBe(true);
    expect(getTokenCalls).toBe(before);
    for (const bad of ['berth_short_x', 'nope', `berth_${'Z'.repeat(12)}_${'B'.repeat(43)}`]) expect(isBerthError(await refusal(tokens.verify(bad)), 'UNAUTHENTICATED')).toBe(true);
  });

  it('shares one check among concurrent first uses of a token', async () => {
    const tokens = service();
    const { token } = await tokens.create({ name: 'busy', roles: ['predictor'], expiresAt: null });
    const before = getTokenCalls;
    const all = await Promise.all(Array.from({ length: 10 }, () => tokens.verify(token)));
    expect(new Set(all).size).toBe(1);
    expect(getTokenCalls - before).toBe(1);
  });

  it('refuses an expired token, cached or not', async () => {
    const tokens = service();
    const { token } = await tokens.create({ name: 'brief', roles: ['viewer'], expiresAt: now + 1000 });
    await tokens.verify(token);
    now += 2000;
    const e = await refusal(Promise.resolve().then(() => tokens.verify(token)));
    expect(e.message).toContain('expired');
    expect(isBerthError(await refusal(service().verify(token)), 'UNAUTHENTICATED')).toBe(true);
  });

  it('stops a token revoked by another process once told the registry changed, re-reading the row without a second scrypt', async () => {
    const here = service();
    const elsewhere = service();
    const { token, record } = await here.create({ name: 'shared', roles: ['viewer'], expiresAt: null });
    const other = (await here.create({ name: 'other', roles: ['viewer'], expiresAt: null })).token;
    await here.verify(token);
    await here.verify(other);
    // spoil the stored hash of `other`: a revalidation that ran scrypt again would now refuse it
    const db = new Database(path.join(dir, 'berth.db'));
    db.prepare("update tokens set hash = 'scrypt$15$8$1$AAAA$BBBB' where name = 'other'").run();
    db.close();
    await elsewhere.revoke(record.id, 'ops');
    here.invalidate();
    const e = await refusal(Promise.resolve().then(() => here.verify(token)));
    expect(e.message).toContain('revoked');
    expect((await here.verify(other)).name).toContain('(other)');
    // a revoked token never comes back, and revoking twice says so
    expect((await elsewhere.revoke(record.id)).changed).toBe(false);
  });

  it('refuses tokens without scopes, with bad scopes or roles, with a past expiry or a bad rate, naming the field', async () => {
    const tokens = service();
    const cases: [Parameters<TokenService['create']>[0], string][] = [
      [{ name: 'x', expiresAt: null }, 'scopes'],
      [{ name: 'x', scopes: ['write:*'], expiresAt: null }, 'scopes'],
      [{ name: 'x', roles: ['root'], expiresAt: null }, 'role'],
      [{ name: '', roles: ['viewer'], expiresAt: null }, 'name'],
      [{ name: 'x', roles: ['viewer'], expiresAt: now - 1 }, 'expiresAt'],
      [{ name: 'x', roles: ['viewer'], expiresAt: null, rateLimit: { rate: 0, burst: 1 } }, 'rateLimit'],
    ];
    for (const [input, field] of cases) {
      const e = await refusal(tokens.create(input));
      expect(isBerthError(e, 'INVALID_ARGUMENT'), JSON.stringify(input)).toBe(true);
      expect((e as unknown as { context: { field?: string } }).context.field).toBe(field);
    }
  });
});

import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { BerthError, type Logger } from '../core/index.js';
import type { Registry, TokenRecord } from '../registry/index.js';
import { formatScopes, grantsOf, type Principal, type RateSpec, type Scope } from './principal.js';

/**
 * API tokens: `berth_<id>_<secret>`. The id finds the row; the secret is checked against a slow
 * scrypt hash, so a stolen database does not give working tokens. A verified token is cached in
 * memory (keyed by the whole token string, never written anywhere) so the hot path is one map
 * lookup; revocation and expiry are checked on every hit.
 */
export const TOKEN_PREFIX = 'berth_';
const ID_ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const ID_LENGTH = 12;
const TOKEN_SHAPE = /^berth_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
/** scrypt cost: N = 2^15, r = 8, p = 1 (≈ 32 MiB, tens of ms per check) */
const SCRYPT = { logN: 15, r: 8, p: 1, keylen: 32 } as const;
const CACHE_LIMIT = 10_000;
/** a cached verification is re-read from the database this often (revocations by other processes) */
const CACHE_TTL_MS = 30_000;
/** at most this many scrypt checks run at once; more waiting than `MAX_WAITING` are refused (a flood of bad tokens) */
const MAX_HASHING = 2;
const MAX_WAITING = 256;
/** a token's last use is written at most this often (the list shows it to the hour) */
const LAST_USED_RESOLUTION_MS = 3_600_000;

export interface CreateTokenInput {
  name: string;
  /** roles and scopes, as `berth tokens create --role/--scope` take them */
  roles?: readonly string[];
  scopes?: readonly string[];
  /** ms since epoch, or null for a token that never expires */
  expiresAt: number | null;
  rateLimit?: RateSpec | null;
}

/** A token as the API shows it: everything but its hash. */
export interface TokenView {
  id: string;
  name: string;
  scopes: string[];
  rateLimit: RateSpec | null;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
  lastUsedAt: string | null;
  /** active, expired or revoked */
  state: 'active' | 'expired' | 'revoked';
}

export function tokenView(r: TokenRecord, now: number): TokenView {
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    rateLimit: r.rateLimit,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
    revokedBy: r.revokedBy,
    lastUsedAt: r.lastUsedAt,
    state: r.revokedAt !== null ? 'revoked' : r.expiresAtMs !== null && r.expiresAtMs <= now ? 'expired' : 'active',
  };
}

interface CacheEntry {
  principal: Principal;
  checkedAt: number;
}

export interface TokenServiceOptions {
  registry: Registry;
  logger: Logger;
  now?: () => number;
}

export class TokenService {
  private readonly registry: Registry;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  /** recently refused token strings (bounded), so a replayed bad token costs no second scrypt */
  private readonly refused = new Map<string, number>();
  private readonly pending = new Map<string, Promise<Principal>>();
  private readonly lastUsed = new Map<string, number>();
  /** when each token's last use was last written: a write is a durable (fsynced) transaction, so at most hourly */
  private readonly lastWritten = new Map<string, number>();
  private hashing = 0;
  private readonly waiting: (() => void)[] = [];
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(opts: TokenServiceOptions) {
    this.registry = opts.registry;
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
  }

  /** Mint a token: the secret is returned once and only its hash is stored. */
  async create(input: CreateTokenInput, actor?: string): Promise<{ token: string; record: TokenView }> {
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    if (name === '' || name.length > 128 || /[\u0000-\u001f]/.test(name)) {
      throw new BerthError('INVALID_ARGUMENT', `name: expected a label of 1 to 128 printable characters (who or what the token is for), got ${JSON.stringify(input.name)}`, {
        field: 'name',
        expected: '1..128 printable characters',
        got: input.name,
      });
    }
    const scopes: Scope[] = grantsOf({ roles: input.roles ?? [], scopes: input.scopes ?? [] });
    if (scopes.length === 0) {
      throw new BerthError('INVALID_ARGUMENT', 'scopes: a token needs at least one role or scope, e.g. --role predictor or --scope predict:fraud', {
        field: 'scopes',
        expected: 'one or more of --role admin|deployer|predictor|viewer, --scope predict:NAME|read:NAME|deploy:NAME|admin',
        got: [],
      });
    }
    if (input.expiresAt !== null && (!Number.isFinite(input.expiresAt) || input.expiresAt <= this.now())) {
      throw new BerthError('INVALID_ARGUMENT', 'expiresAt: expected a time in the future (or null for never)', { field: 'expiresAt', got: input.expiresAt });
    }
    const rate = input.rateLimit ?? null;
    if (rate !== null && (!(rate.rate > 0) || !Number.isFinite(rate.rate) || !(rate.burst >= 1) || !Number.isFinite(rate.burst))) {
      throw new BerthError('INVALID_ARGUMENT', 'rateLimit: expected {rate: requests per second > 0, burst: >= 1}', { field: 'rateLimit', got: rate });
    }
    const id = randomId();
    const secret = randomBytes(32).toString('base64url');
    const hash = await hashSecret(secret);
    const record = await this.registry.createToken({ id, name, hash, scopes: formatScopes(scopes), rateLimit: rate, expiresAt: input.expiresAt }, actor);
    return { token: `${TOKEN_PREFIX}${id}_${secret}`, record: tokenView(record, this.now()) };
  }

  async list(): Promise<TokenView[]> {
    const now = this.now();
    return (await this.registry.listTokens()).map((r) => tokenView(r, now));
  }

  async get(id: string): Promise<TokenView> {
    return tokenView(await this.registry.getToken(id), this.now());
  }

  async revoke(id: string, actor?: string): Promise<{ token: TokenView; changed: boolean }> {
    const r = await this.registry.revokeToken(id, actor);
    this.forget(id);
    return { token: tokenView(r.token, this.now()), changed: r.changed };
  }

  /**
   * Another process may have revoked a token: every cached verification is re-read from the
   * database on its next use. The secret was proven already, so that costs a row lookup, not a
   * second scrypt.
   */
  invalidate(): void {
    for (const e of this.cache.values()) e.checkedAt = -Infinity;
  }

  /** Whether a string has the shape of a Berth API token (cheap; no database). */
  static looksLikeToken(s: string): boolean {
    return s.startsWith(TOKEN_PREFIX);
  }

  /**
   * The principal a token string stands for: synchronous on a cache hit, a promise otherwise.
   * UNAUTHENTICATED for a malformed, unknown, wrong, expired or revoked token — the message never
   * repeats the token.
   */
  verify(token: string): Principal | Promise<Principal> {
    const now = this.now();
    const hit = this.cache.get(token);
    if (hit !== undefined) {
      const p = hit.principal;
      if (p.expiresAt !== null && p.expiresAt <= now) {
        this.cache.delete(token);
        throw expired(p.id);
      }
      if (now - hit.checkedAt < CACHE_TTL_MS) {
        this.lastUsed.set(p.id, now);
        if (this.flushTimer === null) this.scheduleFlush();
        return p;
      }
    }
    const inflight = this.pending.get(token);
    if (inflight) return inflight;
    const p = (hit !== undefined ? this.revalidate(token, hit, now) : this.verifySlow(token, now)).finally(() => this.pending.delete(token));
    this.pending.set(token, p);
    return p;
  }

  /** A cached token past its TTL: still there, not revoked, not expired? (no scrypt: its secret was proven) */
  private async revalidate(token: string, entry: CacheEntry, now: number): Promise<Principal> {
    const id = entry.principal.id;
    let row: TokenRecord;
    try {
      row = await this.registry.getToken(id);
    } catch (err) {
      this.cache.delete(token);
      if (err instanceof BerthError && err.code === 'NOT_FOUND') throw invalid(id);
      throw err;
    }
    if (row.revokedAt !== null) {
      this.cache.delete(token);
      throw new BerthError('UNAUTHENTICATED', `token ${id} was revoked (${row.revokedAt}); ask for a new one`);
    }
    if (row.expiresAtMs !== null && row.expiresAtMs <= now) {
      this.cache.delete(token);
      throw expired(id, row.expiresAt);
    }
    entry.checkedAt = this.now();
    this.lastUsed.set(id, now);
    return entry.principal;
  }

  private async verifySlow(token: string, now: number): Promise<Principal> {
    const m = TOKEN_SHAPE.exec(token);
    if (!m) throw new BerthError('UNAUTHENTICATED', 'the bearer token is not a Berth API token (expected berth_<id>_<secret>); create one with `berth tokens create`');
    const id = m[1]!;
    const secret = m[2]!;
    const seenBad = this.refused.get(token);
    if (seenBad !== undefined && now - seenBad < 60_000) throw invalid(id);
    let row: TokenRecord;
    try {
      row = await this.registry.getToken(id);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NOT_FOUND') {
        this.remember(token, now);
        throw invalid(id);
      }
      throw err;
    }
    if (row.revokedAt !== null) throw new BerthError('UNAUTHENTICATED', `token ${id} was revoked (${row.revokedAt}); ask for a new one`);
    if (row.expiresAtMs !== null && row.expiresAtMs <= now) throw expired(id, row.expiresAt);
    const ok = await this.throttled(() => checkSecret(secret, row.hash));
    if (!ok) {
      this.remember(token, now);
      this.logger.warn('a request presented a wrong secret for a token', { tokenId: id });
      throw invalid(id);
    }
    const principal: Principal = {
      kind: 'token',
      id,
      name: `token:${id} (${row.name})`,
      scopes: grantsOf({ scopes: row.scopes }),
      expiresAt: row.expiresAtMs,
      rateLimit: row.rateLimit,
    };
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, { principal, checkedAt: this.now() });
    this.lastUsed.set(id, now);
    this.scheduleFlush();
    return principal;
  }

  private remember(token: string, now: number): void {
    if (this.refused.size >= CACHE_LIMIT) this.refused.delete(this.refused.keys().next().value as string);
    this.refused.set(token, now);
  }

  private forget(id: string): void {
    for (const [k, v] of this.cache) if (v.principal.id === id) this.cache.delete(k);
  }

  private async throttled<T>(fn: () => Promise<T>): Promise<T> {
    if (this.hashing >= MAX_HASHING) {
      if (this.waiting.length >= MAX_WAITING) {
        throw new BerthError('RATE_LIMITED', 'too many token checks at once; retry shortly', { retryAfterSeconds: 1 });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.hashing += 1;
    try {
      return await fn();
    } finally {
      this.hashing -= 1;
      this.waiting.shift()?.();
    }
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flushLastUsed();
    }, 60_000);
    this.flushTimer.unref();
  }

  /** Write when tokens were last used (batched; called on a timer and at close). */
  async flushLastUsed(): Promise<void> {
    if (this.lastUsed.size === 0) return;
    const batch = new Map<string, number>();
    for (const [id, at] of this.lastUsed) {
      if (at - (this.lastWritten.get(id) ?? -Infinity) >= LAST_USED_RESOLUTION_MS) batch.set(id, at);
    }
    this.lastUsed.clear();
    if (batch.size === 0) return;
    for (const [id, at] of batch) this.lastWritten.set(id, at);
    try {
      await this.registry.touchTokens(batch);
    } catch (err) {
      this.logger.debug('recording when tokens were last used failed', { error: (err as Error).message });
    }
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.flushLastUsed();
  }
}

function invalid(id: string): BerthError {
  return new BerthError('UNAUTHENTICATED', `token ${id} is not valid (unknown, or the secret is wrong); check the token you sent, or create one with \`berth tokens create\``);
}

function expired(id: string, at?: string | null): BerthError {
  return new BerthError('UNAUTHENTICATED', `token ${id} expired${at ? ` at ${at}` : ''}; create a new one with \`berth tokens create\``);
}

function randomId(): string {
  const bytes = randomBytes(ID_LENGTH);
  let s = '';
  for (const b of bytes) s += ID_ALPHABET[b % ID_ALPHABET.length];
  return s;
}

function scrypt(secret: string, salt: Buffer, opts: ScryptOptions, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(secret, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

const scryptOptions = (logN: number, r: number, p: number): ScryptOptions => ({ N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r + 1024 * 1024 });

/** `scrypt$logN$r$p$salt$hash` of a secret. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, scryptOptions(SCRYPT.logN, SCRYPT.r, SCRYPT.p), SCRYPT.keylen);
  return `scrypt$${SCRYPT.logN}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Whether `secret` matches a stored `hashSecret` value (constant time in the comparison). */
export async function checkSecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [logN, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!Number.isInteger(logN) || logN < 10 || logN > 20 || !Number.isInteger(r) || !Number.isInteger(p)) return false;
  const expected = Buffer.from(parts[5]!, 'base64url');
  const key = await scrypt(secret, Buffer.from(parts[4]!, 'base64url'), scryptOptions(logN, r, p), expected.length);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Constant-time equality of two secrets of any length (compares their sha256). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

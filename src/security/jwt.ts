import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, RemoteJWKSet } from 'jose';
import { BerthError } from '../core/index.js';
import type { AuthConfig } from '../core/index.js';
import { grantsOf, parseScope, ROLE_NAMES } from './principal.js';
import type { Principal } from './principal.js';

/** Signature algorithms a Berth JWT may use: asymmetric only, so `none` and HS* (shared secrets) are refused. */
export const JWT_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export interface JwtVerifierOptions {
  /** the `iss` a token must carry, e.g. `https://login.example.com/realms/ml` */
  issuer: string;
  /** the `aud` a token must carry */
  audience: string;
  /** where the issuer publishes its keys; null = discover from `${issuer}/.well-known/openid-configuration` */
  jwksUri: string | null;
  /** claim listing Berth roles: a list or a space-separated string; a dotted path (`realm_access.roles`) also works */
  rolesClaim: string;
  /** claim listing scopes: a space-separated string or a list; only Berth scopes in it count */
  scopesClaim: string;
  /** ms since epoch; injectable for tests */
  now?: () => number;
  /** leeway for `exp` and `nbf`, in seconds (default 30) */
  clockToleranceSeconds?: number;
  /** verified tokens kept in memory until they expire (default 10 000; oldest evicted first) */
  maxCachedTokens?: number;
  /** after a JWKS fetch, a token with an unknown `kid` triggers another fetch only once this has passed (default 30 000 ms) */
  jwksCooldownMs?: number;
  /** how long fetched keys are trusted before they are fetched again (default 600 000 ms) */
  jwksMaxAgeMs?: number;
  /** time limit for fetching the discovery document or the keys (default 5 000 ms) */
  fetchTimeoutMs?: number;
}

interface CachedToken {
  readonly principal: Principal;
  /** ms since epoch */
  readonly expiresAt: number;
}

/** Larger than any sane JWT; refused before any parsing so the cache stays small. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Verifies JWT bearer tokens from one OIDC issuer and maps their claims to a {@link Principal}.
 * Keys come from the issuer's JWKS (cached; an unknown `kid` refetches it, so key rotation needs
 * no restart). Verified tokens are cached until they expire, so a repeated token costs a map lookup.
 *
 * @example
 * const verifier = new JwtVerifier({ issuer: 'https://idp.example.com', audience: 'berth', jwksUri: null,
 *   rolesClaim: 'roles', scopesClaim: 'scope' });
 * const principal = await verifier.verify(bearerToken); // throws BerthError UNAUTHENTICATED
 */
export class JwtVerifier {
  private readonly issuer: string;
  private readonly audience: string;
  private readonly rolesClaim: string;
  private readonly scopesClaim: string;
  private readonly now: () => number;
  private readonly toleranceSeconds: number;
  private readonly maxCached: number;
  private readonly jwksCooldownMs: number;
  private readonly jwksMaxAgeMs: number;
  private readonly fetchTimeoutMs: number;
  private readonly cache = new Map<string, CachedToken>();
  private jwksUri: string | null;
  private keys: Promise<RemoteJWKSet> | null = null;

  constructor(options: JwtVerifierOptions) {
    if (!options.issuer) {
      throw new BerthError('INVALID_CONFIG', 'auth.oidcIssuer is empty; set it to the issuer URL your tokens carry in "iss"', { field: 'auth.oidcIssuer' });
    }
    if (!options.audience) {
      throw new BerthError('INVALID_CONFIG', `auth.oidcAudience is required with auth.oidcIssuer (${options.issuer}); set it to the "aud" your identity provider puts in tokens for Berth`, {
        field: 'auth.oidcAudience',
      });
    }
    if (options.jwksUri !== null) checkUrl(options.jwksUri, 'auth.oidcJwksUri');
    else checkUrl(options.issuer, 'auth.oidcIssuer');
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.jwksUri = options.jwksUri;
    this.rolesClaim = options.rolesClaim;
    this.scopesClaim = options.scopesClaim;
    this.now = options.now ?? Date.now;
    this.toleranceSeconds = options.clockToleranceSeconds ?? 30;
    this.maxCached = Math.max(1, options.maxCachedTokens ?? 10_000);
    this.jwksCooldownMs = options.jwksCooldownMs ?? 30_000;
    this.jwksMaxAgeMs = options.jwksMaxAgeMs ?? 600_000;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? 5_000;
  }

  /** Verified tokens currently cached. */
  get cachedTokenCount(): number {
    return this.cache.size;
  }

  /** Verify `token` (without `Bearer `) and return who it names; throws BerthError UNAUTHENTICATED. */
  async verify(token: string): Promise<Principal> {
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (this.now() < cached.expiresAt) return cached.principal;
      // Past exp: drop it and let full verification decide (it applies the clock tolerance and says when).
      this.cache.delete(token);
    }
    const principal = await this.verifyUncached(token);
    this.remember(token, principal);
    return principal;
  }

  private async verifyUncached(token: string): Promise<Principal> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw unauthenticated('the bearer token is malformed (empty or too long); send a JWT from your identity provider');
    }
    let alg: unknown;
    let unverified: JWTPayload;
    try {
      alg = decodeProtectedHeader(token).alg;
      unverified = decodeJwt(token);
    } catch {
      throw unauthenticated('the bearer token is malformed (not a signed JWT); send an access token from your identity provider');
    }
    if (typeof alg !== 'string' || !(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
      throw unauthenticated(`the bearer token's signature algorithm is not accepted; Berth accepts only asymmetric algorithms (${JWT_ALGORITHMS.join(', ')}), never "none" or HS*`);
    }
    // Checked before fetching keys, so tokens from another issuer cannot make Berth refetch the JWKS.
    if (unverified.iss !== this.issuer) throw this.wrongIssuer();

    const keys = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: [...JWT_ALGORITHMS],
        clockTolerance: this.toleranceSeconds,
        currentDate: new Date(this.now()),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      throw this.explain(err);
    }
    return this.principalOf(payload);
  }

  private principalOf(payload: JWTPayload): Principal {
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub.length === 0) {
      throw unauthenticated('the bearer token has no subject ("sub" claim); ask your identity provider for a token issued to a user or client');
    }
    const exp = payload.exp as number;
    const roles = listClaim(claimAt(payload, this.rolesClaim)).filter((r) => (ROLE_NAMES as readonly string[]).includes(r));
    // OIDC scopes are shared with every other service of the issuer: only `berth:`-prefixed ones are
    // ours (`berth:predict:fraud`, `berth:admin`), so an unrelated `read` or `admin` grants nothing here
    const scopes = listClaim(claimAt(payload, this.scopesClaim))
      .filter((x) => x.startsWith(JWT_SCOPE_PREFIX))
      .map((x) => x.slice(JWT_SCOPE_PREFIX.length))
      .filter(isBerthScope);
    const label = stringClaim(payload.preferred_username) ?? stringClaim(payload.email);
    return {
      kind: 'jwt',
      id: sub,
      name: label === undefined ? `jwt:${sub}` : `jwt:${sub} (${label})`,
      scopes: grantsOf({ roles, scopes }),
      expiresAt: exp * 1000,
    };
  }

  private remember(token: string, principal: Principal): void {
    if (principal.expiresAt === null) return;
    this.cache.delete(token);
    while (this.cache.size >= this.maxCached) {
      const oldest = this.cache.keys().next();
      if (oldest.done === true) break;
      this.cache.delete(oldest.value);
    }
    this.cache.set(token, { principal, expiresAt: principal.expiresAt });
  }

  /** The issuer's key set, discovering its URL first when none is configured; a failed discovery is retried on a later call. */
  private keySet(): Promise<RemoteJWKSet> {
    if (this.keys === null) {
      const pending = this.resolveJwksUri().then((uri) =>
        createRemoteJWKSet(new URL(uri), {
          cooldownDuration: this.jwksCooldownMs,
          cacheMaxAge: this.jwksMaxAgeMs,
          timeoutDuration: this.fetchTimeoutMs,
        }),
      );
      this.keys = pending;
      pending.catch(() => {
        if (this.keys === pending) this.keys = null;
      });
    }
    return this.keys;
  }

  private async resolveJwksUri(): Promise<string> {
    if (this.jwksUri !== null) return this.jwksUri;
    const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const fail = (why: string, cause?: unknown): BerthError =>
      new BerthError('UNAUTHENTICATED', `cannot verify bearer tokens yet: the OIDC discovery document at ${url} ${why}; check auth.oidcIssuer or set auth.oidcJwksUri, then retry`, {
        field: 'auth.oidcIssuer',
      }, { cause });
    let doc: unknown;
    try {
      const res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.fetchTimeoutMs) });
      if (res.status !== 200) throw fail(`answered HTTP ${res.status}`);
      doc = await res.json();
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw fail(`could not be fetched (${err instanceof Error ? err.message : String(err)})`, err);
    }
    const jwksUri = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>).jwks_uri : undefined;
    if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) throw fail('has no valid "jwks_uri"');
    this.jwksUri = jwksUri;
    return jwksUri;
  }

  private wrongIssuer(): BerthError {
    return unauthenticated(`the bearer token was not issued by ${this.issuer} (its "iss" claim differs); get a token from that issuer, or set auth.oidcIssuer to the one you use`);
  }

  /** Turn a jose failure into a reason the caller can act on, without repeating any part of the token. */
  private explain(err: unknown): BerthError {
    if (err instanceof BerthError) return err;
    const cause = { cause: err };
    if (err instanceof joseErrors.JWTExpired) {
      const exp = err.payload.exp;
      const when = typeof exp === 'number' ? ` at ${new Date(exp * 1000).toISOString()}` : '';
      return unauthenticated(`the bearer token expired${when}; get a new token from ${this.issuer}`, cause);
    }
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      switch (err.claim) {
        case 'nbf': {
          const nbf = err.payload.nbf;
          const when = typeof nbf === 'number' ? ` until ${new Date(nbf * 1000).toISOString()}` : ' yet';
          return unauthenticated(`the bearer token is not valid${when} ("nbf"); check the clocks of this server and the identity provider`, cause);
        }
        case 'aud':
          return unauthenticated(`the bearer token is not meant for this server: its audience must include "${this.audience}"; ask your identity provider for a token with that audience`, cause);
        case 'iss':
          return this.wrongIssuer();
        default:
          if (err.reason === 'missing') {
            return unauthenticated(`the bearer token lacks the required "${err.claim}" claim; ask your identity provider for tokens that carry it`, cause);
          }
          return unauthenticated(`the bearer token's "${err.claim}" claim is invalid; get a new token from ${this.issuer}`, cause);
      }
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
      return unauthenticated(`the bearer token's signature is invalid for the keys of ${this.issuer}; get a new token from that issuer`, cause);
    }
    if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      return unauthenticated(`the bearer token is signed with a key ${this.issuer} does not publish (unknown "kid"); get a new token, or check auth.oidcJwksUri`, cause);
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed) {
      return unauthenticated(`the bearer token's signature algorithm is not accepted; Berth accepts only ${JWT_ALGORITHMS.join(', ')}`, cause);
    }
    if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JOSENotSupported) {
      return unauthenticated('the bearer token is malformed; send an access token from your identity provider', cause);
    }
    // Fetching the keys failed (network, timeout, bad JWKS document). Say where, not what the token held.
    const what = err instanceof joseErrors.JWKSTimeout ? 'timed out' : err instanceof Error ? err.message : String(err);
    return unauthenticated(`cannot verify bearer tokens: the keys of ${this.issuer} could not be fetched from ${this.jwksUri ?? 'the discovered jwks_uri'} (${what}); check auth.oidcJwksUri and that the identity provider is reachable, then retry`, cause);
  }
}

/** A verifier for the configured OIDC issuer, or null when none is configured. */
export function createJwtVerifier(auth: AuthConfig, options: Partial<Pick<JwtVerifierOptions, 'now' | 'clockToleranceSeconds'>> = {}): JwtVerifier | null {
  if (auth.oidcIssuer === null) return null;
  return new JwtVerifier({
    issuer: auth.oidcIssuer,
    audience: auth.oidcAudience ?? '',
    jwksUri: auth.oidcJwksUri,
    rolesClaim: auth.oidcRolesClaim,
    scopesClaim: auth.oidcScopesClaim,
    ...options,
  });
}

function unauthenticated(message: string, options?: { cause?: unknown }): BerthError {
  return new BerthError('UNAUTHENTICATED', message, {}, options);
}

function checkUrl(value: string, field: string): void {
  if (!URL.canParse(value)) {
    throw new BerthError('INVALID_CONFIG', `${field}: "${value}" is not a URL; expected e.g. https://idp.example.com/realms/ml`, { field, got: value });
  }
}

/** The claim `name`; a name with dots that is not a claim itself is read as a path (`realm_access.roles`). */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  if (!name.includes('.')) return undefined;
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A list claim given as an array of strings or a space-separated string. */
function listClaim(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter((s) => s.length > 0);
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s.length > 0);
  return [];
}

/** The prefix that marks a JWT scope as Berth's. */
export const JWT_SCOPE_PREFIX = 'berth:';

function isBerthScope(text: string): boolean {
  try {
    parseScope(text);
    return true;
  } catch {
    return false;
  }
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

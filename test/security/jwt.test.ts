import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { formatScopes } from '../../src/security/principal.js';
import { JwtVerifier } from '../../src/security/jwt.js';
import type { JwtVerifierOptions } from '../../src/security/jwt.js';

const AUDIENCE = 'berth';
const NOW = Date.UTC(2030, 0, 1); // a fixed clock for every verifier and token

interface SigningKey {
  kid: string;
  alg: 'ES256' | 'RS256';
  privateKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(kid: string, alg: 'ES256' | 'RS256' = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A stand-in identity provider: openid-configuration and a JWKS whose keys the test can swap. */
class FakeIssuer {
  keys: SigningKey[] = [];
  jwksHits = 0;
  discoveryHits = 0;
  discoveryStatus = 200;
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url === '/jwks') {
        this.jwksHits++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
      } else if (req.url === '/.well-known/openid-configuration') {
        this.discoveryHits++;
        res.writeHead(this.discoveryStatus, { 'content-type': 'application/json' })
          .end(JSON.stringify({ issuer: this.url, jwks_uri: `${this.url}/jwks` }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const idp = new FakeIssuer();
let key1: SigningKey;

beforeAll(async () => {
  await idp.start();
  key1 = await makeKey('key-1');
});
afterAll(() => idp.stop());
beforeEach(() => {
  idp.keys = [key1];
  idp.jwksHits = 0;
  idp.discoveryHits = 0;
  idp.discoveryStatus = 200;
});

function verifier(overrides: Partial<JwtVerifierOptions> = {}): JwtVerifier {
  return new JwtVerifier({
    issuer: idp.url,
    audience: AUDIENCE,
    jwksUri: `${idp.url}/jwks`,
    rolesClaim: 'roles',
    scopesClaim: 'scope',
    now: () => NOW,
    ...overrides,
  });
}

interface TokenOptions {
  key?: SigningKey;
  claims?: JWTPayload;
  iss?: string;
  aud?: string;
  sub?: string | null;
  /** seconds since epoch */
  exp?: number;
  nbf?: number;
}

function sign(opts: TokenOptions = {}): Promise<string> {
  const key = opts.key ?? key1;
  const jwt = new SignJWT({ ...opts.claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(opts.iss ?? idp.url)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt(NOW / 1000)
    .setExpirationTime(opts.exp ?? NOW / 1000 + 3600);
  if (opts.sub !== null) jwt.setSubject(opts.sub ?? 'alice');
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(key.privateKey);
}

async function refusal(v: JwtVerifier, token: string): Promise<BerthError> {
  const err = await v.verify(token).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  const e = err as BerthError;
  expect(e.code).toBe('UNAUTHENTICATED');
  expect(e.status).toBe(401);
  // No part of the token ever appears in a message (parts too short to be telling are skipped).
  for (const part of token.split('.')) if (part.length >= 8) expect(e.message).not.toContain(part);
  return e;
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('JwtVerifier', () => {
  it('accepts a valid token and maps roles and Berth scopes to a principal', async () => {
    const token = await sign({ claims: { roles: ['viewer'], scope: 'openid profile berth:predict:fraud read admin', preferred_username: 'alice@example.com' } });
    const p = await verifier().verify(token);
    expect(p.kind).toBe('jwt');
    expect(p.id).toBe('alice');
    expect(p.name).toBe('jwt:alice (alice@example.com)');
    expect(formatScopes(p.scopes)).toEqual(['predict:fraud', 'read:*']);
    expect(p.expiresAt).toBe(NOW + 3_600_000);
  });

  it('reads roles from a space-separated string and ignores unknown role names', async () => {
    const token = await sign({ claims: { roles: 'deployer superuser', email: 'bob@example.com' }, sub: 'bob' });
    const p = await verifier().verify(token);
    expect(p.name).toBe('jwt:bob (bob@example.com)');
    expect(formatScopes(p.scopes)).toEqual(['deploy:*', 'read:*']);
  });

  it('reads scopes given as a list and roles from a nested claim path', async () => {
    const token = await sign({ claims: { realm_access: { roles: ['predictor'] }, scp: ['berth:admin', 'email'] } });
    const p = await verifier({ rolesClaim: 'realm_access.roles', scopesClaim: 'scp' }).verify(token);
    expect(formatScopes(p.scopes)).toEqual(['admin', 'predict:*']);
  });

  it('counts only berth:-prefixed scopes: an issuer-wide `admin` or `read` grants nothing here', async () => {
    const p = await verifier().verify(await sign({ claims: { scope: 'admin read predict:fraud deploy:*' } }));
    expect(p.scopes).toEqual([]);
  });

  it('authenticates a token that carries no Berth role or scope, with no scopes', async () => {
    const p = await verifier().verify(await sign({ claims: { scope: 'openid profile' } }));
    expect(p.name).toBe('jwt:alice');
    expect(p.scopes).toEqual([]);
  });

  it('refuses an expired token and says when it expired', async () => {
    const e = await refusal(verifier(), await sign({ exp: NOW / 1000 - 120 }));
    expect(e.message).toContain('expired at 2029-12-31T23:58:00.000Z');
  });

  it('allows the clock tolerance past exp, and no more', async () => {
    const token = await sign({ exp: NOW / 1000 - 10 });
    await expect(verifier().verify(token)).resolves.toMatchObject({ id: 'alice' });
    await refusal(verifier({ clockToleranceSeconds: 5 }), token);
  });

  it('refuses a token that is not valid yet', async () => {
    const e = await refusal(verifier(), await sign({ nbf: NOW / 1000 + 600 }));
    expect(e.message).toContain('not valid until 2030-01-01T00:10:00.000Z');
  });

  it('refuses a token for another audience and names the expected one', async () => {
    const e = await refusal(verifier(), await sign({ aud: 'grafana' }));
    expect(e.message).toContain('"berth"');
    expect(e.message).not.toContain('grafana');
  });

  it('refuses a token from another issuer without fetching keys', async () => {
    const e = await refusal(verifier(), await sign({ iss: 'https://evil.example.com' }));
    expect(e.message).toContain(`not issued by ${idp.url}`);
    expect(e.message).not.toContain('evil');
    expect(idp.jwksHits).toBe(0);
  });

  it('refuses a token without a subject', async () => {
    const e = await refusal(verifier(), await sign({ sub: null }));
    expect(e.message).toContain('"sub"');
  });

  it('refuses a token signed by a key the issuer does not publish', async () => {
    const stranger = await makeKey('stranger');
    const e = await refusal(verifier(), await sign({ key: stranger }));
    expect(e.message).toContain('unknown "kid"');
  });

  it('refuses a token whose signature does not match the published key of its kid', async () => {
    const impostor = { ...(await makeKey('key-1')), jwk: key1.jwk };
    const e = await refusal(verifier(), await sign({ key: impostor }));
    expect(e.message).toContain('signature is invalid');
  });

  it('refuses alg "none" and HS256 before fetching keys', async () => {
    const claims = { iss: idp.url, aud: AUDIENCE, sub: 'alice', exp: NOW / 1000 + 3600, roles: ['admin'] };
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'key-1' }).sign(new TextEncoder().encode('x'.repeat(32)));
    const v = verifier();
    for (const token of [none, hs]) {
      const e = await refusal(v, token);
      expect(e.message).toContain('algorithm is not accepted');
    }
    expect(idp.jwksHits).toBe(0);
  });

  it('refuses malformed tokens', async () => {
    const v = verifier();
    for (const token of ['', 'not-a-jwt', 'a.b.c', 'x'.repeat(20_000)]) {
      const e = await refusal(v, token);
      expect(e.message).toContain('malformed');
    }
  });

  it('accepts a token signed with a rotated-in key without restarting', async () => {
    const v = verifier({ jwksCooldownMs: 0 });
    await v.verify(await sign());
    expect(idp.jwksHits).toBe(1);
    const key2 = await makeKey('key-2', 'RS256');
    idp.keys = [key2];
    const p = await v.verify(await sign({ key: key2, sub: 'carol' }));
    expect(p.id).toBe('carol');
    expect(idp.jwksHits).toBe(2);
  });

  it('does not refetch keys for unknown kids within the cooldown', async () => {
    const v = verifier({ jwksCooldownMs: 60_000 });
    await v.verify(await sign());
    const stranger = await makeKey('stranger');
    await refusal(v, await sign({ key: stranger }));
    await refusal(v, await sign({ key: stranger, sub: 'x' }));
    expect(idp.jwksHits).toBe(1);
  });

  it('discovers the JWKS through openid-configuration once, lazily', async () => {
    const v = verifier({ jwksUri: null });
    expect(idp.discoveryHits).toBe(0);
    await v.verify(await sign());
    await v.verify(await sign({ sub: 'bob' }));
    expect(idp.discoveryHits).toBe(1);
    expect(idp.jwksHits).toBe(1);
  });

  it('retries discovery on a later request when it failed', async () => {
    const v = verifier({ jwksUri: null });
    idp.discoveryStatus = 503;
    const e = await refusal(v, await sign());
    expect(e.message).toContain('openid-configuration answered HTTP 503');
    idp.discoveryStatus = 200;
    await expect(v.verify(await sign())).resolves.toMatchObject({ id: 'alice' });
    expect(idp.discoveryHits).toBe(2);
  });

  it('says where the keys could not be fetched from', async () => {
    const e = await refusal(verifier({ jwksUri: `${idp.url}/nowhere` }), await sign());
    expect(e.message).toContain(`${idp.url}/nowhere`);
  });

  it('answers a repeated token from its cache without fetching keys again', async () => {
    // Keys are never trusted from memory here, so only the token cache can spare a fetch.
    const v = verifier({ jwksMaxAgeMs: 0 });
    const token = await sign();
    const first = await v.verify(token);
    expect(await v.verify(token)).toBe(first);
    expect(idp.jwksHits).toBe(1);
    await v.verify(await sign({ sub: 'bob' }));
    expect(idp.jwksHits).toBe(2);
  });

  it('refuses a cached token once it has expired', async () => {
    let now = NOW;
    const v = verifier({ now: () => now });
    const token = await sign({ exp: NOW / 1000 + 60 });
    await v.verify(token);
    now = NOW + 60_000 + 31_000;
    const e = await refusal(v, token);
    expect(e.message).toContain('expired');
    expect(v.cachedTokenCount).toBe(0);
  });

  it('keeps at most maxCachedTokens, evicting the oldest', async () => {
    const v = verifier({ maxCachedTokens: 2 });
    for (const sub of ['a', 'b', 'c']) await v.verify(await sign({ sub }));
    expect(v.cachedTokenCount).toBe(2);
  });

  it('refuses configuration without an audience', () => {
    expect(() => verifier({ audience: '' })).toThrow(/auth\.oidcAudience/);
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goldenTensor, readGolden } from '../helpers/fixtures.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

/**
 * OIDC bearer tokens through a real Berth server: an identity provider started by the test
 * (openid-configuration + JWKS made with jose), tokens it signs, and every refusal a client meets.
 */

let idp: Server;
let issuer: string;
let ts: TestServer;
let keys: { kid: string; privateKey: CryptoKey; jwk: JWK }[] = [];

async function newKey(kid: string): Promise<{ kid: string; privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

async function jwt(claims: Record<string, unknown>, opts: { key?: { kid: string; privateKey: CryptoKey }; aud?: string; exp?: number; iss?: string } = {}): Promise<string> {
  const key = opts.key ?? keys[0]!;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer(opts.iss ?? issuer)
    .setAudience(opts.aud ?? 'berth')
    .setSubject('alice')
    .setIssuedAt(now)
    .setExpirationTime(opts.exp ?? now + 600)
    .sign(key.privateKey);
}

function body(): string {
  const c = readGolden('breast-cancer-logreg').cases.find((x) => x.name === 'heldout_all')!;
  const t = goldenTensor('input', c.inputs['input']!, [0, 1]);
  return JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] });
}

const infer = (token: string): Promise<Response> =>
  fetch(`${ts.url}/v2/models/bc/infer`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body() });

beforeAll(async () => {
  keys = [await newKey('k1')];
  idp = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') return res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }));
    if (req.url === '/keys') return res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  ts = await startServer({ auth: { dev: false, oidcIssuer: issuer, oidcAudience: 'berth' } });
  await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc' });
}, 60_000);

afterAll(async () => {
  await ts?.close();
  await new Promise((r) => idp?.close(r));
});

describe('JWT bearer tokens from the configured issuer', () => {
  it('are enough to start a server, and a predictor role infers while a viewer may not', async () => {
    expect((await infer(await jwt({ berth_roles: ['predictor'] }))).status).toBe(200);
    const viewer = await infer(await jwt({ berth_roles: ['viewer'] }));
    expect(viewer.status).toBe(403);
    expect((await fetch(`${ts.url}/v1/deployments`, { headers: { authorization: `Bearer ${await jwt({ berth_roles: ['viewer'] })}` } })).status).toBe(200);
    // scopes count only with the berth: prefix
    expect((await infer(await jwt({ scope: 'openid berth:predict:bc' }))).status).toBe(200);
    expect((await infer(await jwt({ scope: 'openid predict:bc admin' }))).status).toBe(403);
  });

  it('refuses expired tokens, another audience, another issuer and an unknown key with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stranger = await newKey('k1');
    for (const [what, token, says] of [
      ['expired', await jwt({ berth_roles: ['predictor'] }, { exp: now - 3600 }), 'expired'],
      ['audience', await jwt({ berth_roles: ['predictor'] }, { aud: 'other-service' }), 'audience'],
      ['issuer', await jwt({ berth_roles: ['predictor'] }, { iss: 'https://evil.example' }), 'issuer'],
      ['wrong key', await jwt({ berth_roles: ['predictor'] }, { key: stranger }), 'signature'],
    ] as const) {
      const r = await infer(token);
      expect(r.status, what).toBe(401);
      const e = (await r.json()) as { code: string; error: string };
      expect(e.code, what).toBe('UNAUTHENTICATED');
      expect(e.error.toLowerCase(), what).toContain(says);
      expect(e.error, what).not.toContain(token.split('.')[2]!.slice(0, 12));
    }
  });

  // key rotation (a new kid fetched without a restart) is covered by test/security/jwt.test.ts: the
  // JWKS is re-fetched for an unknown kid at most every 30 s, longer than this test should wait
  it('names the JWT subject in the audit trail', async () => {
    const change = await fetch(`${ts.url}/v1/models/breast-cancer-logreg`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${await jwt({ berth_roles: ['deployer'], preferred_username: 'alice@example.com' })}`, 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'changed by alice' }),
    });
    expect(change.status).toBe(200);
    const [entry] = await ts.server.registry.audit({ action: 'model.describe', limit: 1 });
    expect(entry!.actor).toBe('jwt:alice (alice@example.com)');
  });
});

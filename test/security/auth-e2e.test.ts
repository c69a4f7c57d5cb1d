import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, isBerthError } from '../../src/core/index.js';
import { ROUTE_ACCESS, type RouteAccess } from '../../src/protocol/index.js';
import { goldenTensor, readGolden } from '../helpers/fixtures.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

/**
 * Every route the server registers × {no credentials, credentials without the scope, credentials
 * with it}, over a real socket (so the hand-written infer fast path is covered too), against a
 * server with authentication on.
 */

const ADMIN = 'bootstrap-admin-secret-0123456789';
let ts: TestServer;
const tok: Record<string, string> = {};

function inferBody(rows = 1): Record<string, unknown> {
  const c = readGolden('breast-cancer-logreg').cases.find((x) => x.name === 'heldout_all')!;
  const t = goldenTensor('input', c.inputs['input']!, [0, rows]);
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] };
}

async function call(method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const h: Record<string, string> = { ...headers };
  if (token !== undefined) h['authorization'] = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(`${ts.url}${path}`, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // metrics, empty bodies
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** `/v1/models/:name/versions/:version` → a concrete path for `name`. */
function concrete(pattern: string, name: string): string {
  return pattern
    .replace(':name', name)
    .replace(':version', '1')
    .replace(':alias', 'production')
    .replace(':key', 'team')
    .replace(':id', 'nosuchtoken1');
}

/** A token that lacks what the route needs (on `ghost`): its verbs on another deployment only. */
function wrongToken(a: RouteAccess): string {
  if (a.verbs.includes('admin')) return tok['deployer']!;
  return tok['elsewhere']!;
}

beforeAll(async () => {
  ts = await startServer({ auth: { dev: false } }, { adminToken: ADMIN });
  await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc' });
  const mint = async (name: string, input: { roles?: string[]; scopes?: string[] }): Promise<string> =>
    (await ts.server.tokens.create({ name, ...input, expiresAt: Date.now() + 3_600_000 })).token;
  tok['admin'] = await mint('admin', { roles: ['admin'] });
  tok['deployer'] = await mint('deployer', { roles: ['deployer'] });
  tok['predictor'] = await mint('predictor', { roles: ['predictor'] });
  tok['viewer'] = await mint('viewer', { roles: ['viewer'] });
  tok['bcOnly'] = await mint('bc-only', { scopes: ['predict:bc'] });
  // every verb, but on a deployment no request below names
  tok['elsewhere'] = await mint('elsewhere', { scopes: ['predict:elsewhere', 'read:elsewhere', 'deploy:elsewhere'] });
}, 120_000);

afterAll(async () => {
  await ts?.close();
});

describe('every route × {no token, wrong scope, right scope}', () => {
  const routes = Object.entries(ROUTE_ACCESS).filter(([k]) => !k.startsWith('OPTIONS'));

  it('the access table covers exactly the routes the server registers', () => {
    const registered = new Set<string>();
    const tree = ts.server.app.printRoutes({ commonPrefix: false });
    const stack: string[] = [];
    for (const line of tree.split('\n')) {
      const m = /^((?:│   |    )*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
      if (!m) continue;
      stack.length = m[1]!.length / 4;
      stack.push(m[2]!);
      for (const method of (m[3] ?? '').split(',').map((x) => x.trim()).filter((x) => x && x !== 'HEAD')) registered.add(`${method} ${stack.join('')}`);
    }
    expect([...registered].sort()).toEqual(Object.keys(ROUTE_ACCESS).sort());
  });

  it('answers 401 without credentials on every non-public route, and never 401 on public ones', async () => {
    for (const [key, access] of routes) {
      const [method, pattern] = key.split(' ') as [string, string];
      const r = await call(method, concrete(pattern, 'ghost'), undefined, method === 'GET' || method === 'DELETE' ? undefined : {});
      if (access.public) expect(r.status, key).not.toBe(401);
      else {
        expect(r.status, key).toBe(401);
        expect(r.body['code'], key).toBe('UNAUTHENTICATED');
        expect(String(r.body['error']), key).toContain('Authorization: Bearer');
      }
    }
  });

  it('answers 401 for an invalid, a malformed and a revoked token', async () => {
    const bad = ['berth_AAAAAAAAAAAA_' + 'x'.repeat(43), 'not-a-token', tok['viewer']!.slice(0, -1) + (tok['viewer']!.endsWith('A') ? 'B' : 'A')];
    for (const t of bad) {
      const r = await call('GET', '/v1/models', t);
      expect(r.status, t).toBe(401);
      expect(JSON.stringify(r.body)).not.toContain(t);
    }
    const { token, record } = await ts.server.tokens.create({ name: 'short-lived', roles: ['viewer'], expiresAt: Date.now() + 60_000 });
    expect((await call('GET', '/v1/models', token)).status).toBe(200);
    await ts.server.tokens.revoke(record.id);
    const r = await call('GET', '/v1/models', token);
    expect(r.status).toBe(401);
    expect(String(r.body['error'])).toContain('revoked');
  });

  it('answers 403 naming the missing scope when the token lacks it', async () => {
    for (const [key, access] of routes) {
      if (access.public || access.authenticated) continue;
      const [method, pattern] = key.split(' ') as [string, string];
      const r = await call(method, concrete(pattern, 'ghost'), wrongToken(access), method === 'GET' || method === 'DELETE' ? undefined : {});
      expect(r.status, key).toBe(403);
      expect(r.body['code'], key).toBe('FORBIDDEN');
      expect(String(r.body['error']), key).toMatch(/needs (predict|read|deploy|admin)/);
    }
  });

  it('lets the right scope through on every route (whatever the route then answers)', async () => {
    const right = (a: RouteAccess): string =>
      a.verbs.includes('admin') ? tok['admin']! : a.verbs.includes('deploy') ? tok['deployer']! : a.verbs.includes('read') ? tok['viewer']! : tok['predictor']!;
    for (const [key, access] of routes) {
      const [method, pattern] = key.split(' ') as [string, string];
      const r = await call(method, concrete(pattern, 'ghost'), access.public ? undefined : right(access), method === 'GET' || method === 'DELETE' ? undefined : {});
      expect([401, 403], `${key} answered ${r.status} ${JSON.stringify(r.body)}`).not.toContain(r.status);
      expect(r.status, key).toBeLessThan(500);
    }
  });
});

describe('scopes in practice', () => {
  it('a deployment-scoped predictor infers on its deployment only, on the fast path and the friendly route', async () => {
    const ok = await call('POST', '/v2/models/bc/infer', tok['bcOnly'], inferBody(2));
    expect(ok.status).toBe(200);
    expect((ok.body['outputs'] as unknown[]).length).toBeGreaterThan(0);
    const other = await call('POST', '/v2/models/other/infer', tok['bcOnly'], inferBody(1));
    expect(other.status).toBe(403);
    expect(String(other.body['error'])).toContain('predict:other');
    // it may not read the registry, nor deploy
    expect((await call('GET', '/v1/models', tok['bcOnly'])).status).toBe(403);
    expect((await call('PUT', '/v1/deployments/bc', tok['bcOnly'], { model: 'breast-cancer-logreg', version: 1 })).status).toBe(403);
    // model metadata is readable with predict (clients read it before they send)
    expect((await call('GET', '/v2/models/bc', tok['bcOnly'])).status).toBe(200);
  });

  it('the bootstrap admin token works, and whoami tells each caller what it may do', async () => {
    const me = await call('GET', '/v1/auth/whoami', ADMIN);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ kind: 'bootstrap', scopes: ['admin'] });
    const p = await call('GET', '/v1/auth/whoami', tok['bcOnly']);
    expect(p.body).toMatchObject({ kind: 'token', scopes: ['predict:bc'] });
    expect(String(p.body['name'])).toContain('(bc-only)');
  });

  it('creates, lists and revokes tokens over the API; the secret is returned once and never listed', async () => {
    const created = await call('POST', '/v1/tokens', tok['admin'], { name: 'ci', roles: ['deployer'], expiresAt: null });
    expect(created.status).toBe(201);
    const secret = String(created.body['token']);
    expect(secret).toMatch(/^berth_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const id = (created.body['record'] as { id: string }).id;
    const list = await call('GET', '/v1/tokens', tok['admin']);
    expect(JSON.stringify(list.body)).not.toContain(secret.slice(-43));
    expect(JSON.stringify(list.body)).not.toContain('scrypt');
    expect((list.body['tokens'] as { id: string }[]).some((t) => t.id === id)).toBe(true);
    expect((await call('GET', '/v1/deployments', secret)).status).toBe(200);
    const revoked = await call('DELETE', `/v1/tokens/${id}`, tok['admin']);
    expect(revoked.body).toMatchObject({ changed: true, token: { state: 'revoked' } });
    expect((await call('GET', '/v1/deployments', secret)).status).toBe(401);
    // a deployer may not mint tokens
    expect((await call('POST', '/v1/tokens', tok['deployer'], { name: 'x', roles: ['admin'] })).status).toBe(403);
    // bad input names the field
    const bad = await call('POST', '/v1/tokens', tok['admin'], { name: 'x', scopes: ['predict:../etc'] });
    expect(bad.status).toBe(400);
    expect(bad.body['field']).toBe('scopes');
  });

  it('a deployer may not make the server read files outside <data-dir>/datasets through a rollout gate', async () => {
    const r = await call('POST', '/v1/deployments/bc/rollout', tok['deployer'], {
      toVersion: 2,
      gates: { evaluation: { dataset: '/etc/passwd', metrics: [{ name: 'accuracy', min: 0.9 }] } },
    });
    expect(r.status).toBe(403);
    expect(r.body['field']).toBe('gates.evaluation.dataset');
    expect(String(r.body['error'])).toContain('datasets');
    expect(String(r.body['error'])).not.toContain('root:');
  });

  it('the audit trail names the principal that made a change, never the header it sent', async () => {
    const r = await call('PUT', '/v1/deployments/bc2', tok['deployer'], { model: 'breast-cancer-logreg', version: 1 }, { 'x-berth-actor': 'mallory' });
    expect(r.status).toBeLessThan(300);
    const audit = await call('GET', '/v1/audit?limit=5', tok['admin']);
    const entry = (audit.body['entries'] as { action: string; target: string; actor: string; source: string | null }[]).find((e) => e.target === 'deployment:bc2')!;
    expect(entry.actor).toMatch(/^token:[A-Za-z0-9]{12} \(deployer\)$/);
    // from where: the client's address as the server saw it
    expect(entry.source).toBe('127.0.0.1');
    // token creation and revocation are in the trail too, without secrets
    const tokens = await call('GET', '/v1/audit?action=token.&limit=100', tok['admin']);
    expect((tokens.body['entries'] as { action: string }[]).map((e) => e.action)).toEqual(expect.arrayContaining(['token.create', 'token.revoke']));
    expect(JSON.stringify(tokens.body)).not.toContain('scrypt');
  });

  it('sends security headers on API answers and the fast path, and no CORS headers by default', async () => {
    for (const r of [await call('GET', '/v2/health/live'), await call('POST', '/v2/models/bc/infer', tok['predictor'], inferBody(1), { origin: 'https://evil.example' })]) {
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
    }
    const pre = await fetch(`${ts.url}/v2/models/bc/infer`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('starting without authentication', () => {
  it('refuses to start when nothing could authenticate, and says how to fix it', async () => {
    const err = await startServer({ auth: { dev: false } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isBerthError(err, 'INVALID_CONFIG')).toBe(true);
    expect((err as BerthError).message).toMatch(/BERTH_ADMIN_TOKEN.*berth --local --data-dir \S+ tokens create.*--dev/s);
  });

  it('refuses a weak admin token without echoing it', async () => {
    const err = await startServer({ auth: { dev: false } }, { adminToken: 'hunter2' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isBerthError(err, 'INVALID_CONFIG')).toBe(true);
    expect((err as BerthError).message).not.toContain('hunter2');
  });
});

describe('CORS when origins are configured', () => {
  it('answers preflights and requests from the listed origin only', async () => {
    const cors = await startServer({ cors: { origins: ['https://app.example.com'] } });
    try {
      await deployFixture(cors, 'breast-cancer-logreg', { deployment: 'bc' });
      const pre = await fetch(`${cors.url}/v2/models/bc/infer`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
      const res = await fetch(`${cors.url}/v2/models/bc/infer`, { method: 'POST', headers: { origin: 'https://app.example.com', 'content-type': 'application/json' }, body: JSON.stringify(inferBody(1)) });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      const other = await fetch(`${cors.url}/v1/deployments`, { headers: { origin: 'https://evil.example' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await cors.close();
    }
  });
});

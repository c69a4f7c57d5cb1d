/*
 * `berth tokens create|list|revoke` and `berth whoami`, in process through `main`: on the data dir
 * (no token needed: file permissions guard it), then against a server with authentication on,
 * where the CLI sends BERTH_TOKEN / --token and says what to do when it has none.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { parseExpiry, parseRate } from '../../src/cli/commands/tokens.js';
import { startServer, type TestServer } from '../helpers/server.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

let dataDir: string;

async function berth(env: Record<string, string>, ...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env });
  return { code, out, err };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'berth-tokens-cli-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('parsing token flags', () => {
  it('reads lifetimes, dates and never; rates per second, minute, hour and day with their default bursts', () => {
    const now = Date.parse('2026-11-24T12:00:00Z');
    expect(parseExpiry('90d', now)).toBe(now + 90 * 86_400_000);
    expect(parseExpiry('12h', now)).toBe(now + 12 * 3_600_000);
    expect(parseExpiry('never', now)).toBeNull();
    expect(parseExpiry('2027-01-31', now)).toBe(Date.parse('2027-01-31'));
    expect(() => parseExpiry('2020-01-01', now)).toThrow(/--expires/);
    expect(() => parseExpiry('soon', now)).toThrow(/90d/);
    expect(parseRate('100/s')).toEqual({ rate: 100, defaultBurst: 100 });
    expect(parseRate('6000/m')).toEqual({ rate: 100, defaultBurst: 100 });
    expect(parseRate('10000/d')).toEqual({ rate: 10000 / 86400, defaultBurst: 10000 });
    expect(() => parseRate('fast')).toThrow(/100\/s/);
  });
});

describe('berth tokens on the data dir', () => {
  it('creates a token shown once (human and --json), lists it without its secret, and revokes it', async () => {
    const human = await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'create', '--name', 'ops', '--role', 'admin');
    expect(human.code, human.err).toBe(0);
    expect(human.out).toMatch(/^berth_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}\n/);
    expect(human.out).toContain('not shown again');
    const j = await berth({}, '--local', '--data-dir', dataDir, '--json', 'tokens', 'create', '--name', 'app', '--scope', 'predict:bc', '--rate', '10/s', '--expires', 'never');
    const created = JSON.parse(j.out) as { token: string; record: { id: string; scopes: string[]; rateLimit: unknown; expiresAt: unknown } };
    expect(created.record).toMatchObject({ scopes: ['predict:bc'], rateLimit: { rate: 10, burst: 10 }, expiresAt: null });
    const list = await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'list');
    expect(list.out).toContain(created.record.id);
    expect(list.out).toContain('predict:bc');
    expect(list.out).not.toContain(created.token.slice(-43));
    const revoked = await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'revoke', created.record.id);
    expect(revoked.out).toBe(`revoked token ${created.record.id} "app"\n`);
    const again = await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'revoke', created.record.id);
    expect(again.out).toContain('was already revoked');
    expect((await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'list')).out).not.toContain(created.record.id);
    expect((await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'list', '--all')).out).toContain('revoked');
  });

  it('refuses a token without scopes, an unknown role, and a malformed scope, naming what to pass', async () => {
    const none = await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'create', '--name', 'x');
    expect(none.code).toBe(1);
    expect(none.err).toContain('--role predictor or --scope predict:fraud');
    const role = await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'create', '--name', 'x', '--role', 'root');
    expect(role.err).toContain('expected one of admin, deployer, predictor, viewer');
    const scope = await berth({}, '--local', '--data-dir', dataDir, 'tokens', 'create', '--name', 'x', '--scope', 'write:*');
    expect(scope.err).toContain('is not a scope');
  });
});

describe('berth against a server with authentication on', () => {
  let ts: TestServer;
  let token: string;
  beforeAll(async () => {
    // the data dir holds an active admin token from the test above: that alone lets the server start
    ts = await startServer({ auth: { dev: false } }, { dataDir });
    const r = await berth({}, '--local', '--data-dir', dataDir, '--json', 'tokens', 'create', '--name', 'viewer-cli', '--role', 'viewer');
    token = (JSON.parse(r.out) as { token: string }).token;
  }, 60_000);
  afterAll(async () => {
    await ts?.close();
  });

  it('says how to send a token when it has none, sends BERTH_TOKEN or --token, and explains a 403', async () => {
    const none = await berth({}, '--server', ts.url, 'deployments', 'list');
    expect(none.code).toBe(1);
    expect(none.err).toContain('BERTH_TOKEN or --token');
    const env = await berth({ BERTH_TOKEN: token }, '--server', ts.url, '--json', 'whoami');
    expect(env.code, env.err).toBe(0);
    expect(JSON.parse(env.out)).toMatchObject({ kind: 'token', scopes: ['read:*'] });
    const flag = await berth({}, '--server', ts.url, '--token', token, 'deployments', 'list');
    expect(flag.code, flag.err).toBe(0);
    const forbidden = await berth({ BERTH_TOKEN: token }, '--server', ts.url, 'tokens', 'create', '--name', 'x', '--role', 'admin');
    expect(forbidden.code).toBe(1);
    expect(forbidden.err).toContain('needs admin');
    expect(forbidden.err).toContain('berth whoami');
    expect(forbidden.err).not.toContain(token);
  });
});

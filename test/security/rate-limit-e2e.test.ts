import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturePath, goldenTensor, readGolden } from '../helpers/fixtures.js';
import { BERTH_BIN, startServeProcess, type ServeProcess } from '../helpers/serve-process.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

const REDIS = process.env['BERTH_TEST_REDIS_URL'];

function body(): string {
  const c = readGolden('breast-cancer-logreg').cases.find((x) => x.name === 'heldout_all')!;
  const t = goldenTensor('input', c.inputs['input']!, [0, 1]);
  return JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] });
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('rate limits in one process', () => {
  let ts: TestServer;
  const ADMIN = 'rate-limit-admin-secret-0123456789';

  it('a token over its own limit gets 429 with Retry-After, on the fast path and the friendly route, and other tokens are unaffected', async () => {
    ts = await startServer({ auth: { dev: false } }, { adminToken: ADMIN });
    cleanups.push(() => ts.close());
    await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc' });
    const limited = (await ts.server.tokens.create({ name: 'slow', roles: ['predictor'], expiresAt: null, rateLimit: { rate: 0.5, burst: 3 } })).token;
    const free = (await ts.server.tokens.create({ name: 'free', roles: ['predictor'], expiresAt: null })).token;
    const send = (token: string, route = '/v2/models/bc/infer'): Promise<Response> =>
      fetch(`${ts.url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body() });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await send(limited)).status);
    expect(statuses).toEqual([200, 200, 200]);
    const over = await send(limited);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const e = (await over.json()) as { code: string; error: string };
    expect(e.code).toBe('RATE_LIMITED');
    expect(e.error).toMatch(/token:[A-Za-z0-9]{12} \(slow\) is over its rate limit \(30\/m, burst 3\); retry after \d+ s/);
    expect((await send(limited, '/v1/deployments/bc/predict')).status).toBe(429);
    // another token has its own bucket
    expect((await send(free)).status).toBe(200);
  });
});

describe.skipIf(!REDIS)('rate limits shared by two server processes through the real Redis', () => {
  it('two `berth serve` processes hold one deployment limit between them', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-rl-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // a deployment name of its own, so parallel runs on one Redis never share a bucket
    const name = `rl-${process.pid}-${Date.now().toString(36)}`;
    execFileSync(process.execPath, [BERTH_BIN, '--local', '--data-dir', dataDir, 'models', 'register', fixturePath('breast-cancer-logreg'), '--name', 'bc'], { stdio: 'pipe' });
    execFileSync(process.execPath, [BERTH_BIN, '--local', '--data-dir', dataDir, 'deploy', name, '--model', 'bc', '--version', '1'], { stdio: 'pipe' });
    const rate = 20;
    const burst = 20;
    const config = path.join(dataDir, 'berth.yaml');
    writeFileSync(config, `version: 1\nredis: { url: "${REDIS}" }\nrateLimits: { perDeployment: { rate: ${rate}, burst: ${burst} }, leaseSize: 5 }\n`);
    const servers: ServeProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await startServeProcess(dataDir, ['--config', config]);
      servers.push(s);
      cleanups.push(async () => {
        s.child.kill('SIGTERM');
        await s.exited;
      });
    }
    const payload = body();
    const seconds = 2;
    const until = Date.now() + seconds * 1000;
    let ok = 0;
    let limited = 0;
    let retryAfterOk = true;
    const worker = async (url: string): Promise<void> => {
      while (Date.now() < until) {
        const r = await fetch(`${url}/v2/models/${name}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
        await r.arrayBuffer();
        if (r.status === 200) ok++;
        else if (r.status === 429) {
          limited++;
          if (!(Number(r.headers.get('retry-after')) >= 1)) retryAfterOk = false;
        } else throw new Error(`unexpected ${r.status}`);
      }
    };
    const started = Date.now();
    await Promise.all(servers.flatMap((s) => [worker(s.url), worker(s.url), worker(s.url)]));
    const elapsed = (Date.now() - started) / 1000;
    // the global bucket allows burst + rate × elapsed; each process may hold one unspent lease at most
    const allowed = burst + rate * elapsed;
    expect(limited).toBeGreaterThan(0);
    expect(retryAfterOk).toBe(true);
    expect(ok).toBeLessThanOrEqual(Math.ceil(allowed) + 2 * 5);
    expect(ok).toBeGreaterThanOrEqual(Math.floor(burst + rate * (elapsed - 0.5)) - 2 * 5);
  }, 90_000);
});

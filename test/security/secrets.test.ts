import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, goldenTensor, readGolden } from '../helpers/fixtures.js';
import { BERTH_BIN, startServeProcess, type ServeProcess } from '../helpers/serve-process.js';

/**
 * Secrets never reach logs, errors, metrics or the audit trail: a real `berth serve` (debug
 * logging) goes through minting, using, misusing and revoking tokens, driven by the real CLI, and
 * then everything it wrote — its stdout and stderr, every file in its data dir (SQLite, Parquet
 * logs), /metrics, the audit export — is searched for every secret the test used.
 */

const ADMIN = 'adm1n-secret-' + Math.random().toString(36).slice(2) + '-0123456789';
let dataDir: string;
let serve: ServeProcess;
const secrets: string[] = [ADMIN];

function cli(args: string[], token?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' };
    if (token !== undefined) env['BERTH_TOKEN'] = token;
    execFile(process.execPath, [BERTH_BIN, '--server', serve.url, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function everyFile(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...everyFile(p));
    else out.push(p);
  }
  return out;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'berth-secrets-'));
  serve = await startServeProcess(dataDir, ['--log-level', 'debug'], { ...process.env, BERTH_ADMIN_TOKEN: ADMIN });
}, 60_000);

afterAll(async () => {
  serve?.child.kill('SIGTERM');
  await serve?.exited;
  rmSync(dataDir, { recursive: true, force: true });
});

describe('secrets never written anywhere', () => {
  it('are absent from everything the server wrote while tokens were minted, used, misused and revoked', async () => {
    // the admin registers and deploys through the CLI
    expect((await cli(['models', 'register', fixturePath('breast-cancer-logreg'), '--name', 'bc'], ADMIN)).code).toBe(0);
    expect((await cli(['deploy', 'bc', '--model', 'bc', '--version', '1'], ADMIN)).code).toBe(0);

    const created = await cli(['--json', 'tokens', 'create', '--name', 'app', '--scope', 'predict:bc', '--rate', '100/s'], ADMIN);
    expect(created.code, created.stderr).toBe(0);
    const token = (JSON.parse(created.stdout) as { token: string; record: { id: string } }).token;
    const id = (JSON.parse(created.stdout) as { record: { id: string } }).record.id;
    secrets.push(token, token.slice(-43));

    // use it: fast path, friendly route, and a forbidden route
    const c = readGolden('breast-cancer-logreg').cases.find((x) => x.name === 'heldout_all')!;
    const t = goldenTensor('input', c.inputs['input']!, [0, 3]);
    const infer = await fetch(`${serve.url}/v2/models/bc/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] }),
    });
    expect(infer.status).toBe(200);
    expect((await fetch(`${serve.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);

    // misuse: a wrong secret for the real id, a malformed header, the admin secret with a typo, a JWT-looking string
    const wrong = `berth_${id}_${'Z'.repeat(43)}`;
    const typo = ADMIN.slice(0, -1) + 'X';
    const fakeJwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.' + 'q'.repeat(40);
    secrets.push(wrong, typo, fakeJwt);
    for (const bad of [`Bearer ${wrong}`, `Basic ${Buffer.from(`user:${typo}`).toString('base64')}`, `Bearer ${typo}`, `Bearer ${fakeJwt}`]) {
      const r = await fetch(`${serve.url}/v2/models/bc/infer`, { method: 'POST', headers: { authorization: bad, 'content-type': 'application/json' }, body: '{}' });
      expect(r.status).toBe(401);
      const text = await r.text();
      for (const s of secrets) expect(text).not.toContain(s);
    }

    // the CLI with a bad token explains without repeating it
    const refused = await cli(['deployments', 'list'], wrong);
    expect(refused.code).toBe(1);
    expect(refused.stderr + refused.stdout).not.toContain(wrong);

    // revoke, then the revoked token is refused
    expect((await cli(['tokens', 'revoke', id], ADMIN)).code).toBe(0);
    const after = await fetch(`${serve.url}/v1/deployments/bc/predict`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' });
    expect(after.status).toBe(401);

    // what the server shows: metrics, the audit trail, its token list
    const metrics = await (await fetch(`${serve.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    const audit = await cli(['--json', 'audit', '--limit', '1000'], ADMIN);
    expect(audit.code, audit.stderr).toBe(0);
    const list = await cli(['--json', 'tokens', 'list', '--all'], ADMIN);
    expect(list.stdout).toContain(id);

    // stop the server so every buffer (inference log, last-used times) is on disk, then search
    serve.child.kill('SIGTERM');
    await serve.exited;
    const haystacks: [string, string][] = [
      ['server output', serve.output()],
      ['metrics', metrics],
      ['audit', audit.stdout],
      ['token list', list.stdout],
    ];
    for (const f of everyFile(dataDir)) haystacks.push([path.relative(dataDir, f), readFileSync(f).toString('latin1')]);
    expect(haystacks.length).toBeGreaterThan(5);
    // the server did log about the refused secret: the test searches real log lines
    expect(serve.output()).toContain('wrong secret for a token');
    for (const [where, text] of haystacks) {
      for (const s of secrets) expect(text.includes(s), `${where} contains a secret (${s.slice(0, 6)}…)`).toBe(false);
    }
  }, 120_000);
});

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goldenTensor, readGolden } from '../helpers/fixtures.js';
import { createTestCerts, type TestCerts } from '../helpers/certs.js';
import { BERTH_BIN, startServeProcess } from '../helpers/serve-process.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

/** HTTPS and client-certificate authentication through a real Berth server. */

let certs: TestCerts;
let ts: TestServer;
const ADMIN = 'tls-admin-secret-0123456789abcdef';

function body(): string {
  const c = readGolden('breast-cancer-logreg').cases.find((x) => x.name === 'heldout_all')!;
  const t = goldenTensor('input', c.inputs['input']!, [0, 2]);
  return JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] });
}

function send(
  url: string,
  opts: { method?: string; path: string; body?: string; cert?: 'client' | 'rogue' | 'none'; token?: string },
): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(opts.path, url);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
    const which = opts.cert ?? 'none';
    const req = httpsRequest(
      u,
      {
        method: opts.method ?? 'GET',
        headers,
        ca: readFileSync(certs.caCert),
        ...(which === 'client' ? { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : {}),
        ...(which === 'rogue' ? { cert: readFileSync(certs.rogueCert), key: readFileSync(certs.rogueKey) } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

beforeAll(async () => {
  certs = await createTestCerts({ clientCommonName: 'scoring-service' });
  ts = await startServer(
    {
      auth: { dev: false },
      tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert, requireClientCert: false, clients: [{ commonName: 'scoring-service', roles: ['predictor'] }] },
    },
    { adminToken: ADMIN },
  );
  await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc' });
}, 60_000);

afterAll(async () => {
  await ts?.close();
  await certs?.cleanup();
});

describe('TLS', () => {
  it('serves HTTPS with HSTS, and a bearer token works over it', async () => {
    expect(ts.url.startsWith('https://')).toBe(true);
    const r = await send(ts.url, { path: '/v1/deployments', token: ADMIN });
    expect(r.status).toBe(200);
    expect(r.headers['strict-transport-security']).toContain('max-age=');
  });

  it('refuses plain HTTP on the TLS port', async () => {
    const plain = ts.url.replace('https://', 'http://');
    await expect(fetch(`${plain}/v2/health/live`)).rejects.toThrow();
  });
});

describe('mTLS: client certificates authenticate services', () => {
  it('a certificate the CA signed, mapped to predictor, infers on the fast path and the friendly route', async () => {
    const r = await send(ts.url, { method: 'POST', path: '/v2/models/bc/infer', body: body(), cert: 'client' });
    expect(r.status, r.text).toBe(200);
    const p = await send(ts.url, { method: 'POST', path: '/v1/deployments/bc/predict', body: JSON.stringify({ rows: [] }), cert: 'client' });
    expect([200, 400]).toContain(p.status);
    const who = await send(ts.url, { path: '/v1/auth/whoami', cert: 'client' });
    expect(JSON.parse(who.text)).toMatchObject({ kind: 'certificate', name: 'certificate:scoring-service', scopes: ['predict:*'] });
  });

  it('but may not do what its scopes do not allow', async () => {
    const r = await send(ts.url, { method: 'PUT', path: '/v1/deployments/bc', body: JSON.stringify({ model: 'breast-cancer-logreg', version: 1 }), cert: 'client' });
    expect(r.status).toBe(403);
  });

  it('a self-signed certificate with the same name, or none, authenticates nothing', async () => {
    for (const cert of ['rogue', 'none'] as const) {
      const r = await send(ts.url, { method: 'POST', path: '/v2/models/bc/infer', body: body(), cert });
      expect(r.status, cert).toBe(401);
    }
  });
});

describe('berth serve --tls-cert … --require-client-cert', () => {
  it('refuses a connection without a client certificate at the handshake, and the CLI talks to it with NODE_EXTRA_CA_CERTS', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-tls-'));
    const s = await startServeProcess(
      dataDir,
      ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.caCert, '--require-client-cert', '--admin-token-file', writeToken(dataDir)],
      { ...process.env },
    );
    try {
      expect(s.url.startsWith('https://')).toBe(true);
      await expect(send(s.url, { path: '/v2/health/live', cert: 'none' })).rejects.toThrow();
      const ok = await send(s.url, { path: '/v2/health/live', cert: 'client' });
      expect(ok.status).toBe(200);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
    // a TLS server without client certificates required: the CLI trusts its CA through Node's own variable
    const dataDir2 = mkdtempSync(path.join(tmpdir(), 'berth-tls-'));
    const s2 = await startServeProcess(dataDir2, ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--admin-token-file', writeToken(dataDir2)]);
    try {
      const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          [BERTH_BIN, '--server', s2.url, '--json', 'whoami'],
          { env: { PATH: process.env['PATH'] ?? '', NODE_EXTRA_CA_CERTS: certs.caCert, BERTH_TOKEN: ADMIN } },
          (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
        ),
      );
      expect(out.code, out.stderr).toBe(0);
      expect(JSON.parse(out.stdout)).toMatchObject({ kind: 'bootstrap' });
    } finally {
      s2.child.kill('SIGTERM');
      await s2.exited;
      rmSync(dataDir2, { recursive: true, force: true });
    }
  }, 60_000);
});

/** The bootstrap admin token in a file of its own (mode 0600, as a real one would be). */
function writeToken(dir: string): string {
  const f = path.join(dir, 'admin-token');
  writeFileSync(f, `${ADMIN}\n`, { mode: 0o600 });
  return f;
}

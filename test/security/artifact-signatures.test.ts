/*
 * Signed artifacts end to end: `berth sign` (in process, against a real server and against a data
 * dir), the signature routes, and a server with `artifacts.requireSignature` refusing to deploy or
 * load a version without a valid signature by a trusted key.
 */
import { ModelRef } from '../../src/core/index.js';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { flatten, fixturePath, readGolden } from '../helpers/fixtures.js';
import { registerVersion, startServer, type TestServer } from '../helpers/server.js';
import { keyIdOf, signArtifact, type SignatureReport, type SignatureUploadResult } from '../../src/security/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-signing-'));
const trusted = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const TRUSTED_PRIV = path.join(dir, 'release.pem');
const TRUSTED_PUB = path.join(dir, 'release.pub.pem');
const STRANGER_PRIV = path.join(dir, 'stranger.pem');
const STRANGER_PUB = path.join(dir, 'stranger.pub.pem');
writeFileSync(TRUSTED_PRIV, trusted.privateKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(TRUSTED_PUB, trusted.publicKey.export({ type: 'spki', format: 'pem' }));
writeFileSync(STRANGER_PRIV, stranger.privateKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(STRANGER_PUB, stranger.publicKey.export({ type: 'spki', format: 'pem' }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REQUIRED = { artifacts: { publicKeys: [TRUSTED_PUB], requireSignature: true } };

async function berth(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', '--actor', 'signer', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
  return { code, out, err };
}

async function call<T>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as T };
}

const row = (flatten(readGolden('breast-cancer-gbt').cases[0]!.inputs['input']!.data) as number[]).slice(0, 30);
const infer = (ts: TestServer, deployment: string): Promise<{ status: number; body: { code?: string; error?: string } }> =>
  call('POST', `${ts.url}/v2/models/${deployment}/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });

describe('a server that requires signed artifacts', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startServer(REQUIRED);
    expect(await registerVersion(ts, 'bc', { fixture: 'breast-cancer-gbt' })).toBe(1);
    expect(await registerVersion(ts, 'bc', { fixture: 'breast-cancer-logreg' })).toBe(2);
  });
  afterAll(async () => ts?.close());

  it('refuses to deploy an unsigned version with 422 ARTIFACT_UNTRUSTED naming the version, the keys and what to do', async () => {
    const r = await call<{ code: string; error: string }>('PUT', `${ts.url}/v1/deployments/bc`, { model: 'bc', version: 1 });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('ARTIFACT_UNTRUSTED');
    expect(r.body.error).toContain('version 1 of "bc"');
    expect(r.body.error).toContain('it has no signatures');
    expect(r.body.error).toContain(keyIdOf(trusted.publicKey).slice(0, 12));
    expect(r.body.error).toContain('berth sign bc@1 --key');
    await expect(ts.server.registry.getDeployment('bc')).rejects.toMatchObject({ code: 'DEPLOYMENT_NOT_FOUND' });
  });

  it('deploys a version signed with `berth sign` through the server, and serves it', async () => {
    let r = await berth('--server', ts.url, 'sign', 'bc@1', '--key', TRUSTED_PRIV);
    expect(r.err).toBe('');
    expect(r).toMatchObject({ code: 0 });
    expect(r.out).toMatch(/^signed bc@1 \(sha256 [0-9a-f]{12}…\) with ed25519 key [0-9a-f]{12}…\n$/);
    r = await berth('--server', ts.url, 'sign', 'bc@1', '--key', TRUSTED_PRIV);
    expect(r.out).toMatch(/^already signed: bc@1/);

    const report = await call<SignatureReport>('GET', `${ts.url}/v1/models/bc/versions/1/signatures`);
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ model: 'bc', version: 1, required: true, trusted: true, signatures: [{ keyId: keyIdOf(trusted.publicKey), valid: true, signedBy: 'signer' }] });
    r = await berth('--server', ts.url, 'verify', 'bc@1');
    expect(r.code).toBe(0);
    expect(r.out).toContain('TRUSTED');

    const d = await call<{ created: boolean }>('PUT', `${ts.url}/v1/deployments/bc`, { model: 'bc', version: 1 });
    expect(d.status).toBe(201);
    await ts.server.service.refresh();
    expect((await infer(ts, 'bc')).status).toBe(200);
    const audit = await ts.server.registry.audit({ action: 'version.sign' });
    expect(audit.map((a) => [a.target, a.actor])).toEqual([['version:bc@1', 'signer']]);
  });

  it('refuses a traffic policy that names an unsigned version', async () => {
    const r = await call<{ code: string; error: string }>('PUT', `${ts.url}/v1/deployments/bc`, {
      model: 'bc',
      version: 1,
      traffic: { split: [{ version: 2, percent: 10 }] },
    });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('ARTIFACT_UNTRUSTED');
    expect(r.body.error).toContain('version 2 of "bc"');
    expect((await ts.server.registry.getDeployment('bc')).traffic).toBeNull();
  });

  it('stores nothing for a tampered signature or one made for another version', async () => {
    const v2 = await ts.server.registry.getVersion('bc', 2);
    const forV1 = signArtifact(trusted.privateKey, 'bc', 1, (await ts.server.registry.getVersion('bc', 1)).sha256);
    let r = await call<{ code: string; error: string }>('POST', `${ts.url}/v1/models/bc/versions/2/signatures`, {
      algorithm: forV1.algorithm,
      signature: forV1.signature,
      publicKey: forV1.publicKey,
    });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('ARTIFACT_UNTRUSTED');
    expect(r.body.error).toContain('does not verify for bc@2');

    const good = signArtifact(trusted.privateKey, 'bc', 2, v2.sha256);
    const bytes = Buffer.from(good.signature, 'base64');
    bytes[0] = bytes[0]! ^ 0x80;
    r = await call('POST', `${ts.url}/v1/models/bc/versions/2/signatures`, { algorithm: good.algorithm, signature: bytes.toString('base64'), publicKey: good.publicKey });
    expect(r.status).toBe(422);
    // a private key in the body is refused by name
    r = await call('POST', `${ts.url}/v1/models/bc/versions/2/signatures`, { ...good, privateKey: 'x' });
    expect(r.status).toBe(400);
    expect(await ts.server.registry.listSignatures('bc', 2)).toEqual([]);
  });

  it("keeps a valid signature by a key it does not trust, but does not count it", async () => {
    const r = await berth('--server', ts.url, 'sign', 'bc@2', '--key', STRANGER_PRIV);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`does not trust key ${keyIdOf(stranger.publicKey).slice(0, 12)}`);
    const v = await berth('--server', ts.url, 'verify', 'bc@2');
    expect(v.code).toBe(1);
    expect(v.out).toContain('UNTRUSTED');
    expect(v.out).toContain('untrusted key');
    expect(v.err).toContain('berth sign bc@2');
    const d = await call<{ code: string; error: string }>('PUT', `${ts.url}/v1/deployments/bc`, { model: 'bc', version: 2 });
    expect(d.status).toBe(422);
    expect(d.body.error).toContain(`key ${keyIdOf(stranger.publicKey).slice(0, 12)} is not trusted`);
  });

  it('refuses to move an alias a deployment follows onto an untrusted version, and a rollout to one', async () => {
    await ts.server.registry.setAlias('bc', 'prod', 1);
    await ts.server.registry.deploy({ name: 'by-alias', model: 'bc', target: { kind: 'alias', alias: 'prod' } });
    const moved = await call<{ code: string; error: string }>('PUT', `${ts.url}/v1/models/bc/aliases/prod`, { version: 2 });
    expect(moved.status).toBe(422);
    expect(moved.body.code).toBe('ARTIFACT_UNTRUSTED');
    expect((await ts.server.registry.resolve(ModelRef.alias('bc', 'prod'))).version).toBe(1);
    // an alias no deployment follows may point anywhere: it serves nothing
    expect((await call('PUT', `${ts.url}/v1/models/bc/aliases/scratch`, { version: 2 })).status).toBe(200);
    const rollout = await call<{ code: string }>('POST', `${ts.url}/v1/deployments/by-alias/rollout`, { toVersion: 2, strategy: 'canary', steps: '10,100', interval: '1m' });
    expect(rollout.status).toBe(422);
    expect(rollout.body.code).toBe('ARTIFACT_UNTRUSTED');
  });

  it('refuses to load an unsigned version that reached a deployment without the API (defence in depth)', async () => {
    await ts.server.registry.deploy({ name: 'sneaky', model: 'bc', target: { kind: 'version', version: 2 } });
    await ts.server.service.refresh();
    const r = await infer(ts, 'sneaky');
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('ARTIFACT_UNTRUSTED');
    expect(ts.server.manager.stateOf('bc@2')).not.toBe('ready');
    // signing it (by a trusted key) lets the next request load it
    expect((await berth('--server', ts.url, 'sign', 'bc@2', '--key', TRUSTED_PRIV)).code).toBe(0);
    expect((await infer(ts, 'sneaky')).status).toBe(200);
  });
});

describe('berth sign and verify without a server (the data dir)', () => {
  it('signs in the data dir, verifies against given keys, and a server requiring signatures then deploys it', async () => {
    const data = mkdtempSync(path.join(tmpdir(), 'berth-sign-local-'));
    try {
      const local = ['--local', '--data-dir', data];
      expect((await berth(...local, 'models', 'register', fixturePath('breast-cancer-gbt'), '--name', 'bc')).code).toBe(0);
      expect((await berth(...local, 'alias', 'set', 'bc', 'production', '1')).code).toBe(0);

      let r = await berth(...local, 'sign', 'bc@production', '--key', TRUSTED_PRIV);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^signed bc@1 /);
      expect(r.err).toContain('no server running: stored in the data dir');

      r = await berth(...local, 'verify', 'bc@1');
      expect(r.code).toBe(0);
      expect(r.out).toContain('not judged (no trusted keys)');
      r = await berth(...local, 'verify', 'bc', '--trusted-key', TRUSTED_PUB);
      expect(r.code).toBe(0);
      expect(r.out).toContain('TRUSTED: a trusted key signed this version');
      r = await berth(...local, '--json', 'verify', 'bc@1', '--trusted-key', TRUSTED_PUB);
      const report = JSON.parse(r.out) as SignatureReport;
      expect(report).toMatchObject({ trusted: true, signatures: [{ algorithm: 'ed25519', valid: true, signedBy: 'signer' }] });
      r = await berth(...local, 'verify', 'bc@1', '--trusted-key', STRANGER_PUB);
      expect(r.code).toBe(1);
      expect(r.out).toContain('UNTRUSTED');
      r = await berth(...local, 'sign', 'bc@1', '--key', TRUSTED_PUB);
      expect(r.code).toBe(1);
      expect(r.err).toContain('is a public key');

      const ts = await startServer(REQUIRED, { dataDir: data });
      try {
        const d = await call<{ created: boolean }>('PUT', `${ts.url}/v1/deployments/bc`, { model: 'bc', alias: 'production' });
        expect(d.status).toBe(201);
        await ts.server.service.refresh();
        expect((await infer(ts, 'bc')).status).toBe(200);
        const up = await call<SignatureUploadResult>('GET', `${ts.url}/v1/models/bc/versions/1/signatures`);
        expect(up.body).toMatchObject({ trusted: true });
      } finally {
        await ts.close();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('refuses to start when a configured key file is missing, naming it', async () => {
    const missing = path.join(dir, 'missing.pub.pem');
    await expect(startServer({ artifacts: { publicKeys: [missing], requireSignature: true } })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringContaining(missing),
    });
  });
});

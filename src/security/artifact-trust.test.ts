import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BerthError } from '../core/index.js';
import type { ArtifactSignatureRecord } from '../registry/index.js';
import { artifactStatement, keyIdOf, readPrivateKeyFile, readPublicKeyFile, signArtifact, verifyArtifactSignature } from './artifact-signing.js';
import { ArtifactTrust } from './artifact-trust.js';

const SHA = 'a'.repeat(64);
const OTHER_SHA = 'b'.repeat(64);
const dir = mkdtempSync(path.join(tmpdir(), 'berth-trust-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEYS: Record<string, () => { privateKey: KeyObject; publicKey: KeyObject }> = {
  ed25519: () => generateKeyPairSync('ed25519'),
  'ecdsa-p256-sha256': () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
  'rsa-pss-sha256': () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
};

function record(sig: ReturnType<typeof signArtifact>, over: Partial<ArtifactSignatureRecord> = {}): ArtifactSignatureRecord {
  return { model: sig.model, version: sig.version, keyId: sig.keyId, algorithm: sig.algorithm, signature: sig.signature, signedAt: '2026-11-24T00:00:00.000Z', signedAtMs: 0, signedBy: 'alice', ...over };
}

function writePem(name: string, key: KeyObject): string {
  const p = path.join(dir, name);
  writeFileSync(p, key.type === 'private' ? key.export({ type: 'pkcs8', format: 'pem' }) : key.export({ type: 'spki', format: 'pem' }));
  return p;
}

function thrown(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a BerthError');
}

describe('artifact signatures', () => {
  it('signs a fixed statement that names the model, the version and the sha256', () => {
    expect(artifactStatement('fraud', 3, SHA).toString('utf8')).toBe(`berth-artifact-v1\nfraud\n3\n${SHA}\n`);
  });

  for (const [algorithm, make] of Object.entries(KEYS)) {
    it(`signs with ${algorithm} and verifies with the public key, from PEM files`, () => {
      const { privateKey, publicKey } = make();
      const priv = readPrivateKeyFile(writePem(`${algorithm}.pem`, privateKey));
      const pub = readPublicKeyFile(writePem(`${algorithm}.pub.pem`, publicKey));
      const sig = signArtifact(priv, 'fraud', 3, SHA);
      expect(sig.algorithm).toBe(algorithm);
      expect(sig.keyId).toBe(keyIdOf(publicKey));
      expect(sig.keyId).toMatch(/^[0-9a-f]{64}$/);
      expect(sig.publicKey).toContain('-----BEGIN PUBLIC KEY-----');
      expect(verifyArtifactSignature(pub, algorithm, 'fraud', 3, SHA, sig.signature)).toBe(true);

      const trust = ArtifactTrust.fromKeys([{ key: pub, source: 'release.pub' }], true);
      const report = trust.assess('fraud', 3, SHA, [record(sig)]);
      expect(report).toMatchObject({ trusted: true, required: true, signatures: [{ trusted: true, valid: true }] });
      expect(() => trust.check('fraud', 3, SHA, [record(sig)])).not.toThrow();
    });
  }

  it('refuses a tampered signature, another version, another artifact, another model and a wrong algorithm name', () => {
    const { privateKey, publicKey } = KEYS['ed25519']!();
    const sig = signArtifact(privateKey, 'fraud', 3, SHA);
    const bytes = Buffer.from(sig.signature, 'base64');
    bytes[5] = bytes[5]! ^ 0x01;
    const tampered = bytes.toString('base64');
    expect(verifyArtifactSignature(publicKey, 'ed25519', 'fraud', 3, SHA, tampered)).toBe(false);
    expect(verifyArtifactSignature(publicKey, 'ed25519', 'fraud', 4, SHA, sig.signature)).toBe(false);
    expect(verifyArtifactSignature(publicKey, 'ed25519', 'fraud', 3, OTHER_SHA, sig.signature)).toBe(false);
    expect(verifyArtifactSignature(publicKey, 'ed25519', 'credit', 3, SHA, sig.signature)).toBe(false);
    expect(verifyArtifactSignature(publicKey, 'rsa-pss-sha256', 'fraud', 3, SHA, sig.signature)).toBe(false);
    expect(verifyArtifactSignature(publicKey, 'ed25519', 'fraud', 3, SHA, 'not base64!')).toBe(false);

    const trust = ArtifactTrust.fromKeys([{ key: publicKey, source: 'release.pub' }], true);
    const err = thrown(() => trust.check('fraud', 3, SHA, [record(sig, { signature: tampered })]));
    expect(err.code).toBe('ARTIFACT_UNTRUSTED');
    expect(err.status).toBe(422);
    expect(err.message).toContain('version 3 of "fraud"');
    expect(err.message).toContain(`key ${sig.keyId.slice(0, 12)} does not verify`);
    expect(err.message).toContain('berth sign fraud@3 --key');
    // the signature of version 3 stored as version 4's
    expect(thrown(() => trust.check('fraud', 4, SHA, [record(sig, { version: 4 })])).code).toBe('ARTIFACT_UNTRUSTED');
  });

  it('does not count a valid signature by a key it does not trust, and names the keys it looked for', () => {
    const trusted = KEYS['ed25519']!();
    const stranger = KEYS['ecdsa-p256-sha256']!();
    const sig = signArtifact(stranger.privateKey, 'fraud', 3, SHA);
    const trust = ArtifactTrust.fromKeys([{ key: trusted.publicKey, source: '/etc/berth/release.pub' }], true);
    const report = trust.assess('fraud', 3, SHA, [record(sig)]);
    expect(report.trusted).toBe(false);
    expect(report.signatures[0]).toMatchObject({ trusted: false, valid: null });
    const err = thrown(() => trust.check('fraud', 3, SHA, [record(sig)]));
    expect(err.message).toContain(`key ${sig.keyId.slice(0, 12)} is not trusted`);
    expect(err.message).toContain(`${keyIdOf(trusted.publicKey).slice(0, 12)} (/etc/berth/release.pub)`);
    expect(err.context.expected).toEqual([keyIdOf(trusted.publicKey)]);
  });

  it('refuses an unsigned version only when signatures are required', () => {
    const { publicKey } = KEYS['ed25519']!();
    expect(() => ArtifactTrust.fromKeys([{ key: publicKey, source: 'k' }], false).check('fraud', 1, SHA, [])).not.toThrow();
    const err = thrown(() => ArtifactTrust.fromKeys([{ key: publicKey, source: 'k' }], true).check('fraud', 1, SHA, []));
    expect(err.code).toBe('ARTIFACT_UNTRUSTED');
    expect(err.message).toContain('it has no signatures');
  });

  it('loads configured keys, and names the file when one is missing, private, or not a usable key', () => {
    const { privateKey, publicKey } = KEYS['ed25519']!();
    const pub = writePem('cfg.pub.pem', publicKey);
    const trust = ArtifactTrust.load({ publicKeys: [pub, pub], requireSignature: true });
    expect(trust.keys.map((k) => k.keyId)).toEqual([keyIdOf(publicKey)]);
    expect(trust.keys[0]!.source).toBe(pub);

    const missing = path.join(dir, 'nope.pem');
    let err = thrown(() => ArtifactTrust.load({ publicKeys: [missing], requireSignature: false }));
    expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
    expect(err.message).toContain(missing);

    const priv = writePem('cfg-private.pem', privateKey);
    err = thrown(() => ArtifactTrust.load({ publicKeys: [priv], requireSignature: false }));
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toContain(`${priv} holds a private key`);

    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, 'hello');
    err = thrown(() => ArtifactTrust.load({ publicKeys: [junk], requireSignature: false }));
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toContain(junk);

    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weakPath = writePem('weak.pub.pem', weak.publicKey);
    err = thrown(() => ArtifactTrust.load({ publicKeys: [weakPath], requireSignature: false }));
    expect(err.message).toContain('1024-bit RSA key');
    expect(thrown(() => signArtifact(weak.privateKey, 'fraud', 1, SHA)).code).toBe('INVALID_ARGUMENT');

    expect(thrown(() => ArtifactTrust.load({ publicKeys: [], requireSignature: true })).code).toBe('INVALID_CONFIG');
  });

  it('reads an encrypted private key only with its passphrase, and refuses a public key for signing', () => {
    const { privateKey, publicKey } = KEYS['ed25519']!();
    const enc = path.join(dir, 'enc.pem');
    writeFileSync(enc, privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }));
    expect(thrown(() => readPrivateKeyFile(enc)).message).toContain('encrypted');
    expect(keyIdOf(readPrivateKeyFile(enc, 'correct horse'))).toBe(keyIdOf(publicKey));
    const pub = writePem('signing.pub.pem', publicKey);
    expect(thrown(() => readPrivateKeyFile(pub)).message).toContain('is a public key');
  });

  const openssl = ((): boolean => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!openssl)('verifies signatures made outside Berth with openssl, as docs/security-artifacts.md shows', () => {
    const run = (...args: string[]): Buffer => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const stmt = path.join(dir, 'statement.txt');
    writeFileSync(stmt, artifactStatement('fraud', 3, SHA));
    const cases: [string, string[], string[]][] = [
      ['ed25519', ['-algorithm', 'ed25519'], ['pkeyutl', '-sign', '-rawin', '-in', stmt, '-inkey']],
      ['ecdsa-p256-sha256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['dgst', '-sha256', '-sign']],
      ['rsa-pss-sha256', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest', '-sign']],
    ];
    for (const [algorithm, gen, signArgs] of cases) {
      const key = path.join(dir, `ossl-${algorithm}.pem`);
      run('genpkey', ...gen, '-out', key);
      const pubPath = path.join(dir, `ossl-${algorithm}.pub.pem`);
      run('pkey', '-in', key, '-pubout', '-out', pubPath);
      const signature = (signArgs[0] === 'dgst' ? run(...signArgs, key, stmt) : run(...signArgs, key)).toString('base64');
      const pub = readPublicKeyFile(pubPath);
      expect(verifyArtifactSignature(pub, algorithm, 'fraud', 3, SHA, signature), algorithm).toBe(true);
      // the key id is the sha256 of the SPKI DER, as `openssl pkey -pubin -outform DER | sha256sum` prints it
      expect(keyIdOf(pub)).toBe(createHash('sha256').update(run('pkey', '-pubin', '-in', pubPath, '-outform', 'DER')).digest('hex'));
    }
  });
});

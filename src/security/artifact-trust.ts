import { resolve as resolvePath } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { BerthError, ModelRef, assertName, isBerthError, type ArtifactTrustConfig } from '../core/index.js';
// types only: the CLI loads this file to sign and verify, and the registry's code is not needed for that
import type { ArtifactSignatureRecord, DeployInput, Registry, TrafficPolicy } from '../registry/index.js';
import {
  algorithmOf,
  isArtifactSignatureAlgorithm,
  keyIdOf,
  parsePublicKeyPem,
  readPublicKeyFile,
  verifyArtifactSignature,
  type ArtifactSignatureAlgorithm,
} from './artifact-signing.js';

/** A public key whose signatures this server trusts. */
export interface TrustedKey {
  readonly keyId: string;
  readonly algorithm: ArtifactSignatureAlgorithm;
  /** where it came from (the PEM file's absolute path) */
  readonly source: string;
  readonly key: KeyObject;
}

/** One stored signature, judged against the trusted keys. */
export interface SignatureCheck {
  keyId: string;
  algorithm: string;
  /** base64, so a client can check it against keys of its own */
  signature: string;
  signedAt: string;
  signedBy: string;
  /** the key is one of the trusted keys */
  trusted: boolean;
  /** the signature verifies over this version's statement; null when the key is not trusted here (nothing to check it with) */
  valid: boolean | null;
  /** one sentence: why it counts or not */
  detail: string;
}

/** `GET /v1/models/{name}/versions/{version}/signatures`: a version's signatures and the verdict. */
export interface SignatureReport {
  model: string;
  version: number;
  sha256: string;
  /** signatures are required: without a valid trusted one the version is never deployed or loaded */
  required: boolean;
  /** at least one signature by a trusted key verifies */
  trusted: boolean;
  /** the keys this server trusts */
  trustedKeys: { keyId: string; algorithm: ArtifactSignatureAlgorithm; source: string }[];
  signatures: SignatureCheck[];
}

/** Body of `POST /v1/models/{name}/versions/{version}/signatures` (what `berth sign` sends; never a private key). */
export interface SignatureUpload {
  /** `ed25519`, `ecdsa-p256-sha256` or `rsa-pss-sha256` */
  algorithm: string;
  /** base64 signature of `berth-artifact-v1\n<model>\n<version>\n<sha256>\n` */
  signature: string;
  /** the signer's public key, PEM (SPKI) */
  publicKey: string;
  /** the key's id (sha256 of its SPKI DER); checked against `publicKey` when given */
  keyId?: string;
}

/** What storing a signature did, and the version's verdict after it. */
export interface SignatureUploadResult {
  signature: ArtifactSignatureRecord;
  /** a new row (false: the key had signed this version before, or it was the same signature) */
  created: boolean;
  changed: boolean;
  report: SignatureReport;
}

/**
 * Which keys vouch for artifacts, and whether a version must carry a valid signature by one of
 * them to be served. Pure: it judges the signatures it is given.
 *
 * @example
 * const trust = ArtifactTrust.load(config.artifacts); // INVALID_CONFIG naming an unreadable key file
 * trust.check('fraud', 3, version.sha256, await registry.listSignatures('fraud', 3)); // or ARTIFACT_UNTRUSTED
 */
export class ArtifactTrust {
  readonly keys: readonly TrustedKey[];
  /** serve only versions with a valid signature by a trusted key */
  readonly required: boolean;
  private readonly byId: ReadonlyMap<string, TrustedKey>;

  constructor(keys: readonly TrustedKey[], requireSignature: boolean) {
    const byId = new Map<string, TrustedKey>();
    for (const k of keys) if (!byId.has(k.keyId)) byId.set(k.keyId, k);
    this.byId = byId;
    this.keys = [...byId.values()];
    this.required = requireSignature;
    if (requireSignature && this.keys.length === 0) {
      throw new BerthError('INVALID_CONFIG', 'artifacts.requireSignature: expected artifacts.publicKeys to name at least one trusted key, got none', {
        field: 'artifacts.publicKeys',
      });
    }
  }

  /** Read every configured key file (relative paths from the working directory). INVALID_CONFIG names the first bad file. */
  static load(config: Pick<ArtifactTrustConfig, 'publicKeys' | 'requireSignature'>): ArtifactTrust {
    return new ArtifactTrust(
      config.publicKeys.map((p) => {
        const source = resolvePath(p);
        const key = readPublicKeyFile(source);
        return { keyId: keyIdOf(key), algorithm: algorithmOf(key) as ArtifactSignatureAlgorithm, source, key };
      }),
      config.requireSignature,
    );
  }

  /** Trusted keys from key objects (tests, or keys given on the command line). */
  static fromKeys(keys: readonly { key: KeyObject; source: string }[], requireSignature = false): ArtifactTrust {
    return new ArtifactTrust(
      keys.map(({ key, source }) => {
        const algorithm = algorithmOf(key);
        if (typeof algorithm !== 'string') throw new BerthError('INVALID_ARGUMENT', `${source} cannot verify artifact signatures: ${algorithm.problem}`, { field: 'key', got: source });
        return { keyId: keyIdOf(key), algorithm, source, key };
      }),
      requireSignature,
    );
  }

  /** No trusted keys, nothing required (the CLI's local mode without --trusted-key). */
  static none(): ArtifactTrust {
    return new ArtifactTrust([], false);
  }

  /** Judge each signature of a version against the trusted keys. */
  assess(model: string, version: number, sha256: string, signatures: readonly ArtifactSignatureRecord[]): SignatureReport {
    const checks = signatures.map((s): SignatureCheck => {
      const base = { keyId: s.keyId, algorithm: s.algorithm, signature: s.signature, signedAt: s.signedAt, signedBy: s.signedBy };
      const key = this.byId.get(s.keyId);
      if (!key) return { ...base, trusted: false, valid: null, detail: `key ${short(s.keyId)} is not a trusted key here` };
      const valid = verifyArtifactSignature(key.key, s.algorithm, model, version, sha256, s.signature);
      return {
        ...base,
        trusted: true,
        valid,
        detail: valid
          ? `valid ${s.algorithm} signature by trusted key ${short(s.keyId)} (${key.source})`
          : `signature by trusted key ${short(s.keyId)} does NOT verify over ${model}@${version} (sha256 ${short(sha256)}…): tampered, made for another version, or the artifact changed`,
      };
    });
    return {
      model,
      version,
      sha256,
      required: this.required,
      trusted: checks.some((c) => c.valid === true),
      trustedKeys: this.keys.map((k) => ({ keyId: k.keyId, algorithm: k.algorithm, source: k.source })),
      signatures: checks,
    };
  }

  /**
   * Nothing when signatures are not required or a trusted key's signature verifies; otherwise
   * ARTIFACT_UNTRUSTED naming the version, the keys looked for, what was found and what to do.
   */
  check(model: string, version: number, sha256: string, signatures: readonly ArtifactSignatureRecord[]): void {
    if (!this.required) return;
    const report = this.assess(model, version, sha256, signatures);
    if (report.trusted) return;
    const found =
      report.signatures.length === 0
        ? 'it has no signatures'
        : `its signatures: ${report.signatures.map((c) => (c.trusted ? `key ${short(c.keyId)} does not verify` : `key ${short(c.keyId)} is not trusted`)).join('; ')}`;
    throw new BerthError(
      'ARTIFACT_UNTRUSTED',
      `version ${version} of "${model}" (sha256 ${short(sha256)}…) has no valid signature by a trusted key (${found}); ` +
        `artifacts.requireSignature is on, so it is never served. Trusted keys: ${this.keys.map((k) => `${short(k.keyId)} (${k.source})`).join(', ')}. ` +
        `Sign it with the private half of one of them: berth sign ${model}@${version} --key PRIVATE.pem`,
      {
        model,
        version,
        expected: this.keys.map((k) => k.keyId),
        got: report.signatures.map((c) => ({ keyId: c.keyId, trusted: c.trusted, valid: c.valid })),
      },
    );
  }
}

/** The deploy input fields the guard reads (the registry's DeployInput has them). */
export type DeployTrustInput = Pick<DeployInput, 'name' | 'model' | 'target' | 'traffic'>;

/**
 * ArtifactTrust over the registry: the hooks a server hangs on its deploy and load paths, and the
 * two signature operations of the management API (the REST routes and the CLI's local mode).
 * The hooks cost nothing unless signatures are required.
 *
 * @example
 * const guard = new ArtifactGuard(ArtifactTrust.load(config.artifacts), registry);
 * new ModelManager({ …, verifyArtifact: (v) => guard.verifyLoad(v) });
 */
export class ArtifactGuard {
  constructor(
    readonly trust: ArtifactTrust,
    private readonly registry: Registry,
  ) {}

  /** Before a version is loaded: ARTIFACT_UNTRUSTED unless it is signed as required. */
  async verifyLoad(v: { model: string; version: number; sha256: string }): Promise<void> {
    if (!this.trust.required) return;
    this.trust.check(v.model, v.version, v.sha256, await this.registry.listSignatures(v.model, v.version));
  }

  /**
   * Before a deployment changes: every version it would serve (the target, split arms, shadows,
   * preview, fallback, and a kept traffic policy's versions) must be signed as required.
   */
  async verifyDeploy(input: DeployTrustInput): Promise<void> {
    if (!this.trust.required) return;
    const model = assertName('model', input.model);
    const versions = new Set<number>();
    const served = input.target.kind === 'version' ? input.target.version : (await this.registry.resolve(ModelRef.alias(model, input.target.alias))).version;
    versions.add(served);
    const traffic = input.traffic !== undefined ? input.traffic : await this.keptTraffic(input);
    for (const v of trafficVersions(traffic)) versions.add(v);
    for (const v of [...versions].sort((a, b) => a - b)) {
      const record = await this.registry.getVersion(model, v);
      this.trust.check(model, v, record.sha256, await this.registry.listSignatures(model, v));
    }
  }

  /** The version's signatures and the verdict. */
  async report(model: string, version: number): Promise<SignatureReport> {
    const v = await this.registry.getVersion(assertName('model', model), version);
    return this.trust.assess(model, version, v.sha256, await this.registry.listSignatures(model, version));
  }

  /**
   * Store a signature after checking it: the public key must match the key id, and the signature
   * must verify over this version's statement (ARTIFACT_UNTRUSTED otherwise). A valid signature by
   * a key this server does not trust is stored too (`report.trusted` says it does not count).
   */
  async add(model: string, version: number, body: unknown, actor?: string): Promise<SignatureUploadResult> {
    assertName('model', model);
    const upload = parseUpload(body);
    const key = parsePublicKeyPem(upload.publicKey);
    const keyId = keyIdOf(key);
    if (upload.keyId !== undefined && upload.keyId !== keyId) {
      throw new BerthError('INVALID_ARGUMENT', `keyId: ${upload.keyId} is not the id of the public key sent (${keyId}); send the key that made the signature`, {
        field: 'keyId',
        expected: keyId,
        got: upload.keyId,
      });
    }
    const keyAlgorithm = algorithmOf(key);
    if (typeof keyAlgorithm !== 'string') throw new BerthError('INVALID_ARGUMENT', `publicKey: cannot verify artifact signatures: ${keyAlgorithm.problem}`, { field: 'publicKey' });
    if (keyAlgorithm !== upload.algorithm) {
      throw new BerthError('INVALID_ARGUMENT', `algorithm: the key sent signs with ${keyAlgorithm}, got ${upload.algorithm}`, { field: 'algorithm', expected: keyAlgorithm, got: upload.algorithm });
    }
    const v = await this.registry.getVersion(model, version);
    if (!verifyArtifactSignature(key, upload.algorithm, model, version, v.sha256, upload.signature)) {
      throw new BerthError(
        'ARTIFACT_UNTRUSTED',
        `the signature does not verify for ${model}@${version} (sha256 ${short(v.sha256)}…) with key ${short(keyId)}: it was made for another version or artifact, or altered; nothing was stored. ` +
          `Sign this version: berth sign ${model}@${version} --key PRIVATE.pem`,
        { model, version, field: 'signature' },
      );
    }
    const out = await this.registry.addSignature({ model, version, keyId, algorithm: upload.algorithm, signature: upload.signature }, actor);
    return { signature: out.signature, created: out.created, changed: out.changed, report: await this.report(model, version) };
  }

  private async keptTraffic(input: DeployTrustInput): Promise<TrafficPolicy | null> {
    try {
      const cur = await this.registry.getDeployment(input.name);
      const sameTarget =
        cur.target.kind === input.target.kind &&
        (cur.target.kind === 'version' ? cur.target.version === (input.target as { version: number }).version : cur.target.alias === (input.target as { alias: string }).alias);
      return cur.model === input.model && sameTarget ? cur.traffic : null;
    } catch (err) {
      if (isBerthError(err, 'DEPLOYMENT_NOT_FOUND')) return null;
      throw err;
    }
  }
}

function parseUpload(body: unknown): SignatureUpload & { algorithm: ArtifactSignatureAlgorithm } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BerthError('INVALID_ARGUMENT', 'body: expected a JSON object like {"algorithm": "ed25519", "signature": "<base64>", "publicKey": "-----BEGIN PUBLIC KEY-----…"}', {
      field: 'body',
      expected: 'object',
    });
  }
  const b = body as Record<string, unknown>;
  const known = ['algorithm', 'signature', 'publicKey', 'keyId'];
  for (const k of Object.keys(b)) {
    if (!known.includes(k)) throw new BerthError('INVALID_ARGUMENT', `${k}: unknown field (expected ${known.join(', ')}); a private key is never sent`, { field: k, expected: known, got: k });
  }
  if (!isArtifactSignatureAlgorithm(b['algorithm'])) {
    throw new BerthError('INVALID_ARGUMENT', `algorithm: expected one of ed25519, ecdsa-p256-sha256, rsa-pss-sha256, got ${JSON.stringify(b['algorithm'])}`, {
      field: 'algorithm',
      got: b['algorithm'],
    });
  }
  if (typeof b['signature'] !== 'string' || b['signature'].length > 4096 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b['signature'])) {
    throw new BerthError('INVALID_ARGUMENT', 'signature: expected base64 of at most 4096 characters', { field: 'signature' });
  }
  if (b['keyId'] !== undefined && (typeof b['keyId'] !== 'string' || !/^[0-9a-f]{64}$/.test(b['keyId']))) {
    throw new BerthError('INVALID_ARGUMENT', `keyId: expected 64 lowercase hex digits, got ${JSON.stringify(b['keyId'])}`, { field: 'keyId', got: b['keyId'] });
  }
  return {
    algorithm: b['algorithm'],
    signature: b['signature'],
    publicKey: b['publicKey'] as string,
    ...(typeof b['keyId'] === 'string' ? { keyId: b['keyId'] } : {}),
  };
}

/**
 * The versions a traffic policy names (split arms, shadows, preview, fallback). Read defensively:
 * the policy may come straight from a request body, and the registry validates it afterwards.
 */
function trafficVersions(t: TrafficPolicy | null | undefined): number[] {
  if (t === null || typeof t !== 'object') return [];
  const out = new Set<number>();
  const add = (v: unknown): void => {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1) out.add(v);
  };
  for (const list of [t.split, t.shadows]) if (Array.isArray(list)) for (const a of list) add((a as { version?: unknown } | null)?.version);
  add(t.preview);
  add(t.fallback);
  return [...out];
}

function short(hex: string): string {
  return hex.slice(0, 12);
}

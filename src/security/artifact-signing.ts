import { createHash, createPrivateKey, createPublicKey, constants, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BerthError } from '../core/index.js';

/*
 * Signing model artifacts: what is signed, with which keys, and how a signature is checked.
 *
 * A signature covers a short canonical statement, not the file:
 *
 *     berth-artifact-v1\n<model>\n<version>\n<sha256 hex>\n
 *
 * The sha256 is the artifact's address and is verified on every read, so checking a signature
 * never re-reads the file, and naming the model and version means a signature of version 3 does
 * not vouch for version 4 even when both hold the same bytes. The statement is plain text, so
 * signatures can be made outside Berth too (`openssl pkeyutl -sign -rawin`, an HSM, a KMS).
 */

/** Signature schemes Berth accepts, named after the key that makes them. */
export const ARTIFACT_SIGNATURE_ALGORITHMS = ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha256'] as const;
export type ArtifactSignatureAlgorithm = (typeof ARTIFACT_SIGNATURE_ALGORITHMS)[number];

/** The first line of every signed statement; a new statement format gets a new one. */
export const ARTIFACT_STATEMENT_PREFIX = 'berth-artifact-v1';

const MIN_RSA_BITS = 2048;

/**
 * The bytes a signature of `model` version `version` covers.
 *
 * @example
 * artifactStatement('fraud', 3, 'ab12…').toString() // 'berth-artifact-v1\nfraud\n3\nab12…\n'
 */
export function artifactStatement(model: string, version: number, sha256: string): Buffer {
  return Buffer.from(`${ARTIFACT_STATEMENT_PREFIX}\n${model}\n${version}\n${sha256}\n`, 'utf8');
}

/** A key's id: the sha256 (hex) of its public half as SPKI DER (`openssl pkey -pubin -outform DER | sha256sum`). */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');
}

/**
 * The scheme a key signs with, or a sentence saying why the key cannot sign artifacts
 * (an unsupported type or curve, an RSA key shorter than 2048 bits).
 */
export function algorithmOf(key: KeyObject): ArtifactSignatureAlgorithm | { problem: string } {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ed25519') return 'ed25519';
  if (type === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ecdsa-p256-sha256';
    return { problem: `it is an EC key on curve ${details.namedCurve ?? 'unknown'}; only P-256 (prime256v1) is supported` };
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return { problem: `it is a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are needed` };
    return 'rsa-pss-sha256';
  }
  return { problem: `it is a${type === 'ed448' || type === 'x25519' || type === 'x448' ? 'n' : ''} ${type ?? 'unknown'} key; expected Ed25519, ECDSA P-256 or RSA (2048 bits or more)` };
}

/** Whether `text` names a supported scheme. */
export function isArtifactSignatureAlgorithm(text: unknown): text is ArtifactSignatureAlgorithm {
  return typeof text === 'string' && (ARTIFACT_SIGNATURE_ALGORITHMS as readonly string[]).includes(text);
}

/** A signature of one version, ready to store or send (the private key is not in it). */
export interface ArtifactSignatureInput {
  model: string;
  version: number;
  keyId: string;
  algorithm: ArtifactSignatureAlgorithm;
  /** base64 */
  signature: string;
  /** the signer's public key, PEM (SPKI), so the receiver can check the signature before storing it */
  publicKey: string;
}

/**
 * Sign a version's statement with a private key (node:crypto; the key never leaves this process).
 * Throws INVALID_ARGUMENT for a key that cannot sign artifacts.
 *
 * @example
 * const key = readPrivateKeyFile('signing.pem');
 * const sig = signArtifact(key, 'fraud', 3, version.sha256);
 */
export function signArtifact(privateKey: KeyObject, model: string, version: number, sha256: string): ArtifactSignatureInput {
  if (privateKey.type !== 'private') {
    throw new BerthError('INVALID_ARGUMENT', 'key: expected a private key to sign with, got a public key', { field: 'key', expected: 'private key', got: privateKey.type });
  }
  const algorithm = algorithmOf(privateKey);
  if (typeof algorithm !== 'string') {
    throw new BerthError('INVALID_ARGUMENT', `key: cannot sign artifacts: ${algorithm.problem}`, { field: 'key', expected: 'Ed25519, ECDSA P-256 or RSA ≥ 2048 bits' });
  }
  const statement = artifactStatement(model, version, sha256);
  const signature = sign(digestOf(algorithm), statement, keyOptions(privateKey, algorithm));
  const pub = createPublicKey(privateKey);
  return {
    model,
    version,
    keyId: keyIdOf(pub),
    algorithm,
    signature: signature.toString('base64'),
    publicKey: pub.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * Whether `signature` (base64) is `publicKey`'s signature of the version's statement under
 * `algorithm`. Never throws: malformed input is simply not a valid signature.
 */
export function verifyArtifactSignature(
  publicKey: KeyObject,
  algorithm: string,
  model: string,
  version: number,
  sha256: string,
  signature: string,
): boolean {
  if (!isArtifactSignatureAlgorithm(algorithm) || algorithmOf(publicKey) !== algorithm) return false;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return false;
  try {
    return verify(digestOf(algorithm), artifactStatement(model, version, sha256), keyOptions(publicKey, algorithm), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * A private key from a PEM (or DER PKCS#8) file, for `berth sign`. Throws INVALID_ARGUMENT
 * naming the file when it cannot be read, is not a private key, or is encrypted without a passphrase.
 */
export function readPrivateKeyFile(path: string, passphrase?: string): KeyObject {
  const bytes = readKeyBytes(path, 'INVALID_ARGUMENT', 'key');
  const text = bytes.toString('utf8');
  if (/-----BEGIN (?:PUBLIC KEY|CERTIFICATE)-----/.test(text)) {
    throw new BerthError('INVALID_ARGUMENT', `key ${path} is a public key; sign with its private half (the public half goes to the server's artifacts.publicKeys)`, {
      field: 'key',
      got: path,
    });
  }
  try {
    return text.includes('-----BEGIN')
      ? createPrivateKey(passphrase !== undefined ? { key: text, format: 'pem', passphrase } : { key: text, format: 'pem' })
      : createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(text);
    const why = encrypted && passphrase === undefined ? 'it is encrypted; give its passphrase (--passphrase-env VAR)' : (err as Error).message;
    throw new BerthError('INVALID_ARGUMENT', `key ${path} is not a usable private key (${why})`, { field: 'key', got: path }, { cause: err });
  }
}

/**
 * A trusted public key from a PEM file (SPKI public key or X.509 certificate). Throws INVALID_CONFIG
 * (or `code`) naming the file when it cannot be read, holds a private key, or is not a key Berth can verify with.
 */
export function readPublicKeyFile(path: string, field = 'artifacts.publicKeys', code: 'INVALID_CONFIG' | 'INVALID_ARGUMENT' = 'INVALID_CONFIG'): KeyObject {
  const text = readKeyBytes(path, code, field).toString('utf8');
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new BerthError(
      code,
      `${field}: ${path} holds a private key; list the public half instead (openssl pkey -in ${path} -pubout -out public.pem) and keep the private key off the server`,
      { field, got: path },
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (err) {
    throw new BerthError(code, `${field}: ${path} is not a PEM public key (${(err as Error).message}); expected "-----BEGIN PUBLIC KEY-----"`, {
      field,
      got: path,
    }, { cause: err });
  }
  const algorithm = algorithmOf(key);
  if (typeof algorithm !== 'string') throw new BerthError(code, `${field}: ${path} cannot verify artifact signatures: ${algorithm.problem}`, { field, got: path });
  return key;
}

/** A public key sent as PEM text (a signature upload); INVALID_ARGUMENT when it is not one. */
export function parsePublicKeyPem(pem: unknown, field = 'publicKey'): KeyObject {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN PUBLIC KEY-----') || pem.length > 16_384) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: expected the signer's public key as PEM ("-----BEGIN PUBLIC KEY-----…"), got ${describe(pem)}`, {
      field,
      expected: 'PEM public key',
    });
  }
  try {
    return createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: not a readable PEM public key (${(err as Error).message})`, { field }, { cause: err });
  }
}

function readKeyBytes(path: string, code: 'INVALID_ARGUMENT' | 'INVALID_CONFIG', field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BerthError(code, `${field}: key file ${path} ${missing ? 'does not exist; check the path' : `cannot be read (${(err as Error).message})`}`, {
      field,
      got: path,
    }, { cause: err });
  }
}

function digestOf(algorithm: ArtifactSignatureAlgorithm): string | null {
  return algorithm === 'ed25519' ? null : 'sha256';
}

function keyOptions(key: KeyObject, algorithm: ArtifactSignatureAlgorithm): KeyObject | { key: KeyObject; padding?: number; saltLength?: number; dsaEncoding?: 'der' } {
  if (algorithm === 'rsa-pss-sha256') return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  if (algorithm === 'ecdsa-p256-sha256') return { key, dsaEncoding: 'der' };
  return key;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? `a ${v.length}-character string` : JSON.stringify(v);
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

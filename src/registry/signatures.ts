import type { Kysely, Selectable } from 'kysely';
import { BerthError } from '../core/index.js';
import type { ArtifactSignaturesTable, RegistryDatabase } from './metadata-store.js';

/*
 * Signatures of version artifacts, as the registry stores them (migration 5). The registry only
 * keeps rows; what a signature covers and whether a key is trusted is the security layer's
 * business (src/security/artifact-trust.ts).
 */

type Db = Kysely<RegistryDatabase>;

/** A signature stored beside a version: which key signed its artifact statement, when, and who sent it. */
export interface ArtifactSignatureRecord {
  model: string;
  version: number;
  /** sha256 (hex) of the signing key's public half, SPKI DER */
  keyId: string;
  /** `ed25519`, `ecdsa-p256-sha256` or `rsa-pss-sha256` */
  algorithm: string;
  /** base64 */
  signature: string;
  /** ISO 8601 */
  signedAt: string;
  signedAtMs: number;
  /** who stored it (the actor of the request) */
  signedBy: string;
}

/** A signature to store (one per key and version). */
export interface AddSignatureInput {
  model: string;
  version: number;
  keyId: string;
  algorithm: string;
  signature: string;
}

/** Refuse shapes no signature has: a key id that is not 64 hex digits, a non-base64 or oversized signature. */
export function checkSignatureInput(input: AddSignatureInput): void {
  const bad = (field: string, expected: string, got: unknown): BerthError =>
    new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${typeof got === 'string' && got.length > 80 ? `${got.slice(0, 77)}...` : JSON.stringify(got)}`, {
      field,
      expected,
    });
  if (typeof input.keyId !== 'string' || !/^[0-9a-f]{64}$/.test(input.keyId)) throw bad('keyId', "the key's sha256 fingerprint as 64 lowercase hex digits", input.keyId);
  if (typeof input.algorithm !== 'string' || !/^[a-z0-9-]{1,64}$/.test(input.algorithm)) throw bad('algorithm', 'a signature scheme such as ed25519', input.algorithm);
  if (typeof input.signature !== 'string' || input.signature.length > 4096 || !/^[A-Za-z0-9+/]+={0,2}$/.test(input.signature)) {
    throw bad('signature', 'base64 of at most 4096 characters', input.signature);
  }
}

/** The version's signatures, oldest first. */
export async function selectSignatures(db: Db, model: string, version: number): Promise<ArtifactSignatureRecord[]> {
  const rows = await db
    .selectFrom('artifact_signatures')
    .selectAll()
    .where('model', '=', model)
    .where('version', '=', version)
    .orderBy('signed_at')
    .orderBy('key_id')
    .execute();
  return rows.map(toSignatureRecord);
}

/**
 * Store a signature; a key signs a version once, so a new signature by the same key replaces the
 * old one. `previous` is what was replaced; `changed: false` when the very same signature was there.
 */
export async function upsertSignature(
  trx: Db,
  input: AddSignatureInput,
  now: number,
  actor: string,
): Promise<{ record: ArtifactSignatureRecord; previous: ArtifactSignatureRecord | null; changed: boolean }> {
  const existing = await trx
    .selectFrom('artifact_signatures')
    .selectAll()
    .where('model', '=', input.model)
    .where('version', '=', input.version)
    .where('key_id', '=', input.keyId)
    .executeTakeFirst();
  if (existing && existing.signature === input.signature && existing.algorithm === input.algorithm) {
    return { record: toSignatureRecord(existing), previous: null, changed: false };
  }
  const row = { model: input.model, version: input.version, key_id: input.keyId, algorithm: input.algorithm, signature: input.signature, signed_at: now, signed_by: actor };
  if (existing) {
    await trx
      .updateTable('artifact_signatures')
      .set({ algorithm: row.algorithm, signature: row.signature, signed_at: now, signed_by: actor })
      .where('model', '=', input.model)
      .where('version', '=', input.version)
      .where('key_id', '=', input.keyId)
      .execute();
  } else {
    await trx.insertInto('artifact_signatures').values(row).execute();
  }
  return { record: toSignatureRecord(row), previous: existing ? toSignatureRecord(existing) : null, changed: true };
}

function toSignatureRecord(row: Selectable<ArtifactSignaturesTable>): ArtifactSignatureRecord {
  const at = Number(row.signed_at);
  return {
    model: row.model,
    version: Number(row.version),
    keyId: row.key_id,
    algorithm: row.algorithm,
    signature: row.signature,
    signedAt: new Date(at).toISOString(),
    signedAtMs: at,
    signedBy: row.signed_by,
  };
}

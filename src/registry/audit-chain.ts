import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { AuditTable } from './metadata-store.js';

/**
 * The fields of one audit row that its hash covers, as stored (`details` is the stored JSON text;
 * it is hashed in canonical form, so a store that re-serialises JSON keeps the hash valid).
 */
export type AuditChainRow = Pick<Selectable<AuditTable>, 'id' | 'at' | 'actor' | 'action' | 'target' | 'model' | 'details' | 'source'>;

/**
 * JSON with object keys sorted (by UTF-16 code unit, as `Array.prototype.sort` does) and no
 * whitespace; numbers and strings as `JSON.stringify` writes them. This is the JSON
 * Canonicalization Scheme (RFC 8785) for the values JSON can carry, so a verifier in another
 * language can recompute every hash.
 *
 * @example
 * canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // undefined, functions and symbols have no JSON form; inside an object they are left out (below)
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * The text a row's hash is taken over: the canonical JSON of the row's fields and the previous
 * row's hash (`prevHash`, null for the first row). Throws SyntaxError when `details` is not JSON.
 */
export function canonicalAuditRow(prevHash: string | null, row: AuditChainRow): string {
  return canonicalJson({
    prevHash,
    id: row.id,
    at: row.at,
    actor: row.actor,
    action: row.action,
    target: row.target,
    model: row.model,
    details: JSON.parse(row.details) as unknown,
    source: row.source,
  });
}

/**
 * sha256 (lower-case hex) over `canonicalAuditRow(prevHash, row)` in UTF-8: the value of the row's
 * `hash` column, and the next row's `prev_hash`.
 *
 * @example
 * const h1 = hashAuditRow(null, first);
 * const h2 = hashAuditRow(h1, second);
 */
export function hashAuditRow(prevHash: string | null, row: AuditChainRow): string {
  return createHash('sha256').update(canonicalAuditRow(prevHash, row), 'utf8').digest('hex');
}

/** Why a row breaks the chain, or null if it links to `expectedPrev` and its hash is its own. */
export function checkAuditRow(
  expectedPrev: string | null,
  previousId: number | null,
  row: AuditChainRow & { prevHash: string | null; hash: string | null },
): string | null {
  if (row.hash === null) return 'the row has no hash (it was written outside Berth, or the chain was never built)';
  if (row.prevHash !== expectedPrev) {
    if (previousId === null) {
      return 'the first row links to an earlier row that is not there (rows before it were deleted)';
    }
    return `its prev_hash does not match the hash of row ${previousId} before it (a row between them was deleted or inserted, rows were reordered, or row ${previousId} was rewritten)`;
  }
  let computed: string;
  try {
    computed = hashAuditRow(row.prevHash, row);
  } catch {
    return 'its details are not valid JSON (the row was edited)';
  }
  if (computed !== row.hash) return 'its contents no longer match its hash (the row was edited after it was written)';
  return null;
}

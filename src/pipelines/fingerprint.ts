/**
 * Content fingerprints: of a dataset for lineage, of a step's inputs for its cache key. A
 * directory's fingerprint covers every file under it (names and contents, sorted), so moving it
 * elsewhere keeps the fingerprint and changing one byte changes it.
 */
import { createHash } from 'node:crypto';
import { open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../core/index.js';

export interface Fingerprint {
  sha256: string;
  bytes: number;
  /** files covered (1 for a file) */
  files: number;
}

/** Read size of hashing and copying: 1 MiB reads into one buffer run at the hash's own speed. */
const CHUNK = 1 << 20;

export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  let bytes = 0;
  const fh = await open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * Copy `from` to `to`, hashing as it goes; throws ARTIFACT_CORRUPTED (and leaves no `to`) when the
 * bytes do not hash to `sha256`.
 */
export async function copyVerified(from: string, to: string, sha256: string): Promise<void> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  const src = await open(from, 'r');
  const dst = await open(to, 'w');
  try {
    for (;;) {
      const { bytesRead } = await src.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      await dst.write(buf, 0, bytesRead);
    }
    await dst.sync();
  } finally {
    await src.close();
    await dst.close();
  }
  const got = hash.digest('hex');
  if (got !== sha256) {
    await rm(to, { force: true });
    throw new BerthError('ARTIFACT_CORRUPTED', `the stored blob ${sha256.slice(0, 12)}… hashes to ${got.slice(0, 12)}… now; it was not used (run the step again with --no-cache)`, { field: 'artifact', expected: sha256, got });
  }
}

/** Skipped inside directories: version-control metadata and Python bytecode caches change on their own. */
const SKIP = new Set(['.git', '__pycache__', '.DS_Store']);

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (SKIP.has(e.name)) continue;
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

/** The fingerprint of a file or a directory tree; a missing path is an error naming the field. */
export async function fingerprint(target: string, field: string): Promise<Fingerprint> {
  let st;
  try {
    st = await stat(target);
  } catch {
    throw new BerthError('INVALID_ARGUMENT', `${field}: ${JSON.stringify(target)} does not exist; inputs must exist before the step runs (write them in an earlier step, or fix the path)`, {
      field, expected: 'an existing file or directory', got: target,
    });
  }
  if (st.isFile()) return { ...(await hashFile(target)), files: 1 };
  const hash = createHash('sha256');
  let bytes = 0;
  const files = await listFiles(target);
  for (const f of files) {
    const h = await hashFile(path.join(target, f));
    hash.update(`${f}\0${h.sha256}\n`);
    bytes += h.bytes;
  }
  return { sha256: hash.digest('hex'), bytes, files: files.length };
}

/**
 * Content fingerprints: of a dataset for lineage, of a step's inputs for its cache key. A
 * directory's fingerprint covers every file under it (names and contents, sorted), so moving it
 * elsewhere keeps the fingerprint and changing one byte changes it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../core/index.js';

export interface Fingerprint {
  sha256: string;
  bytes: number;
  /** files covered (1 for a file) */
  files: number;
}

export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
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

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../core/index.js';

/**
 * File helpers the artifact stores share (the data dir's store and the S3 store's local cache):
 * content addresses, hashing, durable renames, temp-file cleanup.
 */

const SHA256_RE = /^[0-9a-f]{64}$/;

/** INVALID_ARGUMENT unless `sha256` is 64 lowercase hex digits. */
export function assertSha256(sha256: string): void {
  if (typeof sha256 !== 'string' || !SHA256_RE.test(sha256)) {
    throw new BerthError('INVALID_ARGUMENT', `sha256: expected 64 lowercase hex digits, got ${JSON.stringify(sha256)}`, {
      field: 'sha256',
      expected: SHA256_RE.source,
      got: sha256,
    });
  }
}

/** The sha256 (hex) of a file's bytes, streamed. */
export async function hashFile(p: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(p)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (isNodeError(err, 'ENOENT')) return false;
    throw err;
  }
}

export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; its rename is durable enough without it.
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function isNodeError(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/**
 * Delete the files in `tmpDir` older than `olderThanMs` (what a crashed write left behind; a write
 * running in another process right now keeps its younger file). Returns how many were removed.
 */
export async function removeStaleFiles(tmpDir: string, olderThanMs: number, now: number): Promise<number> {
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch (err) {
    if (isNodeError(err, 'ENOENT')) return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    const p = join(tmpDir, name);
    try {
      const st = await stat(p);
      if (st.isFile() && now - st.mtimeMs >= olderThanMs) {
        await unlink(p);
        removed++;
      }
    } catch (err) {
      if (!isNodeError(err, 'ENOENT')) throw err;
    }
  }
  return removed;
}

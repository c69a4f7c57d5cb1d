import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../core/index.js';

/**
 * File helpers the artifact stores and shared file stores share (the data dir's store, the S3
 * store's local cache, downloads): content addresses, hashing, durable renames, temp-file cleanup.
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

/** The temp-file name a durable write uses beside `dest`: hidden, and ending in `.tmp`. */
function tempNameBeside(dest: string): string {
  return join(dirname(dest), `.${basename(dest)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Write a stream to `dest` so that readers see the whole file or nothing: a hidden temp file beside
 * it (`.<name>.<pid>.<hex>.tmp`), fsync, rename over `dest`, fsync the folder. Missing folders are
 * created (again, if a cleanup removed an empty one meanwhile). On failure the temp file is removed
 * and `dest` is untouched; the body is destroyed.
 */
export async function writeFileAtomic(dest: string, body: Readable): Promise<void> {
  const dir = dirname(dest);
  let fh: FileHandle | undefined;
  let tmp = '';
  try {
    for (let attempt = 1; fh === undefined; attempt++) {
      await mkdir(dir, { recursive: true });
      tmp = tempNameBeside(dest);
      try {
        fh = await open(tmp, 'wx', 0o644);
      } catch (err) {
        if (!isNodeError(err, 'ENOENT') || attempt >= 3) throw err;
      }
    }
  } catch (err) {
    body.destroy();
    throw err;
  }
  try {
    // the stream closes the handle when it finishes or fails
    await pipeline(body, fh.createWriteStream());
    await fsyncPath(tmp);
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../core/index.js';
import type { ArtifactStore, StoredArtifact } from './artifact-store.js';
import { assertSha256, exists, fsyncDir, fsyncPath, hashFile, isNodeError, removeStaleFiles } from './blob-files.js';

/**
 * Blobs as files under `<root>/sha256/ab/abcdef…` (root is usually `<dataDir>/artifacts`).
 *
 * A put streams the source through sha256 into `<root>/tmp/`, fsyncs it, renames it into place
 * and fsyncs the directory, so a crash leaves either the whole blob or a stray temp file that
 * nothing reads and `removeStaleTempFiles` deletes.
 */
export class FsArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  private get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  path(sha256: string): string {
    assertSha256(sha256);
    return join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.path(sha256))).isFile();
    } catch (err) {
      if (isNodeError(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async put(srcPath: string): Promise<StoredArtifact> {
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${process.pid}-${randomUUID()}.tmp`);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    try {
      await pipeline(
        createReadStream(srcPath),
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            sizeBytes += chunk.length;
            cb(null, chunk);
          },
        }),
        createWriteStream(tmp, { flags: 'wx', mode: 0o644 }),
      );
      await fsyncPath(tmp);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (isNodeError(err, 'ENOENT') || isNodeError(err, 'EISDIR')) {
        throw new BerthError('INVALID_ARGUMENT', `cannot read ${srcPath}: no such file (check the path)`, { field: 'file', got: srcPath }, { cause: err });
      }
      throw err;
    }
    const sha256 = hash.digest('hex');
    const finalPath = this.path(sha256);
    const shardDir = join(this.root, 'sha256', sha256.slice(0, 2));

    if (await this.has(sha256)) {
      // Same address, so normally the same bytes: keep the existing blob. If it rotted on disk,
      // replace it, which is what makes "register the file again" a repair.
      if ((await hashFile(finalPath)) === sha256) {
        await unlink(tmp);
        return { sha256, sizeBytes };
      }
    }
    const createdShard = !(await exists(shardDir));
    await mkdir(shardDir, { recursive: true });
    await chmod(tmp, 0o444);
    await rename(tmp, finalPath);
    await fsyncDir(shardDir);
    if (createdShard) {
      await fsyncDir(join(this.root, 'sha256'));
      await fsyncDir(this.root);
    }
    return { sha256, sizeBytes };
  }

  async read(sha256: string): Promise<Buffer> {
    const p = this.path(sha256);
    let bytes: Buffer;
    try {
      bytes = await readFile(p);
    } catch (err) {
      if (isNodeError(err, 'ENOENT')) {
        throw new BerthError(
          'ARTIFACT_CORRUPTED',
          `artifact sha256:${sha256} is missing from ${p}; it will not be served. ` +
            'Re-register the model file (berth models register <name> <file>) to restore it.',
          { expected: sha256, got: null, path: p },
          { cause: err },
        );
      }
      throw err;
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) {
      throw new BerthError(
        'ARTIFACT_CORRUPTED',
        `artifact sha256:${sha256} at ${p} is corrupted: its content hashes to ${actual}, expected ${sha256}; ` +
          'it will not be served. Re-register the model file (berth models register <name> <file>) to restore it.',
        { expected: sha256, got: actual, path: p },
      );
    }
    return bytes;
  }

  /**
   * Delete temp files a crashed put left behind. Only files older than `olderThanMs` go, so a put
   * running in another process right now keeps its file. Returns how many were removed.
   */
  async removeStaleTempFiles(olderThanMs = 60 * 60 * 1000, now = Date.now()): Promise<number> {
    return removeStaleFiles(this.tmpDir, olderThanMs, now);
  }
}


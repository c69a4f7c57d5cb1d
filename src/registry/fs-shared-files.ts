import { open, readdir, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError } from '../core/index.js';
import { isNodeError, writeFileAtomic } from './blob-files.js';
import { assertSharedKey, assertSharedPrefix, type SharedFiles } from './shared-files.js';

/**
 * Shared files in a folder every replica mounts (NFS, a shared volume): key `a/b/c` is the file
 * `<root>/a/b/c`. Writes go to a hidden temp file beside the target, are fsynced and renamed into
 * place, so a reader never sees half a file; `list` skips hidden names. `delete` also removes the
 * folders it leaves empty (never `root` itself).
 *
 * @example
 * const files = new FsSharedFiles('/mnt/berth');
 * await files.put('inference-log/deployment=x/hour=2026-11-24T10/part-a-1-1.parquet', local);
 */
export class FsSharedFiles implements SharedFiles {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  get location(): string {
    return this.root;
  }

  /** The file a key names. */
  path(key: string): string {
    return join(this.root, ...assertSharedKey(key).split('/'));
  }

  async put(key: string, localPath: string): Promise<void> {
    const dest = this.path(key);
    await writeFileAtomic(dest, await openSource(localPath, () => new BerthError('INVALID_ARGUMENT', `cannot read ${localPath}: no such file (check the path)`, { field: 'file', got: localPath })));
  }

  async list(prefix: string): Promise<string[]> {
    assertSharedPrefix(prefix);
    // walk only the deepest folder the prefix names whole
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? '' : prefix.slice(0, cut);
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isNodeError(err, 'ENOENT') || isNodeError(err, 'ENOTDIR')) return;
        throw err;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const key = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) {
          if (prefix.startsWith(key) || key.startsWith(prefix)) await walk(join(dir, e.name), key);
        } else if (e.isFile() && key.startsWith(prefix)) {
          out.push(key);
        }
      }
    };
    await walk(base === '' ? this.root : join(this.root, ...base.split('/')), base);
    return out;
  }

  async get(key: string, destPath: string): Promise<void> {
    const src = this.path(key);
    await writeFileAtomic(destPath, await openSource(src, () => new BerthError('NOT_FOUND', `shared file ${JSON.stringify(key)} is not in ${this.root}`, { field: 'key', got: key })));
  }

  async delete(keys: readonly string[]): Promise<void> {
    const paths = keys.map((k) => this.path(k));
    const dirs = new Set<string>();
    for (const p of paths) {
      try {
        await unlink(p);
      } catch (err) {
        if (!isNodeError(err, 'ENOENT')) throw err;
      }
      dirs.add(dirname(p));
    }
    // deepest first, so a parent is tried after its children
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await this.removeEmptyDirs(dir);
  }

  async close(): Promise<void> {}

  /** Remove `dir` and its parents up to (not including) root while they are empty. */
  private async removeEmptyDirs(dir: string): Promise<void> {
    for (let d = dir; d.startsWith(this.root) && d !== this.root; d = dirname(d)) {
      try {
        await rmdir(d);
      } catch (err) {
        if (isNodeError(err, 'ENOTEMPTY') || isNodeError(err, 'EEXIST') || isNodeError(err, 'ENOENT')) return;
        throw err;
      }
    }
  }
}

/** A read stream of a regular file that exists now (opened before any temp file is made). */
async function openSource(p: string, missing: () => BerthError): Promise<Readable> {
  let fh: FileHandle;
  try {
    fh = await open(p, 'r');
  } catch (err) {
    if (isNodeError(err, 'ENOENT') || isNodeError(err, 'ENOTDIR')) throw missing();
    throw err;
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw missing();
  }
  return fh.createReadStream();
}

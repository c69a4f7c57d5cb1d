import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArtifactStore } from './fs-artifact-store.js';

let dir: string;
let store: FsArtifactStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-artifacts-'));
  store = new FsArtifactStore(join(dir, 'artifacts'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function source(name: string, content: string | Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, content);
  return p;
}

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

// What every artifact store must do (layout, corruption, repair, malformed addresses, missing
// sources) runs against this store in test/registry/artifact-store-conformance.test.ts; here is
// only what is the data dir's own.
describe('FsArtifactStore', () => {
  it('stores identical content once', async () => {
    const a = await store.put(await source('a.onnx', 'same bytes'));
    const before = await stat(store.path(a.sha256));
    const b = await store.put(await source('b.onnx', 'same bytes'));
    expect(b).toEqual(a);
    expect((await stat(store.path(a.sha256))).ino).toBe(before.ino);
    expect(await readdir(join(dir, 'artifacts', 'sha256', a.sha256.slice(0, 2)))).toEqual([a.sha256]);
    expect(await readdir(join(dir, 'artifacts', 'tmp'))).toEqual([]);
  });

  it('ignores temp files left by a crash and removes only stale ones', async () => {
    const tmp = join(dir, 'artifacts', 'tmp');
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, '123-old.tmp'), 'half a model');
    await writeFile(join(tmp, '456-fresh.tmp'), 'being written right now');
    const hourAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(join(tmp, '123-old.tmp'), hourAgo, hourAgo);
    expect(await store.has(sha('half a model'))).toBe(false);
    expect(await store.removeStaleTempFiles()).toBe(1);
    expect(await readdir(tmp)).toEqual(['456-fresh.tmp']);
  });

  it('makes stored blobs read-only', async () => {
    const { sha256 } = await store.put(await source('m.onnx', 'x'));
    expect((await stat(store.path(sha256))).mode & 0o222).toBe(0);
    expect((await readFile(store.path(sha256))).toString()).toBe('x');
  });
});

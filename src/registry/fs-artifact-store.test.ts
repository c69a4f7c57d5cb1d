import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/index.js';
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

async function expectCode(p: Promise<unknown>, code: string): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe(code);
    return err as BerthError;
  }
  throw new Error(`expected ${code}`);
}

describe('FsArtifactStore', () => {
  it('stores a file under sha256/<first two hex digits>/<sha256> and returns its hash and size', async () => {
    const content = Buffer.alloc(300_000, 7);
    const stored = await store.put(await source('model.onnx', content));
    expect(stored).toEqual({ sha256: sha(content), sizeBytes: 300_000 });
    expect(store.path(stored.sha256)).toBe(join(dir, 'artifacts', 'sha256', stored.sha256.slice(0, 2), stored.sha256));
    expect(await store.has(stored.sha256)).toBe(true);
    expect((await store.read(stored.sha256)).equals(content)).toBe(true);
    expect(await readdir(join(dir, 'artifacts', 'tmp'))).toEqual([]);
  });

  it('stores identical content once', async () => {
    const a = await store.put(await source('a.onnx', 'same bytes'));
    const before = await stat(store.path(a.sha256));
    const b = await store.put(await source('b.onnx', 'same bytes'));
    expect(b).toEqual(a);
    expect((await stat(store.path(a.sha256))).ino).toBe(before.ino);
    expect(await readdir(join(dir, 'artifacts', 'sha256', a.sha256.slice(0, 2)))).toEqual([a.sha256]);
    expect(await readdir(join(dir, 'artifacts', 'tmp'))).toEqual([]);
  });

  it('detects a corrupted blob on read, naming the blob, both hashes and the fix', async () => {
    const { sha256 } = await store.put(await source('m.onnx', 'original model bytes'));
    const p = store.path(sha256);
    await chmod(p, 0o644);
    await writeFile(p, 'flipped model bytes!');
    const err = await expectCode(store.read(sha256), 'ARTIFACT_CORRUPTED');
    expect(err.message).toContain(`artifact sha256:${sha256}`);
    expect(err.message).toContain(`hashes to ${sha('flipped model bytes!')}, expected ${sha256}`);
    expect(err.message).toContain('Re-register the model file');
    expect(err.context).toMatchObject({ expected: sha256, got: sha('flipped model bytes!') });
  });

  it('reports a missing blob as corrupted', async () => {
    const err = await expectCode(store.read(sha('never stored')), 'ARTIFACT_CORRUPTED');
    expect(err.message).toContain('is missing');
  });

  it('repairs a corrupted blob when the same content is put again', async () => {
    const src = await source('m.onnx', 'original model bytes');
    const { sha256 } = await store.put(src);
    await chmod(store.path(sha256), 0o644);
    await writeFile(store.path(sha256), 'rot');
    await store.put(src);
    expect((await store.read(sha256)).toString()).toBe('original model bytes');
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

  it('refuses a malformed address instead of touching paths outside the store', async () => {
    await expectCode(store.read('../../etc/passwd'), 'INVALID_ARGUMENT');
    expect(() => store.path('ABC')).toThrow(BerthError);
  });

  it('refuses a missing source file and leaves no temp file behind', async () => {
    const err = await expectCode(store.put(join(dir, 'nope.onnx')), 'INVALID_ARGUMENT');
    expect(err.message).toContain('no such file');
    expect(await readdir(join(dir, 'artifacts', 'tmp'))).toEqual([]);
  });

  it('makes stored blobs read-only', async () => {
    const { sha256 } = await store.put(await source('m.onnx', 'x'));
    expect((await stat(store.path(sha256))).mode & 0o222).toBe(0);
    expect((await readFile(store.path(sha256))).toString()).toBe('x');
  });
});

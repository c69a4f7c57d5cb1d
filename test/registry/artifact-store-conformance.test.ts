/*
 * One ArtifactStore suite, run against every implementation: the filesystem store always, the S3
 * store against an s3rver started here. BERTH_TEST_ARTIFACT_STORES=fs,s3 narrows the list.
 */
import { createHash, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { FsArtifactStore, S3ArtifactStore, type ArtifactStore } from '../../src/registry/index.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from './s3rver-harness.js';
import { expectCode } from '../helpers/expect-code.js';

interface OpenedStore {
  store: ArtifactStore;
  /** where `path()` puts blobs: `<root>/sha256/ab/abcdef…` */
  root: string;
  /** temp files of puts in flight */
  tmpDir: string;
  /** Replace a stored blob's bytes behind the store's back, where the store would next read them. */
  corrupt(sha256: string, bytes: string): Promise<void>;
  close(): Promise<void>;
}

interface StoreHarness {
  name: string;
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
  open(dir: string): Promise<OpenedStore>;
}

let s3: TestS3 | undefined;
const BUCKET = 'conformance';

const ALL: StoreHarness[] = [
  {
    name: 'fs',
    open: async (dir) => {
      const store = new FsArtifactStore(join(dir, 'artifacts'));
      return {
        store,
        root: join(dir, 'artifacts'),
        tmpDir: join(dir, 'artifacts', 'tmp'),
        corrupt: async (sha256, bytes) => {
          await chmod(store.path(sha256), 0o644);
          await writeFile(store.path(sha256), bytes);
        },
        close: async () => undefined,
      };
    },
  },
  {
    name: 's3',
    setUp: async () => {
      s3 = await startS3rver();
      await s3.createBucket(BUCKET);
    },
    tearDown: async () => {
      await s3?.stop();
    },
    open: async (dir) => {
      const server = s3!;
      const store = new S3ArtifactStore({
        bucket: BUCKET,
        prefix: `t-${randomUUID()}`,
        cacheDir: join(dir, 'artifact-cache'),
        endpoint: server.endpoint,
        credentials: S3RVER_CREDENTIALS,
      });
      return {
        store,
        root: join(dir, 'artifact-cache'),
        tmpDir: join(dir, 'artifact-cache', 'tmp'),
        // The bucket is the truth: overwrite the object there and drop the local cached copy.
        corrupt: async (sha256, bytes) => {
          await server.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: store.key(sha256), Body: bytes }));
          await rm(store.path(sha256), { force: true });
        },
        close: async () => store.close(),
      };
    },
  },
];
const wanted = process.env['BERTH_TEST_ARTIFACT_STORES']?.split(',').map((s) => s.trim());
const STORES = ALL.filter((s) => !wanted || wanted.includes(s.name));

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

async function listOrEmpty(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

describe.each(STORES)('ArtifactStore conformance: $name', (harness) => {
  let dir: string;
  let opened: OpenedStore;
  let store: ArtifactStore;

  beforeAll(async () => harness.setUp?.());
  afterAll(async () => harness.tearDown?.());

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `berth-artifacts-${harness.name}-`));
    opened = await harness.open(dir);
    store = opened.store;
  });

  afterEach(async () => {
    await opened.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function source(name: string, content: string | Buffer): Promise<string> {
    const p = join(dir, name);
    await writeFile(p, content);
    return p;
  }

  it('stores a file under its sha256 and returns its hash and size', async () => {
    const content = Buffer.alloc(300_000, 7);
    const stored = await store.put(await source('model.onnx', content));
    expect(stored).toEqual({ sha256: sha(content), sizeBytes: 300_000 });
    expect(store.path(stored.sha256)).toBe(join(opened.root, 'sha256', stored.sha256.slice(0, 2), stored.sha256));
    expect(await store.has(stored.sha256)).toBe(true);
    expect((await store.read(stored.sha256)).equals(content)).toBe(true);
    expect(await listOrEmpty(opened.tmpDir)).toEqual([]);
  });

  it('stores identical content once', async () => {
    const a = await store.put(await source('a.onnx', 'same bytes'));
    const b = await store.put(await source('b.onnx', 'same bytes'));
    expect(b).toEqual(a);
    expect(await readdir(join(opened.root, 'sha256', a.sha256.slice(0, 2)))).toEqual([a.sha256]);
    expect((await store.read(a.sha256)).toString()).toBe('same bytes');
    expect(await listOrEmpty(opened.tmpDir)).toEqual([]);
  });

  it('says it does not have content it was never given', async () => {
    expect(await store.has(sha('never stored'))).toBe(false);
  });

  it('detects a corrupted blob on read, naming the blob, both hashes and the fix', async () => {
    const { sha256 } = await store.put(await source('m.onnx', 'original model bytes'));
    await opened.corrupt(sha256, 'flipped model bytes!');
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
    await opened.corrupt(sha256, 'rot');
    await store.put(src);
    expect((await store.read(sha256)).toString()).toBe('original model bytes');
  });

  it('refuses a malformed address instead of touching paths outside the store', async () => {
    await expectCode(store.read('../../etc/passwd'), 'INVALID_ARGUMENT');
    await expectCode(store.has('../../etc/passwd'), 'INVALID_ARGUMENT');
    expect(() => store.path('ABC')).toThrow(BerthError);
  });

  it('refuses a missing source file and leaves no temp file behind', async () => {
    const err = await expectCode(store.put(join(dir, 'nope.onnx')), 'INVALID_ARGUMENT');
    expect(err.message).toContain('no such file');
    expect(await listOrEmpty(opened.tmpDir)).toEqual([]);
  });
});

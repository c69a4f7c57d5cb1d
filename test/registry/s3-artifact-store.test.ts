import { createHash, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { FsArtifactStore, S3ArtifactStore, openArtifactStore, parseS3ArtifactsUrl, type S3ArtifactStoreOptions } from '../../src/registry/index.js';
import { S3RVER_CREDENTIALS, countCommands, startS3rver, type TestS3 } from './s3rver-harness.js';
import { expectCode, pathExists } from '../helpers/expect-code.js';

const BUCKET = 'berth-models';
const MiB = 1024 * 1024;
let s3: TestS3;
let dir: string;
let prefix: string;
const stores: S3ArtifactStore[] = [];

beforeAll(async () => {
  s3 = await startS3rver();
  await s3.createBucket(BUCKET);
});

afterAll(async () => {
  await s3.stop();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-s3-store-'));
  prefix = `models/${randomUUID()}`;
});

afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

/** One replica: its own cache dir, the shared bucket and prefix. */
function replica(name: string, opts: Partial<S3ArtifactStoreOptions> = {}): S3ArtifactStore {
  const store = new S3ArtifactStore({
    bucket: BUCKET,
    prefix,
    cacheDir: join(dir, name, 'artifact-cache'),
    endpoint: s3.endpoint,
    credentials: S3RVER_CREDENTIALS,
    ...opts,
  });
  stores.push(store);
  return store;
}

async function source(name: string, content: string | Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, content);
  return p;
}

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

describe('S3ArtifactStore', () => {
  it('uploads to <prefix>/sha256/<ab>/<sha256> with the hash as metadata, and keeps a read-only cached copy', async () => {
    const content = Buffer.from('model bytes for the bucket');
    const store = replica('a');
    const { sha256 } = await store.put(await source('m.onnx', content));
    const key = `${prefix}/sha256/${sha256.slice(0, 2)}/${sha256}`;
    expect(store.key(sha256)).toBe(key);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentLength).toBe(content.length);
    expect(head.Metadata).toMatchObject({ sha256 });
    const remote = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(Buffer.from(await remote.Body!.transformToByteArray()).equals(content)).toBe(true);
    expect((await stat(store.path(sha256))).mode & 0o222).toBe(0);
  });

  it('does not upload content the bucket already holds, from this replica or another', async () => {
    const a = replica('a');
    const b = replica('b');
    const aCalls = countCommands(a.client);
    const bCalls = countCommands(b.client);
    const src = await source('m.onnx', 'same model');
    await a.put(src);
    await a.put(src);
    const stored = await b.put(src);
    expect(aCalls.get('PutObjectCommand')).toBe(1);
    expect(aCalls.get('HeadObjectCommand')).toBe(2);
    expect(bCalls.get('PutObjectCommand')).toBeUndefined();
    expect((await b.read(stored.sha256)).toString()).toBe('same model');
    expect(bCalls.get('GetObjectCommand')).toBeUndefined();
  });

  it('lets a second replica read what the first wrote, downloading it once', async () => {
    const content = Buffer.alloc(200_000, 3);
    const writer = replica('writer');
    const reader = replica('reader');
    const writerCalls = countCommands(writer.client);
    const readerCalls = countCommands(reader.client);
    const { sha256 } = await writer.put(await source('m.onnx', content));
    expect(await pathExists(reader.path(sha256))).toBe(false);
    expect((await reader.read(sha256)).equals(content)).toBe(true);
    expect((await reader.read(sha256)).equals(content)).toBe(true);
    expect(await reader.fetchToCache(sha256)).toBe(join(dir, 'reader', 'artifact-cache', 'sha256', sha256.slice(0, 2), sha256));
    expect(readerCalls.get('GetObjectCommand')).toBe(1);
    expect((await writer.read(sha256)).equals(content)).toBe(true);
    expect(writerCalls.get('GetObjectCommand')).toBeUndefined();
    expect(await readdir(join(dir, 'reader', 'artifact-cache', 'tmp'))).toEqual([]);
  });

  it('shares one download between concurrent reads of a missing artifact', async () => {
    const content = Buffer.alloc(2 * MiB, 9);
    const { sha256 } = await replica('writer').put(await source('m.onnx', content));
    const reader = replica('reader');
    const calls = countCommands(reader.client);
    const all = await Promise.all(Array.from({ length: 8 }, () => reader.read(sha256)));
    expect(all.every((b) => b.equals(content))).toBe(true);
    expect(calls.get('GetObjectCommand')).toBe(1);
  });

  it('refuses a tampered object: ARTIFACT_CORRUPTED, the download deleted, nothing cached', async () => {
    const { sha256 } = await replica('writer').put(await source('m.onnx', 'honest weights'));
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/sha256/${sha256.slice(0, 2)}/${sha256}`, Body: 'evil weights!!' }));
    const reader = replica('reader');
    const err = await expectCode(reader.read(sha256), 'ARTIFACT_CORRUPTED');
    expect(err.message).toContain(`s3://${BUCKET}/${prefix}/sha256/`);
    expect(err.message).toContain(`hashes to ${sha('evil weights!!')}, expected ${sha256}`);
    expect(await pathExists(reader.path(sha256))).toBe(false);
    expect(await readdir(join(dir, 'reader', 'artifact-cache', 'tmp'))).toEqual([]);
    // and it stays refused: a later read downloads again rather than trusting anything
    await expectCode(reader.read(sha256), 'ARTIFACT_CORRUPTED');
  });

  it('re-verifies a cached copy after a restart and fetches it again when it rotted', async () => {
    const content = 'weights that will rot in the cache';
    const { sha256 } = await replica('r').put(await source('m.onnx', content));
    const cached = join(dir, 'r', 'artifact-cache', 'sha256', sha256.slice(0, 2), sha256);
    await chmod(cached, 0o644);
    await writeFile(cached, 'rotten bytes');
    const restarted = replica('r');
    const calls = countCommands(restarted.client);
    expect((await restarted.read(sha256)).toString()).toBe(content);
    expect(calls.get('GetObjectCommand')).toBe(1);
    // a good cached copy is trusted after a restart without a download
    const again = replica('r');
    const againCalls = countCommands(again.client);
    expect((await again.read(sha256)).toString()).toBe(content);
    expect(againCalls.get('GetObjectCommand')).toBeUndefined();
  });

  it('uploads a large file in parts and reads it back identical on another replica', async () => {
    // 150 MiB in which every 1 MiB block carries its index, so a reordered or dropped part shows.
    const size = 150 * MiB;
    const src = join(dir, 'large.onnx');
    const fh = await open(src, 'w');
    const block = Buffer.alloc(MiB, 0xab);
    const hash = createHash('sha256');
    for (let i = 0; i < size / MiB; i++) {
      block.writeUInt32BE(i, 0);
      block.writeUInt32BE(i, MiB - 4);
      hash.update(block);
      await fh.write(block);
    }
    await fh.close();
    const expected = hash.digest('hex');

    const writer = replica('writer', { multipartThresholdBytes: 64 * MiB, partSizeBytes: 64 * MiB });
    const calls = countCommands(writer.client);
    const started = Date.now();
    const stored = await writer.put(src);
    expect(stored).toEqual({ sha256: expected, sizeBytes: size });
    expect(calls.get('CreateMultipartUploadCommand')).toBe(1);
    expect(calls.get('UploadPartCommand')).toBe(3);
    expect(calls.get('CompleteMultipartUploadCommand')).toBe(1);
    expect(calls.get('PutObjectCommand')).toBeUndefined();
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: writer.key(expected) }));
    expect(head.ContentLength).toBe(size);
    expect(head.Metadata).toMatchObject({ sha256: expected });

    const bytes = await replica('reader').read(expected);
    expect(bytes.length).toBe(size);
    expect(sha(bytes)).toBe(expected);
    expect(bytes.readUInt32BE(149 * MiB)).toBe(149);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('names the bucket and prefix, and what to do, when the bucket does not exist', async () => {
    const store = replica('a', { bucket: 'no-such-bucket' });
    const src = await source('m.onnx', 'x');
    for (const call of [() => store.put(src), () => store.read(sha('x')), () => store.has(sha('x'))]) {
      const err = await expectCode(call(), 'INVALID_CONFIG');
      expect(err.message).toContain(`s3://no-such-bucket/${prefix}`);
      expect(err.message).toContain('does not exist');
      expect(err.message).toContain('aws s3 mb s3://no-such-bucket');
    }
    expect(await readdir(join(dir, 'a', 'artifact-cache', 'tmp'))).toEqual([]);
  });

  it('reports denied access without revealing the credentials', async () => {
    // s3rver does not check SigV4 signatures, only that the access key id exists
    const secret = 'not-the-right-secret-8c1f';
    const store = replica('a', { credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: secret } });
    const err = await expectCode(store.has(sha('x')), 'INVALID_CONFIG');
    expect(err.message).toContain(`s3://${BUCKET}/${prefix}`);
    expect(err.message).toContain('access denied');
    expect(err.message).toContain('AWS_ACCESS_KEY_ID');
    expect(err.message).not.toContain(secret);
    expect(JSON.stringify(err.context)).not.toContain(secret);
  });

  it('says the store cannot be reached when the network is down', async () => {
    const store = replica('a', { endpoint: 'http://127.0.0.1:9', maxAttempts: 1 });
    const err = await expectCode(store.read(sha('x')), 'INTERNAL');
    expect(err.message).toContain(`s3://${BUCKET}/${prefix} at http://127.0.0.1:9`);
    expect(err.message).toContain('cannot reach S3 (ECONNREFUSED');
  });
});

describe('parseS3ArtifactsUrl', () => {
  it('reads bucket, prefix, endpoint, region and path style from the URL', () => {
    expect(parseS3ArtifactsUrl('s3://models/berth/prod/?endpoint=http://minio:9000&region=eu-west-1&pathStyle=false', {})).toEqual({
      bucket: 'models',
      prefix: 'berth/prod',
      endpoint: 'http://minio:9000',
      region: 'eu-west-1',
      forcePathStyle: false,
    });
    expect(parseS3ArtifactsUrl('s3://models', {})).toEqual({ bucket: 'models', prefix: '' });
  });

  it('takes the endpoint from BERTH_S3_ENDPOINT when the URL has none', () => {
    expect(parseS3ArtifactsUrl('s3://models/p', { BERTH_S3_ENDPOINT: 'http://s3.local:9000' }).endpoint).toBe('http://s3.local:9000');
    expect(parseS3ArtifactsUrl('s3://models/p?endpoint=http://a:1', { BERTH_S3_ENDPOINT: 'http://b:2' }).endpoint).toBe('http://a:1');
  });

  it('refuses credentials in the URL without repeating them', () => {
    try {
      parseS3ArtifactsUrl('s3://AKIAXXXX:supersecret@models/p', {});
      expect.unreachable();
    } catch (err) {
      expect((err as BerthError).code).toBe('INVALID_CONFIG');
      expect((err as BerthError).message).toContain('AWS_ACCESS_KEY_ID');
      expect((err as BerthError).message).not.toContain('supersecret');
    }
  });

  it('refuses bad bucket names, unknown parameters and non-http endpoints', () => {
    expect(() => parseS3ArtifactsUrl('s3://Bad_Bucket/p', {})).toThrow(/not a valid S3 bucket name/);
    expect(() => parseS3ArtifactsUrl('s3://models/p?endpiont=http://a', {})).toThrow(/unknown parameter \?endpiont=/);
    expect(() => parseS3ArtifactsUrl('s3://models/p?endpoint=minio:9000', {})).toThrow(/not an http\(s\) URL/);
  });
});

describe('openArtifactStore', () => {
  it('opens the filesystem store under the data dir for no URL or file:', () => {
    for (const url of [null, '', 'file:']) {
      const store = openArtifactStore(url, { dataDir: dir });
      expect(store).toBeInstanceOf(FsArtifactStore);
      expect((store as FsArtifactStore).root).toBe(join(dir, 'artifacts'));
    }
    expect((openArtifactStore(`file://${join(dir, 'elsewhere')}`, { dataDir: dir }) as FsArtifactStore).root).toBe(join(dir, 'elsewhere'));
  });

  it('opens the S3 store with its cache under <dataDir>/artifact-cache', async () => {
    const store = openArtifactStore(`s3://${BUCKET}/${prefix}?endpoint=${s3.endpoint}`, { dataDir: dir, env: {} });
    expect(store).toBeInstanceOf(S3ArtifactStore);
    const s = store as S3ArtifactStore;
    stores.push(s);
    expect(s.cacheDir).toBe(join(dir, 'artifact-cache'));
    expect(s.location).toBe(`s3://${BUCKET}/${prefix}`);
    expect(store.path(sha('x'))).toBe(join(dir, 'artifact-cache', 'sha256', sha('x').slice(0, 2), sha('x')));
  });

  it('refuses an unknown scheme, naming only the scheme', () => {
    expect(() => openArtifactStore('gs://user:secret@bucket/p', { dataDir: dir })).toThrow(/unsupported scheme gs:; expected file:/);
    expect(() => openArtifactStore('gs://user:secret@bucket/p', { dataDir: dir })).not.toThrow(/secret/);
  });
});

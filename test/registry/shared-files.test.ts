/*
 * One conformance suite for every SharedFiles: a folder (FsSharedFiles) and S3 (S3SharedFiles on a
 * real s3rver, several listing pages). Then what each does beyond the contract, and which store an
 * artifacts URL opens.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { FsSharedFiles, S3SharedFiles, openArtifactStore, openSharedFiles, type SharedFiles } from '../../src/registry/index.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from './s3rver-harness.js';
import { expectCode, pathExists } from '../helpers/expect-code.js';

const BUCKET = 'berth-shared';
let s3: TestS3;
let dir: string;
const opened: SharedFiles[] = [];

beforeAll(async () => {
  // more than one listing page needs s3rver's continuation tokens, hence its legacy ciphers
  s3 = await startS3rver({ legacyCiphers: true });
  await s3.createBucket(BUCKET);
});

afterAll(async () => {
  await s3.stop();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-shared-files-'));
});

afterEach(async () => {
  for (const f of opened.splice(0)) await f.close();
  await rm(dir, { recursive: true, force: true });
});

function s3Files(prefix = `berth/${randomUUID()}`, bucket = BUCKET): S3SharedFiles {
  const files = new S3SharedFiles({ bucket, prefix, endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS, listPageSize: 2, maxAttempts: 1 });
  opened.push(files);
  return files;
}

const IMPLEMENTATIONS: { name: string; open: () => SharedFiles }[] = [
  { name: 'FsSharedFiles', open: () => new FsSharedFiles(join(dir, 'shared')) },
  { name: 'S3SharedFiles', open: () => s3Files() },
];

async function source(name: string, content: string | Buffer): Promise<string> {
  const p = join(dir, 'src', name);
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(p, content);
  return p;
}

const HOUR = 'inference-log/deployment=fraud/hour=2026-11-24T10';

for (const impl of IMPLEMENTATIONS) {
  describe(`${impl.name} (conformance)`, () => {
    it('gets back the bytes it was given, and a second put replaces them', async () => {
      const files = impl.open();
      const key = `${HOUR}/part-a-1-1.parquet`;
      await files.put(key, await source('one', 'first bytes'));
      const dest = join(dir, 'out', 'nested', 'copy.parquet');
      await files.get(key, dest);
      expect(await readFile(dest, 'utf8')).toBe('first bytes');
      await files.put(key, await source('two', Buffer.alloc(70_000, 7)));
      await files.get(key, dest);
      expect(await readFile(dest)).toEqual(Buffer.alloc(70_000, 7));
      expect(await files.list('')).toEqual([key]);
    });

    it('lists every key under a prefix across pages, whole or partial segments, and nothing else', async () => {
      const files = impl.open();
      const keys = [
        ...Array.from({ length: 7 }, (_, i) => `${HOUR}/part-a-${i}-1.parquet`),
        'inference-log/deployment=fraud/hour=2026-11-24T11/part-b-1-1.parquet',
        // fraud_eu, not fraud-eu: s3rver lists by folder, so a key sorting before its sibling
        // folder's ("fraud-eu/" < "fraud/") falls out of a paged listing there (real S3 sorts keys)
        'inference-log/deployment=fraud_eu/hour=2026-11-24T10/part-a-1-1.parquet',
        'other/file.txt',
      ];
      const src = await source('x', 'x');
      for (const k of keys) await files.put(k, src);
      const sorted = (xs: string[]): string[] => [...xs].sort();
      expect(sorted(await files.list(''))).toEqual(sorted(keys));
      expect(sorted(await files.list('inference-log/deployment=fraud/'))).toEqual(sorted(keys.slice(0, 8)));
      expect(sorted(await files.list(`${HOUR}/`))).toEqual(sorted(keys.slice(0, 7)));
      expect(sorted(await files.list('inference-log/deployment=fraud'))).toEqual(sorted(keys.slice(0, 9)));
      expect(await files.list('inference-log/deployment=fraud/hour=2026-11-24T1')).toHaveLength(8);
      expect(await files.list('inference-log/deployment=nobody/')).toEqual([]);
    });

    it('answers NOT_FOUND for a missing key and creates no file', async () => {
      const files = impl.open();
      const dest = join(dir, 'out', 'missing.parquet');
      const err = await expectCode(files.get(`${HOUR}/nope.parquet`, dest), 'NOT_FOUND');
      expect(err.message).toContain(files.location);
      expect(await pathExists(dest)).toBe(false);
    });

    it('leaves an existing destination whole when a get fails, and no temp file behind', async () => {
      const files = impl.open();
      const out = join(dir, 'out');
      await mkdir(out, { recursive: true });
      await writeFile(join(out, 'kept.parquet'), 'old');
      await expectCode(files.get(`${HOUR}/nope.parquet`, join(out, 'kept.parquet')), 'NOT_FOUND');
      expect(await readFile(join(out, 'kept.parquet'), 'utf8')).toBe('old');
      // a destination under a file cannot be written: fails before anything is created
      const key = `${HOUR}/part-a-1-1.parquet`;
      await files.put(key, await source('y', 'y'));
      await expect(files.get(key, join(out, 'kept.parquet', 'below'))).rejects.toThrow();
      expect(await readdir(out)).toEqual(['kept.parquet']);
    });

    it('refuses keys that could escape the store or collide with temp files', async () => {
      const files = impl.open();
      const src = await source('z', 'z');
      const bad = ['', '/abs/key', 'a/../b', '..', 'a\\b', 'a//b', 'a/', './a', 'a/.hidden', 'a/b\u0000c'];
      for (const key of bad) {
        const err = await expectCode(files.put(key, src), 'INVALID_ARGUMENT');
        expect(err.context.field).toBe('key');
        await expectCode(files.get(key, join(dir, 'out', 'x')), 'INVALID_ARGUMENT');
        await expectCode(files.delete(['ok/key', key]), 'INVALID_ARGUMENT');
      }
      await expectCode(files.list('../'), 'INVALID_ARGUMENT');
      await expectCode(files.list('/abs/'), 'INVALID_ARGUMENT');
      expect(await files.list('')).toEqual([]);
    });

    it('refuses a local file that does not exist, storing nothing', async () => {
      const files = impl.open();
      const err = await expectCode(files.put(`${HOUR}/a.parquet`, join(dir, 'no-such-file')), 'INVALID_ARGUMENT');
      expect(err.message).toContain('no such file');
      expect(await files.list('')).toEqual([]);
    });

    it('deletes the keys it is given, ignoring missing ones', async () => {
      const files = impl.open();
      const src = await source('d', 'd');
      const keys = Array.from({ length: 5 }, (_, i) => `${HOUR}/part-a-${i}-1.parquet`);
      for (const k of keys) await files.put(k, src);
      await files.delete([keys[0]!, keys[3]!, `${HOUR}/never-was.parquet`]);
      expect((await files.list('')).sort()).toEqual([keys[1], keys[2], keys[4]]);
      await files.delete([]);
      // one at a time: s3rver deletes a batch's keys concurrently, and those emptying one folder race
      // to remove it (500 InternalError); real S3 has no folders
      for (const k of [keys[1]!, keys[2]!, keys[4]!]) await files.delete([k]);
      expect(await files.list('')).toEqual([]);
      await expectCode(files.get(keys[1]!, join(dir, 'out', 'gone')), 'NOT_FOUND');
    });
  });
}

describe('FsSharedFiles', () => {
  it('keeps key a/b/c at <root>/a/b/c, hides temp files from list, and removes folders a delete empties', async () => {
    const root = join(dir, 'shared');
    const files = new FsSharedFiles(root);
    const key = `${HOUR}/part-a-1-1.parquet`;
    await files.put(key, await source('a', 'bytes'));
    expect(await readFile(join(root, ...key.split('/')), 'utf8')).toBe('bytes');
    await writeFile(join(root, HOUR, '.part-a-2-2.parquet.123.abc.tmp'), 'half');
    expect(await files.list('')).toEqual([key]);
    await rm(join(root, HOUR, '.part-a-2-2.parquet.123.abc.tmp'));
    await files.delete([key]);
    expect(await readdir(root)).toEqual([]);
    expect(await pathExists(root)).toBe(true);
  });
});

describe('S3SharedFiles', () => {
  it('stores key k as the object <prefix>/k', async () => {
    const prefix = `berth/${randomUUID()}`;
    const files = s3Files(`/${prefix}/`);
    expect(files.location).toBe(`s3://${BUCKET}/${prefix}`);
    await files.put(`${HOUR}/a.parquet`, await source('a', 'in the bucket'));
    const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}/${HOUR}/a.parquet` }));
    expect(await out.Body!.transformToString()).toBe('in the bucket');
  });

  it('leaves no partial file when the download breaks off midway', async () => {
    const files = s3Files();
    const key = `${HOUR}/big.parquet`;
    await files.put(key, await source('big', Buffer.alloc(4 * 1024 * 1024, 1)));
    // the real response body, cut after its first chunk
    files.client.middlewareStack.add(
      (next) => async (args) => {
        const r = await next(args);
        const out = r.output as { Body?: unknown };
        if (out.Body instanceof Readable) {
          const body = out.Body;
          let sent = false;
          // read() runs only once the consumer reads, so its error handlers are in place
          out.Body = new Readable({
            read() {
              if (sent) {
                body.destroy();
                this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
                return;
              }
              const pull = (): void => {
                const chunk = body.read() as Buffer | null;
                if (chunk === null) {
                  body.once('readable', pull);
                  return;
                }
                sent = true;
                this.push(chunk);
              };
              pull();
            },
          });
        }
        return r;
      },
      { step: 'initialize', name: 'berthTestCutBody' },
    );
    const out = join(dir, 'out');
    await mkdir(out, { recursive: true });
    const err = await expectCode(files.get(key, join(out, 'big.parquet')), 'INTERNAL');
    expect(err.message).toContain('cannot reach S3 (ECONNRESET on GetObject)');
    expect(await readdir(out)).toEqual([]);
  });

  it('says the bucket is missing, naming it and never credentials', async () => {
    const files = s3Files('berth', 'no-such-bucket');
    const err = await expectCode(files.put(`${HOUR}/a.parquet`, await source('a', 'a')), 'INVALID_CONFIG');
    expect(err.message).toContain('shared file store s3://no-such-bucket/berth');
    expect(err.message).toContain('bucket "no-such-bucket" does not exist');
    expect(err.message).not.toContain(S3RVER_CREDENTIALS.secretAccessKey);
    await expectCode(files.list(''), 'INVALID_CONFIG');
  });

  it('refuses a list page size S3 would not honour', () => {
    expect(() => new S3SharedFiles({ bucket: BUCKET, listPageSize: 1001 })).toThrow(/listPageSize must be an integer from 1 to 1000/);
  });
});

describe('openSharedFiles', () => {
  it('opens nothing for the data dir store: every process using it is on this machine', () => {
    for (const url of [null, '', ' ', 'file:', 'file://']) expect(openSharedFiles(url, { dataDir: dir })).toBeNull();
  });

  it('opens a folder for file:///abs/dir, its keys beside the artifacts', async () => {
    const url = `file://${join(dir, 'store')}`;
    const files = openSharedFiles(url, { dataDir: join(dir, 'data') });
    expect(files).toBeInstanceOf(FsSharedFiles);
    expect(files!.location).toBe(join(dir, 'store'));
    const artifacts = openArtifactStore(url, { dataDir: join(dir, 'data') });
    const src = await source('m', 'model bytes');
    const { sha256 } = await artifacts.put(src);
    await files!.put(`${HOUR}/a.parquet`, src);
    expect((await readdir(join(dir, 'store'))).sort()).toEqual(['inference-log', 'sha256', 'tmp']);
    expect((await artifacts.read(sha256)).toString()).toBe('model bytes');
    expect(await files!.list('inference-log/')).toEqual([`${HOUR}/a.parquet`]);
  });

  it('opens S3 under the artifacts prefix for s3:// URLs', async () => {
    const prefix = `berth/${randomUUID()}`;
    const files = openSharedFiles(`s3://${BUCKET}/${prefix}?pathStyle=true`, { dataDir: dir, env: { BERTH_S3_ENDPOINT: s3.endpoint } });
    expect(files).toBeInstanceOf(S3SharedFiles);
    opened.push(files!);
    expect(files!.location).toBe(`s3://${BUCKET}/${prefix}`);
    expect((files as S3SharedFiles).prefix).toBe(prefix);
  });

  it('refuses other schemes and malformed URLs with INVALID_CONFIG', () => {
    for (const url of ['http://example.com/x', 's3://Bad_Bucket/x', 's3://user:secret@bucket/x', 'file://otherhost/dir']) {
      let err: unknown;
      try {
        openSharedFiles(url, { dataDir: dir });
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(BerthError);
      expect((err as BerthError).code, url).toBe('INVALID_CONFIG');
      expect((err as BerthError).message).not.toContain('secret');
    }
  });
});

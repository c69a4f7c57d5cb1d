import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BerthError, silentLogger, type Logger } from '../../core/index.js';
import type { ArtifactStore, StoredArtifact } from '../artifact-store.js';
import { assertSha256, exists, fsyncDir, fsyncPath, hashFile, isNodeError, removeStaleFiles } from '../blob-files.js';
import { createS3Client, getObjectStream, isS3KeyMissing, normaliseS3Prefix, s3Location, translateS3Error, type S3ConnectionOptions } from './s3-client.js';

const MiB = 1024 * 1024;
/** S3 refuses uploads of more than 10 000 parts. */
const MAX_PARTS = 10_000;
/** user metadata key holding the lowercase hex sha256 (`x-amz-meta-sha256`) */
const SHA_METADATA_KEY = 'sha256';

export interface S3ArtifactStoreOptions extends S3ConnectionOptions {
  /** local cache root: blobs land in `<cacheDir>/sha256/ab/abcdef…` (usually `<dataDir>/artifact-cache`) */
  cacheDir: string;
  /** files larger than this go through a multipart upload (default 64 MiB) */
  multipartThresholdBytes?: number;
  /** multipart part size (default 64 MiB; S3 wants at least 5 MiB for every part but the last) */
  partSizeBytes?: number;
  logger?: Logger;
}

/**
 * Blobs in S3 under `<prefix>/sha256/ab/abcdef…`, read through a verified local cache.
 *
 * `put` streams the source through sha256 into the cache's temp dir (so the writing replica never
 * downloads its own blob), asks S3 whether the key already holds that content (HeadObject: same
 * size and `x-amz-meta-sha256`), and uploads only if not — PutObject up to
 * `multipartThresholdBytes`, a multipart upload above, with `ChecksumSHA256` on every request so
 * real S3 verifies the bytes it receives.
 *
 * `read` downloads a blob once into the cache (temp file, fsync, rename), verifies its sha256 and
 * serves from there; a download that does not hash to its address is deleted and reported as
 * ARTIFACT_CORRUPTED. Concurrent reads of one missing blob share one download. Like
 * FsArtifactStore, every `read` hashes the bytes it returns; a cached copy that rotted is dropped
 * and fetched again, since the bucket is the source of truth.
 *
 * @example
 * const store = new S3ArtifactStore({ bucket: 'models', prefix: 'berth', cacheDir: '.berth/artifact-cache' });
 * const { sha256 } = await store.put('model.onnx');
 * const bytes = await store.read(sha256);
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly cacheDir: string;
  /** The SDK client; exposed so tests and metrics can add middleware. */
  readonly client: S3Client;
  private readonly endpoint: string | undefined;
  private readonly multipartThresholdBytes: number;
  private readonly partSizeBytes: number;
  private readonly logger: Logger;
  /** cached blobs verified since this process started */
  private readonly verified = new Set<string>();
  private readonly fetching = new Map<string, Promise<string>>();
  private bucketChecked: Promise<void> | undefined;

  constructor(opts: S3ArtifactStoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = normaliseS3Prefix(opts.prefix);
    this.cacheDir = opts.cacheDir;
    this.endpoint = opts.endpoint;
    this.multipartThresholdBytes = opts.multipartThresholdBytes ?? 64 * MiB;
    this.partSizeBytes = opts.partSizeBytes ?? 64 * MiB;
    if (!(this.partSizeBytes > 0) || !(this.multipartThresholdBytes >= 0)) {
      throw new BerthError('INVALID_CONFIG', `S3 artifact store: partSizeBytes and multipartThresholdBytes must be positive, got ${this.partSizeBytes} and ${this.multipartThresholdBytes}`, {
        field: 'artifacts',
      });
    }
    this.logger = opts.logger ?? silentLogger;
    this.client = createS3Client(opts);
  }

  /** `s3://bucket/prefix`, for messages. */
  get location(): string {
    return s3Location(this.bucket, this.prefix);
  }

  /** Object key of a blob: `<prefix>/sha256/ab/abcdef…`. */
  key(sha256: string): string {
    assertSha256(sha256);
    return `${this.prefix ? `${this.prefix}/` : ''}sha256/${sha256.slice(0, 2)}/${sha256}`;
  }

  /** Path of the blob's local cache copy; it exists once `read` or `fetchToCache` fetched it. */
  path(sha256: string): string {
    assertSha256(sha256);
    return join(this.cacheDir, 'sha256', sha256.slice(0, 2), sha256);
  }

  private get tmpDir(): string {
    return join(this.cacheDir, 'tmp');
  }

  async has(sha256: string): Promise<boolean> {
    const key = this.key(sha256);
    await this.checkBucket();
    return (await this.head(key)) !== null;
  }

  async put(srcPath: string): Promise<StoredArtifact> {
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${process.pid}-${randomUUID()}.tmp`);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    try {
      await pipeline(createReadStream(srcPath), hashing(hash, (n) => (sizeBytes += n)), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      await fsyncPath(tmp);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (isNodeError(err, 'ENOENT') || isNodeError(err, 'EISDIR')) {
        throw new BerthError('INVALID_ARGUMENT', `cannot read ${srcPath}: no such file (check the path)`, { field: 'file', got: srcPath }, { cause: err });
      }
      throw err;
    }
    const sha256 = hash.digest('hex');
    const key = this.key(sha256);
    try {
      await this.checkBucket();
      const existing = await this.head(key);
      // Same address, size and recorded hash: the bucket holds these bytes already. Anything else
      // (no metadata, other size) is replaced, which makes "register the file again" a repair.
      if (!existing || existing.sizeBytes !== sizeBytes || existing.sha256 !== sha256) {
        if (sizeBytes > this.multipartThresholdBytes) await this.uploadMultipart(tmp, key, sha256, sizeBytes);
        else await this.uploadSingle(tmp, key, sha256, sizeBytes);
        this.logger.info('artifact uploaded', { sha256, sizeBytes, location: `s3://${this.bucket}/${key}`, replaced: existing !== null });
      }
      await this.placeInCache(tmp, sha256);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return { sha256, sizeBytes };
  }

  async read(sha256: string): Promise<Buffer> {
    assertSha256(sha256);
    for (let attempt = 1; ; attempt++) {
      const p = await this.fetchToCache(sha256);
      const bytes = await readFile(p);
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (actual === sha256) return bytes;
      // The cached copy rotted after it was verified: drop it and fetch again, once.
      this.verified.delete(sha256);
      await unlinkIfPresent(p);
      this.logger.warn('cached artifact corrupted; fetching it again', { sha256, path: p, got: actual });
      if (attempt >= 2) throw this.corrupted(sha256, actual, p);
    }
  }

  /**
   * Make sure the blob is in the local cache and verified, downloading it if needed, and return its
   * path. A cached copy is hashed once per process before it is trusted.
   */
  fetchToCache(sha256: string): Promise<string> {
    assertSha256(sha256);
    const running = this.fetching.get(sha256);
    if (running) return running;
    const p = this.ensureCached(sha256).finally(() => this.fetching.delete(sha256));
    this.fetching.set(sha256, p);
    return p;
  }

  /**
   * Delete cache temp files a crashed put or download left behind, if older than `olderThanMs`.
   * Returns how many were removed.
   */
  async removeStaleTempFiles(olderThanMs = 60 * 60 * 1000, now = Date.now()): Promise<number> {
    return removeStaleFiles(this.tmpDir, olderThanMs, now);
  }

  /** Close the client's sockets. */
  close(): void {
    this.client.destroy();
  }

  private async ensureCached(sha256: string): Promise<string> {
    const p = this.path(sha256);
    if (this.verified.has(sha256) && (await isFile(p))) return p;
    this.verified.delete(sha256);
    if (await isFile(p)) {
      const actual = await hashFile(p);
      if (actual === sha256) {
        this.verified.add(sha256);
        return p;
      }
      this.logger.warn('cached artifact corrupted; fetching it again', { sha256, path: p, got: actual });
      await unlinkIfPresent(p);
    }
    await this.download(sha256);
    this.verified.add(sha256);
    return p;
  }

  private async download(sha256: string): Promise<void> {
    const key = this.key(sha256);
    await this.checkBucket();
    let body: Readable;
    try {
      body = await getObjectStream(this.client, this.bucket, key);
    } catch (err) {
      if (isS3KeyMissing(err)) {
        throw new BerthError(
          'ARTIFACT_CORRUPTED',
          `artifact sha256:${sha256} is missing from s3://${this.bucket}/${key}; it will not be served. ` +
            'Re-register the model file (berth models register <name> <file>) to restore it.',
          { expected: sha256, got: null, path: `s3://${this.bucket}/${key}` },
          { cause: err },
        );
      }
      throw this.s3Error(err, 'GetObject', key);
    }
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${process.pid}-${randomUUID()}.download`);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    try {
      await pipeline(body, hashing(hash, (n) => (sizeBytes += n)), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      await fsyncPath(tmp);
    } catch (err) {
      await unlinkIfPresent(tmp);
      throw this.s3Error(err, 'GetObject', key);
    }
    const actual = hash.digest('hex');
    if (actual !== sha256) {
      await unlinkIfPresent(tmp);
      throw this.corrupted(sha256, actual, `s3://${this.bucket}/${key}`);
    }
    await this.placeInCache(tmp, sha256);
    this.logger.info('artifact downloaded into the cache', { sha256, sizeBytes, from: `s3://${this.bucket}/${key}` });
  }

  private async placeInCache(tmp: string, sha256: string): Promise<void> {
    const shardDir = join(this.cacheDir, 'sha256', sha256.slice(0, 2));
    const createdShard = !(await exists(shardDir));
    await mkdir(shardDir, { recursive: true });
    await chmod(tmp, 0o444);
    await rename(tmp, this.path(sha256));
    await fsyncDir(shardDir);
    if (createdShard) {
      await fsyncDir(join(this.cacheDir, 'sha256'));
      await fsyncDir(this.cacheDir);
    }
    this.verified.add(sha256);
  }

  private async uploadSingle(file: string, key: string, sha256: string, sizeBytes: number): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: createReadStream(file),
          ContentLength: sizeBytes,
          ContentType: 'application/octet-stream',
          ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
          Metadata: { [SHA_METADATA_KEY]: sha256 },
        }),
      );
    } catch (err) {
      throw this.s3Error(err, 'PutObject', key);
    }
  }

  private async uploadMultipart(file: string, key: string, sha256: string, sizeBytes: number): Promise<void> {
    const partSize = Math.max(this.partSizeBytes, Math.ceil(sizeBytes / MAX_PARTS));
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ContentType: 'application/octet-stream',
          ChecksumAlgorithm: 'SHA256',
          Metadata: { [SHA_METADATA_KEY]: sha256 },
        }),
      );
      uploadId = created.UploadId;
      if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
      const parts: CompletedPart[] = [];
      const fh = await open(file, 'r');
      try {
        for (let partNumber = 1, offset = 0; offset < sizeBytes; partNumber++, offset += partSize) {
          const buf = await readExactly(fh, offset, Math.min(partSize, sizeBytes - offset));
          const checksum = createHash('sha256').update(buf).digest('base64');
          const out = await this.client.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: buf,
              ContentLength: buf.length,
              ChecksumSHA256: checksum,
            }),
          );
          parts.push({ PartNumber: partNumber, ETag: out.ETag, ChecksumSHA256: checksum });
        }
      } finally {
        await fh.close();
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      if (uploadId) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch((abortErr: unknown) => {
          this.logger.warn('could not abort a failed multipart upload; a bucket lifecycle rule for incomplete uploads will clean it', {
            key,
            uploadId,
            error: abortErr instanceof Error ? abortErr.name : String(abortErr),
          });
        });
      }
      throw this.s3Error(err, 'multipart upload', key);
    }
  }

  /** The object's size and recorded sha256, or null when the key does not exist. */
  private async head(key: string): Promise<{ sizeBytes: number; sha256: string | undefined } | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { sizeBytes: out.ContentLength ?? -1, sha256: out.Metadata?.[SHA_METADATA_KEY] };
    } catch (err) {
      if (isS3KeyMissing(err)) return null;
      throw this.s3Error(err, 'HeadObject', key);
    }
  }

  /**
   * HeadBucket once (until it succeeds), so a missing bucket reads as such instead of as a
   * missing artifact: HeadObject answers 404 for both.
   */
  private checkBucket(): Promise<void> {
    this.bucketChecked ??= this.client.send(new HeadBucketCommand({ Bucket: this.bucket })).then(
      () => undefined,
      (err: unknown) => {
        this.bucketChecked = undefined;
        throw this.s3Error(err, 'HeadBucket');
      },
    );
    return this.bucketChecked;
  }

  private corrupted(sha256: string, actual: string, where: string): BerthError {
    return new BerthError(
      'ARTIFACT_CORRUPTED',
      `artifact sha256:${sha256} at ${where} is corrupted: its content hashes to ${actual}, expected ${sha256}; ` +
        'it will not be served. Re-register the model file (berth models register <name> <file>) to restore it.',
      { expected: sha256, got: actual, path: where },
    );
  }

  /** Translate an SDK or network error; messages name the bucket and prefix, never credentials. */
  private s3Error(err: unknown, op: string, key?: string): BerthError {
    return translateS3Error(err, { what: 'artifact store', bucket: this.bucket, prefix: this.prefix, endpoint: this.endpoint, actions: 's3:GetObject/s3:PutObject' }, op, key);
  }
}

function hashing(hash: ReturnType<typeof createHash>, count: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      count(chunk.length);
      cb(null, chunk);
    },
  });
}

async function readExactly(fh: import('node:fs/promises').FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new Error(`file ended at ${position + filled} bytes, expected ${position + length}`);
    filled += bytesRead;
  }
  return buf;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch (err) {
    if (isNodeError(err, 'ENOENT')) return false;
    throw err;
  }
}

async function unlinkIfPresent(p: string): Promise<void> {
  try {
    await unlink(p);
  } catch (err) {
    if (!isNodeError(err, 'ENOENT')) throw err;
  }
}

/** Where an `s3://` artifacts URL points, parsed by `parseS3ArtifactsUrl`. */
export interface S3ArtifactsLocation {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const URL_PARAMS = ['endpoint', 'region', 'pathStyle'] as const;

/**
 * Parse `s3://bucket/prefix[?endpoint=URL&region=R&pathStyle=true|false]`.
 *
 * The endpoint (for S3-compatible servers) comes from `?endpoint=`, else `BERTH_S3_ENDPOINT`; the
 * region from `?region=`, else the SDK's AWS_REGION / AWS_DEFAULT_REGION, else us-east-1.
 * Credentials never go in the URL: they come from the SDK's default chain (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, instance role).
 *
 * @example
 * parseS3ArtifactsUrl('s3://models/berth?endpoint=http://minio:9000')
 * // { bucket: 'models', prefix: 'berth', endpoint: 'http://minio:9000' }
 */
export function parseS3ArtifactsUrl(url: string, env: Record<string, string | undefined> = process.env): S3ArtifactsLocation {
  const bad = (why: string): BerthError =>
    new BerthError('INVALID_CONFIG', `artifacts url: ${why}; expected s3://bucket/prefix[?endpoint=http://host:port&region=us-east-1]`, {
      field: 'artifacts.url',
      expected: 's3://bucket/prefix',
    });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('not a URL');
  }
  if (u.protocol !== 's3:') throw bad(`scheme ${JSON.stringify(u.protocol)} is not s3:`);
  if (u.username || u.password) {
    // Never echo the URL: it holds a secret.
    throw bad('credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) instead');
  }
  const bucket = u.hostname;
  if (!BUCKET_RE.test(bucket)) throw bad(`bucket ${JSON.stringify(bucket)} is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)`);
  const prefix = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
  for (const k of u.searchParams.keys()) {
    if (!(URL_PARAMS as readonly string[]).includes(k)) throw bad(`unknown parameter ?${k}= (known: ${URL_PARAMS.join(', ')})`);
  }
  const endpoint = u.searchParams.get('endpoint') ?? env['BERTH_S3_ENDPOINT'] ?? undefined;
  if (endpoint !== undefined) {
    let e: URL | undefined;
    try {
      e = new URL(endpoint);
    } catch {
      e = undefined;
    }
    if (!e || (e.protocol !== 'http:' && e.protocol !== 'https:')) throw bad(`endpoint ${JSON.stringify(endpoint)} is not an http(s) URL`);
    if (e.username || e.password) throw bad('credentials do not belong in the endpoint URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead');
  }
  const pathStyle = u.searchParams.get('pathStyle');
  if (pathStyle !== null && pathStyle !== 'true' && pathStyle !== 'false') throw bad(`pathStyle must be true or false, got ${JSON.stringify(pathStyle)}`);
  const region = u.searchParams.get('region');
  return {
    bucket,
    prefix,
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(pathStyle !== null ? { forcePathStyle: pathStyle === 'true' } : {}),
  };
}

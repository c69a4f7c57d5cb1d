import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BerthError } from '../../core/index.js';
import { hashFile, isNodeError, writeFileAtomic } from '../blob-files.js';
import { assertSharedKey, assertSharedPrefix, isSharedKey, type SharedFiles } from '../shared-files.js';
import { createS3Client, getObjectStream, isS3KeyMissing, normaliseS3Prefix, s3Location, translateS3Error, type S3ConnectionOptions, type S3ErrorSubject } from './s3-client.js';

const MiB = 1024 * 1024;
/** S3's most keys per DeleteObjects request and per ListObjectsV2 page. */
const S3_BATCH = 1000;
/** Files up to this size are uploaded from memory, so the SDK can retry a failed request. */
const BUFFERED_UPLOAD_BYTES = 32 * MiB;

export interface S3SharedFilesOptions extends S3ConnectionOptions {
  /** keys per ListObjectsV2 page (default and most 1000; tests use a few to cross pages) */
  listPageSize?: number;
}

/**
 * Shared files in S3: key `a/b` is the object `<prefix>/a/b`. A PutObject replaces an object whole
 * (readers never see half of one), with `ChecksumSHA256` so S3 verifies the bytes it receives;
 * `get` streams into a hidden temp file beside the destination and renames it into place;
 * `delete` sends DeleteObjects 1000 keys at a time. Errors name the bucket and prefix, never
 * credentials.
 *
 * @example
 * const files = new S3SharedFiles({ bucket: 'berth-prod', prefix: 'berth' });
 * for (const key of await files.list('inference-log/deployment=fraud/')) await files.get(key, join(dir, key));
 */
export class S3SharedFiles implements SharedFiles {
  readonly bucket: string;
  readonly prefix: string;
  /** The SDK client; exposed so tests and metrics can add middleware. */
  readonly client: S3Client;
  private readonly pageSize: number;
  private readonly subject: S3ErrorSubject;

  constructor(opts: S3SharedFilesOptions) {
    this.bucket = opts.bucket;
    this.prefix = normaliseS3Prefix(opts.prefix);
    this.pageSize = opts.listPageSize ?? S3_BATCH;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > S3_BATCH) {
      throw new BerthError('INVALID_CONFIG', `S3 shared files: listPageSize must be an integer from 1 to ${S3_BATCH}, got ${this.pageSize}`, { field: 'listPageSize', got: this.pageSize });
    }
    this.subject = { what: 'shared file store', bucket: this.bucket, prefix: this.prefix, endpoint: opts.endpoint, actions: 's3:GetObject/s3:PutObject/s3:DeleteObject' };
    this.client = createS3Client(opts);
  }

  get location(): string {
    return s3Location(this.bucket, this.prefix);
  }

  /** The object key of a shared key: `<prefix>/<key>`. */
  objectKey(key: string): string {
    return this.objectPrefix + assertSharedKey(key);
  }

  private get objectPrefix(): string {
    return this.prefix ? `${this.prefix}/` : '';
  }

  async put(key: string, localPath: string): Promise<void> {
    const objectKey = this.objectKey(key);
    let size: number;
    try {
      const st = await stat(localPath);
      if (!st.isFile()) throw Object.assign(new Error(`${localPath} is not a file`), { code: 'EISDIR' });
      size = st.size;
    } catch (err) {
      if (isNodeError(err, 'ENOENT') || isNodeError(err, 'EISDIR')) {
        throw new BerthError('INVALID_ARGUMENT', `cannot read ${localPath}: no such file (check the path)`, { field: 'file', got: localPath }, { cause: err });
      }
      throw err;
    }
    const buffered = size <= BUFFERED_UPLOAD_BYTES;
    const bytes = buffered ? await readFile(localPath) : null;
    const sha256 = bytes ? createHash('sha256').update(bytes).digest('base64') : Buffer.from(await hashFile(localPath), 'hex').toString('base64');
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: bytes ?? createReadStream(localPath),
          ContentLength: bytes?.length ?? size,
          ContentType: 'application/octet-stream',
          ChecksumSHA256: sha256,
        }),
      );
    } catch (err) {
      throw translateS3Error(err, this.subject, 'PutObject', objectKey);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const full = this.objectPrefix + assertSharedPrefix(prefix);
    const out: string[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, MaxKeys: this.pageSize, ...(token !== undefined ? { ContinuationToken: token } : {}) }),
        );
      } catch (err) {
        throw translateS3Error(err, this.subject, 'ListObjectsV2', full);
      }
      for (const o of page.Contents ?? []) {
        const key = o.Key?.slice(this.objectPrefix.length);
        // objects someone else put under the prefix with names we would refuse are not ours
        if (key !== undefined && isSharedKey(key)) out.push(key);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  }

  async get(key: string, destPath: string): Promise<void> {
    const objectKey = this.objectKey(key);
    let body: Readable;
    try {
      body = await getObjectStream(this.client, this.bucket, objectKey);
    } catch (err) {
      if (isS3KeyMissing(err)) {
        throw new BerthError('NOT_FOUND', `shared file ${JSON.stringify(key)} is not in ${this.location}`, { field: 'key', got: key }, { cause: err });
      }
      throw translateS3Error(err, this.subject, 'GetObject', objectKey);
    }
    try {
      await writeFileAtomic(destPath, body);
    } catch (err) {
      throw translateS3Error(err, this.subject, 'GetObject', objectKey);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const objectKeys = keys.map((k) => this.objectKey(k));
    for (let i = 0; i < objectKeys.length; i += S3_BATCH) {
      const chunk = objectKeys.slice(i, i + S3_BATCH);
      let errors;
      try {
        const out = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true } }));
        errors = out.Errors ?? [];
      } catch (err) {
        throw translateS3Error(err, this.subject, 'DeleteObjects', chunk[0]);
      }
      const failed = errors.filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0]!;
        throw translateS3Error(
          Object.assign(new Error(`${failed.length} of ${chunk.length} keys were not deleted; first ${first.Key}: ${first.Code ?? '?'} ${first.Message ?? ''}`.trim()), {
            name: first.Code ?? 'DeleteObjectsError',
            Code: first.Code,
          }),
          this.subject,
          'DeleteObjects',
          first.Key,
        );
      }
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { BerthError } from '../../core/index.js';

/**
 * What the S3 stores share: the connection options, the client they build from them, and how an
 * SDK or network error becomes a BerthError that names the bucket and prefix, never credentials.
 */

/** Where a store lives in S3 and how to reach it. */
export interface S3ConnectionOptions {
  bucket: string;
  /** key prefix without leading or trailing slash ('' for the bucket root) */
  prefix?: string;
  /** default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1 */
  region?: string;
  /** S3-compatible server (MinIO, Ceph, s3rver…); AWS itself needs none */
  endpoint?: string;
  /** path-style addressing (`endpoint/bucket/key`); default: true when `endpoint` is set */
  forcePathStyle?: boolean;
  /** default: the SDK's default chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE, web identity, instance role) */
  credentials?: S3ClientConfig['credentials'];
  /** SDK attempts per request (default 3); streamed uploads are never retried by the SDK */
  maxAttempts?: number;
}

/** The prefix without leading or trailing slashes. */
export function normaliseS3Prefix(prefix: string | undefined): string {
  return (prefix ?? '').replace(/^\/+|\/+$/g, '');
}

/** `s3://bucket/prefix`, for messages. */
export function s3Location(bucket: string, prefix: string): string {
  return `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
}

export function createS3Client(opts: S3ConnectionOptions): S3Client {
  const region = opts.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1';
  return new S3Client({
    region,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    maxAttempts: opts.maxAttempts ?? 3,
    // We send ChecksumSHA256 ourselves; the SDK's default CRC32 would stream bodies with
    // aws-chunked trailers, which several S3-compatible servers cannot read.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** GetObject's body as a Node stream (SDK errors thrown as they come). */
export async function getObjectStream(client: S3Client, bucket: string, key: string): Promise<Readable> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!(out.Body instanceof Readable)) throw new Error('GetObject returned no stream body');
  return out.Body;
}

/** Which store an error is about, for its message and context. */
export interface S3ErrorSubject {
  /** `artifact store`, `shared file store`… */
  what: string;
  bucket: string;
  prefix: string;
  endpoint: string | undefined;
  /** the S3 actions the store needs under its prefix, named when access is denied */
  actions: string;
}

/** Translate an SDK or network error; messages name the bucket and prefix, never credentials. */
export function translateS3Error(err: unknown, subject: S3ErrorSubject, op: string, key?: string): BerthError {
  if (err instanceof BerthError) return err;
  const { bucket, prefix, endpoint } = subject;
  const name = s3ErrorName(err);
  const status = httpStatus(err);
  const where = `${s3Location(bucket, prefix)}${endpoint ? ` at ${endpoint}` : ''}`;
  const context = { field: 'artifacts.url', bucket, prefix, ...(key ? { key } : {}), operation: op };
  if (name === 'NoSuchBucket' || (op === 'HeadBucket' && status === 404)) {
    return new BerthError(
      'INVALID_CONFIG',
      `${subject.what} ${where}: bucket "${bucket}" does not exist. Create it (aws s3 mb s3://${bucket}) or point --artifacts / BERTH_ARTIFACTS_URL at an existing bucket.`,
      context,
      { cause: err },
    );
  }
  if (
    status === 403 ||
    name === 'AccessDenied' ||
    name === 'InvalidAccessKeyId' ||
    name === 'SignatureDoesNotMatch' ||
    name === 'ExpiredToken' ||
    name === 'CredentialsProviderError'
  ) {
    return new BerthError(
      'INVALID_CONFIG',
      `${subject.what} ${where}: access denied (${name ?? `HTTP ${status}`} on ${op}). Check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ` +
        `AWS_PROFILE or the instance role) and that they allow s3:ListBucket on "${bucket}" and ${subject.actions} under "${prefix || '/'}".`,
      context,
      { cause: err },
    );
  }
  const netCode = networkErrorCode(err);
  if (netCode) {
    return new BerthError(
      'INTERNAL',
      `${subject.what} ${where}: cannot reach S3 (${netCode} on ${op}). Check the network${endpoint ? ' and the endpoint (?endpoint= / BERTH_S3_ENDPOINT)' : ''} and retry.`,
      context,
      { cause: err },
    );
  }
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new BerthError('INTERNAL', `${subject.what} ${where}: ${op}${key ? ` of ${key}` : ''} failed (${detail}); retry, and check the S3 service if it persists.`, context, { cause: err });
}

/** The S3 error code (`NoSuchKey`, `AccessDenied`…), else the error's name. */
export function s3ErrorName(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { Code?: unknown }).Code;
  return typeof code === 'string' ? code : err.name;
}

export function httpStatus(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata;
  return typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
}

/** The key is not there (GetObject's NoSuchKey, HeadObject's bare 404). */
export function isS3KeyMissing(err: unknown): boolean {
  const name = s3ErrorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || (httpStatus(err) === 404 && name !== 'NoSuchBucket');
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

function networkErrorCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  if (err.name === 'TimeoutError') return 'timeout';
  const code = (err as NodeJS.ErrnoException).code;
  if (code && NETWORK_CODES.has(code)) return code;
  if (err instanceof AggregateError) {
    for (const e of err.errors) {
      const inner = networkErrorCode(e);
      if (inner) return inner;
    }
  }
  return undefined;
}

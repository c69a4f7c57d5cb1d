/**
 * URL inputs: one file behind an `http(s)://` or `s3://` URL, downloaded into the job's work dir
 * (`<work dir>/download/<name>`) and then read by DuckDB like a local file. The download is part of
 * resume: it goes to `<name>.partial`, is fsynced and renamed, so a file under its own name is whole
 * and is reused by every later run of the job; a partial one is thrown away and the download starts again.
 */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError } from '../core/index.js';
import type { HttpInput, S3Input } from './source.js';

/** How far a download got, reported as bytes arrive and once at the end. */
export interface DownloadProgress {
  /** the URL without its secrets */
  url: string;
  bytesDone: number;
  /** from Content-Length, when the server sends it */
  bytesTotal: number | undefined;
  seconds: number;
  /** the file is whole (downloaded now, or by an earlier run) */
  done: boolean;
  /** an earlier run of the job downloaded it; nothing was fetched */
  reused: boolean;
}

/** Options of {@link downloadInput}. */
export interface DownloadOptions {
  onDownload?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  now?: () => number;
}

/** A body to copy and what the server said about its size. */
interface Fetched {
  body: AsyncIterable<Uint8Array>;
  total: number | undefined;
  dispose: () => void;
}

/**
 * Download a URL input into `<workDir>/download/`, or reuse the whole file an earlier run left there.
 * Returns the local path.
 *
 * @throws BerthError INVALID_ARGUMENT when the server answers that the file is not there or not ours to
 *   read (the URL or the credentials need fixing); UNAVAILABLE when it cannot be reached, fails, or the
 *   transfer ends early (run the job again).
 */
export async function downloadInput(loc: HttpInput | S3Input, workDir: string, opts: DownloadOptions = {}): Promise<string> {
  const now = opts.now ?? Date.now;
  const started = now();
  const dir = path.join(workDir, 'download');
  const file = path.join(dir, loc.fileName);
  const whole = await stat(file).catch(() => undefined);
  if (whole !== undefined) {
    opts.onDownload?.({ url: loc.display, bytesDone: whole.size, bytesTotal: whole.size, seconds: 0, done: true, reused: true });
    return file;
  }
  await mkdir(dir, { recursive: true });
  const partial = `${file}.partial`;
  await rm(partial, { force: true });
  const fetched = loc.kind === 'http' ? await fetchHttp(loc, opts.signal) : await fetchS3(loc, opts.signal);
  let bytes = 0;
  try {
    const fh = await open(partial, 'w');
    try {
      for await (const chunk of fetched.body) {
        await fh.write(chunk);
        bytes += chunk.byteLength;
        opts.onDownload?.({ url: loc.display, bytesDone: bytes, bytesTotal: fetched.total, seconds: (now() - started) / 1000, done: false, reused: false });
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof BerthError) throw err;
    throw unavailable(loc.display, `the transfer broke off after ${bytes} bytes (${errorText(err)})`, err);
  } finally {
    fetched.dispose();
  }
  if (fetched.total !== undefined && bytes !== fetched.total) {
    await rm(partial, { force: true });
    throw unavailable(loc.display, `the transfer ended after ${bytes} of ${fetched.total} bytes`);
  }
  await rename(partial, file);
  opts.onDownload?.({ url: loc.display, bytesDone: bytes, bytesTotal: bytes, seconds: (now() - started) / 1000, done: true, reused: false });
  return file;
}

function unavailable(display: string, problem: string, cause?: unknown): BerthError {
  return new BerthError('UNAVAILABLE', `--input ${display}: ${problem}; check that the server is up and reachable from here, then run the same command again (the download starts over, finished parts are kept)`, {
    field: 'input', got: display,
  }, cause === undefined ? undefined : { cause });
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : typeof (err as NodeJS.ErrnoException).code === 'string' ? (err as NodeJS.ErrnoException).code : undefined;
  const inner = typeof cause?.message === 'string' ? cause.message : err.message;
  return code !== undefined ? `${code}: ${inner}` : inner;
}

async function fetchHttp(loc: HttpInput, signal: AbortSignal | undefined): Promise<Fetched> {
  const u = new URL(loc.url);
  const headers: Record<string, string> = {};
  if (u.username !== '' || u.password !== '') {
    // fetch refuses URLs with credentials: they travel as Basic auth instead
    headers['authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    u.username = '';
    u.password = '';
  }
  let res: Response;
  try {
    res = await fetch(u, { headers, redirect: 'follow', ...(signal !== undefined ? { signal } : {}) });
  } catch (err) {
    throw unavailable(loc.display, `cannot fetch it (${errorText(err)})`, err);
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel().catch(() => undefined);
    const what = `the server answered ${res.status} ${res.statusText}`.trim();
    if (res.status >= 500 || res.status === 429 || res.status === 408) throw unavailable(loc.display, what);
    const hint = res.status === 401 || res.status === 403
      ? 'check the credentials (user:password@ in the URL, or a signed URL that has not expired); `berth batch resume` leaves them out of the job record, so give the URL again with --input URL'
      : 'check the URL';
    throw new BerthError('INVALID_ARGUMENT', `--input ${loc.display}: ${what}; ${hint}`, { field: 'input', got: loc.display, status: res.status });
  }
  const length = res.headers.get('content-length');
  // a compressed transfer's Content-Length counts compressed bytes, while the body iterates decoded ones
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const total = length !== null && !encoded && /^\d+$/.test(length) ? Number(length) : undefined;
  const body = res.body;
  return { body, total, dispose: () => void body.cancel().catch(() => undefined) };
}

async function fetchS3(loc: S3Input, signal: AbortSignal | undefined): Promise<Fetched> {
  const { GetObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    region: loc.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
    ...(loc.endpoint !== undefined ? { endpoint: loc.endpoint } : {}),
    forcePathStyle: loc.forcePathStyle ?? loc.endpoint !== undefined,
    maxAttempts: 3,
    // S3-compatible servers do not all answer the SDK's default checksums
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }), signal !== undefined ? { abortSignal: signal } : {});
    const body = out.Body as Readable | undefined;
    if (body === undefined) throw unavailable(loc.display, 'GetObject returned no body');
    return {
      body,
      total: typeof out.ContentLength === 'number' ? out.ContentLength : undefined,
      dispose: () => {
        body.destroy();
        client.destroy();
      },
    };
  } catch (err) {
    client.destroy();
    throw s3Error(loc, err);
  }
}

function s3Error(loc: S3Input, err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const name = err instanceof Error ? ((err as { Code?: unknown }).Code as string | undefined) ?? err.name : undefined;
  const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const where = `${loc.display}${loc.endpoint !== undefined ? ` (endpoint ${loc.endpoint})` : ''}`;
  const invalid = (problem: string): BerthError =>
    new BerthError('INVALID_ARGUMENT', `--input ${where}: ${problem}`, { field: 'input', got: loc.display, bucket: loc.bucket, key: loc.key }, { cause: err });
  if (name === 'NoSuchBucket') return invalid(`bucket "${loc.bucket}" does not exist; check the bucket name (and ?endpoint= for an S3-compatible server)`);
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return invalid(`no object "${loc.key}" in bucket "${loc.bucket}"; check the key (aws s3 ls s3://${loc.bucket}/)`);
  if (status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'ExpiredToken' || name === 'CredentialsProviderError') {
    return invalid(`access denied (${name ?? `HTTP ${status}`}); check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance role) and that they allow s3:GetObject on it`);
  }
  return unavailable(where, `GetObject failed (${errorText(err)})`, err);
}

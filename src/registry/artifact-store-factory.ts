import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError, type Logger } from '../core/index.js';
import type { ArtifactStore } from './artifact-store.js';
import { FsArtifactStore } from './fs-artifact-store.js';
import { FsSharedFiles } from './fs-shared-files.js';
import { S3ArtifactStore, parseS3ArtifactsUrl, type S3ArtifactsLocation } from './s3/s3-artifact-store.js';
import { S3SharedFiles } from './s3/s3-shared-files.js';
import type { SharedFiles } from './shared-files.js';

export interface OpenArtifactStoreOptions {
  /** the data dir: FsArtifactStore lives in `<dataDir>/artifacts`, the S3 cache in `<dataDir>/artifact-cache` */
  dataDir: string;
  logger?: Logger;
  /** environment for BERTH_S3_ENDPOINT (default process.env) */
  env?: Record<string, string | undefined>;
}

/**
 * Open the artifact store an artifacts URL names (`--artifacts`, `BERTH_ARTIFACTS_URL`,
 * `artifacts.url`):
 *
 * - `null` or `file:` → FsArtifactStore in `<dataDir>/artifacts` (the embedded default);
 *   `file:///abs/dir` → FsArtifactStore in that directory;
 * - `s3://bucket/prefix[?endpoint=…&region=…&pathStyle=…]` → S3ArtifactStore caching in
 *   `<dataDir>/artifact-cache` (see `parseS3ArtifactsUrl`).
 *
 * Opening touches neither disk nor network; the first operation does.
 *
 * @example
 * const artifacts = openArtifactStore(process.env.BERTH_ARTIFACTS_URL ?? null, { dataDir: '.berth' });
 */
export function openArtifactStore(url: string | null, opts: OpenArtifactStoreOptions): ArtifactStore {
  const dataDir = resolve(opts.dataDir);
  const target = artifactsTarget(url, opts.env ?? process.env);
  if (target.kind === 'data-dir') return new FsArtifactStore(join(dataDir, 'artifacts'));
  if (target.kind === 'dir') return new FsArtifactStore(target.dir);
  return new S3ArtifactStore({ ...target.location, cacheDir: join(dataDir, 'artifact-cache'), ...(opts.logger ? { logger: opts.logger } : {}) });
}

export interface OpenSharedFilesOptions {
  /** the data dir (the default artifacts URL keeps everything in it: nothing to share) */
  dataDir: string;
  /** environment for BERTH_S3_ENDPOINT (default process.env) */
  env?: Record<string, string | undefined>;
}

/**
 * Open the shared file store beside the artifacts an artifacts URL names, where replicas put what
 * other replicas must read (their inference log files):
 *
 * - `null`, `''`, `file:` or `file://` → null: the artifacts live in the data dir, so every
 *   process that uses them is on this machine and reads its files where they are;
 * - `file:///abs/dir` → FsSharedFiles in that directory (keys beside the artifacts' `sha256/`);
 * - `s3://bucket/prefix[?…]` → S3SharedFiles under the same prefix (`<prefix>/inference-log/…`).
 *
 * Opening touches neither disk nor network.
 *
 * @example
 * const files = openSharedFiles(config.artifacts.url, { dataDir: config.dataDir });
 * if (files) new LogShipper({ dataDir, files, logger, intervalMs: 30_000 }).start();
 */
export function openSharedFiles(artifactsUrl: string | null, opts: OpenSharedFilesOptions): SharedFiles | null {
  const target = artifactsTarget(artifactsUrl, opts.env ?? process.env);
  if (target.kind === 'data-dir') return null;
  if (target.kind === 'dir') return new FsSharedFiles(target.dir);
  return new S3SharedFiles(target.location);
}

type ArtifactsTarget = { kind: 'data-dir' } | { kind: 'dir'; dir: string } | { kind: 's3'; location: S3ArtifactsLocation };

/** What an artifacts URL points at; INVALID_CONFIG for anything else. */
function artifactsTarget(url: string | null, env: Record<string, string | undefined>): ArtifactsTarget {
  const trimmed = url?.trim() ?? '';
  if (trimmed === '' || trimmed === 'file:' || trimmed === 'file://') return { kind: 'data-dir' };
  if (trimmed.startsWith('file:')) {
    let dir: string;
    try {
      dir = fileURLToPath(trimmed);
    } catch (err) {
      throw new BerthError('INVALID_CONFIG', `artifacts url ${JSON.stringify(trimmed)}: expected file:///absolute/dir (or plain file: for <data-dir>/artifacts)`, { field: 'artifacts.url', got: trimmed }, { cause: err });
    }
    if (!isAbsolute(dir)) throw new BerthError('INVALID_CONFIG', `artifacts url ${JSON.stringify(trimmed)}: the directory must be absolute`, { field: 'artifacts.url', got: trimmed });
    return { kind: 'dir', dir };
  }
  if (trimmed.startsWith('s3:')) return { kind: 's3', location: parseS3ArtifactsUrl(trimmed, env) };
  // The scheme only: the rest of an unknown URL may carry a secret.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(trimmed)?.[0] ?? '(none)';
  throw new BerthError('INVALID_CONFIG', `artifacts url: unsupported scheme ${scheme}; expected file: (the default, <data-dir>/artifacts) or s3://bucket/prefix`, {
    field: 'artifacts.url',
    expected: ['file:', 's3://bucket/prefix'],
    got: scheme,
  });
}

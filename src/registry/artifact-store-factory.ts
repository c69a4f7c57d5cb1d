import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError, type Logger } from '../core/index.js';
import type { ArtifactStore } from './artifact-store.js';
import { FsArtifactStore } from './fs-artifact-store.js';
import { S3ArtifactStore, parseS3ArtifactsUrl } from './s3/s3-artifact-store.js';

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
  const trimmed = url?.trim() ?? '';
  if (trimmed === '' || trimmed === 'file:' || trimmed === 'file://') return new FsArtifactStore(join(dataDir, 'artifacts'));
  if (trimmed.startsWith('file:')) {
    let dir: string;
    try {
      dir = fileURLToPath(trimmed);
    } catch (err) {
      throw new BerthError('INVALID_CONFIG', `artifacts url ${JSON.stringify(trimmed)}: expected file:///absolute/dir (or plain file: for <data-dir>/artifacts)`, { field: 'artifacts.url', got: trimmed }, { cause: err });
    }
    if (!isAbsolute(dir)) throw new BerthError('INVALID_CONFIG', `artifacts url ${JSON.stringify(trimmed)}: the directory must be absolute`, { field: 'artifacts.url', got: trimmed });
    return new FsArtifactStore(dir);
  }
  if (trimmed.startsWith('s3:')) {
    const loc = parseS3ArtifactsUrl(trimmed, opts.env ?? process.env);
    return new S3ArtifactStore({ ...loc, cacheDir: join(dataDir, 'artifact-cache'), ...(opts.logger ? { logger: opts.logger } : {}) });
  }
  // The scheme only: the rest of an unknown URL may carry a secret.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(trimmed)?.[0] ?? '(none)';
  throw new BerthError('INVALID_CONFIG', `artifacts url: unsupported scheme ${scheme}; expected file: (the default, <data-dir>/artifacts) or s3://bucket/prefix`, {
    field: 'artifacts.url',
    expected: ['file:', 's3://bucket/prefix'],
    got: scheme,
  });
}

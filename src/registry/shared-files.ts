import { BerthError } from '../core/index.js';

/**
 * A small keyed file store every replica of a deployment can reach: a folder (`FsSharedFiles`) or
 * an S3 prefix (`S3SharedFiles`). Unlike `ArtifactStore` it is not content-addressed: the caller
 * names each file with a key (`inference-log/deployment=x/hour=2026-11-24T10/part-a-1-1.parquet`),
 * and putting a key again replaces its file.
 *
 * Keys are `/`-separated relative paths: no leading `/`, no empty, `.` or `..` segment, no segment
 * starting with `.` (hidden names are the stores' temp files), no backslash, no NUL.
 *
 * @example
 * const files = openSharedFiles('s3://berth-prod/berth', { dataDir: '.berth' });
 * await files?.put('inference-log/deployment=fraud/hour=2026-11-24T10/part-a-1-1.parquet', localFile);
 */
export interface SharedFiles {
  /** where it lives, for logs and errors (never credentials) */
  readonly location: string;
  /** upload a local file under `key` (atomic for readers: a reader never sees half an object / file) */
  put(key: string, localPath: string): Promise<void>;
  /** keys under a prefix (e.g. `inference-log/deployment=x/`), any order; paginate fully */
  list(prefix: string): Promise<string[]>;
  /** download `key` to `destPath` atomically (temp file + rename); NOT_FOUND BerthError if absent */
  get(key: string, destPath: string): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Why `key` is not a valid shared-file key, or null when it is. */
function keyProblem(key: unknown): string | null {
  if (typeof key !== 'string' || key === '') return 'it is empty';
  if (key.includes('\\')) return 'it contains a backslash';
  if (key.includes('\u0000')) return 'it contains a NUL character';
  if (key.startsWith('/')) return 'it is absolute';
  for (const seg of key.split('/')) {
    if (seg === '') return 'it has an empty segment (a doubled or trailing "/")';
    if (seg === '..' || seg === '.') return `it has a "${seg}" segment`;
    if (seg.startsWith('.')) return `its segment "${seg}" starts with "." (hidden names are reserved for temp files)`;
  }
  return null;
}

/** True when `key` is a key every SharedFiles accepts. */
export function isSharedKey(key: string): boolean {
  return keyProblem(key) === null;
}

/** `key`, or INVALID_ARGUMENT saying what is wrong with it. */
export function assertSharedKey(key: string, field = 'key'): string {
  const problem = keyProblem(key);
  if (problem !== null) {
    throw new BerthError('INVALID_ARGUMENT', `${field} ${JSON.stringify(key)}: ${problem}; expected a relative path like "inference-log/deployment=x/hour=2026-11-24T10/part-a.parquet"`, {
      field,
      expected: 'a relative /-separated path without "..", ".", empty or hidden segments',
      got: key,
    });
  }
  return key;
}

/** A list prefix: '' (everything), or a key's beginning, which may end in `/` or in the middle of a segment. */
export function assertSharedPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  assertSharedKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'prefix');
  return prefix;
}

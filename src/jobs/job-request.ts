/**
 * A batch job as submitted to a server (`POST /v1/jobs`, `berth batch run --remote`, a schedule):
 * the options of `berth batch run`, checked field by field before anything is queued.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { BerthError, ModelRef } from '../core/index.js';
import { ON_ERROR, type OnError } from './batch-job.js';
import { OUTPUT_FORMATS, type OutputFormat } from './sink.js';
import { INPUT_FORMATS, type InputFormat } from './source.js';

/** What a batch job request holds (JSON field names). */
export interface JobRequest {
  /** NAME, NAME@version or NAME@alias; resolved to a version when the job is submitted */
  model: string;
  /** a path (or glob) on the server, a URL, or a database URL with `query` */
  input: string;
  inputFormat?: InputFormat;
  /** the SQL query of a database input */
  query?: string;
  /** a path on the server, or a database table URL */
  output: string;
  format?: OutputFormat;
  /** what a table output does when the table exists */
  ifExists?: string;
  key?: string[];
  onError?: OnError;
  batchRows?: number;
  partRows?: number;
}

const FIELDS = ['model', 'input', 'inputFormat', 'query', 'output', 'format', 'ifExists', 'key', 'onError', 'batchRows', 'partRows'] as const;

function bad(field: string, expected: string | readonly string[], got: unknown, hint = ''): BerthError {
  const exp = typeof expected === 'string' ? expected : `one of ${expected.join(', ')}`;
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${exp}, got ${JSON.stringify(got)}${hint}`, { field, expected, got });
}

const str = (o: Record<string, unknown>, field: string, required: boolean): string | undefined => {
  const v = o[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw bad(field, 'a non-empty string', v ?? null);
  return v;
};

const count = (o: Record<string, unknown>, field: string): number | undefined => {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100_000_000) throw bad(field, 'a whole number from 1 to 100000000', v);
  return v;
};

function oneOf<T extends string>(o: Record<string, unknown>, field: string, allowed: readonly T[]): T | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw bad(field, allowed, v);
  return v as T;
}

/**
 * Check a job request body. Every problem names its field, what was expected and what came;
 * unknown fields are refused (a typo must not silently change what the job does).
 *
 * @example
 * const req = parseJobRequest({ model: 'credit@production', input: 'in.csv', output: 'out.parquet' });
 */
export function parseJobRequest(body: unknown): JobRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BerthError('INVALID_ARGUMENT', `job: expected a JSON object like {"model": "credit@production", "input": "in.csv", "output": "out.parquet"}, got ${Array.isArray(body) ? 'an array' : JSON.stringify(body)}`, { field: 'job' });
  }
  const o = body as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw bad(unknown[0]!, FIELDS, o[unknown[0]!], `: no such field (the fields are ${FIELDS.join(', ')})`);
  const model = str(o, 'model', true)!;
  try {
    ModelRef.parse(model);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `model: ${err instanceof Error ? err.message : String(err)}`, { field: 'model', expected: 'NAME, NAME@version or NAME@alias', got: model });
  }
  const req: JobRequest = { model, input: str(o, 'input', true)!, output: str(o, 'output', true)! };
  const inputFormat = oneOf(o, 'inputFormat', INPUT_FORMATS);
  if (inputFormat !== undefined) req.inputFormat = inputFormat;
  const query = str(o, 'query', false);
  if (query !== undefined) req.query = query;
  const format = oneOf(o, 'format', OUTPUT_FORMATS);
  if (format !== undefined) req.format = format;
  const ifExists = str(o, 'ifExists', false);
  if (ifExists !== undefined) req.ifExists = ifExists;
  if (o['key'] !== undefined) {
    const k = o['key'];
    // [] is no key columns at all (--no-key)
    if (!Array.isArray(k) || k.some((c) => typeof c !== 'string' || c === '')) throw bad('key', 'a list of column names ([] for none)', k);
    req.key = k as string[];
  }
  const onError = oneOf(o, 'onError', ON_ERROR);
  if (onError !== undefined) req.onError = onError;
  const batchRows = count(o, 'batchRows');
  if (batchRows !== undefined) req.batchRows = batchRows;
  const partRows = count(o, 'partRows');
  if (partRows !== undefined) req.partRows = partRows;
  return req;
}

/** A location that is not a file on the server (a URL: http, s3, a database). */
export function isUrl(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(location) && !/^[a-z]:[\\/]/i.test(location);
}

/**
 * Where a job may read and write on the server. Callers without the admin role stay under the
 * configured roots (relative paths resolve under the first): a job must not become a way to read
 * the server's files or overwrite them.
 */
export function confineJobPaths(req: JobRequest, roots: readonly string[], admin: boolean): JobRequest {
  const out = { ...req };
  for (const field of ['input', 'output'] as const) {
    const value = req[field];
    if (isUrl(value)) {
      refuseSecrets(field, value);
      // a SQLite "URL" is a file on the server: outside the roots' rules, so admins only
      if (/^sqlite:/i.test(value) && !admin) {
        throw new BerthError('FORBIDDEN', `${field}: a sqlite: location is a file on the server, which only an admin may name in a job; use a file under ${roots.join(', ')} or a PostgreSQL table`, { field, got: value });
      }
      continue;
    }
    const resolved = path.resolve(roots[0] ?? '.', value);
    if (!admin) {
      // through symlinks: a link under a root that points elsewhere does not count as under it
      const target = realPath(resolved);
      const inside = roots.some((r) => {
        const rel = path.relative(realPath(path.resolve(r)), target);
        return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
      });
      if (!inside) {
        throw new BerthError('FORBIDDEN', `${field}: ${JSON.stringify(value)} is outside the directories jobs may use (${roots.join(', ')}); put the file there, or ask an admin (jobs.roots in the server's config)`, {
          field, expected: [...roots], got: value,
        });
      }
    }
    out[field] = resolved;
  }
  return out;
}

/** The real path of a file, or of its directory when the file does not exist (an output, a glob). */
function realPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    try {
      return path.join(realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return p;
    }
  }
}

/**
 * A job's spec is stored and shown to everyone who may read jobs, and its URLs go on a process's
 * command line: a password there would leak. The server's environment supplies it instead.
 */
function refuseSecrets(field: string, value: string): void {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return;
  }
  const secretParam = [...u.searchParams.keys()].find((k) => /^(password|token|sig|x-amz-signature|x-amz-credential)$/i.test(k));
  if (u.password !== '' || secretParam !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: a server job's URLs are stored with the job and shown to whoever reads jobs, so they must not carry a ${u.password !== '' ? 'password' : `${secretParam} parameter`}; give the server the secret instead (PGPASSWORD or ~/.pgpass for PostgreSQL, AWS_* variables for S3) and drop it from the URL`, {
      field, expected: 'a URL without credentials', got: `${u.protocol}//…`,
    });
  }
}

/**
 * A batch job: score every row of an input table with one model version and write the predictions
 * beside the key columns, in parts that make it resumable, then one atomic final file.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../core/index.js';
import type { VersionRecord } from '../registry/index.js';
import { FeatureMapping } from './mapping.js';
import { collectGarbage } from './memory.js';
import { Scorer, type ModelArtifacts } from './scorer.js';
import {
  assembleOutput, finishedParts, outputFormatOf, writePart,
  type OutputColumn, type OutputFormat, type PartMeta, type RejectedRow,
} from './sink.js';
import { checkTableOutput, ifExistsOf, isTableOutput, loadTableOutput, parseTableOutput, type IfExists, type TableTarget } from './table-sink.js';
import type { DownloadProgress } from './download.js';
import { inputIdentity, inputRecordOf, openSource, parseInput, type Cell, type InputFormat, type InputSpec, type RowSource } from './source.js';

/** What to do with a row that cannot be scored. */
export const ON_ERROR = ['fail', 'skip'] as const;
export type OnError = (typeof ON_ERROR)[number];

/** A batch job, as the user asked for it. */
export interface BatchJobSpec {
  /** the version to score with (resolved by the caller) */
  version: VersionRecord;
  /**
   * a file or glob (`.csv`, `.jsonl`, `.parquet`), an `http(s)://` or `s3://bucket/key` URL of one
   * file, or a database with `query`: `postgres://user@host:5432/db` or `sqlite:path/to/file.db`
   */
  input: string;
  /** files and URLs: default from the extension */
  inputFormat?: InputFormat;
  /** a database input's query, `SELECT … ORDER BY …` (the order is what makes resume exact) */
  query?: string;
  /**
   * an output file, or a database table: `postgres://user@host:5432/db?table=schema.name`
   * (`postgresql://` too) or `sqlite:path/to/file.db?table=name` (docs/batch.md, "Writing to a table")
   */
  output: string;
  format?: OutputFormat;
  /** a table output whose table exists: refuse (`fail`, the default), `append` to it, or `replace` it */
  ifExists?: IfExists;
  /** key columns written before the predictions (default: every input column that is not a feature) */
  key?: readonly string[];
  onError?: OnError;
  /** rows per runtime call (default 1,024) */
  batchRows?: number;
  /** input rows per output part (default 100,000) */
  partRows?: number;
}

/** Progress, reported after each batch. */
export interface BatchProgress {
  /** input rows done, finished parts of earlier runs included */
  rowsDone: number;
  /** input rows in all, when known cheaply (Parquet) */
  rowsTotal: number | undefined;
  seconds: number;
}

/** What the job needs besides its spec. */
export interface BatchJobDeps {
  /** where the model file comes from (a Registry, or a server's API) */
  registry: ModelArtifacts;
  /** the data dir: work dirs live in `<dataDir>/jobs/<job id>/` */
  dataDir: string;
  onProgress?: (p: BatchProgress) => void;
  /** a URL input's download, as bytes arrive and once when it is whole (or reused from an earlier run) */
  onDownload?: (p: DownloadProgress) => void;
  /** stop (without an error) once this many parts were written in this run: for tests of resume */
  stopAfterParts?: number;
  signal?: AbortSignal;
  now?: () => number;
}

/** The job's result. */
export interface BatchSummary {
  jobId: string;
  /** the output file, or the table's URL without its password */
  output: string;
  /** where rejected rows went (`<output>.rejected.jsonl`, or the table `<table>_rejected`), when there were any */
  rejectedOutput?: string;
  rowsIn: number;
  rowsOut: number;
  rejected: number;
  seconds: number;
  rowsPerSecond: number;
  parts: number;
  /** finished parts of an earlier run were reused */
  resumed: boolean;
  /** false when the run stopped early (stopAfterParts, signal) and can be resumed */
  complete: boolean;
}

const DEFAULT_BATCH_ROWS = 1024;
const DEFAULT_PART_ROWS = 100_000;
const CHUNK_ROWS = 8192;
/** a full garbage collection after a part once this many rows went by since the last (memory.ts) */
const GC_EVERY_ROWS = 50_000;

/** `<work dir>/job.json`: what `berth batch resume JOB` needs to run the job again. */
export interface BatchJobRecord {
  jobId: string;
  model: string;
  version: number;
  sha256: string;
  /** the input file, URL or database, without any password (resume takes it from PGPASSWORD, or from --input) */
  input: string;
  /** files and URLs */
  inputFormat?: InputFormat;
  /** database inputs: the query */
  query?: string;
  /** the output file, or the table's URL without its password (resume takes it from PGPASSWORD or ~/.pgpass) */
  output: string;
  /** the file format, or the parts' format (jsonl) of a table output */
  format: OutputFormat;
  /** a table output's policy for an existing table */
  ifExists?: IfExists;
  /** the key columns as given; absent: the default (the input's columns that are not features) */
  key?: string[];
  onError: OnError;
  batchRows: number;
  partRows: number;
}

/** An unfinished job in `<dataDir>/jobs/`: its record and how far it got. */
export interface UnfinishedBatchJob {
  record: BatchJobRecord;
  partsDone: number;
  rowsDone: number;
}

/** Jobs that started and did not finish (a finished job removes its work dir). */
export async function listUnfinishedJobs(dataDir: string): Promise<UnfinishedBatchJob[]> {
  const root = path.join(path.resolve(dataDir), 'jobs');
  const ids = await readdir(root).catch(() => [] as string[]);
  const out: UnfinishedBatchJob[] = [];
  for (const id of ids.sort()) {
    const record = await readJobRecord(dataDir, id).catch(() => null);
    if (record === null) continue;
    const done = await finishedParts(path.join(root, id), record.format);
    out.push({ record, partsDone: done.length, rowsDone: done.reduce((s, m) => s + m.rowsIn, 0) });
  }
  return out;
}

/** A job's record, or NOT_FOUND naming the jobs there are. */
export async function readJobRecord(dataDir: string, jobId: string): Promise<BatchJobRecord> {
  if (!/^[0-9a-f]{16}$/.test(jobId)) {
    throw new BerthError('INVALID_ARGUMENT', `job id: expected the 16 hex digits \`berth batch list\` shows, got ${JSON.stringify(jobId)}`, { field: 'job', got: jobId });
  }
  const file = path.join(path.resolve(dataDir), 'jobs', jobId, 'job.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new BerthError('NOT_FOUND', `no unfinished batch job ${jobId} in ${path.resolve(dataDir)} (a finished job leaves nothing behind); \`berth batch list\` shows the unfinished ones`, { field: 'job', got: jobId });
  }
  return JSON.parse(text) as BatchJobRecord;
}

/** `--input`, `--input-format` and `--query` of a job. */
function inputSpecOf(spec: BatchJobSpec): InputSpec {
  return {
    input: spec.input,
    ...(spec.inputFormat !== undefined ? { format: spec.inputFormat } : {}),
    ...(spec.query !== undefined ? { query: spec.query } : {}),
  };
}

/**
 * The job id: a hash of everything that decides the output bytes, from the spec alone (so it is known
 * before the input is opened, and a URL input can be downloaded into the job's work dir). `key` is the
 * key columns as given (undefined: the default, which the input decides). A plain file's size and time
 * are part of it, so a file changed between runs starts a new job; a URL or a database query counts as
 * written (without its password): a table or remote file that changed between runs is not noticed.
 */
export async function batchJobId(spec: BatchJobSpec, key: readonly string[] | undefined, format: OutputFormat, partRows: number): Promise<string> {
  const doc = {
    model: spec.version.sha256,
    input: await inputIdentity(parseInput(inputSpecOf(spec))),
    key: key ?? null,
    // a table: its URL without the password (the same job whoever's password it runs with) and the policy
    output: isTableOutput(spec.output)
      ? { table: parseTableOutput(spec.output).redacted, ifExists: ifExistsOf(spec.ifExists) }
      : { path: path.resolve(spec.output), format },
    options: { onError: spec.onError ?? 'fail', partRows },
  };
  return createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 16);
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) {
    throw new BerthError('INVALID_ARGUMENT', `${name}: expected a whole number ≥ 1, got ${v}`, { field: name, expected: '≥ 1', got: v });
  }
  return v;
}

/**
 * Run (or resume) a batch job. Finished parts of an earlier run of the same job are kept and their
 * rows skipped; the rest is read, mapped, scored and written part by part, then the final output
 * is assembled and renamed into place and the work dir removed.
 *
 * @throws BerthError INVALID_INPUT for missing feature columns (before any work) and, with
 *   `onError: 'fail'`, for the first row that cannot be scored (its row number and column named).
 * @example
 * const summary = await runBatchJob({ version, input: 'in.csv', output: 'out.parquet' }, { registry, dataDir: '.berth' });
 */
export async function runBatchJob(spec: BatchJobSpec, deps: BatchJobDeps): Promise<BatchSummary> {
  const now = deps.now ?? Date.now;
  const started = now();
  const batchRows = positive('--batch-rows', spec.batchRows, DEFAULT_BATCH_ROWS);
  const partRows = positive('--part-rows', spec.partRows, DEFAULT_PART_ROWS);
  const format = outputFormatOf(spec.output, spec.format);
  const onError = spec.onError ?? 'fail';
  const table: TableTarget | undefined = isTableOutput(spec.output) ? parseTableOutput(spec.output) : undefined;
  if (table === undefined && spec.ifExists !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `--if-exists: applies to table outputs (postgres://…, sqlite:…), got --if-exists ${spec.ifExists} with the file ${JSON.stringify(spec.output)}; leave it out (a file output is replaced whole when the job is done)`, {
      field: 'if-exists', got: spec.ifExists,
    });
  }
  const ifExists = ifExistsOf(spec.ifExists);
  // never the URL as given: it may hold a password
  const outputName = table?.redacted ?? path.resolve(spec.output);
  const rejectedOutput = table !== undefined ? `the table ${table.rejectedTableName}` : `${outputName}.rejected.jsonl`;
  const location = parseInput(inputSpecOf(spec));
  const jobId = await batchJobId(spec, spec.key, format, partRows);
  const workDir = path.join(path.resolve(deps.dataDir), 'jobs', jobId);
  const recordFile = path.join(workDir, 'job.json');
  // until job.json is written the job has not started: refused, it leaves no work dir (nor download) behind
  let recorded = await stat(recordFile).then(() => true, () => false);
  await mkdir(workDir, { recursive: true });
  let source: RowSource;
  try {
    source = await openSource(location, {
      workDir,
      ...(deps.onDownload !== undefined ? { onDownload: deps.onDownload } : {}),
      ...(deps.signal !== undefined ? { signal: deps.signal } : {}),
    });
  } catch (err) {
    if (!recorded) await rm(workDir, { recursive: true, force: true });
    throw err;
  }
  let scorer: Scorer | undefined;
  try {
    const names = source.columns.map((c) => c.name);
    const mapping = FeatureMapping.create(spec.version.signature, names);
    const featureSet = new Set(mapping.features);
    const key = spec.key !== undefined ? [...spec.key] : names.filter((n) => !featureSet.has(n));
    const unknownKeys = key.filter((k) => !names.includes(k));
    if (unknownKeys.length > 0) {
      throw new BerthError('INVALID_ARGUMENT', `--key: the input has no column ${unknownKeys.map((k) => JSON.stringify(k)).join(', ')}; its columns are ${names.map((n) => JSON.stringify(n)).join(', ')}`, {
        field: 'key', expected: names, got: unknownKeys,
      });
    }
    const keyIndex = key.map((k) => names.indexOf(k));
    await writeFile(recordFile, JSON.stringify({
      jobId, model: spec.version.model, version: spec.version.version, sha256: spec.version.sha256,
      ...inputRecordOf(location), output: outputName, format, ...(table !== undefined ? { ifExists } : {}),
      ...(spec.key !== undefined ? { key: [...spec.key] } : {}), onError, batchRows, partRows,
    } satisfies BatchJobRecord, null, 2) + '\n');
    recorded = true;

    scorer = await Scorer.load(deps.registry, spec.version);
    const predictionNames = new Set(scorer.columns.map((c) => c.name));
    const clash = key.find((k) => predictionNames.has(k));
    if (clash !== undefined) {
      throw new BerthError('INVALID_ARGUMENT', `key column "${clash}" has the name of a prediction column; pick other key columns with --key`, { field: 'key', got: clash });
    }
    const columns: OutputColumn[] = [
      ...keyIndex.map((i) => ({ name: source.columns[i]!.name, kind: source.columns[i]!.kind })),
      ...scorer.columns,
    ];
    if (table !== undefined) {
      // before any scoring: a job delivered already is done; a table it may not write is refused now
      const delivered = await checkTableOutput({ target: table, jobId, columns, ifExists }).catch(async (err: unknown) => {
        // refused before any work: leave no unfinished job behind for `berth batch list`
        if ((await finishedParts(workDir, format)).length === 0) await rm(workDir, { recursive: true, force: true });
        throw err;
      });
      if (delivered !== null) {
        await rm(workDir, { recursive: true, force: true });
        return {
          jobId, output: outputName, rowsIn: delivered.rowsIn, rowsOut: delivered.rowsOut, rejected: delivered.rejected,
          ...(delivered.rejected > 0 ? { rejectedOutput } : {}),
          seconds: (now() - started) / 1000, rowsPerSecond: 0, parts: delivered.parts, resumed: true, complete: true,
        };
      }
    }

    const done = await finishedParts(workDir, format);
    const resumed = done.length > 0;
    const skipRows = done.length * partRows;
    const rowsTotal = await source.countRows().catch(() => undefined);
    let rowsIn = done.reduce((s, m) => s + m.rowsIn, 0);
    let rowsOut = done.reduce((s, m) => s + m.rowsOut, 0);
    let rejected = done.reduce((s, m) => s + m.rejected, 0);

    // the part being filled
    let part = done.length;
    let partValues: Cell[][] = columns.map(() => []);
    let partRejected: RejectedRow[] = [];
    let partIn = 0;
    let written = 0;
    let stopped = false;
    let rowsSinceGc = 0;

    const flush = async (): Promise<void> => {
      const meta: PartMeta = { rowsIn: partIn, rowsOut: partValues[0]?.length ?? 0, rejected: partRejected.length };
      await writePart(workDir, part, format, columns, partValues, meta.rowsOut, partRejected, meta);
      rowsIn += meta.rowsIn;
      rowsOut += meta.rowsOut;
      rejected += meta.rejected;
      part++;
      written++;
      partValues = columns.map(() => []);
      partRejected = [];
      rowsSinceGc += partIn;
      partIn = 0;
      // the part's values and the chunks behind them are garbage now: collect it before the next part
      // (small parts are cheap to keep: at most once per GC_EVERY_ROWS rows)
      if (rowsSinceGc >= GC_EVERY_ROWS) {
        collectGarbage();
        rowsSinceGc = 0;
      }
    };

    const textColumns = source.format === 'csv' ? mapping.features : [];
    for await (const chunk of source.chunks({ skipRows, chunkRows: Math.max(CHUNK_ROWS, batchRows), textColumns })) {
      let at = 0;
      while (at < chunk.rows) {
        if (deps.signal?.aborted) {
          stopped = true;
          break;
        }
        // a batch never crosses a part boundary
        const partEnd = (part + 1) * partRows;
        const to = Math.min(chunk.rows, at + batchRows, partEnd - chunk.start);
        const mapped = mapping.map(chunk, at, to);
        if (mapped.errors.length > 0) {
          const first = mapped.errors[0]!;
          if (onError === 'fail') {
            throw new BerthError('INVALID_INPUT', `row ${first.row}, column "${first.column}": ${first.reason}; fix the input, or pass --on-error skip to write such rows to ${rejectedOutput} and go on`, {
              field: first.column, got: first.row,
            });
          }
          for (const e of mapped.errors) {
            const r = e.row - 1 - chunk.start;
            const k: Record<string, Cell> = {};
            keyIndex.forEach((ci, j) => (k[key[j]!] = chunk.columns[ci]![r]!));
            partRejected.push({ ...e, key: k });
          }
        }
        const predictions = await scorer.score(mapped.tensors, mapped.good.length);
        for (let j = 0; j < keyIndex.length; j++) {
          const src = chunk.columns[keyIndex[j]!]!;
          const dst = partValues[j]!;
          for (const g of mapped.good) dst.push(src[at + g]!);
        }
        for (let j = 0; j < predictions.length; j++) {
          const dst = partValues[keyIndex.length + j]!;
          for (const v of predictions[j]!) dst.push(v);
        }
        partIn += to - at;
        at = to;
        if (chunk.start + at === partEnd) {
          await flush();
          if (deps.stopAfterParts !== undefined && written >= deps.stopAfterParts) {
            stopped = true;
            break;
          }
        }
        deps.onProgress?.({ rowsDone: rowsIn + partIn, rowsTotal, seconds: (now() - started) / 1000 });
      }
      if (stopped) break;
    }
    if (!stopped && partIn > 0) await flush();

    // the time to the end, the final file or the table's load included
    const summaryOf = (complete: boolean): BatchSummary => {
      const seconds = (now() - started) / 1000;
      return {
        jobId, output: outputName, rowsIn, rowsOut, rejected, ...(rejected > 0 ? { rejectedOutput } : {}), seconds,
        rowsPerSecond: seconds > 0 ? Math.round((rowsIn - skipRows) / seconds) : 0, parts: part, resumed, complete,
      };
    };
    if (stopped) return summaryOf(false);
    if (table !== undefined) {
      // one transaction with the job's marker row: loaded once, whenever the process dies
      await loadTableOutput({ target: table, jobId, columns, ifExists, dir: workDir, parts: part, partRows, rowsIn, rejected });
    } else {
      await assembleOutput(workDir, part, format, columns, spec.output, jobId, rejected > 0);
    }
    await rm(workDir, { recursive: true, force: true });
    return summaryOf(true);
  } finally {
    await scorer?.dispose().catch(() => undefined);
    await source.close();
    if (!recorded) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

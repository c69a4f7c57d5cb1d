/**
 * A batch job: score every row of an input table with one model version and write the predictions
 * beside the key columns, in parts that make it resumable, then one atomic final file.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../core/index.js';
import type { Registry, VersionRecord } from '../registry/index.js';
import { FeatureMapping } from './mapping.js';
import { Scorer } from './scorer.js';
import {
  assembleOutput, finishedParts, outputFormatOf, writePart,
  type OutputColumn, type OutputFormat, type PartMeta, type RejectedRow,
} from './sink.js';
import { TableSource, inputFormatOf, type Cell, type InputFormat } from './source.js';

/** What to do with a row that cannot be scored. */
export const ON_ERROR = ['fail', 'skip'] as const;
export type OnError = (typeof ON_ERROR)[number];

/** A batch job, as the user asked for it. */
export interface BatchJobSpec {
  /** the version to score with (resolved by the caller) */
  version: VersionRecord;
  input: string;
  inputFormat?: InputFormat;
  output: string;
  format?: OutputFormat;
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
  registry: Registry;
  /** the data dir: work dirs live in `<dataDir>/jobs/<job id>/` */
  dataDir: string;
  onProgress?: (p: BatchProgress) => void;
  /** stop (without an error) once this many parts were written in this run: for tests of resume */
  stopAfterParts?: number;
  signal?: AbortSignal;
  now?: () => number;
}

/** The job's result. */
export interface BatchSummary {
  jobId: string;
  output: string;
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

/** `<work dir>/job.json`: what `berth batch resume JOB` needs to run the job again. */
export interface BatchJobRecord {
  jobId: string;
  model: string;
  version: number;
  sha256: string;
  input: string;
  inputFormat: InputFormat;
  output: string;
  format: OutputFormat;
  key: string[];
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

/** The job id: a hash of everything that decides the output bytes. */
export async function batchJobId(spec: BatchJobSpec, key: readonly string[], format: OutputFormat, partRows: number): Promise<string> {
  const input = path.resolve(spec.input);
  // a plain file's size and time, so an input changed between runs starts a new job instead of resuming
  const st = await stat(input).catch(() => undefined);
  const doc = {
    model: spec.version.sha256,
    input: { path: input, format: spec.inputFormat ?? inputFormatOf(spec.input), size: st?.size ?? null, mtimeMs: st?.mtimeMs ?? null },
    key,
    output: { path: path.resolve(spec.output), format },
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
  const source = await TableSource.open({ path: spec.input, ...(spec.inputFormat !== undefined ? { format: spec.inputFormat } : {}) });
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
    const jobId = await batchJobId(spec, key, format, partRows);
    const workDir = path.join(path.resolve(deps.dataDir), 'jobs', jobId);
    await mkdir(workDir, { recursive: true });
    await writeFile(path.join(workDir, 'job.json'), JSON.stringify({
      jobId, model: spec.version.model, version: spec.version.version, sha256: spec.version.sha256,
      input: path.resolve(spec.input), inputFormat: source.spec.format, output: path.resolve(spec.output), format, key, onError, batchRows, partRows,
    } satisfies BatchJobRecord, null, 2) + '\n');

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
      partIn = 0;
    };

    const textColumns = source.spec.format === 'csv' ? mapping.features : [];
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
            throw new BerthError('INVALID_INPUT', `row ${first.row}, column "${first.column}": ${first.reason}; fix the input, or pass --on-error skip to write such rows to ${spec.output}.rejected.jsonl and go on`, {
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

    const seconds = (now() - started) / 1000;
    const summaryOf = (complete: boolean): BatchSummary => ({
      jobId, output: path.resolve(spec.output), rowsIn, rowsOut, rejected, seconds,
      rowsPerSecond: seconds > 0 ? Math.round((rowsIn - skipRows) / seconds) : 0, parts: part, resumed, complete,
    });
    if (stopped) return summaryOf(false);
    await assembleOutput(workDir, part, format, columns, spec.output, jobId, rejected > 0);
    await rm(workDir, { recursive: true, force: true });
    return summaryOf(true);
  } finally {
    await scorer?.dispose().catch(() => undefined);
    source.close();
  }
}

import { Command, Option } from 'commander';
import { BerthError, ModelRef, toBerthError } from '../../core/index.js';
import { ON_ERROR, OUTPUT_FORMATS, INPUT_FORMATS, type BatchJobSpec, type BatchProgress, type DownloadProgress, type JobChildMessage, type BatchSummary, type InputFormat, type OnError, type OutputFormat, IF_EXISTS, isTableOutput, type IfExists } from '../../jobs/index.js';
import type { CliContext } from '../context.js';
import { parseCount } from '../parse.js';
import { withLocalRegistry, type ModelSource } from './local-registry.js';
import { addServerJobCommands, keyColumnsOf, listRemote, runRemote } from './batch-remote.js';
import { examples, optionParser } from './options.js';

interface BatchRunFlags {
  model: string;
  input: string;
  inputFormat?: InputFormat;
  query?: string;
  output: string;
  format?: OutputFormat;
  ifExists?: IfExists;
  key?: string | boolean;
  onError: OnError;
  batchRows?: number;
  partRows?: number;
  json?: boolean;
  remote?: boolean;
  detach?: boolean;
}

/** `berth batch run`: score a whole table with a model version, in this process. */
export function addBatchCommands(program: Command, ctx: CliContext): void {
  const batch = program
    .command('batch')
    .description('score whole tables (CSV, JSONL, Parquet files, URLs, or SQL queries against PostgreSQL and SQLite) with a model version')
    .addHelpText('after', examples('berth batch run --model credit@production --input applicants.csv --output scored.parquet'));
  batch
    .command('run')
    .description('score every row of an input (a file, a URL, or a SQL query) with a model version in this process and write the predictions beside the key columns; running the same command again after an interruption resumes it')
    .requiredOption('--model <ref>', 'the version: NAME (latest), NAME@3 or NAME@alias')
    .requiredOption('--input <path|url|db>', 'a file or glob (quote it): .csv, .jsonl or .parquet; an http(s):// or s3://bucket/key?endpoint=… URL of one file (downloaded into the job\'s work dir first); or a database for --query: postgres://user@host:5432/db or sqlite:file.db')
    .addOption(new Option('--input-format <format>', 'input format of a file or URL (default: from the extension)').choices([...INPUT_FORMATS]))
    .option('--query <sql>', 'with a database --input: the rows to score, a SELECT ending in ORDER BY a unique key (resume skips the rows of finished parts, so the order must be the same on every run); it runs in a read-only transaction')
    .requiredOption('--output <path>', 'output file, written atomically when the job is done; or a table: postgres://user@host:5432/db?table=schema.name or sqlite:file.db?table=name, loaded in one transaction')
    .addOption(new Option('--format <format>', 'output format (default: from the extension)').choices([...OUTPUT_FORMATS]))
    .addOption(new Option('--if-exists <policy>', 'a table output whose table exists: fail (the default) refuses before scoring, append adds the rows (the columns must fit), replace drops and recreates it in the load\'s transaction').choices([...IF_EXISTS]))
    .option('--key <cols>', 'columns copied before the predictions, comma-separated (default: every input column that is not a feature)')
    .option('--no-key', 'no key columns: only the predictions, in input order')
    .addOption(new Option('--on-error <mode>', 'a row that cannot be scored: fail stops the job; skip writes it to <output>.rejected.jsonl and goes on').choices([...ON_ERROR]).default('fail'))
    .option('--batch-rows <n>', 'rows per runtime call (default 1024)', optionParser((t) => parseCount('--batch-rows', t, 1)))
    .option('--part-rows <n>', 'input rows per output part, the unit of resume (default 100000)', optionParser((t) => parseCount('--part-rows', t, 1)))
    .option('--json', 'print the summary as JSON on stdout')
    .option('--remote', "run the job on the server (--server URL) instead of in this process; paths are the server's, relative ones under its jobs root")
    .option('--detach', 'with --remote: print the job id and return instead of following the job')
    .addHelpText(
      'after',
      examples(
        'berth batch run --model credit@production --input applicants.csv --output scored.parquet',
        'berth --server http://berth:8080 batch run --remote --model credit@production --input nightly/applicants.parquet --output nightly/scored.parquet',
        "berth batch run --model credit --input 'in/*.parquet' --output scored.csv --key id --on-error skip",
        'berth batch run --model bc@3 --input rows.jsonl --output out.jsonl --json',
        "berth batch run --model credit --input postgres://berth@db:5432/shop --query 'SELECT * FROM applicants ORDER BY id' --output scored.parquet --key id",
        "berth batch run --model credit --input sqlite:applicants.db --query 'SELECT * FROM applicants WHERE day = 7 ORDER BY id' --output scored.csv",
        'berth batch run --model credit --input https://data.example.com/applicants.csv --output scored.parquet',
        "berth batch run --model credit --input 's3://lake/in/applicants.parquet?endpoint=http://minio:9000' --output scored.parquet",
        '# the database password may come from PGPASSWORD or ~/.pgpass; a password in the URL is never written down (docs/batch.md)',
        "berth batch run --model credit --input applicants.csv --output 'postgres://berth@db:5432/shop?table=ml.scores' --if-exists replace",
        "berth batch run --model credit --input applicants.csv --output 'sqlite:scores.db?table=scores' --if-exists append",
        '# a table gets _row (the input row number) first; the password may come from PGPASSWORD instead of the URL',
        '# interrupted? run the same command again: finished parts are kept (docs/batch.md)',
      ),
    )
    .action(async (o: BatchRunFlags) => {
      if (o.remote === true) return runRemote(ctx, o);
      if (o.detach === true) throw new BerthError('INVALID_ARGUMENT', '--detach: only a job run on the server (--remote) can be left running', { field: 'detach' });
      const ref = ModelRef.parse(o.model);
      const key = keyColumnsOf(o.key);
      await withLocalRegistry(ctx, 'batch run', async (registry) => {
        const version = await registry.resolve(ref);
        return runAndReport(ctx, registry, {
          version,
          input: o.input,
          output: o.output,
          onError: o.onError,
          ...(o.inputFormat !== undefined ? { inputFormat: o.inputFormat } : {}),
          ...(o.query !== undefined ? { query: o.query } : {}),
          ...(o.format !== undefined ? { format: o.format } : {}),
          ...(o.ifExists !== undefined ? { ifExists: o.ifExists } : {}),
          ...(key !== undefined ? { key } : {}),
          ...(o.batchRows !== undefined ? { batchRows: o.batchRows } : {}),
          ...(o.partRows !== undefined ? { partRows: o.partRows } : {}),
        }, o.json === true);
      });
    });
  batch
    .command('resume')
    .description('finish an interrupted job: its finished parts are kept, the rest is scored (the same as running its command again)')
    .argument('<job>', 'the job id (`berth batch list` shows unfinished jobs)')
    .option('--input <url>', "the job's input again, with the password its record leaves out (when PGPASSWORD or ~/.pgpass does not supply it, or a URL input must be downloaded again); it must name the same input")
    .option('--output <url>', "a table output's URL again, with the password its record leaves out (when PGPASSWORD or ~/.pgpass does not supply it); it must name the same table")
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText('after', examples('berth batch list', 'berth batch resume 3f9c0a1b2c3d4e5f', "PGPASSWORD=… berth batch resume 3f9c0a1b2c3d4e5f", "berth batch resume 3f9c0a1b2c3d4e5f --input 'postgres://berth:secret@db:5432/shop'"))
    .action(async (jobId: string, o: { json?: boolean; input?: string; output?: string }) => {
      await withLocalRegistry(ctx, 'batch resume', async (registry) => {
        const { readJobRecord } = await import('../../jobs/index.js');
        const r = await readJobRecord(ctx.globals.dataDir, jobId);
        const version = await registry.resolve(ModelRef.version(r.model, r.version));
        if (version.sha256 !== r.sha256) {
          throw new BerthError('ARTIFACT_CORRUPTED', `job ${jobId} scored with ${r.model}@${r.version} (sha256 ${r.sha256.slice(0, 12)}…), but that version now has sha256 ${version.sha256.slice(0, 12)}…; its parts cannot be finished with other bytes`, { field: 'job' });
        }
        // a table output's record has its URL without the password: PGPASSWORD or ~/.pgpass supply it, or --output
        const output = isTableOutput(r.output) ? { ifExists: r.ifExists ?? 'fail' } : { format: r.format };
        if (o.output !== undefined) {
          const { parseTableOutput } = await import('../../jobs/index.js');
          // never echoed as given: it may hold a password
          const given = isTableOutput(o.output) ? parseTableOutput(o.output).redacted : 'something that is not a table URL';
          if (!isTableOutput(r.output) || given !== r.output) {
            throw new BerthError('INVALID_ARGUMENT', `--output: names ${given}, but job ${jobId} writes ${r.output}; ${isTableOutput(r.output) ? "give the job's own table URL (with its password), or leave --output out" : 'only a table output is given again; leave --output out'}`, { field: 'output', expected: r.output, got: given });
          }
        }
        // the record's input has no password: PGPASSWORD or ~/.pgpass supply it, or the input given again
        if (o.input !== undefined) {
          const { inputRecordOf, parseInput } = await import('../../jobs/index.js');
          const given = inputRecordOf(parseInput({ input: o.input, format: r.inputFormat, query: r.query })).input;
          if (given !== r.input) {
            throw new BerthError('INVALID_ARGUMENT', `--input: names ${given}, but job ${jobId} reads ${r.input}; give the job's own input (with its password), or leave --input out`, { field: 'input', expected: r.input, got: given });
          }
        }
        const spec = { version, input: o.input ?? r.input, inputFormat: r.inputFormat, query: r.query, output: o.output ?? r.output, ...output, key: r.key, onError: r.onError, batchRows: r.batchRows, partRows: r.partRows };
        const { batchJobId } = await import('../../jobs/index.js');
        if ((await batchJobId(spec, r.key, r.format, r.partRows)) !== jobId) {
          throw new BerthError('INVALID_INPUT', `the input of job ${jobId} (${r.input}) changed since the job started (its size or modification time differ), so its finished parts no longer match it; run the job again from the start with berth batch run`, { field: 'input', got: r.input });
        }
        return runAndReport(ctx, registry, spec, o.json === true);
      });
    });
  batch
    .command('list')
    .description("unfinished jobs in the data dir (a finished job leaves nothing behind), or with --remote the server's jobs")
    .option('--remote', "the server's jobs, newest first (implied by --server)")
    .addOption(new Option('--state <state>', 'with --remote: only jobs in this state').choices(['queued', 'running', 'succeeded', 'failed', 'cancelled']))
    .option('--limit <n>', 'with --remote: at most this many (default 50)', optionParser((t) => parseCount('--limit', t, 1)))
    .option('--json', 'print them as JSON')
    .addHelpText('after', examples('berth batch list', 'berth batch list --json', 'berth --server http://berth:8080 batch list --state running'))
    .action(async (o: { json?: boolean; remote?: boolean; state?: string; limit?: number }) => {
      if (o.remote === true || ctx.serverExplicit) return listRemote(ctx, o);
      const { listUnfinishedJobs } = await import('../../jobs/index.js');
      const jobs = await listUnfinishedJobs(ctx.globals.dataDir);
      if (ctx.globals.json || o.json === true) {
        ctx.io.out(JSON.stringify({ jobs: jobs.map((j) => ({ ...j.record, partsDone: j.partsDone, rowsDone: j.rowsDone })) }, null, 2) + '\n');
        return;
      }
      if (jobs.length === 0) {
        ctx.io.out(`no unfinished batch jobs in ${ctx.globals.dataDir}\n`);
        return;
      }
      for (const j of jobs) {
        const r = j.record;
        ctx.io.out(`${r.jobId}  ${r.model}@${r.version}  ${r.input} → ${r.output}  ${j.partsDone} parts (${j.rowsDone.toLocaleString('en-US')} rows) done; berth batch resume ${r.jobId}\n`);
      }
    });
  addServerJobCommands(batch, ctx);
}

/** A `berth batch run` started by a server's job runner: progress and errors go over IPC too. */
function jobIpc(ctx: CliContext): ((m: JobChildMessage) => void) | null {
  if (ctx.io.env['BERTH_JOB_IPC'] !== '1' || typeof process.send !== 'function') return null;
  return (m) => {
    if (process.connected) process.send!(m);
  };
}

/**
 * Run a job with progress on stderr and the summary on stdout. SIGINT or SIGTERM (or, under a
 * server, the server going away) stops it after the batch in hand: finished parts stay, and the
 * same command (or `berth batch resume`) finishes it.
 */
async function runAndReport(ctx: CliContext, registry: ModelSource, spec: BatchJobSpec, jsonFlag: boolean): Promise<void> {
  const json = ctx.globals.json || jsonFlag;
  const { runBatchJob } = await import('../../jobs/index.js');
  const ipc = jobIpc(ctx);
  const progress = progressPrinter(ctx, json);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (ipc) process.once('disconnect', onSignal);
  let summary: BatchSummary;
  let lastIpc = -Infinity;
  try {
    summary = await runBatchJob(spec, {
      registry,
      dataDir: ctx.globals.dataDir,
      signal: stop.signal,
      onDownload: progress.download,
      onProgress: (p) => {
        progress.update(p);
        // a few reports a second are plenty for the server (a batch may take a millisecond)
        if (ipc !== null && p.seconds - lastIpc >= 0.2) {
          lastIpc = p.seconds;
          ipc({ type: 'progress', rowsDone: p.rowsDone, rowsTotal: p.rowsTotal ?? null, seconds: p.seconds });
        }
      },
    });
  } catch (err) {
    const e = toBerthError(err);
    ipc?.({ type: 'error', code: e.code, message: e.message });
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('disconnect', onSignal);
  }
  progress.end();
  const v = spec.version;
  if (json) ctx.io.out(JSON.stringify({ model: v.model, version: v.version, ...summary }, null, 2) + '\n');
  else ctx.io.out(renderSummary(summary, `${v.model}@${v.version}`));
  if (!summary.complete && ipc === null) {
    throw new BerthError('CANCELLED', `batch job ${summary.jobId} stopped by a signal before it finished; run the same command again, or berth batch resume ${summary.jobId}, to finish it`, { field: 'job', got: summary.jobId });
  }
}

function renderSummary(s: BatchSummary, model: string): string {
  if (!s.complete) {
    return `stopped after ${s.rowsIn.toLocaleString('en-US')} rows (${s.parts} finished ${s.parts === 1 ? 'part' : 'parts'} kept); run the same command again, or berth batch resume ${s.jobId}, to finish\n`;
  }
  const lines = [
    `scored ${s.rowsOut} of ${s.rowsIn} rows with ${model} → ${s.output}${s.resumed ? ' (resumed)' : ''}`,
    `${s.parts} ${s.parts === 1 ? 'part' : 'parts'}, ${s.seconds.toFixed(1)} s, ${s.rowsPerSecond} rows/s`,
  ];
  if (s.rejected > 0) lines.push(`${s.rejected} rejected ${s.rejected === 1 ? 'row' : 'rows'}: see ${s.rejectedOutput ?? `${s.output}.rejected.jsonl`}`);
  return lines.join('\n') + '\n';
}

/** Progress on stderr (a URL input's download, then the rows): redrawn in place on a TTY, else a plain line every 2 s. */
function progressPrinter(ctx: CliContext, json: boolean): { update: (p: BatchProgress) => void; download: (p: DownloadProgress) => void; end: () => void } {
  const tty = process.stderr.isTTY === true && ctx.io.env['CI'] === undefined;
  let last = -Infinity;
  let drawn = false;
  const update = (p: BatchProgress): void => {
    const interval = tty ? 0.2 : 2;
    if (p.seconds - last < interval) return;
    last = p.seconds;
    const rate = p.seconds > 0 ? p.rowsDone / p.seconds : 0;
    const rows = `${p.rowsDone.toLocaleString('en-US')}${p.rowsTotal !== undefined ? ` / ${p.rowsTotal.toLocaleString('en-US')}` : ''} rows`;
    const eta = p.rowsTotal !== undefined && rate > 0 ? `, ETA ${Math.max(0, Math.ceil((p.rowsTotal - p.rowsDone) / rate))} s` : '';
    if (tty && !json) {
      const width = 24;
      const filled = p.rowsTotal ? Math.min(width, Math.round((p.rowsDone / p.rowsTotal) * width)) : 0;
      const bar = p.rowsTotal ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : '';
      ctx.io.err(`\r${bar}${rows}, ${Math.round(rate)} rows/s${eta}\u001b[K`);
      drawn = true;
    } else {
      ctx.io.err(`batch: ${rows}, ${Math.round(rate)} rows/s${eta}\n`);
    }
  };
  let lastDownload = -Infinity;
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
  const download = (p: DownloadProgress): void => {
    if (p.reused) {
      ctx.io.err(`batch: ${p.url}: ${mb(p.bytesDone)} downloaded by an earlier run of this job, reused\n`);
      return;
    }
    if (!p.done && p.seconds - lastDownload < (tty ? 0.2 : 2)) return;
    lastDownload = p.seconds;
    const text = `downloading ${p.url}: ${mb(p.bytesDone)}${p.bytesTotal !== undefined && !p.done ? ` / ${mb(p.bytesTotal)}` : ''}${p.done ? `, done in ${p.seconds.toFixed(1)} s` : ''}`;
    if (tty && !json) ctx.io.err(`\r${text}\u001b[K${p.done ? '\n' : ''}`);
    else ctx.io.err(`batch: ${text}\n`);
  };
  return { update, download, end: () => void (drawn && ctx.io.err('\n')) };
}

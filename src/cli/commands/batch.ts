import { Command, Option } from 'commander';
import { BerthError, ModelRef } from '../../core/index.js';
import { ON_ERROR, OUTPUT_FORMATS, INPUT_FORMATS, type BatchJobSpec, type BatchProgress, type BatchSummary, type InputFormat, type OnError, type OutputFormat } from '../../jobs/index.js';
import { openRegistry, type Registry } from '../../registry/index.js';
import type { CliContext } from '../context.js';
import { parseCount } from '../parse.js';
import { examples, optionParser } from './options.js';

interface BatchRunFlags {
  model: string;
  input: string;
  inputFormat?: InputFormat;
  output: string;
  format?: OutputFormat;
  key?: string;
  onError: OnError;
  batchRows?: number;
  partRows?: number;
  json?: boolean;
}

/** `berth batch run`: score a whole table with a model version, in this process. */
export function addBatchCommands(program: Command, ctx: CliContext): void {
  const batch = program
    .command('batch')
    .description('score whole tables (CSV, JSONL, Parquet) with a model version')
    .addHelpText('after', examples('berth batch run --model credit@production --input applicants.csv --output scored.parquet'));
  batch
    .command('run')
    .description('score every row of an input file with a model version in this process and write the predictions beside the key columns; running the same command again after an interruption resumes it')
    .requiredOption('--model <ref>', 'the version: NAME (latest), NAME@3 or NAME@alias')
    .requiredOption('--input <path>', 'input file or glob (quote it): .csv, .jsonl or .parquet')
    .addOption(new Option('--input-format <format>', 'input format (default: from the extension)').choices([...INPUT_FORMATS]))
    .requiredOption('--output <path>', 'output file, written atomically when the job is done')
    .addOption(new Option('--format <format>', 'output format (default: from the extension)').choices([...OUTPUT_FORMATS]))
    .option('--key <cols>', 'columns copied before the predictions, comma-separated (default: every input column that is not a feature)')
    .addOption(new Option('--on-error <mode>', 'a row that cannot be scored: fail stops the job; skip writes it to <output>.rejected.jsonl and goes on').choices([...ON_ERROR]).default('fail'))
    .option('--batch-rows <n>', 'rows per runtime call (default 1024)', optionParser((t) => parseCount('--batch-rows', t, 1)))
    .option('--part-rows <n>', 'input rows per output part, the unit of resume (default 100000)', optionParser((t) => parseCount('--part-rows', t, 1)))
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      examples(
        'berth batch run --model credit@production --input applicants.csv --output scored.parquet',
        "berth batch run --model credit --input 'in/*.parquet' --output scored.csv --key id --on-error skip",
        'berth batch run --model bc@3 --input rows.jsonl --output out.jsonl --json',
        '# interrupted? run the same command again: finished parts are kept (docs/batch.md)',
      ),
    )
    .action(async (o: BatchRunFlags) => {
      const ref = ModelRef.parse(o.model);
      const key = o.key?.split(',').map((k) => k.trim()).filter((k) => k !== '');
      await withLocalRegistry(ctx, 'run', async (registry) => {
        const version = await registry.resolve(ref);
        return runAndReport(ctx, registry, {
          version,
          input: o.input,
          output: o.output,
          onError: o.onError,
          ...(o.inputFormat !== undefined ? { inputFormat: o.inputFormat } : {}),
          ...(o.format !== undefined ? { format: o.format } : {}),
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
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText('after', examples('berth batch list', 'berth batch resume 3f9c0a1b2c3d4e5f'))
    .action(async (jobId: string, o: { json?: boolean }) => {
      await withLocalRegistry(ctx, 'resume', async (registry) => {
        const { readJobRecord } = await import('../../jobs/index.js');
        const r = await readJobRecord(ctx.globals.dataDir, jobId);
        const version = await registry.resolve(ModelRef.version(r.model, r.version));
        if (version.sha256 !== r.sha256) {
          throw new BerthError('ARTIFACT_CORRUPTED', `job ${jobId} scored with ${r.model}@${r.version} (sha256 ${r.sha256.slice(0, 12)}…), but that version now has sha256 ${version.sha256.slice(0, 12)}…; its parts cannot be finished with other bytes`, { field: 'job' });
        }
        const spec = { version, input: r.input, inputFormat: r.inputFormat, output: r.output, format: r.format, key: r.key, onError: r.onError, batchRows: r.batchRows, partRows: r.partRows };
        const { batchJobId } = await import('../../jobs/index.js');
        if ((await batchJobId(spec, r.key, r.format, r.partRows)) !== jobId) {
          throw new BerthError('INVALID_INPUT', `the input of job ${jobId} (${r.input}) changed since the job started (its size or modification time differ), so its finished parts no longer match it; run the job again from the start with berth batch run`, { field: 'input', got: r.input });
        }
        return runAndReport(ctx, registry, spec, o.json === true);
      });
    });
  batch
    .command('list')
    .description('unfinished jobs in the data dir (a finished job leaves nothing behind)')
    .option('--json', 'print them as JSON')
    .addHelpText('after', examples('berth batch list', 'berth batch list --json'))
    .action(async (o: { json?: boolean }) => {
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
}

/** Open the local registry for a batch command (batch jobs score in this process). */
async function withLocalRegistry(ctx: CliContext, verb: string, work: (registry: Registry) => Promise<void>): Promise<void> {
  const g = ctx.globals;
  if (ctx.serverExplicit) {
    throw new BerthError('INVALID_ARGUMENT', `berth batch ${verb} scores in this process from a local registry; running against a remote registry (--server ${g.server}) is not supported yet, because model files cannot be fetched over the API; pass --data-dir DIR (the server's data dir, or one with BERTH_DATABASE_URL / BERTH_ARTIFACTS_URL set) instead`, {
      field: 'server',
    });
  }
  const registry = await openRegistry({
    dataDir: g.dataDir,
    databaseUrl: ctx.io.env['BERTH_DATABASE_URL'] || null,
    artifactsUrl: ctx.io.env['BERTH_ARTIFACTS_URL'] || null,
  });
  try {
    await work(registry);
  } finally {
    await registry.close();
  }
}

/** Run a job with progress on stderr and the summary on stdout. */
async function runAndReport(ctx: CliContext, registry: Registry, spec: BatchJobSpec, jsonFlag: boolean): Promise<void> {
  const json = ctx.globals.json || jsonFlag;
  const { runBatchJob } = await import('../../jobs/index.js');
  const progress = progressPrinter(ctx, json);
  const summary = await runBatchJob(spec, { registry, dataDir: ctx.globals.dataDir, onProgress: progress.update });
  progress.end();
  const v = spec.version;
  if (json) ctx.io.out(JSON.stringify({ model: v.model, version: v.version, ...summary }, null, 2) + '\n');
  else ctx.io.out(renderSummary(summary, `${v.model}@${v.version}`));
}

function renderSummary(s: BatchSummary, model: string): string {
  const lines = [
    `scored ${s.rowsOut} of ${s.rowsIn} rows with ${model} → ${s.output}${s.resumed ? ' (resumed)' : ''}`,
    `${s.parts} ${s.parts === 1 ? 'part' : 'parts'}, ${s.seconds.toFixed(1)} s, ${s.rowsPerSecond} rows/s`,
  ];
  if (s.rejected > 0) lines.push(`${s.rejected} rejected ${s.rejected === 1 ? 'row' : 'rows'}: see ${s.output}.rejected.jsonl`);
  return lines.join('\n') + '\n';
}

/** Progress on stderr: a bar redrawn in place on a TTY, else a plain line every 2 s. */
function progressPrinter(ctx: CliContext, json: boolean): { update: (p: BatchProgress) => void; end: () => void } {
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
  return { update, end: () => void (drawn && ctx.io.err('\n')) };
}

/**
 * Batch jobs on a server: `berth batch run --remote` submits the job and follows it, `status`,
 * `cancel` and `logs` steer it, `list --remote` shows the server's queue. The paths are the
 * server's; relative ones resolve under its jobs root (`<data-dir>/batch` unless configured).
 */
import type { Command } from 'commander';
import { BerthError, ERROR_CATALOG, type ErrorCode } from '../../core/index.js';
import type { JobRecord, JobRequest } from '../../jobs/index.js';
import type { CliContext } from '../context.js';
import type { RemoteClient } from '../remote-client.js';
import { examples } from './options.js';

/** The flags of `berth batch run` that travel to the server. */
export interface RemoteRunFlags {
  model: string;
  input: string;
  inputFormat?: string;
  query?: string;
  output: string;
  format?: string;
  ifExists?: string;
  key?: string | boolean;
  onError?: string;
  batchRows?: number;
  partRows?: number;
  json?: boolean;
  detach?: boolean;
}

/** The server for commands that only a server can answer (jobs, schedules). */
export async function serverClient(ctx: CliContext, what: string): Promise<RemoteClient> {
  const c = await ctx.client({ needServer: true });
  if (c.kind !== 'remote') throw new BerthError('SERVER_UNREACHABLE', `${what} live on a server; start one with \`berth serve\` or pass --server URL`);
  return c as RemoteClient;
}

const server = (ctx: CliContext): Promise<RemoteClient> => serverClient(ctx, 'server jobs');

/** The flags a job is made of (`batch run --remote`, `schedule create`), as the API's job request. */
export function jobRequestOf(o: Omit<RemoteRunFlags, 'json' | 'detach'>): JobRequest {
  const req = { model: o.model, input: o.input, output: o.output } as JobRequest & Record<string, unknown>;
  for (const [k, v] of Object.entries({ inputFormat: o.inputFormat, query: o.query, format: o.format, ifExists: o.ifExists, onError: o.onError, batchRows: o.batchRows, partRows: o.partRows })) {
    if (v !== undefined) req[k] = v;
  }
  const key = keyColumnsOf(o.key);
  if (key !== undefined) req.key = key;
  return req;
}

/**
 * `--key a,b` as a list, `--no-key` as no key columns, neither as undefined (the default: the
 * input's columns that are not features).
 */
export function keyColumnsOf(flag: string | boolean | undefined): string[] | undefined {
  if (flag === undefined || flag === true) return undefined;
  if (flag === false) return [];
  const cols = flag.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (cols.length === 0) {
    throw new BerthError('INVALID_ARGUMENT', `--key: expected column names, comma-separated, got ${JSON.stringify(flag)}; for no key columns at all pass --no-key`, {
      field: 'key', expected: 'col[,col]', got: flag,
    });
  }
  return cols;
}

function jobIdOf(raw: string): number {
  if (!/^[0-9]{1,15}$/.test(raw)) {
    throw new BerthError('INVALID_ARGUMENT', `job: expected a server job id (a whole number, as \`berth batch list --remote\` shows), got ${JSON.stringify(raw)}${/^[0-9a-f]{16}$/.test(raw) ? '; that looks like a local job: berth batch resume ' + raw : ''}`, {
      field: 'job', expected: 'a whole number', got: raw,
    });
  }
  return Number(raw);
}

const rows = (n: number): string => n.toLocaleString('en-US');

/** One line about a job, for lists and status. */
export function renderJobLine(j: JobRecord): string {
  const p = j.progress;
  const how =
    j.state === 'running' && p !== null
      ? `${rows(p.rowsDone)}${p.rowsTotal !== null ? ` / ${rows(p.rowsTotal)}` : ''} rows, ${rows(p.rowsPerSecond)} rows/s`
      : j.state === 'succeeded' && j.summary !== null
        ? `${rows(Number(j.summary['rowsOut']))} rows out${Number(j.summary['rejected']) > 0 ? `, ${rows(Number(j.summary['rejected']))} rejected` : ''} in ${Number(j.summary['seconds']).toFixed(1)} s`
        : j.error !== null
          ? `${j.error.code}: ${j.error.message}`
          : '';
  return `${String(j.id).padStart(5)}  ${j.state.padEnd(9)}  ${j.model}@${j.version}  ${j.spec.input} → ${j.spec.output}${how !== '' ? `  (${how})` : ''}${j.schedule !== null ? `  [schedule ${j.schedule}]` : ''}`;
}

function renderJob(j: JobRecord): string {
  const lines = [
    `job ${j.id}: ${j.state}${j.cancelRequested && j.state === 'running' ? ' (cancel requested)' : ''}`,
    `  model     ${j.ref} → ${j.model}@${j.version}`,
    `  input     ${j.spec.input}${j.spec.query !== undefined ? `  query: ${j.spec.query}` : ''}`,
    `  output    ${j.spec.output}`,
    `  submitted ${j.createdAt} by ${j.actor}${j.schedule !== null ? ` (schedule ${j.schedule}, for ${j.scheduledAt})` : ''}`,
  ];
  if (j.startedAt !== null) lines.push(`  started   ${j.startedAt}${j.holder !== null ? ` on ${j.holder}` : ''} (run ${j.attempts})`);
  if (j.finishedAt !== null) lines.push(`  finished  ${j.finishedAt}`);
  if (j.progress !== null && j.state === 'running') {
    const p = j.progress;
    lines.push(`  progress  ${rows(p.rowsDone)}${p.rowsTotal !== null ? ` / ${rows(p.rowsTotal)}` : ''} rows, ${rows(p.rowsPerSecond)} rows/s`);
  }
  if (j.summary !== null) {
    const s = j.summary;
    lines.push(`  result    ${rows(Number(s['rowsOut']))} of ${rows(Number(s['rowsIn']))} rows, ${Number(s['rejected'])} rejected, ${Number(s['seconds']).toFixed(1)} s, ${rows(Number(s['rowsPerSecond']))} rows/s${s['resumed'] === true ? ' (resumed)' : ''}`);
  }
  if (j.error !== null) lines.push(`  error     ${j.error.code}: ${j.error.message}`);
  if (j.state === 'queued' || j.state === 'running') lines.push(`  follow it: berth batch logs ${j.id} --follow; stop it: berth batch cancel ${j.id}`);
  return lines.join('\n') + '\n';
}

/** `berth batch run --remote`: submit, then follow the job to its end (or `--detach`). */
export async function runRemote(ctx: CliContext, o: RemoteRunFlags): Promise<void> {
  const client = await server(ctx);
  const req = jobRequestOf(o);
  const json = ctx.globals.json || o.json === true;
  const job = await client.submitJob(req);
  if (o.detach === true) {
    if (json) ctx.io.out(JSON.stringify(job, null, 2) + '\n');
    else ctx.io.out(`job ${job.id} queued on ${client.where}: ${job.model}@${job.version}, ${job.spec.input} → ${job.spec.output}\nfollow it: berth batch status ${job.id}, berth batch logs ${job.id} --follow\n`);
    return;
  }
  if (!json) ctx.io.err(`job ${job.id} queued on ${client.where} (${job.model}@${job.version}); Ctrl-C stops following, not the job\n`);
  const tty = process.stderr.isTTY === true && ctx.io.env['CI'] === undefined;
  let lastLine = '';
  let detached = false;
  const onSignal = (): void => {
    detached = true;
  };
  process.once('SIGINT', onSignal);
  let j = job;
  try {
    for (;;) {
      j = await client.getJob(job.id);
      if (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled' || detached) break;
      if (!json) {
        const line = renderJobLine(j).trim();
        if (line !== lastLine) {
          ctx.io.err(tty ? `\r${line}\u001b[K` : `${line}\n`);
          lastLine = line;
        }
      }
      await new Promise((r) => setTimeout(r, tty ? 300 : 2000));
    }
  } finally {
    process.off('SIGINT', onSignal);
  }
  if (tty && lastLine !== '' && !json) ctx.io.err('\n');
  if (detached) {
    ctx.io.err(`stopped following; job ${j.id} goes on on the server (berth batch status ${j.id}, berth batch cancel ${j.id})\n`);
    return;
  }
  if (json) ctx.io.out(JSON.stringify(j, null, 2) + '\n');
  else ctx.io.out(renderJob(j));
  if (j.state !== 'succeeded') {
    const code: ErrorCode = j.state === 'cancelled' ? 'CANCELLED' : j.error !== null && j.error.code in ERROR_CATALOG ? (j.error.code as ErrorCode) : 'INTERNAL';
    throw new BerthError(code, `job ${j.id} ${j.state}${j.error !== null ? `: ${j.error.message}` : ''}; berth batch logs ${j.id} shows what it did`, { field: 'job', got: j.id });
  }
}

/** `berth batch list --remote`. */
export async function listRemote(ctx: CliContext, o: { state?: string; limit?: number; json?: boolean }): Promise<void> {
  const client = await server(ctx);
  const { jobs } = await client.listJobs({ ...(o.state !== undefined ? { state: o.state } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) });
  if (ctx.globals.json || o.json === true) {
    ctx.io.out(JSON.stringify({ jobs }, null, 2) + '\n');
    return;
  }
  ctx.io.out(jobs.length === 0 ? `no jobs on ${client.where}${o.state !== undefined ? ` in state ${o.state}` : ''}\n` : jobs.map(renderJobLine).join('\n') + '\n');
}

/** `berth batch status|cancel|logs` for server jobs. */
export function addServerJobCommands(batch: Command, ctx: CliContext): void {
  batch
    .command('status')
    .description("a server job: state, progress, result or error")
    .argument('<job>', 'the job id (berth batch list --remote)')
    .option('--json', 'print the job record as JSON')
    .addHelpText('after', examples('berth batch status 12', 'berth batch status 12 --json'))
    .action(async (raw: string, o: { json?: boolean }) => {
      const j = await (await server(ctx)).getJob(jobIdOf(raw));
      if (ctx.globals.json || o.json === true) ctx.io.out(JSON.stringify(j, null, 2) + '\n');
      else ctx.io.out(renderJob(j));
    });
  batch
    .command('cancel')
    .description('stop a server job: a queued one at once, a running one after its current batch (its finished parts stay, so submitting it again resumes)')
    .argument('<job>', 'the job id')
    .option('--json', 'print the job record as JSON')
    .addHelpText('after', examples('berth batch cancel 12'))
    .action(async (raw: string, o: { json?: boolean }) => {
      const j = await (await server(ctx)).cancelJob(jobIdOf(raw));
      if (ctx.globals.json || o.json === true) ctx.io.out(JSON.stringify(j, null, 2) + '\n');
      else ctx.io.out(j.state === 'cancelled' ? `job ${j.id} cancelled\n` : `job ${j.id} stops after its current batch (berth batch status ${j.id})\n`);
    });
  batch
    .command('logs')
    .description("a server job's log: what ran where, its progress lines, how it ended")
    .argument('<job>', 'the job id')
    .option('--follow', 'keep printing new lines until the job ends')
    .option('--json', 'print the lines as JSON')
    .addHelpText('after', examples('berth batch logs 12', 'berth batch logs 12 --follow'))
    .action(async (raw: string, o: { follow?: boolean; json?: boolean }) => {
      const client = await server(ctx);
      const id = jobIdOf(raw);
      let after = 0;
      const json = ctx.globals.json || o.json === true;
      const all: unknown[] = [];
      for (;;) {
        const page = await client.jobLogs(id, after);
        for (const l of page.lines) {
          if (json) all.push(l);
          else ctx.io.out(`${l.at}  ${l.level.padEnd(5)}  ${l.message}\n`);
        }
        after = page.next;
        const finished = page.state === 'succeeded' || page.state === 'failed' || page.state === 'cancelled';
        if (page.lines.length > 0 && page.lines.length >= 1000) continue;
        if (o.follow !== true || finished) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      if (json) ctx.io.out(JSON.stringify({ job: id, lines: all }, null, 2) + '\n');
    });
}

/**
 * Runs the server's batch jobs. Each job is a `berth batch run` child process at a lower CPU
 * priority, so a job never runs on the server's event loop, never shares its heap, and the kernel
 * gives online inference the CPU first. On Linux the child starts in the kernel's idle scheduling
 * class (SCHED_IDLE, through `chrt`): a waking server thread preempts it at once, so a job only
 * uses CPU that online requests leave over. Elsewhere, or with `jobs.idlePriority: false`, it
 * starts under `nice`. Either way the class is set before the process starts, so every thread it
 * creates (runtime, DuckDB, V8) inherits it. The child reports progress over an IPC channel and
 * stops at its next batch when told to (cancel, shutdown) or when the channel closes (the server
 * died): its finished parts stay, and the job's next run resumes from them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { toBerthError, type Logger } from '../core/index.js';
import { type JobProgress, type JobRecord, type JobStore } from './store.js';

/** What the runner needs to run jobs. */
export interface JobRunnerOptions {
  store: JobStore;
  /** this replica (lease holder) */
  holder: string;
  maxConcurrent: number;
  /** the argv that runs the berth CLI, e.g. [process.execPath, '/app/bin/berth.js'] */
  command: readonly string[];
  /** the data dir the children use (the server's: the same registry, work dirs beside its own) */
  dataDir: string;
  /** the children's environment (the registry's database and artifact URLs travel here) */
  env: NodeJS.ProcessEnv;
  /** CPU niceness of the children, 0–19 (used where the idle class is off or unavailable) */
  nice: number;
  /** start children in the idle scheduling class where the OS has one (default true) */
  idlePriority?: boolean;
  logger: Logger;
  /** how often the queue is looked at for work (ms, default 1,000) */
  pollMs?: number;
  /** how long a job's lease lasts without a heartbeat (ms, default 20,000) */
  leaseMs?: number;
  /** how often a running job's lease is renewed and its progress stored (ms, default 2,000) */
  heartbeatMs?: number;
  /** runs of a job whose process died without an answer before it fails (default 3) */
  maxAttempts?: number;
  /** told of every job this replica finished (schedules raise alerts for failed ones) */
  onFinished?: (job: JobRecord) => void;
}

/** Messages a `berth batch run` child sends over IPC. */
export type JobChildMessage =
  | { type: 'progress'; rowsDone: number; rowsTotal: number | null; seconds: number }
  | { type: 'error'; code: string; message: string };

interface Running {
  job: JobRecord;
  child: ChildProcess;
  progress: JobProgress | null;
  /** why we stopped it, if we did */
  stopping: 'cancel' | 'shutdown' | 'lease-lost' | null;
  error: { code: string; message: string } | null;
  stdout: string;
  pendingLines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The `berth batch run` arguments of a job (everything resolved: the version is fixed at submit). */
export function jobArguments(job: JobRecord, dataDir: string): string[] {
  const s = job.spec;
  const args = ['--data-dir', dataDir, 'batch', 'run', '--model', `${job.model}@${job.version}`, '--input', s.input, '--output', s.output, '--json'];
  if (s.inputFormat !== undefined) args.push('--input-format', s.inputFormat);
  if (s.query !== undefined) args.push('--query', s.query);
  if (s.format !== undefined) args.push('--format', s.format);
  if (s.ifExists !== undefined) args.push('--if-exists', s.ifExists);
  if (s.key !== undefined) args.push(...(s.key.length === 0 ? ['--no-key'] : ['--key', s.key.join(',')]));
  if (s.onError !== undefined) args.push('--on-error', s.onError);
  if (s.batchRows !== undefined) args.push('--batch-rows', String(s.batchRows));
  if (s.partRows !== undefined) args.push('--part-rows', String(s.partRows));
  return args;
}

/** How job processes are started at a low CPU priority: the argv prefix, and words for the logs. */
export interface JobPriority {
  prefix: string[];
  describe: string;
}

function findExecutable(name: string, envPath: string | undefined): string | null {
  const dirs = [...(envPath ?? '').split(path.delimiter).filter((d) => d !== ''), '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The wrapper that starts a job at a low priority: `chrt --idle 0` on Linux when wanted and
 * installed, else `nice -n N` where `nice` exists, else nothing (the job runs at the server's
 * priority, and the logs say so).
 */
export function jobPriority(opts: { nice: number; idlePriority: boolean; envPath?: string | undefined; platform?: NodeJS.Platform }): JobPriority {
  const platform = opts.platform ?? process.platform;
  if (opts.idlePriority && platform === 'linux') {
    const chrt = findExecutable('chrt', opts.envPath);
    if (chrt !== null) return { prefix: [chrt, '--idle', '0'], describe: 'idle scheduling class' };
  }
  if (opts.nice > 0 && platform !== 'win32') {
    const nice = findExecutable('nice', opts.envPath);
    if (nice !== null) return { prefix: [nice, '-n', String(opts.nice)], describe: `nice ${opts.nice}` };
  }
  return { prefix: [], describe: opts.nice === 0 && !opts.idlePriority ? 'normal priority (jobs.nice 0)' : 'normal priority (no chrt or nice found)' };
}

/**
 * Takes queued jobs (and jobs whose replica died) up to `maxConcurrent` at once, runs each in a
 * child process, keeps its lease and progress fresh, and records how it ended.
 *
 * @example
 * const runner = new JobRunner({ store, holder, maxConcurrent: 1, command: [process.execPath, bin], dataDir, env: process.env, nice: 10, logger });
 * runner.start();
 * runner.kick(); // a job was just submitted: look now rather than at the next poll
 * await runner.close(); // running jobs stop at their next batch and go back to the queue
 */
export class JobRunner {
  private readonly running = new Map<number, Running>();
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private claiming: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly priority: JobPriority;

  constructor(private readonly opts: JobRunnerOptions) {
    this.leaseMs = opts.leaseMs ?? 20_000;
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.priority = jobPriority({ nice: opts.nice, idlePriority: opts.idlePriority ?? true, envPath: opts.env['PATH'] });
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.kick(), this.opts.pollMs ?? 1000);
    this.timer.unref();
    this.heartbeat = setInterval(() => void this.beat(), this.opts.heartbeatMs ?? 2000);
    this.heartbeat.unref();
    this.kick();
  }

  /** The ids of the jobs running here now. */
  runningIds(): number[] {
    return [...this.running.keys()];
  }

  /** A cancel was asked for through this replica: stop the job now if it runs here (others see it at their next heartbeat). */
  cancelled(id: number): void {
    const r = this.running.get(id);
    if (r !== undefined && r.stopping === null) {
      r.stopping = 'cancel';
      r.child.kill('SIGTERM');
    }
  }

  /** Look for work now. */
  kick(): void {
    this.claiming = this.claiming.then(() => this.fill()).catch((err) => {
      this.opts.logger.warn('jobs: looking for queued jobs failed; trying again at the next poll', { error: toBerthError(err).message });
    });
  }

  private async fill(): Promise<void> {
    while (!this.closed && this.running.size < this.opts.maxConcurrent) {
      const job = await this.opts.store.claim(this.opts.holder, this.leaseMs);
      if (job === null) return;
      if (job.attempts > this.maxAttempts) {
        await this.opts.store.log(job.id, 'error', `gave up after ${job.attempts - 1} runs that ended without an answer (the process died each time)`);
        await this.end(job, { state: 'failed', error: { code: 'INTERNAL', message: `the job's process died ${job.attempts - 1} times without finishing; see its logs` } });
        continue;
      }
      if (job.cancelRequested) {
        await this.end(job, { state: 'cancelled', error: { code: 'CANCELLED', message: 'cancelled before it ran again' } });
        continue;
      }
      this.launch(job);
    }
  }

  private launch(job: JobRecord): void {
    const jobArgs = jobArguments(job, this.opts.dataDir);
    const [bin, ...args] = [...this.priority.prefix, ...this.opts.command, ...jobArgs];
    const child = spawn(bin!, args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...this.opts.env, BERTH_JOB_IPC: '1', NO_COLOR: '1' },
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        r.error = { code: 'INTERNAL', message: `the job's process could not start: ${err.message}` };
        resolve({ code: null, signal: null });
      });
    });
    const r: Running = { job, child, progress: job.progress, stopping: null, error: null, stdout: '', pendingLines: [], exited };
    this.running.set(job.id, r);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      if (r.stdout.length < 1_000_000) r.stdout += d;
    });
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim() !== '') r.pendingLines.push(l.replace(/\r/g, ''));
    });
    child.on('message', (m: JobChildMessage) => {
      if (m.type === 'progress') {
        const rowsPerSecond = m.seconds > 0 ? Math.round(m.rowsDone / m.seconds) : 0;
        r.progress = { rowsDone: m.rowsDone, rowsTotal: m.rowsTotal, seconds: m.seconds, rowsPerSecond };
      } else if (m.type === 'error') {
        r.error = { code: m.code, message: m.message };
      }
    });
    void this.opts.store.log(job.id, 'info', `run ${job.attempts} on ${this.opts.holder} (pid ${child.pid ?? '?'}, ${this.priority.describe}): berth ${jobArgs.join(' ')}`).catch(() => undefined);
    void exited.then(async (how) => {
      if (partial.trim() !== '') r.pendingLines.push(partial);
      await this.settle(r, how).catch((err) => this.opts.logger.error('jobs: recording how a job ended failed', { job: job.id, error: toBerthError(err).message }));
      this.running.delete(job.id);
      this.kick();
    });
  }

  private async flushLines(r: Running): Promise<void> {
    if (r.pendingLines.length === 0) return;
    const lines = r.pendingLines.splice(0);
    await this.opts.store.log(r.job.id, 'info', ...lines);
  }

  /** Renew the leases of running jobs, store their progress, and stop the ones cancelled. */
  private async beat(): Promise<void> {
    for (const r of [...this.running.values()]) {
      try {
        await this.flushLines(r);
        const { cancelRequested } = await this.opts.store.heartbeat(r.job.id, this.opts.holder, this.leaseMs, r.progress);
        if (cancelRequested && r.stopping === null) {
          r.stopping = 'cancel';
          r.child.kill('SIGTERM');
        }
      } catch (err) {
        const e = toBerthError(err);
        if (e.code === 'JOB_STATE' || e.code === 'NOT_FOUND') {
          // another replica took it over (our lease lapsed): stop ours, theirs resumes from the parts
          this.opts.logger.warn('jobs: lost the lease of a running job; stopping this run', { job: r.job.id, error: e.message });
          if (r.stopping === null) {
            r.stopping = 'lease-lost';
            r.child.kill('SIGTERM');
          }
        } else {
          this.opts.logger.warn('jobs: renewing a job lease failed', { job: r.job.id, error: e.message });
        }
      }
    }
  }

  private async settle(r: Running, how: { code: number | null; signal: NodeJS.Signals | null }): Promise<void> {
    await this.flushLines(r).catch(() => undefined);
    const { job } = r;
    if (r.stopping === 'lease-lost') return;
    let summary: Record<string, unknown> | undefined;
    try {
      summary = how.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
    } catch {
      summary = undefined;
    }
    const complete = summary?.['complete'] === true;
    if (complete) {
      await this.end(job, { state: 'succeeded', summary: summary!, progress: r.progress });
      return;
    }
    if (r.stopping === 'cancel') {
      await this.end(job, { state: 'cancelled', error: { code: 'CANCELLED', message: 'cancelled while running; its finished parts stay, and the same job submitted again resumes from them' }, progress: r.progress, ...(summary ? { summary } : {}) });
      return;
    }
    if (r.stopping === 'shutdown') {
      await this.opts.store.log(job.id, 'info', `stopped by the shutdown of ${this.opts.holder}; back in the queue (it resumes from its finished parts)`);
      await this.end(job, { state: 'queued', progress: r.progress });
      return;
    }
    if (r.error !== null || how.code === 1 || how.code === 2) {
      const error = r.error ?? { code: 'INTERNAL', message: `berth batch run exited with status ${how.code}; see the job's logs` };
      await this.opts.store.log(job.id, 'error', `${error.code}: ${error.message}`);
      await this.end(job, { state: 'failed', error, progress: r.progress });
      return;
    }
    // killed from outside (OOM killer, a signal we did not send): run it again from its parts
    const why = how.signal !== null ? `was killed by ${how.signal}` : `exited with status ${how.code}`;
    if (job.attempts >= this.maxAttempts) {
      await this.opts.store.log(job.id, 'error', `its process ${why}; that was run ${job.attempts} of ${this.maxAttempts}: giving up`);
      await this.end(job, { state: 'failed', error: { code: 'INTERNAL', message: `the job's process ${why} on each of ${job.attempts} runs; see its logs` }, progress: r.progress });
      return;
    }
    await this.opts.store.log(job.id, 'warn', `its process ${why}; queued to run again from its finished parts`);
    await this.end(job, { state: 'queued', progress: r.progress });
  }

  private async end(job: JobRecord, outcome: Parameters<JobStore['finish']>[2]): Promise<void> {
    const ok = await this.opts.store.finish(job.id, this.opts.holder, outcome);
    if (!ok || outcome.state === 'queued' || this.opts.onFinished === undefined) return;
    try {
      this.opts.onFinished(await this.opts.store.get(job.id));
    } catch (err) {
      this.opts.logger.warn('jobs: telling of a finished job failed', { job: job.id, error: toBerthError(err).message });
    }
  }

  /**
   * Stop taking jobs; running ones stop at their next batch (their parts stay) and go back to the
   * queue, so another replica, or this one after a restart, resumes them.
   */
  async close(timeoutMs = 30_000): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.claiming;
    const all = [...this.running.values()];
    for (const r of all) {
      if (r.stopping === null) r.stopping = 'shutdown';
      r.child.kill('SIGTERM');
    }
    const deadline = setTimeout(() => {
      for (const r of all) r.child.kill('SIGKILL');
    }, timeoutMs);
    deadline.unref();
    await Promise.all(all.map((r) => r.exited));
    clearTimeout(deadline);
    // let each exit handler record its outcome
    while (this.running.size > 0) await new Promise((res) => setTimeout(res, 10));
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

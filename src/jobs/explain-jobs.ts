/**
 * Explain jobs: explanation requests too large to answer while the caller waits. They are rows of
 * the jobs table (kind `explain`), so they survive restarts and any replica may run them. They
 * run in the server process one at a time: the model runs happen on the explanations' own
 * sessions in worker threads, so serving keeps its event loop. The result is stored as an
 * artifact (JSON), and the job's summary names it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BerthError, allocateData, toBerthError, type Datatype, type Logger, type Tensor } from '../core/index.js';
import type { ExplainOptions, ExplainResult, ExplainService } from '../explain/index.js';
import type { Registry, VersionRecord } from '../registry/index.js';
import type { ExplainJobRecord, JobStore } from './store.js';

/** A tensor as JSON (typed arrays as lists, 64-bit integers as strings). */
interface JsonTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: (number | string | boolean | null)[];
}

/** What an explain job stores: the rows, the options and the estimate stated when it was queued. */
interface ExplainJobSpec {
  inputs: JsonTensor[];
  options: ExplainOptions;
  estimate: ExplainJobRecord['estimate'];
}

function toJson(t: Tensor): JsonTensor {
  const data = Array.from(t.data as ArrayLike<number | bigint | string | boolean>, (v) => (typeof v === 'bigint' ? v.toString() : typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity') : v));
  return { name: t.name, datatype: t.datatype, shape: [...t.shape], data };
}

function fromJson(t: JsonTensor): Tensor {
  const data = allocateData(t.datatype, t.data.length) as unknown as { [k: number]: unknown };
  const big = t.datatype === 'INT64' || t.datatype === 'UINT64';
  t.data.forEach((v, i) => {
    data[i] = big ? BigInt(v as string | number) : t.datatype === 'BYTES' ? v : typeof v === 'string' ? Number(v) : v;
  });
  return { name: t.name, datatype: t.datatype, shape: t.shape, data: data as unknown as Tensor['data'] };
}

/** What the runner needs. */
export interface ExplainJobRunnerOptions {
  store: JobStore;
  explain: ExplainService;
  registry: Registry;
  /** this replica (lease holder) */
  holder: string;
  logger: Logger;
  /** the most model evaluations one job may cost (`explain.maxJobEvaluations`) */
  maxEvaluations: number;
  pollMs?: number;
  leaseMs?: number;
  heartbeatMs?: number;
}

/**
 * Queue explain jobs and run them.
 *
 * @example
 * const runner = new ExplainJobRunner({ store, explain, registry, holder, logger, maxEvaluations: 2e9 });
 * runner.start();
 * const job = await runner.submit('credit', version, inputs, options, estimate, 'alice');
 */
export class ExplainJobRunner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private closed = false;

  constructor(private readonly opts: ExplainJobRunnerOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.kick(), this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  /** Queue a job for these rows, with the estimate stated up front. */
  async submit(
    deployment: string, version: VersionRecord, inputs: readonly Tensor[], options: ExplainOptions,
    estimate: ExplainJobRecord['estimate'], actor: string,
  ): Promise<ExplainJobRecord> {
    if (estimate.evaluations > this.opts.maxEvaluations) {
      throw new BerthError('PAYLOAD_TOO_LARGE', `this explanation would take ${estimate.evaluations.toLocaleString('en-US')} model evaluations (${estimate.rows} rows, ${estimate.method}), over explain.maxJobEvaluations ${this.opts.maxEvaluations.toLocaleString('en-US')}; split the rows over several requests or lower the budget`, {
        field: 'budget', expected: `≤ ${this.opts.maxEvaluations} evaluations`, got: estimate.evaluations,
      });
    }
    const spec: ExplainJobSpec = { inputs: inputs.map(toJson), options, estimate };
    const job = await this.opts.store.submitExplain({
      deployment, model: version.model, version: version.version, spec: spec as unknown as Record<string, unknown>, actor,
      details: { deployment, rows: estimate.rows, method: estimate.method, evaluations: estimate.evaluations },
    });
    await this.opts.store.log(job.id, 'info', `queued by ${actor}: ${estimate.rows} rows of ${deployment} (${version.model}@${version.version}) by ${estimate.method}, about ${estimate.evaluations.toLocaleString('en-US')} model evaluations`);
    this.kick();
    return job;
  }

  /** A job's record. */
  record(id: number): Promise<ExplainJobRecord> {
    return this.opts.store.getExplain(id);
  }

  /** Ask a job to stop: a queued one at once, a running one after the row in hand. */
  async cancel(id: number, actor: string): Promise<ExplainJobRecord> {
    const job = await this.opts.store.cancelExplain(id, actor);
    if (this.abort !== null && job.holder === this.opts.holder) this.abort.abort();
    return job;
  }

  /** A finished job's result. */
  async result(id: number): Promise<ExplainResult> {
    const job = await this.opts.store.getExplain(id);
    if (job.state !== 'succeeded' || job.summary === null) {
      throw new BerthError('JOB_STATE', `explain job ${id} is ${job.state}${job.error ? ` (${job.error.code}: ${job.error.message})` : ''}; its result exists once it has succeeded`, {
        field: 'job', expected: 'succeeded', got: job.state,
      });
    }
    return JSON.parse(Buffer.from(await this.opts.registry.artifacts.read(job.summary.result)).toString('utf8')) as ExplainResult;
  }

  /** Look for work now. */
  kick(): void {
    if (this.closed || this.running !== null) return;
    this.running = this.next()
      .catch((err) => this.opts.logger.warn('explain jobs: taking a job failed; trying again at the next poll', { error: toBerthError(err).message }))
      .finally(() => {
        this.running = null;
      });
  }

  private async next(): Promise<void> {
    const leaseMs = this.opts.leaseMs ?? 20_000;
    for (;;) {
      if (this.closed) return;
      const job = await this.opts.store.claimExplain(this.opts.holder, leaseMs);
      if (job === null) return;
      await this.run(job, leaseMs);
    }
  }

  private async run(job: ExplainJobRecord, leaseMs: number): Promise<void> {
    const { store, holder } = this.opts;
    const abort = new AbortController();
    this.abort = abort;
    const started = Date.now();
    let progress = { rowsDone: 0, rowsTotal: job.estimate.rows as number | null, seconds: 0, rowsPerSecond: 0 };
    const beat = setInterval(() => {
      void store.heartbeat(job.id, holder, leaseMs, progress).then(
        ({ cancelRequested }) => cancelRequested && abort.abort(),
        () => abort.abort(),
      );
    }, this.opts.heartbeatMs ?? 2000);
    try {
      if (job.cancelRequested) throw new BerthError('CANCELLED', 'cancelled before it ran');
      const spec = (await store.explainSpec(job.id)) as unknown as ExplainJobSpec;
      const version = await this.opts.registry.getVersion(job.model, job.version);
      await store.log(job.id, 'info', `run ${job.attempts} on ${holder}`);
      const result = await this.opts.explain.explain(version, spec.inputs.map(fromJson), spec.options, {
        limit: this.opts.maxEvaluations,
        signal: abort.signal,
        onProgress: (done, total) => {
          const seconds = (Date.now() - started) / 1000;
          progress = { rowsDone: done, rowsTotal: total, seconds, rowsPerSecond: seconds > 0 ? Math.round(done / seconds) : 0 };
        },
      });
      const sha = await this.storeResult({ deployment: job.deployment, ...result });
      await store.log(job.id, 'info', `done: ${result.explanations.length} rows, ${result.evaluations.toLocaleString('en-US')} model evaluations in ${(result.milliseconds / 1000).toFixed(1)} s`);
      await store.finish(job.id, holder, {
        state: 'succeeded', progress,
        summary: { result: sha, rows: result.explanations.length, evaluations: result.evaluations, milliseconds: result.milliseconds },
      });
    } catch (err) {
      const e = toBerthError(err);
      if (this.closed && e.code === 'CANCELLED' && !(await store.getExplain(job.id)).cancelRequested) {
        // the server is stopping: back to the queue, to run again from the start
        await store.finish(job.id, holder, { state: 'queued', progress: null });
        return;
      }
      const cancelled = e.code === 'CANCELLED';
      await store.log(job.id, cancelled ? 'info' : 'error', `${e.code}: ${e.message}`);
      await store.finish(job.id, holder, { state: cancelled ? 'cancelled' : 'failed', error: { code: e.code, message: e.message }, progress });
    } finally {
      clearInterval(beat);
      this.abort = null;
    }
  }

  private async storeResult(result: ExplainResult & { deployment: string }): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-explain-job-'));
    try {
      const file = path.join(dir, 'result.json');
      await writeFile(file, JSON.stringify(result));
      return (await this.opts.registry.artifacts.put(file)).sha256;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Stop taking jobs; a running one stops at its next row and goes back to the queue. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.abort?.abort();
    await this.running;
  }
}

/**
 * Server jobs as rows in the registry's database: any replica lists them and reads their logs;
 * the replica running a job holds a lease on it (renewed while it runs), so a job whose replica
 * died is taken up again by another once the lease lapses.
 */
import type { Selectable } from 'kysely';
import { BerthError } from '../core/index.js';
import type { Registry } from '../registry/index.js';
import type { JobsTable } from '../registry/metadata-store.js';
import type { JobRequest } from './job-request.js';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
/** States a job does not leave. */
export const FINISHED_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/** How far a running job got (from its progress reports). */
export interface JobProgress {
  rowsDone: number;
  rowsTotal: number | null;
  rowsPerSecond: number;
  seconds: number;
}

/** What every kind of job shows: its state, who asked, who runs it, how far it got, how it ended. */
interface JobBase {
  id: number;
  state: JobState;
  /** the version it runs with */
  model: string;
  version: number;
  actor: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** the replica running it */
  holder: string | null;
  attempts: number;
  cancelRequested: boolean;
  progress: JobProgress | null;
  error: { code: string; message: string } | null;
}

/** A server job, as the API shows it. */
export interface JobRecord extends JobBase {
  kind: 'batch';
  /** what was asked for (`credit@production`); `version` is what it resolved to at submit */
  ref: string;
  spec: JobRequest;
  /** the batch summary of a finished job (rows in/out, rejected, seconds, rows/s, output) */
  summary: Record<string, unknown> | null;
  /** the schedule that submitted it and the instant it ran for */
  schedule: string | null;
  scheduledAt: string | null;
}

/** One line of a job's log. */
export interface JobLogLine {
  seq: number;
  at: string;
  level: 'info' | 'warn' | 'error';
  message: string;
}

/** Filters of {@link JobStore.list}. */
export interface JobListOptions {
  state?: JobState;
  schedule?: string;
  model?: string;
  /** newest first; at most 500 */
  limit?: number;
  /** only jobs with a smaller id (paging) */
  before?: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());
const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

function toRecord(r: Selectable<JobsTable>): JobRecord {
  return {
    id: Number(r.id),
    kind: 'batch',
    state: r.state as JobState,
    ref: r.ref,
    model: r.model,
    version: Number(r.version),
    spec: JSON.parse(r.spec) as JobRequest,
    actor: r.actor,
    createdAt: iso(r.created_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    holder: r.holder,
    attempts: Number(r.attempts),
    cancelRequested: Number(r.cancel_requested) === 1,
    progress: json<JobProgress>(r.progress),
    summary: json<Record<string, unknown>>(r.summary),
    error: json<{ code: string; message: string }>(r.error),
    schedule: r.schedule,
    scheduledAt: iso(r.scheduled_at),
  };
}

/** An explain job (`POST /v1/deployments/{name}/explain` over the synchronous limit, or with `async`). */
export interface ExplainJobRecord extends JobBase {
  kind: 'explain';
  deployment: string;
  /** stated up front: the method and the model evaluations it will take */
  estimate: { method: string; rows: number; evaluations: number };
  /** when it succeeded: the result's artifact, and its figures */
  summary: { result: string; rows: number; evaluations: number; milliseconds: number } | null;
}

function toExplainRecord(r: Selectable<JobsTable>): ExplainJobRecord {
  const spec = JSON.parse(r.spec) as { estimate: ExplainJobRecord['estimate'] };
  return {
    id: Number(r.id), kind: 'explain', state: r.state as JobState, deployment: r.ref, model: r.model, version: Number(r.version), actor: r.actor,
    createdAt: iso(r.created_at)!, startedAt: iso(r.started_at), finishedAt: iso(r.finished_at), holder: r.holder,
    attempts: Number(r.attempts), cancelRequested: Number(r.cancel_requested) === 1,
    progress: json<JobProgress>(r.progress), estimate: spec.estimate,
    summary: json<ExplainJobRecord['summary']>(r.summary), error: json<{ code: string; message: string }>(r.error),
  };
}

export function jobNotFound(id: string | number): BerthError {
  return new BerthError('NOT_FOUND', `no job ${id}; \`berth batch list --remote\` lists the server's jobs`, { field: 'job', got: String(id) });
}

/**
 * The jobs table. Every state change is one transaction that checks the state it expects, so two
 * replicas never both take a job, and a cancel never races a finish into an impossible state.
 */
export class JobStore {
  constructor(private readonly registry: Registry) {}

  private get db() {
    return this.registry.metadata.db;
  }

  /** Queue a job (and audit who asked for it). */
  async submit(input: { request: JobRequest; model: string; version: number; actor: string; schedule?: string; scheduledAt?: number }): Promise<JobRecord> {
    const now = await this.registry.databaseTime();
    const id = await this.registry.metadata.transaction(async (trx) => {
      const row = await trx
        .insertInto('jobs')
        .values({
          kind: 'batch', state: 'queued', model: input.model, version: input.version, ref: input.request.model,
          spec: JSON.stringify(input.request), actor: input.actor, created_at: now, updated_at: now,
          started_at: null, finished_at: null, holder: null, lease_until: null, attempts: 0, cancel_requested: 0,
          progress: null, summary: null, error: null, schedule: input.schedule ?? null, scheduled_at: input.scheduledAt ?? null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const jid = Number(row.id);
      await this.registry.appendAudit(
        { action: 'job.submit', target: `job:${jid}`, model: input.model, details: { job: jid, version: input.version, input: input.request.input, output: input.request.output, ...(input.schedule !== undefined ? { schedule: input.schedule } : {}) }, actor: input.actor },
        trx,
      );
      return jid;
    });
    return this.get(id);
  }

  async get(id: number): Promise<JobRecord> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).where('kind', '=', 'batch').executeTakeFirst();
    if (!row) throw jobNotFound(id);
    return toRecord(row);
  }

  /** Queue an explain job (kind `explain`; its spec is the explain job's own JSON). */
  async submitExplain(input: { deployment: string; model: string; version: number; spec: Record<string, unknown>; actor: string; details: Record<string, unknown> }): Promise<ExplainJobRecord> {
    const now = await this.registry.databaseTime();
    const id = await this.registry.metadata.transaction(async (trx) => {
      const row = await trx
        .insertInto('jobs')
        .values({
          kind: 'explain', state: 'queued', model: input.model, version: input.version, ref: input.deployment,
          spec: JSON.stringify(input.spec), actor: input.actor, created_at: now, updated_at: now,
          started_at: null, finished_at: null, holder: null, lease_until: null, attempts: 0, cancel_requested: 0,
          progress: null, summary: null, error: null, schedule: null, scheduled_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const jid = Number(row.id);
      await this.registry.appendAudit({ action: 'job.submit', target: `job:${jid}`, model: input.model, details: { job: jid, kind: 'explain', version: input.version, ...input.details }, actor: input.actor }, trx);
      return jid;
    });
    return this.getExplain(id);
  }

  /** An explain job, or NOT_FOUND. */
  async getExplain(id: number): Promise<ExplainJobRecord> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).where('kind', '=', 'explain').executeTakeFirst();
    if (!row) throw new BerthError('NOT_FOUND', `no explain job ${id}`, { field: 'job', got: String(id) });
    return toExplainRecord(row);
  }

  /** An explain job's spec as stored (for the replica that runs it). */
  async explainSpec(id: number): Promise<Record<string, unknown>> {
    const row = await this.db.selectFrom('jobs').select(['spec']).where('id', '=', id).where('kind', '=', 'explain').executeTakeFirst();
    if (!row) throw new BerthError('NOT_FOUND', `no explain job ${id}`, { field: 'job', got: String(id) });
    return JSON.parse(row.spec) as Record<string, unknown>;
  }

  async list(opts: JobListOptions = {}): Promise<JobRecord[]> {
    let q = this.db.selectFrom('jobs').selectAll().where('kind', '=', 'batch');
    if (opts.state !== undefined) q = q.where('state', '=', opts.state);
    if (opts.schedule !== undefined) q = q.where('schedule', '=', opts.schedule);
    if (opts.model !== undefined) q = q.where('model', '=', opts.model);
    if (opts.before !== undefined) q = q.where('id', '<', opts.before);
    const limit = Math.min(500, Math.max(1, opts.limit ?? 50));
    return (await q.orderBy('id', 'desc').limit(limit).execute()).map(toRecord);
  }

  /**
   * Take the oldest job that is queued, or running under a lease that lapsed (its replica died),
   * for `holder` until `leaseMs` from now. Null when there is none.
   */
  async claim(holder: string, leaseMs: number): Promise<JobRecord | null> {
    const id = await this.claimKind('batch', holder, leaseMs);
    return id === null ? null : this.get(id);
  }

  /** The same for explain jobs. */
  async claimExplain(holder: string, leaseMs: number): Promise<ExplainJobRecord | null> {
    const id = await this.claimKind('explain', holder, leaseMs);
    return id === null ? null : this.getExplain(id);
  }

  private async claimKind(kind: 'batch' | 'explain', holder: string, leaseMs: number): Promise<number | null> {
    return this.registry.metadata.transaction(async (trx) => {
      const now = await this.registry.databaseTime(trx);
      const row = await trx
        .selectFrom('jobs')
        .select(['id', 'state', 'attempts'])
        .where('kind', '=', kind)
        .where((eb) => eb.or([eb('state', '=', 'queued'), eb.and([eb('state', '=', 'running'), eb('lease_until', '<', now)])]))
        .orderBy('id', 'asc')
        .limit(1)
        .executeTakeFirst();
      if (!row) return null;
      const jid = Number(row.id);
      await trx
        .updateTable('jobs')
        .set((eb) => ({ state: 'running', holder, lease_until: now + leaseMs, attempts: eb('attempts', '+', 1), updated_at: now, started_at: eb.fn.coalesce('started_at', eb.val(now)) }))
        .where('id', '=', jid)
        .execute();
      return jid;
    });
  }

  /**
   * Renew `holder`'s lease and store the job's progress. Returns whether a cancel was asked for;
   * LEASE_LOST (as a CONFLICT error) when the job is no longer this holder's.
   */
  async heartbeat(id: number, holder: string, leaseMs: number, progress: JobProgress | null): Promise<{ cancelRequested: boolean }> {
    return this.registry.metadata.transaction(async (trx) => {
      const now = await this.registry.databaseTime(trx);
      const row = await trx.selectFrom('jobs').select(['holder', 'state', 'cancel_requested']).where('id', '=', id).executeTakeFirst();
      if (!row) throw jobNotFound(id);
      if (row.state !== 'running' || row.holder !== holder) {
        throw new BerthError('JOB_STATE', `job ${id} is no longer run by this replica (it is ${row.state}${row.holder ? ` on ${row.holder}` : ''})`, { field: 'job', got: row.state });
      }
      await trx
        .updateTable('jobs')
        .set({ lease_until: now + leaseMs, updated_at: now, ...(progress !== null ? { progress: JSON.stringify(progress) } : {}) })
        .where('id', '=', id)
        .execute();
      return { cancelRequested: Number(row.cancel_requested) === 1 };
    });
  }

  /** End a running job held by `holder` (a job taken over by another replica is left alone). */
  async finish(id: number, holder: string, outcome: { state: 'succeeded' | 'failed' | 'cancelled' | 'queued'; summary?: Record<string, unknown>; error?: { code: string; message: string }; progress?: JobProgress | null }): Promise<boolean> {
    return this.registry.metadata.transaction(async (trx) => {
      const now = await this.registry.databaseTime(trx);
      const r = await trx
        .updateTable('jobs')
        .set({
          state: outcome.state,
          holder: null,
          lease_until: null,
          updated_at: now,
          finished_at: outcome.state === 'queued' ? null : now,
          ...(outcome.summary !== undefined ? { summary: JSON.stringify(outcome.summary) } : {}),
          ...(outcome.error !== undefined ? { error: JSON.stringify(outcome.error) } : {}),
          ...(outcome.progress !== undefined ? { progress: outcome.progress === null ? null : JSON.stringify(outcome.progress) } : {}),
        })
        .where('id', '=', id)
        .where('state', '=', 'running')
        .where('holder', '=', holder)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    });
  }

  /**
   * Ask a job to stop. A queued job is cancelled at once; a running one is marked, and its
   * replica stops it at its next heartbeat (within seconds). A finished job is refused.
   */
  async cancel(id: number, actor: string): Promise<JobRecord> {
    await this.get(id);
    await this.requestCancel(id, actor);
    return this.get(id);
  }

  /** The same for explain jobs. */
  async cancelExplain(id: number, actor: string): Promise<ExplainJobRecord> {
    await this.getExplain(id);
    await this.requestCancel(id, actor);
    return this.getExplain(id);
  }

  private async requestCancel(id: number, actor: string): Promise<void> {
    await this.registry.metadata.transaction(async (trx) => {
      const now = await this.registry.databaseTime(trx);
      const row = await trx.selectFrom('jobs').select(['state', 'model']).where('id', '=', id).executeTakeFirst();
      if (!row) throw jobNotFound(id);
      const state = row.state as JobState;
      if (FINISHED_JOB_STATES.includes(state)) {
        throw new BerthError('JOB_STATE', `job ${id} already ${state}; only a queued or running job can be cancelled`, { field: 'job', expected: ['queued', 'running'], got: state });
      }
      if (state === 'queued') {
        await trx.updateTable('jobs').set({ state: 'cancelled', cancel_requested: 1, finished_at: now, updated_at: now, error: JSON.stringify({ code: 'CANCELLED', message: `cancelled by ${actor} before it started` }) }).where('id', '=', id).execute();
      } else {
        await trx.updateTable('jobs').set({ cancel_requested: 1, updated_at: now }).where('id', '=', id).execute();
      }
      await this.registry.appendAudit({ action: 'job.cancel', target: `job:${id}`, model: row.model, details: { job: id, state }, actor }, trx);
    });
    await this.log(id, 'info', `cancel requested by ${actor}`);
  }

  /** Append lines to a job's log (numbered in order). */
  async log(id: number, level: JobLogLine['level'], ...messages: string[]): Promise<void> {
    if (messages.length === 0) return;
    await this.registry.metadata.transaction(async (trx) => {
      const now = await this.registry.databaseTime(trx);
      const last = await trx.selectFrom('job_logs').select((eb) => eb.fn.max('seq').as('seq')).where('job_id', '=', id).executeTakeFirst();
      let seq = Number(last?.seq ?? 0);
      await trx
        .insertInto('job_logs')
        .values(messages.map((message) => ({ job_id: id, seq: ++seq, at: now, level, message: message.slice(0, 4000) })))
        .execute();
    });
  }

  /** A job's log lines after `after` (0: from the start), oldest first. */
  async logs(id: number, after = 0, limit = 1000): Promise<JobLogLine[]> {
    await this.get(id);
    const rows = await this.db
      .selectFrom('job_logs')
      .selectAll()
      .where('job_id', '=', id)
      .where('seq', '>', after)
      .orderBy('seq', 'asc')
      .limit(Math.min(10_000, Math.max(1, limit)))
      .execute();
    return rows.map((r) => ({ seq: Number(r.seq), at: iso(r.at)!, level: r.level as JobLogLine['level'], message: r.message }));
  }

  /** How many jobs wait and run, for /v1/status and metrics. */
  async counts(): Promise<Record<JobState, number>> {
    const rows = await this.db.selectFrom('jobs').select(['state', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('state').execute();
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of rows) out[r.state as JobState] = Number(r.n);
    return out;
  }
}

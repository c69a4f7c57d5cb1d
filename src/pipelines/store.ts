/**
 * Pipelines and their runs as rows in the registry's database: any replica (and the CLI on the
 * same data dir) lists them, reads their logs and metrics; the process running a run holds a
 * lease on it, renewed while it runs, so a run whose process died is taken up again and resumes
 * after its last finished step.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Selectable } from 'kysely';
import { BerthError } from '../core/index.js';
import type { GitInfo, Registry } from '../registry/index.js';
import type { PipelineRunsTable, PipelineStepsTable, PipelinesTable } from '../registry/metadata-store.js';
import type { ParamValue, PipelineSpec } from './spec.js';

export const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];
export const FINISHED_RUN_STATES: readonly RunState[] = ['succeeded', 'failed', 'cancelled'];

export const STEP_STATES = ['pending', 'running', 'succeeded', 'cached', 'failed', 'skipped', 'cancelled'] as const;
export type StepState = (typeof STEP_STATES)[number];
/** States a step does not leave within a run. */
export const FINISHED_STEP_STATES: readonly StepState[] = ['succeeded', 'cached', 'failed', 'skipped', 'cancelled'];

/** What started a run. */
export interface RunTrigger {
  kind: 'cli' | 'api' | 'schedule' | 'alert' | 'feedback' | 'git';
  /** the alert, the cron instant, the label count, the commit… */
  detail?: Record<string, unknown>;
}

/** One file a step wrote, as stored. */
export interface OutputFile {
  file: string;
  sha256: string;
  bytes: number;
}

export interface StepRecord {
  name: string;
  state: StepState;
  attempts: number;
  cacheKey: string | null;
  /** the run whose outputs a cached step reused */
  cachedFrom: number | null;
  outputs: Record<string, OutputFile> | null;
  /** a built-in step's answer (metrics, verdict, version, rollout) */
  result: Record<string, unknown> | null;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  error: { code: string; message: string } | null;
}

/** What a run produced that others care about. */
export interface RunResult {
  model?: string;
  version?: number;
  deployment?: string;
  rollout?: number;
  /** a compare gate's verdict */
  gate?: { passed: boolean; reasons: string[] };
}

export interface RunRecord {
  id: number;
  pipeline: string;
  pipelineVersion: number | null;
  state: RunState;
  params: Record<string, ParamValue>;
  trigger: RunTrigger;
  workdir: string;
  /** the git commit of the workdir when the run was created */
  code: GitInfo | null;
  mode: 'local' | 'server';
  actor: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  holder: string | null;
  attempts: number;
  cancelRequested: boolean;
  error: { code: string; message: string } | null;
  result: RunResult | null;
  sourceSha256: string;
  /** the spec it runs with (a resume never re-reads the file) */
  spec: PipelineSpec;
  steps: StepRecord[];
}

export interface RunLogLine {
  seq: number;
  step: string;
  at: string;
  stream: 'stdout' | 'stderr' | 'berth';
  line: string;
}

export interface RunMetric {
  step: string;
  key: string;
  value: number;
  /** the training step (epoch) it was logged at */
  metricStep: number | null;
  at: string;
}

export interface DatasetFingerprint {
  path: string;
  sha256: string;
  bytes: number;
}

export interface PipelineRecord {
  name: string;
  version: number;
  spec: PipelineSpec;
  source: string;
  sha256: string;
  workdir: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  actor: string;
}

export interface RunListOptions {
  pipeline?: string;
  state?: RunState;
  limit?: number;
  before?: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());
const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

function toStep(r: Selectable<PipelineStepsTable>): StepRecord {
  return {
    name: r.name, state: r.state as StepState, attempts: Number(r.attempts), cacheKey: r.cache_key,
    cachedFrom: r.cached_from === null ? null : Number(r.cached_from), outputs: json(r.outputs), result: json(r.result),
    startedAt: iso(r.started_at), finishedAt: iso(r.finished_at), exitCode: r.exit_code === null ? null : Number(r.exit_code), error: json(r.error),
  };
}

function toRun(r: Selectable<PipelineRunsTable>, steps: StepRecord[]): RunRecord {
  return {
    id: Number(r.id), pipeline: r.pipeline, pipelineVersion: r.pipeline_version === null ? null : Number(r.pipeline_version),
    state: r.state as RunState, params: JSON.parse(r.params) as Record<string, ParamValue>, trigger: JSON.parse(r.trigger) as RunTrigger,
    workdir: r.workdir, code: json<GitInfo>(r.code), mode: r.mode as 'local' | 'server', actor: r.actor,
    createdAt: iso(r.created_at)!, startedAt: iso(r.started_at), finishedAt: iso(r.finished_at), holder: r.holder,
    attempts: Number(r.attempts), cancelRequested: Number(r.cancel_requested) === 1, error: json(r.error), result: json(r.result),
    sourceSha256: r.source_sha256, spec: JSON.parse(r.spec) as PipelineSpec, steps,
  };
}

function toPipeline(r: Selectable<PipelinesTable>): PipelineRecord {
  return {
    name: r.name, version: Number(r.version), spec: JSON.parse(r.spec) as PipelineSpec, source: r.source, sha256: r.sha256, workdir: r.workdir,
    enabled: Number(r.enabled) === 1, createdAt: iso(r.created_at)!, updatedAt: iso(r.updated_at)!, actor: r.actor,
  };
}

/** A run as lists and lineage show it: without the spec it runs with (GET /v1/runs/{id} has that). */
export function briefRun(run: RunRecord): Omit<RunRecord, 'spec'> {
  const { spec: _spec, ...rest } = run;
  return rest;
}

export function runNotFound(id: string | number): BerthError {
  return new BerthError('NOT_FOUND', `no pipeline run ${id}; \`berth runs list\` lists them`, { field: 'run', got: String(id) });
}

/** This process, as a lease holder: `host:pid`. */
export function localHolder(): string {
  return `${hostname()}:${process.pid}`;
}

/** Whether a `host:pid` holder on this host is a process that no longer exists. */
export function holderIsDeadHere(holder: string): boolean {
  // `host:pid` (the CLI) or `host:pid:suffix` (a server replica)
  const [host, pidText] = holder.split(':');
  if (host !== hostname() || pidText === undefined) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** The sha256 of a pipeline file's text (what a stored pipeline and a run record as its source). */
export function sourceSha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A dataset fingerprint as given (`sha256:AB12…`, upper case) in the stored form. */
export function normalizeSha(text: string): string {
  return text.trim().toLowerCase().replace(/^sha256:/, '');
}

export class RunStore {
  constructor(private readonly registry: Registry) {}

  private get db() {
    return this.registry.metadata.db;
  }

  private now(): number {
    return Date.now();
  }

  // pipelines ----------------------------------------------------------------------------------

  /** Store a pipeline file; a changed text is a new version (the old ones stay readable). */
  async putPipeline(input: { spec: PipelineSpec; source: string; workdir: string; actor: string }): Promise<{ pipeline: PipelineRecord; created: boolean; changed: boolean }> {
    const sha256 = sourceSha256(input.source);
    const now = this.now();
    const { created, changed } = await this.registry.metadata.transaction(async (trx) => {
      const cur = await trx.selectFrom('pipelines').selectAll().where('name', '=', input.spec.name).executeTakeFirst();
      if (cur && cur.sha256 === sha256 && cur.workdir === input.workdir) return { created: false, changed: false };
      const version = cur ? Number(cur.version) + 1 : 1;
      const row = { version, spec: JSON.stringify(input.spec), source: input.source, sha256, workdir: input.workdir, updated_at: now, actor: input.actor };
      if (cur) await trx.updateTable('pipelines').set(row).where('name', '=', input.spec.name).execute();
      else await trx.insertInto('pipelines').values({ name: input.spec.name, ...row, enabled: 1, created_at: now }).execute();
      await trx.insertInto('pipeline_versions').values({ name: input.spec.name, version, source: input.source, sha256, workdir: input.workdir, created_at: now, actor: input.actor }).execute();
      return { created: !cur, changed: true };
    });
    if (changed) await this.registry.appendAudit({ actor: input.actor, action: created ? 'pipeline.create' : 'pipeline.update', target: `pipeline:${input.spec.name}`, model: null, details: { sha256, workdir: input.workdir } });
    return { pipeline: await this.getPipeline(input.spec.name), created, changed };
  }

  async getPipeline(name: string): Promise<PipelineRecord> {
    const r = await this.db.selectFrom('pipelines').selectAll().where('name', '=', name).executeTakeFirst();
    if (!r) throw new BerthError('NOT_FOUND', `no pipeline "${name}"; create it with \`berth pipeline create FILE --server URL\`, or list them with \`berth pipeline list\``, { field: 'pipeline', got: name });
    return toPipeline(r);
  }

  async listPipelines(): Promise<PipelineRecord[]> {
    return (await this.db.selectFrom('pipelines').selectAll().orderBy('name').execute()).map(toPipeline);
  }

  async setPipelineEnabled(name: string, enabled: boolean, actor: string): Promise<PipelineRecord> {
    await this.getPipeline(name);
    await this.registry.metadata.transaction((trx) => trx.updateTable('pipelines').set({ enabled: enabled ? 1 : 0, updated_at: this.now() }).where('name', '=', name).execute());
    await this.registry.appendAudit({ actor, action: enabled ? 'pipeline.resume' : 'pipeline.pause', target: `pipeline:${name}`, model: null, details: {} });
    return this.getPipeline(name);
  }

  async deletePipeline(name: string, actor: string): Promise<void> {
    await this.getPipeline(name);
    await this.registry.metadata.transaction(async (trx) => {
      await trx.deleteFrom('pipelines').where('name', '=', name).execute();
      await trx.deleteFrom('pipeline_triggers').where('pipeline', '=', name).execute();
    });
    await this.registry.appendAudit({ actor, action: 'pipeline.delete', target: `pipeline:${name}`, model: null, details: {} });
  }

  // runs ---------------------------------------------------------------------------------------

  /**
   * Create a run with every step pending. A local run is held by this process from the start; a
   * server run waits in the queue for a replica.
   */
  async createRun(input: {
    spec: PipelineSpec; sourceSha256: string; pipelineVersion: number | null; params: Record<string, ParamValue>; trigger: RunTrigger;
    workdir: string; code: GitInfo | null; mode: 'local' | 'server'; actor: string; holder?: string; leaseMs?: number;
  }): Promise<RunRecord> {
    const now = this.now();
    const local = input.mode === 'local';
    const id = await this.registry.metadata.transaction(async (trx) => {
      const row = await trx.insertInto('pipeline_runs').values({
        pipeline: input.spec.name, pipeline_version: input.pipelineVersion, spec: JSON.stringify(input.spec), source_sha256: input.sourceSha256,
        params: JSON.stringify(input.params), trigger: JSON.stringify(input.trigger), workdir: input.workdir, code: input.code ? JSON.stringify(input.code) : null,
        mode: input.mode, state: local ? 'running' : 'queued', actor: input.actor, created_at: now, updated_at: now, started_at: local ? now : null, finished_at: null,
        holder: local ? (input.holder ?? localHolder()) : null, lease_until: local ? now + (input.leaseMs ?? 15_000) : null,
        attempts: local ? 1 : 0, cancel_requested: 0, error: null, result: null,
      }).returning('id').executeTakeFirstOrThrow();
      const runId = Number(row.id);
      for (const s of input.spec.steps) {
        await trx.insertInto('pipeline_steps').values({ run_id: runId, name: s.name, state: 'pending', attempts: 0, cache_key: null, cached_from: null, outputs: null, result: null, started_at: null, finished_at: null, exit_code: null, error: null }).execute();
      }
      return runId;
    });
    await this.registry.appendAudit({ actor: input.actor, action: 'pipeline.run', target: `pipeline:${input.spec.name}`, model: null, details: { run: id, trigger: input.trigger.kind, mode: input.mode } });
    return this.getRun(id);
  }

  async getRun(id: number): Promise<RunRecord> {
    const r = await this.db.selectFrom('pipeline_runs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw runNotFound(id);
    const steps = await this.db.selectFrom('pipeline_steps').selectAll().where('run_id', '=', id).execute();
    const spec = JSON.parse(r.spec) as PipelineSpec;
    const order = new Map(spec.steps.map((s, i) => [s.name, i]));
    return toRun(r, steps.map(toStep).sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0)));
  }

  async listRuns(opts: RunListOptions = {}): Promise<RunRecord[]> {
    let q = this.db.selectFrom('pipeline_runs').selectAll().orderBy('id', 'desc').limit(Math.min(Math.max(opts.limit ?? 50, 1), 500));
    if (opts.pipeline !== undefined) q = q.where('pipeline', '=', opts.pipeline);
    if (opts.state !== undefined) q = q.where('state', '=', opts.state);
    if (opts.before !== undefined) q = q.where('id', '<', opts.before);
    const rows = await q.execute();
    if (rows.length === 0) return [];
    const steps = await this.db.selectFrom('pipeline_steps').selectAll().where('run_id', 'in', rows.map((r) => Number(r.id))).execute();
    return rows.map((r) => {
      const spec = JSON.parse(r.spec) as PipelineSpec;
      const order = new Map(spec.steps.map((s, i) => [s.name, i]));
      return toRun(r, steps.filter((s) => Number(s.run_id) === Number(r.id)).map(toStep).sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0)));
    });
  }

  /**
   * Take a run to execute: a queued one, or one whose holder's lease lapsed (or, on this host,
   * whose holder process is gone). Answers null when another process holds it.
   */
  async claimRun(id: number, holder: string, leaseMs: number): Promise<RunRecord | null> {
    const now = this.now();
    const taken = await this.registry.metadata.transaction(async (trx) => {
      const r = await trx.selectFrom('pipeline_runs').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r) throw runNotFound(id);
      if (FINISHED_RUN_STATES.includes(r.state as RunState)) return 'finished';
      const free = r.holder === null || r.holder === holder || Number(r.lease_until ?? 0) < now || holderIsDeadHere(r.holder);
      if (!free) return 'held';
      await trx.updateTable('pipeline_runs').set({
        state: 'running', holder, lease_until: now + leaseMs, attempts: Number(r.attempts) + 1, started_at: r.started_at ?? now, updated_at: now,
      }).where('id', '=', id).execute();
      // a step that was running when its process died starts again from scratch
      await trx.updateTable('pipeline_steps').set({ state: 'pending', started_at: null }).where('run_id', '=', id).where('state', '=', 'running').execute();
      return 'taken';
    });
    if (taken === 'finished') {
      const run = await this.getRun(id);
      throw new BerthError('FAILED_PRECONDITION', `run ${id} already ${run.state}; start a new one with \`berth pipeline run\``, { field: 'run', got: run.state });
    }
    return taken === 'taken' ? this.getRun(id) : null;
  }

  /** The next server run to take: queued, or running under a lapsed lease. */
  async claimNextServerRun(holder: string, leaseMs: number): Promise<RunRecord | null> {
    const now = this.now();
    const candidates = await this.db.selectFrom('pipeline_runs').select(['id']).where('mode', '=', 'server')
      .where((eb) => eb.or([eb('state', '=', 'queued'), eb.and([eb('state', '=', 'running'), eb('lease_until', '<', now)])]))
      .orderBy('id').limit(5).execute();
    for (const c of candidates) {
      const run = await this.claimRun(Number(c.id), holder, leaseMs).catch(() => null);
      if (run) return run;
    }
    return null;
  }

  /** Renew the lease; answers whether a cancel was asked for. Throws when another process took the run. */
  async heartbeat(id: number, holder: string, leaseMs: number): Promise<{ cancelRequested: boolean }> {
    const now = this.now();
    return this.registry.metadata.transaction(async (trx) => {
      const r = await trx.selectFrom('pipeline_runs').select(['holder', 'cancel_requested', 'state']).where('id', '=', id).executeTakeFirst();
      if (!r || r.holder !== holder) {
        throw new BerthError('FAILED_PRECONDITION', `run ${id} is no longer held by ${holder} (${r?.holder ?? 'nobody'} holds it)`, { field: 'run', got: r?.holder ?? null });
      }
      await trx.updateTable('pipeline_runs').set({ lease_until: now + leaseMs, updated_at: now }).where('id', '=', id).execute();
      return { cancelRequested: Number(r.cancel_requested) === 1 };
    });
  }

  async updateStep(id: number, step: string, patch: Partial<{
    state: StepState; attempts: number; cacheKey: string | null; cachedFrom: number | null; outputs: Record<string, OutputFile> | null;
    result: Record<string, unknown> | null; startedAt: number | null; finishedAt: number | null; exitCode: number | null; error: { code: string; message: string } | null;
  }>): Promise<void> {
    const set: Partial<Omit<PipelineStepsTable, 'run_id' | 'name'>> = {};
    if (patch.state !== undefined) set.state = patch.state;
    if (patch.attempts !== undefined) set.attempts = patch.attempts;
    if (patch.cacheKey !== undefined) set.cache_key = patch.cacheKey;
    if (patch.cachedFrom !== undefined) set.cached_from = patch.cachedFrom;
    if (patch.outputs !== undefined) set.outputs = patch.outputs === null ? null : JSON.stringify(patch.outputs);
    if (patch.result !== undefined) set.result = patch.result === null ? null : JSON.stringify(patch.result);
    if (patch.startedAt !== undefined) set.started_at = patch.startedAt;
    if (patch.finishedAt !== undefined) set.finished_at = patch.finishedAt;
    if (patch.exitCode !== undefined) set.exit_code = patch.exitCode;
    if (patch.error !== undefined) set.error = patch.error === null ? null : JSON.stringify(patch.error);
    await this.registry.metadata.transaction((trx) => trx.updateTable('pipeline_steps').set(set).where('run_id', '=', id).where('name', '=', step).execute());
  }

  async finishRun(id: number, holder: string, state: RunState, error: { code: string; message: string } | null, result: RunResult | null): Promise<RunRecord> {
    const now = this.now();
    await this.registry.metadata.transaction(async (trx) => {
      const r = await trx.selectFrom('pipeline_runs').select(['holder', 'state']).where('id', '=', id).executeTakeFirst();
      if (!r) throw runNotFound(id);
      if (r.holder !== holder && !FINISHED_RUN_STATES.includes(r.state as RunState)) {
        throw new BerthError('FAILED_PRECONDITION', `run ${id} is held by ${r.holder ?? 'nobody'}, not ${holder}`, { field: 'run', got: r.holder });
      }
      await trx.updateTable('pipeline_runs').set({
        state, error: error ? JSON.stringify(error) : null, result: result ? JSON.stringify(result) : null, finished_at: now, updated_at: now, holder: null, lease_until: null,
      }).where('id', '=', id).execute();
    });
    return this.getRun(id);
  }

  /** Give a run back without finishing it (shutdown): the next claim resumes it. */
  async releaseRun(id: number, holder: string): Promise<void> {
    await this.registry.metadata.transaction((trx) => trx.updateTable('pipeline_runs').set({ holder: null, lease_until: 0, updated_at: this.now() }).where('id', '=', id).where('holder', '=', holder).execute());
  }

  async setResult(id: number, result: RunResult): Promise<void> {
    await this.registry.metadata.transaction((trx) => trx.updateTable('pipeline_runs').set({ result: JSON.stringify(result), updated_at: this.now() }).where('id', '=', id).execute());
  }

  /**
   * Ask a run to stop. A queued run (or one nobody holds) ends at once; a running one is stopped by
   * its holder at the next heartbeat, which kills the step's process group.
   */
  async cancelRun(id: number, actor: string): Promise<RunRecord> {
    const now = this.now();
    const outcome = await this.registry.metadata.transaction(async (trx) => {
      const r = await trx.selectFrom('pipeline_runs').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r) throw runNotFound(id);
      if (FINISHED_RUN_STATES.includes(r.state as RunState)) return 'finished';
      const unheld = r.state === 'queued' || r.holder === null || Number(r.lease_until ?? 0) < now || holderIsDeadHere(r.holder);
      if (unheld) {
        await trx.updateTable('pipeline_runs').set({ state: 'cancelled', cancel_requested: 1, finished_at: now, updated_at: now, holder: null, lease_until: null, error: JSON.stringify({ code: 'CANCELLED', message: `cancelled by ${actor}` }) }).where('id', '=', id).execute();
        await trx.updateTable('pipeline_steps').set({ state: 'cancelled' }).where('run_id', '=', id).where('state', 'in', ['pending', 'running']).execute();
        return 'cancelled';
      }
      await trx.updateTable('pipeline_runs').set({ cancel_requested: 1, updated_at: now }).where('id', '=', id).execute();
      return 'requested';
    });
    if (outcome === 'finished') {
      const run = await this.getRun(id);
      throw new BerthError('FAILED_PRECONDITION', `run ${id} already ${run.state}; nothing to cancel`, { field: 'run', got: run.state });
    }
    const run = await this.getRun(id);
    await this.appendLogs(id, [{ seq: await this.nextLogSeq(id), step: 'run', at: now, stream: 'berth', line: outcome === 'cancelled' ? `cancelled by ${actor}` : `cancel asked by ${actor}; the running step is being stopped` }]);
    await this.registry.appendAudit({ actor, action: 'pipeline.cancel', target: `pipeline:${run.pipeline}`, model: null, details: { run: id } });
    return run;
  }

  // logs, metrics, datasets ------------------------------------------------------------------

  async nextLogSeq(id: number): Promise<number> {
    const r = await this.db.selectFrom('pipeline_logs').select((eb) => eb.fn.max('seq').as('m')).where('run_id', '=', id).executeTakeFirst();
    return r?.m === null || r?.m === undefined ? 1 : Number(r.m) + 1;
  }

  async appendLogs(id: number, lines: readonly { seq: number; step: string; at: number; stream: string; line: string }[]): Promise<void> {
    if (lines.length === 0) return;
    await this.registry.metadata.transaction(async (trx) => {
      for (let i = 0; i < lines.length; i += 200) {
        await trx.insertInto('pipeline_logs').values(lines.slice(i, i + 200).map((l) => ({ run_id: id, seq: l.seq, step: l.step, at: l.at, stream: l.stream, line: l.line }))).execute();
      }
    });
  }

  async logs(id: number, opts: { step?: string; after?: number; limit?: number } = {}): Promise<RunLogLine[]> {
    let q = this.db.selectFrom('pipeline_logs').selectAll().where('run_id', '=', id).where('seq', '>', opts.after ?? 0).orderBy('seq').limit(Math.min(Math.max(opts.limit ?? 1000, 1), 10_000));
    if (opts.step !== undefined) q = q.where('step', '=', opts.step);
    return (await q.execute()).map((r) => ({ seq: Number(r.seq), step: r.step, at: iso(r.at)!, stream: r.stream as RunLogLine['stream'], line: r.line }));
  }

  async addMetrics(id: number, step: string, metrics: readonly { key: string; value: number; metricStep: number | null; at: number }[]): Promise<void> {
    if (metrics.length === 0) return;
    await this.registry.metadata.transaction(async (trx) => {
      for (let i = 0; i < metrics.length; i += 200) {
        await trx.insertInto('run_metrics').values(metrics.slice(i, i + 200).map((m) => ({ run_id: id, step, key: m.key, value: m.value, metric_step: m.metricStep, at: m.at }))).execute();
      }
    });
  }

  /** Forget a step's metrics (a retried attempt logs them again). */
  async clearMetrics(id: number, step: string): Promise<void> {
    await this.registry.metadata.transaction((trx) => trx.deleteFrom('run_metrics').where('run_id', '=', id).where('step', '=', step).execute());
  }

  async metrics(id: number): Promise<RunMetric[]> {
    const rows = await this.db.selectFrom('run_metrics').selectAll().where('run_id', '=', id).orderBy('at').orderBy('metric_step').execute();
    return rows.map((r) => ({ step: r.step, key: r.key, value: Number(r.value), metricStep: r.metric_step === null ? null : Number(r.metric_step), at: iso(r.at)! }));
  }

  async addDatasets(id: number, step: string, files: readonly DatasetFingerprint[]): Promise<void> {
    if (files.length === 0) return;
    await this.registry.metadata.transaction(async (trx) => {
      await trx.deleteFrom('run_datasets').where('run_id', '=', id).where('step', '=', step).execute();
      await trx.insertInto('run_datasets').values(files.map((f) => ({ run_id: id, step, path: f.path, sha256: f.sha256, bytes: f.bytes }))).execute();
    });
  }

  async datasets(id: number): Promise<(DatasetFingerprint & { step: string })[]> {
    const rows = await this.db.selectFrom('run_datasets').selectAll().where('run_id', '=', id).orderBy('step').orderBy('path').execute();
    return rows.map((r) => ({ step: r.step, path: r.path, sha256: r.sha256, bytes: Number(r.bytes) }));
  }

  /** Runs that read a dataset with this fingerprint (a prefix of at least 8 hex digits is enough). */
  async runsForDataset(sha256: string): Promise<{ run: number; step: string; path: string; sha256: string }[]> {
    const prefix = normalizeSha(sha256);
    if (!/^[0-9a-f]{8,64}$/.test(prefix)) throw new BerthError('INVALID_ARGUMENT', 'dataset: expected a sha256 (or its first 8+ hex digits)', { field: 'dataset', expected: 'hex sha256', got: sha256 });
    const rows = await this.db.selectFrom('run_datasets').selectAll().where('sha256', '>=', prefix).where('sha256', '<', `${prefix}g`).orderBy('run_id').execute();
    return rows.map((r) => ({ run: Number(r.run_id), step: r.step, path: r.path, sha256: r.sha256 }));
  }

  // cache and triggers -------------------------------------------------------------------------

  async cacheLookup(key: string): Promise<{ runId: number; outputs: Record<string, OutputFile> } | null> {
    const r = await this.db.selectFrom('pipeline_cache').selectAll().where('cache_key', '=', key).executeTakeFirst();
    return r ? { runId: Number(r.run_id), outputs: JSON.parse(r.outputs) as Record<string, OutputFile> } : null;
  }

  async cachePut(key: string, pipeline: string, step: string, runId: number, outputs: Record<string, OutputFile>): Promise<void> {
    await this.registry.metadata.transaction(async (trx) => {
      await trx.deleteFrom('pipeline_cache').where('cache_key', '=', key).execute();
      await trx.insertInto('pipeline_cache').values({ cache_key: key, pipeline, step, run_id: runId, outputs: JSON.stringify(outputs), created_at: this.now() }).execute();
    });
  }

  async triggerState<T>(pipeline: string, triggerId: string): Promise<T | null> {
    const r = await this.db.selectFrom('pipeline_triggers').select('state').where('pipeline', '=', pipeline).where('trigger_id', '=', triggerId).executeTakeFirst();
    return r ? (JSON.parse(r.state) as T) : null;
  }

  /**
   * Store a trigger's state if it still is what the caller read (`expected`, null for none): two
   * replicas evaluating the same trigger never both fire it.
   */
  async swapTriggerState<T>(pipeline: string, triggerId: string, expected: T | null, next: T): Promise<boolean> {
    return this.registry.metadata.transaction(async (trx) => {
      const r = await trx.selectFrom('pipeline_triggers').select('state').where('pipeline', '=', pipeline).where('trigger_id', '=', triggerId).executeTakeFirst();
      const cur = r ? r.state : null;
      if (cur !== (expected === null ? null : JSON.stringify(expected))) return false;
      if (r) await trx.updateTable('pipeline_triggers').set({ state: JSON.stringify(next), updated_at: this.now() }).where('pipeline', '=', pipeline).where('trigger_id', '=', triggerId).execute();
      else await trx.insertInto('pipeline_triggers').values({ pipeline, trigger_id: triggerId, state: JSON.stringify(next), updated_at: this.now() }).execute();
      return true;
    });
  }
}

/**
 * Pipelines on the server: stored pipeline files (versioned), runs queued by the API, the CLI,
 * a cron schedule, a monitoring alert or a count of new labels, and the runner that executes them
 * on replicas that run jobs (commands at idle CPU priority, so serving keeps the CPU first).
 *
 * Triggers are evaluated where rollouts are led (one process among replicas); each firing is
 * claimed with a compare-and-swap of the trigger's stored state, so it starts one run, not one per
 * replica.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { BerthError, toBerthError, type Logger } from '../core/index.js';
import { dueRuns, parseCron } from '../jobs/index.js';
import { readGitInfo, type Registry } from '../registry/index.js';
import { builtinSteps, type PipelineHost } from './builtins.js';
import { executeRun, type RunEvent } from './executor.js';
import { parsePipelineText, resolveParams, type TriggerSpec } from './spec.js';
import type { PipelineRecord, RunListOptions, RunRecord, RunStore, RunTrigger } from './store.js';

export interface PipelineServiceOptions {
  registry: Registry;
  store: RunStore;
  /** the built-in steps' wiring (register through the management API, rollouts through the controller) */
  host: Omit<PipelineHost, 'actor' | 'store' | 'registry'>;
  /** whether this replica executes runs (role control/all with jobs enabled) */
  runsHere: boolean;
  /** where pipelines may live for callers without admin; empty: admin only */
  roots: readonly string[];
  runsDir: string;
  holder: string;
  /** argv before every command (idle CPU priority) */
  commandPrefix: readonly string[];
  maxConcurrent: number;
  /** whether this process evaluates triggers now (the rollout leader) */
  leading: () => boolean;
  logger: Logger;
  pollMs?: number;
  leaseMs?: number;
  heartbeatMs?: number;
  now?: () => number;
  /** heard for every run event (tests, the server's log) */
  onEvent?: (run: number, e: RunEvent) => void;
  /** labels received so far for a deployment (feedback triggers) */
  feedbackCount: (deployment: string) => Promise<number>;
  /** how often the leader looks at schedules and label counts (ms, default 5,000) */
  triggerMs?: number;
}

interface AlertTriggerState {
  lastRunAt: number;
  lastAlertId: number;
}

interface FeedbackTriggerState {
  /** labels counted when the last run was started */
  counted: number;
  lastRunAt: number;
}

interface ScheduleTriggerState {
  lastScheduledAt: number | null;
  createdAt: number;
}

/** A firing alert as the monitor reports it. */
export interface AlertFiring {
  id: number;
  rule: string;
  deployment: string;
  kind: 'firing' | 'resolved' | 'repeat';
  value: number | null;
  message: string;
}

export class PipelineService {
  private timer: NodeJS.Timeout | null = null;
  private triggerTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private readonly running = new Map<number, { done: Promise<RunRecord>; stop: AbortController }>();
  private polling = false;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly opts: PipelineServiceOptions) {
    this.now = opts.now ?? Date.now;
  }

  // pipelines ----------------------------------------------------------------------------------

  /** Store (or update) a pipeline from its file's text; its workdir must exist on the server. */
  async put(body: unknown, who: { actor: string; admin: boolean }): Promise<{ pipeline: PipelineRecord; created: boolean; changed: boolean }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('body', 'a JSON object with source (the pipeline file) and workdir', body);
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!['source', 'workdir'].includes(k)) throw bad(k, 'source or workdir', k);
    if (typeof b['source'] !== 'string' || b['source'].trim() === '') throw bad('source', 'the pipeline file\'s text (YAML)', b['source'] ?? null);
    if (b['source'].length > 1 << 20) throw bad('source', 'at most 1 MiB', `${b['source'].length} characters`);
    if (typeof b['workdir'] !== 'string' || !path.isAbsolute(b['workdir'])) throw bad('workdir', 'an absolute directory on the server where the commands run', b['workdir'] ?? null);
    const workdir = this.confine(b['workdir'], who.admin);
    const spec = parsePipelineText(b['source'], 'source');
    return this.opts.store.putPipeline({ spec, source: b['source'], workdir, actor: who.actor });
  }

  /** A workdir the caller may use: any for admin; else inside a root (symlinks followed). */
  private confine(dir: string, admin: boolean): string {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw bad('workdir', 'an existing directory on the server', dir);
    const real = realpathSync(dir);
    if (admin) return real;
    const inside = this.opts.roots.some((r) => {
      const root = existsSync(r) ? realpathSync(r) : path.resolve(r);
      return real === root || real.startsWith(root + path.sep);
    });
    if (!inside) {
      throw new BerthError('FORBIDDEN', `workdir ${dir} is outside the pipeline roots (${this.opts.roots.join(', ') || 'none configured'}); pipelines run commands on the server, so other directories need the admin scope`, {
        field: 'workdir', expected: this.opts.roots.join(', '), got: dir,
      });
    }
    return real;
  }

  get(name: string): Promise<PipelineRecord> {
    return this.opts.store.getPipeline(name);
  }

  list(): Promise<PipelineRecord[]> {
    return this.opts.store.listPipelines();
  }

  delete(name: string, actor: string): Promise<void> {
    return this.opts.store.deletePipeline(name, actor);
  }

  setEnabled(name: string, enabled: boolean, actor: string): Promise<PipelineRecord> {
    return this.opts.store.setPipelineEnabled(name, enabled, actor);
  }

  // runs ---------------------------------------------------------------------------------------

  /** Queue a run of a stored pipeline; a replica that runs pipelines takes it. */
  async startRun(name: string, body: unknown, who: { actor: string }): Promise<RunRecord> {
    const b = (body ?? {}) as Record<string, unknown>;
    if (typeof b !== 'object' || Array.isArray(b)) throw bad('body', 'a JSON object with params and trigger', body);
    for (const k of Object.keys(b)) if (!['params', 'trigger'].includes(k)) throw bad(k, 'params or trigger', k);
    const params = b['params'] ?? {};
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw bad('params', 'a map of param names to values', params);
    for (const [k, v] of Object.entries(params as Record<string, unknown>)) {
      if (typeof v !== 'string' && typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v))) throw bad(`params.${k}`, 'a string, number or boolean', v);
    }
    let trigger: RunTrigger = { kind: 'api' };
    if (b['trigger'] !== undefined) {
      const t = b['trigger'] as Record<string, unknown>;
      if (typeof t !== 'object' || t === null || !['api', 'git'].includes(String(t['kind']))) throw bad('trigger.kind', 'api or git (other triggers are Berth\'s own)', t?.['kind'] ?? b['trigger']);
      const detail = Object.fromEntries(Object.entries(t).filter(([k]) => k !== 'kind').map(([k, v]) => [k, typeof v === 'string' ? v.slice(0, 200) : v]));
      trigger = { kind: t['kind'] as 'api' | 'git', ...(Object.keys(detail).length > 0 ? { detail } : {}) };
    }
    return this.queue(await this.get(name), params as Record<string, string | number | boolean>, trigger, who.actor);
  }

  private async queue(p: PipelineRecord, params: Record<string, string | number | boolean>, trigger: RunTrigger, actor: string): Promise<RunRecord> {
    const resolved = resolveParams(p.spec, params);
    const run = await this.opts.store.createRun({
      spec: p.spec, sourceSha256: p.sha256, pipelineVersion: p.version, params: resolved, trigger, workdir: p.workdir,
      code: (await readGitInfo(p.workdir)) ?? null, mode: 'server', actor,
    });
    this.opts.logger.info(`pipeline ${p.name}: run ${run.id} queued (${trigger.kind})`, { pipeline: p.name, run: run.id });
    this.kick();
    return run;
  }

  getRun(id: number): Promise<RunRecord> {
    return this.opts.store.getRun(id);
  }

  listRuns(opts: RunListOptions): Promise<RunRecord[]> {
    return this.opts.store.listRuns(opts);
  }

  cancel(id: number, actor: string): Promise<RunRecord> {
    return this.opts.store.cancelRun(id, actor);
  }


  // the runner ---------------------------------------------------------------------------------

  /** Take queued runs (where runs execute) and evaluate triggers (where rollouts are led). */
  start(): void {
    if (this.timer || this.closed) return;
    this.triggerTimer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = true;
      void this.tick().finally(() => { this.ticking = false; });
    }, this.opts.triggerMs ?? 5_000);
    this.triggerTimer.unref();
    if (!this.opts.runsHere) return;
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs ?? 1_000);
    this.timer.unref();
    void this.poll();
  }

  kick(): void {
    if (this.opts.runsHere && !this.closed) void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      while (this.running.size < this.opts.maxConcurrent && !this.closed) {
        const run = await this.opts.store.claimNextServerRun(this.opts.holder, this.opts.leaseMs ?? 15_000);
        if (!run) break;
        this.execute(run);
      }
    } catch (err) {
      this.opts.logger.warn(`pipelines: could not take a run: ${toBerthError(err).message}`);
    } finally {
      this.polling = false;
    }
  }

  private execute(run: RunRecord): void {
    const stop = new AbortController();
    const host: PipelineHost = { ...this.opts.host, registry: this.opts.registry, store: this.opts.store, actor: `pipeline:${run.pipeline}` };
    const done = executeRun(run, {
      store: this.opts.store, artifacts: this.opts.registry.artifacts, runsDir: this.opts.runsDir, holder: this.opts.holder,
      builtins: builtinSteps(host), commandPrefix: this.opts.commandPrefix, maxParallel: 2, signal: stop.signal, logger: this.opts.logger,
      ...(this.opts.leaseMs !== undefined ? { leaseMs: this.opts.leaseMs } : {}),
      ...(this.opts.heartbeatMs !== undefined ? { heartbeatMs: this.opts.heartbeatMs } : {}),
      ...(this.opts.onEvent ? { onEvent: (e: RunEvent) => this.opts.onEvent!(run.id, e) } : {}),
    });
    this.running.set(run.id, { done, stop });
    done.then(
      (r) => this.opts.logger.info(`pipeline ${r.pipeline}: run ${r.id} ${r.state}${r.error ? `: ${r.error.message}` : ''}`, { pipeline: r.pipeline, run: r.id, state: r.state }),
      (err) => this.opts.logger.error(`pipeline run ${run.id} stopped: ${toBerthError(err).message}`, { run: run.id }),
    ).finally(() => {
      this.running.delete(run.id);
      this.kick();
    });
  }

  // triggers -----------------------------------------------------------------------------------

  /** Evaluate the time- and label-based triggers (call on the leader's tick). */
  async tick(): Promise<void> {
    if (!this.opts.leading() || this.closed) return;
    const feedbackCount = this.opts.feedbackCount;
    for (const p of await this.opts.store.listPipelines()) {
      if (!p.enabled) continue;
      for (const t of p.spec.triggers) {
        try {
          if (t.kind === 'schedule') await this.fireSchedule(p, t);
          else if (t.kind === 'feedback') await this.fireFeedback(p, t, feedbackCount);
        } catch (err) {
          this.opts.logger.warn(`pipeline ${p.name}: trigger ${t.id} failed: ${toBerthError(err).message}`, { pipeline: p.name, trigger: t.id });
        }
      }
    }
  }

  private async fireSchedule(p: PipelineRecord, t: Extract<TriggerSpec, { kind: 'schedule' }>): Promise<void> {
    const now = this.now();
    const state = await this.opts.store.triggerState<ScheduleTriggerState>(p.name, t.id);
    if (state === null) {
      // the first look starts the clock: runs before the trigger existed are not owed
      await this.opts.store.swapTriggerState<ScheduleTriggerState>(p.name, t.id, null, { lastScheduledAt: null, createdAt: now });
      return;
    }
    const plan = dueRuns({
      schedule: parseCron(t.cron, { timezone: t.timezone }), lastScheduledAt: state.lastScheduledAt === null ? null : new Date(state.lastScheduledAt),
      createdAt: new Date(state.createdAt), now: new Date(now), missed: t.missed,
    });
    if (plan.fire.length === 0) return;
    const last = plan.fire[plan.fire.length - 1]!.getTime();
    if (!(await this.opts.store.swapTriggerState<ScheduleTriggerState>(p.name, t.id, state, { ...state, lastScheduledAt: last }))) return;
    for (const at of plan.fire) await this.queue(p, {}, { kind: 'schedule', detail: { cron: t.cron, timezone: t.timezone, scheduledAt: at.toISOString() } }, `pipeline:${p.name}`);
  }

  private async fireFeedback(p: PipelineRecord, t: Extract<TriggerSpec, { kind: 'feedback' }>, feedbackCount: (deployment: string) => Promise<number>): Promise<void> {
    const count = await feedbackCount(t.deployment);
    const state = await this.opts.store.triggerState<FeedbackTriggerState>(p.name, t.id);
    if (state === null) {
      // labels already there when the trigger appeared count from zero: they are the first batch
      await this.opts.store.swapTriggerState<FeedbackTriggerState>(p.name, t.id, null, { counted: 0, lastRunAt: 0 });
      return this.fireFeedback(p, t, async () => count);
    }
    if (count - state.counted < t.labels) return;
    if (!(await this.opts.store.swapTriggerState<FeedbackTriggerState>(p.name, t.id, state, { counted: count, lastRunAt: this.now() }))) return;
    await this.queue(p, {}, { kind: 'feedback', detail: { deployment: t.deployment, newLabels: count - state.counted, labels: count } }, `pipeline:${p.name}`);
  }

  /**
   * Hear an alert event: a firing alert matching a pipeline's alert trigger starts a run, unless the
   * trigger ran within its cooldown (a flapping alert does not retrain in a loop).
   */
  async onAlert(e: AlertFiring): Promise<RunRecord[]> {
    if (e.kind !== 'firing' || this.closed) return [];
    const started: RunRecord[] = [];
    for (const p of await this.opts.store.listPipelines()) {
      if (!p.enabled) continue;
      for (const t of p.spec.triggers) {
        if (t.kind !== 'alert') continue;
        if ((t.rule !== null && t.rule !== e.rule) || (t.deployment !== null && t.deployment !== e.deployment)) continue;
        const state = await this.opts.store.triggerState<AlertTriggerState>(p.name, t.id);
        const now = this.now();
        if (state && (state.lastAlertId === e.id || now - state.lastRunAt < t.cooldownMs)) {
          this.opts.logger.info(`pipeline ${p.name}: alert ${e.rule} on ${e.deployment} fired within the trigger's cooldown; no new run`, { pipeline: p.name });
          continue;
        }
        if (!(await this.opts.store.swapTriggerState<AlertTriggerState>(p.name, t.id, state, { lastRunAt: now, lastAlertId: e.id }))) continue;
        started.push(await this.queue(p, {}, { kind: 'alert', detail: { rule: e.rule, deployment: e.deployment, value: e.value, message: e.message, alert: e.id } }, `pipeline:${p.name}`));
      }
    }
    return started;
  }

  /** Stop taking runs; running ones stop their steps and go back to the queue (a resume picks them up). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.triggerTimer) clearInterval(this.triggerTimer);
    this.timer = null;
    this.triggerTimer = null;
    for (const r of this.running.values()) r.stop.abort();
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }
}

function bad(field: string, expected: string, got: unknown): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${JSON.stringify(got)}`, { field, expected, got });
}



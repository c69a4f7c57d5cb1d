/**
 * Cron schedules that submit batch jobs. A schedule is a row (cron, timezone, missed-run policy,
 * the job request); each run is a job with the schedule's name, so a schedule's history is its
 * jobs. One process fires schedules (the rollout leader among replicas); it claims each due
 * instant with a conditional update, so a run is never submitted twice.
 */
import type { Selectable } from 'kysely';
import { BerthError, assertName, toBerthError, type Logger } from '../core/index.js';
import type { Registry } from '../registry/index.js';
import type { SchedulesTable } from '../registry/metadata-store.js';
import { dueRuns, MISSED_POLICIES, parseCron, type CronSchedule, type MissedPolicy } from './cron.js';
import type { JobRequest } from './job-request.js';
import type { JobService } from './service.js';
import type { JobRecord } from './store.js';

/** A schedule, as the API shows it. */
export interface ScheduleRecord {
  name: string;
  cron: string;
  timezone: string;
  /** in words: "at 02:00 every day" */
  description: string;
  missed: MissedPolicy;
  spec: JobRequest;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  actor: string;
  lastScheduledAt: string | null;
  nextAt: string;
  lastJob: number | null;
}

/** What `POST /v1/schedules` takes. */
export interface ScheduleRequest {
  name: string;
  cron: string;
  timezone?: string;
  missed?: MissedPolicy;
  job: unknown;
  enabled?: boolean;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

function toRecord(r: Selectable<SchedulesTable>): ScheduleRecord {
  let description = r.cron;
  try {
    description = parseCron(r.cron, { timezone: r.timezone }).describe();
  } catch {
    // a stored expression this version no longer reads: show it as is
  }
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    description,
    missed: r.missed as MissedPolicy,
    spec: JSON.parse(r.spec) as JobRequest,
    enabled: Number(r.enabled) === 1,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    actor: r.actor,
    lastScheduledAt: iso(r.last_scheduled_at),
    nextAt: iso(r.next_at)!,
    lastJob: r.last_job === null ? null : Number(r.last_job),
  };
}

function scheduleNotFound(name: string): BerthError {
  return new BerthError('NOT_FOUND', `no schedule "${name}"; \`berth schedule list\` shows them`, { field: 'schedule', got: name });
}

function field(o: Record<string, unknown>, name: string): unknown {
  return o[name];
}

/** Check a schedule request's own fields (the job inside is checked by the job service). */
export function parseScheduleRequest(body: unknown): { name: string; schedule: CronSchedule; missed: MissedPolicy; job: unknown; enabled: boolean } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BerthError('INVALID_ARGUMENT', 'schedule: expected a JSON object like {"name": "nightly", "cron": "0 2 * * *", "job": {"model": "credit@production", "input": "in.csv", "output": "out.parquet"}}', { field: 'schedule' });
  }
  const o = body as Record<string, unknown>;
  const known = ['name', 'cron', 'timezone', 'missed', 'job', 'enabled'];
  const extra = Object.keys(o).find((k) => !known.includes(k));
  if (extra !== undefined) throw new BerthError('INVALID_ARGUMENT', `${extra}: no such field (the fields are ${known.join(', ')})`, { field: extra, expected: known, got: extra });
  const name = field(o, 'name');
  if (typeof name !== 'string') throw new BerthError('INVALID_ARGUMENT', `name: expected a schedule name like "nightly-credit", got ${JSON.stringify(name ?? null)}`, { field: 'name', got: name ?? null });
  assertName('schedule', name);
  const cron = field(o, 'cron');
  if (typeof cron !== 'string') throw new BerthError('INVALID_ARGUMENT', `cron: expected 5 fields like "0 2 * * *", got ${JSON.stringify(cron ?? null)}`, { field: 'cron', got: cron ?? null });
  const tz = field(o, 'timezone');
  if (tz !== undefined && typeof tz !== 'string') throw new BerthError('INVALID_ARGUMENT', `timezone: expected an IANA zone name like "Europe/Paris", got ${JSON.stringify(tz)}`, { field: 'timezone', got: tz });
  const schedule = parseCron(cron, tz !== undefined ? { timezone: tz as string } : {});
  const missed = field(o, 'missed') ?? 'run-once';
  if (typeof missed !== 'string' || !(MISSED_POLICIES as readonly string[]).includes(missed)) {
    throw new BerthError('INVALID_ARGUMENT', `missed: expected one of ${MISSED_POLICIES.join(', ')}, got ${JSON.stringify(missed)}`, { field: 'missed', expected: [...MISSED_POLICIES], got: missed });
  }
  const enabled = field(o, 'enabled') ?? true;
  if (typeof enabled !== 'boolean') throw new BerthError('INVALID_ARGUMENT', `enabled: expected true or false, got ${JSON.stringify(enabled)}`, { field: 'enabled', got: enabled });
  if (o['job'] === undefined) throw new BerthError('INVALID_ARGUMENT', 'job: expected the job to run, like {"model": "credit@production", "input": "in.csv", "output": "out.parquet"}', { field: 'job' });
  return { name, schedule, missed: missed as MissedPolicy, job: o['job'], enabled };
}

export interface SchedulerOptions {
  registry: Registry;
  jobs: JobService;
  logger: Logger;
  /** fire schedules in this process (the leader); the others only store them */
  leading: () => boolean;
  /** how often due schedules are looked for (ms, default 5,000) */
  pollMs?: number;
  now?: () => number;
  /** told when a due run could not even be submitted (its model was deleted…): an alert */
  onSubmitFailed?: (schedule: ScheduleRecord, at: Date, error: BerthError) => void;
}

/**
 * Schedules: create, list, change and delete them; the leader fires them when due. A run is a
 * job submitted as `schedule:<name>`; its model reference resolves when it fires (an alias
 * follows its moves), and its paths were checked against the creator's rights when it was made.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? Date.now;
  }

  private get db() {
    return this.opts.registry.metadata.db;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.opts.pollMs ?? 5000);
    this.timer.unref();
  }

  /** Fire what is due now (also what the timer does). */
  tick(): Promise<void> {
    this.ticking = this.ticking.then(() => (this.opts.leading() ? this.fireDue() : undefined)).catch((err) => {
      this.opts.logger.warn('schedules: firing due schedules failed; trying again at the next poll', { error: toBerthError(err).message });
    });
    return this.ticking;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /**
   * Create a schedule. The job is checked as a submit would check it now (fields, model, paths
   * against the creator's rights), so a schedule never fires a job its creator could not run.
   */
  async create(body: unknown, who: { actor: string; admin: boolean }): Promise<ScheduleRecord> {
    const req = parseScheduleRequest(body);
    const job = await this.opts.jobs.check(req.job, who.admin);
    const now = this.now();
    const nextAt = req.schedule.next(new Date(now)).getTime();
    await this.opts.registry.metadata.transaction(async (trx) => {
      const exists = await trx.selectFrom('schedules').select('name').where('name', '=', req.name).executeTakeFirst();
      if (exists) throw new BerthError('ALREADY_EXISTS', `schedule "${req.name}" exists; change it with berth schedule update, or delete it first`, { field: 'name', got: req.name });
      await trx
        .insertInto('schedules')
        .values({
          name: req.name, cron: req.schedule.expression, timezone: req.schedule.timezone, missed: req.missed, spec: JSON.stringify(job),
          enabled: req.enabled ? 1 : 0, created_at: now, updated_at: now, actor: who.actor, last_scheduled_at: null, next_at: nextAt, last_job: null,
        })
        .execute();
      await this.opts.registry.appendAudit({ action: 'schedule.create', target: `schedule:${req.name}`, model: null, details: { cron: req.schedule.expression, timezone: req.schedule.timezone, missed: req.missed, job }, actor: who.actor }, trx);
    });
    return this.get(req.name);
  }

  async get(name: string): Promise<ScheduleRecord> {
    const row = await this.db.selectFrom('schedules').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw scheduleNotFound(name);
    return toRecord(row);
  }

  async list(): Promise<ScheduleRecord[]> {
    return (await this.db.selectFrom('schedules').selectAll().orderBy('name').execute()).map(toRecord);
  }

  /** Pause or resume. Resuming starts from now: runs missed while paused are not owed. */
  async setEnabled(name: string, enabled: boolean, actor: string): Promise<ScheduleRecord> {
    const cur = await this.get(name);
    const now = this.now();
    const schedule = parseCron(cur.cron, { timezone: cur.timezone });
    await this.opts.registry.metadata.transaction(async (trx) => {
      await trx
        .updateTable('schedules')
        .set({ enabled: enabled ? 1 : 0, updated_at: now, ...(enabled ? { next_at: schedule.next(new Date(now)).getTime(), last_scheduled_at: now } : {}) })
        .where('name', '=', name)
        .execute();
      await this.opts.registry.appendAudit({ action: 'schedule.update', target: `schedule:${name}`, model: null, details: { enabled }, actor }, trx);
    });
    return this.get(name);
  }

  async delete(name: string, actor: string): Promise<{ name: string; deleted: true }> {
    await this.opts.registry.metadata.transaction(async (trx) => {
      const r = await trx.deleteFrom('schedules').where('name', '=', name).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw scheduleNotFound(name);
      await this.opts.registry.appendAudit({ action: 'schedule.delete', target: `schedule:${name}`, model: null, details: {}, actor }, trx);
    });
    return { name, deleted: true };
  }

  /** Run a schedule's job now, outside its timetable (its next run is unchanged). */
  async runNow(name: string, actor: string): Promise<JobRecord> {
    const s = await this.get(name);
    return this.opts.jobs.submit(s.spec, { actor, admin: true, schedule: name, scheduledAt: this.now() });
  }

  /** Submit the runs every due schedule owes, by its missed-run policy. */
  private async fireDue(): Promise<void> {
    const now = this.now();
    const due = await this.db.selectFrom('schedules').selectAll().where('enabled', '=', 1).where('next_at', '<=', now).orderBy('next_at').execute();
    for (const row of due) {
      const s = toRecord(row);
      let schedule: CronSchedule;
      try {
        schedule = parseCron(s.cron, { timezone: s.timezone });
      } catch (err) {
        this.opts.logger.error('schedules: a stored cron expression cannot be read; the schedule is skipped', { schedule: s.name, error: toBerthError(err).message });
        continue;
      }
      const plan = dueRuns({
        schedule,
        lastScheduledAt: row.last_scheduled_at === null ? null : new Date(Number(row.last_scheduled_at)),
        createdAt: new Date(Number(row.created_at)),
        now: new Date(now),
        missed: s.missed,
      });
      const last = plan.fire.length > 0 ? plan.fire[plan.fire.length - 1]!.getTime() : now;
      // claim these instants: another leader (after a handover) that read the same row loses here
      const claimed = await this.opts.registry.metadata.transaction(async (trx) => {
        const r = await trx
          .updateTable('schedules')
          .set({ next_at: plan.nextAt.getTime(), last_scheduled_at: last, updated_at: now })
          .where('name', '=', s.name)
          .where('next_at', '=', Number(row.next_at))
          .executeTakeFirst();
        return Number(r.numUpdatedRows) === 1;
      });
      if (!claimed) continue;
      if (plan.skipped > 0) this.opts.logger.warn(`schedules: ${s.name} skipped ${plan.skipped} missed ${plan.skipped === 1 ? 'run' : 'runs'} (missed: ${s.missed})`, { schedule: s.name });
      for (const at of plan.fire) {
        try {
          const job = await this.opts.jobs.submit(s.spec, { actor: `schedule:${s.name}`, admin: true, schedule: s.name, scheduledAt: at.getTime() });
          await this.opts.registry.metadata.transaction(async (trx) => {
            await trx.updateTable('schedules').set({ last_job: job.id }).where('name', '=', s.name).execute();
          });
        } catch (err) {
          const e = toBerthError(err);
          this.opts.logger.error('schedules: submitting a scheduled run failed', { schedule: s.name, at: at.toISOString(), error: e.message });
          this.opts.onSubmitFailed?.(s, at, e);
        }
      }
    }
  }
}

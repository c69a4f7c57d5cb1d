/**
 * Alerts: rules evaluated continuously over each deployment's recent traffic, with a state per
 * (rule, deployment) — ok → pending (the condition holds) → firing (it held for the rule's `for`)
 * → resolved (it stopped holding) — notified once per transition (and again every
 * `repeatIntervalMs` while firing), to the log and to webhooks signed with HMAC-SHA256 and retried.
 * State and history live in `<dataDir>/monitor.db`; a lease there makes one process evaluate when
 * several serve the same data dir.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { silentLogger, systemClock, toBerthError, type Clock, type Logger } from '../../core/index.js';
import type { MonitorReport } from '../report.js';
import { holds, metricValue, parseAlertRule, type AlertRule, type AlertRuleSpec } from './rules.js';

export type AlertState = 'ok' | 'pending' | 'firing';

export interface AlertStatus {
  rule: string;
  deployment: string;
  metric: string;
  condition: string;
  severity: string;
  state: AlertState;
  /** the metric's last value (null: the window could not say) */
  value: number | null;
  /** since when the condition holds (pending/firing) */
  since: string | null;
  firedAt: string | null;
  lastEvaluatedAt: string;
}

export interface AlertEvent {
  id: number;
  at: string;
  rule: string;
  deployment: string;
  kind: 'firing' | 'resolved' | 'repeat';
  value: number | null;
  severity: string;
  message: string;
  /** evidence of an event raised by another part of Berth (extraction detection); in webhooks and the log, not stored */
  details?: Record<string, unknown>;
}

/**
 * The headers of a webhook POST: JSON, the time, and with a secret the receiver's proof of origin,
 * `x-berth-signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>` (alerts and
 * pipeline notifications sign alike, so one receiver checks both).
 */
export function webhookHeaders(body: string, secret: string | undefined, nowMs: number): Record<string, string> {
  const ts = String(Math.floor(nowMs / 1000));
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-berth-timestamp': ts };
  if (secret) headers['x-berth-signature'] = `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;
  return headers;
}

export interface WebhookTarget {
  url: string;
  /** HMAC-SHA256 key: `x-berth-signature: sha256=<hex of HMAC(secret, "<timestamp>.<body>")>` */
  secret?: string;
}

export interface AlertsOptions {
  dataDir: string;
  rules: AlertRuleSpec[];
  webhooks: WebhookTarget[];
  /** the report a rule needs: a deployment's traffic over a window */
  report: (deployment: string, window: string) => Promise<MonitorReport>;
  /** every deployment (for `*` rules) */
  deployments: () => Promise<string[]>;
  intervalMs?: number;
  repeatIntervalMs?: number;
  /** webhook attempts per notification and the first back-off (doubling) */
  webhookAttempts?: number;
  webhookBackoffMs?: number;
  clock?: Clock;
  logger?: Logger;
  /**
   * A lease shared by replicas on other machines (the registry's, in PostgreSQL): only its holder
   * evaluates, so a firing alert is notified once, not once per replica. Without it the lease in
   * this data dir's monitor.db decides (processes on one machine).
   */
  sharedLease?: (holder: string, ttlMs: number) => Promise<boolean>;
  /** give the shared lease up (a clean stop): another process evaluates at its next interval */
  releaseSharedLease?: (holder: string) => Promise<void>;
  /** hears every event once, where it is evaluated (pipelines start retraining on a firing alert) */
  onEvent?: (event: AlertEvent) => void;
}

interface Row {
  rule: string;
  deployment: string;
  state: AlertState;
  value: number | null;
  since: number | null;
  fired_at: number | null;
  notified_at: number | null;
  evaluated_at: number;
}

export class AlertManager {
  readonly rules: AlertRule[];
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly holder = randomUUID();
  /** whether this process held the shared evaluator lease at its last evaluation */
  private holdsShared = false;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private deliveries = new Set<Promise<void>>();
  /** per webhook, the delivery under way: events reach each receiver in order */
  private queues = new Map<string, Promise<void>>();

  constructor(private readonly opts: AlertsOptions) {
    this.rules = opts.rules.map((r, i) => parseAlertRule(r, `alerts.rules[${i}]`));
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    mkdirSync(opts.dataDir, { recursive: true });
    this.db = new Database(path.join(opts.dataDir, 'monitor.db'), { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`create table if not exists alert_state (
      rule text not null, deployment text not null, state text not null, value real, since real, fired_at real,
      notified_at real, evaluated_at real not null, primary key (rule, deployment)) without rowid;
    create table if not exists alert_events (
      id integer primary key autoincrement, at real not null, rule text not null, deployment text not null,
      kind text not null, value real, severity text not null, message text not null);
    create table if not exists alert_lease (id integer primary key check (id = 1), holder text not null, expires real not null);`);
  }

  /** Evaluate every `intervalMs` (default 60 s) from now on. */
  start(): void {
    if (this.timer || this.rules.length === 0) return;
    this.timer = setInterval(() => void this.evaluateNow().catch(() => {}), this.opts.intervalMs ?? 60_000);
    this.timer.unref();
  }

  /** One evaluation of every rule (skipped when another process holds the lease). */
  async evaluateNow(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.evaluate().finally(() => (this.running = null));
    return this.running;
  }

  private takeLease(now: number): boolean {
    const ttl = 3 * (this.opts.intervalMs ?? 60_000);
    return this.db.transaction(() => {
      const row = this.db.prepare('select holder, expires from alert_lease where id = 1').get() as { holder: string; expires: number } | undefined;
      if (row && row.holder !== this.holder && row.expires > now) return false;
      this.db.prepare('insert into alert_lease (id, holder, expires) values (1, ?, ?) on conflict (id) do update set holder = excluded.holder, expires = excluded.expires').run(this.holder, now + ttl);
      return true;
    }).immediate();
  }

  private async evaluate(): Promise<void> {
    const now = this.clock.now();
    if (this.rules.length === 0) return;
    if (this.opts.sharedLease) {
      const held = await this.opts.sharedLease(this.holder, 3 * (this.opts.intervalMs ?? 60_000)).catch((err: unknown) => {
        this.logger.warn('alerts: the shared evaluator lease could not be taken', { error: toBerthError(err).message });
        return false;
      });
      this.holdsShared = held;
      if (!held) return;
    } else if (!this.takeLease(now)) return;
    const all = this.rules.some((r) => r.deployment === '*') ? await this.opts.deployments() : [];
    const reports = new Map<string, Promise<MonitorReport | null>>();
    for (const rule of this.rules) {
      const targets = rule.deployment === '*' ? all : [rule.deployment];
      for (const deployment of targets) {
        const key = `${deployment}\u0000${rule.window}`;
        if (!reports.has(key)) {
          reports.set(key, this.opts.report(deployment, rule.window).catch((err: unknown) => {
            this.logger.warn('alerts: could not evaluate a deployment', { deployment, error: toBerthError(err).message });
            return null;
          }));
        }
        const report = await reports.get(key)!;
        this.step(rule, deployment, report === null ? null : metricValue(report, rule.metric), now);
      }
    }
  }

  /** Advance one (rule, deployment) state machine with a new value. */
  private step(rule: AlertRule, deployment: string, value: number | null, now: number): void {
    const prev = this.db.prepare('select * from alert_state where rule = ? and deployment = ?').get(rule.name, deployment) as Row | undefined;
    const row: Row = prev ?? { rule: rule.name, deployment, state: 'ok', value: null, since: null, fired_at: null, notified_at: null, evaluated_at: now };
    row.value = value;
    row.evaluated_at = now;
    // no data: hold the state (a quiet hour neither fires nor resolves an alert)
    if (value !== null) {
      const on = holds(rule.op, value, rule.threshold);
      if (on) {
        row.since ??= now;
        if (row.state !== 'firing' && now - row.since >= rule.forMs) {
          row.state = 'firing';
          row.fired_at = now;
          row.notified_at = now;
          this.notify(rule, deployment, 'firing', value, now);
        } else if (row.state === 'ok') {
          row.state = 'pending';
        } else if (row.state === 'firing' && row.notified_at !== null && now - row.notified_at >= (this.opts.repeatIntervalMs ?? 4 * 3_600_000)) {
          row.notified_at = now;
          this.notify(rule, deployment, 'repeat', value, now);
        }
      } else {
        if (row.state === 'firing') this.notify(rule, deployment, 'resolved', value, now);
        row.state = 'ok';
        row.since = null;
        row.fired_at = null;
        row.notified_at = null;
      }
    }
    this.db
      .prepare(
        'insert into alert_state (rule, deployment, state, value, since, fired_at, notified_at, evaluated_at) values (?, ?, ?, ?, ?, ?, ?, ?) ' +
          'on conflict (rule, deployment) do update set state = excluded.state, value = excluded.value, since = excluded.since, ' +
          'fired_at = excluded.fired_at, notified_at = excluded.notified_at, evaluated_at = excluded.evaluated_at',
      )
      .run(row.rule, row.deployment, row.state, row.value, row.since, row.fired_at, row.notified_at, row.evaluated_at);
  }

  /**
   * Raise an alert that no rule evaluates (a finding of the model-extraction detector): recorded
   * as a firing event, logged, and sent to every webhook like a rule's, with its evidence.
   */
  raise(e: { rule: string; deployment: string; severity: string; message: string; value: number | null; details?: Record<string, unknown> }): AlertEvent {
    const now = this.clock.now();
    const info = this.db
      .prepare('insert into alert_events (at, rule, deployment, kind, value, severity, message) values (?, ?, ?, ?, ?, ?, ?)')
      .run(now, e.rule, e.deployment, 'firing', e.value, e.severity, e.message);
    const event: AlertEvent = { id: Number(info.lastInsertRowid), at: new Date(now).toISOString(), rule: e.rule, deployment: e.deployment, kind: 'firing', value: e.value, severity: e.severity, message: e.message };
    if (e.details) event.details = e.details;
    this.logger.warn(`alert firing: ${e.message}`, { rule: e.rule, deployment: e.deployment, severity: e.severity });
    this.dispatch(event);
    return event;
  }

  private dispatch(event: AlertEvent): void {
    try {
      this.opts.onEvent?.(event);
    } catch (err) {
      this.logger.warn(`an alert listener failed: ${toBerthError(err).message}`, { rule: event.rule });
    }
    for (const hook of this.opts.webhooks) {
      const p = (this.queues.get(hook.url) ?? Promise.resolve()).then(() => this.deliver(hook, event));
      this.queues.set(hook.url, p);
      const tracked = p.finally(() => this.deliveries.delete(tracked));
      this.deliveries.add(tracked);
    }
  }

  private notify(rule: AlertRule, deployment: string, kind: AlertEvent['kind'], value: number, now: number): void {
    const shown = Number.isInteger(value) ? String(value) : value.toPrecision(4);
    const message =
      kind === 'resolved'
        ? `resolved: ${rule.name} on ${deployment} (${rule.metric} is ${shown}, no longer ${rule.op} ${rule.threshold})`
        : `${kind === 'repeat' ? 'still firing' : 'firing'}: ${rule.name} on ${deployment}: ${rule.metric} is ${shown} (${rule.when})`;
    const info = this.db
      .prepare('insert into alert_events (at, rule, deployment, kind, value, severity, message) values (?, ?, ?, ?, ?, ?, ?)')
      .run(now, rule.name, deployment, kind, value, rule.severity, message);
    const event: AlertEvent = { id: Number(info.lastInsertRowid), at: new Date(now).toISOString(), rule: rule.name, deployment, kind, value, severity: rule.severity, message };
    if (kind === 'resolved') this.logger.info(`alert ${message}`, { rule: rule.name, deployment });
    else this.logger.warn(`alert ${message}`, { rule: rule.name, deployment, severity: rule.severity });
    this.dispatch(event);
  }

  /** POST the event as JSON, signed; retried with doubling back-off on errors and non-2xx answers. */
  private async deliver(hook: WebhookTarget, event: AlertEvent): Promise<void> {
    const body = JSON.stringify({ format: 'berth-alert/1', ...event });
    const attempts = this.opts.webhookAttempts ?? 5;
    let wait = this.opts.webhookBackoffMs ?? 1000;
    for (let i = 1; i <= attempts; i++) {
      const headers = { ...webhookHeaders(body, hook.secret, this.clock.now()), 'x-berth-event': String(event.id) };
      try {
        const res = await fetch(hook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
        if (res.ok) return;
        this.logger.warn('alerts: webhook answered an error', { url: hook.url, status: res.status, attempt: i });
      } catch (err) {
        this.logger.warn('alerts: webhook unreachable', { url: hook.url, attempt: i, error: (err as Error).message });
      }
      if (i < attempts) await new Promise((r) => setTimeout(r, wait));
      wait *= 2;
    }
    this.logger.error('alerts: webhook gave up', { url: hook.url, event: event.id, attempts });
  }

  /** Every (rule, deployment) state, firing first. */
  list(): AlertStatus[] {
    const rows = this.db.prepare('select * from alert_state').all() as Row[];
    const byName = new Map(this.rules.map((r) => [r.name, r]));
    const order: Record<AlertState, number> = { firing: 0, pending: 1, ok: 2 };
    return rows
      .filter((r) => byName.has(r.rule))
      .map((r) => {
        const rule = byName.get(r.rule)!;
        return {
          rule: r.rule,
          deployment: r.deployment,
          metric: rule.metric,
          condition: rule.when,
          severity: rule.severity,
          state: r.state,
          value: r.value,
          since: r.since === null ? null : new Date(r.since).toISOString(),
          firedAt: r.fired_at === null ? null : new Date(r.fired_at).toISOString(),
          lastEvaluatedAt: new Date(r.evaluated_at).toISOString(),
        };
      })
      .sort((a, b) => order[a.state] - order[b.state] || a.rule.localeCompare(b.rule) || a.deployment.localeCompare(b.deployment));
  }

  /** The newest events (firing, resolved, repeat), newest first. */
  events(limit = 100): AlertEvent[] {
    const rows = this.db.prepare('select * from alert_events order by id desc limit ?').all(limit) as (Omit<AlertEvent, 'at'> & { at: number })[];
    return rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
  }

  /** Stop evaluating; wait for the evaluation and deliveries under way. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    if (this.holdsShared && this.opts.releaseSharedLease) {
      await this.opts.releaseSharedLease(this.holder).catch((err: unknown) => {
        this.logger.warn('alerts: the shared evaluator lease could not be given up; another process takes over when it lapses', { error: toBerthError(err).message });
      });
      this.holdsShared = false;
    }
    await Promise.allSettled([...this.deliveries]);
    this.db.close();
  }
}

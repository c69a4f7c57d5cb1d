/**
 * The rollout controller: a persisted state machine per rollout, driven by a Clock.
 *
 *   start → (gates) → progressing(step k) ⇄ paused
 *                     progressing —analysis pass→ step k+1 … → promoted —rollback→ rolled-back
 *                     progressing —analysis fail ×N, breaker, abort→ failed | aborted
 *
 * Every transition is one transaction with its decision row and audit entry; the traffic change
 * follows, and on restart `resume()` re-applies whatever the stored state says the traffic must be,
 * so a crash between the two cannot leave them disagreeing. Work is serialised: a tick, a person's
 * command and a circuit breaker never interleave.
 */
import { BerthError, silentLogger, systemClock, toBerthError, withoutRequestContext, type Clock, type Logger, type Tensor, type TimerHandle } from '../core/index.js';
import type { MonitorService, PredictorFactory } from '../monitor/index.js';
import type { DeploymentRecord, Registry, TrafficPolicy, VersionRecord } from '../registry/index.js';
import { toManagedVersion, versionKey, type BreakerEvent, type InferenceService } from '../serving/index.js';
import { analyse, type AccuracyNumbers, type AnalysisResult } from './analysis.js';
import { runGates, type GateReport } from './gates.js';
import { parseRolloutRequest, type RolloutSpec, type RolloutStep, type StartRolloutRequest } from './spec.js';
import { epochOf, type SharedRolloutWindows } from './shared-windows.js';
import type { DeploymentWindow, RolloutStats } from './stats.js';
import { ACTIVE_STATES, RolloutStore, rolloutNotFound, type DecisionInput, type RolloutDecision, type RolloutRecord, type RolloutState, type StoredSpec } from './store.js';

export interface RolloutControllerOptions {
  registry: Registry;
  service: InferenceService;
  stats: RolloutStats;
  /**
   * With several serving processes: every replica's numbers of a step, pooled through the
   * registry; the analysis and `status` read the merged window instead of this process's own.
   */
  shared?: SharedRolloutWindows;
  /** re-resolve deployments now (the server's refresh): a new policy takes traffic before a step's window starts */
  apply: () => Promise<void>;
  /** accuracy on labelled feedback, when monitoring is on */
  monitor?: MonitorService;
  /** runs a version over an evaluation dataset (gates) */
  predictor: PredictorFactory;
  /** times the steps (tests pass a ManualClock) */
  clock?: Clock;
  logger?: Logger;
  /**
   * Whether this process times the steps (default true). With several serving processes one leads:
   * the others take commands and record them; the leader arms the timers.
   */
  leader?: boolean;
  /** how often the leader looks for rollouts another process started or resumed (ms; 0 = never) */
  pollMs?: number;
}

/** What `rollout status` shows: the rollout, every decision, and the live numbers of the step. */
export interface RolloutStatus {
  rollout: RolloutRecord;
  decisions: RolloutDecision[];
  /** the current step's numbers so far (null once the rollout ended) */
  live: LiveNumbers | null;
}

export interface LiveNumbers {
  since: string;
  versions: { version: number; role: 'stable' | 'candidate' | 'other'; requests: number; errorRate: number | null; p50Ms: number | null; p99Ms: number | null; predictions: Record<string, number> }[];
  shadows: { version: number; copies: number; failures: number; agreement: number | null; meanAbsDiff: number | null; confusion: Record<string, Record<string, number>> }[];
}

const SYSTEM_ACTOR = 'berth';

export class RolloutController {
  private readonly clock: Clock;
  private readonly logger: Logger;
  readonly store: RolloutStore;
  private readonly timers = new Map<number, TimerHandle>();
  private readonly warmTimers = new Map<string, TimerHandle>();
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private leader: boolean;
  private poller: NodeJS.Timeout | null = null;

  constructor(private readonly opts: RolloutControllerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.store = new RolloutStore(opts.registry, () => this.clock.now());
    this.leader = opts.leader ?? true;
    if (this.leader) this.startPolling();
  }

  /** Whether this process times the steps now. */
  get leading(): boolean {
    return this.leader;
  }

  /**
   * Become (or stop being) the process that times the steps — replicas elect one with a lease.
   * Taking over re-applies each rollout's traffic and starts its step's analysis window afresh
   * (the numbers of the old leader's window died with it); giving up disarms every timer.
   */
  async setLeader(on: boolean): Promise<void> {
    if (on === this.leader || this.closed) return;
    this.leader = on;
    if (on) {
      this.logger.info('rollouts: this process now times the rollout steps');
      this.startPolling();
      await this.recover();
    } else {
      this.logger.info('rollouts: another process times the rollout steps now');
      if (this.poller) clearInterval(this.poller);
      this.poller = null;
      for (const id of [...this.timers.keys()]) this.disarm(id);
    }
  }

  private startPolling(): void {
    const every = this.opts.pollMs ?? 0;
    if (every <= 0 || this.poller) return;
    this.poller = setInterval(() => void this.adopt().catch(() => undefined), every);
    this.poller.unref();
  }

  /** The leader arms a timer for every progressing rollout it has none for (started or resumed elsewhere). */
  private async adopt(): Promise<void> {
    for (const r of await this.store.allActive()) {
      if (r.state === 'progressing' && !this.timers.has(r.id)) this.arm(r);
    }
  }

  /** Run `fn` after everything queued before it (one mutation at a time). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every queued tick and command has finished (tests, shutdown). */
  async settle(): Promise<void> {
    for (;;) {
      const c = this.chain;
      await c;
      if (c === this.chain) return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // commands

  /** Start a rollout of `deployment` to `req.toVersion`: gates, load and warm, first step. */
  start(deployment: string, req: StartRolloutRequest, actor = SYSTEM_ACTOR): Promise<RolloutRecord> {
    return this.serial(async () => {
      const spec = parseRolloutRequest(req);
      if (typeof req.toVersion !== 'number' || !Number.isSafeInteger(req.toVersion) || req.toVersion < 1) {
        throw new BerthError('INVALID_ARGUMENT', `toVersion: expected a version number >= 1, got ${JSON.stringify(req.toVersion)}`, {
          field: 'toVersion', expected: 'version number', got: req.toVersion,
        });
      }
      const { deployment: d, version: stable } = await this.opts.registry.resolveDeployment(deployment);
      const candidate = await this.opts.registry.getVersion(d.model, req.toVersion);
      if (candidate.version === stable.version) {
        throw new BerthError('INVALID_ARGUMENT', `toVersion: deployment "${deployment}" already serves version ${stable.version}; roll out a different version`, {
          field: 'toVersion', got: req.toVersion,
        });
      }
      const active = await this.store.active(deployment);
      if (active) {
        throw new BerthError('ROLLOUT_STATE', `deployment "${deployment}" already has rollout ${active.id} ${active.state}; promote, abort or wait for it first (berth rollout status ${deployment})`, {
          deployment, rollout: active.id,
        });
      }
      // the candidate is loaded and warm before anything else: gates measure it, traffic never waits for it
      await this.opts.service.manager.load(toManagedVersion(candidate));
      const gates = await this.runAllGates(spec, candidate, stable);
      const stored: StoredSpec = { ...spec, base: { target: d.target, traffic: d.traffic } };
      const now = this.clock.now();
      const common = {
        deployment,
        model: d.model,
        from_version: stable.version,
        to_version: candidate.version,
        strategy: spec.strategy,
        spec: JSON.stringify(stored),
        step: 0,
        step_started_at: now,
        failures: 0,
        actor,
      };
      if (!gates.passed) {
        const failed = gates.results.filter((g) => !g.passed);
        const reason = failed.map((g) => g.detail).join('; ');
        const r = await this.store.create(
          { ...common, state: 'blocked', next_at: null, reason, finished_at: now },
          { kind: 'gates', verdict: 'fail', details: { gates: gates.results }, actor, audit: 'rollout.gates' },
        );
        throw new BerthError('GATE_FAILED', `version ${candidate.version} of ${d.model} failed its gates, so it gets no traffic (rollout ${r.id} blocked): ${reason}`, {
          deployment, rollout: r.id, gates: gates.results,
        });
      }
      const r = await this.store.create(
        { ...common, state: 'progressing', next_at: now + spec.intervalMs, reason: null },
        { kind: 'start', verdict: 'pass', details: { gates: gates.results, steps: spec.steps, intervalMs: spec.intervalMs, analysis: spec.analysis }, actor, audit: 'rollout.start' },
      );
      await this.applyTraffic(r, actor);
      this.opts.stats.reset(deployment, epochOf(r));
      this.arm(r);
      this.logger.info('rollout started', { deployment, rollout: r.id, from: r.fromVersion, to: r.toVersion, steps: spec.steps.length });
      return r;
    });
  }

  private async runAllGates(spec: RolloutSpec, candidate: VersionRecord, stable: VersionRecord): Promise<GateReport> {
    const managed = toManagedVersion(candidate);
    const key = versionKey(candidate.model, candidate.version);
    const report = await runGates(
      { ...spec.gates, signature: { allowBreaking: spec.allowBreaking || (spec.gates.signature?.allowBreaking ?? false) } },
      {
        candidate,
        stable,
        predictor: this.opts.predictor,
        runCandidate: (inputs: Tensor[]) => this.opts.service.probe(managed, inputs),
        memoryBytes: () => this.opts.service.manager.get(key)?.memoryBytes ?? null,
      },
    );
    return report;
  }

  pause(deployment: string, actor = SYSTEM_ACTOR, reason = 'paused by a person'): Promise<RolloutRecord> {
    return this.serial(async () => {
      const r = await this.requireActive(deployment);
      this.disarm(r.id);
      return this.store.transition(r.id, ['progressing'], { state: 'paused', next_at: null, reason }, { kind: 'pause', details: { reason }, actor, audit: 'rollout.pause' });
    });
  }

  resume(deployment: string, actor = SYSTEM_ACTOR): Promise<RolloutRecord> {
    return this.serial(async () => {
      const r = await this.requireActive(deployment);
      const now = this.clock.now();
      const next = await this.store.transition(
        r.id,
        ['paused'],
        { state: 'progressing', step_started_at: now, next_at: now + r.spec.intervalMs, reason: null },
        { kind: 'resume', details: { note: 'the step starts a fresh analysis window' }, actor, audit: 'rollout.resume' },
      );
      this.opts.stats.reset(deployment, epochOf(next));
      this.arm(next);
      return next;
    });
  }

  /** Skip to the end: the candidate takes all traffic. Refused after a failed analysis. */
  promote(deployment: string, actor = SYSTEM_ACTOR): Promise<RolloutRecord> {
    return this.serial(async () => {
      const r = await this.requireActive(deployment);
      if (r.failures > 0) {
        throw new BerthError('ROLLOUT_STATE', `rollout ${r.id} of "${deployment}": its last analysis failed (${r.reason ?? 'see berth rollout status'}); a failed version is not promoted. Abort it, or wait for a passing analysis`, {
          deployment, rollout: r.id,
        });
      }
      return this.doPromote(r, actor, { manual: true });
    });
  }

  abort(deployment: string, actor = SYSTEM_ACTOR, reason = 'aborted by a person'): Promise<RolloutRecord> {
    return this.serial(async () => {
      const r = await this.requireActive(deployment);
      return this.finish(r, 'aborted', reason, { kind: 'abort', details: { reason }, actor, audit: 'rollout.abort' });
    });
  }

  /**
   * Back to the previous stable version, any time: aborts a rollout in progress, undoes a promoted
   * one, else returns the deployment to its previous revision.
   */
  rollback(deployment: string, actor = SYSTEM_ACTOR): Promise<{ rollout: RolloutRecord | null; deployment: DeploymentRecord }> {
    return this.serial(async () => {
      const latest = await this.store.latest(deployment);
      if (latest && ACTIVE_STATES.includes(latest.state)) {
        const r = await this.finish(latest, 'aborted', 'rolled back by a person', { kind: 'rollback', details: {}, actor, audit: 'rollout.rollback' });
        return { rollout: r, deployment: await this.opts.registry.getDeployment(deployment) };
      }
      const d = await this.opts.registry.getDeployment(deployment);
      if (latest && latest.state === 'promoted' && (await this.servedVersion(d)) === latest.toVersion) {
        const r = await this.store.transition(latest.id, ['promoted'], { state: 'rolled-back', reason: 'rolled back by a person' }, {
          kind: 'rollback', details: { to: latest.fromVersion }, actor, audit: 'rollout.rollback',
        });
        await this.restoreBase(r, actor);
        return { rollout: r, deployment: await this.opts.registry.getDeployment(deployment) };
      }
      return { rollout: null, deployment: await this.opts.registry.rollbackDeployment(deployment, actor) };
    });
  }

  async status(deployment: string): Promise<RolloutStatus> {
    const r = await this.store.latest(deployment);
    if (!r) throw rolloutNotFound(`for deployment "${deployment}" (start one: berth rollout start ${deployment} --to-version N)`);
    return { rollout: r, decisions: await this.store.decisions(r.id), live: ACTIVE_STATES.includes(r.state) ? await this.live(r) : null };
  }

  list(deployment?: string): Promise<RolloutRecord[]> {
    return this.store.list(deployment);
  }

  /** A circuit breaker opened in the data plane: make the move it made durable, and say so. */
  onBreaker(e: BreakerEvent): Promise<void> {
    return this.serial(async () => {
      const details = { version: e.version, to: e.to, failures: e.failures, requests: e.requests, windowMs: e.windowMs, errorPercent: e.errorPercent };
      const active = await this.store.active(e.deployment);
      if (active && active.toVersion === e.version) {
        await this.finish(active, 'failed', `circuit breaker: ${e.failures} of ${e.requests} requests to version ${e.version} failed within ${e.windowMs} ms`, {
          kind: 'breaker', verdict: 'fail', details, actor: SYSTEM_ACTOR, audit: 'rollout.abort',
        });
        return;
      }
      if (e.to === null) return;
      const d = await this.opts.registry.getDeployment(e.deployment);
      const traffic = d.traffic;
      if (e.target) {
        // the target itself fails: the last good version becomes the target
        const next: TrafficPolicy | null = traffic ? { ...traffic, fallback: null, fallbackWarmUntil: null, split: traffic.split.filter((a) => a.version !== e.to) } : null;
        await this.opts.registry.deploy({ name: d.name, model: d.model, target: { kind: 'version', version: e.to }, traffic: next, change: 'fallback', actor: SYSTEM_ACTOR });
      } else if (traffic) {
        await this.opts.registry.deploy({ name: d.name, model: d.model, target: d.target, traffic: { ...traffic, split: traffic.split.filter((a) => a.version !== e.version) }, change: 'fallback', actor: SYSTEM_ACTOR });
      }
      await this.opts.apply();
      this.logger.warn('circuit breaker moved traffic', { deployment: e.deployment, ...details });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // the state machine

  /** After a restart: re-apply what each rollout says the traffic must be, re-arm its timer. */
  recover(): Promise<void> {
    if (!this.leader) return Promise.resolve();
    return this.serial(async () => {
      for (const r of await this.store.allActive()) {
        try {
          await this.applyTraffic(r, SYSTEM_ACTOR);
          this.opts.stats.reset(r.deployment);
          if (r.state !== 'progressing') continue;
          // the step's numbers died with the process: same step, same weights, and a full fresh
          // analysis window, so nothing is ever decided on half a window
          const now = this.clock.now();
          const next = await this.store.transition(r.id, ['progressing'], { step_started_at: now, next_at: now + r.spec.intervalMs }, {
            kind: 'restart',
            details: { note: 'server restarted mid-step: same step, same weights, a fresh analysis window', previousNextAt: r.nextAtMs },
            actor: SYSTEM_ACTOR,
            audit: 'rollout.step',
          });
          this.opts.stats.reset(r.deployment, epochOf(next));
          this.arm(next);
        } catch (err) {
          this.logger.error('resuming a rollout failed', { deployment: r.deployment, rollout: r.id, error: toBerthError(err).message });
        }
      }
      await this.reconcileFinished();
    });
  }

  /** A finished rollout whose traffic change did not happen (crash in between) gets it now. */
  private async reconcileFinished(): Promise<void> {
    for (const d of await this.opts.registry.listDeployments()) {
      const latest = await this.store.latest(d.name);
      if (!latest || ACTIVE_STATES.includes(latest.state)) continue;
      const t = d.traffic;
      const names = (v: number): boolean => t !== null && (t.split.some((a) => a.version === v) || t.shadows.some((a) => a.version === v) || t.preview === v);
      if ((latest.state === 'failed' || latest.state === 'aborted') && names(latest.toVersion)) await this.restoreBase(latest, SYSTEM_ACTOR);
      if (latest.state === 'promoted' && (await this.servedVersion(d)) === latest.fromVersion && latest.finishedAt !== null) {
        await this.applyPromotion(latest, SYSTEM_ACTOR);
      }
      const until = t?.fallbackWarmUntil ?? null;
      if (until !== null && until > Date.now()) this.armWarmExpiry(d.name, until);
    }
  }

  private arm(r: RolloutRecord): void {
    this.disarm(r.id);
    if (!this.leader || this.closed || r.state !== 'progressing' || r.nextAtMs === null) return;
    const h = this.clock.setTimeout(
      () =>
        // the step is the controller's doing, not the request's that happened to arm the timer
        withoutRequestContext(() => {
          this.timers.delete(r.id);
          void this.serial(() => this.tick(r.id)).catch((err: unknown) => {
            this.logger.error('rollout analysis failed', { rollout: r.id, error: toBerthError(err).message });
          });
        }),
      Math.max(0, r.nextAtMs - this.clock.now()),
    );
    this.timers.set(r.id, h);
  }

  private disarm(id: number): void {
    const h = this.timers.get(id);
    if (h) this.clock.clearTimeout(h);
    this.timers.delete(id);
  }

  /** A step's interval is over: analyse, then advance, wait, pause or roll back. */
  private async tick(id: number): Promise<void> {
    const r = await this.store.get(id);
    if (r.state !== 'progressing') return;
    const exists = await this.opts.registry.getDeployment(r.deployment).then(() => true, () => false);
    if (!exists) {
      // the deployment was deleted under the rollout: nothing to route, nothing to restore
      await this.store.transition(r.id, ['progressing'], { state: 'aborted', next_at: null, finished_at: this.clock.now(), reason: `deployment "${r.deployment}" was deleted` }, {
        kind: 'abort', details: { reason: 'deployment deleted' }, actor: SYSTEM_ACTOR, audit: 'rollout.abort',
      }, r.step);
      return;
    }
    const result = await this.analyse(r);
    const details = { analysis: result };
    const now = this.clock.now();
    let verdict = result.verdict;
    if (verdict === 'no-data') {
      const policy = r.spec.analysis.noData;
      if (policy === 'pause') {
        const next = await this.store.transition(r.id, ['progressing'], { state: 'paused', next_at: null, reason: result.reason }, {
          kind: 'analysis', verdict, details: { ...details, policy }, actor: SYSTEM_ACTOR, audit: 'rollout.pause',
        }, r.step);
        this.logger.warn('rollout paused: the candidate got no traffic', { deployment: next.deployment, rollout: id });
        return;
      }
      verdict = policy; // 'fail' or 'pass', as the rollout declared
    }
    if (verdict === 'inconclusive') {
      const next = await this.store.transition(r.id, ['progressing'], { next_at: now + r.spec.intervalMs, reason: result.reason }, {
        kind: 'analysis', verdict, details, actor: SYSTEM_ACTOR, audit: 'rollout.analysis',
      }, r.step);
      this.arm(next);
      return;
    }
    if (verdict === 'fail') {
      const failures = r.failures + 1;
      if (failures >= r.spec.analysis.failureLimit) {
        await this.finish(r, 'failed', `analysis failed ${failures}× in a row: ${result.reason}`, {
          kind: 'analysis', verdict: 'fail', details: { ...details, failures, rolledBack: true }, actor: SYSTEM_ACTOR, audit: 'rollout.abort',
        }, failures);
        return;
      }
      const next = await this.store.transition(r.id, ['progressing'], { failures, step_started_at: now, next_at: now + r.spec.intervalMs, reason: result.reason }, {
        kind: 'analysis', verdict, details: { ...details, failures, failureLimit: r.spec.analysis.failureLimit }, actor: SYSTEM_ACTOR, audit: 'rollout.analysis',
      }, r.step);
      this.opts.stats.reset(r.deployment, epochOf(next));
      this.arm(next);
      return;
    }
    // pass: the next step, or the end
    const nextIndex = r.step + 1;
    const nextStep = r.spec.steps[nextIndex];
    if (nextStep === undefined || (nextStep.kind === 'weight' && nextStep.percent >= 100)) {
      await this.doPromote(r, SYSTEM_ACTOR, { manual: false, analysis: result });
      return;
    }
    const next = await this.store.transition(r.id, ['progressing'], { step: nextIndex, failures: 0, step_started_at: now, next_at: now + r.spec.intervalMs, reason: null }, {
      kind: 'advance', verdict: 'pass', details: { ...details, from: describeStep(r.currentStep), to: describeStep(nextStep) }, actor: SYSTEM_ACTOR, audit: 'rollout.step',
    }, r.step);
    await this.applyTraffic(next, SYSTEM_ACTOR);
    this.opts.stats.reset(r.deployment, epochOf(next));
    this.arm(next);
  }

  /** The step's numbers: every replica's when they are pooled, else this process's. */
  private async stepWindow(r: RolloutRecord): Promise<DeploymentWindow | undefined> {
    return this.opts.shared ? this.opts.shared.merged(r) : this.opts.stats.window(r.deployment);
  }

  private async analyse(r: RolloutRecord): Promise<AnalysisResult> {
    let w = await this.stepWindow(r);
    if (!w) {
      this.opts.stats.reset(r.deployment, epochOf(r));
      w = this.opts.stats.window(r.deployment)!;
    }
    const mode = r.currentStep.kind === 'shadow' ? 'shadow' : r.currentStep.kind === 'preview' ? 'preview' : 'split';
    const accuracy = mode === 'split' ? await this.accuracy(r, w.since) : null;
    return analyse({ spec: r.spec.analysis, window: w, stable: r.fromVersion, candidate: r.toVersion, mode, accuracy, now: this.clock.now() });
  }

  /** Accuracy of both versions on feedback labels since the step began (monitoring's join of log and labels). */
  private async accuracy(r: RolloutRecord, since: number): Promise<AccuracyNumbers | null> {
    const monitor = this.opts.monitor;
    if (!monitor) return null;
    try {
      const report = await monitor.report(r.deployment, { window: `${new Date(since).toISOString()}..` });
      const by = (v: number): { accuracy: number | null; labelled: number } => {
        const x = report.performance.byVersion.find((b) => b.version === v);
        return { accuracy: x?.accuracy ?? null, labelled: x?.labelled ?? 0 };
      };
      return { candidate: by(r.toVersion), stable: by(r.fromVersion) };
    } catch (err) {
      this.logger.debug('rollout analysis: no accuracy numbers', { deployment: r.deployment, error: toBerthError(err).message });
      return null;
    }
  }

  private async doPromote(r: RolloutRecord, actor: string, why: { manual: boolean; analysis?: AnalysisResult }): Promise<RolloutRecord> {
    this.disarm(r.id);
    const now = this.clock.now();
    const done = await this.store.transition(r.id, ['progressing', 'paused'], { state: 'promoted', next_at: null, finished_at: now, reason: why.manual ? 'promoted by a person' : null }, {
      kind: 'promote',
      verdict: why.analysis ? why.analysis.verdict : null,
      details: { ...(why.analysis ? { analysis: why.analysis } : {}), manual: why.manual, keepOldMs: r.spec.keepOldMs },
      actor,
      audit: 'rollout.promote',
    });
    await this.applyPromotion(done, actor);
    this.logger.info('rollout promoted', { deployment: r.deployment, rollout: r.id, version: r.toVersion });
    return done;
  }

  /** The candidate becomes the target; the old version stays the fallback, warm for `keepOldMs`. */
  private async applyPromotion(r: RolloutRecord, actor: string): Promise<void> {
    const d = await this.opts.registry.getDeployment(r.deployment);
    const base = r.spec.base;
    const warmUntil = Date.now() + r.spec.keepOldMs;
    const traffic: TrafficPolicy = {
      split: [],
      sticky: base.traffic?.sticky ?? null,
      shadows: (base.traffic?.shadows ?? []).filter((s) => s.version !== r.toVersion),
      preview: null,
      fallback: r.fromVersion,
      fallbackWarmUntil: r.spec.keepOldMs > 0 ? warmUntil : null,
      breaker: base.traffic?.breaker ?? null,
    };
    if (d.target.kind === 'alias') {
      await this.opts.registry.setAlias(d.model, d.target.alias, r.toVersion, actor);
      await this.opts.registry.deploy({ name: d.name, model: d.model, target: d.target, traffic, actor });
    } else {
      await this.opts.registry.deploy({ name: d.name, model: d.model, target: { kind: 'version', version: r.toVersion }, traffic, actor });
    }
    await this.opts.apply();
    if (r.spec.keepOldMs > 0) this.armWarmExpiry(d.name, warmUntil);
  }

  /** When the switch-back window ends, the old version may unload (it stays the fallback). */
  private armWarmExpiry(deployment: string, until: number): void {
    const prev = this.warmTimers.get(deployment);
    if (prev) systemClock.clearTimeout(prev);
    this.warmTimers.set(deployment, systemClock.setTimeout(() => void this.opts.apply(), Math.max(0, until - Date.now()) + 10));
  }

  /** End a rollout that did not promote: its state and decision first, then the traffic goes back. */
  private async finish(r: RolloutRecord, state: RolloutState, reason: string, decision: DecisionInput, failures?: number): Promise<RolloutRecord> {
    this.disarm(r.id);
    const done = await this.store.transition(r.id, ['progressing', 'paused'], { state, next_at: null, finished_at: this.clock.now(), reason, ...(failures !== undefined ? { failures } : {}) }, decision);
    await this.restoreBase(done, decision.actor);
    this.logger.warn(`rollout ${state}`, { deployment: r.deployment, rollout: r.id, reason });
    return done;
  }

  /** The deployment as it was before the rollout (alias moved back if the rollout moved it). */
  private async restoreBase(r: RolloutRecord, actor: string): Promise<void> {
    const d = await this.opts.registry.getDeployment(r.deployment);
    const base = r.spec.base;
    if (base.target.kind === 'alias' && d.target.kind === 'alias' && (await this.servedVersion(d)) !== r.fromVersion) {
      await this.opts.registry.setAlias(d.model, base.target.alias, r.fromVersion, actor);
    }
    await this.opts.registry.deploy({ name: d.name, model: d.model, target: base.target, traffic: base.traffic, actor });
    await this.opts.apply();
  }

  /** Put the deployment's traffic where the rollout's current step says (idempotent). */
  private async applyTraffic(r: RolloutRecord, actor: string): Promise<void> {
    const d = await this.opts.registry.getDeployment(r.deployment);
    const base = r.spec.base.traffic;
    const others = (base?.shadows ?? []).filter((s) => s.version !== r.toVersion);
    const step = r.currentStep;
    const traffic: TrafficPolicy = {
      split: step.kind === 'weight' ? [{ version: r.toVersion, percent: step.percent }] : [],
      sticky: r.spec.sticky ?? base?.sticky ?? null,
      shadows: step.kind === 'shadow' ? [...others, { version: r.toVersion, percent: 100 }] : others,
      preview: step.kind === 'preview' ? r.toVersion : null,
      fallback: null,
      fallbackWarmUntil: null,
      breaker: base?.breaker ?? null,
    };
    await this.opts.registry.deploy({ name: d.name, model: d.model, target: r.spec.base.target, traffic, actor });
    await this.opts.apply();
  }

  private async servedVersion(d: DeploymentRecord): Promise<number> {
    return (await this.opts.registry.resolveDeployment(d.name)).version.version;
  }

  private async requireActive(deployment: string): Promise<RolloutRecord> {
    const r = await this.store.active(deployment);
    if (r) return r;
    const latest = await this.store.latest(deployment);
    if (latest) {
      throw new BerthError('ROLLOUT_STATE', `deployment "${deployment}" has no rollout in progress (rollout ${latest.id} is ${latest.state}); start one: berth rollout start ${deployment} --to-version N`, {
        deployment, rollout: latest.id, got: latest.state,
      });
    }
    throw rolloutNotFound(`for deployment "${deployment}" (start one: berth rollout start ${deployment} --to-version N)`);
  }

  private async live(r: RolloutRecord): Promise<LiveNumbers | null> {
    const w = await this.stepWindow(r);
    if (!w) return null;
    const role = (v: number): 'stable' | 'candidate' | 'other' => (v === r.fromVersion ? 'stable' : v === r.toVersion ? 'candidate' : 'other');
    return {
      since: new Date(w.since).toISOString(),
      versions: [...w.versions.values(), ...w.preview.values()].map((v) => ({
        version: v.version,
        role: role(v.version),
        requests: v.requests,
        errorRate: v.requests > 0 ? v.failures / v.requests : null,
        p50Ms: v.latency.quantile(0.5),
        p99Ms: v.latency.quantile(0.99),
        predictions: Object.fromEntries(v.labels),
      })),
      shadows: [...w.shadows.values()].map((s) => ({
        version: s.version,
        copies: s.copies,
        failures: s.failures,
        agreement: s.rows > 0 ? s.agreed / s.rows : null,
        meanAbsDiff: s.probRows > 0 ? s.absDiffSum / s.probRows : null,
        confusion: Object.fromEntries([...s.confusion].map(([k, m]) => [k, Object.fromEntries(m)])),
      })),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    for (const id of [...this.timers.keys()]) this.disarm(id);
    for (const h of this.warmTimers.values()) systemClock.clearTimeout(h);
    this.warmTimers.clear();
    await this.settle();
  }
}

export function describeStep(s: RolloutStep): string {
  return s.kind === 'weight' ? `${s.percent}%` : s.kind;
}

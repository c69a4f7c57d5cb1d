import { randomUUID } from 'node:crypto';
import {
  BerthError,
  systemClock,
  toBerthError,
  type BatchingConfig,
  type Clock,
  type LifecycleConfig,
  type Logger,
  silentLogger,
  type Tensor,
} from '../core/index.js';
import { DEFAULT_BREAKER, type BreakerPolicy, type DeploymentSettings, type StickySource, type VersionRecord } from '../registry/index.js';
import { versionKey, type LoadedEntry, type ManagedVersion, type ModelManager } from './model-manager.js';
import { CircuitBreaker, ShareCounter, WeightedScheduler, isVersionFailure, readStickyKey, stickyArm, type BreakerTrip } from './router.js';
import { validateInputs } from './validate.js';

/** Per-deployment overrides of the server's batching and lifecycle defaults (the registry's settings). */
export type DeploymentOverrides = DeploymentSettings;

/** A registry version as the data plane needs it. */
export function toManagedVersion(v: VersionRecord): ManagedVersion {
  const m: ManagedVersion = { model: v.model, version: v.version, sha256: v.sha256, sizeBytes: v.sizeBytes, signature: v.signature };
  if (v.card) m.card = v.card;
  return m;
}

/** A deployment's traffic policy with its versions resolved. */
export interface ResolvedTraffic {
  split: { version: ManagedVersion; percent: number }[];
  sticky: { from: StickySource; name: string } | null;
  shadows: { version: ManagedVersion; percent: number }[];
  preview: ManagedVersion | null;
  fallback: ManagedVersion | null;
  /** keep the fallback loaded (blue-green switch-back window) */
  fallbackWarm: boolean;
  breaker: BreakerPolicy | null;
}

/** A deployment resolved to the version it serves now. */
export interface ResolvedDeployment {
  name: string;
  model: string;
  revision: number;
  /** the target's version: the stable one, answering whatever share the split leaves */
  version: ManagedVersion;
  overrides: DeploymentOverrides;
  traffic?: ResolvedTraffic | null;
}

/** Where the service learns what each deployment serves (the registry, adapted by the server). */
export interface DeploymentSource {
  resolveDeployment(name: string): Promise<ResolvedDeployment>;
  resolveVersion(model: string, version: number): Promise<ManagedVersion>;
  listDeployments(): Promise<ResolvedDeployment[]>;
}

/** A protocol-neutral inference request. Inputs are typed tensors; outputs optionally select. */
export interface InferenceRequest {
  id?: string;
  /** the request's headers by lower-case name, when it came over HTTP (sticky routing by header reads them) */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** the authenticated caller's id (token id, JWT subject), for per-caller monitoring such as extraction detection */
  principal?: string;
  inputs: Tensor[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
  parameters?: Record<string, unknown>;
  /** aborts when the caller goes away: a request still queued then leaves unrun (CANCELLED) */
  signal?: AbortSignal;
}

export interface InferenceTiming {
  /** waiting: for the model to be acquired (loaded) and for the request's batch to start */
  queueMs: number;
  /** the runtime call */
  inferMs: number;
  /** before the runtime: routing, validation, joining the batch's inputs */
  inputMs: number;
  /** after it: cutting the request's rows out of the batch's outputs */
  outputMs: number;
  totalMs: number;
  batchRows: number;
  /** rows of this request */
  rows: number;
}

export interface InferenceResponse {
  /** the deployment name (the v2 protocol's model name) */
  modelName: string;
  /** the registered model behind it */
  model: string;
  modelVersion: string;
  id?: string;
  /** the request's id: the one the client sent, else one Berth made (for feedback joins) */
  requestId: string;
  outputs: Tensor[];
  timing: InferenceTiming;
  route: Route;
  /** `model@version` of the version that answered (the x-berth-version header) */
  answeredBy: string;
}

/** One answered request as monitoring sees it: the validated inputs and the outputs, by reference. */
export interface InferenceRecord {
  deployment: string;
  model: string;
  version: number;
  /** the version's signature and card, for monitoring's view of the columns */
  managed: ManagedVersion;
  requestId: string;
  inputs: Tensor[];
  outputs: Tensor[];
  /** rows in this request */
  rows: number;
  latencyMs: number;
  /** wall-clock time of the answer, ms since the epoch */
  timestampMs: number;
  /** `primary` answered the caller; `shadow` got a copy; `preview` answered on the preview route */
  role: RequestRole;
  /** the authenticated caller's id, when the request carried one */
  principal?: string;
}

export type RequestRole = 'primary' | 'shadow' | 'preview';

/** A shadow copy's outcome beside the primary answer it shadowed. */
export interface ShadowRecord {
  deployment: string;
  /** the primary's answer (inputs, outputs, version) */
  primary: InferenceRecord;
  /** the shadow's answer, when it produced one */
  shadow: InferenceRecord | null;
  /** the shadow's error code when it failed, or was dropped (`QUEUE_FULL`, `MODEL_UNAVAILABLE`) */
  code: string;
  shadowVersion: number;
  latencyMs: number;
}

/** A circuit breaker opened: traffic of `version` now goes to `to`. */
export interface BreakerEvent extends BreakerTrip {
  deployment: string;
  model: string;
  version: number;
  /** the version taking its traffic, or null when there is nowhere to go */
  to: number | null;
  /** was the tripped version the deployment's target (true) or a split arm (false)? */
  target: boolean;
  timestampMs: number;
}

/** A request the data plane refused or failed, once its route was known. */
export interface FailureRecord {
  deployment: string;
  model: string;
  version: number;
  managed: ManagedVersion;
  requestId: string;
  /** the error code (INVALID_INPUT, QUEUE_FULL, …) and the field it names, if any */
  code: string;
  field: string | null;
  /** the version failed (runtime error, timeout, unavailable), not the request: what breakers and analysis count */
  versionFailure: boolean;
  latencyMs: number;
  timestampMs: number;
  role: RequestRole;
}

/** What the service tells monitoring about each request. */
export interface InferenceObserver {
  /** every failed request whose deployment resolved (data quality counts refusals) */
  onFailure?(record: FailureRecord): void;
  onRequest?(deployment: string, model: string, version: number, code: string, timing: InferenceTiming | null, totalMs: number): void;
  /** every successful request, after its answer is computed; must not block (copy, then defer) */
  onInference?(record: InferenceRecord): void;
  /** every shadow copy, after it answered or failed (never on the caller's path) */
  onShadow?(record: ShadowRecord): void;
  /** a version's circuit breaker opened */
  onBreaker?(event: BreakerEvent): void;
}

/** One deployment's current route: the version and the batching it runs with. */
export interface Route {
  /** the deployment name, or `name@version` for a version path: the key of its queue */
  id: string;
  deployment: ResolvedDeployment;
  version: ManagedVersion;
  key: string;
  batching: BatchingConfig;
}

export interface InferenceServiceOptions {
  source: DeploymentSource;
  manager: ModelManager;
  batching: BatchingConfig;
  lifecycle: LifecycleConfig;
  clock?: Clock;
  logger?: Logger;
  observer?: InferenceObserver;
  /**
   * Load deployed versions ahead of traffic and keep them warm (default true). A process that
   * takes no inference traffic (`--role control`) loads a version only when asked to (gates).
   */
  preload?: boolean;
}

/** How one deployment spreads requests right now: built from its traffic policy on refresh. */
interface Plan {
  /** the only arm when there is no split and no breaker to consult: the fast path */
  single: Route | null;
  /** [target, ...split arms] */
  arms: Route[];
  scheduler: WeightedScheduler | null;
  /** cumulative percents of the arms, for sticky keys */
  cumulative: number[];
  sticky: { from: StickySource; name: string } | null;
  shadows: { route: Route; share: ShareCounter; sameSignature: boolean }[];
  preview: Route | null;
  fallback: Route | null;
  /** one per arm (index as in `arms`), null when the deployment has nowhere to fall back to */
  breakers: CircuitBreaker[] | null;
  /** the versions and shares the counters above are for: a refresh that keeps them keeps the counters */
  shape: string;
}

/** Most rows a shadow's queue holds: a slow shadow drops copies rather than holding memory. */
const SHADOW_QUEUE_ROWS = 1024;
/**
 * A shadow's queue waits this long for a fuller batch: nobody waits for a shadow's answer, and
 * fewer, fuller runtime calls leave the event loop to the primary (a call costs about the same
 * at 1 row as at 64 for small models).
 */
const SHADOW_QUEUE_DELAY_MS = 10;

/**
 * The data plane: `infer(deployment, request)` routes to the version the deployment's traffic
 * policy picks, validates the inputs against its signature, queues them on that version's batcher
 * and returns the outputs; shadow versions get a copy after the answer. It knows nothing of HTTP;
 * REST, the friendly endpoint, gRPC and batch jobs all call it.
 */
export class InferenceService {
  private readonly plans = new Map<string, Plan>();
  private readonly versionRoutes = new Map<string, Route>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly idPrefix = randomUUID().slice(0, 13);
  private idCounter = 0;
  /** shadow copies dropped because the shadow was busy, not loaded or failed, by deployment */
  readonly shadowDrops = new Map<string, number>();

  constructor(private readonly opts: InferenceServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
  }

  get manager(): ModelManager {
    return this.opts.manager;
  }

  /** The route of a deployment's target (or one version of its model), cached until `refresh`. */
  async route(deployment: string, version?: number): Promise<Route> {
    if (version === undefined) return (await this.plan(deployment)).arms[0]!;
    const vkey = `${deployment}\u0000${version}`;
    const cached = this.versionRoutes.get(vkey);
    if (cached) return cached;
    const base = await this.route(deployment);
    const v = version === base.version.version ? base.version : await this.opts.source.resolveVersion(base.deployment.model, version);
    const r = this.makeRoute(`${deployment}@${version}`, base.deployment, v);
    this.versionRoutes.set(vkey, r);
    return r;
  }

  /** Every route of a deployment's policy: arms, shadows, preview and fallback (for loading them). */
  async policyRoutes(deployment: string): Promise<{ role: 'target' | 'split' | 'shadow' | 'preview' | 'fallback'; route: Route }[]> {
    const p = await this.plan(deployment);
    return [
      ...p.arms.map((route, i) => ({ role: i === 0 ? ('target' as const) : ('split' as const), route })),
      ...p.shadows.map((s) => ({ role: 'shadow' as const, route: s.route })),
      ...(p.preview ? [{ role: 'preview' as const, route: p.preview }] : []),
      ...(p.fallback ? [{ role: 'fallback' as const, route: p.fallback }] : []),
    ];
  }

  /** The deployments whose last refresh found a traffic policy (split, shadows, preview or fallback). */
  deploymentsWithTraffic(): string[] {
    return [...this.plans].filter(([, p]) => p.arms[0]!.deployment.traffic).map(([name]) => name);
  }

  /** Which arms' circuit breakers are open, by version. */
  openBreakers(deployment: string): number[] {
    const p = this.plans.get(deployment);
    if (!p?.breakers) return [];
    return p.arms.filter((_, i) => p.breakers![i]!.open).map((r) => r.version.version);
  }

  private async plan(deployment: string): Promise<Plan> {
    const cached = this.plans.get(deployment);
    if (cached) return cached;
    const resolved = await this.opts.source.resolveDeployment(deployment);
    const p = this.makePlan(resolved);
    this.plans.set(deployment, p);
    return p;
  }

  private makePlan(d: ResolvedDeployment): Plan {
    const target = this.makeRoute(d.name, d, d.version);
    const t = d.traffic ?? null;
    const arms = [target, ...(t?.split ?? []).map((a) => this.makeRoute(d.name, d, a.version))];
    const splitTotal = (t?.split ?? []).reduce((s, a) => s + a.percent, 0);
    const weights = [Math.max(0, 100 - splitTotal), ...(t?.split ?? []).map((a) => a.percent)];
    const cumulative: number[] = [];
    weights.reduce((acc, w) => (cumulative.push(acc + w), acc + w), 0);
    const fallback = t?.fallback ? this.makeRoute(`${d.name}#fallback`, d, t.fallback) : null;
    const canFallBack = arms.length > 1 || fallback !== null;
    const breaker = t?.breaker ?? DEFAULT_BREAKER;
    const sig = JSON.stringify(d.version.signature.inputs);
    const shape = JSON.stringify([arms.map((r) => r.key), weights, (t?.shadows ?? []).map((s) => [s.version.version, s.percent]), fallback?.key ?? null, breaker]);
    return {
      shape,
      single: arms.length === 1 && fallback === null ? target : null,
      arms,
      scheduler: arms.length > 1 ? new WeightedScheduler(weights) : null,
      cumulative,
      sticky: t?.sticky ?? null,
      shadows: (t?.shadows ?? []).map((s) => ({
        route: this.makeRoute(`${d.name}#shadow`, d, s.version, SHADOW_QUEUE_ROWS),
        share: new ShareCounter(s.percent),
        sameSignature: JSON.stringify(s.version.signature.inputs) === sig,
      })),
      preview: t?.preview ? this.makeRoute(`${d.name}#preview`, d, t.preview) : null,
      fallback,
      breakers: canFallBack ? arms.map(() => new CircuitBreaker(breaker)) : null,
    };
  }

  private makeRoute(id: string, d: ResolvedDeployment, v: ManagedVersion, maxQueueRows?: number): Route {
    const o = d.overrides;
    const card = v.card?.serving ?? {};
    const b = this.opts.batching;
    const batching: BatchingConfig = {
      maxBatchSize: o.maxBatchSize ?? card.maxBatchSize ?? b.maxBatchSize,
      maxQueueDelayMs: o.maxQueueDelayMs ?? card.maxQueueDelayMs ?? b.maxQueueDelayMs,
      maxQueueSize: o.maxQueueSize ?? card.maxQueueSize ?? b.maxQueueSize,
      timeoutMs: o.timeoutMs ?? card.timeoutMs ?? b.timeoutMs,
    };
    if (maxQueueRows !== undefined) {
      batching.maxQueueSize = Math.min(batching.maxQueueSize, maxQueueRows);
      batching.maxQueueDelayMs = Math.max(batching.maxQueueDelayMs, SHADOW_QUEUE_DELAY_MS);
    }
    return { id, deployment: d, version: v, key: versionKey(v.model, v.version), batching };
  }

  /**
   * Re-resolve every deployment (after an alias, deployment or traffic change). Every version a
   * policy routes to is loaded and warmed before the new plan takes traffic; versions no plan
   * names any more drain and unload; keep-warm versions stay loaded.
   */
  async refresh(): Promise<void> {
    const all = await this.opts.source.listDeployments();
    const keysOf = (plans: Iterable<Plan>): Set<string> => {
      const out = new Set<string>();
      for (const p of plans) {
        for (const r of p.arms) out.add(r.key);
        for (const s of p.shadows) out.add(s.route.key);
        if (p.preview) out.add(p.preview.key);
        if (p.fallback) out.add(p.fallback.key);
      }
      return out;
    };
    const before = keysOf(this.plans.values());
    const next = new Map<string, Plan>();
    const keep = new Set<string>();
    const warm = new Map<string, Route>();
    for (const d of all) {
      const p = this.makePlan(d);
      // an unchanged policy keeps its scheduler, shadow shares and breakers: a refresh for some other
      // change neither restarts the split's cycle nor closes an open breaker
      const old = this.plans.get(d.name);
      if (old && old.shape === p.shape) {
        p.scheduler = old.scheduler;
        p.breakers = old.breakers;
        p.shadows.forEach((s, i) => (s.share = old.shadows[i]!.share));
      }
      next.set(d.name, p);
      const target = p.arms[0]!;
      this.opts.manager.reconfigure(target.key, target.id, target.batching);
      if (this.opts.preload === false) continue;
      if ((d.overrides.minLoaded ?? this.opts.lifecycle.minLoaded) > 0) {
        keep.add(target.key);
        warm.set(target.key, target);
      }
      // a policy's other versions are part of serving it: loaded before they get traffic, kept loaded
      const extra = [...p.arms.slice(1), ...p.shadows.map((s) => s.route), ...(p.preview ? [p.preview] : [])];
      if (p.fallback && d.traffic?.fallbackWarm) extra.push(p.fallback);
      for (const r of extra) {
        keep.add(r.key);
        warm.set(r.key, r);
      }
    }
    // load what the new plans need before they take traffic (a failed load leaves the breaker to act)
    await Promise.all(
      [...warm.values()].map((r) =>
        this.opts.manager.load(r.version).catch((err: unknown) => {
          this.logger.error('loading a version of a deployment failed', { deployment: r.deployment.name, version: r.version.version, error: toBerthError(err).message });
        }),
      ),
    );
    this.plans.clear();
    for (const [k, p] of next) this.plans.set(k, p);
    this.versionRoutes.clear();
    this.opts.manager.setKeepWarm(keep);
    const idle = new Map<string, number>();
    for (const p of this.plans.values()) {
      const r = p.arms[0]!;
      const ms = r.deployment.overrides.idleUnloadMs;
      // a version shared by several deployments stays as long as the most patient one wants
      if (ms !== undefined) idle.set(r.key, ms === 0 || idle.get(r.key) === 0 ? 0 : Math.max(ms, idle.get(r.key) ?? 0));
    }
    this.opts.manager.setIdleOverrides(idle);
    const now = keysOf(this.plans.values());
    for (const key of before) if (!now.has(key)) this.opts.manager.retire(key);
  }

  /**
   * Run one request through a deployment: the version its policy picks answers; `version` pins one
   * version of its model; `preview` asks the preview (blue-green) version.
   */
  async infer(deployment: string, req: InferenceRequest, opts: { version?: number; preview?: boolean } = {}): Promise<InferenceResponse> {
    const t0 = this.clock.monotonic();
    let route: Route | undefined;
    let entry: LoadedEntry | undefined;
    let plan: Plan | undefined;
    let arm = -1;
    let role: RequestRole = 'primary';
    try {
      if (opts.version !== undefined) {
        route = await this.route(deployment, opts.version);
      } else {
        plan = this.plans.get(deployment) ?? (await this.plan(deployment));
        if (opts.preview) {
          role = 'preview';
          route = plan.preview ?? undefined;
          if (!route) {
            throw new BerthError('NOT_FOUND', `deployment "${deployment}" has no preview version; start a blue-green rollout (berth rollout start ${deployment} --strategy blue-green --to-version N) or set traffic.preview`, {
              field: 'preview',
            });
          }
        } else if (plan.single) {
          route = plan.single;
        } else {
          arm = this.pick(plan, req);
          if (plan.breakers?.[arm]!.open) {
            // its breaker is open: a split arm's share goes to the target, the target's to the
            // fallback (whose outcomes no breaker of this plan counts)
            if (arm > 0) arm = 0;
            else if (plan.fallback) arm = -1;
          }
          route = arm >= 0 ? plan.arms[arm]! : plan.fallback!;
        }
      }
      const sig = route.version.signature;
      const inputs = validateInputs(sig, req.inputs);
      const outputNames = req.outputs && req.outputs.length > 0 ? selectOutputs(route, req.outputs) : undefined;
      const timeout = requestTimeout(req.parameters, route.batching.timeoutMs);
      const deadline = t0 + timeout;
      const tValidated = this.clock.monotonic();
      entry = this.opts.manager.tryAcquire(route.key) ?? (await this.opts.manager.acquire(route.version, deadline));
      const tAcquired = this.clock.monotonic();
      const result = await this.opts.manager.batcherFor(entry, route.id, route.batching).submit(inputs, outputNames, deadline, req.signal);
      const totalMs = this.clock.monotonic() - t0;
      const timing: InferenceTiming = {
        queueMs: tAcquired - tValidated + result.queueMs,
        inferMs: result.inferMs,
        inputMs: tValidated - t0 + result.inputMs,
        outputMs: result.outputMs,
        totalMs,
        batchRows: result.batchRows,
        rows: result.rows,
      };
      const observer = this.opts.observer;
      observer?.onRequest?.(deployment, route.version.model, route.version.version, 'OK', timing, totalMs);
      if (arm >= 0 && plan?.breakers) this.recordOutcome(plan, arm, false);
      const requestId = req.id ?? this.nextRequestId();
      const shadows = plan !== undefined && role === 'primary' && plan.shadows.length > 0 ? plan.shadows.filter((s) => s.share.take()) : null;
      if (observer?.onInference || (shadows && shadows.length > 0)) {
        const record: InferenceRecord = {
          deployment: route.deployment.name,
          model: route.version.model,
          version: route.version.version,
          managed: route.version,
          requestId,
          inputs,
          outputs: result.outputs,
          rows: rowsOf(inputs),
          latencyMs: totalMs,
          timestampMs: this.clock.now(),
          role,
        };
        if (req.principal !== undefined) record.principal = req.principal;
        observer?.onInference?.(record);
        // the copy runs after this answer is on its way: the caller never waits for a shadow
        if (shadows && shadows.length > 0) this.queueShadows(shadows, record, req);
      }
      const res: InferenceResponse = {
        modelName: deployment,
        model: route.version.model,
        modelVersion: String(route.version.version),
        requestId,
        outputs: result.outputs,
        timing,
        route,
        answeredBy: route.key,
      };
      if (req.id !== undefined) res.id = req.id;
      return res;
    } catch (err) {
      const e = toBerthError(err);
      const totalMs = this.clock.monotonic() - t0;
      const observer = this.opts.observer;
      observer?.onRequest?.(deployment, route?.version.model ?? '', route?.version.version ?? 0, e.code, null, totalMs);
      const versionFailure = isVersionFailure(e.code, e.context);
      if (arm >= 0 && plan?.breakers && route !== undefined) this.recordOutcome(plan, arm, versionFailure);
      if (route !== undefined && observer?.onFailure) {
        const field = e.context.field;
        observer.onFailure({
          deployment: route.deployment.name,
          model: route.version.model,
          version: route.version.version,
          managed: route.version,
          requestId: req.id ?? this.nextRequestId(),
          code: e.code,
          field: typeof field === 'string' ? field : null,
          versionFailure,
          latencyMs: totalMs,
          timestampMs: this.clock.now(),
          role,
        });
      }
      throw e;
    } finally {
      if (entry) this.opts.manager.release(entry);
    }
  }

  /** The arm for this request: its sticky key's arm, else the scheduler's next. */
  private pick(plan: Plan, req: InferenceRequest): number {
    if (plan.sticky) {
      const key = readStickyKey(plan.sticky, req);
      if (key !== undefined) return stickyArm(key, plan.cumulative);
    }
    return plan.scheduler ? plan.scheduler.next() : 0;
  }

  private recordOutcome(plan: Plan, arm: number, failed: boolean): void {
    const trip = plan.breakers![arm]!.record(failed, this.clock.monotonic());
    if (!trip) return;
    const r = plan.arms[arm]!;
    const to = arm > 0 ? plan.arms[0]!.version.version : (plan.fallback?.version.version ?? null);
    this.logger.warn('circuit breaker opened', { deployment: r.deployment.name, version: r.version.version, to, failures: trip.failures, requests: trip.requests });
    if (to === null) plan.breakers![arm]!.open = false; // nowhere to go: keep serving, keep counting
    this.opts.observer?.onBreaker?.({
      ...trip,
      deployment: r.deployment.name,
      model: r.version.model,
      version: r.version.version,
      to,
      target: arm === 0,
      timestampMs: this.clock.now(),
    });
  }

  /**
   * Run inputs on one version through its own queue, outside every policy, observer and log: how
   * gates measure a candidate on the path it will serve on.
   */
  async probe(v: ManagedVersion, inputs: Tensor[], batching?: Partial<BatchingConfig>): Promise<Tensor[]> {
    const deadline = this.clock.monotonic() + (batching?.timeoutMs ?? this.opts.batching.timeoutMs);
    const entry = this.opts.manager.tryAcquire(versionKey(v.model, v.version)) ?? (await this.opts.manager.acquire(v, deadline));
    try {
      const b = this.opts.manager.batcherFor(entry, `${v.model}@${v.version}#probe`, { ...this.opts.batching, ...batching });
      return (await b.submit(validateInputs(v.signature, inputs), undefined, deadline)).outputs;
    } finally {
      this.opts.manager.release(entry);
    }
  }

  private shadowQueue: { shadows: Plan['shadows']; primary: InferenceRecord; req: InferenceRequest }[] = [];

  /** Queue an answered request's copies; one setImmediate per event-loop turn sends them all. */
  private queueShadows(shadows: Plan['shadows'], primary: InferenceRecord, req: InferenceRequest): void {
    if (this.shadowQueue.push({ shadows, primary, req }) > 1) return;
    setImmediate(() => {
      const jobs = this.shadowQueue;
      this.shadowQueue = [];
      for (const j of jobs) for (const s of j.shadows) void this.runShadow(s, j.primary, j.req);
    });
  }

  private async runShadow(s: Plan['shadows'][number], primary: InferenceRecord, req: InferenceRequest): Promise<void> {
    const t0 = this.clock.monotonic();
    const route = s.route;
    const report = (code: string, shadow: InferenceRecord | null): void => {
      if (code !== 'OK') this.shadowDrops.set(primary.deployment, (this.shadowDrops.get(primary.deployment) ?? 0) + 1);
      this.opts.observer?.onShadow?.({ deployment: primary.deployment, primary, shadow, code, shadowVersion: route.version.version, latencyMs: this.clock.monotonic() - t0 });
    };
    const entry = this.opts.manager.tryAcquire(route.key);
    if (!entry) {
      // not loaded (evicted, failed): drop this copy and load it for the next ones
      void this.opts.manager.load(route.version).catch(() => undefined);
      return report('MODEL_UNAVAILABLE', null);
    }
    try {
      const inputs = s.sameSignature ? primary.inputs : validateInputs(route.version.signature, req.inputs);
      // no deadline timer per copy: the shadow's bounded queue drops copies when it falls behind
      const result = await this.opts.manager.batcherFor(entry, route.id, route.batching).submit(inputs, undefined, Infinity);
      const latencyMs = this.clock.monotonic() - t0;
      report('OK', {
        deployment: primary.deployment,
        model: route.version.model,
        version: route.version.version,
        managed: route.version,
        requestId: primary.requestId,
        inputs,
        outputs: result.outputs,
        rows: primary.rows,
        latencyMs,
        timestampMs: this.clock.now(),
        role: 'shadow',
      });
    } catch (err) {
      report(toBerthError(err).code, null);
    } finally {
      this.opts.manager.release(entry);
    }
  }

  /** A fresh request id for callers that did not send one. */
  static newRequestId(): string {
    return randomUUID();
  }

  /** Unique across processes (a random prefix per service) and cheap: no entropy per request. */
  private nextRequestId(): string {
    this.idCounter++;
    return `${this.idPrefix}-${this.idCounter.toString(36)}`;
  }
}

function rowsOf(inputs: readonly Tensor[]): number {
  const s = inputs[0]?.shape;
  return s === undefined || s.length === 0 ? 1 : s[0]!;
}

function selectOutputs(route: Route, wanted: readonly { name: string }[]): string[] {
  const names: string[] = [];
  for (const o of wanted) {
    if (!route.version.signature.outputs.some((s) => s.name === o.name)) {
      throw new BerthError(
        'INVALID_INPUT',
        `requested output "${o.name}" does not exist: the model's outputs are ${route.version.signature.outputs.map((s) => `"${s.name}"`).join(', ')}`,
        { field: 'outputs', expected: route.version.signature.outputs.map((s) => s.name), got: o.name },
      );
    }
    names.push(o.name);
  }
  return names;
}

function requestTimeout(params: Record<string, unknown> | undefined, fallback: number): number {
  const v = params?.['timeout_ms'];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new BerthError('INVALID_ARGUMENT', `parameters.timeout_ms: expected a positive number of milliseconds, got ${JSON.stringify(v)}`, {
      field: 'parameters.timeout_ms',
      expected: 'positive number',
      got: v,
    });
  }
  return Math.min(v, fallback * 10);
}

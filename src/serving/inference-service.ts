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
import type { DeploymentSettings } from '../registry/index.js';
import { versionKey, type LoadedEntry, type ManagedVersion, type ModelManager } from './model-manager.js';
import { validateInputs } from './validate.js';

/** Per-deployment overrides of the server's batching and lifecycle defaults (the registry's settings). */
export type DeploymentOverrides = DeploymentSettings;

/** A deployment resolved to the version it serves now. */
export interface ResolvedDeployment {
  name: string;
  model: string;
  revision: number;
  version: ManagedVersion;
  overrides: DeploymentOverrides;
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
  inputs: Tensor[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
  parameters?: Record<string, unknown>;
}

export interface InferenceTiming {
  queueMs: number;
  inferMs: number;
  totalMs: number;
  batchRows: number;
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
  latencyMs: number;
  timestampMs: number;
}

/** What the service tells monitoring about each request. */
export interface InferenceObserver {
  /** every failed request whose deployment resolved (data quality counts refusals) */
  onFailure?(record: FailureRecord): void;
  onRequest?(deployment: string, model: string, version: number, code: string, timing: InferenceTiming | null, totalMs: number): void;
  /** every successful request, after its answer is computed; must not block (copy, then defer) */
  onInference?(record: InferenceRecord): void;
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
}

/**
 * The data plane: `infer(deployment, request)` routes to the version the deployment serves,
 * validates the inputs against its signature, queues them on that version's batcher and returns
 * the outputs. It knows nothing of HTTP; REST, the friendly endpoint, gRPC and batch jobs all call it.
 */
export class InferenceService {
  private readonly routes = new Map<string, Route>();
  private readonly versionRoutes = new Map<string, Route>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly idPrefix = randomUUID().slice(0, 13);
  private idCounter = 0;

  constructor(private readonly opts: InferenceServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
  }

  get manager(): ModelManager {
    return this.opts.manager;
  }

  /** The route of a deployment (cached until `refresh`). */
  async route(deployment: string, version?: number): Promise<Route> {
    if (version === undefined) {
      const cached = this.routes.get(deployment);
      if (cached) return cached;
      const resolved = await this.opts.source.resolveDeployment(deployment);
      const r = this.makeRoute(deployment, resolved, resolved.version);
      this.routes.set(deployment, r);
      return r;
    }
    const vkey = `${deployment}\u0000${version}`;
    const cached = this.versionRoutes.get(vkey);
    if (cached) return cached;
    const base = await this.route(deployment);
    const v = version === base.version.version ? base.version : await this.opts.source.resolveVersion(base.deployment.model, version);
    const r = this.makeRoute(`${deployment}@${version}`, base.deployment, v);
    this.versionRoutes.set(vkey, r);
    return r;
  }

  private makeRoute(id: string, d: ResolvedDeployment, v: ManagedVersion): Route {
    const o = d.overrides;
    const card = v.card?.serving ?? {};
    const b = this.opts.batching;
    const batching: BatchingConfig = {
      maxBatchSize: o.maxBatchSize ?? card.maxBatchSize ?? b.maxBatchSize,
      maxQueueDelayMs: o.maxQueueDelayMs ?? card.maxQueueDelayMs ?? b.maxQueueDelayMs,
      maxQueueSize: o.maxQueueSize ?? card.maxQueueSize ?? b.maxQueueSize,
      timeoutMs: o.timeoutMs ?? card.timeoutMs ?? b.timeoutMs,
    };
    return { id, deployment: d, version: v, key: versionKey(v.model, v.version), batching };
  }

  /**
   * Re-resolve every deployment (after an alias or deployment change). Versions no deployment
   * serves any more drain and unload; keep-warm versions load.
   */
  async refresh(): Promise<void> {
    const all = await this.opts.source.listDeployments();
    const before = new Set([...this.routes.values()].map((r) => r.key));
    this.routes.clear();
    this.versionRoutes.clear();
    const keep: string[] = [];
    const warm: Route[] = [];
    for (const d of all) {
      const r = this.makeRoute(d.name, d, d.version);
      this.routes.set(d.name, r);
      this.opts.manager.reconfigure(r.key, r.id, r.batching);
      if ((d.overrides.minLoaded ?? this.opts.lifecycle.minLoaded) > 0) {
        keep.push(r.key);
        warm.push(r);
      }
    }
    this.opts.manager.setKeepWarm(keep);
    const idle = new Map<string, number>();
    for (const r of this.routes.values()) {
      const ms = r.deployment.overrides.idleUnloadMs;
      // a version shared by several deployments stays as long as the most patient one wants
      if (ms !== undefined) idle.set(r.key, ms === 0 || idle.get(r.key) === 0 ? 0 : Math.max(ms, idle.get(r.key) ?? 0));
    }
    this.opts.manager.setIdleOverrides(idle);
    const now = new Set([...this.routes.values()].map((r) => r.key));
    for (const key of before) if (!now.has(key)) this.opts.manager.retire(key);
    await Promise.all(
      warm.map((r) =>
        this.opts.manager.load(r.version).catch((err: unknown) => {
          this.logger.error('keep-warm load failed', { deployment: r.deployment.name, error: toBerthError(err).message });
        }),
      ),
    );
  }

  /** Run one request through a deployment (or one of its model's versions). */
  async infer(deployment: string, req: InferenceRequest, opts: { version?: number } = {}): Promise<InferenceResponse> {
    const t0 = this.clock.monotonic();
    let route: Route | undefined;
    let entry: LoadedEntry | undefined;
    try {
      route = opts.version === undefined ? (this.routes.get(deployment) ?? (await this.route(deployment))) : await this.route(deployment, opts.version);
      const sig = route.version.signature;
      const inputs = validateInputs(sig, req.inputs);
      const outputNames = req.outputs && req.outputs.length > 0 ? selectOutputs(route, req.outputs) : undefined;
      const timeout = requestTimeout(req.parameters, route.batching.timeoutMs);
      const deadline = t0 + timeout;
      entry = this.opts.manager.tryAcquire(route.key) ?? (await this.opts.manager.acquire(route.version, deadline));
      const result = await this.opts.manager.batcherFor(entry, route.id, route.batching).submit(inputs, outputNames, deadline);
      const totalMs = this.clock.monotonic() - t0;
      const timing: InferenceTiming = { queueMs: result.queueMs, inferMs: result.inferMs, totalMs, batchRows: result.batchRows };
      const observer = this.opts.observer;
      observer?.onRequest?.(deployment, route.version.model, route.version.version, 'OK', timing, totalMs);
      const requestId = req.id ?? this.nextRequestId();
      if (observer?.onInference) {
        observer.onInference({
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
        });
      }
      const res: InferenceResponse = {
        modelName: deployment,
        model: route.version.model,
        modelVersion: String(route.version.version),
        requestId,
        outputs: result.outputs,
        timing,
        route,
      };
      if (req.id !== undefined) res.id = req.id;
      return res;
    } catch (err) {
      const e = toBerthError(err);
      const totalMs = this.clock.monotonic() - t0;
      const observer = this.opts.observer;
      observer?.onRequest?.(deployment, route?.version.model ?? '', route?.version.version ?? 0, e.code, null, totalMs);
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
          latencyMs: totalMs,
          timestampMs: this.clock.now(),
        });
      }
      throw e;
    } finally {
      if (entry) this.opts.manager.release(entry);
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

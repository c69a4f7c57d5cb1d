import { DynamicBatcher, type BatchObserver } from '../batching/index.js';
import {
  BerthError,
  allocateData,
  systemClock,
  toBerthError,
  silentLogger,
  type BatchingConfig,
  type Clock,
  type LifecycleConfig,
  type Logger,
  type ModelCard,
  type RuntimeConfig,
  type Signature,
  type Tensor,
  type TimerHandle,
} from '../core/index.js';
import type { Backend, LoadedModel } from '../runtime/index.js';

/** One model version as the manager needs it. */
export interface ManagedVersion {
  model: string;
  version: number;
  sha256: string;
  sizeBytes: number;
  /** the signature merged with the card */
  signature: Signature;
  card?: ModelCard;
}

export const MODEL_STATES = ['loading', 'warming', 'ready', 'unloading', 'failed'] as const;
export type ModelState = (typeof MODEL_STATES)[number];

/** A version's presence in memory. */
export interface LoadedEntry {
  readonly key: string;
  readonly version: ManagedVersion;
  state: ModelState;
  /** measured resident memory of the loaded model, bytes */
  memoryBytes: number;
  loadedAt: number;
  lastUsed: number;
  loadMs: number;
  /** requests holding this entry right now */
  inflight: number;
  /** where the runtime runs this model: the event loop's thread or a worker thread */
  thread: 'main' | 'worker';
  /** median warm-up run time at batch 1, ms (null when no warm-up ran) */
  warmRunMs: number | null;
  error?: BerthError;
  /** one queue per route (deployment), all feeding the same loaded model */
  batchers: Map<string, DynamicBatcher>;
  model?: LoadedModel;
  ready: Promise<void>;
}

/** Snapshot of one entry for status pages, metadata and metrics. */
export interface LoadedModelInfo {
  model: string;
  version: number;
  state: ModelState;
  memoryBytes: number;
  loadedAt: number;
  lastUsed: number;
  loadMs: number;
  inflight: number;
  queueDepth: number;
  thread: 'main' | 'worker';
  warmRunMs: number | null;
  error?: string;
}

export interface ModelManagerObserver extends BatchObserver {
  onLoad?(model: string, version: number, loadMs: number, memoryBytes: number): void;
  onUnload?(model: string, version: number, reason: string): void;
  onBatchFor?(model: string, version: number, rows: number, requests: number, inferMs: number, ok: boolean): void;
}

export interface ModelManagerOptions {
  backend: Backend;
  /** bytes of the artifact, verified against its sha256 */
  readArtifact: (sha256: string) => Promise<Uint8Array>;
  /**
   * Checked before every load (defence in depth behind the deploy check): throws to refuse the
   * version, e.g. ARTIFACT_UNTRUSTED when signatures are required and it has no valid one.
   */
  verifyArtifact?: (version: ManagedVersion) => Promise<void>;
  lifecycle: LifecycleConfig;
  runtime: RuntimeConfig;
  clock?: Clock;
  logger?: Logger;
  observer?: ModelManagerObserver;
}

export function versionKey(model: string, version: number): string {
  return `${model}@${version}`;
}

/**
 * Loads, warms, shares and unloads model versions: lazy load on first use (callers wait, bounded by
 * their deadline), warm-up runs, an idle timeout (scale to zero) with keep-warm pins, and a memory
 * budget enforced by evicting the least recently used idle models.
 */
export class ModelManager {
  private readonly entries = new Map<string, LoadedEntry>();
  private readonly keepWarm = new Set<string>();
  private idleOverrides = new Map<string, number>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private loadChain: Promise<unknown> = Promise.resolve();
  private idleTimer: TimerHandle | null = null;
  private lifecycle: LifecycleConfig;
  /** how many loads happened because a request found its model cold */
  coldStarts = 0;

  constructor(private readonly opts: ModelManagerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.lifecycle = opts.lifecycle;
    this.armIdleSweep();
  }

  /** The entry if it is loaded and ready, counted as in use; the hot path's synchronous lookup. */
  tryAcquire(key: string): LoadedEntry | undefined {
    const e = this.entries.get(key);
    if (e && e.state === 'ready') {
      e.inflight++;
      e.lastUsed = this.clock.now();
      return e;
    }
    return undefined;
  }

  /**
   * The ready entry for `v`, loading it if needed. Waits at most until `deadline` (monotonic ms).
   * The caller must `release` it when its request is done.
   */
  async acquire(v: ManagedVersion, deadline: number): Promise<LoadedEntry> {
    const key = versionKey(v.model, v.version);
    for (;;) {
      const fast = this.tryAcquire(key);
      if (fast) return fast;
      let e = this.entries.get(key);
      if (!e || e.state === 'failed') {
        this.coldStarts++;
        e = this.startLoad(v);
      }
      if (e.state === 'unloading') {
        await waitUntil(e.ready.catch(() => undefined), deadline, this.clock, key);
        continue;
      }
      await waitUntil(e.ready, deadline, this.clock, key);
    }
  }

  release(e: LoadedEntry): void {
    e.inflight--;
    e.lastUsed = this.clock.now();
    if (e.inflight === 0 && this.retiring.has(e.key)) void this.unload(e.key, 'retired');
  }

  /** Load now (repository API, keep-warm). Resolves when ready. */
  async load(v: ManagedVersion): Promise<LoadedEntry> {
    return this.acquire(v, this.clock.monotonic() + 10 * 60_000).then((e) => {
      this.release(e);
      return e;
    });
  }

  /**
   * The queue of one route (a deployment, or a deployment's version path) on a ready entry,
   * created on first use. Routes sharing a version share the loaded model, not the queue, so each
   * deployment keeps its own batching settings.
   */
  batcherFor(entry: LoadedEntry, routeId: string, batching: BatchingConfig): DynamicBatcher {
    let b = entry.batchers.get(routeId);
    if (b) return b;
    const model = entry.model;
    if (!model) throw new BerthError('MODEL_UNAVAILABLE', `model ${entry.key} is not loaded; retry`, { retryAfterSeconds: 1 });
    const v = entry.version;
    const observer = this.opts.observer;
    b = new DynamicBatcher({
      run: (inputs, outputs) => model.run(inputs, outputs),
      config: batching,
      batchable: v.signature.batchable,
      // a worker-thread model gets its next batch while computing this one, so it never waits
      // for the main thread between batches
      maxInflight: entry.thread === 'worker' ? 2 : 1,
      clock: this.clock,
      observer: observer?.onBatchFor
        ? { onBatch: (rows, reqs, ms, ok) => observer.onBatchFor!(v.model, v.version, rows, reqs, ms, ok) }
        : {},
    });
    entry.batchers.set(routeId, b);
    return b;
  }

  /** Change the batching settings of one route's queue in place. */
  reconfigure(key: string, routeId: string, batching: BatchingConfig): void {
    this.entries.get(key)?.batchers.get(routeId)?.reconfigure(batching);
  }

  private readonly retiring = new Set<string>();

  /** Unload `key` once its in-flight requests are done (a deployment moved off it). */
  retire(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    if (e.inflight === 0 && queuedRows(e) === 0) void this.unload(key, 'retired');
    else this.retiring.add(key);
  }

  /** Versions that must stay loaded regardless of idleness (`min_loaded`). */
  setKeepWarm(keys: Iterable<string>): void {
    this.keepWarm.clear();
    for (const k of keys) {
      this.keepWarm.add(k);
      this.retiring.delete(k);
    }
  }

  /** Per-version idle timeouts from deployment settings (ms; 0 = never), over the server default. */
  setIdleOverrides(overrides: Map<string, number>): void {
    this.idleOverrides = overrides;
    this.armIdleSweep();
  }

  /** Unload a version: new requests wait for a reload, queued ones finish first. */
  async unload(key: string, reason = 'requested'): Promise<boolean> {
    const e = this.entries.get(key);
    if (!e) return false;
    if (e.state === 'unloading') {
      await e.ready.catch(() => undefined);
      return true;
    }
    if (e.state === 'loading' || e.state === 'warming') await e.ready.catch(() => undefined);
    this.retiring.delete(key);
    e.state = 'unloading';
    const done = (async () => {
      try {
        await Promise.all([...e.batchers.values()].map((b) => b.close()));
        await e.model?.dispose();
      } finally {
        e.batchers.clear();
        e.model = undefined;
        if (this.entries.get(key) === e) this.entries.delete(key);
        this.opts.observer?.onUnload?.(e.version.model, e.version.version, reason);
        this.logger.info('model unloaded', { model: e.version.model, version: e.version.version, reason });
      }
    })();
    e.ready = done;
    await done;
    return true;
  }

  /** Everything loaded or loading. */
  list(): LoadedModelInfo[] {
    return [...this.entries.values()].map((e) => this.info(e));
  }

  get(key: string): LoadedModelInfo | undefined {
    const e = this.entries.get(key);
    return e ? this.info(e) : undefined;
  }

  stateOf(key: string): ModelState | 'unloaded' {
    return this.entries.get(key)?.state ?? 'unloaded';
  }

  totalMemoryBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.memoryBytes;
    return n;
  }

  setLifecycle(l: LifecycleConfig): void {
    this.lifecycle = l;
    this.armIdleSweep();
  }

  /** Unload everything (shutdown). */
  async close(): Promise<void> {
    if (this.idleTimer) this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    await Promise.all([...this.entries.keys()].map((k) => this.unload(k, 'shutdown')));
  }

  /** Unload models idle longer than the idle timeout; runs on a timer, callable from tests. */
  async sweepIdle(): Promise<void> {
    const now = this.clock.now();
    const jobs: Promise<boolean>[] = [];
    for (const e of this.entries.values()) {
      const limit = this.idleOverrides.get(e.key) ?? this.lifecycle.idleUnloadMs;
      if (limit <= 0) continue;
      if (e.state !== 'ready' || e.inflight > 0 || this.keepWarm.has(e.key)) continue;
      if (queuedRows(e) > 0 || [...e.batchers.values()].some((b) => b.running > 0)) continue;
      if (now - e.lastUsed >= limit) jobs.push(this.unload(e.key, 'idle'));
    }
    await Promise.all(jobs);
  }

  private armIdleSweep(): void {
    if (this.idleTimer) this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const limits = [this.lifecycle.idleUnloadMs, ...this.idleOverrides.values()].filter((l) => l > 0);
    if (limits.length === 0) return;
    const limit = Math.min(...limits);
    const every = Math.max(10, Math.min(1000, Math.floor(limit / 4)));
    const tick = (): void => {
      void this.sweepIdle().finally(() => {
        if (this.idleTimer) this.idleTimer = this.clock.setTimeout(tick, every);
      });
    };
    this.idleTimer = this.clock.setTimeout(tick, every);
  }

  private info(e: LoadedEntry): LoadedModelInfo {
    return {
      model: e.version.model,
      version: e.version.version,
      state: e.state,
      memoryBytes: e.memoryBytes,
      loadedAt: e.loadedAt,
      lastUsed: e.lastUsed,
      loadMs: e.loadMs,
      inflight: e.inflight,
      queueDepth: queuedRows(e),
      thread: e.thread,
      warmRunMs: e.warmRunMs,
      ...(e.error ? { error: e.error.message } : {}),
    };
  }

  private startLoad(v: ManagedVersion): LoadedEntry {
    const key = versionKey(v.model, v.version);
    const entry: LoadedEntry = {
      key,
      version: v,
      state: 'loading',
      memoryBytes: 0,
      loadedAt: 0,
      lastUsed: this.clock.now(),
      loadMs: 0,
      inflight: 0,
      thread: 'main',
      warmRunMs: null,
      batchers: new Map(),
      ready: Promise.resolve(),
    };
    this.entries.set(key, entry);
    // Loads run one at a time so that each model's memory can be measured as an RSS delta.
    const run = this.loadChain.then(() => this.doLoad(entry));
    this.loadChain = run.catch(() => undefined);
    entry.ready = run;
    entry.ready.catch(() => undefined);
    return entry;
  }

  private async doLoad(entry: LoadedEntry): Promise<void> {
    const v = entry.version;
    const started = this.clock.monotonic();
    try {
      await this.opts.verifyArtifact?.(v);
      const bytes = await this.opts.readArtifact(v.sha256);
      await this.makeRoom(v.sizeBytes, entry.key);
      const rssBefore = process.memoryUsage.rss();
      const rt = this.opts.runtime;
      const load = (worker: boolean): Promise<LoadedModel> =>
        this.opts.backend.load(bytes, { intraOpThreads: rt.intraOpThreads, interOpThreads: rt.interOpThreads, worker });
      let model = await load(rt.thread === 'worker');
      entry.thread = rt.thread === 'worker' ? 'worker' : 'main';
      if (entry.state === 'unloading') {
        await model.dispose();
        return;
      }
      entry.model = model;
      entry.state = 'warming';
      const auto = rt.thread === 'auto';
      entry.warmRunMs = await this.warmUp(v.signature, model, auto ? Math.max(5, this.lifecycle.warmupRuns) : this.lifecycle.warmupRuns);
      if (auto && entry.warmRunMs !== null && entry.warmRunMs >= rt.workerThresholdMs) {
        // heavy enough that running it on the event loop would stall HTTP: give it a thread
        const moved = await load(true);
        await model.dispose();
        model = moved;
        entry.model = moved;
        entry.thread = 'worker';
        await this.warmUp(v.signature, moved, Math.min(2, this.lifecycle.warmupRuns));
      }
      const rssAfter = process.memoryUsage.rss();
      entry.memoryBytes = Math.max(rssAfter - rssBefore, v.sizeBytes);
      entry.loadMs = this.clock.monotonic() - started;
      entry.loadedAt = this.clock.now();
      entry.lastUsed = entry.loadedAt;
      entry.state = 'ready';
      this.opts.observer?.onLoad?.(v.model, v.version, entry.loadMs, entry.memoryBytes);
      this.logger.info('model loaded', { model: v.model, version: v.version, loadMs: Math.round(entry.loadMs), memoryBytes: entry.memoryBytes });
      const budget = this.lifecycle.memoryBudgetBytes;
      if (budget > 0 && entry.memoryBytes > budget) throw tooBigForBudget(entry.key, entry.memoryBytes, budget);
      // a budget overshoot (measured memory above the estimate) evicts others now
      await this.makeRoom(0, entry.key);
    } catch (err) {
      const e = toBerthError(err);
      entry.state = 'failed';
      entry.error = e;
      if (entry.model) await entry.model.dispose().catch(() => undefined);
      entry.model = undefined;
      this.logger.error('model load failed', { model: v.model, version: v.version, code: e.code, error: e.message });
      throw e;
    }
  }

  /** Evict least recently used idle models until `incoming` more bytes fit the budget. */
  private async makeRoom(incoming: number, except: string): Promise<void> {
    const budget = this.lifecycle.memoryBudgetBytes;
    if (budget <= 0) return;
    if (incoming > budget) throw tooBigForBudget(except, incoming, budget);
    const others = (): number => {
      let n = 0;
      for (const e of this.entries.values()) if (e.key !== except) n += e.memoryBytes;
      return n;
    };
    const self = this.entries.get(except)?.memoryBytes ?? 0;
    while (others() + self + incoming > budget) {
      const victims = [...this.entries.values()]
        .filter((e) => e.key !== except && e.state === 'ready' && e.inflight === 0 && !this.keepWarm.has(e.key))
        .sort((a, b) => a.lastUsed - b.lastUsed);
      const victim = victims[0];
      if (!victim) {
        if (incoming === 0) return; // already loaded: over budget only because of pinned or busy models
        throw new BerthError(
          'MEMORY_BUDGET_EXCEEDED',
          `loading ${except} needs about ${formatBytes(incoming)} but the memory budget (${formatBytes(budget)}) is held by models that are busy or kept warm; retry later, unload a model, or raise lifecycle.memoryBudgetBytes (berth serve --memory-budget)`,
          { retryAfterSeconds: 5 },
        );
      }
      await this.unload(victim.key, 'evicted');
    }
  }

  /** Run `runs` warm-up inferences at batch 1; returns the median run time in ms. */
  private async warmUp(sig: Signature, model: LoadedModel, runs: number): Promise<number | null> {
    if (runs <= 0) return null;
    const inputs: Tensor[] = sig.inputs.map((s) => {
      const shape = s.shape.map((d) => (d < 0 ? 1 : d));
      let n = 1;
      for (const d of shape) n *= d;
      const data = allocateData(s.datatype, n);
      if (s.validRange && s.validRange[0] > 0 && !Array.isArray(data)) {
        const lo = s.validRange[0];
        (data as Float32Array).fill((typeof data[0] === 'bigint' ? BigInt(lo) : lo) as number);
      }
      if (Array.isArray(data) && s.vocabulary?.[0]) data.fill(s.vocabulary[0]);
      return { name: s.name, datatype: s.datatype, shape, data };
    });
    const times: number[] = [];
    try {
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await model.run(inputs);
        times.push(performance.now() - t0);
      }
    } catch (err) {
      this.logger.warn('warm-up run failed; serving anyway', { error: err instanceof Error ? err.message : String(err) });
      return null;
    }
    // the first run pays one-off allocations; the median of the rest is the model's cost
    const rest = times.length > 1 ? times.slice(1) : times;
    rest.sort((a, b) => a - b);
    return rest[rest.length >> 1] ?? null;
  }
}

async function waitUntil(p: Promise<unknown>, deadline: number, clock: Clock, key: string): Promise<void> {
  const left = deadline - clock.monotonic();
  if (left <= 0) throw loadTimeout(key);
  let timer: TimerHandle | null = null;
  try {
    await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = clock.setTimeout(() => reject(loadTimeout(key)), left);
      }),
    ]);
  } finally {
    if (timer) clock.clearTimeout(timer);
  }
}

function tooBigForBudget(key: string, bytes: number, budget: number): BerthError {
  return new BerthError(
    'MEMORY_BUDGET_EXCEEDED',
    `model ${key} needs ${formatBytes(bytes)} loaded, more than the whole memory budget (${formatBytes(budget)}); raise lifecycle.memoryBudgetBytes (berth serve --memory-budget)`,
    { expected: budget, got: bytes, retryAfterSeconds: 60 },
  );
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
}

function queuedRows(e: LoadedEntry): number {
  let n = 0;
  for (const b of e.batchers.values()) n += b.depth;
  return n;
}

function loadTimeout(key: string): BerthError {
  return new BerthError('DEADLINE_EXCEEDED', `model ${key} is still loading and the request's deadline passed; retry in a moment`, {
    retryAfterSeconds: 1,
  });
}

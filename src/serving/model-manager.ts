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
  error?: BerthError;
  batcher?: DynamicBatcher;
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
  async acquire(v: ManagedVersion, batching: BatchingConfig, deadline: number): Promise<LoadedEntry> {
    const key = versionKey(v.model, v.version);
    for (;;) {
      const fast = this.tryAcquire(key);
      if (fast) return fast;
      let e = this.entries.get(key);
      if (!e || e.state === 'failed') {
        this.coldStarts++;
        e = this.startLoad(v, batching);
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
  async load(v: ManagedVersion, batching: BatchingConfig): Promise<LoadedEntry> {
    return this.acquire(v, batching, this.clock.monotonic() + 10 * 60_000).then((e) => {
      this.release(e);
      return e;
    });
  }

  /** Change batching settings of a loaded version in place. */
  reconfigure(key: string, batching: BatchingConfig): void {
    this.entries.get(key)?.batcher?.reconfigure(batching);
  }

  private readonly retiring = new Set<string>();

  /** Unload `key` once its in-flight requests are done (a deployment moved off it). */
  retire(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    if (e.inflight === 0 && (e.batcher?.depth ?? 0) === 0) void this.unload(key, 'retired');
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
        await e.batcher?.close();
        await e.model?.dispose();
      } finally {
        e.batcher = undefined;
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
    const limit = this.lifecycle.idleUnloadMs;
    if (limit <= 0) return;
    const now = this.clock.now();
    const jobs: Promise<boolean>[] = [];
    for (const e of this.entries.values()) {
      if (e.state !== 'ready' || e.inflight > 0 || this.keepWarm.has(e.key)) continue;
      if ((e.batcher?.depth ?? 0) > 0 || (e.batcher?.running ?? 0) > 0) continue;
      if (now - e.lastUsed >= limit) jobs.push(this.unload(e.key, 'idle'));
    }
    await Promise.all(jobs);
  }

  private armIdleSweep(): void {
    if (this.idleTimer) this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const limit = this.lifecycle.idleUnloadMs;
    if (limit <= 0) return;
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
      queueDepth: e.batcher?.depth ?? 0,
      ...(e.error ? { error: e.error.message } : {}),
    };
  }

  private startLoad(v: ManagedVersion, batching: BatchingConfig): LoadedEntry {
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
      ready: Promise.resolve(),
    };
    this.entries.set(key, entry);
    // Loads run one at a time so that each model's memory can be measured as an RSS delta.
    const run = this.loadChain.then(() => this.doLoad(entry, batching));
    this.loadChain = run.catch(() => undefined);
    entry.ready = run;
    entry.ready.catch(() => undefined);
    return entry;
  }

  private async doLoad(entry: LoadedEntry, batching: BatchingConfig): Promise<void> {
    const v = entry.version;
    const started = this.clock.monotonic();
    try {
      const bytes = await this.opts.readArtifact(v.sha256);
      await this.makeRoom(v.sizeBytes, entry.key);
      const rssBefore = process.memoryUsage.rss();
      const model = await this.opts.backend.load(bytes, {
        intraOpThreads: this.opts.runtime.intraOpThreads,
        interOpThreads: this.opts.runtime.interOpThreads,
      });
      if (entry.state === 'unloading') {
        await model.dispose();
        return;
      }
      entry.model = model;
      entry.state = 'warming';
      await this.warmUp(v.signature, model);
      const rssAfter = process.memoryUsage.rss();
      entry.memoryBytes = Math.max(rssAfter - rssBefore, v.sizeBytes);
      const observer = this.opts.observer;
      entry.batcher = new DynamicBatcher({
        run: (inputs, outputs) => model.run(inputs, outputs),
        config: batching,
        batchable: v.signature.batchable,
        clock: this.clock,
        observer: observer?.onBatchFor
          ? { onBatch: (rows, reqs, ms, ok) => observer.onBatchFor!(v.model, v.version, rows, reqs, ms, ok) }
          : {},
      });
      entry.loadMs = this.clock.monotonic() - started;
      entry.loadedAt = this.clock.now();
      entry.lastUsed = entry.loadedAt;
      entry.state = 'ready';
      this.opts.observer?.onLoad?.(v.model, v.version, entry.loadMs, entry.memoryBytes);
      this.logger.info('model loaded', { model: v.model, version: v.version, loadMs: Math.round(entry.loadMs), memoryBytes: entry.memoryBytes });
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
          `loading needs about ${incoming} bytes but the memory budget (${budget} bytes) is used by models that are busy or kept warm; raise memory_budget_bytes or unload a model`,
          { retryAfterSeconds: 5 },
        );
      }
      await this.unload(victim.key, 'evicted');
    }
  }

  private async warmUp(sig: Signature, model: LoadedModel): Promise<void> {
    const runs = this.lifecycle.warmupRuns;
    if (runs <= 0) return;
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
    try {
      for (let i = 0; i < runs; i++) await model.run(inputs);
    } catch (err) {
      this.logger.warn('warm-up run failed; serving anyway', { error: err instanceof Error ? err.message : String(err) });
    }
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

function loadTimeout(key: string): BerthError {
  return new BerthError('DEADLINE_EXCEEDED', `model ${key} is still loading and the request's deadline passed; retry in a moment`, {
    retryAfterSeconds: 1,
  });
}

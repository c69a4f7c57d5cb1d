import {
  BerthError,
  allocateData,
  systemClock,
  toBerthError,
  type BatchingConfig,
  type Clock,
  type NumericArray,
  type Tensor,
  type TimerHandle,
} from '../core/index.js';

/** Runs one (possibly concatenated) batch through the runtime. */
export type BatchRunner = (inputs: Tensor[], outputNames: readonly string[] | undefined) => Promise<Tensor[]>;

/** What the batcher tells its observer about each runtime call. */
export interface BatchObserver {
  onBatch?(rows: number, requests: number, inferMs: number, ok: boolean): void;
}

export interface DynamicBatcherOptions {
  run: BatchRunner;
  config: BatchingConfig;
  /** false for models whose first dimension is not a dynamic batch dimension: every request runs alone */
  batchable: boolean;
  /** most runtime calls in flight at once (model instances); default 1 */
  maxInflight?: number;
  clock?: Clock;
  observer?: BatchObserver;
}

/** Timings of one request through the batcher. */
export interface BatchResult {
  outputs: Tensor[];
  /** waiting for its batch to start */
  queueMs: number;
  /** the runtime call */
  inferMs: number;
  /** joining the batch's inputs (0 for a batch of one) */
  inputMs: number;
  /** cutting this request's rows out of the batch's outputs (0 for a batch of one) */
  outputMs: number;
  /** rows in the runtime call that answered this request */
  batchRows: number;
  /** rows of this request */
  rows: number;
}

interface Item {
  inputs: Tensor[];
  outputNames: readonly string[] | undefined;
  outputKey: string;
  shapeKey: string;
  rows: number;
  enqueuedAt: number;
  deadline: number;
  timer: TimerHandle | null;
  /** the caller's cancellation, listened to while the item is queued */
  signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
  settled: boolean;
  resolve: (r: BatchResult) => void;
  reject: (e: BerthError) => void;
}

/**
 * Coalesces concurrent requests to one model into single runtime calls.
 *
 * Dispatch is eager: when a runtime slot is free the queued rows go at once (up to
 * `maxBatchSize`), so a lone request never waits; while the runtime is busy, arrivals pile up and
 * form the next batch. `maxQueueDelayMs > 0` makes a free slot wait that long for a fuller batch.
 * The queue is bounded (`maxQueueSize` rows → QUEUE_FULL), every request has a deadline
 * (`timeoutMs` → DEADLINE_EXCEEDED, and an expired request never reaches the runtime), and a failed
 * batch is split in halves until the failing request is isolated, so one bad request cannot fail
 * its neighbours.
 */
export class DynamicBatcher {
  private readonly queue: Item[] = [];
  private queuedRows = 0;
  private inflight = 0;
  private delayTimer: TimerHandle | null = null;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly clock: Clock;
  private readonly maxInflight: number;
  private config: BatchingConfig;

  constructor(private readonly opts: DynamicBatcherOptions) {
    this.clock = opts.clock ?? systemClock;
    this.maxInflight = Math.max(1, opts.maxInflight ?? 1);
    this.config = opts.config;
  }

  /** Rows waiting (not yet running). */
  get depth(): number {
    return this.queuedRows;
  }

  /** Runtime calls in flight. */
  get running(): number {
    return this.inflight;
  }

  /** Change the batching settings of a live batcher (applies to the next batch). */
  reconfigure(config: BatchingConfig): void {
    this.config = config;
    this.schedule();
  }

  /**
   * Queue one request. `inputs` are in signature order and share their first dimension (rows).
   * `deadline` is an absolute monotonic time; by default arrival + `timeoutMs`; `Infinity` never
   * expires in the queue (the queue bound still refuses what does not fit). When `signal` aborts
   * while the request is still queued (its client went away), it leaves the queue unrun with
   * CANCELLED; once its batch has started it runs to the end.
   */
  submit(inputs: Tensor[], outputNames?: readonly string[], deadline?: number, signal?: AbortSignal): Promise<BatchResult> {
    if (signal?.aborted) return Promise.reject(cancelledError());
    if (this.closed) {
      return Promise.reject(new BerthError('MODEL_UNAVAILABLE', 'the model is unloading; retry', { retryAfterSeconds: 1 }));
    }
    const rows = this.opts.batchable ? (inputs[0]?.shape[0] ?? 1) : 1;
    const cfg = this.config;
    if (this.queuedRows + rows > cfg.maxQueueSize && this.queuedRows > 0) {
      return Promise.reject(
        new BerthError('QUEUE_FULL', `the model queue is full (${this.queuedRows} rows waiting, limit ${cfg.maxQueueSize}); retry after a moment or raise max_queue_size`, {
          retryAfterSeconds: 1,
          expected: cfg.maxQueueSize,
          got: this.queuedRows + rows,
        }),
      );
    }
    const now = this.clock.monotonic();
    return new Promise<BatchResult>((resolve, reject) => {
      const item: Item = {
        inputs,
        outputNames,
        outputKey: outputNames ? outputNames.join('\u0000') : '',
        shapeKey: this.opts.batchable ? trailingShapeKey(inputs) : '',
        rows,
        enqueuedAt: now,
        deadline: deadline ?? now + cfg.timeoutMs,
        timer: null,
        signal,
        onAbort: null,
        settled: false,
        resolve,
        reject,
      };
      const wait = item.deadline - now;
      if (wait <= 0) {
        reject(deadlineError(0));
        return;
      }
      // an infinite deadline (shadow copies: a bounded queue drops them instead) needs no timer
      if (wait !== Infinity) item.timer = this.clock.setTimeout(() => this.expire(item), wait);
      if (signal) {
        item.onAbort = () => this.cancel(item);
        signal.addEventListener('abort', item.onAbort, { once: true });
      }
      this.queue.push(item);
      this.queuedRows += rows;
      this.schedule();
    });
  }

  /** Resolve when nothing is queued or running. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuse new requests; queued ones still run. Resolves when drained. */
  close(): Promise<void> {
    this.closed = true;
    return this.drain();
  }

  /** The caller went away while `item` waited: drop it unrun. */
  private cancel(item: Item): void {
    if (item.settled) return;
    const idx = this.queue.indexOf(item);
    // already taken into a batch: it runs, and its answer is simply not read
    if (idx < 0) return;
    this.queue.splice(idx, 1);
    this.queuedRows -= item.rows;
    this.settle(item);
    item.reject(cancelledError());
    this.notifyIdle();
  }

  private expire(item: Item): void {
    if (item.settled) return;
    const idx = this.queue.indexOf(item);
    if (idx >= 0) {
      this.queue.splice(idx, 1);
      this.queuedRows -= item.rows;
    }
    this.settle(item);
    item.reject(deadlineError(this.clock.monotonic() - item.enqueuedAt));
    this.notifyIdle();
  }

  private schedule(): void {
    while (this.inflight < this.maxInflight && this.queue.length > 0) {
      const cfg = this.config;
      if (cfg.maxQueueDelayMs > 0 && this.opts.batchable && this.queuedRows < cfg.maxBatchSize) {
        const head = this.queue[0]!;
        const waited = this.clock.monotonic() - head.enqueuedAt;
        if (waited < cfg.maxQueueDelayMs) {
          if (!this.delayTimer) {
            this.delayTimer = this.clock.setTimeout(() => {
              this.delayTimer = null;
              this.schedule();
            }, cfg.maxQueueDelayMs - waited);
          }
          return;
        }
      }
      const batch = this.takeBatch();
      if (batch.length === 0) break;
      this.inflight++;
      void this.runBatch(batch).finally(() => {
        this.inflight--;
        this.schedule();
        this.notifyIdle();
      });
    }
  }

  private takeBatch(): Item[] {
    const now = this.clock.monotonic();
    const max = this.config.maxBatchSize;
    const batch: Item[] = [];
    // items passed over (other shapes or outputs) stay queued, in order
    const skipped: Item[] = [];
    let rows = 0;
    let i = 0;
    for (; i < this.queue.length; i++) {
      const item = this.queue[i]!;
      if (item.deadline <= now) {
        // past its deadline: never reaches the runtime
        this.queuedRows -= item.rows;
        this.settle(item);
        item.reject(deadlineError(now - item.enqueuedAt));
        continue;
      }
      const head = batch[0];
      if (head === undefined) {
        batch.push(item);
        rows = item.rows;
        this.queuedRows -= item.rows;
        if (!this.opts.batchable) {
          i++;
          break;
        }
        continue;
      }
      if (rows + item.rows > max) break;
      if (item.shapeKey === head.shapeKey && item.outputKey === head.outputKey) {
        batch.push(item);
        rows += item.rows;
        this.queuedRows -= item.rows;
      } else {
        skipped.push(item);
      }
    }
    // one splice for the whole scan: a long queue is not shifted once per taken item
    this.queue.splice(0, i, ...skipped);
    return batch;
  }


  private settle(item: Item): void {
    item.settled = true;
    if (item.timer) this.clock.clearTimeout(item.timer);
    if (item.onAbort) {
      item.signal?.removeEventListener('abort', item.onAbort);
      item.onAbort = null;
    }
  }

  private async runBatch(batch: Item[]): Promise<void> {
    const live = batch.filter((b) => !b.settled);
    if (live.length === 0) return;
    const start = this.clock.monotonic();
    let outputs: Tensor[];
    const rows = live.reduce((n, b) => n + b.rows, 0);
    let ran = start;
    try {
      const inputs = live.length === 1 ? live[0]!.inputs : concatInputs(live);
      ran = this.clock.monotonic();
      outputs = await this.opts.run(inputs, live[0]!.outputNames);
    } catch (err) {
      const inferMs = this.clock.monotonic() - ran;
      this.opts.observer?.onBatch?.(rows, live.length, inferMs, false);
      if (live.length > 1) {
        // isolate the culprit: each half runs on its own
        const mid = live.length >> 1;
        await this.runBatch(live.slice(0, mid));
        await this.runBatch(live.slice(mid));
        return;
      }
      const item = live[0]!;
      if (item.settled) return;
      this.settle(item);
      item.reject(runtimeError(err));
      return;
    }
    const inferMs = this.clock.monotonic() - ran;
    const inputMs = ran - start;
    this.opts.observer?.onBatch?.(rows, live.length, inferMs, true);
    if (live.length === 1) {
      const item = live[0]!;
      if (item.settled) return;
      this.settle(item);
      item.resolve({ outputs, queueMs: start - item.enqueuedAt, inferMs, inputMs, outputMs: 0, batchRows: rows, rows: item.rows });
      return;
    }
    let offset = 0;
    for (const item of live) {
      let part: Tensor[];
      const sliceStart = this.clock.monotonic();
      try {
        part = outputs.map((o) => sliceRows(o, offset, item.rows, rows));
      } catch (err) {
        for (const rest of live) {
          if (rest.settled) continue;
          this.settle(rest);
          rest.reject(toBerthError(err));
        }
        return;
      }
      offset += item.rows;
      if (item.settled) continue;
      this.settle(item);
      item.resolve({ outputs: part, queueMs: start - item.enqueuedAt, inferMs, inputMs, outputMs: this.clock.monotonic() - sliceStart, batchRows: rows, rows: item.rows });
    }
  }

  private notifyIdle(): void {
    if (this.queue.length === 0 && this.inflight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

function deadlineError(waitedMs: number): BerthError {
  return new BerthError(
    'DEADLINE_EXCEEDED',
    `the request waited ${Math.round(waitedMs)} ms and passed its deadline before the model could run it; retry, or raise timeout_ms if the model is slow`,
    { retryAfterSeconds: 1 },
  );
}

function runtimeError(err: unknown): BerthError {
  const e = toBerthError(err);
  if (e.code !== 'INTERNAL') return e;
  // The request failed when run on its own: its input is the cause (a broken model fails every
  // request the same way, which the error rate shows).
  const msg = err instanceof Error ? err.message : String(err);
  return new BerthError('INVALID_INPUT', `the model rejected this request's input: ${msg}`, { source: 'runtime' }, { cause: err });
}

function trailingShapeKey(inputs: readonly Tensor[]): string {
  let key = '';
  for (const t of inputs) {
    for (let d = 1; d < t.shape.length; d++) key += t.shape[d] + ',';
    key += ';';
  }
  return key;
}

/** Concatenate the items' inputs along the first dimension. */
function concatInputs(items: readonly Item[]): Tensor[] {
  const first = items[0]!.inputs;
  const total = items.reduce((n, b) => n + b.rows, 0);
  const out: Tensor[] = [];
  for (let k = 0; k < first.length; k++) {
    const proto = first[k]!;
    const shape = proto.shape.slice();
    shape[0] = total;
    let perRow = 1;
    for (let d = 1; d < shape.length; d++) perRow *= shape[d]!;
    const data = allocateData(proto.datatype, total * perRow);
    let offset = 0;
    if (Array.isArray(data)) {
      for (const item of items) {
        const src = item.inputs[k]!.data as string[];
        for (let j = 0; j < src.length; j++) data[offset + j] = src[j]!;
        offset += src.length;
      }
    } else {
      const dst = data as NumericArray;
      for (const item of items) {
        const src = item.inputs[k]!.data as NumericArray;
        (dst as Float32Array).set(src as Float32Array, offset);
        offset += src.length;
      }
    }
    out.push({ name: proto.name, datatype: proto.datatype, shape, data });
  }
  return out;
}

/** Rows [start, start+count) of a batched output (a view, no copy, for typed arrays). */
function sliceRows(t: Tensor, start: number, count: number, totalRows: number): Tensor {
  if (t.shape[0] !== totalRows) {
    throw new BerthError('INFERENCE_FAILED', `output "${t.name}" has ${t.shape[0]} rows for a batch of ${totalRows}; the model's first dimension is not a batch dimension — serve it with max_batch_size 1`);
  }
  const perRow = totalRows === 0 ? 0 : t.data.length / totalRows;
  const shape = t.shape.slice();
  shape[0] = count;
  const data = Array.isArray(t.data)
    ? t.data.slice(start * perRow, (start + count) * perRow)
    : (t.data as Float32Array).subarray(start * perRow, (start + count) * perRow);
  return { name: t.name, datatype: t.datatype, shape, data: data as Tensor['data'] };
}

function cancelledError(): BerthError {
  return new BerthError('CANCELLED', 'the client went away before its request ran; it was dropped from the queue');
}

import { describe, expect, it } from 'vitest';
import { BerthError, ManualClock, type BatchingConfig, type Tensor } from '../core/index.js';
import { DynamicBatcher, type BatchRunner } from './dynamic-batcher.js';

// These tests drive the batcher's scheduling with a plain function as the runtime, to control
// exactly when a batch finishes; the end-to-end suite runs it on onnxruntime-node.

const cfg = (o: Partial<BatchingConfig> = {}): BatchingConfig => ({
  maxBatchSize: 8,
  maxQueueDelayMs: 0,
  maxQueueSize: 100,
  timeoutMs: 1000,
  ...o,
});

function rowsTensor(values: number[][]): Tensor {
  return { name: 'x', datatype: 'FP32', shape: [values.length, 2], data: Float32Array.from(values.flat()) };
}

/** A runner that doubles its input and records each call; it finishes only when released. */
function gatedRunner() {
  const calls: number[] = [];
  const gates: (() => void)[] = [];
  const run: BatchRunner = async (inputs) => {
    const x = inputs[0]!;
    calls.push(x.shape[0]!);
    await new Promise<void>((r) => gates.push(r));
    const data = Float32Array.from(x.data as Float32Array, (v) => v * 2);
    return [{ name: 'y', datatype: 'FP32', shape: x.shape.slice(), data }];
  };
  const releaseAll = async (): Promise<void> => {
    while (gates.length > 0) {
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { run, calls, releaseAll };
}

describe('DynamicBatcher', () => {
  it('drops a queued request whose caller went away (CANCELLED), frees its rows, and runs the rest', async () => {
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg({ maxBatchSize: 64 }), batchable: true });
    const running = b.submit([rowsTensor([[0, 0]])]);
    const gone = new AbortController();
    const cancelled = b.submit([rowsTensor([[1, 1], [2, 2]])], undefined, undefined, gone.signal);
    const kept = b.submit([rowsTensor([[3, 3]])]);
    expect(b.depth).toBe(3);
    gone.abort();
    await expect(cancelled).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(b.depth).toBe(1);
    await r.releaseAll();
    await running;
    expect(Array.from((await kept).outputs[0]!.data as Float32Array)).toEqual([6, 6]);
    // the cancelled rows never reached the runtime
    expect(r.calls).toEqual([1, 1]);
    // already aborted: refused at once; aborting a request whose batch runs changes nothing
    await expect(b.submit([rowsTensor([[1, 1]])], undefined, undefined, gone.signal)).rejects.toMatchObject({ code: 'CANCELLED' });
    const late = new AbortController();
    const started = b.submit([rowsTensor([[4, 4]])], undefined, undefined, late.signal);
    expect(r.calls).toEqual([1, 1, 1]);
    late.abort();
    await r.releaseAll();
    expect(Array.from((await started).outputs[0]!.data as Float32Array)).toEqual([8, 8]);
  });

  it('runs a lone request at once without waiting for company', async () => {
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg(), batchable: true });
    const p = b.submit([rowsTensor([[1, 2]])]);
    expect(r.calls).toEqual([1]);
    await r.releaseAll();
    const res = await p;
    expect(Array.from(res.outputs[0]!.data as Float32Array)).toEqual([2, 4]);
  });

  it('coalesces requests that arrive while the runtime is busy and gives each caller its own rows', async () => {
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg({ maxBatchSize: 64 }), batchable: true });
    const first = b.submit([rowsTensor([[0, 0]])]);
    const sizes = [1, 3, 2, 1, 4];
    const ps = sizes.map((n, i) => b.submit([rowsTensor(Array.from({ length: n }, (_, j) => [i * 10 + j, -(i * 10 + j)]))]));
    expect(r.calls).toEqual([1]);
    await r.releaseAll();
    await first;
    const results = await Promise.all(ps);
    expect(r.calls).toEqual([1, 11]);
    results.forEach((res, i) => {
      const want = Array.from({ length: sizes[i]! }, (_, j) => [2 * (i * 10 + j), -2 * (i * 10 + j)]).flat();
      expect(res.outputs[0]!.shape).toEqual([sizes[i], 2]);
      expect(Array.from(res.outputs[0]!.data as Float32Array)).toEqual(want);
      expect(res.batchRows).toBe(11);
    });
  });

  it('never puts more than max_batch_size rows in one call', async () => {
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg({ maxBatchSize: 4 }), batchable: true });
    const ps = Array.from({ length: 10 }, (_, i) => b.submit([rowsTensor([[i, i]])]));
    for (let i = 0; i < 5; i++) await r.releaseAll();
    await Promise.all(ps);
    expect(r.calls).toEqual([1, 4, 4, 1]);
  });

  it('waits up to max_queue_delay_ms for a fuller batch when configured', async () => {
    const clock = new ManualClock();
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg({ maxQueueDelayMs: 5 }), batchable: true, clock });
    const ps = [b.submit([rowsTensor([[1, 1]])]), b.submit([rowsTensor([[2, 2]])])];
    expect(r.calls).toEqual([]);
    clock.advance(4);
    expect(r.calls).toEqual([]);
    clock.advance(1);
    expect(r.calls).toEqual([2]);
    await r.releaseAll();
    await Promise.all(ps);
  });

  it('dispatches before the delay once max_batch_size rows are waiting', async () => {
    const clock = new ManualClock();
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg({ maxQueueDelayMs: 50, maxBatchSize: 3 }), batchable: true, clock });
    const ps = [1, 2, 3].map((i) => b.submit([rowsTensor([[i, i]])]));
    expect(r.calls).toEqual([3]);
    await r.releaseAll();
    await Promise.all(ps);
  });

  it('answers QUEUE_FULL with a retry hint when max_queue_size rows are waiting', async () => {
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg({ maxQueueSize: 2 }), batchable: true });
    const running = b.submit([rowsTensor([[0, 0]])]);
    const queued = [b.submit([rowsTensor([[1, 1]])]), b.submit([rowsTensor([[2, 2]])])];
    const err = await b.submit([rowsTensor([[3, 3]])]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('QUEUE_FULL');
    expect((err as BerthError).status).toBe(429);
    expect((err as BerthError).context.retryAfterSeconds).toBeGreaterThan(0);
    await r.releaseAll();
    await r.releaseAll();
    await Promise.all([running, ...queued]);
  });

  it('drops a request whose deadline passed before it reaches the runtime', async () => {
    const clock = new ManualClock();
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg({ timeoutMs: 100 }), batchable: true, clock });
    // the first request occupies the runtime past both deadlines; the caller is answered on time
    const running = b.submit([rowsTensor([[0, 0]])]).catch((e: unknown) => e);
    const late = b.submit([rowsTensor([[1, 1]])]);
    const lateErr = late.catch((e: unknown) => e);
    clock.advance(150);
    const err = (await lateErr) as BerthError;
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(err.status).toBe(504);
    expect(((await running) as BerthError).code).toBe('DEADLINE_EXCEEDED');
    await r.releaseAll();
    await r.releaseAll();
    // only the first request ever reached the runtime
    expect(r.calls).toEqual([1]);
  });

  it('never expires a request queued with an infinite deadline (shadow copies), and arms no timer for it', async () => {
    const clock = new ManualClock();
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg({ timeoutMs: 100 }), batchable: true, clock });
    const first = b.submit([rowsTensor([[0, 0]])], undefined, Infinity);
    const second = b.submit([rowsTensor([[1, 1]])], undefined, Infinity);
    clock.advance(1_000_000);
    await r.releaseAll();
    await r.releaseAll();
    expect(Array.from((await first).outputs[0]!.data as Float32Array)).toEqual([0, 0]);
    expect(Array.from((await second).outputs[0]!.data as Float32Array)).toEqual([2, 2]);
    expect(r.calls).toEqual([1, 1]);
  });

  it('isolates the request that fails a batch; its neighbours still succeed', async () => {
    const calls: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const run: BatchRunner = async (inputs) => {
      const x = inputs[0]!.data as Float32Array;
      calls.push(x.length / 2);
      if (calls.length === 1) await gate;
      if (x.includes(666)) throw new Error('Gather: indices element out of data bounds, idx=666');
      return [{ name: 'y', datatype: 'FP32', shape: inputs[0]!.shape.slice(), data: Float32Array.from(x) }];
    };
    const b = new DynamicBatcher({ run, config: cfg({ maxBatchSize: 16 }), batchable: true });
    const first = b.submit([rowsTensor([[0, 0]])]);
    const ps = [1, 2, 666, 4, 5].map((v) => b.submit([rowsTensor([[v, v]])]).then((res) => res, (e: unknown) => e));
    release();
    await first;
    const results = await Promise.all(ps);
    results.forEach((res, i) => {
      if (i === 2) {
        expect(res).toBeInstanceOf(BerthError);
        expect((res as BerthError).code).toBe('INVALID_INPUT');
        expect((res as BerthError).message).toMatch(/idx=666/);
      } else {
        expect(Array.from((res as { outputs: Tensor[] }).outputs[0]!.data as Float32Array)).toEqual([[1, 2, 666, 4, 5][i], [1, 2, 666, 4, 5][i]]);
      }
    });
  });

  it('runs every request alone for models without a batch dimension', async () => {
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg(), batchable: false });
    const ps = [b.submit([rowsTensor([[1, 1]])]), b.submit([rowsTensor([[2, 2]])]), b.submit([rowsTensor([[3, 3]])])];
    for (let i = 0; i < 3; i++) await r.releaseAll();
    await Promise.all(ps);
    expect(r.calls).toEqual([1, 1, 1]);
  });

  it('does not mix requests whose trailing dimensions differ', async () => {
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg(), batchable: true });
    const t3: Tensor = { name: 'x', datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) };
    const first = b.submit([rowsTensor([[0, 0]])]);
    const ps = [b.submit([rowsTensor([[1, 1]])]), b.submit([t3]), b.submit([rowsTensor([[2, 2]])])];
    for (let i = 0; i < 3; i++) await r.releaseAll();
    await Promise.all([first, ...ps]);
    expect(r.calls).toEqual([1, 2, 1]);
  });

  it('drains queued work on close and refuses new requests', async () => {
    const r = gatedRunner();
    const b = new DynamicBatcher({ run: r.run, config: cfg(), batchable: true });
    const p = b.submit([rowsTensor([[1, 1]])]);
    const closing = b.close();
    const refused = await b.submit([rowsTensor([[2, 2]])]).catch((e: unknown) => e);
    expect((refused as BerthError).code).toBe('MODEL_UNAVAILABLE');
    await r.releaseAll();
    await p;
    await closing;
  });
});

/**
 * The server's side of a measured window, from two readings of the statistics extension (its
 * counters are cumulative since the server started): how many requests it answered, where each
 * spent its time on average, and how many rows each runtime call carried.
 */
import type { ModelStatistics } from 'berth/sdk';

/** The extension's counters summed over a deployment's versions. */
export interface StatisticsTotals {
  success: number;
  fail: number;
  queue: Duration;
  computeInput: Duration;
  computeInfer: Duration;
  computeOutput: Duration;
  /** rows answered */
  inferences: number;
  /** runtime calls */
  executions: number;
}

interface Duration {
  count: number;
  ns: number;
}

/** What the server did during one measured window. */
export interface ServerFigures {
  /** requests it answered successfully */
  success: number;
  /** requests it failed */
  fail: number;
  /** per successful request, in µs: waiting for a runtime slot and a batch */
  queueUs: number;
  /** per successful request, in µs: decoding and checking inputs, assembling the batch */
  computeInputUs: number;
  /** per successful request, in µs: the runtime call its batch was in */
  computeInferUs: number;
  /** per successful request, in µs: splitting and encoding outputs */
  computeOutputUs: number;
  /** rows answered */
  inferences: number;
  /** runtime calls (batches) */
  executions: number;
  /** rows per runtime call (null when no call ran) */
  batchSize: number | null;
}

/** Sum the statistics of every version of a deployment (a split serves several). */
export function totalStatistics(stats: readonly ModelStatistics[]): StatisticsTotals {
  const zero = (): Duration => ({ count: 0, ns: 0 });
  const t: StatisticsTotals = { success: 0, fail: 0, queue: zero(), computeInput: zero(), computeInfer: zero(), computeOutput: zero(), inferences: 0, executions: 0 };
  const add = (into: Duration, d: Duration): void => {
    into.count += d.count;
    into.ns += d.ns;
  };
  for (const s of stats) {
    const i = s.inferenceStats;
    t.success += i.success.count;
    t.fail += i.fail.count;
    add(t.queue, i.queue);
    add(t.computeInput, i.computeInput);
    add(t.computeInfer, i.computeInfer);
    add(t.computeOutput, i.computeOutput);
    t.inferences += s.inferenceCount;
    t.executions += s.executionCount;
  }
  return t;
}

/** The window between two readings. */
export function diffStatistics(before: StatisticsTotals, after: StatisticsTotals): ServerFigures {
  const avgUs = (a: Duration, b: Duration): number => {
    const n = b.count - a.count;
    return n > 0 ? (b.ns - a.ns) / n / 1000 : 0;
  };
  const inferences = after.inferences - before.inferences;
  const executions = after.executions - before.executions;
  return {
    success: after.success - before.success,
    fail: after.fail - before.fail,
    queueUs: avgUs(before.queue, after.queue),
    computeInputUs: avgUs(before.computeInput, after.computeInput),
    computeInferUs: avgUs(before.computeInfer, after.computeInfer),
    computeOutputUs: avgUs(before.computeOutput, after.computeOutput),
    inferences,
    executions,
    batchSize: executions > 0 ? inferences / executions : null,
  };
}

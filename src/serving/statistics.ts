/**
 * The protocol's statistics extension: per deployment and version, how many requests succeeded
 * and failed and the cumulative time they spent queued, preparing inputs, in the runtime and
 * preparing outputs; per model version, how many runtime calls ran and at which batch sizes.
 * Fed by the data plane's observer hooks (a few additions per request); read by
 * `GET /v2/models/{name}/stats` and gRPC ModelStatistics.
 */
import type { InferenceTiming } from './inference-service.js';

/** A count and the nanoseconds it took altogether. */
export interface StatisticDuration {
  count: number;
  ns: number;
}

export interface BatchStatistics {
  batchSize: number;
  computeInfer: StatisticDuration;
}

/** One version of one deployment (the protocol's model), as the extension reports it. */
export interface ModelStatisticsView {
  name: string;
  version: string;
  /** the registered model behind the deployment */
  model: string;
  /** epoch ms of the last request answered, 0 if none */
  lastInference: number;
  /** rows answered */
  inferenceCount: number;
  /** runtime calls of this model version (all deployments serving it: a batch may mix them) */
  executionCount: number;
  inferenceStats: InferStatistics;
  /** runtime calls of this model version by batch size (rows), smallest first */
  batchStats: BatchStatistics[];
}

/** Requests that succeeded and failed, and where the successful ones spent their time. */
export interface InferStatistics {
  success: StatisticDuration;
  fail: StatisticDuration;
  queue: StatisticDuration;
  computeInput: StatisticDuration;
  computeInfer: StatisticDuration;
  computeOutput: StatisticDuration;
}

interface Counters extends InferStatistics {
  model: string;
  lastInference: number;
  rows: number;
}

const duration = (): StatisticDuration => ({ count: 0, ns: 0 });
const add = (d: StatisticDuration, ms: number): void => {
  d.count++;
  d.ns += Math.max(0, Math.round(ms * 1e6));
};

export class InferenceStatistics {
  private readonly byDeployment = new Map<string, Map<number, Counters>>();
  private readonly executions = new Map<string, Map<number, StatisticDuration>>();

  constructor(private readonly now: () => number = Date.now) {}

  private counters(deployment: string, model: string, version: number): Counters {
    let versions = this.byDeployment.get(deployment);
    if (!versions) this.byDeployment.set(deployment, (versions = new Map()));
    let c = versions.get(version);
    if (!c) {
      c = { model, lastInference: 0, rows: 0, success: duration(), fail: duration(), queue: duration(), computeInput: duration(), computeInfer: duration(), computeOutput: duration() };
      versions.set(version, c);
    }
    return c;
  }

  /** The observer's per-request hook (`timing` is null for a failure). */
  onRequest(deployment: string, model: string, version: number, code: string, timing: InferenceTiming | null, totalMs: number): void {
    // a request refused before a version was chosen (unknown deployment) belongs to no version
    if (model === '' || version === 0) return;
    const c = this.counters(deployment, model, version);
    if (code !== 'OK' || timing === null) {
      add(c.fail, totalMs);
      return;
    }
    add(c.success, totalMs);
    add(c.queue, timing.queueMs);
    add(c.computeInput, timing.inputMs);
    add(c.computeInfer, timing.inferMs);
    add(c.computeOutput, timing.outputMs);
    c.rows += timing.rows;
    c.lastInference = this.now();
  }

  /** The model manager's per-batch hook. */
  onBatch(model: string, version: number, rows: number, inferMs: number, ok: boolean): void {
    if (!ok) return;
    const key = `${model}\u0000${version}`;
    let sizes = this.executions.get(key);
    if (!sizes) this.executions.set(key, (sizes = new Map()));
    let d = sizes.get(rows);
    if (!d) sizes.set(rows, (d = duration()));
    add(d, inferMs);
  }

  /** Every version of `deployment` (or of every deployment) that answered or failed a request. */
  snapshot(deployment?: string, version?: number): ModelStatisticsView[] {
    const out: ModelStatisticsView[] = [];
    const names = deployment === undefined ? [...this.byDeployment.keys()].sort() : [deployment];
    for (const name of names) {
      const versions = this.byDeployment.get(name);
      if (!versions) continue;
      for (const [v, c] of [...versions].sort((a, b) => a[0] - b[0])) {
        if (version !== undefined && v !== version) continue;
        const sizes = this.executions.get(`${c.model}\u0000${v}`) ?? new Map<number, StatisticDuration>();
        const batchStats = [...sizes].sort((a, b) => a[0] - b[0]).map(([batchSize, d]) => ({ batchSize, computeInfer: { ...d } }));
        out.push({
          name,
          version: String(v),
          model: c.model,
          lastInference: c.lastInference,
          inferenceCount: c.rows,
          executionCount: batchStats.reduce((n, b) => n + b.computeInfer.count, 0),
          inferenceStats: {
            success: { ...c.success },
            fail: { ...c.fail },
            queue: { ...c.queue },
            computeInput: { ...c.computeInput },
            computeInfer: { ...c.computeInfer },
            computeOutput: { ...c.computeOutput },
          },
          batchStats,
        });
      }
    }
    return out;
  }
}

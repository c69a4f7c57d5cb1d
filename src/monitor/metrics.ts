import client from 'prom-client';
import type { InferenceObserver, InferenceTiming, ModelManager, ModelManagerObserver } from '../serving/index.js';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

interface RequestChildren {
  ok: client.Counter.Internal;
  latency: client.Histogram.Internal<string>;
  queue: client.Histogram.Internal<string>;
}

/**
 * Prometheus metrics of the serving path. It observes the inference service and the model manager
 * (it implements their observer interfaces), so serving never imports monitoring.
 */
export class ServingMetrics implements InferenceObserver, ModelManagerObserver {
  readonly registry = new client.Registry();
  private readonly requests: client.Counter;
  private readonly extractionFindings: client.Counter;
  private readonly latency: client.Histogram;
  private readonly queueTime: client.Histogram;
  private readonly inferTime: client.Histogram;
  private readonly batchSize: client.Histogram;
  private readonly errors: client.Counter;
  private readonly breakerTrips: client.Counter<'deployment' | 'model' | 'version'>;
  private readonly loads: client.Counter;
  private readonly unloads: client.Counter;
  private readonly loadTime: client.Histogram;
  private readonly children = new Map<string, RequestChildren>();
  private readonly batchChildren = new Map<string, { infer: client.Histogram.Internal<string>; size: client.Histogram.Internal<string> }>();

  constructor(manager?: () => ModelManager | undefined) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'berth_' });
    this.requests = new client.Counter({
      name: 'berth_requests_total',
      help: 'Inference requests by deployment, model, version and status code (OK or an error code).',
      labelNames: ['deployment', 'model', 'version', 'code'],
      registers,
    });
    this.latency = new client.Histogram({
      name: 'berth_request_duration_seconds',
      help: 'Time from the request reaching the data plane to its answer.',
      labelNames: ['deployment', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.queueTime = new client.Histogram({
      name: 'berth_queue_duration_seconds',
      help: 'Time a request waited in its model queue before its batch ran.',
      labelNames: ['deployment', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.inferTime = new client.Histogram({
      name: 'berth_inference_duration_seconds',
      help: 'Runtime time per batch.',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchSize = new client.Histogram({
      name: 'berth_batch_size',
      help: 'Rows per runtime call.',
      labelNames: ['model', 'version'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.errors = new client.Counter({
      name: 'berth_errors_total',
      help: 'Errors answered, by stable error code.',
      labelNames: ['code'],
      registers,
    });
    this.breakerTrips = new client.Counter({
      name: 'berth_circuit_breaker_trips_total',
      help: 'Circuit breakers opened: a version failed too often and its traffic moved to another version.',
      labelNames: ['deployment', 'model', 'version'],
      registers,
    });
    this.extractionFindings = new client.Counter({
      name: 'berth_extraction_findings_total',
      help: 'Callers whose traffic in a window looked like model extraction (volume, input-space coverage, boundary probing); the alert carries the evidence.',
      labelNames: ['deployment', 'verdict'],
      registers,
    });
    this.loads = new client.Counter({
      name: 'berth_model_loads_total',
      help: 'Model loads (each is a cold start of that version).',
      labelNames: ['model', 'version'],
      registers,
    });
    this.unloads = new client.Counter({
      name: 'berth_model_unloads_total',
      help: 'Model unloads by reason (idle, evicted, retired, requested, shutdown).',
      labelNames: ['model', 'version', 'reason'],
      registers,
    });
    this.loadTime = new client.Histogram({
      name: 'berth_model_load_duration_seconds',
      help: 'Time to load and warm a model.',
      labelNames: ['model'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new client.Gauge({
      name: 'berth_models_loaded',
      help: 'Model versions loaded and ready.',
      registers,
      collect() {
        const m = manager?.();
        this.set(m ? m.list().filter((e) => e.state === 'ready').length : 0);
      },
    });
    new client.Gauge({
      name: 'berth_model_memory_bytes',
      help: 'Measured resident memory of each loaded model version.',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const e of manager?.()?.list() ?? []) this.set({ model: e.model, version: String(e.version) }, e.memoryBytes);
      },
    });
    new client.Gauge({
      name: 'berth_queue_depth',
      help: 'Rows waiting in each model queue.',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const e of manager?.()?.list() ?? []) this.set({ model: e.model, version: String(e.version) }, e.queueDepth);
      },
    });
    new client.Gauge({
      name: 'berth_cold_starts',
      help: 'Loads caused by a request or command finding its model unloaded (cumulative).',
      registers,
      collect() {
        this.set(manager?.()?.coldStarts ?? 0);
      },
    });
  }

  /** a caller whose traffic looks like model extraction (security layer's detector) */
  onExtractionFinding(e: { deployment: string; verdict: string }): void {
    this.extractionFindings.inc({ deployment: e.deployment, verdict: e.verdict });
  }

  onBreaker(e: { deployment: string; model: string; version: number }): void {
    this.breakerTrips.inc({ deployment: e.deployment, model: e.model, version: String(e.version) });
  }

  onRequest(deployment: string, model: string, version: number, code: string, timing: InferenceTiming | null, totalMs: number): void {
    if (code === 'OK' && timing) {
      const key = `${deployment}\u0000${model}\u0000${version}`;
      let c = this.children.get(key);
      if (!c) {
        const v = String(version);
        c = {
          ok: this.requests.labels(deployment, model, v, 'OK'),
          latency: this.latency.labels(deployment, v),
          queue: this.queueTime.labels(deployment, v),
        };
        this.children.set(key, c);
      }
      c.ok.inc();
      c.latency.observe(totalMs / 1000);
      c.queue.observe(timing.queueMs / 1000);
      return;
    }
    this.requests.labels(deployment, model, String(version), code).inc();
    this.errors.labels(code).inc();
  }

  /** Count an error answered before the data plane (bad JSON, body too large, unknown route). */
  onProtocolError(code: string): void {
    this.errors.labels(code).inc();
  }

  onBatchFor(model: string, version: number, rows: number, _requests: number, inferMs: number): void {
    const key = `${model}\u0000${version}`;
    let c = this.batchChildren.get(key);
    if (!c) {
      const v = String(version);
      c = { infer: this.inferTime.labels(model, v), size: this.batchSize.labels(model, v) };
      this.batchChildren.set(key, c);
    }
    c.infer.observe(inferMs / 1000);
    c.size.observe(rows);
  }

  onLoad(model: string, version: number, loadMs: number): void {
    this.loads.labels(model, String(version)).inc();
    this.loadTime.labels(model).observe(loadMs / 1000);
  }

  onUnload(model: string, version: number, reason: string): void {
    this.unloads.labels(model, String(version), reason).inc();
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * The last hour of each deployment's traffic in 10-second buckets, kept in memory for the
 * dashboard's live charts: requests, errors, latency percentiles, which version answered, and the
 * batch sizes each model version ran. The hot path does a few array increments per request; a
 * percentile is read from a fixed log-scale histogram per bucket (about 5 % resolution).
 */
import { systemClock, type Clock } from '../core/index.js';

export const TRAFFIC_BUCKET_MS = 10_000;
const BUCKETS = 360; // one hour
/** latency histogram edges: 0.05 ms × 1.1^i, up to ~8 minutes */
const LAT_BINS = 170;
const LAT_BASE = 0.05;
const LAT_GROWTH = Math.log(1.1);
/** batch sizes by powers of two: 1, 2, 3–4, 5–8, … 4,097+ */
const BATCH_BINS = 14;

interface Bucket {
  /** start of the bucket (epoch ms); a bucket reused for a newer period is reset first */
  t: number;
  requests: number;
  errors: number;
  lat: Uint32Array;
  byVersion: Map<number, number>;
}

/** One point of a deployment's series. */
export interface TrafficPoint {
  /** start of the bucket, ISO 8601 */
  t: string;
  requests: number;
  errors: number;
  /** requests per second over the bucket */
  rps: number;
  /** null for a bucket without requests */
  p50Ms: number | null;
  p99Ms: number | null;
  /** version → requests it answered */
  byVersion: Record<string, number>;
}

export interface TrafficSeries {
  deployment: string;
  bucketSeconds: number;
  /** oldest first; a bucket with no traffic is a point with zero requests */
  points: TrafficPoint[];
  /** per model version that ran batches for this deployment's versions: rows per runtime call */
  batchSizes: { model: string; version: number; bins: { upTo: number; batches: number }[] }[];
}

function latBin(ms: number): number {
  if (!(ms > LAT_BASE)) return 0;
  return Math.min(LAT_BINS - 1, Math.floor(Math.log(ms / LAT_BASE) / LAT_GROWTH) + 1);
}

function latUpper(bin: number): number {
  return LAT_BASE * Math.exp(bin * LAT_GROWTH);
}

function percentile(h: Uint32Array, total: number, q: number): number | null {
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i]!;
    if (seen >= rank) return Number(latUpper(i).toPrecision(3));
  }
  return Number(latUpper(h.length - 1).toPrecision(3));
}

export class TrafficHistory {
  private readonly rings = new Map<string, Bucket[]>();
  private readonly batches = new Map<string, Uint32Array>();
  private readonly clock: Clock;

  constructor(opts: { clock?: Clock } = {}) {
    this.clock = opts.clock ?? systemClock;
  }

  private bucket(deployment: string, now: number): Bucket {
    let ring = this.rings.get(deployment);
    if (!ring) {
      ring = [];
      this.rings.set(deployment, ring);
    }
    const start = now - (now % TRAFFIC_BUCKET_MS);
    const i = Math.floor(start / TRAFFIC_BUCKET_MS) % BUCKETS;
    let b = ring[i];
    if (!b) {
      b = { t: start, requests: 0, errors: 0, lat: new Uint32Array(LAT_BINS), byVersion: new Map() };
      ring[i] = b;
    } else if (b.t !== start) {
      b.t = start;
      b.requests = 0;
      b.errors = 0;
      b.lat.fill(0);
      b.byVersion.clear();
    }
    return b;
  }

  /** Every answered request of a deployment (an InferenceObserver's onRequest). */
  onRequest(deployment: string, _model: string, version: number, code: string, totalMs: number): void {
    const b = this.bucket(deployment, this.clock.now());
    b.requests++;
    if (code !== 'OK') b.errors++;
    b.lat[latBin(totalMs)]!++;
    b.byVersion.set(version, (b.byVersion.get(version) ?? 0) + 1);
  }

  /** Every runtime call of a model version (a ModelManagerObserver's onBatchFor). */
  onBatch(model: string, version: number, rows: number): void {
    const key = `${model}@${version}`;
    let h = this.batches.get(key);
    if (!h) {
      h = new Uint32Array(BATCH_BINS);
      this.batches.set(key, h);
    }
    h[Math.min(BATCH_BINS - 1, rows <= 1 ? 0 : Math.ceil(Math.log2(rows)))]!++;
  }

  /** The deployment's last `windowMs` (at most an hour), and the batch sizes of `versions`. */
  series(deployment: string, windowMs: number, versions: readonly { model: string; version: number }[] = []): TrafficSeries {
    const now = this.clock.now();
    const span = Math.min(Math.max(windowMs, TRAFFIC_BUCKET_MS), BUCKETS * TRAFFIC_BUCKET_MS);
    const last = now - (now % TRAFFIC_BUCKET_MS);
    const ring = this.rings.get(deployment) ?? [];
    const points: TrafficPoint[] = [];
    for (let t = last - span + TRAFFIC_BUCKET_MS; t <= last; t += TRAFFIC_BUCKET_MS) {
      const b = ring[Math.floor(t / TRAFFIC_BUCKET_MS) % BUCKETS];
      const live = b !== undefined && b.t === t;
      // the current bucket has run for only part of its 10 s
      const seconds = t === last ? Math.max(1, (now - t) / 1000) : TRAFFIC_BUCKET_MS / 1000;
      points.push({
        t: new Date(t).toISOString(),
        requests: live ? b.requests : 0,
        errors: live ? b.errors : 0,
        rps: live ? Number((b.requests / seconds).toFixed(3)) : 0,
        p50Ms: live ? percentile(b.lat, b.requests, 0.5) : null,
        p99Ms: live ? percentile(b.lat, b.requests, 0.99) : null,
        byVersion: live ? Object.fromEntries([...b.byVersion].map(([v, n]) => [String(v), n])) : {},
      });
    }
    const batchSizes = versions.flatMap(({ model, version }) => {
      const h = this.batches.get(`${model}@${version}`);
      if (!h) return [];
      return [{ model, version, bins: [...h].map((batches, i) => ({ upTo: 2 ** i, batches })).filter((b) => b.batches > 0) }];
    });
    return { deployment, bucketSeconds: TRAFFIC_BUCKET_MS / 1000, points, batchSizes };
  }
}

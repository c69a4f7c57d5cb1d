/**
 * Decides which rows the inference log keeps. Below the ceiling every row is kept at the base
 * rate; above it rows are kept with probability ceiling / observed rate, so the log grows at most
 * at the ceiling whatever the traffic. Each kept row carries weight 1 / probability, so weighted
 * statistics over the log estimate the whole traffic without bias.
 */
/** The rate is measured over buckets this long (ms). */
const BUCKET_MS = 250;

export class RateSampler {
  /** rows seen in the current one-second bucket and the estimated rate (rows/s) */
  private bucketStart = 0;
  private bucketRows = 0;
  private rate = 0;
  private keptRows = 0;
  private state = 0x9e3779b9;

  constructor(
    private readonly baseRate: number,
    private readonly maxRowsPerSecond: number,
    seed = 1,
  ) {
    this.state = (seed * 0x9e3779b9) >>> 0 || 1;
  }

  /**
   * The probability of keeping each of `rows` rows arriving at `nowMs` (one request), or 0 to drop
   * them all. The same probability applies to every row of a request, so a request is kept or dropped
   * whole (feedback joins by request id).
   */
  probability(rows: number, nowMs: number): number {
    if (nowMs - this.bucketStart >= BUCKET_MS) {
      const elapsed = nowMs - this.bucketStart;
      // the last bucket's rate; after a silence longer than a bucket, what it implies (lower)
      this.rate = (this.bucketRows * 1000) / Math.max(elapsed, BUCKET_MS);
      this.bucketStart = nowMs;
      this.bucketRows = 0;
      this.keptRows = 0;
    }
    this.bucketRows += rows;
    const max = this.maxRowsPerSecond;
    let p = this.baseRate;
    if (max > 0) {
      // the rate so far in this bucket counts as soon as it exceeds the last one (a burst)
      const sinceStart = nowMs - this.bucketStart;
      const current = sinceStart >= 10 ? (this.bucketRows * 1000) / sinceStart : 0;
      const rate = Math.max(this.rate, current);
      if (rate * p > max) p = max / rate;
      // a safety stop for bursts faster than the estimate can follow (biases the weights, rarely)
      if (this.keptRows >= (4 * max * BUCKET_MS) / 1000 + 1) return 0;
    }
    if (p < 1 && this.random() >= p) return 0;
    this.keptRows += rows;
    return Math.min(p, 1);
  }

  /** xorshift32: fast and seedable; the sample need not be cryptographic. */
  private random(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }
}

/**
 * Latencies in a log-linear histogram, in the manner of HdrHistogram: values below 256 µs get a
 * bucket each; above that every power of two is cut into 128 equal buckets, so any percentile is
 * within 1/128 (0.8%) of the true value while memory stays a few thousand counters however many
 * requests are recorded.
 */

/** Exact buckets below 2^(PRECISION_BITS + 1) µs; 2^PRECISION_BITS buckets per octave above. */
const PRECISION_BITS = 7;
const SUB_BUCKETS = 1 << PRECISION_BITS;
const EXACT_LIMIT = SUB_BUCKETS * 2;
/** the largest value kept apart: 2^40 µs, about 12 days; anything longer lands in the last bucket */
const MAX_EXPONENT = 40;
const BUCKETS = EXACT_LIMIT + (MAX_EXPONENT - PRECISION_BITS - 1) * SUB_BUCKETS;

/** What a histogram says about the latencies recorded into it, in milliseconds. */
export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Request latencies. `record` takes milliseconds (fractions kept to the microsecond);
 * `percentile` answers milliseconds.
 *
 * @example
 * const h = new LatencyHistogram();
 * h.record(0.42);
 * h.percentile(99); // 0.42
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private sumUs = 0;
  private minUs = Infinity;
  private maxUs = 0;

  /** Record one latency in milliseconds (negative values count as 0). */
  record(ms: number): void {
    const us = Math.max(0, Math.round(ms * 1000));
    this.counts[bucketOf(us)]!++;
    this.n++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
  }

  get count(): number {
    return this.n;
  }

  /**
   * The latency at or below which `p` percent of the recorded ones fall (nearest rank), as the
   * middle of its bucket, never outside the smallest and largest recorded; 0 when empty.
   */
  percentile(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.n));
    if (rank === this.n) return this.maxUs / 1000;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const [lo, hi] = boundsOf(i);
        const mid = (lo + hi) / 2;
        return Math.min(this.maxUs, Math.max(this.minUs, mid)) / 1000;
      }
    }
    return this.maxUs / 1000;
  }

  summary(): LatencySummary {
    const empty = this.n === 0;
    return {
      count: this.n,
      min: empty ? 0 : this.minUs / 1000,
      mean: empty ? 0 : this.sumUs / this.n / 1000,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: this.maxUs / 1000,
    };
  }
}

/** The bucket of a value in µs. */
export function bucketOf(us: number): number {
  if (us < EXACT_LIMIT) return us;
  let exponent = Math.floor(Math.log2(us));
  // log2 may round up just below a power of two
  if (2 ** exponent > us) exponent--;
  exponent = Math.min(MAX_EXPONENT - 1, exponent);
  const shift = exponent - PRECISION_BITS;
  // the value's top PRECISION_BITS + 1 bits: in [SUB_BUCKETS, 2 * SUB_BUCKETS)
  const top = Math.min(2 * SUB_BUCKETS - 1, Math.floor(us / 2 ** shift));
  return EXACT_LIMIT + (exponent - PRECISION_BITS - 1) * SUB_BUCKETS + (top - SUB_BUCKETS);
}

/** The smallest and largest µs values a bucket holds. */
export function boundsOf(bucket: number): [number, number] {
  if (bucket < EXACT_LIMIT) return [bucket, bucket];
  const k = bucket - EXACT_LIMIT;
  const exponent = Math.floor(k / SUB_BUCKETS) + PRECISION_BITS + 1;
  const top = (k % SUB_BUCKETS) + SUB_BUCKETS;
  const width = 2 ** (exponent - PRECISION_BITS);
  return [top * width, (top + 1) * width - 1];
}

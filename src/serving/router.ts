/**
 * Traffic routing inside one deployment: which version answers a request (weighted split, sticky
 * keys, circuit breakers) and which versions get a shadow copy. Everything here runs on the hot
 * path, so it is counters and arithmetic: no allocation per request beyond the chosen route.
 */
import type { BreakerPolicy, StickySource } from '../registry/index.js';

/** Codes that mean the version failed (not the caller): what a circuit breaker counts. */
const VERSION_FAILURE_CODES = new Set(['INFERENCE_FAILED', 'DEADLINE_EXCEEDED', 'MODEL_UNAVAILABLE', 'MEMORY_BUDGET_EXCEEDED', 'ARTIFACT_CORRUPTED', 'ARTIFACT_UNTRUSTED', 'INTERNAL']);

/** Did this error code (and context) come from the version rather than from the request? */
export function isVersionFailure(code: string, context: Record<string, unknown>): boolean {
  return VERSION_FAILURE_CODES.has(code) || (code === 'INVALID_INPUT' && context['source'] === 'runtime');
}

/**
 * Smooth weighted round-robin over runs of requests, with percent weights. The choice is
 * deterministic, so a 90/10 split is exact over every 100 requests, not just on average. Each
 * pick holds for a run of `run` consecutive requests (default 10). Requests that arrive together
 * then reach a minority arm together, and its queue runs one fuller batch instead of a one-row
 * runtime call per event-loop turn. No request waits for this: it only changes which requests go
 * where.
 */
export class WeightedScheduler {
  private readonly current: Float64Array;
  private arm = 0;
  private left = 0;

  constructor(
    private readonly weights: readonly number[],
    private readonly run = 10,
  ) {
    this.current = new Float64Array(weights.length);
  }

  /** The next request's arm. */
  next(): number {
    if (this.left > 0) {
      this.left--;
      return this.arm;
    }
    const w = this.weights;
    const cur = this.current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < w.length; i++) {
      if (w[i]! <= 0) continue;
      cur[i]! += w[i]!;
      total += w[i]!;
      if (best < 0 || cur[i]! > cur[best]!) best = i;
    }
    if (best < 0) return 0;
    cur[best]! -= total;
    this.arm = best;
    this.left = this.run - 1;
    return best;
  }
}

/**
 * Where a sticky key lands: a 32-bit FNV-1a hash, avalanched, mapped into [0, 100) and onto the
 * cumulative shares. A key keeps its arm as long as the shares stay; growing a canary's share
 * moves only keys from the other arms onto it, never between the others.
 */
export function stickyArm(key: string, cumulative: readonly number[]): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // murmur3's finaliser: FNV alone clusters short numeric keys
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  const u = ((h >>> 0) / 0x1_0000_0000) * 100;
  for (let i = 0; i < cumulative.length; i++) if (u < cumulative[i]!) return i;
  return cumulative.length - 1;
}

/** What a breaker saw when it tripped. */
export interface BreakerTrip {
  requests: number;
  failures: number;
  windowMs: number;
  errorPercent: number;
}

/**
 * A rolling window of outcomes for one version in one deployment (ten buckets). Once open it
 * stays open: moving traffic back is a decision for a person or a rollout, recorded in the registry.
 */
export class CircuitBreaker {
  private readonly requests = new Uint32Array(10);
  private readonly failures = new Uint32Array(10);
  private readonly stamps = new Float64Array(10);
  private readonly bucketMs: number;
  open = false;

  constructor(private readonly policy: BreakerPolicy) {
    this.bucketMs = Math.max(1, policy.windowMs / 10);
  }

  /** Count one outcome; returns the trip when this one opens the breaker. */
  record(failed: boolean, now: number): BreakerTrip | null {
    if (this.open) return null;
    const slot = Math.floor(now / this.bucketMs);
    const i = slot % 10;
    if (this.stamps[i] !== slot) {
      this.stamps[i] = slot;
      this.requests[i] = 0;
      this.failures[i] = 0;
    }
    this.requests[i]!++;
    if (!failed) return null;
    this.failures[i]!++;
    let req = 0;
    let fail = 0;
    for (let j = 0; j < 10; j++) {
      if (slot - this.stamps[j]! >= 10) continue;
      req += this.requests[j]!;
      fail += this.failures[j]!;
    }
    if (req >= this.policy.minRequests && (fail / req) * 100 > this.policy.errorPercent) {
      this.open = true;
      return { requests: req, failures: fail, windowMs: this.policy.windowMs, errorPercent: this.policy.errorPercent };
    }
    return null;
  }
}

/** Read a request's sticky key from where the policy says it is. */
export function readStickyKey(
  sticky: { from: StickySource; name: string },
  req: { headers?: Readonly<Record<string, string | string[] | undefined>>; parameters?: Record<string, unknown>; inputs: readonly { name: string; data: ArrayLike<unknown> }[] },
): string | undefined {
  if (sticky.from === 'header') {
    const v = req.headers?.[sticky.name];
    return Array.isArray(v) ? v[0] : v;
  }
  if (sticky.from === 'parameter') {
    const v = req.parameters?.[sticky.name];
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined;
  }
  const t = req.inputs.find((x) => x.name === sticky.name);
  const v = t?.data[0];
  return v === undefined || v === null ? undefined : String(v);
}

/**
 * A deterministic share: `take()` is true for `percent` of calls, evenly spaced (a 10% shadow
 * copies every tenth request, not a random tenth).
 */
export class ShareCounter {
  private acc = 0;
  constructor(private readonly percent: number) {}
  take(): boolean {
    if (this.percent >= 100) return true;
    this.acc += this.percent;
    if (this.acc >= 100) {
      this.acc -= 100;
      return true;
    }
    return false;
  }
}

/**
 * Deadlines and retries, shared by both transports. A call has one deadline that covers every
 * attempt and every wait between them. A 429 or 503 is retried while attempts and time remain,
 * after the server's Retry-After when it sent one, else after a jittered exponential backoff.
 * Nothing else is retried: any other refusal would be refused again, and a request that may have
 * reached the model is not sent twice.
 */
import { BerthApiError, BerthClientError, RateLimitedError, UnavailableError } from './errors.js';

export interface RetryPolicy {
  /** attempts in all, the first included (default 4; 1 turns retries off) */
  attempts?: number;
  /** first backoff when the server gives no Retry-After (default 100 ms; doubles each time) */
  initialDelayMs?: number;
  /** longest single wait, Retry-After included (default 10 s) */
  maxDelayMs?: number;
}

/** Per-call options both transports take. */
export interface CallOptions {
  /** this call's deadline in ms from now (default: the client's `timeoutMs`) */
  timeoutMs?: number;
  /** cancels the call, waits included */
  signal?: AbortSignal;
  /** this call's retry policy (default: the client's) */
  retry?: RetryPolicy | false;
  /** extra request headers (gRPC: metadata) */
  headers?: Record<string, string>;
}

export interface ResolvedRetry {
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export function resolveRetry(p: RetryPolicy | false | undefined, fallback?: ResolvedRetry): ResolvedRetry {
  if (p === false) return { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 };
  const base = fallback ?? { attempts: 4, initialDelayMs: 100, maxDelayMs: 10_000 };
  const attempts = p?.attempts ?? base.attempts;
  if (!Number.isInteger(attempts) || attempts < 1) throw new BerthClientError('INVALID_ARGUMENT', `retry.attempts: expected an integer ≥ 1, got ${String(attempts)}`);
  return { attempts, initialDelayMs: p?.initialDelayMs ?? base.initialDelayMs, maxDelayMs: p?.maxDelayMs ?? base.maxDelayMs };
}

/** When a call must be over, as a `Date.now()` time. */
export function deadlineOf(timeoutMs: number): number {
  if (!(timeoutMs > 0)) throw new BerthClientError('INVALID_ARGUMENT', `timeoutMs: expected a positive number of milliseconds, got ${String(timeoutMs)}`);
  return Date.now() + timeoutMs;
}

export function deadlineError(timeoutMs: number, what: string): BerthClientError {
  return new BerthClientError('DEADLINE_EXCEEDED', `${what}: no answer within the ${timeoutMs} ms deadline; raise timeoutMs or retry later`);
}

export function abortedError(what: string, signal: AbortSignal): BerthClientError {
  return new BerthClientError('ABORTED', `${what}: aborted by the caller`, { cause: signal.reason });
}

function retriable(err: unknown): err is BerthApiError {
  return err instanceof RateLimitedError || err instanceof UnavailableError;
}

/**
 * Run `attempt` until it succeeds, fails with something not worth retrying, or the attempts or the
 * deadline run out; the last refusal is what the caller sees.
 */
export async function withRetries<T>(
  what: string,
  policy: ResolvedRetry,
  deadline: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  attempt: (deadline: number) => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n++) {
    if (signal?.aborted) throw abortedError(what, signal);
    if (Date.now() >= deadline) throw deadlineError(timeoutMs, what);
    try {
      return await attempt(deadline);
    } catch (err) {
      if (!retriable(err) || n >= policy.attempts) throw err;
      const backoff = policy.initialDelayMs * 2 ** (n - 1) * (0.5 + Math.random() / 2);
      const wait = Math.min(policy.maxDelayMs, err.retryAfterMs ?? backoff);
      // not worth waiting when the answer could not come back in time anyway
      if (Date.now() + wait >= deadline) throw err;
      await sleep(wait, signal, what);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal === undefined) {
      setTimeout(resolve, ms);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortedError(what, signal));
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

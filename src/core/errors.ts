/**
 * One catalog of every error Berth raises. Each entry has a stable `code`, the HTTP status a
 * protocol adapter should answer with, and a one-line summary used by `docs/errors.md`
 * (a test keeps the two in sync).
 */
export const ERROR_CATALOG = {
  INVALID_ARGUMENT: { status: 400, summary: 'A request or command argument is malformed.' },
  INVALID_INPUT: { status: 400, summary: 'An inference input does not match the model signature or card.' },
  INVALID_CARD: { status: 400, summary: 'A model card could not be parsed or contradicts the model.' },
  INVALID_MODEL: { status: 400, summary: 'A file is not a loadable ONNX model (truncated, random bytes, external data missing).' },
  INVALID_CONFIG: { status: 400, summary: 'Configuration (file, environment or flags) is invalid.' },
  MODEL_NOT_FOUND: { status: 404, summary: 'No registered model has that name.' },
  VERSION_NOT_FOUND: { status: 404, summary: 'The model has no such version or alias.' },
  DEPLOYMENT_NOT_FOUND: { status: 404, summary: 'No deployment has that name.' },
  NOT_FOUND: { status: 404, summary: 'The route or resource does not exist.' },
  ALREADY_EXISTS: { status: 409, summary: 'The thing being created already exists.' },
  ROLLOUT_STATE: { status: 409, summary: 'The rollout is not in a state that allows this action (another rollout holds the deployment, or it already ended).' },
  JOB_STATE: { status: 409, summary: 'The job is not in a state that allows this action (it already finished, or another replica runs it now).' },
  FAILED_PRECONDITION: { status: 409, summary: 'The request needs something the resource does not have yet (an explanation needs the version\'s reference data); the message says how to add it.' },
  GATE_FAILED: { status: 422, summary: 'A version failed a check it must pass before it gets traffic (evaluation, latency, size, signature).' },
  UNAUTHENTICATED: { status: 401, summary: 'The request carries no credentials, or they are invalid, expired or revoked.' },
  FORBIDDEN: { status: 403, summary: 'The credentials are valid but lack the scope this route needs.' },
  RATE_LIMITED: { status: 429, summary: 'A rate limit or quota (per token or per deployment) is used up; retry after the advertised delay.' },
  ARTIFACT_UNTRUSTED: { status: 422, summary: 'An artifact has no valid signature from a trusted key while signatures are required; it is never served.' },
  WRONG_ROLE: { status: 421, summary: 'This replica does not serve that route in its role (--role data serves inference, --role control the management API); send it to one that does.' },
  AUDIT_CHAIN_BROKEN: { status: 409, summary: 'The audit trail’s hash chain does not verify: a row was edited, removed or inserted.' },
  PAYLOAD_TOO_LARGE: { status: 413, summary: 'The request body, or the elements of its tensors, exceed the configured limits.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The request body has a content type Berth cannot read.' },
  QUEUE_FULL: { status: 429, summary: 'The model queue is full; retry after the advertised delay.' },
  DEADLINE_EXCEEDED: { status: 504, summary: 'The request timed out before the model could answer.' },
  CANCELLED: { status: 499, summary: 'The client went away (closed its connection or cancelled the call) while its request waited; it left the queue without running.' },
  MODEL_UNAVAILABLE: { status: 503, summary: 'The model is not loaded and cannot be loaded now (unloaded, failed or shutting down).' },
  MEMORY_BUDGET_EXCEEDED: { status: 503, summary: 'Loading the model would exceed the memory budget even after evicting idle models.' },
  ARTIFACT_CORRUPTED: { status: 500, summary: 'A stored artifact no longer matches its sha256; it is never served.' },
  INFERENCE_FAILED: { status: 500, summary: 'The runtime failed while running a batch.' },
  SERVER_UNREACHABLE: { status: 503, summary: 'The CLI could not reach the Berth server.' },
  UNAVAILABLE: { status: 503, summary: 'A service a job reads from or writes to (a batch input\'s or output\'s database, web server or bucket, a stream\'s NATS server) cannot be reached or dropped the connection; check it and run the job again (finished parts are kept, unacknowledged messages are redelivered).' },
  INTERNAL: { status: 500, summary: 'An unexpected internal error.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;
export const ERROR_CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];

/** Context that travels with an error: which model, version, field… */
export interface ErrorContext {
  model?: string;
  version?: number;
  deployment?: string;
  field?: string;
  expected?: unknown;
  got?: unknown;
  /** seconds a client should wait before retrying (429/503) */
  retryAfterSeconds?: number;
  [key: string]: unknown;
}

/**
 * The one error type Berth throws. The message says what was wrong, what was expected, what came,
 * and what to do next.
 *
 * @example
 * throw new BerthError('INVALID_INPUT', 'input "input": expected shape [-1, 30], got [1, 29]', { field: 'input' });
 */
export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BerthError';
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.context = context;
  }

  /** True for errors whose message may be shown to a remote caller as is. */
  get exposable(): boolean {
    return this.status < 500 || this.code === 'MODEL_UNAVAILABLE' || this.code === 'MEMORY_BUDGET_EXCEEDED' ||
      this.code === 'DEADLINE_EXCEEDED' || this.code === 'ARTIFACT_CORRUPTED';
  }
}

/** Wrap anything thrown into a BerthError (unknown errors become INTERNAL). */
export function toBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError('INTERNAL', message, {}, { cause: err });
}

export function isBerthError(err: unknown, code?: ErrorCode): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

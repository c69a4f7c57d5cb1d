/**
 * Errors as classes. Whatever the transport, a refusal from the server becomes a `BerthApiError`
 * subclass chosen by its HTTP status (gRPC statuses map to the same classes), carrying the
 * server's stable `code` (`INVALID_INPUT`, `QUEUE_FULL`, …), the field it names, and how long the
 * server asked the client to wait. Problems on this side (unreachable server, deadline, bad
 * arguments) are `BerthClientError`s.
 *
 * @example
 * try { await client.infer('fraud', inputs); }
 * catch (e) { if (e instanceof InvalidInputError) console.error(e.code, e.field, e.message); }
 */

/** What the server said about a refused request. */
export interface ApiErrorDetails {
  /** the server's stable error code, e.g. `INVALID_INPUT` (docs/errors.md) */
  code: string;
  /** the HTTP status (gRPC answers: the status the code stands for) */
  status: number;
  /** the request field the error is about, when the server named one */
  field?: string;
  expected?: unknown;
  got?: unknown;
  /** milliseconds the server asked to wait before retrying (429/503) */
  retryAfterMs?: number;
  /** `rest` or `grpc` */
  transport: 'rest' | 'grpc';
  /** the gRPC status code, for gRPC answers */
  grpcStatus?: number;
}

/** The server refused or failed a request. */
export class BerthApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly field: string | undefined;
  readonly expected: unknown;
  readonly got: unknown;
  readonly retryAfterMs: number | undefined;
  readonly transport: 'rest' | 'grpc';
  readonly grpcStatus: number | undefined;

  constructor(message: string, d: ApiErrorDetails) {
    super(message);
    this.name = new.target.name;
    this.code = d.code;
    this.status = d.status;
    this.field = d.field;
    this.expected = d.expected;
    this.got = d.got;
    this.retryAfterMs = d.retryAfterMs;
    this.transport = d.transport;
    this.grpcStatus = d.grpcStatus;
  }
}

/** 400/422: the request is malformed or does not fit the model (`INVALID_INPUT`, `INVALID_ARGUMENT`, `GATE_FAILED`…). */
export class InvalidRequestError extends BerthApiError {}
/** 401: no credentials, or invalid, expired or revoked ones. */
export class UnauthenticatedError extends BerthApiError {}
/** 403: valid credentials without the scope the route needs. */
export class ForbiddenError extends BerthApiError {}
/** 404: no such model, version, deployment or route. */
export class NotFoundError extends BerthApiError {}
/** 409: already exists, or the state does not allow it (a rollout in progress…). */
export class ConflictError extends BerthApiError {}
/** 413: the request is larger than the server's limits. */
export class PayloadTooLargeError extends BerthApiError {}
/** 421: this replica does not serve that route in its role. */
export class WrongRoleError extends BerthApiError {}
/** 429: a rate limit, quota or full queue; retried automatically while the retry budget lasts. */
export class RateLimitedError extends BerthApiError {}
/** 503: the model or server cannot answer now; retried automatically while the retry budget lasts. */
export class UnavailableError extends BerthApiError {}
/** 504: the server gave up waiting for the model. */
export class ServerTimeoutError extends BerthApiError {}
/** 5xx: the server failed. */
export class ServerError extends BerthApiError {}

/** The class for an HTTP status. */
export function apiErrorClass(status: number): typeof BerthApiError {
  switch (status) {
    case 400:
    case 422:
      return InvalidRequestError;
    case 401:
      return UnauthenticatedError;
    case 403:
      return ForbiddenError;
    case 404:
      return NotFoundError;
    case 409:
      return ConflictError;
    case 413:
      return PayloadTooLargeError;
    case 421:
      return WrongRoleError;
    case 429:
      return RateLimitedError;
    case 503:
      return UnavailableError;
    case 504:
      return ServerTimeoutError;
    default:
      return status >= 500 ? ServerError : status >= 400 ? InvalidRequestError : BerthApiError;
  }
}

/** Codes of errors raised on this side. */
export type ClientErrorCode =
  /** nothing answered at the address (refused, reset, DNS) */
  | 'UNREACHABLE'
  /** the call's deadline passed (including waits between retries) */
  | 'DEADLINE_EXCEEDED'
  /** the caller's AbortSignal fired */
  | 'ABORTED'
  /** the arguments cannot be sent (shape and data disagree, no datatype…) */
  | 'INVALID_ARGUMENT'
  /** the server's answer is not what the protocol promises */
  | 'BAD_RESPONSE'
  /** the client is closed, or this transport cannot do that (management over gRPC without a REST URL) */
  | 'UNSUPPORTED';

/** A problem on the client's side; `code` says which. */
export class BerthClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BerthClientError';
  }
}

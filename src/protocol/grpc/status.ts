/**
 * Berth's error codes as gRPC status codes: one table, checked by the compiler to cover every
 * code. The status message is the error's message; `berth-code` (and `retry-after` for 429-like
 * refusals) travel as trailing metadata, so a client can tell QUEUE_FULL from RATE_LIMITED.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { toBerthError, type ErrorCode } from '../../core/index.js';

export const GRPC_STATUS: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  INVALID_INPUT: status.INVALID_ARGUMENT,
  INVALID_CARD: status.INVALID_ARGUMENT,
  INVALID_MODEL: status.INVALID_ARGUMENT,
  INVALID_CONFIG: status.INVALID_ARGUMENT,
  MODEL_NOT_FOUND: status.NOT_FOUND,
  VERSION_NOT_FOUND: status.NOT_FOUND,
  DEPLOYMENT_NOT_FOUND: status.NOT_FOUND,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  ROLLOUT_STATE: status.FAILED_PRECONDITION,
  JOB_STATE: status.FAILED_PRECONDITION,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  GATE_FAILED: status.FAILED_PRECONDITION,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  FORBIDDEN: status.PERMISSION_DENIED,
  RATE_LIMITED: status.RESOURCE_EXHAUSTED,
  ARTIFACT_UNTRUSTED: status.FAILED_PRECONDITION,
  WRONG_ROLE: status.UNIMPLEMENTED,
  AUDIT_CHAIN_BROKEN: status.DATA_LOSS,
  PAYLOAD_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  UNSUPPORTED_MEDIA_TYPE: status.INVALID_ARGUMENT,
  QUEUE_FULL: status.RESOURCE_EXHAUSTED,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  MODEL_UNAVAILABLE: status.UNAVAILABLE,
  MEMORY_BUDGET_EXCEEDED: status.RESOURCE_EXHAUSTED,
  ARTIFACT_CORRUPTED: status.DATA_LOSS,
  INFERENCE_FAILED: status.INTERNAL,
  SERVER_UNREACHABLE: status.UNAVAILABLE,
  UNAVAILABLE: status.UNAVAILABLE,
  INTERNAL: status.INTERNAL,
};

/** A thrown error as what a gRPC handler answers: status, message and trailing metadata. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string; metadata: Metadata } {
  const e = toBerthError(err);
  const metadata = new Metadata();
  metadata.set('berth-code', e.code);
  if (typeof e.context.field === 'string') metadata.set('berth-field', e.context.field);
  const retry = e.context.retryAfterSeconds;
  if (typeof retry === 'number') metadata.set('retry-after', String(Math.max(1, Math.ceil(retry))));
  // internals stay hidden over gRPC as over HTTP: the server log has the details
  const details = e.exposable ? e.message : `internal error (${e.code}); the server log has the details`;
  return { code: GRPC_STATUS[e.code], details, message: details, metadata };
}

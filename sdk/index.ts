/**
 * The Berth TypeScript SDK (`import { createClient } from 'berth/sdk'`): a typed client for a
 * Berth server over REST or gRPC, with the same interface either way. Inference takes and gives
 * typed arrays; the management API (models, versions, aliases, deployments, rollouts, batch jobs,
 * pipelines and their runs) answers typed records; 429 and 503 are retried after the server's
 * Retry-After within one deadline; refusals are error classes carrying the server's code.
 * docs/sdk.md is the guide.
 *
 * @example
 * import { createClient } from 'berth/sdk';
 * const client = createClient({ url: 'grpc://localhost:8001', token: process.env.BERTH_TOKEN });
 * const r = await client.infer('bc-api', { input: { data: new Float32Array(30), shape: [1, 30] } });
 * console.log(r.output('probabilities').data);
 * await client.close();
 */
export { BerthClient, createClient, type ClientOptions } from './client.js';
export {
  apiErrorClass,
  BerthApiError,
  BerthClientError,
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ServerError,
  ServerTimeoutError,
  UnauthenticatedError,
  UnavailableError,
  WrongRoleError,
  type ApiErrorDetails,
  type ClientErrorCode,
} from './errors.js';
export type { TlsOptions, HttpCall } from './http.js';
export type { DeploymentsApi, JobsApi, LineageApi, ModelsApi, PipelinesApi, RolloutsApi, RunsApi } from './management.js';
export type { CallOptions, RetryPolicy } from './retry.js';
export { DATATYPES, type BytesElement, type Datatype, type InferInput, type InferInputs, type Tensor, type TensorData, type TensorDataMap } from './tensors.js';
export type * from './types.js';

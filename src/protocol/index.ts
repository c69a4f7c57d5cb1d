/**
 * Protocol adapters: they translate wire formats to and from the data plane and the registry,
 * and know nothing else. REST (Open Inference Protocol v2), the friendly predict endpoint and the
 * management API.
 */
export { registerV2Routes, parseVersion, type V2RestOptions } from './v2-rest.js';
export { registerPredictRoutes } from './predict-rest.js';
export { registerExplainRoutes } from './explain-rest.js';
export {
  registerManagementRoutes,
  REGISTER_BODY_LIMIT_BYTES,
  ACTOR_HEADER,
  type ManagementRestOptions,
  type RegisterUploadBody,
} from './management-rest.js';
export * from './management-api.js';
export { buildOpenApiDocument } from './openapi.js';
export { sendError, normalizeHttpError, errorAnswer, type ErrorAnswer } from './http-errors.js';
export { createFastInferHandler, type FastInferOptions, type InferInputLimits } from './fast-infer.js';
export { parseJsonBody, type JsonBodyLimits } from './json-body.js';
export * from './codec/index.js';
export { registerMonitorRoutes, type MonitorRestOptions } from './monitor-rest.js';
export { registerRolloutRoutes, type RolloutRestOptions } from './rollout-rest.js';
export { registerJobRoutes, type JobsRestOptions } from './jobs-rest.js';
export { registerPipelineRoutes, type PipelinesRestOptions } from './pipelines-rest.js';
export { registerUiRoutes, type UiStaticOptions } from './ui-static.js';
export { registerTrafficRoutes, type TrafficRestOptions } from './traffic-rest.js';
export { RequestGuard, principalOf, type GuardOptions, type RequestLimiter } from './guard.js';
export { ROUTE_ACCESS, routeAccess, routePlane, roleServes, describeAccess, renderRouteTable, type RouteAccess, type RoutePlane } from './route-access.js';
export { registerTokenRoutes, DEFAULT_TOKEN_LIFETIME_MS, type CreateTokenRequest } from './token-rest.js';
export { registerSignatureRoutes, type SignatureRestOptions } from './signature-rest.js';
export { createGrpcHandlers, startGrpcServer, inferencePackage, protoPath, PROTO_LOADER_OPTIONS, GRPC_CONNECTION_WINDOW_BYTES, GRPC_STREAM_WINDOW_BYTES, type GrpcServiceOptions, type GrpcListenOptions, type RunningGrpcServer } from './grpc/server.js';
export { GRPC_STATUS, toServiceError } from './grpc/status.js';

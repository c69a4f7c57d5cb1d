export { InferenceService, toManagedVersion } from './inference-service.js';
export type {
  DeploymentOverrides,
  DeploymentSource,
  InferenceObserver,
  InferenceRecord,
  FailureRecord,
  InferenceRequest,
  InferenceResponse,
  InferenceServiceOptions,
  InferenceTiming,
  ResolvedDeployment,
  ResolvedTraffic,
  Route,
  RequestRole,
  ShadowRecord,
  BreakerEvent,
} from './inference-service.js';
export { CircuitBreaker, ShareCounter, WeightedScheduler, isVersionFailure, stickyArm } from './router.js';
export { ModelManager, MODEL_STATES, versionKey } from './model-manager.js';
export type { LoadedEntry, LoadedModelInfo, ManagedVersion, ModelManagerObserver, ModelManagerOptions, ModelState } from './model-manager.js';
export { validateInputs } from './validate.js';
export { InferenceStatistics, type ModelStatisticsView, type StatisticDuration, type BatchStatistics, type InferStatistics } from './statistics.js';

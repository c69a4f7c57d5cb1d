/**
 * Continuous training: pipeline files, runs with cached and resumable steps, experiment tracking,
 * triggers and the built-in steps that evaluate, gate, register and roll out (docs/pipelines.md).
 */
export {
  BUILTIN_STEPS, STEP_CONDITIONS, parsePipeline, parsePipelineText, resolveParams, parseParamPairs, interpolate, interpolateDeep, referencesIn,
  type BuiltinStep, type BuiltinStepName, type CommandStep, type ParamValue, type PipelineSpec, type StepCondition, type StepSpec, type TriggerSpec,
} from './spec.js';
export {
  RunStore, briefRun, sourceSha256, RUN_STATES, STEP_STATES, FINISHED_RUN_STATES, FINISHED_STEP_STATES, runNotFound, localHolder, holderIsDeadHere,
  type DatasetFingerprint, type OutputFile, type PipelineRecord, type RunListOptions, type RunLogLine, type RunMetric, type RunRecord, type RunResult, type RunState, type RunTrigger, type StepRecord, type StepState,
} from './store.js';
export { executeRun, formatMs, type BuiltinContext, type BuiltinOutcome, type BuiltinRunner, type ExecutorOptions, type RunEvent } from './executor.js';
export { fingerprint, hashFile, type Fingerprint } from './fingerprint.js';
export { TrackingServer, parseLoggedMetrics, type LoggedMetric } from './tracking.js';
export { builtinSteps, type PipelineHost } from './builtins.js';
export { PipelineService, type AlertFiring, type PipelineServiceOptions } from './service.js';
export { versionLineage, datasetLineage, type VersionLineage, type DatasetLineage } from './lineage.js';

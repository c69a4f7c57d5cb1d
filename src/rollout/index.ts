/**
 * Safe rollouts: progressive delivery of a new model version (canary steps, shadow and preview
 * phases, blue-green switches) judged by analysis of live numbers, gated by checks before any
 * traffic, persisted as a state machine that survives restarts. Above monitoring; serving knows
 * nothing of it beyond the traffic policy it routes by.
 */
export { RolloutController, describeStep, type RolloutControllerOptions, type RolloutStatus, type LiveNumbers } from './controller.js';
export { RolloutStats, Reservoir, type DeploymentWindow, type VersionWindow, type ShadowWindow } from './stats.js';
export { SharedRolloutWindows, epochOf, type SharedWindowsOptions } from './shared-windows.js';
export { encodeWindow, decodeWindow, mergeWindows } from './window-codec.js';
export { analyse, jensenShannonDistance, predictionDistance, VERDICTS, type AnalysisResult, type CheckResult, type Verdict, type AccuracyNumbers } from './analysis.js';
export {
  parseRolloutRequest,
  parseAnalysisSpec,
  parseSteps,
  parseSticky,
  parseDuration,
  DEFAULT_ANALYSIS,
  ANALYSIS_METRICS,
  STRATEGIES,
  NO_DATA_POLICIES,
  type RolloutSpec,
  type RolloutStep,
  type StartRolloutRequest,
  type AnalysisSpec,
  type MetricCheck,
  type Strategy,
  type NoDataPolicy,
} from './spec.js';
export { RolloutStore, ROLLOUT_STATES, ACTIVE_STATES, DECISION_KINDS, type RolloutRecord, type RolloutDecision, type RolloutState, type DecisionKind } from './store.js';
export { runGates, parseGateSpec, checkSignatureCompatibility, type GateSpec, type GateResult, type GateReport, type GateContext } from './gates.js';

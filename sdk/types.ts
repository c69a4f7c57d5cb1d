/**
 * What the server answers, as the SDK types it: the Open Inference Protocol v2 shapes of the data
 * plane, and the JSON of Berth's management API (`/v1`). Written here rather than imported from the
 * server so the SDK stands alone; test/sdk/types.test.ts checks that the server's records fit them.
 */
import type { Datatype, Tensor } from './tensors.js';
import type { CallOptions } from './retry.js';

// ---- data plane (v2) -------------------------------------------------------------------------

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  /** -1 marks a dimension of any size */
  shape: number[];
  parameters?: Record<string, unknown>;
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  parameters?: Record<string, unknown>;
}

/** A count and the nanoseconds it took altogether. */
export interface StatisticDuration {
  count: number;
  ns: number;
}

/** The statistics extension's numbers for one version of one deployment. */
export interface ModelStatistics {
  name: string;
  version: string;
  /** epoch ms of the last request answered (0: none) */
  lastInference: number;
  /** rows answered */
  inferenceCount: number;
  /** runtime calls (batches) */
  executionCount: number;
  inferenceStats: {
    success: StatisticDuration;
    fail: StatisticDuration;
    queue: StatisticDuration;
    computeInput: StatisticDuration;
    computeInfer: StatisticDuration;
    computeOutput: StatisticDuration;
  };
  batchStats: { batchSize: number; computeInfer: StatisticDuration }[];
}

/** One entry of the repository index. */
export interface RepositoryModel {
  name: string;
  version?: string;
  state?: string;
  reason?: string;
}

/** Per-call options of `infer`. */
export interface InferOptions extends CallOptions {
  /** a version of the deployment's model (default: whatever the deployment routes to) */
  version?: number | string;
  /** the request id echoed in the answer */
  id?: string;
  /** only these outputs (default: all) */
  outputs?: string[];
  /** request parameters */
  parameters?: Record<string, unknown>;
  /**
   * REST only: send and receive tensors with the binary extension (default: the client's `binary`,
   * itself true). JSON is the fallback for servers without the extension.
   */
  binary?: boolean;
}

/** What `infer` answers. */
export interface InferResult {
  /** the deployment */
  modelName: string;
  modelVersion: string | undefined;
  id: string | undefined;
  parameters: Record<string, unknown> | undefined;
  outputs: Tensor[];
  /** one output by name; throws when the answer has no such output */
  output(name: string): Tensor;
}

/** The friendly endpoint's answer (`POST /v1/deployments/{name}/predict`). */
export interface PredictResult {
  deployment: string;
  model: string;
  version: number;
  request_id: string;
  predictions: { label?: string | number; probabilities?: Record<string, number>; value?: number | number[]; [k: string]: unknown }[];
}

/** Options of an explain request (all optional). */
export interface ExplainOptions {
  /** auto (default): exact TreeSHAP when the model is a tree ensemble, else Kernel SHAP */
  method?: 'auto' | 'tree' | 'tree-interventional' | 'kernel' | 'lime';
  /** Kernel SHAP: coalitions per row (default 2048) */
  budget?: number;
  /** classifiers: the class explained (default: each row's predicted class) */
  class?: string;
  link?: 'identity' | 'logit';
  seed?: number;
  /** answer rows explained before from the server's cache, and keep these */
  cache?: boolean;
  /** LIME: perturbed samples per row (default 5000) */
  samples?: number;
}

/** One feature's contribution to one row's prediction. */
export interface FeatureContribution {
  feature: string;
  value: number | string | boolean | null;
  contribution: number;
  standard_error?: number;
  /** LIME: the row's bin of the feature */
  condition?: string;
}

/** An answer of `POST /v1/deployments/{name}/explain`: per row, base_value + Σ contributions = prediction. */
export interface ExplainResult {
  deployment?: string;
  model: string;
  version: number;
  method: 'tree-path-dependent' | 'tree-interventional' | 'kernel' | 'lime';
  exact: boolean;
  space: 'margin' | 'log-odds' | 'probability' | 'logit' | 'score' | 'value';
  output: string;
  background: { rows: number; method: string; source: string };
  coalitions?: number;
  budget?: number;
  samples?: number;
  evaluations: number;
  /** rows answered from the cache */
  cached: number;
  milliseconds: number;
  explanations: { class: string | null; base_value: number; prediction: number; output: number; contributions: FeatureContribution[]; fidelity?: number }[];
}

/** An explain job: a request too large to answer at once (or sent with `async: true`). */
export interface ExplainJob {
  id: number;
  kind: 'explain';
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  deployment: string;
  model: string;
  version: number;
  actor: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  holder: string | null;
  attempts: number;
  cancelRequested: boolean;
  progress: { rowsDone: number; rowsTotal: number | null; seconds: number; rowsPerSecond: number } | null;
  estimate: { method: string; rows: number; evaluations: number };
  summary: { result: string; rows: number; evaluations: number; milliseconds: number } | null;
  error: { code: string; message: string } | null;
}

/** The answer of an explain request that was queued (202). */
export interface ExplainQueued {
  job: ExplainJob;
  message: string;
}

/** An answer of `POST /v1/deployments/{name}/importance`: every feature, most important first. */
export interface ImportanceResult {
  deployment?: string;
  model: string;
  version: number;
  class?: string;
  metric: 'accuracy' | 'r2' | 'rmse' | 'mae' | 'log-loss' | 'roc-auc';
  baseline: number;
  repeats: number;
  confidence: number;
  rows: number;
  evaluations: number;
  features: { feature: string; mean: number; sd: number; low: number; high: number }[];
  milliseconds: number;
}

// ---- management (/v1) -------------------------------------------------------------------------

export type Tags = Record<string, string>;

export interface ModelRecord {
  name: string;
  description: string | null;
  tags: Tags;
  createdAt: string;
  updatedAt: string;
  latestVersion: number | null;
  versionCount: number;
  /** alias → version */
  aliases: Record<string, number>;
}

/** One input or output of a model's signature, with what its card adds. */
export interface SignatureTensor {
  name: string;
  datatype: Datatype;
  /** -1 marks a dimension of any size */
  shape: number[];
  dimNames?: (string | null)[];
  /** the card's feature names, one per column */
  featureNames?: string[];
  /** allowed strings (categorical inputs) */
  vocabulary?: string[];
  validRange?: [number, number];
  allowNonFinite?: boolean;
  description?: string;
}

export interface VersionRecord {
  model: string;
  version: number;
  sha256: string;
  sizeBytes: number;
  signature: { inputs: SignatureTensor[]; outputs: SignatureTensor[]; batchable: boolean };
  /** the model card (docs/model-card.md) */
  card: object | null;
  /** where the model came from: source path, git commit, training run */
  lineage: object;
  tags: Tags;
  description: string | null;
  createdAt: string;
  createdBy: string;
  sourcePath: string;
  /** the reference data kept for monitoring, and its profile */
  reference: object | null;
}

export interface ModelList {
  models: ModelRecord[];
}
export interface VersionList {
  versions: VersionRecord[];
}

/** Metadata changes: `null` clears the description; tags merge (use `deleteTag` to remove one). */
export interface MetadataPatch {
  description?: string | null;
  tags?: Tags;
}

/** A model version to upload. */
export interface RegisterRequest {
  /** the ONNX file's bytes */
  model: Uint8Array;
  /** its file name (default `model.onnx`) */
  fileName?: string;
  /** the model card's text (YAML or JSON) */
  card?: string;
  cardFileName?: string;
  /** reference (training) data as CSV bytes, for monitoring */
  reference?: Uint8Array;
  referenceFileName?: string;
  description?: string;
  tags?: Tags;
  /** the path the file was registered from, as recorded in the version */
  sourcePath?: string;
  /** where the model came from (git commit, branch, training run…) */
  lineage?: Record<string, unknown>;
}

export interface RegisterResult {
  created: boolean;
  version: VersionRecord;
}

export interface AliasMoveResult {
  model: string;
  alias: string;
  version: number;
  previousVersion: number | null;
  changed: boolean;
}

export interface AliasDeleteResult {
  model: string;
  alias: string;
  deleted: true;
  previousVersion: number | null;
}

export type DeploymentTarget = { kind: 'alias'; alias: string } | { kind: 'version'; version: number };

/** Per-deployment overrides of batching and lifecycle (absent: the card's, then the server's). */
export interface DeploymentSettings {
  maxBatchSize?: number;
  maxQueueDelayMs?: number;
  maxQueueSize?: number;
  timeoutMs?: number;
  minLoaded?: number;
  idleUnloadMs?: number;
}

export interface TrafficArm {
  version: number;
  /** percent of primary traffic */
  percent: number;
}

/** How traffic spreads beyond the target (docs/rollouts.md). */
export interface TrafficPolicy {
  split: TrafficArm[];
  sticky: { from: 'header' | 'parameter' | 'input'; name: string } | null;
  shadows: TrafficArm[];
  preview: number | null;
  fallback: number | null;
  fallbackWarmUntil: number | null;
  breaker: { errorPercent: number; minRequests: number; windowMs: number } | null;
}

export interface DeploymentRecord {
  name: string;
  model: string;
  target: DeploymentTarget;
  settings: DeploymentSettings;
  traffic: TrafficPolicy | null;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

/** What `deploy` sends: the model and what to serve of it (an alias, followed as it moves, or a pinned version). */
export interface DeployRequest {
  model: string;
  alias?: string;
  version?: number;
  settings?: DeploymentSettings;
  /** weighted split, sticky key, shadows, preview, fallback, breaker; null clears */
  traffic?: Partial<TrafficPolicy> | null;
}

export interface DeployResult {
  deployment: DeploymentRecord;
  created: boolean;
  changed: boolean;
}

/** A deployment with what it serves now. */
export interface DeploymentView {
  deployment: DeploymentRecord;
  /** the version it serves (its alias resolved); null when the target resolves to nothing */
  servedVersion: number | null;
  /** why it serves nothing, when `servedVersion` is null */
  problem?: string;
  /** the server's live state of its model (loaded, memory, queue…) */
  live: object | null;
}

export interface DeploymentList {
  deployments: DeploymentView[];
}

export interface RolloutRecord {
  id: number;
  deployment: string;
  model: string;
  fromVersion: number;
  toVersion: number;
  strategy: 'canary' | 'blue-green';
  /** the steps, analysis and gates it runs with */
  spec: object;
  /** progressing and paused hold the deployment; the others are final */
  state: 'progressing' | 'paused' | 'promoted' | 'aborted' | 'failed' | 'blocked' | 'rolled-back';
  /** index into the spec's steps */
  step: number;
  currentStep: { kind: 'weight'; percent: number } | { kind: 'shadow' } | { kind: 'preview' };
  stepStartedAtMs: number;
  /** when the controller analyses next; null while it waits for a person */
  nextAtMs: number | null;
  /** consecutive failed analyses */
  failures: number;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  actor: string;
}

/** What `rollouts.start` sends (docs/rollouts.md describes every field). */
export interface StartRolloutRequest {
  toVersion: number;
  /** canary (the default) or blue-green */
  strategy?: 'canary' | 'blue-green';
  /** `"5,25,50,100"`, `"shadow,10,50,100"`, or the list */
  steps?: string | (number | 'shadow' | 'preview')[];
  /** `"10m"`, `"30s"` or milliseconds per step */
  interval?: string | number;
  analysis?: unknown;
  gates?: unknown;
  keepOld?: string | number;
  sticky?: string | { from: 'header' | 'parameter' | 'input'; name: string } | null;
  /** what an analysis without enough data does */
  noData?: 'pause' | 'fail' | 'pass';
  allowBreaking?: boolean;
}

export interface DeploymentDeleteResult {
  name: string;
  deleted: true;
}

export interface WhoAmI {
  kind: string;
  id: string;
  name: string;
  scopes: string[];
  expiresAt: string | null;
  rateLimit: { rate: number; burst: number } | null;
}

/** A batch job to run on the server (`jobs.submit`; docs/batch.md describes every field). */
export interface JobRequest {
  /** NAME, NAME@version or NAME@alias: resolved when the job is submitted */
  model: string;
  /** a path on the server (relative: under its jobs root), a URL, or a database URL with `query` */
  input: string;
  inputFormat?: 'csv' | 'jsonl' | 'parquet';
  query?: string;
  /** a path on the server, written atomically when the job is done, or a database table URL */
  output: string;
  format?: 'csv' | 'jsonl' | 'parquet';
  ifExists?: string;
  key?: string[];
  onError?: 'fail' | 'skip';
  batchRows?: number;
  partRows?: number;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A server job: where it is, how far it got, how it ended. */
export interface JobRecord {
  id: number;
  kind: 'batch';
  state: JobState;
  ref: string;
  model: string;
  version: number;
  spec: JobRequest;
  actor: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  holder: string | null;
  attempts: number;
  cancelRequested: boolean;
  progress: { rowsDone: number; rowsTotal: number | null; rowsPerSecond: number; seconds: number } | null;
  /** rowsIn, rowsOut, rejected, seconds, rowsPerSecond, parts, output… */
  summary: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  schedule: string | null;
  scheduledAt: string | null;
}

export interface JobLogs {
  job: number;
  state: string;
  lines: { seq: number; at: string; level: 'info' | 'warn' | 'error'; message: string }[];
  /** pass as `after` to read only newer lines */
  next: number;
}

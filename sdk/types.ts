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

// ---- pipelines, runs and lineage (/v1/pipelines, /v1/runs, /v1/lineage) ------------------------

/** A param's value: each keeps the type of its default in the pipeline file. */
export type ParamValue = string | number | boolean;

/** queued and running runs move on; the others are final. */
export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** `cached`: its outputs were reused from an earlier run; `skipped`: its `when` did not hold. */
export type StepState = 'pending' | 'running' | 'succeeded' | 'cached' | 'failed' | 'skipped' | 'cancelled';

interface PipelineStepBase {
  name: string;
  /** steps that must end before this one starts */
  needs: string[];
  /** `success`: every needed step succeeded; `failure`: one failed; `always` */
  when: 'success' | 'failure' | 'always';
  /** null: no limit */
  timeoutMs: number | null;
  /** extra attempts after a failure */
  retries: number;
  /** wait before the first retry, doubling each time */
  backoffMs: number;
  /** reuse the outputs of an earlier run with the same cache key */
  cache: boolean;
}

/** A step that runs a command (training, feature engineering…). */
export interface PipelineCommandStep extends PipelineStepBase {
  kind: 'command';
  /** argv (run directly) or one string (run by `sh -c`); `${…}` references unresolved */
  run: string[] | string;
  env: Record<string, string>;
  /** files or directories it reads (hashed into its cache key) */
  inputs: string[];
  /** the inputs that are datasets (fingerprinted for lineage) */
  data: string[];
  /** output name → file it writes into its output directory */
  outputs: Record<string, string>;
  cwd: string | null;
}

/** A step Berth carries out itself. */
export interface PipelineBuiltinStep extends PipelineStepBase {
  kind: 'builtin';
  uses: 'evaluate' | 'compare' | 'register' | 'rollout' | 'notify';
  /** its arguments, `${…}` references unresolved */
  with: Record<string, unknown>;
}

export type PipelineTrigger =
  | { kind: 'schedule'; id: string; cron: string; timezone: string; missed: 'skip' | 'run-once' | 'run-all' }
  | { kind: 'alert'; id: string; rule: string | null; deployment: string | null; cooldownMs: number }
  | { kind: 'feedback'; id: string; deployment: string; labels: number };

/** A pipeline file as the server checked it (docs/pipelines.md describes the file). */
export interface PipelineSpecView {
  name: string;
  description: string | null;
  /** the params' defaults; a run overrides them */
  params: Record<string, ParamValue>;
  /** in an order that respects `needs` */
  steps: (PipelineCommandStep | PipelineBuiltinStep)[];
  triggers: PipelineTrigger[];
}

/** A pipeline stored on the server. */
export interface PipelineRecord {
  name: string;
  /** increases each time the stored text changes */
  version: number;
  spec: PipelineSpecView;
  /** the file's text as sent */
  source: string;
  sha256: string;
  /** the directory on the server its commands run in */
  workdir: string;
  /** whether its triggers start runs (`pause` / `resume`) */
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  actor: string;
}

export interface PipelinePutResult {
  pipeline: PipelineRecord;
  created: boolean;
  /** false when the same text and workdir were stored already */
  changed: boolean;
}

export interface PipelineList {
  pipelines: PipelineRecord[];
}

export interface PipelineDeleteResult {
  pipeline: string;
  deleted: true;
}

/** What started a run. */
export interface RunTrigger {
  kind: 'cli' | 'api' | 'schedule' | 'alert' | 'feedback' | 'git';
  /** the alert, the cron instant, the label count, the commit… */
  detail?: Record<string, unknown>;
}

/** What `pipelines.run` sends: param values and what started it (default `{kind: 'api'}`). */
export interface StartRunRequest {
  /** values for params the pipeline declares; strings are converted to the declared type */
  params?: Record<string, ParamValue>;
  /** `api`, or `git` with what identifies the change (`{kind: 'git', commit: '<sha>'}`), kept as the trigger's detail */
  trigger?: { kind: 'api' | 'git'; [detail: string]: unknown };
}

/** A file a step wrote, as stored. */
export interface OutputFile {
  file: string;
  sha256: string;
  bytes: number;
}

export interface StepRecord {
  name: string;
  state: StepState;
  attempts: number;
  cacheKey: string | null;
  /** the run whose outputs a cached step reused */
  cachedFrom: number | null;
  /** output name → the file */
  outputs: Record<string, OutputFile> | null;
  /** a built-in step's answer (an evaluation, a gate's verdict, the version registered) */
  result: Record<string, unknown> | null;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  error: { code: string; message: string } | null;
}

/** What a run produced that others care about. */
export interface RunResult {
  model?: string;
  version?: number;
  deployment?: string;
  rollout?: number;
  /** a compare gate's verdict */
  gate?: { passed: boolean; reasons: string[] };
}

/** A pipeline run, as listed, started and cancelled (`runs.get` adds its spec, metrics and datasets). */
export interface RunRecord {
  id: number;
  pipeline: string;
  /** the stored pipeline's version it runs (null: a local run of a file) */
  pipelineVersion: number | null;
  state: RunState;
  /** every param, defaults included */
  params: Record<string, ParamValue>;
  trigger: RunTrigger;
  workdir: string;
  /** the git commit of the workdir when the run was created */
  code: { commit: string; dirty?: boolean; remote?: string } | null;
  /** `server`: queued and run by the server; `local`: run by the CLI against the same registry */
  mode: 'local' | 'server';
  actor: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** the process running it */
  holder: string | null;
  attempts: number;
  cancelRequested: boolean;
  error: { code: string; message: string } | null;
  result: RunResult | null;
  sourceSha256: string;
  steps: StepRecord[];
}

/** A metric a step logged (`$BERTH_METRICS_FILE` or `$BERTH_TRACKING_URL`). */
export interface RunMetric {
  step: string;
  key: string;
  value: number;
  /** the training step (epoch) it was logged at */
  metricStep: number | null;
  at: string;
}

/** A file or directory a step declared as data, fingerprinted when it ran. */
export interface DatasetFingerprint {
  path: string;
  sha256: string;
  bytes: number;
}

/** One run with what `GET /v1/runs/{id}` adds: the spec it runs with, its metrics and datasets. */
export interface RunDetail extends RunRecord {
  spec: PipelineSpecView;
  metrics: RunMetric[];
  datasets: (DatasetFingerprint & { step: string })[];
}

export interface RunList {
  runs: RunRecord[];
}

/** Which runs `runs.list` answers, newest first. */
export interface RunFilter {
  pipeline?: string;
  state?: RunState;
  /** at most this many (default 50, at most 500) */
  limit?: number;
  /** only runs with a smaller id (paging) */
  before?: number;
}

/** One line of a run's output. */
export interface RunLogLine {
  /** increasing within the run: pass the last one as `after` */
  seq: number;
  /** the step, or `run` for lines about the run itself */
  step: string;
  at: string;
  /** `berth`: what Berth says about the step (the command, a cache hit, a failure) */
  stream: 'stdout' | 'stderr' | 'berth';
  line: string;
}

export interface RunLogs {
  run: number;
  /** the run's state when the lines were read: once it is final, no more lines come */
  state: RunState;
  lines: RunLogLine[];
  /** pass as `after` to read only newer lines */
  next: number;
}

/** Where a model version came from. */
export interface VersionLineage {
  model: string;
  version: number;
  sha256: string;
  registeredAt: string;
  /** what the registry holds: pipeline, pipelineRun, gitCommit, datasets, params, parent… */
  lineage: Record<string, unknown>;
  /** the run that registered it, when it is in this registry */
  run: (RunRecord & { metrics: RunMetric[] }) | null;
}

/** The runs that read a dataset, and the versions they registered. */
export interface DatasetLineage {
  /** the sha256 (or prefix) asked about */
  dataset: string;
  runs: { run: number; step: string; path: string; sha256: string }[];
  versions: { model: string; version: number; runs: number[] }[];
}

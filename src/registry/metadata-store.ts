import type { Generated, Kysely } from 'kysely';

/*
 * The metadata tables, as Kysely sees them. Kept portable between SQLite and PostgreSQL:
 * JSON is stored as text, booleans as 0/1 integers, times as epoch milliseconds (bigint),
 * so one set of queries runs on both.
 */

export interface ModelsTable {
  name: string;
  description: string | null;
  /** JSON object of string → string */
  tags: string;
  created_at: number;
  updated_at: number;
}

export interface VersionsTable {
  model: string;
  version: number;
  sha256: string;
  size_bytes: number;
  /** JSON Signature */
  signature: string;
  /** JSON ModelCard or null */
  card: string | null;
  /** JSON Lineage */
  lineage: string;
  tags: string;
  description: string | null;
  created_at: number;
  created_by: string;
  source_path: string;
  /** JSON ReferenceDataRecord or null */
  reference: string | null;
}

export interface AliasesTable {
  model: string;
  alias: string;
  version: number;
  updated_at: number;
}

export interface AliasHistoryTable {
  id: Generated<number>;
  model: string;
  alias: string;
  version: number | null;
  previous_version: number | null;
  change: string;
  at: number;
  actor: string;
}

export interface DeploymentsTable {
  name: string;
  model: string;
  /** JSON DeploymentTarget */
  target: string;
  /** JSON DeploymentSettings */
  settings: string;
  /** JSON TrafficPolicy, or null (all traffic to the target) */
  traffic: string | null;
  revision: number;
  created_at: number;
  updated_at: number;
}

export interface DeploymentHistoryTable {
  name: string;
  revision: number;
  model: string;
  target: string;
  settings: string;
  traffic: string | null;
  change: string;
  deleted: number;
  at: number;
  actor: string;
}

export interface AuditTable {
  id: Generated<number>;
  at: number;
  actor: string;
  action: string;
  target: string;
  model: string | null;
  /** JSON object */
  details: string;
  /** the client address of the request that made the change (null: CLI on the data dir, or the server itself) */
  source: string | null;
  /** hash of the previous row (null for the first) */
  prev_hash: string | null;
  /** sha256 over prev_hash and this row's canonical form */
  hash: string | null;
}

/** A named lease: one holder at a time until it expires (renewed by its holder). */
export interface LeasesTable {
  name: string;
  holder: string;
  acquired_at: number;
  expires_at: number;
}

/**
 * One replica's numbers for one rollout step of a deployment (`epoch` names the step: rollout id
 * and step start), serialised by the rollout layer; the leader merges every replica's.
 */
export interface RolloutWindowsTable {
  deployment: string;
  epoch: string;
  replica: string;
  updated_at: number;
  body: string;
}

/** A label for one row of an answered request (a correction replaces it). */
export interface FeedbackTable {
  deployment: string;
  request_id: string;
  row: number;
  label: string;
  received_at: number;
}

/** A signature over a version's artifact sha256 by a key (verified against trusted public keys). */
export interface ArtifactSignaturesTable {
  model: string;
  version: number;
  /** sha256 fingerprint of the signing key's public half (SPKI DER), hex */
  key_id: string;
  algorithm: string;
  /** base64 */
  signature: string;
  signed_at: number;
  signed_by: string;
}

/** An API token: only a slow hash of its secret is stored (the security layer makes and checks it). */
export interface TokensTable {
  id: string;
  name: string;
  /** `scrypt$N$r$p$salt$hash` (base64url) */
  hash: string;
  /** JSON array of scope strings */
  scopes: string;
  /** JSON {rate, burst} or null */
  rate_limit: string | null;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
  last_used_at: number | null;
}

/** One progressive rollout of a deployment (the rollout layer's persisted state machine). */
export interface RolloutsTable {
  id: Generated<number>;
  deployment: string;
  model: string;
  from_version: number;
  to_version: number;
  strategy: string;
  /** JSON: steps, interval, analysis, gates, no-data policy… */
  spec: string;
  state: string;
  step: number;
  step_started_at: number;
  /** when the controller acts next (epoch ms), null when it waits for a person */
  next_at: number | null;
  failures: number;
  reason: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  actor: string;
}

/** Every decision a rollout took, with the numbers it was based on. */
export interface RolloutDecisionsTable {
  id: Generated<number>;
  rollout_id: number;
  at: number;
  step: number;
  kind: string;
  verdict: string | null;
  state: string;
  /** JSON */
  details: string;
  actor: string;
}

/** A batch job the server runs (the jobs layer's records); JSON columns are serialised by it. */
export interface JobsTable {
  id: Generated<number>;
  kind: string;
  state: string;
  model: string;
  version: number;
  /** what the submitter asked for (`credit@production`); `version` is what it resolved to */
  ref: string;
  /** JSON: the job's spec */
  spec: string;
  actor: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** the replica running it, while it holds the lease */
  holder: string | null;
  lease_until: number | null;
  attempts: number;
  cancel_requested: number;
  /** JSON */
  progress: string | null;
  /** JSON */
  summary: string | null;
  /** JSON: code and message */
  error: string | null;
  /** the schedule that submitted it, and for which instant */
  schedule: string | null;
  scheduled_at: number | null;
}

/** One line of a job's log. */
export interface JobLogsTable {
  job_id: number;
  seq: number;
  at: number;
  level: string;
  message: string;
}

/** A cron schedule that submits a job spec. */
export interface SchedulesTable {
  name: string;
  cron: string;
  timezone: string;
  /** skip | run-once | run-all */
  missed: string;
  /** JSON: the job request */
  spec: string;
  enabled: number;
  created_at: number;
  updated_at: number;
  actor: string;
  /** the last instant a run was submitted for */
  last_scheduled_at: number | null;
  next_at: number;
  last_job: number | null;
}

export interface PipelinesTable {
  name: string;
  version: number;
  /** JSON: the checked spec */
  spec: string;
  /** the file's text as sent */
  source: string;
  sha256: string;
  /** where its commands run (a directory on the server) */
  workdir: string;
  enabled: number;
  created_at: number;
  updated_at: number;
  actor: string;
}

export interface PipelineVersionsTable {
  name: string;
  version: number;
  source: string;
  sha256: string;
  workdir: string;
  created_at: number;
  actor: string;
}

export interface PipelineRunsTable {
  id: Generated<number>;
  pipeline: string;
  /** the stored pipeline's version; null for a run of a file */
  pipeline_version: number | null;
  /** JSON: the spec it runs with (a resume never re-reads the file) */
  spec: string;
  source_sha256: string;
  /** JSON */
  params: string;
  /** JSON: what started it */
  trigger: string;
  workdir: string;
  /** JSON: git commit and dirty flag of the workdir */
  code: string | null;
  /** local (a CLI process) | server */
  mode: string;
  state: string;
  actor: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  holder: string | null;
  lease_until: number | null;
  attempts: number;
  cancel_requested: number;
  /** JSON */
  error: string | null;
  /** JSON: the model version it registered, the rollout it started */
  result: string | null;
}

export interface PipelineStepsTable {
  run_id: number;
  name: string;
  state: string;
  attempts: number;
  cache_key: string | null;
  /** the run whose outputs a cached step reused */
  cached_from: number | null;
  /** JSON: output name → {file, sha256, bytes} */
  outputs: string | null;
  /** JSON: a built-in step's answer */
  result: string | null;
  started_at: number | null;
  finished_at: number | null;
  exit_code: number | null;
  error: string | null;
}

export interface PipelineLogsTable {
  run_id: number;
  seq: number;
  step: string;
  at: number;
  /** stdout | stderr | berth */
  stream: string;
  line: string;
}

export interface RunMetricsTable {
  run_id: number;
  step: string;
  key: string;
  value: number;
  /** the training step (epoch, iteration) it was logged at */
  metric_step: number | null;
  at: number;
}

export interface RunDatasetsTable {
  run_id: number;
  step: string;
  path: string;
  sha256: string;
  bytes: number;
}

export interface PipelineCacheTable {
  cache_key: string;
  pipeline: string;
  step: string;
  run_id: number;
  /** JSON: output name → {file, sha256, bytes} (blobs in the artifact store) */
  outputs: string;
  created_at: number;
}

export interface PipelineTriggersTable {
  pipeline: string;
  trigger_id: string;
  /** JSON: the last cron instant, feedback watermark, alert firing */
  state: string;
  updated_at: number;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: number;
}

/** Every table of the registry database. */
export interface RegistryDatabase {
  models: ModelsTable;
  versions: VersionsTable;
  aliases: AliasesTable;
  alias_history: AliasHistoryTable;
  deployments: DeploymentsTable;
  deployment_history: DeploymentHistoryTable;
  audit: AuditTable;
  rollouts: RolloutsTable;
  rollout_decisions: RolloutDecisionsTable;
  tokens: TokensTable;
  artifact_signatures: ArtifactSignaturesTable;
  leases: LeasesTable;
  rollout_windows: RolloutWindowsTable;
  feedback: FeedbackTable;
  jobs: JobsTable;
  job_logs: JobLogsTable;
  schedules: SchedulesTable;
  pipelines: PipelinesTable;
  pipeline_versions: PipelineVersionsTable;
  pipeline_runs: PipelineRunsTable;
  pipeline_steps: PipelineStepsTable;
  pipeline_logs: PipelineLogsTable;
  run_metrics: RunMetricsTable;
  run_datasets: RunDatasetsTable;
  pipeline_cache: PipelineCacheTable;
  pipeline_triggers: PipelineTriggersTable;
  berth_schema_migrations: SchemaMigrationsTable;
}

export const METADATA_DIALECTS = ['sqlite', 'postgres'] as const;
export type MetadataDialect = (typeof METADATA_DIALECTS)[number];

/**
 * Where registry metadata lives. Implementations differ only in how they connect and how they
 * lock for a write transaction; every query is written once against `db` with Kysely.
 *
 * @example
 * const store = new SqliteMetadataStore({ path: '.berth/berth.db' });
 * await store.migrate();
 * const names = await store.db.selectFrom('models').select('name').execute();
 */
export interface MetadataStore {
  readonly dialect: MetadataDialect;
  /** for reads; writes go through `transaction` */
  readonly db: Kysely<RegistryDatabase>;
  /**
   * Run `fn` as one serialisable write transaction (committed when it resolves, rolled back when
   * it throws). Writers never interleave: SQLite takes the write lock up front (BEGIN IMMEDIATE),
   * PostgreSQL would take an advisory lock. Use only the `trx` handed in inside `fn`.
   */
  transaction<T>(fn: (trx: Kysely<RegistryDatabase>) => Promise<T>): Promise<T>;
  /** Bring the schema to the latest version (idempotent, safe when several processes start at once). */
  migrate(): Promise<void>;
  /**
   * Hear of changes other processes commit, as soon as they commit (PostgreSQL LISTEN/NOTIFY);
   * absent where the store cannot push (SQLite: callers poll). Resolves to an unsubscribe.
   */
  subscribe?(onChange: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

import type { Lineage } from '../core/index.js';
import type { AlertEvent, AlertStatus, FeedbackResult, MonitorReport, ProfileResult, ReportRequest } from '../monitor/index.js';

/** `GET /v1/alerts` */
export interface AlertsView {
  rules: { name: string; deployment: string; when: string; window: string; severity: string }[];
  alerts: AlertStatus[];
  events: AlertEvent[];
}
import type {
  AliasDeleteResult,
  AliasHistoryView,
  AuditList,
  DeployRequest,
  DeploymentDeleteResult,
  DeploymentHistoryView,
  DeploymentList,
  DeploymentView,
  MetadataPatch,
  ModelList,
  StatusView,
  VersionList,
} from '../protocol/index.js';
import type {
  AliasMoveResult,
  AuditVerification,
  DeployResult,
  DeploymentRecord,
  ModelRecord,
  RegisterVersionResult,
  VersionRecord,
} from '../registry/index.js';
import type { CreateTokenRequest } from '../protocol/index.js';
import type { TokenView } from '../security/index.js';
import type { RolloutRecord, RolloutStatus, StartRolloutRequest } from '../rollout/index.js';
import type { SignatureReport, SignatureUpload, SignatureUploadResult } from '../security/index.js';

/** What a person can do to a rollout in progress (`POST /v1/deployments/{name}/rollout/<action>`). */
export const ROLLOUT_ACTIONS = ['pause', 'resume', 'promote', 'abort'] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

/** `GET /v1/auth/whoami` and the friendly predict answer: the SDK's types. */
export type { ExplainJob, ExplainQueued, ExplainResult, ImportanceResult, PredictResult, WhoAmI } from 'berth/sdk';
import type { ExplainJob, ExplainQueued, ExplainResult, ImportanceResult, PredictResult, WhoAmI } from 'berth/sdk';

/** `POST /v1/deployments/{name}/rollout/rollback`: the rollout it ended or undid (null: none; the deployment went back one revision). */
export interface RolloutRollbackResult {
  rollout: RolloutRecord | null;
  deployment: DeploymentRecord;
}

/** What `berth models register` sends: paths on this machine. */
export interface RegisterFiles {
  name: string;
  /** the model file */
  path: string;
  cardPath?: string;
  referencePath?: string;
  description?: string;
  tags?: Record<string, string>;
  /** lineage facts the caller knows (a pipeline run, its datasets); they win over what is found */
  lineage?: Partial<Lineage>;
}

/** Filters of `berth audit` and `berth audit export` (`since`, `until` in epoch ms). */
export interface AuditFilter {
  limit?: number;
  since?: number;
  until?: number;
  /** an action or a prefix of actions (`deployment.`) */
  action?: string;
  target?: string;
  model?: string;
}

/**
 * What the CLI needs from Berth, answered in the management API's JSON shapes. Two
 * implementations: `RemoteClient` (a running server, over HTTP) and `LocalClient` (the data dir,
 * in process), so every command works the same against either.
 */
export interface BerthClient {
  readonly kind: 'remote' | 'local';
  /** the server URL or the absolute data dir */
  readonly where: string;
  listModels(): Promise<ModelList>;
  getModel(name: string): Promise<ModelRecord>;
  updateModel(name: string, patch: MetadataPatch): Promise<ModelRecord>;
  deleteModelTag(name: string, key: string): Promise<ModelRecord>;
  listVersions(name: string): Promise<VersionList>;
  getVersion(name: string, version: number): Promise<VersionRecord>;
  updateVersion(name: string, version: number, patch: MetadataPatch): Promise<VersionRecord>;
  deleteVersionTag(name: string, version: number, key: string): Promise<VersionRecord>;
  registerVersion(files: RegisterFiles): Promise<RegisterVersionResult>;
  setAlias(name: string, alias: string, version: number): Promise<AliasMoveResult>;
  deleteAlias(name: string, alias: string): Promise<AliasDeleteResult>;
  rollbackAlias(name: string, alias: string): Promise<AliasMoveResult>;
  /** `atMs`: also answer where the aliases pointed then */
  aliasHistory(name: string, opts: { alias?: string; atMs?: number }): Promise<AliasHistoryView>;
  listDeployments(): Promise<DeploymentList>;
  getDeployment(name: string): Promise<DeploymentView>;
  deploy(name: string, req: DeployRequest): Promise<DeployResult>;
  deleteDeployment(name: string): Promise<DeploymentDeleteResult>;
  deploymentHistory(name: string, opts: { atMs?: number }): Promise<DeploymentHistoryView>;
  rollbackDeployment(name: string): Promise<DeploymentRecord>;
  audit(filter: AuditFilter): Promise<AuditList>;
  /** recompute the audit log's hash chain */
  verifyAudit(): Promise<AuditVerification>;
  /**
   * Every entry matching `filter` (no limit), oldest first, as JSON lines handed to `write` a
   * chunk at a time (each chunk whole lines); answers how many entries were written.
   */
  exportAudit(filter: AuditFilter, write: (chunk: string) => Promise<void>): Promise<number>;
  status(): Promise<StatusView>;
  /** only a running server predicts */
  predict(deployment: string, body: unknown): Promise<PredictResult>;
  /** only a running server explains */
  explain(deployment: string, body: unknown): Promise<ExplainResult | ExplainQueued>;
  /** an explain job, and (once it succeeded) its result */
  explainJob(deployment: string, id: number): Promise<ExplainJob>;
  explainJobResult(deployment: string, id: number): Promise<ExplainResult>;
  /** only a running server computes permutation importance */
  importance(deployment: string, body: unknown): Promise<ImportanceResult>;
  /** compute and attach a version's reference profile from a CSV or Parquet file */
  profileVersion(name: string, version: number, referencePath: string): Promise<ProfileResult>;
  /** a monitoring report of a deployment's traffic over a window */
  monitorReport(deployment: string, req: ReportRequest): Promise<MonitorReport>;
  /** alert rules, their states and recent events (a running server evaluates them) */
  alerts(): Promise<AlertsView>;
  /** ground truth for earlier predictions (one body: one label or {items: [...]}) */
  sendFeedback(deployment: string, body: unknown): Promise<FeedbackResult>;
  /** start a rollout (only a running server runs them) */
  startRollout(deployment: string, req: StartRolloutRequest): Promise<RolloutRecord>;
  /** the deployment's newest rollout, its decisions and (from a server) the step's live numbers */
  rolloutStatus(deployment: string): Promise<RolloutStatus>;
  /** rollouts of one deployment or of all, newest first */
  listRollouts(deployment?: string): Promise<RolloutRecord[]>;
  /** pause, resume, promote or abort the rollout in progress (`reason`: pause and abort) */
  steerRollout(deployment: string, action: RolloutAction, reason?: string): Promise<RolloutRecord>;
  /** back to the previous stable version: ends or undoes the rollout, else the previous revision */
  rollbackRollout(deployment: string): Promise<RolloutRollbackResult>;
  /** a version's artifact signatures, judged against the server's trusted keys (local mode: no trusted keys) */
  signatures(name: string, version: number): Promise<SignatureReport>;
  /** store a signature made on this machine (only the signature and the public key travel) */
  addSignature(name: string, version: number, upload: SignatureUpload): Promise<SignatureUploadResult>;
  /** `POST /v1/tokens` (admin): the secret is in this answer only */
  createToken(req: CreateTokenRequest): Promise<{ token: string; record: TokenView }>;
  listTokens(): Promise<{ tokens: TokenView[] }>;
  revokeToken(id: string): Promise<{ token: TokenView; changed: boolean }>;
  /** who the CLI is to the server, and what it may do */
  whoami(): Promise<WhoAmI>;
  close(): Promise<void>;
}

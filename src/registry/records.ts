import type { Lineage, ModelCard, Signature } from '../core/index.js';

/** Free-form string labels on a model or a version (`team: fraud`, `dataset: 2024-06`). */
export type Tags = Record<string, string>;

/** A named line of work and what points into it. */
export interface ModelRecord {
  name: string;
  description: string | null;
  tags: Tags;
  /** ISO 8601 */
  createdAt: string;
  /** ISO 8601; moves when the model's metadata, versions or aliases change */
  updatedAt: string;
  /** highest version number (null only transiently; every stored model has a version) */
  latestVersion: number | null;
  versionCount: number;
  /** alias → version number */
  aliases: Record<string, number>;
}

/** The reference (training) data stored beside a version, for monitoring. */
export interface ReferenceDataRecord {
  /** sha256 of the CSV file, an artifact in the ArtifactStore */
  sha256: string;
  sizeBytes: number;
  /** base name of the file as it was registered */
  fileName: string;
  /** data rows (header excluded) */
  rows: number;
  /** the reference profile computed from it (monitoring), an artifact holding `berth-profile/1` JSON */
  profile?: ReferenceProfileRecord;
  /** the explanations' background summarised from it, an artifact holding `berth-explain-background/1` JSON */
  background?: ReferenceBackgroundRecord;
}

/** Where a version's explanation background is stored and what it holds. */
export interface ReferenceBackgroundRecord {
  sha256: string;
  sizeBytes: number;
  /** background rows (the summary's size) */
  rows: number;
  /** how the reference was summarised: kmeans, sample, or all of it */
  method: string;
  createdAt: string;
}

/** Where a version's reference profile is stored and what it covers. */
export interface ReferenceProfileRecord {
  sha256: string;
  sizeBytes: number;
  rows: number;
  /** columns profiled: features, the model's predictions on the reference, the label */
  columns: string[];
  /** whether the model's own predictions on the reference are in it */
  predictions: boolean;
  createdAt: string;
}

/** One immutable, content-addressed version of a model. Only `tags` and `description` ever change. */
export interface VersionRecord {
  model: string;
  /** 1, 2, 3… per model */
  version: number;
  /** sha256 of the model file: the artifact's address */
  sha256: string;
  sizeBytes: number;
  /** the model's signature with the card's facts (features, vocabularies, ranges) merged in */
  signature: Signature;
  card: ModelCard | null;
  lineage: Lineage;
  tags: Tags;
  description: string | null;
  /** ISO 8601 */
  createdAt: string;
  createdBy: string;
  /** absolute path the file was registered from */
  sourcePath: string;
  reference: ReferenceDataRecord | null;
}

/** What a deployment serves: whatever an alias points at (follows moves), or one pinned version. */
export type DeploymentTarget = { kind: 'alias'; alias: string } | { kind: 'version'; version: number };

/**
 * Per-deployment overrides of the server's batching and lifecycle defaults. All optional;
 * an absent field means "use the version card's serving section, then the server default".
 */
export interface DeploymentSettings {
  /** most rows in one runtime call (≥ 1) */
  maxBatchSize?: number;
  /** how long a partial batch may wait for more rows (≥ 0 ms; 0 = dispatch at once) */
  maxQueueDelayMs?: number;
  /** most rows waiting; beyond it requests are refused (≥ 1) */
  maxQueueSize?: number;
  /** per-request deadline (≥ 1 ms) */
  timeoutMs?: number;
  /** instances kept loaded regardless of idleness (≥ 0) */
  minLoaded?: number;
  /** unload after this long unused (≥ 0 ms; 0 = never) */
  idleUnloadMs?: number;
}

/** Where a sticky key is read: a request header, a request parameter, or the first value of an input. */
export const STICKY_SOURCES = ['header', 'parameter', 'input'] as const;
export type StickySource = (typeof STICKY_SOURCES)[number];

/** One version besides the target taking a share of a deployment's traffic. */
export interface TrafficArm {
  version: number;
  /** percent of primary traffic (0–100; the target gets what the arms leave) */
  percent: number;
}

/** When a version's answers fail too often, traffic moves off it (see docs/rollouts.md). */
export interface BreakerPolicy {
  /** trip when server-side failures exceed this percent of requests in the window (1–100) */
  errorPercent: number;
  /** …and the window holds at least this many requests */
  minRequests: number;
  /** the rolling window, ms */
  windowMs: number;
}

/**
 * How a deployment spreads its traffic beyond its target: a weighted split (canary, A/B), sticky
 * keys, shadow copies, a preview route (blue-green) and the version to fall back to. Stored with the
 * deployment, so its history, audit and rollback cover traffic changes too.
 */
export interface TrafficPolicy {
  /** versions answering a share of requests; the target answers the rest */
  split: TrafficArm[];
  /** keep each key on one arm (A/B): the key is hashed onto the split's shares */
  sticky: { from: StickySource; name: string } | null;
  /** versions receiving a copy of a share of requests; their answers are logged and compared, never returned */
  shadows: TrafficArm[];
  /** a version answering only on the preview route (`/v2/models/{name}/preview/infer`) */
  preview: number | null;
  /** the last good version: where traffic goes if the target's circuit breaker trips */
  fallback: number | null;
  /** keep the fallback loaded until this moment (epoch ms; blue-green switch-back), null = not pinned */
  fallbackWarmUntil: number | null;
  /** circuit breaker of every arm; null = the defaults */
  breaker: BreakerPolicy | null;
}

/** A named endpoint and what it serves. Every change bumps `revision` and is kept in its history. */
export interface DeploymentRecord {
  name: string;
  model: string;
  target: DeploymentTarget;
  settings: DeploymentSettings;
  /** how traffic spreads beyond the target (null: all of it goes to the target) */
  traffic: TrafficPolicy | null;
  /** 1 on creation, +1 on every update or rollback */
  revision: number;
  /** ISO 8601 */
  createdAt: string;
  /** ISO 8601 */
  updatedAt: string;
}

/** Alias history changes: a move (set), a removal, or a rollback to the previous version. */
export const ALIAS_CHANGES = ['set', 'delete', 'rollback'] as const;
export type AliasChange = (typeof ALIAS_CHANGES)[number];

/** One move of an alias. */
export interface AliasHistoryEntry {
  id: number;
  model: string;
  alias: string;
  /** where the alias pointed after this change (null: deleted) */
  version: number | null;
  /** where it pointed before (null: it did not exist) */
  previousVersion: number | null;
  change: AliasChange;
  /** ISO 8601 */
  at: string;
  /** epoch milliseconds of `at` */
  atMs: number;
  actor: string;
}

export const DEPLOYMENT_CHANGES = ['create', 'update', 'rollback', 'delete', 'fallback'] as const;
export type DeploymentChange = (typeof DEPLOYMENT_CHANGES)[number];

/** One revision of a deployment (a deletion is a revision too, with `deleted: true`). */
export interface DeploymentHistoryEntry {
  name: string;
  revision: number;
  model: string;
  target: DeploymentTarget;
  settings: DeploymentSettings;
  traffic: TrafficPolicy | null;
  change: DeploymentChange;
  deleted: boolean;
  /** ISO 8601 */
  at: string;
  /** epoch milliseconds of `at` */
  atMs: number;
  actor: string;
}

/** Every audit action the registry writes. */
export const AUDIT_ACTIONS = [
  'version.register',
  'version.tags.set',
  'version.tags.delete',
  'version.describe',
  'version.reference',
  'version.sign',
  'model.tags.set',
  'model.tags.delete',
  'model.describe',
  'alias.set',
  'alias.delete',
  'alias.rollback',
  'deployment.create',
  'deployment.update',
  'deployment.rollback',
  'deployment.delete',
  'deployment.fallback',
  'rollout.start',
  'rollout.step',
  'rollout.analysis',
  'rollout.pause',
  'rollout.resume',
  'rollout.promote',
  'rollout.abort',
  'rollout.rollback',
  'rollout.gates',
  'token.create',
  'token.revoke',
  'config.change',
  'job.submit',
  'job.cancel',
  'schedule.create',
  'schedule.update',
  'schedule.delete',
  'pipeline.create',
  'pipeline.update',
  'pipeline.pause',
  'pipeline.resume',
  'pipeline.delete',
  'pipeline.run',
  'pipeline.cancel',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * The actions an audit filter selects: the action itself, or every action under a prefix
 * (`deployment` and `deployment.` select all `deployment.*`; `version.tags` both tag actions).
 * Empty when nothing matches.
 *
 * @example
 * auditActionsMatching('alias.') // ['alias.set', 'alias.delete', 'alias.rollback']
 */
export function auditActionsMatching(filter: string, actions: readonly string[] = AUDIT_ACTIONS): string[] {
  const prefix = filter.endsWith('.') ? filter : `${filter}.`;
  return actions.filter((a) => a === filter || (filter !== '' && filter !== '.' && a.startsWith(prefix)));
}

/** One row of the audit log: who did what to which thing, when. */
export interface AuditEntry {
  /** increasing; the highest id is the registry's change sequence */
  id: number;
  /** ISO 8601 */
  at: string;
  atMs: number;
  actor: string;
  action: AuditAction;
  /** `model:<name>`, `version:<name>@<n>`, `alias:<name>@<alias>` or `deployment:<name>` */
  target: string;
  /** the model the change concerns (for deployments: the model they serve) */
  model: string | null;
  /** what changed; mutations of existing things carry the state before (`before`/`from`, `previousVersion`) and after */
  details: Record<string, unknown>;
  /** the client address of the request that made the change; null for the CLI on the data dir and the server itself */
  source: string | null;
  /** sha256 (hex) over `prevHash` and this row's canonical form (see docs/audit.md); null only for a row written outside Berth */
  hash: string | null;
  /** the hash of the row before (null for the first row) */
  prevHash: string | null;
}

/** The answer of `Registry.verifyAudit()`: is the hash chain over the audit log intact? */
export interface AuditVerification {
  /** every row links to the one before and matches its own hash */
  ok: boolean;
  /** rows read (all of them, also when the chain is broken) */
  rows: number;
  /** the first row (in id order) that breaks the chain, and why; null when `ok` */
  firstBroken: { id: number; reason: string } | null;
  /** the newest row's hash: record it elsewhere to detect later removal of the newest rows; null for an empty log */
  head: string | null;
}

/** What changed, delivered to `Registry.onChange` listeners after the change committed. */
export interface RegistryChange {
  kind: 'alias' | 'deployment' | 'version' | 'model';
  /** model name, or deployment name for kind `deployment` */
  name: string;
  alias?: string;
  version?: number;
}

/** An API token as stored: never its secret, only a slow hash of it. */
/** A label for one row of an answered request (ground truth, sent as feedback). */
export interface FeedbackRecord {
  requestId: string;
  /** the row within the request, from 0 */
  row: number;
  /** the class label, or the number, as text */
  label: string;
}

export interface TokenRecord {
  id: string;
  name: string;
  hash: string;
  scopes: string[];
  rateLimit: { rate: number; burst: number } | null;
  createdAt: string;
  createdBy: string;
  /** ISO 8601, or null for a token that never expires */
  expiresAt: string | null;
  expiresAtMs: number | null;
  revokedAt: string | null;
  revokedBy: string | null;
  lastUsedAt: string | null;
}

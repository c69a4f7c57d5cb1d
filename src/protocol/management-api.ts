import {
  BerthError,
  assertName,
  toBerthError,
  systemClock,
  type BatchingConfig,
  type Clock,
  type Lineage,
  type ModelCard,
  type Signature,
  type ServerRole,
} from '../core/index.js';
import {
  AUDIT_PAGE_ROWS,
  parseCard,
  type AliasHistoryEntry,
  type AliasMoveResult,
  type AuditEntry,
  type AuditVerification,
  type DeployInput,
  type DeployResult,
  type DeploymentHistoryEntry,
  type DeploymentRecord,
  type DeploymentSettings,
  type DeploymentTarget,
  type TrafficPolicy,
  type ModelRecord,
  type RegisterVersionInput,
  type ReferenceDataRecord,
  type RegisterVersionResult,
  type Registry,
  type Tags,
  type VersionRecord,
} from '../registry/index.js';
import type { InferenceService, ModelState } from '../serving/index.js';
import { RolloutStore } from '../rollout/index.js';
import type { FeedbackResult, MonitorReport, MonitorService, ProfileResult, ReportRequest } from '../monitor/index.js';

/*
 * The management API without a transport: every operation the REST adapter (management-rest.ts)
 * and the CLI's local mode offer, answering the same JSON shapes. The REST adapter only decodes
 * HTTP into these calls; the CLI without a server calls them in process, so `--json` prints the
 * same document either way.
 */

/** `GET /v1/models` */
export interface ModelList {
  models: ModelRecord[];
}

/** `GET /v1/models/{name}/versions` */
export interface VersionList {
  model: string;
  versions: VersionRecord[];
}

/** Body of `PATCH /v1/models/{name}` and `PATCH /v1/models/{name}/versions/{version}`. */
export interface MetadataPatch {
  /** new description; null clears it */
  description?: string | null;
  /** tags to add or overwrite (others are kept; remove one with DELETE …/tags/{key}) */
  tags?: Tags;
}

/** Registering a model file that is already on this machine (the REST adapter writes uploads to a temp dir first). */
export interface RegisterRequest {
  name: string;
  filePath: string;
  /** the card document (JSON or YAML) */
  cardText?: string;
  /** the card's file name; `.json` parses as JSON, anything else as YAML (default `card.yaml`) */
  cardFileName?: string;
  referencePath?: string;
  description?: string;
  tags?: Tags;
  /** where the file came from, when `filePath` is a temporary copy (a remote client's own path) */
  sourcePath?: string;
  /** lineage facts the caller collected (e.g. a remote client's git commit), over the card's */
  lineage?: Partial<Lineage>;
  actor?: string;
}

/** `DELETE /v1/models/{name}/aliases/{alias}` */
export interface AliasDeleteResult {
  model: string;
  alias: string;
  deleted: true;
  /** where the alias pointed before it was removed */
  previousVersion: number | null;
}

/** `GET /v1/models/{name}/aliases/history` */
export interface AliasHistoryView {
  model: string;
  /** the alias asked about, or null for all of the model's aliases */
  alias: string | null;
  /** every change, newest first */
  entries: AliasHistoryEntry[];
  /** present when `at` was asked: where each alias pointed at that moment (null: it did not exist) */
  at?: { time: string; atMs: number; versions: Record<string, number | null> };
}

/** A version's presence in the server's memory right now. */
export interface LiveStatus extends Omit<LoadedModelView, 'state'> {
  state: ModelState | 'unloaded';
  /** the batching the deployment runs with (server defaults, card and deployment settings merged) */
  batching: BatchingConfig;
}

/** A deployment, the version it serves now and (from a server) its live state. */
export interface DeploymentView {
  deployment: DeploymentRecord;
  /** the version it serves now (its alias resolved); null when the target resolves to nothing */
  servedVersion: number | null;
  /** why it serves nothing, when `servedVersion` is null */
  problem?: string;
  /** live state in the server; null when read from the data dir without a server */
  live: LiveStatus | null;
}

/** `GET /v1/deployments` */
export interface DeploymentList {
  deployments: DeploymentView[];
}

/** Body of `PUT /v1/deployments/{name}`: a model and exactly one of alias or version. */
export interface DeployRequest {
  model: string;
  alias?: string;
  version?: number;
  settings?: DeploymentSettings;
  /** weighted split, sticky key, shadows, preview, fallback, breaker; null clears; omitted keeps it while the target stays */
  traffic?: TrafficPolicy | null;
}

/** `DELETE /v1/deployments/{name}` */
export interface DeploymentDeleteResult {
  name: string;
  deleted: true;
}

/** `GET /v1/deployments/{name}/history` */
export interface DeploymentHistoryView {
  name: string;
  /** every revision, newest first (a deletion is a revision too) */
  entries: DeploymentHistoryEntry[];
  /** present when `at` was asked: the revision in force then and the version it served */
  at?: { time: string; atMs: number; revision: DeploymentHistoryEntry | null; version: number | null };
}

/** Filters of `GET /v1/audit` and `GET /v1/audit/export`. */
export interface AuditRequest {
  limit?: number;
  /** epoch ms: entries at or after */
  since?: number;
  /** epoch ms: entries before */
  until?: number;
  /** an action or a prefix of actions (`deployment.`) */
  action?: string;
  target?: string;
  model?: string;
}

/** `GET /v1/audit`: newest first. */
export interface AuditList {
  entries: AuditEntry[];
}

/** One model version loaded (or loading) in the server. */
export interface LoadedModelView {
  model: string;
  version: number;
  state: ModelState;
  memoryBytes: number;
  queueDepth: number;
  inflight: number;
  loadedAt: string | null;
  lastUsedAt: string | null;
  loadMs: number;
  error?: string;
}

/** `GET /v1/status` */
export interface StatusView {
  name: 'berth';
  /** true when answered by a running server, false when read from the data dir */
  server: boolean;
  version: string;
  /** ISO 8601; null without a server */
  startedAt: string | null;
  uptimeSeconds: number | null;
  /** whether this process times the rollout steps (replicas sharing PostgreSQL elect one); null without a server */
  rolloutLeader: boolean | null;
  /** what this process serves (`berth serve --role`); null without a server */
  role: ServerRole | null;
  /** the port of its gRPC service (`berth serve --grpc-port`); null when it serves none */
  grpcPort: number | null;
  /** absolute data dir, null when unknown */
  dataDir: string | null;
  models: number;
  deployments: number;
  loaded: LoadedModelView[];
}

export interface ManagementApiOptions {
  registry: Registry;
  /** read a model's signature; throws INVALID_MODEL for files the runtime cannot load */
  inspect: (bytes: Uint8Array) => Promise<Signature>;
  /** Berth's version, reported by `status` */
  version: string;
  /** the data dir the registry lives in (reported by `status`) */
  dataDir?: string | null;
  /** the data plane, for live deployment state; absent in the CLI's local mode */
  service?: InferenceService;
  /** monitoring: reference profiles, reports, feedback */
  monitor?: MonitorService;
  clock?: Clock;
  /**
   * Checked before a deployment changes, with what is about to be deployed: throws to refuse it
   * (ARTIFACT_UNTRUSTED when a version it would serve lacks a required signature).
   */
  verifyDeploy?: (input: DeployInput) => Promise<void>;
  /** whether this process leads rollouts (status) */
  rolloutLeader?: () => boolean;
  /**
   * Called once reference data is attached to a version (explanations summarise it into their
   * background). A failure there does not undo the reference: explanations try again on first use.
   */
  afterReference?: (model: string, version: number, actor?: string) => Promise<unknown>;
  /** the gRPC service's port once it listens (null: none) */
  grpcPort?: () => number | null;
  /** this server's role (`berth serve --role`) */
  role?: ServerRole;
  /** checked before an alias that deployments follow moves to a version */
  verifyVersion?: (v: { model: string; version: number; sha256: string }) => Promise<void>;
}

/**
 * Every management operation over the registry (and, inside a server, the data plane), in the
 * shapes the REST API answers with.
 *
 * @example
 * const api = new ManagementApi({ registry, inspect: (b) => backend.inspect(b), version: '0.1.0' });
 * const { created, version } = await api.registerVersion({ name: 'fraud', filePath: 'model.onnx' });
 */
export class ManagementApi {
  readonly registry: Registry;
  private readonly clock: Clock;
  private readonly startedAt: number;

  /** rollouts hold their deployments: changes by hand go through the rollout while one is active */
  private readonly rollouts: RolloutStore;

  constructor(private readonly opts: ManagementApiOptions) {
    this.registry = opts.registry;
    this.clock = opts.clock ?? systemClock;
    this.startedAt = this.clock.now();
    this.rollouts = new RolloutStore(opts.registry, () => this.clock.now());
  }

  /** Refuse a change by hand to a deployment a rollout holds: the rollout would overwrite it. */
  private async notHeldByRollout(name: string, what: string): Promise<void> {
    const r = await this.rollouts.active(name);
    if (!r) return;
    throw new BerthError(
      'ROLLOUT_STATE',
      `deployment "${name}" is held by rollout ${r.id} (${r.state}, version ${r.fromVersion} → ${r.toVersion}); to ${what}, finish the rollout first: berth rollout promote ${name} or berth rollout abort ${name}`,
      { deployment: name, rollout: r.id, got: r.state },
    );
  }

  // models ------------------------------------------------------------------------------------

  async listModels(): Promise<ModelList> {
    return { models: await this.registry.listModels() };
  }

  async getModel(name: string): Promise<ModelRecord> {
    return this.registry.getModel(name);
  }

  async updateModel(name: string, patch: MetadataPatch, actor?: string): Promise<ModelRecord> {
    assertName('model', name);
    await this.registry.getModel(name);
    if (patch.tags !== undefined) await this.registry.setModelTags(name, patch.tags, actor);
    if (patch.description !== undefined) await this.registry.setModelDescription(name, patch.description, actor);
    return this.registry.getModel(name);
  }

  async deleteModelTag(name: string, key: string, actor?: string): Promise<ModelRecord> {
    await this.registry.deleteModelTag(name, key, actor);
    return this.registry.getModel(name);
  }

  // versions ----------------------------------------------------------------------------------

  async listVersions(name: string): Promise<VersionList> {
    return { model: name, versions: await this.registry.listVersions(name) };
  }

  async getVersion(name: string, version: number): Promise<VersionRecord> {
    return this.registry.getVersion(name, version);
  }

  async updateVersion(name: string, version: number, patch: MetadataPatch, actor?: string): Promise<VersionRecord> {
    await this.registry.getVersion(name, version);
    if (patch.tags !== undefined) await this.registry.setVersionTags(name, version, patch.tags, actor);
    if (patch.description !== undefined) await this.registry.setVersionDescription(name, version, patch.description, actor);
    return this.registry.getVersion(name, version);
  }

  async deleteVersionTag(name: string, version: number, key: string, actor?: string): Promise<VersionRecord> {
    await this.registry.deleteVersionTag(name, version, key, actor);
    return this.registry.getVersion(name, version);
  }

  /** Register a model file; `created: false` when these bytes already were a version of the model. */
  async registerVersion(req: RegisterRequest): Promise<RegisterVersionResult> {
    assertName('model', req.name);
    let card: ModelCard | undefined;
    if (req.cardText !== undefined) card = parseCard(req.cardText, req.cardFileName ?? 'card.yaml');
    const input: RegisterVersionInput = {
      name: req.name,
      filePath: req.filePath,
      inspect: this.opts.inspect,
      ...(card ? { card } : {}),
      ...(req.referencePath !== undefined ? { referencePath: req.referencePath } : {}),
      ...(req.description !== undefined ? { description: req.description } : {}),
      ...(req.tags !== undefined ? { tags: req.tags } : {}),
      ...(req.actor !== undefined ? { actor: req.actor } : {}),
      ...(req.sourcePath !== undefined ? { sourcePath: req.sourcePath } : {}),
      ...(req.lineage !== undefined ? { lineage: req.lineage } : {}),
    };
    const result = await this.registry.registerVersion(input);
    const monitor = this.opts.monitor;
    if (monitor && req.referencePath !== undefined && (result.created || result.version.reference?.profile === undefined)) {
      try {
        const profiled = await monitor.profileVersion(req.name, result.version.version, req.referencePath, req.actor !== undefined ? { actor: req.actor } : {});
        const reference = (await this.referenceAttached(req.name, result.version.version, req.actor)) ?? profiled.reference;
        return { ...result, version: { ...result.version, reference } };
      } catch (err) {
        const e = toBerthError(err);
        throw new BerthError(
          e.code,
          `version ${result.version.version} of "${req.name}" was registered, but its reference profile failed: ${e.message}. ` +
            `Fix the data and run \`berth models profile ${req.name} ${result.version.version} --reference FILE\`.`,
          { ...e.context, model: req.name, version: result.version.version },
        );
      }
    }
    return result;
  }

  // monitoring ----------------------------------------------------------------------------------

  private requireMonitor(): MonitorService {
    if (!this.opts.monitor) throw new BerthError('INTERNAL', 'monitoring is not available here');
    return this.opts.monitor;
  }

  /** Compute and attach a version's reference profile from a CSV or Parquet file on this machine. */
  async profileVersion(name: string, version: number, filePath: string, actor?: string): Promise<ProfileResult> {
    assertName('model', name);
    const profiled = await this.requireMonitor().profileVersion(name, version, filePath, actor !== undefined ? { actor } : {});
    const reference = await this.referenceAttached(name, version, actor);
    return reference !== null ? { ...profiled, reference } : profiled;
  }

  /** Tell the hook reference data arrived; the version's reference record as it is then (null: no hook). */
  private async referenceAttached(name: string, version: number, actor?: string): Promise<ReferenceDataRecord | null> {
    if (this.opts.afterReference === undefined) return null;
    await this.opts.afterReference(name, version, actor).catch(() => undefined);
    return (await this.registry.getVersion(name, version)).reference ?? null;
  }

  /** A monitoring report of a deployment's traffic. */
  async monitorReport(deployment: string, req: ReportRequest): Promise<MonitorReport> {
    assertName('deployment', deployment);
    return this.requireMonitor().report(deployment, req);
  }

  /** Ground truth for earlier predictions of a deployment. */
  async recordFeedback(deployment: string, body: unknown): Promise<FeedbackResult> {
    assertName('deployment', deployment);
    return this.requireMonitor().recordFeedback(deployment, body);
  }

  // aliases -----------------------------------------------------------------------------------

  async setAlias(name: string, alias: string, version: number, actor?: string): Promise<AliasMoveResult> {
    // deployments following the alias would serve the version: it must be as trusted as a deployed one
    if (this.opts.verifyVersion && (await this.registry.listDeployments()).some((d) => d.model === name && d.target.kind === 'alias' && d.target.alias === alias)) {
      const v = await this.registry.getVersion(name, version);
      await this.opts.verifyVersion({ model: name, version, sha256: v.sha256 });
    }
    return this.registry.setAlias(name, alias, version, actor);
  }

  async deleteAlias(name: string, alias: string, actor?: string): Promise<AliasDeleteResult> {
    const before = await this.registry.getModel(name);
    await this.registry.deleteAlias(name, alias, actor);
    return { model: name, alias, deleted: true, previousVersion: before.aliases[alias] ?? null };
  }

  async rollbackAlias(name: string, alias: string, actor?: string): Promise<AliasMoveResult> {
    return this.registry.rollbackAlias(name, alias, actor);
  }

  /** Every move of the model's aliases (or one alias); with `atMs`, where each pointed then. */
  async aliasHistory(name: string, opts: { alias?: string; atMs?: number } = {}): Promise<AliasHistoryView> {
    if (opts.alias !== undefined) assertName('alias', opts.alias);
    const entries = await this.registry.aliasHistory(name, opts.alias);
    const view: AliasHistoryView = { model: name, alias: opts.alias ?? null, entries };
    if (opts.atMs !== undefined) {
      const names = opts.alias !== undefined ? [opts.alias] : [...new Set(entries.map((e) => e.alias))].sort();
      const versions: Record<string, number | null> = {};
      for (const a of names) versions[a] = await this.registry.aliasAt(name, a, opts.atMs);
      view.at = { time: new Date(opts.atMs).toISOString(), atMs: opts.atMs, versions };
    }
    return view;
  }

  // deployments -------------------------------------------------------------------------------

  async listDeployments(): Promise<DeploymentList> {
    const out: DeploymentView[] = [];
    for (const d of await this.registry.listDeployments()) out.push(await this.view(d));
    return { deployments: out };
  }

  async getDeployment(name: string): Promise<DeploymentView> {
    assertName('deployment', name);
    return this.view(await this.registry.getDeployment(name));
  }

  /** Create or change a deployment; `created` tells which, `changed: false` when nothing differed. */
  async deploy(name: string, req: DeployRequest, actor?: string): Promise<DeployResult> {
    const hasAlias = req.alias !== undefined;
    const hasVersion = req.version !== undefined;
    if (hasAlias === hasVersion) {
      throw new BerthError('INVALID_ARGUMENT', `alias, version: expected exactly one of "alias" or "version", got ${hasAlias ? 'both' : 'neither'}`, {
        field: 'alias',
        expected: 'exactly one of alias or version',
        got: hasAlias ? 'both' : 'neither',
      });
    }
    const target: DeploymentTarget = hasAlias ? { kind: 'alias', alias: req.alias! } : { kind: 'version', version: req.version! };
    await this.notHeldByRollout(name, 'redeploy it');
    const input: DeployInput = {
      name,
      model: req.model,
      target,
      ...(req.settings !== undefined ? { settings: req.settings } : {}),
      ...(req.traffic !== undefined ? { traffic: req.traffic } : {}),
      ...(actor !== undefined ? { actor } : {}),
    };
    await this.opts.verifyDeploy?.(input);
    return this.registry.deploy(input);
  }

  async deleteDeployment(name: string, actor?: string): Promise<DeploymentDeleteResult> {
    assertName('deployment', name);
    await this.notHeldByRollout(name, 'delete it');
    await this.registry.deleteDeployment(name, actor);
    return { name, deleted: true };
  }

  async deploymentHistory(name: string, opts: { atMs?: number } = {}): Promise<DeploymentHistoryView> {
    assertName('deployment', name);
    const entries = await this.registry.deploymentHistory(name);
    const view: DeploymentHistoryView = { name, entries };
    if (opts.atMs !== undefined) {
      const then = await this.registry.deploymentAt(name, opts.atMs);
      view.at = { time: new Date(opts.atMs).toISOString(), atMs: opts.atMs, revision: then?.deployment ?? null, version: then?.version ?? null };
    }
    return view;
  }

  async rollbackDeployment(name: string, actor?: string): Promise<DeploymentRecord> {
    assertName('deployment', name);
    await this.notHeldByRollout(name, 'roll it back to its previous revision');
    return this.registry.rollbackDeployment(name, actor);
  }

  // audit and status --------------------------------------------------------------------------

  async audit(req: AuditRequest = {}): Promise<AuditList> {
    // the registry validates every filter (an unknown action or prefix is INVALID_ARGUMENT)
    return { entries: await this.registry.audit(req) };
  }

  /** Recompute the audit log's hash chain (`GET /v1/audit/verify`). */
  verifyAudit(): Promise<AuditVerification> {
    return this.registry.verifyAudit();
  }

  /**
   * Every entry matching `req` (its `limit` is ignored), oldest first: the chain's order, in pages
   * of AUDIT_PAGE_ROWS. The first page is read before this returns, so a bad filter fails here
   * rather than halfway through a stream.
   */
  async exportAudit(req: AuditRequest = {}): Promise<AsyncIterable<AuditEntry[]>> {
    const query = { ...req, order: 'asc' as const, limit: AUDIT_PAGE_ROWS };
    const registry = this.registry;
    const first = await registry.audit(query);
    return (async function* pages(): AsyncGenerator<AuditEntry[]> {
      let page = first;
      while (page.length > 0) {
        yield page;
        if (page.length < AUDIT_PAGE_ROWS) return;
        page = await registry.audit({ ...query, afterId: page[page.length - 1]!.id });
      }
    })();
  }

  async status(): Promise<StatusView> {
    const [models, deployments] = await Promise.all([this.registry.listModels(), this.registry.listDeployments()]);
    const service = this.opts.service;
    const now = this.clock.now();
    return {
      name: 'berth',
      server: service !== undefined,
      version: this.opts.version,
      startedAt: service ? new Date(this.startedAt).toISOString() : null,
      uptimeSeconds: service ? Math.max(0, Math.round((now - this.startedAt) / 1000)) : null,
      rolloutLeader: this.opts.rolloutLeader ? this.opts.rolloutLeader() : null,
      role: service ? (this.opts.role ?? 'all') : null,
      grpcPort: this.opts.grpcPort ? this.opts.grpcPort() : null,
      dataDir: this.opts.dataDir ?? null,
      models: models.length,
      deployments: deployments.length,
      loaded: (service?.manager.list() ?? []).map((m) => ({
        model: m.model,
        version: m.version,
        state: m.state,
        memoryBytes: m.memoryBytes,
        queueDepth: m.queueDepth,
        inflight: m.inflight,
        loadedAt: isoOrNull(m.loadedAt),
        lastUsedAt: isoOrNull(m.lastUsed),
        loadMs: m.loadMs,
        ...(m.error !== undefined ? { error: m.error } : {}),
      })),
    };
  }

  private async view(d: DeploymentRecord): Promise<DeploymentView> {
    const view: DeploymentView = { deployment: d, servedVersion: null, live: null };
    try {
      view.servedVersion = (await this.registry.resolveDeployment(d.name)).version.version;
    } catch (err) {
      view.problem = err instanceof Error ? err.message : String(err);
    }
    const service = this.opts.service;
    if (service && view.servedVersion !== null) {
      try {
        const route = await service.route(d.name);
        const info = service.manager.get(route.key);
        view.live = {
          model: route.version.model,
          version: route.version.version,
          state: info?.state ?? 'unloaded',
          memoryBytes: info?.memoryBytes ?? 0,
          queueDepth: info?.queueDepth ?? 0,
          inflight: info?.inflight ?? 0,
          loadedAt: isoOrNull(info?.loadedAt),
          lastUsedAt: isoOrNull(info?.lastUsed),
          loadMs: info?.loadMs ?? 0,
          ...(info?.error !== undefined ? { error: info.error } : {}),
          batching: { ...route.batching },
        };
      } catch (err) {
        view.problem = err instanceof Error ? err.message : String(err);
      }
    }
    return view;
  }
}

/**
 * Parse a moment given as epoch milliseconds (digits) or an ISO 8601 time; INVALID_ARGUMENT naming
 * `field` otherwise. A time without a zone is read as UTC, so the answer does not depend on where
 * the server runs (the CLI sends UTC).
 */
export function parseInstant(field: string, text: unknown): number {
  if (typeof text === 'number' && Number.isFinite(text)) return text;
  if (typeof text === 'string') {
    const s = text.trim();
    if (/^[0-9]{1,16}$/.test(s)) return Number(s);
    const iso = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(s);
    if (iso) {
      let norm = s.replace(' ', 'T');
      if (iso[1] === undefined) norm += 'T00:00:00';
      if (iso[4] === undefined) norm += 'Z';
      const ms = Date.parse(norm);
      if (Number.isFinite(ms)) return ms;
    }
  }
  throw new BerthError('INVALID_ARGUMENT', `${field}: expected an ISO 8601 time (2026-11-17T14:03:00Z) or epoch milliseconds, got ${JSON.stringify(text)}`, {
    field,
    expected: 'ISO 8601 time or epoch milliseconds',
    got: text,
  });
}

function isoOrNull(ms: number | undefined): string | null {
  return ms === undefined || ms <= 0 ? null : new Date(ms).toISOString();
}

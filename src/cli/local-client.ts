import { userInfo } from 'node:os';
import { DEFAULT_TOKEN_LIFETIME_MS, type CreateTokenRequest } from '../protocol/index.js';
import { TokenService, type TokenView } from '../security/index.js';
import type { WhoAmI } from './client.js';
import type { FeedbackResult, MonitorReport, ProfileResult, ReportRequest } from '../monitor/index.js';
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { BerthError, silentLogger, type Signature } from '../core/index.js';
import {
  ManagementApi,
  type AliasDeleteResult,
  type AliasHistoryView,
  type AuditList,
  type DeployRequest,
  type DeploymentDeleteResult,
  type DeploymentHistoryView,
  type DeploymentList,
  type DeploymentView,
  type MetadataPatch,
  type ModelList,
  type StatusView,
  type VersionList,
} from '../protocol/index.js';
import {
  openRegistry,
  type AliasMoveResult,
  type AuditVerification,
  type DeployResult,
  type DeploymentRecord,
  type ModelRecord,
  type RegisterVersionResult,
  type Registry,
  type VersionRecord,
} from '../registry/index.js';
import type { RolloutRecord, RolloutStatus, RolloutStore } from '../rollout/index.js';
import type { ArtifactGuard, SignatureReport, SignatureUpload, SignatureUploadResult } from '../security/index.js';
import type { AuditFilter, BerthClient, ExplainJob, ExplainResult, ImportanceResult, PredictResult, RegisterFiles, AlertsView, RolloutAction, RolloutRollbackResult } from './client.js';

/** A rollout command that only a running server can carry out: say so, and what to do. */
function needsServer(what: string, extra = ''): BerthError {
  return new BerthError(
    'SERVER_UNREACHABLE',
    `${what} needs a running server: rollouts are run by \`berth serve\` (each step is judged on live traffic); start one with \`berth serve\` (or pass --server URL)${extra}`,
  );
}

/**
 * The registry in a data dir, in process: what `berth` uses when no server runs. SQLite (WAL)
 * lets it write while a server on the same data dir is up; the server notices within a second.
 */
export class LocalClient implements BerthClient {
  readonly kind = 'local' as const;
  private rolloutStore: RolloutStore | undefined;
  private guard: ArtifactGuard | undefined;
  private tokensSvc: TokenService | undefined;

  private constructor(
    readonly where: string,
    readonly registry: Registry,
    private readonly api: ManagementApi,
    private readonly actor: string | undefined,
  ) {}

  /**
   * Open (creating if needed) the data dir's registry; its metadata in PostgreSQL when
   * `databaseUrl` (default: BERTH_DATABASE_URL) is set, so the CLI sees what the servers see.
   */
  static async open(dataDir: string, opts: { actor?: string; version: string; databaseUrl?: string | null; artifactsUrl?: string | null }): Promise<LocalClient> {
    const dir = resolve(dataDir);
    const databaseUrl = opts.databaseUrl !== undefined ? opts.databaseUrl : process.env['BERTH_DATABASE_URL'] || null;
    const artifactsUrl = opts.artifactsUrl !== undefined ? opts.artifactsUrl : process.env['BERTH_ARTIFACTS_URL'] || null;
    const registry = await openRegistry({ dataDir: dir, databaseUrl, artifactsUrl });
    let backend: { inspect(bytes: Uint8Array): Promise<Signature> } | undefined;
    // onnxruntime loads only when a file is registered, so reads stay quick
    const inspect = async (bytes: Uint8Array): Promise<Signature> => {
      if (!backend) {
        const { OnnxBackend } = await import('../runtime/index.js');
        backend = new OnnxBackend();
      }
      return backend.inspect(bytes);
    };
    const { MonitorService, onnxPredictor } = await import('../monitor/index.js');
    const monitor = new MonitorService({ dataDir: dir, registry, predictor: onnxPredictor(registry) });
    // reference data attached here is summarised for explanations at once, as a server does
    const afterReference = async (model: string, version: number, actor?: string): Promise<unknown> => {
      const { ExplainService } = await import('../explain/index.js');
      const { OnnxBackend } = await import('../runtime/index.js');
      const { createLogger } = await import('../core/index.js');
      const svc = new ExplainService({ registry, backend: new OnnxBackend(), logger: createLogger('error') });
      try {
        return await svc.prepareBackground(model, version, actor);
      } finally {
        await svc.close();
      }
    };
    const api = new ManagementApi({ registry, inspect, version: opts.version, dataDir: dir, monitor, afterReference });
    return new LocalClient(dir, registry, api, opts.actor);
  }

  listModels(): Promise<ModelList> {
    return this.api.listModels();
  }
  getModel(name: string): Promise<ModelRecord> {
    return this.api.getModel(name);
  }
  updateModel(name: string, patch: MetadataPatch): Promise<ModelRecord> {
    return this.api.updateModel(name, patch, this.actor);
  }
  deleteModelTag(name: string, key: string): Promise<ModelRecord> {
    return this.api.deleteModelTag(name, key, this.actor);
  }
  listVersions(name: string): Promise<VersionList> {
    return this.api.listVersions(name);
  }
  getVersion(name: string, version: number): Promise<VersionRecord> {
    return this.api.getVersion(name, version);
  }
  updateVersion(name: string, version: number, patch: MetadataPatch): Promise<VersionRecord> {
    return this.api.updateVersion(name, version, patch, this.actor);
  }
  deleteVersionTag(name: string, version: number, key: string): Promise<VersionRecord> {
    return this.api.deleteVersionTag(name, version, key, this.actor);
  }
  async registerVersion(files: RegisterFiles): Promise<RegisterVersionResult> {
    let cardText: string | undefined;
    if (files.cardPath !== undefined) {
      try {
        cardText = await readFile(files.cardPath, 'utf8');
      } catch (err) {
        throw new BerthError('INVALID_ARGUMENT', `card ${files.cardPath} cannot be read (${(err as Error).message}); check the path`, {
          field: 'card',
          got: files.cardPath,
        }, { cause: err });
      }
    }
    return this.api.registerVersion({
      name: files.name,
      filePath: files.path,
      ...(cardText !== undefined && files.cardPath !== undefined ? { cardText, cardFileName: basename(files.cardPath) } : {}),
      ...(files.referencePath !== undefined ? { referencePath: files.referencePath } : {}),
      ...(files.description !== undefined ? { description: files.description } : {}),
      ...(files.tags !== undefined ? { tags: files.tags } : {}),
      ...(files.lineage !== undefined ? { lineage: files.lineage } : {}),
      ...(this.actor !== undefined ? { actor: this.actor } : {}),
    });
  }
  setAlias(name: string, alias: string, version: number): Promise<AliasMoveResult> {
    return this.api.setAlias(name, alias, version, this.actor);
  }
  deleteAlias(name: string, alias: string): Promise<AliasDeleteResult> {
    return this.api.deleteAlias(name, alias, this.actor);
  }
  rollbackAlias(name: string, alias: string): Promise<AliasMoveResult> {
    return this.api.rollbackAlias(name, alias, this.actor);
  }
  aliasHistory(name: string, opts: { alias?: string; atMs?: number }): Promise<AliasHistoryView> {
    return this.api.aliasHistory(name, opts);
  }
  listDeployments(): Promise<DeploymentList> {
    return this.api.listDeployments();
  }
  getDeployment(name: string): Promise<DeploymentView> {
    return this.api.getDeployment(name);
  }
  deploy(name: string, req: DeployRequest): Promise<DeployResult> {
    return this.api.deploy(name, req, this.actor);
  }
  deleteDeployment(name: string): Promise<DeploymentDeleteResult> {
    return this.api.deleteDeployment(name, this.actor);
  }
  deploymentHistory(name: string, opts: { atMs?: number }): Promise<DeploymentHistoryView> {
    return this.api.deploymentHistory(name, opts);
  }
  rollbackDeployment(name: string): Promise<DeploymentRecord> {
    return this.api.rollbackDeployment(name, this.actor);
  }
  audit(filter: AuditFilter): Promise<AuditList> {
    return this.api.audit(filter);
  }
  verifyAudit(): Promise<AuditVerification> {
    return this.api.verifyAudit();
  }
  async exportAudit(filter: AuditFilter, write: (chunk: string) => Promise<void>): Promise<number> {
    const { limit: _all, ...rest } = filter;
    let rows = 0;
    for await (const page of await this.api.exportAudit(rest)) {
      await write(page.map((e) => JSON.stringify(e) + '\n').join(''));
      rows += page.length;
    }
    return rows;
  }
  status(): Promise<StatusView> {
    return this.api.status();
  }
  async importance(): Promise<ImportanceResult> {
    throw new BerthError('SERVER_UNREACHABLE', 'importance needs a running server; start one with `berth serve` (or pass --server URL)');
  }
  async explain(): Promise<ExplainResult> {
    throw new BerthError('SERVER_UNREACHABLE', 'explain needs a running server; start one with `berth serve` (or pass --server URL)');
  }
  async explainJob(): Promise<ExplainJob> {
    throw new BerthError('SERVER_UNREACHABLE', 'explain jobs live on a server; start one with `berth serve` (or pass --server URL)');
  }
  async explainJobResult(): Promise<ExplainResult> {
    throw new BerthError('SERVER_UNREACHABLE', 'explain jobs live on a server; start one with `berth serve` (or pass --server URL)');
  }
  async predict(): Promise<PredictResult> {
    throw new BerthError('SERVER_UNREACHABLE', 'predict needs a running server; start one with `berth serve` (or pass --server URL)');
  }
  profileVersion(name: string, version: number, referencePath: string): Promise<ProfileResult> {
    return this.api.profileVersion(name, version, resolve(referencePath), this.actor);
  }
  monitorReport(deployment: string, req: ReportRequest): Promise<MonitorReport> {
    return this.api.monitorReport(deployment, req);
  }
  async alerts(): Promise<AlertsView> {
    throw new BerthError('SERVER_UNREACHABLE', 'alerts are evaluated by a running server; start one with `berth serve` (or pass --server URL)');
  }
  sendFeedback(deployment: string, body: unknown): Promise<FeedbackResult> {
    return this.api.recordFeedback(deployment, body);
  }
  async startRollout(): Promise<RolloutRecord> {
    throw needsServer('rollout start');
  }
  /** Read from the data dir: the rollout and its decisions; live numbers exist only in a server. */
  async rolloutStatus(deployment: string): Promise<RolloutStatus> {
    const store = await this.rollouts();
    const r = await store.latest(deployment);
    if (!r) {
      throw new BerthError('NOT_FOUND', `no rollout for deployment "${deployment}" (start one: berth rollout start ${deployment} --to-version N); list them with: berth rollout list`, {
        field: 'rollout',
        got: deployment,
      });
    }
    return { rollout: r, decisions: await store.decisions(r.id), live: null };
  }
  async listRollouts(deployment?: string): Promise<RolloutRecord[]> {
    return (await this.rollouts()).list(deployment);
  }
  async steerRollout(_deployment: string, action: RolloutAction): Promise<RolloutRecord> {
    throw needsServer(`rollout ${action}`);
  }
  async rollbackRollout(deployment: string): Promise<RolloutRollbackResult> {
    throw needsServer('rollback', `; to return the deployment to its previous revision without a server: berth deployments rollback ${deployment}`);
  }
  /** Without a server there is no configuration, so no key is trusted: the report lists the signatures (`berth verify --trusted-key` judges them). */
  async signatures(name: string, version: number): Promise<SignatureReport> {
    return (await this.artifactGuard()).report(name, version);
  }
  async addSignature(name: string, version: number, upload: SignatureUpload): Promise<SignatureUploadResult> {
    return (await this.artifactGuard()).add(name, version, upload, this.actor);
  }
  private async artifactGuard(): Promise<ArtifactGuard> {
    if (!this.guard) {
      const { ArtifactGuard, ArtifactTrust } = await import('../security/index.js');
      this.guard = new ArtifactGuard(ArtifactTrust.none(), this.registry);
    }
    return this.guard;
  }
  private async rollouts(): Promise<RolloutStore> {
    if (!this.rolloutStore) {
      // loaded only here: rollout code is not needed by any other local command
      const { RolloutStore } = await import('../rollout/index.js');
      this.rolloutStore = new RolloutStore(this.registry, Date.now);
    }
    return this.rolloutStore;
  }
  // tokens: the data dir's owner administers them without a token (file permissions are the guard)
  private tokenService(): TokenService {
    this.tokensSvc ??= new TokenService({ registry: this.registry, logger: silentLogger });
    return this.tokensSvc;
  }
  async createToken(req: CreateTokenRequest): Promise<{ token: string; record: TokenView }> {
    const expiresAt = req.expiresAt === undefined ? Date.now() + DEFAULT_TOKEN_LIFETIME_MS : req.expiresAt === null ? null : Date.parse(req.expiresAt);
    return this.tokenService().create({ name: req.name, roles: req.roles ?? [], scopes: req.scopes ?? [], expiresAt, rateLimit: req.rateLimit ?? null }, this.actor);
  }
  async listTokens(): Promise<{ tokens: TokenView[] }> {
    return { tokens: await this.tokenService().list() };
  }
  revokeToken(id: string): Promise<{ token: TokenView; changed: boolean }> {
    return this.tokenService().revoke(id, this.actor);
  }
  async whoami(): Promise<WhoAmI> {
    const who = this.actor ?? userInfo().username;
    return { kind: 'local', id: who, name: `local:${who} (data dir ${this.where})`, scopes: ['admin'], expiresAt: null, rateLimit: null };
  }

  async close(): Promise<void> {
    await this.registry.close();
  }
}

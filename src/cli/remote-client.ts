import type { FeedbackResult, MonitorReport, ProfileResult, ReportRequest } from '../monitor/index.js';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { BerthError, ERROR_CATALOG, type ErrorCode } from '../core/index.js';
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
  RegisterUploadBody,
  StatusView,
  VersionList,
} from '../protocol/index.js';
import type { AliasMoveResult, DeployResult, DeploymentRecord, ModelRecord, RegisterVersionResult, VersionRecord } from '../registry/index.js';
import type { RolloutRecord, RolloutStatus, StartRolloutRequest } from '../rollout/index.js';
import type { AuditFilter, BerthClient, PredictResult, RegisterFiles, AlertsView, RolloutAction, RolloutRollbackResult } from './client.js';
import { readGitInfo } from '../registry/index.js';
import { formatBytes } from './format.js';
import { sendRequest, type HttpAnswer } from './http-request.js';

/** Keep in step with REGISTER_BODY_LIMIT_BYTES of the management API (not imported: it would load Fastify). */
export const UPLOAD_LIMIT_BYTES = 500 * 1024 * 1024;

/** `no Berth server at URL; …` */
export function serverUnreachable(url: string, cause?: unknown): BerthError {
  return new BerthError(
    'SERVER_UNREACHABLE',
    `no Berth server at ${url}; start one with \`berth serve\` or drop --server to use the local data dir`,
    { url },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Is a Berth server answering at `url`? One GET /v2/health/live, given up after `timeoutMs`.
 */
export async function probeServer(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await sendRequest('GET', new URL('/v2/health/live', url), { timeoutMs });
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The management API of a running server, over HTTP. */
export class RemoteClient implements BerthClient {
  readonly kind = 'remote' as const;
  readonly where: string;

  constructor(
    readonly baseUrl: string,
    private readonly actor: string | undefined,
  ) {
    this.where = baseUrl.replace(/\/+$/, '');
  }

  listModels(): Promise<ModelList> {
    return this.call('GET', ['v1', 'models']);
  }
  getModel(name: string): Promise<ModelRecord> {
    return this.call('GET', ['v1', 'models', name]);
  }
  updateModel(name: string, patch: MetadataPatch): Promise<ModelRecord> {
    return this.call('PATCH', ['v1', 'models', name], patch);
  }
  deleteModelTag(name: string, key: string): Promise<ModelRecord> {
    return this.call('DELETE', ['v1', 'models', name, 'tags', key]);
  }
  listVersions(name: string): Promise<VersionList> {
    return this.call('GET', ['v1', 'models', name, 'versions']);
  }
  getVersion(name: string, version: number): Promise<VersionRecord> {
    return this.call('GET', ['v1', 'models', name, 'versions', String(version)]);
  }
  updateVersion(name: string, version: number, patch: MetadataPatch): Promise<VersionRecord> {
    return this.call('PATCH', ['v1', 'models', name, 'versions', String(version)], patch);
  }
  deleteVersionTag(name: string, version: number, key: string): Promise<VersionRecord> {
    return this.call('DELETE', ['v1', 'models', name, 'versions', String(version), 'tags', key]);
  }

  /** Reads the files here and uploads them base64-encoded, with this machine's path and git facts. */
  async registerVersion(files: RegisterFiles): Promise<RegisterVersionResult> {
    const modelPath = resolve(files.path);
    const model = await readLocalFile('model file', modelPath);
    const card = files.cardPath === undefined ? undefined : await readLocalFile('card', resolve(files.cardPath));
    const reference = files.referencePath === undefined ? undefined : await readLocalFile('reference data', resolve(files.referencePath));
    const size = Math.ceil(model.length / 3) * 4 + Math.ceil((reference?.length ?? 0) / 3) * 4 + (card?.length ?? 0);
    if (size > UPLOAD_LIMIT_BYTES) {
      throw new BerthError(
        'PAYLOAD_TOO_LARGE',
        `${files.path} is too large to upload to ${this.where} (${formatBytes(size)} encoded; at most ${formatBytes(UPLOAD_LIMIT_BYTES)}); ` +
          'register it on the server machine against its data dir: berth --local --data-dir DIR models register …',
        { field: 'path' },
      );
    }
    const body: RegisterUploadBody = {
      model_base64: model.toString('base64'),
      file_name: basename(modelPath),
      source_path: modelPath,
      lineage: { sourcePath: modelPath, ...gitLineage(await readGitInfo(dirname(modelPath))) },
    };
    if (card && files.cardPath !== undefined) {
      body.card_text = card.toString('utf8');
      body.card_file_name = basename(files.cardPath);
    }
    if (reference && files.referencePath !== undefined) {
      body.reference_csv_base64 = reference.toString('base64');
      body.reference_file_name = basename(files.referencePath);
    }
    if (files.description !== undefined) body.description = files.description;
    if (files.tags !== undefined) body.tags = files.tags;
    return this.call('POST', ['v1', 'models', files.name, 'versions'], body);
  }

  setAlias(name: string, alias: string, version: number): Promise<AliasMoveResult> {
    return this.call('PUT', ['v1', 'models', name, 'aliases', alias], { version });
  }
  deleteAlias(name: string, alias: string): Promise<AliasDeleteResult> {
    return this.call('DELETE', ['v1', 'models', name, 'aliases', alias]);
  }
  rollbackAlias(name: string, alias: string): Promise<AliasMoveResult> {
    return this.call('POST', ['v1', 'models', name, 'aliases', alias, 'rollback']);
  }
  aliasHistory(name: string, opts: { alias?: string; atMs?: number }): Promise<AliasHistoryView> {
    return this.call('GET', ['v1', 'models', name, 'aliases', 'history'], undefined, {
      alias: opts.alias,
      at: opts.atMs === undefined ? undefined : new Date(opts.atMs).toISOString(),
    });
  }
  listDeployments(): Promise<DeploymentList> {
    return this.call('GET', ['v1', 'deployments']);
  }
  getDeployment(name: string): Promise<DeploymentView> {
    return this.call('GET', ['v1', 'deployments', name]);
  }
  deploy(name: string, req: DeployRequest): Promise<DeployResult> {
    return this.call('PUT', ['v1', 'deployments', name], req);
  }
  deleteDeployment(name: string): Promise<DeploymentDeleteResult> {
    return this.call('DELETE', ['v1', 'deployments', name]);
  }
  deploymentHistory(name: string, opts: { atMs?: number }): Promise<DeploymentHistoryView> {
    return this.call('GET', ['v1', 'deployments', name, 'history'], undefined, {
      at: opts.atMs === undefined ? undefined : new Date(opts.atMs).toISOString(),
    });
  }
  rollbackDeployment(name: string): Promise<DeploymentRecord> {
    return this.call('POST', ['v1', 'deployments', name, 'rollback']);
  }
  audit(filter: AuditFilter): Promise<AuditList> {
    return this.call('GET', ['v1', 'audit'], undefined, {
      limit: filter.limit?.toString(),
      since: filter.since === undefined ? undefined : new Date(filter.since).toISOString(),
      action: filter.action,
      target: filter.target,
      model: filter.model,
    });
  }
  status(): Promise<StatusView> {
    return this.call('GET', ['v1', 'status']);
  }
  predict(deployment: string, body: unknown): Promise<PredictResult> {
    return this.call('POST', ['v1', 'deployments', deployment, 'predict'], body);
  }
  async profileVersion(name: string, version: number, referencePath: string): Promise<ProfileResult> {
    const data = await readLocalFile('reference data', resolve(referencePath));
    return this.call('POST', ['v1', 'models', name, 'versions', String(version), 'profile'], {
      reference_base64: data.toString('base64'),
      reference_file_name: basename(referencePath),
    });
  }
  monitorReport(deployment: string, req: ReportRequest): Promise<MonitorReport> {
    return this.call('GET', ['v1', 'deployments', deployment, 'monitor'], undefined, {
      window: req.window,
      against: req.against,
      version: req.version?.toString(),
      preset: req.preset,
    });
  }
  alerts(): Promise<AlertsView> {
    return this.call('GET', ['v1', 'alerts']);
  }
  sendFeedback(deployment: string, body: unknown): Promise<FeedbackResult> {
    return this.call('POST', ['v1', 'deployments', deployment, 'feedback'], body);
  }
  startRollout(deployment: string, req: StartRolloutRequest): Promise<RolloutRecord> {
    return this.call('POST', ['v1', 'deployments', deployment, 'rollout'], req);
  }
  rolloutStatus(deployment: string): Promise<RolloutStatus> {
    return this.call('GET', ['v1', 'deployments', deployment, 'rollout']);
  }
  listRollouts(deployment?: string): Promise<RolloutRecord[]> {
    return this.call('GET', deployment === undefined ? ['v1', 'rollouts'] : ['v1', 'deployments', deployment, 'rollouts']);
  }
  steerRollout(deployment: string, action: RolloutAction, reason?: string): Promise<RolloutRecord> {
    return this.call('POST', ['v1', 'deployments', deployment, 'rollout', action], reason !== undefined ? { reason } : {});
  }
  rollbackRollout(deployment: string): Promise<RolloutRollbackResult> {
    return this.call('POST', ['v1', 'deployments', deployment, 'rollout', 'rollback'], {});
  }
  async close(): Promise<void> {}

  private async call<T>(method: string, segments: string[], body?: unknown, query?: Record<string, string | undefined>): Promise<T> {
    const url = new URL(segments.map(encodeURIComponent).join('/'), this.where + '/');
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.actor !== undefined) headers['x-berth-actor'] = this.actor;
    let res: HttpAnswer;
    try {
      res = await sendRequest(method, url, { headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw serverUnreachable(this.where, err);
    }
    let parsed: unknown;
    try {
      parsed = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      parsed = undefined;
    }
    if (res.status < 200 || res.status >= 300) {
      const e = (parsed ?? {}) as { error?: unknown; code?: unknown; field?: unknown };
      const code = typeof e.code === 'string' && e.code in ERROR_CATALOG ? (e.code as ErrorCode) : res.status === 404 ? 'NOT_FOUND' : 'INTERNAL';
      const message = typeof e.error === 'string' ? e.error : `${method} ${url.pathname} answered ${res.status} ${res.statusText}`;
      throw new BerthError(code, message, { status: res.status, ...(typeof e.field === 'string' ? { field: e.field } : {}) });
    }
    if (parsed === undefined) throw new BerthError('INTERNAL', `${method} ${url.pathname} answered ${res.status} without a JSON body`);
    return parsed as T;
  }
}

async function readLocalFile(what: string, path: string): Promise<Buffer> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a file');
    return await readFile(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BerthError('INVALID_ARGUMENT', `${what} ${path} ${missing ? 'does not exist; check the path' : `cannot be read (${(err as Error).message})`}`, {
      field: what,
      got: path,
    }, { cause: err });
  }
}

/** Git facts as lineage fields (the server records what the client saw). */
function gitLineage(info: Awaited<ReturnType<typeof readGitInfo>>): { gitCommit?: string; gitDirty?: boolean; gitRemote?: string } {
  if (!info) return {};
  return { gitCommit: info.commit, ...(info.dirty !== undefined ? { gitDirty: info.dirty } : {}), ...(info.remote ? { gitRemote: info.remote } : {}) };
}

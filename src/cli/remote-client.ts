import type { CreateTokenRequest } from '../protocol/index.js';
import type { TokenView } from '../security/index.js';
import type { WhoAmI } from './client.js';
import type { FeedbackResult, MonitorReport, ProfileResult, ReportRequest } from '../monitor/index.js';
import { readFile, stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
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
import type { AliasMoveResult, AuditVerification, DeployResult, DeploymentRecord, ModelRecord, RegisterVersionResult, VersionRecord } from '../registry/index.js';
import type { RolloutRecord, RolloutStatus, StartRolloutRequest } from '../rollout/index.js';
import type { JobLogLine, JobRecord, JobRequest, ScheduleRecord } from '../jobs/index.js';
import type { DatasetFingerprint, PipelineRecord, RunLogLine, RunMetric, RunRecord, RunTrigger } from '../pipelines/index.js';
import type { SignatureReport, SignatureUpload, SignatureUploadResult } from '../security/index.js';
import type { AuditFilter, BerthClient, ExplainJob, ExplainQueued, ExplainResult, ImportanceResult, PredictResult, RegisterFiles, AlertsView, RolloutAction, RolloutRollbackResult } from './client.js';
import { readGitInfo } from '../registry/index.js';
import { formatBytes } from './format.js';
import { BerthApiError, BerthClientError, createClient, type BerthClient as SdkClient } from 'berth/sdk';

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
  const client = createClient({ url, timeoutMs, retry: false });
  try {
    return await client.live();
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

/** How long one CLI call may take, uploads included, before the CLI gives up. */
const CALL_TIMEOUT_MS = 15 * 60_000;

/**
 * The management API of a running server, through the SDK (`berth/sdk`): its retries of 429/503
 * after Retry-After, its deadlines and its errors, turned into the CLI's BerthErrors.
 */
export class RemoteClient implements BerthClient {
  readonly kind = 'remote' as const;
  readonly where: string;
  private readonly sdk: SdkClient;

  constructor(
    readonly baseUrl: string,
    private readonly actor: string | undefined,
    private readonly token?: string,
  ) {
    this.where = baseUrl.replace(/\/+$/, '');
    this.sdk = createClient({
      url: this.where,
      timeoutMs: CALL_TIMEOUT_MS,
      ...(token !== undefined ? { token } : {}),
      ...(actor !== undefined ? { headers: { 'x-berth-actor': actor } } : {}),
    });
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
      lineage: { sourcePath: modelPath, ...gitLineage(await readGitInfo(dirname(modelPath))), ...(files.lineage ?? {}) },
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
    return this.call('GET', ['v1', 'audit'], undefined, { limit: filter.limit?.toString(), ...auditQuery(filter) });
  }
  verifyAudit(): Promise<AuditVerification> {
    return this.call('GET', ['v1', 'audit', 'verify']);
  }
  async exportAudit(filter: AuditFilter, write: (chunk: string) => Promise<void>): Promise<number> {
    const url = new URL('v1/audit/export', this.where + '/');
    for (const [k, v] of Object.entries(auditQuery(filter))) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/x-ndjson' };
    if (this.actor !== undefined) headers['x-berth-actor'] = this.actor;
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    let rows = 0;
    let pending = '';
    const failed = await streamGet(url, headers, async (text) => {
      // hand on whole lines only: a chunk of the response may end inside an entry
      const end = text.lastIndexOf('\n');
      if (end < 0) {
        pending += text;
        return;
      }
      const lines = pending + text.slice(0, end + 1);
      pending = text.slice(end + 1);
      for (let i = lines.indexOf('\n'); i >= 0; i = lines.indexOf('\n', i + 1)) rows++;
      await write(lines);
    }).catch((err: unknown) => {
      if (err instanceof StreamCut) {
        throw new BerthError('INTERNAL', `the audit export from ${this.where} was cut off after ${rows} entries (${err.message}); run it again`, { url: this.where }, { cause: err });
      }
      if (err instanceof NoAnswer) throw serverUnreachable(this.where, err.cause);
      throw err;
    });
    if (failed) throw answerError('GET', url, failed);
    if (pending !== '') throw new BerthError('INTERNAL', `the audit export from ${this.where} ended inside an entry after ${rows} entries; run it again`, { url: this.where });
    return rows;
  }
  status(): Promise<StatusView> {
    return this.call('GET', ['v1', 'status']);
  }
  importance(deployment: string, body: unknown): Promise<ImportanceResult> {
    return this.call('POST', ['v1', 'deployments', deployment, 'importance'], body);
  }
  explain(deployment: string, body: unknown): Promise<ExplainResult | ExplainQueued> {
    return this.call('POST', ['v1', 'deployments', deployment, 'explain'], body);
  }
  explainJob(deployment: string, id: number): Promise<ExplainJob> {
    return this.call('GET', ['v1', 'deployments', deployment, 'explain', 'jobs', String(id)]);
  }
  explainJobResult(deployment: string, id: number): Promise<ExplainResult> {
    return this.call('GET', ['v1', 'deployments', deployment, 'explain', 'jobs', String(id), 'result']);
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
  signatures(name: string, version: number): Promise<SignatureReport> {
    return this.call('GET', ['v1', 'models', name, 'versions', String(version), 'signatures']);
  }
  addSignature(name: string, version: number, upload: SignatureUpload): Promise<SignatureUploadResult> {
    return this.call('POST', ['v1', 'models', name, 'versions', String(version), 'signatures'], upload);
  }
  createToken(req: CreateTokenRequest): Promise<{ token: string; record: TokenView }> {
    return this.call('POST', ['v1', 'tokens'], req);
  }
  listTokens(): Promise<{ tokens: TokenView[] }> {
    return this.call('GET', ['v1', 'tokens']);
  }
  revokeToken(id: string): Promise<{ token: TokenView; changed: boolean }> {
    return this.call('DELETE', ['v1', 'tokens', id]);
  }
  whoami(): Promise<WhoAmI> {
    return this.call('GET', ['v1', 'auth', 'whoami']);
  }
  async close(): Promise<void> {
    await this.sdk.close();
  }

  /** A version's model file (for scoring in this process: `berth batch run --server`). */
  async downloadArtifact(model: string, version: number): Promise<Uint8Array> {
    try {
      return await this.sdk.downloadArtifact(model, version);
    } catch (err) {
      throw this.cliError(err);
    }
  }

  // server batch jobs (only a server runs them: these are not on the BerthClient interface)
  submitJob(req: JobRequest): Promise<JobRecord> {
    return this.call('POST', ['v1', 'jobs'], req);
  }
  getJob(id: number): Promise<JobRecord> {
    return this.call('GET', ['v1', 'jobs', String(id)]);
  }
  listJobs(filter: { state?: string; model?: string; schedule?: string; limit?: number }): Promise<{ jobs: JobRecord[] }> {
    const q: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q[k] = String(v);
    return this.call('GET', ['v1', 'jobs'], undefined, q);
  }
  cancelJob(id: number): Promise<JobRecord> {
    return this.call('POST', ['v1', 'jobs', String(id), 'cancel'], {});
  }
  jobLogs(id: number, after: number): Promise<{ job: number; state: string; lines: JobLogLine[]; next: number }> {
    return this.call('GET', ['v1', 'jobs', String(id), 'logs'], undefined, { after: String(after) });
  }

  // continuous-training pipelines (a server stores them, runs them and fires their triggers)
  putPipeline(source: string, workdir: string): Promise<{ pipeline: PipelineRecord; created: boolean; changed: boolean }> {
    return this.call('POST', ['v1', 'pipelines'], { source, workdir });
  }
  listPipelines(): Promise<{ pipelines: PipelineRecord[] }> {
    return this.call('GET', ['v1', 'pipelines']);
  }
  getPipeline(name: string): Promise<PipelineRecord> {
    return this.call('GET', ['v1', 'pipelines', name]);
  }
  deletePipeline(name: string): Promise<{ pipeline: string; deleted: true }> {
    return this.call('DELETE', ['v1', 'pipelines', name]);
  }
  pipelineAction(name: string, action: 'pause' | 'resume'): Promise<PipelineRecord> {
    return this.call('POST', ['v1', 'pipelines', name, action], {});
  }
  startPipelineRun(name: string, params: Record<string, string>, trigger?: RunTrigger): Promise<Omit<RunRecord, 'spec'>> {
    return this.call('POST', ['v1', 'pipelines', name, 'runs'], { params, ...(trigger ? { trigger } : {}) });
  }
  listRuns(filter: { pipeline?: string; state?: string; limit?: number }): Promise<{ runs: Omit<RunRecord, 'spec'>[] }> {
    const q: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q[k] = String(v);
    return this.call('GET', ['v1', 'runs'], undefined, q);
  }
  getRun(id: number): Promise<RunRecord & { metrics: RunMetric[]; datasets: (DatasetFingerprint & { step: string })[] }> {
    return this.call('GET', ['v1', 'runs', String(id)]);
  }
  runLogs(id: number, opts: { after: number; step?: string; limit?: number }): Promise<{ run: number; state: string; lines: RunLogLine[]; next: number }> {
    const q: Record<string, string | undefined> = { after: String(opts.after) };
    if (opts.step !== undefined) q['step'] = opts.step;
    if (opts.limit !== undefined) q['limit'] = String(opts.limit);
    return this.call('GET', ['v1', 'runs', String(id), 'logs'], undefined, q);
  }
  cancelRun(id: number): Promise<Omit<RunRecord, 'spec'>> {
    return this.call('POST', ['v1', 'runs', String(id), 'cancel'], {});
  }
  versionLineage(name: string, ref: string): Promise<{ model: string; version: number; sha256: string; registeredAt: string; lineage: Record<string, unknown>; run: (Omit<RunRecord, 'spec'> & { metrics: RunMetric[] }) | null }> {
    return this.call('GET', ['v1', 'lineage', 'models', name, ref]);
  }
  datasetLineage(sha256: string): Promise<{ dataset: string; runs: { run: number; step: string; path: string; sha256: string }[]; versions: { model: string; version: number; runs: number[] }[] }> {
    return this.call('GET', ['v1', 'lineage', 'datasets', sha256]);
  }

  createSchedule(body: unknown): Promise<ScheduleRecord> {
    return this.call('POST', ['v1', 'schedules'], body);
  }
  listSchedules(): Promise<{ schedules: ScheduleRecord[] }> {
    return this.call('GET', ['v1', 'schedules']);
  }
  getSchedule(name: string): Promise<ScheduleRecord> {
    return this.call('GET', ['v1', 'schedules', name]);
  }
  scheduleAction(name: string, action: 'pause' | 'resume' | 'run'): Promise<ScheduleRecord | JobRecord> {
    return this.call('POST', ['v1', 'schedules', name, action], {});
  }
  deleteSchedule(name: string): Promise<{ name: string; deleted: true }> {
    return this.call('DELETE', ['v1', 'schedules', name]);
  }

  private async call<T>(method: string, segments: string[], body?: unknown, query?: Record<string, string | undefined>): Promise<T> {
    let answer: T | undefined;
    try {
      answer = await this.sdk.request<T>({ method, path: segments, ...(body !== undefined ? { body } : {}), ...(query !== undefined ? { query } : {}) });
    } catch (err) {
      throw this.cliError(err);
    }
    if (answer === undefined) throw new BerthError('INTERNAL', `${method} /${segments.join('/')} answered without a JSON body`);
    return answer;
  }

  /** An SDK error as the CLI reports it: the server's code and field, and what to do next. */
  private cliError(err: unknown): BerthError {
    if (err instanceof BerthApiError) {
      const code = err.code in ERROR_CATALOG ? (err.code as ErrorCode) : err.status === 404 ? 'NOT_FOUND' : 'INTERNAL';
      const hint =
        code === 'UNAUTHENTICATED' && this.token === undefined
          ? ' (the CLI sends a token from BERTH_TOKEN or --token)'
          : code === 'FORBIDDEN'
            ? ' (`berth whoami` shows what your token may do)'
            : '';
      return new BerthError(code, err.message + hint, { status: err.status, ...(err.field !== undefined ? { field: err.field } : {}) }, { cause: err });
    }
    if (err instanceof BerthClientError) {
      if (err.code === 'UNREACHABLE') return serverUnreachable(this.where, err);
      if (err.code === 'DEADLINE_EXCEEDED') return new BerthError('DEADLINE_EXCEEDED', err.message, { url: this.where }, { cause: err });
      return new BerthError(err.code === 'INVALID_ARGUMENT' ? 'INVALID_ARGUMENT' : 'INTERNAL', err.message, {}, { cause: err });
    }
    return err instanceof BerthError ? err : new BerthError('INTERNAL', err instanceof Error ? err.message : String(err), {}, { cause: err });
  }
}

/** The query of `/v1/audit` and `/v1/audit/export` for a filter (times as ISO 8601). */
function auditQuery(filter: AuditFilter): Record<string, string | undefined> {
  const at = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
  return { since: at(filter.since), until: at(filter.until), action: filter.action, target: filter.target, model: filter.model };
}

/** A buffered HTTP answer (the non-2xx answer of a streamed GET, for its error). */
interface HttpAnswer {
  status: number;
  statusText: string;
  text: string;
}

/** A 2xx answer whose body stopped before its end (the server failed while streaming it). */
class StreamCut extends Error {}
/** No answer at all (connection refused, reset before the status line). */
class NoAnswer extends Error {}

/**
 * GET `url` and hand a 2xx answer's body to `onText` as it arrives (decoded UTF-8; the next chunk
 * is read only after `onText` settles, so a slow disk slows the download instead of filling
 * memory). Resolves null then; a non-2xx answer resolves buffered, for its error. Rejects with
 * NoAnswer when nothing answers, StreamCut when the connection ends before the body does, and
 * with `onText`'s own error when it fails.
 */
async function streamGet(url: URL, headers: Record<string, string>, onText: (text: string) => Promise<void>): Promise<HttpAnswer | null> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(url, { method: 'GET', headers: { ...headers, connection: 'close' } }, resolve);
    req.on('error', (err) => reject(new NoAnswer(err.message, { cause: err })));
    req.end();
  });
  const status = res.statusCode ?? 0;
  const ok = status >= 200 && status < 300;
  res.setEncoding('utf8');
  let text = '';
  let sinkError: { err: unknown } | undefined;
  try {
    for await (const chunk of res as AsyncIterable<string>) {
      if (!ok) {
        text += chunk;
        continue;
      }
      try {
        await onText(chunk);
      } catch (err) {
        sinkError = { err };
        break;
      }
    }
  } catch (err) {
    throw new StreamCut(err instanceof Error ? err.message : String(err), { cause: err });
  }
  if (sinkError) throw sinkError.err;
  if (!res.complete) throw new StreamCut('the connection closed before the answer was complete');
  return ok ? null : { status, statusText: res.statusMessage ?? '', text };
}

/** The BerthError a non-2xx JSON error answer stands for (the server's code and message). */
function answerError(method: string, url: URL, res: HttpAnswer): BerthError {
  let e: { error?: unknown; code?: unknown; field?: unknown } = {};
  try {
    e = (JSON.parse(res.text) ?? {}) as typeof e;
  } catch {
    // not JSON: the status line says what there is to say
  }
  const code = typeof e.code === 'string' && e.code in ERROR_CATALOG ? (e.code as ErrorCode) : res.status === 404 ? 'NOT_FOUND' : 'INTERNAL';
  const message = typeof e.error === 'string' ? e.error : `${method} ${url.pathname} answered ${res.status} ${res.statusText}`;
  return new BerthError(code, message, { status: res.status, ...(typeof e.field === 'string' ? { field: e.field } : {}) });
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

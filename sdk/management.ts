/**
 * Berth's management API (`/v1`): models, versions, aliases, deployments, rollouts, batch jobs,
 * pipelines, their runs and lineage. Always over REST (gRPC has no management service); a gRPC
 * client reaches it through `managementUrl`.
 */
import { BerthClientError } from './errors.js';
import type { HttpCall, HttpSession } from './http.js';
import { abortedError, deadlineOf, type CallOptions } from './retry.js';
import type {
  AliasDeleteResult,
  AliasMoveResult,
  DatasetLineage,
  DeploymentDeleteResult,
  DeploymentList,
  DeploymentRecord,
  DeploymentView,
  DeployRequest,
  DeployResult,
  JobLogs,
  JobRecord,
  JobRequest,
  JobState,
  MetadataPatch,
  ModelList,
  ModelRecord,
  PipelineDeleteResult,
  PipelineList,
  PipelinePutResult,
  PipelineRecord,
  RegisterRequest,
  RegisterResult,
  RolloutRecord,
  RunDetail,
  RunFilter,
  RunList,
  RunLogLine,
  RunLogs,
  RunRecord,
  RunState,
  StartRolloutRequest,
  StartRunRequest,
  VersionLineage,
  VersionList,
  VersionRecord,
  WhoAmI,
} from './types.js';

/** Sends management calls; fails with a clear error when the client has no REST address. */
export type ManagementSend = <T>(call: HttpCall) => Promise<T>;

export function managementSender(http: HttpSession | null): ManagementSend {
  return <T>(call: HttpCall): Promise<T> => {
    if (http === null) {
      return Promise.reject(new BerthClientError('UNSUPPORTED', 'the management API is REST only: give createClient a managementUrl (the server\'s http:// address) beside the grpc:// url'));
    }
    return http.json<T>(call);
  };
}

const v = (n: number | string): string => String(n);

export class ModelsApi {
  constructor(private readonly send: ManagementSend) {}
  list(o?: CallOptions): Promise<ModelList> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'models'] });
  }
  get(name: string, o?: CallOptions): Promise<ModelRecord> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'models', name] });
  }
  update(name: string, patch: MetadataPatch, o?: CallOptions): Promise<ModelRecord> {
    return this.send({ ...o, method: 'PATCH', path: ['v1', 'models', name], body: patch });
  }
  deleteTag(name: string, key: string, o?: CallOptions): Promise<ModelRecord> {
    return this.send({ ...o, method: 'DELETE', path: ['v1', 'models', name, 'tags', key] });
  }
  /** Upload a new version (the same file again answers the existing version with `created: false`). */
  register(name: string, req: RegisterRequest, o?: CallOptions): Promise<RegisterResult> {
    const body: Record<string, unknown> = {
      model_base64: Buffer.from(req.model.buffer, req.model.byteOffset, req.model.byteLength).toString('base64'),
      file_name: req.fileName ?? 'model.onnx',
    };
    if (req.card !== undefined) {
      body['card_text'] = req.card;
      body['card_file_name'] = req.cardFileName ?? 'card.yaml';
    }
    if (req.reference !== undefined) {
      body['reference_csv_base64'] = Buffer.from(req.reference.buffer, req.reference.byteOffset, req.reference.byteLength).toString('base64');
      body['reference_file_name'] = req.referenceFileName ?? 'reference.csv';
    }
    if (req.description !== undefined) body['description'] = req.description;
    if (req.tags !== undefined) body['tags'] = req.tags;
    if (req.sourcePath !== undefined) body['source_path'] = req.sourcePath;
    if (req.lineage !== undefined) body['lineage'] = req.lineage;
    // an upload is not repeated on 503: the server may have stored it
    return this.send({ retry: false, ...o, method: 'POST', path: ['v1', 'models', name, 'versions'], body });
  }
  versions(name: string, o?: CallOptions): Promise<VersionList> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'models', name, 'versions'] });
  }
  version(name: string, version: number, o?: CallOptions): Promise<VersionRecord> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'models', name, 'versions', v(version)] });
  }
  updateVersion(name: string, version: number, patch: MetadataPatch, o?: CallOptions): Promise<VersionRecord> {
    return this.send({ ...o, method: 'PATCH', path: ['v1', 'models', name, 'versions', v(version)], body: patch });
  }
  deleteVersionTag(name: string, version: number, key: string, o?: CallOptions): Promise<VersionRecord> {
    return this.send({ ...o, method: 'DELETE', path: ['v1', 'models', name, 'versions', v(version), 'tags', key] });
  }
  /** Point `alias` at `version` (`production`, `staging`, anything). */
  setAlias(name: string, alias: string, version: number, o?: CallOptions): Promise<AliasMoveResult> {
    return this.send({ ...o, method: 'PUT', path: ['v1', 'models', name, 'aliases', alias], body: { version } });
  }
  deleteAlias(name: string, alias: string, o?: CallOptions): Promise<AliasDeleteResult> {
    return this.send({ ...o, method: 'DELETE', path: ['v1', 'models', name, 'aliases', alias] });
  }
  /** Move the alias back to where it pointed before its last move. */
  rollbackAlias(name: string, alias: string, o?: CallOptions): Promise<AliasMoveResult> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'models', name, 'aliases', alias, 'rollback'] });
  }
}

export class DeploymentsApi {
  constructor(private readonly send: ManagementSend) {}
  list(o?: CallOptions): Promise<DeploymentList> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'deployments'] });
  }
  get(name: string, o?: CallOptions): Promise<DeploymentView> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'deployments', name] });
  }
  /** Create or update a deployment (answers `changed: false` when nothing changed). */
  deploy(name: string, req: DeployRequest, o?: CallOptions): Promise<DeployResult> {
    return this.send({ ...o, method: 'PUT', path: ['v1', 'deployments', name], body: req });
  }
  delete(name: string, o?: CallOptions): Promise<DeploymentDeleteResult> {
    return this.send({ ...o, method: 'DELETE', path: ['v1', 'deployments', name] });
  }
  /** Back to the previous revision. */
  rollback(name: string, o?: CallOptions): Promise<DeploymentRecord> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'deployments', name, 'rollback'] });
  }
}

export class RolloutsApi {
  constructor(private readonly send: ManagementSend) {}
  start(deployment: string, req: StartRolloutRequest, o?: CallOptions): Promise<RolloutRecord> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'deployments', deployment, 'rollout'], body: req });
  }
  /** The deployment's newest rollout, its decisions and the step's live numbers. */
  status(deployment: string, o?: CallOptions): Promise<{ rollout: RolloutRecord | null; [k: string]: unknown }> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'deployments', deployment, 'rollout'] });
  }
  /** Rollouts of one deployment, or of all; newest first. */
  list(deployment?: string, o?: CallOptions): Promise<RolloutRecord[]> {
    return this.send({ ...o, method: 'GET', path: deployment === undefined ? ['v1', 'rollouts'] : ['v1', 'deployments', deployment, 'rollouts'] });
  }
  pause(deployment: string, reason?: string, o?: CallOptions): Promise<RolloutRecord> {
    return this.steer(deployment, 'pause', reason, o);
  }
  resume(deployment: string, o?: CallOptions): Promise<RolloutRecord> {
    return this.steer(deployment, 'resume', undefined, o);
  }
  /** Skip the remaining steps: the new version takes all traffic. */
  promote(deployment: string, o?: CallOptions): Promise<RolloutRecord> {
    return this.steer(deployment, 'promote', undefined, o);
  }
  abort(deployment: string, reason?: string, o?: CallOptions): Promise<RolloutRecord> {
    return this.steer(deployment, 'abort', reason, o);
  }
  /** Back to the previous stable version: ends or undoes the rollout, else the previous revision. */
  rollback(deployment: string, o?: CallOptions): Promise<{ rollout: RolloutRecord | null; deployment: DeploymentRecord }> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'deployments', deployment, 'rollout', 'rollback'], body: {} });
  }
  private steer(deployment: string, action: string, reason: string | undefined, o?: CallOptions): Promise<RolloutRecord> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'deployments', deployment, 'rollout', action], body: reason !== undefined ? { reason } : {} });
  }
}

export class JobsApi {
  constructor(private readonly send: ManagementSend) {}
  /** Queue a batch job; the answer is the queued job (checked before it was queued). */
  submit(req: JobRequest, o?: CallOptions): Promise<JobRecord> {
    // a submit is not repeated on 503: the server may have queued it
    return this.send({ retry: false, ...o, method: 'POST', path: ['v1', 'jobs'], body: req });
  }
  get(id: number, o?: CallOptions): Promise<JobRecord> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'jobs', v(id)] });
  }
  /** Jobs, newest first. */
  list(filter: { state?: JobState; model?: string; schedule?: string; limit?: number; before?: number } = {}, o?: CallOptions): Promise<{ jobs: JobRecord[] }> {
    const query: Record<string, string> = {};
    for (const [k, val] of Object.entries(filter)) if (val !== undefined) query[k] = String(val);
    return this.send({ ...o, method: 'GET', path: ['v1', 'jobs'], query });
  }
  /** Stop a job: a queued one at once, a running one at its next batch. */
  cancel(id: number, o?: CallOptions): Promise<JobRecord> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'jobs', v(id), 'cancel'], body: {} });
  }
  /** Log lines after `after` (0: from the start). */
  logs(id: number, after = 0, o?: CallOptions): Promise<JobLogs> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'jobs', v(id), 'logs'], query: { after: String(after) } });
  }
  /**
   * Poll until the job has finished (succeeded, failed or cancelled), telling `onUpdate` of each
   * change; resolves to the finished job whatever its state.
   */
  async wait(id: number, opts: { intervalMs?: number; onUpdate?: (job: JobRecord) => void; signal?: AbortSignal } = {}): Promise<JobRecord> {
    for (;;) {
      const job = await this.get(id, opts.signal !== undefined ? { signal: opts.signal } : {});
      opts.onUpdate?.(job);
      if (job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled') return job;
      await pause(opts.intervalMs ?? 500, opts.signal, `waiting for job ${id}`);
    }
  }
}

export class PipelinesApi {
  constructor(private readonly send: ManagementSend) {}
  /**
   * Store a pipeline from its file's text (`berth.pipeline.yaml`); its commands run in `workdir`,
   * a directory on the server. A changed text is a new version; the same text answers `changed: false`.
   */
  put(source: string, workdir: string, o?: CallOptions): Promise<PipelinePutResult> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'pipelines'], body: { source, workdir } });
  }
  list(o?: CallOptions): Promise<PipelineList> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'pipelines'] });
  }
  get(name: string, o?: CallOptions): Promise<PipelineRecord> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'pipelines', name] });
  }
  /** Remove a stored pipeline; its runs and their lineage stay. */
  delete(name: string, o?: CallOptions): Promise<PipelineDeleteResult> {
    return this.send({ ...o, method: 'DELETE', path: ['v1', 'pipelines', name] });
  }
  /** Stop its triggers from starting runs (runs started through the API still run). */
  pause(name: string, o?: CallOptions): Promise<PipelineRecord> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'pipelines', name, 'pause'], body: {} });
  }
  resume(name: string, o?: CallOptions): Promise<PipelineRecord> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'pipelines', name, 'resume'], body: {} });
  }
  /** Queue a run; the answer is the queued run (its params checked and resolved). `runs.wait` follows it. */
  run(name: string, req: StartRunRequest = {}, o?: CallOptions): Promise<RunRecord> {
    // not repeated on 503: the server may have queued it
    return this.send({ retry: false, ...o, method: 'POST', path: ['v1', 'pipelines', name, 'runs'], body: req });
  }
  /** The pipeline's runs, newest first. */
  runs(name: string, filter: { limit?: number } = {}, o?: CallOptions): Promise<RunList> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'pipelines', name, 'runs'], query: { limit: filter.limit } });
  }
}

const FINISHED_RUN_STATES: readonly RunState[] = ['succeeded', 'failed', 'cancelled'];

export class RunsApi {
  constructor(private readonly send: ManagementSend) {}
  /** Runs of every pipeline (or of one, or in one state), newest first. */
  list(filter: RunFilter = {}, o?: CallOptions): Promise<RunList> {
    const query: Record<string, string> = {};
    for (const [k, val] of Object.entries(filter)) if (val !== undefined) query[k] = String(val);
    return this.send({ ...o, method: 'GET', path: ['v1', 'runs'], query });
  }
  /** A run with the spec it runs with, its tracked metrics and its datasets' fingerprints. */
  get(id: number, o?: CallOptions): Promise<RunDetail> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'runs', v(id)] });
  }
  /** Log lines after `after` (default 0: from the start), of one step or all, at most `limit` (default 1,000). */
  logs(id: number, opts: { after?: number; step?: string; limit?: number } = {}, o?: CallOptions): Promise<RunLogs> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'runs', v(id), 'logs'], query: { after: opts.after ?? 0, step: opts.step, limit: opts.limit } });
  }
  /** Stop a run: a queued one at once, a running one at its next heartbeat (its step's processes are killed). */
  cancel(id: number, o?: CallOptions): Promise<RunRecord> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'runs', v(id), 'cancel'], body: {} });
  }
  /**
   * Poll until the run has ended (succeeded, failed or cancelled), telling `onUpdate` of each poll;
   * resolves to the ended run whatever its state. With `timeoutMs`, a run still going after that
   * long fails the wait with `BerthClientError` `DEADLINE_EXCEEDED` (the run goes on: cancel it if
   * it should not).
   */
  async wait(id: number, opts: { intervalMs?: number; timeoutMs?: number; onUpdate?: (run: RunDetail) => void; signal?: AbortSignal } = {}): Promise<RunDetail> {
    const deadline = opts.timeoutMs === undefined ? Infinity : deadlineOf(opts.timeoutMs);
    const what = `waiting for run ${id}`;
    for (;;) {
      const run = await this.get(id, opts.signal !== undefined ? { signal: opts.signal } : {});
      opts.onUpdate?.(run);
      if (FINISHED_RUN_STATES.includes(run.state)) return run;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new BerthClientError('DEADLINE_EXCEEDED', `${what}: still ${run.state} after ${opts.timeoutMs} ms; raise timeoutMs, or stop it with runs.cancel(${id})`);
      }
      await pause(Math.min(opts.intervalMs ?? 1000, left), opts.signal, what);
    }
  }
  /**
   * The run's log lines as they come, until it has ended and every line has been read: a
   * `for await` loop that ends with the run. `after` starts later than the first line; `step`
   * follows one step.
   *
   * @example
   * for await (const l of client.runs.follow(run.id)) console.log(`[${l.step}] ${l.line}`);
   */
  async *follow(id: number, opts: { after?: number; step?: string; intervalMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<RunLogLine, void, undefined> {
    const limit = 1000;
    const what = `following run ${id}`;
    let after = opts.after ?? 0;
    for (;;) {
      const page = await this.logs(id, { after, limit, ...(opts.step !== undefined ? { step: opts.step } : {}) }, opts.signal !== undefined ? { signal: opts.signal } : {});
      for (const line of page.lines) yield line;
      after = page.next;
      // the server reads the state before the lines: once it is final, an empty page is the end
      if (FINISHED_RUN_STATES.includes(page.state)) {
        if (page.lines.length === 0) return;
        continue;
      }
      if (page.lines.length < limit) await pause(opts.intervalMs ?? 1000, opts.signal, what);
    }
  }
}

export class LineageApi {
  constructor(private readonly send: ManagementSend) {}
  /** Where a version came from: the run that registered it (with its metrics), code, data, params and parent. */
  version(model: string, ref: number | string, o?: CallOptions): Promise<VersionLineage> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'lineage', 'models', model, v(ref)] });
  }
  /** The runs that read a dataset and the versions they registered: its sha256, or the first 8+ hex digits. */
  dataset(sha256: string, o?: CallOptions): Promise<DatasetLineage> {
    return this.send({ ...o, method: 'GET', path: ['v1', 'lineage', 'datasets', sha256] });
  }
}

/** Wait `ms`, or fail with `ABORTED` when the signal fires first. */
function pause(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(what, signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortedError(what, signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function whoami(send: ManagementSend, o?: CallOptions): Promise<WhoAmI> {
  return send({ ...o, method: 'GET', path: ['v1', 'auth', 'whoami'] });
}

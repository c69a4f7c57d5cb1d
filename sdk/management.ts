/**
 * Berth's management API (`/v1`): models, versions, aliases, deployments and rollouts. Always over
 * REST (gRPC has no management service); a gRPC client reaches it through `managementUrl`.
 */
import { BerthClientError } from './errors.js';
import type { HttpCall, HttpSession } from './http.js';
import type { CallOptions } from './retry.js';
import type {
  AliasDeleteResult,
  AliasMoveResult,
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
  RegisterRequest,
  RegisterResult,
  RolloutRecord,
  StartRolloutRequest,
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
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, opts.intervalMs ?? 500);
        opts.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));
        }, { once: true });
      });
    }
  }
}

export function whoami(send: ManagementSend, o?: CallOptions): Promise<WhoAmI> {
  return send({ ...o, method: 'GET', path: ['v1', 'auth', 'whoami'] });
}

/**
 * The front door of server jobs, for the REST routes and the scheduler alike: a request is checked
 * (fields, model, paths, input) before anything is queued, so a bad job is a 4xx now rather than
 * a failed job later.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BerthError, ModelRef } from '../core/index.js';
import type { Registry, VersionRecord } from '../registry/index.js';
import { confineJobPaths, isUrl, parseJobRequest, type JobRequest } from './job-request.js';
import type { JobRunner } from './runner.js';
import type { JobListOptions, JobLogLine, JobRecord, JobStore } from './store.js';

export interface JobServiceOptions {
  registry: Registry;
  store: JobStore;
  /** null when this replica runs no jobs (they wait for one that does) */
  runner: JobRunner | null;
  /** where callers without admin may read and write; relative paths resolve under the first */
  roots: readonly string[];
  /** refuse versions the server would not serve (signatures required and missing) */
  verifyVersion?: (v: VersionRecord) => Promise<void>;
}

/** Who submits, and for which schedule instant. */
export interface SubmitOptions {
  actor: string;
  /** callers with the admin role may use any path on the server */
  admin: boolean;
  schedule?: string;
  scheduledAt?: number;
}

export class JobService {
  constructor(private readonly opts: JobServiceOptions) {}

  /**
   * Check and queue a batch job. The model reference is resolved now: the job scores with the
   * version the alias pointed at when it was submitted, whatever happens to the alias meanwhile.
   */
  async submit(body: unknown, who: SubmitOptions): Promise<JobRecord> {
    const { req, version } = await this.checked(body, who.admin);
    checkInput(req);
    const job = await this.opts.store.submit({
      request: req, model: version.model, version: version.version, actor: who.actor,
      ...(who.schedule !== undefined ? { schedule: who.schedule } : {}),
      ...(who.scheduledAt !== undefined ? { scheduledAt: who.scheduledAt } : {}),
    });
    await this.opts.store.log(job.id, 'info', `submitted by ${who.actor}${who.schedule !== undefined ? ` (schedule ${who.schedule})` : ''}: ${req.model} → ${version.model}@${version.version}`);
    this.opts.runner?.kick();
    return job;
  }

  /**
   * Check a job request as a submit would, without queueing it and without requiring the input
   * to exist yet (a schedule's nightly file arrives later). Answers the request with its paths
   * resolved, ready to store.
   */
  async check(body: unknown, admin: boolean): Promise<JobRequest> {
    return (await this.checked(body, admin)).req;
  }

  /** Fields, paths (against the caller's rights), the model reference and the version's trust. */
  private async checked(body: unknown, admin: boolean): Promise<{ req: JobRequest; version: VersionRecord }> {
    const req = confineJobPaths(parseJobRequest(body), this.opts.roots, admin);
    const version = await this.opts.registry.resolve(ModelRef.parse(req.model));
    await this.opts.verifyVersion?.(version);
    return { req, version };
  }

  get(id: number): Promise<JobRecord> {
    return this.opts.store.get(id);
  }

  list(opts: JobListOptions): Promise<JobRecord[]> {
    return this.opts.store.list(opts);
  }

  async cancel(id: number, actor: string): Promise<JobRecord> {
    const job = await this.opts.store.cancel(id, actor);
    this.opts.runner?.cancelled(id);
    return job;
  }

  logs(id: number, after?: number, limit?: number): Promise<JobLogLine[]> {
    return this.opts.store.logs(id, after, limit);
  }

  /** Whether any replica reachable from here runs jobs (for the submit answer's hint). */
  get runsHere(): boolean {
    return this.opts.runner !== null;
  }
}

/** A local input must exist now (a glob must have a directory that does). */
function checkInput(req: JobRequest): void {
  if (isUrl(req.input)) return;
  const glob = /[*?[]/.test(req.input);
  const probe = glob ? path.dirname(req.input) : req.input;
  if (!existsSync(probe)) {
    throw new BerthError('INVALID_ARGUMENT', `input: ${glob ? 'the directory of ' : ''}${JSON.stringify(probe)} does not exist on the server; paths are the server's (relative ones resolve under its jobs root)`, {
      field: 'input', expected: 'an existing file or glob on the server', got: req.input,
    });
  }
}

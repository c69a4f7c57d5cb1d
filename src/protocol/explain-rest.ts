import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, type Logger, type Tensor } from '../core/index.js';
import { PERMUTATION_METRICS, parseExplainOptions, type ExplainOptions, type ExplainService, type PermutationMetric } from '../explain/index.js';
import type { ExplainJobRunner } from '../jobs/index.js';
import type { Registry, VersionRecord } from '../registry/index.js';
import { validateInputs, type InferenceService } from '../serving/index.js';
import { decodeRows } from './codec/rows.js';
import { decodeInferRequest } from './codec/v2-json.js';
import type { TensorLimits } from './codec/elements.js';
import { isPlainObject } from './codec/elements.js';
import { jsonSender, sendError } from './http-errors.js';
import { actorOf } from './management-rest.js';

/**
 * Explanations next to predictions:
 * - `POST /v1/deployments/{name}/explain` takes rows as friendly predict does;
 * - `POST /v2/models/{name}/explain` takes the v2 infer body.
 * Both take the options `method`, `budget`, `class`, `link` and `seed`, explain the version the
 * deployment serves now, and answer every feature's contribution (docs/explain.md).
 */
export function registerExplainRoutes(app: FastifyInstance, opts: {
  service: InferenceService; explain: ExplainService; registry: Registry; logger: Logger; limits?: TensorLimits;
  /** explain jobs (null: large requests are refused instead of queued) */
  jobs: ExplainJobRunner | null;
  /** the most model evaluations answered while the caller waits (`explain.maxEvaluations`) */
  maxSyncEvaluations: number;
}): void {
  const { service, explain, registry, logger, jobs } = opts;
  const send = jsonSender(logger);

  /** Answer now, or queue a job when asked (`async: true`) or when it is too large to wait for. */
  const answer = async (req: FastifyRequest, reply: FastifyReply, deployment: string, version: VersionRecord, inputs: Tensor[], options: ExplainOptions, asked: boolean, extra: Record<string, unknown>) => {
    const n = inputs[0]?.shape[0] ?? 0;
    const estimate = await explain.estimate(version, n, options);
    if (jobs !== null && (asked || estimate.evaluations > opts.maxSyncEvaluations)) {
      const job = await jobs.submit(deployment, version, inputs, options, estimate, actorOf(req));
      reply.code(202).header('location', `/v1/deployments/${encodeURIComponent(deployment)}/explain/jobs/${job.id}`);
      return { job, message: `queued as explain job ${job.id}: about ${estimate.evaluations.toLocaleString('en-US')} model evaluations; follow it at GET /v1/deployments/${deployment}/explain/jobs/${job.id}` };
    }
    return { ...extra, ...(await explain.explain(version, inputs, options)) };
  };
  const sendDynamic = async (req: FastifyRequest, reply: FastifyReply, fn: () => Promise<unknown>): Promise<FastifyReply> => {
    try {
      const out = await fn();
      return reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(out));
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  };
  const jobId = (raw: string): number => {
    if (!/^[0-9]{1,15}$/.test(raw)) throw new BerthError('INVALID_ARGUMENT', `job: expected an explain job id (a whole number), got ${JSON.stringify(raw)}`, { field: 'job', expected: 'a whole number', got: raw });
    return Number(raw);
  };
  const ownJob = async (deployment: string, id: number) => {
    if (jobs === null) throw new BerthError('NOT_FOUND', 'explain jobs are off on this server (jobs.enabled false)', { field: 'job' });
    const job = await jobs.record(id);
    if (job.deployment !== deployment) throw new BerthError('NOT_FOUND', `no explain job ${id} of deployment "${deployment}"`, { field: 'job', got: String(id) });
    return job;
  };

  app.get<{ Params: { name: string; id: string } }>('/v1/deployments/:name/explain/jobs/:id', async (req, reply) =>
    send(req, reply, async () => ownJob(req.params.name, jobId(req.params.id))));
  app.get<{ Params: { name: string; id: string } }>('/v1/deployments/:name/explain/jobs/:id/result', async (req, reply) =>
    send(req, reply, async () => {
      const job = await ownJob(req.params.name, jobId(req.params.id));
      return jobs!.result(job.id);
    }));
  app.post<{ Params: { name: string; id: string } }>('/v1/deployments/:name/explain/jobs/:id/cancel', async (req, reply) =>
    send(req, reply, async () => {
      const job = await ownJob(req.params.name, jobId(req.params.id));
      return jobs!.cancel(job.id, actorOf(req));
    }));

  const versionOf = async (deployment: string) => {
    const route = await service.route(deployment);
    return registry.getVersion(route.version.model, route.version.version);
  };

  app.post<{ Params: { name: string } }>('/v1/deployments/:name/explain', async (req, reply) =>
    sendDynamic(req, reply, async () => {
      const body = objectBody(req.body);
      const options = parseExplainOptions(body, ['rows', 'instances', 'async']);
      const asked = asyncFlag(body);
      const version = await versionOf(req.params.name);
      const inputs = validateInputs(version.signature, decodeRows(body, version.signature, opts.limits));
      return answer(req, reply, req.params.name, version, inputs, options, asked, { deployment: req.params.name });
    }));

  app.post<{ Params: { name: string } }>('/v1/deployments/:name/importance', async (req, reply) =>
    send(req, reply, async () => {
      const body = req.body === undefined || req.body === null ? {} : objectBody(req.body);
      const o = parseImportanceOptions(body);
      const version = await versionOf(req.params.name);
      return { deployment: req.params.name, ...(await explain.permutationImportance(version, o)) };
    }));

  app.post<{ Params: { name: string } }>('/v2/models/:name/explain', async (req, reply) =>
    sendDynamic(req, reply, async () => {
      const body = objectBody(req.body);
      const options = parseExplainOptions(body, ['id', 'inputs', 'outputs', 'parameters', 'async']);
      const asked = asyncFlag(body);
      const version = await versionOf(req.params.name);
      const decoded = decodeInferRequest(body, opts.limits);
      const inputs = validateInputs(version.signature, decoded.inputs);
      return answer(req, reply, req.params.name, version, inputs, options, asked, { model_name: req.params.name, ...(decoded.id !== undefined ? { id: decoded.id } : {}) });
    }));
}

/** `metric`, `repeats`, `max_rows` and `seed` of an importance request, each checked. */
function parseImportanceOptions(body: Record<string, unknown>): { metric?: PermutationMetric; repeats?: number; maxRows?: number; seed?: number } {
  const keys = ['metric', 'repeats', 'max_rows', 'seed'];
  const unknown = Object.keys(body).filter((k) => !keys.includes(k));
  if (unknown.length > 0) {
    throw new BerthError('INVALID_ARGUMENT', `request body: unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; the options are ${keys.join(', ')}`, { field: unknown[0]!, expected: keys, got: unknown });
  }
  const out: { metric?: PermutationMetric; repeats?: number; maxRows?: number; seed?: number } = {};
  const m = body['metric'];
  if (m !== undefined) {
    if (typeof m !== 'string' || !(PERMUTATION_METRICS as readonly string[]).includes(m)) {
      throw new BerthError('INVALID_ARGUMENT', `metric: expected one of ${PERMUTATION_METRICS.join(', ')}, got ${JSON.stringify(m)}`, { field: 'metric', expected: [...PERMUTATION_METRICS], got: m });
    }
    out.metric = m as PermutationMetric;
  }
  const whole = (k: string, min: number, max: number): number | undefined => {
    const v = body[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new BerthError('INVALID_ARGUMENT', `${k}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`, { field: k, expected: `${min}–${max}`, got: v });
    }
    return v;
  };
  const repeats = whole('repeats', 2, 100);
  if (repeats !== undefined) out.repeats = repeats;
  const maxRows = whole('max_rows', 10, 10_000_000);
  if (maxRows !== undefined) out.maxRows = maxRows;
  const seed = whole('seed', 0, 0xffffffff);
  if (seed !== undefined) out.seed = seed;
  return out;
}

function asyncFlag(body: Record<string, unknown>): boolean {
  const v = body['async'];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new BerthError('INVALID_ARGUMENT', `async: expected true or false, got ${JSON.stringify(v)}`, { field: 'async', expected: 'true or false', got: v });
  return v;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (!isPlainObject(body)) {
    throw new BerthError('INVALID_ARGUMENT', 'request body: expected a JSON object with the rows and the options (method, budget, class, link, seed)', {
      field: 'body', expected: 'object', got: typeof body,
    });
  }
  return body;
}

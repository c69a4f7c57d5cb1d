import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, type Logger } from '../core/index.js';
import { JOB_STATES, type JobService, type JobState, type Scheduler } from '../jobs/index.js';
import { allows } from '../security/index.js';
import { principalOf } from './guard.js';
import { jsonSender } from './http-errors.js';
import { actorOf } from './management-rest.js';

export interface JobsRestOptions {
  jobs: JobService;
  schedules: Scheduler;
  logger: Logger;
}

type NameP = { Params: { name: string } };

type IdP = { Params: { id: string } };

/** A job id from the path: a whole number. */
function jobId(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]{1,15}$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new BerthError('INVALID_ARGUMENT', `job id: expected a whole number (as \`berth batch list --remote\` shows), got ${JSON.stringify(raw)}`, { field: 'id', expected: 'a whole number', got: raw });
  }
  return n;
}

/** The query string with one value per field (a repeated field is a 400, not an array downstream). */
export function single(q: unknown): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries((q ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new BerthError('INVALID_ARGUMENT', `${k}: expected one value, got ${Array.isArray(v) ? `${v.length} values` : JSON.stringify(v)}`, { field: k, expected: 'one value', got: v });
    out[k] = v;
  }
  return out;
}

export function optInt(q: Record<string, string | undefined>, field: string): number | undefined {
  const v = q[field];
  if (v === undefined || v === '') return undefined;
  if (!/^[0-9]{1,15}$/.test(v)) throw new BerthError('INVALID_ARGUMENT', `${field}: expected a whole number, got ${JSON.stringify(v)}`, { field, expected: 'a whole number', got: v });
  return Number(v);
}

/**
 * Submitting a job scores a model and reads and writes files as the server: it needs `predict` on
 * the model (checked here, the route table asks only for credentials), and paths outside the jobs
 * roots need admin (checked by the service).
 */
function submitter(req: FastifyRequest, model: string): { admin: boolean } {
  const p = principalOf(req.raw);
  if (p === undefined || p.kind === 'dev') return { admin: true };
  const admin = allows(p, ['admin'], undefined);
  if (!admin && !allows(p, ['predict', 'deploy'], model)) {
    throw new BerthError('FORBIDDEN', `${p.name} may not run jobs with model "${model}": that needs the predict scope on it (predict:${model})`, { field: 'model', expected: `predict:${model}`, got: model });
  }
  return { admin };
}

function modelOfBody(body: unknown): string {
  const m = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)['model'] : undefined;
  return typeof m === 'string' ? m.split('@')[0]! : '';
}

/**
 * Server batch jobs over HTTP: submit, list, read, cancel, and read the logs; and the cron
 * schedules that submit them.
 *
 * @example
 * // curl -X POST localhost:8080/v1/jobs -d '{"model": "credit@production", "input": "in.csv", "output": "out.parquet"}'
 * // curl localhost:8080/v1/jobs/7
 * // curl localhost:8080/v1/jobs/7/logs?after=0
 */
export function registerJobRoutes(app: FastifyInstance, opts: JobsRestOptions): void {
  const { jobs, logger } = opts;
  const send = jsonSender(logger);

  app.post('/v1/jobs', async (req, reply) =>
    send(
      req,
      reply,
      async () => {
        const { admin } = submitter(req, modelOfBody(req.body));
        return jobs.submit(req.body, { actor: actorOf(req), admin });
      },
      201,
    ),
  );
  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/jobs', async (req, reply) =>
    send(req, reply, async () => {
      const q = single(req.query);
      const state = q['state'];
      if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state)) {
        throw new BerthError('INVALID_ARGUMENT', `state: expected one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(state)}`, { field: 'state', expected: [...JOB_STATES], got: state });
      }
      const limit = optInt(q, 'limit');
      const before = optInt(q, 'before');
      return {
        jobs: await jobs.list({
          ...(state !== undefined ? { state: state as JobState } : {}),
          ...(q['model'] ? { model: q['model'] } : {}),
          ...(q['schedule'] ? { schedule: q['schedule'] } : {}),
          ...(limit !== undefined ? { limit } : {}),
          ...(before !== undefined ? { before } : {}),
        }),
      };
    }),
  );
  app.get<IdP>('/v1/jobs/:id', async (req, reply) => send(req, reply, async () => jobs.get(jobId(req.params.id))));
  app.post<IdP>('/v1/jobs/:id/cancel', async (req, reply) =>
    send(req, reply, async () => {
      const id = jobId(req.params.id);
      submitter(req, (await jobs.get(id)).model);
      return jobs.cancel(id, actorOf(req));
    }),
  );
  app.get<IdP & { Querystring: Record<string, string | undefined> }>('/v1/jobs/:id/logs', async (req, reply) =>
    send(req, reply, async () => {
      const id = jobId(req.params.id);
      const q = single(req.query);
      const after = optInt(q, 'after') ?? 0;
      const limit = optInt(q, 'limit');
      const lines = await jobs.logs(id, after, limit);
      const job = await jobs.get(id);
      return { job: id, state: job.state, lines, next: lines.length > 0 ? lines[lines.length - 1]!.seq : after };
    }),
  );

  // schedules: creating, changing and running one needs what submitting its job needs
  const { schedules } = opts;
  const scheduleModel = async (name: string): Promise<string> => modelOfBody((await schedules.get(name)).spec);
  app.post('/v1/schedules', async (req, reply) =>
    send(
      req,
      reply,
      async () => {
        const job = req.body !== null && typeof req.body === 'object' ? (req.body as Record<string, unknown>)['job'] : undefined;
        const { admin } = submitter(req, modelOfBody(job));
        return schedules.create(req.body, { actor: actorOf(req), admin });
      },
      201,
    ),
  );
  app.get('/v1/schedules', async (req, reply) => send(req, reply, async () => ({ schedules: await schedules.list() })));
  app.get<NameP>('/v1/schedules/:name', async (req, reply) => send(req, reply, async () => schedules.get(req.params.name)));
  app.delete<NameP>('/v1/schedules/:name', async (req, reply) =>
    send(req, reply, async () => {
      submitter(req, await scheduleModel(req.params.name));
      return schedules.delete(req.params.name, actorOf(req));
    }),
  );
  for (const [action, enabled] of [['pause', false], ['resume', true]] as const) {
    app.post<NameP>(`/v1/schedules/:name/${action}`, async (req, reply) =>
      send(req, reply, async () => {
        submitter(req, await scheduleModel(req.params.name));
        return schedules.setEnabled(req.params.name, enabled, actorOf(req));
      }),
    );
  }
  app.post<NameP>('/v1/schedules/:name/run', async (req, reply) =>
    send(
      req,
      reply,
      async () => {
        submitter(req, await scheduleModel(req.params.name));
        return schedules.runNow(req.params.name, actorOf(req));
      },
      201,
    ),
  );
}

import type { FastifyInstance } from 'fastify';
import { BerthError, ModelRef, type Logger } from '../core/index.js';
import { RUN_STATES, briefRun, datasetLineage, versionLineage, type PipelineService, type RunListOptions, type RunState, type RunStore } from '../pipelines/index.js';
import type { Registry } from '../registry/index.js';
import { allows } from '../security/index.js';
import { principalOf } from './guard.js';
import { jsonSender } from './http-errors.js';
import { optInt, single } from './jobs-rest.js';
import { actorOf } from './management-rest.js';

export interface PipelinesRestOptions {
  pipelines: PipelineService;
  store: RunStore;
  registry: Registry;
  logger: Logger;
}

type NameP = { Params: { name: string } };
type IdP = { Params: { id: string } };
type Query = { Querystring: Record<string, string | undefined> };

function runId(raw: string): number {
  if (!/^[0-9]{1,15}$/.test(raw)) throw new BerthError('INVALID_ARGUMENT', `run id: expected a whole number (as \`berth runs list\` shows), got ${JSON.stringify(raw)}`, { field: 'id', expected: 'a whole number', got: raw });
  return Number(raw);
}

/** Pipelines run commands on the server: a workdir outside the pipeline roots needs admin. */
function isAdmin(req: Parameters<typeof principalOf>[0]): boolean {
  const p = principalOf(req);
  return p === undefined || p.kind === 'dev' || allows(p, ['admin'], undefined);
}

/** `?pipeline=&state=&limit=&before=` of the run lists. */
function runFilter(query: unknown): RunListOptions {
  const q = single(query);
  const state = q['state'];
  if (state !== undefined && !(RUN_STATES as readonly string[]).includes(state)) {
    throw new BerthError('INVALID_ARGUMENT', `state: expected one of ${RUN_STATES.join(', ')}, got ${JSON.stringify(state)}`, { field: 'state', expected: [...RUN_STATES], got: state });
  }
  const limit = optInt(q, 'limit');
  const before = optInt(q, 'before');
  return {
    ...(q['pipeline'] ? { pipeline: q['pipeline'] } : {}), ...(state !== undefined ? { state: state as RunState } : {}),
    ...(limit !== undefined ? { limit } : {}), ...(before !== undefined ? { before } : {}),
  };
}

/**
 * Continuous-training pipelines and their runs over HTTP.
 *
 * @example
 * // curl -X POST localhost:8080/v1/pipelines -d '{"source": "<the YAML>", "workdir": "/srv/credit"}'
 * // curl -X POST localhost:8080/v1/pipelines/credit-retrain/runs -d '{"params": {"seed": 3}}'
 * // curl localhost:8080/v1/runs/12 ; curl localhost:8080/v1/runs/12/logs?after=0
 */
export function registerPipelineRoutes(app: FastifyInstance, opts: PipelinesRestOptions): void {
  const { pipelines, store, logger } = opts;
  const send = jsonSender(logger);

  app.post('/v1/pipelines', async (req, reply) => {
    let stored: Awaited<ReturnType<PipelineService['put']>>;
    try {
      stored = await pipelines.put(req.body, { actor: actorOf(req), admin: isAdmin(req.raw) });
    } catch (err) {
      return send(req, reply, () => Promise.reject(err));
    }
    return send(req, reply, async () => stored, stored.created ? 201 : 200);
  });
  app.get('/v1/pipelines', async (req, reply) => send(req, reply, async () => ({ pipelines: await pipelines.list() })));
  app.get<NameP>('/v1/pipelines/:name', async (req, reply) => send(req, reply, async () => pipelines.get(req.params.name)));
  app.delete<NameP>('/v1/pipelines/:name', async (req, reply) =>
    send(req, reply, async () => {
      await pipelines.delete(req.params.name, actorOf(req));
      return { pipeline: req.params.name, deleted: true };
    }),
  );
  for (const [action, enabled] of [['pause', false], ['resume', true]] as const) {
    app.post<NameP>(`/v1/pipelines/:name/${action}`, async (req, reply) => send(req, reply, async () => pipelines.setEnabled(req.params.name, enabled, actorOf(req))));
  }
  app.post<NameP>('/v1/pipelines/:name/runs', async (req, reply) => send(req, reply, async () => briefRun(await pipelines.startRun(req.params.name, req.body, { actor: actorOf(req) })), 202));
  app.get<NameP & Query>('/v1/pipelines/:name/runs', async (req, reply) =>
    send(req, reply, async () => {
      await pipelines.get(req.params.name);
      return { runs: (await pipelines.listRuns({ ...runFilter(req.query), pipeline: req.params.name })).map(briefRun) };
    }),
  );

  app.get<Query>('/v1/runs', async (req, reply) =>
    send(req, reply, async () => {
      return { runs: (await pipelines.listRuns(runFilter(req.query))).map(briefRun) };
    }),
  );
  app.get<IdP>('/v1/runs/:id', async (req, reply) =>
    send(req, reply, async () => {
      const id = runId(req.params.id);
      const [run, metrics, datasets] = await Promise.all([pipelines.getRun(id), store.metrics(id), store.datasets(id)]);
      return { ...run, metrics, datasets };
    }),
  );
  app.get<IdP & Query>('/v1/runs/:id/logs', async (req, reply) =>
    send(req, reply, async () => {
      const id = runId(req.params.id);
      const q = single(req.query);
      const after = optInt(q, 'after') ?? 0;
      const limit = optInt(q, 'limit');
      // the state is read before the lines: a finished state means every line is already stored (followers rely on it)
      const run = await pipelines.getRun(id);
      const lines = await store.logs(id, { after, ...(q['step'] ? { step: q['step'] } : {}), ...(limit !== undefined ? { limit } : {}) });
      return { run: id, state: run.state, lines, next: lines.length > 0 ? lines[lines.length - 1]!.seq : after };
    }),
  );
  app.post<IdP>('/v1/runs/:id/cancel', async (req, reply) => send(req, reply, async () => briefRun(await pipelines.cancel(runId(req.params.id), actorOf(req)))));

  // lineage: a version's origin, and the versions trained on a dataset
  app.get<{ Params: { name: string; ref: string } }>('/v1/lineage/models/:name/:ref', async (req, reply) =>
    send(req, reply, async () => versionLineage(opts.registry, store, ModelRef.parse(`${req.params.name}@${req.params.ref}`))),
  );
  app.get<{ Params: { sha: string } }>('/v1/lineage/datasets/:sha', async (req, reply) => send(req, reply, async () => datasetLineage(store, req.params.sha)));
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, assertName, type Logger } from '../core/index.js';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { parseRolloutRequest, type RolloutController, type StartRolloutRequest } from '../rollout/index.js';
import { allows } from '../security/index.js';
import { principalOf } from './guard.js';
import { jsonSender } from './http-errors.js';
import { actorOf } from './management-rest.js';

export interface RolloutRestOptions {
  rollouts: RolloutController;
  logger: Logger;
  /**
   * An evaluation gate's dataset is a file the server reads itself. Callers without admin may
   * only name files under this directory (`<data-dir>/datasets`); anything else would let a
   * deployer probe the server's files through the gate's error messages.
   */
  datasetRoot?: string;
}

type NameP = { Params: { name: string } };

/**
 * Rollouts over HTTP: start one, read its status (every decision with its numbers), steer it
 * (pause, resume, promote, abort) and roll a deployment back to its previous stable version.
 *
 * @example
 * // curl -X POST localhost:8080/v1/deployments/credit/rollout -d '{"toVersion": 4, "steps": "5,25,50,100", "interval": "10m"}'
 * // curl localhost:8080/v1/deployments/credit/rollout
 */
export function registerRolloutRoutes(app: FastifyInstance, opts: RolloutRestOptions): void {
  const { rollouts, logger } = opts;
  const send = jsonSender(logger);
  const name = (req: FastifyRequest<NameP>): string => assertName('deployment', req.params.name);

  app.post<NameP>('/v1/deployments/:name/rollout', async (req, reply) =>
    send(
      req,
      reply,
      async () => {
        const body = startBody(req.body);
        checkDatasetAccess(req, body, opts.datasetRoot);
        return rollouts.start(name(req), body, actorOf(req));
      },
      201,
    ),
  );
  app.get<NameP>('/v1/deployments/:name/rollout', async (req, reply) => send(req, reply, async () => rollouts.status(name(req))));
  app.get<NameP>('/v1/deployments/:name/rollouts', async (req, reply) => send(req, reply, async () => rollouts.list(name(req))));
  app.get('/v1/rollouts', async (req, reply) => send(req, reply, async () => rollouts.list()));
  app.post<NameP>('/v1/deployments/:name/rollout/pause', async (req, reply) =>
    send(req, reply, async () => rollouts.pause(name(req), actorOf(req), reasonOf(req.body) ?? 'paused by a person')),
  );
  app.post<NameP>('/v1/deployments/:name/rollout/resume', async (req, reply) => send(req, reply, async () => rollouts.resume(name(req), actorOf(req))));
  app.post<NameP>('/v1/deployments/:name/rollout/promote', async (req, reply) => send(req, reply, async () => rollouts.promote(name(req), actorOf(req))));
  app.post<NameP>('/v1/deployments/:name/rollout/abort', async (req, reply) =>
    send(req, reply, async () => rollouts.abort(name(req), actorOf(req), reasonOf(req.body) ?? 'aborted by a person')),
  );
  app.post<NameP>('/v1/deployments/:name/rollout/rollback', async (req, reply) => send(req, reply, async () => rollouts.rollback(name(req), actorOf(req))));
}

function checkDatasetAccess(req: FastifyRequest, body: StartRolloutRequest, root: string | undefined): void {
  const p = principalOf(req.raw);
  if (p === undefined || p.kind === 'dev' || allows(p, ['admin'], undefined)) return;
  const dataset = parseRolloutRequest(body).gates.evaluation?.dataset;
  if (dataset === undefined) return;
  const real = (f: string): string => (existsSync(f) ? realpathSync(f) : path.resolve(f));
  const base = root !== undefined ? real(root) : null;
  const file = real(dataset);
  if (base !== null && file.startsWith(base + path.sep)) return;
  throw new BerthError(
    'FORBIDDEN',
    `gates.evaluation.dataset: the server reads this file itself, so ${p.name} may only name files under ${root ?? '<data-dir>/datasets'}; copy the dataset there, or ask an admin to start the rollout`,
    { field: 'gates.evaluation.dataset', expected: `a file under ${root ?? '<data-dir>/datasets'}` },
  );
}

function startBody(body: unknown): StartRolloutRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BerthError('INVALID_ARGUMENT', 'body: expected a JSON object like {"toVersion": 4, "strategy": "canary", "steps": "5,25,50,100", "interval": "10m"}', {
      field: 'body',
      expected: 'object',
      got: body,
    });
  }
  const b = body as Record<string, unknown>;
  const known = ['toVersion', 'strategy', 'steps', 'interval', 'analysis', 'gates', 'keepOld', 'sticky', 'noData', 'allowBreaking'];
  for (const k of Object.keys(b)) {
    if (!known.includes(k)) throw new BerthError('INVALID_ARGUMENT', `${k}: unknown field (expected one of ${known.join(', ')})`, { field: k, expected: known, got: k });
  }
  return b as unknown as StartRolloutRequest;
}

function reasonOf(body: unknown): string | undefined {
  const r = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)['reason'] : undefined;
  return typeof r === 'string' && r.length > 0 && r.length <= 500 ? r : undefined;
}

import type { FastifyInstance } from 'fastify';
import { BerthError, type Logger } from '../core/index.js';
import { PERMUTATION_METRICS, parseExplainOptions, type ExplainService, type PermutationMetric } from '../explain/index.js';
import type { Registry } from '../registry/index.js';
import { validateInputs, type InferenceService } from '../serving/index.js';
import { decodeRows } from './codec/rows.js';
import { decodeInferRequest } from './codec/v2-json.js';
import type { TensorLimits } from './codec/elements.js';
import { isPlainObject } from './codec/elements.js';
import { jsonSender } from './http-errors.js';

/**
 * Explanations next to predictions:
 * - `POST /v1/deployments/{name}/explain` takes rows as friendly predict does;
 * - `POST /v2/models/{name}/explain` takes the v2 infer body.
 * Both take the options `method`, `budget`, `class`, `link` and `seed`, explain the version the
 * deployment serves now, and answer every feature's contribution (docs/explain.md).
 */
export function registerExplainRoutes(app: FastifyInstance, opts: {
  service: InferenceService; explain: ExplainService; registry: Registry; logger: Logger; limits?: TensorLimits;
}): void {
  const { service, explain, registry, logger } = opts;
  const send = jsonSender(logger);

  const versionOf = async (deployment: string) => {
    const route = await service.route(deployment);
    return registry.getVersion(route.version.model, route.version.version);
  };

  app.post<{ Params: { name: string } }>('/v1/deployments/:name/explain', async (req, reply) =>
    send(req, reply, async () => {
      const body = objectBody(req.body);
      const options = parseExplainOptions(body, ['rows', 'instances']);
      const version = await versionOf(req.params.name);
      const inputs = validateInputs(version.signature, decodeRows(body, version.signature, opts.limits));
      const result = await explain.explain(version, inputs, options);
      return { deployment: req.params.name, ...result };
    }));

  app.post<{ Params: { name: string } }>('/v1/deployments/:name/importance', async (req, reply) =>
    send(req, reply, async () => {
      const body = req.body === undefined || req.body === null ? {} : objectBody(req.body);
      const o = parseImportanceOptions(body);
      const version = await versionOf(req.params.name);
      return { deployment: req.params.name, ...(await explain.permutationImportance(version, o)) };
    }));

  app.post<{ Params: { name: string } }>('/v2/models/:name/explain', async (req, reply) =>
    send(req, reply, async () => {
      const body = objectBody(req.body);
      const options = parseExplainOptions(body, ['id', 'inputs', 'outputs', 'parameters']);
      const version = await versionOf(req.params.name);
      const decoded = decodeInferRequest(body, opts.limits);
      const inputs = validateInputs(version.signature, decoded.inputs);
      const result = await explain.explain(version, inputs, options);
      return { model_name: req.params.name, ...(decoded.id !== undefined ? { id: decoded.id } : {}), ...result };
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

function objectBody(body: unknown): Record<string, unknown> {
  if (!isPlainObject(body)) {
    throw new BerthError('INVALID_ARGUMENT', 'request body: expected a JSON object with the rows and the options (method, budget, class, link, seed)', {
      field: 'body', expected: 'object', got: typeof body,
    });
  }
  return body;
}

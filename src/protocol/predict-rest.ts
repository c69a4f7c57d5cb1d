import { principalOf } from './guard.js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../core/index.js';
import { InferenceService } from '../serving/index.js';
import { decodeRows, postprocessPredictions } from './codec/rows.js';
import type { TensorLimits } from './codec/elements.js';
import { sendError } from './http-errors.js';
import { requestIdHeader } from './fast-infer.js';

/**
 * The friendly tabular endpoint: named features in (`rows`) or plain arrays (`instances`), labels
 * and class probabilities keyed by class name out, with the version that answered and a request id.
 */
export function registerPredictRoutes(app: FastifyInstance, opts: { service: InferenceService; logger: Logger; limits?: TensorLimits }): void {
  const { service, logger } = opts;
  app.post<{ Params: { name: string } }>('/v1/deployments/:name/predict', async (req, reply) => {
    const requestId = requestIdHeader(req.headers['x-request-id']) ?? InferenceService.newRequestId();
    reply.header('x-request-id', requestId);
    try {
      const name = req.params.name;
      const route = await service.route(name);
      const inputs = decodeRows(req.body, route.version.signature, opts.limits);
      const rows = inputs[0]?.shape[0] ?? 0;
      const principal = principalOf(req.raw)?.id;
      const res = await service.infer(name, { id: requestId, inputs, headers: req.headers, ...(principal !== undefined ? { principal } : {}) });
      reply.header('x-berth-version', res.answeredBy);
      const sig = res.route.version.signature;
      const predictions = postprocessPredictions(res.outputs, sig, res.route.version.card, rows);
      return reply.header('content-type', 'application/json; charset=utf-8').send(
        JSON.stringify({
          deployment: name,
          model: res.model,
          version: Number(res.modelVersion),
          request_id: requestId,
          predictions,
        }),
      );
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  });
}

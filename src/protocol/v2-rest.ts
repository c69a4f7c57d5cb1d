import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, type Logger, type Signature, type TensorSpec } from '../core/index.js';
import type { InferenceService, InferenceStatistics, ModelStatisticsView } from '../serving/index.js';
import { versionKey } from '../serving/index.js';
import { decodeInferRequest } from './codec/v2-json.js';
import type { TensorLimits } from './codec/elements.js';
import { answerTypeHeaders, inferV2 } from './fast-infer.js';
import { principalOf } from './guard.js';
import { sendError } from './http-errors.js';

export interface V2RestOptions {
  service: InferenceService;
  logger: Logger;
  serverName: string;
  serverVersion: string;
  /** every deployment name, for the repository index */
  listDeployments: () => Promise<string[]>;
  /** readiness of the whole server */
  isReady: () => boolean;
  /** load or unload a deployment's current version (in every serving process) */
  repositoryAction: (action: { kind: 'load' | 'unload'; deployment: string }) => Promise<void>;
  /** elements allowed over all inputs of one request (`hardening.maxTensorElements`; 16M by default) */
  limits?: TensorLimits;
  /** the statistics extension's counters (absent: its routes answer empty) */
  statistics?: InferenceStatistics;
}

type NameParams = { name: string };
type VersionParams = { name: string; version: string };

/**
 * The Open Inference Protocol v2 REST surface (health, server and model metadata, readiness,
 * infer, and the repository extension). `{name}` is a deployment; a version path reaches one
 * version of the deployment's model.
 */
/** The protocol extensions Berth implements, as REST and gRPC server metadata list them. */
export const V2_EXTENSIONS: readonly string[] = ['model_repository', 'schedule_policy', 'parameters', 'binary_tensor_data', 'statistics'];

export function registerV2Routes(app: FastifyInstance, opts: V2RestOptions): void {
  const { service, logger } = opts;

  app.get('/v2', async () => ({
    name: opts.serverName,
    version: opts.serverVersion,
    extensions: V2_EXTENSIONS,
  }));
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => {
    const ready = opts.isReady();
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  const metadata = (name: string, version: number | undefined): Promise<ModelMetadataView> => modelMetadataView(service, name, version);

  const ready = async (name: string, version: number | undefined, reply: FastifyReply): Promise<unknown> => {
    const route = await service.route(name, version);
    const state = service.manager.stateOf(route.key);
    const isReady = state === 'ready';
    return reply.code(isReady ? 200 : 400).send({ name, version: String(route.version.version), ready: isReady, state });
  };

  const wrap =
    <P>(fn: (req: FastifyRequest<{ Params: P }>, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply): Promise<unknown> => {
      try {
        return await fn(req, reply);
      } catch (err) {
        return sendError(reply, req, err, logger);
      }
    };

  app.get<{ Params: NameParams }>('/v2/models/:name', wrap<NameParams>(async (req) => metadata(req.params.name, undefined)));
  app.get<{ Params: VersionParams }>(
    '/v2/models/:name/versions/:version',
    wrap<VersionParams>(async (req) => metadata(req.params.name, parseVersion(req.params.version))),
  );
  app.get<{ Params: NameParams }>('/v2/models/:name/ready', wrap<NameParams>(async (req, reply) => ready(req.params.name, undefined, reply)));
  app.get<{ Params: VersionParams }>(
    '/v2/models/:name/versions/:version/ready',
    wrap<VersionParams>(async (req, reply) => ready(req.params.name, parseVersion(req.params.version), reply)),
  );

  // Over a real socket the fast handler (fast-infer.ts) answers these two routes before Fastify
  // sees them; these serve `app.inject` and keep the routes in the router and the OpenAPI check.
  const infer = async (name: string, version: number | 'preview' | undefined, body: unknown, reply: FastifyReply, headers: IncomingHttpHeaders, principal?: string): Promise<unknown> => {
    const { payload, headerLength, requestId, answeredBy } = await inferV2(service, name, version, decodeInferRequest(body, opts.limits), headers, principal);
    return reply
      .headers(answerTypeHeaders(headerLength))
      .header('x-request-id', requestId)
      .header('x-berth-version', answeredBy)
      .send(payload);
  };

  app.post<{ Params: NameParams }>('/v2/models/:name/infer', async (req, reply) => {
    try {
      return await infer(req.params.name, undefined, req.body, reply, req.headers, principalOf(req.raw)?.id);
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  });
  app.post<{ Params: VersionParams }>('/v2/models/:name/versions/:version/infer', async (req, reply) => {
    try {
      return await infer(req.params.name, parseVersion(req.params.version), req.body, reply, req.headers, principalOf(req.raw)?.id);
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  });
  app.post<{ Params: NameParams }>('/v2/models/:name/preview/infer', async (req, reply) => {
    try {
      return await infer(req.params.name, 'preview', req.body, reply, req.headers, principalOf(req.raw)?.id);
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  });

  // Statistics extension: this process's counters
  const stats = async (name: string | undefined, version: number | undefined): Promise<{ model_stats: Record<string, unknown>[] }> => {
    // an unknown deployment is a 404, a known one that served nothing yet an empty list
    if (name !== undefined) await service.route(name, version);
    return { model_stats: (opts.statistics?.snapshot(name, version) ?? []).map(statisticsJson) };
  };
  app.get('/v2/models/stats', wrap(async () => stats(undefined, undefined)));
  app.get<{ Params: NameParams }>('/v2/models/:name/stats', wrap<NameParams>(async (req) => stats(req.params.name, undefined)));
  app.get<{ Params: VersionParams }>('/v2/models/:name/versions/:version/stats', wrap<VersionParams>(async (req) => stats(req.params.name, parseVersion(req.params.version))));

  // Repository extension
  app.post(
    '/v2/repository/index',
    wrap(async () => repositoryIndex(service, await opts.listDeployments())),
  );
  app.post<{ Params: NameParams }>(
    '/v2/repository/models/:name/load',
    wrap<NameParams>(async (req) => {
      await opts.repositoryAction({ kind: 'load', deployment: req.params.name });
      return {};
    }),
  );
  app.post<{ Params: NameParams }>(
    '/v2/repository/models/:name/unload',
    wrap<NameParams>(async (req) => {
      await opts.repositoryAction({ kind: 'unload', deployment: req.params.name });
      return {};
    }),
  );
}

/** A model's (deployment's) metadata as the v2 protocol describes it, for REST and gRPC alike. */
export async function modelMetadataView(service: InferenceService, name: string, version: number | undefined): Promise<ModelMetadataView> {
  const route = await service.route(name, version);
  const v = route.version;
  const info = service.manager.get(versionKey(v.model, v.version));
  return {
    name,
    versions: [String(v.version)],
    platform: 'onnxruntime_onnx',
    inputs: v.signature.inputs.map(tensorMetadata),
    outputs: v.signature.outputs.map(tensorMetadata),
    parameters: {
      model: v.model,
      version: v.version,
      sha256: v.sha256,
      state: info?.state ?? 'unloaded',
      memory_bytes: info?.memoryBytes ?? 0,
      ...(info ? { runtime_thread: info.thread } : {}),
      batchable: v.signature.batchable,
      max_batch_size: v.signature.batchable ? route.batching.maxBatchSize : 0,
      max_queue_delay_ms: route.batching.maxQueueDelayMs,
      max_queue_size: route.batching.maxQueueSize,
      timeout_ms: route.batching.timeoutMs,
      ...(v.card?.task ? { task: v.card.task } : {}),
      ...(v.card?.classes?.names ? { class_names: v.card.classes.names } : {}),
    },
  };
  }

/** A statistics view in the extension's JSON (snake_case, as Triton answers it). */
export function statisticsJson(s: ModelStatisticsView): Record<string, unknown> {
  const d = (x: { count: number; ns: number }): Record<string, number> => ({ count: x.count, ns: x.ns });
  const i = s.inferenceStats;
  return {
    name: s.name,
    version: s.version,
    last_inference: s.lastInference,
    inference_count: s.inferenceCount,
    execution_count: s.executionCount,
    inference_stats: { success: d(i.success), fail: d(i.fail), queue: d(i.queue), compute_input: d(i.computeInput), compute_infer: d(i.computeInfer), compute_output: d(i.computeOutput) },
    batch_stats: s.batchStats.map((b) => ({ batch_size: b.batchSize, compute_infer: d(b.computeInfer) })),
  };
}

export interface ModelMetadataView {
  name: string;
  versions: string[];
  platform: string;
  inputs: Record<string, unknown>[];
  outputs: Record<string, unknown>[];
  parameters: Record<string, unknown>;
}

export interface RepositoryEntry {
  name: string;
  version: string;
  state: string;
  reason: string;
}

/** The repository extension's index: each deployment, the version it routes to and its state. */
export async function repositoryIndex(service: InferenceService, names: readonly string[]): Promise<RepositoryEntry[]> {
  const out: RepositoryEntry[] = [];
  for (const name of names) {
    try {
      const r = await service.route(name);
      const info = service.manager.get(r.key);
      const state = info?.state ?? 'unloaded';
      out.push({ name, version: String(r.version.version), state: state === 'ready' ? 'READY' : state.toUpperCase(), reason: info?.error ?? '' });
    } catch (err) {
      out.push({ name, version: '', state: 'UNAVAILABLE', reason: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}

function tensorMetadata(s: TensorSpec): Record<string, unknown> {
  const m: Record<string, unknown> = { name: s.name, datatype: s.datatype, shape: s.shape };
  const params: Record<string, unknown> = {};
  if (s.featureNames) params['feature_names'] = s.featureNames;
  if (s.vocabulary) params['vocabulary'] = s.vocabulary;
  if (s.validRange) params['valid_range'] = s.validRange;
  if (Object.keys(params).length > 0) m['parameters'] = params;
  return m;
}

export function parseVersion(text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) {
    throw new BerthError('INVALID_ARGUMENT', `version: expected a positive integer, got ${JSON.stringify(text)}`, {
      field: 'version',
      expected: 'positive integer',
      got: text,
    });
  }
  return Number(text);
}

export type { Signature };

/**
 * The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`): the same data plane,
 * guard (tokens, JWTs, client certificates, scopes, rate limits, roles) and error codes as REST.
 * Each RPC is checked against the route table entry of its REST twin, so one table says who may
 * do what over either transport.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { BerthError, silentLogger, toBerthError, type Logger, type TlsConfig } from '../../core/index.js';
import type { InferenceRequest, InferenceService, InferenceStatistics } from '../../serving/index.js';
import { DEFAULT_TENSOR_LIMITS, type TensorLimits } from '../codec/elements.js';
import { peerCertificateFrom, type PeerCertificate } from '../../security/index.js';
import type { RequestGuard } from '../guard.js';
import { wrongRole } from '../guard.js';
import { ROUTE_ACCESS, roleServes, routePlane } from '../route-access.js';
import { modelMetadataView, parseVersion, repositoryIndex, statisticsJson, V2_EXTENSIONS } from '../v2-rest.js';
import { toServiceError } from './status.js';
import { decodeGrpcInputs, encodeGrpcOutputs, fromGrpcParameters, type GrpcInferRequest } from './tensors.js';

/** The proto Berth serves: `<package root>/proto/grpc_predict_v2.proto`, from src/ and dist/ alike. */
export function protoPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../..', '../../../..']) {
    const p = path.resolve(here, up, 'proto', 'grpc_predict_v2.proto');
    if (existsSync(p)) return p;
  }
  throw new BerthError('INTERNAL', `proto/grpc_predict_v2.proto not found above ${here}; the installation is incomplete`);
}

/** Loader options: field names as in the proto, int64 as decimal strings (exact), defaults filled in. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

let definition: grpc.GrpcObject | null = null;

/** The `inference` package (loaded once). */
export function inferencePackage(): grpc.GrpcObject {
  definition ??= grpc.loadPackageDefinition(protoLoader.loadSync(protoPath(), PROTO_LOADER_OPTIONS));
  return definition['inference'] as grpc.GrpcObject;
}

function serviceDefinition(): grpc.ServiceDefinition {
  return (inferencePackage()['GRPCInferenceService'] as grpc.ServiceClientConstructor).service;
}

/** Each RPC's REST twin in the route table: its access rule and its plane (role). */
const RPC_ROUTES = {
  ServerLive: 'GET /v2/health/live',
  ServerReady: 'GET /v2/health/ready',
  ServerMetadata: 'GET /v2',
  ModelReady: 'GET /v2/models/:name/ready',
  ModelMetadata: 'GET /v2/models/:name',
  ModelInfer: 'POST /v2/models/:name/infer',
  ModelStreamInfer: 'POST /v2/models/:name/infer',
  RepositoryIndex: 'POST /v2/repository/index',
  RepositoryModelLoad: 'POST /v2/repository/models/:name/load',
  RepositoryModelUnload: 'POST /v2/repository/models/:name/unload',
  ModelStatistics: 'GET /v2/models/:name/stats',
  ModelStatisticsAll: 'GET /v2/models/stats',
} as const;
type Rpc = keyof typeof RPC_ROUTES;

export interface GrpcServiceOptions {
  service: InferenceService;
  guard: RequestGuard;
  logger?: Logger;
  serverName: string;
  serverVersion: string;
  isReady: () => boolean;
  listDeployments: () => Promise<string[]>;
  repositoryAction: (action: { kind: 'load' | 'unload'; deployment: string }) => Promise<void>;
  limits?: TensorLimits;
  /** the statistics extension's counters (absent: ModelStatistics answers an empty list) */
  statistics?: InferenceStatistics;
}

export interface GrpcListenOptions {
  host: string;
  /** 0 picks a free port */
  port: number;
  /** largest message accepted (bytes) */
  maxMessageBytes: number;
  tls: TlsConfig;
}

export interface RunningGrpcServer {
  /** `host:port` as a client dials it */
  address: string;
  port: number;
  /** stop taking calls, let running ones finish up to `graceMs`, then cut them off */
  close(graceMs?: number): Promise<void>;
}

function version(text: string | undefined): number | undefined {
  return text === undefined || text === '' ? undefined : parseVersion(text);
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;
type StatsRequest = { name?: string; version?: string };
type StatsResponse = { model_stats: Record<string, unknown>[] };

/** What the guard needs from a call: its `authorization` and its verified client certificate (grpc-js gives one only when it verified). */
function credentialsOf(call: AnyCall): { authorization: string | undefined; cert: PeerCertificate | null } {
  const a = call.metadata.get('authorization')[0];
  return { authorization: typeof a === 'string' ? a : undefined, cert: peerCertificateFrom(call.getAuthContext().sslPeerCertificate) };
}

/**
 * The service's handlers. Exported for tests; `startGrpcServer` is what the server runs.
 */
export function createGrpcHandlers(opts: GrpcServiceOptions): grpc.UntypedServiceImplementation {
  const { service, guard } = opts;
  const logger = opts.logger ?? silentLogger;
  const limits = opts.limits ?? DEFAULT_TENSOR_LIMITS;

  /** Admit a call to an RPC on `resource` (the deployment), as REST admits its twin. */
  const admit = async (rpc: Rpc, call: AnyCall, resource: string | undefined, field = 'name'): Promise<string | undefined> => {
    const route = RPC_ROUTES[rpc];
    const [method, url] = route.split(' ') as [string, string];
    if (!roleServes(guard.role, routePlane(method, url))) throw wrongRole(guard.role, 'rpc', `inference.GRPCInferenceService/${rpc}`);
    const access = ROUTE_ACCESS[route]!;
    if (access.resource && (resource === undefined || resource === '')) throw new BerthError('INVALID_ARGUMENT', `${field}: ${rpc} needs the model's name, got ""`, { field, expected: 'a deployment name', got: '' });
    const { authorization, cert } = credentialsOf(call);
    const p = await guard.checkCredentials(authorization, cert, access, access.resource ? resource : undefined);
    return p?.id;
  };

  const fail = (rpc: string, err: unknown): grpc.ServiceError => {
    const e = toBerthError(err);
    if (!e.exposable) logger.error('gRPC call failed', { rpc, code: e.code, error: e.message, stack: e.stack });
    return toServiceError(e) as grpc.ServiceError;
  };

  /** A unary handler: admit, run, answer or fail with the mapped status. */
  const unary =
    <Req, Res>(rpc: Rpc, resourceOf: (req: Req) => string | undefined, run: (req: Req, principal: string | undefined, signal: AbortSignal) => Promise<Res>, field = 'name') =>
    (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
      // a cancelled call (the client gave up or hung up) takes its request out of the queue
      const gone = new AbortController();
      call.once('cancelled', () => gone.abort());
      admit(rpc, call as AnyCall, resourceOf(call.request), field)
        .then((principal) => run(call.request, principal, gone.signal))
        .then(
          (res) => callback(null, res),
          (err: unknown) => callback(fail(rpc, err)),
        );
    };

  const infer = async (req: GrpcInferRequest, principal: string | undefined, signal?: AbortSignal): Promise<Record<string, unknown>> => {
    const name = req.model_name ?? '';
    const request: InferenceRequest = { inputs: decodeGrpcInputs(req, limits) };
    if (signal !== undefined) request.signal = signal;
    if (req.id) request.id = req.id;
    if (principal !== undefined) request.principal = principal;
    const parameters = fromGrpcParameters(req.parameters);
    if (parameters) request.parameters = parameters;
    if (req.outputs && req.outputs.length > 0) request.outputs = req.outputs.map((o, i) => {
      if (!o.name) throw new BerthError('INVALID_ARGUMENT', `outputs[${i}].name: expected an output name, got ""`, { field: `outputs[${i}].name` });
      return { name: o.name };
    });
    const v = version(req.model_version);
    const r = await service.infer(name, request, v === undefined ? {} : { version: v });
    // answers go back the way the inputs came: raw for raw (tritonclient), typed for typed
    const raw = (req.raw_input_contents?.length ?? 0) > 0;
    return { model_name: r.modelName, model_version: r.modelVersion, id: r.id ?? '', ...encodeGrpcOutputs(r.outputs, raw) };
  };

  // int64 fields take numbers as well as decimal strings: the REST view serializes as it is
  const statistics = async (req: StatsRequest): Promise<StatsResponse> => {
    const name = req.name ?? '';
    const v = version(req.version);
    // an unknown deployment is NOT_FOUND, a known one that served nothing yet an empty list
    if (name !== '') await service.route(name, v);
    return { model_stats: (opts.statistics?.snapshot(name === '' ? undefined : name, v) ?? []).map(statisticsJson) };
  };
  const statisticsOfOne = unary<StatsRequest, StatsResponse>('ModelStatistics', (r) => r.name, statistics);
  const statisticsOfAll = unary<StatsRequest, StatsResponse>('ModelStatisticsAll', () => undefined, statistics);

  return {
    ServerLive: unary('ServerLive', () => undefined, async () => ({ live: true })),
    ServerReady: unary('ServerReady', () => undefined, async () => ({ ready: opts.isReady() })),
    ServerMetadata: unary('ServerMetadata', () => undefined, async () => ({
      name: opts.serverName,
      version: opts.serverVersion,
      extensions: V2_EXTENSIONS,
    })),
    ModelReady: unary<{ name?: string; version?: string }, { ready: boolean }>('ModelReady', (r) => r.name, async (req) => {
      const route = await service.route(req.name ?? '', version(req.version));
      return { ready: service.manager.stateOf(route.key) === 'ready' };
    }),
    ModelMetadata: unary<{ name?: string; version?: string }, Record<string, unknown>>('ModelMetadata', (r) => r.name, async (req) => {
      const m = await modelMetadataView(service, req.name ?? '', version(req.version));
      const tensor = (t: Record<string, unknown>): Record<string, unknown> => ({ name: t['name'], datatype: t['datatype'], shape: (t['shape'] as number[]).map(String) });
      return { name: m.name, versions: m.versions, platform: m.platform, inputs: m.inputs.map(tensor), outputs: m.outputs.map(tensor) };
    }),
    ModelInfer: unary<GrpcInferRequest, Record<string, unknown>>('ModelInfer', (r) => r.model_name, infer, 'model_name'),
    ModelStreamInfer: (call: grpc.ServerDuplexStream<GrpcInferRequest, Record<string, unknown>>): void => {
      // requests are answered as they finish (each answer carries its request's id); a failed one
      // is an answer with error_message, and the stream goes on
      let pending = 0;
      let ended = false;
      const done = (): void => {
        if (ended && pending === 0) call.end();
      };
      // the stream's requests still queued leave the queue when the client cancels it
      const gone = new AbortController();
      call.once('cancelled', () => gone.abort());
      call.on('data', (req: GrpcInferRequest) => {
        pending++;
        admit('ModelStreamInfer', call as AnyCall, req.model_name, 'model_name')
          .then((principal) => infer(req, principal, gone.signal))
          .then(
            (res) => call.write({ error_message: '', infer_response: res }),
            (err: unknown) => {
              const e = fail('ModelStreamInfer', err);
              call.write({ error_message: `${toBerthError(err).code}: ${e.details}`, infer_response: { model_name: req.model_name ?? '', id: req.id ?? '' } });
            },
          )
          .finally(() => {
            pending--;
            done();
          });
      });
      call.on('end', () => {
        ended = true;
        done();
      });
      call.on('error', () => undefined);
    },
    // one deployment, or every one when the name is empty (each admitted as its REST twin)
    ModelStatistics: (call: grpc.ServerUnaryCall<StatsRequest, StatsResponse>, callback: grpc.sendUnaryData<StatsResponse>): void =>
      ((call.request.name ?? '') === '' ? statisticsOfAll : statisticsOfOne)(call, callback),
    RepositoryIndex: unary<{ ready?: boolean }, { models: unknown[] }>('RepositoryIndex', () => undefined, async (req) => {
      const all = await repositoryIndex(service, await opts.listDeployments());
      return { models: req.ready ? all.filter((m) => m.state === 'READY') : all };
    }),
    RepositoryModelLoad: unary<{ model_name?: string }, Record<string, never>>('RepositoryModelLoad', (r) => r.model_name, async (req) => {
      await opts.repositoryAction({ kind: 'load', deployment: req.model_name ?? '' });
      return {};
    }, 'model_name'),
    RepositoryModelUnload: unary<{ model_name?: string }, Record<string, never>>('RepositoryModelUnload', (r) => r.model_name, async (req) => {
      await opts.repositoryAction({ kind: 'unload', deployment: req.model_name ?? '' });
      return {};
    }, 'model_name'),
  };
}

/** Serve the handlers on host:port, over TLS (and mTLS) when the server's TLS is configured. */
export async function startGrpcServer(handlers: grpc.UntypedServiceImplementation, listen: GrpcListenOptions): Promise<RunningGrpcServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': listen.maxMessageBytes,
    'grpc.max_send_message_length': -1,
    'grpc.keepalive_permit_without_calls': 1,
  });
  server.addService(serviceDefinition(), handlers);
  widenFlowControl(server);
  const t = listen.tls;
  const credentials =
    t.cert !== null && t.key !== null
      ? grpc.ServerCredentials.createSsl(
          t.clientCa !== null ? readFileSync(t.clientCa) : null,
          [{ cert_chain: readFileSync(t.cert), private_key: readFileSync(t.key) }],
          t.requireClientCert,
        )
      : grpc.ServerCredentials.createInsecure();
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${listen.port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  widenConnectionWindows(server);
  return {
    address: `${host}:${port}`,
    port,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/** Per-stream receive window a client may fill before the server acknowledges (HTTP/2 default: 65,535 bytes). */
export const GRPC_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** Receive window of a whole connection, shared by its streams (HTTP/2 default: 65,535 bytes). */
export const GRPC_CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;

/** What Berth reaches inside grpc-js (1.14) for flow control, which it has no option for on the server. */
interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<{ on(event: 'session', listener: (session: { setLocalWindowSize(n: number): void }) => void): void }, unknown>;
}

/**
 * HTTP/2 starts every stream and connection with a 64 KiB receive window. A 64-row request of 256
 * floats is 64 KiB and a little more, so each call stalled until the server's WINDOW_UPDATE, and 64
 * calls in flight shared one 64 KiB connection window. Advertise larger windows (sizes above) in the
 * server's SETTINGS. grpc-js has no server option for it, so this sets the settings it passes to
 * node:http2 (a test checks that clients see them, so a grpc-js upgrade that moves them fails there).
 */
function widenFlowControl(server: grpc.Server): void {
  const internals = server as unknown as GrpcServerInternals;
  if (internals.commonServerOptions) {
    internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: GRPC_STREAM_WINDOW_BYTES };
  }
}

/** The connection-level window is not a SETTING: each new session widens its own. */
function widenConnectionWindows(server: grpc.Server): void {
  for (const h2 of (server as unknown as GrpcServerInternals).http2Servers?.keys() ?? []) {
    h2.on('session', (session) => {
      try {
        session.setLocalWindowSize(GRPC_CONNECTION_WINDOW_BYTES);
      } catch {
        // a session closed before it could be widened: nothing to do
      }
    });
  }
}

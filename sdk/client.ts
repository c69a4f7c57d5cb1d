/**
 * `createClient`: one interface over REST and gRPC. The URL's scheme picks the data plane's
 * transport (`http(s)://` REST, `grpc(s)://` gRPC); the management API always goes over REST.
 */
import { BerthClientError } from './errors.js';
import { GrpcDataPlane } from './grpc.js';
import { HttpSession, type TlsOptions } from './http.js';
import { DeploymentsApi, JobsApi, LineageApi, managementSender, ModelsApi, PipelinesApi, RolloutsApi, RunsApi, whoami, type ManagementSend } from './management.js';
import type { DataPlane } from './plane.js';
import { RestDataPlane } from './rest.js';
import { resolveRetry, type CallOptions, type RetryPolicy } from './retry.js';
import { prepareInputs, type InferInputs } from './tensors.js';
import type { ExplainOptions, ExplainResult, ImportanceResult, InferOptions, InferResult, ModelMetadata, ModelStatistics, PredictResult, RepositoryModel, ServerMetadata, WhoAmI } from './types.js';
import type { HttpCall } from './http.js';

export interface ClientOptions {
  /** `http://host:8000` (REST) or `grpc://host:8001` (gRPC); `https://` and `grpcs://` for TLS */
  url: string;
  /** a Berth token (`berth tokens create`), sent as `Authorization: Bearer …` */
  token?: string;
  /** the REST address for the management API and `predict` when `url` is gRPC */
  managementUrl?: string;
  /** default deadline of a call in ms, retries and their waits included (default 30 000) */
  timeoutMs?: number;
  /** retries of 429 and 503 answers (default: 4 attempts, Retry-After honoured); false: none */
  retry?: RetryPolicy | false;
  /** REST: tensors in the binary extension rather than JSON (default true) */
  binary?: boolean;
  /** sent with every request (gRPC: as metadata) */
  headers?: Record<string, string>;
  /** CA, client certificate and key for https:// and grpcs:// */
  tls?: TlsOptions;
  /** REST: most connections open at once (default: as many as calls in flight) */
  maxSockets?: number;
}

/** A Berth server, over REST or gRPC. `close()` it when done. */
export class BerthClient {
  /** which transport the data plane (`infer`, health, metadata, statistics) uses */
  readonly protocol: 'rest' | 'grpc';
  readonly url: string;
  /** models, versions and aliases */
  readonly models: ModelsApi;
  readonly deployments: DeploymentsApi;
  readonly rollouts: RolloutsApi;
  /** batch jobs the server runs */
  readonly jobs: JobsApi;
  /** continuous-training pipelines stored on the server; `pipelines.run` starts one */
  readonly pipelines: PipelinesApi;
  /** pipeline runs: their state, metrics and logs; wait for one, cancel one */
  readonly runs: RunsApi;
  /** where a version came from, and what was trained on a dataset */
  readonly lineage: LineageApi;
  private readonly plane: DataPlane;
  private readonly http: HttpSession | null;
  private readonly send: ManagementSend;

  constructor(opts: ClientOptions) {
    if (opts === null || typeof opts !== 'object' || typeof opts.url !== 'string') {
      throw new BerthClientError('INVALID_ARGUMENT', 'createClient: expected { url: "http://host:port" | "grpc://host:port", token? }');
    }
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const retry = resolveRetry(opts.retry);
    const common = {
      timeoutMs,
      retry,
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      ...(opts.headers !== undefined ? { headers: opts.headers } : {}),
      ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    };
    let scheme: string;
    try {
      scheme = new URL(opts.url).protocol;
    } catch {
      throw new BerthClientError('INVALID_ARGUMENT', `url: expected http://host:port or grpc://host:port, got ${JSON.stringify(opts.url)}`);
    }
    this.url = opts.url.replace(/\/+$/, '');
    if (scheme === 'grpc:' || scheme === 'grpcs:') {
      this.protocol = 'grpc';
      this.plane = new GrpcDataPlane(opts.url, common);
      this.http = opts.managementUrl === undefined ? null : new HttpSession(opts.managementUrl, { ...common, ...(opts.maxSockets !== undefined ? { maxSockets: opts.maxSockets } : {}) });
    } else if (scheme === 'http:' || scheme === 'https:') {
      this.protocol = 'rest';
      this.http = new HttpSession(opts.url, { ...common, ...(opts.maxSockets !== undefined ? { maxSockets: opts.maxSockets } : {}) });
      this.plane = new RestDataPlane(this.http, opts.binary ?? true);
    } else {
      throw new BerthClientError('INVALID_ARGUMENT', `url: expected http://, https://, grpc:// or grpcs://, got ${opts.url}`);
    }
    this.send = managementSender(this.http);
    this.models = new ModelsApi(this.send);
    this.deployments = new DeploymentsApi(this.send);
    this.rollouts = new RolloutsApi(this.send);
    this.jobs = new JobsApi(this.send);
    this.pipelines = new PipelinesApi(this.send);
    this.runs = new RunsApi(this.send);
    this.lineage = new LineageApi(this.send);
  }

  /** Is the server process up? */
  live(o?: CallOptions): Promise<boolean> {
    return this.plane.live(o);
  }
  /** Is it ready for traffic? */
  ready(o?: CallOptions): Promise<boolean> {
    return this.plane.ready(o);
  }
  /** Is the deployment's model loaded and ready? */
  modelReady(deployment: string, version?: number | string, o?: CallOptions): Promise<boolean> {
    return this.plane.modelReady(deployment, version, o);
  }
  serverMetadata(o?: CallOptions): Promise<ServerMetadata> {
    return this.plane.serverMetadata(o);
  }
  /** The deployment's inputs and outputs, as the protocol describes them. */
  modelMetadata(deployment: string, version?: number | string, o?: CallOptions): Promise<ModelMetadata> {
    return this.plane.modelMetadata(deployment, version, o);
  }

  /**
   * Run the deployment's model. Typed arrays in, typed arrays out.
   *
   * @example
   * const r = await client.infer('fraud', { input: { data: new Float32Array(30), shape: [1, 30] } });
   * r.output('probabilities').data // Float32Array
   */
  infer(deployment: string, inputs: InferInputs, opts?: InferOptions): Promise<InferResult> {
    let prepared;
    try {
      prepared = prepareInputs(inputs);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.plane.infer(deployment, prepared, opts);
  }

  /**
   * The friendly endpoint: rows of named features in, labels and probabilities out (REST; a gRPC
   * client sends it to `managementUrl`). `rows`: an object of named features per row, an array of
   * values per row (in input order), or the whole request body (`{rows}` or `{instances}`).
   */
  predict(deployment: string, rows: Record<string, unknown>[] | unknown[][] | { rows: unknown[] } | { instances: unknown[] }, o?: CallOptions): Promise<PredictResult> {
    const body = !Array.isArray(rows) ? rows : rows.every(Array.isArray) ? { instances: rows } : { rows };
    return this.send({ ...o, method: 'POST', path: ['v1', 'deployments', deployment, 'predict'], body });
  }

  /**
   * Explain predictions: per row and feature, its contribution, with the base value and the
   * prediction (base_value + Σ contributions = prediction). `rows` as for `predict`.
   */
  explain(deployment: string, rows: Record<string, unknown>[] | unknown[][] | { rows: unknown[] } | { instances: unknown[] }, options: ExplainOptions = {}, o?: CallOptions): Promise<ExplainResult> {
    const body = !Array.isArray(rows) ? rows : rows.every(Array.isArray) ? { instances: rows } : { rows };
    return this.send({ ...o, method: 'POST', path: ['v1', 'deployments', deployment, 'explain'], body: { ...body, ...options } });
  }

  /**
   * Permutation feature importance over the deployed version's labelled reference data, with
   * confidence intervals (`metric`: default accuracy for classifiers, r2 for regressions).
   */
  importance(deployment: string, options: { metric?: ImportanceResult['metric']; repeats?: number; max_rows?: number; seed?: number } = {}, o?: CallOptions): Promise<ImportanceResult> {
    return this.send({ ...o, method: 'POST', path: ['v1', 'deployments', deployment, 'importance'], body: options });
  }

  /** The statistics extension: every deployment, one, or one version. */
  statistics(deployment?: string, version?: number | string, o?: CallOptions): Promise<ModelStatistics[]> {
    return this.plane.statistics(deployment, version, o);
  }

  /** The repository extension: every deployment and its state. */
  repositoryIndex(o?: CallOptions): Promise<RepositoryModel[]> {
    return this.plane.repositoryIndex(o);
  }
  /** Load a deployment's model now rather than on its first request. */
  load(deployment: string, o?: CallOptions): Promise<void> {
    return this.plane.load(deployment, o);
  }
  unload(deployment: string, o?: CallOptions): Promise<void> {
    return this.plane.unload(deployment, o);
  }

  /** Who the token is to the server and what it may do. */
  whoami(o?: CallOptions): Promise<WhoAmI> {
    return whoami(this.send, o);
  }

  /**
   * A version's model file (the ONNX bytes), for scoring in this process. Needs the deploy scope
   * on the model. The bytes are as the server stores them: check them against the version's sha256.
   */
  async downloadArtifact(model: string, version: number, o?: CallOptions): Promise<Uint8Array> {
    if (this.http === null) throw new BerthClientError('UNSUPPORTED', 'downloading a model file is REST only: give createClient a managementUrl');
    const res = await this.http.send({ ...o, method: 'GET', path: ['v1', 'models', model, 'versions', String(version), 'artifact'], headers: { accept: 'application/octet-stream' } });
    return new Uint8Array(res.body.buffer, res.body.byteOffset, res.body.byteLength);
  }

  /**
   * Any other route of the management API, answered as parsed JSON; refusals throw the same
   * error classes. `path` is segments (each URL-encoded here) or an encoded path.
   */
  request<T>(call: HttpCall): Promise<T> {
    return this.send<T>(call);
  }

  /** Close connections; calls after this fail. */
  async close(): Promise<void> {
    this.plane.close();
    this.http?.close();
  }
}

/** A client for the Berth server at `opts.url`. */
export function createClient(opts: ClientOptions): BerthClient {
  return new BerthClient(opts);
}

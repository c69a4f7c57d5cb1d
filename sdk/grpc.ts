/**
 * The v2 data plane over gRPC (`inference.GRPCInferenceService`). Inputs travel in
 * `raw_input_contents` and outputs come back in `raw_output_contents`, as tritonclient does: no
 * per-element protobuf work. @grpc/grpc-js loads on first use, so REST-only users never pay for it.
 * Refusals become the same error classes as over REST: the status code and the server's
 * `berth-code` trailer pick the class; `retry-after` feeds the retry policy.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as grpcTypes from '@grpc/grpc-js';
import { apiErrorClass, BerthClientError } from './errors.js';
import type { TlsOptions } from './http.js';
import { inferResult, type DataPlane } from './plane.js';
import { abortedError, deadlineError, deadlineOf, resolveRetry, withRetries, type CallOptions, type ResolvedRetry } from './retry.js';
import { bytesElement, fromJsonData, fromRaw, isDatatype, toRaw, type PreparedInput, type Tensor } from './tensors.js';
import type { InferOptions, InferResult, ModelMetadata, ModelStatistics, RepositoryModel, ServerMetadata, StatisticDuration } from './types.js';

type Grpc = typeof grpcTypes;
type Unary = (req: unknown, md: grpcTypes.Metadata, opts: grpcTypes.CallOptions, cb: (err: grpcTypes.ServiceError | null, res: unknown) => void) => grpcTypes.ClientUnaryCall;

export interface GrpcPlaneOptions {
  token?: string;
  headers?: Record<string, string>;
  timeoutMs: number;
  retry: ResolvedRetry;
  tls?: TlsOptions;
}

/** `grpc://host:port` or `grpcs://host:port` as grpc-js wants it. */
export function grpcTarget(url: string): { target: string; secure: boolean } {
  const u = new URL(url);
  if (u.protocol !== 'grpc:' && u.protocol !== 'grpcs:') throw new BerthClientError('INVALID_ARGUMENT', `url: expected grpc:// or grpcs://, got ${url}`);
  if (u.port === '') throw new BerthClientError('INVALID_ARGUMENT', `url: ${url} names no port; Berth's gRPC port is whatever \`berth serve --grpc-port\` was given`);
  // an IPv6 hostname keeps its brackets, as grpc-js wants
  return { target: `${u.hostname}:${u.port}`, secure: u.protocol === 'grpcs:' };
}

/** The proto shipped with Berth: `<package root>/proto/grpc_predict_v2.proto`. */
function protoFile(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['..', '../..', '../../..']) {
    const p = path.resolve(here, up, 'proto', 'grpc_predict_v2.proto');
    if (existsSync(p)) return p;
  }
  throw new BerthClientError('UNSUPPORTED', `proto/grpc_predict_v2.proto not found above ${here}; the SDK's installation is incomplete`);
}

let loaded: Promise<{ grpc: Grpc; Service: grpcTypes.ServiceClientConstructor }> | null = null;

function loadGrpc(): Promise<{ grpc: Grpc; Service: grpcTypes.ServiceClientConstructor }> {
  loaded ??= (async () => {
    const [grpc, loader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
    const def = loader.loadSync(protoFile(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def)['inference'] as grpcTypes.GrpcObject;
    return { grpc, Service: pkg['GRPCInferenceService'] as grpcTypes.ServiceClientConstructor };
  })();
  return loaded;
}

export class GrpcDataPlane implements DataPlane {
  readonly protocol = 'grpc' as const;
  private client: Promise<{ grpc: Grpc; stub: grpcTypes.Client }>;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly opts: GrpcPlaneOptions,
  ) {
    const { target, secure } = grpcTarget(url);
    this.client = loadGrpc().then(({ grpc, Service }) => {
      const creds = secure
        ? grpc.credentials.createSsl(buf(opts.tls?.ca), buf(opts.tls?.key), buf(opts.tls?.cert))
        : grpc.credentials.createInsecure();
      const stub = new Service(target, creds, { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
      return { grpc, stub };
    });
    // a failure to load shows on the first call, not as an unhandled rejection
    this.client.catch(() => undefined);
  }

  async live(o?: CallOptions): Promise<boolean> {
    return ((await this.unary('ServerLive', {}, o)) as { live: boolean }).live;
  }
  async ready(o?: CallOptions): Promise<boolean> {
    return ((await this.unary('ServerReady', {}, o)) as { ready: boolean }).ready;
  }
  async modelReady(name: string, version?: number | string, o?: CallOptions): Promise<boolean> {
    return ((await this.unary('ModelReady', { name, version: version === undefined ? '' : String(version) }, o)) as { ready: boolean }).ready;
  }
  async serverMetadata(o?: CallOptions): Promise<ServerMetadata> {
    const r = (await this.unary('ServerMetadata', {}, o)) as ServerMetadata;
    return { name: r.name, version: r.version, extensions: r.extensions };
  }
  async modelMetadata(name: string, version?: number | string, o?: CallOptions): Promise<ModelMetadata> {
    type WireTensor = { name: string; datatype: string; shape: string[] };
    const r = (await this.unary('ModelMetadata', { name, version: version === undefined ? '' : String(version) }, o)) as { name: string; versions: string[]; platform: string; inputs: WireTensor[]; outputs: WireTensor[] };
    const tensor = (t: WireTensor): ModelMetadata['inputs'][number] => ({ name: t.name, datatype: t.datatype as ModelMetadata['inputs'][number]['datatype'], shape: t.shape.map(Number) });
    return { name: r.name, versions: r.versions, platform: r.platform, inputs: r.inputs.map(tensor), outputs: r.outputs.map(tensor) };
  }

  async statistics(name?: string, version?: number | string, o?: CallOptions): Promise<ModelStatistics[]> {
    type D = { count: string; ns: string };
    type W = { name: string; version: string; last_inference: string; inference_count: string; execution_count: string; inference_stats: Record<string, D | null>; batch_stats: { batch_size: string; compute_infer: D | null }[] };
    const r = (await this.unary('ModelStatistics', { name: name ?? '', version: version === undefined ? '' : String(version) }, o)) as { model_stats: W[] };
    const d = (x: D | null | undefined): StatisticDuration => ({ count: Number(x?.count ?? 0), ns: Number(x?.ns ?? 0) });
    return r.model_stats.map((s) => ({
      name: s.name,
      version: s.version,
      lastInference: Number(s.last_inference),
      inferenceCount: Number(s.inference_count),
      executionCount: Number(s.execution_count),
      inferenceStats: {
        success: d(s.inference_stats['success']),
        fail: d(s.inference_stats['fail']),
        queue: d(s.inference_stats['queue']),
        computeInput: d(s.inference_stats['compute_input']),
        computeInfer: d(s.inference_stats['compute_infer']),
        computeOutput: d(s.inference_stats['compute_output']),
      },
      batchStats: s.batch_stats.map((b) => ({ batchSize: Number(b.batch_size), computeInfer: d(b.compute_infer) })),
    }));
  }

  async repositoryIndex(o?: CallOptions): Promise<RepositoryModel[]> {
    const r = (await this.unary('RepositoryIndex', { repository_name: '', ready: false }, o)) as { models: RepositoryModel[] };
    return r.models;
  }
  async load(name: string, o?: CallOptions): Promise<void> {
    await this.unary('RepositoryModelLoad', { repository_name: '', model_name: name }, o);
  }
  async unload(name: string, o?: CallOptions): Promise<void> {
    await this.unary('RepositoryModelUnload', { repository_name: '', model_name: name }, o);
  }

  async infer(deployment: string, inputs: PreparedInput[], opts: InferOptions = {}): Promise<InferResult> {
    const req: Record<string, unknown> = {
      model_name: deployment,
      model_version: opts.version === undefined ? '' : String(opts.version),
      id: opts.id ?? '',
      parameters: toGrpcParameters(opts.parameters),
      inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, parameters: toGrpcParameters(i.parameters) })),
      outputs: (opts.outputs ?? []).map((name) => ({ name })),
      raw_input_contents: inputs.map((i) => {
        const r = toRaw(i.datatype, i.data);
        return Buffer.from(r.buffer, r.byteOffset, r.byteLength);
      }),
    };
    const what = `infer ${deployment}`;
    const res = (await this.unary('ModelInfer', req, opts, what)) as GrpcInferResponse;
    return decodeGrpcAnswer(res, what);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.client.then(({ stub }) => stub.close(), () => undefined);
  }

  private async unary(method: string, req: unknown, o: CallOptions = {}, what = `gRPC ${method}`): Promise<unknown> {
    if (this.closed) throw new BerthClientError('UNSUPPORTED', 'this client is closed; create another');
    const timeoutMs = o.timeoutMs ?? this.opts.timeoutMs;
    const deadline = deadlineOf(timeoutMs);
    const retry = o.retry === undefined ? this.opts.retry : resolveRetry(o.retry, this.opts.retry);
    let client;
    try {
      client = await this.client;
    } catch (err) {
      throw new BerthClientError('UNSUPPORTED', `gRPC is not available: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const { grpc, stub } = client;
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries({ ...this.opts.headers, ...o.headers })) md.set(k.toLowerCase(), v);
    if (this.opts.token !== undefined) md.set('authorization', `Bearer ${this.opts.token}`);
    const fn = (stub as unknown as Record<string, Unary>)[method]!.bind(stub);
    return withRetries(what, retry, deadline, timeoutMs, o.signal, (d) =>
      new Promise((resolve, reject) => {
        const call = fn(req, md, { deadline: new Date(d) }, (err, res) => {
          o.signal?.removeEventListener('abort', onAbort);
          if (err === null) resolve(res);
          else reject(this.refusal(grpc, err, what, timeoutMs, o.signal));
        });
        const onAbort = (): void => call.cancel();
        o.signal?.addEventListener('abort', onAbort, { once: true });
      }),
    );
  }

  private refusal(grpc: Grpc, err: grpcTypes.ServiceError, what: string, timeoutMs: number, signal: AbortSignal | undefined): Error {
    const trailer = (k: string): string | undefined => {
      const v = err.metadata?.get(k)[0];
      return v === undefined ? undefined : String(v);
    };
    const code = trailer('berth-code');
    if (code === undefined) {
      // not the server's words: the transport's own (no connection, our deadline, our cancel)
      if (err.code === grpc.status.DEADLINE_EXCEEDED) return deadlineError(timeoutMs, what);
      if (err.code === grpc.status.CANCELLED && signal?.aborted) return abortedError(what, signal);
      if (err.code === grpc.status.UNAVAILABLE) {
        return new BerthClientError('UNREACHABLE', `${what}: no answer from ${this.url} (${err.details}); is the server running there with --grpc-port?`, { cause: err });
      }
    }
    const status = httpStatusOf(err.code, code);
    const retryAfter = trailer('retry-after');
    const field = trailer('berth-field');
    const Cls = apiErrorClass(status);
    return new Cls(err.details || `${what} failed with gRPC status ${err.code}`, {
      code: code ?? grpc.status[err.code] ?? 'INTERNAL',
      status,
      transport: 'grpc',
      grpcStatus: err.code,
      ...(field !== undefined ? { field } : {}),
      ...(retryAfter !== undefined && Number.isFinite(Number(retryAfter)) ? { retryAfterMs: Number(retryAfter) * 1000 } : {}),
    });
  }
}

/** Codes whose HTTP status the gRPC status alone does not tell. */
const STATUS_BY_CODE: Record<string, number> = {
  PAYLOAD_TOO_LARGE: 413,
  MEMORY_BUDGET_EXCEEDED: 503,
  GATE_FAILED: 422,
  ARTIFACT_UNTRUSTED: 422,
  WRONG_ROLE: 421,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

/** The HTTP status a gRPC status (and the server's code, when sent) stands for. */
export function httpStatusOf(grpcCode: number, berthCode: string | undefined): number {
  const fixed = berthCode === undefined ? undefined : STATUS_BY_CODE[berthCode];
  if (fixed !== undefined) return fixed;
  // gRPC status numbers are fixed by the gRPC specification
  const byGrpc: Record<number, number> = { 3: 400, 5: 404, 6: 409, 9: 409, 16: 401, 7: 403, 8: 429, 4: 504, 14: 503, 12: 501, 15: 500, 13: 500, 2: 500 };
  return byGrpc[grpcCode] ?? 500;
}

interface GrpcInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, GrpcParameter>;
  outputs: { name: string; datatype: string; shape: string[]; parameters: Record<string, GrpcParameter>; contents: Record<string, unknown[]> | null }[];
  raw_output_contents: Buffer[];
}

type GrpcParameter = { parameter_choice?: string; bool_param?: boolean; int64_param?: string; string_param?: string; double_param?: number; uint64_param?: string };

function toGrpcParameters(p: Record<string, unknown> | undefined): Record<string, GrpcParameter> {
  const out: Record<string, GrpcParameter> = {};
  for (const [k, v] of Object.entries(p ?? {})) {
    if (typeof v === 'boolean') out[k] = { bool_param: v };
    else if (typeof v === 'bigint') out[k] = { int64_param: v.toString() };
    else if (typeof v === 'number') out[k] = Number.isSafeInteger(v) ? { int64_param: String(v) } : { double_param: v };
    else if (typeof v === 'string') out[k] = { string_param: v };
    else throw new BerthClientError('INVALID_ARGUMENT', `parameters.${k}: gRPC parameters are booleans, numbers or strings, got ${typeof v}`);
  }
  return out;
}

function fromGrpcParameters(p: Record<string, GrpcParameter> | undefined): Record<string, unknown> | undefined {
  if (p === undefined || Object.keys(p).length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    const which = v.parameter_choice as keyof GrpcParameter | undefined;
    const raw = which === undefined ? undefined : v[which];
    out[k] = which === 'int64_param' || which === 'uint64_param' ? Number(raw) : raw;
  }
  return out;
}

/** Contents fields per datatype, for answers a server sent typed rather than raw. */
const CONTENTS: Record<string, string> = {
  BOOL: 'bool_contents', INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents',
  FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents',
};

function decodeGrpcAnswer(res: GrpcInferResponse, what: string): InferResult {
  const raw = res.raw_output_contents ?? [];
  const outputs: Tensor[] = res.outputs.map((o, k) => {
    if (!isDatatype(o.datatype)) throw new BerthClientError('BAD_RESPONSE', `${what}: output ${o.name} has datatype ${o.datatype}`);
    const shape = o.shape.map(Number);
    const count = shape.reduce((a, b) => a * b, 1);
    let data;
    if (raw.length > 0) {
      const bytes = raw[k];
      if (bytes === undefined) throw new BerthClientError('BAD_RESPONSE', `${what}: raw_output_contents has no entry for output ${o.name}`);
      data = fromRaw(o.datatype, bytes, o.datatype === 'BYTES' ? undefined : count, `${what}: output ${o.name}`);
    } else {
      const field = CONTENTS[o.datatype];
      const values = (field === undefined ? undefined : o.contents?.[field]) ?? [];
      if (o.datatype === 'BYTES') data = (values as Buffer[]).map((b) => bytesElement(b));
      else data = fromJsonData(o.datatype, values, `${what}: output ${o.name}`);
    }
    const t: Tensor = { name: o.name, datatype: o.datatype, shape, data };
    const params = fromGrpcParameters(o.parameters);
    if (params !== undefined) t.parameters = params;
    return t;
  });
  return inferResult(res.model_name, res.model_version, res.id, fromGrpcParameters(res.parameters), outputs);
}

function buf(v: string | Uint8Array | undefined): Buffer | null {
  return v === undefined ? null : Buffer.from(v);
}

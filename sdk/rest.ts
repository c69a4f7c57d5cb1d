/**
 * The v2 data plane over REST: health, metadata, statistics, the repository extension and
 * inference, by default with the binary tensor extension (a JSON header of
 * `Inference-Header-Content-Length` bytes, then the tensors' raw bytes, both ways), or plain JSON.
 */
import { BerthApiError, BerthClientError } from './errors.js';
import type { HttpSession } from './http.js';
import type { CallOptions } from './retry.js';
import { flatJson, fromJsonData, parseJsonExact, fromRaw, isDatatype, toJsonData, toRaw, type PreparedInput, type Tensor } from './tensors.js';
import type { DataPlane } from './plane.js';
import { inferResult } from './plane.js';
import type { InferOptions, InferResult, ModelMetadata, ModelStatistics, RepositoryModel, ServerMetadata } from './types.js';

const HEADER_LENGTH = 'inference-header-content-length';

/** The wire JSON of one output. */
interface WireOutput {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown;
  parameters?: Record<string, unknown>;
}
interface WireAnswer {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: WireOutput[];
}

export class RestDataPlane implements DataPlane {
  readonly protocol = 'rest' as const;

  constructor(
    private readonly http: HttpSession,
    private readonly binaryDefault: boolean,
  ) {}

  async live(o?: CallOptions): Promise<boolean> {
    return this.probe(['v2', 'health', 'live'], o);
  }
  async ready(o?: CallOptions): Promise<boolean> {
    return this.probe(['v2', 'health', 'ready'], o);
  }
  async modelReady(name: string, version?: number | string, o?: CallOptions): Promise<boolean> {
    return this.probe([...modelPath(name, version), 'ready'], o);
  }

  serverMetadata(o?: CallOptions): Promise<ServerMetadata> {
    return this.http.json({ ...o, method: 'GET', path: ['v2'] });
  }
  modelMetadata(name: string, version?: number | string, o?: CallOptions): Promise<ModelMetadata> {
    return this.http.json({ ...o, method: 'GET', path: modelPath(name, version) });
  }

  async statistics(name?: string, version?: number | string, o?: CallOptions): Promise<ModelStatistics[]> {
    const path = name === undefined ? ['v2', 'models', 'stats'] : [...modelPath(name, version), 'stats'];
    const body = await this.http.json<{ model_stats: WireStats[] }>({ ...o, method: 'GET', path });
    return body.model_stats.map(statsFromWire);
  }

  async repositoryIndex(o?: CallOptions): Promise<RepositoryModel[]> {
    return this.http.json({ ...o, method: 'POST', path: ['v2', 'repository', 'index'], body: {} });
  }
  async load(name: string, o?: CallOptions): Promise<void> {
    await this.http.send({ ...o, method: 'POST', path: ['v2', 'repository', 'models', name, 'load'], body: {} });
  }
  async unload(name: string, o?: CallOptions): Promise<void> {
    await this.http.send({ ...o, method: 'POST', path: ['v2', 'repository', 'models', name, 'unload'], body: {} });
  }

  async infer(deployment: string, inputs: PreparedInput[], opts: InferOptions = {}): Promise<InferResult> {
    const binary = opts.binary ?? this.binaryDefault;
    const header: Record<string, unknown> = {};
    if (opts.id !== undefined) header['id'] = opts.id;
    const params: Record<string, unknown> = { ...opts.parameters };
    if (binary) params['binary_data_output'] = true;
    if (Object.keys(params).length > 0) header['parameters'] = params;
    if (opts.outputs !== undefined) header['outputs'] = opts.outputs.map((name) => ({ name }));
    const path = [...modelPath(deployment, opts.version), 'infer'];
    const what = `infer ${deployment}`;
    let answer;
    if (binary) {
      const raws = inputs.map((i) => toRaw(i.datatype, i.data));
      header['inputs'] = inputs.map((i, k) => ({ name: i.name, datatype: i.datatype, shape: i.shape, parameters: { ...i.parameters, binary_data_size: raws[k]!.length } }));
      const head = Buffer.from(JSON.stringify(header));
      const body = Buffer.concat([head, ...raws.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength))]);
      answer = await this.http.send({ ...opts, what, method: 'POST', path, body, headers: { ...opts.headers, 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(head.length) } });
    } else {
      header['inputs'] = inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, data: toJsonData(i.datatype, i.data, `input ${i.name}`), ...(i.parameters ? { parameters: i.parameters } : {}) }));
      answer = await this.http.send({ ...opts, what, method: 'POST', path, body: header });
    }
    return decodeAnswer(answer.body, answer.headers[HEADER_LENGTH], what);
  }

  close(): void {
    // the HttpSession belongs to the client, which closes it
  }

  private async probe(path: string[], o?: CallOptions): Promise<boolean> {
    try {
      await this.http.send({ ...o, method: 'GET', path });
      return true;
    } catch (err) {
      if (err instanceof BerthApiError && (err.status === 503 || err.status === 404 || err.status === 400)) return false;
      throw err;
    }
  }
}

function modelPath(name: string, version: number | string | undefined): string[] {
  return version === undefined ? ['v2', 'models', name] : ['v2', 'models', name, 'versions', String(version)];
}

/** An infer answer: JSON, or a JSON header and the binary outputs after it. */
export function decodeAnswer(body: Buffer, headerLength: string | string[] | undefined, what: string): InferResult {
  const hl = Array.isArray(headerLength) ? headerLength[0] : headerLength;
  const jsonEnd = hl === undefined ? body.length : Number(hl);
  if (!Number.isInteger(jsonEnd) || jsonEnd < 0 || jsonEnd > body.length) throw new BerthClientError('BAD_RESPONSE', `${what}: ${HEADER_LENGTH} ${hl} does not fit a ${body.length}-byte answer`);
  let wire: WireAnswer;
  try {
    wire = parseJsonExact(body.toString('utf8', 0, jsonEnd)) as WireAnswer;
  } catch (err) {
    throw new BerthClientError('BAD_RESPONSE', `${what}: the answer's JSON does not parse`, { cause: err });
  }
  if (!Array.isArray(wire.outputs)) throw new BerthClientError('BAD_RESPONSE', `${what}: the answer has no outputs`);
  let at = jsonEnd;
  const outputs: Tensor[] = wire.outputs.map((o) => {
    if (!isDatatype(o.datatype)) throw new BerthClientError('BAD_RESPONSE', `${what}: output ${o.name} has datatype ${o.datatype}`);
    const count = o.shape.reduce((a, b) => a * b, 1);
    const size = o.parameters?.['binary_data_size'];
    let data;
    const parameters = o.parameters === undefined ? undefined : { ...o.parameters };
    if (typeof size === 'number') {
      if (at + size > body.length) throw new BerthClientError('BAD_RESPONSE', `${what}: output ${o.name}'s ${size} bytes run past the answer's end`);
      data = fromRaw(o.datatype, body.subarray(at, at + size), o.datatype === 'BYTES' ? undefined : count, `${what}: output ${o.name}`);
      at += size;
      delete parameters?.['binary_data_size'];
    } else {
      data = fromJsonData(o.datatype, flatJson(o.data ?? []), `${what}: output ${o.name}`);
    }
    const t: Tensor = { name: o.name, datatype: o.datatype, shape: o.shape, data };
    if (parameters !== undefined && Object.keys(parameters).length > 0) t.parameters = parameters;
    return t;
  });
  return inferResult(wire.model_name, wire.model_version, wire.id, wire.parameters, outputs);
}

interface WireDuration {
  count: number;
  ns: number;
}
interface WireStats {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<'success' | 'fail' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output', WireDuration>;
  batch_stats: { batch_size: number; compute_infer: WireDuration }[];
}

function statsFromWire(s: WireStats): ModelStatistics {
  const i = s.inference_stats;
  return {
    name: s.name,
    version: s.version,
    lastInference: s.last_inference,
    inferenceCount: s.inference_count,
    executionCount: s.execution_count,
    inferenceStats: { success: i.success, fail: i.fail, queue: i.queue, computeInput: i.compute_input, computeInfer: i.compute_infer, computeOutput: i.compute_output },
    batchStats: s.batch_stats.map((b) => ({ batchSize: b.batch_size, computeInfer: b.compute_infer })),
  };
}

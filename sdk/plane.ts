/** What both transports of the v2 data plane offer; the client picks one by the URL's scheme. */
import { BerthClientError } from './errors.js';
import type { CallOptions } from './retry.js';
import type { PreparedInput, Tensor } from './tensors.js';
import type { InferOptions, InferResult, ModelMetadata, ModelStatistics, RepositoryModel, ServerMetadata } from './types.js';

export interface DataPlane {
  readonly protocol: 'rest' | 'grpc';
  live(o?: CallOptions): Promise<boolean>;
  ready(o?: CallOptions): Promise<boolean>;
  modelReady(name: string, version?: number | string, o?: CallOptions): Promise<boolean>;
  serverMetadata(o?: CallOptions): Promise<ServerMetadata>;
  modelMetadata(name: string, version?: number | string, o?: CallOptions): Promise<ModelMetadata>;
  infer(deployment: string, inputs: PreparedInput[], opts?: InferOptions): Promise<InferResult>;
  statistics(name?: string, version?: number | string, o?: CallOptions): Promise<ModelStatistics[]>;
  repositoryIndex(o?: CallOptions): Promise<RepositoryModel[]>;
  load(name: string, o?: CallOptions): Promise<void>;
  unload(name: string, o?: CallOptions): Promise<void>;
  close(): void;
}

export function inferResult(
  modelName: string,
  modelVersion: string | undefined,
  id: string | undefined,
  parameters: Record<string, unknown> | undefined,
  outputs: Tensor[],
): InferResult {
  return {
    modelName,
    modelVersion: modelVersion === '' ? undefined : modelVersion,
    id: id === '' ? undefined : id,
    parameters,
    outputs,
    output(name: string): Tensor {
      const t = outputs.find((o) => o.name === name);
      if (t === undefined) {
        throw new BerthClientError('INVALID_ARGUMENT', `no output named ${JSON.stringify(name)} in the answer; it has ${outputs.map((o) => o.name).join(', ') || 'none'}`);
      }
      return t;
    },
  };
}

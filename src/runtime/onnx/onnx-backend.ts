import ort from 'onnxruntime-node';
import { BerthError, isBatchable, type Datatype, type Signature, type Tensor, type TensorSpec } from '../../core/index.js';
import type { Backend, LoadedModel, LoadOptions } from '../backend.js';
import { findExternalData } from './external-data.js';
import { OnnxWorkerModel, type WorkerValueMetadata } from './onnx-worker-model.js';

const ORT_TO_V2: Record<string, Datatype> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

const V2_TO_ORT: Record<Datatype, ort.Tensor.Type> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

type ValueMetadata = ort.InferenceSession.ValueMetadata | WorkerValueMetadata;

function specFromMetadata(meta: ValueMetadata, role: 'input' | 'output'): TensorSpec | null {
  if (!meta.isTensor) {
    if (role === 'output') return null; // sequence/map outputs (e.g. ZipMap) are not served
    throw new BerthError('INVALID_MODEL', `input "${meta.name}" is not a tensor (a sequence or map); Berth can only feed tensor inputs`, {
      field: meta.name,
    });
  }
  const datatype = ORT_TO_V2[meta.type];
  if (!datatype) {
    throw new BerthError('INVALID_MODEL', `${role} "${meta.name}" has element type ${meta.type}, which Berth does not serve`, {
      field: meta.name,
      got: meta.type,
    });
  }
  const shape: number[] = [];
  const dimNames: (string | null)[] = [];
  for (const d of meta.shape) {
    if (typeof d === 'number' && d >= 0) {
      shape.push(d);
      dimNames.push(null);
    } else {
      shape.push(-1);
      dimNames.push(typeof d === 'string' && d !== '' ? d : null);
    }
  }
  return { name: meta.name, datatype, shape, dimNames };
}

function signatureOf(session: { inputMetadata: readonly ValueMetadata[]; outputMetadata: readonly ValueMetadata[] }): Signature {
  const inputs = session.inputMetadata.map((m) => specFromMetadata(m, 'input')).filter((s): s is TensorSpec => s !== null);
  const outputs = session.outputMetadata.map((m) => specFromMetadata(m, 'output')).filter((s): s is TensorSpec => s !== null);
  if (outputs.length === 0) {
    throw new BerthError('INVALID_MODEL', 'the model has no tensor outputs; Berth serves tensor outputs only (drop ZipMap when converting sklearn classifiers: options={"zipmap": False})');
  }
  return { inputs, outputs, batchable: isBatchable(inputs, outputs) };
}

function explainLoadFailure(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/protobuf|parse|Load model from .* failed|Failed to load model|invalid/i.test(msg)) {
    return `it is not a valid ONNX model (${msg}); check that the file is complete (not truncated) and was exported with torch.onnx.export, skl2onnx, tf2onnx or onnxmltools`;
  }
  return msg;
}

class OnnxLoadedModel implements LoadedModel {
  private readonly outputNames: string[];
  private readonly inputNames: string[];
  private disposed = false;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly signature: Signature,
  ) {
    this.inputNames = signature.inputs.map((s) => s.name);
    this.outputNames = signature.outputs.map((s) => s.name);
  }

  async run(inputs: readonly Tensor[], outputNames?: readonly string[]): Promise<Tensor[]> {
    if (this.disposed) throw new BerthError('MODEL_UNAVAILABLE', 'the model was unloaded while a request was using it; retry');
    const feeds: Record<string, ort.Tensor> = {};
    for (let i = 0; i < inputs.length; i++) {
      const t = inputs[i]!;
      feeds[this.inputNames[i] ?? t.name] = new ort.Tensor(V2_TO_ORT[t.datatype], t.data as ort.Tensor.DataType, t.shape);
    }
    const names = outputNames && outputNames.length > 0 ? outputNames : this.outputNames;
    const result = await this.session.run(feeds, names as string[]);
    const out: Tensor[] = [];
    for (const name of names) {
      const o = result[name]!;
      const datatype = ORT_TO_V2[o.type] ?? 'FP32';
      out.push({ name, datatype, shape: Array.from(o.dims), data: o.data as Tensor['data'] });
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }
}

/** ONNX Runtime (CPU) backend. */
export class OnnxBackend implements Backend {
  readonly kind = 'onnx';

  async inspect(bytes: Uint8Array): Promise<Signature> {
    const session = await this.createSession(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1 });
    try {
      return signatureOf(session);
    } finally {
      await session.release();
    }
  }

  async load(bytes: Uint8Array, options: LoadOptions): Promise<LoadedModel> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      intraOpNumThreads: options.intraOpThreads,
      interOpNumThreads: options.interOpThreads,
      // a failing run is reported by Berth (answer, log, metrics, breaker); onnxruntime's own copy
      // of it on stderr would print once per failed request of a broken version
      logSeverityLevel: 4,
    };
    if (options.worker) {
      checkLoadable(bytes);
      try {
        return await OnnxWorkerModel.start(
          bytes,
          sessionOptions as Record<string, unknown>,
          (inputMetadata, outputMetadata) => signatureOf({ inputMetadata, outputMetadata }),
          V2_TO_ORT,
          ORT_TO_V2,
        );
      } catch (err) {
        if (err instanceof BerthError) throw err;
        throw new BerthError('INVALID_MODEL', `cannot load the model: ${explainLoadFailure(err)}`, {}, { cause: err });
      }
    }
    const session = await this.createSession(bytes, sessionOptions);
    try {
      return new OnnxLoadedModel(session, signatureOf(session));
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  private async createSession(bytes: Uint8Array, opts: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
    checkLoadable(bytes);
    try {
      return await ort.InferenceSession.create(bytes, opts);
    } catch (err) {
      throw new BerthError('INVALID_MODEL', `cannot load the model: ${explainLoadFailure(err)}`, {}, { cause: err });
    }
  }
}

/** Refuse what the runtime must never see: empty files and models whose weights live elsewhere. */
function checkLoadable(bytes: Uint8Array): void {
  if (bytes.byteLength === 0) {
    throw new BerthError('INVALID_MODEL', 'the file is empty (0 bytes); point at the exported .onnx file');
  }
  const external = findExternalData(bytes);
  if (external.length > 0) {
    // Loaded from bytes, the runtime would look for these files relative to the working directory.
    throw new BerthError(
      'INVALID_MODEL',
      `the model keeps its weights in external data files (${external.join(', ')}), which Berth does not store; re-save it as one file with onnx.save_model(model, path, save_as_external_data=False) (models under 2 GB)`,
      { got: external },
    );
  }
}

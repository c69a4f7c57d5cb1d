import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { BerthError, type Datatype, type Signature, type Tensor } from '../../core/index.js';
import type { LoadedModel } from '../backend.js';

/** What the worker thread runs (plain JS, evaluated, so it works from sources and from dist alike). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session = null;
(async () => {
  try {
    session = await ort.InferenceSession.create(new Uint8Array(workerData.bytes), workerData.options);
    parentPort.postMessage({ type: 'ready', inputs: session.inputMetadata, outputs: session.outputMetadata });
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: err && err.message ? err.message : String(err) });
  }
})();
parentPort.on('message', async (msg) => {
  if (msg.type === 'dispose') {
    try { if (session) await session.release(); } catch {}
    session = null;
    parentPort.postMessage({ type: 'disposed' });
    return;
  }
  const feeds = {};
  for (const f of msg.feeds) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
  try {
    const result = await session.run(feeds, msg.fetches);
    const outputs = [];
    const transfer = [];
    for (const name of msg.fetches) {
      const t = result[name];
      outputs.push({ name, type: t.type, dims: t.dims, data: t.data });
      if (t.data && t.data.buffer && !Array.isArray(t.data)) transfer.push(t.data.buffer);
    }
    parentPort.postMessage({ type: 'result', id: msg.id, outputs }, transfer);
  } catch (err) {
    parentPort.postMessage({ type: 'result', id: msg.id, error: err && err.message ? err.message : String(err) });
  }
});
`;

export interface WorkerValueMetadata {
  name: string;
  isTensor: boolean;
  type: string;
  shape: readonly (number | string)[];
}

interface Pending {
  resolve: (t: Tensor[]) => void;
  reject: (e: Error) => void;
}

type OrtType = string;

/**
 * A model whose onnxruntime session lives in its own worker thread. onnxruntime-node runs
 * inference synchronously on the calling thread, so in the main thread every batch would stall
 * HTTP parsing; here the event loop keeps decoding the next batch while this one computes.
 */
export class OnnxWorkerModel implements LoadedModel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private dead: string | null = null;
  private disposing: Promise<void> | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly signature: Signature,
    private readonly toOrt: Record<Datatype, OrtType>,
    private readonly fromOrt: Record<string, Datatype>,
  ) {
    worker.on('message', (msg: { type: string; id?: number; outputs?: { name: string; type: string; dims: number[]; data: Tensor['data'] }[]; error?: string }) => {
      if (msg.type !== 'result' || msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(msg.error));
      else p.resolve(msg.outputs!.map((o) => ({ name: o.name, datatype: this.fromOrt[o.type] ?? 'FP32', shape: Array.from(o.dims), data: o.data })));
    });
    worker.on('error', (err) => this.fail(`the runtime worker failed: ${err.message}`));
    worker.on('exit', (code) => this.fail(`the runtime worker exited (code ${code})`));
  }

  /**
   * Start a worker, create the session there and read its metadata. `makeSignature` turns the
   * metadata into a Signature (and throws for models Berth cannot serve).
   */
  static async start(
    bytes: Uint8Array,
    options: Record<string, unknown>,
    makeSignature: (inputs: WorkerValueMetadata[], outputs: WorkerValueMetadata[]) => Signature,
    toOrt: Record<Datatype, OrtType>,
    fromOrt: Record<string, Datatype>,
  ): Promise<OnnxWorkerModel> {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const copy = new Uint8Array(bytes).buffer; // an exact copy: a Buffer may be a view on a shared pool
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath, bytes: copy, options }, transferList: [copy] });
    worker.unref();
    type First = { type: string; message?: string; inputs?: WorkerValueMetadata[]; outputs?: WorkerValueMetadata[] };
    let onMessage: (m: First) => void = () => undefined;
    let onError: (e: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    const first = await new Promise<First>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new Error(`the runtime worker exited while loading (code ${code})`));
      worker.once('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    }).finally(() => {
      // only our own listeners: the Worker keeps internal ones that deliver messages
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    });
    if (first.type !== 'ready') {
      await worker.terminate();
      throw new Error(first.message ?? 'the runtime worker could not load the model');
    }
    let sig: Signature;
    try {
      sig = makeSignature(first.inputs!, first.outputs!);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    return new OnnxWorkerModel(worker, sig, toOrt, fromOrt);
  }

  run(inputs: readonly Tensor[], outputNames?: readonly string[]): Promise<Tensor[]> {
    if (this.dead !== null || this.disposing) {
      return Promise.reject(new BerthError('MODEL_UNAVAILABLE', `${this.dead ?? 'the model is unloading'}; retry`, { retryAfterSeconds: 1 }));
    }
    const id = this.nextId++;
    const fetches = outputNames && outputNames.length > 0 ? outputNames : this.signature.outputs.map((s) => s.name);
    // numbers travel as exact-size copies handed over to the worker, not cloned: a clone copies a
    // view's whole underlying buffer (which may be far larger than the view) and serialises it
    const transfer: ArrayBuffer[] = [];
    const feeds = inputs.map((t, i) => {
      let data = t.data;
      if (!Array.isArray(data)) {
        const own = (data as Exclude<Tensor['data'], string[]>).slice();
        transfer.push(own.buffer as ArrayBuffer);
        data = own;
      }
      return { name: this.signature.inputs[i]?.name ?? t.name, type: this.toOrt[t.datatype], dims: t.shape, data };
    });
    return new Promise<Tensor[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'run', id, feeds, fetches }, transfer);
    });
  }

  async dispose(): Promise<void> {
    if (this.disposing) return this.disposing;
    this.disposing = (async () => {
      if (this.dead === null) {
        await new Promise<void>((resolve) => {
          const onMsg = (m: { type: string }): void => {
            if (m.type === 'disposed') resolve();
          };
          this.worker.on('message', onMsg);
          this.worker.once('exit', () => resolve());
          this.worker.postMessage({ type: 'dispose' });
        });
      }
      await this.worker.terminate();
    })();
    return this.disposing;
  }

  private fail(reason: string): void {
    if (this.dead !== null) return;
    this.dead = reason;
    for (const p of this.pending.values()) p.reject(new BerthError('INFERENCE_FAILED', reason));
    this.pending.clear();
  }
}

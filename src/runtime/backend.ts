import type { Signature, Tensor } from '../core/index.js';

/** Options for loading one model into a backend. */
export interface LoadOptions {
  intraOpThreads: number;
  interOpThreads: number;
  /** run the model in its own worker thread so inference does not block the event loop */
  worker?: boolean;
}

/** A model loaded into a runtime, ready to run batches. */
export interface LoadedModel {
  readonly signature: Signature;
  /**
   * Run the model once. `inputs` are in signature order and fully shaped; `outputNames` selects
   * which outputs to compute (all tensor outputs when omitted).
   */
  run(inputs: readonly Tensor[], outputNames?: readonly string[]): Promise<Tensor[]>;
  /** Free the runtime's native memory. The model cannot run afterwards. */
  dispose(): Promise<void>;
}

/**
 * A runtime that can read a model's signature and load it. One implementation per runtime
 * (`OnnxBackend` first).
 */
export interface Backend {
  readonly kind: string;
  /** Read the signature; throws BerthError INVALID_MODEL when the bytes are not a loadable model. */
  inspect(bytes: Uint8Array): Promise<Signature>;
  load(bytes: Uint8Array, options: LoadOptions): Promise<LoadedModel>;
}

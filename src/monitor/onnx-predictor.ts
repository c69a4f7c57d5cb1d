import type { Registry, VersionRecord } from '../registry/index.js';
import type { PredictorFactory } from './monitor-service.js';

/**
 * Run a registered version's model in this process (one onnxruntime session, one thread), to
 * profile its predictions on reference data. The session is disposed when profiling ends.
 */
export function onnxPredictor(registry: Registry): PredictorFactory {
  // onnxruntime loads on first use, so the CLI's reads stay quick
  let backend: import('../runtime/index.js').OnnxBackend | undefined;
  return async (v: VersionRecord) => {
    if (!backend) {
      const { OnnxBackend } = await import('../runtime/index.js');
      backend = new OnnxBackend();
    }
    const bytes = await registry.artifacts.read(v.sha256);
    const model = await backend.load(bytes, { intraOpThreads: 1, interOpThreads: 1 });
    return { predict: (inputs) => model.run(inputs), dispose: () => model.dispose() };
  };
}

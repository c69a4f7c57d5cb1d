export type { Backend, LoadedModel, LoadOptions } from './backend.js';
export { OnnxBackend } from './onnx/onnx-backend.js';

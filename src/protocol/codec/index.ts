/** Wire codecs: JSON bodies in, typed tensors out, and back. Pure functions, no HTTP. */
export {
  decodeInferRequest, encodeInferResponse, encodeBinaryInferResponse, binaryOutputsOf, encodeTensorData, encodeError,
  type DecodedRequest, type RequestedOutput, type InferResponseParts,
} from './v2-json.js';
export { decodeRows, postprocessPredictions, type PredictionRow } from './rows.js';
export { DEFAULT_TENSOR_LIMITS, type TensorLimits } from './elements.js';

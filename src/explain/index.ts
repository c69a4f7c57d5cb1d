// The public surface of explain/. Each helper's block stays separate so blocks merge cleanly.

// --- trees: the ONNX reader, tree ensembles and exact TreeSHAP (slice 1) ---
export {
  ONNX_ATTRIBUTE_TYPES,
  ONNX_ELEMENT_TYPES,
  onnxAttribute,
  onnxTensorValues,
  readOnnxModel,
  type OnnxAttribute,
  type OnnxAttributeType,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx-model.js';
export {
  AGGREGATE_FUNCTIONS,
  MAX_TREE_DEPTH,
  NODE_MODES,
  POST_TRANSFORMS,
  TreeEnsemble,
  applyPostTransform,
  coversFrom,
  logistic,
  probit,
  readTreeModel,
  treeModelOf,
  type AggregateFunction,
  type ClassMargin,
  type NodeMode,
  type PostTransform,
  type ScoreLayout,
  type TreeEnsembleParts,
  type TreeModel,
  type TreeModelReading,
} from './trees.js';
export {
  TreeShap,
  interventionalTreeShap,
  pathDependentTreeShap,
  type TreeShapBackground,
  type TreeShapExplanation,
  type TreeShapOptions,
  type TreeShapTarget,
} from './tree-shap.js';
// --- end trees ---
// --- kernel SHAP, backgrounds, the service ---
export {
  exactShapley,
  kernelShap,
  SHAP_LINKS,
  type ExactShapleyOptions,
  type ExplainableModel,
  type KernelShapOptions,
  type ShapLink,
  type ShapleyExplanation,
} from './kernel-shap.js';
export {
  BACKGROUND_METHODS,
  SUMMARY_METHODS,
  backgroundFromJson,
  backgroundToJson,
  createBackground,
  summarizeBackground,
  type Background,
  type BackgroundJson,
  type BackgroundMethod,
  type SummarizeBackgroundOptions,
  type SummaryMethod,
} from './background.js';
export { FeatureSpace, explainedOutput, explainedValues, type ExplainedOutput, type FeatureInfo, type FeatureValue } from './features.js';
export { EXPLAIN_METHODS, LINKS, DEFAULT_BUDGET, parseExplainOptions, type ExplainMethod, type ExplainOptions, type Link } from './options.js';
export {
  DEFAULT_EXPLAIN_CONFIG,
  ExplainService,
  type AnsweredMethod,
  type ExplainConfig,
  type ExplainResult,
  type ExplainServiceOptions,
  type FeatureContribution,
  type PermutationImportanceResult,
  type RowExplanation,
} from './explainer.js';
// --- LIME and permutation importance ---
export { LimeTabular, explainLime, type LimeExplainOptions, type LimeExplanation, type LimeOptions, type LimeTabularOptions } from './lime.js';
export {
  PERMUTATION_METRICS, computeMetric, permutationImportance, studentTQuantile,
  type AccuracyDecision, type FeatureImportance, type LabelledRows, type PermutationImportance,
  type PermutationImportanceOptions, type PermutationMetric,
} from './permutation.js';

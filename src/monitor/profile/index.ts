/**
 * Mergeable sketches and dataset profiles: what a reference dataset or a window of traffic looks
 * like, in a size bounded by the sketches' parameters rather than by the number of rows.
 */
export { KllSketch, KLL_DEFAULT_K, KLL_MAX_K, KLL_MIN_K } from './kll-sketch.js';
export type { KllItems, KllSketchJson, KllSketchOptions } from './kll-sketch.js';
export { FrequencySketch, FREQUENCY_DEFAULT_CAP, FREQUENCY_MAX_CAP } from './frequency-sketch.js';
export type { FrequencySketchJson, FrequencySketchOptions } from './frequency-sketch.js';
export {
  SMALL_DOMAIN_LIMIT,
  checkRowWeights,
  cloneColumnProfile,
  columnProfileFromJSON,
  columnProfileToJSON,
  createCategoricalProfile,
  createNumericProfile,
  mergeColumnProfiles,
  updateCategoricalProfile,
  updateNumericProfile,
} from './column-profile.js';
export type {
  CategoricalColumnProfile,
  CategoricalColumnProfileJson,
  ColumnProfile,
  ColumnProfileJson,
  ColumnProfileOptions,
  DictionaryColumn,
  NumericColumnProfile,
  NumericColumnProfileJson,
  SmallDomain,
} from './column-profile.js';
export {
  COLUMN_KINDS,
  PROFILE_FORMAT,
  ProfileBuilder,
  inferColumnSpecs,
  mergeProfiles,
  parseProfile,
  profileColumn,
  serializeProfile,
} from './dataset-profile.js';
export type { ColumnKind, ColumnSpec, DatasetProfile, ProfileBuilderOptions } from './dataset-profile.js';
export { binIndex, binWeights, numericSummary, referenceBinEdges } from './summary.js';
export type { BinEdges, NumericSummary } from './summary.js';
export { sortFloat64 } from './sort-float64.js';

/**
 * Batch scoring of whole tables: DuckDB-streamed inputs, card mapping, resumable output parts and
 * an atomic final file (docs/batch.md, docs/design/batch-plan.md).
 */
export { runBatchJob, batchJobId, listUnfinishedJobs, readJobRecord, ON_ERROR, type BatchJobRecord, type UnfinishedBatchJob, type BatchJobSpec, type BatchJobDeps, type BatchProgress, type BatchSummary, type OnError } from './batch-job.js';
export { FeatureMapping, type MappedRows, type RowError } from './mapping.js';
export { Scorer, planPredictions, type PredictionColumn } from './scorer.js';
export { OUTPUT_FORMATS, outputFormatOf, type OutputColumn, type OutputFormat, type RejectedRow } from './sink.js';
export { INPUT_FORMATS, TableSource, inputFormatOf, type Cell, type CellKind, type ColumnChunk, type InputFormat, type SourceColumn, type SourceSpec } from './source.js';

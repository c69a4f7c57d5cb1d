/**
 * Batch scoring of whole tables: DuckDB-streamed inputs, card mapping, resumable output parts and
 * an atomic final file (docs/batch.md, docs/design/batch-plan.md).
 */
export { runBatchJob, batchJobId, listUnfinishedJobs, readJobRecord, ON_ERROR, type BatchJobRecord, type UnfinishedBatchJob, type BatchJobSpec, type BatchJobDeps, type BatchProgress, type BatchSummary, type OnError } from './batch-job.js';
export { FeatureMapping, type MappedRows, type RowError } from './mapping.js';
export { Scorer, planPredictions, type PredictionColumn, type ModelArtifacts } from './scorer.js';
export { OUTPUT_FORMATS, outputFormatOf, type OutputColumn, type OutputFormat, type RejectedRow } from './sink.js';
export { IF_EXISTS, ROW_COLUMN, OUTPUTS_TABLE, TableTarget, isTableOutput, parseTableOutput, checkTableOutput, loadTableOutput, type IfExists, type TableDelivery, type TableOutputPlan, type TableLoadOptions } from './table-sink.js';
export {
  INPUT_FORMATS, SOURCE_FORMATS, TableSource, inputFormatOf, inputRecordOf, openSource, parseInput,
  type Cell, type CellKind, type ChunkOptions, type ColumnChunk, type InputFormat, type InputLocation, type InputSpec, type OpenSourceOptions,
  type RowSource, type SourceColumn, type SourceFormat, type SourceSpec,
} from './source.js';
export type { DownloadProgress } from './download.js';
export { ExplainJobRunner, type ExplainJobRunnerOptions } from './explain-jobs.js';
export { JobStore, JOB_STATES, FINISHED_JOB_STATES, jobNotFound, type ExplainJobRecord, type JobRecord, type JobState, type JobProgress, type JobLogLine, type JobListOptions } from './store.js';
export { JobRunner, jobArguments, jobPriority, type JobPriority, type JobRunnerOptions, type JobChildMessage } from './runner.js';
export { parseJobRequest, confineJobPaths, isUrl, type JobRequest } from './job-request.js';
export { JobService, type JobServiceOptions, type SubmitOptions } from './service.js';
export { runStream, parseNatsAddress, subjectMatches, defaultDurableName, STREAM_FORMATS, type NatsAddress, type StreamDeps, type StreamFormat, type StreamRun, type StreamSpec, type StreamStats, type StreamSummary } from './stream.js';
export { CRON_FIELDS, CRON_MACROS, CronSchedule, MISSED_POLICIES, dueRuns, parseCron, type CronField, type CronOptions, type DueRuns, type DueRunsInput, type MissedPolicy } from './cron.js';
export { Scheduler, parseScheduleRequest, type ScheduleRecord, type ScheduleRequest, type SchedulerOptions } from './schedules.js';

/*
 * The SDK writes the server's JSON shapes again (it stands alone), so this file keeps the two in
 * step: each server record must be assignable to the SDK type that describes it. `npm test` runs
 * the type checker over the tests; a field renamed on one side fails it there. The runtime part
 * checks the same on a real answer, field by field.
 */
import { describe, expect, it } from 'vitest';
import type * as Sdk from 'berth/sdk';
import type { AliasDeleteResult, DeploymentDeleteResult, DeploymentList, DeploymentView, ModelList, VersionList } from '../../src/protocol/index.js';
import type { AliasMoveResult, DeployResult, DeploymentRecord, ModelRecord, RegisterVersionResult, VersionRecord } from '../../src/registry/index.js';
import type { RolloutRecord, StartRolloutRequest } from '../../src/rollout/index.js';
import type { ModelStatisticsView } from '../../src/serving/index.js';
import type { ExplainJobRecord, JobRecord, JobRequest } from '../../src/jobs/index.js';
import type { ExplainResult, PermutationImportanceResult } from '../../src/explain/index.js';
import type {
  DatasetFingerprint, DatasetLineage, PipelineRecord, PipelineSpec, RunListOptions, RunLogLine, RunMetric, RunRecord, RunState, RunTrigger, StepRecord, StepState, VersionLineage,
} from '../../src/pipelines/index.js';

/** Compiles only when `From` can be used where `To` is expected. */
type Fits<From, To> = [From] extends [To] ? true : false;
/** Compiles only when the two are the same set (a state added on one side fails it). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const fits = <T extends true>(): T => true as T;

describe('SDK types describe what the server answers', () => {
  it('management records', () => {
    expect(fits<Fits<ModelRecord, Sdk.ModelRecord>>()).toBe(true);
    expect(fits<Fits<VersionRecord, Sdk.VersionRecord>>()).toBe(true);
    expect(fits<Fits<ModelList, Sdk.ModelList>>()).toBe(true);
    expect(fits<Fits<VersionList, Sdk.VersionList>>()).toBe(true);
    expect(fits<Fits<RegisterVersionResult, Sdk.RegisterResult>>()).toBe(true);
    expect(fits<Fits<AliasMoveResult, Sdk.AliasMoveResult>>()).toBe(true);
    expect(fits<Fits<AliasDeleteResult, Sdk.AliasDeleteResult>>()).toBe(true);
    expect(fits<Fits<DeploymentRecord, Sdk.DeploymentRecord>>()).toBe(true);
    expect(fits<Fits<DeploymentView, Sdk.DeploymentView>>()).toBe(true);
    expect(fits<Fits<DeploymentList, Sdk.DeploymentList>>()).toBe(true);
    expect(fits<Fits<DeployResult, Sdk.DeployResult>>()).toBe(true);
    expect(fits<Fits<DeploymentDeleteResult, Sdk.DeploymentDeleteResult>>()).toBe(true);
    expect(fits<Fits<RolloutRecord, Sdk.RolloutRecord>>()).toBe(true);
    expect(fits<Fits<JobRecord, Sdk.JobRecord>>()).toBe(true);
    expect(fits<Fits<ExplainResult & { deployment: string }, Sdk.ExplainResult>>()).toBe(true);
    expect(fits<Fits<PermutationImportanceResult & { deployment: string }, Sdk.ImportanceResult>>()).toBe(true);
    expect(fits<Fits<ExplainJobRecord, Sdk.ExplainJob>>()).toBe(true);
    // what the SDK sends must be what the server takes
    expect(fits<Fits<Sdk.StartRolloutRequest, StartRolloutRequest>>()).toBe(true);
    expect(fits<Fits<Sdk.JobRequest, JobRequest>>()).toBe(true);
  });

  it('pipelines, runs and lineage', () => {
    type Run = Omit<RunRecord, 'spec'>;
    expect(fits<Fits<PipelineRecord, Sdk.PipelineRecord>>()).toBe(true);
    expect(fits<Fits<PipelineSpec, Sdk.PipelineSpecView>>()).toBe(true);
    expect(fits<Fits<{ pipeline: PipelineRecord; created: boolean; changed: boolean }, Sdk.PipelinePutResult>>()).toBe(true);
    expect(fits<Fits<{ pipelines: PipelineRecord[] }, Sdk.PipelineList>>()).toBe(true);
    // listed, started and cancelled runs come without their spec; GET /v1/runs/{id} has it, with metrics and datasets
    expect(fits<Fits<Run, Sdk.RunRecord>>()).toBe(true);
    expect(fits<Fits<{ runs: Run[] }, Sdk.RunList>>()).toBe(true);
    expect(fits<Fits<RunRecord & { metrics: RunMetric[]; datasets: (DatasetFingerprint & { step: string })[] }, Sdk.RunDetail>>()).toBe(true);
    expect(fits<Fits<StepRecord, Sdk.StepRecord>>()).toBe(true);
    expect(fits<Fits<RunMetric, Sdk.RunMetric>>()).toBe(true);
    expect(fits<Fits<RunLogLine, Sdk.RunLogLine>>()).toBe(true);
    expect(fits<Fits<{ run: number; state: RunState; lines: RunLogLine[]; next: number }, Sdk.RunLogs>>()).toBe(true);
    expect(fits<Fits<DatasetFingerprint, Sdk.DatasetFingerprint>>()).toBe(true);
    expect(fits<Fits<RunTrigger, Sdk.RunTrigger>>()).toBe(true);
    expect(fits<Fits<VersionLineage, Sdk.VersionLineage>>()).toBe(true);
    expect(fits<Fits<DatasetLineage, Sdk.DatasetLineage>>()).toBe(true);
    expect(fits<Same<RunState, Sdk.RunState>>()).toBe(true);
    expect(fits<Same<StepState, Sdk.StepState>>()).toBe(true);
    expect(fits<Same<RunTrigger['kind'], Sdk.RunTrigger['kind']>>()).toBe(true);
    // what the SDK sends must be what the server takes
    expect(fits<Fits<Sdk.RunFilter, RunListOptions>>()).toBe(true);
  });

  it('statistics: the same numbers, camel-cased', () => {
    type Numbers<T> = { [K in keyof T]: T[K] extends object ? Numbers<T[K]> : T[K] };
    expect(fits<Fits<Numbers<Omit<ModelStatisticsView, 'model'>>, Sdk.ModelStatistics>>()).toBe(true);
  });
});

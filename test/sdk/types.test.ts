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

/** Compiles only when `From` can be used where `To` is expected. */
type Fits<From, To> = [From] extends [To] ? true : false;
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

  it('statistics: the same numbers, camel-cased', () => {
    type Numbers<T> = { [K in keyof T]: T[K] extends object ? Numbers<T[K]> : T[K] };
    expect(fits<Fits<Numbers<Omit<ModelStatisticsView, 'model'>>, Sdk.ModelStatistics>>()).toBe(true);
  });
});

/**
 * Lineage both ways: from a model version to the run, code, data, params and parent that produced
 * it; from a dataset fingerprint to the runs that read it and the versions they registered.
 */
import type { ModelRef } from '../core/index.js';
import type { Registry } from '../registry/index.js';
import { briefRun, normalizeSha, type RunMetric, type RunRecord, type RunStore } from './store.js';

export interface VersionLineage {
  model: string;
  version: number;
  sha256: string;
  registeredAt: string;
  /** what the registry holds: pipeline, pipelineRun, gitCommit, datasets, params, parent… */
  lineage: Record<string, unknown>;
  /** the run that registered it, when it is in this registry */
  run: (Omit<RunRecord, 'spec'> & { metrics: RunMetric[] }) | null;
}

export interface DatasetLineage {
  dataset: string;
  runs: { run: number; step: string; path: string; sha256: string }[];
  versions: { model: string; version: number; runs: number[] }[];
}

export async function versionLineage(registry: Registry, store: RunStore, ref: ModelRef): Promise<VersionLineage> {
  const v = await registry.resolve(ref);
  const runId = typeof v.lineage['pipelineRun'] === 'number' ? (v.lineage['pipelineRun'] as number) : null;
  const run = runId !== null ? await store.getRun(runId).catch(() => null) : null;
  const runView: VersionLineage['run'] = run ? { ...briefRun(run), metrics: await store.metrics(run.id) } : null;
  return { model: v.model, version: v.version, sha256: v.sha256, registeredAt: v.createdAt, lineage: v.lineage, run: runView };
}

export async function datasetLineage(store: RunStore, sha256: string): Promise<DatasetLineage> {
  const uses = await store.runsForDataset(sha256);
  const versions = new Map<string, { model: string; version: number; runs: number[] }>();
  for (const id of [...new Set(uses.map((u) => u.run))]) {
    const r = await store.getRun(id).catch(() => null);
    if (r?.result?.version === undefined || r.result.model === undefined) continue;
    const key = `${r.result.model}@${r.result.version}`;
    const entry = versions.get(key) ?? { model: r.result.model, version: r.result.version, runs: [] };
    entry.runs.push(id);
    versions.set(key, entry);
  }
  return { dataset: normalizeSha(sha256), runs: uses, versions: [...versions.values()] };
}

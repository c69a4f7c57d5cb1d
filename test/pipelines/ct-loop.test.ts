/*
 * The continuous-training loop end to end, on a real server with the credit fixture:
 *   drifted traffic through the live server → the drift alert fires → the alert starts the stored
 *   pipeline → the real training script (examples/credit-training/train.py, Debian's Python and
 *   scikit-learn) retrains → the candidate is evaluated and compared with production → registered
 *   with its lineage → rolled out by canary, which promotes on live traffic.
 * A second run asked for a deliberately worse model is stopped by the compare gate: nothing is
 * registered and nothing is rolled out.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { fingerprint, type RunMetric, type RunRecord } from '../../src/pipelines/index.js';
import type { RolloutStatus } from '../../src/rollout/index.js';
import { ROOT } from '../helpers/dist.js';
import { fixturePath } from '../helpers/fixtures.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

const PYTHON = '/usr/bin/python3';
function pythonReady(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import sklearn, numpy, pandas, onnx'], { stdio: 'pipe' });
    return null;
  } catch {
    return `${PYTHON} lacks scikit-learn, numpy, pandas or onnx (apt-get install python3-sklearn python3-pandas python3-onnx); .ci/run installs them`;
  }
}
const missing = pythonReady();
if (missing) console.warn(`skipping the continuous-training loop: ${missing}`);

const EXAMPLE = path.join(ROOT, 'examples', 'credit-training');
const MIN = 60_000;
let ts: TestServer;
let clock: ManualClock;

/** The example pipeline with this machine's data files and a quick canary (the rollout clock is driven by the test). */
function pipelineSource(): string {
  const text = readFileSync(path.join(EXAMPLE, 'berth.pipeline.yaml'), 'utf8');
  const replaced = text
    .replace('train_data: data/train.csv', `train_data: ${fixturePath('credit', 'reference.csv')}`)
    .replace('holdout: data/holdout.csv', `holdout: ${fixturePath('credit', 'current_covariate_drift.csv')}`)
    .replace(
      'with: { deployment: "${params.deployment}", strategy: canary, steps: "10,50,100", interval: 30s }',
      'with: { deployment: "${params.deployment}", strategy: canary, steps: "50", interval: 10m, analysis: { minSamples: 20, metrics: [{ metric: error_rate, max: 0.01 }, { metric: latency_p99, max: 5000 }] } }',
    );
  expect(replaced).not.toBe(text);
  expect(replaced).toContain('steps: "50"');
  return replaced;
}

interface Csv {
  header: string[];
  rows: string[][];
}
function readCsv(file: string): Csv {
  const lines = readFileSync(fixturePath('credit', file), 'utf8').trim().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

/** Send rows to the friendly endpoint in requests of `per` rows (the label column left out). */
async function sendTraffic(csv: Csv, count: number, per: number): Promise<void> {
  const numeric = new Set(['home_ownership', 'loan_purpose', 'region']);
  for (let i = 0; i < count; i += per) {
    const rows = csv.rows.slice(i, i + per).map((r) => {
      const o: Record<string, number | string | null> = {};
      csv.header.forEach((h, j) => {
        if (h === 'label') return;
        o[h] = r[j] === '' ? null : numeric.has(h) ? r[j]! : Number(r[j]);
      });
      return o;
    });
    const res = await post(`${ts.url}/v1/deployments/credit/predict`, { rows });
    expect(res.status, res.text).toBe(200);
  }
}

async function waitForRun(id: number, ms = 90_000): Promise<RunRecord & { metrics: RunMetric[] }> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await get<RunRecord & { metrics: RunMetric[] }>(`${ts.url}/v1/runs/${id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(r.body.state)) return r.body;
    if (Date.now() > end) throw new Error(`run ${id} still ${r.body.state}: ${JSON.stringify(r.body.steps)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

beforeAll(async () => {
  if (missing) return;
  clock = new ManualClock(Date.now());
  ts = await startServer(
    {
      inferenceLog: { maxRowsPerSecond: 0 },
      alerts: { rules: [{ name: 'drift', deployment: 'credit', when: 'drift_share > 0.1', window: '1h', severity: 'warning' }], intervalMs: 3_600_000 },
    },
    { rolloutClock: clock, jobTimings: { pollMs: 200, heartbeatMs: 500, leaseMs: 10_000 } },
  );
  await deployFixture(ts, 'credit');
  const profiled = await post(`${ts.url}/v1/models/credit/versions/1/profile`, {
    reference_base64: readFileSync(fixturePath('credit', 'reference.csv')).toString('base64'),
    reference_file_name: 'reference.csv',
  });
  expect(profiled.status, profiled.text).toBe(201);
  await ts.server.registry.setAlias('credit', 'production', 1);
  const stored = await post<{ created: boolean; pipeline: { name: string; spec: { triggers: { kind: string }[] } } }>(`${ts.url}/v1/pipelines`, { source: pipelineSource(), workdir: EXAMPLE });
  expect(stored.status, stored.text).toBe(201);
  expect(stored.body.pipeline.spec.triggers.map((t) => t.kind)).toEqual(['alert', 'feedback', 'schedule']);
}, 60_000);

afterAll(async () => {
  await ts?.close();
});

describe.skipIf(missing !== null)('continuous training on credit', () => {
  let first: RunRecord & { metrics: RunMetric[] };

  it('drifted traffic raises the drift alert, which starts the pipeline; the retrained candidate passes the gate, is registered with lineage and rolled out by canary', async () => {
    await sendTraffic(readCsv('current_covariate_drift.csv'), 2000, 50);
    await ts.server.alerts.evaluateNow();
    const alerts = await get<{ alerts: { rule: string; state: string; value: number }[] }>(`${ts.url}/v1/alerts`);
    expect(alerts.body.alerts.find((a) => a.rule === 'drift')).toMatchObject({ state: 'firing' });

    // the alert's listener queues the run as the event is dispatched
    let runs = await get<{ runs: RunRecord[] }>(`${ts.url}/v1/runs?pipeline=credit-retrain`);
    for (let i = 0; i < 100 && runs.body.runs.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      runs = await get<{ runs: RunRecord[] }>(`${ts.url}/v1/runs?pipeline=credit-retrain`);
    }
    expect(runs.body.runs).toHaveLength(1);
    expect(runs.body.runs[0]!.trigger).toMatchObject({ kind: 'alert', detail: { rule: 'drift', deployment: 'credit' } });
    first = await waitForRun(runs.body.runs[0]!.id);
    expect(first.state, JSON.stringify(first.steps.map((s) => [s.name, s.state, s.error]))).toBe('succeeded');
    expect(first.steps.map((s) => [s.name, s.state])).toEqual([
      ['train', 'succeeded'], ['evaluate-candidate', 'succeeded'], ['evaluate-champion', 'succeeded'], ['compare', 'succeeded'], ['register', 'succeeded'], ['rollout', 'succeeded'],
    ]);
    expect(first.result).toMatchObject({ model: 'credit', version: 2, deployment: 'credit', gate: { passed: true } });
    // the training script's per-step metrics were tracked
    const loss = first.metrics.filter((m) => m.step === 'train' && m.key === 'train_loss');
    expect(loss.length).toBeGreaterThanOrEqual(5);
    const steps = loss.map((m) => m.metricStep!);
    expect(steps.every((x, i) => i === 0 || x > steps[i - 1]!)).toBe(true);
    expect(loss.at(-1)!.value).toBeLessThan(loss[0]!.value);
    expect(first.metrics.find((m) => m.step === 'evaluate-candidate' && m.key === 'accuracy')!.value).toBeGreaterThan(0.8);

    // lineage: from the version to the run, the data and the parent; from the data to the version
    const lineage = await get<{ lineage: Record<string, unknown>; run: { id: number } }>(`${ts.url}/v1/lineage/models/credit/2`);
    const reference = await fingerprint(fixturePath('credit', 'reference.csv'), 'reference');
    expect(lineage.body.run.id).toBe(first.id);
    expect(lineage.body.lineage).toMatchObject({
      pipeline: 'credit-retrain', pipelineRun: first.id, parent: 'credit@1',
      datasets: [{ path: fixturePath('credit', 'reference.csv'), sha256: reference.sha256 }],
      params: { seed: 0, degrade: false },
    });
    const byData = await get<{ versions: { model: string; version: number; runs: number[] }[] }>(`${ts.url}/v1/lineage/datasets/${reference.sha256.slice(0, 16)}`);
    expect(byData.body.versions).toEqual([{ model: 'credit', version: 2, runs: [first.id] }]);
    // the candidate got the reference data too, so it is monitored like the champion
    const v2 = await get<{ reference: { rows: number } | null; aliases?: string[] }>(`${ts.url}/v1/models/credit/versions/2`);
    expect(v2.body.reference?.rows).toBe(20_000);

    // the canary: half of the traffic, judged on it, then promoted
    let status = (await get<RolloutStatus>(`${ts.url}/v1/deployments/credit/rollout`)).body;
    expect(status.rollout).toMatchObject({ id: first.result!.rollout, fromVersion: 1, toVersion: 2, strategy: 'canary', state: 'progressing' });
    await sendTraffic(readCsv('current_nodrift.csv'), 400, 4);
    clock.advance(10 * MIN);
    await ts.server.rollouts.settle();
    status = (await get<RolloutStatus>(`${ts.url}/v1/deployments/credit/rollout`)).body;
    expect(status.rollout.state, JSON.stringify(status.decisions.at(-1))).toBe('promoted');
    expect((await ts.server.registry.getDeployment('credit')).target).toEqual({ kind: 'version', version: 2 });
  }, 120_000);

  it('a deliberately worse candidate is stopped by the compare gate: nothing registered, nothing rolled out', async () => {
    const rolloutsBefore = (await ts.server.rollouts.list('credit')).length;
    const started = await post<RunRecord>(`${ts.url}/v1/pipelines/credit-retrain/runs`, { params: { degrade: 'true' }, trigger: { kind: 'git', commit: 'abc123' } });
    expect(started.status, started.text).toBe(202);
    const run = await waitForRun(started.body.id);
    expect(run.state).toBe('failed');
    expect(run.error).toMatchObject({ code: 'GATE_FAILED' });
    expect(run.trigger).toEqual({ kind: 'git', detail: { commit: 'abc123' } });
    expect(Object.fromEntries(run.steps.map((s) => [s.name, s.state]))).toMatchObject({ train: 'succeeded', compare: 'failed', register: 'skipped', rollout: 'skipped' });
    expect(run.result?.gate?.passed).toBe(false);
    expect(run.result?.gate?.reasons.join(' ')).toMatch(/accuracy|roc_auc/);
    expect((await ts.server.registry.listVersions('credit')).map((v) => v.version)).toEqual([1, 2]);
    expect((await ts.server.rollouts.list('credit')).length).toBe(rolloutsBefore);
    const logs = await get<{ lines: { step: string; line: string }[] }>(`${ts.url}/v1/runs/${run.id}/logs?step=compare`);
    expect(logs.body.lines.some((l) => l.line.startsWith('FAIL'))).toBe(true);
  }, 120_000);

  it('the same alert firing again within the cooldown starts no second run', async () => {
    const before = (await get<{ runs: RunRecord[] }>(`${ts.url}/v1/runs?pipeline=credit-retrain`)).body.runs.length;
    await ts.server.pipelines.onAlert({ id: 999_999, rule: 'drift', deployment: 'credit', kind: 'firing', value: 0.5, message: 'again' });
    expect((await get<{ runs: RunRecord[] }>(`${ts.url}/v1/runs?pipeline=credit-retrain`)).body.runs.length).toBe(before);
  });
});

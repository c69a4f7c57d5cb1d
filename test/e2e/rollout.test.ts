/**
 * Progressive rollouts through a real server with real models, steps timed by a ManualClock: a
 * good canary is promoted by analysis, a bad one rolled back automatically, gates block a version
 * before any traffic, shadow and preview phases, the no-data policy, and a restart mid-rollout that
 * resumes the same step with the same weights and a fresh analysis.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import type { AnalysisResult, RolloutRecord, RolloutStatus } from '../../src/rollout/index.js';
import { fixturePath, heldoutRowBody } from '../helpers/fixtures.js';
import { brokenModel, patchFloatInitializer } from '../helpers/onnx-proto.js';
import { post, registerVersion, startServer, type TestServer } from '../helpers/server.js';

const MODEL = 'bc';
const MIN = 60_000;
let dataDir: string;
let ts: TestServer;
let clock: ManualClock;
let logreg: number;
let gbt: number;
let bad: number;
let broken: number;


const rowBody = heldoutRowBody;

async function traffic(deployment: string, n: number, route = 'infer'): Promise<Map<string, number>> {
  const byVersion = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const res = await post(`${ts.url}/v2/models/${deployment}/${route}`, rowBody(i));
        expect(res.status).toBe(200);
        const v = res.headers.get('x-berth-version')!;
        byVersion.set(v, (byVersion.get(v) ?? 0) + 1);
      }
    }),
  );
  return byVersion;
}

async function deploy(name: string, version: number): Promise<void> {
  await ts.server.registry.deploy({ name, model: MODEL, target: { kind: 'version', version } });
  await ts.server.service.refresh();
}

async function start(deployment: string, body: Record<string, unknown>): Promise<{ status: number; body: RolloutRecord & { error?: string; code?: string; field?: string } }> {
  const res = await post<RolloutRecord & { error?: string; code?: string; field?: string }>(`${ts.url}/v1/deployments/${deployment}/rollout`, body, { 'x-berth-actor': 'alice' });
  return { status: res.status, body: res.body };
}

async function status(deployment: string): Promise<RolloutStatus> {
  const res = await fetch(`${ts.url}/v1/deployments/${deployment}/rollout`);
  expect(res.status).toBe(200);
  return (await res.json()) as RolloutStatus;
}

/** Let a step's interval pass and wait for the controller to act on it. */
async function elapse(ms: number): Promise<void> {
  clock.advance(ms);
  await ts.server.rollouts.settle();
}

/** Analysis thresholds for tests: model behaviour and errors, latency bounded loosely (this machine is noisy). */
const ANALYSIS = {
  minSamples: 40,
  failureLimit: 2,
  metrics: [
    { metric: 'error_rate', max: 0.01 },
    { metric: 'latency_p99', max: 5000 },
    { metric: 'prediction_drift', max: 0.1 },
    { metric: 'shadow_agreement', min: 0.9 },
  ],
};

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'berth-rollout-'));
  clock = new ManualClock(Date.now());
  ts = await startServer({ inferenceLog: { maxRowsPerSecond: 0 } }, { dataDir, rolloutClock: clock });
  logreg = await registerVersion(ts, MODEL, { fixture: 'breast-cancer-logreg' });
  gbt = await registerVersion(ts, MODEL, { fixture: 'breast-cancer-gbt' });
  // the same logistic regression with its intercept pushed far up: "benign" for nearly every input
  const shifted = patchFloatInitializer(new Uint8Array(readFileSync(fixturePath('breast-cancer-logreg'))), 'intercept', [60]);
  bad = await registerVersion(ts, MODEL, { bytes: shifted, file: 'shifted.onnx', cardOf: 'breast-cancer-logreg' });
  broken = await registerVersion(ts, MODEL, { bytes: brokenModel(31), file: 'broken.onnx' });
}, 60_000);

afterAll(async () => {
  await ts?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('canary', () => {
  it('promotes a good canary step by step on passing analyses, then rolls back on request', async () => {
    await deploy('good', logreg);
    const started = await start('good', { toVersion: gbt, steps: '10,50', interval: '10m', analysis: ANALYSIS });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body.state).toBe('progressing');
    expect(started.body.actor).toBe('alice');
    expect((await ts.server.registry.getDeployment('good')).traffic?.split).toEqual([{ version: gbt, percent: 10 }]);

    const first = await traffic('good', 500);
    expect(first.get(`${MODEL}@${gbt}`)).toBe(50);
    // before the interval is over nothing moves
    await elapse(9 * MIN);
    expect((await status('good')).rollout.step).toBe(0);
    await elapse(1 * MIN);
    let s = await status('good');
    expect(s.rollout.step).toBe(1);
    expect(s.rollout.currentStep).toEqual({ kind: 'weight', percent: 50 });
    const advance = s.decisions.find((d) => d.kind === 'advance')!;
    const analysis = advance.details['analysis'] as AnalysisResult;
    expect(analysis.verdict).toBe('pass');
    expect(analysis.samples).toEqual({ candidate: 50, stable: 450, minSamples: 40 });
    const drift = analysis.checks.find((c) => c.metric === 'prediction_drift')!;
    expect(drift.outcome).toBe('pass');
    expect(drift.candidate!).toBeLessThan(0.1);

    const second = await traffic('good', 200);
    expect(second.get(`${MODEL}@${gbt}`)).toBe(100);
    await elapse(10 * MIN);
    s = await status('good');
    expect(s.rollout.state, JSON.stringify(s.decisions.at(-1))).toBe('promoted');
    expect(s.decisions.map((d) => d.kind)).toEqual(['start', 'advance', 'promote']);
    const d = await ts.server.registry.getDeployment('good');
    expect(d.target).toEqual({ kind: 'version', version: gbt });
    expect(d.traffic?.fallback).toBe(logreg);
    // the old version stays loaded for an instant switch back
    expect(ts.server.manager.stateOf(`${MODEL}@${logreg}`)).toBe('ready');
    expect((await traffic('good', 20)).get(`${MODEL}@${gbt}`)).toBe(20);
    const audit = (await ts.server.registry.audit({ target: 'deployment:good' })).map((e) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['rollout.start', 'rollout.step', 'rollout.promote']));

    const rb = await post<{ rollout: RolloutRecord; deployment: { target: unknown } }>(`${ts.url}/v1/deployments/good/rollout/rollback`, {});
    expect(rb.status).toBe(200);
    expect(rb.body.rollout.state).toBe('rolled-back');
    expect(rb.body.deployment.target).toEqual({ kind: 'version', version: logreg });
    expect((await traffic('good', 20)).get(`${MODEL}@${logreg}`)).toBe(20);
  }, 120_000);

  it('rolls a bad canary back automatically, and never promotes after a failed analysis', async () => {
    await deploy('bad', logreg);
    const started = await start('bad', { toVersion: bad, steps: '20,100', interval: '5m', analysis: ANALYSIS });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    await traffic('bad', 300);
    await elapse(5 * MIN);
    let s = await status('bad');
    expect(s.rollout.state).toBe('progressing');
    expect(s.rollout.failures).toBe(1);
    const failed = s.decisions.at(-1)!;
    expect(failed.verdict).toBe('fail');
    const drift = (failed.details['analysis'] as AnalysisResult).checks.find((c) => c.metric === 'prediction_drift')!;
    expect(drift.outcome).toBe('fail');
    expect(drift.candidate!).toBeGreaterThan(0.3);
    // a failed analysis cannot be followed by a promotion
    const promote = await post<{ code: string; error: string }>(`${ts.url}/v1/deployments/bad/rollout/promote`, {});
    expect(promote.status).toBe(409);
    expect(promote.body.code).toBe('ROLLOUT_STATE');
    expect(promote.body.error).toContain('last analysis failed');

    await traffic('bad', 300);
    await elapse(5 * MIN);
    s = await status('bad');
    expect(s.rollout.state).toBe('failed');
    expect(s.rollout.reason).toContain('prediction_drift');
    expect((await ts.server.registry.getDeployment('bad')).traffic).toBeNull();
    expect((await traffic('bad', 50)).get(`${MODEL}@${logreg}`)).toBe(50);
    const again = await post(`${ts.url}/v1/deployments/bad/rollout/promote`, {});
    expect(again.status).toBe(409);
  }, 120_000);

  it('follows the no-data policy: pause (then resume), or fail', async () => {
    await deploy('quiet', logreg);
    expect((await start('quiet', { toVersion: gbt, steps: '10,100', interval: '1m', analysis: ANALYSIS })).status).toBe(201);
    await elapse(1 * MIN);
    let s = await status('quiet');
    expect(s.rollout.state).toBe('paused');
    expect(s.rollout.reason).toContain('received no requests');
    expect(s.decisions.at(-1)!.verdict).toBe('no-data');
    // paused: time passes, nothing happens
    await elapse(30 * MIN);
    expect((await status('quiet')).rollout.state).toBe('paused');
    const resumed = await post<RolloutRecord>(`${ts.url}/v1/deployments/quiet/rollout/resume`, {});
    expect(resumed.body.state).toBe('progressing');
    const aborted = await post<RolloutRecord>(`${ts.url}/v1/deployments/quiet/rollout/abort`, { reason: 'changed my mind' });
    expect(aborted.body.state).toBe('aborted');
    expect((await ts.server.registry.getDeployment('quiet')).traffic).toBeNull();

    expect((await start('quiet', { toVersion: gbt, steps: '10,100', interval: '1m', noData: 'fail', analysis: { ...ANALYSIS, failureLimit: 1 } })).status).toBe(201);
    await elapse(1 * MIN);
    s = await status('quiet');
    expect(s.rollout.state).toBe('failed');
  }, 60_000);
});

describe('a deployment held by its rollout', () => {
  it('refuses changes by hand while the rollout holds it, naming the way out', async () => {
    await deploy('held', logreg);
    expect((await start('held', { toVersion: gbt, steps: '10,100', interval: '1m', analysis: ANALYSIS })).status).toBe(201);
    const before = await ts.server.registry.getDeployment('held');
    const put = await fetch(`${ts.url}/v1/deployments/held`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, version: bad }) });
    expect(put.status).toBe(409);
    const err = (await put.json()) as { code: string; error: string };
    expect(err.code).toBe('ROLLOUT_STATE');
    expect(err.error).toContain('berth rollout abort held');
    expect((await fetch(`${ts.url}/v1/deployments/held`, { method: 'DELETE' })).status).toBe(409);
    expect((await post(`${ts.url}/v1/deployments/held/rollback`, {})).status).toBe(409);
    expect(await ts.server.registry.getDeployment('held')).toEqual(before);
    // once the rollout ends, the deployment is the person's again
    await post(`${ts.url}/v1/deployments/held/rollout/abort`, {});
    expect((await fetch(`${ts.url}/v1/deployments/held`, { method: 'DELETE' })).status).toBe(200);
  });

  it('ends the rollout as aborted when its deployment disappears anyway (out of band), saying why', async () => {
    await deploy('doomed', logreg);
    expect((await start('doomed', { toVersion: gbt, steps: '10,100', interval: '1m', analysis: ANALYSIS })).status).toBe(201);
    await ts.server.registry.deleteDeployment('doomed');
    await elapse(1 * MIN);
    const [r] = await ts.server.rollouts.list('doomed');
    expect(r!.state).toBe('aborted');
    expect(r!.reason).toBe('deployment "doomed" was deleted');
  });
});

describe('accuracy on feedback', () => {
  it('rolls back a canary whose accuracy on labelled feedback drops below the stable version', async () => {
    await deploy('labelled', logreg);
    const r = await start('labelled', {
      toVersion: bad,
      steps: '50,100',
      interval: '10m',
      analysis: { minSamples: 40, minLabels: 40, failureLimit: 1, metrics: [{ metric: 'accuracy', maxDecrease: 0.05, required: true }] },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    // held-out rows with their true labels (current_nodrift.csv), sent one per request, labelled later
    const lines = readFileSync(fixturePath('breast-cancer-logreg', 'current_nodrift.csv'), 'utf8').trim().split('\n');
    const header = lines[0]!.split(',');
    const li = header.indexOf('label');
    const items: { request_id: string; label: number }[] = [];
    for (let i = 1; i < lines.length; i++) {
      const cells = lines[i]!.split(',').map(Number);
      const data = cells.filter((_, j) => j !== li);
      const id = `acc-${i}`;
      const res = await post(`${ts.url}/v2/models/labelled/infer`, { id, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data }] });
      expect(res.status).toBe(200);
      items.push({ request_id: id, label: cells[li]! });
    }
    const fb = await post(`${ts.url}/v1/deployments/labelled/feedback`, { items });
    expect(fb.status, JSON.stringify(fb.body)).toBe(200);
    await elapse(10 * MIN);
    const s = await status('labelled');
    expect(s.rollout.state).toBe('failed');
    const a = s.decisions.at(-1)!.details['analysis'] as AnalysisResult;
    const acc = a.checks.find((c) => c.metric === 'accuracy')!;
    expect(acc.outcome).toBe('fail');
    // the stable logistic regression on these rows: close to its card's 0.9789 on the whole file
    expect(acc.stable!).toBeGreaterThan(0.95);
    expect(acc.candidate!).toBeLessThan(0.7);
    expect(s.rollout.reason).toContain('accuracy');
  }, 120_000);
});

describe('gates', () => {
  it('blocks a version whose accuracy on the evaluation set is below the threshold; it gets no traffic', async () => {
    await deploy('gated', logreg);
    const r = await start('gated', {
      toVersion: bad,
      gates: { evaluation: { dataset: fixturePath('breast-cancer-logreg', 'current_nodrift.csv'), metrics: [{ name: 'accuracy', min: 0.9 }] } },
    });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('GATE_FAILED');
    expect(r.body.error).toMatch(/accuracy 0\.\d+ .* below the minimum 0\.9/);
    expect((await ts.server.registry.getDeployment('gated')).traffic).toBeNull();
    const s = await status('gated');
    expect(s.rollout.state).toBe('blocked');
    expect(s.decisions[0]!.kind).toBe('gates');
    // the good version passes the same gate (its card says 0.9439 on that file)
    const ok = await start('gated', {
      toVersion: gbt,
      gates: { evaluation: { dataset: fixturePath('breast-cancer-gbt', 'current_nodrift.csv'), metrics: [{ name: 'accuracy', min: 0.9 }] } },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    await post(`${ts.url}/v1/deployments/gated/rollout/abort`, {});
  }, 60_000);

  it('refuses a breaking signature change unless it is allowed explicitly', async () => {
    await deploy('sig', logreg);
    const r = await start('sig', { toVersion: broken });
    expect(r.status).toBe(422);
    expect(r.body.error).toContain('signature');
    const allowed = await start('sig', { toVersion: broken, allowBreaking: true });
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(201);
    await post(`${ts.url}/v1/deployments/sig/rollout/abort`, {});
  }, 60_000);

  it('names the field of a bad rollout request', async () => {
    await deploy('badreq', logreg);
    const cases: [Record<string, unknown>, string][] = [
      [{ toVersion: gbt, steps: '50,10' }, 'steps'],
      [{ toVersion: gbt, interval: 'soon' }, 'interval'],
      [{ toVersion: gbt, strategy: 'yolo' }, 'strategy'],
      [{ toVersion: gbt, analysis: { noData: 'maybe' } }, 'analysis.noData'],
      [{ toVersion: 'two' }, 'toVersion'],
      [{ toVersion: gbt, colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of cases) {
      const r = await start('badreq', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.field).toBe(field);
    }
    const missing = await start('badreq', { toVersion: 99 });
    expect(missing.status).toBe(404);
    expect(await ts.server.rollouts.list('badreq')).toEqual([]);
  });
});

describe('shadow and blue-green phases', () => {
  it('judges a shadow phase by agreement with the primary, then moves to live weights', async () => {
    await deploy('shadowed', logreg);
    expect((await start('shadowed', { toVersion: gbt, steps: 'shadow,50', interval: '2m', analysis: ANALYSIS })).status).toBe(201);
    const seen = await traffic('shadowed', 100);
    expect(seen.get(`${MODEL}@${logreg}`)).toBe(100); // the shadow never answers
    const shadowCopies = (): number => ts.server.rolloutStats.window('shadowed')?.shadows.get(gbt)?.copies ?? 0;
    const end = Date.now() + 10_000;
    while (shadowCopies() < 100 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await elapse(2 * MIN);
    const s = await status('shadowed');
    expect(s.rollout.currentStep).toEqual({ kind: 'weight', percent: 50 });
    const a = s.decisions.find((d) => d.kind === 'advance')!.details['analysis'] as AnalysisResult;
    expect(a.mode).toBe('shadow');
    const agreement = a.checks.find((c) => c.metric === 'shadow_agreement')!;
    expect(agreement.outcome).toBe('pass');
    expect(agreement.candidate!).toBeGreaterThan(0.9);
    await post(`${ts.url}/v1/deployments/shadowed/rollout/abort`, {});
  }, 60_000);

  it('blue-green: preview route first, then one atomic switch with the old version kept warm', async () => {
    await deploy('bluegreen', logreg);
    expect((await start('bluegreen', { toVersion: gbt, strategy: 'blue-green', interval: '5m', keepOld: '1h', analysis: ANALYSIS })).status).toBe(201);
    expect((await traffic('bluegreen', 50)).get(`${MODEL}@${logreg}`)).toBe(50);
    expect((await traffic('bluegreen', 50, 'preview/infer')).get(`${MODEL}@${gbt}`)).toBe(50);
    await elapse(5 * MIN);
    const s = await status('bluegreen');
    expect(s.rollout.state).toBe('promoted');
    expect((await traffic('bluegreen', 30)).get(`${MODEL}@${gbt}`)).toBe(30);
    expect(ts.server.manager.stateOf(`${MODEL}@${logreg}`)).toBe('ready');
    const d = await ts.server.registry.getDeployment('bluegreen');
    expect(d.traffic?.fallbackWarmUntil).toBeGreaterThan(Date.now() + 50 * MIN);
  }, 60_000);
});

describe('restart mid-rollout', () => {
  it('resumes the same step with the same weights and a fresh analysis window', async () => {
    await deploy('durable', logreg);
    expect((await start('durable', { toVersion: gbt, steps: '10,30,60', interval: '10m', analysis: ANALYSIS })).status).toBe(201);
    await traffic('durable', 500);
    await elapse(10 * MIN);
    const before = await status('durable');
    expect(before.rollout.step).toBe(1);
    await ts.close();

    clock = new ManualClock(Date.now());
    ts = await startServer({ inferenceLog: { maxRowsPerSecond: 0 } }, { dataDir, rolloutClock: clock });
    const after = await status('durable');
    expect(after.rollout.state).toBe('progressing');
    expect(after.rollout.step).toBe(1);
    expect(after.decisions.at(-1)!.kind).toBe('restart');
    expect(ts.server.manager.stateOf(`${MODEL}@${gbt}`)).toBe('ready');
    expect((await traffic('durable', 100)).get(`${MODEL}@${gbt}`)).toBe(30);
    // the new window needs its full interval: nothing is skipped
    await elapse(9 * MIN);
    expect((await status('durable')).rollout.step).toBe(1);
    await traffic('durable', 100);
    await elapse(1 * MIN);
    const next = await status('durable');
    expect(next.rollout.step).toBe(2);
    expect(next.decisions.at(-1)!.kind).toBe('advance');
    await post(`${ts.url}/v1/deployments/durable/rollout/abort`, {});
  }, 120_000);
});

/*
 * `berth serve --role`: a control plane that takes no inference and two data replicas that serve
 * it, sharing one registry (here the embedded SQLite of one data dir, as processes on one machine
 * would). Each answers only its own routes (421 WRONG_ROLE naming where to go for the others), and
 * a rollout driven by the control plane is judged on the traffic the data replicas answered.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { epochOf, type AnalysisResult, type RolloutStatus } from '../../src/rollout/index.js';
import { compareToGolden, goldenTensor, heldoutRowBody, readGolden } from '../helpers/fixtures.js';
import { eventually } from '../helpers/replicas.js';
import { startServeProcess } from '../helpers/serve-process.js';
import { get, post, registerVersion, startServer, type TestServer } from '../helpers/server.js';

const MODEL = 'bc';
const MIN = 60_000;
const rowBody = heldoutRowBody;

let dataDir: string;
let control: TestServer;
let data: TestServer[];
let clock: ManualClock;
let logreg: number;
let gbt: number;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'berth-roles-'));
  clock = new ManualClock(Date.now());
  control = await startServer({ server: { role: 'control' } }, { dataDir, rolloutClock: clock, pollMs: 100 });
  logreg = await registerVersion(control, MODEL, { fixture: 'breast-cancer-logreg' });
  gbt = await registerVersion(control, MODEL, { fixture: 'breast-cancer-gbt' });
  await control.server.registry.deploy({ name: MODEL, model: MODEL, target: { kind: 'version', version: logreg } });
  data = [
    await startServer({ server: { role: 'data' } }, { dataDir, pollMs: 100 }),
    await startServer({ server: { role: 'data' } }, { dataDir, pollMs: 100 }),
  ];
}, 60_000);

afterAll(async () => {
  for (const t of data ?? []) await t.close();
  await control?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('--role data', () => {
  it('serves inference (golden outputs), model metadata, health and status', async () => {
    const golden = readGolden('breast-cancer-logreg');
    const c = golden.cases[0]!;
    const input = c.inputs['input']!;
    const res = await post<{ outputs: { name: string; data: number[] }[] }>(`${data[0]!.url}/v2/models/${MODEL}/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: input.shape, data: input.data }],
    });
    expect(res.status, res.text).toBe(200);
    for (const [name, expected] of Object.entries(c.expected)) {
      expect(compareToGolden(res.body.outputs.find((o) => o.name === name)!.data, expected, golden.tolerance[name]!)).toBeNull();
    }
    const predicted = await post(`${data[0]!.url}/v1/deployments/${MODEL}/predict`, { instances: [Array.from(goldenTensor('input', input, [0, 1]).data as Float32Array)] });
    expect(predicted.status, predicted.text).toBe(200);
    expect((await get(`${data[0]!.url}/v2/models/${MODEL}`)).status).toBe(200);
    expect((await get(`${data[0]!.url}/v2/health/ready`)).status).toBe(200);
    const status = await get<{ role: string; rolloutLeader: boolean }>(`${data[0]!.url}/v1/status`);
    expect(status.body.role).toBe('data');
    expect(status.body.rolloutLeader).toBe(false);
  });

  it('`berth serve --role data` (a real process on the same data dir) says its role, serves and refuses, and stops cleanly on SIGTERM', async () => {
    const p = await startServeProcess(dataDir, ['--role', 'data']);
    try {
      expect(p.output()).toMatch(/serving on http:\/\/127\.0\.0\.1:\d+ \(data dir .*, role data\)/);
      expect(p.output()).toContain('the management API is on the control plane');
      const res = await post(`${p.url}/v2/models/${MODEL}/infer`, rowBody(3));
      expect(res.status, res.text).toBe(200);
      expect((await get<{ code: string }>(`${p.url}/v1/models`)).body.code).toBe('WRONG_ROLE');
      expect((await get<{ role: string }>(`${p.url}/v1/status`)).body.role).toBe('data');
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exited).toBe(0);
  }, 60_000);

  it('answers 421 WRONG_ROLE to the management API, feedback and rollouts, naming the control plane', async () => {
    const d = data[0]!.url;
    for (const [method, url, body] of [
      ['GET', `${d}/v1/models`, undefined],
      ['PUT', `${d}/v1/deployments/x`, { model: MODEL, version: 1 }],
      ['POST', `${d}/v1/deployments/${MODEL}/feedback`, { labels: [] }],
      ['POST', `${d}/v1/deployments/${MODEL}/rollout`, { toVersion: 2 }],
      ['GET', `${d}/v1/deployments/${MODEL}/monitor`, undefined],
    ] as const) {
      const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const answer = (await res.json()) as { code: string; error: string };
      expect(res.status, `${method} ${url}`).toBe(421);
      expect(answer.code).toBe('WRONG_ROLE');
      expect(answer.error).toMatch(/--role data.*control plane/);
    }
    // nothing was written: the deployment x does not exist
    await expect(control.server.registry.getDeployment('x')).rejects.toMatchObject({ code: 'DEPLOYMENT_NOT_FOUND' });
  });
});

describe('--role control', () => {
  it('takes no inference (fast path and predict route alike) and loads no model ahead of traffic', async () => {
    for (const url of [`${control.url}/v2/models/${MODEL}/infer`, `${control.url}/v2/models/${MODEL}/versions/1/infer`, `${control.url}/v1/deployments/${MODEL}/predict`]) {
      const res = await post<{ code: string; error: string }>(url, rowBody(0));
      expect(res.status, url).toBe(421);
      expect(res.body.code).toBe('WRONG_ROLE');
      expect(res.body.error).toMatch(/--role control.*data replica/);
    }
    expect(control.server.manager.list()).toEqual([]);
    // the management API and model metadata are here
    expect((await get(`${control.url}/v1/models`)).status).toBe(200);
    expect((await get(`${control.url}/v2/models/${MODEL}`)).status).toBe(200);
    const status = await get<{ role: string; rolloutLeader: boolean }>(`${control.url}/v1/status`);
    expect(status.body.role).toBe('control');
    expect(status.body.rolloutLeader).toBe(true);
  });

  it('judges a rollout on the traffic every data replica answered', async () => {
    const started = await post<{ id: number }>(`${control.url}/v1/deployments/${MODEL}/rollout`, {
      toVersion: gbt,
      steps: '50,100',
      interval: '10m',
      analysis: { minSamples: 40, metrics: [{ metric: 'error_rate', max: 0.01 }, { metric: 'prediction_drift', max: 0.2 }] },
    });
    expect(started.status, started.text).toBe(201);
    const s0 = (await get<RolloutStatus>(`${control.url}/v1/deployments/${MODEL}/rollout`)).body;
    const epoch = epochOf(s0.rollout);
    // each data replica hears of the step (its poll) and starts its window of it
    for (const d of data) {
      await eventually(async () => {
        await d.server.rolloutWindows!.publish();
        return d.server.rolloutStats.window(MODEL)?.epoch === epoch && d.server.service.deploymentsWithTraffic().includes(MODEL) ? true : undefined;
      }, 5000);
    }
    // 120 requests to each data replica, none to the control plane
    const answered = new Map<string, number>();
    for (const d of data) {
      for (let i = 0; i < 120; i++) {
        const res = await post(`${d.url}/v2/models/${MODEL}/infer`, rowBody(i));
        expect(res.status).toBe(200);
        const v = res.headers.get('x-berth-version')!;
        answered.set(v, (answered.get(v) ?? 0) + 1);
      }
      await d.server.rolloutWindows!.publish();
    }
    expect(answered.get(`${MODEL}@${gbt}`)).toBe(120);
    // the control plane's live numbers are the sum of the replicas' (it answered none itself)
    const live = (await get<RolloutStatus>(`${control.url}/v1/deployments/${MODEL}/rollout`)).body.live!;
    const requests = (v: number): number => live.versions.find((x) => x.version === v)?.requests ?? 0;
    expect(requests(gbt)).toBe(120);
    expect(requests(logreg)).toBe(120);
    expect(control.server.rolloutStats.window(MODEL)?.versions.size ?? 0).toBe(0);

    clock.advance(10 * MIN);
    await control.server.rollouts.settle();
    const s = (await get<RolloutStatus>(`${control.url}/v1/deployments/${MODEL}/rollout`)).body;
    expect(s.rollout.state, JSON.stringify(s.decisions.at(-1))).toBe('promoted');
    const analysis = s.decisions.find((d) => d.kind === 'promote')!.details['analysis'] as AnalysisResult;
    expect(analysis.verdict).toBe('pass');
    expect(analysis.samples).toEqual({ candidate: 120, stable: 120, minSamples: 40 });
    // the finished step's stored windows are pruned by the leader at its next pass
    await control.server.rolloutWindows!.publish();
    expect(await control.server.registry.rolloutWindows(MODEL, epoch)).toEqual([]);
  }, 60_000);
});

/**
 * kill -9 of a real `berth serve` in the middle of a rollout, under traffic: after the restart
 * the rollout is at the same step with the same weights, its candidate loaded and warm before it
 * takes traffic, and its next analysis waits a full fresh interval.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/rollout/index.js';
import { fixturePath, goldenTensor, readGolden } from '../helpers/fixtures.js';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.js';
import { get, post } from '../helpers/server.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-rollout-crash-'));
const running: ServeProcess[] = [];
afterAll(async () => {
  for (const p of running) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

async function serve(): Promise<ServeProcess> {
  const p = await startServeProcess(dataDir);
  running.push(p);
  return p;
}

const g = readGolden('breast-cancer-logreg').cases.find((c) => c.name === 'heldout_all')!;
const one = (i: number): string => {
  const t = goldenTensor('input', g.inputs['input']!, [i % 285, (i % 285) + 1]);
  return JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] });
};

async function split(url: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/v2/models/live/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: one(i) });
    expect(res.status).toBe(200);
    const v = res.headers.get('x-berth-version')!;
    seen.set(v, (seen.get(v) ?? 0) + 1);
  }
  return seen;
}

describe('kill -9 mid-rollout', () => {
  it('resumes at the same step with the same weights, the candidate warm, the analysis not skipped', async () => {
    let p = await serve();
    for (const fixture of ['breast-cancer-logreg', 'breast-cancer-gbt']) {
      const reg = await post(`${p.url}/v1/models/bc/versions`, {
        model_base64: readFileSync(fixturePath(fixture)).toString('base64'),
        card_text: readFileSync(fixturePath(fixture, 'card.json'), 'utf8'),
        card_file_name: 'card.json',
      });
      expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    }
    const dep = await fetch(`${p.url}/v1/deployments/live`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bc', version: 1 }) });
    expect(dep.status).toBeLessThan(300);
    const started = await post(`${p.url}/v1/deployments/live/rollout`, { toVersion: 2, steps: '20,60', interval: '1h' });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect((await split(p.url, 100)).get('bc@2')).toBe(20);

    // kill it while requests are in flight
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await fetch(`${p.url}/v2/models/live/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: one(i) });
        } catch {
          return;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    p.child.kill('SIGKILL');
    stop = true;
    await load;
    await p.exited;

    p = await serve();
    const s = (await get<RolloutStatus>(`${p.url}/v1/deployments/live/rollout`)).body;
    expect(s.rollout.state).toBe('progressing');
    expect(s.rollout.step).toBe(0);
    expect(s.rollout.currentStep).toEqual({ kind: 'weight', percent: 20 });
    expect(s.decisions.map((d) => d.kind)).toEqual(['start', 'restart']);
    // a full fresh interval from the restart: the analysis is neither run early nor skipped
    expect(s.rollout.nextAtMs! - s.rollout.stepStartedAtMs).toBe(3_600_000);
    expect(s.rollout.stepStartedAtMs).toBeGreaterThan(Date.parse(s.decisions[0]!.at));
    // loaded and warm before the first request: readiness of the candidate version says so
    const ready = await fetch(`${p.url}/v2/models/live/versions/2/ready`);
    expect(ready.status).toBe(200);
    expect((await split(p.url, 100)).get('bc@2')).toBe(20);

    // paused, killed, restarted: still paused, same weights, no analysis armed
    expect((await post(`${p.url}/v1/deployments/live/rollout/pause`, { reason: 'lunch' })).status).toBe(200);
    p.child.kill('SIGKILL');
    await p.exited;
    p = await serve();
    const paused = (await get<RolloutStatus>(`${p.url}/v1/deployments/live/rollout`)).body;
    expect(paused.rollout.state).toBe('paused');
    expect(paused.rollout.reason).toBe('lunch');
    expect(paused.rollout.nextAtMs).toBeNull();
    expect((await split(p.url, 50)).get('bc@2')).toBe(10);
  }, 120_000);

  it('with several serving processes, one leads: a restart records one restart decision, not one per process', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-rollout-cluster-'));
    try {
      let p = await startServeProcess(dir, ['--processes', '2']);
      running.push(p);
      for (const fixture of ['breast-cancer-logreg', 'breast-cancer-gbt']) {
        const reg = await post(`${p.url}/v1/models/bc/versions`, { model_base64: readFileSync(fixturePath(fixture)).toString('base64') });
        expect(reg.status).toBe(201);
      }
      await fetch(`${p.url}/v1/deployments/live`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bc', version: 1 }) });
      expect((await post(`${p.url}/v1/deployments/live/rollout`, { toVersion: 2, steps: '50', interval: '1h' })).status).toBe(201);
      p.child.kill('SIGTERM');
      await p.exited;
      p = await startServeProcess(dir, ['--processes', '2']);
      running.push(p);
      const s = (await get<RolloutStatus>(`${p.url}/v1/deployments/live/rollout`)).body;
      expect(s.decisions.map((d) => d.kind)).toEqual(['start', 'restart']);
      // every process routes by the rollout's weights: each is exact over its own requests, to
      // within one run of 10 consecutive requests
      const seen = await split(p.url, 200);
      expect(Math.abs((seen.get('bc@2') ?? 0) - 100)).toBeLessThanOrEqual(20);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/**
 * Traffic policies through a real server: a weighted split that is exact over thousands of
 * requests, sticky keys that never switch arms, shadows whose failures and latency never reach the
 * caller, a preview route, circuit breakers that move traffic off a failing version and record
 * it, and the version that answered on every response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goldenTensor, readGolden } from '../helpers/fixtures.js';
import { metricValue } from '../helpers/metrics.js';
import { brokenModel, slowModel } from '../helpers/onnx-proto.js';
import { get, post, registerVersion, startServer, type TestServer } from '../helpers/server.js';
import type { AuditEntry } from '../../src/registry/index.js';

let ts: TestServer;
const MODEL = 'bc';
let logreg: number;
let gbt: number;
let broken: number;
let slow: number;

/** One v2 request body of `rows` golden rows of the breast-cancer fixture. */
function body(rows = 1, offset = 0): Record<string, unknown> {
  const g = readGolden('breast-cancer-logreg');
  const c = g.cases.find((x) => x.name === 'heldout_all')!;
  const t = goldenTensor('input', c.inputs['input']!, [offset, offset + rows]);
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] };
}

async function deploy(name: string, version: number, traffic: unknown): Promise<void> {
  const res = await fetch(`${ts.url}/v1/deployments/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, version, traffic }),
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  await ts.server.service.refresh();
}

/** Send `n` requests with `concurrency` in flight; returns the x-berth-version of each answer. */
async function send(path: string, n: number, concurrency: number, headers: (i: number) => Record<string, string> = () => ({})): Promise<{ status: number; version: string | null; body: Record<string, unknown> }[]> {
  const out: { status: number; version: string | null; body: Record<string, unknown> }[] = new Array(n);
  let next = 0;
  const payload = JSON.stringify(body());
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const res = await fetch(`${ts.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers(i) }, body: payload });
        out[i] = { status: res.status, version: res.headers.get('x-berth-version'), body: (await res.json()) as Record<string, unknown> };
      }
    }),
  );
  return out;
}

beforeAll(async () => {
  ts = await startServer({ inferenceLog: { maxRowsPerSecond: 0 } });
  logreg = await registerVersion(ts, MODEL, { fixture: 'breast-cancer-logreg' });
  gbt = await registerVersion(ts, MODEL, { fixture: 'breast-cancer-gbt' });
  broken = await registerVersion(ts, MODEL, { bytes: brokenModel(31), file: 'broken.onnx' });
  // three dense layers of 2048: tens of milliseconds per row, so a 64-row copy is still computing
  // long after the primary answered
  slow = await registerVersion(ts, MODEL, { bytes: slowModel(2048, 3), file: 'slow.onnx' });
}, 60_000);

afterAll(async () => {
  await ts?.close();
});

describe('weighted split', () => {
  it('sends 10% ± 2% of 5,000 requests to the canary, and every answer names its version', async () => {
    await deploy('split', logreg, { split: [{ version: gbt, percent: 10 }] });
    const answers = await send('/v2/models/split/infer', 5000, 16);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const canary = answers.filter((a) => a.version === `${MODEL}@${gbt}`).length;
    const stable = answers.filter((a) => a.version === `${MODEL}@${logreg}`).length;
    expect(canary + stable).toBe(5000);
    expect(canary / 5000).toBeGreaterThanOrEqual(0.08);
    expect(canary / 5000).toBeLessThanOrEqual(0.12);
    // the smooth scheduler is exact, not just close
    expect(canary).toBe(500);
    for (const a of answers) expect(`${MODEL}@${String(a.body['model_version'])}`).toBe(a.version);
  }, 120_000);

  it('keeps the split exact across refreshes that leave its policy unchanged', async () => {
    await deploy('split-refresh', logreg, { split: [{ version: gbt, percent: 10 }] });
    const first = await send('/v2/models/split-refresh/infer', 50, 1);
    // other deployments change, and every change refreshes every plan
    await ts.server.service.refresh();
    await deploy('split-other', logreg, null);
    const second = await send('/v2/models/split-refresh/infer', 50, 1);
    expect([...first, ...second].filter((a) => a.version === `${MODEL}@${gbt}`).length).toBe(10);
  });

  it('the friendly endpoint says which version answered too', async () => {
    const res = await post<{ version: number }>(`${ts.url}/v1/deployments/split/predict`, {
      instances: [Array.from({ length: 30 }, () => 1)],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-berth-version')).toBe(`${MODEL}@${res.body.version}`);
  });

  it('refuses a bad policy with the field, the expected and the got, and changes nothing', async () => {
    const before = await ts.server.registry.getDeployment('split');
    const res = await fetch(`${ts.url}/v1/deployments/split`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, version: logreg, traffic: { split: [{ version: gbt, percent: 80 }, { version: slow, percent: 30 }] } }),
    });
    expect(res.status).toBe(400);
    const err = (await res.json()) as { error: string; field: string };
    expect(err.field).toBe('traffic.split');
    expect(err.error).toContain('110%');
    const missing = await fetch(`${ts.url}/v1/deployments/split`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, version: logreg, traffic: { split: [{ version: 99, percent: 10 }] } }),
    });
    expect(missing.status).toBe(404);
    const self = await fetch(`${ts.url}/v1/deployments/split`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, version: logreg, traffic: { split: [{ version: logreg, percent: 10 }] } }),
    });
    expect(self.status).toBe(400);
    expect(((await self.json()) as { error: string }).error).toContain('target');
    expect(await ts.server.registry.getDeployment('split')).toEqual(before);
  });
});

describe('live changes', () => {
  it('changes the policy under load without dropping or failing a request', async () => {
    await deploy('live', logreg, null);
    let stop = false;
    const statuses: number[] = [];
    const seen = new Set<string>();
    const payload = JSON.stringify(body());
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const res = await fetch(`${ts.url}/v2/models/live/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
        statuses.push(res.status);
        seen.add(res.headers.get('x-berth-version')!);
        await res.arrayBuffer();
      }
    });
    const policies = [
      { split: [{ version: gbt, percent: 10 }] },
      { split: [{ version: gbt, percent: 50 }], shadows: [{ version: slow, percent: 10 }] },
      { preview: gbt },
      null,
      { split: [{ version: gbt, percent: 90 }] },
      { split: [{ version: gbt, percent: 100 }] },
      null,
    ];
    for (const p of policies) {
      await deploy('live', logreg, p);
      await new Promise((r) => setTimeout(r, 150));
    }
    stop = true;
    await Promise.all(load);
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    expect(seen).toEqual(new Set([`${MODEL}@${logreg}`, `${MODEL}@${gbt}`]));
  }, 60_000);
});

describe('sticky A/B', () => {
  it('keeps each user on one arm, across requests and a policy reload, with the configured shares', async () => {
    await deploy('ab', logreg, { split: [{ version: gbt, percent: 30 }], sticky: { from: 'header', name: 'X-User-Id' } });
    const users = 400;
    const per = 4;
    const answers = await send('/v2/models/ab/infer', users * per, 8, (i) => ({ 'x-user-id': `user-${i % users}` }));
    const armOf = new Map<string, Set<string>>();
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      const u = `user-${i % users}`;
      if (!armOf.has(u)) armOf.set(u, new Set());
      armOf.get(u)!.add(a.version!);
    });
    for (const arms of armOf.values()) expect(arms.size).toBe(1);
    const onCanary = [...armOf.values()].filter((s) => s.has(`${MODEL}@${gbt}`)).length / users;
    expect(onCanary).toBeGreaterThan(0.22);
    expect(onCanary).toBeLessThan(0.38);
    // a reload of the same policy keeps every key where it was
    await ts.server.service.refresh();
    const again = await send('/v2/models/ab/infer', users, 8, (i) => ({ 'x-user-id': `user-${i % users}` }));
    again.forEach((a, i) => expect(armOf.get(`user-${i}`)!.has(a.version!)).toBe(true));
  }, 60_000);

  it('reads the key from a request parameter too; requests without a key are spread by weight', async () => {
    await deploy('ab-param', logreg, { split: [{ version: gbt, percent: 50 }], sticky: { from: 'parameter', name: 'user_id' } });
    const seen = new Map<string, string>();
    for (let i = 0; i < 60; i++) {
      const u = `u${i % 20}`;
      const res = await post(`${ts.url}/v2/models/ab-param/infer`, { ...body(), parameters: { user_id: u } });
      expect(res.status).toBe(200);
      const v = res.headers.get('x-berth-version')!;
      if (seen.has(u)) expect(v).toBe(seen.get(u));
      seen.set(u, v);
    }
    const keyless = await send('/v2/models/ab-param/infer', 100, 4);
    expect(keyless.filter((a) => a.version === `${MODEL}@${gbt}`).length).toBe(50);
  });
});

describe('shadow', () => {
  it("never lets a shadow's failures reach the caller, and counts them", async () => {
    await deploy('shadow-broken', logreg, { shadows: [{ version: broken, percent: 100 }] });
    const answers = await send('/v2/models/shadow-broken/infer', 50, 4);
    expect(answers.every((a) => a.status === 200 && a.version === `${MODEL}@${logreg}`)).toBe(true);
    await waitFor(() => (ts.server.rolloutStats.window('shadow-broken')?.shadows.get(broken)?.copies ?? 0) >= 50);
    const sw = ts.server.rolloutStats.window('shadow-broken')!.shadows.get(broken)!;
    expect(sw.copies).toBe(50);
    expect(sw.failures).toBe(50);
  });

  it("answers the caller while the shadow is still computing (the shadow's latency is not the caller's)", async () => {
    await deploy('shadow-slow', logreg, { shadows: [{ version: slow, percent: 100 }] });
    const res = await post(`${ts.url}/v2/models/shadow-slow/infer`, body(64));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-berth-version')).toBe(`${MODEL}@${logreg}`);
    // the copy of this very request has not finished when its answer is already here
    expect(ts.server.rolloutStats.window('shadow-slow')?.shadows.get(slow)?.copies ?? 0).toBe(0);
    await waitFor(() => (ts.server.rolloutStats.window('shadow-slow')?.shadows.get(slow)?.copies ?? 0) === 1, 30_000);
    const w = ts.server.rolloutStats.window('shadow-slow')!;
    const shadowMs = w.shadows.get(slow)!.latency.quantile(0.5)!;
    // against the primary's own time in the server (the caller's wall time adds HTTP and, on a
    // loaded machine, scheduling, which can exceed the slow model's compute)
    const primaryMs = w.versions.get(logreg)!.latency.quantile(0.5)!;
    expect(shadowMs).toBeGreaterThan(primaryMs);
  }, 60_000);

  it('compares shadow answers with the primary: agreement, probability difference, confusion', async () => {
    await deploy('shadow-cmp', logreg, { shadows: [{ version: gbt, percent: 100 }] });
    const g = readGolden('breast-cancer-logreg');
    const all = g.cases.find((c) => c.name === 'heldout_all')!;
    const rows = all.inputs['input']!.shape[0]!;
    for (let i = 0; i < rows; i += 15) {
      const n = Math.min(15, rows - i);
      const t = goldenTensor('input', all.inputs['input']!, [i, i + n]);
      const res = await post(`${ts.url}/v2/models/shadow-cmp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] });
      expect(res.status).toBe(200);
    }
    await waitFor(() => (ts.server.rolloutStats.window('shadow-cmp')?.shadows.get(gbt)?.rows ?? 0) === rows);
    const sw = ts.server.rolloutStats.window('shadow-cmp')!.shadows.get(gbt)!;
    // reference: both fixtures' golden labels on the same held-out rows
    const gl = (m: string): number[] => (readGolden(m).cases.find((c) => c.name === 'heldout_all')!.expected['label']!.data as number[]).flat();
    const a = gl('breast-cancer-logreg');
    const b = gl('breast-cancer-gbt');
    const agreeRef = a.filter((x, i) => x === b[i]).length;
    expect(sw.agreed).toBe(agreeRef);
    expect(sw.failures).toBe(0);
    let confusion = 0;
    for (const m of sw.confusion.values()) for (const c of m.values()) confusion += c;
    expect(confusion).toBe(rows);
    expect(sw.confusion.get('0')?.get('1') ?? 0).toBe(a.filter((x, i) => x === 0 && b[i] === 1).length);
    expect(sw.absDiffSum / sw.probRows).toBeGreaterThan(0);
    expect(sw.absDiffSum / sw.probRows).toBeLessThan(0.2);
    // and the shadow's rows are in the inference log's shadow files, never in the deployment's
    await ts.server.inferenceLog!.flush();
    const report = await get<{ window: { rows: number } }>(`${ts.url}/v1/deployments/shadow-cmp/monitor?window=all`);
    expect(report.body.window.rows).toBe(rows);
  }, 60_000);
});

describe('preview (blue-green)', () => {
  it('answers the preview route with the preview version only', async () => {
    await deploy('bg', logreg, { preview: gbt });
    const live = await post(`${ts.url}/v2/models/bg/infer`, body());
    const preview = await post(`${ts.url}/v2/models/bg/preview/infer`, body());
    expect(live.headers.get('x-berth-version')).toBe(`${MODEL}@${logreg}`);
    expect(preview.headers.get('x-berth-version')).toBe(`${MODEL}@${gbt}`);
    expect(preview.body['model_version']).toBe(String(gbt));
    const none = await post<{ error: string }>(`${ts.url}/v2/models/split/preview/infer`, body());
    expect(none.status).toBe(404);
    expect(none.body.error).toContain('no preview version');
  });
});

describe('circuit breaker', () => {
  it('moves a failing canary arm\'s traffic to the target, and records the move', async () => {
    await deploy('cb', logreg, { split: [{ version: broken, percent: 50 }], breaker: { errorPercent: 50, minRequests: 10, windowMs: 60_000 } });
    const answers = await send('/v2/models/cb/infer', 100, 1);
    const failed = answers.filter((a) => a.status !== 200);
    // it trips once the window holds 10 requests of the arm, all failing: the rest all succeed
    expect(failed.length).toBe(10);
    expect(answers.slice(40).every((a) => a.status === 200 && a.version === `${MODEL}@${logreg}`)).toBe(true);
    await ts.server.rollouts.settle();
    const d = await ts.server.registry.getDeployment('cb');
    expect(d.traffic?.split ?? []).toEqual([]);
    const audit = await ts.server.registry.audit({ target: 'deployment:cb', action: 'deployment.fallback' });
    expect(audit.length).toBe(1);
    const details = audit[0]!.details as { to: { traffic: unknown } };
    expect(details.to.traffic === null || JSON.stringify(details.to.traffic).includes(`"split":[]`)).toBe(true);
    const metrics = await (await fetch(`${ts.url}/metrics`)).text();
    expect(metricValue(metrics, 'berth_circuit_breaker_trips_total', { deployment: 'cb', version: String(broken) })).toBe(1);
  }, 60_000);

  it('makes the last good version the target when the target itself fails', async () => {
    await deploy('cb-target', broken, { fallback: logreg, breaker: { errorPercent: 50, minRequests: 5, windowMs: 60_000 } });
    const answers = await send('/v2/models/cb-target/infer', 30, 1);
    expect(answers.slice(0, 5).every((a) => a.status === 400)).toBe(true);
    expect(answers.slice(5).every((a) => a.status === 200 && a.version === `${MODEL}@${logreg}`)).toBe(true);
    await ts.server.rollouts.settle();
    const d = await ts.server.registry.getDeployment('cb-target');
    expect(d.target).toEqual({ kind: 'version', version: logreg });
    const history = await ts.server.registry.deploymentHistory('cb-target');
    expect(history[0]!.change).toBe('fallback');
    const entries: AuditEntry[] = await ts.server.registry.audit({ target: 'deployment:cb-target', action: 'deployment.fallback' });
    expect(entries.length).toBe(1);
  }, 60_000);
});

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 10));
  }
}

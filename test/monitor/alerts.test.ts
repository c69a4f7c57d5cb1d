import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { AlertManager, parseAlertRule, type MonitorReport } from '../../src/monitor/index.js';
import { openEmbeddedRegistry } from '../../src/registry/index.js';

/** A real webhook receiver on port 0 that fails the first `failures` deliveries. */
async function receiver(failures: number): Promise<{ url: string; got: { headers: Record<string, string>; body: string }[]; close: () => Promise<void> }> {
  const got: { headers: Record<string, string>; body: string }[] = [];
  let seen = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen++;
      if (seen <= failures) {
        res.writeHead(500).end();
        return;
      }
      got.push({ headers: req.headers as Record<string, string>, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/hook`, got, close: () => new Promise((r) => server.close(() => r())) };
}

function fakeReport(driftShare: number | null): MonitorReport {
  return {
    drift: driftShare === null ? null : { evaluatedColumns: 10, driftShare, driftedColumns: Math.round(driftShare * 10), predictions: [] },
    performance: { classification: null, regression: null, estimatedAccuracy: null },
    latency: { p50: 1, p95: 2, p99: 3, errorRate: 0, rows: 10 },
    window: { rows: 10 },
    quality: { columns: [], findings: [], rejected: { share: 0 } },
    fairness: [],
  } as unknown as MonitorReport;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-alerts-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('alert rules', () => {
  it('parse the issue\'s examples, and refuse bad ones naming the part', () => {
    expect(parseAlertRule({ name: 'd', deployment: 'x', when: 'drift_share > 0.3 for 15m' })).toMatchObject({ metric: 'drift_share', op: '>', threshold: 0.3, forMs: 900_000 });
    expect(parseAlertRule({ name: 'a', deployment: 'x', when: 'accuracy < 0.9' })).toMatchObject({ metric: 'accuracy', op: '<', threshold: 0.9, forMs: 0 });
    expect(parseAlertRule({ name: 'l', deployment: 'x', when: 'p99_ms > 50 ms' })).toMatchObject({ metric: 'p99_ms', threshold: 50 });
    expect(parseAlertRule({ name: 'e', deployment: '*', when: 'error_rate > 1%' })).toMatchObject({ metric: 'error_rate', threshold: 0.01 });
    expect(() => parseAlertRule({ name: 'e', deployment: 'x', when: 'drift > 0.3' })).toThrow(/rule.when: expected a metric among drift_share, .*got "drift"/);
    expect(() => parseAlertRule({ name: 'e', deployment: 'x', when: 'accuracy is low' })).toThrow(/rule.when: expected "<metric> <op> <number>/);
    expect(() => parseAlertRule({ name: 'e', deployment: 'x', when: 'accuracy < 0.9', window: 'soon' })).toThrow(/rule.window/);
  });
});

describe('AlertManager', () => {
  it('pending → firing after `for` (hysteresis), notified once, signed and retried; no data holds; resolved once', async () => {
    const hook = await receiver(1);
    const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
    let share: number | null = 0.5;
    const alerts = new AlertManager({
      dataDir: dir,
      rules: [{ name: 'credit-drift', deployment: 'credit', when: 'drift_share > 0.3 for 15m', window: '15m', severity: 'critical' }],
      webhooks: [{ url: hook.url, secret: 's3cret' }],
      report: async () => fakeReport(share),
      deployments: async () => ['credit'],
      clock,
      webhookBackoffMs: 10,
    });
    try {
      await alerts.evaluateNow();
      expect(alerts.list()[0]).toMatchObject({ state: 'pending', value: 0.5 });
      clock.advance(10 * 60_000);
      await alerts.evaluateNow();
      expect(alerts.list()[0]!.state).toBe('pending');
      clock.advance(5 * 60_000);
      await alerts.evaluateNow();
      expect(alerts.list()[0]).toMatchObject({ state: 'firing', severity: 'critical' });
      // still over the threshold: no second notification (deduplicated)
      clock.advance(60_000);
      await alerts.evaluateNow();
      // a window without data neither fires nor resolves
      share = null;
      clock.advance(60_000);
      await alerts.evaluateNow();
      expect(alerts.list()[0]!.state).toBe('firing');
      share = 0.1;
      clock.advance(60_000);
      await alerts.evaluateNow();
      expect(alerts.list()[0]!.state).toBe('ok');
      await new Promise((r) => setTimeout(r, 200));
      expect(alerts.events().map((e) => e.kind)).toEqual(['resolved', 'firing']);
      // the receiver failed the first delivery: it was retried, and each delivery is signed
      expect(hook.got.map((g) => (JSON.parse(g.body) as { kind: string }).kind)).toEqual(['firing', 'resolved']);
      for (const g of hook.got) {
        const expected = createHmac('sha256', 's3cret').update(`${g.headers['x-berth-timestamp']}.${g.body}`).digest('hex');
        expect(g.headers['x-berth-signature']).toBe(`sha256=${expected}`);
      }
      expect(JSON.parse(hook.got[0]!.body)).toMatchObject({ format: 'berth-alert/1', rule: 'credit-drift', deployment: 'credit', value: 0.5, severity: 'critical' });
    } finally {
      await alerts.close();
      await hook.close();
    }
  });

  it('repeats a firing alert after the repeat interval, and evaluates "*" over every deployment', async () => {
    const clock = new ManualClock();
    const alerts = new AlertManager({
      dataDir: dir,
      rules: [{ name: 'drift', deployment: '*', when: 'drift_share >= 0.5' }],
      webhooks: [],
      report: async (d) => fakeReport(d === 'a' ? 0.6 : 0),
      deployments: async () => ['a', 'b'],
      clock,
      repeatIntervalMs: 3_600_000,
    });
    try {
      await alerts.evaluateNow();
      expect(alerts.list().map((s) => `${s.deployment}:${s.state}`)).toEqual(['a:firing', 'b:ok']);
      clock.advance(3_600_000);
      await alerts.evaluateNow();
      expect(alerts.events().map((e) => e.kind)).toEqual(['repeat', 'firing']);
    } finally {
      await alerts.close();
    }
  });

  it('with a shared lease (replicas on several machines) only its holder evaluates, and a clean stop hands it over', async () => {
    // the registry's lease table, as replicas sharing PostgreSQL use it (here the embedded store)
    const registryDir = mkdtempSync(path.join(tmpdir(), 'berth-alerts-registry-'));
    const registry = await openEmbeddedRegistry(registryDir);
    const calls = new Map<string, number>();
    const make = (d: string, name: string): AlertManager =>
      new AlertManager({
        dataDir: d,
        rules: [{ name: 'drift', deployment: 'a', when: 'drift_share > 0.3' }],
        webhooks: [],
        report: async () => {
          calls.set(name, (calls.get(name) ?? 0) + 1);
          return fakeReport(0.5);
        },
        deployments: async () => ['a'],
        clock: new ManualClock(),
        sharedLease: async (holder, ttlMs) => (await registry.tryLease('alert-evaluator', holder, ttlMs)).held,
        releaseSharedLease: (holder) => registry.releaseLease('alert-evaluator', holder),
      });
    // two data dirs (two machines): their monitor.db leases would both be free
    const other = mkdtempSync(path.join(tmpdir(), 'berth-alerts-'));
    const first = make(dir, 'first');
    const second = make(other, 'second');
    try {
      await first.evaluateNow();
      await second.evaluateNow();
      await first.evaluateNow();
      expect(Object.fromEntries(calls)).toEqual({ first: 2 });
      // the first stops cleanly: its lease is given up, the second evaluates at its next interval
      await first.close();
      await second.evaluateNow();
      expect(Object.fromEntries(calls)).toEqual({ first: 2, second: 1 });
    } finally {
      await second.close();
      await registry.close();
      rmSync(other, { recursive: true, force: true });
      rmSync(registryDir, { recursive: true, force: true });
    }
  });

  it('one evaluator per data dir: a second process skips while the first holds the lease', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const make = (): AlertManager =>
      new AlertManager({
        dataDir: dir,
        rules: [{ name: 'drift', deployment: 'a', when: 'drift_share > 0.3' }],
        webhooks: [],
        report: async () => {
          calls++;
          return fakeReport(0.5);
        },
        deployments: async () => ['a'],
        clock,
      });
    const first = make();
    const second = make();
    try {
      await first.evaluateNow();
      await second.evaluateNow();
      expect(calls).toBe(1);
    } finally {
      await first.close();
      await second.close();
    }
  });
});

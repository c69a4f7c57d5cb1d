/*
 * Pooling rollout numbers across replicas: a window survives being stored, and several replicas'
 * windows merge into the numbers one process would have seen had it answered every request.
 */
import { describe, expect, it } from 'vitest';
import { Reservoir, decodeWindow, encodeWindow, mergeWindows, type DeploymentWindow, type VersionWindow } from '../../src/rollout/index.js';

function versionOf(version: number, latencies: number[], failures: number, labels: Record<string, number>): VersionWindow {
  const latency = new Reservoir();
  for (const x of latencies) latency.add(x);
  return { version, requests: latencies.length, failures, latency, labels: new Map(Object.entries(labels)), values: new Reservoir(), rows: latencies.length };
}

function windowOf(since: number, ...versions: VersionWindow[]): DeploymentWindow {
  return { since, epoch: '7:1:1000', changes: versions.length, versions: new Map(versions.map((v) => [v.version, v])), shadows: new Map(), preview: new Map() };
}

/** n latencies spread evenly over [lo, hi] */
const spread = (n: number, lo: number, hi: number): number[] => Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / Math.max(1, n - 1));

describe('Reservoir.merged', () => {
  it('weights each part by what it saw, not by how many values it kept', () => {
    // replica a saw 90 000 latencies of ~1 ms, replica b 10 000 of ~100 ms; both kept a full sample
    const a = new Reservoir();
    for (const x of spread(90_000, 0.5, 1.5)) a.add(x);
    const b = new Reservoir();
    for (const x of spread(10_000, 95, 105)) b.add(x);
    const m = Reservoir.merged([
      { seen: a.seen, values: a.sorted() },
      { seen: b.seen, values: b.sorted() },
    ]);
    expect(m.seen).toBe(100_000);
    // 90 % of all requests were fast: p85 is fast, p95 slow
    expect(m.quantile(0.85)!).toBeLessThan(2);
    expect(m.quantile(0.95)!).toBeGreaterThan(90);
    const slow = [...m.sorted()].filter((x) => x > 50).length / m.sorted().length;
    expect(slow).toBeGreaterThan(0.08);
    expect(slow).toBeLessThan(0.12);
  });

  it('keeps every value when the parts together fit', () => {
    const m = Reservoir.merged([
      { seen: 3, values: [3, 1, 2] },
      { seen: 2, values: [5, 4] },
    ]);
    expect([...m.sorted()]).toEqual([1, 2, 3, 4, 5]);
    expect(m.quantile(0.5)).toBe(3);
  });

  it('is read-only', () => {
    const m = Reservoir.merged([{ seen: 1, values: [1] }]);
    expect(() => m.add(2)).toThrow(/read-only/);
  });
});

describe('window codec', () => {
  it('a stored window reads back with the same counts and close percentiles', () => {
    const w = windowOf(1000, versionOf(1, spread(5000, 1, 11), 7, { benign: 3000, malignant: 2000 }), versionOf(2, spread(300, 2, 4), 1, { benign: 300 }));
    w.shadows.set(3, {
      version: 3,
      copies: 40,
      failures: 2,
      latency: Reservoir.merged([{ seen: 40, values: spread(40, 1, 2) }]),
      rows: 38,
      agreed: 36,
      absDiffSum: 1.5,
      probRows: 38,
      confusion: new Map([['benign', new Map([['benign', 30], ['malignant', 2]])]]),
      labels: new Map([['benign', 32]]),
      values: new Reservoir(),
    });
    const body = encodeWindow(w);
    // bounded whatever the traffic: 1024 latencies per reservoir at most
    expect(body.length).toBeLessThan(40_000);
    const back = decodeWindow(body);
    expect(back.since).toBe(1000);
    expect(back.epoch).toBe('7:1:1000');
    const v1 = back.versions.get(1)!;
    expect([v1.requests, v1.failures, v1.rows]).toEqual([5000, 7, 5000]);
    expect(Object.fromEntries(v1.labels)).toEqual({ benign: 3000, malignant: 2000 });
    expect(v1.latency.seen).toBe(5000);
    expect(v1.latency.quantile(0.5)!).toBeCloseTo(6, 0);
    expect(v1.latency.quantile(0.99)!).toBeCloseTo(10.9, 0);
    const s = back.shadows.get(3)!;
    expect([s.copies, s.failures, s.rows, s.agreed, s.probRows]).toEqual([40, 2, 38, 36, 38]);
    expect(s.confusion.get('benign')!.get('malignant')).toBe(2);
  });

  it('refuses what is not a stored window', () => {
    expect(() => decodeWindow('{"format":"something-else"}')).toThrow(/berth-rollout-window/);
    expect(() => decodeWindow('not json')).toThrow();
    const w = JSON.parse(encodeWindow(windowOf(0, versionOf(1, [1], 0, {})))) as { versions: { requests: unknown }[] };
    w.versions[0]!.requests = -3;
    expect(() => decodeWindow(JSON.stringify(w))).toThrow(/bad version window/);
  });

  it('merging replicas gives the numbers of all their requests together', () => {
    const a = windowOf(1000, versionOf(1, spread(900, 1, 2), 9, { benign: 600, malignant: 300 }), versionOf(2, spread(100, 1, 2), 0, { benign: 70, malignant: 30 }));
    const b = windowOf(1200, versionOf(1, spread(450, 1, 2), 0, { benign: 300, malignant: 150 }), versionOf(2, spread(50, 20, 30), 5, { benign: 50 }));
    const m = mergeWindows([a, decodeWindow(encodeWindow(b))]);
    expect(m.since).toBe(1000);
    const v1 = m.versions.get(1)!;
    const v2 = m.versions.get(2)!;
    expect([v1.requests, v1.failures]).toEqual([1350, 9]);
    expect([v2.requests, v2.failures]).toEqual([150, 5]);
    expect(Object.fromEntries(v2.labels)).toEqual({ benign: 120, malignant: 30 });
    // a third of the candidate's requests were b's slow ones: its p50 is fast, its p90 slow
    expect(v2.latency.quantile(0.5)!).toBeLessThan(2);
    expect(v2.latency.quantile(0.9)!).toBeGreaterThan(20);
  });
});

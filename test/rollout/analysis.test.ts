/**
 * The analysis verdicts and the rollout spec parser, on hand-built windows: every threshold kind,
 * the sample-count gate before any verdict, no-data, and distances checked against scipy.
 */
import { describe, expect, it } from 'vitest';
import { analyse, jensenShannonDistance, predictionDistance, parseRolloutRequest, parseSteps, parseAnalysisSpec, Reservoir, type AnalysisSpec } from '../../src/rollout/index.js';
import type { DeploymentWindow, VersionWindow } from '../../src/rollout/index.js';

function vw(version: number, requests: number, failures: number, latency: number[], labels: Record<string, number>): VersionWindow {
  const r = new Reservoir();
  for (const x of latency) r.add(x);
  return { version, requests, failures, latency: r, labels: new Map(Object.entries(labels)), values: new Reservoir(), rows: requests };
}

function windowOf(...versions: VersionWindow[]): DeploymentWindow {
  return { since: 0, epoch: null, changes: 0, versions: new Map(versions.map((v) => [v.version, v])), shadows: new Map(), preview: new Map() };
}

const spec = (metrics: AnalysisSpec['metrics'], minSamples = 50): AnalysisSpec => ({ minSamples, failureLimit: 2, noData: 'pause', minLabels: 30, metrics });
const ms = (n: number, v: number): number[] => Array.from({ length: n }, () => v);

describe('jensenShannonDistance', () => {
  it('matches scipy.spatial.distance.jensenshannon(base=2)', () => {
    expect(jensenShannonDistance([50, 50], [90, 10])).toBeCloseTo(0.3831358798599423, 12);
    expect(jensenShannonDistance([10, 20, 70], [30, 30, 40])).toBeCloseTo(0.27366687589869926, 12);
    expect(jensenShannonDistance([1, 0], [0, 1])).toBeCloseTo(1, 12);
    expect(jensenShannonDistance([3, 3], [300, 300])).toBeCloseTo(0, 12);
  });

  it('compares regressors by histograms over the pooled range', () => {
    const a = { labels: new Map<string, number>(), values: new Reservoir() };
    const b = { labels: new Map<string, number>(), values: new Reservoir() };
    for (let i = 0; i < 1000; i++) {
      a.values.add(i / 1000);
      b.values.add(i / 1000);
    }
    expect(predictionDistance(a, b)).toBeCloseTo(0, 12);
    const c = { labels: new Map<string, number>(), values: new Reservoir() };
    for (let i = 0; i < 1000; i++) c.values.add(2 + i / 1000);
    expect(predictionDistance(a, c)).toBeCloseTo(1, 12);
  });
});

describe('analyse', () => {
  const base = { stable: 1, candidate: 2, mode: 'split' as const, accuracy: null, now: 1 };

  it('waits for minSamples, and calls a silent candidate no-data', () => {
    const w = windowOf(vw(1, 500, 0, ms(500, 2), { a: 250, b: 250 }), vw(2, 10, 0, ms(10, 2), { a: 5, b: 5 }));
    expect(analyse({ ...base, spec: spec([{ metric: 'error_rate', max: 0.01 }]), window: w }).verdict).toBe('inconclusive');
    const silent = windowOf(vw(1, 500, 0, ms(500, 2), { a: 250, b: 250 }));
    const r = analyse({ ...base, spec: spec([{ metric: 'error_rate', max: 0.01 }]), window: silent });
    expect(r.verdict).toBe('no-data');
    expect(r.reason).toContain('no requests');
  });

  it('fails on absolute and relative thresholds, naming the numbers', () => {
    const w = windowOf(vw(1, 1000, 10, ms(1000, 2), { a: 500, b: 500 }), vw(2, 100, 5, ms(100, 7), { a: 90, b: 10 }));
    const r = analyse({
      ...base,
      spec: spec([
        { metric: 'error_rate', maxIncrease: 0.02 },
        { metric: 'latency_p99', maxRatio: 2 },
        { metric: 'prediction_drift', max: 0.1 },
      ]),
      window: w,
    });
    expect(r.verdict).toBe('fail');
    const byMetric = Object.fromEntries(r.checks.map((c) => [c.metric, c]));
    expect(byMetric['error_rate']!.outcome).toBe('fail');
    expect(byMetric['error_rate']!.candidate).toBeCloseTo(0.05, 12);
    expect(byMetric['error_rate']!.stable).toBeCloseTo(0.01, 12);
    expect(byMetric['latency_p99']!.outcome).toBe('fail');
    expect(byMetric['latency_p99']!.detail).toContain('3.50×');
    expect(byMetric['prediction_drift']!.candidate).toBeCloseTo(0.3831358798599423, 12);
    expect(r.reason).toContain('error_rate');
  });

  it('passes within thresholds, and skips metrics without data unless they are required', () => {
    const w = windowOf(vw(1, 1000, 0, ms(1000, 2), { a: 500, b: 500 }), vw(2, 100, 0, ms(100, 2), { a: 50, b: 50 }));
    const ok = analyse({ ...base, spec: spec([{ metric: 'error_rate', max: 0.01 }, { metric: 'accuracy', maxDecrease: 0.02 }]), window: w });
    expect(ok.verdict).toBe('pass');
    expect(ok.checks.find((c) => c.metric === 'accuracy')!.outcome).toBe('skipped');
    const waiting = analyse({ ...base, spec: spec([{ metric: 'accuracy', maxDecrease: 0.02, required: true }]), window: w });
    expect(waiting.verdict).toBe('inconclusive');
    const labelled = analyse({
      ...base,
      spec: spec([{ metric: 'accuracy', maxDecrease: 0.02, required: true }]),
      window: w,
      accuracy: { candidate: { accuracy: 0.9, labelled: 100 }, stable: { accuracy: 0.95, labelled: 900 } },
    });
    expect(labelled.verdict).toBe('fail');
  });
});

describe('rollout requests', () => {
  it('parses steps, always ending on 100%', () => {
    expect(parseSteps('5,25,50', 'canary')).toEqual([
      { kind: 'weight', percent: 5 },
      { kind: 'weight', percent: 25 },
      { kind: 'weight', percent: 50 },
      { kind: 'weight', percent: 100 },
    ]);
    expect(parseSteps('shadow,10,100', 'canary').map((s) => s.kind)).toEqual(['shadow', 'weight', 'weight']);
    expect(parseSteps('anything', 'blue-green')).toEqual([{ kind: 'preview' }, { kind: 'weight', percent: 100 }]);
  });

  it('fills analysis defaults and reads YAML', () => {
    const a = parseAnalysisSpec('minSamples: 10\nnoData: fail\nmetrics:\n  - metric: error_rate\n    max: 0.02\n');
    expect(a).toEqual({ minSamples: 10, failureLimit: 2, minLabels: 30, noData: 'fail', metrics: [{ metric: 'error_rate', max: 0.02 }] });
    const r = parseRolloutRequest({ toVersion: 2, interval: '90s', sticky: 'header:X-User' });
    expect(r.intervalMs).toBe(90_000);
    expect(r.sticky).toEqual({ from: 'header', name: 'x-user' });
  });

  it('names the field of every bad value', () => {
    const bad: [unknown, string][] = [
      [{ toVersion: 2, steps: '0,50' }, 'steps'],
      [{ toVersion: 2, steps: '10,shadow' }, 'steps'],
      [{ toVersion: 2, interval: '10 parsecs' }, 'interval'],
      [{ toVersion: 2, interval: '200ms' }, 'interval'],
      [{ toVersion: 2, sticky: 'cookie:x' }, 'sticky'],
      [{ toVersion: 2, analysis: { metrics: [{ metric: 'vibes', max: 1 }] } }, 'analysis.metrics[0].metric'],
      [{ toVersion: 2, analysis: { metrics: [{ metric: 'error_rate' }] } }, 'analysis.metrics[0]'],
      [{ toVersion: 2, analysis: { minSamples: 0 } }, 'analysis.minSamples'],
      [{ toVersion: 2, noData: 'shrug' }, 'noData'],
    ];
    for (const [req, field] of bad) {
      let err: unknown;
      try {
        parseRolloutRequest(req as Parameters<typeof parseRolloutRequest>[0]);
      } catch (e) {
        err = e;
      }
      expect((err as { context?: { field?: string } } | undefined)?.context?.field, JSON.stringify(req)).toBe(field);
    }
  });
});

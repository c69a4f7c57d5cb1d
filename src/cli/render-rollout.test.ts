import { describe, expect, it } from 'vitest';
import type { RolloutRecord } from '../rollout/index.js';
import { formatPercent, formatSpan } from './format.js';
import { describeTraffic } from './render.js';
import { describeWeights, renderProgress } from './render-rollout.js';

const NOW = Date.UTC(2026, 10, 24, 14, 0, 0);
const empty = { split: [], sticky: null, shadows: [], preview: null, fallback: null, fallbackWarmUntil: null, breaker: null };

function rollout(over: Partial<RolloutRecord>): RolloutRecord {
  const steps = [{ kind: 'weight', percent: 5 }, { kind: 'weight', percent: 25 }, { kind: 'weight', percent: 50 }, { kind: 'weight', percent: 100 }] as const;
  const step = over.step ?? 0;
  return {
    id: 1, deployment: 'credit', model: 'credit', fromVersion: 3, toVersion: 4, strategy: 'canary', state: 'progressing', step,
    currentStep: steps[step]!, stepStartedAtMs: NOW, nextAtMs: NOW + 600_000, failures: 0, reason: null,
    createdAt: new Date(NOW).toISOString(), updatedAt: new Date(NOW).toISOString(), finishedAt: null, actor: 'ana',
    spec: { steps: [...steps], intervalMs: 600_000 } as unknown as RolloutRecord['spec'],
    ...over,
  };
}

describe('describeTraffic', () => {
  it('puts the whole policy on one line, the target first with what the arms leave it', () => {
    expect(describeTraffic({ ...empty, split: [{ version: 2, percent: 10 }], sticky: { from: 'header', name: 'x-user-id' }, shadows: [{ version: 3, percent: 100 }] }, 1, NOW))
      .toBe('v1 90% · v2 10% (sticky header:x-user-id) · shadow v3 100%');
    expect(describeTraffic({ ...empty, split: [{ version: 2, percent: 12.5 }, { version: 3, percent: 12.5 }] }, null, NOW)).toBe('target 75% · v2 12.5% · v3 12.5%');
    expect(describeTraffic({ ...empty, preview: 4, breaker: { errorPercent: 50, minRequests: 20, windowMs: 30_000 } }, 3, NOW))
      .toBe('v3 100% · preview v4 · breaker at 50% failures of ≥20 requests in 30s');
  });

  it('says how long a fallback stays warm, and nothing once that time is past', () => {
    expect(describeTraffic({ ...empty, fallback: 3, fallbackWarmUntil: NOW + 10 * 60_000 }, 4, NOW)).toBe('v4 100% · fallback v3 (kept warm for 10 minutes)');
    expect(describeTraffic({ ...empty, fallback: 3, fallbackWarmUntil: NOW - 1 }, 4, NOW)).toBe('v4 100% · fallback v3');
  });
});

describe('renderProgress', () => {
  it('marks done, current, failed and skipped steps', () => {
    expect(renderProgress(rollout({ step: 1 }))).toBe('5% ✓ → 25% ● → 50% → 100%');
    expect(renderProgress(rollout({ step: 2, state: 'failed' }))).toBe('5% ✓ → 25% ✓ → 50% ✗ → 100%');
    // promoted by a person at 25%: 50% never ran
    expect(renderProgress(rollout({ step: 1, state: 'promoted' }))).toBe('5% ✓ → 25% ✓ → 50% skipped → 100% ✓');
    expect(renderProgress(rollout({ step: 0, state: 'blocked' }))).toBe('5% ✗ → 25% → 50% → 100%');
  });

  it('says who answers what in a weight, shadow or preview step', () => {
    expect(describeWeights(rollout({ step: 1 }))).toBe('v4 answers 25%, v3 75%');
    expect(describeWeights(rollout({ currentStep: { kind: 'shadow' } }))).toBe('v3 answers 100%; v4 gets a copy of every request (shadow, never answers)');
    expect(describeWeights(rollout({ currentStep: { kind: 'preview' } }))).toBe('v3 answers 100%; v4 answers only the preview route /v2/models/credit/preview/infer');
  });
});

describe('formatSpan and formatPercent', () => {
  it('writes short spans and shares', () => {
    expect([0, 12_000, 60_000, 432_000, 600_000, 3_900_000, 7_200_000, 187_200_000].map(formatSpan)).toEqual(['0s', '12s', '1m', '7m 12s', '10m', '1h 5m', '2h', '2d 4h']);
    expect([0, 0.9, 0.125, 0.005, 1].map(formatPercent)).toEqual(['0%', '90%', '12.5%', '0.50%', '100%']);
  });
});

/*
 * compareEvaluations and its gates: the defaults per kind of metric (points for 0–1 metrics,
 * percent for errors), each form of the gate grammar and of the object form, failures with their
 * reasons, and the Markdown a pull request gets.
 */
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import {
  DEFAULT_MAX_DROP_POINTS, DEFAULT_MAX_RISE_PERCENT, compareEvaluations, comparisonMarkdown, defaultGates, gateText, parseGate, parseGates,
} from '../../src/pipelines/compare.js';
import type { Evaluation } from '../../src/pipelines/evaluate.js';
import { METRIC_NAMES } from '../../src/pipelines/metrics.js';

const DATA = { path: 'holdout.csv', sha256: 'ab12cd34ef56'.padEnd(64, '0'), rows: 20_000, labelledRows: 19_990 };

function binary(metrics: Record<string, number>, model: Partial<Evaluation['model']> = {}): Evaluation {
  return {
    model: { ref: 'credit@candidate', name: 'credit', version: 2, sha256: '1'.repeat(64), ...model },
    task: 'binary-classification',
    labelColumn: 'label',
    rows: 20_000,
    labelledRows: 19_990,
    metrics,
    headline: (['accuracy', 'roc_auc', 'f1'] as const).filter((m) => metrics[m] !== undefined),
    datasets: [DATA],
    seconds: 0.4,
  };
}

function regression(metrics: Record<string, number>): Evaluation {
  return { ...binary({}), task: 'regression', metrics, headline: (['rmse', 'mae', 'r2'] as const).filter((m) => metrics[m] !== undefined) };
}

const CHAMPION = binary({ accuracy: 0.8663, roc_auc: 0.774, f1: 0.2614, log_loss: 0.3425 }, { ref: 'credit@production', version: 1, sha256: '2'.repeat(64) });

function thrown(f: () => unknown): BerthError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected an error');
}

describe('default gates', () => {
  it('allow a drop of 0.5 points in a 0–1 metric and refuse 0.6', () => {
    expect(DEFAULT_MAX_DROP_POINTS).toBe(0.5);
    const ok = compareEvaluations(binary({ ...CHAMPION.metrics, accuracy: 0.8663 - 0.004 }), CHAMPION);
    expect(ok.passed).toBe(true);
    expect(ok.reasons).toEqual([]);
    const bad = compareEvaluations(binary({ ...CHAMPION.metrics, accuracy: 0.8663 - 0.006 }), CHAMPION);
    expect(bad.passed).toBe(false);
    expect(bad.reasons).toEqual(['accuracy fell by 0.60 pt (0.8663 → 0.8603), more than the 0.5 pt allowed']);
    expect(bad.rows.find((r) => r.metric === 'accuracy')).toMatchObject({ passed: false, limit: '−0.5 pt at most', champion: 0.8663 });
    expect(bad.rows.find((r) => r.metric === 'accuracy')!.delta).toBeCloseTo(-0.006, 12);
  });

  it('sit exactly at the limit: 0.8663 → 0.8613 passes, 0.8612 does not', () => {
    expect(compareEvaluations(binary({ ...CHAMPION.metrics, accuracy: 0.8613 }), CHAMPION).passed).toBe(true);
    expect(compareEvaluations(binary({ ...CHAMPION.metrics, accuracy: 0.8612 }), CHAMPION).passed).toBe(false);
    const champ = regression({ rmse: 58.25, mae: 46.7077, r2: 0.3797 });
    expect(compareEvaluations(regression({ rmse: 58.54, mae: 46.7077, r2: 0.3797 }), champ).passed).toBe(true);
    expect(compareEvaluations(regression({ rmse: 58.55, mae: 46.7077, r2: 0.3797 }), champ).passed).toBe(false);
  });

  it('gate the headline metrics only (accuracy, roc_auc, f1 for a binary classifier); log_loss is shown, not gated', () => {
    const c = compareEvaluations(binary({ ...CHAMPION.metrics, log_loss: 0.9 }), CHAMPION);
    expect(c.passed).toBe(true);
    expect(c.gates).toEqual(defaultGates(['accuracy', 'roc_auc', 'f1']));
    expect(c.rows.map((r) => [r.metric, r.limit !== null])).toEqual([['accuracy', true], ['roc_auc', true], ['f1', true], ['log_loss', false]]);
  });

  it('allow an error metric to rise 0.5 % of the champion and refuse 0.6 %', () => {
    expect(DEFAULT_MAX_RISE_PERCENT).toBe(0.5);
    const champ = regression({ rmse: 58.2501, mae: 46.7077, r2: 0.3797 });
    expect(compareEvaluations(regression({ rmse: 58.2501 * 1.004, mae: 46.7077, r2: 0.3797 }), champ).passed).toBe(true);
    const bad = compareEvaluations(regression({ rmse: 58.2501 * 1.006, mae: 46.7077, r2: 0.3797 }), champ);
    expect(bad.passed).toBe(false);
    expect(bad.reasons).toEqual(['rmse rose by 0.60 % (58.2501 → 58.5996), more than the 0.5 % allowed']);
  });

  it('read R² in points although it is not bounded below', () => {
    const champ = regression({ rmse: 58.2501, mae: 46.7077, r2: 0.3797 });
    expect(compareEvaluations(regression({ rmse: 58.2501, mae: 46.7077, r2: 0.3757 }), champ).passed).toBe(true);
    const bad = compareEvaluations(regression({ rmse: 58.2501, mae: 46.7077, r2: 0.3737 }), champ);
    expect(bad.reasons).toEqual(['r2 fell by 0.60 pt (0.3797 → 0.3737), more than the 0.5 pt allowed']);
  });

  it('pass a candidate identical to the champion, and one that is better everywhere', () => {
    expect(compareEvaluations(binary(CHAMPION.metrics), CHAMPION).passed).toBe(true);
    expect(compareEvaluations(binary({ accuracy: 0.9, roc_auc: 0.8, f1: 0.5, log_loss: 0.3 }), CHAMPION).passed).toBe(true);
  });

  it('fail a headline metric the candidate lost (ROC AUC without probabilities)', () => {
    const c = compareEvaluations(binary({ accuracy: 0.8663, f1: 0.2614 }), CHAMPION);
    expect(c.passed).toBe(false);
    expect(c.reasons[0]).toMatch(/^roc_auc: the candidate has no roc_auc/);
  });
});

describe('the gate grammar', () => {
  it('reads each form', () => {
    expect(parseGate('accuracy:-0.5pt')).toEqual({ metric: 'accuracy', maxDrop: 0.5 });
    expect(parseGate(' roc_auc : - 1 pt ')).toEqual({ metric: 'roc_auc', maxDrop: 1 });
    expect(parseGate('rmse:+2%')).toEqual({ metric: 'rmse', maxRise: 2 });
    expect(parseGate('roc_auc>=0.75')).toEqual({ metric: 'roc_auc', min: 0.75 });
    expect(parseGate('log_loss<=0.4')).toEqual({ metric: 'log_loss', max: 0.4 });
    expect(parseGate('r2>=-0.5')).toEqual({ metric: 'r2', min: -0.5 });
    expect(parseGate('ACCURACY:-.25pt')).toEqual({ metric: 'accuracy', maxDrop: 0.25 });
  });

  it('writes gates back in the same grammar', () => {
    for (const t of ['accuracy:-0.5pt', 'rmse:+2%', 'roc_auc>=0.75', 'log_loss<=0.4']) expect(gateText(parseGate(t))).toBe(t);
  });

  it('refuses an unknown metric with the list of known ones', () => {
    const err = thrown(() => parseGate('auc>=0.7', '--gate'));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.context).toMatchObject({ field: '--gate', got: 'auc' });
    expect(err.message).toBe(`--gate: expected a known metric: ${METRIC_NAMES.join(', ')}, got "auc"`);
  });

  it('refuses a drop in points on an error metric and a rise in percent on a score, saying which fits', () => {
    expect(thrown(() => parseGate('rmse:-1pt')).message).toMatch(/a max rise for rmse, where lower is better \(rmse:\+2%\)/);
    expect(thrown(() => parseGate('accuracy:+1%')).message).toMatch(/a max drop for accuracy, where higher is better \(accuracy:-0.5pt\)/);
  });

  it('refuses text that is no gate, showing the grammar', () => {
    for (const t of ['accuracy', 'accuracy:-0.5', 'accuracy>0.9', 'accuracy:0.5pt', 'accuracy>=high', '']) {
      const err = thrown(() => parseGate(t));
      expect(err.code, t).toBe('INVALID_ARGUMENT');
      expect(err.message, t).toContain('accuracy:-0.5pt, rmse:+2%, roc_auc>=0.75 or log_loss<=0.4');
    }
  });
});

describe('gates as objects (a pipeline\'s YAML)', () => {
  it('reads strings and objects, several thresholds on one metric', () => {
    expect(parseGates(['accuracy:-1pt', { metric: 'roc_auc', maxDrop: 0.5, min: 0.75 }, { metric: 'log_loss', maxRise: 3, max: 0.5 }])).toEqual([
      { metric: 'accuracy', maxDrop: 1 },
      { metric: 'roc_auc', maxDrop: 0.5, min: 0.75 },
      { metric: 'log_loss', maxRise: 3, max: 0.5 },
    ]);
    expect(parseGates(undefined)).toEqual([]);
  });

  it('names every wrong field at once', () => {
    const err = thrown(() => parseGates([{ metric: 'accuracy', maxDrop: -1 }, { metric: 'rmse', maxDrop: 1 }, { metric: 'mae', maxRise: 1, limit: 2 }, 'nope>=1', 7], 'steps[1].gates'));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.context['field']).toBe('steps[1].gates[0].maxDrop');
    const fields = (err.context['problems'] as { field: string }[]).map((p) => p.field);
    expect(fields).toEqual([
      'steps[1].gates[0].maxDrop',
      'steps[1].gates[1].maxDrop',
      'steps[1].gates[2].limit',
      'steps[1].gates[3]',
      'steps[1].gates[4]',
    ]);
    expect(err.message).toContain('steps[1].gates[0].maxDrop: expected a number ≥ 0 (points), got -1');
  });

  it('refuses an object without a metric or without a threshold', () => {
    expect(thrown(() => parseGates([{ maxDrop: 1 }])).context).toMatchObject({ field: 'gates[0].metric' });
    expect(thrown(() => parseGates([{ metric: 'accuracy' }])).context).toMatchObject({ field: 'gates[0]', expected: 'at least one of maxDrop, maxRise, min, max' });
  });
});

describe('given gates', () => {
  it('replace the defaults: a floor fails a candidate equal to the champion', () => {
    const c = compareEvaluations(binary(CHAMPION.metrics), CHAMPION, [parseGate('accuracy>=0.95')]);
    expect(c.passed).toBe(false);
    expect(c.reasons).toEqual(['accuracy 0.8663 is below the floor 0.95']);
    expect(c.gates).toEqual([{ metric: 'accuracy', min: 0.95 }]);
    expect(c.rows.filter((r) => r.limit !== null).map((r) => r.metric)).toEqual(['accuracy']);
  });

  it('judge ceilings, relative rises and drops, one reason per failed threshold', () => {
    const cand = binary({ accuracy: 0.85, roc_auc: 0.76, f1: 0.2614, log_loss: 0.36 });
    const c = compareEvaluations(cand, CHAMPION, parseGates(['accuracy:-2pt', 'roc_auc:-1pt', { metric: 'roc_auc', min: 0.765 }, 'log_loss:+10%', 'log_loss<=0.35']));
    expect(c.reasons).toEqual([
      'roc_auc fell by 1.40 pt (0.7740 → 0.7600), more than the 1 pt allowed',
      'roc_auc 0.7600 is below the floor 0.765',
      'log_loss 0.3600 is above the ceiling 0.35',
    ]);
    expect(c.rows.find((r) => r.metric === 'roc_auc')!.limit).toBe('−1 pt at most, ≥ 0.765');
    expect(c.rows.find((r) => r.metric === 'accuracy')!.passed).toBe(true);
    expect(c.rows.find((r) => r.metric === 'log_loss')!.passed).toBe(false);
  });

  it('refuse a metric the task does not compute', () => {
    const err = thrown(() => compareEvaluations(binary(CHAMPION.metrics), CHAMPION, [parseGate('rmse:+1%')]));
    expect(err.context).toMatchObject({ field: 'gates[0].metric', got: 'rmse' });
    expect(err.message).toContain('rmse is not computed for a binary-classification model; expected one of accuracy, precision, recall, f1, roc_auc, log_loss');
  });
});

describe('what cannot be compared', () => {
  it('refuses evaluations on different data', () => {
    const other = { ...binary(CHAMPION.metrics), datasets: [{ ...DATA, sha256: 'f'.repeat(64) }] };
    expect(thrown(() => compareEvaluations(other, CHAMPION)).context).toMatchObject({ field: 'datasets' });
    expect(thrown(() => compareEvaluations({ ...binary(CHAMPION.metrics), labelColumn: 'y' }, CHAMPION)).context).toMatchObject({ field: 'datasets' });
  });

  it('refuses models of different tasks', () => {
    expect(thrown(() => compareEvaluations(regression({ rmse: 1 }), CHAMPION)).context).toMatchObject({ field: 'task', expected: 'binary-classification', got: 'regression' });
  });
});

describe('the Markdown summary', () => {
  it('says ✅, shows every number, the data with its sha256 prefix and both models', () => {
    const md = comparisonMarkdown(compareEvaluations(binary({ accuracy: 0.8671, roc_auc: 0.7755, f1: 0.27, log_loss: 0.34 }), CHAMPION), { seconds: 1.25 });
    expect(md).toContain('✅ **Passed**: candidate `credit@candidate` meets all 3 gates against champion `credit@production`.');
    expect(md).toContain('| metric | champion | candidate | change | gate | result |');
    expect(md).toContain('| accuracy | 0.8663 | 0.8671 | +0.08 pt | −0.5 pt at most | ✅ |');
    expect(md).toContain('| log_loss | 0.3425 | 0.3400 | −0.73 % |  |  |');
    expect(md).toContain('- `holdout.csv`: 20,000 rows, 19,990 labelled, sha256 `ab12cd34ef56`');
    expect(md).toContain('- candidate `credit@candidate`: credit version 2, sha256 `111111111111`');
    expect(md).toContain('- champion `credit@production`: credit version 1, sha256 `222222222222`');
    expect(md).toContain('1.3 s');
    expect(md).not.toContain('❌');
  });

  it('says ❌ with the reasons when a gate fails', () => {
    const md = comparisonMarkdown(compareEvaluations(binary({ ...CHAMPION.metrics, accuracy: 0.8263 }), CHAMPION));
    expect(md).toContain('❌ **Failed**: candidate `credit@candidate` fails 1 of 3 gates against champion `credit@production`.');
    expect(md).toContain('| accuracy | 0.8663 | 0.8263 | −4.00 pt | −0.5 pt at most | ❌ |');
    expect(md).toContain('**Why it failed**\n\n- accuracy fell by 4.00 pt (0.8663 → 0.8263), more than the 0.5 pt allowed');
  });

  it('names an unregistered candidate by its file', () => {
    const cand = binary(CHAMPION.metrics, { ref: undefined, version: undefined, name: 'model.onnx', file: 'out/model.onnx' });
    delete cand.model.ref;
    delete cand.model.version;
    const md = comparisonMarkdown(compareEvaluations(cand, CHAMPION));
    expect(md).toContain('- candidate `model.onnx (out/model.onnx)`: unregistered file, sha256 `111111111111`');
  });
});

/**
 * Performance metrics against the values scikit-learn computed for the fixture cards (accuracy,
 * ROC AUC, log loss, RMSE), the confidence-based estimate, fairness on hand-checked numbers, and the
 * quality checks the fixtures do not exercise (type errors, constant columns).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCsvFile, type Table } from '../../src/data/index.js';
import {
  analyzeQuality,
  classificationMetrics,
  estimateAccuracy,
  fairnessReport,
  fitCalibration,
  monitoringSchema,
  regressionMetrics,
  rocAuc,
  tableToInputs,
} from '../../src/monitor/index.js';
import { mergeCardIntoSignature, parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import type { Signature, Tensor } from '../../src/core/index.js';
import { fixturePath } from '../helpers/fixtures.js';

const backend = new OnnxBackend();

async function predict(model: string, file: string): Promise<{ table: Table; outputs: Tensor[]; sig: Signature }> {
  const cardFile = fixturePath(model, 'card.json');
  const card = parseCard(readFileSync(cardFile, 'utf8'), cardFile);
  const bytes = readFileSync(fixturePath(model));
  const sig = mergeCardIntoSignature(await backend.inspect(bytes), card);
  const table = await readCsvFile(fixturePath(model, file));
  const loaded = await backend.load(bytes, { intraOpThreads: 1, interOpThreads: 1 });
  try {
    const outputs = await loaded.run(tableToInputs(table, sig, monitoringSchema(sig, card)));
    return { table, outputs, sig };
  } finally {
    await loaded.dispose();
  }
}

function labelsOf(t: Table): Int32Array {
  const c = t.columns.find((x) => x.name === 'label')!;
  if (c.type !== 'double' && c.type !== 'int64') throw new Error('label is not numeric');
  return Int32Array.from(c.values);
}

describe('classification metrics match scikit-learn (credit card values)', () => {
  const cases = [
    ['current_nodrift.csv', { accuracy: 0.8663, roc_auc: 0.774, log_loss: 0.3425 }],
    ['current_concept_drift.csv', { accuracy: 0.7703, roc_auc: 0.7983, log_loss: 0.5173 }],
  ] as const;
  it.each(cases)('%s', async (file, expected) => {
    const { table, outputs } = await predict('credit', file);
    const probs = outputs.find((o) => o.name === 'probabilities')!.data as Float32Array;
    const label = outputs.find((o) => o.name === 'label')!.data as BigInt64Array;
    const m = classificationMetrics(Int32Array.from(label, Number), labelsOf(table), 2, Float64Array.from(probs), 1)!;
    expect(m.rows).toBe(20000);
    expect(m.accuracy).toBeCloseTo(expected.accuracy, 4);
    expect(m.rocAuc!).toBeCloseTo(expected.roc_auc, 3);
    expect(m.logLoss!).toBeCloseTo(expected.log_loss, 4);
  });

  it('ROC AUC counts ties as half (the Mann–Whitney statistic)', () => {
    // positives at 0.9 and 0.5, negatives at 0.5 and 0.1: pairs (0.9>0.5) (0.9>0.1) (0.5=0.5 → ½) (0.5>0.1) → 3.5/4
    expect(rocAuc(Float64Array.of(0.9, 0.5, 0.5, 0.1), Int32Array.of(1, 1, 0, 0), 1)).toBe(0.875);
    expect(rocAuc(Float64Array.of(0.9, 0.5), Int32Array.of(1, 1), 1)).toBeNull();
  });
});

describe('regression metrics match scikit-learn (diabetes card values)', () => {
  it.each([
    ['current_nodrift.csv', 58.2501],
    ['current_concept_drift.csv', 80.2847],
  ] as const)('%s: RMSE %s', async (file, rmse) => {
    const { table, outputs } = await predict('diabetes-gbt-regressor', file);
    const pred = Float64Array.from(outputs[0]!.data as Float32Array);
    const truth = Float64Array.from(labelsOf(table));
    expect(regressionMetrics(pred, truth)!.rmse).toBeCloseTo(rmse, 2);
  });
});

describe('accuracy estimated from confidence', () => {
  it('calibrated on the reference, it estimates the held-out accuracy without labels (optimistic by the overfit), and cannot see concept drift', async () => {
    const fit = async (file: string): Promise<{ conf: Float64Array; correct: Uint8Array }> => {
      const { table, outputs } = await predict('credit', file);
      const probs = outputs.find((o) => o.name === 'probabilities')!.data as Float32Array;
      const label = outputs.find((o) => o.name === 'label')!.data as BigInt64Array;
      const truth = labelsOf(table);
      const conf = Float64Array.from(label, (l, i) => probs[i * 2 + Number(l)]!);
      return { conf, correct: Uint8Array.from(label, (l, i) => (Number(l) === truth[i] ? 1 : 0)) };
    };
    const ref = await fit('reference.csv');
    const cal = fitCalibration(ref.conf, ref.correct)!;
    const held = await fit('current_nodrift.csv');
    const est = estimateAccuracy(cal, held.conf)!.accuracy;
    // calibrated on the training data, the estimate inherits its optimism (train accuracy 0.89 vs 0.866 held out)
    expect(Math.abs(est - 0.8663)).toBeLessThan(0.02);
    const concept = await fit('current_concept_drift.csv');
    // the inputs are the same, so the estimate stays put while the realised accuracy falls to 0.77
    expect(Math.abs(estimateAccuracy(cal, concept.conf)!.accuracy - est)).toBeLessThan(1e-9);
  });
});

describe('fairness', () => {
  it('computes group rates, parity, equalized odds and the four-fifths rule on a hand-checked example', () => {
    // group a: 10 rows, 5 predicted positive; labels: positives {0,1,2,5}, so TP 3 (0,1,2), FN 1 (5), FP 2 (3,4), TN 4
    // group b: 10 rows, 3 predicted positive; labels: positives {0,3,6}, so TP 1 (0), FN 2 (3,6), FP 2 (1,2), TN 5
    const group = [...Array(10).fill('a'), ...Array(10).fill('b')] as string[];
    const pred = Uint8Array.from([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    const truth = Int8Array.from([1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0]);
    const r = fairnessReport('g', 'yes', group, pred, truth, null, 5)!;
    const a = r.groups.find((g) => g.group === 'a')!;
    const b = r.groups.find((g) => g.group === 'b')!;
    expect(a).toMatchObject({ rows: 10, selectionRate: 0.5, truePositiveRate: 0.75, falsePositiveRate: 2 / 6, accuracy: 0.7 });
    expect(b).toMatchObject({ rows: 10, selectionRate: 0.3, truePositiveRate: 1 / 3, falsePositiveRate: 2 / 7, accuracy: 0.6 });
    expect(r.demographicParityDifference).toBeCloseTo(0.2, 12);
    expect(r.demographicParityRatio).toBeCloseTo(0.6, 12);
    expect(r.disparateImpact).toBeCloseTo(0.6, 12);
    expect(r.fourFifthsViolated).toBe(true);
    expect(r.equalizedOddsDifference).toBeCloseTo(0.75 - 1 / 3, 12);
  });

  it('leaves groups too small to compare out of the comparison', () => {
    const group = [...Array(40).fill('big1'), ...Array(40).fill('big2'), 'tiny', 'tiny'];
    const pred = Uint8Array.from([...Array(40).fill(1), ...Array(40).fill(1), 0, 0]);
    const r = fairnessReport('g', 'yes', group, pred, new Int8Array(82).fill(-1))!;
    expect(r.disparateImpact).toBe(1);
    expect(r.fourFifthsViolated).toBe(false);
    expect(r.equalizedOddsDifference).toBeNull();
  });
});

describe('quality checks the fixtures do not cover', () => {
  let ref: Table;
  beforeAll(async () => {
    ref = await readCsvFile(fixturePath('credit', 'reference.csv'));
  });

  it('counts text in a numeric column as type errors, and flags a column stuck on one value', () => {
    const n = 200;
    const ageCodes = new Int32Array(n).map((_, i) => (i % 20 === 0 ? 2 : i % 2));
    const table: Table = {
      rows: n,
      columns: [
        { name: 'age', type: 'string', dictionary: ['41', '52', 'forty'], codes: ageCodes },
        { name: 'region', type: 'string', dictionary: ['west'], codes: new Int32Array(n) },
      ],
    };
    const q = analyzeQuality(table, [
      { name: 'age', kind: 'numeric', missingShare: 0, min: 18, max: 80, rows: ref.rows },
      { name: 'region', kind: 'categorical', missingShare: 0, categories: ['northeast', 'midwest', 'south', 'west'], distinct: 4 },
    ]);
    const age = q.columns.find((c) => c.name === 'age')!;
    expect(age.typeErrors).toMatchObject({ count: 10, share: 0.05, examples: ['forty'] });
    expect(age.missing.count).toBe(0);
    expect(q.columns.find((c) => c.name === 'region')!.constant).toBe(true);
    expect(q.findings.map((f) => `${f.check}:${f.column}`).sort()).toEqual(['constant_column:region', 'type_error:age']);
  });
});

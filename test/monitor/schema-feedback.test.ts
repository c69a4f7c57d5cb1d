import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, type Signature } from '../../src/core/index.js';
import { RateSampler } from '../../src/monitor/inference-log/sampler.js';
import { parseFeedback } from '../../src/monitor/feedback.js';
import { monitoringSchema, profileColumns, type MonitoringSchema } from '../../src/monitor/schema.js';
import { mergeCardIntoSignature, parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { fixturePath } from '../helpers/fixtures.js';

const backend = new OnnxBackend();
const schemas: Record<string, MonitoringSchema> = {};
const signatures: Record<string, Signature> = {};

beforeAll(async () => {
  for (const m of ['credit', 'breast-cancer-gbt', 'diabetes-gbt-regressor', 'tabular-mixed', 'digits-mlp', 'wide-mlp']) {
    const cardFile = fixturePath(m, 'card.json');
    const card = parseCard(readFileSync(cardFile, 'utf8'), cardFile);
    const sig = mergeCardIntoSignature(await backend.inspect(readFileSync(fixturePath(m))), card);
    signatures[m] = sig;
    schemas[m] = monitoringSchema(sig, card);
  }
});

describe('monitoringSchema', () => {
  it('credit: 12 numeric features, 3 string categoricals with their vocabularies, a binary classifier', () => {
    const s = schemas['credit']!;
    expect(s.features.map((f) => f.name)).toEqual([
      'age', 'annual_income', 'employment_years', 'credit_history_years', 'loan_amount', 'loan_term_months', 'interest_rate',
      'debt_to_income', 'credit_utilization', 'num_credit_lines', 'num_delinquencies_2y', 'num_inquiries_6m',
      'home_ownership', 'loan_purpose', 'region',
    ]);
    expect(s.features.filter((f) => f.kind === 'categorical').map((f) => f.name)).toEqual(['home_ownership', 'loan_purpose', 'region']);
    expect(s.features.find((f) => f.name === 'region')!.vocabulary).toEqual(['northeast', 'midwest', 'south', 'west']);
    expect(s.features.find((f) => f.name === 'interest_rate')).toMatchObject({ input: 'numeric', index: 6, width: 12 });
    expect(s.prediction).toMatchObject({
      kind: 'classification', classes: ['0', '1'], classNames: ['repaid', 'default'], positiveIndex: 1,
      labelOutput: 'label', probabilitiesOutput: 'probabilities',
    });
    expect(s.labelColumn).toBe('label');
    expect(profileColumns(s).slice(-2)).toEqual([{ name: 'prediction', kind: 'categorical' }, { name: 'score', kind: 'numeric' }]);
  });

  it('tabular-mixed: the integer city id with a vocabulary is categorical by id; the model is a regressor', () => {
    const s = schemas['tabular-mixed']!;
    const city = s.features.find((f) => f.name === 'city_id')!;
    expect(city).toMatchObject({ kind: 'categorical', input: 'category', validRange: [0, 11] });
    expect(city.vocabulary).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
    expect(s.prediction).toMatchObject({ kind: 'regression', valueOutput: 'eta_minutes' });
    expect(profileColumns(s, { label: true }).slice(-2)).toEqual([{ name: 'prediction', kind: 'numeric' }, { name: 'label', kind: 'numeric' }]);
  });

  it('digits-mlp: 64 named pixels are features; wide-mlp: 256 unnamed values are logged raw, not profiled', () => {
    expect(schemas['digits-mlp']!.features).toHaveLength(64);
    const s = schemas['wide-mlp']!;
    expect(s.features).toEqual([]);
    expect(s.rawInputs).toEqual([{ name: 'input', datatype: 'FP32', width: 256 }]);
    expect(s.prediction.kind).toBe('none');
  });

  it('a berth card names the label column, sensitive attributes and positive class', () => {
    const card = parseCard(
      'format: berth-card/1\ntask: binary-classification\nclasses: {labels: [0, 1], names: [repaid, default]}\n' +
        'monitoring: {label_column: defaulted, sensitive_attributes: [region], positive_class: repaid}\n',
      'card.yaml',
    );
    const s = monitoringSchema(signatures['credit']!, card);
    expect(s.labelColumn).toBe('defaulted');
    expect(s.sensitiveAttributes).toEqual(['region']);
    expect(s.prediction.positiveIndex).toBe(0);
    expect(() => parseCard('format: berth-card/1\nclasses: {labels: [0, 1]}\nmonitoring: {positive_class: 7, sensitve: [x]}\n', 'c.yaml')).toThrow(
      /monitoring.sensitve: expected a known field[\s\S]*monitoring.positive_class: expected one of the classes \[0,1\], got 7/,
    );
  });
});

describe('parseFeedback', () => {
  it('accepts one label, a label per row, a row index and batches; class names map to labels', () => {
    const s = schemas['credit']!;
    expect(parseFeedback({ request_id: 'a', label: 1 }, s)).toEqual([{ requestId: 'a', row: 0, label: '1' }]);
    expect(parseFeedback({ request_id: 'a', label: ['default', 0, true] }, s)).toEqual([
      { requestId: 'a', row: 0, label: '1' }, { requestId: 'a', row: 1, label: '0' }, { requestId: 'a', row: 2, label: '1' },
    ]);
    expect(parseFeedback({ items: [{ request_id: 'b', row: 4, label: 'repaid' }, { request_id: 'c', label: '1' }] }, s)).toEqual([
      { requestId: 'b', row: 4, label: '0' }, { requestId: 'c', row: 0, label: '1' },
    ]);
    expect(parseFeedback({ request_id: 'r', label: 31.5 }, schemas['diabetes-gbt-regressor']!)).toEqual([{ requestId: 'r', row: 0, label: '31.5' }]);
  });

  it('refuses bad bodies naming the field, what it expected and what came', () => {
    const s = schemas['credit']!;
    const err = (body: unknown, schema = s): BerthError => {
      try {
        parseFeedback(body, schema);
      } catch (e) {
        return e as BerthError;
      }
      throw new Error('no error');
    };
    expect(err({ request_id: 'a', label: 'maybe' }).message).toBe('label: expected one of the classes 0 (repaid), 1 (default), got "maybe"');
    expect(err({ items: [{ request_id: 'a', label: 1 }, { label: 1 }] }).message).toBe(
      'items[1].request_id: expected the non-empty request id the prediction was answered with (x-request-id), at most 256 characters, got undefined',
    );
    expect(err({ request_id: 'a', row: -1, label: 1 }).context.field).toBe('row');
    expect(err({ items: [] }).message).toMatch(/^items: expected at least one item/);
    expect(err([1, 2]).context.field).toBe('body');
    expect(err({ request_id: 'r', label: 'x' }, schemas['diabetes-gbt-regressor']!).message).toBe('label: expected a finite number (this model is a regressor), got "x"');
    expect(err({ request_id: 5, label: 1 }).code).toBe('INVALID_ARGUMENT');
  });
});

describe('RateSampler', () => {
  it('keeps every row below the ceiling and about the ceiling above it, with weights that add up to the traffic', () => {
    const s = new RateSampler(1, 1000, 7);
    // 500 rows/s for 10 s: all kept at probability 1
    let kept = 0;
    for (let t = 0; t < 10_000; t += 2) kept += s.probability(1, t) > 0 ? 1 : 0;
    expect(kept).toBe(5000);
    // then 10,000 rows/s for 10 s: about 1,000 rows/s kept, and the weights estimate the 100,000 rows
    let weight = 0;
    let keptHigh = 0;
    for (let i = 0; i < 100_000; i++) {
      const p = s.probability(1, 10_000 + i / 10);
      if (p > 0) {
        keptHigh++;
        weight += 1 / p;
      }
    }
    expect(keptHigh).toBeGreaterThan(9_000);
    expect(keptHigh).toBeLessThan(16_000);
    expect(Math.abs(weight - 100_000) / 100_000).toBeLessThan(0.1);
  });

  it('samples at the base rate when asked to', () => {
    const s = new RateSampler(0.25, 0, 3);
    let kept = 0;
    for (let i = 0; i < 40_000; i++) if (s.probability(1, i) > 0) kept++;
    expect(kept / 40_000).toBeGreaterThan(0.23);
    expect(kept / 40_000).toBeLessThan(0.27);
  });
});

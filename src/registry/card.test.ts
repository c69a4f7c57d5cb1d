import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BerthError, type Datatype, type ModelCard, type Signature } from '../core/index.js';
import { mergeCardIntoSignature, parseCard } from './card.js';
import { FIXTURES } from '../../test/helpers/fixtures.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const FIXTURE_NAMES = readdirSync(FIXTURES).filter((d) => existsSync(join(FIXTURES, d, 'card.json'))).sort();

function fixtureCard(name: string): ModelCard {
  const p = join(FIXTURES, name, 'card.json');
  return parseCard(readFileSync(p, 'utf8'), p);
}

const DTYPES: Record<string, Datatype> = { float32: 'FP32', int64: 'INT64', string: 'BYTES' };

/** The signature an ONNX reader would report, rebuilt from the fixture card's own dtype/shape lines. */
function fixtureSignature(name: string): Signature {
  const doc = JSON.parse(readFileSync(join(FIXTURES, name, 'card.json'), 'utf8')) as {
    inputs: { name: string; dtype: string; shape: number[] }[];
    outputs: { name: string; dtype: string; shape: number[] }[];
  };
  const spec = (t: { name: string; dtype: string; shape: number[] }) => ({ name: t.name, datatype: DTYPES[t.dtype]!, shape: t.shape });
  return { inputs: doc.inputs.map(spec), outputs: doc.outputs.map(spec), batchable: true };
}

function cardError(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('INVALID_CARD');
    return err as BerthError;
  }
  throw new Error('expected INVALID_CARD');
}

const FLOAT_SIG: Signature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }],
  outputs: [
    { name: 'label', datatype: 'INT64', shape: [-1] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
  ],
  batchable: true,
};

describe('parseCard with fixture cards', () => {
  it('finds all eight fixture cards', () => {
    expect(FIXTURE_NAMES).toHaveLength(8);
  });

  it.each(FIXTURE_NAMES)('parses the %s fixture card and keeps the original document', (name) => {
    const card = fixtureCard(name);
    expect(card.format).toBe('berth-card/1');
    expect(card.title).toBeTypeOf('string');
    expect(card.source?.format).toBe('fixture-card/1');
    expect((card.source?.document as { name: string }).name).toBe(name);
    expect(card.inputs?.length).toBeGreaterThan(0);
    for (const v of Object.values(card.metrics ?? {})) expect(v).toBeTypeOf('number');
  });

  it.each(FIXTURE_NAMES)('merges the %s fixture card into the signature of its model', (name) => {
    const sig = mergeCardIntoSignature(fixtureSignature(name), fixtureCard(name));
    for (const input of sig.inputs) {
      if (input.datatype === 'FP32') expect(input.allowNonFinite).toBe(true);
    }
  });

  it('maps the breast-cancer-gbt card: features, classes, numeric metrics, output roles, framework', () => {
    const card = fixtureCard('breast-cancer-gbt');
    expect(card.task).toBe('binary-classification');
    expect(card.features).toHaveLength(30);
    expect(card.inputs?.[0]?.features?.[0]).toBe('mean radius');
    expect(card.classes).toEqual({ labels: [0, 1], names: ['malignant', 'benign'] });
    expect(card.metrics).toEqual({ accuracy: 0.9439, roc_auc: 0.9851, log_loss: 0.1984, rows: 285 });
    expect(card.outputs).toEqual([
      { name: 'label', role: 'label' },
      { name: 'probabilities', role: 'probabilities', description: '[P(0), P(1)]' },
    ]);
    expect(card.lineage?.framework).toMatchObject({ name: 'scikit-learn', version: '1.2.1' });
    const sig = mergeCardIntoSignature(fixtureSignature('breast-cancer-gbt'), card);
    expect(sig.inputs[0]?.featureNames).toHaveLength(30);
  });

  it('maps the tabular-mixed card: an int64 category with its vocabulary and valid range, a regression value', () => {
    const card = fixtureCard('tabular-mixed');
    const category = card.inputs?.find((i) => i.name === 'category');
    expect(category?.vocabulary).toHaveLength(12);
    expect(category?.validRange).toEqual([0, 11]);
    expect(card.outputs).toEqual([{ name: 'eta_minutes', role: 'value', description: 'predicted delivery time (minutes)' }]);
    const sig = mergeCardIntoSignature(fixtureSignature('tabular-mixed'), card);
    const spec = sig.inputs.find((i) => i.name === 'category');
    expect(spec?.validRange).toEqual([0, 11]);
    expect(spec?.featureNames).toEqual(['city_id']);
    expect(spec?.allowNonFinite).toBeUndefined();
  });

  it('maps the credit card: string inputs with vocabularies', () => {
    const sig = mergeCardIntoSignature(fixtureSignature('credit'), fixtureCard('credit'));
    const region = sig.inputs.find((i) => i.name === 'region');
    expect(region?.datatype).toBe('BYTES');
    expect(region?.vocabulary).toEqual(['northeast', 'midwest', 'south', 'west']);
    expect(region?.validRange).toBeUndefined();
  });

  it('maps logits outputs and reads an unknown task as "other" without metrics', () => {
    expect(fixtureCard('digits-mlp').outputs?.[0]?.role).toBe('logits');
    const wide = fixtureCard('wide-mlp');
    expect(wide.task).toBe('other');
    expect(wide.metrics).toBeUndefined();
    expect(wide.outputs?.[0]?.role).toBeUndefined();
  });
});

describe('parseCard with berth-card/1', () => {
  it('parses the example card in YAML and fits it to the breast-cancer model', () => {
    const p = join(ROOT, 'examples', 'breast-cancer', 'card.yaml');
    const card = parseCard(readFileSync(p, 'utf8'), p);
    expect(card.source?.format).toBe('berth-card/1');
    expect(card.classes?.names).toEqual(['malignant', 'benign']);
    expect(card.lineage?.framework?.version).toBe('1.2.1');
    expect(card.tags).toEqual({ domain: 'oncology', example: 'true' });
    const sig = mergeCardIntoSignature(fixtureSignature('breast-cancer-gbt'), card);
    expect(sig.inputs[0]?.featureNames).toEqual(fixtureCard('breast-cancer-gbt').features);
    expect(sig.outputs[1]?.description).toBe('[P(malignant), P(benign)]');
  });

  it('parses the full example in docs/model-card.md and fits it to the tabular-mixed model', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'model-card.md'), 'utf8');
    const yaml = /## A full example\s+```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(yaml).toBeDefined();
    const card = parseCard(yaml!, 'card.yaml');
    expect(card.serving).toEqual({ maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueSize: 4096, timeoutMs: 1000 });
    const sig = mergeCardIntoSignature(fixtureSignature('tabular-mixed'), card);
    expect(sig.inputs.find((i) => i.name === 'numeric')?.allowNonFinite).toBe(false);
    expect(sig.inputs.find((i) => i.name === 'category')?.validRange).toEqual([0, 11]);
  });

  it('reads every berth-card field from JSON with snake_case keys', () => {
    const card = parseCard(
      JSON.stringify({
        format: 'berth-card/1',
        title: 'demo',
        task: 'regression',
        features: ['a', 'b', 'city'],
        inputs: [
          { name: 'x', features: ['a', 'b'], allow_non_finite: false },
          { name: 'city', features: ['city'], vocabulary: ['x', 'y'], valid_range: [0, 1], description: 'city id' },
        ],
        outputs: [{ name: 'y', role: 'value' }],
        metrics: { rmse: 1.5 },
        lineage: { framework: { name: 'torch', version: 2.1 }, dataset: 'd1', git_commit: 'abc', extra_note: 'kept' },
        tags: { team: 'eta', year: 2024 },
        allow_non_finite: true,
        serving: { max_batch_size: 32, max_queue_delay_ms: 0, max_queue_size: 100, timeout_ms: 500 },
      }),
      'card.json',
    );
    expect(card).toMatchObject({
      task: 'regression',
      inputs: [
        { name: 'x', features: ['a', 'b'], allowNonFinite: false },
        { name: 'city', features: ['city'], vocabulary: ['x', 'y'], validRange: [0, 1], description: 'city id' },
      ],
      lineage: { framework: { name: 'torch', version: '2.1' }, dataset: 'd1', gitCommit: 'abc', extraNote: 'kept' },
      tags: { team: 'eta', year: '2024' },
      allowNonFinite: true,
      serving: { maxBatchSize: 32, maxQueueDelayMs: 0, maxQueueSize: 100, timeoutMs: 500 },
    });
  });

  it('rejects an unknown format, naming the field and what to do', () => {
    const err = cardError(() => parseCard('format: berth-card/2\n', 'card.yaml'));
    expect(err.message).toContain('format: expected "berth-card/1"');
    expect(err.message).toContain('got "berth-card/2"');
    expect(err.message).toContain('docs/model-card.md');
    const none = cardError(() => parseCard('{"title": "x"}', 'card.json'));
    expect(none.message).toContain('format');
  });

  it('rejects invalid YAML and JSON syntax', () => {
    expect(cardError(() => parseCard('format: [unclosed', 'c.yaml')).message).toContain('not valid YAML');
    expect(cardError(() => parseCard('{"format": ', 'c.json')).message).toContain('not valid JSON');
    expect(cardError(() => parseCard('', 'c.yaml')).message).toContain('expected a mapping');
  });

  it('reports every bad field at once, each with what was expected and what came', () => {
    const err = cardError(() =>
      parseCard(
        [
          'format: berth-card/1',
          'task: clasification',
          'inputs:',
          '  - name: input',
          '    valid_range: [5, 1]',
          'serve: {}',
          'serving:',
          '  max_batch_size: 0',
          'classes:',
          '  labels: [0, 1]',
          '  names: [only-one]',
          'metrics:',
          '  accuracy: high',
        ].join('\n'),
        'card.yaml',
      ),
    );
    expect(err.message).toContain('task: expected one of binary-classification');
    expect(err.message).toContain('got "clasification"');
    expect(err.message).toContain('inputs[0].valid_range: expected [min, max]: two integers with min <= max, got [5,1]');
    expect(err.message).toContain('serve: expected a known field (did you mean "serving"?), got {}');
    expect(err.message).toContain('serving.max_batch_size: expected an integer >= 1, got 0');
    expect(err.message).toContain('classes.names: expected 2 names, one per label, got 1 names');
    expect(err.message).toContain('metrics.accuracy: expected a finite number, got "high"');
    expect(err.context.field).toBe('serve');
    expect(err.context['problems']).toHaveLength(6);
  });

  it('rejects an input without a name and unknown output roles', () => {
    const err = cardError(() => parseCard('format: berth-card/1\ninputs: [{features: [a]}]\noutputs: [{name: y, role: probs}]\n', 'c.yml'));
    expect(err.message).toContain('inputs[0].name: expected a non-empty name');
    expect(err.message).toContain('outputs[0].role: expected one of label, probabilities, logits, scores, value, got "probs"');
  });

  it('rejects per-input features missing from the top-level feature list', () => {
    const err = cardError(() => parseCard('format: berth-card/1\nfeatures: [a]\ninputs: [{name: x, features: [a, b]}]\n', 'c.yaml'));
    expect(err.message).toContain('inputs[0].features');
    expect(err.message).toContain('["b"]');
  });
});

describe('mergeCardIntoSignature', () => {
  const card = (yaml: string): ModelCard => parseCard(`format: berth-card/1\n${yaml}`, 'card.yaml');

  it('allows non-finite floats when the card is silent or absent', () => {
    expect(mergeCardIntoSignature(FLOAT_SIG, undefined).inputs[0]?.allowNonFinite).toBe(true);
    expect(mergeCardIntoSignature(FLOAT_SIG, card('title: t')).inputs[0]?.allowNonFinite).toBe(true);
  });

  it('applies the card-level allow_non_finite to float inputs unless the input overrides it', () => {
    expect(mergeCardIntoSignature(FLOAT_SIG, card('allow_non_finite: false')).inputs[0]?.allowNonFinite).toBe(false);
    const both = card('allow_non_finite: false\ninputs: [{name: input, allow_non_finite: true}]');
    expect(mergeCardIntoSignature(FLOAT_SIG, both).inputs[0]?.allowNonFinite).toBe(true);
  });

  it('applies top-level features to the single input and does not modify the given signature', () => {
    const sig = mergeCardIntoSignature(FLOAT_SIG, card('features: [a, b, c]'));
    expect(sig.inputs[0]?.featureNames).toEqual(['a', 'b', 'c']);
    expect(FLOAT_SIG.inputs[0]?.featureNames).toBeUndefined();
  });

  it('names unknown inputs and outputs and lists the model\'s real ones', () => {
    const err = cardError(() => mergeCardIntoSignature(FLOAT_SIG, card('inputs: [{name: inputz}]\noutputs: [{name: proba}]')));
    expect(err.message).toContain(`inputs: expected names of the model's inputs: input (FP32 [-1, 3]), got ["inputz"]`);
    expect(err.message).toContain(`outputs: expected names of the model's outputs: label (INT64 [-1]), probabilities (FP32 [-1, 2]), got ["proba"]`);
  });

  it('rejects a feature count that differs from the fixed last dimension', () => {
    const err = cardError(() => mergeCardIntoSignature(FLOAT_SIG, card('inputs: [{name: input, features: [a, b]}]')));
    expect(err.message).toContain('inputs[0] ("input").features: expected 3 feature names (input "input" has shape [-1, 3]), got 2 names');
  });

  it('rejects valid_range and vocabulary on a float input', () => {
    const err = cardError(() => mergeCardIntoSignature(FLOAT_SIG, card('inputs: [{name: input, valid_range: [0, 3], vocabulary: [a]}]')));
    expect(err.message).toContain('valid_range: expected an integer input, got a FP32 [-1, 3] input');
    expect(err.message).toContain('vocabulary: expected a BYTES (string) or integer input, got a FP32 [-1, 3] input');
  });

  it('derives [0, K-1] for an integer input with a K-name vocabulary and no range', () => {
    const sig: Signature = { inputs: [{ name: 'city', datatype: 'INT64', shape: [-1, 1] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }], batchable: true };
    const merged = mergeCardIntoSignature(sig, card('inputs: [{name: city, vocabulary: [a, b, c]}]'));
    expect(merged.inputs[0]?.validRange).toEqual([0, 2]);
    expect(merged.inputs[0]?.vocabulary).toEqual(['a', 'b', 'c']);
  });

  it('rejects a valid_range outside the integer type', () => {
    const sig: Signature = { inputs: [{ name: 'b', datatype: 'UINT8', shape: [-1, 1] }], outputs: [], batchable: true };
    const err = cardError(() => mergeCardIntoSignature(sig, card('inputs: [{name: b, valid_range: [0, 300]}]')));
    expect(err.message).toContain('expected a range within UINT8 [0, 255]');
  });

  it('rejects classes that do not match the width of a probabilities output', () => {
    const err = cardError(() =>
      mergeCardIntoSignature(FLOAT_SIG, card('classes: {labels: [a, b, c]}\noutputs: [{name: probabilities, role: probabilities}]')),
    );
    expect(err.message).toContain('expected 3 columns, one per class in classes.labels, got shape [-1, 2] (2 columns)');
  });
});

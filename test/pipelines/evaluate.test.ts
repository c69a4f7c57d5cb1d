/*
 * evaluateModel on the shared fixtures: the metrics must come out as the fixtures' cards document
 * them (computed by scikit-learn when the fixtures were made), rounded as the cards round them,
 * for a model given as files and for a version of a real embedded registry.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateModel, type Evaluation } from '../../src/pipelines/evaluate.js';
import { parseGate } from '../../src/pipelines/compare.js';
import { METRIC_NAMES } from '../../src/pipelines/metrics.js';
import { openEmbeddedRegistry, parseCard, type Registry } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { fixturePath, flatten, readCardJson, readGolden } from '../helpers/fixtures.js';

/** What a fixture's card documents for one of its monitoring files (`monitoring.files[file].model_metrics`). */
function documented(model: string, file = 'current_nodrift.csv'): Record<string, number> {
  const card = readCardJson(model) as { monitoring: { files: Record<string, { model_metrics: Record<string, number> }> } };
  return card.monitoring.files[file]!.model_metrics;
}

/** Rounded as the cards round (Python's round on the exact binary value, as toFixed does). */
const round4 = (v: number | undefined): number => Number(v!.toFixed(4));

function files(model: string, dataset = 'current_nodrift.csv'): Parameters<typeof evaluateModel>[0] {
  return { model: { kind: 'files', file: fixturePath(model), card: fixturePath(model, 'card.json') }, datasets: [fixturePath(model, dataset)] };
}

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-evaluate-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('evaluating the fixture models against their documented figures', () => {
  it('gives the credit model its documented accuracy 0.8663, ROC AUC 0.774 and log loss 0.3425 over 20,000 rows in well under a few seconds', async () => {
    const doc = documented('credit');
    expect(doc).toMatchObject({ accuracy: 0.8663, roc_auc: 0.774 });
    const started = performance.now();
    const e = await evaluateModel(files('credit'));
    const ms = performance.now() - started;
    expect(round4(e.metrics['accuracy'])).toBe(doc['accuracy']);
    expect(round4(e.metrics['roc_auc'])).toBe(doc['roc_auc']);
    expect(round4(e.metrics['log_loss'])).toBe(doc['log_loss']);
    expect(e).toMatchObject({ task: 'binary-classification', labelColumn: 'label', rows: 20_000, labelledRows: 20_000, headline: ['accuracy', 'roc_auc', 'f1'] });
    expect(e.datasets).toEqual([{ path: fixturePath('credit', 'current_nodrift.csv'), sha256: await sha256Of(fixturePath('credit', 'current_nodrift.csv')), rows: 20_000, labelledRows: 20_000 }]);
    expect(e.model).toEqual({ sha256: (readCardJson('credit')['onnx'] as { sha256: string }).sha256, file: fixturePath('credit') });
    expect(ms).toBeLessThan(3000);
    expect(e.seconds).toBeGreaterThan(0);
  });

  it('gives breast-cancer-gbt its documented accuracy 0.9439, ROC AUC and log loss', async () => {
    const doc = documented('breast-cancer-gbt');
    expect(doc['accuracy']).toBe(0.9439);
    const e = await evaluateModel(files('breast-cancer-gbt'));
    for (const m of ['accuracy', 'roc_auc', 'log_loss']) expect(round4(e.metrics[m]), m).toBe(doc[m]);
    expect(e.rows).toBe(doc['rows']);
  });

  it('gives the diabetes regressor its documented RMSE 58.2501, MAE and R²', async () => {
    const doc = documented('diabetes-gbt-regressor');
    expect(doc['rmse']).toBe(58.2501);
    const e = await evaluateModel(files('diabetes-gbt-regressor'));
    expect(e.task).toBe('regression');
    expect(e.headline).toEqual(['rmse', 'mae', 'r2']);
    for (const m of ['rmse', 'mae', 'r2']) expect(round4(e.metrics[m]), m).toBe(doc[m]);
    expect(Object.keys(e.metrics).sort()).toEqual(['mae', 'r2', 'rmse']);
  });

  it('measures the documented fall on the concept-drift file (credit 0.8663 → 0.7703)', async () => {
    const e = await evaluateModel(files('credit', 'current_concept_drift.csv'));
    expect(round4(e.metrics['accuracy'])).toBe(documented('credit', 'current_concept_drift.csv')['accuracy']);
  });

  it('pools several datasets: the pooled accuracy is the row-weighted mean of each one\'s', async () => {
    const a = await evaluateModel(files('breast-cancer-gbt'));
    const b = await evaluateModel(files('breast-cancer-gbt', 'current_concept_drift.csv'));
    const both = await evaluateModel({ ...files('breast-cancer-gbt'), datasets: [fixturePath('breast-cancer-gbt', 'current_nodrift.csv'), fixturePath('breast-cancer-gbt', 'current_concept_drift.csv')] });
    expect(both.rows).toBe(570);
    expect(both.datasets.map((d) => d.rows)).toEqual([285, 285]);
    expect(both.metrics['accuracy']).toBeCloseTo((a.metrics['accuracy']! + b.metrics['accuracy']!) / 2, 12);
  });
});

describe('a multiclass model', () => {
  it('reports accuracy and macro metrics of digits-mlp on its golden rows, labelled by the reference framework\'s argmax with 4 labels made wrong', async () => {
    const card = readCardJson('digits-mlp');
    const features = card['feature_names'] as string[];
    const golden = readGolden('digits-mlp').cases[0]!;
    const x = flatten(golden.inputs['input']!.data) as number[];
    const logits = flatten(golden.expected['logits']!.data) as number[];
    const lines = [[...features, 'label'].join(',')];
    for (let r = 0; r < 32; r++) {
      const row = logits.slice(r * 10, r * 10 + 10);
      const best = row.indexOf(Math.max(...row));
      const label = r < 4 ? (best + 1) % 10 : best;
      lines.push([...x.slice(r * 64, r * 64 + 64), label].join(','));
    }
    const file = path.join(work, 'digits.csv');
    await writeFile(file, lines.join('\n') + '\n');
    const e = await evaluateModel({ model: { kind: 'files', file: fixturePath('digits-mlp'), card: fixturePath('digits-mlp', 'card.json') }, datasets: [file] });
    expect(e.task).toBe('multiclass-classification');
    expect(e.metrics['accuracy']).toBe(28 / 32);
    expect(e.headline).toEqual(['accuracy', 'macro_f1']);
    expect(Object.keys(e.metrics).sort()).toEqual(['accuracy', 'log_loss', 'macro_f1', 'macro_precision', 'macro_recall', 'macro_roc_auc']);
  });
});

describe('a registered version', () => {
  let dataDir: string;
  let registry: Registry;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'berth-evaluate-registry-'));
    registry = await openEmbeddedRegistry(dataDir);
    const backend = new OnnxBackend();
    const cardFile = fixturePath('credit', 'card.json');
    await registry.registerVersion({ name: 'credit', filePath: fixturePath('credit'), card: parseCard(await readFile(cardFile, 'utf8'), cardFile), inspect: (b) => backend.inspect(b) });
    await registry.setAlias('credit', 'production', 1);
  });
  afterAll(async () => {
    await registry.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('evaluates credit@1 from the registry\'s artifact and card, with the same figures', async () => {
    const e = await evaluateModel({ model: { kind: 'registry', ref: 'credit@1' }, datasets: [fixturePath('credit', 'current_nodrift.csv')] }, { registry });
    expect(e.model).toEqual({ ref: 'credit@1', name: 'credit', version: 1, sha256: (readCardJson('credit')['onnx'] as { sha256: string }).sha256 });
    expect(round4(e.metrics['accuracy'])).toBe(0.8663);
    expect(round4(e.metrics['roc_auc'])).toBe(0.774);
  });

  it('resolves an alias to its version', async () => {
    const e = await evaluateModel({ model: { kind: 'registry', ref: 'credit@production' }, datasets: [fixturePath('credit', 'current_nodrift.csv')] }, { registry });
    expect(e.model).toMatchObject({ ref: 'credit@production', name: 'credit', version: 1 });
  });
});

describe('labels', () => {
  let csv: string[];
  beforeAll(async () => {
    csv = (await readFile(fixturePath('breast-cancer-gbt', 'current_nodrift.csv'), 'utf8')).trimEnd().split('\n');
  });

  it('skips and counts rows whose label is empty', async () => {
    const header = csv[0]!.split(',');
    const at = header.indexOf('label');
    const rows = csv.slice(1).map((line, i) => {
      const cells = line.split(',');
      if (i % 10 === 0) cells[at] = '';
      return cells.join(',');
    });
    const file = path.join(work, 'some-unlabelled.csv');
    await writeFile(file, [csv[0], ...rows].join('\n') + '\n');
    const e = await evaluateModel({ ...files('breast-cancer-gbt'), datasets: [file] });
    expect(e.rows).toBe(285);
    expect(e.labelledRows).toBe(285 - 29);
    expect(e.datasets[0]).toMatchObject({ rows: 285, labelledRows: 256 });
  });

  it('reads the label from another column, by class name, in a JSONL file', async () => {
    const header = csv[0]!.split(',');
    const names = (readCardJson('breast-cancer-gbt')['class_names'] as string[]);
    const lines = csv.slice(1).map((line) => {
      const cells = line.split(',');
      const row: Record<string, unknown> = {};
      header.forEach((h, i) => {
        if (h === 'label') row['diagnosis'] = names[Number(cells[i])];
        else row[h] = Number(cells[i]);
      });
      return JSON.stringify(row);
    });
    const file = path.join(work, 'named.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    const e = await evaluateModel({ ...files('breast-cancer-gbt'), datasets: [file], labelColumn: 'diagnosis' });
    expect(round4(e.metrics['accuracy'])).toBe(0.9439);
    expect(e.labelColumn).toBe('diagnosis');
  });

  it('refuses a label that is not one of the model\'s classes, naming the row and the classes', async () => {
    const file = path.join(work, 'bad-label.csv');
    const header = csv[0]!.split(',');
    const at = header.indexOf('label');
    const second = csv[2]!.split(',');
    second[at] = 'maybe';
    await writeFile(file, [csv[0], csv[1], second.join(',')].join('\n') + '\n');
    const err = await expectCode(evaluateModel({ ...files('breast-cancer-gbt'), datasets: [file] }), 'INVALID_INPUT');
    expect(err.message).toMatch(/row 2: label "maybe" in column "label" is not one of the model's classes 0 \(malignant\), 1 \(benign\)/);
    expect(err.context).toMatchObject({ field: 'label', got: 'maybe' });
  });
});

describe('bad input', () => {
  it('refuses a missing label column, naming it, the columns there are, and --label', async () => {
    const err = await expectCode(evaluateModel({ ...files('credit'), labelColumn: 'defaulted' }), 'INVALID_ARGUMENT');
    expect(err.context).toMatchObject({ field: 'label', expected: 'defaulted' });
    expect(err.context['got']).toContain('age');
    expect(err.message).toMatch(/has no label column "defaulted"; its columns are "age", .*--label/);
  });

  it('refuses a dataset that does not exist before loading the model', async () => {
    const missing = path.join(work, 'nope.csv');
    const err = await expectCode(evaluateModel({ ...files('credit'), datasets: [missing] }), 'INVALID_ARGUMENT');
    expect(err.context).toMatchObject({ field: 'dataset', got: missing });
    expect(err.message).toContain('does not exist');
    expect(err.message).toContain('--dataset');
  });

  it('refuses a file that is not what its extension says, naming the dataset', async () => {
    const file = path.join(work, 'not.parquet');
    await writeFile(file, 'a,b\n1,2\n');
    const err = await expectCode(evaluateModel({ ...files('credit'), datasets: [file] }), 'INVALID_ARGUMENT');
    expect(err.context).toMatchObject({ field: 'dataset', got: file });
    expect(err.message).toMatch(/cannot read it as parquet/);
  });

  it('refuses a dataset without the model\'s features, naming the missing column', async () => {
    const err = await expectCode(evaluateModel({ ...files('credit'), datasets: [fixturePath('diabetes-gbt-regressor', 'current_nodrift.csv')] }), 'INVALID_INPUT');
    expect(err.context['field']).toBe('annual_income');
    expect(err.message).toContain('current_nodrift.csv');
  });

  it('refuses a model whose card names no task, saying what to add', async () => {
    const card = readCardJson('breast-cancer-gbt');
    delete card['task'];
    const cardFile = path.join(work, 'no-task.json');
    await writeFile(cardFile, JSON.stringify(card));
    const err = await expectCode(evaluateModel({ ...files('breast-cancer-gbt'), model: { kind: 'files', file: fixturePath('breast-cancer-gbt'), card: cardFile } }), 'INVALID_CARD');
    expect(err.context).toMatchObject({ field: 'task', got: null, expected: ['binary-classification', 'multiclass-classification', 'regression'] });
    expect(err.message).toMatch(/no task in its card.*add "task: binary-classification"/);
  });

  it('refuses a model file that does not exist, naming --candidate-file', async () => {
    const err = await expectCode(evaluateModel({ ...files('credit'), model: { kind: 'files', file: path.join(work, 'model.onnx'), card: fixturePath('credit', 'card.json') } }), 'INVALID_ARGUMENT');
    expect(err.context).toMatchObject({ field: 'model' });
    expect(err.message).toContain('--candidate-file');
  });

  it('refuses an unknown metric in a gate, listing the known ones', () => {
    let caught: unknown;
    try {
      parseGate('acuracy:-0.5pt');
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'INVALID_ARGUMENT', context: { field: 'gate', got: 'acuracy' } });
    for (const m of METRIC_NAMES) expect((caught as Error).message).toContain(m);
  });
});

/** Keep the type honest: an Evaluation is plain JSON. */
it('answers an evaluation that survives JSON', async () => {
  const e: Evaluation = await evaluateModel(files('diabetes-gbt-regressor'));
  expect(JSON.parse(JSON.stringify(e))).toEqual(e);
});

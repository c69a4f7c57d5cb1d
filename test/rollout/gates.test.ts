/**
 * Rollout gates on real models and real data: the two breast-cancer fixtures registered as two
 * versions of one model in a real embedded registry, evaluated by onnxruntime on the fixtures'
 * held-out files, and compared with the metrics scikit-learn computed for their cards.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, type Signature, type Tensor } from '../../src/core/index.js';
import { onnxPredictor, type PredictorFactory } from '../../src/monitor/index.js';
import { openEmbeddedRegistry, parseCard, type Registry, type VersionRecord } from '../../src/registry/index.js';
import { checkSignatureCompatibility, parseGateSpec, runGates, type GateResult } from '../../src/rollout/gates.js';
import { OnnxBackend, type LoadedModel } from '../../src/runtime/index.js';
import { fixturePath, readCardJson } from '../helpers/fixtures.js';

const backend = new OnnxBackend();
let dir: string;
let registry: Registry;
let predictor: PredictorFactory;
let logreg: VersionRecord;
let gbt: VersionRecord;
let loaded: LoadedModel;

async function register(fixture: string): Promise<VersionRecord> {
  const cardFile = fixturePath(fixture, 'card.json');
  const { version } = await registry.registerVersion({
    name: 'breast-cancer',
    filePath: fixturePath(fixture),
    card: parseCard(readFileSync(cardFile, 'utf8'), cardFile),
    inspect: (b) => backend.inspect(b),
  });
  return version;
}

/** What scikit-learn computed for a fixture's file (card.json monitoring.files[file].model_metrics). */
function cardMetrics(fixture: string, file: string): Record<string, number> {
  const monitoring = readCardJson(fixture)['monitoring'] as { files: Record<string, { model_metrics: Record<string, number> }> };
  return monitoring.files[file]!.model_metrics;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-gates-'));
  registry = await openEmbeddedRegistry(dir);
  logreg = await register('breast-cancer-logreg');
  gbt = await register('breast-cancer-gbt');
  predictor = onnxPredictor(registry);
  loaded = await backend.load(readFileSync(fixturePath('breast-cancer-logreg')), { intraOpThreads: 1, interOpThreads: 1 });
});

afterAll(async () => {
  await loaded?.dispose();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

function only(results: GateResult[], gate: GateResult['gate']): GateResult {
  const found = results.filter((r) => r.gate === gate);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('the evaluation gate', () => {
  it('measures the metrics scikit-learn recorded in the card on the held-out rows', async () => {
    expect(logreg.version).toBe(1);
    expect(gbt.version).toBe(2);
    for (const [fixture, version] of [['breast-cancer-logreg', logreg], ['breast-cancer-gbt', gbt]] as const) {
      for (const file of ['current_nodrift.csv', 'current_concept_drift.csv']) {
        const expected = cardMetrics(fixture, file);
        const spec = parseGateSpec({
          evaluation: {
            dataset: fixturePath(fixture, file),
            metrics: [{ name: 'accuracy', min: 0 }, { name: 'roc_auc', min: 0 }, { name: 'log_loss', max: 100 }],
          },
        });
        const report = await runGates(spec, { candidate: version, stable: null, predictor });
        const [accuracy, auc, logLoss] = report.results;
        expect(accuracy!.numbers['candidate']).toBeCloseTo(expected['accuracy']!, 4);
        expect(auc!.numbers['candidate']).toBeCloseTo(expected['roc_auc']!, 3);
        // the logistic regression is so sure of some flipped rows that float32 rounds P(true class) to 0
        // (clipped to 1e-15), where scikit-learn's float64 kept a tiny probability: log loss differs there
        if (!(fixture === 'breast-cancer-logreg' && file === 'current_concept_drift.csv')) {
          expect(logLoss!.numbers['candidate']).toBeCloseTo(expected['log_loss']!, 3);
        }
        expect(accuracy!.numbers['labelledRows']).toBe(expected['rows']);
      }
    }
  });

  it('passes a minimum accuracy of 0.9 on the unchanged rows', async () => {
    const spec = parseGateSpec({ evaluation: { dataset: fixturePath('breast-cancer-logreg', 'current_nodrift.csv'), metrics: [{ name: 'accuracy', min: 0.9 }] } });
    const report = await runGates(spec, { candidate: logreg, stable: null, predictor });
    expect(report.passed).toBe(true);
    const r = only(report.results, 'evaluation');
    expect(r.numbers).toMatchObject({ metric: 'accuracy', min: 0.9, dataset: 'current_nodrift.csv', rows: 285, labelledRows: 285 });
    expect(r.detail).toBe('accuracy 0.9789 of version 1 on current_nodrift.csv (285 labelled rows of 285) meets the minimum 0.9');
  });

  it('fails a minimum accuracy of 0.9 on concept drift and names the numbers', async () => {
    const spec = parseGateSpec({ evaluation: { dataset: fixturePath('breast-cancer-logreg', 'current_concept_drift.csv'), metrics: [{ name: 'accuracy', min: 0.9 }] } });
    const report = await runGates(spec, { candidate: logreg, stable: null, predictor });
    expect(report.passed).toBe(false);
    const r = only(report.results, 'evaluation');
    expect(r.passed).toBe(false);
    expect(r.numbers['candidate']).toBeCloseTo(0.7123, 4);
    expect(r.detail).toMatch(/^accuracy 0\.7123 of version 1 on current_concept_drift\.csv \(285 labelled rows of 285\) is below the minimum 0\.9; /);
  });

  it('compares the candidate with the stable version on the same rows (maxDecrease, maxIncrease)', async () => {
    // gbt 0.9439 vs logreg 0.9789 accuracy; log loss 0.1984 vs 0.0671
    const dataset = fixturePath('breast-cancer-gbt', 'current_nodrift.csv');
    const spec = parseGateSpec({
      evaluation: {
        dataset,
        metrics: [
          { name: 'accuracy', maxDecrease: 0.05 },
          { name: 'accuracy', maxDecrease: 0.01 },
          { name: 'log_loss', maxIncrease: 0.2 },
          { name: 'log_loss', maxIncrease: 0.1 },
        ],
      },
    });
    const report = await runGates(spec, { candidate: gbt, stable: logreg, predictor });
    const evaluation = report.results.filter((r) => r.gate === 'evaluation');
    expect(evaluation.map((r) => r.passed)).toEqual([true, false, true, false]);
    expect(report.passed).toBe(false);
    const [loose, strict] = evaluation;
    expect(strict!.numbers['candidate']).toBeCloseTo(0.9439, 4);
    expect(strict!.numbers['stable']).toBeCloseTo(0.9789, 4);
    expect(strict!.numbers['delta']).toBeCloseTo((269 - 279) / 285, 12); // 269 and 279 of 285 rows right
    expect(strict!.numbers).toMatchObject({ candidateVersion: 2, stableVersion: 1, maxDecrease: 0.01 });
    expect(strict!.detail).toBe(
      "accuracy 0.9439 of version 2 on current_nodrift.csv (285 labelled rows of 285) falls more than the allowed 0.01 below stable version 1's 0.9789 (change -0.03509); do not promote it until the model or the gate is fixed",
    );
    expect(loose!.detail).toContain("is within the allowed decrease 0.05 of stable version 1's 0.9789");
    expect(evaluation[3]!.detail).toContain('rises more than the allowed 0.1 above stable version 1');
  });

  it('passes relative thresholds when there is no stable version to regress from', async () => {
    const spec = parseGateSpec({ evaluation: { dataset: fixturePath('breast-cancer-gbt', 'current_nodrift.csv'), metrics: [{ name: 'f1', maxDecrease: 0 }] } });
    const report = await runGates(spec, { candidate: gbt, stable: null, predictor });
    expect(report.passed).toBe(true);
    expect(report.results[0]!.detail).toContain('has no stable version to be compared with');
    expect(report.results[0]!.numbers['stable']).toBeNull();
  });

  it('refuses a data set without the label column, naming it and the columns present', async () => {
    const spec = parseGateSpec({
      evaluation: { dataset: fixturePath('breast-cancer-logreg', 'current_nodrift.csv'), labelColumn: 'diagnosis', metrics: [{ name: 'accuracy', min: 0.9 }] },
    });
    const err = await runGates(spec, { candidate: logreg, stable: null, predictor }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    const b = err as BerthError;
    expect(b.code).toBe('INVALID_ARGUMENT');
    expect(b.message).toContain('no label column "diagnosis"');
    expect(b.message).toContain('"mean radius"');
    expect(b.context.field).toBe('gates.evaluation.labelColumn');
    expect(b.context.got).toContain('label');
  });

  it('refuses a regression metric for a classifier', async () => {
    const spec = parseGateSpec({ evaluation: { dataset: fixturePath('breast-cancer-logreg', 'current_nodrift.csv'), metrics: [{ name: 'rmse', max: 1 }] } });
    await expect(runGates(spec, { candidate: logreg, stable: null, predictor })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      context: { field: 'gates.evaluation.metrics[0].name', got: 'rmse' },
    });
  });
});

describe('the latency gate', () => {
  const runCandidate = (inputs: Tensor[]): Promise<Tensor[]> => loaded.run(inputs);

  it('passes a generous budget and reports p50 and p99 of the measured requests', async () => {
    const report = await runGates(parseGateSpec({ latency: { p50Ms: 1000, p99Ms: 1000, requests: 60, concurrency: 3 } }), {
      candidate: logreg,
      stable: null,
      predictor,
      runCandidate,
    });
    const r = only(report.results, 'latency');
    expect(r.passed).toBe(true);
    const { p50, p99 } = r.numbers as { p50: number; p99: number };
    expect(p50).toBeGreaterThan(0);
    expect(p99).toBeGreaterThanOrEqual(p50);
    expect(r.numbers).toMatchObject({ requests: 60, concurrency: 3, warmupRequests: 10, p50Ms: 1000, p99Ms: 1000 });
    expect(r.detail).toMatch(/^version 1: p50 \S+ ms and p99 \S+ ms over 60 single-row requests, 3 in flight, within the budget p50 ≤ 1000 ms, p99 ≤ 1000 ms$/);
  });

  it('fails an impossible budget, sending the evaluation set\'s first row when there is one', async () => {
    const seen: Tensor[][] = [];
    const report = await runGates(
      parseGateSpec({
        evaluation: { dataset: fixturePath('breast-cancer-logreg', 'current_nodrift.csv'), metrics: [{ name: 'accuracy', min: 0.9 }] },
        latency: { p99Ms: 0.000001, requests: 20 },
      }),
      { candidate: logreg, stable: null, predictor, runCandidate: (inputs) => (seen.push(inputs), loaded.run(inputs)) },
    );
    const r = only(report.results, 'latency');
    expect(r.passed).toBe(false);
    expect(report.passed).toBe(false);
    expect(r.detail).toMatch(/^version 1: p99 \S+ ms exceeds the budget 1\.00e-6 ms over 20 single-row requests, 4 in flight; /);
    expect(seen).toHaveLength(30);
    const first = seen[0]![0]!;
    expect(first.shape).toEqual([1, 30]);
    expect((first.data as Float32Array)[0]).toBeCloseTo(20.2, 5); // mean radius of the file's first row
  });

  it('falls back to zeros shaped like the signature without a data set', async () => {
    const seen: Tensor[] = [];
    await runGates(parseGateSpec({ latency: { requests: 1, concurrency: 1 } }), {
      candidate: logreg,
      stable: null,
      predictor,
      runCandidate: (inputs) => (seen.push(inputs[0]!), loaded.run(inputs)),
    });
    expect(seen[0]!.shape).toEqual([1, 30]);
    expect([...(seen[0]!.data as Float32Array)].every((x) => x === 0)).toBe(true);
  });

  it('fails with a reason when the candidate cannot be run', async () => {
    const report = await runGates(parseGateSpec({ latency: {} }), { candidate: logreg, stable: null, predictor });
    expect(report.results[0]).toMatchObject({ gate: 'latency', passed: false, numbers: { p50: null, p99: null } });
    expect(report.results[0]!.detail).toContain('could not be measured');
  });
});

describe('the size and memory gates', () => {
  it('compares the model file with maxBytes', async () => {
    expect(logreg.sizeBytes).toBe(1123);
    const pass = await runGates(parseGateSpec({ size: { maxBytes: 2000 } }), { candidate: logreg, stable: null, predictor });
    expect(pass.results).toEqual([{ gate: 'size', passed: true, detail: "version 1's model file is 1123 bytes, within the limit 2000 bytes", numbers: { sizeBytes: 1123, maxBytes: 2000 } }]);
    const fail = await runGates(parseGateSpec({ size: { maxBytes: 1000 } }), { candidate: logreg, stable: null, predictor });
    expect(fail.passed).toBe(false);
    expect(fail.results[0]!.detail).toMatch(/^version 1's model file is 1123 bytes, over the limit 1000 bytes; /);
  });

  it('compares measured memory with maxMemoryBytes, and fails when it cannot be measured', async () => {
    const spec = parseGateSpec({ size: { maxMemoryBytes: 5_000_000 } });
    const ok = await runGates(spec, { candidate: logreg, stable: null, predictor, memoryBytes: () => 4_000_000 });
    expect(only(ok.results, 'memory')).toMatchObject({ passed: true, numbers: { memoryBytes: 4_000_000, maxMemoryBytes: 5_000_000 } });
    const over = await runGates(spec, { candidate: logreg, stable: null, predictor, memoryBytes: () => 6_000_000 });
    expect(only(over.results, 'memory').passed).toBe(false);
    expect(only(over.results, 'memory').detail).toContain('6000000 bytes of memory when loaded, over the limit 5000000 bytes');
    for (const memoryBytes of [undefined, () => null]) {
      const unknown = await runGates(spec, { candidate: logreg, stable: null, predictor, ...(memoryBytes ? { memoryBytes } : {}) });
      expect(only(unknown.results, 'memory')).toMatchObject({ passed: false, numbers: { memoryBytes: null } });
      expect(only(unknown.results, 'memory').detail).toContain('could not be measured');
    }
  });
});

describe('the signature gate', () => {
  const features = (n: number): string[] => Array.from({ length: n }, (_, i) => `f${i}`);
  const base = (): Signature => ({
    inputs: [
      { name: 'input', datatype: 'FP32', shape: [-1, 3], featureNames: features(3) },
      { name: 'country', datatype: 'BYTES', shape: [-1, 1], vocabulary: ['de', 'fr'] },
    ],
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [-1] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
    ],
    batchable: true,
  });

  it('runs whenever there is a stable version, and passes identical signatures', async () => {
    expect(checkSignatureCompatibility(logreg.signature, gbt.signature)).toEqual({ breaking: [], notes: [] });
    const report = await runGates({}, { candidate: gbt, stable: logreg, predictor });
    expect(report).toEqual({
      passed: true,
      results: [
        {
          gate: 'signature',
          passed: true,
          detail: "version 2's signature is compatible with stable version 1",
          numbers: { candidateVersion: 2, stableVersion: 1, breaking: 0, notes: 0, allowBreaking: false },
        },
      ],
    });
  });

  it('calls a missing input, a changed datatype, a new input and a renamed feature breaking', () => {
    const s = base();
    const missing = base();
    missing.inputs = missing.inputs.filter((i) => i.name !== 'country');
    expect(checkSignatureCompatibility(s, missing).breaking).toEqual(['input "country" (BYTES [-1, 1]) is missing']);

    const retyped = base();
    retyped.inputs[0]!.datatype = 'FP64';
    retyped.outputs[0]!.datatype = 'INT32';
    expect(checkSignatureCompatibility(s, retyped).breaking).toEqual([
      'input "input" changes datatype from FP32 to FP64',
      'output "label" changes datatype from INT64 to INT32',
    ]);

    const added = base();
    added.inputs.push({ name: 'age', datatype: 'INT64', shape: [-1, 1] });
    expect(checkSignatureCompatibility(s, added).breaking).toEqual(['new required input "age" (INT64 [-1, 1])']);

    const renamed = base();
    renamed.inputs[0]!.featureNames = ['f0', 'g1', 'f2'];
    expect(checkSignatureCompatibility(s, renamed).breaking).toEqual(['input "input" renames or reorders features: position 1 "f1" → "g1"']);

    const narrowed = base();
    narrowed.inputs[1]!.vocabulary = ['de'];
    narrowed.outputs = narrowed.outputs.filter((o) => o.name !== 'label');
    expect(checkSignatureCompatibility(s, narrowed).breaking).toEqual([
      'input "country" no longer accepts the category "fr"',
      'output "label" (INT64 [-1]) is missing',
    ]);
  });

  it('checks shapes: fixed dimensions must match, a dynamic input dimension must stay dynamic', () => {
    const s = base();
    const wider = base();
    wider.inputs[0]!.shape = [-1, 4];
    wider.inputs[0]!.featureNames = features(4);
    expect(checkSignatureCompatibility(s, wider).breaking).toEqual([
      'input "input" dimension 1: 3 became 4 (shape [-1, 3] → [-1, 4])',
      'input "input" renames or reorders features: position 3 "(none)" → "f3"',
    ]);
    const fixedBatch = base();
    fixedBatch.inputs[0]!.shape = [1, 3];
    fixedBatch.batchable = false;
    const r = checkSignatureCompatibility(s, fixedBatch);
    expect(r.breaking).toEqual(['input "input" dimension 0: dynamic became 1 (shape [-1, 3] → [1, 3])']);
    expect(r.notes).toHaveLength(1);
    const relaxed = base();
    relaxed.inputs[0]!.shape = [-1, -1];
    relaxed.outputs.push({ name: 'extra', datatype: 'FP32', shape: [-1] });
    relaxed.inputs[1]!.vocabulary = ['de', 'fr', 'it'];
    expect(checkSignatureCompatibility(s, relaxed)).toEqual({
      breaking: [],
      notes: [
        'input "input" dimension 1: 3 became dynamic (shape [-1, 3] → [-1, -1])',
        'input "country" accepts new categories "it"',
        'new output "extra" (FP32 [-1])',
      ],
    });
  });

  it('fails a breaking change unless allowBreaking is set, listing the changes either way', async () => {
    const candidate: VersionRecord = { ...gbt, signature: { ...gbt.signature, inputs: [] } };
    const blocked = await runGates({}, { candidate, stable: logreg, predictor });
    expect(blocked.passed).toBe(false);
    expect(blocked.results[0]!.detail).toBe(
      'version 2 makes 1 breaking change to stable version 1\'s signature: input "input" (FP32 [-1, 30]) is missing; keep the stable signature, or update the clients and set signature.allowBreaking',
    );
    const allowed = await runGates(parseGateSpec({ signature: { allowBreaking: true } }), { candidate, stable: logreg, predictor });
    expect(allowed.passed).toBe(true);
    expect(allowed.results[0]).toMatchObject({ gate: 'signature', passed: true, numbers: { breaking: 1, allowBreaking: true } });
    expect(allowed.results[0]!.detail).toContain('allowed by signature.allowBreaking: input "input" (FP32 [-1, 30]) is missing');
  });
});

describe('parseGateSpec', () => {
  it('accepts a full spec and returns it as given', () => {
    const raw = {
      evaluation: { dataset: 'holdout.csv', labelColumn: 'y', metrics: [{ name: 'accuracy', min: 0.9, maxDecrease: 0.01 }, { name: 'log_loss', maxIncrease: 0.05 }] },
      latency: { p50Ms: 5, p99Ms: 20, requests: 300, concurrency: 4 },
      size: { maxBytes: 10_000_000, maxMemoryBytes: 100_000_000 },
      signature: { allowBreaking: false },
    };
    expect(parseGateSpec(raw)).toEqual(raw);
    expect(parseGateSpec({})).toEqual({});
  });

  const bad: [string, unknown, string, unknown][] = [
    ['not an object', 'accuracy>0.9', 'gates', 'accuracy>0.9'],
    ['an unknown gate', { accuracy: 0.9 }, 'gates.accuracy', 0.9],
    ['an unknown metric', { evaluation: { dataset: 'a.csv', metrics: [{ name: 'auc', min: 0.9 }] } }, 'gates.evaluation.metrics[0].name', 'auc'],
    ['a metric without a threshold', { evaluation: { dataset: 'a.csv', metrics: [{ name: 'accuracy' }] } }, 'gates.evaluation.metrics[0]', { name: 'accuracy' }],
    ['a negative maxDecrease', { evaluation: { dataset: 'a.csv', metrics: [{ name: 'accuracy', maxDecrease: -0.1 }] } }, 'gates.evaluation.metrics[0].maxDecrease', -0.1],
    ['no metrics', { evaluation: { dataset: 'a.csv', metrics: [] } }, 'gates.evaluation.metrics', []],
    ['no dataset', { evaluation: { metrics: [{ name: 'accuracy', min: 0.9 }] } }, 'gates.evaluation.dataset', undefined],
    ['zero requests', { latency: { requests: 0 } }, 'gates.latency.requests', 0],
    ['a fractional concurrency', { latency: { concurrency: 1.5 } }, 'gates.latency.concurrency', 1.5],
    ['a string budget', { latency: { p99Ms: '20ms' } }, 'gates.latency.p99Ms', '20ms'],
    ['a misspelt limit', { size: { maxByte: 10 } }, 'gates.size.maxByte', 10],
    ['a non-boolean allowBreaking', { signature: { allowBreaking: 'yes' } }, 'gates.signature.allowBreaking', 'yes'],
  ];
  it.each(bad)('refuses %s, naming the field', (_, raw, field, got) => {
    let err: unknown;
    try {
      parseGateSpec(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    const b = err as BerthError;
    expect(b.code).toBe('INVALID_ARGUMENT');
    expect(b.context.field).toBe(field);
    expect(b.context.got).toEqual(got);
    expect(typeof b.context.expected).toBe('string');
    expect(b.message).toContain(`${field}: expected `);
  });

  it('reports every problem at once and uses the caller\'s field name', () => {
    expect(() => parseGateSpec({ latency: { requests: 0, concurrency: 0 } }, 'rollout.gates')).toThrow(
      'invalid gates:\n  rollout.gates.latency.requests: expected an integer > 0, got 0\n  rollout.gates.latency.concurrency: expected an integer > 0, got 0',
    );
  });
});

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { readCsvFile, getColumn, isNumericColumn } from '../../src/data/index.js';
import {
  TreeEnsemble,
  TreeShap,
  coversFrom,
  readOnnxModel,
  readTreeModel,
  treeModelOf,
  type OnnxAttribute,
  type OnnxNode,
  type TreeModel,
  type TreeShapExplanation,
} from '../../src/explain/index.js';
import { fixturePath, flatten, readCardJson, readGolden, type Tolerance } from '../helpers/fixtures.js';
import { bytes, int, key, str } from '../helpers/onnx-proto.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REFERENCE = path.join(here, 'reference');

type Fixture = 'breast-cancer-gbt' | 'diabetes-gbt-regressor';
const FIXTURES: readonly { name: Fixture; output: string }[] = [
  { name: 'breast-cancer-gbt', output: 'probabilities' },
  { name: 'diabetes-gbt-regressor', output: 'variable' },
];

function modelOf(name: string): TreeModel {
  const model = treeModelOf(readFileSync(fixturePath(name)));
  if (!model) throw new Error(`${name} is not a tree model: ${readTreeModel(readFileSync(fixturePath(name))).reason}`);
  return model;
}

/** Every golden input row of a fixture, row-major. */
function goldenRows(name: string): { rows: Float32Array; n: number } {
  const parts = readGolden(name).cases.map((c) => c.inputs['input']!);
  const rows = Float32Array.from(parts.flatMap((p) => flatten(p.data) as number[]));
  return { rows, n: parts.reduce((s, p) => s + p.shape[0]!, 0) };
}

/** The feature columns of one of a fixture's CSV files, row-major float32 (NaN where missing). */
async function csvRows(name: string, file: string): Promise<{ rows: Float32Array; n: number }> {
  const features = (readCardJson(name) as { feature_names: string[] }).feature_names;
  const table = await readCsvFile(fixturePath(name, file));
  const rows = new Float32Array(table.rows * features.length);
  features.forEach((f, j) => {
    const column = getColumn(table, f);
    if (!isNumericColumn(column)) throw new Error(`${name}/${file}: column ${f} is not numeric`);
    for (let r = 0; r < table.rows; r++) rows[r * features.length + j] = column.values[r]!;
  });
  return { rows, n: table.rows };
}

/** onnxruntime's score output for rows of one fixture or file. */
async function runOrt(bytes: Uint8Array, rows: Float32Array, n: number, width: number, output: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const result = await session.run({ input: new ort.Tensor('float32', rows, [n, width]) });
    return result[output]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function within(actual: number, expected: number, tol: Tolerance): boolean {
  if ('exact' in tol) return actual === expected;
  return Math.abs(actual - expected) <= tol.atol + tol.rtol * Math.abs(expected);
}

function sum(values: Float64Array): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

/** The largest |base + Σ contributions − margin| over an explanation's targets. */
function additivityGap(e: TreeShapExplanation): number {
  return Math.max(...e.targets.map((t) => Math.abs(t.base + sum(t.contributions) - t.margin)));
}

function row(rows: Float32Array, r: number, width: number): Float32Array {
  return rows.subarray(r * width, (r + 1) * width);
}

describe('treeModelOf', () => {
  it('reads breast-cancer-gbt as a binary classifier with one logistic margin (the skl2onnx layout)', () => {
    const m = modelOf('breast-cancer-gbt');
    expect(m.inputName).toBe('input');
    expect(m.featureCount).toBe(30);
    expect(m.scoreOutput).toBe('probabilities');
    expect(m.labelOutput).toBe('label');
    const e = m.ensemble;
    expect(e.kind).toBe('classifier');
    expect(e.treeCount).toBe(100);
    expect(e.targetCount).toBe(1);
    expect(e.classLabels).toEqual([0, 1]);
    expect(e.postTransform).toBe('LOGISTIC');
    expect(e.scoreLayout).toEqual({ kind: 'binary', secondClass: 'logistic' });
    expect(e.classMargin(1)).toEqual({ target: 0, sign: 1 });
    expect(e.classMargin(0)).toEqual({ target: 0, sign: -1 });
    expect(e.hitRates).toBeNull();
  });

  it('reads diabetes-gbt-regressor as a one-target regressor', () => {
    const m = modelOf('diabetes-gbt-regressor');
    expect(m.featureCount).toBe(10);
    expect(m.scoreOutput).toBe('variable');
    expect(m.labelOutput).toBeNull();
    const e = m.ensemble;
    expect(e.kind).toBe('regressor');
    expect(e.treeCount).toBe(100);
    expect(e.targetCount).toBe(1);
    expect(e.aggregate).toBe('SUM');
    expect(e.postTransform).toBe('NONE');
    expect(e.scoreLayout).toEqual({ kind: 'values' });
    expect(() => e.classMargin(0)).toThrow(BerthError);
  });

  for (const { name, output } of FIXTURES) {
    it(`computes margins that give onnxruntime's ${output} of ${name} on every golden row, within the golden tolerance`, async () => {
      const model = modelOf(name);
      const e = model.ensemble;
      const { rows, n } = goldenRows(name);
      const bytes = readFileSync(fixturePath(name));
      const ortOut = await runOrt(bytes, rows, n, e.featureCount, output);
      const tol = readGolden(name).tolerance[output]!;
      const margins = e.margins(rows, n);
      const width = ortOut.length / n;
      const bad: string[] = [];
      for (let r = 0; r < n; r++) {
        const scores = e.scores(margins.subarray(r * e.targetCount, (r + 1) * e.targetCount));
        expect(scores.length).toBe(width);
        for (let k = 0; k < width; k++) if (!within(scores[k]!, ortOut[r * width + k]!, tol)) bad.push(`row ${r}[${k}]: ${scores[k]} vs ${ortOut[r * width + k]}`);
        if (name === 'breast-cancer-gbt') {
          // the explained margin is the log-odds of class 1: sigmoid(margin) = probabilities[:, 1]
          const p1 = 1 / (1 + Math.exp(-margins[r]!));
          if (!within(p1, ortOut[r * 2 + 1]!, tol)) bad.push(`row ${r}: sigmoid(margin) ${p1} vs ${ortOut[r * 2 + 1]}`);
        }
      }
      expect(bad).toEqual([]);
    });

    it(`routes missing values in ${name} as onnxruntime does (current_quality.csv has empty fields)`, async () => {
      const e = modelOf(name).ensemble;
      const { rows, n } = await csvRows(name, 'current_quality.csv');
      expect(rows.some((v) => Number.isNaN(v))).toBe(true);
      const ortOut = await runOrt(readFileSync(fixturePath(name)), rows, n, e.featureCount, output);
      const tol = readGolden(name).tolerance[output]!;
      const margins = e.margins(rows, n);
      const width = ortOut.length / n;
      let worst = 0;
      for (let r = 0; r < n; r++) {
        const scores = e.scores(margins.subarray(r * e.targetCount, (r + 1) * e.targetCount));
        for (let k = 0; k < width; k++) {
          expect(within(scores[k]!, ortOut[r * width + k]!, tol), `row ${r}`).toBe(true);
          worst = Math.max(worst, Math.abs(scores[k]! - ortOut[r * width + k]!));
        }
      }
      expect(worst).toBeLessThan(1e-4);
    });
  }

  it('reads the small reference ensemble with its hit rates, and its margins match onnxruntime and the numpy evaluator', async () => {
    const ref = readSmallReference();
    const bytes = readFileSync(path.join(REFERENCE, 'small-ensemble.onnx'));
    const model = treeModelOf(bytes)!;
    expect(model).not.toBeNull();
    const e = model.ensemble;
    expect([e.treeCount, e.targetCount, e.featureCount, e.maxDepth]).toEqual([3, 2, 5, 3]);
    expect(e.aggregate).toBe('AVERAGE');
    expect(e.hitRates).not.toBeNull();
    const rows = Float32Array.from(ref.rows.flatMap((r) => r.x.map((v) => v ?? NaN)));
    const n = ref.rows.length;
    const ortOut = await runOrt(bytes, rows, n, 5, 'variable');
    const margins = e.margins(rows, n);
    for (let r = 0; r < n; r++) {
      for (let t = 0; t < 2; t++) {
        expect(margins[r * 2 + t]).toBeCloseTo(ref.rows[r]!.margin[t]!, 12);
        expect(Math.abs(margins[r * 2 + t]! - ortOut[r * 2 + t]!)).toBeLessThan(1e-6);
      }
    }
  });

  it('gives null, with a reason, for graphs that are not one tree ensemble', () => {
    for (const name of ['breast-cancer-logreg', 'digits-mlp', 'digits-cnn', 'credit']) {
      const bytes = readFileSync(fixturePath(name));
      expect(treeModelOf(bytes), name).toBeNull();
      expect(readTreeModel(bytes).reason, name).toMatch(/\S/);
    }
  });

  it('refuses malformed bytes with INVALID_ARGUMENT instead of crashing', () => {
    const gbt = readFileSync(fixturePath('breast-cancer-gbt'));
    let seed = 12345;
    const random = Uint8Array.from({ length: 4096 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['random bytes', random],
      ['truncated model', gbt.subarray(0, gbt.length >> 1)],
      ['text', new TextEncoder().encode('this is not a model\n')],
      ['an overlong varint', new Uint8Array(12).fill(0xff)],
    ];
    for (const [what, bytes] of cases) {
      let error: unknown;
      try {
        treeModelOf(bytes);
      } catch (err) {
        error = err;
      }
      expect(error, what).toBeInstanceOf(BerthError);
      expect((error as BerthError).code, what).toBe('INVALID_ARGUMENT');
    }
  });

  it('refuses MIN and MAX aggregation clearly: they are not additive over trees', () => {
    const node = readOnnxModel(readFileSync(path.join(REFERENCE, 'small-ensemble.onnx'))).graph.nodes[0]!;
    for (const agg of ['MIN', 'MAX']) {
      const attributes = new Map(node.attributes);
      attributes.set('aggregate_function', { ...(node.attributes.get('aggregate_function') as OnnxAttribute), s: agg });
      const changed: OnnxNode = { ...node, attributes };
      expect(() => TreeEnsemble.fromOnnxNode(changed)).toThrow(BerthError);
      expect(() => TreeEnsemble.fromOnnxNode(changed)).toThrow(new RegExp(`aggregate_function ${agg} .*not additive`));
    }
  });
});

// Re-encoding the reference ensemble as other ONNX layouts, with the test helpers' protobuf writer.
const f32 = (v: number): number[] => [...new Uint8Array(Float32Array.of(v).buffer)];
const TYPE_CODES: Record<string, number> = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7, STRINGS: 8 };

function encodeAttribute(a: OnnxAttribute): number[] {
  const out = [...str(1, a.name), ...int(20, TYPE_CODES[a.type]!)];
  if (a.type === 'FLOAT') out.push(...key(2, 5), ...f32(a.f));
  if (a.type === 'INT') out.push(...int(3, a.i));
  if (a.type === 'STRING') out.push(...str(4, a.s));
  if (a.type === 'FLOATS') out.push(...bytes(7, a.floats.flatMap(f32))); // packed
  if (a.type === 'INTS') for (const v of a.ints) out.push(...int(8, v)); // unpacked, to read both forms
  if (a.type === 'STRINGS') for (const v of a.strings) out.push(...str(9, v));
  return out;
}

function encodeNode(n: OnnxNode): number[] {
  return [
    ...n.inputs.flatMap((i) => str(1, i)),
    ...n.outputs.flatMap((o) => str(2, o)),
    ...str(3, n.name),
    ...str(4, n.opType),
    ...[...n.attributes.values()].flatMap((a) => bytes(5, encodeAttribute(a))),
    ...str(7, n.domain),
  ];
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  return [...str(1, name), ...bytes(2, bytes(1, [...int(1, elemType), ...bytes(2, shape)]))];
}

function encodeModel(nodes: OnnxNode[], inputs: number[][], outputs: number[][]): Uint8Array {
  const graph = [...nodes.flatMap((n) => bytes(1, encodeNode(n))), ...str(2, 'g'), ...inputs.flatMap((i) => bytes(11, i)), ...outputs.flatMap((o) => bytes(12, o))];
  const opset = (domain: string, version: number): number[] => bytes(8, [...str(1, domain), ...int(2, version)]);
  return Uint8Array.from([...int(1, 8), ...bytes(7, graph), ...opset('', 13), ...opset('ai.onnx.ml', 3)]);
}

function attr(name: string, type: OnnxAttribute['type'], value: Partial<OnnxAttribute>): OnnxAttribute {
  return { name, type, f: 0, i: 0, s: '', t: null, floats: [], ints: [], strings: [], ...value };
}

/** The reference ensemble's node, rebuilt as another operator or layout. */
function variantOf(opts: {
  classifier?: { labels: number[]; keepTargets: number[] };
  nTargets?: number;
  keepTargets?: number[];
  baseValues: number[];
  postTransform: string;
  aggregate?: string;
  input?: string;
}): OnnxNode {
  const small = readOnnxModel(readFileSync(path.join(REFERENCE, 'small-ensemble.onnx'))).graph.nodes[0]!;
  const attributes = new Map<string, OnnxAttribute>();
  for (const [name, a] of small.attributes) if (name.startsWith('nodes_')) attributes.set(name, a);
  const keep = opts.classifier?.keepTargets ?? opts.keepTargets ?? [0, 1];
  const ids = small.attributes.get('target_ids')!.ints;
  const pick = <T,>(list: readonly T[]): T[] => list.filter((_, k) => keep.includes(ids[k]!));
  const prefix = opts.classifier ? 'class' : 'target';
  attributes.set(`${prefix}_treeids`, attr(`${prefix}_treeids`, 'INTS', { ints: pick(small.attributes.get('target_treeids')!.ints) }));
  attributes.set(`${prefix}_nodeids`, attr(`${prefix}_nodeids`, 'INTS', { ints: pick(small.attributes.get('target_nodeids')!.ints) }));
  attributes.set(`${prefix}_ids`, attr(`${prefix}_ids`, 'INTS', { ints: pick(ids) }));
  attributes.set(`${prefix}_weights`, attr(`${prefix}_weights`, 'FLOATS', { floats: pick(small.attributes.get('target_weights')!.floats) }));
  if (opts.baseValues.length) attributes.set('base_values', attr('base_values', 'FLOATS', { floats: opts.baseValues }));
  attributes.set('post_transform', attr('post_transform', 'STRING', { s: opts.postTransform }));
  if (opts.classifier) {
    attributes.set('classlabels_int64s', attr('classlabels_int64s', 'INTS', { ints: opts.classifier.labels }));
  } else {
    attributes.set('n_targets', attr('n_targets', 'INT', { i: opts.nTargets ?? 2 }));
    attributes.set('aggregate_function', attr('aggregate_function', 'STRING', { s: opts.aggregate ?? 'SUM' }));
  }
  return {
    name: 'ensemble',
    opType: opts.classifier ? 'TreeEnsembleClassifier' : 'TreeEnsembleRegressor',
    domain: 'ai.onnx.ml',
    inputs: [opts.input ?? 'input'],
    outputs: opts.classifier ? ['label', 'scores'] : ['scores'],
    attributes,
  };
}

const node = (opType: string, inputs: string[], outputs: string[], attributes: OnnxAttribute[] = [], domain = ''): OnnxNode => ({
  name: `${opType.toLowerCase()}-${outputs[0]}`,
  opType,
  domain,
  inputs,
  outputs,
  attributes: new Map(attributes.map((a) => [a.name, a])),
});

describe('layouts the fixtures do not cover, checked against onnxruntime', () => {
  const ref = readSmallReference();
  const rows = Float32Array.from(ref.rows.flatMap((r) => r.x.map((v) => v ?? NaN)));
  const n = ref.rows.length;
  const floatInput = valueInfo('input', 1, ['N', 5]);

  const cases: { what: string; ensemble: OnnxNode; width: number; layout: unknown; targets: number }[] = [
    {
      what: 'a 3-class classifier with SOFTMAX (a class without weights keeps its base value)',
      ensemble: variantOf({ classifier: { labels: [10, 20, 30], keepTargets: [0, 1] }, baseValues: [0.1, -0.2, 0.3], postTransform: 'SOFTMAX' }),
      width: 3,
      layout: { kind: 'classes' },
      targets: 3,
    },
    {
      what: 'a 3-class classifier with SOFTMAX_ZERO and no base values',
      ensemble: variantOf({ classifier: { labels: [0, 1, 2], keepTargets: [0, 1] }, baseValues: [], postTransform: 'SOFTMAX_ZERO' }),
      width: 3,
      layout: { kind: 'classes' },
      targets: 3,
    },
    {
      what: 'a binary classifier with weights for both classes and LOGISTIC',
      ensemble: variantOf({ classifier: { labels: [0, 1], keepTargets: [0, 1] }, baseValues: [], postTransform: 'LOGISTIC' }),
      width: 2,
      layout: { kind: 'classes' },
      targets: 2,
    },
    {
      what: 'a binary classifier with one score column and NONE ([−m, m])',
      ensemble: variantOf({ classifier: { labels: [0, 1], keepTargets: [0] }, baseValues: [0.25], postTransform: 'NONE' }),
      width: 2,
      layout: { kind: 'binary', secondClass: 'negate' },
      targets: 1,
    },
    {
      what: 'a one-target regressor with LOGISTIC (onnxruntime passes the margin through)',
      ensemble: variantOf({ nTargets: 1, keepTargets: [0], baseValues: [0.5], postTransform: 'LOGISTIC', aggregate: 'AVERAGE' }),
      width: 1,
      layout: { kind: 'values' },
      targets: 1,
    },
    {
      what: 'a two-target regressor with LOGISTIC (applied to each target)',
      ensemble: variantOf({ nTargets: 2, baseValues: [0.5, -1], postTransform: 'LOGISTIC' }),
      width: 2,
      layout: { kind: 'values' },
      targets: 2,
    },
  ];

  for (const c of cases) {
    it(`${c.what}: scores from the margins match onnxruntime, and TreeSHAP adds up`, async () => {
      const classifier = c.ensemble.opType === 'TreeEnsembleClassifier';
      const outputs = classifier ? [valueInfo('label', 7, ['N']), valueInfo('scores', 1, ['N', c.width])] : [valueInfo('scores', 1, ['N', c.width])];
      const bytes = encodeModel([c.ensemble], [floatInput], outputs);
      const model = treeModelOf(bytes)!;
      expect(model, readTreeModel(bytes).reason ?? '').not.toBeNull();
      const e = model.ensemble;
      expect(e.scoreLayout).toEqual(c.layout);
      expect(e.targetCount).toBe(c.targets);
      const ortOut = await runOrt(bytes, rows, n, 5, 'scores');
      const margins = e.margins(rows, n);
      for (let r = 0; r < n; r++) {
        const scores = e.scores(margins.subarray(r * e.targetCount, (r + 1) * e.targetCount));
        expect(scores.length).toBe(c.width);
        for (let k = 0; k < c.width; k++) expect(Math.abs(scores[k]! - ortOut[r * c.width + k]!), `row ${r}[${k}]`).toBeLessThan(1e-6);
      }
      const shap = new TreeShap(e);
      const background = { rows: Float32Array.from(ref.background.rows.flat()), n: ref.background.rows.length };
      for (let r = 0; r < n; r++) {
        expect(additivityGap(shap.pathDependent(row(rows, r, 5)))).toBeLessThan(1e-12);
        expect(additivityGap(shap.interventional(row(rows, r, 5), background))).toBeLessThan(1e-12);
      }
    });
  }

  it('accepts Cast and Identity before the ensemble and Identity after it, as onnxruntime runs it', async () => {
    const ensemble = variantOf({ nTargets: 2, baseValues: [0.5, -1], postTransform: 'NONE', input: 'as_double' });
    const nodes = [
      node('Identity', ['input'], ['same']),
      node('Cast', ['same'], ['as_double'], [attr('to', 'INT', { i: 11 })]),
      ensemble,
      node('Identity', ['scores'], ['prediction']),
    ];
    const bytes = encodeModel(nodes, [floatInput], [valueInfo('prediction', 1, ['N', 2])]);
    const model = treeModelOf(bytes)!;
    expect(model, readTreeModel(bytes).reason ?? '').not.toBeNull();
    expect(model.scoreOutput).toBe('prediction');
    const ortOut = await runOrt(bytes, rows, n, 5, 'prediction');
    const margins = model.ensemble.margins(rows, n);
    for (let k = 0; k < margins.length; k++) expect(Math.abs(margins[k]! - ortOut[k]!)).toBeLessThan(1e-6);
  });

  it('refuses graphs with anything else around the ensemble, saying why', () => {
    const ensemble = (input = 'input'): OnnxNode => variantOf({ nTargets: 2, baseValues: [], postTransform: 'NONE', input });
    const out = [valueInfo('scores', 1, ['N', 2])];
    const refused: [string, Uint8Array, RegExp][] = [
      ['a Cast to int64 first', encodeModel([node('Cast', ['input'], ['ints'], [attr('to', 'INT', { i: 7 })]), ensemble('ints')], [floatInput], out), /Cast/],
      ['an Add first', encodeModel([node('Add', ['input', 'input'], ['sum']), ensemble('sum')], [floatInput], out), /Add/],
      ['two inputs', encodeModel([ensemble()], [floatInput, valueInfo('other', 1, ['N', 5])], out), /2 inputs/],
      ['an int64 input', encodeModel([ensemble()], [valueInfo('input', 7, ['N', 5])], out), /element type 7/],
      ['too narrow an input', encodeModel([ensemble()], [valueInfo('input', 1, ['N', 3])], out), /feature 3/],
      ['MIN aggregation', encodeModel([variantOf({ nTargets: 2, baseValues: [], postTransform: 'NONE', aggregate: 'MIN' })], [floatInput], out), /MIN .*not additive/],
      // onnxruntime-node 1.30 ignores base_values[1] here while its older sources add it: not explained
      [
        'a binary classifier with two base values',
        encodeModel(
          [variantOf({ classifier: { labels: [0, 1], keepTargets: [0] }, baseValues: [0.25, -0.5], postTransform: 'LOGISTIC' })],
          [floatInput],
          [valueInfo('label', 7, ['N']), valueInfo('scores', 1, ['N', 2])],
        ),
        /two base values/,
      ],
    ];
    for (const [what, bytes, reason] of refused) {
      const reading = readTreeModel(bytes);
      expect(reading.model, what).toBeNull();
      expect(reading.reason, what).toMatch(reason);
    }
  });
});

interface ShapReference {
  base: number[];
  values: number[][]; // [target][feature]
}
interface SmallReference {
  background: { rows: number[][]; weights: number[] };
  dummyFeature: number;
  symmetricFeatures: [number, number];
  rows: { x: (number | null)[]; margin: number[]; pathDependent: ShapReference; interventional: ShapReference }[];
}

function readSmallReference(): SmallReference {
  return JSON.parse(readFileSync(path.join(REFERENCE, 'small-ensemble.json'), 'utf8')) as SmallReference;
}

describe('TreeSHAP on the small reference ensemble (brute force by scripts/explain-reference/trees.py)', () => {
  const ref = readSmallReference();
  const model = treeModelOf(readFileSync(path.join(REFERENCE, 'small-ensemble.onnx')))!;
  const shap = new TreeShap(model.ensemble); // covers: the file's hit rates
  const background = { rows: Float32Array.from(ref.background.rows.flat()), n: ref.background.rows.length, weights: ref.background.weights };
  const xOf = (r: SmallReference['rows'][number]): Float32Array => Float32Array.from(r.x.map((v) => v ?? NaN));

  for (const method of ['pathDependent', 'interventional'] as const) {
    it(`${method}: base, contributions and margin match the brute-force Shapley values to 1e-9`, () => {
      for (const [i, r] of ref.rows.entries()) {
        const e = method === 'pathDependent' ? shap.pathDependent(xOf(r)) : shap.interventional(xOf(r), background);
        expect(e.method).toBe(method === 'pathDependent' ? 'path-dependent' : 'interventional');
        for (let t = 0; t < 2; t++) {
          const got = e.targets[t]!;
          const want = r[method];
          expect(Math.abs(got.base - want.base[t]!), `row ${i} target ${t} base`).toBeLessThan(1e-9);
          expect(Math.abs(got.margin - r.margin[t]!), `row ${i} target ${t} margin`).toBeLessThan(1e-9);
          for (let f = 0; f < 5; f++) {
            expect(Math.abs(got.contributions[f]! - want.values[t]![f]!), `row ${i} target ${t} feature ${f}`).toBeLessThan(1e-9);
          }
        }
        expect(additivityGap(e)).toBeLessThan(1e-9);
      }
    });

    it(`${method}: the feature no tree uses gets exactly 0, and symmetric features get equal values`, () => {
      const [a, b] = ref.symmetricFeatures;
      let symmetricRows = 0;
      for (const r of ref.rows) {
        const e = method === 'pathDependent' ? shap.pathDependent(xOf(r)) : shap.interventional(xOf(r), background);
        for (const t of e.targets) {
          expect(t.contributions[ref.dummyFeature]).toBe(0);
          if (r.x[a] === r.x[b]) expect(Math.abs(t.contributions[a]! - t.contributions[b]!)).toBeLessThan(1e-12);
        }
        if (r.x[a] === r.x[b]) symmetricRows++;
      }
      expect(symmetricRows).toBeGreaterThanOrEqual(3);
    });
  }

  it('reports the model scores beside the margins (identity for this regressor)', () => {
    const e = shap.pathDependent(xOf(ref.rows[0]!));
    expect(e.postTransform).toBe('NONE');
    expect(Array.from(e.scores)).toEqual(e.targets.map((t) => t.margin));
  });
});

describe('TreeSHAP on the fixtures', () => {
  const reference = new Map<Fixture, { rows: Float32Array; n: number }>();
  beforeAll(async () => {
    for (const { name } of FIXTURES) reference.set(name, await csvRows(name, 'reference.csv'));
  });
  afterAll(() => reference.clear());

  for (const { name } of FIXTURES) {
    it(`path-dependent on ${name} (covers from reference.csv): base + Σφ = margin to 1e-6 on every golden row`, () => {
      const model = modelOf(name);
      const e = model.ensemble;
      const ref = reference.get(name)!;
      const covers = coversFrom(e, ref.rows, ref.n);
      const shap = new TreeShap(e, { covers });
      // covers counted from data make the base the mean margin over that data
      const mean = sum(e.margins(ref.rows, ref.n)) / ref.n;
      expect(Math.abs(shap.expectedMargins()[0]! - mean)).toBeLessThan(1e-9);
      const { rows, n } = goldenRows(name);
      let worst = 0;
      for (let r = 0; r < n; r++) {
        const ex = shap.pathDependent(row(rows, r, e.featureCount));
        expect(ex.targets[0]!.base).toBe(shap.expectedMargins()[0]);
        worst = Math.max(worst, additivityGap(ex));
      }
      expect(worst).toBeLessThan(1e-6);
    });

    it(`interventional on ${name} (50 reference rows as background): base + Σφ = margin to 1e-6 on every golden row`, () => {
      const e = modelOf(name).ensemble;
      const ref = reference.get(name)!;
      const background = { rows: ref.rows.slice(0, 50 * e.featureCount), n: 50 };
      const shap = new TreeShap(e);
      const mean = sum(e.margins(background.rows, 50)) / 50;
      const { rows, n } = goldenRows(name);
      let worst = 0;
      for (let r = 0; r < n; r++) {
        const ex = shap.interventional(row(rows, r, e.featureCount), background);
        expect(Math.abs(ex.targets[0]!.base - mean)).toBeLessThan(1e-9);
        worst = Math.max(worst, additivityGap(ex));
      }
      expect(worst).toBeLessThan(1e-6);
    });
  }

  it('path-dependent refuses to run without covers when the file has no hit rates', () => {
    const shap = new TreeShap(modelOf('breast-cancer-gbt').ensemble);
    expect(shap.hasCovers).toBe(false);
    expect(() => shap.pathDependent(new Float32Array(30))).toThrow(/coversFrom/);
  });

  it('refuses rows and backgrounds of the wrong width with INVALID_ARGUMENT', () => {
    const shap = new TreeShap(modelOf('diabetes-gbt-regressor').ensemble);
    const bad = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (err) {
        return err instanceof BerthError ? err.code : 'not a BerthError';
      }
      return undefined;
    };
    expect(bad(() => shap.interventional(new Float32Array(9), { rows: new Float32Array(10), n: 1 }))).toBe('INVALID_ARGUMENT');
    expect(bad(() => shap.interventional(new Float32Array(10), { rows: new Float32Array(15), n: 1 }))).toBe('INVALID_ARGUMENT');
    expect(bad(() => shap.interventional(new Float32Array(10), { rows: new Float32Array(10), n: 1, weights: [0] }))).toBe('INVALID_ARGUMENT');
  });
});

const DIABETES_SHAPLEY = path.join(REFERENCE, 'diabetes-shapley.json');

describe('interventional TreeSHAP against brute-force Shapley values on diabetes-gbt-regressor', () => {
  it('has the reference file (scripts/explain-reference/shapley.py writes it)', () => {
    expect(existsSync(DIABETES_SHAPLEY)).toBe(true);
  });

  it.runIf(existsSync(DIABETES_SHAPLEY))('matches test/explain/reference/diabetes-shapley.json to 1e-6', () => {
    const ref = JSON.parse(readFileSync(DIABETES_SHAPLEY, 'utf8')) as {
      background: { rows: number[][]; weights: number[] };
      rows: { x: (number | null)[]; base: number; prediction: number; shapley: number[] }[];
    };
    const e = modelOf('diabetes-gbt-regressor').ensemble;
    const shap = new TreeShap(e);
    const background = { rows: Float32Array.from(ref.background.rows.flat()), n: ref.background.rows.length, weights: ref.background.weights };
    expect(ref.rows.length).toBeGreaterThan(0);
    for (const [i, r] of ref.rows.entries()) {
      const ex = shap.interventional(Float32Array.from(r.x.map((v) => v ?? NaN)), background);
      const t = ex.targets[0]!;
      expect(Math.abs(t.base - r.base), `row ${i} base`).toBeLessThan(1e-6);
      expect(Math.abs(t.margin - r.prediction), `row ${i} prediction`).toBeLessThan(1e-6);
      r.shapley.forEach((v, f) => expect(Math.abs(t.contributions[f]! - v), `row ${i} feature ${f}`).toBeLessThan(1e-6));
    }
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BerthError, type Datatype, type ModelCard, type Signature, type Tensor, type TensorSpec } from '../../core/index.js';
import { decodeRows, postprocessPredictions } from './rows.js';

import { FIXTURES } from '../../../test/helpers/fixtures.js';

const DTYPES: Record<string, Datatype> = { float32: 'FP32', float64: 'FP64', int64: 'INT64', int32: 'INT32', string: 'BYTES', bool: 'BOOL' };

interface FixtureTensor { dtype: string; shape: number[]; data: unknown[] }
interface FixtureIO { name: string; dtype: string; shape: number[]; feature_names?: string[]; vocabulary?: string[]; valid_range?: [number, number] }
interface Fixture {
  sig: Signature;
  card: ModelCard;
  cases: { name: string; inputs: Record<string, FixtureTensor>; expected: Record<string, FixtureTensor> }[];
}

/** A fixture folder's card.json as the Signature and ModelCard the rest of Berth would build from it. */
function loadFixture(name: string): Fixture {
  const raw = JSON.parse(readFileSync(join(FIXTURES, name, 'card.json'), 'utf8')) as {
    task: ModelCard['task']; inputs: FixtureIO[]; outputs: FixtureIO[]; feature_names?: string[];
    class_labels?: (number | string)[]; class_names?: string[];
  };
  const spec = (io: FixtureIO): TensorSpec => ({
    name: io.name, datatype: DTYPES[io.dtype]!, shape: io.shape,
    ...(io.feature_names ? { featureNames: io.feature_names } : {}),
    ...(io.vocabulary ? { vocabulary: io.vocabulary } : {}),
    ...(io.valid_range ? { validRange: io.valid_range } : {}),
  });
  const sig: Signature = { inputs: raw.inputs.map(spec), outputs: raw.outputs.map(spec), batchable: true };
  const card: ModelCard = { format: 'berth-card/1', task: raw.task, outputs: raw.outputs.map((o) => ({ name: o.name })) };
  if (raw.feature_names) card.features = raw.feature_names;
  if (raw.class_labels) card.classes = { labels: raw.class_labels, ...(raw.class_names ? { names: raw.class_names } : {}) };
  const golden = JSON.parse(readFileSync(join(FIXTURES, name, 'golden.json'), 'utf8')) as { cases: Fixture['cases'] };
  return { sig, card, cases: golden.cases };
}

/** A golden tensor as Berth's typed tensor. */
function toTensor(name: string, t: FixtureTensor): Tensor {
  const flat = (t.data as unknown[]).flat(Infinity);
  const dt = DTYPES[t.dtype]!;
  const data = dt === 'FP32' ? Float32Array.from(flat as number[])
    : dt === 'INT64' ? BigInt64Array.from(flat as number[], (v) => BigInt(v))
      : dt === 'BYTES' ? (flat as string[]) : Float64Array.from(flat as number[]);
  return { name, datatype: dt, shape: t.shape, data };
}

/** Golden inputs turned into `rows` objects via the card's feature names. */
function goldenRows(fx: Fixture, caseName: string): Record<string, unknown>[] {
  const c = fx.cases.find((x) => x.name === caseName)!;
  const n = c.inputs[fx.sig.inputs[0]!.name]!.shape[0]!;
  const rows: Record<string, unknown>[] = Array.from({ length: n }, () => ({}));
  for (const spec of fx.sig.inputs) {
    const data = c.inputs[spec.name]!.data as unknown[][];
    spec.featureNames!.forEach((f, j) => {
      for (let r = 0; r < n; r++) rows[r]![f] = data[r]![j];
    });
  }
  return rows;
}

function goldenInputs(fx: Fixture, caseName: string): Tensor[] {
  const c = fx.cases.find((x) => x.name === caseName)!;
  return fx.sig.inputs.map((s) => toTensor(s.name, c.inputs[s.name]!));
}

function expectError(fn: () => unknown, code: string, message: string | RegExp): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    const e = err as BerthError;
    expect(e.code).toBe(code);
    if (typeof message === 'string') expect(e.message).toBe(message);
    else expect(e.message).toMatch(message);
    return e;
  }
  throw new Error('expected a BerthError, nothing was thrown');
}

const credit = loadFixture('credit');
const mixed = loadFixture('tabular-mixed');
const digits = loadFixture('digits-mlp');

const CREDIT_FEATURES = 'each row needs exactly these 15 features: "age", "annual_income", "employment_years", "credit_history_years", "loan_amount", "loan_term_months", "interest_rate", "debt_to_income", "credit_utilization", "num_credit_lines", "num_delinquencies_2y", "num_inquiries_6m", "home_ownership", "loan_purpose", "region"';

describe('decodeRows with rows', () => {
  it('decodes credit\'s golden rows (numbers and strings) into exactly the golden input tensors', () => {
    const rows = goldenRows(credit, 'golden_32');
    expect(Object.keys(rows[0]!)).toHaveLength(15);
    expect(rows[0]).toMatchObject({ age: 46, annual_income: 116653, home_ownership: 'MORTGAGE' });
    const tensors = decodeRows({ rows }, credit.sig);
    expect(tensors.map((t) => [t.name, t.datatype, t.shape])).toEqual([
      ['numeric', 'FP32', [32, 12]], ['home_ownership', 'BYTES', [32, 1]], ['loan_purpose', 'BYTES', [32, 1]], ['region', 'BYTES', [32, 1]],
    ]);
    expect(tensors).toEqual(goldenInputs(credit, 'golden_32'));
  });

  it('decodes the 2000 held-out credit rows, whatever order each row lists its keys in', () => {
    const rows = goldenRows(credit, 'heldout_2000').map((row, i) => (i % 2 === 0 ? row : Object.fromEntries(Object.entries(row).reverse())));
    expect(decodeRows({ rows }, credit.sig)).toEqual(goldenInputs(credit, 'heldout_2000'));
  });

  it('decodes tabular-mixed rows into a float32 [N,8] tensor and an int64 [N,1] city_id tensor', () => {
    const rows = goldenRows(mixed, 'golden_32');
    expect(rows[1]).toEqual({ distance_km: 2.75, items_count: 4, order_hour: 17, is_weekend: 1, rain_mm: 0, courier_rating: 4.71, restaurant_prep_min: 9.6, traffic_index: 0.389, city_id: 6 });
    const tensors = decodeRows({ rows }, mixed.sig);
    expect(tensors).toEqual(goldenInputs(mixed, 'golden_32'));
    expect(tensors[1]).toMatchObject({ name: 'category', datatype: 'INT64', shape: [32, 1] });
    expect(Array.from(tensors[1]!.data as BigInt64Array).slice(0, 4)).toEqual([1n, 6n, 7n, 4n]);
  });

  it('turns null into NaN for float inputs (a missing value)', () => {
    const row = { ...goldenRows(mixed, 'golden_32')[0]!, rain_mm: null };
    const [numeric] = decodeRows({ rows: [row] }, mixed.sig);
    expect(Number.isNaN((numeric!.data as Float32Array)[4])).toBe(true);
  });

  it('rejects a missing feature, naming the row and the feature and listing what is expected', () => {
    const rows = goldenRows(credit, 'golden_32').slice(0, 5);
    delete rows[3]!.age;
    delete rows[3]!.region;
    const e = expectError(() => decodeRows({ rows }, credit.sig), 'INVALID_INPUT', `rows[3].age: missing (and 1 more: "region"); ${CREDIT_FEATURES}`);
    expect(e.context.field).toBe('rows[3].age');
  });

  it('reports the first row with a missing feature even when a later row misses an earlier input', () => {
    const rows = goldenRows(credit, 'golden_32').slice(0, 5);
    delete rows[4]!.age;
    delete rows[2]!.region;
    expectError(() => decodeRows({ rows }, credit.sig), 'INVALID_INPUT', /^rows\[2\]\.region: missing; /);
  });

  it('rejects unknown feature keys and suggests the feature meant (typo protection)', () => {
    const rows = goldenRows(credit, 'golden_32').slice(0, 3);
    rows[1]!.Region = 'west';
    const e = expectError(() => decodeRows({ rows }, credit.sig), 'INVALID_INPUT', `rows[1]: unknown feature "Region" (did you mean "region"?); ${CREDIT_FEATURES}`);
    expect(e.context.field).toBe('rows[1].Region');
    const typo = goldenRows(credit, 'golden_32').slice(0, 1);
    typo[0]!.anual_income = typo[0]!.annual_income;
    delete typo[0]!.annual_income;
    expectError(() => decodeRows({ rows: typo }, credit.sig), 'INVALID_INPUT',
      `rows[0].annual_income: missing; unknown feature "anual_income" (did you mean "annual_income"?); ${CREDIT_FEATURES}`);
    const extra = goldenRows(credit, 'golden_32').slice(0, 1);
    extra[0]!.customer_id = 'c-17';
    expectError(() => decodeRows({ rows: extra }, credit.sig), 'INVALID_INPUT', `rows[0]: unknown feature "customer_id"; ${CREDIT_FEATURES}`);
  });

  it('treats inherited property names as missing, not as values', () => {
    const sig: Signature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1], featureNames: ['constructor'] }], outputs: [], batchable: true };
    expectError(() => decodeRows({ rows: [{}] }, sig), 'INVALID_INPUT', /^rows\[0\]\.constructor: missing; /);
    expect(decodeRows({ rows: [{ constructor: 2 }] }, sig)[0]!.data).toEqual(new Float32Array([2]));
  });

  it('rejects strings for numeric features, numbers for string features and null outside float inputs', () => {
    const base = goldenRows(credit, 'golden_32')[0]!;
    expectError(() => decodeRows({ rows: [{ ...base, age: '46' }] }, credit.sig), 'INVALID_INPUT',
      'rows[0].age: expected a number (or null for a missing value) for FP32 input "numeric", got "46" (send numbers unquoted)');
    expectError(() => decodeRows({ rows: [{ ...base, age: 'n/a' }] }, credit.sig), 'INVALID_INPUT',
      'rows[0].age: expected a number (or null for a missing value) for FP32 input "numeric", got "n/a"');
    expectError(() => decodeRows({ rows: [base, { ...base, region: 3 }] }, credit.sig), 'INVALID_INPUT',
      'rows[1].region: expected a string for BYTES input "region", got 3');
    expectError(() => decodeRows({ rows: [{ ...base, home_ownership: null }] }, credit.sig), 'INVALID_INPUT',
      'rows[0].home_ownership: expected a string for BYTES input "home_ownership", got null');
    const m = goldenRows(mixed, 'golden_32')[0]!;
    expectError(() => decodeRows({ rows: [{ ...m, city_id: null }] }, mixed.sig), 'INVALID_INPUT',
      'rows[0].city_id: expected an integer in [-9007199254740991, 9007199254740991] for INT64 input "category", got null');
  });

  it('rejects non-integers and out-of-range values for integer inputs', () => {
    const m = goldenRows(mixed, 'golden_32')[0]!;
    expectError(() => decodeRows({ rows: [{ ...m, city_id: 1.5 }] }, mixed.sig), 'INVALID_INPUT', /^rows\[0\]\.city_id: expected an integer .* got 1\.5$/);
    expectError(() => decodeRows({ rows: [{ ...m, city_id: 2 ** 60 }] }, mixed.sig), 'INVALID_INPUT', /^rows\[0\]\.city_id: expected an integer .* got 1152921504606847000$/);
    expectError(() => decodeRows({ rows: [{ ...m, city_id: '3' }] }, mixed.sig), 'INVALID_INPUT', /got "3" \(send numbers unquoted\)$/);
    const sig: Signature = { inputs: [{ name: 'b', datatype: 'UINT8', shape: [-1, 1], featureNames: ['level'] }], outputs: [], batchable: true };
    expectError(() => decodeRows({ rows: [{ level: 256 }] }, sig), 'INVALID_INPUT', 'rows[0].level: expected an integer in [0, 255] for UINT8 input "b", got 256');
  });

  it('rejects an empty, missing or malformed rows array and rows that are not objects', () => {
    expectError(() => decodeRows({ rows: [] }, credit.sig), 'INVALID_INPUT', 'rows: expected at least one row');
    expectError(() => decodeRows({ rows: {} }, credit.sig), 'INVALID_INPUT', 'rows: expected an array of objects (feature → value), got an object');
    expectError(() => decodeRows({ rows: [{ age: 1 }, [1, 2]] }, credit.sig), 'INVALID_INPUT', 'rows[1]: expected an object of feature → value, got an array');
    expectError(() => decodeRows({}, credit.sig), 'INVALID_ARGUMENT', 'request body: expected {"rows": [{feature: value, ...}, ...]} or {"instances": [[...], ...]}, got an object with keys (none)');
    expectError(() => decodeRows({ data: [] }, credit.sig), 'INVALID_ARGUMENT', /got an object with keys "data"$/);
    expectError(() => decodeRows('rows', credit.sig), 'INVALID_ARGUMENT', /got "rows"$/);
    expectError(() => decodeRows({ rows: [], instances: [] }, credit.sig), 'INVALID_ARGUMENT', 'request body: send either "rows" or "instances", not both');
  });

  it('rejects rows for a model whose card declares no feature names, pointing to instances', () => {
    const sig: Signature = { inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 1, 8, 8] }], outputs: [], batchable: true };
    expectError(() => decodeRows({ rows: [{ a: 1 }] }, sig), 'INVALID_INPUT',
      'rows: the model\'s card declares no feature names for input "image", so named rows cannot be mapped onto it; send {"instances": [...]} with the values in order instead');
  });

  it('rejects rows when the card\'s feature names do not fit the input shape', () => {
    const sig: Signature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3], featureNames: ['a', 'b'] }], outputs: [], batchable: true };
    expectError(() => decodeRows({ rows: [{ a: 1, b: 2 }] }, sig), 'INVALID_CARD',
      'rows: input "x" has 2 feature names but its shape [-1, 3] holds 3 values per row; fix the card\'s feature names or send {"instances": [...]}');
  });

  it('resolves a dynamic trailing dimension from the feature names', () => {
    const sig: Signature = { inputs: [{ name: 'x', datatype: 'FP64', shape: [-1, -1], featureNames: ['a', 'b'] }], outputs: [], batchable: true };
    expect(decodeRows({ rows: [{ a: 1, b: 2 }, { b: 4, a: 3 }] }, sig)).toEqual([{ name: 'x', datatype: 'FP64', shape: [2, 2], data: new Float64Array([1, 2, 3, 4]) }]);
  });
});

describe('decodeRows with instances', () => {
  it('takes flat or nested per-row data for a single-input model', () => {
    const golden = goldenInputs(digits, 'golden_32')[0]!;
    const nested = digits.cases[0]!.inputs.input!.data as number[][];
    expect(decodeRows({ instances: nested }, digits.sig)).toEqual([golden]);
    const image: Signature = { inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 1, 8, 8] }], outputs: [], batchable: true };
    const asImages = nested.map((row) => [Array.from({ length: 8 }, (_, i) => row.slice(i * 8, i * 8 + 8))]);
    const [t] = decodeRows({ instances: asImages }, image);
    expect(t!.shape).toEqual([32, 1, 8, 8]);
    expect(t!.data).toEqual(golden.data);
  });

  it('takes scalars when each row holds one value', () => {
    const sig: Signature = { inputs: [{ name: 'x', datatype: 'INT32', shape: [-1] }], outputs: [], batchable: true };
    expect(decodeRows({ instances: [3, [4], 5] }, sig)).toEqual([{ name: 'x', datatype: 'INT32', shape: [3], data: new Int32Array([3, 4, 5]) }]);
  });

  it('infers a dynamic trailing dimension from the first instance', () => {
    const sig: Signature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }], outputs: [], batchable: true };
    expect(decodeRows({ instances: [[1, 2, 3], [4, 5, 6]] }, sig)[0]).toMatchObject({ shape: [2, 3] });
    expectError(() => decodeRows({ instances: [[1, 2, 3], [4, 5]] }, sig), 'INVALID_INPUT', 'instances[1]: input "x" needs 3 values per row (shape [-1, -1]), got 2');
    const seq: Signature = { inputs: [{ name: 's', datatype: 'FP32', shape: [-1, -1, -1] }], outputs: [], batchable: true };
    expect(decodeRows({ instances: [[[1, 2], [3, 4], [5, 6]]] }, seq)[0]).toMatchObject({ shape: [1, 3, 2] });
    expectError(() => decodeRows({ instances: [[1, 2, 3]] }, seq), 'INVALID_INPUT', /^instances\[0\]: cannot infer the per-row shape \[-1, -1\] of input "s"/);
  });

  it('takes objects keyed by input name for a multi-input model', () => {
    const c = credit.cases[0]!;
    const instances = Array.from({ length: 32 }, (_, r) => ({
      numeric: (c.inputs.numeric!.data as number[][])[r],
      home_ownership: (c.inputs.home_ownership!.data as string[][])[r],
      loan_purpose: (c.inputs.loan_purpose!.data as string[][])[r]![0], // a bare value for a one-value row
      region: (c.inputs.region!.data as string[][])[r],
    }));
    expect(decodeRows({ instances }, credit.sig)).toEqual(goldenInputs(credit, 'golden_32'));
  });

  it('takes arrays of every feature in feature order (mixed numbers and strings) for a multi-input model', () => {
    const rows = goldenRows(credit, 'golden_32');
    const order = credit.sig.inputs.flatMap((s) => s.featureNames!);
    const instances = rows.map((row) => order.map((f) => row[f]));
    expect(instances[0]!.slice(12)).toEqual([rows[0]!.home_ownership, rows[0]!.loan_purpose, rows[0]!.region]);
    expect(decodeRows({ instances }, credit.sig)).toEqual(goldenInputs(credit, 'golden_32'));
    const mixedRows = goldenRows(mixed, 'golden_32');
    const mixedOrder = mixed.sig.inputs.flatMap((s) => s.featureNames!);
    expect(decodeRows({ instances: mixedRows.map((row) => mixedOrder.map((f) => row[f])) }, mixed.sig)).toEqual(goldenInputs(mixed, 'golden_32'));
  });

  it('rejects malformed instances with the instance and what was expected', () => {
    expectError(() => decodeRows({ instances: [] }, credit.sig), 'INVALID_INPUT', 'instances: expected at least one instance');
    expectError(() => decodeRows({ instances: 'x' }, credit.sig), 'INVALID_INPUT', 'instances: expected an array with one entry per row, got "x"');
    expectError(() => decodeRows({ instances: [[1, 2]] }, credit.sig), 'INVALID_INPUT', /^instances\[0\]: expected 15 values in feature order \("age", "annual_income", .*\), got 2$/);
    expectError(() => decodeRows({ instances: [5] }, credit.sig), 'INVALID_INPUT',
      'instances[0]: expected an object keyed by input name ("numeric", "home_ownership", "loan_purpose", "region") or an array of all feature values in order, got 5');
    expectError(() => decodeRows({ instances: [{ numeric: [], home_ownership: 'RENT', loan_purpose: 'car', regoin: 'west' }] }, credit.sig), 'INVALID_INPUT',
      'instances[0]: missing input "region"; unknown key "regoin" (did you mean "region"?); an object instance needs exactly the inputs "numeric", "home_ownership", "loan_purpose", "region"');
    expectError(() => decodeRows({ instances: [{ numeric: [1, 2], home_ownership: 'RENT', loan_purpose: 'car', region: 'west' }] }, credit.sig), 'INVALID_INPUT',
      'instances[0].numeric: input "numeric" needs 12 values per row (shape [-1, 12]), got 2');
    expectError(() => decodeRows({ instances: [{ numeric: 7, home_ownership: 'RENT', loan_purpose: 'car', region: 'west' }] }, credit.sig), 'INVALID_INPUT',
      'instances[0].numeric: expected an array of 12 values for input "numeric" (shape [-1, 12]), got 7');
    const row = Array.from({ length: 64 }, () => 0);
    row[9] = 'x' as unknown as number;
    expectError(() => decodeRows({ instances: [row] }, digits.sig), 'INVALID_INPUT',
      'instances[0] element 9: expected a number (or null for a missing value) for FP32 input "input", got "x"');
    const order = credit.sig.inputs.flatMap((s) => s.featureNames!);
    const first = goldenRows(credit, 'golden_32')[0]!;
    const bad = order.map((f) => (f === 'region' ? 4 : first[f]));
    expectError(() => decodeRows({ instances: [bad] }, credit.sig), 'INVALID_INPUT', 'instances[0][14] (feature "region"): expected a string for BYTES input "region", got 4');
  });

  it('rejects feature-ordered arrays when an input declares no feature names', () => {
    const sig: Signature = {
      inputs: [{ name: 'a', datatype: 'FP32', shape: [-1, 2] }, { name: 'b', datatype: 'INT64', shape: [-1, 1], featureNames: ['id'] }], outputs: [], batchable: true,
    };
    expectError(() => decodeRows({ instances: [[1, 2, 3]] }, sig), 'INVALID_INPUT',
      'instances[0]: an array instance must list every feature in order, but input "a" declares no feature names; send an object keyed by input name ("a", "b") instead');
    expect(decodeRows({ instances: [{ a: [1, 2], b: 3 }] }, sig)).toEqual([
      { name: 'a', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) },
      { name: 'b', datatype: 'INT64', shape: [1, 1], data: new BigInt64Array([3n]) },
    ]);
  });
});

describe('decodeRows element limit', () => {
  const wide: Signature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1000] }], outputs: [], batchable: true };

  it('refuses instances whose tensors would exceed maxTensorElements with a 413, before allocating', () => {
    // 2,000 short instances of a 1,000-wide model: 2M elements from a few kilobytes of body
    const instances = new Array<unknown>(2000).fill(0);
    const e = expectError(() => decodeRows({ instances }, wide, { maxTensorElements: 1_000_000 }), 'PAYLOAD_TOO_LARGE',
      'instances: the request\'s input tensors would hold: 2000000 elements in all, more than the limit of 1000000 per request (hardening.maxTensorElements); send fewer rows per request or raise the limit');
    expect(e.status).toBe(413);
    expect(e.context).toMatchObject({ field: 'instances', got: 2000000 });
    // the default limit (16M) lets the same request through to the element check
    expectError(() => decodeRows({ instances }, wide), 'INVALID_INPUT', /^instances\[0\]/);
  });

  it('counts rows over every input of a multi-input model', () => {
    // credit: a 12-wide numeric input and three 1-wide ones; 10 rows make 120, then 130
    const rows = Array.from({ length: 10 }, () => ({}));
    const e = expectError(() => decodeRows({ rows }, credit.sig, { maxTensorElements: 125 }), 'PAYLOAD_TOO_LARGE', /^rows: .* 130 elements in all, more than the limit of 125/);
    expect(e.context['field']).toBe('rows');
  });
});

describe('postprocessPredictions', () => {
  it('turns logits into softmax probabilities and the argmax label, matching a hand computation', () => {
    const logits: Tensor = { name: 'logits', datatype: 'FP32', shape: [2, 3], data: new Float32Array([1, 2, 3, 1000, 1001, 999]) };
    const sig: Signature = { inputs: [], outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 3] }], batchable: true };
    const card: ModelCard = { format: 'berth-card/1', task: 'multiclass-classification', classes: { labels: [0, 1, 2], names: ['cat', 'dog', 'fox'] } };
    const [a, b] = postprocessPredictions([logits], sig, card, 2);
    // e^1, e^2, e^3 over their sum
    const s = Math.E + Math.E ** 2 + Math.E ** 3;
    expect(a!.label).toBe('fox');
    expect(a!.probabilities!.cat).toBeCloseTo(Math.E / s, 15);
    expect(a!.probabilities!.dog).toBeCloseTo(Math.E ** 2 / s, 15);
    expect(a!.probabilities!.fox).toBeCloseTo(Math.E ** 3 / s, 15);
    expect(Object.keys(a!.probabilities!)).toEqual(['cat', 'dog', 'fox']);
    // large logits do not overflow: same as [1, 2, 0]
    expect(b!.label).toBe('dog');
    expect(b!.probabilities!.dog).toBeCloseTo(Math.E ** 2 / (Math.E + Math.E ** 2 + 1), 15);
    expect(b!.probabilities!.fox).toBeCloseTo(1 / (Math.E + Math.E ** 2 + 1), 15);
  });

  it('names digits-mlp\'s softmaxed golden logits by class and picks the argmax digit', () => {
    const c = digits.cases[0]!;
    const logits = toTensor('logits', c.expected.logits!);
    const rows = postprocessPredictions([logits], digits.sig, digits.card, 32);
    expect(rows).toHaveLength(32);
    const data = logits.data as Float32Array;
    for (let r = 0; r < 32; r++) {
      const row = Array.from(data.subarray(r * 10, r * 10 + 10));
      const best = row.indexOf(Math.max(...row));
      expect(rows[r]!.label).toBe(String(best));
      const probs = rows[r]!.probabilities!;
      expect(Object.keys(probs)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      expect(Object.values(probs).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
      const max = Math.max(...row);
      const denom = row.reduce((acc, x) => acc + Math.exp(x - max), 0);
      expect(probs[String(best)]).toBeCloseTo(1 / denom, 12);
    }
    expect(rows[0]!.label).toBe('1');
  });

  it('maps credit\'s label output to class names and keys probabilities by class name', () => {
    const c = credit.cases[0]!;
    const outputs = [toTensor('label', c.expected.label!), toTensor('probabilities', c.expected.probabilities!)];
    const rows = postprocessPredictions(outputs, credit.sig, credit.card, 32);
    const labels = (c.expected.label!.data as number[]);
    const probs = c.expected.probabilities!.data as number[][];
    for (let r = 0; r < 32; r++) {
      expect(rows[r]!.label).toBe(labels[r] === 1 ? 'default' : 'repaid');
      expect(rows[r]!.probabilities).toEqual({ repaid: Math.fround(probs[r]![0]!), default: Math.fround(probs[r]![1]!) });
      expect(rows[r]!.outputs).toBeUndefined();
    }
  });

  it('keys probabilities by label strings, then by index, when the card has no class names', () => {
    const probs: Tensor = { name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: new Float32Array([0.25, 0.75]) };
    const sig: Signature = { inputs: [], outputs: [], batchable: true };
    const withLabels: ModelCard = { format: 'berth-card/1', task: 'binary-classification', classes: { labels: [3, 7] } };
    expect(postprocessPredictions([probs], sig, withLabels, 1)).toEqual([{ label: 7, probabilities: { 3: 0.25, 7: 0.75 } }]);
    expect(postprocessPredictions([probs], sig, undefined, 1)).toEqual([{ label: 1, probabilities: { 0: 0.25, 1: 0.75 } }]);
  });

  it('uses roles from the card over output names', () => {
    const outputs: Tensor[] = [
      { name: 'out_a', datatype: 'INT64', shape: [2], data: new BigInt64Array([1n, 0n]) },
      { name: 'out_b', datatype: 'FP32', shape: [2, 2], data: new Float32Array([0.5, 0.5, 0.875, 0.125]) },
      { name: 'probabilities', datatype: 'FP32', shape: [2, 1], data: new Float32Array([9, 8]) },
    ];
    const card: ModelCard = {
      format: 'berth-card/1', task: 'binary-classification', classes: { labels: [0, 1], names: ['no', 'yes'] },
      outputs: [{ name: 'out_a', role: 'label' }, { name: 'out_b', role: 'probabilities' }],
    };
    const rows = postprocessPredictions(outputs, { inputs: [], outputs: [], batchable: true }, card, 2);
    expect(rows).toEqual([
      { label: 'yes', probabilities: { no: 0.5, yes: 0.5 }, outputs: { probabilities: 9 } },
      { label: 'no', probabilities: { no: 0.875, yes: 0.125 }, outputs: { probabilities: 8 } },
    ]);
  });

  it('infers roles by name for outputs the card declares nothing about', () => {
    const outputs: Tensor[] = [
      { name: 'label', datatype: 'INT64', shape: [1], data: new BigInt64Array([0n]) },
      { name: 'p', datatype: 'FP32', shape: [1, 2], data: new Float32Array([0.75, 0.25]) },
    ];
    const card: ModelCard = {
      format: 'berth-card/1', task: 'binary-classification', classes: { labels: [0, 1], names: ['no', 'yes'] },
      outputs: [{ name: 'p', role: 'probabilities' }, { name: 'label' }],
    };
    expect(postprocessPredictions(outputs, { inputs: [], outputs: [], batchable: true }, card, 1)).toEqual([
      { label: 'no', probabilities: { no: 0.75, yes: 0.25 } },
    ]);
  });

  it('expands a single-column probability or logit of a binary model to both classes', () => {
    const sig: Signature = { inputs: [], outputs: [], batchable: true };
    const card: ModelCard = { format: 'berth-card/1', task: 'binary-classification', classes: { labels: [0, 1], names: ['ham', 'spam'] } };
    const p: Tensor = { name: 'probabilities', datatype: 'FP64', shape: [1, 1], data: new Float64Array([0.75]) };
    expect(postprocessPredictions([p], sig, card, 1)).toEqual([{ label: 'spam', probabilities: { ham: 0.25, spam: 0.75 } }]);
    const l: Tensor = { name: 'logits', datatype: 'FP32', shape: [1], data: new Float32Array([-2]) };
    const [row] = postprocessPredictions([l], sig, card, 1);
    expect(row!.label).toBe('ham');
    expect(row!.probabilities!.spam).toBeCloseTo(1 / (1 + Math.exp(2)), 15);
    expect(row!.probabilities!.ham).toBeCloseTo(1 - 1 / (1 + Math.exp(2)), 15);
  });

  it('uses sigmoids and no single label for multilabel logits', () => {
    const l: Tensor = { name: 'logits', datatype: 'FP32', shape: [1, 2], data: new Float32Array([0, 800]) };
    const card: ModelCard = { format: 'berth-card/1', task: 'multilabel-classification', classes: { labels: ['a', 'b'] } };
    expect(postprocessPredictions([l], { inputs: [], outputs: [], batchable: true }, card, 1)).toEqual([{ probabilities: { a: 0.5, b: 1 } }]);
  });

  it('returns regression values: a number for [N,1], an array for [N,k]', () => {
    const eta = toTensor('eta_minutes', mixed.cases[0]!.expected.eta_minutes!);
    const rows = postprocessPredictions([eta], mixed.sig, mixed.card, 32);
    expect(rows[0]).toEqual({ value: (eta.data as Float32Array)[0] });
    expect(typeof rows[0]!.value).toBe('number');
    expect(rows[31]!.value).toBe((eta.data as Float32Array)[31]);
    const two: Tensor = { name: 'y', datatype: 'FP16', shape: [2, 2], data: new Uint16Array([0x3e00, 0x3c00, 0xc000, 0x0000]) };
    const card: ModelCard = { format: 'berth-card/1', task: 'regression' };
    expect(postprocessPredictions([two], { inputs: [], outputs: [], batchable: true }, card, 2)).toEqual([{ value: [1.5, 1] }, { value: [-2, 0] }]);
  });

  it('treats the single float output of a model without a card as its value', () => {
    const y: Tensor = { name: 'variable', datatype: 'FP32', shape: [2, 1], data: new Float32Array([1.5, 2.5]) };
    const sig: Signature = { inputs: [], outputs: [{ name: 'variable', datatype: 'FP32', shape: [-1, 1] }], batchable: true };
    expect(postprocessPredictions([y], sig, undefined, 2)).toEqual([{ value: 1.5 }, { value: 2.5 }]);
  });

  it('returns outputs without a role as they are, with big integers and booleans made JSON-safe', () => {
    const outputs: Tensor[] = [
      { name: 'embedding', datatype: 'FP32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: 'ids', datatype: 'INT64', shape: [2], data: new BigInt64Array([9007199254740993n, 5n]) },
      { name: 'flag', datatype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
      { name: 'tag', datatype: 'BYTES', shape: [2], data: ['x', 'y'] },
    ];
    const card: ModelCard = { format: 'berth-card/1', task: 'multiclass-classification' };
    const sig: Signature = { inputs: [], outputs: [], batchable: true };
    const rows = postprocessPredictions(outputs, sig, card, 2);
    expect(rows).toEqual([
      { outputs: { embedding: [1, 2], ids: '9007199254740993', flag: true, tag: 'x' } },
      { outputs: { embedding: [3, 4], ids: 5, flag: false, tag: 'y' } },
    ]);
    expect(() => JSON.stringify(rows)).not.toThrow();
  });

  it('returns a scores output as per-row arrays', () => {
    const s: Tensor = { name: 'scores', datatype: 'FP64', shape: [1, 3], data: new Float64Array([0.5, -1, 2]) };
    expect(postprocessPredictions([s], { inputs: [], outputs: [], batchable: true }, { format: 'berth-card/1', task: 'ranking' }, 1)).toEqual([{ scores: [0.5, -1, 2] }]);
  });

  it('fails loudly when an output does not split into the row count', () => {
    const y: Tensor = { name: 'y', datatype: 'FP32', shape: [3], data: new Float32Array(3) };
    expectError(() => postprocessPredictions([y], { inputs: [], outputs: [], batchable: true }, undefined, 2), 'INTERNAL',
      'output "y" has 3 values (shape [3]), which does not split into 2 rows');
  });
});

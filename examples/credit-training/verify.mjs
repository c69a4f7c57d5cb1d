#!/usr/bin/env node
// Checks an exported credit model against scikit-learn's own predictions.
//
//   node examples/credit-training/verify.mjs MODEL.onnx EXPECT.csv [--card CARD.json] [--atol 1e-5]
//
// EXPECT.csv is what `train.py --expect-csv` writes: the raw feature columns, a `case` column,
// and sklearn's `expected_label`, `expected_p0`, `expected_p1` for each row. CSV columns are
// mapped to model inputs by the card (berth-card/1 `inputs[].features`, or a fixture card's
// `csv_to_inputs`); the card defaults to card.json next to the model. A blank numeric field is
// fed as NaN, which the graph must impute like sklearn's SimpleImputer does.
//
// The model is run with onnxruntime-node, with graph optimisations on and off. Prints the max
// absolute difference of the probabilities (overall and per case) and exits 1 when it is above
// --atol or a label differs (labels within 1e-6 of the 0.5 boundary are only reported).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { card: { type: 'string' }, atol: { type: 'string', default: '1e-5' } },
});
if (positionals.length !== 2) {
  console.error('usage: node verify.mjs MODEL.onnx EXPECT.csv [--card CARD.json] [--atol 1e-5]');
  process.exit(2);
}
const [modelPath, expectPath] = positionals;
const atol = Number(opts.atol);
const cardPath = opts.card ?? join(dirname(modelPath), 'card.json');

/** input name -> CSV column names, from either card format */
function inputColumns(card) {
  if (card.csv_to_inputs) return card.csv_to_inputs;
  const map = {};
  for (const input of card.inputs ?? []) if (input.features) map[input.name] = input.features;
  return map;
}

/** Minimal CSV reader: header + rows, no quoted fields (train.py never writes any). */
function readCsv(path) {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.some((l) => l.includes('"'))) throw new Error(`${path}: quoted CSV fields are not supported`);
  const header = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(','));
  const col = (name) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${path}: no column ${JSON.stringify(name)}`);
    return rows.map((r) => r[i]);
  };
  return { n: rows.length, col };
}

const columnsOf = inputColumns(JSON.parse(readFileSync(cardPath, 'utf8')));
const csv = readCsv(expectPath);
const n = csv.n;

async function run(graphOptimizationLevel) {
  const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel, intraOpNumThreads: 1 });
  const feeds = {};
  for (const meta of session.inputMetadata) {
    const columns = columnsOf[meta.name];
    if (!columns) throw new Error(`the card does not map model input ${meta.name} to CSV columns`);
    const values = columns.map((c) => csv.col(c));
    const k = columns.length;
    if (meta.type === 'string') {
      const data = new Array(n * k);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) data[i * k + j] = values[j][i];
      feeds[meta.name] = new ort.Tensor('string', data, [n, k]);
    } else if (meta.type === 'float32') {
      const data = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < k; j++) data[i * k + j] = values[j][i] === '' ? NaN : Number(values[j][i]);
      }
      feeds[meta.name] = new ort.Tensor('float32', data, [n, k]);
    } else {
      throw new Error(`input ${meta.name}: unsupported type ${meta.type}`);
    }
  }
  const out = await session.run(feeds);
  await session.release();
  return { label: out.label, probabilities: out.probabilities };
}

const expected = {
  label: csv.col('expected_label').map(Number),
  p: [csv.col('expected_p0').map(Number), csv.col('expected_p1').map(Number)],
  kase: csv.col('case'),
};

let failed = false;
for (const level of ['all', 'disabled']) {
  const { label, probabilities } = await run(level);
  if (probabilities.dims.join() !== `${n},2` || label.dims.join() !== `${n}`) {
    console.error(`[opt ${level}] unexpected output shapes: label [${label.dims}] ${label.type}, probabilities [${probabilities.dims}] ${probabilities.type}`);
    failed = true;
    continue;
  }
  const maxByCase = {};
  let max = 0;
  let labelErrors = 0;
  let boundary = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 2; c++) {
      const d = Math.abs(probabilities.data[i * 2 + c] - expected.p[c][i]);
      max = Math.max(max, d);
      maxByCase[expected.kase[i]] = Math.max(maxByCase[expected.kase[i]] ?? 0, d);
    }
    if (Number(label.data[i]) !== expected.label[i]) {
      if (Math.abs(expected.p[1][i] - 0.5) < 1e-6) boundary++;
      else labelErrors++;
    }
  }
  const perCase = Object.entries(maxByCase).map(([k, v]) => `${k} ${v.toExponential(3)}`).join(', ');
  console.log(`[opt ${level}] ${n} rows: max abs diff ${max.toExponential(3)} (${perCase}); ` +
    `label mismatches ${labelErrors}${boundary ? ` (+${boundary} at p=0.5)` : ''}; ` +
    `outputs label ${label.type} [${label.dims}], probabilities ${probabilities.type} [${probabilities.dims}]`);
  if (!(max <= atol) || labelErrors > 0) failed = true;
}
console.log(failed ? `FAIL (atol ${atol})` : `OK (atol ${atol})`);
process.exit(failed ? 1 : 0);

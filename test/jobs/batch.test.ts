import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { BerthError } from '../../src/core/index.js';
import { readParquetFile, stringValues, type Column, type Table } from '../../src/data/index.js';
import { runBatchJob, type BatchJobSpec, type OutputFormat } from '../../src/jobs/index.js';
import { openEmbeddedRegistry, parseCard, type Registry, type VersionRecord } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { decodeRows, postprocessPredictions } from '../../src/protocol/codec/index.js';
import { compareToGolden, fixturePath, flatten, readGolden, type GoldenTensor } from '../helpers/fixtures.js';

const MODELS = ['breast-cancer-gbt', 'credit'] as const;
type Model = (typeof MODELS)[number];

let tmp: string;
let dataDir: string;
let registry: Registry;
const versions = new Map<Model, VersionRecord>();
const inputs = new Map<Model, string>();
const ROWS = 32;

/** The golden case's inputs as named columns (features from the card), with an id key column first. */
function goldenCsv(model: Model, v: VersionRecord): string {
  const g = readGolden(model).cases.find((c) => c.name === 'golden_32')!;
  const header = ['id'];
  const columns: unknown[][] = [Array.from({ length: ROWS }, (_, r) => `r${r + 1}`)];
  for (const spec of v.signature.inputs) {
    const t = g.inputs[spec.name]!;
    const flat = flatten(t.data);
    const width = spec.featureNames!.length;
    spec.featureNames!.forEach((f, c) => {
      header.push(f);
      columns.push(Array.from({ length: ROWS }, (_, r) => flat[r * width + c]));
    });
  }
  const lines = [header.join(',')];
  for (let r = 0; r < ROWS; r++) lines.push(columns.map((col) => String(col[r])).join(','));
  return lines.join('\n') + '\n';
}

function spec(model: Model, output: string, extra: Partial<BatchJobSpec> = {}): BatchJobSpec {
  return { version: versions.get(model)!, input: inputs.get(model)!, output, ...extra };
}

/** An output file as columns of plain values. */
async function readOutput(file: string, format: OutputFormat): Promise<{ names: string[]; values: Map<string, unknown[]> }> {
  if (format === 'parquet') {
    const t: Table = await readParquetFile(file);
    const values = new Map<string, unknown[]>();
    for (const c of t.columns) values.set(c.name, columnValues(c));
    return { names: t.columns.map((c) => c.name), values };
  }
  const text = await readFile(file, 'utf8');
  const lines = text.split('\n').filter((l) => l !== '');
  if (format === 'jsonl') {
    const rows = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const names = Object.keys(rows[0]!);
    return { names, values: new Map(names.map((n) => [n, rows.map((r) => r[n])])) };
  }
  const names = lines[0]!.split(',');
  const rows = lines.slice(1).map((l) => l.split(','));
  return { names, values: new Map(names.map((n, i) => [n, rows.map((r) => r[i])])) };
}

function columnValues(c: Column): unknown[] {
  if (c.type === 'string') return stringValues(c);
  if (c.type === 'binary') return c.values;
  return Array.from(c.values);
}

/** The card's class names: labels 0 and 1 are called this (as the friendly endpoint answers). */
function classNamesOf(model: Model): string[] {
  return versions.get(model)!.card!.classes!.names!;
}

function expectGolden(model: Model, values: Map<string, unknown[]>): void {
  const g = readGolden(model);
  const gc = g.cases.find((c) => c.name === 'golden_32')!;
  const names = classNamesOf(model);
  const label = values.get('label')!.map((x) => names.indexOf(String(x)));
  expect(compareToGolden(label, gc.expected['label']!, g.tolerance['label']!)).toBeNull();
  const probs: number[] = [];
  for (let r = 0; r < ROWS; r++) probs.push(Number(values.get(`p_${names[0]!}`)![r]), Number(values.get(`p_${names[1]!}`)![r]));
  expect(compareToGolden(probs, gc.expected['probabilities'] as GoldenTensor, g.tolerance['probabilities']!)).toBeNull();
  expect(values.get('id')).toEqual(Array.from({ length: ROWS }, (_, r) => `r${r + 1}`));
}

async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a BerthError');
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-batch-'));
  dataDir = path.join(tmp, 'data');
  registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'test' });
  const backend = new OnnxBackend();
  const inspect = (bytes: Uint8Array) => backend.inspect(bytes);
  for (const m of MODELS) {
    const card = parseCard(readFileSync(fixturePath(m, 'card.json'), 'utf8'), 'card.json');
    const r = await registry.registerVersion({ name: m, filePath: fixturePath(m), card, inspect });
    versions.set(m, r.version);
    const file = path.join(tmp, `${m}.csv`);
    await writeFile(file, goldenCsv(m, r.version));
    inputs.set(m, file);
  }
}, 60_000);

afterAll(async () => {
  await registry?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('berth batch run (jobs)', () => {
  for (const m of MODELS) {
    for (const format of ['csv', 'jsonl', 'parquet'] as const) {
      it(`scores ${m} into ${format} with the golden labels and probabilities, keys first, in input order`, async () => {
        const out = path.join(tmp, `${m}-golden.${format}`);
        const s = await runBatchJob(spec(m, out), { registry, dataDir });
        expect(s).toMatchObject({ rowsIn: ROWS, rowsOut: ROWS, rejected: 0, parts: 1, resumed: false, complete: true });
        const { names, values } = await readOutput(out, format);
        expect(names).toEqual(['id', 'label', ...classNamesOf(m).map((n) => `p_${n}`)]);
        expectGolden(m, values);
        expect(existsSync(path.join(dataDir, 'jobs', s.jobId))).toBe(false);
      });
    }
  }

  it('answers what the friendly endpoint answers for the same rows (labels and probabilities exactly), unknown categories included', async () => {
    const m = 'credit';
    const v = versions.get(m)!;
    // two rows with categories the card's vocabulary does not know: both paths hand them to the model
    const csv = readFileSync(inputs.get(m)!, 'utf8').trim().split('\n');
    const header = csv[0]!.split(',');
    for (const [row, column, value] of [[3, 'home_ownership', 'CASTLE'], [7, 'region', 'moon']] as const) {
      const cells = csv[row]!.split(',');
      cells[header.indexOf(column)] = value;
      csv[row] = cells.join(',');
    }
    const input = path.join(tmp, 'friendly-in.csv');
    await writeFile(input, csv.join('\n') + '\n');
    const out = path.join(tmp, 'friendly.jsonl');
    const summary = await runBatchJob(spec(m, out, { input }), { registry, dataDir });
    expect(summary).toMatchObject({ rowsIn: ROWS, rowsOut: ROWS, rejected: 0 });
    const batchRows = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // the same rows as friendly JSON: numbers as numbers, categories as strings
    const numeric = new Set(v.signature.inputs.filter((i) => i.datatype !== 'BYTES').flatMap((i) => i.featureNames!));
    const rows = csv.slice(1).map((l) => Object.fromEntries(l.split(',').map((x, i) => [header[i]!, x] as const)
      .filter(([k]) => k !== 'id').map(([k, x]) => [k, numeric.has(k) ? Number(x) : x])));
    const model = await new OnnxBackend().load(await registry.artifacts.read(v.sha256), { intraOpThreads: 1, interOpThreads: 1 });
    try {
      const friendly = postprocessPredictions(await model.run(decodeRows({ rows }, v.signature)), v.signature, v.card ?? undefined, rows.length);
      const names = classNamesOf(m);
      expect(batchRows.map((r) => r['label'])).toEqual(friendly.map((r) => r.label));
      expect(batchRows.map((r) => names.map((n) => r[`p_${n}`]))).toEqual(friendly.map((r) => names.map((n) => r.probabilities![n])));
    } finally {
      await model.dispose();
    }
  });

  it('writes byte-identical output for the same input, over several parts', async () => {
    for (const format of ['csv', 'parquet'] as const) {
      const a = path.join(tmp, `same-a.${format}`);
      const b = path.join(tmp, `same-b.${format}`);
      const sa = await runBatchJob(spec('credit', a, { partRows: 7, batchRows: 5 }), { registry, dataDir });
      await runBatchJob(spec('credit', b, { partRows: 7 }), { registry, dataDir });
      expect(sa.parts).toBe(5);
      expect((await readFile(a)).equals(await readFile(b))).toBe(true);
      expectGolden('credit', (await readOutput(a, format)).values);
    }
  });

  it('resumes after an interruption at the first missing part, every row once', async () => {
    const whole = path.join(tmp, 'whole.jsonl');
    await runBatchJob(spec('breast-cancer-gbt', whole, { partRows: 7 }), { registry, dataDir });
    const out = path.join(tmp, 'resumed.jsonl');
    const first = await runBatchJob(spec('breast-cancer-gbt', out, { partRows: 7 }), { registry, dataDir, stopAfterParts: 2 });
    expect(first).toMatchObject({ complete: false, parts: 2, rowsIn: 14 });
    expect(existsSync(out)).toBe(false);
    const second = await runBatchJob(spec('breast-cancer-gbt', out, { partRows: 7 }), { registry, dataDir });
    expect(second).toMatchObject({ complete: true, resumed: true, parts: 5, rowsIn: ROWS, rowsOut: ROWS });
    expect(second.jobId).toBe(first.jobId);
    expect((await readFile(out)).equals(await readFile(whole))).toBe(true);
  });

  it('fails before any work when a feature column is missing, naming it and the columns there are', async () => {
    const file = path.join(tmp, 'missing.csv');
    const text = readFileSync(inputs.get('credit')!, 'utf8').replace('region', 'area');
    await writeFile(file, text);
    const err = await rejection(runBatchJob(spec('credit', path.join(tmp, 'missing.csv.out.csv'), { input: file }), { registry, dataDir }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toContain('no column "region"');
    expect(err.message).toContain('"area"');
  });

  it('stops at a bad row with --on-error fail (row and column named, no output), and rejects it with skip', async () => {
    const file = path.join(tmp, 'bad.csv');
    const lines = readFileSync(inputs.get('credit')!, 'utf8').split('\n');
    const header = lines[0]!.split(',');
    const age = header.indexOf('age');
    const cells = lines[5]!.split(',');
    cells[age] = 'forty';
    lines[5] = cells.join(',');
    const ho = header.indexOf('home_ownership');
    const cells9 = lines[9]!.split(',');
    cells9[ho] = '';
    lines[9] = cells9.join(',');
    await writeFile(file, lines.join('\n'));
    const out = path.join(tmp, 'bad-out.csv');
    const err = await rejection(runBatchJob(spec('credit', out, { input: file }), { registry, dataDir }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/^row 5, column "age": expected a number, got "forty"/);
    expect(existsSync(out)).toBe(false);

    const s = await runBatchJob(spec('credit', out, { input: file, onError: 'skip', partRows: 4 }), { registry, dataDir });
    expect(s).toMatchObject({ rowsIn: ROWS, rowsOut: ROWS - 2, rejected: 2 });
    const rejected = readFileSync(`${out}.rejected.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rejected).toEqual([
      { row: 5, column: 'age', reason: 'expected a number, got "forty"', key: { id: 'r5' } },
      { row: 9, column: 'home_ownership', reason: 'missing value; expected a string', key: { id: 'r9' } },
    ]);
    const { values } = await readOutput(out, 'csv');
    expect(values.get('id')).toEqual(Array.from({ length: ROWS }, (_, r) => `r${r + 1}`).filter((id) => id !== 'r5' && id !== 'r9'));
  });

  it('runs from the CLI against the data dir and prints the summary with --json', async () => {
    const out = path.join(tmp, 'cli.parquet');
    let stdout = '';
    let stderr = '';
    const code = await main(
      ['node', 'berth', '--data-dir', dataDir, 'batch', 'run', '--model', 'breast-cancer-gbt@1', '--input', inputs.get('breast-cancer-gbt')!, '--output', out, '--key', 'id', '--json'],
      { out: (t) => void (stdout += t), err: (t) => void (stderr += t), env: {} },
    );
    expect(stderr.replace(/^batch: .*\n/gm, '')).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ model: 'breast-cancer-gbt', version: 1, rowsIn: ROWS, rowsOut: ROWS, rejected: 0, complete: true });
    expectGolden('breast-cancer-gbt', (await readOutput(out, 'parquet')).values);

    let err = '';
    const remote = await main(['node', 'berth', '--server', 'http://127.0.0.1:1', 'batch', 'run', '--model', 'credit', '--input', 'x.csv', '--output', 'y.csv'],
      { out: () => undefined, err: (t) => void (err += t), env: {} });
    expect(remote).toBe(1);
    expect(err).toContain('no Berth server at http://127.0.0.1:1');
  });

  it('writes only the predictions with --no-key, and refuses an empty --key pointing at --no-key', async () => {
    const out = path.join(tmp, 'no-key.csv');
    const code = await main(
      ['node', 'berth', '--data-dir', dataDir, 'batch', 'run', '--model', 'breast-cancer-gbt@1', '--input', inputs.get('breast-cancer-gbt')!, '--output', out, '--no-key', '--json'],
      { out: () => undefined, err: () => undefined, env: {} },
    );
    expect(code).toBe(0);
    const { names, values } = await readOutput(out, 'csv');
    expect(names[0]).toBe('label');
    expect(names).not.toContain('id');
    // the golden predictions, in input order (the golden check's id column put back from the row order)
    values.set('id', Array.from({ length: ROWS }, (_, r) => `r${r + 1}`));
    expectGolden('breast-cancer-gbt', values);
    let err = '';
    const empty = await main(
      ['node', 'berth', '--data-dir', dataDir, 'batch', 'run', '--model', 'breast-cancer-gbt@1', '--input', inputs.get('breast-cancer-gbt')!, '--output', path.join(tmp, 'never.csv'), '--key', ' , '],
      { out: () => undefined, err: (t) => void (err += t), env: {} },
    );
    expect(empty).toBe(1);
    expect(err).toContain('--key: expected column names');
    expect(err).toContain('--no-key');
    expect(existsSync(path.join(tmp, 'never.csv'))).toBe(false);
  });
});

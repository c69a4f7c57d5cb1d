/*
 * `berth ci check`, in process through `main` (the same entry point bin/berth.js runs): on a temp
 * data dir holding the credit fixture as version 1 with the alias production, and against a
 * running server (`--server URL`). A deliberately worse credit model, trained by
 * examples/credit-training/train.py --degrade, must fail the default gates; without Python the fail
 * path is covered by a floor the fixture cannot meet.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Comparison } from '../../src/pipelines/compare.js';
import type { Evaluation } from '../../src/pipelines/evaluate.js';
import { parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { ROOT } from '../helpers/dist.js';
import { fixturePath, readCardJson } from '../helpers/fixtures.js';
import { startServer, type TestServer } from '../helpers/server.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

interface CheckJson {
  passed: boolean;
  comparison: Comparison;
  candidate: Evaluation;
  champion: Evaluation;
}

async function berth(...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
  return { code, out, err };
}

const NODRIFT = fixturePath('credit', 'current_nodrift.csv');
const CREDIT_SHA = (readCardJson('credit')['onnx'] as { sha256: string }).sha256;
const PYTHON = '/usr/bin/python3';
const TRAIN = path.join(ROOT, 'examples', 'credit-training', 'train.py');

let work: string;
let dataDir: string;
/** `--local --data-dir D` */
let local: string[];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-ci-check-'));
  dataDir = path.join(work, 'data');
  local = ['--local', '--data-dir', dataDir];
  let r = await berth(...local, 'models', 'register', fixturePath('credit'), '--name', 'credit', '--card', fixturePath('credit', 'card.json'));
  expect(r.code, r.err).toBe(0);
  r = await berth(...local, 'alias', 'set', 'credit', 'production', '1');
  expect(r.code, r.err).toBe(0);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('berth ci check on the data dir', () => {
  it('passes a candidate that is the champion itself, exit 0, with a table of the metrics', async () => {
    const r = await berth(...local, 'ci', 'check', 'credit@1', '--against', 'production', '--dataset', NODRIFT);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain('candidate  credit@1 (sha256 b11101fde2bb…)');
    expect(r.out).toContain('champion   credit@production = version 1 (sha256 b11101fde2bb…)');
    expect(r.out).toContain(`data       ${NODRIFT} (20,000 rows, 20,000 labelled`);
    expect(r.out).toMatch(/METRIC\s+CHAMPION\s+CANDIDATE\s+CHANGE\s+GATE\s+RESULT/);
    expect(r.out).toMatch(/accuracy\s+0\.8663\s+0\.8663\s+±0\.00 pt\s+−0\.5 pt at most\s+pass/);
    expect(r.out).toMatch(/roc_auc\s+0\.7740\s+0\.7740/);
    expect(r.out).toContain('passed: the candidate meets every gate (3)');
  });

  it('fails a gate the fixture cannot meet: exit 1, the reason on stderr, the Markdown file for the pull request', async () => {
    const md = path.join(work, 'report.md');
    const r = await berth(...local, 'ci', 'check', 'credit@production', '--against', '1', '--dataset', NODRIFT, '--gate', 'accuracy>=0.95', '--gate', 'roc_auc:-0.5pt', '--markdown', md);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`wrote the summary to ${md}`);
    expect(r.err).toContain('berth: the candidate failed a gate: accuracy 0.8663 is below the floor 0.95\n');
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).toContain('FAILED: a gate did not pass');
    const text = await readFile(md, 'utf8');
    expect(text).toContain('❌ **Failed**: candidate `credit@production` fails 1 of 2 gates against champion `credit@1`.');
    expect(text).toContain('| accuracy | 0.8663 | 0.8663 | ±0.00 pt | ≥ 0.95 | ❌ |');
    expect(text).toContain('| roc_auc | 0.7740 | 0.7740 | ±0.00 pt | −0.5 pt at most | ✅ |');
    expect(text).toContain('- accuracy 0.8663 is below the floor 0.95');
    expect(text).toContain(`sha256 \`${(await sha256(NODRIFT)).slice(0, 12)}\``);
    expect(text).toContain('- champion `credit@1`: credit version 1, sha256 `b11101fde2bb`');
  });

  it('prints the Markdown on stdout with --markdown -', async () => {
    const r = await berth(...local, 'ci', 'check', 'credit@1', '--against', 'production', '--dataset', NODRIFT, '--markdown', '-');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^### Berth model check\n\n✅ \*\*Passed\*\*/);
  });

  it('answers JSON with --json: the verdict, the rows, both evaluations', async () => {
    const r = await berth(...local, '--json', 'ci', 'check', 'credit@1', '--against', 'credit@production', '--dataset', NODRIFT, '--dataset', fixturePath('credit', 'current_concept_drift.csv'));
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as CheckJson;
    expect(j.passed).toBe(true);
    expect(j.comparison.passed).toBe(true);
    expect(j.comparison.rows.map((row) => row.metric)).toEqual(['accuracy', 'roc_auc', 'f1', 'precision', 'recall', 'log_loss']);
    expect(j.candidate.model).toEqual({ ref: 'credit@1', name: 'credit', version: 1, sha256: CREDIT_SHA });
    expect(j.champion.model).toEqual({ ref: 'credit@production', name: 'credit', version: 1, sha256: CREDIT_SHA });
    expect(j.candidate.rows).toBe(40_000);
    expect(j.candidate.datasets.map((d) => d.rows)).toEqual([20_000, 20_000]);
    expect(j.comparison.gates).toEqual([{ metric: 'accuracy', maxDrop: 0.5 }, { metric: 'roc_auc', maxDrop: 0.5 }, { metric: 'f1', maxDrop: 0.5 }]);
    // the pooled accuracy of the two files, each documented on the card
    expect(j.candidate.metrics['accuracy']).toBeCloseTo((0.8663 + 0.7703) / 2, 3);
  });

  it('takes the candidate as files before it is registered', async () => {
    const r = await berth(...local, '--json', 'ci', 'check', '--candidate-file', fixturePath('credit'), '--candidate-card', fixturePath('credit', 'card.json'), '--against', 'credit@production', '--dataset', NODRIFT);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as CheckJson;
    expect(j.candidate.model).toEqual({ name: 'model.onnx', sha256: CREDIT_SHA, file: fixturePath('credit') });
    expect(Number(j.candidate.metrics['accuracy']!.toFixed(4))).toBe(0.8663);
  });

  it('exits 2 for usage errors, 1 for a champion that does not exist', async () => {
    const usage = [
      ['ci', 'check', '--against', 'production', '--dataset', NODRIFT],
      ['ci', 'check', 'credit@1', '--dataset', NODRIFT],
      ['ci', 'check', 'credit@1', '--against', 'production'],
      ['ci', 'check', 'credit@1', '--against', 'production', '--dataset', NODRIFT, '--gate', 'acuracy:-1pt'],
      ['ci', 'check', 'credit@1', '--against', 'production', '--dataset', NODRIFT, '--gate', 'accuracy:+1%'],
      ['ci', 'check', '--candidate-file', fixturePath('credit'), '--against', 'credit@production', '--dataset', NODRIFT],
      ['ci', 'check', '--candidate-file', fixturePath('credit'), '--candidate-card', fixturePath('credit', 'card.json'), '--against', 'production', '--dataset', NODRIFT],
      ['ci', 'check', 'credit@1', '--candidate-file', fixturePath('credit'), '--against', 'production', '--dataset', NODRIFT],
      ['ci', 'check', 'credit@1', '--against', 'Bad Alias', '--dataset', NODRIFT],
      ['--json', 'ci', 'check', 'credit@1', '--against', 'production', '--dataset', NODRIFT, '--markdown', '-'],
    ];
    for (const args of usage) {
      const r = await berth(...local, ...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(2);
      expect(r.err, args.join(' ')).toMatch(/^berth: /);
      expect(r.out).toBe('');
    }
    const bad = await berth(...local, 'ci', 'check', 'credit@1', '--against', 'credit@staging', '--dataset', NODRIFT);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^berth: .*staging/);
    const missing = await berth(...local, 'ci', 'check', 'credit@1', '--against', 'production', '--dataset', path.join(work, 'nope.csv'));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('nope.csv does not exist');
    const label = await berth(...local, 'ci', 'check', 'credit@1', '--against', 'production', '--dataset', NODRIFT, '--label', 'defaulted');
    expect(label.code).toBe(1);
    expect(label.err).toContain('has no label column "defaulted"');
  });

  it('shows examples in --help', async () => {
    const r = await berth('ci', 'check', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Examples:');
    expect(r.out).toContain('--candidate-file');
    expect(r.out).toContain('--markdown');
  });
});

async function sha256(file: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Is the Python that train.py needs here (Debian's python3 with scikit-learn, pandas and onnx)? */
async function pythonCanTrain(): Promise<string | null> {
  if (!existsSync(TRAIN)) return `${TRAIN} does not exist`;
  if (!existsSync(PYTHON)) return `${PYTHON} does not exist`;
  try {
    await promisify(execFile)(PYTHON, ['-c', 'import sklearn, pandas, onnx, numpy'], { timeout: 30_000 });
    return null;
  } catch (err) {
    return `${PYTHON} cannot import sklearn, pandas, onnx and numpy (${(err as Error).message.split('\n')[0]})`;
  }
}

const whyNoPython = await pythonCanTrain();
if (whyNoPython !== null) console.warn(`skipping the degraded-model checks of berth ci check: ${whyNoPython}`);

describe.skipIf(whyNoPython !== null)('a deliberately worse credit model (train.py --degrade)', () => {
  let degraded: string;
  beforeAll(async () => {
    degraded = path.join(work, 'degraded');
    await promisify(execFile)(PYTHON, [TRAIN, '--train', fixturePath('credit', 'reference.csv'), '--out-dir', degraded, '--degrade'], { timeout: 120_000 });
    const r = await berth(...local, 'models', 'register', path.join(degraded, 'model.onnx'), '--name', 'credit', '--card', path.join(degraded, 'card.json'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('registered credit version 2');
  }, 180_000);

  it('fails the default gates as version 2 against production, exit 1, with a reason per failed metric', async () => {
    const md = path.join(work, 'degraded.md');
    const r = await berth(...local, 'ci', 'check', 'credit@2', '--against', 'production', '--dataset', NODRIFT, '--markdown', md);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/berth: the candidate failed \d gates?: .*accuracy fell by/);
    const text = await readFile(md, 'utf8');
    expect(text).toContain('❌ **Failed**');
    expect(text).toMatch(/\| accuracy \| 0\.8663 \| 0\.\d{4} \| −\d+\.\d\d pt \| −0\.5 pt at most \| ❌ \|/);
  });

  it('fails the same way given as files before registration, and passes with gates it meets', async () => {
    const files = ['--candidate-file', path.join(degraded, 'model.onnx'), '--candidate-card', path.join(degraded, 'card.json'), '--against', 'credit@production', '--dataset', NODRIFT];
    const failed = await berth(...local, '--json', 'ci', 'check', ...files);
    expect(failed.code).toBe(1);
    const j = JSON.parse(failed.out) as CheckJson;
    expect(j.passed).toBe(false);
    expect(j.candidate.metrics['accuracy']!).toBeLessThan(j.champion.metrics['accuracy']! - 0.005);
    const passed = await berth(...local, 'ci', 'check', ...files, '--gate', 'accuracy:-10pt', '--gate', 'roc_auc>=0.6');
    expect(passed.code, passed.err).toBe(0);
  });
});

describe('berth ci check --server', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startServer();
    const backend = new OnnxBackend();
    const cardFile = fixturePath('credit', 'card.json');
    await ts.server.registry.registerVersion({ name: 'credit', filePath: fixturePath('credit'), card: parseCard(await readFile(cardFile, 'utf8'), cardFile), inspect: (b) => backend.inspect(b) });
    await ts.server.registry.setAlias('credit', 'production', 1);
  });
  afterAll(async () => {
    await ts?.close();
  });

  it('downloads both versions from the server, checks their sha256 and compares them', async () => {
    const r = await berth('--server', ts.url, '--json', 'ci', 'check', 'credit@production', '--against', '1', '--dataset', NODRIFT);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as CheckJson;
    expect(j.candidate.model).toEqual({ ref: 'credit@production', name: 'credit', version: 1, sha256: CREDIT_SHA });
    expect(Number(j.champion.metrics['roc_auc']!.toFixed(4))).toBe(0.774);
  });

  it('fails with exit 1 on a gate over the server too', async () => {
    const r = await berth('--server', ts.url, 'ci', 'check', 'credit@1', '--against', 'production', '--dataset', NODRIFT, '--gate', 'roc_auc>=0.8');
    expect(r.code).toBe(1);
    expect(r.err).toContain('roc_auc 0.7740 is below the floor 0.8');
  });
});

#!/usr/bin/env node
// `npm run bench -- batch`: `berth batch run` on the credit model, CSV in, Parquet out, against
// the raw runtime and the bare cost of reading the same input with the same reader, all in one run
// (bench/README.md, "Batch").
//
//   npm run bench -- batch [--rows 1000000] [--small 100000] [--batch-rows 1024] [--no-build] [--json out.json]
//
// 1. Inputs: the fixture's own generator (../shared/fixtures/make/credit_data.py, Debian python3-numpy and
//    python3-pandas, installed when missing) writes --small and --rows rows (seed 99), cached in bench/.cache/.
// 2. Bare read (child process): the job's reader (dist/jobs TableSource: DuckDB, streamed chunks, the model's
//    features read as text, as the job reads a CSV) over the --rows file, nothing else: seconds.
// 3. Raw onnxruntime-node (child process): the credit model with Berth's session options on tensors already
//    built from the file's first 100,000 rows, at batch 256, 1024, 4096 and 8192; the best rows/s counts.
// 4. Berth: `berth --local --data-dir D batch run --model credit --input F --output F.parquet --key age`, under
//    /usr/bin/time -v for peak RSS, on --small and on --rows.
// Targets (the issue's): rows/s ≥ 70 % of rows / (bare read + rows ÷ raw's best rows/s); peak RSS < 500 MB and flat
// as rows grow (--small vs --rows).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FIXTURES, fmtInt, root, run, runAsScript, tempDir } from './lib.js';
import { ensureBuild } from './monitor.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CACHE = path.join(here, '.cache');
const TARGET_VS_BASE = 0.7;
const TARGET_RSS_MB = 500;
const log = (s) => process.stderr.write(`${s}\n`);

function ensurePythonDeps() {
  const ok = () => spawnSync('/usr/bin/python3', ['-c', 'import numpy, pandas'], { stdio: 'ignore' }).status === 0;
  if (ok()) return;
  if (process.getuid?.() !== 0) throw new Error('the credit generator needs Debian python3-numpy and python3-pandas: apt-get install python3-numpy python3-pandas');
  log('apt-get install python3-numpy python3-pandas');
  run('apt-get', ['install', '-y', '-q', 'python3-numpy', 'python3-pandas'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!ok()) throw new Error('python3-numpy / python3-pandas did not install');
}

/** The generator's rows as a CSV file in bench/.cache (made once per size). */
function creditCsv(rows) {
  mkdirSync(CACHE, { recursive: true });
  const file = path.join(CACHE, `credit-${rows}-seed99.csv`);
  if (existsSync(file)) return file;
  ensurePythonDeps();
  log(`generating ${fmtInt(rows)} credit rows (make/credit_data.py --seed 99)`);
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  const r = spawnSync('/usr/bin/python3', [path.join(FIXTURES, 'make', 'credit_data.py'), '--rows', String(rows), '--seed', '99'], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  if (r.status !== 0) throw new Error(`credit_data.py exited ${r.status}`);
  writeFileSync(file, readFileSync(tmp));
  rmSync(tmp);
  return file;
}

/** A child process of this script (`node bench/batch.js child <what> …`): its last stdout line as JSON. */
function child(args) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'child', ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench child ${args[0]} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** `berth batch run` under /usr/bin/time -v: the summary and the peak RSS. */
function berthBatch(dataDir, input, output, batchRows) {
  rmSync(output, { force: true });
  const args = [path.join(root, 'bin', 'berth.js'), '--local', '--data-dir', dataDir, 'batch', 'run', '--model', 'credit', '--input', input, '--output', output, '--key', 'age', '--batch-rows', String(batchRows), '--json'];
  const timed = existsSync('/usr/bin/time');
  const r = timed ? spawnSync('/usr/bin/time', ['-v', process.execPath, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } }) : spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  if (r.status !== 0) throw new Error(`berth batch run failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  const summary = JSON.parse(r.stdout);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  return { ...summary, peakRssMb: rss ? Number(rss[1]) / 1024 : null };
}

async function bench(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string', default: '1000000' },
      small: { type: 'string', default: '100000' },
      'batch-rows': { type: 'string', default: '1024' },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const rows = Number(values.rows);
  const small = Number(values.small);
  const batchRows = Number(values['batch-rows']);
  ensureBuild(values['no-build']);
  const big = creditCsv(rows);
  const little = creditCsv(small);

  const dataDir = tempDir('berth-bench-batch-');
  const reg = run(process.execPath, [path.join(root, 'bin', 'berth.js'), '--local', '--data-dir', dataDir, 'models', 'register', path.join(FIXTURES, 'credit', 'model.onnx'), '--name', 'credit', '--card', path.join(FIXTURES, 'credit', 'card.json')], { cwd: root });
  if (!reg.ok) throw new Error(`register failed: ${reg.stderr}`);

  log(`bare read of ${fmtInt(rows)} rows with the job's reader`);
  const read = child(['read', big]);
  log(`  ${read.seconds.toFixed(2)} s (${fmtInt(read.rows / read.seconds)} rows/s)`);
  log('raw onnxruntime-node on credit, tensors prebuilt');
  const raw = child(['raw', little]);
  const best = raw.throughput.reduce((a, b) => (b.rows_per_s > a.rows_per_s ? b : a));
  log(`  ${raw.throughput.map((t) => `b${t.batch} ${fmtInt(t.rows_per_s)}`).join(', ')} rows/s; best b${best.batch}`);
  const baseline = rows / (read.seconds + rows / best.rows_per_s);

  log(`berth batch run: ${fmtInt(small)} rows`);
  const s = berthBatch(dataDir, little, path.join(dataDir, 'small.parquet'), batchRows);
  log(`berth batch run: ${fmtInt(rows)} rows`);
  const b = berthBatch(dataDir, big, path.join(dataDir, 'big.parquet'), batchRows);
  rmSync(dataDir, { recursive: true, force: true });

  const ratio = b.rowsPerSecond / baseline;
  const rssOk = b.peakRssMb !== null && b.peakRssMb < TARGET_RSS_MB;
  const flat = s.peakRssMb !== null && b.peakRssMb !== null ? b.peakRssMb / s.peakRssMb : null;
  const L = [
    '# Batch: credit, CSV → Parquet',
    '',
    `Input: make/credit_data.py --seed 99 (${fmtInt(rows)} and ${fmtInt(small)} rows). Bare read (the job's reader, DuckDB, nothing else): ${read.seconds.toFixed(2)} s for ${fmtInt(read.rows)} rows. Raw onnxruntime-node, tensors prebuilt: ${raw.throughput.map((t) => `b${t.batch} ${fmtInt(t.rows_per_s)}`).join(', ')} rows/s. Baseline = rows ÷ (bare read + rows ÷ raw's best) = ${fmtInt(baseline)} rows/s.`,
    '',
    '| rows | seconds | rows/s | ÷ baseline | peak RSS MB |',
    '| ---: | ---: | ---: | ---: | ---: |',
    `| ${fmtInt(s.rowsIn)} | ${s.seconds.toFixed(2)} | ${fmtInt(s.rowsPerSecond)} | | ${s.peakRssMb?.toFixed(0) ?? 'n/a'} |`,
    `| ${fmtInt(b.rowsIn)} | ${b.seconds.toFixed(2)} | ${fmtInt(b.rowsPerSecond)} | ${(ratio * 100).toFixed(0)} % | ${b.peakRssMb?.toFixed(0) ?? 'n/a'} |`,
    '',
    '## Targets',
    '',
    `- **${ratio >= TARGET_VS_BASE ? 'PASS' : 'MISS'}** rows/s ≥ ${TARGET_VS_BASE * 100} % of the baseline: ${(ratio * 100).toFixed(1)} % (${fmtInt(b.rowsPerSecond)} vs ${fmtInt(baseline)} rows/s)`,
    `- **${rssOk ? 'PASS' : 'MISS'}** peak RSS < ${TARGET_RSS_MB} MB at ${fmtInt(rows)} rows: ${b.peakRssMb?.toFixed(0) ?? 'n/a'} MB`,
    `- **${flat !== null && flat < 1.25 ? 'PASS' : 'MISS'}** RSS flat as rows grow (${fmtInt(small)} → ${fmtInt(rows)} rows: ${flat?.toFixed(2) ?? 'n/a'}×; flat means < 1.25×)`,
  ];
  process.stdout.write(L.join('\n') + '\n');
  if (values.json) writeFileSync(values.json, JSON.stringify({ rows, small, read, raw, baseline, small_run: s, big_run: b, ratio }, null, 2));
  return 0;
}

/** The measurements that run in their own process. */
async function childMain(argv) {
  const [what, file] = argv;
  const { TableSource, FeatureMapping } = await import(path.join(root, 'dist', 'jobs', 'index.js'));
  const { openEmbeddedRegistry, parseCard } = await import(path.join(root, 'dist', 'registry', 'index.js'));
  const { OnnxBackend } = await import(path.join(root, 'dist', 'runtime', 'index.js'));
  const backend = new OnnxBackend();
  const sig = await backend.inspect(new Uint8Array(readFileSync(path.join(FIXTURES, 'credit', 'model.onnx'))));
  // the card's feature names, merged in as the registry does, so the mapping sees what a job sees
  const dir = tempDir('berth-bench-batch-sig-');
  const registry = await openEmbeddedRegistry(dir, { defaultActor: 'bench' });
  const { version } = await registry.registerVersion({ name: 'credit', filePath: path.join(FIXTURES, 'credit', 'model.onnx'), card: parseCard(readFileSync(path.join(FIXTURES, 'credit', 'card.json'), 'utf8'), 'card.json'), inspect: (b) => backend.inspect(b) });
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
  void sig;
  const source = await TableSource.open({ path: file });
  const mapping = FeatureMapping.create(version.signature, source.columns.map((c) => c.name));
  if (what === 'read') {
    const t0 = performance.now();
    let rows = 0;
    for await (const chunk of source.chunks({ textColumns: mapping.features })) rows += chunk.rows;
    source.close();
    process.stdout.write(`${JSON.stringify({ rows, seconds: (performance.now() - t0) / 1000 })}\n`);
    return 0;
  }
  // raw: tensors for the first 100k rows, built once, then only the runtime
  const batches = [256, 1024, 4096, 8192];
  const chunks = [];
  let have = 0;
  for await (const chunk of source.chunks({ textColumns: mapping.features, chunkRows: 8192 })) {
    chunks.push(chunk);
    have += chunk.rows;
    if (have >= 100_000) break;
  }
  source.close();
  const model = await backend.load(new Uint8Array(readFileSync(path.join(FIXTURES, 'credit', 'model.onnx'))), { intraOpThreads: 1, interOpThreads: 1 });
  const throughput = [];
  for (const b of batches) {
    const feeds = [];
    for (const chunk of chunks) for (let at = 0; at + b <= chunk.rows; at += b) feeds.push(mapping.map(chunk, at, at + b).tensors);
    if (feeds.length === 0) continue;
    for (let i = 0; i < Math.min(3, feeds.length); i++) await model.run(feeds[i]);
    const t0 = performance.now();
    let n = 0;
    let k = 0;
    while (performance.now() - t0 < 1500) {
      await model.run(feeds[k++ % feeds.length]);
      n += b;
    }
    throughput.push({ batch: b, rows_per_s: n / ((performance.now() - t0) / 1000) });
  }
  await model.dispose();
  process.stdout.write(`${JSON.stringify({ throughput })}\n`);
  return 0;
}

export async function batch(argv) {
  return bench(argv);
}

if (process.argv[2] === 'child') {
  childMain(process.argv.slice(3)).then(
    (code) => (process.exitCode = code),
    (err) => {
      process.stderr.write(`${err?.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
} else {
  await runAsScript(import.meta.url, 'batch', bench, async () => undefined);
}

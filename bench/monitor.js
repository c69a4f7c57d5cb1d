#!/usr/bin/env node
// `npm run bench -- monitor`: the monitoring speed targets, measured in one run (see bench/README.md,
// "Monitoring"). Plain Node ESM driving the compiled code in dist/ (rebuilt first when src/ is newer).
//
//   npm run bench -- monitor [--parts report,profile,serve] [--repeat 3] [--duration 10] [--warmup 3]
//                            [--no-build] [--json out.json]
//
// 1. report: 1,000,000 credit rows (make/credit_data.py --seed 99, cached in bench/.cache/) written as
//    Berth's inference log (Parquet files of 50,000 rows), the credit model registered and profiled
//    on the fixture's reference.csv, then MonitorService.report('credit', {window: 'all'}) timed from
//    the log files to the report object; beside it the same drift + quality statistics in memory
//    (computeDrift + analyzeQuality against the 20,000 reference rows) and with numpy/scipy
//    (bench/monitor_numpy.py, Debian's /usr/bin/python3), whose numbers are checked against Berth's.
// 2. profile: the serialized reference profile of 10,000 and of 1,000,000 rows.
// 3. serve: breast-cancer-gbt served with the inference log on (every row logged) and off, wrk at 32
//    connections pinned like bench/run.js, alternating on/off twice; the log's rows are counted.
//
// `node bench/monitor.js serve-child --data-dir DIR --log on|off` is the server process of part 3.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { dist, FIXTURES, groupCpuMs, have, killGroup, LOAD_CPU, LOG_DIR, root, run, runWrk, WORK_DIR } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PY = process.env.PY || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const CACHE_DIR = path.join(here, '.cache'); // gitignored: the generated 1M-row CSV
const ROWS = 1_000_000;
const SEED = 99;
const FILE_ROWS = 50_000; // the inference log's default flushRows
const SERVE_MODEL = 'breast-cancer-gbt';
const SERVE_CONNS = 32;
const PARTS = ['report', 'profile', 'serve'];

const log = (msg) => process.stderr.write(`[bench monitor] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fmtS = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');
const fmtMs = (n) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
const fmtX = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
const min = (xs) => Math.min(...xs);

function usage() {
  return `usage: npm run bench -- monitor [options]

  --parts a,b      which targets: report, profile, serve (default all)
  --repeat N       timed report runs after the first (default 3; the best is reported)
  --duration S     seconds per wrk run of the serving part (default 10)
  --warmup S       wrk warm-up per server at 8 connections (default 3)
  --keep           keep the data dir holding the 1M-row log (to profile a report by hand)
  --no-build       use dist/ as it is (default: npm run build when src/ is newer than dist/)
  --json FILE      also write every measurement as JSON

Environment: BERTH_FIXTURES, PY (default /usr/bin/python3), LOAD_CPU (core wrk is pinned to, default 1,
'none'), WRK_TIMEOUT (5s), BERTH_DIST (another build of Berth).`;
}

// ---------------------------------------------------------------------------------------------
// processes and setup (the same habits as bench/run.js)

const started = new Set();
const tempDirs = new Set();

function cleanup() {
  for (const c of started) killGroup(c, 'SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function tempDir(prefix) {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

function removeTemp(d) {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

function newestMtime(dir, keep) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, keep));
    else if (keep(p)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

export function ensureBuild(noBuild) {
  const distMain = path.join(dist, 'monitor', 'index.js');
  if (noBuild || process.env.BERTH_DIST) {
    if (!existsSync(distMain)) throw new Error(`${path.relative(root, dist)}/ has no compiled monitoring code; run npm run build`);
    return;
  }
  const newestSrc = newestMtime(path.join(root, 'src'), (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  if (existsSync(distMain) && statSync(path.join(dist, 'server', 'server.js')).mtimeMs >= newestSrc) return;
  log('src/ is newer than dist/: npm run build');
  const r = run('npm', ['run', 'build'], { cwd: root });
  if (!r.ok) throw new Error(`npm run build failed (exit ${r.status}); fix it or pass --no-build:\n${(r.stdout + r.stderr).trim().split('\n').slice(-20).join('\n')}`);
}

/** wrk from Debian, installed when missing (as root), like bench/run.js does. */
export function ensureWrk() {
  if (have('wrk')) return;
  if (process.getuid?.() === 0) {
    log('apt-get install wrk');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (!run('apt-get', ['install', '-y', '-q', 'wrk'], { env }).ok) {
      run('apt-get', ['update', '-qq'], { env });
      run('apt-get', ['install', '-y', '-q', 'wrk'], { env });
    }
  }
  if (!have('wrk')) throw new Error('wrk is not installed and could not be installed (apt-get install wrk)');
}

/** The 1M-row credit CSV, generated once by the fixtures' own generator and kept in bench/.cache/. */
function ensureCreditCsv() {
  const file = path.join(CACHE_DIR, `credit-${ROWS}-seed${SEED}.csv`);
  if (existsSync(file)) return file;
  const gen = path.join(FIXTURES, 'make', 'credit_data.py');
  if (!existsSync(gen)) throw new Error(`no generator at ${gen}`);
  log(`generating ${fmtInt(ROWS)} credit rows with ${PY} ${path.relative(root, gen)} --rows ${ROWS} --seed ${SEED} (once, ~20 s) -> ${path.relative(root, file)}`);
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${file}.tmp`;
  const r = spawnSync('sh', ['-c', `"$0" "$1" --rows ${ROWS} --seed ${SEED} > "$2"`, PY, gen, tmp], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`credit_data.py failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')} (it needs numpy and pandas: Debian's python3-numpy python3-pandas)`);
  }
  renameSync(tmp, file);
  return file;
}

const timeIt = async (fn) => {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
};

async function loadDist() {
  const imp = (p) => import(pathToFileURL(path.join(dist, p)).href);
  return {
    core: await imp('core/index.js'),
    data: await imp('data/index.js'),
    monitor: await imp('monitor/index.js'),
    profile: await imp('monitor/profile/index.js'),
    registry: await imp('registry/index.js'),
    runtime: await imp('runtime/index.js'),
  };
}

async function registerFixture(B, dataDir, model, backend) {
  const dir = path.join(FIXTURES, model);
  const registry = await B.registry.openEmbeddedRegistry(dataDir);
  const card = B.registry.parseCard(readFileSync(path.join(dir, 'card.json'), 'utf8'), path.join(dir, 'card.json'));
  const { version } = await registry.registerVersion({ name: model, filePath: path.join(dir, 'model.onnx'), card, actor: 'bench', inspect: (b) => backend.inspect(b) });
  await registry.deploy({ name: model, model, target: { kind: 'version', version: version.version }, actor: 'bench' });
  return { registry, version };
}

// ---------------------------------------------------------------------------------------------
// 1 + 2. report and profile

/** Run the model over every row once (batches of 50,000), keeping labels and probabilities. */
async function predictAll(B, version, table, schema) {
  const backend = new B.runtime.OnnxBackend();
  const model = await backend.load(readFileSync(path.join(FIXTURES, 'credit', 'model.onnx')), { intraOpThreads: 1, interOpThreads: 1 });
  const n = table.rows;
  const labels = new BigInt64Array(n);
  const probs = new Float32Array(n * 2);
  try {
    for (let s = 0; s < n; s += FILE_ROWS) {
      const part = B.monitor.sliceRows(table, s, Math.min(n, s + FILE_ROWS));
      const outs = await model.run(B.monitor.tableToInputs(part, version.signature, schema));
      labels.set(outs.find((o) => o.name === 'label').data, s);
      probs.set(outs.find((o) => o.name === 'probabilities').data, s * 2);
    }
  } finally {
    await model.dispose();
  }
  return { labels, probs };
}

/** The model's outputs for rows [from, to) of the cached predictions, shaped like model.run's. */
function cachedOutputs(pred, from, to) {
  return [
    { name: 'label', datatype: 'INT64', shape: [to - from], data: pred.labels.subarray(from, to) },
    { name: 'probabilities', datatype: 'FP32', shape: [to - from, 2], data: pred.probs.subarray(from * 2, to * 2) },
  ];
}

/**
 * Write the rows as the inference log would have: LogSegment (the server's own buffer) lays out the
 * features and predictions; then each row gets its own request (id, row 0, timestamp, latency),
 * since the served traffic is one row per request. One file of 50,000 rows per hour partition.
 */
async function writeLog(B, dataDir, version, schema, table, pred) {
  const M = B.monitor;
  const names = version.signature.inputs.map((s) => s.name);
  const hour0 = (Math.floor(Date.now() / 3_600_000) - Math.ceil(table.rows / FILE_ROWS)) * 3_600_000;
  const prefix = '5f0c2a9e-71b4'; // like InferenceService's ids: a 13-character prefix, then a counter in base 36
  const files = [];
  let bytes = 0;
  for (let k = 0, s = 0; s < table.rows; k++, s += FILE_ROWS) {
    const e = Math.min(table.rows, s + FILE_ROWS);
    const n = e - s;
    const part = M.sliceRows(table, s, e);
    const seg = new M.LogSegment('credit', 'credit', version.version, schema, names);
    const t0 = hour0 + k * 3_600_000;
    seg.append('batch', M.tableToInputs(part, version.signature, schema), cachedOutputs(pred, s, e), n, 0, t0, 1);
    const t = seg.take();
    const set = (name, col) => (t.columns[t.columns.findIndex((c) => c.name === name)] = { name, ...col });
    const ts = new Float64Array(n);
    const lat = new Float64Array(n);
    const ids = new Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = t0 + i * Math.floor(3_600_000 / FILE_ROWS);
      lat[i] = 0.35 + ((i * 7919) % 1000) / 1000; // 0.35–1.35 ms
      ids[i] = `${prefix}-${(s + i + 1).toString(36)}`;
    }
    set(M.LOG_TS, { type: 'timestamp_ms', values: ts });
    set(M.LOG_REQUEST_ID, { type: 'string', dictionary: ids, codes: Int32Array.from({ length: n }, (_, i) => i) });
    set(M.LOG_ROW, { type: 'int64', values: new Float64Array(n) });
    set(M.LOG_LATENCY, { type: 'double', values: lat });
    t.metadata = {
      'berth.format': 'berth-inference-log/1',
      'berth.deployment': 'credit',
      'berth.model': 'credit',
      'berth.version': String(version.version),
      'berth.schema': JSON.stringify(schema),
    };
    const file = path.join(M.deploymentDir(dataDir, 'credit'), `hour=${M.hourPartition(t0)}`, `part-${process.pid}-${t0}-${k + 1}.parquet`);
    await B.data.writeParquetFile(file, t);
    bytes += statSync(file).size;
    files.push(file);
  }
  return { files: files.length, bytes };
}

/** What analyzeQuality needs of each feature, from the reference rows themselves (as numpy sees them). */
function qualityRefsFromTable(B, table, schema) {
  return schema.features.map((f) => {
    const col = table.columns.find((c) => c.name === f.name);
    const r = { name: f.name, kind: f.kind, missingShare: 0 };
    if (f.vocabulary) r.vocabulary = f.vocabulary;
    if (!col) return r;
    if (f.kind === 'numeric' && B.data.isNumericColumn(col)) {
      let lo = Infinity;
      let hi = -Infinity;
      let miss = 0;
      const seen = new Set();
      for (const v of col.values) {
        if (Number.isNaN(v)) miss++;
        else {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
          if (seen.size <= 20) seen.add(v);
        }
      }
      Object.assign(r, { missingShare: miss / table.rows, rows: table.rows - miss, min: lo, max: hi, distinct: seen.size <= 20 ? seen.size : null });
    } else if (col.type === 'string') {
      const present = new Set();
      let miss = 0;
      for (const c of col.codes) c < 0 ? miss++ : present.add(c);
      Object.assign(r, { missingShare: miss / table.rows, rows: table.rows - miss, categories: [...present].map((c) => col.dictionary[c]), distinct: present.size });
    }
    return r;
  });
}

/** Largest relative difference between Berth's and numpy's figures of the same statistic, per statistic. */
function compareWithNumpy(berthDrift, berthQuality, py) {
  const rel = (a, b) => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300));
  const worst = {};
  const note = (k, a, b, col) => {
    if (a === null || a === undefined || b === null || b === undefined) return;
    const d = rel(a, b);
    if (!(k in worst) || d > worst[k].d) worst[k] = { d, col, berth: a, numpy: b };
  };
  const tests = [];
  for (const c of berthDrift.columns) {
    const p = py.columns[c.column];
    if (!p) continue;
    tests.push(`${c.column}: ${c.test}`);
    if (c.test !== p.test) worst.test = { d: 1, col: c.column, berth: c.test, numpy: p.test };
    note('statistic', c.statistic, p.statistic, c.column);
    note('pValue', c.pValue, p.pValue, c.column);
    note('pAdjusted', c.pAdjusted, p.pAdjusted, c.column);
    note('psi', c.psi, p.psi, c.column);
    if (c.kind === 'numeric') note('wassersteinNormed', c.wassersteinNormed, p.wassersteinNormed, c.column);
  }
  for (const q of berthQuality.columns) {
    const p = py.columns[q.name]?.quality;
    if (!p) continue;
    note('missingShare', q.missing.share, p.missingShare, q.name);
    if (q.outOfRange) note('outOfRangeShare', q.outOfRange.share, p.outOfRangeShare, q.name);
    if (q.unknownCategories) note('unknownShare', q.unknownCategories.share, p.unknownShare, q.name);
  }
  return { worst, tests };
}

async function reportPart(B, opts, out) {
  const M = B.monitor;
  const csv = ensureCreditCsv();
  const refCsv = path.join(FIXTURES, 'credit', 'reference.csv');
  const dataDir = tempDir('berth-bench-monitor-');
  const backend = new B.runtime.OnnxBackend();
  const { registry, version } = await registerFixture(B, dataDir, 'credit', backend);
  const feedback = M.SqliteFeedbackStore.open(dataDir);
  const service = () => new M.MonitorService({ dataDir, registry, feedback, predictor: M.onnxPredictor(registry) });
  try {
    const schema = M.monitoringSchema(version.signature, version.card ?? undefined);
    log(`reading ${path.relative(root, csv)}`);
    const csvRead = await timeIt(() => B.data.readCsvFile(csv));
    const table = csvRead.value;
    const reference = await B.data.readCsvFile(refCsv);
    log(`running the credit model over ${fmtInt(table.rows)} rows (onnxruntime-node, 1 thread)`);
    const predicted = await timeIt(() => predictAll(B, version, table, schema));
    const pred = predicted.value;
    out.setup = { rows: table.rows, csvReadMs: csvRead.ms, predictMs: predicted.ms, referenceRows: reference.rows };
    if (opts.parts.includes('report')) {
      log(`writing the inference log (${Math.ceil(table.rows / FILE_ROWS)} Parquet files of ${fmtInt(FILE_ROWS)} rows)`);
      const written = await timeIt(() => writeLog(B, dataDir, version, schema, table, pred));
      log('profiling the credit model on reference.csv (MonitorService.profileVersion)');
      const profiled = await timeIt(() => service().profileVersion('credit', version.version, refCsv, { actor: 'bench' }));
      Object.assign(out.setup, { writeLogMs: written.ms, logFiles: written.value.files, logBytes: written.value.bytes, profileMs: profiled.ms });
      log(`  csv ${fmtS(csvRead.ms)}, model ${fmtS(predicted.ms)}, log written in ${fmtS(written.ms)} (${(written.value.bytes / 1e6).toFixed(0)} MB), profile ${fmtS(profiled.ms)}`);
      await timeReport(B, opts, out, { dataDir, registry, feedback, version, schema, table, reference, csv, refCsv, service });
    }
    if (opts.parts.includes('profile')) await profileSizes(B, out, { version, schema, table, pred });
  } finally {
    feedback.close();
    await registry.close();
    if (opts.keep) {
      tempDirs.delete(dataDir);
      log(`--keep: the data dir with the 1M-row log is ${dataDir}`);
    } else removeTemp(dataDir);
  }
}

async function timeReport(B, opts, out, { dataDir, registry, version, schema, table, reference, csv, refCsv, service }) {
  const M = B.monitor;
  // the report, from the files: a fresh MonitorService per run, so each reads the stored profile too
  const runs = [];
  let report;
  for (let i = 0; i <= opts.repeat; i++) {
    const r = await timeIt(() => service().report('credit', { window: 'all' }));
    runs.push(r.ms);
    report = r.value;
    log(`  report run ${i + 1}/${opts.repeat + 1}: ${fmtS(r.ms)} (${fmtInt(report.window.rows)} rows, ${report.drift?.evaluatedColumns} columns evaluated)`);
  }
  if (report.window.rows !== table.rows) throw new Error(`the report saw ${report.window.rows} rows, expected ${table.rows}`);

  // where the report's time goes (each step alone, warm)
  const stored = await service().referenceOf(await registry.getVersion('credit', version.version));
  // the columns report() reads (monitor-service.ts reportColumns)
  const reportColumns = [M.LOG_TS, M.LOG_REQUEST_ID, M.LOG_ROW, M.LOG_VERSION, M.LOG_LATENCY, M.LOG_WEIGHT, M.LOG_STATUS, M.LOG_ERROR_FIELD, ...schema.features.map((f) => f.name), M.PREDICTION_COLUMN, M.SCORE_COLUMN, ...schema.prediction.classes.map(M.probaColumn)];
  const read = await timeIt(() => M.readInferenceLog(dataDir, 'credit', {}, { columns: reportColumns }));
  const cur = read.value;
  const specs = M.profileColumns(schema).map((c) => ({ ...c, role: c.name === M.PREDICTION_COLUMN || c.name === M.SCORE_COLUMN ? 'prediction' : 'feature' }));
  const drift = await timeIt(() => M.computeDrift({ kind: 'profile', profile: stored.profile }, cur, specs));
  const build = await timeIt(() =>
    M.buildReport({
      deployment: 'credit', model: 'credit', schema, current: cur, window: { from: null, to: null, description: 'all' },
      reference: { kind: 'profile', version: version.version, profile: stored.profile, calibration: stored.calibration },
      feedback: [], referenceMetrics: {}, now: Date.now(),
    }),
  );
  const qRefs = qualityRefsFromTable(B, reference, schema);
  const quality = await timeIt(() => M.analyzeQuality(cur, qRefs));
  out.reportBreakdown = { readLogMs: read.ms, driftMs: drift.ms, qualityMs: quality.ms, buildReportMs: build.ms };
  out.report = { firstMs: runs[0], bestMs: min(runs.slice(1)), runsMs: runs, rows: report.window.rows, requests: report.window.requests, summary: report.summary };

  // the same statistics as numpy's, in memory: the 15 features of the CSV rows against the 20,000 reference rows
  const featureSpecs = schema.features.map((f) => ({ name: f.name, kind: f.kind }));
  const curFeatures = { rows: table.rows, columns: featureSpecs.map((f) => table.columns.find((c) => c.name === f.name)) };
  const refFeatures = { rows: reference.rows, columns: featureSpecs.map((f) => reference.columns.find((c) => c.name === f.name)) };
  const pure = [];
  let pureResult;
  for (let i = 0; i <= opts.repeat; i++) {
    const r = await timeIt(() => {
      const d = M.computeDrift({ kind: 'table', table: refFeatures }, curFeatures, featureSpecs);
      const q = M.analyzeQuality(curFeatures, qualityRefsFromTable(B, refFeatures, schema));
      return { d, q };
    });
    pure.push(r.ms);
    pureResult = r.value;
  }
  out.pure = { firstMs: pure[0], bestMs: min(pure.slice(1)), runsMs: pure };
  log(`  in memory (computeDrift + analyzeQuality, 20,000 reference rows): first ${fmtS(pure[0])}, best ${fmtS(out.pure.bestMs)}`);

  // numpy/scipy, on the same rows
  log(`numpy/scipy (${PY} bench/monitor_numpy.py, ${opts.repeat + 1} runs)`);
  const py = run(PY, [path.join(here, 'monitor_numpy.py'), '--current', csv, '--reference', refCsv, '--card', path.join(FIXTURES, 'credit', 'card.json'), '--repeat', String(opts.repeat + 1)]);
  if (!py.ok) {
    out.numpy = { error: `${PY} bench/monitor_numpy.py failed (exit ${py.status}): ${py.stderr.trim().split('\n').slice(-3).join(' | ')}` };
    log(out.numpy.error);
  } else {
    const res = JSON.parse(py.stdout.trim().split('\n').pop());
    const agree = compareWithNumpy(pureResult.d, pureResult.q, res);
    out.numpy = { versions: `Python ${res.python}, numpy ${res.numpy}, scipy ${res.scipy}, pandas ${res.pandas}`, loadMs: res.load_s * 1000, runsMs: res.times_s.map((s) => s * 1000), bestMs: min(res.times_s.slice(1)) * 1000, agreement: agree.worst, tests: agree.tests };
    log(`  numpy/scipy: ${res.times_s.map((s) => `${s.toFixed(2)} s`).join(', ')} (load ${res.load_s.toFixed(1)} s, not timed)`);
  }
}

/** 2. The stored reference of 10,000 and of 1,000,000 rows (features, label, the model's predictions). */
async function profileSizes(B, out, { version, schema, table, pred }) {
  const M = B.monitor;
  out.profile = {};
  for (const n of [10_000, table.rows]) {
    let at = 0;
    const predict = async (inputs) => {
      const rows = inputs[0].shape[0];
      const o = cachedOutputs(pred, at, at + rows);
      at += rows;
      return o;
    };
    const built = await timeIt(() => M.buildReferenceProfile(M.sliceRows(table, 0, n), schema, version.signature, { predict, source: `credit-${n}.csv` }));
    const p = built.value;
    const profileBytes = Buffer.byteLength(M.storedReferenceText({ format: M.REFERENCE_FORMAT, profile: p.profile, calibration: p.calibration, metrics: p.metrics }));
    out.profile[n] = { rows: n, bytes: profileBytes, sketchBytes: Buffer.byteLength(B.profile.serializeProfile(p.profile)), buildMs: built.ms };
    log(`  profile of ${fmtInt(n)} rows: ${fmtInt(profileBytes)} bytes stored (built in ${fmtS(built.ms)})`);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. serving with the inference log on and off

/** The v2 body bench/run.js sends: the fixture's first golden row, FP32 [1, D]. */
export function writeBody(model) {
  const dir = path.join(FIXTURES, model);
  const golden = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8'));
  const card = JSON.parse(readFileSync(path.join(dir, 'card.json'), 'utf8'));
  const name = card.inputs[0].name;
  const g = golden.cases[0].inputs[name] ?? Object.values(golden.cases[0].inputs)[0];
  const d = g.shape[g.shape.length - 1];
  const row = Array.from(Float32Array.from(g.data.flat(Infinity).slice(0, d)), (v) => Number(v));
  mkdirSync(path.join(WORK_DIR, 'bodies'), { recursive: true });
  const file = path.join(WORK_DIR, 'bodies', `${model}-v2.json`);
  writeFileSync(file, JSON.stringify({ inputs: [{ name, shape: [1, d], datatype: 'FP32', data: row }] }));
  return file;
}

/** Start the serve-child on a prepared data dir; resolves once the body answers 2xx. */
async function startServer(name, dataDir, logOn, body) {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${name}.log`);
  const sink = createWriteStream(logFile);
  const env = { ...process.env };
  if (logOn) env.BERTH_INFERENCE_LOG_MAX_ROWS_PER_SECOND = '0';
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve-child', '--data-dir', dataDir, '--log', logOn ? 'on' : 'off'], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const srv = { name, child, logFile, url: null, stats: null, probes: 0 };
  srv.exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  let buf = '';
  child.stdout.on('data', (d) => {
    sink.write(d);
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('BERTH_READY ')) srv.url = JSON.parse(line.slice(12)).url;
      if (line.startsWith('BERTH_LOG_STATS ')) srv.stats = JSON.parse(line.slice(16));
    }
  });
  child.stderr.on('data', (d) => sink.write(d));
  let dead = null;
  void srv.exited.then((x) => (dead = x));
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000) {
    if (dead) throw new Error(`${name} exited (code ${dead.code}) before answering; see ${logFile}`);
    if (srv.url) {
      try {
        srv.probes++;
        const res = await fetch(`${srv.url}/v2/models/${SERVE_MODEL}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: readFileSync(body), signal: AbortSignal.timeout(5000) });
        await res.text();
        if (res.ok) return srv;
      } catch {
        // not yet
      }
    }
    await sleep(200);
  }
  throw new Error(`${name} did not answer within 60 s; see ${logFile}`);
}

async function stopServer(srv) {
  killGroup(srv.child, 'SIGTERM');
  const t = await Promise.race([srv.exited.then(() => 'exited'), sleep(15_000).then(() => 'timeout')]);
  if (t === 'timeout') killGroup(srv.child, 'SIGKILL');
  started.delete(srv.child);
}

async function countLoggedRows(B, dataDir) {
  const files = await B.monitor.listLogFiles(dataDir, SERVE_MODEL);
  let rows = 0;
  for (const f of files) rows += (await B.data.readParquetFile(f.path, { columns: [B.monitor.LOG_TS] })).rows;
  return { rows, files: files.length };
}

async function servePart(B, opts, out) {
  ensureWrk();
  const body = writeBody(SERVE_MODEL);
  // the ceiling, measured in this run: raw onnxruntime-node in a child process, no HTTP (as `serve` does)
  const raw = run(process.execPath, [path.join(here, 'raw-ort.js'), path.join(FIXTURES, SERVE_MODEL), '--batches', '1,64', '--latency-runs', '2000', '--seconds', '1.5'], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  const rawResult = raw.ok ? JSON.parse(raw.stdout.trim().split('\n').pop()) : null;
  const rawB64 = rawResult?.throughput.find((t) => t.batch === 64)?.rows_per_s ?? null;
  if (rawB64) log(`raw onnxruntime-node, ${SERVE_MODEL}, batch 64: ${fmtInt(rawB64)} rows/s`);
  const backend = new B.runtime.OnnxBackend();
  const order = [true, false, false, true]; // on/off alternately, twice, the second pass reversed
  const runs = [];
  for (const [i, logOn] of order.entries()) {
    const label = logOn ? 'log on' : 'log off';
    const dataDir = tempDir('berth-bench-serve-');
    const { registry } = await registerFixture(B, dataDir, SERVE_MODEL, backend);
    await registry.close();
    const srv = await startServer(`monitor-${SERVE_MODEL}-${logOn ? 'on' : 'off'}-${i + 1}`, dataDir, logOn, body);
    let warm = { requests: 0 };
    try {
      if (opts.warmup > 0) warm = await runWrk(srv.url.concat(`/v2/models/${SERVE_MODEL}/infer`), body, 8, opts.warmup);
      const cpu0 = groupCpuMs(srv.child.pid);
      const r = await runWrk(`${srv.url}/v2/models/${SERVE_MODEL}/infer`, body, SERVE_CONNS, opts.duration);
      const cpu1 = groupCpuMs(srv.child.pid);
      if (r.failed) throw new Error(`wrk failed against ${label}: ${r.output}`);
      r.cpu_us_per_req = ((cpu1 - cpu0) * 1000) / r.requests;
      r.cpu_cores = (cpu1 - cpu0) / (r.secs * 1000);
      await stopServer(srv);
      const row = { run: i + 1, log: logOn, ...r, warmRequests: warm.requests ?? 0, probes: srv.probes, stats: srv.stats };
      if (logOn) {
        const counted = await countLoggedRows(B, dataDir);
        row.loggedRows = counted.rows;
        row.logFiles = counted.files;
        // every answered request was logged: the warm-up's, the run's, the readiness probe's, and
        // the few that were in flight when wrk stopped (answered, but not counted by wrk)
        row.expectedRows = row.requests + row.warmRequests + 1;
        row.unaccounted = row.loggedRows - row.expectedRows;
      }
      runs.push(row);
      log(`${label} (run ${i + 1}/4): ${fmtInt(r.ok_rps)} req/s, p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, server ${fmtInt(r.cpu_us_per_req)} µs CPU/req, non-2xx ${r.non2xx}, sock ${r.sockerr + r.timeouts}${logOn ? `; logged ${fmtInt(row.loggedRows)} rows in ${row.logFiles} files for ${fmtInt(row.expectedRows)} answered (${row.unaccounted >= 0 ? '+' : ''}${row.unaccounted})` : ''}`);
    } finally {
      await stopServer(srv);
      removeTemp(dataDir);
    }
  }
  out.serve = { runs, rawB64, duration: opts.duration, warmup: opts.warmup, conns: SERVE_CONNS, pinned: LOAD_CPU !== 'none' && have('taskset') ? `wrk pinned to cpu ${LOAD_CPU}` : 'not pinned' };
}

// ---------------------------------------------------------------------------------------------
// report

function targets(out) {
  const t = [];
  const add = (name, ok, detail) => t.push({ status: ok === null ? 'N/A' : ok ? 'PASS' : 'MISS', name, detail });
  if (out.report) {
    const best = out.report.bestMs;
    const np = out.numpy?.bestMs;
    add('report over 1M rows × 15 features < 2 s', best < 2000, `MonitorService.report best ${fmtS(best)} (first ${fmtS(out.report.firstMs)}), from the Parquet files`);
    if (np) {
      add('report ≥ 5× faster than numpy/scipy', np / best >= 5, `numpy/scipy ${fmtS(np)} ÷ report ${fmtS(best)} = ${fmtX(np / best)}`);
      add('same statistics in memory ≥ 5× faster than numpy/scipy', np / out.pure.bestMs >= 5, `numpy/scipy ${fmtS(np)} ÷ computeDrift + analyzeQuality ${fmtS(out.pure.bestMs)} = ${fmtX(np / out.pure.bestMs)}`);
    } else add('≥ 5× faster than numpy/scipy', null, out.numpy?.error ?? 'not run');
  }
  if (out.profile) {
    const [a, b] = Object.values(out.profile);
    add('stored profile of 1M rows < 2× the 10k one', b.bytes < 2 * a.bytes, `${fmtInt(a.bytes)} B (10k rows) vs ${fmtInt(b.bytes)} B (1M rows) = ${fmtX(b.bytes / a.bytes)}`);
  }
  if (out.serve) {
    const on = out.serve.runs.filter((r) => r.log);
    const off = out.serve.runs.filter((r) => !r.log);
    const bOn = on.reduce((a, r) => (r.ok_rps > a.ok_rps ? r : a));
    const bOff = off.reduce((a, r) => (r.ok_rps > a.ok_rps ? r : a));
    // answered but not counted by wrk: at most the requests in flight when each wrk run stopped (+ failed readiness probes)
    const honest = on.every((r) => r.unaccounted >= 0 && r.unaccounted <= SERVE_CONNS + (out.serve.warmup > 0 ? 8 : 0) + r.probes);
    const cpu = (rs) => min(rs.map((r) => r.cpu_us_per_req));
    add(
      'serving with every row logged ≥ 90% of logging off',
      bOn.ok_rps / bOff.ok_rps >= 0.9,
      `${fmtInt(bOn.ok_rps)} vs ${fmtInt(bOff.ok_rps)} req/s = ${(100 * bOn.ok_rps / bOff.ok_rps).toFixed(2)}% (better of 2 each); p99 ${fmtMs(bOn.p99)} vs ${fmtMs(bOff.p99)} ms; ` +
        `server CPU ${fmtInt(cpu(on))} vs ${fmtInt(cpu(off))} µs per request (the lower of 2 each: logging costs ${fmtInt(cpu(on) - cpu(off))} µs, so a server bound by its CPU keeps ${(100 * cpu(off) / cpu(on)).toFixed(0)}%); ` +
        `log rows ${honest ? 'match' : 'DO NOT match'} the answered requests (${on.map((r) => `${fmtInt(r.loggedRows)} for ${fmtInt(r.expectedRows)}`).join(', ')})` +
        (out.serve.rawB64 ? `; against raw onnxruntime-node at batch 64 (${fmtInt(out.serve.rawB64)} rows/s, same run): log on ${fmtX(bOn.ok_rps / out.serve.rawB64)}, log off ${fmtX(bOff.ok_rps / out.serve.rawB64)}` : ''),
    );
  }
  return t;
}

function render(out, meta) {
  const L = [];
  L.push('# Berth monitoring benchmark', '');
  L.push(`\`${meta.command}\` — ${meta.date}, git ${meta.git}, Node ${meta.node}, ${meta.cpus}.`, '');
  if (out.report) {
    const s = out.setup;
    L.push(`## Drift + quality report over ${fmtInt(s.rows)} logged rows × 15 features`, '');
    L.push(`Log: ${s.logFiles} Parquet files of ${fmtInt(FILE_ROWS)} rows, ${(s.logBytes / 1e6).toFixed(0)} MB, one request per row, predictions from the credit model (onnxruntime-node). Reference: reference.csv, ${fmtInt(s.referenceRows)} rows, profiled with MonitorService.profileVersion. Setup (not timed): CSV ${fmtS(s.csvReadMs)}, model ${fmtS(s.predictMs)}, log written ${fmtS(s.writeLogMs)}, profile ${fmtS(s.profileMs)}.`, '');
    L.push('| what | first run | best of the next ' + (out.report.runsMs.length - 1) + ' |', '| --- | ---: | ---: |');
    L.push(`| MonitorService.report('credit', {window: 'all'}) — Parquet files → report object (drift incl. 2 prediction columns, quality, performance, fairness, latency) | ${fmtS(out.report.firstMs)} | ${fmtS(out.report.bestMs)} |`);
    L.push(`| Berth in memory: computeDrift + analyzeQuality, 15 features vs the 20,000 reference rows | ${fmtS(out.pure.firstMs)} | ${fmtS(out.pure.bestMs)} |`);
    if (out.numpy?.bestMs) L.push(`| numpy/scipy, the same statistics, data already in memory (${out.numpy.versions}) | ${fmtS(out.numpy.runsMs[0])} | ${fmtS(out.numpy.bestMs)} |`);
    L.push('');
    const b = out.reportBreakdown;
    L.push(`Where the report's time goes (each step alone, warm): reading the log (the columns report() reads) ${fmtS(b.readLogMs)}; buildReport ${fmtS(b.buildReportMs)}, of which computeDrift against the profile ${fmtS(b.driftMs)}, analyzeQuality ${fmtS(b.qualityMs)} and performance + fairness + latency the other ≈ ${fmtS(b.buildReportMs - b.driftMs - b.qualityMs)}.`, '');
    if (out.numpy?.agreement) {
      const w = Object.entries(out.numpy.agreement).map(([k, v]) => `${k} ${v.d.toExponential(1)}${v.d > 1e-6 ? ` (${v.col}: ${v.berth} vs ${v.numpy})` : ''}`);
      L.push(`Berth (in memory) vs numpy/scipy, largest relative difference per statistic over the 15 columns: ${w.join('; ')}. Tests: ${out.numpy.tests.join(', ')}.`, '');
    }
  }
  if (out.profile) {
    L.push('## Stored reference profile size', '', '| rows profiled | stored reference (bytes) | of which the profile | built in |', '| ---: | ---: | ---: | ---: |');
    for (const p of Object.values(out.profile)) L.push(`| ${fmtInt(p.rows)} | ${fmtInt(p.bytes)} | ${fmtInt(p.sketchBytes)} | ${fmtS(p.buildMs)} |`);
    L.push('');
  }
  if (out.serve) {
    const s = out.serve;
    L.push(`## Serving ${SERVE_MODEL} with the inference log on / off`, '');
    L.push(`wrk -t1 -c${s.conns} ${s.duration}s (${s.pinned}) after a ${s.warmup}s warm-up at 8 connections; a fresh server and data dir per run; log on = every row logged (BERTH_INFERENCE_LOG_MAX_ROWS_PER_SECOND=0), log off = inferenceLog.enabled false.`, '');
    L.push('| run | log | req/s (2xx) | p50 ms | p99 ms | server CPU µs/req | server cores | rows logged / answered |', '| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of s.runs) {
      L.push(`| ${r.run} | ${r.log ? 'on' : 'off'} | ${fmtInt(r.ok_rps)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtInt(r.cpu_us_per_req)} | ${r.cpu_cores.toFixed(2)} | ${r.log ? `${fmtInt(r.loggedRows)} / ${fmtInt(r.expectedRows)} in ${r.logFiles} files` : '—'} |`);
    }
    L.push('');
  }
  L.push('## Targets', '');
  for (const t of out.targets) L.push(`- **${t.status}** ${t.name}: ${t.detail}`);
  L.push('', `Total time ${((Date.now() - meta.t0) / 60000).toFixed(1)} min.`, '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------

export async function monitor(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      parts: { type: 'string', default: PARTS.join(',') },
      repeat: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      'no-build': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const opts = { parts: values.parts.split(',').map((s) => s.trim()), repeat: Number(values.repeat), duration: Number(values.duration), warmup: Number(values.warmup), keep: values.keep };
  for (const p of opts.parts) if (!PARTS.includes(p)) throw new Error(`--parts: expected some of ${PARTS.join(', ')}, got ${p}`);
  if (!Number.isInteger(opts.repeat) || opts.repeat < 1) throw new Error(`--repeat: expected a positive integer, got ${values.repeat}`);
  if (!(opts.duration >= 1)) throw new Error(`--duration: expected seconds >= 1, got ${values.duration}`);
  if (!FIXTURES) throw new Error('fixtures not found: set BERTH_FIXTURES or put them at ../shared/fixtures');
  const meta = {
    t0: Date.now(),
    date: new Date().toISOString(),
    command: `npm run bench -- monitor ${argv.join(' ')}`.trim(),
    git: run('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).stdout.trim() + (run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).stdout.trim() ? ' (+ local changes)' : ''),
    node: process.version,
    cpus: `${os.availableParallelism()} × ${os.cpus()[0]?.model ?? '?'}`,
  };
  process.once('exit', cleanup);
  ensureBuild(values['no-build']);
  const B = await loadDist();
  const out = {};
  try {
    if (opts.parts.includes('report') || opts.parts.includes('profile')) await reportPart(B, opts, out);
    if (opts.parts.includes('serve')) await servePart(B, opts, out);
  } finally {
    cleanup();
  }
  out.targets = targets(out);
  process.stdout.write(render(out, meta));
  if (values.json) writeFileSync(values.json, JSON.stringify({ meta, ...out }, null, 1));
  return 0;
}

/** The server of the serving part: `berth serve`'s createBerthServer + listen, with the log on or off. */
async function serveChild(argv) {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, log: { type: 'string' } }, strict: true });
  const core = await import(pathToFileURL(path.join(dist, 'core', 'index.js')).href);
  const { createBerthServer } = await import(pathToFileURL(path.join(dist, 'server', 'index.js')).href);
  // defaults -> BERTH_* environment -> the bench's: its data dir, loopback, and the log on or off
  // (inferenceLog.enabled has no environment variable, and berth serve --config does not take it)
  const config = core.resolveConfig({ logLevel: 'warn', auth: { dev: true } }, core.configFromEnv(process.env), {
    dataDir: values['data-dir'],
    server: { host: '127.0.0.1', port: 0 },
    inferenceLog: { enabled: values.log === 'on' },
  });
  const server = await createBerthServer({ config, logger: core.createLogger(config.logLevel), example: false });
  await server.service.refresh();
  const url = await server.listen();
  process.stdout.write(`BERTH_READY ${JSON.stringify({ url, inferenceLog: config.inferenceLog })}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.stdout.write(`BERTH_LOG_STATS ${JSON.stringify(server.inferenceLog?.stats ?? null)}\n`, () => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [sub, ...rest] = process.argv.slice(2);
  try {
    if (sub === 'serve-child') await serveChild(rest);
    else process.exitCode = await monitor(sub === undefined ? [] : [sub, ...rest]);
  } catch (err) {
    process.stderr.write(`bench monitor: ${err?.stack ?? err}\n`);
    cleanup();
    process.exitCode = 1;
  }
}

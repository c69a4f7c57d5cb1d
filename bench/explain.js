#!/usr/bin/env node
// `npm run bench -- explain`: one row's explanation of breast-cancer-gbt (30 features), exactly as a request
// runs it minus HTTP, against raw onnxruntime-node measured in the same process (bench/README.md, "Explain").
//
//   npm run bench -- explain [--rows 20] [--threads 1] [--sessions 2] [--no-build] [--json out.json]
//
// 1. Setup: `berth --local --data-dir D models register model.onnx --card card.json --reference reference.csv`
//    (the real CLI), which also summarises the reference into the 100-row k-means background and counts the
//    node covers, as a server does when reference data is attached.
// 2. One child process per --threads value T (`node bench/explain.js child measure D T ROWS`) opens that data dir
//    with the embedded registry and runs ExplainService.explain(version, [input [1,30] FP32], options) with the
//    service's sessions at intraOpThreads T, on golden rows (cycled):
//    - Kernel SHAP (method kernel, budget 2,048, seed 0), link identity and link logit: --rows rows each;
//    - TreeSHAP, path-dependent (method tree) and interventional against the background (tree-interventional):
//      every golden row (317), at least --rows;
//    after a warm-up of each. Wall time around explain(): p50 and p90. A row's four Kernel SHAP measurements
//    (identity, logit, direct, raw below) run in an order rotated row by row, so none always follows the same one.
//    Breakdown of Kernel SHAP, per row, in the same loop:
//    - kernelShap() called directly on a worker session of its own (as the service's), its predict() timed:
//      the model calls (rows to the worker thread, the run, the values back) vs. everything else (coalitions,
//      the coalition rows, the fit, the standard errors);
//    - raw onnxruntime-node in the main thread, Berth's session options at T threads, on a tensor built once
//      from the very rows kernelShap sent to the model (204,901 of them: 100 background rows, x, and 2,048
//      coalitions × 100), fetching the probabilities output only, as the service does; and the same once more
//      on a copy of those rows made just before (not timed), as each explanation's rows are new to the runtime;
//    - and structuredClone() of those rows, 5 times, median (the copy a postMessage to the worker makes).
//    Raw reference: one raw runtime call, batch 1, 1 thread (Berth's serving default), all outputs, the golden rows
//    prebuilt as tensors (200 warm-up calls, then 2,000): p50. Explanations are reported as multiples of it.
// Targets (issue 9): Kernel SHAP p50 under 150 ms (per thread count), TreeSHAP p50 under 2 ms.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FIXTURES, cleanup, dist, fmtInt, fmtX, root, run, runAsScript, runMeta, tempDir } from './lib.js';
import { ensureBuild } from './monitor.js';

const MODEL = 'breast-cancer-gbt';
const BUDGET = 2048;
const KERNEL_TARGET_MS = 150;
const TREE_TARGET_MS = 2;
const OTHER_WARN = 0.5; // cores busy outside the measuring process above which a run is flagged
const CLK_TCK = Number(run('getconf', ['CLK_TCK']).stdout.trim()) || 100;
const log = (s) => process.stderr.write(`[bench explain] ${s}\n`);

const fmtMs = (n) => (Number.isFinite(n) ? (n < 0 ? '−' : '') + ((a) => (a < 1 ? a.toFixed(3) : a < 10 ? a.toFixed(2) : a.toFixed(1)))(Math.abs(n)) : 'n/a');
/** a ratio: 13,776× for big ones, 8.1× for small ones */
const fmtRatio = (n) => (!Number.isFinite(n) ? 'n/a' : n >= 100 ? `${fmtInt(n)}×` : fmtX(n, 1));
const pct = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
};
const stats = (xs) => ({ n: xs.length, p50: pct(xs, 50), p90: pct(xs, 90), min: Math.min(...xs), max: Math.max(...xs) });

/** Machine-wide busy and total CPU ticks over all cores (/proc/stat). */
function procStat() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - f[4] - (f[7] ?? 0), steal: f[7] ?? 0, total };
  } catch {
    return null;
  }
}

/** This process and its ancestors (npm, the shell): not "other" load. */
function ours() {
  const pids = new Set([process.pid]);
  let pid = process.ppid;
  while (pid > 1 && !pids.has(pid)) {
    pids.add(pid);
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return pids;
}

/** What else was running: the load average and the busiest processes (not this bench's). */
function machineNow() {
  const ps = run('ps', ['-eo', 'pid,pcpu,etimes,comm', '--sort=-pcpu', '--no-headers']);
  const mine = new Set([...ours()].map(String));
  const top = ps.ok
    ? ps.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => !mine.has(f[0]) && Number(f[1]) >= 5 && f[3] !== 'ps').slice(0, 4).map((f) => `${f[3]} ${f[1]}%`)
    : [];
  return { loadavg: os.loadavg().map((x) => Number(x.toFixed(2))), top };
}

// ---------------------------------------------------------------------------------------------
// the bench (parent)

/** CPU ticks of every process but `skip`, by pid: [comm, ticks]. */
function processTicks(skip) {
  const out = new Map();
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || skip.has(Number(e))) continue;
    try {
      const st = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      let name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      if (name === 'node' || name === 'MainThread') {
        // which node: a test runner, the compiler, a Berth process, or a script
        const args = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
        const known = ['vitest', 'tsc', 'berth.js', 'npm'].find((k) => args.some((a) => a.includes(k)));
        name = `node (${known ?? path.basename(args.find((a, i) => i > 0 && /\.[cm]?js$/.test(a)) ?? '?')})`;
      }
      out.set(e, [name, Number(f[11]) + Number(f[12])]);
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * One measuring child (`node bench/explain.js child …`): its progress on our stderr, its last stdout line
 * as JSON, and `others`: the processes outside this bench that used the most CPU meanwhile (cores, by name).
 */
async function child(args) {
  const c = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  const skip = new Set([...ours(), c.pid]);
  const used = new Map(); // comm -> ticks
  let last = processTicks(skip);
  const t0 = performance.now();
  const sample = () => {
    const now = processTicks(skip);
    for (const [pid, [comm, ticks]] of now) {
      const before = last.get(pid)?.[1] ?? ticks; // a process born since the last sample counts from now
      if (ticks > before) used.set(comm, (used.get(comm) ?? 0) + ticks - before);
    }
    last = now;
  };
  const timer = setInterval(sample, 1000);
  const code = await new Promise((resolve) => c.once('close', resolve));
  clearInterval(timer);
  sample();
  if (code !== 0) throw new Error(`bench child ${args[0]} failed (exit ${code}); its error is above`);
  const secs = (performance.now() - t0) / 1000;
  const others = [...used].map(([comm, ticks]) => ({ comm, cores: ticks / CLK_TCK / secs })).filter((o) => o.cores >= 0.02).sort((a, b) => b.cores - a.cores).slice(0, 4);
  return { ...JSON.parse(out.trim().split('\n').pop()), others };
}

async function bench(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string', default: '20' },
      threads: { type: 'string', default: '1' },
      sessions: { type: 'string', default: '2' },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const rows = Number(values.rows);
  const threads = values.threads.split(',').map(Number);
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`--rows: expected a positive integer, got ${values.rows}`);
  if (threads.length === 0 || threads.some((t) => !Number.isInteger(t) || t < 1)) throw new Error(`--threads: expected positive integers, got ${values.threads}`);
  if (!FIXTURES) throw new Error('fixtures not found: set BERTH_FIXTURES or put them at ../shared/fixtures');
  const meta = runMeta('explain', argv);
  ensureBuild(values['no-build']);
  const before = machineNow();
  log(`machine: load ${before.loadavg.join(' ')}${before.top.length ? `; busiest: ${before.top.join(', ')}` : ''}`);

  const fx = path.join(FIXTURES, MODEL);
  const dataDir = tempDir('berth-bench-explain-');
  log(`berth models register ${MODEL} --card --reference (profile, background, covers)`);
  const t0 = performance.now();
  const reg = run(process.execPath, [path.join(root, 'bin', 'berth.js'), '--local', '--data-dir', dataDir, '--json', 'models', 'register', path.join(fx, 'model.onnx'), '--name', MODEL, '--card', path.join(fx, 'card.json'), '--reference', path.join(fx, 'reference.csv')], { cwd: root, env: { ...process.env, CI: '1' } });
  if (!reg.ok) throw new Error(`register failed (exit ${reg.status}): ${reg.stderr.trim()}`);
  const registerSeconds = (performance.now() - t0) / 1000;

  const runs = [];
  try {
    for (const t of threads) {
      log(`explain session at ${t} thread${t > 1 ? 's' : ''}: ${rows} rows × (kernel identity, kernel logit, breakdown) + TreeSHAP`);
      runs.push(await child(['measure', dataDir, String(t), String(rows), values.sessions]));
    }
  } finally {
    cleanup(); // the data dir
  }
  const after = machineNow();

  const report = render({ meta, rows, threads, runs, registerSeconds, before, after });
  process.stdout.write(report.text + '\n');
  if (values.json) writeFileSync(values.json, JSON.stringify({ meta, rows, threads, registerSeconds, machine: { before, after }, runs, targets: report.targets }, null, 2));
  return 0;
}

function render({ meta, rows, runs, registerSeconds, before, after }) {
  const ms = (s) => `${fmtMs(s.p50)} / ${fmtMs(s.p90)} / ${fmtMs(s.min)}`;
  const L = [
    `# Explain: ${MODEL}, one row per request`,
    '',
    `${meta.date}, ${meta.command}, git ${meta.git}, Node ${meta.node}, ${meta.cpus}. Load average before ${before.loadavg.join(' ')}, after ${after.loadavg.join(' ')}${before.top.length ? `; busiest before: ${before.top.join(', ')}` : ''}.`,
    '',
    `ExplainService.explain() in process (no HTTP), one row of [1,30] FP32 per call, golden rows cycled; wall time per call in ms. Background: ${runs[0].background.rows} rows (${runs[0].background.method}), stored by \`models register --reference\` (${registerSeconds.toFixed(1)} s with the profile). Raw: one onnxruntime-node call, batch 1, 1 thread, all outputs, measured in the same process just before.`,
    '',
    '| explain threads | raw b1 p50 ms | method | calls | p50 / p90 / min ms | p50 ÷ raw b1 | evaluations/row |',
    '| ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of runs) {
    const raw = r.raw.b1.p50;
    const line = (name, s, ev) => `| ${r.threads} | ${raw.toFixed(4)} | ${name} | ${s.n} | ${ms(s)} | ${fmtRatio(s.p50 / raw)} | ${ev} |`;
    L.push(line(`kernel, ${fmtInt(r.kernel.coalitions)} coalitions, identity`, r.kernel.identity, fmtInt(r.kernel.evaluations)));
    L.push(line('kernel, logit', r.kernel.logit, fmtInt(r.kernel.evaluations)));
    L.push(line('tree (path-dependent)', r.tree.path, 0));
    L.push(line(`tree-interventional (${r.background.rows} rows)`, r.tree.interventional, 0));
  }
  L.push('', `## Where Kernel SHAP's time goes (link identity, p50 over the ${rows} rows, ms)`, '');
  L.push('| explain threads | explain() (all sessions) | kernelShap() direct, one session | its model calls | the rest (coalitions, rows, fit) | raw runtime, same rows in one call | raw, the rows in a new buffer | model calls − raw (worker hop, copies) | explain() − kernelShap() | raw rows/s | explain() ÷ raw same rows |');
  L.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of runs) {
    const b = r.breakdown;
    L.push(`| ${r.threads} | ${fmtMs(r.kernel.identity.p50)} | ${fmtMs(b.direct.p50)} | ${fmtMs(b.predict.p50)} (${b.calls} call${b.calls > 1 ? 's' : ''}) | ${fmtMs(b.outside.p50)} | ${fmtMs(b.raw.p50)} | ${fmtMs(b.rawFresh.p50)} | ${fmtMs(b.predict.p50 - b.raw.p50)} | ${fmtMs(r.kernel.identity.p50 - b.direct.p50)} | ${fmtInt(b.rowsPerCall / (b.raw.p50 / 1000))} | ${fmtX(r.kernel.identity.p50 / b.raw.p50)} |`);
  }
  const r0 = runs[0];
  L.push(
    '',
    `Per row: ${fmtInt(r0.breakdown.rowsPerCall)} model rows of ${r0.features} floats (${(r0.breakdown.bytes / 2 ** 20).toFixed(1)} MiB) go to the explain session's worker thread; structuredClone() of them (the copy postMessage makes) took ${fmtMs(r0.breakdown.clone)} ms here (median of 5). raw runtime = onnxruntime-node in the main thread, same session options, tensor prebuilt from the very rows kernelShap sent, probabilities output only; "in a new buffer": the same rows copied into a fresh buffer before each call (the copy not timed), as each explanation brings rows the runtime has not read yet.`,
    '',
    `CPU during each child's measurements (cores of ${os.availableParallelism()}): ${runs.map((r) => `${r.threads} thread${r.threads > 1 ? 's' : ''}: this process ${r.cpu.own.toFixed(2)}, everything else ${r.cpu.other.toFixed(2)}${r.cpu.steal > 0.01 ? `, stolen by the hypervisor ${r.cpu.steal.toFixed(2)}` : ''}${r.cpu.other > OTHER_WARN ? ' ⚠ shared machine' : ''}${r.others.length ? ` (busiest other processes: ${r.others.map((o) => `${o.comm} ${o.cores.toFixed(2)}`).join(', ')})` : ''}`).join('; ')}.`,
  );

  const targets = [];
  L.push('', '## Targets', '');
  for (const r of runs) {
    const k = r.kernel.identity.p50;
    targets.push({ name: `kernel p50 < ${KERNEL_TARGET_MS} ms, ${r.threads} thread(s)`, pass: k < KERNEL_TARGET_MS, value: k });
    L.push(`- **${k < KERNEL_TARGET_MS ? 'PASS' : 'MISS'}** Kernel SHAP (2,048 coalitions × ${r.background.rows} background, identity) p50 < ${KERNEL_TARGET_MS} ms with the explanations' ${r.sessions ?? 2} sessions at ${r.threads} thread${r.threads > 1 ? 's' : ''} each: ${fmtMs(k)} ms (p90 ${fmtMs(r.kernel.identity.p90)}; ${fmtRatio(k / r.raw.b1.p50)} one raw call)`);
  }
  for (const r of runs) {
    const t = r.tree.path.p50;
    targets.push({ name: `tree p50 < ${TREE_TARGET_MS} ms, ${r.threads} thread(s)`, pass: t < TREE_TARGET_MS, value: t });
    L.push(`- **${t < TREE_TARGET_MS ? 'PASS' : 'MISS'}** TreeSHAP (path-dependent) p50 < ${TREE_TARGET_MS} ms (in the run at ${r.threads} thread${r.threads > 1 ? 's' : ''}; TreeSHAP makes no runtime call): ${fmtMs(t)} ms (${fmtRatio(t / r.raw.b1.p50)} one raw call); interventional ${fmtMs(r.tree.interventional.p50)} ms`);
  }
  return { text: L.join('\n'), targets };
}

// ---------------------------------------------------------------------------------------------
// the measuring child

async function childMain(argv) {
  const [what, dataDir, threadsArg, rowsArg, sessionsArg] = argv;
  const S = Number(sessionsArg ?? '2');
  if (what !== 'measure') throw new Error(`unknown child ${what}`);
  const T = Number(threadsArg);
  const ROWS = Number(rowsArg);
  const { ExplainService, kernelShap, backgroundFromJson, FeatureSpace, explainedOutput, explainedValues, parseExplainOptions } = await import(path.join(dist, 'explain', 'index.js'));
  const { openEmbeddedRegistry } = await import(path.join(dist, 'registry', 'index.js'));
  const { OnnxBackend } = await import(path.join(dist, 'runtime', 'index.js'));
  const { createLogger } = await import(path.join(dist, 'core', 'index.js'));
  const ort = createRequire(path.join(root, 'package.json'))('onnxruntime-node');
  const now = () => performance.now();

  const registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'bench' });
  const version = await registry.getVersion(MODEL, 1);
  const backend = new OnnxBackend();
  const svc = new ExplainService({ registry, backend, logger: createLogger('warn'), config: { intraOpThreads: T, sessions: S } });
  const bytes = new Uint8Array(readFileSync(path.join(FIXTURES, MODEL, 'model.onnx')));

  // golden rows: one [1, M] FP32 tensor each
  const golden = JSON.parse(readFileSync(path.join(FIXTURES, MODEL, 'golden.json'), 'utf8'));
  const inName = version.signature.inputs[0].name;
  const M = version.signature.inputs[0].shape[1];
  const flat = Float32Array.from(golden.cases.flatMap((c) => (c.inputs[inName] ?? Object.values(c.inputs)[0]).data.flat(Infinity)));
  const G = flat.length / M;
  const rowOf = (i) => flat.slice((i % G) * M, ((i % G) + 1) * M);
  const inputOf = (i) => [{ name: inName, datatype: 'FP32', shape: [1, M], data: rowOf(i) }];

  // raw reference: one runtime call, batch 1, 1 thread, all outputs (as bench/raw-ort.js)
  const sessionOptions = (intra) => ({ graphOptimizationLevel: 'all', executionMode: 'sequential', intraOpNumThreads: intra, interOpNumThreads: 1 });
  const raw1 = await ort.InferenceSession.create(bytes, sessionOptions(1));
  const outNames = [...raw1.outputNames];
  const b1Feeds = Array.from({ length: G }, (_, i) => ({ [raw1.inputNames[0]]: new ort.Tensor('float32', rowOf(i), [1, M]) }));
  for (let i = 0; i < 200; i++) await raw1.run(b1Feeds[i % G], outNames);
  const b1 = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = now();
    await raw1.run(b1Feeds[i % G], outNames);
    b1.push(now() - t0);
  }
  await raw1.release();
  const rawB1 = stats(b1);
  process.stderr.write(`  raw batch 1 (1 thread): p50 ${rawB1.p50.toFixed(4)} ms\n`);

  // the stored background, the feature space and a worker session of our own, for calling kernelShap directly
  const stored = JSON.parse(Buffer.from(await registry.artifacts.read(version.reference.background.sha256)).toString('utf8'));
  const background = backgroundFromJson(stored.background);
  const space = FeatureSpace.of(version.signature, stored.dictionaries);
  const direct = await backend.load(bytes, { intraOpThreads: T, interOpThreads: 1, worker: true });
  let predictMs = 0;
  let calls = 0;
  let captured = null; // the rows of the first model call, for the raw big batch
  const timedModel = (target) => ({
    featureCount: space.size,
    predict: async (rows, n) => {
      if (captured === null) captured = { rows: rows.slice(0, n * M), n };
      const t0 = now();
      const y = explainedValues(await direct.run(space.decode(rows, n), [target.output]), target, n);
      predictMs += now() - t0;
      calls++;
      return y;
    },
  });
  // the options as a request body parses them (defaults included: no cache)
  const kernel = (link) => parseExplainOptions({ method: 'kernel', budget: BUDGET, link, seed: 0 }, []);
  const TREE = parseExplainOptions({ method: 'tree' }, []);
  const TREE_INT = parseExplainOptions({ method: 'tree-interventional' }, []);

  // warm-up: the service's session and prepared version, the direct session, TreeSHAP
  let first = null;
  // (and a check that each call answers what it is meant to measure)
  const check = (r, method) => {
    if (r.method !== method || (r.cached ?? 0) !== 0 || r.explanations.length !== 1 || r.explanations[0].contributions.length !== M) {
      throw new Error(`explain answered ${JSON.stringify({ method: r.method, cached: r.cached, rows: r.explanations.length, features: r.explanations[0]?.contributions.length })}, expected method ${method}, one row of ${M} features, not from the cache`);
    }
    const e = r.explanations[0];
    const sum = e.base_value + e.contributions.reduce((a, c) => a + c.contribution, 0);
    if (Math.abs(sum - e.prediction) > 1e-6 * Math.max(1, Math.abs(e.prediction))) throw new Error(`${method}: base + Σ contributions = ${sum}, prediction ${e.prediction}`);
    return r;
  };
  for (let i = 0; i < 3; i++) first = check(await svc.explain(version, inputOf(i), kernel('identity')), 'kernel');
  if (first.coalitions !== BUDGET || first.exact) throw new Error(`kernel: ${first.coalitions} coalitions (exact ${first.exact}), expected ${BUDGET} sampled`);
  check(await svc.explain(version, inputOf(0), kernel('logit')), 'kernel');
  for (let i = 0; i < 100; i++) {
    check(await svc.explain(version, inputOf(i), TREE), 'tree-path-dependent');
    check(await svc.explain(version, inputOf(i), TREE_INT), 'tree-interventional');
  }
  const targetFor = (cls) => explainedOutput(version.signature, version.card ?? undefined, cls ?? undefined);
  for (let i = 0; i < 2; i++) await kernelShap(timedModel(targetFor(first.explanations[0].class)), rowOf(i), background, { budget: BUDGET, link: 'identity', seed: 0 });
  const big = await ort.InferenceSession.create(bytes, sessionOptions(T));
  const bigFeeds = { [big.inputNames[0]]: new ort.Tensor('float32', captured.rows, [captured.n, M]) };
  const probOut = targetFor(first.explanations[0].class).output;
  await big.run(bigFeeds, [probOut]);
  const clones = [];
  for (let i = 0; i < 5; i++) {
    const c0 = now();
    structuredClone(captured.rows);
    clones.push(now() - c0);
  }
  const cloneMs = pct(clones, 50);
  let t0;

  const cpu0 = process.cpuUsage();
  const stat0 = procStat();
  const wall0 = now();
  const kId = [];
  const kLogit = [];
  const dTotal = [];
  const dPredict = [];
  const dOutside = [];
  const rawBig = [];
  const rawFresh = [];
  let evaluations = 0;
  let coalitions = 0;
  let callsPerRow = 0;
  // each row's predicted class (what the service explains when no class is asked for), for the direct calls
  const classOf = [];
  for (let i = 0; i < ROWS; i++) classOf.push((await svc.explain(version, inputOf(i), TREE)).explanations[0].class);
  // the four measurements of a row, in an order rotated row by row, so none always follows the same one
  const steps = [
    async (i) => {
      t0 = now();
      const r = await svc.explain(version, inputOf(i), kernel('identity'));
      kId.push(now() - t0);
      evaluations = r.evaluations;
      coalitions = r.coalitions;
    },
    async (i) => {
      t0 = now();
      await svc.explain(version, inputOf(i), kernel('logit'));
      kLogit.push(now() - t0);
    },
    async (i) => {
      // the same row through kernelShap directly, its model calls timed
      predictMs = 0;
      calls = 0;
      t0 = now();
      await kernelShap(timedModel(targetFor(classOf[i])), rowOf(i), background, { budget: BUDGET, link: 'identity', seed: 0 });
      const total = now() - t0;
      dTotal.push(total);
      dPredict.push(predictMs);
      dOutside.push(total - predictMs);
      callsPerRow = calls;
    },
    async () => {
      t0 = now();
      await big.run(bigFeeds, [probOut]);
      rawBig.push(now() - t0);
      // the same rows copied into a new buffer first (not timed), as every explanation brings new ones
      const fresh = { [big.inputNames[0]]: new ort.Tensor('float32', captured.rows.slice(), [captured.n, M]) };
      t0 = now();
      await big.run(fresh, [probOut]);
      rawFresh.push(now() - t0);
    },
  ];
  for (let i = 0; i < ROWS; i++) {
    for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length](i);
  }
  const TREE_ROWS = Math.max(ROWS, G);
  const tPath = [];
  const tInt = [];
  for (let i = 0; i < TREE_ROWS; i++) {
    t0 = now();
    await svc.explain(version, inputOf(i), TREE);
    tPath.push(now() - t0);
    t0 = now();
    await svc.explain(version, inputOf(i), TREE_INT);
    tInt.push(now() - t0);
  }
  const wallMs = now() - wall0;
  const cpu1 = process.cpuUsage(cpu0);
  const stat1 = procStat();
  const own = (cpu1.user + cpu1.system) / 1000 / wallMs;
  const cores = (k) => (stat0 && stat1 ? ((stat1[k] - stat0[k]) / (stat1.total - stat0.total)) * os.availableParallelism() : NaN);
  const busy = cores('busy');

  await big.release();
  await direct.dispose();
  await svc.close();
  await registry.close();

  const out = {
    threads: T,
    sessions: S,
    features: M,
    goldenRows: G,
    background: { rows: background.n, method: background.method },
    raw: { b1: rawB1 },
    kernel: { budget: BUDGET, coalitions, evaluations, identity: stats(kId), logit: stats(kLogit) },
    tree: { path: stats(tPath), interventional: stats(tInt) },
    breakdown: {
      rowsPerCall: captured.n,
      bytes: captured.rows.byteLength,
      calls: callsPerRow,
      direct: stats(dTotal),
      predict: stats(dPredict),
      outside: stats(dOutside),
      raw: stats(rawBig),
      rawFresh: stats(rawFresh),
      clone: cloneMs,
    },
    cpu: { seconds: wallMs / 1000, own, busy, other: Math.max(0, busy - own), steal: cores('steal') },
  };
  process.stderr.write(`  kernel identity p50 ${fmtMs(out.kernel.identity.p50)} ms (direct ${fmtMs(out.breakdown.direct.p50)}, model calls ${fmtMs(out.breakdown.predict.p50)}, raw ${fmtMs(out.breakdown.raw.p50)}), logit ${fmtMs(out.kernel.logit.p50)}; tree ${fmtMs(out.tree.path.p50)}, interventional ${fmtMs(out.tree.interventional.p50)} ms\n`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

export async function explain(argv) {
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
  await runAsScript(import.meta.url, 'explain', bench, async () => undefined);
}

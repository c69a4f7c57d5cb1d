#!/usr/bin/env node
// `npm run bench -- pipelines`: what Berth's continuous-training executor costs around the user's commands
// (spawn, process group, log capture into the database, output hashing into the artifact store, cache
// lookup, state rows), against the same commands run raw in the same process, in one run
// (bench/README.md, "Pipelines").
//
//   npm run bench -- pipelines [--steps 20] [--lines 200000] [--input-mb 200] [--repeat 7] [--no-build] [--json out.json]
//
// Everything is measured in one child process (`node bench/pipelines.js child '<options as JSON>'`) that opens
// an embedded registry in a temp data dir and drives `executeRun` from dist/ with a `RunStore` over it, as
// `berth --local pipeline run` does (maxParallel 2, heartbeat 1 s, no built-ins), timing createRun → executeRun.
// 1. Orchestration: a chain of --steps command steps (each needs the one before, reads its output by reference
//    and writes a small output file), cache off (`useCache: false`, as `--no-cache`), against the same argv
//    spawned one after another with child_process (stdout/stderr piped and read), awaited in sequence. Two
//    kinds of command: `node -e` (the target) and `/bin/sh -c` (a ~2 ms command, so the overhead is not hidden
//    in Node's start-up). --repeat rounds, raw and pipeline alternating which goes first; medians. Where the
//    time goes: the RunStore and artifact-store calls are wrapped and timed (wall time until they resolve).
// 2. Log capture: one step that prints --lines lines of 80 bytes (a Node script writing 64 KiB at a time),
//    cache off, against the same command with stdout on /dev/null (raw spawn), and, for reference, piped into
//    this process and only counted. Then the lines kept: stdout lines in the database (RunStore.logs, pages
//    of 10,000), and in the step's log file under the run dir, counted the moment executeRun resolves and
//    again 0.5 s later; each checked line by line against what the command printed.
// 3. Cache hit: a 2-step pipeline whose first step declares a generated --input-mb MiB file in `inputs:`;
//    run once with the cache on (fills it), then again each round (both steps cached), against hashing the
//    same file raw in the same round: `sha256sum`, Node's crypto over createReadStream (64 KiB chunks, what
//    Berth's fingerprint does) and over 1 MiB reads, and Berth's `fingerprint()` alone.
// 4. Peak RSS of the process during 2 and 3: process.memoryUsage.rss() sampled every 5 ms, and the kernel's
//    VmHWM (reset through /proc/self/clear_refs before each part). Also, for information, a step whose
//    *output* is --input-mb MiB, run and then hit in the cache (one pass).
// Targets: overhead ≤ 25 ms per step (in both chains); log capture ≥ 50 % of raw lines/s with no line lost;
// cache-hit decision ≥ 70 % of the fastest raw hash; peak RSS < 300 MB during 2 and 3.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, mkdtempSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanup, dist, envMeta, fmtInt, fmtX, median, range, root, run, runAsScript, runMeta, sleep, tempDir } from './lib.js';
import { ensureBuild } from './monitor.js';

const TARGET_STEP_MS = 25;
const TARGET_LOG_SHARE = 0.5;
const TARGET_HASH_SHARE = 0.7;
const TARGET_RSS_MB = 300;
const LINE_BYTES = 80;
const OTHER_WARN = 0.5; // cores busy outside this bench above which a run is flagged
const CLK_TCK = Number(run('getconf', ['CLK_TCK']).stdout.trim()) || 100;
const MiB = 1024 * 1024;
const log = (s) => process.stderr.write(`[bench pipelines] ${s}\n`);

const fmtMs = (n) => (Number.isFinite(n) ? (n < 0 ? '−' : '') + ((a) => (a < 10 ? a.toFixed(2) : a < 100 ? a.toFixed(1) : a.toFixed(0)))(Math.abs(n)) : 'n/a');
const fmtPct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)} %` : 'n/a');
const fmtRange = (xs, f = fmtMs) => {
  const [a, b] = range(xs);
  return Number.isFinite(a) ? `${f(a)}–${f(b)}` : 'n/a';
};
const pass = (ok) => (ok ? 'PASS' : 'MISS');

// ---------------------------------------------------------------------------------------------
// the bench (parent)

async function bench(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '20' },
      lines: { type: 'string', default: '200000' },
      'input-mb': { type: 'string', default: '200' },
      repeat: { type: 'string', default: '7' },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const opts = { steps: Number(values.steps), lines: Number(values.lines), inputMb: Number(values['input-mb']), repeat: Number(values.repeat) };
  for (const [k, v] of [['--steps', opts.steps], ['--lines', opts.lines], ['--input-mb', opts.inputMb], ['--repeat', opts.repeat]]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k}: expected a positive integer, got ${v}`);
  }
  const meta = { ...runMeta('pipelines', argv), ...envMeta() };
  ensureBuild(values['no-build']);
  const before = { loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) };
  log(`machine: load ${before.loadavg.join(' ')}; ${opts.steps}-step chains, ${fmtInt(opts.lines)} lines, a ${opts.inputMb} MiB input, ${opts.repeat} rounds`);

  const c = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', JSON.stringify(opts)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  const code = await new Promise((resolve) => c.once('close', resolve));
  if (code !== 0) throw new Error(`the measuring child failed (exit ${code}); its error is above`);
  const res = JSON.parse(out.trim().split('\n').pop());
  const after = { loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) };
  const report = render({ meta, opts, res, before, after });
  process.stdout.write(report.text + '\n');
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ meta, opts, machine: { before, after }, ...res, targets: report.targets }, null, 1));
    log(`wrote ${values.json}`);
  }
  return 0;
}

function render({ meta, opts, res, before, after }) {
  const { chain, logs, cache, bigOutput, probe, cpu } = res;
  const L = [
    '# Pipelines: what the executor costs around the commands',
    '',
    `${meta.date}, \`${meta.command}\`, git ${meta.git}, Node ${meta.node}, ${meta.cpus}. Load average before ${before.loadavg.join(' ')}, after ${after.loadavg.join(' ')}. CPU during the run (cores of ${os.availableParallelism()}): this bench and its commands ${cpu.own.toFixed(2)}, everything else ${cpu.other.toFixed(2)}${cpu.other > OTHER_WARN ? ' ⚠ shared machine: distrust this run' : ''}.${meta.berthDist ? ` **Berth measured from ${meta.berthDist} (BERTH_DIST), not from dist/.**` : ''}`,
    '',
    `\`executeRun\` from dist/ in process, a \`RunStore\` over an embedded registry (SQLite, WAL, synchronous=FULL; artifacts in the data dir), options as \`berth --local pipeline run\`; pipeline time = createRun → executeRun resolved. Raw = the same argv spawned with child_process in the same process. Medians of ${opts.repeat} rounds (min–max), raw and Berth alternating which goes first. One fsync of a small file in the data dir: ${fmtMs(probe.fsyncMs)} ms (median of 30).`,
    '',
    `## 1. Orchestration: a chain of ${opts.steps} steps, cache off`,
    '',
    '| command per step | raw ms | pipeline ms | **overhead ms/step** (rounds) | pipeline ÷ raw |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const k of chain.kinds) {
    L.push(`| ${k.label} | ${fmtMs(k.raw)} (${fmtRange(k.rawAll)}) | ${fmtMs(k.pipe)} (${fmtRange(k.pipeAll)}) | **${fmtMs(k.perStep)}** (${fmtRange(k.perStepAll)}) | ${fmtX(k.ratio)} |`);
  }
  const b = chain.breakdown;
  L.push(
    '',
    `Where Berth's time goes, per step (all pipeline rounds of both chains, ${fmtInt(b.steps)} steps; wall time inside each call until it resolved):`,
    '',
    '| call | calls/step | ms/step | ms/call |',
    '| --- | ---: | ---: | ---: |',
  );
  for (const r of b.rows) L.push(`| ${r.name} | ${r.perUnit.toFixed(2)} | ${fmtMs(r.msPerUnit)} | ${fmtMs(r.msPerCall)} |`);
  L.push(`| **all of the above** | | **${fmtMs(b.totalMsPerStep)}** | |`);
  L.push('', `Beside these calls the executor creates the attempt directory (rm + mkdir), builds the environment, spawns detached, looks for the metrics file and writes the step's log file; per run it starts the tracking listener.`);

  L.push(
    '',
    `## 2. Log capture: one step printing ${fmtInt(opts.lines)} lines of ${LINE_BYTES} bytes (${(opts.lines * LINE_BYTES / MiB).toFixed(1)} MiB), cache off`,
    '',
    '| path | seconds | lines/s | ÷ raw (/dev/null) |',
    '| --- | ---: | ---: | ---: |',
    `| raw: stdout to /dev/null | ${(logs.raw / 1000).toFixed(3)} (${fmtRange(logs.rawAll.map((x) => x / 1000), (x) => x.toFixed(3))}) | ${fmtInt(opts.lines / (logs.raw / 1000))} | 1.00× |`,
    `| raw: stdout piped into this process, lines counted | ${(logs.piped / 1000).toFixed(3)} (${fmtRange(logs.pipedAll.map((x) => x / 1000), (x) => x.toFixed(3))}) | ${fmtInt(opts.lines / (logs.piped / 1000))} | ${fmtPct(logs.raw / logs.piped)} |`,
    `| **pipeline** (createRun → executeRun) | ${(logs.pipe / 1000).toFixed(3)} (${fmtRange(logs.pipeAll.map((x) => x / 1000), (x) => x.toFixed(3))}) | **${fmtInt(opts.lines / (logs.pipe / 1000))}** | **${fmtPct(logs.share)}** |`,
    '',
    `Pipeline ÷ raw piped into this process: ${fmtPct(logs.sharePiped)} (median of the rounds' ratios). During the pipeline runs the event loop was busy ${fmtPct(logs.elu)} of the time (\`performance.eventLoopUtilization\`, median); per run: ${logs.calls.slice(0, 4).map((r) => `${r.name} ${fmtMs(r.msPerUnit)} ms in ${fmtInt(r.perUnit)} call${r.perUnit === 1 ? '' : 's'}`).join(', ')}.`,
    '',
    `Lines kept (last round; the command printed ${fmtInt(opts.lines)} stdout lines, numbered):`,
    '',
    `- database (\`RunStore.logs\`, step \`print\`): ${fmtInt(logs.kept.db.stdout)} stdout lines, ${logs.kept.db.inOrder ? 'each the right one in order' : '**not in order or altered**'}, plus ${fmtInt(logs.kept.db.berth)} \`[berth]\` line(s)${logs.kept.db.capNote ? ` (one says: "${logs.kept.db.capNote}")` : ''}. The cap \`maxStoredLines\` is ${fmtInt(logs.kept.cap)} lines of the command per step (default); Berth's own notes are kept beside them.`,
    `- the step's log file (\`<runsDir>/<run>/logs/print.log\`): ${fmtInt(logs.kept.fileAtReturn.stdout)} stdout lines the moment executeRun resolved${logs.kept.fileAtReturn.partial ? ` (its last line cut short)` : ''}, ${fmtInt(logs.kept.fileLater.stdout)} 0.5 s later, ${logs.kept.fileLater.inOrder ? 'all in order' : '**not in order or altered**'}. Over all rounds, lines missing at return: ${logs.missingAtReturn.map(fmtInt).join(', ')}.`,
  );

  L.push(
    '',
    `## 3. Cache hit: a step with a ${opts.inputMb} MiB input (\`inputs:\`), run again with the cache on`,
    '',
    '| path | seconds | MiB/s | ÷ fastest raw |',
    '| --- | ---: | ---: | ---: |',
  );
  for (const r of cache.rows) L.push(`| ${r.bold ? `**${r.label}**` : r.label} | ${(r.ms / 1000).toFixed(3)} (${fmtRange(r.all.map((x) => x / 1000), (x) => x.toFixed(3))}) | ${r.bold ? '**' : ''}${fmtInt(opts.inputMb / (r.ms / 1000))}${r.bold ? '**' : ''} | ${r.bold ? '**' : ''}${fmtPct(cache.fastestMs / r.ms)}${r.bold ? '**' : ''} |`);
  L.push(
    '',
    `Per cached run, beside the hashing: ${cache.calls.slice(0, 5).map((r) => `${r.name} ${fmtMs(r.msPerUnit)} ms in ${fmtInt(r.perUnit)} call${r.perUnit === 1 ? '' : 's'}`).join(', ')}. First run (cache empty: hash the input, run both commands, store their outputs): ${(cache.firstMs / 1000).toFixed(3)} s. Each cached run: both steps \`cached\` from run ${cache.firstId}: ${cache.allCached ? 'yes, every round' : '**no**'}. The same sha256 from every path: ${cache.sameDigest ? 'yes' : '**no**'}.`,
  );

  L.push(
    '',
    '## 4. Peak RSS of the measuring process',
    '',
    '| part | RSS before MB | peak sampled (5 ms) MB | VmHWM MB |',
    '| --- | ---: | ---: | ---: |',
    ...[['2. log capture (all rounds)', res.rss.logs], [`3. cache hit, ${opts.inputMb} MiB input (all rounds)`, res.rss.cache], [`(info) a step whose output is ${opts.inputMb} MiB: run, then a cache hit`, bigOutput.rss]].map(
      ([name, r]) => `| ${name} | ${fmtInt(r.beforeMb)} | ${fmtInt(r.peakMb)} | ${fmtInt(r.hwmMb)} |`,
    ),
    '',
    `(info) The ${opts.inputMb} MiB output: the run that wrote it ${(bigOutput.firstMs / 1000).toFixed(2)} s (its peak ${fmtInt(bigOutput.rssFirst.hwmMb)} MB), the cache hit ${(bigOutput.cachedMs / 1000).toFixed(2)} s (its peak ${fmtInt(bigOutput.rssCached.hwmMb)} MB, ${bigOutput.cached ? 'cached' : '**not cached**'}).`,
  );

  const node = chain.kinds.find((k) => k.kind === 'node');
  const sh = chain.kinds.find((k) => k.kind === 'sh');
  const rssPeak = Math.max(res.rss.logs.peakMb, res.rss.logs.hwmMb, res.rss.cache.peakMb, res.rss.cache.hwmMb);
  const lost = opts.lines - logs.kept.fileLater.stdout;
  // the cap counts the command's lines only (Berth's notes are kept beside them)
  const dbExpected = Math.min(opts.lines, logs.kept.cap);
  const targets = [
    { name: `orchestration overhead ≤ ${TARGET_STEP_MS} ms/step (both chains)`, pass: node.perStep <= TARGET_STEP_MS && sh.perStep <= TARGET_STEP_MS, value: Math.max(node.perStep, sh.perStep), detail: `\`node -e\` ${fmtMs(node.perStep)} ms/step (rounds ${fmtRange(node.perStepAll)}; pipeline ÷ raw ${fmtX(node.ratio)}), \`/bin/sh\` ${fmtMs(sh.perStep)} ms/step (rounds ${fmtRange(sh.perStepAll)}; ${fmtX(sh.ratio)})` },
    { name: `log capture ≥ ${TARGET_LOG_SHARE * 100} % of raw lines/s`, pass: logs.share >= TARGET_LOG_SHARE, value: logs.share, detail: `${fmtPct(logs.share)} (${fmtInt(opts.lines / (logs.pipe / 1000))} vs ${fmtInt(opts.lines / (logs.raw / 1000))} lines/s to /dev/null); ${fmtPct(logs.sharePiped)} of the same output piped into Node and only counted` },
    { name: 'no line lost', pass: lost === 0 && logs.kept.fileLater.inOrder && logs.kept.db.inOrder && logs.kept.db.stdout === dbExpected, value: lost, detail: `log file ${fmtInt(logs.kept.fileLater.stdout)} of ${fmtInt(opts.lines)} lines (0.5 s after the run; ${fmtInt(logs.kept.fileAtReturn.stdout)} when executeRun resolved); database ${fmtInt(logs.kept.db.stdout)} (the cap keeps ${fmtInt(dbExpected)})` },
    { name: `cache-hit decision ≥ ${TARGET_HASH_SHARE * 100} % of the fastest raw hash`, pass: cache.share >= TARGET_HASH_SHARE, value: cache.share, detail: `${fmtPct(cache.share)} (median of the rounds' ratios): ${fmtInt(opts.inputMb / (cache.hitMs / 1000))} vs ${fmtInt(opts.inputMb / (cache.fastestMs / 1000))} MiB/s (${cache.fastestLabel}); ${fmtPct(cache.shareNode64k)} of Node over createReadStream, ${fmtPct(cache.sha256sumMs / cache.hitMs)} of sha256sum` },
    { name: `peak RSS < ${TARGET_RSS_MB} MB during 2 and 3`, pass: rssPeak < TARGET_RSS_MB, value: rssPeak, detail: `${fmtInt(rssPeak)} MB (log capture ${fmtInt(Math.max(res.rss.logs.peakMb, res.rss.logs.hwmMb))}, cache hit ${fmtInt(Math.max(res.rss.cache.peakMb, res.rss.cache.hwmMb))}); a ${opts.inputMb} MiB *output* hit in the cache: ${fmtInt(bigOutput.rss.hwmMb)} MB (info)` },
  ];
  L.push('', '## Targets', '');
  for (const t of targets) L.push(`- **${pass(t.pass)}** ${t.name}: ${t.detail}`);
  L.push('', `Total ${(res.seconds / 60).toFixed(1)} min.`);
  return { text: L.join('\n'), targets };
}

// ---------------------------------------------------------------------------------------------
// the measuring child

/** utime+stime of this process and of the children it waited for, and the machine's busy ticks. */
function cpuTicks() {
  const st = readFileSync('/proc/self/stat', 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  const own = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  const m = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = m.slice(0, 8).reduce((a, b) => a + b, 0);
  return { own, busy: total - m[3] - m[4] - (m[7] ?? 0), total };
}

/** Peak RSS over a stretch: sampled every 5 ms, and the kernel's high-water mark (reset at the start). */
function rssWindow() {
  const mb = (b) => b / MiB;
  let hwmReset = true;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    hwmReset = false;
  }
  // process.memoryUsage.rss(): the same figure as process.memoryUsage().rss, without collecting the heap statistics
  const beforeMb = mb(process.memoryUsage.rss());
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
  }, 5);
  return {
    end() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
      return { beforeMb, peakMb: mb(peak), hwmMb: m && hwmReset ? Number(m[1]) / 1024 : NaN };
    },
  };
}

/** Spawn, read stdout/stderr (lines counted), resolve on close; reject on a non-zero exit. */
function spawnWait(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let newlines = 0;
    let err = '';
    c.stdout?.on('data', (d) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) newlines++;
    });
    c.stderr?.on('data', (d) => (err += d));
    c.once('error', reject);
    c.once('close', (code, sig) => (code === 0 ? resolve({ newlines }) : reject(new Error(`${path.basename(cmd)} exited ${code ?? sig}: ${err.trim().slice(-500)}`))));
  });
}

/**
 * Time each of `fns` once per round, their order rotated round by round. A function that returns a number
 * has timed itself (only the part that counts); otherwise its whole call is timed.
 */
async function rounds(n, fns) {
  const names = Object.keys(fns);
  const out = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < names.length; i++) {
      const k = names[(r + i) % names.length];
      const t0 = performance.now();
      const own = await fns[k](r);
      out[k].push(typeof own === 'number' ? own : performance.now() - t0);
    }
  }
  return out;
}

/** `fn()` and the ms it took. */
async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

const pad3 = (k) => String(k).padStart(3, '0');
const NODE_STEP = "const fs=require('fs');const [p,o,k]=process.argv.slice(1);fs.writeFileSync(o,(p==='-'?'':fs.readFileSync(p,'utf8'))+k+'\\n');console.log('step '+k)";
const SH_STEP = '{ [ "$1" = - ] || cat "$1"; echo "$3"; } > "$2"; echo "step $3"';
const stepArgv = (kind, prev, out, k) => (kind === 'node' ? [process.execPath, '-e', NODE_STEP, prev, out, String(k)] : ['/bin/sh', '-c', SH_STEP, 'sh', prev, out, String(k)]);
const lineText = (i) => {
  const head = `line ${String(i).padStart(7, '0')} `;
  return head + 'x'.repeat(LINE_BYTES - 1 - head.length);
};
// prints N numbered lines of LINE_BYTES bytes, 64 KiB per write (synchronous on a pipe or a file)
const PRODUCER = `const n=Number(process.argv[2]);let b='';for(let i=1;i<=n;i++){const h='line '+String(i).padStart(7,'0')+' ';b+=h+'x'.repeat(${LINE_BYTES - 1}-h.length)+'\\n';if(b.length>=65536){process.stdout.write(b);b='';}}process.stdout.write(b);`;

async function childMain(optsJson) {
  const opts = JSON.parse(optsJson);
  const t00 = performance.now();
  const cpu0 = cpuTicks();
  const P = await import(path.join(dist, 'pipelines', 'index.js'));
  const { openEmbeddedRegistry } = await import(path.join(dist, 'registry', 'index.js'));
  const work = tempDir('berth-bench-pipelines-');
  const dataDir = path.join(work, 'data');
  const registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'bench' });
  const store = new P.RunStore(registry);
  const runsDir = path.join(dataDir, 'pipelines', 'runs');
  const holder = P.localHolder();

  // the RunStore and artifact-store calls, timed during the counted pipeline runs of each part (`counting`)
  const calls = { chain: new Map(), logs: new Map(), cache: new Map() };
  let counting = null;
  const instrument = (obj, prefix, names) => {
    for (const n of names) {
      const orig = obj[n].bind(obj);
      obj[n] = async (...a) => {
        const into = counting && calls[counting];
        if (!into) return orig(...a);
        const t0 = performance.now();
        try {
          return await orig(...a);
        } finally {
          const e = into.get(`${prefix}${n}`) ?? { calls: 0, ms: 0 };
          e.calls++;
          e.ms += performance.now() - t0;
          into.set(`${prefix}${n}`, e);
        }
      };
    }
  };
  /** A counted pipeline run: its ms, the calls it made filed under `part`, and how busy the event loop was. */
  const elu = { logs: [], cache: [] };
  const countedRun = async (part, spec, o) => {
    counting = part;
    const e0 = performance.eventLoopUtilization();
    try {
      return await timed(() => runPipeline(spec, o));
    } finally {
      counting = null;
      elu[part]?.push(performance.eventLoopUtilization(e0).utilization);
    }
  };
  const callRows = (part, per) => [...calls[part]].sort((a, b) => b[1].ms - a[1].ms).map(([name, v]) => ({ name: `\`${name}\``, calls: v.calls, ms: v.ms, perUnit: v.calls / per, msPerUnit: v.ms / per, msPerCall: v.ms / v.calls }));
  instrument(store, 'RunStore.', ['createRun', 'nextLogSeq', 'updateStep', 'clearMetrics', 'addMetrics', 'addDatasets', 'appendLogs', 'cacheLookup', 'cachePut', 'metrics', 'heartbeat', 'finishRun', 'getRun', 'setResult']);
  instrument(registry.artifacts, 'artifacts.', ['put', 'has', 'read']);

  const runPipeline = async (spec, { cache, workdir }) => {
    const created = await store.createRun({ spec, sourceSha256: 'bench', pipelineVersion: null, params: P.resolveParams(spec, {}), trigger: { kind: 'cli' }, workdir, code: null, mode: 'local', actor: 'bench', holder });
    return P.executeRun(created, { store, artifacts: registry.artifacts, runsDir, holder, builtins: {}, useCache: cache, maxParallel: 2, heartbeatMs: 1_000 });
  };
  const mustSucceed = (r, what) => {
    if (r.state !== 'succeeded') throw new Error(`${what}: run ${r.id} ${r.state}: ${r.error?.message ?? ''} (steps: ${r.steps.map((s) => `${s.name} ${s.state}`).join(', ')})`);
    return r;
  };
  const outputOf = (r, step, name) => path.join(runsDir, String(r.id), r.steps.find((s) => s.name === step).outputs[name].file);

  // fsync on this disk, for scale
  const fsyncs = [];
  const pfd = openSync(path.join(work, 'fsync-probe'), 'w');
  for (let i = 0; i < 30; i++) {
    writeSync(pfd, 'x');
    const t0 = performance.now();
    fsyncSync(pfd);
    fsyncs.push(performance.now() - t0);
  }
  closeSync(pfd);

  // 1. orchestration ---------------------------------------------------------------------------------
  const N = opts.steps;
  const expectedChain = Array.from({ length: N }, (_, i) => `${i + 1}\n`).join('');
  const chainSpec = (kind) => {
    const steps = {};
    for (let k = 1; k <= N; k++) {
      const prev = k === 1 ? '-' : `\${steps.s${pad3(k - 1)}.outputs.out}`;
      steps[`s${pad3(k)}`] = { run: stepArgv(kind, prev, '${outputs.out}', k), outputs: { out: 'out.txt' }, ...(k > 1 ? { needs: [`s${pad3(k - 1)}`] } : {}) };
    }
    return P.parsePipelineText(JSON.stringify({ pipeline: `chain-${kind}`, steps }));
  };
  const kinds = [];
  let countedSteps = 0;
  for (const kind of ['node', 'sh']) {
    const spec = chainSpec(kind);
    log(`1. ${N}-step chain of ${kind === 'node' ? 'node -e' : '/bin/sh -c'} commands: raw vs pipeline, ${opts.repeat} rounds (+1 warm-up)`);
    const fns = {
      raw: async () => {
        const dir = mkdtempSync(path.join(work, 'raw-'));
        let prev = '-';
        for (let k = 1; k <= N; k++) {
          const out = path.join(dir, `out-${k}.txt`);
          const argv = stepArgv(kind, prev, out, k);
          const r = await spawnWait(argv[0], argv.slice(1), { cwd: work });
          if (r.newlines !== 1) throw new Error(`raw chain: step ${k} printed ${r.newlines} lines`);
          prev = out;
        }
        if (readFileSync(prev, 'utf8') !== expectedChain) throw new Error('raw chain: the last output is not what the chain writes');
      },
      pipe: async (counted) => {
        const { value, ms } = counted === true ? await countedRun('chain', spec, { cache: false, workdir: work }) : await timed(() => runPipeline(spec, { cache: false, workdir: work }));
        const r = mustSucceed(value, `chain ${kind}`);
        if (r.steps.some((s) => s.state !== 'succeeded')) throw new Error(`chain ${kind}: not every step ran (${r.steps.map((s) => s.state).join(',')})`);
        if (readFileSync(outputOf(r, `s${pad3(N)}`, 'out'), 'utf8') !== expectedChain) throw new Error('pipeline chain: the last output is not what the chain writes');
        return ms;
      },
    };
    await fns.raw(); // warm-up, not counted
    await fns.pipe();
    const t = await rounds(opts.repeat, {
      raw: fns.raw,
      pipe: async () => {
        countedSteps += N;
        return fns.pipe(true);
      },
    });
    const perStepAll = t.pipe.map((p, i) => (p - t.raw[i]) / N);
    kinds.push({
      kind, label: kind === 'node' ? '`node -e`: reads the previous output, writes its own, prints a line' : '`/bin/sh -c`: the same with cat and echo',
      rawAll: t.raw, pipeAll: t.pipe, raw: median(t.raw), pipe: median(t.pipe), perStepAll, perStep: median(perStepAll), ratio: median(t.pipe.map((p, i) => p / t.raw[i])),
    });
    log(`   raw ${fmtMs(median(t.raw))} ms, pipeline ${fmtMs(median(t.pipe))} ms: ${fmtMs(median(perStepAll))} ms/step more`);
  }
  const rows = callRows('chain', countedSteps);
  const chain = { kinds, breakdown: { steps: countedSteps, rows, totalMsPerStep: rows.reduce((a, r) => a + r.msPerUnit, 0) } };

  // 2. log capture -----------------------------------------------------------------------------------
  const producer = path.join(work, 'producer.js');
  writeFileSync(producer, PRODUCER);
  const LINES = opts.lines;
  const logSpec = P.parsePipelineText(JSON.stringify({ pipeline: 'logs', steps: { print: { run: [process.execPath, producer, String(LINES)] } } }));
  const devnull = openSync('/dev/null', 'w');
  const CAP = 20_000; // the executor's default maxStoredLines (executor.ts), which the bench leaves as it is
  let lastRun = null;
  const fileAtReturn = [];
  const missingAtReturn = [];
  log(`2. log capture: ${fmtInt(LINES)} lines, raw (/dev/null, piped) vs pipeline, ${opts.repeat} rounds (+1 warm-up)`);
  const logFns = {
    raw: () => spawnWait(process.execPath, [producer, String(LINES)], { stdio: ['ignore', devnull, 'pipe'] }),
    piped: async () => {
      const r = await spawnWait(process.execPath, [producer, String(LINES)]);
      if (r.newlines !== LINES) throw new Error(`raw piped: ${r.newlines} lines, expected ${LINES}`);
    },
    pipe: async (counted) => {
      const { value, ms } = counted === true ? await countedRun('logs', logSpec, { cache: false, workdir: work }) : await timed(() => runPipeline(logSpec, { cache: false, workdir: work }));
      const r = mustSucceed(value, 'log capture');
      // what the step's log file holds right now, before anything else runs on this event loop
      const now = countFileLines(path.join(runsDir, String(r.id), 'logs', 'print.log'), LINES);
      fileAtReturn.push(now);
      missingAtReturn.push(LINES - now.stdout);
      lastRun = r;
      return ms;
    },
  };
  await logFns.raw();
  await logFns.piped();
  await logFns.pipe();
  fileAtReturn.length = 0;
  missingAtReturn.length = 0;
  const rssLogs = rssWindow();
  const lt = await rounds(opts.repeat, { ...logFns, pipe: () => logFns.pipe(true) });
  const rssLogsEnd = rssLogs.end();
  await sleep(500);
  const fileLater = countFileLines(path.join(runsDir, String(lastRun.id), 'logs', 'print.log'), LINES);
  const db = { stdout: 0, berth: 0, stderr: 0, inOrder: true, capNote: null };
  for (let after = 0; ;) {
    const page = await store.logs(lastRun.id, { step: 'print', after, limit: 10_000 });
    if (page.length === 0) break;
    for (const l of page) {
      if (l.stream === 'stdout') {
        db.stdout++;
        if (l.line !== lineText(db.stdout)) db.inOrder = false;
      } else if (l.stream === 'berth') {
        db.berth++;
        if (/later lines/.test(l.line)) db.capNote = l.line;
      } else db.stderr++;
    }
    after = page.at(-1).seq;
  }
  const logs = {
    rawAll: lt.raw, pipedAll: lt.piped, pipeAll: lt.pipe, raw: median(lt.raw), piped: median(lt.piped), pipe: median(lt.pipe),
    share: median(lt.pipe.map((p, i) => lt.raw[i] / p)),
    sharePiped: median(lt.pipe.map((p, i) => lt.piped[i] / p)),
    elu: median(elu.logs),
    calls: callRows('logs', opts.repeat),
    kept: { cap: CAP, db, fileAtReturn: fileAtReturn.at(-1), fileLater },
    missingAtReturn,
  };
  log(`   raw ${fmtMs(logs.raw)} ms, piped ${fmtMs(logs.piped)} ms, pipeline ${fmtMs(logs.pipe)} ms; kept: db ${db.stdout}, file ${fileAtReturn.at(-1).stdout} at return, ${fileLater.stdout} later`);

  // 3. cache hit -------------------------------------------------------------------------------------
  const big = path.join(work, 'big.bin');
  log(`3. cache hit: writing a ${opts.inputMb} MiB input`);
  writeRandomFile(big, opts.inputMb);
  const cacheSpec = P.parsePipelineText(JSON.stringify({
    pipeline: 'cached',
    steps: {
      prep: { run: [process.execPath, '-e', "require('fs').writeFileSync(process.argv[1], 'prep\\n')", '${outputs.out}'], inputs: ['big.bin'], outputs: { out: 'prep.txt' } },
      train: { needs: ['prep'], run: stepArgv('node', '${steps.prep.outputs.out}', '${outputs.model}', 2), outputs: { model: 'model.txt' } },
    },
  }));
  let t0 = performance.now();
  const first = mustSucceed(await runPipeline(cacheSpec, { cache: true, workdir: work }), 'cache, first run');
  const firstMs = performance.now() - t0;
  if (first.steps.some((s) => s.state !== 'succeeded')) throw new Error(`cache, first run: ${first.steps.map((s) => `${s.name} ${s.state}`).join(', ')} (was the cache already filled?)`);
  const digests = new Set();
  let allCached = true;
  const hashStream = async (highWaterMark) => {
    const h = createHash('sha256');
    for await (const c of createReadStream(big, highWaterMark ? { highWaterMark } : {})) h.update(c);
    digests.add(h.digest('hex'));
  };
  const cacheFns = {
    hit: async () => {
      const { value, ms } = await countedRun('cache', cacheSpec, { cache: true, workdir: work });
      const r = mustSucceed(value, 'cache hit');
      if (!r.steps.every((s) => s.state === 'cached' && s.cachedFrom === first.id)) allCached = false;
      return ms;
    },
    sha256sum: async () => {
      const out = await new Promise((resolve, reject) => {
        const c = spawn('sha256sum', [big], { stdio: ['ignore', 'pipe', 'inherit'] });
        let s = '';
        c.stdout.on('data', (d) => (s += d));
        c.once('error', reject);
        c.once('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`sha256sum exited ${code}`))));
      });
      digests.add(out.split(/\s+/)[0]);
    },
    node64k: () => hashStream(0),
    node1m: async () => {
      const h = createHash('sha256');
      const fh = await openAsync(big, 'r');
      const buf = Buffer.allocUnsafe(MiB);
      try {
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, MiB, null);
          if (bytesRead === 0) break;
          h.update(bytesRead === MiB ? buf : buf.subarray(0, bytesRead));
        }
      } finally {
        await fh.close();
      }
      digests.add(h.digest('hex'));
    },
    fingerprint: async () => {
      digests.add((await P.fingerprint(big, 'bench')).sha256);
    },
  };
  log(`   first run ${fmtMs(firstMs)} ms; then ${opts.repeat} rounds of: the cached run, sha256sum, Node 64 KiB stream, Node 1 MiB reads, fingerprint()`);
  await cacheFns.node64k(); // warm the page cache and the hash code
  const rssCache = rssWindow();
  const ct = await rounds(opts.repeat, cacheFns);
  const rssCacheEnd = rssCache.end();
  const rawPaths = [['sha256sum', '`sha256sum` (coreutils, its own process)'], ['node64k', "Node: crypto sha256 over createReadStream (64 KiB chunks)"], ['node1m', 'Node: crypto sha256 over 1 MiB reads']];
  const fastest = rawPaths.map(([k, label]) => ({ k, label, ms: median(ct[k]) })).sort((a, b) => a.ms - b.ms)[0];
  const cache = {
    firstMs, firstId: first.id, allCached, sameDigest: digests.size === 1,
    hitMs: median(ct.hit), fastestMs: fastest.ms, fastestLabel: fastest.label.replace(/`/g, ''), sha256sumMs: median(ct.sha256sum),
    share: median(ct.hit.map((h, i) => Math.min(ct.sha256sum[i], ct.node64k[i], ct.node1m[i]) / h)),
    shareNode64k: median(ct.hit.map((h, i) => ct.node64k[i] / h)),
    elu: median(elu.cache),
    calls: callRows('cache', opts.repeat),
    rows: [
      ...rawPaths.map(([k, label]) => ({ label: `raw: ${label}`, ms: median(ct[k]), all: ct[k] })),
      { label: "Berth's `fingerprint()` alone (what the executor hashes inputs with)", ms: median(ct.fingerprint), all: ct.fingerprint },
      { label: 'pipeline run, both steps cached (createRun → executeRun)', ms: median(ct.hit), all: ct.hit, bold: true },
    ],
    all: ct,
  };
  log(`   cached run ${fmtMs(cache.hitMs)} ms, fastest raw ${fmtMs(cache.fastestMs)} ms (${fastest.k}), sha256sum ${fmtMs(cache.sha256sumMs)} ms`);

  // (info) a big output hit in the cache --------------------------------------------------------------
  log(`(info) a step whose output is ${opts.inputMb} MiB: run, then hit in the cache`);
  const outSpec = P.parsePipelineText(JSON.stringify({
    pipeline: 'bigout',
    steps: { copy: { run: ['/bin/cp', 'big.bin', '${outputs.data}'], outputs: { data: 'big-copy.bin' } } },
  }));
  const rssFirstW = rssWindow();
  t0 = performance.now();
  mustSucceed(await runPipeline(outSpec, { cache: true, workdir: work }), 'big output, first run');
  const bigFirstMs = performance.now() - t0;
  const rssFirst = rssFirstW.end();
  const rssHitW = rssWindow();
  t0 = performance.now();
  const hit = mustSucceed(await runPipeline(outSpec, { cache: true, workdir: work }), 'big output, cache hit');
  const bigCachedMs = performance.now() - t0;
  const rssCached = rssHitW.end();
  const bigOutput = {
    firstMs: bigFirstMs, cachedMs: bigCachedMs, cached: hit.steps[0].state === 'cached', rssFirst, rssCached,
    rss: { beforeMb: rssFirst.beforeMb, peakMb: Math.max(rssFirst.peakMb, rssCached.peakMb), hwmMb: Math.max(rssFirst.hwmMb, rssCached.hwmMb) },
  };
  log(`   first ${fmtMs(bigFirstMs)} ms (peak ${fmtInt(rssFirst.hwmMb)} MB), cache hit ${fmtMs(bigCachedMs)} ms (peak ${fmtInt(rssCached.hwmMb)} MB)`);

  await registry.close();
  const cpu1 = cpuTicks();
  const secs = (performance.now() - t00) / 1000;
  const ownCores = (cpu1.own - cpu0.own) / CLK_TCK / secs;
  const busyCores = ((cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total)) * os.availableParallelism();
  const out = {
    probe: { fsyncMs: median(fsyncs) },
    chain, logs, cache, bigOutput,
    rss: { logs: rssLogsEnd, cache: rssCacheEnd },
    cpu: { own: ownCores, busy: busyCores, other: Math.max(0, busyCores - ownCores) },
    seconds: secs,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

/** Stdout lines in a step's log file (lines without a [berth] or [err] prefix), checked against the numbered lines; read 1 MiB at a time. */
function countFileLines(file, expected) {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(MiB);
  let rest = '';
  let stdout = 0;
  let inOrder = true;
  const one = (line) => {
    if (line.startsWith('[berth] ') || line.startsWith('[err] ')) return;
    stdout++;
    if (line !== lineText(stdout)) inOrder = false;
  };
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, MiB, null);
      if (n === 0) break;
      rest += buf.toString('latin1', 0, n);
      const lines = rest.split('\n');
      rest = lines.pop();
      for (const l of lines) one(l);
    }
  } finally {
    closeSync(fd);
  }
  return { stdout, inOrder: inOrder && stdout === expected, partial: rest !== '', bytes: statSync(file).size };
}

/** `mb` MiB of random bytes, written 1 MiB at a time and fsynced (so no write-back runs during the timings). */
function writeRandomFile(file, mb) {
  const fd = openSync(file, 'w');
  const buf = Buffer.allocUnsafe(MiB);
  try {
    for (let i = 0; i < mb; i++) writeSync(fd, randomFillSync(buf));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function pipelines(argv) {
  return bench(argv);
}

if (process.argv[2] === 'child') {
  childMain(process.argv[3]).then(
    (code) => {
      cleanup();
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`${err?.stack ?? err}\n`);
      cleanup();
      process.exitCode = 1;
    },
  );
} else {
  await runAsScript(import.meta.url, 'pipelines', bench, async () => undefined);
}

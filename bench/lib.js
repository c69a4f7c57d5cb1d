// What the benches share (plain Node ESM, no build of its own): the paths and environment they read, the
// processes they start (a `serve-child` server in its own process group, its log, its CPU time), the
// HTTP helper, wrk as they all run it, raw onnxruntime-node, and the medians over rounds.
// bench/rollout.js and bench/security.js use most of it; bench/monitor.js and bench/run.js the process
// helpers and the wrk runner.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
export const dist = process.env.BERTH_DIST ? path.resolve(process.env.BERTH_DIST) : path.join(root, 'dist');
export const LOAD_CPU = process.env.LOAD_CPU ?? '1'; // core wrk is pinned to ('none' = no pinning)
export const WRK_TIMEOUT = process.env.WRK_TIMEOUT ?? '5s';
export const FIXTURES = [process.env.BERTH_FIXTURES, path.resolve(root, '..', 'shared', 'fixtures'), '/work/shared/fixtures'].find((p) => p && existsSync(p));
export const WORK_DIR = path.join(here, '.work'); // gitignored: request bodies, generated models
export const LOG_DIR = path.join(here, 'results', 'logs'); // gitignored: server logs

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const fmtMs = (n) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
export const fmtX = (n, d = 2) => (Number.isFinite(n) ? `${n.toFixed(d)}×` : 'n/a');
export const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
export const sum = (xs) => xs.reduce((a, b) => a + (b ?? 0), 0);
export const range = (xs) => {
  const v = xs.filter(Number.isFinite);
  return v.length ? [Math.min(...v), Math.max(...v)] : [NaN, NaN];
};

// ---------------------------------------------------------------------------------------------
// processes

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  return { ok: r.status === 0, status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}
export const have = (cmd) => run('sh', ['-c', `command -v ${cmd}`]).ok;

export function killGroup(child, signal = 'SIGTERM') {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // gone already
  }
}

const started = new Set(); // serve-child process groups, killed by cleanup()
const tempDirs = new Set(); // data dirs, removed by cleanup()

/** Kill every serve-child still running and remove the temp dirs (on exit, and once a bench is done with them). */
export function cleanup() {
  for (const c of started) killGroup(c, 'SIGKILL');
  started.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/** A fresh temp dir, removed by cleanup(). */
export function tempDir(prefix) {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

export function tail(file, n = 15) {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/**
 * Start `node <script> serve-child ...args` in its own process group, stdout and stderr to `logFile`;
 * resolves once it printed `BERTH_READY {json}`: `srv.info` is that JSON, `srv.url` its url. `onLine(line,
 * srv)` sees every stdout line; what it returns, when a string, goes to the log instead of the line (to
 * keep a secret out of it). `fields` start the returned `srv`; `label` names the server in errors.
 */
export async function startServeChild({ script, args, env = process.env, stdin = 'ignore', logFile, label = 'the server', fields = {}, onLine }) {
  mkdirSync(LOG_DIR, { recursive: true });
  const sink = createWriteStream(logFile);
  sink.on('error', () => undefined); // a line after the end is lost, not fatal
  const child = spawn(process.execPath, [script, 'serve-child', ...args], { cwd: root, env, detached: true, stdio: [stdin, 'pipe', 'pipe'] });
  started.add(child);
  const srv = { ...fields, child, logFile, sink, url: null, info: null };
  srv.exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  srv.closed = new Promise((r) => child.once('close', r)); // its output read to the end
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('BERTH_READY ')) {
        srv.info = JSON.parse(line.slice('BERTH_READY '.length));
        srv.url = srv.info.url;
      }
      const logged = onLine?.(line, srv);
      sink.write(`${typeof logged === 'string' ? logged : line}\n`);
    }
  });
  child.stdout.on('end', () => buf && sink.write(buf));
  child.stderr.on('data', (d) => sink.write(d));
  let dead = null;
  void srv.exited.then((x) => (dead = x));
  const t0 = Date.now();
  while (!srv.url) {
    if (dead) throw new Error(`${label} exited (code ${dead.code}, signal ${dead.sig}) before listening; see ${logFile}:\n${tail(logFile)}`);
    if (Date.now() - t0 > 60_000) throw new Error(`${label} did not listen within 60 s; see ${logFile}`);
    await sleep(100);
  }
  return srv;
}

/** SIGTERM (SIGKILL after 15 s); resolves once its last lines are read and in its log file. */
export async function stopServeChild(srv) {
  killGroup(srv.child, 'SIGTERM');
  const t = await Promise.race([srv.exited.then(() => 'exited'), sleep(15_000).then(() => 'timeout')]);
  if (t === 'timeout') killGroup(srv.child, 'SIGKILL');
  started.delete(srv.child);
  await Promise.race([srv.closed, sleep(5000)]);
  await new Promise((r) => srv.sink.end(r));
}

/** The server's log lines, without the BERTH_* lines the bench reads (what it logged at warn and above). */
export function serverLogLines(srv) {
  return readFileSync(srv.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('BERTH_'));
}

// CPU time of a whole process group (a server and its workers), from /proc, in ms
const CLK_TCK = Number(run('getconf', ['CLK_TCK']).stdout.trim()) || 100;
export function groupCpuMs(pgid) {
  let ticks = 0;
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return NaN;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // f[0] = state (field 3); pgrp = field 5 -> f[2]; utime = 14 -> f[11]; stime = 15 -> f[12]
    if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1000) / CLK_TCK;
}

/** A server's CPU over a wrk run `r` that took `cpuMs` of its process group: µs per request and cores busy ({} when the run failed). */
export function cpuPerRequest(cpuMs, r) {
  if (r.failed || !(r.requests > 0)) return {};
  return { cpu_us_per_req: (cpuMs * 1000) / r.requests, cpu_cores: cpuMs / (r.secs * 1000) };
}

// ---------------------------------------------------------------------------------------------
// HTTP

export async function http(method, url, body, { headers = {}, timeoutMs = 30_000 } = {}) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, ok: res.ok, headers: res.headers, text, json };
}

// ---------------------------------------------------------------------------------------------
// load

export const wrkPinned = () => LOAD_CPU !== 'none' && have('taskset') && os.availableParallelism() > Number(LOAD_CPU);

/** How wrk runs, for a report: its version, threads, pinning and timeout. */
export function wrkDescription() {
  const wrkVersion = (run('wrk', ['-v']).stdout + run('wrk', ['-v']).stderr).split('\n')[0].trim();
  return `${wrkVersion}; 1 thread, ${wrkPinned() ? `pinned to cpu ${LOAD_CPU} (taskset)` : 'not pinned'}, --timeout ${WRK_TIMEOUT}`;
}

/**
 * One wrk run: bench/wrk-post.lua POSTs `bodyFile` to `url`, 1 thread, `conns` connections, `secs` seconds,
 * pinned to LOAD_CPU (taskset) when the machine has a core to spare; `headers` go on every request (-H).
 * Resolves what the script prints (requests, non2xx, sockerr, timeouts, secs, p50, p99, …), ok_rps and
 * non2xxLine (wrk's own "Non-2xx or 3xx responses" count, a cross-check of the script's); with `wrkCpu`
 * also wrk_cpu, the cores wrk kept busy. `{ failed, output }` when wrk printed no result.
 */
export function runWrk(url, bodyFile, conns, secs, { headers = {}, wrkCpu = false } = {}) {
  return new Promise((resolve) => {
    const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    let args = ['-t1', `-c${conns}`, `-d${secs}s`, '--timeout', WRK_TIMEOUT, '--latency', ...h, '-s', path.join(here, 'wrk-post.lua'), url];
    let cmd = 'wrk';
    if (wrkPinned()) {
      args = ['-c', LOAD_CPU, cmd, ...args];
      cmd = 'taskset';
    }
    const child = spawn('timeout', [String(secs + 30), cmd, ...args], { env: { ...process.env, WRK_BODY: bodyFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    // wrk's own CPU: sample its /proc stat (taskset execs wrk in place, under timeout) until it exits
    let wrkTicks = 0;
    const sampler = wrkCpu
      ? setInterval(() => {
          try {
            for (const pid of readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
              const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
              const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
              wrkTicks = Math.max(wrkTicks, Number(f[11]) + Number(f[12]));
            }
          } catch {
            // between processes, or gone
          }
        }, 200)
      : null;
    child.on('exit', () => {
      if (sampler) clearInterval(sampler);
      const line = text.split('\n').find((l) => l.startsWith('WRKRESULT '));
      if (!line) return resolve({ failed: true, output: text.trim().split('\n').slice(-5).join('\n') });
      const r = {};
      for (const kv of line.slice('WRKRESULT '.length).trim().split(/\s+/)) {
        const [k, v] = kv.split('=');
        r[k] = Number(v);
      }
      const m = /Non-2xx or 3xx responses:\s*(\d+)/.exec(text);
      r.non2xxLine = m ? Number(m[1]) : 0;
      // responses that were not errors, per second (wrk counts status >= 400 as non2xx)
      r.ok_rps = (r.requests - r.non2xx) / r.secs;
      if (wrkTicks > 0) r.wrk_cpu = (wrkTicks * 1000) / CLK_TCK / (r.secs * 1000);
      resolve(r);
    });
  });
}

/** Raw onnxruntime-node on one fixture, alone (bench/raw-ort.js, batch 1 and 64): `{ raw }`, or `{ rawError }` when it failed. */
export function rawOrt(fixture, log) {
  log(`raw onnxruntime-node: ${fixture}`);
  const rawRun = run(process.execPath, [path.join(here, 'raw-ort.js'), path.join(FIXTURES, fixture), '--batches', '1,64', '--latency-runs', '2000', '--seconds', '1.5'], { cwd: root });
  if (!rawRun.ok) {
    const rawError = `raw-ort.js failed (exit ${rawRun.status}): ${rawRun.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    log(rawError);
    return { rawError };
  }
  const raw = JSON.parse(rawRun.stdout.trim().split('\n').pop());
  log(`  batch-1 p50 ${raw.latency.p50_ms.toFixed(4)} ms; rows/s ${raw.throughput.map((t) => `b${t.batch} ${fmtInt(t.rows_per_s)}`).join(', ')}`);
  return { raw };
}

// ---------------------------------------------------------------------------------------------
// options, meta, report

/** --levels, --repeat, --duration, --warmup as numbers, checked. */
export function loadOptions(values) {
  const levels = values.levels.split(',').map(Number);
  const repeat = Number(values.repeat);
  const duration = Number(values.duration);
  const warmup = Number(values.warmup);
  if (levels.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`--levels: expected positive integers, got ${values.levels}`);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat: expected a positive integer, got ${values.repeat}`);
  if (!(duration >= 1)) throw new Error(`--duration: expected seconds >= 1, got ${values.duration}`);
  if (!(warmup >= 0)) throw new Error(`--warmup: expected seconds >= 0, got ${values.warmup}`);
  if (!FIXTURES) throw new Error('fixtures not found: set BERTH_FIXTURES or put them at ../shared/fixtures');
  return { levels, repeat, duration, warmup };
}

/** The head of a report's meta: when, which command, which commit, Node and CPUs. */
export function runMeta(bench, argv) {
  return {
    t0: Date.now(),
    date: new Date().toISOString(),
    command: `npm run bench -- ${bench} ${argv.join(' ')}`.trim(),
    git: run('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).stdout.trim() + (run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).stdout.trim() ? ' (+ local changes)' : ''),
    node: process.version,
    cpus: `${os.availableParallelism()} × ${os.cpus()[0]?.model ?? '?'}`,
  };
}

/** The tail of a report's meta: another build of Berth (BERTH_DIST), and the BERTH_* environment. */
export function envMeta() {
  return {
    ...(process.env.BERTH_DIST ? { berthDist: process.env.BERTH_DIST } : {}),
    berthEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BERTH_'))),
  };
}

/** One table row's figures over the runs of one cell that did not fail: medians, min–max, sums. */
export function runStats(ok) {
  return {
    runs: ok.length,
    ok_rps: median(ok.map((r) => r.ok_rps)),
    ok_rps_range: range(ok.map((r) => r.ok_rps)),
    p50: median(ok.map((r) => r.p50)),
    p99: median(ok.map((r) => r.p99)),
    p99_range: range(ok.map((r) => r.p99)),
    non2xx: sum(ok.map((r) => r.non2xx)),
    cpu_us_per_req: median(ok.map((r) => r.cpu_us_per_req)),
    cpu_cores: median(ok.map((r) => r.cpu_cores)),
  };
}

/**
 * `other` ÷ `base` round by round, over `runs` of one cell (one level, one route) where `r[key]` names
 * the server: req/s ratio, server CPU and p99 differences, which ran first; and their medians.
 */
export function roundRatios(runs, key, base, other, repeat) {
  const per = [];
  for (let k = 1; k <= repeat; k++) {
    const b = runs.find((r) => r.round === k && r[key] === base && !r.failed);
    const t = runs.find((r) => r.round === k && r[key] === other && !r.failed);
    per.push(
      b && t
        ? { round: k, ratio: t.ok_rps / b.ok_rps, cpuDiff: t.cpu_us_per_req - b.cpu_us_per_req, p99Diff: t.p99 - b.p99, first: b.order < t.order ? base : other }
        : { round: k, ratio: NaN, cpuDiff: NaN, p99Diff: NaN },
    );
  }
  return { per, ratio: median(per.map((p) => p.ratio)), cpuDiff: median(per.map((p) => p.cpuDiff)), p99Diff: median(per.map((p) => p.p99Diff)) };
}

/** `node bench/X.js …` run directly: `serve-child …` is the server process, anything else the bench. */
export async function runAsScript(metaUrl, name, bench, serveChild) {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== fileURLToPath(metaUrl)) return;
  const [sub, ...rest] = process.argv.slice(2);
  try {
    if (sub === 'serve-child') await serveChild(rest);
    else process.exitCode = await bench(sub === undefined ? [] : [sub, ...rest]);
  } catch (err) {
    process.stderr.write(`bench ${name}: ${err?.stack ?? err}\n`);
    cleanup();
    process.exitCode = 1;
  }
}

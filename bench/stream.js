#!/usr/bin/env node
// `npm run bench -- stream`: `berth stream run` on the credit model over NATS JetStream, against raw
// onnxruntime-node on the same model at the same batch size, all in one run (bench/README.md, "Stream").
//
//   npm run bench -- stream [--nats nats://127.0.0.1:4222] [--backlog 100000] [--small 25000] [--batch-rows 256]
//                           [--latency-seconds 10] [--latency-rate N] [--no-build] [--json out.json]
//
// 1. Raw onnxruntime-node (child process): credit with Berth's session options on tensors built beforehand
//    from the fixture's reference rows, at --batch-rows: rows/s.
// 2. Sustained rate: --backlog messages (one credit row each, the reference rows over and over with distinct
//    ids) are stored in a fresh stream first; then `berth stream run … --exit-when-empty` (the real binary,
//    under /usr/bin/time -v for its peak RSS) drains them. The rate is taken from the output stream's message
//    count between 10 % and 90 % of the backlog, so process start and the exit check do not count. A --small
//    backlog (default a quarter) is drained first, so the two peak RSS figures show whether memory follows the backlog.
// 3. Latency: a fresh pair of streams and a running `berth stream run`; this process publishes at half the
//    sustained rate for --latency-seconds, each message stamped with its send time in a header, and a
//    subscriber on the output subject (in this process, same clock) measures send → result. The first second
//    is warm-up and not counted.
// Needs a nats-server with JetStream (nats-server -js) at --nats.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FIXTURES, fmtInt, fmtMs, killGroup, root, run, runAsScript, sleep, tempDir } from './lib.js';
import { ensureBuild } from './monitor.js';

const log = (s) => process.stderr.write(`${s}\n`);
const berthBin = path.join(root, 'bin', 'berth.js');

/** The credit reference rows as friendly JSON rows (the label column dropped). */
function creditRows() {
  const lines = readFileSync(path.join(FIXTURES, 'credit', 'reference.csv'), 'utf8').trim().split('\n');
  const header = lines[0].split(',');
  const text = new Set(['home_ownership', 'loan_purpose', 'region']);
  return lines.slice(1).map((l) => {
    const cells = l.split(',');
    const row = {};
    header.forEach((h, i) => {
      if (h !== 'label') row[h] = text.has(h) ? cells[i] : Number(cells[i]);
    });
    return row;
  });
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A child process of this script (`node bench/stream.js child raw …`): its last stdout line as JSON. */
function child(args) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'child', ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench child ${args[0]} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/**
 * `berth stream run` as a child process in its own process group; `ready` resolves once it consumes.
 * `timed` runs it under /usr/bin/time -v for the peak RSS (then stop() is not forwarded: use it with
 * --exit-when-empty).
 */
function startStream(dataDir, natsUrl, names, batchRows, { timed = false, extra = [] } = {}) {
  const args = [berthBin, '--local', '--data-dir', dataDir, 'stream', 'run', '--model', 'credit', '--from', `${natsUrl}/${names.input}`, '--to', names.output, '--batch-rows', String(batchRows), '--json', ...extra];
  const opts = { cwd: root, env: { ...process.env, CI: '1' }, detached: true };
  const proc = timed && existsSync('/usr/bin/time') ? spawn('/usr/bin/time', ['-v', process.execPath, ...args], opts) : spawn(process.execPath, args, opts);
  let out = '';
  let err = '';
  let markReady;
  const ready = new Promise((r) => (markReady = r));
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => {
    err += d;
    if (err.includes(' consuming ')) markReady();
  });
  const exited = new Promise((resolve) => proc.on('close', (code, signal) => {
    markReady();
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
    resolve({ code, signal, out, err, peakRssMb: rss ? Number(rss[1]) / 1024 : null });
  }));
  return { proc, ready, exited, stop: () => proc.kill('SIGTERM'), kill: () => killGroup(proc, 'SIGKILL') };
}

async function bench(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      nats: { type: 'string', default: process.env.BERTH_TEST_NATS_URL || 'nats://127.0.0.1:4222' },
      backlog: { type: 'string', default: '100000' },
      small: { type: 'string' },
      'batch-rows': { type: 'string', default: '256' },
      'latency-seconds': { type: 'string', default: '10' },
      'latency-rate': { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const natsUrl = values.nats.replace(/\/+$/, '');
  const backlog = Number(values.backlog);
  const batchRows = Number(values['batch-rows']);
  const small = values.small !== undefined ? Number(values.small) : Math.round(backlog / 4);
  const latencySeconds = Number(values['latency-seconds']);
  if (!Number.isInteger(backlog) || backlog < 1000) throw new Error(`--backlog: expected an integer ≥ 1000, got ${values.backlog}`);
  if (!Number.isInteger(small) || small < 1000 || small >= backlog) throw new Error(`--small: expected an integer in [1000, --backlog), got ${values.small}`);
  if (!Number.isInteger(batchRows) || batchRows < 1) throw new Error(`--batch-rows: expected a positive integer, got ${values['batch-rows']}`);
  if (!(latencySeconds >= 2)) throw new Error(`--latency-seconds: expected ≥ 2, got ${values['latency-seconds']}`);
  if (!FIXTURES) throw new Error('fixtures not found: set BERTH_FIXTURES or put them at ../shared/fixtures');
  ensureBuild(values['no-build']);

  const { connect, headers } = await import('nats');
  let nc;
  try {
    nc = await connect({ servers: natsUrl.replace(/^nats:\/\//, '') });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${natsUrl} (${err?.code ?? err?.message}); start one with JetStream (nats-server -js) or pass --nats URL`);
  }
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const made = [];
  const makeStreams = async (tag) => {
    const names = { input: `bench.${tag}.in`, output: `bench.${tag}.out`, streams: [`BENCH_${tag}_IN`, `BENCH_${tag}_OUT`] };
    await jsm.streams.add({ name: names.streams[0], subjects: [names.input] });
    await jsm.streams.add({ name: names.streams[1], subjects: [names.output, `${names.output}.rejected`] });
    made.push(...names.streams);
    return names;
  };
  const children = [];
  try {
    const rows = creditRows();
    const dataDir = tempDir('berth-bench-stream-');
    const reg = run(process.execPath, [berthBin, '--local', '--data-dir', dataDir, 'models', 'register', path.join(FIXTURES, 'credit', 'model.onnx'), '--name', 'credit', '--card', path.join(FIXTURES, 'credit', 'card.json')], { cwd: root });
    if (!reg.ok) throw new Error(`register failed: ${reg.stderr}`);

    log(`raw onnxruntime-node on credit at batch ${batchRows}, tensors prebuilt`);
    const raw = child(['raw', String(batchRows)]);
    log(`  ${fmtInt(raw.rows_per_s)} rows/s`);

    // 2. sustained: drain a stored backlog (a small one first, for the memory comparison)
    const tag = `${process.pid}_${Date.now().toString(36)}`;
    const drainBacklog = async (label, count) => {
      const a = await makeStreams(`${tag}_${label}`);
      log(`storing a backlog of ${fmtInt(count)} messages`);
      const t0 = performance.now();
      for (let at = 0; at < count; at += 1000) {
        await Promise.all(Array.from({ length: Math.min(1000, count - at) }, (_, k) => {
          const i = at + k;
          return js.publish(a.input, JSON.stringify({ id: `m${i + 1}`, ...rows[i % rows.length] }));
        }));
      }
      log(`  stored in ${((performance.now() - t0) / 1000).toFixed(1)} s; berth stream run --exit-when-empty drains it`);
      const drain = startStream(dataDir, natsUrl, a, batchRows, { timed: true, extra: ['--exit-when-empty'] });
      children.push(drain);
      const samples = [];
      let done = false;
      void drain.exited.then(() => (done = true));
      while (!done) {
        const stored = (await jsm.streams.info(a.streams[1])).state.messages;
        samples.push({ t: performance.now(), count: stored });
        if (stored >= count) break;
        await sleep(50);
      }
      const drained = await drain.exited;
      if (drained.code !== 0) throw new Error(`berth stream run exited ${drained.code}: ${drained.err.trim().split('\n').slice(-5).join(' | ')}`);
      const summary = JSON.parse(drained.out);
      if (summary.published !== count) throw new Error(`berth stream run published ${summary.published} results for ${count} messages`);
      const at = (q) => samples.find((x) => x.count >= q * count);
      const s10 = at(0.1);
      const s90 = at(0.9);
      const rate = s10 && s90 && s90.t > s10.t ? (s90.count - s10.count) / ((s90.t - s10.t) / 1000) : summary.messagesPerSecond;
      log(`  ${fmtInt(rate)} msgs/s (10 % → 90 %); whole run ${fmtInt(summary.messagesPerSecond)} msgs/s over ${summary.seconds.toFixed(1)} s; peak RSS ${drained.peakRssMb?.toFixed(0) ?? 'n/a'} MB`);
      for (const x of a.streams) await jsm.streams.delete(x).catch(() => undefined);
      return { count, rate, summary, peakRssMb: drained.peakRssMb };
    };
    const smallDrain = await drainBacklog('s', small);
    const bigDrain = await drainBacklog('a', backlog);
    const sustained = bigDrain.rate;
    const summary = bigDrain.summary;
    const drained = bigDrain;

    // 3. latency at half the sustained rate
    const rate = values['latency-rate'] !== undefined ? Number(values['latency-rate']) : Math.max(100, Math.round(sustained / 2));
    const b = await makeStreams(`${tag}_b`);
    const live = startStream(dataDir, natsUrl, b, batchRows);
    children.push(live);
    await live.ready;
    const latencies = [];
    let received = 0;
    const warmupMs = 1000;
    const sub = nc.subscribe(b.output, {
      callback: (_err, m) => {
        received++;
        const stamp = Number(m.headers?.get('Bench-Sent'));
        const now = performance.timeOrigin + performance.now();
        if (m.headers?.get('Bench-Counted') === '1') latencies.push(now - stamp);
      },
    });
    log(`paced publisher: ${fmtInt(rate)} msgs/s for ${latencySeconds} s${values['latency-rate'] === undefined ? ' (half the sustained rate)' : ''}`);
    let sent = 0;
    const start = performance.now();
    await new Promise((resolve) => {
      const tick = setInterval(() => {
        const elapsed = performance.now() - start;
        const due = Math.min(Math.floor((rate * elapsed) / 1000), Math.round(rate * latencySeconds));
        while (sent < due) {
          const h = headers();
          h.set('Bench-Sent', (performance.timeOrigin + performance.now()).toFixed(3));
          h.set('Bench-Counted', elapsed >= warmupMs ? '1' : '0');
          nc.publish(b.input, JSON.stringify({ id: `l${sent + 1}`, ...rows[sent % rows.length] }), { headers: h });
          sent++;
        }
        if (sent >= Math.round(rate * latencySeconds)) {
          clearInterval(tick);
          resolve();
        }
      }, 1);
    });
    const waitStart = performance.now();
    while (received < sent && performance.now() - waitStart < 10_000) await sleep(20);
    sub.unsubscribe();
    live.stop();
    const liveExit = await live.exited;
    if (liveExit.code !== 0) throw new Error(`berth stream run (latency) exited ${liveExit.code}: ${liveExit.err.trim().split('\n').slice(-5).join(' | ')}`);
    latencies.sort((x, y) => x - y);
    const lat = { count: latencies.length, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? NaN };
    log(`  ${fmtInt(received)} of ${fmtInt(sent)} results; p50 ${fmtMs(lat.p50)} ms, p99 ${fmtMs(lat.p99)} ms`);

    const ratio = sustained / raw.rows_per_s;
    const L = [
      '# Stream: credit over NATS JetStream',
      '',
      `Messages of one credit row each (the fixture's reference rows over and over), \`--batch-rows ${batchRows}\` (so \`--max-inflight ${4 * batchRows}\`, \`--max-delay-ms 5\`), NATS at ${natsUrl} on the same machine.`,
      '',
      '| measure | figure |',
      '| --- | ---: |',
      `| raw onnxruntime-node, credit, batch ${batchRows}, tensors prebuilt | ${fmtInt(raw.rows_per_s)} rows/s |`,
      `| sustained: draining a stored backlog of ${fmtInt(backlog)} messages (10 % → 90 %) | ${fmtInt(sustained)} msgs/s |`,
      `| sustained ÷ raw | ${(ratio * 100).toFixed(1)} % |`,
      `| the whole run (start, drain, exit check) | ${summary.seconds.toFixed(1)} s, ${fmtInt(summary.messagesPerSecond)} msgs/s |`,
      `| peak RSS draining ${fmtInt(small)} → ${fmtInt(backlog)} messages | ${smallDrain.peakRssMb?.toFixed(0) ?? 'n/a'} → ${drained.peakRssMb?.toFixed(0) ?? 'n/a'} MB |`,
      `| end to end at ${fmtInt(rate)} msgs/s${values['latency-rate'] === undefined ? ' (half)' : ''}, ${fmtInt(lat.count)} messages after 1 s warm-up: p50 / p99 / max | ${fmtMs(lat.p50)} / ${fmtMs(lat.p99)} / ${fmtMs(lat.max)} ms |`,
      '',
    ];
    process.stdout.write(L.join('\n'));
    if (values.json) writeFileSync(values.json, JSON.stringify({ backlog, batchRows, raw, sustained, ratio, drain: { summary, peakRssMb: drained.peakRssMb }, small: { count: small, rate: smallDrain.rate, peakRssMb: smallDrain.peakRssMb }, latency: { rate, sent, received, ...lat } }, null, 2));
    rmSync(dataDir, { recursive: true, force: true });
    return 0;
  } finally {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.kill();
    for (const s of made) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  }
}

/** The measurement that runs in its own process: raw onnxruntime-node at one batch size. */
async function childMain(argv) {
  const [what, batchText] = argv;
  if (what !== 'raw') throw new Error(`unknown child ${what}`);
  const b = Number(batchText);
  const { FeatureMapping } = await import(path.join(root, 'dist', 'jobs', 'index.js'));
  const { openEmbeddedRegistry, parseCard } = await import(path.join(root, 'dist', 'registry', 'index.js'));
  const { OnnxBackend } = await import(path.join(root, 'dist', 'runtime', 'index.js'));
  const backend = new OnnxBackend();
  // the card's feature names, merged in as the registry does
  const dir = tempDir('berth-bench-stream-sig-');
  const registry = await openEmbeddedRegistry(dir, { defaultActor: 'bench' });
  const { version } = await registry.registerVersion({ name: 'credit', filePath: path.join(FIXTURES, 'credit', 'model.onnx'), card: parseCard(readFileSync(path.join(FIXTURES, 'credit', 'card.json'), 'utf8'), 'card.json'), inspect: (x) => backend.inspect(x) });
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
  const rows = creditRows();
  const mapping = FeatureMapping.create(version.signature, Object.keys(rows[0]));
  const names = Object.keys(rows[0]);
  const chunk = { start: 0, rows: rows.length, columns: names.map((n) => rows.map((r) => r[n])) };
  const feeds = [];
  for (let at = 0; at + b <= chunk.rows; at += b) feeds.push(mapping.map(chunk, at, at + b).tensors);
  const model = await backend.load(new Uint8Array(readFileSync(path.join(FIXTURES, 'credit', 'model.onnx'))), { intraOpThreads: 1, interOpThreads: 1 });
  for (let i = 0; i < Math.min(3, feeds.length); i++) await model.run(feeds[i]);
  const t0 = performance.now();
  let n = 0;
  let k = 0;
  while (performance.now() - t0 < 2000) {
    await model.run(feeds[k++ % feeds.length]);
    n += b;
  }
  const rowsPerS = n / ((performance.now() - t0) / 1000);
  await model.dispose();
  process.stdout.write(`${JSON.stringify({ batch: b, rows_per_s: rowsPerS })}\n`);
  return 0;
}

export async function stream(argv) {
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
  await runAsScript(import.meta.url, 'stream', bench, async () => undefined);
}

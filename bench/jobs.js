#!/usr/bin/env node
// `npm run bench -- jobs`: what a server batch job costs online inference (issue 8 point 4: online
// p99 under load stays within 1.5× of idle while a job runs). See bench/README.md, "Server jobs".
//
//   npm run bench -- jobs [--rows 1000000] [--conns 8] [--duration 10] [--repeat 3] [--no-build] [--json out.json]
//
// One `berth serve` process (dist/, --dev) serves breast-cancer-gbt (deployment `bc`) and holds
// credit for jobs. wrk (pinned to a core like the other benches) sends 1-row requests to
// /v2/models/bc/infer at --conns connections for --duration seconds, alternating rounds: idle (no
// job), then with a server job scoring --rows credit rows CSV → Parquet (submitted just before wrk
// starts; the job is cancelled after the round if it has not finished). Raw onnxruntime-node on
// breast-cancer-gbt is measured in the same run for reference. The target compares p99 with a job
// running to p99 idle, median over the rounds; throughput is reported beside it.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FIXTURES, fmtInt, fmtMs, fmtX, http, LOG_DIR, median, rawOrt, root, sleep, tempDir, wrkDescription, runWrk } from './lib.js';
import { ensureBuild, ensureWrk, writeBody } from './monitor.js';
import { spawn } from 'node:child_process';
import { readFileSync, createWriteStream } from 'node:fs';
import net from 'node:net';

const log = (msg) => process.stderr.write(`[bench jobs] ${msg}\n`);
const TARGET = 1.5;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** credit rows as CSV: the golden rows over and over (every input of the signature). */
function creditCsv(file, rows) {
  const dir = path.join(FIXTURES, 'credit');
  const card = JSON.parse(readFileSync(path.join(dir, 'card.json'), 'utf8'));
  const golden = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8'));
  const c = golden.cases.find((x) => x.name === 'golden_32') ?? golden.cases[0];
  const header = ['id'];
  const n = c.inputs[card.inputs[0].name].shape[0];
  const perRow = Array.from({ length: n }, () => []);
  for (const input of card.inputs) {
    const names = input.feature_names;
    const flat = c.inputs[input.name].data.flat(Infinity);
    header.push(...names);
    for (let r = 0; r < n; r++) perRow[r].push(...flat.slice(r * names.length, (r + 1) * names.length));
  }
  const out = createWriteStream(file);
  out.write(header.join(',') + '\n');
  let chunk = '';
  for (let r = 0; r < rows; r++) {
    chunk += `r${r + 1},${perRow[r % n].join(',')}\n`;
    if (chunk.length > 1 << 20) {
      out.write(chunk);
      chunk = '';
    }
  }
  out.write(chunk);
  return new Promise((res) => out.end(res));
}

export async function jobs(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string', default: '1000000' },
      conns: { type: 'string', default: '8' },
      duration: { type: 'string', default: '10' },
      repeat: { type: 'string', default: '3' },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const rows = Number(values.rows);
  const conns = Number(values.conns);
  const duration = Number(values.duration);
  const repeat = Number(values.repeat);
  ensureBuild(values['no-build']);
  ensureWrk();
  const dataDir = tempDir('berth-bench-jobs-');
  const port = await freePort();
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = createWriteStream(path.join(LOG_DIR, 'jobs-berth.log'));
  const server = spawn(process.execPath, [path.join(root, 'bin', 'berth.js'), 'serve', '--dev', '--data-dir', dataDir, '--port', String(port), '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  server.stdout.pipe(logFile);
  server.stderr.pipe(logFile);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const r = await http('GET', `${base}/v2/health/ready`).catch(() => null);
    if (r?.status === 200) break;
    if (i > 300) throw new Error('the server did not become ready; see bench/results/logs/jobs-berth.log');
    await sleep(100);
  }
  try {
    for (const [name, fixture] of [['bc', 'breast-cancer-gbt'], ['credit', 'credit']]) {
      const body = {
        model_base64: readFileSync(path.join(FIXTURES, fixture, 'model.onnx')).toString('base64'),
        file_name: 'model.onnx',
        card_text: readFileSync(path.join(FIXTURES, fixture, 'card.json'), 'utf8'),
        card_file_name: 'card.json',
      };
      const r = await http('POST', `${base}/v1/models/${name}/versions`, body);
      if (r.status >= 300) throw new Error(`registering ${fixture}: ${r.status} ${r.text}`);
    }
    await http('PUT', `${base}/v1/deployments/bc`, { model: 'bc', version: 1 });
    const input = path.join(dataDir, 'batch', 'credit.csv');
    mkdirSync(path.dirname(input), { recursive: true });
    log(`writing ${fmtInt(rows)} credit rows`);
    await creditCsv(input, rows);
    const bodyFile = writeBody('breast-cancer-gbt');
    const { raw } = rawOrt('breast-cancer-gbt', log);
    log(`wrk: ${wrkDescription()}`);
    // warm up
    await runWrk(`${base}/v2/models/bc/infer`, bodyFile, conns, 3);
    const rounds = [];
    for (let k = 0; k < repeat; k++) {
      const idle = await runWrk(`${base}/v2/models/bc/infer`, bodyFile, conns, duration);
      const sub = await http('POST', `${base}/v1/jobs`, { model: 'credit', input: 'credit.csv', output: `scored-${k}.parquet` });
      if (sub.status !== 201) throw new Error(`submitting the job: ${sub.status} ${sub.text}`);
      const id = sub.json.id;
      for (let i = 0; i < 100; i++) {
        const j = (await http('GET', `${base}/v1/jobs/${id}`)).json;
        if (j.state === 'running' && (j.progress?.rowsDone ?? 0) > 0) break;
        await sleep(100);
      }
      const busy = await runWrk(`${base}/v2/models/bc/infer`, bodyFile, conns, duration);
      const job = (await http('GET', `${base}/v1/jobs/${id}`)).json;
      if (job.state !== 'succeeded') await http('POST', `${base}/v1/jobs/${id}/cancel`, {});
      for (let i = 0; i < 600; i++) {
        const j = (await http('GET', `${base}/v1/jobs/${id}`)).json;
        if (['succeeded', 'failed', 'cancelled'].includes(j.state)) break;
        await sleep(100);
      }
      const round = { idle, busy, jobRowsPerSecond: job.progress?.rowsPerSecond ?? job.summary?.rowsPerSecond ?? null, jobState: job.state };
      rounds.push(round);
      log(`round ${k + 1}: idle p99 ${fmtMs(idle.p99)} ms ${fmtInt(idle.ok_rps)} req/s; with a job p99 ${fmtMs(busy.p99)} ms ${fmtInt(busy.ok_rps)} req/s (job ${fmtInt(round.jobRowsPerSecond)} rows/s, ${job.state} when wrk ended)`);
    }
    const early = rounds.filter((r) => r.jobState !== 'running').length;
    if (early > 0) log(`the job ended before the load did in ${early} of ${rounds.length} rounds: those rounds ran partly without a job; raise --rows`);
    const ratio = median(rounds.map((r) => r.busy.p99 / r.idle.p99));
    const rpsRatio = median(rounds.map((r) => r.busy.ok_rps / r.idle.ok_rps));
    const errors = rounds.reduce((s, r) => s + r.idle.non2xx + r.busy.non2xx + (r.idle.sockerr ?? 0) + (r.busy.sockerr ?? 0), 0);
    const rawP50 = raw?.latency?.p50_ms;
    const rawB1 = raw?.throughput?.find((t) => t.batch === 1)?.rows_per_s;
    const lines = [
      `## Server jobs: online inference while a batch job runs (${conns} connections, ${duration} s × ${repeat} rounds)`,
      '',
      '| round | idle p50 ms | idle p99 ms | idle req/s | job p50 ms | job p99 ms | job req/s | job rows/s |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rounds.map((r, i) => `| ${i + 1} | ${fmtMs(r.idle.p50)} | ${fmtMs(r.idle.p99)} | ${fmtInt(r.idle.ok_rps)} | ${fmtMs(r.busy.p50)} | ${fmtMs(r.busy.p99)} | ${fmtInt(r.busy.ok_rps)} | ${fmtInt(r.jobRowsPerSecond)} |`),
      '',
      `raw onnxruntime-node, breast-cancer-gbt batch 1: p50 ${fmtMs(rawP50)} ms, ${fmtInt(rawB1)} rows/s (same run); online req/s ÷ raw batch-1 rows/s: idle ${fmtX(median(rounds.map((r) => r.idle.ok_rps)) / rawB1)}, with a job ${fmtX(median(rounds.map((r) => r.busy.ok_rps)) / rawB1)}`,
      `p99 with a job ÷ p99 idle (median of rounds): ${fmtX(ratio)}; req/s with a job ÷ idle: ${fmtX(rpsRatio)}; failed requests: ${errors}`,
      `the job was still running when the load ended in ${rounds.length - early} of ${rounds.length} rounds`,
      `${ratio <= TARGET && errors === 0 && early === 0 ? 'PASS' : 'MISS'} online p99 while a job runs ≤ ${TARGET}× idle`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    if (values.json) writeFileSync(values.json, JSON.stringify({ rows, conns, duration, rounds, ratio, rpsRatio, raw }, null, 2));
    return ratio <= TARGET && errors === 0 && early === 0 ? 0 : 1;
  } finally {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  jobs(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      process.stderr.write(`[bench jobs] ${err.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}

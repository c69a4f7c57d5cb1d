#!/usr/bin/env node
// `npm run bench -- rollout`: what routing and shadowing cost the primary path (see bench/README.md,
// "Rollouts"). Plain Node ESM driving the compiled server in dist/ (rebuilt first when src/ is newer).
//
//   npm run bench -- rollout [--levels 1,32] [--repeat 3] [--duration 10] [--warmup 3] [--breakdown]
//                            [--no-build] [--json out.json]
//
// One server process (`node bench/rollout.js serve-child`: createBerthServer + listen, as `berth serve`
// does, BERTH_* applied, the inference log at its default) holds one model `bc` with three versions:
//   v1 = breast-cancer-gbt, v2 = breast-cancer-logreg, v3 = breast-cancer-logreg re-saved with one
//   byte of its producer_name changed (same graph, another sha256: the registry dedupes identical bytes),
// registered over HTTP (POST /v1/models/bc/versions), and two deployments set with PUT /v1/deployments/{name}:
//   single = bc v1, no traffic policy;
//   routed = bc v1 with traffic {"split": [{"version": 2, "percent": 10}], "shadows": [{"version": 3, "percent": 100}]};
//   with --breakdown also split-only (the split alone) and shadow-only (the shadow alone), to attribute the cost.
// wrk (pinned to a core like the other benches) runs against /v2/models/single/infer and
// /v2/models/routed/infer with the same 1-row body, alternating, per level and round; raw
// onnxruntime-node (bench/raw-ort.js) runs in the same run. Then 1,000 sequential requests check the
// split (x-berth-version) and the shadow's copies, and the server's own counters say how many shadow
// copies ran and how many were dropped.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { cleanup, cpuPerRequest, dist, envMeta, FIXTURES, fmtInt, fmtMs, fmtX, groupCpuMs, http, LOG_DIR, loadOptions, median, range, rawOrt, roundRatios, root, runAsScript, runMeta, runStats, runWrk, serverLogLines, sleep, startServeChild, stopServeChild, sum, tempDir, WORK_DIR, wrkDescription } from './lib.js';
import { ensureBuild, ensureWrk, writeBody } from './monitor.js';

const MODEL = 'bc';
const PRIMARY_FIXTURE = 'breast-cancer-gbt';
const OTHER_FIXTURE = 'breast-cancer-logreg';
const TRAFFIC = { split: [{ version: 2, percent: 10 }], shadows: [{ version: 3, percent: 100 }] };
/** each deployment's traffic policy; --breakdown adds the last two, to say which half of the policy costs what */
const POLICIES = {
  single: null,
  routed: TRAFFIC,
  'split-only': { split: TRAFFIC.split },
  'shadow-only': { shadows: TRAFFIC.shadows },
};
const BASE_DEPLOYMENTS = ['single', 'routed'];
const BREAKDOWN_DEPLOYMENTS = ['single', 'routed', 'split-only', 'shadow-only'];
const hasShadow = (d) => (POLICIES[d]?.shadows?.length ?? 0) > 0;
const TARGET_RATIO = 0.9;
const CHECK_REQUESTS = 1000;
// the same length, so the protobuf stays valid: only the producer_name string changes
const PRODUCER_FROM = 'fixtures-make';
const PRODUCER_TO = 'fixtures-mak2';

const log = (msg) => process.stderr.write(`[bench rollout] ${msg}\n`);
const fmtNum = (n) => (Number.isFinite(n) ? n.toFixed(3) : 'n/a');
const fmtPct = (n, d = 1) => (Number.isFinite(n) ? `${(100 * n).toFixed(d)}%` : 'n/a');
const fmtSignedMs = (n) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${fmtMs(Math.abs(n))}` : 'n/a');

function usage() {
  return `usage: npm run bench -- rollout [options]

  --levels 1,32    wrk connections (default 1,32)
  --repeat N       rounds over the levels (default 3); ratios are medians over the rounds
  --duration S     seconds per wrk run (default 10)
  --warmup S       wrk warm-up per deployment at 8 connections (default 3, 0 = none)
  --breakdown      also measure split-only (90/10, no shadow) and shadow-only (100% shadow, no split)
  --no-build       use dist/ as it is (default: npm run build when src/ is newer than dist/)
  --json FILE      also write every measurement as JSON

Environment: BERTH_FIXTURES, LOAD_CPU (core wrk is pinned to, default 1, 'none'), WRK_TIMEOUT (5s),
BERTH_DIST (another build of Berth), BERTH_* (Berth config, reaches the server).`;
}

// ---------------------------------------------------------------------------------------------
// the server

/** Start the serve-child on a fresh data dir; resolves once it printed its URL. */
function startServer(dataDir) {
  const watch = Object.keys(POLICIES).filter((d) => POLICIES[d]).join(',');
  return startServeChild({
    script: fileURLToPath(import.meta.url),
    args: ['--data-dir', dataDir, '--watch', watch],
    stdin: 'pipe',
    logFile: path.join(LOG_DIR, 'rollout-berth.log'),
    fields: { waiting: [], final: null, config: null },
    onLine(line, srv) {
      if (line.startsWith('BERTH_READY ')) srv.config = srv.info.config;
      else if (line.startsWith('BERTH_STATS ')) srv.waiting.shift()?.(JSON.parse(line.slice('BERTH_STATS '.length)));
      else if (line.startsWith('BERTH_FINAL ')) srv.final = JSON.parse(line.slice('BERTH_FINAL '.length));
    },
  });
}

/** The server's counters (shadow copies, drops, the routed deployment's window, the log's stats). */
function serverStats(srv) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the server did not answer "stats" within 10 s')), 10_000);
    srv.waiting.push((s) => {
      clearTimeout(t);
      resolve(s);
    });
    srv.child.stdin.write('stats\n');
  });
}

/** Wait until the shadows have worked off their queues (their counters stop moving), at most `ms`. */
async function settle(srv, ms = 8000) {
  const t0 = Date.now();
  let prev = await serverStats(srv);
  for (;;) {
    await sleep(300);
    const s = await serverStats(srv);
    if (shadowTotals(s).copies === shadowTotals(prev).copies || Date.now() - t0 > ms) return s;
    prev = s;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

async function must(method, url, body) {
  const r = await http(method, url, body, { headers: { 'x-berth-actor': 'bench' } });
  if (!r.ok) throw new Error(`${method} ${new URL(url).pathname} → HTTP ${r.status}: ${r.text.slice(0, 400)}`);
  return r.json;
}

/** Prometheus text -> [{name, labels, value}] */
function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const lm of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** What /metrics says: requests by deployment, version and code; rows and runtime calls by version of bc. */
async function scrape(url) {
  const r = await http('GET', `${url}/metrics`);
  const out = { requests: {}, rows: {}, calls: {} };
  for (const s of parseProm(r.text)) {
    if (s.name === 'berth_requests_total') {
      const k = `${s.labels.deployment} v${s.labels.version} ${s.labels.code}`;
      out.requests[k] = (out.requests[k] ?? 0) + s.value;
    } else if (s.name === 'berth_batch_size_sum' && s.labels.model === MODEL) out.rows[s.labels.version] = (out.rows[s.labels.version] ?? 0) + s.value;
    else if (s.name === 'berth_batch_size_count' && s.labels.model === MODEL) out.calls[s.labels.version] = (out.calls[s.labels.version] ?? 0) + s.value;
  }
  return out;
}

function diff(a = {}, b = {}) {
  const out = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

/** served requests by version of one deployment, from a requests diff */
function byVersion(requests, deployment) {
  const out = {};
  for (const [k, v] of Object.entries(requests)) {
    const [d, ver, code] = k.split(' ');
    if (d !== deployment) continue;
    const key = code === 'OK' ? ver : `${ver} ${code}`;
    out[key] = (out[key] ?? 0) + v;
  }
  return out;
}

/** One deployment's shadow counters in a stats snapshot (all deployments' summed when `deployment` is omitted). */
function shadowTotals(s, deployment) {
  const names = deployment ? [deployment] : Object.keys(s?.windows ?? {});
  const sh = names.flatMap((d) => s?.windows?.[d]?.shadows ?? []);
  const codes = {};
  for (const d of names) for (const [k, n] of Object.entries(s?.shadowCodes?.[d] ?? {})) codes[k] = (codes[k] ?? 0) + n;
  return {
    copies: sum(sh.map((x) => x.copies)),
    failures: sum(sh.map((x) => x.failures)),
    rows: sum(sh.map((x) => x.rows)),
    agreed: sum(sh.map((x) => x.agreed)),
    drops: sum(names.map((d) => s?.shadowDrops?.[d] ?? 0)),
    codes,
  };
}

function shadowDelta(a, b, deployment) {
  const x = shadowTotals(a, deployment);
  const y = shadowTotals(b, deployment);
  return { copies: y.copies - x.copies, failures: y.failures - x.failures, ok: y.copies - y.failures - (x.copies - x.failures), rows: y.rows - x.rows, agreed: y.agreed - x.agreed, drops: y.drops - x.drops, codes: diff(x.codes, y.codes) };
}

// ---------------------------------------------------------------------------------------------
// setup: the three versions, the two deployments

/** breast-cancer-logreg's bytes with producer_name "fixtures-make" -> "fixtures-mak2": the same graph, another sha256. */
function makeV3() {
  const src = readFileSync(path.join(FIXTURES, OTHER_FIXTURE, 'model.onnx'));
  const at = src.indexOf(Buffer.from(PRODUCER_FROM, 'latin1'));
  if (at < 0) throw new Error(`${OTHER_FIXTURE}/model.onnx has no "${PRODUCER_FROM}" string to change; cannot make a third version`);
  const out = Buffer.from(src);
  out.write(PRODUCER_TO, at, 'latin1');
  mkdirSync(WORK_DIR, { recursive: true });
  const file = path.join(WORK_DIR, `${OTHER_FIXTURE}-resaved.onnx`);
  writeFileSync(file, out);
  return { file, bytes: out, offset: at };
}

const sha = (b) => createHash('sha256').update(b).digest('hex');

async function register(url, fixture, bytes, description) {
  const card = readFileSync(path.join(FIXTURES, fixture, 'card.json'), 'utf8');
  const r = await must('POST', `${url}/v1/models/${MODEL}/versions`, {
    model_base64: bytes.toString('base64'),
    file_name: 'model.onnx',
    card_text: card,
    card_file_name: 'card.json',
    description,
  });
  const version = r?.version?.version ?? r?.version ?? r?.record?.version;
  if (!Number.isInteger(version)) throw new Error(`registering ${fixture}: no version number in ${JSON.stringify(r).slice(0, 300)}`);
  return { version, created: r.created, sha256: sha(bytes) };
}

/** 1,000 requests (or `n`) one after the other: how many each version answered. */
async function countVersions(url, deployment, body, n) {
  const counts = {};
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const r = await http('POST', `${url}/v2/models/${deployment}/infer`, body, { timeoutMs: 10_000 });
    if (!r.ok) failed++;
    const v = r.headers.get('x-berth-version') ?? '(none)';
    counts[v] = (counts[v] ?? 0) + 1;
  }
  return { counts, failed };
}

function maxAbsDiff(a, b) {
  const fa = a?.flat?.(Infinity);
  const fb = b?.flat?.(Infinity);
  if (!Array.isArray(fa) || !Array.isArray(fb) || fa.length !== fb.length) return NaN;
  let m = 0;
  for (let i = 0; i < fa.length; i++) m = Math.max(m, Math.abs(Number(fa[i]) - Number(fb[i])));
  return m;
}

// ---------------------------------------------------------------------------------------------
// measuring

async function measure(srv, deployment, bodyFile, conns, secs) {
  const url = `${srv.url}/v2/models/${deployment}/infer`;
  const m0 = await scrape(srv.url);
  const s0 = await serverStats(srv);
  srv.child.stdin.write('mark\n'); // the server's event-loop delay histogram starts over
  const cpu0 = groupCpuMs(srv.child.pid);
  const r = await runWrk(url, bodyFile, conns, secs);
  const cpu1 = groupCpuMs(srv.child.pid);
  const sRun = await serverStats(srv); // its event-loop delay covers the wrk run
  // the shadow may still hold copies in its queue: let it finish them (not timed, and before the next run)
  const s1 = hasShadow(deployment) ? await settle(srv) : sRun;
  const m1 = await scrape(srv.url);
  const row = { deployment, conc: conns, ...r, eventLoop: sRun.eventLoop, ...cpuPerRequest(cpu1 - cpu0, r) };
  row.versions = byVersion(diff(m0.requests, m1.requests), deployment);
  row.runtimeRows = diff(m0.rows, m1.rows);
  row.runtimeCalls = diff(m0.calls, m1.calls);
  row.shadow = shadowDelta(s0, s1, deployment);
  const calls = sum(Object.values(row.runtimeCalls));
  const answered = sum(Object.entries(row.versions).filter(([k]) => !k.includes(' ')).map(([, n]) => n));
  if (answered > 0) row.calls_per_req = calls / answered;
  row.logStats = diff(s0.inferenceLog ?? {}, s1.inferenceLog ?? {});
  return row;
}

// ---------------------------------------------------------------------------------------------
// report

function summarize(runs, levels, deployments) {
  const rows = [];
  for (const c of levels) {
    for (const d of deployments) {
      const ok = runs.filter((r) => r.conc === c && r.deployment === d && !r.failed);
      const all = runs.filter((r) => r.conc === c && r.deployment === d);
      rows.push({
        conc: c,
        deployment: d,
        ...runStats(ok),
        failedRuns: all.length - ok.length,
        sock: sum(ok.map((r) => r.sockerr + r.timeouts)),
        calls_per_req: median(ok.map((r) => r.calls_per_req)),
        loop_max_ms: ok.map((r) => r.eventLoop?.maxMs),
      });
    }
  }
  return rows;
}

/** each deployment ÷ single per round and level, and the p99 difference per round */
function ratios(runs, levels, repeat, deployments) {
  const out = [];
  for (const c of levels) {
    const at = runs.filter((r) => r.conc === c);
    const [lo, hi] = range(at.filter((r) => r.deployment === 'single' && !r.failed).map((r) => r.p99));
    for (const d of deployments.filter((x) => x !== 'single')) out.push({ conc: c, deployment: d, ...roundRatios(at, 'deployment', 'single', d, repeat), singleP99Spread: hi - lo });
  }
  return out;
}

const mean = (rows, calls) => (calls > 0 ? (rows / calls).toFixed(1) : '—');

function render(res, meta) {
  const L = [];
  const raw = res.raw;
  const deps = meta.deployments;
  const rawB1 = raw?.throughput.find((t) => t.batch === 1)?.rows_per_s;
  const rawB64 = raw?.throughput.find((t) => t.batch === 64)?.rows_per_s;
  L.push('# Berth rollout benchmark: what a 90/10 split plus a 100% shadow cost the primary path', '');
  L.push(`\`${meta.command}\` — ${meta.date}, git ${meta.git}, Node ${meta.node}, ${meta.cpus}.`, '');
  if (meta.berthDist) L.push(`**Berth measured from ${meta.berthDist} (BERTH_DIST), not from dist/.**`, '');
  const v = res.versions;
  L.push(
    `Model \`${MODEL}\`, registered over HTTP (\`POST /v1/models/${MODEL}/versions\`, each with its fixture card): ` +
      `v${v.v1.version} = ${PRIMARY_FIXTURE} (sha256 ${v.v1.sha256.slice(0, 12)}…), v${v.v2.version} = ${OTHER_FIXTURE} (${v.v2.sha256.slice(0, 12)}…), ` +
      `v${v.v3.version} = ${OTHER_FIXTURE} re-saved with its producer_name "${PRODUCER_FROM}" → "${PRODUCER_TO}" (${v.v3.sha256.slice(0, 12)}…; same graph: ` +
      `${res.v3Check}).`,
    '',
  );
  const what = {
    single: 'no traffic policy',
    routed: '90% v1, 10% v2, and a copy of every request to v3 after the answer',
    'split-only': 'the split alone (90% v1, 10% v2)',
    'shadow-only': 'the shadow alone (v1 answers, v3 gets a copy of every request)',
  };
  L.push(
    `One server process (\`node bench/rollout.js serve-child\`: \`createBerthServer\` + \`listen\` from dist/, BERTH_* applied, batching ${JSON.stringify(res.config?.batching ?? {})}, runtime ${JSON.stringify(res.config?.runtime ?? {})}), ${deps.length} deployments set with \`PUT /v1/deployments/{name}\`:`,
    ...deps.map((d) => `- \`${d}\`: \`${JSON.stringify({ model: MODEL, version: 1, ...(POLICIES[d] ? { traffic: POLICIES[d] } : {}) })}\` — ${what[d]};`),
    '',
    `Inference log: **on for every deployment, at its default** (${JSON.stringify(res.config?.inferenceLog ?? {})}); it samples per deployment and role, so a shadow's answers are logged on a budget of their own.`,
    '',
  );
  L.push(
    `Load: ${meta.wrk}; ${meta.warmup}s warm-up per deployment at 8 connections, then ${meta.repeat} round(s) over the levels ${meta.levels.join(', ')}, ${meta.duration}s per run; in each round and level the deployments run back to back, in the order ${deps.join(', ')} in odd rounds and reversed in even rounds (so slow drift of the machine favours none). ` +
      'After each run of a deployment with a shadow the bench waits for the shadow to finish the copies still queued, so they do not load the next run. The same 1-row v2 body (the fixture\'s first golden row) for all.',
    '',
  );
  if (raw) {
    L.push(
      `Raw onnxruntime-node ${raw.onnxruntime}, ${PRIMARY_FIXTURE} in a child process (bench/raw-ort.js, Berth's session options): batch-1 p50 ${raw.latency.p50_ms.toFixed(4)} ms, p99 ${raw.latency.p99_ms.toFixed(4)} ms; ` +
        `**rows/s at batch 1: ${fmtInt(rawB1)}**, at batch 64: ${fmtInt(rawB64)}.`,
      '',
    );
  } else L.push(`Raw onnxruntime-node: ${res.rawError ?? 'not measured'}.`, '');

  L.push(`## Primary path: ${deps.join(' vs ')}`, '');
  L.push('| conc | deployment | req/s (2xx), median (min–max) | ÷ raw b1 rows/s | p50 ms | p99 ms, median (min–max) | non-2xx | sock err+timeouts | server CPU µs/req | server cores | runtime calls per request (all versions) | longest event-loop stall in the server, per run (ms) |');
  L.push('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of res.summary) {
    if (r.runs === 0) {
      L.push(`| ${r.conc} | ${r.deployment} | FAILED | | | | | | | | | |`);
      continue;
    }
    const rng = r.runs > 1 ? ` (${fmtInt(r.ok_rps_range[0])}–${fmtInt(r.ok_rps_range[1])})` : '';
    const prng = r.runs > 1 ? ` (${fmtMs(r.p99_range[0])}–${fmtMs(r.p99_range[1])})` : '';
    L.push(
      `| ${r.conc} | ${r.deployment} | ${fmtInt(r.ok_rps)}${rng} | ${fmtX(r.ok_rps / rawB1)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)}${prng} | ${r.non2xx}${r.non2xx ? ' ⚠' : ''} | ${r.sock}${r.sock ? ' ⚠' : ''} | ${fmtInt(r.cpu_us_per_req)} | ${Number.isFinite(r.cpu_cores) ? r.cpu_cores.toFixed(2) : 'n/a'} | ${Number.isFinite(r.calls_per_req) ? r.calls_per_req.toFixed(3) : 'n/a'} | ${r.loop_max_ms.map((x) => (Number.isFinite(x) ? x.toFixed(0) : 'n/a')).join(', ')} |`,
    );
  }
  L.push('');
  const rounds = res.ratios[0]?.per ?? [];
  L.push('÷ single, round by round (req/s ratio; p99 difference to single):', '');
  L.push(`| conc | deployment | ${rounds.map((p) => `round ${p.round}`).join(' | ')} | **median ratio** | p99 − single's (median) | single's own p99 spread over the rounds |`);
  L.push(`| ---: | --- | ${rounds.map(() => '---:').join(' | ')} | ---: | ---: | ---: |`);
  for (const q of res.ratios) {
    L.push(`| ${q.conc} | ${q.deployment} | ${q.per.map((p) => `${fmtPct(p.ratio)}; ${fmtSignedMs(p.p99Diff)} ms${p.first ? ` (${p.first} first)` : ''}`).join(' | ')} | **${fmtPct(q.ratio)}** | ${fmtSignedMs(q.p99Diff)} ms | ${fmtMs(q.singleP99Spread)} ms |`);
  }
  L.push('');

  L.push('## Split and shadow, from the server', '');
  L.push(
    'Every wrk run: requests answered per version (`berth_requests_total`); runtime calls and mean rows per call per version (`berth_batch_size`, by model version: each deployment runs alone, so the deltas are its own); ' +
      'shadow copies (the server\'s RolloutStats window of the deployment and `InferenceService.shadowDrops`; outcome codes counted by the bench at the same observer hook); the rows v3 ran (`berth_batch_size_sum{version="3"}`: only shadows use v3).',
    '',
  );
  L.push('| round | conc | deployment | answered by v1 | by v2 | v2 share | runtime calls v1 / v2 / v3 (mean rows per call) | shadow copies | ran OK | dropped (codes) | v3 rows run (/metrics) | shadow agreed with primary |');
  L.push('| ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: |');
  const okRuns = res.runs.filter((r) => !r.failed);
  for (const c of meta.levels) {
    for (const r of okRuns.filter((x) => x.conc === c).sort((a, b) => deps.indexOf(a.deployment) - deps.indexOf(b.deployment) || a.round - b.round)) {
      const v1 = r.versions.v1 ?? 0;
      const v2 = r.versions.v2 ?? 0;
      const calls = ['1', '2', '3'].map((k) => (r.runtimeCalls[k] ? `${fmtInt(r.runtimeCalls[k])} (${mean(r.runtimeRows[k] ?? 0, r.runtimeCalls[k])})` : '—')).join(' / ');
      const dropCodes = Object.entries(r.shadow.codes).filter(([k]) => k !== 'OK');
      const sh = hasShadow(r.deployment)
        ? `${fmtInt(r.shadow.copies)} | ${fmtInt(r.shadow.ok)} | ${fmtInt(r.shadow.failures)}${dropCodes.length ? ` (${dropCodes.map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ')})` : ''} | ${fmtInt(r.runtimeRows['3'] ?? 0)} | ${r.shadow.rows ? fmtPct(r.shadow.agreed / r.shadow.rows) : 'n/a'}`
        : '— | — | — | — | —';
      L.push(`| ${r.round} | ${r.conc} | ${r.deployment} | ${fmtInt(v1)} | ${fmtInt(v2)} | ${POLICIES[r.deployment]?.split && v1 + v2 > 0 ? fmtPct(v2 / (v1 + v2), 2) : '—'} | ${calls} | ${sh} |`);
    }
  }
  const odd = okRuns.filter((r) => Object.keys(r.versions).some((k) => k.includes(' ')));
  if (odd.length) L.push('', `⚠ requests that did not answer OK: ${odd.map((r) => `${r.deployment} conc ${r.conc} round ${r.round} ${JSON.stringify(r.versions)}`).join('; ')}`);
  L.push('');
  const c = res.check;
  L.push(
    `Check after the wrk runs: ${CHECK_REQUESTS} sequential requests to \`routed\` (plain fetch): x-berth-version ${Object.entries(c.counts).map(([k, n]) => `${k} × ${n}`).join(', ')}${c.failed ? `, ${c.failed} failed ⚠` : ''}; ` +
      `shadow copies ${fmtInt(c.shadow.copies)} (${fmtInt(c.shadow.ok)} ran, ${fmtInt(c.shadow.failures)} dropped), v3 rows run ${fmtInt(c.v3rows)}, v3 agreed with the primary's label on ${fmtInt(c.shadow.agreed)} of ${fmtInt(c.shadow.rows)} rows.`,
    '',
  );
  const f = res.final;
  if (f) {
    L.push(
      `Whole run, from the server's counters when it stopped: \`InferenceService.shadowDrops\` = ${JSON.stringify(f.stats?.shadowDrops ?? {})}; ` +
        `shadow outcomes by deployment and code ${JSON.stringify(f.stats?.shadowCodes ?? {})}; inference log ${JSON.stringify(f.stats?.inferenceLog ?? {})}` +
        (res.logFiles ? `; the routed deployment's log: ${res.logFiles.primary.files} primary files (${fmtInt(res.logFiles.primary.rows)} rows), ${res.logFiles.shadow.files} shadow files (${fmtInt(res.logFiles.shadow.rows)} rows of v3's answers)` : '') +
        '.',
      '',
    );
  }
  if (res.serverLog.length) L.push(`Server log (warn and above): ${res.serverLog.length} line(s), e.g.:`, '', '```', ...res.serverLog.slice(0, 8), '```', '');
  else L.push('Server log (warn and above): empty.', '');

  L.push('## Targets', '');
  for (const t of res.targets) L.push(`- **${t.status}** ${t.name}: ${t.detail}`);
  L.push('', `Total time ${((Date.now() - meta.t0) / 60000).toFixed(1)} min. Server log: ${path.relative(root, LOG_DIR)}/rollout-berth.log.`, '');
  return L.join('\n');
}

function targets(res) {
  const t = [];
  const add = (name, ok, detail) => t.push({ status: ok === null ? 'N/A' : ok ? 'PASS' : 'MISS', name, detail });
  const rawB1 = res.raw?.throughput.find((x) => x.batch === 1)?.rows_per_s;
  for (const q of res.ratios.filter((x) => x.deployment === 'routed')) {
    const s = res.summary.find((r) => r.conc === q.conc && r.deployment === 'single');
    const r = res.summary.find((x) => x.conc === q.conc && x.deployment === 'routed');
    if (!Number.isFinite(q.ratio)) {
      add(`conc ${q.conc}: routed req/s ≥ ${TARGET_RATIO * 100}% of single`, null, 'not measured (a wrk run failed)');
      continue;
    }
    add(
      `conc ${q.conc}: routed req/s ≥ ${TARGET_RATIO * 100}% of single`,
      q.ratio >= TARGET_RATIO,
      `median of the per-round ratios ${fmtPct(q.ratio)} (${q.per.map((p) => fmtPct(p.ratio)).join(', ')}); medians ${fmtInt(r.ok_rps)} vs ${fmtInt(s.ok_rps)} req/s; ` +
        `server CPU ${fmtInt(r.cpu_us_per_req)} vs ${fmtInt(s.cpu_us_per_req)} µs per request; runtime calls per request ${fmtNum(r.calls_per_req)} vs ${fmtNum(s.calls_per_req)}` +
        (rawB1 ? `; ÷ raw batch-1 rows/s (${fmtInt(rawB1)}): routed ${fmtX(r.ok_rps / rawB1)}, single ${fmtX(s.ok_rps / rawB1)}` : ''),
    );
    const within = q.p99Diff <= Math.max(q.singleP99Spread, 0);
    t.push({
      status: within ? 'within noise' : 'above noise',
      name: `conc ${q.conc}: primary p99 unchanged within noise`,
      detail: `p99 routed − single ${fmtSignedMs(q.p99Diff)} ms (median of the per-round differences; medians ${fmtMs(r.p99)} vs ${fmtMs(s.p99)} ms); the noise is taken as single's own p99 spread over the rounds, ${fmtMs(q.singleP99Spread)} ms`,
    });
  }
  const c = res.check;
  const v2 = c.counts[`${MODEL}@2`] ?? 0;
  add(`split: exactly ${CHECK_REQUESTS / 10} of ${CHECK_REQUESTS} sequential requests answered by v2`, v2 === CHECK_REQUESTS / 10 && !c.failed, `${JSON.stringify(c.counts)}`);
  add(
    `shadow: every one of the ${CHECK_REQUESTS} sequential requests copied to v3, none dropped`,
    c.shadow.ok === CHECK_REQUESTS && c.shadow.failures === 0,
    `${fmtInt(c.shadow.copies)} copies, ${fmtInt(c.shadow.ok)} ran, ${fmtInt(c.shadow.failures)} dropped; runtime rows on v3 ${fmtInt(c.v3rows)}`,
  );
  const wr = res.runs.filter((r) => r.deployment === 'routed' && !r.failed);
  const answered = sum(wr.map((r) => (r.versions.v1 ?? 0) + (r.versions.v2 ?? 0)));
  const ok = sum(wr.map((r) => r.shadow.ok));
  const dropped = sum(wr.map((r) => r.shadow.failures));
  t.push({
    status: 'info',
    name: 'routed under load (all wrk runs)',
    detail: `${fmtInt(answered)} primary answers (v2 ${fmtPct(sum(wr.map((r) => r.versions.v2 ?? 0)) / Math.max(1, answered), 2)}), ${fmtInt(ok + dropped)} shadow copies: ${fmtInt(ok)} ran on v3, ${fmtInt(dropped)} dropped (${fmtPct(dropped / Math.max(1, ok + dropped), 2)}; a busy shadow drops copies rather than hold back the primary)`,
  });
  return t;
}

// ---------------------------------------------------------------------------------------------

export async function rollout(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      levels: { type: 'string', default: '1,32' },
      repeat: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      breakdown: { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const DEPLOYMENTS = values.breakdown ? BREAKDOWN_DEPLOYMENTS : BASE_DEPLOYMENTS;
  const { levels, repeat, duration, warmup } = loadOptions(values);
  for (const f of [PRIMARY_FIXTURE, OTHER_FIXTURE]) if (!existsSync(path.join(FIXTURES, f, 'model.onnx'))) throw new Error(`no fixture model ${f} under ${FIXTURES}`);

  const meta = { ...runMeta('rollout', argv), levels, repeat, duration, warmup, deployments: DEPLOYMENTS, ...envMeta() };
  process.once('exit', cleanup);

  // 1. setup
  ensureBuild(values['no-build']);
  ensureWrk();
  meta.wrk = wrkDescription();
  const bodyFile = writeBody(PRIMARY_FIXTURE);
  const body = readFileSync(bodyFile);
  const est = levels.length * repeat * DEPLOYMENTS.length * (duration + 1.5) + DEPLOYMENTS.length * warmup + 25;
  log(`measuring ${DEPLOYMENTS.join(', ')} at ${levels.join(', ')} connections, ${repeat} round(s) of ${duration}s runs — about ${Math.ceil(est / 60)} min`);

  // 2. raw onnxruntime-node, alone
  const res = { runs: [], ...rawOrt(PRIMARY_FIXTURE, log) };

  // 3. the server, three versions, two deployments
  const dataDir = tempDir('berth-bench-rollout-');
  log('starting Berth (bench/rollout.js serve-child)');
  const srv = await startServer(dataDir);
  res.config = srv.config;
  try {
    const url = srv.url;
    const v1Bytes = readFileSync(path.join(FIXTURES, PRIMARY_FIXTURE, 'model.onnx'));
    const v2Bytes = readFileSync(path.join(FIXTURES, OTHER_FIXTURE, 'model.onnx'));
    const v3 = makeV3();
    res.versions = {
      v1: await register(url, PRIMARY_FIXTURE, v1Bytes, `${PRIMARY_FIXTURE} (bench rollout)`),
      v2: await register(url, OTHER_FIXTURE, v2Bytes, `${OTHER_FIXTURE} (bench rollout)`),
      v3: await register(url, OTHER_FIXTURE, v3.bytes, `${OTHER_FIXTURE}, producer_name re-saved as ${PRODUCER_TO} (bench rollout shadow)`),
    };
    const got = [res.versions.v1.version, res.versions.v2.version, res.versions.v3.version];
    if (got.join() !== '1,2,3') throw new Error(`expected versions 1, 2, 3 of ${MODEL}, got ${got.join(', ')} (a deduplicated upload?)`);
    log(`registered ${MODEL} v1 ${PRIMARY_FIXTURE}, v2 ${OTHER_FIXTURE}, v3 ${OTHER_FIXTURE} re-saved (sha256 ${res.versions.v3.sha256.slice(0, 12)}… vs ${res.versions.v2.sha256.slice(0, 12)}…)`);
    for (const dname of DEPLOYMENTS) await must('PUT', `${url}/v1/deployments/${dname}`, { model: MODEL, version: 1, ...(POLICIES[dname] ? { traffic: POLICIES[dname] } : {}) });
    const dep = await must('GET', `${url}/v1/deployments/routed`);
    res.routedRecord = dep?.deployment ?? dep;

    // v3 loads and answers what v2 answers (pinned-version route); both deployments answer
    const a2 = await http('POST', `${url}/v2/models/routed/versions/2/infer`, body);
    const a3 = await http('POST', `${url}/v2/models/routed/versions/3/infer`, body);
    if (!a2.ok || !a3.ok) throw new Error(`pinned-version check failed: v2 HTTP ${a2.status} ${a2.text.slice(0, 200)}; v3 HTTP ${a3.status} ${a3.text.slice(0, 200)}`);
    const d = (a2.json.outputs ?? []).map((o) => `${o.name} max |Δ| ${maxAbsDiff(o.data, a3.json.outputs.find((x) => x.name === o.name)?.data)}`);
    res.v3Check = `it loads, and on the bench's body v3 answers as v2 does: ${d.join(', ')}`;
    log(`v3 check: ${res.v3Check}`);
    // wait until the routed plan is live: its v2 answers and the shadow's copies run
    const t0 = Date.now();
    for (;;) {
      const c = await countVersions(url, 'routed', body, 20);
      const s = shadowTotals(await settle(srv, 2000), 'routed');
      if ((c.counts[`${MODEL}@2`] ?? 0) > 0 && s.copies - s.failures > 0) break;
      if (Date.now() - t0 > 30_000) throw new Error(`the routed deployment did not split or shadow within 30 s: ${JSON.stringify(c.counts)}, shadow ${JSON.stringify(s)}`);
      await sleep(250);
    }
    for (const dname of DEPLOYMENTS) {
      const r = await http('POST', `${url}/v2/models/${dname}/infer`, body);
      if (!r.ok) throw new Error(`${dname} answered HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    }

    // 4. load
    if (warmup > 0) {
      for (const dname of DEPLOYMENTS) {
        log(`warm-up ${dname} (${warmup}s at 8 connections)`);
        await runWrk(`${url}/v2/models/${dname}/infer`, bodyFile, 8, warmup);
        if (hasShadow(dname)) await settle(srv);
      }
    }
    for (let round = 1; round <= repeat; round++) {
      for (const c of levels) {
        const order = round % 2 === 1 ? DEPLOYMENTS : [...DEPLOYMENTS].reverse();
        for (const [i, dname] of order.entries()) {
          const r = await measure(srv, dname, bodyFile, c, duration);
          r.round = round;
          r.order = i;
          res.runs.push(r);
          const sh =
            (POLICIES[dname]?.split ? `; v1 ${fmtInt(r.versions.v1 ?? 0)} / v2 ${fmtInt(r.versions.v2 ?? 0)}` : '') +
            (hasShadow(dname) ? `; shadow ${fmtInt(r.shadow.ok)} ran, ${fmtInt(r.shadow.failures)} dropped${Object.keys(r.shadow.codes).length ? ` ${JSON.stringify(r.shadow.codes)}` : ''}` : '');
          log(
            `round ${round}/${repeat} conc ${c} ${dname}: ${r.failed ? `FAILED ${r.output}` : `${fmtInt(r.ok_rps)} req/s, p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, ${fmtInt(r.cpu_us_per_req)} µs CPU/req, non-2xx ${r.non2xx}, sock ${r.sockerr + r.timeouts}${sh}`}`,
          );
        }
      }
    }

    // 5. the split and the shadow, request by request
    log(`check: ${CHECK_REQUESTS} sequential requests to routed`);
    const m0 = await scrape(url);
    const s0 = await settle(srv);
    const check = await countVersions(url, 'routed', body, CHECK_REQUESTS);
    const s1 = await settle(srv);
    const m1 = await scrape(url);
    res.check = { ...check, shadow: shadowDelta(s0, s1, 'routed'), v3rows: diff(m0.rows, m1.rows)['3'] ?? 0, requests: byVersion(diff(m0.requests, m1.requests), 'routed') };
    log(`  x-berth-version ${JSON.stringify(check.counts)}; shadow ${JSON.stringify(res.check.shadow)}`);
  } finally {
    await stopServeChild(srv); // its last lines (BERTH_FINAL) are read and in its log file
  }
  res.final = srv.final;
  res.logFiles = await countLogFiles(dataDir, 'routed').catch((err) => {
    log(`counting the inference log's files failed: ${err.message}`);
    return null;
  });
  res.serverLog = serverLogLines(srv);
  cleanup();

  // 6. report
  res.summary = summarize(res.runs, levels, DEPLOYMENTS);
  res.ratios = ratios(res.runs, levels, repeat, DEPLOYMENTS);
  res.targets = targets(res);
  process.stdout.write(render(res, meta));
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ meta, ...res }, null, 1));
    log(`wrote ${values.json}`);
  }
  return 0;
}

/** Rows in the routed deployment's inference log, primary (`part-`) and shadow (`shadow-`) files. */
async function countLogFiles(dataDir, deployment) {
  const M = await import(pathToFileURL(path.join(dist, 'monitor', 'index.js')).href);
  const D = await import(pathToFileURL(path.join(dist, 'data', 'index.js')).href);
  const base = M.deploymentDir(dataDir, deployment);
  const out = { primary: { files: 0, rows: 0 }, shadow: { files: 0, rows: 0 } };
  if (!existsSync(base)) return out;
  const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  for (const f of walk(base).filter((p) => p.endsWith('.parquet'))) {
    const kind = path.basename(f).startsWith('shadow-') ? 'shadow' : path.basename(f).startsWith('part-') ? 'primary' : null;
    if (!kind) continue;
    out[kind].files++;
    out[kind].rows += (await D.readParquetFile(f, { columns: [M.LOG_TS] })).rows;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/**
 * The server: `berth serve`'s createBerthServer + listen on a data dir, the product defaults with
 * BERTH_* applied (the inference log on). On stdin, a line `stats` answers one `BERTH_STATS {json}`
 * line: the shadow counters the server keeps, and the watched deployments' rollout windows.
 */
async function serveChild(argv) {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, watch: { type: 'string', default: '' } }, strict: true });
  const core = await import(pathToFileURL(path.join(dist, 'core', 'index.js')).href);
  const { createBerthServer } = await import(pathToFileURL(path.join(dist, 'server', 'index.js')).href);
  const config = core.resolveConfig({ logLevel: 'warn', auth: { dev: true } }, core.configFromEnv(process.env), {
    dataDir: values['data-dir'],
    server: { host: '127.0.0.1', port: 0 },
  });
  const server = await createBerthServer({ config, logger: core.createLogger(config.logLevel), example: false });
  // the outcome code of every shadow copy, by deployment, seen at the observer hook the server feeds RolloutStats from
  const shadowCodes = {};
  const rs = server.rolloutStats;
  const onShadow = rs.onShadow.bind(rs);
  rs.onShadow = (r) => {
    const c = (shadowCodes[r.deployment] ??= {});
    c[r.code] = (c[r.code] ?? 0) + 1;
    onShadow(r);
  };
  await server.service.refresh();
  const url = await server.listen();
  // how long the event loop was held up, since the last `mark` (a C++ timer: no JavaScript runs for it)
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const watch = values.watch.split(',').filter(Boolean);
  const snapshot = () => {
    const windows = {};
    for (const d of watch) {
      const w = server.rolloutStats.window(d);
      if (!w) continue;
      windows[d] = {
        versions: [...w.versions.values()].map((v) => ({ version: v.version, requests: v.requests, failures: v.failures, rows: v.rows })),
        shadows: [...w.shadows.values()].map((s) => ({ version: s.version, copies: s.copies, failures: s.failures, rows: s.rows, agreed: s.agreed, latencyP50Ms: s.latency.quantile(0.5), latencyP99Ms: s.latency.quantile(0.99) })),
      };
    }
    return {
      shadowDrops: Object.fromEntries(server.service.shadowDrops),
      shadowCodes: structuredClone(shadowCodes),
      windows,
      inferenceLog: server.inferenceLog ? { ...server.inferenceLog.stats } : null,
      eventLoop: { maxMs: loop.max / 1e6, p99Ms: loop.percentile(99) / 1e6, meanMs: loop.mean / 1e6 },
    };
  };
  process.stdout.write(`BERTH_READY ${JSON.stringify({ url, config: { batching: config.batching, runtime: config.runtime, inferenceLog: config.inferenceLog } })}\n`);
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const cmd = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (cmd === 'stats') process.stdout.write(`BERTH_STATS ${JSON.stringify(snapshot())}\n`);
      else if (cmd === 'mark') loop.reset();
    }
  });
  process.stdin.on('error', () => undefined);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const before = snapshot();
    await server.close();
    process.stdout.write(`BERTH_FINAL ${JSON.stringify({ stats: { ...before, inferenceLog: server.inferenceLog ? { ...server.inferenceLog.stats } : null } })}\n`, () => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await runAsScript(import.meta.url, 'rollout', rollout, serveChild);

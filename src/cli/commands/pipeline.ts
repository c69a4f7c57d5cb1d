/**
 * `berth pipeline …`, `berth runs …` and `berth lineage`: run continuous-training pipelines in this
 * process against the data dir (resumable, cached), and read what runs recorded: params, metrics,
 * datasets, code version, the model version they produced.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { BerthError, ModelRef, type Lineage } from '../../core/index.js';
import {
  FINISHED_RUN_STATES, RUN_STATES, RunStore, briefRun, builtinSteps, datasetLineage, executeRun, sourceSha256, versionLineage, fingerprint, localHolder, parseParamPairs, parsePipelineText, resolveParams,
  type DatasetFingerprint, type DatasetLineage, type PipelineHost, type VersionLineage, type RunEvent, type RunListOptions, type RunLogLine, type RunMetric, type RunRecord, type RunState,
} from '../../pipelines/index.js';
import { readGitInfo } from '../../registry/index.js';
import type { RemoteClient } from '../remote-client.js';
import type { CliContext } from '../context.js';
import { CLI_VERSION } from '../context.js';
import type { LocalClient } from '../local-client.js';
import { parseCount } from '../parse.js';
import { serverClient } from './batch-remote.js';
import { examples, optionParser } from './options.js';

const collect = (v: string, acc: string[] = []): string[] => [...acc, v];

/** Open the data dir's registry (and run store) for the length of `work`. */
async function withLocal<T>(ctx: CliContext, work: (local: LocalClient, store: RunStore) => Promise<T>): Promise<T> {
  const { LocalClient } = await import('../local-client.js');
  const g = ctx.globals;
  const local = await LocalClient.open(g.dataDir, {
    ...(g.actor !== undefined ? { actor: g.actor } : {}),
    version: CLI_VERSION,
    databaseUrl: ctx.io.env['BERTH_DATABASE_URL'] || null,
    artifactsUrl: ctx.io.env['BERTH_ARTIFACTS_URL'] || null,
  });
  try {
    return await work(local, new RunStore(local.registry));
  } finally {
    await local.close();
  }
}

/** What the read commands need, from the data dir or from a server. */
interface Runs {
  list(o: RunListOptions): Promise<Omit<RunRecord, 'spec'>[]>;
  show(id: number): Promise<{ run: Omit<RunRecord, 'spec'>; metrics: RunMetric[]; datasets: (DatasetFingerprint & { step: string })[] }>;
  logs(id: number, o: { step?: string; after: number; limit: number }): Promise<RunLogLine[]>;
  state(id: number): Promise<RunState>;
  cancel(id: number): Promise<Omit<RunRecord, 'spec'>>;
  versionLineage(ref: ModelRef): Promise<VersionLineage>;
  datasetLineage(sha256: string): Promise<DatasetLineage>;
}

function localRuns(local: LocalClient, store: RunStore, actor: string): Runs {
  return {
    list: async (o) => (await store.listRuns(o)).map(briefRun),
    show: async (id) => ({ run: await store.getRun(id), metrics: await store.metrics(id), datasets: await store.datasets(id) }),
    logs: (id, o) => store.logs(id, o),
    state: async (id) => (await store.getRun(id)).state,
    cancel: (id) => store.cancelRun(id, actor),
    versionLineage: (ref) => versionLineage(local.registry, store, ref),
    datasetLineage: (sha) => datasetLineage(store, sha),
  };
}

function remoteRuns(c: RemoteClient): Runs {
  return {
    list: async (o) => (await c.listRuns(o)).runs,
    show: async (id) => {
      const { metrics, datasets, ...run } = await c.getRun(id);
      return { run, metrics, datasets };
    },
    logs: async (id, o) => (await c.runLogs(id, o)).lines,
    state: async (id) => (await c.getRun(id)).state,
    cancel: (id) => c.cancelRun(id),
    versionLineage: (ref) => c.versionLineage(ref.name, ref.selector.kind === 'version' ? String(ref.selector.version) : ref.selector.kind === 'alias' ? ref.selector.alias : 'latest'),
    datasetLineage: (sha) => c.datasetLineage(sha),
  };
}

/** The runs of the server the CLI talks to, else of the data dir. */
async function withRuns<T>(ctx: CliContext, work: (runs: Runs) => Promise<T>): Promise<T> {
  const c = await ctx.client();
  if (c.kind === 'remote') return work(remoteRuns(c as RemoteClient));
  return withLocal(ctx, (local, store) => work(localRuns(local, store, ctx.globals.actor ?? 'cli')));
}

function parseRunId(text: string): number {
  const n = Number(text.replace(/^#/, ''));
  if (!Number.isInteger(n) || n < 1) throw new BerthError('INVALID_ARGUMENT', `run: expected a run number like 12, got ${JSON.stringify(text)}`, { field: 'run', expected: 'a positive integer', got: text });
  return n;
}

const STATE_MARK: Record<string, string> = { succeeded: '✓', cached: '↷', failed: '✗', skipped: '–', cancelled: '■', running: '▶', pending: '·' };

function seconds(s: { startedAt: string | null; finishedAt: string | null }): string {
  if (!s.startedAt) return '';
  const end = s.finishedAt ? Date.parse(s.finishedAt) : Date.now();
  const sec = (end - Date.parse(s.startedAt)) / 1000;
  return sec < 60 ? `${sec.toFixed(1)}s` : `${(sec / 60).toFixed(1)}m`;
}

/** The last value of each metric, by step. */
function finalMetrics(metrics: readonly RunMetric[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of metrics) out.set(`${m.step}.${m.key}`, m.value);
  return out;
}

const SPARK = '▁▂▃▄▅▆▇█';
function sparkline(values: readonly number[]): string {
  if (values.length < 2) return '';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.map((v) => SPARK[hi === lo ? 3 : Math.round(((v - lo) / (hi - lo)) * (SPARK.length - 1))]).join('');
}

export function renderRun(run: Omit<RunRecord, 'spec'>, metrics: readonly RunMetric[], datasets: readonly { step: string; path: string; sha256: string; bytes: number }[]): string {
  const lines = [`run ${run.id} of pipeline ${run.pipeline}: ${run.state}${run.error ? ` (${run.error.message})` : ''}`];
  lines.push(`  started   ${run.startedAt ?? '—'} by ${run.actor} (${run.trigger.kind}${run.trigger.detail ? ` ${JSON.stringify(run.trigger.detail)}` : ''}), ${run.mode}${run.attempts > 1 ? `, attempt ${run.attempts}` : ''}`);
  if (run.finishedAt) lines.push(`  finished  ${run.finishedAt}`);
  lines.push(`  code      ${run.code ? `${run.code.commit.slice(0, 12)}${run.code.dirty ? ' (dirty work tree)' : ''}${run.code.remote ? ` ${run.code.remote}` : ''}` : 'not in a git work tree'} · ${run.workdir}`);
  const params = Object.entries(run.params);
  if (params.length > 0) lines.push(`  params    ${params.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  if (run.result?.version !== undefined) lines.push(`  produced  ${run.result.model}@${run.result.version}${run.result.rollout !== undefined ? ` (rollout ${run.result.rollout} on ${run.result.deployment})` : ''}`);
  if (run.result?.gate && !run.result.gate.passed) lines.push(`  gate      failed: ${run.result.gate.reasons.join('; ')}`);
  lines.push('  steps:');
  const w = Math.max(...run.steps.map((s) => s.name.length), 4);
  for (const s of run.steps) {
    const note = s.state === 'cached' ? `reused from run ${s.cachedFrom}` : s.error ? s.error.message : typeof s.result?.['summary'] === 'string' ? (s.result['summary'] as string) : '';
    lines.push(`    ${STATE_MARK[s.state] ?? ' '} ${s.name.padEnd(w)}  ${s.state.padEnd(9)} ${seconds(s).padStart(7)}${s.attempts > 1 ? `  ${s.attempts} attempts` : ''}  ${note}`);
  }
  if (metrics.length > 0) {
    lines.push('  metrics:');
    const byKey = new Map<string, number[]>();
    for (const m of metrics) byKey.set(`${m.step}.${m.key}`, [...(byKey.get(`${m.step}.${m.key}`) ?? []), m.value]);
    const kw = Math.max(...[...byKey.keys()].map((k) => k.length));
    for (const [k, vals] of byKey) lines.push(`    ${k.padEnd(kw)}  ${formatValue(vals[vals.length - 1]!)}${vals.length > 1 ? `  ${sparkline(vals)} (${vals.length} steps)` : ''}`);
  }
  if (datasets.length > 0) {
    lines.push('  datasets:');
    for (const d of datasets) lines.push(`    ${d.sha256.slice(0, 12)}  ${d.path}  (${d.step})`);
  }
  return lines.join('\n') + '\n';
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(5).replace(/\.?0+$/, '');
}

function runLine(r: Omit<RunRecord, 'spec'>): string {
  const produced = r.result?.version !== undefined ? `${r.result.model}@${r.result.version}` : r.result?.gate && !r.result.gate.passed ? 'gate failed' : '';
  return `${String(r.id).padStart(5)}  ${r.pipeline.padEnd(18)} ${r.state.padEnd(10)} ${r.trigger.kind.padEnd(8)} ${(r.createdAt ?? '').slice(0, 19)}  ${produced}`;
}

/** Prints a run's progress as it happens. */
function liveRenderer(ctx: CliContext, quiet: boolean): (e: RunEvent) => void {
  const out = (t: string): void => (ctx.globals.json ? ctx.io.err(t) : ctx.io.out(t));
  return (e) => {
    if (e.kind === 'step-start') out(`▶ ${e.step}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}\n`);
    else if (e.kind === 'step-end') out(`${STATE_MARK[e.state] ?? ' '} ${e.step} ${e.state}${e.seconds > 0 ? ` in ${e.seconds.toFixed(1)}s` : ''}${e.note ? `: ${e.note}` : ''}\n`);
    else if (!quiet) out(`  ${e.step} | ${e.stream === 'stderr' ? '! ' : e.stream === 'berth' ? '» ' : ''}${e.line}\n`);
  };
}

/** A host wired to the data dir (register) and, for rollouts, to a server when one answers. */
async function localHost(ctx: CliContext, local: LocalClient, store: RunStore): Promise<PipelineHost> {
  const actor = ctx.globals.actor ?? 'pipeline';
  const remote = async () => {
    const c = await ctx.client().catch(() => null);
    return c && c.kind === 'remote' ? c : null;
  };
  return {
    registry: local.registry,
    store,
    actor,
    register: async (req) => {
      const r = await local.registerVersion({
        name: req.name, path: req.filePath, lineage: req.lineage,
        ...(req.cardPath !== undefined ? { cardPath: req.cardPath } : {}),
        ...(req.referencePath !== undefined ? { referencePath: req.referencePath } : {}),
        ...(req.description !== undefined ? { description: req.description } : {}),
        ...(req.tags !== undefined ? { tags: req.tags } : {}),
      });
      return { created: r.created, version: r.version };
    },
    startRollout: async (deployment, req) => {
      const c = await remote();
      if (!c) {
        throw new BerthError('SERVER_UNREACHABLE', `the rollout of ${deployment} needs a running server (rollouts are judged on live traffic), and none answers at ${ctx.globals.server}; start \`berth serve\` on this data dir, or pass --server URL`);
      }
      return c.startRollout(deployment, req);
    },
    rollout: async (deployment) => {
      const c = await remote();
      return c ? (await c.rolloutStatus(deployment)).rollout : null;
    },
    servedVersion: async (deployment) => {
      try {
        const d = await local.registry.resolveDeployment(deployment);
        return { model: d.version.model, version: d.version.version };
      } catch {
        return null;
      }
    },
  };
}

interface RunFlags {
  param?: string[];
  remote?: boolean;
  detach?: boolean;
  workdir?: string;
  cache?: boolean;
  parallel?: number;
  quiet?: boolean;
}

/** Execute a run this process holds, printing it live; a failed run is exit code 1. */
async function executeHere(ctx: CliContext, local: LocalClient, store: RunStore, run: RunRecord, o: { cache?: boolean; parallel?: number; quiet?: boolean }): Promise<RunRecord> {
  const host = await localHost(ctx, local, store);
  const cancel = (): void => {
    ctx.io.err(`\nberth: stopping run ${run.id} (its steps are killed); \`berth pipeline resume ${run.id}\` picks it up again\n`);
    void store.cancelRun(run.id, host.actor).catch(() => undefined);
  };
  process.once('SIGINT', cancel);
  try {
    const final = await executeRun(run, {
      store, artifacts: local.registry.artifacts, runsDir: path.join(path.resolve(ctx.globals.dataDir), 'pipelines', 'runs'), holder: localHolder(),
      builtins: builtinSteps(host), useCache: o.cache !== false, maxParallel: o.parallel ?? 2, heartbeatMs: 1_000,
      onEvent: liveRenderer(ctx, o.quiet === true),
    });
    const [metrics, datasets] = await Promise.all([store.metrics(final.id), store.datasets(final.id)]);
    ctx.print(final, () => `\n${renderRun(final, metrics, datasets)}`);
    if (final.state !== 'succeeded') {
      throw new BerthError(final.error?.code === 'GATE_FAILED' ? 'GATE_FAILED' : 'FAILED_PRECONDITION', `run ${final.id} ${final.state}: ${final.error?.message ?? ''}`.trim(), { field: 'run', got: final.state });
    }
    return final;
  } finally {
    process.removeListener('SIGINT', cancel);
  }
}

async function readPipelineFile(file: string): Promise<{ text: string; abs: string }> {
  const abs = path.resolve(file);
  try {
    return { text: await readFile(abs, 'utf8'), abs };
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${file} cannot be read (${(err as Error).message}); give the path of a pipeline file`, { field: 'file', got: file }, { cause: err });
  }
}

/** `pipeline run --remote`: store the file (or name a stored pipeline), start a run, follow it. */
async function runRemote(ctx: CliContext, fileOrName: string, o: RunFlags): Promise<void> {
  const c = await serverClient(ctx, 'server pipeline runs');
  let name = fileOrName;
  if (existsSync(fileOrName)) {
    const { text, abs } = await readPipelineFile(fileOrName);
    const stored = await c.putPipeline(text, path.resolve(o.workdir ?? path.dirname(abs)));
    name = stored.pipeline.name;
    ctx.note(`${stored.created ? 'stored' : stored.changed ? 'updated' : 'using'} pipeline ${name} (version ${stored.pipeline.version}) on ${c.where}`);
  }
  const run = await c.startPipelineRun(name, parseParamPairs(o.param ?? []));
  ctx.note(`run ${run.id} of pipeline ${name} queued on ${c.where}; follow it: berth pipeline logs ${run.id} --follow`);
  if (o.detach) {
    ctx.print(run, () => `${run.id}\n`);
    return;
  }
  const out = (t: string): void => (ctx.globals.json ? ctx.io.err(t) : ctx.io.out(t));
  let after = 0;
  for (;;) {
    const page = await c.runLogs(run.id, { after, limit: 5000 });
    for (const l of page.lines) if (!o.quiet || l.stream === 'berth') out(`  ${l.step} | ${l.stream === 'stderr' ? '! ' : l.stream === 'berth' ? '» ' : ''}${l.line}\n`);
    after = page.next;
    if (page.lines.length === 5000) continue;
    if (FINISHED_RUN_STATES.includes(page.state as RunState)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const { metrics, datasets, ...final } = await c.getRun(run.id);
  ctx.print({ ...final, metrics, datasets }, () => `\n${renderRun(final, metrics, datasets)}`);
  if (final.state !== 'succeeded') {
    throw new BerthError(final.error?.code === 'GATE_FAILED' ? 'GATE_FAILED' : 'FAILED_PRECONDITION', `run ${final.id} ${final.state}: ${final.error?.message ?? ''}`.trim(), { field: 'run', got: final.state });
  }
}

export function addPipelineCommands(program: Command, ctx: CliContext): void {
  const pipeline = program
    .command('pipeline')
    .description('continuous training: run a pipeline file (train → evaluate → compare → register → rollout) with cached, resumable steps')
    .addHelpText('after', examples(
      'berth pipeline run berth.pipeline.yaml',
      'berth pipeline run berth.pipeline.yaml --param C=0.5 --param train_data=data/2026-11.csv',
      'berth pipeline resume 12',
      'berth pipeline logs 12 --step train',
      'berth runs compare 11 12',
    ));

  pipeline
    .command('run')
    .description('run a pipeline file here, against the data dir: steps whose command, inputs and params did not change are reused from an earlier run and say so')
    .argument('<file>', 'the pipeline file (berth.pipeline.yaml)')
    .option('--param <k=v>', 'override a param the file declares (repeatable)', collect)
    .option('--workdir <dir>', 'where commands run and relative paths resolve (default: the file\'s directory)')
    .option('--no-cache', 'run every step, even unchanged ones')
    .option('--parallel <n>', 'independent steps at once (default 2)', optionParser((t) => parseCount('--parallel', t, 1)))
    .option('--quiet', 'print step starts and ends, not their output')
    .option('--remote', 'run it on the server instead (FILE is stored there first; or give the name of a stored pipeline)')
    .option('--detach', 'with --remote: print the run number and return without following it')
    .addHelpText('after', examples(
      'berth pipeline run berth.pipeline.yaml',
      'berth pipeline run examples/credit-training/berth.pipeline.yaml --param seed=3',
      'berth pipeline run berth.pipeline.yaml --remote --workdir /srv/credit-training',
      'berth pipeline run credit-retrain --remote --detach',
      '# exit 0 when the run succeeded; 1 when a step failed, a gate stopped it or it was cancelled',
    ))
    .action(async (file: string, o: RunFlags & { remote?: boolean; detach?: boolean }) => {
      if (o.remote) return runRemote(ctx, file, o);
      if (o.detach) throw new BerthError('INVALID_ARGUMENT', '--detach goes with --remote: a local run lives in this process', { field: 'detach' });
      const abs = path.resolve(file);
      let text: string;
      try {
        text = await readFile(abs, 'utf8');
      } catch (err) {
        throw new BerthError('INVALID_ARGUMENT', `${file} cannot be read (${(err as Error).message}); give the path of a pipeline file`, { field: 'file', got: file }, { cause: err });
      }
      const spec = parsePipelineText(text, file);
      const params = resolveParams(spec, parseParamPairs(o.param ?? []));
      const workdir = path.resolve(o.workdir ?? path.dirname(abs));
      await withLocal(ctx, async (local, store) => {
        const run = await store.createRun({
          spec, sourceSha256: sourceSha256(text), pipelineVersion: null, params,
          trigger: { kind: 'cli', detail: { file: abs } }, workdir, code: (await readGitInfo(workdir)) ?? null, mode: 'local',
          actor: ctx.globals.actor ?? 'pipeline', holder: localHolder(),
        });
        ctx.note(`run ${run.id} of pipeline ${spec.name} (${spec.steps.length} steps); logs: berth pipeline logs ${run.id}`);
        await executeHere(ctx, local, store, run, o);
      });
    });

  pipeline
    .command('resume')
    .description('go on with a run that was stopped (killed, cancelled by Ctrl-C, machine restarted): finished steps stay, the rest run')
    .argument('<run>', 'the run number')
    .option('--no-cache', 'run every remaining step, even unchanged ones')
    .option('--parallel <n>', 'independent steps at once (default 2)', optionParser((t) => parseCount('--parallel', t, 1)))
    .option('--quiet', 'print step starts and ends, not their output')
    .addHelpText('after', examples('berth pipeline resume 12'))
    .action(async (id: string, o: RunFlags) => {
      const runId = parseRunId(id);
      await withLocal(ctx, async (local, store) => {
        const before = await store.getRun(runId);
        if (before.state === 'cancelled') {
          throw new BerthError('FAILED_PRECONDITION', `run ${runId} was cancelled; start a new one with \`berth pipeline run\` (unchanged steps are reused from the cache)`, { field: 'run', got: before.state });
        }
        const run = await store.claimRun(runId, localHolder(), 15_000);
        if (!run) {
          throw new BerthError('FAILED_PRECONDITION', `run ${runId} is held by ${before.holder} and its lease is fresh; if that process is gone, wait ${15} s and try again`, { field: 'run', got: before.holder });
        }
        await executeHere(ctx, local, store, run, o);
      });
    });

  pipeline
    .command('status')
    .description('a run: its steps, params, metrics, datasets and what it produced')
    .argument('<run>', 'the run number')
    .addHelpText('after', examples('berth pipeline status 12', 'berth pipeline status 12 --json'))
    .action(async (id: string) => showRun(ctx, parseRunId(id)));

  pipeline
    .command('logs')
    .description("a run's output, step by step")
    .argument('<run>', 'the run number')
    .option('--step <name>', 'only this step (run: the lines Berth wrote about the run itself)')
    .option('--follow', 'keep printing new lines until the run ends')
    .addHelpText('after', examples('berth pipeline logs 12', 'berth pipeline logs 12 --step train --follow'))
    .action(async (id: string, o: { step?: string; follow?: boolean }) => {
      const runId = parseRunId(id);
      await withRuns(ctx, async (runs) => {
        let after = 0;
        for (;;) {
          const lines = await runs.logs(runId, { ...(o.step !== undefined ? { step: o.step } : {}), after, limit: 10_000 });
          if (ctx.globals.json) ctx.io.out(lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length > 0 ? '\n' : ''));
          else for (const l of lines) ctx.io.out(`${l.step} | ${l.stream === 'stderr' ? '! ' : l.stream === 'berth' ? '» ' : ''}${l.line}\n`);
          if (lines.length > 0) after = lines[lines.length - 1]!.seq;
          if (lines.length === 10_000) continue;
          if (!o.follow || FINISHED_RUN_STATES.includes(await runs.state(runId))) break;
          await new Promise((r) => setTimeout(r, 500));
        }
      });
    });

  pipeline
    .command('cancel')
    .description('stop a run: its running step is killed, nothing after it runs')
    .argument('<run>', 'the run number')
    .addHelpText('after', examples('berth pipeline cancel 12'))
    .action(async (id: string) => {
      await withRuns(ctx, async (runs) => {
        const run = await runs.cancel(parseRunId(id));
        ctx.print(run, () => `run ${run.id}: ${run.state === 'cancelled' ? 'cancelled' : 'cancel requested; the process running it stops it within a few seconds'}\n`);
      });
    });

  pipeline
    .command('create')
    .description('store a pipeline on the server, so its triggers (schedule, alert, feedback) start runs there; a changed file is a new version')
    .argument('<file>', 'the pipeline file')
    .option('--workdir <dir>', "where its commands run on the server (default: the file's directory, absolute)")
    .addHelpText('after', examples('berth pipeline create berth.pipeline.yaml', 'berth pipeline create berth.pipeline.yaml --workdir /srv/credit-training'))
    .action(async (file: string, o: { workdir?: string }) => {
      const c = await serverClient(ctx, 'stored pipelines');
      const { text, abs } = await readPipelineFile(file);
      const r = await c.putPipeline(text, path.resolve(o.workdir ?? path.dirname(abs)));
      ctx.print(r, () => `${r.created ? 'created' : r.changed ? 'updated' : 'unchanged:'} pipeline ${r.pipeline.name} (version ${r.pipeline.version}, ${r.pipeline.spec.steps.length} steps, ${r.pipeline.spec.triggers.length} triggers) in ${r.pipeline.workdir}\n`);
    });
  pipeline
    .command('list')
    .description("the server's stored pipelines and their triggers")
    .addHelpText('after', examples('berth pipeline list', 'berth pipeline list --json'))
    .action(async () => {
      const c = await serverClient(ctx, 'stored pipelines');
      const { pipelines } = await c.listPipelines();
      ctx.print({ pipelines }, () => (pipelines.length === 0 ? 'no pipelines stored (berth pipeline create FILE)\n' : pipelines.map((p) => `${p.name.padEnd(20)} v${p.version}  ${p.enabled ? 'enabled' : 'paused '}  ${p.spec.steps.length} steps  triggers: ${p.spec.triggers.map((t) => t.kind).join(', ') || 'none'}  ${p.workdir}`).join('\n') + '\n'));
    });
  pipeline
    .command('show')
    .description('a stored pipeline: its steps, triggers and recent runs')
    .argument('<name>', 'the pipeline name')
    .addHelpText('after', examples('berth pipeline show credit-retrain'))
    .action(async (name: string) => {
      const c = await serverClient(ctx, 'stored pipelines');
      const [p, { runs: recent }] = await Promise.all([c.getPipeline(name), c.listRuns({ pipeline: name, limit: 5 })]);
      ctx.print({ ...p, runs: recent }, () => [
        `pipeline ${p.name} v${p.version}: ${p.enabled ? 'enabled' : 'paused'}${p.spec.description ? ` — ${p.spec.description}` : ''}`,
        `  workdir   ${p.workdir}`,
        `  steps     ${p.spec.steps.map((st) => (st.needs.length > 0 ? `${st.name} (after ${st.needs.join(', ')})` : st.name)).join(', ')}`,
        `  triggers  ${p.spec.triggers.map((t) => (t.kind === 'schedule' ? `cron "${t.cron}" ${t.timezone}` : t.kind === 'alert' ? `alert ${t.rule ?? 'any'} on ${t.deployment ?? 'any deployment'}` : `${t.labels} new labels on ${t.deployment}`)).join('; ') || 'none (runs start by hand or API)'}`,
        recent.length === 0 ? '  no runs yet' : `  recent runs:\n${recent.map((r) => `  ${runLine(r)}`).join('\n')}`,
      ].join('\n') + '\n');
    });
  for (const [action, enabled] of [['pause', false], ['resume-triggers', true]] as const) {
    pipeline
      .command(action)
      .description(enabled ? 'let the pipeline\'s triggers start runs again' : 'stop the pipeline\'s triggers from starting runs (runs by hand still work)')
      .argument('<name>', 'the pipeline name')
      .addHelpText('after', examples(`berth pipeline ${action} credit-retrain`))
      .action(async (name: string) => {
        const c = await serverClient(ctx, 'stored pipelines');
        const p = await c.pipelineAction(name, enabled ? 'resume' : 'pause');
        ctx.print(p, () => `pipeline ${p.name}: triggers ${p.enabled ? 'enabled' : 'paused'}\n`);
      });
  }
  pipeline
    .command('delete')
    .description('remove a stored pipeline (its runs and their lineage stay)')
    .argument('<name>', 'the pipeline name')
    .addHelpText('after', examples('berth pipeline delete credit-retrain'))
    .action(async (name: string) => {
      const c = await serverClient(ctx, 'stored pipelines');
      const r = await c.deletePipeline(name);
      ctx.print(r, () => `deleted pipeline ${name}\n`);
    });

  const runs = program
    .command('runs')
    .description('experiment tracking: every pipeline run with its params, metrics (per epoch), datasets, code version and resulting model')
    .addHelpText('after', examples('berth runs list', 'berth runs show 12', 'berth runs compare 11 12 13'));
  runs
    .command('list')
    .description('runs, newest first')
    .option('--pipeline <name>', 'only this pipeline\'s runs')
    .option('--state <state>', `only runs in this state (${RUN_STATES.join(', ')})`)
    .option('--limit <n>', 'at most this many (default 50)', optionParser((t) => parseCount('--limit', t, 1)))
    .addHelpText('after', examples('berth runs list', 'berth runs list --pipeline credit-retrain --state failed', 'berth runs list --json'))
    .action(async (o: { pipeline?: string; state?: string; limit?: number }) => {
      if (o.state !== undefined && !(RUN_STATES as readonly string[]).includes(o.state)) {
        throw new BerthError('INVALID_ARGUMENT', `--state: expected one of ${RUN_STATES.join(', ')}, got ${JSON.stringify(o.state)}`, { field: 'state', expected: RUN_STATES.join(' | '), got: o.state });
      }
      await withRuns(ctx, async (runs) => {
        const list = await runs.list({ ...(o.pipeline !== undefined ? { pipeline: o.pipeline } : {}), ...(o.state !== undefined ? { state: o.state as RunState } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) });
        ctx.print({ runs: list }, () => (list.length === 0 ? 'no runs yet (start one: berth pipeline run berth.pipeline.yaml)\n' : `  run  pipeline           state      trigger  created              produced\n${list.map(runLine).join('\n')}\n`));
      });
    });
  runs
    .command('show')
    .description('one run: steps, params, metrics with their per-epoch curve, datasets, code, model version')
    .argument('<run>', 'the run number')
    .addHelpText('after', examples('berth runs show 12', 'berth runs show 12 --json'))
    .action(async (id: string) => showRun(ctx, parseRunId(id)));
  runs
    .command('compare')
    .description('runs side by side: params that differ, final metrics, datasets, what each produced')
    .argument('<runs...>', 'two or more run numbers')
    .addHelpText('after', examples('berth runs compare 11 12', 'berth runs compare 11 12 13 --json'))
    .action(async (ids: string[]) => {
      if (ids.length < 2) throw new BerthError('INVALID_ARGUMENT', 'runs compare: give two or more run numbers', { field: 'runs', expected: 'at least 2', got: ids.length });
      const runIds = ids.map(parseRunId);
      await withRuns(ctx, async (runs) => {
        const rows = await Promise.all(runIds.map((id) => runs.show(id)));
        const json = rows.map((r) => ({ id: r.run.id, pipeline: r.run.pipeline, state: r.run.state, params: r.run.params, code: r.run.code, result: r.run.result, metrics: Object.fromEntries(finalMetrics(r.metrics)), datasets: r.datasets }));
        ctx.print({ runs: json }, () => renderComparison(rows));
      });
    });

  program
    .command('lineage')
    .description('where a model version came from (pipeline run, code commit, data fingerprints, params, parent version), or which versions were trained on a dataset')
    .argument('[model]', 'NAME@VERSION (or @alias)')
    .option('--dataset <file-or-sha256>', 'a dataset file or its sha256 (8+ hex digits): the runs and versions that read it')
    .addHelpText('after', examples('berth lineage credit@3', 'berth lineage credit@production --json', 'berth lineage --dataset data/reference.csv', 'berth lineage --dataset 3f9a2c1b'))
    .action(async (model: string | undefined, o: { dataset?: string }) => {
      if ((model === undefined) === (o.dataset === undefined)) throw new BerthError('INVALID_ARGUMENT', 'lineage: give a model version (credit@3) or --dataset, one of the two', { field: 'model' });
      await withRuns(ctx, async (runs) => {
        if (model !== undefined) {
          const view = await runs.versionLineage(ModelRef.parse(model));
          ctx.print(view, () => renderLineage(view));
          return;
        }
        let sha = o.dataset!.replace(/^sha256:/i, '').toLowerCase();
        if (!/^[0-9a-f]{8,64}$/.test(sha)) sha = (await fingerprint(path.resolve(o.dataset!), 'dataset')).sha256;
        const view = await runs.datasetLineage(sha);
        ctx.print(view, () => {
          if (view.runs.length === 0) return `no run read a dataset with sha256 ${sha.slice(0, 12)}…\n`;
          const lines = [`dataset ${sha.slice(0, 12)}… was read by ${new Set(view.runs.map((u) => u.run)).size} run(s):`];
          for (const u of view.runs) lines.push(`  run ${u.run}, step ${u.step}: ${u.path}`);
          lines.push(view.versions.length === 0 ? 'no version was registered from those runs' : `versions trained on it: ${view.versions.map((v) => `${v.model}@${v.version} (run${v.runs.length > 1 ? 's' : ''} ${v.runs.join(', ')})`).join(', ')}`);
          return lines.join('\n') + '\n';
        });
      });
    });
}

async function showRun(ctx: CliContext, id: number): Promise<void> {
  await withRuns(ctx, async (runs) => {
    const { run, metrics, datasets } = await runs.show(id);
    ctx.print({ ...run, metrics, datasets }, () => renderRun(run, metrics, datasets));
  });
}

function renderComparison(rows: { run: Omit<RunRecord, 'spec'>; metrics: RunMetric[]; datasets: { sha256: string; path: string }[] }[]): string {
  const cols = rows.map((r) => `run ${r.run.id}`);
  const table: [string, ...string[]][] = [['', ...cols], ['pipeline', ...rows.map((r) => r.run.pipeline)], ['state', ...rows.map((r) => r.run.state)]];
  table.push(['code', ...rows.map((r) => (r.run.code ? `${r.run.code.commit.slice(0, 10)}${r.run.code.dirty ? '*' : ''}` : '—'))]);
  const paramKeys = [...new Set(rows.flatMap((r) => Object.keys(r.run.params)))].sort();
  for (const k of paramKeys) {
    const vals = rows.map((r) => (r.run.params[k] === undefined ? '—' : String(r.run.params[k])));
    table.push([`${new Set(vals).size > 1 ? '≠ ' : ''}param ${k}`, ...vals]);
  }
  // each metric's final value; a metric logged per epoch also gets its curve
  const series = rows.map((r) => {
    const m = new Map<string, number[]>();
    for (const x of r.metrics) m.set(`${x.step}.${x.key}`, [...(m.get(`${x.step}.${x.key}`) ?? []), x.value]);
    return m;
  });
  const metricKeys = [...new Set(series.flatMap((f) => [...f.keys()]))].sort();
  for (const k of metricKeys) {
    table.push([k, ...series.map((f) => {
      const vals = f.get(k);
      if (!vals) return '—';
      const last = formatValue(vals[vals.length - 1]!);
      return vals.length > 1 ? `${sparkline(vals.slice(-12))} ${last}` : last;
    })]);
  }
  table.push(['data', ...rows.map((r) => [...new Set(r.datasets.map((d) => d.sha256.slice(0, 8)))].join(',') || '—')]);
  table.push(['produced', ...rows.map((r) => (r.run.result?.version !== undefined ? `${r.run.result.model}@${r.run.result.version}` : r.run.result?.gate && !r.run.result.gate.passed ? 'gate failed' : '—'))]);
  // long values (paths) keep their end, where files differ
  for (const row of table) for (let c = 1; c < row.length; c++) if (row[c]!.length > 32) row[c] = `…${row[c]!.slice(-31)}`;
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => (row[c] ?? '').length)));
  return table.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n') + '\n';
}

function renderLineage(view: VersionLineage): string {
  const l = view.lineage as Lineage;
  const run = view.run;
  const lines = [`${view.model}@${view.version}  sha256 ${view.sha256.slice(0, 12)}…  registered ${view.registeredAt}`];
  if (run) {
    lines.push(`  pipeline   ${run.pipeline}, run ${run.id} (${run.state}; started by ${run.trigger.kind}${run.trigger.detail ? ` ${JSON.stringify(run.trigger.detail)}` : ''})`);
  } else if (l['pipelineRun'] !== undefined) {
    lines.push(`  pipeline   ${String(l['pipeline'])}, run ${String(l['pipelineRun'])} (not in this registry)`);
  } else {
    lines.push('  pipeline   none (registered by hand)');
  }
  lines.push(`  code       ${l.gitCommit ? `${l.gitCommit.slice(0, 12)}${l.gitDirty ? ' (dirty work tree)' : ''}${l.gitRemote ? ` ${l.gitRemote}` : ''}` : 'unknown'}`);
  const datasets = Array.isArray(l['datasets']) ? (l['datasets'] as { path: string; sha256: string }[]) : [];
  if (datasets.length > 0) for (const [i, d] of datasets.entries()) lines.push(`  ${i === 0 ? 'data      ' : '          '} ${d.sha256.slice(0, 12)}  ${d.path}`);
  else if (l.dataset) lines.push(`  data       ${l.dataset}`);
  const params = (l['params'] ?? run?.params) as Record<string, unknown> | undefined;
  if (params && Object.keys(params).length > 0) lines.push(`  params     ${Object.entries(params).map(([k, x]) => `${k}=${String(x)}`).join(' ')}`);
  lines.push(`  parent     ${l.parent ?? 'none'}`);
  const metrics = finalMetrics(run?.metrics ?? []);
  if (metrics.size > 0) lines.push(`  metrics    ${[...metrics].map(([k, x]) => `${k}=${formatValue(x)}`).join(' ')}`);
  return lines.join('\n') + '\n';
}

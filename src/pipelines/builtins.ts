/**
 * The built-in steps: `evaluate` (a model over labelled data), `compare` (candidate against
 * champion through gates), `register` (a version with the run's lineage), `rollout` (start a
 * progressive rollout of what was registered) and `notify` (a webhook). They act through a
 * {@link PipelineHost}, so the CLI and the server wire them to the same operations their users call.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, ModelRef, toBerthError, type Lineage } from '../core/index.js';
import type { Registry, VersionRecord } from '../registry/index.js';
import { webhookHeaders } from '../monitor/index.js';
import type { RolloutRecord, StartRolloutRequest } from '../rollout/index.js';
import { compareEvaluations, comparisonMarkdown, parseGates, type Comparison } from './compare.js';
import { evaluateModel, type Evaluation } from './evaluate.js';
import type { BuiltinContext, BuiltinOutcome, BuiltinRunner } from './executor.js';
import type { BuiltinStepName } from './spec.js';
import type { RunStore } from './store.js';

/** What the built-in steps act on. */
export interface PipelineHost {
  registry: Registry;
  store: RunStore;
  /** register a version as `berth models register` does (card, reference profile) */
  register(req: {
    name: string; filePath: string; cardPath?: string; referencePath?: string;
    description?: string; tags?: Record<string, string>; lineage: Partial<Lineage>; actor: string;
  }): Promise<{ created: boolean; version: VersionRecord }>;
  /** start a rollout; absent where no server runs them (the step then says so) */
  startRollout?: (deployment: string, req: StartRolloutRequest, actor: string) => Promise<RolloutRecord>;
  /** the rollout of a deployment now (to wait for its end) */
  rollout?: (deployment: string) => Promise<RolloutRecord | null>;
  /** the deployment's served version (a rollout of the version already served is skipped) */
  servedVersion?: (deployment: string) => Promise<{ model: string; version: number } | null>;
  /** how webhooks are posted (default: global fetch) */
  fetch?: typeof fetch;
  actor: string;
}

function bad(field: string, expected: string, got: unknown): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${JSON.stringify(got)}`, { field, expected, got });
}

function str(ctx: BuiltinContext, key: string, required: true): string;
function str(ctx: BuiltinContext, key: string, required?: false): string | undefined;
function str(ctx: BuiltinContext, key: string, required = false): string | undefined {
  const v = ctx.args[key];
  if (v === undefined || v === null) {
    if (required) throw bad(`steps.${ctx.step.name}.with.${key}`, 'a value', v ?? null);
    return undefined;
  }
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw bad(`steps.${ctx.step.name}.with.${key}`, 'a string', v);
  return String(v);
}

function list(ctx: BuiltinContext, key: string): string[] {
  const v = ctx.args[key];
  if (typeof v === 'string') {
    // a `${…}` that resolved to a JSON list
    if (v.startsWith('[')) {
      try {
        const parsed = JSON.parse(v) as unknown;
        if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
      } catch {
        // a plain string
      }
    }
    return [v];
  }
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  throw bad(`steps.${ctx.step.name}.with.${key}`, 'a file or a list of files', v);
}

const relTo = (workdir: string) => (p: string): string => path.resolve(workdir, p);

/** `evaluate`: metrics of a model file (with its card) or a registered version on labelled data. */
function evaluateStep(host: PipelineHost): BuiltinRunner {
  return async (ctx) => {
    const resolve = relTo(ctx.run.workdir);
    const model = str(ctx, 'model', true);
    const datasets = list(ctx, 'dataset').map(resolve);
    const label = str(ctx, 'label');
    const isFile = model.endsWith('.onnx') || model.includes('/') || model.includes(path.sep);
    let evaluated: Evaluation;
    if (isFile) {
      const card = str(ctx, 'card') ?? path.join(path.dirname(resolve(model)), 'card.json');
      evaluated = await evaluateModel({ model: { kind: 'files', file: resolve(model), card: resolve(card) }, datasets, ...(label !== undefined ? { labelColumn: label } : {}) });
    } else {
      evaluated = await evaluateModel({ model: { kind: 'registry', ref: ModelRef.parse(model) }, datasets, ...(label !== undefined ? { labelColumn: label } : {}) }, { registry: host.registry });
    }
    const summary = Object.entries(evaluated.metrics).filter(([k]) => (evaluated.headline as string[]).includes(k)).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
    ctx.log(`evaluated ${evaluated.model.ref ?? evaluated.model.file ?? ''} on ${evaluated.labelledRows} labelled rows: ${summary}`);
    await writeFile(path.join(ctx.dir, 'evaluation.json'), `${JSON.stringify(evaluated, null, 2)}\n`);
    return {
      result: { summary, evaluation: evaluated as unknown as Record<string, unknown> },
      metrics: Object.entries(evaluated.metrics).map(([key, value]) => ({ key, value })),
      datasets: evaluated.datasets.map((d) => ({ path: d.path, sha256: d.sha256, bytes: 0 })),
    };
  };
}

function evaluationOf(ctx: BuiltinContext, key: 'candidate' | 'champion'): Evaluation {
  const stepName = str(ctx, key, true);
  const result = ctx.results.get(stepName);
  const evaluation = result?.['evaluation'] as Evaluation | undefined;
  if (!evaluation) throw new BerthError('FAILED_PRECONDITION', `steps.${ctx.step.name}.with.${key}: step ${stepName} has no evaluation (did it run?)`, { field: `steps.${ctx.step.name}.with.${key}`, got: stepName });
  return evaluation;
}

/** `compare`: the candidate's evaluation against the champion's, through gates; failing stops everything after it. */
function compareStep(): BuiltinRunner {
  return async (ctx) => {
    const candidate = evaluationOf(ctx, 'candidate');
    const champion = evaluationOf(ctx, 'champion');
    const gates = ctx.args['gates'] === undefined ? undefined : parseGates(ctx.args['gates'], `steps.${ctx.step.name}.with.gates`);
    const c: Comparison = compareEvaluations(candidate, champion, gates);
    const markdown = comparisonMarkdown(c, { title: `${ctx.spec.name} run ${ctx.run.id}: ${ctx.step.name}` });
    await writeFile(path.join(ctx.dir, 'comparison.md'), markdown);
    for (const r of c.rows) {
      ctx.log(`${r.passed ? 'ok  ' : 'FAIL'} ${r.metric}: champion ${fmt(r.champion)}, candidate ${fmt(r.candidate)}${r.limit ? ` (gate ${r.limit})` : ''}`);
    }
    const outcome: BuiltinOutcome = {
      result: { summary: c.passed ? 'the candidate passes every gate' : c.reasons.join('; '), passed: c.passed, reasons: c.reasons, rows: c.rows, markdown },
      runResult: { gate: { passed: c.passed, reasons: c.reasons } },
    };
    if (!c.passed) outcome.failure = { code: 'GATE_FAILED', message: `the candidate failed the gate: ${c.reasons.join('; ')}; nothing after this step runs` };
    return outcome;
  };
}

const fmt = (v: number | null): string => (v === null ? '—' : v.toFixed(4));

/** `register`: the model file as a new version, its lineage pointing at this run. */
function registerStep(host: PipelineHost): BuiltinRunner {
  return async (ctx) => {
    const resolve = relTo(ctx.run.workdir);
    const name = str(ctx, 'model', true);
    const file = resolve(str(ctx, 'file', true));
    const cardPath = str(ctx, 'card');
    const reference = str(ctx, 'reference');
    const alias = str(ctx, 'alias');
    const description = str(ctx, 'description');
    const parentRef = str(ctx, 'parent') ?? `${name}@production`;
    let parent: VersionRecord | null = null;
    try {
      parent = await host.registry.resolve(ModelRef.parse(parentRef));
    } catch {
      parent = null;
    }
    // what the model was trained on: the data of the run's commands (evaluation sets are recorded with the run, not here)
    const commands = new Set(ctx.spec.steps.filter((s) => s.kind === 'command').map((s) => s.name));
    const datasets = (await host.store.datasets(ctx.run.id)).filter((d) => commands.has(d.step));
    const unique = [...new Map(datasets.map((d) => [d.sha256, { path: d.path, sha256: d.sha256 }])).values()];
    const lineage: Partial<Lineage> = {
      pipeline: ctx.spec.name,
      pipelineRun: ctx.run.id,
      params: ctx.run.params,
      datasets: unique,
      ...(unique[0] ? { dataset: unique[0].path } : {}),
      ...(ctx.run.code ? { gitCommit: ctx.run.code.commit, ...(ctx.run.code.dirty !== undefined ? { gitDirty: ctx.run.code.dirty } : {}), ...(ctx.run.code.remote ? { gitRemote: ctx.run.code.remote } : {}) } : {}),
      ...(parent ? { parent: `${parent.model}@${parent.version}` } : {}),
    };
    const tags = ctx.args['tags'];
    if (tags !== undefined && (typeof tags !== 'object' || tags === null || Array.isArray(tags))) throw bad(`steps.${ctx.step.name}.with.tags`, 'a map of tag names to values', tags);
    const { created, version } = await host.register({
      name, filePath: file, lineage, actor: host.actor,
      ...(cardPath !== undefined ? { cardPath: resolve(cardPath) } : {}),
      ...(reference !== undefined ? { referencePath: resolve(reference) } : {}),
      ...(description !== undefined ? { description } : {}),
      tags: { ...Object.fromEntries(Object.entries((tags as Record<string, unknown>) ?? {}).map(([k, v]) => [k, String(v)])), 'berth.pipeline': ctx.spec.name, 'berth.run': String(ctx.run.id) },
    });
    if (alias !== undefined) await host.registry.setAlias(name, alias, version.version, host.actor);
    const summary = created ? `registered ${name}@${version.version}${alias ? ` (alias ${alias})` : ''}` : `${name}@${version.version} already holds these exact bytes; nothing new registered${alias ? ` (alias ${alias} points at it)` : ''}`;
    ctx.log(summary);
    return { result: { summary, model: name, version: version.version, sha256: version.sha256, created, parent: lineage.parent ?? null }, runResult: { model: name, version: version.version } };
  };
}

/** `rollout`: a progressive rollout of the registered version (or `with.version`) to a deployment. */
function rolloutStep(host: PipelineHost): BuiltinRunner {
  return async (ctx) => {
    const deployment = str(ctx, 'deployment', true);
    const registered = [...ctx.results.values()].map((r) => r['version']).filter((v): v is number => typeof v === 'number').pop();
    const versionText = str(ctx, 'version');
    const version = versionText !== undefined ? Number(versionText) : registered;
    if (version === undefined || !Number.isInteger(version) || version < 1) {
      throw bad(`steps.${ctx.step.name}.with.version`, 'a version number (or a register step before this one)', versionText ?? null);
    }
    if (!host.startRollout) {
      throw new BerthError('FAILED_PRECONDITION', `steps.${ctx.step.name}: rollouts are run by a Berth server and none is reachable; start \`berth serve\`, pass --server URL, or run the pipeline on the server (berth pipeline run --remote)`, { field: `steps.${ctx.step.name}` });
    }
    const served = await host.servedVersion?.(deployment);
    if (served && served.version === version) {
      const summary = `deployment ${deployment} already serves version ${version}; no rollout needed`;
      ctx.log(summary);
      return { result: { summary, deployment, version, rollout: null } };
    }
    const req: StartRolloutRequest = { toVersion: version };
    const strategy = str(ctx, 'strategy');
    if (strategy !== undefined) req.strategy = strategy as StartRolloutRequest['strategy'] & string;
    const steps = ctx.args['steps'];
    if (steps !== undefined) req.steps = steps as StartRolloutRequest['steps'] & (string | (number | 'shadow' | 'preview')[]);
    const interval = str(ctx, 'interval');
    if (interval !== undefined) req.interval = interval;
    if (ctx.args['analysis'] !== undefined) req.analysis = ctx.args['analysis'];
    if (ctx.args['gates'] !== undefined) req.gates = ctx.args['gates'];
    const rollout = await host.startRollout(deployment, req, host.actor);
    ctx.log(`rollout ${rollout.id} of ${deployment}: version ${rollout.fromVersion} → ${rollout.toVersion} (${rollout.strategy})`);
    const result: Record<string, unknown> = { summary: `rollout ${rollout.id} started: ${deployment} ${rollout.fromVersion} → ${rollout.toVersion}`, deployment, version, rollout: rollout.id };
    const runResult = { deployment, rollout: rollout.id };
    if (ctx.args['wait'] === true || ctx.args['wait'] === 'true') {
      const ended = await waitForRollout(host, deployment, rollout.id, ctx);
      result['state'] = ended.state;
      if (ended.state !== 'promoted') {
        return { result, runResult, failure: { code: 'ROLLOUT_STATE', message: `rollout ${rollout.id} ended ${ended.state}${ended.reason ? `: ${ended.reason}` : ''}` } };
      }
    }
    return { result, runResult };
  };
}

async function waitForRollout(host: PipelineHost, deployment: string, id: number, ctx: BuiltinContext): Promise<RolloutRecord> {
  let last = '';
  for (;;) {
    const r = await host.rollout?.(deployment);
    if (!r || r.id !== id) throw new BerthError('ROLLOUT_STATE', `rollout ${id} of ${deployment} is gone`, { field: 'rollout', got: id });
    const where = `${r.state} at step ${r.step + 1}`;
    if (where !== last) ctx.log(`rollout ${id}: ${where}`);
    last = where;
    // a paused rollout waits for a person: the step reports it rather than waiting for ever
    if (r.state !== 'progressing') return r;
    if (ctx.signal.aborted) return r;
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/** `notify`: POST the run's state so far to a webhook (Slack-compatible `text` included). */
function notifyStep(host: PipelineHost): BuiltinRunner {
  return async (ctx) => {
    const url = str(ctx, 'url', true);
    if (!/^https?:\/\//.test(url)) throw bad(`steps.${ctx.step.name}.with.url`, 'an http(s) URL', url);
    const run = await host.store.getRun(ctx.run.id);
    const failed = run.steps.filter((s) => s.state === 'failed');
    const message = str(ctx, 'message') ?? (failed.length > 0
      ? `pipeline ${ctx.spec.name} run ${ctx.run.id}: ${failed.map((s) => `${s.name} failed (${s.error?.message ?? ''})`).join('; ')}`
      : `pipeline ${ctx.spec.name} run ${ctx.run.id}: ${run.steps.filter((s) => s.state === 'succeeded' || s.state === 'cached').length} steps done${run.result?.version ? `, registered ${run.result.model}@${run.result.version}` : ''}`);
    const body = JSON.stringify({
      format: 'berth-pipeline-run/1', text: message, pipeline: ctx.spec.name, run: ctx.run.id, trigger: run.trigger, params: run.params, result: run.result,
      steps: run.steps.map((s) => ({ name: s.name, state: s.state, error: s.error })),
    });
    // signed like alert webhooks when a secret is named (its value comes from the environment, never the file)
    const secretEnv = str(ctx, 'secretEnv');
    const secret = secretEnv !== undefined ? process.env[secretEnv] : undefined;
    if (secretEnv !== undefined && !secret) throw bad(`steps.${ctx.step.name}.with.secretEnv`, `an environment variable that holds the webhook secret (${secretEnv} is not set)`, secretEnv);
    const doFetch = host.fetch ?? fetch;
    let status = 0;
    let reason = '';
    // three attempts, 1 s then 2 s apart: a receiver restarting does not lose the notification
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const res = await doFetch(url, { method: 'POST', headers: webhookHeaders(body, secret, Date.now()), body, signal: AbortSignal.timeout(10_000) });
        status = res.status;
        if (status >= 200 && status < 300) break;
        reason = `answered ${status}`;
      } catch (err) {
        reason = `could not be reached: ${toBerthError(err).message}`;
      }
      if (attempt < 3 && !ctx.signal.aborted) await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
    if (status < 200 || status >= 300) throw new BerthError('UNAVAILABLE', `the webhook ${url} ${reason} (3 attempts)`, { field: `steps.${ctx.step.name}.with.url`, got: status || reason });
    ctx.log(`notified ${url} (${status}): ${message}`);
    return { result: { summary: `notified (${status})`, status, message } };
  };
}

/** The built-in steps, wired to a host. */
export function builtinSteps(host: PipelineHost): Record<BuiltinStepName, BuiltinRunner> {
  return { evaluate: evaluateStep(host), compare: compareStep(), register: registerStep(host), rollout: rolloutStep(host), notify: notifyStep(host) };
}

/**
 * Runs one pipeline run: steps in dependency order (independent ones side by side), each command
 * in its own process group with a timeout and retries with backoff, built-in steps in process.
 * Every step's outputs go to a directory of their own attempt and into the content-addressed
 * artifact store, so a cached step, a resumed run and another replica all find them again. What a
 * step printed, the metrics it logged and the datasets it read are stored with the run.
 *
 * A run killed at any point resumes after its last finished step: the store remembers which steps
 * ended and what they wrote; a step that was running starts again in a fresh directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile as writeFileBytes } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, toBerthError, type Logger } from '../core/index.js';
import type { ArtifactStore } from '../registry/index.js';
import { copyVerified, fingerprint, hashFile } from './fingerprint.js';
import { interpolate, interpolateDeep, type BuiltinStep, type BuiltinStepName, type CommandStep, type PipelineSpec, type StepSpec } from './spec.js';
import { FINISHED_STEP_STATES, type DatasetFingerprint, type OutputFile, type RunRecord, type RunResult, type RunState, type RunStore, type StepRecord, type StepState } from './store.js';
import { parseLoggedMetrics, TrackingServer, type LoggedMetric } from './tracking.js';

/** What a built-in step is handed. */
export interface BuiltinContext {
  run: RunRecord;
  spec: PipelineSpec;
  step: BuiltinStep;
  /** its `with`, references resolved */
  args: Record<string, unknown>;
  /** results of the steps before it, by name */
  results: ReadonlyMap<string, Record<string, unknown>>;
  /** a directory of its own for files it writes */
  dir: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

/** What a built-in step answers. A `failure` fails the step but keeps its result (a gate's table). */
export interface BuiltinOutcome {
  result: Record<string, unknown>;
  metrics?: { key: string; value: number }[];
  datasets?: DatasetFingerprint[];
  /** what the run produced (the version registered, the rollout started) */
  runResult?: RunResult;
  failure?: { code: string; message: string };
}

export type BuiltinRunner = (ctx: BuiltinContext) => Promise<BuiltinOutcome>;

/** Something a watcher of the run hears about (the CLI prints it live). */
export type RunEvent =
  | { kind: 'step-start'; step: string; attempt: number }
  | { kind: 'step-end'; step: string; state: StepState; seconds: number; note: string }
  | { kind: 'log'; step: string; stream: 'stdout' | 'stderr' | 'berth'; line: string };

export interface ExecutorOptions {
  store: RunStore;
  artifacts: ArtifactStore;
  /** runs live under `<runsDir>/<id>/` */
  runsDir: string;
  holder: string;
  builtins: Partial<Record<BuiltinStepName, BuiltinRunner>>;
  /** argv put before every command (a lower CPU priority on the server) */
  commandPrefix?: readonly string[];
  /** the environment commands start from (default: this process's) */
  env?: NodeJS.ProcessEnv;
  /** steps at once (default 2) */
  maxParallel?: number;
  /** reuse unchanged steps' outputs from earlier runs (default true) */
  useCache?: boolean;
  leaseMs?: number;
  heartbeatMs?: number;
  /** SIGTERM, then SIGKILL after this long (ms, default 5,000) */
  killGraceMs?: number;
  /** lines of one step kept in the database (the file under the run keeps them all; default 20,000) */
  maxStoredLines?: number;
  onEvent?: (e: RunEvent) => void;
  logger?: Logger;
  /** stop from outside (shutdown): the run is given back, not finished */
  signal?: AbortSignal;
}

type StopReason = 'cancel' | 'shutdown' | 'lease-lost';

const OK_STATES: readonly StepState[] = ['succeeded', 'cached'];

/** A step's run-relative directory for an attempt. */
function attemptDir(step: string, attempt: number): string {
  return `steps/${step}/${attempt}`;
}

/** Execute a run this process already holds (from `RunStore.createRun` or `claimRun`). */
export async function executeRun(claimed: RunRecord, opts: ExecutorOptions): Promise<RunRecord> {
  return new RunExecution(claimed, opts).execute();
}

class RunExecution {
  private readonly store: RunStore;
  private readonly spec: PipelineSpec;
  private readonly runDir: string;
  private readonly steps = new Map<string, StepRecord>();
  private readonly stop = new AbortController();
  private stopReason: StopReason | null = null;
  private readonly children = new Set<number>();
  private logSeq = 1;
  private pendingLogs: { seq: number; step: string; at: number; stream: string; line: string }[] = [];
  private readonly storedLines = new Map<string, number>();
  private logFiles = new Map<string, WriteStream>();
  private tracking: TrackingServer | null = null;
  private runResult: RunResult;

  constructor(private run: RunRecord, private readonly opts: ExecutorOptions) {
    this.store = opts.store;
    this.spec = run.spec;
    this.runDir = path.join(opts.runsDir, String(run.id));
    for (const s of run.steps) this.steps.set(s.name, s);
    this.runResult = run.result ?? {};
  }

  async execute(): Promise<RunRecord> {
    const leaseMs = this.opts.leaseMs ?? 15_000;
    const outer = this.opts.signal;
    const onOuter = (): void => this.halt('shutdown');
    if (outer?.aborted) this.halt('shutdown');
    outer?.addEventListener('abort', onOuter);
    const beat = setInterval(() => {
      this.store.heartbeat(this.run.id, this.opts.holder, leaseMs).then(
        (r) => { if (r.cancelRequested) this.halt('cancel'); },
        () => this.halt('lease-lost'),
      );
      void this.flushLogs();
    }, this.opts.heartbeatMs ?? 3_000);
    beat.unref();
    try {
      await mkdir(path.join(this.runDir, 'logs'), { recursive: true });
      this.logSeq = await this.store.nextLogSeq(this.run.id);
      this.tracking = new TrackingServer((step, metrics) => this.store.addMetrics(this.run.id, step, metrics));
      await this.tracking.start();
      if (this.run.attempts > 1) this.note('', `resuming run ${this.run.id} (attempt ${this.run.attempts}): ${[...this.steps.values()].filter((s) => FINISHED_STEP_STATES.includes(s.state)).map((s) => `${s.name} ${s.state}`).join(', ') || 'no step had finished'}`);
      await this.restoreFinishedOutputs();
      await this.schedule();
    } catch (err) {
      if (this.stopReason === null) {
        const e = toBerthError(err);
        this.note('', `the run stopped: ${e.message}`);
        await this.flushLogs();
        return this.finish('failed', { code: e.code, message: e.message });
      }
    } finally {
      clearInterval(beat);
      outer?.removeEventListener('abort', onOuter);
      await this.tracking?.close();
      for (const f of this.logFiles.values()) f.end();
    }
    await this.flushLogs();
    if (this.stopReason === 'shutdown' || this.stopReason === 'lease-lost') {
      if (this.stopReason === 'shutdown') await this.store.releaseRun(this.run.id, this.opts.holder);
      return this.store.getRun(this.run.id);
    }
    if (this.stopReason === 'cancel') {
      for (const s of this.steps.values()) if (!FINISHED_STEP_STATES.includes(s.state)) await this.setStep(s.name, { state: 'cancelled', finishedAt: Date.now() });
      return this.finish('cancelled', { code: 'CANCELLED', message: 'cancelled on request' });
    }
    const failed = this.spec.steps.map((s) => this.steps.get(s.name)!).find((s) => s.state === 'failed');
    if (failed) return this.finish('failed', { code: failed.error?.code ?? 'STEP_FAILED', message: `step ${failed.name} failed: ${failed.error?.message ?? 'no reason recorded'}` });
    return this.finish('succeeded', null);
  }

  private async finish(state: RunState, error: { code: string; message: string } | null): Promise<RunRecord> {
    const hasResult = Object.keys(this.runResult).length > 0;
    this.run = await this.store.finishRun(this.run.id, this.opts.holder, state, error, hasResult ? this.runResult : null);
    return this.run;
  }

  private halt(reason: StopReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.stop.abort();
    for (const pid of this.children) killGroup(pid, 'SIGTERM');
    const grace = setTimeout(() => { for (const pid of this.children) killGroup(pid, 'SIGKILL'); }, this.opts.killGraceMs ?? 5_000);
    grace.unref();
  }

  /** Steps that ended in an earlier attempt of the run (maybe on another machine) get their files back. */
  private async restoreFinishedOutputs(): Promise<void> {
    for (const s of this.steps.values()) {
      if (!OK_STATES.includes(s.state) || !s.outputs) continue;
      for (const out of Object.values(s.outputs)) await this.materialize(out);
    }
  }

  private async materialize(out: OutputFile): Promise<void> {
    const file = path.join(this.runDir, out.file);
    if (existsSync(file) && (await hashFile(file)).sha256 === out.sha256) return;
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    const local = this.opts.artifacts.path(out.sha256);
    if (existsSync(local)) {
      // a streamed copy, verified as it goes: a large output never sits in memory
      await copyVerified(local, tmp, out.sha256);
    } else {
      await writeFileBytes(tmp, await this.opts.artifacts.read(out.sha256));
    }
    await rename(tmp, file);
  }

  /** Start every step whose needs ended, up to the parallel limit, until none is left. */
  private async schedule(): Promise<void> {
    const limit = Math.max(1, this.opts.maxParallel ?? 2);
    const running = new Map<string, Promise<void>>();
    for (;;) {
      if (this.stopReason !== null) break;
      for (const s of this.spec.steps) {
        if (running.size >= limit) break;
        const rec = this.steps.get(s.name)!;
        if (rec.state !== 'pending' || running.has(s.name)) continue;
        const needs = s.needs.map((n) => this.steps.get(n)!);
        if (!needs.every((n) => FINISHED_STEP_STATES.includes(n.state))) continue;
        const verdict = this.condition(s);
        if (verdict !== null) {
          await this.setStep(s.name, { state: 'skipped', finishedAt: Date.now(), error: { code: 'SKIPPED', message: verdict } });
          this.opts.onEvent?.({ kind: 'step-end', step: s.name, state: 'skipped', seconds: 0, note: verdict });
          continue;
        }
        const p = this.runStep(s).finally(() => running.delete(s.name));
        running.set(s.name, p);
      }
      const left = this.spec.steps.some((s) => this.steps.get(s.name)!.state === 'pending');
      if (running.size === 0) {
        if (!left) break;
        // pending steps whose needs will never end: cannot happen with a checked DAG
        if (!this.spec.steps.some((s) => this.steps.get(s.name)!.state === 'pending' && s.needs.every((n) => FINISHED_STEP_STATES.includes(this.steps.get(n)!.state)))) break;
        continue;
      }
      await Promise.race(running.values());
    }
    await Promise.allSettled(running.values());
  }

  /** Null when the step should run; else why it is skipped. */
  private condition(s: StepSpec): string | null {
    const ancestorsFailed = this.failedAncestors(s.name);
    if (s.when === 'always') return null;
    if (s.when === 'failure') return ancestorsFailed.length > 0 ? null : 'not run: it runs only after a failure, and nothing before it failed';
    const notOk = s.needs.map((n) => this.steps.get(n)!).filter((n) => !OK_STATES.includes(n.state));
    if (notOk.length === 0) return null;
    return `not run: it needs ${notOk.map((n) => `${n.name} (${n.state})`).join(', ')}`;
  }

  private failedAncestors(name: string): string[] {
    const out = new Set<string>();
    const visit = (n: string): void => {
      for (const need of this.spec.steps.find((s) => s.name === n)!.needs) {
        if (this.steps.get(need)!.state === 'failed') out.add(need);
        visit(need);
      }
    };
    visit(name);
    return [...out];
  }

  private async setStep(name: string, patch: Parameters<RunStore['updateStep']>[2]): Promise<void> {
    await this.store.updateStep(this.run.id, name, patch);
    const cur = this.steps.get(name)!;
    const iso = (ms: number | null | undefined): string | null | undefined => (ms === undefined ? undefined : ms === null ? null : new Date(ms).toISOString());
    this.steps.set(name, {
      ...cur,
      ...(patch.state !== undefined ? { state: patch.state } : {}),
      ...(patch.attempts !== undefined ? { attempts: patch.attempts } : {}),
      ...(patch.cacheKey !== undefined ? { cacheKey: patch.cacheKey } : {}),
      ...(patch.cachedFrom !== undefined ? { cachedFrom: patch.cachedFrom } : {}),
      ...(patch.outputs !== undefined ? { outputs: patch.outputs } : {}),
      ...(patch.result !== undefined ? { result: patch.result } : {}),
      ...(patch.startedAt !== undefined ? { startedAt: iso(patch.startedAt)! } : {}),
      ...(patch.finishedAt !== undefined ? { finishedAt: iso(patch.finishedAt)! } : {}),
      ...(patch.exitCode !== undefined ? { exitCode: patch.exitCode } : {}),
      ...(patch.error !== undefined ? { error: patch.error } : {}),
    });
  }

  // references ----------------------------------------------------------------------------------

  /** The value of `${ref}` for a step; `own` is the step's attempt directory (run-relative). */
  private lookup(own: { step: StepSpec; dir: string } | null): (ref: string) => string | undefined {
    return (ref) => {
      const parts = ref.split('.');
      if (parts[0] === 'params' && parts.length === 2) {
        const v = this.run.params[parts[1]!];
        return v === undefined ? undefined : String(v);
      }
      if (ref === 'run.id') return String(this.run.id);
      if (ref === 'run.dir') return this.runDir;
      if (ref === 'pipeline.name') return this.spec.name;
      if (parts[0] === 'outputs' && own && own.step.kind === 'command') {
        const dir = path.join(this.runDir, own.dir);
        if (parts.length === 1 || (parts.length === 2 && parts[1] === 'dir')) return dir;
        const file = own.step.outputs[parts[1]!];
        return file === undefined ? undefined : path.join(dir, file);
      }
      if (parts[0] === 'steps' && parts.length >= 3) {
        const rec = this.steps.get(parts[1]!);
        if (!rec) return undefined;
        if (parts[2] === 'outputs' && parts.length === 4) {
          const out = rec.outputs?.[parts[3]!];
          return out ? path.join(this.runDir, out.file) : undefined;
        }
        if (parts[2] === 'dir' && parts.length === 3) {
          const dir = rec.result?.['dir'];
          return typeof dir === 'string' ? path.join(this.runDir, dir) : undefined;
        }
        if (parts[2] === 'result') {
          let v: unknown = rec.result;
          for (const k of parts.slice(3)) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
          if (v === undefined || v === null) return undefined;
          return typeof v === 'object' ? JSON.stringify(v) : String(v);
        }
      }
      return undefined;
    };
  }

  /**
   * The same references, as the cache key sees them: upstream files by content, this run's own
   * paths as placeholders. Two runs that would do the same work get the same key.
   */
  private keyLookup(): (ref: string) => string | undefined {
    const real = this.lookup(null);
    return (ref) => {
      const parts = ref.split('.');
      if (ref === 'run.id' || ref === 'run.dir') return `<${ref}>`;
      if (parts[0] === 'outputs') return `<${ref}>`;
      if (parts[0] === 'steps' && parts[2] === 'outputs' && parts.length === 4) {
        const out = this.steps.get(parts[1]!)?.outputs?.[parts[3]!];
        return out ? `<sha256:${out.sha256}>` : undefined;
      }
      if (parts[0] === 'steps' && parts[2] === 'dir') {
        const rec = this.steps.get(parts[1]!);
        return rec?.outputs ? `<dir:${Object.values(rec.outputs).map((o) => o.sha256).sort().join(',')}>` : undefined;
      }
      return real(ref);
    };
  }

  // steps -----------------------------------------------------------------------------------------

  private async runStep(s: StepSpec): Promise<void> {
    const started = Date.now();
    try {
      if (s.kind === 'command') await this.runCommandStep(s);
      else await this.runBuiltinStep(s);
    } catch (err) {
      if (this.stopReason !== null) return;
      const e = toBerthError(err);
      const rec = this.steps.get(s.name)!;
      this.note(s.name, `failed: ${e.message}`);
      await this.setStep(s.name, { state: 'failed', finishedAt: Date.now(), error: { code: e.code, message: e.message }, attempts: Math.max(rec.attempts, 1) });
      this.opts.onEvent?.({ kind: 'step-end', step: s.name, state: 'failed', seconds: (Date.now() - started) / 1000, note: e.message });
    }
  }

  private async runBuiltinStep(s: BuiltinStep): Promise<void> {
    const runner = this.opts.builtins[s.uses];
    if (!runner) throw new BerthError('FAILED_PRECONDITION', `the built-in step "${s.uses}" is not available here`, { field: `steps.${s.name}.uses`, got: s.uses });
    const rec = this.steps.get(s.name)!;
    const attempt = rec.attempts + 1;
    const started = Date.now();
    await this.setStep(s.name, { state: 'running', attempts: attempt, startedAt: started, error: null, exitCode: null });
    this.opts.onEvent?.({ kind: 'step-start', step: s.name, attempt });
    const args = interpolateDeep(s.with, `steps.${s.name}.with`, this.lookup(null)) as Record<string, unknown>;
    const dir = path.join(this.runDir, attemptDir(s.name, attempt));
    await mkdir(dir, { recursive: true });
    const results = new Map<string, Record<string, unknown>>();
    for (const [n, r] of this.steps) if (r.result) results.set(n, r.result);
    await this.store.clearMetrics(this.run.id, s.name);
    const outcome = await runner({ run: this.run, spec: this.spec, step: s, args, results, dir, log: (line) => this.note(s.name, line), signal: this.stop.signal });
    if (this.stopReason !== null) return;
    if (outcome.metrics && outcome.metrics.length > 0) {
      await this.store.addMetrics(this.run.id, s.name, outcome.metrics.map((m) => ({ key: m.key, value: m.value, metricStep: null, at: Date.now() })));
    }
    if (outcome.datasets) await this.store.addDatasets(this.run.id, s.name, outcome.datasets);
    if (outcome.runResult) {
      this.runResult = { ...this.runResult, ...outcome.runResult };
      await this.store.setResult(this.run.id, this.runResult);
    }
    const seconds = (Date.now() - started) / 1000;
    if (outcome.failure) {
      this.note(s.name, outcome.failure.message);
      await this.setStep(s.name, { state: 'failed', result: outcome.result, finishedAt: Date.now(), error: outcome.failure });
      this.opts.onEvent?.({ kind: 'step-end', step: s.name, state: 'failed', seconds, note: outcome.failure.message });
      return;
    }
    await this.setStep(s.name, { state: 'succeeded', result: outcome.result, finishedAt: Date.now() });
    this.opts.onEvent?.({ kind: 'step-end', step: s.name, state: 'succeeded', seconds, note: typeof outcome.result['summary'] === 'string' ? outcome.result['summary'] : '' });
  }

  private async runCommandStep(s: CommandStep): Promise<void> {
    const field = `steps.${s.name}`;
    const real = this.lookup(null);
    const workdir = s.cwd === null ? this.run.workdir : path.resolve(this.run.workdir, interpolate(s.cwd, `${field}.cwd`, real));
    const inputs = s.inputs.map((p, i) => path.resolve(workdir, interpolate(p, `${field}.inputs[${i}]`, real)));
    const inputPrints = await Promise.all(inputs.map((p, i) => fingerprint(p, `${field}.inputs[${i}]`)));
    const dataPaths = new Set(s.data.map((p, i) => path.resolve(workdir, interpolate(p, `${field}.data[${i}]`, real))));
    const datasets: DatasetFingerprint[] = inputs.flatMap((p, i) => (dataPaths.has(p) ? [{ path: p, sha256: inputPrints[i]!.sha256, bytes: inputPrints[i]!.bytes }] : []));
    await this.store.addDatasets(this.run.id, s.name, datasets);

    const keyLookup = this.keyLookup();
    const template = interpolateDeep({ run: s.run, env: s.env, cwd: s.cwd, outputs: s.outputs, inputs: s.inputs }, field, keyLookup);
    const cacheKey = createHash('sha256').update(JSON.stringify({ v: 1, pipeline: this.spec.name, step: s.name, template, inputs: inputPrints.map((f) => f.sha256) })).digest('hex');
    const rec = this.steps.get(s.name)!;

    if (s.cache && this.opts.useCache !== false) {
      const hit = await this.store.cacheLookup(cacheKey);
      if (hit && (await this.allStored(hit.outputs))) {
        const attempt = rec.attempts + 1;
        const dir = attemptDir(s.name, attempt);
        const outputs: Record<string, OutputFile> = {};
        for (const [name, out] of Object.entries(hit.outputs)) {
          const file = `${dir}/${s.outputs[name] ?? path.basename(out.file)}`;
          outputs[name] = { ...out, file };
          await this.materialize(outputs[name]!);
        }
        const old = await this.store.metrics(hit.runId);
        await this.store.clearMetrics(this.run.id, s.name);
        await this.store.addMetrics(this.run.id, s.name, old.filter((m) => m.step === s.name).map((m) => ({ key: m.key, value: m.value, metricStep: m.metricStep, at: Date.parse(m.at) })));
        const note = `unchanged since run ${hit.runId} (cache key ${cacheKey.slice(0, 12)}): outputs reused, not run again`;
        await this.setStep(s.name, { state: 'cached', attempts: attempt, cacheKey, cachedFrom: hit.runId, outputs, result: { dir }, startedAt: Date.now(), finishedAt: Date.now(), exitCode: null, error: null });
        this.note(s.name, note);
        this.opts.onEvent?.({ kind: 'step-end', step: s.name, state: 'cached', seconds: 0, note });
        return;
      }
    }

    const maxAttempts = s.retries + 1;
    let attemptsHere = 0;
    for (;;) {
      attemptsHere++;
      const attempt = this.steps.get(s.name)!.attempts + 1;
      const dir = attemptDir(s.name, attempt);
      const absDir = path.join(this.runDir, dir);
      await rm(absDir, { recursive: true, force: true });
      await mkdir(absDir, { recursive: true });
      const started = Date.now();
      await this.setStep(s.name, { state: 'running', attempts: attempt, cacheKey, startedAt: started, error: null, exitCode: null });
      await this.store.clearMetrics(this.run.id, s.name);
      this.opts.onEvent?.({ kind: 'step-start', step: s.name, attempt });
      const outcome = await this.spawnCommand(s, { dir, absDir, workdir });
      if (this.stopReason !== null) return;
      const seconds = (Date.now() - started) / 1000;
      let error = outcome.error;
      let outputs: Record<string, OutputFile> | null = null;
      if (error === null) {
        try {
          outputs = await this.collectOutputs(s, dir);
        } catch (err) {
          error = { code: toBerthError(err).code, message: toBerthError(err).message };
        }
      }
      if (error === null && outputs !== null) {
        if (s.cache) await this.store.cachePut(cacheKey, this.spec.name, s.name, this.run.id, outputs);
        await this.setStep(s.name, { state: 'succeeded', outputs, result: { dir, seconds }, finishedAt: Date.now(), exitCode: outcome.exitCode });
        this.opts.onEvent?.({ kind: 'step-end', step: s.name, state: 'succeeded', seconds, note: '' });
        return;
      }
      const final = attemptsHere >= maxAttempts;
      const wait = s.backoffMs * 2 ** (attemptsHere - 1);
      this.note(s.name, `attempt ${attemptsHere} of ${maxAttempts} failed: ${error!.message}${final ? '' : `; trying again in ${formatMs(wait)}`}`);
      if (final) {
        await this.setStep(s.name, { state: 'failed', finishedAt: Date.now(), exitCode: outcome.exitCode, error: error!, result: { dir, seconds } });
        this.opts.onEvent?.({ kind: 'step-end', step: s.name, state: 'failed', seconds, note: error!.message });
        return;
      }
      await sleep(wait, this.stop.signal);
      if (this.stopReason !== null) return;
    }
  }

  private async allStored(outputs: Record<string, OutputFile>): Promise<boolean> {
    for (const o of Object.values(outputs)) if (!(await this.opts.artifacts.has(o.sha256))) return false;
    return true;
  }

  /** Hash the declared outputs into the artifact store; a missing one fails the step, naming it. */
  private async collectOutputs(s: CommandStep, dir: string): Promise<Record<string, OutputFile>> {
    const out: Record<string, OutputFile> = {};
    for (const [name, rel] of Object.entries(s.outputs)) {
      const file = path.join(this.runDir, dir, rel);
      if (!existsSync(file)) {
        throw new BerthError('FAILED_PRECONDITION', `the command exited 0 but did not write its output ${name} (${rel}); write it to \${outputs.${name}} (or $BERTH_OUTPUT_DIR/${rel})`, {
          field: `steps.${s.name}.outputs.${name}`, expected: rel, got: 'no file',
        });
      }
      const stored = await this.opts.artifacts.put(file);
      out[name] = { file: `${dir}/${rel}`, sha256: stored.sha256, bytes: stored.sizeBytes };
    }
    return out;
  }

  private async spawnCommand(s: CommandStep, where: { dir: string; absDir: string; workdir: string }): Promise<{ exitCode: number | null; error: { code: string; message: string } | null }> {
    const field = `steps.${s.name}`;
    const own = this.lookup({ step: s, dir: where.dir });
    const argv = typeof s.run === 'string' ? ['/bin/sh', '-c', interpolate(s.run, `${field}.run`, own)] : s.run.map((a, i) => interpolate(a, `${field}.run[${i}]`, own));
    const env: NodeJS.ProcessEnv = { ...(this.opts.env ?? process.env) };
    for (const [k, v] of Object.entries(this.run.params)) env[`BERTH_PARAM_${k.toUpperCase().replace(/-/g, '_')}`] = String(v);
    for (const [k, v] of Object.entries(s.env)) env[k] = interpolate(v, `${field}.env.${k}`, own);
    const metricsFile = path.join(this.runDir, 'logs', `${s.name}.metrics.jsonl`);
    await rm(metricsFile, { force: true });
    Object.assign(env, {
      BERTH_RUN_ID: String(this.run.id), BERTH_PIPELINE: this.spec.name, BERTH_STEP: s.name, BERTH_OUTPUT_DIR: where.absDir,
      BERTH_METRICS_FILE: metricsFile, BERTH_TRACKING_URL: this.tracking!.urlFor(s.name),
    });
    const full = [...(this.opts.commandPrefix ?? []), ...argv];
    this.note(s.name, `$ ${argv.map(shellQuote).join(' ')}`);
    // stdout goes straight into the step's log file (no pipe to drain, nothing on the event loop per
    // line: a chatty training loop is never slowed by Berth); a tailer reads it for the live view and
    // the stored lines. stderr stays a pipe, so its lines keep their mark.
    const logPath = this.logPath(s.name);
    const out = await open(logPath, 'a');
    const tail = new LogTail(logPath, (await out.stat()).size, (line) => this.line(s.name, 'stdout', line, true));
    let child: ChildProcess;
    let spawnError: Promise<Error>;
    try {
      child = spawn(full[0]!, full.slice(1), { cwd: where.workdir, env, detached: true, stdio: ['ignore', out.fd, 'pipe'] });
      // listened to before anything awaits: a command that cannot start reports it on the next tick
      spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    } finally {
      await out.close();
    }
    if (child.pid !== undefined) this.children.add(child.pid);
    this.pipeLines(s.name, 'stderr', child.stderr!);
    const tailing = setInterval(() => void tail.read(), 200);
    let timedOut = false;
    const timer = s.timeoutMs === null ? null : setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, 'SIGTERM');
      setTimeout(() => { if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL'); }, this.opts.killGraceMs ?? 5_000).unref();
    }, s.timeoutMs);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    const first = await Promise.race([exit, spawnError]);
    clearInterval(tailing);
    await tail.finish();
    if (timer) clearTimeout(timer);
    if (child.pid !== undefined) this.children.delete(child.pid);
    await this.ingestMetricsFile(s.name, metricsFile);
    if (first instanceof Error) {
      return { exitCode: null, error: { code: 'FAILED_PRECONDITION', message: `could not start ${JSON.stringify(argv[0])}: ${first.message} (is it installed, and is the path right relative to ${where.workdir}?)` } };
    }
    if (timedOut) return { exitCode: first.code, error: { code: 'DEADLINE_EXCEEDED', message: `timed out after ${formatMs(s.timeoutMs!)} and was stopped (timeout: ${formatMs(s.timeoutMs!)})` } };
    if (first.code === 0) return { exitCode: 0, error: null };
    const how = first.code !== null ? `exit code ${first.code}` : `signal ${first.signal}`;
    return { exitCode: first.code, error: { code: 'STEP_FAILED', message: `the command ended with ${how}; its output is in \`berth pipeline logs ${this.run.id} --step ${s.name}\`` } };
  }

  private async ingestMetricsFile(step: string, file: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return;
    }
    const metrics: LoggedMetric[] = [];
    let bad = 0;
    const at = Date.now();
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        value = undefined;
      }
      const parsed = value === undefined ? { error: 'not JSON' } : parseLoggedMetrics(value, at);
      if ('error' in parsed) {
        if (bad++ < 5) this.note(step, `$BERTH_METRICS_FILE line ${i + 1} ignored: ${parsed.error}`);
        continue;
      }
      metrics.push(...parsed.metrics);
    }
    await this.store.addMetrics(this.run.id, step, metrics);
  }

  // logs ----------------------------------------------------------------------------------------

  private pipeLines(step: string, stream: 'stdout' | 'stderr', from: NodeJS.ReadableStream): void {
    let rest = '';
    from.setEncoding('utf8');
    from.on('data', (chunk: string) => {
      rest += chunk;
      let i: number;
      while ((i = rest.indexOf('\n')) >= 0) {
        this.line(step, stream, rest.slice(0, i).replace(/\r$/, ''));
        rest = rest.slice(i + 1);
      }
      if (rest.length > 64 * 1024) {
        this.line(step, stream, rest);
        rest = '';
      }
    });
    from.on('end', () => { if (rest !== '') this.line(step, stream, rest); });
  }

  private note(step: string, line: string): void {
    this.line(step, 'berth', line);
  }

  private logPath(step: string): string {
    return path.join(this.runDir, 'logs', `${step}.log`);
  }

  /**
   * One line of a step: to the live view, to the database (up to the cap), and, unless it is already
   * there (`inFile`: the command's stdout, which writes the file itself), to the step's log file.
   */
  private line(step: string, stream: 'stdout' | 'stderr' | 'berth', line: string, inFile = false): void {
    const name = step === '' ? 'run' : step;
    if (!inFile) {
      let file = this.logFiles.get(name);
      if (!file) {
        file = createWriteStream(this.logPath(name), { flags: 'a' });
        this.logFiles.set(name, file);
      }
      file.write(`${stream === 'berth' ? BERTH_MARK : stream === 'stderr' ? ERR_MARK : ''}${line}\n`);
    }
    this.opts.onEvent?.({ kind: 'log', step: name, stream, line });
    const max = this.opts.maxStoredLines ?? 20_000;
    if (stream !== 'berth') {
      const n = (this.storedLines.get(name) ?? 0) + 1;
      this.storedLines.set(name, n);
      if (n > max) {
        if (n === max + 1) this.pendingLogs.push({ seq: this.logSeq++, step: name, at: Date.now(), stream: 'berth', line: `(later lines are only in ${this.logPath(name)})` });
        return;
      }
    }
    this.pendingLogs.push({ seq: this.logSeq++, step: name, at: Date.now(), stream, line: line.length > 8192 ? `${line.slice(0, 8192)}…` : line });
    if (this.pendingLogs.length >= 2000) void this.flushLogs();
  }

  private flushing: Promise<void> = Promise.resolve();

  private flushLogs(): Promise<void> {
    const batch = this.pendingLogs;
    this.pendingLogs = [];
    this.flushing = this.flushing.then(() => this.store.appendLogs(this.run.id, batch)).catch((err: unknown) => {
      this.opts.logger?.warn(`pipeline run ${this.run.id}: could not store ${batch.length} log lines: ${(err as Error).message}`);
    });
    return this.flushing;
  }
}

/** How lines Berth writes into a step's log file begin (the command's own stdout lines carry no mark). */
const BERTH_MARK = '[berth] ';
const ERR_MARK = '[err] ';

/**
 * Reads the lines a command appends to its log file, from where the file ended when it started.
 * Lines Berth wrote into the same file (its notes, the command's stderr) carry a mark and are
 * skipped: they were reported when written. A command printing such a mark itself at the start of a
 * line keeps it in the file but not in the live view.
 */
class LogTail {
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private rest = '';
  private reading: Promise<void> = Promise.resolve();

  constructor(private readonly file: string, private offset: number, private readonly onLine: (line: string) => void) {}

  read(): Promise<void> {
    this.reading = this.reading.then(() => this.drain()).catch(() => undefined);
    return this.reading;
  }

  private async drain(): Promise<void> {
    const fh = await open(this.file, 'r');
    try {
      for (;;) {
        const { bytesRead } = await fh.read(this.buf, 0, this.buf.length, this.offset);
        if (bytesRead === 0) return;
        this.offset += bytesRead;
        const text = this.rest + this.buf.toString('utf8', 0, bytesRead);
        const lines = text.split('\n');
        this.rest = lines.pop()!;
        if (this.rest.length > 64 * 1024) {
          lines.push(this.rest);
          this.rest = '';
        }
        for (const l of lines) {
          if (l.startsWith(BERTH_MARK) || l.startsWith(ERR_MARK)) continue;
          this.onLine(l.endsWith('\r') ? l.slice(0, -1) : l);
        }
        if (bytesRead < this.buf.length) return;
      }
    } finally {
      await fh.close();
    }
  }

  /** Read to the end, and hand on a last line without its newline. */
  async finish(): Promise<void> {
    await this.read();
    if (this.rest !== '' && !this.rest.startsWith(BERTH_MARK) && !this.rest.startsWith(ERR_MARK)) this.onLine(this.rest);
    this.rest = '';
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => { signal.removeEventListener('abort', done); resolve(); }, ms);
    const done = (): void => { clearTimeout(t); resolve(); };
    signal.addEventListener('abort', done, { once: true });
  });
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(1)}m`;
  return `${+(ms / 3_600_000).toFixed(1)}h`;
}

function shellQuote(a: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}


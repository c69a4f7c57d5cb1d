/**
 * The pipeline file (`berth.pipeline.yaml`), checked once: names, the DAG, durations, retries,
 * references between steps and params, triggers. Everything a run needs is plain data here, so
 * a run stores the spec it ran with and a resume never re-reads a file that may have changed.
 */
import { parse as parseYaml } from 'yaml';
import { BerthError } from '../core/index.js';
import { parseCron, MISSED_POLICIES, type MissedPolicy } from '../jobs/index.js';
import { parseDuration } from '../rollout/index.js';

export const BUILTIN_STEPS = ['evaluate', 'compare', 'register', 'rollout', 'notify'] as const;
export type BuiltinStepName = (typeof BUILTIN_STEPS)[number];

/** When a step runs, given how the steps it needs ended. */
export const STEP_CONDITIONS = ['success', 'failure', 'always'] as const;
export type StepCondition = (typeof STEP_CONDITIONS)[number];

export type ParamValue = string | number | boolean;

interface StepBase {
  name: string;
  /** steps that must end before this one starts */
  needs: string[];
  /** `success` (default): all needed steps succeeded; `failure`: one failed; `always` */
  when: StepCondition;
  /** null: no limit */
  timeoutMs: number | null;
  /** extra attempts after a failure */
  retries: number;
  /** wait before the first retry; doubles each time (ms) */
  backoffMs: number;
  /** reuse the outputs of an earlier run with the same cache key */
  cache: boolean;
}

/** A step that runs the user's command (training, feature engineering…). */
export interface CommandStep extends StepBase {
  kind: 'command';
  /** argv (run directly) or one string (run by `sh -c`) */
  run: string[] | string;
  env: Record<string, string>;
  /** files or directories the step reads: hashed into the cache key */
  inputs: string[];
  /** the inputs that are datasets: fingerprinted into the run and the lineage of what it registers */
  data: string[];
  /** name → file the step writes into its output directory */
  outputs: Record<string, string>;
  /** the directory it runs in, relative to the pipeline's (default: the pipeline's) */
  cwd: string | null;
}

/** A step Berth carries out itself. */
export interface BuiltinStep extends StepBase {
  kind: 'builtin';
  uses: BuiltinStepName;
  /** its arguments, `${…}` references unresolved */
  with: Record<string, unknown>;
}

export type StepSpec = CommandStep | BuiltinStep;

export type TriggerSpec =
  | { kind: 'schedule'; id: string; cron: string; timezone: string; missed: MissedPolicy }
  /** an alert of this rule (and deployment) starting to fire */
  | { kind: 'alert'; id: string; rule: string | null; deployment: string | null; cooldownMs: number }
  /** this many new feedback labels on a deployment since the last run it started */
  | { kind: 'feedback'; id: string; deployment: string; labels: number };

export interface PipelineSpec {
  name: string;
  description: string | null;
  /** defaults; `--param k=v` and the API override them */
  params: Record<string, ParamValue>;
  /** in an order that respects `needs` */
  steps: StepSpec[];
  triggers: TriggerSpec[];
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;
const REF = /\$\{\s*([^}]*?)\s*\}/g;
const STEP_KEYS = ['run', 'uses', 'with', 'needs', 'when', 'timeout', 'retries', 'backoff', 'cache', 'env', 'inputs', 'data', 'outputs', 'cwd', 'description'];

function bad(field: string, expected: string, got: unknown, hint = ''): BerthError {
  const shown = typeof got === 'string' ? JSON.stringify(got) : JSON.stringify(got) ?? String(got);
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${shown}${hint ? `; ${hint}` : ''}`, { field, expected, got });
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function stringList(field: string, raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (typeof raw === 'string') return [raw];
  if (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string' || x === '')) throw bad(field, 'a list of non-empty strings', raw);
  return raw as string[];
}

function stringMap(field: string, raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) throw bad(field, 'a map of names to strings', raw);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw bad(`${field}.${k}`, 'a string', v);
    out[k] = String(v);
  }
  return out;
}

/** Parse the YAML (or JSON) text of a pipeline file. */
export function parsePipelineText(text: string, source = 'pipeline file'): PipelineSpec {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${source} is not valid YAML: ${(err as Error).message}`, { field: 'pipeline', expected: 'YAML', got: source }, { cause: err });
  }
  return parsePipeline(doc);
}

/** Check a pipeline document (parsed YAML or an API body). */
export function parsePipeline(doc: unknown): PipelineSpec {
  if (!isObject(doc)) throw bad('pipeline', 'a map with pipeline, params, steps and triggers', doc);
  for (const k of Object.keys(doc)) {
    if (!['pipeline', 'name', 'description', 'params', 'steps', 'triggers'].includes(k)) {
      throw bad(k, 'one of pipeline, description, params, steps, triggers', k, 'remove or rename the key');
    }
  }
  const name = doc['pipeline'] ?? doc['name'];
  if (typeof name !== 'string' || !NAME.test(name)) throw bad('pipeline', 'a name of letters, digits, - and _ (up to 63)', name);
  const description = doc['description'] === undefined ? null : String(doc['description']);

  const params: Record<string, ParamValue> = {};
  if (doc['params'] !== undefined && doc['params'] !== null) {
    if (!isObject(doc['params'])) throw bad('params', 'a map of names to values', doc['params']);
    for (const [k, v] of Object.entries(doc['params'])) {
      if (!NAME.test(k)) throw bad(`params.${k}`, 'a name of letters, digits, - and _', k);
      if (typeof v !== 'string' && typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v))) throw bad(`params.${k}`, 'a string, number or boolean', v);
      params[k] = v;
    }
  }

  const rawSteps = doc['steps'];
  if (!isObject(rawSteps) || Object.keys(rawSteps).length === 0) throw bad('steps', 'a map of step names to steps (at least one)', rawSteps);
  const steps = new Map<string, StepSpec>();
  for (const [stepName, raw] of Object.entries(rawSteps)) {
    if (!NAME.test(stepName)) throw bad(`steps.${stepName}`, 'a step name of letters, digits, - and _', stepName);
    steps.set(stepName, parseStep(stepName, raw));
  }
  for (const s of steps.values()) {
    for (const n of s.needs) if (!steps.has(n)) throw bad(`steps.${s.name}.needs`, `names of steps in this file (${[...steps.keys()].join(', ')})`, n);
  }
  const ordered = topologicalOrder(steps);
  const ancestors = ancestorsOf(ordered);
  for (const s of ordered) checkReferences(s, params, ancestors.get(s.name)!, steps);
  checkBuiltinWiring(ordered, ancestors);

  const triggers = parseTriggers(doc['triggers']);
  return { name, description, params, steps: ordered, triggers };
}

function parseStep(name: string, raw: unknown): StepSpec {
  const f = `steps.${name}`;
  if (!isObject(raw)) throw bad(f, 'a map with run (a command) or uses (a built-in step)', raw);
  for (const k of Object.keys(raw)) if (!STEP_KEYS.includes(k)) throw bad(`${f}.${k}`, `one of ${STEP_KEYS.join(', ')}`, k);
  if ((raw['run'] === undefined) === (raw['uses'] === undefined)) throw bad(f, 'exactly one of run (a command) or uses (a built-in step)', Object.keys(raw));
  const when = raw['when'] ?? 'success';
  if (typeof when !== 'string' || !(STEP_CONDITIONS as readonly string[]).includes(when)) throw bad(`${f}.when`, STEP_CONDITIONS.join(' | '), when);
  const timeoutMs = raw['timeout'] === undefined || raw['timeout'] === null ? null : parseDuration(`${f}.timeout`, raw['timeout'] as string | number);
  if (timeoutMs !== null && timeoutMs < 1) throw bad(`${f}.timeout`, 'a duration of at least 1ms', raw['timeout']);
  const retries = raw['retries'] ?? 0;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > 20) throw bad(`${f}.retries`, 'an integer from 0 to 20', retries);
  const backoffMs = parseDuration(`${f}.backoff`, (raw['backoff'] as string | number | undefined) ?? '2s');
  const cache = raw['cache'] ?? true;
  if (typeof cache !== 'boolean') throw bad(`${f}.cache`, 'true or false', cache);
  const base = { name, needs: stringList(`${f}.needs`, raw['needs']), when: when as StepCondition, timeoutMs, retries, backoffMs, cache };
  if (new Set(base.needs).size !== base.needs.length) throw bad(`${f}.needs`, 'each step once', base.needs);
  if (base.needs.includes(name)) throw bad(`${f}.needs`, 'other steps (a step cannot need itself)', name);

  if (raw['uses'] !== undefined) {
    const uses = raw['uses'];
    if (typeof uses !== 'string' || !(BUILTIN_STEPS as readonly string[]).includes(uses)) throw bad(`${f}.uses`, `a built-in step: ${BUILTIN_STEPS.join(', ')}`, uses);
    for (const k of ['env', 'inputs', 'data', 'outputs', 'cwd']) if (raw[k] !== undefined) throw bad(`${f}.${k}`, `nothing: ${k} belongs to run steps; built-in steps take their arguments in with`, raw[k]);
    const withArgs = raw['with'] ?? {};
    if (!isObject(withArgs)) throw bad(`${f}.with`, 'a map of arguments', withArgs);
    if ((uses === 'register' || uses === 'rollout') && when !== 'success') {
      throw bad(`${f}.when`, 'success: register and rollout never run after a failure', when);
    }
    // built-in steps read live state (an alias that moved, a deployment) or act on it: they always run
    return { ...base, cache: false, kind: 'builtin', uses: uses as BuiltinStepName, with: withArgs };
  }
  if (raw['with'] !== undefined) throw bad(`${f}.with`, 'nothing: with belongs to built-in steps (uses)', raw['with']);
  const run = raw['run'];
  if (!(typeof run === 'string' && run.trim() !== '') && !(Array.isArray(run) && run.length > 0 && run.every((x) => typeof x === 'string' || typeof x === 'number'))) {
    throw bad(`${f}.run`, 'a command: one string (run by sh -c) or a list of arguments', run);
  }
  const inputs = stringList(`${f}.inputs`, raw['inputs']);
  const data = stringList(`${f}.data`, raw['data']);
  const outputs = stringMap(`${f}.outputs`, raw['outputs']);
  for (const [k, file] of Object.entries(outputs)) {
    if (!NAME.test(k)) throw bad(`${f}.outputs.${k}`, 'an output name of letters, digits, - and _', k);
    if (file === '' || file.startsWith('/') || file.split(/[\\/]/).includes('..')) throw bad(`${f}.outputs.${k}`, 'a relative path inside the step output directory', file);
  }
  const cwd = raw['cwd'] === undefined ? null : String(raw['cwd']);
  return {
    ...base, kind: 'command', run: typeof run === 'string' ? run : (run as (string | number)[]).map(String),
    env: stringMap(`${f}.env`, raw['env']), inputs: [...inputs, ...data.filter((d) => !inputs.includes(d))], data, outputs, cwd,
  };
}

/** Kahn's order, keeping the file's order among steps that are ready together; a cycle is named. */
function topologicalOrder(steps: Map<string, StepSpec>): StepSpec[] {
  const done = new Set<string>();
  const out: StepSpec[] = [];
  while (out.length < steps.size) {
    const ready = [...steps.values()].find((s) => !done.has(s.name) && s.needs.every((n) => done.has(n)));
    if (!ready) {
      const left = [...steps.values()].filter((s) => !done.has(s.name)).map((s) => s.name);
      throw bad('steps', 'needs that form no cycle', left, `these steps wait on each other: ${left.join(' → ')}`);
    }
    done.add(ready.name);
    out.push(ready);
  }
  return out;
}

function ancestorsOf(ordered: StepSpec[]): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  for (const s of ordered) {
    const set = new Set<string>();
    for (const n of s.needs) {
      set.add(n);
      for (const a of map.get(n)!) set.add(a);
    }
    map.set(s.name, set);
  }
  return map;
}

/** Every `${…}` in a value, with the path of the field it sits in. */
export function referencesIn(value: unknown, field: string, out: { field: string; ref: string }[] = []): { field: string; ref: string }[] {
  if (typeof value === 'string') {
    for (const m of value.matchAll(REF)) out.push({ field, ref: m[1]! });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => referencesIn(v, `${field}[${i}]`, out));
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) referencesIn(v, `${field}.${k}`, out);
  }
  return out;
}

/** What a step may refer to: params, the run, its own outputs, and outputs/results of steps it waits on. */
function checkReferences(s: StepSpec, params: Record<string, ParamValue>, ancestors: Set<string>, steps: Map<string, StepSpec>): void {
  const f = `steps.${s.name}`;
  const values: Record<string, unknown> = s.kind === 'command' ? { run: s.run, env: s.env, inputs: s.inputs, cwd: s.cwd } : { with: s.with };
  for (const { field, ref } of referencesIn(values, f)) {
    const parts = ref.split('.');
    const [head] = parts;
    if (head === 'params' && parts.length === 2) {
      if (!(parts[1]! in params)) throw bad(field, `a declared param (${Object.keys(params).join(', ') || 'none declared: add params: to the file'})`, `\${${ref}}`);
      continue;
    }
    if (head === 'run' && parts.length === 2 && ['id', 'dir'].includes(parts[1]!)) continue;
    if (head === 'pipeline' && ref === 'pipeline.name') continue;
    if (head === 'outputs' && s.kind === 'command') {
      if (parts.length === 1 || (parts.length === 2 && parts[1] === 'dir')) continue;
      if (parts.length === 2 && parts[1]! in s.outputs) continue;
      throw bad(field, `one of this step's outputs (${Object.keys(s.outputs).join(', ') || 'none declared'}) or outputs.dir`, `\${${ref}}`);
    }
    if (head === 'steps' && parts.length >= 3) {
      const target = parts[1]!;
      if (!steps.has(target)) throw bad(field, 'a reference to a step in this file', `\${${ref}}`);
      if (!ancestors.has(target)) throw bad(field, `a step this one needs (directly or through others): add "${target}" to ${f}.needs`, `\${${ref}}`);
      const t = steps.get(target)!;
      if (parts[2] === 'dir' && parts.length === 3 && t.kind === 'command') continue;
      if (parts[2] === 'outputs' && parts.length === 4 && t.kind === 'command') {
        if (!(parts[3]! in t.outputs)) throw bad(field, `an output of step ${target} (${Object.keys(t.outputs).join(', ') || 'none declared'})`, `\${${ref}}`);
        continue;
      }
      if (parts[2] === 'result' && parts.length >= 4 && t.kind === 'builtin') continue;
      throw bad(field, `steps.${target}.outputs.<name> or steps.${target}.dir (run steps) or steps.${target}.result.<key> (built-in steps)`, `\${${ref}}`);
    }
    throw bad(field, 'a reference to params.<name>, steps.<step>.outputs.<name>, steps.<step>.result.<key>, outputs.<name>, run.id, run.dir or pipeline.name', `\${${ref}}`);
  }
}

/** The built-in steps' required arguments, and the guarantee that nothing is registered or rolled out past a failed gate. */
function checkBuiltinWiring(ordered: StepSpec[], ancestors: Map<string, Set<string>>): void {
  const byName = new Map(ordered.map((s) => [s.name, s]));
  const need = (s: BuiltinStep, key: string, expected: string): void => {
    const v = s.with[key];
    if (v === undefined || v === null || v === '') throw bad(`steps.${s.name}.with.${key}`, expected, v ?? null);
  };
  for (const s of ordered) {
    if (s.kind !== 'builtin') continue;
    switch (s.uses) {
      case 'evaluate':
        need(s, 'model', 'the model to evaluate: a file (${steps.train.outputs.model}) or a registry reference (credit@production)');
        need(s, 'dataset', 'a labelled dataset file (or a list of them)');
        break;
      case 'compare':
        need(s, 'candidate', 'the evaluate step of the candidate (its name)');
        need(s, 'champion', 'the evaluate step of the champion (its name)');
        for (const k of ['candidate', 'champion']) {
          const v = s.with[k];
          const target = typeof v === 'string' ? byName.get(v) : undefined;
          if (!target || target.kind !== 'builtin' || target.uses !== 'evaluate') throw bad(`steps.${s.name}.with.${k}`, 'the name of an evaluate step', v);
          if (!ancestors.get(s.name)!.has(target.name)) throw bad(`steps.${s.name}.needs`, `to include ${target.name} (the compare step reads its result)`, s.needs);
        }
        break;
      case 'register':
        need(s, 'model', 'the registered model name');
        need(s, 'file', 'the model file (${steps.train.outputs.model})');
        break;
      case 'rollout':
        need(s, 'deployment', 'the deployment to roll the new version out to');
        break;
      case 'notify':
        need(s, 'url', 'the webhook URL (http or https)');
        if (typeof s.with['url'] === 'string' && !/^https?:\/\//.test(s.with['url']) && !s.with['url'].startsWith('${')) throw bad(`steps.${s.name}.with.url`, 'an http(s) URL', s.with['url']);
        break;
    }
  }
}

function parseTriggers(raw: unknown): TriggerSpec[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw bad('triggers', 'a list of triggers (schedule, alert, feedback)', raw);
  const ids = new Set<string>();
  return raw.map((t, i) => {
    const f = `triggers[${i}]`;
    if (!isObject(t) || Object.keys(t).length !== 1) throw bad(f, 'a map with one of schedule, alert, feedback', t);
    const [kind, body] = Object.entries(t)[0]!;
    let trigger: TriggerSpec;
    if (kind === 'schedule') {
      const b = typeof body === 'string' ? { cron: body } : body;
      if (!isObject(b) || typeof b['cron'] !== 'string') throw bad(`${f}.schedule`, 'a cron expression, or {cron, timezone, missed}', body);
      const timezone = typeof b['timezone'] === 'string' ? b['timezone'] : 'UTC';
      parseCron(b['cron'], { timezone });
      const missed = (b['missed'] ?? 'skip') as MissedPolicy;
      if (!(MISSED_POLICIES as readonly string[]).includes(missed)) throw bad(`${f}.schedule.missed`, MISSED_POLICIES.join(' | '), b['missed']);
      trigger = { kind: 'schedule', id: `schedule:${b['cron']}@${timezone}`, cron: b['cron'], timezone, missed };
    } else if (kind === 'alert') {
      const b = body ?? {};
      if (!isObject(b)) throw bad(`${f}.alert`, 'a map with rule and/or deployment', body);
      const rule = b['rule'] === undefined ? null : String(b['rule']);
      const deployment = b['deployment'] === undefined ? null : String(b['deployment']);
      const cooldownMs = parseDuration(`${f}.alert.cooldown`, (b['cooldown'] as string | number | undefined) ?? '1h');
      trigger = { kind: 'alert', id: `alert:${rule ?? '*'}@${deployment ?? '*'}`, rule, deployment, cooldownMs };
    } else if (kind === 'feedback') {
      if (!isObject(body) || typeof body['deployment'] !== 'string') throw bad(`${f}.feedback.deployment`, 'the deployment whose labels are counted', isObject(body) ? body['deployment'] : body);
      const labels = body['labels'];
      if (typeof labels !== 'number' || !Number.isInteger(labels) || labels < 1) throw bad(`${f}.feedback.labels`, 'a positive whole number of new labels', labels);
      trigger = { kind: 'feedback', id: `feedback:${body['deployment']}`, deployment: body['deployment'], labels };
    } else {
      throw bad(f, 'one of schedule, alert, feedback (manual and API runs need no trigger)', kind);
    }
    if (ids.has(trigger.id)) throw bad(f, 'a trigger different from the others', t);
    ids.add(trigger.id);
    return trigger;
  });
}

/**
 * Params for a run: the file's defaults overridden by `k=v` pairs. Values keep the default's type
 * (a number param given "abc" is refused, not passed on as text).
 */
export function resolveParams(spec: PipelineSpec, overrides: Record<string, string | number | boolean>): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = { ...spec.params };
  for (const [k, raw] of Object.entries(overrides)) {
    if (!(k in spec.params)) throw bad(`params.${k}`, `a param the pipeline declares (${Object.keys(spec.params).join(', ') || 'none'})`, k, 'declare it under params: with a default');
    const def = spec.params[k]!;
    if (typeof def === 'number') {
      const n = typeof raw === 'number' ? raw : Number(raw);
      if (typeof raw === 'boolean' || String(raw).trim() === '' || !Number.isFinite(n)) throw bad(`params.${k}`, 'a number (its default is one)', raw);
      out[k] = n;
    } else if (typeof def === 'boolean') {
      if (raw === true || raw === 'true') out[k] = true;
      else if (raw === false || raw === 'false') out[k] = false;
      else throw bad(`params.${k}`, 'true or false (its default is a boolean)', raw);
    } else {
      out[k] = String(raw);
    }
  }
  return out;
}

/** `k=v` pairs from the command line. */
export function parseParamPairs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw bad('--param', 'name=value', p);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

/** Resolve `${…}` in a string with a lookup; an unknown reference is an error naming the field. */
export function interpolate(text: string, field: string, lookup: (ref: string) => string | undefined): string {
  return text.replace(REF, (_, ref: string) => {
    const v = lookup(ref.trim());
    if (v === undefined) throw new BerthError('FAILED_PRECONDITION', `${field}: \${${ref}} has no value in this run`, { field, got: `\${${ref}}` });
    return v;
  });
}

/** The same, through arrays and maps. */
export function interpolateDeep(value: unknown, field: string, lookup: (ref: string) => string | undefined): unknown {
  if (typeof value === 'string') {
    // a value that is exactly one reference keeps a structured result (a list of datasets, a number)
    const whole = /^\$\{\s*([^}]*?)\s*\}$/.exec(value);
    if (whole) {
      const v = lookup(whole[1]!);
      if (v === undefined) throw new BerthError('FAILED_PRECONDITION', `${field}: \${${whole[1]}} has no value in this run`, { field, got: value });
      return v;
    }
    return interpolate(value, field, lookup);
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateDeep(v, `${field}[${i}]`, lookup));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, `${field}.${k}`, lookup)]));
  return value;
}

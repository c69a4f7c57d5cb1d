import type { DeploymentView } from '../protocol/index.js';
import type { AnalysisResult, CheckResult, GateResult, LiveNumbers, RolloutDecision, RolloutRecord, RolloutStatus, RolloutStep } from '../rollout/index.js';
import type { RolloutAction, RolloutRollbackResult } from './client.js';
import { formatFields, formatLocalTime, formatPercent, formatRelative, formatSpan, formatTable, formatWhen } from './format.js';
import { describeTarget, describeTraffic } from './render.js';

/*
 * Human renderings of rollouts: what started, where a rollout stands (its steps, the live numbers
 * of the step, every decision with the numbers it was based on), and what a command changed.
 * `--json` prints the API's JSON instead.
 */

/** `5%`, `shadow`, `preview` */
export function describeStep(s: RolloutStep): string {
  return s.kind === 'weight' ? `${s.percent}%` : s.kind;
}

/** `5% → 25% → 50% → 100%` */
export function describeSteps(steps: readonly RolloutStep[]): string {
  return steps.map(describeStep).join(' → ');
}

/** Where each step stands: `5% ✓ → 25% ● → 50% → 100%` (✗ where it ended without promotion, `skipped` where a promotion jumped over). */
export function renderProgress(r: RolloutRecord): string {
  const last = r.spec.steps.length - 1;
  const promoted = r.state === 'promoted' || r.state === 'rolled-back';
  return r.spec.steps
    .map((s, i) => {
      const name = describeStep(s);
      if (i < r.step) return `${name} ✓`;
      if (i === r.step) {
        if (r.state === 'progressing' || r.state === 'paused') return `${name} ●`;
        return promoted ? `${name} ✓` : `${name} ✗`;
      }
      if (promoted) return i === last ? `${name} ✓` : `${name} skipped`;
      return name;
    })
    .join(' → ');
}

/** Who answers what in the current step: `v2 answers 25%, v1 75%`. */
export function describeWeights(r: RolloutRecord, deployment: string = r.deployment): string {
  const s = r.currentStep;
  const to = `v${r.toVersion}`;
  const from = `v${r.fromVersion}`;
  if (s.kind === 'weight') return `${to} answers ${s.percent}%, ${from} ${100 - s.percent}%`;
  if (s.kind === 'shadow') return `${from} answers 100%; ${to} gets a copy of every request (shadow, never answers)`;
  return `${from} answers 100%; ${to} answers only the preview route /v2/models/${deployment}/preview/infer`;
}

function stepLine(r: RolloutRecord): string {
  return `${r.step + 1} of ${r.spec.steps.length} (${describeStep(r.currentStep)}): ${describeWeights(r)}`;
}

/** `in 7m 12s (2026-11-24 14:03:12)`, or why there is none. */
function nextAnalysis(r: RolloutRecord, now: number): string {
  if (r.state === 'paused') return 'none while paused (berth rollout resume starts a fresh window)';
  if (r.nextAtMs === null) return '-';
  const left = r.nextAtMs - now;
  return `${left > 0 ? `in ${formatSpan(left)}` : 'due now'} (${formatLocalTime(r.nextAtMs)})`;
}

/** `berth rollout start`: what started, its steps and timing, and how the gates went. */
export function renderRolloutStarted(r: RolloutRecord, decisions: RolloutDecision[] | undefined, now: number): string {
  const gates = gateResults(decisions?.find((d) => d.kind === 'start' || d.kind === 'gates'));
  const pairs: [string, string][] = [
    ['steps', `${describeSteps(r.spec.steps)}, ${formatSpan(r.spec.intervalMs)} each${r.strategy === 'blue-green' ? ` (old version kept warm ${formatSpan(r.spec.keepOldMs)} after the switch)` : ''}`],
    ['now', `step ${stepLine(r)}`],
    ['next analysis', nextAnalysis(r, now)],
    ['gates', gates.length === 0 ? '-' : gates.map((g) => `${g.passed ? '✓' : '✗'} ${g.gate}: ${g.detail}`).join('\n')],
  ];
  if (r.spec.sticky) pairs.push(['sticky', `${r.spec.sticky.from}:${r.spec.sticky.name}`]);
  pairs.push(['follow it', `berth rollout status ${r.deployment}`]);
  return `started rollout ${r.id} of ${r.deployment}: ${r.model} version ${r.fromVersion} → ${r.toVersion} (${r.strategy})\n` + formatFields(pairs);
}

/** `berth rollout status`: the rollout, its progress, the step's live numbers and every decision. */
export function renderRolloutStatus(s: RolloutStatus, now: number): string {
  const r = s.rollout;
  const active = r.state === 'progressing' || r.state === 'paused';
  const pairs: [string, string][] = [
    ['rollout', `${r.id} of ${r.deployment}: ${r.model} version ${r.fromVersion} → ${r.toVersion} (${r.strategy})`],
    ['state', r.state],
    ['progress', renderProgress(r)],
  ];
  if (active) {
    pairs.push(['step', stepLine(r)], ['next analysis', nextAnalysis(r, now)]);
  }
  if (r.state !== 'blocked') pairs.push(['interval', `${formatSpan(r.spec.intervalMs)} per step; analysis needs ${r.spec.analysis.minSamples} candidate requests, rolls back after ${r.spec.analysis.failureLimit} failures in a row`]);
  if (r.failures > 0) pairs.push(['failures', `${r.failures} of ${r.spec.analysis.failureLimit} in a row`]);
  if (r.spec.sticky) pairs.push(['sticky', `${r.spec.sticky.from}:${r.spec.sticky.name}`]);
  if (r.reason) pairs.push(['reason', r.reason]);
  pairs.push(['started', `${formatWhen(r.createdAt, now)} by ${r.actor}`]);
  if (r.finishedAt) pairs.push(['finished', formatWhen(r.finishedAt, now)]);
  let out = formatFields(pairs);
  if (s.live) out += '\n' + renderLive(s.live, now);
  out += '\n' + renderDecisions(s.decisions, r);
  return out;
}

/** The step's numbers so far, per version, and per shadow. */
export function renderLive(l: LiveNumbers, now: number): string {
  const since = Date.parse(l.since);
  let out = `live numbers of this step, from ${formatLocalTime(since)} (${formatRelative(since, now)}):\n`;
  if (l.versions.length === 0) out += '  no requests yet in this step\n';
  else {
    out += formatTable(
      ['VERSION', 'ROLE', 'REQUESTS', 'ERRORS', 'P50', 'P99', 'PREDICTIONS'],
      l.versions.map((v) => [
        `v${v.version}`,
        v.role,
        String(v.requests),
        v.errorRate === null ? '-' : formatPercent(v.errorRate),
        ms(v.p50Ms),
        ms(v.p99Ms),
        shares(v.predictions),
      ]),
    );
  }
  if (l.shadows.length > 0) {
    out +=
      '\nshadows (compared with the primary answer on the same rows):\n' +
      formatTable(
        ['VERSION', 'COPIES', 'FAILURES', 'AGREEMENT', 'MEAN ABS DIFF', 'CONFUSION (primary → shadow)'],
        l.shadows.map((x) => [
          `v${x.version}`,
          String(x.copies),
          String(x.failures),
          x.agreement === null ? '-' : formatPercent(x.agreement),
          x.meanAbsDiff === null ? '-' : x.meanAbsDiff.toFixed(4),
          confusion(x.confusion),
        ]),
      );
  }
  return out;
}

/** Every decision, oldest first, with a one-line reason carrying its numbers. */
export function renderDecisions(decisions: RolloutDecision[], r: RolloutRecord): string {
  if (decisions.length === 0) return 'decisions: none yet\n';
  return (
    'decisions:\n' +
    formatTable(
      ['WHEN', 'STEP', 'KIND', 'VERDICT', 'STATE', 'BY', 'REASON'],
      decisions.map((d) => {
        const step = r.spec.steps[Math.min(d.step, r.spec.steps.length - 1)];
        return [formatLocalTime(d.atMs), step ? describeStep(step) : String(d.step + 1), d.kind, d.verdict ?? '-', d.state, d.actor, summarizeDecision(d, r)];
      }),
    )
  );
}

/** One line: why this decision, with the numbers it was based on. */
export function summarizeDecision(d: RolloutDecision, r: RolloutRecord): string {
  const x = d.details;
  const analysis = x['analysis'] as AnalysisResult | undefined;
  const str = (k: string): string | undefined => (typeof x[k] === 'string' ? (x[k] as string) : undefined);
  switch (d.kind) {
    case 'start': {
      const gates = gateResults(d);
      const steps = Array.isArray(x['steps']) ? describeSteps(x['steps'] as RolloutStep[]) : describeSteps(r.spec.steps);
      const interval = typeof x['intervalMs'] === 'number' ? formatSpan(x['intervalMs']) : formatSpan(r.spec.intervalMs);
      return `steps ${steps}, ${interval} each; gates ${gates.length === 0 ? 'none' : `passed: ${gates.map((g) => g.gate).join(', ')}`}`;
    }
    case 'gates': {
      const failed = gateResults(d).filter((g) => !g.passed);
      return failed.length === 0 ? 'gates passed' : `blocked: ${failed.map((g) => g.detail).join('; ')}`;
    }
    case 'analysis':
    case 'advance':
    case 'promote': {
      const head =
        d.kind === 'advance' && str('from') && str('to')
          ? `${str('from')} → ${str('to')}: `
          : d.kind === 'promote'
            ? x['manual'] === true
              ? `promoted by ${d.actor}${typeof x['keepOldMs'] === 'number' && x['keepOldMs'] > 0 ? `; v${r.fromVersion} kept warm ${formatSpan(x['keepOldMs'])}` : ''}`
              : 'promoted: '
            : '';
      if (!analysis) return head.replace(/: $/, '');
      let text = head + summarizeAnalysis(analysis);
      if (typeof x['failures'] === 'number' && analysis.verdict === 'fail') {
        text += x['rolledBack'] === true ? ` (failure ${x['failures']}: rolled back)` : ` (failure ${x['failures']} of ${typeof x['failureLimit'] === 'number' ? x['failureLimit'] : r.spec.analysis.failureLimit})`;
      }
      if (analysis.verdict === 'no-data' && str('policy')) text += ` → ${str('policy')}`;
      return text;
    }
    case 'pause':
    case 'abort':
      return str('reason') ?? d.kind;
    case 'resume':
    case 'restart':
      return str('note') ?? d.kind;
    case 'rollback':
      return `back to v${typeof x['to'] === 'number' ? x['to'] : r.fromVersion}`;
    case 'breaker':
      return `circuit breaker: ${String(x['failures'])} of ${String(x['requests'])} requests to v${String(x['version'])} failed within ${formatSpan(Number(x['windowMs']))}`;
    default:
      return Object.entries(x)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ')
        .slice(0, 120);
  }
}

/**
 * `50 requests (stable 450): error_rate 0% (stable 0%), latency_p99 4.29 ms (stable 7.68 ms), prediction_drift 0.0312`;
 * a verdict other than pass gives the analysis's own reason (it names the numbers that decided).
 */
export function summarizeAnalysis(a: AnalysisResult): string {
  if (a.verdict !== 'pass') return a.reason;
  const what = a.mode === 'shadow' ? 'shadow copies' : a.mode === 'preview' ? 'preview requests' : 'requests';
  const judged = a.checks.filter((c) => c.outcome === 'pass').map(describeCheck);
  return `${a.samples.candidate} ${what} (stable ${a.samples.stable}): ${judged.length > 0 ? judged.join(', ') : 'no metric had data'}`;
}

/** One metric's numbers with their unit: `latency_p99 4.29 ms (stable 7.68 ms)`. */
export function describeCheck(c: CheckResult): string {
  const value = (x: number): string => {
    switch (c.metric) {
      case 'error_rate':
      case 'shadow_agreement':
        return formatPercent(x);
      case 'latency_p50':
      case 'latency_p99':
        return ms(x);
      default:
        return x.toPrecision(3);
    }
  };
  if (c.candidate === null) return `${c.metric} -`;
  // drift is a distance from the stable version: its "stable" value is 0 by definition
  const stable = c.stable !== null && c.metric !== 'prediction_drift' ? ` (stable ${value(c.stable)})` : '';
  return `${c.metric} ${value(c.candidate)}${stable}`;
}

/** `berth rollout list` */
export function renderRolloutList(list: RolloutRecord[], now: number, deployment?: string): string {
  if (list.length === 0) {
    return deployment === undefined
      ? 'no rollouts yet; start one with `berth rollout start DEPLOYMENT --to-version N`\n'
      : `no rollouts of ${deployment} yet; start one with \`berth rollout start ${deployment} --to-version N\`\n`;
  }
  return formatTable(
    ['ID', 'DEPLOYMENT', 'VERSIONS', 'STRATEGY', 'STATE', 'STEP', 'STARTED', 'BY'],
    list.map((r) => [
      String(r.id),
      r.deployment,
      `${r.model} v${r.fromVersion} → v${r.toVersion}`,
      r.strategy,
      r.state,
      `${r.step + 1}/${r.spec.steps.length} ${describeStep(r.currentStep)}`,
      formatWhen(r.createdAt, now),
      r.actor,
    ]),
  );
}

/** What pause, resume, promote or abort did. */
export function renderRolloutChange(r: RolloutRecord, action: RolloutAction, now: number): string {
  const which = `rollout ${r.id} of ${r.deployment}`;
  switch (action) {
    case 'pause':
      return `paused ${which} at step ${stepLine(r)}; weights stay, no analysis runs${r.reason ? ` (${r.reason})` : ''}\nresume it: berth rollout resume ${r.deployment}\n`;
    case 'resume':
      return `resumed ${which} at step ${stepLine(r)}; a fresh analysis window: next analysis ${nextAnalysis(r, now)}\n`;
    case 'promote':
      return (
        `promoted ${which}: ${r.model} version ${r.toVersion} takes all traffic` +
        `${r.spec.keepOldMs > 0 ? `; version ${r.fromVersion} stays warm for ${formatSpan(r.spec.keepOldMs)} as the fallback` : ''}\n` +
        `undo it: berth rollback ${r.deployment}\n`
      );
    case 'abort':
      return `aborted ${which}: all traffic back on ${r.model} version ${r.fromVersion}${r.reason ? ` (${r.reason})` : ''}\n`;
  }
}

/** What `berth rollback` did and what serves now. */
export function renderRollback(res: RolloutRollbackResult, view: DeploymentView | undefined, now: number): string {
  const d = res.deployment;
  const served = view?.servedVersion ?? (d.target.kind === 'version' ? d.target.version : null);
  const serves = `${describeTarget(d.model, d.target)}${d.target.kind === 'alias' && served !== null ? ` = version ${served}` : ''}`;
  const traffic = d.traffic === null ? '' : `; traffic ${describeTraffic(d.traffic, served, now)}`;
  const what =
    res.rollout === null
      ? `no rollout to undo: deployment ${d.name} went back to its previous revision`
      : res.rollout.state === 'rolled-back'
        ? `undid rollout ${res.rollout.id} (it had promoted version ${res.rollout.toVersion})`
        : `ended rollout ${res.rollout.id} (${res.rollout.state}, was at step ${describeStep(res.rollout.currentStep)})`;
  return `${what}\n${d.name} now serves ${serves} (revision ${d.revision})${traffic}\n`;
}

function gateResults(d: RolloutDecision | undefined): GateResult[] {
  const g = d?.details['gates'];
  return Array.isArray(g) ? (g as GateResult[]) : [];
}

function ms(x: number | null): string {
  return x === null ? '-' : `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;
}

function shares(counts: Record<string, number>): string {
  const total = Object.values(counts).reduce((s, n) => s + n, 0);
  if (total === 0) return '-';
  return Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${formatPercent(n / total)}`)
    .join(' · ');
}

function confusion(c: Record<string, Record<string, number>>): string {
  const cells: string[] = [];
  for (const [a, row] of Object.entries(c).sort(([x], [y]) => x.localeCompare(y))) {
    for (const [b, n] of Object.entries(row).sort(([x], [y]) => x.localeCompare(y))) cells.push(`${a}→${b} ${n}`);
  }
  return cells.length === 0 ? '-' : cells.join(', ');
}

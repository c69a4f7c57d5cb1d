/**
 * `berth deploy` traffic flags and `berth rollout …` / `berth rollback` against a real server with
 * real models (the CLI's `main` in process, talking HTTP to the server on port 0), rollout steps
 * timed by a ManualClock; then the same data dir read without a server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { RolloutRollbackResult } from '../../src/cli/client.js';
import { ManualClock } from '../../src/core/index.js';
import type { DeploymentView } from '../../src/protocol/index.js';
import type { RolloutRecord, RolloutStatus } from '../../src/rollout/index.js';
import { fixturePath, goldenTensor, readGolden } from '../helpers/fixtures.js';
import { post, registerVersion, startServer, type TestServer } from '../helpers/server.js';

const MODEL = 'bc';
const MIN = 60_000;
const ACTOR = 'cli-tester';
let dataDir: string;
let work: string;
let ts: TestServer | undefined;
let clock: ManualClock;
let logreg: number;
let gbt: number;

interface Result {
  code: number;
  out: string;
  err: string;
}

/** `berth ARGS…` in process, with no BERTH_* environment. */
async function berth(...args: string[]): Promise<Result> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
  return { code, out, err };
}

/** Against the running server. */
function remote(...args: string[]): Promise<Result> {
  return berth('--server', server().url, '--actor', ACTOR, ...args);
}

function server(): TestServer {
  if (!ts) throw new Error('the server was stopped');
  return ts;
}

const heldout = readGolden('breast-cancer-logreg').cases.find((c) => c.name === 'heldout_all')!;
const ROWS = heldout.inputs['input']!.shape[0]!;

/** Request i carries held-out row i: realistic traffic with both classes. */
function rowBody(i: number): Record<string, unknown> {
  const t = goldenTensor('input', heldout.inputs['input']!, [i % ROWS, (i % ROWS) + 1]);
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: t.shape, data: Array.from(t.data as Float32Array) }] };
}

/** Send n requests (4 at a time) and count which version answered each. */
async function traffic(deployment: string, n: number): Promise<Record<string, number>> {
  const byVersion: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const res = await post(`${server().url}/v2/models/${deployment}/infer`, rowBody(i));
        expect(res.status).toBe(200);
        const v = res.headers.get('x-berth-version')!;
        byVersion[v] = (byVersion[v] ?? 0) + 1;
      }
    }),
  );
  return byVersion;
}

/** Let a step's interval pass and wait for the controller to act on it. */
async function elapse(ms: number): Promise<void> {
  clock.advance(ms);
  await server().server.rollouts.settle();
}

/** The value of `key` in a key–value block (`state          progressing` → `progressing`). */
function field(out: string, key: string): string | undefined {
  const esc = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${esc} {2,}(.*)$`, 'm').exec(out)?.[1];
}

function json<T>(r: Result): T {
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as T;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'berth-cli-rollout-'));
  work = mkdtempSync(path.join(tmpdir(), 'berth-cli-rollout-files-'));
  clock = new ManualClock(Date.now());
  ts = await startServer({ inferenceLog: { maxRowsPerSecond: 0 } }, { dataDir, rolloutClock: clock });
  logreg = await registerVersion(ts, MODEL, { fixture: 'breast-cancer-logreg' });
  gbt = await registerVersion(ts, MODEL, { fixture: 'breast-cancer-gbt' });
  expect([logreg, gbt]).toEqual([1, 2]);
  // loose thresholds: this machine's latency is noisy; the models' behaviour is what is judged
  writeFileSync(
    path.join(work, 'analysis.yaml'),
    ['minSamples: 20', 'failureLimit: 2', 'metrics:', '  - {metric: error_rate, max: 0.01}', '  - {metric: latency_p99, max: 5000}', '  - {metric: prediction_drift, max: 0.2}', ''].join('\n'),
  );
  // a relative dataset path: the CLI resolves it against the gates file's folder
  const dataset = path.relative(work, fixturePath('breast-cancer-logreg', 'current_concept_drift.csv'));
  writeFileSync(path.join(work, 'gates.yaml'), `evaluation:\n  dataset: ${dataset}\n  metrics:\n    - {name: accuracy, min: 0.9}\n`);
}, 60_000);

afterAll(async () => {
  await ts?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('berth deploy with traffic flags', () => {
  it('splits, sticks and shadows as the flags say, and shows the policy in one line', async () => {
    let r = await remote('deploy', 'ab', '--model', MODEL, '--version', '1', '--split', '2=10', '--sticky', 'header:X-User-Id');
    expect(r.err).toBe('');
    expect(r.out).toBe('created deployment ab (revision 1): serves bc version 1, server defaults; traffic v1 90% · v2 10% (sticky header:x-user-id)\n');
    expect(r.code).toBe(0);
    const view = json<DeploymentView>(await remote('--json', 'deployments', 'show', 'ab'));
    expect(view.deployment.traffic).toMatchObject({ split: [{ version: 2, percent: 10 }], sticky: { from: 'header', name: 'x-user-id' }, shadows: [], preview: null, fallback: null });
    // exact split: one request in ten goes to version 2 (requests without the sticky header split by weight)
    expect(await traffic('ab', 100)).toEqual({ 'bc@1': 90, 'bc@2': 10 });

    r = await remote('deployments', 'show', 'ab');
    expect(r.out).toMatch(/^traffic +v1 90% · v2 10% \(sticky header:x-user-id\)$/m);
    r = await remote('deployments', 'list');
    expect(r.out).toMatch(/^NAME +SERVES +VERSION +TRAFFIC +REVISION/);
    expect(r.out).toMatch(/^ab +bc version 1 +1 +v1 90% · v2 10% \(sticky header:x-user-id\) +1 /m);

    // without traffic flags the policy is kept
    r = await remote('deploy', 'ab', '--model', MODEL, '--version', '1');
    expect(r.out).toBe('deployment ab already serves bc version 1 (server defaults; traffic v1 90% · v2 10% (sticky header:x-user-id)); nothing changed\n');

    // traffic flags replace the whole policy
    r = await remote('deploy', 'ab', '--model', MODEL, '--version', '1', '--shadow', '2=50');
    expect(r.out).toBe('updated deployment ab (revision 2): serves bc version 1, server defaults; traffic v1 100% · shadow v2 50%\n');
    expect(await traffic('ab', 40)).toEqual({ 'bc@1': 40 });
    r = await remote('deployments', 'show', 'ab');
    expect(r.out).toMatch(/^traffic +v1 100% · shadow v2 50%$/m);

    r = await remote('deploy', 'ab', '--model', MODEL, '--version', '1', '--no-traffic');
    expect(r.out).toBe('updated deployment ab (revision 3): serves bc version 1, server defaults\n');
    expect(json<DeploymentView>(await remote('--json', 'deployments', 'show', 'ab')).deployment.traffic).toBeNull();
    r = await remote('deployments', 'show', 'ab');
    expect(r.out).toMatch(/^traffic +all to the target \(v1\)$/m);
    // no deployment spreads its traffic: the list has no TRAFFIC column
    r = await remote('deployments', 'list');
    expect(r.out).toMatch(/^NAME +SERVES +VERSION +REVISION +STATE +UPDATED\nab +bc version 1 +1 +3 /);
  }, 60_000);

  it('answers bad traffic and rollout flag values with usage errors naming the flag, what it expected and what came', async () => {
    const deploy = ['deploy', 'x', '--model', MODEL, '--version', '1'];
    const cases: [string[], RegExp][] = [
      [[...deploy, '--split', '2=60,3=50'], /option '--split <arms>' argument '2=60,3=50' is invalid\. expected shares adding up to at most 100% \(these add up to 110%\), got "2=60,3=50"/],
      [[...deploy, '--split', 'two'], /'--split <arms>' argument 'two' is invalid\. expected VERSION=PERCENT\[,…\] with PERCENT in \[0, 100\], like 2=10 or 2=10,3=5, got "two"/],
      [[...deploy, '--split', '2'], /'--split <arms>' argument '2' is invalid\. expected VERSION=PERCENT/],
      [[...deploy, '--shadow', '3=0'], /'--shadow <arms>' argument '3=0' is invalid\. expected VERSION\[=PERCENT\]\[,…\] with PERCENT in \(0, 100\]/],
      [[...deploy, '--split', '2=10,2=20'], /expected each version once \(2 is listed twice\), got "2=10,2=20"/],
      [[...deploy, '--sticky', 'cookie:session'], /'--sticky <key>' argument 'cookie:session' is invalid\. expected header:NAME, parameter:NAME or input:NAME, got "cookie:session"/],
      [[...deploy, '--preview', '0'], /'--preview <n>' argument '0' is invalid\. expected an integer >= 1, got "0"/],
      [[...deploy, '--no-traffic', '--split', '2=10'], /--no-traffic clears the traffic policy; it cannot go with --split/],
      [['rollout', 'start', 'x', '--to-version', '2', '--steps', '50,10'], /'--steps <list>' argument '50,10' is invalid\. expected increasing percentages in \(0, 100\]/],
      [['rollout', 'start', 'x', '--to-version', '2', '--steps', '10,shadow'], /'--steps <list>' argument '10,shadow' is invalid/],
      [['rollout', 'start', 'x', '--to-version', '2', '--interval', 'soon'], /'--interval <duration>' argument 'soon' is invalid\. expected a duration like 30s, 10m or 2h \(at least 1s\), got "soon"/],
      [['rollout', 'start', 'x', '--to-version', '2', '--interval', '500ms'], /'--interval <duration>' argument '500ms' is invalid/],
      [['rollout', 'start', 'x', '--to-version', 'two'], /'--to-version <n>' argument 'two' is invalid\. expected an integer >= 1/],
      [['rollout', 'start', 'x'], /required option '--to-version <n>' not specified/],
      [['rollout', 'start', 'x', '--to-version', '2', '--strategy', 'yolo'], /'--strategy <strategy>' argument 'yolo' is invalid\. Allowed choices are canary, blue-green/],
      [['rollout', 'start', 'x', '--to-version', '2', '--no-data', 'maybe'], /'--no-data <policy>' argument 'maybe' is invalid\. Allowed choices are pause, fail, pass/],
      [['rollout', 'start', 'x', '--to-version', '2', '--strategy', 'blue-green', '--steps', '5,100'], /--steps: blue-green has no steps/],
      [['rollout', 'pause'], /missing required argument 'deployment'/],
    ];
    for (const [args, message] of cases) {
      const r = await remote(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(/^berth: /);
      expect(r.err, args.join(' ')).toMatch(message);
      expect(r.out, args.join(' ')).toBe('');
    }
    // nothing was created by any of them
    expect((await server().server.registry.listDeployments()).map((d) => d.name)).not.toContain('x');
  });
});

describe('berth rollout', () => {
  let id: number;

  it('starts a canary and prints its steps, timing and gate results', async () => {
    expect((await remote('deploy', 'live', '--model', MODEL, '--version', '1')).code).toBe(0);
    const r = await remote('rollout', 'start', 'live', '--to-version', '2', '--steps', '10,50', '--interval', '10m', '--keep-old', '30m',
      '--analysis', path.join(work, 'analysis.yaml'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^started rollout \d+ of live: bc version 1 → 2 \(canary\)$/);
    id = Number(/rollout (\d+)/.exec(lines[0]!)![1]);
    expect(field(r.out, 'steps')).toBe('10% → 50% → 100%, 10m each');
    expect(field(r.out, 'now')).toBe('step 1 of 3 (10%): v2 answers 10%, v1 90%');
    expect(field(r.out, 'next analysis')).toMatch(/^in (9m \d+s|10m) \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)$/); // 10 minutes from the start, on the rollout clock
    expect(field(r.out, 'gates')).toMatch(/^✓ signature: /);
    expect(field(r.out, 'follow it')).toBe('berth rollout status live');

    const d = json<DeploymentView>(await remote('--json', 'deployments', 'show', 'live'));
    expect(d.deployment.traffic?.split).toEqual([{ version: 2, percent: 10 }]);
    // a second rollout of the same deployment is refused while this one runs
    const again = await remote('rollout', 'start', 'live', '--to-version', '2');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^berth: deployment "live" already has rollout \d+ progressing; promote, abort or wait for it/);
  }, 60_000);

  it('shows the step, the live numbers per version and every decision, as text and as JSON', async () => {
    expect(await traffic('live', 200)).toEqual({ 'bc@1': 180, 'bc@2': 20 });
    let r = await remote('rollout', 'status', 'live');
    expect(r.code, r.err).toBe(0);
    expect(field(r.out, 'rollout')).toBe(`${id} of live: bc version 1 → 2 (canary)`);
    expect(field(r.out, 'state')).toBe('progressing');
    expect(field(r.out, 'progress')).toBe('10% ● → 50% → 100%');
    expect(field(r.out, 'step')).toBe('1 of 3 (10%): v2 answers 10%, v1 90%');
    expect(field(r.out, 'next analysis')).toMatch(/^in (9m \d+s|10m) /);
    expect(field(r.out, 'interval')).toBe('10m per step; analysis needs 20 candidate requests, rolls back after 2 failures in a row');
    expect(field(r.out, 'started')).toMatch(new RegExp(`^(just now|\\d+ seconds ago) \\(.*\\) by ${ACTOR}$`));
    expect(r.out).toMatch(/\nlive numbers of this step, from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+ seconds ago)\):\nVERSION +ROLE +REQUESTS +ERRORS +P50 +P99 +PREDICTIONS\n/);
    // predicted classes (the fixtures' class ids) as shares of each version's answers
    expect(r.out).toMatch(/^v1 +stable +180 +0% +\d+\.\d+ ms +\d+\.\d+ ms +0 \d+(\.\d+)?% · 1 \d+(\.\d+)?%$/m);
    expect(r.out).toMatch(/^v2 +candidate +20 +0% +\d+\.\d+ ms +\d+\.\d+ ms +0 \d+(\.\d+)?% · 1 \d+(\.\d+)?%$/m);
    expect(r.out).toMatch(/\ndecisions:\nWHEN +STEP +KIND +VERDICT +STATE +BY +REASON\n/);
    expect(r.out).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +10% +start +pass +progressing +${ACTOR} +steps 10% → 50% → 100%, 10m each; gates passed: signature$`, 'm'));

    const s = json<RolloutStatus>(await remote('--json', 'rollout', 'status', 'live'));
    expect(s.rollout).toMatchObject({ id, deployment: 'live', fromVersion: 1, toVersion: 2, state: 'progressing', step: 0, currentStep: { kind: 'weight', percent: 10 }, actor: ACTOR });
    expect(s.live?.versions.map((v) => [v.version, v.role, v.requests, v.errorRate])).toEqual(
      expect.arrayContaining([[1, 'stable', 180, 0], [2, 'candidate', 20, 0]]),
    );
    expect(s.decisions.map((d) => d.kind)).toEqual(['start']);

    // the interval passes: the analysis passes and the rollout moves to 50%
    await elapse(10 * MIN);
    r = await remote('rollout', 'status', 'live');
    expect(field(r.out, 'progress')).toBe('10% ✓ → 50% ● → 100%');
    expect(field(r.out, 'step')).toBe('2 of 3 (50%): v2 answers 50%, v1 50%');
    const advance = r.out.split('\n').find((l) => / advance +pass /.test(l))!;
    expect(advance).toMatch(/ 50% +advance +pass +progressing +berth +10% → 50%: 20 requests \(stable 180\): error_rate 0% \(stable 0%\), latency_p99 [\d.]+ ms \(stable [\d.]+ ms\), prediction_drift [\d.]+$/);
    const passed = json<RolloutStatus>(await remote('--json', 'rollout', 'status', 'live')).decisions.at(-1)!;
    const drift = (passed.details['analysis'] as { checks: { metric: string; candidate: number }[] }).checks.find((c) => c.metric === 'prediction_drift')!;
    // the line carries the same number the decision recorded
    expect(advance).toContain(`prediction_drift ${drift.candidate.toPrecision(3)}`);
    expect(json<DeploymentView>(await remote('--json', 'deployments', 'show', 'live')).deployment.traffic?.split).toEqual([{ version: 2, percent: 50 }]);
  }, 60_000);

  it('pauses, resumes, promotes, lists and rolls back', async () => {
    let r = await remote('rollout', 'pause', 'live', '--reason', 'checking dashboards');
    expect(r.out).toBe(`paused rollout ${id} of live at step 2 of 3 (50%): v2 answers 50%, v1 50%; weights stay, no analysis runs (checking dashboards)\nresume it: berth rollout resume live\n`);
    r = await remote('rollout', 'status', 'live');
    expect(field(r.out, 'state')).toBe('paused');
    expect(field(r.out, 'next analysis')).toBe('none while paused (berth rollout resume starts a fresh window)');
    expect(field(r.out, 'reason')).toBe('checking dashboards');
    expect(r.out).toMatch(new RegExp(` 50% +pause +- +paused +${ACTOR} +checking dashboards$`, 'm'));
    // paused: time passes, nothing happens
    await elapse(30 * MIN);
    expect(json<RolloutStatus>(await remote('--json', 'rollout', 'status', 'live')).rollout.state).toBe('paused');

    r = await remote('rollout', 'resume', 'live');
    expect(r.out).toMatch(new RegExp(`^resumed rollout ${id} of live at step 2 of 3 \\(50%\\): v2 answers 50%, v1 50%; a fresh analysis window: next analysis in \\d+m`));
    const resumed = json<RolloutRecord>(await remote('--json', 'rollout', 'pause', 'live'));
    expect(resumed.state).toBe('paused');
    expect(resumed.reason).toBe('paused by a person');
    expect(json<RolloutRecord>(await remote('--json', 'rollout', 'resume', 'live')).state).toBe('progressing');

    r = await remote('rollout', 'promote', 'live');
    expect(r.out).toBe(`promoted rollout ${id} of live: bc version 2 takes all traffic; version 1 stays warm for 30m as the fallback\nundo it: berth rollback live\n`);
    expect(await traffic('live', 20)).toEqual({ 'bc@2': 20 });
    r = await remote('deployments', 'show', 'live');
    expect(r.out).toMatch(/^serves +bc version 2$/m);
    expect(r.out).toMatch(/^traffic +v2 100% · fallback v1 \(kept warm for (29|30) minutes\)$/m);
    r = await remote('rollout', 'status', 'live');
    expect(field(r.out, 'state')).toBe('promoted');
    expect(field(r.out, 'progress')).toBe('10% ✓ → 50% ✓ → 100% ✓');
    expect(r.out).toMatch(new RegExp(` 50% +promote +- +promoted +${ACTOR} +promoted by ${ACTOR}; v1 kept warm 30m$`, 'm'));

    r = await remote('rollout', 'list');
    expect(r.out).toMatch(/^ID +DEPLOYMENT +VERSIONS +STRATEGY +STATE +STEP +STARTED +BY$/m);
    expect(r.out).toMatch(new RegExp(`^${id} +live +bc v1 → v2 +canary +promoted +2/3 50% +.* ${ACTOR}$`, 'm'));
    const listed = json<RolloutRecord[]>(await remote('--json', 'rollout', 'list', 'live'));
    expect(listed.map((x) => [x.id, x.state])).toEqual([[id, 'promoted']]);

    r = await remote('rollback', 'live');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^undid rollout ${id} \\(it had promoted version 2\\)\\nlive now serves bc version 1 \\(revision \\d+\\)\\n$`));
    expect(await traffic('live', 20)).toEqual({ 'bc@1': 20 });
    const rb = json<RolloutStatus>(await remote('--json', 'rollout', 'status', 'live'));
    expect(rb.rollout.state).toBe('rolled-back');
    expect(rb.decisions.map((d) => d.kind)).toEqual(['start', 'advance', 'pause', 'resume', 'pause', 'resume', 'promote', 'rollback']);
    r = await remote('rollout', 'status', 'live');
    expect(r.out).toMatch(new RegExp(` rollback +- +rolled-back +${ACTOR} +back to v1$`, 'm'));

    // nothing left to undo but the previous revision; --json answers the API's shape
    const again = json<RolloutRollbackResult>(await remote('--json', 'rollback', 'live'));
    expect(again.rollout).toBeNull();
    expect(again.deployment.name).toBe('live');
  }, 60_000);

  it('aborts a shadow phase with a reason, showing the shadow agreement before it', async () => {
    expect((await remote('deploy', 'shadowed', '--model', MODEL, '--version', '1')).code).toBe(0);
    let r = await remote('rollout', 'start', 'shadowed', '--to-version', '2', '--steps', 'shadow,50', '--interval', '5m', '--analysis', path.join(work, 'analysis.yaml'));
    expect(r.code, r.err).toBe(0);
    expect(field(r.out, 'steps')).toBe('shadow → 50% → 100%, 5m each');
    expect(field(r.out, 'now')).toBe('step 1 of 3 (shadow): v1 answers 100%; v2 gets a copy of every request (shadow, never answers)');
    expect(await traffic('shadowed', 60)).toEqual({ 'bc@1': 60 });
    // copies are sent after the primary answered: wait until all of them were compared
    const copies = (): number => server().server.rolloutStats.window('shadowed')?.shadows.get(2)?.copies ?? 0;
    const end = Date.now() + 10_000;
    while (copies() < 60 && Date.now() < end) await new Promise((res) => setTimeout(res, 10));

    r = await remote('rollout', 'status', 'shadowed');
    expect(field(r.out, 'progress')).toBe('shadow ● → 50% → 100%');
    expect(r.out).toMatch(/\nshadows \(compared with the primary answer on the same rows\):\nVERSION +COPIES +FAILURES +AGREEMENT +MEAN ABS DIFF +CONFUSION \(primary → shadow\)\n/);
    const s = json<RolloutStatus>(await remote('--json', 'rollout', 'status', 'shadowed'));
    const sh = s.live!.shadows.find((x) => x.version === 2)!;
    expect(sh.copies).toBe(60);
    // the two models agree on most held-out rows
    expect(sh.agreement!).toBeGreaterThanOrEqual(0.85);
    // agreement is the diagonal of the confusion table (primary class → shadow class)
    const cells = Object.entries(sh.confusion).flatMap(([a, row]) => Object.entries(row).map(([b, n]) => [a, b, n] as const));
    expect(cells.reduce((t, [, , n]) => t + n, 0)).toBe(60);
    expect(sh.agreement!).toBeCloseTo(cells.filter(([a, b]) => a === b).reduce((t, [, , n]) => t + n, 0) / 60, 10);
    const percent = `${Number((sh.agreement! * 100).toFixed(1))}%`;
    const confusion = cells.map(([a, b, n]) => `${a}→${b} ${n}`).sort().join(', ');
    expect(r.out).toMatch(new RegExp(`^v2 +60 +0 +${percent.replace('.', '\\.')} +${sh.meanAbsDiff!.toFixed(4)} +${confusion}$`, 'm'));

    r = await remote('rollout', 'abort', 'shadowed', '--reason', 'changed my mind');
    expect(r.out).toBe(`aborted rollout ${s.rollout.id} of shadowed: all traffic back on bc version 1 (changed my mind)\n`);
    expect(json<DeploymentView>(await remote('--json', 'deployments', 'show', 'shadowed')).deployment.traffic).toBeNull();
    r = await remote('rollout', 'status', 'shadowed');
    expect(field(r.out, 'state')).toBe('aborted');
    expect(field(r.out, 'progress')).toBe('shadow ✗ → 50% → 100%');
    expect(r.out).toMatch(new RegExp(` shadow +abort +- +aborted +${ACTOR} +changed my mind$`, 'm'));

    // nothing in progress any more: steering answers ROLLOUT_STATE with what to do
    r = await remote('rollout', 'pause', 'shadowed');
    expect(r.code).toBe(1);
    expect(r.err).toBe(`berth: deployment "shadowed" has no rollout in progress (rollout ${s.rollout.id} is aborted); start one: berth rollout start shadowed --to-version N\n`);
    r = await remote('rollout', 'status', 'nothing-here');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: no rollout for deployment "nothing-here" \(start one: berth rollout start nothing-here --to-version N\)/);
  }, 60_000);

  it('surfaces GATE_FAILED with the failed gate and its numbers, and the version gets no traffic', async () => {
    expect((await remote('deploy', 'gated', '--model', MODEL, '--version', '2')).code).toBe(0);
    const r = await remote('rollout', 'start', 'gated', '--to-version', '1', '--gates', path.join(work, 'gates.yaml'));
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    // logistic regression on the concept-drift file: accuracy 0.7123 (the fixture's reference)
    expect(r.err).toMatch(
      /^berth: version 1 of bc failed its gates, so it gets no traffic \(rollout \d+ blocked\): accuracy 0\.712\d* of version 1 on current_concept_drift\.csv \(\d+ labelled rows of \d+\) is below the minimum 0\.9; do not promote it/,
    );
    expect(json<DeploymentView>(await remote('--json', 'deployments', 'show', 'gated')).deployment.traffic).toBeNull();
    const s = await remote('rollout', 'status', 'gated');
    expect(field(s.out, 'state')).toBe('blocked');
    expect(field(s.out, 'progress')).toBe('5% ✗ → 25% → 50% → 100%');
    // it never ran: no interval, no analysis
    expect(field(s.out, 'interval')).toBeUndefined();
    expect(s.out).toMatch(/ 5% +gates +fail +blocked +cli-tester +blocked: accuracy 0\.712\d* of version 1 on current_concept_drift\.csv/);

    // a problem inside a file is reported with the file's name and the field in it
    const bad = path.join(work, 'bad-analysis.yaml');
    writeFileSync(bad, 'metrics:\n  - {metric: colour, max: 1}\n');
    const refused = await remote('rollout', 'start', 'gated', '--to-version', '1', '--analysis', bad);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(new RegExp(`^berth: --analysis ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: analysis\\.metrics\\[0\\]\\.metric: expected error_rate \\| latency_p50 .*, got "colour"\\n$`));
    writeFileSync(bad, 'metrics: [oops\n');
    const broken = await remote('rollout', 'start', 'gated', '--to-version', '1', '--analysis', bad);
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(/^berth: --analysis .*bad-analysis\.yaml is not valid YAML or JSON \(.*line 2, column 1\); fix it and start again\n$/);

    const missing = await remote('rollout', 'start', 'gated', '--to-version', '1', '--gates', path.join(work, 'nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`berth: --gates ${path.join(work, 'nope.yaml')} does not exist; check the path\n`);
  }, 60_000);
});

describe('without a server', () => {
  it('reads rollout status and the list from the data dir, and refuses to change a rollout', async () => {
    await ts!.close();
    ts = undefined;
    const local = (...args: string[]): Promise<Result> => berth('--local', '--data-dir', dataDir, '--actor', ACTOR, ...args);

    let r = await local('rollout', 'status', 'live');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe(`(no server running: read from the data dir ${dataDir}; live numbers exist only in the server running the rollout)\n`);
    expect(field(r.out, 'state')).toBe('rolled-back');
    expect(field(r.out, 'progress')).toBe('10% ✓ → 50% ✓ → 100% ✓');
    expect(r.out).toMatch(new RegExp(` 50% +promote +- +promoted +${ACTOR} +promoted by ${ACTOR}; v1 kept warm 30m$`, 'm'));
    expect(r.out).not.toContain('live numbers');
    const s = json<RolloutStatus>(await local('--json', 'rollout', 'status', 'live'));
    expect(s.live).toBeNull();
    expect(s.decisions.map((d) => d.kind)).toEqual(['start', 'advance', 'pause', 'resume', 'pause', 'resume', 'promote', 'rollback']);
    const list = json<RolloutRecord[]>(await local('--json', 'rollout', 'list'));
    expect(list.map((x) => [x.deployment, x.state])).toEqual([['gated', 'blocked'], ['shadowed', 'aborted'], ['live', 'rolled-back']]);
    r = await local('rollout', 'list', 'shadowed');
    expect(r.out).toMatch(/^\d+ +shadowed +bc v1 → v2 +canary +aborted +1\/3 shadow /m);

    for (const args of [['rollout', 'start', 'live', '--to-version', '2'], ['rollout', 'pause', 'live'], ['rollout', 'promote', 'live'], ['rollback', 'live']]) {
      r = await local(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toMatch(/needs a running server: rollouts are run by `berth serve` \(each step is judged on live traffic\); start one with `berth serve` \(or pass --server URL\)/);
    }
    expect(r.err).toContain('to return the deployment to its previous revision without a server: berth deployments rollback live\n');

    // an explicit server that is down
    const url = `http://127.0.0.1:${await closedPort()}`;
    r = await berth('--server', url, 'rollout', 'abort', 'live');
    expect(r.code).toBe(1);
    expect(r.err).toBe(`berth: no Berth server at ${url}; start one with \`berth serve\` or drop --server to use the local data dir\n`);
  }, 60_000);
});

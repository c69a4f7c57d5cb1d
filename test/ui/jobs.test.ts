/*
 * The dashboard's jobs, schedules and pipeline runs in real Chromium against a real server: a batch
 * job over a fixture file (its rows and rejected rows as the server counted them), a schedule run
 * now and paused from the page, a running job cancelled from its page, and real pipeline runs
 * (node commands logging per-epoch metrics) listed, shown step by step with their cache hits and
 * compared, with one cancelled from its page.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/jobs/index.js';
import type { RunRecord } from '../../src/pipelines/index.js';
import type { RunDetail } from '../../sdk/types.js';
import { dashboardMissing, launchChromium, renderMs, shoot, writePerf } from '../helpers/browser.js';
import { ensureDistBuilt } from '../helpers/dist.js';
import { fixturePath } from '../helpers/fixtures.js';
import { get, post, registerVersion, startServer, type TestServer } from '../helpers/server.js';

const missing = dashboardMissing();
if (missing) console.warn(`skipping the dashboard jobs and runs tests: ${missing}`);

let ts: TestServer;
let browser: Browser;
let work: string;
const perf: Record<string, number> = {};
const NODE = JSON.stringify(process.execPath);
const FINAL = ['succeeded', 'failed', 'cancelled'];

/** The fixture's quality file: 4,000 rows, 20 of them with a city id outside the card's valid range. */
const QUALITY = fixturePath('tabular-mixed', 'current_quality.csv');

// train: a loss and an accuracy per epoch that depend on lr, then the fixture's model as its output
const TRAIN = [
  "const fs=require('fs');const [model,card,lr,epochs,fixture,sleep]=process.argv.slice(1);",
  'const go=()=>{for(let e=0;e<Number(epochs);e++){const loss=Math.exp(-Number(lr)*(e+1))+0.05;const accuracy=0.95-0.4*Math.exp(-Number(lr)*(e+1));',
  "fs.appendFileSync(process.env.BERTH_METRICS_FILE,JSON.stringify({metrics:{loss,accuracy},step:e})+'\\n');console.log('epoch',e,'loss',loss.toFixed(4));}",
  "fs.copyFileSync(fixture+'/model.onnx',model);fs.copyFileSync(fixture+'/card.json',card);};",
  "if(Number(sleep)>0){console.log('sleeping',sleep,'s');setTimeout(go,Number(sleep)*1000);}else go();",
].join('');
const CHECK = "if(process.argv[1]==='true'){console.error('strict check: the candidate is not good enough');process.exit(3)}console.log('check passed')";

const PIPELINE = `
pipeline: bc-train
description: Train a breast-cancer classifier, check it, register it.
params: { lr: 0.1, epochs: 8, fixture: ${JSON.stringify(path.dirname(fixturePath('breast-cancer-logreg')))}, strict: false, sleep: 0 }
steps:
  train:
    run: [${NODE}, -e, ${JSON.stringify(TRAIN)}, "\${outputs.model}", "\${outputs.card}", "\${params.lr}", "\${params.epochs}", "\${params.fixture}", "\${params.sleep}"]
    data: [data.csv]
    outputs: { model: model.onnx, card: card.json }
  check:
    needs: [train]
    run: [${NODE}, -e, ${JSON.stringify(CHECK)}, "\${params.strict}"]
  register:
    uses: register
    needs: [check]
    with: { model: bc, file: "\${steps.train.outputs.model}", card: "\${steps.train.outputs.card}" }
`;

async function waitForJob(id: number): Promise<JobRecord> {
  for (let i = 0; i < 600; i++) {
    const j = await ts.server.jobs.get(id);
    if (FINAL.includes(j.state)) return j;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not end`);
}

async function waitForRun(id: number): Promise<RunDetail> {
  for (let i = 0; i < 600; i++) {
    const r = await get<RunDetail>(`${ts.url}/v1/runs/${id}`);
    if (FINAL.includes(r.body.state)) return r.body;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`run ${id} did not end`);
}

async function startRun(params: Record<string, unknown>): Promise<number> {
  const res = await post<RunRecord>(`${ts.url}/v1/pipelines/bc-train/runs`, { params });
  expect(res.status, res.text).toBe(202);
  return res.body.id;
}

async function open(hash: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${ts.url}/ui/#/${hash}`);
  return { page, errors };
}

let qualityJob: JobRecord;
const runs: Record<'first' | 'second' | 'strict', RunDetail> = {} as Record<'first' | 'second' | 'strict', RunDetail>;
let qualityRows: number;
let qualityRejected: number;
let longJob: number;

beforeAll(async () => {
  if (missing) return;
  ensureDistBuilt('cli/main.js');
  ts = await startServer({ jobs: { maxConcurrent: 2 } }, { jobTimings: { pollMs: 100, heartbeatMs: 200, leaseMs: 5_000 } });
  await registerVersion(ts, 'eta', { fixture: 'tabular-mixed' });
  const roots = path.join(ts.dataDir, 'batch');
  mkdirSync(roots, { recursive: true });
  // the quality file as Parquet (its row count is known up front, so the bar has a total)
  const duck = await DuckDBInstance.create(':memory:');
  const conn = await duck.connect();
  await conn.run(`COPY (SELECT * FROM read_csv('${QUALITY}')) TO '${path.join(roots, 'quality.parquet')}' (FORMAT parquet)`);
  conn.closeSync();
  duck.closeSync();
  qualityRows = readFileSync(QUALITY, 'utf8').trim().split('\n').length - 1;
  const card = JSON.parse(readFileSync(fixturePath('tabular-mixed', 'card.json'), 'utf8')) as { monitoring: { files: Record<string, { changes: { feature: string; problem: string; count: number }[] }> } };
  qualityRejected = card.monitoring.files['current_quality.csv']!.changes.find((c) => c.problem === 'unknown_category')!.count;
  // a long CSV for a job to cancel while it runs
  const nodrift = readFileSync(fixturePath('tabular-mixed', 'current_nodrift.csv'), 'utf8').trim().split('\n');
  const body = nodrift.slice(1).join('\n');
  writeFileSync(path.join(roots, 'long.csv'), [nodrift[0], ...Array.from({ length: 100 }, () => body)].join('\n') + '\n');

  work = await mkdtemp(path.join(tmpdir(), 'berth-ui-runs-'));
  copyFileSync(fixturePath('breast-cancer-logreg', 'reference.csv'), path.join(work, 'data.csv'));
  const stored = await post(`${ts.url}/v1/pipelines`, { source: PIPELINE, workdir: work });
  expect(stored.status, stored.text).toBe(201);

  const job = await post<JobRecord>(`${ts.url}/v1/jobs`, { model: 'eta', input: 'quality.parquet', output: 'quality-scored.csv', onError: 'skip', batchRows: 256 });
  expect(job.status, job.text).toBe(201);
  const first = await startRun({ lr: 0.1 });
  const second = await startRun({ lr: 0.3, fixture: path.dirname(fixturePath('breast-cancer-gbt')) });
  runs.first = await waitForRun(first);
  // the same training as the first run (its cache hit), but a check that fails
  const strict = await startRun({ lr: 0.1, strict: true });
  [runs.second, runs.strict, qualityJob] = await Promise.all([waitForRun(second), waitForRun(strict), waitForJob(job.body.id)]);
  const sched = await post(`${ts.url}/v1/schedules`, { name: 'nightly-eta-scoring', cron: '0 2 * * *', timezone: 'UTC', job: { model: 'eta', input: 'quality.parquet', output: 'nightly.csv', onError: 'skip' } });
  expect(sched.status, sched.text).toBe(201);
  // a long job, running while the pages are looked at: the last test cancels it
  const long = await post<JobRecord>(`${ts.url}/v1/jobs`, { model: 'eta', input: 'long.csv', output: 'long-scored.csv', batchRows: 1 });
  expect(long.status, long.text).toBe(201);
  longJob = long.body.id;
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  if (work) await rm(work, { recursive: true, force: true });
  if (!missing) writePerf('perf-jobs.json', perf);
});

describe.skipIf(missing !== null)('jobs, schedules and pipeline runs in the dashboard', () => {
  it('lists jobs with their rows and rejected rows, and schedules that run now and pause from the page', async () => {
    expect(qualityJob.state).toBe('succeeded');
    expect(qualityJob.summary).toMatchObject({ rowsIn: qualityRows, rejected: qualityRejected });
    const { page, errors } = await open('jobs');
    await page.getByTestId('jobs-table').waitFor();
    perf['jobs'] = await renderMs(page, 'jobs');
    const row = page.locator(`[data-job="${qualityJob.id}"]`);
    const bar = row.getByRole('progressbar');
    expect(await bar.getAttribute('aria-valuenow')).toBe(String(qualityRows));
    expect(await bar.getAttribute('aria-valuemax')).toBe(String(qualityRows));
    const cells = await row.locator('td').allInnerTexts();
    expect(cells[1]).toBe('batch');
    expect(cells[2]).toBe('eta@1');
    expect(cells[3]).toContain('succeeded');
    expect(cells[4]).toContain(`${qualityRows.toLocaleString('en-US')} of ${qualityRows.toLocaleString('en-US')} rows (100%)`);
    expect(Number(cells[5]!.replace(/,/g, ''))).toBe(Math.round((qualityJob.summary as { rowsPerSecond: number }).rowsPerSecond));
    expect(cells[6]).toBe(String(qualityRejected));

    const card = page.locator('[data-schedule="nightly-eta-scoring"]');
    expect(await card.locator('.facts').innerText()).toMatch(/0 2 \* \* \*\s+\(at 02:00 every day, UTC\)/);
    expect(await card.getByTestId('schedule-last').innerText()).toBe('never');
    await card.getByRole('button', { name: 'Run now' }).click();
    await page.getByRole('dialog', { name: 'Run now' }).getByRole('button', { name: 'Yes, run now' }).click();
    // the server submitted the schedule's job, and the page shows it as the last run and in the history
    await expect.poll(async () => (await ts.server.jobs.list({ schedule: 'nightly-eta-scoring' })).length).toBe(1);
    const [scheduled] = await ts.server.jobs.list({ schedule: 'nightly-eta-scoring' });
    await expect.poll(() => card.getByTestId('schedule-last').innerText()).toContain(`Job ${scheduled!.id}`);
    await expect.poll(() => card.getByTestId('schedule-history').locator('tbody tr').count()).toBe(1);
    expect(await card.getByTestId('schedule-history').innerText()).toContain(`Job ${scheduled!.id}`);
    await card.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('dialog', { name: 'Pause' }).getByRole('button', { name: 'Yes, pause' }).click();
    await card.getByRole('button', { name: 'Resume' }).waitFor();
    expect((await ts.server.schedules.get('nightly-eta-scoring')).enabled).toBe(false);
    expect(await card.locator('.badge').first().innerText()).toBe('paused');
    expect(await card.getByTestId('schedule-last').locator('.badge').innerText()).toMatch(/^(queued|running|succeeded)$/);
    // while a job runs the list follows it: the long job's row count goes up without a reload
    const longRows = async (): Promise<number> => Number((await page.locator(`[data-job="${longJob}"]`).getByRole('progressbar').getAttribute('aria-valuetext'))!.replace(/[^0-9]/g, ''));
    const before = await longRows();
    await expect.poll(longRows, { timeout: 10_000 }).toBeGreaterThan(before);
    await shoot(page, 'jobs');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows a job: its facts, rows, rejected rows and where they went, and its log', async () => {
    const { page, errors } = await open(`jobs/${qualityJob.id}`);
    await page.getByTestId('job-summary').waitFor();
    perf['job'] = await renderMs(page, 'job');
    const summary = qualityJob.summary as { rejectedOutput: string; rowsOut: number };
    expect(await page.getByTestId('job-rejected').innerText()).toBe(String(qualityRejected));
    expect(await page.getByTestId('job-rejected-file').innerText()).toBe(summary.rejectedOutput);
    const facts = await page.getByTestId('job-facts').innerText();
    expect(facts).toContain('eta@1');
    expect(facts).toContain('quality.parquet');
    expect(facts).toContain('quality-scored.csv');
    expect(await page.getByTestId('job-options').innerText()).toContain('bad rows set aside (on error: skip)');
    expect(await page.getByTestId('job-summary').innerText()).toContain(`rows out\n${summary.rowsOut.toLocaleString('en-US')}`);
    expect(await page.getByRole('progressbar').getAttribute('aria-valuenow')).toBe(String(qualityRows));
    // every line the server logged, in order
    const lines = (await ts.server.jobs.logs(qualityJob.id)).map((l) => l.message);
    await expect.poll(async () => (await page.getByTestId('job-log').innerText()).trim().split('\n').length).toBe(lines.length);
    const shown = await page.getByTestId('job-log').innerText();
    for (const l of lines) expect(shown).toContain(l);
    expect(await page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);
    await shoot(page, 'job');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('cancels a running job from its page, after asking', async () => {
    const id = longJob;
    const { page, errors } = await open(`jobs/${id}`);
    await expect.poll(() => page.locator('.page-head .badge').innerText(), { timeout: 20_000 }).toBe('running');
    // progress while it runs: rows counted, no total for a CSV, rows/s reported
    await expect.poll(async () => Number((await page.getByRole('progressbar').getAttribute('aria-valuetext'))!.replace(/[^0-9]/g, '')), { timeout: 20_000 }).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Cancel job' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel job' });
    expect(await dialog.innerText()).toContain('stops after the batch in hand');
    await dialog.getByRole('button', { name: 'Yes, cancel job' }).click();
    expect((await waitForJob(id)).state).toBe('cancelled');
    await expect.poll(() => page.locator('.page-head .badge').innerText(), { timeout: 10_000 }).toBe('cancelled');
    const audit = await ts.server.registry.audit({ action: 'job.cancel' });
    expect(audit.some((a) => a.target === `job:${id}`)).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('lists runs with what they registered, and compares two: params side by side, the best metric, the curves overlaid', async () => {
    const { first, second, strict } = runs;
    expect([first.state, second.state, strict.state]).toEqual(['succeeded', 'succeeded', 'failed']);
    const { page, errors } = await open('runs');
    await page.getByTestId('runs-table').waitFor();
    perf['runs'] = await renderMs(page, 'runs');
    const rowOf = (id: number) => page.locator(`[data-run="${id}"]`);
    expect(await rowOf(first.id).locator('td').last().innerText()).toBe(`bc@${first.result!.version}`);
    expect(await rowOf(second.id).locator('td').last().innerText()).toBe(`bc@${second.result!.version}`);
    expect(first.result!.version).not.toBe(second.result!.version);
    expect(await rowOf(strict.id).locator('.badge').innerText()).toBe('failed');
    expect(await page.getByTestId('compare-link').count()).toBe(0);
    await page.getByRole('checkbox', { name: `Compare run ${first.id}` }).check();
    await page.getByRole('checkbox', { name: `Compare run ${second.id}` }).check();
    const link = page.getByTestId('compare-link');
    expect(await link.getAttribute('href')).toBe(`#/runs/compare?ids=${first.id},${second.id}`);
    await shoot(page, 'runs');
    await link.click();

    await page.getByTestId('compare-metrics').waitFor();
    perf['runs-compare'] = await renderMs(page, 'runs-compare');
    const lr = page.getByTestId('compare-params').locator('[data-param="lr"]');
    expect(await lr.getAttribute('class')).toBe('differs');
    expect((await lr.locator('td').allInnerTexts()).map((t) => t.trim())).toEqual([String(first.params['lr']), String(second.params['lr'])]);
    expect(await page.getByTestId('compare-params').locator('[data-param="epochs"]').getAttribute('class')).toBeNull();
    // final values as the server holds them, the best of each row marked
    const finalOf = (r: RunDetail, key: string): number => r.metrics.filter((m) => m.key === key).sort((a, b) => a.metricStep! - b.metricStep!).at(-1)!.value;
    for (const key of ['loss', 'accuracy']) {
      const cells = page.getByTestId('compare-metrics').locator(`[data-metric="train.${key}"] td`);
      const values = [finalOf(first, key), finalOf(second, key)];
      expect((await cells.allInnerTexts()).map((t) => Number(t.replace('★', '').replace(/\(best\)/, '').trim()))).toEqual(values.map((v) => Number(v.toPrecision(4))));
      const best = key === 'loss' ? Math.min(...values) : Math.max(...values);
      expect(await cells.nth(values.indexOf(best)).getAttribute('class')).toContain('best');
      expect(await cells.nth(1 - values.indexOf(best)).getAttribute('class')).not.toContain('best');
    }
    // a chart per metric, each with both runs' curves
    const charts = page.getByTestId('compare-charts').locator('figure');
    expect(await charts.count()).toBe(2);
    expect(await charts.first().locator('polyline').count()).toBe(2);
    const label = await page.getByRole('img', { name: /^train\.loss, last values/ }).getAttribute('aria-label');
    expect(label).toContain(`run ${first.id} ${Number(finalOf(first, 'loss').toPrecision(3))} at step 7`);
    await shoot(page, 'runs-compare');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows a run: steps with cache hits and failures, params, datasets, metric curves, the version registered and the log of each step', async () => {
    const { first, strict } = runs;
    const { page, errors } = await open(`runs/${first.id}`);
    await page.getByTestId('run-steps').waitFor();
    perf['run'] = await renderMs(page, 'run');
    expect(await page.getByTestId('run-registered').getByRole('link').getAttribute('href')).toBe(`#/models/bc/versions/${first.result!.version}`);
    expect(await page.locator('[data-step="register"]').innerText()).toContain(`registered bc@${first.result!.version}`);
    const sha = createHash('sha256').update(readFileSync(path.join(work, 'data.csv'))).digest('hex');
    expect(await page.getByTestId('run-datasets').innerText()).toContain(sha);
    const finalLoss = first.metrics.filter((m) => m.key === 'loss').sort((a, b) => a.metricStep! - b.metricStep!).at(-1)!.value;
    expect(await page.getByTestId('run-metrics').locator('[data-metric="train.loss"] td').first().innerText()).toBe(String(Number(finalLoss.toPrecision(4))));
    expect(await page.getByTestId('run-charts').locator('figure').count()).toBe(2);
    // each step's log: the train step's epochs as it printed them
    await page.locator('[data-step="train"]').getByRole('button', { name: 'Log of train' }).click();
    await expect.poll(() => page.getByTestId('run-log').innerText()).toContain('epoch 7 loss');
    expect(await page.getByTestId('run-log').innerText()).not.toContain('check passed');
    await page.getByRole('button', { name: 'All steps' }).click();
    await expect.poll(() => page.getByTestId('run-log').innerText()).toContain('[check] check passed');
    await shoot(page, 'run');

    // the failed run: its training reused from the first, its check failed, nothing registered
    await page.goto(`${ts.url}/ui/#/runs/${strict.id}`);
    await page.getByTestId('cache-hit').waitFor();
    expect(await page.getByTestId('cache-hit').innerText()).toBe(`unchanged since run ${first.id}: outputs reused`);
    const check = page.locator('[data-step="check"]');
    expect(await check.locator('.badge').innerText()).toBe('failed');
    expect(await check.innerText()).toContain('exit code 3');
    expect(await page.locator('[data-step="register"] .badge').innerText()).toBe(strict.steps.find((s) => s.name === 'register')!.state);
    expect(await page.getByTestId('run-registered').innerText()).toBe('—');
    expect(await page.getByTestId('run-params').locator('tr.differs').innerText()).toMatch(/^strict\s+true/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('cancels a running pipeline run from its page', async () => {
    const id = await startRun({ sleep: 60 });
    const { page, errors } = await open(`runs/${id}`);
    await expect.poll(() => page.locator('[data-step="train"] .badge').innerText(), { timeout: 20_000 }).toBe('running');
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.getByRole('dialog', { name: 'Cancel run' }).getByRole('button', { name: 'Yes, cancel run' }).click();
    expect((await waitForRun(id)).state).toBe('cancelled');
    await expect.poll(() => page.locator('.page-head .badge').innerText(), { timeout: 10_000 }).toBe('cancelled');
    expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a read-only token sees jobs and schedules but no buttons', async () => {
    const admin = 'ui-jobs-admin-token-24680';
    const secured = await startServer({ auth: { dev: false } }, { adminToken: admin });
    try {
      await registerVersion(secured, 'eta', { fixture: 'tabular-mixed' });
      const res = await post(`${secured.url}/v1/schedules`, { name: 'hourly', cron: '@hourly', job: { model: 'eta', input: 'later.csv', output: 'out.csv' } }, { authorization: `Bearer ${admin}` });
      expect(res.status, res.text).toBe(201);
      const viewer = (await secured.server.tokens.create({ name: 'vera-viewer', roles: ['viewer'], expiresAt: Date.now() + 3_600_000 })).token;
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`${secured.url}/ui/#/jobs`);
      await page.getByLabel('API token').fill(viewer);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const card = page.locator('[data-schedule="hourly"]');
      await card.waitFor();
      expect(await card.innerText()).toContain('Your token cannot run or pause this schedule (it needs predict:eta)');
      expect(await page.getByRole('button', { name: 'Run now' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(0);
      expect(await page.getByText('No jobs yet.').count()).toBe(1);
      await page.close();
    } finally {
      await secured.close();
    }
  });
});

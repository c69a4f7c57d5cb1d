/*
 * The dashboard's deployments and rollouts in real Chromium against a real server with real models
 * and traffic: the traffic split drawn, the live charts fed by /traffic, a canary's numbers and
 * decisions, and the Promote and Abort buttons changing the deployment through the same API (and
 * audit) as the CLI; a read-only token sees no buttons.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { dashboardMissing, launchChromium, renderMs, shoot, writePerf } from '../helpers/browser.js';
import { post, registerVersion, startServer, type TestServer } from '../helpers/server.js';
import { readGolden } from '../helpers/fixtures.js';

const missing = dashboardMissing();
if (missing) console.warn(`skipping the dashboard deployment tests: ${missing}`);

let ts: TestServer;
let browser: Browser;
let clock: ManualClock;
const perf: Record<string, number> = {};
const ANALYSIS = { minSamples: 20, failureLimit: 2, metrics: [{ metric: 'error_rate', max: 0.01 }, { metric: 'latency_p99', max: 5000 }] };

/** `n` inference requests of one golden row each. */
async function traffic(deployment: string, n: number): Promise<void> {
  const golden = readGolden('breast-cancer-logreg');
  const input = golden.cases[0]!.inputs['input']!;
  const row = (input.data as number[][])[0]!;
  for (let i = 0; i < n; i++) {
    const res = await post(`${ts.url}/v2/models/${deployment}/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, row.length], data: row }] });
    expect(res.status, res.text).toBe(200);
  }
}

async function startRollout(deployment: string): Promise<void> {
  await ts.server.registry.deploy({ name: deployment, model: 'bc', target: { kind: 'version', version: 1 } });
  await ts.server.service.refresh();
  const res = await post(`${ts.url}/v1/deployments/${deployment}/rollout`, { toVersion: 2, steps: '50', interval: '10m', analysis: ANALYSIS });
  expect(res.status, res.text).toBe(201);
}

beforeAll(async () => {
  if (missing) return;
  clock = new ManualClock(Date.now());
  ts = await startServer({ inferenceLog: { maxRowsPerSecond: 0 } }, { rolloutClock: clock });
  await registerVersion(ts, 'bc', { fixture: 'breast-cancer-logreg' });
  await registerVersion(ts, 'bc', { fixture: 'breast-cancer-gbt' });
  await startRollout('bc-promote');
  await startRollout('bc-abort');
  await startRollout('bc-keys');
  await traffic('bc-promote', 60);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  if (!missing) writePerf('perf-deployments.json', perf);
});

describe.skipIf(missing !== null)('deployments and rollouts in the dashboard', () => {
  it('lists deployments with their traffic split, and shows one with its live charts and its canary', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${ts.url}/ui/#/deployments`);
    await page.getByTestId('deployments-table').waitFor();
    perf['deployments'] = await renderMs(page, 'deployments');
    const row = page.getByTestId('deployments-table').locator('tbody tr', { hasText: 'bc-promote' });
    expect(await row.locator('.split').getAttribute('aria-label')).toBe('v1 50%, v2 50%');
    await shoot(page, 'deployments');

    await row.getByRole('link', { name: 'bc-promote' }).click();
    await page.getByTestId('rollout-panel').waitFor();
    perf['deployment+traffic'] = await renderMs(page, 'traffic');
    expect(await page.getByTestId('rollout-panel').locator('h2').innerText()).toMatch(/Rollout \d+: version 1 → 2\s+progressing/);
    // this step so far: both versions answered some of the 60 requests, and the charts saw them all
    const liveRows = await page.getByTestId('rollout-live').locator('tbody tr').allInnerTexts();
    expect(liveRows.map((r) => r.split('\t')[0])).toEqual(['v1', 'v2']);
    const requests = liveRows.reduce((s, r) => s + Number(r.split('\t')[2]), 0);
    expect(requests).toBe(60);
    // the 60 requests are in the last hour's buckets (the newest bucket may already be a new, empty one)
    const series = (await (await fetch(`${ts.url}/v1/deployments/bc-promote/traffic?window=1h`)).json()) as { points: { requests: number }[] };
    expect(series.points.reduce((s, p) => s + p.requests, 0)).toBe(60);
    const rps = await page.getByRole('img', { name: /^Requests per second;/ }).getAttribute('aria-label');
    expect(rps).toMatch(/peak all [1-9]/);
    // both versions of the canary are loaded, as the server's status says
    const status = (await (await fetch(`${ts.url}/v1/status`)).json()) as { loaded: { model: string; version: number; state: string }[] };
    const loaded = page.getByTestId('loaded-versions').locator('tbody tr');
    await expect.poll(() => loaded.count()).toBe(status.loaded.filter((m) => m.model === 'bc').length);
    expect((await loaded.allInnerTexts()).map((r) => r.split('\t').slice(0, 2).join(' '))).toEqual(
      status.loaded.filter((m) => m.model === 'bc').sort((a, b) => b.version - a.version).map((m) => `v${m.version} ${m.state}`),
    );
    expect(status.loaded.filter((m) => m.model === 'bc').map((m) => m.version).sort()).toEqual([1, 2]);
    await shoot(page, 'deployment-canary');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('Promote sends all traffic to the candidate, through the API and its audit', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${ts.url}/ui/#/deployments/bc-promote`);
    await page.getByTestId('rollout-actions').waitFor();
    await page.getByRole('button', { name: 'Promote' }).click();
    const dialog = page.getByRole('dialog', { name: 'Promote' });
    expect(await dialog.innerText()).toContain('version 2');
    await dialog.getByRole('button', { name: 'Yes, promote' }).click();
    await expect.poll(() => page.getByTestId('rollout-panel').locator('h2').innerText()).toContain('promoted');
    expect((await ts.server.registry.getDeployment('bc-promote')).target).toEqual({ kind: 'version', version: 2 });
    const audit = await ts.server.registry.audit({ action: 'rollout.promote' });
    expect(audit.length).toBe(1);
    await page.getByRole('button', { name: 'Rollback' }).waitFor();
    await shoot(page, 'deployment-promoted');
    await page.close();
  });

  it('works from the keyboard alone: skip link, section links, a deployment, Pause through its dialog', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${ts.url}/ui/#/models`);
    await page.getByTestId('models-table').waitFor();
    // the first Tab reaches "Skip to content", which moves focus to the page's content
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    expect(page.url()).toMatch(/#\/models$/);
    // from the top of a fresh load: the skip link, the brand, then the sections in order
    await page.reload();
    await page.getByTestId('models-table').waitFor();
    const order: string[] = [];
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.textContent ?? ''));
    }
    expect(order).toEqual(['Skip to content', 'Berth', 'Models', 'Deployments', 'Alerts', 'Jobs', 'Runs', 'Audit']);
    for (let i = 0; i < 4; i++) await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Deployments');
    await page.keyboard.press('Enter');
    await page.getByTestId('deployments-table').waitFor();
    // tab until the bc-keys link has focus, open it, then tab to Pause and confirm with the keyboard
    for (let i = 0; i < 40 && (await page.evaluate(() => document.activeElement?.textContent)) !== 'bc-keys'; i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByTestId('rollout-actions').waitFor();
    for (let i = 0; i < 40 && (await page.evaluate(() => document.activeElement?.textContent)) !== 'Pause'; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Pause');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Pause' });
    await dialog.waitFor();
    // Escape closes the dialog and changes nothing
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect((await ts.server.registry.audit({ action: 'rollout.pause' })).length).toBe(0);
    await page.getByRole('button', { name: 'Pause' }).focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    // the dialog takes focus; Tab reaches its confirm button
    for (let i = 0; i < 5 && !(await page.evaluate(() => document.activeElement?.textContent ?? '')).startsWith('Yes'); i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('rollout-panel').locator('h2').innerText()).toContain('paused');
    expect((await ts.server.registry.audit({ action: 'rollout.pause' })).length).toBe(1);
    await page.close();
  });

  it('Abort sends all traffic back at once; Cancel in the dialog changes nothing', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${ts.url}/ui/#/deployments/bc-abort`);
    await page.getByTestId('rollout-actions').waitFor();
    await page.getByRole('button', { name: 'Abort' }).click();
    await page.getByRole('dialog', { name: 'Abort' }).getByRole('button', { name: 'Cancel' }).click();
    expect((await ts.server.rollouts.status('bc-abort')).rollout.state).toBe('progressing');
    await page.getByRole('button', { name: 'Abort' }).click();
    await page.getByRole('dialog', { name: 'Abort' }).getByRole('button', { name: 'Yes, abort' }).click();
    await expect.poll(() => page.getByTestId('rollout-panel').locator('h2').innerText()).toContain('aborted');
    const d = await ts.server.registry.getDeployment('bc-abort');
    expect(d.target).toEqual({ kind: 'version', version: 1 });
    expect(d.traffic?.split ?? []).toEqual([]);
    expect(await page.locator('.split').first().getAttribute('aria-label')).toBe('v1 100%');
    await page.close();
  });

  it('a read-only token sees the rollout but no buttons', async () => {
    const secured = await startServer({ auth: { dev: false } }, { adminToken: 'ui-admin-token-7654321' });
    try {
      await registerVersion(secured, 'bc', { fixture: 'breast-cancer-logreg' });
      await registerVersion(secured, 'bc', { fixture: 'breast-cancer-gbt' });
      await secured.server.registry.deploy({ name: 'ro', model: 'bc', target: { kind: 'version', version: 1 } });
      await secured.server.service.refresh();
      await secured.server.rollouts.start('ro', { toVersion: 2, steps: '50', interval: '10m' });
      const viewer = (await secured.server.tokens.create({ name: 'bob-viewer', roles: ['viewer'], expiresAt: Date.now() + 3_600_000 })).token;
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`${secured.url}/ui/#/deployments/ro`);
      await page.getByLabel('API token').fill(viewer);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('rollout-panel').waitFor();
      expect(await page.getByTestId('rollout-panel').innerText()).toContain('Your token cannot change this deployment (it needs deploy:ro)');
      expect(await page.getByRole('button', { name: 'Promote' }).count()).toBe(0);
      await page.close();
    } finally {
      await secured.close();
    }
  });
});

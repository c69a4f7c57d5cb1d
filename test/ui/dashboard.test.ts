/*
 * The dashboard end to end in a real headless Chromium (Debian's, driven by playwright-core) against
 * a real server: the static build and its caching headers, sign-in with a real token, the Models
 * list (100 models, search) and a model page showing values that came from the server (versions,
 * aliases, the card's metrics, the signature, the lineage). Screenshots of every page, at desktop and
 * phone sizes, go to test-artifacts/ui/ (git-ignored); render times are measured with the
 * Performance API and written beside them.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { dashboardMissing, launchChromium, renderMs, shoot, writePerf, UI_ARTIFACTS, UI_DIR } from '../helpers/browser.js';
import { fixturePath } from '../helpers/fixtures.js';
import { startServer, type TestServer } from '../helpers/server.js';

const UI = UI_DIR;
const ARTIFACTS = UI_ARTIFACTS;
const missing = dashboardMissing();
if (missing) console.warn(`skipping the dashboard tests: ${missing}`);

let ts: TestServer;
let browser: Browser;
const backend = new OnnxBackend();
const perf: Record<string, number> = {};

beforeAll(async () => {
  if (missing) return;
  ts = await startServer();
  const inspect = (b: Uint8Array) => backend.inspect(b);
  const card = parseCard(readFileSync(fixturePath('credit', 'card.json'), 'utf8'), 'card.json');
  await ts.server.registry.registerVersion({ name: 'credit', filePath: fixturePath('credit'), card, inspect, tags: { stage: 'reviewed' } });
  await ts.server.registry.setModelDescription('credit', 'Credit default risk');
  await ts.server.registry.setModelTags('credit', { team: 'risk' });
  await ts.server.registry.setAlias('credit', 'production', 1);
  // a second version as a pipeline registers it: with its lineage
  await ts.server.registry.registerVersion({
    name: 'credit', filePath: fixturePath('breast-cancer-logreg'), inspect,
    lineage: { pipeline: 'credit-retrain', pipelineRun: 7, gitCommit: 'c0ffee'.padEnd(40, '0'), gitDirty: false, datasets: [{ path: '/data/train.csv', sha256: 'ab'.repeat(32) }], params: { seed: 1 }, parent: 'credit@1' },
  });
  await ts.server.registry.setAlias('credit', 'candidate', 2);
  // 100 models in all, one with a very long name (the layout must not break on it)
  for (let i = 0; i < 98; i++) await ts.server.registry.registerVersion({ name: `model-${String(i).padStart(3, '0')}`, filePath: fixturePath('breast-cancer-logreg'), inspect });
  await ts.server.registry.registerVersion({ name: `a-model-with-a-very-long-name-that-goes-on-and-on-${'x'.repeat(60)}`, filePath: fixturePath('breast-cancer-logreg'), inspect });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  if (!missing) writePerf('perf.json', perf);
});

describe.skipIf(missing !== null)('the dashboard', () => {
  it('is a static build under 300 KB of compressed JavaScript, served with caching headers', async () => {
    const index = await fetch(`${ts.url}/ui/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    let jsGzip = 0;
    for (const a of assets) {
      const res = await fetch(`${ts.url}${a}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      if (a.endsWith('.js')) jsGzip += gzipSync(readFileSync(path.join(UI, a.replace('/ui/', '')))).length;
      const again = await fetch(`${ts.url}${a}`, { headers: { 'if-none-match': res.headers.get('etag')! } });
      expect(again.status).toBe(304);
    }
    perf['firstLoadJsGzipKB'] = Math.round(jsGzip / 102.4) / 10;
    expect(jsGzip).toBeLessThan(300 * 1024);
    // /ui serves the page too; a missing asset (an older build's) is a 404; nothing outside assets/ is served
    expect((await fetch(`${ts.url}/ui`)).status).toBe(200);
    expect((await fetch(`${ts.url}/ui/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${ts.url}/ui/assets/..%2Findex.html`)).status).toBe(404);
    expect((await fetch(`${ts.url}/ui/models/credit`)).status).toBe(404);
  });

  it('lists 100 models, searches them, and shows a model with what the server holds', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${ts.url}/ui/`);
    await page.getByTestId('models-table').waitFor();
    perf['models(100)'] = await renderMs(page, 'models');
    expect(await page.getByTestId('models-table').locator('tbody tr').count()).toBe(100);
    await expect(page.getByText('dev mode (no authentication)').isVisible()).resolves.toBe(true);
    await shoot(page, 'models');

    await page.getByRole('searchbox', { name: 'search models' }).fill('risk');
    await expect.poll(() => page.getByTestId('models-table').locator('tbody tr').count()).toBe(1);
    const row = page.getByTestId('models-table').locator('tbody tr').first();
    expect(await row.innerText()).toContain('production → 1');

    await page.getByRole('link', { name: 'credit', exact: true }).click();
    await page.getByTestId('version-detail').waitFor();
    perf['model'] = await renderMs(page, 'versions');
    const versions = page.getByTestId('versions-table').locator('tbody tr');
    expect(await versions.count()).toBe(2);
    // the latest version is shown: 2, with its lineage from the pipeline run
    const lineage = page.getByTestId('lineage');
    await expect.poll(() => lineage.innerText()).toContain('run 7');
    expect(await lineage.innerText()).toContain('parent\ncredit@1');
    expect(await lineage.innerText()).toContain('/data/train.csv');
    await shoot(page, 'model-version-2');

    // version 1: the card's metrics and the credit signature, as registered
    await page.getByTestId('versions-table').getByRole('link', { name: '1', exact: true }).click();
    await expect.poll(() => page.getByTestId('version-detail').locator('h2').innerText()).toContain('Version 1');
    const metrics = await page.getByTestId('card-metrics').innerText();
    expect(metrics).toMatch(/accuracy\s+0\.8663/);
    const inputs = await page.getByTestId('signature-inputs').innerText();
    expect(inputs).toContain('numeric');
    expect(inputs).toMatch(/FP32\s+\[N, 12\]/);
    expect(inputs).toContain('BYTES');
    expect(await page.getByTestId('lineage').innerText()).toContain('registered by hand');
    await shoot(page, 'model-version-1');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('keeps a long model name inside the page at phone width', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${ts.url}/ui/#/models/a-model-with-a-very-long-name-that-goes-on-and-on-${'x'.repeat(60)}`);
    await page.getByTestId('version-detail').waitFor();
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'long-name-phone.png'), fullPage: true });
    const overflow = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      // the widest element that pokes out, to name it when the layout breaks
      const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > width + 1 && !e.closest('.table-wrap'));
      return { by: document.documentElement.scrollWidth - width, culprits: wide.slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className}`) };
    });
    expect(overflow, JSON.stringify(overflow.culprits)).toMatchObject({ by: 0 });
    await page.close();
  });

  it('signs in with a token on a server that requires one, and refuses a bad one', async () => {
    const secured = await startServer({ auth: { dev: false } }, { adminToken: 'ui-admin-token-1234567' });
    try {
      const viewer = (await secured.server.tokens.create({ name: 'alice-viewer', roles: ['viewer'], expiresAt: Date.now() + 3_600_000 })).token;
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`${secured.url}/ui/`);
      await page.getByLabel('API token').waitFor();
      await shoot(page, 'sign-in');
      await page.getByLabel('API token').fill('berth_not_a_real_token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.getByRole('alert').innerText()).toContain('does not know this token');
      await page.getByLabel('API token').fill(viewer);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('models-table').or(page.getByText('No models yet')).first().waitFor();
      expect(await page.getByText('alice-viewer').isVisible()).toBe(true);
      // the token is kept for the tab: a reload stays signed in
      await page.reload();
      await page.getByText('alice-viewer').waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API token').waitFor();
      await page.close();
    } finally {
      await secured.close();
    }
  });
});

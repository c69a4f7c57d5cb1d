/*
 * The dashboard's version compare in real Chromium against a real server: two versions of a
 * breast-cancer model (logistic regression, then gradient-boosted trees) with their cards'
 * metrics, a signature that changed (v1 refuses NaN, v2's trees route it), and reference data
 * profiled by the server (v2's from the fixture's documented covariate-drift file), drawn as
 * histograms of both versions on common bins; and a model whose input shape changed and which has
 * no reference data at all.
 */
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { dashboardMissing, launchChromium, renderMs, shoot, writePerf } from '../helpers/browser.js';
import { fixturePath } from '../helpers/fixtures.js';
import { addModel } from '../helpers/onnx-proto.js';
import { registerVersion, startServer, type TestServer } from '../helpers/server.js';

const missing = dashboardMissing();
if (missing) console.warn(`skipping the dashboard compare tests: ${missing}`);

let ts: TestServer;
let browser: Browser;
const perf: Record<string, number> = {};
const backend = new OnnxBackend();

interface FixtureCard {
  feature_names: string[];
  class_labels: number[];
  metrics: Record<string, number | string>;
  monitoring: { files: Record<string, { must_flag?: string[] }> };
}
const logregCard = JSON.parse(readFileSync(fixturePath('breast-cancer-logreg', 'card.json'), 'utf8')) as FixtureCard;
const gbtCard = JSON.parse(readFileSync(fixturePath('breast-cancer-gbt', 'card.json'), 'utf8')) as FixtureCard;

/** How far the page is wider than the window (0: nothing pokes out). */
function overflowBy(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

beforeAll(async () => {
  if (missing) return;
  ts = await startServer();
  const inspect = (b: Uint8Array) => backend.inspect(b);
  // v1: the logistic regression, whose card says its input refuses NaN (scikit-learn's would)
  const v1Card = parseCard(
    JSON.stringify({
      format: 'berth-card/1',
      title: 'Breast cancer, logistic regression',
      task: 'binary-classification',
      inputs: [{ name: 'input', features: logregCard.feature_names, allow_non_finite: false }],
      outputs: [{ name: 'label', role: 'label' }, { name: 'probabilities', role: 'probabilities' }],
      classes: { labels: logregCard.class_labels },
      metrics: Object.fromEntries(Object.entries(logregCard.metrics).filter(([, v]) => typeof v === 'number')),
    }),
    'card.json',
  );
  await ts.server.registry.registerVersion({ name: 'bc', filePath: fixturePath('breast-cancer-logreg'), card: v1Card, inspect, tags: { stage: 'retired' } });
  // v2: the trees, with their own fixture card
  const v2 = await registerVersion(ts, 'bc', { fixture: 'breast-cancer-gbt' });
  expect(v2).toBe(2);
  await ts.server.registry.setAlias('bc', 'production', 2);
  await ts.server.monitor.profileVersion('bc', 1, fixturePath('breast-cancer-logreg', 'reference.csv'));
  await ts.server.monitor.profileVersion('bc', 2, fixturePath('breast-cancer-gbt', 'current_covariate_drift.csv'));
  // a model whose input grew from 4 to 5 columns, with no reference data
  await registerVersion(ts, 'adder', { bytes: addModel({ n: 4, batchDim: 'N' }) });
  await registerVersion(ts, 'adder', { bytes: addModel({ n: 5, batchDim: 'N' }) });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  if (!missing) writePerf('perf-compare.json', perf);
});

describe.skipIf(missing !== null)('version compare', () => {
  it('opens from the model page and shows both cards metrics with their difference, the signature change and overlaid histograms', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${ts.url}/ui/#/models/bc`);
    await page.getByTestId('compare-link').click();
    await expect.poll(() => page.evaluate(() => window.location.hash)).toBe('#/models/bc/compare?a=1&b=2');
    await page.getByTestId('compare-metrics').waitFor();
    perf['compare'] = await renderMs(page, 'compare');

    // metrics: the cards' numbers, b − a, and which is better where the name says which way
    const metric = async (name: string): Promise<string[]> => page.locator(`[data-testid="compare-metrics"] tr[data-metric="${name}"] > *`).allInnerTexts();
    const a = logregCard.metrics;
    const b = gbtCard.metrics;
    for (const [name, better] of [['accuracy', 'version 1'], ['roc_auc', 'version 1'], ['log_loss', 'version 1']] as const) {
      const [label, va, vb, delta, winner] = await metric(name);
      expect(label).toContain(name);
      expect(va).toBe(String(a[name]));
      expect(vb).toBe(String(b[name]));
      const d = Number(((b[name] as number) - (a[name] as number)).toPrecision(4));
      expect(delta!.split(' ')[0]).toBe(d > 0 ? `+${d}` : String(d).replace('-', '−'));
      expect(winner).toBe(better);
    }
    expect((await metric('accuracy'))[3]).toBe('−0.035 (−3.6%)');

    // the signature: v1's input refused NaN, v2's accepts it; the change is marked
    expect(await page.getByTestId('signature-summary').innerText()).toBe('1 difference: input input changed (non-finite).');
    const changed = page.locator('[data-testid="signature-diff-inputs"] tr[data-change="changed"]');
    expect(await changed.count()).toBe(1);
    expect(await changed.locator('mark.diff-mark').allInnerTexts()).toEqual(['NaN/Inf refused', 'NaN/Inf accepted']);
    expect(await page.locator('[data-testid="signature-diff-outputs"] tr[data-change="same"]').count()).toBe(2);

    // reference data: both versions drawn on common bins for a feature, the drifted features first
    const ref1 = (await (await fetch(`${ts.url}/v1/models/bc/versions/1/reference`)).json()) as { rows: number; columns: { name: string }[] };
    const ref2 = (await (await fetch(`${ts.url}/v1/models/bc/versions/2/reference`)).json()) as { rows: number };
    expect(await page.getByTestId('reference-sides').innerText()).toContain(`version 1: ${ref1.rows} rows from reference.csv`);
    expect(await page.getByTestId('reference-sides').innerText()).toContain(`version 2: ${ref2.rows} rows from current_covariate_drift.csv`);
    expect(ref1.columns.map((c) => c.name)).toContain('mean texture');
    const hist = page.getByTestId('hist-mean texture');
    await hist.waitFor();
    for (const side of ['a', 'b']) {
      const bars = hist.locator(`g[data-series="${side}"] rect`);
      expect(await bars.count()).toBeGreaterThan(3);
      // each bar's title holds both versions' shares; each series sums to 100 %
      const titles = await bars.evaluateAll((rs) => rs.map((r) => r.querySelector('title')?.textContent ?? ''));
      const share = (t: string): number => Number(new RegExp(`version ${side === 'a' ? 1 : 2} ([0-9.]+)%`).exec(t)![1]);
      expect(titles.reduce((s, t) => s + share(t), 0)).toBeCloseTo(100, 0);
    }
    expect(await hist.locator('.legend').innerText()).toMatch(/version 1[\s\S]*version 2/);
    const first = await page.locator('[data-testid="compare-histograms"] figure').first().getAttribute('data-testid');
    expect(gbtCard.monitoring.files['current_covariate_drift.csv']!.must_flag!.map((f) => `hist-${f}`)).toContain(first);
    expect(await hist.locator('figcaption').innerText()).toMatch(/moved [1-9][0-9]*%/);

    // facts side by side
    const facts = await page.getByTestId('compare-facts').innerText();
    expect(facts).toContain('production');
    expect(facts).toContain('stage=retired');
    await shoot(page, 'compare');
    // nothing pokes out sideways, on a desktop or a phone
    expect(await overflowBy(page)).toBe(0);
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await overflowBy(page)).toBe(0);
    await page.setViewportSize({ width: 1280, height: 800 });

    // swapping the versions flips the sign of the difference
    await page.getByRole('button', { name: 'swap the two versions' }).click();
    await expect.poll(() => page.evaluate(() => window.location.hash)).toBe('#/models/bc/compare?a=2&b=1');
    await expect.poll(async () => (await metric('accuracy'))[3]).toBe('+0.035 (+3.7%)');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('marks a changed input shape and says when a version has no reference data', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${ts.url}/ui/#/models/adder/compare`);
    // no versions named: the newest against the one before
    await expect.poll(() => page.evaluate(() => window.location.hash)).toBe('#/models/adder/compare?a=1&b=2');
    const row = page.locator('[data-testid="signature-diff-inputs"] tr[data-change="changed"]');
    await row.waitFor();
    expect(await row.innerText()).toContain('changed: shape');
    expect(await row.locator('mark.diff-mark').allInnerTexts()).toEqual(['[N, 4]', '[N, 5]']);
    await page.getByTestId('no-reference-1').waitFor();
    expect(await page.getByTestId('no-reference-2').innerText()).toContain('no reference data for version 2');
    expect(await page.getByText('Neither card states metrics.').isVisible()).toBe(true);
    expect(await overflowBy(page)).toBe(0);
    await shoot(page, 'compare-no-reference');
    await page.close();
  });
});

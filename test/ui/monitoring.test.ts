/*
 * The dashboard's monitoring in real Chromium against a real server: the credit fixture with its
 * reference profile, traffic spread over the last hours (no drift, then the fixture's documented
 * covariate drift), labels sent back as feedback, a fairness attribute and a drift alert rule. The
 * page must show the server's numbers: the drift heatmap cell by cell, the histogram's verdict, the
 * realised accuracy, the fairness groups and the firing alert.
 */
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/core/index.js';
import { parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { dashboardMissing, launchChromium, overflowing, renderMs, shoot, writePerf } from '../helpers/browser.js';
import { fixturePath } from '../helpers/fixtures.js';
import { get, post, startServer, type TestServer } from '../helpers/server.js';

const missing = dashboardMissing();
if (missing) console.warn(`skipping the dashboard monitoring tests: ${missing}`);

const HOUR = 3_600_000;
/** the server's clock runs `offset` ms away from the wall clock, so the test can spread traffic over hours */
const shift = { offset: 0 };
const clock: Clock = { ...systemClock, now: () => Date.now() + shift.offset };

let ts: TestServer;
let browser: Browser;
const perf: Record<string, number> = {};

interface Report {
  drift: { driftedColumns: number; evaluatedColumns: number; columns: { column: string; drifted: boolean }[] };
  performance: { classification: { accuracy: number } };
  fairness: { attribute: string; groups: { group: string; rows: number }[]; disparateImpact: number }[];
}
interface Timeline {
  buckets: { rows: number; drift: Record<string, { drifted: boolean }> }[];
}

function readCsv(file: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(fixturePath('credit', file), 'utf8').trim().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

const CATEGORICAL = new Set(['home_ownership', 'loan_purpose', 'region']);

/** Send rows [from, to) of a credit file in requests of 50; returns the feedback items for them. */
async function send(file: string, from: number, to: number): Promise<{ request_id: string; label: number[] }[]> {
  const csv = readCsv(file);
  const li = csv.header.indexOf('label');
  const items = [];
  for (let i = from; i < to; i += 50) {
    const chunk = csv.rows.slice(i, Math.min(i + 50, to));
    const rows = chunk.map((r) => Object.fromEntries(csv.header.flatMap((h, j) => (h === 'label' ? [] : [[h, CATEGORICAL.has(h) ? r[j]! : Number(r[j])] as const]))));
    const res = await post<{ request_id: string }>(`${ts.url}/v1/deployments/credit/predict`, { rows });
    expect(res.status, res.text).toBe(200);
    items.push({ request_id: res.body.request_id, label: chunk.map((r) => Number(r[li])) });
  }
  return items;
}

beforeAll(async () => {
  if (missing) return;
  shift.offset = -2.5 * HOUR;
  ts = await startServer(
    { inferenceLog: { maxRowsPerSecond: 0 }, alerts: { rules: [{ name: 'drift', deployment: '*', when: 'drift_share > 0.2', window: '1h', severity: 'critical' }] } },
    { clock },
  );
  const text = JSON.parse(readFileSync(fixturePath('credit', 'card.json'), 'utf8')) as { monitoring: Record<string, unknown> };
  text.monitoring['sensitive_attributes'] = ['home_ownership'];
  const card = parseCard(JSON.stringify(text), 'card.json');
  const backend = new OnnxBackend();
  await ts.server.registry.registerVersion({ name: 'credit', filePath: fixturePath('credit'), card, inspect: (b) => backend.inspect(b) });
  await ts.server.registry.deploy({ name: 'credit', model: 'credit', target: { kind: 'version', version: 1 } });
  await ts.server.service.refresh();
  const prof = await post(`${ts.url}/v1/models/credit/versions/1/profile`, {
    reference_base64: readFileSync(fixturePath('credit', 'reference.csv')).toString('base64'),
    reference_file_name: 'reference.csv',
  });
  expect(prof.status, prof.text).toBe(201);
  // three half-hours of unchanged traffic, then three of the documented covariate drift
  const items = [];
  for (let k = 0; k < 6; k++) {
    const file = k < 3 ? 'current_nodrift.csv' : 'current_covariate_drift.csv';
    items.push(...(await send(file, k * 500, (k + 1) * 500)));
    if (k < 5) shift.offset += HOUR / 2;
  }
  shift.offset = 0;
  const fb = await post<{ accepted: number }>(`${ts.url}/v1/deployments/credit/feedback`, { items });
  expect(fb.status, fb.text).toBe(200);
  expect(fb.body.accepted).toBe(3000);
  await ts.server.alerts.evaluateNow();
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  if (!missing) writePerf('perf-monitoring.json', perf);
});

async function open(page: Page, hash: string): Promise<void> {
  await page.goto(`${ts.url}/ui/#/${hash}`);
}

describe.skipIf(missing !== null)('monitoring in the dashboard', () => {
  it("draws drift over time cell by cell as the server measured it, and the report's numbers beside it", async () => {
    const report = (await get<Report>(`${ts.url}/v1/deployments/credit/monitor?window=24h&preset=berth`)).body;
    const timeline = (await get<Timeline>(`${ts.url}/v1/deployments/credit/monitor/timeline?window=24h&preset=berth&points=24`)).body;
    // the server's own view first: unchanged traffic early, the documented shifts late
    const withRows = timeline.buckets.filter((b) => b.rows > 0);
    expect(withRows.length).toBeGreaterThanOrEqual(3);
    expect(Object.values(withRows[0]!.drift).some((c) => c.drifted)).toBe(false);
    const last = withRows.at(-1)!;
    for (const f of ['debt_to_income', 'loan_amount', 'credit_utilization', 'region']) expect(last.drift[f]!.drifted, f).toBe(true);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await open(page, 'deployments/credit/monitor');
    await page.getByTestId('heatmap').waitFor();
    await page.getByTestId('monitor-stats').waitFor();
    perf['monitor'] = await renderMs(page, 'monitor');
    perf['timeline'] = await renderMs(page, 'timeline');
    expect(await page.getByTestId('stat-drift').locator('.stat-value').innerText()).toBe(`${report.drift.driftedColumns} / ${report.drift.evaluatedColumns}`);

    // every heatmap cell says what the timeline says, bucket by bucket
    const rows = page.getByTestId('heatmap').locator('tbody tr');
    expect(await rows.count()).toBe(Object.keys(timeline.buckets.find((b) => b.rows > 0)!.drift).length);
    for (const feature of ['loan_amount', 'age', 'region']) {
      const levels = await rows.filter({ has: page.getByRole('button', { name: feature, exact: true }) }).locator('td').evaluateAll((tds) => tds.map((td) => td.getAttribute('data-level')));
      expect(levels, feature).toEqual(timeline.buckets.map((b) => (b.rows === 0 ? 'none' : b.drift[feature]!.drifted ? 'drift' : 'ok')));
    }
    // the most drifted features come first
    const firstFour = await rows.locator('th').evaluateAll((ths) => ths.slice(0, 4).map((t) => t.textContent));
    expect(new Set(firstFour)).toEqual(new Set(['debt_to_income', 'loan_amount', 'credit_utilization', 'region']));

    // picking a feature draws its reference against current with the report's verdict
    await page.getByRole('button', { name: 'age', exact: true }).click();
    expect(await page.getByTestId('histogram-feature').inputValue()).toBe('age');
    const age = report.drift.columns.find((c) => c.column === 'age')!;
    expect(await page.getByTestId('histogram-verdict').innerText()).toMatch(age.drifted ? /^drifted/ : /^no drift/);
    await page.getByTestId('histogram-feature').selectOption('loan_amount');
    expect(await page.getByTestId('histogram-verdict').innerText()).toMatch(/^drifted/);
    expect(await page.getByTestId('histogram').locator('svg').getAttribute('aria-label')).toMatch(/^loan_amount: share of rows per bin: reference peaks at .+; current peaks at /);

    // accuracy from the labels, as the server computed it
    const acc = `${(report.performance.classification.accuracy * 100).toFixed(1)}%`;
    expect(await page.getByTestId('accuracy-summary').innerText()).toContain(`Realised accuracy ${acc} on 3,000 labelled rows`);
    // fairness groups and their row counts
    const f = report.fairness.find((x) => x.attribute === 'home_ownership')!;
    const fair = page.getByTestId('fairness-table');
    expect(await fair.locator('caption').innerText()).toContain(`disparate impact ${f.disparateImpact.toFixed(3)}`);
    for (const g of f.groups) {
      expect(await fair.locator('tbody tr', { hasText: g.group }).first().locator('td').nth(1).innerText()).toBe(g.rows.toLocaleString('en-US'));
    }
    // the drift alert fired on the last hour
    expect(await page.getByTestId('monitor-alerts').locator('tbody tr', { hasText: 'drift' }).innerText()).toContain('firing');
    await shoot(page, 'monitoring');
    // at a phone's width nothing sticks out of the page (wide tables scroll in their own box)
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await overflowing(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('lists the alerts with the firing one first and its event, linking to the monitoring page', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await open(page, 'alerts');
    await page.getByTestId('alerts-table').waitFor();
    perf['alerts'] = await renderMs(page, 'alerts');
    const first = page.getByTestId('alerts-table').locator('tbody tr').first();
    expect(await first.innerText()).toMatch(/credit\s+drift\s+firing/);
    expect(await page.getByTestId('alert-events').innerText()).toMatch(/drift firing on credit/);
    await first.getByRole('link', { name: 'credit' }).click();
    await page.getByTestId('heatmap').waitFor();
    expect(page.url()).toMatch(/#\/deployments\/credit\/monitor$/);
    await open(page, 'alerts');
    await page.getByTestId('alerts-table').waitFor();
    await shoot(page, 'alerts');
    await page.close();
  });
});

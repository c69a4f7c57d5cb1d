/*
 * The dashboard's playground in real Chromium against a real server with real models: the form is
 * generated from the card (credit: twelve numbers and three categories; breast-cancer-gbt: thirty
 * numbers) and prefilled from the reference data, a submitted row is answered exactly as
 * `POST /v1/deployments/{name}/predict` answers it called directly (and as the fixture's golden
 * output says), its explanation's bars are the ones `POST …/explain` answers, a logged request
 * fills the form, and bad input is refused beside the field it concerns: by the page before
 * anything is sent, or by the server naming the field.
 */
import { readFileSync } from 'node:fs';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainResult, PredictResult } from '../../sdk/types.js';
import { dashboardMissing, launchChromium, overflowing, renderMs, shoot, writePerf } from '../helpers/browser.js';
import { fixturePath, flatten, readCardJson, readGolden } from '../helpers/fixtures.js';
import { deployFixture, post, startServer, type TestServer } from '../helpers/server.js';

const missing = dashboardMissing();
if (missing) console.warn(`skipping the dashboard playground tests: ${missing}`);

let ts: TestServer;
let browser: Browser;
const perf: Record<string, number> = {};

type Row = Record<string, number | string>;

/** Row `r` of a fixture's golden_32 case as named features, with its expected label and probabilities. */
function goldenRow(model: string, r: number): { row: Row; label: number; probabilities: number[] } {
  const g = readGolden(model);
  const c = g.cases.find((x) => x.name === 'golden_32') ?? g.cases[0]!;
  const card = readCardJson(model) as { inputs: { name: string; feature_names: string[] }[] };
  const row: Row = {};
  for (const input of card.inputs) {
    const width = input.feature_names.length;
    const flat = flatten(c.inputs[input.name]!.data) as (number | string)[];
    input.feature_names.forEach((f, j) => (row[f] = flat[r * width + j]!));
  }
  const probs = flatten(c.expected['probabilities']!.data) as number[];
  return { row, label: (flatten(c.expected['label']!.data) as number[])[r]!, probabilities: probs.slice(r * 2, r * 2 + 2) };
}

async function attachReference(model: string, version: number): Promise<void> {
  const data = readFileSync(fixturePath(model, 'reference.csv'));
  const r = await post(`${ts.url}/v1/models/${model}/versions/${version}/profile`, { reference_base64: data.toString('base64'), reference_file_name: 'reference.csv' });
  expect(r.status, r.text).toBe(201);
}

/** Type (or pick) every feature of `row` into the form. */
async function fill(page: Page, row: Row): Promise<void> {
  for (const [k, v] of Object.entries(row)) {
    const field = page.getByLabel(k, { exact: true });
    if (typeof v === 'string') await field.selectOption(v);
    else await field.fill(String(v));
  }
}

/** What the page shows of its prediction: the label and each class's probability. */
async function shown(page: Page): Promise<{ label: string; probabilities: Record<string, number> }> {
  const label = await page.getByTestId('prediction-label').innerText();
  const rows = page.getByTestId('probabilities').locator('tr');
  const probabilities: Record<string, number> = {};
  for (let i = 0; i < (await rows.count()); i++) {
    const tr = rows.nth(i);
    probabilities[(await tr.getAttribute('data-class'))!] = Number(await tr.getAttribute('data-value'));
  }
  return { label, probabilities };
}

function isPredict(deployment: string): (r: Request) => boolean {
  return (r) => r.method() === 'POST' && new URL(r.url()).pathname === `/v1/deployments/${deployment}/predict`;
}

beforeAll(async () => {
  if (missing) return;
  ts = await startServer();
  await deployFixture(ts, 'credit');
  await attachReference('credit', 1);
  await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'bc' });
  await attachReference('breast-cancer-gbt', 1);
  // traffic to pick from: golden rows 1–3 of credit, each under a request id of its own
  for (const r of [1, 2, 3]) {
    const res = await post(`${ts.url}/v1/deployments/credit/predict`, { rows: [goldenRow('credit', r).row] }, { 'x-request-id': `golden-row-${r}` });
    expect(res.status, res.text).toBe(200);
  }
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  if (!missing) writePerf('perf-playground.json', perf);
});

describe.skipIf(missing !== null)('the playground in the dashboard', () => {
  it('answers a golden row exactly as the API and the fixture do, and draws the explanation /explain answers', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${ts.url}/ui/#/deployments/credit/playground`);
    await page.getByTestId('playground-form').waitFor();
    perf['playground form'] = await renderMs(page, 'playground');
    // the form comes from the card, prefilled from the reference profile: medians and most frequent categories
    expect(await page.getByLabel('age', { exact: true }).inputValue()).toMatch(/^[0-9]+$/);
    expect(await page.getByLabel('region', { exact: true }).locator('option').allInnerTexts()).toEqual(['northeast', 'midwest', 'south', 'west']);
    expect(await page.getByTestId('prefill-note').innerText()).toBe("Started with every field from the training data's median or most frequent value.");
    expect(await page.locator('[data-field="debt_to_income"] .pg-hint').innerText()).toMatch(/^training range [0-9.]+ – [0-9.]+, median [0-9.]+$/);

    const golden = goldenRow('credit', 0);
    await fill(page, golden.row);
    const sent = page.waitForRequest(isPredict('credit'));
    await page.getByLabel('interest_rate', { exact: true }).press('Enter');
    const body = (await sent).postDataJSON() as { rows: Row[] };
    expect(body).toEqual({ rows: [golden.row] });
    await page.getByTestId('prediction-label').waitFor();
    perf['prediction'] = await renderMs(page, 'playground-predict');

    const direct = await post<PredictResult>(`${ts.url}/v1/deployments/credit/predict`, body);
    expect(direct.status, direct.text).toBe(200);
    const want = direct.body.predictions[0]!;
    const got = await shown(page);
    expect(got).toEqual({ label: want.label, probabilities: want.probabilities });
    // and the fixture's golden answer (scikit-learn's), to its tolerance
    expect(got.label).toBe(['repaid', 'default'][golden.label]);
    expect(got.probabilities['repaid']).toBeCloseTo(golden.probabilities[0]!, 5);
    expect(got.probabilities['default']).toBeCloseTo(golden.probabilities[1]!, 5);
    expect(await page.getByTestId('answered-by').innerText()).toBe('credit version 1');
    expect(await page.getByTestId('latency').innerText()).toMatch(/^[0-9.]+ ms/);

    // the explanation: the bars are the server's, largest first
    await page.getByTestId('explanation-chart').waitFor();
    perf['explanation'] = await renderMs(page, 'playground-explain');
    const ex = await post<ExplainResult>(`${ts.url}/v1/deployments/credit/explain`, { ...body, method: 'auto' });
    expect(ex.status, ex.text).toBe(200);
    const e = ex.body.explanations[0]!;
    const bars = page.getByTestId('explanation-chart').locator('tbody tr');
    expect(await bars.count()).toBe(11); // the top 10, and the other 5 summed
    expect(await bars.first().getAttribute('data-feature')).toBe(e.contributions[0]!.feature);
    expect(Number(await bars.first().getAttribute('data-contribution'))).toBe(e.contributions[0]!.contribution);
    expect(await bars.first().locator('th').innerText()).toBe(`${e.contributions[0]!.feature} = ${String(e.contributions[0]!.value)}`);
    const rest = e.contributions.slice(10).reduce((s, c) => s + c.contribution, 0);
    expect(Number(await bars.last().getAttribute('data-contribution'))).toBeCloseTo(rest, 12);
    expect(await page.getByTestId('explanation-method').innerText()).toContain(ex.body.method);
    expect(await page.getByTestId('explanation-sum').innerText()).toContain('✓');

    // change two fields: the answer is marked stale until sent, then is the API's again
    await page.getByLabel('loan_purpose', { exact: true }).selectOption('small_business');
    await page.getByLabel('annual_income', { exact: true }).fill('18000');
    expect(await page.locator('.pg-submit').innerText()).toContain('The input changed since the answer shown.');
    const sent2 = page.waitForRequest(isPredict('credit'));
    await page.getByRole('button', { name: 'Predict' }).click();
    const body2 = (await sent2).postDataJSON() as { rows: Row[] };
    expect(body2.rows[0]).toEqual({ ...golden.row, loan_purpose: 'small_business', annual_income: 18000 });
    const direct2 = (await post<PredictResult>(`${ts.url}/v1/deployments/credit/predict`, body2)).body.predictions[0]!;
    await expect.poll(async () => (await shown(page)).probabilities).toEqual(direct2.probabilities);
    expect(direct2.probabilities!['default']).not.toBe(want.probabilities!['default']);
    // the old explanation is gone while the new one is computed; the new one adds up to the new prediction
    await page.getByTestId('explanation-chart').waitFor();
    const p2 = direct2.probabilities![String(direct2.label)]!;
    expect(await page.getByTestId('explanation-sum').innerText()).toContain(`= the prediction ${Number(p2.toPrecision(4))} ✓`);
    await shoot(page, 'playground');
    // nothing sticks out sideways on a phone
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await overflowing(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('fills the form from a logged request and shows what it got at the time', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${ts.url}/ui/#/deployments/credit/playground`);
    await page.getByTestId('logged-requests').waitFor();
    perf['logged requests'] = await renderMs(page, 'playground-requests');
    const ids = await page.getByTestId('logged-requests').locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-request-id')));
    // newest first: the three sent before the page opened are oldest, in reverse order
    expect(ids.slice(-3)).toEqual(['golden-row-3', 'golden-row-2', 'golden-row-1']);
    await page.getByRole('button', { name: 'Use request golden-row-2' }).click();
    const { row } = goldenRow('credit', 2);
    for (const [k, v] of Object.entries(row)) expect(await page.getByLabel(k, { exact: true }).inputValue(), k).toBe(String(v));
    const then = (await post<PredictResult>(`${ts.url}/v1/deployments/credit/predict`, { rows: [row] })).body.predictions[0]!;
    const picked = await page.getByTestId('picked-request').innerText();
    expect(picked).toContain('golden-row-2');
    expect(picked).toMatch(new RegExp(`prediction\\s+${String(then.label)}`));
    expect(await page.getByTestId('prefill-note').innerText()).toContain('Holding the values of request golden-row-2');
    await page.close();
  });

  it('refuses an empty field before sending, and shows the server\'s 400 beside the field it names', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    let predicts = 0;
    page.on('request', (r) => {
      if (isPredict('credit')(r)) predicts++;
    });
    await page.goto(`${ts.url}/ui/#/deployments/credit/playground`);
    await page.getByTestId('playground-form').waitFor();
    const income = page.getByLabel('annual_income', { exact: true });
    await income.fill('');
    await income.press('Enter');
    const note = page.locator('[data-field="annual_income"] [data-testid="field-error"]');
    expect(await note.innerText()).toBe('Enter a number (or null for a missing value).');
    expect(await income.getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('annual_income');
    await income.fill('12,5');
    await page.getByRole('button', { name: 'Predict' }).click();
    expect(await note.innerText()).toBe('"12,5" is not a number.');
    expect(predicts).toBe(0);

    // a raw JSON row goes to the server as typed; its 400 names the field
    await income.fill('52000');
    await page.getByRole('button', { name: 'Edit as JSON' }).click();
    const json = page.getByLabel('Row as JSON');
    const row = JSON.parse(await json.inputValue()) as Record<string, unknown>;
    expect(row['annual_income']).toBe(52000);
    const bad = { ...row, age: 'forty' };
    await json.fill(JSON.stringify(bad, null, 2));
    await page.getByRole('button', { name: 'Predict' }).click();
    await page.getByTestId('predict-error').waitFor();
    const direct = await post<{ error: string; code: string; field: string }>(`${ts.url}/v1/deployments/credit/predict`, { rows: [bad] });
    expect(direct.status).toBe(400);
    expect(direct.body.field).toBe('rows[0].age');
    const box = await page.getByTestId('predict-error').innerText();
    expect(box).toContain(`${direct.body.code} (400)`);
    expect(box).toContain(direct.body.error);
    expect(box).toContain('field: rows[0].age');
    // back in the form, the message stands beside age
    await page.getByRole('button', { name: 'Edit as form' }).click();
    expect(await page.getByLabel('age', { exact: true }).inputValue()).toBe('forty');
    expect(await page.locator('[data-field="age"] [data-testid="field-error"]').innerText()).toBe(direct.body.error);
    expect(predicts).toBe(1);
    await shoot(page, 'playground-error');
    await page.close();
  });

  it('explains a 30-feature tree ensemble exactly, with the golden answer', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${ts.url}/ui/#/deployments/bc/playground`);
    await page.getByTestId('playground-form').waitFor();
    expect(await page.locator('.pg-field').count()).toBe(30);
    // a search box narrows the thirty fields
    await page.getByLabel('Find a feature').fill('worst');
    expect(await page.locator('.pg-field:visible').count()).toBe(10);
    await page.getByLabel('Find a feature').fill('');
    // Random within range draws every value inside the training range its hint states
    await page.getByRole('button', { name: 'Random within range' }).click();
    const drawn = await page.locator('.pg-field').evaluateAll((fields) =>
      fields.map((f) => ({ value: Number(f.querySelector('input')!.value), hint: f.querySelector('.pg-hint')!.textContent! })),
    );
    for (const { value, hint } of drawn) {
      const [, lo, hi] = /^training range ([0-9.e-]+) – ([0-9.e-]+),/.exec(hint)!;
      expect(value, hint).toBeGreaterThanOrEqual(Number(lo) * 0.999);
      expect(value, hint).toBeLessThanOrEqual(Number(hi) * 1.001);
    }
    const golden = goldenRow('breast-cancer-gbt', 5);
    await fill(page, golden.row);
    const sent = page.waitForRequest(isPredict('bc'));
    await page.getByRole('button', { name: 'Predict' }).click();
    const body = (await sent).postDataJSON() as { rows: Row[] };
    const direct = (await post<PredictResult>(`${ts.url}/v1/deployments/bc/predict`, body)).body.predictions[0]!;
    await page.getByTestId('explanation-chart').waitFor();
    const got = await shown(page);
    expect(got).toEqual({ label: direct.label, probabilities: direct.probabilities });
    expect(got.label).toBe(['malignant', 'benign'][golden.label]);
    expect(got.probabilities['malignant']).toBeCloseTo(golden.probabilities[0]!, 5);
    expect(await page.getByTestId('explanation-method').innerText()).toBe('tree-path-dependent (exact)');
    const ex = (await post<ExplainResult>(`${ts.url}/v1/deployments/bc/explain`, { ...body, method: 'auto' })).body.explanations[0]!;
    const first = page.getByTestId('explanation-chart').locator('tbody tr').first();
    expect(await first.getAttribute('data-feature')).toBe(ex.contributions[0]!.feature);
    expect(Number(await first.getAttribute('data-contribution'))).toBe(ex.contributions[0]!.contribution);
    expect(await page.getByTestId('explanation-sum').innerText()).toContain('✓');
    // every feature on request
    await page.getByRole('combobox', { name: 'show' }).selectOption({ label: 'every feature' });
    expect(await page.getByTestId('explanation-chart').locator('tbody tr').count()).toBe(30);
    await shoot(page, 'playground-bc');
    await page.close();
  });

  it('a read-only token sees the form but no Predict button, and is told why', async () => {
    const secured = await startServer({ auth: { dev: false } }, { adminToken: 'ui-admin-token-7654321' });
    try {
      await deployFixture(secured, 'credit');
      const viewer = (await secured.server.tokens.create({ name: 'carol-viewer', roles: ['viewer'], expiresAt: Date.now() + 3_600_000 })).token;
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`${secured.url}/ui/#/deployments/credit/playground`);
      await page.getByLabel('API token').fill(viewer);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('playground-form').waitFor();
      expect(await page.getByRole('button', { name: 'Predict' }).count()).toBe(0);
      expect(await page.getByTestId('no-predict').innerText()).toContain('it needs predict:credit');
      expect(await page.locator('.pg-logged').innerText()).toContain('needs deploy:credit');
      await page.close();
    } finally {
      await secured.close();
    }
  });
});

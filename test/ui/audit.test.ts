/*
 * The dashboard's Audit page in real Chromium against a real server holding more than 10,000 real
 * audit rows (written through the registry, hash-chained, spread over two weeks): the newest entry
 * first, a windowed list (far fewer rows in the DOM than entries), the oldest of the 10,000 at the
 * end of the scroll, filters by action (on the server) and actor (in the browser) in a shareable
 * link, keyboard movement, the chain's verification and the export. The render time of 10,000
 * rows after their data arrived is measured with the Performance API and written to
 * test-artifacts/ui/perf-audit.json (the speed goal belongs to benchmarks, not to this test).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, silentLogger, systemClock, type Clock } from '../../src/core/index.js';
import { parseCard, type AuditEntry } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { createBerthServer, type BerthServer } from '../../src/server/index.js';
import { dashboardMissing, launchChromium, renderMs, shoot, writePerf } from '../helpers/browser.js';
import { fixturePath } from '../helpers/fixtures.js';
import { startServer } from '../helpers/server.js';

const missing = dashboardMissing();
if (missing) console.warn(`skipping the dashboard audit tests: ${missing}`);

const DAY = 86_400_000;
const GENERATED = 10_000;
const LONG = `a-model-with-a-very-long-name-that-goes-on-and-on-${'x'.repeat(60)}`;

let server: BerthServer;
let url: string;
let dataDir: string;
let browser: Browser;
const perf: Record<string, number> = {};
/** the registry's clock runs `shift` ms behind the real one while the history is written */
let shift = 0;
const clock: Clock = { ...systemClock, now: () => Date.now() + shift };

async function audit(query: string): Promise<AuditEntry[]> {
  const res = await fetch(`${url}/v1/audit?limit=10000${query ? `&${query}` : ''}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { entries: AuditEntry[] }).entries;
}

/** The ids of the rows in the DOM, top to bottom. */
function rowIds(page: Page): Promise<number[]> {
  return page.$$eval('[data-testid="audit-row"]', (rows) =>
    rows
      .map((r) => ({ id: Number((r as HTMLElement).dataset['id']), top: r.getBoundingClientRect().top }))
      .sort((a, b) => a.top - b.top)
      .map((r) => r.id),
  );
}

beforeAll(async () => {
  if (missing) return;
  dataDir = mkdtempSync(path.join(tmpdir(), 'berth-ui-audit-'));
  const config = resolveConfig({ logLevel: 'silent', auth: { dev: true } }, {}, { dataDir, server: { host: '127.0.0.1', port: 0 } });
  server = await createBerthServer({ config, logger: silentLogger, example: false, pollMs: 0, clock });
  url = await server.listen();
  const backend = new OnnxBackend();
  const inspect = (b: Uint8Array) => backend.inspect(b);
  const registry = server.registry;

  // two weeks ago: the models are registered
  shift = -15 * DAY;
  const card = parseCard(readFileSync(fixturePath('credit', 'card.json'), 'utf8'), 'card.json');
  await registry.registerVersion({ name: 'credit', filePath: fixturePath('credit'), card, inspect, actor: 'alice' });
  await registry.registerVersion({ name: 'bc', filePath: fixturePath('breast-cancer-logreg'), inspect, actor: 'alice' });
  await registry.registerVersion({ name: 'bc', filePath: fixturePath('breast-cancer-gbt'), inspect, actor: 'bob' });
  await registry.registerVersion({ name: LONG, filePath: fixturePath('breast-cancer-logreg'), inspect, actor: 'ci-pipeline' });

  // then 10,000 changes over 14 days, each a real chained audit row, in one transaction
  const started = performance.now();
  const actors = ['alice', 'bob', 'ci-pipeline', 'berth', 'dora.with.a.rather.long.account.name@example.com'];
  await registry.metadata.transaction(async (trx) => {
    for (let i = 0; i < GENERATED; i++) {
      shift = -14 * DAY + Math.floor((i * 14 * DAY) / GENERATED) - 3_600_000;
      const actor = actors[i % actors.length]!;
      const k = i % 5;
      const entry =
        k === 0 ? { action: 'version.tags.set' as const, target: 'version:bc@2', model: 'bc', details: { set: { run: String(i) }, before: { run: String(i - 5) }, after: { run: String(i) } } }
        : k === 1 ? { action: 'alias.set' as const, target: 'alias:bc@staging', model: 'bc', details: { version: 1 + (i % 2), previousVersion: 2 - (i % 2) } }
        : k === 2 ? { action: 'model.tags.set' as const, target: 'model:credit', model: 'credit', details: { set: { owner: actor }, before: {}, after: { owner: actor } } }
        : k === 3 ? { action: 'deployment.update' as const, target: 'deployment:bc-api', model: 'bc', details: { revision: i, from: { model: 'bc', target: { kind: 'version', version: 1 } }, to: { model: 'bc', target: { kind: 'version', version: 2 } } } }
        : { action: 'version.describe' as const, target: `version:${LONG}@1`, model: LONG, details: { description: `retrained on batch ${i}`, before: { description: null }, after: { description: `retrained on batch ${i}` } } };
      await registry.appendAudit({ ...entry, actor }, trx);
    }
  });
  perf['write10000AuditRowsMs'] = Math.round(performance.now() - started);

  // today: a few changes over HTTP, the newest one by carol
  shift = 0;
  await registry.setModelDescription('credit', 'Credit default risk', 'alice');
  const put = await fetch(`${url}/v1/models/bc/aliases/production`, { method: 'PUT', headers: { 'content-type': 'application/json', 'x-berth-actor': 'carol' }, body: JSON.stringify({ version: 2 }) });
  expect(put.status).toBe(200);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (!missing) writePerf('perf-audit.json', perf);
});

describe.skipIf(missing !== null)('the audit timeline', () => {
  it('shows the newest of 10,000 entries first, windowed, with the chain verified, and the oldest at the end of the scroll', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${url}/ui/#/audit`);
    const list = page.getByTestId('audit-list');
    await list.waitFor();
    perf['audit(10000)'] = await renderMs(page, 'audit');

    const entries = await audit('');
    expect(entries).toHaveLength(10_000);
    const newest = entries[0]!;
    expect(newest).toMatchObject({ action: 'alias.set', target: 'alias:bc@production', actor: 'carol' });
    expect(await page.getByTestId('audit-count').innerText()).toContain('10,000 entries (the newest 10,000');

    // the first row is the server's newest entry, under today's header
    const first = page.getByTestId('audit-row').first();
    expect(Number(await first.getAttribute('data-id'))).toBe(newest.id);
    const text = await first.innerText();
    expect(text).toContain(newest.action);
    expect(text).toContain(newest.target);
    expect(text).toContain('carol');
    expect(text).toContain('→ version 2 (new alias)');
    expect(await list.locator('h2').first().innerText()).toMatch(/^Today/);

    // windowing: a screenful of rows in the DOM, not 10,000
    const inDom = await page.getByTestId('audit-row').count();
    expect(inDom).toBeGreaterThan(5);
    expect(inDom).toBeLessThan(100);
    perf['auditRowsInDom'] = inDom;

    // the chain, as the server verifies it
    const verify = (await (await fetch(`${url}/v1/audit/verify`)).json()) as { ok: boolean; rows: number };
    expect(verify).toMatchObject({ ok: true });
    expect(verify.rows).toBeGreaterThan(GENERATED);
    await expect.poll(() => page.getByTestId('audit-chain').innerText()).toBe(`chain intact · ${verify.rows.toLocaleString('en-US')} rows`);

    // expanding the newest row shows its details as the server holds them
    await first.getByRole('button').first().click();
    const details = page.getByTestId('audit-details');
    await details.waitFor();
    expect(JSON.parse(await details.locator('pre').innerText())).toEqual(newest.details);
    expect(await details.innerText()).toContain('from 127.0.0.1');
    await shoot(page, 'audit');

    // scrolled to the end: the oldest of the 10,000 answered
    const oldest = entries[entries.length - 1]!;
    await list.evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await expect.poll(async () => (await rowIds(page)).at(-1)).toBe(oldest.id);
    const last = page.locator(`[data-testid="audit-row"][data-id="${oldest.id}"]`);
    expect(await last.isVisible()).toBe(true);
    expect(await last.innerText()).toContain(oldest.target);
    expect(await page.getByTestId('audit-row').count()).toBeLessThan(100);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('filters by action on the server and by actor in the browser, in a link that can be shared', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${url}/ui/#/audit`);
    await page.getByTestId('audit-list').waitFor();

    const aliasSets = await audit('action=alias.set');
    await page.getByLabel('action', { exact: true }).selectOption('alias.set');
    await expect.poll(() => page.evaluate(() => window.location.hash)).toBe('#/audit?action=alias.set');
    await expect.poll(() => page.getByTestId('audit-count').innerText()).toBe(`${aliasSets.length.toLocaleString('en-US')} entries`);
    perf['audit(alias.set)'] = await renderMs(page, 'audit');
    expect(aliasSets.length).toBe(GENERATED / 5 + 1);
    const actions = await page.$$eval('[data-testid="audit-row"]', (rows) => rows.map((r) => (r as HTMLElement).dataset['action']));
    expect(new Set(actions)).toEqual(new Set(['alias.set']));

    // a prefix selects a family of actions
    const deployments = await audit('action=deployment.');
    await page.getByLabel('action', { exact: true }).selectOption('deployment.');
    await expect.poll(() => page.getByTestId('audit-count').innerText()).toBe(`${deployments.length.toLocaleString('en-US')} entries`);

    // the actor filter runs in the browser, over the server's answer
    await page.getByLabel('action', { exact: true }).selectOption('alias.set');
    await expect.poll(() => page.getByTestId('audit-count').innerText()).toBe(`${aliasSets.length.toLocaleString('en-US')} entries`);
    await page.getByLabel('actor').fill('carol');
    const byCarol = aliasSets.filter((e) => e.actor.includes('carol'));
    expect(byCarol).toHaveLength(1);
    await expect.poll(() => page.getByTestId('audit-count').innerText()).toBe(`1 of ${aliasSets.length.toLocaleString('en-US')} entries`);
    await expect.poll(() => page.evaluate(() => window.location.hash)).toBe('#/audit?action=alias.set&actor=carol');

    // the link shows the same view in a new tab
    const again = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await again.goto(`${url}/ui/#/audit?action=alias.set&actor=carol`);
    await expect.poll(() => again.getByTestId('audit-count').innerText()).toBe(`1 of ${aliasSets.length.toLocaleString('en-US')} entries`);
    expect(Number(await again.getByTestId('audit-row').first().getAttribute('data-id'))).toBe(byCarol[0]!.id);
    await again.close();

    // a time range goes to the server: in the last hour, only today's changes (the server's start among them)
    await page.goto(`${url}/ui/#/audit`);
    await page.getByLabel('time range').selectOption('1h');
    await expect.poll(() => page.evaluate(() => window.location.hash)).toBe('#/audit?range=1h');
    const lastHour = await audit(`since=${new Date(Date.now() - 3_600_000).toISOString()}`);
    expect(lastHour.slice(0, 2).map((e) => e.action)).toEqual(['alias.set', 'model.describe']);
    expect(lastHour.length).toBeLessThan(5);
    await expect.poll(() => page.getByTestId('audit-count').innerText()).toBe(`${lastHour.length} entries`);

    // a model filter goes to the server; nothing matching says so and offers to clear
    await page.goto(`${url}/ui/#/audit?model=credit&action=alias.`);
    await expect.poll(() => page.getByText('No entries match these filters.').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Clear the filters' }).click();
    await expect.poll(() => page.getByTestId('audit-count').innerText()).toContain('10,000 entries');
    await page.close();
  });

  it('moves through the rows with the keyboard and exports what the filters select', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${url}/ui/#/audit?action=deployment.update`);
    await page.getByTestId('audit-list').waitFor();
    const updates = await audit('action=deployment.update');
    await expect.poll(() => page.getByTestId('audit-count').innerText()).toBe(`${updates.length.toLocaleString('en-US')} entries`);

    const focusedId = (): Promise<number> => page.evaluate(() => Number(document.activeElement?.closest<HTMLElement>('[data-testid="audit-row"]')?.dataset['id']));
    await page.getByTestId('audit-row').first().getByRole('button').first().focus();
    expect(await focusedId()).toBe(updates[0]!.id);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await focusedId()).toBe(updates[2]!.id);
    await page.keyboard.press('End');
    await expect.poll(focusedId).toBe(updates[updates.length - 1]!.id);
    await page.keyboard.press('Home');
    await expect.poll(focusedId).toBe(updates[0]!.id);
    await page.keyboard.press('Enter');
    await page.getByTestId('audit-details').waitFor();

    // the export: every selected row, oldest first, as the server streams it
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export (JSON lines)' }).click()]);
    const file = await download.path();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(lines).toHaveLength(updates.length);
    expect(lines[0]!.id).toBe(updates[updates.length - 1]!.id);
    expect(new Set(lines.map((l) => l.action))).toEqual(new Set(['deployment.update']));
    await page.close();
  });

  it('tells a token without the admin scope that the audit log needs it', async () => {
    const secured = await startServer({ auth: { dev: false } }, { adminToken: 'ui-admin-token-1234567' });
    try {
      const viewer = (await secured.server.tokens.create({ name: 'vic-viewer', roles: ['viewer'], expiresAt: Date.now() + 3_600_000 })).token;
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`${secured.url}/ui/#/audit`);
      await page.getByLabel('API token').fill(viewer);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.locator('main').innerText()).toContain('Reading the audit log needs the admin scope');
      expect(await page.getByTestId('audit-list').count()).toBe(0);
      // the server agrees
      const res = await fetch(`${secured.url}/v1/audit`, { headers: { authorization: `Bearer ${viewer}` } });
      expect(res.status).toBe(403);
      await page.close();
    } finally {
      await secured.close();
    }
  });

  it('keeps long names inside the page at phone width', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${url}/ui/#/audit?model=${LONG}`);
    await page.getByTestId('audit-list').waitFor();
    await page.getByTestId('audit-row').first().getByRole('button').first().click();
    await page.getByTestId('audit-details').waitFor();
    const overflow = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > width + 1 && !e.closest('.table-wrap'));
      return { by: document.documentElement.scrollWidth - width, culprits: wide.slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className}`) };
    });
    expect(overflow, JSON.stringify(overflow.culprits)).toMatchObject({ by: 0 });
    await shoot(page, 'audit-long-name');
    await page.close();
  });
});

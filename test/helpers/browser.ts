import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './dist.js';

const require = createRequire(import.meta.url);

/** Debian's Chromium, driven by playwright-core (never a downloaded browser). */
export const CHROMIUM = '/usr/bin/chromium';
export const UI_DIR = path.join(ROOT, 'dist', 'ui');
/** Screenshots and measurements of the dashboard tests (git-ignored). */
export const UI_ARTIFACTS = path.join(ROOT, 'test-artifacts', 'ui');

/** Why the dashboard tests cannot run here, or null. */
export function dashboardMissing(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  if (!existsSync(path.join(UI_DIR, 'index.html'))) return 'dist/ui is not built (npm run build)';
  return null;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
}

/**
 * Full-page screenshots at desktop (1280×800) and phone (390×844) sizes, after checking the page
 * with axe-core against WCAG 2.1 A/AA: any violation fails the test that took the screenshot, so
 * every page a test looks at is checked.
 */
export async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(UI_ARTIFACTS, { recursive: true });
  const violations = await axeViolations(page);
  if (violations.length > 0) throw new Error(`${name}: accessibility violations (axe-core, WCAG 2.1 AA):\n${violations.join('\n')}`);
  for (const [label, size] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
    await page.setViewportSize(size);
    await page.screenshot({ path: path.join(UI_ARTIFACTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

/** Milliseconds from a page's data arriving to the paint after it (the app's Performance marks). */
export async function renderMs(page: Page, key: string): Promise<number> {
  await page.waitForFunction((k) => performance.getEntriesByName(`berth:render:${k}`).length > 0, key);
  return page.evaluate((k) => {
    const data = performance.getEntriesByName(`berth:data:${k}`).at(-1)!.startTime;
    const render = performance.getEntriesByName(`berth:render:${k}`).at(-1)!.startTime;
    return render - data;
  }, key);
}

/** Write a test's render times beside its screenshots, and say them in the test output. */
export function writePerf(file: string, perf: Record<string, number>): void {
  if (Object.keys(perf).length === 0) return;
  mkdirSync(UI_ARTIFACTS, { recursive: true });
  writeFileSync(path.join(UI_ARTIFACTS, file), JSON.stringify(perf, null, 2) + '\n');
  console.log(`dashboard ${file}: ${JSON.stringify(perf)}`);
}

/**
 * Elements that stick out past the right edge of the viewport (outside any sideways-scrolling box),
 * as `tag.class` strings: empty when the page fits a phone's width.
 */
export async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    const out: string[] = [];
    const scrolls = (el: Element | null): boolean => {
      for (let e = el; e && e !== document.body; e = e.parentElement) {
        const o = getComputedStyle(e).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
      }
      return false;
    };
    for (const el of Array.from(document.body.querySelectorAll('*'))) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= width + 1) continue;
      // an absolutely positioned element escapes a scrolling box unless that box is positioned
      if (scrolls(el.parentElement) && getComputedStyle(el).position !== 'absolute') continue;
      out.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : ''}${el.getAttribute('data-testid') ? `[${el.getAttribute('data-testid')}]` : ''}`);
    }
    return out.length > 0 ? out : [`the page is ${document.documentElement.scrollWidth}px wide in a ${width}px viewport`];
  });
}

/**
 * Accessibility problems on the page as axe-core (a real rules engine, run inside the page) finds
 * them against WCAG 2.1 A and AA: `rule-id: N elements (first: selector)` per violated rule.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  // evaluated through the debugging protocol, so the page's Content-Security-Policy does not apply
  await page.evaluate(source);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id}: ${v.nodes.length} elements (first: ${v.nodes[0]?.target.join(' ')})`);
  });
}

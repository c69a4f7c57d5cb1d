#!/usr/bin/env node
// `npm run bench -- ui`: how long the dashboard takes from its data arriving to the paint after it,
// in Debian's Chromium against a real server from dist/ (bench/README.md, "Dashboard").
//
//   npm run bench -- ui [--repeat 7] [--models 100] [--audit 10000] [--no-build] [--json out.json]
//
// One server (embedded registry in a temp data dir, dev mode) holds --models models (the credit
// fixture registered under that many names) and --audit real chained audit rows (written in one
// transaction through the registry). Each round opens, in a fresh page: the Models list, a model's
// page, the Audit timeline (all --audit rows in one answer), the Deployments list, and the Alerts
// page, and reads the app's Performance marks (`berth:data:<key>` when the answer arrives,
// `berth:render:<key>` after the next paint). The raw reference, measured in the same round and
// the same browser: a page that marks its data and its paint the same way and renders nothing (the
// frame the browser needs anyway). Targets (issue 11): each page ≤ 200 ms from data to paint with 100
// models and 10,000 audit rows; the first load ≤ 300 KB of gzipped JavaScript.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { cleanup, dist, envMeta, FIXTURES, fmtMs, median, range, root, runAsScript, runMeta, tempDir } from './lib.js';
import { ensureBuild } from './monitor.js';

const TARGET_MS = 200;
const TARGET_KB = 300;
const CHROMIUM = '/usr/bin/chromium';
const log = (s) => process.stderr.write(`[bench ui] ${s}\n`);

const PAGES = [
  { name: 'models list', hash: 'models', mark: 'models', ready: '[data-testid="models-table"]' },
  { name: 'a model', hash: 'models/credit-000', mark: 'versions', ready: '[data-testid="version-detail"]' },
  { name: 'audit timeline', hash: 'audit', mark: 'audit', ready: '[data-testid="audit-list"]' },
  { name: 'deployments', hash: 'deployments', mark: 'deployments', ready: '[data-testid="deployments-table"]' },
];

export async function ui(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      repeat: { type: 'string', default: '7' },
      models: { type: 'string', default: '100' },
      audit: { type: 'string', default: '10000' },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  if (!FIXTURES) throw new Error('the shared fixtures are missing (set BERTH_FIXTURES)');
  ensureBuild(values['no-build']);
  const repeat = Number(values.repeat);
  const nModels = Number(values.models);
  const nAudit = Number(values.audit);

  const { createBerthServer } = await import(path.join(dist, 'server', 'index.js'));
  const { resolveConfig, silentLogger } = await import(path.join(dist, 'core', 'index.js'));
  const { parseCard } = await import(path.join(dist, 'registry', 'index.js'));
  const { OnnxBackend } = await import(path.join(dist, 'runtime', 'index.js'));
  const { chromium } = await import('playwright-core');

  const dataDir = tempDir('berth-bench-ui-');
  const config = resolveConfig({ logLevel: 'silent', auth: { dev: true } }, {}, { dataDir, server: { host: '127.0.0.1', port: 0 } });
  const server = await createBerthServer({ config, logger: silentLogger, example: false, pollMs: 0 });
  const url = await server.listen();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
  try {
    log(`registering ${nModels} models and writing ${nAudit} audit rows`);
    const backend = new OnnxBackend();
    const cardFile = path.join(FIXTURES, 'credit', 'card.json');
    const card = parseCard(readFileSync(cardFile, 'utf8'), cardFile);
    for (let i = 0; i < nModels; i++) {
      const name = `credit-${String(i).padStart(3, '0')}`;
      await server.registry.registerVersion({ name, filePath: path.join(FIXTURES, 'credit', 'model.onnx'), card, inspect: (b) => backend.inspect(b), tags: { team: i % 2 ? 'risk' : 'growth' } });
      if (i < 10) await server.registry.deploy({ name: `${name}-api`, model: name, target: { kind: 'version', version: 1 } });
    }
    await server.registry.metadata.transaction(async (trx) => {
      for (let i = 0; i < nAudit; i++) {
        await server.registry.appendAudit(
          { action: 'version.tags.set', target: `version:credit-${String(i % nModels).padStart(3, '0')}@1`, model: `credit-${String(i % nModels).padStart(3, '0')}`, details: { set: { run: String(i) } }, actor: ['alice', 'bob', 'ci'][i % 3] },
          trx,
        );
      }
    });

    const assets = readdirSync(path.join(root, 'dist', 'ui', 'assets')).filter((f) => f.endsWith('.js'));
    const jsGzipKB = assets.reduce((s, f) => s + gzipSync(readFileSync(path.join(root, 'dist', 'ui', 'assets', f))).length, 0) / 1024;

    const times = Object.fromEntries([...PAGES.map((p) => [p.name, []]), ['raw frame', []]]);
    for (let r = 0; r < repeat; r++) {
      // the raw reference: mark, then the same rAF + setTimeout wait the app uses, with nothing rendered
      const blank = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await blank.goto(`${url}/v2/health/live`);
      times['raw frame'].push(
        await blank.evaluate(
          () =>
            new Promise((resolve) => {
              const t0 = performance.now();
              requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
            }),
        ),
      );
      await blank.close();
      for (const p of PAGES) {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(`${url}/ui/#/${p.hash}`);
        await page.waitForSelector(p.ready);
        await page.waitForFunction((k) => performance.getEntriesByName(`berth:render:${k}`).length > 0, p.mark);
        const ms = await page.evaluate((k) => performance.getEntriesByName(`berth:render:${k}`).at(-1).startTime - performance.getEntriesByName(`berth:data:${k}`).at(-1).startTime, p.mark);
        times[p.name].push(ms);
        await page.close();
      }
      log(`round ${r + 1}/${repeat}: ${Object.entries(times).map(([k, v]) => `${k} ${fmtMs(v.at(-1))} ms`).join(', ')}`);
    }

    const raw = median(times['raw frame']);
    const rows = PAGES.map((p) => {
      const m = median(times[p.name]);
      const [lo, hi] = range(times[p.name]);
      return { page: p.name, medianMs: m, minMs: lo, maxMs: hi, ratioToRawFrame: m / raw, pass: m <= TARGET_MS };
    });
    const out = [];
    out.push(`## Dashboard: data to paint (${nModels} models, ${nAudit.toLocaleString('en-US')} audit rows, ${repeat} rounds, medians)`);
    out.push('');
    out.push('| page | median ms | range ms | × raw frame | target ≤ 200 ms |');
    out.push('|---|---|---|---|---|');
    out.push(`| raw frame (nothing rendered) | ${fmtMs(raw)} | ${range(times['raw frame']).map(fmtMs).join('–')} | 1.00× | |`);
    for (const r of rows) out.push(`| ${r.page} | ${fmtMs(r.medianMs)} | ${fmtMs(r.minMs)}–${fmtMs(r.maxMs)} | ${(r.ratioToRawFrame).toFixed(2)}× | ${r.pass ? 'PASS' : 'MISS'} |`);
    out.push('');
    out.push(`First load: ${jsGzipKB.toFixed(1)} KB of gzipped JavaScript (target ≤ ${TARGET_KB} KB): ${jsGzipKB <= TARGET_KB ? 'PASS' : 'MISS'}`);
    process.stdout.write(out.join('\n') + '\n');
    if (values.json) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(values.json, JSON.stringify({ ...runMeta('ui', argv), env: envMeta(), rawFrameMs: raw, pages: rows, jsGzipKB }, null, 2));
    }
    return rows.every((r) => r.pass) && jsGzipKB <= TARGET_KB ? 0 : 1;
  } finally {
    await browser.close();
    await server.close();
    cleanup();
  }
}

await runAsScript(import.meta.url, 'ui', ui, async () => {});

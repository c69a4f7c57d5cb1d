import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { DEFAULT_DRIFT_OPTIONS, type ColumnDrift, type DriftReport } from '../../src/monitor/drift.js';
import { DEFAULT_QUALITY_OPTIONS, type QualityReport } from '../../src/monitor/quality.js';
import { REPORT_FORMAT, type MonitorReport, type PerformancePoint } from '../../src/monitor/report.js';
import { renderReportHtml } from '../../src/monitor/report-html.js';

const HOSTILE = '<script>alert(1)</script>';
const HOSTILE_CATEGORY = '"><img onerror=alert(2)>&';

function numericBins(ref: number[], cur: number[]): ColumnDrift['histogram'] {
  const edges = ref.map((_, i) => i * 10).concat(ref.length * 10);
  return { labels: ref.map((_, i) => `[${i * 10}, ${(i + 1) * 10})`), edges, reference: ref, current: cur };
}

function column(name: string, over: Partial<ColumnDrift>): ColumnDrift {
  return {
    column: name, kind: 'numeric', role: 'feature', test: 'ks', statistic: 0.03, pValue: 0.61, pAdjusted: null,
    psi: 0.01, jensenShannon: 0.02, wassersteinNormed: 0.03, cramersV: null, score: 0.61, threshold: 0.05,
    referenceRows: 5000, currentRows: 1200, verdict: 'no_drift', drifted: false,
    histogram: numericBins([0.1, 0.2, 0.3, 0.2, 0.1, 0.1], [0.1, 0.2, 0.28, 0.22, 0.1, 0.1]),
    ...over,
  };
}

function fullReport(): MonitorReport {
  const columns: ColumnDrift[] = [
    column('age', {}),
    column('annual_income', {
      statistic: 0.214, pValue: 3.2e-14, pAdjusted: 1.9e-13, psi: 0.4172, jensenShannon: 0.188, wassersteinNormed: 0.31,
      score: 1.9e-13, verdict: 'drift', drifted: true,
      histogram: numericBins([0.05, 0.15, 0.3, 0.3, 0.15, 0.05], [0.01, 0.04, 0.1, 0.25, 0.35, 0.25]),
    }),
    column(HOSTILE, {
      kind: 'categorical', test: 'chisquare', statistic: 48.2, pValue: 0.0004, pAdjusted: 0.0012, psi: 0.12, wassersteinNormed: null,
      verdict: 'drift', drifted: true,
      histogram: { labels: ['rent', 'own', HOSTILE_CATEGORY], reference: [0.5, 0.45, 0.05], current: [0.3, 0.4, 0.3] },
    }),
    column('region', { kind: 'categorical', test: 'chisquare', psi: 0.05, wassersteinNormed: null, histogram: { labels: ['north', 'south'], reference: [0.5, 0.5], current: [0.52, 0.48] } }),
  ];
  const drift: DriftReport = {
    preset: 'berth', options: { ...DEFAULT_DRIFT_OPTIONS }, columns,
    predictions: [column('prediction', { kind: 'categorical', test: 'chisquare', psi: 0.21, verdict: 'drift', drifted: true, pValue: 2e-6, histogram: { labels: ['0', '1'], reference: [0.8, 0.2], current: [0.6, 0.4] } })],
    evaluatedColumns: 4, driftedColumns: 2, driftShare: 0.5, datasetDrift: true, verdict: 'drift',
  };
  const quality: QualityReport = {
    rows: 1250,
    rejected: { count: 50, share: 0.04, byField: { age: 30, [HOSTILE]: 20 }, byCode: { SHAPE_MISMATCH: 50 } },
    columns: [
      { name: 'age', kind: 'numeric', rows: 1200, missing: { count: 36, share: 0.03, referenceShare: 0.001 }, outOfRange: { count: 12, share: 0.01, allowed: [18, 99], below: 2, above: 10, min: 3, max: 140 }, constant: false, findings: ['missing_values', 'out_of_range'] },
      { name: HOSTILE, kind: 'categorical', rows: 1200, missing: { count: 0, share: 0, referenceShare: 0 }, unknownCategories: { count: 24, share: 0.02, top: [{ value: HOSTILE_CATEGORY, count: 20 }, { value: 'boat', count: 4 }] }, constant: false, findings: ['unknown_category'] },
      { name: 'region', kind: 'categorical', rows: 1200, missing: { count: 0, share: 0, referenceShare: 0 }, typeErrors: { count: 1, share: 0.0008, examples: ['12'] }, constant: true, findings: ['constant_column'] },
    ],
    findings: [
      { column: null, check: 'schema_violation', share: 0.04 },
      { column: 'age', check: 'missing_values', share: 0.03 },
      { column: 'age', check: 'out_of_range', share: 0.01 },
      { column: HOSTILE, check: 'unknown_category', share: 0.02 },
      { column: 'region', check: 'constant_column', share: 1 },
    ],
    options: { ...DEFAULT_QUALITY_OPTIONS },
  };
  const t0 = Date.parse('2025-03-01T00:00:00Z');
  const hour = 3_600_000;
  const series: PerformancePoint[] = Array.from({ length: 8 }, (_, i) => ({
    from: t0 + i * hour, to: t0 + (i + 1) * hour, rows: 150, labelled: i < 6 ? 40 : 0,
    realized: i < 6 ? 0.9 - i * 0.02 : null, estimated: 0.89 - i * 0.015,
  }));
  return {
    format: REPORT_FORMAT,
    deployment: `credit & <prod> "eu"`,
    model: 'credit',
    versions: [2, 3],
    generatedAt: '2025-03-01T09:00:00.000Z',
    window: { from: '2025-03-01T00:00:00.000Z', to: '2025-03-01T08:00:00.000Z', description: 'last 8h', rows: 1250, requests: 1100 },
    reference: { kind: 'profile', version: 3, rows: 20000, source: 'train.csv' },
    drift,
    quality,
    performance: {
      kind: 'classification', labelledRows: 240, unmatchedLabels: 7,
      classification: { rows: 240, accuracy: 0.8417, precision: 0.71, recall: 0.64, f1: 0.6732, rocAuc: 0.881, logLoss: 0.3921, positiveRate: 0.22 },
      regression: null, estimatedAccuracy: 0.8125,
      referenceMetrics: { accuracy: 0.9, reference_accuracy: 0.8934, reference_f1: 0.71, gini: 0.77 },
      series,
      byVersion: [{ version: 2, rows: 300, labelled: 40, accuracy: 0.8, rmse: null }, { version: 3, rows: 900, labelled: 200, accuracy: 0.85, rmse: null }],
    },
    fairness: [{
      attribute: 'gender', positiveClass: 'approved',
      groups: [
        { group: 'female', rows: 600, selectionRate: 0.3, truePositiveRate: 0.6, falsePositiveRate: 0.1, accuracy: 0.82, labelledRows: 110 },
        { group: 'male', rows: 580, selectionRate: 0.5, truePositiveRate: 0.75, falsePositiveRate: 0.2, accuracy: 0.86, labelledRows: 120 },
        { group: HOSTILE, rows: 12, selectionRate: 0.25, truePositiveRate: null, falsePositiveRate: null, accuracy: null, labelledRows: 0 },
      ],
      demographicParityDifference: 0.2, demographicParityRatio: 0.6, equalizedOddsDifference: 0.15, disparateImpact: 0.6,
      fourFifthsViolated: true, minGroupRows: 30,
    }],
    latency: { rows: 1050, p50: 4.2, p95: 18.75, p99: 61.3, errorRate: 0.0455 },
    summary: [
      'drift: 2 of 4 features drifted (annual_income, <script>alert(1)</script>) — dataset drift',
      'prediction drift: prediction',
      'quality: schema violation (4.0% of rows)',
      'accuracy 0.8417 on 240 labelled rows',
      'fairness: disparate impact 0.600 by gender is below 0.8 (four-fifths rule)',
    ],
  };
}

function emptyReport(): MonitorReport {
  return {
    format: REPORT_FORMAT, deployment: 'quiet', model: 'iris', versions: [], generatedAt: '2025-03-01T09:00:00.000Z',
    window: { from: null, to: null, description: 'last 24h', rows: 0, requests: 0 },
    reference: null, drift: null,
    quality: { rows: 0, rejected: { count: 0, share: 0, byField: {}, byCode: {} }, columns: [], findings: [], options: { ...DEFAULT_QUALITY_OPTIONS } },
    performance: { kind: 'classification', labelledRows: 0, unmatchedLabels: 0, classification: null, regression: null, estimatedAccuracy: null, referenceMetrics: {}, series: [], byVersion: [] },
    fairness: [],
    latency: { rows: 0, p50: null, p95: null, p99: null, errorRate: 0 },
    summary: ['no traffic in this window'],
  };
}

/** The opening tags of the page (text from the report is escaped, so it never forms a tag). */
function tags(html: string): string[] {
  return html.match(/<[a-zA-Z][^>]*>/g) ?? [];
}

describe('renderReportHtml', () => {
  const html = renderReportHtml(fullReport());

  it('is an HTML5 page with a language, a charset and a viewport', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
  });

  it('shows every section with a plain explanation under its heading', () => {
    for (const h of ['Drift', 'Prediction drift', 'Data quality', 'Performance', 'Fairness', 'Latency']) expect(html).toMatch(new RegExp(`<h[23]>${h}</h[23]>`));
    expect(html.match(/<h2>[^<]+<\/h2><p class="explain">[^<]{40,}/g)).toHaveLength(5);
  });

  it('shows the header, the verdict and the key numbers', () => {
    expect(html).toContain('Needs attention');
    expect(html).toContain('class="verdict bad"');
    expect(html).toContain('last 8h');
    expect(html).toContain('profile of version 3, 20,000 rows from train.csv');
    expect(html).toContain('1,250 rows in 1,100 requests');
    expect(html).toContain('2 of 4 features drifted (50.0%)');
    expect(html).toContain('1.9e-13'); // adjusted p-value in exponent form
    expect(html).toContain('0.417'); // PSI
    expect(html).toContain('0.8417'); // realised accuracy
    expect(html).toContain('0.8934'); // accuracy on the reference data
    expect(html).toContain('0.8125'); // CBPE estimate
    expect(html).toContain('estimate from the model’s own confidence');
    expect(html).toContain('four-fifths rule violated');
    expect(html).toContain('18.8 ms');
    expect(html).toContain('4.5%'); // error rate
    expect(html).toContain('allowed');
    expect(html).toContain('7 labels received match no logged row');
  });

  it('lists drifted features first, then by PSI', () => {
    const order = ['annual_income', '&lt;script&gt;', '>region<', '>age<'].map((s) => html.indexOf(s, html.indexOf('<table class="drift">')));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('escapes every string from the report', () => {
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('credit &amp; &lt;prod&gt; &quot;eu&quot;');
    expect(html).toContain('&quot;&gt;&lt;img onerror=alert(2)&gt;&amp;');
    expect(tags(html).filter((t) => /^<script/i.test(t))).toEqual([]);
  });

  it('links nothing outside the page', () => {
    const refs = tags(html).flatMap((t) => [...t.matchAll(/\s(?:src|href)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]!));
    expect(refs.length).toBeGreaterThan(0);
    for (const r of refs) expect(r.startsWith('#') || r.startsWith('data:')).toBe(true);
    expect(html).not.toMatch(/https?:\/\/|@import|url\(/);
  });

  it('draws one histogram per feature and output, with tooltips giving both shares', () => {
    expect(html.match(/<svg class="hist"/g)).toHaveLength(5);
    expect(html).toContain('<title>[40, 50): reference 15.0%, current 35.0%</title>');
    expect(html).toContain('<svg class="line"');
    expect(html).toContain('time (UTC)');
  });

  it('renders a report of an empty window without throwing, and says how to get what is missing', () => {
    const e = renderReportHtml(emptyReport());
    expect(e).toContain('class="verdict muted"');
    expect(e).toContain('no traffic in this window');
    expect(e).toContain('berth models profile iris VERSION --reference train.csv');
    expect(e).toContain('No labels yet.');
    expect(e).toContain('POST /v1/deployments/quiet/feedback');
    expect(e).toContain('monitoring: {sensitive_attributes: [gender, age_band]}');
    expect(e).not.toContain('NaN');
    expect(e).not.toContain('undefined');
  });

  it('shows regression metrics and plots RMSE for a regressor', () => {
    const r = fullReport();
    r.performance = {
      ...r.performance, kind: 'regression', classification: null, estimatedAccuracy: null,
      regression: { rows: 240, mae: 3.25, rmse: 4.5678, r2: 0.8123, bias: -0.42 },
      referenceMetrics: { reference_rmse: 4.1, reference_r2: 0.84 },
      series: r.performance.series.map((p) => ({ ...p, realized: p.realized === null ? null : p.realized * 5, estimated: null })),
      byVersion: [{ version: 3, rows: 900, labelled: 200, accuracy: null, rmse: 4.6 }],
    };
    const out = renderReportHtml(r);
    for (const s of ['>MAE<', '>RMSE<', '>R²<', 'Bias (prediction − label)', '4.568', '0.8123', '-0.42', '4.1', 'aria-label="RMSE over time"']) expect(out).toContain(s);
    expect(out).not.toContain('estimated accuracy —');
  });

  it('formats NaN and null metrics as a dash', () => {
    const r = fullReport();
    r.drift!.columns[0] = column('age', { pValue: null, psi: Number.NaN, jensenShannon: null });
    r.performance.classification!.rocAuc = null;
    const out = renderReportHtml(r);
    expect(out).not.toContain('NaN');
    expect(out).toMatch(/<th scope="row">ROC AUC<\/th><td class="num strong">—<\/td>/);
  });
});

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) console.warn(`report-html: ${CHROMIUM} is missing, so the headless-browser check is skipped (apt-get install chromium)`);

describe.skipIf(!existsSync(CHROMIUM))('renderReportHtml in a headless browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  for (const [name, build, shot] of [['a full report', fullReport, '/tmp/report.png'], ['an empty report', emptyReport, '/tmp/report-empty.png']] as const) {
    it(`renders ${name} with no errors, no network and a chart per feature`, async () => {
      const report = build();
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.route('**/*', async (route) => {
        requests.push(route.request().url());
        await route.abort();
      });
      const html = renderReportHtml(report);
      writeFileSync(shot.replace(/\.png$/, '.html'), html);
      await page.setContent(html, { waitUntil: 'load' });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      expect(await page.locator('script').count()).toBe(0);
      const features = (report.drift?.columns.length ?? 0) + (report.drift?.predictions.length ?? 0);
      expect(await page.locator('svg').count()).toBeGreaterThanOrEqual(features);
      expect(await page.title()).toBe(`Monitoring report — ${report.deployment}`);
      if (report.drift) await expect(page.locator('table.drift th[scope=row]').allTextContents()).resolves.toContain(HOSTILE);
      // nothing wider than the window: the page reads on a laptop without sideways scrolling
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await page.screenshot({ path: shot, fullPage: true });
      await page.close();
    });
  }
});

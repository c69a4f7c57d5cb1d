/**
 * Monitoring end to end through a real server: the reference profile uploaded over the API, the
 * fixtures' current files sent as traffic, ground truth sent late as feedback, and the report read
 * back over the API — drift, quality, concept drift as an accuracy drop, refused rows.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MonitorReport } from '../../src/monitor/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;

interface CsvRows {
  header: string[];
  rows: string[][];
}

function readCsv(model: string, file: string): CsvRows {
  const lines = readFileSync(fixturePath(model, file), 'utf8').trim().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

/** Send a CSV's rows to the friendly endpoint in requests of `per` rows; returns each request's id and its labels. */
async function sendTraffic(deployment: string, csv: CsvRows, per: number, label = 'label'): Promise<{ id: string; labels: number[] }[]> {
  const li = csv.header.indexOf(label);
  const out: { id: string; labels: number[] }[] = [];
  for (let i = 0; i < csv.rows.length; i += per) {
    const chunk = csv.rows.slice(i, i + per);
    const rows = chunk.map((r) => {
      const o: Record<string, number | null> = {};
      csv.header.forEach((h, j) => {
        if (j !== li) o[h] = r[j] === '' ? null : Number(r[j]);
      });
      return o;
    });
    const res = await post<{ request_id: string }>(`${ts.url}/v1/deployments/${deployment}/predict`, { rows });
    if (res.status === 200) out.push({ id: res.body.request_id, labels: chunk.map((r) => Number(r[li])) });
  }
  return out;
}

async function profile(model: string, version: number): Promise<void> {
  const res = await post(`${ts.url}/v1/models/${model}/versions/${version}/profile`, {
    reference_base64: readFileSync(fixturePath(model, 'reference.csv')).toString('base64'),
    reference_file_name: 'reference.csv',
  });
  expect(res.status).toBe(201);
}

async function report(deployment: string, query = 'window=all'): Promise<MonitorReport> {
  const res = await get<MonitorReport>(`${ts.url}/v1/deployments/${deployment}/monitor?${query}`);
  expect(res.status).toBe(200);
  return res.body;
}

beforeAll(async () => {
  // no sampling ceiling: every row of the test traffic is logged
  ts = await startServer({
    inferenceLog: { maxRowsPerSecond: 0 },
    alerts: { rules: [{ name: 'bc-drift', deployment: '*', when: 'drift_share > 0.05', window: '1h', severity: 'critical' }] },
  });
}, 60_000);

afterAll(async () => {
  await ts?.close();
});

describe('breast-cancer-gbt through the server', () => {
  beforeAll(async () => {
    for (const [dep, file] of [['bc-nodrift', 'current_nodrift.csv'], ['bc-covariate', 'current_covariate_drift.csv'], ['bc-concept', 'current_concept_drift.csv'], ['bc-quality', 'current_quality.csv']] as const) {
      const { version } = await deployFixture(ts, 'breast-cancer-gbt', { deployment: dep });
      if (dep === 'bc-nodrift') await profile('breast-cancer-gbt', version);
      const sent = await sendTraffic(dep, readCsv('breast-cancer-gbt', file), 5);
      if (dep === 'bc-nodrift' || dep === 'bc-concept') {
        // labels arrive later, by request id
        const items = sent.map((s) => ({ request_id: s.id, label: s.labels }));
        const fb = await post<{ accepted: number }>(`${ts.url}/v1/deployments/${dep}/feedback`, { items });
        expect(fb.status).toBe(200);
        expect(fb.body.accepted).toBe(285);
      }
    }
  }, 120_000);

  it('the profile holds features, the model\'s predictions and the label, and the accuracy on the reference', async () => {
    const v = await get<{ reference: { rows: number; profile: { columns: string[]; predictions: boolean } } }>(`${ts.url}/v1/models/breast-cancer-gbt/versions/1`);
    expect(v.body.reference.rows).toBe(284);
    expect(v.body.reference.profile.predictions).toBe(true);
    expect(v.body.reference.profile.columns).toEqual(expect.arrayContaining(['mean radius', 'prediction', 'score', 'label']));
  });

  it('no drift: nothing flagged, 285 rows logged, accuracy as the card says', async () => {
    const r = await report('bc-nodrift');
    expect(r.window.rows).toBe(285);
    expect(r.drift!.columns.filter((c) => c.drifted)).toEqual([]);
    expect(r.drift!.evaluatedColumns).toBe(30);
    expect(r.quality.findings).toEqual([]);
    expect(r.performance.labelledRows).toBe(285);
    expect(r.performance.classification!.accuracy).toBeCloseTo(0.9439, 4);
    expect(r.performance.estimatedAccuracy).toBeGreaterThan(0.85);
  });

  it('covariate drift: exactly the three shifted features', async () => {
    const r = await report('bc-covariate');
    expect(r.drift!.columns.filter((c) => c.drifted).map((c) => c.column).sort()).toEqual(['mean area', 'mean texture', 'worst smoothness']);
  });

  it('concept drift: accuracy drops with no input drift; the estimate from confidence does not see it (labels do)', async () => {
    const r = await report('bc-concept');
    expect(r.drift!.columns.filter((c) => c.drifted)).toEqual([]);
    expect(r.performance.classification!.accuracy).toBeCloseTo(0.6842, 4);
    expect(r.performance.estimatedAccuracy!).toBeGreaterThan(0.85);
  });

  it('quality: missing values and out-of-range values where they were injected', async () => {
    const r = await report('bc-quality');
    const found = r.quality.findings.map((f) => `${f.check}:${f.column}`).sort();
    expect(found).toEqual(['missing_values:mean radius', 'missing_values:worst concavity', 'out_of_range:mean perimeter']);
  });

  it('the same report as HTML, self-contained', async () => {
    const res = await fetch(`${ts.url}/v1/deployments/bc-covariate/monitor?window=all&format=html`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('mean texture');
    expect(html).not.toMatch(/<script[^>]+src=/);
  });

  it('refuses bad queries and bad feedback with the field named, and writes nothing', async () => {
    const bad = await get<{ error: string; field: string }>(`${ts.url}/v1/deployments/bc-nodrift/monitor?window=yesterday`);
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('window');
    expect((await get<{ field: string }>(`${ts.url}/v1/deployments/bc-nodrift/monitor?preset=nannyml`)).body.field).toBe('preset');
    expect((await get(`${ts.url}/v1/deployments/nope/monitor`)).status).toBe(404);
    const before = ts.server.monitor;
    const fb = await post<{ error: string; field: string }>(`${ts.url}/v1/deployments/bc-nodrift/feedback`, { items: [{ request_id: 'x', label: 1 }, { request_id: 'y', label: 'maybe' }] });
    expect(fb.status).toBe(400);
    expect(fb.body.field).toBe('items[1].label');
    expect(fb.body.error).toContain('expected one of the classes 0 (malignant), 1 (benign)');
    const again = await report('bc-nodrift');
    expect(again.performance.unmatchedLabels).toBe(0);
    expect(before).toBe(ts.server.monitor);
  });
});

describe('alerts and Prometheus gauges', () => {
  it('a rule over every deployment fires where the features drifted, and /v1/alerts lists it', async () => {
    await ts.server.alerts.evaluateNow();
    const res = await get<{ alerts: { rule: string; deployment: string; state: string; value: number }[]; events: { kind: string; deployment: string }[] }>(`${ts.url}/v1/alerts`);
    expect(res.status).toBe(200);
    const firing = res.body.alerts.filter((a) => a.state === 'firing').map((a) => a.deployment);
    expect(firing).toEqual(['bc-covariate']);
    expect(res.body.alerts.find((a) => a.deployment === 'bc-covariate')!.value).toBeCloseTo(0.1, 6);
    expect(res.body.events.map((e) => `${e.kind}:${e.deployment}`)).toEqual(['firing:bc-covariate']);
  });

  it('/metrics carries drift share, per-feature drift, quality shares and live accuracy', async () => {
    await ts.server.refreshMonitorGauges();
    const text = await (await fetch(`${ts.url}/metrics`)).text();
    const value = (line: string): number => Number(new RegExp(`^${line.replace(/[{}"[\]]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('berth_drift_share{deployment="bc-covariate"}')).toBeCloseTo(0.1, 6);
    expect(value('berth_feature_drifted{deployment="bc-covariate",feature="mean texture"}')).toBe(1);
    expect(value('berth_feature_drifted{deployment="bc-covariate",feature="mean radius"}')).toBe(0);
    expect(value('berth_data_quality_share{deployment="bc-quality",feature="mean radius",check="missing_values"}')).toBeCloseTo(29 / 285, 6);
    expect(value('berth_accuracy{deployment="bc-nodrift"}')).toBeCloseTo(0.9439, 4);
    expect(value('berth_accuracy{deployment="bc-concept"}')).toBeCloseTo(0.6842, 4);
  });
});

describe('tabular-mixed: refused rows count as schema violations', () => {
  it('rows the server refuses (city_id 12 outside the vocabulary) show in the quality report', async () => {
    await deployFixture(ts, 'tabular-mixed', { deployment: 'eta' });
    const csv = readCsv('tabular-mixed', 'current_quality.csv');
    const sent = await sendTraffic('eta', { header: csv.header, rows: csv.rows.slice(0, 400) }, 1);
    expect(sent.length).toBe(398);
    const r = await report('eta');
    expect(r.quality.rejected.count).toBe(2);
    expect(r.quality.rejected.byCode).toEqual({ INVALID_INPUT: 2 });
    expect(r.window.rows).toBe(400);
  });
});

describe('fairness through the server (credit, sensitive attribute from a berth card)', () => {
  it('per-region selection rates, TPR and FPR match a count over the answers themselves', async () => {
    const numeric = ['age', 'annual_income', 'employment_years', 'credit_history_years', 'loan_amount', 'loan_term_months', 'interest_rate',
      'debt_to_income', 'credit_utilization', 'num_credit_lines', 'num_delinquencies_2y', 'num_inquiries_6m'];
    const card = [
      'format: berth-card/1',
      'task: binary-classification',
      `features: [${[...numeric, 'home_ownership', 'loan_purpose', 'region'].join(', ')}]`,
      'inputs:',
      `  - {name: numeric, features: [${numeric.join(', ')}]}`,
      '  - {name: home_ownership, features: [home_ownership], vocabulary: [RENT, MORTGAGE, OWN, OTHER]}',
      '  - {name: loan_purpose, features: [loan_purpose], vocabulary: [debt_consolidation, credit_card, home_improvement, car, medical, small_business, other]}',
      '  - {name: region, features: [region], vocabulary: [northeast, midwest, south, west]}',
      'outputs: [{name: label, role: label}, {name: probabilities, role: probabilities}]',
      'classes: {labels: [0, 1], names: [repaid, default]}',
      'monitoring: {sensitive_attributes: [region], positive_class: default}',
    ].join('\n');
    const reg = await post<{ version: { version: number } }>(`${ts.url}/v1/models/credit-fair/versions`, {
      model_base64: readFileSync(fixturePath('credit')).toString('base64'),
      card_text: card,
    });
    expect(reg.status).toBe(201);
    expect((await fetch(`${ts.url}/v1/deployments/credit-fair`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'credit-fair', version: 1 }) })).status).toBe(201);
    await ts.server.service.refresh();

    const csv = readCsv('credit', 'current_nodrift.csv');
    const ri = csv.header.indexOf('region');
    const li = csv.header.indexOf('label');
    const counts = new Map<string, { n: number; sel: number; tp: number; pos: number; fp: number; neg: number }>();
    const items: { request_id: string; label: number[] }[] = [];
    const per = 50;
    for (let i = 0; i < 2000; i += per) {
      const chunk = csv.rows.slice(i, i + per);
      const rows = chunk.map((r) => Object.fromEntries(csv.header.map((h, j) => [h, j === ri || h === 'home_ownership' || h === 'loan_purpose' ? r[j] : Number(r[j])]).filter(([h]) => h !== 'label')));
      const res = await post<{ request_id: string; predictions: { label: string }[] }>(`${ts.url}/v1/deployments/credit-fair/predict`, { rows });
      expect(res.status).toBe(200);
      items.push({ request_id: res.body.request_id, label: chunk.map((r) => Number(r[li])) });
      res.body.predictions.forEach((p, k) => {
        const g = chunk[k]![ri]!;
        const c = counts.get(g) ?? { n: 0, sel: 0, tp: 0, pos: 0, fp: 0, neg: 0 };
        const predicted = p.label === 'default';
        const actual = Number(chunk[k]![li]) === 1;
        c.n++;
        if (predicted) c.sel++;
        if (actual) {
          c.pos++;
          if (predicted) c.tp++;
        } else {
          c.neg++;
          if (predicted) c.fp++;
        }
        counts.set(g, c);
      });
    }
    expect((await post(`${ts.url}/v1/deployments/credit-fair/feedback`, { items })).status).toBe(200);
    const r = await report('credit-fair');
    expect(r.fairness).toHaveLength(1);
    const f = r.fairness[0]!;
    expect(f).toMatchObject({ attribute: 'region', positiveClass: 'default' });
    expect(f.groups.map((g) => g.group).sort()).toEqual([...counts.keys()].sort());
    for (const g of f.groups) {
      const c = counts.get(g.group)!;
      expect(g.rows).toBe(c.n);
      expect(g.selectionRate).toBeCloseTo(c.sel / c.n, 12);
      expect(g.truePositiveRate!).toBeCloseTo(c.tp / c.pos, 12);
      expect(g.falsePositiveRate!).toBeCloseTo(c.fp / c.neg, 12);
    }
    const rates = [...counts.values()].map((c) => c.sel / c.n);
    expect(f.disparateImpact).toBeCloseTo(Math.min(...rates) / Math.max(...rates), 12);
    expect(f.demographicParityDifference).toBeCloseTo(Math.max(...rates) - Math.min(...rates), 12);
    expect(f.fourFifthsViolated).toBe(f.disparateImpact < 0.8);
  }, 120_000);
});

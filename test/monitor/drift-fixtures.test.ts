/**
 * Drift and data quality on the fixtures' documented files: the shifted features are flagged and
 * the untouched ones are not, the undrifted file flags nothing, quality findings match the injected
 * damage — with the reference as a stored profile (sketches), as the server uses it.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCsvFile, type Table } from '../../src/data/index.js';
import { computeDrift, type DriftColumnSpec } from '../../src/monitor/drift.js';
import { ProfileBuilder, parseProfile, serializeProfile, type DatasetProfile } from '../../src/monitor/profile/index.js';
import { analyzeQuality, type QualityColumnReference } from '../../src/monitor/quality.js';
import { monitoringSchema, type MonitoringSchema } from '../../src/monitor/schema.js';
import { mergeCardIntoSignature, parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { fixturePath } from '../helpers/fixtures.js';

interface FileCard {
  must_flag: string[];
  must_not_flag: string[];
  may_flag?: string[];
  data_quality_must_flag?: Record<string, string[]>;
}

const MODELS = ['breast-cancer-gbt', 'diabetes-gbt-regressor', 'tabular-mixed', 'credit'] as const;
const backend = new OnnxBackend();

interface Fixture {
  schema: MonitoringSchema;
  profile: DatasetProfile;
  files: Record<string, FileCard>;
  specs: DriftColumnSpec[];
}
const fx: Record<string, Fixture> = {};
const tables = new Map<string, Table>();

async function table(model: string, file: string): Promise<Table> {
  const key = `${model}/${file}`;
  let t = tables.get(key);
  if (!t) {
    t = await readCsvFile(fixturePath(model, file));
    tables.set(key, t);
  }
  return t;
}

beforeAll(async () => {
  for (const m of MODELS) {
    const cardFile = fixturePath(m, 'card.json');
    const doc = JSON.parse(readFileSync(cardFile, 'utf8')) as { monitoring: { files: Record<string, FileCard> } };
    const card = parseCard(readFileSync(cardFile, 'utf8'), cardFile);
    const sig = mergeCardIntoSignature(await backend.inspect(readFileSync(fixturePath(m))), card);
    const schema = monitoringSchema(sig, card);
    const ref = await table(m, 'reference.csv');
    const builder = new ProfileBuilder(schema.features.map((f) => ({ name: f.name, kind: f.kind })), { source: 'reference.csv' });
    builder.addTable(ref);
    // through its stored form, as the server reads it
    const profile = parseProfile(serializeProfile(builder.build()));
    fx[m] = { schema, profile, files: doc.monitoring.files, specs: schema.features.map((f) => ({ name: f.name, kind: f.kind })) };
  }
}, 120_000);

describe.each(MODELS)('%s', (model) => {
  it('current_nodrift.csv: nothing drifts', async () => {
    const f = fx[model]!;
    const r = computeDrift({ kind: 'profile', profile: f.profile }, await table(model, 'current_nodrift.csv'), f.specs);
    expect(r.columns.filter((c) => c.drifted).map((c) => c.column)).toEqual([]);
    expect(r.evaluatedColumns).toBe(f.specs.length);
    expect(r.datasetDrift).toBe(false);
  });

  it('current_covariate_drift.csv: exactly the shifted features drift', async () => {
    const f = fx[model]!;
    const card = f.files['current_covariate_drift.csv']!;
    const r = computeDrift({ kind: 'profile', profile: f.profile }, await table(model, 'current_covariate_drift.csv'), f.specs);
    const drifted = r.columns.filter((c) => c.drifted).map((c) => c.column);
    expect(drifted.sort()).toEqual([...card.must_flag].sort());
    for (const name of card.must_not_flag) expect(drifted).not.toContain(name);
    for (const c of r.columns.filter((x) => x.drifted)) {
      expect(c.pAdjusted!).toBeLessThan(0.05);
      expect(c.psi!).toBeGreaterThanOrEqual(0.1);
    }
  });

  it('current_concept_drift.csv: labels changed, inputs did not: nothing drifts', async () => {
    const f = fx[model]!;
    const r = computeDrift({ kind: 'profile', profile: f.profile }, await table(model, 'current_concept_drift.csv'), f.specs);
    expect(r.columns.filter((c) => c.drifted).map((c) => c.column)).toEqual([]);
  });

  it('current_quality.csv: the findings are the injected damage', async () => {
    const f = fx[model]!;
    const card = f.files['current_quality.csv']!;
    const refs: QualityColumnReference[] = f.schema.features.map((feat) => {
      const p = f.profile.columns.find((c) => c.name === feat.name)!;
      const r: QualityColumnReference = { name: feat.name, kind: feat.kind, missingShare: p.missing / (p.count + p.missing), rows: p.count };
      if (p.kind === 'numeric') {
        r.min = p.min;
        r.max = p.max;
      } else {
        r.categories = p.frequencies.entries().map(([v]) => v);
      }
      if (feat.vocabulary) r.vocabulary = feat.vocabulary;
      return r;
    });
    const q = analyzeQuality(await table(model, 'current_quality.csv'), refs);
    const found: Record<string, string[]> = {};
    for (const x of q.findings) (found[x.check] ??= []).push(x.column!);
    for (const k of Object.keys(found)) found[k]!.sort();
    const expected = Object.fromEntries(Object.entries(card.data_quality_must_flag ?? {}).map(([k, v]) => [k, [...v].sort()]));
    expect(found).toEqual(expected);
    // the undamaged file has no findings at all
    const clean = analyzeQuality(await table(model, 'current_nodrift.csv'), refs);
    expect(clean.findings).toEqual([]);
  });
});

describe('the evidently preset', () => {
  it('reproduces Evidently: misses the clipped credit_utilization (normed Wasserstein 0.088 < 0.1) that Berth flags', async () => {
    const f = fx['credit']!;
    const cur = await table('credit', 'current_covariate_drift.csv');
    const ev = computeDrift({ kind: 'profile', profile: f.profile }, cur, f.specs, { preset: 'evidently' });
    const util = ev.columns.find((c) => c.column === 'credit_utilization')!;
    expect(util.test).toBe('wasserstein');
    expect(util.score).toBeCloseTo(0.088, 2);
    expect(util.drifted).toBe(false);
    const berth = computeDrift({ kind: 'profile', profile: f.profile }, cur, f.specs);
    expect(berth.columns.find((c) => c.column === 'credit_utilization')!.drifted).toBe(true);
  });

  it('uses KS and the Z-test for a small reference, like Evidently, and so flags diabetes "sex" (Z-test p = 0.045) that Berth does not', async () => {
    const f = fx['diabetes-gbt-regressor']!;
    const r = computeDrift({ kind: 'profile', profile: f.profile }, await table('diabetes-gbt-regressor', 'current_covariate_drift.csv'), f.specs, { preset: 'evidently' });
    expect(r.columns.find((c) => c.column === 'bmi')!.test).toBe('ks');
    expect(r.columns.find((c) => c.column === 'sex')!.test).toBe('z');
    expect(r.columns.filter((c) => c.drifted).map((c) => c.column).sort()).toEqual(['bmi', 'bp', 's1', 'sex']);
    expect(r.columns.find((c) => c.column === 'sex')!.score).toBeCloseTo(0.045, 3);
  });
});

describe('against an earlier window', () => {
  it('compares two tables directly (no profile)', async () => {
    const f = fx['credit']!;
    const r = computeDrift({ kind: 'table', table: await table('credit', 'current_nodrift.csv') }, await table('credit', 'current_covariate_drift.csv'), f.specs);
    expect(r.columns.filter((c) => c.drifted).map((c) => c.column).sort()).toEqual(['credit_utilization', 'debt_to_income', 'loan_amount', 'region']);
  });

  it('says "insufficient data" below the minimum sample size instead of guessing', async () => {
    const f = fx['credit']!;
    const cur = await table('credit', 'current_covariate_drift.csv');
    const small: Table = { rows: 50, columns: cur.columns.map((c) => (c.type === 'string' ? { ...c, codes: c.codes.subarray(0, 50) } : c.type === 'binary' ? c : { ...c, values: c.values.subarray(0, 50) })) };
    const r = computeDrift({ kind: 'profile', profile: f.profile }, small, f.specs);
    expect(r.verdict).toBe('insufficient_data');
    expect(r.columns.every((c) => c.verdict === 'insufficient_data')).toBe(true);
  });
});

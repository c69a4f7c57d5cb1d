import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/index.js';
import type { Column, Table } from '../../../src/data/index.js';
import {
  type CategoricalColumnProfile,
  type DatasetProfile,
  KllSketch,
  type NumericColumnProfile,
  ProfileBuilder,
  inferColumnSpecs,
  mergeProfiles,
  numericSummary,
  parseProfile,
  profileColumn,
  referenceBinEdges,
  serializeProfile,
} from '../../../src/monitor/profile/index.js';
import { FIXTURES } from '../../helpers/fixtures.js';
import { readFixtureCsv } from './csv.js';
import { measureRankErrors, seededRandom } from './random.js';

const CREDIT = path.join(FIXTURES, 'credit');
const reference = readFixtureCsv(path.join(CREDIT, 'reference.csv'));
const quality = readFixtureCsv(path.join(CREDIT, 'current_quality.csv'));
const clock = new ManualClock(Date.UTC(2025, 0, 2, 3, 4, 5));

function profileOf(table: Table, options: { source?: string } = {}): DatasetProfile {
  return new ProfileBuilder(inferColumnSpecs(table), { clock, ...options }).addTable(table).build();
}

/** rows [start, end) of a table (typed-array views, no copies) */
function sliceTable(table: Table, start: number, end: number): Table {
  return {
    rows: end - start,
    columns: table.columns.map((c): Column => {
      if (c.type === 'string') return { ...c, codes: c.codes.subarray(start, end) };
      if (c.type === 'binary') return { ...c, values: c.values.slice(start, end) };
      return { ...c, values: c.values.subarray(start, end) };
    }),
  };
}

/**
 * A 1M-row table of the credit features (15 columns: 12 numeric, 3 string) by resampling the
 * reference rows — realistic values, ties and small domains.
 */
function creditMillion(rows: number): Table {
  const random = seededRandom(77);
  const picks = Int32Array.from({ length: rows }, () => Math.floor(random() * reference.table.rows));
  return {
    rows,
    columns: reference.table.columns
      .filter((c) => c.name !== 'label')
      .map((c): Column => {
        if (c.type === 'string') return { ...c, codes: Int32Array.from(picks, (p) => c.codes[p]!) };
        if (c.type === 'binary') throw new Error('no binary columns in the fixture');
        return { ...c, values: Float64Array.from(picks, (p) => c.values[p]!) };
      }),
  };
}

/**
 * Wall and CPU time of `runs` runs, as text. CPU time (this process, all threads) is the steadier
 * number on a shared machine; wall time is what a caller waits.
 */
function timeRuns(runs: number, fn: () => void): string {
  const out: string[] = [];
  for (let r = 0; r < runs; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    out.push(`${wall.toFixed(0)} ms wall / ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms cpu`);
  }
  return out.join(', ');
}

describe('dataset profiles of the credit fixture', () => {
  const profile = profileOf(reference.table, { source: 'credit/reference.csv' });

  it('infers a spec per column: doubles and int64 numeric, strings categorical', () => {
    expect(inferColumnSpecs(reference.table)).toEqual(
      reference.table.columns.map((c) => ({ name: c.name, kind: c.type === 'string' ? 'categorical' : 'numeric' })),
    );
    expect(profile.columns.filter((c) => c.kind === 'categorical').map((c) => c.name)).toEqual(['home_ownership', 'loan_purpose', 'region']);
    expect(profile).toMatchObject({ format: 'berth-profile/1', rows: 20_000, weight: 20_000, createdAt: '2025-01-02T03:04:05.000Z', source: 'credit/reference.csv' });
  });

  it('matches exact statistics computed from the raw CSV fields', () => {
    for (const col of profile.columns) {
      const raw = reference.raw.get(col.name)!;
      const present = raw.filter((f) => f !== '');
      expect(col.missing).toBe(raw.length - present.length);
      if (col.kind === 'categorical') {
        const counts = new Map<string, number>();
        for (const f of present) counts.set(f, (counts.get(f) ?? 0) + 1);
        expect(col.frequencies.exact).toBe(true);
        expect(new Map(col.frequencies.entries())).toEqual(counts);
        continue;
      }
      const values = Float64Array.from(present, Number);
      const sorted = values.slice().sort();
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const m2 = values.reduce((a, x) => a + (x - mean) ** 2, 0);
      expect(col.count).toBe(values.length);
      expect([col.min, col.max]).toEqual([sorted[0], sorted[sorted.length - 1]]);
      expect(col.mean).toBeCloseTo(mean, 9);
      expect(col.m2 / m2).toBeCloseTo(1, 10);
      const errors = measureRankErrors(col.kll, sorted);
      expect(errors.rank).toBeLessThan(KllSketch.rankErrorBound(col.kll.k));
      expect(errors.quantile).toBeLessThan(KllSketch.rankErrorBound(col.kll.k));
      const distinct = new Set(values);
      if (distinct.size <= 64) {
        expect(col.smallDomain!.values).toEqual([...distinct].sort((a, b) => a - b));
        expect(col.smallDomain!.counts).toEqual(col.smallDomain!.values.map((v) => values.filter((x) => x === v).length));
      } else {
        expect(col.smallDomain).toBeNull();
      }
    }
    expect(profileColumn(profile, 'loan_term_months', 'numeric').smallDomain!.values).toEqual([12, 24, 36, 48, 60]);
    expect(profileColumn(profile, 'label', 'numeric').smallDomain!.values).toEqual([0, 1]);
    expect(profileColumn(profile, 'annual_income', 'numeric').smallDomain).toBeNull();
  });

  it('counts missing values of the quality-degraded window', () => {
    const p = profileOf(quality.table);
    for (const col of p.columns) {
      const raw = quality.raw.get(col.name)!;
      expect(col.missing).toBe(raw.filter((f) => f === '').length);
    }
    expect(p.columns.some((c) => c.missing > 0)).toBe(true);
  });

  it('summarizes a column and fixes reference bins', () => {
    const income = profileColumn(profile, 'annual_income', 'numeric');
    const values = Float64Array.from(reference.raw.get('annual_income')!, Number);
    const sorted = values.slice().sort();
    const s = numericSummary(income);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (values.length - 1));
    expect(s.std / std).toBeCloseTo(1, 10);
    // quantiles within the rank error of the exact ones
    for (const [q, v] of [[0.01, s.quantiles.p01], [0.5, s.quantiles.p50], [0.99, s.quantiles.p99]] as const) {
      const below = sorted.filter((x) => x < v).length / sorted.length;
      const atMost = sorted.filter((x) => x <= v).length / sorted.length;
      expect(q).toBeGreaterThanOrEqual(below - KllSketch.rankErrorBound(2048));
      expect(q).toBeLessThanOrEqual(atMost + KllSketch.rankErrorBound(2048));
    }
    const bins = referenceBinEdges(income);
    expect(bins.kind).toBe('quantile');
    expect(bins.edges.length).toBe(9);
    expect(referenceBinEdges(profileColumn(profile, 'loan_term_months', 'numeric'))).toEqual({ kind: 'discrete', edges: [12, 24, 36, 48, 60] });
  });

  it('serializes to JSON and parses back to the same profile', () => {
    const text = serializeProfile(profile);
    const back = parseProfile(text);
    expect(serializeProfile(back)).toBe(text);
    const a = profileColumn(profile, 'interest_rate', 'numeric');
    const b = profileColumn(back, 'interest_rate', 'numeric');
    expect(b.kll.quantiles([0.1, 0.5, 0.9])).toEqual(a.kll.quantiles([0.1, 0.5, 0.9]));
    expect(profileColumn(back, 'region', 'categorical').frequencies.entries()).toEqual(profileColumn(profile, 'region', 'categorical').frequencies.entries());
  });

  it('merges the profiles of two halves into the profile of the whole', () => {
    const first = profileOf(sliceTable(reference.table, 0, 8_000));
    const second = profileOf(sliceTable(reference.table, 8_000, 20_000));
    const merged = mergeProfiles(first, second);
    expect([merged.rows, merged.weight]).toEqual([20_000, 20_000]);
    for (const col of merged.columns) {
      const whole = profileColumn(profile, col.name, col.kind);
      expect([col.count, col.missing]).toEqual([whole.count, whole.missing]);
      if (col.kind === 'categorical') {
        expect(col.frequencies.entries()).toEqual((whole as CategoricalColumnProfile).frequencies.entries());
        continue;
      }
      const w = whole as NumericColumnProfile;
      expect([col.min, col.max, col.weight]).toEqual([w.min, w.max, w.weight]);
      expect(col.mean).toBeCloseTo(w.mean, 9);
      expect(col.m2 / w.m2).toBeCloseTo(1, 10);
      expect(col.smallDomain).toEqual(w.smallDomain);
      const sorted = Float64Array.from(reference.raw.get(col.name)!, Number).sort();
      expect(measureRankErrors(col.kll, sorted).rank).toBeLessThan(KllSketch.rankErrorBound(2048));
    }
    // order of the second's columns does not matter
    const reordered = { ...second, columns: second.columns.slice().reverse() };
    expect(mergeProfiles(first, reordered).columns.map((c) => c.name)).toEqual(first.columns.map((c) => c.name));
  });
});

describe('ProfileBuilder', () => {
  it('builds a 1M-row × 15-column profile in well under a second, its size bounded by k, not rows', () => {
    const million = creditMillion(1_000_000);
    const specs = inferColumnSpecs(million);
    expect(specs.length).toBe(15);
    const numericColumns = specs.filter((s) => s.kind === 'numeric').length;
    // warm up the code paths once (JIT), as a long-running server would be
    new ProfileBuilder(specs).addTable(sliceTable(million, 0, 100_000));
    let big: DatasetProfile | undefined;
    const times = timeRuns(3, () => {
      big = new ProfileBuilder(specs, { clock }).addTable(million).build();
    });
    const small = new ProfileBuilder(specs, { clock }).addTable(sliceTable(million, 0, 10_000)).build();
    const bigBytes = serializeProfile(big!).length;
    const smallBytes = serializeProfile(small).length;
    console.log(
      `profile of 1M rows × 15 columns (${numericColumns} numeric, credit-like): ${times}; ` +
        `serialized: 10k rows ${(smallBytes / 1024).toFixed(1)} KiB, 1M rows ${(bigBytes / 1024).toFixed(1)} KiB`,
    );
    const perColumn = big!.columns.map((c) => `${c.name} ${(serializeProfile({ ...big!, columns: [c] }).length / 1024).toFixed(1)}`);
    console.log(`per column (KiB): ${perColumn.join(', ')}`);
    const bound = numericColumns * 150_000 + (specs.length - numericColumns) * 50_000;
    expect(smallBytes).toBeLessThan(bound);
    expect(bigBytes).toBeLessThan(bound);
    for (const c of big!.columns) {
      if (c.kind === 'numeric') expect(serializeProfile({ ...big!, columns: [c] }).length).toBeLessThan(150_000);
    }
    expect(big!.rows).toBe(1_000_000);
    // accurate against the exact ranks of the million values, whichever way each column was sketched
    for (const name of ['age', 'annual_income', 'interest_rate', 'loan_term_months', 'debt_to_income']) {
      const col = profileColumn(big!, name, 'numeric');
      const source = million.columns.find((c) => c.name === name)!;
      const sorted = (source as { values: Float64Array }).values.slice().sort();
      const errors = measureRankErrors(col.kll, sorted);
      expect(col.kll.n).toBe(1_000_000);
      expect(errors.rank).toBeLessThan(KllSketch.rankErrorBound(2048));
      expect(errors.quantile).toBeLessThan(KllSketch.rankErrorBound(2048));
    }
  });

  it('builds a profile of 1M rows of 12 continuous doubles and 3 categoricals (every value distinct: the radix-sort path)', () => {
    const rows = 1_000_000;
    const random = seededRandom(91);
    const columns: Column[] = [];
    for (let c = 0; c < 12; c++) {
      const values = new Float64Array(rows);
      for (let i = 0; i < rows; i++) values[i] = Math.exp(2 * (random() + random() + random() - 1.5)) * (c + 1);
      columns.push({ name: `x${c}`, type: 'double', values });
    }
    for (let c = 0; c < 3; c++) {
      const dictionary = Array.from({ length: 20 }, (_, i) => `cat${i}`);
      columns.push({ name: `c${c}`, type: 'string', dictionary, codes: Int32Array.from({ length: rows }, () => Math.floor(random() ** 2 * 20)) });
    }
    const table: Table = { rows, columns };
    const specs = inferColumnSpecs(table);
    new ProfileBuilder(specs).addTable(sliceTable(table, 0, 100_000));
    let p: DatasetProfile | undefined;
    const times = timeRuns(3, () => {
      p = new ProfileBuilder(specs, { clock }).addTable(table).build();
    });
    const bytes = serializeProfile(p!).length;
    console.log(`profile of 1M rows × 15 columns (12 continuous doubles): ${times}; serialized ${(bytes / 1024).toFixed(1)} KiB`);
    expect(bytes).toBeLessThan(12 * 150_000 + 3 * 50_000);
    const sorted = (columns[0] as { values: Float64Array }).values.slice().sort();
    expect(measureRankErrors(profileColumn(p!, 'x0', 'numeric').kll, sorted).rank).toBeLessThan(KllSketch.rankErrorBound(2048));
  });

  it('weights rows', () => {
    const table = sliceTable(reference.table, 0, 1000);
    const weights = Float64Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? 1 : 3));
    const p = new ProfileBuilder([{ name: 'age', kind: 'numeric' }, { name: 'region', kind: 'categorical' }]).addTable(table, weights).build();
    expect([p.rows, p.weight]).toEqual([1000, 2000]);
    const ages = Float64Array.from(reference.raw.get('age')!.slice(0, 1000), Number);
    const weightedMean = ages.reduce((a, x, i) => a + x * weights[i]!, 0) / 2000;
    const age = profileColumn(p, 'age', 'numeric');
    expect(age.weight).toBe(2000);
    expect(age.count).toBe(1000);
    expect(age.mean).toBeCloseTo(weightedMean, 10);
    expect(age.kll.n).toBe(2000);
    expect(profileColumn(p, 'region', 'categorical').frequencies.total).toBe(2000);
    expect(() => new ProfileBuilder([{ name: 'age', kind: 'numeric' }]).addTable(table, weights.subarray(1))).toThrow(
      /weights: expected one weight per row \(1000\), got 999/,
    );
  });

  it('profiles an integer column as categories by decimal text when asked to', () => {
    const p = new ProfileBuilder([{ name: 'loan_term_months', kind: 'categorical' }]).addTable(reference.table).build();
    const terms = profileColumn(p, 'loan_term_months', 'categorical');
    expect(terms.frequencies.entries().map((e) => e[0]).sort()).toEqual(['12', '24', '36', '48', '60']);
    expect(terms.frequencies.estimate('36')).toBe(reference.raw.get('loan_term_months')!.filter((f) => f === '36').length);
  });

  it('build() is a snapshot: adding more rows later does not change it', () => {
    const builder = new ProfileBuilder([{ name: 'age', kind: 'numeric' }]);
    const first = builder.addTable(sliceTable(reference.table, 0, 100)).build();
    builder.addTable(sliceTable(reference.table, 100, 200));
    expect(first.rows).toBe(100);
    expect(profileColumn(first, 'age', 'numeric').kll.n).toBe(100);
    expect(builder.build().rows).toBe(200);
  });

  it('says which column is wrong, what it expected and what it got', () => {
    const builder = new ProfileBuilder([{ name: 'age', kind: 'numeric' }, { name: 'region', kind: 'numeric' }]);
    let err: unknown;
    try {
      builder.addTable(reference.table);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'column "region": a numeric profile expects a double or int64 column, got string',
      context: { field: 'region', expected: 'double or int64', got: 'string' },
    });
    expect(() => new ProfileBuilder([{ name: 'nope', kind: 'numeric' }]).addTable(sliceTable(reference.table, 0, 1))).toThrow(
      /column "nope": missing from the table \(it has "age", "annual_income"/,
    );
    expect(() => new ProfileBuilder([{ name: 'a', kind: 'numeric' }, { name: 'a', kind: 'categorical' }])).toThrow(/column "a" is specified twice/);
    expect(() => new ProfileBuilder([{ name: 'a', kind: 'text' as 'numeric' }])).toThrow(/column "a": expected kind numeric or categorical, got "text"/);
    const short: Table = { rows: 3, columns: [{ name: 'x', type: 'double', values: new Float64Array(2) }] };
    expect(() => new ProfileBuilder([{ name: 'x', kind: 'numeric' }]).addTable(short)).toThrow(/column "x": expected 3 values \(the table's rows\), got 2/);
    // a rejected table changes nothing
    const ok = new ProfileBuilder([{ name: 'age', kind: 'numeric' }, { name: 'region', kind: 'numeric' }]);
    expect(() => ok.addTable(reference.table)).toThrow();
    expect(ok.build().columns[0]!.count).toBe(0);
  });
});

describe('mergeProfiles and parseProfile', () => {
  const small = profileOf(sliceTable(reference.table, 0, 500));

  it('refuses to merge profiles of different columns, listing the differences', () => {
    const fewer = { ...small, columns: small.columns.filter((c) => c.name !== 'age') };
    expect(() => mergeProfiles(small, fewer)).toThrow('cannot merge profiles with different columns: "age" only in the first (expected the same column set)');
    const categoricalAge = new ProfileBuilder(
      inferColumnSpecs(reference.table).map((s) => (s.name === 'age' ? { name: 'age', kind: 'categorical' as const } : s)),
    ).addTable(sliceTable(reference.table, 0, 10)).build();
    expect(() => mergeProfiles(small, categoricalAge)).toThrow(/"age" is numeric in the first, categorical in the second/);
  });

  const text = serializeProfile(small);
  const mutate = (f: (o: Record<string, any>) => void): string => {
    const o = JSON.parse(text) as Record<string, any>;
    f(o);
    return JSON.stringify(o);
  };

  const cases: Array<[string, string, RegExp, string]> = [
    ['not JSON', '{"format":', /profile: expected JSON, got text that does not parse/, 'profile'],
    ['another format', mutate((o) => (o.format = 'whylogs/1')), /format: expected "berth-profile\/1", got "whylogs\/1"/, 'format'],
    ['negative rows', mutate((o) => (o.rows = -1)), /rows: expected an integer >= 0/, 'rows'],
    ['a bad date', mutate((o) => (o.createdAt = 'yesterday')), /createdAt: expected an ISO 8601 date, got "yesterday"/, 'createdAt'],
    ['columns not a list', mutate((o) => (o.columns = {})), /columns: expected an array, got \{\}/, 'columns'],
    ['an unknown kind', mutate((o) => (o.columns[0].kind = 'text')), /columns\[0\]\.kind: expected "numeric" or "categorical", got "text" \(column "age"\)/, 'columns[0].kind'],
    ['a tampered KLL', mutate((o) => (o.columns[1].kll.n = 7)), /columns\[1\]\.kll\.n: expected the total weight of the levels \(500\), got 7 \(column "annual_income"\)/, 'columns[1].kll.n'],
    ['counts not adding up to rows', mutate((o) => (o.columns[2].missing = 3)), /columns\[2\]\.count: expected count \+ missing \+ nonFinite = rows \(500\), got 503/, 'columns[2].count'],
    ['an unsorted small domain', mutate((o) => o.columns[5].smallDomain.values.reverse()), /columns\[5\]\.smallDomain\.values: expected distinct values in ascending order/, 'columns[5].smallDomain.values'],
    ['a frequency count that is text', mutate((o) => (o.columns[12].frequencies.counts[0] = 'many')), /columns\[12\]\.frequencies\.counts\[0\]: expected a finite number >= 0, got "many" \(column "home_ownership"\)/, 'columns[12].frequencies.counts[0]'],
    ['a duplicate column', mutate((o) => o.columns.push(o.columns[0])), /columns\[16\]\.name: expected a name no other column has, got "age"/, 'columns[16].name'],
  ];
  for (const [what, input, message, field] of cases) {
    it(`rejects ${what}, naming the field`, () => {
      let err: unknown;
      try {
        parseProfile(input);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', context: { field } });
      expect((err as Error).message).toMatch(message);
    });
  }

  it('finds a column by name and kind, or says which columns there are', () => {
    expect(profileColumn(small, 'region').kind).toBe('categorical');
    expect(() => profileColumn(small, 'region', 'numeric')).toThrow('column "region": expected a numeric column, got categorical');
    expect(() => profileColumn(small, 'zip')).toThrow(/column "zip": not in the profile \(it has "age", "annual_income"/);
  });
});

/*
 * Extraction detection on synthetic traffic built from a real fixture: the breast-cancer models,
 * their reference data and profile, and their real answers through onnxruntime. Normal callers
 * replay reference rows; attackers sample the input space uniformly, bisect the decision boundary,
 * or simply send ten times more.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, type Tensor } from '../../src/core/index.js';
import { readCsvFile } from '../../src/data/index.js';
import { monitoringSchema } from '../../src/monitor/index.js';
import { ProfileBuilder, parseProfile, serializeProfile } from '../../src/monitor/profile/index.js';
import { mergeCardIntoSignature, parseCard } from '../../src/registry/index.js';
import { OnnxBackend, type LoadedModel } from '../../src/runtime/index.js';
import { ExtractionDetector, referenceFeaturesFromProfile, type ExtractionFinding, type FeatureReference } from '../../src/security/extraction.js';
import type { InferenceRecord, ManagedVersion } from '../../src/serving/index.js';
import { fixturePath } from '../helpers/fixtures.js';

const WINDOW = 3_600_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % WINDOW);
const MIN_ROWS = 500;
const F = 30;

interface Fixture {
  managed: ManagedVersion;
  model: LoadedModel;
  /** reference rows, 30 features each */
  rows: Float32Array[];
  reference: Map<string, FeatureReference>;
  min: Float64Array;
  max: Float64Array;
}
const fx: Record<'gbt' | 'logreg', Fixture> = {} as Record<'gbt' | 'logreg', Fixture>;

/** mulberry32: a seeded PRNG, so every run sends the same traffic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function load(name: 'breast-cancer-gbt' | 'breast-cancer-logreg'): Promise<Fixture> {
  const backend = new OnnxBackend();
  const bytes = readFileSync(fixturePath(name));
  const cardFile = fixturePath(name, 'card.json');
  const card = parseCard(readFileSync(cardFile, 'utf8'), cardFile);
  const signature = mergeCardIntoSignature(await backend.inspect(bytes), card);
  const managed: ManagedVersion = { model: 'bc', version: 1, sha256: 'f'.repeat(64), sizeBytes: bytes.length, signature, card };
  const model = await backend.load(bytes, { intraOpThreads: 1, interOpThreads: 1 });
  const table = await readCsvFile(fixturePath(name, 'reference.csv'));
  const schema = monitoringSchema(signature, card);
  // the reference profile as the server stores and reads it
  const builder = new ProfileBuilder(schema.features.map((f) => ({ name: f.name, kind: f.kind })), { source: 'reference.csv' });
  builder.addTable(table);
  const profile = parseProfile(serializeProfile(builder.build()));
  const cols = schema.features.map((f) => (table.columns.find((c) => c.name === f.name) as { values: Float64Array }).values);
  const rows = Array.from({ length: table.rows }, (_, r) => Float32Array.from(cols, (c) => c[r]!));
  const min = Float64Array.from(cols, (c) => Math.min(...c));
  const max = Float64Array.from(cols, (c) => Math.max(...c));
  return { managed, model, rows, reference: referenceFeaturesFromProfile(profile), min, max };
}

beforeAll(async () => {
  fx.gbt = await load('breast-cancer-gbt');
  fx.logreg = await load('breast-cancer-logreg');
}, 60_000);

/** One request through the real model, as the data plane reports it. */
async function answer(f: Fixture, principal: string | undefined, batch: Float32Array[], at: number, deployment = 'bc'): Promise<InferenceRecord> {
  const data = new Float32Array(batch.length * F);
  batch.forEach((r, i) => data.set(r, i * F));
  const inputs: Tensor[] = [{ name: 'input', datatype: 'FP32', shape: [batch.length, F], data }];
  const outputs = await f.model.run(inputs);
  return {
    deployment,
    model: 'bc',
    version: 1,
    managed: f.managed,
    requestId: `r${at}`,
    inputs,
    outputs,
    rows: batch.length,
    latencyMs: 1,
    timestampMs: at,
    role: 'primary',
    ...(principal !== undefined ? { principal } : {}),
  };
}

/** `n` rows in requests of `per`, each row from `next`. */
async function send(d: ExtractionDetector, f: Fixture, principal: string | undefined, n: number, next: () => Float32Array, opts: { at?: number; per?: number; deployment?: string } = {}): Promise<void> {
  const per = opts.per ?? 10;
  for (let sent = 0; sent < n; sent += per) {
    const batch = Array.from({ length: Math.min(per, n - sent) }, next);
    d.observe(await answer(f, principal, batch, (opts.at ?? T0 + 1000) + sent, opts.deployment));
  }
}

const replay = (f: Fixture, seed: number): (() => Float32Array) => {
  const r = rng(seed);
  return () => f.rows[Math.floor(r() * f.rows.length)]!;
};

const uniform = (f: Fixture, seed: number): (() => Float32Array) => {
  const r = rng(seed);
  return () => Float32Array.from({ length: F }, (_, j) => f.min[j]! + r() * (f.max[j]! - f.min[j]!));
};

function detector(opts: { reference?: boolean; clock?: ManualClock; found?: ExtractionFinding[] } = {}): ExtractionDetector {
  return new ExtractionDetector({
    windowMs: WINDOW,
    minRows: MIN_ROWS,
    clock: opts.clock ?? new ManualClock(T0 + 600_000),
    ...(opts.reference === false ? {} : { reference: async () => fx.gbt.reference }),
    ...(opts.found ? { onFinding: (x: ExtractionFinding) => void opts.found!.push(x) } : {}),
  });
}

/** Three ordinary callers replaying reference rows. */
async function normalTraffic(d: ExtractionDetector, f: Fixture, rows = 600): Promise<void> {
  for (const [i, who] of ['alice', 'bob', 'carol'].entries()) await send(d, f, `token:${who}`, rows, replay(f, 11 + i));
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('ExtractionDetector', () => {
  it('never flags callers replaying reference rows, whatever their share of the traffic', async () => {
    const d = detector();
    await send(d, fx.gbt, 'token:warmup', 10, replay(fx.gbt, 1));
    await settle();
    await normalTraffic(d, fx.gbt);
    await send(d, fx.gbt, 'token:dave', 2500, replay(fx.gbt, 99));
    expect(d.evaluate()).toEqual([]);
  });

  it('flags a caller sampling the input space uniformly for coverage, with the evidence', async () => {
    const found: ExtractionFinding[] = [];
    const d = detector({ found });
    await send(d, fx.gbt, 'token:warmup', 10, replay(fx.gbt, 1));
    await settle();
    await normalTraffic(d, fx.gbt);
    await send(d, fx.gbt, 'token:mallory', 600, uniform(fx.gbt, 7));
    const out = d.evaluate();
    expect(out.map((x) => x.principal)).toEqual(['token:mallory']);
    const m = out[0]!;
    expect(m).toMatchObject({
      deployment: 'bc',
      model: 'bc',
      version: 1,
      rows: 600,
      requests: 60,
      flagged: ['coverage'],
      verdict: 'possible-extraction',
      window: { startMs: T0, endMs: T0 + WINDOW, closed: false },
    });
    const c = m.signals.coverage;
    expect(c).toMatchObject({ applicable: true, flagged: true, reference: 'profile', threshold: 0.5 });
    expect(c.score!).toBeGreaterThan(0.5);
    expect(c.features).toBeGreaterThanOrEqual(10);
    expect(c.meanDistanceToUniform!).toBeLessThan(c.meanDistanceToReference!);
    expect(c.tailShare!).toBeGreaterThan(3 * c.expectedTailShare!);
    expect(m.signals.volume).toMatchObject({ applicable: true, flagged: false, medianOthers: 600, ratio: 1 });
    expect(m.summary).toMatch(/^possible model extraction by token:mallory on bc \(bc@1\)/);
    expect(m.summary).toContain('coverage: inputs spread uniformly');
    expect(found).toEqual(out);
    // one finding per caller, deployment and window
    await send(d, fx.gbt, 'token:mallory', 600, uniform(fx.gbt, 8));
    expect(d.evaluate()).toEqual([]);
    expect(d.recent()).toHaveLength(1);
  });

  it('flags a caller bisecting between rows of different classes for boundary probing', async () => {
    const f = fx.logreg;
    const d = new ExtractionDetector({ windowMs: WINDOW, minRows: MIN_ROWS, clock: new ManualClock(T0 + 600_000), reference: async () => f.reference });
    await send(d, f, 'token:warmup', 10, replay(f, 1));
    await settle();
    await normalTraffic(d, f);
    // the attacker knows one row of each class and bisects the segment between them, 12 queries per pair
    const labelled = await answer(f, undefined, f.rows, T0);
    const probs = labelled.outputs.find((o) => o.name === 'probabilities')!.data as Float32Array;
    const pos = f.rows.filter((_, i) => probs[2 * i + 1]! > 0.5);
    const neg = f.rows.filter((_, i) => probs[2 * i + 1]! <= 0.5);
    const r = rng(5);
    let sent = 0;
    while (sent < 600) {
      const a = pos[Math.floor(r() * pos.length)]!;
      const b = neg[Math.floor(r() * neg.length)]!;
      let lo = 0;
      let hi = 1;
      for (let step = 0; step < 12; step++, sent++) {
        const t = (lo + hi) / 2;
        const x = Float32Array.from(a, (v, j) => v + (b[j]! - v) * t);
        const rec = await answer(f, 'token:eve', [x], T0 + 5000 + sent);
        d.observe(rec);
        const p1 = (rec.outputs.find((o) => o.name === 'probabilities')!.data as Float32Array)[1]!;
        if (p1 > 0.5) lo = t;
        else hi = t;
      }
    }
    const out = d.evaluate();
    expect(out.map((x) => x.principal)).toEqual(['token:eve']);
    const b = out[0]!.signals.boundary;
    expect(b).toMatchObject({ applicable: true, flagged: true, threshold: { margin: 0.1, ratio: 3, minShare: 0.3 } });
    expect(b.share!).toBeGreaterThan(0.3);
    expect(b.share!).toBeGreaterThan(3 * b.baseline!);
    expect(out[0]!.flagged).toContain('boundary');
    expect(out[0]!.summary).toContain('boundary probing');
  });

  it('flags volume alone from ten times the median of the other callers', async () => {
    const d = detector();
    await send(d, fx.gbt, 'token:warmup', 10, replay(fx.gbt, 1));
    await settle();
    await normalTraffic(d, fx.gbt, 600);
    await send(d, fx.gbt, 'token:nine', 5700, replay(fx.gbt, 21), { per: 100 });
    expect(d.evaluate()).toEqual([]);
    await send(d, fx.gbt, 'token:eleven', 6600, replay(fx.gbt, 22), { per: 100 });
    const out = d.evaluate();
    expect(out.map((x) => [x.principal, x.flagged, x.verdict])).toEqual([['token:eleven', ['volume'], 'possible-extraction']]);
    // the median of the other callers: 10 (warmup), 600, 600, 600 and 5,700 rows
    expect(out[0]!.signals.volume).toMatchObject({ flagged: true, rows: 6600, medianOthers: 600, ratio: 11, threshold: { ratio: 10, minRows: MIN_ROWS } });
    expect(out[0]!.signals.coverage.flagged).toBe(false);
  });

  it("without a reference profile, compares a caller with the other callers' traffic", async () => {
    const d = detector({ reference: false });
    await normalTraffic(d, fx.gbt);
    await send(d, fx.gbt, 'token:mallory', 700, uniform(fx.gbt, 7));
    const out = d.evaluate();
    expect(out.map((x) => x.principal)).toEqual(['token:mallory']);
    expect(out[0]!.signals.coverage).toMatchObject({ flagged: true, reference: 'other-traffic' });
  });

  it('judges a closed window once, then starts the next one afresh; records without a caller are not counted', async () => {
    const clock = new ManualClock(T0 + 600_000);
    const d = detector({ clock });
    await send(d, fx.gbt, 'token:warmup', 10, replay(fx.gbt, 1));
    await settle();
    await normalTraffic(d, fx.gbt);
    await send(d, fx.gbt, undefined, 5000, uniform(fx.gbt, 3), { per: 100 });
    await send(d, fx.gbt, 'token:mallory', 400, uniform(fx.gbt, 7));
    expect(d.evaluate()).toEqual([]);
    // the rest of mallory's rows arrive just before the window ends; the next evaluation is after it
    await send(d, fx.gbt, 'token:mallory', 300, uniform(fx.gbt, 8), { at: T0 + WINDOW - 1000 });
    await send(d, fx.gbt, 'token:alice', 10, replay(fx.gbt, 4), { at: T0 + WINDOW + 5000 });
    clock.advance(WINDOW);
    const out = d.evaluate();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ principal: 'token:mallory', rows: 700, window: { startMs: T0, closed: true } });
    expect(d.evaluate()).toEqual([]);
    expect(d.stats()).toEqual([{ deployment: 'bc', principals: 5, dropped: 0 }]);
  });

  it('counts a request in time proportional to its rows and features', async () => {
    const d = detector();
    const rec = await answer(fx.gbt, 'token:load', Array.from({ length: 1000 }, replay(fx.gbt, 3)), T0 + 1000);
    d.observe(rec);
    await settle();
    const started = performance.now();
    for (let i = 0; i < 200; i++) d.observe(rec);
    const perRowNs = ((performance.now() - started) * 1e6) / (200 * 1000);
    // 30 features and 2 probabilities per row: well under a microsecond on any machine we run on
    expect(perRowNs).toBeLessThan(2000);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compareToGolden,
  flatten,
  readCardJson,
  readGolden,
  v2Datatype,
  type GoldenCase,
  type GoldenTensor,
} from '../helpers/fixtures.js';
import { deployFixture, post, startServer, type TestServer } from '../helpers/server.js';

// Every fixture model answers its golden cases within tolerance through both endpoints, batched
// (concurrent single-row requests coalesced) and unbatched (max_batch_size 1).

const MODELS = ['breast-cancer-logreg', 'breast-cancer-gbt', 'diabetes-gbt-regressor', 'digits-mlp', 'digits-cnn', 'tabular-mixed', 'credit'] as const;
const PER_ROW_LIMIT = 48;

let ts: TestServer;

beforeAll(async () => {
  ts = await startServer({ batching: { maxQueueDelayMs: 2 } });
  for (const m of MODELS) {
    await deployFixture(ts, m, { deployment: `${m}-batched`, settings: { maxBatchSize: 64, maxQueueDelayMs: 2 } });
    await deployFixture(ts, m, { deployment: `${m}-unbatched`, settings: { maxBatchSize: 1 } });
  }
});

afterAll(async () => {
  await ts?.close();
});

interface CardIO {
  name: string;
  feature_names?: string[];
}
interface FixtureCard {
  inputs: CardIO[];
  outputs: CardIO[];
  class_names?: string[];
  class_labels?: number[];
  task: string;
}

function sliceRows(g: GoldenTensor, start: number, end: number): unknown[] {
  const flat = flatten(g.data);
  const per = flat.length / g.shape[0]!;
  return flat.slice(start * per, end * per);
}

function v2Body(c: GoldenCase, card: FixtureCard, rows?: [number, number]): Record<string, unknown> {
  return {
    id: `case-${c.name}-${rows ? rows[0] : 'all'}`,
    inputs: card.inputs.map((i) => {
      const g = c.inputs[i.name]!;
      const [s, e] = rows ?? [0, g.shape[0]!];
      const shape = g.shape.slice();
      shape[0] = e - s;
      return { name: i.name, shape, datatype: v2Datatype(g.dtype), data: rows ? sliceRows(g, s, e) : g.data };
    }),
  };
}

function rowObjects(c: GoldenCase, card: FixtureCard, start: number, end: number): Record<string, unknown>[] | null {
  if (!card.inputs.every((i) => i.feature_names)) return null;
  const out: Record<string, unknown>[] = [];
  for (let r = start; r < end; r++) {
    const row: Record<string, unknown> = {};
    for (const i of card.inputs) {
      const vals = sliceRows(c.inputs[i.name]!, r, r + 1);
      i.feature_names!.forEach((f, k) => (row[f] = vals[k]));
    }
    out.push(row);
  }
  return out;
}

function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function checkV2(model: string, c: GoldenCase, outputs: { name: string; data: unknown[]; shape: number[] }[], rows?: [number, number]): void {
  const golden = readGolden(model);
  for (const o of outputs) {
    const problem = compareToGolden(o.data, c.expected[o.name]!, golden.tolerance[o.name]!, rows);
    expect(problem, `${model} ${c.name} ${o.name} rows ${rows?.join('-') ?? 'all'}`).toBeNull();
  }
  expect(outputs.map((o) => o.name).sort()).toEqual(Object.keys(c.expected).sort());
}

interface Prediction {
  label?: string | number;
  probabilities?: Record<string, number>;
  value?: number | number[];
}

function checkFriendly(model: string, card: FixtureCard, c: GoldenCase, preds: Prediction[], start: number): void {
  const golden = readGolden(model);
  const names = card.class_names ?? card.class_labels?.map(String);
  preds.forEach((p, k) => {
    const r = start + k;
    const where = `${model} ${c.name} row ${r}`;
    if (c.expected['probabilities']) {
      const want = sliceRows(c.expected['probabilities'], r, r + 1) as number[];
      const tol = golden.tolerance['probabilities'] as { atol: number };
      names!.forEach((n, j) => expect(Math.abs(p.probabilities![n]! - want[j]!), `${where} P(${n})`).toBeLessThanOrEqual(tol.atol));
      const label = sliceRows(c.expected['label']!, r, r + 1)[0] as number;
      expect(p.label, where).toBe(names![card.class_labels!.indexOf(label)]);
    } else if (c.expected['logits']) {
      const logits = sliceRows(c.expected['logits'], r, r + 1) as number[];
      const want = softmax(logits);
      names!.forEach((n, j) => expect(Math.abs(p.probabilities![n]! - want[j]!), `${where} P(${n})`).toBeLessThanOrEqual(1e-4));
      expect(p.label, where).toBe(names![logits.indexOf(Math.max(...logits))]);
    } else {
      const outName = Object.keys(c.expected)[0]!;
      const want = sliceRows(c.expected[outName]!, r, r + 1) as number[];
      const got = Array.isArray(p.value) ? p.value : [p.value as number];
      expect(compareToGolden(got, { dtype: 'float32', shape: [1, want.length], data: want }, golden.tolerance[outName]!), where).toBeNull();
    }
  });
}

describe.each(MODELS)('%s over HTTP', (model) => {
  const card = readCardJson(model) as unknown as FixtureCard;
  const golden = readGolden(model);

  for (const mode of ['batched', 'unbatched'] as const) {
    it(`answers whole golden cases over v2 (${mode})`, async () => {
      for (const c of golden.cases) {
        const res = await post<{ id: string; model_name: string; outputs: { name: string; data: unknown[]; shape: number[] }[] }>(
          `${ts.url}/v2/models/${model}-${mode}/infer`,
          v2Body(c, card),
        );
        expect(res.status, res.text.slice(0, 300)).toBe(200);
        expect(res.body.id).toBe(`case-${c.name}-all`);
        expect(res.body.model_name).toBe(`${model}-${mode}`);
        checkV2(model, c, res.body.outputs);
      }
    });

    it(`answers concurrent single-row v2 requests, each with its own rows (${mode})`, async () => {
      const c = golden.cases[0]!;
      const n = Math.min(PER_ROW_LIMIT, Object.values(c.inputs)[0]!.shape[0]!);
      const answers = await Promise.all(
        Array.from({ length: n }, (_, r) => post<{ id: string; outputs: { name: string; data: unknown[]; shape: number[] }[] }>(
          `${ts.url}/v2/models/${model}-${mode}/infer`,
          v2Body(c, card, [r, r + 1]),
        )),
      );
      answers.forEach((res, r) => {
        expect(res.status, res.text.slice(0, 300)).toBe(200);
        expect(res.body.id).toBe(`case-${c.name}-${r}`);
        checkV2(model, c, res.body.outputs, [r, r + 1]);
      });
    });

    it(`answers the friendly endpoint with labels and named probabilities (${mode})`, async () => {
      const c = golden.cases[0]!;
      const n = Math.min(PER_ROW_LIMIT, Object.values(c.inputs)[0]!.shape[0]!);
      const rows = rowObjects(c, card, 0, n);
      const body = rows
        ? { rows }
        : { instances: Array.from({ length: n }, (_, r) => sliceRows(c.inputs[card.inputs[0]!.name]!, r, r + 1)) };
      const res = await post<{ predictions: Prediction[]; version: number; request_id: string; deployment: string }>(
        `${ts.url}/v1/deployments/${model}-${mode}/predict`,
        body,
      );
      expect(res.status, res.text.slice(0, 300)).toBe(200);
      expect(res.body.version).toBe(1);
      expect(res.body.request_id).toMatch(/.+/);
      expect(res.body.predictions).toHaveLength(n);
      checkFriendly(model, card, c, res.body.predictions, 0);
      // one row per request, concurrently: the batcher must hand each caller its own row
      if (rows) {
        const single = await Promise.all(rows.map((row) => post<{ predictions: Prediction[] }>(`${ts.url}/v1/deployments/${model}-${mode}/predict`, { rows: [row] })));
        single.forEach((s, r) => {
          expect(s.status).toBe(200);
          checkFriendly(model, card, c, s.body.predictions, r);
        });
      }
    });
  }
});

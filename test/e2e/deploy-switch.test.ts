import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxBackend } from '../../src/runtime/index.js';
import { compareToGolden, fixturePath, flatten, readGolden } from '../helpers/fixtures.js';
import { get, post, startServer, type TestServer } from '../helpers/server.js';

// Moving an alias (or a deployment's version) changes what is served without a restart and
// without failing a single in-flight request; the old version drains, then unloads.

let ts: TestServer;
const golden = { 1: readGolden('breast-cancer-logreg'), 2: readGolden('breast-cancer-gbt') } as const;
const X = flatten(golden[1].cases[0]!.inputs['input']!.data) as number[];

beforeAll(async () => {
  ts = await startServer({ batching: { maxQueueDelayMs: 1 } });
  const backend = new OnnxBackend();
  const inspect = (b: Uint8Array) => backend.inspect(b);
  await ts.server.registry.registerVersion({ name: 'bc', filePath: fixturePath('breast-cancer-logreg'), inspect });
  await ts.server.registry.registerVersion({ name: 'bc', filePath: fixturePath('breast-cancer-gbt'), inspect });
  await ts.server.registry.setAlias('bc', 'production', 1);
  await ts.server.registry.deploy({ name: 'svc', model: 'bc', target: { kind: 'alias', alias: 'production' } });
  await ts.server.service.refresh();
});

afterAll(async () => {
  await ts?.close();
});

type V2Answer = { model_version: string; outputs: { name: string; data: number[] }[] };

describe('moving what a deployment serves', () => {
  it('switches versions under load with no failed request, and unloads the old version after it drains', async () => {
    let stop = false;
    const seen: { status: number; version: string; ok: boolean }[] = [];
    const worker = async (w: number): Promise<void> => {
      let i = 0;
      while (!stop) {
        const r = (w * 7 + i++) % 32;
        const a = await post<V2Answer>(`${ts.url}/v2/models/svc/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: X.slice(r * 30, r * 30 + 30) }] });
        let ok = a.status === 200;
        if (ok) {
          const g = golden[Number(a.body.model_version) as 1 | 2];
          for (const o of a.body.outputs) ok &&= compareToGolden(o.data, g.cases[0]!.expected[o.name]!, g.tolerance[o.name]!, [r, r + 1]) === null;
        }
        seen.push({ status: a.status, version: a.body.model_version, ok });
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    const until = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 1500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => seen.length >= 100);
    await ts.server.registry.setAlias('bc', 'production', 2);
    await until(() => seen.filter((s) => s.version === '2').length >= 100);
    stop = true;
    await Promise.all(workers);

    expect(seen.length).toBeGreaterThanOrEqual(200);
    expect(seen.filter((s) => s.status !== 200)).toEqual([]);
    expect(seen.filter((s) => !s.ok)).toEqual([]);
    expect(seen.some((s) => s.version === '1')).toBe(true);
    expect(seen.some((s) => s.version === '2')).toBe(true);
    // once the switch is seen, it sticks
    const firstTwo = seen.findIndex((s) => s.version === '2');
    expect(seen.slice(firstTwo + 64).every((s) => s.version === '2')).toBe(true);

    for (let i = 0; i < 50 && ts.server.manager.stateOf('bc@1') !== 'unloaded'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(ts.server.manager.stateOf('bc@1')).toBe('unloaded');
    expect(ts.server.manager.stateOf('bc@2')).toBe('ready');
  });

  it('still reaches a specific version through the version path', async () => {
    const a = await post<V2Answer>(`${ts.url}/v2/models/svc/versions/1/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: X.slice(0, 30) }] });
    expect(a.status).toBe(200);
    expect(a.body.model_version).toBe('1');
    const meta = await get<{ versions: string[]; parameters: { version: number } }>(`${ts.url}/v2/models/svc/versions/1`);
    expect(meta.body.parameters.version).toBe(1);
    const missing = await post<{ code: string }>(`${ts.url}/v2/models/svc/versions/9/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: X.slice(0, 30) }] });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('VERSION_NOT_FOUND');
  });

  it('rolls the alias back with one call and serves the previous version again', async () => {
    await ts.server.registry.rollbackAlias('bc', 'production');
    await new Promise((r) => setTimeout(r, 50));
    const a = await post<V2Answer>(`${ts.url}/v2/models/svc/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: X.slice(0, 30) }] });
    expect(a.body.model_version).toBe('1');
  });
});

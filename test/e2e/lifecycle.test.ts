import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { flatten, readGolden } from '../helpers/fixtures.js';
import { metricValue } from '../helpers/metrics.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

const mlpRow = (flatten(readGolden('wide-mlp').cases[0]!.inputs['input']!.data) as number[]).slice(0, 256);
const mlpBody = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: mlpRow }] };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type ReadyBody = { ready: boolean; state: string };
type IndexEntry = { name: string; version: string; state: string };

let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const ts = await startServer(...args);
  servers.push(ts);
  return ts;
}

describe('model lifecycle', () => {
  it('loads lazily on first use, counts the cold start and then reports ready', async () => {
    const ts = await start();
    await deployFixture(ts, 'wide-mlp', { deployment: 'mlp' });
    const before = await get<ReadyBody>(`${ts.url}/v2/models/mlp/ready`);
    expect(before.status).toBe(400);
    expect(before.body).toMatchObject({ ready: false, state: 'unloaded' });
    const a = await post(`${ts.url}/v2/models/mlp/infer`, mlpBody);
    expect(a.status).toBe(200);
    const after = await get<ReadyBody>(`${ts.url}/v2/models/mlp/ready`);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ ready: true, state: 'ready' });
    const m = (await get<string>(`${ts.url}/metrics`)).text;
    expect(metricValue(m, 'berth_cold_starts')).toBe(1);
    expect(metricValue(m, 'berth_model_loads_total', { model: 'wide-mlp' })).toBe(1);
    expect(metricValue(m, 'berth_models_loaded')).toBe(1);
  });

  it('makes requests wait while the model loads and warms, and readiness shows the warming state', async () => {
    const ts = await start({ lifecycle: { warmupRuns: 400 } });
    await deployFixture(ts, 'wide-mlp', { deployment: 'mlp' });
    const load = post(`${ts.url}/v2/repository/models/mlp/load`, {});
    const states = new Set<string>();
    const answers: Promise<{ status: number }>[] = [];
    for (let i = 0; i < 20; i++) {
      answers.push(post(`${ts.url}/v2/models/mlp/infer`, mlpBody));
      states.add((await get<ReadyBody>(`${ts.url}/v2/models/mlp/ready`)).body.state);
      await sleep(5);
    }
    expect((await load).status).toBe(200);
    for (const a of await Promise.all(answers)) expect(a.status).toBe(200);
    expect([...states].some((s) => s === 'loading' || s === 'warming')).toBe(true);
  });

  it('runs light models on the event loop and moves heavy ones to a worker thread (runtime.thread auto)', async () => {
    // the threshold goes between the two models' measured costs on this machine now (a batch-1 run of
    // breast-cancer-gbt costs about half of wide-mlp's 2.4M weights, and both move with the load), so
    // the test checks the policy rather than how fast this machine happens to be
    const probe = await start({ runtime: { thread: 'auto', workerThresholdMs: 1e9 } });
    await deployFixture(probe, 'wide-mlp', { deployment: 'heavy' });
    await deployFixture(probe, 'breast-cancer-gbt', { deployment: 'light' });
    for (const d of ['heavy', 'light']) expect((await post(`${probe.url}/v2/repository/models/${d}/load`, {})).status).toBe(200);
    const cost = Object.fromEntries(probe.server.manager.list().map((m) => [m.model, m.warmRunMs!]));
    expect(cost['wide-mlp']).toBeGreaterThan(cost['breast-cancer-gbt']!);
    const threshold = Math.sqrt(cost['wide-mlp']! * cost['breast-cancer-gbt']!);
    const ts = await start({ runtime: { thread: 'auto', workerThresholdMs: threshold } });
    await deployFixture(ts, 'wide-mlp', { deployment: 'heavy' });
    await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'light' });
    for (const d of ['heavy', 'light']) expect((await post(`${ts.url}/v2/repository/models/${d}/load`, {})).status).toBe(200);
    const heavy = await get<{ parameters: { runtime_thread: string } }>(`${ts.url}/v2/models/heavy`);
    const light = await get<{ parameters: { runtime_thread: string } }>(`${ts.url}/v2/models/light`);
    expect(heavy.body.parameters.runtime_thread).toBe('worker');
    expect(light.body.parameters.runtime_thread).toBe('main');
    expect((await post(`${ts.url}/v2/models/heavy/infer`, mlpBody)).status).toBe(200);
  });

  it('loads and unloads through the repository extension and lists every deployment in the index', async () => {
    const ts = await start();
    await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'bc' });
    await deployFixture(ts, 'digits-mlp', { deployment: 'digits' });
    const index0 = await post<IndexEntry[]>(`${ts.url}/v2/repository/index`, {});
    expect(index0.body.map((e) => [e.name, e.state]).sort()).toEqual([['bc', 'UNLOADED'], ['digits', 'UNLOADED']]);
    expect((await post(`${ts.url}/v2/repository/models/bc/load`, {})).status).toBe(200);
    const index1 = await post<IndexEntry[]>(`${ts.url}/v2/repository/index`, {});
    expect(index1.body.find((e) => e.name === 'bc')).toMatchObject({ state: 'READY', version: '1' });
    expect((await post(`${ts.url}/v2/repository/models/bc/unload`, {})).status).toBe(200);
    expect((await get<ReadyBody>(`${ts.url}/v2/models/bc/ready`)).body.state).toBe('unloaded');
    const missing = await post<{ error: string }>(`${ts.url}/v2/repository/models/nope/load`, {});
    expect(missing.status).toBe(404);
  });

  it('unloads a model left idle past the idle timeout (scale to zero) but keeps min_loaded models warm', async () => {
    const ts = await start({ lifecycle: { idleUnloadMs: 200 } });
    await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'idle' });
    await deployFixture(ts, 'digits-mlp', { deployment: 'warm', settings: { minLoaded: 1 } });
    // keep-warm deployments load without a request
    expect((await get<ReadyBody>(`${ts.url}/v2/models/warm/ready`)).body.state).toBe('ready');
    const row = (flatten(readGolden('breast-cancer-gbt').cases[0]!.inputs['input']!.data) as number[]).slice(0, 30);
    expect((await post(`${ts.url}/v2/models/idle/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] })).status).toBe(200);
    expect((await get<ReadyBody>(`${ts.url}/v2/models/idle/ready`)).body.state).toBe('ready');
    await sleep(900);
    expect((await get<ReadyBody>(`${ts.url}/v2/models/idle/ready`)).body.state).toBe('unloaded');
    expect((await get<ReadyBody>(`${ts.url}/v2/models/warm/ready`)).body.state).toBe('ready');
    const m = (await get<string>(`${ts.url}/metrics`)).text;
    expect(metricValue(m, 'berth_model_unloads_total', { reason: 'idle', model: 'breast-cancer-gbt' })).toBe(1);
    // and the next request loads it again
    expect((await post(`${ts.url}/v2/models/idle/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] })).status).toBe(200);
  });

  it("honours a deployment's own idle timeout over the server default", async () => {
    const ts = await start();
    await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'short', settings: { idleUnloadMs: 150 } });
    await deployFixture(ts, 'digits-mlp', { deployment: 'forever' });
    const bc = (flatten(readGolden('breast-cancer-gbt').cases[0]!.inputs['input']!.data) as number[]).slice(0, 30);
    const dg = (flatten(readGolden('digits-mlp').cases[0]!.inputs['input']!.data) as number[]).slice(0, 64);
    expect((await post(`${ts.url}/v2/models/short/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: bc }] })).status).toBe(200);
    expect((await post(`${ts.url}/v2/models/forever/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: dg }] })).status).toBe(200);
    await sleep(800);
    expect((await get<ReadyBody>(`${ts.url}/v2/models/short/ready`)).body.state).toBe('unloaded');
    expect((await get<ReadyBody>(`${ts.url}/v2/models/forever/ready`)).body.state).toBe('ready');
  });

  it('measures each loaded model, shows it in metadata and metrics, and evicts the least recently used to fit the memory budget', async () => {
    // on the main thread a model measures close to its 9.5 MB file; five of them cannot fit in 40 MB
    const budget = 40 * 1024 * 1024;
    const ts = await start({ lifecycle: { memoryBudgetBytes: budget }, runtime: { thread: 'main' } });
    for (const n of ['a', 'b', 'c', 'd', 'e']) await deployFixture(ts, 'wide-mlp', { name: `mlp-${n}`, deployment: n });
    const order: string[] = [];
    for (const n of ['a', 'b', 'c', 'd', 'e']) {
      expect((await post(`${ts.url}/v2/models/${n}/infer`, mlpBody)).status).toBe(200);
      order.push(n);
      const loaded = ts.server.manager.list();
      const total = loaded.reduce((s, e) => s + e.memoryBytes, 0);
      for (const e of loaded) expect(e.memoryBytes).toBeGreaterThanOrEqual(9_516_488);
      expect(total).toBeLessThanOrEqual(budget);
      // whatever stayed loaded is the most recently used ones
      const names = loaded.map((e) => e.model.slice(4)).sort();
      expect(names).toEqual(order.slice(order.length - names.length).sort());
    }
    const meta = await get<{ parameters: { memory_bytes: number; state: string } }>(`${ts.url}/v2/models/e`);
    expect(meta.body.parameters.state).toBe('ready');
    expect(meta.body.parameters.memory_bytes).toBeGreaterThanOrEqual(9_516_488);
    const m = (await get<string>(`${ts.url}/metrics`)).text;
    expect(metricValue(m, 'berth_model_memory_bytes', { model: 'mlp-e' })).toBe(meta.body.parameters.memory_bytes);
    expect(metricValue(m, 'berth_model_unloads_total', { reason: 'evicted' })).toBeGreaterThanOrEqual(1);
  });

  it('refuses a model that alone needs more than the memory budget, with a 503 saying what to raise', async () => {
    const ts = await start({ lifecycle: { memoryBudgetBytes: 4 * 1024 * 1024 } });
    await deployFixture(ts, 'wide-mlp', { deployment: 'big' });
    const a = await post<{ code: string; error: string }>(`${ts.url}/v2/models/big/infer`, mlpBody);
    expect(a.status).toBe(503);
    expect(a.headers.get('retry-after')).toMatch(/^[0-9]+$/);
    expect(a.body.code).toBe('MEMORY_BUDGET_EXCEEDED');
    expect(a.body.error).toMatch(/more than the whole memory budget \(4\.0 MiB\); raise/);
    expect(ts.server.manager.list().filter((e) => e.state === 'ready')).toEqual([]);
  });

  it('gives the memory back: 50 load/unload cycles grow the RSS by less than 50 MB', async () => {
    const ts = await start();
    await deployFixture(ts, 'wide-mlp', { deployment: 'mlp' });
    const cycle = async (): Promise<void> => {
      expect((await post(`${ts.url}/v2/repository/models/mlp/load`, {})).status).toBe(200);
      expect((await post(`${ts.url}/v2/models/mlp/infer`, mlpBody)).status).toBe(200);
      expect((await post(`${ts.url}/v2/repository/models/mlp/unload`, {})).status).toBe(200);
    };
    for (let i = 0; i < 5; i++) await cycle(); // allocator pools reach their steady state
    global.gc?.();
    const before = process.memoryUsage.rss();
    for (let i = 0; i < 50; i++) await cycle();
    global.gc?.();
    const growth = process.memoryUsage.rss() - before;
    expect(growth).toBeLessThan(50 * 1024 * 1024);
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun, localHolder, parsePipelineText, resolveParams, RunStore, type RunEvent, type RunRecord } from '../../src/pipelines/index.js';
import { openEmbeddedRegistry, type Registry } from '../../src/registry/index.js';

/**
 * The executor against a real embedded registry, real child processes (node scripts) and real
 * files: the DAG, step outputs and references, the cache, retries with backoff, timeouts that kill
 * the whole process group, failures that stop dependents, cancel, and tracked metrics.
 */
let dir: string;
let registry: Registry;
let store: RunStore;
const NODE = process.execPath;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-pipe-'));
  registry = await openEmbeddedRegistry(path.join(dir, 'data'));
  store = new RunStore(registry);
});
afterAll(async () => {
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});

/** A node one-liner as a run step's argv. */
const js = (code: string, ...args: string[]): string => JSON.stringify([NODE, '-e', code, ...args]);

async function run(yaml: string, opts: { params?: Record<string, string>; workdir?: string; events?: RunEvent[]; cache?: boolean; onStart?: (r: RunRecord) => void } = {}): Promise<RunRecord> {
  const spec = parsePipelineText(yaml);
  const created = await store.createRun({
    spec, sourceSha256: 'x', pipelineVersion: null, params: resolveParams(spec, opts.params ?? {}), trigger: { kind: 'cli' },
    workdir: opts.workdir ?? dir, code: null, mode: 'local', actor: 'test', holder: localHolder(),
  });
  opts.onStart?.(created);
  return executeRun(created, {
    store, artifacts: registry.artifacts, runsDir: path.join(dir, 'runs'), holder: localHolder(), builtins: {},
    heartbeatMs: 100, killGraceMs: 500, useCache: opts.cache !== false, ...(opts.events ? { onEvent: (e) => opts.events!.push(e) } : {}),
  });
}

const step = (r: RunRecord, name: string) => r.steps.find((s) => s.name === name)!;

describe('pipeline runs', () => {
  it('runs the DAG in order, hands outputs on by reference, records metrics with steps and dataset fingerprints', async () => {
    await writeFile(path.join(dir, 'raw.csv'), 'a,b\n1,2\n3,4\n');
    const yaml = `
pipeline: dag
params: { factor: 3 }
steps:
  prep:
    run: ${js("const fs=require('fs');fs.writeFileSync(process.argv[2], fs.readFileSync(process.argv[1],'utf8').toUpperCase())", 'raw.csv', '${outputs.data}')}
    data: [raw.csv]
    outputs: { data: data.csv }
  train:
    needs: [prep]
    run: ${js("const fs=require('fs');const d=fs.readFileSync(process.argv[1],'utf8');for(let e=0;e<3;e++)fs.appendFileSync(process.env.BERTH_METRICS_FILE, JSON.stringify({key:'loss',value:1/(e+1),step:e})+'\\n');console.log('rows', d.trim().split('\\n').length-1, 'factor', process.env.BERTH_PARAM_FACTOR);fs.writeFileSync(process.argv[2], 'model:'+d.length*Number(process.argv[3]))", '${steps.prep.outputs.data}', '${outputs.model}', '${params.factor}')}
    outputs: { model: model.bin }
  report:
    needs: [train]
    run: ${js("fetch(process.env.BERTH_TRACKING_URL+'/metrics',{method:'POST',body:JSON.stringify({metrics:{size:require('fs').statSync(process.argv[1]).size},step:0})}).then(r=>{if(r.status!==200)process.exit(5)})", '${steps.train.outputs.model}')}
`;
    const events: RunEvent[] = [];
    const r = await run(yaml, { events });
    expect(r.state).toBe('succeeded');
    expect(r.steps.map((s) => [s.name, s.state])).toEqual([['prep', 'succeeded'], ['train', 'succeeded'], ['report', 'succeeded']]);
    const model = path.join(dir, 'runs', String(r.id), step(r, 'train').outputs!['model']!.file);
    expect(readFileSync(model, 'utf8')).toBe(`model:${'A,B\n1,2\n3,4\n'.length * 3}`);
    expect(await registry.artifacts.has(step(r, 'train').outputs!['model']!.sha256)).toBe(true);
    const metrics = await store.metrics(r.id);
    expect(metrics.filter((m) => m.key === 'loss').map((m) => [m.metricStep, m.value])).toEqual([[0, 1], [1, 0.5], [2, 1 / 3]]);
    expect(metrics.find((m) => m.key === 'size')).toMatchObject({ step: 'report', value: 'model:36'.length, metricStep: 0 });
    const datasets = await store.datasets(r.id);
    expect(datasets).toEqual([{ step: 'prep', path: path.join(dir, 'raw.csv'), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), bytes: 12 }]);
    const logs = await store.logs(r.id, { step: 'train' });
    expect(logs.some((l) => l.stream === 'stdout' && l.line === 'rows 2 factor 3')).toBe(true);
    expect(events.filter((e) => e.kind === 'step-start').map((e) => (e as { step: string }).step)).toEqual(['prep', 'train', 'report']);
  });

  it('reuses unchanged steps from the cache and says so; a changed param or input file runs them again', async () => {
    const counter = path.join(dir, 'cache-count.txt');
    await writeFile(path.join(dir, 'in.txt'), 'v1');
    const yaml = `
pipeline: cached
params: { lr: 0.1, unrelated: x }
steps:
  train:
    run: ${js("const fs=require('fs');fs.appendFileSync(process.argv[1],'x');fs.appendFileSync(process.env.BERTH_METRICS_FILE, JSON.stringify({key:'acc',value:0.9})+'\\n');fs.writeFileSync(process.argv[2], fs.readFileSync('in.txt','utf8')+process.argv[3])", counter, '${outputs.model}', '${params.lr}')}
    inputs: [in.txt]
    outputs: { model: m.txt }
  use:
    needs: [train]
    run: ${js("process.exit(require('fs').readFileSync(process.argv[1],'utf8').startsWith('v')?0:1)", '${steps.train.outputs.model}')}
`;
    const first = await run(yaml);
    expect(first.state).toBe('succeeded');
    const events: RunEvent[] = [];
    const second = await run(yaml, { events, params: { unrelated: 'y' } });
    expect(second.state).toBe('succeeded');
    expect(step(second, 'train')).toMatchObject({ state: 'cached', cachedFrom: first.id });
    expect(step(second, 'use').state).toBe('cached');
    expect(events.find((e) => e.kind === 'step-end' && e.step === 'train')).toMatchObject({ state: 'cached', note: expect.stringContaining(`unchanged since run ${first.id}`) });
    // the cached step's files are there, and its metrics were carried over
    expect(readFileSync(path.join(dir, 'runs', String(second.id), step(second, 'train').outputs!['model']!.file), 'utf8')).toBe('v10.1');
    expect((await store.metrics(second.id)).map((m) => [m.step, m.key, m.value])).toEqual([['train', 'acc', 0.9]]);
    expect(readFileSync(counter, 'utf8')).toBe('x');

    const third = await run(yaml, { params: { lr: '0.2' } });
    expect(step(third, 'train').state).toBe('succeeded');
    expect(readFileSync(counter, 'utf8')).toBe('xx');
    await writeFile(path.join(dir, 'in.txt'), 'v2');
    const fourth = await run(yaml, { params: { lr: '0.2' } });
    expect(step(fourth, 'train').state).toBe('succeeded');
    // the downstream step reads a different file now, so it ran too
    expect(step(fourth, 'use').state).toBe('succeeded');
    expect(readFileSync(counter, 'utf8')).toBe('xxx');
    const fifth = await run(yaml, { params: { lr: '0.2' }, cache: false });
    expect(step(fifth, 'train').state).toBe('succeeded');
    expect(readFileSync(counter, 'utf8')).toBe('xxxx');
  });

  it('retries a failing step with backoff and keeps each attempt in the log', async () => {
    const counter = path.join(dir, 'flaky.txt');
    await writeFile(counter, '');
    const yaml = `
pipeline: flaky
steps:
  train:
    run: ${js("const fs=require('fs');fs.appendFileSync(process.argv[1],'x');const n=fs.readFileSync(process.argv[1],'utf8').length;console.error('attempt',n);process.exit(n<3?7:0)", counter)}
    retries: 2
    backoff: 50ms
`;
    const started = Date.now();
    const r = await run(yaml);
    expect(r.state).toBe('succeeded');
    expect(step(r, 'train').attempts).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150); // 50 ms, then 100 ms
    const lines = (await store.logs(r.id, { step: 'train' })).map((l) => l.line);
    expect(lines.filter((l) => /attempt \d of 3 failed: the command ended with exit code 7/.test(l))).toHaveLength(2);
    expect(lines).toContain('attempt 3');
  });

  it('a failed step stops what needs it; failure and always steps still run; nothing else does', async () => {
    const yaml = `
pipeline: broken
steps:
  train:
    run: ${js('console.log("training");process.exit(3)')}
  register:
    needs: [train]
    run: ${js('process.exit(0)')}
  after-register:
    needs: [register]
    run: ${js('process.exit(0)')}
  on-failure:
    needs: [register]
    when: failure
    run: ${js('console.log("alerting")')}
  cleanup:
    needs: [train]
    when: always
    run: ${js('process.exit(0)')}
  independent:
    run: ${js('process.exit(0)')}
`;
    const r = await run(yaml);
    expect(r.state).toBe('failed');
    expect(r.error).toEqual({ code: 'STEP_FAILED', message: expect.stringContaining('step train failed: the command ended with exit code 3') });
    expect(Object.fromEntries(r.steps.map((s) => [s.name, s.state]))).toEqual({
      train: 'failed', register: 'skipped', 'after-register': 'skipped', 'on-failure': 'succeeded', cleanup: 'succeeded', independent: 'succeeded',
    });
    expect(step(r, 'register').error!.message).toBe('not run: it needs train (failed)');
    // the failed step's output is kept
    expect((await store.logs(r.id, { step: 'train' })).map((l) => l.line)).toContain('training');
  });

  it('a step past its timeout is stopped with its whole process group', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const yaml = `
pipeline: slow
steps:
  train:
    run: "sleep 30 & echo $! > ${pidFile}; wait"
    timeout: 300ms
`;
    const started = Date.now();
    const r = await run(yaml);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.state).toBe('failed');
    expect(step(r, 'train').error).toEqual({ code: 'DEADLINE_EXCEEDED', message: expect.stringContaining('timed out after 300ms') });
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    await new Promise((res) => setTimeout(res, 200));
    expect(alive(pid)).toBe(false);
  });

  it('cancel stops the running step and ends the run cancelled', async () => {
    const yaml = `
pipeline: long
steps:
  train:
    run: ${js('setTimeout(()=>{},60000)')}
  next:
    needs: [train]
    run: ${js('process.exit(0)')}
`;
    let id = 0;
    const p = run(yaml, { onStart: (r) => { id = r.id; } });
    await new Promise((res) => setTimeout(res, 600));
    const asked = await store.cancelRun(id, 'tester');
    expect(asked.cancelRequested).toBe(true);
    const r = await p;
    expect(r.state).toBe('cancelled');
    expect(Object.fromEntries(r.steps.map((s) => [s.name, s.state]))).toEqual({ train: 'cancelled', next: 'cancelled' });
    await expect(store.cancelRun(id, 'tester')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('a declared output the command did not write fails the step, naming it', async () => {
    const r = await run(`
pipeline: forgetful
steps:
  train:
    run: ${js('process.exit(0)')}
    outputs: { model: model.onnx }
`);
    expect(r.state).toBe('failed');
    expect(step(r, 'train').error!.message).toContain('did not write its output model (model.onnx)');
  });

  it('a command that cannot start fails with a reason, and a missing input is named', async () => {
    const r = await run(`
pipeline: missing
steps:
  a:
    run: [/no/such/binary]
  b:
    run: ${js('0')}
    inputs: [nothere.csv]
`);
    expect(step(r, 'a').error!.message).toContain('could not start "/no/such/binary"');
    expect(step(r, 'b').error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('steps.b.inputs[0]') });
    expect(existsSync(path.join(dir, 'runs', String(r.id), 'logs', 'a.log'))).toBe(true);
  });
});

/** A process that exists and is not a zombie (an orphan's parent here may never reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

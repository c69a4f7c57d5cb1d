/*
 * Pipelines on a real server: stored pipelines and runs over HTTP, bad requests answered 400/403/404
 * naming the field, workdirs confined to the pipeline roots for callers without admin, the
 * schedule and feedback triggers, a server run resumed by another server after its replica died,
 * and the CLI against the server (`berth pipeline run --remote`, `berth runs`, `berth lineage`).
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { PipelineService, RunStore, type RunRecord } from '../../src/pipelines/index.js';
import { openEmbeddedRegistry } from '../../src/registry/index.js';
import { ROOT } from '../helpers/dist.js';
import { get, post, startServer, type TestServer } from '../helpers/server.js';

let work: string;
let ts: TestServer;
const NODE = JSON.stringify(process.execPath);

async function berth(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
  return { code, out, err };
}

const PIPELINE = `
pipeline: quick
params: { greeting: hello, times: 2 }
steps:
  write:
    run: [${NODE}, -e, "const fs=require('fs');fs.writeFileSync(process.argv[1], process.argv[2].repeat(Number(process.argv[3])));console.log('wrote', process.argv[2])", "\${outputs.text}", "\${params.greeting}", "\${params.times}"]
    data: [input.csv]
    outputs: { text: text.txt }
  check:
    needs: [write]
    run: [${NODE}, -e, "const t=require('fs').readFileSync(process.argv[1],'utf8');console.log('read', t);process.exit(t.length>0?0:1)", "\${steps.write.outputs.text}"]
`;

async function waitForRun(id: number): Promise<RunRecord> {
  for (let i = 0; i < 300; i++) {
    const r = await get<RunRecord>(`${ts.url}/v1/runs/${id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(r.body.state)) return r.body;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`run ${id} did not end`);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-pipes-'));
  await writeFile(path.join(work, 'input.csv'), 'a\n1\n');
  await writeFile(path.join(work, 'berth.pipeline.yaml'), PIPELINE);
  ts = await startServer({}, { jobTimings: { pollMs: 100, heartbeatMs: 300, leaseMs: 5_000 } });
}, 60_000);

afterAll(async () => {
  await ts?.close();
  await rm(work, { recursive: true, force: true });
});

describe('pipelines over HTTP', () => {
  it('stores a pipeline (a changed text is a new version) and runs it with params of the declared types', async () => {
    const created = await post<{ created: boolean; pipeline: { version: number } }>(`${ts.url}/v1/pipelines`, { source: PIPELINE, workdir: work });
    expect(created.status, created.text).toBe(201);
    expect((await post<{ changed: boolean }>(`${ts.url}/v1/pipelines`, { source: PIPELINE, workdir: work })).body).toMatchObject({ created: false, changed: false });
    const v2 = await post<{ pipeline: { version: number } }>(`${ts.url}/v1/pipelines`, { source: PIPELINE.replace('times: 2', 'times: 3'), workdir: work });
    expect(v2.status).toBe(200);
    expect(v2.body.pipeline.version).toBe(2);

    const started = await post<RunRecord>(`${ts.url}/v1/pipelines/quick/runs`, { params: { greeting: 'hi', times: 4 } });
    expect(started.status, started.text).toBe(202);
    expect(started.body).toMatchObject({ state: 'queued', mode: 'server', pipelineVersion: 2, params: { greeting: 'hi', times: 4 }, trigger: { kind: 'api' } });
    const run = await waitForRun(started.body.id);
    expect(run.state).toBe('succeeded');
    const logs = await get<{ lines: { step: string; line: string }[] }>(`${ts.url}/v1/runs/${run.id}/logs?step=check`);
    expect(logs.body.lines.map((l) => l.line)).toContain('read hihihihi');
    const listed = await get<{ runs: RunRecord[] }>(`${ts.url}/v1/pipelines/quick/runs`);
    expect(listed.body.runs.map((r) => r.id)).toEqual([run.id]);
    const audit = await ts.server.registry.audit({ action: 'pipeline.' });
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['pipeline.create', 'pipeline.update', 'pipeline.run']));
  });

  it('answers bad requests with 400/404 naming the field, and stores nothing', async () => {
    const cases: [string, unknown, number, string][] = [
      ['/v1/pipelines', { source: 'pipeline: [', workdir: work }, 400, 'pipeline'],
      ['/v1/pipelines', { source: PIPELINE }, 400, 'workdir'],
      ['/v1/pipelines', { source: PIPELINE, workdir: 'relative/dir' }, 400, 'workdir'],
      ['/v1/pipelines', { source: PIPELINE, workdir: path.join(work, 'nope') }, 400, 'workdir'],
      ['/v1/pipelines', { source: PIPELINE, workdir: work, extra: 1 }, 400, 'extra'],
      ['/v1/pipelines', { source: PIPELINE.replace('needs: [write]', 'needs: [nothing]'), workdir: work }, 400, 'steps.check.needs'],
      ['/v1/pipelines/quick/runs', { params: { times: 'many' } }, 400, 'params.times'],
      ['/v1/pipelines/quick/runs', { params: { colour: 'red' } }, 400, 'params.colour'],
      ['/v1/pipelines/quick/runs', { params: { greeting: { a: 1 } } }, 400, 'params.greeting'],
      ['/v1/pipelines/quick/runs', { params: { greeting: null } }, 400, 'params.greeting'],
      ['/v1/pipelines/quick/runs', { trigger: { kind: 'alert' } }, 400, 'trigger.kind'],
      ['/v1/pipelines/ghost/runs', {}, 404, 'pipeline'],
    ];
    const before = (await get<{ runs: RunRecord[] }>(`${ts.url}/v1/runs`)).body.runs.length;
    for (const [url, body, status, field] of cases) {
      const res = await post<{ error: string; code: string; field?: string }>(`${ts.url}${url}`, body);
      expect(res.status, `${url} ${JSON.stringify(body).slice(0, 80)}: ${res.text}`).toBe(status);
      expect(res.body.field ?? res.body.error).toContain(field);
    }
    expect((await get<{ runs: RunRecord[] }>(`${ts.url}/v1/runs`)).body.runs.length).toBe(before);
    expect((await get(`${ts.url}/v1/runs?state=bogus`)).status).toBe(400);
    expect((await get(`${ts.url}/v1/runs/abc`)).status).toBe(400);
    expect((await get(`${ts.url}/v1/runs/99999`)).status).toBe(404);
    expect((await get(`${ts.url}/v1/lineage/datasets/xyz`)).status).toBe(400);
  });

  it('the CLI runs a file on the server and follows it, then reads runs, logs and lineage there', async () => {
    const server = ['--server', ts.url];
    const run = await berth(...server, 'pipeline', 'run', path.join(work, 'berth.pipeline.yaml'), '--remote', '--param', 'greeting=yo');
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('read yoyo');
    expect(run.out).toMatch(/run \d+ of pipeline quick: succeeded/);
    const id = Number(/run (\d+) of pipeline quick/.exec(run.out)![1]);
    const list = await berth(...server, '--json', 'runs', 'list', '--pipeline', 'quick');
    expect((JSON.parse(list.out) as { runs: RunRecord[] }).runs[0]!.id).toBe(id);
    const show = await berth(...server, 'runs', 'show', String(id));
    expect(show.out).toContain('params    greeting=yo times=2');
    const compare = await berth(...server, 'runs', 'compare', String(id - 1), String(id));
    expect(compare.code, compare.err).toBe(0);
    expect(compare.out).toMatch(/≠ param greeting\s+hi\s+yo/);
    const data = await berth(...server, 'lineage', '--dataset', path.join(work, 'input.csv'));
    expect(data.code, data.err).toBe(0);
    expect(data.out).toContain(`run ${id}, step write`);
    const detached = await berth(...server, 'pipeline', 'run', 'quick', '--remote', '--detach');
    expect(detached.code, detached.err).toBe(0);
    await waitForRun(Number(detached.out.trim()));
  });
});

describe('the git hook example', () => {
  it('starts a run with the commit as its trigger, and never fails the commit when the server is down', async () => {
    const repo = path.join(work, 'repo');
    const git = (...args: string[]): string => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();
    execFileSync('git', ['init', '-q', repo]);
    git('config', 'user.email', 'ci@example.com');
    git('config', 'user.name', 'ci');
    await writeFile(path.join(repo, 'train.py'), 'print(1)\n');
    git('add', '.');
    git('commit', '-qm', 'train');
    const sha = git('rev-parse', 'HEAD');
    const hook = path.join(ROOT, 'examples', 'ci', 'post-commit');
    const before = (await get<{ runs: RunRecord[] }>(`${ts.url}/v1/runs?pipeline=quick`)).body.runs.length;
    // asynchronously: the server answering it lives in this process
    const hooked = await promisify(execFile)('sh', [hook], { cwd: repo, env: { ...process.env, BERTH_SERVER: ts.url, BERTH_PIPELINE: 'quick' }, encoding: 'utf8' });
    expect(hooked.stderr).toContain(`started a run of pipeline quick for commit ${sha.slice(0, 12)}`);
    const runs = (await get<{ runs: RunRecord[] }>(`${ts.url}/v1/runs?pipeline=quick`)).body.runs;
    expect(runs.length).toBe(before + 1);
    expect(runs[0]!.trigger).toEqual({ kind: 'git', detail: { commit: sha } });
    await waitForRun(runs[0]!.id);
    // nothing listens there: a warning, exit 0
    const down = await promisify(execFile)('sh', [hook], { cwd: repo, env: { ...process.env, BERTH_SERVER: 'http://127.0.0.1:9', BERTH_PIPELINE: 'quick' }, encoding: 'utf8' });
    expect(down.stderr).toContain('no pipeline run was started');
  });
});

describe('the pipeline roots', () => {
  it('a caller without admin may only use workdirs inside them', async () => {
    const secured = await startServer({ auth: { dev: false }, jobs: { roots: [path.join(work, 'allowed')] } }, { adminToken: 'root-token-123456' });
    try {
      const deployer = (await secured.server.tokens.create({ name: 'ci', roles: ['deployer'], expiresAt: Date.now() + 3_600_000 })).token;
      const outside = await post<{ error: string; code: string; field: string }>(`${secured.url}/v1/pipelines`, { source: PIPELINE, workdir: work }, { authorization: `Bearer ${deployer}` });
      expect(outside.status).toBe(403);
      expect(outside.body).toMatchObject({ code: 'FORBIDDEN', field: 'workdir' });
      expect(outside.body.error).toContain('outside the pipeline roots');
      const admin = await post(`${secured.url}/v1/pipelines`, { source: PIPELINE, workdir: work }, { authorization: 'Bearer root-token-123456' });
      expect(admin.status, admin.text).toBe(201);
      const viewer = (await secured.server.tokens.create({ name: 'v', roles: ['viewer'], expiresAt: Date.now() + 3_600_000 })).token;
      expect((await post(`${secured.url}/v1/pipelines/quick/runs`, {}, { authorization: `Bearer ${viewer}` })).status).toBe(403);
      expect((await fetch(`${secured.url}/v1/runs`, { headers: { authorization: `Bearer ${viewer}` } })).status).toBe(200);
    } finally {
      await secured.close();
    }
  });
});

describe('triggers', () => {
  it('a cron schedule and a count of new labels each start runs, once per firing', async () => {
    const dir = path.join(work, 'triggers');
    const registry = await openEmbeddedRegistry(dir);
    const store = new RunStore(registry);
    let now = Date.parse('2026-11-25T09:59:30Z');
    let labels = 40;
    const svc = new PipelineService({
      registry, store, host: { register: () => Promise.reject(new Error('not in this test')) }, runsHere: false, roots: [], runsDir: path.join(dir, 'runs'), holder: 'test', commandPrefix: [], maxConcurrent: 1,
      leading: () => true, logger: (await import('../../src/core/index.js')).silentLogger, now: () => now, feedbackCount: async () => labels,
    });
    try {
      await svc.put({ source: PIPELINE + 'triggers:\n  - schedule: "0 10 * * *"\n  - feedback: { deployment: credit, labels: 100 }\n', workdir: work }, { actor: 't', admin: true });
      await svc.tick(); // the clocks start: no run owed yet; the 40 labels there count toward the first 100
      expect(await store.listRuns()).toHaveLength(0);
      now += 60_000; // 10:00:30: the 10:00 instant is due
      await svc.tick();
      expect((await store.listRuns()).map((r) => r.trigger)).toEqual([{ kind: 'schedule', detail: { cron: '0 10 * * *', timezone: 'UTC', scheduledAt: '2026-11-25T10:00:00.000Z' } }]);
      await svc.tick(); // nothing new: the instant fired once
      expect(await store.listRuns()).toHaveLength(1);
      labels = 99;
      await svc.tick();
      expect(await store.listRuns()).toHaveLength(1);
      labels = 100;
      await svc.tick();
      expect((await store.listRuns())[0]!.trigger).toEqual({ kind: 'feedback', detail: { deployment: 'credit', newLabels: 100, labels: 100 } });
      labels = 199;
      await svc.tick();
      expect(await store.listRuns()).toHaveLength(2);
      labels = 230;
      await svc.tick();
      expect((await store.listRuns())[0]!.trigger.detail).toMatchObject({ newLabels: 130, labels: 230 });
      // a paused pipeline's triggers do nothing
      await svc.setEnabled('quick', false, 't');
      now += 86_400_000;
      labels = 1000;
      await svc.tick();
      expect(await store.listRuns()).toHaveLength(3);
    } finally {
      await svc.close();
      await registry.close();
    }
  });
});

describe('a server run whose replica died', () => {
  it('is taken up by the next server on the registry and resumes after its last finished step', async () => {
    const dataDir = path.join(work, 'handover');
    const count = path.join(work, 'first.count');
    const source = `
pipeline: handover
steps:
  first:
    run: [${NODE}, -e, "require('fs').appendFileSync(process.argv[1],'x')", ${JSON.stringify(count)}]
  second:
    needs: [first]
    run: [${NODE}, -e, "if(!require('fs').existsSync('go'))setInterval(()=>{},1000)"]
`;
    const a = await startServer({}, { dataDir, jobTimings: { pollMs: 100, heartbeatMs: 200, leaseMs: 1_500 } });
    let id = 0;
    try {
      expect((await post(`${a.url}/v1/pipelines`, { source, workdir: work })).status).toBe(201);
      id = (await post<RunRecord>(`${a.url}/v1/pipelines/handover/runs`, {})).body.id;
      for (let i = 0; i < 100; i++) {
        const r = await get<RunRecord>(`${a.url}/v1/runs/${id}`);
        if (r.body.steps[1]!.state === 'running') break;
        await new Promise((res) => setTimeout(res, 100));
      }
    } finally {
      // a clean stop gives the run back (as a replica that dies lets its lease lapse)
      await a.close();
    }
    await writeFile(path.join(work, 'go'), '');
    const b = await startServer({}, { dataDir, jobTimings: { pollMs: 100, heartbeatMs: 200, leaseMs: 1_500 } });
    try {
      let r: RunRecord | null = null;
      for (let i = 0; i < 200; i++) {
        r = (await get<RunRecord>(`${b.url}/v1/runs/${id}`)).body;
        if (r.state === 'succeeded' || r.state === 'failed') break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(r!.state).toBe('succeeded');
      expect(r!.attempts).toBe(2);
      expect(r!.steps.map((s) => [s.name, s.attempts])).toEqual([['first', 1], ['second', 2]]);
      expect(await readFile(count, 'utf8')).toBe('x');
    } finally {
      await b.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

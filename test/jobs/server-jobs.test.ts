/*
 * Server batch jobs end to end: a real server queues them (`POST /v1/jobs`), runs each as a real
 * `berth batch run` child process, and records progress, logs and the outcome. The outputs are
 * checked against the fixtures' golden predictions; cancel, the concurrency limit, a server restart
 * in the middle of a job, and every kind of bad request are exercised for real.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { jobPriority, type JobRecord } from '../../src/jobs/index.js';
import { ensureDistBuilt } from '../helpers/dist.js';
import { compareToGolden, fixturePath, flatten, readGolden, type GoldenTensor } from '../helpers/fixtures.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

const ADMIN = 'test-admin-secret-for-server-jobs-0123456789';
/** progress and cancels seen within 200 ms rather than 2 s */
const FAST = { pollMs: 200, heartbeatMs: 200 };
let ts: TestServer;
let roots: string;
let featureNames: string[];
let classNames: string[];
let goldenRows: (number | string)[][];

/** `rows` rows of credit: the 32 golden rows over and over, ids r1… in order. */
function creditCsv(rows: number): string {
  const lines = [['id', ...featureNames].join(',')];
  for (let r = 0; r < rows; r++) lines.push([`r${r + 1}`, ...goldenRows[r % goldenRows.length]!].join(','));
  return lines.join('\n') + '\n';
}

async function call(method: string, url: string, body?: unknown, token = ADMIN): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${ts.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function waitFor(id: number, states: readonly string[], timeoutMs = 60_000, server = () => ts): Promise<JobRecord> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const j = await server().server.jobs.get(id);
    if (states.includes(j.state)) return j;
    if (Date.now() > until) throw new Error(`job ${id} still ${j.state} after ${timeoutMs} ms: ${JSON.stringify(j)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function expectGoldenCsv(text: string, rows: number): void {
  const lines = text.trim().split('\n');
  expect(lines[0]).toBe(['id', 'label', ...classNames.map((n) => `p_${n}`)].join(','));
  expect(lines.length - 1).toBe(rows);
  const g = readGolden('credit');
  const gc = g.cases.find((c) => c.name === 'golden_32')!;
  const first = lines.slice(1, 33).map((l) => l.split(','));
  expect(first.map((r) => r[0])).toEqual(Array.from({ length: 32 }, (_, i) => `r${i + 1}`));
  expect(compareToGolden(first.map((r) => classNames.indexOf(r[1]!)), gc.expected['label']!, g.tolerance['label']!)).toBeNull();
  expect(compareToGolden(first.flatMap((r) => [Number(r[2]), Number(r[3])]), gc.expected['probabilities'] as GoldenTensor, g.tolerance['probabilities']!)).toBeNull();
  // every row once, in input order
  for (let i = 1; i < lines.length; i++) expect(lines[i]!.slice(0, lines[i]!.indexOf(','))).toBe(`r${i}`);
}

beforeAll(async () => {
  ensureDistBuilt('cli/main.js');
  ts = await startServer({ auth: { dev: false }, jobs: { maxConcurrent: 1 } }, { adminToken: ADMIN, jobTimings: FAST });
  const { version } = await deployFixture(ts, 'credit');
  const v = await ts.server.registry.getVersion('credit', version);
  classNames = v.card!.classes!.names!;
  // every input of the signature (credit has a numeric and a categorical one), feature by feature
  const g = readGolden('credit').cases.find((c) => c.name === 'golden_32')!;
  featureNames = [];
  goldenRows = Array.from({ length: 32 }, () => []);
  for (const spec of v.signature.inputs) {
    const flat = flatten(g.inputs[spec.name]!.data);
    const width = spec.featureNames!.length;
    featureNames.push(...spec.featureNames!);
    for (let r = 0; r < 32; r++) goldenRows[r]!.push(...(flat.slice(r * width, (r + 1) * width) as (number | string)[]));
  }
  roots = path.join(ts.dataDir, 'batch');
  await mkdir(roots, { recursive: true });
  await writeFile(path.join(roots, 'golden.csv'), creditCsv(32));
  await writeFile(path.join(roots, 'big.csv'), creditCsv(150_000));
}, 180_000);

afterAll(async () => {
  const dir = ts?.dataDir;
  await ts?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('server batch jobs', () => {
  it('run a submitted job to the golden predictions, with progress, a summary, logs and an audit row', async () => {
    const sub = await call('POST', '/v1/jobs', { model: 'credit@1', input: 'golden.csv', output: 'golden-out.csv' });
    expect(sub.status).toBe(201);
    expect(sub.body).toMatchObject({ state: 'queued', model: 'credit', version: 1, ref: 'credit@1' });
    const id = sub.body['id'] as number;
    const done = await waitFor(id, ['succeeded', 'failed', 'cancelled']);
    expect(done.error).toBeNull();
    expect(done.state).toBe('succeeded');
    expect(done.summary).toMatchObject({ rowsIn: 32, rowsOut: 32, rejected: 0, complete: true });
    expectGoldenCsv(await readFile(path.join(roots, 'golden-out.csv'), 'utf8'), 32);
    const logs = await call('GET', `/v1/jobs/${id}/logs`);
    expect(logs.status).toBe(200);
    const lines = (logs.body['lines'] as { message: string }[]).map((l) => l.message);
    expect(lines[0]).toContain('submitted by');
    expect(lines.some((l) => l.includes('run 1 on'))).toBe(true);
    const later = await call('GET', `/v1/jobs/${id}/logs?after=${logs.body['next']}`);
    expect(later.body['lines']).toEqual([]);
    const listed = await call('GET', '/v1/jobs?state=succeeded');
    expect((listed.body['jobs'] as JobRecord[]).map((j) => j.id)).toContain(id);
    const audit = await ts.server.registry.audit({ action: 'job.submit' });
    expect(audit.some((a) => a.target === `job:${id}`)).toBe(true);
    // key: [] is no key columns (--no-key): the same predictions, without the id
    const bare = await call('POST', '/v1/jobs', { model: 'credit@1', input: 'golden.csv', output: 'golden-bare.csv', key: [] });
    expect(bare.status).toBe(201);
    expect((await waitFor(bare.body['id'] as number, ['succeeded', 'failed', 'cancelled'])).state).toBe('succeeded');
    const withKey = (await readFile(path.join(roots, 'golden-out.csv'), 'utf8')).trim().split('\n');
    const without = (await readFile(path.join(roots, 'golden-bare.csv'), 'utf8')).trim().split('\n');
    expect(without).toEqual(withKey.map((l) => l.slice(l.indexOf(',') + 1)));
  }, 90_000);

  it('run one at a time under jobs.maxConcurrent 1, and cancel a running one at its next batch and a queued one at once', async () => {
    const a = await call('POST', '/v1/jobs', { model: 'credit', input: 'big.csv', output: 'big-a.csv', partRows: 10_000, batchRows: 64 });
    const b = await call('POST', '/v1/jobs', { model: 'credit', input: 'golden.csv', output: 'after-a.csv' });
    const ida = a.body['id'] as number;
    const idb = b.body['id'] as number;
    const running = await waitFor(ida, ['running']);
    expect(running.holder).not.toBeNull();
    // wait for the first progress report, then check the second is still queued behind it
    for (let i = 0; i < 300 && ((await ts.server.jobs.get(ida)).progress?.rowsDone ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect({ b: (await ts.server.jobs.get(idb)).state, a: (await ts.server.jobs.get(ida)) }).toMatchObject({ b: 'queued', a: { state: 'running' } });
    // the job's process and every thread it made run in the idle scheduling class (policy 5), so online requests preempt it
    const launched = (await ts.server.jobs.logs(ida)).find((l) => /\(pid \d+, /.test(l.message))!;
    expect(launched.message).toContain(process.platform === 'linux' ? 'idle scheduling class' : 'nice 10');
    const pid = /\(pid (\d+), /.exec(launched.message)![1]!;
    const threads = process.platform === 'linux' ? readdirSync(`/proc/${pid}/task`) : [];
    if (process.platform === 'linux') {
      expect(threads.length).toBeGreaterThan(4); // V8, libuv, onnxruntime and DuckDB threads
      const policies = threads.map((t) => /^policy\s*:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${t}/sched`, 'utf8'))?.[1]);
      expect(new Set(policies)).toEqual(new Set(['5']));
    }
    const cancel = await call('POST', `/v1/jobs/${ida}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body['cancelRequested']).toBe(true);
    const cancelled = await waitFor(ida, ['cancelled', 'succeeded', 'failed']);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.error?.code).toBe('CANCELLED');
    expect(existsSync(path.join(roots, 'big-a.csv'))).toBe(false);
    // a finished job cannot be cancelled again
    const again = await call('POST', `/v1/jobs/${ida}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body['code']).toBe('JOB_STATE');
    // the queued one ran after it
    expect((await waitFor(idb, ['succeeded', 'failed'])).state).toBe('succeeded');
    // a queued job is cancelled without running: queue two, cancel the second while the first runs
    const c = await call('POST', '/v1/jobs', { model: 'credit', input: 'big.csv', output: 'big-c.csv', partRows: 10_000, batchRows: 64 });
    const d = await call('POST', '/v1/jobs', { model: 'credit', input: 'golden.csv', output: 'never.csv' });
    await waitFor(c.body['id'] as number, ['running']);
    const dc = await call('POST', `/v1/jobs/${d.body['id']}/cancel`);
    expect(dc.body['state']).toBe('cancelled');
    await call('POST', `/v1/jobs/${c.body['id']}/cancel`);
    await waitFor(c.body['id'] as number, ['cancelled']);
    expect((await ts.server.jobs.get(d.body['id'] as number)).startedAt).toBeNull();
    expect(existsSync(path.join(roots, 'never.csv'))).toBe(false);
  }, 120_000);

  it('refuse bad requests before queueing anything, naming the field', async () => {
    const before = (await ts.server.jobs.list({ limit: 500 })).length;
    const cases: [unknown, number, string, string][] = [
      [{ model: 'credit', input: 'golden.csv' }, 400, 'INVALID_ARGUMENT', 'output'],
      [{ model: 'credit', input: 'golden.csv', output: 'x.csv', batchrows: 5 }, 400, 'INVALID_ARGUMENT', 'batchrows'],
      [{ model: 'credit', input: 'golden.csv', output: 'x.csv', format: 'xlsx' }, 400, 'INVALID_ARGUMENT', 'format'],
      [{ model: 'credit', input: 'golden.csv', output: 'x.csv', batchRows: 0 }, 400, 'INVALID_ARGUMENT', 'batchRows'],
      [{ model: 'credit', input: 'missing.csv', output: 'x.csv' }, 400, 'INVALID_ARGUMENT', 'input'],
      [{ model: 'nope', input: 'golden.csv', output: 'x.csv' }, 404, 'MODEL_NOT_FOUND', ''],
      [{ model: 'credit@9', input: 'golden.csv', output: 'x.csv' }, 404, 'VERSION_NOT_FOUND', ''],
      [[1, 2], 400, 'INVALID_ARGUMENT', 'job'],
      [{ model: 'credit', input: 'postgres://u:hunter2pw@127.0.0.1/db', query: 'select 1 order by 1', output: 'x.csv' }, 400, 'INVALID_ARGUMENT', 'input'],
    ];
    for (const [body, status, code, field] of cases) {
      const r = await call('POST', '/v1/jobs', body);
      expect({ status: r.status, code: r.body['code'] }).toEqual({ status, code });
      if (field !== '') expect(r.body['field']).toBe(field);
    }
    expect((await call('GET', '/v1/jobs/abc')).status).toBe(400);
    expect((await call('GET', '/v1/jobs/99999')).status).toBe(404);
    expect((await call('GET', '/v1/jobs?state=done')).body['field']).toBe('state');
    expect((await ts.server.jobs.list({ limit: 500 })).length).toBe(before);
    // nothing about a refused password is echoed back
    const pw = await call('POST', '/v1/jobs', { model: 'credit', input: 'postgres://u:hunter2pw@127.0.0.1/db', query: 'select 1 order by 1', output: 'x.csv' });
    expect(JSON.stringify(pw.body)).not.toContain('hunter2pw');
  });

  it('keep callers without admin inside the jobs roots, and need predict on the model', async () => {
    const mint = async (roles: string[]): Promise<string> => (await call('POST', '/v1/tokens', { name: roles.join('-'), roles, expiresAt: null })).body['token'] as string;
    const predictor = await mint(['predictor']);
    const viewer = await mint(['viewer']);
    const outside = await call('POST', '/v1/jobs', { model: 'credit', input: '/etc/passwd', output: 'x.csv', inputFormat: 'csv' }, predictor);
    expect(outside.status).toBe(403);
    expect(outside.body).toMatchObject({ code: 'FORBIDDEN', field: 'input' });
    const escape = await call('POST', '/v1/jobs', { model: 'credit', input: 'golden.csv', output: '../escaped.csv' }, predictor);
    expect(escape.status).toBe(403);
    expect(escape.body['field']).toBe('output');
    const noScope = await call('POST', '/v1/jobs', { model: 'credit', input: 'golden.csv', output: 'v.csv' }, viewer);
    expect(noScope.status).toBe(403);
    const ok = await call('POST', '/v1/jobs', { model: 'credit', input: 'golden.csv', output: 'by-predictor.csv' }, predictor);
    expect(ok.status).toBe(201);
    expect((await waitFor(ok.body['id'] as number, ['succeeded', 'failed'])).state).toBe('succeeded');
    // viewers read jobs but cannot cancel them
    expect((await call('GET', `/v1/jobs/${ok.body['id']}`, undefined, viewer)).status).toBe(200);
    expect((await call('POST', `/v1/jobs/${ok.body['id']}/cancel`, undefined, viewer)).status).toBe(403);
  }, 60_000);

  it('serve the model file to deployers only, and `berth batch run --server` scores with it in the CLI process', async () => {
    const viewer = (await call('POST', '/v1/tokens', { name: 'v2', roles: ['viewer'], expiresAt: null })).body['token'] as string;
    const denied = await fetch(`${ts.url}/v1/models/credit/versions/1/artifact`, { headers: { authorization: `Bearer ${viewer}` } });
    expect(denied.status).toBe(403);
    const res = await fetch(`${ts.url}/v1/models/credit/versions/1/artifact`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.equals(await readFile(fixturePath('credit')))).toBe(true);
    expect(res.headers.get('x-berth-sha256')).toBe(createHash('sha256').update(bytes).digest('hex'));

    // a local file, a local work dir, the server's model: no registry on this side
    const local = path.join(ts.dataDir, 'cli-local');
    await mkdir(local, { recursive: true });
    await writeFile(path.join(local, 'in.csv'), creditCsv(32));
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t), env: { BERTH_TOKEN: ADMIN } };
    const code = await main(['node', 'berth', '--server', ts.url, '--data-dir', path.join(local, 'work'), 'batch', 'run', '--model', 'credit@1', '--input', path.join(local, 'in.csv'), '--output', path.join(local, 'out.csv'), '--json'], io);
    expect(err.replace(/^batch: .*\n/gm, '')).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ model: 'credit', version: 1, rowsOut: 32, complete: true });
    expectGoldenCsv(await readFile(path.join(local, 'out.csv'), 'utf8'), 32);
    err = '';
    const bad = await main(['node', 'berth', '--server', ts.url, '--data-dir', path.join(local, 'work'), 'batch', 'run', '--model', 'credit@1', '--input', path.join(local, 'in.csv'), '--output', path.join(local, 'out2.csv')], { ...io, env: { BERTH_TOKEN: viewer } });
    expect(bad).toBe(1);
    expect(err).toContain('needs deploy:credit');
  }, 60_000);

  it('berth batch run --remote follows the job to its end; status, logs, list and cancel steer it', async () => {
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t), env: { BERTH_TOKEN: ADMIN } };
    const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
      out = '';
      err = '';
      const code = await main(['node', 'berth', '--server', ts.url, ...args], io);
      return { code, out, err };
    };
    const run = await cli('batch', 'run', '--remote', '--model', 'credit@1', '--input', 'golden.csv', '--output', 'cli-remote.csv', '--json');
    expect(run.code).toBe(0);
    const job = JSON.parse(run.out) as JobRecord;
    expect(job).toMatchObject({ state: 'succeeded', model: 'credit', version: 1 });
    expectGoldenCsv(await readFile(path.join(roots, 'cli-remote.csv'), 'utf8'), 32);
    const status = await cli('batch', 'status', String(job.id));
    expect(status.out).toContain(`job ${job.id}: succeeded`);
    expect(status.out).toContain('32 of 32 rows');
    const logs = await cli('batch', 'logs', String(job.id), '--json');
    expect((JSON.parse(logs.out) as { lines: { message: string }[] }).lines.length).toBeGreaterThan(1);
    const list = await cli('batch', 'list', '--json');
    expect((JSON.parse(list.out) as { jobs: JobRecord[] }).jobs.map((j) => j.id)).toContain(job.id);
    const cancel = await cli('batch', 'cancel', String(job.id));
    expect(cancel.code).toBe(1);
    expect(cancel.err).toContain('already succeeded');
    const detached = await cli('batch', 'run', '--remote', '--detach', '--model', 'credit', '--input', 'golden.csv', '--output', 'detached.csv');
    expect(detached.code).toBe(0);
    expect(detached.out).toMatch(/^job \d+ queued on /);
    const notANumber = await cli('batch', 'status', '3f9c0a1b2c3d4e5f');
    expect(notANumber.code).toBe(1);
    expect(notANumber.err).toContain('berth batch resume 3f9c0a1b2c3d4e5f');
    const failing = await cli('batch', 'run', '--remote', '--model', 'credit', '--input', 'missing.csv', '--output', 'x.csv');
    expect(failing.code).toBe(1);
    expect(failing.err).toContain('input');
  }, 60_000);

  it('go back to the queue when the server stops mid-job, and finish from their parts after the restart: every row once', async () => {
    const sub = await call('POST', '/v1/jobs', { model: 'credit', input: 'big.csv', output: 'restart.csv', partRows: 10_000, batchRows: 64 });
    const id = sub.body['id'] as number;
    for (let i = 0; i < 600 && ((await ts.server.jobs.get(id)).progress?.rowsDone ?? 0) < 20_000; i++) await new Promise((r) => setTimeout(r, 100));
    const dataDir = ts.dataDir;
    await ts.server.close();
    const paused = await (async () => {
      const again = await startServer({ auth: { dev: false }, jobs: { enabled: false } }, { adminToken: ADMIN, dataDir, jobTimings: FAST });
      try {
        return await again.server.jobs.get(id);
      } finally {
        await again.server.close();
      }
    })();
    expect(paused.state).toBe('queued');
    expect(paused.progress?.rowsDone).toBeGreaterThanOrEqual(20_000);
    ts = await startServer({ auth: { dev: false }, jobs: { maxConcurrent: 1 } }, { adminToken: ADMIN, dataDir, jobTimings: FAST });
    const done = await waitFor(id, ['succeeded', 'failed'], 120_000);
    expect(done.state).toBe('succeeded');
    expect(done.attempts).toBe(2);
    expect(done.summary).toMatchObject({ rowsIn: 150_000, rowsOut: 150_000, resumed: true });
    expectGoldenCsv(await readFile(path.join(roots, 'restart.csv'), 'utf8'), 150_000);
    await rm(path.join(roots, 'restart.csv'));
  }, 240_000);
});

describe('job process priority', () => {
  it('use the idle class on Linux when wanted, nice elsewhere or when turned off, and say when neither exists', () => {
    if (process.platform === 'linux') expect(jobPriority({ nice: 10, idlePriority: true, envPath: process.env['PATH'] }).prefix.slice(1)).toEqual(['--idle', '0']);
    const darwin = jobPriority({ nice: 7, idlePriority: true, envPath: process.env['PATH'], platform: 'darwin' });
    expect(darwin.prefix.slice(1)).toEqual(['-n', '7']);
    expect(darwin.describe).toBe('nice 7');
    expect(jobPriority({ nice: 12, idlePriority: false, envPath: process.env['PATH'] }).describe).toBe('nice 12');
    expect(jobPriority({ nice: 10, idlePriority: true, platform: 'win32' })).toEqual({ prefix: [], describe: 'normal priority (no chrt or nice found)' });
    expect(jobPriority({ nice: 0, idlePriority: false }).prefix).toEqual([]);
  });
});

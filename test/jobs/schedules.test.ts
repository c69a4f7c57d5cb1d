/*
 * Cron schedules of server jobs: created, checked, paused, resumed, run and deleted over the API
 * of a real server; fired by a scheduler whose clock the test moves (each missed-run policy after a
 * "downtime"); a failed scheduled run raises an alert.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { silentLogger } from '../../src/core/index.js';
import { Scheduler, type JobRecord } from '../../src/jobs/index.js';
import { ensureDistBuilt } from '../helpers/dist.js';
import { flatten, readGolden } from '../helpers/fixtures.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;
let roots: string;

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${ts.url}${url}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json', 'x-berth-actor': 'alice' } : { 'x-berth-actor': 'alice' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function waitFor(id: number, states: readonly string[]): Promise<JobRecord> {
  for (let i = 0; i < 600; i++) {
    const j = await ts.server.jobs.get(id);
    if (states.includes(j.state)) return j;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} never reached ${states.join('/')}`);
}

const JOB = { model: 'credit', input: 'golden.csv', output: 'nightly.csv' };

beforeAll(async () => {
  ensureDistBuilt('cli/main.js');
  ts = await startServer({}, { jobTimings: { pollMs: 200, heartbeatMs: 200 } });
  const { version } = await deployFixture(ts, 'credit');
  const v = await ts.server.registry.getVersion('credit', version);
  const g = readGolden('credit').cases.find((c) => c.name === 'golden_32')!;
  const header = ['id'];
  const cols: (number | string)[][] = Array.from({ length: 32 }, (_, r) => [`r${r + 1}`]);
  for (const spec of v.signature.inputs) {
    const flat = flatten(g.inputs[spec.name]!.data);
    const w = spec.featureNames!.length;
    header.push(...spec.featureNames!);
    for (let r = 0; r < 32; r++) cols[r]!.push(...(flat.slice(r * w, (r + 1) * w) as (number | string)[]));
  }
  roots = path.join(ts.dataDir, 'batch');
  await mkdir(roots, { recursive: true });
  await writeFile(path.join(roots, 'golden.csv'), [header.join(','), ...cols.map((c) => c.join(','))].join('\n') + '\n');
  await writeFile(path.join(roots, 'broken.csv'), 'id,age\nr1,30\n');
}, 180_000);

afterAll(async () => {
  await ts?.close();
});

describe('schedules', () => {
  it('are created, listed, described, paused, resumed and deleted over the API, each change audited', async () => {
    const created = await call('POST', '/v1/schedules', { name: 'nightly', cron: '30 2 * * 1-5', timezone: 'Europe/Paris', job: JOB });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'nightly', cron: '30 2 * * 1-5', timezone: 'Europe/Paris', missed: 'run-once', enabled: true, actor: 'alice', lastJob: null });
    expect(String(created.body['description'])).toContain('02:30');
    // the next run is a weekday at 02:30 in Paris
    const next = new Date(String(created.body['nextAt']));
    const paris = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', weekday: 'short' }).format(next);
    expect(paris).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 02:30$/);
    // paths were resolved under the jobs root when it was made
    expect((created.body['spec'] as { input: string }).input).toBe(path.join(roots, 'golden.csv'));
    expect((await call('POST', '/v1/schedules', { name: 'nightly', cron: '0 1 * * *', job: JOB })).status).toBe(409);
    expect(((await call('GET', '/v1/schedules')).body['schedules'] as { name: string }[]).map((s) => s.name)).toEqual(['nightly']);
    expect((await call('POST', '/v1/schedules/nightly/pause')).body['enabled']).toBe(false);
    expect((await call('POST', '/v1/schedules/nightly/resume')).body['enabled']).toBe(true);
    expect((await call('DELETE', '/v1/schedules/nightly')).body).toEqual({ name: 'nightly', deleted: true });
    expect((await call('GET', '/v1/schedules/nightly')).status).toBe(404);
    const actions = (await ts.server.registry.audit({ action: 'schedule.' })).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['schedule.create', 'schedule.update', 'schedule.delete']));
  });

  it('refuse a bad cron, timezone, policy or job before storing anything, naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'a', cron: '0 2 * *', job: JOB }, 'cron'],
      [{ name: 'a', cron: '61 2 * * *', job: JOB }, 'cron'],
      [{ name: 'a', cron: '0 0 30 2 *', job: JOB }, 'cron'],
      [{ name: 'a', cron: '0 2 * * *', timezone: 'Mars/Olympus', job: JOB }, 'timezone'],
      [{ name: 'a', cron: '0 2 * * *', missed: 'later', job: JOB }, 'missed'],
      [{ name: 'a', cron: '0 2 * * *', job: { ...JOB, format: 'xlsx' } }, 'format'],
      [{ name: 'a', cron: '0 2 * * *' }, 'job'],
      [{ name: 'a', cron: '0 2 * * *', job: JOB, every: 'day' }, 'every'],
    ];
    for (const [body, field] of cases) {
      const r = await call('POST', '/v1/schedules', body);
      expect({ status: r.status, field: r.body['field'] }).toEqual({ status: 400, field });
    }
    expect((await call('POST', '/v1/schedules', { name: 'a', cron: '0 2 * * *', job: { ...JOB, model: 'nope' } })).status).toBe(404);
    expect((await call('GET', '/v1/schedules')).body['schedules']).toEqual([]);
  });

  it('fire what is due by their missed-run policy after downtime, each instant once, even with two schedulers', async () => {
    // the server's own scheduler runs on the real clock: stop it, so only the test's clock fires
    await ts.server.schedules.close();
    const t0 = Date.UTC(2026, 10, 20, 0, 0, 0);
    let now = t0;
    const scheduler = (): Scheduler => new Scheduler({ registry: ts.server.registry, jobs: ts.server.jobs, logger: silentLogger, leading: () => true, now: () => now });
    const a = scheduler();
    const b = scheduler();
    for (const missed of ['skip', 'run-once', 'run-all'] as const) {
      await a.create({ name: `hourly-${missed}`, cron: '0 * * * *', missed, job: { ...JOB, output: `${missed}.csv` }, enabled: true }, { actor: 'alice', admin: true });
    }
    const runs = async (missed: string): Promise<JobRecord[]> => (await ts.server.jobs.list({ schedule: `hourly-${missed}`, limit: 500 })).reverse();
    // on time: each fires once at 01:00, however many schedulers look
    now = t0 + 3_600_000 + 5_000;
    await Promise.all([a.tick(), b.tick(), a.tick()]);
    for (const m of ['skip', 'run-once', 'run-all']) {
      const r = await runs(m);
      expect(r.map((j) => j.scheduledAt)).toEqual(['2026-11-20T01:00:00.000Z']);
      expect(r[0]!.actor).toBe(`schedule:hourly-${m}`);
    }
    // five hours down (02:00 … 06:00 missed), back at 06:30
    now = t0 + 6.5 * 3_600_000;
    await a.tick();
    expect((await runs('skip')).length).toBe(1);
    expect((await runs('run-once')).map((j) => j.scheduledAt).slice(1)).toEqual(['2026-11-20T06:00:00.000Z']);
    expect((await runs('run-all')).map((j) => j.scheduledAt).slice(1)).toEqual([2, 3, 4, 5, 6].map((h) => `2026-11-20T0${h}:00:00.000Z`));
    const s = await a.get('hourly-skip');
    expect(s.nextAt).toBe('2026-11-20T07:00:00.000Z');
    // paused: nothing fires, and resuming does not owe the paused hours
    await a.setEnabled('hourly-run-all', false, 'alice');
    now = t0 + 9.5 * 3_600_000;
    await a.tick();
    expect((await runs('run-all')).length).toBe(6);
    await a.setEnabled('hourly-run-all', true, 'alice');
    await a.tick();
    expect((await runs('run-all')).length).toBe(6);
    // the scheduled jobs really run (one to the end, checked)
    const last = (await runs('run-once')).at(-1)!;
    expect((await waitFor(last.id, ['succeeded', 'failed'])).state).toBe('succeeded');
    for (const m of ['skip', 'run-once', 'run-all']) await a.delete(`hourly-${m}`, 'alice');
    // the rest of the queue is not this test's business
    for (const j of await ts.server.jobs.list({ state: 'queued', limit: 500 })) await ts.server.jobs.cancel(j.id, 'test');
    await a.close();
    await b.close();
  }, 120_000);

  it('run now on request, and raise an alert when a scheduled run fails', async () => {
    const ok = await call('POST', '/v1/schedules', { name: 'adhoc', cron: '@daily', job: JOB });
    expect(ok.status).toBe(201);
    const run = await call('POST', '/v1/schedules/adhoc/run');
    expect(run.status).toBe(201);
    expect(run.body).toMatchObject({ schedule: 'adhoc', state: 'queued' });
    expect((await waitFor(run.body['id'] as number, ['succeeded', 'failed'])).state).toBe('succeeded');

    await call('POST', '/v1/schedules', { name: 'broken', cron: '@daily', job: { ...JOB, input: 'broken.csv', output: 'broken-out.csv' } });
    const bad = await call('POST', '/v1/schedules/broken/run');
    const failed = await waitFor(bad.body['id'] as number, ['succeeded', 'failed']);
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('INVALID_INPUT');
    const events = ts.server.alerts.events(50).filter((e) => e.rule === 'scheduled-job-failed');
    expect(events.length).toBe(1);
    expect(events[0]!.message).toContain('schedule "broken"');
    expect(events[0]!.deployment).toBe('credit');
    const history = (await call('GET', '/v1/jobs?schedule=broken')).body['jobs'] as JobRecord[];
    expect(history.map((j) => j.state)).toEqual(['failed']);
  }, 60_000);

  it('berth schedule create, list, show, pause, resume, run and delete', async () => {
    let out = '';
    let err = '';
    const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
      out = '';
      err = '';
      const code = await main(['node', 'berth', '--server', ts.url, ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
      return { code, out, err };
    };
    const created = await cli('schedule', 'create', 'cli-nightly', '--cron', '0 2 * * *', '--timezone', 'America/New_York', '--missed', 'skip', '--model', 'credit', '--input', 'golden.csv', '--output', 'cli-nightly.csv');
    expect(created.code).toBe(0);
    expect(created.out).toContain('schedule cli-nightly created');
    const list = JSON.parse((await cli('schedule', 'list', '--json')).out) as { schedules: { name: string; missed: string }[] };
    expect(list.schedules.find((x) => x.name === 'cli-nightly')).toMatchObject({ missed: 'skip' });
    expect((await cli('schedule', 'pause', 'cli-nightly')).out).toContain('paused');
    expect((await cli('schedule', 'resume', 'cli-nightly')).out).toContain('enabled; next run');
    const run = await cli('schedule', 'run', 'cli-nightly', '--json');
    const job = JSON.parse(run.out) as JobRecord;
    await waitFor(job.id, ['succeeded', 'failed']);
    const show = await cli('schedule', 'show', 'cli-nightly');
    expect(show.out).toContain('America/New_York');
    expect(show.out).toContain('next');
    expect(show.out).toMatch(new RegExp(`${job.id}\\s+succeeded`));
    const bad = await cli('schedule', 'create', 'oops', '--cron', '0 25 * * *', '--model', 'credit', '--input', 'golden.csv', '--output', 'x.csv');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('hour');
    expect((await cli('schedule', 'delete', 'cli-nightly')).code).toBe(0);
    expect((await cli('schedule', 'show', 'cli-nightly')).code).toBe(1);
  }, 60_000);
});

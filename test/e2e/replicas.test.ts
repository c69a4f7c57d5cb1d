/*
 * Two replicas of the server share one PostgreSQL (metadata) and one S3-compatible store
 * (artifacts, an s3rver started here), each with its own data dir: a model registered and
 * deployed through one is served by the other within 2 s, from its own verified cache, and an
 * alias moved through the second is served by the first — told by PostgreSQL LISTEN/NOTIFY
 * (the 1 s poll stays as the fallback; here it is slowed so it cannot be what answered).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareToGolden, readGolden } from '../helpers/fixtures.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL } from '../helpers/postgres.js';
import { eventually, registerOverHttp, startSharedStores, type SharedStores } from '../helpers/replicas.js';
import { post, startServer, type TestServer } from '../helpers/server.js';

const MODEL = 'breast-cancer-logreg';

function inferBody(): Record<string, unknown> {
  const c = readGolden(MODEL).cases[0]!;
  const input = c.inputs['input']!;
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: input.shape, data: input.data }] };
}

describe.skipIf(!TEST_POSTGRES_URL)(`replicas sharing PostgreSQL and S3${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  let stores: SharedStores;
  let a: TestServer;
  let b: TestServer;
  const closed = new Set<TestServer>();

  beforeAll(async () => {
    stores = await startSharedStores(TEST_POSTGRES_URL!, 'replicas');
    // the poll is slowed to 30 s so that only LISTEN/NOTIFY can explain a change seen within 2 s
    a = await startServer(stores.layer, { pollMs: 30_000 });
    b = await startServer(stores.layer, { pollMs: 30_000 });
  }, 60_000);

  afterAll(async () => {
    for (const t of [a, b]) if (t && !closed.has(t)) await t.close();
    await stores?.stop();
  });

  it('a model registered and deployed through one replica is served by the other within 2 s, from its own verified cache', async () => {
    await registerOverHttp(a.url, 'bc', MODEL);
    const alias = await fetch(`${a.url}/v1/models/bc/aliases/production`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: 1 }) });
    expect(alias.status).toBe(200);
    const dep = await fetch(`${a.url}/v1/deployments/bc-api`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bc', alias: 'production' }) });
    expect(dep.status).toBeLessThan(300);

    // replica b: the deployment appears and answers with the golden outputs
    const { value: answer, elapsedMs } = await eventually(async () => {
      const r = await post<{ outputs: { name: string; data: number[] }[] }>(`${b.url}/v2/models/bc-api/infer`, inferBody());
      return r.status === 200 ? r : undefined;
    }, 2000);
    expect(elapsedMs).toBeLessThan(2000);
    const golden = readGolden(MODEL);
    for (const [name, expected] of Object.entries(golden.cases[0]!.expected)) {
      expect(compareToGolden(answer.body.outputs.find((o) => o.name === name)!.data, expected, golden.tolerance[name]!)).toBeNull();
    }
    // b read the artifact from S3 into its own cache; neither replica keeps a berth.db
    const cache = join(b.dataDir, 'artifact-cache', 'sha256');
    expect(existsSync(cache)).toBe(true);
    expect(readdirSync(cache).length).toBeGreaterThan(0);
    expect(existsSync(join(a.dataDir, 'berth.db'))).toBe(false);
    expect(existsSync(join(b.dataDir, 'berth.db'))).toBe(false);
  }, 30_000);

  it('an alias moved through the second replica is served by the first within 2 s', async () => {
    await registerOverHttp(b.url, 'bc', 'breast-cancer-gbt');
    const moved = await fetch(`${b.url}/v1/models/bc/aliases/production`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: 2 }) });
    expect(moved.status).toBe(200);
    const { elapsedMs } = await eventually(async () => {
      const r = await post(`${a.url}/v2/models/bc-api/infer`, inferBody());
      return r.status === 200 && r.headers.get('x-berth-version') === 'bc@2' ? r : undefined;
    }, 2000);
    expect(elapsedMs).toBeLessThan(2000);
  }, 30_000);

  it('elects one rollout leader; when it goes, another replica takes the rollout over and finishes it', async () => {
    const c = await startServer(stores.layer, { pollMs: 30_000 });
    try {
      const replicas = [a, b, c];
      const leaders = async (): Promise<TestServer[]> => {
        const out: TestServer[] = [];
        for (const t of replicas) {
          if (closed.has(t)) continue;
          const st = (await (await fetch(`${t.url}/v1/status`)).json()) as { rolloutLeader: boolean | null };
          if (st.rolloutLeader) out.push(t);
        }
        return out;
      };
      const { value: first } = await eventually(async () => {
        const l = await leaders();
        return l.length === 1 ? l[0]! : undefined;
      }, 5000);
      // start a rollout through a replica that does not lead: the leader adopts it and times its steps
      const other = replicas.find((t) => t !== first)!;
      const start = await post(`${other.url}/v1/deployments/bc-api/rollout`, { toVersion: 1, steps: '50,100', interval: '1500ms', noData: 'pass' });
      expect(start.status, start.text).toBe(201);
      // the leader goes away (a clean stop releases its lease)
      await first.close();
      closed.add(first);
      const { value: next, elapsedMs } = await eventually(async () => {
        const l = await leaders();
        return l.length === 1 ? l[0]! : undefined;
      }, 8000);
      expect(next).not.toBe(first);
      expect(elapsedMs).toBeLessThan(5000);
      // …and the rollout still finishes: promoted, by the new leader
      const { value: done } = await eventually(async () => {
        const r = (await (await fetch(`${next.url}/v1/deployments/bc-api/rollout`)).json()) as { rollout: { state: string } };
        return r.rollout.state === 'promoted' ? r : undefined;
      }, 20_000);
      expect(done.rollout.state).toBe('promoted');
    } finally {
      if (!closed.has(c)) await c.close();
    }
  }, 60_000);
});

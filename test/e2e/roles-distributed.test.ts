/*
 * The split roles across machines: one control plane and two inference replicas, each with its
 * own data dir, sharing the real PostgreSQL and an S3-compatible store (s3rver, started here).
 * Traffic goes only to the inference replicas; ground truth goes to the control plane; the control
 * plane's monitoring report covers every row both replicas answered (their inference logs shipped
 * to the store and mirrored back), with the accuracy the fixture documents for this data.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MonitorReport } from '../../src/monitor/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL } from '../helpers/postgres.js';
import { eventually, registerOverHttp, startSharedStores, type SharedStores } from '../helpers/replicas.js';
import { get, post, startServer, type TestServer } from '../helpers/server.js';

const MODEL = 'breast-cancer-gbt';

function readCsv(file: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(fixturePath(MODEL, file), 'utf8').trim().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

/** Every parquet file under a data dir's inference log (what a replica has not shipped). */
function localLogFiles(dataDir: string): string[] {
  const root = join(dataDir, 'inference-log');
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet'));
}

describe.skipIf(!TEST_POSTGRES_URL)(`a control plane and two inference replicas on PostgreSQL and S3${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  let stores: SharedStores;
  let control: TestServer;
  let data: TestServer[] = [];

  beforeAll(async () => {
    stores = await startSharedStores(TEST_POSTGRES_URL!, 'roles');
    const shared = {
      ...stores.layer,
      // every row logged, written and shipped within a fraction of a second
      inferenceLog: { maxRowsPerSecond: 0, flushIntervalMs: 200, shipIntervalMs: 200 },
    };
    control = await startServer({ ...shared, server: { role: 'control' } }, { pollMs: 1000 });
    await registerOverHttp(control.url, 'bc', MODEL);
    const profiled = await post(`${control.url}/v1/models/bc/versions/1/profile`, {
      reference_base64: readFileSync(fixturePath(MODEL, 'reference.csv')).toString('base64'),
      reference_file_name: 'reference.csv',
    });
    expect(profiled.status, profiled.text).toBe(201);
    const dep = await fetch(`${control.url}/v1/deployments/bc`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bc', version: 1 }) });
    expect(dep.status).toBeLessThan(300);
    data = [await startServer({ ...shared, server: { role: 'data' } }, { pollMs: 1000 }), await startServer({ ...shared, server: { role: 'data' } }, { pollMs: 1000 })];
  }, 90_000);

  afterAll(async () => {
    for (const t of data) await t.close();
    await control?.close();
    await stores?.stop();
  });

  it('the control plane reports on every row the replicas answered, joined to labels it received', async () => {
    const csv = readCsv('current_nodrift.csv');
    const li = csv.header.indexOf('label');
    const sent: { id: string; labels: number[] }[] = [];
    // requests of 5 rows, alternating between the two inference replicas
    for (let i = 0, n = 0; i < csv.rows.length; i += 5, n++) {
      const chunk = csv.rows.slice(i, i + 5);
      const rows = chunk.map((r) => Object.fromEntries(csv.header.flatMap((h, j) => (j === li ? [] : [[h, r[j] === '' ? null : Number(r[j])]]))));
      const res = await post<{ request_id: string }>(`${data[n % 2]!.url}/v1/deployments/bc/predict`, { rows });
      expect(res.status, res.text).toBe(200);
      sent.push({ id: res.body.request_id, labels: chunk.map((r) => Number(r[li])) });
    }
    // ground truth goes to the control plane (the replicas refuse it: 421)
    const items = sent.map((s) => ({ request_id: s.id, label: s.labels }));
    expect((await post(`${data[0]!.url}/v1/deployments/bc/feedback`, { items })).status).toBe(421);
    const fb = await post<{ accepted: number }>(`${control.url}/v1/deployments/bc/feedback`, { items });
    expect(fb.status, fb.text).toBe(200);
    expect(fb.body.accepted).toBe(285);

    // the replicas ship their logs within a fraction of a second; the report then sees all 285 rows
    const { value: r } = await eventually(async () => {
      const res = await get<MonitorReport>(`${control.url}/v1/deployments/bc/monitor?window=all`);
      expect(res.status, res.text).toBe(200);
      return res.body.window.rows === 285 ? res.body : undefined;
    }, 15_000, 100);
    // the numbers one server reports for this data (test/e2e/monitoring.test.ts): nothing drifted, accuracy as the card says
    expect(r.performance.labelledRows).toBe(285);
    expect(r.performance.classification!.accuracy).toBeCloseTo(0.9439, 4);
    expect(r.drift!.columns.filter((c) => c.drifted)).toEqual([]);
    expect(r.drift!.evaluatedColumns).toBe(30);
    // both replicas shipped everything they wrote and keep none of it
    for (const d of data) expect(localLogFiles(d.dataDir)).toEqual([]);
    expect(localLogFiles(join(control.dataDir, 'log-mirror')).length).toBeGreaterThanOrEqual(2);
  }, 60_000);
});

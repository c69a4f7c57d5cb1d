/*
 * A real server whose registry metadata lives in PostgreSQL (BERTH_TEST_POSTGRES_URL): it
 * registers, deploys and serves a fixture model, keeps no berth.db in its data dir, and a second
 * server on another data dir but the same database sees the same registry.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClient } from '../../src/cli/local-client.js';
import { compareToGolden, readGolden } from '../helpers/fixtures.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName, urlWithSchema, withPgClient } from '../helpers/postgres.js';
import { deployFixture, post, startServer, type TestServer } from '../helpers/server.js';

const MODEL = 'breast-cancer-logreg';

interface V2Answer {
  outputs: { name: string; data: number[] }[];
}

describe.skipIf(!TEST_POSTGRES_URL)(`berth serve with database.url${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  const schema = testSchemaName();
  let databaseUrl: string;
  let ts: TestServer;

  beforeAll(async () => {
    // trust auth accepts any password: this one is only there to prove it is never written down
    const u = new URL(TEST_POSTGRES_URL!);
    u.password = 'hunter2-not-logged';
    databaseUrl = urlWithSchema(u.toString(), schema);
    ts = await startServer({ database: { url: databaseUrl } });
  });

  afterAll(async () => {
    await ts?.close();
    await dropSchema(TEST_POSTGRES_URL!, schema);
  });

  it('registers and serves a fixture model through PostgreSQL', async () => {
    const { deployment, version } = await deployFixture(ts, MODEL);
    expect(version).toBe(1);
    const golden = readGolden(MODEL);
    const c = golden.cases[0]!;
    const input = c.inputs['input']!;
    const a = await post<V2Answer>(`${ts.url}/v2/models/${deployment}/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: input.shape, data: input.data }] });
    expect(a.status, a.text).toBe(200);
    for (const [name, expected] of Object.entries(c.expected)) {
      const out = a.body.outputs.find((o) => o.name === name);
      expect(out, name).toBeDefined();
      expect(compareToGolden(out!.data, expected, golden.tolerance[name]!)).toBeNull();
    }
    const rows = await withPgClient(TEST_POSTGRES_URL!, (pg) => pg.query<{ model: string; version: number }>(`select model, version from "${schema}".versions`));
    expect(rows.rows).toEqual([{ model: MODEL, version: 1 }]);
    expect(existsSync(join(ts.dataDir, 'berth.db'))).toBe(false);
    expect(existsSync(join(ts.dataDir, 'artifacts'))).toBe(true);
  });

  it('records its configuration without the database password', async () => {
    const [change] = await ts.server.registry.audit({ action: 'config.change', limit: 1 });
    expect(change).toBeDefined();
    expect(JSON.stringify(change)).not.toContain('hunter2');
    expect((change!.details['after'] as { database: { url: string } }).database.url).toMatch(/^postgres(ql)?:\/\/postgres@/);
  });

  it('shares the registry with another server and with the CLI on other data dirs', async () => {
    const other = await startServer({ database: { url: databaseUrl } });
    try {
      expect((await other.server.registry.getModel(MODEL)).latestVersion).toBe(1);
      expect((await other.server.registry.listDeployments()).map((d) => d.name)).toEqual([MODEL]);
    } finally {
      await other.close();
    }
    const cli = await LocalClient.open(join(ts.dataDir, 'cli-elsewhere'), { version: 'test', databaseUrl });
    try {
      expect((await cli.listModels()).models.map((m) => m.name)).toEqual([MODEL]);
    } finally {
      await cli.close();
    }
  });
});

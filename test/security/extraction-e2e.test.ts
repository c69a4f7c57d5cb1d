import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/fixtures.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

/**
 * Model-extraction detection through a real server with authentication: a caller replaying
 * realistic rows stays quiet; a caller sampling the input space uniformly is flagged, the finding
 * names its token with the evidence, an alert fires and the metric counts it.
 */

const ADMIN = 'extraction-admin-secret-0123456789';
let ts: TestServer;
let normal: string;
let attacker: string;
let attackerId: string;
let rows: number[][];

async function send(token: string, batch: number[][]): Promise<void> {
  const res = await fetch(`${ts.url}/v2/models/bc/infer`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [batch.length, 30], data: batch.flat() }] }),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

beforeAll(async () => {
  ts = await startServer({ auth: { dev: false }, extraction: { enabled: true, windowMs: 3_600_000, minRows: 300 } }, { adminToken: ADMIN });
  const { version } = await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc' });
  // the version's reference profile: what realistic inputs look like
  await ts.server.monitor.profileVersion('breast-cancer-logreg', version, fixturePath('breast-cancer-logreg', 'reference.csv'));
  // the 30 feature columns of the reference rows (the last column is the label)
  const lines = readFileSync(fixturePath('breast-cancer-logreg', 'reference.csv'), 'utf8').trim().split('\n').slice(1);
  rows = lines.map((l) => l.split(',').slice(0, 30).map(Number));
  const mint = async (name: string): Promise<{ token: string; id: string }> => {
    const t = await ts.server.tokens.create({ name, roles: ['predictor'], expiresAt: null });
    return { token: t.token, id: t.record.id };
  };
  normal = (await mint('normal-app')).token;
  ({ token: attacker, id: attackerId } = await mint('scraper'));
}, 120_000);

afterAll(async () => {
  await ts?.close();
});

describe('extraction detection', () => {
  it('flags the caller sampling the input space uniformly, with evidence, an alert and a metric; not the realistic one', async () => {
    const lo = rows[0]!.map((_, j) => Math.min(...rows.map((r) => r[j]!)));
    const hi = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!)));
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 12; i++) {
      await send(normal, Array.from({ length: 50 }, (_, k) => rows[(i * 50 + k) % rows.length]!));
      await send(attacker, Array.from({ length: 50 }, () => lo.map((l, j) => l + rand() * (hi[j]! - l))));
    }
    const res = await fetch(`${ts.url}/v1/security/findings`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const { findings } = (await res.json()) as { findings: { principal: string; flagged: string[]; verdict: string; rows: number; summary: string }[] };
    expect(findings.length).toBeGreaterThan(0);
    expect(findings.every((f) => f.principal === attackerId)).toBe(true);
    expect(findings[0]!.flagged).toContain('coverage');
    expect(findings[0]!.rows).toBeGreaterThanOrEqual(300);
    // an alert fired, naming the caller, and the metric counted it
    const alerts = (await (await fetch(`${ts.url}/v1/alerts`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { events: { rule: string; message: string }[] };
    expect(alerts.events.some((e) => e.rule === 'model-extraction' && e.message.includes(attackerId))).toBe(true);
    const metrics = await (await fetch(`${ts.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(metrics).toMatch(/berth_extraction_findings_total\{deployment="bc",verdict="[a-z-]+"\} 1/);
  }, 60_000);
});

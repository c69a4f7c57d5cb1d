import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-config-audit-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('configuration changes are audited', () => {
  it('records the first configuration, nothing on an unchanged restart, and before/after of what a restart changed', async () => {
    const configs = async (): Promise<{ changed: string[]; before: Record<string, { maxBatchSize?: number }> | null; after: Record<string, { maxBatchSize: number }> }[]> => {
      const ts = await startServer({ batching: { maxBatchSize: 8 } }, { dataDir });
      await ts.close();
      const ts2 = await startServer({ batching: { maxBatchSize: 8 } }, { dataDir });
      await ts2.close();
      const ts3 = await startServer({ batching: { maxBatchSize: 16 } }, { dataDir });
      const rows = await ts3.server.registry.audit({ action: 'config.change', order: 'asc' });
      const verified = await ts3.server.registry.verifyAudit();
      expect(verified.ok).toBe(true);
      await ts3.close();
      return rows.map((r) => r.details as never);
    };
    const rows = await configs();
    expect(rows).toHaveLength(2);
    expect(rows[0]!.before).toBeNull();
    expect(rows[0]!.after['batching']!.maxBatchSize).toBe(8);
    expect(rows[1]!.changed).toEqual(['batching']);
    expect(rows[1]!.before!['batching']!.maxBatchSize).toBe(8);
    expect(rows[1]!.after['batching']!.maxBatchSize).toBe(16);
  }, 60_000);
});

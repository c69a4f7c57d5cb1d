import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openRegistry, type Registry } from '../../src/registry/index.js';
import { TEST_POSTGRES_URL, dropSchema, testSchemaName, urlWithSchema } from '../helpers/postgres.js';

/** Leases (the rollout leader among replicas) on every metadata store. */
const stores: { name: string; open(): Promise<{ a: Registry; b: Registry; done(): Promise<void> }> }[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(path.join(tmpdir(), 'berth-leases-'));
      const a = await openRegistry({ dataDir: dir });
      const b = await openRegistry({ dataDir: dir });
      return { a, b, done: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  ...(TEST_POSTGRES_URL
    ? [
        {
          name: 'postgres',
          async open() {
            const schema = testSchemaName('leases');
            const url = urlWithSchema(TEST_POSTGRES_URL!, schema);
            const dirs = [mkdtempSync(path.join(tmpdir(), 'berth-leases-')), mkdtempSync(path.join(tmpdir(), 'berth-leases-'))];
            const a = await openRegistry({ dataDir: dirs[0]!, databaseUrl: url });
            const b = await openRegistry({ dataDir: dirs[1]!, databaseUrl: url });
            return {
              a,
              b,
              done: async () => {
                await dropSchema(TEST_POSTGRES_URL!, schema);
                for (const d of dirs) rmSync(d, { recursive: true, force: true });
              },
            };
          },
        },
      ]
    : []),
];

const opened: { a: Registry; b: Registry; done(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.a.close();
    await o.b.close();
    await o.done();
  }
});

describe.each(stores)('leases on $name', (store) => {
  it('one holder at a time: renewed by its holder, refused to others until it lapses or is released', async () => {
    const o = await store.open();
    opened.push(o);
    expect(await o.a.tryLease('rollout-leader', 'a', 300)).toMatchObject({ held: true, holder: 'a' });
    expect(await o.b.tryLease('rollout-leader', 'b', 300)).toMatchObject({ held: false, holder: 'a' });
    expect(await o.a.tryLease('rollout-leader', 'a', 300)).toMatchObject({ held: true });
    // lapsed: another takes it
    await new Promise((r) => setTimeout(r, 400));
    expect(await o.b.tryLease('rollout-leader', 'b', 10_000)).toMatchObject({ held: true, holder: 'b' });
    expect(await o.a.tryLease('rollout-leader', 'a', 300)).toMatchObject({ held: false, holder: 'b' });
    // released by its holder (only): free at once
    await o.a.releaseLease('rollout-leader', 'a');
    expect(await o.a.tryLease('rollout-leader', 'a', 300)).toMatchObject({ held: false });
    await o.b.releaseLease('rollout-leader', 'b');
    expect(await o.a.tryLease('rollout-leader', 'a', 300)).toMatchObject({ held: true });
    // other names are other leases
    expect(await o.b.tryLease('another', 'b', 300)).toMatchObject({ held: true });
  });
});

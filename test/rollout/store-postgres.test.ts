/*
 * The rollout store's queries on PostgreSQL (BERTH_TEST_POSTGRES_URL): a rollout and its
 * decisions round-trip with numbers as numbers, the one-active-rollout rule holds, and a stale
 * transition is refused. The controller's behaviour is covered on SQLite by the e2e suites; this
 * checks only that every query the store runs means the same on PostgreSQL.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, ManualClock } from '../../src/core/index.js';
import { FsArtifactStore, PostgresMetadataStore, Registry } from '../../src/registry/index.js';
import { RolloutStore } from '../../src/rollout/index.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName } from '../helpers/postgres.js';

const START = Date.UTC(2026, 2, 1, 12, 0, 0);

describe.skipIf(!TEST_POSTGRES_URL)(`RolloutStore on PostgreSQL${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  let dir: string;
  let schema: string;
  let registry: Registry;
  let clock: ManualClock;
  let store: RolloutStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-rollout-pg-'));
    schema = testSchemaName();
    const metadata = new PostgresMetadataStore({ url: TEST_POSTGRES_URL!, schema });
    await metadata.migrate();
    clock = new ManualClock(START);
    registry = new Registry({ metadata, artifacts: new FsArtifactStore(join(dir, 'artifacts')), clock, defaultActor: 'tester', onClose: () => metadata.close() });
    store = new RolloutStore(registry, () => clock.now());
  });

  afterEach(async () => {
    await registry.close();
    await dropSchema(TEST_POSTGRES_URL!, schema);
    await rm(dir, { recursive: true, force: true });
  });

  const row = (deployment: string) => ({
    deployment,
    model: 'fraud',
    from_version: 1,
    to_version: 2,
    strategy: 'canary',
    spec: JSON.stringify({ strategy: 'canary', steps: [{ kind: 'weight', percent: 10 }, { kind: 'weight', percent: 100 }], base: { target: { kind: 'version', version: 1 }, traffic: null } }),
    state: 'progressing',
    step: 0,
    step_started_at: START,
    next_at: START + 60_000,
    failures: 0,
    reason: null,
    actor: 'alice',
  });

  it('creates, moves and lists rollouts with their decisions, numbers as numbers', async () => {
    const r = await store.create(row('api'), { kind: 'start', details: { note: 'go' }, actor: 'alice', audit: 'rollout.start' });
    expect(r).toMatchObject({ deployment: 'api', fromVersion: 1, toVersion: 2, step: 0, stepStartedAtMs: START, nextAtMs: START + 60_000, failures: 0, finishedAt: null });
    expect(typeof r.id).toBe('number');
    const err = await store.create(row('api'), { kind: 'start', details: {}, actor: 'bob', audit: 'rollout.start' }).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('ROLLOUT_STATE');
    clock.advance(60_000);
    const moved = await store.transition(r.id, ['progressing'], { step: 1, step_started_at: clock.now(), next_at: null }, { kind: 'advance', details: { percent: 100 }, actor: 'controller', audit: 'rollout.step' }, 0);
    expect(moved).toMatchObject({ step: 1, nextAtMs: null, currentStep: { kind: 'weight', percent: 100 } });
    const stale = await store.transition(r.id, ['progressing'], { step: 1 }, { kind: 'advance', details: {}, actor: 'controller', audit: 'rollout.step' }, 0).catch((e: unknown) => e);
    expect((stale as BerthError).message).toContain('already moved from step 1 to step 2');
    await store.transition(r.id, ['progressing'], { state: 'promoted', finished_at: clock.now() }, { kind: 'promote', details: {}, actor: 'alice', audit: 'rollout.promote' });
    expect(await store.active('api')).toBeNull();
    expect((await store.latest('api'))?.state).toBe('promoted');
    const other = await store.create(row('other'), { kind: 'start', details: {}, actor: 'alice', audit: 'rollout.start' });
    expect((await store.allActive()).map((x) => x.id)).toEqual([other.id]);
    expect((await store.list()).map((x) => x.id)).toEqual([other.id, r.id]);
    const decisions = await store.decisions(r.id);
    expect(decisions.map((d) => [d.kind, d.step, d.state, d.atMs])).toEqual([
      ['start', 0, 'progressing', START],
      ['advance', 1, 'progressing', START + 60_000],
      ['promote', 1, 'promoted', START + 60_000],
    ]);
    expect(decisions[0]!.details).toEqual({ note: 'go' });
    expect((await registry.verifyAudit()).ok).toBe(true);
  });
});

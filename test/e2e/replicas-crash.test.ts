/*
 * Two `berth serve` processes share PostgreSQL and S3 (an s3rver started here). One leads the
 * rollouts (a lease in PostgreSQL); kill -9 it and the other takes over once the lease lapses,
 * within seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName, urlWithSchema } from '../helpers/postgres.js';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from '../registry/s3rver-harness.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function leads(p: ServeProcess): Promise<boolean | null> {
  try {
    const st = (await (await fetch(`${p.url}/v1/status`, { signal: AbortSignal.timeout(1000) })).json()) as { rolloutLeader: boolean | null };
    return st.rolloutLeader;
  } catch {
    return null;
  }
}

describe.skipIf(!TEST_POSTGRES_URL)(`a rollout leader that dies${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  it('is replaced by another replica once its lease lapses', async () => {
    const schema = testSchemaName('crash');
    cleanups.push(() => dropSchema(TEST_POSTGRES_URL!, schema));
    const s3: TestS3 = await startS3rver();
    cleanups.push(() => s3.stop());
    await s3.createBucket('models');
    const env = { ...process.env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };
    const args = ['--database', urlWithSchema(TEST_POSTGRES_URL!, schema), '--artifacts', `s3://models/berth?endpoint=${encodeURIComponent(s3.endpoint)}`];
    const procs: ServeProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const dir = mkdtempSync(path.join(tmpdir(), 'berth-replica-'));
      const p = await startServeProcess(dir, args, env);
      procs.push(p);
      cleanups.push(async () => {
        p.child.kill('SIGKILL');
        await p.exited;
        rmSync(dir, { recursive: true, force: true });
      });
    }
    let leader: ServeProcess | undefined;
    for (let i = 0; i < 50 && !leader; i++) {
      const states = await Promise.all(procs.map(leads));
      if (states.filter((s) => s === true).length === 1) leader = procs[states.indexOf(true)];
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(leader, 'one replica leads').toBeDefined();
    const survivor = procs.find((p) => p !== leader)!;
    expect(await leads(survivor)).toBe(false);
    leader!.child.kill('SIGKILL');
    await leader!.exited;
    const t0 = Date.now();
    while (!(await leads(survivor))) {
      if (Date.now() - t0 > 20_000) throw new Error('no takeover within 20 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    // the lease lasts 10 s without renewal and is retried every 2.5 s
    expect(Date.now() - t0).toBeLessThan(14_000);
  }, 60_000);
});

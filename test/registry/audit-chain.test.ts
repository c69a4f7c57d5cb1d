/*
 * The audit log's hash chain: every change the registry makes is chained to the row before, and
 * verification names the first row that was edited, removed, inserted or moved, whether the
 * tampering went through SQL behind Berth's back or not. The database is tampered with through a
 * second connection (better-sqlite3), as an operator with file access would.
 */
import Database from 'better-sqlite3';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, ManualClock, withRequestContext, type Signature } from '../../src/core/index.js';
import {
  AUDIT_PAGE_ROWS,
  FsArtifactStore,
  Registry,
  SCHEMA_MIGRATIONS,
  SqliteMetadataStore,
  canonicalJson,
  hashAuditRow,
  migrateToLatest,
  type AuditEntry,
} from '../../src/registry/index.js';

const START = Date.UTC(2026, 10, 1, 9, 0, 0);
const MINUTE = 60_000;

const SIGNATURE: Signature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }],
  outputs: [{ name: 'label', datatype: 'INT64', shape: [-1] }],
  batchable: true,
};
const inspect = async (): Promise<Signature> => structuredClone(SIGNATURE);

let dir: string;
let dbPath: string;
let clock: ManualClock;
let registry: Registry;
let files = 0;

async function openRegistry(): Promise<Registry> {
  const metadata = new SqliteMetadataStore({ path: dbPath });
  await metadata.migrate();
  return new Registry({ metadata, artifacts: new FsArtifactStore(join(dir, 'artifacts')), clock, defaultActor: 'tester', onClose: () => metadata.close() });
}

async function register(name: string): Promise<void> {
  const file = join(dir, 'src', `m${++files}.onnx`);
  await writeFile(file, `ONNX model ${files}`);
  await registry.registerVersion({ name, filePath: file, inspect });
  clock.advance(MINUTE);
}

/** A realistic history: registrations, alias moves, tags, descriptions, deployments, tokens. */
async function makeChanges(): Promise<void> {
  await register('fraud');
  await register('fraud');
  await registry.setAlias('fraud', 'production', 1);
  await registry.setModelTags('fraud', { team: 'risk' });
  await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'alias', alias: 'production' } });
  await registry.setAlias('fraud', 'production', 2, 'alice');
  await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 1 }, settings: { maxBatchSize: 8 } });
  await registry.setVersionDescription('fraud', 2, 'retrained on November data');
  await registry.rollbackDeployment('fraud-api');
  await registry.deleteModelTag('fraud', 'team');
  await registry.createToken({ id: 'ci', name: 'ci pipeline', hash: 'scrypt$…', scopes: ['models:write'], rateLimit: null, expiresAt: null });
  await registry.revokeToken('ci');
  await registry.deleteDeployment('fraud-api');
}

/** The audit table through a second connection, as someone with the file would see it. */
function tamper<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(dbPath);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

async function oldestFirst(): Promise<AuditEntry[]> {
  return registry.audit({ order: 'asc', limit: 10_000 });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-audit-chain-'));
  await mkdir(join(dir, 'src'));
  dbPath = join(dir, 'berth.db');
  clock = new ManualClock(START);
  files = 0;
  registry = await openRegistry();
});

afterEach(async () => {
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the audit hash chain', () => {
  it('links every row to the one before after a series of real changes, and verifies intact', async () => {
    await makeChanges();
    const rows = await oldestFirst();
    expect(rows.length).toBe(13);
    expect(rows[0]!.prevHash).toBeNull();
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
      if (i > 0) expect(r.prevHash).toBe(rows[i - 1]!.hash);
      // the hash is the documented one: sha256 over the canonical row and the previous hash
      const row = { id: r.id, at: r.atMs, actor: r.actor, action: r.action, target: r.target, model: r.model, details: JSON.stringify(r.details), source: r.source };
      expect(hashAuditRow(r.prevHash, row)).toBe(r.hash);
    }
    expect(await registry.verifyAudit()).toEqual({ ok: true, rows: 13, firstBroken: null, head: rows[rows.length - 1]!.hash });
  });

  it('records where a change came from and who made it, from the request context', async () => {
    await register('fraud');
    await withRequestContext({ actor: 'alice', source: '10.1.2.3:51234', principalId: 'tok_1' }, () => registry.setAlias('fraud', 'production', 1, 'alice'));
    const [move, reg] = await registry.audit();
    expect(move).toMatchObject({ action: 'alias.set', actor: 'alice', source: '10.1.2.3:51234' });
    expect(reg).toMatchObject({ action: 'version.register', source: null });
    // the source is covered by the hash: changing it breaks the chain at that row
    tamper((db) => db.prepare('update audit set source = ? where id = ?').run('192.168.0.1', move!.id));
    expect((await registry.verifyAudit()).firstBroken).toEqual({ id: move!.id, reason: expect.stringContaining('no longer match its hash') });
  });

  it('names a row whose details were edited directly in SQLite', async () => {
    await makeChanges();
    const rows = await oldestFirst();
    const victim = rows.find((r) => r.action === 'alias.set' && r.actor === 'alice')!;
    tamper((db) => {
      const { details } = db.prepare('select details from audit where id = ?').get(victim.id) as { details: string };
      db.prepare('update audit set details = ? where id = ?').run(details.replace('"version":2', '"version":1'), victim.id);
    });
    const v = await registry.verifyAudit();
    expect(v.ok).toBe(false);
    expect(v.rows).toBe(rows.length);
    expect(v.firstBroken).toEqual({ id: victim.id, reason: 'its contents no longer match its hash (the row was edited after it was written)' });
  });

  it('names the row after an edit whose hash was recomputed to match', async () => {
    await makeChanges();
    const rows = await oldestFirst();
    const victim = rows[4]!;
    tamper((db) => {
      const details = JSON.stringify({ ...victim.details, forged: true });
      const hash = hashAuditRow(victim.prevHash, { id: victim.id, at: victim.atMs, actor: victim.actor, action: victim.action, target: victim.target, model: victim.model, details, source: null });
      db.prepare('update audit set details = ?, hash = ? where id = ?').run(details, hash, victim.id);
    });
    const v = await registry.verifyAudit();
    expect(v.firstBroken?.id).toBe(rows[5]!.id);
    expect(v.firstBroken?.reason).toContain(`hash of row ${victim.id}`);
  });

  it('detects a deleted middle row and deleted first rows', async () => {
    await makeChanges();
    const rows = await oldestFirst();
    tamper((db) => db.prepare('delete from audit where id = ?').run(rows[6]!.id));
    let v = await registry.verifyAudit();
    expect(v).toMatchObject({ ok: false, rows: rows.length - 1 });
    expect(v.firstBroken).toEqual({ id: rows[7]!.id, reason: expect.stringContaining('was deleted') });

    tamper((db) => db.prepare('delete from audit where id = ?').run(rows[0]!.id));
    v = await registry.verifyAudit();
    expect(v.firstBroken).toEqual({ id: rows[1]!.id, reason: expect.stringContaining('rows before it were deleted') });
  });

  it('detects rows swapped in order and a row inserted without a hash', async () => {
    await makeChanges();
    const rows = await oldestFirst();
    const [a, b] = [rows[2]!, rows[3]!];
    // swap two rows' places: each keeps its own hashes, but the ids they were hashed with change
    tamper((db) => {
      db.prepare('update audit set id = -1 where id = ?').run(a.id);
      db.prepare('update audit set id = ? where id = ?').run(a.id, b.id);
      db.prepare('update audit set id = ? where id = -1').run(b.id);
    });
    expect((await registry.verifyAudit()).firstBroken?.id).toBe(a.id);

    tamper((db) => {
      db.prepare('update audit set id = -1 where id = ?').run(a.id);
      db.prepare('update audit set id = ? where id = ?').run(a.id, b.id);
      db.prepare('update audit set id = ? where id = -1').run(b.id);
    });
    expect((await registry.verifyAudit()).ok).toBe(true);

    const newest = rows[rows.length - 1]!;
    tamper((db) =>
      db
        .prepare("insert into audit (id, at, actor, action, target, model, details) values (?, ?, 'mallory', 'alias.set', 'alias:fraud@production', 'fraud', '{}')")
        .run(newest.id + 100, newest.atMs),
    );
    expect((await registry.verifyAudit()).firstBroken).toEqual({ id: newest.id + 100, reason: expect.stringContaining('no hash') });
  });

  it('keeps the hash valid when the stored details are re-serialised with other key order or spacing', async () => {
    await makeChanges();
    const victim = (await oldestFirst())[4]!;
    tamper((db) => {
      const reordered = Object.fromEntries(Object.entries(victim.details).reverse());
      db.prepare('update audit set details = ? where id = ?').run(JSON.stringify(reordered, null, 2), victim.id);
    });
    expect((await registry.verifyAudit()).ok).toBe(true);
  });

  it('verifies a log longer than one page and names a broken row past the first page', async () => {
    const n = AUDIT_PAGE_ROWS * 2 + 17;
    await registry.metadata.transaction(async (trx) => {
      for (let i = 0; i < n; i++) {
        await registry.appendAudit({ action: 'rollout.step', target: 'deployment:api', model: 'fraud', details: { rollout: 1, step: i } }, trx);
      }
    });
    const v = await registry.verifyAudit();
    expect(v).toMatchObject({ ok: true, rows: n, firstBroken: null });
    const [newest] = await registry.audit({ limit: 1 });
    expect(v.head).toBe(newest!.hash);

    const victimId = newest!.id - 300;
    tamper((db) => db.prepare("update audit set actor = 'someone-else' where id = ?").run(victimId));
    expect((await registry.verifyAudit()).firstBroken?.id).toBe(victimId);
  });

  it('answers an empty log as intact with no head', async () => {
    expect(await registry.verifyAudit()).toEqual({ ok: true, rows: 0, firstBroken: null, head: null });
  });
});

describe('migration 4', () => {
  it('chains the rows written before it, in id order, and later writes continue the chain', async () => {
    await registry.close();
    await rm(dbPath);
    // a data dir at schema 3, with audit rows written before the chain existed
    const old = new SqliteMetadataStore({ path: dbPath });
    await migrateToLatest(old, SCHEMA_MIGRATIONS.filter((m) => m.version <= 3));
    await old.close();
    tamper((db) => {
      const insert = db.prepare('insert into audit (at, actor, action, target, model, details) values (?, ?, ?, ?, ?, ?)');
      insert.run(START, 'bob', 'version.register', 'version:fraud@1', 'fraud', JSON.stringify({ sha256: 'ab'.repeat(32), sizeBytes: 12 }));
      insert.run(START + MINUTE, 'bob', 'alias.set', 'alias:fraud@production', 'fraud', JSON.stringify({ version: 1, previousVersion: null }));
      insert.run(START + 2 * MINUTE, 'carol', 'model.tags.set', 'model:fraud', 'fraud', JSON.stringify({ set: { team: 'risk' } }));
      // ids need not be dense: a gap stays a gap
      db.prepare('delete from audit where id = 2').run();
      insert.run(START + 3 * MINUTE, 'carol', 'model.describe', 'model:fraud', 'fraud', JSON.stringify({ description: 'fraud model' }));
    });

    registry = await openRegistry();
    const rows = await oldestFirst();
    expect(rows.map((r) => r.id)).toEqual([1, 3, 4]);
    expect(rows[0]!.prevHash).toBeNull();
    expect(rows[1]!.prevHash).toBe(rows[0]!.hash);
    expect(rows[2]!.prevHash).toBe(rows[1]!.hash);
    expect(rows.every((r) => r.source === null && /^[0-9a-f]{64}$/.test(r.hash ?? ''))).toBe(true);
    expect(await registry.verifyAudit()).toEqual({ ok: true, rows: 3, firstBroken: null, head: rows[2]!.hash });

    await register('fraud');
    const after = await oldestFirst();
    expect(after).toHaveLength(4);
    expect(after[3]!.prevHash).toBe(rows[2]!.hash);
    expect((await registry.verifyAudit()).ok).toBe(true);
  });
});

describe('audit queries', () => {
  it('filter by time window and action prefix, and page oldest first', async () => {
    await makeChanges();
    const all = await oldestFirst();
    const deployments = await registry.audit({ action: 'deployment.', limit: 1000 });
    expect(new Set(deployments.map((e) => e.action))).toEqual(new Set(['deployment.create', 'deployment.update', 'deployment.rollback', 'deployment.delete']));
    expect(await registry.audit({ action: 'deployment', limit: 1000 })).toEqual(deployments);
    expect((await registry.audit({ action: 'token.' })).map((e) => e.action)).toEqual(['token.revoke', 'token.create']);
    await expect(registry.audit({ action: 'deploy' })).rejects.toBeInstanceOf(BerthError);
    await expect(registry.audit({ action: '.' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    const window = await registry.audit({ since: START + MINUTE, until: START + 2 * MINUTE, limit: 1000 });
    expect(window.length).toBeGreaterThan(0);
    expect(window.every((e) => e.atMs >= START + MINUTE && e.atMs < START + 2 * MINUTE)).toBe(true);
    expect(window).toEqual(all.filter((e) => e.atMs >= START + MINUTE && e.atMs < START + 2 * MINUTE).reverse());

    const firstPage = await registry.audit({ order: 'asc', limit: 5 });
    const secondPage = await registry.audit({ order: 'asc', limit: 5, afterId: firstPage[4]!.id });
    expect([...firstPage, ...secondPage]).toEqual(all.slice(0, 10));
  });

  it('records the state before and after for changes to existing things', async () => {
    await makeChanges();
    const by = async (action: string): Promise<Record<string, unknown>> => (await registry.audit({ action, limit: 1 }))[0]!.details;
    expect(await by('model.tags.delete')).toMatchObject({ key: 'team', before: { team: 'risk' }, after: {} });
    expect(await by('version.describe')).toMatchObject({ before: { description: null }, after: { description: 'retrained on November data' } });
    expect(await by('deployment.rollback')).toMatchObject({ from: { target: { kind: 'version', version: 1 }, settings: { maxBatchSize: 8 } }, target: { kind: 'alias', alias: 'production' }, settings: {} });
    expect(await by('deployment.delete')).toMatchObject({ from: { model: 'fraud', target: { kind: 'alias', alias: 'production' } } });
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined members and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'é' }], c: undefined } })).toBe('{"a":{"d":[3,{"y":"é","z":null}]},"b":1}');
    expect(canonicalJson([undefined, 1.5, -0, 'a\n'])).toBe('[null,1.5,0,"a\\n"]');
  });
});

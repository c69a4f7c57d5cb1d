/*
 * `berth audit`, `berth audit export` and `berth audit verify`, run in process through `main`
 * against a data dir (local mode) and against a running server on that data dir (remote mode):
 * both must print the same export and the same verdict, and a tampered row must fail verify.
 */
import Database from 'better-sqlite3';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Signature } from '../../src/core/index.js';
import type { AuditList } from '../../src/protocol/index.js';
import { openEmbeddedRegistry, type AuditEntry, type AuditVerification } from '../../src/registry/index.js';
import { startServer, type TestServer } from '../helpers/server.js';

const SIGNATURE: Signature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }],
  outputs: [{ name: 'label', datatype: 'INT64', shape: [-1] }],
  batchable: true,
};

let dir: string;
let dataDir: string;
let expected: AuditEntry[];

interface Run {
  code: number;
  out: string;
  err: string;
}

async function berth(...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
  return { code, out, err };
}

const local = (...args: string[]): Promise<Run> => berth('--local', '--data-dir', dataDir, ...args);

function parseLines(text: string): AuditEntry[] {
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as AuditEntry);
}

function tamper(fn: (db: Database.Database) => void): void {
  const db = new Database(join(dataDir, 'berth.db'));
  try {
    fn(db);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-audit-cli-'));
  dataDir = join(dir, 'data');
  await mkdir(join(dir, 'src'));
  const registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'ops' });
  try {
    for (let i = 1; i <= 3; i++) {
      const file = join(dir, 'src', `m${i}.onnx`);
      await writeFile(file, `ONNX ${i}`);
      await registry.registerVersion({ name: 'fraud', filePath: file, inspect: async () => structuredClone(SIGNATURE) });
    }
    await registry.setAlias('fraud', 'production', 1);
    await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'alias', alias: 'production' } });
    await registry.setAlias('fraud', 'production', 2, 'alice');
    await registry.setModelTags('fraud', { team: 'risk' });
    await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 3 } });
    expected = await registry.audit({ order: 'asc', limit: 1000 });
  } finally {
    await registry.close();
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('berth audit (data dir)', () => {
  it('lists entries newest first, filtered by action prefix and time', async () => {
    let r = await local('--json', 'audit', '--action', 'deployment.');
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as AuditList).entries.map((e) => e.action)).toEqual(['deployment.update', 'deployment.create']);

    r = await local('audit', '--since', '1h', '--action', 'alias');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^WHEN +ACTOR +ACTION +TARGET +DETAILS\n/);
    expect(r.out.trim().split('\n')).toHaveLength(3);
    expect(r.out).toContain('alice');

    r = await local('--json', 'audit', '--until', '2001-01-01');
    expect((JSON.parse(r.out) as AuditList).entries).toEqual([]);

    r = await local('audit', '--action', 'deploy');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--action');
  });

  it('exports JSON lines, oldest first, equal to what the registry answers, to stdout or atomically to a file', async () => {
    const r = await local('audit', 'export');
    expect(r.code, r.err).toBe(0);
    expect(parseLines(r.out)).toEqual(expected);

    const file = join(dir, 'export.jsonl');
    const w = await local('audit', 'export', '--out', file);
    expect(w.code, w.err).toBe(0);
    expect(w.err).toBe(`exported ${expected.length} audit entries to ${file}\n`);
    expect(parseLines(await readFile(file, 'utf8'))).toEqual(expected);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const tokens = await local('audit', 'export', '--action', 'model.tags');
    expect(parseLines(tokens.out).map((e) => e.action)).toEqual(['model.tags.set']);
  });

  it('verifies an intact chain with exit 0 and its head', async () => {
    const r = await local('audit', 'verify');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`chain intact: ${expected.length} rows, head ${expected[expected.length - 1]!.hash}\n`);
    const j = await local('--json', 'audit', 'verify');
    expect(JSON.parse(j.out)).toEqual({ ok: true, rows: expected.length, firstBroken: null, head: expected[expected.length - 1]!.hash });
  });
});

describe('berth audit against a server', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startServer({}, { dataDir });
    // the server's start recorded its configuration (config.change): the trail it serves includes it
    expected = await ts.server.registry.audit({ order: 'asc', limit: 1000 });
    expect(expected[expected.length - 1]!.action).toBe('config.change');
  }, 60_000);
  afterAll(async () => {
    await ts?.close();
  });

  it('exports the same lines and gives the same verdict as the data dir', async () => {
    const r = await berth('--server', ts.url, 'audit', 'export');
    expect(r.code, r.err).toBe(0);
    expect(parseLines(r.out)).toEqual(expected);
    const v = await berth('--server', ts.url, 'audit', 'verify');
    expect(v.code, v.err).toBe(0);
    expect(v.out).toContain(`chain intact: ${expected.length} rows`);

    const res = await fetch(`${ts.url}/v1/audit/export?action=alias.set&until=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(parseLines(await res.text())).toEqual(expected.filter((e) => e.action === 'alias.set'));
    const bad = await fetch(`${ts.url}/v1/audit/export?since=yesterday`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'since' });
  });

  it('leaves an existing --out file untouched when the export is refused', async () => {
    const file = join(dir, 'keep.jsonl');
    await writeFile(file, 'previous export\n');
    const r = await berth('--server', ts.url, 'audit', 'export', '--model', 'Not A Name!', '--out', file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: .*model/);
    expect(await readFile(file, 'utf8')).toBe('previous export\n');
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('fails verify with exit 1 naming the edited row, locally and remotely', async () => {
    const victim = expected.find((e) => e.action === 'alias.set' && e.actor === 'alice')!;
    tamper((db) => db.prepare("update audit set actor = 'ops' where id = ?").run(victim.id));
    try {
      for (const mode of [['--local', '--data-dir', dataDir], ['--server', ts.url]]) {
        const r = await berth(...mode, 'audit', 'verify');
        expect(r.code, mode.join(' ')).toBe(1);
        expect(r.out).toBe('');
        expect(r.err).toBe(`berth: audit chain broken at row ${victim.id}: its contents no longer match its hash (the row was edited after it was written) (${expected.length} rows read); the log cannot be trusted from that row on\n`);
        const j = await berth(...mode, '--json', 'audit', 'verify');
        expect(j.code).toBe(1);
        expect((JSON.parse(j.out) as AuditVerification).firstBroken?.id).toBe(victim.id);
      }
    } finally {
      tamper((db) => db.prepare("update audit set actor = 'alice' where id = ?").run(victim.id));
    }
    expect((await local('audit', 'verify')).code).toBe(0);
  });
});

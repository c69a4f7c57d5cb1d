/*
 * berth export / berth import: SQLite → export → PostgreSQL + S3 → export → SQLite gives back the
 * same registry, row for row and byte for byte; a damaged export, a non-empty target and a schema
 * mismatch are refused before anything is written.
 */
import { createHash, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, silentLogger } from '../../src/core/index.js';
import { main } from '../../src/cli/main.js';
import {
  EXPORT_TABLES,
  EXPORT_TABLE_NAMES,
  S3ArtifactStore,
  SCHEMA_MIGRATIONS,
  exportRegistry,
  importRegistry,
  openEmbeddedRegistry,
  openRegistry,
  parseCard,
  type ExportTable,
  type Registry,
  type TransferProgress,
} from '../../src/registry/index.js';
import { RolloutStore } from '../../src/rollout/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { TokenService } from '../../src/security/index.js';
import { compareToGolden, fixturePath, readGolden } from '../helpers/fixtures.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName, urlWithSchema } from '../helpers/postgres.js';
import { post, startServer } from '../helpers/server.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from './s3rver-harness.js';

/** The schema this Berth migrates to (an export carries it). */
const LATEST_SCHEMA = Math.max(...SCHEMA_MIGRATIONS.map((m) => m.version));

const LOGREG = 'breast-cancer-logreg';
const GBT = 'breast-cancer-gbt';
const backend = new OnnxBackend();
let root: string;

/** A registry with real content: two versions with cards and reference data (one with a profile), alias moves, deployments, a token, a rollout. */
async function buildSource(dataDir: string): Promise<void> {
  const registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'alice' });
  try {
    const card = (m: string) => parseCard(readFileSync(fixturePath(m, 'card.json'), 'utf8'), fixturePath(m, 'card.json'));
    const v1 = await registry.registerVersion({ name: 'cancer', filePath: fixturePath(LOGREG), card: card(LOGREG), referencePath: fixturePath(LOGREG, 'reference.csv'), inspect: (b) => backend.inspect(b) });
    const profilePath = join(root, 'profile.json');
    await writeFile(profilePath, JSON.stringify({ format: 'berth-profile/1', columns: ['a'] }));
    const profile = await registry.artifacts.put(profilePath);
    await registry.setReference('cancer', 1, {
      ...v1.version.reference!,
      profile: { sha256: profile.sha256, sizeBytes: profile.sizeBytes, rows: 10, columns: ['a'], predictions: false, createdAt: new Date(0).toISOString() },
    });
    await registry.registerVersion({ name: 'cancer', filePath: fixturePath(GBT), card: card(GBT), inspect: (b) => backend.inspect(b) });
    await registry.setModelDescription('cancer', 'breast cancer classifiers');
    await registry.setModelTags('cancer', { team: 'oncology' });
    await registry.setAlias('cancer', 'production', 1);
    await registry.setAlias('cancer', 'production', 2, 'bob');
    await registry.rollbackAlias('cancer', 'production');
    await registry.setAlias('cancer', 'staging', 2);
    await registry.deploy({ name: 'cancer', model: 'cancer', target: { kind: 'version', version: 2 } });
    await registry.deploy({ name: 'cancer', model: 'cancer', target: { kind: 'version', version: 1 } });
    await new TokenService({ registry, logger: silentLogger }).create({ name: 'ci', roles: ['predictor'], expiresAt: null });
    await new RolloutStore(registry, Date.now).create(
      { deployment: 'cancer', model: 'cancer', from_version: 1, to_version: 2, strategy: 'canary', spec: '{"steps":[5,100]}', state: 'aborted', step: 0, step_started_at: 1, next_at: null, failures: 0, reason: 'test', actor: 'alice', finished_at: 2 },
      { kind: 'start', details: { steps: [5, 100] }, actor: 'alice', audit: 'rollout.start' },
    );
    // ground truth travels with the registry; a replica's rollout numbers do not
    await registry.putFeedback('cancer', [{ requestId: 'r1', row: 0, label: 'malignant' }, { requestId: 'r1', row: 1, label: 'benign' }], 1234);
    await registry.putRolloutWindow('cancer', '1:0:1', 'host-a', '{}');
  } finally {
    await registry.close();
  }
}

/** Every exported table, rows in primary-key order. */
async function dumpTables(registry: Registry): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const db = registry.metadata.db as unknown as import('kysely').Kysely<Record<string, Record<string, unknown>>>;
  for (const t of EXPORT_TABLE_NAMES) {
    let q = db.selectFrom(t).selectAll();
    for (const k of EXPORT_TABLES[t].key) q = q.orderBy(k, 'asc');
    out[t] = (await q.execute()).map((r) => Object.fromEntries(EXPORT_TABLES[t].columns.map((c) => [c, r[c]])));
  }
  return out;
}

async function rowCount(registry: Registry): Promise<number> {
  const tables = await dumpTables(registry);
  return Object.values(tables).reduce((s, rows) => s + rows.length, 0);
}

async function expectBerthError(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  expect((err as BerthError).code).toBe(code);
  expect((err as BerthError).message).toMatch(message);
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let sourceDir: string;
let exportDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-transfer-'));
  sourceDir = join(root, 'source');
  await buildSource(sourceDir);
  exportDir = join(root, 'export-1');
  const source = await openEmbeddedRegistry(sourceDir);
  try {
    await exportRegistry(source, exportDir);
  } finally {
    await source.close();
  }
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('exportRegistry', () => {
  it('writes a manifest, one JSON-lines file per table, the artifacts and a sha256sum-style checksum list', async () => {
    const manifest = JSON.parse(await readFile(join(exportDir, 'manifest.json'), 'utf8')) as {
      format: string;
      schemaVersion: number;
      tables: Record<ExportTable, { rows: number; sha256: string; file: string }>;
      artifacts: { count: number };
    };
    expect(manifest.format).toBe('berth-export/1');
    expect(manifest.schemaVersion).toBe(LATEST_SCHEMA);
    expect(manifest.tables.versions.rows).toBe(2);
    expect(manifest.tables.tokens.rows).toBe(1);
    expect(manifest.tables.rollouts.rows).toBe(1);
    expect(manifest.tables.deployment_history.rows).toBe(2);
    expect(manifest.tables.alias_history.rows).toBe(4);
    expect(manifest.tables.feedback.rows).toBe(2);
    expect(Object.keys(manifest.tables)).not.toContain('leases');
    expect(Object.keys(manifest.tables)).not.toContain('rollout_windows');
    // two model files, one reference CSV, one profile
    expect(manifest.artifacts.count).toBe(4);
    const files = await filesUnder(exportDir);
    const sums = (await readFile(join(exportDir, 'checksums.sha256'), 'utf8')).trim().split('\n');
    expect(sums.map((l) => l.slice(66))).toEqual(files.filter((f) => f !== 'checksums.sha256'));
    for (const line of sums) {
      const [digest, file] = [line.slice(0, 64), line.slice(66)];
      expect(sha(await readFile(join(exportDir, file))), file).toBe(digest);
    }
    // the coreutils tool agrees (where it is installed)
    let tool = true;
    try {
      execFileSync('sha256sum', ['--version'], { stdio: 'ignore' });
    } catch {
      tool = false;
    }
    if (tool) expect(execFileSync('sha256sum', ['-c', 'checksums.sha256'], { cwd: exportDir, encoding: 'utf8' })).toMatch(/manifest\.json: OK/);
    const modelSha = sha(await readFile(fixturePath(LOGREG)));
    expect(files).toContain(`artifacts/sha256/${modelSha.slice(0, 2)}/${modelSha}`);
    const tokenLine = JSON.parse((await readFile(join(exportDir, 'tables/tokens.jsonl'), 'utf8')).trim()) as Record<string, unknown>;
    expect(String(tokenLine['hash'])).toMatch(/^scrypt\$/);
  });

  it('refuses a non-empty --out, and with --force replaces only an earlier export', async () => {
    const source = await openEmbeddedRegistry(sourceDir);
    try {
      await expectBerthError(exportRegistry(source, exportDir), 'ALREADY_EXISTS', /not empty.*--force/);
      const other = join(root, 'not-an-export');
      await cp(join(exportDir, 'tables'), join(other, 'tables'), { recursive: true });
      await expectBerthError(exportRegistry(source, other, { force: true }), 'ALREADY_EXISTS', /holds no Berth export/);
      const again = join(root, 'export-again');
      await exportRegistry(source, again);
      const r = await exportRegistry(source, again, { force: true });
      expect(r.manifest.tables.audit.rows).toBeGreaterThan(5);
      expect((await readdir(root)).filter((n) => n.includes('.export-'))).toEqual([]);
    } finally {
      await source.close();
    }
  });
});

describe('importRegistry refuses before writing anything', () => {
  async function damaged(name: string, file: string): Promise<string> {
    const dir = join(root, name);
    await cp(exportDir, dir, { recursive: true });
    const p = join(dir, file);
    const bytes = await readFile(p);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    await writeFile(p, bytes);
    return dir;
  }

  it('names the table file whose byte changed, and leaves the target empty', async () => {
    const dir = await damaged('bad-table', 'tables/audit.jsonl');
    const target = await openEmbeddedRegistry(join(root, 'target-bad-table'));
    try {
      await expectBerthError(importRegistry(target, dir), 'INVALID_ARGUMENT', /tables\/audit\.jsonl does not match checksums\.sha256/);
      expect(await rowCount(target)).toBe(0);
    } finally {
      await target.close();
    }
  });

  it('names the artifact whose byte changed, and stores no artifact', async () => {
    const modelSha = sha(await readFile(fixturePath(GBT)));
    const dir = await damaged('bad-artifact', `artifacts/sha256/${modelSha.slice(0, 2)}/${modelSha}`);
    const dataDir = join(root, 'target-bad-artifact');
    const target = await openEmbeddedRegistry(dataDir);
    try {
      await expectBerthError(importRegistry(target, dir), 'INVALID_ARGUMENT', new RegExp(`artifacts/sha256/${modelSha.slice(0, 2)}/${modelSha} does not match`));
      expect(await rowCount(target)).toBe(0);
      expect(await target.artifacts.has(modelSha)).toBe(false);
    } finally {
      await target.close();
    }
  });

  it('refuses a target that already holds a registry, saying what it holds', async () => {
    const target = await openEmbeddedRegistry(sourceDir);
    try {
      const before = await rowCount(target);
      await expectBerthError(importRegistry(target, exportDir), 'ALREADY_EXISTS', /not empty \(it holds 1 models row, 2 versions rows/);
      expect(await rowCount(target)).toBe(before);
    } finally {
      await target.close();
    }
  });

  it('refuses an export of another schema version, pointing at berth migrate', async () => {
    const dir = join(root, 'other-schema');
    await cp(exportDir, dir, { recursive: true });
    const manifestPath = join(dir, 'manifest.json');
    const m = JSON.parse(await readFile(manifestPath, 'utf8')) as { schemaVersion: number };
    m.schemaVersion = LATEST_SCHEMA + 1;
    await writeFile(manifestPath, JSON.stringify(m, null, 2) + '\n');
    // a consistent checksum list: only the schema check stands in the way
    const sums = (await readFile(join(dir, 'checksums.sha256'), 'utf8')).replace(/^[0-9a-f]{64}(?=  manifest\.json$)/m, sha(await readFile(manifestPath)));
    await writeFile(join(dir, 'checksums.sha256'), sums);
    const target = await openEmbeddedRegistry(join(root, 'target-schema'));
    try {
      await expectBerthError(importRegistry(target, dir), 'INVALID_CONFIG', new RegExp(`schema version ${LATEST_SCHEMA + 1}, the target registry ${LATEST_SCHEMA}; run \`berth migrate\``));
      expect(await rowCount(target)).toBe(0);
    } finally {
      await target.close();
    }
  });
});

describe('importRegistry is all or nothing', () => {
  it('leaves the rows as they were when a late table fails to insert', async () => {
    const dir = join(root, 'late-failure');
    await cp(exportDir, dir, { recursive: true });
    // a second signature row that duplicates the first's primary key: checksums agree, the insert fails
    const sigFile = join(dir, 'tables/artifact_signatures.jsonl');
    const row = { model: 'cancer', version: 1, key_id: 'k', algorithm: 'ed25519', signature: 'c2ln', signed_at: 1, signed_by: 'alice' };
    await writeFile(sigFile, `${JSON.stringify(row)}\n${JSON.stringify(row)}\n`);
    const manifestPath = join(dir, 'manifest.json');
    const m = JSON.parse(await readFile(manifestPath, 'utf8')) as { tables: Record<string, { rows: number; sha256: string }> };
    m.tables['artifact_signatures'] = { ...m.tables['artifact_signatures']!, rows: 2, sha256: sha(await readFile(sigFile)) };
    await writeFile(manifestPath, JSON.stringify(m, null, 2) + '\n');
    let sums = await readFile(join(dir, 'checksums.sha256'), 'utf8');
    for (const f of ['manifest.json', 'tables/artifact_signatures.jsonl']) {
      sums = sums.replace(new RegExp(`^[0-9a-f]{64}(?=  ${f.replace('.', '\\.')}$)`, 'm'), sha(await readFile(join(dir, f))));
    }
    await writeFile(join(dir, 'checksums.sha256'), sums);
    const target = await openEmbeddedRegistry(join(root, 'target-late'));
    try {
      await expectBerthError(importRegistry(target, dir), 'INVALID_ARGUMENT', /tables\/artifact_signatures\.jsonl: rows could not be inserted \(.*(UNIQUE|unique).*\); nothing was imported/);
      expect(await rowCount(target)).toBe(0);
      // and the same export, repaired, still goes in afterwards
      await importRegistry(target, exportDir);
      expect((await target.verifyAudit()).ok).toBe(true);
    } finally {
      await target.close();
    }
  });
});

describe('berth export / berth import (CLI)', () => {
  it('moves the data dir into another with progress on stderr and --help examples', async () => {
    const run = async (...args: string[]) => {
      let out = '';
      let err = '';
      const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
      return { code, out, err };
    };
    const dir = join(root, 'cli-export');
    const e = await run('--data-dir', sourceDir, 'export', '--out', dir, '--json');
    expect(e.code, e.err).toBe(0);
    expect(e.err).toMatch(/exported versions: 2 rows/);
    expect(e.err).toMatch(/exported artifact 4\/4/);
    expect((JSON.parse(e.out) as { manifest: { format: string } }).manifest.format).toBe('berth-export/1');
    const i = await run('--data-dir', join(root, 'cli-target'), 'import', dir);
    expect(i.code, i.err).toBe(0);
    expect(i.err).toMatch(/verified \d+ files/);
    expect(i.out).toMatch(/imported \d+ rows and 4 artifacts .* audit chain verifies/);
    const again = await run('--data-dir', join(root, 'cli-target'), 'import', dir);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/target registry is not empty/);
    expect((await run('export', '--help')).out).toMatch(/Examples:\n {2}\$ berth export/);
  }, 30_000);
});

describe.skipIf(!TEST_POSTGRES_URL)(`SQLite → PostgreSQL + S3 → SQLite${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  const schema = testSchemaName();
  let s3: TestS3;

  beforeAll(async () => {
    s3 = await startS3rver();
    await s3.createBucket('berth-transfer');
  });

  afterAll(async () => {
    await s3?.stop();
    await dropSchema(TEST_POSTGRES_URL!, schema);
  });

  it('gives back the same registry, table by table and byte by byte, with a verifying audit chain and a model that answers', async () => {
    const source = await openEmbeddedRegistry(sourceDir);
    const original = await dumpTables(source);
    await source.close();

    const pgDir = join(root, 'pg-node');
    const artifacts = new S3ArtifactStore({ bucket: 'berth-transfer', prefix: `t/${randomUUID()}`, cacheDir: join(pgDir, 'artifact-cache'), endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS });
    const pg = await openRegistry({ dataDir: pgDir, databaseUrl: urlWithSchema(TEST_POSTGRES_URL!, schema), artifacts });
    const exportDir2 = join(root, 'export-2');
    try {
      const events: TransferProgress[] = [];
      const imported = await importRegistry(pg, exportDir, { onProgress: (p) => events.push(p) });
      expect(imported.audit.ok).toBe(true);
      expect(imported.audit.rows).toBe(original['audit']!.length);
      expect(imported.audit.head).toBe(imported.manifest.auditHead);
      expect(events.filter((e) => e.kind === 'artifact')).toHaveLength(4);
      expect(await dumpTables(pg)).toEqual(original);

      await exportRegistry(pg, exportDir2);
      for (const t of EXPORT_TABLE_NAMES) {
        expect(await readFile(join(exportDir2, `tables/${t}.jsonl`), 'utf8'), t).toBe(await readFile(join(exportDir, `tables/${t}.jsonl`), 'utf8'));
      }

      // the sequences moved past the imported ids: new rows get new ids and extend the chain
      const auditRows = original['audit']!.length;
      await pg.setAlias('cancer', 'canary', 2, 'carol');
      const v = await pg.verifyAudit();
      expect(v.ok).toBe(true);
      expect(v.rows).toBe(auditRows + 1);
      const history = await pg.aliasHistory('cancer', 'canary');
      expect(history).toHaveLength(1);
    } finally {
      await pg.close();
      artifacts.close();
    }

    const finalDir = join(root, 'final');
    const final = await openEmbeddedRegistry(finalDir);
    try {
      const r = await importRegistry(final, exportDir2);
      expect(r.audit.ok).toBe(true);
      expect(await dumpTables(final)).toEqual(original);
      const exported = await filesUnder(join(exportDir, 'artifacts'));
      for (const f of exported) {
        const s = f.split('/').pop()!;
        expect(sha(await readFile(final.artifacts.path(s))), f).toBe(s);
        expect(await readFile(final.artifacts.path(s))).toEqual(await readFile(join(exportDir, 'artifacts', f)));
      }
    } finally {
      await final.close();
    }

    const ts = await startServer({}, { dataDir: finalDir });
    try {
      const c = readGolden(LOGREG).cases[0]!;
      const input = c.inputs['input']!;
      const answer = await post<{ outputs: { name: string; data: number[] }[] }>(`${ts.url}/v2/models/cancer/infer`, {
        inputs: [{ name: 'input', datatype: 'FP32', shape: input.shape, data: input.data }],
      });
      expect(answer.status, answer.text).toBe(200);
      const golden = readGolden(LOGREG);
      for (const [name, expected] of Object.entries(c.expected)) {
        expect(compareToGolden(answer.body.outputs.find((o) => o.name === name)!.data, expected, golden.tolerance[name]!), name).toBeNull();
      }
    } finally {
      await ts.close();
    }
  }, 120_000);
});

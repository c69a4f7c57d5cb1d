/*
 * `berth export` / `berth import`: a whole registry (every metadata row and every artifact the
 * rows name) as a directory of plain files, verified by sha256 on the way in. Moves a registry
 * between the embedded store (SQLite + files) and PostgreSQL + S3, in either direction.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { BerthError } from '../core/index.js';
import type { RegistryDatabase } from './metadata-store.js';
import type { AuditVerification } from './records.js';
import type { Registry } from './registry.js';

/** The format name written into `manifest.json`; an importer refuses any other. */
export const EXPORT_FORMAT = 'berth-export/1';

/**
 * Every exported table with its columns (in file order) and primary key (the row order), in the
 * order rows are inserted (parents before the rows that refer to them). `leases` and
 * `rollout_windows` are left out: they belong to running processes, not to the registry.
 */
export const EXPORT_TABLES = {
  models: { key: ['name'], columns: ['name', 'description', 'tags', 'created_at', 'updated_at'] },
  versions: {
    key: ['model', 'version'],
    columns: ['model', 'version', 'sha256', 'size_bytes', 'signature', 'card', 'lineage', 'tags', 'description', 'created_at', 'created_by', 'source_path', 'reference'],
  },
  aliases: { key: ['model', 'alias'], columns: ['model', 'alias', 'version', 'updated_at'] },
  alias_history: { key: ['id'], columns: ['id', 'model', 'alias', 'version', 'previous_version', 'change', 'at', 'actor'] },
  deployments: { key: ['name'], columns: ['name', 'model', 'target', 'settings', 'traffic', 'revision', 'created_at', 'updated_at'] },
  deployment_history: { key: ['name', 'revision'], columns: ['name', 'revision', 'model', 'target', 'settings', 'traffic', 'change', 'deleted', 'at', 'actor'] },
  audit: { key: ['id'], columns: ['id', 'at', 'actor', 'action', 'target', 'model', 'details', 'source', 'prev_hash', 'hash'] },
  rollouts: {
    key: ['id'],
    columns: ['id', 'deployment', 'model', 'from_version', 'to_version', 'strategy', 'spec', 'state', 'step', 'step_started_at', 'next_at', 'failures', 'reason', 'created_at', 'updated_at', 'finished_at', 'actor'],
  },
  rollout_decisions: { key: ['id'], columns: ['id', 'rollout_id', 'at', 'step', 'kind', 'verdict', 'state', 'details', 'actor'] },
  tokens: {
    key: ['id'],
    columns: ['id', 'name', 'hash', 'scopes', 'rate_limit', 'created_at', 'created_by', 'expires_at', 'revoked_at', 'revoked_by', 'last_used_at'],
  },
  artifact_signatures: { key: ['model', 'version', 'key_id'], columns: ['model', 'version', 'key_id', 'algorithm', 'signature', 'signed_at', 'signed_by'] },
  feedback: { key: ['deployment', 'request_id', 'row'], columns: ['deployment', 'request_id', 'row', 'label', 'received_at'] },
} as const satisfies { [T in keyof RegistryDatabase]?: { key: readonly (keyof RegistryDatabase[T] & string)[]; columns: readonly (keyof RegistryDatabase[T] & string)[] } };

export type ExportTable = keyof typeof EXPORT_TABLES;
export const EXPORT_TABLE_NAMES = Object.keys(EXPORT_TABLES) as ExportTable[];

/** Tables whose `id` is a sequence (bigserial on PostgreSQL): advanced past the imported ids. */
const SERIAL_TABLES: readonly ExportTable[] = ['alias_history', 'audit', 'rollouts', 'rollout_decisions'];

/** `manifest.json` of an export. */
export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  /** the Berth that wrote it */
  berthVersion: string;
  /** the source's schema version (latest applied migration); an import needs the same */
  schemaVersion: number;
  /** ISO 8601 */
  createdAt: string;
  /** the source's metadata dialect (no address: it may hold a password) */
  sourceDialect: string;
  /** per table: its file, row count and the sha256 of the file */
  tables: Record<ExportTable, { file: string; rows: number; sha256: string }>;
  artifacts: { count: number; bytes: number };
  /** hash of the last audit row (the chain's head), null when there is none */
  auditHead: string | null;
}

/** What an export or import is doing, for progress lines. */
export type TransferProgress =
  | { kind: 'table'; table: ExportTable; rows: number }
  | { kind: 'artifact'; sha256: string; sizeBytes: number; done: number; total: number }
  | { kind: 'verified'; files: number; bytes: number };

export interface ExportOptions {
  /** replace `outDir` when it holds an earlier export (never any other non-empty directory) */
  force?: boolean;
  onProgress?: (p: TransferProgress) => void;
  /** recorded in the manifest (default: this package's version) */
  berthVersion?: string;
  now?: () => Date;
}

export interface ExportResult {
  outDir: string;
  manifest: ExportManifest;
  /** files listed in checksums.sha256 */
  files: number;
}

export interface ImportOptions {
  onProgress?: (p: TransferProgress) => void;
}

export interface ImportResult {
  inDir: string;
  manifest: ExportManifest;
  rows: Record<ExportTable, number>;
  artifacts: { count: number; bytes: number };
  /** the target's audit chain after the import */
  audit: AuditVerification;
}

type Cell = string | number | null;
type Row = Record<string, Cell>;
/** The tables seen without their column types: the transfer copies rows column by column. */
type LooseDatabase = Record<string, Row>;

const MANIFEST = 'manifest.json';
const CHECKSUMS = 'checksums.sha256';
const SHA256_RE = /^[0-9a-f]{64}$/;
const PAGE_ROWS = 1000;
const INSERT_ROWS = 100;

/**
 * Export every registry row and every artifact the rows name into `outDir`: `manifest.json`,
 * `tables/<table>.jsonl` (rows exactly as stored, in primary-key order), `artifacts/sha256/ab/<sha>`
 * and `checksums.sha256` (`sha256sum -c checksums.sha256` verifies the directory). The rows are
 * read inside one write transaction, so they are one consistent state. Written to a sibling temp
 * directory and renamed into place: `outDir` holds a whole export or nothing new.
 *
 * @example
 * const { manifest } = await exportRegistry(registry, 'backup-2024-05-01');
 * console.log(manifest.tables.versions.rows, manifest.artifacts.count);
 */
export async function exportRegistry(registry: Registry, outDir: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const out = resolve(outDir);
  const existing = await checkOutDir(out, opts.force === true);
  const tmp = join(dirname(out), `.${basename(out)}.export-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(join(tmp, 'tables'), { recursive: true });
  try {
    const schemaVersion = await readSchemaVersion(registry.metadata.db);
    const tables = {} as ExportManifest['tables'];
    const referenced = new Set<string>();
    let auditHead: string | null = null;
    // one transaction: the write lock keeps every table at the same moment
    await registry.metadata.transaction(async (trx) => {
      const db = trx as unknown as Kysely<LooseDatabase>;
      for (const table of EXPORT_TABLE_NAMES) {
        const spec = EXPORT_TABLES[table];
        const file = `tables/${table}.jsonl`;
        const fh = await open(join(tmp, file), 'wx');
        const hash = createHash('sha256');
        let rows = 0;
        try {
          for (let offset = 0; ; offset += PAGE_ROWS) {
            let q = db.selectFrom(table).selectAll();
            for (const k of spec.key) q = q.orderBy(k, 'asc');
            const page = await q.limit(PAGE_ROWS).offset(offset).execute();
            let text = '';
            for (const raw of page) {
              const row = normaliseRow(table, raw);
              if (table === 'versions') for (const sha of versionArtifacts(row)) referenced.add(sha);
              if (table === 'audit') auditHead = typeof row['hash'] === 'string' ? row['hash'] : null;
              text += JSON.stringify(row) + '\n';
            }
            if (text !== '') {
              hash.update(text);
              await fh.write(text);
            }
            rows += page.length;
            if (page.length < PAGE_ROWS) break;
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        tables[table] = { file, rows, sha256: hash.digest('hex') };
        opts.onProgress?.({ kind: 'table', table, rows });
      }
    });

    const shas = [...referenced].sort();
    let bytes = 0;
    for (const [i, sha] of shas.entries()) {
      const content = await registry.artifacts.read(sha);
      const rel = artifactFile(sha);
      await mkdir(join(tmp, dirname(rel)), { recursive: true });
      await writeDurably(join(tmp, rel), content);
      bytes += content.length;
      opts.onProgress?.({ kind: 'artifact', sha256: sha, sizeBytes: content.length, done: i + 1, total: shas.length });
    }

    const manifest: ExportManifest = {
      format: EXPORT_FORMAT,
      berthVersion: opts.berthVersion ?? PACKAGE_VERSION,
      schemaVersion,
      createdAt: (opts.now?.() ?? new Date()).toISOString(),
      sourceDialect: registry.metadata.dialect,
      tables,
      artifacts: { count: shas.length, bytes },
      auditHead,
    };
    await writeDurably(join(tmp, MANIFEST), Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));

    const files = (await listFiles(tmp)).filter((f) => f !== CHECKSUMS);
    const lines: string[] = [];
    for (const f of files) lines.push(`${await hashFile(join(tmp, f))}  ${f}`);
    await writeDurably(join(tmp, CHECKSUMS), Buffer.from(lines.join('\n') + '\n'));

    if (existing === 'export') {
      // move the old export aside first, so a failed rename never leaves neither
      const old = `${tmp}.old`;
      await rename(out, old);
      await rename(tmp, out);
      await rm(old, { recursive: true, force: true });
    } else {
      if (existing === 'empty') await rm(out, { recursive: true });
      await rename(tmp, out);
    }
    return { outDir: out, manifest, files: files.length + 1 };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Import an export into an empty registry. Nothing is written until every file has been checked
 * against `checksums.sha256` and the schema version matches; then every artifact goes through the
 * target's ArtifactStore (which hashes it again) and every row is inserted in one transaction with
 * its ids, so the audit chain still verifies. A failure leaves the rows as they were (artifacts
 * already stored are content-addressed and harmless).
 *
 * @example
 * const target = await openRegistry({ dataDir: '.berth', databaseUrl: 'postgres://…', artifactsUrl: 's3://models/berth' });
 * const r = await importRegistry(target, 'backup-2024-05-01');
 * if (!r.audit.ok) console.error('audit chain does not verify');
 */
export async function importRegistry(registry: Registry, inDir: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const dir = resolve(inDir);
  const verified = await verifyExportDir(dir);
  opts.onProgress?.({ kind: 'verified', files: verified.files, bytes: verified.bytes });
  const manifest = await readManifest(dir, verified.sums);

  const target = await readSchemaVersion(registry.metadata.db);
  if (manifest.schemaVersion !== target) {
    const what =
      manifest.schemaVersion > target
        ? `run \`berth migrate\` on the target (it is at ${target}) or import with the Berth that wrote the export (${manifest.berthVersion})`
        : `import it with the Berth that wrote it (${manifest.berthVersion}), run \`berth migrate\` there and export again`;
    throw new BerthError('INVALID_CONFIG', `${join(dir, MANIFEST)}: the export has schema version ${manifest.schemaVersion}, the target registry ${target}; ${what}`, {
      field: 'schemaVersion',
      expected: target,
      got: manifest.schemaVersion,
    });
  }

  // every artifact the rows name must be in the export, before anything is stored
  const artifactsInDir = new Set(verified.sums.keys());
  const needed = new Set<string>();
  for await (const row of readTableRows(dir, manifest, 'versions')) for (const sha of versionArtifacts(row)) needed.add(sha);
  for (const sha of needed) {
    if (!artifactsInDir.has(artifactFile(sha))) {
      throw new BerthError('INVALID_ARGUMENT', `${dir}: the versions table names artifact ${sha} but ${artifactFile(sha)} is not in the export; export the registry again`, {
        field: 'artifacts',
        got: sha,
      });
    }
  }

  await assertEmpty(registry.metadata.db as unknown as Kysely<LooseDatabase>, dir);

  const shas = [...needed].sort();
  let bytes = 0;
  for (const [i, sha] of shas.entries()) {
    const file = join(dir, artifactFile(sha));
    const stored = await registry.artifacts.put(file);
    if (stored.sha256 !== sha) {
      throw new BerthError('ARTIFACT_CORRUPTED', `${file} changed after it was verified: it now hashes to ${stored.sha256}, expected ${sha}; nothing was imported, retry with an export nothing writes to`, {
        expected: sha,
        got: stored.sha256,
      });
    }
    bytes += stored.sizeBytes;
    opts.onProgress?.({ kind: 'artifact', sha256: sha, sizeBytes: stored.sizeBytes, done: i + 1, total: shas.length });
  }

  const rows = {} as Record<ExportTable, number>;
  await registry.metadata.transaction(async (trx) => {
    const db = trx as unknown as Kysely<LooseDatabase>;
    // again under the write lock: nothing may have been written since the check above
    await assertEmpty(db, dir);
    for (const table of EXPORT_TABLE_NAMES) {
      let n = 0;
      let batch: Row[] = [];
      const insert = async (rowsToInsert: Row[]): Promise<void> => {
        try {
          await db.insertInto(table).values(rowsToInsert).execute();
        } catch (err) {
          throw new BerthError('INVALID_ARGUMENT', `${join(dir, manifest.tables[table].file)}: rows could not be inserted (${(err as Error).message}); nothing was imported`, { field: table }, { cause: err });
        }
      };
      for await (const row of readTableRows(dir, manifest, table)) {
        batch.push(row);
        n++;
        if (batch.length >= INSERT_ROWS) {
          await insert(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await insert(batch);
      if (n !== manifest.tables[table].rows) {
        throw new BerthError('INVALID_ARGUMENT', `${join(dir, manifest.tables[table].file)}: ${n} rows, the manifest says ${manifest.tables[table].rows}; export the registry again`, {
          field: table,
          expected: manifest.tables[table].rows,
          got: n,
        });
      }
      if (registry.metadata.dialect === 'postgres' && SERIAL_TABLES.includes(table) && n > 0) {
        // explicit ids leave the sequence behind: the next insert would reuse an imported id
        await sql`select setval(pg_get_serial_sequence(${table}, 'id'), (select max(id) from ${sql.table(table)}))`.execute(db);
      }
      rows[table] = n;
      opts.onProgress?.({ kind: 'table', table, rows: n });
    }
  });

  const audit = await registry.verifyAudit();
  return { inDir: dir, manifest, rows, artifacts: { count: shas.length, bytes }, audit };
}

/**
 * Check every file of an export against `checksums.sha256` (and that no file is missing from it),
 * without writing anything. Throws naming the first file that does not match.
 */
export async function verifyExportDir(dir: string): Promise<{ files: number; bytes: number; sums: Map<string, string> }> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKSUMS), 'utf8');
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${dir} is not a Berth export: no ${CHECKSUMS} in it (make one with \`berth export --out DIR\`)`, { field: 'dir', got: dir }, { cause: err });
  }
  const sums = new Map<string, string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    const rel = m?.[2];
    if (!m || rel === undefined || !isSafeRelative(rel) || rel === CHECKSUMS) {
      throw new BerthError('INVALID_ARGUMENT', `${join(dir, CHECKSUMS)} line ${i + 1}: expected "<sha256>  <relative path>", got ${JSON.stringify(line.slice(0, 120))}`, { field: CHECKSUMS });
    }
    sums.set(rel, m[1]!);
  }
  const present = (await listFiles(dir)).filter((f) => f !== CHECKSUMS);
  for (const f of present) {
    if (!sums.has(f)) throw new BerthError('INVALID_ARGUMENT', `${join(dir, f)} is not listed in ${CHECKSUMS}: the export was changed after it was written; export again`, { field: f });
  }
  let bytes = 0;
  for (const [rel, expected] of sums) {
    const path = join(dir, rel);
    let actual: string;
    try {
      actual = await hashFile(path);
      bytes += (await stat(path)).size;
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `${path} is listed in ${CHECKSUMS} but cannot be read (${(err as Error).message}); the export is incomplete, export again`, { field: rel }, { cause: err });
    }
    if (actual !== expected) {
      throw new BerthError('INVALID_ARGUMENT', `${path} does not match ${CHECKSUMS}: expected sha256 ${expected}, got ${actual}; the export is damaged, nothing was imported`, {
        field: rel,
        expected,
        got: actual,
      });
    }
    if (rel.startsWith('artifacts/') && rel !== artifactFile(basename(rel))) {
      throw new BerthError('INVALID_ARGUMENT', `${path}: artifacts live at artifacts/sha256/ab/<sha256>; this file does not`, { field: rel });
    }
    if (rel.startsWith('artifacts/') && basename(rel) !== actual) {
      throw new BerthError('INVALID_ARGUMENT', `${path} hashes to ${actual}, not to its name; the export is damaged, nothing was imported`, { field: rel, expected: basename(rel), got: actual });
    }
  }
  return { files: sums.size, bytes, sums };
}

// ---------------------------------------------------------------------------------------------

async function readManifest(dir: string, sums: Map<string, string>): Promise<ExportManifest> {
  const path = join(dir, MANIFEST);
  const bad = (why: string): BerthError => new BerthError('INVALID_ARGUMENT', `${path}: ${why}`, { field: MANIFEST });
  if (!sums.has(MANIFEST)) throw bad(`missing (not listed in ${CHECKSUMS}); this is not a Berth export`);
  let m: Partial<ExportManifest>;
  try {
    m = JSON.parse(await readFile(path, 'utf8')) as Partial<ExportManifest>;
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${path}: not JSON (${(err as Error).message})`, { field: MANIFEST }, { cause: err });
  }
  if (m.format !== EXPORT_FORMAT) throw bad(`format ${JSON.stringify(m.format)}, expected ${EXPORT_FORMAT}; import it with the Berth that wrote it`);
  if (typeof m.schemaVersion !== 'number' || !Number.isInteger(m.schemaVersion)) throw bad('schemaVersion: expected an integer');
  if (typeof m.tables !== 'object' || m.tables === null) throw bad('tables: expected an object');
  for (const table of EXPORT_TABLE_NAMES) {
    const t = m.tables[table] as ExportManifest['tables'][ExportTable] | undefined;
    const file = `tables/${table}.jsonl`;
    if (!t || t.file !== file || typeof t.rows !== 'number') throw bad(`tables.${table}: expected { file: "${file}", rows, sha256 }`);
    if (sums.get(file) !== t.sha256) throw bad(`tables.${table}.sha256 does not match ${CHECKSUMS} for ${file}; the export is damaged`);
  }
  return m as ExportManifest;
}

/** The rows of one table file, each checked to carry exactly the table's columns. */
async function* readTableRows(dir: string, manifest: ExportManifest, table: ExportTable): AsyncGenerator<Row> {
  const path = join(dir, manifest.tables[table].file);
  const columns: readonly string[] = EXPORT_TABLES[table].columns;
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `${path} line ${n}: not JSON (${(err as Error).message})`, { field: table }, { cause: err });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new BerthError('INVALID_ARGUMENT', `${path} line ${n}: expected a row object`, { field: table });
    }
    const obj = parsed as Record<string, unknown>;
    const keys = Object.keys(obj);
    const missing = columns.filter((c) => !(c in obj));
    const extra = keys.filter((k) => !columns.includes(k));
    if (missing.length > 0 || extra.length > 0) {
      throw new BerthError('INVALID_ARGUMENT', `${path} line ${n}: expected the columns ${columns.join(', ')}; ${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unknown ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}`, { field: table });
    }
    const row: Row = {};
    for (const c of columns) {
      const v = obj[c];
      if (v !== null && typeof v !== 'string' && typeof v !== 'number') {
        throw new BerthError('INVALID_ARGUMENT', `${path} line ${n}: column ${c}: expected a string, number or null, got ${JSON.stringify(v)}`, { field: `${table}.${c}` });
      }
      row[c] = v;
    }
    yield row;
  }
}

/** A stored row in the table's column order, every column accounted for. */
function normaliseRow(table: ExportTable, raw: Record<string, unknown>): Row {
  const columns: readonly string[] = EXPORT_TABLES[table].columns;
  const unknown = Object.keys(raw).filter((k) => !columns.includes(k));
  if (unknown.length > 0) {
    // a migration added a column this module does not know: exporting without it would lose data
    throw new BerthError('INTERNAL', `table ${table} has columns the export does not know (${unknown.join(', ')}); this Berth cannot export it, update src/registry/transfer.ts`, { field: table });
  }
  const row: Row = {};
  for (const c of columns) {
    const v = raw[c];
    if (v === undefined) throw new BerthError('INTERNAL', `table ${table} has no column ${c}; the schema and the export disagree`, { field: table });
    if (typeof v === 'bigint') row[c] = Number(v);
    else if (v === null || typeof v === 'string' || typeof v === 'number') row[c] = v;
    else throw new BerthError('INTERNAL', `table ${table} column ${c}: a ${typeof v} value cannot be exported`, { field: `${table}.${c}` });
  }
  return row;
}

/** The artifacts a versions row names: the model file, its reference data and profile. */
function versionArtifacts(row: Row): string[] {
  const shas: string[] = [];
  if (typeof row['sha256'] === 'string') shas.push(row['sha256']);
  const ref = row['reference'];
  if (typeof ref === 'string') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(ref);
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `version ${String(row['model'])}@${String(row['version'])}: reference is not JSON`, { model: String(row['model']) }, { cause: err });
    }
    const r = parsed as { sha256?: unknown; profile?: { sha256?: unknown } } | null;
    if (typeof r?.sha256 === 'string') shas.push(r.sha256);
    if (typeof r?.profile?.sha256 === 'string') shas.push(r.profile.sha256);
  }
  for (const sha of shas) {
    if (!SHA256_RE.test(sha)) {
      throw new BerthError('INVALID_ARGUMENT', `version ${String(row['model'])}@${String(row['version'])} names artifact ${JSON.stringify(sha)}, which is not a sha256`, { model: String(row['model']) });
    }
  }
  return shas;
}

async function assertEmpty(db: Kysely<LooseDatabase>, from: string): Promise<void> {
  const held: string[] = [];
  for (const table of EXPORT_TABLE_NAMES) {
    const r = await db.selectFrom(table).select(sql<number | string>`count(*)`.as('n')).executeTakeFirst();
    const n = Number(r?.n ?? 0);
    if (n > 0) held.push(`${n} ${table} row${n === 1 ? '' : 's'}`);
  }
  if (held.length > 0) {
    throw new BerthError(
      'ALREADY_EXISTS',
      `the target registry is not empty (it holds ${held.join(', ')}); import ${from} into a new data dir, database or schema (merging is not supported)`,
      { field: 'target', got: held },
    );
  }
}

async function readSchemaVersion(db: Kysely<RegistryDatabase>): Promise<number> {
  const row = await db.selectFrom('berth_schema_migrations').select(sql<number | string | null>`max(version)`.as('v')).executeTakeFirst();
  return Number(row?.v ?? 0);
}

/** What `outDir` is now: absent, an empty directory, or an earlier export (only with force). */
async function checkOutDir(out: string, force: boolean): Promise<'absent' | 'empty' | 'export'> {
  let entries: string[];
  try {
    const s = await stat(out);
    if (!s.isDirectory()) throw new BerthError('ALREADY_EXISTS', `--out ${out} is a file; name a new or empty directory`, { field: 'out', got: out });
    entries = await readdir(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      await mkdir(dirname(out), { recursive: true });
      return 'absent';
    }
    throw err;
  }
  if (entries.length === 0) return 'empty';
  const isExport = await readFile(join(out, MANIFEST), 'utf8').then(
    (t) => (JSON.parse(t) as { format?: unknown }).format === EXPORT_FORMAT,
    () => false,
  );
  if (!force) {
    throw new BerthError('ALREADY_EXISTS', `--out ${out} is not empty; name a new or empty directory${isExport ? ', or add --force to replace the earlier export in it' : ''}`, { field: 'out', got: out });
  }
  if (!isExport) {
    // --force replaces an earlier export, never a directory of something else
    throw new BerthError('ALREADY_EXISTS', `--out ${out} is not empty and holds no Berth export (no ${MANIFEST} of format ${EXPORT_FORMAT}); --force only replaces an earlier export, name a new or empty directory`, {
      field: 'out',
      got: out,
    });
  }
  return 'export';
}

function artifactFile(sha: string): string {
  return `artifacts/sha256/${sha.slice(0, 2)}/${sha}`;
}

function isSafeRelative(p: string): boolean {
  if (p.startsWith('/') || p.includes('\\') || p.includes('\0')) return false;
  return p.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** Every file under `root`, as sorted posix paths relative to it. */
async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const child = rel === '' ? e.name : posix.join(rel, e.name);
      if (e.isDirectory()) await walk(child);
      else out.push(child.split(sep).join('/'));
    }
  };
  await walk('');
  return out.sort();
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function writeDurably(path: string, content: Buffer): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'wx');
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh?.close();
  }
}

const PACKAGE_VERSION: string = (() => {
  try {
    // src/registry or dist/registry → the package root
    const here = dirname(fileURLToPath(import.meta.url));
    return (JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

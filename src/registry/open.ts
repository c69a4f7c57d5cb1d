import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Clock } from '../core/index.js';
import { openEmbeddedRegistry } from './embedded.js';
import { FsArtifactStore } from './fs-artifact-store.js';
import { openArtifactStore } from './artifact-store-factory.js';
import type { ArtifactStore } from './artifact-store.js';
import type { MetadataDialect } from './metadata-store.js';
import { SCHEMA_MIGRATIONS, migrateToLatest } from './migrations.js';
import { PostgresMetadataStore } from './postgres/postgres-metadata-store.js';
import { Registry } from './registry.js';
import { SqliteMetadataStore } from './sqlite/sqlite-metadata-store.js';

/** Where a registry's metadata lives. */
export interface MetadataLocation {
  /** the data dir: `berth.db` (SQLite) lives here unless `databaseUrl` is set; artifacts always do, for now */
  dataDir: string;
  /** `postgres://…` keeps the metadata in PostgreSQL (`?schema=name` picks the schema); null or absent: SQLite in the data dir */
  databaseUrl?: string | null;
  /** `s3://bucket/prefix` keeps artifacts in S3 (downloaded once into `<dataDir>/artifact-cache`); null or absent: the data dir */
  artifactsUrl?: string | null;
}

export interface OpenRegistryOptions extends MetadataLocation {
  /** where blobs live (default: FsArtifactStore in `<dataDir>/artifacts`) */
  artifacts?: ArtifactStore;
  clock?: Clock;
  /** actor recorded when a call names none (default: the OS user) */
  defaultActor?: string;
}

/** What `migrateMetadata` did. */
export interface MigrationReport {
  dialect: MetadataDialect;
  /** the data dir's berth.db, or the database URL without its password */
  where: string;
  /** the schema PostgreSQL keeps the tables in (null for SQLite) */
  schema: string | null;
  /** the migrations applied now, oldest first (empty: already up to date) */
  applied: { version: number; name: string }[];
  /** the schema version the database is at now */
  latest: number;
}

/**
 * The metadata store for a location, not yet migrated: PostgreSQL when `databaseUrl` is set, else
 * SQLite at `<dataDir>/berth.db` (the data dir is created).
 */
export async function createMetadataStore(loc: MetadataLocation): Promise<SqliteMetadataStore | PostgresMetadataStore> {
  if (loc.databaseUrl) return new PostgresMetadataStore({ url: loc.databaseUrl });
  const dir = resolve(loc.dataDir);
  await mkdir(dir, { recursive: true });
  return new SqliteMetadataStore({ path: join(dir, 'berth.db') });
}

/**
 * Open the registry: metadata in PostgreSQL when `databaseUrl` is set, else SQLite in the data dir
 * (migrated to the latest schema either way); artifacts in `artifacts`, by default under
 * `<dataDir>/artifacts`. With neither option this is exactly `openEmbeddedRegistry(dataDir)`.
 * `close()` on the returned registry closes the metadata store.
 *
 * @example
 * const registry = await openRegistry({ dataDir: '.berth', databaseUrl: process.env.BERTH_DATABASE_URL ?? null });
 * try { console.log(await registry.listModels()); } finally { await registry.close(); }
 */
export async function openRegistry(opts: OpenRegistryOptions): Promise<Registry> {
  const common = { ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.defaultActor ? { defaultActor: opts.defaultActor } : {}) };
  if (!opts.databaseUrl && !opts.artifacts && !opts.artifactsUrl) return openEmbeddedRegistry(opts.dataDir, common);
  const dir = resolve(opts.dataDir);
  await mkdir(dir, { recursive: true });
  let artifacts = opts.artifacts ?? (opts.artifactsUrl ? openArtifactStore(opts.artifactsUrl, { dataDir: dir }) : undefined);
  if (!artifacts) {
    const fs = new FsArtifactStore(join(dir, 'artifacts'));
    await fs.removeStaleTempFiles();
    artifacts = fs;
  }
  const metadata = await createMetadataStore(opts);
  try {
    await metadata.migrate();
  } catch (err) {
    await metadata.close();
    throw err;
  }
  return new Registry({ metadata, artifacts, ...common, onClose: () => metadata.close() });
}

/**
 * Apply every pending schema migration at a location and say which (what `berth migrate` does).
 * Safe while servers run on the same database: migrations take the write lock.
 */
export async function migrateMetadata(loc: MetadataLocation): Promise<MigrationReport> {
  const store = await createMetadataStore(loc);
  try {
    const versions = store instanceof PostgresMetadataStore ? await store.applyMigrations() : await migrateToLatest(store);
    const row = await store.db
      .selectFrom('berth_schema_migrations')
      .select((eb) => eb.fn.max('version').as('v'))
      .executeTakeFirst();
    return {
      dialect: store.dialect,
      where: store instanceof PostgresMetadataStore ? store.where : store.path,
      schema: store instanceof PostgresMetadataStore ? store.schema : null,
      applied: versions.map((v) => ({ version: v, name: SCHEMA_MIGRATIONS.find((m) => m.version === v)?.name ?? '?' })),
      latest: Number(row?.v ?? 0),
    };
  } finally {
    await store.close();
  }
}

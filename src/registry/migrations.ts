import { sql, type Kysely, type RawBuilder } from 'kysely';
import { BerthError } from '../core/index.js';
import { hashAuditRow } from './audit-chain.js';
import type { MetadataDialect, MetadataStore, RegistryDatabase } from './metadata-store.js';

/**
 * One forward-only schema change. `up` runs inside the migration transaction, so a failed
 * migration leaves the schema as it was (DDL is transactional in SQLite and PostgreSQL).
 */
export interface SchemaMigration {
  version: number;
  name: string;
  up(db: Kysely<RegistryDatabase>, dialect: MetadataDialect): Promise<void>;
}

/**
 * Text columns: PostgreSQL compares them with the "C" collation, byte by byte as SQLite does, so
 * names and aliases sort the same on both (a database's default collation, often en_US, would sort
 * case and punctuation differently). No PostgreSQL registry predates this.
 */
function textType(dialect: MetadataDialect): 'text' | RawBuilder<unknown> {
  return dialect === 'postgres' ? sql`text collate "C"` : 'text';
}

/** The schema, in order. Append; never edit a released migration. */
export const SCHEMA_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    name: 'registry',
    async up(db, dialect) {
      const text = textType(dialect);
      const idType = dialect === 'postgres' ? 'bigserial' : 'integer';
      await db.schema
        .createTable('models')
        .addColumn('name', text, (c) => c.primaryKey())
        .addColumn('description', text)
        .addColumn('tags', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('versions')
        .addColumn('model', text, (c) => c.notNull().references('models.name'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('sha256', text, (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('signature', text, (c) => c.notNull())
        .addColumn('card', text)
        .addColumn('lineage', text, (c) => c.notNull())
        .addColumn('tags', text, (c) => c.notNull())
        .addColumn('description', text)
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('source_path', text, (c) => c.notNull())
        .addColumn('reference', text)
        .addPrimaryKeyConstraint('versions_pk', ['model', 'version'])
        .addUniqueConstraint('versions_model_sha256_unique', ['model', 'sha256'])
        .execute();

      await db.schema
        .createTable('aliases')
        .addColumn('model', text, (c) => c.notNull())
        .addColumn('alias', text, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('aliases_pk', ['model', 'alias'])
        .addForeignKeyConstraint('aliases_version_fk', ['model', 'version'], 'versions', ['model', 'version'])
        .execute();

      await db.schema
        .createTable('alias_history')
        .addColumn('id', idType, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('model', text, (c) => c.notNull())
        .addColumn('alias', text, (c) => c.notNull())
        .addColumn('version', 'integer')
        .addColumn('previous_version', 'integer')
        .addColumn('change', text, (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('alias_history_model_alias_at').on('alias_history').columns(['model', 'alias', 'at']).execute();

      await db.schema
        .createTable('deployments')
        .addColumn('name', text, (c) => c.primaryKey())
        .addColumn('model', text, (c) => c.notNull().references('models.name'))
        .addColumn('target', text, (c) => c.notNull())
        .addColumn('settings', text, (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('deployment_history')
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('model', text, (c) => c.notNull())
        .addColumn('target', text, (c) => c.notNull())
        .addColumn('settings', text, (c) => c.notNull())
        .addColumn('change', text, (c) => c.notNull())
        .addColumn('deleted', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('deployment_history_pk', ['name', 'revision'])
        .execute();
      await db.schema.createIndex('deployment_history_name_at').on('deployment_history').columns(['name', 'at']).execute();

      await db.schema
        .createTable('audit')
        .addColumn('id', idType, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .addColumn('action', text, (c) => c.notNull())
        .addColumn('target', text, (c) => c.notNull())
        .addColumn('model', text)
        .addColumn('details', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_at').on('audit').column('at').execute();
      await db.schema.createIndex('audit_target').on('audit').column('target').execute();
      await db.schema.createIndex('audit_model').on('audit').column('model').execute();
    },
  },
  {
    version: 2,
    name: 'traffic-and-rollouts',
    async up(db, dialect) {
      const text = textType(dialect);
      const idType = dialect === 'postgres' ? 'bigserial' : 'integer';
      await db.schema.alterTable('deployments').addColumn('traffic', text).execute();
      await db.schema.alterTable('deployment_history').addColumn('traffic', text).execute();
      await db.schema
        .createTable('rollouts')
        .addColumn('id', idType, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('deployment', text, (c) => c.notNull())
        .addColumn('model', text, (c) => c.notNull())
        .addColumn('from_version', 'integer', (c) => c.notNull())
        .addColumn('to_version', 'integer', (c) => c.notNull())
        .addColumn('strategy', text, (c) => c.notNull())
        .addColumn('spec', text, (c) => c.notNull())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('step_started_at', 'bigint', (c) => c.notNull())
        .addColumn('next_at', 'bigint')
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('reason', text)
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addColumn('actor', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rollouts_deployment').on('rollouts').columns(['deployment', 'id']).execute();
      await db.schema
        .createTable('rollout_decisions')
        .addColumn('id', idType, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('rollout_id', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('kind', text, (c) => c.notNull())
        .addColumn('verdict', text)
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('details', text, (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rollout_decisions_rollout').on('rollout_decisions').columns(['rollout_id', 'id']).execute();
    },
  },
  {
    version: 3,
    name: 'tokens',
    async up(db, dialect) {
      const text = textType(dialect);
      await db.schema
        .createTable('tokens')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('hash', text, (c) => c.notNull())
        .addColumn('scopes', text, (c) => c.notNull())
        .addColumn('rate_limit', text)
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoked_by', text)
        .addColumn('last_used_at', 'bigint')
        .execute();
    },
  },
  {
    version: 4,
    name: 'audit-source-and-chain',
    async up(db, dialect) {
      const text = textType(dialect);
      // where a change came from, and a hash chain over every row so an edited or removed row shows
      await db.schema.alterTable('audit').addColumn('source', text).execute();
      await db.schema.alterTable('audit').addColumn('prev_hash', text).execute();
      await db.schema.alterTable('audit').addColumn('hash', text).execute();
      await chainAuditRows(db);
    },
  },
  {
    version: 5,
    name: 'artifact-signatures',
    async up(db, dialect) {
      const text = textType(dialect);
      await db.schema
        .createTable('artifact_signatures')
        .addColumn('model', text, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('key_id', text, (c) => c.notNull())
        .addColumn('algorithm', text, (c) => c.notNull())
        .addColumn('signature', text, (c) => c.notNull())
        .addColumn('signed_at', 'bigint', (c) => c.notNull())
        .addColumn('signed_by', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('artifact_signatures_pk', ['model', 'version', 'key_id'])
        .execute();
    },
  },
  {
    version: 6,
    name: 'leases',
    async up(db, dialect) {
      // one holder at a time per name (the rollout leader among replicas), until `expires_at`
      const text = textType(dialect);
      await db.schema
        .createTable('leases')
        .addColumn('name', text, (c) => c.primaryKey())
        .addColumn('holder', text, (c) => c.notNull())
        .addColumn('acquired_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  {
    version: 7,
    name: 'rollout-windows',
    async up(db, dialect) {
      // each replica's numbers for a rollout step (its window), so the leader judges all traffic
      const text = textType(dialect);
      await db.schema
        .createTable('rollout_windows')
        .addColumn('deployment', text, (c) => c.notNull())
        .addColumn('epoch', text, (c) => c.notNull())
        .addColumn('replica', text, (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('body', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('rollout_windows_pk', ['deployment', 'epoch', 'replica'])
        .execute();
    },
  },
  {
    version: 8,
    name: 'feedback',
    async up(db, dialect) {
      // ground truth for answered requests, where every replica can read it (it lived in each data dir's monitor.db)
      const text = textType(dialect);
      await db.schema
        .createTable('feedback')
        .addColumn('deployment', text, (c) => c.notNull())
        .addColumn('request_id', text, (c) => c.notNull())
        .addColumn('row', 'integer', (c) => c.notNull())
        .addColumn('label', text, (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('feedback_pk', ['deployment', 'request_id', 'row'])
        .execute();
      await db.schema.createIndex('feedback_received').on('feedback').columns(['deployment', 'received_at']).execute();
    },
  },
  {
    version: 9,
    name: 'jobs-and-schedules',
    async up(db, dialect) {
      // batch jobs run by the server (any replica lists them; the one running a job holds its lease),
      // their log lines, and the cron schedules that submit them
      const text = textType(dialect);
      const idType = dialect === 'postgres' ? 'bigserial' : 'integer';
      await db.schema
        .createTable('jobs')
        .addColumn('id', idType, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('kind', text, (c) => c.notNull())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('model', text, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('ref', text, (c) => c.notNull())
        .addColumn('spec', text, (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('holder', text)
        .addColumn('lease_until', 'bigint')
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('cancel_requested', 'integer', (c) => c.notNull())
        .addColumn('progress', text)
        .addColumn('summary', text)
        .addColumn('error', text)
        .addColumn('schedule', text)
        .addColumn('scheduled_at', 'bigint')
        .execute();
      await db.schema.createIndex('jobs_state').on('jobs').columns(['state', 'id']).execute();
      await db.schema.createIndex('jobs_schedule').on('jobs').columns(['schedule', 'id']).execute();
      await db.schema
        .createTable('job_logs')
        .addColumn('job_id', 'bigint', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('level', text, (c) => c.notNull())
        .addColumn('message', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('job_logs_pk', ['job_id', 'seq'])
        .execute();
      await db.schema
        .createTable('schedules')
        .addColumn('name', text, (c) => c.primaryKey())
        .addColumn('cron', text, (c) => c.notNull())
        .addColumn('timezone', text, (c) => c.notNull())
        .addColumn('missed', text, (c) => c.notNull())
        .addColumn('spec', text, (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .addColumn('last_scheduled_at', 'bigint')
        .addColumn('next_at', 'bigint', (c) => c.notNull())
        .addColumn('last_job', 'bigint')
        .execute();
    },
  },
  {
    version: 10,
    name: 'pipelines',
    async up(db, dialect) {
      // continuous training: pipeline definitions (versioned), their runs and steps with leases,
      // run logs, tracked metrics, data fingerprints, the step cache and trigger state
      const text = textType(dialect);
      const idType = dialect === 'postgres' ? 'bigserial' : 'integer';
      await db.schema
        .createTable('pipelines')
        .addColumn('name', text, (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('spec', text, (c) => c.notNull())
        .addColumn('source', text, (c) => c.notNull())
        .addColumn('sha256', text, (c) => c.notNull())
        .addColumn('workdir', text, (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('pipeline_versions')
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('source', text, (c) => c.notNull())
        .addColumn('sha256', text, (c) => c.notNull())
        .addColumn('workdir', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('pipeline_versions_pk', ['name', 'version'])
        .execute();
      await db.schema
        .createTable('pipeline_runs')
        .addColumn('id', idType, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('pipeline', text, (c) => c.notNull())
        .addColumn('pipeline_version', 'integer')
        .addColumn('spec', text, (c) => c.notNull())
        .addColumn('source_sha256', text, (c) => c.notNull())
        .addColumn('params', text, (c) => c.notNull())
        .addColumn('trigger', text, (c) => c.notNull())
        .addColumn('workdir', text, (c) => c.notNull())
        .addColumn('code', text)
        .addColumn('mode', text, (c) => c.notNull())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('holder', text)
        .addColumn('lease_until', 'bigint')
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('cancel_requested', 'integer', (c) => c.notNull())
        .addColumn('error', text)
        .addColumn('result', text)
        .execute();
      await db.schema.createIndex('pipeline_runs_state').on('pipeline_runs').columns(['state', 'id']).execute();
      await db.schema.createIndex('pipeline_runs_pipeline').on('pipeline_runs').columns(['pipeline', 'id']).execute();
      await db.schema
        .createTable('pipeline_steps')
        .addColumn('run_id', 'bigint', (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('cache_key', text)
        .addColumn('cached_from', 'bigint')
        .addColumn('outputs', text)
        .addColumn('result', text)
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('exit_code', 'integer')
        .addColumn('error', text)
        .addPrimaryKeyConstraint('pipeline_steps_pk', ['run_id', 'name'])
        .execute();
      await db.schema
        .createTable('pipeline_logs')
        .addColumn('run_id', 'bigint', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('step', text, (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('stream', text, (c) => c.notNull())
        .addColumn('line', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('pipeline_logs_pk', ['run_id', 'seq'])
        .execute();
      await db.schema
        .createTable('run_metrics')
        .addColumn('run_id', 'bigint', (c) => c.notNull())
        .addColumn('step', text, (c) => c.notNull())
        .addColumn('key', text, (c) => c.notNull())
        .addColumn('value', 'double precision', (c) => c.notNull())
        .addColumn('metric_step', 'bigint')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('run_metrics_run').on('run_metrics').columns(['run_id', 'key']).execute();
      await db.schema
        .createTable('run_datasets')
        .addColumn('run_id', 'bigint', (c) => c.notNull())
        .addColumn('step', text, (c) => c.notNull())
        .addColumn('path', text, (c) => c.notNull())
        .addColumn('sha256', text, (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_datasets_pk', ['run_id', 'step', 'path'])
        .execute();
      await db.schema.createIndex('run_datasets_sha').on('run_datasets').columns(['sha256']).execute();
      await db.schema
        .createTable('pipeline_cache')
        .addColumn('cache_key', text, (c) => c.primaryKey())
        .addColumn('pipeline', text, (c) => c.notNull())
        .addColumn('step', text, (c) => c.notNull())
        .addColumn('run_id', 'bigint', (c) => c.notNull())
        .addColumn('outputs', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('pipeline_triggers')
        .addColumn('pipeline', text, (c) => c.notNull())
        .addColumn('trigger_id', text, (c) => c.notNull())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('pipeline_triggers_pk', ['pipeline', 'trigger_id'])
        .execute();
    },
  },
];

/**
 * Hash-chain the audit rows written before the chain existed, in id order, a page at a time. Their
 * `source` stays null (it was never recorded). Rows older than the migration are vouched for only
 * from here on: the chain shows later tampering, not what happened to them before.
 */
async function chainAuditRows(db: Kysely<RegistryDatabase>): Promise<void> {
  const PAGE = 1000;
  let prevHash: string | null = null;
  let lastId = 0;
  for (;;) {
    const page = await db
      .selectFrom('audit')
      .select(['id', 'at', 'actor', 'action', 'target', 'model', 'details'])
      .where('id', '>', lastId)
      .orderBy('id', 'asc')
      .limit(PAGE)
      .execute();
    for (const r of page) {
      const id = Number(r.id);
      const row = { id, at: Number(r.at), actor: r.actor, action: r.action, target: r.target, model: r.model, details: r.details, source: null };
      let hash: string;
      try {
        hash = hashAuditRow(prevHash, row);
      } catch (err) {
        throw new BerthError('INVALID_CONFIG', `audit row ${id} has details that are not JSON, so the audit chain cannot be built; repair or remove that row and start again`, { got: id }, { cause: err });
      }
      await db.updateTable('audit').set({ prev_hash: prevHash, hash, source: null }).where('id', '=', id).execute();
      prevHash = hash;
      lastId = id;
    }
    if (page.length < PAGE) return;
  }
}

/**
 * Apply every pending migration in one write transaction. Concurrent starters serialise on the
 * store's write lock, so the second one finds nothing left to do. A database written by a newer
 * Berth is refused rather than misread.
 */
export async function migrateToLatest(
  store: MetadataStore,
  migrations: readonly SchemaMigration[] = SCHEMA_MIGRATIONS,
  now: () => number = Date.now,
): Promise<number[]> {
  const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
  return store.transaction(async (trx) => {
    await trx.schema
      .createTable('berth_schema_migrations')
      .ifNotExists()
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('applied_at', 'bigint', (c) => c.notNull())
      .execute();
    const row = await trx
      .selectFrom('berth_schema_migrations')
      .select(sql<number | string | null>`max(version)`.as('v'))
      .executeTakeFirst();
    const current = Number(row?.v ?? 0);
    if (current > latest) {
      throw new BerthError(
        'INVALID_CONFIG',
        `the metadata database has schema version ${current}, newer than this Berth understands (${latest}): ` +
          'upgrade Berth, or point it at a data directory written by this version',
        { expected: latest, got: current },
      );
    }
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (m.version <= current) continue;
      await m.up(trx, store.dialect);
      await trx.insertInto('berth_schema_migrations').values({ version: m.version, name: m.name, applied_at: now() }).execute();
      applied.push(m.version);
    }
    return applied;
  });
}

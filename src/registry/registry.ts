import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { sql, type Kysely, type Selectable } from 'kysely';
import {
  BerthError,
  ModelRef,
  assertName,
  currentRequestContext,
  systemClock,
  type Clock,
  type Lineage,
  type ModelCard,
  type Signature,
} from '../core/index.js';
import type { ArtifactStore } from './artifact-store.js';
import { checkAuditRow, hashAuditRow, type AuditChainRow } from './audit-chain.js';
import { mergeCardIntoSignature } from './card.js';
import { policyVersions, sameSettings, sameTarget, sameTraffic, validateDeploymentSettings, validateDeploymentTarget, validateTrafficPolicy } from './deployment-settings.js';
import { currentUserName, readGitInfo } from './lineage.js';
import type {
  AliasHistoryTable,
  AuditTable,
  DeploymentHistoryTable,
  DeploymentsTable,
  MetadataStore,
  ModelsTable,
  RegistryDatabase,
  TokensTable,
  VersionsTable,
} from './metadata-store.js';
import {
  AUDIT_ACTIONS,
  auditActionsMatching,
  type AliasChange,
  type AliasHistoryEntry,
  type AuditAction,
  type AuditEntry,
  type AuditVerification,
  type DeploymentChange,
  type DeploymentHistoryEntry,
  type DeploymentRecord,
  type DeploymentSettings,
  type DeploymentTarget,
  type TrafficPolicy,
  type FeedbackRecord,
  type ModelRecord,
  type ReferenceDataRecord,
  type RegistryChange,
  type Tags,
  type TokenRecord,
  type VersionRecord,
} from './records.js';
import { countCsvRows } from './reference-data.js';
import { checkSignatureInput, selectSignatures, upsertSignature, type AddSignatureInput, type ArtifactSignatureRecord } from './signatures.js';

type Db = Kysely<RegistryDatabase>;

export interface RegistryOptions {
  metadata: MetadataStore;
  artifacts: ArtifactStore;
  clock?: Clock;
  /** actor recorded when a call names none (default: the OS user name, else "unknown") */
  defaultActor?: string;
  /** run by `close()`: release what the registry owns (the embedded factory closes its stores) */
  onClose?: () => Promise<void>;
  /** cap on each git call while collecting lineage (ms) */
  gitTimeoutMs?: number;
}

/** Arguments of `Registry.registerVersion`. */
export interface RegisterVersionInput {
  /** model name; the model is created on its first version */
  name: string;
  /** the model file (ONNX) */
  filePath: string;
  card?: ModelCard;
  /** reference (training) data CSV, stored beside the version for monitoring */
  referencePath?: string;
  description?: string;
  /** version tags, over the card's tags */
  tags?: Tags;
  actor?: string;
  /**
   * Where the file came from, when `filePath` is a copy (an upload over the management API):
   * recorded as the version's source path instead of `filePath`.
   */
  sourcePath?: string;
  /** lineage facts the caller already knows (a remote client's git commit); they win over what is found here */
  lineage?: Partial<Lineage>;
  /**
   * Read the model's signature from its bytes; throws INVALID_MODEL for files the runtime cannot
   * load. Injected so the registry stays below the runtime layer.
   */
  inspect: (bytes: Uint8Array) => Promise<Signature>;
}

/** `created: false` means these exact bytes were already a version of the model, returned as is. */
export interface RegisterVersionResult {
  created: boolean;
  version: VersionRecord;
}

/** Result of an alias move; `changed: false` when it already pointed there (nothing was recorded). */
export interface AliasMoveResult {
  model: string;
  alias: string;
  version: number;
  previousVersion: number | null;
  changed: boolean;
}

/** Arguments of `Registry.deploy`. */
export interface DeployInput {
  name: string;
  model: string;
  target: DeploymentTarget;
  /** replaces the settings when given; kept from the current revision when omitted */
  settings?: DeploymentSettings;
  /**
   * how traffic spreads beyond the target; null clears it. Omitted: kept while the target stays,
   * cleared when the target changes (a policy is about the versions around one target).
   */
  traffic?: TrafficPolicy | null;
  /** the history entry's kind for an update (`fallback` when a circuit breaker moved traffic) */
  change?: 'update' | 'fallback';
  actor?: string;
}

/** `changed: false` when the deployment already looked exactly like this (no new revision). */
export interface DeployResult {
  deployment: DeploymentRecord;
  created: boolean;
  changed: boolean;
}

/** A deployment with the version it serves right now. */
export interface ResolvedDeploymentRecord {
  deployment: DeploymentRecord;
  version: VersionRecord;
}

/** What a deployment looked like at a moment, and the version it resolved to then. */
export interface DeploymentAtResult {
  deployment: DeploymentHistoryEntry;
  /** the version served then (alias targets resolved through the alias history); null if unknown */
  version: number | null;
}

/** Filters of `Registry.audit`; entries come newest first unless `order` is `asc`. */
export interface AuditQuery {
  /** most entries to return (default 100, at most 10 000) */
  limit?: number;
  /** only entries at or after this time (epoch ms) */
  since?: number;
  /** only entries before this time (epoch ms) */
  until?: number;
  /** only entries with a higher id (for polling, and for paging with `order: 'asc'`) */
  afterId?: number;
  /** exact target, e.g. `alias:fraud@production` */
  target?: string;
  /** entries concerning this model (its versions, aliases, tags and the deployments serving it) */
  model?: string;
  /** an action (`alias.set`) or a prefix of actions (`deployment`, `deployment.`, `version.tags`) */
  action?: string;
  /** `desc` (default): newest first; `asc`: oldest first, the chain's order (export) */
  order?: 'asc' | 'desc';
}

/** Rows read per query by `verifyAudit` and exports, so a long log never sits in memory at once. */
export const AUDIT_PAGE_ROWS = 1000;

const MAX_TAGS = 64;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 1024;
const MAX_DESCRIPTION = 16 * 1024;

/**
 * The model registry: models, their immutable versions, aliases, deployments and the audit log.
 * Every change is one transaction that also writes its history and audit rows; listeners hear
 * of it only after it committed.
 *
 * @example
 * const registry = await openEmbeddedRegistry('.berth');
 * const { version } = await registry.registerVersion({ name: 'fraud', filePath: 'model.onnx', inspect });
 * await registry.setAlias('fraud', 'production', version.version);
 * await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'alias', alias: 'production' } });
 */
export class Registry {
  readonly metadata: MetadataStore;
  readonly artifacts: ArtifactStore;
  private readonly clock: Clock;
  private readonly defaultActor: string;
  private readonly onClose: (() => Promise<void>) | undefined;
  private readonly gitTimeoutMs: number;
  private readonly listeners = new Set<(e: RegistryChange) => void>();
  private closed = false;

  constructor(options: RegistryOptions) {
    this.metadata = options.metadata;
    this.artifacts = options.artifacts;
    this.clock = options.clock ?? systemClock;
    this.defaultActor = options.defaultActor ?? currentUserName() ?? 'unknown';
    this.onClose = options.onClose;
    this.gitTimeoutMs = options.gitTimeoutMs ?? 2000;
  }

  // -------------------------------------------------------------------------------------------
  // versions

  /**
   * Register a model file as the next version of `name`. Nothing is written unless the file is
   * readable, non-empty, loadable (`inspect`) and fits its card. Registering bytes the model
   * already has returns that version with `created: false` (and repairs its blob if it rotted).
   */
  async registerVersion(input: RegisterVersionInput): Promise<RegisterVersionResult> {
    const name = assertName('model', input.name);
    const actor = this.actorOf(input.actor);
    if (typeof input.filePath !== 'string' || input.filePath === '') {
      throw new BerthError('INVALID_ARGUMENT', `filePath: expected the path of a model file, got ${JSON.stringify(input.filePath)}`, {
        field: 'filePath',
      });
    }
    const tags = validateTags({ ...input.card?.tags, ...input.tags });
    const description = validateDescription(input.description);
    const filePath = resolvePath(input.filePath);
    const sourcePath = input.sourcePath ?? filePath;
    const bytes = await readModelFile(filePath);
    const sha256 = createHash('sha256').update(bytes).digest('hex');

    const existing = await findVersionBySha(this.metadata.db, name, sha256);
    if (existing) {
      await this.putArtifact(filePath, sha256);
      return { created: false, version: toVersionRecord(existing) };
    }

    const referencePath = input.referencePath === undefined ? undefined : resolvePath(input.referencePath);
    const referenceRows = referencePath === undefined ? undefined : await readReferenceRows(referencePath);
    const rawSignature = await input.inspect(bytes);
    const signature = mergeCardIntoSignature(rawSignature, input.card);
    const lineage = input.lineage
      ? { ...(await this.collectLineage(filePath, input.card, actor, input.sourcePath === undefined)), ...input.lineage, sourcePath }
      : await this.collectLineage(filePath, input.card, actor, true);
    lineage.sourcePath = sourcePath;

    await this.putArtifact(filePath, sha256);
    let reference: ReferenceDataRecord | null = null;
    if (referencePath !== undefined && referenceRows !== undefined) {
      const stored = await this.artifacts.put(referencePath);
      reference = { sha256: stored.sha256, sizeBytes: stored.sizeBytes, fileName: basename(referencePath), rows: referenceRows };
    }

    const now = this.clock.now();
    const result = await this.metadata.transaction(async (trx) => {
      const dup = await findVersionBySha(trx, name, sha256);
      if (dup) return { created: false, row: dup };
      const model = await trx.selectFrom('models').select('name').where('name', '=', name).executeTakeFirst();
      if (model) {
        await trx.updateTable('models').set({ updated_at: now }).where('name', '=', name).execute();
      } else {
        await trx.insertInto('models').values({ name, description: null, tags: '{}', created_at: now, updated_at: now }).execute();
      }
      const version = (await maxVersion(trx, name)) + 1;
      const row: Selectable<VersionsTable> = {
        model: name,
        version,
        sha256,
        size_bytes: bytes.length,
        signature: JSON.stringify(signature),
        card: input.card ? JSON.stringify(input.card) : null,
        lineage: JSON.stringify(lineage),
        tags: JSON.stringify(tags),
        description,
        created_at: now,
        created_by: actor,
        source_path: sourcePath,
        reference: reference ? JSON.stringify(reference) : null,
      };
      await trx.insertInto('versions').values(row).execute();
      await writeAudit(trx, now, actor, 'version.register', `version:${name}@${version}`, name, {
        sha256,
        sizeBytes: bytes.length,
        sourcePath,
        modelCreated: !model,
        ...(reference ? { reference: reference.sha256 } : {}),
      });
      return { created: true, row };
    });
    if (result.created) this.emit({ kind: 'version', name, version: result.row.version });
    return { created: result.created, version: toVersionRecord(result.row) };
  }

  /** Every model, by name, with its latest version and aliases. */
  async listModels(): Promise<ModelRecord[]> {
    const db = this.metadata.db;
    const models = await db.selectFrom('models').selectAll().orderBy('name').execute();
    const stats = await db
      .selectFrom('versions')
      .select(['model', sql<number>`max(version)`.as('latest'), sql<number>`count(*)`.as('count')])
      .groupBy('model')
      .execute();
    const aliases = await db.selectFrom('aliases').select(['model', 'alias', 'version']).orderBy('alias').execute();
    const statsBy = new Map(stats.map((s) => [s.model, s]));
    return models.map((m) => {
      const s = statsBy.get(m.name);
      const own = aliases.filter((a) => a.model === m.name);
      return toModelRecord(m, s ? Number(s.latest) : null, s ? Number(s.count) : 0, own);
    });
  }

  /** One model; MODEL_NOT_FOUND when there is none by that name. */
  async getModel(name: string): Promise<ModelRecord> {
    const db = this.metadata.db;
    const m = await requireModel(db, name);
    const s = await db
      .selectFrom('versions')
      .select([sql<number | null>`max(version)`.as('latest'), sql<number>`count(*)`.as('count')])
      .where('model', '=', m.name)
      .executeTakeFirst();
    const aliases = await db.selectFrom('aliases').select(['model', 'alias', 'version']).where('model', '=', m.name).orderBy('alias').execute();
    return toModelRecord(m, s?.latest == null ? null : Number(s.latest), Number(s?.count ?? 0), aliases);
  }

  /** A model's versions, oldest first. */
  async listVersions(name: string): Promise<VersionRecord[]> {
    const db = this.metadata.db;
    await requireModel(db, name);
    const rows = await db.selectFrom('versions').selectAll().where('model', '=', name).orderBy('version').execute();
    return rows.map(toVersionRecord);
  }

  /** One version; MODEL_NOT_FOUND or VERSION_NOT_FOUND. */
  async getVersion(name: string, version: number): Promise<VersionRecord> {
    return toVersionRecord(await requireVersion(this.metadata.db, name, version));
  }

  /** Resolve `name` (latest), `name@3` or `name@production` to a version. */
  async resolve(ref: ModelRef | string): Promise<VersionRecord> {
    const r = typeof ref === 'string' ? ModelRef.parse(ref) : ref;
    const db = this.metadata.db;
    const sel = r.selector;
    if (sel.kind === 'version') return this.getVersion(r.name, sel.version);
    await requireModel(db, r.name);
    if (sel.kind === 'alias' && sel.alias !== 'latest') {
      const alias = await db.selectFrom('aliases').select('version').where('model', '=', r.name).where('alias', '=', sel.alias).executeTakeFirst();
      if (!alias) throw await aliasNotFound(db, r.name, sel.alias);
      return this.getVersion(r.name, alias.version);
    }
    const latest = await maxVersion(db, r.name);
    return this.getVersion(r.name, latest);
  }

  /** The version of `name` with these exact bytes, or null. */
  async findVersionBySha(name: string, sha256: string): Promise<VersionRecord | null> {
    const row = await findVersionBySha(this.metadata.db, assertName('model', name), sha256.toLowerCase());
    return row ? toVersionRecord(row) : null;
  }

  // -------------------------------------------------------------------------------------------
  // aliases

  /** Point `alias` at `version` (which must exist). A move to where it already points records nothing. */
  async setAlias(name: string, alias: string, version: number, actor?: string): Promise<AliasMoveResult> {
    assertName('model', name);
    assertAliasName(alias);
    const who = this.actorOf(actor);
    const now = this.clock.now();
    const result = await this.metadata.transaction(async (trx) => {
      await requireVersion(trx, name, version);
      const current = await trx.selectFrom('aliases').select('version').where('model', '=', name).where('alias', '=', alias).executeTakeFirst();
      const previous = current?.version ?? null;
      if (previous === version) return { model: name, alias, version, previousVersion: previous, changed: false };
      await moveAlias(trx, now, who, name, alias, version, previous, 'set');
      return { model: name, alias, version, previousVersion: previous, changed: true };
    });
    if (result.changed) this.emit({ kind: 'alias', name, alias, version });
    return result;
  }

  /**
   * Remove an alias. Refused while a deployment serves through it: move or delete the deployment
   * first, so removing a name never silently takes an endpoint down.
   */
  async deleteAlias(name: string, alias: string, actor?: string): Promise<void> {
    assertName('model', name);
    assertAliasName(alias);
    const who = this.actorOf(actor);
    const now = this.clock.now();
    await this.metadata.transaction(async (trx) => {
      await requireModel(trx, name);
      const current = await trx.selectFrom('aliases').select('version').where('model', '=', name).where('alias', '=', alias).executeTakeFirst();
      if (!current) throw await aliasNotFound(trx, name, alias);
      const users = (await trx.selectFrom('deployments').selectAll().where('model', '=', name).execute())
        .filter((d) => {
          const t = parseJson<DeploymentTarget>(d.target);
          return t.kind === 'alias' && t.alias === alias;
        })
        .map((d) => d.name);
      if (users.length > 0) {
        throw new BerthError(
          'INVALID_ARGUMENT',
          `alias "${alias}" of model "${name}" is served by deployment(s) ${users.join(', ')}: ` +
            'redeploy them to another alias or version (or delete them) before deleting the alias',
          { model: name, field: 'alias', got: alias, deployments: users },
        );
      }
      await trx.deleteFrom('aliases').where('model', '=', name).where('alias', '=', alias).execute();
      await trx
        .insertInto('alias_history')
        .values({ model: name, alias, version: null, previous_version: current.version, change: 'delete', at: now, actor: who })
        .execute();
      await trx.updateTable('models').set({ updated_at: now }).where('name', '=', name).execute();
      await writeAudit(trx, now, who, 'alias.delete', `alias:${name}@${alias}`, name, { previousVersion: current.version });
    });
    this.emit({ kind: 'alias', name, alias });
  }

  /** Every move of a model's aliases (or of one alias), newest first. */
  async aliasHistory(name: string, alias?: string): Promise<AliasHistoryEntry[]> {
    const db = this.metadata.db;
    await requireModel(db, name);
    let q = db.selectFrom('alias_history').selectAll().where('model', '=', name);
    if (alias !== undefined) q = q.where('alias', '=', alias);
    const rows = await q.orderBy('id', 'desc').execute();
    return rows.map(toAliasHistoryEntry);
  }

  /** The version `alias` pointed at, at `atMs` (epoch ms); null if it did not exist then. */
  async aliasAt(name: string, alias: string, atMs: number): Promise<number | null> {
    const db = this.metadata.db;
    await requireModel(db, name);
    const row = await db
      .selectFrom('alias_history')
      .select('version')
      .where('model', '=', name)
      .where('alias', '=', alias)
      .where('at', '<=', atMs)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.version ?? null;
  }

  /**
   * Undo the alias's latest change: point it back where it pointed before (a deleted alias comes
   * back). Rolling back twice returns to where it started.
   */
  async rollbackAlias(name: string, alias: string, actor?: string): Promise<AliasMoveResult> {
    assertName('model', name);
    assertAliasName(alias);
    const who = this.actorOf(actor);
    const now = this.clock.now();
    const result = await this.metadata.transaction(async (trx) => {
      await requireModel(trx, name);
      const last = await trx
        .selectFrom('alias_history')
        .selectAll()
        .where('model', '=', name)
        .where('alias', '=', alias)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (!last) {
        throw new BerthError('VERSION_NOT_FOUND', `alias "${alias}" of model "${name}" has never been set, so there is nothing to roll back`, {
          model: name,
          field: 'alias',
          got: alias,
        });
      }
      if (last.previous_version === null) {
        throw new BerthError(
          'INVALID_ARGUMENT',
          `alias "${alias}" of model "${name}" was created by its latest change (${iso(Number(last.at))}, version ${last.version}) ` +
            'and pointed nowhere before; delete it instead of rolling it back',
          { model: name, field: 'alias', got: alias },
        );
      }
      const target = last.previous_version;
      await requireVersion(trx, name, target);
      await moveAlias(trx, now, who, name, alias, target, last.version, 'rollback');
      return { model: name, alias, version: target, previousVersion: last.version, changed: true };
    });
    this.emit({ kind: 'alias', name, alias, version: result.version });
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // tags and descriptions (the only mutable parts of models and versions)

  /** Add or overwrite model tags; returns all of the model's tags. */
  async setModelTags(name: string, tags: Tags, actor?: string): Promise<Tags> {
    const add = validateTags(tags);
    return this.updateModel(name, actor, 'model.tags.set', (m) => ({ tags: { ...parseJson<Tags>(m.tags), ...add }, details: { set: add, before: parseJson<Tags>(m.tags), after: { ...parseJson<Tags>(m.tags), ...add } } }));
  }

  /** Remove one model tag; returns the remaining tags. Removing an absent tag records nothing. */
  async deleteModelTag(name: string, key: string, actor?: string): Promise<Tags> {
    return this.updateModel(name, actor, 'model.tags.delete', (m) => {
      const tags = parseJson<Tags>(m.tags);
      if (!(key in tags)) return null;
      delete tags[key];
      return { tags, details: { key, before: parseJson<Tags>(m.tags), after: tags } };
    });
  }

  /** Set (or with null clear) the model's description. */
  async setModelDescription(name: string, description: string | null, actor?: string): Promise<ModelRecord> {
    const d = validateDescription(description);
    await this.updateModel(name, actor, 'model.describe', (m) => ({ description: d, details: { description: d, before: { description: m.description }, after: { description: d } } }));
    return this.getModel(name);
  }

  /** Add or overwrite version tags; returns all of the version's tags. */
  async setVersionTags(name: string, version: number, tags: Tags, actor?: string): Promise<Tags> {
    const add = validateTags(tags);
    const v = await this.updateVersion(name, version, actor, 'version.tags.set', (row) => ({
      tags: { ...parseJson<Tags>(row.tags), ...add },
      details: { set: add, before: parseJson<Tags>(row.tags), after: { ...parseJson<Tags>(row.tags), ...add } },
    }));
    return v.tags;
  }

  /** Remove one version tag; returns the remaining tags. */
  async deleteVersionTag(name: string, version: number, key: string, actor?: string): Promise<Tags> {
    const v = await this.updateVersion(name, version, actor, 'version.tags.delete', (row) => {
      const tags = parseJson<Tags>(row.tags);
      if (!(key in tags)) return null;
      delete tags[key];
      return { tags, details: { key, before: parseJson<Tags>(row.tags), after: tags } };
    });
    return v.tags;
  }

  /** Set (or with null clear) a version's description. */
  async setVersionDescription(name: string, version: number, description: string | null, actor?: string): Promise<VersionRecord> {
    const d = validateDescription(description);
    return this.updateVersion(name, version, actor, 'version.describe', (row) => ({ description: d, details: { description: d, before: { description: row.description }, after: { description: d } } }));
  }

  /**
   * Attach reference data (and its profile) to a version, replacing any earlier one. The files must
   * already be artifacts (`artifacts.put`); the version's model bytes never change.
   */
  async setReference(name: string, version: number, reference: ReferenceDataRecord, actor?: string): Promise<VersionRecord> {
    for (const sha of [reference.sha256, ...(reference.profile ? [reference.profile.sha256] : []), ...(reference.background ? [reference.background.sha256] : [])]) {
      if (!(await this.artifacts.has(sha))) {
        throw new BerthError('INVALID_ARGUMENT', `reference artifact ${sha} is not stored; put the file into the artifact store first`, { field: 'reference', got: sha });
      }
    }
    return this.updateVersion(name, version, actor, 'version.reference', () => ({
      reference,
      details: {
        reference: reference.sha256, fileName: reference.fileName, rows: reference.rows,
        ...(reference.profile ? { profile: reference.profile.sha256 } : {}),
        ...(reference.background ? { background: reference.background.sha256 } : {}),
      },
    }));
  }

  // -------------------------------------------------------------------------------------------
  // deployments

  /**
   * Create a deployment or change it (a new revision). The target must resolve now. Settings
   * replace the current ones when given and are kept when omitted. Deploying exactly what is
   * already deployed records nothing.
   */
  async deploy(input: DeployInput): Promise<DeployResult> {
    const name = assertName('deployment', input.name);
    const model = assertName('model', input.model);
    const target = validateDeploymentTarget(input.target);
    const settings = input.settings === undefined ? undefined : validateDeploymentSettings(input.settings);
    const traffic = input.traffic === undefined ? undefined : validateTrafficPolicy(input.traffic);
    const who = this.actorOf(input.actor);
    const now = this.clock.now();
    const result = await this.metadata.transaction(async (trx): Promise<DeployResult> => {
      const served = await resolveTarget(trx, model, target);
      const existing = await trx.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
      const cur = existing ? toDeploymentRecord(existing) : undefined;
      const nextTraffic = traffic !== undefined ? traffic : cur && cur.model === model && sameTarget(cur.target, target) ? cur.traffic : null;
      await checkTrafficVersions(trx, model, Number(served.version), nextTraffic);
      if (existing && cur) {
        const nextSettings = settings ?? cur.settings;
        if (cur.model === model && sameTarget(cur.target, target) && sameSettings(cur.settings, nextSettings) && sameTraffic(cur.traffic, nextTraffic)) {
          return { deployment: cur, created: false, changed: false };
        }
        const change = input.change ?? 'update';
        const row = await writeDeployment(trx, now, who, name, existing, { model, target, settings: nextSettings, traffic: nextTraffic }, change);
        await writeAudit(trx, now, who, change === 'fallback' ? 'deployment.fallback' : 'deployment.update', `deployment:${name}`, model, {
          revision: row.revision,
          from: { model: cur.model, target: cur.target, settings: cur.settings, traffic: cur.traffic },
          to: { model, target, settings: nextSettings, traffic: nextTraffic },
        });
        return { deployment: toDeploymentRecord(row), created: false, changed: true };
      }
      const row = await writeDeployment(trx, now, who, name, undefined, { model, target, settings: settings ?? {}, traffic: nextTraffic }, 'create');
      await writeAudit(trx, now, who, 'deployment.create', `deployment:${name}`, model, {
        revision: row.revision,
        target,
        settings: settings ?? {},
        ...(nextTraffic ? { traffic: nextTraffic } : {}),
      });
      return { deployment: toDeploymentRecord(row), created: true, changed: true };
    });
    if (result.changed) this.emit({ kind: 'deployment', name });
    return result;
  }

  /**
   * Append an audit entry for a change made by a layer above the registry (rollouts). Inside `trx`
   * when given, so the entry commits with the change it describes.
   */
  async appendAudit(
    entry: { action: AuditAction; target: string; model: string | null; details: Record<string, unknown>; actor?: string },
    trx?: Db,
  ): Promise<void> {
    const actor = this.actorOf(entry.actor);
    const write = (db: Db): Promise<void> => writeAudit(db, this.clock.now(), actor, entry.action, entry.target, entry.model, entry.details);
    // the chain reads the last row's hash and appends after it: that must be one write transaction
    if (trx) await write(trx);
    else await this.metadata.transaction(write);
  }

  // -------------------------------------------------------------------------------------------
  // artifact signatures (the security layer signs and verifies them; the registry stores and audits them)

  /**
   * Store a signature of a version's artifact and audit it (`version.sign`). One per key: a new
   * signature by the same key replaces the old one; the very same signature again changes nothing.
   * VERSION_NOT_FOUND for an unknown version; INVALID_ARGUMENT for a malformed key id or signature.
   */
  async addSignature(input: AddSignatureInput, actor?: string): Promise<{ signature: ArtifactSignatureRecord; created: boolean; changed: boolean }> {
    const model = assertName('model', input.model);
    checkSignatureInput(input);
    const who = this.actorOf(actor);
    const now = this.clock.now();
    const out = await this.metadata.transaction(async (trx) => {
      await requireVersion(trx, model, input.version);
      const r = await upsertSignature(trx, input, now, who);
      if (r.changed) {
        await this.appendAudit(
          {
            action: 'version.sign',
            target: `version:${model}@${input.version}`,
            model,
            details: { keyId: input.keyId, algorithm: input.algorithm, ...(r.previous ? { replaced: { signedAt: r.previous.signedAt, signedBy: r.previous.signedBy } } : {}) },
            actor: who,
          },
          trx,
        );
      }
      return { signature: r.record, created: r.changed && r.previous === null, changed: r.changed };
    });
    if (out.changed) this.emit({ kind: 'version', name: model, version: input.version });
    return out;
  }

  /** A version's signatures, oldest first (VERSION_NOT_FOUND for an unknown version). */
  async listSignatures(model: string, version: number): Promise<ArtifactSignatureRecord[]> {
    await requireVersion(this.metadata.db, model, version);
    return selectSignatures(this.metadata.db, model, version);
  }

  // -------------------------------------------------------------------------------------------
  // leases (one holder among processes sharing this registry)

  /**
   * Take or renew the lease `name` for `holder` until now + ttlMs, if it is free, expired or
   * already `holder`'s. Time is the database's own on PostgreSQL (replicas' clocks may differ).
   * Returns whether `holder` holds it now, and who does.
   */
  async tryLease(name: string, holder: string, ttlMs: number): Promise<{ held: boolean; holder: string; expiresAtMs: number }> {
    return this.metadata.transaction(async (trx) => {
      const now = await this.databaseNow(trx);
      const row = await trx.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
      if (row && row.holder !== holder && Number(row.expires_at) > now) return { held: false, holder: row.holder, expiresAtMs: Number(row.expires_at) };
      const expires = now + ttlMs;
      if (row) {
        await trx
          .updateTable('leases')
          .set({ holder, expires_at: expires, ...(row.holder !== holder ? { acquired_at: now } : {}) })
          .where('name', '=', name)
          .execute();
      } else {
        await trx.insertInto('leases').values({ name, holder, acquired_at: now, expires_at: expires }).execute();
      }
      return { held: true, holder, expiresAtMs: expires };
    });
  }

  /** Give the lease up now if `holder` holds it (a clean shutdown: another takes over at once). */
  async releaseLease(name: string, holder: string): Promise<void> {
    await this.metadata.transaction(async (trx) => {
      await trx.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
    });
  }

  // -------------------------------------------------------------------------------------------
  // rollout windows: each replica's numbers for the step a rollout is in (the leader merges them)

  /**
   * Store `replica`'s serialised numbers for a deployment's rollout step `epoch` (replacing its
   * previous ones). Not a registry change: no audit row, no change notification, no write lock —
   * replicas write these every second or so and nobody else needs to hear of it.
   */
  async putRolloutWindow(deployment: string, epoch: string, replica: string, body: string): Promise<void> {
    const updated_at = this.clock.now();
    await this.metadata.db
      .insertInto('rollout_windows')
      .values({ deployment, epoch, replica, updated_at, body })
      .onConflict((oc) => oc.columns(['deployment', 'epoch', 'replica']).doUpdateSet({ updated_at, body }))
      .execute();
  }

  /** Every replica's numbers for a deployment's rollout step, in replica order. */
  async rolloutWindows(deployment: string, epoch: string): Promise<{ replica: string; updatedAtMs: number; body: string }[]> {
    const rows = await this.metadata.db
      .selectFrom('rollout_windows')
      .select(['replica', 'updated_at', 'body'])
      .where('deployment', '=', deployment)
      .where('epoch', '=', epoch)
      .orderBy('replica')
      .execute();
    return rows.map((r) => ({ replica: r.replica, updatedAtMs: Number(r.updated_at), body: r.body }));
  }

  /** Forget every stored window but those of the steps in `keep` (rollouts still in progress). */
  async pruneRolloutWindows(keep: readonly { deployment: string; epoch: string }[]): Promise<number> {
    const wanted = new Set(keep.map((k) => `${k.deployment}\u0000${k.epoch}`));
    const stored = await this.metadata.db.selectFrom('rollout_windows').select(['deployment', 'epoch']).distinct().execute();
    let removed = 0;
    for (const s of stored) {
      if (wanted.has(`${s.deployment}\u0000${s.epoch}`)) continue;
      const r = await this.metadata.db.deleteFrom('rollout_windows').where('deployment', '=', s.deployment).where('epoch', '=', s.epoch).executeTakeFirst();
      removed += Number(r.numDeletedRows);
    }
    return removed;
  }

  // -------------------------------------------------------------------------------------------
  // feedback: ground truth for answered requests (monitoring joins it to the inference log)

  /**
   * Store labels for a deployment's answered rows, all or none; a label for a row that has one
   * replaces it (a correction). Not a registry change: no audit row, no change notification.
   */
  async putFeedback(deployment: string, items: readonly FeedbackRecord[], receivedAt: number): Promise<{ stored: number; replaced: number }> {
    const CHUNK = 500;
    return this.metadata.db.transaction().execute(async (trx) => {
      const existing = new Set<string>();
      const ids = [...new Set(items.map((i) => i.requestId))];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const rows = await trx.selectFrom('feedback').select(['request_id', 'row']).where('deployment', '=', deployment).where('request_id', 'in', ids.slice(i, i + CHUNK)).execute();
        for (const r of rows) existing.add(`${r.request_id}\u0000${r.row}`);
      }
      // the last label for a row wins, within one body as across bodies
      const latest = new Map<string, FeedbackRecord>();
      for (const it of items) latest.set(`${it.requestId}\u0000${it.row}`, it);
      let replaced = 0;
      for (const key of latest.keys()) if (existing.has(key)) replaced++;
      const values = [...latest.values()].map((it) => ({ deployment, request_id: it.requestId, row: it.row, label: it.label, received_at: receivedAt }));
      for (let i = 0; i < values.length; i += CHUNK) {
        await trx
          .insertInto('feedback')
          .values(values.slice(i, i + CHUNK))
          .onConflict((oc) => oc.columns(['deployment', 'request_id', 'row']).doUpdateSet((eb) => ({ label: eb.ref('excluded.label'), received_at: eb.ref('excluded.received_at') })))
          .execute();
      }
      // a row labelled twice in one body: the second label replaced the first
      return { stored: items.length, replaced: replaced + (items.length - latest.size) };
    });
  }

  /** Every label of a deployment received at or after `since` (ms). */
  async feedbackSince(deployment: string, since: number): Promise<(FeedbackRecord & { receivedAt: number })[]> {
    const rows = await this.metadata.db
      .selectFrom('feedback')
      .select(['request_id', 'row', 'label', 'received_at'])
      .where('deployment', '=', deployment)
      .where('received_at', '>=', since)
      .execute();
    return rows.map((r) => ({ requestId: r.request_id, row: Number(r.row), label: r.label, receivedAt: Number(r.received_at) }));
  }

  /** How many rows of a deployment have a label. */
  async feedbackCount(deployment: string): Promise<number> {
    const r = await this.metadata.db.selectFrom('feedback').select((eb) => eb.fn.countAll<number>().as('n')).where('deployment', '=', deployment).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /**
   * The database's clock (PostgreSQL's, so replicas agree on lease times; this process's with
   * SQLite). For leases held outside this class (the jobs layer's).
   */
  async databaseTime(trx?: Db): Promise<number> {
    return this.databaseNow(trx ?? this.metadata.db);
  }

  private async databaseNow(trx: Db): Promise<number> {
    if (this.metadata.dialect !== 'postgres') return Date.now();
    const r = await sql<{ now: number | string }>`select (extract(epoch from clock_timestamp()) * 1000)::bigint as now`.execute(trx);
    return Number(r.rows[0]!.now);
  }

  // -------------------------------------------------------------------------------------------
  // API tokens (the security layer hashes and checks them; the registry stores and audits them)

  /** Store a new token (its hash only) and audit its creation; ALREADY_EXISTS for a taken id. */
  async createToken(input: { id: string; name: string; hash: string; scopes: string[]; rateLimit: { rate: number; burst: number } | null; expiresAt: number | null }, actor?: string): Promise<TokenRecord> {
    const who = this.actorOf(actor);
    const now = this.clock.now();
    await this.metadata.transaction(async (trx) => {
      const taken = await trx.selectFrom('tokens').select('id').where('id', '=', input.id).executeTakeFirst();
      if (taken) throw new BerthError('ALREADY_EXISTS', `token id "${input.id}" is taken`, { field: 'id', got: input.id });
      await trx
        .insertInto('tokens')
        .values({
          id: input.id,
          name: input.name,
          hash: input.hash,
          scopes: JSON.stringify(input.scopes),
          rate_limit: input.rateLimit ? JSON.stringify(input.rateLimit) : null,
          created_at: now,
          created_by: who,
          expires_at: input.expiresAt,
          revoked_at: null,
          revoked_by: null,
          last_used_at: null,
        })
        .execute();
      await writeAudit(trx, now, who, 'token.create', `token:${input.id}`, null, {
        after: { id: input.id, name: input.name, scopes: input.scopes, rateLimit: input.rateLimit, expiresAt: input.expiresAt === null ? null : iso(input.expiresAt) },
      });
    });
    return this.getToken(input.id);
  }

  /** One token by id (revoked ones included); NOT_FOUND. */
  async getToken(id: string): Promise<TokenRecord> {
    const row = await this.metadata.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new BerthError('NOT_FOUND', `no token has id "${id}"; \`berth tokens list\` shows them`, { field: 'id', got: id });
    return toTokenRecord(row);
  }

  /** Every token, newest first (revoked and expired ones included: the list is the record). */
  async listTokens(): Promise<TokenRecord[]> {
    const rows = await this.metadata.db.selectFrom('tokens').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
    return rows.map(toTokenRecord);
  }

  /** Revoke a token for good and audit it; a second revocation changes nothing and says so. */
  async revokeToken(id: string, actor?: string): Promise<{ token: TokenRecord; changed: boolean }> {
    const who = this.actorOf(actor);
    const now = this.clock.now();
    const changed = await this.metadata.transaction(async (trx) => {
      const row = await trx.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new BerthError('NOT_FOUND', `no token has id "${id}"; \`berth tokens list\` shows them`, { field: 'id', got: id });
      if (row.revoked_at !== null) return false;
      await trx.updateTable('tokens').set({ revoked_at: now, revoked_by: who }).where('id', '=', id).execute();
      await writeAudit(trx, now, who, 'token.revoke', `token:${id}`, null, {
        before: { id, name: row.name, scopes: parseJson<string[]>(row.scopes), revokedAt: null },
        after: { revokedAt: iso(now) },
      });
      return true;
    });
    return { token: await this.getToken(id), changed };
  }

  /** Record when tokens were last used (batched by the caller; not audited). */
  async touchTokens(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    await this.metadata.transaction(async (trx) => {
      for (const [id, at] of lastUsed) await trx.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
    });
  }

  /** One deployment; DEPLOYMENT_NOT_FOUND. */
  async getDeployment(name: string): Promise<DeploymentRecord> {
    return toDeploymentRecord(await requireDeployment(this.metadata.db, name));
  }

  /** Every deployment, by name. */
  async listDeployments(): Promise<DeploymentRecord[]> {
    const rows = await this.metadata.db.selectFrom('deployments').selectAll().orderBy('name').execute();
    return rows.map(toDeploymentRecord);
  }

  /** Remove a deployment; its history stays (ending in a `deleted` revision). */
  async deleteDeployment(name: string, actor?: string): Promise<void> {
    const who = this.actorOf(actor);
    const now = this.clock.now();
    await this.metadata.transaction(async (trx) => {
      const existing = await requireDeployment(trx, name);
      const revision = existing.revision + 1;
      await trx.deleteFrom('deployments').where('name', '=', name).execute();
      await trx
        .insertInto('deployment_history')
        .values({
          name,
          revision,
          model: existing.model,
          target: existing.target,
          settings: existing.settings,
          traffic: existing.traffic,
          change: 'delete',
          deleted: 1,
          at: now,
          actor: who,
        })
        .execute();
      await writeAudit(trx, now, who, 'deployment.delete', `deployment:${name}`, existing.model, { revision, from: { model: existing.model, target: parseJson<DeploymentTarget>(existing.target), settings: parseJson<DeploymentSettings>(existing.settings), traffic: existing.traffic === null ? null : parseJson<TrafficPolicy>(existing.traffic) } });
    });
    this.emit({ kind: 'deployment', name });
  }

  /** Every revision of a deployment (deleted ones included), newest first. */
  async deploymentHistory(name: string): Promise<DeploymentHistoryEntry[]> {
    const rows = await this.metadata.db.selectFrom('deployment_history').selectAll().where('name', '=', name).orderBy('revision', 'desc').execute();
    if (rows.length === 0) throw deploymentNotFound(name);
    return rows.map(toDeploymentHistoryEntry);
  }

  /**
   * The deployment's revision in force at `atMs` (epoch ms) and the version it served then;
   * null if it did not exist at that moment.
   */
  async deploymentAt(name: string, atMs: number): Promise<DeploymentAtResult | null> {
    const db = this.metadata.db;
    const row = await db
      .selectFrom('deployment_history')
      .selectAll()
      .where('name', '=', name)
      .where('at', '<=', atMs)
      .orderBy('revision', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row || row.deleted) return null;
    const entry = toDeploymentHistoryEntry(row);
    const version =
      entry.target.kind === 'version' ? entry.target.version : await this.aliasAt(entry.model, entry.target.alias, atMs).catch(() => null);
    return { deployment: entry, version };
  }

  /**
   * Return the deployment to its previous revision (model, target and settings), as a new
   * revision. Rolling back twice returns to where it started.
   */
  async rollbackDeployment(name: string, actor?: string): Promise<DeploymentRecord> {
    const who = this.actorOf(actor);
    const now = this.clock.now();
    const row = await this.metadata.transaction(async (trx) => {
      const existing = await requireDeployment(trx, name);
      const prev = await trx
        .selectFrom('deployment_history')
        .selectAll()
        .where('name', '=', name)
        .where('revision', '<', existing.revision)
        .where('deleted', '=', 0)
        .orderBy('revision', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (!prev) {
        throw new BerthError('INVALID_ARGUMENT', `deployment "${name}" has no earlier revision to roll back to (it is at revision ${existing.revision})`, {
          deployment: name,
        });
      }
      const target = parseJson<DeploymentTarget>(prev.target);
      const traffic = prev.traffic === null ? null : parseJson<TrafficPolicy>(prev.traffic);
      const served = await resolveTarget(trx, prev.model, target);
      await checkTrafficVersions(trx, prev.model, Number(served.version), traffic);
      const updated = await writeDeployment(
        trx,
        now,
        who,
        name,
        existing,
        { model: prev.model, target, settings: parseJson<DeploymentSettings>(prev.settings), traffic },
        'rollback',
      );
      await writeAudit(trx, now, who, 'deployment.rollback', `deployment:${name}`, prev.model, {
        revision: updated.revision,
        toRevision: prev.revision,
        from: { model: existing.model, target: parseJson<DeploymentTarget>(existing.target), settings: parseJson<DeploymentSettings>(existing.settings), traffic: existing.traffic === null ? null : parseJson<TrafficPolicy>(existing.traffic) },
        target,
        settings: parseJson<DeploymentSettings>(prev.settings),
        ...(traffic ? { traffic } : {}),
      });
      return updated;
    });
    this.emit({ kind: 'deployment', name });
    return toDeploymentRecord(row);
  }

  /** The deployment and the version it serves now (its alias resolved). */
  async resolveDeployment(name: string): Promise<ResolvedDeploymentRecord> {
    const db = this.metadata.db;
    const deployment = toDeploymentRecord(await requireDeployment(db, name));
    const row = await resolveTarget(db, deployment.model, deployment.target, name);
    return { deployment, version: toVersionRecord(row) };
  }

  // -------------------------------------------------------------------------------------------
  // audit and change notification

  /** Audit entries, newest first (`order: 'asc'`: oldest first). */
  async audit(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const limit = query.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
      throw new BerthError('INVALID_ARGUMENT', `limit: expected an integer in [1, 10000], got ${JSON.stringify(query.limit)}`, { field: 'limit' });
    }
    for (const field of ['since', 'until', 'afterId'] as const) {
      const v = query[field];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
        throw new BerthError('INVALID_ARGUMENT', `${field}: expected a number (epoch ms${field === 'afterId' ? ' or an entry id' : ''}), got ${JSON.stringify(v)}`, { field });
      }
    }
    if (query.order !== undefined && query.order !== 'asc' && query.order !== 'desc') {
      throw new BerthError('INVALID_ARGUMENT', `order: expected "asc" or "desc", got ${JSON.stringify(query.order)}`, { field: 'order' });
    }
    let actions: string[] | undefined;
    if (query.action !== undefined) {
      actions = typeof query.action === 'string' ? auditActionsMatching(query.action) : [];
      if (actions.length === 0) {
        throw new BerthError(
          'INVALID_ARGUMENT',
          `action: expected one of ${AUDIT_ACTIONS.join(', ')} or a prefix of them (deployment., rollout., …), got ${JSON.stringify(query.action)}`,
          { field: 'action', got: query.action },
        );
      }
    }
    let q = this.metadata.db.selectFrom('audit').selectAll();
    if (query.since !== undefined) q = q.where('at', '>=', query.since);
    if (query.until !== undefined) q = q.where('at', '<', query.until);
    if (query.afterId !== undefined) q = q.where('id', '>', query.afterId);
    if (query.target !== undefined) q = q.where('target', '=', query.target);
    if (query.model !== undefined) q = q.where('model', '=', query.model);
    if (actions !== undefined) q = actions.length === 1 ? q.where('action', '=', actions[0]!) : q.where('action', 'in', actions);
    const rows = await q.orderBy('id', query.order ?? 'desc').limit(limit).execute();
    return rows.map(toAuditEntry);
  }

  /**
   * Recompute the audit log's hash chain, oldest row first, a page at a time. Names the first row
   * that breaks it: an edited row (its hash no longer matches), a deleted, inserted or moved row
   * (the next row's `prev_hash` no longer matches). Removing the newest rows leaves a shorter,
   * intact chain: compare `head` with a copy kept elsewhere to catch that.
   *
   * @example
   * const v = await registry.verifyAudit();
   * if (!v.ok) console.error(`row ${v.firstBroken!.id}: ${v.firstBroken!.reason}`);
   */
  async verifyAudit(): Promise<AuditVerification> {
    const db = this.metadata.db;
    let rows = 0;
    let firstBroken: AuditVerification['firstBroken'] = null;
    let prevHash: string | null = null;
    let prevId: number | null = null;
    for (;;) {
      let q = db.selectFrom('audit').selectAll();
      if (prevId !== null) q = q.where('id', '>', prevId);
      const page = await q.orderBy('id', 'asc').limit(AUDIT_PAGE_ROWS).execute();
      for (const r of page) {
        const row = { ...toAuditChainRow(r), prevHash: r.prev_hash, hash: r.hash };
        rows++;
        if (firstBroken === null) {
          const reason = checkAuditRow(prevHash, prevId, row);
          if (reason !== null) firstBroken = { id: row.id, reason };
        }
        // link the next row to what is stored, so one break is reported once, not at every row after it
        prevHash = r.hash;
        prevId = row.id;
      }
      if (page.length < AUDIT_PAGE_ROWS) break;
    }
    return { ok: firstBroken === null, rows, firstBroken, head: prevHash };
  }

  /**
   * A number that grows with every committed change, by any process sharing the store: poll it
   * to notice other processes' writes (this process's writes also reach `onChange`).
   */
  async changeSeq(): Promise<number> {
    const row = await this.metadata.db.selectFrom('audit').select(sql<number | string | null>`max(id)`.as('seq')).executeTakeFirst();
    return Number(row?.seq ?? 0);
  }

  /** Hear of every change this registry commits. Returns the unsubscribe function. */
  onChange(listener: (e: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Stop notifying and release what the registry owns. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await this.onClose?.();
  }

  // -------------------------------------------------------------------------------------------

  private actorOf(actor: string | undefined): string {
    if (actor === undefined || actor === '') return this.defaultActor;
    if (typeof actor !== 'string' || actor.length > 256) {
      throw new BerthError('INVALID_ARGUMENT', `actor: expected a name of at most 256 characters, got ${JSON.stringify(actor)}`, { field: 'actor' });
    }
    return actor;
  }

  private emit(e: RegistryChange): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // a listener's failure is its own; the change has committed and others must still hear it
      }
    }
  }

  private async putArtifact(path: string, expectedSha: string): Promise<void> {
    const stored = await this.artifacts.put(path);
    if (stored.sha256 !== expectedSha) {
      throw new BerthError('INVALID_ARGUMENT', `${path} changed while it was being registered; register it again once it is no longer being written`, {
        field: 'filePath',
        expected: expectedSha,
        got: stored.sha256,
      });
    }
  }

  private async collectLineage(sourcePath: string, card: ModelCard | undefined, actor: string, lookUpGit: boolean): Promise<Lineage> {
    const lineage: Lineage = { ...card?.lineage };
    lineage.sourcePath = sourcePath;
    const git = lookUpGit ? await readGitInfo(dirname(sourcePath), this.gitTimeoutMs) : null;
    delete lineage.gitCommit;
    delete lineage.gitDirty;
    delete lineage.gitRemote;
    if (git) {
      lineage.gitCommit = git.commit;
      if (git.dirty !== undefined) lineage.gitDirty = git.dirty;
      if (git.remote) lineage.gitRemote = git.remote;
    }
    lineage.user = actor;
    lineage.registeredAt = iso(this.clock.now());
    return lineage;
  }

  private async updateModel(
    name: string,
    actor: string | undefined,
    action: AuditAction,
    change: (m: Selectable<ModelsTable>) => { tags?: Tags; description?: string | null; details: Record<string, unknown> } | null,
  ): Promise<Tags> {
    assertName('model', name);
    const who = this.actorOf(actor);
    const now = this.clock.now();
    const out = await this.metadata.transaction(async (trx) => {
      const m = await requireModel(trx, name);
      const c = change(m);
      if (!c) return { tags: parseJson<Tags>(m.tags), changed: false };
      const set: { updated_at: number; tags?: string; description?: string | null } = { updated_at: now };
      if (c.tags) set.tags = JSON.stringify(c.tags);
      if (c.description !== undefined) set.description = c.description;
      await trx.updateTable('models').set(set).where('name', '=', name).execute();
      await writeAudit(trx, now, who, action, `model:${name}`, name, c.details);
      return { tags: c.tags ?? parseJson<Tags>(m.tags), changed: true };
    });
    if (out.changed) this.emit({ kind: 'model', name });
    return out.tags;
  }

  private async updateVersion(
    name: string,
    version: number,
    actor: string | undefined,
    action: AuditAction,
    change: (
      row: Selectable<VersionsTable>,
    ) => { tags?: Tags; description?: string | null; reference?: ReferenceDataRecord | null; details: Record<string, unknown> } | null,
  ): Promise<VersionRecord> {
    assertName('model', name);
    const who = this.actorOf(actor);
    const now = this.clock.now();
    const out = await this.metadata.transaction(async (trx) => {
      const row = await requireVersion(trx, name, version);
      const c = change(row);
      if (!c) return { row, changed: false };
      const set: { tags?: string; description?: string | null; reference?: string | null } = {};
      if (c.tags) set.tags = JSON.stringify(c.tags);
      if (c.description !== undefined) set.description = c.description;
      if (c.reference !== undefined) set.reference = c.reference === null ? null : JSON.stringify(c.reference);
      await trx.updateTable('versions').set(set).where('model', '=', name).where('version', '=', version).execute();
      await trx.updateTable('models').set({ updated_at: now }).where('name', '=', name).execute();
      await writeAudit(trx, now, who, action, `version:${name}@${version}`, name, c.details);
      return { row: { ...row, ...set }, changed: true };
    });
    if (out.changed) this.emit({ kind: 'version', name, version });
    return toVersionRecord(out.row);
  }
}

// ---------------------------------------------------------------------------------------------
// queries shared by reads and transactions (each takes the handle to run on)

async function requireModel(db: Db, name: string): Promise<Selectable<ModelsTable>> {
  assertName('model', name);
  const m = await db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
  if (m) return m;
  throw new BerthError('MODEL_NOT_FOUND', `no model named "${name}" is registered; register one with \`berth models register ${name} <model.onnx>\``, {
    model: name,
  });
}

async function requireVersion(db: Db, name: string, version: number): Promise<Selectable<VersionsTable>> {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new BerthError('INVALID_ARGUMENT', `version: expected a version number >= 1, got ${JSON.stringify(version)}`, {
      model: name,
      field: 'version',
      got: version,
    });
  }
  await requireModel(db, name);
  const row = await db.selectFrom('versions').selectAll().where('model', '=', name).where('version', '=', version).executeTakeFirst();
  if (row) return row;
  const latest = await maxVersion(db, name);
  throw new BerthError('VERSION_NOT_FOUND', `model "${name}" has no version ${version} (its versions are 1 to ${latest})`, {
    model: name,
    version,
  });
}

async function requireDeployment(db: Db, name: string): Promise<Selectable<DeploymentsTable>> {
  const row = await db.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
  if (row) return row;
  throw deploymentNotFound(name);
}

function deploymentNotFound(name: string): BerthError {
  return new BerthError('DEPLOYMENT_NOT_FOUND', `no deployment named "${name}"; list them with \`berth deployments list\``, { deployment: name });
}

async function aliasNotFound(db: Db, name: string, alias: string): Promise<BerthError> {
  return new BerthError('VERSION_NOT_FOUND', `model "${name}" has no alias "${alias}" (${await describeAliases(db, name)})`, {
    model: name,
    field: 'alias',
    got: alias,
  });
}

async function describeAliases(db: Db, name: string): Promise<string> {
  const all = await db.selectFrom('aliases').select('alias').where('model', '=', name).orderBy('alias').execute();
  return all.length > 0 ? `its aliases are: ${all.map((a) => a.alias).join(', ')}` : 'it has no aliases';
}

async function maxVersion(db: Db, name: string): Promise<number> {
  const row = await db.selectFrom('versions').select(sql<number | string | null>`max(version)`.as('v')).where('model', '=', name).executeTakeFirst();
  return Number(row?.v ?? 0);
}

async function findVersionBySha(db: Db, name: string, sha256: string): Promise<Selectable<VersionsTable> | undefined> {
  return db.selectFrom('versions').selectAll().where('model', '=', name).where('sha256', '=', sha256).executeTakeFirst();
}

/** The version a deployment target points at, or the error saying why it points nowhere. */
async function resolveTarget(db: Db, model: string, target: DeploymentTarget, deployment?: string): Promise<Selectable<VersionsTable>> {
  await requireModel(db, model);
  if (target.kind === 'version') return requireVersion(db, model, target.version);
  const alias = await db.selectFrom('aliases').select('version').where('model', '=', model).where('alias', '=', target.alias).executeTakeFirst();
  if (!alias) {
    if (deployment === undefined) throw await aliasNotFound(db, model, target.alias);
    throw new BerthError(
      'VERSION_NOT_FOUND',
      `deployment "${deployment}" serves alias "${target.alias}" of model "${model}", which does not exist ` +
        `(${await describeAliases(db, model)}); set the alias or redeploy`,
      { deployment, model, field: 'alias', got: target.alias },
    );
  }
  return requireVersion(db, model, alias.version);
}

/** Every version a traffic policy names must exist and differ from the version the target serves. */
async function checkTrafficVersions(db: Db, model: string, served: number, traffic: TrafficPolicy | null): Promise<void> {
  if (!traffic) return;
  for (const v of policyVersions(traffic)) {
    await requireVersion(db, model, v);
  }
  for (const a of traffic.split) {
    if (a.version === served) {
      throw new BerthError('INVALID_ARGUMENT', `traffic.split: version ${served} is the deployment's target; the target gets the share the split leaves (${100 - traffic.split.reduce((s, x) => s + x.percent, 0)}%)`, {
        field: 'traffic.split', got: a.version,
      });
    }
  }
  for (const a of traffic.shadows) {
    if (a.version === served) throw new BerthError('INVALID_ARGUMENT', `traffic.shadows: version ${served} is the deployment's target and cannot shadow itself`, { field: 'traffic.shadows', got: a.version });
  }
}

async function moveAlias(
  trx: Db,
  now: number,
  actor: string,
  model: string,
  alias: string,
  version: number,
  previous: number | null,
  change: AliasChange,
): Promise<void> {
  await trx
    .insertInto('aliases')
    .values({ model, alias, version, updated_at: now })
    .onConflict((oc) => oc.columns(['model', 'alias']).doUpdateSet({ version, updated_at: now }))
    .execute();
  await trx.insertInto('alias_history').values({ model, alias, version, previous_version: previous, change, at: now, actor }).execute();
  await trx.updateTable('models').set({ updated_at: now }).where('name', '=', model).execute();
  await writeAudit(trx, now, actor, change === 'rollback' ? 'alias.rollback' : 'alias.set', `alias:${model}@${alias}`, model, {
    version,
    previousVersion: previous,
  });
}

/** Write a deployment's new revision (the next after any earlier life of the name) and its history row. */
async function writeDeployment(
  trx: Db,
  now: number,
  actor: string,
  name: string,
  existing: Selectable<DeploymentsTable> | undefined,
  next: { model: string; target: DeploymentTarget; settings: DeploymentSettings; traffic: TrafficPolicy | null },
  change: DeploymentChange,
): Promise<Selectable<DeploymentsTable>> {
  let revision: number;
  if (existing) {
    revision = existing.revision + 1;
  } else {
    const last = await trx
      .selectFrom('deployment_history')
      .select(sql<number | string | null>`max(revision)`.as('r'))
      .where('name', '=', name)
      .executeTakeFirst();
    revision = Number(last?.r ?? 0) + 1;
  }
  const row: Selectable<DeploymentsTable> = {
    name,
    model: next.model,
    target: JSON.stringify(next.target),
    settings: JSON.stringify(next.settings),
    traffic: next.traffic === null ? null : JSON.stringify(next.traffic),
    revision,
    created_at: existing ? Number(existing.created_at) : now,
    updated_at: now,
  };
  if (existing) await trx.updateTable('deployments').set(row).where('name', '=', name).execute();
  else await trx.insertInto('deployments').values(row).execute();
  await insertDeploymentHistory(trx, row, change, now, actor);
  return row;
}

async function insertDeploymentHistory(
  trx: Db,
  row: Selectable<DeploymentsTable>,
  change: DeploymentChange,
  now: number,
  actor: string,
): Promise<void> {
  const h: Selectable<DeploymentHistoryTable> = {
    name: row.name,
    revision: row.revision,
    model: row.model,
    target: row.target,
    settings: row.settings,
    traffic: row.traffic,
    change,
    deleted: 0,
    at: now,
    actor,
  };
  await trx.insertInto('deployment_history').values(h).execute();
}

function toTokenRecord(row: Selectable<TokensTable>): TokenRecord {
  const num = (v: number | string | null): number | null => (v === null ? null : Number(v));
  const expires = num(row.expires_at);
  const revoked = num(row.revoked_at);
  const used = num(row.last_used_at);
  return {
    id: row.id,
    name: row.name,
    hash: row.hash,
    scopes: parseJson<string[]>(row.scopes),
    rateLimit: row.rate_limit === null ? null : parseJson<{ rate: number; burst: number }>(row.rate_limit),
    createdAt: iso(Number(row.created_at)),
    createdBy: row.created_by,
    expiresAt: expires === null ? null : iso(expires),
    expiresAtMs: expires,
    revokedAt: revoked === null ? null : iso(revoked),
    revokedBy: row.revoked_by,
    lastUsedAt: used === null ? null : iso(used),
  };
}

/**
 * Append one audit row, chained to the row before it: `prev_hash` is that row's hash and `hash`
 * covers this row's canonical form and `prev_hash` (audit-chain.ts). Must run inside the change's
 * transaction, which holds the store's write lock, so no other writer can take the same place in
 * the chain. The row's id comes from the database (ids are never reused), then its hash is set.
 */
async function writeAudit(
  trx: Db,
  now: number,
  actor: string,
  action: AuditAction,
  target: string,
  model: string | null,
  details: Record<string, unknown>,
): Promise<void> {
  const source = currentRequestContext()?.source ?? null;
  const text = JSON.stringify(details);
  const last = await trx.selectFrom('audit').select('hash').orderBy('id', 'desc').limit(1).executeTakeFirst();
  const prevHash = last?.hash ?? null;
  const inserted = await trx
    .insertInto('audit')
    .values({ at: now, actor, action, target, model, details: text, source, prev_hash: prevHash, hash: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const id = Number(inserted.id);
  const hash = hashAuditRow(prevHash, { id, at: now, actor, action, target, model, details: text, source });
  await trx.updateTable('audit').set({ hash }).where('id', '=', id).execute();
}

// ---------------------------------------------------------------------------------------------
// validation

function assertAliasName(alias: string): void {
  assertName('alias', alias);
  // `name@3` means version 3 and `name@latest` the newest version, so such aliases could never be addressed.
  if (/^[0-9]+$/.test(alias) || alias === 'latest') {
    throw new BerthError('INVALID_ARGUMENT', `alias: "${alias}" is reserved (a version number or "latest"); choose a name with a letter in it`, {
      field: 'alias',
      got: alias,
    });
  }
}

function validateTags(tags: unknown): Tags {
  if (tags === undefined) return {};
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) {
    throw new BerthError('INVALID_ARGUMENT', `tags: expected an object of name → string, got ${JSON.stringify(tags)}`, { field: 'tags' });
  }
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length > MAX_TAGS) {
    throw new BerthError('INVALID_ARGUMENT', `tags: expected at most ${MAX_TAGS} tags, got ${entries.length}`, { field: 'tags' });
  }
  const out: Tags = {};
  for (const [k, v] of entries) {
    if (k === '' || k.length > MAX_TAG_KEY || /[\u0000-\u001f]/.test(k)) {
      throw new BerthError('INVALID_ARGUMENT', `tags: tag names must be 1-${MAX_TAG_KEY} printable characters, got ${JSON.stringify(k)}`, {
        field: 'tags',
        got: k,
      });
    }
    if (typeof v !== 'string' || v.length > MAX_TAG_VALUE) {
      throw new BerthError('INVALID_ARGUMENT', `tags.${k}: expected a string of at most ${MAX_TAG_VALUE} characters, got ${JSON.stringify(v)}`, {
        field: `tags.${k}`,
        got: v,
      });
    }
    out[k] = v;
  }
  return out;
}

function validateDescription(d: unknown): string | null {
  if (d === undefined || d === null) return null;
  if (typeof d !== 'string' || d.length > MAX_DESCRIPTION) {
    throw new BerthError('INVALID_ARGUMENT', `description: expected text of at most ${MAX_DESCRIPTION} characters`, { field: 'description' });
  }
  return d;
}

async function readModelFile(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    const st = await stat(path);
    if (!st.isFile()) {
      throw new BerthError('INVALID_ARGUMENT', `${path} is not a file; pass the path of the model file itself (e.g. model.onnx)`, {
        field: 'filePath',
        got: path,
      });
    }
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BerthError('INVALID_ARGUMENT', `model file ${path} does not exist; check the path`, { field: 'filePath', got: path }, { cause: err });
    }
    throw new BerthError('INVALID_ARGUMENT', `cannot read model file ${path}: ${(err as Error).message}`, { field: 'filePath', got: path }, { cause: err });
  }
  if (bytes.length === 0) {
    throw new BerthError('INVALID_MODEL', `model file ${path} is empty (0 bytes); export the model again and register the new file`, {
      field: 'filePath',
      got: path,
    });
  }
  return bytes;
}

async function readReferenceRows(path: string): Promise<number> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a file');
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `reference data ${path} is not a readable file; pass the training data CSV`, {
      field: 'referencePath',
      got: path,
    }, { cause: err });
  }
  const rows = await countCsvRows(path);
  if (rows === 0) {
    throw new BerthError('INVALID_ARGUMENT', `reference data ${path} has no data rows (a header line and at least one row are expected)`, {
      field: 'referencePath',
      got: path,
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// row mapping

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

function toModelRecord(
  m: Selectable<ModelsTable>,
  latest: number | null,
  count: number,
  aliases: { alias: string; version: number }[],
): ModelRecord {
  return {
    name: m.name,
    description: m.description,
    tags: parseJson<Tags>(m.tags),
    createdAt: iso(Number(m.created_at)),
    updatedAt: iso(Number(m.updated_at)),
    latestVersion: latest,
    versionCount: count,
    aliases: Object.fromEntries(aliases.map((a) => [a.alias, Number(a.version)])),
  };
}

function toVersionRecord(r: Selectable<VersionsTable>): VersionRecord {
  return {
    model: r.model,
    version: Number(r.version),
    sha256: r.sha256,
    sizeBytes: Number(r.size_bytes),
    signature: parseJson<Signature>(r.signature),
    card: r.card === null ? null : parseJson<ModelCard>(r.card),
    lineage: parseJson<Lineage>(r.lineage),
    tags: parseJson<Tags>(r.tags),
    description: r.description,
    createdAt: iso(Number(r.created_at)),
    createdBy: r.created_by,
    sourcePath: r.source_path,
    reference: r.reference === null ? null : parseJson<ReferenceDataRecord>(r.reference),
  };
}

function toDeploymentRecord(r: Selectable<DeploymentsTable>): DeploymentRecord {
  return {
    name: r.name,
    model: r.model,
    target: parseJson<DeploymentTarget>(r.target),
    settings: parseJson<DeploymentSettings>(r.settings),
    traffic: r.traffic === null || r.traffic === undefined ? null : parseJson<TrafficPolicy>(r.traffic),
    revision: Number(r.revision),
    createdAt: iso(Number(r.created_at)),
    updatedAt: iso(Number(r.updated_at)),
  };
}

function toAliasHistoryEntry(r: Selectable<AliasHistoryTable>): AliasHistoryEntry {
  return {
    id: Number(r.id),
    model: r.model,
    alias: r.alias,
    version: r.version === null ? null : Number(r.version),
    previousVersion: r.previous_version === null ? null : Number(r.previous_version),
    change: r.change as AliasChange,
    at: iso(Number(r.at)),
    atMs: Number(r.at),
    actor: r.actor,
  };
}

function toDeploymentHistoryEntry(r: Selectable<DeploymentHistoryTable>): DeploymentHistoryEntry {
  return {
    name: r.name,
    revision: Number(r.revision),
    model: r.model,
    target: parseJson<DeploymentTarget>(r.target),
    settings: parseJson<DeploymentSettings>(r.settings),
    traffic: r.traffic === null || r.traffic === undefined ? null : parseJson<TrafficPolicy>(r.traffic),
    change: r.change as DeploymentChange,
    deleted: Boolean(Number(r.deleted)),
    at: iso(Number(r.at)),
    atMs: Number(r.at),
    actor: r.actor,
  };
}

function toAuditEntry(r: Selectable<AuditTable>): AuditEntry {
  return {
    id: Number(r.id),
    at: iso(Number(r.at)),
    atMs: Number(r.at),
    actor: r.actor,
    action: r.action as AuditAction,
    target: r.target,
    model: r.model,
    details: parseJson<Record<string, unknown>>(r.details),
    source: r.source ?? null,
    hash: r.hash ?? null,
    prevHash: r.prev_hash ?? null,
  };
}

function toAuditChainRow(r: Selectable<AuditTable>): AuditChainRow {
  return { id: Number(r.id), at: Number(r.at), actor: r.actor, action: r.action, target: r.target, model: r.model, details: r.details, source: r.source ?? null };
}

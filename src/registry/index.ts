/**
 * The model registry: models, immutable content-addressed versions, aliases, deployments and the
 * audit log, over two seams — `MetadataStore` (SQLite now, PostgreSQL later) and `ArtifactStore`
 * (filesystem now, S3 later). Sits below runtime and serving; imports only core.
 */
export * from './records.js';
export type { ArtifactStore, StoredArtifact } from './artifact-store.js';
export { FsArtifactStore } from './fs-artifact-store.js';
export { S3ArtifactStore, parseS3ArtifactsUrl, type S3ArtifactStoreOptions, type S3ArtifactsLocation } from './s3/s3-artifact-store.js';
export { openArtifactStore, openSharedFiles, type OpenArtifactStoreOptions, type OpenSharedFilesOptions } from './artifact-store-factory.js';
export { assertSharedKey, isSharedKey, type SharedFiles } from './shared-files.js';
export { FsSharedFiles } from './fs-shared-files.js';
export { S3SharedFiles, type S3SharedFilesOptions } from './s3/s3-shared-files.js';
export type { S3ConnectionOptions } from './s3/s3-client.js';
export {
  METADATA_DIALECTS,
  type MetadataDialect,
  type MetadataStore,
  type RegistryDatabase,
  type ModelsTable,
  type VersionsTable,
  type AliasesTable,
  type AliasHistoryTable,
  type DeploymentsTable,
  type DeploymentHistoryTable,
  type AuditTable,
  type SchemaMigrationsTable,
} from './metadata-store.js';
export { SCHEMA_MIGRATIONS, migrateToLatest, type SchemaMigration } from './migrations.js';
export { SqliteMetadataStore, type SqliteMetadataStoreOptions } from './sqlite/sqlite-metadata-store.js';
export {
  PostgresMetadataStore,
  describeConnectionError,
  parseDatabaseUrl,
  redactDatabaseUrl,
  type PostgresMetadataStoreOptions,
} from './postgres/postgres-metadata-store.js';
export { CARD_FORMATS, CARD_OUTPUT_ROLES, mergeCardIntoSignature, parseCard } from './card.js';
export { DEFAULT_BREAKER, DEPLOYMENT_SETTING_KEYS, policyVersions, validateDeploymentSettings, validateDeploymentTarget, validateTrafficPolicy } from './deployment-settings.js';
export {
  AUDIT_PAGE_ROWS,
  Registry,
  type AliasMoveResult,
  type AuditQuery,
  type DeployInput,
  type DeployResult,
  type DeploymentAtResult,
  type RegisterVersionInput,
  type RegisterVersionResult,
  type RegistryOptions,
  type ResolvedDeploymentRecord,
} from './registry.js';
export { canonicalAuditRow, canonicalJson, hashAuditRow, type AuditChainRow } from './audit-chain.js';
export { openEmbeddedRegistry, type EmbeddedRegistryOptions } from './embedded.js';
export { createMetadataStore, migrateMetadata, openRegistry, type MetadataLocation, type MigrationReport, type OpenRegistryOptions } from './open.js';
export type { AddSignatureInput, ArtifactSignatureRecord } from './signatures.js';
export { readGitInfo, type GitInfo } from './lineage.js';
export {
  EXPORT_FORMAT,
  EXPORT_TABLES,
  EXPORT_TABLE_NAMES,
  exportRegistry,
  importRegistry,
  verifyExportDir,
  type ExportManifest,
  type ExportOptions,
  type ExportResult,
  type ExportTable,
  type ImportOptions,
  type ImportResult,
  type TransferProgress,
} from './transfer.js';

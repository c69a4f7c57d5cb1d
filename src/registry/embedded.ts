import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Clock } from '../core/index.js';
import { FsArtifactStore } from './fs-artifact-store.js';
import { Registry } from './registry.js';
import { SqliteMetadataStore } from './sqlite/sqlite-metadata-store.js';

export interface EmbeddedRegistryOptions {
  clock?: Clock;
  /** actor recorded when a call names none (default: the OS user) */
  defaultActor?: string;
  /** how long a writer waits for another process's write lock (default 5000 ms) */
  busyTimeoutMs?: number;
}

/**
 * Open the registry of one machine: `<dataDir>/berth.db` (SQLite, migrated to the latest schema)
 * and blobs under `<dataDir>/artifacts`. `close()` on the returned registry closes both.
 *
 * @example
 * const registry = await openEmbeddedRegistry('.berth');
 * try { console.log(await registry.listModels()); } finally { await registry.close(); }
 */
export async function openEmbeddedRegistry(dataDir: string, opts: EmbeddedRegistryOptions = {}): Promise<Registry> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true });
  const artifacts = new FsArtifactStore(join(dir, 'artifacts'));
  await artifacts.removeStaleTempFiles();
  const metadata = new SqliteMetadataStore({ path: join(dir, 'berth.db'), ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}) });
  try {
    await metadata.migrate();
  } catch (err) {
    await metadata.close();
    throw err;
  }
  return new Registry({
    metadata,
    artifacts,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.defaultActor ? { defaultActor: opts.defaultActor } : {}),
    onClose: () => metadata.close(),
  });
}

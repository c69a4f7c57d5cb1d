/**
 * Commands that run a model in the CLI's own process (batch, stream) need two things from the
 * registry: a version resolved from NAME[@version|@alias], and its model file. They come from the
 * local registry (the data dir, or the database and artifact store named in the environment), or,
 * with `--server URL`, from that server's API: the version record and the file it serves, checked
 * against the record's sha256.
 */
import { createHash } from 'node:crypto';
import { BerthError, type ModelRef } from '../../core/index.js';
import type { ModelArtifacts } from '../../jobs/index.js';
import { openRegistry, type VersionRecord } from '../../registry/index.js';
import type { CliContext } from '../context.js';
import type { RemoteClient } from '../remote-client.js';

/** What a command scoring in this process needs from a registry. A `Registry` is one. */
export interface ModelSource extends ModelArtifacts {
  resolve(ref: ModelRef): Promise<VersionRecord>;
}

/** A server's registry through its API. */
function remoteSource(client: RemoteClient): ModelSource {
  const versions = new Map<string, VersionRecord>();
  return {
    async resolve(ref) {
      const s = ref.selector;
      let version: number;
      if (s.kind === 'version') version = s.version;
      else {
        const m = await client.getModel(ref.name);
        const v = s.kind === 'latest' ? m.latestVersion : m.aliases[s.alias];
        if (v === null || v === undefined) {
          throw new BerthError('VERSION_NOT_FOUND', `${ref.toString()}: ${s.kind === 'latest' ? 'the model has no versions' : `no alias "${s.kind === 'alias' ? s.alias : ''}" (aliases: ${Object.keys(m.aliases).join(', ') || 'none'})`} on ${client.where}`, { field: 'model', got: ref.toString() });
        }
        version = v;
      }
      const record = await client.getVersion(ref.name, version);
      versions.set(record.sha256, record);
      return record;
    },
    artifacts: {
      async read(sha256) {
        const v = versions.get(sha256);
        if (v === undefined) throw new BerthError('INTERNAL', `no version with sha256 ${sha256} was resolved through ${client.where}`);
        const bytes = await client.downloadArtifact(v.model, v.version);
        const got = createHash('sha256').update(bytes).digest('hex');
        if (got !== sha256) {
          throw new BerthError('ARTIFACT_CORRUPTED', `${v.model}@${v.version} from ${client.where} has sha256 ${got.slice(0, 12)}…, not the ${sha256.slice(0, 12)}… its record names; it was not used`, { field: 'model' });
        }
        return bytes;
      },
    },
  };
}

/**
 * Give `work` the registry `berth <command>` points at: with `--server URL` (or BERTH_SERVER),
 * that server's; otherwise the local one. Closes it afterwards.
 */
export async function withLocalRegistry(ctx: CliContext, command: string, work: (source: ModelSource) => Promise<void>): Promise<void> {
  const g = ctx.globals;
  if (ctx.serverExplicit && !g.local) {
    const client = await ctx.client({ needServer: true });
    if (client.kind !== 'remote') throw new BerthError('SERVER_UNREACHABLE', `berth ${command} --server: no server answers at ${g.server}`);
    await work(remoteSource(client as RemoteClient));
    return;
  }
  const registry = await openRegistry({
    dataDir: g.dataDir,
    databaseUrl: ctx.io.env['BERTH_DATABASE_URL'] || null,
    artifactsUrl: ctx.io.env['BERTH_ARTIFACTS_URL'] || null,
  });
  try {
    await work(registry);
  } finally {
    await registry.close();
  }
}

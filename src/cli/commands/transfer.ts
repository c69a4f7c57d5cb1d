import type { Command } from 'commander';
import { configFromEnv, resolveConfig, type ConfigLayer } from '../../core/index.js';
import type { Registry, TransferProgress } from '../../registry/index.js';
import { CLI_VERSION, type CliContext } from '../context.js';
import { examples } from './options.js';

interface LocationFlags {
  database?: string;
  artifacts?: string;
}

/** `berth export` and `berth import`: move a whole registry through a directory, verified by sha256. */
export function addTransferCommands(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('write the whole registry (every row and artifact) to a directory with checksums, to back it up or move it to another store')
    .requiredOption('--out <dir>', 'the directory to create (must be new or empty)')
    .option('--force', 'replace an earlier export in --out (never a directory holding anything else)')
    .option('--database <url>', "the PostgreSQL registry to read, postgres://… (also BERTH_DATABASE_URL); without it, the data dir's berth.db")
    .option('--artifacts <url>', 'where its artifacts live, s3://bucket/prefix (also BERTH_ARTIFACTS_URL); without it, the data dir')
    .addHelpText(
      'after',
      examples(
        'berth export --out backup-2024-05-01                     # the data dir (.berth)',
        'BERTH_DATABASE_URL=postgres://berth@db/berth BERTH_ARTIFACTS_URL=s3://models/berth berth export --out registry-copy',
        'cd backup-2024-05-01 && sha256sum -c checksums.sha256   # every file verifies',
      ),
    )
    .action(async (o: LocationFlags & { out: string; force?: boolean }) => {
      const { exportRegistry } = await import('../../registry/index.js');
      const result = await withRegistry(ctx, o, (registry) =>
        exportRegistry(registry, o.out, { force: o.force === true, berthVersion: CLI_VERSION, onProgress: (p) => progress(ctx, 'exported', p) }),
      );
      const m = result.manifest;
      const rows = Object.values(m.tables).reduce((s, t) => s + t.rows, 0);
      ctx.print(result, () => `exported ${rows} rows and ${m.artifacts.count} artifacts (${formatBytes(m.artifacts.bytes)}) to ${result.outDir} (schema version ${m.schemaVersion})\n`);
    });

  program
    .command('import')
    .description('load an export into an empty registry: every checksum is verified first, then artifacts are stored and all rows inserted in one transaction')
    .argument('<dir>', 'a directory written by berth export')
    .option('--database <url>', "the PostgreSQL registry to fill, postgres://…[?schema=name] (also BERTH_DATABASE_URL); without it, the data dir's berth.db")
    .option('--artifacts <url>', 'where to store the artifacts, s3://bucket/prefix (also BERTH_ARTIFACTS_URL); without it, the data dir')
    .addHelpText(
      'after',
      examples(
        'berth import backup-2024-05-01 --data-dir /var/lib/berth',
        'berth import backup-2024-05-01 --database postgres://berth@db/berth --artifacts s3://models/berth',
        '# the target must be empty and at the export\'s schema version (berth migrate)',
      ),
    )
    .action(async (dir: string, o: LocationFlags) => {
      const { importRegistry } = await import('../../registry/index.js');
      const result = await withRegistry(ctx, o, (registry) => importRegistry(registry, dir, { onProgress: (p) => progress(ctx, 'imported', p) }));
      const rows = Object.values(result.rows).reduce((s, n) => s + n, 0);
      ctx.print(result, () => {
        const audit = result.audit.ok ? `audit chain verifies (${result.audit.rows} rows)` : `audit chain does NOT verify from row ${result.audit.firstBroken?.id ?? '?'}`;
        return `imported ${rows} rows and ${result.artifacts.count} artifacts (${formatBytes(result.artifacts.bytes)}) from ${result.inDir}; ${audit}\n`;
      });
    });
}

/** Open the registry the flags, environment and data dir name (as `berth migrate` resolves them). */
async function withRegistry<T>(ctx: CliContext, o: LocationFlags, fn: (registry: Registry) => Promise<T>): Promise<T> {
  const flags: ConfigLayer = {
    ...(ctx.dataDirExplicit ? { dataDir: ctx.globals.dataDir } : {}),
    ...(o.database !== undefined ? { database: { url: o.database } } : {}),
    ...(o.artifacts !== undefined ? { artifacts: { url: o.artifacts } } : {}),
  };
  const config = resolveConfig(configFromEnv(ctx.io.env), flags);
  const { openRegistry } = await import('../../registry/index.js');
  const registry = await openRegistry({
    dataDir: config.dataDir,
    databaseUrl: config.database.url,
    artifactsUrl: config.artifacts.url,
    ...(ctx.globals.actor !== undefined ? { defaultActor: ctx.globals.actor } : {}),
  });
  try {
    return await fn(registry);
  } finally {
    await registry.close();
  }
}

/** Progress goes to stderr, so `--json` output on stdout stays one document. */
function progress(ctx: CliContext, verb: string, p: TransferProgress): void {
  if (p.kind === 'verified') ctx.io.err(`verified ${p.files} files (${formatBytes(p.bytes)}) against checksums.sha256\n`);
  else if (p.kind === 'table') ctx.io.err(`${verb} ${p.table}: ${p.rows} row${p.rows === 1 ? '' : 's'}\n`);
  else ctx.io.err(`${verb} artifact ${p.done}/${p.total} ${p.sha256.slice(0, 12)}… (${formatBytes(p.sizeBytes)})\n`);
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

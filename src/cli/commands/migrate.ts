import type { Command } from 'commander';
import { configFromEnv, resolveConfig, type ConfigLayer } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { examples } from './options.js';
import { readConfigFile } from './serve.js';

interface MigrateFlags {
  database?: string;
  config?: string;
}

/** `berth migrate` */
export function addMigrateCommand(program: Command, ctx: CliContext): void {
  program
    .command('migrate')
    .description('bring the registry database to the latest schema and say which migrations ran (servers also migrate when they start)')
    .option('--database <url>', 'the PostgreSQL registry, postgres://user:pass@host:5432/db[?schema=name] (also BERTH_DATABASE_URL, database.url); without it, the data dir\'s berth.db')
    .option('--config <file>', 'configuration file, YAML or JSON, as berth serve reads it (database.url, dataDir)')
    .addHelpText(
      'after',
      examples(
        'berth migrate --database postgres://berth:$PGPASSWORD@db:5432/berth',
        'BERTH_DATABASE_URL=postgres://berth@db/berth?schema=registry berth migrate --json',
        'berth migrate --data-dir /var/lib/berth          # the embedded SQLite registry',
      ),
    )
    .action(async (o: MigrateFlags) => {
      const fileLayer = o.config === undefined ? {} : await readConfigFile(o.config);
      const flags: ConfigLayer = {
        ...(ctx.dataDirExplicit ? { dataDir: ctx.globals.dataDir } : {}),
        ...(o.database !== undefined ? { database: { url: o.database } } : {}),
      };
      const config = resolveConfig(fileLayer, configFromEnv(ctx.io.env), flags);
      const { migrateMetadata } = await import('../../registry/index.js');
      const report = await migrateMetadata({ dataDir: config.dataDir, databaseUrl: config.database.url });
      ctx.print(report, () => {
        const where = `${report.where}${report.schema !== null ? ` (schema ${report.schema})` : ''}`;
        if (report.applied.length === 0) return `${where} is up to date (schema version ${report.latest})\n`;
        const lines = report.applied.map((m) => `  ${m.version}  ${m.name}`);
        return `applied ${report.applied.length} migration${report.applied.length === 1 ? '' : 's'} to ${where}:\n${lines.join('\n')}\nnow at schema version ${report.latest}\n`;
      });
    });
}

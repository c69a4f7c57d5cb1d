import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { parseUserTime, parseVersionArg } from '../parse.js';
import { renderAliasHistory } from '../render.js';
import { examples, optionParser } from './options.js';

/** `berth alias …` */
export function addAliasCommands(program: Command, ctx: CliContext): void {
  const alias = program
    .command('alias')
    .description('movable names for versions (production, staging, …), with history')
    .addHelpText(
      'after',
      examples('berth alias set breast-cancer production 2', 'berth alias history breast-cancer --at "last tuesday 14:03"', 'berth alias rollback breast-cancer production'),
    );

  alias
    .command('set')
    .description('point an alias at a version (deployments serving the alias follow)')
    .argument('<name>', 'model name')
    .argument('<alias>', 'alias name, e.g. production')
    .argument('<version>', 'version number', optionParser((t) => parseVersionArg('version', t)))
    .addHelpText('after', examples('berth alias set breast-cancer production 2', '# breast-cancer@production → version 2 (was 1)'))
    .action(async (name: string, a: string, version: number) => {
      const r = await (await ctx.client()).setAlias(name, a, version);
      ctx.print(r, () =>
        r.changed
          ? `${name}@${a} → version ${r.version} (${r.previousVersion === null ? 'new alias' : `was ${r.previousVersion}`})\n`
          : `${name}@${a} already points at version ${r.version}; nothing changed\n`,
      );
    });

  alias
    .command('delete')
    .description('remove an alias (refused while a deployment serves through it)')
    .argument('<name>', 'model name')
    .argument('<alias>', 'alias name')
    .addHelpText('after', examples('berth alias delete breast-cancer staging'))
    .action(async (name: string, a: string) => {
      const r = await (await ctx.client()).deleteAlias(name, a);
      ctx.print(r, () => `removed ${name}@${a}${r.previousVersion !== null ? ` (it pointed at version ${r.previousVersion})` : ''}\n`);
    });

  alias
    .command('rollback')
    .description("undo the alias's latest change: point it back where it pointed before")
    .argument('<name>', 'model name')
    .argument('<alias>', 'alias name')
    .addHelpText('after', examples('berth alias rollback breast-cancer production', '# breast-cancer@production rolled back to version 1 (was 2)'))
    .action(async (name: string, a: string) => {
      const r = await (await ctx.client()).rollbackAlias(name, a);
      ctx.print(r, () => `${name}@${a} rolled back to version ${r.version} (was ${r.previousVersion ?? 'unset'})\n`);
    });

  alias
    .command('history')
    .description("every move of a model's aliases, newest first; --at answers where they pointed at a moment")
    .argument('<name>', 'model name')
    .option('--alias <alias>', 'only this alias')
    .option('--at <time>', 'a moment: "2026-11-17 14:03" (local), ISO 8601, "yesterday 14:03", "last tuesday 14:03", "2h ago"')
    .addHelpText(
      'after',
      examples(
        'berth alias history breast-cancer',
        'berth alias history breast-cancer --alias production --at "2026-11-17 14:03"',
        '# at 2026-11-17 14:03:00 (2026-11-17T13:03:00.000Z):',
        '#   breast-cancer@production → version 1',
      ),
    )
    .action(async (name: string, o: { alias?: string; at?: string }) => {
      const atMs = o.at === undefined ? undefined : parseUserTime('--at', o.at, ctx.now());
      const h = await (await ctx.client()).aliasHistory(name, {
        ...(o.alias !== undefined ? { alias: o.alias } : {}),
        ...(atMs !== undefined ? { atMs } : {}),
      });
      ctx.print(h, () => renderAliasHistory(h, ctx.now()));
    });
}

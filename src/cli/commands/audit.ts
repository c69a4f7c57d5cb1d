import { Command, Option } from 'commander';
import type { AuditAction } from '../../registry/index.js';
import type { AuditFilter } from '../client.js';
import type { CliContext } from '../context.js';
import { parseCount, parseUserTime } from '../parse.js';
import { renderAudit, renderStatus } from '../render.js';
import { examples, optionParser } from './options.js';

/** Every audit action, for `--action` (kept in step with the registry's AUDIT_ACTIONS by a test). */
export const AUDIT_ACTION_CHOICES = [
  'version.register', 'version.tags.set', 'version.tags.delete', 'version.describe', 'version.reference',
  'model.tags.set', 'model.tags.delete', 'model.describe',
  'alias.set', 'alias.delete', 'alias.rollback',
  'deployment.create', 'deployment.update', 'deployment.rollback', 'deployment.delete', 'deployment.fallback',
  'rollout.start', 'rollout.step', 'rollout.analysis', 'rollout.pause', 'rollout.resume', 'rollout.promote', 'rollout.abort', 'rollout.rollback', 'rollout.gates',
] as const;

/** `berth audit` and `berth status` */
export function addAuditCommands(program: Command, ctx: CliContext): void {
  program
    .command('audit')
    .description('the audit log, newest first: who changed what, when')
    .option('--limit <n>', 'most entries (1-10000)', optionParser((t) => parseCount('--limit', t, 1)), 50)
    .addOption(new Option('--action <action>', 'only this action').choices(AUDIT_ACTION_CHOICES))
    .option('--target <target>', 'only this target, e.g. alias:breast-cancer@production or deployment:breast-cancer')
    .option('--model <name>', 'only changes concerning this model')
    .option('--since <time>', 'only changes at or after this moment ("2026-11-17 14:00", "1d ago", …)')
    .addHelpText(
      'after',
      examples('berth audit --limit 20', 'berth audit --action alias.set --target alias:breast-cancer@production', 'berth audit --model breast-cancer --since "1d ago"'),
    )
    .action(async (o: { limit: number; action?: AuditAction; target?: string; model?: string; since?: string }) => {
      const filter: AuditFilter = { limit: o.limit };
      if (o.action !== undefined) filter.action = o.action;
      if (o.target !== undefined) filter.target = o.target;
      if (o.model !== undefined) filter.model = o.model;
      if (o.since !== undefined) filter.since = parseUserTime('--since', o.since, ctx.now());
      const list = await (await ctx.client()).audit(filter);
      ctx.print(list, () => renderAudit(list, ctx.now()));
    });

  program
    .command('status')
    .description('the server (version, uptime, data dir, loaded models), or the data dir when no server runs')
    .addHelpText('after', examples('berth status', 'berth --server http://10.0.0.5:8080 status --json'))
    .action(async () => {
      const client = await ctx.client();
      const s = await client.status();
      ctx.print(s, () => renderStatus(s, client.where, ctx.now()));
    });
}

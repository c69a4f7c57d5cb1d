import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { BerthError } from '../../core/index.js';
import type { AuditVerification } from '../../registry/index.js';
import type { AuditFilter } from '../client.js';
import type { CliContext } from '../context.js';
import { parseCount, parseUserTime } from '../parse.js';
import { renderAudit, renderStatus } from '../render.js';
import { examples, optionParser } from './options.js';

/** Every audit action, for `--action` (kept in step with the registry's AUDIT_ACTIONS by a test). */
export const AUDIT_ACTION_CHOICES = [
  'version.register', 'version.tags.set', 'version.tags.delete', 'version.describe', 'version.reference', 'version.sign',
  'model.tags.set', 'model.tags.delete', 'model.describe',
  'alias.set', 'alias.delete', 'alias.rollback',
  'deployment.create', 'deployment.update', 'deployment.rollback', 'deployment.delete', 'deployment.fallback',
  'rollout.start', 'rollout.step', 'rollout.analysis', 'rollout.pause', 'rollout.resume', 'rollout.promote', 'rollout.abort', 'rollout.rollback', 'rollout.gates',
  'token.create', 'token.revoke', 'config.change', 'job.submit', 'job.cancel', 'schedule.create', 'schedule.update', 'schedule.delete',
  'pipeline.create', 'pipeline.update', 'pipeline.pause', 'pipeline.resume', 'pipeline.delete', 'pipeline.run', 'pipeline.cancel',
] as const;

/**
 * `--action`: an action, or a prefix selecting several (`deployment`, `deployment.`, `version.tags`),
 * matched as the registry matches it (`auditActionsMatching`).
 */
export function parseAuditAction(text: string): string {
  const prefix = text.endsWith('.') ? text : `${text}.`;
  const known = AUDIT_ACTION_CHOICES.some((a) => a === text || (text !== '' && text !== '.' && a.startsWith(prefix)));
  if (!known) {
    const groups = [...new Set(AUDIT_ACTION_CHOICES.map((a) => `${a.split('.')[0]!}.`))];
    throw new BerthError('INVALID_ARGUMENT', `--action: expected an action or a prefix like ${groups.join(', ')} (actions: ${AUDIT_ACTION_CHOICES.join(', ')}), got ${JSON.stringify(text)}`, {
      field: 'action',
      got: text,
    });
  }
  return text;
}

/**
 * `--since`/`--until`: a duration back from now (`1h`, `90m`, `7d`) or any moment `parseUserTime`
 * reads (`2026-11-01`, `2026-11-01T09:00:00Z`, `yesterday 14:00`, `2h ago`).
 */
export function parseAuditTime(field: string, text: string, now: number): number {
  return /^\s*\d+(?:\.\d+)?\s*[a-z]+\s*$/i.test(text) ? parseUserTime(field, `${text.trim()} ago`, now) : parseUserTime(field, text, now);
}

interface FilterOptions {
  since?: string;
  until?: string;
  action?: string;
  target?: string;
  model?: string;
}

function addFilterOptions(cmd: Command): Command {
  return cmd
    .option('--since <time>', 'only changes at or after this moment: 1h, 7d, 2026-11-01, 2026-11-17T14:00:00Z, "yesterday 14:00"')
    .option('--until <time>', 'only changes before this moment (same forms as --since)')
    .option('--action <action>', 'only this action, or a prefix: deployment., rollout., alias., token.', optionParser(parseAuditAction))
    .option('--target <target>', 'only this target, e.g. alias:breast-cancer@production or deployment:breast-cancer')
    .option('--model <name>', 'only changes concerning this model');
}

function filterOf(o: FilterOptions, now: number): AuditFilter {
  const filter: AuditFilter = {};
  if (o.since !== undefined) filter.since = parseAuditTime('--since', o.since, now);
  if (o.until !== undefined) filter.until = parseAuditTime('--until', o.until, now);
  if (o.action !== undefined) filter.action = o.action;
  if (o.target !== undefined) filter.target = o.target;
  if (o.model !== undefined) filter.model = o.model;
  return filter;
}

/** `berth audit` (list, export, verify) and `berth status` */
export function addAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .description('the audit log: who changed what, when and from where; export it, verify its hash chain')
    .addHelpText(
      'after',
      examples('berth audit --since 1h', 'berth audit --action deployment. --model breast-cancer', 'berth audit export --since 2026-11-01 --out audit.jsonl', 'berth audit verify'),
    );

  addFilterOptions(
    audit
      .command('list', { isDefault: true })
      .description('the audit log, newest first (the default of `berth audit`)')
      .option('--limit <n>', 'most entries (1-10000)', optionParser((t) => parseCount('--limit', t, 1)), 50),
  )
    .addHelpText(
      'after',
      examples('berth audit --limit 20', 'berth audit --since 1h --action deployment.', 'berth audit --action alias.set --target alias:breast-cancer@production', 'berth audit --model breast-cancer --since 2026-11-01 --json'),
    )
    .action(async (o: FilterOptions & { limit: number }) => {
      const filter: AuditFilter = { ...filterOf(o, ctx.now()), limit: o.limit };
      const list = await (await ctx.client()).audit(filter);
      ctx.print(list, () => renderAudit(list, ctx.now()));
    });

  addFilterOptions(
    audit
      .command('export')
      .description('every matching entry, oldest first, as JSON lines (one entry per line) on stdout or into a file')
      .option('--out <file>', 'write to this file (atomically: it appears complete or not at all) instead of stdout'),
  )
    .addHelpText('after', examples('berth audit export > audit.jsonl', 'berth audit export --since 2026-11-01 --until 2026-12-01 --out november.jsonl', 'berth audit export --action token. --since 30d'))
    .action(async (o: FilterOptions & { out?: string }) => {
      const filter = filterOf(o, ctx.now());
      const client = await ctx.client();
      if (o.out === undefined) {
        await client.exportAudit(filter, async (chunk) => ctx.io.out(chunk));
        return;
      }
      const out = o.out;
      const rows = await writeFileAtomically(out, (write) => client.exportAudit(filter, write));
      ctx.note(`exported ${rows} audit ${rows === 1 ? 'entry' : 'entries'} to ${out}`);
    });

  audit
    .command('verify')
    .description("recompute the audit log's hash chain: exit 0 when intact, 1 naming the first edited, removed or moved row")
    .addHelpText('after', examples('berth audit verify', 'berth audit verify --json'))
    .action(async () => {
      const v = await (await ctx.client()).verifyAudit();
      if (v.ok) {
        ctx.print(v, () => describeIntact(v));
        return;
      }
      if (ctx.globals.json) ctx.print(v, () => '');
      const b = v.firstBroken!;
      throw new BerthError('AUDIT_CHAIN_BROKEN', `audit chain broken at row ${b.id}: ${b.reason} (${v.rows} rows read); the log cannot be trusted from that row on`, {
        got: b.id,
      });
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

function describeIntact(v: AuditVerification): string {
  if (v.head === null) return 'chain intact: 0 rows (the audit log is empty)\n';
  return `chain intact: ${v.rows} ${v.rows === 1 ? 'row' : 'rows'}, head ${v.head}\n`;
}

/**
 * Write `file` from what `fill` writes, atomically: into a temporary file beside it, fsynced,
 * then renamed over it; on failure the temporary file is removed and `file` is untouched.
 */
async function writeFileAtomically<T>(file: string, fill: (write: (chunk: string) => Promise<void>) => Promise<T>): Promise<T> {
  const target = path.resolve(file);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx');
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `--out: cannot write beside ${target} (${(err as Error).message}); check the folder exists and is writable`, {
      field: 'out',
      got: file,
    }, { cause: err });
  }
  try {
    let result: T;
    try {
      // writeFile on a handle writes all of the chunk from the current position
      result = await fill((chunk) => fh.writeFile(chunk, 'utf8'));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
    return result;
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

import { Command } from 'commander';
import { BerthError } from '../../core/index.js';
import type { TokenView } from '../../security/index.js';
import type { CliContext } from '../context.js';
import { formatTable, formatWhen } from '../format.js';
import { collect, examples, optionParser } from './options.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };
const RATE_UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90d`, `12h`, `never`, or a date/ISO time → ms since epoch (null = never). */
export function parseExpiry(text: string, now: number): number | null {
  const t = text.trim();
  if (t === 'never') return null;
  const m = /^(\d+)\s*([smhdwy])$/.exec(t);
  if (m) return now + Number(m[1]) * UNIT_MS[m[2]!]!;
  const at = Date.parse(t);
  if (Number.isFinite(at) && at > now) return at;
  throw new BerthError('INVALID_ARGUMENT', `--expires: expected a lifetime like 90d, 12h or 1y, a future date like 2027-01-31, or never; got "${text}"`, {
    field: '--expires',
    expected: 'Nd | Nh | Nw | Ny | YYYY-MM-DD | never',
    got: text,
  });
}

/**
 * `100/s`, `6000/m`, `10000/d` → requests per second, and the burst it implies by default: one
 * second's worth for /s and /m, the whole amount for /h and /d (a quota may be spent at once).
 */
export function parseRate(text: string): { rate: number; defaultBurst: number } {
  const m = /^(\d+(?:\.\d+)?)\s*\/\s*([smhd])$/.exec(text.trim());
  const rate = m ? Number(m[1]) / RATE_UNIT_S[m[2]!]! : NaN;
  if (!(rate > 0)) {
    throw new BerthError('INVALID_ARGUMENT', `--rate: expected requests per unit like 100/s, 6000/m or 10000/d (a daily quota); got "${text}"`, {
      field: '--rate',
      expected: 'N/s | N/m | N/h | N/d',
      got: text,
    });
  }
  const count = Number(m![1]);
  return { rate, defaultBurst: m![2] === 'h' || m![2] === 'd' ? Math.max(1, Math.floor(count)) : Math.max(1, Math.ceil(rate)) };
}

interface CreateFlags {
  name?: string;
  role?: string[];
  scope?: string[];
  expires: string;
  rate?: { rate: number; defaultBurst: number };
  burst?: number;
}

/** `berth tokens …` and `berth whoami` */
export function addTokenCommands(program: Command, ctx: CliContext): void {
  const tokens = program
    .command('tokens')
    .description('API tokens: create (shown once), list, revoke. Needs admin on a server, or the data dir itself')
    .addHelpText(
      'after',
      examples(
        'berth tokens create --name fraud-app --scope predict:fraud --expires 90d',
        'berth tokens create --name ci --role deployer --json        # {"token": "berth_…", …}',
        'berth tokens list',
        'berth tokens revoke k3J9x2AbCdEf',
      ) +
        '\nRoles: admin (everything), deployer (register, deploy, rollouts + read), predictor (infer/predict on all deployments), viewer (reads, metrics, reports).\n' +
        'Scopes: predict:NAME, read:NAME, deploy:NAME (NAME a deployment or model, or *), admin.\n',
    );

  tokens
    .command('create')
    .description('mint a token; its secret is printed once and stored only as a slow hash')
    .requiredOption('--name <name>', 'who or what the token is for (shown in the audit trail)')
    .option('--role <role>', 'admin, deployer, predictor or viewer (repeatable)', collect)
    .option('--scope <scope>', 'predict:NAME, read:NAME, deploy:NAME or admin; NAME may be * (repeatable)', collect)
    .option('--expires <when>', 'lifetime (90d, 12h, 1y), a date, or never', '90d')
    .option('--rate <n/unit>', "the token's own rate limit: 100/s, 6000/m, or a daily quota 10000/d", optionParser(parseRate))
    .option('--burst <n>', 'most requests at once under --rate (default: one second of --rate, at least 1; a /d quota: the whole quota)', optionParser((t) => Number(t)))
    .addHelpText('after', examples('berth tokens create --name fraud-app --scope predict:fraud --rate 50/s --burst 100', 'berth tokens create --name nightly --scope predict:churn --rate 100000/d'))
    .action(async (o: CreateFlags) => {
      if ((o.role ?? []).length === 0 && (o.scope ?? []).length === 0) {
        throw new BerthError('INVALID_ARGUMENT', 'a token needs at least one --role or --scope, e.g. --role predictor or --scope predict:fraud', { field: '--scope' });
      }
      const expiresAt = parseExpiry(o.expires, ctx.now());
      let rateLimit: { rate: number; burst: number } | null = null;
      if (o.rate !== undefined) {
        const burst = o.burst ?? o.rate.defaultBurst;
        if (!(burst >= 1) || !Number.isFinite(burst)) throw new BerthError('INVALID_ARGUMENT', `--burst: expected a number >= 1, got ${o.burst}`, { field: '--burst', got: o.burst });
        rateLimit = { rate: o.rate.rate, burst };
      } else if (o.burst !== undefined) {
        throw new BerthError('INVALID_ARGUMENT', '--burst needs --rate', { field: '--burst' });
      }
      const r = await (await ctx.client()).createToken({
        name: o.name ?? '',
        roles: o.role ?? [],
        scopes: o.scope ?? [],
        expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
        rateLimit,
      });
      ctx.print(
        r,
        () =>
          `${r.token}\n\n` +
          `token ${r.record.id} "${r.record.name}": ${r.record.scopes.join(', ')}; ${r.record.expiresAt ? `expires ${r.record.expiresAt}` : 'never expires'}` +
          `${r.record.rateLimit ? `; limit ${r.record.rateLimit.rate}/s, burst ${r.record.rateLimit.burst}` : ''}\n` +
          'Store it now (e.g. in a secret manager): it is not shown again. Use it with BERTH_TOKEN=… or Authorization: Bearer ….\n',
      );
    });

  tokens
    .command('list')
    .description('every token: id, name, scopes, expiry, last use (never the secrets)')
    .option('--all', 'include revoked and expired tokens')
    .addHelpText('after', examples('berth tokens list', 'berth tokens list --all --json'))
    .action(async (o: { all?: boolean }) => {
      const r = await (await ctx.client()).listTokens();
      const shown = o.all ? r.tokens : r.tokens.filter((t) => t.state === 'active');
      ctx.print({ tokens: shown }, () => renderTokens(shown, ctx.now(), r.tokens.length - shown.length));
    });

  tokens
    .command('revoke')
    .description('revoke a token for good; every server refuses it within seconds')
    .argument('<id>', 'token id (the part after berth_, before the next _), from `berth tokens list`')
    .addHelpText('after', examples('berth tokens revoke k3J9x2AbCdEf'))
    .action(async (id: string) => {
      const r = await (await ctx.client()).revokeToken(id);
      ctx.print(r, () => (r.changed ? `revoked token ${id} "${r.token.name}"\n` : `token ${id} was already revoked (${r.token.revokedAt})\n`));
    });

  program
    .command('whoami')
    .description('who your credentials are to the server, and what they may do')
    .addHelpText('after', examples('berth whoami', 'berth --server https://berth.internal:8443 --json whoami     # token from BERTH_TOKEN'))
    .action(async () => {
      const r = await (await ctx.client()).whoami();
      ctx.print(r, () => `${r.name}\n  kind   ${r.kind}\n  scopes ${r.scopes.join(', ') || '(none)'}\n  expires ${r.expiresAt ?? 'never'}\n`);
    });
}

function renderTokens(tokens: TokenView[], now: number, hidden: number): string {
  if (tokens.length === 0) return `no active tokens${hidden ? ` (${hidden} revoked or expired: --all shows them)` : '; create one with berth tokens create'}\n`;
  const rows = tokens.map((t) => [
    t.id,
    t.name,
    t.scopes.join(' '),
    t.state,
    t.expiresAt ? formatWhen(t.expiresAt, now) : 'never',
    t.lastUsedAt ? formatWhen(t.lastUsedAt, now) : 'never',
    t.rateLimit ? `${+t.rateLimit.rate.toFixed(4)}/s burst ${t.rateLimit.burst}` : '',
  ]);
  return formatTable(['ID', 'NAME', 'SCOPES', 'STATE', 'EXPIRES', 'LAST USED', 'LIMIT'], rows) + (hidden ? `(${hidden} revoked or expired: --all shows them)\n` : '');
}

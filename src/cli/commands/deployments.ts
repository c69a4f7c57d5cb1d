import { Command, Option } from 'commander';
import { BerthError } from '../../core/index.js';
import type { DeploymentSettings, TrafficArm, TrafficPolicy } from '../../registry/index.js';
import type { DeployRequest } from '../../protocol/index.js';
import type { CliContext } from '../context.js';
import { parseArmsArg, parseCount, parseStickyArg, parseUserTime, parseVersionArg, readJsonArg } from '../parse.js';
import { describeSettings, describeTarget, describeTraffic, renderDeployment, renderDeploymentHistory, renderDeploymentList, renderPredictions } from '../render.js';
import { examples, optionParser } from './options.js';

const count = (flag: string, min = 0): ((t: string) => number) => optionParser((t) => parseCount(flag, t, min));

/** `berth deploy`, `berth deployments …` and `berth predict` */
export function addDeploymentCommands(program: Command, ctx: CliContext): void {
  program
    .command('deploy')
    .description('create or change a deployment: a named endpoint serving an alias (follows its moves) or a pinned version')
    .argument('<deployment>', 'deployment name (the endpoint: /v2/models/<deployment>/infer)')
    .requiredOption('--model <name>', 'the model to serve')
    .addOption(new Option('--alias <alias>', 'serve whatever this alias points at').conflicts('version'))
    .addOption(new Option('--version <n>', 'serve this version, pinned').argParser(optionParser((t) => parseVersionArg('--version', t))))
    .option('--max-batch-size <n>', 'most rows in one runtime call', count('--max-batch-size', 1))
    .option('--max-queue-delay-ms <ms>', 'how long a partial batch may wait for more rows', count('--max-queue-delay-ms'))
    .option('--max-queue-size <n>', 'most rows waiting; beyond it requests get 429', count('--max-queue-size', 1))
    .option('--timeout-ms <ms>', 'per-request deadline', count('--timeout-ms', 1))
    .option('--min-loaded <n>', 'instances kept loaded regardless of idleness', count('--min-loaded'))
    .option('--idle-unload-ms <ms>', 'unload after this long unused (0 = never)', count('--idle-unload-ms'))
    .option('--split <arms>', 'other versions answering a share of traffic: VERSION=PERCENT[,…] (the target answers the rest)', optionParser((t) => parseArmsArg('--split', t)))
    .option('--shadow <arms>', 'versions getting a copy of requests, never answering: VERSION[=PERCENT][,…] (default 100)', optionParser((t) => parseArmsArg('--shadow', t, { defaultPercent: 100 })))
    .option('--sticky <key>', 'keep each caller on one arm of the split: header:NAME, parameter:NAME or input:NAME', optionParser((t) => parseStickyArg('--sticky', t)))
    .option('--preview <n>', 'a version answering only the preview route /v2/models/<deployment>/preview/infer', optionParser((t) => parseVersionArg('--preview', t)))
    .option('--fallback <n>', "where traffic goes if the target's circuit breaker trips", optionParser((t) => parseVersionArg('--fallback', t)))
    .option('--no-traffic', 'clear the traffic policy: the target answers every request')
    .addHelpText(
      'after',
      examples(
        'berth deploy breast-cancer --model breast-cancer --alias production',
        'berth deploy bc-canary --model breast-cancer --version 3 --max-batch-size 32 --max-queue-delay-ms 2',
        'berth deploy fraud --model fraud --version 3 --split 4=10                              # 90% v3, 10% v4',
        'berth deploy fraud --model fraud --version 3 --split 4=50 --sticky header:x-user-id    # sticky A/B',
        'berth deploy fraud --model fraud --version 3 --shadow 4                                # v4 gets a copy of every request',
        'berth deploy fraud --model fraud --version 3 --no-traffic                              # all traffic to v3 again',
        '# settings given replace the current ones; omitted, they are kept',
        '# traffic flags given replace the whole traffic policy (its breaker is kept); omitted, it is kept while the target stays',
      ),
    )
    .action(async (name: string, o: DeployFlags, cmd: Command) => {
      if ((o.alias === undefined) === (o.version === undefined)) {
        cmd.error('give exactly one of --alias ALIAS or --version N', { exitCode: 2, code: 'berth.usage' });
      }
      const trafficFlags = (['split', 'shadow', 'sticky', 'preview', 'fallback'] as const).filter((k) => o[k] !== undefined);
      const clearTraffic = o.traffic === false;
      if (clearTraffic && trafficFlags.length > 0) {
        cmd.error(`--no-traffic clears the traffic policy; it cannot go with --${trafficFlags.join(', --')}`, { exitCode: 2, code: 'berth.usage' });
      }
      const settings = settingsOf(o);
      const client = await ctx.client();
      let traffic: TrafficPolicy | null | undefined = clearTraffic ? null : undefined;
      if (trafficFlags.length > 0) {
        // the breaker has no flag: keep the one the deployment has
        const current = await client.getDeployment(name).catch(() => undefined);
        traffic = trafficOf(o, current?.deployment.traffic?.breaker ?? null);
      }
      const req: DeployRequest = {
        model: o.model,
        ...(o.alias !== undefined ? { alias: o.alias } : { version: o.version! }),
        ...(settings ? { settings } : {}),
        ...(traffic !== undefined ? { traffic } : {}),
      };
      const r = await client.deploy(name, req);
      const d = r.deployment;
      const view = await client.getDeployment(name).catch(() => undefined);
      const served = view?.servedVersion ?? null;
      const serving = d.target.kind === 'alias' && served !== null ? ` = version ${served}` : '';
      const trafficText = d.traffic === null ? '' : `; traffic ${describeTraffic(d.traffic, served, ctx.now())}`;
      ctx.print(r, () =>
        !r.changed
          ? `deployment ${name} already serves ${describeTarget(d.model, d.target)}${serving} (${describeSettings(d.settings)}${trafficText}); nothing changed\n`
          : `${r.created ? 'created' : 'updated'} deployment ${name} (revision ${d.revision}): serves ${describeTarget(d.model, d.target)}${serving}` +
            `, ${describeSettings(d.settings)}${trafficText}\n`,
      );
      if (client.kind === 'local' && r.changed) ctx.note(`(no server running: recorded in the data dir ${client.where}; \`berth serve\` will serve it)`);
    });

  const deployments = program
    .command('deployments')
    .description('named endpoints: list, show, history, rollback, delete')
    .addHelpText('after', examples('berth deployments list', 'berth deployments show breast-cancer', 'berth deployments rollback breast-cancer'));

  deployments
    .command('list')
    .description('every deployment with what it serves')
    .addHelpText('after', examples('berth deployments list'))
    .action(async () => {
      const list = await (await ctx.client()).listDeployments();
      ctx.print(list, () => renderDeploymentList(list, ctx.now()));
    });

  deployments
    .command('show')
    .description('one deployment: target, version served, settings and (from a server) live state')
    .argument('<deployment>', 'deployment name')
    .addHelpText('after', examples('berth deployments show breast-cancer'))
    .action(async (name: string) => {
      const d = await (await ctx.client()).getDeployment(name);
      ctx.print(d, () => renderDeployment(d, ctx.now()));
    });

  deployments
    .command('history')
    .description('every revision of a deployment, newest first; --at answers what it served at a moment')
    .argument('<deployment>', 'deployment name')
    .option('--at <time>', 'a moment: "2026-11-17 14:03" (local), ISO 8601, "last tuesday 14:03", "2h ago"')
    .addHelpText('after', examples('berth deployments history breast-cancer', 'berth deployments history breast-cancer --at "last tuesday 14:03"'))
    .action(async (name: string, o: { at?: string }) => {
      const atMs = o.at === undefined ? undefined : parseUserTime('--at', o.at, ctx.now());
      const h = await (await ctx.client()).deploymentHistory(name, atMs !== undefined ? { atMs } : {});
      ctx.print(h, () => renderDeploymentHistory(h, ctx.now()));
    });

  deployments
    .command('rollback')
    .description('return a deployment to its previous revision (recorded as a new revision)')
    .argument('<deployment>', 'deployment name')
    .addHelpText('after', examples('berth deployments rollback breast-cancer'))
    .action(async (name: string) => {
      const d = await (await ctx.client()).rollbackDeployment(name);
      ctx.print(d, () => `deployment ${name} rolled back: serves ${describeTarget(d.model, d.target)} (${describeSettings(d.settings)}), now revision ${d.revision}\n`);
    });

  deployments
    .command('delete')
    .description('remove a deployment (its history stays)')
    .argument('<deployment>', 'deployment name')
    .addHelpText('after', examples('berth deployments delete bc-canary'))
    .action(async (name: string) => {
      const r = await (await ctx.client()).deleteDeployment(name);
      ctx.print(r, () => `deleted deployment ${name} (its history stays: berth deployments history ${name})\n`);
    });

  program
    .command('predict')
    .description('send rows to a deployment of a running server and print labelled predictions')
    .argument('<deployment>', 'deployment name')
    .addOption(new Option('--rows <json>', 'rows of named features: JSON, or @file.json (@- for stdin)').conflicts('instances'))
    .option('--instances <json>', 'rows as arrays of feature values in order: JSON, or @file.json')
    .addHelpText(
      'after',
      examples(
        `berth predict breast-cancer --rows '[{"mean radius": 17.99, "mean texture": 10.38, …}]'`,
        'berth predict breast-cancer --instances @rows.json',
        '# a file may also hold the whole body: {"rows": [...]} or {"instances": [...]}',
      ),
    )
    .action(async (name: string, o: { rows?: string; instances?: string }, cmd: Command) => {
      if ((o.rows === undefined) === (o.instances === undefined)) {
        cmd.error('give exactly one of --rows JSON or --instances JSON', { exitCode: 2, code: 'berth.usage' });
      }
      const key = o.rows !== undefined ? 'rows' : 'instances';
      const value = await readJsonArg(`--${key}`, (o.rows ?? o.instances)!);
      const body = predictBody(key, value);
      const res = await (await ctx.client({ needServer: true })).predict(name, body);
      ctx.print(res, () => renderPredictions(res));
    });
}

interface DeployFlags {
  model: string;
  alias?: string;
  version?: number;
  maxBatchSize?: number;
  maxQueueDelayMs?: number;
  maxQueueSize?: number;
  timeoutMs?: number;
  minLoaded?: number;
  idleUnloadMs?: number;
  split?: TrafficArm[];
  shadow?: TrafficArm[];
  sticky?: { from: 'header' | 'parameter' | 'input'; name: string };
  preview?: number;
  fallback?: number;
  /** commander: false with --no-traffic, else true */
  traffic: boolean;
}

/** The policy the traffic flags describe; what they leave out is empty. */
function trafficOf(o: DeployFlags, breaker: TrafficPolicy['breaker']): TrafficPolicy {
  return {
    split: o.split ?? [],
    sticky: o.sticky ?? null,
    shadows: o.shadow ?? [],
    preview: o.preview ?? null,
    fallback: o.fallback ?? null,
    fallbackWarmUntil: null,
    breaker,
  };
}

function settingsOf(o: DeployFlags): DeploymentSettings | undefined {
  const s: DeploymentSettings = {};
  for (const k of ['maxBatchSize', 'maxQueueDelayMs', 'maxQueueSize', 'timeoutMs', 'minLoaded', 'idleUnloadMs'] as const) {
    if (o[k] !== undefined) s[k] = o[k];
  }
  return Object.keys(s).length > 0 ? s : undefined;
}

export function predictBody(key: 'rows' | 'instances', value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (v['rows'] !== undefined || v['instances'] !== undefined) return v;
    if (key === 'rows') return { rows: [v] };
  }
  if (!Array.isArray(value)) {
    throw new BerthError('INVALID_ARGUMENT', `--${key}: expected a JSON array of rows, got ${JSON.stringify(value)?.slice(0, 80)}`, { field: key });
  }
  return { [key]: value };
}

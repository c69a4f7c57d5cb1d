import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { BerthError } from '../../core/index.js';
import type { StartRolloutRequest } from '../../rollout/index.js';
import { ROLLOUT_ACTIONS, type RolloutAction } from '../client.js';
import type { CliContext } from '../context.js';
import { parseDurationArg, parseStepsArg, parseStickyArg, parseVersionArg } from '../parse.js';
import { renderRollback, renderRolloutChange, renderRolloutList, renderRolloutStarted, renderRolloutStatus } from '../render-rollout.js';
import { examples, optionParser } from './options.js';

const STRATEGY_CHOICES = ['canary', 'blue-green'] as const;
const NO_DATA_CHOICES = ['pause', 'fail', 'pass'] as const;

interface StartFlags {
  toVersion: number;
  strategy?: (typeof STRATEGY_CHOICES)[number];
  steps?: string;
  interval?: string;
  analysis?: string;
  gates?: string;
  keepOld?: string;
  sticky?: { from: string; name: string };
  /** commander: `--no-data <policy>` sets the policy; without it, `true` */
  data: string | boolean;
  allowBreaking?: boolean;
}

const ACTION_HELP: Record<RolloutAction, { description: string; examples: string[] }> = {
  pause: {
    description: 'hold the rollout at its step: the weights stay, no analysis runs until resume',
    examples: ['berth rollout pause credit --reason "investigating a latency spike"'],
  },
  resume: {
    description: 'continue a paused rollout: the step starts a fresh analysis window',
    examples: ['berth rollout resume credit'],
  },
  promote: {
    description: 'skip the remaining steps: the new version takes all traffic now (refused after a failed analysis)',
    examples: ['berth rollout promote credit', '# the old version stays warm for --keep-old; undo with: berth rollback credit'],
  },
  abort: {
    description: 'stop the rollout: all traffic goes back to the stable version now',
    examples: ['berth rollout abort credit --reason "accuracy on new segment looks off"'],
  },
};

/** `berth rollout start|status|list|pause|resume|promote|abort` and `berth rollback` */
export function addRolloutCommands(program: Command, ctx: CliContext): void {
  const rollout = program
    .command('rollout')
    .description('ship a new version gradually: canary steps, shadow, blue-green, each step judged on live traffic (needs a running server)')
    .addHelpText(
      'after',
      examples(
        'berth rollout start credit --to-version 4 --steps 5,25,50,100 --interval 10m',
        'berth rollout status credit',
        'berth rollout abort credit',
        '# see docs/rollouts.md for analysis and gates files',
      ),
    );

  rollout
    .command('start')
    .description('start rolling a deployment out to another version of its model: gates first, then the steps')
    .argument('<deployment>', 'deployment name')
    .requiredOption('--to-version <n>', 'the version to roll out', optionParser((t) => parseVersionArg('--to-version', t)))
    .addOption(new Option('--strategy <strategy>', 'canary (steps of live traffic) or blue-green (preview route, then one switch); default canary').choices([...STRATEGY_CHOICES]))
    .option('--steps <list>', 'canary shares of live traffic, 100 last (added if missing); "shadow" first for a shadow phase; default 5,25,50,100', optionParser((t) => parseStepsArg('--steps', t)))
    .option('--interval <duration>', 'how long each step collects traffic before its analysis: 30s, 10m, 2h (default 10m)', optionParser((t) => parseDurationArg('--interval', t, 1000)))
    .option('--analysis <file>', 'analysis thresholds, YAML or JSON (minSamples, failureLimit, noData, minLabels, metrics)')
    .option('--gates <file>', 'checks before any traffic, YAML or JSON (evaluation, latency, size, signature); a relative dataset path is relative to the file')
    .option('--keep-old <duration>', 'after promotion keep the old version loaded this long for an instant switch back (default 10m)', optionParser((t) => parseDurationArg('--keep-old', t)))
    .option('--sticky <key>', 'keep each caller on one version: header:NAME, parameter:NAME or input:NAME', optionParser((t) => parseStickyArg('--sticky', t)))
    .addOption(new Option('--no-data <policy>', 'when a step gets no traffic at all: pause (default), fail or pass').choices([...NO_DATA_CHOICES]))
    .option('--allow-breaking', 'allow a signature change that breaks callers of the stable version')
    .addHelpText(
      'after',
      examples(
        'berth rollout start credit --to-version 4',
        'berth rollout start credit --to-version 4 --steps 5,25,50,100 --interval 10m --analysis analysis.yaml --gates gates.yaml',
        'berth rollout start credit --to-version 4 --steps shadow,10,50,100 --sticky header:x-user-id',
        'berth rollout start credit --to-version 4 --strategy blue-green --interval 5m --keep-old 1h',
        '# gates.yaml: evaluation: {dataset: holdout.csv, metrics: [{name: accuracy, min: 0.9}]}',
      ),
    )
    .action(async (name: string, o: StartFlags, cmd: Command) => {
      if (o.strategy === 'blue-green' && o.steps !== undefined) {
        cmd.error('--steps: blue-green has no steps (the preview route, then one switch); drop --steps or use --strategy canary', { exitCode: 2, code: 'berth.usage' });
      }
      const req: StartRolloutRequest = { toVersion: o.toVersion };
      if (o.strategy !== undefined) req.strategy = o.strategy;
      if (o.steps !== undefined) req.steps = o.steps;
      if (o.interval !== undefined) req.interval = o.interval;
      if (o.keepOld !== undefined) req.keepOld = o.keepOld;
      if (o.sticky !== undefined) req.sticky = `${o.sticky.from}:${o.sticky.name}`;
      if (typeof o.data === 'string') req.noData = o.data as (typeof NO_DATA_CHOICES)[number];
      if (o.allowBreaking) req.allowBreaking = true;
      if (o.analysis !== undefined) req.analysis = await readSpecFile('--analysis', o.analysis);
      if (o.gates !== undefined) req.gates = resolveGatePaths(await readSpecFile('--gates', o.gates), o.gates);
      const client = await ctx.client();
      const r = await client.startRollout(name, req).catch((err: unknown) => {
        throw nameTheFile(err, o);
      });
      // the gate results are in the first decision
      const status = ctx.globals.json ? undefined : await client.rolloutStatus(name).catch(() => undefined);
      ctx.print(r, () => renderRolloutStarted(r, status?.rollout.id === r.id ? status.decisions : undefined, ctx.now()));
    });

  rollout
    .command('status')
    .description("a deployment's newest rollout: state, steps, the step's live numbers per version, and every decision with its numbers")
    .argument('<deployment>', 'deployment name')
    .addHelpText(
      'after',
      examples('berth rollout status credit', 'berth rollout status credit --json | jq \'.decisions[-1].details.analysis.checks\'', '# without a server: the rollout and its decisions from the data dir (live numbers need the server)'),
    )
    .action(async (name: string) => {
      const client = await ctx.client();
      const s = await client.rolloutStatus(name);
      if (client.kind === 'local') ctx.note(`(no server running: read from the data dir ${client.where}; live numbers exist only in the server running the rollout)`);
      ctx.print(s, () => renderRolloutStatus(s, ctx.now()));
    });

  rollout
    .command('list')
    .description('rollouts of one deployment, or of all, newest first')
    .argument('[deployment]', 'only this deployment')
    .addHelpText('after', examples('berth rollout list', 'berth rollout list credit --json'))
    .action(async (name: string | undefined) => {
      const list = await (await ctx.client()).listRollouts(name);
      ctx.print(list, () => renderRolloutList(list, ctx.now(), name));
    });

  for (const action of ROLLOUT_ACTIONS) {
    const help = ACTION_HELP[action];
    const c = rollout
      .command(action)
      .description(help.description)
      .argument('<deployment>', 'deployment name')
      .addHelpText('after', examples(...help.examples));
    if (action === 'pause' || action === 'abort') c.option('--reason <text>', 'why, for the decision log and the audit log');
    c.action(async (name: string, o: { reason?: string }) => {
      const r = await (await ctx.client()).steerRollout(name, action, o.reason);
      ctx.print(r, () => renderRolloutChange(r, action, ctx.now()));
    });
  }

  program
    .command('rollback')
    .description('back to the previous stable version now: ends a rollout in progress, undoes a promoted one, else the previous revision (needs a running server)')
    .argument('<deployment>', 'deployment name')
    .addHelpText(
      'after',
      examples('berth rollback credit', '# without a server, return to the previous revision with: berth deployments rollback credit'),
    )
    .action(async (name: string) => {
      const client = await ctx.client();
      const res = await client.rollbackRollout(name);
      const view = ctx.globals.json ? undefined : await client.getDeployment(name).catch(() => undefined);
      ctx.print(res, () => renderRollback(res, view, ctx.now()));
    });
}

/** A problem the server found inside the analysis or gates file names that file first. */
function nameTheFile(err: unknown, o: StartFlags): unknown {
  if (!(err instanceof BerthError) || err.code !== 'INVALID_ARGUMENT') return err;
  const field = typeof err.context['field'] === 'string' ? err.context['field'] : '';
  const file = /^analysis\b/.test(field) ? ['--analysis', o.analysis] : /^gates\b/.test(field) ? ['--gates', o.gates] : null;
  if (!file || file[1] === undefined) return err;
  return new BerthError(err.code, `${file[0]} ${file[1]}: ${err.message}`, err.context, { cause: err });
}

/** An analysis or gates file: YAML or JSON, parsed here so a broken file is named before anything is sent. */
async function readSpecFile(flag: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BerthError('INVALID_ARGUMENT', `${flag} ${file} ${missing ? 'does not exist; check the path' : `cannot be read (${(err as Error).message})`}`, { field: flag, got: file }, { cause: err });
  }
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${flag} ${file} is not valid YAML or JSON (${(err as Error).message.split('\n')[0]!.replace(/:$/, '')}); fix it and start again`, { field: flag, got: file }, { cause: err });
  }
}

/** The server reads the evaluation dataset: send it as an absolute path, relative ones taken from the gates file's folder. */
function resolveGatePaths(doc: unknown, file: string): unknown {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return doc;
  const evaluation = (doc as Record<string, unknown>)['evaluation'];
  if (evaluation === null || typeof evaluation !== 'object' || Array.isArray(evaluation)) return doc;
  const dataset = (evaluation as Record<string, unknown>)['dataset'];
  if (typeof dataset !== 'string' || dataset === '' || path.isAbsolute(dataset)) return doc;
  return { ...doc, evaluation: { ...evaluation, dataset: path.resolve(path.dirname(path.resolve(file)), dataset) } };
}

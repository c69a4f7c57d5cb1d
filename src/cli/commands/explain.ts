/**
 * `berth explain DEPLOYMENT --rows '[…]'`: why the model answered what it did, feature by feature,
 * as a table with bars in a terminal and the server's JSON with `--json`.
 */
import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { renderContributionChart } from '../../monitor/index.js';
import type { ExplainJob, ExplainResult, ImportanceResult } from '../client.js';
import type { CliContext } from '../context.js';
import { formatTable } from '../format.js';
import { readJsonArg } from '../parse.js';
import { predictBody } from './deployments.js';
import { examples, optionParser } from './options.js';
import { parseCount } from '../parse.js';

interface ExplainFlags {
  rows?: string;
  row?: string;
  instances?: string;
  method?: string;
  budget?: number;
  class?: string;
  link?: string;
  seed?: number;
  top?: number;
  html?: string;
  samples?: number;
  job?: number;
  async?: boolean;
}

export function addExplainCommand(program: Command, ctx: CliContext): void {
  program
    .command('explain')
    .description("explain a deployment's predictions: each feature's contribution, the base value and the prediction (SHAP: exact TreeSHAP for tree ensembles, Kernel SHAP otherwise)")
    .argument('<deployment>', 'deployment name')
    .addOption(new Option('--row <json>', 'one row of named features: JSON, or @file.json').conflicts(['rows', 'instances']))
    .addOption(new Option('--rows <json>', 'rows of named features: a JSON array, or @file.json (@- for stdin)').conflicts('instances'))
    .option('--instances <json>', 'rows as arrays of feature values in order: JSON, or @file.json')
    .addOption(new Option('--method <method>', 'auto picks exact TreeSHAP when the model allows it').choices(['auto', 'tree', 'tree-interventional', 'kernel', 'lime']))
    .option('--samples <n>', 'LIME: perturbed samples per row (default 5000)', optionParser((t) => parseCount('--samples', t, 10)))
    .option('--budget <n>', 'Kernel SHAP: coalitions per row (default 2048)', optionParser((t) => parseCount('--budget', t, 2)))
    .option('--class <name>', "classifiers: the class to explain (default: each row's predicted class)")
    .addOption(new Option('--link <link>', 'Kernel SHAP: identity, or logit to explain a probability in log-odds').choices(['identity', 'logit']))
    .option('--seed <n>', 'the sampler seed (default 0)', optionParser((t) => parseCount('--seed', t, 0)))
    .option('--html <file>', 'also write the explanations as a page of bar charts (one per row) to this file')
    .option('--async', 'queue it as an explain job and return at once (large requests become jobs by themselves)')
    .option('--job <id>', 'an explain job: its state, or its result once it succeeded', optionParser((t) => parseCount('--job', t, 1)))
    .option('--top <n>', 'print only the n largest contributions per row (the rest are summed on one line; --json always has all)', optionParser((t) => parseCount('--top', t, 1)))
    .addHelpText(
      'after',
      examples(
        `berth explain breast-cancer --row '{"mean radius": 17.99, "mean texture": 10.38, …}'`,
        'berth explain credit --rows @applicants.json --class default --top 8',
        'berth explain credit --rows @applicants.json --method kernel --budget 4096 --link logit --json',
        '# base value + the contributions = the prediction; sampled answers carry a ± standard error (docs/explain.md)',
      ),
    )
    .action(async (name: string, o: ExplainFlags, cmd: Command) => {
      const given = [o.row, o.rows, o.instances].filter((v) => v !== undefined).length;
      if (o.job !== undefined) {
        if (given !== 0) cmd.error('--job reads a job that exists: give it without rows', { exitCode: 2, code: 'berth.usage' });
        const client = await ctx.client({ needServer: true });
        const job = await client.explainJob(name, o.job);
        if (job.state !== 'succeeded') {
          ctx.print(job, () => renderExplainJob(job));
          return;
        }
        const res = await client.explainJobResult(name, o.job);
        if (o.html !== undefined) await writeFile(o.html, explanationPage(res));
        ctx.print(res, () => renderExplanation(res, o.top));
        return;
      }
      if (given !== 1) cmd.error('give exactly one of --row JSON, --rows JSON or --instances JSON', { exitCode: 2, code: 'berth.usage' });
      let body: Record<string, unknown>;
      if (o.row !== undefined) body = { rows: [await readJsonArg('--row', o.row)] };
      else if (o.rows !== undefined) body = predictBody('rows', await readJsonArg('--rows', o.rows)) as Record<string, unknown>;
      else body = predictBody('instances', await readJsonArg('--instances', o.instances!)) as Record<string, unknown>;
      for (const k of ['method', 'budget', 'class', 'link', 'seed', 'samples'] as const) if (o[k] !== undefined) body[k] = o[k];
      if (o.async === true) body['async'] = true;
      const answer = await (await ctx.client({ needServer: true })).explain(name, body);
      if ('job' in answer) {
        ctx.print(answer, () => `${answer.message}\n${renderExplainJob(answer.job)}then: berth explain ${name} --job ${answer.job.id}\n`);
        return;
      }
      const res = answer;
      if (o.html !== undefined) {
        await writeFile(o.html, explanationPage(res));
        ctx.note(`wrote ${o.html}`);
      }
      ctx.print(res, () => renderExplanation(res, o.top));
    });

  program
    .command('importance')
    .description("permutation feature importance of a deployment's version over its labelled reference data: how much the metric worsens when each feature is shuffled, with a confidence interval")
    .argument('<deployment>', 'deployment name')
    .addOption(new Option('--metric <metric>', 'default: accuracy for classifiers, r2 for regressions').choices(['accuracy', 'r2', 'rmse', 'mae', 'log-loss', 'roc-auc']))
    .option('--repeats <n>', 'shuffles per feature (default 5)', optionParser((t) => parseCount('--repeats', t, 2)))
    .option('--max-rows <n>', 'measure on a seeded sample of at most this many reference rows', optionParser((t) => parseCount('--max-rows', t, 10)))
    .option('--seed <n>', 'the shuffles\' seed (default 0)', optionParser((t) => parseCount('--seed', t, 0)))
    .addHelpText(
      'after',
      examples(
        'berth importance credit',
        'berth importance credit --metric roc-auc --repeats 10 --max-rows 5000',
        '# needs reference data with labels on the version: berth models profile NAME V --reference train.csv',
      ),
    )
    .action(async (name: string, o: { metric?: string; repeats?: number; maxRows?: number; seed?: number }) => {
      const body: Record<string, unknown> = {};
      if (o.metric !== undefined) body['metric'] = o.metric;
      if (o.repeats !== undefined) body['repeats'] = o.repeats;
      if (o.maxRows !== undefined) body['max_rows'] = o.maxRows;
      if (o.seed !== undefined) body['seed'] = o.seed;
      const res = await (await ctx.client({ needServer: true })).importance(name, body);
      ctx.print(res, () => renderImportance(res));
    });
}

/** An explain job's state as text. */
export function renderExplainJob(j: ExplainJob): string {
  const p = j.progress;
  const lines = [
    `explain job ${j.id} of ${j.deployment} (${j.model} version ${j.version}): ${j.state}`,
    `  estimate: ${j.estimate.rows} rows by ${j.estimate.method}, about ${j.estimate.evaluations.toLocaleString('en-US')} model evaluations`,
    ...(p !== null ? [`  progress: ${p.rowsDone} of ${p.rowsTotal ?? '?'} rows in ${p.seconds.toFixed(1)} s`] : []),
    ...(j.error !== null ? [`  ${j.error.code}: ${j.error.message}`] : []),
  ];
  return lines.join('\n') + '\n';
}

/** Permutation importance as text: the baseline, then a row per feature with its interval and a bar. */
export function renderImportance(r: ImportanceResult): string {
  const head = `${r.deployment ?? r.model}: ${r.model} version ${r.version}, ${r.metric}${r.class !== undefined ? ` (class ${r.class})` : ''} ${fmt(r.baseline)} on ${r.rows} reference rows; ${r.repeats} shuffles per feature, ${Math.round(r.confidence * 100)}% intervals (${r.milliseconds} ms)\n`;
  const scale = Math.max(1e-300, ...r.features.map((f) => Math.abs(f.mean)));
  const rows = r.features.map((f) => {
    const n = Math.round((Math.max(0, f.mean) / scale) * BAR);
    return [f.feature, fmt(f.mean), `[${fmt(f.low)}, ${fmt(f.high)}]`, f.low <= 0 ? 'no (interval holds 0)' : 'yes', '█'.repeat(n)];
  });
  return head + formatTable(['FEATURE', 'IMPORTANCE', 'INTERVAL', 'MATTERS', ''], rows);
}

const BAR = 24;

/** The explanation as text: per row, its header and a table of contributions with bars. */
export function renderExplanation(r: ExplainResult, top?: number): string {
  const how = `${r.method}${r.exact ? ', exact' : ''}${r.coalitions !== undefined ? `, ${r.coalitions} coalitions` : ''}${r.samples !== undefined ? `, ${r.samples} samples` : ''}, ${r.method === 'lime' ? 'bins from' : 'background'} ${r.background.rows} rows (${r.background.method})`;
  let out = `${r.deployment ?? r.model}: ${r.model} version ${r.version}, ${r.output} in ${r.space} space (${how}, ${r.milliseconds} ms)\n`;
  r.explanations.forEach((e, i) => {
    const sum = e.contributions.reduce((s, c) => s + c.contribution, 0);
    const local = r.method === 'lime' ? ` (local model; the model says ${fmt(e.output)}, fidelity R² ${fmt(e.fidelity ?? 0)})` : r.space !== 'probability' && r.space !== 'value' ? ` (model output ${fmt(e.output)})` : '';
    out += `\nrow ${i}${e.class !== null ? `, class ${e.class}` : ''}: prediction ${fmt(e.prediction)} = base ${fmt(e.base_value)} + ${fmt(sum)}${local}\n`;
    const shown = top !== undefined ? e.contributions.slice(0, top) : e.contributions;
    const scale = Math.max(1e-300, ...shown.map((c) => Math.abs(c.contribution)));
    const rows = shown.map((c) => {
      const n = Math.round((Math.abs(c.contribution) / scale) * BAR);
      const bar = c.contribution >= 0 ? `${' '.repeat(BAR)}|${'█'.repeat(n)}` : `${' '.repeat(BAR - n)}${'█'.repeat(n)}|`;
      return [c.condition ?? c.feature, c.value === null ? '-' : String(c.value), `${c.contribution >= 0 ? '+' : ''}${fmt(c.contribution)}${c.standard_error !== undefined ? ` ±${fmt(c.standard_error)}` : ''}`, bar];
    });
    out += formatTable(['FEATURE', 'VALUE', 'CONTRIBUTION', ''], rows);
    const rest = e.contributions.slice(shown.length);
    if (rest.length > 0) {
      out += `… ${rest.length} more feature${rest.length === 1 ? '' : 's'}, together ${fmt(rest.reduce((s, c) => s + c.contribution, 0))} (--top ${top}; --json has all)\n`;
    }
  });
  return out;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A standalone HTML page: per row, its numbers and its contributions as a bar chart. */
export function explanationPage(r: ExplainResult): string {
  const rows = r.explanations.map((e, i) => {
    const bars = e.contributions.map((c) => ({ label: c.feature, value: c.contribution, note: c.value === null ? 'missing' : String(c.value) }));
    return `<section><h2>Row ${i}${e.class !== null ? `: class ${esc(e.class)}` : ''}</h2><p>prediction ${fmt(e.prediction)} = base value ${fmt(e.base_value)} + the contributions below (model output ${fmt(e.output)})</p>${renderContributionChart(bars, `contributions of row ${i}`)}</section>`;
  });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Explanations — ${esc(r.deployment ?? r.model)}</title><style>body{font:14px/1.5 system-ui,sans-serif;margin:24px auto;max-width:900px;color:#1d2330}h2{font-size:17px;margin:24px 0 4px}</style></head><body><h1>Explanations — ${esc(r.deployment ?? r.model)}</h1><p>${esc(`${r.model} version ${r.version}, ${r.output} in ${r.space} space, ${r.method}${r.exact ? ' (exact)' : ''}, background ${r.background.rows} rows (${r.background.method})`)}</p>${rows.join('')}</body></html>\n`;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1000 || a < 0.001 ? v.toExponential(3) : v.toFixed(4);
}

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { BerthError, ModelRef, isBerthError } from '../../core/index.js';
import { GATE_SYNTAX, changeText, compareEvaluations, comparisonMarkdown, parseGate, type Comparison, type Gate } from '../../pipelines/compare.js';
import { evaluateModel, type EvaluatedModel, type EvaluatedModelInfo, type Evaluation } from '../../pipelines/evaluate.js';
import type { CliContext } from '../context.js';
import { formatTable, shortSha } from '../format.js';
import { withLocalRegistry } from './local-registry.js';
import { collect, examples } from './options.js';

interface CiCheckFlags {
  against: string;
  dataset: string[];
  label?: string;
  gate?: Gate[];
  markdown?: string;
  candidateFile?: string;
  candidateCard?: string;
  json?: boolean;
}

/** `--gate SPEC`, repeatable: each parsed as it comes, so a bad one is a usage error (exit 2). */
function collectGate(text: string, previous: Gate[] | undefined): Gate[] {
  try {
    return [...(previous ?? []), parseGate(text, '--gate')];
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message.replace(/^--gate: /, '') : String(err));
  }
}

/** `berth ci check`: evaluate a candidate and the champion on the same labelled data and judge the candidate by gates. */
export function addCiCommands(program: Command, ctx: CliContext): void {
  const ci = program
    .command('ci')
    .description('checks for continuous integration: is a candidate model at least as good as the one in production? (docs/ci.md)')
    .addHelpText('after', examples('berth ci check credit@candidate --against production --dataset holdout.csv --markdown report.md'));
  ci
    .command('check')
    .description(
      'evaluate a candidate and the champion on the same labelled datasets, in this process, and compare them under gates; ' +
        'exit 0 when every gate passes, 1 when one fails, 2 for a usage error',
    )
    .argument('[candidate]', 'the candidate version: NAME@ALIAS, NAME@N or NAME (latest); or give it as files with --candidate-file and --candidate-card')
    .requiredOption('--against <ref>', 'the champion: an alias or version number of the candidate\'s model (production, 3), or NAME@ALIAS / NAME@N of any model')
    .requiredOption('--dataset <file>', 'a labelled CSV, JSONL or Parquet file with the model\'s feature columns and the label (repeatable; metrics are pooled over all of them)', collect)
    .option('--label <column>', 'the ground-truth column (default label)')
    .option('--gate <spec>', `a gate (repeatable; replaces the defaults): ${GATE_SYNTAX}. Default: no headline metric more than 0.5 pt (errors: 0.5 %) worse than the champion's`, collectGate)
    .option('--markdown <file>', 'write a Markdown summary for a pull-request comment to FILE (- for stdout, instead of the table)')
    .option('--candidate-file <model.onnx>', 'a candidate that is not registered yet: its model file (with --candidate-card)')
    .option('--candidate-card <card>', 'the card of --candidate-file (berth-card/1, JSON or YAML), read as `berth models register --card` reads it')
    .option('--json', 'print the evaluations and the comparison as JSON')
    .addHelpText(
      'after',
      examples(
        'berth ci check credit@candidate --against production --dataset holdout.csv',
        'berth ci check credit@7 --against credit@production --dataset q1.csv --dataset q2.parquet --gate accuracy:-1pt --gate "roc_auc>=0.75"',
        'berth ci check --candidate-file out/model.onnx --candidate-card out/card.json --against credit@production --dataset holdout.csv --markdown report.md',
        'berth --server https://berth.example.com ci check credit@candidate --against production --dataset holdout.csv --markdown - > report.md',
        'berth ci check diabetes@2 --against production --dataset test.csv --label target --gate rmse:+2% --json',
        '# exit 0: every gate passed; 1: a gate failed (the reasons on stderr); 2: a usage error',
      ),
    )
    .action(async (candidateArg: string | undefined, o: CiCheckFlags, cmd: Command) => {
      const usage = (message: string): never => cmd.error(message, { exitCode: 2, code: 'berth.usage' });
      const json = ctx.globals.json || o.json === true;
      if (json && o.markdown === '-') usage('--json and --markdown - both write to stdout; write the Markdown to a file (--markdown report.md)');
      const { candidate, modelName } = candidateModel(candidateArg, o, usage);
      let champion: ModelRef;
      try {
        champion = championRef(o.against, modelName, usage);
      } catch (err) {
        if (isBerthError(err, 'INVALID_ARGUMENT')) usage(`--against: ${err.message}`);
        throw err;
      }
      const gates = o.gate ?? [];
      await withLocalRegistry(ctx, 'ci check', async (registry) => {
        const common = { datasets: o.dataset, ...(o.label !== undefined ? { labelColumn: o.label } : {}) };
        const cand = await evaluateModel({ model: candidate, ...common }, { registry });
        const champ = await evaluateModel({ model: { kind: 'registry', ref: champion }, ...common }, { registry });
        const comparison = compareEvaluations(cand, champ, gates);
        const seconds = cand.seconds + champ.seconds;
        const markdown = o.markdown !== undefined ? comparisonMarkdown(comparison, { seconds }) : undefined;
        if (markdown !== undefined && o.markdown !== '-') {
          await writeFile(o.markdown!, markdown);
          ctx.note(`wrote the summary to ${o.markdown}`);
        }
        if (json) ctx.io.out(JSON.stringify({ passed: comparison.passed, comparison, candidate: cand, champion: champ }, null, 2) + '\n');
        else if (o.markdown === '-') ctx.io.out(markdown!);
        else ctx.io.out(renderCheck(comparison, cand, champ));
        if (!comparison.passed) {
          const n = comparison.reasons.length;
          throw new BerthError('GATE_FAILED', `the candidate failed ${n === 1 ? 'a gate' : `${n} gates`}: ${comparison.reasons.join('; ')}`, {
            field: 'gates', got: comparison.reasons,
          });
        }
      });
    });
}

/** The candidate from the argument, or from --candidate-file and --candidate-card; files name no model. */
function candidateModel(arg: string | undefined, o: CiCheckFlags, usage: (m: string) => never): { candidate: EvaluatedModel; modelName?: string } {
  const files = o.candidateFile !== undefined || o.candidateCard !== undefined;
  if (arg !== undefined && files) usage('give the candidate either as a version (NAME@REF) or as files (--candidate-file, --candidate-card), not both');
  if (arg === undefined && !files) usage('no candidate: give NAME@REF, or --candidate-file model.onnx --candidate-card card.json');
  if (files) {
    if (o.candidateFile === undefined) usage('--candidate-card: needs the model file too (--candidate-file model.onnx)');
    if (o.candidateCard === undefined) usage('--candidate-file: needs the model\'s card too (--candidate-card card.json): the card names the task and the features');
    return { candidate: { kind: 'files', file: o.candidateFile!, card: o.candidateCard!, name: path.basename(o.candidateFile!) } };
  }
  try {
    const ref = ModelRef.parse(arg!);
    return { candidate: { kind: 'registry', ref }, modelName: ref.name };
  } catch (err) {
    if (isBerthError(err, 'INVALID_ARGUMENT')) usage(`candidate: ${err.message}`);
    throw err;
  }
}

/** `--against`: an alias or version of the candidate's model, or a full NAME@REF. */
function championRef(against: string, candidateName: string | undefined, usage: (m: string) => never): ModelRef {
  if (against.includes('@')) return ModelRef.parse(against);
  if (candidateName === undefined) {
    return usage(`--against ${against}: a candidate given as files has no model name; name the champion in full, e.g. --against credit@${against}`);
  }
  if (/^[0-9]+$/.test(against) && Number(against) > 0) return ModelRef.version(candidateName, Number(against));
  return ModelRef.alias(candidateName, against);
}

function describeModel(m: EvaluatedModelInfo): string {
  const what = m.ref ?? m.file ?? m.name ?? '';
  const version = m.version !== undefined && m.ref !== undefined && !m.ref.endsWith(`@${m.version}`) ? ` = version ${m.version}` : '';
  return `${what}${version} (sha256 ${shortSha(m.sha256)}…)`;
}

function formatMetric(v: number | null): string {
  if (v === null) return '—';
  return Math.abs(v) >= 1000 ? v.toFixed(1) : v.toFixed(4);
}

/** The human report: who was compared on what, a row per metric, the verdict. */
function renderCheck(c: Comparison, cand: Evaluation, champ: Evaluation): string {
  const lines: string[] = [];
  lines.push(`candidate  ${describeModel(cand.model)}`);
  lines.push(`champion   ${describeModel(champ.model)}`);
  for (const d of c.datasets) {
    lines.push(`data       ${d.path} (${d.rows.toLocaleString('en-US')} rows, ${d.labelledRows.toLocaleString('en-US')} labelled, sha256 ${shortSha(d.sha256)}…)`);
  }
  lines.push(`task       ${c.task}, label column "${c.labelColumn}"; evaluated in ${(cand.seconds + champ.seconds).toFixed(1)} s`, '');
  const table = formatTable(
    ['METRIC', 'CHAMPION', 'CANDIDATE', 'CHANGE', 'GATE', 'RESULT'],
    c.rows.map((r) => [r.metric, formatMetric(r.champion), formatMetric(r.candidate), changeText(r), r.limit ?? '', r.limit === null ? '' : r.passed ? 'pass' : 'FAIL']),
  );
  lines.push(table);
  if (c.passed) lines.push(`passed: the candidate meets every gate (${c.gates.length})`);
  else {
    lines.push(`FAILED: ${c.reasons.length === 1 ? 'a gate' : `${c.reasons.length} gates`} did not pass`);
    for (const r of c.reasons) lines.push(`  - ${r}`);
  }
  return lines.join('\n') + '\n';
}

import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { BerthError } from '../../core/index.js';
import { isNumericColumn, readCsvFile, stringValues } from '../../data/index.js';
import { DRIFT_PRESETS, renderReportHtml, type DriftPreset, type MonitorReport, type ReportRequest } from '../../monitor/index.js';
import type { CliContext } from '../context.js';
import { parseCount, parseVersionArg } from '../parse.js';
import { examples, optionParser } from './options.js';

/** `berth models profile`, `berth monitor report` and `berth monitor feedback` */
export function addMonitorCommands(program: Command, ctx: CliContext): void {
  const models = program.commands.find((c) => c.name() === 'models');
  models
    ?.command('profile')
    .description("compute a version's reference profile from its training data (CSV or Parquet): drift and quality compare live traffic with it")
    .argument('<model>', 'model name')
    .argument('<version>', 'version number', optionParser((t) => parseVersionArg('version', t)))
    .requiredOption('--reference <file>', 'training data: CSV with a header, or .parquet; one column per feature, plus the label if you have it')
    .addHelpText(
      'after',
      examples(
        'berth models profile credit 3 --reference train.csv',
        '# profiled credit version 3: 20000 rows, 17 columns (features, predictions, label); accuracy on it 0.8663',
      ),
    )
    .action(async (model: string, version: number, o: { reference: string }) => {
      const client = await ctx.client();
      ctx.note(`profiling ${o.reference} (the model runs over every row)…`);
      const r = await client.profileVersion(model, version, o.reference);
      const metrics = Object.entries(r.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
      ctx.print(r, () =>
        `profiled ${model} version ${version}: ${r.reference.rows} rows, ${r.columns.length} columns` +
          `${r.predictions ? ' (features, predictions' : ' (features'}${r.columns.includes('label') ? ', label)' : ')'}` +
          `${metrics ? `; on the reference: ${metrics}` : ''}\n`,
      );
    });

  const monitor = program
    .command('monitor')
    .description('watch deployed models: drift, data quality, performance and fairness of their traffic')
    .addHelpText('after', examples('berth monitor report credit --window 1h', 'berth monitor feedback credit --file labels.csv'));

  monitor
    .command('report')
    .description("a report of a deployment's traffic over a window: drift against the reference profile, data quality, performance, fairness, latency")
    .argument('<deployment>', 'deployment name')
    .option('--window <window>', 'which traffic: 15m, 2h, 7d, 1000rows, 500requests, FROM..TO (ISO times) or all', '24h')
    .option('--against <window>', 'compare with an earlier window instead of the reference profile (e.g. 2026-11-20..2026-11-21)')
    .option('--version <n>', 'only traffic answered by this version', optionParser((t) => parseVersionArg('--version', t)))
    .addOption(new Option('--preset <preset>', "drift tests and thresholds: berth (default) or evidently (Evidently's defaults)").choices([...DRIFT_PRESETS]))
    .addOption(new Option('--format <format>', 'text, json or html (a self-contained page)').choices(['text', 'json', 'html']).default('text'))
    .option('-o, --output <file>', 'write the report to this file instead of standard output')
    .addHelpText(
      'after',
      examples(
        'berth monitor report credit --window 1h',
        'berth monitor report credit --window 7d --format html -o report.html',
        'berth monitor report credit --window 1h --against 2026-11-20T00:00Z..2026-11-21T00:00Z',
        'berth monitor report credit --window 1000rows --preset evidently --json',
      ),
    )
    .action(async (deployment: string, o: { window: string; against?: string; version?: number; preset?: DriftPreset; format: string; output?: string }) => {
      const req: ReportRequest = { window: o.window };
      if (o.against !== undefined) req.against = o.against;
      if (o.version !== undefined) req.version = o.version;
      if (o.preset !== undefined) req.preset = o.preset;
      const client = await ctx.client();
      if (client.kind === 'local') ctx.note('(no server running: reading the inference log in the data dir; rows a server still buffers are not in it)');
      const report = await client.monitorReport(deployment, req);
      const format = ctx.globals.json ? 'json' : o.format;
      const text = format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'html' ? renderReportHtml(report) : renderReportText(report);
      if (o.output !== undefined) {
        await writeFile(o.output, text);
        ctx.note(`wrote ${o.output}`);
      } else {
        ctx.io.out(text);
      }
    });

  monitor
    .command('feedback')
    .description('send ground truth for earlier predictions, joined by the request id they were answered with (x-request-id)')
    .argument('<deployment>', 'deployment name')
    .option('--file <csv>', 'a CSV with columns request_id, label and optionally row')
    .option('--request-id <id>', 'one prediction: its request id')
    .option('--label <label>', 'one prediction: its true label (a class label or name, or a number)')
    .option('--row <n>', 'one prediction: the row within its request (default 0)', optionParser((t) => parseCount('--row', t)))
    .addHelpText(
      'after',
      examples(
        'berth monitor feedback credit --file labels.csv',
        'berth monitor feedback credit --request-id 3f2a9c1e-7 --label default',
      ),
    )
    .action(async (deployment: string, o: { file?: string; requestId?: string; label?: string; row?: number }) => {
      const client = await ctx.client();
      if ((o.file === undefined) === (o.requestId === undefined)) {
        throw new BerthError('INVALID_ARGUMENT', 'give either --file labels.csv or --request-id ID --label LABEL', { field: 'file' });
      }
      if (o.requestId !== undefined) {
        if (o.label === undefined) throw new BerthError('INVALID_ARGUMENT', '--label: expected the true label of that prediction, got nothing', { field: 'label' });
        const r = await client.sendFeedback(deployment, { request_id: o.requestId, row: o.row ?? 0, label: labelValue(o.label) });
        ctx.print(r, () => `stored ${r.accepted} label for ${deployment}${r.replaced > 0 ? ' (replacing an earlier one)' : ''}\n`);
        return;
      }
      const items = await readLabelsCsv(o.file!);
      let accepted = 0;
      let replaced = 0;
      const batch = 1000;
      for (let i = 0; i < items.length; i += batch) {
        const r = await client.sendFeedback(deployment, { items: items.slice(i, i + batch) }).catch((err: unknown) => {
          // say which line of the file, not which item of the batch sent
          const m = err instanceof BerthError ? /^items\[(\d+)\]/.exec(err.message) : null;
          if (!m || !(err instanceof BerthError)) throw err;
          const line = i + Number(m[1]) + 2;
          throw new BerthError(err.code, `${o.file} line ${line}: ${err.message.slice(m[0].length + 1)}; fix that line and send the file again (labels already stored are replaced, not doubled)`, err.context);
        });
        accepted += r.accepted;
        replaced += r.replaced;
        if (!ctx.globals.json && items.length > batch) ctx.note(progressBar(Math.min(items.length, i + batch), items.length));
      }
      const out = { deployment, accepted, replaced };
      ctx.print(out, () => `stored ${accepted} labels for ${deployment}${replaced > 0 ? ` (${replaced} replaced earlier ones)` : ''}\n`);
    });
}

/** `berth alerts list` */
export function addAlertCommands(program: Command, ctx: CliContext): void {
  const alerts = program
    .command('alerts')
    .description('alert rules (from the server config), their states and recent notifications')
    .addHelpText('after', examples('berth alerts list', 'berth alerts list --json'));
  alerts
    .command('list')
    .description('every rule × deployment with its state (firing, pending, ok), then the newest events')
    .addHelpText('after', examples('berth alerts list', '# FIRING   credit-drift  credit  drift_share > 0.3 for 15m  value 0.4  since 2026-11-24T09:12:00Z'))
    .action(async () => {
      const v = await (await ctx.client({ needServer: true })).alerts();
      ctx.print(v, () => {
        if (v.rules.length === 0) return 'no alert rules configured (alerts.rules in the server config; see docs/monitoring.md)\n';
        const lines = v.alerts.map((a) =>
          `${a.state.toUpperCase().padEnd(8)} ${a.rule.padEnd(20)} ${a.deployment.padEnd(16)} ${a.condition.padEnd(32)} value ${a.value === null ? '—' : Number(a.value.toPrecision(4))}${a.since ? `  since ${a.since}` : ''}`,
        );
        if (lines.length === 0) lines.push('no evaluation yet (rules run every alerts.intervalMs)');
        const events = v.events.slice(0, 10).map((e) => `  ${e.at}  ${e.message}`);
        return `${lines.join('\n')}\n${events.length > 0 ? `\nrecent:\n${events.join('\n')}\n` : ''}`;
      });
    });
}

/** Numbers stay numbers (regression labels, class ids); anything else is a class name. */
function labelValue(text: string): string | number {
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}

/** `request_id,label[,row]` with a header, in any column order (read by the data layer's CSV reader). */
export async function readLabelsCsv(file: string): Promise<{ request_id: string; label: string | number; row?: number }[]> {
  const t = await readCsvFile(file, { types: { request_id: 'string' } });
  const id = t.columns.find((c) => c.name === 'request_id');
  const label = t.columns.find((c) => c.name === 'label');
  const row = t.columns.find((c) => c.name === 'row');
  if (!id || id.type !== 'string' || !label || (row !== undefined && !isNumericColumn(row))) {
    const got = t.columns.map((c) => c.name);
    throw new BerthError('INVALID_ARGUMENT', `${file}: expected columns request_id and label (and optionally a numeric row), got ${got.join(', ')}`, {
      field: 'file', expected: ['request_id', 'label', 'row'], got,
    });
  }
  const ids = stringValues(id);
  const labels: (string | number | null)[] = label.type === 'string' ? stringValues(label) : isNumericColumn(label) ? Array.from(label.values, (v) => (Number.isNaN(v) ? null : v)) : [];
  return ids.map((requestId, i) => {
    // an empty cell is passed on as it is, so the server names the item and the field
    const item: { request_id: string; label: string | number; row?: number } = { request_id: requestId ?? '', label: labels[i] ?? '' };
    if (row && isNumericColumn(row)) item.row = row.values[i]!;
    return item;
  });
}

function progressBar(done: number, total: number): string {
  const width = 30;
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

/** The report for a terminal: the verdicts first, then the tables. */
export function renderReportText(r: MonitorReport): string {
  const out: string[] = [];
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const num = (x: number | null | undefined, d = 4): string => (x === null || x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d));
  const p = (x: number | null): string => (x === null ? '—' : x < 1e-4 ? x.toExponential(1) : x.toFixed(4));
  out.push(`${r.deployment} (${r.model}${r.versions.length > 0 ? ` v${r.versions.join(', v')}` : ''}) — ${r.window.description}: ${r.window.rows} rows, ${r.window.requests} requests`);
  out.push(r.reference?.kind === 'profile' ? `reference: profile of version ${r.reference.version} (${r.reference.rows} rows${r.reference.source ? `, ${r.reference.source}` : ''})` : r.reference ? `reference: ${r.reference.description} (${r.reference.rows} rows)` : 'reference: none');
  out.push('');
  for (const s of r.summary) out.push(`  • ${s}`);
  if (r.drift && r.drift.evaluatedColumns > 0) {
    out.push('', `drift (${r.drift.preset} preset): ${r.drift.driftedColumns}/${r.drift.evaluatedColumns} features drifted (${pct(r.drift.driftShare)}), dataset ${r.drift.datasetDrift ? 'DRIFTED' : 'ok'}`);
    const rows = [...r.drift.columns, ...r.drift.predictions].sort((a, b) => Number(b.drifted) - Number(a.drifted) || (b.psi ?? 0) - (a.psi ?? 0));
    const w = Math.max(8, ...rows.map((c) => c.column.length));
    out.push(`  ${'column'.padEnd(w)}  test         statistic  p-value    p-adj      PSI      verdict`);
    for (const c of rows) {
      out.push(
        `  ${c.column.padEnd(w)}  ${c.test.padEnd(11)}  ${num(c.statistic).padStart(9)}  ${p(c.pValue).padStart(9)}  ${p(c.pAdjusted).padStart(9)}  ${num(c.psi, 3).padStart(7)}  ${c.verdict}${c.role === 'prediction' ? ' (prediction)' : ''}`,
      );
    }
  }
  const q = r.quality;
  if (q.rejected.count > 0) out.push('', `refused requests: ${pct(q.rejected.share)} (${Object.entries(q.rejected.byField).map(([f, n]) => `${f}: ${n}`).join(', ')})`);
  const perf = r.performance;
  if (perf.classification) {
    const c = perf.classification;
    out.push('', `performance on ${perf.labelledRows} labelled rows: accuracy ${num(c.accuracy)}, precision ${num(c.precision)}, recall ${num(c.recall)}, F1 ${num(c.f1)}, ROC AUC ${num(c.rocAuc)}, log loss ${num(c.logLoss)}`);
  } else if (perf.regression) {
    const g = perf.regression;
    out.push('', `performance on ${perf.labelledRows} labelled rows: MAE ${num(g.mae)}, RMSE ${num(g.rmse)}, R² ${num(g.r2)}`);
  } else if (perf.kind !== 'none') {
    out.push('', 'performance: no labels yet (send them with `berth monitor feedback`)');
  }
  if (perf.estimatedAccuracy !== null) out.push(`estimated accuracy from the model's confidence: ${num(perf.estimatedAccuracy)}`);
  for (const f of r.fairness) {
    out.push('', `fairness by ${f.attribute}: demographic parity difference ${num(f.demographicParityDifference, 3)}, disparate impact ${num(f.disparateImpact, 3)}${f.fourFifthsViolated ? ' (below 0.8: four-fifths rule violated)' : ''}`);
    for (const g of f.groups) out.push(`  ${g.group.padEnd(16)} rows ${String(Math.round(g.rows)).padStart(7)}  selection ${pct(g.selectionRate)}  TPR ${g.truePositiveRate === null ? '—' : pct(g.truePositiveRate)}  FPR ${g.falsePositiveRate === null ? '—' : pct(g.falsePositiveRate)}`);
  }
  if (r.latency.rows > 0) out.push('', `latency: p50 ${num(r.latency.p50, 2)} ms, p95 ${num(r.latency.p95, 2)} ms, p99 ${num(r.latency.p99, 2)} ms; error rate ${pct(r.latency.errorRate)}`);
  return `${out.join('\n')}\n`;
}

/** `berth perf`'s human output: one table per protocol, then what to watch out for. */
import { formatPerfDuration } from './duration.js';
import type { PerfLevel, PerfReport } from './driver.js';

const HEADERS = ['CONCURRENCY', 'REQ/S', 'ROWS/S', 'P50', 'P90', 'P99', 'MAX', 'QUEUE', 'INPUT', 'INFER', 'OUTPUT', 'BATCH', 'ERRORS', 'CLIENT CPU'];

/** The report as tables (numbers right-aligned), a legend, warnings and error messages. */
export function renderPerfReport(r: PerfReport): string {
  const m = r.model;
  const shapes = m.inputs.map((i) => `${i.name} ${i.datatype} [${i.shape.join(', ')}]`).join(', ');
  const rows = `${m.rowsPerRequest} row${m.rowsPerRequest === 1 ? '' : 's'} per request`;
  let out =
    `deployment ${r.deployment} (version ${m.versions.join(', ') || '?'}), ${rows}, ${m.source === 'file' ? `from ${r.options.inputData}` : 'random'}: ${shapes}\n` +
    `${formatPerfDuration(r.options.durationMs)} per level after ${formatPerfDuration(r.options.warmupMs)} of warm-up, closed loop\n`;
  const protocols = [...new Set(r.levels.map((l) => l.protocol))];
  for (const protocol of protocols) {
    const levels = r.levels.filter((l) => l.protocol === protocol);
    out += `\n${protocol}  ${levels[0]!.url}\n`;
    out += alignRight([HEADERS, ...levels.map(cells)]);
  }
  out += '\nP50…MAX: client-side latency in ms; QUEUE, INPUT, INFER, OUTPUT: server-side µs per request; BATCH: rows per runtime call\n';
  const errors = r.levels.filter((l) => l.errors.total > 0);
  if (errors.length > 0) {
    out += '\nerrors:\n';
    for (const l of errors) {
      for (const [code, n] of Object.entries(l.errors.byCode)) out += `  ${l.protocol} concurrency ${l.concurrency}: ${n}× ${code}: ${l.errors.messages[code] ?? ''}\n`;
    }
  }
  if (r.warnings.length > 0) out += '\n' + r.warnings.map((w) => `warning: ${w}\n`).join('');
  return out;
}

function cells(l: PerfLevel): string[] {
  const s = l.server;
  const us = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(0));
  return [
    String(l.concurrency),
    rate(l.requestsPerSecond),
    rate(l.rowsPerSecond),
    ms(l.latencyMs.p50),
    ms(l.latencyMs.p90),
    ms(l.latencyMs.p99),
    ms(l.latencyMs.max),
    us(s?.queueUs),
    us(s?.computeInputUs),
    us(s?.computeInferUs),
    us(s?.computeOutputUs),
    s?.batchSize == null ? '-' : s.batchSize.toFixed(2),
    String(l.errors.total),
    `${Math.round(l.clientCpuPercent)}%`,
  ];
}

function rate(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function ms(v: number): string {
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

function alignRight(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return rows.map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n') + '\n';
}

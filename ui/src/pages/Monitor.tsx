import type { JSX } from 'react';
import { useMemo, useState } from 'react';
import { ApiError, path } from '../api.js';
import { LineChart } from '../components/charts.js';
import { Badge, DetailHead, Empty, ErrorBox, Head, Loading, When } from '../components/common.js';
import { Heatmap, type HeatRow } from '../components/heatmap.js';
import { HistogramOverlay } from '../components/histogram-overlay.js';
import { DeploymentTabs } from '../components/tabs.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';
import { driftSeverity, type AlertsAnswer, type DriftColumn, type MonitorReport, type MonitorTimeline } from './monitor-types.js';

const WINDOWS: { value: string; label: string; points: number }[] = [
  { value: '1h', label: 'last hour', points: 12 },
  { value: '24h', label: 'last 24 hours', points: 24 },
  { value: '7d', label: 'last 7 days', points: 28 },
  { value: 'all', label: 'all retained traffic', points: 30 },
];

/**
 * A deployment's monitoring: drift per feature over time (a heatmap), reference against current
 * for any feature, data quality, accuracy estimated beside realised, fairness, and its alerts.
 */
export function Monitor({ name }: { name: string }): JSX.Element {
  const [windowValue, setWindow] = useState('24h');
  const [preset, setPreset] = useState<'berth' | 'evidently'>('berth');
  const [picked, setPicked] = useState<string | null>(null);
  const win = WINDOWS.find((w) => w.value === windowValue) ?? WINDOWS[1]!;
  const q = `window=${encodeURIComponent(win.value)}&preset=${preset}`;
  const report = useApi<MonitorReport>(`/v1/deployments/${path(name)}/monitor?${q}`, { mark: 'monitor', refreshMs: 60_000 });
  const timeline = useApi<MonitorTimeline>(`/v1/deployments/${path(name)}/monitor/timeline?${q}&points=${win.points}`, { mark: 'timeline', refreshMs: 60_000 });
  const alerts = useApi<AlertsAnswer>('/v1/alerts', { refreshMs: 30_000 });
  const r = report.data;

  return (
    <section aria-labelledby="monitor-title">
      <DetailHead section="Deployments" sectionHref={href('deployments')} name={name} titleId="monitor-title">
        {r?.drift ? <Badge tone={r.drift.datasetDrift ? 'bad' : 'good'}>{r.drift.datasetDrift ? 'dataset drift' : 'no dataset drift'}</Badge> : null}
      </DetailHead>
      <DeploymentTabs name={name} current="monitor" />
      <div className="toolbar">
        <label>
          Window{' '}
          <select value={windowValue} onChange={(e) => setWindow(e.target.value)} data-testid="monitor-window">
            {WINDOWS.map((w) => (
              <option key={w.value} value={w.value}>
                {w.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Drift tests{' '}
          <select value={preset} onChange={(e) => setPreset(e.target.value === 'evidently' ? 'evidently' : 'berth')}>
            <option value="berth">berth (BH-adjusted p-values)</option>
            <option value="evidently">evidently (its defaults)</option>
          </select>
        </label>
        <a href={`/v1/deployments/${path(name)}/monitor?${q}&format=html`} className="small">
          the full report as a page
        </a>
      </div>
      {report.error ? <ErrorBox error={report.error} onRetry={report.reload} /> : null}
      {report.loading && !r ? <Loading what="the monitoring report" /> : null}
      {r ? <Overview r={r} /> : null}

      <h2>Drift over time</h2>
      {timeline.error ? <ErrorBox error={timeline.error} onRetry={timeline.reload} /> : null}
      {timeline.data ? <DriftTimeline t={timeline.data} picked={picked} onPick={setPicked} /> : timeline.loading ? <Loading what="the timeline" /> : null}

      {r ? (
        <>
          <FeatureHistogram r={r} picked={picked} onPick={setPicked} />
          <Quality r={r} />
          <Accuracy r={r} />
          <Fairness r={r} />
        </>
      ) : null}
      <Alerts name={name} data={alerts.data} error={alerts.error} />
    </section>
  );
}

function pct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(digits)}%`;
}

function Overview({ r }: { r: MonitorReport }): JSX.Element {
  const ref = r.reference;
  return (
    <>
      <ul className="stat-row" data-testid="monitor-stats">
        <li>
          <span className="stat-value">{r.window.rows.toLocaleString()}</span>
          <span className="stat-label">rows in {r.window.description}</span>
        </li>
        <li>
          <span className="stat-value">{r.window.requests.toLocaleString()}</span>
          <span className="stat-label">requests</span>
        </li>
        <li data-testid="stat-drift">
          <span className="stat-value">{r.drift ? `${r.drift.driftedColumns} / ${r.drift.evaluatedColumns}` : '—'}</span>
          <span className="stat-label">features drifted</span>
        </li>
        <li>
          <span className="stat-value">{pct(r.latency.errorRate, 2)}</span>
          <span className="stat-label">errors</span>
        </li>
        <li>
          <span className="stat-value">{r.latency.p99 === null ? '—' : `${r.latency.p99.toFixed(1)} ms`}</span>
          <span className="stat-label">p99 latency</span>
        </li>
      </ul>
      <p className="small muted">
        {ref === null
          ? 'No reference: register the version with --reference (or POST …/profile) to see drift.'
          : ref.kind === 'profile'
            ? `Compared with the reference profile of version ${ref.version} (${ref.rows.toLocaleString()} rows${ref.source ? `, ${ref.source}` : ''}).`
            : `Compared with ${ref.description} (${ref.rows.toLocaleString()} rows).`}{' '}
        Generated <When iso={r.generatedAt} />.
      </p>
      {r.summary.length > 0 ? (
        <ul className="summary" data-testid="monitor-summary">
          {r.summary.map((s) => (
            <li key={s}>{s}</li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

function DriftTimeline({ t, picked, onPick }: { t: MonitorTimeline; picked: string | null; onPick: (c: string) => void }): JSX.Element {
  const rows = useMemo<HeatRow[]>(() => {
    // one formatter, one label per bucket (a formatter per cell costs more than the whole table)
    const labels = t.buckets.map((b) => BUCKET_TIME.format(new Date(b.from)));
    const counts = t.buckets.map((b) => b.rows.toLocaleString());
    const out = t.columns.map((c) => {
      let worst = 0;
      const cells = t.buckets.map((b, i) => {
        const cell = b.drift[c.name];
        if (!cell || b.rows === 0) return { level: null, text: `${c.name}, ${labels[i]!}: no traffic` };
        const level = driftSeverity(cell);
        worst = Math.max(worst, level);
        return {
          level,
          text: `${c.name}, ${labels[i]!}: ${cell.drifted ? 'drifted' : cell.verdict.replace('_', ' ')} (${cell.test} ${fmtScore(cell.score)}, threshold ${fmtScore(cell.threshold)}, ${counts[i]!} rows)`,
        };
      });
      return { row: { key: c.name, label: c.role === 'prediction' ? `${c.name} (model output)` : c.name, cells }, worst, role: c.role };
    });
    // the features that drifted most first; the model's outputs last
    out.sort((a, b) => (a.role === b.role ? b.worst - a.worst : a.role === 'feature' ? -1 : 1));
    return out.map((o) => o.row);
  }, [t]);
  if (t.reference === null) return <Empty>No reference data to measure drift against. Attach it with <code>berth models profile MODEL VERSION --reference train.csv</code>.</Empty>;
  if (t.buckets.every((b) => b.rows === 0)) return <Empty>No traffic in this window. Send some requests, or pick a longer window.</Empty>;
  const cols = t.buckets.map((b) => BUCKET_TIME.format(new Date(b.from)));
  const times = t.buckets.map((b) => b.from);
  return (
    <>
      <Heatmap caption={`Each column is ${humanSeconds(t.bucketSeconds)}; pick a feature to compare its distribution below`} columns={cols} rows={rows} picked={picked} onPick={onPick} />
      <div className="grid-2">
        <LineChart title="Share of features drifted" unit="%" times={times} floor={10} series={[{ name: 'drift share', color: '#cf222e', values: t.buckets.map((b) => (b.driftShare === null ? null : b.driftShare * 100)) }]} />
        <LineChart
          title="Data quality"
          unit="%"
          times={times}
          floor={1}
          series={[
            { name: 'missing values', color: '#bf8700', values: t.buckets.map((b) => (b.missingShare === null ? null : b.missingShare * 100)) },
            { name: 'rejected rows', color: '#8250df', values: t.buckets.map((b) => (b.rejectedShare === null ? null : b.rejectedShare * 100)) },
          ]}
        />
      </div>
    </>
  );
}

const BUCKET_TIME = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

function fmtScore(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) < 0.001 && v !== 0 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

function humanSeconds(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

function FeatureHistogram({ r, picked, onPick }: { r: MonitorReport; picked: string | null; onPick: (c: string) => void }): JSX.Element | null {
  const cols: DriftColumn[] = r.drift ? [...r.drift.columns, ...r.drift.predictions] : [];
  if (cols.length === 0) return null;
  const chosen = cols.find((c) => c.column === picked) ?? [...cols].sort((a, b) => Number(b.drifted) - Number(a.drifted))[0]!;
  return (
    <>
      <h2>Reference and current</h2>
      <div className="toolbar">
        <label>
          Feature{' '}
          <select value={chosen.column} onChange={(e) => onPick(e.target.value)} data-testid="histogram-feature">
            {cols.map((c) => (
              <option key={c.column} value={c.column}>
                {c.column}
                {c.drifted ? ' (drifted)' : ''}
              </option>
            ))}
          </select>
        </label>
        <span className="small" data-testid="histogram-verdict">
          {chosen.drifted ? <Badge tone="bad">drifted</Badge> : <Badge tone="good">{chosen.verdict.replace('_', ' ')}</Badge>} {chosen.test} {fmtScore(chosen.score)} against {fmtScore(chosen.threshold)}
          {chosen.pValue !== null ? ` · p = ${fmtScore(chosen.pValue)}` : ''}
        </span>
      </div>
      <HistogramOverlay
        testId="histogram"
        large
        title={`${chosen.column}: share of rows per ${chosen.kind === 'numeric' ? 'bin' : 'category'}`}
        labels={chosen.histogram.labels}
        series={[
          { name: 'reference', shares: chosen.histogram.reference },
          { name: 'current', shares: chosen.histogram.current },
        ]}
        axis={[chosen.histogram.labels[0] ?? '', chosen.histogram.labels[chosen.histogram.labels.length - 1] ?? '']}
      />
    </>
  );
}

function Quality({ r }: { r: MonitorReport }): JSX.Element {
  const q = r.quality;
  const flagged = new Set(q.findings.map((f) => f.column));
  const cols = [...q.columns].sort((a, b) => Number(flagged.has(b.name)) - Number(flagged.has(a.name)));
  const byField = Object.entries(q.rejected.byField).sort((a, b) => b[1] - a[1]);
  return (
    <>
      <h2>Data quality</h2>
      <p>
        {q.rejected.count > 0 ? (
          <>
            <Badge tone="bad">{pct(q.rejected.share, 2)} rejected</Badge> {q.rejected.count.toLocaleString()} rows refused
            {byField.length > 0 ? `, most for ${byField.slice(0, 3).map(([f, n]) => `${f} (${n})`).join(', ')}` : ''}.
          </>
        ) : (
          'No rows were refused.'
        )}{' '}
        {q.findings.length === 0 ? 'No findings.' : `${q.findings.length} finding${q.findings.length === 1 ? '' : 's'}.`}
      </p>
      <div className="table-wrap">
        <table className="table compact" data-testid="quality-table">
          <Head cols={['column', 'missing', 'reference missing', 'out of range', 'unknown categories', 'findings']} />
          <tbody>
            {cols.map((c) => (
              <tr key={c.name}>
                <td className="name-cell">{c.name}</td>
                <td className="num">{pct(c.missing.share, 2)}</td>
                <td className="num">{pct(c.missing.referenceShare, 2)}</td>
                <td className="num">{c.outOfRange ? pct(c.outOfRange.share, 2) : '—'}</td>
                <td className="num">{c.unknownCategories ? pct(c.unknownCategories.share, 2) : '—'}</td>
                <td>
                  {c.findings.map((f) => (
                    <Badge key={f} tone="warn">
                      {f.replace(/_/g, ' ')}
                    </Badge>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Accuracy({ r }: { r: MonitorReport }): JSX.Element | null {
  const p = r.performance;
  if (p.kind === 'none') return null;
  const cls = p.kind === 'classification';
  const times = p.series.map((s) => new Date(s.from).toISOString());
  const scale = cls ? 100 : 1;
  const refAcc = p.referenceMetrics['accuracy'] ?? p.referenceMetrics['reference_accuracy'];
  const series = [
    { name: cls ? 'realised (labels)' : 'RMSE (labels)', color: '#1f6feb', values: p.series.map((s) => (s.realized === null ? null : s.realized * scale)) },
    ...(cls ? [{ name: 'estimated (confidence)', color: '#bf8700', values: p.series.map((s) => (s.estimated === null ? null : s.estimated * 100)) }] : []),
    ...(cls && refAcc !== undefined ? [{ name: 'at training', color: '#8c959f', values: p.series.map(() => refAcc * 100) }] : []),
  ];
  return (
    <>
      <h2>{cls ? 'Accuracy' : 'Error'} over time</h2>
      <p data-testid="accuracy-summary">
        {p.labelledRows > 0 ? (
          cls && p.classification ? (
            <>
              Realised accuracy <strong>{pct(p.classification.accuracy)}</strong> on {p.labelledRows.toLocaleString()} labelled rows
              {p.classification.rocAuc !== null ? `, ROC AUC ${p.classification.rocAuc.toFixed(3)}` : ''}
            </>
          ) : p.regression ? (
            <>
              RMSE <strong>{fmtScore(p.regression.rmse)}</strong> on {p.labelledRows.toLocaleString()} labelled rows
            </>
          ) : null
        ) : (
          'No labels have arrived for this window yet (send them to POST /v1/deployments/NAME/feedback).'
        )}
        {cls && p.estimatedAccuracy !== null ? (
          <>
            {' '}
            · estimated from confidence <strong>{pct(p.estimatedAccuracy)}</strong>
          </>
        ) : null}
        {refAcc !== undefined ? ` · ${pct(refAcc)} at training` : ''}
        {p.unmatchedLabels > 0 ? ` · ${p.unmatchedLabels} labels matched no logged row` : ''}
      </p>
      {p.series.length > 0 ? (
        <div className="grid-2">
          <LineChart title={cls ? 'Accuracy' : 'RMSE'} unit={cls ? '%' : ''} times={times} floor={cls ? 100 : 1} series={series} />
          <LineChart
            title="Rows and labels"
            unit=""
            times={times}
            series={[
              { name: 'rows', color: '#1f6feb', values: p.series.map((s) => s.rows) },
              { name: 'labelled', color: '#1a7f37', values: p.series.map((s) => s.labelled) },
            ]}
          />
        </div>
      ) : null}
    </>
  );
}

function Fairness({ r }: { r: MonitorReport }): JSX.Element | null {
  if (r.fairness.length === 0) return null;
  return (
    <>
      <h2>Fairness</h2>
      {r.fairness.map((f) => (
        <div key={f.attribute} className="table-wrap">
          <table className="table compact" data-testid="fairness-table">
            <caption>
              {f.attribute}: disparate impact {f.disparateImpact.toFixed(3)} {f.fourFifthsViolated ? <Badge tone="bad">below the 80% rule</Badge> : <Badge tone="good">meets the 80% rule</Badge>} · parity difference{' '}
              {f.demographicParityDifference.toFixed(3)}
              {f.equalizedOddsDifference !== null ? ` · equalized odds difference ${f.equalizedOddsDifference.toFixed(3)}` : ''}
            </caption>
            <Head cols={['group', 'rows', `predicted ${f.positiveClass}`, 'true positive rate', 'false positive rate', 'accuracy']} />
            <tbody>
              {f.groups.map((g) => (
                <tr key={g.group}>
                  <td className="name-cell">
                    {g.group}
                    {g.rows < f.minGroupRows ? <span className="muted small"> (too few rows to compare)</span> : null}
                  </td>
                  <td className="num">{g.rows.toLocaleString()}</td>
                  <td className="num">{pct(g.selectionRate)}</td>
                  <td className="num">{pct(g.truePositiveRate)}</td>
                  <td className="num">{pct(g.falsePositiveRate)}</td>
                  <td className="num">{pct(g.accuracy)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </>
  );
}

function Alerts({ name, data, error }: { name: string; data: AlertsAnswer | null; error: Error | null }): JSX.Element {
  const mine = (data?.alerts ?? []).filter((a) => a.deployment === name);
  const events = (data?.events ?? []).filter((e) => e.deployment === name);
  return (
    <>
      <h2>Alerts</h2>
      {error && !(error instanceof ApiError && error.status === 403) ? <ErrorBox error={error} /> : null}
      {mine.length === 0 ? (
        <p className="muted">No alert rule covers this deployment. Rules live in the server's configuration (docs/monitoring.md).</p>
      ) : (
        <div className="table-wrap">
          <table className="table compact" data-testid="monitor-alerts">
            <Head cols={['rule', 'state', 'condition', 'value', 'since']} />
            <tbody>
              {mine.map((a) => (
                <tr key={a.rule}>
                  <td>{a.rule}</td>
                  <td>
                    <Badge tone={a.state === 'firing' ? 'bad' : a.state === 'pending' ? 'warn' : 'good'}>{a.state}</Badge>
                  </td>
                  <td>
                    <code>{a.condition}</code>
                  </td>
                  <td className="num">{a.value === null ? '—' : fmtScore(a.value)}</td>
                  <td>
                    <When iso={a.since} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {events.length > 0 ? (
        <ol className="decisions" data-testid="monitor-alert-events">
          {events.map((e) => (
            <li key={e.id} className={e.kind === 'resolved' ? 'pass' : 'fail'}>
              <strong>{e.rule}</strong> {e.kind} · <When iso={e.at} />
              {e.value !== null ? ` · value ${fmtScore(e.value)}` : ''}
              {e.message ? <span className="muted"> · {e.message}</span> : null}
            </li>
          ))}
        </ol>
      ) : null}
    </>
  );
}

import { useCallback, useEffect, useMemo, useState, type JSX } from 'react';
import type { ParamValue, RunDetail, RunList, RunLogLine, RunMetric, RunRecord, RunState, StepRecord } from '../../../sdk/types.js';
import { api, ApiError } from '../api.js';
import { ConfirmButton } from '../components/confirm.js';
import { Badge, DetailHead, Empty, ErrorBox, Head, Loading, When, formatBytes } from '../components/common.js';
import { clock, elapsedMs, formatDuration, LogView, MetricChart, metricText, SERIES_COLORS, ShortWhen, useLogFollower, type CurveSeries } from '../components/jobs-runs.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';
import { useSession } from '../session.js';
import './runs.css';

const ACTIVE: readonly RunState[] = ['queued', 'running'];

function isActive(r: { state: RunState }): boolean {
  return ACTIVE.includes(r.state);
}

function runTone(state: string): 'good' | 'bad' | 'warn' | 'info' | 'plain' {
  switch (state) {
    case 'succeeded':
      return 'good';
    case 'cached':
      return 'good';
    case 'failed':
      return 'bad';
    case 'cancelled':
      return 'warn';
    case 'running':
      return 'info';
    default:
      return 'plain';
  }
}

function compareHref(ids: number[]): string {
  return `#/runs/compare?ids=${ids.join(',')}`;
}

/** What the run registered, as a link to the version (or why nothing was). */
function Registered({ run }: { run: RunRecord }): JSX.Element {
  const r = run.result;
  if (r?.model !== undefined && r.version !== undefined) {
    return (
      <a href={href('models', r.model, 'versions', r.version)} className="wrap-anywhere">
        {r.model}@{r.version}
      </a>
    );
  }
  if (r?.gate && !r.gate.passed) return <Badge tone="warn">gate failed</Badge>;
  return <span className="muted">—</span>;
}

function triggerText(run: RunRecord): string {
  const d = run.trigger.detail ?? {};
  const hint = ['rule', 'deployment', 'schedule', 'commit', 'labels'].map((k) => d[k]).find((v) => typeof v === 'string' || typeof v === 'number');
  return hint === undefined ? run.trigger.kind : `${run.trigger.kind} (${typeof hint === 'string' && hint.length > 12 && /^[0-9a-f]+$/.test(hint) ? hint.slice(0, 10) : String(hint)})`;
}

/** Pipeline runs, newest first, with boxes to pick runs to compare. */
export function Runs(): JSX.Element {
  const [live, setLive] = useState(true);
  const runs = useApi<RunList>('/v1/runs?limit=100', { mark: 'runs', refreshMs: live ? 3000 : 15_000 });
  const [picked, setPicked] = useState<number[]>([]);
  useEffect(() => {
    if (runs.data) setLive(runs.data.runs.some(isActive));
  }, [runs.data]);
  const list = runs.data?.runs ?? [];
  const toggle = (id: number, on: boolean): void => setPicked((p) => (on ? [...p.filter((x) => x !== id), id].sort((a, b) => a - b) : p.filter((x) => x !== id)));
  return (
    <section aria-labelledby="runs-title" className="runs-page">
      <header className="page-head">
        <h1 id="runs-title">Pipeline runs</h1>
        {list.length > 0 ? (
          <div className="compare-bar" aria-live="polite">
            {picked.length >= 2 ? (
              <a className="button-link" href={compareHref(picked)} data-testid="compare-link">
                Compare runs {picked.join(', ')}
              </a>
            ) : (
              <span className="muted small">Tick two or more runs to compare them.</span>
            )}
          </div>
        ) : null}
      </header>
      {runs.error ? <ErrorBox error={runs.error} onRetry={runs.reload} /> : null}
      {runs.loading && !runs.data ? <Loading what="runs" /> : null}
      {runs.data && list.length === 0 ? (
        <Empty>
          No pipeline runs yet. Store a pipeline with <code>berth pipeline create berth.pipeline.yaml</code> and start it with{' '}
          <code>berth pipeline run NAME --remote</code> (docs/pipelines.md).
        </Empty>
      ) : null}
      {list.length > 0 ? (
        <div className="table-wrap">
          <table className="table stack" data-testid="runs-table">
            <caption className="sr-only">The 100 newest runs, newest first</caption>
            <Head cols={['Compare', 'Run', 'Pipeline', 'State', 'Trigger', 'Started', 'Duration', 'Registered']} />
            <tbody>
              {list.map((r) => (
                <tr key={r.id} data-run={r.id}>
                  <td data-label="Compare">
                    <label className="pick">
                      <input type="checkbox" checked={picked.includes(r.id)} onChange={(e) => toggle(r.id, e.currentTarget.checked)} />
                      <span className="sr-only">Compare run {r.id}</span>
                    </label>
                  </td>
                  <td data-label="Run">
                    <a href={href('runs', r.id)}>Run {r.id}</a>
                  </td>
                  <td className="name-cell" data-label="Pipeline">
                    {r.pipeline}
                    {r.pipelineVersion !== null ? <span className="muted small"> v{r.pipelineVersion}</span> : <span className="muted small"> (local)</span>}
                  </td>
                  <td data-label="State">
                    <Badge tone={runTone(r.state)}>{r.state}</Badge>
                    {r.error && r.state === 'failed' ? (
                      <div className="small muted clamp" title={r.error.message}>
                        {r.error.message}
                      </div>
                    ) : null}
                  </td>
                  <td data-label="Trigger" title={r.trigger.detail ? JSON.stringify(r.trigger.detail) : undefined}>
                    {triggerText(r)}
                  </td>
                  <td data-label="Started">
                    <ShortWhen iso={r.startedAt ?? r.createdAt} />
                  </td>
                  <td className="num" data-label="Duration">
                    {r.startedAt ? formatDuration(elapsedMs(r.startedAt, r.finishedAt)) : <span className="muted">queued</span>}
                  </td>
                  <td data-label="Registered">
                    <Registered run={r} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

/** `${step}.${key}`, as `berth runs show` names a metric. */
function metricName(m: RunMetric): string {
  return `${m.step}.${m.key}`;
}

interface MetricSummary {
  name: string;
  /** the value at the highest training step, or the last one logged */
  final: number;
  min: number;
  max: number;
  count: number;
  curve: { x: number; y: number }[];
}

/** Each metric of a run: its final value and its curve over training steps. */
function summarizeMetrics(metrics: RunMetric[]): Map<string, MetricSummary> {
  const out = new Map<string, MetricSummary>();
  const byName = new Map<string, RunMetric[]>();
  for (const m of metrics) {
    const n = metricName(m);
    const list = byName.get(n);
    if (list) list.push(m);
    else byName.set(n, [m]);
  }
  for (const [name, ms] of byName) {
    // one point per training step: a value logged again at the same step replaces the earlier one
    const steps = new Map<number, number>();
    for (const m of ms) if (m.metricStep !== null) steps.set(m.metricStep, m.value);
    const curve = [...steps.entries()].sort((a, b) => a[0] - b[0]).map(([x, y]) => ({ x, y }));
    const values = ms.map((m) => m.value);
    const final = curve.length > 0 ? curve[curve.length - 1]!.y : values[values.length - 1]!;
    out.set(name, { name, final, min: Math.min(...values), max: Math.max(...values), count: ms.length, curve });
  }
  return out;
}

/** Whether a smaller value of this metric is the better one (losses and errors). */
function lowerIsBetter(name: string): boolean {
  return /loss|error|rmse|mse|mae|mape|perplexity|latency|duration|_time|wer\b/i.test(name);
}

/** Steps in layers: a step comes after every step it needs. */
function layers(run: RunDetail): string[][] {
  const depth = new Map<string, number>();
  const specs = new Map(run.spec.steps.map((s) => [s.name, s]));
  const visit = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (seen.has(name)) return 0;
    seen.add(name);
    const needs = specs.get(name)?.needs ?? [];
    const d = needs.length === 0 ? 0 : 1 + Math.max(...needs.map((n) => visit(n, seen)));
    depth.set(name, d);
    return d;
  };
  const names = run.spec.steps.map((s) => s.name);
  for (const s of run.steps) if (!names.includes(s.name)) names.push(s.name);
  for (const n of names) visit(n, new Set());
  const out: string[][] = [];
  for (const n of names) {
    const d = depth.get(n) ?? 0;
    (out[d] ??= []).push(n);
  }
  return out.filter((l) => l !== undefined);
}

function stepDuration(s: StepRecord): string {
  if (s.state === 'cached' || s.state === 'skipped' || s.state === 'pending') return '';
  return formatDuration(elapsedMs(s.startedAt, s.finishedAt));
}

function resultSummary(s: StepRecord): string | null {
  const v = s.result?.['summary'];
  return typeof v === 'string' ? v : null;
}

/** One run: its steps, params, data, metrics drawn, what it registered, and each step's log; Cancel while it runs. */
export function Run({ id }: { id: number }): JSX.Element {
  const valid = Number.isSafeInteger(id) && id > 0;
  const session = useSession();
  const [live, setLive] = useState(true);
  const run = useApi<RunDetail>(valid ? `/v1/runs/${id}` : null, { mark: 'run', ...(live ? { refreshMs: 1500 } : {}) });
  const r = run.data;
  useEffect(() => {
    if (r) setLive(isActive(r));
  }, [r]);
  const [step, setStep] = useState<string | null>(null);
  const logs = useLogFollower<RunLogLine>(valid ? `/v1/runs/${id}/logs?${step !== null ? `step=${encodeURIComponent(step)}&` : ''}` : null);
  const metrics = useMemo(() => summarizeMetrics(r?.metrics ?? []), [r?.metrics]);
  const title = `Run ${valid ? id : '?'}`;
  if (!valid) {
    return (
      <section aria-labelledby="run-title">
        <DetailHead section="Runs" sectionHref={href('runs')} name={title} titleId="run-title" />
        <ErrorBox error={new ApiError(400, 'INVALID_ARGUMENT', 'run id: expected a whole number, as the Runs page lists them')} />
      </section>
    );
  }
  const curves = [...metrics.values()].filter((m) => m.curve.length > 0);
  const showLog = (name: string | null) => (): void => {
    setStep(name);
    // to the log, and the keyboard with it
    document.getElementById('run-logs')?.focus();
  };
  return (
    <section aria-labelledby="run-title" className="runs-page">
      <DetailHead section="Runs" sectionHref={href('runs')} name={r ? `Run ${id} of ${r.pipeline}` : title} titleId="run-title">
        {r ? <Badge tone={runTone(r.state)}>{r.state}</Badge> : null}
      </DetailHead>
      {run.error ? <ErrorBox error={run.error} onRetry={run.reload} /> : null}
      {run.loading && !r ? <Loading what="the run" /> : null}
      {r ? (
        <>
          {isActive(r) && session.can('deploy') ? (
            <div className="actions" data-testid="run-actions">
              {r.cancelRequested ? (
                <p className="muted">Cancel requested: the running step's processes are being stopped.</p>
              ) : (
                <ConfirmButton
                  label="Cancel run"
                  danger
                  question={`Cancel run ${r.id} of ${r.pipeline}? The running step's processes are stopped and nothing after it runs, so nothing is registered or rolled out.`}
                  run={() => api(`/v1/runs/${r.id}/cancel`, { method: 'POST', body: {} })}
                  onDone={run.reload}
                />
              )}
            </div>
          ) : null}
          {r.error && r.state !== 'succeeded' ? (
            <div className={r.state === 'failed' ? 'error' : 'note'} role={r.state === 'failed' ? 'alert' : undefined} data-testid="run-error">
              <strong>{r.error.code}</strong> <span className="wrap-anywhere">{r.error.message}</span>
            </div>
          ) : null}
          <dl className="facts" data-testid="run-facts">
            <dt>pipeline</dt>
            <dd className="wrap-anywhere">
              {r.pipeline}
              {r.pipelineVersion !== null ? <span className="muted"> (stored version {r.pipelineVersion})</span> : <span className="muted"> (a local run of a file)</span>}
              {r.spec.description ? <div className="muted small">{r.spec.description}</div> : null}
            </dd>
            <dt>registered</dt>
            <dd data-testid="run-registered">
              <Registered run={r} />
              {r.result?.deployment ? <span className="muted"> · rolled out to {r.result.deployment}{r.result.rollout !== undefined ? ` (rollout ${r.result.rollout})` : ''}</span> : null}
              {r.result?.gate ? (
                <div className="small">
                  gate {r.result.gate.passed ? 'passed' : 'failed'}
                  {r.result.gate.reasons.length > 0 ? `: ${r.result.gate.reasons.join('; ')}` : ''}
                </div>
              ) : null}
            </dd>
            <dt>trigger</dt>
            <dd className="wrap-anywhere">
              {r.trigger.kind}
              {r.trigger.detail && Object.keys(r.trigger.detail).length > 0 ? <span className="muted small"> {JSON.stringify(r.trigger.detail)}</span> : null}, by {r.actor}
            </dd>
            <dt>started</dt>
            <dd>
              {r.startedAt ? <When iso={r.startedAt} /> : <span className="muted">queued since <When iso={r.createdAt} /></span>}
              {r.startedAt ? <span className="muted"> · {r.finishedAt ? 'took' : 'running for'} {formatDuration(elapsedMs(r.startedAt, r.finishedAt))}</span> : null}
              {r.attempts > 1 ? <span className="muted"> · attempt {r.attempts}</span> : null}
            </dd>
            <dt>code</dt>
            <dd className="wrap-anywhere">
              {r.code ? (
                <>
                  <code title={r.code.commit}>{r.code.commit.slice(0, 12)}</code>
                  {r.code.dirty ? <Badge tone="warn">uncommitted changes</Badge> : null}
                  {r.code.remote ? <span className="muted small"> {r.code.remote}</span> : null}
                </>
              ) : (
                <span className="muted">not a git checkout</span>
              )}
            </dd>
            <dt>workdir</dt>
            <dd className="wrap-anywhere">
              <code>{r.workdir}</code>
            </dd>
          </dl>

          <h2>Steps</h2>
          <ol className="dag" data-testid="run-steps" aria-label="steps, in the order their needs allow">
            {layers(r).map((names, i) => (
              <li key={i} className="dag-layer">
                <ol>
                  {names.map((name) => {
                    const s = r.steps.find((x) => x.name === name);
                    const spec = r.spec.steps.find((x) => x.name === name);
                    return (
                      <li key={name} className={`dag-step step-${s?.state ?? 'pending'}`} data-step={name}>
                        <div className="step-head">
                          <strong className="wrap-anywhere">{name}</strong> <Badge tone={runTone(s?.state ?? 'pending')}>{s?.state ?? 'pending'}</Badge>
                        </div>
                        <div className="small muted">
                          {spec?.kind === 'builtin' ? `uses ${spec.uses}` : 'command'}
                          {s && stepDuration(s) ? ` · ${stepDuration(s)}` : ''}
                          {s && s.attempts > 1 ? ` · ${s.attempts} attempts` : ''}
                          {s?.exitCode !== null && s?.exitCode !== undefined && s.exitCode !== 0 ? ` · exit code ${s.exitCode}` : ''}
                        </div>
                        {spec && spec.needs.length > 0 ? <div className="small muted wrap-anywhere">after {spec.needs.join(', ')}</div> : null}
                        {s?.state === 'cached' && s.cachedFrom !== null ? (
                          <div className="small" data-testid="cache-hit">
                            unchanged since <a href={href('runs', s.cachedFrom)}>run {s.cachedFrom}</a>: outputs reused
                          </div>
                        ) : null}
                        {s && resultSummary(s) ? <div className="small wrap-anywhere">{resultSummary(s)}</div> : null}
                        {s?.error ? <div className="small step-error wrap-anywhere">{s.error.message}</div> : null}
                        {s?.outputs && Object.keys(s.outputs).length > 0 ? (
                          <ul className="small outputs">
                            {Object.entries(s.outputs).map(([k, o]) => (
                              <li key={k} className="wrap-anywhere">
                                {k}: {o.file} <span className="muted">({formatBytes(o.bytes)}, <code title={o.sha256}>{o.sha256.slice(0, 12)}</code>)</span>
                              </li>
                            ))}
                          </ul>
                        ) : null}
                        <button type="button" className="link-button small" onClick={showLog(name)}>
                          Log of {name}
                        </button>
                      </li>
                    );
                  })}
                </ol>
              </li>
            ))}
          </ol>

          <div className="grid-2">
            <div>
              <h2>Params</h2>
              {Object.keys(r.params).length === 0 ? (
                <p className="muted">This pipeline has no params.</p>
              ) : (
                <div className="table-wrap">
                  <table className="table compact" data-testid="run-params">
                    <Head cols={['Param', 'Value', 'Default']} />
                    <tbody>
                      {Object.entries(r.params).map(([k, v]) => {
                        const def = r.spec.params[k];
                        const changed = def !== undefined && def !== v;
                        return (
                          <tr key={k} className={changed ? 'differs' : undefined}>
                            <th scope="row" className="wrap-words">
                              {k}
                            </th>
                            <td className="wrap-anywhere">
                              <code>{paramText(v)}</code>
                              {changed ? <span className="sr-only"> (overridden)</span> : null}
                            </td>
                            <td className="wrap-anywhere muted">{def === undefined ? '—' : <code>{paramText(def)}</code>}</td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                </div>
              )}
            </div>
            <div>
              <h2>Metrics</h2>
              {metrics.size === 0 ? (
                <p className="muted">
                  No metrics. A command step logs them by appending lines like <code>{'{"key": "loss", "value": 0.4, "step": 3}'}</code> to <code>$BERTH_METRICS_FILE</code>.
                </p>
              ) : (
                <div className="table-wrap">
                  <table className="table compact" data-testid="run-metrics">
                    <Head cols={['Metric', 'Final', 'Min', 'Max', 'Points']} />
                    <tbody>
                      {[...metrics.values()].map((m) => (
                        <tr key={m.name} data-metric={m.name}>
                          <th scope="row" className="wrap-words">
                            {m.name}
                          </th>
                          <td className="num">{metricText(m.final)}</td>
                          <td className="num">{metricText(m.min)}</td>
                          <td className="num">{metricText(m.max)}</td>
                          <td className="num">{m.count}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </div>
          </div>
          {curves.length > 0 ? (
            <div className="grid-2" data-testid="run-charts">
              {curves.map((m, i) => (
                <MetricChart key={m.name} title={m.name} series={[{ name: m.name, color: SERIES_COLORS[i % SERIES_COLORS.length]!, points: m.curve }]} />
              ))}
            </div>
          ) : null}

          <h2>Datasets</h2>
          {r.datasets.length === 0 ? (
            <p className="muted">No step declared data (a step's <code>data:</code> inputs are fingerprinted here).</p>
          ) : (
            <div className="table-wrap">
              <table className="table compact" data-testid="run-datasets">
                <Head cols={['Step', 'Path', 'sha256', 'Size']} />
                <tbody>
                  {r.datasets.map((d) => (
                    <tr key={`${d.step}:${d.path}`}>
                      <td>{d.step}</td>
                      <td className="wrap-anywhere">
                        <code>{d.path}</code>
                      </td>
                      <td className="wrap-anywhere sha">
                        <code>{d.sha256}</code>
                      </td>
                      <td className="num">{formatBytes(d.bytes)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {r.datasets.length > 0 ? (
            <p className="muted small">
              Which runs and versions used a dataset: <code>berth lineage --dataset {r.datasets[0]!.sha256.slice(0, 12)}</code>
            </p>
          ) : null}

          <h2 id="run-logs" tabIndex={-1}>
            Logs
          </h2>
          <div className="actions step-picker" role="group" aria-label="whose log">
            <button type="button" aria-pressed={step === null} onClick={() => setStep(null)}>
              All steps
            </button>
            {r.spec.steps.map((s) => (
              <button key={s.name} type="button" aria-pressed={step === s.name} onClick={() => setStep(s.name)}>
                {s.name}
              </button>
            ))}
          </div>
          {logs.error ? <ErrorBox error={logs.error} /> : null}
          <LogView
            label={step === null ? `${title} log, all steps` : `${title} log of step ${step}`}
            testId="run-log"
            empty={logs.done ? 'No lines.' : 'Waiting for lines…'}
            lines={logs.lines.map((l) => ({
              key: l.seq,
              text: `${clock(l.at)}  ${step === null ? `[${l.step}] ` : ''}${l.line}`,
              ...(l.stream === 'berth' ? { tone: 'note' as const } : l.stream === 'stderr' ? { tone: 'warn' as const } : {}),
            }))}
          />
        </>
      ) : null}
    </section>
  );
}

function paramText(v: ParamValue | undefined): string {
  return v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v);
}

/** Several runs at once, with the Performance marks `useApi` sets for one. */
function useRunDetails(ids: number[], mark: string): { data: RunDetail[] | null; error: Error | null; loading: boolean; reload(): void } {
  const key = ids.join(',');
  const [state, setState] = useState<{ data: RunDetail[] | null; error: Error | null; loading: boolean }>({ data: null, error: null, loading: ids.length > 0 });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (key === '') return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    Promise.all(key.split(',').map((id) => api<RunDetail>(`/v1/runs/${id}`, { signal: ctl.signal }))).then(
      (data) => {
        performance.mark(`berth:data:${mark}`);
        setState({ data, error: null, loading: false });
        requestAnimationFrame(() => setTimeout(() => performance.mark(`berth:render:${mark}`), 0));
      },
      (error: unknown) => {
        if (ctl.signal.aborted) return;
        setState((s) => ({ data: s.data, error: error instanceof Error ? error : new Error(String(error)), loading: false }));
      },
    );
    return () => ctl.abort();
  }, [key, mark, tick]);
  const reload = useCallback(() => setTick((x) => x + 1), []);
  return { ...state, reload };
}

/** Runs side by side: params (differences marked), final metrics (the best marked) and every curve overlaid. */
export function RunsCompare({ ids }: { ids: number[] }): JSX.Element {
  const unique = [...new Set(ids)];
  const runs = useRunDetails(unique.length >= 2 ? unique : [], 'runs-compare');
  const title = `Compare runs ${unique.join(', ')}`;
  const data = runs.data;
  const summaries = useMemo(() => (data ?? []).map((r) => summarizeMetrics(r.metrics)), [data]);
  return (
    <section aria-labelledby="compare-title" className="runs-page">
      <DetailHead section="Runs" sectionHref={href('runs')} name={unique.length >= 2 ? title : 'Compare runs'} titleId="compare-title" />
      {unique.length < 2 ? (
        <Empty>
          Pick two or more runs to compare: tick their boxes on the <a href={href('runs')}>Runs</a> page, then follow <em>Compare</em>.
        </Empty>
      ) : null}
      {runs.error ? <ErrorBox error={runs.error} onRetry={runs.reload} /> : null}
      {runs.loading && !data ? <Loading what={`runs ${unique.join(', ')}`} /> : null}
      {data ? <Comparison runs={data} summaries={summaries} /> : null}
    </section>
  );
}

function Comparison({ runs, summaries }: { runs: RunDetail[]; summaries: Map<string, MetricSummary>[] }): JSX.Element {
  const params = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const names = [...new Set(summaries.flatMap((s) => [...s.keys()]))].sort();
  const curveNames = names.filter((n) => summaries.some((s) => (s.get(n)?.curve.length ?? 0) > 0));
  const pipelines = new Set(runs.map((r) => r.pipeline));
  const cols = ['', ...runs.map((r) => `Run ${r.id}`)];
  return (
    <>
      {pipelines.size > 1 ? <p className="muted">These runs come from different pipelines ({[...pipelines].join(', ')}): params and metrics line up by name.</p> : null}
      <div className="table-wrap">
        <table className="table compact compare" data-testid="compare-runs">
          <caption>Runs</caption>
          <thead>
            <tr>
              <td />
              {runs.map((r, i) => (
                <th key={r.id} scope="col">
                  <span className="swatch" style={{ background: SERIES_COLORS[i % SERIES_COLORS.length] }} /> <a href={href('runs', r.id)}>Run {r.id}</a>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">pipeline</th>
              {runs.map((r) => (
                <td key={r.id} className="wrap-anywhere">
                  {r.pipeline}
                  {r.pipelineVersion !== null ? <span className="muted small"> v{r.pipelineVersion}</span> : null}
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row">state</th>
              {runs.map((r) => (
                <td key={r.id}>
                  <Badge tone={runTone(r.state)}>{r.state}</Badge>
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row">started</th>
              {runs.map((r) => (
                <td key={r.id}>
                  <ShortWhen iso={r.startedAt} />
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row">took</th>
              {runs.map((r) => (
                <td key={r.id} className="num">
                  {formatDuration(elapsedMs(r.startedAt, r.finishedAt))}
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row">registered</th>
              {runs.map((r) => (
                <td key={r.id}>
                  <Registered run={r} />
                </td>
              ))}
            </tr>
          </tbody>
        </table>
      </div>

      <h2>Params</h2>
      {params.length === 0 ? (
        <p className="muted">None of these runs has params.</p>
      ) : (
        <div className="table-wrap">
          <table className="table compact compare" data-testid="compare-params">
            <caption className="sr-only">Params side by side; rows marked ≠ differ</caption>
            <Head cols={['Param', ...cols.slice(1)]} />
            <tbody>
              {params.map((p) => {
                const values = runs.map((r) => paramText(r.params[p]));
                const differs = new Set(values).size > 1;
                return (
                  <tr key={p} className={differs ? 'differs' : undefined} data-param={p}>
                    <th scope="row" className="wrap-words">
                      {differs ? (
                        <span className="marker" aria-hidden="true">
                          ≠{' '}
                        </span>
                      ) : null}
                      {p}
                      {differs ? <span className="sr-only"> (differs)</span> : null}
                    </th>
                    {values.map((v, i) => (
                      <td key={runs[i]!.id} className="wrap-anywhere">
                        <code>{v}</code>
                      </td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      <h2>Final metrics</h2>
      {names.length === 0 ? (
        <p className="muted">None of these runs logged metrics.</p>
      ) : (
        <div className="table-wrap">
          <table className="table compact compare" data-testid="compare-metrics">
            <caption className="sr-only">Each metric's final value per run; ★ marks the best of each row</caption>
            <Head cols={['Metric', ...cols.slice(1)]} />
            <tbody>
              {names.map((n) => {
                const values = summaries.map((s) => s.get(n)?.final ?? null);
                const present = values.filter((v): v is number => v !== null);
                const low = lowerIsBetter(n);
                const best = present.length >= 2 && new Set(present).size > 1 ? (low ? Math.min(...present) : Math.max(...present)) : null;
                return (
                  <tr key={n} data-metric={n}>
                    <th scope="row" className="wrap-words">
                      {n} <span className="muted small">({low ? 'lower' : 'higher'} is better)</span>
                    </th>
                    {values.map((v, i) => (
                      <td key={runs[i]!.id} className={v !== null && v === best ? 'num best' : 'num'}>
                        {metricText(v)}
                        {v !== null && v === best ? (
                          <>
                            {' '}
                            <span aria-hidden="true">★</span>
                            <span className="sr-only">(best)</span>
                          </>
                        ) : null}
                      </td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      {curveNames.length > 0 ? (
        <>
          <h2>Curves</h2>
          <div className="grid-2" data-testid="compare-charts">
            {curveNames.map((n) => {
              const series: CurveSeries[] = runs.map((r, i) => ({ name: `run ${r.id}`, color: SERIES_COLORS[i % SERIES_COLORS.length]!, points: summaries[i]!.get(n)?.curve ?? [] })).filter((s) => s.points.length > 0);
              return <MetricChart key={n} title={n} series={series} />;
            })}
          </div>
        </>
      ) : null}
    </>
  );
}

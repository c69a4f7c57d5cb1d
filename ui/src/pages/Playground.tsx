import type { FormEvent, JSX } from 'react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { DeploymentView, ExplainOptions, ExplainQueued, ExplainResult, PredictResult, VersionRecord } from '../../../sdk/types.js';
import { api, ApiError, path } from '../api.js';
import { Badge, DetailHead, Empty, ErrorBox, Loading, When } from '../components/common.js';
import { ContributionChart } from '../components/contributions.js';
import {
  defaultText, FeatureFields, fieldText, hasRange, idOf, parseField, planForm, randomText, rangeWarning,
  type FeatureValue, type FieldState, type FormPlan, type ReferenceView,
} from '../components/feature-form.js';
import { DeploymentTabs } from '../components/tabs.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';
import { useSession } from '../session.js';
import './playground.css';

/** One logged request of `GET /v1/deployments/{name}/requests` (newest first). */
interface LoggedRequest {
  requestId: string;
  at: string;
  version: number;
  status: string;
  rows: { features: Record<string, number | string | null>; prediction: Record<string, number | string | null> }[];
}

interface RequestLog {
  requests: LoggedRequest[];
}

interface CardView {
  title?: string;
  task?: string;
  classes?: { labels: (number | string)[]; names?: string[] };
}

type Body = { rows: Record<string, unknown>[] } | { instances: unknown[] };
type Method = NonNullable<ExplainOptions['method']>;

const METHODS: { value: Method; label: string }[] = [
  { value: 'auto', label: 'auto' },
  { value: 'tree', label: 'tree (TreeSHAP)' },
  { value: 'tree-interventional', label: 'tree-interventional' },
  { value: 'kernel', label: 'kernel (Kernel SHAP)' },
  { value: 'lime', label: 'lime' },
];
const TOPS = [5, 10, 15, 20, 0];
/** Feature lists longer than this get a search box. */
const FILTER_FROM = 12;

interface Outcome {
  body: Body;
  key: string;
  result: PredictResult;
  ms: number;
  at: string;
}

type Explained = { kind: 'done'; result: ExplainResult } | { kind: 'queued'; queued: ExplainQueued };

/**
 * A deployment's playground: a form generated from the served version's card (or signature),
 * Predict sends it to `POST /v1/deployments/{name}/predict` and shows the answer, then
 * `POST …/explain` explains it as a signed bar chart. A logged request can fill the form, and a
 * JSON row can be typed instead.
 */
export function Playground({ name }: { name: string }): JSX.Element {
  const session = useSession();
  const canPredict = session.can('predict', name);
  const canLogs = session.can('deploy', name);
  const view = useApi<DeploymentView>(`/v1/deployments/${path(name)}`, { mark: 'playground-deployment' });
  const d = view.data;
  const model = d?.deployment.model ?? null;
  const served = d?.servedVersion ?? null;
  const version = useApi<VersionRecord>(model !== null && served !== null ? `/v1/models/${path(model)}/versions/${served}` : null, { mark: 'playground' });
  const v = version.data;
  const hasReference = v !== null && v.reference !== null;
  const reference = useApi<ReferenceView>(hasReference ? `/v1/models/${path(v.model)}/versions/${v.version}/reference` : null, { mark: 'playground-reference' });
  const requests = useApi<RequestLog>(canLogs ? `/v1/deployments/${path(name)}/requests?limit=20` : null, { mark: 'playground-requests' });

  const referenceSettled = v !== null && (!hasReference || reference.data !== null || reference.error !== null);
  const requestsSettled = !canLogs || requests.data !== null || requests.error !== null;
  const plan = useMemo<FormPlan | null>(() => (v && referenceSettled ? planForm(v.signature.inputs, reference.data) : null), [v, referenceSettled, reference.data]);
  const card = (v?.card ?? null) as CardView | null;
  const classNames = card?.classes ? card.classes.labels.map((l, i) => card.classes?.names?.[i] ?? String(l)) : [];

  // the form: text as typed, per field
  const [values, setValues] = useState<Record<string, string> | null>(null);
  const [initial, setInitial] = useState<{ values: Record<string, string>; note: string } | null>(null);
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [mode, setMode] = useState<'form' | 'json'>('form');
  const [jsonText, setJsonText] = useState('');
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const [picked, setPicked] = useState<LoggedRequest | null>(null);

  // the answers
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [predictError, setPredictError] = useState<Error | null>(null);
  const [explained, setExplained] = useState<Explained | null>(null);
  const [explainError, setExplainError] = useState<Error | null>(null);
  const [explaining, setExplaining] = useState(false);
  const [method, setMethod] = useState<Method>('auto');
  const [cls, setCls] = useState('');
  const [top, setTop] = useState(10);
  const explainSeq = useRef(0);
  const formRef = useRef<HTMLFormElement>(null);
  const outputRef = useRef<HTMLDivElement>(null);

  // fill the form once: the reference's medians and most frequent categories, else the newest logged request, else the valid ranges
  useEffect(() => {
    if (values !== null || plan === null || !requestsSettled) return;
    const start = startingValues(plan, requests.data?.requests ?? []);
    setValues(start.values);
    setInitial(start);
    if (plan.kind === 'json') setMode('json');
    setJsonText(JSON.stringify(plan.kind === 'json' ? plan.template : looseRow(plan, start.values), null, 2));
  }, [values, plan, requestsSettled, requests.data]);

  const states = useMemo(() => {
    const out: Record<string, FieldState> = {};
    if (!plan || !values) return out;
    for (const f of plan.fields) {
      const p = parseField(f, values[f.key] ?? '');
      out[f.key] = { error: clientErrors[f.key], serverError: serverErrors[f.key], warning: p.ok ? rangeWarning(f, p.value) : null };
    }
    return out;
  }, [plan, values, clientErrors, serverErrors]);

  const change = useCallback((key: string, text: string) => {
    setValues((vs) => ({ ...(vs ?? {}), [key]: text }));
    setClientErrors((e) => without(e, key));
    setServerErrors((e) => without(e, key));
  }, []);

  const setAll = (next: Record<string, string>): void => {
    setValues(next);
    setClientErrors({});
    setServerErrors({});
  };

  /** The request body of what the form (or the JSON editor) holds now, or the problems that stop it. */
  const currentBody = (): { body: Body } | { errors: Record<string, string> } | { json: string } => {
    if (!plan || !values) return { errors: {} };
    if (mode === 'json') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(jsonText);
      } catch (err) {
        return { json: `This is not JSON: ${(err as Error).message}` };
      }
      if (plan.kind === 'rows') {
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { json: 'Expected one row: a JSON object of feature → value.' };
        return { body: { rows: [parsed as Record<string, unknown>] } };
      }
      return { body: { instances: [parsed] } };
    }
    const errors: Record<string, string> = {};
    const row: Record<string, FeatureValue> = {};
    for (const f of plan.fields) {
      const p = parseField(f, values[f.key] ?? '');
      if (p.ok) row[f.key] = p.value;
      else errors[f.key] = p.message;
    }
    if (Object.keys(errors).length > 0) return { errors };
    return plan.kind === 'rows' ? { body: { rows: [row] } } : { body: { instances: [plan.fields.map((f) => row[f.key])] } };
  };

  const explain = useCallback(
    async (body: Body, opts: { method: Method; cls: string }) => {
      const seq = ++explainSeq.current;
      setExplaining(true);
      setExplained(null);
      setExplainError(null);
      try {
        const res = await api<ExplainResult | ExplainQueued>(`/v1/deployments/${path(name)}/explain`, {
          method: 'POST',
          body: { ...body, method: opts.method, ...(opts.cls !== '' ? { class: opts.cls } : {}) },
        });
        if (seq !== explainSeq.current) return;
        performance.mark('berth:data:playground-explain');
        setExplained('job' in res ? { kind: 'queued', queued: res } : { kind: 'done', result: res });
        requestAnimationFrame(() => setTimeout(() => performance.mark('berth:render:playground-explain'), 0));
      } catch (err) {
        if (seq !== explainSeq.current) return;
        setExplained(null);
        setExplainError(err as Error);
      } finally {
        if (seq === explainSeq.current) setExplaining(false);
      }
    },
    [name],
  );

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (!plan || busy || !canPredict) return;
    const b = currentBody();
    if ('json' in b) {
      setJsonError(b.json);
      return;
    }
    if ('errors' in b) {
      setClientErrors(b.errors);
      const first = plan.fields.find((f) => b.errors[f.key] !== undefined);
      if (first) document.getElementById(idOf(plan, first))?.focus();
      return;
    }
    setJsonError(null);
    setClientErrors({});
    setServerErrors({});
    setPredictError(null);
    setBusy(true);
    const t0 = performance.now();
    try {
      const result = await api<PredictResult>(`/v1/deployments/${path(name)}/predict`, { method: 'POST', body: b.body });
      const ms = performance.now() - t0;
      performance.mark('berth:data:playground-predict');
      setOutcome({ body: b.body, key: JSON.stringify(b.body), result, ms, at: new Date().toISOString() });
      requestAnimationFrame(() =>
        setTimeout(() => {
          performance.mark('berth:render:playground-predict');
          // on a narrow screen the answer is below the form: bring it into view
          const out = outputRef.current;
          if (out && window.matchMedia('(max-width: 980px)').matches && out.getBoundingClientRect().top > window.innerHeight * 0.5) out.scrollIntoView({ block: 'start', behavior: 'smooth' });
        }, 0),
      );
      if (canLogs) requests.reload();
      void explain(b.body, { method, cls });
    } catch (err) {
      setPredictError(err as Error);
      const key = err instanceof ApiError ? fieldOfError(err, plan) : null;
      if (key !== null && err instanceof ApiError) {
        setServerErrors({ [key]: err.message });
        const f = plan.fields.find((x) => x.key === key);
        if (mode === 'form' && f) document.getElementById(idOf(plan, f))?.focus();
      }
    } finally {
      setBusy(false);
    }
  };

  const reExplain = (next: { method?: Method; cls?: string }): void => {
    const m = next.method ?? method;
    const c = next.cls ?? cls;
    if (next.method !== undefined) setMethod(m);
    if (next.cls !== undefined) setCls(c);
    if (outcome) void explain(outcome.body, { method: m, cls: c });
  };

  const toJson = (): void => {
    if (!plan || !values) return;
    setJsonText(JSON.stringify(plan.kind === 'rows' ? looseRow(plan, values) : plan.fields.map((f) => loose(parseField(f, values[f.key] ?? ''), values[f.key] ?? '')), null, 2));
    setJsonError(null);
    setMode('json');
  };

  const toForm = (): void => {
    if (!plan) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(jsonText);
    } catch (err) {
      setJsonError(`This is not JSON, so it cannot fill the form: ${(err as Error).message}`);
      return;
    }
    const next: Record<string, string> = { ...(values ?? {}) };
    if (plan.kind === 'rows' && typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const row = parsed as Record<string, unknown>;
      for (const f of plan.fields) if (Object.hasOwn(row, f.key)) next[f.key] = jsonText_(f.allowMissing, row[f.key]);
    } else if (plan.kind === 'instances' && Array.isArray(parsed)) {
      plan.fields.forEach((f, i) => {
        next[f.key] = jsonText_(f.allowMissing, (parsed as unknown[])[i]);
      });
    } else {
      setJsonError(plan.kind === 'rows' ? 'Expected one row: a JSON object of feature → value.' : 'Expected an array of the values in order.');
      return;
    }
    setValues(next);
    setClientErrors({});
    setJsonError(null);
    setMode('form');
  };

  const pick = (r: LoggedRequest): void => {
    if (!plan) return;
    const row = r.rows[0];
    if (!row) return;
    setPicked(r);
    if (plan.kind === 'rows') {
      const next: Record<string, string> = {};
      for (const f of plan.fields) next[f.key] = fieldText(f, row.features[f.key]);
      setAll(next);
      setMode('form');
      if (plan.fields[0]) document.getElementById(idOf(plan, plan.fields[0]))?.focus();
    } else {
      setJsonText(JSON.stringify(row.features, null, 2));
      setMode('json');
    }
  };

  const randomize = (): void => {
    if (!plan || !values) return;
    const next = { ...values };
    for (const f of plan.fields) {
      const t = randomText(f);
      if (t !== null) next[f.key] = t;
    }
    setAll(next);
    setPicked(null);
  };

  // whether the answers shown are still those of what the form holds
  const now = plan && values ? currentBody() : null;
  const stale = outcome !== null && now !== null && 'body' in now && JSON.stringify(now.body) !== outcome.key;
  const prediction = outcome?.result.predictions[0];
  const explanation = explained?.kind === 'done' ? explained.result.explanations[0] : undefined;

  return (
    <section aria-labelledby="playground-title" className="playground">
      <DetailHead section="Deployments" sectionHref={href('deployments')} name={name} titleId="playground-title">
        {d && served !== null ? <Badge tone="info">{`${d.deployment.model} v${served}`}</Badge> : null}
      </DetailHead>
      <DeploymentTabs name={name} current="playground" />
      {view.error ? <ErrorBox error={view.error} onRetry={view.reload} /> : null}
      {view.loading && !d ? <Loading what="the deployment" /> : null}
      {d && served === null ? <ErrorBox error={new Error(`${name} serves nothing now: ${d.problem ?? 'its target resolves to no version'}`)} /> : null}
      {version.error ? <ErrorBox error={version.error} onRetry={version.reload} /> : null}
      {d && served !== null && !plan && !version.error ? <Loading what="the model's signature and card" /> : null}
      {plan && values ? (
        <div className="pg-layout">
          <div className="pg-input">
            <form ref={formRef} onSubmit={(e) => void submit(e)} noValidate aria-labelledby="pg-form-title" data-testid="playground-form">
              <div className="pg-form-head">
                <h2 id="pg-form-title">Input</h2>
                <div className="actions">
                  {plan.kind !== 'json' ? (
                    <button type="button" aria-pressed={mode === 'json'} onClick={mode === 'json' ? toForm : toJson}>
                      {mode === 'json' ? 'Edit as form' : 'Edit as JSON'}
                    </button>
                  ) : null}
                  {mode === 'form' ? (
                    <>
                      <button type="button" onClick={() => { if (initial) setAll(initial.values); setPicked(null); }}>
                        Reset
                      </button>
                      <button type="button" onClick={randomize} disabled={!plan.fields.some(hasRange)} title={plan.fields.some(hasRange) ? 'Draw each value the way the training data is spread' : 'No ranges are known: attach reference data to the version'}>
                        Random within range
                      </button>
                    </>
                  ) : null}
                </div>
              </div>
              <p className="muted small" data-testid="prefill-note">
                {plan.kind === 'json' ? `Send JSON: ${plan.why ?? ''}.` : mode === 'json' ? jsonHelp(plan) : picked ? `Holding the values of request ${picked.requestId} (${new Date(picked.at).toLocaleString()}).` : initial?.note}
              </p>
              {mode === 'form' ? (
                <>
                  {plan.fields.length >= FILTER_FROM ? (
                    <input type="search" className="pg-filter" placeholder={`Find one of ${plan.fields.length} features`} aria-label="Find a feature" value={filter} onChange={(e) => setFilter(e.target.value)} />
                  ) : null}
                  <FeatureFields plan={plan} values={values} states={states} filter={filter} onChange={change} />
                </>
              ) : (
                <div className="pg-json">
                  <label htmlFor="pg-json">{plan.kind === 'rows' ? 'Row as JSON' : 'Instance as JSON'}</label>
                  <textarea
                    id="pg-json"
                    value={jsonText}
                    spellCheck={false}
                    aria-invalid={jsonError !== null || (predictError !== null && mode === 'json') ? true : undefined}
                    aria-describedby="pg-json-help"
                    onChange={(e) => { setJsonText(e.target.value); setJsonError(null); }}
                    onKeyDown={(e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); formRef.current?.requestSubmit(); } }}
                  />
                  <span id="pg-json-help" className="pg-hint">Ctrl+Enter sends it. The server checks it, as it checks any request.</span>
                  {jsonError ? <p className="pg-err" role="alert">{jsonError}</p> : null}
                </div>
              )}
              {Object.keys(clientErrors).length > 0 ? (
                <p className="pg-err" role="alert" data-testid="form-errors">
                  {errorSummary(clientErrors)} Nothing was sent.
                </p>
              ) : null}
              {predictError ? (
                <div data-testid="predict-error">
                  <ErrorBox error={predictError} />
                </div>
              ) : null}
              <div className="pg-submit">
                {canPredict ? (
                  <button type="submit" className="primary" disabled={busy}>
                    {busy ? 'Predicting…' : 'Predict'}
                  </button>
                ) : (
                  <p className="muted small" data-testid="no-predict">
                    Your token cannot call this deployment (it needs predict:{name}), so the form cannot be sent.
                  </p>
                )}
                {stale ? <span className="muted small">The input changed since the answer shown.</span> : null}
              </div>
            </form>
          </div>
          <div className="pg-output" ref={outputRef}>
            <p className="sr-only" role="status">
              {statusText(busy, outcome, prediction, predictError, explaining, explained)}
            </p>
            {picked ? <AtTheTime r={picked} /> : null}
            {outcome && prediction ? (
              <article className="panel" data-testid="prediction" aria-labelledby="pg-prediction-title">
                <h2 id="pg-prediction-title">Prediction</h2>
                <PredictionView p={prediction} />
                <dl className="facts small">
                  <dt>answered by</dt>
                  <dd data-testid="answered-by">
                    {outcome.result.model} version {outcome.result.version}
                    {served !== null && outcome.result.version !== served ? <span className="muted"> (the form follows version {served}, which the deployment serves)</span> : null}
                  </dd>
                  <dt>latency</dt>
                  <dd data-testid="latency">{outcome.ms.toFixed(1)} ms, round trip from this browser</dd>
                  <dt>request id</dt>
                  <dd>
                    <code className="wrap-anywhere">{outcome.result.request_id}</code>
                  </dd>
                </dl>
              </article>
            ) : (
              <Empty>{canPredict ? 'Fill the form and press Predict (or Enter) to see what the model answers, and why.' : 'Predictions need the predict scope.'}</Empty>
            )}
            {outcome ? (
              <article className="panel" data-testid="explanation" aria-labelledby="pg-explanation-title" aria-busy={explaining}>
                <h2 id="pg-explanation-title">Why</h2>
                <div className="pg-explain-options">
                  <label>
                    method{' '}
                    <select value={method} title="auto: exact TreeSHAP for a tree ensemble, else Kernel SHAP (docs/explain.md)" onChange={(e) => reExplain({ method: e.target.value as Method })}>
                      {METHODS.map((m) => (
                        <option key={m.value} value={m.value}>
                          {m.label}
                        </option>
                      ))}
                    </select>
                  </label>
                  {classNames.length > 0 ? (
                    <label>
                      class{' '}
                      <select value={cls} onChange={(e) => reExplain({ cls: e.target.value })}>
                        <option value="">the predicted one</option>
                        {classNames.map((c) => (
                          <option key={c} value={c}>
                            {c}
                          </option>
                        ))}
                      </select>
                    </label>
                  ) : null}
                  <label>
                    show{' '}
                    <select value={top} onChange={(e) => setTop(Number(e.target.value))}>
                      {TOPS.map((t) => (
                        <option key={t} value={t}>
                          {t === 0 ? 'every feature' : `the top ${t}`}
                        </option>
                      ))}
                    </select>
                  </label>
                </div>
                {explaining ? <Loading what="the explanation" /> : null}
                {explainError ? <ErrorBox error={explainError} onRetry={() => reExplain({})} /> : null}
                {explained?.kind === 'queued' ? (
                  <p data-testid="explain-queued">
                    {explained.queued.message}. Its result: <code>berth explain {name} --job {explained.queued.job.id}</code>
                  </p>
                ) : null}
                {explained?.kind === 'done' && explanation ? (
                  <>
                    <ContributionChart
                      title={explanation.class !== null ? `Contributions to ${explanation.class}` : 'Contributions'}
                      contributions={explanation.contributions}
                      baseValue={explanation.base_value}
                      prediction={explanation.prediction}
                      top={top === 0 ? explanation.contributions.length : top}
                      unitNote={spaceNote(explained.result, explanation.class)}
                    />
                    <dl className="facts small" data-testid="explanation-facts">
                      <dt>method</dt>
                      <dd data-testid="explanation-method">
                        {explained.result.method}
                        {explained.result.exact ? ' (exact)' : ' (estimated)'}
                        {explained.result.cached > 0 ? ', from the cache' : ''}
                      </dd>
                      {explanation.output !== explanation.prediction ? (
                        <>
                          <dt>model output</dt>
                          <dd>
                            {Number(explanation.output.toPrecision(6))} ({explained.result.output}); the contributions are in {explained.result.space} space
                          </dd>
                        </>
                      ) : null}
                      <dt>background</dt>
                      <dd>
                        {explained.result.background.rows} rows ({explained.result.background.method}, from the {explained.result.background.source})
                      </dd>
                      <dt>cost</dt>
                      <dd>
                        {explained.result.evaluations.toLocaleString()} model evaluations, {explained.result.milliseconds.toFixed(1)} ms on the server
                      </dd>
                      {explanation.fidelity !== undefined ? (
                        <>
                          <dt>fidelity</dt>
                          <dd>R² {explanation.fidelity.toFixed(3)} of the local model</dd>
                        </>
                      ) : null}
                    </dl>
                  </>
                ) : null}
              </article>
            ) : null}
          </div>
          <div className="pg-logs">
            <LoggedRequests name={name} canLogs={canLogs} log={requests} onPick={pick} picked={picked} />
          </div>
        </div>
      ) : null}
    </section>
  );
}

/** The prediction: the label and a bar per class probability, or the value(s) of a regression. */
function PredictionView({ p }: { p: PredictResult['predictions'][number] }): JSX.Element {
  const probs = p.probabilities ? Object.entries(p.probabilities) : [];
  return (
    <>
      {p.label !== undefined ? (
        <p className="pg-label">
          <span className="muted small">label </span>
          <strong data-testid="prediction-label">{String(p.label)}</strong>
        </p>
      ) : null}
      {probs.length > 0 ? (
        <table className="bars pg-proba" data-testid="probabilities">
          <caption className="sr-only">probability of each class</caption>
          <tbody>
            {probs.map(([c, x]) => (
              <tr key={c} data-class={c} data-value={String(x)} aria-current={c === String(p.label) ? 'true' : undefined}>
                <th scope="row" className="wrap-anywhere">
                  {c}
                </th>
                <td className="bar-cell">
                  <span className="bar" style={{ width: `${Math.max(0, Math.min(1, x)) * 100}%` }} />
                </td>
                <td className="num">{x.toFixed(4)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {p.value !== undefined ? (
        <p className="pg-label">
          <span className="muted small">value </span>
          <strong data-testid="prediction-value" data-value={JSON.stringify(p.value)}>
            {Array.isArray(p.value) ? p.value.map((x) => Number(x.toPrecision(6))).join(', ') : Number(p.value.toPrecision(6))}
          </strong>
        </p>
      ) : null}
      {Array.isArray(p.scores) ? <p className="small">scores: {(p.scores as number[]).map((x) => Number(x.toPrecision(4))).join(', ')}</p> : null}
      {p.outputs !== undefined ? <pre className="pg-raw small">{JSON.stringify(p.outputs, null, 2)}</pre> : null}
    </>
  );
}

/** What a picked logged request got when it was answered. */
function AtTheTime({ r }: { r: LoggedRequest }): JSX.Element {
  const p = r.rows[0]?.prediction ?? {};
  return (
    <article className="panel pg-then" data-testid="picked-request" aria-label="the picked request">
      <h2 className="small-head">
        Request <code className="wrap-anywhere">{r.requestId}</code>
      </h2>
      <p className="small">
        <When iso={r.at} />, version {r.version}, {r.status === 'OK' ? 'answered' : `refused (${r.status})`}
        {r.rows.length > 1 ? `; the form holds the first of its ${r.rows.length} rows` : ''}. It got:
      </p>
      <dl className="facts small">
        {Object.entries(p).map(([k, x]) => (
          <PredictionFact key={k} k={k} x={x} />
        ))}
      </dl>
    </article>
  );
}

function PredictionFact({ k, x }: { k: string; x: number | string | null }): JSX.Element {
  return (
    <>
      <dt>{k}</dt>
      <dd>{x === null ? '—' : typeof x === 'number' ? Number(x.toPrecision(4)) : x}</dd>
    </>
  );
}

/** The deployment's newest logged requests, each of which can fill the form. */
function LoggedRequests({ name, canLogs, log, onPick, picked }: { name: string; canLogs: boolean; log: { data: RequestLog | null; error: Error | null; loading: boolean; reload(): void }; onPick: (r: LoggedRequest) => void; picked: LoggedRequest | null }): JSX.Element {
  return (
    <section className="pg-logged" aria-labelledby="pg-logged-title">
      <div className="pg-form-head">
        <h2 id="pg-logged-title">Logged requests</h2>
        {canLogs ? (
          <button type="button" onClick={log.reload} disabled={log.loading}>
            Refresh
          </button>
        ) : null}
      </div>
      {!canLogs ? <p className="muted small">Logged requests hold their feature values, so reading them needs deploy:{name}.</p> : null}
      {log.error ? <ErrorBox error={log.error} onRetry={log.reload} /> : null}
      {canLogs && log.loading && !log.data ? <Loading what="the logged requests" /> : null}
      {log.data && log.data.requests.length === 0 ? <p className="muted small">No requests logged yet (or the inference log is off).</p> : null}
      {log.data && log.data.requests.length > 0 ? (
        <div className="table-wrap">
          <table className="table compact" data-testid="logged-requests">
            <thead>
              <tr>
                <th scope="col">when</th>
                <th scope="col">version</th>
                <th scope="col">answer</th>
                <th scope="col">
                  <span className="sr-only">fill the form</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {log.data.requests.map((r) => (
                <tr key={r.requestId} data-request-id={r.requestId} aria-current={picked?.requestId === r.requestId ? 'true' : undefined}>
                  <td>
                    <Moment iso={r.at} />
                  </td>
                  <td>v{r.version}</td>
                  <td className="wrap-anywhere">{r.status === 'OK' ? answerText(r) : <Badge tone="bad">{r.status}</Badge>}</td>
                  <td>
                    <button type="button" onClick={() => onPick(r)} disabled={r.rows.length === 0} aria-label={`Use request ${r.requestId}`} title={`Fill the form with request ${r.requestId}'s values`}>
                      Use
                    </button>
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

/** A recent moment: the time to the second, with the date when it is not today. */
function Moment({ iso }: { iso: string }): JSX.Element {
  const t = new Date(iso);
  const today = t.toDateString() === new Date().toDateString();
  return (
    <time dateTime={iso} title={iso}>
      {today ? t.toLocaleTimeString() : t.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' })}
    </time>
  );
}

function answerText(r: LoggedRequest): string {
  const p = r.rows[0]?.prediction ?? {};
  const main = p['prediction'];
  const text = main === undefined || main === null ? Object.entries(p).slice(0, 2).map(([k, x]) => `${k} ${x === null ? '—' : typeof x === 'number' ? Number(x.toPrecision(4)) : x}`).join(', ') : typeof main === 'number' ? String(Number(main.toPrecision(4))) : main;
  return r.rows.length > 1 ? `${text} (+${r.rows.length - 1} rows)` : text;
}

// ---------------------------------------------------------------------------------------------

/** The form's first values, and a sentence saying where they came from. */
function startingValues(plan: FormPlan, logged: LoggedRequest[]): { values: Record<string, string>; note: string } {
  const values: Record<string, string> = {};
  const newest = logged.find((r) => r.status === 'OK' && r.rows.length > 0)?.rows[0]?.features;
  let fromReference = 0;
  let fromLog = 0;
  let empty = 0;
  for (const f of plan.fields) {
    const d = f.training || (f.frequent && f.kind !== 'text') ? defaultText(f) : null;
    if (d !== null) {
      values[f.key] = d;
      fromReference++;
      continue;
    }
    const seen = newest?.[f.key];
    if (plan.kind === 'rows' && seen !== undefined && seen !== null) {
      values[f.key] = fieldText(f, seen);
      fromLog++;
      continue;
    }
    const fallback = defaultText(f);
    values[f.key] = fallback ?? '';
    if (fallback === null) empty++;
  }
  const n = plan.fields.length;
  if (empty === n) return { values, note: 'Enter the values: this version has no reference data to start from (berth models profile attaches it), and no request has been logged.' };
  const parts: string[] = [];
  if (fromReference > 0) parts.push(`${fromReference === n ? 'every field' : `${fromReference} fields`} from the training data's median or most frequent value`);
  if (fromLog > 0) parts.push(`${fromLog === n ? 'every field' : `${fromLog}`} from the newest logged request`);
  if (empty > 0) parts.push(`${empty} left empty (nothing to start from)`);
  const note = parts.length > 0 ? `Started with ${parts.join('; ')}.` : 'Started with the first choice or the middle of the valid range.';
  return { values, note };
}

/** The row the form holds, values parsed where they parse and left as typed where they do not (for the JSON editor). */
function looseRow(plan: FormPlan, values: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(plan.fields.map((f) => [f.key, loose(parseField(f, values[f.key] ?? ''), values[f.key] ?? '')]));
}

function loose(p: ReturnType<typeof parseField>, raw: string): unknown {
  return p.ok ? p.value : raw;
}

/** A JSON value as the form's text for it. */
function jsonText_(allowMissing: boolean, x: unknown): string {
  if (x === null) return allowMissing ? 'null' : '';
  if (x === undefined) return '';
  return typeof x === 'string' ? x : JSON.stringify(x);
}

/** The form field a 400 names (`rows[0].age` → `age`), if it is one of the form's. */
function fieldOfError(err: ApiError, plan: FormPlan): string | null {
  const f = err.field;
  if (!f) return null;
  const keys = new Set(plan.fields.map((x) => x.key));
  const row = /^rows\[\d+\]\.(.+)$/.exec(f);
  if (row && keys.has(row[1]!)) return row[1]!;
  const inst = /^instances\[\d+\]\[(\d+)\]$/.exec(f);
  if (inst && plan.kind === 'instances') return plan.fields[Number(inst[1])]?.key ?? null;
  return keys.has(f) ? f : null;
}

/** What a screen reader hears when an answer comes (the panels themselves are not live: they are long). */
function statusText(busy: boolean, outcome: Outcome | null, p: PredictResult['predictions'][number] | undefined, error: Error | null, explaining: boolean, explained: Explained | null): string {
  if (busy) return 'Predicting…';
  if (error) return `Refused: ${error.message}`;
  if (!outcome || !p) return '';
  const what = p.label !== undefined ? `label ${String(p.label)}` : p.value !== undefined ? `value ${Array.isArray(p.value) ? p.value.join(', ') : p.value}` : 'an answer';
  const why = explaining ? '; explaining…' : explained?.kind === 'done' ? `; explained, largest contribution from ${explained.result.explanations[0]?.contributions[0]?.feature ?? 'no feature'}` : '';
  return `Version ${outcome.result.version} answered ${what} in ${outcome.ms.toFixed(0)} ms${why}.`;
}

/** One sentence for the fields the page refused. */
function errorSummary(errors: Record<string, string>): string {
  const keys = Object.keys(errors);
  if (keys.length === 1) return `Fix ${keys[0]}: ${errors[keys[0]!]}`;
  const named = keys.slice(0, 5).join(', ');
  return `Fix ${keys.length} fields: ${named}${keys.length > 5 ? ` and ${keys.length - 5} more` : ''}.`;
}

function jsonHelp(plan: FormPlan): string {
  return plan.kind === 'rows' ? 'One row: an object with every feature the card names, nothing else (null is a missing number).' : 'The values of the input in order, flat or nested.';
}

function spaceNote(r: ExplainResult, cls: string | null): string {
  const of = cls !== null ? ` of ${cls}` : '';
  switch (r.space) {
    case 'margin':
      return `in the trees' margin (log-odds)${of}`;
    case 'log-odds':
    case 'logit':
      return `in log-odds${of}`;
    case 'probability':
      return `in probability${of}`;
    case 'value':
      return 'in units of the prediction';
    default:
      return `in ${r.space} space${of}`;
  }
}

function without(o: Record<string, string>, key: string): Record<string, string> {
  if (!(key in o)) return o;
  const { [key]: _, ...rest } = o;
  return rest;
}

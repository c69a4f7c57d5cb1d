import type { JSX, ReactNode } from 'react';
import { useEffect, useMemo, useState } from 'react';
import type { ModelRecord, SignatureTensor, VersionList, VersionRecord } from '../../../sdk/types.js';
import { ApiError, path } from '../api.js';
import { Badge, Empty, ErrorBox, formatBytes, formatNumber, Loading, Tags, When } from '../components/common.js';
import { HistogramOverlay, type OverlaySeries } from '../components/histogram-overlay.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';
import './compare.css';

interface CardView {
  title?: string;
  task?: string;
  metrics?: Record<string, number | string>;
}

interface ReferenceRecordView {
  fileName: string;
  rows: number;
}

/** `GET /v1/models/{name}/versions/{version}/reference`: the version's reference profile as histograms. */
interface ReferenceView {
  model: string;
  version: number;
  rows: number;
  source: string | null;
  createdAt: string;
  columns: ReferenceColumn[];
}

interface Histogram {
  labels: string[];
  /** equal-width bins: labels.length + 1 edges; empty for categories or a small set of values */
  edges?: number[];
  shares: number[];
}

type ReferenceColumn =
  | {
      name: string;
      kind: 'numeric';
      role: 'feature' | 'prediction';
      count: number;
      missing: number;
      min: number | null;
      max: number | null;
      mean: number | null;
      std: number | null;
      /** the bins are the column's few distinct values */
      discrete?: boolean;
      histogram: Histogram;
      /** quantiles x at q = 0, 0.02, …, 1 */
      cdf: { q: number[]; x: number[] };
    }
  | { name: string; kind: 'categorical'; role: 'feature' | 'prediction'; count: number; missing: number; distinct: number | null; histogram: Histogram };

/** Two versions of a model side by side: facts, the card's metrics with their difference, the signature's changes and the reference data's distributions. */
export function VersionCompare({ name, a, b }: { name: string; a: number | null; b: number | null }): JSX.Element {
  const versions = useApi<VersionList>(`/v1/models/${path(name)}/versions`, { mark: 'compare' });
  const model = useApi<ModelRecord>(`/v1/models/${path(name)}`);
  const list = versions.data?.versions ?? [];
  const va = list.find((v) => v.version === a) ?? null;
  const vb = list.find((v) => v.version === b) ?? null;

  // without two versions named: the newest against the one before it
  useEffect(() => {
    if (!versions.data || list.length < 2) return;
    const has = (n: number | null): boolean => n !== null && list.some((v) => v.version === n);
    if (has(a) && has(b)) return;
    const sorted = list.map((v) => v.version).sort((x, y) => x - y);
    const nb = has(b) ? b! : sorted[sorted.length - 1]!;
    const na = has(a) ? a! : (sorted.filter((v) => v !== nb).pop() ?? sorted[0]!);
    window.location.replace(compareHref(name, na, nb));
  }, [versions.data, list, a, b, name]);

  return (
    <section aria-labelledby="compare-title" className="compare-page">
      <nav className="crumbs" aria-label="breadcrumb">
        <a href={href('models')}>Models</a> / <a href={href('models', name)}>{name}</a> / <span>compare</span>
      </nav>
      <header className="page-head">
        <h1 id="compare-title" className="wrap-anywhere">
          Compare {name}
        </h1>
      </header>
      {versions.error ? <ErrorBox error={versions.error} onRetry={versions.reload} /> : null}
      {versions.loading && !versions.data ? <Loading what="versions" /> : null}
      {versions.data && list.length < 2 ? (
        <Empty>
          {name} has {list.length === 0 ? 'no versions' : 'one version'}: there is nothing to compare yet. Register another with{' '}
          <code>berth models register model.onnx --name {name}</code>, then come back.
        </Empty>
      ) : null}
      {list.length >= 2 ? <Picker name={name} list={list} a={a} b={b} /> : null}
      {versions.data && list.length >= 2 && a !== null && b !== null && (!va || !vb) ? (
        <ErrorBox error={new Error(`${name} has no version ${!va ? a : b}; pick one above`)} />
      ) : null}
      {va && vb ? <Comparison name={name} a={va} b={vb} aliases={model.data?.aliases ?? {}} /> : null}
    </section>
  );
}

function compareHref(name: string, a: number, b: number): string {
  return `${href('models', name, 'compare')}?a=${a}&b=${b}`;
}

function Picker({ name, list, a, b }: { name: string; list: VersionRecord[]; a: number | null; b: number | null }): JSX.Element {
  const newest = [...list].sort((x, y) => y.version - x.version);
  const go = (na: number | null, nb: number | null): void => {
    if (na !== null && nb !== null) window.location.assign(compareHref(name, na, nb));
  };
  const options = newest.map((v) => (
    <option key={v.version} value={v.version}>
      version {v.version}
      {v.tags['stage'] ? ` (${v.tags['stage']})` : ''}
    </option>
  ));
  return (
    <form className="compare-picker" aria-label="versions to compare" onSubmit={(e) => e.preventDefault()}>
      <label>
        <span className="swatch swatch-a" aria-hidden="true" /> Version
        <select aria-label="first version" value={a ?? ''} onChange={(e) => go(Number(e.target.value), b)}>
          {options}
        </select>
      </label>
      <button type="button" onClick={() => go(b, a)} aria-label="swap the two versions" title="swap">
        ⇄
      </button>
      <label>
        <span className="swatch swatch-b" aria-hidden="true" /> Version
        <select aria-label="second version" value={b ?? ''} onChange={(e) => go(a, Number(e.target.value))}>
          {options}
        </select>
      </label>
    </form>
  );
}

function Comparison({ name, a, b, aliases }: { name: string; a: VersionRecord; b: VersionRecord; aliases: Record<string, number> }): JSX.Element {
  const A = `version ${a.version}`;
  const B = `version ${b.version}`;
  const cardA = (a.card ?? {}) as CardView;
  const cardB = (b.card ?? {}) as CardView;
  const aliasesOf = (v: number): string[] => Object.entries(aliases).filter(([, n]) => n === v).map(([k]) => k);
  const refA = a.reference as ReferenceRecordView | null;
  const refB = b.reference as ReferenceRecordView | null;
  return (
    <>
      {a.version === b.version ? <p className="muted">Both sides are the same version: pick another above.</p> : null}
      <h2>Facts</h2>
      <div className="table-wrap" tabIndex={0} role="region" aria-label="facts of both versions">
        <table className="table compact compare-facts" data-testid="compare-facts">
          <thead>
            <tr>
              <th scope="col" />
              <th scope="col">
                <a href={href('models', name, 'versions', a.version)}>{A}</a>
              </th>
              <th scope="col">
                <a href={href('models', name, 'versions', b.version)}>{B}</a>
              </th>
            </tr>
          </thead>
          <tbody>
            <FactRow label="registered" a={<When iso={a.createdAt} />} b={<When iso={b.createdAt} />} />
            <FactRow label="by" a={a.createdBy} b={b.createdBy} wrap />
            <FactRow label="size" a={formatBytes(a.sizeBytes)} b={`${formatBytes(b.sizeBytes)}${a.sizeBytes > 0 ? ` (${signed(((b.sizeBytes - a.sizeBytes) / a.sizeBytes) * 100, 1)}%)` : ''}`} />
            <FactRow
              label="sha256"
              a={<code title={a.sha256}>{a.sha256.slice(0, 12)}</code>}
              b={
                <>
                  <code title={b.sha256}>{b.sha256.slice(0, 12)}</code> {a.sha256 === b.sha256 ? <Badge tone="warn">same file</Badge> : null}
                </>
              }
            />
            <FactRow label="task" a={cardA.task ?? '—'} b={cardB.task ?? '—'} differs={cardA.task !== cardB.task} />
            <FactRow label="title" a={cardA.title ?? '—'} b={cardB.title ?? '—'} differs={cardA.title !== cardB.title} wrap />
            <FactRow label="aliases" a={<BadgeList names={aliasesOf(a.version)} />} b={<BadgeList names={aliasesOf(b.version)} />} />
            <FactRow label="tags" a={Object.keys(a.tags).length > 0 ? <Tags tags={a.tags} /> : '—'} b={Object.keys(b.tags).length > 0 ? <Tags tags={b.tags} /> : '—'} differs={JSON.stringify(a.tags) !== JSON.stringify(b.tags)} />
            <FactRow label="description" a={a.description ?? '—'} b={b.description ?? '—'} differs={a.description !== b.description} wrap />
            <FactRow label="reference data" a={refA ? `${refA.fileName}, ${refA.rows.toLocaleString()} rows` : 'none'} b={refB ? `${refB.fileName}, ${refB.rows.toLocaleString()} rows` : 'none'} wrap />
            <FactRow label="source" a={a.sourcePath} b={b.sourcePath} wrap />
          </tbody>
        </table>
      </div>
      <Metrics A={A} B={B} a={cardA.metrics ?? {}} b={cardB.metrics ?? {}} />
      <SignatureDiff A={A} B={B} a={a} b={b} />
      <ReferenceCompare name={name} a={a.version} b={b.version} />
    </>
  );
}

function FactRow({ label, a, b, differs = false, wrap = false }: { label: string; a: ReactNode; b: ReactNode; differs?: boolean; wrap?: boolean }): JSX.Element {
  const cls = `${wrap ? 'wrap-anywhere ' : ''}${differs ? 'diff-changed' : ''}`.trim() || undefined;
  return (
    <tr>
      <th scope="row">{label}</th>
      <td className={cls}>{a}</td>
      <td className={cls}>{b}</td>
    </tr>
  );
}

function BadgeList({ names }: { names: string[] }): JSX.Element {
  if (names.length === 0) return <span className="muted">—</span>;
  return (
    <>
      {names.map((n) => (
        <Badge key={n} tone={n === 'production' ? 'good' : 'info'}>
          {n}
        </Badge>
      ))}
    </>
  );
}

// ---------------------------------------------------------------------------------------------
// metrics

const HIGHER_IS_BETTER = /(^|_)(accuracy|acc|auc|roc_auc|pr_auc|average_precision|ap|f1|precision|recall|r2|map|ndcg|specificity|sensitivity|kappa|mcc)$/i;
const LOWER_IS_BETTER = /(^|_)(rmse|mae|mse|mape|smape|log_loss|logloss|loss|brier|brier_score|error|error_rate|wer|cer|perplexity)$/i;

/** Which way is better for a metric whose name says it (null: the name does not say). */
function metricDirection(metric: string): 'higher' | 'lower' | null {
  if (LOWER_IS_BETTER.test(metric)) return 'lower';
  if (HIGHER_IS_BETTER.test(metric)) return 'higher';
  return null;
}

function Metrics({ A, B, a, b }: { A: string; B: string; a: Record<string, number | string>; b: Record<string, number | string> }): JSX.Element {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return (
    <>
      <h2>Metrics (from the cards)</h2>
      {names.length === 0 ? (
        <Empty>Neither card states metrics. A card's <code>metrics:</code> section (accuracy, rmse, …) is compared here.</Empty>
      ) : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="metrics of both versions">
          <table className="table compact compare-metrics" data-testid="compare-metrics">
            <thead>
              <tr>
                <th scope="col">metric</th>
                <th scope="col" className="num">
                  {A}
                </th>
                <th scope="col" className="num">
                  {B}
                </th>
                <th scope="col" className="num">
                  Δ ({B.replace('version ', 'v')} − {A.replace('version ', 'v')})
                </th>
                <th scope="col">better</th>
              </tr>
            </thead>
            <tbody>
              {names.map((m) => {
                const x = a[m];
                const y = b[m];
                const both = typeof x === 'number' && typeof y === 'number';
                const delta = both ? y - x : null;
                const dir = metricDirection(m);
                const better = delta === null || dir === null ? null : delta === 0 ? 'same' : (dir === 'higher') === delta > 0 ? B : A;
                return (
                  <tr key={m} data-metric={m}>
                    <th scope="row">
                      {m}
                      {dir ? <span className="muted small"> ({dir} is better)</span> : null}
                    </th>
                    <td className="num">{x === undefined ? '—' : typeof x === 'number' ? formatNumber(x) : x}</td>
                    <td className="num">{y === undefined ? '—' : typeof y === 'number' ? formatNumber(y) : y}</td>
                    <td className={`num ${better === null || better === 'same' ? '' : better === B ? 'delta-good' : 'delta-bad'}`} data-testid="metric-delta">
                      {delta === null ? '—' : signed(delta)}
                      {delta !== null && typeof x === 'number' && x !== 0 && delta !== 0 ? <span className="muted small"> ({signed((delta / Math.abs(x)) * 100, 1)}%)</span> : null}
                    </td>
                    <td data-testid="metric-better">{better === null ? <span className="muted">—</span> : better === 'same' ? 'same' : <Badge tone="good">{better}</Badge>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** `+0.012`, `−0.035` (a real minus sign), at four significant digits. */
function signed(v: number, digits?: number): string {
  const r = digits !== undefined ? v.toFixed(digits) : String(Number(v.toPrecision(4)));
  if (v > 0) return `+${r}`;
  return r.replace('-', '−');
}

// ---------------------------------------------------------------------------------------------
// signature

type Change = 'added' | 'removed' | 'changed' | 'same';

interface TensorDiff {
  name: string;
  a: SignatureTensor | null;
  b: SignatureTensor | null;
  change: Change;
  /** which facets changed: datatype, shape, features, allowed values, non-finite */
  facets: string[];
}

/** Each input (or output) of either side, with what changed between them. */
function diffTensors(a: SignatureTensor[], b: SignatureTensor[]): TensorDiff[] {
  const byName = new Map(b.map((t) => [t.name, t]));
  const out: TensorDiff[] = [];
  for (const ta of a) {
    const tb = byName.get(ta.name) ?? null;
    if (!tb) {
      out.push({ name: ta.name, a: ta, b: null, change: 'removed', facets: [] });
      continue;
    }
    const facets: string[] = [];
    if (ta.datatype !== tb.datatype) facets.push('datatype');
    if (ta.shape.join() !== tb.shape.join()) facets.push('shape');
    if ((ta.featureNames ?? []).join('\u0000') !== (tb.featureNames ?? []).join('\u0000')) facets.push('features');
    if ((ta.vocabulary ?? []).join('\u0000') !== (tb.vocabulary ?? []).join('\u0000') || (ta.validRange ?? []).join() !== (tb.validRange ?? []).join()) facets.push('allowed values');
    if ((ta.allowNonFinite ?? null) !== (tb.allowNonFinite ?? null)) facets.push('non-finite');
    out.push({ name: ta.name, a: ta, b: tb, change: facets.length > 0 ? 'changed' : 'same', facets });
  }
  const inA = new Set(a.map((t) => t.name));
  for (const tb of b) if (!inA.has(tb.name)) out.push({ name: tb.name, a: null, b: tb, change: 'added', facets: [] });
  return out;
}

function SignatureDiff({ A, B, a, b }: { A: string; B: string; a: VersionRecord; b: VersionRecord }): JSX.Element {
  const inputs = diffTensors(a.signature.inputs, b.signature.inputs);
  const outputs = diffTensors(a.signature.outputs, b.signature.outputs);
  const differences = [...inputs.map((d) => ({ ...d, side: 'input' })), ...outputs.map((d) => ({ ...d, side: 'output' }))].filter((d) => d.change !== 'same');
  return (
    <>
      <h2>Signature</h2>
      <p data-testid="signature-summary" className={differences.length > 0 ? 'diff-summary changed' : 'diff-summary'}>
        {differences.length === 0
          ? 'The signatures are the same: a client of one can call the other unchanged.'
          : `${differences.length} difference${differences.length === 1 ? '' : 's'}: ${differences.map((d) => `${d.side} ${d.name} ${d.change}${d.facets.length ? ` (${d.facets.join(', ')})` : ''}`).join('; ')}.`}
      </p>
      <SignatureTable title="inputs" A={A} B={B} rows={inputs} />
      <SignatureTable title="outputs" A={A} B={B} rows={outputs} />
    </>
  );
}

function SignatureTable({ title, A, B, rows }: { title: string; A: string; B: string; rows: TensorDiff[] }): JSX.Element {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={`${title} of both versions`}>
      <table className="table compact signature-diff" data-testid={`signature-diff-${title}`}>
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">name</th>
            <th scope="col">{A}</th>
            <th scope="col">{B}</th>
            <th scope="col">change</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <tr key={d.name} className={`diff-${d.change}`} data-change={d.change}>
              <th scope="row" className="wrap-anywhere">
                {d.name}
              </th>
              <td>{d.a ? <TensorCell t={d.a} other={d.b} facets={d.facets} /> : <span className="muted">—</span>}</td>
              <td>{d.b ? <TensorCell t={d.b} other={d.a} facets={d.facets} /> : <span className="muted">—</span>}</td>
              <td>
                {d.change === 'same' ? (
                  <span className="muted">same</span>
                ) : (
                  <Badge tone={d.change === 'added' ? 'good' : d.change === 'removed' ? 'bad' : 'warn'}>
                    {d.change}
                    {d.facets.length > 0 ? `: ${d.facets.join(', ')}` : ''}
                  </Badge>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function TensorCell({ t, other, facets }: { t: SignatureTensor; other: SignatureTensor | null; facets: string[] }): JSX.Element {
  const mark = (facet: string, node: ReactNode): ReactNode => (facets.includes(facet) ? <mark className="diff-mark">{node}</mark> : node);
  const features = t.featureNames ?? [];
  const otherFeatures = new Set(other?.featureNames ?? []);
  const own = new Set(features);
  const added = other ? features.filter((f) => !otherFeatures.has(f)) : [];
  const missing = other ? [...otherFeatures].filter((f) => !own.has(f)) : [];
  return (
    <div className="tensor-cell">
      <div>
        {mark('datatype', t.datatype)} {mark('shape', <code>[{t.shape.map((d) => (d === -1 ? 'N' : d)).join(', ')}]</code>)}
      </div>
      {features.length > 0 || facets.includes('features') ? (
        <div className="small muted wrap-anywhere">
          {mark('features', `${features.length} feature${features.length === 1 ? '' : 's'}`)}
          {added.length > 0 ? <span className="diff-plus"> + {added.slice(0, 6).join(', ')}{added.length > 6 ? '…' : ''}</span> : null}
          {missing.length > 0 ? <span className="diff-minus"> − {missing.slice(0, 6).join(', ')}{missing.length > 6 ? '…' : ''}</span> : null}
          {facets.includes('features') && added.length === 0 && missing.length === 0 ? ' (reordered)' : null}
        </div>
      ) : null}
      {t.vocabulary || t.validRange || facets.includes('allowed values') ? (
        <div className="small muted clamp" title={t.vocabulary?.join(', ')}>
          {mark('allowed values', t.vocabulary ? `allowed: ${t.vocabulary.join(', ')}` : t.validRange ? `range ${t.validRange[0]} … ${t.validRange[1]}` : 'any value')}
        </div>
      ) : null}
      {t.allowNonFinite !== undefined || facets.includes('non-finite') ? (
        <div className="small muted">{mark('non-finite', t.allowNonFinite === false ? 'NaN/Inf refused' : 'NaN/Inf accepted')}</div>
      ) : null}
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// reference data

const BINS = 20;

function ReferenceCompare({ name, a, b }: { name: string; a: number; b: number }): JSX.Element {
  const ra = useApi<ReferenceView>(`/v1/models/${path(name)}/versions/${a}/reference`, { mark: 'reference-a' });
  const rb = useApi<ReferenceView>(`/v1/models/${path(name)}/versions/${b}/reference`, { mark: 'reference-b' });
  const [filter, setFilter] = useState('');
  const none = (r: typeof ra): boolean => r.error instanceof ApiError && r.error.status === 404;
  const failed = (r: typeof ra): Error | null => (r.error && !none(r) ? r.error : null);
  const ready = (ra.data || none(ra) || failed(ra)) && (rb.data || none(rb) || failed(rb));
  const charts = useMemo(() => (ready ? overlays(ra.data, rb.data) : []), [ready, ra.data, rb.data]);
  const needle = filter.trim().toLowerCase();
  const shown = needle ? charts.filter((c) => c.name.toLowerCase().includes(needle)) : charts;
  const side = (v: number, r: typeof ra): JSX.Element => (
    <li key={v}>
      <span className={`swatch ${v === a ? 'swatch-a' : 'swatch-b'}`} aria-hidden="true" /> version {v}:{' '}
      {r.data ? (
        <>
          {r.data.rows.toLocaleString()} rows{r.data.source ? ` from ${r.data.source}` : ''}, profiled <When iso={r.data.createdAt} />
        </>
      ) : none(r) ? (
        <span data-testid={`no-reference-${v}`}>
          no reference data for version {v} <span className="muted small">(attach some: <code>berth models profile {name} {v} --reference train.csv</code>)</span>
        </span>
      ) : failed(r) ? (
        <span className="muted">could not be read</span>
      ) : (
        <span className="muted">loading…</span>
      )}
    </li>
  );
  return (
    <>
      <h2>Reference data</h2>
      <ul className="compare-sides" data-testid="reference-sides">
        {side(a, ra)}
        {side(b, rb)}
      </ul>
      {failed(ra) ? <ErrorBox error={failed(ra)!} onRetry={ra.reload} /> : null}
      {failed(rb) ? <ErrorBox error={failed(rb)!} onRetry={rb.reload} /> : null}
      {ready && charts.length === 0 && !ra.data && !rb.data ? <Empty>Neither version has reference data, so there are no distributions to compare.</Empty> : null}
      {charts.length > 0 ? (
        <>
          <div className="compare-hist-head">
            <p className="muted small">
              Each column's distribution in the two versions' reference data, on common bins; the columns that moved most come first (the number is the share of
              the data that would have to move to turn one distribution into the other).
            </p>
            <input type="search" aria-label="filter columns" placeholder="Filter columns" value={filter} onChange={(e) => setFilter(e.target.value)} />
          </div>
          <div className="compare-hists" data-testid="compare-histograms">
            {shown.map((c) => (
              <HistogramOverlay
                key={`${c.role}:${c.name}`}
                testId={`hist-${c.name}`}
                title={
                  <>
                    <span className="wrap-anywhere">{c.name}</span>
                    {c.role === 'prediction' ? <span className="muted small"> (prediction)</span> : null}{' '}
                    {c.distance !== null ? <Badge tone={c.distance >= 0.2 ? 'bad' : c.distance >= 0.1 ? 'warn' : 'plain'}>moved {(c.distance * 100).toFixed(0)}%</Badge> : null}
                  </>
                }
                labels={c.labels}
                series={c.series.map((s) => ({ ...s, name: `version ${s.version}` }))}
                axis={c.axis}
                note={c.note}
              />
            ))}
          </div>
          {shown.length === 0 ? <Empty>No column matches “{filter}”.</Empty> : null}
        </>
      ) : null}
    </>
  );
}

interface Overlay {
  name: string;
  role: 'feature' | 'prediction';
  labels: string[];
  series: (OverlaySeries & { version: number })[];
  /** total variation distance between the two (null with one side only) */
  distance: number | null;
  axis?: [string, string];
  note?: string;
}

/** One chart per column of either side: both on common bins where both have the column. */
function overlays(a: ReferenceView | null, b: ReferenceView | null): Overlay[] {
  const out: Overlay[] = [];
  const colsB = new Map((b?.columns ?? []).map((c) => [`${c.role}:${c.name}`, c]));
  const seen = new Set<string>();
  for (const ca of a?.columns ?? []) {
    const key = `${ca.role}:${ca.name}`;
    seen.add(key);
    out.push(overlay(ca, a!.version, colsB.get(key) ?? null, b?.version ?? null));
  }
  for (const cb of b?.columns ?? []) if (!seen.has(`${cb.role}:${cb.name}`)) out.push(overlay(null, a?.version ?? null, cb, b!.version));
  return out.sort((x, y) => (x.role !== y.role ? (x.role === 'feature' ? -1 : 1) : (y.distance ?? -1) - (x.distance ?? -1)));
}

function overlay(a: ReferenceColumn | null, va: number | null, b: ReferenceColumn | null, vb: number | null): Overlay {
  const c = (a ?? b)!;
  const missing = (x: ReferenceColumn | null, v: number | null): string | null => (x && x.missing > 0 ? `version ${v}: ${((x.missing / Math.max(1, x.count + x.missing)) * 100).toFixed(1)}% missing` : null);
  const note = [missing(a, va), missing(b, vb)].filter((x) => x !== null).join(' · ') || undefined;
  const base = { name: c.name, role: c.role, ...(note ? { note } : {}) };
  if (!a || !b) {
    const only = (a ?? b)!;
    const v = (a ? va : vb)!;
    const otherV = a ? vb : va;
    return {
      ...base,
      labels: only.histogram.labels,
      series: [{ name: `version ${v}`, version: v, shares: only.histogram.shares }],
      distance: null,
      ...axisOf(only),
      note: [note, otherV !== null ? `not in version ${otherV}'s reference data` : null].filter((x) => x).join(' · '),
    };
  }
  if (a.kind === 'numeric' && b.kind === 'numeric' && !(a.discrete && b.discrete) && a.cdf.x.length > 1 && b.cdf.x.length > 1) {
    const lo = Math.min(a.min ?? a.cdf.x[0]!, b.min ?? b.cdf.x[0]!);
    let hi = Math.max(a.max ?? a.cdf.x[a.cdf.x.length - 1]!, b.max ?? b.cdf.x[b.cdf.x.length - 1]!);
    if (!(hi > lo)) hi = lo + 1;
    const edges = Array.from({ length: BINS + 1 }, (_, i) => lo + ((hi - lo) * i) / BINS);
    const sa = rebin(a.cdf, edges);
    const sb = rebin(b.cdf, edges);
    return {
      ...base,
      labels: edges.slice(1).map((e, i) => `[${short(edges[i]!)}, ${short(e)}${i === BINS - 1 ? ']' : ')'}`),
      series: [
        { name: `version ${va}`, version: va!, shares: sa },
        { name: `version ${vb}`, version: vb!, shares: sb },
      ],
      distance: tvd(sa, sb),
      axis: [short(lo), short(hi)],
    };
  }
  // categories, or a few distinct values: the union of the bins
  const labels = [...new Set([...a.histogram.labels, ...b.histogram.labels])];
  const numeric = labels.every((l) => l !== '' && Number.isFinite(Number(l)));
  labels.sort((x, y) => (x === '(other)' ? 1 : y === '(other)' ? -1 : numeric ? Number(x) - Number(y) : 0));
  const sharesOf = (col: ReferenceColumn): number[] => {
    const m = new Map(col.histogram.labels.map((l, i) => [l, col.histogram.shares[i] ?? 0]));
    return labels.map((l) => m.get(l) ?? 0);
  };
  const sa = sharesOf(a);
  const sb = sharesOf(b);
  return {
    ...base,
    labels,
    series: [
      { name: `version ${va}`, version: va!, shares: sa },
      { name: `version ${vb}`, version: vb!, shares: sb },
    ],
    distance: tvd(sa, sb),
    axis: labels.length > 0 ? [labels[0]!, labels[labels.length - 1]!] : ['', ''],
  };
}

function axisOf(c: ReferenceColumn): { axis?: [string, string] } {
  const l = c.histogram.labels;
  if (l.length === 0) return {};
  if (c.kind === 'numeric' && c.min !== null && c.max !== null && (c.histogram.edges?.length ?? 0) > 0) return { axis: [short(c.min), short(c.max)] };
  return { axis: [l[0]!, l[l.length - 1]!] };
}

/** The share of a column between consecutive edges, from its quantiles (linear between them). */
function rebin(cdf: { q: number[]; x: number[] }, edges: number[]): number[] {
  const at = (t: number, last: boolean): number => {
    const { q, x } = cdf;
    const n = x.length;
    if (n === 0) return 0;
    if (t < x[0]!) return 0;
    if (t >= x[n - 1]!) return last || t > x[n - 1]! ? 1 : q[n - 1]!;
    // the last quantile at or below t
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (x[mid]! <= t) lo = mid;
      else hi = mid - 1;
    }
    const j = lo + 1;
    const span = x[j]! - x[lo]!;
    return span > 0 ? q[lo]! + ((q[j]! - q[lo]!) * (t - x[lo]!)) / span : q[lo]!;
  };
  const F = edges.map((e, i) => (i === 0 ? 0 : at(e, i === edges.length - 1)));
  return F.slice(1).map((f, i) => Math.max(0, f - F[i]!));
}

/** Total variation distance: half the sum of the differences (0 the same, 1 disjoint). */
function tvd(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < Math.max(a.length, b.length); i++) s += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return s / 2;
}

function short(x: number): string {
  return Number(x.toPrecision(4)).toString();
}

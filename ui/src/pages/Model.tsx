import type { JSX } from 'react';
import type { ModelRecord, SignatureTensor, VersionLineage, VersionList, VersionRecord } from '../../../sdk/types.js';
import { path } from '../api.js';
import { Badge, DetailHead, Empty, ErrorBox, formatBytes, formatNumber, Head, Loading, Tags, When } from '../components/common.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';

interface CardView {
  title?: string;
  task?: string;
  description?: string;
  features?: string[];
  classes?: { labels: (number | string)[]; names?: string[] };
  metrics?: Record<string, number>;
}

interface ReferenceView {
  fileName: string;
  rows: number;
  sizeBytes: number;
  profile?: { rows?: number };
  background?: { rows: number; method: string };
}

/** A model: its aliases and tags, its versions, and one version in full. */
export function Model({ name, version }: { name: string; version: number | null }): JSX.Element {
  const model = useApi<ModelRecord>(`/v1/models/${path(name)}`, { mark: 'model' });
  const versions = useApi<VersionList>(`/v1/models/${path(name)}/versions`, { mark: 'versions' });
  const list = versions.data?.versions ?? [];
  const selected = version ?? model.data?.latestVersion ?? null;
  const byVersion = new Map<number, string[]>();
  for (const [a, v] of Object.entries(model.data?.aliases ?? {})) byVersion.set(v, [...(byVersion.get(v) ?? []), a]);
  return (
    <section aria-labelledby="model-title">
      <DetailHead section="Models" sectionHref={href('models')} name={name} titleId="model-title">
        {Object.entries(model.data?.aliases ?? {}).map(([a, v]) => (
          <Badge key={a} tone={a === 'production' ? 'good' : 'info'}>
            {a} → {v}
          </Badge>
        ))}
      </DetailHead>
      {model.error ? <ErrorBox error={model.error} onRetry={model.reload} /> : null}
      {model.data?.description ? <p>{model.data.description}</p> : null}
      {model.data ? <Tags tags={model.data.tags} /> : null}
      <h2>Versions</h2>
      {versions.error ? <ErrorBox error={versions.error} onRetry={versions.reload} /> : null}
      {versions.loading && !versions.data ? <Loading what="versions" /> : null}
      {versions.data && list.length === 0 ? <Empty>No versions.</Empty> : null}
      {list.length > 0 ? (
        <div className="table-wrap">
          <table className="table" data-testid="versions-table">
            <Head cols={['Version', 'Aliases', 'Registered', 'By', 'Size', 'sha256', 'Tags']} />
            <tbody>
              {[...list].reverse().map((v) => (
                <tr key={v.version} aria-current={v.version === selected ? 'true' : undefined}>
                  <td>
                    <a href={href('models', name, 'versions', v.version)}>{v.version}</a>
                  </td>
                  <td>
                    {(byVersion.get(v.version) ?? []).map((a) => (
                      <Badge key={a} tone={a === 'production' ? 'good' : 'info'}>
                        {a}
                      </Badge>
                    ))}
                  </td>
                  <td>
                    <When iso={v.createdAt} />
                  </td>
                  <td className="wrap-anywhere">{v.createdBy}</td>
                  <td>{formatBytes(v.sizeBytes)}</td>
                  <td>
                    <code title={v.sha256}>{v.sha256.slice(0, 12)}</code>
                  </td>
                  <td>
                    <Tags tags={v.tags} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {selected !== null && list.length > 1 ? <CompareLink name={name} versions={list.map((x) => x.version)} selected={selected} /> : null}
      {selected !== null && list.length > 0 ? <VersionDetail v={list.find((x) => x.version === selected) ?? null} name={name} number={selected} /> : null}
    </section>
  );
}

/** A link to compare the selected version with the one before it (the first version: with the next). */
function CompareLink({ name, versions, selected }: { name: string; versions: number[]; selected: number }): JSX.Element {
  const others = versions.filter((n) => n !== selected).sort((x, y) => x - y);
  const other = others.filter((n) => n < selected).pop() ?? others[0]!;
  const [a, b] = other < selected ? [other, selected] : [selected, other];
  return (
    <p>
      <a href={`${href('models', name, 'compare')}?a=${a}&b=${b}`} data-testid="compare-link">
        Compare version {a} with {b}
      </a>{' '}
      <span className="muted small">(metrics, signature, reference data; pick any two there)</span>
    </p>
  );
}

function VersionDetail({ v, name, number }: { v: VersionRecord | null; name: string; number: number }): JSX.Element {
  const lineage = useApi<VersionLineage>(`/v1/lineage/models/${path(name)}/${number}`, { mark: 'lineage' });
  if (!v) return <ErrorBox error={new Error(`${name} has no version ${number}`)} />;
  const card = (v.card ?? {}) as CardView;
  const reference = v.reference as ReferenceView | null;
  return (
    <article aria-labelledby="version-title" className="panel" data-testid="version-detail">
      <h2 id="version-title">
        Version {v.version}
        {card.title ? <span className="muted"> · {card.title}</span> : null}
      </h2>
      {v.description ? <p>{v.description}</p> : null}
      <dl className="facts">
        <dt>task</dt>
        <dd>{card.task ?? 'not stated'}</dd>
        <dt>sha256</dt>
        <dd>
          <code className="wrap-anywhere">{v.sha256}</code>
        </dd>
        <dt>source</dt>
        <dd className="wrap-anywhere">{v.sourcePath}</dd>
        <dt>reference data</dt>
        <dd>{reference ? `${reference.fileName}: ${reference.rows.toLocaleString()} rows${reference.profile ? ', profiled' : ''}${reference.background ? `, explanation background ${reference.background.rows} rows (${reference.background.method})` : ''}` : 'none (berth models profile attaches it)'}</dd>
        {card.classes ? (
          <>
            <dt>classes</dt>
            <dd>{card.classes.labels.map((l, i) => `${String(l)}${card.classes?.names?.[i] !== undefined ? ` (${card.classes.names[i]})` : ''}`).join(', ')}</dd>
          </>
        ) : null}
      </dl>
      {card.description ? <p className="muted">{card.description}</p> : null}
      {card.metrics && Object.keys(card.metrics).length > 0 ? (
        <>
          <h3>Metrics (from the card)</h3>
          <table className="table compact" data-testid="card-metrics">
            <tbody>
              {Object.entries(card.metrics).map(([k, x]) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td className="num">{typeof x === 'number' ? formatNumber(x) : String(x)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      <h3>Signature</h3>
      <SignatureTable title="inputs" tensors={v.signature.inputs} />
      <SignatureTable title="outputs" tensors={v.signature.outputs} />
      <h3>Lineage</h3>
      {lineage.error ? <ErrorBox error={lineage.error} onRetry={lineage.reload} /> : null}
      {lineage.data ? <LineageView l={lineage.data} /> : null}
    </article>
  );
}

function SignatureTable({ title, tensors }: { title: string; tensors: SignatureTensor[] }): JSX.Element {
  return (
    <div className="table-wrap">
      <table className="table compact" data-testid={`signature-${title}`}>
        <caption>{title}</caption>
        <Head cols={['name', 'datatype', 'shape', 'features', 'allowed']} />
        <tbody>
          {tensors.map((t) => (
            <tr key={t.name}>
              <td className="wrap-anywhere">{t.name}</td>
              <td>{t.datatype}</td>
              <td>
                <code>[{t.shape.map((d) => (d === -1 ? 'N' : d)).join(', ')}]</code>
              </td>
              <td className="clamp" title={t.featureNames?.join(', ')}>
                {t.featureNames ? `${t.featureNames.length}: ${t.featureNames.slice(0, 4).join(', ')}${t.featureNames.length > 4 ? '…' : ''}` : '—'}
              </td>
              <td className="clamp">{t.vocabulary ? t.vocabulary.join(', ') : t.validRange ? `${t.validRange[0]} … ${t.validRange[1]}` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function LineageView({ l }: { l: VersionLineage }): JSX.Element {
  const lin = l.lineage as Record<string, unknown>;
  const datasets = Array.isArray(lin['datasets']) ? (lin['datasets'] as { path: string; sha256: string }[]) : [];
  const params = (lin['params'] ?? null) as Record<string, unknown> | null;
  return (
    <dl className="facts" data-testid="lineage">
      <dt>pipeline run</dt>
      <dd>{l.run ? `${l.run.pipeline}, run ${l.run.id} (${l.run.state}, started by ${l.run.trigger.kind})` : typeof lin['pipelineRun'] === 'number' ? `${typeof lin['pipeline'] === 'string' ? `${lin['pipeline']}, ` : ''}run ${String(lin['pipelineRun'])} (not in this registry)` : 'none: registered by hand'}</dd>
      <dt>code</dt>
      <dd>{typeof lin['gitCommit'] === 'string' ? <code>{`${(lin['gitCommit'] as string).slice(0, 12)}${lin['gitDirty'] ? ' (dirty)' : ''}`}</code> : 'unknown'}</dd>
      <dt>data</dt>
      <dd>
        {datasets.length > 0
          ? datasets.map((d) => (
              <div key={d.sha256} className="wrap-anywhere">
                <code>{d.sha256.slice(0, 12)}</code> {d.path}
              </div>
            ))
          : typeof lin['dataset'] === 'string'
            ? (lin['dataset'] as string)
            : 'unknown'}
      </dd>
      {params ? (
        <>
          <dt>params</dt>
          <dd className="wrap-anywhere">
            {Object.entries(params)
              .map(([k, x]) => `${k}=${String(x)}`)
              .join(' ')}
          </dd>
        </>
      ) : null}
      <dt>parent</dt>
      <dd>{typeof lin['parent'] === 'string' ? (lin['parent'] as string) : 'none'}</dd>
    </dl>
  );
}

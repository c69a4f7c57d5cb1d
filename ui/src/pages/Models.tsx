import type { JSX } from 'react';
import { useMemo, useState } from 'react';
import type { ModelList } from '../../../sdk/types.js';
import { Badge, Empty, ErrorBox, Head, Loading, Tags, When } from '../components/common.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';

/** Every registered model, searchable by name, description and tags. */
export function Models(): JSX.Element {
  const { data, error, loading, reload } = useApi<ModelList>('/v1/models', { mark: 'models' });
  const [q, setQ] = useState('');
  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const all = data?.models ?? [];
    if (needle === '') return all;
    return all.filter((m) => m.name.toLowerCase().includes(needle) || (m.description ?? '').toLowerCase().includes(needle) || Object.entries(m.tags).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(needle)));
  }, [data, q]);
  return (
    <section aria-labelledby="models-title">
      <header className="page-head">
        <h1 id="models-title">Models</h1>
        <input type="search" aria-label="search models" placeholder="Search by name, description or tag" value={q} onChange={(e) => setQ(e.target.value)} />
      </header>
      {error ? <ErrorBox error={error} onRetry={reload} /> : null}
      {loading && !data ? <Loading what="models" /> : null}
      {data && data.models.length === 0 ? (
        <Empty>
          No models yet. Register one: <code>berth models register model.onnx --name NAME --card card.yaml</code>
        </Empty>
      ) : null}
      {data && data.models.length > 0 ? (
        <>
          <p className="muted small" aria-live="polite">
            {shown.length === data.models.length ? `${data.models.length} models` : `${shown.length} of ${data.models.length} models`}
          </p>
          <div className="table-wrap">
            <table className="table" data-testid="models-table">
              <Head cols={['Model', 'Latest', 'Versions', 'Aliases', 'Tags', 'Updated']} />
              <tbody>
                {shown.map((m) => (
                  <tr key={m.name}>
                    <td className="name-cell">
                      <a href={href('models', m.name)}>{m.name}</a>
                      {m.description ? <div className="muted small clamp">{m.description}</div> : null}
                    </td>
                    <td>{m.latestVersion ?? '—'}</td>
                    <td>{m.versionCount}</td>
                    <td>
                      {Object.entries(m.aliases).map(([a, v]) => (
                        <Badge key={a} tone={a === 'production' ? 'good' : 'info'}>
                          {a} → {v}
                        </Badge>
                      ))}
                    </td>
                    <td>
                      <Tags tags={m.tags} />
                    </td>
                    <td>
                      <When iso={m.updatedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  );
}

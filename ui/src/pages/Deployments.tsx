import type { JSX } from 'react';
import type { DeploymentList, DeploymentView } from '../../../sdk/types.js';
import { TrafficSplit } from '../components/charts.js';
import { Badge, Empty, ErrorBox, Head, Loading, When } from '../components/common.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';

interface Policy {
  split: { version: number; percent: number }[];
  shadows: { version: number; percent: number }[];
  preview: number | null;
}

/** The deployment's arms: the target takes what the split leaves. */
export function armsOf(d: DeploymentView): { label: string; percent: number; kind: 'target' | 'split' | 'shadow' | 'preview' }[] {
  const p = d.deployment.traffic as Policy | null;
  const split = p?.split ?? [];
  const rest = 100 - split.reduce((s, a) => s + a.percent, 0);
  const target = d.servedVersion === null ? 'nothing' : `v${d.servedVersion}`;
  return [
    { label: target, percent: Number(rest.toFixed(2)), kind: 'target' },
    ...split.map((a) => ({ label: `v${a.version}`, percent: a.percent, kind: 'split' as const })),
    ...(p?.shadows ?? []).map((a) => ({ label: `v${a.version}`, percent: a.percent, kind: 'shadow' as const })),
    ...(p?.preview !== null && p?.preview !== undefined ? [{ label: `v${p.preview}`, percent: 0, kind: 'preview' as const }] : []),
  ];
}

export function targetText(d: DeploymentView): string {
  const t = d.deployment.target as { kind: 'alias'; alias: string } | { kind: 'version'; version: number };
  return t.kind === 'alias' ? `${d.deployment.model}@${t.alias}` : `${d.deployment.model}@${t.version}`;
}

/** Every deployment with what it serves and how its traffic is split. */
export function Deployments(): JSX.Element {
  const { data, error, loading, reload } = useApi<DeploymentList>('/v1/deployments', { mark: 'deployments', refreshMs: 10_000 });
  return (
    <section aria-labelledby="deployments-title">
      <header className="page-head">
        <h1 id="deployments-title">Deployments</h1>
      </header>
      {error ? <ErrorBox error={error} onRetry={reload} /> : null}
      {loading && !data ? <Loading what="deployments" /> : null}
      {data && data.deployments.length === 0 ? (
        <Empty>
          No deployments yet: <code>berth deploy NAME --model MODEL --alias production</code>
        </Empty>
      ) : null}
      {data && data.deployments.length > 0 ? (
        <div className="table-wrap">
          <table className="table" data-testid="deployments-table">
            <Head cols={['Deployment', 'Target', 'Serves', 'Traffic', 'State', 'Updated']} />
            <tbody>
              {data.deployments.map((d) => {
                const live = d.live as { state?: string } | null;
                return (
                  <tr key={d.deployment.name}>
                    <td className="name-cell">
                      <a href={href('deployments', d.deployment.name)}>{d.deployment.name}</a>
                    </td>
                    <td className="wrap-anywhere">{targetText(d)}</td>
                    <td>{d.servedVersion === null ? <Badge tone="bad">{d.problem ?? 'nothing'}</Badge> : `v${d.servedVersion}`}</td>
                    <td style={{ minWidth: '12rem' }}>
                      <TrafficSplit arms={armsOf(d)} compact />
                    </td>
                    <td>{live?.state ? <Badge tone={live.state === 'ready' ? 'good' : 'info'}>{live.state}</Badge> : '—'}</td>
                    <td>
                      <When iso={d.deployment.updatedAt} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

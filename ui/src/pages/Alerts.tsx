import type { JSX } from 'react';
import { Badge, Empty, ErrorBox, Head, Loading, When } from '../components/common.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';
import type { AlertsAnswer } from './monitor-types.js';

const ORDER = { firing: 0, pending: 1, ok: 2 } as const;

/** Every alert rule with its state per deployment (firing first), and the newest firing and resolved events. */
export function Alerts(): JSX.Element {
  const a = useApi<AlertsAnswer>('/v1/alerts', { mark: 'alerts', refreshMs: 15_000 });
  const d = a.data;
  const alerts = [...(d?.alerts ?? [])].sort((x, y) => ORDER[x.state] - ORDER[y.state] || x.deployment.localeCompare(y.deployment));
  const firing = alerts.filter((x) => x.state === 'firing').length;
  return (
    <section aria-labelledby="alerts-title">
      <header className="page-head">
        <h1 id="alerts-title">Alerts</h1>
        {d ? <Badge tone={firing > 0 ? 'bad' : 'good'}>{firing > 0 ? `${firing} firing` : 'none firing'}</Badge> : null}
      </header>
      {a.error ? <ErrorBox error={a.error} onRetry={a.reload} /> : null}
      {a.loading && !d ? <Loading what="the alerts" /> : null}
      {d && d.rules.length === 0 ? (
        <Empty>
          No alert rules. Add some under <code>alerts.rules</code> in the server's configuration, e.g. <code>{'{name: drift, deployment: "*", when: "drift_share > 0.3", window: 1h}'}</code> (docs/monitoring.md).
        </Empty>
      ) : null}
      {d && d.rules.length > 0 ? (
        <>
          <div className="table-wrap">
            <table className="table" data-testid="alerts-table">
              <Head cols={['deployment', 'rule', 'state', 'condition', 'value', 'since', 'severity']} />
              <tbody>
                {alerts.map((x) => (
                  <tr key={`${x.rule}/${x.deployment}`}>
                    <td className="name-cell">
                      <a href={href('deployments', x.deployment, 'monitor')}>{x.deployment}</a>
                    </td>
                    <td>{x.rule}</td>
                    <td>
                      <Badge tone={x.state === 'firing' ? 'bad' : x.state === 'pending' ? 'warn' : 'good'}>{x.state}</Badge>
                    </td>
                    <td>
                      <code>{x.condition}</code>
                    </td>
                    <td className="num">{x.value === null ? '—' : Number(x.value.toPrecision(3))}</td>
                    <td>
                      <When iso={x.since} />
                    </td>
                    <td>{x.severity}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {alerts.length === 0 ? <p className="muted">The rules have not been evaluated against any deployment yet.</p> : null}
          <h2>Rules</h2>
          <ul className="small">
            {d.rules.map((r) => (
              <li key={r.name}>
                <strong>{r.name}</strong> on {r.deployment === '*' ? 'every deployment' : r.deployment}: <code>{r.when}</code> over {r.window} ({r.severity})
              </li>
            ))}
          </ul>
          <h2>Recent events</h2>
          {d.events.length === 0 ? (
            <p className="muted">Nothing has fired yet.</p>
          ) : (
            <ol className="decisions" data-testid="alert-events">
              {d.events.map((e) => (
                <li key={e.id} className={e.kind === 'resolved' ? 'pass' : 'fail'}>
                  <strong>{e.rule}</strong> {e.kind} on <a href={href('deployments', e.deployment, 'monitor')}>{e.deployment}</a> · <When iso={e.at} />
                  {e.value !== null ? ` · value ${Number(e.value.toPrecision(3))}` : ''}
                  {e.message ? <span className="muted"> · {e.message}</span> : null}
                </li>
              ))}
            </ol>
          )}
        </>
      ) : null}
    </section>
  );
}

import type { JSX } from 'react';
import type { DeploymentView, RolloutRecord } from '../../../sdk/types.js';
import { api, ApiError, path } from '../api.js';
import { Bars, LineChart, TrafficSplit } from '../components/charts.js';
import { ConfirmButton } from '../components/confirm.js';
import { Badge, DetailHead, ErrorBox, formatBytes, Loading, When } from '../components/common.js';
import { DeploymentTabs } from '../components/tabs.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';
import { useSession } from '../session.js';
import { armsOf, targetText } from './Deployments.js';

interface TrafficSeries {
  bucketSeconds: number;
  points: { t: string; requests: number; errors: number; rps: number; p50Ms: number | null; p99Ms: number | null; byVersion: Record<string, number> }[];
  batchSizes: { model: string; version: number; bins: { upTo: number; batches: number }[] }[];
}

/** One model version this server holds (`GET /v1/status` → `loaded`). */
interface LoadedModel {
  model: string;
  version: number;
  state: string;
  memoryBytes: number;
  queueDepth: number;
  inflight: number;
  loadedAt: string | null;
  lastUsedAt: string | null;
  loadMs: number;
  error?: string;
}

interface Decision {
  id: number;
  at: string;
  step: number;
  kind: string;
  verdict: string | null;
  state: string;
  details: Record<string, unknown>;
  actor: string;
}

interface RolloutStatus {
  rollout: RolloutRecord;
  decisions: Decision[];
  live: { versions: { version: number; role: string; requests: number; errorRate: number | null; p99Ms: number | null }[] } | null;
}

const COLORS = ['#1f6feb', '#bf8700', '#8250df', '#1a7f37'];

/** A deployment: its traffic drawn, its last hour live, its loaded model, and its rollout with the actions. */
export function Deployment({ name }: { name: string }): JSX.Element {
  const view = useApi<DeploymentView>(`/v1/deployments/${path(name)}`, { mark: 'deployment', refreshMs: 10_000 });
  const traffic = useApi<TrafficSeries>(`/v1/deployments/${path(name)}/traffic?window=1h`, { mark: 'traffic', refreshMs: 10_000 });
  const d = view.data;
  const live = (d?.live ?? null) as { state?: string; memoryBytes?: number; batching?: { maxBatchSize: number; maxQueueDelayMs: number } } | null;
  const points = traffic.data?.points ?? [];
  const times = points.map((p) => p.t);
  const versions = [...new Set(points.flatMap((p) => Object.keys(p.byVersion)))].sort();
  return (
    <section aria-labelledby="deployment-title">
      <DetailHead section="Deployments" sectionHref={href('deployments')} name={name} titleId="deployment-title">
        {live?.state ? <Badge tone={live.state === 'ready' ? 'good' : 'info'}>{live.state}</Badge> : null}
      </DetailHead>
      <DeploymentTabs name={name} current="overview" />
      {view.error ? <ErrorBox error={view.error} onRetry={view.reload} /> : null}
      {view.loading && !d ? <Loading what="the deployment" /> : null}
      {d ? (
        <>
          <dl className="facts" data-testid="deployment-facts">
            <dt>target</dt>
            <dd>
              <a href={href('models', d.deployment.model)}>{targetText(d)}</a>
            </dd>
            <dt>serves</dt>
            <dd>{d.servedVersion === null ? d.problem ?? 'nothing' : `version ${d.servedVersion}`}</dd>
            <dt>revision</dt>
            <dd>
              {d.deployment.revision}, <When iso={d.deployment.updatedAt} />
            </dd>
            {live?.batching ? (
              <>
                <dt>batching</dt>
                <dd>
                  up to {live.batching.maxBatchSize} rows, waiting at most {live.batching.maxQueueDelayMs} ms
                </dd>
              </>
            ) : null}
          </dl>
          <TrafficSplit arms={armsOf(d)} />
          <LoadedVersions model={d.deployment.model} />
          <RolloutPanel name={name} onChange={() => { view.reload(); traffic.reload(); }} />
        </>
      ) : null}
      <h2>Last hour</h2>
      {traffic.error ? <ErrorBox error={traffic.error} onRetry={traffic.reload} /> : null}
      {traffic.data ? (
        <div className="grid-2" data-testid="traffic-charts">
          <LineChart
            title="Requests per second"
            unit="/s"
            times={times}
            series={[{ name: 'all', color: COLORS[0]!, values: points.map((p) => p.rps) }, ...versions.map((v, i) => ({ name: `v${v}`, color: COLORS[(i + 1) % COLORS.length]!, values: points.map((p) => (p.byVersion[v] ?? 0) / traffic.data!.bucketSeconds) }))]}
          />
          <LineChart title="Latency" unit=" ms" times={times} series={[{ name: 'p50', color: COLORS[0]!, values: points.map((p) => p.p50Ms) }, { name: 'p99', color: COLORS[1]!, values: points.map((p) => p.p99Ms) }]} />
          <LineChart title="Error rate" unit="%" times={times} series={[{ name: 'errors', color: '#cf222e', values: points.map((p) => (p.requests > 0 ? (100 * p.errors) / p.requests : null)) }]} />
          {traffic.data.batchSizes.map((b) => (
            <Bars key={b.version} title={`Rows per runtime call, ${b.model}@${b.version} (since the server started)`} rows={b.bins.map((x) => ({ label: `≤ ${x.upTo}`, value: x.batches }))} />
          ))}
        </div>
      ) : null}
    </section>
  );
}

/** The versions of the deployment's model this server has loaded: state, memory, queue, last use. */
function LoadedVersions({ model }: { model: string }): JSX.Element | null {
  const status = useApi<{ loaded: LoadedModel[] }>('/v1/status', { refreshMs: 10_000 });
  // a token limited to some deployments cannot read the server's status: leave the table out
  if (status.error instanceof ApiError && status.error.status === 403) return null;
  if (status.error) return <ErrorBox error={status.error} onRetry={status.reload} />;
  const loaded = (status.data?.loaded ?? []).filter((m) => m.model === model).sort((a, b) => b.version - a.version);
  if (!status.data) return null;
  return (
    <div className="table-wrap">
      <table className="table compact" data-testid="loaded-versions">
        <caption>Loaded on this server</caption>
        <thead>
          <tr>
            <th scope="col">version</th>
            <th scope="col">state</th>
            <th scope="col">memory</th>
            <th scope="col">queue</th>
            <th scope="col">in flight</th>
            <th scope="col">load time</th>
            <th scope="col">last used</th>
          </tr>
        </thead>
        <tbody>
          {loaded.length === 0 ? (
            <tr>
              <td colSpan={7} className="muted">
                No version of {model} is loaded (it loads on the first request).
              </td>
            </tr>
          ) : null}
          {loaded.map((m) => (
            <tr key={m.version}>
              <td>
                <a href={href('models', m.model, 'versions', m.version)}>v{m.version}</a>
              </td>
              <td>
                <Badge tone={m.state === 'ready' ? 'good' : m.state === 'failed' ? 'bad' : 'info'}>{m.state}</Badge>
                {m.error ? <span className="muted small"> {m.error}</span> : null}
              </td>
              <td className="num">{formatBytes(m.memoryBytes)}</td>
              <td className="num">{m.queueDepth}</td>
              <td className="num">{m.inflight}</td>
              <td className="num">{m.loadMs.toFixed(0)} ms</td>
              <td>
                <When iso={m.lastUsedAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RolloutPanel({ name, onChange }: { name: string; onChange: () => void }): JSX.Element | null {
  const session = useSession();
  const status = useApi<RolloutStatus>(`/v1/deployments/${path(name)}/rollout`, { mark: 'rollout', refreshMs: 10_000 });
  if (status.error instanceof ApiError && status.error.status === 404) return <p className="muted">No rollout has run on this deployment.</p>;
  if (status.error) return <ErrorBox error={status.error} onRetry={status.reload} />;
  const s = status.data;
  if (!s) return null;
  const r = s.rollout;
  const active = r.state === 'progressing' || r.state === 'paused';
  const step = r.currentStep.kind === 'weight' ? `${r.currentStep.percent}% of traffic` : r.currentStep.kind;
  const act = (what: string) => () => api(`/v1/deployments/${path(name)}/rollout/${what}`, { method: 'POST', body: {} });
  const done = (): void => {
    status.reload();
    onChange();
  };
  const canDeploy = session.can('deploy', name);
  return (
    <article className="panel" aria-labelledby="rollout-title" data-testid="rollout-panel">
      <h2 id="rollout-title">
        Rollout {r.id}: version {r.fromVersion} → {r.toVersion}{' '}
        <Badge tone={r.state === 'promoted' ? 'good' : r.state === 'progressing' ? 'info' : r.state === 'paused' ? 'warn' : 'bad'}>{r.state}</Badge>
      </h2>
      <p>
        {r.strategy}, step {r.step + 1}: {step}
        {r.reason ? <span className="muted"> · {r.reason}</span> : null}
      </p>
      {canDeploy ? (
        <div className="actions" data-testid="rollout-actions">
          {active ? <ConfirmButton label="Promote" question={`Send all of ${name}'s traffic to version ${r.toVersion} now, skipping the remaining steps?`} run={act('promote')} onDone={done} /> : null}
          {r.state === 'progressing' ? <ConfirmButton label="Pause" question={`Hold rollout ${r.id} at its current step until someone resumes it?`} run={act('pause')} onDone={done} /> : null}
          {r.state === 'paused' ? <ConfirmButton label="Resume" question={`Let rollout ${r.id} go on from its current step?`} run={act('resume')} onDone={done} /> : null}
          {active ? <ConfirmButton label="Abort" danger question={`Abort rollout ${r.id} and send all traffic back to version ${r.fromVersion} at once?`} run={act('abort')} onDone={done} /> : null}
          {!active ? <ConfirmButton label="Rollback" danger question={`Roll ${name} back to the revision before this rollout?`} run={act('rollback')} onDone={done} /> : null}
        </div>
      ) : (
        <p className="muted small">Your token cannot change this deployment (it needs deploy:{name}).</p>
      )}
      {s.live ? (
        <table className="table compact" data-testid="rollout-live">
          <caption>this step so far</caption>
          <thead>
            <tr>
              <th scope="col">version</th>
              <th scope="col">role</th>
              <th scope="col">requests</th>
              <th scope="col">error rate</th>
              <th scope="col">p99 ms</th>
            </tr>
          </thead>
          <tbody>
            {s.live.versions.map((v) => (
              <tr key={v.version}>
                <td>v{v.version}</td>
                <td>{v.role}</td>
                <td className="num">{v.requests}</td>
                <td className="num">{v.errorRate === null ? '—' : `${(v.errorRate * 100).toFixed(2)}%`}</td>
                <td className="num">{v.p99Ms === null ? '—' : v.p99Ms.toFixed(1)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <h3>Decisions</h3>
      <ol className="decisions" data-testid="rollout-decisions">
        {[...s.decisions].reverse().map((dec) => (
          <li key={dec.id} className={dec.verdict === 'pass' ? 'pass' : dec.verdict === 'fail' ? 'fail' : ''}>
            <strong>{dec.kind}</strong> at step {dec.step + 1}
            {dec.verdict ? ` · ${dec.verdict}` : ''} · {dec.state} · <When iso={dec.at} /> · {dec.actor}
            <Checks details={dec.details} />
          </li>
        ))}
      </ol>
    </article>
  );
}

/** An analysis's checks: metric, the numbers, the threshold, the outcome. */
function Checks({ details }: { details: Record<string, unknown> }): JSX.Element | null {
  const analysis = details['analysis'] as { checks?: { metric: string; outcome: string; candidate?: number | null; stable?: number | null; reason?: string }[] } | undefined;
  if (!analysis?.checks?.length) return null;
  return (
    <ul className="small">
      {analysis.checks.map((c) => (
        <li key={c.metric}>
          {c.metric}: {c.outcome}
          {c.candidate !== undefined && c.candidate !== null ? ` (candidate ${Number(c.candidate.toPrecision(3))}${c.stable !== undefined && c.stable !== null ? `, stable ${Number(c.stable.toPrecision(3))}` : ''})` : ''}
          {c.reason ? ` · ${c.reason}` : ''}
        </li>
      ))}
    </ul>
  );
}

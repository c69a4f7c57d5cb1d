import { useEffect, useRef, useState, type JSX } from 'react';
import type { JobLogs, JobRecord, JobRequest, JobState } from '../../../sdk/types.js';
import { api, ApiError, path } from '../api.js';
import { fmt } from '../components/charts.js';
import { ConfirmButton } from '../components/confirm.js';
import { Badge, DetailHead, Empty, ErrorBox, Head, Loading, When } from '../components/common.js';
import { clock, elapsedMs, fileName, formatDuration, LogView, ProgressBar, ShortWhen, useLogFollower } from '../components/jobs-runs.js';
import { useApi } from '../hooks.js';
import { href } from '../router.js';
import { useSession, type Session } from '../session.js';
import './jobs.css';

/** A schedule as `GET /v1/schedules` answers it (src/jobs/schedules.ts ScheduleRecord; not in sdk/types.ts). */
interface ScheduleView {
  name: string;
  cron: string;
  timezone: string;
  /** the timetable in words: "at 02:00 every day" */
  description: string;
  missed: string;
  spec: JobRequest;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  actor: string;
  lastScheduledAt: string | null;
  nextAt: string;
  lastJob: number | null;
}

type JobLogLine = JobLogs['lines'][number];

const ACTIVE: readonly JobState[] = ['queued', 'running'];

function isActiveJob(j: { state: JobState }): boolean {
  return ACTIVE.includes(j.state);
}

function jobTone(state: JobState): 'good' | 'bad' | 'warn' | 'info' | 'plain' {
  return state === 'succeeded' ? 'good' : state === 'failed' ? 'bad' : state === 'cancelled' ? 'warn' : state === 'running' ? 'info' : 'plain';
}

/** A number the batch summary holds (it is free-form JSON), or null. */
function num(o: Record<string, unknown> | null, key: string): number | null {
  const v = o?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function str(o: Record<string, unknown> | null, key: string): string | null {
  const v = o?.[key];
  return typeof v === 'string' ? v : null;
}

/** Rows read so far and in all: the summary once it is done, the last progress report while it runs. */
function jobRows(j: JobRecord): { done: number | null; total: number | null } {
  const rowsIn = num(j.summary, 'rowsIn');
  if (rowsIn !== null) return { done: rowsIn, total: j.progress?.rowsTotal ?? (j.state === 'succeeded' ? rowsIn : null) };
  if (j.progress) return { done: j.progress.rowsDone, total: j.progress.rowsTotal };
  // queued, or started and not reported yet
  return { done: null, total: null };
}

function jobRowsPerSecond(j: JobRecord): number | null {
  return num(j.summary, 'rowsPerSecond') ?? j.progress?.rowsPerSecond ?? null;
}

/** Whether the session may steer jobs of `model` (predict or deploy on it; the server checks again). */
function canRunJobs(session: Session, ref: string): boolean {
  const model = ref.split('@')[0] ?? ref;
  return session.can('predict', model) || session.can('deploy', model);
}

function tone(state: JobState): 'plain' | 'good' | 'bad' {
  return state === 'succeeded' ? 'good' : state === 'failed' || state === 'cancelled' ? 'bad' : 'plain';
}

/**
 * Server batch jobs with their progress, and the schedules that submit them. Refreshed every 2 s
 * while a job is queued or running, every 15 s otherwise.
 */
export function Jobs(): JSX.Element {
  const [live, setLive] = useState(true);
  const jobs = useApi<{ jobs: JobRecord[] }>('/v1/jobs?limit=50', { mark: 'jobs', refreshMs: live ? 2000 : 15_000 });
  const schedules = useApi<{ schedules: ScheduleView[] }>('/v1/schedules', { mark: 'schedules', refreshMs: live ? 5000 : 15_000 });
  useEffect(() => {
    if (jobs.data) setLive(jobs.data.jobs.some(isActiveJob));
  }, [jobs.data]);
  const list = jobs.data?.jobs ?? [];
  const changed = (): void => {
    jobs.reload();
    schedules.reload();
  };
  return (
    <section aria-labelledby="jobs-title" className="jobs-page">
      <header className="page-head">
        <h1 id="jobs-title">Jobs</h1>
        {jobs.data ? (
          <span className="muted small" aria-live="polite">
            {list.filter((j) => j.state === 'running').length} running, {list.filter((j) => j.state === 'queued').length} queued
            {live ? ' · refreshing every 2 s' : ''}
          </span>
        ) : null}
      </header>
      {jobs.error ? <ErrorBox error={jobs.error} onRetry={jobs.reload} /> : null}
      {jobs.loading && !jobs.data ? <Loading what="jobs" /> : null}
      {jobs.data && list.length === 0 ? (
        <Empty>
          No jobs yet. Start one with <code>berth batch run --remote --model MODEL --input in.csv --output out.csv</code>, or
          on a timetable with <code>berth schedule create</code>.
        </Empty>
      ) : null}
      {list.length > 0 ? (
        <div className="table-wrap">
          <table className="table jobs-table stack" data-testid="jobs-table">
            <caption className="sr-only">The 50 newest jobs, newest first</caption>
            <Head cols={['Job', 'Kind', 'Model', 'State', 'Progress', 'Rows/s', 'Rejected', 'Started', 'Ended']} />
            <tbody>
              {list.map((j) => (
                <JobRow key={j.id} job={j} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}

      <h2 id="schedules-title">Schedules</h2>
      {schedules.error ? <ErrorBox error={schedules.error} onRetry={schedules.reload} /> : null}
      {schedules.loading && !schedules.data ? <Loading what="schedules" /> : null}
      {schedules.data && schedules.data.schedules.length === 0 ? (
        <Empty>
          No schedules. Create one with <code>berth schedule create nightly --cron "0 2 * * *" --model MODEL --input in.csv --output out.csv</code>.
        </Empty>
      ) : null}
      <div className="schedules" data-testid="schedules">
        {schedules.data?.schedules.map((s) => (
          <ScheduleCard key={s.name} schedule={s} live={live} onChange={changed} />
        ))}
      </div>
    </section>
  );
}

function JobRow({ job: j }: { job: JobRecord }): JSX.Element {
  const rows = jobRows(j);
  const rejected = num(j.summary, 'rejected');
  return (
    <tr data-job={j.id}>
      <td className="name-cell wide" data-label="Job">
        <a href={href('jobs', j.id)}>Job {j.id}</a>
        <div className="small muted wrap-anywhere" title={`${j.spec.input} → ${j.spec.output}`}>
          {fileName(j.spec.input)} → {fileName(j.spec.output)}
        </div>
        {j.schedule ? <div className="small muted wrap-anywhere">schedule {j.schedule}</div> : null}
      </td>
      <td data-label="Kind">{j.kind}</td>
      <td className="wrap-anywhere" data-label="Model">
        <a href={href('models', j.model, 'versions', j.version)}>
          {j.model}@{j.version}
        </a>
      </td>
      <td data-label="State">
        <Badge tone={jobTone(j.state)}>{j.state}</Badge>
        {j.cancelRequested && isActiveJob(j) ? <div className="small muted">cancelling…</div> : null}
      </td>
      <td className="progress-cell wide" data-label="Progress">
        <ProgressBar label={`Job ${j.id} progress`} done={rows.done} total={rows.total} tone={tone(j.state)} />
      </td>
      <td className="num" data-label="Rows/s">
        {fmtRate(jobRowsPerSecond(j))}
      </td>
      <td className="num" data-label="Rejected">
        {rejected === null ? '—' : rejected > 0 ? <strong className="rejected">{fmt(rejected)}</strong> : '0'}
      </td>
      <td data-label="Started">
        <ShortWhen iso={j.startedAt} />
      </td>
      <td data-label="Ended">
        <ShortWhen iso={j.finishedAt} />
      </td>
    </tr>
  );
}

function fmtRate(v: number | null): string {
  return v === null ? '—' : Math.round(v).toLocaleString();
}

/** A schedule: its timetable, next and last run, the buttons, and its recent jobs. */
function ScheduleCard({ schedule: s, live, onChange }: { schedule: ScheduleView; live: boolean; onChange: () => void }): JSX.Element {
  const session = useSession();
  const history = useApi<{ jobs: JobRecord[] }>(`/v1/jobs?schedule=${encodeURIComponent(s.name)}&limit=10`, { refreshMs: live ? 2000 : 15_000 });
  const first = useRef(true);
  const { reload } = history;
  useEffect(() => {
    // a run the list noticed (the timetable fired, or Run now): show it here too
    if (first.current) first.current = false;
    else reload();
  }, [s.lastJob, reload]);
  // the newest of its jobs: `lastJob` counts only the timetable's runs, not those of Run now
  const last = history.data?.jobs[0] ?? null;
  const lastId = last?.id ?? s.lastJob;
  const act = (what: 'run' | 'pause' | 'resume') => () => api(`/v1/schedules/${path(s.name)}/${what}`, { method: 'POST', body: {} });
  const done = (): void => {
    onChange();
    history.reload();
  };
  const can = canRunJobs(session, s.spec.model);
  return (
    <article className="panel schedule" aria-labelledby={`schedule-${s.name}`} data-schedule={s.name}>
      <header className="schedule-head">
        <h3 id={`schedule-${s.name}`} className="wrap-anywhere">
          {s.name}
        </h3>
        <Badge tone={s.enabled ? 'good' : 'warn'}>{s.enabled ? 'active' : 'paused'}</Badge>
      </header>
      <dl className="facts">
        <dt>when</dt>
        <dd>
          <code>{s.cron}</code> <span className="muted">({s.description}, {s.timezone})</span>
        </dd>
        <dt>next run</dt>
        <dd>{s.enabled ? <When iso={s.nextAt} /> : <span className="muted">paused (would be <When iso={s.nextAt} />)</span>}</dd>
        <dt>last run</dt>
        <dd data-testid="schedule-last">
          {lastId === null ? (
            <span className="muted">never</span>
          ) : (
            <>
              <a href={href('jobs', lastId)}>Job {lastId}</a> {last ? <Badge tone={jobTone(last.state)}>{last.state}</Badge> : null}
              {last ? <span className="muted small"> {scheduledText(last)}</span> : null}
            </>
          )}
        </dd>
        <dt>job</dt>
        <dd className="wrap-anywhere">
          {s.spec.model}: {s.spec.input} → {s.spec.output}
          {s.spec.onError === 'skip' ? <span className="muted"> (bad rows set aside)</span> : null}
        </dd>
        <dt>missed runs</dt>
        <dd>{s.missed}</dd>
      </dl>
      {can ? (
        <div className="actions" data-testid="schedule-actions">
          <ConfirmButton label="Run now" question={`Submit ${s.name}'s job now, outside its timetable? It scores ${s.spec.model} over ${s.spec.input} into ${s.spec.output}.`} run={act('run')} onDone={done} />
          {s.enabled ? (
            <ConfirmButton label="Pause" question={`Pause ${s.name}? It submits nothing until someone resumes it.`} run={act('pause')} onDone={done} />
          ) : (
            <ConfirmButton label="Resume" question={`Resume ${s.name}? Its next run is at its next cron instant; runs missed while paused are not made up.`} run={act('resume')} onDone={done} />
          )}
        </div>
      ) : (
        <p className="muted small">Your token cannot run or pause this schedule (it needs predict:{s.spec.model.split('@')[0]}).</p>
      )}
      <details className="history" open={lastId !== null}>
        <summary>History{history.data ? ` (${history.data.jobs.length === 10 ? 'the last 10 runs' : history.data.jobs.length === 1 ? '1 run' : `${history.data.jobs.length} runs`})` : ''}</summary>
        {history.error ? <ErrorBox error={history.error} onRetry={history.reload} /> : null}
        {history.data && history.data.jobs.length === 0 ? <p className="muted small">No runs yet.</p> : null}
        {history.data && history.data.jobs.length > 0 ? (
          <div className="table-wrap">
            <table className="table compact stack" data-testid="schedule-history">
              <Head cols={['Job', 'For', 'State', 'Rows', 'Rejected', 'Took']} />
              <tbody>
                {history.data.jobs.map((j) => (
                  <tr key={j.id}>
                    <td data-label="Job">
                      <a href={href('jobs', j.id)}>Job {j.id}</a>
                    </td>
                    <td className="wrap-anywhere" data-label="For">
                      {scheduledText(j)}
                    </td>
                    <td data-label="State">
                      <Badge tone={jobTone(j.state)}>{j.state}</Badge>
                    </td>
                    <td className="num" data-label="Rows">
                      {fmtOpt(jobRows(j).done)}
                    </td>
                    <td className="num" data-label="Rejected">
                      {fmtOpt(num(j.summary, 'rejected'))}
                    </td>
                    <td className="num" data-label="Took">
                      {formatDuration(elapsedMs(j.startedAt, j.finishedAt))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </details>
    </article>
  );
}

/** Why a schedule's job ran: its timetable's instant, or someone's Run now. */
function scheduledText(j: JobRecord): JSX.Element {
  if (j.actor.startsWith('schedule:') && j.scheduledAt) {
    return (
      <>
        for <When iso={j.scheduledAt} />
      </>
    );
  }
  return <>run now by {j.actor}</>;
}

/** One job: what it reads and writes, how far it got, its outcome and its log; Cancel while it runs. */
export function Job({ id }: { id: string }): JSX.Element {
  const valid = /^[0-9]{1,15}$/.test(id);
  const session = useSession();
  const [live, setLive] = useState(true);
  const job = useApi<JobRecord>(valid ? `/v1/jobs/${id}` : null, { mark: 'job', ...(live ? { refreshMs: 1000 } : {}) });
  const logs = useLogFollower<JobLogLine>(valid ? `/v1/jobs/${id}/logs?` : null);
  const j = job.data;
  useEffect(() => {
    if (j) setLive(isActiveJob(j));
  }, [j]);
  const title = `Job ${id}`;
  if (!valid) {
    return (
      <section aria-labelledby="job-title">
        <DetailHead section="Jobs" sectionHref={href('jobs')} name={title} titleId="job-title" />
        <ErrorBox error={new ApiError(400, 'INVALID_ARGUMENT', `job id: expected a whole number, got ${JSON.stringify(id)}`)} />
      </section>
    );
  }
  const rows = j ? jobRows(j) : { done: null, total: null };
  const rejected = j ? num(j.summary, 'rejected') : null;
  const rejectedAt = j ? str(j.summary, 'rejectedOutput') : null;
  const running = j !== null && isActiveJob(j);
  return (
    <section aria-labelledby="job-title" className="jobs-page">
      <DetailHead section="Jobs" sectionHref={href('jobs')} name={title} titleId="job-title">
        {j ? <Badge tone={jobTone(j.state)}>{j.state}</Badge> : null}
        {j ? <span className="muted">{j.kind}</span> : null}
      </DetailHead>
      {job.error ? <ErrorBox error={job.error} onRetry={job.reload} /> : null}
      {job.loading && !j ? <Loading what="the job" /> : null}
      {j ? (
        <>
          <div className="job-progress" data-testid="job-progress">
            <ProgressBar label={`${title} progress`} done={rows.done} total={rows.total} tone={tone(j.state)} />
            <dl className="stats">
              <div>
                <dt>rows/s</dt>
                <dd className="num" data-testid="job-rate">
                  {fmtRate(jobRowsPerSecond(j))}
                </dd>
              </div>
              <div>
                <dt>{running ? 'running for' : 'took'}</dt>
                <dd className="num">{formatDuration(elapsedMs(j.startedAt, j.finishedAt))}</dd>
              </div>
              <div>
                <dt>rejected rows</dt>
                <dd className="num" data-testid="job-rejected">
                  {rejected === null ? '—' : fmt(rejected)}
                </dd>
              </div>
              <div>
                <dt>attempts</dt>
                <dd className="num">{j.attempts}</dd>
              </div>
            </dl>
          </div>
          {running && canRunJobs(session, j.model) ? (
            <div className="actions" data-testid="job-actions">
              {j.cancelRequested ? (
                <p className="muted">Cancel requested: the job stops after the batch in hand; its finished parts stay for a resume.</p>
              ) : (
                <ConfirmButton
                  label="Cancel job"
                  danger
                  question={j.state === 'queued' ? `Cancel job ${j.id}? It has not started, so nothing is written.` : `Cancel job ${j.id}? It stops after the batch in hand; no output file is written, and the finished parts stay so the same job resumes from them.`}
                  run={() => api(`/v1/jobs/${j.id}/cancel`, { method: 'POST', body: {} })}
                  onDone={job.reload}
                />
              )}
            </div>
          ) : null}
          {j.state === 'failed' && j.error ? (
            <div className="error" role="alert" data-testid="job-error">
              <strong>{j.error.code}</strong>
              <span className="wrap-anywhere">{j.error.message}</span>
            </div>
          ) : null}
          {j.state === 'cancelled' ? <p className="muted">Cancelled{j.error ? `: ${j.error.message}` : ''}.</p> : null}
          <div className="grid-2">
            <div>
              <h2>Job</h2>
              <dl className="facts" data-testid="job-facts">
                <dt>model</dt>
                <dd className="wrap-anywhere">
                  <a href={href('models', j.model, 'versions', j.version)}>
                    {j.model}@{j.version}
                  </a>
                  {j.ref !== `${j.model}@${j.version}` ? <span className="muted"> (asked for {j.ref})</span> : null}
                </dd>
                <dt>input</dt>
                <dd className="wrap-anywhere">
                  <code>{j.spec.input}</code>
                  {j.spec.inputFormat ? <span className="muted"> ({j.spec.inputFormat})</span> : null}
                  {j.spec.query ? (
                    <div>
                      <code className="small">{j.spec.query}</code>
                    </div>
                  ) : null}
                </dd>
                <dt>output</dt>
                <dd className="wrap-anywhere">
                  <code>{j.spec.output}</code>
                  {j.spec.format ? <span className="muted"> ({j.spec.format})</span> : null}
                  {j.spec.ifExists ? <span className="muted"> · if it exists: {j.spec.ifExists}</span> : null}
                </dd>
                <dt>options</dt>
                <dd className="wrap-anywhere" data-testid="job-options">
                  {options(j.spec)}
                </dd>
                <dt>submitted</dt>
                <dd className="wrap-anywhere">
                  by {j.actor}, <When iso={j.createdAt} />
                </dd>
                {j.schedule ? (
                  <>
                    <dt>schedule</dt>
                    <dd className="wrap-anywhere">
                      <a href={href('jobs')}>{j.schedule}</a> <span className="muted">({scheduledText(j)})</span>
                    </dd>
                  </>
                ) : null}
                <dt>started</dt>
                <dd>
                  <When iso={j.startedAt} />
                  {j.holder && running ? <span className="muted small wrap-anywhere"> on {j.holder}</span> : null}
                </dd>
                <dt>ended</dt>
                <dd>
                  <When iso={j.finishedAt} />
                </dd>
              </dl>
            </div>
            <div>
              <h2>Result</h2>
              {j.summary ? (
                <dl className="facts" data-testid="job-summary">
                  <dt>rows in</dt>
                  <dd>{fmtOpt(num(j.summary, 'rowsIn'))}</dd>
                  <dt>rows out</dt>
                  <dd>{fmtOpt(num(j.summary, 'rowsOut'))}</dd>
                  <dt>rejected</dt>
                  <dd className="wrap-anywhere">
                    {fmtOpt(rejected)}
                    {rejected !== null && rejected > 0 ? (
                      <>
                        {' '}
                        rows, written to <code data-testid="job-rejected-file">{rejectedAt ?? `${j.spec.output}.rejected.jsonl`}</code>
                      </>
                    ) : null}
                  </dd>
                  <dt>output</dt>
                  <dd className="wrap-anywhere">
                    <code>{str(j.summary, 'output') ?? j.spec.output}</code>
                    {num(j.summary, 'parts') !== null ? <span className="muted"> ({plural(num(j.summary, 'parts')!, 'part')}{j.summary['resumed'] === true ? ', resumed from an earlier run' : ''})</span> : null}
                  </dd>
                  <dt>scoring time</dt>
                  <dd>
                    {formatDuration(num(j.summary, 'seconds') === null ? null : num(j.summary, 'seconds')! * 1000)}, {fmtRate(num(j.summary, 'rowsPerSecond'))} rows/s
                  </dd>
                </dl>
              ) : (
                <p className="muted">{running ? 'The summary comes when the job ends.' : 'No summary: the job ended before it finished.'}</p>
              )}
            </div>
          </div>
        </>
      ) : null}
      <h2>Log</h2>
      {logs.error ? <ErrorBox error={logs.error} /> : null}
      <LogView
        label={`${title} log`}
        testId="job-log"
        empty={logs.done ? 'No lines.' : 'Waiting for lines…'}
        lines={logs.lines.map((l) => ({ key: l.seq, text: `${clock(l.at)}  ${l.message}`, ...(l.level === 'info' ? {} : { tone: l.level === 'warn' ? ('warn' as const) : ('error' as const) }) }))}
      />
    </section>
  );
}

function plural(n: number, what: string): string {
  return `${fmt(n)} ${what}${n === 1 ? '' : 's'}`;
}

function fmtOpt(v: number | null): string {
  return v === null ? '—' : fmt(v);
}

/** The options a job was submitted with, in words (defaults named as such). */
function options(spec: JobRequest): string {
  const parts = [
    spec.onError === 'skip' ? 'bad rows set aside (on error: skip)' : 'stop at the first bad row (on error: fail)',
    `${(spec.batchRows ?? 1024).toLocaleString()} rows per runtime call${spec.batchRows === undefined ? ' (default)' : ''}`,
    `${(spec.partRows ?? 100_000).toLocaleString()} rows per part${spec.partRows === undefined ? ' (default)' : ''}`,
    spec.key === undefined ? 'key: the input columns that are not features' : spec.key.length === 0 ? 'no key columns' : `key: ${spec.key.join(', ')}`,
  ];
  return parts.join(' · ');
}

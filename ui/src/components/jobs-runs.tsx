import { useEffect, useLayoutEffect, useRef, useState, type JSX, type ReactNode } from 'react';
import { api, ApiError } from '../api.js';
import { fmt } from './charts.js';
import { DATE_TIME, TIME_OF_DAY } from './common.js';
import './jobs-runs.css';

/**
 * What the Jobs and Runs pages share: a progress bar, a chart of a metric over training steps, a
 * log that follows a running job or run, and how durations are written.
 */

/** Rows done out of a total; without a total (a CSV being read), an indeterminate bar with the count. */
export function ProgressBar({ done, total, label, tone = 'plain' }: { done: number | null; total: number | null; label: string; tone?: 'plain' | 'good' | 'bad' }): JSX.Element {
  const known = done !== null && total !== null && total > 0;
  const pct = known ? Math.min(100, (100 * done) / total) : null;
  const text = done === null ? 'no rows yet' : known ? `${fmt(done)} of ${fmt(total)} rows (${pct! >= 99.95 || pct! < 0.05 ? pct!.toFixed(0) : pct!.toFixed(1)}%)` : `${fmt(done)} rows`;
  return (
    <div className={`progress-bar progress-${tone}`}>
      <div
        className={known ? 'progress-track' : 'progress-track indeterminate'}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        {...(known ? { 'aria-valuemax': total, 'aria-valuenow': done } : {})}
        aria-valuetext={text}
      >
        <span className="progress-fill" style={{ width: pct === null ? undefined : `${pct}%` }} />
      </div>
      <span className="progress-text small">{text}</span>
    </div>
  );
}

export interface CurveSeries {
  name: string;
  color: string;
  /** x: the training step (epoch) */
  points: { x: number; y: number }[];
}

export const SERIES_COLORS = ['#1f6feb', '#bf8700', '#8250df', '#1a7f37', '#cf222e', '#0a7d8c', '#6e7781'];

/** A metric over training steps, one line per series (a run, or one run's metric), on its own value range. */
export function MetricChart({ title, series, height = 160 }: { title: string; series: CurveSeries[]; height?: number }): JSX.Element {
  const width = 600;
  const pad = { l: 52, r: 10, t: 10, b: 22 };
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  // a flat curve gets a visible range around its value instead of a division by zero
  if (y1 - y0 < 1e-12) {
    const d = Math.abs(y0) > 0 ? Math.abs(y0) * 0.1 : 1;
    y0 -= d;
    y1 += d;
  } else {
    const d = (y1 - y0) * 0.08;
    y0 -= d;
    y1 += d;
  }
  const x = (v: number): number => pad.l + (x1 === x0 ? 0.5 : (v - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const y = (v: number): number => pad.t + (1 - (v - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  const ticks = [y0, (y0 + y1) / 2, y1];
  const summary = series
    .map((s) => {
      const last = s.points[s.points.length - 1];
      return last ? `${s.name} ${tickText(last.y)} at step ${last.x}` : `${s.name} no values`;
    })
    .join('; ');
  return (
    <figure className="chart metric-chart">
      <figcaption className="wrap-anywhere">{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}, last values: ${summary}`} preserveAspectRatio="none">
        {ticks.map((t, i) => (
          <g key={i}>
            <line x1={pad.l} x2={width - pad.r} y1={y(t)} y2={y(t)} className="grid" />
            <text x={pad.l - 4} y={y(t) + 4} textAnchor="end" className="tick">
              {tickText(t)}
            </text>
          </g>
        ))}
        <text x={pad.l} y={height - 5} className="tick">
          step {x0}
        </text>
        <text x={width - pad.r} y={height - 5} textAnchor="end" className="tick">
          step {x1}
        </text>
        {series.map((s) => (
          <g key={s.name}>
            {s.points.length > 1 ? <polyline fill="none" stroke={s.color} strokeWidth={1.8} vectorEffect="non-scaling-stroke" points={s.points.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ')} /> : null}
            {s.points.map((p) => (
              <circle key={p.x} cx={x(p.x)} cy={y(p.y)} r={s.points.length > 1 ? 2.2 : 3.5} fill={s.color}>
                <title>{`${s.name}, step ${p.x}: ${p.y}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <ul className="legend">
        {series.map((s) => {
          const last = s.points[s.points.length - 1];
          return (
            <li key={s.name}>
              <span className="swatch" style={{ background: s.color }} /> {s.name}
              {last ? <span className="muted"> · {tickText(last.y)}</span> : null}
            </li>
          );
        })}
      </ul>
    </figure>
  );
}

/** A metric's value with enough digits to tell close values apart (0.8645 vs 0.8640). */
export function metricText(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (Number.isInteger(v)) return v.toLocaleString();
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(1);
  if (a >= 1) return Number(v.toFixed(4)).toString();
  return Number(v.toPrecision(4)).toString();
}

function tickText(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/** `0.4 s`, `12 s`, `3 min 4 s`, `1 h 2 min`. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '—';
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** From `start` to `end`, or to now while it goes on. */
export function elapsedMs(start: string | null, end: string | null, now = Date.now()): number | null {
  if (!start) return null;
  return (end ? Date.parse(end) : now) - Date.parse(start);
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const PAGE = 1000;

/**
 * Every line of a job's or run's log, read page by page with `after=`, and followed every second
 * while the server says it is not over (`base` ends with `?` or `&`). A new `base` starts over.
 */
export function useLogFollower<L extends { seq: number }>(base: string | null): { lines: L[]; error: Error | null; done: boolean } {
  const [lines, setLines] = useState<L[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const [done, setDone] = useState(false);
  useEffect(() => {
    setLines([]);
    setError(null);
    setDone(false);
    if (base === null) return;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let after = 0;
    const tick = async (): Promise<void> => {
      try {
        for (;;) {
          const r = await api<{ lines: L[]; next: number; state: string }>(`${base}after=${after}&limit=${PAGE}`, { signal: ctl.signal });
          if (ctl.signal.aborted) return;
          if (r.lines.length > 0) {
            after = r.next;
            setLines((prev) => [...prev, ...r.lines]);
          }
          setError(null);
          if (r.lines.length < PAGE) {
            // the state is read before the lines: once it is final, every line has been read
            if (FINAL.has(r.state)) {
              setDone(true);
              return;
            }
            break;
          }
        }
        timer = setTimeout(() => void tick(), 1000);
      } catch (err) {
        if (ctl.signal.aborted) return;
        setError(err instanceof Error ? err : new Error(String(err)));
        if (!(err instanceof ApiError && err.status >= 400 && err.status < 500)) timer = setTimeout(() => void tick(), 3000);
      }
    };
    void tick();
    return () => {
      ctl.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [base]);
  return { lines, error, done };
}

const SHOWN = 5000;

/**
 * A scrollable log that keeps to its end while lines arrive, unless the reader scrolled up. It is
 * focusable, so the keyboard scrolls it too.
 */
export function LogView({ label, lines, empty, testId }: { label: string; lines: { key: number; text: ReactNode; tone?: 'warn' | 'error' | 'note' }[]; empty: string; testId?: string }): JSX.Element {
  const ref = useRef<HTMLPreElement>(null);
  const atEnd = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atEnd.current) el.scrollTop = el.scrollHeight;
  }, [lines]);
  const shown = lines.length > SHOWN ? lines.slice(-SHOWN) : lines;
  return (
    <>
      {lines.length > SHOWN ? <p className="muted small">The last {SHOWN.toLocaleString()} of {lines.length.toLocaleString()} lines.</p> : null}
      <pre
        ref={ref}
        className="log-view"
        tabIndex={0}
        aria-label={label}
        data-testid={testId}
        onScroll={(e) => {
          const el = e.currentTarget;
          atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {shown.length === 0 ? <span className="muted">{empty}</span> : null}
        {shown.map((l) => (
          <span key={l.key} className={l.tone ? `log-line log-${l.tone}` : 'log-line'}>
            {l.text}
            {'\n'}
          </span>
        ))}
      </pre>
    </>
  );
}

/** A time, short: the time of day when it is today, else the date too; the ISO string on hover. */
export function ShortWhen({ iso }: { iso: string | null | undefined }): JSX.Element {
  if (!iso) return <span className="muted">—</span>;
  const d = new Date(iso);
  const today = d.toDateString() === new Date().toDateString();
  return (
    <time dateTime={iso} title={iso}>
      {today ? TIME_OF_DAY.format(d) : DATE_TIME.format(d)}
    </time>
  );
}

/** The last part of a file path (a URL or a database is shown whole). */
export function fileName(p: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(p) && !/^[a-z]:[\\/]/i.test(p)) return p;
  return p.split(/[\\/]/).filter((x) => x !== '').pop() ?? p;
}

/** `HH:MM:SS` of an ISO time, for log lines. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : LOG_TIME.format(d);
}

// built once, like the shared ones in common.tsx
const LOG_TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

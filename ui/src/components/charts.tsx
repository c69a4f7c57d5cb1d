import type { JSX } from 'react';

/**
 * Small SVG charts of our own (no chart library: every kilobyte counts). Each has a text
 * alternative for screen readers and a title per point for the mouse.
 */
export interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

export function LineChart({ title, times, series, unit, height = 140, floor = 1 }: { title: string; times: string[]; series: Series[]; unit: string; height?: number; floor?: number }): JSX.Element {
  const width = 600;
  const pad = { l: 44, r: 8, t: 8, b: 20 };
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  // an idle chart keeps a readable scale (0 to `floor`) instead of magnifying zero
  const max = Math.max(floor, ...all) * 1.1;
  const x = (i: number): number => pad.l + (i / Math.max(1, times.length - 1)) * (width - pad.l - pad.r);
  const y = (v: number): number => pad.t + (1 - v / max) * (height - pad.t - pad.b);
  const last = series.map((s) => `${s.name} ${fmt([...s.values].reverse().find((v) => v !== null) ?? null)}${unit}`).join(', ');
  const peak = series.map((s) => `${s.name} ${fmt(Math.max(0, ...s.values.filter((v): v is number => v !== null)))}${unit}`).join(', ');
  const ticks = [0, max / 2, max / 1.1];
  return (
    <figure className="chart">
      <figcaption>
        {title} <span className="muted small">(latest: {last})</span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}; latest ${last}; peak ${peak}`} preserveAspectRatio="none">
        {ticks.map((t) => (
          <g key={t}>
            <line x1={pad.l} x2={width - pad.r} y1={y(t)} y2={y(t)} className="grid" />
            <text x={pad.l - 4} y={y(t) + 4} textAnchor="end" className="tick">
              {fmt(t)}
            </text>
          </g>
        ))}
        {times.length > 0 ? (
          <>
            <text x={pad.l} y={height - 4} className="tick">
              {new Date(times[0]!).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}
            </text>
            <text x={width - pad.r} y={height - 4} textAnchor="end" className="tick">
              {new Date(times[times.length - 1]!).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}
            </text>
          </>
        ) : null}
        {series.map((s) => (
          <g key={s.name}>
            <polyline
              fill="none"
              stroke={s.color}
              strokeWidth={1.6}
              vectorEffect="non-scaling-stroke"
              points={s.values.map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter((p) => p !== null).join(' ')}
            />
            {/* a value with no neighbour (traffic in one bucket only) would draw no line: mark it */}
            {s.values.map((v, i) =>
              v !== null && (s.values[i - 1] ?? null) === null && (s.values[i + 1] ?? null) === null ? <circle key={i} cx={x(i)} cy={y(v)} r={3} fill={s.color} /> : null,
            )}
          </g>
        ))}
      </svg>
      <ul className="legend">
        {series.map((s) => (
          <li key={s.name}>
            <span className="swatch" style={{ background: s.color }} /> {s.name}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** Horizontal bars: label, value and a bar scaled to the largest. */
export function Bars({ title, rows, unit = '' }: { title: string; rows: { label: string; value: number }[]; unit?: string }): JSX.Element {
  const max = Math.max(1e-9, ...rows.map((r) => r.value));
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <table className="bars">
        <tbody>
          {rows.map((r) => (
            <tr key={r.label}>
              <th scope="row">{r.label}</th>
              <td className="bar-cell">
                <span className="bar" style={{ width: `${(r.value / max) * 100}%` }} />
              </td>
              <td className="num">
                {fmt(r.value)}
                {unit}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/** Who gets what share of the traffic, as one stacked bar with a legend. */
export function TrafficSplit({ arms, compact = false }: { arms: { label: string; percent: number; kind: 'target' | 'split' | 'shadow' | 'preview' }[]; compact?: boolean }): JSX.Element {
  // white labels on each: every colour keeps a contrast of 4.5:1 or more
  const colors = ['#0969da', '#8a5a00', '#8250df', '#1a7f37', '#cf222e'];
  const live = arms.filter((a) => a.kind === 'target' || a.kind === 'split');
  const extra = arms.filter((a) => a.kind === 'shadow' || a.kind === 'preview');
  return (
    <figure className={compact ? 'chart compact' : 'chart'} data-testid="traffic-split">
      {compact ? null : <figcaption>Traffic</figcaption>}
      <div className="split" role="img" aria-label={live.map((a) => `${a.label} ${a.percent}%`).join(', ')}>
        {live.map((a, i) => (
          <span key={a.label} style={{ width: `${a.percent}%`, background: colors[i % colors.length] }} title={`${a.label}: ${a.percent}%`}>
            {a.percent >= 12 ? `${a.label} ${a.percent}%` : ''}
          </span>
        ))}
      </div>
      <ul className={compact ? 'legend sr-only' : 'legend'}>
        {live.map((a, i) => (
          <li key={a.label}>
            <span className="swatch" style={{ background: colors[i % colors.length] }} /> {a.label}: {a.percent}%
          </li>
        ))}
        {extra.map((a) => (
          <li key={a.label} className="muted">
            {a.kind === 'shadow' ? `${a.label} gets a copy of ${a.percent}% (shadow; answers not returned)` : `${a.label} answers the preview route`}
          </li>
        ))}
      </ul>
    </figure>
  );
}

export function fmt(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  if (Number.isInteger(v)) return v.toLocaleString();
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString();
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return Number(v.toPrecision(2)).toString();
}

import type { JSX, ReactNode } from 'react';

/**
 * Two distributions on the same bins, drawn over each other: the first as filled bars, the second
 * as a translucent fill with an outline, so both stay visible where they overlap. One series alone
 * works too. Each bin has a title for the mouse; the figure has a text alternative and a table for
 * screen readers.
 *
 * @example
 * <HistogramOverlay title="age" labels={['[18, 30)', '[30, 42)']} series={[{ name: 'version 1', shares: [0.6, 0.4] }, { name: 'version 2', shares: [0.5, 0.5] }]} />
 */
export interface OverlaySeries {
  name: string;
  /** each bin's share (they sum to 1) */
  shares: number[];
}

/** the two series' colours (the first filled, the second outlined) */
export const OVERLAY_COLORS = ['#1f6feb', '#d1580b'] as const;

export function HistogramOverlay({ title, labels, series, note, axis, testId, large = false }: { title: ReactNode; labels: string[]; series: OverlaySeries[]; note?: ReactNode; axis?: [string, string]; testId?: string; large?: boolean }): JSX.Element {
  const width = 300;
  const height = 110;
  const pad = { l: 4, r: 4, t: 6, b: 4 };
  const n = Math.max(1, labels.length);
  const max = Math.max(1e-9, ...series.flatMap((s) => s.shares));
  const bw = (width - pad.l - pad.r) / n;
  const y = (v: number): number => pad.t + (1 - v / max) * (height - pad.t - pad.b);
  const pct = (v: number | undefined): string => (v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
  const alt = `${typeof title === 'string' ? `${title}: ` : ''}${series.map((s) => `${s.name} peaks at ${labels[argmax(s.shares)] ?? '—'} (${pct(Math.max(0, ...s.shares))})`).join('; ')}`;
  return (
    <figure className={large ? 'chart hist-overlay large' : 'chart hist-overlay'} data-testid={testId}>
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={alt} preserveAspectRatio="none">
        {series.map((s, si) => (
          <g key={s.name} data-series={si === 0 ? 'a' : 'b'} data-name={s.name}>
            {s.shares.map((v, i) =>
              v > 0 ? (
                <rect
                  key={i}
                  x={pad.l + i * bw + (si === 0 ? 1 : 0.5)}
                  width={Math.max(0.5, bw - (si === 0 ? 2 : 1))}
                  y={y(v)}
                  height={height - pad.b - y(v)}
                  fill={OVERLAY_COLORS[si % 2]}
                  fillOpacity={si === 0 ? 0.55 : 0.18}
                  stroke={si === 0 ? 'none' : OVERLAY_COLORS[1]}
                  strokeWidth={si === 0 ? 0 : 1.5}
                  vectorEffect="non-scaling-stroke"
                >
                  <title>{`${labels[i] ?? ''}: ${series.map((x) => `${x.name} ${pct(x.shares[i])}`).join(', ')}`}</title>
                </rect>
              ) : null,
            )}
          </g>
        ))}
      </svg>
      {axis ? (
        <div className="hist-axis muted small" aria-hidden="true">
          <span>{axis[0]}</span>
          <span>{axis[1]}</span>
        </div>
      ) : null}
      <ul className="legend">
        {series.map((s, si) => (
          <li key={s.name}>
            <span className="swatch" style={si === 0 ? { background: OVERLAY_COLORS[0], opacity: 0.7 } : { border: `2px solid ${OVERLAY_COLORS[1]}`, background: 'transparent' }} /> {s.name}
          </li>
        ))}
        {note ? <li className="muted">{note}</li> : null}
      </ul>
      {/* a table ignores width and overflow: the wrapper hides it */}
      <div className="sr-only">
        <table>
          <caption>{alt}</caption>
          <thead>
            <tr>
              <th scope="col">bin</th>
              {series.map((s) => (
                <th key={s.name} scope="col">
                  {s.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {labels.map((l, i) => (
              <tr key={l + String(i)}>
                <th scope="row">{l}</th>
                {series.map((s) => (
                  <td key={s.name}>{pct(s.shares[i])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

import type { JSX } from 'react';

export interface HeatCell {
  /** 0 … 1: how close to (or past, at 1) the line the cell is; null = no data */
  level: number | null;
  /** what the cell means, for the mouse and screen readers */
  text: string;
}

export interface HeatRow {
  key: string;
  label: string;
  cells: HeatCell[];
}

/**
 * A heatmap as a table: a row per series (a feature), a column per time bucket, each cell coloured by
 * its level and described in words, so it reads with a screen reader and scrolls sideways on a phone.
 * Row labels are buttons when `onPick` is given (pick the feature to draw below).
 */
export function Heatmap({ caption, columns, rows, picked, onPick }: { caption: string; columns: string[]; rows: HeatRow[]; picked?: string | null; onPick?: (key: string) => void }): JSX.Element {
  return (
    <div className="table-wrap heatmap-wrap">
      <table className="heatmap" data-testid="heatmap">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col" className="heat-label">
              feature
            </th>
            {columns.map((c, i) => (
              <th key={i} scope="col" className="heat-time" title={c}>
                <span className="sr-only">{c}</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} aria-current={picked === r.key ? 'true' : undefined}>
              <th scope="row" className="heat-label">
                {onPick ? (
                  <button type="button" className="linkish" onClick={() => onPick(r.key)} aria-pressed={picked === r.key}>
                    {r.label}
                  </button>
                ) : (
                  r.label
                )}
              </th>
              {r.cells.map((c, i) => (
                <td key={i} className="heat-cell" style={{ background: heatColor(c.level) }} title={c.text} aria-label={c.text} data-level={c.level === null ? 'none' : c.level >= 1 ? 'drift' : 'ok'} />
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {columns.length > 0 ? (
        <p className="heat-axis small muted" aria-hidden="true">
          <span>{columns[0]}</span>
          <span>→</span>
          <span>{columns[columns.length - 1]}</span>
        </p>
      ) : null}
      <p className="legend small">
        <span className="swatch" style={{ background: heatColor(0) }} /> far from the threshold <span className="swatch" style={{ background: heatColor(0.7) }} /> close{' '}
        <span className="swatch" style={{ background: heatColor(1) }} /> drifted <span className="swatch" style={{ background: heatColor(null) }} /> no traffic
      </p>
    </div>
  );
}

/** Pale green through amber to red; grey for no data. */
export function heatColor(level: number | null): string {
  if (level === null) return 'var(--panel)';
  if (level >= 1) return '#cf222e';
  const l = Math.max(0, level);
  // hue 130 (green) → 40 (amber) as the level rises
  const hue = 130 - 90 * l;
  return `hsl(${hue.toFixed(0)} 60% ${(85 - 25 * l).toFixed(0)}%)`;
}

import type { JSX } from 'react';
import './contributions.css';

/** One feature's share of one prediction, as `POST …/explain` answers it. */
export interface Contribution {
  feature: string;
  value: number | string | boolean | null;
  contribution: number;
  standard_error?: number;
  /** LIME: the row's bin of the feature */
  condition?: string;
}

/**
 * A signed horizontal bar chart of an explanation: one row per feature, largest |contribution|
 * first, bars to the right (raising the prediction) in one colour and to the left (lowering it) in
 * another, from a shared zero line. The `top` largest are drawn and the rest are summed into one
 * row, so the bars still add up to prediction − base value, which the caption states.
 *
 * @example
 * <ContributionChart title="Why repaid" contributions={e.contributions} baseValue={e.base_value} prediction={e.prediction} top={10} />
 */
export function ContributionChart({
  title,
  contributions,
  baseValue,
  prediction,
  top = 10,
  unitNote,
}: {
  title: string;
  contributions: readonly Contribution[];
  baseValue: number;
  prediction: number;
  top?: number;
  /** what the numbers are in (e.g. "probability of repaid", "log-odds") */
  unitNote?: string;
}): JSX.Element {
  const sorted = [...contributions].sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
  const shown = sorted.slice(0, Math.max(1, top));
  const rest = sorted.slice(shown.length);
  const restSum = rest.reduce((s, c) => s + c.contribution, 0);
  const total = sorted.reduce((s, c) => s + c.contribution, 0);
  const max = Math.max(1e-12, ...shown.map((c) => Math.abs(c.contribution)), Math.abs(restSum));
  const gap = baseValue + total - prediction;
  const addsUp = Math.abs(gap) <= 1e-6 * Math.max(1, Math.abs(prediction));
  const up = shown.filter((c) => c.contribution > 0).length;
  const label = `${title}: base value ${signless(baseValue)}, ${shown.length} largest of ${sorted.length} features, ${up} raising and ${shown.length - up} lowering the prediction ${signless(prediction)}`;
  return (
    <figure className="chart contributions" data-testid="explanation-chart" aria-label={label}>
      <figcaption>
        {title}
        {unitNote ? <span className="muted small"> ({unitNote})</span> : null}
      </figcaption>
      <table className="contrib">
        <thead className="sr-only">
          <tr>
            <th scope="col">feature = value</th>
            <th scope="col">bar</th>
            <th scope="col">contribution</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((c) => (
            <tr key={c.feature} data-feature={c.feature} data-contribution={String(c.contribution)}>
              <th scope="row">
                <span className="contrib-name">{breakable(c.feature)}</span>
                <span className="contrib-value"> = {valueText(c.value)}</span>
                {c.condition ? <span className="contrib-value"> ({c.condition})</span> : null}
              </th>
              <td className="contrib-cell" aria-hidden="true">
                <Bar value={c.contribution} max={max} />
              </td>
              <td className="num" title={c.standard_error !== undefined ? `± ${signless(c.standard_error)} (standard error)` : undefined}>
                {signed(c.contribution)}
              </td>
            </tr>
          ))}
          {rest.length > 0 ? (
            <tr className="contrib-rest" data-feature="(rest)" data-contribution={String(restSum)}>
              <th scope="row">
                <span className="contrib-name">
                  {rest.length} other feature{rest.length === 1 ? '' : 's'}
                </span>
                <span className="contrib-value"> together</span>
              </th>
              <td className="contrib-cell" aria-hidden="true">
                <Bar value={restSum} max={max} />
              </td>
              <td className="num">{signed(restSum)}</td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <ul className="legend">
        <li>
          <span className="swatch contrib-pos-swatch" /> raises the prediction
        </li>
        <li>
          <span className="swatch contrib-neg-swatch" /> lowers it
        </li>
      </ul>
      <p className="contrib-sum" data-testid="explanation-sum">
        base value <strong>{signless(baseValue)}</strong> + Σ contributions <strong>{signed(total)}</strong> = <strong>{signless(baseValue + total)}</strong>
        {addsUp ? (
          <span className="good"> = the prediction {signless(prediction)} ✓</span>
        ) : (
          <span className="bad">
            {' '}
            ≠ the prediction {signless(prediction)} (off by {signed(gap)})
          </span>
        )}
      </p>
    </figure>
  );
}

/** A bar from the zero line in the middle: right for positive, left for negative. */
function Bar({ value, max }: { value: number; max: number }): JSX.Element {
  const half = (Math.abs(value) / max) * 50;
  return (
    <span className="contrib-track">
      <span className="contrib-zero" />
      {value >= 0 ? <span className="contrib-bar contrib-pos" style={{ left: '50%', width: `${half}%` }} /> : <span className="contrib-bar contrib-neg" style={{ right: '50%', width: `${half}%` }} />}
    </span>
  );
}

/** A name with line-break chances after its underscores, dots and slashes (snake_case names wrap at their words). */
export function breakable(name: string): JSX.Element {
  const parts = name.split(/(?<=[_./])/);
  return (
    <>
      {parts.map((p, i) => (
        <span key={i}>
          {p}
          {i < parts.length - 1 ? <wbr /> : null}
        </span>
      ))}
    </>
  );
}

function valueText(v: Contribution['value']): string {
  if (v === null) return 'missing';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  return String(v);
}

/** Four significant digits, with its sign. */
export function signed(v: number): string {
  const s = signless(v);
  return v > 0 ? `+${s}` : s;
}

/** Four significant digits (a minus sign for negatives). */
export function signless(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  return Number(v.toPrecision(4)).toString().replace('-', '−');
}

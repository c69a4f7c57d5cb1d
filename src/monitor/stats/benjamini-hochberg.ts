/**
 * Benjamini–Hochberg adjusted p-values (false discovery rate), like statsmodels
 * `multipletests(p, method='fdr_bh')[1]`: with the m p-values sorted ascending, the i-th (1-based) is
 * adjusted to min_{j ≥ i} p_(j) · m / j, capped at 1, then returned in the input order. Adjusted values
 * are monotone in the raw ones. NaN entries (e.g. columns without enough data) pass through as NaN and
 * do not count in m. Rejecting where adjusted < α controls the FDR at α.
 *
 * @example
 * benjaminiHochberg([0.01, 0.04, 0.03, NaN]); // [0.03, 0.04, 0.04, NaN]
 */
export function benjaminiHochberg(pValues: ArrayLike<number>): Float64Array {
  const n = pValues.length;
  const out = new Float64Array(n).fill(NaN);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (!Number.isNaN(pValues[i]!)) idx.push(i);
  const m = idx.length;
  if (m === 0) return out;
  idx.sort((a, b) => pValues[a]! - pValues[b]!);
  let running = Infinity;
  for (let r = m - 1; r >= 0; r--) {
    const i = idx[r]!;
    const adjusted = pValues[i]! / ((r + 1) / m);
    if (adjusted < running) running = adjusted;
    out[i] = running > 1 ? 1 : running;
  }
  return out;
}

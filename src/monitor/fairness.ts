/**
 * Group fairness for a sensitive attribute (named in the card): per group the selection rate, true
 * and false positive rates and accuracy; across groups the demographic parity difference and ratio,
 * the equalized odds difference and the disparate impact ratio with the four-fifths rule.
 * Definitions follow Fairlearn's: differences are max − min over groups, ratios min / max.
 */

export interface GroupMetrics {
  group: string;
  rows: number;
  /** share of the group predicted positive */
  selectionRate: number;
  /** null without labels for the group */
  truePositiveRate: number | null;
  falsePositiveRate: number | null;
  accuracy: number | null;
  labelledRows: number;
}

export interface FairnessReport {
  attribute: string;
  positiveClass: string;
  groups: GroupMetrics[];
  demographicParityDifference: number;
  demographicParityRatio: number;
  /** max over TPR and FPR of their max − min across groups; null without labels */
  equalizedOddsDifference: number | null;
  /** lowest selection rate / highest (the "80% rule" compares it with 0.8) */
  disparateImpact: number;
  /** true when the disparate impact is below 0.8 */
  fourFifthsViolated: boolean;
  /** groups below this many rows are reported but not compared (their rates are noise) */
  minGroupRows: number;
}

/**
 * @param group the sensitive attribute per row (null = unknown: skipped)
 * @param predictedPositive 1 when the row was predicted positive
 * @param truth 1/0 when the label is known and positive/negative, −1 when unknown
 */
export function fairnessReport(
  attribute: string,
  positiveClass: string,
  group: readonly (string | null)[],
  predictedPositive: Uint8Array,
  truth: Int8Array,
  weights: Float64Array | null = null,
  minGroupRows = 30,
): FairnessReport | null {
  interface Acc { n: number; sel: number; tp: number; fn: number; fp: number; tn: number; labelled: number; right: number }
  const acc = new Map<string, Acc>();
  for (let i = 0; i < group.length; i++) {
    const g = group[i];
    if (g === null || g === undefined) continue;
    let a = acc.get(g);
    if (!a) {
      a = { n: 0, sel: 0, tp: 0, fn: 0, fp: 0, tn: 0, labelled: 0, right: 0 };
      acc.set(g, a);
    }
    const w = weights ? weights[i]! : 1;
    const p = predictedPositive[i] === 1;
    a.n += w;
    if (p) a.sel += w;
    const t = truth[i]!;
    if (t >= 0) {
      a.labelled += w;
      if (t === 1 && p) a.tp += w;
      else if (t === 1) a.fn += w;
      else if (p) a.fp += w;
      else a.tn += w;
      if ((t === 1) === p) a.right += w;
    }
  }
  if (acc.size === 0) return null;
  const groups: GroupMetrics[] = [...acc.entries()]
    .map(([g, a]) => ({
      group: g,
      rows: a.n,
      selectionRate: a.n > 0 ? a.sel / a.n : 0,
      truePositiveRate: a.tp + a.fn > 0 ? a.tp / (a.tp + a.fn) : null,
      falsePositiveRate: a.fp + a.tn > 0 ? a.fp / (a.fp + a.tn) : null,
      accuracy: a.labelled > 0 ? a.right / a.labelled : null,
      labelledRows: a.labelled,
    }))
    .sort((x, y) => y.rows - x.rows);
  const compared = groups.filter((g) => g.rows >= minGroupRows);
  const use = compared.length >= 2 ? compared : groups;
  const sel = use.map((g) => g.selectionRate);
  const maxSel = Math.max(...sel);
  const minSel = Math.min(...sel);
  const spread = (xs: (number | null)[]): number | null => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length >= 2 ? Math.max(...v) - Math.min(...v) : null;
  };
  const tprD = spread(use.map((g) => g.truePositiveRate));
  const fprD = spread(use.map((g) => g.falsePositiveRate));
  const eod = tprD === null && fprD === null ? null : Math.max(tprD ?? 0, fprD ?? 0);
  const ratio = maxSel > 0 ? minSel / maxSel : 1;
  return {
    attribute,
    positiveClass,
    groups,
    demographicParityDifference: maxSel - minSel,
    demographicParityRatio: ratio,
    equalizedOddsDifference: eod,
    disparateImpact: ratio,
    fourFifthsViolated: ratio < 0.8,
    minGroupRows,
  };
}

import { describe, expect, it } from 'vitest';
import {
  benjaminiHochberg,
  chiSquareGoodnessOfFit,
  chiSquareHomogeneity,
  chiSquareSf,
  cramersV,
  erf,
  erfc,
  histogramCounts,
  jensenShannonDistance,
  kolmogorovNSf,
  kolmogorovSf,
  ksTwoSample,
  ksWeighted,
  logGamma,
  normalCdf,
  normalSf,
  proportionZTest,
  psi,
  quantileEdges,
  quantileSorted,
  regularizedGammaP,
  regularizedGammaQ,
  smirnovSf,
  sturgesEdges,
  wasserstein1,
  wassersteinNormed,
} from '../../../src/monitor/stats/index.js';
import type { KsMethod } from '../../../src/monitor/stats/index.js';
import { closeTo, intWeights, type JsonNum, readExpected, relErr, sample, type SampleSpec, toNum, type WeightSpec } from './generate.js';

const expected = readExpected();

/** Collects mismatches so one test reports all of them, and the largest errors seen. */
class Checker {
  readonly problems: string[] = [];
  maxAbs = 0;
  maxRelSmall = 0;
  check(label: string, actual: number, exp: JsonNum, rel = 1e-9): void {
    const e = toNum(exp);
    if (!closeTo(actual, e, rel)) this.problems.push(`${label}: got ${actual}, expected ${e} (rel ${relErr(actual, e).toExponential(2)})`);
    if (Number.isFinite(e) && Number.isFinite(actual)) {
      this.maxAbs = Math.max(this.maxAbs, Math.abs(actual - e));
      if (Math.abs(e) < 1e-3 && e !== 0) this.maxRelSmall = Math.max(this.maxRelSmall, relErr(actual, e));
    }
  }
  done(what: string): void {
    if (process.env['STATS_REPORT']) console.log(`${what}: max abs error ${this.maxAbs.toExponential(2)}, max rel error below 1e-3 ${this.maxRelSmall.toExponential(2)}`);
    expect(this.problems, this.problems.slice(0, 20).join('\n')).toEqual([]);
  }
}

describe('special functions match scipy.special / scipy.stats', () => {
  const s = expected.special;
  it('normal survival function and CDF, into the far tails', () => {
    const c = new Checker();
    for (const [z, e] of s.normalSf) c.check(`normalSf(${z})`, normalSf(z), e, 1e-13);
    for (const [z, e] of s.normalCdf) c.check(`normalCdf(${z})`, normalCdf(z), e, 1e-13);
    c.done('normal');
  });
  it('erf and erfc', () => {
    const c = new Checker();
    for (const [x, e] of s.erfc) c.check(`erfc(${x})`, erfc(x), e, 1e-13);
    for (const [x, e] of s.erf) c.check(`erf(${x})`, erf(x), e, 1e-13);
    c.done('erf');
  });
  it('log-gamma', () => {
    const c = new Checker();
    for (const [x, e] of s.logGamma) c.check(`logGamma(${x})`, logGamma(x), e);
    for (const [x, e] of s.logGamma) {
      const ee = toNum(e);
      if (Math.abs(logGamma(x) - ee) > 1e-14 * Math.max(1, Math.abs(ee))) c.problems.push(`logGamma(${x}) relative error ${relErr(logGamma(x), ee)}`);
    }
    c.done('logGamma');
  });
  it('regularized incomplete gamma P and Q, and the chi-square survival function', () => {
    const c = new Checker();
    for (const [a, x, e] of s.gammaQ) c.check(`Q(${a}, ${x})`, regularizedGammaQ(a, x), e, 1e-11);
    for (const [a, x, e] of s.gammaP) c.check(`P(${a}, ${x})`, regularizedGammaP(a, x), e, 1e-11);
    for (const [x, k, e] of s.chiSquareSf) c.check(`chi2.sf(${x}, ${k})`, chiSquareSf(x, k), e, 1e-11);
    c.done('gamma/chi2');
  });
  it('Kolmogorov limiting distribution', () => {
    const c = new Checker();
    for (const [x, e] of s.kolmogorovSf) c.check(`kolmogorov(${x})`, kolmogorovSf(x), e, 1e-12);
    c.done('kolmogorov');
  });
  it('finite-n Kolmogorov distribution (kstwo.sf) in every regime of scipy _kolmogn', () => {
    const c = new Checker();
    for (const [n, d, e] of s.kolmogorovNSf) c.check(`kstwo.sf(${d}, ${n})`, kolmogorovNSf(n, d), e, 1e-9);
    c.done('kstwo');
  });
  it('one-sided Smirnov distribution', () => {
    const c = new Checker();
    for (const [n, d, e] of s.smirnovSf) c.check(`smirnov(${n}, ${d})`, smirnovSf(n, d), e, 1e-9);
    c.done('smirnov');
  });
});

interface KsCase {
  name: string;
  a: number[] | SampleSpec;
  b: number[] | SampleSpec;
  method?: KsMethod;
  expected: { statistic: JsonNum; pValue: JsonNum; method: 'exact' | 'asymp' };
}

describe('ksTwoSample matches scipy.stats.ks_2samp (1.10, two-sided)', () => {
  it('on small, tied, large, exact, asymptotic and extreme cases', () => {
    const c = new Checker();
    for (const k of expected.ks as KsCase[]) {
      const r = ksTwoSample(sample(k.a), sample(k.b), k.method ? { method: k.method } : {});
      c.check(`${k.name} statistic`, r.statistic, k.expected.statistic, 1e-12);
      c.check(`${k.name} p`, r.pValue, k.expected.pValue);
      if (r.method !== k.expected.method) c.problems.push(`${k.name}: method ${r.method}, expected ${k.expected.method}`);
    }
    c.done('ks');
  });
});

describe('ksWeighted', () => {
  it('gives the statistic of the expanded sample for integer weights, and the Kish effective-size p-value', () => {
    const c = new Checker();
    for (const k of expected.ksWeighted) {
      const a = sample(k.a as SampleSpec).sort();
      const b = sample(k.b as SampleSpec).sort();
      const wa = intWeights(k.weightsA as WeightSpec, a.length);
      const wb = intWeights(k.weightsB as WeightSpec, b.length);
      const r = ksWeighted(a, wa, b, wb);
      c.check(`${k.name} statistic`, r.statistic, k.expected.expandedStatistic, 1e-12);
      c.check(`${k.name} p`, r.pValue, k.expected.pValue);
      c.check(`${k.name} n_eff a`, r.effectiveSizes[0], k.expected.effectiveSizes[0]);
      c.check(`${k.name} n_eff b`, r.effectiveSizes[1], k.expected.effectiveSizes[1]);
      const unit = ksWeighted(a, new Float64Array(a.length).fill(1), b, new Float64Array(b.length).fill(1));
      c.check(`${k.name} unit statistic`, unit.statistic, k.expected.unitStatistic, 1e-12);
      c.check(`${k.name} unit p (= ks_2samp asymp)`, unit.pValue, k.expected.unitPValue);
    }
    c.done('ksWeighted');
  });
});

describe('chi-square tests match scipy', () => {
  it('chiSquareGoodnessOfFit = scipy.stats.chisquare', () => {
    const c = new Checker();
    for (const k of expected.chiSquareGoodnessOfFit) {
      const r = chiSquareGoodnessOfFit(k.observed, k.expected);
      c.check(`gof ${JSON.stringify(k.observed)} statistic`, r.statistic, k.expected_result.statistic, 1e-12);
      c.check(`gof ${JSON.stringify(k.observed)} p`, r.pValue, k.expected_result.pValue);
      if (r.dof !== k.expected_result.dof) c.problems.push(`gof dof ${r.dof} != ${k.expected_result.dof}`);
    }
    c.done('chisquare');
  });
  it('chiSquareHomogeneity = chi2_contingency(correction=False) and cramersV = association(method="cramer")', () => {
    const c = new Checker();
    for (const k of expected.chiSquareHomogeneity) {
      const r = chiSquareHomogeneity(k.a, k.b);
      const label = `${JSON.stringify(k.a)} vs ${JSON.stringify(k.b)}`;
      c.check(`${label} statistic`, r.statistic, k.expected.statistic, 1e-12);
      c.check(`${label} p`, r.pValue, k.expected.pValue);
      if (r.dof !== k.expected.dof) c.problems.push(`${label}: dof ${r.dof} != ${k.expected.dof}`);
      c.check(`${label} V`, cramersV(k.a, k.b), k.expected.cramersV, 1e-12);
    }
    c.done('chi2_contingency');
  });
});

describe('distances and effect sizes', () => {
  it('psi floors proportions at eps', () => {
    const c = new Checker();
    for (const k of expected.psi) c.check(`psi ${JSON.stringify(k.ref)}`, psi(k.ref, k.cur, k.eps), k.expected, 1e-12);
    c.done('psi');
  });
  it('jensenShannonDistance = scipy.spatial.distance.jensenshannon', () => {
    const c = new Checker();
    for (const k of expected.jensenShannon) c.check(`js ${JSON.stringify(k)}`, jensenShannonDistance(k.p, k.q, k.base), k.expected, 1e-12);
    c.done('jensenshannon');
  });
  it('wasserstein1 = scipy.stats.wasserstein_distance (weighted too) and the normed form', () => {
    const c = new Checker();
    for (const k of expected.wasserstein) {
      const u = sample(k.u);
      const v = sample(k.v);
      c.check(`w1 ${JSON.stringify(k.u).slice(0, 40)}`, wasserstein1(u, v, k.uw, k.vw), k.expected, 1e-12);
      if (k.expectedNormed !== undefined) c.check(`w1 normed ${JSON.stringify(k.u).slice(0, 40)}`, wassersteinNormed(u, v), k.expectedNormed, 1e-12);
    }
    c.done('wasserstein');
  });
  it('proportionZTest = pooled two-proportion z with norm.sf tails', () => {
    const c = new Checker();
    for (const k of expected.proportionZTest) {
      const [sa, na, sb, nb] = k.args as [number, number, number, number];
      const r = proportionZTest(sa, na, sb, nb);
      c.check(`z ${k.args} statistic`, r.statistic, k.statistic, 1e-12);
      c.check(`z ${k.args} p`, r.pValue, k.pValue, 1e-12);
    }
    c.done('ztest');
  });
  it('benjaminiHochberg = statsmodels fdr_bh, NaN passing through', () => {
    const c = new Checker();
    for (const k of expected.benjaminiHochberg) {
      const got = benjaminiHochberg((k.p as JsonNum[]).map(toNum));
      (k.expected as JsonNum[]).forEach((e, i) => c.check(`bh ${JSON.stringify(k.p)}[${i}]`, got[i]!, e, 1e-14));
    }
    c.done('bh');
  });
});

describe('binning matches numpy', () => {
  it('quantileSorted = np.quantile, quantileEdges = unique quantiles, histogramCounts = np.histogram', () => {
    const c = new Checker();
    for (const k of expected.binning) {
      const v = sample(k.values).sort();
      for (const [q, e] of k.quantiles) c.check(`${k.name} q${q}`, quantileSorted(v, q), e, 0);
      const closed = quantileEdges(v, k.bins, { openEnds: false });
      const open = quantileEdges(v, k.bins);
      if (closed.length !== k.edges.length) c.problems.push(`${k.name}/${k.bins}: ${closed.length} edges, expected ${k.edges.length}`);
      (k.edges as JsonNum[]).forEach((e, i) => c.check(`${k.name}/${k.bins} edge ${i}`, closed[i]!, e, 0));
      (k.openEdges as JsonNum[]).forEach((e, i) => c.check(`${k.name}/${k.bins} open edge ${i}`, open[i]!, e, 0));
      if (open.length > 1) {
        const probe = (k.probe as JsonNum[]).map(toNum);
        const all = Float64Array.from([...v, ...probe]);
        const counts = histogramCounts(all, open);
        (k.counts as JsonNum[]).forEach((e, i) => c.check(`${k.name}/${k.bins} count ${i}`, counts[i]!, e, 0));
        const closedCounts = histogramCounts(all, closed);
        (k.closedCounts as JsonNum[]).forEach((e, i) => c.check(`${k.name}/${k.bins} closed count ${i}`, closedCounts[i]!, e, 0));
        const sortedAll = Float64Array.from(all).sort();
        const viaSorted = histogramCounts(sortedAll, closed, { sorted: true });
        closedCounts.forEach((e, i) => c.check(`${k.name}/${k.bins} sorted count ${i}`, viaSorted[i]!, e, 0));
      }
    }
    c.done('quantile/histogram');
  });
  it("sturgesEdges = np.histogram_bin_edges(values, bins='sturges')", () => {
    const c = new Checker();
    for (const k of expected.sturges) {
      const v = sample(k.values);
      let min = Infinity;
      let max = -Infinity;
      for (const x of v) {
        if (x < min) min = x;
        if (x > max) max = x;
      }
      const edges = sturgesEdges(min, max, v.length);
      if (edges.length !== k.edges.length) c.problems.push(`sturges: ${edges.length} edges, expected ${k.edges.length}`);
      (k.edges as JsonNum[]).forEach((e, i) => c.check(`sturges edge ${i}`, edges[i]!, e, 0));
      const counts = histogramCounts(v, edges);
      (k.counts as JsonNum[]).forEach((e, i) => c.check(`sturges count ${i}`, counts[i]!, e, 0));
    }
    c.done('sturges');
  });
});

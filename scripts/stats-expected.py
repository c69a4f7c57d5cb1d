#!/usr/bin/python3
"""Expected values for src/monitor/stats, computed with numpy and scipy.

Run with Debian's python3 (numpy 1.24, scipy 1.10):

    /usr/bin/python3 scripts/stats-expected.py [--fixtures DIR] [--out test/monitor/stats/expected.json]

Writes test/monitor/stats/expected.json, which is checked in; the tests compare every statistic and
p-value with it. Synthetic samples are described by a generator spec that test/monitor/stats/generate.ts
reproduces bit for bit (xorshift32 and only +, -, *, /, floor, sqrt, which are exact or correctly
rounded in both languages). Fixture columns are named by file and column; the test reads the CSVs.

Evidently's default drift tests are re-implemented here from the semantics of Evidently 0.4.x's
source (calculations/stattests/*.py, see docs/drift-statistics.md) on top of numpy/scipy, because
Evidently itself is not installable here.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import scipy
from scipy import special, stats
from scipy.spatial import distance
from scipy.stats import contingency

assert scipy.__version__.startswith("1.10"), f"needs scipy 1.10, found {scipy.__version__}"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# --------------------------------------------------------------------------------------------------
# Deterministic samples (mirrored by test/monitor/stats/generate.ts)
# --------------------------------------------------------------------------------------------------

SQRT3 = math.sqrt(3.0)


def xorshift32(seed):
    x = seed & 0xFFFFFFFF
    if x == 0:
        x = 0x9E3779B9
    while True:
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        yield x


def generate(spec):
    """dist: uniform | normal (Irwin-Hall of 4, unit variance) | cubic (normal**3) | int (floor(u*k))."""
    rng = xorshift32(spec["seed"])
    u = lambda: next(rng) / 4294967296.0
    loc = float(spec.get("loc", 0.0))
    scale = float(spec.get("scale", 1.0))
    out = []
    for _ in range(spec["n"]):
        dist = spec["dist"]
        if dist == "uniform":
            z = u()
        elif dist == "normal":
            z = (u() + u() + u() + u() - 2.0) * SQRT3
        elif dist == "cubic":
            z = (u() + u() + u() + u() - 2.0) * SQRT3
            z = z * z * z
        elif dist == "int":
            z = float(math.floor(u() * spec["k"]))
        else:
            raise ValueError(dist)
        v = loc + scale * z
        d = spec.get("decimals")
        if d is not None:
            f = float(10 ** d)
            v = math.floor(v * f + 0.5) / f
        out.append(v)
    return np.array(out, dtype=np.float64)


def sample(s):
    return generate(s) if isinstance(s, dict) else np.asarray(s, dtype=np.float64)


def num(x):
    """JSON-safe float: inf/nan as strings."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def nums(a):
    return [num(v) for v in a]


# --------------------------------------------------------------------------------------------------
# Reference implementations for things scipy has no function for
# --------------------------------------------------------------------------------------------------


def psi_counts(ref, cur, eps=1e-4):
    r = np.asarray(ref, float) / np.sum(ref)
    c = np.asarray(cur, float) / np.sum(cur)
    r = np.clip(r, eps, None)
    c = np.clip(c, eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def decile_psi(ref, cur, bins=10, eps=1e-4):
    """Berth's PSI: reference-decile bins (the fixtures' make/fxlib.py psi)."""
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        vals = np.unique(np.concatenate([ref, cur]))
        r = np.array([(ref == v).sum() for v in vals], float)
        c = np.array([(cur == v).sum() for v in vals], float)
    else:
        inner = edges[1:-1]
        r = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=len(inner) + 1).astype(float)
        c = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(inner) + 1).astype(float)
    return psi_counts(r, c, eps), len(edges)


def fdr_bh(p):
    """statsmodels.stats.multitest.multipletests(p, method='fdr_bh')[1], NaN passed through."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    n = len(q)
    if n == 0:
        return out
    order = np.argsort(q)
    qs = q[order]
    ecdf = np.arange(1, n + 1) / float(n)
    raw = qs / ecdf
    corr = np.minimum.accumulate(raw[::-1])[::-1]
    corr[corr > 1] = 1
    res = np.empty(n)
    res[order] = corr
    out[ok] = res
    return out


def z_test(sa, na, sb, nb):
    pa, pb = sa / na, sb / nb
    pooled = (sa + sb) / (na + nb)
    se = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    if se == 0:
        return 0.0, 1.0
    z = (pa - pb) / se
    return z, min(1.0, 2 * stats.norm.sf(abs(z)))


# --------------------------------------------------------------------------------------------------
# Evidently 0.4.x default drift tests (re-implemented from its source's semantics)
# --------------------------------------------------------------------------------------------------


def ev_clean(a):
    a = np.asarray(a, float)
    return a[np.isfinite(a)]


def ev_counts(ref, cur, kind):
    """Counts over the union of observed values (categorical input: already counts per category)."""
    if kind == "cat":
        r, c = np.asarray(ref, float), np.asarray(cur, float)
        keep = (r > 0) | (c > 0)
        return r[keep], c[keep]
    keys = np.unique(np.concatenate([ref, cur]))
    r = np.array([(ref == k).sum() for k in keys], float)
    c = np.array([(cur == k).sum() for k in keys], float)
    return r, c


def ev_binned(ref, cur, kind, fill):
    if kind == "num" and len(np.unique(ref)) > 20:
        bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        r = np.histogram(ref, bins)[0] / len(ref)
        c = np.histogram(cur, bins)[0] / len(cur)
    else:
        rc, cc = ev_counts(ref, cur, kind)
        r, c = rc / rc.sum(), cc / cc.sum()
    r = r.astype(float)
    c = c.astype(float)
    if fill:
        for a in (r, c):
            m = min(a[a != 0])
            np.place(a, a == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return r, c


def ev_default_test(kind, ref_rows, n_unique):
    if ref_rows <= 1000:
        if kind == "num" and n_unique > 5:
            return "ks"
        return "chisquare" if n_unique > 2 else "z"
    if kind == "num" and n_unique > 5:
        return "wasserstein"
    return "jensenshannon"


def ev_run(test, ref, cur, kind):
    if test == "ks":
        p = stats.ks_2samp(ref, cur)[1]
        return p, bool(p <= 0.05), 0.05
    if test == "chisquare":
        r, c = ev_counts(ref, cur, kind)
        k_norm = c.sum() / r.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            p = stats.chisquare(c, r * k_norm)[1]
        return p, bool(p < 0.05), 0.05
    if test == "z":
        r, c = ev_counts(ref, cur, kind)
        if len(r) == 1:
            return 1.0, False, 0.05
        n1, n2 = r.sum(), c.sum()
        p1, p2 = float(r[1]) / n1, float(c[1]) / n2
        P = float(p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
        p = 2 * (1 - stats.norm.cdf(np.abs(z)))
        return p, bool(p < 0.05), 0.05
    if test == "wasserstein":
        norm = max(np.std(ref), 0.001)
        v = stats.wasserstein_distance(ref, cur) / norm
        return v, bool(v >= 0.1), 0.1
    if test == "jensenshannon":
        r, c = ev_binned(ref, cur, kind, False)
        v = distance.jensenshannon(r, c)
        return v, bool(v >= 0.1), 0.1
    if test == "psi":
        r, c = ev_binned(ref, cur, kind, True)
        v = float(np.sum((r - c) * np.log(r / c)))
        return v, bool(v >= 0.1), 0.1
    raise ValueError(test)


def ev_column(ref, cur, kind):
    if kind == "num":
        ref, cur = ev_clean(ref), ev_clean(cur)
        ref_rows = len(ref)
        n_unique = len(np.unique(np.concatenate([ref, cur])))
    else:
        r, c = np.asarray(ref, float), np.asarray(cur, float)
        ref_rows = r.sum()
        n_unique = int(((r > 0) | (c > 0)).sum())
    test = ev_default_test(kind, ref_rows, n_unique)
    score, drifted, threshold = ev_run(test, ref, cur, kind)
    out = {"test": test, "score": num(score), "threshold": threshold, "drifted": drifted}
    out["psi"] = num(ev_run("psi", ref, cur, kind)[0])
    out["jensenshannon"] = num(ev_run("jensenshannon", ref, cur, kind)[0])
    return out


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


def special_cases():
    out = {}
    zs = [-40, -38, -30, -20, -10, -8, -5, -3, -1.5, -0.5, 0, 0.3, 0.5, 1, 1.96, 2.5, 3, 5, 7, 8, 10, 15, 20, 25, 30, 35, 37.5]
    out["normalSf"] = [[z, num(stats.norm.sf(z))] for z in zs]
    out["normalCdf"] = [[z, num(stats.norm.cdf(z))] for z in zs]
    xs = [-3, -1, -0.5, -0.46875, -0.2, 0, 1e-10, 0.1, 0.46875, 0.47, 0.9, 1.5, 3.9, 4, 4.1, 6, 10, 15, 20, 26, 26.5]
    out["erfc"] = [[x, num(special.erfc(x))] for x in xs]
    out["erf"] = [[x, num(special.erf(x))] for x in xs]
    gs = [1e-8, 0.001, 0.1, 0.5, 1, 1.5, 2, 2.5, 3, 7.3, 9.99, 10, 10.5, 30, 100.25, 1000, 12345.6, 1e6, 1e10]
    out["logGamma"] = [[x, num(special.gammaln(x))] for x in gs]
    ax = [(0.5, 0.1), (0.5, 2), (1, 1), (2.5, 0.3), (3, 10), (5, 50), (10, 9), (10, 11), (10, 40), (50, 45), (50, 80),
          (200, 180), (200, 230), (1000, 1000), (1000, 1100), (1000, 1500), (1e5, 1e5 + 100), (1e5, 1.02e5), (0.5, 500), (7, 300)]
    out["gammaQ"] = [[a, x, num(special.gammaincc(a, x))] for a, x in ax]
    out["gammaP"] = [[a, x, num(special.gammainc(a, x))] for a, x in ax]
    cs = [(0.5, 1), (3.84, 1), (10, 1), (50, 1), (400, 1), (1400, 1), (3, 3), (30, 3), (300, 3), (11.07, 5), (100, 10),
          (2391, 3), (15, 20), (60, 20), (200, 20), (1000, 999), (1100, 999), (1500, 999), (10000, 10000), (11000, 10000),
          (0, 4), (1e-5, 2)]
    out["chiSquareSf"] = [[x, k, num(stats.chi2.sf(x, k))] for x, k in cs]
    out["kolmogorovSf"] = [[x, num(special.kolmogorov(x))] for x in [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 0.82, 0.83, 1, 1.36, 2, 3, 5, 10, 20, 27]]
    # kstwo.sf over every regime of scipy's _kolmogn
    grid = []
    for n in [1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 1000, 5000, 20000, 100000, 100001, 500000, 1000000, 1000001, 3000000]:
        ds = set()
        for t in [0.3, 0.5, 0.75, 1.0]:
            ds.add(t / n)
        for q in [0.05, 0.1, 0.3, 0.5, 0.754, 0.76, 1, 1.5, 2, 2.19, 2.21, 3, 4, 4.1, 6, 10, 18, 30, 100, 200, 369, 371]:
            ds.add(math.sqrt(q / n))
        for d in [0.45, 0.5, 0.7, 0.95, 0.999, 1.0, (n - 1) / n, (n - 0.5) / n]:
            ds.add(d)
        for d in sorted(ds):
            if 0 < d <= 1:
                grid.append([n, d, num(stats.kstwo.sf(d, n))])
    out["kolmogorovNSf"] = grid
    sm = []
    for n in [2, 5, 20, 100, 1012, 1013, 5000, 100000, 1000000]:
        for d in [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 0.99]:
            sm.append([n, d, num(special.smirnov(n, d))])
    out["smirnovSf"] = sm
    return out


def g(seed, n, dist="normal", loc=0.0, scale=1.0, **kw):
    s = {"seed": seed, "n": n, "dist": dist, "loc": loc, "scale": scale}
    s.update(kw)
    return s


def ks_cases():
    cases = [
        {"name": "textbook", "a": [1, 2, 3], "b": [2, 3, 4, 5]},
        {"name": "identical", "a": [1, 2, 3, 4], "b": [1, 2, 3, 4]},
        {"name": "all ties", "a": [5, 5, 5, 5, 5], "b": [5, 5, 5]},
        {"name": "disjoint", "a": [1, 2, 3, 4, 5, 6], "b": [10, 11, 12, 13, 14, 15, 16]},
        {"name": "single values", "a": [0.5], "b": [1.5]},
        {"name": "ties across", "a": [1, 1, 2, 2, 3, 3, 3, 4], "b": [1, 2, 2, 2, 3, 5, 5]},
        {"name": "negative and zero", "a": [-0.0, 0.0, -1, 1, 2.5, -2.5], "b": [0, 0, 0, 1, 1]},
    ]
    for i, (n1, n2) in enumerate([(3, 5), (7, 7), (8, 12), (10, 15), (13, 29), (20, 20), (25, 40), (31, 60), (57, 44), (100, 100), (120, 77)]):
        cases.append({"name": f"small {n1}x{n2}", "a": g(100 + i, n1), "b": g(200 + i, n2, loc=0.3)})
        cases.append({"name": f"small ties {n1}x{n2}", "a": g(300 + i, n1, decimals=0, scale=2), "b": g(400 + i, n2, decimals=0, scale=2, loc=0.5)})
    cases += [
        {"name": "equal 50 shift", "a": g(1, 50), "b": g(2, 50, loc=0.5)},
        {"name": "equal 200 far apart", "a": g(3, 200), "b": g(4, 200, loc=2.0)},
        {"name": "equal 1000 same", "a": g(5, 1000), "b": g(6, 1000)},
        {"name": "equal 5000 small shift", "a": g(7, 5000), "b": g(8, 5000, loc=0.05)},
        {"name": "equal 10000 shift", "a": g(9, 10000), "b": g(10, 10000, loc=0.1)},
        {"name": "unequal 300x500 far apart", "a": g(11, 300), "b": g(12, 500, loc=1.5)},
        {"name": "unequal 3000x7000", "a": g(13, 3000, dist="cubic"), "b": g(14, 7000, dist="cubic", scale=1.1)},
        {"name": "unequal 9999x10000", "a": g(15, 9999), "b": g(16, 10000, loc=0.03)},
        {"name": "unequal 997x1013 discrete", "a": g(17, 997, dist="int", k=6), "b": g(18, 1013, dist="int", k=7)},
        {"name": "asymp 10001x10001 same", "a": g(19, 10001), "b": g(20, 10001)},
        {"name": "asymp 20000x15000 shift", "a": g(21, 20000), "b": g(22, 15000, loc=0.04)},
        {"name": "asymp 20000x20000 tiny p", "a": g(23, 20000), "b": g(24, 20000, loc=0.3)},
        {"name": "asymp 20000x20000 zero p", "a": g(25, 20000), "b": g(26, 20000, loc=0.6)},
        {"name": "asymp 12000x30000 discrete", "a": g(27, 12000, dist="int", k=5), "b": g(28, 30000, dist="int", k=5)},
        {"name": "asymp 15000x11000 uniform ties", "a": g(29, 15000, dist="uniform", decimals=2), "b": g(30, 11000, dist="uniform", decimals=2, loc=0.01)},
        {"name": "forced asymp 30x30", "a": g(31, 30), "b": g(32, 30, loc=0.4), "method": "asymp"},
        {"name": "forced asymp 60x90", "a": g(33, 60), "b": g(34, 90, loc=0.2), "method": "asymp"},
        {"name": "forced asymp 200x300", "a": g(35, 200), "b": g(36, 300, loc=0.2), "method": "asymp"},
        {"name": "forced asymp 500x500 far", "a": g(37, 500), "b": g(38, 500, loc=1.0), "method": "asymp"},
        {"name": "forced exact 20000x20000", "a": g(39, 20000), "b": g(40, 20000, loc=0.02), "method": "exact"},
        {"name": "forced exact 11000x12000", "a": g(41, 11000), "b": g(42, 12000, loc=0.05), "method": "exact"},
    ]
    for c in cases:
        a, b = sample(c["a"]), sample(c["b"])
        r = stats.ks_2samp(a, b, method=c.get("method", "auto"))
        n1, n2 = len(a), len(b)
        mode = c.get("method", "auto")
        if mode == "auto":
            mode = "exact" if max(n1, n2) <= 10000 else "asymp"
        c["expected"] = {"statistic": num(r.statistic), "pValue": num(r.pvalue), "method": mode}
    return cases


def int_weights(spec, n):
    """Integer weights 1 + (xorshift32 % mod), mirrored in generate.ts."""
    rng = xorshift32(spec["seed"])
    return [1 + next(rng) % spec["mod"] for _ in range(n)]


def weighted_cases():
    """Unit weights must give ks_2samp's statistic, integer weights the statistic of the expanded sample."""
    cases = []
    for i, (n1, n2) in enumerate([(40, 55), (300, 200), (12000, 15000)]):
        sa, sb = g(500 + i, n1, decimals=1), g(600 + i, n2, decimals=1, loc=0.2)
        wsa, wsb = {"seed": 700 + i, "mod": 4}, {"seed": 800 + i, "mod": 3}
        a, b = np.sort(generate(sa)), np.sort(generate(sb))
        wa, wb = int_weights(wsa, n1), int_weights(wsb, n2)
        # weights belong to the sorted values
        stat_exp = stats.ks_2samp(np.repeat(a, wa), np.repeat(b, wb)).statistic
        neff_a = sum(wa) ** 2 / sum(w * w for w in wa)
        neff_b = sum(wb) ** 2 / sum(w * w for w in wb)
        m, n = sorted([neff_a, neff_b], reverse=True)
        p = stats.kstwo.sf(stat_exp, np.round(m * n / (m + n)))
        unit = stats.ks_2samp(a, b, method="asymp")
        cases.append({
            "name": f"weighted {n1}x{n2}", "a": sa, "b": sb, "weightsA": wsa, "weightsB": wsb,
            "expected": {"expandedStatistic": num(stat_exp), "pValue": num(p), "effectiveSizes": [neff_a, neff_b],
                         "unitStatistic": num(unit.statistic), "unitPValue": num(unit.pvalue)},
        })
    return cases


def chi_cases():
    gof = [
        {"observed": [16, 18, 16, 14, 12, 12]},
        {"observed": [16, 18, 16, 14, 12, 12], "expected": [16, 16, 16, 16, 16, 8]},
        {"observed": [10, 20, 30, 40], "expected": [25, 25, 25, 25]},
        {"observed": [500, 0, 0, 0], "expected": [125, 125, 125, 125]},
        {"observed": [1000, 2000, 4000], "expected": [2333.3333333333335, 2333.3333333333335, 2333.333333333333]},
        {"observed": [5, 5], "expected": [2.5, 7.5]},
    ]
    for c in gof:
        r = stats.chisquare(c["observed"], c.get("expected"))
        c["expected_result"] = {"statistic": num(r.statistic), "dof": len(c["observed"]) - 1, "pValue": num(r.pvalue)}
    hom = [
        {"a": [10, 20, 30], "b": [12, 18, 35]},
        {"a": [100, 0, 50, 0], "b": [80, 0, 70, 5]},
        {"a": [5, 0], "b": [7, 0]},
        {"a": [1000, 10], "b": [900, 110]},
        {"a": [4000, 3000, 2000, 1000], "b": [1000, 2000, 3000, 4000]},
        {"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "b": [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]},
    ]
    for c in hom:
        a, b = np.array(c["a"], float), np.array(c["b"], float)
        keep = (a > 0) | (b > 0)
        table = np.array([a[keep], b[keep]])
        chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
        v = contingency.association(table.astype(np.int64), method="cramer", correction=False) if table.shape[1] >= 2 else 0.0
        c["expected"] = {"statistic": num(chi2), "dof": int(dof), "pValue": num(p), "cramersV": num(v)}
    return gof, hom


def distance_cases():
    psi_c = [
        {"ref": [50, 50], "cur": [60, 40]},
        {"ref": [10, 20, 30, 40], "cur": [40, 30, 20, 10]},
        {"ref": [100, 0, 50], "cur": [90, 10, 50]},
        {"ref": [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000], "cur": [995, 1003, 1000, 1010, 990, 1000, 1001, 999, 1002, 1000]},
        {"ref": [0.2, 0.3, 0.5], "cur": [0.25, 0.25, 0.5], "eps": 0.01},
    ]
    for c in psi_c:
        c["expected"] = num(psi_counts(c["ref"], c["cur"], c.get("eps", 1e-4)))
    js_c = [
        {"p": [1, 0, 0], "q": [0, 1, 0]},
        {"p": [1, 0, 0], "q": [0, 1, 0], "base": 2},
        {"p": [1, 1, 1], "q": [1, 1, 1]},
        {"p": [10, 20, 30, 40], "q": [40, 30, 20, 10]},
        {"p": [10, 20, 30, 40], "q": [40, 30, 20, 10], "base": 2},
        {"p": [0.1, 0.2, 0.7], "q": [0.2, 0.2, 0.6], "base": 10},
        {"p": [5, 0, 5, 1e-9], "q": [5, 5, 0, 1]},
    ]
    for c in js_c:
        c["expected"] = num(distance.jensenshannon(c["p"], c["q"], c.get("base")))
    w_c = [
        {"u": [0, 1, 3], "v": [5, 6, 8]},
        {"u": [0, 1], "v": [0, 1], "uw": [3, 1], "vw": [2, 2]},
        {"u": [3.4, 3.9, 7.5, 7.8], "v": [4.5, 1.4], "uw": [1.4, 0.9, 3.1, 7.2], "vw": [3.2, 3.5]},
        {"u": [1, 1, 2, 2, 2, 5], "v": [2, 2, 3], "uw": [1, 0, 2, 1, 0.5, 3]},
        {"u": g(50, 1000), "v": g(51, 800, loc=0.25, scale=1.3)},
        {"u": g(52, 5000, dist="cubic"), "v": g(53, 5000, dist="cubic", loc=0.1)},
        {"u": g(54, 2000, dist="int", k=5), "v": g(55, 3000, dist="int", k=6)},
    ]
    for c in w_c:
        u, v = sample(c["u"]), sample(c["v"])
        c["expected"] = num(stats.wasserstein_distance(u, v, c.get("uw"), c.get("vw")))
        if "uw" not in c and "vw" not in c:
            c["expectedNormed"] = num(stats.wasserstein_distance(u, v) / max(np.std(u), 0.001))
    z_c = [[45, 100, 60, 100], [5000, 10000, 5400, 10000], [0, 1000, 500, 1000], [100, 100, 100, 100], [0, 50, 0, 70],
           [30, 1000, 600, 1000], [1, 3, 2, 3], [123456, 1000000, 125000, 1000000]]
    z_out = []
    for sa, na, sb, nb in z_c:
        z, p = z_test(sa, na, sb, nb)
        z_out.append({"args": [sa, na, sb, nb], "statistic": num(z), "pValue": num(p)})
    bh = [
        [0.01, 0.04, 0.03, 0.2],
        [0.01, 0.04, 0.03, float("nan"), 0.2],
        [0.5, 0.5, 0.5],
        [1e-10, 0.049, 0.049, 0.051, 0.9, 1.0],
        [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216, 0.222, 0.251, 0.269, 0.275, 0.34, 0.341, 0.384, 0.569, 0.594, 0.696, 0.762, 0.94, 0.942, 0.975, 0.986],
        [float("nan"), float("nan")],
        [],
    ]
    bh_out = [{"p": nums(p), "expected": nums(fdr_bh(p))} for p in bh]
    return psi_c, js_c, w_c, z_out, bh_out


def binning_cases():
    out = []
    samples = [
        {"name": "normal", "values": g(60, 1000)},
        {"name": "ties", "values": g(61, 997, decimals=0, scale=1.5)},
        {"name": "few values", "values": g(62, 500, dist="int", k=3)},
        {"name": "constant", "values": [2.5] * 40},
        {"name": "small", "values": [0.1, 0.2, 0.3, 0.7, 0.9, 1.3]},
    ]
    probe = [-10, 0.1, 0.2, 0.3, 0.5, 1.0, 1.3, 2.0, 2.5, -1.0, 0.0, 1.5, 3.0, 10.0, float("nan")]
    for s in samples:
        v = np.sort(sample(s["values"]))
        for bins in [4, 10]:
            edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)))
            open_edges = edges.copy()
            open_edges[0] = -np.inf
            if len(edges) > 1:
                open_edges[-1] = np.inf
            vals = np.concatenate([v, np.array(probe)])
            counts = np.histogram(vals[~np.isnan(vals)], open_edges)[0] if len(open_edges) > 1 else []
            closed_counts = np.histogram(vals[~np.isnan(vals)], edges)[0] if len(edges) > 1 else []
            out.append({
                "name": s["name"], "values": s["values"], "bins": bins, "probe": nums(probe),
                "edges": nums(edges), "openEdges": nums(open_edges),
                "counts": nums(counts), "closedCounts": nums(closed_counts),
                "quantiles": [[q, num(np.quantile(v, q))] for q in [0, 0.1, 0.25, 1 / 3, 0.5, 0.9, 0.999, 1]],
            })
    sturges = []
    for s in [g(63, 1000), g(64, 1024, dist="uniform"), g(65, 20000, dist="cubic"), [1, 2], [3, 3, 3]]:
        v = sample(s)
        e = np.histogram_bin_edges(v, bins="sturges")
        sturges.append({"values": s, "edges": nums(e), "counts": nums(np.histogram(v, e)[0])})
    return out, sturges


def evidently_synthetic():
    cases = [
        {"name": "small numeric ks", "kind": "num", "ref": g(70, 600), "cur": g(71, 500, loc=0.2)},
        {"name": "small numeric 4 values", "kind": "num", "ref": g(72, 800, dist="int", k=4), "cur": g(73, 700, dist="int", k=4)},
        {"name": "small numeric binary", "kind": "num", "ref": g(74, 1000, dist="int", k=2), "cur": g(75, 300, dist="int", k=2)},
        {"name": "small numeric single value", "kind": "num", "ref": [1.0] * 50, "cur": [1.0] * 30},
        {"name": "large numeric wasserstein", "kind": "num", "ref": g(76, 5000), "cur": g(77, 4000, loc=0.08)},
        {"name": "large numeric 5 values", "kind": "num", "ref": g(78, 3000, dist="int", k=5), "cur": g(79, 3000, dist="int", k=5, loc=0.0)},
        {"name": "large numeric 15 values js", "kind": "num", "ref": g(80, 3000, dist="int", k=15), "cur": g(81, 2000, dist="int", k=16), "tests": ["jensenshannon", "psi"]},
        {"name": "large numeric constant ref", "kind": "num", "ref": [3.0] * 1500, "cur": g(82, 1000, loc=3, scale=0.01)},
        {"name": "small categorical", "kind": "cat", "ref": [300, 200, 100, 0], "cur": [250, 230, 100, 20]},
        {"name": "small categorical binary", "kind": "cat", "ref": [450, 50], "cur": [400, 100]},
        {"name": "small categorical new value", "kind": "cat", "ref": [500, 300, 0], "cur": [480, 300, 1]},
        {"name": "large categorical", "kind": "cat", "ref": [5000, 3000, 2000], "cur": [4000, 3500, 2500]},
        {"name": "large categorical rare", "kind": "cat", "ref": [999990, 10, 0], "cur": [5000, 0, 3]},
    ]
    for c in cases:
        ref = sample(c["ref"]) if c["kind"] == "num" else c["ref"]
        cur = sample(c["cur"]) if c["kind"] == "num" else c["cur"]
        c["expected"] = ev_column(ref, cur, c["kind"])
        if c["kind"] == "num":
            r, cu = ev_clean(ref), ev_clean(cur)
            c["expected"]["uniqueValues"] = int(len(np.unique(np.concatenate([r, cu]))))
            c["expected"]["referenceRows"] = int(len(r))
    return cases


# --------------------------------------------------------------------------------------------------
# Fixture columns
# --------------------------------------------------------------------------------------------------

DATASETS = {
    "breast-cancer-gbt": {"categorical": [], "currents": ["current_nodrift.csv", "current_covariate_drift.csv", "current_quality.csv"]},
    "diabetes-gbt-regressor": {"categorical": [], "currents": ["current_nodrift.csv", "current_covariate_drift.csv", "current_quality.csv"]},
    "tabular-mixed": {"categorical": ["city_id"], "currents": ["current_nodrift.csv", "current_covariate_drift.csv"]},
    "credit": {"categorical": ["home_ownership", "loan_purpose", "region"], "currents": ["current_nodrift.csv", "current_covariate_drift.csv"]},
}


def read_csv(path):
    """The fixture CSVs have no quoted fields: split on commas; empty field = missing."""
    with open(path) as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    rows = [ln.split(",") for ln in lines[1:] if ln != ""]
    return header, rows


def column(header, rows, name, numeric):
    i = header.index(name)
    if numeric:
        return np.array([float(r[i]) if r[i] != "" else np.nan for r in rows], dtype=np.float64)
    return [r[i] for r in rows if r[i] != ""]


def fixture_cases(fixtures):
    cases = []
    for ds, info in DATASETS.items():
        href, rref = read_csv(os.path.join(fixtures, ds, "reference.csv"))
        for cur_file in info["currents"]:
            hcur, rcur = read_csv(os.path.join(fixtures, ds, cur_file))
            for name in href:
                if name == "label":
                    continue
                case = {"dataset": ds, "reference": f"{ds}/reference.csv", "current": f"{ds}/{cur_file}", "column": name}
                if name in info["categorical"]:
                    a = column(href, rref, name, False)
                    b = column(hcur, rcur, name, False)
                    cats = sorted(set(a) | set(b))
                    ca = np.array([a.count(c) for c in cats], float)
                    cb = np.array([b.count(c) for c in cats], float)
                    chi2, p, dof, _ = stats.chi2_contingency(np.array([ca, cb]), correction=False)
                    case["kind"] = "categorical"
                    case["expected"] = {
                        "categories": cats,
                        "chiSquare": {"statistic": num(chi2), "dof": int(dof), "pValue": num(p)},
                        "cramersV": num(contingency.association(np.array([ca, cb]).astype(np.int64), method="cramer", correction=False)),
                        "psi": num(psi_counts(ca, cb)),
                        "jensenShannon": num(distance.jensenshannon(ca, cb)),
                        "evidently": ev_column(ca, cb, "cat"),
                    }
                else:
                    a = column(href, rref, name, True)
                    b = column(hcur, rcur, name, True)
                    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
                    r = stats.ks_2samp(a, b)
                    dpsi, n_edges = decile_psi(a, b)
                    case["kind"] = "numerical"
                    case["expected"] = {
                        "n": [len(a), len(b)],
                        "ks": {"statistic": num(r.statistic), "pValue": num(r.pvalue), "method": "exact" if max(len(a), len(b)) <= 10000 else "asymp"},
                        "wasserstein": num(stats.wasserstein_distance(a, b)),
                        "wassersteinNormed": num(stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)),
                        "decilePsi": num(dpsi),
                        "decileEdges": n_edges,
                        "evidently": ev_column(a, b, "num"),
                    }
                cases.append(case)
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=os.environ.get("BERTH_FIXTURES") or next(
        (p for p in [os.path.join(ROOT, "..", "shared", "fixtures"), "/work/shared/fixtures"] if os.path.isdir(p)), None))
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "monitor", "stats", "expected.json"))
    args = ap.parse_args()
    if not args.fixtures:
        sys.exit("fixtures not found: pass --fixtures or set BERTH_FIXTURES")
    gof, hom = chi_cases()
    psi_c, js_c, w_c, z_c, bh_c = distance_cases()
    bins, sturges = binning_cases()
    doc = {
        "generator": "scripts/stats-expected.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "python": sys.version.split()[0]},
        "special": special_cases(),
        "ks": ks_cases(),
        "ksWeighted": weighted_cases(),
        "chiSquareGoodnessOfFit": gof,
        "chiSquareHomogeneity": hom,
        "psi": psi_c,
        "jensenShannon": js_c,
        "wasserstein": w_c,
        "proportionZTest": z_c,
        "benjaminiHochberg": bh_c,
        "binning": bins,
        "sturges": sturges,
        "evidentlySynthetic": evidently_synthetic(),
        "fixtures": fixture_cases(args.fixtures),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()

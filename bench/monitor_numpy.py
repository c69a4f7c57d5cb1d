#!/usr/bin/env python3
"""The numpy/scipy side of `npm run bench -- monitor`: the drift and data-quality statistics of
Berth's `berth` preset, computed with numpy and scipy in one Python process, for the Node bench to
compare its time (and its numbers) with.

    /usr/bin/python3 bench/monitor_numpy.py --current credit-1m.csv --reference credit/reference.csv \
        --card credit/card.json [--repeat 3] [--discrete-max 20] [--bins 10]

Loading is NOT timed (as in a pandas workflow, the data is in memory first): both CSVs are read with
pandas, numeric columns become float64 numpy arrays (NaN = missing) and categorical columns integer
codes over their categories (-1 = missing), which is what Berth's dictionary-coded columns are too.
Then, timed, per column:

  numeric, more than --discrete-max distinct reference values:
      KS statistic + p-value (scipy.stats.ks_2samp, its default 'auto' method, which is asymptotic at
      these sizes), PSI on the reference deciles (np.quantile edges, open ends, counts by
      np.searchsorted on the sorted column), Wasserstein-1 (scipy.stats.wasserstein_distance) over
      the reference's population std
  numeric with few distinct reference values (Berth's drift.ts rule):
      chi-square over the value counts (scipy.stats.chi2_contingency, no continuity correction),
      PSI over the same values, normed Wasserstein
  categorical: chi-square + PSI over the category counts (np.bincount of the codes)
  then Benjamini-Hochberg over the 15 p-values (numpy; scipy 1.10 has no false_discovery_control),
  and quality: missing share, out-of-range share (reference min/max widened by 5% of the range),
  unknown-category share (the card's vocabulary), min/max and constant column.

Each column is sorted once (np.sort) and the sorted array is handed to every statistic. Prints one
JSON line on stdout: load time, each repeat's time, and the statistics of the last repeat.
"""

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
import scipy
from scipy import stats

PSI_EPS = 1e-4
RANGE_MARGIN = 0.05


def psi(ref_counts, cur_counts):
    r = np.maximum(ref_counts / ref_counts.sum(), PSI_EPS)
    c = np.maximum(cur_counts / cur_counts.sum(), PSI_EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def chi_square(ref_counts, cur_counts):
    table = np.array([ref_counts, cur_counts], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    chi2, p, _dof, _exp = stats.chi2_contingency(table, correction=False)
    return float(chi2), float(p)


def decile_edges(ref_sorted, bins):
    q = np.quantile(ref_sorted, np.linspace(0, 1, bins + 1))
    e = np.unique(q)
    e[0] = -np.inf
    if e.size > 1:
        e[-1] = np.inf
    return e


def binned_counts(sorted_values, edges):
    # bins [e_i, e_i+1) like np.histogram; open ends, so every value is counted
    cuts = np.searchsorted(sorted_values, edges[1:-1], side="left")
    return np.diff(np.concatenate(([0], cuts, [sorted_values.size]))).astype(np.float64)


def bh(p):
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def analyse(ref, cur, numeric, categorical, vocab, discrete_max, bins):
    cols = {}
    pvals = []
    for name in numeric:
        r_raw, c_raw = ref[name], cur[name]
        r = np.sort(r_raw[np.isfinite(r_raw)])
        c = np.sort(c_raw[np.isfinite(c_raw)])
        std = max(float(r.std()), 1e-3)
        res = {"kind": "numeric", "referenceRows": int(r.size), "currentRows": int(c.size)}
        ref_values, ref_counts = np.unique(r, return_counts=True)
        if ref_values.size <= discrete_max:
            cur_values, cur_counts = np.unique(c, return_counts=True)
            allv = np.union1d(ref_values, cur_values)
            rc = np.zeros(allv.size)
            cc = np.zeros(allv.size)
            rc[np.searchsorted(allv, ref_values)] = ref_counts
            cc[np.searchsorted(allv, cur_values)] = cur_counts
            chi2, p = chi_square(rc, cc)
            res.update(test="chisquare", statistic=chi2, pValue=p, psi=psi(rc, cc))
        else:
            edges = decile_edges(r, bins)
            ks = stats.ks_2samp(r, c)
            res.update(test="ks", statistic=float(ks.statistic), pValue=float(ks.pvalue),
                       psi=psi(binned_counts(r, edges), binned_counts(c, edges)))
        res["wassersteinNormed"] = float(stats.wasserstein_distance(r, c)) / std
        # quality
        lo, hi = float(r[0]), float(r[-1])
        margin = (hi - lo) * RANGE_MARGIN
        lo, hi = lo - margin, hi + margin
        n = c_raw.size
        missing = int(np.count_nonzero(np.isnan(c_raw)))
        below = int(np.count_nonzero(c_raw < lo))
        above = int(np.count_nonzero(c_raw > hi))
        cmin, cmax = (float(c[0]), float(c[-1])) if c.size else (None, None)
        res["quality"] = {"missingShare": missing / n, "outOfRangeShare": (below + above) / n, "below": below,
                          "above": above, "min": cmin, "max": cmax,
                          "constant": bool(c.size > 0 and cmin == cmax and ref_values.size > 1)}
        cols[name] = res
        pvals.append(res["pValue"])
    for name in categorical:
        (r_codes, r_cats), (c_codes, c_cats) = ref[name], cur[name]
        # the current's categories onto the reference's, new ones after
        allc = list(r_cats) + [x for x in c_cats if x not in set(r_cats)]
        index = {x: i for i, x in enumerate(allc)}
        rc = np.zeros(len(allc))
        rc[: len(r_cats)] = np.bincount(r_codes[r_codes >= 0], minlength=len(r_cats))
        per_code = np.bincount(c_codes[c_codes >= 0], minlength=len(c_cats)).astype(np.float64)
        cc = np.zeros(len(allc))
        cc[[index[x] for x in c_cats]] = per_code
        chi2, p = chi_square(rc, cc)
        n = c_codes.size
        known = set(vocab.get(name) or r_cats)
        unknown = float(sum(per_code[i] for i, x in enumerate(c_cats) if x not in known))
        present = int(np.count_nonzero(per_code))
        cols[name] = {"kind": "categorical", "test": "chisquare", "statistic": chi2, "pValue": p, "psi": psi(rc, cc),
                      "referenceRows": int(rc.sum()), "currentRows": int(cc.sum()),
                      "quality": {"missingShare": int(np.count_nonzero(c_codes < 0)) / n, "unknownShare": unknown / n,
                                  "constant": present == 1 and len(r_cats) > 1}}
        pvals.append(p)
    adj = bh(pvals)
    for (name, res), a in zip(cols.items(), adj):
        res["pAdjusted"] = float(a)
    return cols


def load(path, numeric, categorical):
    df = pd.read_csv(path, dtype={c: "category" for c in categorical})
    out = {c: df[c].to_numpy(dtype=np.float64) for c in numeric}
    for c in categorical:
        s = df[c].cat
        out[c] = (s.codes.to_numpy().astype(np.int32), [str(x) for x in s.categories])
    return out, len(df)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--current", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--card", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--discrete-max", type=int, default=20)
    ap.add_argument("--bins", type=int, default=10)
    a = ap.parse_args()
    with open(a.card) as f:
        card = json.load(f)
    features = card["feature_names"]
    inputs = {i["name"]: i for i in card["inputs"]}
    categorical = [f for f in features if f in inputs and inputs[f]["dtype"] == "string"]
    numeric = [f for f in features if f not in categorical]
    vocab = {f: inputs[f].get("vocabulary") for f in categorical}
    t0 = time.perf_counter()
    ref, ref_rows = load(a.reference, numeric, categorical)
    cur, cur_rows = load(a.current, numeric, categorical)
    load_s = time.perf_counter() - t0
    times = []
    result = None
    for _ in range(a.repeat):
        t = time.perf_counter()
        result = analyse(ref, cur, numeric, categorical, vocab, a.discrete_max, a.bins)
        times.append(time.perf_counter() - t)
    json.dump({"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
               "pandas": pd.__version__, "rows": cur_rows, "referenceRows": ref_rows, "load_s": load_s,
               "times_s": times, "columns": result}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Exact interventional Shapley values of diabetes-gbt-regressor, by brute force.

Run with Debian's python3 (python3-onnx 1.12, python3-numpy):

    /usr/bin/python3 scripts/explain-reference/shapley.py [--fixtures DIR] [--out FILE]

Writes test/explain/reference/diabetes-shapley.json, which is checked in; the Kernel SHAP tests
(test/explain/kernel-shap.test.ts) trust it. Nothing here comes from Berth's code or from the shap
library:

1. The model file is parsed with the onnx package and its single ai.onnx.ml TreeEnsembleRegressor
   node is evaluated by our own numpy code (float32 thresholds and inputs, every BRANCH_* mode,
   NaN sent to the false branch unless nodes_missing_value_tracks_true says otherwise, leaf
   weights summed in float64, SUM aggregation, base value added, post_transform NONE).
2. That evaluator must reproduce every golden case of the fixture (scikit-learn's own
   predictions) within the fixture's stated tolerance, or the script stops.
3. For each explained row x, v(S) = mean over the fixed background rows b of f(x_S, b_¬S) is
   computed for all 2^10 coalitions S, and
       φ_i = Σ_{S ⊆ N∖{i}} |S|!·(M−|S|−1)!/M! · (v(S ∪ {i}) − v(S)).
   base = v(∅), prediction = v(N) = f(x), and base + Σφ = prediction is checked.

Everything is deterministic: fixed row indices, no randomness.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = "diabetes-gbt-regressor"

# Rows of reference.csv (0-based data rows, header excluded). The background is every 11th row
# from row 5; the explained rows are spread over the file and disjoint from it.
BACKGROUND_ROWS = [5 + 11 * k for k in range(20)]
EXPLAINED_ROWS = [0, 51, 102, 153, 210]
# One more explained row with a missing value (empty CSV field → NaN), from current_quality.csv,
# so that NaN handling (the trees send NaN to the false branch) is covered too.
MISSING_FILE = "current_quality.csv"


def default_fixtures():
    env = os.environ.get("BERTH_FIXTURES")
    if env:
        return env
    for p in (os.path.join(os.path.dirname(ROOT), "shared", "fixtures"), "/work/shared/fixtures"):
        if os.path.isdir(p):
            return p
    return os.path.join(os.path.dirname(ROOT), "shared", "fixtures")


# --------------------------------------------------------------------------------------------------
# The tree ensemble


class TreeEnsemble:
    """One TreeEnsembleRegressor node, flattened into arrays indexed by global node number."""

    def __init__(self, node):
        assert node.domain == "ai.onnx.ml" and node.op_type == "TreeEnsembleRegressor", node.op_type
        a = {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}
        for unsupported in ("nodes_values_as_tensor", "target_weights_as_tensor", "base_values_as_tensor", "nodes_hitrates_as_tensor"):
            assert unsupported not in a, f"{unsupported} is not handled by this evaluator"
        self.n_targets = int(a.get("n_targets", 1))
        assert self.n_targets == 1, "only single-target regressors are handled"
        agg = a.get("aggregate_function", b"SUM")
        post = a.get("post_transform", b"NONE")
        assert agg == b"SUM", f"aggregate_function {agg!r} not handled"
        assert post == b"NONE", f"post_transform {post!r} not handled"
        base = a.get("base_values", [0.0])
        # base_values is a float attribute: a float32 value, added in float64 here
        self.base = float(np.float32(base[0])) if len(base) else 0.0

        tree_ids = list(a["nodes_treeids"])
        node_ids = list(a["nodes_nodeids"])
        count = len(tree_ids)
        modes = [m.decode() for m in a["nodes_modes"]]
        features = list(a["nodes_featureids"])
        # thresholds are float32 attributes; comparisons are made in float32 like the runtime
        thresholds = np.asarray(a["nodes_values"], dtype=np.float32)
        true_ids = list(a["nodes_truenodeids"])
        false_ids = list(a["nodes_falsenodeids"])
        tracks = list(a.get("nodes_missing_value_tracks_true", [0] * count))
        if len(tracks) == 0:
            tracks = [0] * count

        index = {(t, n): i for i, (t, n) in enumerate(zip(tree_ids, node_ids))}
        self.mode = modes
        self.feature = np.asarray(features, dtype=np.int64)
        self.threshold = thresholds
        self.true_next = np.asarray([index.get((t, n), -1) if m != "LEAF" else -1 for t, n, m in zip(tree_ids, true_ids, modes)], dtype=np.int64)
        self.false_next = np.asarray([index.get((t, n), -1) if m != "LEAF" else -1 for t, n, m in zip(tree_ids, false_ids, modes)], dtype=np.int64)
        self.tracks_true = np.asarray(tracks, dtype=bool)
        self.leaf_weight = np.zeros(count, dtype=np.float64)
        for t, n, tid, w in zip(a["target_treeids"], a["target_nodeids"], a["target_ids"], a["target_weights"]):
            assert tid == 0
            i = index[(t, n)]
            assert modes[i] == "LEAF", "weights must sit on leaves"
            self.leaf_weight[i] += float(np.float32(w))
        self.is_leaf = np.asarray([m == "LEAF" for m in modes], dtype=bool)
        # the root is the node that no other node points to (node ids need not start at 0)
        pointed = set(self.true_next.tolist()) | set(self.false_next.tolist())
        self.roots = []
        for t in sorted(set(tree_ids)):
            candidates = [i for i, tt in enumerate(tree_ids) if tt == t and i not in pointed]
            assert len(candidates) == 1, f"tree {t}: {len(candidates)} roots"
            self.roots.append(candidates[0])
        for i, m in enumerate(modes):
            if m != "LEAF":
                assert self.true_next[i] >= 0 and self.false_next[i] >= 0, f"node {i}: dangling child"

    def _goes_true(self, i, values):
        """The branch taken at node i for a float32 column of values."""
        t = self.threshold[i]
        mode = self.mode[i]
        with np.errstate(invalid="ignore"):
            if mode == "BRANCH_LEQ":
                cond = values <= t
            elif mode == "BRANCH_LT":
                cond = values < t
            elif mode == "BRANCH_GTE":
                cond = values >= t
            elif mode == "BRANCH_GT":
                cond = values > t
            elif mode == "BRANCH_EQ":
                cond = values == t
            elif mode == "BRANCH_NEQ":
                cond = values != t
            else:
                raise AssertionError(f"unknown node mode {mode}")
        # a missing value goes where nodes_missing_value_tracks_true says: the false branch by default
        missing = np.isnan(values)
        return np.where(missing, self.tracks_true[i], cond)

    def predict(self, X):
        """f(X) for a float32 matrix of rows, in float64."""
        X = np.asarray(X, dtype=np.float32)
        out = np.full(X.shape[0], self.base, dtype=np.float64)
        for root in self.roots:
            node = np.full(X.shape[0], root, dtype=np.int64)
            # walk every row down the tree one level at a time until all sit on leaves
            while True:
                inner = ~self.is_leaf[node]
                if not inner.any():
                    break
                for i in np.unique(node[inner]):
                    rows = np.nonzero(node == i)[0]
                    go = self._goes_true(i, X[rows, self.feature[i]])
                    node[rows] = np.where(go, self.true_next[i], self.false_next[i])
            out += self.leaf_weight[node]
        return out


# --------------------------------------------------------------------------------------------------
# Inputs


def read_csv(path):
    """A numeric CSV as (header, float32 matrix); empty fields become NaN."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = []
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            rows.append([float(v) if v != "" else math.nan for v in line.split(",")])
    return header, np.asarray(rows, dtype=np.float64)


def check_golden(ensemble, golden):
    tol = golden["tolerance"]["variable"]
    worst = 0.0
    for case in golden["cases"]:
        X = np.asarray(case["inputs"]["input"]["data"], dtype=np.float32)
        expected = np.asarray(case["expected"]["variable"]["data"], dtype=np.float64).reshape(-1)
        got = ensemble.predict(X)
        err = np.abs(got - expected)
        bound = tol["atol"] + tol["rtol"] * np.abs(expected)
        bad = np.nonzero(err > bound)[0]
        if len(bad):
            i = int(bad[0])
            sys.exit(f"golden case {case['name']} row {i}: our evaluator gives {got[i]!r}, golden {expected[i]!r} "
                     f"(|diff| {err[i]:.3g} > {bound[i]:.3g}); the reference would be wrong, stopping")
        worst = max(worst, float(err.max()))
        print(f"golden {case['name']}: {len(expected)} rows within atol {tol['atol']} rtol {tol['rtol']} (max |diff| {err.max():.3g})")
    return worst


# --------------------------------------------------------------------------------------------------
# Brute-force Shapley values


def exact_shapley(ensemble, x, background, weights):
    """base, f(x) and φ for one row x against a weighted background (all float64)."""
    M = x.shape[0]
    n = background.shape[0]
    full = 1 << M
    # all 2^M coalitions × n background rows: x's value where the coalition has the feature
    masks = ((np.arange(full)[:, None] >> np.arange(M)[None, :]) & 1).astype(bool)  # full × M
    rows = np.where(masks[:, None, :], x[None, None, :], background[None, :, :])  # full × n × M
    f = ensemble.predict(rows.reshape(full * n, M)).reshape(full, n)
    v = f @ weights  # v(S) = Σ_b w_b f(x_S, b_¬S)
    size = masks.sum(axis=1)
    # Shapley weight of a coalition of size s not containing i: s!(M−s−1)!/M!
    coef = np.array([math.factorial(s) * math.factorial(M - s - 1) / math.factorial(M) for s in range(M)])
    phi = np.zeros(M)
    for i in range(M):
        bit = 1 << i
        without = np.nonzero((np.arange(full) & bit) == 0)[0]
        phi[i] = float(np.sum(coef[size[without]] * (v[without | bit] - v[without])))
    base = float(v[0])
    prediction = float(v[full - 1])
    direct = float(ensemble.predict(x[None, :])[0])
    assert abs(prediction - direct) < 1e-9, (prediction, direct)
    gap = abs(base + phi.sum() - prediction)
    assert gap < 1e-9, f"additivity: base + Σφ − prediction = {gap}"
    return base, prediction, phi


def as_json_number(v):
    """float32 values written exactly (as the float64 that equals them); NaN as null."""
    v = float(v)
    return None if math.isnan(v) else v


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default=default_fixtures())
    parser.add_argument("--out", default=os.path.join(ROOT, "test", "explain", "reference", "diabetes-shapley.json"))
    args = parser.parse_args()
    folder = os.path.join(args.fixtures, MODEL)

    model = onnx.load(os.path.join(folder, "model.onnx"))
    nodes = [n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor"]
    assert len(model.graph.node) == 1 and len(nodes) == 1, "expected a graph of one TreeEnsembleRegressor"
    ensemble = TreeEnsemble(nodes[0])
    with open(os.path.join(folder, "golden.json")) as f:
        golden = json.load(f)
    golden_worst = check_golden(ensemble, golden)
    with open(os.path.join(folder, "card.json")) as f:
        card = json.load(f)
    features = card["inputs"][0]["feature_names"]
    M = len(features)

    header, ref = read_csv(os.path.join(folder, "reference.csv"))
    assert header[:M] == features, f"reference.csv header {header} does not start with {features}"
    X = ref[:, :M].astype(np.float32)
    assert not set(BACKGROUND_ROWS) & set(EXPLAINED_ROWS)
    background = X[BACKGROUND_ROWS]
    weights = np.full(len(BACKGROUND_ROWS), 1.0 / len(BACKGROUND_ROWS))

    qheader, quality = read_csv(os.path.join(folder, MISSING_FILE))
    assert qheader[:M] == features
    Q = quality[:, :M].astype(np.float32)
    missing_row = int(np.nonzero(np.isnan(Q).any(axis=1))[0][0])

    explained = [("reference.csv", r, X[r]) for r in EXPLAINED_ROWS] + [(MISSING_FILE, missing_row, Q[missing_row])]
    out_rows = []
    for source, r, x in explained:
        base, prediction, phi = exact_shapley(ensemble, x, background, weights)
        print(f"{source} row {r}: base {base:.6f} prediction {prediction:.6f} Σφ {phi.sum():.6f}")
        out_rows.append({
            "source": source,
            "row": r,
            "x": [as_json_number(v) for v in x],
            "base": base,
            "prediction": prediction,
            "shapley": [float(p) for p in phi],
        })

    doc = {
        "model": MODEL,
        "description": "Exact interventional Shapley values by brute force over all 2^10 coalitions: "
                       "v(S) = Σ_b w_b f(x_S, b_¬S), φ_i = Σ_S |S|!(M−|S|−1)!/M! (v(S∪{i}) − v(S)). "
                       "f is scripts/explain-reference/shapley.py's own numpy evaluator of model.onnx in float64 "
                       "(float32 inputs, thresholds and leaf weights), checked against golden.json first.",
        "generator": "scripts/explain-reference/shapley.py",
        "features": features,
        "golden_max_abs_diff": golden_worst,
        "background": {
            "source": "reference.csv",
            "rows_index": BACKGROUND_ROWS,
            "rows": [[as_json_number(v) for v in b] for b in background],
            "weights": [float(w) for w in weights],
        },
        "rows": out_rows,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()

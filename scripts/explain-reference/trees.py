#!/usr/bin/python3
"""Independent reference for Berth's exact TreeSHAP (src/explain/tree-shap.ts).

Run with Debian's Python (python3-onnx and python3-numpy):

    /usr/bin/python3 scripts/explain-reference/trees.py

It
  1. builds a SMALL tree ensemble with onnx.helper (ai.onnx.ml TreeEnsembleRegressor, 3 trees of
     depth 3, 5 features, 2 targets, AVERAGE aggregation, hit rates on every node) and saves it to
     test/explain/reference/small-ensemble.onnx;
  2. evaluates it with its own numpy evaluator, written from the ONNX-ML operator spec and
     onnxruntime's rules (float32 comparisons, NaN takes the false branch unless
     nodes_missing_value_tracks_true is 1, the root of a tree is the first node listed for it);
  3. checks that evaluator on the shared fixtures' golden outputs (breast-cancer-gbt,
     diabetes-gbt-regressor), so the evaluator is itself tested against the original framework;
  4. computes, by brute force over all 2^5 coalitions S, the Shapley values of
       - the path-dependent game  v(S) = E[f(x) | x_S], defined by the recursion "at a split on a
         feature in S follow x, otherwise average both children weighted by their covers (the
         hit rates)" (Lundberg et al. 2018, Algorithm 1);
       - the interventional game  v(S) = sum_b w_b f(x_S, b_notS) / sum_b w_b over a small,
         fixed, weighted background;
  5. writes rows, background, weights, margins and both sets of values to
     test/explain/reference/small-ensemble.json (NaN is written as null).

Construction, so that the tests can check the Shapley axioms:
  * feature 4 is never split on (dummy: its value must be exactly 0);
  * tree 1 is tree 0 with features 0 and 1 swapped (same thresholds, modes, covers and leaf
    values), tree 2 uses only features 2 and 3; so f is symmetric in (x0, x1). For rows with
    x0 == x1 both games give features 0 and 1 equal values (the background is closed under the
    swap, with equal weights for swapped pairs);
  * every split mode appears (LEQ, LT, GT, GTE, EQ, NEQ), a feature repeats on a path in every
    tree (exercising TreeSHAP's UNWIND), one node sends missing values to the true branch, one
    leaf lists two weights for the same target (they add up), and tree 2's nodes are listed out
    of order with non-consecutive ids.

Everything is deterministic: no randomness, fixed numbers, sorted JSON keys.
"""
import itertools
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import helper, TensorProto

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
OUT_DIR = os.path.join(ROOT, 'test', 'explain', 'reference')
FIXTURES = next(
    (p for p in [os.environ.get('BERTH_FIXTURES'), os.path.join(ROOT, '..', 'shared', 'fixtures'), '/work/shared/fixtures']
     if p and os.path.isdir(p)),
    None,
)

M = 5  # features
T = 2  # targets


# ------------------------------------------------------------------------------------------------
# 1. The small ensemble
#
# Each tree is a list of nodes: (node_id, mode, feature, threshold, true_id, false_id, hit_rate,
# missing_tracks_true, leaf weights [(target, weight), ...]). Hit rates are consistent covers
# (an inner node's rate is the sum of its children's), as if counted over 100 training rows.

def tree_a(f_first, f_second):
    """Tree 0 (f_first=0, f_second=1) and its mirror, tree 1 (f_first=1, f_second=0)."""
    return [
        (0, 'BRANCH_LEQ', f_first, 0.5, 1, 2, 100, 0, []),
        (1, 'BRANCH_LT', f_second, 0.3, 3, 4, 60, 0, []),
        (3, 'LEAF', 0, 0.0, 0, 0, 25, 0, [(0, 1.5), (1, -0.5)]),
        (4, 'BRANCH_LEQ', f_first, 0.1, 5, 6, 35, 0, []),  # f_first again on this path
        (5, 'LEAF', 0, 0.0, 0, 0, 10, 0, [(0, -2.0), (1, 0.75)]),
        (6, 'LEAF', 0, 0.0, 0, 0, 25, 0, [(0, 0.25), (1, 1.0)]),
        (2, 'BRANCH_GT', f_second, 0.7, 7, 8, 40, 0, []),
        (7, 'LEAF', 0, 0.0, 0, 0, 15, 0, [(0, 3.0), (1, -1.5)]),
        (8, 'LEAF', 0, 0.0, 0, 0, 25, 0, [(0, -0.75), (1, 0.5)]),
    ]


# Tree 2: features 2 and 3 only. Listed root first (onnxruntime takes the first node listed for a
# tree as its root), the rest out of order, ids not consecutive.
TREE_C = [
    (0, 'BRANCH_GTE', 2, 1.0, 11, 4, 100, 1, []),  # NaN in feature 2 goes to the true branch
    (8, 'LEAF', 0, 0.0, 0, 0, 25, 0, [(0, 0.125), (1, 2.0)]),
    (11, 'BRANCH_EQ', 3, 2.0, 3, 14, 45, 0, []),
    (4, 'BRANCH_GT', 3, -1.0, 7, 8, 55, 0, []),
    (14, 'BRANCH_NEQ', 2, 3.0, 5, 6, 35, 0, []),  # feature 2 again on this path
    (3, 'LEAF', 0, 0.0, 0, 0, 10, 0, [(0, -1.0), (1, 0.25), (1, 0.5)]),  # two weights for target 1
    (7, 'LEAF', 0, 0.0, 0, 0, 30, 0, [(0, 0.5), (1, -0.25)]),
    (5, 'LEAF', 0, 0.0, 0, 0, 20, 0, [(0, 2.5), (1, 0.0)]),
    (6, 'LEAF', 0, 0.0, 0, 0, 15, 0, [(0, -0.5), (1, -2.0)]),
]

TREES = [tree_a(0, 1), tree_a(1, 0), TREE_C]
BASE_VALUES = [0.5, -1.25]


def build_model():
    attrs = {k: [] for k in [
        'nodes_treeids', 'nodes_nodeids', 'nodes_modes', 'nodes_featureids', 'nodes_values',
        'nodes_truenodeids', 'nodes_falsenodeids', 'nodes_hitrates', 'nodes_missing_value_tracks_true',
        'target_treeids', 'target_nodeids', 'target_ids', 'target_weights']}
    for tree_id, nodes in enumerate(TREES):
        for (nid, mode, feat, thr, t, f, hit, miss, weights) in nodes:
            attrs['nodes_treeids'].append(tree_id)
            attrs['nodes_nodeids'].append(nid)
            attrs['nodes_modes'].append(mode)
            attrs['nodes_featureids'].append(feat)
            attrs['nodes_values'].append(thr)
            attrs['nodes_truenodeids'].append(t)
            attrs['nodes_falsenodeids'].append(f)
            attrs['nodes_hitrates'].append(float(hit))
            attrs['nodes_missing_value_tracks_true'].append(miss)
            for (target, w) in weights:
                attrs['target_treeids'].append(tree_id)
                attrs['target_nodeids'].append(nid)
                attrs['target_ids'].append(target)
                attrs['target_weights'].append(w)
    node = helper.make_node(
        'TreeEnsembleRegressor', ['input'], ['variable'], domain='ai.onnx.ml',
        n_targets=T, aggregate_function='AVERAGE', post_transform='NONE', base_values=BASE_VALUES, **attrs)
    graph = helper.make_graph(
        [node], 'small-ensemble',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['N', M])],
        [helper.make_tensor_value_info('variable', TensorProto.FLOAT, ['N', T])])
    model = helper.make_model(graph, producer_name='berth-explain-reference',
                              opset_imports=[helper.make_opsetid('', 13), helper.make_opsetid('ai.onnx.ml', 3)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ------------------------------------------------------------------------------------------------
# 2. A numpy evaluator of ai.onnx.ml tree ensembles, read back from the ONNX node

class Ensemble:
    """Trees of one TreeEnsembleRegressor/Classifier node, evaluated as onnxruntime does."""

    def __init__(self, node):
        a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        self.is_classifier = node.op_type == 'TreeEnsembleClassifier'
        tree_ids = list(a['nodes_treeids'])
        node_ids = list(a['nodes_nodeids'])
        modes = [m.decode() for m in a['nodes_modes']]
        n = len(tree_ids)
        # thresholds as float32: onnxruntime compares float32 inputs with float32 thresholds
        self.thresholds = np.asarray(a['nodes_values'], dtype=np.float32)
        hit = list(a.get('nodes_hitrates', []))
        miss = list(a.get('nodes_missing_value_tracks_true', []))
        self.index = {(tree_ids[i], node_ids[i]): i for i in range(n)}
        self.nodes = []
        for i in range(n):
            self.nodes.append(dict(
                mode=modes[i], feature=a['nodes_featureids'][i], threshold=self.thresholds[i],
                true=self.index.get((tree_ids[i], a['nodes_truenodeids'][i])),
                false=self.index.get((tree_ids[i], a['nodes_falsenodeids'][i])),
                cover=float(hit[i]) if hit else None,
                missing_true=bool(miss[i]) if i < len(miss) else False,
                weights=[]))
        prefix = 'class' if self.is_classifier else 'target'
        for tid, nid, k, w in zip(a[prefix + '_treeids'], a[prefix + '_nodeids'], a[prefix + '_ids'], a[prefix + '_weights']):
            self.nodes[self.index[(tid, nid)]]['weights'].append((k, float(np.float32(w))))
        # roots: the first node of each run of equal tree ids
        self.roots = [i for i in range(n) if i == 0 or tree_ids[i] != tree_ids[i - 1]]
        if self.is_classifier:
            # only the skl2onnx binary layout is needed here: one score column for class id 0
            self.n_targets = 1
            self.average = False
        else:
            self.n_targets = a['n_targets']
            self.average = a.get('aggregate_function', b'SUM') == b'AVERAGE'
        self.base = [float(np.float32(v)) for v in a.get('base_values', [])] or [0.0] * self.n_targets
        self.scale = 1.0 / len(self.roots) if self.average else 1.0

    def goes_true(self, i, value):
        """onnxruntime's comparison, in float32; NaN compares false (and != compares true)."""
        nd = self.nodes[i]
        v = np.float32(value)
        t = nd['threshold']
        with np.errstate(invalid='ignore'):
            r = {
                'BRANCH_LEQ': v <= t, 'BRANCH_LT': v < t, 'BRANCH_GTE': v >= t,
                'BRANCH_GT': v > t, 'BRANCH_EQ': v == t, 'BRANCH_NEQ': v != t,
            }[nd['mode']]
        return bool(r) or (nd['missing_true'] and math.isnan(float(v)))

    def leaf_value(self, i):
        """What leaf i adds to each target (weights for the same target add up)."""
        out = np.zeros(self.n_targets)
        for (k, w) in self.nodes[i]['weights']:
            out[k] += w
        return out * self.scale

    def tree_value(self, root, x):
        i = root
        while self.nodes[i]['mode'] != 'LEAF':
            i = self.nodes[i]['true'] if self.goes_true(i, x[self.nodes[i]['feature']]) else self.nodes[i]['false']
        return self.leaf_value(i)

    def margin(self, x):
        return np.asarray(self.base, dtype=np.float64) + sum(self.tree_value(r, x) for r in self.roots)

    # ---- the path-dependent game, straight from its definition (Algorithm 1) ----

    def cond_exp(self, i, x, S):
        nd = self.nodes[i]
        if nd['mode'] == 'LEAF':
            return self.leaf_value(i)
        if nd['feature'] in S:
            return self.cond_exp(nd['true'] if self.goes_true(i, x[nd['feature']]) else nd['false'], x, S)
        ct = self.nodes[nd['true']]['cover']
        cf = self.nodes[nd['false']]['cover']
        return (ct * self.cond_exp(nd['true'], x, S) + cf * self.cond_exp(nd['false'], x, S)) / (ct + cf)

    def path_dependent_value(self, x, S):
        return np.asarray(self.base, dtype=np.float64) + sum(self.cond_exp(r, x, S) for r in self.roots)


# ------------------------------------------------------------------------------------------------
# 3. Shapley values by brute force over all coalitions

def shapley(value_of, m):
    """phi[i] = sum over S not containing i of |S|!(m-|S|-1)!/m! (v(S u {i}) - v(S))."""
    values = {}
    for size in range(m + 1):
        for S in itertools.combinations(range(m), size):
            values[frozenset(S)] = np.asarray(value_of(frozenset(S)), dtype=np.float64)
    phi = np.zeros((m,) + values[frozenset()].shape)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for S in itertools.combinations(others, size):
                S = frozenset(S)
                phi[i] += weight * (values[S | {i}] - values[S])
    return values[frozenset()], values[frozenset(range(m))], phi


def hybrid(x, b, S):
    """The row that takes features in S from x and the others from b."""
    return np.array([x[j] if j in S else b[j] for j in range(len(x))], dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# Rows and background

NAN = float('nan')
ROWS = np.array([
    [0.3, 0.3, 2.0, 2.0, 5.0],     # x0 == x1
    [0.05, 0.05, 3.0, 1.0, -1.0],  # x0 == x1, deep left paths, NEQ false
    [0.6, 0.2, 0.5, -2.0, 0.0],    # asymmetric
    [0.8, 0.8, NAN, 2.0, 0.0],     # x0 == x1; NaN in feature 2 (tracks true at tree 2's root, != at its NEQ)
    [0.5, 0.7, 1.0, -1.0, 9.0],    # exactly on thresholds (LEQ 0.5 true, GT 0.7 false, GTE 1 true, GT -1 false)
    [NAN, 0.9, 0.0, 3.0, 1.0],     # NaN in feature 0: false branch at LEQ
    [0.8, 0.8, NAN, 0.0, 0.0],     # x0 == x1; NaN in feature 2 reaches the NEQ split (NaN != 3 holds: true branch)
], dtype=np.float32)

# closed under swapping features 0 and 1, swapped pairs weighted equally
BACKGROUND = np.array([
    [0.2, 0.8, 1.5, 2.0, 7.0],
    [0.8, 0.2, 1.5, 2.0, 7.0],
    [0.6, 0.1, 0.5, 0.0, -3.0],
    [0.1, 0.6, 0.5, 0.0, -3.0],
    [0.05, 0.05, 3.0, -2.0, 0.0],
    [0.9, 0.9, 0.9, 2.0, 1.0],
], dtype=np.float32)
BACKGROUND_WEIGHTS = np.array([1.0, 1.0, 2.0, 2.0, 0.5, 1.5])


def fixture_check(ensemble_of):
    """Our evaluator against the fixtures' golden outputs (computed by scikit-learn)."""
    if not FIXTURES:
        print('fixtures not found: skipping the evaluator check on them', file=sys.stderr)
        return
    for name, output in [('breast-cancer-gbt', 'probabilities'), ('diabetes-gbt-regressor', 'variable')]:
        model = onnx.load(os.path.join(FIXTURES, name, 'model.onnx'))
        ens = ensemble_of(model)
        golden = json.load(open(os.path.join(FIXTURES, name, 'golden.json')))
        tol = golden['tolerance'][output]
        worst = 0.0
        for case in golden['cases']:
            X = np.asarray(case['inputs']['input']['data'], dtype=np.float32)
            expected = np.asarray(case['expected'][output]['data'], dtype=np.float64)
            for r in range(X.shape[0]):
                m = ens.margin(X[r])
                got = np.array([1 / (1 + math.exp(m[0])), 1 / (1 + math.exp(-m[0]))]) if ens.is_classifier else m
                err = np.abs(got - expected[r])
                assert np.all(err <= tol['atol'] + tol['rtol'] * np.abs(expected[r])), (name, case['name'], r, got, expected[r])
                worst = max(worst, float(err.max()))
        print(f'evaluator matches {name} golden outputs (max abs error {worst:.3g})')


def main():
    model = build_model()
    os.makedirs(OUT_DIR, exist_ok=True)
    onnx.save(model, os.path.join(OUT_DIR, 'small-ensemble.onnx'))

    def ensemble_of(m):
        nodes = [n for n in m.graph.node if n.op_type.startswith('TreeEnsemble')]
        assert len(nodes) == 1
        return Ensemble(nodes[0])

    fixture_check(ensemble_of)
    # evaluate the model as saved (read back from the file), not the Python lists above
    ens = ensemble_of(onnx.load(os.path.join(OUT_DIR, 'small-ensemble.onnx')))
    assert ens.n_targets == T

    total = BACKGROUND_WEIGHTS.sum()
    rows_out = []
    for x in ROWS:
        margin = ens.margin(x)
        # path-dependent game
        pd_base, pd_full, pd_phi = shapley(lambda S: ens.path_dependent_value(x, S), M)
        assert np.allclose(pd_full, margin, atol=1e-12), 'v(all features) must be the margin'
        assert np.allclose(pd_base + pd_phi.sum(axis=0), margin, atol=1e-12)
        # interventional game
        def v_int(S):
            return sum(w * ens.margin(hybrid(x, b, S)) for b, w in zip(BACKGROUND, BACKGROUND_WEIGHTS)) / total
        iv_base, iv_full, iv_phi = shapley(v_int, M)
        assert np.allclose(iv_full, margin, atol=1e-12)
        assert np.allclose(iv_base + iv_phi.sum(axis=0), margin, atol=1e-12)
        assert np.all(pd_phi[4] == 0) and np.all(iv_phi[4] == 0), 'feature 4 is a dummy'
        rows_out.append(dict(
            x=[None if math.isnan(v) else float(v) for v in x],
            margin=margin.tolist(),
            # values[target][feature]
            pathDependent=dict(base=pd_base.tolist(), values=pd_phi.T.tolist()),
            interventional=dict(base=iv_base.tolist(), values=iv_phi.T.tolist()),
        ))

    out = dict(
        description='Brute-force Shapley values of the small ensemble (scripts/explain-reference/trees.py). '
                    'Rows are float32 values written as float64; null is NaN. values[target][feature].',
        model='small-ensemble.onnx',
        featureCount=M,
        targetCount=T,
        dummyFeature=4,
        symmetricFeatures=[0, 1],
        background=dict(rows=BACKGROUND.astype(np.float64).tolist(), weights=BACKGROUND_WEIGHTS.tolist()),
        rows=rows_out,
    )
    with open(os.path.join(OUT_DIR, 'small-ensemble.json'), 'w') as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write('\n')
    print(f'wrote {len(rows_out)} rows to {os.path.relpath(OUT_DIR, ROOT)}/small-ensemble.json')


if __name__ == '__main__':
    main()

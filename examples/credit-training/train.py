#!/usr/bin/python3
"""Train the credit-default model and export it as a drop-in ONNX replacement.

Example training step for a continuous-training pipeline. It fits a scikit-learn
pipeline (median imputation + standard scaling of the numeric columns, one-hot
encoding of the three string columns, binary logistic regression) and writes,
into --out-dir:

  model.onnx    hand-built ONNX graph with the same inputs and outputs as the
                fixture model (../../../shared/fixtures/credit/model.onnx):
                  numeric float32[N,12], home_ownership/loan_purpose/region string[N,1]
                  -> label int64[N], probabilities float32[N,2]
  card.json     Berth model card (berth-card/1, see docs/model-card.md)
  metrics.json  validation metrics, row counts, seed and training-file hashes

Only Debian's Python packages are needed (python3-sklearn, -numpy, -pandas,
-onnx); the graph is written with onnx.helper, without skl2onnx.

Per-step metrics are printed, and appended as JSON lines to $BERTH_METRICS_FILE
when that variable is set.

    /usr/bin/python3 examples/credit-training/train.py \\
        --train /work/shared/fixtures/credit/reference.csv --out-dir /tmp/credit-out
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import onnx
import pandas as pd
import sklearn
from onnx import TensorProto, helper
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# Column layout of the credit data, in the order the fixture model's inputs expect
# (card.json csv_to_inputs of the fixture). Each string column is its own [N,1] input.
NUMERIC = [
    "age", "annual_income", "employment_years", "credit_history_years",
    "loan_amount", "loan_term_months", "interest_rate", "debt_to_income",
    "credit_utilization", "num_credit_lines", "num_delinquencies_2y", "num_inquiries_6m",
]
CATEGORICAL = ["home_ownership", "loan_purpose", "region"]
LABEL = "label"
CLASS_LABELS = [0, 1]
CLASS_NAMES = ["repaid", "default"]

# --degrade keeps only two weakly informative numeric columns and weights the "default"
# class 3x, so the model ranks poorly and predicts "default" too often: a deliberately
# worse candidate (several points lower accuracy AND roc_auc) for testing rollout gates.
DEGRADE_NUMERIC = ["credit_utilization", "loan_term_months"]
DEGRADE_CLASS_WEIGHT = {0: 1.0, 1: 3.0}

# Opset imports and IR version of the fixture model, so the two files are interchangeable.
OPSET_IMPORTS = [helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 3)]
IR_VERSION = 8
PRODUCER = "berth-example"
PRODUCER_VERSION = "1.0"
DOC_STRING = "credit default: logistic regression over imputed+scaled numeric and in-graph one-hot categoricals"


# --------------------------------------------------------------------------- args, data

def parse_args(argv):
    p = argparse.ArgumentParser(description="Train the credit-default logistic regression and export ONNX.")
    p.add_argument("--train", action="extend", nargs="+", required=True, metavar="CSV",
                   help="training CSV(s); repeatable; files are concatenated in the order given")
    p.add_argument("--out-dir", required=True, help="directory for model.onnx, card.json, metrics.json")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/validation split (default 0)")
    p.add_argument("--max-iter", type=int, default=50,
                   help="total L-BFGS iteration budget, spread evenly over --steps (default 50)")
    p.add_argument("--steps", type=int, default=10, help="number of logged training steps (default 10)")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 regularisation strength (default 1.0)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="held-out fraction (default 0.2)")
    p.add_argument("--degrade", nargs="?", const="true", default="false", choices=["true", "false"],
                   help="train a deliberately worse model (2 weak numeric features, defaults weighted 3x); "
                        "`--degrade` alone or `--degrade true` (the form a pipeline param passes)")
    p.add_argument("--eval", action="append", default=[], metavar="CSV",
                   help="also score this labelled CSV (repeatable); results go to metrics.json 'eval'")
    p.add_argument("--expect-csv", metavar="PATH",
                   help="also write validation rows (+ edge cases) with sklearn's probabilities, for verify.mjs")
    args = p.parse_args(argv)
    args.degrade = args.degrade == "true"
    if args.max_iter < 1 or args.steps < 1:
        p.error("--max-iter and --steps must be >= 1")
    if not 0 < args.val_fraction < 1:
        p.error("--val-fraction must be in (0, 1)")
    return args


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_training_data(paths):
    """Concatenate the CSVs; numeric columns as float64 (blank -> NaN), strings with blank -> ''."""
    frames = []
    for path in paths:
        df = pd.read_csv(path, dtype={c: str for c in CATEGORICAL}, keep_default_na=False,
                         na_values={c: [""] for c in NUMERIC + [LABEL]})
        missing = [c for c in NUMERIC + CATEGORICAL + [LABEL] if c not in df.columns]
        if missing:
            sys.exit(f"{path}: missing column(s) {', '.join(missing)}")
        frames.append(df[NUMERIC + CATEGORICAL + [LABEL]])
    data = pd.concat(frames, ignore_index=True)
    data[NUMERIC] = data[NUMERIC].astype(np.float64)
    if data[LABEL].isna().any():
        sys.exit("the label column has missing values")
    data[LABEL] = data[LABEL].astype(np.int64)
    bad = sorted(set(data[LABEL].unique()) - set(CLASS_LABELS))
    if bad:
        sys.exit(f"label values must be 0/1, got {bad}")
    return data


# --------------------------------------------------------------------------- metrics log

class MetricsLog:
    """Appends each metric as one JSON line to $BERTH_METRICS_FILE, when that is set."""

    def __init__(self):
        self.path = os.environ.get("BERTH_METRICS_FILE") or None

    def log(self, key, value, step=None):
        if not self.path:
            return
        rec = {"key": key, "value": float(value)}
        if step is not None:
            rec["step"] = int(step)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")


# --------------------------------------------------------------------------- training

def make_preprocessor(numeric, vocabularies):
    parts = [("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                               ("scale", StandardScaler())]), numeric)]
    if vocabularies:
        cats = list(vocabularies)
        parts.append(("cat", OneHotEncoder(categories=[vocabularies[c] for c in cats],
                                           handle_unknown="ignore", dtype=np.float64), cats))
    return ColumnTransformer(parts)


def train(args, data, metrics):
    """Fit on (1 - val_fraction) of the rows.

    Returns (fitted Pipeline, numeric columns used, vocabularies used, (X_tr, X_val, y_tr, y_val)).
    """
    X, y = data[NUMERIC + CATEGORICAL], data[LABEL].to_numpy()
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=args.val_fraction,
                                                random_state=args.seed, stratify=y)

    numeric = DEGRADE_NUMERIC if args.degrade else NUMERIC
    empty = [c for c in numeric if X_tr[c].isna().all()]
    if empty:  # SimpleImputer would drop the column and shift every coefficient after it
        sys.exit(f"no training values at all in column(s) {', '.join(empty)}")
    # Vocabularies come from the training rows, sorted so they do not depend on row order;
    # a blank field is not a category (it encodes to all zeros, like any unknown value).
    vocabularies = {} if args.degrade else {
        c: sorted(v for v in X_tr[c].unique() if v != "") for c in CATEGORICAL}

    pre = make_preprocessor(numeric, vocabularies)
    Z_tr = pre.fit_transform(X_tr)
    Z_val = pre.transform(X_val)

    # L-BFGS with warm starts: each step continues from the previous coefficients for
    # another slice of the iteration budget, so progress can be logged per step.
    per_step = max(1, math.ceil(args.max_iter / args.steps))
    clf = LogisticRegression(C=args.C, solver="lbfgs", max_iter=per_step, warm_start=True,
                             class_weight=DEGRADE_CLASS_WEIGHT if args.degrade else None,
                             random_state=args.seed)
    for step in range(1, args.steps + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Z_tr, y_tr)
        train_loss = log_loss(y_tr, clf.predict_proba(Z_tr)[:, 1], labels=CLASS_LABELS)
        val_loss = log_loss(y_val, clf.predict_proba(Z_val)[:, 1], labels=CLASS_LABELS)
        iters = int(clf.n_iter_[0])
        metrics.log("train_loss", train_loss, step)
        metrics.log("val_loss", val_loss, step)
        print(f"step {step:2d}/{args.steps}  lbfgs iterations {iters:3d}  "
              f"train_loss {train_loss:.5f}  val_loss {val_loss:.5f}", flush=True)
        if iters < per_step:  # the solver stopped before its budget: converged
            print(f"converged at step {step}", flush=True)
            break

    model = Pipeline([("pre", pre), ("clf", clf)])
    return model, numeric, vocabularies, (X_tr, X_val, y_tr, y_val)


def evaluate(model, X, y):
    p = model.predict_proba(X)[:, 1]
    return {
        "accuracy": float(accuracy_score(y, (p > 0.5).astype(np.int64))),
        "roc_auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=CLASS_LABELS)),
    }


# --------------------------------------------------------------------------- ONNX export

def full_layout(model, numeric, vocabularies, data_vocabularies):
    """Fitted parameters laid out over ALL graph inputs.

    The graph always takes the 12 numeric columns and the 3 string inputs. Columns the
    model does not use (only with --degrade) get median 0, mean 0, scale 1 and weight 0;
    their string inputs are still one-hot encoded (with the vocabulary seen in the data)
    but weighted 0, so the graph stays the same shape and the card stays true.
    """
    pre, clf = model.named_steps["pre"], model.named_steps["clf"]
    num_pipe = pre.named_transformers_["num"]
    imputer, scaler = num_pipe.named_steps["impute"], num_pipe.named_steps["scale"]
    coef = clf.coef_[0]

    medians = np.zeros(len(NUMERIC))
    means = np.zeros(len(NUMERIC))
    scales = np.ones(len(NUMERIC))
    weights_num = np.zeros(len(NUMERIC))
    for j, col in enumerate(numeric):
        k = NUMERIC.index(col)
        medians[k], means[k], scales[k], weights_num[k] = (
            imputer.statistics_[j], scaler.mean_[j], scaler.scale_[j], coef[j])

    weights_cat, offset = {}, len(numeric)
    for col in CATEGORICAL:
        vocab = vocabularies.get(col) or data_vocabularies[col]
        if col in vocabularies:
            weights_cat[col] = (vocab, coef[offset:offset + len(vocab)])
            offset += len(vocab)
        else:
            weights_cat[col] = (vocab, np.zeros(len(vocab)))
    assert offset == len(coef), "coefficient count does not match the encoded layout"
    return medians, means, scales, weights_num, weights_cat, float(clf.intercept_[0])


def f32(values):
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def build_onnx(layout):
    """The graph, in the fixture model's signature:

      numeric [N,12] -Imputer(NaN -> median)-> -Scaler((x-mean)/std)-> [N,12]
      each string [N,1] -OneHotEncoder(zeros=1)-> [N,1,K] -Reshape-> [N,K]
      Concat -> [N,F] -LinearClassifier(LOGISTIC)-> label int64[N], probabilities float32[N,2]

    With one coefficient row and two classlabels_ints, onnxruntime's LinearClassifier picks
    the label from the raw score (score > 0 -> classlabels[1], as sklearn's predict does)
    and, with post_transform LOGISTIC, writes scores [N,2] = [1 - sigmoid(s), sigmoid(s)]:
    exactly predict_proba's layout.
    """
    medians, means, scales, weights_num, weights_cat, intercept = layout
    N = "N"
    nodes, inits = [], []

    nodes.append(helper.make_node(
        "Imputer", ["numeric"], ["numeric_imputed"], name="impute_median", domain="ai.onnx.ml",
        imputed_value_floats=f32(medians), replaced_value_float=float("nan")))
    nodes.append(helper.make_node(
        "Scaler", ["numeric_imputed"], ["numeric_scaled"], name="standard_scale", domain="ai.onnx.ml",
        offset=f32(means), scale=f32(1.0 / scales)))

    encoded, coefficients = ["numeric_scaled"], list(weights_num)
    for col in CATEGORICAL:
        vocab, w = weights_cat[col]
        nodes.append(helper.make_node(
            "OneHotEncoder", [col], [f"{col}_onehot3d"], name=f"ohe_{col}", domain="ai.onnx.ml",
            cats_strings=list(vocab), zeros=1))
        inits.append(helper.make_tensor(f"shape_{col}", TensorProto.INT64, [2], [-1, len(vocab)]))
        nodes.append(helper.make_node(
            "Reshape", [f"{col}_onehot3d", f"shape_{col}"], [f"{col}_onehot"], name=f"reshape_{col}"))
        encoded.append(f"{col}_onehot")
        coefficients.extend(w)

    nodes.append(helper.make_node("Concat", encoded, ["features"], name="concat", axis=1))
    nodes.append(helper.make_node(
        "LinearClassifier", ["features"], ["label", "probabilities"], name="logistic_regression",
        domain="ai.onnx.ml", coefficients=f32(coefficients), intercepts=f32([intercept]),
        classlabels_ints=CLASS_LABELS, post_transform="LOGISTIC", multi_class=0))

    inputs = [helper.make_tensor_value_info("numeric", TensorProto.FLOAT, [N, len(NUMERIC)])]
    inputs += [helper.make_tensor_value_info(c, TensorProto.STRING, [N, 1]) for c in CATEGORICAL]
    outputs = [helper.make_tensor_value_info("label", TensorProto.INT64, [N]),
               helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [N, len(CLASS_LABELS)])]
    # The ai.onnx.ml ops used here (Imputer, Scaler, OneHotEncoder) have no shape inference
    # in onnx, so their outputs are declared (as the fixture does) for the strict checker.
    value_info = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [N, len(NUMERIC)])
                  for name in ("numeric_imputed", "numeric_scaled")]
    value_info += [helper.make_tensor_value_info(f"{c}_onehot3d", TensorProto.FLOAT,
                                                 [N, 1, len(weights_cat[c][0])]) for c in CATEGORICAL]
    graph = helper.make_graph(nodes, "credit_logreg", inputs, outputs, initializer=inits,
                              value_info=value_info)

    model = helper.make_model(graph, opset_imports=OPSET_IMPORTS, producer_name=PRODUCER,
                              producer_version=PRODUCER_VERSION, doc_string=DOC_STRING)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"classes": "0=repaid,1=default"})
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------- card, expectations

def feature_ranges(X):
    """Observed [min, max] of each numeric column (NaN ignored), for documentation."""
    return {c: [float(X[c].min()), float(X[c].max())] for c in NUMERIC}


def make_card(args, numeric, vocabularies, data_vocabularies, val_metrics, X_tr, n_val):
    vocab = {c: vocabularies.get(c) or data_vocabularies[c] for c in CATEGORICAL}
    ranges = feature_ranges(X_tr)
    range_text = "; ".join(f"{c} {lo:g}..{hi:g}" for c, (lo, hi) in ranges.items())
    inputs = [{
        "name": "numeric",
        "features": NUMERIC,
        "allow_non_finite": True,
        "description": "raw numeric columns; NaN is replaced by the training median inside the graph, "
                       "then standard-scaled. Training ranges: " + range_text,
    }]
    for c in CATEGORICAL:
        inputs.append({
            "name": c,
            "features": [c],
            "vocabulary": vocab[c],
            "description": f"raw {c} string, one-hot encoded in the graph; "
                           "a value outside the vocabulary encodes to all zeros",
        })
    estimator = ("Pipeline(ColumnTransformer(num: SimpleImputer(median) + StandardScaler, "
                 "cat: OneHotEncoder(handle_unknown='ignore')), LogisticRegression(lbfgs))")
    return {
        "format": "berth-card/1",
        "title": "Credit default logistic regression" + (" (DEGRADED)" if args.degrade else ""),
        "task": "binary-classification",
        "description": "Logistic regression over 12 numeric columns (median-imputed and standard-scaled "
                       "in the graph) and three string columns one-hot encoded in the graph. Same "
                       "inputs and outputs as the credit fixture model."
                       + (f" Degraded on purpose: only {', '.join(numeric)}, with defaults weighted 3x."
                          if args.degrade else ""),
        "features": NUMERIC + CATEGORICAL,
        "inputs": inputs,
        "outputs": [
            {"name": "label", "role": "label", "description": "1 = default, 0 = repaid (p > 0.5)"},
            {"name": "probabilities", "role": "probabilities", "description": "[P(repaid), P(default)]"},
        ],
        "classes": {"labels": CLASS_LABELS, "names": CLASS_NAMES},
        # Same names as the fixture card, so reports line these up with live metrics;
        # they are measured on the held-out validation split (see lineage.training).
        "metrics": dict({k: round(v, 6) for k, v in val_metrics.items()}, rows=n_val),
        "lineage": {
            "framework": {"name": "scikit-learn", "version": sklearn.__version__,
                          "estimator": estimator},
            "dataset": ", ".join(os.path.basename(p) for p in args.train),
            "training": {
                "metrics_split": f"held-out {args.val_fraction:g} of the training rows "
                                 f"({n_val} rows, stratified, seed {args.seed})",
                "rows_trained": int(len(X_tr)), "seed": args.seed, "C": args.C,
                "max_iter": args.max_iter, "steps": args.steps, "val_fraction": args.val_fraction,
                "degrade": args.degrade, "numeric_features_used": numeric,
            },
            "feature_ranges": ranges,
        },
    }


def write_expectations(path, model, X_val, y_val):
    """Validation rows plus edge cases (NaN numerics, blank/unknown categories) with sklearn's output."""
    edge = X_val.head(240).copy()
    for i, idx in enumerate(edge.index):
        edge.loc[idx, NUMERIC[i % len(NUMERIC)]] = np.nan          # one missing value per row
        if i % 3 == 0:
            edge.loc[idx, CATEGORICAL[i % len(CATEGORICAL)]] = "UNKNOWN"
        elif i % 3 == 1:
            edge.loc[idx, CATEGORICAL[(i + 1) % len(CATEGORICAL)]] = ""
    edge.iloc[-12:, :len(NUMERIC)] = np.nan                         # all numerics missing

    rows = pd.concat([X_val, edge], ignore_index=True)
    proba = model.predict_proba(rows)
    out = rows.copy()
    out["case"] = ["validation"] * len(X_val) + ["edge"] * len(edge)
    out[LABEL] = np.concatenate([y_val, np.full(len(edge), -1)])
    out["expected_label"] = model.predict(rows)
    out["expected_p0"], out["expected_p1"] = proba[:, 0], proba[:, 1]
    out.to_csv(path, index=False)  # pandas writes floats with round-trip precision


# --------------------------------------------------------------------------- main

def main(argv=None):
    t0 = time.perf_counter()
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    metrics = MetricsLog()

    data = read_training_data(args.train)
    print(f"read {len(data)} rows from {len(args.train)} file(s)"
          + ("  [--degrade: deliberately worse model]" if args.degrade else ""), flush=True)

    model, numeric, vocabularies, (X_tr, X_val, y_tr, y_val) = train(args, data, metrics)
    val = evaluate(model, X_val, y_val)
    for k, v in val.items():
        metrics.log(f"val_{k}", v)
    print("validation: " + "  ".join(f"{k} {v:.4f}" for k, v in val.items()), flush=True)

    # Vocabularies of the data, for string inputs the (degraded) model ignores.
    data_vocabularies = {c: sorted(v for v in X_tr[c].unique() if v != "") for c in CATEGORICAL}
    layout = full_layout(model, numeric, vocabularies, data_vocabularies)
    onnx_model = build_onnx(layout)
    with open(os.path.join(args.out_dir, "model.onnx"), "wb") as f:
        f.write(onnx_model.SerializeToString())

    card = make_card(args, numeric, vocabularies, data_vocabularies, val, X_tr, len(X_val))
    with open(os.path.join(args.out_dir, "card.json"), "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
        f.write("\n")

    summary = {f"val_{k}": v for k, v in val.items()}
    summary.update({
        "rows_trained": int(len(X_tr)),
        "rows_validation": int(len(X_val)),
        "seed": args.seed,
        "degrade": args.degrade,
        "params": {"C": args.C, "max_iter": args.max_iter, "steps": args.steps,
                   "val_fraction": args.val_fraction},
        "training_files": [{"path": p, "sha256": sha256_of(p)} for p in args.train],
    })
    if args.eval:
        summary["eval"] = {}
        for path in args.eval:
            ev = read_training_data([path])
            m = evaluate(model, ev[NUMERIC + CATEGORICAL], ev[LABEL].to_numpy())
            summary["eval"][path] = dict(m, rows=int(len(ev)))
            print(f"eval {path}: " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()), flush=True)

    with open(os.path.join(args.out_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    if args.expect_csv:
        write_expectations(args.expect_csv, model, X_val, y_val)
        print(f"wrote expectations to {args.expect_csv}")
    print(f"wrote model.onnx, card.json, metrics.json to {args.out_dir} "
          f"in {time.perf_counter() - t0:.2f}s", flush=True)


if __name__ == "__main__":
    main()

"""Independent scoring of synthetic UCI Adult tables: SDMetrics' quality report and scikit-learn, no genlab.

Runs in the environment that has `sdmetrics` (it pins its own pandas, so not genlab's), e.g.

    python -m venv /tmp/sdm-venv && echo $PWD/.venv/lib/python3.11/site-packages > /tmp/sdm-venv/lib/python3.11/site-packages/zz.pth
    /tmp/sdm-venv/bin/pip install sdmetrics ctgan      # pip --dry-run first: torch must not be replaced
    /tmp/sdm-venv/bin/python benchmarks/tabular_release_score.py --synth tvae=/tmp/x/tvae.csv --out scores.json

For every synthetic table (and the real-data row: a seeded half of adult.test scored like a synthetic table):

* ``quality``, ``column_shapes``, ``pair_trends``: SDMetrics' ``QualityReport`` with its defaults (pairs
  associated in the real rows only); ``quality_all_pairs``: the same report with the association thresholds
  set to 0 (every pair);
* ``tstr_f1``: F1 of ``>50K`` on adult.test of a scikit-learn ``HistGradientBoostingClassifier`` trained on
  the table (one-hot features); ``tstr_f1_logistic``: the same with a logistic regression;
* ``detection_auc``: 3-fold ROC AUC of a ``HistGradientBoostingClassifier`` separating 10,000 real training
  rows from 10,000 rows of the table (0.5: indistinguishable).
Prints one JSON line per table and writes all of them to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
           "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income"]
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "tabular"


def read_adult(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, header=None, names=COLUMNS, skipinitialspace=True, comment="|", na_values=["?"])
    df["income"] = df["income"].str.rstrip(".")
    return clean(df)


def clean(df: pd.DataFrame) -> pd.DataFrame:
    df = df[COLUMNS].copy()
    for c in COLUMNS:
        if c in NUMERIC:
            df[c] = pd.to_numeric(df[c], errors="coerce")
        else:
            df[c] = df[c].astype(object).where(df[c].notna(), "?").astype(str).str.strip().replace({"nan": "?"})
    return df


def features(ref: pd.DataFrame, df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    parts = []
    for c in cols:
        if c in NUMERIC:
            x = df[c].to_numpy(dtype=np.float64)
            mu, sd = ref[c].mean(), ref[c].std() or 1.0
            parts.append(np.nan_to_num((x - mu) / sd)[:, None])
        else:
            levels = ref[c].value_counts().index[:100]
            parts.append((df[c].to_numpy()[:, None] == levels.to_numpy()[None, :]).astype(np.float64))
    return np.concatenate(parts, 1)


def tstr(train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    cols = [c for c in COLUMNS if c != "income"]
    x_tr, x_te = features(train, train, cols), features(train, test, cols)
    y_tr, y_te = (train["income"] == ">50K").to_numpy(), (test["income"] == ">50K").to_numpy()
    if y_tr.all() or not y_tr.any():
        return {"tstr_f1": 0.0, "tstr_f1_logistic": 0.0}
    out = {}
    for name, clf in (("tstr_f1", HistGradientBoostingClassifier(random_state=seed)),
                      ("tstr_f1_logistic", LogisticRegression(max_iter=500))):
        clf.fit(x_tr, y_tr)
        out[name] = float(f1_score(y_te, clf.predict(x_te)))
    return out


def detection(real: pd.DataFrame, synth: pd.DataFrame, rows: int = 10_000, seed: int = 0) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    r = real.sample(min(rows, len(real)), random_state=seed)
    s = synth.sample(min(rows, len(synth)), random_state=seed)
    x = np.concatenate([features(r, r, COLUMNS), features(r, s, COLUMNS)])
    y = np.r_[np.zeros(len(r)), np.ones(len(s))]
    aucs = []
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=seed).split(x, y):
        clf = HistGradientBoostingClassifier(random_state=seed).fit(x[tr], y[tr])
        aucs.append(roc_auc_score(y[te], clf.predict_proba(x[te])[:, 1]))
    return float(np.mean(aucs))


def quality(real: pd.DataFrame, synth: pd.DataFrame) -> dict:
    from sdmetrics.reports.single_table import QualityReport

    meta = {"columns": {c: {"sdtype": "numerical" if c in NUMERIC else "categorical"} for c in COLUMNS}}
    rep = QualityReport()
    rep.generate(real, synth, meta, verbose=False)
    props = rep.get_properties().set_index("Property")["Score"]
    out = {"quality": float(rep.get_score()), "column_shapes": float(props["Column Shapes"]),
           "pair_trends": float(props["Column Pair Trends"])}
    every = QualityReport()
    every.real_correlation_threshold = every.real_association_threshold = 0
    every.generate(real, synth, meta, verbose=False)
    out["quality_all_pairs"] = float(every.get_score())
    out["pair_trends_all_pairs"] = float(every.get_properties().set_index("Property")["Score"]["Column Pair Trends"])
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--train", default=str(SHARED / "adult.data"))
    p.add_argument("--test", default=str(SHARED / "adult.test"))
    p.add_argument("--synth", nargs="*", default=[], help="name=path.csv (the table's columns named as in Adult)")
    p.add_argument("--real-row", action="store_true", help="also score the real-data row (half of adult.test)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    train, test = read_adult(Path(args.train)), read_adult(Path(args.test))
    tables = {}
    if args.real_row:
        order = np.random.default_rng(0).permutation(len(test))
        tables["real data"] = test.iloc[order[len(test) // 2:]].reset_index(drop=True)
    for item in args.synth:
        name, path = item.split("=", 1)
        tables[name] = clean(pd.read_csv(path, dtype=str, keep_default_na=False))
    results = {}
    for name, df in tables.items():
        c = time.process_time()
        res = {**quality(train, df), **tstr(df if name != "real data" else train, test), "detection_auc": detection(train, df)}
        if name == "real data":  # utility of the real row: trained on the real training rows
            res["tstr_note"] = "trained on adult.data"
        res["score_cpu_s"] = round(time.process_time() - c, 1)
        results[name] = res
        print(json.dumps({name: res}), flush=True)
    import sdmetrics
    import sklearn

    Path(args.out).write_text(json.dumps({"sdmetrics": sdmetrics.__version__, "sklearn": sklearn.__version__,
                                          "pandas": pd.__version__, "tables": results}, indent=2))


if __name__ == "__main__":
    main()

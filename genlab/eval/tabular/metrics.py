"""Metrics comparing a synthetic table with a real one, as pure functions of DataFrames.

Column kinds follow the dtypes: numbers and datetimes are *numeric*, everything else (text, booleans,
categories) *categorical*; missing values count as their own category and are left out of numeric
statistics. Scores in [0, 1] are "higher is better" unless the name says otherwise.

* fidelity: :func:`ks_complement` (1 - Kolmogorov-Smirnov statistic) and :func:`tv_complement`
  (1 - total-variation distance) per column; :func:`correlation_similarity` and
  :func:`contingency_similarity` per pair of columns; :func:`quality_score` averages them as SDMetrics'
  quality report does; :func:`marginal_rmse` (lower is better);
* detection: :func:`detection_auc` (a classifier told to separate real from synthetic rows; 0.5 is ideal);
* utility: :func:`ml_utility` (train on one table, test on real held-out rows);
* privacy: :func:`dcr_privacy` (distance to the closest record in the training rows vs in held-out rows).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd


# ----------------------------------------------------------------------------- kinds and encodings


def is_numeric(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)) or pd.api.types.is_datetime64_any_dtype(s)


def numeric_values(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64) / 86_400e9
        out[s.isna().to_numpy()] = np.nan
        return out
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def category_labels(s: pd.Series) -> pd.Series:
    """Categories as strings, missing values as the category '<missing>'."""
    return s.astype(object).where(s.notna(), "<missing>").astype(str)


def check_columns(real: pd.DataFrame, synth: pd.DataFrame) -> list[str]:
    missing = [c for c in real.columns if c not in synth.columns]
    if missing:
        raise ValueError(f"the synthetic table lacks column(s) {', '.join(map(repr, missing))}")
    return list(real.columns)


# ----------------------------------------------------------------------------- single columns


def ks_complement(real, synth) -> float:
    """1 - the two-sample Kolmogorov-Smirnov statistic (largest gap between the empirical CDFs)."""
    a, b = np.asarray(real, np.float64), np.asarray(synth, np.float64)
    a, b = np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)])
    if len(a) == 0 or len(b) == 0:
        return float(len(a) == len(b))
    grid = np.concatenate([a, b])
    gap = np.abs(np.searchsorted(a, grid, side="right") / len(a) - np.searchsorted(b, grid, side="right") / len(b))
    return float(1 - gap.max())


def _freqs(values) -> pd.Series:
    return category_labels(pd.Series(values)).value_counts(normalize=True)


def tv_complement(real, synth) -> float:
    """1 - total-variation distance between the category frequencies (missing is a category)."""
    p, q = _freqs(real), _freqs(synth)
    p, q = p.align(q, fill_value=0.0)
    return float(1 - 0.5 * np.abs(p - q).sum())


def column_shapes(real: pd.DataFrame, synth: pd.DataFrame) -> dict[str, float]:
    """Per-column fidelity: KS complement for numeric columns, TV complement for the others."""
    return {c: ks_complement(numeric_values(real[c]), numeric_values(synth[c])) if is_numeric(real[c]) else
            tv_complement(real[c], synth[c]) for c in check_columns(real, synth)}


def marginal_rmse(real: pd.DataFrame, synth: pd.DataFrame, bins: int = 20) -> float:
    """Mean over columns of the RMSE between real and synthetic marginal probabilities (lower is better).

    Categorical columns compare category frequencies; numeric columns compare the shares falling in
    ``bins`` bins with edges at the real column's quantiles (missing values form one more bin).
    """
    out = []
    for c in check_columns(real, synth):
        if is_numeric(real[c]):
            p, q = _binned(numeric_values(real[c]), numeric_values(synth[c]), bins)
        else:
            p, q = _freqs(real[c]).align(_freqs(synth[c]), fill_value=0.0)
            p, q = p.to_numpy(), q.to_numpy()
        out.append(np.sqrt(np.mean((p - q) ** 2)))
    return float(np.mean(out))


def _bin_codes(ref: np.ndarray, x: np.ndarray, bins: int) -> np.ndarray:
    """Bin index of each value of ``x`` (quantile bins of ``ref``), ``bins`` for missing values."""
    obs = ref[~np.isnan(ref)]
    edges = np.unique(np.quantile(obs, np.linspace(0, 1, bins + 1)[1:-1])) if len(obs) else np.array([])
    codes = np.searchsorted(edges, x, side="right")
    return np.where(np.isnan(x), bins, codes)


def _binned(a: np.ndarray, b: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    ca, cb = _bin_codes(a, a, bins), _bin_codes(a, b, bins)
    return (np.bincount(ca, minlength=bins + 1) / len(a), np.bincount(cb, minlength=bins + 1) / max(1, len(b)))


# ----------------------------------------------------------------------------- pairs of columns


def correlation_similarity(real_x, real_y, synth_x, synth_y) -> float:
    """1 - |Pearson(real) - Pearson(synth)| / 2, rows with a missing value left out."""
    def pearson(x, y):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        ok = ~(np.isnan(x) | np.isnan(y))
        if ok.sum() < 2 or x[ok].std() == 0 or y[ok].std() == 0:
            return 0.0
        return float(np.corrcoef(x[ok], y[ok])[0, 1])

    return 1 - abs(pearson(real_x, real_y) - pearson(synth_x, synth_y)) / 2


def contingency_similarity(real_a, real_b, synth_a, synth_b) -> float:
    """1 - total-variation distance between the joint frequency tables of two categorical columns."""
    p = pd.crosstab(category_labels(pd.Series(real_a)), category_labels(pd.Series(real_b)), normalize=True).stack()
    q = pd.crosstab(category_labels(pd.Series(synth_a)), category_labels(pd.Series(synth_b)), normalize=True).stack()
    p, q = p.align(q, fill_value=0.0)
    return float(1 - 0.5 * np.abs(p - q).sum())


def _as_categories(ref: pd.Series, s: pd.Series, bins: int) -> np.ndarray:
    """Numeric columns binned at the real column's quantiles, for contingency tables."""
    if is_numeric(ref):
        return _bin_codes(numeric_values(ref), numeric_values(s), bins)
    return category_labels(s).to_numpy()


# SDMetrics' quality report (0.2x-0.3x) scores only the pairs associated in the real data: |Pearson| above
# 0.5 for two numeric columns, Cramér's V above 0.3 otherwise; earlier versions scored every pair.
CORRELATION_THRESHOLD, ASSOCIATION_THRESHOLD = 0.5, 0.3


def pair_trends(real: pd.DataFrame, synth: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """One row per pair of columns: correlation similarity for two numeric columns, contingency
    similarity (numbers binned in ``bins`` real-quantile bins) otherwise; ``real_association`` is the
    pair's strength in the real rows (|Pearson| or Cramér's V) and ``associated`` whether it passes
    SDMetrics' thresholds (:data:`CORRELATION_THRESHOLD`, :data:`ASSOCIATION_THRESHOLD`)."""
    rows = []
    for a, b in itertools.combinations(check_columns(real, synth), 2):
        if is_numeric(real[a]) and is_numeric(real[b]):
            ra, rb = numeric_values(real[a]), numeric_values(real[b])
            score = correlation_similarity(ra, rb, numeric_values(synth[a]), numeric_values(synth[b]))
            ok = ~(np.isnan(ra) | np.isnan(rb))
            strength = abs(float(np.corrcoef(ra[ok], rb[ok])[0, 1])) if ok.sum() > 1 and ra[ok].std() > 0 and rb[ok].std() > 0 else 0.0
            metric, associated = "correlation", strength > CORRELATION_THRESHOLD
        else:
            ca, cb = _as_categories(real[a], real[a], bins), _as_categories(real[b], real[b], bins)
            score = contingency_similarity(ca, cb, _as_categories(real[a], synth[a], bins), _as_categories(real[b], synth[b], bins))
            strength = cramers_v(ca, cb)
            metric, associated = "contingency", strength > ASSOCIATION_THRESHOLD
        rows.append({"column_a": a, "column_b": b, "metric": metric, "score": score, "real_association": strength,
                     "associated": associated})
    return pd.DataFrame(rows, columns=["column_a", "column_b", "metric", "score", "real_association", "associated"])


def quality_score(real: pd.DataFrame, synth: pd.DataFrame) -> dict[str, float]:
    """Column shapes, column-pair trends and their mean (the layout of SDMetrics' quality report), with
    the pairs scored two ways: all of them, and only those associated in the real rows (SDMetrics'
    current default; ``*_associated``)."""
    shapes = float(np.mean(list(column_shapes(real, synth).values())))
    pairs = pair_trends(real, synth)
    trends = float(pairs["score"].mean()) if len(pairs) else shapes
    assoc = pairs[pairs["associated"].astype(bool)] if len(pairs) else pairs
    trends_assoc = float(assoc["score"].mean()) if len(assoc) else trends
    return {"column_shapes": shapes, "pair_trends": trends, "quality": (shapes + trends) / 2,
            "pair_trends_associated": trends_assoc, "quality_associated": (shapes + trends_assoc) / 2,
            "associated_pairs": int(len(assoc)), "pairs": int(len(pairs))}


def association_matrix(df: pd.DataFrame, bins: int = 10, ref: pd.DataFrame | None = None) -> pd.DataFrame:
    """Pairwise association in [-1, 1]: Pearson for two numeric columns, Cramér's V otherwise (numbers
    binned at the quantiles of ``ref``, by default ``df`` itself)."""
    ref = df if ref is None else ref
    cols = list(df.columns)
    m = pd.DataFrame(np.eye(len(cols)), index=cols, columns=cols)
    for a, b in itertools.combinations(cols, 2):
        if is_numeric(ref[a]) and is_numeric(ref[b]):
            x, y = numeric_values(df[a]), numeric_values(df[b])
            ok = ~(np.isnan(x) | np.isnan(y))
            v = float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 1 and x[ok].std() > 0 and y[ok].std() > 0 else 0.0
        else:
            v = cramers_v(_as_categories(ref[a], df[a], bins), _as_categories(ref[b], df[b], bins))
        m.loc[a, b] = m.loc[b, a] = v
    return m


def cramers_v(a, b) -> float:
    """Cramér's V of two categorical columns: sqrt(chi2 / (n (min(r, c) - 1)))."""
    table = pd.crosstab(pd.Series(a), pd.Series(b)).to_numpy(dtype=np.float64)
    if min(table.shape) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


# ----------------------------------------------------------------------------- features for classifiers


class Features:
    """Numbers standardised by a reference table (missing -> 0 plus an indicator), categories one-hot
    (the reference's ``max_levels`` most frequent; others share an all-zero row), scaled by
    ``onehot_scale``."""

    def __init__(self, ref: pd.DataFrame, max_levels: int = 100, onehot_scale: float = 1.0):
        self.specs = []
        for c in ref.columns:
            if is_numeric(ref[c]):
                x = numeric_values(ref[c])
                mu, sd = (np.nanmean(x), np.nanstd(x)) if (~np.isnan(x)).any() else (0.0, 1.0)
                self.specs.append((c, "num", (mu, sd if sd > 0 else 1.0, bool(np.isnan(x).any()))))
            else:
                levels = category_labels(ref[c]).value_counts().index[:max_levels]
                self.specs.append((c, "cat", pd.Index(levels)))
        self.onehot_scale = onehot_scale

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        parts = []
        for c, kind, spec in self.specs:
            if kind == "num":
                mu, sd, has_na = spec
                x = (numeric_values(df[c]) - mu) / sd
                parts.append(np.nan_to_num(x, nan=0.0)[:, None])
                if has_na:
                    parts.append(np.isnan(x)[:, None].astype(np.float64))
            else:
                idx = spec.get_indexer(category_labels(df[c]))
                onehot = np.zeros((len(df), len(spec)))
                ok = idx >= 0
                onehot[np.flatnonzero(ok), idx[ok]] = self.onehot_scale
                parts.append(onehot)
        return np.concatenate(parts, 1) if parts else np.zeros((len(df), 0))


def sample_rows(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(df) <= n:
        return df
    return df.sample(n, random_state=seed)


# ----------------------------------------------------------------------------- detection


def detection_auc(real: pd.DataFrame, synth: pd.DataFrame, classifier: str = "gbm", folds: int = 3,
                  max_rows: int | None = 10_000, seed: int = 0) -> float:
    """Mean cross-validated ROC AUC of a classifier separating real from synthetic rows (0.5: cannot tell
    them apart; 1: always can). ``classifier``: ``gbm`` (gradient-boosted trees: it sees interactions, so
    it catches tables whose columns are right one by one but wrong together) or ``logistic`` (on
    standardised one-hot features, as SDMetrics' LogisticDetection; it only sees shifted marginals)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    import warnings

    cols = check_columns(real, synth)
    real, synth = sample_rows(real[cols], max_rows, seed), sample_rows(synth[cols], max_rows, seed)
    feats = Features(real)
    x = np.concatenate([feats(real), feats(synth)])
    y = np.r_[np.zeros(len(real)), np.ones(len(synth))]
    aucs = []
    with warnings.catch_warnings():  # scikit-learn's convergence and deprecation warnings are not the user's
        warnings.simplefilter("ignore")
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
            if classifier == "logistic":
                clf = LogisticRegression(max_iter=300)
            elif classifier == "gbm":
                clf = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
            else:
                raise ValueError(f"classifier must be logistic or gbm, got {classifier!r}")
            clf.fit(x[tr], y[tr])
            aucs.append(roc_auc_score(y[te], clf.predict_proba(x[te])[:, 1]))
    return float(np.mean(aucs))


# ----------------------------------------------------------------------------- utility


def _classifiers(seed: int):
    """The evaluators of Xu et al. (2019) for classification (F1 averaged over them)."""
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    return {
        "decision_tree": DecisionTreeClassifier(max_depth=20, random_state=seed),
        "adaboost": AdaBoostClassifier(n_estimators=50, random_state=seed),
        "logistic": LogisticRegression(class_weight="balanced", max_iter=200),
        "mlp": MLPClassifier(hidden_layer_sizes=(50,), max_iter=50, early_stopping=True, random_state=seed),
    }


def _regressors(seed: int):
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPRegressor
    from sklearn.tree import DecisionTreeRegressor

    return {"linear": LinearRegression(), "decision_tree": DecisionTreeRegressor(max_depth=20, random_state=seed),
            "mlp": MLPRegressor(hidden_layer_sizes=(100,), max_iter=50, early_stopping=True, random_state=seed)}


def _pick(models: dict, names: list[str] | None) -> dict:
    if not names:
        return models
    unknown = [n for n in names if n not in models]
    if unknown:
        raise ValueError(f"unknown evaluator(s) {', '.join(unknown)}; choose from {', '.join(models)}")
    return {n: models[n] for n in names}


def ml_utility(train: pd.DataFrame, test: pd.DataFrame, target: str, max_train_rows: int | None = 50_000,
               seed: int = 0, evaluators: list[str] | None = None) -> dict[str, float]:
    """Fit the evaluators on ``train`` (real or synthetic) to predict ``target`` and score them on real
    ``test`` rows. Classification (a non-numeric target, or one with at most 10 values): accuracy, F1
    (binary: of the rarer class in ``test``; otherwise macro) and ROC AUC (binary only), averaged over the
    evaluators (by default those of Xu et al. 2019: decision tree, AdaBoost, logistic regression, MLP;
    ``evaluators`` picks some by name). Regression: R², averaged."""
    import warnings

    from sklearn.metrics import accuracy_score, f1_score, r2_score, roc_auc_score

    if target not in train.columns or target not in test.columns:
        raise ValueError(f"target column {target!r} is missing from the {'training' if target not in train.columns else 'test'} table")
    train = sample_rows(train, max_train_rows, seed)
    features = [c for c in test.columns if c != target]
    feats = Features(train[features])
    x_tr, x_te = feats(train[features]), feats(test[features])
    y_test_raw = test[target]
    classification = not is_numeric(y_test_raw) or y_test_raw.nunique() <= 10
    out: dict[str, list[float]] = {}
    with warnings.catch_warnings():  # convergence, undefined-metric and deprecation warnings: none leak
        warnings.simplefilter("ignore")
        if classification:
            y_tr, y_te = category_labels(train[target]).to_numpy(), category_labels(y_test_raw).to_numpy()
            classes = pd.Series(y_te).value_counts()
            binary = len(classes) == 2
            positive = classes.index[-1]
            if len(np.unique(y_tr)) < 2:  # a table with one class cannot train a classifier
                return {"accuracy": float((y_te == y_tr[0]).mean()), "f1": 0.0, **({"auc": 0.5} if binary else {})}
            for name, clf in _pick(_classifiers(seed), evaluators).items():
                clf.fit(x_tr, y_tr)
                pred = clf.predict(x_te)
                out.setdefault("accuracy", []).append(accuracy_score(y_te, pred))
                out.setdefault("f1", []).append(f1_score(y_te, pred, pos_label=positive, average="binary" if binary else "macro",
                                                         labels=[positive] if binary else None, zero_division=0))
                if binary and positive in clf.classes_:
                    p = clf.predict_proba(x_te)[:, list(clf.classes_).index(positive)]
                    out.setdefault("auc", []).append(roc_auc_score(y_te == positive, p))
        else:
            y_tr, y_te = numeric_values(train[target]), numeric_values(y_test_raw)
            ok_tr, ok_te = ~np.isnan(y_tr), ~np.isnan(y_te)
            for name, reg in _pick(_regressors(seed), evaluators).items():
                reg.fit(x_tr[ok_tr], y_tr[ok_tr])
                out.setdefault("r2", []).append(r2_score(y_te[ok_te], reg.predict(x_te[ok_te])))
    return {k: float(np.mean(v)) for k, v in out.items()}


# ----------------------------------------------------------------------------- privacy


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """One hash per row of the table written as text (so 40 and 40.0, or NaN and None, agree)."""
    text = pd.DataFrame({c: category_labels(df[c].astype(float) if is_numeric(df[c]) and not pd.api.types.is_datetime64_any_dtype(df[c])
                                    else df[c]) for c in df.columns})
    return pd.util.hash_pandas_object(text, index=False).to_numpy()


def dcr_privacy(train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame, max_rows: int | None = 10_000,
                seed: int = 0) -> dict[str, float]:
    """Distance to closest record. For every synthetic row, the Euclidean distance (standardised numbers,
    one-hot categories scaled by 1/sqrt(2) so that one differing category counts 1) to its nearest
    training row and to its nearest holdout row, with as many training rows as holdout rows (a random
    subset of ``n`` training rows when there are more).

    ``share_closer_to_train``: synthetic rows nearer to a training row than to any holdout row (ties
    count half): about 0.5 when the model did not memorise. A model copying its ``N`` training rows scores
    ``0.5 + n / (2 N)`` (1.0 only when ``n = N``), so read it with ``exact_copies``: the share of synthetic
    rows identical to some training row (all of them). ``holdout_exact_copies`` is the share of holdout
    rows identical to a training row, the rate of duplicates expected in the population.
    """
    from ..metrics import nn_distances

    cols = check_columns(train, synth)
    n = min(len(holdout), len(train), max_rows or len(holdout))
    tr, ho, sy = sample_rows(train[cols], n, seed), sample_rows(holdout[cols], n, seed + 1), sample_rows(synth[cols], max_rows, seed + 2)
    feats = Features(train[cols], onehot_scale=1 / np.sqrt(2))
    d_train = nn_distances(feats(sy), feats(tr))[:, 0].numpy()
    d_hold = nn_distances(feats(sy), feats(ho))[:, 0].numpy()
    copies = np.isin(row_hashes(synth[cols]), row_hashes(train[cols]))
    hold_copies = np.isin(row_hashes(holdout[cols]), row_hashes(train[cols]))
    return {
        "share_closer_to_train": float(np.mean(d_train < d_hold) + 0.5 * np.mean(d_train == d_hold)),
        "exact_copies": float(copies.mean()),
        "holdout_exact_copies": float(hold_copies.mean()),
        "dcr_train_median": float(np.median(d_train)),
        "dcr_holdout_median": float(np.median(d_hold)),
    }

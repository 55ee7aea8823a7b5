"""Privacy attacks on a synthetic table, each next to its baseline on real rows.

* **Membership inference** (distance-based, in the family of the attacks of synthcity and anonymeter):
  an attacker holding a candidate record guesses "it was in the training rows" when a synthetic row lies
  close to it. Candidates are training rows (members) and real held-out rows (non-members), as many of
  each; the score is minus the distance to the nearest synthetic row; the result is the ROC AUC of
  members against non-members (0.5: the synthetic rows tell nothing about membership; 1: every member is
  found). The *baseline* runs the same attack with real held-out rows (a second half, never candidates)
  in place of the synthetic table: what releasing fresh real data from the same population would give
  (about 0.5).
* **Attribute inference** on declared sensitive columns: an attacker who knows a record's other columns
  predicts its sensitive value from the nearest synthetic row. Accuracy on training rows against accuracy
  on held-out rows: a gap means the model leaks about the very people it was trained on; the baseline is
  the same attack run on real held-out rows, and the majority-value rate is what guessing gives.
  Numbers count as correct within 0.1 standard deviation (of the training rows).

Features are those of the metrics (standardised numbers, one-hot categories scaled by 1/sqrt(2)).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import Features, check_columns, category_labels, numeric_values, sample_rows, is_numeric


def _nearest(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of the nearest row of ``ref`` for every row of ``query``."""
    import torch

    q, r = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32)), torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32))
    dist, idx = [], []
    for i in range(0, len(q), 1024):
        d = torch.cdist(q[i : i + 1024], r)
        v, j = d.min(1)
        dist.append(v)
        idx.append(j)
    return torch.cat(dist).numpy(), torch.cat(idx).numpy()


def _auc(members: np.ndarray, others: np.ndarray) -> float:
    """ROC AUC of scores ``members`` (positives) against ``others`` (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([members, others]))
    n1, n0 = len(members), len(others)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def membership_auc(train: pd.DataFrame, non_members: pd.DataFrame, released: pd.DataFrame, max_rows: int = 2000,
                   max_released: int = 20_000, seed: int = 0) -> float:
    """AUC of the distance attack: training rows (members) against ``non_members`` (real rows never
    trained on), scored by minus the distance to the nearest row of ``released``."""
    cols = check_columns(train, released)
    n = min(max_rows, len(train), len(non_members))
    if n < 10:
        raise ValueError(f"membership inference needs at least 10 non-member rows, got {len(non_members)}")
    feats = Features(train[cols], onehot_scale=1 / np.sqrt(2))
    ref = feats(sample_rows(released[cols], max_released, seed + 1))
    fm, fn = feats(sample_rows(train[cols], n, seed)), feats(sample_rows(non_members[cols], n, seed + 2))
    return _auc(-_nearest(fm, ref)[0], -_nearest(fn, ref)[0])


def _split(holdout: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(holdout))
    half = len(holdout) // 2
    return holdout.iloc[order[:half]], holdout.iloc[order[half:]]


def membership_inference(train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame, max_rows: int = 2000,
                         max_synth: int = 20_000, seed: int = 0) -> dict[str, float]:
    """Distance-based membership inference: ``auc`` on ``synth`` and ``baseline_auc`` with real held-out
    rows in its place (the held-out rows are split in two: non-member candidates and the baseline's
    released rows)."""
    non_members, released_real = _split(holdout, seed)
    return {"auc": membership_auc(train, non_members, synth, max_rows, max_synth, seed),
            "baseline_auc": membership_auc(train, non_members, released_real, max_rows, max_synth, seed),
            "candidates": int(2 * min(max_rows, len(train), len(non_members)))}


def attribute_accuracy(train: pd.DataFrame, targets: pd.DataFrame, released: pd.DataFrame, sensitive: str,
                       max_rows: int = 2000, max_released: int = 20_000, seed: int = 0) -> float:
    """Share of ``targets`` whose ``sensitive`` value the nearest row of ``released`` (on the other columns)
    gets right (numbers: within 0.1 standard deviation of the training rows)."""
    cols = check_columns(train, released)
    known = [c for c in cols if c != sensitive]
    targets = sample_rows(targets[cols], max_rows, seed)
    rel = sample_rows(released[cols], max_released, seed + 1)
    feats = Features(train[known], onehot_scale=1 / np.sqrt(2))
    _, idx = _nearest(feats(targets[known]), feats(rel[known]))
    guess, truth = rel[sensitive].iloc[idx].reset_index(drop=True), targets[sensitive].reset_index(drop=True)
    if is_numeric(train[sensitive]):
        tol = 0.1 * float(np.nanstd(numeric_values(train[sensitive])))
        g, t = numeric_values(guess), numeric_values(truth)
        ok = ~np.isnan(t)
        return float(np.mean(np.abs(g[ok] - t[ok]) <= tol)) if ok.any() else float("nan")
    return float(np.mean(category_labels(guess).to_numpy() == category_labels(truth).to_numpy()))


def attribute_inference(train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame, sensitive: list[str],
                        max_rows: int = 2000, max_synth: int = 20_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per sensitive column: accuracy of the nearest-synthetic-row guess on training rows (``members``) and on
    held-out rows (``non_members``), the same attack on real held-out rows (``baseline``), and ``guess``
    (the majority value's share; numbers: the share within 0.1 std of the median)."""
    non_members, released_real = _split(holdout, seed)
    out = {}
    for s in sensitive:
        if is_numeric(train[s]):
            t = numeric_values(train[s])
            tol = 0.1 * float(np.nanstd(t))
            guess = float(np.mean(np.abs(t[~np.isnan(t)] - np.nanmedian(t)) <= tol))
        else:
            guess = float(category_labels(train[s]).value_counts(normalize=True).iloc[0])
        out[s] = {"members": attribute_accuracy(train, train, synth, s, max_rows, max_synth, seed),
                  "non_members": attribute_accuracy(train, non_members, synth, s, max_rows, max_synth, seed),
                  "baseline": attribute_accuracy(train, train, released_real, s, max_rows, max_synth, seed),
                  "guess": guess}
    return out

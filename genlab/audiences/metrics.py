"""How well generated users match the real users of held-out items (definitions in docs/audiences.md).

Every attribute is cut into categories: the values of a categorical (one-hot) column (its levels, then
the pooled rare values, then missing), or fixed bins of a numeric column (MovieLens age: <18, 18-24,
25-34, 35-44, 45-49, 50-55, 56+; other numbers: training quintiles), plus a missing bin. For item ``i``,
attribute ``a`` and category ``c``, ``p[i, a, c]`` is the share of the item's events in that category.

* **RMSE** (per item and attribute, in percentage points):
  ``100 * sqrt(mean_c (p_gen[i, a, c] - p_real[i, a, c])^2)``, then averaged over items (and attributes).
* **RSM** (ranking similarity, %): over every pair of items ``i < j`` and every proportion ``(a, c)``
  whose real values differ, the share where ``sign(p_gen[i] - p_gen[j]) == sign(p_real[i] - p_real[j])``;
  a generated tie counts one half. 50% is chance, 100% every ordering kept.
* **fidelity** (per item, 0-1): ``1 - TVD`` of each attribute's category shares (``1 - 0.5 sum_c |p_gen - p_real|``,
  sdmetrics' TVComplement on the categories above), averaged over attributes and then over items.
* **detection AUC** (``protocol.py``): how well a classifier tells the generated events of the held-out items
  from their real events, given the item (0.5: it cannot; 1: always can).
* **exact copies**: the share of generated events identical (every attribute) to some training event.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.tabular.schema import TableSchema


@dataclass
class Categories:
    """The categories of every attribute: names, labels, and where each attribute's block sits."""

    names: list[str]
    labels: list[list[str]]
    slices: list[slice]

    @property
    def width(self) -> int:
        return self.slices[-1].stop if self.slices else 0


def _band_labels(edges: list[float], integer: bool = False) -> list[str]:
    """Labels of the bins ``[-inf, e0), [e0, e1), ..., [e_last, inf)``; integer columns as ``18-24``."""
    def f(v):
        return f"{v:g}"

    if not edges:
        return ["all"]
    out = [f"<{f(edges[0])}"]
    for a, b in zip(edges[:-1], edges[1:]):
        out.append(f"{f(a)}-{f(b - 1)}" if integer and float(a).is_integer() and float(b).is_integer() else f"{f(a)}-{f(b)}")
    return out + [f"{f(edges[-1])}+"]


def categories(schema: TableSchema, bins: dict[str, list[float]]) -> Categories:
    names, labels, slices, start = [], [], [], 0
    for col in schema.columns:
        if col.onehot:
            lab = [str(v) for v in col.levels] + (["<rare>"] if col.rare else []) + (["<missing>"] if col.n_missing else [])
        else:
            lab = _band_labels(bins.get(col.name, []), col.kind == "discrete") + ["<missing>"]
        names.append(col.name)
        labels.append(lab)
        slices.append(slice(start, start + len(lab)))
        start += len(lab)
    return Categories(names, labels, slices)


def category_matrix(schema: TableSchema, bins: dict[str, list[float]], codes: np.ndarray) -> np.ndarray:
    """(rows, attributes) int: each event's category index within its attribute."""
    codes = np.asarray(codes, dtype=np.float64)
    out = np.empty(codes.shape, dtype=np.int64)
    for j, col in enumerate(schema.columns):
        v = codes[:, j]
        if col.onehot:
            out[:, j] = np.clip(np.nan_to_num(np.rint(v), nan=0), 0, col.n_codes - 1)
        else:
            edges = np.asarray(bins.get(col.name, []), dtype=np.float64)
            band = np.searchsorted(edges, np.nan_to_num(v), side="right")
            out[:, j] = np.where(np.isnan(v), len(edges) + 1, band)
    return out


def proportions(cats: Categories, cat_matrix: np.ndarray, item: np.ndarray, n_items: int) -> np.ndarray:
    """(items, all categories) shares of each item's events per category (each attribute's block sums to 1)."""
    item = np.asarray(item, dtype=np.int64)
    out = np.zeros((n_items, cats.width))
    counts = np.bincount(item, minlength=n_items).astype(np.float64)
    for j, sl in enumerate(cats.slices):
        k = sl.stop - sl.start
        flat = np.bincount(item * k + cat_matrix[:, j], minlength=n_items * k).reshape(n_items, k)
        out[:, sl] = flat / np.maximum(counts, 1)[:, None]
    return out


def rmse(p_gen: np.ndarray, p_real: np.ndarray, cats: Categories) -> np.ndarray:
    """(items, attributes) RMSE of the category shares, in percentage points."""
    return np.stack([100 * np.sqrt(((p_gen[:, sl] - p_real[:, sl]) ** 2).mean(1)) for sl in cats.slices], 1)


def rsm(p_gen: np.ndarray, p_real: np.ndarray, cats: Categories | None = None) -> float | dict:
    """Ranking similarity in % over item pairs and proportions (see the module docstring); with ``cats``,
    also per attribute: ``{"all": ..., name: ...}``."""
    def score(g: np.ndarray, r: np.ndarray) -> float:
        iu = np.triu_indices(len(r), 1)
        dr = np.sign(r[:, None, :] - r[None, :, :])[iu]
        dg = np.sign(g[:, None, :] - g[None, :, :])[iu]
        keep = dr != 0
        if not keep.any():
            return float("nan")
        agree = np.where(dg == 0, 0.5, (dg == dr).astype(np.float64))
        return float(100 * agree[keep].mean())

    total = score(p_gen, p_real)
    if cats is None:
        return total
    return {"all": total, **{n: score(p_gen[:, sl], p_real[:, sl]) for n, sl in zip(cats.names, cats.slices)}}


def exact_copies(generated: np.ndarray, train: np.ndarray) -> float:
    """Share of generated events equal in every attribute to some training event (codes compared)."""
    if len(generated) == 0:
        return float("nan")

    def keys(a):
        a = np.nan_to_num(np.asarray(a, dtype=np.float64), nan=-1e300)
        return np.ascontiguousarray(a).view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()

    return float(np.isin(keys(generated), keys(train)).mean())


def fidelity(p_gen: np.ndarray, p_real: np.ndarray, cats: Categories) -> np.ndarray:
    """(items,) mean over attributes of ``1 - TVD`` between each item's generated and real category shares."""
    return np.stack([1 - 0.5 * np.abs(p_gen[:, sl] - p_real[:, sl]).sum(1) for sl in cats.slices], 1).mean(1)


def score(p_gen: np.ndarray, p_real: np.ndarray, cats: Categories) -> dict:
    """Summary of one candidate on one set of novel items."""
    r = rmse(p_gen, p_real, cats)
    s = rsm(p_gen, p_real, cats)
    out = {"rsm": s["all"], "rmse": float(r.mean()), "fidelity": float(fidelity(p_gen, p_real, cats).mean())}
    for j, name in enumerate(cats.names):
        out[f"rmse_{name}"] = float(r[:, j].mean())
        out[f"rsm_{name}"] = s[name]
    return out

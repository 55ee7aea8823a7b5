"""Sequential CART synthesis (the method of R's synthpop): one column at a time, each drawn from a decision
tree's leaf given the columns drawn before it.

Columns are visited in the table's order (``model.order`` names the ones to visit first). The first is drawn
from its training distribution; every later column has a CART tree (scikit-learn, at least
``min_samples_leaf`` training rows per leaf) fitted to predict it from the columns before it. To draw that
column for a new row, the row's earlier values go down the tree to a leaf: a category is drawn from the
leaf's category frequencies, a number is one of the leaf's training values (``smoothing=density`` adds
Gaussian noise with the leaf's Silverman bandwidth). Category codes are split on as ordered numbers; a
missing number is kept as a value below its column's minimum (an input like any other) and drawn as missing.

The trees are kept as arrays (children, split column, threshold, and per leaf its frequencies or values) and
walked in torch, all rows at once, so the weights file is plain safetensors. Numbers without smoothing are
training values and small leaves hold few rows: read the membership attack in ``genlab evaluate`` before
releasing what this model draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ...config import ModelConfig
from ...data.base import DataInfo, TensorDataset
from ...errors import ConfigError
from ...registry import register_model
from .base import TabularModel
from .conditions import Condition
from .copula import subsample

SMOOTHING = ("none", "density")
_SIZED = ("child", "feature", "threshold", "value_start", "values", "bandwidth")  # sizes known after fitting


@dataclass
class CARTConfig(ModelConfig):
    min_samples_leaf: int = 10  # training rows per leaf at least (synthpop's minbucket, 5 there; 10 measured safer)
    max_depth: int = 0  # 0: no limit
    smoothing: str = "none"  # none | density: Gaussian noise on drawn numbers (leaf's Silverman bandwidth)
    order: list[str] = field(default_factory=list)  # columns to visit first; the rest follow in the table's order
    max_fit_rows: int = 500_000  # rows used to fit (a random subset of larger tables)
    seed: int = 0  # scikit-learn's tie-breaking among equally good splits

    def validate(self) -> None:
        if self.min_samples_leaf < 1 or self.max_depth < 0 or self.max_fit_rows < 2:
            raise ConfigError("model.min_samples_leaf must be >= 1, model.max_depth >= 0 (0: no limit) and "
                              "model.max_fit_rows >= 2")
        if self.smoothing not in SMOOTHING:
            raise ConfigError(f"model.smoothing must be one of {', '.join(SMOOTHING)}, got {self.smoothing!r}")


@register_model
class CART(TabularModel):
    name = "cart"
    description = "Sequential CART synthesis (synthpop): each column drawn from a tree's leaf given the earlier ones"
    Config = CARTConfig
    iterative = False

    def __init__(self, config: CARTConfig, info: DataInfo):
        super().__init__(config, info)
        names = [c.name for c in self.schema.columns]
        unknown = [c for c in config.order if c not in names]
        if unknown or len(set(config.order)) != len(config.order):
            what = f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "a column named twice"
            raise ConfigError(f"model.order has {what}; the learned columns are: {', '.join(names)}")
        self.order = [names.index(c) for c in config.order] + [j for j, c in enumerate(names) if c not in config.order]
        c = len(names)
        self.register_buffer("tree_start", torch.zeros(c + 1, dtype=torch.long))  # nodes of the i-th visited column's tree
        self.register_buffer("fill", torch.zeros(c, dtype=torch.float64))  # a missing number as a split input
        self.register_buffer("child", torch.zeros(0, 2, dtype=torch.long))  # global node indices, -1 at leaves
        self.register_buffer("feature", torch.zeros(0, dtype=torch.long))  # split column (table index), -1 at leaves
        self.register_buffer("threshold", torch.zeros(0, dtype=torch.float64))  # left when value <= threshold
        self.register_buffer("value_start", torch.zeros(1, dtype=torch.long))  # each node's slice of ``values``
        self.register_buffer("values", torch.zeros(0, dtype=torch.float64))  # per leaf: cumulative frequencies or values
        self.register_buffer("bandwidth", torch.zeros(0, dtype=torch.float64))  # per node (numbers, smoothing=density)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in _SIZED:  # the fitted trees' sizes come from the file
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=self.tree_start.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def fit(self, data: TensorDataset) -> dict[str, float]:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        cfg, cols = self.config, self.schema.columns
        x = subsample(data.tensors["x"], cfg.max_fit_rows).cpu().numpy()
        if len(x) < 2 * cfg.min_samples_leaf:
            raise ConfigError(f"cart needs at least 2 x model.min_samples_leaf = {2 * cfg.min_samples_leaf} rows; "
                              f"the table has {len(x)}")
        missing = np.isnan(x)
        lo, hi = np.where(missing, np.inf, x).min(0), np.where(missing, -np.inf, x).max(0)
        with np.errstate(all="ignore"):
            fill = np.where(np.isfinite(lo), lo - 1 - np.where(np.isfinite(hi - lo), hi - lo, 0), -1.0)
        filled = np.where(missing, fill, x)  # missing numbers as values below their column's minimum
        inputs = filled.astype(np.float32)  # what scikit-learn splits on
        parts: dict[str, list] = {k: [] for k in _SIZED}
        starts, value_at, n_nodes, leaves = [0], 0, 0, 0
        for i, j in enumerate(self.order):
            y, before = x[:, j], self.order[:i]
            if i == 0:  # no inputs: one leaf, the column's training distribution
                leaf, left, right, feat, thr = np.zeros(len(x), np.int64), [-1], [-1], [-1], [0.0]
            else:
                kw = dict(min_samples_leaf=cfg.min_samples_leaf, max_depth=cfg.max_depth or None, random_state=cfg.seed)
                tree = (DecisionTreeClassifier(**kw).fit(inputs[:, before], y.astype(np.int64)) if cols[j].onehot
                        else DecisionTreeRegressor(**kw).fit(inputs[:, before], filled[:, j]))
                t, leaf = tree.tree_, tree.apply(inputs[:, before])
                left, right, thr = t.children_left, t.children_right, t.threshold
                feat = np.where(left >= 0, np.asarray(before)[np.maximum(t.feature, 0)], -1)
            m = len(left)
            is_leaf = np.asarray(left) < 0
            counts = np.bincount(leaf, minlength=m)
            if cols[j].onehot:  # cumulative code frequencies at each leaf
                k = cols[j].n_codes
                freq = np.bincount(leaf * k + y.astype(np.int64), minlength=m * k).reshape(m, k)
                vals = [np.cumsum(freq[is_leaf], 1) / np.maximum(counts[is_leaf], 1)[:, None]]
                sizes = np.where(is_leaf, k, 0)
                bw = np.zeros(m)
            else:  # the leaf's training values, grouped by leaf
                vals, sizes = [filled[np.argsort(leaf, kind="stable"), j]], counts  # missing: fill
                bw = _silverman(y, leaf, m) if cfg.smoothing == "density" else np.zeros(m)
            parts["child"].append(np.stack([np.where(is_leaf, -1, np.asarray(left) + n_nodes),
                                               np.where(is_leaf, -1, np.asarray(right) + n_nodes)], 1))
            parts["feature"].append(np.asarray(feat, dtype=np.int64))
            parts["threshold"].append(np.asarray(thr, dtype=np.float64))
            parts["values"].append(np.concatenate(vals).ravel())
            parts["value_start"].append(value_at + np.cumsum(sizes) - sizes)
            parts["bandwidth"].append(bw)
            value_at += int(np.sum(sizes))
            n_nodes += m
            leaves += int(is_leaf.sum())
            starts.append(n_nodes)
        parts["value_start"].append(np.array([value_at]))
        dev = self.tree_start.device
        for k, v in parts.items():
            setattr(self, k, torch.from_numpy(np.concatenate(v)).to(dev, getattr(self, k).dtype))
        self.tree_start.copy_(torch.tensor(starts))
        self.fill.copy_(torch.from_numpy(fill))
        return {"rows": float(len(x)), "leaves": float(leaves), "rows_per_leaf": len(x) * len(cols) / max(leaves, 1)}

    def _leaf(self, i: int, inputs: torch.Tensor) -> torch.Tensor:
        """The leaf of the i-th visited column's tree that every row's earlier columns (``inputs``: missing
        numbers filled, rounded to float32 as scikit-learn compares them) lead to."""
        n = len(inputs)
        node = torch.full((n,), int(self.tree_start[i]), dtype=torch.long, device=inputs.device)
        rows = torch.arange(n, device=inputs.device)
        for _ in range(int(self.tree_start[i + 1] - self.tree_start[i])):  # at most one level per node
            f = self.feature[node]
            inner = f >= 0
            if not bool(inner.any()):
                break
            r, nd = rows[inner], node[inner]
            go_left = inputs[r, f[inner]] <= self.threshold[nd]
            node[inner] = torch.where(go_left, self.child[nd, 0], self.child[nd, 1])
        return node

    def _draw(self, n: int, conds: list[Condition], generator=None) -> torch.Tensor:
        if not len(self.feature):
            raise ConfigError("this cart model has not been fitted")
        dev = self.tree_start.device
        codes = torch.full((n, len(self.schema.columns)), float("nan"), dtype=torch.float64, device=dev)
        inputs = torch.zeros_like(codes)  # the drawn columns as the trees split on them
        for i, j in enumerate(self.order):
            leaf = self._leaf(i, inputs)
            start = self.value_start[leaf]
            u = torch.rand(n, generator=generator, device=dev, dtype=torch.float64)
            if self.schema.columns[j].onehot:
                k = self.schema.columns[j].n_codes
                cum = self.values[start[:, None] + torch.arange(k, device=dev)]
                codes[:, j] = (cum < u[:, None] * cum[:, -1:]).sum(1).clamp(max=k - 1).double()
                inputs[:, j] = codes[:, j]
            else:
                size = self.value_start[leaf + 1] - start
                v = self.values[start + torch.minimum((u * size).long(), size - 1)]
                missing = v == self.fill[j]
                if self.config.smoothing == "density":
                    v = v + self.bandwidth[leaf] * torch.randn(n, generator=generator, device=dev, dtype=torch.float64)
                codes[:, j] = v.masked_fill(missing, float("nan"))
                inputs[:, j] = v.masked_fill(missing, float(self.fill[j])).float().double()
        return codes


def _silverman(y: np.ndarray, leaf: np.ndarray, m: int) -> np.ndarray:
    """Silverman's rule-of-thumb bandwidth of the present values at each of ``m`` nodes (0 where fewer than 2)."""
    ok = ~np.isnan(y)
    n = np.bincount(leaf[ok], minlength=m).astype(np.float64)
    s1 = np.bincount(leaf[ok], y[ok], minlength=m)
    s2 = np.bincount(leaf[ok], y[ok] ** 2, minlength=m)
    with np.errstate(all="ignore"):
        sd = np.sqrt(np.maximum(s2 / n - (s1 / n) ** 2, 0) * n / (n - 1))
        return np.where(n > 1, 1.06 * sd * n ** -0.2, 0.0)

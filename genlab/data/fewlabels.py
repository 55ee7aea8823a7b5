"""Few labels: a fixed, seeded choice of ``k`` labelled training examples per class (``data.labels_per_class``).

The choice depends only on the labels and ``k`` (seed 0), so a generator trained with
``--set data.labels_per_class=100`` and ``genlab augment --labels-per-class 100`` see the same labelled
examples. ``data.unlabelled=keep`` keeps every other example with label -1, for semi-supervised models.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError, DataError
from .base import TensorDataset


def labelled_subset(y: torch.Tensor, k: int, num_classes: int) -> torch.Tensor:
    """Sorted indices of the first ``k`` examples of every class in a seeded permutation."""
    if k < 1:
        raise ConfigError(f"data.labels_per_class must be >= 1, got {k}")
    counts = torch.bincount(y[y >= 0], minlength=num_classes)
    short = [(c, int(n)) for c, n in enumerate(counts.tolist()) if n < k]
    if short:
        c, n = min(short, key=lambda t: t[1])
        raise ConfigError(f"--labels-per-class {k} is more than the training data has: class {c} has {n} examples")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    ys = y[perm]
    rank = torch.zeros_like(ys)
    for c in range(num_classes):  # position of each example among its class in the permutation
        m = ys == c
        rank[m] = torch.arange(int(m.sum()))
    keep = perm[(ys >= 0) & (rank < k)]
    return keep.sort().values


def few_labels(ds: TensorDataset, k: int, keep_unlabelled: bool = False) -> TensorDataset:
    if "y" not in ds.tensors or not ds.info.num_classes:
        raise DataError(f"data.labels_per_class needs labelled data; {ds.info.name or 'this dataset'} has no labels")
    y = ds.tensors["y"]
    idx = labelled_subset(y, k, ds.info.num_classes)
    if keep_unlabelled:
        new_y = torch.full_like(y, -1)
        new_y[idx] = y[idx]
        tensors = {**ds.tensors, "y": new_y}
    else:
        tensors = {name: t[idx] for name, t in ds.tensors.items()}
    meta = {**ds.info.meta, "labels_per_class": k, "labelled": int(len(idx))}
    info = type(ds.info)(**{**ds.info.__dict__, "meta": meta})
    return TensorDataset(tensors, info, transform=ds.transform)


class LabelledPool:
    """The labelled examples of a training set (label >= 0), transformed once, for semi-supervised models
    that draw a labelled batch beside every (mostly unlabelled) training batch."""

    def __init__(self, data: TensorDataset, device):
        if "y" not in data.tensors:
            raise DataError("a semi-supervised model needs labelled data (some labels; set data.labels_per_class "
                            "and data.unlabelled=keep to hide the rest)")
        y = data.tensors["y"]
        idx = (y >= 0).nonzero().squeeze(1)
        if len(idx) == 0:
            raise DataError("the training data has no labelled examples (every label is -1)")
        batch = data.transform({k: v[idx].to(device) for k, v in data.tensors.items()}) if data.transform else \
            {k: v[idx].to(device) for k, v in data.tensors.items()}
        self.x, self.y = batch["x"], batch["y"]

    def __len__(self) -> int:
        return len(self.y)

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` labelled examples drawn with replacement (the global torch RNG: reproducible, resumable)."""
        i = torch.randint(len(self.y), (n,), device=self.y.device)
        return self.x[i], self.y[i]

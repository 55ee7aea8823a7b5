"""What every dataset hands to models and the trainer.

A dataset is a few tensors held in memory (``uint8`` images, token ids, encoded table rows) plus a
``DataInfo`` that says what one example looks like. Batches are dicts of tensors drawn by indexing with a
random permutation: no per-sample Python in the loop.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import torch

Batch = dict[str, torch.Tensor]


@dataclass
class DataInfo:
    """Everything a model needs to know about its data, serialised into ``config.json``.

    ``meta`` holds JSON-serialisable modality extras (a text vocabulary, a table schema) so that a model
    can be rebuilt from its run folder without the data.
    """

    modality: str  # "image" | "text" | "table" | "vector"
    shape: tuple[int, ...]  # one example: (C, H, W) for images, (D,) for vectors/tables
    name: str = ""
    num_classes: int = 0
    class_names: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        d = dict(d)
        d["shape"] = tuple(d["shape"])
        return cls(**d)


class TensorDataset:
    """Equal-length tensors in memory, batched by permutation indexing.

    ``tensors`` maps names to tensors sharing their first dimension (e.g. ``{"x": uint8 images,
    "y": int64 labels}``). ``transform`` turns a raw batch (already on the target device) into what the
    model consumes, e.g. ``uint8 -> float in [0, 1]`` or dynamic binarisation.
    """

    def __init__(self, tensors: Batch, info: DataInfo, transform: Callable[[Batch], Batch] | None = None):
        lengths = {k: len(v) for k, v in tensors.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"tensors must share their first dimension, got {lengths}")
        self.tensors = tensors
        self.info = info
        self.transform = transform
        self._device_cache: dict[str, Batch] = {}

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def num_batches(self, batch_size: int, drop_last: bool = True) -> int:
        n = len(self)
        if drop_last and n >= batch_size:
            return n // batch_size
        return math.ceil(n / batch_size)

    def _on(self, device: torch.device | str) -> Batch:
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = {k: v.to(device) for k, v in self.tensors.items()}
        return self._device_cache[key]

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = True,
        device: torch.device | str = "cpu",
        start: int = 0,
    ) -> Iterator[Batch]:
        """Yield batches for one epoch; ``start`` skips the first batches (used for exact resume)."""
        data = self._on(device)
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        nb = self.num_batches(batch_size, drop_last)
        for b in range(start, nb):
            idx = order[b * batch_size : (b + 1) * batch_size].to(device)
            batch = {k: v.index_select(0, idx) for k, v in data.items()}
            yield self.transform(batch) if self.transform else batch

    def all(self, device: torch.device | str = "cpu", limit: int | None = None) -> Batch:
        """The whole dataset (or its first ``limit`` examples) as one transformed batch."""
        data = self._on(device)
        batch = {k: v[:limit] for k, v in data.items()}
        return self.transform(batch) if self.transform else batch


def read_npz(path) -> dict:
    """All arrays of a ``.npz`` file (no pickled objects), or one clear DataError."""
    import zipfile

    import numpy as np

    from ..errors import DataError

    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a valid .npz file (as written by numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"could not read {path}: {e}") from None

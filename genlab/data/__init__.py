"""Datasets: one loader per kind of data, named by that kind's record in ``genlab/modalities/``.

``load_data(cfg, modality, split)`` returns a :class:`TensorDataset` for ``split`` ("train" or "test").
"""
from __future__ import annotations

from ..config import DataConfig
from ..errors import DataError
from .base import Batch, DataInfo, TensorDataset


def load_data(cfg: DataConfig, modality: str = "image", split: str = "train") -> TensorDataset:
    from ..modalities import get_modality, list_modalities

    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    if modality not in list_modalities():
        raise DataError(f"no data loader for modality {modality!r}; known: {', '.join(list_modalities())}")
    ds = get_modality(modality).resolve("loader")(cfg, split)
    if cfg.labels_per_class is not None and split == "train":
        from .fewlabels import few_labels

        ds = few_labels(ds, cfg.labels_per_class, keep_unlabelled=cfg.unlabelled == "keep")
    return ds


__all__ = ["Batch", "DataInfo", "TensorDataset", "load_data"]

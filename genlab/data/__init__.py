"""Datasets: one loader per modality, chosen by the model's modality.

``load_data(cfg, modality, split)`` returns a :class:`TensorDataset` for ``split`` ("train" or "test").
Loaders register themselves with :func:`register_loader`; see ``images.py`` for the image loader.
"""
from __future__ import annotations

from typing import Callable

from ..config import DataConfig
from ..errors import DataError
from .base import Batch, DataInfo, TensorDataset

_LOADERS: dict[str, Callable[[DataConfig, str], TensorDataset]] = {}


def register_loader(modality: str):
    def deco(fn):
        _LOADERS[modality] = fn
        return fn

    return deco


def load_data(cfg: DataConfig, modality: str = "image", split: str = "train") -> TensorDataset:
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    _import_loaders()
    if modality not in _LOADERS:
        raise DataError(f"no data loader for modality {modality!r}; known: {', '.join(sorted(_LOADERS))}")
    ds = _LOADERS[modality](cfg, split)
    if cfg.labels_per_class is not None and split == "train":
        from .fewlabels import few_labels

        ds = few_labels(ds, cfg.labels_per_class, keep_unlabelled=cfg.unlabelled == "keep")
    return ds


def import_data_modules() -> None:
    """Import every data module, so that its loader and its sample writers (``genlab.outputs``) are registered."""
    _import_loaders()


def _import_loaders() -> None:
    import importlib

    for mod in ("images", "text", "tables", "vectors", "music", "audio", "paired", "grouped", "documents", "words"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:  # a modality whose loader is not written yet
            if e.name != f"{__name__}.{mod}":
                raise


__all__ = ["Batch", "DataInfo", "TensorDataset", "load_data", "register_loader"]

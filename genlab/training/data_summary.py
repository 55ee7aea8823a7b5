"""The line printed when training starts on images or text: what the model is about to learn from.

Tables print their own summary (rows and column types) when they are read (``genlab/data/tables.py``).
"""
from __future__ import annotations

import sys

from ..data.base import DataInfo, TensorDataset


def data_summary(train_ds: TensorDataset, val_ds: TensorDataset | None, data_cfg) -> str | None:
    """One or two lines about images or text, ``None`` for other kinds of data."""
    info = train_ds.info
    if info.modality == "image":
        return _images(train_ds, val_ds, data_cfg)
    if info.modality == "text":
        return _text(train_ds, val_ds, data_cfg)
    return None


def print_data_summary(train_ds, val_ds, data_cfg) -> None:
    line = data_summary(train_ds, val_ds, data_cfg)
    if line:
        print(line, file=sys.stderr, flush=True)


def _images(train_ds: TensorDataset, val_ds: TensorDataset | None, data_cfg) -> str:
    info: DataInfo = train_ds.info
    x = train_ds.tensors["x"]
    shape = "×".join(str(s) for s in info.shape)
    n_test = len(val_ds) if val_ds is not None else 0
    if info.num_classes:
        names = info.class_names or []
        shown = ", ".join(str(c) for c in names[:10]) + (", ..." if len(names) > 10 else "")
        classes = f"{info.num_classes} classes" + (f" ({shown})" if names else "")
    else:
        classes = "no labels"
    lo, hi = (int(x.min()), int(x.max())) if x.numel() else (0, 0)
    binarize = getattr(data_cfg, "binarize", None)
    scaled = {"dynamic": "binarised afresh every batch", "static": "binarised once"}.get(binarize, "scaled to [0, 1]")
    return (f"genlab: images {info.name or data_cfg.name}: {len(train_ds):,} training images, {n_test:,} test images, "
            f"{shape} (C×H×W), {classes}; pixel values {lo}–{hi} ({str(x.dtype).replace('torch.', '')}), {scaled}")


def _text(train_ds: TensorDataset, val_ds: TensorDataset | None, data_cfg) -> str:
    info: DataInfo = train_ds.info
    meta, t = info.meta, info.meta.get("block_size", info.shape[0])
    kind = meta.get("tokenizer", "?")
    unit = "characters" if kind == "char" else "tokens"  # a character tokenizer: one token per character
    tokens = _tokens(train_ds, t)
    val = f", {_tokens(val_ds, t):,} held-out {unit}" if val_ds is not None else ""
    return (f"genlab: text {info.name or data_cfg.name}: {tokens:,} training {unit}{val}; {kind} tokenizer, "
            f"vocabulary of {int(meta.get('vocab_size') or 0):,} {'characters' if kind == 'char' else 'tokens'}\n"
            f"genlab: {len(train_ds):,} training sequences of block_size {t} tokens")


def _tokens(ds: TensorDataset, block_size: int) -> int:
    """Tokens a text split's windows cover: its windows start every ``block_size`` tokens and each reads one
    more (the next-token target)."""
    starts = ds.tensors.get("start")
    if starts is None or not len(starts):
        return 0
    return int(starts[-1]) + block_size + 1

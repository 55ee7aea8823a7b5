"""Lists of short items (words or lines) for the sequence autoencoder: modality ``words``.

``data.name`` is a UTF-8 text file with one item per line, or ``words:FILE``: the distinct lower-cased
words (letters and apostrophes) of any text file, e.g. ``words:../shared/data/text/tinyshakespeare.txt``.
Items are held out by a seeded random split (``data.val_fraction``); items longer than
``data.block_size`` characters are an error.

Tokens: 0 = padding, 1 = end of item, 2.. = the characters of ``info.meta["vocab"]`` (taken from the whole
file, so both splits share one vocabulary). ``x`` is int64 (N, L), L = the longest item + 1.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import DataInfo, TensorDataset
from .images import holdout_indices
from .text import read_text_file

PAD, EOS = 0, 1
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def read_items(name: str) -> tuple[list[str], str]:
    """The items of data source ``name`` and a short dataset name."""
    words = name.startswith("words:")
    path = Path(name[len("words:"):] if words else name).expanduser()
    if not path.is_file():
        raise DataError(f"word data {name!r} not found: give a text file with one item per line, "
                        "or words:FILE for the distinct words of a text file")
    text = read_text_file(path)
    items = sorted(set(_WORD.findall(text.lower()))) if words else [s.strip() for s in text.splitlines() if s.strip()]
    if len(items) < 2:
        raise DataError(f"{path} holds {len(items)} item(s); need at least 2 (one per line)")
    return items, ("words-" if words else "") + path.stem


def to_ids(items: list[str], vocab: str, length: int) -> torch.Tensor:
    """Items as int64 (N, length): character ids, then EOS, then padding."""
    index = {c: i + 2 for i, c in enumerate(vocab)}
    unknown = sorted({c for s in items for c in s} - set(index))
    if unknown:
        raise DataError(f"characters {''.join(unknown)!r} are not in the model's vocabulary")
    too_long = [s for s in items if len(s) >= length]
    if too_long:
        raise DataError(f"item {too_long[0]!r} has {len(too_long[0])} characters; the model takes at most {length - 1}")
    x = np.zeros((len(items), length), dtype=np.int64)
    for i, s in enumerate(items):  # once per dataset, not in a training loop
        x[i, : len(s)] = [index[c] for c in s]
        x[i, len(s)] = EOS
    return torch.from_numpy(x)


def cut_at_end(ids: torch.Tensor) -> torch.Tensor:
    """Generated ids (N, L) with an EOS at the first end-of-item (or padding) token and padding after it."""
    ended = (ids <= EOS).int().cumsum(1) > 0
    first = ended & ~torch.cat([torch.zeros_like(ended[:, :1]), ended[:, :-1]], dim=1)
    return torch.where(first, torch.full_like(ids, EOS), ids.masked_fill(ended, PAD))


def to_text(ids: torch.Tensor, vocab: str) -> list[str]:
    """Token ids (N, L) back to strings, each cut at its first end-of-item (or padding) token."""
    table = np.array(["", ""] + list(vocab), dtype=object)
    ids = cut_at_end(ids.detach().cpu()).numpy()
    return ["".join(table[row]) for row in ids]


def load_words(cfg: DataConfig, split: str) -> TensorDataset:
    items, name = read_items(cfg.name)
    longest = max(len(s) for s in items)
    if longest > cfg.block_size:
        raise DataError(f"the longest item of {cfg.name} has {longest} characters, more than data.block_size="
                        f"{cfg.block_size}; raise data.block_size or shorten the lines")
    vocab = "".join(sorted({c for s in items for c in s}))
    idx = holdout_indices(len(items), cfg.val_fraction, split)
    if cfg.limit and split == "train":
        idx = idx[: cfg.limit]
    x = to_ids([items[i] for i in idx], vocab, longest + 1)
    return TensorDataset({"x": x}, DataInfo("words", (longest + 1,), name=name, meta={"vocab": vocab}))


def write_words(samples, path: Path, info: DataInfo, labels=None) -> None:
    """Items (strings, or token ids) one per line to ``.txt``, or as a string array to ``.npz``."""
    if isinstance(samples, torch.Tensor):
        samples = to_text(samples, info.meta["vocab"])
    if path.suffix in (".txt", ""):
        path.write_text("".join(s + "\n" for s in samples), encoding="utf-8")
    elif path.suffix == ".npz":
        np.savez_compressed(path, items=np.array(samples, dtype=str))
    else:
        raise ConfigError(f"word samples are written as .txt (one per line) or .npz, not {path.suffix}")

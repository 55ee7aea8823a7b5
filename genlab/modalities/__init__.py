"""One record per kind of data: where its loader, writer, evaluator, terminal summary and comparison live,
which files its samples are written as, and how its training previews look.

Each module of this package declares the kinds it owns as ``MODALITIES = (Modality(...), ...)``; the package
finds them by listing its own folder, so adding a kind of data is one new module here (plus the functions it
names). A record names functions as ``"module:function"`` strings and resolves them on first use, so this package
imports nothing of genlab's upper layers: each caller resolves only what belongs to its own layer or below
(``load_data`` the loader, ``write_samples`` the writer, ``genlab.evaluate`` the evaluator and summary).

    >>> from genlab.modalities import get_modality
    >>> get_modality("image").default_suffix
    '.png'
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError

LIKELIHOOD_EVALUATOR = "genlab.eval.likelihood_runs:evaluate_likelihood_run"


@dataclass(frozen=True)
class Modality:
    """What genlab knows about one kind of data.

    ``suffixes``: output files its writer accepts, the default (``genlab sample`` without ``-o``, training
    previews) first; ``""`` is a name without suffix. ``streamed``: ``genlab sample`` writes its samples chunk
    by chunk (``genlab/sampling.py``); otherwise they are gathered and written in one piece, so their size is
    bounded. ``terminal``: ``-o -`` prints samples. ``evaluator`` (``fn(model, run_dir, data_cfg, **options) ->
    dict``) defaults to held-out likelihood; ``summary`` (``fn(result) -> str``) to the result as JSON;
    ``compare`` (``fn(models, runs, data_cfg, **options) -> rows``) and ``comparison_page`` (``fn(rows, path)``)
    are absent for kinds that ``genlab compare`` does not take."""

    name: str
    description: str
    loader: str
    writer: str
    suffixes: tuple[str, ...]
    evaluator: str = LIKELIHOOD_EVALUATOR
    summary: str | None = None
    compare: str | None = None
    comparison_page: str | None = None
    streamed: bool = False
    terminal: bool = False
    shard_suffix: str = ".npz"
    preview_count: int | None = None  # at most this many samples in a training preview (None: the grid size)

    @property
    def default_suffix(self) -> str:
        return self.suffixes[0]

    def resolve(self, part: str) -> Callable | None:
        """The function named by field ``part`` (``"loader"``, ``"writer"``, ...), imported on first use."""
        ref = getattr(self, part)
        if ref is None:
            return None
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)


_RECORDS: dict[str, Modality] | None = None


def _records() -> dict[str, Modality]:
    global _RECORDS
    if _RECORDS is None:
        found: dict[str, Modality] = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{__name__}.{info.name}")
            for record in getattr(module, "MODALITIES", ()):
                if record.name in found:
                    raise RuntimeError(f"kind of data {record.name!r} is declared twice (genlab/modalities/{info.name}.py)")
                found[record.name] = record
        _RECORDS = found
    return _RECORDS


def get_modality(name: str) -> Modality:
    records = _records()
    if name not in records:
        raise ConfigError(f"unknown kind of data {name!r}; known: {', '.join(sorted(records))}")
    return records[name]


def list_modalities() -> list[str]:
    return sorted(_records())


__all__ = ["Modality", "get_modality", "list_modalities", "LIKELIHOOD_EVALUATOR"]

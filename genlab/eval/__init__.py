"""Evaluation of trained runs: one evaluator per data modality, an ``eval.json`` and an HTML report.

``genlab.evaluate(run)`` (``genlab/api.py``, and ``genlab evaluate RUN``) loads the run, hands it to the
evaluator its kind of data names in ``genlab/modalities/`` (images: ``image_runs.py``, text: ``text_runs.py``,
tables: ``tabular/evaluate.py``; others: ``likelihood_runs.py``) and writes ``eval.json`` and ``report.html``
next to the weights. Metrics themselves are pure functions in ``metrics.py``.
"""
from __future__ import annotations

from typing import Callable


def get_evaluator(modality: str) -> Callable:
    """``fn(model, run_dir, data_cfg, **options) -> dict`` (JSON-ready, with sample counts) for ``modality``:
    the evaluator its record in ``genlab/modalities/`` names (held-out likelihood when it names none)."""
    from ..modalities import get_modality

    return get_modality(modality).resolve("evaluator")


def data_config_for(run_config: dict, data: str | None, root: str | None):
    """The run's own data config, pointed at another dataset or root when asked."""
    from ..config import DataConfig, from_dict

    d = dict(run_config.get("data_config", {}))
    if data is not None and data != d.get("name"):
        d.update(name=data, limit=None)
    if root is not None:
        d["root"] = root
    return from_dict(DataConfig, d, "data")


__all__ = ["get_evaluator", "data_config_for"]

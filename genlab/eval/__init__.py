"""Evaluation of trained runs: one evaluator per data modality, an ``eval.json`` and an HTML report.

``genlab.evaluate(run)`` (``genlab/api.py``, and ``genlab evaluate RUN``) loads the run, hands it to the
evaluator registered for its modality (images: ``image_runs.py``, text: ``text_runs.py``, tables:
``genlab/tabular/evaluate.py``; others: ``likelihood_runs.py``) and writes ``eval.json`` and ``report.html``
next to the weights. Metrics themselves are pure functions in ``metrics.py``.
"""
from __future__ import annotations

from typing import Callable


_EVALUATORS: dict[str, Callable] = {}


def register_evaluator(modality: str):
    """Register ``fn(model, run_dir, data_cfg, **options) -> dict`` (JSON-ready, with sample counts)."""

    def deco(fn):
        _EVALUATORS[modality] = fn
        return fn

    return deco


def get_evaluator(modality: str) -> Callable:
    from . import image_runs, music, text_runs  # noqa: F401  (register the image, music, audio and text evaluators)

    if modality not in _EVALUATORS:
        from .likelihood_runs import evaluate_likelihood_run

        return evaluate_likelihood_run
    return _EVALUATORS[modality]


def data_config_for(run_config: dict, data: str | None, root: str | None):
    """The run's own data config, pointed at another dataset or root when asked."""
    from ..config import DataConfig, from_dict

    d = dict(run_config.get("data_config", {}))
    if data is not None and data != d.get("name"):
        d.update(name=data, limit=None)
    if root is not None:
        d["root"] = root
    return from_dict(DataConfig, d, "data")


__all__ = ["register_evaluator", "get_evaluator", "data_config_for"]

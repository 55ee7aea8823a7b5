"""Training, run folders and loading. ``train``/``resume``/``load``/``Trainer`` import torch on first use, so
that light commands (``genlab info``) can read run folders through ``genlab.training.checkpoint`` without it."""

__all__ = ["Trainer", "build_model", "load", "resume", "train"]


def __getattr__(name: str):
    if name in ("build_model", "load", "resume", "train"):
        from . import run

        return getattr(run, name)
    if name == "Trainer":
        from .trainer import Trainer

        return Trainer
    raise AttributeError(f"module 'genlab.training' has no attribute {name!r}")

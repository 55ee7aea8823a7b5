"""genlab: train, sample from, evaluate and compare deep generative models."""
__version__ = "0.1.0"

from .registry import get_model_class, list_models, register_model  # noqa: E402
from . import outputs  # noqa: E402
from .training import load, resume, train  # noqa: E402

__all__ = ["__version__", "get_model_class", "list_models", "load", "register_model", "resume", "train"]

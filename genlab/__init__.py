"""genlab: train, sample from, evaluate and compare deep generative models."""
__version__ = "0.1.0"

from .registry import get_model_class, list_models, register_model  # noqa: E402

__all__ = ["__version__", "compare", "evaluate", "fit_latent", "get_model_class", "list_models", "load",
           "register_model", "resume", "sample", "train"]

# The run API (genlab/api.py). torch and the model families load on first use, so that `genlab --help` starts
# in a fraction of a second.
_LAZY = {**{k: ".api" for k in ("compare", "evaluate", "fit_latent", "load", "resume", "sample", "train")},
         "outputs": None}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name] or f".{name}", __name__)
        value = module if _LAZY[name] is None else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genlab' has no attribute {name!r}")

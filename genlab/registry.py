"""The model registry: ``@register_model`` on a class makes it known to ``genlab train NAME``."""
from __future__ import annotations

import difflib

from .errors import ConfigError

_MODELS: dict[str, type] = {}


def register_model(cls):
    """Class decorator: register a :class:`~genlab.models.base.GenerativeModel` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} must set a `name` to be registered")
    if cls.name in _MODELS and _MODELS[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} is registered twice")
    _MODELS[cls.name] = cls
    return cls


def _ensure_imported() -> None:
    from . import models

    models.import_all()  # importing every family registers every model


def _import_family_of(name: str) -> None:
    """Import only the module that defines model ``name``, when the cached model index knows it."""
    import importlib

    from .model_index import module_of

    module = module_of(name)
    if module:
        try:
            importlib.import_module(module)
        except ImportError:
            pass


def get_model_class(name: str) -> type:
    if name not in _MODELS:
        _import_family_of(name)
    if name not in _MODELS:
        _ensure_imported()
        from .model_index import rows

        rows()  # refresh the cached index, so that the next process imports only this model's family
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown model {name!r}.{hint} Known models: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def list_models() -> dict[str, type]:
    _ensure_imported()
    return dict(sorted(_MODELS.items()))

"""Model families, one sub-package each. Importing a family registers its models.

To add a model: write one file in its family's folder with a class decorated by
``@register_model`` and import that file in the family's ``__init__.py``. A new family is a new sub-package
here; :func:`import_all` finds it.

Families are imported on first use by :mod:`genlab.registry`: only the model's own family when the cached
model index (:mod:`genlab.model_index`) knows the name, every family for an unknown name or ``list_models()``.
So importing ``genlab.models.base`` or one model does not load every family (nor pandas or scikit-learn).
"""
from __future__ import annotations


def import_all() -> None:
    """Import every family sub-package (registers every model)."""
    import importlib
    import pkgutil

    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if m.ispkg:
            importlib.import_module(f"{__name__}.{m.name}")

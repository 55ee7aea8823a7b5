"""Model families, one sub-package each. Importing a family registers its models.

To add a model: write one file in its family's folder with a class decorated by
``@register_model`` and import that file in the family's ``__init__.py``.
"""
from . import autoregressive, classical, diffusion, flows, gan, tabular, vae  # noqa: F401

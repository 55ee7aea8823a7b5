"""Generative adversarial networks: one implementation (``gan.py``), named variants (``variants.py``),
losses as pure functions (``losses.py``) and training-health checks (``health.py``)."""
from ...data import vectors  # noqa: F401  (registers the writer for vector samples)
from . import gan, variants  # noqa: F401

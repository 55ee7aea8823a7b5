"""Generative adversarial networks: one implementation (``gan.py``), named variants (``variants.py``),
losses as pure functions (``losses.py``) and training-health checks (``health.py``)."""
from . import gan, variants  # noqa: F401
from . import ssgan  # noqa: F401

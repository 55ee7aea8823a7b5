"""Normalising flows: ``realnvp`` (images), ``flow-mlp`` (vectors)."""
from . import flow_mlp, realnvp  # noqa: F401

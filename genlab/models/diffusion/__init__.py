"""Diffusion models: ``ddpm`` (images, U-Net), ``ddpm-mlp`` (vectors); ``tab-ddpm`` (tables) lives with the
table models in ``genlab/models/tabular/``."""
from . import ddpm, ddpm_mlp  # noqa: F401

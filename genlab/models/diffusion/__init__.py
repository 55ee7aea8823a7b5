"""Diffusion models: ``ddpm`` (images, U-Net), ``ddpm-mlp`` (vectors), ``tab-ddpm`` (tables)."""
from . import ddpm, ddpm_mlp, tab_ddpm  # noqa: F401

"""Denoising networks for flat data (2-D toys, encoded table rows); the image U-Net is ``genlab.models.diffusion.unet``."""
from __future__ import annotations

import torch
from torch import nn

from ...nn.blocks import MLP
from .unet import ConditionEmbedding


class MLPDenoiser(nn.Module):
    """``forward(x, t, y)``: (N, D) noisy vectors, (N,) steps, optional (N,) labels -> (N, out_dim).

    The input projection plus the time (and label) embedding feeds an MLP with SiLU (as in TabDDPM,
    Kotelnikov et al. 2023); the last layer starts at zero.
    """

    def __init__(self, dim: int, hidden: int = 256, depth: int = 3, num_classes: int = 0, out_dim: int | None = None,
                 dropout: float = 0.0):
        super().__init__()
        self.inp = nn.Linear(dim, hidden)
        self.cond = ConditionEmbedding(min(hidden, 128), hidden, num_classes)
        self.mlp = MLP([hidden] * depth + [out_dim or dim], act="silu", dropout=dropout)
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.mlp(self.act(self.inp(x) + self.cond(t, y)))


class Standardize(nn.Module):
    """Per-feature ``(x - mean) / std`` with the statistics of the first data it is fitted on; saved with
    the model (buffers), so sampling needs no data and a resumed run keeps them."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("bound", torch.tensor(float("inf")))  # largest |standardised value| seen
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit_once(self, x: torch.Tensor) -> None:
        if not bool(self.fitted) and len(x) > 1:
            self.mean.copy_(x.mean(0))
            self.std.copy_(x.std(0).clamp_min(1e-3))
            self.bound.copy_(self(x).abs().max())
            self.fitted.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean

    def log_det(self) -> torch.Tensor:
        """log |d forward / dx| for one example."""
        return -self.std.log().sum()

"""Blocks for table models: CTGAN's residual generator and a PacGAN critic (Lin et al. 2018)."""
from __future__ import annotations

import torch
from torch import nn

from ...nn.blocks import MLP


class ConcatResidual(nn.Module):
    """``[relu(bn(fc(x))), x]``: each layer's output is concatenated with its input (CTGAN's generator)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], 1)


def residual_generator(in_dim: int, dims: list[int], out_dim: int) -> nn.Sequential:
    layers, d = [], in_dim
    for h in dims:
        layers.append(ConcatResidual(d, h))
        d += h
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


class PacCritic(nn.Module):
    """Scores groups of ``pac`` rows at once (their features concatenated), which penalises mode collapse."""

    def __init__(self, in_dim: int, dims: list[int], pac: int = 10, dropout: float = 0.5):
        super().__init__()
        self.pac = pac
        self.net = MLP([in_dim * pac, *dims, 1], act="lrelu", dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, x.shape[1] * self.pac))


def pac_gradient_penalty(critic: PacCritic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017) on pac groups: one interpolation weight per group, unit gradient norm."""
    pac = critic.pac
    w = torch.rand(len(real) // pac, 1, 1, device=real.device).expand(-1, pac, 1).reshape(-1, 1)
    mix = (w * real + (1 - w) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    return ((grad.reshape(-1, pac * real.shape[1]).norm(dim=1) - 1) ** 2).mean()

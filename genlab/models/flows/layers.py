"""Invertible layers for normalising flows (Dinh et al. 2017, "Density estimation using Real NVP";
Kingma & Dhariwal 2018, "Glow").

Every layer maps ``x -> (y, log|det dy/dx|)`` per example in ``forward`` and ``y -> x`` in ``inverse``.
They work on vectors (N, D) and on images (N, C, H, W): "channels" is dimension 1.
"""
from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError


def _sum_per_example(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).sum(1)


class ActNorm(nn.Module):
    """Per-channel affine ``y = (x + bias) * exp(log_scale)``, initialised from the first training batch so
    that its output has zero mean and unit variance per channel (Glow)."""

    def __init__(self, channels: int, ndim: int):
        super().__init__()
        shape = (1, channels) + (1,) * (ndim - 2)
        self.bias = nn.Parameter(torch.zeros(shape))
        self.log_scale = nn.Parameter(torch.zeros(shape))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        dims = [d for d in range(x.dim()) if d != 1]
        self.bias.copy_(-x.mean(dims, keepdim=True))
        self.log_scale.copy_(-x.std(dims, keepdim=True).clamp_min(1e-3).log())
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized) and len(x) > 1:
            self._init(x)
        pixels = x[0, 0].numel()
        logdet = self.log_scale.sum() * pixels
        return (x + self.bias) * self.log_scale.exp(), logdet.expand(len(x))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class AffineCoupling(nn.Module):
    """``y = m x + (1 - m) (x exp(s) + t)`` with ``(s, t) = net(m x)`` and a fixed binary mask ``m``; ``s`` is
    bounded by ``scale * tanh(.)`` with a learned per-channel ``scale``. ``net`` maps inputs with the
    shape of ``x`` (plus one mask channel when ``append_mask``) to twice the channels of ``x``."""

    def __init__(self, mask: torch.Tensor, net: nn.Module, append_mask: bool = False):
        super().__init__()
        self.register_buffer("mask", mask, persistent=False)
        self.net = net
        self.append_mask = append_mask
        self.scale = nn.Parameter(torch.ones((1, mask.shape[1]) + (1,) * (mask.dim() - 2)))

    def _shift_scale(self, xm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inp = xm
        if self.append_mask:
            inp = torch.cat([xm, self.mask[:, :1].expand(len(xm), -1, *xm.shape[2:])], 1)
        s, t = self.net(inp).chunk(2, dim=1)
        free = 1 - self.mask
        return self.scale * torch.tanh(s) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._shift_scale(x * self.mask)
        return x * torch.exp(s) + t, _sum_per_example(s)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        s, t = self._shift_scale(y * self.mask)
        return (y - t) * torch.exp(-s)


class Squeeze(nn.Module):
    """(N, C, H, W) -> (N, 4C, H/2, W/2): each 2x2 block of pixels becomes 4 channels (volume preserving)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(n)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        n, c4, h, w = y.shape
        c = c4 // 4
        return y.reshape(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)


class FlowSequence(nn.ModuleList):
    """Layers applied in order; log-determinants add up."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.new_zeros(len(x))
        for layer in self:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self):
            y = layer.inverse(y)
        return y


def checkerboard_mask(channels: int, h: int, w: int, parity: int) -> torch.Tensor:
    """(1, C, H, W) mask, 1 where ``(i + j + parity)`` is even."""
    ij = torch.arange(h)[:, None] + torch.arange(w)[None, :] + parity
    return ((ij % 2) == 0).float().expand(1, channels, h, w).contiguous()


def channel_mask(channels: int, h: int, w: int, flip: bool) -> torch.Tensor:
    """(1, C, H, W) mask, 1 on the first half of the channels (the second half when ``flip``)."""
    m = (torch.arange(channels) < channels // 2).float()
    m = 1 - m if flip else m
    return m[None, :, None, None].expand(1, channels, h, w).contiguous()


def alternating_mask(dim: int, parity: int) -> torch.Tensor:
    """(1, D) mask, 1 on the even (``parity=0``) or odd features of a vector."""
    return ((torch.arange(dim) + parity) % 2 == 0).float()[None]


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return _sum_per_example(-0.5 * z.square() - 0.9189385332046727)  # log(sqrt(2 pi))


def sampling_temperature(default: float, given: float | None) -> float:
    """The latents' standard deviation for sampling: ``given`` if set (must be > 0), else ``default``."""
    tau = default if given is None else float(given)
    if not tau > 0:
        raise ConfigError(f"temperature must be > 0, got {tau}")
    return tau

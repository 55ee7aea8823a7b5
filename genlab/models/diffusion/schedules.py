"""Noise schedules of discrete-time Gaussian diffusion and the algebra around them.

Time steps are indices ``0 .. T-1`` (step ``t`` here is step ``t + 1`` in Ho et al. 2020).
``x_t = alpha_t x_0 + sigma_t eps`` with ``alpha_t = sqrt(abar_t)``, ``sigma_t = sqrt(1 - abar_t)`` and
``abar_t = prod_{s <= t} (1 - beta_s)``. Index ``-1`` stands for clean data (``abar = 1``), where samplers end.
"""
from __future__ import annotations

import math

import torch
from torch import nn

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("epsilon", "x0", "v")


def make_betas(kind: str, timesteps: int) -> torch.Tensor:
    """float64 betas: ``linear`` from 1e-4 to 0.02 scaled to 1000 steps (Ho et al. 2020), or ``cosine``
    (Nichol & Dhariwal 2021, offset s = 0.008, betas clipped at 0.999)."""
    if kind == "linear":
        scale = 1000 / timesteps
        return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), timesteps, dtype=torch.float64)
    if kind == "cosine":
        s = torch.linspace(0, 1, timesteps + 1, dtype=torch.float64)
        f = torch.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        return (1 - f[1:] / f[:-1]).clamp(max=0.999)
    raise ValueError(f"unknown schedule {kind!r}; known: {', '.join(SCHEDULES)}")


class NoiseSchedule(nn.Module):
    """``abar`` for steps ``-1 .. T-1`` as a (non-persistent) buffer: it follows the model's device and is
    rebuilt from the config, never saved."""

    def __init__(self, kind: str, timesteps: int):
        super().__init__()
        self.timesteps = timesteps
        abar = torch.cumprod(1 - make_betas(kind, timesteps), 0)
        self.register_buffer("abar_ext", torch.cat([torch.ones(1, dtype=torch.float64), abar]).float(), persistent=False)

    def abar(self, t: torch.Tensor | int) -> torch.Tensor:
        """``abar_t`` for integer steps ``t`` in ``-1 .. T-1`` (tensor or int)."""
        t = torch.as_tensor(t, device=self.abar_ext.device)
        return self.abar_ext[t + 1]

    def alpha_sigma(self, t, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(alpha_t, sigma_t)`` shaped to broadcast against data with ``ndim`` dimensions."""
        a = self.abar(t)
        a = a.reshape(a.shape + (1,) * (ndim - a.dim()))
        return a.sqrt(), (1 - a).sqrt()

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.alpha_sigma(t, x0.dim())
        return alpha * x0 + sigma * noise

    def posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``q(x_{t-1} | x_t, x_0)`` for steps ``t >= 1``."""
        ab_t, ab_s = self.abar(t), self.abar(t - 1)
        shape = ab_t.shape + (1,) * (x0.dim() - ab_t.dim())
        ab_t, ab_s = ab_t.reshape(shape), ab_s.reshape(shape)
        beta = 1 - ab_t / ab_s
        mean = (ab_s.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - ab_s) * xt) / (1 - ab_t)
        return mean, beta * (1 - ab_s) / (1 - ab_t)


def target(prediction: str, x0: torch.Tensor, noise: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """What the network learns to output: the noise, the clean data or ``v = alpha eps - sigma x0``."""
    if prediction == "epsilon":
        return noise
    if prediction == "x0":
        return x0
    return alpha * noise - sigma * x0


def to_x0_eps(prediction: str, out: torch.Tensor, xt: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor,
              clip: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The network output as ``(x0, eps)``. With ``clip`` the clean estimate is clamped to ``[-clip, clip]``
    and ``eps`` recomputed from it, so the two stay consistent with ``x_t``."""
    if prediction == "epsilon":
        eps = out
        x0 = (xt - sigma * eps) / alpha
    elif prediction == "x0":
        x0 = out
        eps = (xt - alpha * x0) / sigma
    else:  # v, with alpha^2 + sigma^2 = 1
        x0 = alpha * xt - sigma * out
        eps = sigma * xt + alpha * out
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        eps = (xt - alpha * x0) / sigma
    return x0, eps

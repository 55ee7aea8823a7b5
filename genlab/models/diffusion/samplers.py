"""Samplers: from noise ``x_T`` to data along a decreasing sub-sequence of the trained time steps.

Each sampler is a small object: ``sampler.timesteps(schedule, n)`` picks ``n`` steps (at most) and
``sampler(denoise, x, steps, schedule, generator)`` runs them, where
``denoise(x_t, t) -> (x0, eps)`` wraps the network (guidance, clipping and parametrisation included) and
``steps`` are integer time steps, largest first; after the last one the sampler jumps to clean data
(step -1, ``abar = 1``) and returns its estimate there. ``on_step(x, t_next)`` (optional) may edit the
state after every update, e.g. to paste in the known pixels when inpainting.

- :class:`DDIM` (Song et al. 2021), deterministic for ``eta = 0``; ``eta = 1`` is ancestral DDPM sampling.
- :class:`DDPM` (Ho et al. 2020): ancestral sampling from ``p(x_{t-1} | x_t)`` with the posterior
  variance, on any sub-sequence of steps (the respacing of Nichol & Dhariwal 2021).
- :class:`DPMSolverPP` (Lu et al. 2022): the second-order multistep DPM-Solver++(2M) in data
  prediction, deterministic and good with 10-25 steps.
"""
from __future__ import annotations

from typing import Callable

import torch

from .schedules import NoiseSchedule

Denoise = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
OnStep = Callable[[torch.Tensor, int], torch.Tensor] | None


def spaced_steps(timesteps: int, n: int) -> list[int]:
    """``n`` distinct steps from ``timesteps - 1`` down to ``0``, evenly spaced (``n <= timesteps``)."""
    if n == 1:
        return [timesteps - 1]
    return torch.linspace(timesteps - 1, 0, n, dtype=torch.float64).round().long().tolist()


def log_snr_steps(schedule: NoiseSchedule, n: int) -> list[int]:
    """Steps whose ``lambda = log(alpha / sigma)`` are nearest to ``n`` values evenly spaced in lambda,
    from the noisiest step to step 0; steps that coincide are merged, so there may be fewer than ``n``."""
    abar = schedule.abar_ext[1:].double()
    lam = 0.5 * (abar.log() - torch.log1p(-abar))
    wanted = torch.linspace(float(lam[-1]), float(lam[0]), n, dtype=torch.float64)
    picked = (lam[None, :] - wanted[:, None]).abs().argmin(1).tolist()
    return sorted(set(picked), reverse=True)


class DDIM:
    """``x_s = alpha_s x0 + sqrt(sigma_s^2 - c^2) eps + c z`` with
    ``c = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)``."""

    name = "ddim"

    def __init__(self, eta: float = 0.0):
        self.eta = eta

    def timesteps(self, schedule: NoiseSchedule, n: int) -> list[int]:
        return spaced_steps(schedule.timesteps, n)

    def __call__(self, denoise: Denoise, x: torch.Tensor, steps: list[int], schedule: NoiseSchedule,
                 generator: torch.Generator | None = None, on_step: OnStep = None) -> torch.Tensor:
        for t, s in zip(steps, steps[1:] + [-1]):
            x0, eps = denoise(x, t)
            ab_t, ab_s = schedule.abar(t), schedule.abar(s)
            c2 = self.eta**2 * (1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)
            x = ab_s.sqrt() * x0 + (1 - ab_s - c2).clamp_min(0).sqrt() * eps
            if self.eta > 0 and s >= 0:
                x = x + c2.sqrt() * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            if on_step is not None:
                x = on_step(x, s)
        return x


class DDPM(DDIM):
    """Ancestral sampling: ``x_s ~ N(posterior mean(x_t, x0), posterior variance)``. With ``x0`` and ``eps``
    consistent with ``x_t`` this is exactly DDIM with ``eta = 1`` (checked in the tests)."""

    name = "ddpm"

    def __init__(self):
        super().__init__(eta=1.0)


class DPMSolverPP:
    """DPM-Solver++(2M): with ``lambda = log(alpha / sigma)`` and ``h = lambda_s - lambda_t``,
    ``x_s = (sigma_s / sigma_t) x_t - alpha_s (exp(-h) - 1) D`` where ``D`` is the clean estimate at ``t``
    (first step and the final jump to clean data) or its second-order extrapolation
    ``(1 + 1/(2r)) x0_t - 1/(2r) x0_prev`` with ``r = h_prev / h``. Steps are evenly spaced in ``lambda``
    (the paper's choice for small images), which keeps ``r`` near 1; uniform time steps make ``r`` tiny
    near the end and the extrapolation unstable."""

    name = "dpm++"

    def timesteps(self, schedule: NoiseSchedule, n: int) -> list[int]:
        return log_snr_steps(schedule, n)

    def __call__(self, denoise: Denoise, x: torch.Tensor, steps: list[int], schedule: NoiseSchedule,
                 generator: torch.Generator | None = None, on_step: OnStep = None) -> torch.Tensor:
        x0_prev, h_prev = None, None
        for t, s in zip(steps, steps[1:] + [-1]):
            x0, _ = denoise(x, t)
            if s < 0:  # jump to clean data: sigma_s = 0, x_s is the clean estimate
                x = x0
            else:
                (a_t, sig_t), (a_s, sig_s) = schedule.alpha_sigma(t, 0), schedule.alpha_sigma(s, 0)
                h = torch.log(a_s / sig_s) - torch.log(a_t / sig_t)
                d = x0
                if x0_prev is not None:
                    r = h_prev / h
                    d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
                x = (sig_s / sig_t) * x - a_s * torch.expm1(-h) * d
                x0_prev, h_prev = x0, h
            if on_step is not None:
                x = on_step(x, s)
        return x


SAMPLERS = {"ddpm": DDPM, "ddim": DDIM, "dpm++": DPMSolverPP}


def make_sampler(name: str, eta: float = 0.0):
    if name == "ddim":
        return DDIM(eta)
    return SAMPLERS[name]()

"""Adversarial losses and regularisers as small pure functions, chosen by name.

``d_loss(name, real, fake)`` and ``g_loss(name, fake)`` take the discriminator's raw outputs (logits or
critic values) on real and generated data. References: minimax / non-saturating (Goodfellow et al. 2014),
least squares (Mao et al. 2017), Wasserstein (Arjovsky et al. 2017; with gradient penalty Gulrajani et al.
2017), hinge (Lim & Ye 2017; Miyato et al. 2018), dual discriminators (D2GAN, Nguyen et al. 2017), R1
(Mescheder et al. 2018).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


# ----------------------------------------------------------------------------- adversarial losses


def minimax_d(real, fake, smooth: float = 0.0):
    """-log D(x) - log(1 - D(G(z))) with D = sigmoid(logit); ``smooth``: one-sided label smoothing
    (real target 1 - smooth)."""
    return ((1 - smooth) * F.softplus(-real) + smooth * F.softplus(real)).mean() + F.softplus(fake).mean()


def minimax_g(fake):
    """Minimise log(1 - D(G(z))): the original game, which saturates while D wins."""
    return -F.softplus(fake).mean()


def nonsaturating_g(fake):
    """Maximise log D(G(z)) instead: same fixed point, strong gradients early on."""
    return F.softplus(-fake).mean()


def lsgan_d(real, fake, smooth: float = 0.0):
    return 0.5 * ((real - (1 - smooth)) ** 2).mean() + 0.5 * (fake**2).mean()


def lsgan_g(fake):
    return 0.5 * ((fake - 1) ** 2).mean()


def wgan_d(real, fake):
    """The critic maximises E[f(x)] - E[f(G(z))], the Wasserstein-1 estimate (if f is 1-Lipschitz)."""
    return fake.mean() - real.mean()


def wgan_g(fake):
    return -fake.mean()


def hinge_d(real, fake):
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def _log_softplus(a):
    return torch.where(a < -15, a, F.softplus(a).clamp_min(1e-12).log())


def d2gan_d(real, fake, alpha: float = 0.2, beta: float = 0.1):
    """D2GAN: column 0 is D1 (rewards real data, a KL term), column 1 is D2 (rewards generated data, a
    reverse-KL term); both outputs made positive by softplus."""
    d1 = -alpha * _log_softplus(real[:, 0]).mean() + F.softplus(fake[:, 0]).mean()
    d2 = F.softplus(real[:, 1]).mean() - beta * _log_softplus(fake[:, 1]).mean()
    return d1 + d2


def d2gan_g(fake, beta: float = 0.1):
    return -F.softplus(fake[:, 0]).mean() + beta * _log_softplus(fake[:, 1]).mean()


LOSSES: dict[str, tuple[Callable, Callable]] = {
    "minimax": (minimax_d, minimax_g),
    "nonsaturating": (minimax_d, nonsaturating_g),
    "lsgan": (lsgan_d, lsgan_g),
    "wgan": (wgan_d, wgan_g),
    "hinge": (hinge_d, wgan_g),
    "d2gan": (d2gan_d, d2gan_g),
}
SMOOTHABLE = ("minimax", "nonsaturating", "lsgan")  # losses with a real-data target to smooth
HEADS = {"d2gan": 2}  # discriminator outputs per sample; 1 for the others
# the output level that separates "real" from "fake" (for D's accuracy); None: no such level
DECISION = {"minimax": 0.0, "nonsaturating": 0.0, "hinge": 0.0, "lsgan": 0.5, "wgan": None, "d2gan": None}


def d_loss(name: str, real: torch.Tensor, fake: torch.Tensor, **kw) -> torch.Tensor:
    return LOSSES[name][0](real, fake, **kw)


def g_loss(name: str, fake: torch.Tensor, **kw) -> torch.Tensor:
    return LOSSES[name][1](fake, **kw)


def wasserstein_estimate(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return real.mean() - fake.mean()


# ----------------------------------------------------------------------------- regularisers


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor):
    """WGAN-GP: E[(||grad_x critic(x_hat)|| - 1)^2] at random points x_hat between real and fake samples."""
    eps = torch.rand(len(real), *[1] * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(out_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1: 0.5 * E||grad_x D(x)||^2 on real data (``real`` must require grad and produce ``out_real``)."""
    (g,) = torch.autograd.grad(out_real.sum(), real, create_graph=True)
    return 0.5 * g.pow(2).flatten(1).sum(1).mean()


@torch.no_grad()
def clip_weights_(params, c: float) -> None:
    """WGAN: clamp every parameter to [-c, c] in place (a crude Lipschitz constraint)."""
    for p in params:
        p.clamp_(-c, c)

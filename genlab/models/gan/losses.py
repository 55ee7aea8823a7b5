"""Adversarial losses as small pure functions of discriminator outputs, chosen by name.

``d_loss(real, fake)`` and ``g_loss(fake)`` take the critic's raw outputs (logits) on real and generated
data. References: minimax / non-saturating (Goodfellow et al. 2014), least squares (Mao et al. 2017),
Wasserstein (Arjovsky et al. 2017), hinge (Lim & Ye 2017; Miyato et al. 2018).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _minimax_d(real, fake):
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _minimax_g(fake):  # minimise log(1 - D(G(z))): saturates early in training
    return -F.softplus(fake).mean()


def _ns_g(fake):  # maximise log D(G(z))
    return F.softplus(-fake).mean()


def _ls_d(real, fake):
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def _ls_g(fake):
    return 0.5 * ((fake - 1) ** 2).mean()


def _wgan_d(real, fake):
    return fake.mean() - real.mean()


def _wgan_g(fake):
    return -fake.mean()


def _hinge_d(real, fake):
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


LOSSES: dict[str, tuple] = {
    "minimax": (_minimax_d, _minimax_g),
    "nonsaturating": (_minimax_d, _ns_g),
    "lsgan": (_ls_d, _ls_g),
    "wgan": (_wgan_d, _wgan_g),
    "hinge": (_hinge_d, _wgan_g),
}


def d_loss(name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return LOSSES[name][0](real, fake)


def g_loss(name: str, fake: torch.Tensor) -> torch.Tensor:
    return LOSSES[name][1](fake)

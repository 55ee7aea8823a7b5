"""Mode-collapse metrics as pure functions.

2-D mixtures (``ring8``, ``grid25``; Srivastava et al. 2017, Lin et al. 2018): a sample is *high quality*
when it lies within ``n_std`` (3) standard deviations of its nearest mode centre; a mode is *covered*
when it receives at least ``min_count`` high-quality samples (default: 20% of the samples a perfect
model would put there, the PacGAN criterion: 20 of 100 expected at 2,500 samples on 25 modes).

Stacked MNIST (Metz et al. 2017): each colour channel is classified as a digit by an MNIST classifier;
the three digits name one of 1,000 modes, and coverage / KL to uniform come from
:func:`genlab.eval.metrics.class_mode_coverage`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .metrics import class_mode_coverage


def _rows(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().to("cpu", torch.float64)
    if x.dim() != 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) array, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def nearest_mode(samples, centers) -> tuple[torch.Tensor, torch.Tensor]:
    """(index of the nearest centre, distance to it) for every sample."""
    x, c = _rows(samples, "samples"), _rows(centers, "centers")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} dimensions but centers have {c.shape[1]}")
    d = torch.cdist(x, c)
    dist, idx = d.min(1)
    return idx, dist


def mode_metrics(samples, centers, std: float, n_std: float = 3.0, min_count: int | None = None) -> dict:
    """Modes covered, share of high-quality samples and KL(mode histogram || uniform) for a Gaussian mixture.

    ``counts`` are the high-quality samples per mode; ``kl_uniform`` (nats) is computed on them (``inf``
    when there is no high-quality sample at all).
    """
    if std <= 0 or n_std <= 0:
        raise ValueError(f"std and n_std must be > 0, got {std}, {n_std}")
    idx, dist = nearest_mode(samples, centers)
    k, n = len(_rows(centers, "centers")), len(idx)
    hq = dist < n_std * std
    counts = torch.bincount(idx[hq], minlength=k)
    if min_count is None:
        min_count = max(1, math.ceil(0.2 * n / k))
    kl = class_mode_coverage(idx[hq], k)["kl_uniform"] if hq.any() else math.inf
    return {"modes": int((counts >= min_count).sum()), "num_modes": k, "high_quality": float(hq.double().mean()),
            "kl_uniform": kl, "counts": counts.tolist(), "min_count": min_count, "n": n}


def stacked_mnist_modes(images: torch.Tensor, classify, batch_size: int = 1000) -> torch.Tensor:
    """Mode ids 100 * d_R + 10 * d_G + d_B of RGB images (N, 3, H, W) in [0, 1]; ``classify`` maps grey
    images (M, 1, H, W) to digit logits (M, 10)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"stacked MNIST images must have shape (N, 3, H, W), got {tuple(images.shape)}")
    n, _, h, w = images.shape
    grey = images.reshape(n * 3, 1, h, w)
    digits = torch.cat([classify(grey[s:s + batch_size]).argmax(1).cpu() for s in range(0, len(grey), batch_size)])
    return (digits.view(n, 3) * torch.tensor([100, 10, 1])).sum(1)


def stacked_mnist_metrics(images: torch.Tensor, classify, batch_size: int = 1000) -> dict:
    """Modes covered (of 1,000) and KL(mode histogram || uniform) in nats."""
    cov = class_mode_coverage(stacked_mnist_modes(images, classify, batch_size), 1000)
    return {"modes": round(cov["covered"] * 1000), "num_modes": 1000, "kl_uniform": cov["kl_uniform"], "n": len(images)}

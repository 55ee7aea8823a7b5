"""Decoder likelihoods p(x | z) of the autoencoder family, as small pure functions.

A decoder emits ``num_params(kind)`` values per data dimension, stacked along dim 1: an image decoder
returns (N, P*C, H, W), a vector decoder (N, P*D). ``log_prob`` returns per-example log-likelihoods in
nats (summed over every dimension), ``mean`` the decoder mean in data space.

- ``bernoulli``: logits; a proper likelihood for binary data (e.g. binarised MNIST), data in [0, 1].
- ``gaussian``: mean, fixed standard deviation ``std``; a density (continuous data, e.g. tables).
- ``gaussian-learned``: mean and a per-dimension standard deviation ``std + softplus(raw)`` (``std`` is
  its floor: without one, pixels that are always 0 let the density grow without bound).
- ``logistic``: discretised logistic over 256 levels in [0, 1] (PixelCNN++ / IAF): a proper likelihood
  for 8-bit images, directly comparable in bits/dim with other discrete models.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...errors import DataError

DECODERS = ("bernoulli", "gaussian", "gaussian-learned", "logistic")
_PARAMS = {"bernoulli": 1, "gaussian": 1, "gaussian-learned": 2, "logistic": 2}
_UNIT_RANGE = ("bernoulli", "logistic")
_HALF_BIN = 1 / 510  # half the width of one of 256 levels on [0, 1]


def num_params(kind: str) -> int:
    return _PARAMS[kind]


def check_data(kind: str, x: torch.Tensor) -> None:
    """DataError when ``x`` cannot be modelled by decoder ``kind`` (values outside [0, 1])."""
    if not torch.isfinite(x).all():
        raise DataError("the data contain NaN or infinite values")
    if kind in _UNIT_RANGE and (x.min() < 0 or x.max() > 1):
        raise DataError(
            f"the {kind} decoder needs data in [0, 1], got values in [{float(x.min()):.3g}, {float(x.max()):.3g}]; "
            "use model.decoder=gaussian (or gaussian-learned) for other data"
        )


def _sum(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).sum(1)


def log_prob(kind: str, x: torch.Tensor, out: torch.Tensor, std: float) -> torch.Tensor:
    """log p(x | decoder output ``out``) per example, in nats; ``x`` is broadcast over repeated rows of ``out``."""
    out = out.float()
    if len(out) != len(x):  # importance samples stacked along the batch: (S*N, ...) against (N, ...)
        x = x.repeat(len(out) // len(x), *([1] * (x.dim() - 1)))
    if kind == "bernoulli":
        return -_sum(F.binary_cross_entropy_with_logits(out, x, reduction="none"))
    if kind == "gaussian":
        return _sum(-0.5 * ((x - out) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi))
    mu, raw = out.chunk(2, dim=1)
    if kind == "gaussian-learned":
        s = std + F.softplus(raw)
        return _sum(-0.5 * ((x - mu) / s) ** 2 - s.log() - 0.5 * math.log(2 * math.pi))
    return _sum(_discretised_logistic(x, mu, raw.clamp(min=-7.0)))


def _discretised_logistic(x: torch.Tensor, mu: torch.Tensor, log_s: torch.Tensor) -> torch.Tensor:
    """log P(bin of x) under a logistic(mu, s) discretised to 256 levels on [0, 1]; the edge bins take the tails."""
    inv_s = torch.exp(-log_s)
    upper, lower = inv_s * (x - mu + _HALF_BIN), inv_s * (x - mu - _HALF_BIN)
    log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper): the bin of 0 takes everything below
    log_sf_lower = -F.softplus(lower)  # log (1 - sigmoid(lower)): the bin of 1 takes everything above
    mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    centre = inv_s * (x - mu)  # when the bin mass underflows: density at the centre times the bin width
    log_mid_pdf = centre - log_s - 2 * F.softplus(centre) + math.log(2 * _HALF_BIN)
    mid = torch.where(mass > 1e-5, mass.clamp(min=1e-12).log(), log_mid_pdf)
    return torch.where(x < _HALF_BIN, log_cdf_upper, torch.where(x > 1 - _HALF_BIN, log_sf_lower, mid))


def mean(kind: str, out: torch.Tensor) -> torch.Tensor:
    """The decoder's mean in data space (probabilities for Bernoulli)."""
    if kind == "bernoulli":
        return torch.sigmoid(out)
    return out if kind == "gaussian" else out.chunk(2, dim=1)[0]

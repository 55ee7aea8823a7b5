"""RealNVP (Dinh et al. 2017, "Density estimation using Real NVP") for images, with act-norm (Glow).

Pixels ``v`` in 0..255 are dequantised, ``y = (v + u) / 256`` with ``u ~ U[0, 1)``, and mapped to the real
line by ``x = logit(a + (1 - 2a) y)``. Each scale but the last applies 3 affine couplings with
checkerboard masks, a squeeze (2x2 pixels -> 4 channels), 3 couplings with channel masks, and then factors
out half of the channels as latents; the last scale applies 4 checkerboard couplings. Every coupling is
preceded by act-norm. The latents are standard normal.

``log_likelihood`` is exact for the dequantised density and reported on the 8-bit scale
(``log p(y) - D log 256``, nats per image), so ``-ll / (D log 2)`` is the usual bits/dim.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ...config import ModelConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from ...nn.blocks import norm_layer
from ...registry import register_model
from ..base import GenerativeModel, SampleOption
from .layers import (ActNorm, AffineCoupling, FlowSequence, Squeeze, channel_mask, checkerboard_mask,
                     sampling_temperature, standard_normal_log_prob)


@dataclass
class RealNVPConfig(ModelConfig):
    num_scales: int = 2  # the image is squeezed num_scales - 1 times
    width: int = 64  # channels of the coupling networks
    num_blocks: int = 2  # residual blocks per coupling network
    logit_alpha: float = 0.05  # x = logit(alpha + (1 - 2 alpha) y) keeps the logit finite
    temperature: float = 1.0  # default sampling temperature (std of the latents)

    def validate(self) -> None:
        if self.num_scales < 1 or self.width < 1 or self.num_blocks < 1:
            raise ConfigError("model.num_scales, model.width and model.num_blocks must be >= 1")
        if not 0 < self.logit_alpha < 0.5:
            raise ConfigError(f"model.logit_alpha must be in (0, 0.5), got {self.logit_alpha}")
        if self.temperature <= 0:
            raise ConfigError(f"model.temperature must be > 0, got {self.temperature}")


class CouplingResNet(nn.Module):
    """The (s, t) network of an image coupling: conv in, pre-activation residual blocks, zero-init conv out."""

    def __init__(self, cin: int, cout: int, width: int, blocks: int):
        super().__init__()
        self.inp = nn.Conv2d(cin, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(norm_layer("group", width), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                          norm_layer("group", width), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))
            for _ in range(blocks))
        self.out = nn.Sequential(norm_layer("group", width), nn.ReLU(), nn.Conv2d(width, cout, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def coupling_steps(masks: list[torch.Tensor], width: int, blocks: int) -> list[nn.Module]:
    """Act-norm + affine coupling for each mask (1, C, H, W)."""
    layers: list[nn.Module] = []
    for m in masks:
        c = m.shape[1]
        layers += [ActNorm(c, 4), AffineCoupling(m, CouplingResNet(c + 1, 2 * c, width, blocks), append_mask=True)]
    return layers


@register_model
class RealNVP(GenerativeModel):
    name = "realnvp"
    family = "flows"
    description = "RealNVP flow: checkerboard/channel affine couplings, multi-scale, act-norm; exact bits/dim"
    Config = RealNVPConfig
    modalities = ("image",)
    likelihood_estimator = "exact (dequantised)"
    sample_options = (SampleOption("temperature", float, help="standard deviation of the latents (default "
                                   "model.temperature)", min=0, min_exclusive=True),)

    def __init__(self, config: RealNVPConfig, info: DataInfo):
        super().__init__(config, info)
        c, h, w = info.shape
        k = 2 ** (config.num_scales - 1)
        if h % k or w % k:
            raise ConfigError(f"realnvp with model.num_scales={config.num_scales} squeezes the image "
                              f"{config.num_scales - 1} times, so height and width must be divisible by {k}; "
                              f"got {h}x{w}. Lower model.num_scales or set data.image_size")
        self.scales = nn.ModuleList()
        self.latent_shapes = []
        for i in range(config.num_scales):
            last = i == config.num_scales - 1
            n_checker = 4 if last else 3
            layers = coupling_steps([checkerboard_mask(c, h, w, j % 2) for j in range(n_checker)],
                                    config.width, config.num_blocks)
            if not last:
                layers.append(Squeeze())
                c, h, w = 4 * c, h // 2, w // 2
                layers += coupling_steps([channel_mask(c, h, w, bool(j % 2)) for j in range(3)],
                                         config.width, config.num_blocks)
                self.latent_shapes.append((c // 2, h, w))
                c -= c // 2
            else:
                self.latent_shapes.append((c, h, w))
            self.scales.append(FlowSequence(layers))
        self.latent_dim = math.prod(info.shape)

    # ------------------------------------------------------------------ the flow
    def _check(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != tuple(self.info.shape):
            raise ConfigError(f"realnvp was built for images of shape {tuple(self.info.shape)}, got {tuple(x.shape[1:])}; "
                              f"a flow only takes inputs of the size it was trained on")

    def preprocess(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] (8-bit values / 255) -> dequantised logits and log|det| of the map from y."""
        a = self.config.logit_alpha
        y = (x * 255 + torch.rand_like(x)) / 256
        p = a + (1 - 2 * a) * y
        logit = torch.log(p) - torch.log1p(-p)
        logdet = (math.log(1 - 2 * a) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        return logit, logdet

    def postprocess(self, logit: torch.Tensor) -> torch.Tensor:
        a = self.config.logit_alpha
        return ((torch.sigmoid(logit) - a) / (1 - 2 * a)).clamp(0, 1)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Logits -> (latents, one per scale; log|det|)."""
        zs, logdet = [], x.new_zeros(len(x))
        for i, seq in enumerate(self.scales):
            x, ld = seq(x)
            logdet = logdet + ld
            if i < len(self.scales) - 1:
                z, x = x.split([self.latent_shapes[i][0], x.shape[1] - self.latent_shapes[i][0]], dim=1)
                zs.append(z)
        return zs + [x], logdet

    def inverse(self, zs: list[torch.Tensor]) -> torch.Tensor:
        x = zs[-1]
        for i in reversed(range(len(self.scales))):
            if i < len(self.scales) - 1:
                x = torch.cat([zs[i], x], 1)
            x = self.scales[i].inverse(x)
        return x

    def log_prob_logits(self, x: torch.Tensor) -> torch.Tensor:
        zs, logdet = self(x)
        return sum(standard_normal_log_prob(z) for z in zs) + logdet

    # ------------------------------------------------------------------ the model contract
    def _log_likelihood(self, batch: Batch) -> torch.Tensor:
        x = batch["x"]
        self._check(x)
        logit, ld_pre = self.preprocess(x)
        d = math.prod(self.info.shape)
        return self.log_prob_logits(logit) + ld_pre - d * math.log(256)

    def training_step(self, batch: Batch, step: int) -> dict:
        ll = self._log_likelihood(batch)
        loss = -ll.mean()
        self.optimize(loss / math.prod(self.info.shape))
        return {"loss": loss.detach(), "bits_per_dim": loss.detach() / (math.prod(self.info.shape) * math.log(2))}

    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        return self._log_likelihood(batch)

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict[str, float]:
        nll = float(-self.log_likelihood(batch).mean())
        return {"nll": nll, "bits_per_dim": nll / (math.prod(self.info.shape) * math.log(2))}

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, temperature: float | None = None, **options):
        """``n`` images in [0, 1]; ``temperature`` scales the latents' standard deviation (default 1)."""
        self.check_sample_args(n, labels, {**options, "temperature": temperature})
        tau = sampling_temperature(self.config.temperature, temperature)
        zs = [tau * torch.randn((n, *s), generator=generator, device=self.device) for s in self.latent_shapes]
        return self.postprocess(self.inverse(zs))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> all latents flattened and concatenated (with fresh dequantisation noise)."""
        self._check(x)
        return torch.cat([z.flatten(1) for z in self(self.preprocess(x)[0])[0]], 1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        sizes = [math.prod(s) for s in self.latent_shapes]
        zs = [part.reshape(len(z), *s) for part, s in zip(z.split(sizes, 1), self.latent_shapes)]
        return self.postprocess(self.inverse(zs))

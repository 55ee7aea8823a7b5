"""``srgan``: super-resolution in the manner of Ledig et al. (2017), "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", scaled down.

The generator is an SR-ResNet (residual blocks at low resolution, pixel-shuffle x2 stages, ``model.scale``
a power of 2) that predicts the residual over bicubic upsampling. Low-resolution inputs are made from the
training images on the fly (bicubic, antialiased downscale). Training: mean squared error only for
``mse_steps`` steps (the SR-ResNet baseline; ``adv_weight=0`` keeps it that way), then MSE + a feature loss +
the adversarial loss. Features come from genlab's own classifiers (``genlab/eval/features.py``; no VGG
weights can be downloaded): ``model.features=auto`` uses the shipped MNIST / Fashion-MNIST extractor when
the data is one of those, ``genlab`` also trains (and caches) one on other labelled data, a path loads a
feature net saved by ``save_feature_net`` (``.safetensors`` + ``.json``), ``none`` switches the term off.
The feature loss compares the extractor's second convolution block (64 channels at half resolution).

``upscale(x)`` takes low-resolution images of any size, tiled: tiles carry enough context for the
generator's receptive field and overlapping cores are blended, so the result equals the whole-image one
(no seams).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...config import ModelConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...data.paired import downscale
from ...errors import ConfigError
from ...registry import register_model
from ..gan import losses
from .common import ConvCritic, Img2ImgModel, SRResNet, check_adv_loss, patch_stages


@dataclass
class SRGANConfig(ModelConfig):
    scale: int = 2  # upscaling factor: 2, 4, 8 (a power of 2)
    width: int = 32
    blocks: int = 4  # residual blocks
    width_d: int = 32
    loss: str = "nonsaturating"  # nonsaturating | lsgan | hinge | minimax
    mse_steps: int = 300  # MSE-only steps (SR-ResNet) before the feature and adversarial losses
    adv_weight: float = 1e-3
    feature_weight: float = 0.01
    features: str = "auto"  # auto | genlab | none | path to a genlab feature net (.safetensors)

    def validate(self) -> None:
        if not isinstance(self.scale, int) or self.scale < 2 or self.scale & (self.scale - 1) or self.scale > 16:
            raise ConfigError(f"model.scale must be a power of 2 between 2 and 16 (2, 4, 8, 16), got {self.scale}")
        check_adv_loss(self.loss)
        if self.width < 1 or self.blocks < 0 or self.width_d < 1:
            raise ConfigError(f"model.width and model.width_d must be >= 1 and model.blocks >= 0, got "
                              f"{self.width}, {self.width_d}, {self.blocks}")
        for k in ("mse_steps", "adv_weight", "feature_weight"):
            if getattr(self, k) < 0:
                raise ConfigError(f"model.{k} must be >= 0, got {getattr(self, k)}")


@register_model
class SRGAN(Img2ImgModel):
    name = "srgan"
    description = "super-resolution: SR-ResNet generator, MSE then adversarial + feature loss (Ledig et al. 2017)"
    Config = SRGANConfig
    needs_pairing = ("self",)

    def __init__(self, config: SRGANConfig, info: DataInfo):
        super().__init__(config, info)
        c, h, w = info.shape
        s = config.scale
        if h % s or w % s or min(h, w) // s < 2:
            raise ConfigError(f"model.scale={s} needs images whose sides are multiples of {s} (and at least {2 * s} "
                              f"pixels); {info.name or 'the data'} has {h}x{w}: set data.image_size to such a size")
        self.generator = SRResNet(c, s, config.width, config.blocks)
        self.discriminator = ConvCritic(c, (h, w), config.width_d, stages=patch_stages(h, w))
        self.d_head = torch.nn.Linear(self.discriminator.out_dim, 1)
        self._feat = []  # the feature net: not a submodule (not saved with the weights)

    @property
    def scale(self) -> int:
        return self.config.scale

    @property
    def input_shape(self) -> tuple[int, ...]:
        c, h, w = self.info.shape
        return (c, h // self.scale, w // self.scale)

    def optimizer_groups(self):
        g = {"g": list(self.generator.parameters())}
        if self.config.adv_weight == 0:  # SR-ResNet: the discriminator is never trained
            return g
        return {"d": list(self.discriminator.parameters()) + list(self.d_head.parameters()), **g}

    def on_train_start(self, data: TensorDataset) -> None:
        c = self.config
        self._feat = []
        if c.features == "none" or c.feature_weight == 0:
            return
        from ...eval import features as fe

        if c.features in ("auto", "genlab"):
            name = fe.ALIASES.get(data.info.name, data.info.name)
            if c.features == "auto" and not (name in fe.SHIPPED and tuple(self.info.shape) == (1, 28, 28)):
                return
            try:
                net = fe.get_feature_extractor(data)
            except ValueError as e:
                raise ConfigError(f"model.features=genlab: {e}; use model.features=none") from None
        else:
            try:
                net = fe.load_feature_net(c.features)
            except (FileNotFoundError, OSError, KeyError, ValueError) as e:
                raise ConfigError(f"model.features: could not load a feature net from {c.features}: {e}") from None
            if net.config["channels"] != self.info.shape[0]:
                raise ConfigError(f"model.features: {c.features} takes {net.config['channels']}-channel images, the data "
                                  f"has {self.info.shape[0]}")
        net = net.to(self.device).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self._feat = [net]

    def _features(self, x01: torch.Tensor) -> torch.Tensor:
        net = self._feat[0]
        return net.body[:3](x01 * 2 - 1)

    def make_pair(self, batch: Batch, generator=None):
        return downscale(batch["x"], self.scale), batch["x"]

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Batch, step: int) -> dict:
        c = self.config
        hr = batch["x"]
        lr = downscale(hr, self.scale)
        gan = step >= c.mse_steps and (c.adv_weight > 0 or (c.feature_weight > 0 and self._feat))
        logs = {}
        if gan and c.adv_weight > 0:
            with torch.no_grad():
                fake = self.generator(lr).clamp(0, 1)
            loss_d = losses.d_loss(c.loss, self._critic(hr), self._critic(fake))
            self.optimize(loss_d, "d")
            logs["loss_d"] = loss_d.detach()
        sr = self.generator(lr)
        mse = F.mse_loss(sr, hr)
        loss = mse
        if gan:
            if self._feat and c.feature_weight > 0:
                feat = F.mse_loss(self._features(sr.clamp(0, 1)), self._features(hr))
                loss = loss + c.feature_weight * feat
                logs["loss_feat"] = feat.detach()
            if c.adv_weight > 0:
                self.set_requires_grad([self.discriminator, self.d_head], False)
                adv = losses.g_loss(c.loss, self._critic(sr.clamp(0, 1)))
                self.set_requires_grad([self.discriminator, self.d_head], True)
                loss = loss + c.adv_weight * adv
                logs["loss_adv"] = adv.detach()
        self.optimize(loss, "g")
        logs.update(loss_g=loss.detach(), mse=mse.detach())
        return logs

    def _critic(self, x01: torch.Tensor) -> torch.Tensor:
        return self.d_head(self.discriminator(x01 * 2 - 1))

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def translate(self, a: torch.Tensor, **kw) -> torch.Tensor:
        return self.upscale(a, **kw)

    @torch.no_grad()
    def upscale(self, lr: torch.Tensor, tile: int = 256, overlap: int = 16) -> torch.Tensor:
        """Upscale float images (N, C, h, w) in [0, 1] of any size by ``model.scale``, in tiles of
        ``tile`` x ``tile`` low-resolution pixels overlapping by ``overlap``, blended linearly."""
        if tile < 8 or not 0 <= overlap < tile // 2:
            raise ConfigError(f"tile must be >= 8 and overlap in [0, tile/2), got tile={tile}, overlap={overlap}")
        lr = self.check_input(lr)
        n, c, h, w = lr.shape
        s = self.scale
        if h * w * s * s * n * c > 2**31:
            raise ConfigError(f"upscaling {n} image(s) of {w}x{h} by {s} would make {n * c * h * w * s * s:,} values; "
                              "upscale smaller images or fewer at once")
        if h <= tile and w <= tile:
            return self.generator(lr).clamp(0, 1)
        margin = self.generator.receptive_radius + 2
        out = torch.zeros(n, c, h * s, w * s, device=lr.device)
        weight = torch.zeros(1, 1, h * s, w * s, device=lr.device)
        for y0 in _starts(h, tile, overlap):
            for x0 in _starts(w, tile, overlap):
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                cy0, cx0, cy1, cx1 = max(0, y0 - margin), max(0, x0 - margin), min(h, y1 + margin), min(w, x1 + margin)
                piece = self.generator(lr[..., cy0:cy1, cx0:cx1])
                core = piece[..., (y0 - cy0) * s:(y1 - cy0) * s, (x0 - cx0) * s:(x1 - cx0) * s]
                wy = _ramp((y1 - y0) * s, overlap * s if y0 > 0 else 0, overlap * s if y1 < h else 0, lr.device)
                wx = _ramp((x1 - x0) * s, overlap * s if x0 > 0 else 0, overlap * s if x1 < w else 0, lr.device)
                wt = wy[:, None] * wx[None, :]
                out[..., y0 * s:y1 * s, x0 * s:x1 * s] += core * wt
                weight[..., y0 * s:y1 * s, x0 * s:x1 * s] += wt
        return (out / weight).clamp(0, 1)


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one side: as few tiles as cover ``size`` with at least ``overlap`` shared pixels,
    spread evenly."""
    if size <= tile:
        return [0]
    k = math.ceil((size - overlap) / (tile - overlap))
    return [round(i * (size - tile) / (k - 1)) for i in range(k)]


def _ramp(length: int, lead: int, trail: int, device) -> torch.Tensor:
    """Blend weights along one side of a tile: rising over ``lead`` pixels, falling over ``trail``."""
    i = torch.arange(length, device=device, dtype=torch.float32)
    w = torch.ones(length, device=device)
    if lead:
        w = torch.minimum(w, (i + 0.5) / lead)
    if trail:
        w = torch.minimum(w, (length - i - 0.5) / trail)
    return w



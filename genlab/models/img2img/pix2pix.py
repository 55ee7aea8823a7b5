"""``pix2pix``: paired image-to-image translation (Isola et al. 2017, "Image-to-Image Translation with
Conditional Adversarial Networks"), scaled down.

A U-Net generator maps the input image to the target; a PatchGAN discriminator judges (input, output)
pairs patch by patch. Loss: adversarial + ``l1_weight`` * L1 to the target. Dropout in the decoder is the
generator's only noise and, as in the paper, is kept off at test time here (outputs are deterministic).

Data: a folder of pairs (``A/`` + ``B/`` with matching names, or side-by-side ``A|B`` images), or any image
dataset, whose inputs are then made on the fly: ``model.source=edges`` (Sobel edge maps, vectorised in
torch) or ``canny`` (scikit-image's Canny detector, if installed).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...config import ModelConfig
from ...data.base import Batch, DataInfo
from ...data.paired import edges
from ...errors import ConfigError
from ...registry import register_model
from ..gan import losses
from .common import Img2ImgModel, PatchDiscriminator, UNet, check_adv_loss, patch_stages


@dataclass
class Pix2PixConfig(ModelConfig):
    source: str = "edges"  # inputs made from plain images: edges (Sobel) | canny (scikit-image)
    width: int = 32
    depth: int = 0  # U-Net stride-2 stages; 0: from the image size (2 for 28x28, up to 5)
    width_d: int = 32
    dropout: float = 0.5
    loss: str = "nonsaturating"
    l1_weight: float = 100.0

    def validate(self) -> None:
        if self.source not in ("edges", "canny"):
            raise ConfigError(f"model.source must be edges or canny, got {self.source!r}")
        check_adv_loss(self.loss)
        if self.width < 1 or self.width_d < 1 or self.depth < 0 or self.depth > 6:
            raise ConfigError(f"model.width, model.width_d must be >= 1 and model.depth in 0..6, got "
                              f"{self.width}, {self.width_d}, {self.depth}")
        if not 0 <= self.dropout < 1 or self.l1_weight < 0:
            raise ConfigError(f"model.dropout must be in [0, 1) and model.l1_weight >= 0, got {self.dropout}, {self.l1_weight}")
        if self.source == "canny":
            try:
                import skimage  # noqa: F401
            except ImportError:
                raise ConfigError("model.source=canny needs scikit-image (pip install scikit-image); "
                                  "or use model.source=edges") from None


def unet_depth(h: int, w: int) -> int:
    d = 0
    while d < 5 and min(h, w) / 2 ** (d + 1) >= 3.5:
        d += 1
    return max(d, 1)


@register_model
class Pix2Pix(Img2ImgModel):
    name = "pix2pix"
    description = "paired translation: U-Net generator, PatchGAN discriminator, L1 + adversarial (Isola et al. 2017)"
    Config = Pix2PixConfig

    def __init__(self, config: Pix2PixConfig, info: DataInfo):
        super().__init__(config, info)
        c, h, w = info.shape
        cin = self.input_shape[0]
        depth = config.depth or unet_depth(h, w)
        self.generator = UNet(cin, c, config.width, depth, config.dropout)
        self.discriminator = PatchDiscriminator(cin + c, config.width_d, patch_stages(h, w))

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.pairing == "self":
            return (1, *self.info.shape[1:])
        return super().input_shape

    def optimizer_groups(self):
        return {"d": list(self.discriminator.parameters()), "g": list(self.generator.parameters())}

    def make_pair(self, batch: Batch, generator=None):
        if self.pairing == "self":
            return edges(batch["x"], self.config.source.replace("edges", "sobel")), batch["x"]
        return batch["a"], batch["x"]

    def training_step(self, batch: Batch, step: int) -> dict:
        c = self.config
        a, x = self.make_pair(batch)
        a, x = a * 2 - 1, x * 2 - 1
        fake = self.generator(a)
        loss_d = losses.d_loss(c.loss, self.discriminator(torch.cat([a, x], 1)),
                               self.discriminator(torch.cat([a, fake.detach()], 1)))
        self.optimize(loss_d, "d")
        self.set_requires_grad([self.discriminator], False)
        adv = losses.g_loss(c.loss, self.discriminator(torch.cat([a, fake], 1)))
        self.set_requires_grad([self.discriminator], True)
        l1 = F.l1_loss(fake, x)
        self.optimize(adv + c.l1_weight * l1, "g")
        return {"loss_d": loss_d.detach(), "loss_adv": adv.detach(), "l1": l1.detach() / 2}

    @torch.no_grad()
    def translate(self, a: torch.Tensor, **kw) -> torch.Tensor:
        a = self.check_input(a)
        out = [(self.generator(a[s:s + 512] * 2 - 1) + 1) / 2 for s in range(0, len(a), 512)]
        return torch.cat(out).clamp(0, 1)

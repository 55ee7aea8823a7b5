"""``cyclegan``: unpaired translation between two image domains (Zhu et al. 2017, "Unpaired
Image-to-Image Translation using Cycle-Consistent Adversarial Networks"), scaled down.

Two ResNet generators (A -> B and B -> A) and two PatchGAN discriminators (one per domain). The generators
minimise the adversarial loss (least squares by default, as in the paper) + ``cycle_weight`` * the
cycle-reconstruction L1 (A -> B -> A and B -> A -> B) + ``identity_weight`` * ``cycle_weight`` * the
identity L1 (a B image given to A -> B should come back unchanged). Each discriminator sees generated
images through an image pool of the last ``pool_size`` images.

Data: ``unpaired`` (a folder with ``trainA/`` ``trainB/``, or ``NAME:A:B`` class sets such as
``fashion-mnist:7:9``). ``translate(a)`` maps A -> B; ``translate(b, direction="BA")`` maps back.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...config import ModelConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from ...registry import register_model
from ..gan import losses
from .common import ImagePool, Img2ImgModel, PatchDiscriminator, ResnetGenerator, check_adv_loss, patch_stages


@dataclass
class CycleGANConfig(ModelConfig):
    width: int = 32
    blocks: int = 4  # residual blocks per generator
    width_d: int = 32
    loss: str = "lsgan"  # lsgan | nonsaturating | hinge | minimax
    cycle_weight: float = 10.0
    identity_weight: float = 0.5  # times cycle_weight
    pool_size: int = 50

    def validate(self) -> None:
        check_adv_loss(self.loss)
        if self.width < 1 or self.width_d < 1 or self.blocks < 0:
            raise ConfigError(f"model.width, model.width_d must be >= 1 and model.blocks >= 0, got "
                              f"{self.width}, {self.width_d}, {self.blocks}")
        for k in ("cycle_weight", "identity_weight", "pool_size"):
            if getattr(self, k) < 0:
                raise ConfigError(f"model.{k} must be >= 0, got {getattr(self, k)}")


@register_model
class CycleGAN(Img2ImgModel):
    name = "cyclegan"
    description = "unpaired translation: two generators, two PatchGANs, cycle + identity losses (Zhu et al. 2017)"
    Config = CycleGANConfig
    modalities = ("unpaired",)

    def __init__(self, config: CycleGANConfig, info: DataInfo):
        super().__init__(config, info)
        c, h, w = info.shape
        ca = self.input_shape[0]
        if ca != c:
            raise ConfigError(f"cyclegan needs both domains with the same channels, got {ca} and {c}")
        self.g_ab = ResnetGenerator(c, c, config.width, config.blocks)
        self.g_ba = ResnetGenerator(c, c, config.width, config.blocks)
        self.d_a = PatchDiscriminator(c, config.width_d, patch_stages(h, w))
        self.d_b = PatchDiscriminator(c, config.width_d, patch_stages(h, w))
        self.pool_a = ImagePool(config.pool_size, info.shape)
        self.pool_b = ImagePool(config.pool_size, info.shape)

    def optimizer_groups(self):
        return {"d": list(self.d_a.parameters()) + list(self.d_b.parameters()),
                "g": list(self.g_ab.parameters()) + list(self.g_ba.parameters())}

    def training_step(self, batch: Batch, step: int) -> dict:
        c = self.config
        a, b = batch["a"] * 2 - 1, batch["x"] * 2 - 1
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        # generators
        self.set_requires_grad([self.d_a, self.d_b], False)
        adv = losses.g_loss(c.loss, self.d_b(fake_b)) + losses.g_loss(c.loss, self.d_a(fake_a))
        cycle = F.l1_loss(self.g_ba(fake_b), a) + F.l1_loss(self.g_ab(fake_a), b)
        loss_g = adv + c.cycle_weight * cycle
        logs = {}
        if c.identity_weight > 0:
            ident = F.l1_loss(self.g_ab(b), b) + F.l1_loss(self.g_ba(a), a)
            loss_g = loss_g + c.identity_weight * c.cycle_weight * ident
            logs["identity"] = ident.detach() / 4
        self.optimize(loss_g, "g")
        self.set_requires_grad([self.d_a, self.d_b], True)
        # discriminators, on pooled fakes
        pb, pa = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
        loss_d = 0.5 * (losses.d_loss(c.loss, self.d_b(b), self.d_b(pb)) + losses.d_loss(c.loss, self.d_a(a), self.d_a(pa)))
        self.optimize(loss_d, "d")
        logs.update(loss_g=loss_g.detach(), loss_adv=adv.detach(), loss_d=loss_d.detach(), cycle=cycle.detach() / 4)
        return logs

    @torch.no_grad()
    def translate(self, a: torch.Tensor, direction: str = "AB", **kw) -> torch.Tensor:
        if direction not in ("AB", "BA"):
            raise ConfigError(f"direction must be AB or BA, got {direction!r}")
        a = self.check_input(a)
        g = self.g_ab if direction == "AB" else self.g_ba
        return torch.cat([(g(a[s:s + 512] * 2 - 1) + 1) / 2 for s in range(0, len(a), 512)]).clamp(0, 1)

    @torch.no_grad()
    def cycle(self, a: torch.Tensor, direction: str = "AB") -> torch.Tensor:
        """A -> B -> A (or B -> A -> B) reconstructions in [0, 1]."""
        back = "BA" if direction == "AB" else "AB"
        return self.translate(self.translate(a, direction), back)

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict[str, float]:
        a, b = batch["a"], batch["x"]
        return {"cycle_l1_a": float((self.cycle(a, "AB") - a).abs().mean()),
                "cycle_l1_b": float((self.cycle(b, "BA") - b).abs().mean())}

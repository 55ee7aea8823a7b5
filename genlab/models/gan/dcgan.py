"""DCGAN (Radford et al. 2016): transposed-convolution generator with batch norm and ReLU, strided-conv
discriminator with leaky ReLU; depth follows the image size. The adversarial loss is chosen by name
(see ``losses.py``); the discriminator takes ``d_steps`` updates per generator update."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...config import ModelConfig, TrainConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from ...nn.blocks import ConvDecoder, ConvEncoder
from ...registry import register_model
from ..base import GenerativeModel
from . import losses


@dataclass
class DCGANConfig(ModelConfig):
    latent_dim: int = 64
    width: int = 32  # channels of the first discriminator / last generator stage
    loss: str = "nonsaturating"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    d_steps: int = 1

    def validate(self) -> None:
        if self.loss not in losses.LOSSES:
            raise ConfigError(f"model.loss must be one of {', '.join(losses.LOSSES)}, got {self.loss!r}")
        if self.latent_dim < 1 or self.width < 1 or self.d_steps < 1:
            raise ConfigError("model.latent_dim, model.width and model.d_steps must be >= 1")


@register_model
class DCGAN(GenerativeModel):
    name = "dcgan"
    family = "gan"
    description = "DCGAN: convolutional generator/discriminator scaled to the image size, loss chosen by name"
    Config = DCGANConfig

    def __init__(self, config: DCGANConfig, info: DataInfo):
        super().__init__(config, info)
        self.generator = nn.Sequential(ConvDecoder(config.latent_dim, info.shape, config.width, norm="batch"), nn.Tanh())
        self.discriminator = ConvEncoder(info.shape, 1, config.width, norm="batch", act="lrelu", first_norm=False)
        self.apply(_dcgan_init)

    def configure_optimizers(self, train: TrainConfig):
        c = self.config
        return {
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_d, betas=tuple(c.betas)),
            "g": torch.optim.Adam(self.generator.parameters(), lr=c.lr_g, betas=tuple(c.betas)),
        }

    def _z(self, n: int, generator=None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)

    def training_step(self, batch: Batch, step: int) -> dict:
        real = batch["x"] * 2 - 1
        n = len(real)
        for _ in range(self.config.d_steps):
            fake = self.generator(self._z(n)).detach()
            d_real, d_fake = self.discriminator(real), self.discriminator(fake)
            loss_d = losses.d_loss(self.config.loss, d_real, d_fake)
            self.optimize(loss_d, "d")
        d_gen = self.discriminator(self.generator(self._z(n)))
        loss_g = losses.g_loss(self.config.loss, d_gen)
        self.optimize(loss_g, "g")
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        self.check_sample_args(n, labels, options)
        return (self.generator(self._z(n, generator)) + 1) / 2


def _dcgan_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)

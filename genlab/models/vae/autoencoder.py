"""The networks and decoder likelihood shared by the AE, DAE, VAE, beta-VAE, CVAE and IWAE.

An encoder (convolutional or MLP, see ``genlab/models/vae/networks.py``) maps x to ``code_params * latent_dim``
values: a code (AE) or a posterior mean and log-variance (VAE). The decoder maps a code (plus the one-hot
label for conditional models) to the parameters of p(x | z) (see ``likelihoods.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from .networks import ARCHS, build_decoder, build_encoder, resolve_arch
from ...nn.blocks import activation
from . import likelihoods as lik
from .latent import LatentConfig, LatentModel


@dataclass
class AutoencoderConfig(LatentConfig):
    arch: str = "auto"  # auto | conv | mlp (auto: conv for images, mlp for vectors)
    width: int = 32  # conv: channels of the first stage, doubling at each stride-2 stage
    hidden: list[int] = field(default_factory=lambda: [512, 256])  # mlp: hidden sizes ([] = linear maps)
    act: str = "relu"  # relu | lrelu | silu | tanh | elu
    decoder: str = "bernoulli"  # bernoulli | gaussian | gaussian-learned | logistic
    gaussian_std: float = 0.1  # gaussian: the fixed std; gaussian-learned: its floor (data units)
    conditional: bool = False  # both networks see the class label

    def validate(self) -> None:
        super().validate()
        if self.arch not in ARCHS:
            raise ConfigError(f"model.arch must be auto, conv or mlp, got {self.arch!r}")
        if self.width < 1 or any(h < 1 for h in self.hidden):
            raise ConfigError(f"model.width and model.hidden sizes must be >= 1, got {self.width} and {self.hidden}")
        try:
            activation(self.act)
        except KeyError:
            raise ConfigError(f"model.act must be relu, lrelu, silu, tanh or elu, got {self.act!r}") from None
        if self.decoder not in lik.DECODERS:
            raise ConfigError(f"model.decoder must be one of {', '.join(lik.DECODERS)}, got {self.decoder!r}")
        if self.gaussian_std <= 0:
            raise ConfigError(f"model.gaussian_std must be > 0, got {self.gaussian_std}")


class Autoencoder(LatentModel):
    modalities = ("image", "vector")
    code_params: ClassVar[int] = 1  # encoder outputs per latent dimension

    @classmethod
    def unused_config_keys(cls, config: AutoencoderConfig, info: DataInfo) -> dict[str, str]:
        """Keys this model ignores for ``info`` (refused by name when given): per-architecture sizes."""
        arch = resolve_arch(config.arch, info.modality)
        if arch == "conv":
            return {"hidden": "the conv networks use model.width; model.hidden sizes the mlp networks (model.arch=mlp)"}
        return {"width": "the mlp networks use model.hidden; model.width sizes the conv networks (model.arch=conv)"}

    def __init__(self, config: AutoencoderConfig, info: DataInfo):
        super().__init__(config, info)
        arch = resolve_arch(config.arch, info.modality)
        k = info.num_classes if self.conditional else 0
        out = self.code_params * config.latent_dim
        self.encoder = build_encoder(info.shape, out, arch, config.width, config.hidden, config.act)
        self.label_enc = nn.Linear(k, out, bias=False) if k else None
        self.decoder = build_decoder(config.latent_dim + k, info.shape, lik.num_params(config.decoder), arch,
                                     config.width, config.hidden, config.act)

    def encoder_out(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = self.encoder(x)
        return h if c is None else h + self.label_enc(c)

    def decoder_out(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if c is not None and len(c) != len(z):  # codes of several samples per example, stacked
            c = c.repeat(len(z) // len(c), 1)
        return self.decoder(z if c is None else torch.cat([z, c], 1))

    def log_px(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per example in nats, from the decoder output for z."""
        return lik.log_prob(self.config.decoder, x, out, self.config.gaussian_std)

    def check_data(self, x: torch.Tensor) -> None:
        lik.check_data(self.config.decoder, x)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder mean for codes ``z`` (images clamped to [0, 1])."""
        m = lik.mean(self.config.decoder, self.decoder_out(z, self.one_hot(labels)))
        return m.clamp(0, 1) if self.info.modality == "image" else m

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, labels), labels)

    @torch.no_grad()
    def anomaly_score(self, batch: Batch, num_samples: int = 1) -> torch.Tensor:
        """Per-example anomaly score, higher = less typical: -log p(x | decode(encode(x))) in nats."""
        x, c = batch["x"], self.one_hot(batch.get("y"))
        return -self.log_px(x, self.decoder_out(self.encode(x, batch.get("y")), c))

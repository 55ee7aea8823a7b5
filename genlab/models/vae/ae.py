"""Deterministic autoencoders: x -> z -> x through a ``latent_dim`` bottleneck, trained to maximise
log p(x | z) of the decoder likelihood (Bernoulli: cross-entropy; Gaussian: squared error).

``dae`` is the denoising autoencoder (Vincent et al. 2008): it encodes a corrupted input (Gaussian noise,
masking or salt-and-pepper, see ``corruption.py``) and reconstructs the clean one. With ``arch=mlp``,
``hidden=[]`` and ``decoder=gaussian`` the autoencoder is linear and learns the PCA subspace.

An autoencoder has no prior: ``sample()`` draws codes from a Gaussian with the running mean and
covariance of the training codes, or from a fitted mixture (``latent_sampler=gmm``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from ...registry import register_model
from .autoencoder import Autoencoder, AutoencoderConfig
from .corruption import NOISES, corrupt
from .latent import RunningGaussian


@dataclass
class AEConfig(AutoencoderConfig):
    noise: str = "none"  # none | gaussian | masking | salt-pepper: corrupt the input (denoising)
    noise_level: float = 0.3  # gaussian: noise std; masking / salt-pepper: share of values hit

    def validate(self) -> None:
        super().validate()
        if self.noise not in NOISES:
            raise ConfigError(f"model.noise must be one of {', '.join(NOISES)}, got {self.noise!r}")
        if self.noise_level < 0 or (self.noise in ("masking", "salt-pepper") and self.noise_level > 1):
            raise ConfigError(f"model.noise_level must be >= 0 (and <= 1 for {self.noise}), got {self.noise_level}")


@dataclass
class DAEConfig(AEConfig):
    noise: str = "gaussian"


@register_model
class AE(Autoencoder):
    name = "ae"
    description = "Autoencoder (MLP or conv; images and vectors); samples from a Gaussian/GMM fitted to its codes"
    Config = AEConfig

    def __init__(self, config: AEConfig, info: DataInfo):
        super().__init__(config, info)
        self.code_stats = RunningGaussian(config.latent_dim)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder_out(x, self.one_hot(labels))

    @property
    def denoising(self) -> bool:
        return self.config.noise != "none"

    def corrupt_input(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return corrupt(x, self.config.noise, self.config.noise_level, generator)

    def training_step(self, batch: Batch, step: int) -> dict:
        x, c = batch["x"], self.one_hot(batch.get("y"))
        if step == 0:
            self.check_data(x)
        z = self.encoder_out(self.corrupt_input(x), c)
        loss = -self.log_px(x, self.decoder_out(z, c)).mean()
        self.optimize(loss)
        self.code_stats.update(z)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict:
        return {"rec_nll": float(self.anomaly_score(batch).mean())}

    def prior_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.code_stats.sample(n, generator)


@register_model
class DAE(AE):
    name = "dae"
    description = "Denoising autoencoder: Gaussian, masking or salt-and-pepper input corruption (model.noise)"
    Config = DAEConfig

"""Variational autoencoder (Kingma & Welling 2014) with a convolutional encoder/decoder.

Objective: the ELBO ``E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I))`` in nats per example. With
``conditional=true`` both networks see the class label (a conditional VAE that samples a chosen class).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ModelConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError, DataError
from ...nn.blocks import ConvDecoder, ConvEncoder
from ...registry import register_model
from ..base import GenerativeModel


@dataclass
class VAEConfig(ModelConfig):
    latent_dim: int = 16
    width: int = 32
    decoder: str = "bernoulli"  # bernoulli | gaussian
    gaussian_std: float = 0.1  # fixed decoder std for the gaussian decoder (on [0, 1] pixels)
    beta: float = 1.0
    conditional: bool = False

    def validate(self) -> None:
        if self.latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be >= 1, got {self.latent_dim}")
        if self.beta < 0:
            raise ConfigError(f"model.beta must be >= 0, got {self.beta}")
        if self.decoder not in ("bernoulli", "gaussian"):
            raise ConfigError(f"model.decoder must be bernoulli or gaussian, got {self.decoder!r}")
        if self.gaussian_std <= 0:
            raise ConfigError(f"model.gaussian_std must be > 0, got {self.gaussian_std}")


@register_model
class VAE(GenerativeModel):
    name = "vae"
    family = "vae"
    description = "Convolutional VAE (Bernoulli or Gaussian decoder, beta, optional class conditioning); ELBO in nats"
    Config = VAEConfig
    likelihood_estimator = "elbo"

    def __init__(self, config: VAEConfig, info: DataInfo):
        super().__init__(config, info)
        if config.conditional and info.num_classes < 2:
            raise ConfigError(f"model.conditional=true needs labelled data; {info.name or 'this dataset'} has no labels")
        k = info.num_classes if config.conditional else 0
        self.encoder = ConvEncoder(info.shape, 2 * config.latent_dim, config.width)
        self.label_enc = nn.Linear(k, 2 * config.latent_dim, bias=False) if k else None
        self.decoder = ConvDecoder(config.latent_dim + k, info.shape, config.width)

    def _onehot(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return F.one_hot(y, self.info.num_classes).float() if self.conditional else None

    def _posterior(self, x: torch.Tensor, c: torch.Tensor | None):
        h = self.encoder(x)
        if c is not None:
            h = h + self.label_enc(c)
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def _decode(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self.decoder(z if c is None else torch.cat([z, c], 1))

    def _log_px(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.config.decoder == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        std = self.config.gaussian_std
        ll = -0.5 * ((x - torch.sigmoid(out)) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
        return ll.flatten(1).sum(1)

    def _check(self, x: torch.Tensor) -> None:
        if self.config.decoder == "bernoulli" and (x.min() < 0 or x.max() > 1):
            raise DataError("the Bernoulli decoder needs data in [0, 1]; use model.decoder=gaussian for other data")

    def elbo(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-example (reconstruction log-likelihood, KL) and the ELBO, all in nats."""
        x, c = batch["x"], self._onehot(batch.get("y"))
        mu, logvar = self._posterior(x, c)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = self._log_px(x, self._decode(z, c))
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return rec, kl, rec - kl

    def training_step(self, batch: Batch, step: int) -> dict:
        if step == 0:
            self._check(batch["x"])
        rec, kl, elbo = self.elbo(batch)
        loss = -(rec - self.config.beta * kl).mean()
        self.optimize(loss)
        return {"loss": loss.detach(), "rec": -rec.mean().detach(), "kl": kl.mean().detach(), "elbo": elbo.mean().detach()}

    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        return self.elbo(batch)[2]

    @torch.no_grad()
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self._posterior(x, self._onehot(labels))[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self._decode(z, self._onehot(labels)))

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        labels = self.check_sample_args(n, labels, options)
        if self.conditional and labels is None:
            labels = torch.randint(self.info.num_classes, (n,), generator=generator, device=self.device)
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return self.decode(z, labels)

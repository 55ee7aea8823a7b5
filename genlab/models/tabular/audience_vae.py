"""Conditional TVAE for audiences: the events of an item given the item's context vector.

A TVAE (``tvae.py``: mode-specific-normalised rows, Gaussian alphas with a learnt scale, categorical
segments) whose encoder and decoder both receive the item's context (``genlab/audiences/context.py``:
content features, recommendation embedding or both). New items are sampled with ``z ~ N(0, I)`` and their
context, so no event of theirs is needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...audiences.model import AudienceModel, ContextConfig
from ...data.base import Batch, DataInfo
from ...nn.blocks import MLP
from ...registry import register_model
from .encoding import TableEncoding
from .tvae import check_vae_fields


@dataclass
class AudienceTVAEConfig(ContextConfig):
    latent_dim: int = 16
    encoder_dims: list[int] = field(default_factory=lambda: [256, 256])
    decoder_dims: list[int] = field(default_factory=lambda: [256, 256])
    loss_factor: float = 2.0  # weight of the reconstruction term
    sample_categorical: str = "sample"  # sample | argmax

    def validate(self) -> None:
        super().validate()
        check_vae_fields(self)


@register_model
class AudienceTVAE(AudienceModel):
    name = "audience-tvae"
    description = "Conditional TVAE: the users (events) of an item given its content / recommendation embedding"
    Config = AudienceTVAEConfig
    train_defaults = {"lr": 1e-3, "weight_decay": 1e-5}  # TVAE's (Xu et al. 2019); settings of TrainConfig

    def __init__(self, config: AudienceTVAEConfig, info: DataInfo):
        super().__init__(config, info)
        self.enc = TableEncoding(self.schema)
        d, c = self.enc.dim, self.ctx.dim
        self.encoder = MLP([d + c, *config.encoder_dims, 2 * config.latent_dim])
        self.decoder = MLP([config.latent_dim + c, *config.decoder_dims, d])
        self.sigma = nn.Parameter(torch.full((self.enc.n_alpha,), 0.1))

    def training_step(self, batch: Batch, step: int) -> dict:
        ctx = self.batch_context(batch)
        x = self.enc.encode(batch["x"])
        mu, logvar = self.encoder(torch.cat([x, ctx], 1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        out = self.decoder(torch.cat([z, ctx], 1))
        na = self.enc.n_alpha
        err = x[:, :na] - torch.tanh(out[:, :na])
        rec_alpha = (err**2 / (2 * self.sigma**2) + self.sigma.log()).sum(1)
        rec_cat = -(self.enc.segment_log_probs(out[:, na:]) * x[:, na:]).sum(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        loss = (self.config.loss_factor * (rec_alpha + rec_cat) + kl).mean()
        self.optimize(loss)
        with torch.no_grad():
            self.sigma.clamp_(0.01, 1.0)
        return {"loss": loss.detach(), "rec_cat": rec_cat.mean().detach(), "kl": kl.mean().detach()}

    def _draw(self, ctx: torch.Tensor, generator=None) -> torch.Tensor:
        n = len(ctx)
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        out = self.decoder(torch.cat([z, ctx], 1))
        na = self.enc.n_alpha
        noise = torch.randn(n, na, generator=generator, device=self.device)
        out = torch.cat([torch.tanh(out[:, :na]) + self.sigma * noise, out[:, na:]], 1)
        return self.enc.decode(out, sample=self.config.sample_categorical == "sample", generator=generator)

"""Conditional table GAN for audiences (CTGAN-style): the events of an item given the item's context vector.

The generator (CTGAN's residual MLP) maps noise and the item's context (``genlab/audiences/context.py``)
to an encoded event (tanh alphas, Gumbel-softmax segments); a PacGAN critic scores groups of ``pac``
(event, context) pairs under the WGAN-GP loss. Real events come with their own item's context, so the
critic learns what the users of *that kind* of item look like; a new item needs only its context.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...audiences.model import AudienceModel, ContextConfig
from ...config import TrainConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from .networks import PacCritic, pac_gradient_penalty, residual_generator
from ...registry import register_model
from .encoding import TableEncoding


@dataclass
class AudienceGANConfig(ContextConfig):
    noise_dim: int = 64
    generator_dims: list[int] = field(default_factory=lambda: [256, 256])
    discriminator_dims: list[int] = field(default_factory=lambda: [256, 256])
    pac: int = 10  # events per critic decision (PacGAN); the batch is cut to a multiple of it
    gp_weight: float = 10.0
    d_steps: int = 1
    tau: float = 0.2  # Gumbel-softmax temperature of the generator's one-hot outputs
    item_packs: bool = True  # each pac group holds events of one item (real) / one context (fake)
    moment_weight: float = 1.0  # generator: cross-entropy of a pack's mean category probabilities vs its real events

    def validate(self) -> None:
        super().validate()
        if self.noise_dim < 1 or self.pac < 1 or self.d_steps < 1:
            raise ConfigError("model.noise_dim, model.pac and model.d_steps must be >= 1")
        if any(d < 1 for d in self.generator_dims + self.discriminator_dims):
            raise ConfigError("model.generator_dims and model.discriminator_dims must be positive sizes")
        if self.tau <= 0 or self.gp_weight < 0:
            raise ConfigError("model.tau must be > 0 and model.gp_weight >= 0")


@register_model
class AudienceGAN(AudienceModel):
    name = "audience-gan"
    description = "Conditional table GAN (CTGAN-style, PacGAN critic, WGAN-GP): an item's users given its context"
    Config = AudienceGANConfig
    # CTGAN's (Xu et al. 2019): Adam 2e-4 for both players, betas 0.5/0.9, weight decay 1e-6 (TrainConfig settings)
    train_defaults = {"lr": 2e-4, "betas": [0.5, 0.9], "weight_decay": 1e-6}

    def __init__(self, config: AudienceGANConfig, info: DataInfo):
        super().__init__(config, info)
        n_rows = info.meta.get("n_rows", 0)
        if n_rows and n_rows < config.pac:
            raise ConfigError(f"model.pac={config.pac} needs at least that many training events; there are {n_rows}")
        self.enc = TableEncoding(self.schema)
        self.generator = residual_generator(config.noise_dim + self.ctx.dim, config.generator_dims, self.enc.dim)
        self.discriminator = PacCritic(self.enc.dim + self.ctx.dim, config.discriminator_dims, config.pac)
        self._rows = None

    def on_train_start(self, data) -> None:
        """Fit the context; with ``item_packs``, index the events by item for drawing packs."""
        super().on_train_start(data)
        item = data.tensors["item"].to(self.device)
        order = torch.argsort(item, stable=True)
        self._rows = data.tensors["x"].to(self.device)[order]
        counts = torch.bincount(item, minlength=len(self.item_ids))
        self._start, self._count = counts.cumsum(0) - counts, counts

    def _packs(self, n_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n_packs`` groups of ``pac`` events, each group from one item (drawn by its number of events)."""
        pac = self.config.pac
        item = torch.multinomial(self._count.float(), n_packs, replacement=True)
        u = torch.rand(n_packs, pac, device=self.device)
        pos = self._start[item, None] + (u * self._count[item, None]).long().clamp_max(self._count[item, None] - 1)
        return self._rows[pos.reshape(-1)], item.repeat_interleave(pac)

    def configure_optimizers(self, train: TrainConfig):
        return self.build_optimizers(train, {"d": self.discriminator.parameters(), "g": self.generator.parameters()})

    def _generate(self, ctx: torch.Tensor, generator=None) -> torch.Tensor:
        z = torch.randn(len(ctx), self.config.noise_dim, generator=generator, device=self.device)
        return self.generator(torch.cat([z, ctx], 1))

    def training_step(self, batch: Batch, step: int) -> dict:
        c = self.config
        n = max(c.pac, len(batch["x"]) // c.pac * c.pac)
        if c.item_packs:
            x, item = self._packs(n // c.pac)
            ctx = self.batch_context({"item": item})
        else:
            idx = torch.arange(n, device=self.device) % len(batch["x"])
            x, ctx = batch["x"][idx], self.batch_context(batch)[idx]
        for _ in range(c.d_steps):
            real = torch.cat([self.enc.encode(x), ctx], 1)
            fctx = self._shuffle(ctx)  # fake events for the same items, other groups
            fake = torch.cat([self.enc.activate(self._generate(fctx), c.tau), fctx], 1).detach()
            d_real, d_fake = self.discriminator(real), self.discriminator(fake)
            gp = pac_gradient_penalty(self.discriminator, real, fake)
            loss_d = d_fake.mean() - d_real.mean()
            self.optimize(loss_d + c.gp_weight * gp, "d")
        raw = self._generate(ctx)
        adv = -self.discriminator(torch.cat([self.enc.activate(raw, c.tau), ctx], 1)).mean()
        logs = {"loss_d": loss_d.detach(), "gp": gp.detach(), "loss_g": adv.detach()}
        if c.moment_weight and c.item_packs:
            mom = self._moment_loss(raw, self.enc.encode(x))
            logs["moment"] = mom.detach()
            adv = adv + c.moment_weight * mom
        self.optimize(adv, "g")
        return logs

    def _moment_loss(self, raw: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Per pack (one item): cross-entropy between the real events' categories and the generator's category
        probabilities averaged over the pack. It is smallest when the generator's *average* over its noise
        matches the item's real shares, without asking each noise draw to give the same distribution."""
        pac, na = self.config.pac, self.enc.n_alpha
        probs = self.enc.segment_log_probs(raw[:, na:]).exp()
        mean = probs.reshape(-1, pac, probs.shape[1]).mean(1)
        target = real[:, na:].reshape(-1, pac, probs.shape[1]).mean(1)
        return -(target * mean.clamp_min(1e-8).log()).sum(1).mean()

    def _shuffle(self, ctx: torch.Tensor) -> torch.Tensor:
        """The contexts in another order: whole packs when packs are items, else rows."""
        pac = self.config.pac
        if self.config.item_packs:
            perm = torch.randperm(len(ctx) // pac, device=self.device)
            return ctx.reshape(-1, pac, ctx.shape[1])[perm].reshape(len(ctx), -1)
        return ctx[torch.randperm(len(ctx), device=self.device)]

    def _draw(self, ctx: torch.Tensor, generator=None) -> torch.Tensor:
        raw = self._generate(ctx, generator)
        out = torch.cat([torch.tanh(raw[:, : self.enc.n_alpha]), raw[:, self.enc.n_alpha :]], 1)
        return self.enc.decode(out, sample=True, generator=generator)  # Gumbel-max: argmax of the Gumbel-softmax

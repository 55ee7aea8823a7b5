"""Conditional TabDDPM for audiences: the events of an item given the item's context vector.

TabDDPM's diffusion (``tab_ddpm.py``: quantile-normalised numbers diffused as Gaussians, categories by
multinomial diffusion) with the item's context (``genlab/audiences/context.py``: content features,
recommendation embedding or both) appended to the denoiser's input at every step, in training and sampling,
so a new item's users come from its features alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...audiences.model import AudienceModel, ContextConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...registry import register_model
from .tab_ddpm import TableDiffusion, check_table_diffusion


@dataclass
class AudienceDDPMConfig(ContextConfig):
    timesteps: int = 1000
    schedule: str = "cosine"
    prediction: str = "epsilon"  # epsilon | x0 | v (the numeric part)
    sampler: str = "ddpm"  # for the numeric part; the categorical part is always ancestral
    sample_steps: int = 100
    eta: float = 0.0
    hidden: int = 256
    depth: int = 3
    dropout: float = 0.0
    n_quantiles: int = 1000  # knots of each numeric column's empirical CDF

    def validate(self) -> None:
        super().validate()
        check_table_diffusion(self)


@register_model
class AudienceDDPM(TableDiffusion, AudienceModel):
    name = "audience-ddpm"
    description = "Conditional TabDDPM: the users (events) of an item given its content / recommendation embedding"
    Config = AudienceDDPMConfig
    train_defaults = {"lr": 1e-3, "weight_decay": 1e-5}
    tiny_config = {"hidden": 32, "depth": 2, "timesteps": 50, "sample_steps": 5, "n_quantiles": 20, "embedding_dim": 4}

    def __init__(self, config: AudienceDDPMConfig, info: DataInfo):
        super().__init__(config, info)
        self.setup_diffusion(config, self.schema, ctx_dim=self.ctx.dim)

    def on_train_start(self, data: TensorDataset) -> None:
        super().on_train_start(data)  # the item context
        self.fit_marginals(data)

    def training_step(self, batch: Batch, step: int) -> dict:
        loss, mse, kl = self._loss(batch["x"], self.batch_context(batch))
        self.optimize(loss)
        return {"loss": loss.detach(), "mse": mse.detach(), "kl_cat": kl.detach()}

    def _draw(self, ctx: torch.Tensor, generator=None) -> torch.Tensor:
        if not len(ctx):
            return torch.zeros(0, len(self.schema.columns), dtype=torch.float64, device=self.device)
        return self.draw_rows(len(ctx), [], generator, ctx.float())

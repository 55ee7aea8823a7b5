"""CTGAN (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN").

Rows are encoded with mode-specific normalisation and one-hot segments (``genlab/models/tabular/encoding.py``).
Every step draws a *conditional vector*: a one-hot column chosen uniformly and one of its codes with
probability proportional to the log of its frequency, so rare categories are trained on; real rows meeting
those conditions are drawn from the whole table (*training-by-sampling*, which is why the trainer's batch
only sets the batch size). The critic scores groups of ``pac`` rows (PacGAN) under the WGAN-GP loss; the
generator also pays a cross-entropy for ignoring its condition. ``--where`` sets the conditional vector
to the rarest requested value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...config import ModelConfig, TrainConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...errors import ConfigError
from .networks import PacCritic, pac_gradient_penalty, residual_generator
from ...registry import register_model
from .conditions import Condition
from .encoding import TableEncoding
from .base import TabularModel


@dataclass
class CTGANConfig(ModelConfig):
    embedding_dim: int = 128  # noise dimension
    generator_dims: list[int] = field(default_factory=lambda: [256, 256])
    discriminator_dims: list[int] = field(default_factory=lambda: [256, 256])
    pac: int = 10  # rows per critic decision (PacGAN); the batch is cut to a multiple of it
    gp_weight: float = 10.0
    d_steps: int = 1
    tau: float = 0.2  # Gumbel-softmax temperature of the generator's one-hot outputs
    log_frequency: bool = True  # condition codes drawn by log-frequency (False: by frequency)
    training_by_sampling: bool = True  # False: real rows drawn uniformly, not matched to the conditions

    def validate(self) -> None:
        if self.embedding_dim < 1 or self.pac < 1 or self.d_steps < 1:
            raise ConfigError("model.embedding_dim, model.pac and model.d_steps must be >= 1")
        if any(d < 1 for d in self.generator_dims + self.discriminator_dims):
            raise ConfigError("model.generator_dims and model.discriminator_dims must be positive sizes")
        if self.tau <= 0 or self.gp_weight < 0:
            raise ConfigError("model.tau must be > 0 and model.gp_weight >= 0")


@register_model
class CTGAN(TabularModel):
    name = "ctgan"
    description = "Conditional tabular GAN: conditional vector, training-by-sampling, PacGAN critic, WGAN-GP"
    Config = CTGANConfig
    native_conditions = 1
    # Xu et al. 2019: Adam 2e-4 for both players, betas 0.5/0.9, weight decay 1e-6 (settings of TrainConfig)
    train_defaults = {"lr": 2e-4, "betas": [0.5, 0.9], "weight_decay": 1e-6, "optimizer": "adam"}

    def __init__(self, config: CTGANConfig, info: DataInfo):
        super().__init__(config, info)
        if self.schema.n_rows and self.schema.n_rows < config.pac:
            raise ConfigError(f"model.pac={config.pac} needs at least that many training rows; the table has "
                              f"{self.schema.n_rows}; lower model.pac")
        self.enc = TableEncoding(self.schema)
        onehot = [self.schema.columns[j] for j in self.enc.onehot_cols]
        sl = self.enc.onehot_slice()
        self.cond_dim = sl.stop - sl.start
        self.generator = residual_generator(config.embedding_dim + self.cond_dim, config.generator_dims, self.enc.dim)
        self.discriminator = PacCritic(self.enc.dim + self.cond_dim, config.discriminator_dims, config.pac)
        # condition tables from the schema's code counts, padded to the widest one-hot column
        width = max([c.n_codes for c in onehot], default=1)
        counts = torch.zeros(len(onehot), width, dtype=torch.float64)
        for i, c in enumerate(onehot):
            counts[i, : c.n_codes] = torch.tensor(c.counts, dtype=torch.float64)
        train_w = counts.log1p() if config.log_frequency else counts
        seg0 = self.enc.n_alpha  # first one-hot column's segment
        buffers = {
            "train_cum": (train_w / train_w.sum(1, keepdim=True).clamp_min(1e-12)).cumsum(1).float(),
            "sample_cum": (counts / counts.sum(1, keepdim=True).clamp_min(1e-12)).cumsum(1).float(),
            "n_codes": torch.tensor([c.n_codes for c in onehot], dtype=torch.long),
            "cond_start": (self.enc.seg_start[seg0:] - self.enc.seg_start[seg0]) if onehot else torch.zeros(0, dtype=torch.long),
        }
        for k, v in buffers.items():
            self.register_buffer(k, v, persistent=False)
        self._rows: torch.Tensor | None = None

    def configure_optimizers(self, train: TrainConfig):
        return self.build_optimizers(train, {"d": self.discriminator.parameters(), "g": self.generator.parameters()})

    # -------------------------------------------------------------- training-by-sampling
    def on_train_start(self, data: TensorDataset) -> None:
        """Index the training rows by the code of every one-hot column (one stable sort per column)."""
        x = data.tensors["x"].to(self.device)
        codes = x[:, self.enc.onehot_idx].long()  # (N, Co)
        self._rows = x
        self._order = codes.argsort(dim=0, stable=True).T.contiguous()  # (Co, N): row ids sorted by code
        counts = torch.zeros(codes.shape[1], self.train_cum.shape[1], dtype=torch.long, device=x.device)
        counts.scatter_add_(1, codes.T, torch.ones_like(codes.T))
        self._counts, self._starts = counts, counts.cumsum(1) - counts

    def _conditions(self, n: int, cum: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(conditional vectors, one-hot column index, code) for ``n`` rows drawn from table ``cum``."""
        dev = self.device
        col = torch.randint(len(self.n_codes), (n,), generator=generator, device=dev)
        u = torch.rand(n, 1, generator=generator, device=dev)
        code = torch.searchsorted(cum[col], u).squeeze(1).clamp_max(self.n_codes[col] - 1)
        return self._condvec(col, code), col, code

    def _condvec(self, col: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        vec = torch.zeros(len(col), self.cond_dim, device=self.device)
        return vec.scatter_(1, (self.cond_start[col] + code)[:, None], 1.0)

    def _real_rows(self, col: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        n = len(col)
        if not self.config.training_by_sampling or self.cond_dim == 0:
            return self._rows[torch.randint(len(self._rows), (n,), device=self.device)]
        offset = (torch.rand(n, device=self.device) * self._counts[col, code]).long()
        return self._rows[self._order[col, self._starts[col, code] + offset]]

    def _generate(self, cond: torch.Tensor, generator=None) -> torch.Tensor:
        z = torch.randn(len(cond), self.config.embedding_dim, generator=generator, device=self.device)
        return self.generator(torch.cat([z, cond], 1))

    def _cond_loss(self, raw: torch.Tensor, col: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the generator's logits for each row's conditioned column against its code."""
        if self.cond_dim == 0:
            return raw.new_zeros(())
        logp = self.enc.segment_log_probs(raw[:, self.enc.n_alpha :])
        pos = self.enc.seg_start[self.enc.n_alpha + col] + code
        return -logp.gather(1, pos[:, None]).mean()

    def training_step(self, batch: Batch, step: int) -> dict:
        if self._rows is None:
            raise RuntimeError("CTGAN needs on_train_start(data) before training_step (the Trainer calls it)")
        c = self.config
        n = max(c.pac, len(batch["x"]) // c.pac * c.pac)
        for _ in range(c.d_steps):
            cond, col, code = self._conditions(n, self.train_cum)
            perm = torch.randperm(n, device=self.device)  # real rows meet a shuffled copy of the conditions
            real = torch.cat([self.enc.encode(self._real_rows(col[perm], code[perm])), cond[perm]], 1)
            fake = torch.cat([self.enc.activate(self._generate(cond), c.tau), cond], 1).detach()
            d_real, d_fake = self.discriminator(real), self.discriminator(fake)
            gp = pac_gradient_penalty(self.discriminator, real, fake)
            loss_d = d_fake.mean() - d_real.mean()
            self.optimize(loss_d + c.gp_weight * gp, "d")
        cond, col, code = self._conditions(n, self.train_cum)
        raw = self._generate(cond)
        adv = -self.discriminator(torch.cat([self.enc.activate(raw, c.tau), cond], 1)).mean()
        ce = self._cond_loss(raw, col, code)
        self.optimize(adv + ce, "g")
        return {"loss_d": loss_d.detach(), "gp": gp.detach(), "loss_g": adv.detach(), "cond_ce": ce.detach()}

    # -------------------------------------------------------------- sampling
    def _draw(self, n: int, conds: list[Condition], generator=None) -> torch.Tensor:
        if self.cond_dim == 0:
            vec = torch.zeros(n, 0, device=self.device)
        elif not conds:  # conditions drawn by the codes' real frequencies
            vec = self._conditions(n, self.sample_cum, generator)[0]
        else:
            i = self.enc.onehot_cols.index(conds[0].column)
            vec = self._condvec(torch.full((n,), i, device=self.device), torch.full((n,), conds[0].code, device=self.device))
        raw = self._generate(vec, generator)
        out = torch.cat([torch.tanh(raw[:, : self.enc.n_alpha]), raw[:, self.enc.n_alpha :]], 1)
        return self.enc.decode(out, sample=True, generator=generator)  # Gumbel-max: argmax of CTGAN's Gumbel-softmax

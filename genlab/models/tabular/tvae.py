"""TVAE (Xu et al. 2019): a VAE on mode-specific-normalised rows.

The decoder outputs, per mode column, the mean of its alpha (after tanh) with a learnt standard deviation
(clamped to [0.01, 1]), and logits for every one-hot segment (modes and categories). The loss is
``loss_factor * reconstruction + KL`` per row, as in the reference implementation. Sampling draws each
segment from its softmax (``sample_categorical=sample``) or takes its argmax (the reference's choice).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...config import ModelConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...errors import ConfigError
from ...nn.blocks import MLP
from ...registry import register_model
from ..vae.latent import SAMPLERS, LatentMixture
from .conditions import Condition
from .dp import check_dp_fields, make_private, register_dp_buffers, spent
from .encoding import TableEncoding
from .base import TabularModel


@dataclass
class TVAEConfig(ModelConfig):
    latent_dim: int = 128
    encoder_dims: list[int] = field(default_factory=lambda: [128, 128])
    decoder_dims: list[int] = field(default_factory=lambda: [128, 128])
    loss_factor: float = 2.0  # weight of the reconstruction term
    sample_categorical: str = "sample"  # sample | argmax
    # where sample() draws codes from: N(0, I), or a Gaussian mixture fitted on the training rows' codes when
    # training ends (or later: genlab fit-latent RUN --components K); the mixture covers the aggregate posterior
    # where N(0, I) has holes (measured on Adult: docs/tabular.md)
    latent_sampler: str = "prior"  # prior | gmm
    latent_components: int = 10
    # differential privacy (DP-SGD through Opacus, genlab/models/tabular/dp.py): per-row gradients clipped to
    # max_grad_norm, noise calibrated to spend at most (dp_epsilon, dp_delta) over the planned steps
    dp: bool = False
    dp_epsilon: float = 3.0
    dp_delta: float = 1e-5
    max_grad_norm: float = 1.0

    def validate(self) -> None:
        check_vae_fields(self)
        check_dp_fields(self)
        if self.latent_sampler not in SAMPLERS:
            raise ConfigError(f"model.latent_sampler must be prior or gmm, got {self.latent_sampler!r}")
        if isinstance(self.latent_components, bool) or not isinstance(self.latent_components, int) \
                or not 1 <= self.latent_components <= 1000:
            raise ConfigError(f"model.latent_components must be an integer in [1, 1000], got {self.latent_components!r}")
        if self.dp and self.latent_sampler == "gmm":
            raise ConfigError("model.latent_sampler=gmm fits a mixture on the training rows' codes without noise, which "
                              "the differential-privacy guarantee does not cover; use latent_sampler=prior with dp=true")


def check_vae_fields(cfg) -> None:
    """The checks of the TVAE settings, shared by every config that has them (``audience-tvae`` too)."""
    if cfg.latent_dim < 1 or any(d < 1 for d in cfg.encoder_dims + cfg.decoder_dims):
        raise ConfigError("model.latent_dim, model.encoder_dims and model.decoder_dims must be positive")
    if cfg.loss_factor <= 0:
        raise ConfigError(f"model.loss_factor must be > 0, got {cfg.loss_factor}")
    if cfg.sample_categorical not in ("sample", "argmax"):
        raise ConfigError(f"model.sample_categorical must be sample or argmax, got {cfg.sample_categorical!r}")


@register_model
class TVAE(TabularModel):
    name = "tvae"
    description = "Tabular VAE on mode-specific-normalised rows (Gaussian alphas, categorical segments)"
    Config = TVAEConfig
    train_defaults = {"lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 1e-5, "optimizer": "adam"}

    def __init__(self, config: TVAEConfig, info: DataInfo):
        super().__init__(config, info)
        self.enc = TableEncoding(self.schema)
        d = self.enc.dim
        self.encoder = MLP([d, *config.encoder_dims, 2 * config.latent_dim])
        self.decoder = MLP([config.latent_dim, *config.decoder_dims, d])
        sigma = nn.Parameter(torch.full((self.enc.n_alpha,), 0.1))
        if config.dp:  # sigma inside a module, so that Opacus computes its per-row gradients too
            self.alpha_nll = AlphaNLL(sigma)
            register_dp_buffers(self)
        else:
            self.sigma = sigma
        if config.latent_sampler == "gmm":
            self.latent_gmm = LatentMixture(config.latent_dim, config.latent_components)

    @property
    def std(self) -> nn.Parameter:
        """The learnt standard deviations of the alphas."""
        return self.alpha_nll.sigma if self.config.dp else self.sigma

    def configure_optimizers(self, train) -> dict:
        opts = super().configure_optimizers(train)
        if self.config.dp:
            nets = nn.ModuleDict({"encoder": self.encoder, "decoder": self.decoder, "alpha_nll": self.alpha_nll})
            opts["main"] = make_private(self, nets, opts["main"], train)
        return opts

    def on_train_end(self, data) -> bool:
        if self.config.dp:
            spent(self)  # into the weights: genlab evaluate and genlab info report it
            return True
        if self.config.latent_sampler == "gmm":
            was_training = self.training
            self.eval()
            self.fit_latent(data)
            self.train(was_training)
            return True
        return False

    @torch.no_grad()
    def fit_latent(self, data: TensorDataset, max_examples: int = 20000) -> dict:
        """Fit the latent mixture (``latent_sampler=gmm``) on the posterior means of at most ``max_examples``
        training rows; the random state is left untouched."""
        if not hasattr(self, "latent_gmm"):
            raise ConfigError("fit_latent needs a tvae built with model.latent_sampler=gmm")
        if self.config.dp:
            raise ConfigError("a differentially private tvae cannot fit a latent mixture on its training rows")
        codes, seen = [], 0
        for batch in data.batches(4096, shuffle=False, drop_last=False, device=self.device):
            x = self.enc.encode(batch["x"][: max_examples - seen])
            codes.append(self.encoder(x).chunk(2, dim=1)[0].float().cpu())
            seen += len(x)
            if seen >= max_examples:
                break
        return self.latent_gmm.fit(torch.cat(codes), max_examples=max_examples)

    def latent_z(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None) -> torch.Tensor:
        """``n`` codes: from the fitted mixture with ``latent_sampler=gmm``, otherwise (and before it is fitted,
        e.g. for previews while training) from N(0, I)."""
        gmm = getattr(self, "latent_gmm", None)
        if (sampler or self.config.latent_sampler) == "gmm" and gmm is not None and gmm.fitted:
            return gmm.sample(n, generator)
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)

    def training_step(self, batch: Batch, step: int) -> dict:
        x = self.enc.encode(batch["x"])
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        out = self.decoder(z)
        na = self.enc.n_alpha
        err = x[:, :na] - torch.tanh(out[:, :na])
        rec_alpha = self.alpha_nll(err) if self.config.dp else AlphaNLL.nll(err, self.sigma)
        logp = self.enc.segment_log_probs(out[:, na:])
        rec_cat = -(logp * x[:, na:]).sum(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        loss = (self.config.loss_factor * (rec_alpha + rec_cat) + kl).mean()
        self.optimize(loss)
        with torch.no_grad():
            self.std.clamp_(0.01, 1.0)
        logs = {"loss": loss.detach(), "rec_alpha": rec_alpha.mean().detach(), "rec_cat": rec_cat.mean().detach(),
                "kl": kl.mean().detach()}
        if self.config.dp:
            self.dp_steps += 1
            if step % 100 == 0:
                logs["dp_epsilon"] = spent(self)
        return logs

    def _draw(self, n: int, conds: list[Condition], generator=None) -> torch.Tensor:
        out = self.decoder(self.latent_z(n, generator))
        na = self.enc.n_alpha
        noise = torch.randn(n, na, generator=generator, device=self.device)
        out = torch.cat([torch.tanh(out[:, :na]) + self.std * noise, out[:, na:]], 1)
        return self.enc.decode(out, sample=self.config.sample_categorical == "sample", generator=generator)


class AlphaNLL(nn.Module):
    """Per-row Gaussian negative log-likelihood of the alphas with learnt standard deviations ``sigma``."""

    def __init__(self, sigma: nn.Parameter):
        super().__init__()
        self.sigma = sigma

    def forward(self, err: torch.Tensor) -> torch.Tensor:
        return self.nll(err, self.sigma)

    @staticmethod
    def nll(err: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return (err**2 / (2 * sigma**2) + sigma.log()).sum(1)

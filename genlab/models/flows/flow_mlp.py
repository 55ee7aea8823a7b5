"""A RealNVP-style coupling flow for vectors (2-D toys, numeric features): act-norm + affine couplings
with alternating feature masks and MLP (s, t) networks. Exact log-density in nats per example."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...config import ModelConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from ...nn.blocks import MLP
from ...registry import register_model
from ..base import GenerativeModel, SampleOption
from .layers import (ActNorm, AffineCoupling, FlowSequence, alternating_mask, sampling_temperature,
                     standard_normal_log_prob)


@dataclass
class FlowMLPConfig(ModelConfig):
    num_layers: int = 8  # couplings; consecutive ones transform complementary halves
    hidden: int = 128
    depth: int = 2  # hidden layers of each (s, t) network
    temperature: float = 1.0  # default sampling temperature

    def validate(self) -> None:
        if self.num_layers < 2 or self.hidden < 1 or self.depth < 1:
            raise ConfigError("model.num_layers must be >= 2, model.hidden and model.depth >= 1")
        if self.temperature <= 0:
            raise ConfigError(f"model.temperature must be > 0, got {self.temperature}")


@register_model
class FlowMLP(GenerativeModel):
    name = "flow-mlp"
    family = "flows"
    description = "Coupling flow for vectors (RealNVP with MLP couplings, act-norm); exact log-density"
    Config = FlowMLPConfig
    modalities = ("vector",)
    likelihood_estimator = "exact"
    sample_options = (SampleOption("temperature", float, help="standard deviation of the latents (default "
                                   "model.temperature)", min=0, min_exclusive=True),)

    def __init__(self, config: FlowMLPConfig, info: DataInfo):
        super().__init__(config, info)
        if len(info.shape) != 1 or info.shape[0] < 2:
            raise ConfigError(f"flow-mlp needs flat vectors of at least 2 features, got examples of shape {tuple(info.shape)}")
        d = info.shape[0]
        layers = []
        for i in range(config.num_layers):
            net = MLP([d] + [config.hidden] * config.depth + [2 * d], act="relu")
            torch.nn.init.zeros_(net[-1].weight)
            torch.nn.init.zeros_(net[-1].bias)
            layers += [ActNorm(d, 2), AffineCoupling(alternating_mask(d, i % 2), net)]
        self.flow = FlowSequence(layers)
        self.latent_dim = d

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.latent_dim:
            raise ConfigError(f"flow-mlp was built for vectors of {self.latent_dim} features, got inputs of shape "
                              f"{tuple(x.shape)}; a flow only takes inputs of the size it was trained on")
        return x.float()

    def _log_likelihood(self, batch: Batch) -> torch.Tensor:
        z, logdet = self.flow(self._check(batch["x"]))
        return standard_normal_log_prob(z) + logdet

    def training_step(self, batch: Batch, step: int) -> dict:
        loss = -self._log_likelihood(batch).mean()
        self.optimize(loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        return self._log_likelihood(batch)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, temperature: float | None = None, **options):
        self.check_sample_args(n, labels, {**options, "temperature": temperature})
        tau = sampling_temperature(self.config.temperature, temperature)
        return self.decode(tau * torch.randn((n, self.latent_dim), generator=generator, device=self.device))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.flow(self._check(x))[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.flow.inverse(z)

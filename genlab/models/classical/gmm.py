"""Gaussian mixture baseline: fitted by scikit-learn's EM, sampled and scored in PyTorch.

Pixels are dequantised (``(v + u) / 256``, ``u ~ U[0, 1)``) before fitting, so the log-likelihood is a
proper density; ``log_likelihood`` reports it in the 8-bit discrete scale (density minus ``D log 256``),
the convention used for bits/dim of flows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ...config import ModelConfig
from ...nn.blocks import identity
from ...data.base import Batch, DataInfo, TensorDataset
from ...errors import ConfigError
from ...registry import register_model
from ..base import GenerativeModel


@dataclass
class GMMConfig(ModelConfig):
    n_components: int = 10
    covariance_type: str = "full"  # full | diag
    max_iter: int = 30
    reg_covar: float = 1e-3
    max_fit_examples: int = 20000  # EM on a random subset of this size (full covariance is O(N D^2))

    def validate(self) -> None:
        if self.n_components < 1:
            raise ConfigError(f"model.n_components must be >= 1, got {self.n_components}")
        if self.covariance_type not in ("full", "diag"):
            raise ConfigError(f"model.covariance_type must be full or diag, got {self.covariance_type!r}")
        if self.reg_covar <= 0:
            raise ConfigError(f"model.reg_covar must be > 0, got {self.reg_covar}")


@register_model
class GMM(GenerativeModel):
    name = "gmm"
    family = "classical"
    description = "Gaussian mixture (scikit-learn EM) on flattened data; exact log-likelihood"
    Config = GMMConfig
    modalities = ("image", "vector")
    iterative = False
    likelihood_estimator = "exact (dequantised)"

    def __init__(self, config: GMMConfig, info: DataInfo):
        super().__init__(config, info)
        k, d = config.n_components, math.prod(info.shape)
        self.register_buffer("weights", torch.full((k,), 1.0 / k))
        self.register_buffer("means", torch.zeros(k, d))
        scale_shape = (k, d, d) if config.covariance_type == "full" else (k, d)
        self.register_buffer("scale", torch.ones(scale_shape) if config.covariance_type == "diag" else identity(d, k))

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).float()

    def fit(self, data: TensorDataset) -> dict[str, float]:
        from sklearn.mixture import GaussianMixture

        x = data.all()["x"]
        gen = torch.Generator().manual_seed(0)
        if len(x) > self.config.max_fit_examples:
            x = x[torch.randperm(len(x), generator=gen)[: self.config.max_fit_examples]]
        x = self._flat(self._dequantise(x, gen)).numpy().astype(np.float64)
        if self.config.n_components > len(x):
            from ...errors import ConfigError

            raise ConfigError(f"model.n_components={self.config.n_components} is more than the {len(x)} training "
                              "examples; use at most that many components")
        gm = GaussianMixture(self.config.n_components, covariance_type=self.config.covariance_type,
                             max_iter=self.config.max_iter, reg_covar=self.config.reg_covar, random_state=0)
        gm.fit(x)
        self.weights.copy_(torch.from_numpy(gm.weights_))
        self.means.copy_(torch.from_numpy(gm.means_))
        if self.config.covariance_type == "full":
            self.scale.copy_(torch.linalg.cholesky(torch.from_numpy(gm.covariances_)))
        else:
            self.scale.copy_(torch.from_numpy(np.sqrt(gm.covariances_)))
        return {"em_iterations": int(gm.n_iter_), "converged": float(gm.converged_)}

    @staticmethod
    def _dequantise(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        return (x * 255 + torch.rand(x.shape, generator=gen)) / 256

    def _dist(self):
        from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal, Independent, Normal

        if self.config.covariance_type == "full":
            comp = MultivariateNormal(self.means, scale_tril=self.scale)
        else:
            comp = Independent(Normal(self.means, self.scale), 1)
        return MixtureSameFamily(Categorical(probs=self.weights), comp)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        self.check_sample_args(n, labels, options)
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator, device=self.means.device)
        if self.config.covariance_type == "full":  # per component, not a (n, d, d) gather of the factors
            x = self.means[k]
            for c in k.unique().tolist():
                m = k == c
                x[m] += eps[m] @ self.scale[c].T
        else:
            x = self.means[k] + self.scale[k] * eps
        return x.clamp(0, 1).reshape(n, *self.info.shape)

    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        x = batch["x"]
        d = math.prod(self.info.shape)
        return self._dist().log_prob(self._flat(self._dequantise(x.cpu()).to(x.device))) - d * math.log(256)

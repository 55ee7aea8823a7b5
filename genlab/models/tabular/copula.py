"""Gaussian copula: every column through its own marginal, dependence as one correlation matrix.

Each column is mapped to a normal score ``z = ndtri(u)`` by its marginal (``genlab/models/tabular/marginals.py``:
empirical CDF for numbers, frequency intervals for categories, an interval for "missing"); the scores'
correlation matrix is the model. Sampling draws correlated normals and maps them back. A condition on a
category fixes that column's score to its interval (a truncated normal) and draws the other scores from
their Gaussian conditional, which is exact for this model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...config import ModelConfig
from ...nn.blocks import identity
from ...data.base import DataInfo, TensorDataset
from ...errors import ConfigError
from ...registry import register_model
from .conditions import Condition
from .marginals import EPS, Marginals
from .base import TabularModel


@dataclass
class GaussianCopulaConfig(ModelConfig):
    n_quantiles: int = 1000  # knots of each numeric column's empirical CDF
    max_fit_rows: int = 500_000  # rows used to fit (a random subset of larger tables)
    shrinkage: float = 1e-3  # correlation matrix pulled towards the identity by this much

    def validate(self) -> None:
        if self.n_quantiles < 2 or self.max_fit_rows < 2:
            raise ConfigError("model.n_quantiles and model.max_fit_rows must be >= 2")
        if not 0 <= self.shrinkage < 1:
            raise ConfigError(f"model.shrinkage must be in [0, 1), got {self.shrinkage}")


def subsample(x: torch.Tensor, max_rows: int, seed: int = 0) -> torch.Tensor:
    if len(x) <= max_rows:
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:max_rows].sort().values]


@register_model
class GaussianCopula(TabularModel):
    name = "gaussian-copula"
    description = "Gaussian copula over per-column marginals (empirical CDFs, category intervals); exact conditions"
    Config = GaussianCopulaConfig
    iterative = False
    native_conditions = 1

    def __init__(self, config: GaussianCopulaConfig, info: DataInfo):
        super().__init__(config, info)
        self.marginals = Marginals(self.schema, config.n_quantiles)
        c = len(self.schema.columns)
        self.register_buffer("corr", identity(c, dtype=torch.float64))

    def fit(self, data: TensorDataset) -> dict[str, float]:
        x = subsample(data.tensors["x"], self.config.max_fit_rows).to(self.device)
        self.marginals.fit(x)
        z = torch.special.ndtri(self.marginals.to_uniform(x, torch.Generator(device=x.device).manual_seed(0)))
        corr = torch.corrcoef(z.T) if len(x) > 1 else torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
        corr = torch.nan_to_num(corr, nan=0.0).fill_diagonal_(1.0)
        self.corr.copy_((1 - self.config.shrinkage) * corr + self.config.shrinkage * torch.eye(len(corr), dtype=corr.dtype, device=corr.device))
        return {"rows": float(len(x)), "mean_abs_corr": float((self.corr - torch.eye(len(corr), device=corr.device)).abs().mean())}

    def _draw(self, n: int, conds: list[Condition], generator=None) -> torch.Tensor:
        c = len(self.corr)
        eps = torch.randn(n, c, generator=generator, device=self.device, dtype=torch.float64)
        if not conds:
            z = eps @ torch.linalg.cholesky(self.corr).T
            return self.marginals.from_uniform(torch.special.ndtr(z).clamp(EPS, 1 - EPS))
        j = conds[0].column
        i = self.marginals.onehot_cols.index(j)
        lo, hi = self.marginals.cum[i, conds[0].code], self.marginals.cum[i, conds[0].code + 1]
        u_j = lo + (hi - lo) * torch.rand(n, generator=generator, device=self.device, dtype=torch.float64)
        z_j = torch.special.ndtri(u_j.clamp(EPS, 1 - EPS))
        rest = [k for k in range(c) if k != j]
        s_rj = self.corr[rest, j]
        cov = self.corr[rest][:, rest] - torch.outer(s_rj, s_rj)
        chol = torch.linalg.cholesky(cov + 1e-9 * torch.eye(len(rest), dtype=cov.dtype, device=cov.device))
        z = torch.empty(n, c, dtype=torch.float64, device=self.device)
        z[:, j] = z_j
        z[:, rest] = z_j[:, None] * s_rj + eps[:, rest] @ chol.T
        codes = self.marginals.from_uniform(torch.special.ndtr(z).clamp(EPS, 1 - EPS))
        codes[:, j] = conds[0].code  # u_j lies in the code's interval; this only removes rounding at its edges
        return codes

"""A mixture model for tables (a latent-class model), fitted by EM.

Given its component ``k``, a row's variables are independent: every one-hot column has its own categorical
distribution, and every number is represented either (``numeric=modes``, the default) by its mode of the
column's Bayesian Gaussian mixture (one more categorical variable) and its position ``alpha`` within that
mode (Gaussian), or (``numeric=normal_scores``) by one Gaussian normal score ``ndtri(F(x))`` of its
empirical CDF (``genlab/models/tabular/marginals.py``). Conditions on one-hot columns are exact: the component
is drawn from its posterior given the conditioned values, the other variables from that component.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...config import ModelConfig
from ...data.base import DataInfo, TensorDataset
from ...errors import ConfigError
from ...registry import register_model
from .conditions import Condition
from .encoding import TableEncoding
from .marginals import EPS, Marginals
from .base import TabularModel
from .copula import subsample


@dataclass
class TableGMMConfig(ModelConfig):
    n_components: int = 30
    numeric: str = "modes"  # modes | normal_scores
    max_iter: int = 200
    tol: float = 1e-5  # stop when the mean log-likelihood per row improves by less
    smoothing: float = 0.5  # Dirichlet pseudo-count spread over each column's codes
    min_std: float = 0.01  # floor on a component's standard deviation (normal-score units)
    n_quantiles: int = 1000
    max_fit_rows: int = 200_000
    seed: int = 0  # initial assignment of rows to components

    def validate(self) -> None:
        if self.n_components < 1 or self.max_iter < 1 or self.n_quantiles < 2:
            raise ConfigError("model.n_components, model.max_iter must be >= 1 and model.n_quantiles >= 2")
        if self.smoothing < 0 or self.min_std <= 0:
            raise ConfigError("model.smoothing must be >= 0 and model.min_std > 0")
        if self.numeric not in ("modes", "normal_scores"):
            raise ConfigError(f"model.numeric must be modes or normal_scores, got {self.numeric!r}")


@register_model
class TableGMM(TabularModel):
    name = "table-gmm"
    description = "Mixture of independent columns per component (Gaussian normal scores, categoricals); EM; exact conditions"
    Config = TableGMMConfig
    iterative = False
    native_conditions = 1 << 30  # all of them

    def __init__(self, config: TableGMMConfig, info: DataInfo):
        super().__init__(config, info)
        self.marginals = Marginals(self.schema, config.n_quantiles)
        self.enc = TableEncoding(self.schema)
        if config.numeric == "modes":  # Gaussian alphas; categorical modes and one-hot codes
            n_gauss, sizes = self.enc.n_alpha, self.enc.segment_sizes
        else:  # Gaussian normal scores; categorical one-hot codes
            n_gauss, sizes = len(self.marginals.mode_cols), [int(v) for v in self.marginals.n_codes]
        k = config.n_components
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.long), persistent=False)
        self.register_buffer("log_weight", torch.full((k,), -math.log(k), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(k, n_gauss, dtype=torch.float64))
        self.register_buffer("std", torch.ones(k, n_gauss, dtype=torch.float64))
        self.register_buffer("log_theta", torch.zeros(k, len(sizes), max(sizes, default=1), dtype=torch.float64))

    def _variables(self, x: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes -> (Gaussian variables (N, G) float64, categorical variables (N, V) long)."""
        if self.config.numeric == "modes":  # in chunks: encoding builds (rows x modes) temporaries
            parts = [self.enc.encode_parts(c, generator=generator) for c in x.split(50_000)]
            return torch.cat([a for a, _ in parts]).double(), torch.cat([k for _, k in parts])
        z = torch.special.ndtri(self.marginals.to_uniform(x, generator)[:, self.marginals.mode_idx])
        return z, x[:, self.marginals.onehot_idx].long()

    def _categorical_index(self, column: int) -> int:
        """Which categorical variable holds one-hot column ``column``."""
        j = self.marginals.onehot_cols.index(column)
        return j + (self.enc.n_alpha if self.config.numeric == "modes" else 0)

    # -------------------------------------------------------------- EM
    def _log_lik(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """(N, K) log p(row | component), normal-score densities plus category log-probabilities."""
        inv = 1 / self.std**2
        ll = -(z**2 @ inv.T - 2 * z @ (self.mean * inv).T + (self.mean**2 * inv).sum(1))
        ll = 0.5 * ll - self.std.log().sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)
        for i in range(codes.shape[1]):  # one gather per one-hot column, vectorised over rows
            ll = ll + self.log_theta[:, i, :].index_select(1, codes[:, i]).T
        return ll

    def _m_step(self, r: torch.Tensor, z: torch.Tensor, codes: torch.Tensor) -> None:
        c = self.config
        nk = r.sum(0) + 1e-10
        self.log_weight.copy_((nk / nk.sum()).log())
        mean = r.T @ z / nk[:, None]
        var = r.T @ z**2 / nk[:, None] - mean**2
        self.mean.copy_(mean)
        self.std.copy_(var.clamp_min(0).sqrt().clamp_min(c.min_std))
        for i in range(codes.shape[1]):
            m = int(self.sizes[i])
            counts = torch.zeros(len(nk), m, dtype=r.dtype, device=r.device).index_add_(1, codes[:, i], r.T)
            counts += c.smoothing / m
            self.log_theta[:, i, :m] = (counts / counts.sum(1, keepdim=True)).log()
            self.log_theta[:, i, m:] = -1e30  # padding: probability 0, kept finite for the checkpoint check

    def fit(self, data: TensorDataset) -> dict[str, float]:
        c = self.config
        x = subsample(data.tensors["x"], c.max_fit_rows).to(self.device)
        gen = torch.Generator(device=x.device).manual_seed(c.seed)
        self.marginals.fit(x)
        z, codes = self._variables(x, gen)
        k = min(c.n_components, len(x))
        r = torch.zeros(len(x), c.n_components, dtype=torch.float64, device=x.device)
        r[torch.arange(len(x)), torch.randint(k, (len(x),), generator=gen, device=x.device)] = 1
        prev, it = -math.inf, 0
        for it in range(1, c.max_iter + 1):
            self._m_step(r, z, codes)
            lp = self.log_weight + self._log_lik(z, codes)
            total = torch.logsumexp(lp, 1)
            r = (lp - total[:, None]).exp()
            ll = float(total.mean())
            if ll - prev < c.tol * max(1.0, abs(ll)):
                break
            prev = ll
        self._m_step(r, z, codes)
        return {"em_iterations": float(it), "mean_log_lik": ll}

    # -------------------------------------------------------------- sampling
    def _draw(self, n: int, conds: list[Condition], generator=None) -> torch.Tensor:
        logw = self.log_weight.clone()
        for cd in conds:  # posterior over components given the conditioned codes
            logw += self.log_theta[:, self._categorical_index(cd.column), cd.code]
        comp = torch.multinomial(torch.softmax(logw, 0), n, replacement=True, generator=generator)
        dev = self.device
        z = self.mean[comp] + self.std[comp] * torch.randn(n, self.mean.shape[1], generator=generator, device=dev, dtype=torch.float64)
        u = torch.rand(n, len(self.sizes), 1, generator=generator, device=dev, dtype=torch.float64)
        cats = torch.empty(n, len(self.sizes), dtype=torch.long, device=dev)
        for i, m in enumerate(self.sizes.tolist()):  # one variable at a time: memory n x its codes
            cum = self.log_theta[:, i, :m].exp().cumsum(-1)[comp]
            cats[:, i] = torch.searchsorted(cum, u[:, i] * cum[:, -1:], right=True).squeeze(-1).clamp_max(m - 1)
        for cd in conds:
            cats[:, self._categorical_index(cd.column)] = cd.code
        if self.config.numeric == "modes":
            return self.enc.decode_parts(z.float(), cats)
        u = torch.empty(n, len(self.schema.columns), dtype=torch.float64, device=dev)
        u[:, self.marginals.mode_idx] = torch.special.ndtr(z).clamp(EPS, 1 - EPS)
        codes = self.marginals.from_uniform(u)
        codes[:, self.marginals.onehot_idx] = cats.double()
        return codes

"""Per-column marginal distributions as maps between codes and uniform values in (0, 1).

A one-hot column's code ``k`` covers the interval ``[F(k-1), F(k))`` of its cumulative frequencies (from
the schema's counts); a value is mapped to a uniform draw inside its interval. A mode column is mapped
through its empirical CDF (``n_quantiles`` knots, ties broken at random), after a first interval
``[0, p_missing)`` that stands for "missing". The inverse map reads the same tables, so
``from_uniform(to_uniform(codes))`` gives back the codes (numbers up to the knot interpolation).
Used by the Gaussian copula and the latent-class mixture through normal scores ``ndtri(u)``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...data.tabular.schema import TableSchema

EPS = 1e-6


class Marginals(nn.Module):
    def __init__(self, schema: TableSchema, n_quantiles: int = 1000):
        super().__init__()
        cols = schema.columns
        self.mode_cols = [j for j, c in enumerate(cols) if not c.onehot]
        self.onehot_cols = [j for j, c in enumerate(cols) if c.onehot]
        width = max([cols[j].n_codes for j in self.onehot_cols], default=1)
        cum = torch.ones(len(self.onehot_cols), width + 1, dtype=torch.float64)  # [0, F(0), F(1), ...], padded with 1
        cum[:, 0] = 0
        for i, j in enumerate(self.onehot_cols):
            c = torch.tensor(cols[j].counts, dtype=torch.float64)
            cum[i, 1 : len(c) + 1] = c.cumsum(0) / c.sum()
        n = max(1, schema.n_rows)
        self.register_buffer("cum", cum, persistent=False)
        self.register_buffer("p_missing", torch.tensor([cols[j].n_missing / n for j in self.mode_cols], dtype=torch.float64), persistent=False)
        self.register_buffer("n_codes", torch.tensor([cols[j].n_codes for j in self.onehot_cols], dtype=torch.long), persistent=False)
        self.register_buffer("mode_idx", torch.tensor(self.mode_cols, dtype=torch.long), persistent=False)
        self.register_buffer("onehot_idx", torch.tensor(self.onehot_cols, dtype=torch.long), persistent=False)
        self.register_buffer("knots", torch.zeros(len(self.mode_cols), n_quantiles, dtype=torch.float64))  # fitted

    def fit(self, codes: torch.Tensor) -> None:
        """Empirical quantiles of every mode column (missing values left out)."""
        if self.mode_cols:
            x = codes[:, self.mode_idx].cpu().numpy()
            q = np.nanquantile(x, np.linspace(0, 1, self.knots.shape[1]), axis=0, method="linear").T
            self.knots.copy_(torch.from_numpy(np.ascontiguousarray(q)))

    def to_uniform(self, codes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, C) codes -> (N, C) float64 values in (0, 1)."""
        u = torch.empty(codes.shape, dtype=torch.float64, device=codes.device)
        jitter = torch.rand(codes.shape, generator=generator, device=codes.device, dtype=torch.float64)
        if self.onehot_cols:
            k = codes[:, self.onehot_idx].long()
            rows = torch.arange(len(self.onehot_cols), device=codes.device)
            lo, hi = self.cum[rows, k], self.cum[rows, k + 1]
            u[:, self.onehot_idx] = lo + jitter[:, self.onehot_idx] * (hi - lo)
        if self.mode_cols:
            x = codes[:, self.mode_idx]
            miss = torch.isnan(x)
            # empirical CDF with random tie-breaking: rank of (value, jitter) among the observed values
            order = torch.from_numpy(np.lexsort((jitter[:, self.mode_idx].cpu().numpy(),
                                                 torch.where(miss, np.inf, x).cpu().numpy()), axis=0)).to(x.device)
            ranks = torch.empty_like(order).scatter_(0, order, torch.arange(len(x), device=x.device)[:, None].expand_as(order))
            n_obs = (~miss).sum(0).clamp_min(1)
            p = self.p_missing
            cdf = (ranks + 0.5) / n_obs
            u[:, self.mode_idx] = torch.where(miss, jitter[:, self.mode_idx] * p, p + (1 - p) * cdf)
        return u.clamp(EPS, 1 - EPS)

    def from_uniform(self, u: torch.Tensor) -> torch.Tensor:
        """(N, C) values in (0, 1) -> (N, C) float64 codes."""
        codes = torch.empty(u.shape, dtype=torch.float64, device=u.device)
        if self.onehot_cols:
            uo = u[:, self.onehot_idx].T.contiguous()  # (Co, N)
            k = torch.searchsorted(self.cum[:, 1:].contiguous(), uo, right=True).T
            codes[:, self.onehot_idx] = torch.minimum(k, self.n_codes - 1).double()
        if self.mode_cols:
            um = u[:, self.mode_idx]
            p = self.p_missing
            t = ((um - p) / (1 - p)).clamp(0, 1) * (self.knots.shape[1] - 1)  # position among the knots
            lo = t.floor().long().clamp_max(self.knots.shape[1] - 2) if self.knots.shape[1] > 1 else t.long()
            kn = self.knots.T  # (Q, Cm)
            a, b = kn.gather(0, lo), kn.gather(0, (lo + 1).clamp_max(self.knots.shape[1] - 1))
            x = a + (t - lo) * (b - a)
            codes[:, self.mode_idx] = torch.where(um < p, float("nan"), x)
        return codes

"""Variational Bayesian Gaussian mixtures for many 1-D columns at once (mode-specific normalisation).

Each column gets its own mixture with a truncated Dirichlet-process (stick-breaking) prior on the weights
and a Normal-Gamma prior on each mode's mean and precision; mean-field updates as in Bishop (2006, section
10.2) in one dimension and Blei & Jordan (2006) for the sticks. A small concentration makes superfluous modes
empty, so the number of modes is learnt; modes whose weight ends below ``prune`` are dropped, as in CTGAN
(Xu et al. 2019, which uses scikit-learn's BayesianGaussianMixture with the same prior). All columns are fitted together as (rows, columns, modes) tensors;
there is no loop over rows.
"""
from __future__ import annotations

import numpy as np
import torch

MAX_ELEMENTS = 20_000_000  # rows * columns * modes per chunk of columns
BLOCK_ELEMENTS = 1 << 18  # columns * modes * rows of responsibilities at a time


def fit_bgm(x: np.ndarray, n_modes: int = 10, max_iter: int = 100, weight_prior: float = 1e-3,
            prune: float = 5e-3, tol: float = 1e-3, max_rows: int = 50_000, seed: int = 0) -> list[dict]:
    """Fit one mixture per column of ``x`` (N, C), NaN marking missing values (ignored).

    Returns one dict per column with the kept modes: ``{"mean": [...], "std": [...], "weight": [...]}``
    in the column's own units, weights summing to one.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) > max_rows:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))]
    per_chunk = max(1, MAX_ELEMENTS // max(1, len(x) * n_modes))
    out: list[dict] = []
    for s in range(0, x.shape[1], per_chunk):
        out += _fit_chunk(torch.from_numpy(x[:, s : s + per_chunk]), n_modes, max_iter, weight_prior, prune, tol)
    return out


def _init_means(z: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
    """(K, C) initial means spread over each column's distinct values (quantiles of the unique values)."""
    means = torch.zeros(k, z.shape[0], dtype=torch.float64)
    for c in range(z.shape[0]):  # once per column, not per row
        u = torch.unique(z[c][w[c] > 0]).double()
        means[:, c] = torch.quantile(u, torch.linspace(0, 1, k, dtype=u.dtype)) if len(u) > 1 else u[0]
    return means


def _fit_chunk(x: torch.Tensor, k: int, max_iter: int, alpha0: float, prune: float, tol: float) -> list[dict]:
    x = x.T  # (C, N): rows last, so that the products below run over contiguous rows
    w = torch.isfinite(x).to(x.dtype)  # 1 for observed values
    n_obs = w.sum(1, keepdim=True).clamp_min(1)
    loc = torch.where(w > 0, x, 0).sum(1, keepdim=True) / n_obs
    scale = (torch.where(w > 0, x - loc, 0).pow(2).sum(1, keepdim=True) / n_obs).sqrt()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    z = torch.where(w > 0, (x - loc) / scale, 0).float()  # standardised; the big tensors are float32
    w = w.float()
    stats_rhs = torch.stack([w, z, z * z], -1)  # (C, N, 3): r @ this = per-mode sums of r, r z, r z^2
    rho_rhs = stats_rhs.transpose(1, 2).contiguous()  # (C, 3, N), for log rho = coef @ this
    beta0, a0, b0, m0 = 1.0, 0.5, 0.5, 0.0  # prior: unit mean precision, variance of the standardised data

    # start from hard assignments to the nearest initial mean, then alternate the mean-field updates,
    # which only need the per-mode sums of r, r z and r z^2 (statistics in float64). Responsibilities r
    # are (C, K, rows) tensors, made and summed block by block of rows (memory traffic, not arithmetic,
    # is the cost); both steps are batched matrix products, and missing values (w = 0, z = 0) drop out
    # of the sums because the first column of stats_rhs is w.
    m = _init_means(z, w, k)
    block = max(256, BLOCK_ELEMENTS // (k * z.shape[0]))  # rows per block: (C, K, block) stays in cache
    blocks = [slice(i, i + block) for i in range(0, z.shape[1], block)]
    sums = sum(torch.bmm(torch.nn.functional.one_hot((z[:, None, rows] - m.T.float()[:, :, None]).abs().argmin(1), k)
                         .transpose(1, 2).float(), stats_rhs[:, rows]).double() for rows in blocks)
    for it in range(max_iter):
        sums = sums.transpose(0, 1)  # (K, C, 3)
        nk = sums[..., 0] + 1e-10  # (K, C)
        xbar = sums[..., 1] / nk
        sk = (sums[..., 2] / nk - xbar**2).clamp_min(0)
        g1 = 1 + nk  # Beta(g1, g2) posterior of each stick
        g2 = alpha0 + nk.flip(0).cumsum(0).flip(0) - nk  # alpha0 + rows in later modes
        beta = beta0 + nk
        m_new = (beta0 * m0 + nk * xbar) / beta
        a = a0 + nk / 2
        b = b0 + 0.5 * (nk * sk + beta0 * nk * (xbar - m0) ** 2 / (beta0 + nk))
        if it > 0 and (m_new - m).abs().max() < tol:
            m = m_new
            break
        m = m_new
        dg = torch.special.digamma(g1 + g2)
        e_log_v, e_log_1mv = torch.special.digamma(g1) - dg, torch.special.digamma(g2) - dg
        e_log_pi = e_log_v + e_log_1mv.cumsum(0) - e_log_1mv
        e_lam = a / b
        # log rho = const + z * (lam m) - z^2 lam / 2, normalised over modes
        const = e_log_pi + 0.5 * (torch.special.digamma(a) - b.log()) - 0.5 / beta - 0.5 * e_lam * m * m
        coef = torch.stack([const, e_lam * m, -0.5 * e_lam], -1).transpose(0, 1).float()  # (C, K, 3)
        sums = sum(torch.bmm(torch.softmax(torch.bmm(coef, rho_rhs[:, :, rows]), 1), stats_rhs[:, rows]).double()
                   for rows in blocks)
    v = (g1 / (g1 + g2)).T  # (C, K)
    weight = v * torch.cat([torch.ones_like(v[:, :1]), (1 - v[:, :-1]).cumprod(-1)], -1)
    std = (b / a).sqrt().clamp_min(1e-3).T
    m, scale, loc = m.T, scale[:, 0].double(), loc[:, 0].double()
    out = []
    for c in range(z.shape[0]):
        keep = weight[c] > prune
        if not keep.any():
            keep = weight[c] == weight[c].max()
        wc = weight[c][keep]
        out.append({"mean": (m[c][keep] * scale[c] + loc[c]).tolist(), "std": (std[c][keep] * scale[c]).tolist(),
                    "weight": (wc / wc.sum()).tolist()})
    return out


def point_std(value: float) -> float:
    """The width given to a point mode: far below any rounding, so it decodes to exactly its value."""
    return 1e-9 * max(1.0, abs(value))


def fit_column_modes(columns: list[np.ndarray], n_modes: int = 10, spike_share: float = 0.05, **kwargs) -> list[dict]:
    """Modes of numeric columns (NaN: missing). A value held by at least ``spike_share`` of a column's
    observed rows (the 0 of a zero-inflated amount, the 40 of hours per week) becomes a *point mode* of
    zero width, so it is encoded and decoded exactly; the other values get a Bayesian Gaussian mixture
    (:func:`fit_bgm`). Weights of each column sum to one."""
    points, rest = [], []
    for x in columns:
        obs = x[~np.isnan(x)]
        values, counts = np.unique(obs, return_counts=True)
        share = counts / max(1, len(obs))
        keep = share >= spike_share
        left = np.where(np.isin(x, values[keep]), np.nan, x)
        if (~np.isnan(left)).sum() == 1:  # a single value left over: a point mode too
            keep |= np.isin(values, left[~np.isnan(left)])
            left[:] = np.nan
        points.append((values[keep], share[keep]))
        rest.append(left)
    todo = [i for i, r in enumerate(rest) if (~np.isnan(r)).any()]
    fitted = dict(zip(todo, fit_bgm(np.stack([rest[i] for i in todo], 1), n_modes=n_modes, **kwargs))) if todo else {}
    out = []
    for i, (values, share) in enumerate(points):
        m = fitted.get(i, {"mean": [], "std": [], "weight": []})
        rest_weight = 1.0 - float(share.sum())
        out.append({"mean": values.tolist() + m["mean"], "std": [point_std(v) for v in values] + m["std"],
                    "weight": share.tolist() + [rest_weight * w for w in m["weight"]]})
    return out

"""Codes to model inputs and back, in PyTorch: mode-specific normalisation plus one-hot *segments*.

An encoded row is ``[alpha_1 .. alpha_M | one-hot segments]``. Each mode column ``m`` contributes a scalar
``alpha_m = (x - mean_k) / (4 std_k)`` in (-1, 1) and a segment selecting its mode ``k`` (plus a
"missing" slot when the column has missing values); each one-hot column contributes a segment over its
codes (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN"). Segments of different sizes are
handled all at once with scatter/gather over a segment index, so there is no loop over columns or rows.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...data.tabular.schema import TableSchema


# ----------------------------------------------------------------------------- segment operations


def _expand(seg: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return seg.expand(v.shape[0], -1)


def segment_max(v: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    """(B, S) values, segment id per column -> (B, n) maximum of each segment."""
    out = torch.full((v.shape[0], n), float("-inf"), dtype=v.dtype, device=v.device)
    return out.scatter_reduce(1, _expand(seg, v), v, "amax")


def segment_log_softmax(v: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    """log-softmax within every segment of (B, S) logits."""
    shifted = v - segment_max(v, seg, n).detach().gather(1, _expand(seg, v))
    sums = torch.zeros(v.shape[0], n, dtype=v.dtype, device=v.device).scatter_add(1, _expand(seg, v), shifted.exp())
    return shifted - sums.log().gather(1, _expand(seg, v))


def segment_softmax(v: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    return segment_log_softmax(v, seg, n).exp()


def segment_argmax(v: torch.Tensor, seg: torch.Tensor, pos: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) position (within its segment) of each segment's largest value; ties go to the first."""
    is_max = v == segment_max(v, seg, n).gather(1, _expand(seg, v))
    cand = torch.where(is_max, pos.expand_as(v), torch.iinfo(torch.long).max)
    out = torch.full((v.shape[0], n), torch.iinfo(torch.long).max, dtype=torch.long, device=v.device)
    return out.scatter_reduce(1, _expand(seg, v), cand, "amin")


def gumbel(shape, device, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    return -torch.log((-torch.log(u.clamp(1e-10, 1.0))).clamp_min(1e-10))


# ----------------------------------------------------------------------------- the encoding


class TableEncoding(nn.Module):
    """Encoder/decoder between codes (B, C) and encoded rows (B, M + S), built from a schema.

    Buffers are derived from the schema (not saved), so they follow the model to its device.
    """

    def __init__(self, schema: TableSchema):
        super().__init__()
        cols = schema.columns
        self.mode_cols = [j for j, c in enumerate(cols) if not c.onehot]
        self.onehot_cols = [j for j, c in enumerate(cols) if c.onehot]
        self.n_columns = len(cols)
        # flat table of modes: one entry per (mode column, mode), plus a "missing" entry where needed
        mean, std, logw, is_na, mseg = [], [], [], [], []
        for i, j in enumerate(self.mode_cols):
            m = cols[j].modes
            mean += m["mean"]
            std += m["std"]
            logw += list(np.log(np.maximum(m["weight"], 1e-12)))
            is_na += [False] * len(m["mean"])
            if cols[j].n_missing:
                mean, std, logw, is_na = mean + [0.0], std + [1.0], logw + [0.0], is_na + [True]
            mseg += [i] * (len(mean) - len(mseg))
        sizes = [len(mseg) and mseg.count(i) for i in range(len(self.mode_cols))] + [cols[j].n_codes for j in self.onehot_cols]
        self.n_alpha, self.n_segments = len(self.mode_cols), len(sizes)
        self.segment_sizes = sizes
        self.dim = self.n_alpha + sum(sizes)
        seg = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes, dtype=torch.long))
        start = torch.tensor([0] + list(np.cumsum(sizes)[:-1]), dtype=torch.long)
        buffers = {
            "mode_mean": torch.tensor(mean, dtype=torch.float64), "mode_std": torch.tensor(std, dtype=torch.float64),
            "mode_logw": torch.tensor(logw, dtype=torch.float32), "mode_is_na": torch.tensor(is_na, dtype=torch.bool),
            "mode_seg": torch.tensor(mseg, dtype=torch.long),
            "seg": seg, "seg_start": start, "pos": torch.arange(len(seg)) - start[seg],
            "mode_idx": torch.tensor(self.mode_cols, dtype=torch.long),
            "onehot_idx": torch.tensor(self.onehot_cols, dtype=torch.long),
        }
        for k, v in buffers.items():
            self.register_buffer(k, v, persistent=False)

    # -------------------------------------------------------------- layout helpers
    def onehot_slice(self) -> slice:
        """Where the one-hot columns' segments sit in an encoded row (the conditional vector of CTGAN)."""
        first = self.n_alpha + sum(self.segment_sizes[: len(self.mode_cols)])
        return slice(first, self.dim)

    # -------------------------------------------------------------- codes -> encoded rows
    def encode_parts(self, codes: torch.Tensor, sample_modes: bool = True, generator: torch.Generator | None = None,
                     clip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C) codes -> alphas (B, M) float32 and the code of every segment (B, segments) long.

        A value's mode is drawn from its posterior (``sample_modes``, as CTGAN does) or taken as the most
        probable one. ``clip`` bounds alphas to [-0.99, 0.99] (the range of a tanh output; values beyond
        4 std of every mode lose their excess); ``clip=False`` makes the round trip exact."""
        seg_codes, alpha = [], torch.zeros(len(codes), 0, device=codes.device)
        if self.n_alpha:
            x = codes[:, self.mode_idx].double()
            xe = x[:, self.mode_seg]  # (B, entries)
            nan = torch.isnan(xe)
            logp = (self.mode_logw - self.mode_std.log().float()
                    - 0.5 * ((xe - self.mode_mean) / self.mode_std).float().pow(2))
            logp = torch.where(self.mode_is_na, torch.where(nan, 0.0, float("-inf")), torch.where(nan, float("-inf"), logp))
            if sample_modes:
                logp = logp + gumbel(logp.shape, logp.device, generator)
            k = segment_argmax(logp, self.mode_seg, self.pos[: len(self.mode_seg)], self.n_alpha)  # (B, M)
            entry = self.seg_start[: self.n_alpha] + k
            a = (x - self.mode_mean[entry]) / (4 * self.mode_std[entry])
            alpha = torch.where(torch.isnan(x), 0.0, a.clamp(-0.99, 0.99) if clip else a).float()
            seg_codes.append(k)
        if self.onehot_cols:
            seg_codes.append(codes[:, self.onehot_idx].long())
        return alpha, torch.cat(seg_codes, 1) if seg_codes else torch.zeros(len(codes), 0, dtype=torch.long, device=codes.device)

    def encode(self, codes: torch.Tensor, sample_modes: bool = True, generator: torch.Generator | None = None,
               clip: bool = True) -> torch.Tensor:
        """(B, C) codes -> (B, dim) float32 encoded rows (see :meth:`encode_parts`)."""
        alpha, seg_codes = self.encode_parts(codes, sample_modes, generator, clip)
        onehot = torch.zeros(len(codes), self.dim - self.n_alpha, device=codes.device)
        onehot.scatter_(1, self.seg_start + seg_codes, 1.0)
        return torch.cat([alpha, onehot], 1)

    # -------------------------------------------------------------- encoded rows -> codes
    def decode(self, encoded: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, dim) rows (one-hot parts as one-hots, probabilities or logits) -> (B, C) float64 codes.

        ``sample=True`` treats the one-hot parts as logits and draws from their softmax (Gumbel-max);
        otherwise the largest entry of each segment is taken.
        """
        part = encoded[:, self.n_alpha :]
        if sample:
            part = part + gumbel(part.shape, part.device, generator, part.dtype)
        return self.decode_parts(encoded[:, : self.n_alpha], segment_argmax(part, self.seg, self.pos, self.n_segments))

    def decode_parts(self, alpha: torch.Tensor, seg_codes: torch.Tensor) -> torch.Tensor:
        """Alphas (B, M) and segment codes (B, segments) -> (B, C) float64 codes."""
        codes = torch.empty(len(alpha), self.n_columns, dtype=torch.float64, device=alpha.device)
        if self.n_alpha:
            entry = self.seg_start[: self.n_alpha] + seg_codes[:, : self.n_alpha]
            x = alpha.double() * 4 * self.mode_std[entry] + self.mode_mean[entry]
            codes[:, self.mode_idx] = torch.where(self.mode_is_na[entry], float("nan"), x)
        if self.onehot_cols:
            codes[:, self.onehot_idx] = seg_codes[:, self.n_alpha :].double()
        return codes

    # -------------------------------------------------------------- generator outputs
    def activate(self, raw: torch.Tensor, tau: float = 0.2, hard: bool = False) -> torch.Tensor:
        """Generator outputs -> encoded rows: tanh on alphas, Gumbel-softmax (temperature ``tau``) per segment."""
        alpha = torch.tanh(raw[:, : self.n_alpha])
        logits = raw[:, self.n_alpha :]
        soft = segment_softmax((logits + gumbel(logits.shape, logits.device, dtype=logits.dtype)) / tau, self.seg, self.n_segments)
        if hard:  # straight-through one-hot
            k = segment_argmax(soft, self.seg, self.pos, self.n_segments)
            onehot = torch.zeros_like(soft).scatter_(1, self.seg_start + k, 1.0)
            soft = onehot + soft - soft.detach()
        return torch.cat([alpha, soft], 1)

    def segment_log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax of each segment of (B, S) one-hot logits (without the alphas)."""
        return segment_log_softmax(logits, self.seg, self.n_segments)

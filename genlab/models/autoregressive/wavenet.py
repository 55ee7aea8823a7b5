"""WaveNet (van den Oord et al. 2016): raw audio one µ-law code at a time.

Dilated causal convolutions (kernel 2, dilations 1, 2, 4, ... repeated ``stacks`` times), gated activations
``tanh(W_f x) * sigmoid(W_g x)``, residual and skip connections, and a 256-way softmax over the next µ-law
code; optionally conditioned on a class (e.g. an instrument) added to every gate. The likelihood is exact
(bits per audio sample).

Generation is linear in the length (Paine et al. 2016, "Fast WaveNet"): every layer keeps a queue of its last
``dilation`` inputs, so one new sample costs one small matrix product per layer instead of a pass over the
receptive field. ``sample(..., cache=False)`` runs the plain, quadratic loop (for checking and timing).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ModelConfig
from ...data.audio import MU, mu_law_decode
from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from ...registry import register_model
from ..base import GenerativeModel, SampleOption


@dataclass
class WaveNetConfig(ModelConfig):
    layers: int = 10  # dilations 1, 2, ..., 2**(layers - 1) per stack
    stacks: int = 1
    residual: int = 32  # channels of the residual stream
    skip: int = 64  # channels of the skip connections
    conditional: bool = False  # condition on the class (sub-folder) of each clip

    def validate(self) -> None:
        if not 1 <= self.layers <= 16 or not 1 <= self.stacks <= 8:
            raise ConfigError(f"model.layers must be 1..16 and model.stacks 1..8, got {self.layers}, {self.stacks}")
        if not 1 <= self.residual <= 1024 or not 1 <= self.skip <= 2048:
            raise ConfigError("model.residual must be 1..1024 and model.skip 1..2048")


@register_model
class WaveNet(GenerativeModel):
    name = "wavenet"
    description = "dilated causal convolutions over µ-law audio, 256-way softmax; exact bits/sample, cached generation"
    family = "autoregressive"
    Config = WaveNetConfig
    modalities = ("audio",)
    likelihood_estimator = "exact"
    sample_options = (
        SampleOption("length", int, None, "audio samples to generate (default: one second)", min=1, max=10_000_000),
        SampleOption("temperature", float, 1.0, "softmax temperature", min=0, min_exclusive=True),
        SampleOption("cache", bool, True, "fast generation with cached dilated states (false: plain loop)"),
    )

    def __init__(self, config: WaveNetConfig, info: DataInfo):
        super().__init__(config, info)
        if config.conditional and info.num_classes < 2:
            raise ConfigError("model.conditional=true needs audio in class sub-folders (at least 2 classes)")
        c, s = config.residual, config.skip
        self.dilations = [2 ** i for _ in range(config.stacks) for i in range(config.layers)]
        self.receptive_field = sum(self.dilations) + 1
        self.embed = nn.Embedding(MU + 1, c)
        self.gates = nn.ModuleList(nn.Conv1d(c, 2 * c, 2, dilation=d) for d in self.dilations)
        self.outs = nn.ModuleList(nn.Conv1d(c, c + s, 1) for _ in self.dilations)
        self.cond = nn.Embedding(info.num_classes, 2 * c * len(self.dilations)) if config.conditional else None
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(s, s, 1), nn.ReLU(), nn.Conv1d(s, MU + 1, 1))

    # ------------------------------------------------------------------ the network
    def _cond(self, labels: torch.Tensor | None) -> list[torch.Tensor | None]:
        if self.cond is None:
            return [None] * len(self.dilations)
        if labels is None:
            raise ConfigError("this WaveNet is conditional: give a class (--label)")
        return list(self.cond(labels).chunk(len(self.dilations), dim=1))

    def logits(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) codes -> (B, 256, T) logits; position t sees codes 0..t only."""
        h = self.embed(codes).transpose(1, 2)
        skip = 0
        for d, gate, out, cond in zip(self.dilations, self.gates, self.outs, self._cond(labels)):
            a = gate(F.pad(h, (d, 0)))
            if cond is not None:
                a = a + cond[:, :, None]
            f, g = a.chunk(2, 1)
            r, s = out(torch.tanh(f) * torch.sigmoid(g)).split([h.shape[1], self.config.skip], 1)
            h = h + r
            skip = skip + s
        return self.head(skip)

    def _nll(self, batch: Batch) -> torch.Tensor:
        x = batch["x"]
        logits = self.logits(x[:, :-1], batch.get("y") if self.cond is not None else None)
        return F.cross_entropy(logits.float(), x[:, 1:], reduction="none")

    def training_step(self, batch: Batch, step: int) -> dict:
        loss = self._nll(batch).mean()
        self.optimize(loss)
        return {"loss": loss.detach(), "bits_per_sample": loss.detach() / math.log(2)}

    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        """Exact log-probability (nats) of each window's codes after the first."""
        return -self._nll(batch).sum(1)

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict:
        nll = self._nll(batch).mean()
        return {"nll": float(nll), "bits_per_sample": float(nll / math.log(2))}

    # ------------------------------------------------------------------ generation
    def _fused(self):
        """Per layer: (past|current -> gate) weight (2C, 2C) and bias, (gate -> residual|skip) weight and bias."""
        return [(torch.cat([g.weight[:, :, 0], g.weight[:, :, 1]], 1).t().contiguous(), g.bias,
                 o.weight[:, :, 0].t().contiguous(), o.bias) for g, o in zip(self.gates, self.outs)]

    def _head_step(self, skip: torch.Tensor) -> torch.Tensor:
        w1, b1 = self.head[1].weight[:, :, 0], self.head[1].bias
        w2, b2 = self.head[3].weight[:, :, 0], self.head[3].bias
        return F.linear(F.relu(F.linear(F.relu(skip), w1, b1)), w2, b2)

    @staticmethod
    def _draw(logits: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
        """Inverse-CDF draw from softmax(logits / temperature) with uniforms ``u`` (B,): every generation path
        turns the same uniforms into the same codes."""
        p = (logits.float() / temperature).softmax(-1).cumsum(-1)
        return torch.searchsorted(p, (u * p[:, -1]).unsqueeze(1)).clamp_(max=MU)[:, 0]

    @torch.no_grad()
    def generate_codes(self, n: int, length: int, labels=None, temperature: float = 1.0, generator=None,
                       cache: bool = True, numpy: bool | None = None) -> torch.Tensor:
        """(n, length) µ-law codes, starting from silence (code 128 at position 0, zero padding before).
        ``cache``: the linear-time loop (in NumPy on the CPU unless ``numpy=False``); else the plain loop."""
        dev = self.device
        u = torch.rand(n, length, generator=generator, device=generator.device if generator is not None else dev)
        u = u.to(dev)
        silence = (MU + 1) // 2
        conds = self._cond(labels)
        if cache and (numpy if numpy is not None else dev.type == "cpu"):
            return self._generate_numpy(u, temperature, conds, silence)
        out = torch.empty(n, length, dtype=torch.long, device=dev)
        if not cache:
            codes = torch.full((n, 1), silence, dtype=torch.long, device=dev)
            for t in range(length):
                logits = self.logits(codes[:, -self.receptive_field:], labels)[:, :, -1]
                out[:, t] = self._draw(logits, u[:, t], temperature)
                codes = torch.cat([codes, out[:, t:t + 1]], 1)
            return out
        c = self.config.residual
        fused = self._fused()
        queues = [torch.zeros(n, d, c, device=dev) for d in self.dilations]
        x = torch.full((n,), silence, dtype=torch.long, device=dev)
        # queue slot t % d holds the layer's input at position t - d (zeros before the start: the padding)
        for t in range(length):
            h = self.embed(x)
            skip = None
            for i, (d, (wg, bg, wo, bo), cond) in enumerate(zip(self.dilations, fused, conds)):
                q, slot = queues[i], t % d
                a = torch.addmm(bg, torch.cat([q[:, slot], h], 1), wg)
                if cond is not None:
                    a = a + cond
                q[:, slot] = h
                f, g = a.chunk(2, 1)
                rs = torch.addmm(bo, torch.tanh(f) * torch.sigmoid(g), wo)
                h = h + rs[:, :c]
                skip = rs[:, c:] if skip is None else skip + rs[:, c:]
            x = self._draw(self._head_step(skip), u[:, t], temperature)
            out[:, t] = x
        return out

    def _generate_numpy(self, u: torch.Tensor, temperature: float, conds, silence: int) -> torch.Tensor:
        """The cached loop in NumPy (CPU): the same arithmetic as the torch loop with a quarter of the
        per-operation overhead, which is what one-sample-at-a-time generation is bound by (measured:
        benchmarks/music_audio.py)."""
        import numpy as np

        n, length = u.shape
        c = self.config.residual
        f32 = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
        layers = [(f32(wg), f32(bg) + (f32(cd) if cd is not None else 0), f32(wo), f32(bo))
                  for (wg, bg, wo, bo), cd in zip(self._fused(), conds)]
        emb = f32(self.embed.weight)
        w1, b1 = f32(self.head[1].weight[:, :, 0]).T.copy(), f32(self.head[1].bias)
        w2, b2 = f32(self.head[3].weight[:, :, 0]).T.copy(), f32(self.head[3].bias)
        queues = [np.zeros((d, n, 2 * c), np.float32) for d in self.dilations]  # rows: [input at t - d | input at t]
        uu = u.double().cpu().numpy()
        out = np.empty((n, length), np.int64)
        x = np.full(n, silence)
        for t in range(length):
            h = emb[x]
            skip = 0.0
            for (wg, bg, wo, bo), d, q in zip(layers, self.dilations, queues):
                row = q[t % d]
                row[:, c:] = h
                a = row @ wg + bg
                row[:, :c] = h  # read again at t + d as the past input
                z = np.tanh(a[:, :c]) * (0.5 + 0.5 * np.tanh(0.5 * a[:, c:]))  # tanh(f) * sigmoid(g)
                rs = z @ wo + bo
                h = h + rs[:, :c]
                skip = skip + rs[:, c:]
            logits = (np.maximum(np.maximum(skip, 0) @ w1 + b1, 0) @ w2 + b2) / temperature
            p = np.exp(logits - logits.max(1, keepdims=True)).cumsum(1)
            x = np.minimum((p < uu[:, t:t + 1] * p[:, -1:]).sum(1), MU)
            out[:, t] = x
        return torch.from_numpy(out).to(u.device)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options) -> torch.Tensor:
        """``n`` waveforms (n, length) in [-1, 1]."""
        labels = self.check_sample_args(n, labels, options)
        opts = self.check_sample_options(options)
        length = opts.get("length") or int(self.info.meta["sample_rate"])
        codes = self.generate_codes(n, length, labels, opts.get("temperature", 1.0), generator, opts.get("cache", True))
        return mu_law_decode(codes)

"""Restricted Boltzmann machine: an energy-based model trained by contrastive divergence, scored by
annealed importance sampling (AIS).

Two kinds of visible units (``model.visible``):

* ``bernoulli`` (binary pixels): ``E(v, h) = -b·v - c·h - v·W·h``; needs binary data
  (``--set data.binarize=dynamic`` or ``static``).
* ``gaussian`` (grey values in [0, 1], fixed ``model.sigma``):
  ``E(v, h) = |v - b|² / 2σ² - c·h - (v / σ)·W·h``; the likelihood is a density of the dequantised pixels,
  reported on the 8-bit scale like the GMM's and the flows' (density minus ``D log 256``).

Training: CD-k (``model.cd_k``) or persistent CD (``model.persistent=true``, Tieleman 2008) with
``model.persistent_chains`` fantasy particles that live on between updates (saved with the weights, so a
resumed run continues the same chains). The update is applied by the ordinary trainer as the gradient of
the surrogate loss ``mean F(v_data) - mean F(v_model)`` (``F`` the free energy, the model samples held fixed),
whose gradient is exactly the CD / PCD estimate of the negative log-likelihood gradient.

Likelihood: ``log p(v) = -F(v) - log Z``, with ``log Z`` estimated once per model by AIS (Salakhutdinov &
Murray 2008) along the path of RBMs with parameters ``(b_A + β (b - b_A), β W, β c)`` from a base model
with ``W = 0`` (visible biases ``b_A`` from the data's pixel means for Bernoulli units), vectorised over
chains. ``log Z`` is the log of the mean importance weight; its standard deviation comes from the delta
method, ``std(w) / (sqrt(chains) · mean(w))``. AIS is a stochastic *lower* bound on ``log Z`` in
expectation, so the reported NLL is, in expectation, optimistic by the AIS bias; the label of the estimate
says so ("AIS estimate ± std").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ModelConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...errors import ConfigError, DataError
from ...registry import register_model
from ..base import GenerativeModel, SampleOption

MAX_ENUMERATE = 20  # exact partition functions by enumeration: at most 2**20 configurations of one layer


@dataclass
class RBMConfig(ModelConfig):
    hidden: int = 500
    visible: str = "bernoulli"  # bernoulli | gaussian
    sigma: float = 0.2  # gaussian visibles: fixed standard deviation, in pixel units ([0, 1] scale)
    cd_k: int = 1  # Gibbs sweeps per update (CD-k; with persistent=true, sweeps of the persistent chains)
    persistent: bool = False  # persistent contrastive divergence (PCD)
    persistent_chains: int = 100  # fantasy particles for PCD
    init_std: float = 0.01
    sample_steps: int = 500  # Gibbs sweeps per sample (sample option `steps` overrides)
    ais_chains: int = 100
    ais_temperatures: int = 10_000
    ais_seed: int = 0

    def validate(self) -> None:
        if self.hidden < 1:
            raise ConfigError(f"model.hidden must be >= 1, got {self.hidden}")
        if self.visible not in ("bernoulli", "gaussian"):
            raise ConfigError(f"model.visible must be bernoulli or gaussian, got {self.visible!r}")
        if not self.sigma > 0:
            raise ConfigError(f"model.sigma must be > 0, got {self.sigma}")
        if self.cd_k < 1:
            raise ConfigError(f"model.cd_k must be >= 1, got {self.cd_k}")
        if self.persistent_chains < 1:
            raise ConfigError(f"model.persistent_chains must be >= 1, got {self.persistent_chains}")
        if self.sample_steps < 1:
            raise ConfigError(f"model.sample_steps must be >= 1, got {self.sample_steps}")
        if self.ais_chains < 2:
            raise ConfigError(f"model.ais_chains must be >= 2 (the error bar needs several chains), got {self.ais_chains}")
        if self.ais_temperatures < 2:
            raise ConfigError(f"model.ais_temperatures must be >= 2, got {self.ais_temperatures}")
        if self.hidden * max(self.ais_chains, self.persistent_chains) > 2e9:
            raise ConfigError("model.hidden x chains is too large to hold in memory")


class _EstimatorLabel:
    """``RBM.likelihood_estimator``: "AIS" on the class (the family tree); on a model, "AIS estimate ± std"
    with the standard deviation of its ``log Z`` estimate (computed on first use)."""

    def __get__(self, obj, cls=None) -> str:
        if obj is None:
            return "AIS"
        log_z, std = obj.log_partition()
        c = obj.config
        return (f"AIS estimate ± {std:.3g} nats (std of log Z = {log_z:.2f}; {c.ais_chains} chains x "
                f"{c.ais_temperatures} temperatures)")


def ais_schedule(n: int) -> torch.Tensor:
    """``n`` inverse temperatures from 0 to 1, spaced like Salakhutdinov & Murray's 14,500: 500 steps up to
    0.5, 4,000 up to 0.9, 10,000 up to 1 (in those proportions)."""
    a = max(1, round(n * 500 / 14500))
    b = max(1, round(n * 4000 / 14500))
    c = max(1, n - a - b)
    return torch.cat([torch.linspace(0, 0.5, a + 1)[:-1], torch.linspace(0.5, 0.9, b + 1)[:-1],
                      torch.linspace(0.9, 1.0, c)]).double()


@register_model
class RBM(GenerativeModel):
    name = "rbm"
    family = "classical"
    description = "Restricted Boltzmann machine (Bernoulli or Gaussian visibles): CD-k / PCD, Gibbs sampling, AIS likelihood"
    Config = RBMConfig
    modalities = ("image",)
    sample_options = (SampleOption("steps", int, None, "Gibbs sweeps from the base model (default: model.sample_steps)", min=1),)
    likelihood_estimator = _EstimatorLabel()
    train_defaults = {"lr": 1e-3}
    density = "approximate"

    def __init__(self, config: RBMConfig, info: DataInfo):
        super().__init__(config, info)
        d, h = math.prod(info.shape), config.hidden
        self.num_visible, self.gaussian = d, config.visible == "gaussian"
        self.W = nn.Parameter(torch.randn(d, h) * config.init_std)
        self.b = nn.Parameter(torch.zeros(d))  # visible biases (gaussian: means)
        self.c = nn.Parameter(torch.zeros(h))  # hidden biases
        self.register_buffer("base_bias", torch.zeros(d))  # AIS base model's visible biases (data pixel means)
        p = config.persistent_chains if config.persistent else 0
        self.register_buffer("chains", torch.zeros(p, d))
        self.register_buffer("chains_ready", torch.zeros((), dtype=torch.bool))
        self._log_z: tuple[float, float] | None = None

    @property
    def likelihood_data(self) -> str:
        """What the likelihood is of (genlab/eval/likelihood_runs.py): binary pixels, or dequantised 8-bit values."""
        return "dequantised" if self.gaussian else "binarised"

    # ------------------------------------------------------------------ energy and conditionals
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).to(self.W.dtype)

    def _vis_in(self, v: torch.Tensor) -> torch.Tensor:
        return v / self.config.sigma if self.gaussian else v

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """``F(v) = -log Σ_h exp(-E(v, h))`` for flat visibles (B, D)."""
        hidden = F.softplus(self._vis_in(v) @ self.W + self.c).sum(1)
        if self.gaussian:
            return ((v - self.b) ** 2).sum(1) / (2 * self.config.sigma ** 2) - hidden
        return -(v @ self.b) - hidden

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self._vis_in(v) @ self.W + self.c)

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """``E[v | h]``: Bernoulli probabilities, or the Gaussian mean."""
        if self.gaussian:
            return self.b + self.config.sigma * (h @ self.W.t())
        return torch.sigmoid(h @ self.W.t() + self.b)

    def _sample_visible(self, h: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.visible_mean(h)
        if self.gaussian:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            return mean + self.config.sigma * noise, mean
        return torch.bernoulli(mean, generator=generator), mean

    def gibbs(self, v: torch.Tensor, steps: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``steps`` sweeps v -> h -> v of every chain at once; returns the last visible sample and its mean."""
        mean = v
        for _ in range(steps):
            h = torch.bernoulli(self.hidden_probs(v), generator=generator)
            v, mean = self._sample_visible(h, generator)
        return v, mean

    # ------------------------------------------------------------------ training
    def _check_binary(self, x: torch.Tensor) -> None:
        if not self.gaussian and not ((x == 0) | (x == 1)).all():
            raise DataError("rbm with model.visible=bernoulli needs binary pixels, but the data has grey values: add "
                            "--set data.binarize=dynamic (or static), or use --set model.visible=gaussian")

    def on_train_start(self, data: TensorDataset) -> None:
        x = self._flat(data.all(device=self.W.device, limit=2000)["x"])
        self._check_binary(x)
        if not bool(self.chains_ready):  # first start, not a resume: data-dependent initial values
            with torch.no_grad():
                mean = x.mean(0)
                if self.gaussian:
                    self.b.copy_(mean)
                    self.base_bias.copy_(mean)
                else:
                    logit = torch.logit(mean.clamp(1e-3, 1 - 1e-3))
                    self.b.copy_(logit)
                    self.base_bias.copy_(logit)
                if self.config.persistent:
                    idx = torch.randint(0, len(x), (len(self.chains),), device=x.device)
                    self.chains.copy_(x[idx])
                self.chains_ready.fill_(True)

    def training_step(self, batch: Batch, step: int) -> dict:
        v0 = self._flat(batch["x"])
        with torch.no_grad():
            start = self.chains if self.config.persistent else v0
            vk, _ = self.gibbs(start, self.config.cd_k)
            if self.config.persistent:
                self.chains.copy_(vk)
            recon = self.visible_mean(self.hidden_probs(v0))
        loss = self.free_energy(v0).mean() - self.free_energy(vk).mean()
        self.optimize(loss)
        self._log_z = None
        return {"loss": loss.detach(), "recon_error": ((recon - v0) ** 2).sum(1).mean()}

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict:
        """Cheap held-out numbers (no AIS every epoch): reconstruction error and mean free energy."""
        v = self._flat(batch["x"])
        recon = self.visible_mean(self.hidden_probs(v))
        return {"recon_error": float(((recon - v) ** 2).sum(1).mean()), "free_energy": float(self.free_energy(v).mean())}

    def load_state_dict(self, *args, **kwargs):
        self._log_z = None
        return super().load_state_dict(*args, **kwargs)

    # ------------------------------------------------------------------ sampling
    def _initial_visible(self, n: int, generator=None) -> torch.Tensor:
        """Chain starts: the AIS base model (independent pixels with the data's means)."""
        base = self.base_bias.expand(n, -1)
        if self.gaussian:
            return base + self.config.sigma * torch.randn(base.shape, generator=generator, device=base.device)
        return torch.bernoulli(torch.sigmoid(base), generator=generator)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        """``n`` images after ``steps`` Gibbs sweeps (default ``model.sample_steps``) from the base model: the
        mean of the last visible conditional (Bernoulli probabilities; Gaussian means clamped to [0, 1])."""
        self.check_sample_args(n, labels, options)
        steps = options.get("steps") or self.config.sample_steps
        _, mean = self.gibbs(self._initial_visible(n, generator), steps, generator)
        return mean.clamp(0, 1).reshape(n, *self.info.shape)

    @torch.no_grad()
    def chain_snapshots(self, n: int = 10, sweeps: int = 1000, every: int = 100, generator=None) -> torch.Tensor:
        """Images of ``n`` Gibbs chains every ``every`` sweeps: (sweeps // every, n, C, H, W) visible means."""
        if every < 1 or sweeps < every:
            raise ConfigError(f"need 1 <= every <= sweeps, got every={every}, sweeps={sweeps}")
        v, shots = self._initial_visible(n, generator), []
        for _ in range(sweeps // every):
            v, mean = self.gibbs(v, every, generator)
            shots.append(mean.clamp(0, 1).reshape(n, *self.info.shape))
        return torch.stack(shots)

    @torch.no_grad()
    def filters(self, n: int = 100) -> torch.Tensor:
        """The first ``n`` hidden units' weights as images (N, C, H, W), each scaled to [0, 1]."""
        w = self.W[:, :n].t()
        lo, hi = w.min(1, keepdim=True).values, w.max(1, keepdim=True).values
        return ((w - lo) / (hi - lo).clamp_min(1e-12)).reshape(-1, *self.info.shape)

    def save_chain_picture(self, path, n: int = 10, sweeps: int = 1000, every: int = 100, seed: int = 0) -> None:
        """PNG: one row per snapshot (every ``every`` sweeps), one column per chain."""
        from ...outputs import save_image_grid

        shots = self.chain_snapshots(n, sweeps, every, torch.Generator(device=self.W.device).manual_seed(seed))
        save_image_grid(shots.flatten(0, 1), path, nrow=n)

    def save_filters_picture(self, path, n: int = 100) -> None:
        from ...outputs import save_image_grid

        save_image_grid(self.filters(n), path, nrow=math.ceil(math.sqrt(min(n, self.config.hidden))))

    # ------------------------------------------------------------------ partition function
    def _base_log_z(self) -> float:
        d, h = self.num_visible, self.config.hidden
        if self.gaussian:
            return 0.5 * d * math.log(2 * math.pi * self.config.sigma ** 2) + h * math.log(2)
        return float(F.softplus(self.base_bias.double()).sum()) + h * math.log(2)

    @torch.no_grad()
    def ais(self, chains: int | None = None, temperatures: int | None = None, seed: int | None = None) -> dict:
        """Annealed importance sampling estimate of ``log Z``: ``{"log_z", "log_z_std", "log_weights", ...}``.

        All chains advance together: per temperature two (chains x D) x (D x H) products, one Gibbs sweep.
        """
        c = self.config
        chains, temperatures = chains or c.ais_chains, temperatures or c.ais_temperatures
        gen = torch.Generator(device=self.W.device).manual_seed(c.ais_seed if seed is None else seed)
        betas = ais_schedule(temperatures).tolist()
        W, b, cb, base, s = self.W.detach(), self.b.detach(), self.c.detach(), self.base_bias, c.sigma
        db = b - base
        v = self._initial_visible(chains, gen)
        log_w = torch.zeros(chains, dtype=torch.float64, device=W.device)
        for k in range(1, len(betas)):
            prev, beta = betas[k - 1], betas[k]
            pre = self._vis_in(v) @ W + cb
            # log p*_beta(v) - log p*_prev(v) at the current state: hidden softplus terms and visible biases
            diff = F.softplus(beta * pre).sum(1) - F.softplus(prev * pre).sum(1)
            if self.gaussian:  # -(v - b_beta)^2 / 2 s^2 with b_beta = base + beta * db
                vis = ((v - base - prev * db) ** 2 - (v - base - beta * db) ** 2).sum(1) / (2 * s * s)
            else:
                vis = (beta - prev) * (v @ db)
            log_w += (diff + vis).double()
            # one Gibbs sweep that leaves the intermediate RBM at `beta` invariant
            h = torch.bernoulli(torch.sigmoid(beta * pre), generator=gen)
            if self.gaussian:
                mean = base + beta * db + s * beta * (h @ W.t())
                v = mean + s * torch.randn(mean.shape, generator=gen, device=mean.device)
            else:
                v = torch.bernoulli(torch.sigmoid(base + beta * db + beta * (h @ W.t())), generator=gen)
        m = log_w.max()
        w = (log_w - m).exp()
        log_z = self._base_log_z() + float(m + w.mean().log())
        std = float(w.std() / (math.sqrt(chains) * w.mean()))  # delta method: std of log(mean w)
        return {"log_z": log_z, "log_z_std": std, "chains": chains, "temperatures": len(betas),
                "log_weights": log_w.cpu(), "effective_sample_size": float(w.sum() ** 2 / (w ** 2).sum())}

    def log_partition(self) -> tuple[float, float]:
        """``(log Z, its std)`` by AIS with the model's settings, computed once and kept until the weights change."""
        if self._log_z is None:
            r = self.ais()
            self._log_z = (r["log_z"], r["log_z_std"])
        return self._log_z

    @torch.no_grad()
    def exact_log_partition(self) -> float:
        """``log Z`` by enumerating the smaller layer (at most 2**20 configurations) — for tests and tiny models."""
        d, h = self.num_visible, self.config.hidden
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        s = self.config.sigma
        if self.gaussian or h <= d:
            if h > MAX_ENUMERATE:
                raise ConfigError(f"exact log Z enumerates 2**{h} hidden states; at most {MAX_ENUMERATE} hidden units")

            def terms(hs):
                wh = hs @ W.t()
                if self.gaussian:  # v integrated out: a Gaussian with mean b + s W h
                    return hs @ c + (wh @ b) / s + 0.5 * (wh ** 2).sum(1)
                return hs @ c + F.softplus(wh + b).sum(1)

            const = 0.5 * d * math.log(2 * math.pi * s * s) if self.gaussian else 0.0
            return _logsumexp_over_states(h, terms, W.device) + const
        if d > MAX_ENUMERATE:
            raise ConfigError(f"exact log Z enumerates 2**{d} visible states; at most {MAX_ENUMERATE} visible units")
        return _logsumexp_over_states(d, lambda vs: vs @ b + F.softplus(vs @ W + c).sum(1), W.device)

    # ------------------------------------------------------------------ likelihood
    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        """``-F(v) - log Z`` per image (nats), ``log Z`` by AIS (see ``likelihood_estimator``). Gaussian
        visibles: density of the dequantised pixels minus ``D log 256`` (8-bit scale)."""
        v = self._flat(batch["x"])
        if self.gaussian:
            v = (v * 255 + torch.rand(v.shape, device=v.device)) / 256
            return -self.free_energy(v) - self.log_partition()[0] - self.num_visible * math.log(256)
        self._check_binary(v)
        return -self.free_energy(v) - self.log_partition()[0]


def _logsumexp_over_states(n: int, fn, device, chunk: int = 1 << 14) -> float:
    """``log Σ_s exp(fn(s))`` over all 2**n binary vectors ``s`` (float64), in chunks."""
    bits = torch.arange(n, device=device)
    parts = []
    for start in range(0, 2 ** n, chunk):
        idx = torch.arange(start, min(start + chunk, 2 ** n), device=device)
        parts.append(torch.logsumexp(fn(((idx[:, None] >> bits) & 1).double()), 0))
    return float(torch.logsumexp(torch.stack(parts), 0))

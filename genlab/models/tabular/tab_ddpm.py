"""TabDDPM (Kotelnikov et al. 2023): diffusion for mixed-type tables.

Numeric columns go through their empirical CDF to normal scores (a quantile transform; missing values get
the bottom ``p_missing`` of the unit interval, so they come back as missing) and are diffused like
``ddpm-mlp`` (any sampler). Categorical (one-hot) columns use multinomial diffusion (Hoogeboom et al.
2021): ``q(x_t | x_0) = Cat(abar_t x_0 + (1 - abar_t) / K)``; the network predicts ``x_0``'s distribution
and sampling draws from the posterior ``q(x_s | x_t, x_0)`` with that prediction plugged in. One MLP
denoises both parts; the loss is the numeric MSE plus the categorical per-step KL averaged over columns.

``--where`` conditions on categorical columns: by default (``conditioning=rejection``) rows are drawn
unconditionally and kept when they match, which is exact but costs ``1 / share`` rows per kept row (with
a clear error for too rare conditions). ``conditioning=inpaint`` overwrites the conditioned columns with
the noised condition after every step (replacement, as in ``ddpm.complete``): every row matches at the
cost of one draw, but the other columns only approximately follow the conditional distribution.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...data.base import Batch, DataInfo, TensorDataset
from ...errors import ConfigError
from ...registry import register_model
from .conditions import Condition
from .encoding import gumbel
from .marginals import EPS, Marginals
from .base import TabularModel
from ..diffusion.ddpm import DiffusionConfig, GaussianDiffusion, sampling_plan
from ..diffusion.denoisers import MLPDenoiser
from ..diffusion.schedules import NoiseSchedule, target, to_x0_eps


BATCH_ELEMENTS = 1 << 21  # rows x network inputs denoised at a time
SCORE_CLIP = 5.0  # normal scores lie within ndtri(EPS) = -4.75 .. 4.75; clean estimates are clamped here


@dataclass
class TabDDPMConfig(DiffusionConfig):
    schedule: str = "cosine"
    sampler: str = "ddpm"  # for the numeric part; the categorical part is always ancestral
    sample_steps: int = 100
    hidden: int = 256
    depth: int = 3
    dropout: float = 0.0
    n_quantiles: int = 1000  # knots of each numeric column's empirical CDF
    conditioning: str = "rejection"  # rejection (exact) | inpaint (approximate, any share)

    def validate(self) -> None:
        super().validate()
        if self.conditioning not in ("rejection", "inpaint"):
            raise ConfigError(f"model.conditioning must be rejection or inpaint, got {self.conditioning!r}")
        if self.conditional:
            raise ConfigError("tab-ddpm has no class conditioning; condition samples with --where instead")
        check_table_diffusion(self)  # DiffusionConfig checked the schedule and steps; this the network's sizes


class Categories(nn.Module):
    """Flat layout of the one-hot columns: entry ``e`` belongs to segment ``seg[e]`` of size ``k[e]``
    (buffers derived from the schema, not saved). For softmax and argmax the entries are reordered so
    that segments of equal size lie side by side (``perm``); each such group is a dense (B, segments,
    size) view, so the work is a few dense ops per group (one group per distinct size) instead of
    scatter/gather over every entry."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        self.n = len(sizes)
        sz = torch.tensor(sizes, dtype=torch.long)
        seg = torch.repeat_interleave(torch.arange(self.n), sz)
        start = torch.cumsum(sz, 0) - sz
        order = torch.argsort(sz, stable=True)  # segments grouped by size
        perm = torch.cat([start[i] + torch.arange(sizes[i]) for i in order.tolist()]) if sizes else seg
        self.groups = []  # (first entry in perm order, segments, size) per distinct size
        offset = 0
        for size, count in zip(*torch.unique_consecutive(sz[order], return_counts=True)):
            self.groups.append((offset, int(count), int(size)))
            offset += int(count * size)
        for name, value in (("seg", seg), ("start", start), ("k", sz[seg].float()), ("perm", perm),
                            ("unperm", torch.argsort(perm)), ("order", order), ("unorder", torch.argsort(order))):
            self.register_buffer(name, value, persistent=False)

    def _views(self, v: torch.Tensor) -> list[torch.Tensor]:
        """``v`` (B, S) reordered by size, as one (B, segments, size) view per group."""
        w = v.index_select(1, self.perm)
        return [w[:, o : o + g * k].view(len(v), g, k) for o, g, k in self.groups]

    def onehot(self, codes: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(codes), len(self.seg), device=codes.device)
        return out.scatter_(1, self.start + codes.long(), 1.0)

    def log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        out = [view.log_softmax(-1).flatten(1) for view in self._views(logits)]
        return torch.cat(out, 1).index_select(1, self.unperm) if out else logits

    def draw(self, logp: torch.Tensor, generator=None) -> torch.Tensor:
        """One code per segment from log-probabilities (Gumbel-max; ties go to the first)."""
        codes = [view.argmax(-1) for view in self._views(logp + gumbel(logp.shape, logp.device, generator))]
        return torch.cat(codes, 1).index_select(1, self.unorder) if codes else logp.new_zeros(len(logp), 0, dtype=torch.long)

    def step(self, logits: torch.Tensor, codes: torch.Tensor, ab_t: float, ab_s: float, generator=None) -> torch.Tensor:
        """Codes x_s drawn from ``q(x_s | x_t = codes, x_0 ~ softmax(logits))`` (the :meth:`posterior`),
        for scalar ``abar``s: per group, the posterior weights ``(ab_s p0 + (1 - ab_s) / k) ((1 - a) / k +
        a [e = x_t])`` and one uniform per segment against their cumulative sum (inverse CDF)."""
        a = float(ab_t) / float(ab_s)
        if a >= 1:  # no noise between s and t
            return codes.clone()
        u = torch.rand(codes.shape, generator=generator, device=codes.device)
        grouped = codes.index_select(1, self.order)
        out, at = [], 0
        for view, (_, g, k) in zip(self._views(logits), self.groups):
            x_t = grouped[:, at : at + g, None]
            w = view.softmax(-1).mul_(ab_s).add_((1 - ab_s) / k)  # q(x_s | x_0), x_0 ~ p0
            w.scatter_(-1, x_t, w.gather(-1, x_t) * (1 + a * k / (1 - a)))  # times (1 - a) / k: a constant
            cum = w.cumsum_(-1)
            pick = (cum < u[:, at : at + g, None] * cum[:, :, -1:]).sum(-1)
            out.append(pick.clamp_max_(k - 1))
            at += g
        return torch.cat(out, 1).index_select(1, self.unorder) if out else codes

    def noised(self, p0: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
        """log q(x_t | x_0) for (B, S) probabilities ``p0`` of x_0 and (B, 1) ``abar_t``."""
        return torch.log(abar * p0 + (1 - abar) / self.k)

    def posterior(self, xt: torch.Tensor, p0: torch.Tensor, ab_t: torch.Tensor, ab_s: torch.Tensor) -> torch.Tensor:
        """log q(x_s | x_t, x_0) for one-hot ``x_t``, probabilities ``p0`` of x_0 and (B, 1) ``abar``s (s < t)."""
        a = ab_t / ab_s
        return self.log_softmax(torch.log(a * xt + (1 - a) / self.k) + self.noised(p0, ab_s))


def check_table_diffusion(c) -> None:
    """The diffusion settings a table diffusion model's config holds (``tab-ddpm``, ``audience-ddpm``)."""
    from ..diffusion.samplers import SAMPLERS
    from ..diffusion.schedules import PREDICTIONS, SCHEDULES

    for key, ok, rule in (("timesteps", c.timesteps >= 2, ">= 2"),
                          ("schedule", c.schedule in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
                          ("prediction", c.prediction in PREDICTIONS, f"one of {', '.join(PREDICTIONS)}"),
                          ("sampler", c.sampler in SAMPLERS, f"one of {', '.join(SAMPLERS)}"),
                          ("sample_steps", 1 <= c.sample_steps <= c.timesteps, f"between 1 and model.timesteps={c.timesteps}"),
                          ("eta", c.eta >= 0, ">= 0")):
        if not ok:
            raise ConfigError(f"model.{key} must be {rule}, got {getattr(c, key)!r}")
    if c.hidden < 1 or c.depth < 1 or c.n_quantiles < 2 or not 0 <= c.dropout < 1:
        raise ConfigError("model.hidden, model.depth must be >= 1, model.n_quantiles >= 2, model.dropout in [0, 1)")


class TableDiffusion:
    """The diffusion of TabDDPM over a table's code rows, for a model with ``schema`` and a ``config`` holding
    the fields :func:`check_table_diffusion` checks; an optional per-row condition vector (``ctx_dim``
    numbers, e.g. an item's context) is appended to the denoiser's input."""

    def setup_diffusion(self, config, schema, ctx_dim: int = 0) -> None:
        self.marginals = Marginals(schema, config.n_quantiles)
        self.register_buffer("fitted", torch.tensor(False))
        self.schedule = NoiseSchedule(config.schedule, config.timesteps)
        self.num_cols, self.cat_cols = self.marginals.mode_cols, self.marginals.onehot_cols
        self.cats = Categories([schema.columns[j].n_codes for j in self.cat_cols])
        d = len(self.num_cols) + len(self.cats.seg)
        self.net = MLPDenoiser(d + ctx_dim, config.hidden, config.depth, dropout=config.dropout, out_dim=d)
        self._options: dict = {}  # sampling options of the current sample() call, for _draw

    def fit_marginals(self, data: TensorDataset) -> None:
        if not bool(self.fitted):
            self.marginals.fit(data.tensors["x"])
            self.fitted.fill_(True)

    def to_scores(self, codes: torch.Tensor) -> torch.Tensor:
        """Numeric columns of (B, C) codes -> (B, M) normal scores through the empirical CDF; ties and
        missing values are spread uniformly over their share of the unit interval."""
        x = codes[:, self.num_cols].double()
        if not self.num_cols:
            return x.float()
        knots = self.marginals.knots  # (M, Q)
        q = knots.shape[1]
        miss = torch.isnan(x)
        xs = torch.where(miss, knots[:, :1].T, x).T.contiguous()  # (M, B)
        lo = torch.searchsorted(knots, xs, right=False).T  # knots below x
        hi = torch.searchsorted(knots, xs, right=True).T  # knots at or below x
        i = (hi - 1).clamp(0, q - 2)
        k0, k1 = knots.T.gather(0, i), knots.T.gather(0, i + 1)
        width = k1 - k0
        frac = torch.where(width > 0, (x - k0) / torch.where(width > 0, width, 1.0), 0.0).clamp(0, 1)
        jitter = torch.rand(x.shape, dtype=torch.float64, device=x.device)
        t = torch.where(hi > lo, lo + jitter * (hi - 1 - lo).clamp_min(0), i + frac)  # ties: spread over them
        p = self.marginals.p_missing
        u = torch.where(miss, jitter * p, p + (1 - p) * t / (q - 1))
        return torch.special.ndtri(u.clamp(EPS, 1 - EPS)).float()

    def from_scores(self, z: torch.Tensor, cat_codes: torch.Tensor) -> torch.Tensor:
        u = torch.full((len(z), len(self.schema.columns)), 0.5, dtype=torch.float64, device=z.device)
        u[:, self.num_cols] = torch.special.ndtr(z.double()).clamp(EPS, 1 - EPS)
        codes = self.marginals.from_uniform(u)
        codes[:, self.cat_cols] = cat_codes.double()
        return codes

    # ------------------------------------------------------------------ training
    def _loss(self, codes: torch.Tensor, ctx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = len(self.num_cols)
        x0 = self.to_scores(codes)
        t = torch.randint(0, self.config.timesteps, (len(codes),), device=codes.device)
        noise = torch.randn_like(x0)
        alpha, sigma = self.schedule.alpha_sigma(t, 2)
        ab_t, ab_s = self.schedule.abar(t)[:, None], self.schedule.abar(t - 1)[:, None]
        c0 = self.cats.onehot(codes[:, self.cat_cols])
        ct = self.cats.onehot(self.cats.draw(self.cats.noised(c0, ab_t)))
        out = self.net(torch.cat([alpha * x0 + sigma * noise, ct] + ([ctx] if ctx is not None else []), 1), t)
        mse = F.mse_loss(out[:, :m], target(self.config.prediction, x0, noise, alpha, sigma)) if m else out.new_zeros(())
        kl = out.new_zeros(())
        if self.cats.n:
            p0_hat = self.cats.log_softmax(out[:, m:]).exp()
            lq = self.cats.posterior(ct, c0, ab_t, ab_s)  # at t = 0 (ab_s = 1): the one-hot x_0
            lp = self.cats.posterior(ct, p0_hat, ab_t, ab_s)
            q = lq.exp()
            kl = torch.where(q > 0, q * (lq - lp), 0.0).sum(1).mean() / self.cats.n
        return mse + kl, mse, kl

    def draw_rows(self, n: int, conds: list[Condition], generator=None, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` rows (one per row of ``ctx`` when given), denoised in batches of about ``BATCH_ELEMENTS`` network
        inputs (wide tables: a few hundred rows), so that the 100 steps work on tensors that stay in the CPU cache."""
        rows = max(64, BATCH_ELEMENTS // (len(self.num_cols) + len(self.cats.seg) + (0 if ctx is None else ctx.shape[1])))
        if n <= rows:
            return self._draw_batch(n, conds, generator, ctx)
        return torch.cat([self._draw_batch(min(rows, n - i), conds, generator, None if ctx is None else ctx[i: i + rows])
                          for i in range(0, n, rows)])

    def _draw_batch(self, n: int, conds: list[Condition], generator=None,
                    ctx: torch.Tensor | None = None) -> torch.Tensor:
        steps, sampler, _ = sampling_plan(self.config, self.schedule, self._options, False, self.name)
        m, dev = len(self.num_cols), self.device
        fixed = torch.zeros(len(self.cat_cols), dtype=torch.bool, device=dev)
        value = torch.zeros(len(self.cat_cols), dtype=torch.long, device=dev)
        for c in conds:
            i = self.cat_cols.index(c.column)
            fixed[i], value[i] = True, c.code
        c0 = self.cats.onehot(value.expand(n, -1))
        uniform = torch.zeros(n, len(self.cats.seg), device=dev)
        state = {"codes": self.cats.draw(uniform, generator), "t": None, "logits": None}

        def impose(codes: torch.Tensor, s: int) -> torch.Tensor:
            if not fixed.any():
                return codes
            known = value.expand(n, -1) if s < 0 else self.cats.draw(self.cats.noised(c0, self.schedule.abar(s)), generator)
            return torch.where(fixed, known, codes)

        state["codes"] = impose(state["codes"], steps[0])

        def denoise(x: torch.Tensor, t: int):
            tt = torch.full((n,), t, dtype=torch.long, device=dev)
            out = self.net(torch.cat([x, self.cats.onehot(state["codes"])] + ([ctx] if ctx is not None else []), 1), tt)
            state["t"], state["logits"] = t, out[:, m:]
            alpha, sigma = self.schedule.alpha_sigma(t, 2)
            return to_x0_eps(self.config.prediction, out[:, :m], x, alpha, sigma, clip=SCORE_CLIP)

        def step_categories(x: torch.Tensor, s: int) -> torch.Tensor:
            if self.cats.n:
                ab_t, ab_s = self.schedule.abar(state["t"]), self.schedule.abar(s)
                state["codes"] = impose(self.cats.step(state["logits"], state["codes"], ab_t, ab_s, generator), s)
            return x

        z = torch.randn(n, m, generator=generator, device=dev)
        z = sampler(denoise, z, steps, self.schedule, generator, on_step=step_categories)
        return self.from_scores(z, state["codes"])


@register_model
class TabDDPM(TableDiffusion, TabularModel):
    name = "tab-ddpm"
    description = "TabDDPM: Gaussian diffusion on quantile-normalised numbers + multinomial diffusion on categories"
    Config = TabDDPMConfig
    sample_options = TabularModel.sample_options + tuple(
        o for o in GaussianDiffusion.sample_options if o.name != "guidance")

    @property
    def native_conditions(self) -> int:  # conditions _draw meets itself (by inpainting)
        return 1 << 30 if self.config.conditioning == "inpaint" else 0

    def __init__(self, config: TabDDPMConfig, info: DataInfo):
        super().__init__(config, info)
        self.setup_diffusion(config, self.schema)

    def on_train_start(self, data: TensorDataset) -> None:
        self.fit_marginals(data)

    def training_step(self, batch: Batch, step: int) -> dict:
        loss, mse, kl = self._loss(batch["x"])
        self.optimize(loss)
        return {"loss": loss.detach(), "mse": mse.detach(), "kl_cat": kl.detach()}

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict[str, float]:
        loss, mse, kl = self._loss(batch["x"])
        return {"loss": float(loss), "mse": float(mse), "kl_cat": float(kl)}

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, where=None, **options):
        """``n`` records as a DataFrame; ``where`` conditions, ``steps`` / ``sampler`` / ``eta`` as for ddpm."""
        self.check_sample_args(n, labels, {"where": where, **options})
        sampling_plan(self.config, self.schedule, options, False, self.name)  # bad options fail first
        self._options = options
        try:
            return super().sample(n, labels, generator, where)
        finally:
            self._options = {}

    def _draw(self, n: int, conds: list[Condition], generator=None) -> torch.Tensor:
        return self.draw_rows(n, conds, generator)

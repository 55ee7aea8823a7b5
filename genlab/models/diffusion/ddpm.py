"""Denoising diffusion (Ho et al. 2020, "Denoising diffusion probabilistic models").

Training: draw a step ``t``, noise the data to ``x_t = alpha_t x0 + sigma_t eps`` and regress the network
output on the noise (``prediction=epsilon``), the clean data (``x0``) or ``v = alpha_t eps - sigma_t x0``
(Salimans & Ho 2022) with a mean squared error. Sampling runs one of the samplers in ``samplers.py``.

With ``conditional=true`` the label is dropped (replaced by a "no label" token) with probability
``p_uncond``, so the same network gives conditional and unconditional predictions and sampling can use
classifier-free guidance (Ho & Salimans 2021): ``out = out_uncond + guidance (out_cond - out_uncond)``
(``guidance = 1``: plain conditional sampling; larger values trade diversity for class fidelity).

``log_likelihood`` is the variational bound (Ho et al. 2020, eq. 5) in nats: prior KL + sum of the
per-step KL terms + a discretised Gaussian decoder on 8-bit pixels, with the reverse variances fixed to the
posterior ones. The sum over steps is estimated without bias by stratified sampling of ``nll_timesteps``
steps (``nll_timesteps = timesteps - 1`` evaluates every term).

:class:`GaussianDiffusion` holds everything but the network and the data scaling; :class:`DDPM` is the
image model with a U-Net; ``ddpm_mlp.py`` has the vector model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ModelConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError, DataError
from .unet import UNet
from ...registry import register_model
from ..base import GenerativeModel, SampleOption
from .samplers import SAMPLERS, make_sampler
from .schedules import PREDICTIONS, SCHEDULES, NoiseSchedule, target, to_x0_eps


@dataclass
class DiffusionConfig(ModelConfig):
    timesteps: int = 1000
    schedule: str = "linear"  # linear | cosine
    prediction: str = "epsilon"  # epsilon | x0 | v
    sampler: str = "ddim"  # default sampler: ddpm | ddim | dpm++
    sample_steps: int = 50  # default number of sampling steps
    eta: float = 0.0  # DDIM noise: 0 deterministic, 1 = ancestral DDPM
    conditional: bool = False
    p_uncond: float = 0.1  # label dropout for classifier-free guidance
    guidance: float = 1.0  # default guidance scale of conditional models
    nll_timesteps: int = 10  # steps per example in the stratified estimate of the bound
    sample_batch_size: int = 256  # samples denoised at once

    def validate(self) -> None:
        if self.timesteps < 2:
            raise ConfigError(f"model.timesteps must be >= 2, got {self.timesteps}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"model.schedule must be {' or '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.prediction not in PREDICTIONS:
            raise ConfigError(f"model.prediction must be one of {', '.join(PREDICTIONS)}, got {self.prediction!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"model.sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if not 1 <= self.sample_steps <= self.timesteps:
            raise ConfigError(f"model.sample_steps must be between 1 and model.timesteps={self.timesteps}, got {self.sample_steps}")
        if self.eta < 0:
            raise ConfigError(f"model.eta must be >= 0, got {self.eta}")
        if not 0 <= self.p_uncond < 1:
            raise ConfigError(f"model.p_uncond must be in [0, 1), got {self.p_uncond}")
        if self.guidance < 0:
            raise ConfigError(f"model.guidance must be >= 0, got {self.guidance}")
        if self.nll_timesteps < 1 or self.sample_batch_size < 1:
            raise ConfigError("model.nll_timesteps and model.sample_batch_size must be >= 1")


@dataclass
class DDPMConfig(DiffusionConfig):
    width: int = 32  # channels of the first U-Net level
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 2])  # one U-Net level each
    num_res_blocks: int = 1
    attn_max_size: int = 8  # self-attention at levels at most this many pixels wide
    dropout: float = 0.0

    def validate(self) -> None:
        super().validate()
        if self.width < 8 or self.width % 8:
            raise ConfigError(f"model.width must be a multiple of 8 (group norm), got {self.width}")
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise ConfigError(f"model.channel_mult must be a non-empty list of positive integers, got {self.channel_mult}")
        if self.num_res_blocks < 1 or not 0 <= self.dropout < 1:
            raise ConfigError("model.num_res_blocks must be >= 1 and model.dropout in [0, 1)")


def sampling_plan(c: DiffusionConfig, schedule: NoiseSchedule, options: dict, conditional: bool, name: str):
    """``(time steps, sampler, guidance)`` from the sampling options (``steps``, ``sampler``, ``guidance``,
    ``eta``) and the config's defaults, or a ConfigError naming the bad option."""
    steps = c.sample_steps if options.get("steps") is None else options["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= c.timesteps:
        raise ConfigError(f"steps must be an integer between 1 and {c.timesteps} (the number of time steps "
                          f"this model was trained with), got {steps!r}")
    sampler_name = options.get("sampler") or c.sampler
    if sampler_name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {sampler_name!r}; choose one of {', '.join(SAMPLERS)}")
    guidance = options.get("guidance")
    if guidance is not None and not conditional:
        raise ConfigError(f"guidance needs a class-conditional model (trained with model.conditional=true); "
                          f"model {name!r} in this run is unconditional: drop --guidance")
    guidance = getattr(c, "guidance", 1.0) if guidance is None else float(guidance)  # models without guidance: 1
    if guidance < 0:
        raise ConfigError(f"guidance must be >= 0 (1 = no guidance), got {guidance}")
    eta = c.eta if options.get("eta") is None else float(options["eta"])
    if eta < 0:
        raise ConfigError(f"eta must be >= 0, got {eta}")
    sampler = make_sampler(sampler_name, eta)
    return sampler.timesteps(schedule, steps), sampler, guidance


class GaussianDiffusion(GenerativeModel):
    """Objective, samplers, guidance, bound and inpainting; subclasses give ``net`` and the data scaling."""

    family = "diffusion"
    Config = DiffusionConfig
    likelihood_estimator = "elbo"
    sample_options = (
        SampleOption("steps", int, help="denoising steps, between 1 and model.timesteps (default model.sample_steps)"),
        SampleOption("sampler", str, help="reverse process (default model.sampler)", choices=tuple(SAMPLERS)),
        SampleOption("guidance", float, help="classifier-free guidance scale of conditional models (1: none)", min=0),
        SampleOption("eta", float, help="DDIM noise: 0 deterministic, 1 ancestral (default model.eta)", min=0),
    )
    clip: float | None = None  # clamp clean estimates to [-clip, clip] in model space

    def __init__(self, config: DiffusionConfig, info: DataInfo):
        super().__init__(config, info)
        if config.conditional and info.num_classes < 2:
            raise ConfigError(f"model.conditional=true needs labelled data; {info.name or 'this dataset'} has no labels")
        self.schedule = NoiseSchedule(config.schedule, config.timesteps)
        self.num_labels = info.num_classes if config.conditional else 0

    # ------------------------------------------------------------------ data scaling (subclasses)
    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decoder_log_likelihood(self, x0: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """log p(data | x at step 0) per example, in nats of the data (not model) space."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training
    def _labels(self, batch: Batch) -> torch.Tensor | None:
        if not self.num_labels:
            return None
        if "y" not in batch:
            raise DataError("model.conditional=true but the batches have no labels")
        return batch["y"]

    def training_step(self, batch: Batch, step: int) -> dict:
        x0 = self.to_model(batch["x"])
        y = self._labels(batch)
        if y is not None and self.config.p_uncond > 0:
            drop = torch.rand(len(y), device=y.device) < self.config.p_uncond
            y = torch.where(drop, torch.full_like(y, self.num_labels), y)
        t = torch.randint(0, self.config.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        alpha, sigma = self.schedule.alpha_sigma(t, x0.dim())
        out = self.net(alpha * x0 + sigma * noise, t, y)
        loss = F.mse_loss(out, target(self.config.prediction, x0, noise, alpha, sigma))
        self.optimize(loss)
        return {"loss": loss.detach()}

    # ------------------------------------------------------------------ denoising
    def denoiser(self, labels: torch.Tensor | None = None, guidance: float = 1.0):
        """``denoise(x_t, t) -> (x0, eps)`` for the samplers, with classifier-free guidance when
        ``labels`` are given and ``guidance != 1``."""
        guided = labels is not None and guidance != 1.0

        def denoise(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
            tt = torch.full((len(x),), t, dtype=torch.long, device=x.device)
            if guided:
                null = torch.full_like(labels, self.num_labels)
                cond, unc = self.net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, null])).chunk(2)
                out = unc + guidance * (cond - unc)
            else:
                out = self.net(x, tt, labels)
            alpha, sigma = self.schedule.alpha_sigma(t, x.dim())
            return to_x0_eps(self.config.prediction, out, x, alpha, sigma, self.clip)

        return denoise

    def _sampling_options(self, options: dict):
        return sampling_plan(self.config, self.schedule, options, self.conditional, self.name)

    def _run(self, n: int, labels, generator, options: dict, on_step=None) -> torch.Tensor:
        steps, sampler, guidance = self._sampling_options(options)
        x = torch.randn((n, *self.info.shape), generator=generator, device=self.device)
        return sampler(self.denoiser(labels, guidance), x, steps, self.schedule, generator, on_step)

    def _chunked(self, n: int, fn) -> torch.Tensor:
        """``fn(start, stop)`` over chunks of ``model.sample_batch_size``, concatenated."""
        size = self.config.sample_batch_size
        return torch.cat([fn(s, min(s + size, n)) for s in range(0, n, size)])

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        """``n`` samples; options ``steps``, ``sampler`` (ddpm | ddim | dpm++), ``guidance``, ``eta``."""
        labels = self.check_sample_args(n, labels, options)
        self._sampling_options(options)  # report bad options before any work
        if self.conditional and labels is None:
            labels = torch.randint(self.num_labels, (n,), generator=generator, device=self.device)
        return self.from_model(self._chunked(
            n, lambda a, b: self._run(b - a, None if labels is None else labels[a:b], generator, options)))

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, n: int = 1, generator: torch.Generator | None = None,
                 labels: torch.Tensor | None = None, **options) -> torch.Tensor:
        """Inpainting by replacement (Song et al. 2021; RePaint without resampling, Lugmayr et al. 2022):
        after every sampler step the known part is overwritten by the data noised to the new step.

        The contract of ``genlab.masks``: ``x`` (B, ...) examples in the data's range (one example without
        the batch dimension is accepted too), ``mask`` True where values are covered (to generate),
        broadcastable to ``x`` (e.g. (H, W) for images); ``labels`` one per example. Returns
        (B, n, ...): ``n`` completions per example that keep every uncovered value of ``x``. Sampling
        options as in :meth:`sample`.
        """
        from ...masks import check_mask

        x, mask = _completion_inputs(x, mask, self.info.shape, self.device)
        check_mask(mask.expand_as(x)[0])
        labels = self.check_sample_args(len(x), labels, options)
        self._sampling_options(options)
        b = len(x)
        known = self.to_model(x).repeat_interleave(n, 0)
        keep = (~mask).expand_as(x).repeat_interleave(n, 0)
        if self.conditional and labels is None:
            labels = torch.randint(self.num_labels, (b,), generator=generator, device=self.device)
        labels = None if labels is None else labels.repeat_interleave(n, 0)

        def fill(a: int, z: int) -> torch.Tensor:
            k, kp = known[a:z], keep[a:z]

            def paste(xs: torch.Tensor, s: int) -> torch.Tensor:
                if s < 0:
                    return torch.where(kp, k, xs)
                noise = torch.randn(xs.shape, generator=generator, device=xs.device)
                return torch.where(kp, self.schedule.add_noise(k, torch.tensor(s, device=xs.device), noise), xs)

            return self._run(z - a, None if labels is None else labels[a:z], generator, options, on_step=paste)

        out = torch.where(keep, x.repeat_interleave(n, 0), self.from_model(self._chunked(len(known), fill)))
        return out.reshape(b, n, *self.info.shape)

    # ------------------------------------------------------------------ likelihood
    @torch.no_grad()
    def log_likelihood(self, batch: Batch, timesteps: int | None = None) -> torch.Tensor:
        """Variational lower bound on log p(x) per example, in nats; ``timesteps`` terms per example
        (default ``model.nll_timesteps``; ``timesteps - 1`` evaluates every term exactly)."""
        x0 = self.to_model(batch["x"])
        y = self._labels(batch)
        n, T = len(x0), self.config.timesteps
        ab = self.schedule.abar(T - 1)
        prior = 0.5 * (ab * x0.square() - ab - torch.log1p(-ab)).flatten(1).sum(1)
        k = min(timesteps or self.config.nll_timesteps, T - 1)
        edges = torch.linspace(1, T, k + 1).round().long().tolist()
        steps_kl = torch.zeros(n, device=x0.device)
        for lo, hi in zip(edges[:-1], edges[1:]):  # one step per stratum, weighted by the stratum's size
            t = torch.randint(lo, hi, (n,), device=x0.device)
            xt = self.schedule.add_noise(x0, t, torch.randn_like(x0))
            x0_hat = self._clean_estimate(xt, t, y)
            mean_q, var = self.schedule.posterior(x0, xt, t)
            mean_p, _ = self.schedule.posterior(x0_hat, xt, t)
            steps_kl += (hi - lo) * ((mean_q - mean_p).square() / (2 * var)).flatten(1).sum(1)
        x1 = self.schedule.add_noise(x0, torch.zeros(n, dtype=torch.long, device=x0.device), torch.randn_like(x0))
        x0_hat = self._clean_estimate(x1, torch.zeros(n, dtype=torch.long, device=x0.device), y)
        one = torch.ones((), dtype=torch.long, device=x0.device)
        std = self.schedule.posterior(x0[:1], x0[:1], one)[1].sqrt()  # Ho et al.: decoder variance of step 1
        return self.decoder_log_likelihood(x0, x0_hat, std) - prior - steps_kl

    def _clean_estimate(self, xt: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Clean estimates for per-example steps ``t``."""
        out = self.net(xt, t, y)
        alpha, sigma = self.schedule.alpha_sigma(t, xt.dim())
        return to_x0_eps(self.config.prediction, out, xt, alpha, sigma, self.clip)[0]

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict[str, float]:
        ll = self.log_likelihood(batch)
        out = {"nll": float(-ll.mean())}
        if self.info.modality == "image":
            out["bits_per_dim"] = float(-ll.mean() / (math.prod(self.info.shape) * math.log(2)))
        return out


def discretised_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log P(x) per element for 8-bit data scaled to [-1, 1] (bin centres ``2 v / 255 - 1``): the mass of
    N(mean, std^2) on the bin ``x +- 1/255``, with the outer bins extended to infinity."""
    half = 1.0 / 255
    z_hi, z_lo = (x + half - mean) / std, (x - half - mean) / std
    lower_edge = torch.special.log_ndtr(z_hi)  # bin of v = 0: (-inf, x + half]
    upper_edge = torch.special.log_ndtr(-z_lo)  # bin of v = 255: [x - half, inf)
    inner = torch.log((torch.special.ndtr(z_hi) - torch.special.ndtr(z_lo)).clamp_min(1e-12))
    return torch.where(x < -1 + half, lower_edge, torch.where(x > 1 - half, upper_edge, inner))


def _completion_inputs(x: torch.Tensor, mask: torch.Tensor, shape: tuple, device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(x, device=device).float()
    if tuple(x.shape) == tuple(shape):
        x = x[None]
    if tuple(x.shape[1:]) != tuple(shape):
        raise ConfigError(f"input to complete has shape {tuple(x.shape)}; this model works on {tuple(shape)}")
    mask = torch.as_tensor(mask, device=device).bool()
    while mask.dim() < x.dim():
        mask = mask[None]
    try:
        torch.broadcast_shapes(mask.shape, x.shape)
    except RuntimeError:
        raise ConfigError(f"mask of shape {tuple(mask.shape)} does not fit inputs of shape {tuple(x.shape)}") from None
    return x, mask


@register_model
class DDPM(GaussianDiffusion):
    name = "ddpm"
    description = "Denoising diffusion with a U-Net: eps/x0/v prediction, DDPM/DDIM/DPM-Solver++ sampling, guidance"
    Config = DDPMConfig
    modalities = ("image",)
    clip = 1.0

    def __init__(self, config: DDPMConfig, info: DataInfo):
        super().__init__(config, info)
        c, h, w = info.shape
        levels = len(config.channel_mult)
        if h != w or h % 2 ** (levels - 1):
            raise ConfigError(f"the U-Net halves square images {levels - 1} times (model.channel_mult has {levels} "
                              f"levels), so the size must be divisible by {2 ** (levels - 1)}; got {h}x{w}. "
                              f"Use fewer levels or set data.image_size")
        self.net = UNet(c, c, h, config.width, config.channel_mult, config.num_res_blocks, config.attn_max_size,
                        config.dropout, self.num_labels)

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1)

    def training_step(self, batch: Batch, step: int) -> dict:
        if step == 0 and (batch["x"].min() < 0 or batch["x"].max() > 1):
            raise DataError("ddpm needs images in [0, 1]")
        return super().training_step(batch, step)

    def decoder_log_likelihood(self, x0, mean, std):
        x0 = ((x0 + 1) * 127.5).round() / 127.5 - 1  # on the bin centres
        return discretised_gaussian_log_likelihood(x0, mean, std).flatten(1).sum(1)

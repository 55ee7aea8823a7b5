"""One GAN implementation; the variants (``dcgan``, ``wgan-gp``, ``hinge-sn``, ``mgan``, ...) are this
class with other defaults (see ``variants.py``).

Each training step updates the discriminator (critic) on one real batch; every ``d_steps``-th step also
updates the generator, so every critic update sees fresh real data (``train.max_steps`` counts critic
updates; on steps that update both, one generator forward serves both updates). The adversarial loss is chosen by
name (``losses.py``); regularisers and remedies are switched on by config fields. Logged every step:
``loss_d``, ``loss_g``, ``d_real`` / ``d_fake`` (mean D(x), D(G(z)): probabilities for the minimax and
non-saturating losses, raw outputs otherwise), ``wdist`` (the Wasserstein estimate, Wasserstein losses),
``d_acc``, ``diversity`` (see ``health.py``) and ``gnorm_d`` / ``gnorm_g`` (gradient norms; the trainer
logs ``grad_norm/*`` instead when ``train.grad_clip`` is set). The losses are logged every step (the trainer
stops on a non-finite one); the other numbers are diagnostics, measured every ``train.log_every // 10``-th
step (every 5th by default), so that each logged line averages about ten of them and small networks do not
spend 6% of their step on them (the quickstart's DCGAN).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ...config import ModelConfig, TrainConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from ...nn.blocks import normal_init_
from .networks import Discriminator, DOut, Generator
from ..base import GenerativeModel
from . import losses
from .health import HealthMonitor, discriminator_accuracy, diversity_ratio

NORMS = ("batch", "group", "none")


@dataclass
class GANConfig(ModelConfig):
    arch: str = "auto"  # mlp | conv | auto (conv for images, mlp for vectors)
    latent_dim: int = 64
    width: int | None = None  # mlp: hidden units (default 128); conv: channels of D's first / G's last stage (32)
    depth: int = 3  # mlp hidden layers
    depth_d: int | None = None  # mlp hidden layers of the discriminator(s), if not ``depth``
    # conv: extra 3×3 conv blocks (conv, norm, activation) at each resolution of G below the output and after each
    # stride-2 stage of D; for small images, whose stride-2 stages are few (8×8: one)
    blocks: int = 0
    blocks_d: int | None = None  # the discriminator's, if not ``blocks``
    norm_g: str = "batch"  # conv generator normalisation: batch | group | none
    norm_d: str = "batch"  # conv discriminator normalisation: batch | group | none
    loss: str = "nonsaturating"  # minimax | nonsaturating | lsgan | wgan | hinge | d2gan
    d_steps: int = 1  # discriminator (critic) updates per generator update
    # optimiser settings live in TrainConfig (train.lr, train.betas, train.optimizer); the two time-scale update
    # rule is a per-player factor, e.g. train.lr_mult={"d": 4}. Defaults: GAN.train_defaults.
    spectral_norm: bool = False  # spectral normalisation of every discriminator layer
    clip: float | None = None  # WGAN weight clipping of D's parameters to [-clip, clip]
    gp_weight: float = 0.0  # WGAN-GP gradient penalty weight (10 in the paper)
    r1_weight: float = 0.0  # R1 penalty gamma: loss_d += gamma / 2 * E||grad D(x)||^2 on real data
    label_smoothing: float = 0.0  # one-sided: real target 1 - s (minimax, nonsaturating, lsgan)
    instance_noise: float = 0.0  # std of Gaussian noise added to D's inputs (images in [-1, 1])
    instance_noise_steps: int = 0  # anneal the noise linearly to 0 over this many steps (0: constant)
    conditional: bool = False  # class-conditional generator and discriminator
    cond_d: str = "concat"  # how D sees labels: concat | projection | none (only via the AC-GAN classifier)
    ac_weight: float = 0.0  # AC-GAN auxiliary classification loss weight
    minibatch_std: bool = False  # minibatch-stddev feature in D
    pack: int = 1  # PacGAN: D judges this many samples at once
    n_generators: int = 1  # MGAN: generators (sharing one network) plus a classifier telling them apart
    mgan_beta: float | None = None  # MGAN classifier loss weight (default 0.125 on vectors, 0.01 on images)
    d2_alpha: float = 0.2  # D2GAN weights of the KL (alpha) and reverse-KL (beta) terms
    d2_beta: float = 0.1

    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(msg)

        need(self.arch in ("mlp", "conv", "auto"), f"model.arch must be mlp, conv or auto, got {self.arch!r}")
        need(self.loss in losses.LOSSES, f"model.loss must be one of {', '.join(losses.LOSSES)}, got {self.loss!r}")
        need(self.norm_g in NORMS and self.norm_d in NORMS,
             f"model.norm_g and model.norm_d must be one of {', '.join(NORMS)}, got {self.norm_g!r}, {self.norm_d!r}")
        need(self.cond_d in ("concat", "projection", "none"),
             f"model.cond_d must be concat, projection or none, got {self.cond_d!r}")
        for k in ("latent_dim", "depth", "d_steps", "pack", "n_generators"):
            need(getattr(self, k) >= 1, f"model.{k} must be >= 1, got {getattr(self, k)}")
        need(self.depth_d is None or self.depth_d >= 1,
             f"model.depth_d must be >= 1 (or null: model.depth), got {self.depth_d}")
        for k in ("blocks", "blocks_d"):
            v = getattr(self, k)
            need(v is None and k == "blocks_d" or v is not None and v >= 0,
                 f"model.{k} must be an integer >= 0 (extra 3×3 conv blocks per resolution), got {v}")
        need(self.arch != "mlp" or not (self.blocks or self.blocks_d),
             "model.blocks and model.blocks_d add conv blocks, but model.arch=mlp; set model.depth for an MLP")
        need(self.width is None or self.width >= 1, f"model.width must be >= 1, got {self.width}")
        for k in ("gp_weight", "r1_weight", "instance_noise", "ac_weight", "mgan_beta", "d2_alpha", "d2_beta",
                  "instance_noise_steps"):
            v = getattr(self, k)  # only mgan_beta may be null (its default depends on the data)
            need((k == "mgan_beta" and v is None) or (v is not None and v >= 0), f"model.{k} must be >= 0, got {v}")
        need(self.clip is None or self.clip > 0, f"model.clip must be > 0 (or null for no clipping), got {self.clip}")
        need(0 <= self.label_smoothing < 1, f"model.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        # options that clash
        need(not (self.clip and self.gp_weight),
             "model.clip (weight clipping) and model.gp_weight (gradient penalty) both constrain the critic; "
             "use one of them: set model.clip=null or model.gp_weight=0")
        need(not (self.label_smoothing and self.loss not in losses.SMOOTHABLE),
             f"model.label_smoothing has no effect with model.loss={self.loss} (no real-data target to smooth); "
             f"use it with {', '.join(losses.SMOOTHABLE)} or set it to 0")
        need(not (self.loss == "d2gan" and (self.clip or self.gp_weight or self.r1_weight)),
             "model.loss=d2gan keeps its discriminators' outputs positive; it cannot be combined with "
             "model.clip, model.gp_weight or model.r1_weight")
        need(self.conditional or self.cond_d != "projection",
             "model.cond_d=projection is a projection discriminator for labels, but model.conditional=false; "
             "set model.conditional=true (on labelled data) or model.cond_d=concat")
        need(self.conditional or not self.ac_weight,
             "model.ac_weight > 0 (AC-GAN auxiliary classifier) needs labels, but model.conditional=false; "
             "set model.conditional=true (on labelled data) or model.ac_weight=0")
        need(not (self.conditional and self.cond_d == "none" and not self.ac_weight),
             "model.cond_d=none with model.ac_weight=0: the discriminator never sees the labels, so the generator "
             "cannot learn them; use model.cond_d=concat or projection, or model.ac_weight > 0 (AC-GAN)")
        if self.pack > 1:
            for key, on in (("cond_d=projection", self.conditional and self.cond_d == "projection"),
                            ("ac_weight > 0", self.ac_weight > 0), ("n_generators > 1", self.n_generators > 1)):
                need(not on, f"model.pack={self.pack} (PacGAN) judges samples in packs, but model.{key} needs "
                             "one discriminator output per sample; use model.pack=1 or drop the other option")


class GAN(GenerativeModel):
    """The shared implementation; registered under the names in ``variants.py``."""

    family = "gan"
    Config = GANConfig
    modalities = ("image", "vector")
    # Adam 2e-4 with beta1 = 0.5 for both players (Radford et al. 2016); variants change these defaults
    train_defaults = {"lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0, "optimizer": "adam"}

    def __init__(self, config: GANConfig, info: DataInfo):
        super().__init__(config, info)
        c = config
        self.image = info.modality == "image"
        arch = c.arch if c.arch != "auto" else ("conv" if self.image else "mlp")
        if arch == "conv" and not self.image:
            raise ConfigError(f"model.arch=conv needs image data; {info.name or 'this dataset'} holds "
                              f"{info.modality} data: use model.arch=mlp (or auto)")
        if c.conditional and info.num_classes < 2:
            raise ConfigError(f"model.conditional=true needs labelled data; {info.name or 'this dataset'} has no labels")
        k = info.num_classes if c.conditional else 0
        width = c.width or (32 if arch == "conv" else 128)
        if arch == "mlp" and (c.blocks or c.blocks_d):
            raise ConfigError(f"model.blocks and model.blocks_d add conv blocks, but {info.name or 'this dataset'} "
                              "holds vectors (model.arch=mlp); set model.depth instead")
        self.generator = Generator(c.latent_dim, info.shape, arch, width, c.depth, c.norm_g, k, c.n_generators,
                                   image=self.image, blocks=c.blocks)

        def make_d() -> Discriminator:
            return Discriminator(info.shape, arch, width, c.depth_d or c.depth, c.norm_d, c.spectral_norm, k, c.cond_d,
                                 aux_classes=k if c.ac_weight else 0, n_generators=c.n_generators, pack=c.pack,
                                 minibatch_std=c.minibatch_std,
                                 blocks=c.blocks if c.blocks_d is None else c.blocks_d)

        self.discriminator = make_d()
        self.discriminator2 = make_d() if losses.HEADS.get(c.loss, 1) == 2 else None  # D2GAN's second one
        if arch == "conv":
            self.apply(_dcgan_init)
        self._d_kw = {"alpha": c.d2_alpha, "beta": c.d2_beta} if c.loss == "d2gan" else (
            {"smooth": c.label_smoothing} if c.label_smoothing else {})
        self._g_kw = {"beta": c.d2_beta} if c.loss == "d2gan" else {}
        # MGAN: a strong "tell the generators apart" term lets each image generator ignore its noise (collapse)
        self._mgan_beta = c.mgan_beta if c.mgan_beta is not None else (0.01 if self.image else 0.125)
        self._log_gnorm = True
        self._diag_every = 1
        self.health = HealthMonitor()

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def d_parameters(self) -> list[nn.Parameter]:
        ds = [self.discriminator] + ([self.discriminator2] if self.discriminator2 is not None else [])
        return [p for d in ds for p in d.parameters()]

    def configure_optimizers(self, train: TrainConfig):
        c = self.config
        if train.batch_size % c.pack:
            raise ConfigError(f"train.batch_size={train.batch_size} must be a multiple of model.pack={c.pack} "
                              "(PacGAN packs that many samples per discriminator input)")
        self._log_gnorm = not train.grad_clip
        self._diag_every = max(1, train.log_every // 10)  # steps between diagnostics (see the module docstring)
        return self.build_optimizers(train, {"d": self.d_parameters(), "g": self.generator.parameters()})

    # ------------------------------------------------------------------ pieces
    def _generate(self, n: int, labels, device: torch.device):
        """Training-time samples in model space ([-1, 1] images, raw vectors) and the MGAN generator index."""
        z = torch.randn(n, self.latent_dim, device=device)
        k = None
        if self.config.n_generators > 1:
            k = torch.randint(self.config.n_generators, (n,), device=device)
        return self.generator(z, labels, k), k

    def _critic(self, x: torch.Tensor, labels=None) -> DOut:
        out = self.discriminator(x, labels)
        if self.discriminator2 is None:
            return out
        return out._replace(adv=torch.stack([out.adv, self.discriminator2(x, labels).adv], 1))

    def _noisy(self, x: torch.Tensor, step: int) -> torch.Tensor:
        c = self.config
        if not c.instance_noise:
            return x
        std = c.instance_noise * (max(0.0, 1 - step / c.instance_noise_steps) if c.instance_noise_steps else 1.0)
        return x + std * torch.randn_like(x) if std > 0 else x

    def _gnorm(self, params) -> torch.Tensor | None:
        grads = [p.grad for p in params if p.grad is not None]
        return torch.nn.utils.get_total_norm(grads) if self._log_gnorm and grads else None

    @contextmanager
    def _frozen_d(self):
        """No gradients for D's weights while the generator steps (they would be thrown away)."""
        params = [p for p in self.d_parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Batch, step: int) -> dict:
        real = batch["x"] * 2 - 1 if self.image else batch["x"]
        labels = batch["y"] if self.conditional else None
        if step % self.config.d_steps:  # a critic-only step (d_steps > 1): its fake batch needs no graph
            return self._d_step(real, labels, step)
        # One generator forward per step: the fake batch made for D's update (graph kept) is reused for G's update,
        # as in the reference DCGAN loop; D's update sees it detached.
        fake, k = self._generate(len(real), labels, real.device)
        logs = self._d_step(real, labels, step, fake.detach(), k)
        logs.update(self._g_step(len(real), labels, step, real.device, fake, k))
        return logs

    def _d_step(self, real: torch.Tensor, labels, step: int, fake: torch.Tensor | None = None, k=None) -> dict:
        c = self.config
        if fake is None:
            with torch.no_grad():
                fake, k = self._generate(len(real), labels, real.device)
        real_in = self._noisy(real, step).requires_grad_(c.r1_weight > 0)
        d_r, d_f = self._critic(real_in, labels), self._critic(self._noisy(fake, step), labels)
        loss = losses.d_loss(c.loss, d_r.adv, d_f.adv, **self._d_kw)
        if c.gp_weight:
            loss = loss + c.gp_weight * losses.gradient_penalty(lambda x: self._critic(x, labels).adv, real, fake)
        if c.r1_weight:
            loss = loss + c.r1_weight * losses.r1_penalty(d_r.adv, real_in)
        if c.ac_weight:
            loss = loss + c.ac_weight * (F.cross_entropy(d_r.aux, labels) + F.cross_entropy(d_f.aux, labels))
        if k is not None:
            loss = loss + self._mgan_beta * F.cross_entropy(d_f.cls, k)
        self.optimize(loss, "d")
        if c.clip:
            losses.clip_weights_(self.d_parameters(), c.clip)
        if step % self._diag_every:
            return {"loss_d": loss.detach()}
        return self._d_logs(loss, d_r.adv.detach(), d_f.adv.detach(), fake, real)

    def _d_logs(self, loss, real_out, fake_out, fake, real) -> dict:
        c = self.config
        prob = c.loss in ("minimax", "nonsaturating")
        r, f = (real_out[:, 0], fake_out[:, 0]) if real_out.dim() == 2 else (real_out, fake_out)
        act = torch.sigmoid if prob else (F.softplus if c.loss == "d2gan" else (lambda t: t))
        logs = {"loss_d": loss.detach(), "d_real": act(r).mean(), "d_fake": act(f).mean(),
                "diversity": diversity_ratio(fake, real)}
        if c.loss == "d2gan":  # D1 and D2 as the paper writes them: positive (softplus) outputs
            logs["d2_real"], logs["d2_fake"] = F.softplus(real_out[:, 1]).mean(), F.softplus(fake_out[:, 1]).mean()
        if c.loss == "wgan":
            logs["wdist"] = losses.wasserstein_estimate(r, f)
        level = losses.DECISION[c.loss]
        if level is not None:
            logs["d_acc"] = discriminator_accuracy(r, f, level)
        elif c.loss == "d2gan":  # the optimal D1 is alpha * p_data / p_G: above alpha where data outweighs G
            logs["d_acc"] = discriminator_accuracy(F.softplus(r), F.softplus(f), c.d2_alpha)
        gn = self._gnorm(self.d_parameters())
        if gn is not None:
            logs["gnorm_d"] = gn
        self.health.update(self._diag_every, d_acc=float(logs["d_acc"]) if "d_acc" in logs else None,
                           diversity=float(logs["diversity"]))
        return logs

    def _g_step(self, n: int, labels, step: int, device: torch.device, fake: torch.Tensor | None = None, k=None) -> dict:
        c = self.config
        if fake is None:
            fake, k = self._generate(n, labels, device)
        with self._frozen_d():
            d_f = self._critic(self._noisy(fake, step), labels)
            loss = losses.g_loss(c.loss, d_f.adv, **self._g_kw)
            if c.ac_weight:
                loss = loss + c.ac_weight * F.cross_entropy(d_f.aux, labels)
            if k is not None:
                loss = loss + self._mgan_beta * F.cross_entropy(d_f.cls, k)
            self.optimize(loss, "g")
        logs = {"loss_g": loss.detach()}
        gn = None if step % self._diag_every else self._gnorm(self.generator.parameters())
        if gn is not None:
            logs["gnorm_g"] = gn
        return logs

    # ------------------------------------------------------------------ generation
    def _decode(self, z, labels, k, chunk: int = 1024) -> torch.Tensor:
        """Generator output in data space ([0, 1] images, raw vectors), in chunks of ``chunk`` rows."""
        out = torch.cat([self.generator(z[s:s + chunk], None if labels is None else labels[s:s + chunk],
                                        None if k is None else k[s:s + chunk]) for s in range(0, len(z), chunk)])
        return (out + 1) / 2 if self.image else out

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None, generator_index: int = 0) -> torch.Tensor:
        """Generator output for latent vectors ``z`` (N, latent_dim): images in [0, 1], vectors as they are.
        Conditional models need ``labels``; an MGAN uses its generator number ``generator_index``."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"latent vectors must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        if labels is None and self.conditional:
            raise ConfigError(f"model {self.name!r} is conditional: give one label per latent vector "
                              f"(0..{self.info.num_classes - 1})")
        labels = self.check_sample_args(len(z), labels, {}) if labels is not None else None
        k = None
        if self.config.n_generators > 1:
            if not 0 <= generator_index < self.config.n_generators:
                raise ConfigError(f"generator_index must be in 0..{self.config.n_generators - 1}, got {generator_index}")
            k = torch.full((len(z),), generator_index, dtype=torch.long, device=self.device)
        return self._decode(z, labels, k)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        labels = self.check_sample_args(n, labels, options)
        if self.conditional and labels is None:
            labels = torch.randint(self.info.num_classes, (n,), generator=generator, device=self.device)
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
        k = None
        if self.config.n_generators > 1:  # MGAN: each sample from a generator drawn uniformly
            k = torch.randint(self.config.n_generators, (n,), generator=generator, device=self.device)
        return self._decode(z, labels, k)


def _dcgan_init(m: nn.Module) -> None:
    """N(0, 0.02) weights (Radford et al. 2016); for spectrally normalised layers, the raw weight."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        w = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
        normal_init_(w, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        normal_init_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)

"""M2: the semi-supervised VAE of Kingma, Rezende, Mohamed & Welling (2014).

Generative story ``y ~ Cat(1/K)``, ``z ~ N(0, I)``, ``x ~ p(x | y, z)`` (Bernoulli pixels); inference networks
``q(y | x)`` (the classifier) and ``q(z | x, y)``. A labelled example contributes the bound ``L(x, y)`` and
``alpha`` times the classifier's cross-entropy; an unlabelled one ``U(x) = sum_y q(y|x) L(x, y) + H(q(y|x))``,
the bound with the label summed out (all K labels in one batched pass). Grey pixels are Bernoulli targets
in [0, 1] (as in most implementations), so the bound is a training objective, not a likelihood of grey
data — the model declares no ``log_likelihood``. Train with few labels: ``--set data.labels_per_class=100
--set data.unlabelled=keep``; ``sample --label k`` draws digits of class k; ``classify(x)`` gives q(y|x).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ModelConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...data.fewlabels import LabelledPool
from ...errors import ConfigError
from ...nn.blocks import MLP
from ...registry import register_model
from ..base import GenerativeModel


@dataclass
class M2Config(ModelConfig):
    latent_dim: int = 50
    hidden: int = 500
    alpha: float = 50.0  # weight of the labelled cross-entropy (Kingma et al.: 0.1 * N; per example here)
    labelled_batch: int = 100
    conditional: bool = True  # samples are drawn for a class (--label); always on

    def validate(self) -> None:
        if self.latent_dim < 1 or self.hidden < 1 or self.labelled_batch < 1 or self.alpha < 0:
            raise ConfigError("model.latent_dim, model.hidden, model.labelled_batch must be >= 1 and model.alpha >= 0")
        if not self.conditional:
            raise ConfigError("m2 is always conditional on the class; drop model.conditional=false")


@register_model
class M2(GenerativeModel):
    name = "m2"
    description = "semi-supervised VAE (Kingma et al. 2014, M2): classifier q(y|x), labels summed out when unknown"
    family = "vae"
    Config = M2Config
    modalities = ("image",)
    train_defaults = {"lr": 3e-4}

    def __init__(self, config: M2Config, info: DataInfo):
        super().__init__(config, info)
        k = info.num_classes
        if k < 2:
            raise ConfigError("m2 needs labelled image data (at least 2 classes)")
        d, h, zd = math.prod(info.shape), config.hidden, config.latent_dim
        self.k = k
        self.classifier = MLP([d, h, h, k])
        self.encoder = MLP([d + k, h, h, 2 * zd])
        self.decoder = MLP([zd + k, h, h, d])
        self._pool: LabelledPool | None = None

    def on_train_start(self, data: TensorDataset) -> None:
        self._pool = LabelledPool(data, self.device)

    def _bound(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """L(x, y) per example (nats): E_q[log p(x|y,z)] + log p(y) - KL(q(z|x,y) || N(0, I))."""
        oh = F.one_hot(y, self.k).float()
        mu, logvar = self.encoder(torch.cat([x, oh], 1)).chunk(2, 1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = self.decoder(torch.cat([z, oh], 1))
        rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return rec - kl - math.log(self.k)

    def training_step(self, batch: Batch, step: int) -> dict:
        xu = batch["x"].flatten(1)
        xl, yl = self._pool.draw(self.config.labelled_batch)
        xl = xl.flatten(1)
        lab = -self._bound(xl, yl).mean()
        logits_l = self.classifier(xl)
        ce = F.cross_entropy(logits_l, yl)
        # unlabelled: every label at once, weighted by q(y | x)
        n = len(xu)
        q = self.classifier(xu).softmax(1)  # (n, K)
        ys = torch.arange(self.k, device=xu.device).repeat_interleave(n)
        bounds = self._bound(xu.repeat(self.k, 1), ys).view(self.k, n).t()  # (n, K)
        entropy = -(q * q.clamp_min(1e-8).log()).sum(1)
        unl = -((q * bounds).sum(1) + entropy).mean()
        loss = lab + unl + self.config.alpha * ce
        self.optimize(loss)
        return {"loss": loss.detach(), "labelled_bound": -lab.detach(), "unlabelled_bound": -unl.detach(),
                "ce": ce.detach()}

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.to(self.device).flatten(1))

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        """Bernoulli means p(x | y, z), z ~ N(0, I); without labels, classes in turn."""
        labels = self.check_sample_args(n, labels, options)
        if labels is None:
            labels = torch.arange(n, device=self.device) % self.k
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        x = torch.sigmoid(self.decoder(torch.cat([z, F.one_hot(labels, self.k).float()], 1)))
        return x.view(n, *self.info.shape)

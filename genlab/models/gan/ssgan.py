"""Semi-supervised GAN (Salimans et al. 2016, "Improved techniques for training GANs").

The discriminator is a K-class classifier whose logits ``l(x)`` also say "real": with ``Z(x) = sum exp(l)``,
``D(x) = Z / (Z + 1)`` (an implicit (K+1)-th class for fakes). Its loss is the cross-entropy on a labelled
batch plus the real/fake loss on the (unlabelled) training batch and on generated images; the generator
matches the mean of an intermediate discriminator layer on real and generated batches (feature matching).
The MNIST networks follow the paper: an MLP discriminator with Gaussian noise before every layer, an MLP
generator with batch norm. Train with few labels: ``--set data.labels_per_class=100 --set
data.unlabelled=keep``. ``classify(x)`` gives the classifier, which ``genlab augment`` reports.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ModelConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...data.fewlabels import LabelledPool
from ...errors import ConfigError
from ...registry import register_model
from ..base import GenerativeModel


@dataclass
class SSGANConfig(ModelConfig):
    latent_dim: int = 100
    d_hidden: list[int] = field(default_factory=lambda: [1000, 500, 250, 250, 250])  # discriminator widths (the paper's)
    g_hidden: int = 500
    noise: float = 0.3  # std of the Gaussian noise before each discriminator layer (0.5 on the input)
    labelled_batch: int = 100  # labelled examples per step
    unsup_weight: float = 1.0

    def validate(self) -> None:
        if self.latent_dim < 1 or self.g_hidden < 1 or not self.d_hidden or min(self.d_hidden) < 1:
            raise ConfigError("model.latent_dim, model.g_hidden and model.d_hidden must be positive")
        if not 0 <= self.noise <= 5 or self.labelled_batch < 1 or self.unsup_weight < 0:
            raise ConfigError("model.noise must be in [0, 5], model.labelled_batch >= 1, model.unsup_weight >= 0")


class NoisyMLP(nn.Module):
    """Gaussian noise (training only) then a linear layer and ReLU, layer after layer; K logits at the end.
    ``features`` is the last hidden layer (what feature matching compares)."""

    def __init__(self, sizes: list[int], classes: int, noise: float):
        super().__init__()
        self.noise = noise
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            if self.training and self.noise:
                h = h + torch.randn_like(h) * (0.5 if i == 0 else self.noise)
            h = F.relu(layer(h))
        return self.out(h), h


@register_model
class SSGAN(GenerativeModel):
    name = "ssgan"
    description = "semi-supervised GAN: K-class discriminator (implicit fake class), feature matching; classify()"
    family = "gan"
    Config = SSGANConfig
    modalities = ("image",)
    train_defaults = {"lr": 3e-4, "betas": [0.5, 0.999]}

    def __init__(self, config: SSGANConfig, info: DataInfo):
        super().__init__(config, info)
        if info.num_classes < 2:
            raise ConfigError("ssgan needs labelled image data (at least 2 classes)")
        d = math.prod(info.shape)
        self.g = nn.Sequential(
            nn.Linear(config.latent_dim, config.g_hidden), nn.BatchNorm1d(config.g_hidden), nn.Softplus(),
            nn.Linear(config.g_hidden, config.g_hidden), nn.BatchNorm1d(config.g_hidden), nn.Softplus(),
            nn.Linear(config.g_hidden, d), nn.Sigmoid())
        self.d = NoisyMLP([d] + list(config.d_hidden), info.num_classes, config.noise)
        self._pool: LabelledPool | None = None

    def configure_optimizers(self, train):
        return self.build_optimizers(train, {"d": self.d.parameters(), "g": self.g.parameters()})

    def on_train_start(self, data: TensorDataset) -> None:
        self._pool = LabelledPool(data, self.device)

    def _generate(self, n: int, generator=None) -> torch.Tensor:
        z = torch.rand(n, self.config.latent_dim, generator=generator, device=self.device)
        return self.g(z).view(n, *self.info.shape)

    def training_step(self, batch: Batch, step: int) -> dict:
        x = batch["x"]
        xl, yl = self._pool.draw(self.config.labelled_batch)
        fake = self._generate(len(x))
        logits_l, _ = self.d(xl)
        logits_u, _ = self.d(x)
        logits_f, _ = self.d(fake.detach())
        lse_u, lse_f = logits_u.logsumexp(1), logits_f.logsumexp(1)
        sup = F.cross_entropy(logits_l, yl)
        unsup = (-lse_u + F.softplus(lse_u)).mean() + F.softplus(lse_f).mean()
        self.optimize(sup + self.config.unsup_weight * unsup, "d")
        _, f_real = self.d(x)
        _, f_fake = self.d(self._generate(len(x)))
        g_loss = (f_real.detach().mean(0) - f_fake.mean(0)).pow(2).mean()
        self.optimize(g_loss, "g")
        return {"d_sup": sup.detach(), "d_unsup": unsup.detach(), "g_feature_matching": g_loss.detach(),
                "train_acc_labelled": (logits_l.argmax(1) == yl).float().mean()}

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        was = self.d.training
        self.d.eval()
        logits = self.d(x.to(self.device))[0]
        self.d.train(was)
        return logits

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        self.check_sample_args(n, labels, options)
        was = self.g.training
        self.g.eval()
        x = self._generate(n, generator)
        self.g.train(was)
        return x

"""What every model with a latent space shares: where ``sample()`` draws its codes from.

``latent_sampler=prior`` draws from the model's own prior: N(0, I) for a VAE, and for a plain
autoencoder (which has none) a Gaussian with the mean and covariance of the training codes, tracked during
training like batch norm's running statistics. ``latent_sampler=gmm`` draws from a Gaussian mixture
fitted by EM on the training codes once training ends (``on_train_end``, called by the trainer) or later
with ``genlab fit-latent RUN --components K``. Its parameters are buffers, saved with the weights.
Until the mixture is fitted (while training runs) previews come from the prior; asking for
``sample(..., sampler="gmm")`` from a model without a fitted mixture is an error.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import ModelConfig
from ...nn.blocks import identity
from ...data.base import DataInfo, TensorDataset
from ...errors import ConfigError, DataError
from ..base import GenerativeModel, SampleOption

SAMPLERS = ("prior", "gmm")


@dataclass
class LatentConfig(ModelConfig):
    latent_dim: int = 16
    latent_sampler: str = "prior"  # prior | gmm: where sample() draws codes from (see genlab fit-latent)
    latent_components: int = 10  # mixture components for latent_sampler=gmm

    def validate(self) -> None:
        if self.latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be >= 1, got {self.latent_dim}")
        if self.latent_sampler not in SAMPLERS:
            raise ConfigError(f"model.latent_sampler must be prior or gmm, got {self.latent_sampler!r}")
        if self.latent_components < 1:
            raise ConfigError(f"model.latent_components must be >= 1, got {self.latent_components}")


class LatentMixture(nn.Module):
    """A full-covariance Gaussian mixture over codes; parameters are buffers (Cholesky factors)."""

    def __init__(self, dim: int, components: int):
        super().__init__()
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, dim))
        self.register_buffer("scale_tril", identity(dim, components))
        self.register_buffer("fitted", torch.zeros(()))

    @torch.no_grad()
    def fit(self, codes: torch.Tensor, max_examples: int = 20000, seed: int = 0) -> dict:
        """EM (scikit-learn) on at most ``max_examples`` codes (a seeded random subset)."""
        from sklearn.mixture import GaussianMixture

        k = len(self.weights)
        z = codes.detach().double().cpu()
        if len(z) > max_examples:
            z = z[torch.randperm(len(z), generator=torch.Generator().manual_seed(seed))[:max_examples]]
        if len(z) < 2 * k:
            raise DataError(f"a {k}-component latent mixture needs at least {2 * k} codes, got {len(z)}; "
                            "use fewer components")
        gm = GaussianMixture(k, covariance_type="full", max_iter=200, random_state=seed).fit(z.numpy())
        self.weights.copy_(torch.from_numpy(gm.weights_))
        self.means.copy_(torch.from_numpy(gm.means_))
        self.scale_tril.copy_(torch.linalg.cholesky(torch.from_numpy(gm.covariances_)))
        self.fitted.fill_(1.0)
        return {"components": k, "codes": len(z), "converged": bool(gm.converged_),
                "mean_log_density": float(gm.score(z.numpy()))}

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator, device=self.means.device)
        return self.means[k] + torch.einsum("nij,nj->ni", self.scale_tril[k], eps)


class RunningGaussian(nn.Module):
    """Running mean and covariance of training codes (the average of the batches' moments, then an
    exponential moving average once ``1 / momentum`` batches were seen)."""

    def __init__(self, dim: int, momentum: float = 0.01):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("cov", identity(dim))
        self.register_buffer("count", torch.zeros(()))

    @torch.no_grad()
    def update(self, z: torch.Tensor) -> None:
        z = z.detach().float()
        if len(z) < 2:
            return
        w = (1.0 / (self.count + 1)).clamp(min=self.momentum)  # a tensor: no device sync
        self.mean.lerp_(z.mean(0), w)
        self.cov.lerp_(torch.cov(z.T).reshape(self.cov.shape), w)
        self.count += 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        d = len(self.mean)
        jitter = 1e-5 * float(self.cov.diagonal().mean().clamp(min=1e-8))
        chol = torch.linalg.cholesky(self.cov + jitter * torch.eye(d, device=self.cov.device))
        eps = torch.randn(n, d, generator=generator, device=self.mean.device)
        return self.mean + eps @ chol.T


class LatentModel(GenerativeModel):
    """Base of the autoencoders: labels, latent sampling, decoding and the post-training mixture fit.

    Subclasses implement ``encode(x, labels)``, ``decode(z, labels)`` and ``prior_z(n, generator)``.
    """

    family = "vae"
    sample_options = (SampleOption("sampler", str, help="where codes come from: the prior, or the latent mixture "
                                   "(genlab fit-latent; default model.latent_sampler)", choices=SAMPLERS),)

    def __init__(self, config: LatentConfig, info: DataInfo):
        super().__init__(config, info)
        if self.conditional and info.num_classes < 2:
            raise ConfigError(f"model.conditional=true needs labelled data; {info.name or 'this dataset'} has no labels")
        if config.latent_sampler == "gmm":
            self.latent_gmm = LatentMixture(config.latent_dim, config.latent_components)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def prior_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def latent_z(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None) -> torch.Tensor:
        """``n`` codes from ``sampler`` (default: ``config.latent_sampler``)."""
        name = sampler or self.config.latent_sampler
        if name not in SAMPLERS:
            raise ConfigError(f"sampler must be prior or gmm for model {self.name!r}, got {name!r}")
        gmm = getattr(self, "latent_gmm", None)
        if name == "gmm" and gmm is not None and gmm.fitted:
            return gmm.sample(n, generator)
        if name == "gmm" and sampler is not None:
            raise ConfigError("this model has no fitted latent mixture; fit one with "
                              "`genlab fit-latent RUN --components K` (or train with model.latent_sampler=gmm)")
        return self.prior_z(n, generator)

    def one_hot(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """One-hot labels for a conditional model (``None`` otherwise); a clear error when they are missing."""
        if not self.conditional:
            return None
        if labels is None:
            raise ConfigError(f"model {self.name!r} is conditional: it needs the class labels of its inputs")
        return nn.functional.one_hot(labels.long(), self.info.num_classes).float()

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, sampler: str | None = None, **options):
        labels = self.check_sample_args(n, labels, {"sampler": sampler, **options})
        if self.conditional and labels is None:
            labels = torch.randint(self.info.num_classes, (n,), generator=generator, device=self.device)
        return self.decode(self.latent_z(n, generator, sampler), labels)

    @torch.no_grad()
    def fit_latent(self, data: TensorDataset, max_examples: int = 20000) -> dict:
        """Fit the latent mixture (``latent_sampler=gmm``) on the codes of ``data``; RNG state is left untouched."""
        if not hasattr(self, "latent_gmm"):
            raise ConfigError("fit_latent needs a model built with model.latent_sampler=gmm")
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            codes, seen = [], 0
            for batch in data.batches(500, shuffle=False, drop_last=False, device=self.device):
                if seen >= max_examples:
                    break
                x, y = batch["x"][: max_examples - seen], batch.get("y")
                z = self.encode(x, y[: len(x)]) if self.conditional else self.encode(x)
                codes.append(z.float().cpu())
                seen += len(x)
            codes = torch.cat(codes)
        return self.latent_gmm.fit(codes, max_examples=max_examples)

    def on_train_end(self, data: TensorDataset) -> bool:
        if self.config.latent_sampler != "gmm":
            return False
        was_training = self.training
        self.eval()
        self.fit_latent(data)
        self.train(was_training)
        return True

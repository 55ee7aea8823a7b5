"""Variational autoencoders (Kingma & Welling 2014) and their variants, one class with four names.

Objective, in nats per example: the ELBO ``E_q[log p(x|z)] - w * KL(q(z|x) || N(0, I))`` with
``w = beta`` (``beta-vae``: beta = 4 by default, Higgins et al. 2017), raised linearly from 0 over
``kl_warmup_steps`` and, with ``free_bits`` > 0, a KL that is not penalised below ``free_bits`` nats per
latent dimension (batch average, Kingma et al. 2016); or with ``iw_samples`` = k > 1 the IWAE bound
``log 1/k sum_i p(x, z_i) / q(z_i|x)`` (``iwae``, Burda et al. 2016). ``cvae`` sees the class label in
both networks, so it samples a chosen class.

``log_likelihood(batch, num_samples=k)``: k = 1 gives the ELBO (analytic KL), k > 1 the importance-sampled
estimate with q(z|x) as proposal, a tighter lower bound that converges to log p(x) as k grows; samples are
drawn in chunks so that k = 1000 fits in memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...data.base import Batch
from ...errors import ConfigError
from ...registry import register_model
from .autoencoder import Autoencoder, AutoencoderConfig

MAX_ROWS = 8192  # decoder rows (samples x examples) per chunk of the importance-sampled estimate
LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig(AutoencoderConfig):
    beta: float = 1.0  # weight of the KL term
    iw_samples: int = 1  # samples per example in the training objective: 1 = ELBO, k > 1 = IWAE bound
    free_bits: float = 0.0  # nats per latent dimension below which the KL is not penalised (ELBO only)
    kl_warmup_steps: int = 0  # the KL weight rises linearly from 0 to beta over this many steps

    def validate(self) -> None:
        super().validate()
        if self.beta < 0:
            raise ConfigError(f"model.beta must be >= 0 (it weighs the KL term; 1 is the plain ELBO), got {self.beta}")
        if self.iw_samples < 1:
            raise ConfigError(f"model.iw_samples must be >= 1, got {self.iw_samples}")
        if self.free_bits < 0 or self.kl_warmup_steps < 0:
            raise ConfigError("model.free_bits and model.kl_warmup_steps must be >= 0, "
                              f"got {self.free_bits} and {self.kl_warmup_steps}")
        if self.free_bits > 0 and self.iw_samples > 1:
            raise ConfigError("model.free_bits applies to the ELBO (iw_samples=1); the IWAE bound has no per-dimension KL")


@dataclass
class BetaVAEConfig(VAEConfig):
    beta: float = 4.0


@dataclass
class CVAEConfig(VAEConfig):
    conditional: bool = True


@dataclass
class IWAEConfig(VAEConfig):
    iw_samples: int = 5


@register_model
class VAE(Autoencoder):
    name = "vae"
    description = "VAE (conv or MLP; Bernoulli, Gaussian or discretised-logistic decoder); ELBO / IWAE / IS likelihood"
    Config = VAEConfig
    code_params = 2  # posterior mean and log-variance
    likelihood_estimator = "elbo (num_samples=1) or importance-sampled (num_samples=k)"
    supports_nll_samples = True

    def posterior(self, x: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder_out(x, c).float().chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def elbo_terms(self, x: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """log p(x|z) for one z ~ q(z|x) per example (N,) and the analytic KL per latent dimension (N, D)."""
        mu, logvar = self.posterior(x, c)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
        return self.log_px(x, self.decoder_out(z, c)), kl

    def log_weights(self, x, c, mu, logvar, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        """For ``s`` samples z ~ q(z|x) per example: log p(x|z) and log p(z) - log q(z|x), each (s, N)."""
        eps = torch.randn(s, *mu.shape, device=mu.device)
        z = mu + eps * (0.5 * logvar).exp()
        log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * LOG_2PI).sum(-1)
        log_prior = (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(-1)
        log_px = self.log_px(x, self.decoder_out(z.flatten(0, 1), c)).view(s, len(x))
        return log_px, log_prior - log_q

    def kl_weight(self, step: int) -> float:
        warm = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, (step + 1) / warm) if warm else 1.0)

    def training_step(self, batch: Batch, step: int) -> dict:
        x, c = batch["x"], self.one_hot(batch.get("y"))
        if step == 0:
            self.check_data(x)
        w, k = self.kl_weight(step), self.config.iw_samples
        if k > 1:
            log_px, log_ratio = self.log_weights(x, c, *self.posterior(x, c), k)
            loss = -(torch.logsumexp(log_px + w * log_ratio, 0) - math.log(k)).mean()
            self.optimize(loss)
            bound = torch.logsumexp(log_px + log_ratio, 0) - math.log(k)
            return {"loss": loss.detach(), "iwae": bound.mean().detach()}
        rec, kl = self.elbo_terms(x, c)
        fb = self.config.free_bits
        kl_term = kl.mean(0).clamp(min=fb).sum() if fb else kl.sum(1).mean()
        loss = -rec.mean() + w * kl_term
        self.optimize(loss)
        kl = kl.sum(1).detach()
        return {"loss": loss.detach(), "rec": -rec.mean().detach(), "kl": kl.mean(), "elbo": (rec.detach() - kl).mean()}

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict:
        rec, kl = self.elbo_terms(batch["x"], self.one_hot(batch.get("y")))
        return {"nll": float(-(rec - kl.sum(1)).mean()), "kl": float(kl.sum(1).mean())}

    @torch.no_grad()
    def log_likelihood(self, batch: Batch, num_samples: int = 1) -> torch.Tensor:
        """Per-example lower bound on log p(x) (or log p(x|y) for a CVAE), in nats: the ELBO for
        ``num_samples=1``, the importance-sampled estimate with ``num_samples`` samples otherwise."""
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(f"num_samples must be a positive integer, got {num_samples!r}")
        x, c = batch["x"], self.one_hot(batch.get("y"))
        if num_samples == 1:
            rec, kl = self.elbo_terms(x, c)
            return rec - kl.sum(1)
        mu, logvar = self.posterior(x, c)
        chunk = max(1, MAX_ROWS // len(x))
        parts = []
        for s in range(0, num_samples, chunk):
            log_px, log_ratio = self.log_weights(x, c, mu, logvar, min(chunk, num_samples - s))
            parts.append(torch.logsumexp(log_px + log_ratio, 0))
        return torch.logsumexp(torch.stack(parts), 0) - math.log(num_samples)

    @torch.no_grad()
    def anomaly_score(self, batch: Batch, num_samples: int = 1) -> torch.Tensor:
        """Anomaly score: the negative log-likelihood bound in nats (higher = less typical)."""
        return -self.log_likelihood(batch, num_samples)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means."""
        return self.posterior(x, self.one_hot(labels))[0]

    def prior_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)


@register_model
class BetaVAE(VAE):
    name = "beta-vae"
    description = "beta-VAE (Higgins et al. 2017): the VAE with the KL term weighted by model.beta (default 4)"
    Config = BetaVAEConfig


@register_model
class CVAE(VAE):
    name = "cvae"
    description = "Conditional VAE: encoder and decoder see the class label; samples a chosen class (--label)"
    Config = CVAEConfig


@register_model
class IWAE(VAE):
    name = "iwae"
    description = "Importance-weighted autoencoder (Burda et al. 2016): the k-sample bound (model.iw_samples, default 5)"
    Config = IWAEConfig

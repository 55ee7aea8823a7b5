"""Training health: is the discriminator winning outright, is the generator collapsing?

Two numbers, measured every few steps and logged: ``d_acc`` (the share of real and generated samples the discriminator
puts on the right side of its decision level) and ``diversity`` (mean pairwise distance between generated
samples divided by the same for the real batch: about 1 for a healthy generator, near 0 when every sample
looks the same). :class:`HealthMonitor` smooths them (EMA) and warns once per run: when D's accuracy
stays above 99%, and when diversity falls below 0.2 after having been above 0.5 (or is still below 0.2
after 2,000 steps; a fresh generator starts with every sample near one point).
"""
from __future__ import annotations

import warnings

import torch


class GANHealthWarning(UserWarning):
    """The discriminator wins outright or the generator's samples collapse."""


def discriminator_accuracy(real: torch.Tensor, fake: torch.Tensor, level: float) -> torch.Tensor:
    return 0.5 * ((real > level).float().mean() + (fake < level).float().mean())


def mean_pairwise_distance(x: torch.Tensor, n: int = 64) -> torch.Tensor:
    x = x[:n].detach().flatten(1).float()
    return torch.pdist(x).mean() if len(x) > 1 else x.new_zeros(())


def diversity_ratio(fake: torch.Tensor, real: torch.Tensor, n: int = 64) -> torch.Tensor:
    """Mean pairwise distance of (the first ``n``) generated samples over that of real ones."""
    return mean_pairwise_distance(fake, n) / mean_pairwise_distance(real, n).clamp_min(1e-12)


class HealthMonitor:
    """Exponential moving averages of ``d_acc`` and ``diversity``; one ``GANHealthWarning`` per kind."""

    def __init__(self, decay: float = 0.98, burn_in: int = 200, d_wins: float = 0.99, collapse: float = 0.2):
        self.decay, self.burn_in, self.d_wins, self.collapse = decay, burn_in, d_wins, collapse
        self.avg: dict[str, float] = {}
        self.seen = 0
        self.peak = 0.0  # highest smoothed diversity so far
        self.fired: set[str] = set()

    def update(self, steps: int = 1, **values: float | None) -> list[str]:
        """Feed the values measured now, standing for the last ``steps`` steps (GANs measure them every few
        steps); returns the kinds that fired now ("d_wins", "collapse")."""
        self.seen += steps
        decay = self.decay ** steps
        for k, v in values.items():
            if v is not None:
                self.avg[k] = v if k not in self.avg else decay * self.avg[k] + (1 - decay) * v
        if self.seen < self.burn_in:
            return []
        fired = []
        if self.avg.get("d_acc", 0.0) > self.d_wins and "d_wins" not in self.fired:
            fired.append("d_wins")
            warnings.warn(
                f"GAN health: the discriminator wins outright (it separates real from generated samples "
                f"{100 * self.avg['d_acc']:.1f}% of the time); the generator gets little useful gradient. Try a lower "
                "discriminator learning rate (train.lr_mult.d=0.5), model.label_smoothing=0.1, model.instance_noise=0.1, or the wgan-gp / hinge-sn models",
                GANHealthWarning, stacklevel=3)
        div = self.avg.get("diversity", 1.0)
        self.peak = max(self.peak, div)
        # a drop (it was diverse before) or no diversity long after the start (generators start near one point)
        if div < self.collapse and (self.peak > 2.5 * self.collapse or self.seen > 10 * self.burn_in) \
                and "collapse" not in self.fired:
            fired.append("collapse")
            warnings.warn(
                f"GAN health: sample diversity collapsed (generated samples are {self.avg['diversity']:.2f}x as "
                "spread out as real ones): mode collapse. Try model.minibatch_std=true, the pacgan, mgan or "
                "d2gan models, or a Wasserstein loss", GANHealthWarning, stacklevel=3)
        self.fired.update(fired)
        return fired

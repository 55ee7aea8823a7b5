"""MADE: masked autoencoder for distribution estimation (Germain et al. 2015).

A fully connected network whose weight masks make output ``d`` depend only on inputs earlier in an
ordering of the pixels. With ``num_masks > 1`` training is order-agnostic: step ``s`` uses ordering and
connectivity ``s % num_masks`` (mask 0 is raster order; the rest are random permutations, all drawn from
``mask_seed``, so they are rebuilt from the config and never stored). The likelihood is the exact
likelihood of the mixture of the first ``eval_masks`` orderings, ``log mean_m p_m(x)``; sampling draws
an ordering per image from the same mixture. Completion uses the raster ordering.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ...data.base import DataInfo
from ...errors import ConfigError
from .masked import MADENet, made_masks
from ...registry import register_model
from .pixels import PixelConfig, PixelModel


@dataclass
class MADEConfig(PixelConfig):
    hidden: list[int] = field(default_factory=lambda: [500])
    num_masks: int = 1  # orderings used in training (order-agnostic when > 1)
    eval_masks: int = 1  # orderings averaged in the likelihood and sampled from (<= num_masks)
    mask_seed: int = 0

    def validate(self) -> None:
        super().validate()
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"model.hidden must list one or more layer sizes >= 1, got {self.hidden}")
        if self.num_masks < 1 or not 1 <= self.eval_masks <= self.num_masks:
            raise ConfigError(f"model.num_masks must be >= 1 and model.eval_masks in 1..num_masks, "
                              f"got {self.num_masks} and {self.eval_masks}")


@register_model
class MADE(PixelModel):
    name = "made"
    description = "MADE: masked MLP, order-agnostic training with resampled masks, exact NLL, completion"
    Config = MADEConfig

    def __init__(self, config: MADEConfig, info: DataInfo):
        super().__init__(config, info)
        self.d = math.prod(info.shape)
        self.made = MADENet(self.d, config.hidden, self.k)
        self._masks: dict[int, tuple[torch.Tensor, list[torch.Tensor]]] = {}
        self.current = -1
        self.use_mask(0)

    def ordering(self, m: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Ordering ``m`` (position of each pixel in it) and its masks, computed from ``mask_seed``."""
        if m not in self._masks:
            gen = torch.Generator().manual_seed(self.config.mask_seed * 100003 + m)
            order = torch.arange(self.d) if m == 0 else torch.randperm(self.d, generator=gen).argsort()
            self._masks[m] = (order, made_masks(order, self.config.hidden, self.k, gen))
        return self._masks[m]

    def use_mask(self, m: int) -> None:
        """Load the masks of ordering ``m`` (always copied: an EMA copy of the model averages buffers)."""
        self.made.set_masks(self.ordering(m)[1])
        self.current = m

    def net_input(self, x):
        # 0/1 inputs, as in the MADE paper: with -1/+1 the many always-black pixels a hidden unit sees push
        # it below zero for every image and 44% of the ReLUs never fire (benchmarks/ar_made_diag.py)
        return x

    def net(self, x, cond):
        return self.made(x.flatten(1))

    def training_step(self, batch, step):
        self.use_mask(step % self.config.num_masks)
        return super().training_step(batch, step)

    def nll(self, x, labels=None):
        if self.training:
            return super().nll(x, labels)
        ms = range(self.config.eval_masks)
        lls = []
        for m in ms:
            self.use_mask(m)
            lls.append(-super().nll(x, labels))
        return -(torch.logsumexp(torch.stack(lls), 0) - math.log(len(ms)))

    def _fill(self, x, known, labels, generator):
        """Draw each image's ordering from the mixture (raster order when completing), then its pixels."""
        n = len(x)
        m_of = torch.zeros(n, dtype=torch.long) if known.any() else \
            torch.randint(self.config.eval_masks, (n,), generator=generator, device=self.device).cpu()
        flat, known = x.flatten(1), known.flatten(1)
        for m in m_of.unique().tolist():
            rows = (m_of == m).nonzero()[:, 0].to(x.device)
            xm, km = flat[rows], known[rows]
            self.use_mask(m)
            for d in self.ordering(m)[0].argsort().tolist():  # pixel indices in generation order
                todo = ~km[:, d]
                if not todo.any():
                    continue
                logits = self.dist_logits(xm.view(len(rows), *self.info.shape)).flatten(-3)[..., d]
                xm[:, d] = torch.where(todo, self.draw(logits, generator), xm[:, d])
            flat[rows] = xm
        return flat.view_as(x)

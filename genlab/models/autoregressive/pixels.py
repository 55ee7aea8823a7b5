"""What the pixel-by-pixel image models share: the output distribution, exact likelihood, sampling and
image completion.

Each pixel value is either binary (``model.output=bernoulli``, for binarised data: one logit per value)
or one of 256 grey levels (``model.output=softmax``: 256 logits). The channels of one pixel are predicted
independently given all earlier pixels, so ``log p(x) = sum_i log p(x_i | x_<i)`` is exact and reported in
nats per image (and bits per dimension). A subclass supplies ``net(x_in, cond)`` returning ``(B, K*C, H, W)``
or ``(B, K*D)`` logits laid out (K, C, H, W), and ``_fill(x, known, labels, generator)``, which draws the
pixels that are not ``known`` in the model's order.

Completion contract (shared with other model families through ``genlab complete``):
``complete(x, mask, n, generator=None, labels=None)`` takes images ``x`` (B, C, H, W) in [0, 1] and a
bool ``mask`` (H, W) or broadcastable to (B, C, H, W), True where pixels are to be generated, and returns
(B, n, C, H, W) completions in [0, 1] that keep every uncovered pixel. An autoregressive model conditions
each new pixel on the pixels before it in its order: exact for a covered region that comes last (e.g. the
bottom half in raster order); uncovered pixels after a covered one are kept but not looked ahead to.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...config import ModelConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError, DataError
from ..base import GenerativeModel


@dataclass
class PixelConfig(ModelConfig):
    output: str = "bernoulli"  # bernoulli (binary pixels) | softmax (256 grey levels)

    def validate(self) -> None:
        if self.output not in ("bernoulli", "softmax"):
            raise ConfigError(f"model.output must be bernoulli (binarised data) or softmax (256 grey levels), got {self.output!r}")


class PixelModel(GenerativeModel):
    """Base class of the autoregressive image models (not registered itself)."""

    family = "autoregressive"
    modalities = ("image",)
    likelihood_estimator = "exact"

    def __init__(self, config: PixelConfig, info: DataInfo):
        super().__init__(config, info)
        if getattr(config, "conditional", False) and info.num_classes < 2:
            raise ConfigError(f"model.conditional=true needs labelled data; {info.name or 'this dataset'} has no labels")
        self.k = 1 if config.output == "bernoulli" else 256  # logits per pixel value

    # ------------------------------------------------------------------ distribution
    def net(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] as the network sees them: centred to [-1, 1] for the convolutional models."""
        return x * 2 - 1

    def _cond(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        return F.one_hot(labels, self.info.num_classes).float() if self.conditional and labels is not None else None

    def dist_logits(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of every pixel value given the pixels before it: (B, C, H, W) or (B, 256, C, H, W)."""
        out = self.net(self.net_input(x), self._cond(labels))
        b, c, h, w = len(x), *x.shape[1:]
        return out.view(b, c, h, w) if self.k == 1 else out.view(b, self.k, c, h, w)

    def _check(self, x: torch.Tensor) -> None:
        if self.k == 1 and not ((x == 0) | (x == 1)).all():
            raise DataError(f"{self.name} with model.output=bernoulli needs binary pixels: add --set data.binarize=dynamic "
                            "(or static), or use --set model.output=softmax for 256 grey levels")

    def nll(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Exact negative log-likelihood per image, in nats."""
        logits = self.dist_logits(x, labels)
        if self.k == 1:
            return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        target = (x * 255).round().long()
        return F.cross_entropy(logits, target, reduction="none").flatten(1).sum(1)

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        return batch.get("y") if self.conditional else None

    def training_step(self, batch: Batch, step: int) -> dict:
        if step == 0:
            self._check(batch["x"])
        loss = self.nll(batch["x"], self._labels(batch)).mean()
        self.optimize(loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        self._check(batch["x"])
        return -self.nll(batch["x"], self._labels(batch))

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict:
        nll = -self.log_likelihood(batch).mean()
        return {"nll": float(nll), "bits_per_dim": float(nll / (math.prod(self.info.shape) * math.log(2)))}

    # ------------------------------------------------------------------ generation
    def draw(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Pixel values in [0, 1] drawn from logits (B, ...) or (B, 256, ...)."""
        if self.k == 1:
            return torch.bernoulli(torch.sigmoid(logits.float()), generator=generator)
        probs = logits.float().movedim(1, -1).softmax(-1)
        v = torch.multinomial(probs.reshape(-1, self.k), 1, generator=generator)
        return v.view(probs.shape[:-1]).float() / 255

    def quantise(self, x: torch.Tensor) -> torch.Tensor:
        """Observed pixels on the model's value grid: {0, 1} (threshold 0.5) or k / 255."""
        return (x >= 0.5).float() if self.k == 1 else (x * 255).round() / 255

    def _fill(self, x: torch.Tensor, known: torch.Tensor, labels: torch.Tensor | None, generator) -> torch.Tensor:
        raise NotImplementedError

    receptive_rows: int = 0  # convolutional models: rows above a pixel that its logits can depend on

    def _fill_raster(self, x, known, labels, generator) -> torch.Tensor:
        """Raster-order filling for convolutional models. The logits of row ``i`` depend only on rows
        ``i - receptive_rows .. i``, so the network runs on that band of rows (exact: every value it uses
        lies inside the band); all images and channels of a pixel are drawn at once, and when only some images
        need the pixel (completion with different masks) the network runs on those images alone."""
        h, w = x.shape[2:]
        for i in range(h):
            top = max(0, i - self.receptive_rows)
            for j in range(w):
                todo = ~known[:, :, i, j]
                rows = todo.any(1)
                if not rows.any():
                    continue
                if bool(rows.all()):
                    logits = self.dist_logits(x[:, :, top : i + 1], labels)[..., -1, j]
                    x[:, :, i, j] = torch.where(todo, self.draw(logits, generator), x[:, :, i, j])
                    continue
                sel = rows.nonzero().squeeze(1)
                logits = self.dist_logits(x[sel, :, top : i + 1], None if labels is None else labels[sel])[..., -1, j]
                x[sel, :, i, j] = torch.where(todo[sel], self.draw(logits, generator), x[sel, :, i, j])
        return x

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options):
        labels = self.check_sample_args(n, labels, options)
        if self.conditional and labels is None:
            labels = torch.randint(self.info.num_classes, (n,), generator=generator, device=self.device)
        x = torch.zeros(n, *self.info.shape, device=self.device)
        return self._fill(x, torch.zeros_like(x, dtype=torch.bool), labels, generator)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, n: int = 1, generator=None, labels=None) -> torch.Tensor:
        """``n`` completions (B, n, C, H, W) of images ``x`` whose ``mask``ed (True) pixels are redrawn."""
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"number of completions must be a positive integer, got {n!r}")
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(self.info.shape):
            raise ConfigError(f"images to complete must have shape (B, {', '.join(map(str, self.info.shape))}), got {tuple(x.shape)}")
        b = len(x)
        mask = torch.as_tensor(mask, device=self.device).bool().expand_as(x)
        x = self.quantise(x.to(self.device).float()).repeat_interleave(n, 0)
        known = (~mask).repeat_interleave(n, 0)
        if labels is not None:  # one label per image (or one for all), repeated for its completions
            labels = torch.as_tensor(labels).reshape(-1)
            labels = labels.repeat_interleave(n) if labels.numel() == b else labels
        labels = self.check_sample_args(b * n, labels, {})
        if self.conditional and labels is None:
            labels = torch.randint(self.info.num_classes, (b * n,), generator=generator, device=self.device)
        out = self._fill(x.masked_fill(~known, 0), known, labels, generator)
        return out.view(b, n, *self.info.shape)

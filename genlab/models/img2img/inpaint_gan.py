"""``inpaint-gan``: image completion in the manner of Iizuka et al. (2017), "Globally and Locally Consistent
Image Completion", scaled down for small images.

The completion network (``DilatedInpaintNet``) sees the image with its covered pixels blanked and the mask,
and fills the hole; its output replaces the covered pixels only. A global discriminator judges the whole
completed image, a local one a crop (half the image's side) centred on the hole; their features are
concatenated into one logit. Training: reconstruction (L1 on the covered pixels, weight
``rec_weight``, plus a smaller weight on the rest of the image) alone for ``rec_steps`` steps, then plus the
adversarial loss (``adv_weight``); ``rec_loss=mse`` uses the squared error instead of L1. Masks are drawn afresh for every batch: ``model.mask`` = ``centre``,
``random-box``, ``strokes`` (free-form) or ``mixed``.

``complete(x, mask, n)`` follows ``genlab.masks``: uncovered pixels are kept exactly. The network is
deterministic, so the ``n`` completions of one image are identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import ModelConfig
from ...data.base import Batch, DataInfo
from ...data.paired import MASK_KINDS, random_masks
from ...errors import ConfigError
from ...registry import register_model
from ..gan import losses
from .common import ConvCritic, DilatedInpaintNet, Img2ImgModel, check_adv_loss


@dataclass
class InpaintConfig(ModelConfig):
    mask: str = "mixed"  # centre | random-box | strokes | mixed (training masks, drawn per batch)
    width: int = 32  # channels of the completion network's first stage
    width_d: int = 32
    loss: str = "nonsaturating"  # adversarial loss: nonsaturating | lsgan | hinge | minimax
    rec_loss: str = "l1"  # l1 (sharper, but favours the background where unsure) | mse (the mean: greyer, higher PSNR)
    rec_weight: float = 1.0  # reconstruction loss on covered pixels
    rec_weight_known: float = 0.1  # ... and on uncovered pixels (keeps the network's output calibrated)
    adv_weight: float = 0.003
    rec_steps: int = 200  # reconstruction-only steps before the discriminators join

    def validate(self) -> None:
        if self.mask in ("center",):
            self.mask = "centre"
        if self.mask not in MASK_KINDS:
            raise ConfigError(f"model.mask must be one of {', '.join(MASK_KINDS)}, got {self.mask!r}")
        check_adv_loss(self.loss)
        if self.rec_loss not in ("l1", "mse"):
            raise ConfigError(f"model.rec_loss must be l1 or mse, got {self.rec_loss!r}")
        if self.width < 2 or self.width_d < 1:
            raise ConfigError(f"model.width must be >= 2 and model.width_d >= 1, got {self.width}, {self.width_d}")
        for k in ("rec_weight", "rec_weight_known", "adv_weight", "rec_steps"):
            if getattr(self, k) < 0:
                raise ConfigError(f"model.{k} must be >= 0, got {getattr(self, k)}")
        if self.rec_weight == 0 and self.adv_weight == 0:
            raise ConfigError("model.rec_weight and model.adv_weight are both 0: nothing to train")


class GlobalLocalDiscriminator(nn.Module):
    def __init__(self, channels: int, size: tuple[int, int], width: int):
        super().__init__()
        h, w = size
        self.crop = (max(4, h // 2), max(4, w // 2))
        self.glob = ConvCritic(channels + 1, size, width, stages=2)
        self.local = ConvCritic(channels + 1, self.crop, width, stages=1)
        self.head = nn.Linear(self.glob.out_dim + self.local.out_dim, 1)

    def local_crops(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """A (crop_h, crop_w) window per image, centred on the covered pixels' centroid (inside the image)."""
        n, c, h, w = x.shape
        ch, cw = self.crop
        m = mask.flatten(1).float()
        rows = torch.arange(h, device=x.device).repeat_interleave(w).float()
        cols = torch.arange(w, device=x.device).repeat(h).float()
        cnt = m.sum(1).clamp_min(1)
        cy, cx = (m * rows).sum(1) / cnt, (m * cols).sum(1) / cnt
        top = (cy - ch / 2).round().long().clamp(0, h - ch)
        left = (cx - cw / 2).round().long().clamp(0, w - cw)
        iy = (top[:, None] + torch.arange(ch, device=x.device))[:, :, None].expand(n, ch, cw)
        ix = (left[:, None] + torch.arange(cw, device=x.device))[:, None, :].expand(n, ch, cw)
        flat = (iy * w + ix).reshape(n, 1, -1).expand(n, c, -1)
        return x.flatten(2).gather(2, flat).view(n, c, ch, cw)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        xm = torch.cat([x, mask.float() * 2 - 1], 1)
        f = torch.cat([self.glob(xm), self.local(self.local_crops(xm, mask))], 1)
        return self.head(f)


@register_model
class InpaintGAN(Img2ImgModel):
    name = "inpaint-gan"
    description = "image completion: dilated encoder-decoder, global + local discriminators (Iizuka et al. 2017)"
    Config = InpaintConfig
    needs_pairing = ("self",)

    def __init__(self, config: InpaintConfig, info: DataInfo):
        super().__init__(config, info)
        c, h, w = info.shape
        self.generator = DilatedInpaintNet(c, config.width)
        self.discriminator = GlobalLocalDiscriminator(c, (h, w), config.width_d)

    def optimizer_groups(self):
        return {"d": list(self.discriminator.parameters()), "g": list(self.generator.parameters())}

    # ------------------------------------------------------------------ pieces
    def _fill(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw network output, completion) in [-1, 1] for images ``x`` in [-1, 1] and float masks."""
        raw = self.generator(x, mask)
        return raw, x * (1 - mask) + raw * mask

    def make_pair(self, batch: Batch, generator=None):
        x = batch["x"]
        mask = random_masks(self.config.mask, len(x), x.shape[2], x.shape[3], generator, x.device).float()
        return torch.cat([x * (1 - mask), mask], 1), x

    def translate(self, a: torch.Tensor, **kw) -> torch.Tensor:
        """``a`` = (masked image, mask) stacked on the channel axis, as ``make_pair`` builds it."""
        x, mask = a[:, :-1], a[:, -1:]
        return (self._fill(x * 2 - 1, mask)[1] + 1) / 2

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Batch, step: int) -> dict:
        c = self.config
        x = batch["x"] * 2 - 1
        mask = random_masks(c.mask, len(x), x.shape[2], x.shape[3], None, x.device).float()
        adv = c.adv_weight > 0 and step >= c.rec_steps
        logs = {}
        if adv:
            with torch.no_grad():
                fake = self._fill(x, mask)[1]
            loss_d = losses.d_loss(c.loss, self.discriminator(x, mask), self.discriminator(fake, mask))
            self.optimize(loss_d, "d")
            logs["loss_d"] = loss_d.detach()
        raw, filled = self._fill(x, mask)
        err = (raw - x).abs() if c.rec_loss == "l1" else (raw - x).square() / 2
        covered = (err * mask).sum() / mask.expand_as(x).sum().clamp_min(1)
        known = (err * (1 - mask)).sum() / (1 - mask).expand_as(x).sum().clamp_min(1)
        loss = c.rec_weight * covered + c.rec_weight_known * known
        if adv:
            self.set_requires_grad([self.discriminator], False)
            loss_adv = losses.g_loss(c.loss, self.discriminator(filled, mask))
            self.set_requires_grad([self.discriminator], True)
            loss = loss + c.adv_weight * loss_adv
            logs["loss_adv"] = loss_adv.detach()
        self.optimize(loss, "g")
        logs.update(loss_g=loss.detach(), rec_covered=covered.detach())
        return logs

    # ------------------------------------------------------------------ completion
    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, n: int = 1, generator: torch.Generator | None = None,
                 labels: torch.Tensor | None = None, **options) -> torch.Tensor:
        """(B, n, C, H, W) completions of ``x`` (B, C, H, W) in [0, 1]; ``mask`` True where covered,
        (H, W) or broadcastable to ``x``. Uncovered pixels are returned exactly as given."""
        from ...masks import check_mask

        if options:
            raise ConfigError(f"model {self.name!r} takes no completion options, got {', '.join(options)}")
        if labels is not None:
            raise ConfigError(f"model {self.name!r} is not conditional; drop --label")
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"number of completions must be a positive integer, got {n!r}")
        x = self.check_input(x, tuple(self.info.shape))
        m = batch_mask(mask, x)
        covered = m.flatten(1).sum(1)
        for i in (covered == 0).nonzero().flatten()[:1].tolist() + (covered == m[0].numel()).nonzero().flatten()[:1].tolist():
            check_mask(m[i, 0], "mask" if len(m) == 1 else f"mask of image {i}")
        out = []
        for s in range(0, len(x), 512):
            xs, ms = x[s:s + 512], m[s:s + 512].float()
            g = self.translate(torch.cat([xs * (1 - ms), ms], 1))
            out.append(torch.where(ms.bool().expand_as(xs), g.clamp(0, 1), xs))
        filled = torch.cat(out)
        return filled[:, None].expand(-1, n, -1, -1, -1).clone()


def batch_mask(mask, x: torch.Tensor) -> torch.Tensor:
    """A mask given as (H, W), (B, H, W), (B, 1, H, W) or (B, C, H, W) as bool (B, 1, H, W) for images ``x``."""
    mask = torch.as_tensor(mask, device=x.device).bool()
    b, _, h, w = x.shape
    m = mask[None, None] if mask.dim() == 2 else mask[:, None] if mask.dim() == 3 else mask[:, :1] if mask.dim() == 4 else None
    try:
        if m is None:
            raise RuntimeError
        return m.expand(b, 1, h, w)
    except RuntimeError:
        raise ConfigError(f"mask of shape {tuple(mask.shape)} does not fit images of shape {tuple(x.shape)}") from None

"""What the image-to-image models share: the base class (inputs, optimisers, validation, translation in
batches) and the networks (dilated encoder-decoder, U-Net, ResNet generators, SR-ResNet, PatchGAN and
global/local discriminators, an image pool).

Images enter the networks in [-1, 1]; generators end in ``tanh``. Every model exposes
``translate(a) -> images in [0, 1]`` (inputs ``a`` in [0, 1]), which ``genlab translate`` and the evaluator use.
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...config import TrainConfig
from ...data.base import Batch, DataInfo
from ...errors import ConfigError
from ...nn.blocks import maybe_spectral_norm
from ..base import GenerativeModel

ADV_LOSSES = ("nonsaturating", "lsgan", "hinge", "minimax")


def check_adv_loss(name: str) -> None:
    if name not in ADV_LOSSES:
        raise ConfigError(f"model.loss must be one of {', '.join(ADV_LOSSES)}, got {name!r}")


class Img2ImgModel(GenerativeModel):
    """Base class (not registered). Subclasses set ``needs_pairing`` and implement ``translate``."""

    family = "img2img"
    modalities = ("paired",)
    needs_pairing: ClassVar[tuple[str, ...]] = ("self", "files")  # accepted info.meta["pairing"] values
    # Adam settings for every player unless the training config says otherwise (train.lr, train.betas)
    train_defaults: ClassVar[dict] = {"lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0, "optimizer": "adam"}

    def __init__(self, config, info: DataInfo):
        super().__init__(config, info)
        pairing = info.meta.get("pairing", "self") if info.modality == "paired" else "domains"
        if info.modality == "paired" and pairing not in self.needs_pairing:
            raise ConfigError(
                f"model {self.name!r} makes its inputs from plain images; {info.name or 'this dataset'} is a folder "
                "of (input, target) pairs: give an image dataset (mnist, a folder of images, ...) or use pix2pix")
        self.pairing = pairing
        c, h, w = info.shape
        if c not in (1, 3) or min(h, w) < 4:
            raise ConfigError(f"image-to-image models need 1- or 3-channel images of at least 4x4 pixels, got "
                              f"{c}x{h}x{w}")

    # ------------------------------------------------------------------ optimisers
    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        raise NotImplementedError

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per player ("g", "d"), all from the training config (train.lr, train.betas,
        train.lr_mult); Adam betas default to 0.5 / 0.999 as for genlab's GANs."""
        return self.build_optimizers(train, self.optimizer_groups())

    @staticmethod
    def set_requires_grad(modules, flag: bool) -> None:
        for m in modules:
            for p in m.parameters():
                p.requires_grad_(flag)

    # ------------------------------------------------------------------ translation
    def make_pair(self, batch: Batch, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) in [0, 1] for a batch."""
        return batch["a"], batch["x"]

    def translate(self, a: torch.Tensor, **kw) -> torch.Tensor:
        raise NotImplementedError

    def check_input(self, a: torch.Tensor, shape: tuple[int, ...] | None = None, what: str = "input") -> torch.Tensor:
        """Float images (N, C, H, W) in [0, 1] with the model's channels (and ``shape`` when given)."""
        a = torch.as_tensor(a)
        if a.dim() == 3:
            a = a[None]
        if a.dim() != 4:
            raise ConfigError(f"{what} images must have shape (N, C, H, W), got {tuple(a.shape)}")
        if a.dtype == torch.uint8:
            a = a.float() / 255
        a = a.float()
        c = (shape or self.input_shape)[0]
        if a.shape[1] != c:
            kind = {1: "grey (1 channel)", 3: "RGB (3 channels)"}
            raise ConfigError(f"model {self.name!r} takes {kind.get(c, c)} {what} images, got {kind.get(a.shape[1], a.shape[1])}; "
                              f"convert them first")
        if shape is not None and tuple(a.shape[1:]) != tuple(shape):
            raise ConfigError(f"model {self.name!r} takes {what} images of {'x'.join(map(str, shape))}, got "
                              f"{'x'.join(map(str, a.shape[1:]))}")
        if not torch.isfinite(a).all():
            raise ConfigError(f"{what} images contain NaN or infinite values")
        return a.clamp(0, 1).to(self.device)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.info.meta.get("input_shape") or self.info.shape)

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict[str, float]:
        g = torch.Generator().manual_seed(0)
        a, x = self.make_pair(batch, g)
        out = self.translate(a)
        mse = F.mse_loss(out, x, reduction="none").flatten(1).mean(1)
        return {"l1": float((out - x).abs().mean()), "psnr": float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean())}


# ----------------------------------------------------------------------------- building blocks


def norm2d(kind: str, ch: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    return nn.Identity()


class ResBlock(nn.Module):
    def __init__(self, ch: int, norm: str = "instance", act: str = "relu"):
        super().__init__()
        a = nn.PReLU(ch) if act == "prelu" else nn.ReLU()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), norm2d(norm, ch), a,
                                  nn.Conv2d(ch, ch, 3, padding=1), norm2d(norm, ch))

    def forward(self, x):
        return x + self.body(x)


def _pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


class DilatedInpaintNet(nn.Module):
    """Iizuka et al.'s completion network, scaled down: a stride-2 encoder, dilated 3x3 convolutions
    (rates 2, 4, 8) that see far across the hole at low resolution, and a decoder back to full size.
    Input: masked image (covered pixels 0) and the mask; output: a whole image in [-1, 1]."""

    def __init__(self, channels: int, width: int = 32, dilations=(2, 4, 8)):
        super().__init__()
        w = width
        self.enc = nn.Sequential(nn.Conv2d(channels + 1, w, 5, padding=2), nn.ReLU(),
                                 nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.mid = nn.Sequential(*[m for d in dilations for m in (nn.Conv2d(2 * w, 2 * w, 3, padding=d, dilation=d), nn.ReLU())],
                                 nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.dec = nn.Sequential(nn.Conv2d(2 * w + w, w, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(w, w // 2, 3, padding=1), nn.ReLU(), nn.Conv2d(w // 2, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        inp = torch.cat([x * (1 - mask), mask], 1)
        skip = self.enc[:2](inp)
        h = self.mid(self.enc[2:](skip))
        h = F.interpolate(h, size=x.shape[-2:], mode="nearest")
        return torch.tanh(self.dec(torch.cat([h, skip], 1)))


class ConvCritic(nn.Module):
    """Stride-2 conv stack (spectral norm optional) down to a small grid, flattened to a feature vector."""

    def __init__(self, channels: int, size: tuple[int, int], width: int = 32, stages: int = 2, spectral: bool = True):
        super().__init__()
        layers, ch = [], channels
        h, w = size
        for i in range(stages):
            out = width * 2**i
            layers += [maybe_spectral_norm(nn.Conv2d(ch, out, 4, stride=2, padding=1), spectral), nn.LeakyReLU(0.2)]
            ch, h, w = out, h // 2, w // 2
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.out_dim = ch * 4

    def forward(self, x):
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): a grid of logits, each judging one overlapping patch."""

    def __init__(self, channels: int, width: int = 32, stages: int = 2, spectral: bool = True):
        super().__init__()
        layers, ch = [], channels
        for i in range(stages):
            out = width * 2**i
            layers += [maybe_spectral_norm(nn.Conv2d(ch, out, 4, stride=2, padding=1), spectral), nn.LeakyReLU(0.2)]
            ch = out
        layers += [maybe_spectral_norm(nn.Conv2d(ch, ch * 2, 3, padding=1), spectral), nn.LeakyReLU(0.2),
                   maybe_spectral_norm(nn.Conv2d(ch * 2, 1, 3, padding=1), spectral)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def patch_stages(h: int, w: int) -> int:
    """Stride-2 stages of a PatchGAN for an image: 2 for 28x28, 3 from 64 pixels up, 1 for 8x8."""
    s = 0
    while s < 3 and min(h, w) // 2 ** (s + 1) >= 4:
        s += 1
    return max(s, 1)


class UNet(nn.Module):
    """pix2pix's U-Net generator: stride-2 encoder, decoder with skip connections, dropout as its noise.
    Inputs whose sides are not multiples of 2**depth are padded (replicate) and the output cropped."""

    def __init__(self, cin: int, cout: int, width: int = 32, depth: int = 3, dropout: float = 0.5):
        super().__init__()
        self.depth = depth
        chans = [min(width * 2**i, width * 8) for i in range(depth + 1)]
        self.stem = nn.Sequential(nn.Conv2d(cin, chans[0], 3, padding=1), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList(nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=1),
                                                 nn.InstanceNorm2d(chans[i + 1], affine=True), nn.LeakyReLU(0.2))
                                   for i in range(depth))
        self.ups = nn.ModuleList(nn.Sequential(nn.ConvTranspose2d(chans[i + 1] * (1 if i == depth - 1 else 2), chans[i], 4, stride=2, padding=1),
                                               nn.InstanceNorm2d(chans[i], affine=True),
                                               nn.Dropout(dropout) if i >= depth - 2 and dropout else nn.Identity(), nn.ReLU())
                                 for i in reversed(range(depth)))
        self.out = nn.Conv2d(chans[0] * 2, cout, 3, padding=1)

    def forward(self, x):
        x, (h, w) = _pad_to(x, 2**self.depth)
        skips = [self.stem(x)]
        for d in self.downs:
            skips.append(d(skips[-1]))
        y = skips.pop()
        for i, up in enumerate(self.ups):
            y = up(y)
            y = torch.cat([y, skips.pop()], 1)
        return torch.tanh(self.out(y))[..., :h, :w]


class ResnetGenerator(nn.Module):
    """CycleGAN's generator, scaled down: 7x7 stem, one stride-2 stage, residual blocks, back up."""

    def __init__(self, cin: int, cout: int, width: int = 32, blocks: int = 4):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(cin, w, 7, padding=3, padding_mode="reflect"), nn.InstanceNorm2d(w, affine=True), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * w, affine=True), nn.ReLU(),
            *[ResBlock(2 * w) for _ in range(blocks)],
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.InstanceNorm2d(w, affine=True), nn.ReLU(),
            nn.Conv2d(w, cout, 7, padding=3, padding_mode="reflect"))

    def forward(self, x):
        x2, (h, w) = _pad_to(x, 2)
        return torch.tanh(self.net(x2))[..., :h, :w]


class SRResNet(nn.Module):
    """SR-ResNet (Ledig et al. 2017), scaled down: residual blocks at low resolution, then one
    conv + pixel-shuffle x2 stage per factor of 2. Predicts the residual over bicubic upsampling, so an
    untrained network already gives the bicubic image. Batch norm is used in eval mode at inference, which
    is per-pixel affine, so tiles give the same result as the whole image."""

    def __init__(self, channels: int, scale: int, width: int = 32, blocks: int = 4):
        super().__init__()
        self.scale = scale
        w = width
        self.head = nn.Sequential(nn.Conv2d(channels, w, 5, padding=2), nn.PReLU(w))
        self.body = nn.Sequential(*[ResBlock(w, norm="batch", act="prelu") for _ in range(blocks)],
                                  nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w))
        ups = []
        for _ in range(int(math.log2(scale))):
            ups += [nn.Conv2d(w, 4 * w, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(w)]
        self.up = nn.Sequential(*ups, nn.Conv2d(w, channels, 3, padding=1))
        nn.init.zeros_(self.up[-1].weight)
        nn.init.zeros_(self.up[-1].bias)
        self.receptive_radius = 2 + 2 * blocks + 1 + 2  # low-resolution pixels that influence an output pixel

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``lr`` in [0, 1]; returns the upscaled image in [0, 1] (not clamped, for the loss)."""
        h = self.head(lr * 2 - 1)
        h = h + self.body(h)
        base = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + self.up(h) / 2


class ImagePool(nn.Module):
    """Shrivastava et al.'s history of generated images (as in CycleGAN): the discriminator sees, for each
    new image, with probability 1/2 a stored older one instead (the new one takes its place). Held in
    buffers, so a resumed run continues with the same history."""

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(max(size, 1), *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, x: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return x
        x = x.detach()
        out = x.clone()
        n = int(self.count)
        fill = min(self.size - n, len(x))
        if fill > 0:  # the pool is still filling: store the first images, hand them back unchanged
            self.images[n:n + fill] = x[:fill]
            self.count += fill
        rest = len(x) - fill
        if rest > 0:
            swap = torch.rand(rest, device=x.device) < 0.5
            idx = torch.randint(self.size, (rest,), device=x.device)
            pos = torch.arange(fill, len(x), device=x.device)[swap]
            out[pos] = self.images[idx[swap]]
            self.images[idx[swap]] = x[pos]
        return out

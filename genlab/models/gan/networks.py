"""GAN networks built from the shared blocks: a generator and a discriminator, MLP (vectors, small images)
or DCGAN-style convolutional (images), with the options the GAN variants need:

- labels: a learned embedding concatenated to the generator's noise and to the discriminator's input
  (``cond="concat"``, Mirza & Osindero 2014) or an inner product with the discriminator's features
  (``cond="projection"``, Miyato & Koyama 2018);
- heads on the discriminator's features: the adversarial output, an auxiliary classifier (AC-GAN, Odena
  et al. 2017) and a "which generator made this" classifier (MGAN, Hoang et al. 2018);
- mode-collapse remedies: PacGAN packing (Lin et al. 2018: the discriminator judges ``pack`` samples
  at once), a minibatch-stddev feature (Karras et al. 2018) and several generators sharing one network
  (MGAN: each has its own affine map of the noise).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ...nn.blocks import MLP, ConvDecoder, ConvEncoder, activation, norm_layer

MAX_LABEL_DIM = 32  # labels enter as a learned embedding of min(num_classes, 32) dimensions


def label_dim(num_classes: int) -> int:
    return min(num_classes, MAX_LABEL_DIM) if num_classes else 0


def minibatch_stddev(f: torch.Tensor, group: int = 4) -> torch.Tensor:
    """(N, F) features -> (N, 1): the standard deviation of each feature over a group of ``group``
    samples, averaged over features and given to every member (the whole batch when N % group != 0)."""
    n = f.shape[0]
    g = group if n % group == 0 else n
    std = f.view(n // g, g, -1).var(1, unbiased=False).add(1e-8).sqrt().mean(1)
    return std.repeat_interleave(g).unsqueeze(1)


def pack(x: torch.Tensor, p: int) -> torch.Tensor:
    """PacGAN: (N, C, ...) -> (N / p, p * C, ...), consecutive samples side by side along channels."""
    if p == 1:
        return x
    return x.reshape(x.shape[0] // p, p * x.shape[1], *x.shape[2:])


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(layer) if on else layer


def conv_blocks(ch: int, n: int, norm: str, act: str, spectral: bool = False) -> list[nn.Module]:
    """``n`` resolution-keeping blocks (3×3 conv, norm, activation) of ``ch`` channels."""
    return [m for _ in range(n)
            for m in (_sn(nn.Conv2d(ch, ch, 3, 1, 1), spectral), norm_layer(norm, ch), activation(act))]


def deepen_decoder(dec: ConvDecoder, blocks: int, norm: str) -> ConvDecoder:
    """``blocks`` extra 3×3 conv blocks at every resolution of a DCGAN generator below the output one (which
    would cost the most: on 8×8 digits, blocks there gave FID 35 instead of 83 at ~1.7× the CPU)."""
    dec.fc_act = nn.Sequential(*dec.fc_act, *conv_blocks(dec.ch0, blocks, norm, "relu"))
    out: list[nn.Module] = []
    for m in dec.net:
        out.append(m)
        if isinstance(m, nn.ReLU):  # the end of an upsampling stage (conv, norm, activation)
            out += conv_blocks(out[-3].out_channels, blocks, norm, "relu")
    dec.net = nn.Sequential(*out)
    return dec


def deepen_encoder(enc: ConvEncoder, blocks: int, norm: str, spectral: bool) -> ConvEncoder:
    """``blocks`` extra 3×3 conv blocks after every stride-2 stage of a DCGAN discriminator."""
    out: list[nn.Module] = []
    for m in enc.net:
        out.append(m)
        if isinstance(m, nn.LeakyReLU):
            conv = out[-3]
            ch = (conv.parametrizations.weight.original if spectral else conv.weight).shape[0]
            out += conv_blocks(ch, blocks, norm, "lrelu", spectral)
    enc.net = nn.Sequential(*out)
    return enc


class Generator(nn.Module):
    """Noise (N, latent_dim) [+ labels, + generator index] -> samples (N, *shape); tanh output for images."""

    def __init__(self, latent_dim: int, shape: tuple[int, ...], arch: str, width: int, depth: int = 3,
                 norm: str = "batch", num_classes: int = 0, n_generators: int = 1, image: bool = True,
                 blocks: int = 0):
        super().__init__()
        self.shape = tuple(shape)
        e = label_dim(num_classes)
        self.label_emb = nn.Embedding(num_classes, e) if e else None
        if n_generators > 1:  # MGAN: generator k maps the noise by its own affine map (random, so that the
            # generators differ from the start; no random shift: with one, each generator learns to ignore z)
            self.maps = nn.Parameter(torch.randn(n_generators, latent_dim, latent_dim) / math.sqrt(latent_dim))
            self.shifts = nn.Parameter(torch.zeros(n_generators, latent_dim))
        else:
            self.maps = self.shifts = None
        if arch == "conv":
            self.net = ConvDecoder(latent_dim + e, self.shape, width, norm=norm)
            if blocks:
                self.net = deepen_decoder(self.net, blocks, norm)
        else:
            self.net = MLP([latent_dim + e] + [width] * depth + [math.prod(self.shape)], act="relu")
        self.out_act = nn.Tanh() if image else nn.Identity()

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, gen_idx: torch.Tensor | None = None):
        if self.maps is not None:
            z = torch.baddbmm(self.shifts[gen_idx].unsqueeze(1), z.unsqueeze(1), self.maps[gen_idx]).squeeze(1)
        if self.label_emb is not None:
            z = torch.cat([z, self.label_emb(labels)], 1)
        return self.out_act(self.net(z).view(len(z), *self.shape))


class DOut(NamedTuple):
    adv: torch.Tensor  # (M,) adversarial output (logit / critic value), M = N / pack
    aux: torch.Tensor | None  # (M, num_classes) AC-GAN class logits
    cls: torch.Tensor | None  # (M, n_generators) MGAN generator logits


class Discriminator(nn.Module):
    """Samples (N, *shape) [+ labels] -> :class:`DOut`. A conv body (``ConvEncoder``) or an MLP body
    gives features; heads read them (plus the minibatch-stddev feature when asked for)."""

    def __init__(self, shape: tuple[int, ...], arch: str, width: int, depth: int = 3, norm: str = "batch",
                 spectral: bool = False, num_classes: int = 0, cond: str = "concat", aux_classes: int = 0,
                 n_generators: int = 1, pack: int = 1, minibatch_std: bool = False, blocks: int = 0):
        super().__init__()
        self.arch, self.pack, self.minibatch_std = arch, pack, minibatch_std
        e = label_dim(num_classes) if cond == "concat" else 0
        self.label_emb = nn.Embedding(num_classes, e) if e else None
        if arch == "conv":
            c, h, w = shape
            self.body = ConvEncoder((pack * (c + e), h, w), 1, width, norm=norm, act="lrelu", spectral=spectral,
                                    first_norm=False)
            self.body.out = nn.Identity()  # the heads below replace the encoder's linear output
            if blocks:
                self.body = deepen_encoder(self.body, blocks, norm, spectral)
            feat = self.body.flat
        else:
            self.body = MLP([pack * (math.prod(shape) + e)] + [width] * depth, act="lrelu", out_act="lrelu",
                            spectral=spectral)
            feat = width
        feat += int(minibatch_std)
        self.adv = _sn(nn.Linear(feat, 1), spectral)
        self.proj = _sn(nn.Embedding(num_classes, feat), spectral) if cond == "projection" and num_classes else None
        self.aux = _sn(nn.Linear(feat, aux_classes), spectral) if aux_classes else None
        self.cls = nn.Linear(feat, n_generators) if n_generators > 1 else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DOut:
        if self.label_emb is not None:
            e = self.label_emb(labels)
            if self.arch == "conv":
                x = torch.cat([x, e[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
            else:
                x = torch.cat([x.flatten(1), e], 1)
        elif self.arch != "conv":
            x = x.flatten(1)
        f = self.body(pack(x, self.pack)).flatten(1)
        if self.minibatch_std:
            f = torch.cat([f, minibatch_stddev(f)], 1)
        adv = self.adv(f).squeeze(1)
        if self.proj is not None:
            adv = adv + (self.proj(labels) * f).sum(1)
        return DOut(adv, self.aux(f) if self.aux is not None else None, self.cls(f) if self.cls is not None else None)

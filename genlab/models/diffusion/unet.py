"""A compact U-Net for diffusion models on 8-64 px images (after Ho et al. 2020, "Denoising diffusion
probabilistic models", scaled down).

Residual blocks with group norm and SiLU take a sinusoidal time embedding (plus an optional class
embedding) through a per-channel shift; self-attention runs at the low resolutions only; skip connections
join each down-sampling level to its up-sampling mirror. The output convolution starts at zero, so an
untrained net predicts 0.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.blocks import norm_layer


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (Vaswani et al. 2017) of (N,) time values: (N, dim), cosines then sines."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


class ConditionEmbedding(nn.Module):
    """Time (and optional class) embedding of size ``dim``. Class ``num_classes`` is the "no label" token
    that classifier-free guidance trains with and samples from."""

    def __init__(self, base: int, dim: int, num_classes: int = 0):
        super().__init__()
        self.base = base
        self.time = nn.Sequential(nn.Linear(base, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.base))
        if self.label is not None:
            if y is None:
                y = torch.full_like(t, self.label.num_embeddings - 1, dtype=torch.long)
            emb = emb + self.label(y)
        return emb


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.in_layers = nn.Sequential(norm_layer("group", cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))
        self.out_layers = nn.Sequential(norm_layer("group", cout), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Conv2d(cout, cout, 3, padding=1))
        nn.init.zeros_(self.out_layers[-1].weight)
        nn.init.zeros_(self.out_layers[-1].bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb(emb)[:, :, None, None]
        return self.skip(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the pixels of a feature map (one head per 32 channels)."""

    def __init__(self, ch: int):
        super().__init__()
        self.heads = max(1, ch // 32)
        self.norm = norm_layer("group", ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # (n, heads, hw, c/heads)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class _Level(nn.Module):
    """Residual blocks (each followed by attention when ``attn``) at one resolution."""

    def __init__(self, chans: list[tuple[int, int]], emb_dim: int, attn: bool, dropout: float):
        super().__init__()
        self.res = nn.ModuleList(ResBlock(a, b, emb_dim, dropout) for a, b in chans)
        self.attn = nn.ModuleList(AttentionBlock(b) if attn else nn.Identity() for _, b in chans)


class UNet(nn.Module):
    """``forward(x, t, y)``: (N, C, H, W) noisy images, (N,) time steps, optional (N,) labels -> (N, C_out, H, W).

    ``channel_mult`` gives one level per entry (width x mult channels); every level but the last halves
    the resolution, so H and W must be divisible by 2^(len(channel_mult) - 1). Attention runs at levels
    whose feature maps are at most ``attn_max_size`` pixels wide, and in the middle block.
    """

    def __init__(self, in_ch: int, out_ch: int, size: int, width: int = 32, channel_mult=(1, 2, 2),
                 num_res_blocks: int = 1, attn_max_size: int = 8, dropout: float = 0.0, num_classes: int = 0):
        super().__init__()
        emb_dim = 4 * width
        self.cond = ConditionEmbedding(width, emb_dim, num_classes)
        self.inp = nn.Conv2d(in_ch, width, 3, padding=1)
        chans = [width * m for m in channel_mult]
        sizes = [size // 2**i for i in range(len(chans))]
        skips, ch = [width], width
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, (c, s) in enumerate(zip(chans, sizes)):
            pairs = [(ch if j == 0 else c, c) for j in range(num_res_blocks)]
            self.down.append(_Level(pairs, emb_dim, s <= attn_max_size, dropout))
            skips += [c] * num_res_blocks
            ch = c
            last = i == len(chans) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
            if not last:
                skips.append(c)
        self.mid1, self.mid_attn, self.mid2 = ResBlock(ch, ch, emb_dim, dropout), AttentionBlock(ch), ResBlock(ch, ch, emb_dim, dropout)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(len(chans))):
            c = chans[i]
            pairs = []
            for _ in range(num_res_blocks + 1):
                pairs.append((ch + skips.pop(), c))
                ch = c
            self.up.append(_Level(pairs, emb_dim, sizes[i] <= attn_max_size, dropout))
            self.upsample.append(nn.Conv2d(c, c, 3, padding=1) if i > 0 else nn.Identity())
        self.out = nn.Sequential(norm_layer("group", ch), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.cond(t, y)
        h = self.inp(x)
        hs = [h]
        for level, down in zip(self.down, self.downsample):
            for res, attn in zip(level.res, level.attn):
                h = attn(res(h, emb))
                hs.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for level, up in zip(self.up, self.upsample):
            for res, attn in zip(level.res, level.attn):
                h = attn(res(torch.cat([h, hs.pop()], 1), emb))
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(h)

"""Network blocks shared by the model families: MLPs and convolutional encoders/decoders whose depth
follows the image size (DCGAN-style: stride-2 stages from ``size`` down to a 4-7 pixel grid)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def normal_init_(w: torch.Tensor, mean: float, std: float) -> None:
    """``nn.init.normal_``, skipped on the meta device: a model built there only to measure its size needs no
    values, and PyTorch's meta ``normal_`` imports the compiler stack (about 2 CPU-s at ``genlab sample``)."""
    if not w.is_meta:
        nn.init.normal_(w, mean, std)


def identity(n: int, *batch: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``batch`` stacked ``n``×``n`` identity matrices, built without ``torch.eye``: on the meta device (where
    models are built to measure their size) ``torch.eye`` and ``diag_embed`` import the compiler stack (~0.8 CPU-s
    per command)."""
    out = torch.zeros(*batch, n, n, dtype=dtype)
    out.diagonal(dim1=-2, dim2=-1).fill_(1.0)
    return out


def num_stages(size: int, max_stages: int = 4) -> int:
    """How many stride-2 stages take ``size`` down to a grid of at least 4 pixels (28 -> 2, 32 -> 3, 64 -> 4)."""
    k = 0
    while k < max_stages and size % (2 ** (k + 1)) == 0 and size // 2 ** (k + 1) >= 4:
        k += 1
    return k


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "lrelu": nn.LeakyReLU(0.2), "silu": nn.SiLU(), "tanh": nn.Tanh(), "elu": nn.ELU()}[name]


def norm_layer(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "group":
        return nn.GroupNorm(min(8, ch), ch)
    return nn.Identity()


def maybe_spectral_norm(layer: nn.Module, spectral: bool) -> nn.Module:
    return spectral_norm(layer) if spectral else layer


class MLP(nn.Sequential):
    def __init__(self, sizes: list[int], act: str = "relu", out_act: str | None = None, spectral: bool = False,
                 dropout: float = 0.0):
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(maybe_spectral_norm(nn.Linear(a, b), spectral))
            if i < len(sizes) - 2:
                layers.append(activation(act))
                if dropout:
                    layers.append(nn.Dropout(dropout))
        if out_act:
            layers.append(activation(out_act))
        super().__init__(*layers)


class ConvEncoder(nn.Module):
    """(N, C, S, S) images -> (N, out_dim). Channels double at each stride-2 stage, from ``width``."""

    def __init__(self, shape: tuple[int, int, int], out_dim: int, width: int = 32, norm: str = "none",
                 act: str = "relu", spectral: bool = False, first_norm: bool = True):
        super().__init__()
        c, h, w = shape
        stages = num_stages(min(h, w))
        layers: list[nn.Module] = []
        ch = c
        for i in range(max(stages, 1)):
            out = width * 2**i
            stride = 2 if i < stages else 1
            layers += [maybe_spectral_norm(nn.Conv2d(ch, out, 4 if stride == 2 else 3, stride, 1), spectral)]
            layers += [norm_layer(norm if (i > 0 or first_norm) else "none", out), activation(act)]
            ch = out
        self.net = nn.Sequential(*layers)
        self.grid = (h // 2**stages, w // 2**stages)
        self.flat = ch * self.grid[0] * self.grid[1]
        self.out = maybe_spectral_norm(nn.Linear(self.flat, out_dim), spectral)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class ConvDecoder(nn.Module):
    """(N, in_dim) -> (N, C, S, S) (unbounded outputs: logits or means). Mirror of :class:`ConvEncoder`."""

    def __init__(self, in_dim: int, shape: tuple[int, int, int], width: int = 32, norm: str = "none",
                 act: str = "relu", out_channels: int | None = None):
        super().__init__()
        c, h, w = shape
        stages = num_stages(min(h, w))
        n = max(stages, 1)
        self.grid = (h // 2**stages, w // 2**stages)
        self.ch0 = width * 2 ** (n - 1)
        self.fc = nn.Sequential(nn.Linear(in_dim, self.ch0 * self.grid[0] * self.grid[1]))
        self.fc_act = nn.Sequential(norm_layer(norm, self.ch0), activation(act))
        layers: list[nn.Module] = []
        ch = self.ch0
        for i in range(n - 1, -1, -1):
            last = i == 0
            out = (out_channels or c) if last else width * 2 ** (i - 1)
            if i < stages:
                layers.append(nn.ConvTranspose2d(ch, out, 4, 2, 1))
            else:
                layers.append(nn.Conv2d(ch, out, 3, 1, 1))
            if not last:
                layers += [norm_layer(norm, out), activation(act)]
            ch = out
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.ch0, *self.grid)
        return self.net(self.fc_act(h))

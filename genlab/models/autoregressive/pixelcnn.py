"""PixelCNN (van den Oord et al. 2016a) and gated PixelCNN (van den Oord et al. 2016b).

``pixelcnn``: a 7x7 masked convolution (type A) then residual blocks with masked 3x3 convolutions (type B).
``gated-pixelcnn``: vertical and horizontal stacks of gated layers (no blind spot), optionally conditioned
on the class label (``model.conditional=true``, then ``genlab sample --label 7``). Both end in two 1x1
convolutions and give the logits of every pixel in one pass; sampling runs them once per pixel on the
band of rows that pixel can see (its receptive field).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...data.base import DataInfo
from ...errors import ConfigError
from .masked import GatedPixelCNNLayer, MaskedConv2d, PixelCNNResBlock
from ...registry import register_model
from .pixels import PixelConfig, PixelModel


@dataclass
class PixelCNNConfig(PixelConfig):
    width: int = 64  # channels of the residual stream (2 * width in pixelcnn's blocks)
    layers: int = 6  # residual blocks / gated layers after the first
    kernel: int = 7  # first layer (pixelcnn) or every layer (gated-pixelcnn: use 3 or 5)
    head: int = 256  # channels of the 1x1 output layers

    def validate(self) -> None:
        super().validate()
        if self.width < 1 or self.layers < 0 or self.head < 1:
            raise ConfigError("model.width and model.head must be >= 1 and model.layers >= 0")
        if self.kernel < 3 or self.kernel % 2 == 0:
            raise ConfigError(f"model.kernel must be odd and >= 3, got {self.kernel}")


def _head(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, cout, 1))


@register_model
class PixelCNN(PixelModel):
    name = "pixelcnn"
    description = "PixelCNN: masked convolutions, exact NLL (binary or 256-way softmax pixels), image completion"
    Config = PixelCNNConfig

    def __init__(self, config: PixelCNNConfig, info: DataInfo):
        super().__init__(config, info)
        c, h = info.shape[0], config.width
        self.body = nn.Sequential(MaskedConv2d(c, 2 * h, config.kernel, "A"), *(PixelCNNResBlock(h) for _ in range(config.layers)))
        self.head = _head(2 * h, config.head, self.k * c)
        self.receptive_rows = config.kernel // 2 + config.layers  # 7x7 mask A, then 3x3 mask B per block

    def net(self, x, cond):
        return self.head(self.body(x))

    def _fill(self, x, known, labels, generator):
        return self._fill_raster(x, known, labels, generator)


@dataclass
class GatedPixelCNNConfig(PixelCNNConfig):
    layers: int = 8
    kernel: int = 5
    conditional: bool = False  # condition on the class label


@register_model
class GatedPixelCNN(PixelModel):
    name = "gated-pixelcnn"
    description = "Gated PixelCNN: vertical/horizontal gated stacks (no blind spot), class-conditional; exact NLL"
    Config = GatedPixelCNNConfig

    def __init__(self, config: GatedPixelCNNConfig, info: DataInfo):
        super().__init__(config, info)
        c, h = info.shape[0], config.width
        k = info.num_classes if config.conditional else 0
        self.layers = nn.ModuleList(GatedPixelCNNLayer(c if i == 0 else h, h, config.kernel, i == 0, k)
                                    for i in range(config.layers + 1))
        self.head = _head(h, config.head, self.k * c)
        self.receptive_rows = (config.layers + 1) * (config.kernel // 2) + 1  # vertical stack + its shift

    def net(self, x, cond):
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, cond)
        return self.head(h)

    def _fill(self, x, known, labels, generator):
        return self._fill_raster(x, known, labels, generator)

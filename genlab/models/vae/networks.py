"""Encoders and decoders of the autoencoder family: convolutional (images) or MLP (images and vectors).

``build_encoder`` maps one example of shape ``info.shape`` to ``out_dim`` values; ``build_decoder`` maps
``in_dim`` values to ``params`` values per data dimension, stacked along dim 1 (images: (N, params*C, H, W),
vectors: (N, params*D)). An MLP with no hidden layers is a linear map (a linear autoencoder learns the
PCA subspace).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...errors import ConfigError
from ...nn.blocks import MLP, ConvDecoder, ConvEncoder

ARCHS = ("auto", "conv", "mlp")


class FlatMLP(nn.Module):
    """(N, *in_shape) -> (N, *out_shape) through an MLP on the flattened values."""

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], hidden: list[int], act: str = "relu"):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = MLP([math.prod(in_shape), *hidden, math.prod(out_shape)], act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(len(x), *self.out_shape)


def resolve_arch(arch: str, modality: str) -> str:
    """``auto`` is conv for images and mlp otherwise; conv on non-image data is an error."""
    if arch == "auto":
        return "conv" if modality == "image" else "mlp"
    if arch == "conv" and modality != "image":
        raise ConfigError(f"model.arch=conv needs image data, this is {modality} data; use model.arch=mlp")
    return arch


def build_encoder(shape: tuple[int, ...], out_dim: int, arch: str, width: int, hidden: list[int],
                  act: str = "relu") -> nn.Module:
    if arch == "conv":
        return ConvEncoder(tuple(shape), out_dim, width, act=act)
    return FlatMLP(shape, (out_dim,), hidden, act)


def build_decoder(in_dim: int, shape: tuple[int, ...], params: int, arch: str, width: int, hidden: list[int],
                  act: str = "relu") -> nn.Module:
    out_shape = (params * shape[0], *shape[1:])
    if arch == "conv":
        return ConvDecoder(in_dim, tuple(shape), width, act=act, out_channels=out_shape[0])
    return FlatMLP((in_dim,), out_shape, list(reversed(hidden)), act)

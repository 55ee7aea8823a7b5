"""Denoising diffusion on vectors (2-D toy data, numeric features) with an MLP denoiser.

Same objective, samplers, guidance and bound as ``ddpm``; the data is standardised per feature with the
training set's statistics (taken when training starts and saved with the model), clean estimates are
clamped to the training range, and the bound's decoder is a Gaussian density (continuous data).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...data.base import DataInfo, TensorDataset
from ...errors import ConfigError
from ...registry import register_model
from .ddpm import DiffusionConfig, GaussianDiffusion
from .denoisers import MLPDenoiser, Standardize


@dataclass
class DDPMMLPConfig(DiffusionConfig):
    hidden: int = 256
    depth: int = 3  # hidden layers of the denoiser
    dropout: float = 0.0

    def validate(self) -> None:
        super().validate()
        if self.hidden < 1 or self.depth < 1 or not 0 <= self.dropout < 1:
            raise ConfigError("model.hidden and model.depth must be >= 1 and model.dropout in [0, 1)")


@register_model
class DDPMMLP(GaussianDiffusion):
    name = "ddpm-mlp"
    description = "Denoising diffusion for vectors (2-D toys, features) with an MLP denoiser; same samplers as ddpm"
    Config = DDPMMLPConfig
    modalities = ("vector",)

    def __init__(self, config: DDPMMLPConfig, info: DataInfo):
        super().__init__(config, info)
        if len(info.shape) != 1:
            raise ConfigError(f"ddpm-mlp works on flat vectors, got examples of shape {tuple(info.shape)}")
        self.scale = Standardize(info.shape[0])
        self.net = MLPDenoiser(info.shape[0], config.hidden, config.depth, self.num_labels, dropout=config.dropout)

    @property
    def clip(self) -> float | None:
        """Clean estimates are clamped to the training data's range plus one standard deviation, which keeps
        the first steps from an almost pure-noise state (tiny ``alpha_t``) from blowing up."""
        return float(self.scale.bound) + 1.0 if bool(self.scale.fitted) else None

    def on_train_start(self, data: TensorDataset) -> None:
        self.scale.fit_once(data.all(self.device)["x"])

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != self.info.shape:
            raise ConfigError(f"ddpm-mlp was built for vectors of shape {tuple(self.info.shape)}, got {tuple(x.shape[1:])}")
        return self.scale(x.float())

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale.inverse(x)

    def decoder_log_likelihood(self, x0, mean, std):
        ll = -0.5 * ((x0 - mean) / std).square() - torch.log(std) - 0.5 * math.log(2 * math.pi)
        return ll.sum(1) + self.scale.log_det()

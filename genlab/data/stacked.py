"""Stacked MNIST (Metz et al. 2017; Srivastava et al. 2017): three MNIST digits drawn at random become the
red, green and blue channels of one 28x28 image, so the data has 10^3 = 1,000 modes. The label is the
mode, 100 * d_R + 10 * d_G + d_B.

The triples are drawn with a fixed seed from MNIST's own split: 60,000 training images (or ``data.limit``)
from the training digits, 10,000 test images from the test digits.
"""
from __future__ import annotations

import torch

from ..config import DataConfig
from .images import load_idx_dataset

SIZES = {"train": 60_000, "test": 10_000}
SEEDS = {"train": 0, "test": 1}
CLASS_NAMES = [f"{i:03d}" for i in range(1000)]


def stack_digits(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` RGB images (n, 3, H, W) from grey images ``x`` (N, 1, H, W) with labels ``y``, and their modes."""
    idx = torch.randint(len(x), (n, 3), generator=torch.Generator().manual_seed(seed))
    return x[idx].squeeze(2), (y[idx] * torch.tensor([100, 10, 1])).sum(1)


def load_stacked_mnist(cfg: DataConfig, split: str):
    """(uint8 images (N, 3, 28, 28), int64 modes (N,), class names) for the image loader."""
    x, y = load_idx_dataset("mnist", cfg, split)
    n = min(cfg.limit, SIZES[split]) if cfg.limit and split == "train" else SIZES[split]
    images, modes = stack_digits(x, y, n, SEEDS[split])
    return images, modes, CLASS_NAMES

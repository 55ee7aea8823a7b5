"""Writing samples to files, by kind of data: the writer named by the kind's record in ``genlab/modalities/``
(image grids (.png) and arrays (.npz) are written here)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .data.base import DataInfo
from .errors import ConfigError


def write_samples(samples, path: str | Path, info: DataInfo, labels: torch.Tensor | None = None) -> Path:
    """Write ``samples`` of a model whose data is described by ``info`` to ``path`` (format from suffix)."""
    from .modalities import get_modality

    writer = get_modality(info.modality).resolve("writer")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer(samples, path, info, labels)
    return path


def image_grid(x: torch.Tensor, nrow: int | None = None, min_cell: int = 28, pad: int = 2) -> np.ndarray:
    """Tile float images (N, C, H, W) in [0, 1] into one uint8 (H', W', C) array; small images are
    enlarged (nearest neighbour) so that each cell is at least ``min_cell`` pixels."""
    x = x.detach().float().cpu().clamp(0, 1)
    n, c, h, w = x.shape
    scale = max(1, math.ceil(min_cell / max(h, w)))
    if scale > 1:
        x = x.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
        h, w = h * scale, w * scale
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    grid = torch.ones(c, ncol * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = x[i]
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def save_image_grid(x: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    from PIL import Image

    arr = image_grid(x, nrow)
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(path)


def write_images(samples: torch.Tensor, path: Path, info: DataInfo, labels=None) -> None:
    if path.suffix == ".png":
        save_image_grid(samples, path)
    elif path.suffix == ".npz":
        x = (samples.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        arrays = {"x": x}
        if labels is not None:
            arrays["y"] = labels.cpu().numpy()
        np.savez_compressed(path, **arrays)
    else:
        raise ConfigError(f"image samples are written as .png (a grid) or .npz (arrays), not {path.suffix or 'no suffix'}")

"""Writing samples to files, by modality: image grids (.png) and arrays (.npz) here; other modalities
register their own writer with :func:`register_writer`."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data.base import DataInfo
from .errors import ConfigError

_WRITERS: dict[str, Callable] = {}


def register_writer(modality: str):
    def deco(fn):
        _WRITERS[modality] = fn
        return fn

    return deco


def write_samples(samples, path: str | Path, info: DataInfo, labels: torch.Tensor | None = None) -> Path:
    """Write ``samples`` of a model whose data is described by ``info`` to ``path`` (format from suffix)."""
    if info.modality not in _WRITERS:  # writers are registered by the data modules of their kind of data
        from .data import import_data_modules

        import_data_modules()
    if info.modality not in _WRITERS:
        raise ConfigError(f"no writer for {info.modality} samples")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _WRITERS[info.modality](samples, path, info, labels)
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


@register_writer("image")
def _write_images(samples: torch.Tensor, path: Path, info: DataInfo, labels=None) -> None:
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

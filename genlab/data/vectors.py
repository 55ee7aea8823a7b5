"""Vector datasets: float rows (N, D) held in memory, and the writer for vector samples.

``data.name`` is a built-in 2-D mode-collapse benchmark or a file:

- ``ring8``: 8 Gaussians (std 0.02) evenly spaced on a circle of radius 2 (Metz et al. 2017);
- ``grid25``: 25 Gaussians (std 0.05) on a 5 x 5 grid with spacing 2, from -4 to 4 (Lin et al. 2018);
- an ``.npy`` file of shape (N, D), or an ``.npz`` file with ``x`` (N, D), optional integer labels ``y``,
  optional ``x_test`` / ``y_test`` and ``class_names`` (without a test split, ``data.val_fraction`` of the
  rows is held out).

The toy sets are drawn with fixed seeds (50,000 training and 5,000 test points, uniform over the modes);
their labels are the mode numbers and ``info.meta`` holds ``modes`` (the centres) and ``mode_std``, which
the mode metrics in :mod:`genlab.eval.modes` use.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import DataInfo, TensorDataset, read_npz
from .images import holdout_indices

TOY_SIZES = {"train": 50_000, "test": 5_000}
TOY_SEEDS = {"train": 0, "test": 1}


def ring_centers(k: int = 8, radius: float = 2.0) -> torch.Tensor:
    angle = torch.arange(k, dtype=torch.float64) * (2 * torch.pi / k)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], 1).float()


def grid_centers(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    c = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(c, c)


TOYS = {"ring8": (lambda: ring_centers(8, 2.0), 0.02), "grid25": (lambda: grid_centers(5, 2.0), 0.05)}


def toy_mixture(centers: torch.Tensor, std: float, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points from an equal-weight mixture of isotropic Gaussians: (points (n, D), mode ids (n,))."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(len(centers), (n,), generator=g)
    return centers[y] + std * torch.randn(n, centers.shape[1], generator=g), y


def _npz_vectors(path: Path, cfg: DataConfig, split: str):
    arrays = read_npz(path)
    if "x" not in arrays:
        raise DataError(f"{path} has no array 'x' of vectors; arrays found: {', '.join(arrays) or 'none'}")
    has_test = "x_test" in arrays
    if has_test and ("y" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path}: give labels for both splits ('y' and 'y_test') or for neither")
    kx, ky = ("x_test", "y_test") if has_test and split == "test" else ("x", "y")
    x, y = _check_rows(arrays[kx], path), arrays.get(ky)
    if y is not None and (y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "ui" or (y.size and y.min() < 0)):
        raise DataError(f"{path}: labels {ky!r} must be non-negative integers, one per row of {kx!r} ({len(x)}); "
                        f"got shape {y.shape}, dtype {y.dtype}")
    if not has_test:
        idx = holdout_indices(len(x), cfg.val_fraction, split)
        x, y = x[torch.from_numpy(idx)], (y[idx] if y is not None else None)
    if y is None:
        return x, None, None
    k = 1 + max(int(arrays[key].max()) for key in ("y", "y_test") if key in arrays and arrays[key].size)
    names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else [str(i) for i in range(k)]
    return x, torch.from_numpy(y.astype(np.int64)), names


def _check_rows(x: np.ndarray, path: Path) -> torch.Tensor:
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{path}: vector data must be a non-empty (N, D) array, got shape {x.shape}"
                        + ("; for images use an image model (e.g. dcgan)" if x.ndim in (3, 4) else ""))
    if x.dtype.kind not in "fiub":
        raise DataError(f"{path}: vector data must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: vector data contains NaN or infinite values "
                        f"(in {int((~np.isfinite(x)).any(1).sum())} rows); remove or impute them")
    return torch.from_numpy(np.ascontiguousarray(x))


def load_vectors(cfg: DataConfig, split: str) -> TensorDataset:
    """The ``split`` of vector dataset ``cfg.name`` as x: float32 (N, D) and, when labelled, y: int64 (N,)."""
    for key, default in (("image_size", None), ("channels", None), ("binarize", "none")):
        if getattr(cfg, key) != default:
            raise DataError(f"data.{key} applies to images, but {cfg.name!r} is vector data; remove that setting")
    name, meta = cfg.name.lower(), {}
    if name in TOYS:
        make, std = TOYS[name]
        centers = make()
        x, y = toy_mixture(centers, std, TOY_SIZES[split], TOY_SEEDS[split])
        classes = [f"mode {i}" for i in range(len(centers))]
        meta = {"modes": centers.tolist(), "mode_std": std}
    else:
        path = Path(cfg.name).expanduser()
        name = path.resolve().stem
        if path.is_file() and path.suffix.lower() == ".npy":
            try:
                x = _check_rows(np.load(path, allow_pickle=False), path)
            except (OSError, ValueError) as e:
                raise DataError(f"could not read {path}: {e}") from None
            x, y, classes = x[torch.from_numpy(holdout_indices(len(x), cfg.val_fraction, split))], None, None
        elif path.is_file() and path.suffix.lower() == ".npz":
            x, y, classes = _npz_vectors(path, cfg, split)
        elif path.exists():
            raise DataError(f"{path}: vector data must be an .npy or .npz file")
        else:
            raise DataError(f"unknown vector dataset {cfg.name!r}: not a built-in ({', '.join(TOYS)}) "
                            "and no such .npy / .npz file")
    if cfg.limit and split == "train":
        x, y = x[: cfg.limit].clone(), (y[: cfg.limit].clone() if y is not None else None)
    tensors = {"x": x} if y is None else {"x": x, "y": y}
    info = DataInfo("vector", (x.shape[1],), name=name, num_classes=len(classes) if classes else 0,
                    class_names=classes, meta=meta)
    return TensorDataset(tensors, info)


def write_vectors(samples: torch.Tensor, path: Path, info: DataInfo, labels=None) -> None:
    """``.npz`` (arrays ``x`` and ``y``; for 2-D data also a scatter plot beside it, same name ``.png``),
    ``.csv`` (one row per sample, header x0, x1, ..., label) or ``.png`` (scatter plot, 2-D data only)."""
    x = samples.detach().float().cpu().numpy()
    y = labels.detach().cpu().numpy() if labels is not None else None
    suffix = path.suffix.lower()
    if suffix == ".npz":
        np.savez_compressed(path, **({"x": x} if y is None else {"x": x, "y": y}))
        if x.shape[1] == 2:
            write_vectors(samples, path.with_suffix(".png"), info, labels)
    elif suffix == ".csv":
        cols = [f"x{i}" for i in range(x.shape[1])] + (["label"] if y is not None else [])
        table = x if y is None else np.column_stack([x, y])
        fmt = ["%.7g"] * x.shape[1] + (["%d"] if y is not None else [])
        np.savetxt(path, table, delimiter=",", header=",".join(cols), comments="", fmt=fmt)
    elif suffix == ".png":
        if x.shape[1] != 2:
            raise ConfigError(f"a scatter plot needs 2-D samples, these have {x.shape[1]} dimensions; write .npz or .csv")
        from ..plots2d import scatter_2d

        scatter_2d(x, path, centers=info.meta.get("modes"), std=info.meta.get("mode_std"), title=info.name or None)
    else:
        raise ConfigError(f"vector samples are written as .npz, .csv or .png (2-D scatter), not {path.suffix or 'no suffix'}")

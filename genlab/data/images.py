"""Image datasets held in memory as uint8 tensors (N, C, H, W).

``data.name`` is a built-in (``mnist``, ``fashion-mnist``, ``digits``), a folder of images (subfolder name =
class) or an ``.npz`` file. Every source then goes through the same steps: ``limit``, ``channels``,
``image_size`` and ``binarize``.
"""
from __future__ import annotations

import functools

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import DataConfig
from ..errors import DataError
from .base import Batch, DataInfo, TensorDataset, read_npz
from .download import cache_dir, fetch
from .idx import read_idx

BUILTINS = ("mnist", "fashion-mnist", "digits", "stackedmnist")
ALIASES = {"fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist", "stacked-mnist": "stackedmnist"}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "digits": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


# ----------------------------------------------------------------------------- transforms


def _to_float(batch: Batch) -> Batch:
    out = dict(batch)
    out["x"] = batch["x"].float().div_(255.0)
    return out


def _dynamic_binarize(batch: Batch) -> Batch:
    """A fresh Bernoulli(x / 255) draw every batch, from the global RNG of the batch's device."""
    out = dict(batch)
    out["x"] = torch.bernoulli(batch["x"].float().div_(255.0))
    return out


# ----------------------------------------------------------------------------- built-ins


def find_idx_folder(name: str, root: str | None, split: str) -> tuple[Path | None, list[Path]]:
    """The first folder holding ``split``'s IDX files (``.gz`` or raw), and every folder looked in."""
    candidates = []
    if root:
        candidates += [Path(root).expanduser() / name, Path(root).expanduser()]
    if os.environ.get("GENLAB_DATA"):
        candidates.append(Path(os.environ["GENLAB_DATA"]).expanduser() / name)
    candidates.append(cache_dir(name))
    for folder in candidates:
        if all(_idx_path(folder, f) for f in IDX_FILES[split]):
            return folder, candidates
    return None, candidates


def _idx_path(folder: Path, base: str) -> Path | None:
    for p in (folder / f"{base}.gz", folder / base):
        if p.is_file():
            return p
    return None


def load_idx_dataset(name: str, cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    folder, looked = find_idx_folder(name, cfg.root, split)
    if folder is None:
        files = [f"{b}.gz" for pair in IDX_FILES.values() for b in pair]
        if not cfg.download:
            raise DataError(
                f"{name} not found; looked in: {', '.join(map(str, looked))}. Set data.download=true to "
                f"download it, or put {', '.join(files)} in one of those folders (or in $GENLAB_DATA/{name})"
            )
        dest = Path(cfg.root).expanduser() / name if cfg.root else cache_dir(name)
        folder = fetch(name, files, dest)
    x = read_idx(_idx_path(folder, IDX_FILES[split][0]))
    y = read_idx(_idx_path(folder, IDX_FILES[split][1]))
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
        raise DataError(f"{folder} does not hold {name} IDX files: images {x.shape} {x.dtype}, labels {y.shape}")
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y).long()


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 (N, 1, 8, 8) and their labels, read once per process (scikit-learn parses a
    CSV each call: 0.27 CPU-s, and ``genlab quickstart`` loads the digits eight times)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.images * (255.0 / 16.0)).round().astype(np.uint8)[:, None]
    x.flags.writeable = False
    y = d.target.astype(np.int64)
    y.flags.writeable = False
    return x, y


def load_digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits scaled to 0..255: a fixed 1500 / 297 train / test split."""
    x, y = _digits_arrays()
    perm = np.random.default_rng(0).permutation(len(x))
    n_test = 297
    idx = perm[n_test:] if split == "train" else perm[:n_test]
    return torch.from_numpy(x[idx]), torch.from_numpy(y[idx])


# ----------------------------------------------------------------------------- files


def holdout_indices(n: int, fraction: float, split: str) -> np.ndarray:
    """Deterministic (seed 0) split of ``range(n)``: ``fraction`` goes to test, at least one example to each."""
    n_test = min(max(1, round(n * fraction)), n - 1)
    perm = np.random.default_rng(0).permutation(n)
    return np.sort(perm[n_test:] if split == "train" else perm[:n_test])


SPLIT_FOLDERS = {"train": ("train", "training"), "test": ("test", "testing", "val", "valid", "validation")}


def split_folders(root: Path) -> tuple[Path, Path | None] | None:
    """``(train folder, test folder or None)`` when ``root`` is laid out as ``train/...`` and ``test/...`` (or
    ``val/...``), the layout most image datasets ship in; None for a plain folder."""
    subdirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    train = next((subdirs[n] for n in SPLIT_FOLDERS["train"] if n in subdirs), None)
    test = next((subdirs[n] for n in SPLIT_FOLDERS["test"] if n in subdirs), None)
    if train is None:
        if test is not None and len(subdirs) == 1:
            raise DataError(f"{root} holds a {test.name}/ folder but no train/ folder; put the training images in "
                            f"{root / 'train'} (split folders are train/ and test/ or val/)")
        return None
    return train, test


def _images_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))


def _class_names(root: Path, paths: list[Path]) -> list[str] | None:
    if paths and all(len(p.relative_to(root).parts) > 1 for p in paths):
        return sorted({p.relative_to(root).parts[0] for p in paths})
    return None


def load_folder(root: Path, cfg: DataConfig, split: str):
    """Every PNG/JPEG/BMP under ``root``; labels from the immediate subfolder when all images are in one.

    A folder holding ``train/`` and ``test/`` (or ``val/``) sub-folders is read as those splits (each with
    optional class sub-folders), never as two classes; with ``train/`` only, ``data.val_fraction`` of it is
    held out."""
    splits = split_folders(root)
    if splits is not None:
        train_dir, test_dir = splits
        if test_dir is None:
            return load_folder(train_dir, cfg, split)
        names = [_class_names(d, _images_under(d)) for d in (train_dir, test_dir)]
        classes = sorted(set(names[0]) | set(names[1])) if names[0] and names[1] else None
        return _load_folder(train_dir if split == "train" else test_dir, cfg, split, holdout=False, classes=classes)
    return _load_folder(root, cfg, split)


def _load_folder(root: Path, cfg: DataConfig, split: str, holdout: bool = True, classes: list[str] | None = None):
    from PIL import Image, ImageOps

    paths = _images_under(root)
    if not paths:
        raise DataError(f"no images (.png, .jpg, .jpeg, .bmp) found in {root}")

    def open_image(p):
        try:
            return Image.open(p)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"could not read image {p}: {e}; delete or fix it") from None

    modes, first = set(), None
    for p in paths:  # headers and chunk checksums only: sizes and colour modes
        with open_image(p) as im:
            modes.add(im.mode)
            try:
                im.verify()
            except (OSError, SyntaxError, ValueError) as e:
                raise DataError(f"could not read image {p}: {e}; delete or fix it") from None
            if cfg.image_size is None:
                first = first or (p, im.size)
                if im.size != first[1]:
                    raise DataError(
                        f"images differ in size: {first[0]} is {first[1][0]}x{first[1][1]}, {p} is "
                        f"{im.size[0]}x{im.size[1]}; set data.image_size to resize them all"
                    )
    channels = cfg.channels or (1 if modes <= GREY_MODES else 3)

    if classes is None or _class_names(root, paths) is None:
        classes = _class_names(root, paths)
    idx = holdout_indices(len(paths), cfg.val_fraction, split) if holdout else np.arange(len(paths))
    xs = []
    for i in idx:
        with open_image(paths[i]) as im:
            try:
                im = im.convert("L" if channels == 1 else "RGB")
                if cfg.image_size:
                    im = ImageOps.fit(im, (cfg.image_size, cfg.image_size), Image.Resampling.BICUBIC)
                xs.append(np.asarray(im, dtype=np.uint8))
            except (OSError, SyntaxError, ValueError) as e:
                raise DataError(f"could not read image {paths[i]}: {e}; delete or fix it") from None
    if not xs:
        raise DataError(f"{root} holds only {len(paths)} image, none left for the {split} split")
    x = torch.from_numpy(np.stack(xs))
    x = x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2).contiguous()
    if classes is None:
        return x, None, None
    label = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([label[paths[i].relative_to(root).parts[0]] for i in idx], dtype=torch.long)
    return x, y, classes


def _npz_images(a: np.ndarray, path: Path, key: str) -> torch.Tensor:
    """uint8 (N,H,W) / (N,H,W,C) / (N,C,H,W), or floats in [0, 1], to uint8 (N, C, H, W)."""
    if a.size == 0:
        raise DataError(f"{path}: array {key!r} is empty, shape {a.shape}")
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[3] in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    elif not (a.ndim == 4 and a.shape[1] in (1, 3)):
        raise DataError(f"{path}: array {key!r} has shape {a.shape}; "
                        "expected (N,H,W), (N,H,W,C) or (N,C,H,W) with C 1 or 3")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            bad = ~np.isfinite(a.reshape(len(a), -1))
            raise DataError(f"{path}: float array {key!r} holds NaN or infinite values ({int(bad.sum())} values in "
                            f"{int(bad.any(1).sum())} images); images must be finite, in [0, 1]")
        if a.min() < 0 or a.max() > 1:
            raise DataError(f"{path}: float array {key!r} must hold values in [0, 1] (no NaN), "
                            f"got min {np.nanmin(a):g}, max {np.nanmax(a):g}")
        a = np.round(a * 255)
    elif a.dtype.kind == "b":
        a = a * 255
    elif a.dtype.kind not in "ui" or a.min() < 0 or a.max() > 255:
        got = f"{a.dtype} with values {a.min()}..{a.max()}" if a.dtype.kind in "ui" else str(a.dtype)
        raise DataError(f"{path}: array {key!r} must be uint8 (0..255) or float in [0, 1], got {got}")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.uint8))


def load_npz(path: Path, cfg: DataConfig, split: str):
    """Arrays ``x`` / ``images``, optional ``y`` / ``labels``, optional ``x_test`` / ``y_test``, ``class_names``."""
    arrays = read_npz(path)
    found = ", ".join(arrays) or "none"
    kx = next((k for k in ("x", "images") if k in arrays), None)
    ky = next((k for k in ("y", "labels") if k in arrays), None)
    if kx is None:
        raise DataError(f"{path} has no image array 'x' (or 'images'); arrays found: {found}")
    has_test = "x_test" in arrays
    if has_test and (ky is None) != ("y_test" not in arrays):
        raise DataError(f"{path}: give labels for both splits ('y' and 'y_test') or for neither; arrays found: {found}")
    if has_test and split == "test":
        kx, ky = "x_test", ("y_test" if ky else None)
    x = _npz_images(arrays[kx], path, kx)
    y = arrays[ky] if ky else None
    if y is not None and (y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "ui" or (y.size and y.min() < 0)):
        raise DataError(f"{path}: labels {ky!r} must be non-negative integers, one per image in {kx!r} "
                        f"({len(x)}); got shape {y.shape}, dtype {y.dtype}")
    if not has_test:
        idx = holdout_indices(len(x), cfg.val_fraction, split)
        x, y = x[torch.from_numpy(idx)], (y[idx] if y is not None else None)
    if y is None:
        return x, None, None
    num_classes = 1 + max(int(arrays[k].max()) for k in ("y", "labels", "y_test") if k in arrays and arrays[k].size)
    names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else [str(i) for i in range(num_classes)]
    return x, torch.from_numpy(y.astype(np.int64)), names


# ----------------------------------------------------------------------------- shared steps


def set_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """1 -> 3 repeats the grey channel; 3 -> 1 takes the luma (ITU-R 601)."""
    if channels is None or x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return torch.cat([(c.float() * w).sum(1, keepdim=True).round_().to(torch.uint8) for c in x.split(4096)])


def resize(x: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Antialiased bilinear resize of uint8 (N, C, H, W) to (N, C, size, size), in chunks."""
    if x.shape[-2:] == (size, size):
        return x
    out = [F.interpolate(c.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
           .round_().clamp_(0, 255).to(torch.uint8) for c in x.split(chunk)]
    return torch.cat(out)


def static_binarize(x: torch.Tensor) -> torch.Tensor:
    """One Bernoulli(x / 255) draw with a fixed seed, so every run sees the same binary data (0 / 255)."""
    g = torch.Generator().manual_seed(0)
    return torch.bernoulli(x.float().div_(255.0), generator=g).to(torch.uint8).mul_(255)


def load_images(cfg: DataConfig, split: str) -> TensorDataset:
    """The ``split`` ("train" or "test") of image dataset ``cfg.name`` as x: uint8 (N, C, H, W), y: int64 (N,)."""
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    name = ALIASES.get(cfg.name.lower(), cfg.name.lower()) if cfg.name else ""
    classes = CLASS_NAMES.get(name)
    if name in ("mnist", "fashion-mnist"):
        x, y = load_idx_dataset(name, cfg, split)
    elif name == "stackedmnist":  # three MNIST digits as RGB channels, 1,000 modes (see stacked.py)
        from .stacked import load_stacked_mnist; x, y, classes = load_stacked_mnist(cfg, split)  # noqa: E702
    elif name == "digits":
        x, y = load_digits(split)
    else:
        path = Path(cfg.name).expanduser()
        name = path.resolve().stem
        if path.is_dir():
            x, y, classes = load_folder(path, cfg, split)
        elif path.is_file() and path.suffix.lower() == ".npz":
            x, y, classes = load_npz(path, cfg, split)
        elif path.is_file():
            raise DataError(f"{path}: image data must be a folder of images or an .npz file")
        else:
            raise DataError(f"unknown image dataset {cfg.name!r}: not a built-in ({', '.join(BUILTINS)}) "
                            "and no such folder or .npz file")
    if cfg.limit and split == "train":
        x, y = x[: cfg.limit].clone(), (y[: cfg.limit].clone() if y is not None else None)
    if cfg.channels == 1:  # shrink before resizing, expand after (cheaper, and one binary draw per pixel)
        x = set_channels(x, 1)
    if cfg.image_size:
        x = resize(x, cfg.image_size)
    if cfg.binarize == "static":
        x = static_binarize(x)
    x = set_channels(x, cfg.channels)
    tensors = {"x": x} if y is None else {"x": x, "y": y}
    info = DataInfo("image", tuple(x.shape[1:]), name=name, num_classes=len(classes) if y is not None else 0,
                    class_names=classes if y is not None else None)
    return TensorDataset(tensors, info, transform=_dynamic_binarize if cfg.binarize == "dynamic" else _to_float)

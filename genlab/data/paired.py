"""Image-to-image data: paired (input, target) images and unpaired two-domain image sets.

Two modalities, loaded by ``load_data(cfg, "paired" | "unpaired", split)``:

``paired`` (``data.name`` is one of)

- any image dataset the image loader reads (``mnist``, ``fashion-mnist``, ``digits``, a folder, an ``.npz``):
  the targets only (tensor ``x``, labels ``y`` when there are any); each model makes its inputs from them on
  the fly (a mask for ``inpaint-gan``, a downscale for ``srgan``, edges for ``pix2pix``), with the functions of
  this module (``random_masks``, ``downscale``, ``edges``). ``info.meta["pairing"] == "self"``.
- a folder holding ``A/`` and ``B/`` with the same file names (input in ``A/``, target in ``B/``), or a
  folder of side-by-side images ``A|B`` (each twice as wide as high): tensors ``a`` (input) and ``x`` (target), uint8.
  ``info.meta["pairing"] == "files"``.

``unpaired``

- a folder with ``trainA/`` and ``trainB/`` (and optionally ``testA/`` ``testB/``) as in the CycleGAN
  repository, or
- ``NAME:A:B``: two class sets of a labelled dataset, e.g. ``fashion-mnist:7:9`` (sneakers -> ankle boots)
  or ``mnist:3:8``; ``A`` and ``B`` may be comma lists of class ids (``mnist:1,7:4,9``).

Both domains are held as tensors ``a`` and ``x`` of one length (the smaller domain is cycled in a fixed
shuffled order), so the trainer's batches draw one image of each domain per row.

Batches of both modalities hand models ``a`` (input / domain A) and ``x`` (target / domain B) as floats in
[0, 1]; ``x`` is what generated images are compared with.
"""
from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import Batch, DataInfo, TensorDataset
from .images import IMAGE_EXTS, load_images

MASK_KINDS = ("centre", "random-box", "strokes", "mixed")


# ----------------------------------------------------------------------------- transforms


def _to_float(batch: Batch) -> Batch:
    out = dict(batch)
    for k in ("x", "a"):
        if k in out and out[k].dtype == torch.uint8:
            out[k] = out[k].float().div_(255.0)
    return out


# ----------------------------------------------------------------------------- on-the-fly pairs


def random_masks(kind: str, n: int, h: int, w: int, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, 1, h, w) bool masks, True where pixels are covered (to fill), vectorised over the batch.

    ``centre``: the middle half of each side; ``random-box``: one axis-aligned box per image, sides between
    a quarter and a half of the image, anywhere; ``strokes``: free-form brush strokes (3 random walks of 4
    segments, a brush about 1/10 of the image wide); ``mixed``: each image draws one of the three.
    Every mask covers at least one pixel and leaves at least one uncovered.
    """
    if kind not in MASK_KINDS:
        raise ConfigError(f"mask kind must be one of {', '.join(MASK_KINDS)}, got {kind!r}")
    rows = torch.arange(h, device=device).view(1, 1, h, 1)
    cols = torch.arange(w, device=device).view(1, 1, 1, w)

    def rand(*shape):
        return torch.rand(*shape, generator=generator, device="cpu").to(device)

    if kind == "centre":
        m = (rows >= h // 4) & (rows < h - h // 4) & (cols >= w // 4) & (cols < w - w // 4)
        return m.expand(n, 1, h, w).clone()
    if kind == "random-box":
        bh = (h / 4 + rand(n) * h / 4).round().clamp(1, h - 1).long().view(n, 1, 1, 1)
        bw = (w / 4 + rand(n) * w / 4).round().clamp(1, w - 1).long().view(n, 1, 1, 1)
        top = (rand(n).view(n, 1, 1, 1) * (h - bh + 1)).floor().long()
        left = (rand(n).view(n, 1, 1, 1) * (w - bw + 1)).floor().long()
        return (rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw)
    if kind == "strokes":
        strokes, segments, samples = 3, 4, 12
        radius = max(1.0, min(h, w) / 10)
        start = rand(n, strokes, 1, 2) * torch.tensor([h, w], dtype=torch.float32)
        angle = rand(n, strokes, segments, 1) * 2 * math.pi
        length = (0.15 + 0.2 * rand(n, strokes, segments, 1)) * min(h, w)
        steps = torch.cat([angle.sin(), angle.cos()], -1) * length
        points = torch.cat([start, start + steps.cumsum(2)], 2)  # (n, strokes, segments + 1, 2)
        t = torch.linspace(0, 1, samples).view(1, 1, 1, samples, 1)
        dense = (points[:, :, :-1, None] * (1 - t) + points[:, :, 1:, None] * t).reshape(n, -1, 2).to(device)
        dy = rows.view(1, 1, h, 1).float() + 0.5 - dense[:, :, 0].view(n, -1, 1, 1)
        dx = cols.view(1, 1, 1, w).float() + 0.5 - dense[:, :, 1].view(n, -1, 1, 1)
        m = ((dy**2 + dx**2) <= radius**2).any(1, keepdim=True)
        return _never_empty_or_full(m)
    pick = (rand(n) * 3).long().view(n, 1, 1, 1).to(device)
    parts = [random_masks(k, n, h, w, generator, device) for k in ("centre", "random-box", "strokes")]
    return torch.where(pick == 0, parts[0], torch.where(pick == 1, parts[1], parts[2]))


def _never_empty_or_full(m: torch.Tensor) -> torch.Tensor:
    n, _, h, w = m.shape
    flat = m.view(n, -1).clone()
    empty = ~flat.any(1)
    flat[empty, (h // 2) * w + w // 2] = True
    full = flat.all(1)
    flat[full, 0] = False
    return flat.view(n, 1, h, w)


def downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic, antialiased downscale of float images (N, C, H, W) by ``scale`` (H, W multiples of it)."""
    h, w = x.shape[-2:]
    if h % scale or w % scale:
        raise ConfigError(f"images of {h}x{w} cannot be downscaled by {scale}: both sides must be multiples of it")
    return F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1)


def upscale_bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The non-learned baseline: bicubic upsampling by ``scale``, clamped to [0, 1]."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def sobel_edges(x: torch.Tensor, threshold: float = 0.25) -> torch.Tensor:
    """Binary edge maps (N, 1, H, W) in {0, 1} of float images (N, C, H, W): Sobel gradient magnitude of
    the grey level, above ``threshold`` times its per-image maximum. Vectorised, no Python loop."""
    g = x.mean(1, keepdim=True)
    k = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]], device=x.device)
    gx = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), k.view(1, 1, 3, 3))
    gy = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), k.t().reshape(1, 1, 3, 3))
    mag = (gx**2 + gy**2).sqrt()
    peak = mag.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    return (mag > threshold * peak).float()


def canny_edges(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Binary Canny edge maps (N, 1, H, W) with scikit-image (``pip install scikit-image``); one call per
    image, so slower than :func:`sobel_edges`."""
    try:
        from skimage.feature import canny
    except ImportError:
        raise ConfigError("canny edges need scikit-image (pip install scikit-image); or use sobel edges") from None
    g = x.mean(1).detach().cpu().numpy()
    out = np.stack([canny(im, sigma=sigma) for im in g]).astype(np.float32)
    return torch.from_numpy(out)[:, None].to(x.device)


def edges(x: torch.Tensor, method: str = "sobel") -> torch.Tensor:
    if method == "sobel":
        return sobel_edges(x)
    if method == "canny":
        return canny_edges(x)
    raise ConfigError(f"edge method must be sobel or canny, got {method!r}")


# ----------------------------------------------------------------------------- files


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                  and not p.name.startswith("."))


def _read(paths: list[Path], channels: int | None, size: int | None) -> torch.Tensor:
    """uint8 (N, C, H, W) of ``paths``; every image must have the size of the first (unless ``size``)."""
    from PIL import Image, ImageOps

    from .images import GREY_MODES

    arrays, modes, first = [], set(), None
    ims = []
    for p in paths:
        try:
            im = Image.open(p)
            im.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"could not read image {p}: {e}; delete or fix it") from None
        modes.add(im.mode)
        ims.append((p, im))
    c = channels or (1 if modes <= GREY_MODES else 3)
    for p, im in ims:
        im = im.convert("L" if c == 1 else "RGB")
        if size:
            im = ImageOps.fit(im, (size, size), Image.Resampling.BICUBIC)
        first = first or (p, im.size)
        if im.size != first[1]:
            raise DataError(f"images differ in size: {first[0]} is {first[1][0]}x{first[1][1]}, {p} is "
                            f"{im.size[0]}x{im.size[1]}; set data.image_size to resize them all")
        arrays.append(np.asarray(im, dtype=np.uint8))
    x = torch.from_numpy(np.stack(arrays))
    return x.unsqueeze(1) if c == 1 else x.permute(0, 3, 1, 2).contiguous()


def _split_idx(n: int, cfg: DataConfig, split: str) -> np.ndarray:
    from .images import holdout_indices

    if n < 2:
        return np.arange(n) if split == "train" else np.arange(0)
    return holdout_indices(n, cfg.val_fraction, split)


def load_pair_folder(root: Path, cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(input, target) uint8 tensors from ``root/A`` + ``root/B`` (matching names) or side-by-side A|B files."""
    a_dir, b_dir = root / "A", root / "B"
    if a_dir.is_dir() or b_dir.is_dir():
        if not (a_dir.is_dir() and b_dir.is_dir()):
            raise DataError(f"{root}: paired folders need both A/ (inputs) and B/ (targets); found only "
                            f"{'A/' if a_dir.is_dir() else 'B/'}")
        fa, fb = _image_files(a_dir), _image_files(b_dir)
        na, nb = {p.stem: p for p in fa}, {p.stem: p for p in fb}
        only_a, only_b = sorted(set(na) - set(nb)), sorted(set(nb) - set(na))
        if only_a or only_b:
            what = (f"{len(only_a)} in A/ without a partner in B/ (e.g. {only_a[0]})" if only_a else "") + \
                   ("; " if only_a and only_b else "") + \
                   (f"{len(only_b)} in B/ without a partner in A/ (e.g. {only_b[0]})" if only_b else "")
            raise DataError(f"{root}: mismatched pairs, {what}; A/ and B/ must hold the same file names")
        if not na:
            raise DataError(f"{root}: A/ and B/ hold no images (.png, .jpg, .jpeg, .bmp)")
        names = sorted(na)
        idx = _split_idx(len(names), cfg, split)
        names = [names[i] for i in idx]
        if not names:
            raise DataError(f"{root} holds only {len(na)} pair, none left for the {split} split")
        a = _read([na[k] for k in names], cfg.channels, cfg.image_size)
        b = _read([nb[k] for k in names], cfg.channels, cfg.image_size)
        if a.shape[2:] != b.shape[2:]:
            raise DataError(f"{root}: mismatched pairs, A/ images are {a.shape[3]}x{a.shape[2]} but B/ images are "
                            f"{b.shape[3]}x{b.shape[2]}; an input and its target must have the same size "
                            "(or set data.image_size)")
        return a, b, "A/B folders"
    files = _image_files(root)
    if not files:
        raise DataError(f"{root}: no paired images: expected A/ and B/ folders with matching names, or "
                        "side-by-side A|B images (.png, .jpg, .jpeg, .bmp)")
    idx = _split_idx(len(files), cfg, split)
    if len(idx) == 0:
        raise DataError(f"{root} holds only {len(files)} pair image, none left for the {split} split")
    ab = _read([files[i] for i in idx], cfg.channels, None)
    h, w = ab.shape[2:]
    if w != 2 * h:
        raise DataError(f"{root}: side-by-side pairs must be twice as wide as high (input | target), got "
                        f"{w}x{h} images; or use A/ and B/ folders with matching names")
    a, b = ab[..., :h].contiguous(), ab[..., h:].contiguous()
    if cfg.image_size:
        from .images import resize

        a, b = resize(a, cfg.image_size), resize(b, cfg.image_size)
    return a, b, "side-by-side A|B"


def _is_pair_folder(p: Path) -> bool:
    if not p.is_dir():
        return False
    if (p / "A").is_dir() or (p / "B").is_dir():
        return True
    subdirs = [d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")]
    files = _image_files(p)
    return not subdirs and bool(files) and _looks_side_by_side(files[0])


def _looks_side_by_side(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError):
        return False
    return w == 2 * h


def load_paired(cfg: DataConfig, split: str) -> TensorDataset:
    path = Path(cfg.name).expanduser() if cfg.name else None
    if path is not None and _is_pair_folder(path):
        a, b, how = load_pair_folder(path, cfg, split)
        if cfg.limit and split == "train":
            a, b = a[: cfg.limit].clone(), b[: cfg.limit].clone()
        info = DataInfo("paired", tuple(b.shape[1:]), name=path.resolve().name,
                        meta={"pairing": "files", "layout": how, "input_shape": list(a.shape[1:])})
        return TensorDataset({"a": a, "x": b}, info, transform=_to_float)
    if cfg.binarize != "none":
        raise ConfigError("data.binarize applies to image models; image-to-image models use the grey levels")
    ds = load_images(cfg, split)
    info = replace(ds.info, modality="paired", meta={**ds.info.meta, "pairing": "self"})
    return TensorDataset(ds.tensors, info, transform=_to_float)


# ----------------------------------------------------------------------------- unpaired


_CLASS_SPEC = re.compile(r"^(?P<name>.+?):(?P<a>\d+(?:,\d+)*):(?P<b>\d+(?:,\d+)*)$")


def parse_domains(name: str) -> tuple[str, list[int], list[int]] | None:
    """``fashion-mnist:7:9`` -> ("fashion-mnist", [7], [9]); None when ``name`` is not of that form."""
    m = _CLASS_SPEC.match(name or "")
    if not m:
        return None
    return m["name"], [int(v) for v in m["a"].split(",")], [int(v) for v in m["b"].split(",")]


def _equal_length(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cycle the smaller domain (in a fixed shuffled order) up to the larger one's length."""
    n = max(len(a), len(b))
    g = torch.Generator().manual_seed(0)

    def grow(t):
        if len(t) == n:
            return t
        reps = torch.cat([torch.randperm(len(t), generator=g) for _ in range(math.ceil(n / len(t)))])[:n]
        return t[reps]

    return grow(a), grow(b)


def load_unpaired(cfg: DataConfig, split: str) -> TensorDataset:
    spec = parse_domains(cfg.name)
    root = Path(cfg.name).expanduser() if cfg.name else Path("")
    if spec is not None and not root.exists():
        base, ca, cb = spec
        ds = load_images(replace(cfg, name=base, limit=None), split)
        y = ds.tensors.get("y")
        if y is None:
            raise DataError(f"{base!r} has no class labels, so {cfg.name!r} cannot pick two class sets from it; "
                            "use a folder with trainA/ and trainB/")
        k = ds.info.num_classes
        bad = [c for c in ca + cb if c >= k]
        if bad:
            raise DataError(f"{cfg.name!r}: class id(s) {bad} do not exist; {base} has classes 0..{k - 1}")
        if set(ca) & set(cb):
            raise DataError(f"{cfg.name!r}: a class cannot be in both domains ({sorted(set(ca) & set(cb))})")
        xa, xb = ds.tensors["x"][torch.isin(y, torch.tensor(ca))], ds.tensors["x"][torch.isin(y, torch.tensor(cb))]
        names = ds.info.class_names or [str(i) for i in range(k)]
        domains = ["+".join(names[c] for c in ca), "+".join(names[c] for c in cb)]
        meta = {"source": base, "classes_a": ca, "classes_b": cb}
        for dom, t in zip(domains, (xa, xb)):
            if len(t) == 0:
                raise DataError(f"{cfg.name!r}: domain {dom!r} has no images in the {split} split")
    elif root.is_dir():
        for s in ("trainA", "trainB"):
            if not (root / s).is_dir():
                raise DataError(f"{root}: unpaired data needs folders trainA/ and trainB/ (one per domain); "
                                f"{s}/ is missing")
        own_test = split == "test" and (root / "testA").is_dir() and (root / "testB").is_dir()
        sub = ("testA", "testB") if own_test else ("trainA", "trainB")
        files = []
        for s in sub:
            f = _image_files(root / s)
            if not f:
                raise DataError(f"{root / s}: this domain holds no images (.png, .jpg, .jpeg, .bmp); "
                                "both domains need images")
            if not own_test and len(f) > 1:  # no test folders: hold out a share of each domain
                f = [f[i] for i in _split_idx(len(f), cfg, split)]
            files.append(f)
        xa, xb = (_read(f, cfg.channels, cfg.image_size) for f in files)
        if xa.shape[1:] != xb.shape[1:]:
            raise DataError(f"{root}: the domains differ in image shape: {tuple(xa.shape[1:])} in A, "
                            f"{tuple(xb.shape[1:])} in B; set data.image_size (and data.channels) to match them")
        domains, meta = ["A", "B"], {"source": "folders"}
    else:
        raise DataError(f"unknown unpaired dataset {cfg.name!r}: give a folder with trainA/ and trainB/, or two "
                        "class sets of a labelled dataset as NAME:A:B (e.g. fashion-mnist:7:9, mnist:3:8)")
    if cfg.image_size and spec is not None:
        from .images import resize

        xa, xb = resize(xa, cfg.image_size), resize(xb, cfg.image_size)
    if cfg.channels:
        from .images import set_channels

        xa, xb = set_channels(xa, cfg.channels), set_channels(xb, cfg.channels)
    if cfg.limit and split == "train":
        xa, xb = xa[: cfg.limit], xb[: cfg.limit]
    counts = [len(xa), len(xb)]
    xa, xb = _equal_length(xa, xb)
    info = DataInfo("unpaired", tuple(xb.shape[1:]), name=str(cfg.name),
                    meta={**meta, "domains": domains, "domain_sizes": counts, "input_shape": list(xa.shape[1:])})
    return TensorDataset({"a": xa, "x": xb}, info, transform=_to_float)


# ----------------------------------------------------------------------------- writer


def write_paired(samples, path, info, labels=None) -> None:
    """Outputs of image-to-image models are images: written as the image writer does (.png grid or .npz)."""
    from ..outputs import write_images

    write_images(samples, path, replace(info, modality="image"), labels)

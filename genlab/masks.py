"""Masks for image completion (``genlab complete``) and inpainting: which pixels a model should generate.

A mask is a bool tensor (H, W), True where pixels are covered (to be generated). Specs:

- ``bottom-half``, ``top-half``, ``right-half``, ``left-half``, ``centre`` (the middle half of each side)
- ``P%``: the last P percent of pixels in raster order (the bottom of the image, ending mid-row)
- ``random-P%``: P percent of the pixels chosen at random (``seed``)
- ``random-box`` (one box, sides a quarter to a half of the image's) and ``strokes`` (free-form brush
  strokes): the masks ``inpaint-gan`` trains on, drawn with ``seed``
- a path to an image (PNG, ...): pixels brighter than mid-grey are covered; resized to (H, W) if needed

Models that fill masks implement ``complete(x, mask, n, generator=None, labels=None) -> (B, n, C, H, W)``:
``x`` (B, C, H, W) in [0, 1]; ``mask`` (H, W) or broadcastable to (B, C, H, W); the result keeps every
uncovered pixel of ``x``. See ``genlab/models/autoregressive/pixels.py``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError

NAMED = ("bottom-half", "top-half", "right-half", "left-half", "centre")


def _named(spec: str, h: int, w: int) -> torch.Tensor:
    rows, cols = torch.arange(h)[:, None], torch.arange(w)[None]
    return {
        "bottom-half": rows >= h // 2,
        "top-half": rows < (h + 1) // 2,
        "right-half": cols >= w // 2,
        "left-half": cols < (w + 1) // 2,
        "centre": (rows >= h // 4) & (rows < h - h // 4) & (cols >= w // 4) & (cols < w - w // 4),
    }[spec].expand(h, w)


def _from_image(path: Path, h: int, w: int) -> torch.Tensor:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.NEAREST)
            values = torch.from_numpy(np.array(im, dtype=np.uint8))
    except (OSError, ValueError) as e:
        raise ConfigError(f"could not read mask image {path}: {e}") from None
    return values > 127


def parse_mask(spec: str, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """The (H, W) bool mask (True = covered) described by ``spec``; ConfigError if it is unknown or covers
    no pixel or every pixel."""
    h, w = size
    spec = str(spec).strip()
    spec = {"center": "centre"}.get(spec, spec)
    pct = re.fullmatch(r"(random-)?(\d+(?:\.\d+)?)%", spec)
    if spec in NAMED:
        mask = _named(spec, h, w)
    elif pct:
        p = float(pct.group(2))
        if not 0 < p < 100:
            raise ConfigError(f"mask {spec!r}: the covered percentage must be between 0 and 100 (exclusive)")
        k = round(h * w * p / 100)
        if pct.group(1):
            idx = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed))[:k]
        else:
            idx = torch.arange(h * w - k, h * w)
        mask = torch.zeros(h * w, dtype=torch.bool)
        mask[idx] = True
        mask = mask.view(h, w)
    elif spec in ("random-box", "strokes"):  # the inpainting training masks (genlab/data/paired.py), seeded
        from .data.paired import random_masks

        mask = random_masks(spec, 1, h, w, torch.Generator().manual_seed(seed))[0, 0]
    elif Path(spec).expanduser().is_file():
        mask = _from_image(Path(spec).expanduser(), h, w)
    else:
        raise ConfigError(f"unknown mask {spec!r}: use {', '.join(NAMED)}, random-box, strokes, a percentage like 50% (last pixels in "
                          "raster order) or random-50%, or a mask image (white = covered)")
    return check_mask(mask, spec)


def check_mask(mask: torch.Tensor, what: str = "mask") -> torch.Tensor:
    covered = int(mask.sum())
    if covered == 0:
        raise ConfigError(f"{what} covers no pixels, so there is nothing to complete; cover some pixels (white in a mask image)")
    if covered == mask.numel():
        raise ConfigError(f"{what} covers every pixel, so nothing is left to complete from; use `genlab sample` "
                          "for unconditional samples, or cover less")
    return mask.bool()


def completion_grid(x: torch.Tensor, mask: torch.Tensor, completions: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Rows of [covered input (grey where covered), completions..., original] for a PNG, and the row length."""
    covered = x.masked_fill(mask.bool().expand_as(x), 0.5)
    rows = torch.cat([covered[:, None], completions.cpu(), x[:, None]], 1)
    return rows.flatten(0, 1), rows.shape[1]

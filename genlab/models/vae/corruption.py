"""Input corruption of the denoising autoencoder (Vincent et al. 2008): the network sees ``corrupt(x)``
and is trained to reconstruct the clean ``x``."""
from __future__ import annotations

import torch

NOISES = ("none", "gaussian", "masking", "salt-pepper")


def corrupt(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` corrupted by ``kind`` at ``level``.

    - ``gaussian``: add N(0, level^2) noise to every value;
    - ``masking``: set a random share ``level`` of the values to 0;
    - ``salt-pepper``: set a random share ``level`` of the values to the batch minimum or maximum
      (0 or 1 for images in [0, 1]), each with probability one half.
    """
    if kind == "none" or level == 0:
        return x
    if kind == "gaussian":
        return x + level * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    hit = torch.rand(x.shape, generator=generator, device=x.device) < level
    if kind == "masking":
        return x.masked_fill(hit, 0.0)
    if kind == "salt-pepper":
        salt = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
        return torch.where(hit, torch.where(salt, x.max(), x.min()), x)
    raise ValueError(f"unknown corruption {kind!r}; known: {', '.join(NOISES)}")

"""The feature space of the image metrics: a small CNN classifier and its penultimate layer.

FID, KID, PRDC, ... on MNIST-like data need a network trained on that data (ImageNet Inception features
are a poor fit for 28x28 digits). ``FeatureNet`` is three conv blocks and a ``feat_dim``-wide linear layer
(the features, taken before its ReLU) followed by the classification head (the logits, for the Inception
Score and class-mode coverage).

``get_feature_extractor`` loads the shipped weights for ``mnist`` and ``fashion-mnist``
(``genlab/assets/features/<name>.safetensors`` + ``<name>.json``, made by
``scripts/train_feature_extractor.py``) and, for any other labelled image dataset, trains one on demand
and caches it under ``$GENLAB_CACHE/features/`` (default ``~/.cache/genlab/features/``), keyed by a hash of
the data, the training settings, the recipe version (``EXTRACTOR_VERSION``, the augmentation) and the genlab
and torch versions (:func:`cache_key`; a mismatch retrains). Weights are read with ``safetensors`` only,
never pickle.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import progress

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "features"
SHIPPED = ("mnist", "fashion-mnist")
ALIASES = {"fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist"}
DEFAULTS = dict(epochs=3, min_steps=1000, batch_size=128, lr=1e-3, feat_dim=128, seed=0, augment=True)
# Version of the extractor recipe (architecture + training procedure). Bumped whenever either changes, so
# cached on-demand extractors are retrained and eval.json records which feature space a number was measured in.
#   1: no augmentation (shipped 2026-11-22)
#   2: light augmentation: shifts of up to 2 pixels and Gaussian pixel noise (see ``augment_batch``)
EXTRACTOR_VERSION = 2
AUG_SHIFT = 2  # pixels, each axis
AUG_NOISE = 0.1  # noise sigma drawn uniformly from [0, AUG_NOISE] per image
AUG_P = 0.5  # chance that an image is shifted; independently, that it gets noise


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class FeatureNet(nn.Module):
    """CNN classifier for (N, C, H, W) images in [0, 1]; ``features`` is its penultimate layer."""

    def __init__(self, channels: int = 1, size: int | tuple[int, int] = 28, num_classes: int = 10, feat_dim: int = 128):
        super().__init__()
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        if min(h, w) < 4 or channels < 1 or num_classes < 2 or feat_dim < 1:
            raise ValueError(f"FeatureNet needs images of at least 4x4 and >= 2 classes, got {channels}x{h}x{w}, "
                             f"{num_classes} classes, feat_dim {feat_dim}")
        self.config = dict(channels=channels, size=[h, w], num_classes=num_classes, feat_dim=feat_dim)
        self.body = nn.Sequential(
            _block(channels, 32), nn.MaxPool2d(2),
            _block(32, 64), nn.MaxPool2d(2),
            _block(64, 128), nn.AdaptiveAvgPool2d(3), nn.Flatten(),
            nn.Linear(128 * 9, feat_dim),
        )  # fmt: skip
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(feat_dim, num_classes))
        self.meta: dict = {}  # training settings and test accuracy, filled by training or loading

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def check_images(self, x) -> torch.Tensor:
        """``x`` as float images in [0, 1] of this net's shape; uint8 is divided by 255. ValueError otherwise."""
        c, (h, w) = self.config["channels"], self.config["size"]
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (c, h, w):
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"images must have shape (N, {c}, {h}, {w}) for this feature extractor, got {shape}")
        if x.dtype == torch.uint8:
            return x.float() / 255.0
        if not x.is_floating_point():
            raise ValueError(f"images must be float in [0, 1] or uint8, got {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError("images contain NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"images must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
        return x.float().clamp(0, 1)

    @torch.no_grad()
    def embed(self, x, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) of images ``x`` in eval mode, in batches; float32 tensors on the CPU."""
        x = self.check_images(x)
        was_training = self.training
        self.eval()
        dev = next(self.parameters()).device
        feats, logits = [], []
        with progress.bar(len(x), "features", unit="image") if len(x) > batch_size else contextlib.nullcontext() as bar:
            for s in range(0, len(x), batch_size):
                f = self.features(x[s : s + batch_size].to(dev))
                feats.append(f.cpu())
                logits.append(self.head(f).cpu())
                if bar is not None:
                    bar.update(len(f))
        self.train(was_training)
        d, k = self.config["feat_dim"], self.config["num_classes"]
        return (torch.cat(feats) if feats else torch.empty(0, d)), (torch.cat(logits) if logits else torch.empty(0, k))


# ----------------------------------------------------------------------------- training


def augmentation_settings() -> str:
    return (f"shift by a random integer in [-{AUG_SHIFT}, {AUG_SHIFT}] px per axis (p={AUG_P}, zero fill); "
            f"Gaussian pixel noise with sigma ~ U(0, {AUG_NOISE}) (p={AUG_P}), clamped to [0, 1]")


def augment_batch(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Light, label-preserving augmentation of a float batch in [0, 1], vectorised: each image is shifted
    by up to ``AUG_SHIFT`` pixels per axis (with probability ``AUG_P``, zeros shifted in) and gets Gaussian
    noise of a random sigma in [0, ``AUG_NOISE``] (independently, with probability ``AUG_P``). So the
    features become insensitive to changes a viewer barely notices, and FID tracks perceptual damage."""
    n, c, h, w = x.shape
    s = AUG_SHIFT
    shift = torch.randint(-s, s + 1, (n, 2), generator=g) * (torch.rand(n, 1, generator=g) < AUG_P)
    xp = F.pad(x, (s, s, s, s))
    rows = (torch.arange(h)[None, :] + s - shift[:, :1])[:, None, :, None]
    cols = (torch.arange(w)[None, :] + s - shift[:, 1:])[:, None, None, :]
    out = xp[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    sigma = torch.rand(n, 1, 1, 1, generator=g) * AUG_NOISE * (torch.rand(n, 1, 1, 1, generator=g) < AUG_P)
    return (out + sigma * torch.randn(out.shape, generator=g)).clamp_(0, 1)


@torch.no_grad()
def accuracy(net: FeatureNet, x, y, batch_size: int = 500) -> float:
    return float((net.embed(x, batch_size)[1].argmax(1) == y.cpu()).double().mean())


def train_feature_net(train_x, train_y, test_x=None, test_y=None, *, epochs: int = 3, min_steps: int = 0,
                      batch_size: int = 128, lr: float = 1e-3, feat_dim: int = 128, seed: int = 0, num_classes: int | None = None,
                      augment: bool = True, device: str = "cpu", log=None) -> FeatureNet:
    """Train a ``FeatureNet`` with Adam (learning rate decayed linearly to 0) and, by default, the light
    augmentation of :func:`augment_batch` (``augment=False``: none, the version-1 recipe).

    Runs ``epochs`` epochs, or more if needed to reach ``min_steps`` optimisation steps (small datasets).
    ``train_x`` is (N, C, H, W), uint8 or float in [0, 1]; ``train_y`` int64 class ids. Without a test
    set, the accuracy is measured on a held-out 10% of the training data. Returns the net in eval mode
    with ``net.meta`` holding the settings, test accuracy, date and torch version. ``log`` is an
    optional ``print``-like function for progress lines.
    """
    train_y = torch.as_tensor(train_y).long()
    if train_x.dim() != 4 or len(train_x) != len(train_y):
        raise ValueError(f"need images (N, C, H, W) and N labels, got {tuple(train_x.shape)} and {tuple(train_y.shape)}")
    g = torch.Generator().manual_seed(seed)
    if test_x is None:
        perm = torch.randperm(len(train_x), generator=g)
        n_test = max(1, len(train_x) // 10)
        test_x, test_y = train_x[perm[:n_test]], train_y[perm[:n_test]]
        train_x, train_y = train_x[perm[n_test:]], train_y[perm[n_test:]]
    test_y = torch.as_tensor(test_y).long()
    k = num_classes or int(max(train_y.max(), test_y.max())) + 1
    torch.manual_seed(seed)
    net = FeatureNet(train_x.shape[1], tuple(train_x.shape[2:]), k, feat_dim).to(device)
    train_x = net.check_images(train_x)  # float in [0, 1]; validates shape and range
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    per_epoch = math.ceil(len(train_x) / batch_size)
    epochs = max(epochs, math.ceil(min_steps / per_epoch))
    steps = epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: max(0.0, 1 - i / steps))
    t0, c0 = time.time(), time.process_time()
    bar = progress.bar(steps, "training the feature extractor", unit="step")
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(train_x), generator=g)
        total = 0.0
        for s in range(0, len(train_x), batch_size):
            idx = perm[s : s + batch_size]
            xb = augment_batch(train_x[idx], g) if augment else train_x[idx]
            loss = F.cross_entropy(net(xb.to(device)), train_y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            bar.update(1)
        bar.set_postfix(epoch=f"{ep + 1}/{epochs}", loss=f"{total / len(train_x):.4f}", refresh=False)
        if log:
            log(f"epoch {ep + 1}/{epochs}: loss {total / len(train_x):.4f} ({time.time() - t0:.0f}s)")
    bar.close()
    net.eval()
    acc = accuracy(net, test_x, test_y)
    net.meta = dict(
        architecture=net.config, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, optimizer="Adam, linear decay to 0",
        augmentation=augmentation_settings() if augment else "none", seed=seed, n_train=len(train_x),
        n_test=len(test_x), test_accuracy=acc, train_seconds=round(time.time() - t0, 1),
        train_cpu_seconds=round(time.process_time() - c0, 1), date=datetime.date.today().isoformat(),
        torch=torch.__version__, genlab=_genlab_version(), version=EXTRACTOR_VERSION if augment else 1,
    )
    if log:
        log(f"test accuracy {acc:.4f}")
    return net


# ----------------------------------------------------------------------------- saving and loading


def save_feature_net(net: FeatureNet, path: str | Path, half: bool = False, **extra) -> Path:
    """Write ``path`` (.safetensors, float32 or float16 weights) and the same name with .json (meta)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    meta = {**net.meta, **extra, "architecture": net.config, "dtype": "float16" if half else "float32"}
    tmp = path.with_suffix(".tmp")
    save_file(sd, str(tmp))
    os.replace(tmp, path)
    os.chmod(path, 0o644)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    net.meta = meta
    return path


def load_feature_net(path: str | Path, device: str = "cpu") -> FeatureNet:
    """Load a net written by :func:`save_feature_net` (safetensors weights + JSON sidecar); eval mode."""
    from safetensors.torch import load_file

    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise FileNotFoundError(f"feature extractor {path} or its {meta_path.name} is missing")
    meta = json.loads(meta_path.read_text())
    a = meta["architecture"]
    net = FeatureNet(a["channels"], tuple(a["size"]), a["num_classes"], a["feat_dim"])
    sd = load_file(str(path))
    net.load_state_dict({k: v.to(net.state_dict()[k].dtype) for k, v in sd.items()})
    net.meta = meta
    return net.to(device).eval()


def cache_dir() -> Path:
    """``$GENLAB_CACHE/features``, by default ``~/.cache/genlab/features``."""
    base = os.environ.get("GENLAB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "genlab"
    return Path(base).expanduser() / "features"


def _genlab_version() -> str:
    from .. import __version__

    return __version__


def cache_key(settings: dict) -> dict:
    """Everything besides the data that decides an on-demand extractor: its training settings, the recipe
    version (``EXTRACTOR_VERSION`` and the augmentation) and the genlab and torch versions. A cached
    extractor whose key differs is retrained, never silently reused."""
    return {**settings, "extractor_version": EXTRACTOR_VERSION if settings.get("augment", True) else 1,
            "augmentation": augmentation_settings() if settings.get("augment", True) else "none",
            "genlab": _genlab_version(), "torch": torch.__version__}


def _data_hash(x: torch.Tensor, y: torch.Tensor, settings: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"shape": list(x.shape), "dtype": str(x.dtype), **cache_key(settings)}, sort_keys=True).encode())
    h.update(x.contiguous().numpy().tobytes())
    h.update(y.long().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def get_feature_extractor(data, *, test_data=None, device: str = "cpu", cache: str | Path | None = None,
                          log=None, **train_kwargs) -> FeatureNet:
    """The feature extractor for a dataset: shipped weights for mnist / fashion-mnist, otherwise trained.

    ``data`` is a dataset name or a labelled image ``TensorDataset`` (tensors "x" uint8 (N, C, H, W) and
    "y"). A dataset whose ``info.name`` is shipped and whose images are 1x28x28 uses the shipped weights.
    Any other is trained with :func:`train_feature_net` (``train_kwargs`` override ``DEFAULTS``; accuracy
    on ``test_data`` if given) and cached in ``cache`` (default :func:`cache_dir`) as
    ``<hash of data and settings>.safetensors``, so the next call loads it.
    """
    if isinstance(data, str):
        name = ALIASES.get(data.lower(), data.lower())
        if name not in SHIPPED:
            raise ValueError(f"no shipped feature extractor for {data!r} (shipped: {', '.join(SHIPPED)}); "
                             "pass the labelled dataset itself to train one")
        return load_feature_net(ASSETS / f"{name}.safetensors", device)
    x, y = data.tensors.get("x"), data.tensors.get("y")
    name = ALIASES.get(data.info.name, data.info.name)
    if name in SHIPPED and x is not None and tuple(x.shape[1:]) == (1, 28, 28):
        progress.stage(f"feature extractor: the shipped one for {name}")
        return load_feature_net(ASSETS / f"{name}.safetensors", device)
    if x is None or x.dim() != 4:
        raise ValueError("a feature extractor can only be trained on image data (tensor 'x' of shape (N, C, H, W))")
    if y is None or data.info.num_classes < 2:
        raise ValueError(f"dataset {data.info.name!r} has no class labels: a feature extractor cannot be trained "
                         "on it (image metrics need a classifier's feature space)")
    settings = {**DEFAULTS, **train_kwargs}
    key = cache_key(settings)
    path = Path(cache or cache_dir()) / f"{_data_hash(x, y, settings)}.safetensors"
    if path.is_file() and path.with_suffix(".json").is_file():
        try:
            net = load_feature_net(path, device)
        except (OSError, ValueError, KeyError, RuntimeError):
            net = None  # unreadable cache entry: retrain and overwrite it
        if net is not None and net.meta.get("cache_key") == key:
            progress.stage(f"feature extractor: trained before for {data.info.name}, cached in {path}")
            return net
    tx = test_data.tensors["x"] if test_data is not None else None
    ty = test_data.tensors["y"] if test_data is not None else None
    per_epoch = math.ceil(len(x) * (1 if test_data is not None else 0.9) / settings["batch_size"])
    steps = max(settings["epochs"], math.ceil(settings["min_steps"] / per_epoch)) * per_epoch
    progress.stage(f"feature extractor: training one for {data.info.name} ({len(x):,} images, {steps:,} steps; "
                   f"done once, then cached in {path.parent})")
    net = train_feature_net(x, y, tx, ty, num_classes=data.info.num_classes, device=device, log=log, **settings)
    save_feature_net(net, path, dataset=data.info.name, cache_key=key)
    return net

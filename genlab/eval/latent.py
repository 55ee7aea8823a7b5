"""Latent-space tools for any model with ``encode`` / ``decode``: codes of a dataset, anomaly scores and
their AUROC, 2-D maps of the codes (PCA, t-SNE), interpolation paths, and the PCA baseline of a linear
autoencoder (reconstruction error against the number of components)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..data.base import Batch, TensorDataset
from ..errors import ConfigError


def iter_batches(ds: TensorDataset, batch_size: int, limit: int | None, device) -> Iterator[Batch]:
    """The first ``limit`` examples (all by default) in order, transformed, in batches on ``device``."""
    n = min(len(ds), limit) if limit else len(ds)
    seen = 0
    for batch in ds.batches(batch_size, shuffle=False, drop_last=False, device=device):
        if seen >= n:
            return
        take = min(len(next(iter(batch.values()))), n - seen)
        seen += take
        yield {k: v[:take] for k, v in batch.items()}


def encode_batch(model, batch: Batch) -> torch.Tensor:
    return model.encode(batch["x"], batch.get("y")) if model.conditional else model.encode(batch["x"])


@torch.no_grad()
def encode_dataset(model, ds: TensorDataset, batch_size: int = 500, limit: int | None = None):
    """Codes (N, latent) of the first ``limit`` examples of ``ds`` as a CPU float tensor, and their labels (or None)."""
    codes, labels = [], []
    for batch in iter_batches(ds, batch_size, limit, model.device):
        codes.append(encode_batch(model, batch).float().cpu())
        if "y" in batch:
            labels.append(batch["y"].cpu())
    return torch.cat(codes), (torch.cat(labels) if labels else None)


@torch.no_grad()
def anomaly_scores(model, ds: TensorDataset, num_samples: int = 1, batch_size: int = 256,
                   limit: int | None = None) -> torch.Tensor:
    """Per-example anomaly scores (higher = less typical) of the first ``limit`` examples of ``ds``.

    The model's own ``anomaly_score`` (negative log-likelihood bound, or reconstruction NLL for autoencoders), else
    the negative log-likelihood (``num_samples`` importance samples where the model supports them), else the
    squared reconstruction error ``|x - decode(encode(x))|^2``.
    """
    caps = model.capabilities()
    if not ("anomaly_score" in caps or "log_likelihood" in caps or {"encode", "decode"} <= caps):
        raise ConfigError(f"model {model.name!r} has neither a likelihood nor encode/decode: it cannot score data")
    out = []
    for batch in iter_batches(ds, batch_size, limit, model.device):
        if "anomaly_score" in caps:
            s = model.anomaly_score(batch, num_samples)
        elif "log_likelihood" in caps:
            kw = {"num_samples": num_samples} if model.supports_nll_samples else {}
            s = -model.log_likelihood(batch, **kw)
        else:
            x = batch["x"]
            s = (x - model.decode(encode_batch(model, batch))).flatten(1).pow(2).sum(1)
        out.append(s.float().cpu())
    return torch.cat(out)


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC curve for telling ``scores_out`` (positives) from ``scores_in`` by a higher score."""
    from sklearn.metrics import roc_auc_score

    a, b = np.asarray(scores_in, dtype=np.float64), np.asarray(scores_out, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("AUROC needs scores for both the in-distribution and the other data")
    return float(roc_auc_score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b]))


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, slerp: bool = False) -> torch.Tensor:
    """Paths (P, steps, D) from rows of ``z0`` to rows of ``z1``: straight lines, or great circles (``slerp``,
    which keeps the norm typical of Gaussian codes)."""
    t = torch.linspace(0, 1, steps, device=z0.device, dtype=z0.dtype)[None, :, None]
    a, b = z0[:, None], z1[:, None]
    if not slerp:
        return a + t * (b - a)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)[..., None].clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.arccos(cos)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def project_2d(codes, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Codes (N, D) projected to (N, 2) by PCA or t-SNE (after PCA to 50 dimensions when D > 50)."""
    from sklearn.decomposition import PCA

    z = np.asarray(codes, dtype=np.float64)
    if z.shape[1] == 1:
        return np.c_[z, np.zeros(len(z))]
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(z)
    if method == "tsne":
        from sklearn.manifold import TSNE

        if z.shape[1] > 50:
            z = PCA(50, random_state=seed).fit_transform(z)
        return TSNE(2, init="pca", perplexity=min(30.0, (len(z) - 1) / 3), random_state=seed).fit_transform(z)
    raise ValueError(f"method must be pca or tsne, got {method!r}")


def plot_latent_map(codes, labels, path: str | Path, methods=("pca", "tsne"), class_names=None,
                    title: str = "", max_points: int = 3000, seed: int = 0) -> Path:
    """A PNG with one scatter plot of the codes per method, coloured by label (a seeded subset of
    ``max_points`` codes: t-SNE is quadratic in the number of points)."""
    from matplotlib.figure import Figure

    z = np.asarray(codes, dtype=np.float64)
    y = None if labels is None else np.asarray(labels)
    if len(z) > max_points:
        keep = np.random.default_rng(seed).choice(len(z), max_points, replace=False)
        z, y = z[keep], (None if y is None else y[keep])
    fig = Figure(figsize=(5.5 * len(methods), 5))
    axes = fig.subplots(1, len(methods), squeeze=False)
    for ax, method in zip(axes[0], methods):
        p = project_2d(z, method, seed)
        if y is None:
            ax.scatter(p[:, 0], p[:, 1], s=3, alpha=0.6)
        else:
            for c in np.unique(y):
                m = y == c
                name = class_names[int(c)] if class_names else str(c)
                ax.scatter(p[m, 0], p[m, 1], s=3, alpha=0.6, label=name)
            ax.legend(markerscale=4, fontsize=7, loc="best")
        ax.set_title(f"{method.upper() if method == 'pca' else 't-SNE'} of {z.shape[1]}-d codes ({len(z)} points)")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def pca_reconstruction_mse(x_train, x_test, components: list[int]) -> dict[int, float]:
    """Mean squared reconstruction error per example (summed over dimensions) of ``x_test`` projected on
    the first k principal components of ``x_train``, for each k: the optimum any linear autoencoder can reach."""
    xtr = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    xte = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1)
    mean = xtr.mean(0)
    _, _, vt = np.linalg.svd(xtr - mean, full_matrices=False)
    out = {}
    for k in components:
        v = vt[:k].T
        rec = (xte - mean) @ v @ v.T + mean
        out[k] = float(((xte - rec) ** 2).sum(1).mean())
    return out


@torch.no_grad()
def reconstruction_mse(model, ds: TensorDataset, batch_size: int = 500, limit: int | None = None) -> float:
    """Mean squared error per example (summed over dimensions) of ``decode(encode(x))``."""
    total, n = 0.0, 0
    for batch in iter_batches(ds, batch_size, limit, model.device):
        rec = model.decode(encode_batch(model, batch), batch.get("y")) if model.conditional else model.decode(encode_batch(model, batch))
        total += float((batch["x"] - rec).flatten(1).pow(2).sum())
        n += len(batch["x"])
    return total / n


def rows_suffix(modality: str, arrays: str) -> str:
    """The default file for rows of examples (reconstructions, interpolation paths) of a kind of data: its
    default sample file when that is a picture or lines of text (``.png`` grid, ``.txt``), else ``arrays``."""
    from ..modalities import get_modality

    default = get_modality(modality).default_suffix
    return default if default in (".png", ".txt") else arrays


def write_rows(rows: list, path: Path, *, cols: int, what: str, arrays) -> None:
    """Write equally long rows of examples: images (N, C, H, W) as a ``.png`` grid (per block of ``cols``
    examples, one grid row per row), strings as ``.txt`` lines (the rows' entries joined by `` -> ``), or
    anything as arrays by ``arrays(path)`` for ``.npz`` / ``.npy``; other suffixes get one clear line."""
    suffix = path.suffix.lower()
    images = all(isinstance(r, torch.Tensor) and r.dim() == 4 for r in rows)
    strings = all(isinstance(r, list) for r in rows)
    if suffix == ".png" and images:
        _grid_rows(rows, path, cols)
    elif suffix in (".txt", "") and strings:
        path.write_text("".join(" -> ".join(map(str, e)) + "\n" for e in zip(*rows)), encoding="utf-8")
    elif suffix in (".npz", ".npy"):
        arrays(path)
    else:
        picture = ".png" if images else ".txt" if strings else None
        kinds = ", ".join(s for s in (picture, ".npz" if suffix != ".npy" else ".npy") if s)
        raise ConfigError(f"{what} are written as {kinds}, not {path.suffix or 'no suffix'}")


def _grid_rows(rows: list, path: Path, cols: int) -> None:
    from ..outputs import save_image_grid

    n = len(rows[0])
    pad = -n % cols if n > cols else 0
    blocks = []
    for s in range(0, n, cols):
        for r in rows:
            part = r[s: s + cols].float().cpu()
            if pad and len(part) < cols:
                part = torch.cat([part, torch.ones(cols - len(part), *part.shape[1:])])
            blocks.append(part)
    save_image_grid(torch.cat(blocks), path, nrow=min(n, cols))

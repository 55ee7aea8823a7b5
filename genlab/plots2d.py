"""Scatter plots of 2-D samples, with the true mode centres and their 3-std circles when known."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def draw_scatter(ax, samples, centers=None, std: float | None = None, title: str | None = None,
                 limit: float | None = None, max_points: int = 5000) -> None:
    """Draw (N, 2) ``samples`` on a matplotlib axis; ``centers`` (K, 2) as red crosses with circles of
    radius 3 * ``std``. Axes are equal, [-limit, limit] (default: 1.5 x the largest centre coordinate)."""
    from matplotlib.patches import Circle

    x = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples, dtype=np.float64)[:max_points]
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"a 2-D scatter plot needs (N, 2) samples, got shape {x.shape}")
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.35, linewidths=0, color="tab:blue")
    if centers is not None:
        c = np.asarray(centers, dtype=np.float64)
        ax.scatter(c[:, 0], c[:, 1], s=12, marker="x", color="tab:red", linewidths=0.8)
        if std:
            for cx, cy in c:
                ax.add_patch(Circle((cx, cy), 3 * std, fill=False, color="tab:red", linewidth=0.4))
        if limit is None:
            limit = float(np.abs(c).max()) * 1.5 + 0.5
    if limit is not None:
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7, pad=3)


def scatter_2d(samples, path: str | Path, centers=None, std: float | None = None, title: str | None = None,
               limit: float | None = None, size: float = 3.0) -> Path:
    """One scatter plot (see :func:`draw_scatter`) written to a small PNG."""
    return scatter_panels([dict(samples=samples, centers=centers, std=std, title=title, limit=limit)], path, size)


def scatter_panels(panels: list[dict], path: str | Path, size: float = 2.2, cols: int | None = None) -> Path:
    """Several scatter plots side by side; each panel is a dict of :func:`draw_scatter` arguments."""
    from matplotlib.figure import Figure  # no pyplot: the caller's matplotlib backend is left alone

    cols = cols or len(panels)
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(size * cols, size * rows), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        draw_scatter(ax, **panel)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout(pad=0.5)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path

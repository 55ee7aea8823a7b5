"""The HTML sections of a table evaluation: a metrics table, per-column distribution plots (real vs
synthetic) and a heat map of the difference between real and synthetic pairwise associations. Figures are
PNGs embedded as base64 (``genlab/eval/report.py`` builds the page), so the file has no external assets.
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .metrics import category_labels, numeric_values, is_numeric

REAL, SYNTH = "#4c72b0", "#dd8452"


def column_plot(real: pd.Series, synth: pd.Series, title: str, max_bars: int = 12) -> str:
    """Histogram (numbers) or bar chart of the most frequent categories, real vs synthetic; base64 PNG."""
    from matplotlib.figure import Figure

    from ..report import fig_b64

    fig = Figure(figsize=(3.6, 2.4))
    ax = fig.add_subplot()
    if is_numeric(real):
        a, b = numeric_values(real), numeric_values(synth)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        lo, hi = np.quantile(a, [0.005, 0.995]) if len(a) else (0, 1)
        edges = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        ax.hist(np.clip(a, lo, hi), edges, density=True, alpha=0.55, color=REAL, label="real")
        ax.hist(np.clip(b, lo, hi), edges, density=True, histtype="step", lw=1.6, color=SYNTH, label="synthetic")
    else:
        p = category_labels(real).value_counts(normalize=True)
        q = category_labels(synth).value_counts(normalize=True).reindex(p.index, fill_value=0.0)
        top = p.index[:max_bars]
        pos = np.arange(len(top))
        ax.bar(pos - 0.2, p[top], 0.4, color=REAL, label="real")
        ax.bar(pos + 0.2, q[top], 0.4, color=SYNTH, label="synthetic")
        ax.set_xticks(pos, [str(t)[:14] for t in top], rotation=60, ha="right", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    return fig_b64(fig)


def heatmap(diff: pd.DataFrame, title: str) -> str:
    from matplotlib.figure import Figure

    from ..report import fig_b64

    n = len(diff)
    fig = Figure(figsize=(1.2 + 0.38 * n, 0.9 + 0.38 * n))
    ax = fig.add_subplot()
    im = ax.imshow(diff.to_numpy(), vmin=0, vmax=max(0.2, float(np.nanmax(diff.to_numpy()))), cmap="Reds")
    ax.set_xticks(range(n), diff.columns, rotation=70, ha="right", fontsize=7)
    ax.set_yticks(range(n), diff.index, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig_b64(fig)


def _table(df: pd.DataFrame) -> str:
    return df.to_html(float_format=lambda v: f"{v:.3f}", na_rep="–", border=0)


def sections(name: str, summary: pd.DataFrame, column_scores: pd.DataFrame, real: pd.DataFrame, synth: pd.DataFrame,
             association_diff: pd.DataFrame, notes: list[str]) -> list[tuple[str, str]]:
    """(heading, HTML) sections for model ``name``: the comparison, per-column scores and plots, the
    association heat map."""
    from ..report import img_tag

    plots = "".join(img_tag(column_plot(real[c], synth[c], f"{c}  (score {column_scores.loc[c, name]:.3f})"), c)
                    for c in real.columns)
    items = "".join(f"<li class='note'>{html.escape(n)}</li>" for n in notes)
    heat = img_tag(heatmap(association_diff, "|association(real) - association(synthetic)|"), "association difference")
    return [
        ("Comparison (with reference rows)", _table(summary) + f"<ul>{items}</ul>"),
        ("Per-column fidelity (1 - KS for numbers, 1 - TV for categories)", _table(column_scores)),
        ("Column distributions: real vs synthetic", f"<div>{plots}</div>"),
        ("Pairwise associations", "<p class='note'>Absolute difference between the real and synthetic association "
         "matrices (Pearson correlation for two numeric columns, Cramér's V otherwise); white is perfect.</p>" + heat),
    ]


def render(title: str, parts: list[tuple[str, str]]) -> str:
    from ..report import page

    return page(title, parts)

"""A self-contained HTML report: a metrics table, per-column distribution plots (real vs synthetic) and a
heat map of the difference between real and synthetic pairwise associations. Figures are PNGs embedded as
base64, so the file has no external assets. Matplotlib is used through its object API (no pyplot state).
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

from .metrics import _labels, _numbers, is_numeric

REAL, SYNTH = "#4c72b0", "#dd8452"


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def column_plot(real: pd.Series, synth: pd.Series, title: str, max_bars: int = 12) -> str:
    """Histogram (numbers) or bar chart of the most frequent categories, real vs synthetic; base64 PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6, 2.4))
    ax = fig.add_subplot()
    if is_numeric(real):
        a, b = _numbers(real), _numbers(synth)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        lo, hi = np.quantile(a, [0.005, 0.995]) if len(a) else (0, 1)
        edges = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        ax.hist(np.clip(a, lo, hi), edges, density=True, alpha=0.55, color=REAL, label="real")
        ax.hist(np.clip(b, lo, hi), edges, density=True, histtype="step", lw=1.6, color=SYNTH, label="synthetic")
    else:
        p = _labels(real).value_counts(normalize=True)
        q = _labels(synth).value_counts(normalize=True).reindex(p.index, fill_value=0.0)
        top = p.index[:max_bars]
        pos = np.arange(len(top))
        ax.bar(pos - 0.2, p[top], 0.4, color=REAL, label="real")
        ax.bar(pos + 0.2, q[top], 0.4, color=SYNTH, label="synthetic")
        ax.set_xticks(pos, [str(t)[:14] for t in top], rotation=60, ha="right", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def heatmap(diff: pd.DataFrame, title: str) -> str:
    from matplotlib.figure import Figure

    n = len(diff)
    fig = Figure(figsize=(1.2 + 0.38 * n, 0.9 + 0.38 * n))
    ax = fig.add_subplot()
    im = ax.imshow(diff.to_numpy(), vmin=0, vmax=max(0.2, float(np.nanmax(diff.to_numpy()))), cmap="Reds")
    ax.set_xticks(range(n), diff.columns, rotation=70, ha="right", fontsize=7)
    ax.set_yticks(range(n), diff.index, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _png(fig)


def _table(df: pd.DataFrame) -> str:
    return df.to_html(float_format=lambda v: f"{v:.3f}", na_rep="–", border=0, classes="metrics")


def render(title: str, summary: pd.DataFrame, column_scores: pd.DataFrame, plots: list[tuple[str, str]],
           heat: str, notes: list[str]) -> str:
    """The report as one HTML string."""
    figs = "\n".join(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{png}"></figure>'
                     for name, png in plots)
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table.metrics {{ border-collapse: collapse; font-size: 0.9em; }}
table.metrics td, table.metrics th {{ padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; text-align: right; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 0.5em; }}
figure {{ margin: 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Summary</h2>
{_table(summary)}
<ul>{items}</ul>
<h2>Per-column fidelity</h2>
{_table(column_scores)}
<h2>Column distributions (real vs synthetic)</h2>
<div class="grid">{figs}</div>
<h2>Pairwise associations</h2>
<p>Absolute difference between the real and synthetic association matrices (Pearson correlation for two
numeric columns, Cramér's V otherwise); white is perfect.</p>
<img alt="association difference" src="data:image/png;base64,{heat}">
</body></html>
"""

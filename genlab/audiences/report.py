"""The HTML report of the novel-item protocol: the results table, and for a few held-out items the real and
generated shares per attribute as bar charts, with the item's nearest training item (what NN copies)."""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from .protocol import GLOBAL_ROW, NN_ROW, REAL_ROW


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return buf.getvalue()


def item_figure(draw, i: int, rows: list[str], title: str):
    """One item: a panel per attribute, bars for the real shares and each row's generated shares."""
    from matplotlib.figure import Figure

    cats = draw.cats
    fig = Figure(figsize=(3.2 * len(cats.names), 2.8))
    axes = fig.subplots(1, len(cats.names), squeeze=False)[0]
    series = [("real", draw.p_real)] + [(r, draw.generated[r]) for r in rows if r in draw.generated]
    width = 0.8 / len(series)
    for ax, name, labels, sl in zip(axes, cats.names, cats.labels, cats.slices):
        keep = [k for k in range(len(labels)) if any(p[i, sl][k] > 0 for _, p in series)] or [0]
        x = np.arange(len(keep))
        for s, (label, p) in enumerate(series):
            ax.bar(x + (s - (len(series) - 1) / 2) * width, 100 * p[i, sl][keep], width, label=label)
        ax.set_xticks(x, [labels[k] for k in keep], rotation=90 if len(keep) > 6 else 0, fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    axes[0].set_ylabel("% of the item's users", fontsize=8)
    axes[-1].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10, y=1.04)
    return fig


def item_sections(draw, rows: list[str], labels: dict[str, str] | None = None, k: int = 4) -> str:
    """HTML for the ``k`` held-out items with the most events of ``draw``."""
    labels = labels or {}
    split = draw.split
    out = []
    for i in np.argsort(-draw.counts, kind="stable")[:k]:
        item = str(split.test_items[i])
        title = f"{labels.get(item, item)}  ({draw.counts[i]} events)"
        near = ""
        if draw.nearest is not None:
            j = str(split.train_items[draw.nearest[i]])
            near = f"nearest training item (copied by the NN row): {html.escape(labels.get(j, j))}"
        png = figure_png(item_figure(draw, i, rows, title))
        out.append(f"<h3>{html.escape(title)}</h3><p class='note'>{near}</p>"
                   f"<img alt='{html.escape(item)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    return "\n".join(out)


def results_table(result: dict) -> str:
    attrs = [k[5:] for k in next(iter(result["rows"].values()))["mean"] if k.startswith("rmse_")]
    head = ["row", "RSM %", "RMSE pp"] + [f"RMSE {a}" for a in attrs] + ["exact copies %", "CPU s / draw"]
    body = []
    for name, r in result["rows"].items():
        m, s = r["mean"], r["std"]
        cells = [f"{m['rsm']:.1f} ± {s['rsm']:.1f}", f"{m['rmse']:.2f} ± {s['rmse']:.2f}"]
        cells += [f"{m['rmse_' + a]:.2f}" for a in attrs] + [f"{m['exact_copies']:.1f}", f"{m['cpu_s']:.1f}"]
        body.append("<tr><td>" + html.escape(name) + "</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + "".join(body) + "</table>")


def write_report(result: dict, path, title: str, labels: dict[str, str] | None = None, k: int = 4) -> None:
    from ..eval.report import page, write_atomic

    draw = result["first"]
    rows = [r for r in result["rows"] if r not in (REAL_ROW, GLOBAL_ROW)]
    note = (f"<p class='note'>{result['n_novel']} held-out items with at least {result['min_events']} events, "
            f"{result['draws']} draw(s); RSM: % of item pairs x category shares ordered as in the real data (50% = "
            f"chance); RMSE: of the category shares per item and attribute, in percentage points. "
            f"'{REAL_ROW}' is the metric's noise floor; '{NN_ROW}' copies the most similar training item.</p>")
    sections = [("Results", note + results_table(result))]
    if draw is not None and draw.generated:
        sections.append((f"Real and generated users of {min(k, len(draw.counts))} held-out items (first draw)",
                         item_sections(draw, rows, labels, k)))
    write_atomic(path, page(title, sections))

"""Self-contained HTML reports (images embedded as base64 PNG, no external assets)."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import torch

from ..outputs import image_grid
from ..training import checkpoint as ck

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{image-rendering:pixelated}
.flag{color:#b00;font-weight:bold}.note{color:#666;font-size:13px}"""


def png_b64(array: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def fig_b64(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def img_tag(b64: str, alt: str, width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}"{w}>'


def grid_tag(x: torch.Tensor, alt: str, width: int = 420) -> str:
    return img_tag(png_b64(image_grid(x)), alt, width)


def curves_tag(run_dir: Path) -> str:
    """Training curves from ``metrics.jsonl``: one panel per logged quantity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = ck.read_metrics(run_dir)
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in records:
        for k, v in r.items():
            if k not in ("step", "epoch", "time", "split") and isinstance(v, (int, float)):
                series.setdefault((r.get("split", "train"), k), []).append((r["step"], v))
    keys = sorted({k for _, k in series})[:8]
    if not keys:
        return '<p class="note">no training curves (the model was fitted in one step)</p>'
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for split in ("train", "val"):
            pts = series.get((split, key))
            if pts:
                ax.plot(*zip(*pts), label=split, marker="." if len(pts) < 30 else None)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.legend(fontsize=7)
    return img_tag(fig_b64(fig), "training curves")


def table_html(rows: list[dict]) -> str:
    from .image_runs import _fmt

    cols = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = ""
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cls = ' class="flag"' if v is True and "flag" in c else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        body += "<tr>" + "".join(cells) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def memorisation_tag(panel: dict) -> str:
    """Each generated sample next to its 3 nearest training images (pixel L2)."""
    samples, neigh = panel["samples"], panel["neighbours"].float() / 255
    rows = torch.cat([samples.unsqueeze(1), neigh], 1).flatten(0, 1)
    return grid_tag_rows(rows, 4, "samples and their 3 nearest training images")


def class_grid_tag(panel: dict) -> str:
    """Conditional models: one row of samples per requested label, with the rows named."""
    samples, per = panel["samples"], panel["per_class"]
    k = len(samples) // per
    names = list(panel.get("class_names") or [])[:k]
    labels = [str(i) if len(names) != k or str(names[i]) == str(i) else f"{i} ({names[i]})" for i in range(k)]
    legend = "rows, top to bottom: label " + ", ".join(html.escape(t) for t in labels)
    return (img_tag(png_b64(image_grid(samples, nrow=per)), "samples per class, one row per label", 420)
            + f'<p class="note">{legend}</p>')


def grid_tag_rows(x: torch.Tensor, per_row: int, alt: str, width: int = 220) -> str:
    return img_tag(png_b64(image_grid(x, nrow=per_row)), alt, width)


def page(title: str, sections: list[tuple[str, str]]) -> str:
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def json_ready(result: dict) -> dict:
    """Drop tensors and private keys (``_grid``, ``_panel``, ``_class_grid``) so the result serialises to JSON."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if not k.startswith("_") and not isinstance(x, torch.Tensor)}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, float) and v != v:
            return None
        return v

    return json.loads(json.dumps(clean(result), default=str))

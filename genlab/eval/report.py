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
    """PNG of a matplotlib figure (a ``matplotlib.figure.Figure``; no pyplot state is touched)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def img_tag(b64: str, alt: str, width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}"{w}>'


def grid_tag(x: torch.Tensor, alt: str, width: int = 420) -> str:
    return img_tag(png_b64(image_grid(x)), alt, width)


def curves_tag(run_dir: Path) -> str:
    """Training curves from ``metrics.jsonl``: one panel per logged quantity."""
    from matplotlib.figure import Figure

    records = ck.read_metrics(run_dir)
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in records:
        for k, v in r.items():
            if k not in ("step", "epoch", "time", "split") and isinstance(v, (int, float)):
                series.setdefault((r.get("split", "train"), k), []).append((r["step"], v))
    keys = sorted({k for _, k in series})[:8]
    if not keys:
        return '<p class="note">no training curves (the model was fitted in one step)</p>'
    fig = Figure(figsize=(3.2 * len(keys), 2.6))
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for split in ("train", "val"):
            pts = series.get((split, key))
            if pts:
                ax.plot(*zip(*pts), label=split, marker="." if len(pts) < 30 else None)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.legend(fontsize=7)
    return img_tag(fig_b64(fig), "training curves")


# ----------------------------------------------------------------------------- legend

# column -> (what it measures, direction, scale/units, interval). One place for the terminal and the HTML.
LEGEND: dict[str, tuple[str, str, str, str]] = {
    "n": ("samples scored (the reference set has as many held-out test images, or all there are)", "", "count", ""),
    "fid": ("Fréchet distance between Gaussians fitted to the features of samples and of held-out real images",
            "lower is better", "0 = same mean and covariance; squared feature units; biased upwards at small n, "
            "so compare only at equal n",
            "bootstrap over both sets, bias-corrected: an interval for the FID at infinite n (it may lie below "
            "the value printed)"),
    "kid_x1e3": ("Kernel Inception Distance x 1000: unbiased squared MMD between the feature sets, cubic "
                 "polynomial kernel", "lower is better",
                 "about 0 (it can be slightly negative) when the distributions match; the features are not "
                 "normalised, so values for poor models run into the thousands and more",
                 "t-interval over 10 disjoint blocks of both sets"),
    "is": ("Inception Score in the dataset classifier's labels: exp(E KL(p(class|x) || p(class)))",
           "higher is better (up to the real row)", "1 to the number of classes",
           "none (10 splits after a seeded shuffle; std in eval.json)"),
    "precision": ("share of samples inside some real image's k-NN ball (realism)", "higher is better", "0-1",
                  "half-sampling over the samples, reference fixed"),
    "recall": ("share of real images inside some sample's k-NN ball (diversity)", "higher is better", "0-1",
               "half-sampling over the samples, reference fixed"),
    "density": ("real-image balls holding a sample, per sample, / k", "about 1 when matched",
                "0 and up; above 1: samples crowd where real data is dense", "half-sampling over the samples"),
    "coverage": ("share of real images whose k-NN ball holds a sample", "higher is better", "0-1",
                 "half-sampling over the samples"),
    "classes": ("share of the classes the classifier finds among the samples", "higher is better", "0-1",
                "half-sampling over the samples"),
    "copy_frac": ("share of samples much closer to one training image than to any other (pixel distance, "
                  "allowing 1-pixel shifts), below the threshold that ~1% of held-out real images of the same "
                  "class fall under", "compare with about 0.01", "0-1", "see copies_flagged"),
    "copies_flagged": ("YES when copy_frac is higher than held-out real data gives, by an exact test",
                       "no is good", "yes/no", "false-alarm rate at most 0.1% for samples as fresh as real data"),
    "birthday_support": ("effective support size by the birthday paradox: 1 / share of near-duplicate pairs "
                         "among all pairs of samples (threshold: 1st percentile of real nearest-neighbour "
                         "distances)", "higher is better; compare with the real row",
                         "number of distinct images; inf = not one near-duplicate pair among the samples "
                         "(support well above n^2/6)", "t-interval over 10 disjoint parts"),
    "nll_nats": ("negative log-likelihood of the test images, nats per image", "lower is better",
                 "only printed when it is a likelihood of the evaluated data (see the likelihood column)", "standard error in eval.json"),
    "bits_per_dim": ("the same in bits per pixel and channel", "lower is better", "bits", ""),
    "likelihood": ("how the likelihood was computed: estimator (exact / ELBO / IWAE-k / VLB) and data model "
                   "(binarised / 8-bit discretised / dequantised)", "", "", ""),
}

MARKS = ("* best model on that metric; ~ tied with the best: the difference lies inside its 95% interval "
         "(sqrt(se1^2 + se2^2) * 1.96); reference rows are not ranked")


def legend_lines(cols) -> list[str]:
    """One line per column: what it measures; direction; scale; interval."""
    out = []
    for c in cols:
        if c in LEGEND:
            what, direction, scale, interval = LEGEND[c]
            bits = [what] + [b for b in (direction, scale) if b] + ([f"interval: {interval}"] if interval else [])
            out.append(f"  {c}: " + "; ".join(bits))
    return out


def legend_html(cols) -> str:
    rows = "".join(f"<tr><td>{html.escape(c)}</td>" + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>"
                                                               for v in LEGEND[c]) + "</tr>"
                   for c in cols if c in LEGEND)
    return ("<table><tr><th>column</th><th>what it measures</th><th>direction</th><th>scale</th><th>interval</th></tr>"
            f"{rows}</table>")


def table_html(rows: list[dict]) -> str:
    from .image_runs import format_value

    cols = [c for c in rows[0] if not c.startswith("_")] if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = ""
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cls = ' class="flag"' if v is True and "flag" in c else ""
            cells.append(f"<td{cls}>{html.escape(format_value(v))}</td>")
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


def image_metric_sections(result: dict) -> list[tuple[str, str]]:
    """The HTML sections explaining an image evaluation: one table row per metric (value, interval, n,
    legend), the feature space, the reference and its sample counts, the likelihood label and caveats."""
    from .image_runs import format_value, summary, summary_ci

    row = summary(result)
    ci = summary_ci(result)
    body = ""
    for c, v in row.items():
        if c.startswith("_") or c in ("model",):
            continue
        iv = ci.get(c, {}).get("ci")
        iv_s = f"[{format_value(iv[0])}, {format_value(iv[1])}]" if iv else ""
        what, direction, scale, interval = LEGEND.get(c, ("", "", "", ""))
        body += (f"<tr><td>{html.escape(c)}</td><td>{html.escape(format_value(v))}</td><td>{html.escape(iv_s)}</td>"
                 + "".join(f"<td style='text-align:left'>{html.escape(x)}</td>" for x in (what, direction, scale, interval))
                 + "</tr>")
    level = result.get("level", 0.95)
    metrics = (f"<table><tr><th>metric</th><th>value</th><th>{level:.0%} interval</th><th>what it measures</th>"
               f"<th>direction</th><th>scale</th><th>interval method</th></tr>{body}</table>")
    ex = result.get("extractor") or {}
    acc = ex.get("test_accuracy")
    feat = (f"<p>Features: the penultimate layer ({ex.get('feat_dim')} dimensions) of genlab's classifier for "
            f"<b>{html.escape(str(ex.get('dataset')))}</b>, extractor version {ex.get('version')}"
            f"{', test accuracy ' + format(acc, '.2%') if acc is not None else ''}"
            f"{'; trained with ' + html.escape(str(ex['augmentation'])) if ex.get('augmentation') else ''}. "
            "Numbers from different feature spaces or extractor versions are not comparable.</p>")
    counts = (f"<p>Samples: n = {result.get('n_fake')}. Reference: {result.get('n_real')} held-out test images "
              f"(a seeded random subset). Copy test: every sample against all {result.get('n_train')} training "
              "images, calibrated on the reference images.</p>")
    base = result.get("baseline") or {}
    if "skipped" in base:
        counts += f"<p class='note'>Real-data row: {html.escape(base['skipped'])}</p>"
    elif base:
        counts += f"<p>Real-data row: {html.escape(str(base.get('what')))}; n = {base.get('n_fake')}.</p>"
        if base.get("warning"):
            counts += f"<p class='flag'>{html.escape(base['warning'])}</p>"
    lik = result.get("likelihood")
    lik_html = ""
    if lik:
        lik_html = (f"<p>Likelihood: estimator <b>{html.escape(str(lik.get('estimator')))}</b> "
                    f"({html.escape(str(lik.get('estimator_means', '')))}); data model "
                    f"<b>{html.escape(str(lik.get('data_model')))}</b> ({html.escape(str(lik.get('data_model_means', '')))}).")
        lik_html += (f" <span class='flag'>Not printed as a likelihood: {html.escape(lik.get('reason', ''))}</span></p>"
                     if not lik.get("valid", True) else "</p>")
    mem = result.get("memorisation") or {}
    caveats = ("<ul>"
               "<li>FID and coverage/recall depend on n: compare runs only at equal sample counts and reference.</li>"
               "<li>Intervals for precision, recall, density, coverage and classes cover the sampling of the "
               "generated images with the reference set fixed; FID and KID intervals resample both sets.</li>"
               f"<li>The copy test (measured per-image false-positive rate on held-out real images "
               f"{format_value(mem.get('measured_fpr'))}, expected {format_value(mem.get('expected_fraction'))}) finds copies that "
               "are exact, noisy or shifted by a pixel; it cannot see copies that are cropped, rescaled, "
               "recoloured or assembled from parts of several training images.</li>"
               "<li>The birthday support assumes samples spread evenly over their support; it is only meaningful "
               "next to the real row at the same threshold.</li>"
               "<li>The Inception Score uses the dataset's classifier, not Inception-v3: not comparable with papers.</li>"
               "</ul>")
    return [("Metrics", metrics + legend_note()), ("Feature space and sample counts", feat + counts + lik_html),
            ("Caveats", caveats)]


def legend_note() -> str:
    return "<p class='note'>Each interval is a 95% confidence interval unless eval.json says otherwise (level).</p>"


def evaluation_sections(result: dict, run_dir) -> list[tuple[str, str]]:
    """All sections of ``report.html`` for an evaluation result, in order (samples, metrics explained,
    memorisation panel, completions, details, training curves). Images get :func:`image_metric_sections`;
    other results a JSON dump of their metrics."""
    clean = json_ready(result)
    if "fid" in result:
        sections = image_metric_sections(result)
    else:
        sections = [("Metrics", f"<pre>{html.escape(json.dumps(clean, indent=1))}</pre>")]
    if "_grid" in result:
        sections.insert(0, ("Samples", grid_tag(result["_grid"], "samples")))
    if "_class_grid" in result:  # conditional models: the samples asked for, label by label
        sections.insert(1, ("Samples per class", class_grid_tag(result["_class_grid"])))
    if "_panel" in result:
        sections.append(("Memorisation: samples (left) and their 3 nearest training images",
                         memorisation_tag(result["_panel"])))
    for spec, (grid, per_row) in result.get("_completions", {}).items():
        sections.append((f"Completion, last {spec} of the pixels covered: covered input, completions, original",
                         grid_tag_rows(grid, per_row, f"completions with {spec} covered", width=60 * per_row)))
    if "_html" in result:
        sections.append(("Details", result["_html"]))
    if "fid" in result:
        sections.append(("All numbers (eval.json)", f"<details><summary>show</summary><pre>"
                         f"{html.escape(json.dumps(clean, indent=1))}</pre></details>"))
    sections.append(("Training curves", curves_tag(Path(run_dir))))
    return sections


def write_evaluation(run_dir, result: dict) -> tuple[Path, Path]:
    """Write ``eval.json`` and ``report.html`` (from :func:`evaluation_sections`) into ``run_dir``."""
    run_dir = Path(run_dir)
    write_atomic(run_dir / "eval.json", json.dumps(json_ready(result), indent=2) + "\n")
    write_atomic(run_dir / "report.html", page(f"genlab evaluation: {run_dir}", evaluation_sections(result, run_dir)))
    return run_dir / "eval.json", run_dir / "report.html"


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

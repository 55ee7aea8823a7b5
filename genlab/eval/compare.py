"""Comparing runs on one leaderboard (terminal table + HTML + JSON)."""
from __future__ import annotations

import html
import json
from pathlib import Path

from ..errors import ConfigError


def compare_runs(runs: list, *, data=None, root=None, n=10_000, seed=0, echo=print, **options) -> list[dict]:
    """Load ``runs`` and hand them to the ``compare`` function their kind of data names in
    ``genlab/modalities/`` (all runs must be of one kind); ``options`` are passed on."""
    from . import data_config_for
    from ..modalities import get_modality
    from ..training import checkpoint as ck
    from ..training import load

    if n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {n}")
    models = [load(r) for r in runs]
    kinds = sorted({m.info.modality for m in models})
    if len(kinds) > 1:
        raise ConfigError(f"genlab compare puts runs of one kind of data on one leaderboard; these are {' and '.join(kinds)} runs")
    fn = get_modality(kinds[0]).resolve("compare")
    if fn is None:
        raise ConfigError(f"genlab compare works on image runs or on table runs, not {kinds[0]} runs; evaluate those "
                          "one by one with genlab evaluate")
    data_cfg = data_config_for(ck.read_run_config(runs[0]), data, root)
    return fn(models, runs, data_cfg, n=n, seed=seed, echo=echo, **options)


def compare_images(models: list, runs: list, data_cfg, *, n: int = 10_000, seed: int = 0, echo=print,
                   nll_samples=None, nll_limit=None, features: str = "genlab", weights=None, test=None) -> list[dict]:
    """Image runs on one leaderboard (with the real-data and nearest-neighbour-copy reference rows), printed."""
    from .image_runs import compare_image_runs, format_table, summary

    if test is not None:
        raise ConfigError("--test names a held-out table file; image runs are compared on their data's test split")
    rows = compare_image_runs(models, runs, data_cfg, n=n, seed=seed, nll_samples=nll_samples, nll_limit=nll_limit,
                              log=echo, features=features, weights=weights)
    echo(format_table([summary(r) for r in rows]))
    return rows


def write_comparison(rows: list[dict], output: Path) -> None:
    """The leaderboard page (HTML, JSON beside it) of the rows' kind of data."""
    from ..modalities import get_modality

    kind = rows[0].get("modality", "image") if rows else "image"
    get_modality(kind).resolve("comparison_page")(rows, Path(output))


def write_image_comparison(rows: list[dict], output: Path) -> None:
    from . import report as R

    output.parent.mkdir(parents=True, exist_ok=True)
    grids = "".join(f"<div style='display:inline-block;margin:6px'><b>{html.escape(str(r['model']))}</b><br>"
                    f"{R.grid_tag(r['_grid'][:36], str(r['model']), 200)}</div>" for r in rows if "_grid" in r)
    sections = [("Leaderboard", leaderboard_html(rows)), ("Samples", grids)]
    R.write_atomic(output, R.page("genlab comparison", sections))
    R.write_atomic(output.with_suffix(".json"), json.dumps([R.json_ready(r) for r in rows], indent=2) + "\n")


def leaderboard_html(rows: list[dict]) -> str:
    """The comparison table with best / tie marks and 95% intervals, the reference rows' sample counts and
    provenance, and the legend of every column."""
    from . import report as R
    from .image_runs import format_value, likelihood_notes, mark_ties, summary

    summ = [summary(r) for r in rows]
    marks = mark_ties(summ)
    cols = [c for c in summ[0] if not c.startswith("_")] if summ else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = ""
    for i, r in enumerate(summ):
        cells = []
        for c in cols:
            v = r.get(c)
            ci = (r["_ci"].get(c) or {}).get("ci")
            tip = f" title='95% interval [{format_value(ci[0])}, {format_value(ci[1])}]'" if ci else ""
            cls = ' class="flag"' if v is True and "flag" in c else ""
            sub = f"<br><small>[{format_value(ci[0])}, {format_value(ci[1])}]</small>" if ci else ""
            cells.append(f"<td{cls}{tip}>{html.escape(format_value(v) + marks[i].get(c, ''))}{sub}</td>")
        body += "<tr>" + "".join(cells) + "</tr>"
    refs = ""
    for row in rows:
        if row.get("reference") or row.get("run") == "reference":
            what = row.get("what") or row.get("skipped") or ""
            refs += f"<li><b>{html.escape(str(row.get('model')))}</b> (n = {row.get('n_fake', '-')}): {html.escape(str(what))}"
            for key in ("warning", "skipped"):
                if row.get(key) and key != "skipped" or (key == "skipped" and row.get("what") and row.get("skipped")):
                    refs += f" <span class='flag'>{html.escape(str(row[key]))}</span>"
            refs += "</li>"
    n_ref = next((r.get("n_real") for r in rows if r.get("n_real")), None)
    note = (f"<p class='note'>All rows are scored against the same {n_ref} held-out test images with the same feature "
            f"extractor; each row's sample count is in column n. {html.escape(R.MARKS)}.</p>"
            f"<p>Reference rows:</p><ul>{refs}</ul>")
    kinds = likelihood_notes(summ)
    if kinds:
        note += f"<p class='note'>{html.escape(kinds[0])}</p><ul>" + "".join(
            f"<li>{html.escape(k.strip())}</li>" for k in kinds[1:]) + "</ul>"
    return f"<table><tr>{head}</tr>{body}</table>{note}<h3>Columns</h3>{R.legend_html(cols)}"

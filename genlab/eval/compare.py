"""Comparing runs on one leaderboard (terminal table + HTML + JSON)."""
from __future__ import annotations

import html
import json
from pathlib import Path

from ..errors import ConfigError


def compare_runs(runs: list, *, data=None, root=None, n=10_000, seed=0, nll_samples=None, nll_limit=None, echo=print,
                 features: str = "genlab", weights=None):
    from . import data_config_for
    from .image_runs import compare_image_runs, format_table, summary
    from ..training import checkpoint as ck
    from ..training import load

    if n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {n}")
    models = [load(r) for r in runs]
    if any(m.info.modality != "image" for m in models):
        raise ConfigError("genlab compare works on image runs; evaluate table and text runs one by one")
    data_cfg = data_config_for(ck.read_run_config(runs[0]), data, root)
    rows = compare_image_runs(models, runs, data_cfg, n=n, seed=seed, nll_samples=nll_samples, nll_limit=nll_limit,
                              log=echo, features=features, weights=weights)
    echo(format_table([summary(r) for r in rows]))
    return rows


def write_comparison(rows: list[dict], output: Path) -> None:
    from . import report as R
    from .image_runs import summary

    output.parent.mkdir(parents=True, exist_ok=True)
    grids = "".join(f"<div style='display:inline-block;margin:6px'><b>{html.escape(str(r['model']))}</b><br>"
                    f"{R.grid_tag(r['_grid'][:36], str(r['model']), 200)}</div>" for r in rows if "_grid" in r)
    note = ("<p class='note'>All rows: same test images, feature extractor and sample counts. 'real data' is the "
            "ceiling; 'nn-copy' copies training images: it scores perfectly on realism and must be flagged by "
            "copies_flagged (memorisation).</p>")
    sections = [("Leaderboard", R.table_html([summary(r) for r in rows]) + note), ("Samples", grids)]
    R.write_atomic(output, R.page("genlab comparison", sections))
    R.write_atomic(output.with_suffix(".json"), json.dumps([R.json_ready(r) for r in rows], indent=2) + "\n")

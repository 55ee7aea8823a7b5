"""``genlab compare`` for table runs: one leaderboard of several runs on the same real rows, samples,
metrics and reference rows (the real-data ceiling and independent columns), as a terminal table, an HTML
page and a JSON file. Called by ``genlab/eval/compare.py`` when every run is a table run."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from ...errors import ConfigError, DataError
from .evaluate import HEADLINE, compare, real_frames, reference_cache


def compare_table_runs(models: list, runs: list, data_cfg, *, n: int | None = None, seed: int = 0,
                       test: str | None = None, echo=print, detection="gbm", evaluators=None,
                       **image_options) -> list[dict]:
    """Score every table model in ``models`` (run folders ``runs``) against ``data_cfg``'s real rows (and
    the ``test`` file if given); ``n`` synthetic rows each (default: as many as the real training rows).
    Returns one dict per row of the leaderboard (reference rows included)."""
    if image_options.get("features", "genlab") != "genlab" or image_options.get("weights") is not None:
        raise ConfigError("--features and --weights choose the feature network for image runs; table runs are "
                          "compared on their columns")
    schemas = [m.schema for m in models]
    names0 = schemas[0].names
    for run, s in zip(runs, schemas):
        if s.names != names0:
            raise ConfigError(f"{run} models columns {', '.join(s.names)}, but {runs[0]} models {', '.join(names0)}; "
                              f"compare runs trained on the same table")
    target = schemas[0].target
    train, test_df = real_frames(schemas[0], data_cfg, test)
    labels, candidates = [], {}
    for m, run in zip(models, runs):
        label = f"{m.name} ({Path(run).name})" if Path(run).name != m.name else m.name
        if label in candidates:
            label = f"{m.name} ({run})"
        synth = m.sample(n or len(train), generator=torch.Generator(device=m.device).manual_seed(seed))
        candidates[label] = synth[[c for c in train.columns]]
        labels.append(label)
    sensitive = list(schemas[0].sensitive or [])
    cache = reference_cache(train, test_df, target=target, seed=seed, detection=detection, evaluators=evaluators,
                            sensitive=sensitive)
    summary, columns = compare(candidates, train, test_df, target, True, seed, cache=cache, detection=detection,
                               evaluators=evaluators, sensitive=sensitive)
    echo(format_table(summary))
    for note in summary.attrs.get("notes", []):
        echo(f"note: {note}")
    rows = []
    for name, r in summary.iterrows():
        rows.append({"model": name, "modality": "table", "run": str(runs[labels.index(name)]) if name in labels else None,
                     **{k: (None if pd.isna(v) else float(v)) for k, v in r.items()},
                     "_columns": columns[name].to_dict() if name in columns else {}})
    return rows


def format_table(summary: pd.DataFrame) -> str:
    cols = [c for c in HEADLINE if c in summary.columns]
    table = summary[cols].astype(float).rename(columns=HEADLINE)
    return (table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-") +
            "\nquality, column shapes, pair trends: 1 is best; detection AUC, MIA AUC: 0.5 is best; privacy share: "
            "about 0.5, with no exact copies")


def write_table_comparison(rows: list[dict], output: Path) -> None:
    """The leaderboard as an HTML page (``output``) and JSON beside it."""
    from .. import report as R

    if not rows:
        raise DataError("nothing to write: no rows")
    summary = pd.DataFrame({r["model"]: {k: v for k, v in r.items() if k not in ("model", "modality", "run", "_columns")}
                            for r in rows}).T
    per_col = pd.DataFrame({r["model"]: r["_columns"] for r in rows if r.get("_columns")})
    note = ("<p class='note'>All rows: the same real rows, metrics and number of synthetic rows. 'real data (ceiling)' "
            "is real held-out rows scored like a synthetic table; 'independent columns' shuffles every column on its "
            "own (exact marginals, no dependence). quality: all pairs of columns; quality_associated: only pairs "
            "associated in the real rows (SDMetrics' default). mia_auc: membership-inference attack, 0.5 is no "
            "signal.</p>")
    table = lambda df: df.to_html(float_format=lambda v: f"{v:.3f}", na_rep="–", border=0)  # noqa: E731
    sections = [("Leaderboard", table(summary) + note), ("Per-column fidelity", table(per_col))]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    R.write_atomic(output, R.page("genlab comparison (tables)", sections))
    clean = [{k: v for k, v in r.items() if k != "_columns"} | {"columns": r["_columns"]} for r in rows]
    R.write_atomic(output.with_suffix(".json"), json.dumps(clean, indent=2) + "\n")

"""Evaluating synthetic tables against real ones, always next to two reference rows.

* ``real data (ceiling)``: real held-out rows scored like a synthetic table (utility: trained on the real
  training rows), what a perfect generator would reach;
* ``independent columns``: the training rows with every column shuffled on its own; it has perfect
  per-column fidelity and no dependence between columns, so fidelity alone cannot flatter a model.

The real test rows are split in two halves (seeded): one is the privacy holdout, the other the real
reference sample. Utility is always tested on all real test rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from ..eval import register_evaluator
from . import metrics as M
from . import report

REAL_ROW, INDEPENDENT_ROW = "real data (ceiling)", "independent columns"


def independent_columns(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Every column permuted independently: exact marginals, no dependence between columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: df[c].to_numpy()[rng.permutation(len(df))] for c in df.columns}).astype(df.dtypes.to_dict())


def score(synth: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, holdout: pd.DataFrame, target: str | None,
          utility_train: pd.DataFrame | None = None, detection: str | tuple[str, ...] = "gbm",
          evaluators: list[str] | None = None, seed: int = 0) -> tuple[dict, dict]:
    """One comparison row (quality, marginal RMSE, detection AUC, utility, privacy) and the per-column scores.
    ``detection`` names one detector (``detection_auc``) or several (the first is ``detection_auc``, the
    others ``detection_auc_<name>``)."""
    shapes = M.column_shapes(train, synth)
    trends = M.pair_trends(train, synth)
    row = {"rows": len(synth), "column_shapes": float(np.mean(list(shapes.values()))),
           "pair_trends": float(trends["score"].mean()) if len(trends) else float("nan")}
    row["quality"] = float(np.nanmean([row["column_shapes"], row["pair_trends"]]))
    row["marginal_rmse"] = M.marginal_rmse(train, synth)
    for i, clf in enumerate((detection,) if isinstance(detection, str) else detection):
        row["detection_auc" + (f"_{clf}" if i else "")] = M.detection_auc(train, synth, clf, seed=seed)
    if target is not None:
        util = M.ml_utility(synth if utility_train is None else utility_train, test, target, seed=seed, evaluators=evaluators)
        row.update({f"utility_{k}": v for k, v in util.items()})
    priv = M.dcr_privacy(train, holdout, synth, seed=seed)
    row["privacy_share"] = priv["share_closer_to_train"]
    row["exact_copies"] = priv["exact_copies"]
    return row, shapes


def compare(candidates: dict[str, pd.DataFrame], train: pd.DataFrame, test: pd.DataFrame, target: str | None = None,
            references: bool = True, seed: int = 0, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every synthetic table in ``candidates`` (and the reference rows): (summary, per-column scores)."""
    order = np.random.default_rng(seed).permutation(len(test))
    holdout, real_sample = test.iloc[order[: len(test) // 2]], test.iloc[order[len(test) // 2 :]]
    rows, cols = {}, {}
    todo = dict(candidates)
    if references:
        todo = {REAL_ROW: real_sample, **todo, INDEPENDENT_ROW: independent_columns(train, seed)}
    for name, synth in todo.items():
        rows[name], cols[name] = score(synth, train, test, holdout, target,
                                       utility_train=train if name == REAL_ROW else None, seed=seed, **kwargs)
    return pd.DataFrame(rows).T, pd.DataFrame(cols)


def real_frames(schema, data_cfg, test: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real training and test rows (typed like generated ones): ``data_cfg``'s splits, or its whole table
    against the ``test`` file when one is given."""
    from ..data.tables import read_splits, table_source
    from .codes import typed_frame
    from .io import read_table
    from .schema import parse_overrides

    names = parse_overrides(data_cfg.schema).get("names")
    if test is None:
        train_df, test_df, _ = read_splits(data_cfg, names)
    else:
        train_df = read_table(table_source(data_cfg)[0], names)
        test_df = read_table(test, names or list(train_df.columns))
    if test_df is None or len(test_df) == 0:
        raise DataError(f"{data_cfg.name} has no test rows; give a held-out table with --test FILE")
    return typed_frame(schema, train_df), typed_frame(schema, test_df)


@register_evaluator("table")
def evaluate_table(model, run_dir, data_cfg, *, n: int | None = None, seed: int = 0, test: str | None = None,
                   target: str | None = None, references: bool = True, detection="gbm",
                   evaluators: list[str] | None = None, **_) -> dict:
    """The table evaluator of ``genlab evaluate``: ``n`` rows (default: as many as the real training rows)
    from ``model`` against the real rows of ``data_cfg`` (and the ``test`` file if given), with the two
    reference rows. Utility predicts ``target`` (default: the run's ``data.target``; none: skipped)."""
    target = target or model.schema.target
    if target is not None:
        model.schema.index(target)  # a clear error when the table has no such column
    train, test_df = real_frames(model.schema, data_cfg, test)
    synth = model.sample(n or len(train), generator=torch.Generator(device=model.device).manual_seed(seed))
    summary, columns = compare({model.name: synth}, train, test_df, target, references, seed,
                               detection=detection, evaluators=evaluators)
    diff = (M.association_matrix(train) - M.association_matrix(synth, ref=train)).abs()
    notes = [f"{len(synth)} synthetic rows from {run_dir}; real: {len(train)} training rows, {len(test_df)} test rows.",
             "quality = mean of column shapes (1 - KS or 1 - TV per column) and pair trends (correlation / contingency "
             "similarity); detection_auc: a classifier separating real from synthetic rows, 0.5 = indistinguishable.",
             "privacy_share: synthetic rows closer to a training row than to a held-out row (about 0.5 is ideal; a "
             "model copying its training rows scores above it); exact_copies: share identical to a training row."]
    parts = report.sections(model.name, summary, columns, train, synth, diff, notes)
    return {"model": model.name, "data": data_cfg.name, "test": test, "target": target, "n_samples": len(synth),
            "seed": seed, "summary": summary.to_dict(orient="index"), "columns": columns.to_dict(),
            "_summary": summary, "_sections": parts, "_html": "".join(f"<h3>{h}</h3>{body}" for h, body in parts)}


def evaluate_table_run(run_dir: str | Path, data: str | None = None, test: str | None = None,
                       out_html: str | Path | None = None, root: str | None = None, **options) -> dict:
    """Python API: evaluate the table model in ``run_dir`` against ``data`` (default: the run's own) and
    ``test``; writes the HTML report to ``out_html`` (and a ``.json`` beside it) when given."""
    from ..eval import data_config_for
    from ..eval.report import json_ready
    from ..training import checkpoint as ck
    from ..training import load

    run_dir = Path(run_dir)
    cfg = ck.read_run_config(run_dir)
    model = load(run_dir)
    if getattr(model, "schema", None) is None:
        raise DataError(f"{run_dir} holds a {model.info.modality} model ({cfg['model']}), not a table model")
    result = evaluate_table(model, run_dir, data_config_for(cfg, data, root), test=test, **options)
    if out_html is not None:
        out_html = Path(out_html)
        out_html.parent.mkdir(parents=True, exist_ok=True)
        title = f"genlab evaluation: {model.name} ({run_dir.name})"
        out_html.write_text(report.render(title, result["_sections"]), encoding="utf-8")
        out_html.with_suffix(".json").write_text(json.dumps(json_ready(result), indent=2), encoding="utf-8")
        result["html"] = str(out_html)
    return result


HEADLINE = {"quality": "quality", "column_shapes": "column shapes", "pair_trends": "pair trends",
            "detection_auc": "detection AUC", "utility_f1": "utility F1", "utility_r2": "utility R2",
            "privacy_share": "privacy share", "exact_copies": "exact copies"}


def text_summary(result: dict) -> str:
    """The headline metrics of :func:`evaluate_table`'s result as a short plain-text table."""
    summary = result["_summary"]
    table = summary[[c for c in HEADLINE if c in summary.columns]].astype(float).rename(columns=HEADLINE)
    target = f", utility predicts {result['target']!r}" if result.get("target") else ""
    return (f"{result['model']}: {result['n_samples']} synthetic rows against {result['data']}{target}\n"
            f"{table.to_string(float_format=lambda v: f'{v:.3f}', na_rep='-')}\n"
            "quality, column shapes, pair trends: 1 is best; detection AUC: 0.5 is best; privacy share: about 0.5 is best, "
            "with no exact copies")

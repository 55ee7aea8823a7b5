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
from . import metrics as M

REAL_ROW, INDEPENDENT_ROW = "real data (ceiling)", "independent columns"


def independent_columns(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Every column permuted independently: exact marginals, no dependence between columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: df[c].to_numpy()[rng.permutation(len(df))] for c in df.columns}).astype(df.dtypes.to_dict())


def score(synth: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, holdout: pd.DataFrame, target: str | None,
          utility_train: pd.DataFrame | None = None, detection: str = "gbm", evaluators: list[str] | None = None,
          seed: int = 0) -> tuple[dict, dict]:
    """One comparison row (quality, marginal RMSE, detection AUC, utility, privacy) and the per-column scores."""
    shapes = M.column_shapes(train, synth)
    trends = M.pair_trends(train, synth)
    row = {"rows": len(synth), "column_shapes": float(np.mean(list(shapes.values()))),
           "pair_trends": float(trends["score"].mean()) if len(trends) else float("nan")}
    row["quality"] = float(np.nanmean([row["column_shapes"], row["pair_trends"]]))
    row["marginal_rmse"] = M.marginal_rmse(train, synth)
    row["detection_auc"] = M.detection_auc(train, synth, detection, seed=seed)
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


def _frames(model, data: str | None, test: str | None, run_cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real training and test tables (typed like generated ones) from files, or from the run's own data."""
    from ..config import DataConfig, from_dict
    from ..data.tables import prepare_table
    from .codes import typed_frame
    from .io import read_table

    if data is None or test is None:
        _, _, _, train_df, test_df = prepare_table(from_dict(DataConfig, run_cfg["data_config"], "data"))
        if test_df is None:
            raise DataError("the run's data has no test split; give --test FILE")
    if data is not None:
        train_df = read_table(data)
    if test is not None:
        test_df = read_table(test, names=list(train_df.columns) if data is not None else None)
    return typed_frame(model.schema, train_df), typed_frame(model.schema, test_df)


def evaluate_table_run(run_dir: str | Path, data: str | None = None, test: str | None = None,
                       out_html: str | Path | None = None, n: int | None = None, seed: int = 0,
                       references: bool = True, target: str | None = None, **kwargs) -> dict:
    """Sample ``n`` rows (default: as many as the real training rows) from the tabular model in
    ``run_dir``, compare them with the real ``data`` (training rows) and ``test`` (held-out rows; both
    default to the run's own data) and write an HTML report to ``out_html`` (plus a ``.json`` beside it).
    Utility predicts ``target`` (default: the run's ``data.target``; none: no utility)."""
    from ..training import checkpoint as ck
    from ..training import load
    from . import report

    run_dir = Path(run_dir)
    cfg = ck.read_run_config(run_dir)
    model = load(run_dir)
    if getattr(model, "schema", None) is None:
        raise DataError(f"{run_dir} holds a {model.info.modality} model ({cfg['model']}), not a table model")
    train, test_df = _frames(model, data, test, cfg)
    synth = model.sample(n or len(train), generator=torch.Generator(device=model.device).manual_seed(seed))
    target = target or model.schema.target
    if target is not None:
        model.schema.index(target)  # a clear error when the table has no such column
    summary, columns = compare({cfg["model"]: synth}, train, test_df, target, references, seed, **kwargs)
    result = {"run": str(run_dir), "model": cfg["model"], "target": target, "summary": summary, "columns": columns}
    if out_html is not None:
        out_html = Path(out_html)
        out_html.parent.mkdir(parents=True, exist_ok=True)
        diff = (M.association_matrix(train) - M.association_matrix(synth, ref=train)).abs()
        plots = [(c, report.column_plot(train[c], synth[c], f"{c}  (score {columns.loc[c, cfg['model']]:.3f})"))
                 for c in train.columns]
        notes = [f"{len(synth)} synthetic rows from {run_dir}; real: {len(train)} training rows, {len(test_df)} test rows.",
                 "quality = mean of column shapes (1 - KS or 1 - TV per column) and pair trends (correlation / "
                 "contingency similarity); detection_auc: 0.5 means real and synthetic rows cannot be told apart.",
                 "privacy_share: share of synthetic rows closer to a training row than to a held-out row (about 0.5 "
                 "is ideal, 1.0 means copies); exact_copies: share identical to a training row."]
        out_html.write_text(report.render(f"genlab evaluation: {cfg['model']} ({run_dir.name})", summary, columns,
                                          plots, report.heatmap(diff, "|association(real) - association(synthetic)|"),
                                          notes), encoding="utf-8")
        out_html.with_suffix(".json").write_text(json.dumps(
            {**{k: v for k, v in result.items() if k not in ("summary", "columns")},
             "summary": summary.to_dict(orient="index"), "columns": columns.to_dict()}, indent=2, default=float), encoding="utf-8")
        result["html"] = str(out_html)
    return result


def format_summary(summary: pd.DataFrame) -> str:
    keep = [c for c in ("quality", "column_shapes", "pair_trends", "marginal_rmse", "detection_auc", "utility_f1",
                        "utility_r2", "privacy_share", "exact_copies") if c in summary.columns]
    return summary[keep].to_string(float_format=lambda v: f"{v:.3f}")

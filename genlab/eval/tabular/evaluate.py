"""Evaluating synthetic tables against real ones, always next to two reference rows.

* ``real data (ceiling)``: real held-out rows scored like a synthetic table (utility: trained on the real
  training rows), what a perfect generator would reach;
* ``independent columns``: the training rows with every column shuffled on its own; it has perfect
  per-column fidelity and no dependence between columns, so fidelity alone cannot flatter a model.

The real test rows are split in two halves (seeded): one is the privacy holdout, the other the real
reference sample. Utility is always tested on all real test rows. The two reference rows depend only on
the data and the settings, so ``genlab evaluate`` caches them per dataset (keyed by a checksum of the real
rows and the settings) in ``$GENLAB_CACHE/tables``.

Privacy is measured three ways: distance to the closest record (``privacy_share``, ``exact_copies``), a
distance-based membership-inference attack (``mia_auc``; its value on the real-data row is the baseline,
about 0.5) and, for the schema's ``sensitive`` columns, an attribute-inference attack (``aia_<column>``:
accuracy on training rows; ``aia_<column>_holdout``: on held-out rows); see ``privacy.py``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...errors import DataError
from ...models.tabular.dp import dp_summary
from . import metrics as M
from . import report

REAL_ROW, INDEPENDENT_ROW = "real data (ceiling)", "independent columns"
MIN_REAL_ROWS, WARN_REAL_ROWS = 10, 200  # held-out rows in the real-data row: refused below, warned below
CACHE_VERSION = 2  # bump when a metric changes, so cached reference rows are recomputed


def independent_columns(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Every column permuted independently: exact marginals, no dependence between columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: df[c].to_numpy()[rng.permutation(len(df))] for c in df.columns}).astype(df.dtypes.to_dict())


def score(synth: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, holdout: pd.DataFrame, target: str | None,
          utility_train: pd.DataFrame | None = None, detection: str | tuple[str, ...] = "gbm",
          evaluators: list[str] | None = None, seed: int = 0, sensitive: list[str] | None = None) -> tuple[dict, dict]:
    """One comparison row (quality both ways, marginal RMSE, detection AUC, utility, privacy) and the
    per-column scores. ``detection`` names one detector (``detection_auc``) or several (the first is
    ``detection_auc``, the others ``detection_auc_<name>``). Pair trends: ``pair_trends`` averages every
    pair of columns, ``pair_trends_associated`` only pairs associated in the real rows (SDMetrics' current
    default); ``quality`` and ``quality_associated`` average each with the column shapes."""
    from .privacy import attribute_accuracy, membership_auc

    shapes = M.column_shapes(train, synth)
    trends = M.pair_trends(train, synth)
    assoc = trends[trends["associated"].astype(bool)] if len(trends) else trends
    row = {"rows": len(synth), "column_shapes": float(np.mean(list(shapes.values()))),
           "pair_trends": float(trends["score"].mean()) if len(trends) else float("nan"),
           "pair_trends_associated": float(assoc["score"].mean()) if len(assoc) else float("nan")}
    row["quality"] = float(np.nanmean([row["column_shapes"], row["pair_trends"]]))
    row["quality_associated"] = float(np.nanmean([row["column_shapes"], row["pair_trends_associated"]]))
    row["marginal_rmse"] = M.marginal_rmse(train, synth)
    for i, clf in enumerate((detection,) if isinstance(detection, str) else detection):
        row["detection_auc" + (f"_{clf}" if i else "")] = M.detection_auc(train, synth, clf, seed=seed)
    if target is not None:
        util = M.ml_utility(synth if utility_train is None else utility_train, test, target, seed=seed, evaluators=evaluators)
        row.update({f"utility_{k}": v for k, v in util.items()})
    priv = M.dcr_privacy(train, holdout, synth, seed=seed)
    row["privacy_share"] = priv["share_closer_to_train"]
    row["exact_copies"] = priv["exact_copies"]
    if len(holdout) >= 10:
        row["mia_auc"] = membership_auc(train, holdout, synth, seed=seed)
    for s in sensitive or []:
        row[f"aia_{s}"] = attribute_accuracy(train, train, synth, s, seed=seed)
        row[f"aia_{s}_holdout"] = attribute_accuracy(train, holdout, synth, s, seed=seed)
    return row, shapes


def compare(candidates: dict[str, pd.DataFrame], train: pd.DataFrame, test: pd.DataFrame, target: str | None = None,
            references: bool = True, seed: int = 0, cache: str | Path | None = None,
            **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every synthetic table in ``candidates`` (and the reference rows): (summary, per-column scores).

    ``cache``: a JSON file holding the reference rows of these real rows and settings (read when present,
    written otherwise). The real-data row needs at least :data:`MIN_REAL_ROWS` held-out rows (it is left
    out below that) and is flagged as noisy below :data:`WARN_REAL_ROWS`; the notes are in
    ``summary.attrs["notes"]``."""
    order = np.random.default_rng(seed).permutation(len(test))
    holdout, real_sample = test.iloc[order[: len(test) // 2]], test.iloc[order[len(test) // 2 :]]
    rows, cols, notes = {}, {}, []
    todo = dict(candidates)
    cached = _read_cache(cache) if references else None
    if references and cached is None:
        todo = {REAL_ROW: real_sample, **todo, INDEPENDENT_ROW: independent_columns(train, seed)}
        if len(real_sample) < MIN_REAL_ROWS:
            del todo[REAL_ROW]
    if references and len(real_sample) < MIN_REAL_ROWS:
        notes.append(f"real data (ceiling) left out: only {len(real_sample)} held-out rows (of {len(test)} test rows) "
                     f"for it; it needs {MIN_REAL_ROWS} or more. Give a larger table with --test FILE")
    elif references and len(real_sample) < WARN_REAL_ROWS:
        notes.append(f"real data (ceiling) uses only {len(real_sample)} held-out rows (of {len(test)} test rows): "
                     f"its scores are noisy; give a larger table with --test FILE")
    for name, synth in todo.items():
        rows[name], cols[name] = score(synth, train, test, holdout, target,
                                       utility_train=train if name == REAL_ROW else None, seed=seed, **kwargs)
    if references and cached is not None:
        rows = {**{k: v for k, v in cached["rows"].items() if k == REAL_ROW}, **rows,
                **{k: v for k, v in cached["rows"].items() if k == INDEPENDENT_ROW}}
        cols = {**{k: v for k, v in cached["cols"].items() if k == REAL_ROW}, **cols,
                **{k: v for k, v in cached["cols"].items() if k == INDEPENDENT_ROW}}
        notes.append(f"reference rows read from the cache {cache}")
    elif references and cache is not None:
        _write_cache(cache, {k: rows[k] for k in (REAL_ROW, INDEPENDENT_ROW) if k in rows},
                     {k: cols[k] for k in (REAL_ROW, INDEPENDENT_ROW) if k in cols})
    summary = pd.DataFrame(rows).T
    summary.attrs["notes"] = notes
    return summary, pd.DataFrame(cols)


def reference_cache(train: pd.DataFrame, test: pd.DataFrame, **settings) -> Path:
    """Where the reference rows of these real rows and ``settings`` are cached: ``$GENLAB_CACHE/tables/``
    (default ``~/.cache/genlab/tables/``), named by a SHA-256 of the rows, the settings and genlab's version."""
    from ... import __version__

    h = hashlib.sha256()
    for df in (train, test):
        h.update(",".join(map(str, df.columns)).encode())
        h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    h.update(json.dumps({**settings, "version": __version__, "cache": CACHE_VERSION}, sort_keys=True, default=str).encode())
    base = os.environ.get("GENLAB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "genlab"
    return Path(base).expanduser() / "tables" / f"references-{h.hexdigest()[:24]}.json"


def _read_cache(path) -> dict | None:
    if path is None or not Path(path).is_file():
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and {"rows", "cols"} <= set(data) else None
    except (OSError, ValueError):
        return None  # a damaged cache file is recomputed


def _write_cache(path, rows: dict, cols: dict) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"rows": rows, "cols": cols}, default=float), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # an unwritable cache only costs time


def real_frames(schema, data_cfg, test: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real training and test rows (typed like generated ones): ``data_cfg``'s splits, or its whole table
    against the ``test`` file when one is given."""
    from ...data.tables import read_splits, table_source
    from ...data.tabular.codes import typed_frame
    from ...data.tabular.io import read_table
    from ...data.tabular.schema import parse_overrides

    names = parse_overrides(data_cfg.schema).get("names")
    if test is None:
        train_df, test_df, _ = read_splits(data_cfg, names)
    else:
        train_df = read_table(table_source(data_cfg)[0], names)
        test_df = read_table(test, names or list(train_df.columns))
    if test_df is None or len(test_df) == 0:
        raise DataError(f"{data_cfg.name} has no test rows; give a held-out table with --test FILE")
    return typed_frame(schema, train_df), typed_frame(schema, test_df)


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
    synth = synth[list(train.columns)]  # identifiers and personal data are made up, not learned: not scored
    sensitive = list(getattr(model.schema, "sensitive", []) or [])
    cache = reference_cache(train, test_df, target=target, seed=seed, detection=detection, evaluators=evaluators,
                            sensitive=sensitive) if references else None
    summary, columns = compare({model.name: synth}, train, test_df, target, references, seed, cache=cache,
                               detection=detection, evaluators=evaluators, sensitive=sensitive)
    dp = dp_summary(model)
    if dp is not None:  # a model trained with DP-SGD: the epsilon it spent, in the table and a note
        summary["dp_epsilon"] = pd.Series({model.name: dp["epsilon_spent"]}, dtype=float)
        summary.attrs["notes"] = list(summary.attrs.get("notes", [])) + [
            f"{model.name} was trained with differential privacy (DP-SGD through Opacus): epsilon {dp['epsilon_spent']:.3g} "
            f"spent of the target {dp['epsilon_target']:g}, delta {dp['delta']:g}, {dp['steps']} steps, per-row gradients "
            f"clipped to {dp['max_grad_norm']:g}, noise multiplier {dp['noise_multiplier']:.3g} ({dp['accountant']})"]
    diff = (M.association_matrix(train) - M.association_matrix(synth, ref=train)).abs()
    notes = [f"{len(synth)} synthetic rows from {run_dir}; real: {len(train)} training rows, {len(test_df)} test rows.",
             "quality = mean of column shapes (1 - KS or 1 - TV per column) and pair trends (correlation / contingency "
             "similarity) over all pairs of columns; quality_associated: the same over the pairs associated in the real "
             "rows only (|Pearson| > 0.5 or Cramér's V > 0.3, SDMetrics' current default); detection_auc: a "
             "classifier separating real from synthetic rows, 0.5 = indistinguishable.",
             "privacy_share: synthetic rows closer to a training row than to a held-out row (about 0.5 is ideal; a "
             "model copying its training rows scores above it); exact_copies: share identical to a training row; "
             "mia_auc: distance-based membership-inference attack (0.5: no signal; the real-data row is its baseline)."
             ] + list(summary.attrs.get("notes", []))
    parts = report.sections(model.name, summary, columns, train, synth, diff, notes)
    return {"model": model.name, "data": data_cfg.name, "test": test, "target": target, "n_samples": len(synth),
            "seed": seed, "dp": dp, "notes": list(summary.attrs.get("notes", [])), "summary": summary.to_dict(orient="index"), "columns": columns.to_dict(),
            "_summary": summary, "_sections": parts, "_html": "".join(f"<h3>{h}</h3>{body}" for h, body in parts)}


def evaluate_table_run(run_dir: str | Path, data: str | None = None, test: str | None = None,
                       out_html: str | Path | None = None, root: str | None = None, **options) -> dict:
    """Python API: evaluate the table model in ``run_dir`` against ``data`` (default: the run's own) and
    ``test``; writes the HTML report to ``out_html`` (and a ``.json`` beside it) when given."""
    from .. import data_config_for
    from ..report import json_ready
    from ...training import checkpoint as ck
    from ...training import load

    run_dir = Path(run_dir)
    cfg = ck.read_run_config(run_dir)
    model = load(run_dir)
    if model.info.modality != "table":  # table models (TabularModel) carry the table's schema
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


HEADLINE = {"quality": "quality (all pairs)", "quality_associated": "quality (assoc. pairs)",
            "column_shapes": "column shapes", "pair_trends": "pair trends",
            "detection_auc": "detection AUC", "utility_f1": "utility F1", "utility_r2": "utility R2",
            "privacy_share": "privacy share", "mia_auc": "MIA AUC", "exact_copies": "exact copies", "dp_epsilon": "DP epsilon"}


def text_summary(result: dict) -> str:
    """The headline metrics of :func:`evaluate_table`'s result as a short plain-text table."""
    summary = result["_summary"]
    table = summary[[c for c in HEADLINE if c in summary.columns]].astype(float).rename(columns=HEADLINE)
    target = f", utility predicts {result['target']!r}" if result.get("target") else ""
    return (f"{result['model']}: {result['n_samples']} synthetic rows against {result['data']}{target}\n"
            f"{table.to_string(float_format=lambda v: f'{v:.3f}', na_rep='-')}\n"
            "quality, column shapes, pair trends: 1 is best (assoc. pairs: only pairs associated in the real rows, "
            "SDMetrics' default); detection AUC, MIA AUC (membership attack): 0.5 is best; privacy share: about 0.5 "
            "is best, with no exact copies" + _attribute_lines(summary, result["model"])
            + "".join(f"\nnote: {x}" for x in result.get("notes", [])))


def _attribute_lines(summary: pd.DataFrame, model: str) -> str:
    """One line per sensitive column: the attribute-inference attack on the model and its real-data baseline."""
    out = []
    for col in summary.columns:
        if col.startswith("aia_") and not col.endswith("_holdout") and model in summary.index:
            name = col[4:]
            base = f"; real-data baseline {summary.loc[REAL_ROW, col]:.3f}" if REAL_ROW in summary.index else ""
            out.append(f"\nattribute inference on {name!r}: right for {summary.loc[model, col]:.3f} of training rows and "
                       f"{summary.loc[model, col + '_holdout']:.3f} of held-out rows{base}")
    return "".join(out)

"""The novel-item protocol: hold out items, train on the others, generate their users, score, repeat.

For each of ``draws`` draws (seeds ``seed, seed+1, ...``): ``n_novel`` random items with at least
``min_events`` events are held out; every candidate model is trained on the events of the other items
(schemas, context and embedding fitted on those alone); for each held-out item it generates as many events
as the item really has, from the item's features only; the generated and real category shares are
compared (``metrics.py``). Reference rows, scored the same way:

* ``NN (nearest item)``: the users of the training item most similar in content (``audience-nn``);
* ``global (all users)``: random training events, the same for every item (RSM ~ 50% by construction);
* ``real resampled (noise floor)``: the item's own real events drawn with replacement, as many as it has:
  what sampling noise alone costs for that many rows.

Results: per row, the mean and standard deviation over draws of RSM, RMSE (and per attribute), per-item
fidelity, detection AUC (a gradient-boosted classifier telling generated from real events of the held-out
items, given the item), exact copies and process CPU seconds (train + generate + score).
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig, TrainConfig, from_dict
from ..data.grouped import Split, choose_novel, make_split, read_grouped
from ..data.tabular.schema import TableSchema
from . import metrics as M

NN_ROW, GLOBAL_ROW, REAL_ROW = "NN (nearest item)", "global (all users)", "real resampled (noise floor)"


@dataclass
class Candidate:
    name: str  # the row's name
    model: str  # registered model name
    model_config: dict = field(default_factory=dict)
    train_config: dict = field(default_factory=dict)


def round_codes(schema: TableSchema, codes: np.ndarray) -> np.ndarray:
    """Numbers clipped and rounded as written out (``from_codes``), so that metrics see what users get."""
    out = np.array(codes, dtype=np.float64, copy=True)
    for j, c in enumerate(schema.columns):
        if not c.onehot and c.kind != "datetime":
            x = np.clip(out[:, j], c.min, c.max)
            out[:, j] = np.round(x, c.decimals) if c.decimals is not None else x
    return out


def fit_model(cand: Candidate, train_ds, seed: int = 0):
    """Train ``cand`` on ``train_ds`` in a scratch run folder; returns the sampling model (eval mode)."""
    from ..registry import get_model_class
    from ..training.trainer import Trainer, resolve_device, seed_everything

    cls = get_model_class(cand.model)
    mcfg = from_dict(cls.Config, cand.model_config, "model")
    tc = from_dict(TrainConfig, {**cand.train_config, "progress": False, "seed": seed}, "train")
    seed_everything(tc.seed)
    net = cls(mcfg, train_ds.info)
    with tempfile.TemporaryDirectory(prefix="genlab-audience-") as tmp:
        trainer = Trainer(net, train_ds, None, tc, Path(tmp), resolve_device(tc.device))
        trainer.fit()
        return trainer.sampling_model().eval()


@dataclass
class Draw:
    """One held-out draw: real shares and what every row generated."""

    split: Split
    cats: M.Categories
    item_codes: np.ndarray  # (novel items, item columns)
    counts: np.ndarray  # real events per novel item
    p_real: np.ndarray
    real_cats: np.ndarray  # (real events of the novel items, attributes) category indices
    real_item: np.ndarray  # the novel item (0..) of each of those events
    generated: dict = field(default_factory=dict)  # row -> (codes, shares)
    nearest: np.ndarray | None = None  # index of each novel item's nearest training item


def prepare_draw(g, novel: np.ndarray, schema_overrides=None) -> Draw:
    split = make_split(g, novel, schema_overrides)
    meta = split.train.info.meta
    schema = TableSchema.from_meta(meta)
    bins = meta["audience"]["bins"]
    cats = M.categories(schema, bins)
    t = split.test.tensors
    item = t["item"].numpy()
    present, first = np.unique(item, return_index=True)
    counts = np.bincount(item, minlength=len(split.test_items))
    real = M.category_matrix(schema, bins, round_codes(schema, t["x"].numpy()))
    p_real = M.proportions(cats, real, item, len(split.test_items))
    return Draw(split, cats, t["ctx"].numpy()[first], counts, p_real, real, item)


def score_codes(d: Draw, codes: np.ndarray, train_codes: np.ndarray) -> tuple[dict, np.ndarray]:
    meta = d.split.train.info.meta
    schema = TableSchema.from_meta(meta)
    codes = round_codes(schema, codes)
    item = np.repeat(np.arange(len(d.counts)), d.counts)
    gen_cats = M.category_matrix(schema, meta["audience"]["bins"], codes)
    p = M.proportions(d.cats, gen_cats, item, len(d.counts))
    row = M.score(p, d.p_real, d.cats)
    row["detection_auc"] = detection(d, gen_cats, item)
    row["exact_copies"] = 100 * M.exact_copies(codes, train_codes)
    return row, p


def detection(d: Draw, gen_cats: np.ndarray, gen_item: np.ndarray, seed: int = 0) -> float:
    """Cross-validated AUC of gradient-boosted trees telling generated from real events of the held-out items;
    features: every attribute's category and the item, so an audience right overall but wrong per item is
    caught (0.5: indistinguishable)."""
    import pandas as pd

    from ..eval.tabular.metrics import detection_auc

    def frame(cats: np.ndarray, item: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"item": item.astype(str), **{n: cats[:, j].astype(str) for j, n in enumerate(d.cats.names)}})

    return detection_auc(frame(d.real_cats, d.real_item), frame(gen_cats, gen_item), classifier="gbm", seed=seed)


def reference_rows(d: Draw, train_codes: np.ndarray, rng: np.random.Generator, keep: bool = True) -> dict:
    """The global and resampled-real rows of draw ``d`` (see the module docstring)."""
    out = {}
    for name in (GLOBAL_ROW, REAL_ROW):
        c0 = time.process_time()
        if name == GLOBAL_ROW:
            codes = train_codes[rng.integers(0, len(train_codes), int(d.counts.sum()))]
        else:
            x, item = d.split.test.tensors["x"].numpy(), d.split.test.tensors["item"].numpy()
            order = np.argsort(item, kind="stable")
            start = np.concatenate([[0], np.cumsum(d.counts)[:-1]])
            pick = np.concatenate([start[i] + rng.integers(0, c, c) for i, c in enumerate(d.counts)])
            codes = x[order][pick]
        row, p = score_codes(d, codes, train_codes)
        row["cpu_s"] = time.process_time() - c0
        out[name] = row
        if keep:
            d.generated[name] = p
    return out


def evaluate_trained(model, data_cfg: DataConfig, seed: int = 0) -> dict:
    """Score a trained audience model on its run's own held-out items (one draw, no retraining), beside
    the NN, global and resampled-real rows."""
    from ..data.grouped import default_novel
    from ..errors import DataError

    g = read_grouped(data_cfg)
    novel = default_novel(g)
    if not len(novel):
        raise DataError(f"{g.name} has too few items with events to hold some out")
    d = prepare_draw(g, novel, data_cfg.schema)
    if [str(i) for i in d.split.train_items] != list(model.item_ids):
        raise DataError(f"the items of {data_cfg.name} are not those the run was trained on; evaluate it on its own data")
    schema = TableSchema.from_meta(d.split.train.info.meta)
    train_codes = round_codes(schema, d.split.train.tensors["x"].numpy())
    gen = torch.Generator(device=model.device).manual_seed(seed)
    rows = {}
    c0 = time.process_time()
    row, d.generated[model.name] = score_codes(d, model.generate(d.item_codes, d.counts, gen), train_codes)
    row["cpu_s"] = time.process_time() - c0
    rows[model.name] = row
    nn = fit_model(Candidate(NN_ROW, "audience-nn", {"context": "content"}), d.split.train, seed=seed)
    c0 = time.process_time()
    rows[NN_ROW], d.generated[NN_ROW] = score_codes(d, nn.generate(d.item_codes, d.counts, gen), train_codes)
    rows[NN_ROW]["cpu_s"] = time.process_time() - c0
    d.nearest = nn.nearest(nn.ctx(torch.as_tensor(d.item_codes))).numpy()
    rows.update(reference_rows(d, train_codes, np.random.default_rng(seed)))
    out = {name: {"draws": [r], "mean": r, "std": {k: 0.0 for k in r}} for name, r in rows.items()}
    return {"rows": out, "first": d, "n_novel": len(novel), "min_events": int(d.counts.min()), "draws": 1,
            "seed": seed, "data": g.name, "items": len(g.items), "events": len(g.events)}


def evaluate_novel(data_cfg: DataConfig, candidates: list[Candidate], n_novel: int = 50, min_events: int = 20,
                   draws: int = 10, seed: int = 0, references: bool = True, echo=None, keep_first: bool = True) -> dict:
    """Run the protocol; returns ``{"rows": {row: {"draws": [...], "mean": {...}, "std": {...}}}, "first": Draw}``."""
    from ..errors import ConfigError

    if draws < 1:
        raise ConfigError(f"--draws must be >= 1, got {draws}")
    g = read_grouped(data_cfg)
    choose_novel(g, n_novel, min_events, seed)  # a bad --novel fails before any training
    rows: dict[str, list[dict]] = {}
    first = None
    for k in range(draws):
        novel = choose_novel(g, n_novel, min_events, seed + k)
        c0 = time.process_time()
        d = prepare_draw(g, novel, data_cfg.schema)
        prep = time.process_time() - c0
        schema = TableSchema.from_meta(d.split.train.info.meta)
        train_codes = round_codes(schema, d.split.train.tensors["x"].numpy())
        gen = torch.Generator().manual_seed(seed + k)
        todo = list(candidates)
        if references:
            todo.append(Candidate(NN_ROW, "audience-nn", {"context": "content"}))
        for cand in todo:
            c0 = time.process_time()
            model = fit_model(cand, d.split.train, seed=seed + k)
            codes = model.generate(d.item_codes, d.counts, gen)
            row, p = score_codes(d, codes, train_codes)
            row["cpu_s"] = time.process_time() - c0 + prep
            rows.setdefault(cand.name, []).append(row)
            if k == 0 and keep_first:
                d.generated[cand.name] = p
                if cand.model == "audience-nn" and cand.name == NN_ROW:
                    d.nearest = model.nearest(model.ctx(torch.as_tensor(d.item_codes))).numpy()
            if echo:
                echo(f"draw {k + 1}/{draws}  {cand.name:<28} RSM {row['rsm']:5.1f}%  RMSE {row['rmse']:5.2f} pp  "
                     f"({row['cpu_s']:.0f} CPU-s)")
        if references:
            for name, row in reference_rows(d, train_codes, np.random.default_rng(seed + k), keep=k == 0 and keep_first).items():
                rows.setdefault(name, []).append(row)
        if k == 0:
            first = d
    out = {}
    for name, rs in rows.items():
        keys = rs[0].keys()
        out[name] = {"draws": rs,
                     "mean": {key: float(np.nanmean([r[key] for r in rs])) for key in keys},
                     "std": {key: float(np.nanstd([r[key] for r in rs], ddof=1)) if len(rs) > 1 else 0.0 for key in keys}}
    return {"rows": out, "first": first, "n_novel": n_novel, "min_events": min_events, "draws": draws, "seed": seed,
            "data": g.name, "items": len(g.items), "events": len(g.events)}


def format_table(result: dict) -> str:
    lines = [f"novel items: {result['data']}, {result['n_novel']} held-out items (>= {result['min_events']} events "
             f"each) x {result['draws']} draw(s); mean ± std over draws",
             f"{'row':<30} {'RSM %':>13} {'RMSE pp':>13} {'fidelity':>8} {'detect AUC':>10} {'copies %':>9} {'CPU s':>7}"]
    for name, r in result["rows"].items():
        m, s = r["mean"], r["std"]
        lines.append(f"{name:<30} {m['rsm']:6.1f} ± {s['rsm']:4.1f} {m['rmse']:6.2f} ± {s['rmse']:4.2f} "
                     f"{m.get('fidelity', float('nan')):8.3f} {m.get('detection_auc', float('nan')):10.3f} "
                     f"{m['exact_copies']:9.1f} {m['cpu_s']:7.1f}")
    lines.append("fidelity: 1 - TVD of each attribute's shares per item (1 best); detect AUC: a classifier telling "
                 "generated from real events given the item (0.5 best)")
    return "\n".join(lines)


def json_result(result: dict) -> dict:
    """The JSON-ready part of a result (no arrays)."""
    return {k: v for k, v in result.items() if k != "first"}

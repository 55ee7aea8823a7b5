"""Evaluating image runs: draw samples, embed them with the dataset's feature extractor, score them.

``evaluate_image_run`` scores one run; ``compare_image_runs`` scores several on the same test images,
feature extractor and sample counts, with two reference rows: real training images (the ceiling) and a
nearest-neighbour copy of the training set (perfect realism, which the memorisation metrics must catch).
"""
from __future__ import annotations

import math

import torch

from ..data import load_data
from ..errors import ConfigError, DataError
from . import progress
from .inception import make_extractor
from .images import evaluate_samples
from .likelihood_runs import test_nll

CLASS_GRID_WIDTH = 10  # samples per class in the report's per-class grid


@torch.no_grad()
def draw_samples(model, n: int, seed: int = 0, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` samples in batches (labels spread evenly over classes for conditional models), checked for NaN."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    labels = torch.arange(n, device=model.device) % model.info.num_classes if model.conditional else None
    progress.stage(f"drawing {n:,} samples from {model.name}")
    chunks = []
    with progress.bar(n, f"sampling {model.name}", unit="sample") as bar:
        for i in range(0, n, batch):
            chunks.append(model.sample(min(batch, n - i), labels=None if labels is None else labels[i:i + batch],
                                       generator=gen).cpu())
            bar.update(len(chunks[-1]))
    x = torch.cat(chunks)
    if not torch.isfinite(x).all():
        raise ConfigError(f"model {model.name!r} produced NaN or infinite samples; nothing was written")
    return x.clamp(0, 1), None if labels is None else labels.cpu()


@torch.no_grad()
def class_grid_samples(model, per_class: int = 10, seed: int = 0) -> torch.Tensor | None:
    """Conditional models: ``per_class`` samples of every class, ordered by label (class k fills row k of a
    grid ``per_class`` wide); ``None`` for unconditional models."""
    if not model.conditional:
        return None
    labels = torch.arange(model.info.num_classes, device=model.device).repeat_interleave(per_class)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    return model.sample(len(labels), labels=labels, generator=gen).cpu().clamp(0, 1)


def load_splits(model, data_cfg):
    train_ds, test_ds = load_data(data_cfg, "image", "train"), load_data(data_cfg, "image", "test")
    if tuple(train_ds.info.shape) != tuple(model.info.shape):
        raise DataError(f"model {model.name!r} makes {_shape(model.info.shape)} images but {data_cfg.name!r} holds "
                        f"{_shape(train_ds.info.shape)} images; evaluate on the data it was trained on "
                        f"(train a run with --set data.image_size / data.channels to match that data)")
    return train_ds, test_ds


def _shape(s) -> str:
    return "x".join(map(str, s))


def nearest_training_images(x: torch.Tensor, train_x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Indices (len(x), k) of the k nearest training images in pixel space (L2)."""
    flat = x.reshape(len(x), -1).float()
    best_d, best_i = [], []
    for start in range(0, len(train_x), 8192):
        t = train_x[start:start + 8192].reshape(-1, flat.shape[1]).float() / 255.0
        d = torch.cdist(flat, t)
        v, i = d.topk(min(k, d.shape[1]), dim=1, largest=False)
        best_d.append(v)
        best_i.append(i + start)
    d, i = torch.cat(best_d, 1), torch.cat(best_i, 1)
    return i.gather(1, d.topk(k, dim=1, largest=False).indices)


def heldout_training_images(data_cfg, train_ds) -> tuple[torch.Tensor | None, str]:
    """Images of the training file that a ``data.limit`` run never saw (the file's images after the first
    ``limit``), disjoint from its training split, and what they are; (None, "") without a limit."""
    from dataclasses import replace

    limit = getattr(data_cfg, "limit", None)
    if not limit:
        return None, ""
    full = load_data(replace(data_cfg, limit=None), "image", "train")
    rest = full.tensors["x"][len(train_ds):]
    if not len(rest):
        return None, ""
    return rest, f"training-file images beyond data.limit={limit} (never trained on)"


def evaluate_image_run(model, run_dir, data_cfg, *, n: int = 10_000, nll_samples: int | None = None,
                       nll_limit: int | None = None, seed: int = 0, extractor=None, train_feats=None, splits=None,
                       features: str = "genlab", weights=None, baseline: bool = True, heldout=None) -> dict:
    train_ds, test_ds = splits or load_splits(model, data_cfg)
    net = extractor or make_extractor(features, weights, train_ds, test_ds)
    heldout_x, heldout_what = heldout if heldout is not None else (
        heldout_training_images(data_cfg, train_ds) if baseline else (None, ""))
    fake, labels = draw_samples(model, n, seed)
    if len(fake) <= net.config["feat_dim"]:
        raise ConfigError(f"FID needs more samples than feature dimensions ({net.config['feat_dim']}); use -n "
                          f"{net.config['feat_dim'] * 4} or more")
    result = {"model": model.name, "data": data_cfg.name, "n_samples": n, "seed": seed,
              **evaluate_samples(fake, train_ds, test_ds, net, n=n, fake_labels=labels, train_feats=train_feats,
                                 baseline=baseline, heldout_x=heldout_x, heldout_what=heldout_what)}
    if model.has("log_likelihood"):
        result["likelihood"] = test_nll(model, test_ds, nll_samples, limit=nll_limit, seed=seed)
    if model.has("complete"):
        result["_completions"] = completion_examples(model, test_ds, seed)
    panel = fake[:8]
    result["_panel"] = {"samples": panel, "neighbours": train_ds.tensors["x"][nearest_training_images(panel, train_ds.tensors["x"])]}
    result["_grid"] = fake[:64]
    if model.conditional:
        result["_class_grid"] = {"samples": class_grid_samples(model, CLASS_GRID_WIDTH, seed), "per_class": CLASS_GRID_WIDTH,
                                 "class_names": model.info.class_names}
    return result




@torch.no_grad()
def completion_examples(model, test_ds, seed: int = 0, images: int = 6, n: int = 4,
                        covered: tuple[str, ...] = ("50%", "75%")) -> dict[str, tuple[torch.Tensor, int]]:
    """For each covered share (last pixels in raster order), ``n`` completions of the first test images as
    a grid of rows [covered input, completions..., original] (``completion_grid``) and its row length."""
    from ..masks import completion_grid, parse_mask

    x = test_ds.tensors["x"][:images].float() / 255
    labels = test_ds.tensors.get("y")
    labels = labels[:images] if model.conditional and labels is not None else None
    gen = torch.Generator(device=model.device).manual_seed(seed)
    out = {}
    for spec in covered:
        mask = parse_mask(spec, tuple(model.info.shape[1:]))
        filled = model.complete(x, mask, n, generator=gen, labels=labels)
        out[spec] = completion_grid(x, mask, filled)
    return out


def compare_image_runs(models: list, run_dirs: list, data_cfg, *, n: int = 10_000, seed: int = 0,
                       nll_samples: int | None = None, nll_limit: int | None = None, log=print,
                       features: str = "genlab", weights=None) -> list[dict]:
    """One row per run plus the two reference rows, on the same data, extractor and reference images.

    Reference rows, held to the models' protocol: "real data (held out)" — real images neither trained on
    nor in the reference set (test images beyond the reference subset, and training-file images a
    ``data.limit`` run never saw), at the models' sample count, or fewer with a warning giving the numbers,
    or no row when there are too few for FID; "nn-copy" — ``n`` training images themselves (perfect realism,
    which the copy test must flag), fewer with a warning when the training split is smaller than ``n``.
    """
    shapes = {tuple(m.info.shape) for m in models}
    if len(shapes) > 1:
        raise ConfigError(f"runs to compare must make images of one size; got {', '.join(map(_shape, shapes))}")
    train_ds, test_ds = load_splits(models[0], data_cfg)
    net = make_extractor(features, weights, train_ds, test_ds)
    train_feats = net.embed(train_ds.tensors["x"])[0]
    heldout = heldout_training_images(data_cfg, train_ds)
    rows = []
    for i, (model, run_dir) in enumerate(zip(models, run_dirs)):
        log(f"evaluating {run_dir} ({model.name}) on {n} samples")
        r = evaluate_image_run(model, run_dir, data_cfg, n=n, seed=seed, nll_samples=nll_samples, nll_limit=nll_limit,
                               extractor=net, train_feats=train_feats, splits=(train_ds, test_ds), baseline=i == 0,
                               heldout=heldout)
        rows.append({"run": str(run_dir), **r})
    real = rows[0].pop("baseline", None) if rows else None
    n_model = rows[0]["n_fake"] if rows else n
    copies = train_ds.tensors["x"][torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(seed))[:n_model]]
    copy_row = evaluate_samples(copies.float() / 255, train_ds, test_ds, net, n=n_model, train_feats=train_feats,
                                baseline=False, seed=seed)
    copy_row["what"] = f"{len(copies)} training images, copied as they are"
    if len(copies) < n_model:
        copy_row["warning"] = (f"the training split holds {len(train_ds)} images, fewer than the {n_model} samples: "
                               f"this row is scored at n = {len(copies)}")
    if real is not None:
        if "skipped" in real:
            log(f"note: {real['skipped']}")
            rows.append({"run": "reference", "model": "real data (held out)", "reference": True, **real})
        else:
            if "warning" in real:
                log(f"warning: {real['warning']}")
            rows.append({"run": "reference", "model": "real data (held out)", "reference": True, **real})
    if "warning" in copy_row:
        log(f"warning: {copy_row['warning']}")
    rows.append({"run": "reference", "model": "nn-copy of training data", "reference": True, **copy_row})
    return rows


def summary(row: dict) -> dict:
    """The leaderboard columns of one result row (point values; intervals are in :func:`summary_ci`)."""
    g = lambda *keys: _dig(row, keys)  # noqa: E731
    lik = row.get("likelihood") or {}
    ok = lik.get("valid", True)
    return {
        "model": row.get("model"), "n": g("n_fake"), "fid": g("fid", "value"), "kid_x1e3": _scale(g("kid", "mean"), 1e3),
        "is": g("inception_score", "mean"), "precision": g("prdc", "precision"), "recall": g("prdc", "recall"),
        "density": g("prdc", "density"), "coverage": g("prdc", "coverage"), "classes": g("class_modes", "covered"),
        "copy_frac": g("memorisation", "copy_fraction"), "copies_flagged": g("memorisation", "flagged"),
        "birthday_support": g("birthday", "fake", "support"),
        "nll_nats": lik.get("nats") if ok else None, "bits_per_dim": lik.get("bits_per_dim") if ok else None,
        "likelihood": (f"{lik.get('estimator')}, {lik.get('data_model')}" if ok else "not a likelihood of this data")
        if lik else None,
        "_ci": summary_ci(row), "_reference": bool(row.get("reference")), "_warning": row.get("warning"),
        "_skipped": row.get("skipped"), "_likelihood_reason": lik.get("reason"),
        "_baseline": summary(row["baseline"]) if isinstance(row.get("baseline"), dict) and "fid" in row["baseline"] else None,
        "_baseline_note": (row.get("baseline") or {}).get("skipped") or (row.get("baseline") or {}).get("warning"),
    }


def summary_ci(row: dict) -> dict:
    """Interval (lo, hi) and standard error of each leaderboard column that has one."""
    g = lambda *keys: _dig(row, keys)  # noqa: E731
    out = {}
    for col, ci, se, scale in (("fid", ("fid", "ci"), ("fid", "se"), 1), ("kid_x1e3", ("kid", "ci"), ("kid", "se"), 1e3),
                               ("precision", ("prdc", "ci", "precision"), ("prdc", "se", "precision"), 1),
                               ("recall", ("prdc", "ci", "recall"), ("prdc", "se", "recall"), 1),
                               ("density", ("prdc", "ci", "density"), ("prdc", "se", "density"), 1),
                               ("coverage", ("prdc", "ci", "coverage"), ("prdc", "se", "coverage"), 1),
                               ("classes", ("class_modes", "ci", "covered"), ("class_modes", "se", "covered"), 1),
                               ("birthday_support", ("birthday", "fake", "ci"), None, 1)):
        lo_hi = g(*ci)
        if lo_hi is not None:
            out[col] = {"ci": [v * scale for v in lo_hi], "se": None if se is None or g(*se) is None else g(*se) * scale}
    return out


def _dig(d, keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _scale(v, s):
    return None if v is None else v * s


LOWER_BETTER = ("fid", "kid_x1e3", "nll_nats", "bits_per_dim")
HIGHER_BETTER = ("is", "precision", "recall", "coverage", "classes", "birthday_support")


def _ci_text(ci) -> str:
    return f"[{format_value(ci[0])}, {format_value(ci[1])}]" if ci else ""


LIKELIHOOD_COLUMNS = ("nll_nats", "bits_per_dim")


def likelihood_groups(rows: list[dict], members: list[int] | None = None) -> dict[str, list[int]]:
    """Rows with a likelihood, grouped by what it is (estimator and data model, the ``likelihood`` column):
    likelihood columns are ranked only inside a group."""
    groups: dict[str, list[int]] = {}
    for i in range(len(rows)) if members is None else members:
        if rows[i].get("likelihood") and rows[i].get("nll_nats") is not None:
            groups.setdefault(rows[i]["likelihood"], []).append(i)
    return groups


def mark_ties(rows: list[dict], z: float = 1.959963984540054) -> list[dict]:
    """For summary rows (with their ``_ci``), a dict per row: column -> "*" (best model) or "~" (difference to
    the best inside z * sqrt(se_best² + se²), a tie). Reference rows (``_reference``) are not ranked; likelihood
    columns are ranked within rows of the same estimator (:func:`likelihood_groups`)."""
    marks = [{} for _ in rows]
    models = [i for i, r in enumerate(rows) if not r.get("_reference")]
    if len(models) < 2:
        return marks
    groups = [(col, models) for col in LOWER_BETTER + HIGHER_BETTER if col not in LIKELIHOOD_COLUMNS]
    for members in likelihood_groups(rows, models).values():  # an exact NLL is never ranked against a bound
        groups += [(col, members) for col in LIKELIHOOD_COLUMNS]
    for col, members in groups:
        vals = [(i, rows[i].get(col)) for i in members if isinstance(rows[i].get(col), (int, float))
                and not isinstance(rows[i].get(col), bool) and math.isfinite(rows[i][col])]
        if len(vals) < 2:
            continue
        best_i, best = (min if col in LOWER_BETTER else max)(vals, key=lambda t: t[1])
        marks[best_i][col] = "*"
        se_best = (rows[best_i].get("_ci", {}).get(col) or {}).get("se")
        for i, v in vals:
            se = (rows[i].get("_ci", {}).get(col) or {}).get("se")
            if i != best_i and se is not None and se_best is not None and abs(v - best) <= z * math.hypot(se, se_best):
                marks[i][col] = "~"
    return marks


def format_table(rows: list[dict]) -> str:
    """Terminal output of summary rows. One row (``genlab evaluate``): one line per metric with its value,
    interval and legend. Several (``genlab compare``): a table with best / tie marks, then the legend."""
    if not rows:
        return ""
    if len(rows) == 1:
        return format_metric_lines(rows[0])
    from .report import MARKS, legend_lines

    cols = [c for c in rows[0] if not c.startswith("_")]
    marks = mark_ties(rows)
    cells = [[format_value(r.get(c)) + marks[i].get(c, "") for c in cols] for i, r in enumerate(rows)]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    out = [line(cols), line(["-" * w for w in widths])] + [line(c) for c in cells]
    cis = [(r.get("model"), r.get("_ci") or {}) for r in rows]
    out.append("95% intervals:")
    for name, ci in cis:
        if ci:
            out.append(f"  {name}: " + ", ".join(f"{c} {_ci_text(v['ci'])}" for c, v in ci.items() if v.get("ci")))
    for r in rows:
        for key in ("_warning", "_skipped"):
            if r.get(key):
                out.append(f"note ({r.get('model')}): {r[key]}")
    out += likelihood_notes(rows)
    out.append(MARKS)
    out.append("columns:")
    out += legend_lines(cols)
    return "\n".join(out)


def likelihood_notes(rows: list[dict]) -> list[str]:
    """When models report different kinds of likelihood (exact, a bound, an estimate), say that each kind is
    ranked on its own, and which rows are in which kind."""
    groups = likelihood_groups(rows, [i for i, r in enumerate(rows) if not r.get("_reference")])
    if len(groups) < 2:
        return []
    return ["likelihood columns (nll_nats, bits_per_dim) are ranked within each kind of likelihood, never an exact "
            "value against a bound or an estimate:"] + [
        f"  {kind}: {', '.join(str(rows[i].get('model')) for i in members)}" for kind, members in groups.items()]


def format_metric_lines(row: dict) -> str:
    """One line per metric: name, value, 95% interval, then what it measures, direction and scale."""
    from .report import LEGEND

    ci = row.get("_ci") or {}
    base = row.get("_baseline") or {}
    lines = [f"{row.get('model')}: n = {row.get('n')} samples; 95% intervals in brackets"
             + (f"; 'real' = held-out real images at n = {base.get('n')} (what a perfect model scores)" if base else "")]
    for c, v in row.items():
        if c.startswith("_") or c in ("model", "n") or (v is None and c not in ("nll_nats",)):
            continue
        if c == "nll_nats" and v is None:
            if row.get("likelihood") and row.get("_likelihood_reason"):
                lines.append(f"  {'likelihood':<17} not shown: {row['_likelihood_reason']}")
            continue
        what, direction, scale, _ = LEGEND.get(c, ("", "", "", ""))
        val = format_value(v)
        if c == "birthday_support" and isinstance(v, float) and math.isinf(v):
            val = "inf (no near-duplicate pair among the samples)"
        desc = "; ".join(b for b in (direction, what) if b)
        real = f"real {format_value(base[c])}" if base.get(c) is not None and c not in ("likelihood",) else ""
        lines.append(f"  {c:<17} {val:>9} {_ci_text((ci.get(c) or {}).get('ci')):<22} {real:<14} {desc}")
    if row.get("_baseline_note"):
        lines.append(f"  note: {row['_baseline_note']}")
    return "\n".join(lines)


def format_value(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "YES" if v else "no"
    if isinstance(v, float):
        if math.isinf(v):
            return "inf"
        return f"{v:.3g}" if abs(v) >= 1000 or abs(v) < 0.01 and v != 0 else f"{v:.3f}"
    return str(v)


def terminal_summary(result: dict) -> str:
    """The headline row of one evaluated image run, as ``genlab compare`` prints its rows."""
    return format_table([summary(result)])

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
from . import register_evaluator
from .inception import make_extractor
from .images import evaluate_samples
from .likelihood_runs import test_nll

CLASS_GRID_WIDTH = 10  # samples per class in the report's per-class grid


@torch.no_grad()
def draw_samples(model, n: int, seed: int = 0, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` samples in batches (labels spread evenly over classes for conditional models), checked for NaN."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    labels = torch.arange(n, device=model.device) % model.info.num_classes if model.conditional else None
    chunks = [model.sample(min(batch, n - i), labels=None if labels is None else labels[i:i + batch], generator=gen).cpu()
              for i in range(0, n, batch)]
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
                        f"(or pass --set data.image_size / data.channels to match)")
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


def evaluate_image_run(model, run_dir, data_cfg, *, n: int = 10_000, nll_samples: int | None = None,
                       nll_limit: int | None = None, seed: int = 0, extractor=None, train_feats=None, splits=None,
                       features: str = "genlab", weights=None) -> dict:
    train_ds, test_ds = splits or load_splits(model, data_cfg)
    net = extractor or make_extractor(features, weights, train_ds, test_ds)
    fake, labels = draw_samples(model, n, seed)
    if len(fake) <= net.config["feat_dim"]:
        raise ConfigError(f"FID needs more samples than feature dimensions ({net.config['feat_dim']}); use -n "
                          f"{net.config['feat_dim'] * 4} or more")
    result = {"model": model.name, "data": data_cfg.name, "n_samples": n, "seed": seed,
              **evaluate_samples(fake, train_ds, test_ds, net, n=n, fake_labels=labels, train_feats=train_feats)}
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


register_evaluator("image")(evaluate_image_run)


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
    """One row per run plus the two reference rows, all on the same data, extractor and sample counts."""
    shapes = {tuple(m.info.shape) for m in models}
    if len(shapes) > 1:
        raise ConfigError(f"runs to compare must make images of one size; got {', '.join(map(_shape, shapes))}")
    train_ds, test_ds = load_splits(models[0], data_cfg)
    net = make_extractor(features, weights, train_ds, test_ds)
    train_feats = net.embed(train_ds.tensors["x"])[0]
    rows = []
    for model, run_dir in zip(models, run_dirs):
        log(f"evaluating {run_dir} ({model.name}) on {n} samples")
        r = evaluate_image_run(model, run_dir, data_cfg, n=n, seed=seed, nll_samples=nll_samples, nll_limit=nll_limit,
                               extractor=net, train_feats=train_feats, splits=(train_ds, test_ds))
        rows.append({"run": str(run_dir), **r})
    real = rows[0]["baseline"] if rows else None
    copies = train_ds.tensors["x"][torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(seed))[:n]]
    copy_row = evaluate_samples(copies.float() / 255, train_ds, test_ds, net, n=n, train_feats=train_feats, baseline=real is None)
    if real is None:
        real = copy_row.pop("baseline")
    rows.append({"run": "reference", "model": "real data (train vs test)", **real})
    rows.append({"run": "reference", "model": "nn-copy of training data", **copy_row})
    return rows


def summary(row: dict) -> dict:
    """The leaderboard columns of one result row."""
    g = lambda *keys: _dig(row, keys)  # noqa: E731
    lik = row.get("likelihood") or {}
    return {
        "model": row.get("model"), "fid": g("fid", "value"), "kid_x1e3": _scale(g("kid", "mean"), 1e3),
        "is": g("inception_score", "mean"), "precision": g("prdc", "precision"), "recall": g("prdc", "recall"),
        "density": g("prdc", "density"), "coverage": g("prdc", "coverage"), "classes": g("class_modes", "covered"),
        "copy_frac": g("memorisation", "copy_fraction"), "copies_flagged": g("memorisation", "flagged"),
        "birthday_support": g("birthday", "fake", "support"), "nll_nats": lik.get("nats"),
        "bits_per_dim": lik.get("bits_per_dim"), "n": g("n_fake"),
    }


def _dig(d, keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _scale(v, s):
    return None if v is None else v * s


def format_table(rows: list[dict]) -> str:
    cols = list(rows[0]) if rows else []
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(c) for c in cells])


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "YES" if v else "no"
    if isinstance(v, float):
        if math.isinf(v):
            return "inf"
        return f"{v:.3g}" if abs(v) >= 1000 or abs(v) < 0.01 and v != 0 else f"{v:.3f}"
    return str(v)

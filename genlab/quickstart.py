"""``genlab quickstart``: three model families on scikit-learn's digits (no download), compared."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from .config import DataConfig
from .data import load_data
from .training import checkpoint as ck
from .training import load, train

# (model, model config, training overrides): a classical baseline, a VAE and a GAN
PLAN = [
    ("gmm", {"n_components": 20}, {}),
    ("vae", {"latent_dim": 16}, {"epochs": 60, "lr": 2e-3}),
    ("dcgan", {}, {"epochs": 60}),
]


def run(out: str | Path = "runs/quickstart", data: str = "digits", seed: int = 0, progress: bool = True,
        scale: float = 1.0, echo=print) -> list[dict]:
    """Train the three models into ``out/<model>`` and return one comparison row per model.

    ``scale`` multiplies the number of epochs (tests use a small value).
    """
    out = Path(out)
    runs = []
    for name, model_cfg, overrides in PLAN:
        overrides = dict(overrides)
        if "epochs" in overrides:
            overrides["epochs"] = max(1, round(overrides["epochs"] * scale))
        echo(f"[{len(runs) + 1}/{len(PLAN)}] training {name} on {data}")
        train(name, data, out / name, model_config=model_cfg, seed=seed, progress=progress, overwrite=True,
              **overrides)
        runs.append(out / name)
    rows = compare(runs, DataConfig(name=data))
    echo(format_table(rows))
    echo(f"runs, checkpoints and sample grids (samples.png) are in {out}/")
    return rows


def compare(runs: list[Path], data_cfg: DataConfig) -> list[dict]:
    """Training time and held-out log-likelihood of each run (models without one get '-')."""
    test = load_data(data_cfg, "image", "test").all()
    rows = []
    for run_dir in runs:
        model = load(run_dir)
        state = ck.read_state(run_dir)
        row = {"run": str(run_dir), "model": model.name, "family": model.family, "steps": state.get("step"),
               "train_time_s": state.get("train_time_s")}
        if model.has("log_likelihood"):
            torch.manual_seed(0)
            nll = float(-model.log_likelihood(test).mean())
            dims = math.prod(model.info.shape)
            row.update(test_nll_nats=nll, bits_per_dim=nll / (dims * math.log(2)), estimator=model.likelihood_estimator)
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    cols = [("model", "model"), ("family", "family"), ("train_time_s", "train s"), ("test_nll_nats", "test NLL (nats)"),
            ("bits_per_dim", "bits/dim"), ("estimator", "estimator")]
    cells = [[_fmt(r.get(k)) for k, _ in cols] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line([h for _, h in cols]), line(["-" * w for w in widths])] + [line(c) for c in cells])


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)

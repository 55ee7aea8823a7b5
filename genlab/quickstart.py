"""``genlab quickstart``: three model families on scikit-learn's digits (no download), compared."""
from __future__ import annotations

from pathlib import Path

from .training import train

# (model, model config, training overrides): a classical baseline, a VAE and a GAN
PLAN = [
    ("gmm", {"n_components": 20}, {}),
    # the discretised-logistic decoder gives a bound on the same 8-bit likelihood as the GMM's column
    # (a Bernoulli ELBO on grey digits is a different quantity), and better samples; codes for sampling come from
    # a 20-component mixture fitted on the training codes after training (model.latent_sampler=gmm), not from
    # N(0, I): FID 55 against 320 on 2026-12-02 (trials in docs/core-models.md, "Quickstart")
    ("vae", {"latent_dim": 16, "decoder": "logistic", "latent_sampler": "gmm", "latent_components": 20},
     {"epochs": 25, "lr": 2e-3}),
    # hinge loss, no batch norm in D, Adam 2e-3 with betas (0, 0.9) and an EMA of the weights (decay 0.99: it
    # averages over the last ~100 steps); at 8×8 the DCGAN is one stride-2 stage deep, so one extra 3×3 conv block
    # at 4×4 in G and in D (model.blocks=1) and batch 64 for 36 epochs (~830 steps) took FID from 189 to 81 at
    # ~1.5× the DCGAN's training CPU (trials in docs/core-models.md, "Quickstart")
    ("dcgan", {"loss": "hinge", "norm_d": "none", "blocks": 1},
     {"epochs": 36, "batch_size": 64, "lr": 2e-3, "betas": [0.0, 0.9], "ema_decay": 0.99}),
]


def run(out: str | Path = "runs/quickstart", data: str = "digits", seed: int = 0, progress: bool = True,
        scale: float = 1.0, n_eval: int = 2000, echo=print) -> list[dict]:
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
    from .eval.compare import compare_runs, write_comparison

    echo(f"comparing the three runs on {data}'s test images (same samples, feature extractor and metrics)")
    rows = compare_runs(runs, data=data, n=n_eval, seed=seed, echo=echo)
    write_comparison(rows, out / "comparison.html")
    echo(f"runs, checkpoints, sample grids (samples.png) and comparison.html are in {out}/")
    return rows


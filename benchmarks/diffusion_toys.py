"""2-D toys (ring8, grid25): does diffusion (``ddpm-mlp``) or a coupling flow (``flow-mlp``) drop modes?

    python benchmarks/diffusion_toys.py [--budget 90] [--n 2500]

Each model is trained for ``--budget`` process-CPU seconds on one thread (``ar_budget``), then draws
``--n`` samples (seed 0). The mode metrics of ``genlab.eval.modes.mode_metrics`` (the protocol of the GAN
comparison in docs/gans.md: a sample is high quality within 3 std of a mode centre; a mode is covered with
at least 20% of its expected share of high-quality samples) and a scatter plot per run
(``docs/img/toys_<model>_<data>.png``). Results go to ``benchmarks/results/diffusion_toys.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import torch

import genlab
from genlab.eval.modes import mode_metrics
from genlab.plots2d import scatter_2d

from ar_budget import cpu_and_wall, train_for_cpu_budget

ROOT = Path(__file__).resolve().parents[1]
TRAIN = {"batch_size": 256, "lr": 1e-3, "val_batches": 2, "grid_size": 500, "seed": 0, "device": "cpu",
         "log_every": 500, "checkpoint_every": 5000}
RUNS = {  # name: (model, model config, train config extras, sampling options)
    "ddpm-mlp (DDIM 50)": ("ddpm-mlp", {"hidden": 256, "depth": 3, "timesteps": 1000}, {"ema_decay": 0.995},
                           {"sampler": "ddim", "steps": 50}),
    "ddpm-mlp (DDPM 1000)": ("ddpm-mlp", {"hidden": 256, "depth": 3, "timesteps": 1000}, {"ema_decay": 0.995},
                             {"sampler": "ddpm", "steps": 1000}),
    "flow-mlp": ("flow-mlp", {"num_layers": 8, "hidden": 128, "depth": 2}, {"grad_clip": 10.0}, {}),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=90, help="training budget per model in process-CPU seconds")
    p.add_argument("--n", type=int, default=2500)
    p.add_argument("--data", default="ring8,grid25")
    p.add_argument("--runs", default="/tmp/genlab-bench")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    result = {"date": datetime.date.today().isoformat(), "budget_cpu_s": args.budget, "n": args.n, "train": TRAIN,
              "machine": f"{platform.machine()} CPU, 1 thread, no GPU, shared with other jobs", "runs": {}}
    for data in args.data.split(","):
        trained = {}
        for label, (model, mcfg, textra, options) in RUNS.items():
            run = Path(args.runs) / f"{model}-{data}"
            if model not in trained:
                print(f"training {model} on {data} ...", flush=True)
                trained[model] = train_for_cpu_budget(model, data, run, args.budget, mcfg, {**TRAIN, **textra})
            m = genlab.load(run)
            x, cpu, _ = cpu_and_wall(lambda: m.sample(args.n, generator=torch.Generator().manual_seed(0), **options))
            meta = m.info.meta
            metrics = mode_metrics(x, meta["modes"], meta["mode_std"])
            metrics.pop("counts")
            result["runs"][f"{label} / {data}"] = {"model": model, "data": data, "config": mcfg, "sampling": options,
                                                   "training": trained[model], "sample_cpu_s": round(cpu, 2), **metrics}
            slug = label.split(" ")[0] + ("-ddpm1000" if "1000" in label else "")
            scatter_2d(x, ROOT / "docs" / "img" / f"toys_{slug}_{data}.png", centers=meta["modes"], std=meta["mode_std"],
                       title=f"{label}, {data}: {metrics['modes']}/{metrics['num_modes']} modes, "
                             f"{100 * metrics['high_quality']:.0f}% HQ")
            print(label, data, {k: v for k, v in metrics.items() if k in ("modes", "num_modes", "high_quality", "kl_uniform")},
                  flush=True)
    out = ROOT / "benchmarks" / "results" / "diffusion_toys.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

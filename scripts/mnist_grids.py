"""Train the three core models on MNIST for a fixed number of steps and save their sample grids to docs/img/.

    python scripts/mnist_grids.py [--out runs/mnist-grids] [--budget SECONDS]

Steps per model are in ``PLAN``; ``--budget`` optionally caps each run's wall-clock training time. The
settings, steps reached and wall/CPU seconds are printed and written to ``docs/img/core_mnist.json``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

import genlab
from genlab.training import checkpoint as ck

ROOT = Path(__file__).resolve().parents[1]
PLAN = {
    "gmm": ({"n_components": 10, "max_iter": 15, "max_fit_examples": 6000}, {}),
    "vae": ({"latent_dim": 16}, {"lr": 1e-3, "max_steps": 1500}),
    "dcgan": ({}, {"max_steps": 1200}),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=float, default=None)
    p.add_argument("--out", default="runs/mnist-grids")
    p.add_argument("--root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    record = {"date": time.strftime("%Y-%m-%d"), "threads": args.threads, "budget_s": args.budget, "runs": {}}
    for name, (mcfg, tcfg) in PLAN.items():
        run = Path(args.out) / name
        genlab.train(name, {"name": "mnist", "root": args.root}, run, model_config=mcfg, overwrite=True,
                     max_time=args.budget, progress=False, **tcfg)
        model = genlab.load(run)
        x = model.sample(64, generator=torch.Generator().manual_seed(0))
        genlab.outputs.save_image_grid(x, img / f"core_{name}_mnist.png")
        state = ck.read_state(run)
        record["runs"][name] = {"model_config": mcfg, "train": tcfg, "steps": state["step"],
                                "train_time_s": state["train_time_s"], "cpu_time_s": state.get("cpu_time_s")}
        print(name, record["runs"][name], flush=True)
    (img / "core_mnist.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

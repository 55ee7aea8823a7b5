"""RealNVP on MNIST: exact test bits/dim (dequantised) after a CPU-time budget, sampling speed, samples.

    python benchmarks/flows_mnist.py [--dataset mnist] [--budget 480]

Trains ``realnvp`` (settings in ``MODEL`` / ``TRAIN``) for ``--budget`` process-CPU seconds on one
thread (``ar_budget.train_for_cpu_budget``), then reports the negative log-likelihood of all 10,000 test
images in bits/dim (uniform dequantisation noise drawn once with seed 0; 8-bit scale), the time to draw
``--n`` samples, and writes sample grids at temperatures 1.0 and 0.7 to ``docs/img/``. Numbers go to
``benchmarks/results/flows_<dataset>.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
from pathlib import Path

import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.outputs import save_image_grid

from ar_budget import cpu_and_wall, train_for_cpu_budget

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MODEL = {"num_scales": 2, "width": 32, "num_blocks": 2, "logit_alpha": 0.05}
TRAIN = {"batch_size": 64, "lr": 1e-3, "grad_clip": 10.0, "val_batches": 5, "grid_size": 36, "seed": 0,
         "device": "cpu", "log_every": 100}


@torch.no_grad()
def test_bits_per_dim(model, x: torch.Tensor, batch: int = 500) -> tuple[float, float]:
    torch.manual_seed(0)
    ll = torch.cat([model.log_likelihood({"x": x[i:i + batch].float() / 255}) for i in range(0, len(x), batch)])
    bpd = -ll / (math.prod(model.info.shape) * math.log(2))
    return float(bpd.mean()), float(bpd.std() / math.sqrt(len(bpd)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--budget", type=float, default=480, help="training budget in process-CPU seconds")
    p.add_argument("--n", type=int, default=256, help="samples to time")
    p.add_argument("--root", default=str(SHARED))
    p.add_argument("--runs", default="/tmp/genlab-bench")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    name = args.dataset
    run = Path(args.runs) / f"realnvp-{name}"
    cfg = DataConfig(name=name, root=args.root, download=False)
    test = load_data(cfg, "image", "test")
    result = {"dataset": name, "date": datetime.date.today().isoformat(),
              "machine": f"{platform.machine()} CPU, 1 thread, no GPU, shared with other jobs",
              "torch": torch.__version__, "model": MODEL, "train": TRAIN, "budget_cpu_s": args.budget}
    print(f"training realnvp on {name} for {args.budget:.0f} CPU seconds ...", flush=True)
    result["training"] = train_for_cpu_budget("realnvp", cfg, run, args.budget, MODEL, TRAIN)
    print(result["training"], flush=True)
    model = genlab.load(run)
    (bpd, se), cpu, _ = cpu_and_wall(lambda: test_bits_per_dim(model, test.tensors["x"]))
    result["test"] = {"bits_per_dim": round(bpd, 3), "se": round(se, 4), "images": len(test), "cpu_s": round(cpu, 1)}
    print(result["test"], flush=True)
    gen = torch.Generator().manual_seed(0)
    x, cpu, wall = cpu_and_wall(lambda: model.sample(args.n, generator=gen))
    result["sampling"] = {"n": args.n, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                          "samples_per_cpu_s": round(args.n / cpu, 1)}
    for tau in (1.0, 0.7):
        x = model.sample(36, generator=torch.Generator().manual_seed(0), temperature=tau)
        save_image_grid(x, ROOT / "docs" / "img" / f"flows_{name}_t{int(tau * 10):02d}.png", nrow=6)
    out = ROOT / "benchmarks" / "results" / f"flows_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(result["sampling"], f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()

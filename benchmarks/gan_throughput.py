"""Training and sampling throughput (images per second) of every registered GAN variant.

    python benchmarks/gan_throughput.py [--shape 1,28,28] [--batch-size 64] [--steps 30] [--threads 1]

Each variant is built with its default config for images of ``--shape`` (synthetic data: throughput does
not depend on pixel values) and trained for ``--steps`` steps after 3 warm-up steps, through the real
trainer's update function. "train img/s" counts real images per second of training (one training step
is one discriminator update on one batch, plus a generator update every ``d_steps`` steps); "sample
img/s" is generator-only sampling in batches of 500. Times are process CPU time and wall time. Writes
``benchmarks/results/gan_throughput.json`` and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from genlab.config import TrainConfig
from genlab.data.base import DataInfo, TensorDataset
from genlab.registry import list_models
from genlab.training.trainer import Trainer

RESULTS = Path(__file__).resolve().parent / "results"


def measure(name: str, cls, shape: tuple[int, ...], batch_size: int, steps: int) -> dict:
    info = DataInfo("image", shape, name="synthetic", num_classes=10, class_names=[str(i) for i in range(10)])
    n = batch_size * (steps + 3)
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset({"x": torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g),
                        "y": torch.randint(0, 10, (n,), generator=g)}, info,
                       transform=lambda b: {**b, "x": b["x"].float() / 255})
    torch.manual_seed(0)
    model = cls(cls.Config(), info)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, ds, None, TrainConfig(batch_size=batch_size, progress=False), Path(tmp), torch.device("cpu"))
        model._optimize_hook = trainer._optimize
        model.train()
        batches = list(ds.batches(batch_size, shuffle=False))
        for i, b in enumerate(batches[:3]):
            model.training_step(b, i)
        t0, c0 = time.perf_counter(), time.process_time()
        for i, b in enumerate(batches[3:3 + steps]):
            model.training_step(b, i)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    model.eval()
    gen = torch.Generator().manual_seed(0)
    model.sample(100, generator=gen)
    s0, sc0 = time.perf_counter(), time.process_time()
    for _ in range(4):
        model.sample(500, generator=gen)
    swall, scpu = time.perf_counter() - s0, time.process_time() - sc0
    params = {"generator": sum(p.numel() for p in model.generator.parameters()),
              "discriminator": sum(p.numel() for p in model.d_parameters())}
    return {"model": name, "train_img_per_s_cpu": batch_size * steps / cpu, "train_img_per_s_wall": batch_size * steps / wall,
            "sample_img_per_s_cpu": 2000 / scpu, "sample_img_per_s_wall": 2000 / swall,
            "d_steps": model.config.d_steps, "params_g": params["generator"], "params_d": params["discriminator"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", default="1,28,28", help="C,H,W of the synthetic images")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", default="", help="comma-separated subset (default: every GAN)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    shape = tuple(int(v) for v in args.shape.split(","))
    wanted = [m for m in args.models.split(",") if m]
    rows = [measure(name, cls, shape, args.batch_size, args.steps) for name, cls in list_models().items()
            if cls.family == "gan" and (not wanted or name in wanted)]
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} CPU, {args.threads} thread(s); "
            "2-core machine shared with other jobs (wall times inflated, CPU times fairer)",
            "torch": torch.__version__, "shape": list(shape), "batch_size": args.batch_size, "steps": args.steps,
            "command": "python benchmarks/gan_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gan_throughput.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"| model | d_steps | train img/s (CPU) | train img/s (wall) | sample img/s (CPU) | G params | D params |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['d_steps']} | {r['train_img_per_s_cpu']:.0f} | {r['train_img_per_s_wall']:.0f} | "
              f"{r['sample_img_per_s_cpu']:.0f} | {r['params_g']:,} | {r['params_d']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training throughput (images/second) per model on MNIST, batch 128, and the share spent loading data.

    python benchmarks/throughput.py [--steps 30] [--models vae,dcgan,gmm] [--threads 2]

Data time is the time spent drawing and transforming batches (``TensorDataset.batches``); step time is the
model's ``training_step`` including backward and optimiser updates.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from genlab.config import DataConfig, TrainConfig
from genlab.data import load_data
from genlab.training import build_model
from genlab.training.trainer import Trainer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def bench(name: str, ds, steps: int, batch: int) -> dict:
    model = build_model(name, {}, ds.info)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, ds, None, TrainConfig(batch_size=batch, progress=False), Path(tmp), torch.device("cpu"))
        if not model.iterative:
            t0 = time.perf_counter()
            model.fit(ds)
            dt = time.perf_counter() - t0
            return {"model": name, "images_per_s": len(ds) / dt, "data_share": 0.0, "note": f"one fit on {len(ds)} images"}
        model._optimize_hook = trainer._optimize
        model.train()
        it = iter(ds.batches(batch, generator=torch.Generator().manual_seed(0)))
        t_data = t_step = 0.0
        for i in range(steps + 3):
            t0 = time.perf_counter()
            b = next(it)
            t1 = time.perf_counter()
            model.training_step(b, i)
            t2 = time.perf_counter()
            if i >= 3:  # warm-up steps are not counted
                t_data += t1 - t0
                t_step += t2 - t1
    return {"model": name, "images_per_s": steps * batch / (t_data + t_step), "data_share": t_data / (t_data + t_step),
            "note": f"{steps} steps"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--models", default="gmm,vae,dcgan")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--root", default=str(SHARED))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_data(DataConfig(name="mnist", root=args.root), "image", "train")
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.machine()} {platform.processor() or ''}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, MNIST 60k, batch {args.batch}")
    print("| model | images/s | data loading share | note |\n|---|---|---|---|")
    for name in args.models.split(","):
        r = bench(name, ds, args.steps, args.batch)
        print(f"| {r['model']} | {r['images_per_s']:.0f} | {100 * r['data_share']:.2f}% | {r['note']} |", flush=True)


if __name__ == "__main__":
    main()

"""Training throughput (images per CPU second) per model on MNIST, batch 128, and the share spent loading data.

    python benchmarks/throughput.py [--steps 30] [--models vae,dcgan,gmm] [--threads 1] [--precision auto]

Threads are pinned (``--threads``, default 1, set before anything runs) and recorded; times are process CPU
seconds (``time.process_time``), so a busy machine slows the wall clock but not the figures much, and an
oversubscribed one (more torch threads than free cores) cannot inflate them. Data time is the CPU time spent
drawing and transforming batches (``TensorDataset.batches``); step time is the trainer's whole step (the model's
``training_step`` under ``train.precision``, backward and optimiser updates). Writes
``benchmarks/results/throughput.json``. For genlab against plain PyTorch loops see ``benchmarks/peer.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def bench(name: str, ds, steps: int, batch: int, precision: str) -> dict:
    import torch

    from genlab.config import TrainConfig
    from genlab.training import build_model
    from genlab.training.hardware import MixedPrecision
    from genlab.training.trainer import Trainer

    model = build_model(name, {}, ds.info)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(batch_size=batch, progress=False, precision=precision)
        trainer = Trainer(model, ds, None, cfg, Path(tmp), torch.device("cpu"))
        if not model.iterative:
            c0 = time.process_time()
            model.fit(ds)
            dt = time.process_time() - c0
            return {"model": name, "images_per_cpu_s": round(len(ds) / dt), "data_share": 0.0,
                    "note": f"one fit on {len(ds)} images"}
        model._optimize_hook = trainer._optimize
        mixed = MixedPrecision(model, trainer.device) if trainer.precision == "bf16" else None
        model.train()
        it = iter(ds.batches(batch, generator=torch.Generator().manual_seed(0)))
        t_data, t_step = 0.0, []
        for i in range(steps + 3):
            c0 = time.process_time()
            b = next(it)
            c1 = time.process_time()
            if mixed is not None:
                with mixed:
                    model.training_step(b, i)
            else:
                model.training_step(b, i)
            c2 = time.process_time()
            if i >= 3:  # warm-up steps are not counted
                t_data += c1 - c0
                t_step.append(c2 - c1)
        total = t_data + sum(t_step)
        return {"model": name, "precision": trainer.precision, "images_per_cpu_s": round(steps * batch / total),
                "median_step_cpu_s": round(statistics.median(t_step), 4), "data_share": round(t_data / total, 4),
                "note": f"{steps} steps"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--models", default="gmm,vae,dcgan")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precision", default="auto", help="auto | fp32 | bf16 (train.precision)")
    p.add_argument("--root", default=str(SHARED))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "throughput.json"))
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch starts its thread pool
    sys.path.insert(0, str(ROOT))
    import torch

    from genlab.config import DataConfig
    from genlab.data import load_data

    torch.set_num_threads(args.threads)
    ds = load_data(DataConfig(name="mnist", root=args.root), "image", "train")
    head = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {platform.processor()}".strip(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch,
            "timing": "process CPU seconds", "results": []}
    print(f"# {head['date']}, {head['machine']}, {head['threads']} threads, torch {head['torch']}, MNIST 60k, "
          f"batch {args.batch}, process CPU seconds")
    print("| model | precision | images / CPU s | data loading share | note |\n|---|---|---|---|---|")
    for name in args.models.split(","):
        r = bench(name, ds, args.steps, args.batch, args.precision)
        head["results"].append(r)
        print(f"| {r['model']} | {r.get('precision', '-')} | {r['images_per_cpu_s']} | {100 * r['data_share']:.2f}% | "
              f"{r['note']} |", flush=True)
    Path(args.out).write_text(json.dumps(head, indent=1))


if __name__ == "__main__":
    main()

"""Autoregressive image models on binarised MNIST for a fixed CPU-time budget each.

    python benchmarks/ar_mnist.py [--budget 300] [--threads 1] [--models made,pixelcnn,gated-pixelcnn,pixel-lstm]

For each model: train on dynamically binarised MNIST for ``--budget`` process-CPU seconds (see
``ar_budget.py``); report the exact test NLL in nats over all 10,000 test images (one fixed Bernoulli draw,
seed 0, the same for every model); time 16 samples (samples/second); write a sample grid and completions
of 6 test images with the last 50% and 75% of pixels (raster order) covered to ``docs/images/``.
``pixelcnn-grey`` instead trains a 256-way softmax PixelCNN on the grey levels (no binarisation) and is
scored on the real 8-bit test images (bits/dim). Results go to ``benchmarks/results/ar_mnist.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.masks import completion_grid, parse_mask
from genlab.outputs import save_image_grid

from ar_budget import cpu_and_wall, train_for_cpu_budget

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TRAIN = {"lr": 1e-3, "batch_size": 64}
# benchmark name -> (registered model, model config, train config)
MODELS = {
    "made": ("made", {"hidden": [500]}, TRAIN),
    "made-2000": ("made", {"hidden": [2000]}, TRAIN),  # 4x wider: is the 500-unit MADE capacity-limited?
    "made-oa": ("made", {"hidden": [500], "num_masks": 32, "eval_masks": 8}, TRAIN),
    "pixelcnn": ("pixelcnn", {"width": 32, "layers": 5, "head": 64}, {**TRAIN, "batch_size": 32}),
    "gated-pixelcnn": ("gated-pixelcnn", {"width": 32, "layers": 5, "kernel": 5, "head": 64, "conditional": True}, {**TRAIN, "batch_size": 32}),
    "pixel-lstm": ("pixel-lstm", {"mode": "row", "hidden": 256, "row_hidden": 256}, TRAIN),
    # 256 grey levels (no binarisation): likelihood in bits/dim
    "pixelcnn-grey": ("pixelcnn", {"width": 32, "layers": 5, "head": 64, "output": "softmax"}, {**TRAIN, "batch_size": 32}),
}


@torch.no_grad()
def test_nll(model, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    model.eval()
    total = sum(float(model.nll(x[i:i + batch], y[i:i + batch] if model.conditional else None).sum())
                for i in range(0, len(x), batch))
    return total / len(x)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=300, help="CPU seconds of training per model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", default="made,pixelcnn,gated-pixelcnn,pixel-lstm")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--runs", default="/tmp/genlab-bench/mnist")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "ar_mnist.json"))
    p.add_argument("--images", default=str(ROOT / "docs" / "images"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    binary = DataConfig(name="mnist", root=str(SHARED), download=False, binarize="dynamic")
    grey = DataConfig(name="mnist", root=str(SHARED), download=False)
    test = load_data(grey, "image", "test").all()
    x_grey, y = test["x"][: args.test_limit], test["y"][: args.test_limit]
    x_binary = torch.bernoulli(x_grey, generator=torch.Generator().manual_seed(0))
    results = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    results["setup"] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {torch.get_num_threads()} "
                        "thread(s), 2-core CPU shared with other jobs, no GPU", "torch": torch.__version__,
                        "budget_cpu_s": args.budget, "test_images": len(x_grey)}
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    for name in args.models.split(","):
        model_name, mcfg, tcfg = MODELS[name]
        tcfg = {**tcfg, "val_batches": 2, "grid_size": 1, "checkpoint_every": 10_000, "seed": 0}
        is_grey = mcfg.get("output") == "softmax"
        data, x = (grey, x_grey) if is_grey else (binary, x_binary)
        run = Path(args.runs) / name
        train = train_for_cpu_budget(model_name, data, run, args.budget, mcfg, tcfg)
        model = genlab.load(run)
        nll, nll_cpu, _ = cpu_and_wall(lambda: test_nll(model, x, y))
        gen = torch.Generator().manual_seed(0)
        labels = torch.arange(16) % 10 if model.conditional else None
        samples, cpu, wall = cpu_and_wall(lambda: model.sample(16, labels=labels, generator=gen))
        save_image_grid(samples, images / f"ar_{name}_samples.png", nrow=8)
        done = {}
        for pct in ("50%", "75%"):
            mask = parse_mask(pct, (28, 28))
            out, c_cpu, _ = cpu_and_wall(lambda: model.complete(x[:6], mask, 4, generator=gen, labels=y[:6] if model.conditional else None))
            grid, per_row = completion_grid(x[:6], mask, out)
            save_image_grid(grid, images / f"ar_{name}_complete{pct[:-1]}.png", nrow=per_row)
            done[pct] = round(c_cpu, 1)
        rec = {"model": model_name, "data": "mnist, 256 grey levels" if is_grey else "mnist, binarised", "model_config": mcfg, "train_config": tcfg, "parameters": sum(p.numel() for p in model.parameters()),
               **train, "test_nll_nats": round(nll, 2), "test_bits_per_dim": round(nll / 784 / 0.6931471805599453, 4),
               "eval_cpu_s": round(nll_cpu, 1), "samples_per_cpu_s": round(16 / cpu, 2),
               "samples_per_wall_s": round(16 / wall, 2), "completion_cpu_s_24": done}
        results[name] = rec
        print(name, json.dumps(rec), flush=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Image-to-image models on MNIST / Fashion-MNIST at a fixed CPU budget, beside non-learned baselines.

    python benchmarks/img2img.py [--part all|a|b] [--scale-budget 1.0] [--n 2000] [--root ../shared/data]
    python benchmarks/img2img.py --merge            # combine the parts' files into the results file

Each model trains (seed 0, one thread) until it has used its budget of process CPU seconds
(``train.max_cpu_time``; see ``RUNS``), then is scored by ``genlab.eval.img2img.evaluate_outputs`` on the
first ``--n`` test images in the feature space of the shipped MNIST / Fashion-MNIST classifier: PSNR, SSIM,
L1, LPIPS-like feature distance, FID of outputs vs targets, classifier accuracy (completion / SR: the true
label; CycleGAN: the target domain's classes) and cycle error, beside the baselines (mean / nearest fill,
bicubic, mean target image, identity). Speed: x4 upscaling of a 256x256 image and completion of a batch of
64 28x28 images (wall and CPU seconds, median of 5, one thread and two). Triplet pictures go to
``docs/img/img2img_<run>.png``. Part ``a`` and ``b`` can run at the same time (two processes) and are
merged with ``--merge`` into ``benchmarks/results/img2img.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.eval.features import get_feature_extractor
from genlab.eval.img2img import evaluate_outputs
from genlab.outputs import save_image_grid

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "img2img.json"
IMG = ROOT / "docs" / "img"
TRAIN = {"batch_size": 64, "epochs": 1000, "seed": 0, "device": "cpu", "progress": False, "log_every": 100,
         "sample_every": 10**9, "checkpoint_every": 10**9, "val_batches": 2}
# label: (model, data, modality, model config, train overrides, CPU-s budget, part)
RUNS = {
    "inpaint-gan": ("inpaint-gan", "mnist", "paired", {"mask": "mixed", "rec_steps": 300}, {}, 180, "a"),
    "pix2pix-edges": ("pix2pix", "fashion-mnist", "paired", {"source": "edges"}, {}, 150, "a"),
    "cyclegan-sneaker-boot": ("cyclegan", "fashion-mnist:7:9", "unpaired",
                              {"width": 16, "width_d": 16, "blocks": 3}, {"batch_size": 32}, 200, "a"),
    "srgan-x4": ("srgan", "mnist", "paired", {"scale": 4, "mse_steps": 500}, {}, 150, "b"),
    "srresnet-x4": ("srgan", "mnist", "paired", {"scale": 4, "adv_weight": 0.0, "feature_weight": 0.0}, {}, 150, "b"),
    "srgan-x2": ("srgan", "mnist", "paired", {"scale": 2, "mse_steps": 400}, {}, 100, "b"),
    # completion by the generic image models on the same seeded masks (part c): the DDPM of docs/diffusion.md
    # (cosine schedule, v-prediction; DDIM 50 steps with replacement) and the PixelCNN (raster-order resampling)
    "ddpm-complete": ("ddpm", "mnist", "image",
                      {"width": 16, "channel_mult": [1, 2, 2], "attn_max_size": 7, "schedule": "cosine",
                       "prediction": "v", "sample_batch_size": 256},
                      {"lr": 2e-3, "warmup_steps": 200, "lr_schedule": "linear", "ema_decay": 0.998, "grad_clip": 1.0},
                      600, "c"),
    "pixelcnn-complete": ("pixelcnn", "mnist", "image", {"output": "softmax"}, {}, 300, "c"),
    "inpaint-gan-200": ("inpaint-gan", "mnist", "paired", {"mask": "mixed", "rec_steps": 300}, {}, 180, "c"),
}
N_EVAL = {"ddpm-complete": 200, "pixelcnn-complete": 200, "inpaint-gan-200": 200}  # fewer test images (the same 200 and masks for both): their completion is slow on a CPU


def _timed(fn, repeats: int = 5) -> dict:
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return {"wall_s": round(statistics.median(walls), 4), "cpu_s": round(statistics.median(cpus), 4)}


def speed(model, kind: str) -> dict:
    out = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        if kind == "upscale":
            x = torch.rand(1, 1, 256, 256, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                out[f"{threads}_thread"] = _timed(lambda: model.upscale(x))
        else:
            x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
            from genlab.masks import parse_mask

            mask = parse_mask("centre", (28, 28))
            out[f"{threads}_thread"] = _timed(lambda: model.complete(x, mask, 1))
    torch.set_num_threads(1)
    return out


def cpu_kind() -> str:
    """What the CPU offers for bf16 (AMX / AVX-512 BF16) or just AVX2, read from /proc/cpuinfo."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags", 2)[1].splitlines()[0].split())
    except (OSError, IndexError):
        return "unknown"
    return "AMX/AVX-512 BF16" if "amx_bf16" in flags else "AVX-512 BF16" if "avx512_bf16" in flags else "AVX2, no bf16"


def run_one(label: str, args, store: dict) -> None:
    name, data, modality, mcfg, tover, budget, _ = RUNS[label]
    budget = budget * args.scale_budget
    out = Path(args.runs) / label
    dcfg = {"name": data, "root": args.root, "download": False}
    c0 = time.process_time()
    model = genlab.train(name, dcfg, out, model_config=mcfg, overwrite=True,
                         **{**TRAIN, **tover, "max_cpu_time": budget})
    state = json.loads((out / "state.json").read_text())
    test_ds = load_data(DataConfig(**dcfg), modality, "test")
    base = "mnist" if "fashion" not in data else "fashion-mnist"
    net = get_feature_extractor(base)
    t = time.process_time()
    n = min(args.n, N_EVAL.get(label, args.n))
    rows, panels = evaluate_outputs(model.eval(), test_ds, n=n, seed=0, net=net)
    eval_cpu = time.process_time() - t
    entry = {"model": name, "data": data, "model_config": mcfg, "train": {**TRAIN, **tover},
             "budget_cpu_s": budget, "train_cpu_s": state["cpu_time_s"], "steps": state["step"],
             "eval_cpu_s": round(eval_cpu, 1), "n_test": min(n, len(test_ds)), "rows": rows}
    if name == "srgan" and model.scale == 4:
        entry["speed_upscale_256_x4"] = speed(model, "upscale")
    if name == "inpaint-gan":
        entry["speed_complete_64x28x28"] = speed(model, "complete")
    for i, (title, grid) in enumerate(panels.items()):
        path = Path(args.img) / f"img2img_{label}{'' if len(panels) == 1 else '_' + str(i)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image_grid(grid[:18], path, nrow=3)
        entry.setdefault("pictures", {})[title] = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    entry["total_cpu_s"] = round(time.process_time() - c0, 1)
    store["runs"][label] = entry
    print(label, json.dumps({k: v for k, v in entry.items() if k != "rows"}, default=str)[:400], flush=True)
    for r in rows:
        print("   ", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)


def markdown(store: dict) -> str:
    """The results as markdown tables (one per run), as quoted in docs/image-to-image.md."""
    out = []
    for label, e in store["runs"].items():
        out.append(f"\n{label}: {e['model']} on {e['data']}, {e['steps']} steps in {e['train_cpu_s']} CPU-s "
                   f"(budget {e['budget_cpu_s']:g}), {e['n_test']} test images\n")
        cols = [c for c in e["rows"][0] if c not in ("method", "mask")]
        key = ["mask", "method"] if "mask" in e["rows"][0] else ["method"]
        out.append("| " + " | ".join(key + cols) + " |")
        out.append("|" + "---|" * (len(key) + len(cols)))
        for r in e["rows"]:
            vals = [r[k] for k in key] + [("-" if r.get(c) is None else f"{r[c]:.3f}" if abs(r[c]) < 10 else f"{r[c]:.1f}")
                                          for c in cols]
            out.append("| " + " | ".join(map(str, vals)) + " |")
        for k, v in e.items():
            if k.startswith("speed"):
                out.append(f"\n{k}: {json.dumps(v)}")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", default="all", choices=["all", "a", "b", "c"])
    p.add_argument("--runs-only", default=None, help="comma list of run labels (default: the part's)")
    p.add_argument("--scale-budget", type=float, default=1.0, help="multiply every budget (quick checks: 0.05)")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--runs", default=str(ROOT / "runs" / "bench" / "img2img"))
    p.add_argument("--img", default=str(IMG))
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--out-part", default=None, help="name of this process's part file (default: --part)")
    p.add_argument("--merge", action="store_true", help="merge the part files into --results and stop")
    p.add_argument("--markdown", action="store_true", help="print the results file as markdown tables and stop")
    args = p.parse_args(argv)
    results = Path(args.results)
    if args.markdown:
        print(markdown(json.loads(results.read_text())))
        return 0
    if args.merge:
        store = json.loads(results.read_text()) if results.is_file() else {"meta": None, "runs": {}}
        for f in sorted(results.parent.glob(f"{results.stem}.*.json")):  # every part file (--part / --out-part)
            if f.is_file():
                d = json.loads(f.read_text())
                store["meta"] = store["meta"] or d["meta"]
                store["runs"].update(d["runs"])
                store["meta"]["total_cpu_s"] = round(sum(r["total_cpu_s"] for r in store["runs"].values()), 1)
        store["meta"].pop("budget_scale", None)  # each run records its own budget_cpu_s
        results.write_text(json.dumps(store, indent=1, default=str) + "\n")
        print(f"wrote {results}")
        return 0
    torch.set_num_threads(1)
    labels = args.runs_only.split(",") if args.runs_only else [k for k, v in RUNS.items() if args.part in ("all", v[-1])]
    store = {"meta": {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "threads": 1,
                      "machine": f"{os.cpu_count()}-core {platform.machine()} CPU ({cpu_kind()}), no GPU",
                      "n_test": args.n, "budget_scale": args.scale_budget}, "runs": {}}
    part_file = results.with_name(f"{results.stem}.{args.out_part or args.part}.json")
    for label in labels:
        run_one(label, args, store)
        part_file.write_text(json.dumps(store, indent=1, default=str) + "\n")
    print(f"wrote {part_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

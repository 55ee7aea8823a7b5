"""GAN variants on MNIST with the same CPU-time budget: FID, precision, recall, class coverage.

    python benchmarks/gan_mnist.py [--budget 180] [--models dcgan,wgan-gp,wgan-gp-2,wgan-gp-ttur,lsgan,hinge-sn,cgan,cgan-proj,acgan]
        [--n 10000] [--root ../shared/data] [--runs runs/bench/gan_mnist] [--results benchmarks/results/gan_mnist.json]

Each model trains with its default config (batch 64, seed 0, one thread) until it has used ``--budget``
process CPU seconds (``train.max_cpu_time``), then draws ``--n`` samples (seed 0; conditional models are
asked for each class equally often). ``genlab.eval.images.evaluate_samples`` scores them in the feature
space of the shipped MNIST classifier (``genlab/assets/features/mnist``) against ``--n`` test images: FID,
precision / recall (k = 5), the classes the classifier sees (covered of 10, KL to uniform) and, for
conditional models, the share of samples classified as the label asked for. Results go to
``benchmarks/results/gan_mnist.json`` (with the real-data baseline at the same sample size); 8x8 sample
grids to ``docs/img/gan_mnist_<model>.png`` and a class-per-row grid for conditional models.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.config import split_train_settings
from genlab.eval.features import get_feature_extractor
from genlab.eval.images import evaluate_samples
from genlab.outputs import save_image_grid

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gan_mnist.json"
IMG = ROOT / "docs" / "img"
MODELS = {  # label: (registered model, model config plus optimiser settings of the train section)
    "dcgan": ("dcgan", {}),
    "wgan-gp": ("wgan-gp", {}),
    "wgan-gp-2": ("wgan-gp", {"d_steps": 2, "lr": 2e-4}),  # fewer critic steps: more G updates per budget
    # two time-scale: one critic step per generator step, the critic at 4x the generator's lr (betas stay (0, 0.9))
    "wgan-gp-ttur": ("wgan-gp", {"d_steps": 1, "lr": 1e-4, "lr_mult": {"d": 4.0}}),
    # settings screened at a half budget before wgan-gp-ttur was picked (see docs/gans.md)
    "wgan-gp-1": ("wgan-gp", {"d_steps": 1, "lr": 2e-4, "betas": [0.5, 0.9]}),
    "wgan-gp-1-fastd": ("wgan-gp", {"d_steps": 1, "lr": 2e-4, "lr_mult": {"d": 2.0}, "betas": [0.5, 0.9]}),
    "wgan-gp-2-b05": ("wgan-gp", {"d_steps": 2, "lr": 2e-4, "betas": [0.5, 0.9]}),
    "lsgan": ("lsgan", {}),
    "hinge-sn": ("hinge-sn", {}),
    "cgan": ("cgan", {}),
    "cgan-proj": ("cgan", {"cond_d": "projection"}),
    "acgan": ("acgan", {}),
}
TRAIN = {"batch_size": 64, "epochs": 1000, "seed": 0, "device": "cpu", "progress": False, "log_every": 100,
         "sample_every": 10**9, "checkpoint_every": 10**9, "val_batches": 1}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=180.0, help="process CPU seconds of training per model")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--results", default=str(RESULTS), help="JSON file the results accumulate in")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--runs", default=str(ROOT / "runs" / "bench" / "gan_mnist"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--img", default=str(IMG), help="folder for the sample grids")
    args = p.parse_args(argv)
    img = Path(args.img)
    torch.set_num_threads(args.threads)
    data = DataConfig(name="mnist", root=args.root, download=False)
    train_ds, test_ds = load_data(data, "image", "train"), load_data(data, "image", "test")
    net = get_feature_extractor(train_ds)
    train_feats = net.embed(train_ds.tensors["x"])[0]
    results = Path(args.results)
    store = json.loads(results.read_text()) if results.is_file() else {"rows": {}}
    store["meta"] = {"date": time.strftime("%Y-%m-%d"), "budget_cpu_s": args.budget, "n_samples": args.n, "train": TRAIN,
                     "machine": f"{platform.machine()} CPU, {args.threads} thread, no GPU, 2 cores shared with other jobs",
                     "torch": torch.__version__, "extractor": net.meta.get("script")}
    for label in args.models.split(","):
        model, cfg = MODELS[label]
        out = Path(args.runs) / label
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mcfg, opt = split_train_settings(cfg)
            m = genlab.train(model, data, out, model_config=mcfg, overwrite=True,
                             train_config={**TRAIN, **opt, "max_cpu_time": args.budget})
        state = json.loads((out / "state.json").read_text())
        gen = torch.Generator().manual_seed(0)
        labels = torch.arange(args.n) % 10 if m.conditional else None
        x = m.sample(args.n, labels=labels, generator=gen)
        res = evaluate_samples(x, train_ds, test_ds, net, n=args.n, fake_labels=labels, train_feats=train_feats,
                               baseline="baseline" not in store)
        if "baseline" in res:
            store["baseline"] = res.pop("baseline")
        store["rows"][label] = {
            "model": model, "model_config": cfg, "date": time.strftime("%Y-%m-%d"),
            "steps": state["step"], "epochs": state["epoch"],
            "train_cpu_s": state["cpu_time_s"], "train_wall_s": state["train_time_s"],
            "health_warnings": sorted({str(w.message).split("(")[0] for w in caught if "GAN health" in str(w.message)}),
            **res}
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(store, indent=1, default=float) + "\n")
        save_image_grid(x[:64], img / f"gan_mnist_{label}.png", nrow=8)
        if m.conditional:
            per_class = torch.arange(10).repeat_interleave(10)
            save_image_grid(m.sample(100, labels=per_class, generator=torch.Generator().manual_seed(1)),
                            img / f"gan_mnist_{label}_classes.png", nrow=10)
        print(label, json.dumps({k: store["rows"][label][k] for k in ("steps", "train_cpu_s", "fid")}), flush=True)
    print(table(store))
    return 0


def table(store: dict) -> str:
    lines = ["| model | steps (epochs) | FID ↓ | precision ↑ | recall ↑ | classes covered | KL to uniform | label accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for label, r in list(store["rows"].items()) + ([("real test vs train images", store["baseline"])] if "baseline" in store else []):
        steps = f"{r['steps']} ({r['epochs']})" if "steps" in r else "–"
        acc = f"{r['conditional_accuracy']['value']:.3f}" if "conditional_accuracy" in r else "–"
        cm = r["class_modes"]
        lines.append(f"| {label} | {steps} | {r['fid']['value']:.2f} | {r['prdc']['precision']:.3f} | {r['prdc']['recall']:.3f} | "
                     f"{round(cm['covered'] * 10)}/10 | {cm['kl_uniform']:.3f} | {acc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

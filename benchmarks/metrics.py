"""Time every image metric on N vs N MNIST images (default 10,000 vs 10,000) with the shipped extractor.

    python benchmarks/metrics.py [--n 10000] [--threads 2] [--dataset mnist] [--root ../shared/data]

The "generated" set is N real training images and the reference is N test images, so the values printed
are also the real-data baseline: what a perfect model scores at this sample size. The copy detector
searches the remaining training images (60,000 - N for MNIST). Feature extraction is timed separately.
Wall and CPU seconds (all threads) are both shown: on a shared machine the CPU time is the steadier number.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from genlab.config import DataConfig
from genlab.data import TensorDataset, load_data
from genlab.eval.features import get_feature_extractor
from genlab.eval.images import evaluate_samples

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = f"{os.getloadavg()[0]:.1f}"

    cfg = DataConfig(name=args.dataset, root=args.root, download=False)
    train, test = load_data(cfg, "image", "train"), load_data(cfg, "image", "test")
    t0, c0 = time.perf_counter(), time.process_time()
    net = get_feature_extractor(args.dataset)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    fake = train.tensors["x"][: args.n].float() / 255
    rest = TensorDataset({k: v[args.n :] for k, v in train.tensors.items()}, train.info)
    t0, c0 = time.perf_counter(), time.process_time()
    out = evaluate_samples(fake, rest, test, net, n=args.n, baseline=False, log=lambda m: print("  " + m, flush=True))
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    sec, cpu = {**out["seconds"], "load": load_s}, {**out["cpu_seconds"], "load": load_cpu}
    metric_keys = ("fid", "kid", "inception_score", "prdc", "class_modes", "copy_calibration", "memorisation", "birthday_real",
                   "birthday")
    ci = lambda v: f"[{v[0]:.3g}, {v[1]:.3g}]"  # noqa: E731
    rows = [
        ("load extractor", "load", f"version {net.meta.get('version', 1)}, test accuracy {net.meta['test_accuracy']:.4f}"),
        (f"features: {out['n_fake']} fake + {out['n_real']} real", ("features_fake", "features_real"), ""),
        (f"features: {out['n_train']} train (copy detector)", "features_train", ""),
        ("FID (+ 100 bootstrap resamples)", "fid", f"{out['fid']['value']:.4f} {ci(out['fid']['ci'])}"),
        ("KID (100 x 1000, + 10 blocks)", "kid", f"{out['kid']['mean']:.2e} {ci(out['kid']['ci'])}"),
        ("Inception Score (10 splits)", "inception_score",
         f"{out['inception_score']['mean']:.3f} ± {out['inception_score']['std']:.3f}"),
        ("precision / recall / density / coverage (k=5, + 200 half-samples)", "prdc",
         " / ".join(f"{out['prdc'][k]:.3f}" for k in ("precision", "recall", "density", "coverage"))),
        ("class-mode coverage", "class_modes",
         f"{out['class_modes']['covered']:.2f}, KL {out['class_modes']['kl_uniform']:.4f}"),
        ("copy test: calibration scores of the reference", "copy_calibration", ""),
        ("copy test: samples", "memorisation",
         f"copy fraction {out['memorisation']['copy_fraction']:.4f} (expected {out['memorisation']['expected_fraction']:.4f}), "
         f"flagged {out['memorisation']['flagged']}"),
        ("birthday support (calibrate + real + fake)", ("birthday_real", "birthday"),
         f"fake {out['birthday']['fake']['support']:.3g} {ci(out['birthday']['fake']['ci'])}, "
         f"real {out['birthday']['real']['support']:.3g} {ci(out['birthday']['real']['ci'])}"),
    ]

    def both(keys) -> str:
        keys = (keys,) if isinstance(keys, str) else keys
        return f"{sum(sec[k] for k in keys):7.2f} | {sum(cpu[k] for k in keys):7.2f}"

    print(f"{args.dataset}, {out['n_fake']} vs {out['n_real']}, torch {torch.__version__}, {args.threads} threads, "
          f"{platform.processor() or platform.machine()}")
    print(f"load average before/after: {load_before} / {os.getloadavg()[0]:.1f}")
    print(f"| {'step':<48} | {'wall s':>7} | {'CPU s':>7} | value |")
    print(f"|{'-' * 50}|{'-' * 9}|{'-' * 9}|-------|")
    for name, keys, value in rows:
        print(f"| {name:<48} | {both(keys)} | {value} |")
    print(f"| {'metrics only (no feature extraction)':<48} | {both(metric_keys)} | |")
    print(f"| {'total (evaluate_samples)':<48} | {total:7.2f} | {total_cpu:7.2f} | |")
    if args.json:
        from genlab.eval.report import json_ready

        Path(args.json).write_text(json.dumps({"args": vars(args), "total_s": total, "total_cpu_s": total_cpu,
                                               "date": __import__("datetime").date.today().isoformat(),
                                               "torch": torch.__version__, **json_ready(out)}, indent=2))


if __name__ == "__main__":
    main()

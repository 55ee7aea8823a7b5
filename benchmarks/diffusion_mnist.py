"""DDPM on MNIST / Fashion-MNIST: sample quality and speed against the number of sampling steps.

    python benchmarks/diffusion_mnist.py [--dataset mnist] [--budget 480] [--n 256] [--steps 10,20,50,100,1000]
                                         [--n-long 150 --long-from 1000] [--set model.KEY=VALUE ...] [--final-n 10000]

1. Train ``ddpm`` (a small U-Net, settings in ``MODEL`` / ``TRAIN``) for ``--budget`` process-CPU seconds
   on one thread (``ar_budget.train_for_cpu_budget``: the machine is shared, so wall time is no budget).
   ``--set model.KEY=VALUE`` / ``--set train.KEY=VALUE`` (repeatable, values parsed as JSON) override them.
2. With the EMA weights, draw ``--n`` samples (seed 0) with DDIM (eta = 0) for every step count in
   ``--steps`` and with DPM-Solver++(2M) for ``--dpm-steps``; time each (CPU and wall seconds). Step counts
   of at least ``--long-from`` draw only ``--n-long`` samples (1000 network calls per sample are expensive
   on a CPU); they run last, so a run killed there keeps every other row.
3. FID, precision and recall (k = 5) in the genlab feature space (``genlab.eval.images.evaluate_samples``:
   the shipped classifier for the dataset, against the 10,000 test images), plus the same metrics for
   as many real training images (the floor at each sample size: FID is biased upwards for small N).
   Rows with more than ``--n-long`` samples are also scored on their first ``--n-long`` (``at_n<N>``), to
   compare with the long rows at the same sample size. Each row is evaluated and written to the JSON as
   soon as it is sampled.
4. With ``--final-n N``: N more samples (seed 1) from the row with the lowest FID, scored the same way
   (``final`` in the JSON), the first 64 as ``docs/img/diffusion_<dataset>_final.png``.
5. The variational bound in bits/dim on ``--nll-images`` test images (``--nll-strata`` stratified steps
   per image).

Samples go to ``benchmarks/results/diffusion_<dataset>/`` (``.npz``, re-evaluated with ``--eval-only``),
grids to ``docs/img/``, numbers to ``benchmarks/results/diffusion_<dataset>.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.outputs import save_image_grid

from ar_budget import cpu_and_wall, train_for_cpu_budget

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MODEL = {"width": 16, "channel_mult": [1, 2, 2], "attn_max_size": 7, "timesteps": 1000, "schedule": "linear",
         "prediction": "epsilon", "nll_timesteps": 4, "sample_batch_size": 256}
TRAIN = {"batch_size": 64, "lr": 1e-3, "ema_decay": 0.995, "val_batches": 2, "grid_size": 36, "seed": 0,
         "device": "cpu", "log_every": 100}


def overrides(pairs: list[str]) -> tuple[dict, dict]:
    """``model.KEY=VALUE`` / ``train.KEY=VALUE`` strings as (model, train) dicts; values parsed as JSON."""
    out: dict = {"model": {}, "train": {}}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in out or not name:
            raise SystemExit(f"--set takes model.KEY=VALUE or train.KEY=VALUE, got {pair!r}")
        try:
            out[section][name] = json.loads(value)
        except json.JSONDecodeError:
            out[section][name] = value
    return out["model"], out["train"]


def sample_timed(model, n: int, seed: int = 0, **options):
    gen = torch.Generator().manual_seed(seed)
    x, cpu, wall = cpu_and_wall(lambda: model.sample(n, generator=gen, **options))
    return x, {"cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "samples_per_cpu_s": round(n / cpu, 2),
               "samples_per_wall_s": round(n / wall, 2)}


def quality(x: torch.Tensor, train, test, feats_cache: dict) -> dict:
    """FID / precision / recall of ``x``; the real-data floor at ``len(x)`` goes to ``feats_cache["floor"]``."""
    from genlab.eval.features import get_feature_extractor
    from genlab.eval.images import evaluate_samples

    net = feats_cache.setdefault("net", get_feature_extractor(train))
    if "train" not in feats_cache:
        feats_cache["train"] = net.embed(train.tensors["x"])[0]
    floors = feats_cache.setdefault("floor", {})
    r = evaluate_samples(x, train, test, net, train_feats=feats_cache["train"], baseline=False)
    if str(len(x)) not in floors:  # the floor: as many real training images (seed 0), scored the same way
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: len(x)]
        b = evaluate_samples(train.tensors["x"][idx].float() / 255, train, test, net, train_feats=feats_cache["train"],
                             baseline=False)
        floors[str(len(x))] = {"fid": round(b["fid"]["value"], 2), "precision": round(b["prdc"]["precision"], 3),
                               "recall": round(b["prdc"]["recall"], 3),
                               "what": f"{len(x)} training images vs the same test images"}
    return {"fid": round(r["fid"]["value"], 2), "fid_ci": [round(v, 2) for v in r["fid"]["ci"]],
            "precision": round(r["prdc"]["precision"], 3), "recall": round(r["prdc"]["recall"], 3),
            "n_fake": r["n_fake"], "n_real": r["n_real"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--budget", type=float, default=480, help="training budget in process-CPU seconds")
    p.add_argument("--n", type=int, default=256, help="samples per step count")
    p.add_argument("--steps", default="10,20,50,100,1000")
    p.add_argument("--dpm-steps", default="10,20")
    p.add_argument("--n-long", type=int, default=None, help="samples for step counts >= --long-from (default --n)")
    p.add_argument("--long-from", type=int, default=1000)
    p.add_argument("--nll-images", type=int, default=200)
    p.add_argument("--nll-strata", type=int, default=50)
    p.add_argument("--root", default=str(SHARED))
    p.add_argument("--runs", default="/tmp/genlab-bench")
    p.add_argument("--eval-only", action="store_true", help="evaluate the samples saved by an earlier run")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override MODEL (model.KEY) or TRAIN (train.KEY); repeatable")
    p.add_argument("--final-n", type=int, default=0, help="samples to redraw from the best row (0: none)")
    p.add_argument("--reuse-run", action="store_true",
                   help="skip training: sample from the run already trained in --runs (after a crash in sampling)")
    args = p.parse_args(argv)
    model_set, train_set = overrides(args.set)
    model_cfg, train_cfg = {**MODEL, **model_set}, {**TRAIN, **train_set}
    torch.set_num_threads(1)

    name = args.dataset
    out_dir = ROOT / "benchmarks" / "results" / f"diffusion_{name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    result_path = ROOT / "benchmarks" / "results" / f"diffusion_{name}.json"
    run = Path(args.runs) / f"ddpm-{name}"
    cfg = DataConfig(name=name, root=args.root, download=False)
    train, test = load_data(cfg, "image", "train"), load_data(cfg, "image", "test")
    runs = [("ddim", int(s)) for s in args.steps.split(",") if s] + [("dpm++", int(s)) for s in args.dpm_steps.split(",") if s]
    runs.sort(key=lambda r: r[1] >= args.long_from)  # the expensive rows last
    n_long = args.n_long or args.n
    cache: dict = {}

    def write() -> None:
        result["real_data_floor"] = cache.get("floor", {})
        result_path.write_text(json.dumps(result, indent=2) + "\n")

    def evaluate(key: str) -> None:
        x = torch.from_numpy(np.load(out_dir / f"{key}.npz")["x"]).float() / 255
        result["sampling"][key].update(quality(x, train, test, cache))
        if len(x) > n_long:  # the same metrics on as many samples as the long rows, for a like-for-like comparison
            result["sampling"][key][f"at_n{n_long}"] = quality(x[:n_long], train, test, cache)
        print(key, result["sampling"][key], flush=True)
        write()

    if args.eval_only:
        result = json.loads(result_path.read_text())
        for key in result["sampling"]:
            evaluate(key)
        print(f"wrote {result_path}")
        return
    result = {"dataset": name, "date": datetime.date.today().isoformat(),
              "machine": f"{platform.machine()} CPU, 1 thread, no GPU, shared with other jobs",
              "torch": torch.__version__, "model": model_cfg, "train": train_cfg, "budget_cpu_s": args.budget,
              "command": "python benchmarks/diffusion_mnist.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if args.reuse_run:
        state = json.loads((run / "state.json").read_text())
        result["training"] = {"steps": state["step"], "epochs_completed": state["epoch"],
                              "train_cpu_s": state["cpu_time_s"], "train_wall_s": state["train_time_s"], "reused": str(run)}
    else:
        print(f"training ddpm on {name} for {args.budget:.0f} CPU seconds ...", flush=True)
        result["training"] = train_for_cpu_budget("ddpm", cfg, run, args.budget, model_cfg, train_cfg)
    print(result["training"], flush=True)
    model = genlab.load(run)  # EMA weights
    result["sampling"] = {}
    write()

    g = torch.Generator().manual_seed(0)
    nll_x = test.tensors["x"][torch.randperm(len(test), generator=g)[: args.nll_images]].float() / 255
    torch.manual_seed(0)
    ll, cpu, _ = cpu_and_wall(lambda: torch.cat([model.log_likelihood({"x": nll_x[i:i + 100]}, timesteps=args.nll_strata)
                                                  for i in range(0, len(nll_x), 100)]))
    d = math.prod(model.info.shape)
    result["bound"] = {"bits_per_dim": round(float(-ll.mean() / (d * math.log(2))), 3),
                       "se": round(float(ll.std() / math.sqrt(len(ll)) / (d * math.log(2))), 3),
                       "test_images": len(ll), "strata": args.nll_strata, "cpu_s": round(cpu, 1)}
    print(result["bound"], flush=True)
    write()

    for sampler, steps in runs:
        n = n_long if steps >= args.long_from else args.n
        x, timing = sample_timed(model, n, sampler=sampler, steps=steps)
        key = f"{sampler}-{steps}"
        np.savez_compressed(out_dir / f"{key}.npz", x=(x * 255).round().byte().numpy())
        result["sampling"][key] = {"sampler": sampler, "steps": steps, "n": n, **timing}
        print(key, timing, flush=True)
        if steps in (20, 100) and sampler == "ddim":
            save_image_grid(x[:36], ROOT / "docs" / "img" / f"diffusion_{name}_ddim{steps}.png", nrow=6)
        evaluate(key)
    if args.final_n:
        best = min(result["sampling"], key=lambda k: result["sampling"][k]["fid"])
        row = result["sampling"][best]
        x, timing = sample_timed(model, args.final_n, seed=1, sampler=row["sampler"], steps=row["steps"])
        np.savez_compressed(out_dir / "final.npz", x=(x * 255).round().byte().numpy())
        save_image_grid(x[:64], ROOT / "docs" / "img" / f"diffusion_{name}_final.png", nrow=8)
        result["final"] = {"sampler": row["sampler"], "steps": row["steps"], "n": args.final_n, "seed": 1, **timing,
                           **quality(x, train, test, cache)}
        print("final", result["final"], flush=True)
        write()
    print(f"wrote {result_path}")


if __name__ == "__main__":
    main()

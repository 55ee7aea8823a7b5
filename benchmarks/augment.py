"""Augmentation benchmark: few labels on MNIST and an under-represented group on UCI Adult.

    python benchmarks/augment.py [--gen-budget 90] [--labels 10,100,1000] [--dataset mnist|fashion-mnist]
                                 [--out benchmarks/results/augment.json]

MNIST, for each number of labels per class k: a conditional GAN trained on the k labelled images per class only
(data.labels_per_class=k), M2 and (at k=100) the semi-supervised GAN trained on those labels plus the unlabelled
rest (data.unlabelled=keep), each for the same budget of process CPU seconds; then `genlab augment` arms with
the same small CNN (600 steps) over several seeds. Adult: the group sex=Female, income=>50K kept at 10% in
training, TVAE trained on the shrunk-free training table for its budget, arms no fix / re-weighting /
oversampling / SMOTE / generated rows. One thread, 2-core x86_64 CPU.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from datetime import date
from pathlib import Path

import torch

import genlab
from genlab.eval.augment import ClassifierSpec, augment_images, augment_table, shrunk_table

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def train(model: str, data: dict, out: Path, budget: float, reuse: bool = False) -> dict:
    done = out / "state.json"
    if not (reuse and done.is_file() and json.loads(done.read_text()).get("status") == "finished"):
        shutil.rmtree(out, ignore_errors=True)
        genlab.train(model, data, out, epochs=100_000, max_cpu_time=budget, progress=False, seed=0, threads=1)
    state = json.loads(done.read_text())
    return {"run": str(out), "model": model, "cpu_s": round(state.get("cpu_time_s", state.get("train_time_s", 0)), 1),
            "steps": state.get("step"), "final_metrics": state.get("final_metrics", {})}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen-budget", type=float, default=90.0)
    ap.add_argument("--labels", default="10,100,1000")
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--work", default="/tmp/genlab-augment-bench")
    ap.add_argument("--skip-adult", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/augment.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    result = {"date": str(date.today()), "machine": f"2-core {platform.machine()} CPU, 1 thread, no GPU",
              "torch": torch.__version__, "generator_budget_cpu_s": args.gen_budget, args.dataset: {}, "adult": None}
    for k in [int(v) for v in args.labels.split(",") if v.strip()]:
        base = {"name": args.dataset, "root": str(SHARED)}
        runs, gens = [], []
        tag = "" if args.dataset == "mnist" else f"{args.dataset}-"
        gens.append(train("cgan", {**base, "labels_per_class": k}, work / f"{tag}cgan-{k}", args.gen_budget))
        gens.append(train("m2", {**base, "labels_per_class": k, "unlabelled": "keep"}, work / f"{tag}m2-{k}", args.gen_budget))
        if k == 100:
            gens.append(train("ssgan", {**base, "labels_per_class": k, "unlabelled": "keep"}, work / f"{tag}ssgan-{k}",
                              2 * args.gen_budget))
        runs = [g["run"] for g in gens]
        c0 = time.process_time()
        res = augment_images(runs, labels_per_class=k, seeds=args.seeds if k == 100 else max(1, args.seeds - 1),
                             curve=(0.5, 1.0, 2.0) if k == 100 else (), spec=ClassifierSpec(steps=600))
        res["cpu_s"] = round(time.process_time() - c0, 1)
        res["generators"] = gens
        result[args.dataset][str(k)] = res
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if not args.skip_adult:
        minority = "sex=Female,income=>50K"
        shrunk = shrunk_table("adult", minority, 0.1, root=str(SHARED))
        csv = work / "adult_shrunk.csv"
        shrunk.to_csv(csv, index=False)
        gen = train("tvae", {"name": str(csv), "target": "income", "val_fraction": 0.0}, work / "tvae-adult",
                    args.gen_budget, reuse=True)
        c0 = time.process_time()
        res = augment_table([gen["run"]], data="adult", root=str(SHARED), target="income", minority=minority,
                            keep=0.1, seeds=args.seeds)
        res["cpu_s"] = round(time.process_time() - c0, 1)
        res["generators"] = [gen]
        result["adult"] = res
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: {a: round(r["accuracy_mean"], 4) for a, r in v["arms"].items()}
                      for k, v in result[args.dataset].items()}, indent=1))


if __name__ == "__main__":
    main()

"""The semi-supervised GAN's test error against its CPU budget (MNIST, 100 labels per class by default).

    python benchmarks/ssgan_budget.py [--budgets 1200,2400] [--run /tmp/genlab-ssgan] [--root ../shared/data]
    python benchmarks/ssgan_budget.py --dataset fashion-mnist --labels 10 --budgets 600 --run /tmp/ssgan-f10

Trains ``ssgan`` on the dataset with ``data.labels_per_class=K`` and the unlabelled rest (``data.unlabelled=keep``),
one thread, seed 0, until the first budget of process CPU seconds (``--max-cpu-time``), scores its classifier
on its 10,000 test images, then resumes the same run to each later budget and scores again. ``--reuse`` scores
an existing run without training. Results: ``benchmarks/results/ssgan_budget.json`` for MNIST at 100 labels,
``ssgan_budget_{dataset}_{labels}.json`` otherwise (one row per budget).
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

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ssgan_budget.json"


def test_accuracy(run: Path, root: str, dataset: str = "mnist") -> float:
    """Accuracy of the run's classifier (raw weights: the classifier is the discriminator) on the test split."""
    model = genlab.load(run, ema=False).eval()
    batch = load_data(DataConfig(name=dataset, root=root), "image", "test").all()
    with torch.no_grad():
        pred = torch.cat([model.classify(batch["x"][i:i + 1000]).argmax(-1) for i in range(0, len(batch["x"]), 1000)])
    return float((pred == batch["y"]).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="1200,2400")
    ap.add_argument("--run", default="/tmp/genlab-ssgan")
    ap.add_argument("--root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--reuse", action="store_true", help="score the run as it is (no training)")
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    ap.add_argument("--labels", type=int, default=100, help="labelled images per class")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = Path(args.run)
    data = {"name": args.dataset, "root": args.root, "labels_per_class": args.labels, "unlabelled": "keep"}
    default = RESULTS if (args.dataset, args.labels) == ("mnist", 100) else RESULTS.with_name(f"ssgan_budget_{args.dataset}_{args.labels}.json")
    out = Path(args.out or default)
    result = json.loads(out.read_text()) if out.is_file() else {"rows": []}
    result.update(date=time.strftime("%Y-%m-%d"), machine=f"{platform.machine()} CPU, 1 thread, no GPU",
                  torch=torch.__version__, data=data, seed=0)
    for i, budget in enumerate(float(b) for b in ([] if args.reuse else args.budgets.split(","))):
        if i == 0:
            genlab.train("ssgan", data, run, overwrite=True, epochs=100_000, max_cpu_time=budget, progress=False,
                         seed=0, threads=1)
        else:
            genlab.resume(run, max_cpu_time=budget, progress=False)
        score(run, args.root, result, out, args.dataset)
    if args.reuse:
        score(run, args.root, result, out, args.dataset)


def score(run: Path, root: str, result: dict, out: Path, dataset: str = "mnist") -> None:
    state = json.loads((run / "state.json").read_text())
    acc = test_accuracy(run, root, dataset)
    row = {"cpu_s": round(state["cpu_time_s"], 1), "steps": state["step"], "test_accuracy": round(acc, 4),
           "test_error_pct": round(100 * (1 - acc), 2)}
    result["rows"] = [r for r in result["rows"] if r["steps"] != row["steps"]] + [row]
    result["rows"].sort(key=lambda r: r["steps"])
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

"""Out-of-distribution detection with autoencoders: MNIST vs Fashion-MNIST, both ways.

    python benchmarks/vae_ood.py [--budget 300] [--ae-budget 150] [--nll-samples 100] [--test-limit N]

For each training set (dynamically binarised MNIST, then Fashion-MNIST) a VAE (the 784-200-200-50 tanh MLP
of ``vae_mnist.py``, trained for ``--budget`` CPU seconds; the MNIST one is reused from ``vae_mnist.py``'s
run folder when present) and a plain AE (same networks, ``--ae-budget`` CPU seconds, default ``--budget`` / 2)
are trained. Every image of both
test sets (one fixed Bernoulli draw, seed 0) is scored by the negative ELBO, the negative importance-sampled
log-likelihood (``--nll-samples``) and the AE's reconstruction NLL; the AUROC of telling the other dataset's
test images from the training dataset's by a higher score is written to ``benchmarks/results/vae_ood.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import torch

from ar_budget import cpu_and_wall
from genlab.eval.latent import auroc
from genlab.training import load
from vae_mnist import BURDA, ROOT, binarised_test, trained

DATASETS = ("mnist", "fashion-mnist")


@torch.no_grad()
def scores(model, x: torch.Tensor, k: int, chunk: int = 500, seed: int = 0) -> torch.Tensor:
    model.eval()
    torch.manual_seed(seed)
    return torch.cat([model.anomaly_score({"x": x[i:i + chunk]}, k) for i in range(0, len(x), chunk)])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=300)
    p.add_argument("--ae-budget", type=float, default=None, help="CPU seconds for each AE (default: --budget / 2)")
    p.add_argument("--nll-samples", type=int, default=100)
    p.add_argument("--test-limit", type=int, default=None, help="score the first N test images of each set only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default="/tmp/genlab-bench/vae")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "vae_ood.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tests = {d: binarised_test(d, args.test_limit)["x"] for d in DATASETS}
    ae_budget = args.budget / 2 if args.ae_budget is None else args.ae_budget
    results = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()} CPU, {args.threads} thread(s), "
               "shared with other jobs", "torch": torch.__version__, "budget_cpu_s": args.budget, "ae_budget_cpu_s": ae_budget,
               "test_images": {d: len(x) for d, x in tests.items()}, "architecture": BURDA, "runs": {}, "auroc": []}
    for data in reversed(DATASETS):  # Fashion-MNIST first: vae_mnist.py may still be training the MNIST VAE
        other = DATASETS[1 - DATASETS.index(data)]
        runs = {"vae": (Path(args.runs) / ("vae" if data == "mnist" else f"vae-{data}"), args.budget),
                "ae": (Path(args.runs) / f"ae-{data}", ae_budget)}
        for name, (run, budget) in runs.items():
            results["runs"][f"{name}-{data}"] = trained(name, data, run, budget, BURDA)
            model = load(run)
            kinds = {"negative ELBO": 1, f"negative IS log-likelihood (k={args.nll_samples})": args.nll_samples} \
                if name == "vae" else {"reconstruction NLL": 1}
            for what, k in kinds.items():
                (s_in, s_out), cpu, _ = cpu_and_wall(lambda: (scores(model, tests[data], k), scores(model, tests[other], k)))
                row = {"trained_on": data, "ood": other, "model": name, "score": what, "auroc": auroc(s_in, s_out),
                       "mean_score_in": float(s_in.mean()), "mean_score_ood": float(s_out.mean()), "cpu_s": round(cpu, 1)}
                results["auroc"].append(row)
                print(json.dumps(row), flush=True)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

"""Why does MADE plateau at ~104 nats on binarised MNIST? A short A/B of its input scaling.

    python benchmarks/ar_made_diag.py [--steps 2000]

Trains two MADEs (hidden [500], one raster ordering, Adam lr 1e-3, batch 64, seed 0) for ``--steps`` steps
on dynamically binarised MNIST: ``pm1`` feeds pixels as -1/+1 (what MADE did before ``MADE.net_input``; the
convolutional models still do) and ``01`` feeds them as 0/1 (the MADE paper, and genlab's MADE now). Reports the test NLL on the first 2,000 test
images (one fixed Bernoulli draw) and the share of hidden units that never fire on them (dead ReLUs).
Results go to ``benchmarks/results/ar_made_diag.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.config import DataConfig
from genlab.data import load_data
from genlab.models.autoregressive.made import MADE, MADEConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def run(variant: str, train_x: torch.Tensor, test_x: torch.Tensor, info, steps: int) -> dict:
    torch.manual_seed(0)
    model = MADE(MADEConfig(hidden=[500]), info)
    shift = (lambda x: x * 2 - 1) if variant == "pm1" else (lambda x: x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def nll(x):
        logits = model.made(shift(x.flatten(1)))
        return F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1)

    c = time.process_time()
    for _ in range(steps):
        idx = torch.randint(len(train_x), (64,), generator=gen)
        loss = nll(torch.bernoulli(train_x[idx], generator=gen)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        test = float(nll(test_x).mean())
        h = F.relu(model.made.hidden[0](shift(test_x.flatten(1))))
    return {"steps": steps, "train_cpu_s": round(time.process_time() - c, 1), "test_nll_nats_2000": round(test, 2),
            "dead_hidden_share": round(float((h.max(0).values == 0).float().mean()), 3)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "ar_made_diag.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = DataConfig(name="mnist", root=str(SHARED), download=False)
    train = load_data(cfg, "image", "train")
    test = load_data(cfg, "image", "test").all()["x"][:2000]
    test_x = torch.bernoulli(test, generator=torch.Generator().manual_seed(0))
    train_x = train.all()["x"]
    results = {"setup": {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "threads": 1}}
    for variant in ("pm1", "01"):
        results[variant] = run(variant, train_x, test_x, train.info, args.steps)
        print(variant, results[variant], flush=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

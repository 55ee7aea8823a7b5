"""D2GAN on ring8: short runs of several model configs, with both discriminators read on real and generated points.

    python benchmarks/gan_d2gan_probe.py [--budget 25] [--seed 0] [--configs '[{"lr": 1e-3, "depth": 2}, ...]'] (optimiser keys go to the train section)
        [--runs runs/bench/d2gan_probe] [--results benchmarks/results/gan_d2gan_probe.json]

Each config (JSON object of ``model.*`` fields) trains ``d2gan`` on ring8 for ``--budget`` process CPU seconds
(batch 128, one thread), then draws 2,500 samples (seed 1000 + seed): modes covered, high-quality share and
KL to uniform (``genlab.eval.modes.mode_metrics``), D1 and D2 (softplus outputs) averaged over 1,000 real
and 1,000 generated points, and a trajectory from ``metrics.jsonl`` (step, D1(x), D1(G(z)), D2(x), D2(G(z)),
G's gradient norm). Rows accumulate in the results file. This is the probe behind the D2GAN notes in
docs/gans.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

import genlab
from genlab.config import split_train_settings
from genlab.config import DataConfig
from genlab.data.vectors import ring_centers
from genlab.eval.modes import mode_metrics

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [{"lr": 1e-3, "depth": 3}, {"lr": 1e-3, "depth": 2}]
TRAJ = ("d_real", "d_fake", "d2_real", "d2_fake", "gnorm_g")


def probe(cfg: dict, seed: int, budget: float, out: Path) -> dict:
    train = {"batch_size": 128, "epochs": 100_000, "sample_every": 10**9, "checkpoint_every": 10**9, "log_every": 200,
             "progress": False, "device": "cpu", "seed": seed, "max_cpu_time": budget}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mcfg, opt = split_train_settings(cfg)
        m = genlab.train("d2gan", DataConfig(name="ring8", download=False), out, model_config=mcfg, overwrite=True,
                         train_config={**train, **opt})
    state = json.loads((out / "state.json").read_text())
    x = m.sample(2500, generator=torch.Generator().manual_seed(1000 + seed))
    met = mode_metrics(x, m.info.meta["modes"], m.info.meta["mode_std"])
    g = torch.Generator().manual_seed(seed)
    real = ring_centers()[torch.randint(8, (1000,), generator=g)] + 0.02 * torch.randn(1000, 2, generator=g)
    with torch.no_grad():
        r, f = m.eval()._critic(real).adv, m._critic(x[:1000]).adv
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"model_config": cfg, "seed": seed, "date": time.strftime("%Y-%m-%d"), "steps": state["step"],
            "train_cpu_s": state["cpu_time_s"], "modes": met["modes"], "high_quality": met["high_quality"],
            "kl_uniform": met["kl_uniform"], "fake_std": x.std(0).tolist(),
            "D1_real": F.softplus(r[:, 0]).mean().item(), "D1_fake": F.softplus(f[:, 0]).mean().item(),
            "D2_real": F.softplus(r[:, 1]).mean().item(), "D2_fake": F.softplus(f[:, 1]).mean().item(),
            "traj_fields": ["step", *TRAJ],
            "traj": [[rec["step"], *(rec.get(k) for k in TRAJ)] for rec in recs if "d_real" in rec][::4]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=25.0, help="process CPU seconds per run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--configs", default=json.dumps(DEFAULT), help="JSON list of model configs")
    p.add_argument("--runs", default=str(ROOT / "runs" / "bench" / "d2gan_probe"))
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "gan_d2gan_probe.json"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = Path(args.results)
    store = json.loads(results.read_text()) if results.is_file() else {"rows": []}
    for i, cfg in enumerate(json.loads(args.configs)):
        row = probe(cfg, args.seed, args.budget, Path(args.runs) / f"cfg{i}-seed{args.seed}")
        print(json.dumps({k: v for k, v in row.items() if k != "traj"}), flush=True)
        store["rows"].append(row)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(store, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

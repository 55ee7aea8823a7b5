"""tab-ddpm sampling speed (rows per CPU-second, one thread) on UCI Adult and on a wide synthetic table.

    python benchmarks/tabular_ddpm_sampling.py --wide /tmp/genlab-bench/large/large_200000x50.csv

Trains each table for a few steps (the speed does not depend on training), then samples ``--rows`` rows
with the default 100 steps; prints one JSON line per table and writes
benchmarks/results/tabular_ddpm_sampling.json. Run it with ``PYTHONPATH`` pointing at another checkout to
measure that version.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--adult", default=str(ROOT.parent / "shared" / "data" / "tabular" / "adult.data"))
    p.add_argument("--wide", default="/tmp/genlab-bench/large/large_200000x50.csv")
    p.add_argument("--rows", type=int, nargs=2, default=[5000, 1000], help="rows sampled from adult, wide")
    p.add_argument("--work", default="/tmp/genlab-bench/ddpm-sampling")
    p.add_argument("--label", default="")
    p.add_argument("--out", default=None, help="results file (default: print only)")
    args = p.parse_args()
    torch.set_num_threads(1)
    pd.set_option("mode.max_threads", 1)
    import genlab

    results = []
    for name, path, n in (("adult", args.adult, args.rows[0]), ("wide", args.wide, args.rows[1])):
        m = genlab.train("tab-ddpm", path, Path(args.work) / name, overwrite=True,
                         progress=False, checkpoint_every=10**9, max_steps=5, batch_size=500)
        c = time.process_time()
        m.sample(n, generator=torch.Generator().manual_seed(0))
        cpu = time.process_time() - c
        entries = int(len(m.cats.seg))
        results.append({"table": name, "label": args.label, "onehot_entries": entries, "rows": n,
                        "cpu_s": round(cpu, 2), "rows_per_s": round(n / cpu)})
        print(json.dumps(results[-1]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

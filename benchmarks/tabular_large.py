"""A large table (default 1,000,000 rows x 50 columns, written as CSV): peak memory and time of loading it
and training every table model on it.

    python benchmarks/tabular_large.py                 # CSV input, all models
    python benchmarks/tabular_large.py --format parquet --models table-gmm
    python benchmarks/tabular_large.py --rows 200000 --load-parts   # CPU-s of the parts of loading only

Columns: 25 numeric (normal, log-normal, zero-inflated amounts, integers, 1% missing in some) and 25
categorical (2 to 500 categories, Zipf-like frequencies, 1% missing in some), with dependence between them.
Each model runs in its own process (results are written after each one), so its peak resident memory (``ru_maxrss``) is its own; iterative models
run a fixed number of steps (the memory does not grow with steps). One thread. Results go to
benchmarks/results/tabular_large.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STEPS = {"ctgan": 50, "tvae": 200, "tab-ddpm": 200}
MODELS = ["gaussian-copula", "table-gmm", "nn-copy", "tvae", "ctgan", "tab-ddpm"]


def make_table(rows: int, cols: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=rows)
    out = {}
    for j in range(cols // 2):
        kind = j % 4
        noise = rng.normal(size=rows)
        base = 0.6 * latent + 0.8 * noise
        if kind == 0:
            x = np.round(base * 10 + 50, 2)
        elif kind == 1:
            x = np.round(np.exp(base + 3), 2)
        elif kind == 2:
            x = np.where(base > 1.2, np.round(np.exp(base + 5)), 0.0)
        else:
            x = np.round(base * 12 + 40)
        x = x.astype(float)
        if j % 3 == 0:
            x[rng.random(rows) < 0.01] = np.nan
        out[f"num{j}"] = x
    for j in range(cols - cols // 2):
        k = [2, 5, 12, 40, 500][j % 5]
        p = 1 / np.arange(1, k + 1)
        shifted = np.clip(((latent + rng.normal(size=rows)) * k / 6 + k / 2).astype(int), 0, k - 1)
        random = rng.choice(k, rows, p=p / p.sum())
        codes = np.where(rng.random(rows) < 0.5, shifted, random)
        values = np.array([f"c{j}_{i}" for i in range(k)], dtype=object)[codes]
        if j % 4 == 0:
            values[rng.random(rows) < 0.01] = None
        out[f"cat{j}"] = values
    return pd.DataFrame(out)


def run_one(model: str, path: str, work: str) -> None:
    """In a child process: load, train, sample 10,000 rows; print one JSON line."""
    import torch

    import genlab
    from genlab.config import DataConfig
    from genlab.data.tables import prepare_table

    torch.set_num_threads(1)
    pd.set_option("mode.max_threads", 1)  # pandas >= 3.1 reads large CSV files with several threads
    data = DataConfig(name=path)
    c, w = time.process_time(), time.perf_counter()
    prepare_table(data)
    load = {"load_cpu_s": round(time.process_time() - c, 1), "load_wall_s": round(time.perf_counter() - w, 1),
            "rss_after_load_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    c, w = time.process_time(), time.perf_counter()
    kw = {"max_steps": STEPS[model], "batch_size": 500} if model in STEPS else {}
    m = genlab.train(model, data, Path(work) / model, overwrite=True, progress=False, checkpoint_every=10**9, **kw)
    train = {"train_cpu_s": round(time.process_time() - c, 1), "train_wall_s": round(time.perf_counter() - w, 1)}
    c = time.process_time()
    m.sample(10_000, generator=torch.Generator().manual_seed(0))
    sample_cpu = time.process_time() - c
    print(json.dumps({"model": model, **load, **train, "steps": STEPS.get(model),
                      "sample_10k_cpu_s": round(sample_cpu, 1), "sample_rows_per_s": round(10_000 / max(sample_cpu, 1e-3)),
                      "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}))


def load_parts(path: str) -> dict:
    """CPU seconds of the parts of loading (one thread): reading + split, column types, column modes, codes."""
    import torch

    from genlab.config import DataConfig
    from genlab.data.tables import read_splits
    from genlab.data.tabular import bgm
    from genlab.data.tabular.codes import to_codes
    from genlab.data.tabular.schema import infer_schema

    torch.set_num_threads(1)
    pd.set_option("mode.max_threads", 1)
    t, fit = {}, bgm.fit_column_modes

    def timed_fit(*a, **k):  # the mixtures, timed apart from the rest of the inference
        c = time.process_time()
        out = fit(*a, **k)
        t["column_modes"] = time.process_time() - c
        return out

    bgm.fit_column_modes = timed_fit
    c = time.process_time()
    df, test, name = read_splits(DataConfig(name=path))
    t["read_and_split"] = time.process_time() - c
    c = time.process_time()
    schema = infer_schema(df, source=name)
    t["column_types"] = time.process_time() - c - t["column_modes"]
    c = time.process_time()
    to_codes(schema, df), to_codes(schema, test, unseen="nearest")
    t["codes"] = time.process_time() - c
    return {"rows": len(df) + len(test), **{k: round(v, 2) for k, v in t.items()}, "total": round(sum(t.values()), 2)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--cols", type=int, default=50)
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.add_argument("--models", nargs="*", default=MODELS)
    p.add_argument("--work", default="/tmp/genlab-bench/large")
    p.add_argument("--jobs", type=int, default=1, help="models run at the same time (memory adds up)")
    p.add_argument("--load-parts", action="store_true", help="only time the parts of loading the table")
    p.add_argument("--child", nargs=3, metavar=("MODEL", "PATH", "WORK"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return run_one(*args.child)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"large_{args.rows}x{args.cols}.{args.format}"
    if not path.is_file():
        df = make_table(args.rows, args.cols)
        df.to_csv(path, index=False) if args.format == "csv" else df.to_parquet(path, index=False)
    if args.load_parts:
        return print(json.dumps(load_parts(str(path))))
    results, dest = [], ROOT / "benchmarks" / "results" / "tabular_large.json"
    if dest.is_file():  # keep other models' results measured on the same table
        old = json.loads(dest.read_text())
        if isinstance(old, dict) and (old.get("rows"), old.get("cols"), old.get("format")) == (args.rows, args.cols, args.format):
            results = [r for r in old["results"] if r["model"] not in args.models]
    out = {"date": time.strftime("%Y-%m-%d"), "machine": "2-core x86_64 CPU, no GPU, 23 GiB RAM, 1 thread per run (other jobs on the other core)",
           "command": "python " + " ".join(sys.argv), "jobs": args.jobs,
           "python": platform.python_version(), "rows": args.rows, "cols": args.cols, "format": args.format,
           "file_mib": round(path.stat().st_size / 2**20), "results": results}
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    for start in range(0, len(args.models), args.jobs):  # ``jobs`` children at a time (each its own peak memory)
        batch = args.models[start : start + args.jobs]
        procs = [(m, subprocess.Popen([sys.executable, __file__, "--child", m, str(path), str(work)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)) for m in batch]
        for model, proc in procs:
            stdout, err = proc.communicate()
            if proc.returncode != 0:
                results.append({"model": model, "error": err.strip().splitlines()[-1] if err.strip() else "failed"})
            else:
                results.append(json.loads(stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
            dest.write_text(json.dumps(out, indent=2))  # as we go


if __name__ == "__main__":
    main()

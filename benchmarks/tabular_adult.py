"""Synthetic UCI Adult: every genlab table model, the reference `ctgan` package and the two reference rows
(real data, independent columns), scored with the same metrics.

    python benchmarks/tabular_adult.py                       # all of it (hours on 2 busy cores)
    python benchmarks/tabular_adult.py --models tvae --no-eval &   # train models in parallel processes...
    python benchmarks/tabular_adult.py --reuse --score tvae & # ...score rows in parallel processes...
    python benchmarks/tabular_adult.py --reuse                # ...then score what is left and merge

Iterative models (ctgan, tvae, tab-ddpm) get a budget of process CPU seconds (default 230 s: a tenth of the 2,300 s
CTGAN took in SDGym), not wall-clock seconds, because the benchmark machine is shared; the reference
`ctgan` package gets the same budget in its own environment (benchmarks/tabular_ctgan_reference.py), if
/work/ctgan-venv exists. One thread for torch and scikit-learn. Synthetic tables and runs go to --work;
results to benchmarks/results/tabular_adult.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from threadpoolctl import threadpool_limits

import genlab
from genlab.config import DataConfig
from genlab.data.tables import prepare_table
from genlab.data.tabular.codes import typed_frame
from genlab.eval.tabular.evaluate import compare
from genlab.outputs import write_samples
from genlab.data.tabular.io import read_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ar_budget import cpu_and_wall, train_for_cpu_budget  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
MODELS = {  # name: (model config, train config or None for one-shot fitting)
    "gaussian-copula": ({}, None),
    "table-gmm": ({"n_components": 100}, None),
    "nn-copy": ({}, None),
    "tvae": ({}, {"batch_size": 500}),
    "ctgan": ({}, {"batch_size": 500}),
    "tab-ddpm": ({}, {"batch_size": 1024, "lr": 1e-3}),  # genlab/models/diffusion/tab_ddpm.py
}
CTGAN_VENV = Path("/work/ctgan-venv/bin/python")


def train_model(name: str, data: DataConfig, work: Path, budget: float) -> tuple[object, dict]:
    mcfg, tcfg = MODELS[name]
    out = work / name
    if tcfg is None:
        model, cpu, wall = cpu_and_wall(lambda: genlab.train(name, data, out, model_config=mcfg, overwrite=True, progress=False))
        return model, {"train_cpu_s": round(cpu, 1), "train_wall_s": round(wall, 1)}
    info = train_for_cpu_budget(name, data, out, budget, mcfg, {**tcfg, "epochs": 100_000}, probe_steps=50)
    return genlab.load(out), info


def generate(name: str, data: DataConfig, work: Path, csv: Path, args, n: int) -> dict:
    """Train ``name`` and write ``n`` synthetic rows to ``csv``; returns the timings."""
    if name == "ctgan-package":
        if not CTGAN_VENV.is_file():
            raise SystemExit("no /work/ctgan-venv: see benchmarks/tabular_ctgan_reference.py")
        res = subprocess.run([str(CTGAN_VENV), str(ROOT / "benchmarks" / "tabular_ctgan_reference.py"),
                              "--budget", str(args.budget), "--out", str(csv), "--seed", str(args.seed)],
                             capture_output=True, text=True, check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])
    model, timings = train_model(name, data, work, args.budget)
    samples, cpu, wall = cpu_and_wall(lambda: model.sample(n, generator=torch.Generator().manual_seed(args.seed)))
    write_samples(samples, csv, model.info)
    return {**timings, "sample_cpu_s": round(cpu, 3), "sample_wall_s": round(wall, 3), "sample_rows": n}


def score_row(row: str, synthetic: dict, train, test, work: Path, args) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores of one model (or of the two reference rows), cached in ``work/score-ROW.json``."""
    cache = work / f"score-{row}.json"
    if args.reuse and cache.is_file():
        d = json.loads(cache.read_text())
        return pd.DataFrame(d["summary"]).T, pd.DataFrame(d["columns"])
    todo, refs = ({}, True) if row == "references" else ({row: synthetic[row]}, False)
    (summary, columns), cpu, wall = cpu_and_wall(lambda: compare(todo, train, test, "income", refs, args.seed,
                                                                 detection=("gbm", "logistic")))
    cache.write_text(json.dumps({"summary": summary.to_dict(orient="index"), "columns": columns.to_dict(),
                                 "eval_cpu_s": round(cpu, 1), "eval_wall_s": round(wall, 1)}, default=float))
    print("scored", row, f"{cpu:.0f} CPU s", flush=True)
    return summary, columns


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="*", default=list(MODELS) + ["ctgan-package"])
    p.add_argument("--budget", type=float, default=230.0, help="CPU seconds for ctgan, tvae, tab-ddpm and ctgan-package")
    p.add_argument("--work", default="/tmp/genlab-bench/tabular")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-eval", action="store_true", help="only train and cache the synthetic tables")
    p.add_argument("--reuse", action="store_true", help="use the synthetic tables already cached in --work")
    p.add_argument("--score", nargs="*", default=None, metavar="ROW",
                   help="only score these rows (model names or 'references') and cache the scores in --work")
    args = p.parse_args()
    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = DataConfig(name="adult", root=str(SHARED), download=False, target="income")
    (schema, _, _, train_df, test_df), prep_cpu, _ = cpu_and_wall(lambda: prepare_table(data))
    train, test = typed_frame(schema, train_df), typed_frame(schema, test_df)
    timings, synthetic = {"data preparation (schema + modes)": {"cpu_s": round(prep_cpu, 1)}}, {}
    with threadpool_limits(1):
        for name in args.models:
            csv, meta = work / f"{name}.csv", work / f"{name}.json"
            if not (args.reuse and csv.is_file() and meta.is_file()):
                timings[name] = generate(name, data, work, csv, args, len(train))
                meta.write_text(json.dumps(timings[name]))
            timings[name] = json.loads(meta.read_text())
            synthetic[name] = typed_frame(schema, read_table(csv))
            print(name, timings[name], flush=True)
        if args.no_eval:
            return
        t = time.perf_counter()
        rows = ["references"] + list(synthetic)
        scored = {r: score_row(r, synthetic, train, test, work, args) for r in (args.score or rows)}
        if args.score is not None:
            return
    summary = pd.concat([scored["references"][0].iloc[:1]] + [scored[r][0] for r in rows[1:]]
                        + [scored["references"][0].iloc[1:]])
    columns = pd.concat([scored[r][1] for r in rows], axis=1)[list(summary.index)]
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    result = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread; "
        "2-core x86_64 CPU, no GPU, shared with other jobs", "budget_cpu_s": args.budget, "seed": args.seed,
        "command": "python " + " ".join(sys.argv), "train_rows": len(train), "test_rows": len(test), "timings": timings, "evaluation_wall_s": round(time.perf_counter() - t),
        "summary": summary.to_dict(orient="index"), "columns": columns.to_dict(),
        "versions": {"genlab": genlab.__version__, "torch": torch.__version__},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "tabular_adult" if set(args.models) >= set(MODELS) else "tabular_adult_partial"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=float))
    (RESULTS / f"{name}.md").write_text(markdown(summary, timings))


def markdown(summary, timings) -> str:
    cols = ["quality", "column_shapes", "pair_trends", "marginal_rmse", "detection_auc", "detection_auc_logistic",
            "utility_accuracy", "utility_f1", "utility_auc", "privacy_share", "exact_copies"]
    lines = ["| model | train CPU s | sampling rows/s | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 3)]
    for name, row in summary.iterrows():
        t = timings.get(name, {})
        cpu = t.get("train_cpu_s", "")
        rate = f"{t['sample_rows'] / max(t['sample_cpu_s'], 1e-3):,.0f}" if "sample_rows" in t else ""
        lines.append(f"| {name} | {cpu} | {rate} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

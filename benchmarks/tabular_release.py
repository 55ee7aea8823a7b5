"""A release benchmark on UCI Adult: genlab's table models and the `ctgan` package's CTGAN and TVAE at an
equal budget of process CPU seconds, scored by independent code (SDMetrics and scikit-learn, in their own
environment: benchmarks/tabular_release_score.py), with genlab's privacy attacks on every table.

    python benchmarks/tabular_release.py --budget 120 --work /tmp/genlab-bench/release          # everything
    python benchmarks/tabular_release.py --models tvae --no-score --work W &     # parts in parallel processes,
    python benchmarks/tabular_release.py --models package-tvae --no-score --work W &
    python benchmarks/tabular_release.py --models none --work W                   # ...then score and merge

Iterative models (tvae, ctgan, tab-ddpm, and the package's) get ``--budget`` process CPU seconds of
training (genlab: a 50-step probe, then resumed to the number of steps that fills the budget; the package:
its data transformer plus as many epochs as fit); one-shot models (gaussian-copula, table-gmm, cart) report what
they took. Each samples 32,561 rows (seed 0), written as CSV to ``--work``. One thread everywhere.
``--sdm-python``: the interpreter that has sdmetrics and ctgan (default /tmp/sdm-venv/bin/python); without
it the package rows and the scores are skipped. Results: benchmarks/results/tabular_release{--tag}.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "tabular"
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
GENLAB = {  # name: (model config, train config or None for one-shot fitting)
    "tvae": ({}, {"batch_size": 500}),
    "ctgan": ({}, {"batch_size": 500}),
    "tab-ddpm": ({}, {"batch_size": 1024, "lr": 1e-3}),
    "gaussian-copula": ({}, None),
    "table-gmm": ({"n_components": 100}, None),
    "cart": ({}, None),  # sequential CART synthesis (synthpop's method), one shot; probes below
    "cart-leaf5": ({"min_samples_leaf": 5}, None),  # synthpop's leaf size
    "cart-leaf20": ({"min_samples_leaf": 20}, None),
    "cart-density": ({"smoothing": "density"}, None),  # Gaussian noise on drawn numbers
    "cart-seed1": ({"seed": 1}, None),  # other split tie-breaking and sampling seeds (see SAMPLE_SEED)
    "cart-seed2": ({"seed": 2}, None),
    "tvae-lr2e-3": ({}, {"batch_size": 500, "lr": 2e-3}),  # a tuning probe: tvae at twice its learning rate
    # tvae sampling its codes from a 50-component mixture fitted on 10,000 training codes (genlab fit-latent)
    # instead of N(0, I); the fit's CPU counts in the budget (the training gets the budget minus LATENT_RESERVE_S)
    "tvae-gmm": ({}, {"batch_size": 500}),
    "tvae-256-gmm": ({"encoder_dims": [256, 256], "decoder_dims": [256, 256]}, {"batch_size": 500}),
    "tvae-lf5-gmm": ({"loss_factor": 5.0}, {"batch_size": 500}),  # a weaker KL: the mixture covers the codes
}
VARIANTS = {"tvae-lr2e-3": "tvae", "tvae-gmm": "tvae", "tvae-256-gmm": "tvae", "tvae-lf5-gmm": "tvae",
            **{n: "cart" for n in ("cart-leaf5", "cart-leaf20", "cart-density", "cart-seed1", "cart-seed2")}}  # a row name: the genlab model it trains
SAMPLE_SEED = {"cart-seed1": 1, "cart-seed2": 2}  # a row name: its sampling seed (else 0)
LATENT = {"tvae-gmm": 50, "tvae-256-gmm": 50, "tvae-lf5-gmm": 50}  # a row name: components of the latent mixture fitted after training
LATENT_LIMIT = 10_000  # training codes the mixture is fitted on
LATENT_RESERVE_S = 80.0  # CPU seconds of the budget kept for the mixture's fit (measured: 35-62 s for 50 components)
PACKAGE = ("package-ctgan", "package-tvae")
SENSITIVE = ["income", "marital-status"]
ROWS = 32_561


def run_genlab(name: str, work: Path, budget: float) -> dict:
    import genlab
    from ar_budget import cpu_and_wall, train_for_cpu_budget
    from genlab.config import DataConfig
    from genlab.outputs import write_samples

    data = DataConfig(name="adult", root=str(SHARED))
    mcfg, tcfg = GENLAB[name]
    model_name = VARIANTS.get(name, name)
    out = work / "runs" / name
    if tcfg is None:
        _, cpu, wall = cpu_and_wall(lambda: genlab.train(model_name, data, out, model_config=mcfg, overwrite=True, progress=False))
        info = {"train_cpu_s": round(cpu, 1), "train_wall_s": round(wall, 1)}
    else:
        reserve = LATENT_RESERVE_S if name in LATENT else 0.0
        info = train_for_cpu_budget(model_name, data, out, budget - reserve, mcfg, {**tcfg, "epochs": 100_000},
                                    probe_steps=50)
        if name in LATENT:
            _, cpu, _ = cpu_and_wall(lambda: genlab.fit_latent(out, components=LATENT[name], limit=LATENT_LIMIT))
            info.update(fit_latent_cpu_s=round(cpu, 1), train_only_cpu_s=info["train_cpu_s"],
                        train_cpu_s=round(info["train_cpu_s"] + cpu, 1))
    model = genlab.load(out)
    synth, cpu, _ = cpu_and_wall(lambda: model.sample(ROWS, generator=torch.Generator().manual_seed(SAMPLE_SEED.get(name, 0))))
    info.update(sample_cpu_s=round(cpu, 1), sample_rows_per_cpu_s=round(ROWS / max(cpu, 1e-9)))
    write_samples(synth, work / f"{name}.csv", model.info)
    return info


def run_package(name: str, work: Path, budget: float, python: str, epochs: int | None = None) -> dict:
    kind = name.split("-", 1)[1]
    cmd = [python, str(ROOT / "benchmarks" / "tabular_ctgan_reference.py"), "--model", kind, "--budget", str(budget),
           "--out", str(work / f"{name}.csv")] + (["--epochs", str(epochs)] if epochs else [])
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if res.returncode:
        raise RuntimeError(f"{name} failed: {res.stderr[-2000:]}")
    info = json.loads(res.stdout.strip().splitlines()[-1])
    probe = info.get("probe") or {}
    info["probe_cpu_s"] = round(sum(v for k, v in probe.items() if "epoch" in k), 1)  # the probe fits, not counted
    return info


def attacks(names: list[str], work: Path) -> dict:
    """genlab's membership- and attribute-inference attacks on every table (and the real-data baseline)."""
    from genlab.config import DataConfig
    from genlab.data.tables import prepare_table
    from genlab.data.tabular.codes import typed_frame
    from genlab.data.tabular.io import read_table
    from genlab.eval.tabular.privacy import attribute_inference, membership_inference

    schema, _, _, train_df, test_df = prepare_table(DataConfig(name="adult", root=str(SHARED)))
    train, test = typed_frame(schema, train_df), typed_frame(schema, test_df)
    out = {}
    for name in names:
        synth = typed_frame(schema, read_table(work / f"{name}.csv"))
        c = time.process_time()
        mia = membership_inference(train, test, synth)
        aia = attribute_inference(train, test, synth, SENSITIVE)
        out[name] = {"mia_auc": mia["auc"], "mia_baseline_auc": mia["baseline_auc"], "mia_candidates": mia["candidates"],
                     "attribute": aia, "attack_cpu_s": round(time.process_time() - c, 1)}
    return out


def score(names: list[str], work: Path, python: str) -> dict:
    """Score every table in its own process (in parallel: the machine is shared), then merge."""
    script = str(ROOT / "benchmarks" / "tabular_release_score.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    jobs = {"real data": [python, script, "--real-row", "--out", str(work / "scores-real.json")]}
    for n in names:
        if not (work / f"scores-{n}.json").is_file():
            jobs[n] = [python, script, "--synth", f"{n}={work / f'{n}.csv'}", "--out", str(work / f"scores-{n}.json")]
    if (work / "scores-real.json").is_file():
        del jobs["real data"]
    procs = {k: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k, cmd in jobs.items()}
    for k, p in procs.items():
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"scoring {k} failed: {err[-3000:]}")
    merged = {"tables": {}}
    for f in ["scores-real.json"] + [f"scores-{n}.json" for n in names]:
        data = json.loads((work / f).read_text())
        merged["tables"].update(data.pop("tables"))
        merged.update(data)
    return merged


def markdown(res: dict) -> str:
    s = res["scores"]["tables"]
    lines = ["| model | train CPU-s | steps / epochs | sdmetrics quality (assoc. pairs) | quality (all pairs) | TSTR F1 (HGB) | "
             "TSTR F1 (logistic) | detection AUC | MIA AUC | AIA income (train / holdout) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ["real data"] + res["order"]:
        if name not in s:
            continue
        t = s[name]
        tr = res["train"].get(name, {})
        a = res["attacks"].get(name) if name != "real data" else None
        mia = f"{a['mia_auc']:.3f}" if a else f"{res['attacks'][res['order'][0]]['mia_baseline_auc']:.3f} (baseline)"
        aia = (f"{a['attribute']['income']['members']:.3f} / {a['attribute']['income']['non_members']:.3f}" if a else
               f"{res['attacks'][res['order'][0]]['attribute']['income']['baseline']:.3f} (baseline)")
        steps = tr.get("steps") or tr.get("epochs") or ""
        lines.append(f"| {name} | {tr.get('train_cpu_s', '')} | {steps} | {t['quality']:.3f} | {t['quality_all_pairs']:.3f} | "
                     f"{t['tstr_f1']:.3f} | {t['tstr_f1_logistic']:.3f} | {t['detection_auc']:.3f} | {mia} | {aia} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=float, default=120.0, help="process CPU seconds of training per iterative model")
    p.add_argument("--work", default="/tmp/genlab-bench/release")
    p.add_argument("--models", default=",".join([n for n in GENLAB if n not in VARIANTS] + list(PACKAGE)),
                   help="comma-separated, or none")
    p.add_argument("--no-score", action="store_true", help="train and sample only (merge later)")
    p.add_argument("--sdm-python", default="/tmp/sdm-venv/bin/python")
    p.add_argument("--package-epochs", type=int, default=None,
                   help="train the package's model(s) for this many epochs instead of probing for the budget")
    p.add_argument("--tag", default="", help="suffix of the result files, e.g. _300: tabular_release_300.{json,md}")
    p.add_argument("--attack", default=None, help="only run the privacy attacks on this table (written to the work folder)")
    args = p.parse_args()
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.attack:
        (work / f"attack-{args.attack}.json").write_text(json.dumps(attacks([args.attack], work)[args.attack], indent=2))
        return
    have_sdm = Path(args.sdm_python).is_file()
    models = [] if args.models == "none" else args.models.split(",")
    for name in models:
        if name in PACKAGE and not have_sdm:
            print(f"skipping {name}: no {args.sdm_python}", file=sys.stderr)
            continue
        c = time.process_time()
        info = run_package(name, work, args.budget, args.sdm_python, args.package_epochs) if name in PACKAGE else run_genlab(name, work, args.budget)
        info["process_cpu_s"] = round(time.process_time() - c, 1)
        (work / f"{name}.json").write_text(json.dumps(info, indent=2))
        print(json.dumps({name: info}), flush=True)
    if args.no_score:
        return
    order = [n for n in list(GENLAB) + list(PACKAGE) if (work / f"{n}.csv").is_file() and (work / f"{n}.json").is_file()]
    c = time.process_time()
    res = {"date": time.strftime("%Y-%m-%d"), "machine": platform.machine() + ", " + platform.processor(),
           "torch": torch.__version__, "threads": 1, "budget_cpu_s": args.budget, "rows_sampled": ROWS,
           "sensitive": SENSITIVE, "order": order,
           "train": {n: json.loads((work / f"{n}.json").read_text()) for n in order}}
    todo = [n for n in order if not (work / f"attack-{n}.json").is_file()]
    res["attacks"] = {**attacks(todo, work), **{n: json.loads((work / f"attack-{n}.json").read_text())
                                                 for n in order if n not in todo}}
    res["attacks_cpu_s"] = round(time.process_time() - c, 1)
    res["scores"] = score(order, work, args.sdm_python) if have_sdm else {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"tabular_release{args.tag}.json").write_text(json.dumps(res, indent=2) + "\n")
    if res["scores"]:
        (RESULTS / f"tabular_release{args.tag}.md").write_text(markdown(res))
        print(markdown(res))


if __name__ == "__main__":
    main()

"""Mode collapse, measured: modes covered by GAN variants and remedies on ring8, grid25 and stacked MNIST.

    python benchmarks/mode_collapse.py [--bench ring8,grid25,stackedmnist] [--seeds 0,1,2]
        [--budget-2d 45] [--budget-stacked 150] [--root ../shared/data] [--runs runs/bench/mode_collapse]

Every run gets the same budget of process CPU seconds (``train.max_cpu_time``, one thread), then draws
samples with a fixed seed:

- 2-D (2,500 samples): :func:`genlab.eval.modes.mode_metrics`: modes covered (>= 20% of a mode's expected
  share of high-quality samples), high-quality share (within 3 std of a centre), KL to uniform;
- stacked MNIST (10,000 samples): each channel classified by the MNIST classifier of ``genlab.eval.features``
  (shipped weights, or trained and cached on first use): modes covered of 1,000 and KL to uniform.

Results accumulate in ``benchmarks/results/mode_collapse.json`` (finished runs are skipped when the
script is run again); a Markdown table is printed, and figures for seed 0 go to ``docs/img/``
(``gan_modes_<bench>.png``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import genlab
from genlab.config import split_train_settings
from genlab.config import DataConfig
from genlab.eval.modes import mode_metrics, stacked_mnist_metrics
from genlab.plots2d import scatter_panels

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mode_collapse.json"
IMG = ROOT / "docs" / "img"
TOY_LR = {"lr": 1e-3}  # MLPs on 2-D toys: 2e-4 / 1e-4 barely move within the budget
VARIANTS = {  # label: (model, model config on 2-D toys, on stacked MNIST; optimiser settings go to the train section)
    "gan": ("gan", {}, None),
    "dcgan": ("dcgan", None, {}),
    "+ minibatch-stddev": (None, {"minibatch_std": True}, {"minibatch_std": True}),
    "pacgan (pack 4)": ("pacgan", TOY_LR, {}),
    "mgan (8 generators)": ("mgan", TOY_LR, {}),
    "d2gan": ("d2gan", TOY_LR, {}),
    # D2GAN on stacked MNIST, two attempts against its discriminators winning outright (docs/gans.md)
    "d2gan-slowd (lr_d 5e-5)": ("d2gan", None, {"lr_mult": {"d": 0.25}}),
    "d2gan-noise (instance noise 0.2)": ("d2gan", None, {"instance_noise": 0.2}),
    "wgan-gp": ("wgan-gp", {}, {}),  # its own lr 1e-4: at 1e-3 it failed (a blob off the ring) on 2 of 3 seeds
}
TRAIN = {"batch_size": 128, "epochs": 100_000, "sample_every": 10**9, "checkpoint_every": 10**9, "log_every": 200,
         "progress": False, "device": "cpu"}


def variants(bench: str, labels: str = "") -> list[tuple[str, str, dict]]:
    """(label, model, config) for a benchmark; "+ minibatch-stddev" extends the baseline (gan / dcgan)."""
    toy = bench != "stackedmnist"
    base = "gan" if toy else "dcgan"
    out = []
    for label, (model, toy_cfg, img_cfg) in VARIANTS.items():
        cfg = toy_cfg if toy else img_cfg
        if cfg is None:
            continue
        if model is None:
            model, label = base, f"{base} {label}"
        if not labels or label in labels.split(","):
            out.append((label, model, dict(cfg)))
    return out


def classifier(root: str):
    from genlab.data import load_data
    from genlab.eval.features import get_feature_extractor

    try:
        net = get_feature_extractor("mnist")
    except (FileNotFoundError, ValueError):
        net = get_feature_extractor(load_data(DataConfig(name="mnist", root=root, download=False), "image", "train"),
                                    log=print)
    return lambda x: net.embed(x)[1]


def run_dir(args, bench: str, label: str, seed: int) -> Path:
    return Path(args.runs) / bench / f"{label.replace(' ', '_').replace('(', '').replace(')', '')}-seed{seed}"


def run_one(label: str, model: str, cfg: dict, bench: str, seed: int, args, classify) -> dict:
    out = run_dir(args, bench, label, seed)
    budget = args.budget_stacked if bench == "stackedmnist" else args.budget_2d
    data = DataConfig(name=bench, root=args.root, download=False)
    reused = args.reuse and finished_run(out, model, cfg, seed, budget)
    if reused:  # trained by an earlier invocation whose row was not stored: evaluate it as it is
        m, health = genlab.load(out), None
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mcfg, opt = split_train_settings(cfg)
            m = genlab.train(model, data, out, model_config=mcfg, overwrite=True,
                             train_config={**TRAIN, **opt, "seed": seed, "max_cpu_time": budget})
        health = sorted({str(w.message).split(":")[1].split("(")[0].strip() for w in caught if "GAN health" in str(w.message)})
    state = json.loads((out / "state.json").read_text())
    x = samples(m, bench, seed, args)
    if bench == "stackedmnist":
        metrics = stacked_mnist_metrics(x, classify)
    else:
        metrics = mode_metrics(x, m.info.meta["modes"], m.info.meta["mode_std"])
        metrics.pop("counts")
    resolved = json.loads((out / "config.json").read_text()).get("model_config", {})
    return {"label": label, "model": model, "model_config": cfg, "resolved_model_config": resolved,
            "date": time.strftime("%Y-%m-%d"), "bench": bench, "seed": seed,
            "steps": state["step"], "train_cpu_s": state["cpu_time_s"], "train_wall_s": state["train_time_s"],
            "health_warnings": health, **({"reused_run": True} if reused else {}), **metrics}


def finished_run(out: Path, model: str, cfg: dict, seed: int, budget: float) -> bool:
    """Whether ``out`` holds a run of this model, resolved config and seed that used up the budget."""
    from genlab.config import from_dict, to_dict
    from genlab.registry import get_model_class

    try:
        config = json.loads((out / "config.json").read_text())
        state = json.loads((out / "state.json").read_text())
    except (OSError, ValueError):
        return False
    mcfg, opt = split_train_settings(cfg)
    want, got = to_dict(from_dict(get_model_class(model).Config, mcfg, "model")), dict(config.get("model_config", {}))
    if any(config.get("train_config", {}).get(k) != v for k, v in opt.items()):
        return False
    if want.get("n_generators") == 1:  # mgan_beta (its default changed) does nothing without MGAN
        want.pop("mgan_beta", None), got.pop("mgan_beta", None)
    return (config.get("model") == model and got == want
            and config.get("train_config", {}).get("seed") == seed and (state.get("cpu_time_s") or 0) >= budget)


def samples(m, bench: str, seed: int, args) -> torch.Tensor:
    return m.sample(args.n_stacked if bench == "stackedmnist" else args.n_2d,
                    generator=torch.Generator().manual_seed(1000 + seed))


def figures(args, rows: list[dict]) -> None:
    """Seed-0 samples of every variant: one scatter figure per 2-D benchmark, a 6x6 grid per stacked run."""
    from genlab.outputs import save_image_grid

    for bench in args.bench.split(","):
        panels = []
        for label, _, _ in variants(bench, args.labels):
            row = next((r for r in rows if (r["bench"], r["label"], r["seed"]) == (bench, label, 0)), None)
            if row is None:
                continue
            m = genlab.load(run_dir(args, bench, label, 0))
            x = samples(m, bench, 0, args)
            if bench == "stackedmnist":
                name = label.split()[0] + ("_mbstd" if "stddev" in label else "")
                save_image_grid(x[:36], IMG / f"gan_stacked_{name}{args.tag}.png", nrow=6)
            else:
                panels.append(dict(samples=x, centers=m.info.meta["modes"], std=m.info.meta["mode_std"],
                                   title=f"{label}: {row['modes']}/{row['num_modes']}"))
        if panels:
            scatter_panels(panels, IMG / f"gan_modes_{bench}{args.tag}.png", size=1.9, cols=len(panels))


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | model | modes covered (mean ± std over seeds) | high-quality % | KL to uniform | steps | seeds |",
             "|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["bench"], r["label"]) for r in rows))
    for bench, label in keys:
        rs = [r for r in rows if r["bench"] == bench and r["label"] == label]
        modes = np.array([r["modes"] for r in rs], dtype=float)
        hq = np.array([r.get("high_quality", np.nan) for r in rs]) * 100
        kl = np.array([r["kl_uniform"] for r in rs])
        hq_s = "–" if np.isnan(hq).all() else f"{hq.mean():.0f} ± {hq.std():.0f}"
        kl_s = f"{np.median(kl):.2f} (median)" if np.isinf(kl).any() else f"{kl.mean():.2f}"
        lines.append(f"| {bench} | {label} | {modes.mean():.1f} ± {modes.std():.1f} / {rs[0]['num_modes']} | {hq_s} | {kl_s} | "
                     f"{int(np.mean([r['steps'] for r in rs]))} | {len(rs)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default="ring8,grid25,stackedmnist")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--budget-2d", type=float, default=45.0, help="process CPU seconds per 2-D run")
    p.add_argument("--budget-stacked", type=float, default=150.0, help="process CPU seconds per stacked-MNIST run")
    p.add_argument("--n-2d", type=int, default=2500)
    p.add_argument("--n-stacked", type=int, default=10_000)
    p.add_argument("--root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--runs", default=str(ROOT / "runs" / "bench" / "mode_collapse"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated labels to (re)run; default: all missing")
    p.add_argument("--labels", default="", help="comma-separated labels to include (default: every variant)")
    p.add_argument("--results", default=str(RESULTS), help="JSON file the results accumulate in")
    p.add_argument("--tag", default="", help="suffix of the figure names (e.g. _long for a longer budget)")
    p.add_argument("--reuse", action="store_true",
                   help="evaluate a finished run already in --runs (same model, config, seed, budget) instead of retraining")
    args = p.parse_args(argv)
    results = Path(args.results)
    torch.set_num_threads(args.threads)
    store = json.loads(results.read_text()) if results.is_file() else {"rows": []}
    store["meta"] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} CPU, {args.threads} thread, "
                     "no GPU, 2 cores shared with other jobs", "torch": torch.__version__, "train": TRAIN,
                     "budget_cpu_s": {"2d": args.budget_2d, "stackedmnist": args.budget_stacked},
                     "samples": {"2d": args.n_2d, "stackedmnist": args.n_stacked}}
    only = set(filter(None, args.only.split(",")))
    classify = None
    for bench in args.bench.split(","):
        for label, model, cfg in variants(bench, args.labels):
            for seed in map(int, args.seeds.split(",")):
                done = [r for r in store["rows"] if (r["bench"], r["label"], r["seed"]) == (bench, label, seed)]
                if done and label not in only:
                    continue
                if bench == "stackedmnist" and classify is None:
                    classify = classifier(args.root)
                row = run_one(label, model, cfg, bench, seed, args, classify)
                print(json.dumps({k: v for k, v in row.items() if k != "model_config"}), flush=True)
                store["rows"] = [r for r in store["rows"] if r not in done] + [row]
                results.parent.mkdir(parents=True, exist_ok=True)
                results.write_text(json.dumps(store, indent=1) + "\n")
    figures(args, store["rows"])
    print(table(store["rows"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

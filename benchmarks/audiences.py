"""Who will a new film attract? The novel-item protocol on MovieLens 100K (genlab/audiences/protocol.py).

    python benchmarks/audiences.py                     # 10 draws of the main rows, 4 of the ablation
    python benchmarks/audiences.py --draws 2 --ablation-draws 1 --steps-scale 0.1   # a quick look
    python benchmarks/audiences.py --part main & python benchmarks/audiences.py --part ablation; \
        python benchmarks/audiences.py --part merge                   # the two parts side by side

Per draw: 50 random films with at least 20 ratings are held out; each model is trained on the ratings of
the other films (fixed step budgets below, one thread), generates as many raters as each held-out film
really has, from the film's genres and year only, and is scored by RSM and RMSE of the category shares
(age bands, gender, occupation, zip region, rating). Reference rows: NN (the raters of the most similar
training film), global (random training raters), real resampled (the noise floor). The ablation row set
swaps the item context (content features vs the recommendation embedding vs both).

Writes benchmarks/results/audiences.json (and audiences.html: charts for 4 held-out films of draw 1;
docs/img/audiences_item.png: the film with the most ratings). Each part saves after every draw
(audiences.main.json, audiences.ablation.json), so a stopped run keeps the draws it finished.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlab.audiences.protocol import Candidate, evaluate_novel, format_table, json_result  # noqa: E402
from genlab.config import DataConfig  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
GAN_STEPS, VAE_STEPS, DDPM_STEPS, BATCH = 1000, 1500, 3000, 500
STUDY = {  # Generating Realistic Users Using GAN With Recommendation-Based Embedding (IEEE Access 2020), RSM / RMSE %
    "cGAN + recommendation embedding": (72.5, 16.2), "VAE": (65.3, 20.3), "NN (nearest project)": (54.7, 28.0)}


def candidates(scale: float) -> tuple[list[Candidate], list[Candidate]]:
    gan = {"max_steps": max(10, int(GAN_STEPS * scale)), "batch_size": BATCH}
    vae = {"max_steps": max(10, int(VAE_STEPS * scale)), "batch_size": BATCH}
    main = [Candidate("audience-gan (both)", "audience-gan", {"context": "both"}, gan),
            Candidate("audience-tvae (both)", "audience-tvae", {"context": "both"}, vae)]
    ablation = [Candidate("audience-gan (content)", "audience-gan", {"context": "content"}, gan),
                Candidate("audience-tvae (content)", "audience-tvae", {"context": "content"}, vae)]
    return main, ablation


def ddpm_candidates(scale: float) -> list[Candidate]:
    """``--part ddpm``: the conditional TabDDPM (added after the main rows; scored with the same references)."""
    return [Candidate("audience-ddpm (both)", "audience-ddpm", {"context": "both"},
                      {"max_steps": max(10, int(DDPM_STEPS * scale)), "batch_size": BATCH})]


def sampling_speed(data: DataConfig) -> dict:
    """Events generated per process CPU second for one new film (models briefly trained: speed does not
    depend on training)."""
    import genlab

    out = {}
    for name in ("audience-gan", "audience-tvae", "audience-nn"):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            model = genlab.train(name, data, Path(tmp) / name, max_steps=20, batch_size=BATCH, progress=False)
            gen = torch.Generator().manual_seed(0)
            model.sample(1000, generator=gen, context="genres=Comedy|Romance,year=1997")  # warm-up
            c0 = time.process_time()
            df = model.sample(100_000, generator=gen, context="genres=Comedy|Romance,year=1997")
            cpu = time.process_time() - c0
            out[name] = {"rows": len(df), "cpu_s": round(cpu, 3), "rows_per_cpu_s": round(len(df) / cpu)}
    return out


def merge(parts: list[dict]) -> dict:
    """One protocol result from several single-draw results (same rows)."""
    import numpy as np

    rows: dict[str, list[dict]] = {}
    for p in parts:
        for name, r in p["rows"].items():
            rows.setdefault(name, []).extend(r["draws"])
    out = {k: v for k, v in parts[0].items() if k not in ("rows", "first")}
    out["draws"] = len(parts)
    out["rows"] = {name: {"draws": rs,
                          "mean": {k: float(np.nanmean([r[k] for r in rs])) for k in rs[0]},
                          "std": {k: float(np.nanstd([r[k] for r in rs], ddof=1)) if len(rs) > 1 else 0.0 for k in rs[0]}}
                   for name, rs in rows.items()}
    return out


def run_part(part: str, args, data: DataConfig, out: Path) -> None:
    """Draw after draw, saving after each (so that a stopped run keeps what it measured)."""
    main_rows, ablation_rows = candidates(args.steps_scale)
    cands, draws, refs = {"main": (main_rows, args.draws, True), "ablation": (ablation_rows, args.ablation_draws, False),
                          "ddpm": (ddpm_candidates(args.steps_scale), args.draws, True)}[part]
    seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else list(range(draws))
    done = []
    c0 = time.process_time()
    for k in seeds:
        res = evaluate_novel(data, cands, args.novel, args.min_events, 1, seed=k, references=refs, echo=print,
                             keep_first=k == 0)
        if k == 0 and part == "main":
            write_figures(res, data, out)
        done.append(json_result(res))
        merged = merge(done)
        merged["cpu_s"] = round(time.process_time() - c0, 1)
        merged["seeds"] = seeds[: len(done)]
        out.with_name(f"{out.stem}.{part}.{seeds[0]}.json").write_text(json.dumps(merged, indent=1) + "\n")
        print(format_table(merged), flush=True)
    if part == "ablation" and args.speed:
        speed = sampling_speed(data)
        print(json.dumps(speed))
        out.with_name(f"{out.stem}.sampling.json").write_text(json.dumps(speed, indent=1) + "\n")


def write_figures(res: dict, data: DataConfig, out: Path) -> None:
    from genlab.audiences.report import item_figure, write_report
    from genlab.data.movielens import titles

    labels = titles(data)
    write_report(res, out.with_suffix(".html"), "genlab audiences: MovieLens 100K (first draw)", labels, k=4)
    d = res["first"]
    i = int(d.counts.argmax())
    fig = item_figure(d, i, ["audience-gan (both)", "audience-tvae (both)", "NN (nearest item)"],
                      f"{labels.get(str(d.split.test_items[i]))} ({d.counts[i]} ratings): real vs generated raters")
    fig.savefig(ROOT / "docs" / "img" / "audiences_item.png", dpi=70, bbox_inches="tight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--ablation-draws", type=int, default=4)
    ap.add_argument("--novel", type=int, default=50)
    ap.add_argument("--min-events", type=int, default=20)
    ap.add_argument("--steps-scale", type=float, default=1.0, help="multiply the step budgets (quick looks)")
    ap.add_argument("--part", choices=["all", "main", "ablation", "ddpm", "merge"], default="all",
                    help="main / ablation: one part (two processes can run them side by side); merge: combine them")
    ap.add_argument("--seeds", default=None, help="comma-separated draw seeds of this part (default 0..draws-1)")
    ap.add_argument("--no-speed", dest="speed", action="store_false", help="skip the sampling-speed measurement")
    ap.add_argument("--root", default=str(SHARED))
    ap.add_argument("--out", default=str(RESULTS / "audiences.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = DataConfig(name="movielens-100k", root=args.root)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with threadpool_limits(1):
        for part in (["main", "ablation"] if args.part == "all" else [args.part] if args.part != "merge" else []):
            run_part(part, args, data, out)
    if args.part in ("main", "ablation", "ddpm"):
        return  # merged later: --part merge (ddpm: its own file, <out>.ddpm.<seed>.json)
    def collect(part):
        files = sorted(out.parent.glob(f"{out.stem}.{part}.*.json"))
        parts = [json.loads(f.read_text()) for f in files]
        if not parts:
            return None, 0.0, files
        cpu = sum(p.pop("cpu_s") for p in parts)
        singles = [{"rows": {n: {"draws": [r["draws"][i]]} for n, r in p["rows"].items()}, **{k: v for k, v in p.items() if k != "rows"}}
                   for p in parts for i in range(p["draws"])]
        seeds = [s for p in parts for s in p.get("seeds", [])]
        res = merge(singles)
        res["seeds"] = seeds  # in the order of the draws
        return res, cpu, files

    main_res, cpu_main, main_files = collect("main")
    abl, cpu_abl, abl_files = collect("ablation")
    speed_path = out.with_name(f"{out.stem}.sampling.json")
    speed = json.loads(speed_path.read_text()) if speed_path.is_file() else None
    cpu = cpu_main + cpu_abl
    result = {
        "benchmark": "audiences", "date": time.strftime("%Y-%m-%d"), "machine": platform.platform(),
        "processor": platform.processor(), "torch": torch.__version__, "threads": 1, "cpu_s_total": round(cpu, 1),
        "settings": {"novel": args.novel, "min_events": args.min_events, "draws": main_res["draws"],
                     "ablation_draws": abl["draws"] if abl else 0, "gan_steps": int(GAN_STEPS * args.steps_scale),
                     "vae_steps": int(VAE_STEPS * args.steps_scale), "batch_size": BATCH},
        "main": main_res, "ablation": abl, "sampling": speed, "study": STUDY,
    }
    out.write_text(json.dumps(result, indent=1) + "\n")
    for tmp in main_files + abl_files + [speed_path]:
        tmp.unlink(missing_ok=True)
    print(f"wrote {out} ({result['cpu_s_total']} CPU-s in the protocol runs)")


if __name__ == "__main__":
    main()

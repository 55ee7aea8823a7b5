"""VAE and IWAE on dynamically binarised MNIST for a fixed CPU-time budget each: test NLL, sample quality,
latent map.

    python benchmarks/vae_mnist.py [--budget 300] [--models vae,iwae] [--iw-samples 50] [--nll-samples 1000]
                                   [--test-limit N] [--fid-n 10000]

Both models use the one-stochastic-layer architecture of Burda et al. (2016): 784-200-200-50 MLPs with
tanh, a Bernoulli decoder; Adam, lr 1e-3, batch 100. ``vae`` trains the ELBO, ``iwae`` the k = 50 bound
(``--iw-samples``). Each trains for ``--budget`` process-CPU seconds (``ar_budget.py``). On the test set
(one fixed Bernoulli draw, seed 0, the same for every model) the script reports the ELBO, the IWAE bound
with 5 and 50 samples and the importance-sampled log-likelihood with ``--nll-samples`` samples, in nats and
bits/dim. For the VAE it also measures FID / precision / recall of ``--fid-n`` samples (decoder means) in the
genlab MNIST feature space against the first ``--fid-n`` test images (at 10,000: the whole test set, the
reference ``genlab.eval.images.evaluate_samples`` uses; only FID and PRDC are computed here, not its
slower copy and birthday tests) and writes a sample grid and a PCA / t-SNE map of its test codes to
``docs/images/``. Results go to ``benchmarks/results/vae_mnist.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import torch

from ar_budget import cpu_and_wall, train_for_cpu_budget
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.eval.latent import encode_dataset, plot_latent_map
from genlab.eval.metrics import nll_report
from genlab.outputs import save_image_grid
from genlab.training import checkpoint as ck
from genlab.training import load

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BURDA = {"hidden": [200, 200], "act": "tanh", "latent_dim": 50, "arch": "mlp", "decoder": "bernoulli"}
TRAIN = {"lr": 1e-3, "batch_size": 100, "val_batches": 5}


def data_config(name: str = "mnist") -> DataConfig:
    return DataConfig(name=name, root=str(SHARED), binarize="dynamic", download=False)


def binarised_test(name: str = "mnist", limit: int | None = None) -> dict:
    """The test set with one fixed Bernoulli draw (seed 0), as a batch dict on the CPU."""
    ds = load_data(data_config(name), "image", "test")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return ds.all(limit=limit)


@torch.no_grad()
def bounds(model, batch: dict, ks: list[int], chunk: int = 500, seed: int = 0) -> dict:
    """Per-example log-likelihood bounds for each k (1 = ELBO), seeded, in chunks of ``chunk`` images."""
    model.eval()
    out = {}
    for k in ks:
        torch.manual_seed(seed)
        (ll, cpu, wall) = cpu_and_wall(lambda: torch.cat([
            model.log_likelihood({"x": batch["x"][i:i + chunk]}, num_samples=k) for i in range(0, len(batch["x"]), chunk)]))
        out[k] = {**nll_report(-ll, 784), "cpu_s": round(cpu, 1), "wall_s": round(wall, 1)}
    return out


def trained(name: str, data: str, run: Path, budget: float, cfg: dict) -> dict:
    """Train for ``budget`` CPU seconds, unless ``run`` already holds a finished run of this model, data and
    architecture (e.g. from an earlier, interrupted invocation of these scripts)."""
    if (run / ck.CONFIG).is_file() and ck.read_state(run).get("status") == "finished":
        c = ck.read_run_config(run)
        if c["model"] == name and c["data_config"]["name"] == data and all(c["model_config"][k] == v for k, v in cfg.items()):
            s = ck.read_state(run)
            return {"reused": str(run), "steps": s["step"], "epochs_completed": s["epoch"],
                    "train_cpu_s": s.get("cpu_time_s"), "train_wall_s": s.get("train_time_s")}
    return train_for_cpu_budget(name, data_config(data), run, budget, cfg, TRAIN)


@torch.no_grad()
def sample_quality(model, n: int = 10000) -> dict:
    """FID and precision / recall / density / coverage (k = 5) of ``n`` samples against the first ``n`` test
    images, in the feature space of the shipped MNIST classifier (the metrics of ``evaluate_samples``)."""
    from genlab.eval import metrics as M
    from genlab.eval.features import ASSETS, get_feature_extractor

    if not (ASSETS / "mnist.safetensors").is_file():
        return {"skipped": f"no shipped MNIST feature extractor ({ASSETS / 'mnist.safetensors'}); rerun with --fid-only"}
    test_ds = load_data(DataConfig(name="mnist", root=str(SHARED), download=False), "image", "test")
    net = get_feature_extractor(test_ds)
    gen = torch.Generator().manual_seed(0)
    fake = torch.cat([model.sample(min(1000, n - i), generator=gen) for i in range(0, n, 1000)])
    fake_f, real_f = net.embed(fake)[0], net.embed(test_ds.tensors["x"][:n])[0]
    return {"n_fake": len(fake_f), "n_real": len(real_f), "fid": M.fid(fake_f, real_f), **M.prdc(real_f, fake_f, k=5),
            "extractor": {"dataset": net.meta.get("dataset"), "feat_dim": net.config["feat_dim"],
                          "test_accuracy": net.meta.get("test_accuracy")}}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=300, help="CPU seconds of training per model")
    p.add_argument("--models", default="vae,iwae")
    p.add_argument("--iw-samples", type=int, default=50, help="k of the IWAE training objective")
    p.add_argument("--nll-samples", type=int, default=1000)
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fid-n", type=int, default=10000, help="samples (and test images) for FID / PRDC")
    p.add_argument("--skip-fid", action="store_true")
    p.add_argument("--fid-only", action="store_true", help="only (re)measure the VAE's sample quality, from its run")
    p.add_argument("--runs", default="/tmp/genlab-bench/vae")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "vae_mnist.json"))
    p.add_argument("--images", default=str(ROOT / "docs" / "images"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    if args.fid_only:
        results = json.loads(Path(args.json).read_text())
        res, cpu, _ = cpu_and_wall(lambda: sample_quality(load(Path(args.runs) / "vae"), args.fid_n))
        results["models"]["vae"]["sample_quality"] = {**res, "cpu_s": round(cpu, 1), "date": datetime.date.today().isoformat()}
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(res, indent=1))
        return
    test = binarised_test(limit=args.test_limit)
    results = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()} CPU, {args.threads} thread(s), "
               "shared with other jobs", "torch": torch.__version__, "budget_cpu_s": args.budget,
               "test_images": len(test["x"]), "architecture": BURDA, "train": TRAIN, "models": {}}
    for name in args.models.split(","):
        cfg = {**BURDA, **({"iw_samples": args.iw_samples} if name == "iwae" else {})}
        run = Path(args.runs) / name
        training = trained(name, "mnist", run, args.budget, cfg)
        model = load(run)
        ks = sorted({1, 5, 50, args.nll_samples})
        res = {"config": cfg, "training": training, "test": bounds(model, test, ks)}
        print(name, json.dumps({k: round(v["nats"], 2) for k, v in res["test"].items()}), flush=True)
        if name == "vae":
            save_image_grid(model.sample(64, generator=torch.Generator().manual_seed(0)), images / "vae_mnist_samples.png")
            ds = load_data(data_config(), "image", "test")
            torch.manual_seed(0)
            z, y = encode_dataset(model, ds, limit=2000)
            plot_latent_map(z, y, images / "vae_mnist_latent_map.png", class_names=ds.info.class_names,
                            title="VAE (latent 50) codes of 2,000 MNIST test digits", max_points=2000)
            if not args.skip_fid:
                res["sample_quality"], cpu, _ = cpu_and_wall(lambda: sample_quality(model, args.fid_n))
                res["sample_quality"]["cpu_s"] = round(cpu, 1)
        results["models"][name] = res
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

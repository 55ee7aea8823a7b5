"""Representation experiments: linear AE vs PCA, a denoising AE, and a sequence autoencoder on words.

    python benchmarks/vae_latent.py [--parts pca,dae,seq] [--seq-budget 240]

- ``pca``: on grey MNIST in [0, 1], the test reconstruction error (squared error summed over the 784 pixels,
  mean over the 10,000 test images) of PCA fitted on the training set, of a linear AE (``ae`` with
  ``arch=mlp, hidden=[], decoder=gaussian``) and of a non-linear MLP AE (784-512-256-k, ReLU), each AE
  trained with Adam, batch 128 (linear: 10 epochs, lr 3e-3; MLP: 3 epochs, lr 1e-3), for k = 2, 5, 10, 20, 50.
- ``dae``: a denoising AE (MLP, masking noise 0.5, Bernoulli decoder) on grey MNIST for ``--dae-budget`` CPU
  seconds; a grid of clean / masked / reconstructed test digits in ``docs/images/vae_dae_mnist_masking.png``.
- ``seq``: ``seq-ae`` on the distinct words of tinyshakespeare.txt for ``--seq-budget`` CPU seconds: the
  share of held-out words spelled back exactly, nearest neighbours of a few words among all words, and
  interpolations between words.

Results go to ``benchmarks/results/vae_latent.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import torch

import genlab
from ar_budget import train_for_cpu_budget
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.data.words import read_items
from genlab.eval.latent import interpolate, pca_reconstruction_mse
from genlab.training import checkpoint as ck
from genlab.training import load

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WORDS = f"words:{SHARED / 'text' / 'tinyshakespeare.txt'}"
QUERIES = ["king", "love", "death", "sword", "thou", "speak", "england"]


def grey_mnist(split: str):
    return load_data(DataConfig(name="mnist", root=str(SHARED), download=False), "image", split)


@torch.no_grad()
def raw_reconstruction_mse(model, x: torch.Tensor, chunk: int = 1000) -> float:
    """Squared error of the decoder mean (not clamped to [0, 1], so a linear AE stays linear)."""
    from genlab.models.vae import likelihoods as lik

    model.eval()
    total = 0.0
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        rec = lik.mean(model.config.decoder, model.decoder_out(model.encoder_out(xb, None), None))
        total += float((xb - rec).flatten(1).pow(2).sum())
    return total / len(x)


def _finished(run: Path, model_config: dict) -> bool:
    """``run`` holds a finished run with these model settings (from an earlier, interrupted invocation)."""
    return ck.read_state(run).get("status") == "finished" and all(
        ck.read_run_config(run)["model_config"][k] == v for k, v in model_config.items())


def pca_vs_ae(runs: Path, components: list[int]) -> dict:
    train, test = grey_mnist("train"), grey_mnist("test")
    xtr, xte = train.all()["x"], test.all()["x"]
    out = {"pca": pca_reconstruction_mse(xtr, xte, components), "linear_ae": {}, "mlp_ae": {}, "cpu_s": {}}
    tc = {"batch_size": 128, "progress": False, "val_batches": 2}
    kinds = {"linear_ae": ({"arch": "mlp", "hidden": [], "decoder": "gaussian", "gaussian_std": 1.0}, {"epochs": 10, "lr": 3e-3}),
             "mlp_ae": ({"arch": "mlp", "hidden": [512, 256], "decoder": "gaussian", "gaussian_std": 1.0}, {"epochs": 3, "lr": 1e-3})}
    out["train"] = {kind: {**tc, **t} for kind, (_, t) in kinds.items()}
    for k in components:
        for kind, (cfg, t) in kinds.items():
            run, mc = runs / f"{kind}-{k}", {**cfg, "latent_dim": k}
            if not _finished(run, mc):
                genlab.train("ae", DataConfig(name="mnist", root=str(SHARED), download=False), run, model_config=mc,
                             train_config={**tc, **t}, overwrite=True)
            out[kind][k] = raw_reconstruction_mse(load(run), xte)
            out["cpu_s"][f"{kind}-{k}"] = ck.read_state(run)["cpu_time_s"]
        print(k, {key: round(out[key][k], 2) for key in ("pca", "linear_ae", "mlp_ae")}, flush=True)
    return out


def dae_grid(runs: Path, budget: float, images: Path) -> dict:
    from genlab.outputs import save_image_grid

    cfg = {"arch": "mlp", "hidden": [512, 256], "latent_dim": 32, "noise": "masking", "noise_level": 0.5}
    info = train_for_cpu_budget("dae", DataConfig(name="mnist", root=str(SHARED), download=False), runs / "dae", budget,
                                cfg, {"lr": 1e-3, "batch_size": 128})
    model = load(runs / "dae")
    x = grey_mnist("test").all(limit=16)["x"]
    noisy = model.corrupt_input(x, torch.Generator().manual_seed(0))
    rec = model.decode(model.encode(noisy))
    save_image_grid(torch.cat([x, noisy, rec]), images / "vae_dae_mnist_masking.png", nrow=16)
    clean_err = float((model.decode(model.encode(x)) - x).pow(2).flatten(1).sum(1).mean())
    return {"config": cfg, "training": info, "test16_mse_from_masked": float((rec - x).pow(2).flatten(1).sum(1).mean()),
            "test16_mse_from_clean": clean_err}


def seq_words(runs: Path, budget: float) -> dict:
    cfg = {"latent_dim": 32, "embed_dim": 32, "hidden": 256}
    info = train_for_cpu_budget("seq-ae", DataConfig(name=WORDS), runs / "seq-ae", budget, cfg, {"lr": 2e-3, "batch_size": 64})
    model = load(runs / "seq-ae")
    test = load_data(DataConfig(name=WORDS), "words", "test")
    from genlab.data.words import to_text

    held_out = to_text(test.tensors["x"], model.info.meta["vocab"])
    spelled = model.decode(model.encode(test.tensors["x"]))
    items, _ = read_items(WORDS)
    codes = torch.cat([model.encode_items(items[i:i + 2000]) for i in range(0, len(items), 2000)])
    pairs = [("king", "queen"), ("love", "hate"), ("sword", "words")]
    z = model.encode_items([a for a, _ in pairs] + [b for _, b in pairs])
    paths = interpolate(z[:len(pairs)], z[len(pairs):], 6).flatten(0, 1)
    decoded = model.decode(paths)
    return {"config": cfg, "training": info, "words": len(items), "held_out": len(held_out),
            "held_out_exact": sum(a == b for a, b in zip(spelled, held_out)) / len(held_out),
            "examples": dict(zip(held_out[:8], spelled[:8])),
            "nearest": model.nearest(QUERIES, items, k=6, codes=codes),
            "interpolations": [" -> ".join(decoded[i * 6:(i + 1) * 6]) for i in range(len(pairs))]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="pca,dae,seq")
    p.add_argument("--components", default="2,5,10,20,50")
    p.add_argument("--dae-budget", type=float, default=120)
    p.add_argument("--seq-budget", type=float, default=240)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default="/tmp/genlab-bench/latent")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "vae_latent.json"))
    p.add_argument("--images", default=str(ROOT / "docs" / "images"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs, images, path = Path(args.runs), Path(args.images), Path(args.json)
    images.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.update({"date": datetime.date.today().isoformat(), "torch": torch.__version__,
                    "machine": f"{platform.machine()} CPU, {args.threads} thread(s), shared with other jobs"})
    parts = {"pca": ("pca_vs_ae", lambda: pca_vs_ae(runs, [int(k) for k in args.components.split(",")])),
             "dae": ("dae", lambda: dae_grid(runs, args.dae_budget, images)),
             "seq": ("seq_ae", lambda: seq_words(runs, args.seq_budget))}
    path.parent.mkdir(parents=True, exist_ok=True)
    for part in args.parts.split(","):
        key, fn = parts[part]
        results[key] = fn()
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"{part} done: wrote {path}", flush=True)


if __name__ == "__main__":
    main()

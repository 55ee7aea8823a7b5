"""Audit of genlab's image metrics: against independent implementations, for calibration, and for how the
feature space ranks damage. Writes benchmarks/results/eval_audit.json.

    python benchmarks/eval_audit.py [--root ../shared/data] [--n 2000] [--v1-dir DIR]
    # or in parallel parts, merged afterwards (CPU seconds add up):
    python benchmarks/eval_audit.py --part agreement --out /tmp/a.json   # likewise calibration,
    python benchmarks/eval_audit.py --merge /tmp/a.json /tmp/c.json ...  # ranking-mnist, ranking-fashion-mnist

1. Agreement with independent code on synthetic features: FID against scipy (``sqrtm``) and torchmetrics,
   KID against torchmetrics, Inception Score against scipy (softmax + entropy), precision / recall /
   density / coverage against the ``prdc`` package, class coverage against numpy. Packages not installed
   are reported as such (``pip install -e .[audit]``).
2. Calibration: coverage of the 95% FID interval on Gaussians with a known FID; the birthday estimate
   on uniform distributions with a known support; false alarms and detection of the copy test on MNIST.
3. Damage ranking (MNIST and Fashion-MNIST): test images damaged in 17 ways (noise, shifts, blur,
   occlusion, salt-and-pepper, contrast) scored against other test images by FID in the shipped extractor's
   features, in pixel space and in a randomly initialised network of the same architecture; Spearman
   correlations between the three rankings. ``--v1-dir`` (a folder holding the version-1 extractors, e.g.
   written with ``git show c5f52d8:genlab/assets/features/mnist.safetensors``, and the .json beside them)
   adds the same for extractor version 1.

Single-threaded; CPU seconds (``time.process_time``) per part are recorded.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from genlab.config import DataConfig
from genlab.data import load_data
from genlab.eval import metrics as M
from genlab.eval.features import FeatureNet, get_feature_extractor, load_feature_net

ROOT = Path(__file__).resolve().parents[1]


def gauss(n, d, seed, shift=0.0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


# ----------------------------------------------------------------------------- 1. independent implementations


def agreement() -> dict:
    out = {}
    a, b = gauss(1500, 32, 0), gauss(1500, 32, 1, shift=0.2, scale=1.1)
    import scipy.linalg

    mu1, mu2 = a.mean(0).numpy(), b.mean(0).numpy()
    c1, c2 = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    ref = float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(scipy.linalg.sqrtm(c1 @ c2).real))
    ours = M.fid(a, b)
    out["fid_vs_scipy"] = {"genlab": ours, "reference": ref, "abs_diff": abs(ours - ref)}

    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        class Identity(torch.nn.Module):
            num_features = 32

            def forward(self, x):
                return x

        tm = FrechetInceptionDistance(feature=Identity())
        tm.update(a, real=True)
        tm.update(b, real=False)
        ref = float(tm.compute())
        out["fid_vs_torchmetrics"] = {"genlab": ours, "reference": ref, "abs_diff": abs(ours - ref)}
        tk = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=1500)
        tk.update(a, real=True)
        tk.update(b, real=False)
        ref = float(tk.compute()[0])
        mine = M.kid(a, b, subsets=1, subset_size=1500)[0]
        out["kid_vs_torchmetrics"] = {"genlab": mine, "reference": ref, "abs_diff": abs(mine - ref),
                                      "rel_diff": abs(mine - ref) / abs(ref)}
    except ImportError as e:
        out["torchmetrics"] = f"not installed: {e}"

    from scipy.special import softmax
    from scipy.stats import entropy

    logits = gauss(1000, 10, 2, scale=3.0)
    p = softmax(logits.numpy(), axis=1)
    ref = float(np.exp(np.mean([entropy(row, p.mean(0)) for row in p])))
    mine = M.inception_score(logits, splits=1, seed=None)[0]
    out["inception_score_vs_scipy"] = {"genlab": mine, "reference": ref, "abs_diff": abs(mine - ref)}

    try:
        import prdc

        x, y = gauss(1000, 16, 3), gauss(1000, 16, 4, shift=0.3)
        ref = prdc.compute_prdc(real_features=x.numpy(), fake_features=y.numpy(), nearest_k=5)
        mine = M.prdc(x, y, k=5)
        out["prdc_vs_prdc_package"] = {k: {"genlab": mine[k], "reference": float(ref[k]),
                                           "abs_diff": abs(mine[k] - float(ref[k]))}
                                       for k in ("precision", "recall", "density", "coverage")}
    except ImportError as e:
        out["prdc"] = f"not installed: {e}"

    labels = torch.randint(0, 10, (1000,), generator=torch.Generator().manual_seed(5)) % 7
    counts = np.bincount(labels.numpy(), minlength=10)
    ref_cov = float((counts > 0).mean())
    pp = counts[counts > 0] / counts.sum()
    ref_kl = float((pp * np.log(pp * 10)).sum())
    mine = M.class_mode_coverage(labels, 10)
    out["class_coverage_vs_numpy"] = {"covered": [mine["covered"], ref_cov], "kl_uniform": [mine["kl_uniform"], ref_kl],
                                      "abs_diff": max(abs(mine["covered"] - ref_cov), abs(mine["kl_uniform"] - ref_kl))}
    return out


# ----------------------------------------------------------------------------- 2. calibration


def calibration(train_x, test_x, test_y, train_y, net) -> dict:
    out = {}
    shift, scale = torch.tensor([0.5, 0.0, -0.2], dtype=torch.float64), torch.tensor([1.5, 0.7, 1.0], dtype=torch.float64)
    true = float(shift.square().sum() + (1 + scale.square() - 2 * scale).sum())
    hits, reps = 0, 300
    for r in range(reps):
        g = torch.Generator().manual_seed(10_000 + r)
        a = torch.randn(800, 3, generator=g, dtype=torch.float64)
        b = torch.randn(800, 3, generator=g, dtype=torch.float64) * scale + shift
        ci = M.fid_interval(a, b, n_boot=100, seed=r)["ci"]
        hits += ci[0] <= true <= ci[1]
    out["fid_interval_coverage"] = {"nominal": 0.95, "measured": hits / reps, "reps": reps, "n": 800, "dims": 3,
                                    "true_fid": true}

    rows = []
    for support in (100, 300, 1000, 3000, 10_000):
        for seed in range(5):
            g = torch.Generator().manual_seed(seed)
            atoms = torch.randn(support, 4, generator=g, dtype=torch.float64)
            b = M.birthday_support(atoms[torch.randint(0, support, (5000,), generator=g)], threshold=1e-6, seed=seed)
            rows.append({"support": support, "seed": seed, "estimate": b["support"], "ci": b["ci"],
                         "rel_error": b["support"] / support - 1, "ci_covers": b["ci"][0] <= support <= b["ci"][1]})
    out["birthday"] = {"n_samples": 5000, "trials": rows,
                       "max_abs_rel_error": max(abs(r["rel_error"]) for r in rows),
                       "ci_coverage": sum(r["ci_covers"] for r in rows) / len(rows)}

    train_f = net.embed(train_x)[0]
    test_f = net.embed(test_x)[0]
    s = M.copy_scores(test_x.float() / 255, test_f, train_x, train_f)["ratio"]
    flags, one_class = 0, 0
    draws = 500
    for seed in range(draws):
        perm = torch.randperm(len(s), generator=torch.Generator().manual_seed(seed))
        cal, fresh = perm[:500], perm[500:1000]
        flags += M.copy_test(s[fresh], s[cal], test_y[fresh], test_y[cal])["flagged"]
    for c in range(10):
        members = (test_y == c).nonzero().flatten()
        rest = (test_y != c).nonzero().flatten()
        cal = torch.cat([members[:50], rest[:450]])
        one_class += M.copy_test(s[members[50:250]], s[cal], test_y[members[50:250]], test_y[cal])["flagged"]
    det = {}
    src = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(1))[:500]
    cal = torch.arange(500)
    for name in ("exact", "noise_0.05", "noise_0.1", "shift_1px", "shift_2px"):
        x = train_x[src].float() / 255
        if name.startswith("noise"):
            x = (x + float(name.split("_")[1]) * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
        elif name.startswith("shift"):
            k = int(name[6])
            x = torch.nn.functional.pad(x, (k, 0, k, 0))[:, :, :28, :28]
        sc = M.copy_scores(x, net.embed(x)[0], train_x, train_f)["ratio"]
        r = M.copy_test(sc, s[cal], net.embed(x)[1].argmax(1), test_y[cal])
        det[name] = {"copy_fraction": r["copy_fraction"], "flagged": r["flagged"]}
    out["copy_test"] = {"n_train": len(train_x), "n": 500, "false_alarm_rate_fresh_real": flags / draws, "draws": draws,
                        "one_class_fresh_flagged": f"{one_class} of 10 classes", "detection": det}
    return out


# ----------------------------------------------------------------------------- 3. damage ranking


def damage(x: torch.Tensor, kind: str, level: float, g: torch.Generator) -> torch.Tensor:
    if kind == "none":
        return x
    if kind == "noise":
        return (x + level * torch.randn(x.shape, generator=g)).clamp(0, 1)
    if kind == "shift":
        k = int(level)
        return torch.nn.functional.pad(x, (k, 0, k, 0))[:, :, : x.shape[2], : x.shape[3]]
    if kind == "blur":
        k = 2 * int(level) + 1
        return torch.nn.functional.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)
    if kind == "occlusion":
        s = int(level)
        out = x.clone()
        ij = torch.randint(0, x.shape[2] - s + 1, (len(x), 2), generator=g)
        rows = torch.arange(x.shape[2])
        m = ((rows[None, :] >= ij[:, :1]) & (rows[None, :] < ij[:, :1] + s))[:, :, None] & \
            ((rows[None, :] >= ij[:, 1:]) & (rows[None, :] < ij[:, 1:] + s))[:, None, :]
        return out.masked_fill(m[:, None], 0.0)
    if kind == "salt_pepper":
        u = torch.rand(x.shape, generator=g)
        return torch.where(u < level / 2, torch.zeros_like(x), torch.where(u > 1 - level / 2, torch.ones_like(x), x))
    if kind == "contrast":
        return 0.5 + (x - 0.5) * level
    raise ValueError(kind)


CONDITIONS = [("none", 0)] + [("noise", s) for s in (0.05, 0.1, 0.2, 0.3)] + [("shift", k) for k in (1, 2, 3)] + \
             [("blur", r) for r in (1, 2)] + [("occlusion", s) for s in (6, 10, 14)] + \
             [("salt_pepper", p) for p in (0.02, 0.05, 0.1)] + [("contrast", c) for c in (0.7, 0.5)]


def ranking(test_x: torch.Tensor, test_y: torch.Tensor, nets: dict, n: int) -> dict:
    from scipy.stats import spearmanr

    ref = test_x[:n].float() / 255
    pool = test_x[n : 2 * n].float() / 255
    ref_feats = {name: net.embed(ref)[0] for name, net in nets.items()}
    rows = []
    for kind, level in CONDITIONS:
        x = damage(pool, kind, level, torch.Generator().manual_seed(0))
        row = {"damage": kind, "level": level, "fid_pixels": M.fid(x.flatten(1).double(), ref.flatten(1).double())}
        for name, net in nets.items():
            f, logits = net.embed(x)
            row[f"fid_{name}"] = M.fid(f, ref_feats[name])
            if name != "random":
                row[f"accuracy_{name}"] = float((logits.argmax(1) == test_y[n : 2 * n]).double().mean())
        rows.append(row)
    spear = {}
    for name in nets:
        if name == "random":
            continue
        v = [r[f"fid_{name}"] for r in rows]
        spear[name] = {"vs_pixel_fid": float(spearmanr(v, [r["fid_pixels"] for r in rows])[0]),
                       "vs_random_network_fid": float(spearmanr(v, [r["fid_random"] for r in rows])[0])}
    return {"n": n, "conditions": rows, "spearman": spear}


def _finite(v):
    """JSON without Infinity: inf becomes the string "inf"."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--n", type=int, default=2000, help="images per side in the damage ranking")
    p.add_argument("--v1-dir", default=None, help="folder with version-1 extractors (<name>.safetensors + .json)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "eval_audit.json"))
    p.add_argument("--part", choices=["all", "agreement", "calibration", "ranking-mnist", "ranking-fashion-mnist"],
                   default="all")
    p.add_argument("--merge", nargs="+", default=None, help="merge part files into --out")
    args = p.parse_args(argv)
    if args.merge:
        result = {}
        for f in args.merge:
            part = json.loads(Path(f).read_text())
            for k, v in part.items():
                if isinstance(v, dict) and isinstance(result.get(k), dict):
                    result[k].update(v)
                elif k != "cpu_seconds_total":
                    result.setdefault(k, v)
        result["cpu_seconds_total"] = round(sum(result["cpu_seconds"].values()), 1)
        Path(args.out).write_text(json.dumps(_finite(result), indent=2) + "\n")
        print(f"wrote {args.out}: {result['cpu_seconds']}")
        return
    torch.set_num_threads(1)
    cpu = {}
    result = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "torch": torch.__version__, "threads": 1}
    want = lambda part: args.part in ("all", part)  # noqa: E731
    if want("agreement"):
        c = time.process_time()
        result["agreement"] = agreement()
        cpu["agreement"] = time.process_time() - c

    def dataset(name):
        cfg = DataConfig(name=name, root=args.root, download=False)
        tr, te = load_data(cfg, "image", "train"), load_data(cfg, "image", "test")
        return tr.tensors["x"], tr.tensors["y"], te.tensors["x"], te.tensors["y"]

    if want("calibration"):
        c = time.process_time()
        tx, ty, sx, sy = dataset("mnist")
        result["calibration"] = calibration(tx[:5000], sx[:4000], sy[:4000], ty[:5000], get_feature_extractor("mnist"))
        cpu["calibration"] = time.process_time() - c
    for name in ("mnist", "fashion-mnist"):
        if not want(f"ranking-{name}"):
            continue
        c = time.process_time()
        tx, ty, sx, sy = dataset(name)
        net = get_feature_extractor(name)
        torch.manual_seed(0)
        nets = {"v2": net, "random": FeatureNet(1, 28, 10, 128).eval()}
        if args.v1_dir and (Path(args.v1_dir) / f"{name}.safetensors").is_file():
            nets["v1"] = load_feature_net(Path(args.v1_dir) / f"{name}.safetensors")
        r = ranking(sx, sy, nets, args.n)
        r["extractors"] = {k: {"version": v.meta.get("version", 1), "test_accuracy": v.meta.get("test_accuracy")}
                           for k, v in nets.items() if k != "random"}
        result.setdefault("ranking", {})[name] = r
        cpu[f"ranking_{name}"] = time.process_time() - c
    result["cpu_seconds"] = {k: round(v, 1) for k, v in cpu.items()}
    result["cpu_seconds_total"] = round(sum(cpu.values()), 1)
    Path(args.out).write_text(json.dumps(_finite(result), indent=2) + "\n")
    print(json.dumps(_finite({k: v for k, v in result.items() if k in ("agreement", "cpu_seconds")}), indent=1)[:3000])

if __name__ == "__main__":
    main()

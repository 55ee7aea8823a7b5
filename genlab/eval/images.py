"""All image metrics for one set of generated samples, in one call.

``evaluate_samples(fake_x, train_ds, test_ds)`` embeds the samples, the held-out test images (the
reference distribution) and the training images (for the copy detector) with the dataset's feature
extractor and returns a JSON-ready dict: every metric with the sample counts it was computed on, the
same metrics for real training images against the test images (``baseline``: what a perfect model scores
at this sample size) and the wall and CPU seconds each step took.
"""
from __future__ import annotations

import time

import torch

from . import metrics as M
from .features import FeatureNet, get_feature_extractor


class _Timer(dict):
    """``with timer("step"):`` records wall seconds in ``timer`` and CPU seconds (all threads) in ``.cpu``."""

    def __init__(self, log=None):
        super().__init__()
        self.cpu: dict[str, float] = {}
        self.log = log

    def __call__(self, key: str):
        timer = self

        class _T:
            def __enter__(self):
                self.t, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                timer[key] = round(time.perf_counter() - self.t, 3)
                timer.cpu[key] = round(time.process_time() - self.c, 3)
                if timer.log:
                    timer.log(f"{key}: {timer[key]:.2f}s wall, {timer.cpu[key]:.2f}s CPU")

        return _T()


def _subset(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    if len(x) <= n:
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]


def evaluate_samples(fake_x: torch.Tensor, train_ds, test_ds, extractor: FeatureNet | None = None, *, n: int = 10_000,
                     fake_labels: torch.Tensor | None = None, k: int = 5, kid_subset_size: int = 1000,
                     baseline: bool = True, seed: int = 0, train_feats: torch.Tensor | None = None,
                     log=None) -> dict:
    """Sample-quality, diversity and memorisation metrics of generated images.

    ``fake_x``: float (N, C, H, W) in [0, 1]; the first ``n`` are used. ``train_ds`` / ``test_ds``: the
    model's labelled image datasets (their raw uint8 "x"); up to ``n`` test images (a seeded random subset)
    are the reference for FID, KID, PRDC and the birthday test; the whole training set is searched for
    near-copies. ``fake_labels``: the labels a conditional model was asked for, giving the share the
    classifier agrees with. ``train_feats``: precomputed training-set features (they take the longest).
    ``log``: optional ``print``-like function told the time of each step as it ends.
    """
    net = extractor if extractor is not None else get_feature_extractor(train_ds)
    feat_dim = net.config["feat_dim"]
    fake_x = fake_x[:n]
    if len(fake_x) <= feat_dim:
        raise ValueError(f"need more than {feat_dim} samples (the feature dimension) for FID, got {len(fake_x)}")
    t = _Timer(log)
    real_x = _subset(test_ds.tensors["x"], n, seed)
    with t("features_fake"):
        fake_f, fake_logits = net.embed(fake_x)
    with t("features_real"):
        real_f, real_logits = net.embed(real_x)
    with t("features_train"):
        if train_feats is None:
            train_feats = net.embed(train_ds.tensors["x"])[0]
    nf, nr = len(fake_f), len(real_f)
    m = min(kid_subset_size, nf, nr)
    num_classes = net.config["num_classes"]
    splits = 10 if nf >= 100 else 1

    def quality(a: torch.Tensor, a_logits: torch.Tensor, timed: bool) -> dict:
        out = {}
        with t("fid" if timed else "baseline_fid"):
            out["fid"] = {"value": M.fid(a, real_f), "n_fake": len(a), "n_real": nr}
        with t("kid" if timed else "baseline_kid"):
            mean, std = M.kid(a, real_f, subset_size=m, seed=seed)
            out["kid"] = {"mean": mean, "std": std, "subsets": 100, "subset_size": m}
        with t("inception_score" if timed else "baseline_inception_score"):
            mean, std = M.inception_score(a_logits, splits=splits)
            out["inception_score"] = {"mean": mean, "std": std, "splits": splits, "n": len(a)}
        with t("prdc" if timed else "baseline_prdc"):
            out["prdc"] = {**M.prdc(real_f, a, k=k), "n_fake": len(a), "n_real": nr}
        if num_classes:  # the extractor's classes are the dataset's (not so for Inception's ImageNet classes)
            with t("class_modes" if timed else "baseline_class_modes"):
                out["class_modes"] = {**M.class_mode_coverage(a_logits.argmax(1), num_classes), "n": len(a)}
        return out

    result = {"n_fake": nf, "n_real": nr, "n_train": len(train_feats), **quality(fake_f, fake_logits, True)}
    with t("memorisation"):
        mem = M.memorisation(fake_f, train_feats, real_f)
        result["memorisation"] = {k_: v for k_, v in mem.items() if k_ not in ("fake_nn", "test_nn")}
    with t("birthday"):
        thr = M.calibrate_birthday_threshold(real_f)
        result["birthday"] = {"fake": M.birthday_support(fake_f, thr, seed=seed),
                              "real": M.birthday_support(real_f, thr, seed=seed), "n": min(nf, nr)}
    if fake_labels is not None and num_classes:
        agree = fake_logits.argmax(1) == torch.as_tensor(fake_labels)[:nf].cpu()
        result["conditional_accuracy"] = {"value": float(agree.double().mean()), "n": nf}
    if baseline:
        base_f = _subset(train_feats, nf, seed + 1)  # real training images, already embedded
        with torch.no_grad():
            base_logits = net.eval().head(base_f.float().to(next(net.parameters()).device)).cpu()
        result["baseline"] = {"what": f"{len(base_f)} training images vs the same test images",
                              **quality(base_f, base_logits, False)}
    result["extractor"] = {"dataset": net.meta.get("dataset"), "feat_dim": feat_dim,
                           "test_accuracy": net.meta.get("test_accuracy"),
                           **{k_: net.meta[k_] for k_ in ("weights", "sha256") if k_ in net.meta}}
    result["seconds"] = dict(t)
    result["cpu_seconds"] = t.cpu
    return result

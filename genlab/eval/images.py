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


MAX_BOOT_DIM = 256  # FID bootstrap intervals up to this feature dimension (genlab's extractors: 128)


def _split(n_total: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of range(n_total): the first ``n`` (or all) indices, and the rest."""
    perm = torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))
    return perm[:n], perm[n:]


def _subset(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    if len(x) <= n:
        return x
    return x[_split(len(x), n, seed)[0]]


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def evaluate_samples(fake_x: torch.Tensor, train_ds, test_ds, extractor: FeatureNet | None = None, *, n: int = 10_000,
                     fake_labels: torch.Tensor | None = None, k: int = 5, kid_subset_size: int = 1000,
                     baseline: bool = True, seed: int = 0, train_feats: torch.Tensor | None = None,
                     heldout_x: torch.Tensor | None = None, heldout_what: str = "", n_boot: int = 100,
                     level: float = 0.95, log=None) -> dict:
    """Sample-quality, diversity and memorisation metrics of generated images, each with its sample counts
    and (where one exists) a confidence interval at ``level``.

    ``fake_x``: float (N, C, H, W) in [0, 1]; the first ``n`` are used. ``train_ds`` / ``test_ds``: the
    model's labelled image datasets (their raw uint8 "x"); up to ``n`` test images (a seeded random subset)
    are the reference for FID, KID, PRDC and the birthday test, and the held-out calibration set of the
    copy test; the whole training set is searched for near-copies. ``fake_labels``: the labels a
    conditional model was asked for, giving the share the classifier agrees with. ``train_feats``:
    precomputed training-set features (they take the longest). ``log``: optional ``print``-like function
    told the time of each step as it ends.

    ``baseline``: also score real images that were not trained on and are not in the reference set — the
    test images left over after the reference subset, plus ``heldout_x`` (e.g. training-file images a
    ``data.limit`` run never saw; ``heldout_what`` says what they are) — at the same count as the samples.
    When fewer such images exist the row is scored on what there is with a ``warning`` giving the numbers,
    and left out (``skipped``) when there are too few for FID.
    """
    net = extractor if extractor is not None else get_feature_extractor(train_ds)
    feat_dim = net.config["feat_dim"]
    fake_x = fake_x[:n]
    if len(fake_x) <= feat_dim:
        raise ValueError(f"need more than {feat_dim} samples (the feature dimension) for FID, got {len(fake_x)}")
    t = _Timer(log)
    test_x = test_ds.tensors["x"]
    ref_idx, rest_idx = _split(len(test_x), n, seed)
    real_x = test_x[ref_idx]
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
    train_x = train_ds.tensors["x"]
    real_cls = real_logits.argmax(1) if num_classes else None
    with t("copy_calibration"):  # copy scores of the held-out reference images: the test's calibration
        real_scores = M.copy_scores(_as_float(real_x), real_f, train_x, train_feats)["ratio"]

    def quality(a_x: torch.Tensor, a: torch.Tensor, a_logits: torch.Tensor, timed: bool) -> dict:
        out = {"n_fake": len(a), "n_real": nr}
        pre = "" if timed else "baseline_"
        with t(pre + "fid"):
            if feat_dim <= MAX_BOOT_DIM:
                out["fid"] = {**M.fid_interval(a, real_f, n_boot=n_boot, level=level, seed=seed), "n_fake": len(a), "n_real": nr}
            else:  # each resample costs an eigendecomposition of a feat_dim² matrix: too slow for Inception's 2,048
                out["fid"] = {"value": M.fid(a, real_f), "ci": None, "n_fake": len(a), "n_real": nr,
                              "interval": f"not computed above {MAX_BOOT_DIM} feature dimensions (cost)"}
        with t(pre + "kid"):
            out["kid"] = M.kid_interval(a, real_f, subset_size=min(m, len(a)), level=level, seed=seed)
        with t(pre + "inception_score"):
            sp = splits if len(a) >= 100 else 1
            mean, std = M.inception_score(a_logits, splits=sp, seed=seed)
            out["inception_score"] = {"mean": mean, "std": std, "splits": sp, "n": len(a), "shuffled_seed": seed}
        with t(pre + "prdc"):
            out["prdc"] = M.prdc_interval(real_f, a, k=k, level=level, seed=seed)
        cls = a_logits.argmax(1) if num_classes else None
        if num_classes:  # the extractor's classes are the dataset's (not so for Inception's ImageNet classes)
            with t(pre + "class_modes"):
                out["class_modes"] = {**M.class_mode_interval(cls, num_classes, level=level, seed=seed), "n": len(a)}
        with t(pre + "memorisation"):
            sc = M.copy_scores(_as_float(a_x), a, train_x, train_feats)
            test = M.copy_test(sc["ratio"], real_scores, cls, real_cls)
            test.pop("below")
            out["memorisation"] = {
                **test, "score": "d1/d2: pixel L2 distance (minimised over shifts of up to 1 pixel) to the nearest "
                "training image over that to the second-nearest, among 50 candidates found in feature space",
                "calibration": f"{nr} held-out test images (the reference set), per predicted class" if num_classes
                else f"{nr} held-out test images (the reference set)",
                "score_quantiles": {str(q): float(torch.quantile(sc["ratio"], q)) for q in (0.01, 0.05, 0.5)},
                "calibration_quantiles": {str(q): float(torch.quantile(real_scores, q)) for q in (0.01, 0.05, 0.5)},
                "n_train": len(train_x),
            }
        with t(pre + "birthday"):
            out["birthday"] = {"fake": M.birthday_support(a, thr, seed=seed, level=level), "real": real_support,
                               "n_fake": len(a), "n_real": nr}
        return out

    with t("birthday_real"):
        thr = M.calibrate_birthday_threshold(real_f)
        real_support = M.birthday_support(real_f, thr, seed=seed, level=level)
    result = {"n_fake": nf, "n_real": nr, "n_train": len(train_feats), **quality(fake_x, fake_f, fake_logits, True)}
    if fake_labels is not None and num_classes:
        agree = fake_logits.argmax(1) == torch.as_tensor(fake_labels)[:nf].cpu()
        result["conditional_accuracy"] = {"value": float(agree.double().mean()), "n": nf}
    if baseline:
        pool = test_x[rest_idx]
        what = [f"{len(rest_idx)} test images outside the reference set"]
        if heldout_x is not None and len(heldout_x):
            pool = torch.cat([pool, heldout_x.to(pool.dtype)])
            what.append(f"{len(heldout_x)} {heldout_what or 'other held-out images'}")
        pool = _subset(pool, nf, seed + 1)
        source = " + ".join(what)
        if len(pool) <= feat_dim:
            result["baseline"] = {"skipped": f"no held-out real row: it needs {nf} real images that were neither trained "
                                  f"on nor in the {nr}-image reference set; available: {source} (FID needs more "
                                  f"than {feat_dim}). Use a smaller -n (at most {len(test_x) // 2} here)"}
        else:
            with t("features_baseline"):
                base_f, base_logits = net.embed(pool)
            base = {"what": f"{len(pool)} held-out real images ({source}), disjoint from the training split and "
                            f"from the reference set", "held_out": True, **quality(pool, base_f, base_logits, False),
                    "_images": pool}
            if len(pool) < nf:
                base["warning"] = (f"scored on {len(pool)} held-out images, fewer than the {nf} samples (only {source} "
                                   f"exist): its FID/KID/coverage are not comparable with the models' at n = {nf}")
            result["baseline"] = base
    result["extractor"] = {"dataset": net.meta.get("dataset"), "feat_dim": feat_dim,
                           "test_accuracy": net.meta.get("test_accuracy"), "version": net.meta.get("version", 1),
                           "augmentation": net.meta.get("augmentation"),
                           **{k_: net.meta[k_] for k_ in ("weights", "sha256", "date") if k_ in net.meta}}
    result["level"] = level
    result["seconds"] = dict(t)
    result["cpu_seconds"] = t.cpu
    return result

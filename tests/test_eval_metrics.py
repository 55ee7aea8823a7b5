"""Known-answer tests of genlab.eval.metrics on small synthetic features."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.eval import metrics as M


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: a second thread only adds contention on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def gauss(n, d=8, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def random_spd(d, seed):
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


# ----------------------------------------------------------------------------- Fréchet / FID


def test_frechet_distance_diagonal_closed_form():
    g = torch.Generator().manual_seed(1)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    s1, s2 = torch.rand(6, generator=g, dtype=torch.float64) + 0.1, torch.rand(6, generator=g, dtype=torch.float64) + 0.1
    expected = float((mu1 - mu2).square().sum() + (s1 + s2 - 2 * (s1 * s2).sqrt()).sum())
    got = M.frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2))
    assert got == pytest.approx(expected, abs=1e-6)


def test_frechet_distance_full_covariances_match_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    c1, c2 = random_spd(10, 0).numpy(), random_spd(10, 1).numpy()
    mu1, mu2 = np.zeros(10), np.full(10, 0.5)
    covmean = scipy_linalg.sqrtm(c1 @ c2).real
    expected = float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))
    assert M.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, abs=1e-6)
    assert M.frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-9)


def test_fid_same_and_shifted():
    a, b = gauss(2000, seed=0), gauss(2000, seed=1)
    assert M.fid(a, a) == pytest.approx(0.0, abs=1e-8)
    same = M.fid(a, b)
    shifted = M.fid(a, gauss(2000, shift=1.0, seed=1))
    assert same < 0.1
    assert shifted == pytest.approx(8.0, rel=0.1)  # ||shift||² = d = 8


# ----------------------------------------------------------------------------- KID / IS


def test_kid_is_unbiased_and_detects_shift():
    means = [M.kid(gauss(300, seed=2 * i), gauss(300, seed=2 * i + 1), subsets=5, subset_size=100)[0] for i in range(40)]
    means = np.array(means)
    assert abs(means.mean()) < 3 * means.std() / math.sqrt(len(means))
    mean, std = M.kid(gauss(300, seed=0), gauss(300, shift=0.5, seed=1), subsets=10, subset_size=100)
    assert mean > 10 * means.std() and std >= 0


def test_kid_exact_on_full_sets():
    """One subset equal to the whole sets: the plain unbiased MMD² formula, computed here by hand."""
    a, b = gauss(50, d=4, seed=0), gauss(50, d=4, shift=0.3, seed=1)
    k = lambda x, y: (x @ y.T / 4 + 1) ** 3  # noqa: E731
    m = 50
    kxx, kyy, kxy = k(a, a), k(b, b), k(a, b)
    expected = (kxx.sum() - kxx.trace() + kyy.sum() - kyy.trace()) / (m * (m - 1)) - 2 * kxy.mean()
    mean, std = M.kid(a, b, subsets=3, subset_size=50)
    assert mean == pytest.approx(float(expected), rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_extremes():
    assert M.inception_score(torch.zeros(100, 10), splits=2)[0] == pytest.approx(1.0)
    confident = 50.0 * torch.eye(10).repeat(20, 1)  # every class equally often, each prediction certain
    mean, std = M.inception_score(confident, splits=4, seed=None)  # consecutive splits, each balanced
    assert mean == pytest.approx(10.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)


def test_inception_score_does_not_depend_on_order():
    """A class-sorted input: consecutive splits would each hold one class (IS ~1); shuffled ones do not."""
    confident = 50.0 * torch.eye(10).repeat_interleave(100, 0)  # 100 of class 0, then 100 of class 1, ...
    assert M.inception_score(confident, splits=10, seed=None)[0] == pytest.approx(1.0, abs=1e-6)
    sorted_is = M.inception_score(confident, splits=10)[0]
    shuffled_is = M.inception_score(confident[torch.randperm(1000)], splits=10)[0]
    assert sorted_is > 9.0 and sorted_is == pytest.approx(shuffled_is, rel=0.05)


# ----------------------------------------------------------------------------- PRDC


def naive_prdc(x, y, k):
    rx = torch.cdist(x, x).sort(1).values[:, k]
    ry = torch.cdist(y, y).sort(1).values[:, k]
    d = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
    return {
        "precision": float((d < rx[:, None]).any(0).double().mean()),
        "recall": float((d < ry[None, :]).any(1).double().mean()),
        "density": float((d < rx[:, None]).sum().double() / (k * len(y))),
        "coverage": float((d.min(1).values < rx).double().mean()),
    }


def test_prdc_identical_sets():
    x = gauss(500)
    out = M.prdc(x, x.clone(), k=5)
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    assert out["density"] == 1.0  # exact radii: each ball holds itself and its k - 1 nearest, no tie errors
    far = gauss(3000, d=64, seed=5) * 1e-3 + 1e3  # float32 search cannot separate these distances
    assert M.prdc(far, far.clone(), k=5)["density"] == 1.0


def test_prdc_matches_brute_force(monkeypatch):
    monkeypatch.setattr(M, "MAX_CHUNK_BYTES", 40_000)  # force many chunks
    x, y = gauss(400, seed=0), gauss(300, shift=0.3, seed=1)
    got, want = M.prdc(x, y, k=3), naive_prdc(x, y, 3)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_nn_distances_chunked_match_cdist(monkeypatch):
    monkeypatch.setattr(M, "MAX_CHUNK_BYTES", 10_000)
    x, y = gauss(200, seed=0) + 100, gauss(150, seed=1) + 100  # far from the origin: tests centring
    want = torch.cdist(x, y).topk(3, largest=False).values
    assert torch.allclose(M.nn_distances(x, y, 3), want, atol=1e-9)
    dxx = torch.cdist(x, x).fill_diagonal_(math.inf)
    assert torch.allclose(M.nn_distances(x, x, 2, exclude_self=True), dxx.topk(2, largest=False).values, atol=1e-9)


def test_single_image_generator_has_no_diversity():
    real = gauss(1000)
    fake = real[:1].repeat(500, 1)
    out = M.prdc(real, fake, k=5)
    assert out["coverage"] <= 10 / len(real) and out["recall"] == 0.0
    thr = M.calibrate_birthday_threshold(real)
    b = M.birthday_support(fake, thr)
    assert b["support"] == pytest.approx(1.0) and b["duplicate_rate"] == 1.0 and b["batch_size"] == 2


def test_birthday_support_of_discrete_distribution():
    atoms = gauss(300, seed=3)
    samples = atoms[torch.randint(0, 300, (2000,), generator=torch.Generator().manual_seed(0))]
    b = M.birthday_support(samples, threshold=1e-6, trials=100)
    assert 300 * 0.85 < b["support"] < 300 * 1.15 and b["ci"][0] < b["support"] < b["ci"][1]
    assert 0.3 < b["duplicate_rate"] < 0.7 and b["predicted_rate"] == pytest.approx(0.5, abs=0.05)
    fixed = M.birthday_support(samples, threshold=1e-6, batch_size=20, trials=100)
    assert fixed["batch_size"] == 20 and 0 < fixed["duplicate_rate"] < 1 and fixed["support"] == b["support"]
    none = M.birthday_support(gauss(500, seed=1), threshold=1e-6)
    assert none["support"] == math.inf and none["ci"][0] == pytest.approx(500 * 499 / 6)


@pytest.mark.parametrize("support", [100, 1000, 10_000])
def test_birthday_estimate_within_15_percent(support):
    """Default settings, 5,000 samples of a uniform distribution on ``support`` points: every estimate of
    several independent draws lies within 15% of the truth, and the intervals are not absurdly wide."""
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        atoms = torch.randn(support, 4, generator=g, dtype=torch.float64)
        b = M.birthday_support(atoms[torch.randint(0, support, (5000,), generator=g)], threshold=1e-6, seed=seed)
        assert abs(b["support"] / support - 1) < 0.15, (support, seed, b["support"])
        assert b["ci"][0] < b["support"] < b["ci"][1] < 2 * support


def test_birthday_batch_search_fallback_agrees(monkeypatch):
    """With too many close pairs to list, each batch is searched directly: same duplicate rates."""
    atoms = gauss(50, seed=4)
    samples = atoms[torch.randint(0, 50, (400,), generator=torch.Generator().manual_seed(1))]
    listed = M.birthday_support(samples, threshold=1e-6, trials=30)
    monkeypatch.setattr(M, "_close_pairs", lambda x, thr: None)
    assert M.birthday_support(samples, threshold=1e-6, trials=30) == listed


def test_support_from_rate_inverts_birthday_formula():
    n, s = 1000, 40
    p = 1 - np.prod(1 - np.arange(1, s) / n)
    assert M._support_from_rate(s, p) == pytest.approx(n, rel=1e-6)
    assert M._support_from_rate(s, 0.0) == math.inf


# ----------------------------------------------------------------------------- memorisation, modes, NLL


def test_memorisation_flags_copies_not_fresh_samples():
    train, test = gauss(2000, seed=0), gauss(1000, seed=1)
    copies = M.memorisation(train[:500], train, test)
    assert copies["flagged"] and copies["copy_fraction"] == 1.0
    assert copies["fake_to_train_quantiles"]["0.5"] == 0.0
    fresh = M.memorisation(gauss(500, seed=2), train, test)
    assert not fresh["flagged"] and fresh["copy_fraction"] < 0.05
    assert fresh["n_fake"] == 500 and fresh["n_test"] == 1000 and len(fresh["fake_nn"]) == 500


def test_memorisation_partial_copies():
    train, test = gauss(2000, seed=0), gauss(1000, seed=1)
    fake = torch.cat([train[:50] + 1e-3, gauss(450, seed=2)])  # 10% near-copies
    out = M.memorisation(fake, train, test)
    assert out["flagged"] and out["copy_fraction"] >= 0.1


def test_class_mode_coverage():
    uniform = M.class_mode_coverage(torch.arange(1000) % 10, 10)
    assert uniform["covered"] == 1.0 and uniform["kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    one = M.class_mode_coverage(torch.full((1000,), 3), 10)
    assert one["covered"] == pytest.approx(0.1) and one["kl_uniform"] == pytest.approx(math.log(10))
    assert one["counts"][3] == 1000


def test_nll_report():
    out = M.nll_report(torch.full((10,), 784 * math.log(2) * 1.5), dims=784)
    assert out["bits_per_dim"] == pytest.approx(1.5) and out["n"] == 10 and out["nats_sem"] == 0.0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.fid(torch.full((20, 2), math.nan), gauss(20, 2)), "NaN"),
        (lambda: M.fid(gauss(5, 8), gauss(100, 8)), "more samples than feature dimensions"),
        (lambda: M.fid(gauss(100, 8), gauss(100, 4)), "same feature dimension"),
        (lambda: M.fid(torch.zeros(100), gauss(100)), r"shape \(N, D\)"),
        (lambda: M.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4)), "mu2 must have shape"),
        (lambda: M.kid(gauss(50), gauss(50), subset_size=100), "subset_size"),
        (lambda: M.prdc(gauss(3), gauss(100), k=5), "at least 6 rows"),
        (lambda: M.prdc(gauss(100), gauss(100).masked_fill(torch.eye(100, 8, dtype=torch.bool), math.inf), k=5), "fake contains NaN"),
        (lambda: M.inception_score(torch.full((20, 10), math.nan)), "logits contains NaN"),
        (lambda: M.class_mode_coverage(torch.tensor([0, 10]), 10), r"\[0, 10\)"),
        (lambda: M.class_mode_coverage(torch.tensor([0.5]), 10), "integer"),
        (lambda: M.memorisation(gauss(10), gauss(10), gauss(10, d=4)), "same feature dimension"),
        (lambda: M.birthday_support(gauss(10), threshold=0.0), "threshold"),
        (lambda: M.birthday_support(gauss(10), threshold=1.0, batch_size=20), "batch_size"),
        (lambda: M.nll_report([1.0, math.nan], dims=3), "NaN"),
        (lambda: M.nn_distances(gauss(10), gauss(3), k=4), "k must be"),
    ],
)
def test_bad_input_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- reference implementation


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance`")
def test_agrees_with_torchmetrics():
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    class Identity(torch.nn.Module):
        num_features = 16

        def forward(self, x):
            return x

    a, b = gauss(600, d=16, seed=0), gauss(600, d=16, shift=0.2, seed=1) * 1.1
    tm_fid = FrechetInceptionDistance(feature=Identity())
    tm_fid.update(a, real=True)
    tm_fid.update(b, real=False)
    assert M.fid(a, b) == pytest.approx(float(tm_fid.compute()), rel=1e-3)
    tm_kid = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=600)
    tm_kid.update(a, real=True)
    tm_kid.update(b, real=False)
    assert M.kid(a, b, subsets=1, subset_size=600)[0] == pytest.approx(float(tm_kid.compute()[0]), rel=1e-3)

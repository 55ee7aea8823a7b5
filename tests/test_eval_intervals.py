"""Intervals, ties, reference rows, likelihood labels and the self-explaining report (issue 16)."""
from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from genlab.config import DataConfig
from genlab.data import load_data
from genlab.eval import metrics as M
from genlab.eval import report as R
from genlab.eval.image_runs import format_table, heldout_training_images, mark_ties, summary
from genlab.eval.likelihood_runs import likelihood_label


pytestmark = pytest.mark.usefixtures("one_thread")  # the conftest fixture: small tensors, one thread


def test_fid_interval_covers_the_true_fid():
    """Two Gaussians with a known FID: about 95% of the 95% intervals contain it over repeated draws."""
    d, reps = 3, 150
    shift, scale = torch.tensor([0.5, 0.0, -0.2], dtype=torch.float64), torch.tensor([1.5, 0.7, 1.0], dtype=torch.float64)
    true = float(shift.square().sum() + (1 + scale.square() - 2 * scale).sum())
    hits = 0
    for r in range(reps):
        g = torch.Generator().manual_seed(r)
        a = torch.randn(800, d, generator=g, dtype=torch.float64)
        b = torch.randn(800, d, generator=g, dtype=torch.float64) * scale + shift
        out = M.fid_interval(a, b, n_boot=100, seed=r)
        assert out["ci"][0] <= out["ci"][1] and out["se"] > 0
        hits += out["ci"][0] <= true <= out["ci"][1]
    assert 0.89 <= hits / reps <= 0.99, hits / reps


def test_half_sample_errors_match_the_spread_over_fresh_draws():
    real = torch.randn(600, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    vals, ses = {"precision": [], "coverage": []}, {"precision": [], "coverage": []}
    for r in range(25):
        fake = torch.randn(600, 4, generator=torch.Generator().manual_seed(100 + r), dtype=torch.float64) * 1.2 + 0.3
        out = M.prdc_interval(real, fake, k=5, seed=r)
        for m in vals:
            vals[m].append(out[m])
            ses[m].append(out["se"][m])
            assert out["ci"][m][0] <= out[m] <= out["ci"][m][1]
    for m in vals:
        sd = torch.tensor(vals[m]).std().item()
        assert 0.6 < (sum(ses[m]) / len(ses[m])) / sd < 1.6, m


def test_kid_and_class_intervals():
    a = torch.randn(1000, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = torch.randn(1000, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.5
    same, far = M.kid_interval(a, a[torch.randperm(1000)], subset_size=500), M.kid_interval(a, b, subset_size=500)
    assert same["ci"][0] <= 0 <= same["ci"][1] and far["ci"][0] > 0 and far["blocks"] == 10
    one = M.class_mode_interval(torch.full((500,), 3), 10)
    assert one["ci"]["covered"] == [pytest.approx(0.1), pytest.approx(0.1)]


def test_compare_marks_differences_inside_the_interval_as_ties():
    def row(name, fid, se, ref=False):
        return {"model": name, "fid": fid, "_ci": {"fid": {"ci": [fid - 2 * se, fid + 2 * se], "se": se}}, "_reference": ref}

    rows = [row("a", 10.0, 0.5), row("b", 11.0, 0.5), row("c", 20.0, 0.5), row("real", 1.0, 0.1, ref=True)]
    marks = mark_ties(rows)
    assert marks[0]["fid"] == "*" and marks[1]["fid"] == "~" and "fid" not in marks[2] and not marks[3]
    text = format_table(rows)
    assert "10.000*" in text and "11.000~" in text and "tied with the best" in text


def test_likelihoods_are_ranked_only_against_the_same_estimator():
    """An exact NLL is never marked best against a bound: each kind of likelihood is ranked on its own, and the
    table says so."""
    def row(name, nll, kind):
        return {"model": name, "nll_nats": nll, "bits_per_dim": nll / 100, "likelihood": kind, "_ci": {}}

    rows = [row("made", 90.0, "exact, 8-bit"), row("vae", 80.0, "ELBO bound, 8-bit"), row("pixelcnn", 85.0, "exact, 8-bit"),
            row("iwae", 82.0, "ELBO bound, 8-bit"), {"model": "gan", "nll_nats": None, "likelihood": None, "_ci": {}}]
    marks = mark_ties(rows)
    assert marks[2]["nll_nats"] == "*" and marks[1]["nll_nats"] == "*"  # best exact, best bound
    assert "nll_nats" not in marks[0] and "nll_nats" not in marks[3] and not marks[4]
    text = format_table(rows)
    assert "ranked within each kind of likelihood" in text
    assert "exact, 8-bit: made, pixelcnn" in text and "ELBO bound, 8-bit: vae, iwae" in text
    one_kind = format_table([row("made", 90.0, "exact, 8-bit"), row("pixelcnn", 85.0, "exact, 8-bit")])
    assert "ranked within each kind" not in one_kind


def test_reference_rows_are_disjoint_from_training_data():
    """The real-data row uses images neither trained on nor in the reference set; a data.limit run's unseen
    training-file images count as held out."""
    from genlab.eval.features import FeatureNet
    from genlab.eval.images import evaluate_samples

    cfg = DataConfig(name="digits", limit=600)
    train, test = load_data(cfg, "image", "train"), load_data(cfg, "image", "test")
    extra, what = heldout_training_images(cfg, train)
    full = load_data(replace(cfg, limit=None), "image", "train").tensors["x"]
    assert len(train) == 600 and len(extra) == len(full) - 600 and "data.limit=600" in what
    torch.manual_seed(0)
    net = FeatureNet(1, 8, 10, 16).eval()
    net.meta = {"dataset": "digits", "test_accuracy": None}
    fake = torch.rand(200, 1, 8, 8)
    out = evaluate_samples(fake, train, test, net, n=200, heldout_x=extra, heldout_what=what)
    base = out["baseline"]
    assert base["held_out"] and base["n_fake"] == 200 and "warning" not in base
    key = lambda x: {bytes(r.numpy().tobytes()) for r in x.reshape(len(x), -1)}  # noqa: E731
    train_set, pool = key(train.tensors["x"]), key(base["_images"])
    ref = key(test.tensors["x"][torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:200]])
    assert not (pool & train_set) and not (pool & ref)
    assert "_images" not in R.json_ready(out)["baseline"]


class _Model(SimpleNamespace):
    pass


@pytest.mark.parametrize("kw, batch, k, estimator, data, valid", [
    (dict(likelihood_estimator="elbo (num_samples=1) or importance-sampled", family="vae",
          config=SimpleNamespace(decoder="bernoulli")), torch.rand(4, 1, 8, 8), None, "ELBO", "binarised", False),
    (dict(likelihood_estimator="elbo", family="vae", config=SimpleNamespace(decoder="bernoulli")),
     torch.randint(0, 2, (4, 1, 8, 8)).float(), 100, "IWAE-100", "binarised", True),
    (dict(likelihood_estimator="elbo", family="vae", config=SimpleNamespace(decoder="logistic")),
     torch.rand(4, 1, 8, 8), None, "ELBO", "8-bit discretised", True),
    (dict(likelihood_estimator="elbo", family="diffusion", config=SimpleNamespace()), torch.rand(4, 1, 8, 8), None,
     "VLB", "8-bit discretised", True),
    (dict(likelihood_estimator="exact (dequantised)", family="classical", config=SimpleNamespace()),
     torch.rand(4, 1, 8, 8), None, "exact", "dequantised", True),
    (dict(likelihood_estimator="exact", family="autoregressive", config=SimpleNamespace(output="softmax")),
     torch.rand(4, 1, 8, 8), None, "exact", "8-bit discretised", True),
])
def test_likelihood_labels(kw, batch, k, estimator, data, valid):
    lab = likelihood_label(_Model(**kw), {"x": batch}, k)
    assert (lab["estimator"], lab["data_model"], lab["valid"]) == (estimator, data, valid)
    row = summary({"model": "m", "likelihood": {**lab, "nats": 80.0, "bits_per_dim": 0.9}})
    assert (row["bits_per_dim"] is None) == (not valid)


def test_report_explains_itself():
    """Every metric line has its legend; inf birthday support is explained; the HTML names the feature
    space, the reference counts and the caveats."""
    result = {"model": "m", "n_fake": 500, "n_real": 500, "n_train": 1000, "level": 0.95,
              "fid": {"value": 3.0, "ci": [2.0, 4.0], "se": 0.5}, "kid": {"mean": 1e-3, "ci": [0.0, 2e-3], "se": 5e-4},
              "prdc": {"precision": 0.9, "recall": 0.8, "density": 1.0, "coverage": 0.85,
                       "ci": {"precision": [0.88, 0.92], "recall": None, "density": None, "coverage": None}, "se": {}},
              "birthday": {"fake": {"support": math.inf, "ci": [41583.0, math.inf]}},
              "memorisation": {"copy_fraction": 0.01, "flagged": False, "measured_fpr": 0.012, "expected_fraction": 0.01},
              "extractor": {"dataset": "mnist", "feat_dim": 128, "test_accuracy": 0.9918, "version": 2},
              "baseline": {"skipped": "no held-out real row: it needs 500 real images"}}
    text = format_table([summary(result)])
    lines = {ln.split()[0]: ln for ln in text.splitlines()[1:]}
    assert "kid_x1e3" in lines and "MMD" in lines["kid_x1e3"] and "lower is better" in lines["fid"]
    assert "[2.000, 4.000]" in lines["fid"] and "no near-duplicate pair" in lines["birthday_support"]
    sections = dict(R.image_metric_sections(result))
    assert "version 2" in sections["Feature space and sample counts"] and "99.18%" in sections["Feature space and sample counts"]
    assert "no held-out real row" in sections["Feature space and sample counts"]
    assert "cannot see copies" in sections["Caveats"] and "interval method" in sections["Metrics"]

"""Few labels, semi-supervised models and `genlab augment` on tiny data (digits, a small made-up table)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.data.fewlabels import labelled_subset
from genlab.errors import ConfigError
from genlab.eval.augment import ClassifierSpec, augment_images, augment_table, random_affine, shrink

pytestmark = pytest.mark.usefixtures("one_thread")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True)


def test_labels_per_class_is_a_fixed_balanced_choice():
    y = torch.randint(0, 3, (500,), generator=torch.Generator().manual_seed(0))
    a, b = labelled_subset(y, 7, 3), labelled_subset(y, 7, 3)
    assert torch.equal(a, b) and torch.bincount(y[a], minlength=3).tolist() == [7, 7, 7]
    assert set(labelled_subset(y, 5, 3).tolist()) <= set(a.tolist())  # fewer labels: a subset of more
    with pytest.raises(ConfigError, match="more than the training data has"):
        labelled_subset(y, 400, 3)
    full = load_data(DataConfig(name="digits"), "image", "train")
    keep = load_data(DataConfig(name="digits", labels_per_class=5, unlabelled="keep"), "image", "train")
    drop = load_data(DataConfig(name="digits", labels_per_class=5), "image", "train")
    assert len(keep) == len(full) and (keep.tensors["y"] >= 0).sum() == 50 and len(drop) == 50
    assert torch.equal(keep.tensors["x"][keep.tensors["y"] >= 0], drop.tensors["x"])
    assert len(load_data(DataConfig(name="digits", labels_per_class=5), "image", "test")) > 100  # test untouched


def test_classical_augmentation_moves_pixels_but_keeps_shape():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1
    y = random_affine(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert not torch.allclose(y, x) and (y.sum((1, 2, 3)) / x.sum((1, 2, 3))).sub(1).abs().max() < 0.35


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    common = {"max_steps": 40, "progress": False, "seed": 0, "grid_size": 4, "lr": 2e-3}
    m2 = genlab.train("m2", {"name": "digits", "labels_per_class": 10, "unlabelled": "keep"}, root / "m2",
                      model_config={"hidden": 64, "latent_dim": 8}, **common)
    ss = genlab.train("ssgan", {"name": "digits", "labels_per_class": 10, "unlabelled": "keep"}, root / "ss",
                      model_config={"d_hidden": [64, 32], "g_hidden": 64, "latent_dim": 16}, **common)
    gan = genlab.train("gan", {"name": "digits"}, root / "gan", model_config={"width": 32}, **common)
    return {"m2": root / "m2", "ss": root / "ss", "gan": root / "gan", "models": (m2, ss, gan)}


def test_semi_supervised_models_learn_from_few_labels(runs):
    test = load_data(DataConfig(name="digits"), "image", "test").all()
    m2, ss, _ = runs["models"]
    for model in (m2, ss):
        assert model.has("classify")
        acc = float((model.classify(test["x"]).argmax(1) == test["y"]).float().mean())
        assert acc > 0.25  # ten classes: chance is 0.1, after 40 steps on 10 labels per class
    x = m2.sample(6, labels=torch.tensor([3] * 6), generator=torch.Generator().manual_seed(0))
    assert x.shape == (6, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert genlab.load(runs["m2"]).sample(2, generator=torch.Generator().manual_seed(1)).allclose(
        m2.sample(2, generator=torch.Generator().manual_seed(1)))


def test_augment_images_arms_are_reproducible_and_checked(runs):
    kw = dict(labels_per_class=10, seeds=2, spec=ClassifierSpec(steps=40), curve=(1.0,), echo=lambda *_: None)
    a = augment_images([str(runs["m2"]), str(runs["ss"])], **kw)
    b = augment_images([str(runs["m2"]), str(runs["ss"])], **kw)
    assert a["arms"] == b["arms"]  # seeded: the same numbers twice
    labels = set(a["arms"])
    assert {"real only", "real + classical augmentation"} <= labels
    assert any(lbl.startswith("synthetic only: m2") for lbl in labels)
    assert any("ssgan" in lbl and "own classifier" in lbl for lbl in labels)
    assert not any(lbl.startswith("synthetic only: ssgan") for lbl in labels)  # unconditional: no synthetic arm
    chk = a["synthetic_checks"]["m2 (m2)"]
    assert sum(chk["class_counts"]) == 100 and 0 <= chk["label_agreement"] <= 1
    assert a["train_images"] == 100 and a["test_images"] > 100
    assert any("unlabelled rest" in n for n in a["notes"])
    assert all(len(r["per_class_accuracy"]) == 10 for r in a["arms"].values())


def test_augment_refuses_an_unconditional_run_and_too_many_labels(runs, tmp_path):
    with pytest.raises(ConfigError, match="unconditional"):
        augment_images([str(runs["gan"])], labels_per_class=10, seeds=1, spec=ClassifierSpec(steps=5))
    r = cli("augment", str(runs["m2"]), "--labels-per-class", "5000", "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and "more than the training data has" in r.stderr and "Traceback" not in r.stderr


def make_table(path, n=600, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    age = rng.integers(18, 70, n)
    hours = rng.integers(10, 60, n)
    p = 1 / (1 + np.exp(-(0.05 * (age - 40) + 0.08 * (hours - 35) + (sex == "M") * 0.5)))
    df = pd.DataFrame({"age": age, "hours": hours, "sex": sex, "income": np.where(rng.random(n) < p, "high", "low")})
    df.to_csv(path, index=False)
    return df


def test_augment_table_arms_and_bad_minority(tmp_path):
    train, test = tmp_path / "t.csv", tmp_path / "test.csv"
    df = make_table(train)
    make_table(test, 300, seed=1)
    group = ((df["sex"] == "F") & (df["income"] == "high")).to_numpy()
    idx, removed = shrink(group, 0.2)
    assert removed == group.sum() - round(0.2 * group.sum()) and len(idx) == len(df) - removed
    assert np.array_equal(idx, shrink(group, 0.2)[0])  # the same rows every time
    res = augment_table([], data=str(train), test=str(test), target="income", minority="sex=F,income=high",
                        keep=0.2, seeds=2, echo=lambda *_: None)
    assert {"no fix", "re-weighting", "random oversampling", "SMOTE (group)", "full data (ceiling)"} <= set(res["arms"])
    assert all(0 <= r["f1_mean"] <= 1 for r in res["arms"].values())
    for bad, msg in (("sex=X", "has no value 'X'"), ("colour=red", "does not have"), ("sex", "column=value")):
        r = cli("augment", "--data", str(train), "--test", str(test), "--target", "income", "--minority", bad,
                "--out", str(tmp_path / "o"))
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_augment_cli_writes_json_and_report(runs, tmp_path):
    r = cli("augment", str(runs["m2"]), "--labels-per-class", "10", "--seeds", "1", "--steps", "20",
            "--out", str(tmp_path / "aug"))
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "aug" / "augment.json").read_text())
    assert res["labels_per_class"] == 10 and "real only" in res["arms"]
    page = (tmp_path / "aug" / "report.html").read_text()
    assert "Per-class accuracy" in page and "data:image/png;base64" in page

"""Issue 14, the last gaps: progress during long evaluation steps, the data summary at train start for images
and text, streamed Parquet samples, and SIGTERM during models fitted in one call."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import genlab
from genlab.cli import main
from genlab.training import checkpoint as ck

GENLAB = str(Path(sys.executable).parent / "genlab")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
        "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n") * 6


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("text")
    (d / "t.txt").write_text(TEXT, encoding="utf-8")
    r = cli("train", "char-lstm", "--data", d / "t.txt", "--out", d / "run", "--max-steps", 2, "--quiet",
            "--set", "data.block_size=16", "--set", "model.hidden=16", "--set", "model.layers=1")
    assert r.exit_code == 0, r.output
    return d, r


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("img") / "g"
    r = cli("train", "gmm", "--data", "digits", "--out", run, "--quiet", "--set", "model.n_components=2",
            "--set", "model.covariance_type=diag")
    assert r.exit_code == 0, r.output
    return run, r


# ----------------------------------------------------------------------------- data summary at train start


def test_image_training_prints_a_data_summary(digits_run):
    from sklearn.datasets import load_digits

    _, r = digits_run
    line = next(x for x in r.stderr.splitlines() if x.startswith("genlab: images"))
    n = len(load_digits().images)
    n_train = int(line.split(": ")[2].split(" training")[0].replace(",", ""))
    n_test = int(line.split(" training images, ")[1].split(" test")[0].replace(",", ""))
    assert n_train + n_test == n and 0 < n_test < n_train
    assert "digits" in line and "1×8×8 (C×H×W)" in line
    assert "10 classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)" in line
    assert "pixel values 0–255 (uint8), scaled to [0, 1]" in line


def test_text_training_prints_a_data_summary(text_run):
    from genlab.config import DataConfig
    from genlab.data import load_data

    d, r = text_run
    lines = [x for x in r.stderr.splitlines() if x.startswith("genlab: ")]
    train = load_data(DataConfig(name=str(d / "t.txt"), block_size=16), "text", "train")
    vocab = len(set(TEXT))
    assert "genlab: text t.txt: " in lines[0] and "training characters" in lines[0]
    assert f"char tokenizer, vocabulary of {vocab} characters" in lines[0]
    chars = int(lines[0].split(": ")[2].split(" training")[0].replace(",", ""))
    held = int(lines[0].split("characters, ")[1].split(" held-out")[0].replace(",", ""))
    assert 0.7 * len(TEXT) < chars + held <= len(TEXT)
    assert f"genlab: {len(train):,} training sequences of block_size 16 tokens" in lines


# ----------------------------------------------------------------------------- progress during evaluation


def test_text_evaluation_shows_progress_when_asked_and_is_quiet_otherwise(text_run, monkeypatch, capfd):
    d, _ = text_run
    monkeypatch.setenv("GENLAB_PROGRESS", "1")
    result = genlab.evaluate(d / "run", write=False)
    err = capfd.readouterr().err
    windows = result["held_out"]["tokens"] // 16
    assert f"genlab: held-out likelihood of char-lstm on {windows:,} windows of 16 tokens" in err
    assert "held-out likelihood (char-lstm)" in err and f"{windows}/{windows}" in err  # the bar, completed
    assert "genlab: drawing 3 samples for the report" in err
    for value in ("0", None):  # forced off, and the default when stderr is not a terminal (as here)
        if value is None:
            monkeypatch.delenv("GENLAB_PROGRESS")
        else:
            monkeypatch.setenv("GENLAB_PROGRESS", value)
        again = genlab.evaluate(d / "run", write=False)
        assert capfd.readouterr().err == "" and again["held_out"] == result["held_out"]


def test_image_evaluation_steps_show_progress(digits_run, monkeypatch, capfd):
    from genlab.config import DataConfig
    from genlab.data import load_data
    from genlab.eval.features import get_feature_extractor
    from genlab.eval.image_runs import evaluate_image_run

    run, _ = digits_run
    monkeypatch.setenv("GENLAB_PROGRESS", "1")
    cfg = DataConfig(name="digits")
    train, test = load_data(cfg, "image", "train"), load_data(cfg, "image", "test")
    tiny = dict(epochs=1, min_steps=3, batch_size=512, feat_dim=16)  # 1,500 images: 3 steps an epoch
    net = get_feature_extractor(train, test_data=test, **tiny)
    err = capfd.readouterr().err
    assert f"genlab: feature extractor: training one for digits ({len(train):,} images, 3 steps; done once" in err
    assert "training the feature extractor" in err and "3/3" in err
    get_feature_extractor(train, test_data=test, **tiny)
    assert "genlab: feature extractor: trained before for digits, cached in" in capfd.readouterr().err

    model = genlab.load(run)
    result = evaluate_image_run(model, run, cfg, n=100, extractor=net, baseline=False)
    err = capfd.readouterr().err
    assert "genlab: drawing 100 samples from gmm" in err and "sampling gmm" in err and "100/100" in err
    assert "features" in err and f"{len(train)}/{len(train)}" in err  # the training images embedded
    assert f"genlab: held-out likelihood of gmm on {len(test):,} test examples" in err
    assert result["likelihood"]["bits_per_dim"] > 0

    monkeypatch.setenv("GENLAB_PROGRESS", "0")
    evaluate_image_run(model, run, cfg, n=100, extractor=net, baseline=False)
    assert capfd.readouterr().err == ""


# ----------------------------------------------------------------------------- streamed Parquet samples


def _copula(d: Path, **columns):
    rng = np.random.default_rng(0)
    n = 120
    pd.DataFrame({"age": rng.integers(18, 80, n), "income": rng.normal(5e4, 1e4, n).round(2),
                  "city": rng.choice(["paris", "lyon", "nice"], n), **{k: f(rng, n) for k, f in columns.items()}}
                 ).to_csv(d / "t.csv", index=False)
    return genlab.train("gaussian-copula", {"name": str(d / "t.csv")}, d / "run", progress=False)


@pytest.fixture(scope="module")
def copula_model(tmp_path_factory):
    return _copula(tmp_path_factory.mktemp("table"))


def test_parquet_samples_are_streamed_in_chunks_and_match_the_csv(copula_model, tmp_path):
    import torch

    from genlab.sampling import sample_to_file

    calls = []
    real_sample = copula_model.sample
    copula_model.sample = lambda k, **kw: calls.append(k) or real_sample(k, **kw)
    try:
        pq = sample_to_file(copula_model, 50, tmp_path / "s.parquet", chunk=16,
                            generator=torch.Generator().manual_seed(1), progress=False)
        csv = sample_to_file(copula_model, 50, tmp_path / "s.csv", chunk=16,
                             generator=torch.Generator().manual_seed(1), progress=False)
    finally:
        copula_model.sample = real_sample
    assert calls == [16, 16, 16, 2] * 2  # four chunks per file
    import pyarrow.parquet as pa_pq

    assert pa_pq.ParquetFile(pq).num_row_groups == 4  # one row group per chunk, written as it came
    a, b = pd.read_parquet(pq), pd.read_csv(csv)
    assert len(a) == len(b) == 50
    assert list(a.columns) == list(b.columns) == ["age", "income", "city"]
    assert dict(a.dtypes.astype(str)) == dict(b.dtypes.astype(str))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.parquet"]  # no .part left


def test_parquet_keeps_boolean_columns_boolean(tmp_path):
    from genlab.sampling import sample_to_file

    model = _copula(tmp_path, member=lambda rng, n: rng.choice([True, False], n))
    sample_to_file(model, 20, tmp_path / "s.parquet", chunk=8, progress=False)
    sample_to_file(model, 20, tmp_path / "s.csv", chunk=8, progress=False)
    assert pd.read_parquet(tmp_path / "s.parquet")["member"].dtype == pd.read_csv(tmp_path / "s.csv")["member"].dtype


def test_a_failure_midway_leaves_no_partial_parquet(copula_model, tmp_path, monkeypatch):
    from genlab.sampling import sample_to_file

    real_sample, calls = copula_model.sample, []

    def failing(k, **kw):
        calls.append(k)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real_sample(k, **kw)

    monkeypatch.setattr(copula_model, "sample", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        sample_to_file(copula_model, 50, tmp_path / "s.parquet", chunk=16, progress=False)
    assert calls == [16, 16] and list(tmp_path.iterdir()) == []  # neither s.parquet nor .s.parquet.part


# ----------------------------------------------------------------------------- SIGTERM during a one-call fit


def test_sigterm_during_a_one_call_fit_marks_the_run_interrupted_and_it_restarts_in_place(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.random((8000, 48)).astype("float32"))  # EM with 60 full covariances: seconds
    run = tmp_path / "run"
    p = subprocess.Popen([GENLAB, "train", "gmm", "--data", tmp_path / "x.npy", "--out", run, "--quiet",
                          "--set", "model.n_components=60", "--set", "model.max_iter=1000"],
                         env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 120
        while p.poll() is None and time.time() < end and ck.read_state(run).get("status") != "running":
            time.sleep(0.02)
        assert p.poll() is None, p.communicate()
        assert ck.read_state(run)["status"] == "running"  # the fit has started
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert "Traceback" not in err and "stopped (SIGTERM) before its gmm fit finished; nothing was saved" in err
    assert len([x for x in err.splitlines() if x.startswith("interrupted")]) == 1
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "interrupted" and state["checkpoint_step"] is None
    assert "interrupted at step 0 (last checkpoint none)" in cli("info", run).output
    assert (run / "config.json").is_file() and not (run / "ckpt").exists()
    r = cli("train", "gmm", "--data", tmp_path / "x.npy", "--out", run, "--quiet",
            "--set", "model.n_components=2", "--set", "model.max_iter=2")
    assert r.exit_code == 0 and "starting it again in place" in r.stderr
    assert ck.read_state(run)["status"] == "finished"

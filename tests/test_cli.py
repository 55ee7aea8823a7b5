"""The command line: help, train -> info -> sample -> resume, and one clear error per bad input."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from genlab.cli import main


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_every_command_has_help(cli):
    result = cli("--help")
    assert result.exit_code == 0
    commands = [line.split()[0] for line in result.output.split("Commands:")[1].strip().splitlines()]
    assert {"train", "sample", "resume", "models", "info", "quickstart"} <= set(commands)
    for cmd in commands:
        assert cli(cmd, "--help").exit_code == 0


def test_models_lists_registered_models(cli):
    out = cli("models").output
    assert "vae" in out and "dcgan" in out and "gmm" in out and "Gaussian mixture" in out


def test_train_info_sample_resume(cli, tmp_path):
    run = tmp_path / "vae1"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model:\n  latent_dim: 4\ntrain:\n  epochs: 1\n")
    r = cli("train", "vae", "--data", "digits", "--config", cfg, "--set", "train.batch_size=256", "--out", run,
            "--seed", 7, "--quiet")
    assert r.exit_code == 0, r.output
    conf = json.loads((run / "config.json").read_text())
    assert conf["model_config"]["latent_dim"] == 4 and conf["train_config"]["batch_size"] == 256 and conf["seed"] == 7
    info = cli("info", run).output
    assert "latent_dim=4" in info and "status   finished" in info and "torch" in info
    assert cli("sample", run, "-n", 9, "-o", tmp_path / "g.png").exit_code == 0
    assert (tmp_path / "g.png").stat().st_size > 100
    assert cli("sample", run, "-n", 5, "-o", tmp_path / "s.npz", "--seed", 1).exit_code == 0
    a = np.load(tmp_path / "s.npz")["x"]
    cli("sample", run, "-n", 5, "-o", tmp_path / "t.npz", "--seed", 1)
    assert a.shape == (5, 1, 8, 8) and a.dtype == np.uint8 and np.array_equal(a, np.load(tmp_path / "t.npz")["x"])
    r = cli("resume", run, "--epochs", 2, "--quiet")
    assert r.exit_code == 0 and "step 10" in r.output  # 1500 digits // 256 = 5 full batches per epoch


@pytest.mark.parametrize("args,message", [
    (["train", "vea"], "unknown model 'vea'"),
    (["train", "vae", "--data", "no-such-data"], "unknown"),
    (["train", "vae", "--set", "model.latent_dim=0"], "latent_dim"),
    (["train", "vae", "--set", "model.latnt_dim=3"], "unknown model key"),
    (["train", "vae", "--set", "train.epochs=many"], "expected an integer"),
    (["train", "vae", "--config", "missing.yaml"], "does not exist"),
    (["sample", "."], "not a genlab run"),
    (["info", "does/not/exist"], "not a folder"),
])
def test_bad_input_is_one_clear_error(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = cli(*args)
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output


def test_sample_count_must_be_positive(cli, tmp_path):
    cli("train", "gmm", "--out", tmp_path / "g", "--quiet", "--set", "model.n_components=2")
    for n in (0, -3):
        r = cli("sample", tmp_path / "g", "-n", n)
        assert r.exit_code == 2 and "positive" in r.output


def test_quickstart_small(cli, tmp_path):
    r = cli("quickstart", "--out", tmp_path / "qs", "--scale", 0.02, "-n", 300, "--quiet")
    assert r.exit_code == 0, r.output
    for name in ("gmm", "vae", "dcgan"):
        assert (tmp_path / "qs" / name / "samples.png").is_file()
        assert (tmp_path / "qs" / name / "ckpt" / "model.safetensors").is_file()
        assert name in r.output
    assert "nn-copy of training data" in r.output and "real data" in r.output
    html = (tmp_path / "qs" / "comparison.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html and "http" not in html
    rows = json.loads((tmp_path / "qs" / "comparison.json").read_text())
    copy_row = next(r for r in rows if r["model"] == "nn-copy of training data")
    assert copy_row["memorisation"]["flagged"] is True
    assert all(not r["memorisation"]["flagged"] for r in rows if r["model"] in ("gmm", "vae", "dcgan"))

"""tvae with differential privacy (model.dp=true): DP-SGD through Opacus, the epsilon spent kept and reported."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import genlab
from genlab.cli import main
from genlab.config import DataConfig
from genlab.errors import ConfigError
from genlab.models.tabular.dp import dp_summary

pytest.importorskip("opacus", reason="model.dp needs Opacus (pip install 'genlab[dp]')")
pytestmark = pytest.mark.usefixtures("one_thread_blas")
TINY = {"encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4}


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    pd.DataFrame({"x": np.round(x, 3), "y": np.round(2 * x + rng.normal(size=400), 3),
                  "g": np.where(x > 0, "hi", "lo")}).to_csv(tmp_path / "t.csv", index=False)
    return tmp_path / "t.csv"


def train(csv, out, steps=2, **dp):
    return genlab.train("tvae", DataConfig(name=str(csv), val_fraction=0), out, overwrite=True, progress=False,
                        model_config={**TINY, "dp": True, **dp}, train_config={"max_steps": steps, "batch_size": 50})


def test_dp_tvae_spends_at_most_its_epsilon_and_keeps_counting_on_resume(csv, tmp_path):
    model = train(csv, tmp_path / "run", dp_epsilon=1.0)
    s = dp_summary(model)
    assert s["steps"] == 2 and 0 < s["epsilon_spent"] <= 1.0 and s["noise_multiplier"] > 0.5
    assert len(model.sample(20)) == 20
    loaded = dp_summary(genlab.load(tmp_path / "run"))  # kept in the weights
    assert loaded["epsilon_spent"] == s["epsilon_spent"] and loaded["noise_multiplier"] == s["noise_multiplier"]
    logged = [r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
              if "dp_epsilon" in r]
    assert logged and 0 < logged[0]["dp_epsilon"] <= s["epsilon_spent"]
    more = dp_summary(genlab.resume(tmp_path / "run", max_steps=6, progress=False))
    assert more["steps"] == 6 and s["epsilon_spent"] < more["epsilon_spent"] <= 1.0  # same noise, more steps
    assert more["noise_multiplier"] == s["noise_multiplier"]
    assert dp_summary(genlab.load(tmp_path / "run")) is not None and dp_summary(
        genlab.train("tvae", DataConfig(name=str(csv), val_fraction=0), tmp_path / "plain", overwrite=True,
                     progress=False, model_config=TINY, train_config={"max_steps": 1, "batch_size": 50})) is None


def test_the_noise_is_per_row_clipped_gradients_from_opacus(csv, tmp_path):
    model = train(csv, tmp_path / "run", dp_epsilon=1.0)
    opt = model._dp_engine.accountant  # Opacus' own accountant: one history entry per noise level
    assert opt.history[0][2] == 2
    small = dp_summary(train(csv, tmp_path / "run2", dp_epsilon=8.0))
    assert small["noise_multiplier"] < dp_summary(model)["noise_multiplier"]  # a looser budget needs less noise


@pytest.mark.parametrize("setting, needle", [
    ({"dp_epsilon": 0}, "model.dp_epsilon must be a finite number > 0, got 0"),
    ({"dp_delta": 1.5}, "model.dp_delta must be in (0, 1)"),
    ({"max_grad_norm": -1}, "model.max_grad_norm must be a finite number > 0, got -1"),
    ({"dp_delta": 0.1}, "model.dp_delta=0.1 is not below 1 / training rows (1/400)"),
])
def test_bad_dp_settings_are_one_clear_line(csv, tmp_path, setting, needle):
    with pytest.raises(ConfigError) as e:
        train(csv, tmp_path / "bad", **setting)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_dp_with_a_time_budget_only_and_in_the_evaluate_report(csv, tmp_path):
    res = CliRunner().invoke(main, ["train", "tvae", "--data", str(csv), "--quiet", "--out", str(tmp_path / "r"),
                                    "--max-cpu-time", "5", "--set", "model.dp=true"])
    assert res.exit_code == 2 and "with a time budget (--max-time / --max-cpu-time) give --max-steps too" in res.output
    train(csv, tmp_path / "run", steps=3, dp_epsilon=2.0)
    res = CliRunner().invoke(main, ["evaluate", str(tmp_path / "run"), "-n", "200", "--test", str(csv)])
    assert res.exit_code == 0, res.output
    assert "DP epsilon" in res.output and "epsilon" in res.output and "spent of the target 2" in res.output
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["dp"]["epsilon_spent"] <= 2.0

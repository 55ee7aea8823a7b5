"""The run API (genlab/api.py): the functions the CLI wraps, used from Python."""
from __future__ import annotations

import json
import math

import pytest
import torch

import genlab
from genlab.errors import ConfigError

TEXT = "the cat sat on the mat. the dog sat on the log. a bird sat on the cat.\n" * 40


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    path = tmp / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    torch.set_num_threads(1)
    genlab.train("char-gru", {"name": str(path), "block_size": 16}, tmp / "run", model_config={"hidden": 16, "layers": 1},
                 max_steps=3, batch_size=8, progress=False, sample_every=10**9)
    return tmp / "run"


def test_sample_takes_the_declared_options_as_values_or_text(text_run):
    a = genlab.sample(text_run, 2, seed=3, length=6, temperature=0.5)
    b = genlab.sample(text_run, 2, seed=3, length="6", temperature="0.5")  # command-line text is converted
    assert a == b and len(a) == 2 and all(len(s) == 6 for s in a)
    with pytest.raises(ConfigError, match="--temperature must be a number for model 'char-gru', got 'hot'"):
        genlab.sample(text_run, 1, temperature="hot")
    with pytest.raises(ConfigError, match="does not take sampling option"):
        genlab.sample(text_run, 1, steps=3)


def test_evaluate_a_text_run_reports_bits_per_char_and_perplexity(text_run):
    result = genlab.evaluate(text_run)
    held = result["held_out"]
    assert held["bits_per_char"] > 0 and math.isclose(held["perplexity"], math.exp(held["nats_per_token"]))
    saved = json.loads((text_run / "eval.json").read_text())
    assert saved["held_out"]["bits_per_char"] == pytest.approx(held["bits_per_char"])
    assert (text_run / "report.html").is_file()
    assert "bits/char" in genlab.api.summary(result)


def test_fit_latent_refuses_a_model_without_a_latent_sampler(text_run):
    with pytest.raises(ConfigError, match="has no latent sampler"):
        genlab.fit_latent(text_run)

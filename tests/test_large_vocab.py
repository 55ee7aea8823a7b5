"""Large vocabularies (issue 15): an 8,000-character corpus gets an adaptive softmax, a warning with the step's
memory estimate before training, exact normalised log-probabilities, and a configuration that cannot fit is
refused by name."""
import math

import numpy as np
import pytest
import torch

from genlab.errors import ConfigError
from genlab.models.autoregressive.lm import LOGITS_BOUND, AdaptiveHead, step_memory
from genlab.training import checkpoint as ck
from genlab.training.run import train

V = 8000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    chars = np.array([chr(0x4E00 + i) for i in range(V)])
    p = 1 / np.arange(1, V + 1)
    draws = rng.choice(V, size=12_000, p=p / p.sum())  # Zipf-like, as real text: a few very frequent characters
    text = "".join(chars) + "".join(chars[draws])  # every character at least once
    path = tmp_path_factory.mktemp("cjk") / "cjk.txt"
    path.write_text("\n".join(text[i:i + 60] for i in range(0, len(text), 60)), encoding="utf-8")
    return path


def test_large_vocabulary_warns_estimates_and_trains(corpus, tmp_path, capsys):
    model = train("char-gru", {"name": str(corpus), "block_size": 16}, tmp_path / "run",
                  model_config={"hidden": 32, "layers": 1}, max_steps=2, batch_size=8, log_every=1, progress=False, seed=0)
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning: char-gru: vocabulary of")]
    assert len(warnings) == 1 and "adaptive softmax" in warnings[0] and " MB" in warnings[0]
    assert model.vocab_size > 7900 and isinstance(model.head, AdaptiveHead)
    est = step_memory(model, 8)
    assert 0 < est["logits"] < LOGITS_BOUND
    losses = [r["loss"] for r in ck.read_metrics(tmp_path / "run") if "loss" in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)


def test_adaptive_log_probabilities_are_exact_and_normalised(corpus, tmp_path):
    model = train("char-gru", {"name": str(corpus), "block_size": 16}, tmp_path / "run",
                  model_config={"hidden": 32, "layers": 1}, max_steps=1, batch_size=8, progress=False, seed=0)
    x = torch.randint(V, (3, 17))
    logp = model.logits(x[:, :-1])  # full log-distribution in token order
    assert torch.allclose(logp.logsumexp(-1), torch.zeros(3, 16), atol=1e-4)
    nll = model._token_nll(x)  # the training path (targets only)
    assert torch.allclose(nll, -logp.gather(-1, x[:, 1:, None])[..., 0], atol=1e-4)
    # the most frequent characters sit in the head: the 8,000 ranks are a permutation
    assert sorted(model.head.rank.tolist()) == list(range(model.vocab_size))


def test_configuration_that_cannot_fit_is_refused_by_name(corpus, tmp_path):
    with pytest.raises(ConfigError, match=r"train\.batch_size.*data\.block_size.*model\.softmax=adaptive"):
        train("transformer-lm", {"name": str(corpus), "block_size": 16}, tmp_path / "big",
              model_config={"softmax": "full", "width": 32, "layers": 1, "heads": 2}, max_steps=1,
              batch_size=10_000_000, progress=False)
    with pytest.raises(ConfigError, match="model.softmax must be auto, full or adaptive"):
        train("char-gru", {"name": str(corpus), "block_size": 16}, tmp_path / "bad",
              model_config={"softmax": "sampled"}, max_steps=1, progress=False)


def test_default_batch_is_scaled_to_the_vocabulary_but_a_given_one_is_kept(corpus, tmp_path):
    import json

    from click.testing import CliRunner

    from genlab.cli import main

    common = ["train", "char-gru", "--data", str(corpus), "--max-steps", "1", "--quiet", "--set", "data.block_size=64",
              "--set", "model.softmax=full", "--set", "model.hidden=16", "--set", "model.layers=1"]
    res = CliRunner().invoke(main, common + ["--out", str(tmp_path / "auto")])
    assert res.exit_code == 0, res.output
    batch = json.loads((tmp_path / "auto" / "config.json").read_text())["train_config"]["batch_size"]
    # 128 x 64 positions x 8,000 outputs x 3 float32 copies = 786 MB: halved until under the 256 MB bound
    assert batch == 32
    assert "train.batch_size 128 -> 32" in res.output
    res = CliRunner().invoke(main, common + ["--batch-size", "24", "--out", str(tmp_path / "given")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "given" / "config.json").read_text())["train_config"]["batch_size"] == 24
    assert "train.batch_size" not in res.output

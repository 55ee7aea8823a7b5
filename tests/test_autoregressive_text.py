"""Text language models: KV cache = full forward, sampling filters and options, streaming, bits/char,
save -> load -> same samples, the `genlab sample` command with prompts and bad options."""
import math

import pytest
import torch
from click.testing import CliRunner

import genlab
from genlab.cli import main
from genlab.data.base import DataInfo
from genlab.data.text import TextTokenizer
from genlab.errors import ConfigError
from genlab.models.autoregressive.lm import check_text_options, filter_logits
from genlab.training.run import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


TEXT = "the quick brown fox jumps over the lazy dog. ROMEO: what light through yonder window breaks?\n" * 30
TINY = {"char-lstm": {"hidden": 16, "layers": 1}, "char-gru": {"hidden": 16, "layers": 2},
        "transformer-lm": {"layers": 2, "heads": 2, "width": 16}}


def info_for(text=TEXT, kind="char", block=12) -> DataInfo:
    tok = TextTokenizer.fit(kind, text, text, 280)
    return DataInfo("text", (block,), meta={**tok.to_meta(), "vocab_size": tok.vocab_size, "block_size": block, "bos": 0})


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("text")
    (d / "t.txt").write_text(TEXT * 4, encoding="utf-8")  # ~38 steps per epoch: one validation, few previews
    model = genlab.train("char-lstm", {"name": str(d / "t.txt"), "block_size": 16}, d / "run",
                         model_config={"hidden": 24, "layers": 1}, max_steps=40, batch_size=16, lr=1e-2,
                         progress=False, log_every=5, grid_size=2)
    return d / "run", model


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("name,extra", [("char-lstm", {}), ("char-gru", {}), ("transformer-lm", {"positions": "learned"}),
                                        ("transformer-lm", {"positions": "rotary"})])
def test_incremental_steps_match_the_full_forward(name, extra):
    model = build_model(name, {**TINY[name], **extra}, info_for()).eval()
    idx = torch.randint(0, model.vocab_size, (3, 12))
    full = model.logits(idx)
    logits, state = model.step(idx[:, :5], model.init_state(3))
    steps = [logits]
    for t in range(5, 12):
        logits, state = model.step(idx[:, t:t + 1], state)
        steps.append(logits)
    assert torch.allclose(torch.stack(steps, 1), full[:, 4:], atol=1e-5)


def test_transformer_is_causal_and_ties_weights():
    model = build_model("transformer-lm", TINY["transformer-lm"], info_for()).eval()
    assert model.head.weight is model.tok_emb.weight
    a = torch.randint(0, model.vocab_size, (1, 12))
    b = a.clone()
    b[0, 7:] = (b[0, 7:] + 1) % model.vocab_size
    assert torch.allclose(model.logits(a)[0, :7], model.logits(b)[0, :7], atol=1e-6)
    assert not torch.allclose(model.logits(a)[0, 7:], model.logits(b)[0, 7:])


def test_sampling_beyond_the_context_with_and_without_cache():
    model = build_model("transformer-lm", TINY["transformer-lm"], info_for(block=8)).eval()
    out = model.sample(2, generator=gen(), prompt="the quick brown fox jumps", length=30)  # prompt > block_size
    assert all(s.startswith("the quick brown fox jumps") and len(s) == 25 + 30 for s in out)
    model.kv_cache = False
    assert len(model.sample(1, generator=gen(), length=30)[0]) == 30


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.5)).tolist() == [[False, True, True, True]]
    assert not torch.isinf(filter_logits(logits, top_p=1.0)).any()
    p2 = torch.tensor([[0.5, 0.3, 0.15, 0.05]]) ** 2  # temperature 0.5 squares the probabilities
    assert torch.allclose(filter_logits(logits, temperature=0.5).softmax(-1), p2 / p2.sum(), atol=1e-6)


def test_bad_sampling_options_are_clear():
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        check_text_options(temperature=0)
    with pytest.raises(ConfigError, match="top-p must be in"):
        check_text_options(top_p=0)
    with pytest.raises(ConfigError, match="top-p must be in"):
        check_text_options(top_p=1.5)
    with pytest.raises(ConfigError, match="top-k must be >= 1"):
        check_text_options(top_k=0)
    with pytest.raises(ConfigError, match="length"):
        check_text_options(length=0)
    model = build_model("char-lstm", TINY["char-lstm"], info_for())
    with pytest.raises(ConfigError, match=r"not in this model's vocabulary: \['Z', 'é'\].*--drop-unknown"):
        model.sample(1, prompt="ROMEO Zé", length=3)
    assert model.sample(1, generator=gen(), prompt="ROMEO Zé", length=3, drop_unknown=True)[0].startswith("ROMEO ")
    with pytest.raises(ConfigError, match="does not take sampling option"):
        model.sample(1, steps=3)


def test_top_k_1_is_greedy_and_stream_matches_sample():
    model = build_model("char-lstm", TINY["char-lstm"], info_for()).eval()
    a = model.sample(1, generator=gen(1), prompt="the", length=20, top_k=1)
    b = model.sample(1, generator=gen(2), prompt="the", length=20, top_k=1)
    assert a == b
    streamed = "".join(model.stream(1, generator=gen(3), prompt="the", length=25, temperature=0.7))
    assert streamed == model.sample(1, generator=gen(3), prompt="the", length=25, temperature=0.7)[0] + "\n"


def test_bpe_model_streams_whole_characters_and_reports_bits_per_char():
    text = "สวัสดีครับ 你好世界 hello\n" * 40
    info = info_for(text, "bpe")
    model = build_model("transformer-lm", TINY["transformer-lm"], info).eval()
    chunks = list(model.stream(1, generator=gen(), prompt="你好", length=40))
    assert "".join(chunks) == model.sample(1, generator=gen(), prompt="你好", length=40)[0] + "\n"
    x = torch.from_numpy(model.tokenizer.encode(text)[:26]).view(2, 13)
    val = model.validation_step({"x": x})
    chars = sum(len(model.tokenizer.decode(r[1:].tolist())) for r in x)  # windows start on whole characters here
    nats = -float(model.log_likelihood({"x": x}).sum())
    assert val["bits_per_token"] == pytest.approx(nats / 24 / math.log(2), rel=1e-4)
    assert val["bits_per_char"] == pytest.approx(nats / chars / math.log(2), rel=1e-3)


# ----------------------------------------------------------------------------- training and the CLI


def test_training_lowers_bits_per_char_and_samples_reload_identically(text_run):
    run, model = text_run
    from genlab.training import checkpoint as ck

    records = ck.read_metrics(run)
    losses = [r["loss"] for r in records if r["split"] == "train"]
    assert losses[-1] < losses[0] - 0.5
    assert any("bits_per_char" in r for r in records if r["split"] == "val")
    assert (run / "samples.txt").is_file()
    loaded = genlab.load(run)
    opts = dict(prompt="ROMEO:", length=30, temperature=0.8, top_k=10, top_p=0.9)
    assert loaded.sample(2, generator=gen(5), **opts) == model.sample(2, generator=gen(5), **opts)


def test_sample_command_streams_and_checks_options(text_run, tmp_path):
    run, _ = text_run
    runner = CliRunner()
    r = runner.invoke(main, ["sample", str(run), "--prompt", "ROMEO:", "--length", "20", "--temperature", "0.8",
                             "--top-k", "5", "--top-p", "0.95"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("ROMEO:") and len(r.output) == len("ROMEO:") + 20 + 1
    r = runner.invoke(main, ["sample", str(run), "-n", "3", "--length", "5", "-o", str(tmp_path / "s.txt")])
    assert r.exit_code == 0 and (tmp_path / "s.txt").read_text(encoding="utf-8").count("----- sample") == 3
    for args, msg in [(["--prompt", "ROMEO€"], "'€'"), (["--temperature", "0"], "temperature must be > 0"),
                      (["--top-p", "1.5"], "top-p must be in"),
                      (["--steps", "3"], "has no sampling option --steps")]:
        r = runner.invoke(main, ["sample", str(run), "--length", "3", *args])
        assert r.exit_code == 2 and msg in r.output, r.output
    r = runner.invoke(main, ["sample", str(run), "--length", "3", "--prompt", "ROMEO€", "--drop-unknown"])
    assert r.exit_code == 0 and r.output.startswith("ROMEO")

"""Classical generative models: RBM (AIS against the exact partition function), HMM (forward algorithm against
enumeration), LDA (generation from the vocabulary), the documents loader and the family tree."""
import itertools
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import genlab
from genlab.cli import main
from genlab.data.base import DataInfo
from genlab.errors import ConfigError, DataError
from genlab.models.classical.hmm import HMM, HMMConfig
from genlab.models.classical.rbm import RBM, RBMConfig

FAST = dict(progress=False, log_every=1, val_batches=2, grid_size=4)
BINARY_DIGITS = {"name": "digits", "binarize": "dynamic"}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- RBM
@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_rbm_ais_matches_the_exact_partition_function(visible, one_thread):
    torch.manual_seed(0)
    m = RBM(RBMConfig(hidden=10, visible=visible, ais_chains=200, ais_temperatures=1000), DataInfo("image", (1, 3, 4)))
    with torch.no_grad():  # a peaked, strongly coupled model, far from the base model
        m.W.normal_(0, 1.0 if visible == "bernoulli" else 0.15)
        m.b.normal_(0, 0.5)
        m.c.normal_(0, 0.5)
        m.base_bias.normal_(0, 0.5)
    exact = m.exact_log_partition()
    r = m.ais()
    assert r["log_z_std"] > 0
    assert abs(r["log_z"] - exact) < 3 * r["log_z_std"], (r["log_z"], exact, r["log_z_std"])
    # enumerating the other layer gives the same number (Bernoulli: 12 visible < ... both enumerable)
    if visible == "bernoulli":
        m2 = RBM(RBMConfig(hidden=14), DataInfo("image", (1, 3, 4)))
        m2.load_state_dict({**m.state_dict(), "W": torch.cat([m.W, torch.zeros(12, 4)], 1),
                            "c": torch.cat([m.c, torch.full((4,), -50.0)])})
        assert abs(m2.exact_log_partition() - exact) < 1e-6 + 4 * math.log1p(math.exp(-50)) * 2


def test_rbm_likelihood_of_all_binary_images_sums_to_one(one_thread):
    torch.manual_seed(1)
    m = RBM(RBMConfig(hidden=6), DataInfo("image", (1, 2, 4)))
    with torch.no_grad():
        m.W.normal_(0, 0.7)
    m._log_z = (m.exact_log_partition(), 0.0)  # the exact value in place of AIS
    v = torch.tensor(list(itertools.product([0.0, 1.0], repeat=8))).reshape(-1, 1, 2, 4)
    assert abs(float(m.log_likelihood({"x": v}).double().exp().sum()) - 1) < 1e-4


@pytest.mark.parametrize("mode", [{"cd_k": 1}, {"cd_k": 3}, {"persistent": True, "persistent_chains": 20}])
def test_rbm_trains_samples_and_round_trips(tmp_path, mode, one_thread):
    cfg = {"hidden": 16, "sample_steps": 20, "ais_temperatures": 200, "ais_chains": 20, **mode}
    model = genlab.train("rbm", BINARY_DIGITS, tmp_path / "r", model_config=cfg, max_steps=200, batch_size=64, seed=2,
                         lr=1e-2, **FAST)
    from genlab.training import checkpoint as ck

    recon = [r["recon_error"] for r in ck.read_metrics(tmp_path / "r") if r["split"] == "train"]
    assert np.mean(recon[-10:]) < np.mean(recon[:5])  # reconstruction improves
    loaded = genlab.load(tmp_path / "r")
    s = model.sample(6, generator=gen())
    assert s.shape == (6, 1, 8, 8) and 0 <= s.min() and s.max() <= 1
    assert torch.equal(s, loaded.sample(6, generator=gen()))
    assert not torch.equal(s, loaded.sample(6, generator=gen(1)))
    assert model.chain_snapshots(3, sweeps=10, every=5, generator=gen()).shape == (2, 3, 1, 8, 8)
    assert model.filters(5).shape == (5, 1, 8, 8)
    test = genlab.data.load_data(genlab.config.DataConfig(name="digits", binarize="static"), "image", "test").all()
    ll = loaded.log_likelihood({"x": test["x"][:50]})
    assert ll.shape == (50,) and torch.isfinite(ll).all() and (ll < 0).all()
    assert loaded.likelihood_estimator.startswith("AIS estimate ± ")
    if mode.get("persistent"):
        assert torch.equal(model.chains, loaded.chains) and loaded.chains.abs().sum() > 0


def test_rbm_refuses_grey_data_for_bernoulli_units(tmp_path, one_thread):
    with pytest.raises(DataError, match="needs binary pixels.*data.binarize=dynamic"):
        genlab.train("rbm", "digits", tmp_path / "r", model_config={"hidden": 4}, max_steps=2, **FAST)
    assert not (tmp_path / "r").exists()
    # gaussian visibles take grey values
    m = genlab.train("rbm", "digits", tmp_path / "g", model_config={"hidden": 4, "visible": "gaussian", "sample_steps": 5,
                                                                    "ais_temperatures": 50, "ais_chains": 10},
                     max_steps=5, **FAST)
    x = genlab.data.load_data(genlab.config.DataConfig(name="digits"), "image", "test").all()["x"][:8]
    assert torch.isfinite(m.log_likelihood({"x": x})).all()


# ----------------------------------------------------------------------------- HMM
def _tiny_hmm(states=2, vocab="abc", block=4):
    info = DataInfo("text", (block,), meta={"tokenizer": "char", "vocab": vocab, "vocab_size": len(vocab),
                                             "block_size": block, "bos": 0})
    torch.manual_seed(0)
    return HMM(HMMConfig(states=states), info)


def test_hmm_forward_matches_brute_force_enumeration():
    m = _tiny_hmm(states=3)
    x = torch.tensor([[0, 2, 1, 1, 0], [2, 2, 2, 0, 1]])
    for row, ll, full in zip(x, m.log_likelihood({"x": x}), m.log_prob_sequence(x)):
        total = 0.0
        for z in itertools.product(range(3), repeat=len(row)):
            p = m.start[z[0]] * m.emit[z[0], row[0]]
            for t in range(1, len(row)):
                p = p * m.trans[z[t - 1], z[t]] * m.emit[z[t], row[t]]
            total += float(p)
        first = float((m.start * m.emit[:, row[0]]).sum())
        assert abs(float(full) - math.log(total)) < 1e-5
        assert abs(float(ll) - (math.log(total) - math.log(first))) < 1e-5
    # the probabilities of all sequences of one length sum to 1
    every = torch.tensor(list(itertools.product(range(3), repeat=4)))
    assert abs(float(m.log_prob_sequence(every).double().exp().sum()) - 1) < 1e-5
    # Viterbi: the best path's joint probability is the largest over all paths
    row = x[0]
    path = m.viterbi(row)
    joint = lambda z: float(m.start[z[0]].log() + m.emit[z[0], row[0]].log() + sum(  # noqa: E731
        m.trans[z[t - 1], z[t]].log() + m.emit[z[t], row[t]].log() for t in range(1, len(row))))
    assert abs(joint(path.tolist()) - max(joint(z) for z in itertools.product(range(3), repeat=len(row)))) < 1e-5


def test_hmm_sequence_shorter_than_two_is_refused():
    m = _tiny_hmm()
    with pytest.raises(ConfigError, match="at least 2 tokens"):
        m.log_likelihood({"x": torch.tensor([[1]])})
    with pytest.raises(ConfigError, match="at least 2 tokens"):
        m.score_text("a")
    assert m.score_text("abca")["bits_per_char"] > 0


def test_hmm_em_learns_text_and_round_trips(tmp_path, one_thread):
    text = "the cat sat on the mat. " * 200
    (tmp_path / "t.txt").write_text(text)
    data = {"name": str(tmp_path / "t.txt"), "block_size": 32}
    model = genlab.train("hmm", data, tmp_path / "h", model_config={"states": 8}, max_steps=40, batch_size=16, **FAST)
    from genlab.training import checkpoint as ck

    losses = [r["loss"] for r in ck.read_metrics(tmp_path / "h") if r["split"] == "train"]
    assert losses[-1] < losses[0] - 0.5  # EM lowers the per-token NLL (unigram -> structure)
    loaded = genlab.load(tmp_path / "h")
    a = model.sample(2, generator=gen(), length=30, prompt="the ")
    assert a == loaded.sample(2, generator=gen(), length=30, prompt="the ") and a[0].startswith("the ")
    assert set("".join(a)) <= set(text)
    assert len(loaded.viterbi("the cat")) == 7
    loaded.save_state_path_picture("the cat sat", tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- documents and LDA
def _corpus(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    rng = np.random.default_rng(0)
    vocab = {"space": "planet rocket orbit star galaxy moon launch comet".split(),
             "food": "bread cheese apple soup butter pasta salad onion".split()}
    for name, words in vocab.items():
        docs = [" ".join(rng.choice(words, 12)) for _ in range(30)]
        (d / name).write_text("\n%\n".join(docs) + "\n%\n")
    return d, {w for ws in vocab.values() for w in ws}


def test_lda_generates_from_the_vocabulary_and_finds_the_topics(tmp_path, one_thread):
    d, words = _corpus(tmp_path)
    model = genlab.train("lda", str(d), tmp_path / "l", model_config={"topics": 2, "max_iter": 20}, seed=0, **FAST)
    assert set(model.vocab) == words
    docs = model.sample(20, generator=gen(), length=15)
    assert all(len(doc.split()) == 15 for doc in docs)
    assert {w for doc in docs for w in doc.split()} <= set(model.vocab)
    loaded = genlab.load(tmp_path / "l")
    assert loaded.sample(5, generator=gen()) == model.sample(5, generator=gen())
    tops = [set(t) for t in model.top_words(8)]
    assert sorted(map(sorted, tops)) == sorted(sorted(ws) for ws in [words & tops[0], words - tops[0]])
    mix = model.topic_mixture(["rocket orbit star", "cheese bread soup"])
    assert mix.argmax(1)[0] != mix.argmax(1)[1] and mix.max() > 0.8
    from genlab.data import load_data
    from genlab.config import DataConfig

    test = load_data(DataConfig(name=str(d)), "documents", "test")
    held = model.perplexity(test)
    assert 1 < held["perplexity"] < 16  # two 8-word topics: well below the 16-word vocabulary
    with pytest.raises(DataError, match="document 0 is empty"):
        model.topic_mixture([""])


def test_documents_loader_refuses_empty_input(tmp_path):
    from genlab.config import DataConfig
    from genlab.data import load_data

    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="holds no files"):
        load_data(DataConfig(name=str(tmp_path / "none")), "documents")
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "a.txt").write_text("  \n%\n\n")
    with pytest.raises(DataError, match="holds no text"):
        load_data(DataConfig(name=str(tmp_path / "blank")), "documents")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("some words here")
    (tmp_path / "files" / "b.txt").write_text("")
    with pytest.raises(DataError, match="b.txt is an empty document"):
        load_data(DataConfig(name=str(tmp_path / "files"), documents="files"), "documents")
    (tmp_path / "stop.txt").write_text("the and of\n%\nit is a\n")
    with pytest.raises(DataError, match="hold no words"):
        load_data(DataConfig(name=str(tmp_path / "stop.txt")), "documents")


def test_documents_from_fortunes_keep_file_labels(shared_data):
    from genlab.data.documents import read_documents

    texts, labels, skipped = read_documents(shared_data / "text" / "fortunes")
    assert len(texts) > 13000 and len(set(labels)) >= 38 and "science" in labels
    assert not any(t.strip() == "" or t.strip() == "%" for t in texts)


# ----------------------------------------------------------------------------- CLI and the family tree
def test_models_tree_and_cli_end_to_end(tmp_path, one_thread):
    r = CliRunner().invoke(main, ["models", "--tree"])
    assert r.exit_code == 0, r.output
    out = r.output
    exact, approx, implicit = (out.index(h) for h in ("exact likelihood", "approximate likelihood", "implicit density"))
    for name, where in [("hmm", exact), ("gmm", exact), ("rbm", approx), ("lda", approx), ("vae", approx),
                        ("dcgan", implicit)]:
        pos = out.index(f"  {name} ")
        nxt = min([p for p in (exact, approx, implicit) if p > where] + [len(out)])
        assert where < pos < nxt, name
    assert "AIS" in out
    d, _ = _corpus(tmp_path)
    runner = CliRunner()
    r = runner.invoke(main, ["train", "lda", "--data", str(d), "--out", str(tmp_path / "l"), "--quiet",
                             "--set", "model.topics=2", "--set", "model.max_iter=5"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["sample", str(tmp_path / "l"), "-n", "3", "-o", str(tmp_path / "g.txt")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "g.txt").read_text().count("%\n") == 2
    r = runner.invoke(main, ["evaluate", str(tmp_path / "l")])
    assert r.exit_code == 0, r.output
    assert "perplexity" in r.output and (tmp_path / "l" / "topics_vs_files.png").is_file()
    r = runner.invoke(main, ["train", "rbm", "--data", "digits", "--out", str(tmp_path / "r"), "--quiet",
                             "--max-steps", "2"])
    assert r.exit_code == 2 and "error: rbm with model.visible=bernoulli needs binary pixels" in r.output

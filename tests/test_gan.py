"""The GAN family: variants, training behaviour, sampling / decoding, save -> load, clashing options, CLI."""
import json
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import genlab
from genlab.cli import main
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.errors import ConfigError, DataError
from genlab.registry import list_models
from genlab.training.run import build_model

VARIANTS = ["acgan", "cgan", "d2gan", "dcgan", "gan", "hinge-sn", "lsgan", "mgan", "pacgan", "wgan", "wgan-gp"]
TINY = {"width": 8, "latent_dim": 4, "depth": 2}
FAST = dict(batch_size=32, progress=False, sample_every=10**9, checkpoint_every=10**9, val_batches=1)


@pytest.fixture(autouse=True)
def _quiet_single_thread():
    """Tiny networks: one thread is faster than two on a busy machine (and leaves the others' tests alone)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    torch.set_num_threads(threads)


def digits_info():
    return load_data(DataConfig(name="digits", limit=64), "image", "train").info


def ring_info():
    return load_data(DataConfig(name="ring8", limit=64), "vector", "train").info


def test_every_variant_is_registered():
    from genlab.models.gan.gan import GAN

    assert sorted(n for n, c in list_models().items() if issubclass(c, GAN)) == VARIANTS


@pytest.mark.parametrize("name", VARIANTS)
def test_variants_train_and_sample_images(tmp_path, name):
    m = genlab.train(name, DataConfig(name="digits", limit=128), tmp_path / name, model_config=TINY, max_steps=5, **FAST)
    x = m.sample(6, generator=torch.Generator().manual_seed(0))
    assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    logs = genlab.training.checkpoint.read_metrics(tmp_path / name)[-1]
    assert np.isfinite(logs["loss_d"]) and "diversity" in logs and "d_real" in logs
    assert ("wdist" in logs) == (name in ("wgan", "wgan-gp"))


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 64, 64), (3, 28, 28)])
def test_conv_architectures_follow_the_image_size(shape):
    from genlab.data.base import DataInfo

    info = DataInfo("image", shape, num_classes=10)
    m = build_model("cgan", {**TINY, "cond_d": "projection"}, info).eval()
    x = m.sample(2, labels=torch.tensor([1, 2]))
    assert x.shape == (2, *shape)
    assert m.discriminator(x * 2 - 1, torch.tensor([1, 2])).adv.shape == (2,)


def test_gan_learns_the_scale_of_the_ring(tmp_path):
    def deviation(steps):
        m = genlab.train("gan", "ring8", tmp_path / f"r{steps}", model_config={**TINY, "width": 32}, max_steps=steps,
                         **{**FAST, "batch_size": 64})
        r = m.sample(500, generator=torch.Generator().manual_seed(0)).norm(dim=1)
        return float((r - 2).abs().median())

    assert deviation(1) > 1.5  # near the origin at first
    assert deviation(150) < 1.2


def test_cgan_generates_the_mode_asked_for(tmp_path):
    m = genlab.train("cgan", "ring8", tmp_path / "c", model_config={**TINY, "width": 32}, lr=1e-3,
                     max_steps=300, **{**FAST, "batch_size": 64})
    centers = torch.tensor(m.info.meta["modes"])
    labels = torch.arange(8).repeat_interleave(50)
    x = m.sample(400, labels=labels, generator=torch.Generator().manual_seed(0))
    hit = (torch.cdist(x, centers).argmin(1) == labels).float().mean()
    assert hit > 0.9
    assert m.sample(4, labels=torch.tensor(2)).shape == (4, 2)  # one label for all
    with pytest.raises(ConfigError, match="labels must be in 0..7"):
        m.sample(2, labels=torch.tensor([0, 8]))
    with pytest.raises(ConfigError, match="conditional"):
        m.decode(torch.zeros(2, 4))
    assert m.decode(torch.zeros(2, 4), labels=torch.tensor([1, 2])).shape == (2, 2)


def test_save_load_same_samples_and_determinism(tmp_path):
    kw = dict(model_config=TINY, max_steps=6, **FAST)
    a = genlab.train("mgan", DataConfig(name="digits", limit=128), tmp_path / "a", **kw)
    b = genlab.train("mgan", DataConfig(name="digits", limit=128), tmp_path / "b", **kw)
    loaded = genlab.load(tmp_path / "a")
    s = [m.sample(5, generator=torch.Generator().manual_seed(3)) for m in (a, b, loaded)]
    assert torch.equal(s[0], s[1]) and torch.equal(s[0], s[2])
    assert not torch.equal(s[0], a.sample(5, generator=torch.Generator().manual_seed(4)))


def test_resume_is_exact_with_critic_steps(tmp_path):
    kw = dict(model_config={**TINY, "width": 16}, **FAST)
    genlab.train("wgan-gp", "ring8", tmp_path / "straight", max_steps=12, **kw)
    genlab.train("wgan-gp", "ring8", tmp_path / "split", max_steps=7, **kw)
    genlab.resume(tmp_path / "split", max_steps=12, progress=False)
    a, b = genlab.load(tmp_path / "straight"), genlab.load(tmp_path / "split")
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k


def test_decode_and_latent_dim():
    m = build_model("dcgan", TINY, digits_info()).eval()
    assert m.latent_dim == 4 and "decode" in m.capabilities()
    z = torch.randn(3, 4)
    x = m.decode(z)
    assert x.shape == (3, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, m.decode(z)) and not torch.equal(x, m.decode(-z))
    with pytest.raises(ConfigError, match=r"shape \(N, 4\)"):
        m.decode(torch.randn(3, 5))
    mg = build_model("mgan", {**TINY, "n_generators": 3}, ring_info()).eval()
    z = torch.randn(4, 4)
    assert not torch.allclose(mg.decode(z, generator_index=0), mg.decode(z, generator_index=2))
    with pytest.raises(ConfigError, match="generator_index"):
        mg.decode(z, generator_index=3)


def test_weight_clipping_and_spectral_norm(tmp_path):
    m = genlab.train("wgan", "ring8", tmp_path / "w", model_config={**TINY, "clip": 0.02}, max_steps=3, **FAST)
    assert max(float(p.abs().max()) for p in m.d_parameters()) <= 0.02
    sn = build_model("hinge-sn", TINY, ring_info())
    layer = sn.discriminator.adv
    assert torch.nn.utils.parametrize.is_parametrized(layer, "weight")
    sn.train()
    for _ in range(20):  # power iterations run in training mode
        sn.discriminator(torch.randn(8, 2))
    assert float(torch.linalg.matrix_norm(layer.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("model, cfg, match", [
    ("wgan", {"gp_weight": 10.0}, "model.clip .* and model.gp_weight"),
    ("gan", {"cond_d": "projection"}, "model.cond_d=projection .* model.conditional=false"),
    ("gan", {"ac_weight": 1.0}, "model.ac_weight .* model.conditional=false"),
    ("cgan", {"cond_d": "projection", "pack": 2}, "model.pack=2 .* model.cond_d=projection"),
    ("mgan", {"pack": 2}, "model.pack=2 .* model.n_generators > 1"),
    ("wgan-gp", {"label_smoothing": 0.1}, "model.label_smoothing .* model.loss=wgan"),
    ("d2gan", {"r1_weight": 1.0}, "model.loss=d2gan .* model.r1_weight"),
    ("cgan", {"cond_d": "none"}, "model.cond_d=none with model.ac_weight=0"),
    ("gan", {"loss": "wasserstein"}, "model.loss must be one of"),
    ("gan", {"arch": "conv"}, "model.arch=conv needs image data"),
    ("gan", {"depth_d": 0}, "model.depth_d must be >= 1"),
])
def test_clashing_options_are_rejected(model, cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_model(model, cfg, ring_info())


def test_conditional_needs_labels(tmp_path):
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32))
    with pytest.raises(ConfigError, match="needs labelled data"):
        genlab.train("cgan", str(tmp_path / "v.npy"), tmp_path / "run", max_steps=1, **FAST)
    with pytest.raises(ConfigError, match="train.batch_size=30 must be a multiple of model.pack=4"):
        genlab.train("pacgan", "ring8", tmp_path / "p", max_steps=1, **{**FAST, "batch_size": 30})
    with pytest.raises(DataError, match="as vector data.*as image data"):
        genlab.train("gan", "no-such-data", tmp_path / "n", max_steps=1, **FAST)


def test_health_warning_when_d_wins(tmp_path):
    with pytest.warns(Warning, match="discriminator wins outright"):
        warnings.simplefilter("always")
        genlab.train("gan", "ring8", tmp_path / "h", model_config=TINY, lr=1e-6, lr_mult={"d": 1e4}, max_steps=250,
                     **FAST)


def test_cli_train_and_sample_a_label(tmp_path):
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "cgan", "--data", "ring8", "--out", str(run), "--max-steps", "3", "--quiet",
                                  "--set", "model.width=8", "--set", "model.latent_dim=4"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["sample", str(run), "-n", "8", "--label", "3", "-o", str(tmp_path / "s.csv")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s.csv").read_text().splitlines()[1].endswith(",3")
    r = CliRunner().invoke(main, ["sample", str(run), "-n", "8", "--label", "9"])
    assert r.exit_code == 2 and "'9' is not a class of this model; the classes are 0=mode 0" in r.output
    r = CliRunner().invoke(main, ["train", "wgan", "--data", "ring8", "--out", str(tmp_path / "x"),
                                  "--set", "model.gp_weight=10"])
    assert r.exit_code == 2 and "model.clip" in r.output and "model.gp_weight" in r.output
    r = CliRunner().invoke(main, ["modes", str(run), "-n", "100", "--json", "-o", str(tmp_path / "m.png")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.splitlines()[0])["num_modes"] == 8 and (tmp_path / "m.png").is_file()


def test_cli_interpolate_and_modes_errors(tmp_path):
    run = tmp_path / "dc"
    genlab.train("dcgan", DataConfig(name="digits", limit=64), run, model_config=TINY, max_steps=2, **FAST)
    r = CliRunner().invoke(main, ["interpolate", str(run), "--steps", "5", "--pairs", "2", "-o", str(tmp_path / "i.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "i.png").is_file()
    r = CliRunner().invoke(main, ["modes", str(run)])
    assert r.exit_code == 2 and "modes are unknown" in r.output
    r = CliRunner().invoke(main, ["interpolate", str(run), "--label", "3", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "not trained with labels" in r.output and not (tmp_path / "x.png").exists()
    r = CliRunner().invoke(main, ["train", "dcgan", "--data", "digits", "--out", str(tmp_path / "p"),
                                  "--set", "model.cond_d=projection"])
    assert r.exit_code == 2 and "model.cond_d=projection" in r.output and "model.conditional=false" in r.output


def test_cli_conditional_images_by_label(tmp_path):
    run = tmp_path / "cg"
    genlab.train("cgan", DataConfig(name="digits", limit=64), run, model_config={**TINY, "cond_d": "projection"},
                 max_steps=2, **FAST)
    r = CliRunner().invoke(main, ["sample", str(run), "-n", "4", "--label", "3", "-o", str(tmp_path / "threes.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "threes.png").is_file()
    r = CliRunner().invoke(main, ["interpolate", str(run), "--steps", "3", "--pairs", "2", "--label", "7",
                                  "-o", str(tmp_path / "i.png")])
    assert r.exit_code == 0, r.output
    for args, message in ((["sample", str(run), "--label", "10"], "'10' is not a class of this model; the classes are 0, 1"),
                          (["interpolate", str(run), "--label", "-1"], "labels must be in 0..9")):
        r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "bad.png")])
        assert r.exit_code == 2 and message in r.output, r.output
        assert "Traceback" not in r.output and not (tmp_path / "bad.png").exists()


def test_discriminator_depth_can_differ_from_the_generator():
    def hidden(net):
        return sum(isinstance(m, torch.nn.Linear) for m in net.modules()) - 1  # all but the output layer

    m = build_model("gan", {**TINY, "depth": 3, "depth_d": 1}, ring_info())
    assert hidden(m.generator) == 3 and hidden(m.discriminator) == 1
    d2 = build_model("d2gan", {**TINY, "depth": 3, "depth_d": 2}, ring_info())
    assert hidden(d2.discriminator) == hidden(d2.discriminator2) == 2
    assert hidden(build_model("gan", {**TINY, "depth": 3}, ring_info()).discriminator) == 3  # default: depth
    d2 = build_model("d2gan", {"width": 8}, ring_info())  # D2GAN's MLPs default to two hidden layers
    assert hidden(d2.generator) == hidden(d2.discriminator) == 2


def test_d2gan_logs_both_positive_discriminators(tmp_path):
    genlab.train("d2gan", "ring8", tmp_path / "d2", model_config=TINY, max_steps=3, **{**FAST, "log_every": 1})
    rec = [json.loads(line) for line in (tmp_path / "d2" / "metrics.jsonl").read_text().splitlines()]
    rec = [r for r in rec if "d2_real" in r]
    assert rec and all(r[k] > 0 for r in rec for k in ("d_real", "d_fake", "d2_real", "d2_fake"))
    assert all(0 <= r["d_acc"] <= 1 for r in rec)  # D1 against its equilibrium level alpha: health can see D win


def test_health_warning_when_d2gan_discriminators_win(tmp_path):
    with pytest.warns(Warning, match="discriminator wins outright"):
        warnings.simplefilter("always")
        genlab.train("d2gan", "ring8", tmp_path / "h", model_config=TINY, lr=1e-6, lr_mult={"d": 1e4}, max_steps=250,
                     **FAST)


def test_diagnostics_every_tenth_of_the_log_interval_losses_every_step():
    from genlab.config import TrainConfig

    m = build_model("gan", TINY, ring_info())
    opts = m.configure_optimizers(TrainConfig(log_every=50))
    m._optimize_hook = lambda loss, name: (opts[name].zero_grad(), loss.backward(), opts[name].step())
    x = torch.randn(32, 2)
    diag = {"d_real", "d_fake", "diversity", "d_acc", "gnorm_d", "gnorm_g"}
    seen = []
    for step in range(11):
        logs = m.training_step({"x": x}, step)
        assert {"loss_d", "loss_g"} <= set(logs)  # the losses every step (non-finite ones stop training)
        seen.append(diag <= set(logs))
        assert step % 5 == 0 or not diag & set(logs)
    assert seen == [s % 5 == 0 for s in range(11)] and m.health.seen == 15  # each measurement stands for 5 steps

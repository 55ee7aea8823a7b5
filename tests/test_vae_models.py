"""Autoencoder family: decoder likelihoods, objectives, importance-sampled likelihood, samplers, bad input."""
import math

import numpy as np
import pytest
import torch

import genlab
from genlab.config import TrainConfig, from_dict
from genlab.data.base import DataInfo, TensorDataset
from genlab.errors import ConfigError, DataError
from genlab.models.vae import likelihoods as lik
from genlab.models.vae import vae as vae_module
from genlab.models.vae.corruption import corrupt
from genlab.training import Trainer
from genlab.training import checkpoint as ck

FAST = dict(progress=False, batch_size=128, log_every=1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: a second thread only adds synchronisation cost on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(name: str, info: DataInfo, **cfg):
    cls = genlab.get_model_class(name)
    return cls(from_dict(cls.Config, cfg, "model"), info)


def vector_data(n=4096, d=6, seed=0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g)
    x = z @ torch.randn(2, d, generator=g) + 0.1 * torch.randn(n, d, generator=g) + 2.0
    return TensorDataset({"x": x}, DataInfo("vector", (d,), name="synthetic"))


def fit(model, ds, tmp_path, **train):
    cfg = from_dict(TrainConfig, {"progress": False, "log_every": 1, "batch_size": 64, **train}, "train")
    tmp_path.mkdir(parents=True, exist_ok=True)
    Trainer(model, ds, None, cfg, tmp_path, torch.device("cpu")).fit()
    return [r["loss"] for r in ck.read_metrics(tmp_path) if r["split"] == "train"]


# ----------------------------------------------------------------------------- likelihoods
def test_decoder_likelihoods_match_closed_forms():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 4, 4)
    out = torch.randn(3, 1, 4, 4)
    bern = torch.distributions.Bernoulli(logits=out).log_prob(x.round()).flatten(1).sum(1)
    torch.testing.assert_close(lik.log_prob("bernoulli", x.round(), out, 0.1), bern)
    gauss = torch.distributions.Normal(out, 0.3).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(lik.log_prob("gaussian", x, out, 0.3), gauss)
    raw = torch.randn(3, 1, 4, 4)
    learned = torch.distributions.Normal(out, 0.05 + torch.nn.functional.softplus(raw)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(lik.log_prob("gaussian-learned", x, torch.cat([out, raw], 1), 0.05), learned)
    assert lik.mean("gaussian-learned", torch.cat([out, raw], 1)).shape == x.shape


@pytest.mark.parametrize("mu,log_s", [(0.5, -3.0), (0.0, -6.0), (1.02, -1.0), (0.3, -9.0)])
def test_discretised_logistic_is_a_distribution_over_256_levels(mu, log_s):
    levels = torch.arange(256, dtype=torch.float32).div(255).view(256, 1)
    out = torch.tensor([[mu, log_s]]).expand(256, 2)
    logp = lik.log_prob("logistic", levels, out, 0.1)
    assert torch.logsumexp(logp.double(), 0).exp().item() == pytest.approx(1.0, abs=2e-3)
    # a middle bin is the difference of the logistic CDF at the bin edges
    cdf = lambda v: torch.sigmoid(torch.tensor((v - mu) / math.exp(max(log_s, -7.0))))  # noqa: E731
    k = 128
    expected = cdf(k / 255 + 1 / 510) - cdf(k / 255 - 1 / 510)
    if expected > 1e-5:
        assert logp[k].exp().item() == pytest.approx(expected.item(), rel=1e-3)


def test_corruptions():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 50, generator=g)
    masked = corrupt(x, "masking", 0.3, torch.Generator().manual_seed(1))
    assert (masked == 0).float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert torch.equal(masked[masked != 0], x[masked != 0])
    sp = corrupt(x, "salt-pepper", 0.2, torch.Generator().manual_seed(1))
    changed = sp != x
    assert changed.float().mean().item() == pytest.approx(0.2, abs=0.02)
    assert set(sp[changed].unique().tolist()) == {x.min().item(), x.max().item()}
    noise = corrupt(x, "gaussian", 0.5, torch.Generator().manual_seed(1)) - x
    assert noise.std().item() == pytest.approx(0.5, rel=0.05)
    assert corrupt(x, "none", 0.5) is x


# ----------------------------------------------------------------------------- bad input
def test_bad_configs_and_data_give_clear_errors():
    with pytest.raises(ConfigError, match="latent_dim must be >= 1, got 0"):
        from_dict(genlab.get_model_class("vae").Config, {"latent_dim": 0}, "model")
    with pytest.raises(ConfigError, match="beta must be >= 0.*got -1"):
        from_dict(genlab.get_model_class("beta-vae").Config, {"beta": -1}, "model")
    with pytest.raises(ConfigError, match="decoder must be one of"):
        from_dict(genlab.get_model_class("ae").Config, {"decoder": "poisson"}, "model")
    with pytest.raises(ConfigError, match="noise must be one of"):
        from_dict(genlab.get_model_class("dae").Config, {"noise": "blur"}, "model")
    with pytest.raises(ConfigError, match="free_bits applies to the ELBO"):
        from_dict(genlab.get_model_class("iwae").Config, {"free_bits": 0.5}, "model")
    with pytest.raises(ConfigError, match="arch=conv needs image data.*arch=mlp"):
        build("vae", DataInfo("vector", (5,)), arch="conv")
    with pytest.raises(ConfigError, match="needs labelled data"):
        build("cvae", DataInfo("image", (1, 8, 8)))


@pytest.mark.parametrize("args, message", [
    (["--data", "digits", "--set", "model.latent_dim=0"], "model.latent_dim must be >= 1, got 0"),
    (["--data", "digits", "--set", "model.beta=-1"], "model.beta must be >= 0"),
    (["--data", "ring8", "--set", "model.arch=mlp"], "the bernoulli decoder needs data in [0, 1], got values in [-2."),
])
def test_bad_input_by_cli_is_one_line_and_exit_code_2(tmp_path, args, message):
    from click.testing import CliRunner

    from genlab.cli import main

    r = CliRunner().invoke(main, ["train", "vae", "--out", str(tmp_path / "run"), "--quiet", "--epochs", "1", *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_bernoulli_decoder_on_data_outside_unit_range_is_refused(tmp_path):
    ds = vector_data()
    with pytest.raises(DataError, match=r"bernoulli decoder needs data in \[0, 1\].*model.decoder=gaussian"):
        fit(build("vae", ds.info), ds, tmp_path, max_steps=1)


# ----------------------------------------------------------------------------- likelihood estimates
def _linear_gaussian_vae(monkeypatch):
    """A linear VAE with a Gaussian decoder: p(x) = N(b, W W^T + s^2 I) in closed form; the encoder is set
    to the exact posterior mean with an over-dispersed diagonal variance (a valid, good proposal)."""
    torch.manual_seed(0)
    d, k, s = 4, 2, 0.5
    model = build("vae", DataInfo("vector", (d,)), arch="mlp", hidden=[], decoder="gaussian", gaussian_std=s, latent_dim=k)
    dec, enc = model.decoder.net[0], model.encoder.net[0]
    w, b = dec.weight.detach().double(), dec.bias.detach().double()
    post_cov = torch.linalg.inv(torch.eye(k, dtype=torch.float64) + w.T @ w / s**2)
    gain = post_cov @ w.T / s**2
    with torch.no_grad():
        enc.weight.copy_(torch.cat([gain, torch.zeros(k, d, dtype=torch.float64)]))
        enc.bias.copy_(torch.cat([-gain @ b, (1.5 * post_cov.diagonal()).log()]))
    exact = torch.distributions.MultivariateNormal(b, w @ w.T + s**2 * torch.eye(d, dtype=torch.float64))
    x = exact.sample((6,)).float()
    return model.eval(), {"x": x}, exact.log_prob(x.double()).float()


def test_importance_sampled_likelihood_converges_to_the_exact_one(monkeypatch):
    monkeypatch.setattr(vae_module, "MAX_ROWS", 600)  # 100 samples per chunk: exercises the chunking
    model, batch, exact = _linear_gaussian_vae(monkeypatch)
    torch.manual_seed(1)
    elbo = model.log_likelihood({"x": batch["x"].repeat(500, 1)}).mean()  # E_q of the 1-sample ELBO
    iw = model.log_likelihood(batch, num_samples=3000)
    assert elbo < exact.mean() - 0.1  # q is not the posterior: the ELBO is a strict lower bound (gap ~0.25)
    torch.testing.assert_close(iw, exact, atol=0.04, rtol=0)
    assert model.supports_nll_samples and model.has("log_likelihood")
    with pytest.raises(ConfigError, match="num_samples must be a positive integer"):
        model.log_likelihood(batch, num_samples=0)


# ----------------------------------------------------------------------------- objectives
def test_free_bits_and_kl_warmup(monkeypatch):
    model = build("vae", DataInfo("image", (1, 8, 8)), free_bits=50.0, latent_dim=4, kl_warmup_steps=10)
    losses = []
    model._optimize_hook = lambda loss, name: losses.append(loss.detach())
    x = torch.rand(16, 1, 8, 8).round()
    torch.manual_seed(0)
    logs = model.training_step({"x": x}, step=9)
    torch.manual_seed(0)
    rec, kl = model.elbo_terms(x, None)
    # every dimension's KL is far below 50 nats: the KL term is the constant 4 x 50 (no gradient to q)
    assert (kl.mean(0) < 50).all()
    torch.testing.assert_close(losses[0], -rec.mean() + 1.0 * 4 * 50.0)
    assert model.kl_weight(0) == pytest.approx(0.1) and model.kl_weight(100) == 1.0
    assert logs["kl"] == pytest.approx(float(kl.detach().sum(1).mean()), rel=1e-5)


@pytest.mark.parametrize("name,cfg", [
    ("vae", {}),
    ("iwae", {"arch": "mlp", "hidden": [64]}),
    ("beta-vae", {"decoder": "logistic", "kl_warmup_steps": 20, "width": 16}),
    ("cvae", {"decoder": "gaussian-learned", "gaussian_std": 0.05, "width": 16}),
    ("ae", {"arch": "mlp", "hidden": [64]}),
    ("dae", {"noise": "salt-pepper", "noise_level": 0.2}),
])
def test_every_model_trains_on_digits_and_round_trips(tmp_path, name, cfg):
    model = genlab.train(name, "digits", tmp_path / "r", model_config=cfg, epochs=2, lr=2e-3, **FAST)
    losses = [r["loss"] for r in ck.read_metrics(tmp_path / "r") if r["split"] == "train"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    labels = torch.arange(6) % 10 if model.conditional else None
    x = model.sample(6, labels=labels, generator=g())
    assert x.shape == (6, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    loaded = genlab.load(tmp_path / "r")
    assert torch.equal(loaded.sample(6, labels=labels, generator=g()), x)
    assert model.encode(torch.rand(3, 1, 8, 8), labels=labels[:3] if labels is not None else None).shape == (3, model.config.latent_dim)


def test_cvae_decodes_the_chosen_class_differently_and_needs_labels(tmp_path):
    model = genlab.train("cvae", "digits", tmp_path / "r", model_config={"width": 8}, epochs=1, lr=2e-3, **FAST)
    z = torch.zeros(2, model.config.latent_dim)
    a, b = model.decode(z, torch.tensor([1, 1])), model.decode(z, torch.tensor([1, 7]))
    assert torch.equal(a[0], b[0]) and not torch.allclose(a[1], b[1])
    with pytest.raises(ConfigError, match="is conditional: it needs the class labels"):
        model.encode(torch.rand(2, 1, 8, 8))


def test_vector_autoencoders_with_gaussian_decoders(tmp_path):
    ds = vector_data()
    x = ds.tensors["x"]
    ae = build("ae", ds.info, decoder="gaussian", hidden=[32], latent_dim=2)
    losses = fit(ae, ds, tmp_path / "ae", epochs=6, lr=3e-3)
    assert losses[-1] < 0.05 * losses[0]
    s = ae.eval().sample(2000, generator=torch.Generator().manual_seed(0))
    assert s.shape == (2000, 6)
    # samples (codes from the running Gaussian of the training codes) land near the data
    assert ((s.mean(0) - x.mean(0)).abs() < 0.5 * x.std(0)).all()
    assert ((s.std(0) / x.std(0)).log().abs() < math.log(2)).all()
    vae = build("vae", ds.info, decoder="gaussian", hidden=[32], latent_dim=2)
    losses = fit(vae, ds, tmp_path / "vae", epochs=3, lr=3e-3)
    assert losses[-1] < 0.05 * losses[0]
    assert (vae.eval().reconstruct(x) - x).pow(2).mean() < 0.1 * x.var(0).mean()


# ----------------------------------------------------------------------------- latent samplers
def test_gmm_latent_sampler_is_fitted_at_the_end_of_training_and_saved(tmp_path):
    cfg = {"latent_sampler": "gmm", "latent_components": 3, "arch": "mlp", "hidden": [64]}
    model = genlab.train("ae", "digits", tmp_path / "r", model_config=cfg, epochs=2, **FAST)
    assert model.latent_gmm.fitted.item() == 1.0
    assert model.latent_gmm.weights.sum().item() == pytest.approx(1.0)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    loaded = genlab.load(tmp_path / "r")
    torch.testing.assert_close(loaded.latent_gmm.means, model.latent_gmm.means)
    assert torch.equal(loaded.sample(5, generator=g()), model.sample(5, generator=g()))
    assert not torch.equal(model.sample(5, generator=g(), sampler="prior"), model.sample(5, generator=g()))
    # the trainer shows samples from the fitted mixture in its last preview
    assert (tmp_path / "r" / "samples.png").is_file()


def test_gmm_sampler_without_a_fitted_mixture_is_an_error(tmp_path):
    model = build("vae", DataInfo("image", (1, 8, 8)))
    with pytest.raises(ConfigError, match="no fitted latent mixture.*genlab fit-latent"):
        model.sample(2, sampler="gmm")
    with pytest.raises(ConfigError, match="sampler must be prior or gmm"):
        model.sample(2, sampler="ddim")

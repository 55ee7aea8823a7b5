"""Normalising flows: invertibility, log-determinants against autograd Jacobians, a density that
integrates to one, exact bits/dim going down with training, temperature, save/load and bad input."""
import math

import pytest
import torch

import genlab
from genlab.config import from_dict
from genlab.data.base import DataInfo
from genlab.errors import ConfigError
from genlab.models.flows.flow_mlp import FlowMLP
from genlab.models.flows.layers import ActNorm, AffineCoupling, Squeeze, channel_mask, checkerboard_mask
from genlab.models.flows.realnvp import RealNVP
from genlab.training import checkpoint as ck

from test_diffusion import fit_vectors


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def jiggle(model: torch.nn.Module, std: float = 0.05) -> None:
    """Random non-zero weights everywhere (zero-initialised layers would make the checks trivial)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn_like(p))


def tiny_realnvp(**cfg) -> RealNVP:
    m = RealNVP(from_dict(RealNVP.Config, {"width": 8, "num_blocks": 1, **cfg}, "model"), DataInfo("image", (1, 4, 4)))
    jiggle(m)
    return m.eval()


# ----------------------------------------------------------------------------- layers


def test_masks():
    cb = checkerboard_mask(2, 3, 3, 0)
    assert cb.shape == (1, 2, 3, 3) and cb[0, 0, 0, 0] == 1 and cb[0, 0, 0, 1] == 0 and torch.equal(cb[0, 0], cb[0, 1])
    assert torch.equal(checkerboard_mask(1, 3, 3, 1), 1 - checkerboard_mask(1, 3, 3, 0))
    ch = channel_mask(4, 2, 2, False)
    assert ch[0, :2].eq(1).all() and ch[0, 2:].eq(0).all() and torch.equal(channel_mask(4, 2, 2, True), 1 - ch)


def test_layers_invert_and_report_their_log_determinant():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 4, 4)
    layers = [ActNorm(2, 4), Squeeze(),
              AffineCoupling(checkerboard_mask(2, 4, 4, 1), torch.nn.Conv2d(3, 4, 3, padding=1), append_mask=True)]
    layers[0].train()(x)  # data-dependent initialisation
    assert torch.allclose(layers[0](x)[0].mean((0, 2, 3)), torch.zeros(2), atol=1e-5)
    for layer in layers:
        jiggle(layer, 0.3)
        y, logdet = layer(x)
        assert torch.allclose(layer.inverse(y), x, atol=1e-5)
        jac = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x[0])  # (2,4,4) -> (2,4,4)
        assert torch.allclose(logdet[0], torch.linalg.slogdet(jac.reshape(32, 32))[1], atol=1e-4)


def test_realnvp_is_invertible_with_the_exact_log_determinant():
    m = tiny_realnvp(num_scales=2)
    x = torch.randn(2, 1, 4, 4)
    zs, logdet = m(x)
    assert [tuple(z.shape[1:]) for z in zs] == [(2, 2, 2), (2, 2, 2)] == [tuple(s) for s in m.latent_shapes]
    assert torch.allclose(m.inverse(zs), x, atol=1e-4)
    flat = lambda v: torch.cat([z.flatten() for z in m(v[None])[0]])  # noqa: E731
    jac = torch.autograd.functional.jacobian(flat, x[0]).reshape(16, 16)
    assert torch.allclose(logdet[0], torch.linalg.slogdet(jac)[1], atol=1e-3)


def test_realnvp_likelihood_is_in_the_8_bit_scale():
    """An untrained flow (identity couplings, act-norm not yet initialised) is the logit map of uniform
    dequantisation: its bits/dim is that of N(0, 1) on the logits plus the logit Jacobian, minus 8 bits."""
    m = RealNVP(from_dict(RealNVP.Config, {"width": 8, "num_blocks": 1}), DataInfo("image", (1, 4, 4))).eval()
    x = torch.full((1000, 1, 4, 4), 0.5)  # 127.5 / 255
    torch.manual_seed(0)
    ll = m.log_likelihood({"x": x})
    torch.manual_seed(0)
    a = m.config.logit_alpha
    y = (x * 255 + torch.rand_like(x)) / 256
    p = a + (1 - 2 * a) * y
    logit = torch.log(p / (1 - p))
    ref = (-0.5 * logit**2 - 0.5 * math.log(2 * math.pi) + math.log(1 - 2 * a) - torch.log(p * (1 - p))).sum((1, 2, 3))
    assert torch.allclose(ll, ref - 16 * math.log(256), atol=1e-3)


# ----------------------------------------------------------------------------- vector flow


def test_flow_mlp_density_integrates_to_one_and_fits_a_ring(tmp_path):
    torch.manual_seed(0)
    angle = torch.rand(4000) * 2 * math.pi
    x = torch.stack([angle.cos(), angle.sin()], 1) * 2 + 0.1 * torch.randn(4000, 2)
    m = FlowMLP(from_dict(FlowMLP.Config, {"num_layers": 6, "hidden": 32}), DataInfo("vector", (2,)))
    before = m.log_likelihood({"x": x}).mean()
    fit_vectors(m, x, 400, tmp_path)
    after = m.log_likelihood({"x": x}).mean()
    assert after > before + 1.0
    g = torch.linspace(-4, 4, 241)
    grid = torch.cartesian_prod(g, g)
    mass = m.log_likelihood({"x": grid}).exp().sum() * (g[1] - g[0]) ** 2
    assert abs(mass - 1) < 0.03  # a normalised density, whatever the weights
    assert torch.allclose(m.decode(m.encode(x[:50])), x[:50], atol=1e-4)
    cold = m.sample(2000, generator=torch.Generator().manual_seed(0), temperature=0.5)
    hot = m.sample(2000, generator=torch.Generator().manual_seed(0))
    assert cold.std(0).sum() < hot.std(0).sum()
    with pytest.raises(ConfigError, match="vectors of 2 features"):
        m.log_likelihood({"x": torch.randn(4, 3)})
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        m.sample(2, temperature=0.0)
    with pytest.raises(ConfigError, match="at least 2 features"):
        FlowMLP(FlowMLP.Config(), DataInfo("vector", (1,)))


# ----------------------------------------------------------------------------- training on images


def test_realnvp_trains_on_digits_and_reloads(tmp_path):
    m = genlab.train("realnvp", "digits", tmp_path / "run", model_config={"width": 16, "num_blocks": 1},
                     epochs=3, batch_size=64, lr=1e-3, progress=False, val_batches=3, log_every=5)
    rows = ck.read_metrics(tmp_path / "run")
    bpd = [r["bits_per_dim"] for r in rows if r["split"] == "val"]
    train_bpd = [r["bits_per_dim"] for r in rows if r["split"] == "train"]
    assert bpd[-1] < bpd[0] and train_bpd[-1] < train_bpd[0] - 0.5
    a = m.sample(6, generator=torch.Generator().manual_seed(1), temperature=0.8)
    assert a.shape == (6, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    b = genlab.load(tmp_path / "run").sample(6, generator=torch.Generator().manual_seed(1), temperature=0.8)
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="images of shape"):
        m.log_likelihood({"x": torch.rand(2, 1, 16, 16)})
    with pytest.raises(ConfigError, match="does not take sampling option"):
        m.sample(2, steps=10)


def test_realnvp_rejects_sizes_it_cannot_squeeze():
    with pytest.raises(ConfigError, match="divisible by 4"):
        RealNVP(from_dict(RealNVP.Config, {"num_scales": 3}), DataInfo("image", (1, 6, 6)))
    with pytest.raises(ConfigError, match="logit_alpha"):
        from_dict(RealNVP.Config, {"logit_alpha": 0.7}, "model")

"""GAN losses, regularisers and building blocks: closed forms."""
import math

import pytest
import torch

from genlab.models.gan import losses
from genlab.models.gan.health import (GANHealthWarning, HealthMonitor, discriminator_accuracy,
                                      diversity_ratio)
from genlab.models.gan.networks import Discriminator, Generator, minibatch_stddev, pack

LOG2 = math.log(2)


def t(*v):
    return torch.tensor(v, dtype=torch.float32)


def test_losses_at_known_points():
    zero = torch.zeros(4)
    assert losses.d_loss("minimax", zero, zero) == pytest.approx(2 * LOG2)
    assert losses.g_loss("minimax", zero) == pytest.approx(-LOG2)
    assert losses.g_loss("nonsaturating", zero) == pytest.approx(LOG2)
    assert losses.d_loss("nonsaturating", t(30.0), t(-30.0)) == pytest.approx(0, abs=1e-6)
    # one-sided label smoothing: a confident real logit now costs s * softplus(logit)
    assert losses.d_loss("nonsaturating", t(10.0), t(-30.0), smooth=0.1) == pytest.approx(0.1 * 10, rel=1e-3)
    assert losses.d_loss("lsgan", t(1.0), t(0.0)) == 0
    assert losses.d_loss("lsgan", t(0.0), t(1.0)) == pytest.approx(1.0)
    assert losses.d_loss("lsgan", t(0.9), t(0.0), smooth=0.1) == pytest.approx(0, abs=1e-7)
    assert losses.g_loss("lsgan", t(1.0)) == 0
    assert losses.d_loss("wgan", t(1.0, 3.0), t(0.0)) == pytest.approx(-2.0)
    assert losses.g_loss("wgan", t(1.0, 3.0)) == pytest.approx(-2.0)
    assert losses.wasserstein_estimate(t(1.0, 3.0), t(0.0)) == pytest.approx(2.0)
    assert losses.d_loss("hinge", t(2.0), t(-2.0)) == 0
    assert losses.d_loss("hinge", zero, zero) == pytest.approx(2.0)


def test_d2gan_loss_closed_form():
    z = torch.zeros(3, 2)
    sp0, log_sp0 = LOG2, math.log(LOG2)
    a, b = 0.2, 0.1
    assert losses.d_loss("d2gan", z, z, alpha=a, beta=b) == pytest.approx(-a * log_sp0 + sp0 + sp0 - b * log_sp0)
    assert losses.g_loss("d2gan", z, beta=b) == pytest.approx(-sp0 + b * log_sp0)
    # very negative outputs stay finite (log softplus(a) ~ a)
    very_neg = torch.full((2, 2), -200.0, requires_grad=True)
    out = losses.d_loss("d2gan", very_neg, very_neg, alpha=a, beta=b)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(very_neg.grad).all()


@pytest.mark.parametrize("scale, expected", [(1.0, 0.0), (3.0, 4.0)])
def test_gradient_penalty_of_a_linear_critic(scale, expected):
    w = torch.randn(5)
    w = scale * w / w.norm()
    real, fake = torch.randn(8, 5), torch.randn(8, 5)
    assert losses.gradient_penalty(lambda x: x @ w, real, fake) == pytest.approx(expected, abs=1e-5)


def test_r1_penalty_of_a_linear_critic():
    w = t(1.0, 2.0, 2.0)
    real = torch.randn(6, 3, requires_grad=True)
    assert losses.r1_penalty(real @ w, real) == pytest.approx(0.5 * 9.0)


def test_clip_weights():
    lin = torch.nn.Linear(4, 4)
    with torch.no_grad():
        lin.weight.mul_(100)
    losses.clip_weights_(lin.parameters(), 0.01)
    assert all(p.abs().max() <= 0.01 for p in lin.parameters())


def test_minibatch_stddev_closed_form():
    f = torch.tensor([[0.0, 0.0], [2.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    s = minibatch_stddev(f, group=2)
    # group 1: stds (1, 2) -> mean 1.5; group 2: identical rows -> ~0
    assert s.shape == (4, 1)
    assert s[:2, 0].tolist() == pytest.approx([1.5, 1.5], abs=1e-3)
    assert s[2:, 0].tolist() == pytest.approx([0.0, 0.0], abs=1e-3)
    assert minibatch_stddev(f, group=3).shape == (4, 1)  # 4 % 3 != 0: the whole batch is one group


def test_pack_puts_consecutive_samples_side_by_side():
    x = torch.arange(4 * 2 * 3 * 3, dtype=torch.float32).view(4, 2, 3, 3)
    p = pack(x, 2)
    assert p.shape == (2, 4, 3, 3)
    assert torch.equal(p[1, :2], x[2]) and torch.equal(p[1, 2:], x[3])
    assert pack(x, 1) is x


def test_discriminator_heads_and_packing():
    d = Discriminator((1, 8, 8), "conv", 4, num_classes=10, cond="projection", aux_classes=10, n_generators=3,
                      minibatch_std=True)
    out = d(torch.randn(6, 1, 8, 8), torch.arange(6))
    assert out.adv.shape == (6,) and out.aux.shape == (6, 10) and out.cls.shape == (6, 3)
    packed = Discriminator((2,), "mlp", 8, pack=4)
    assert packed(torch.randn(8, 2)).adv.shape == (2,)
    g = Generator(3, (2,), "mlp", 8, n_generators=4, image=False)
    z = torch.randn(5, 3)
    a, b = g(z, gen_idx=torch.zeros(5, dtype=torch.long)), g(z, gen_idx=torch.ones(5, dtype=torch.long))
    assert a.shape == (5, 2) and not torch.allclose(a, b)  # generators differ from the start


def test_health_checks():
    x = torch.randn(16, 3)
    assert diversity_ratio(x[:1].expand(16, 3), x) == pytest.approx(0.0)
    assert diversity_ratio(x, x) == pytest.approx(1.0)
    assert discriminator_accuracy(t(1.0, -1.0), t(-1.0, -1.0), 0.0) == pytest.approx(0.75)
    mon = HealthMonitor(burn_in=10)
    with pytest.warns(GANHealthWarning, match="wins outright"):
        fired = [mon.update(d_acc=1.0, diversity=1.0) for _ in range(20)]
    assert sum(len(f) for f in fired) == 1  # warned once
    with pytest.warns(GANHealthWarning, match="collapsed"):
        for _ in range(300):
            mon.update(d_acc=0.5, diversity=0.01)
    healthy = HealthMonitor(burn_in=10)
    assert not any(healthy.update(d_acc=0.7, diversity=0.9) for _ in range(100))
    slow_start = HealthMonitor(burn_in=10)  # a fresh generator is not diverse yet: no warning for a while
    assert not any(slow_start.update(diversity=0.05) for _ in range(99))
    with pytest.warns(GANHealthWarning, match="collapsed"):
        slow_start.update(diversity=0.05)
        slow_start.update(diversity=0.05)

"""Diffusion: schedules, parametrisations, samplers on a Gaussian with a known optimal denoiser, the
variational bound, guidance, inpainting, training, save/load and bad input."""
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import genlab
from genlab.config import TrainConfig, from_dict
from genlab.data.base import DataInfo, TensorDataset
from genlab.errors import ConfigError
from genlab.masks import parse_mask
from genlab.models.diffusion.ddpm import DDPM, discretised_gaussian_log_likelihood
from genlab.models.diffusion.ddpm_mlp import DDPMMLP
from genlab.models.diffusion.samplers import DDIM, DDPM as DDPMSampler, DPMSolverPP, spaced_steps
from genlab.models.diffusion.schedules import NoiseSchedule, make_betas, target, to_x0_eps
from genlab.training.trainer import Trainer

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread (the test machine's cores are shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TINY = dict(width=8, channel_mult=[1, 2], timesteps=50, sample_steps=5, nll_timesteps=3)


def image_model(**cfg) -> DDPM:
    torch.manual_seed(0)
    info = DataInfo("image", (1, 8, 8), name="toy", num_classes=3)
    return DDPM(from_dict(DDPM.Config, {**TINY, **cfg}, "model"), info).eval()


# ----------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_are_decreasing_and_end_near_pure_noise(kind):
    s = NoiseSchedule(kind, 1000)
    abar = s.abar(torch.arange(-1, 1000))
    assert abar[0] == 1 and (abar.diff() < 0).all()
    assert abar[-1] < 1e-3 and abar[1] > 0.99
    if kind == "linear":
        b = make_betas("linear", 1000)
        assert math.isclose(b[0], 1e-4) and math.isclose(b[-1], 0.02)


def test_posterior_matches_gaussian_conditioning():
    """q(x_{t-1} | x_t, x0) from the joint Gaussian: mean a_s x0 + Cov/Var (x_t - a_t x0), var s_s^2 - Cov^2/Var."""
    s = NoiseSchedule("cosine", 100)
    t = torch.tensor([1, 10, 99])
    x0, xt = torch.randn(3, 4), torch.randn(3, 4)
    mean, var = s.posterior(x0, xt, t)
    ab_t, ab_s = s.abar(t)[:, None].double(), s.abar(t - 1)[:, None].double()
    cov = (ab_t / ab_s).sqrt() * (1 - ab_s)
    exp_mean = ab_s.sqrt() * x0 + cov / (1 - ab_t) * (xt - ab_t.sqrt() * x0)
    assert torch.allclose(mean.double(), exp_mean, atol=1e-5)
    assert torch.allclose(var.double().expand(3, 4), (1 - ab_s - cov**2 / (1 - ab_t)).expand(3, 4), rtol=1e-3)


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_parametrisations_round_trip(prediction):
    s = NoiseSchedule("linear", 100)
    x0, eps, t = torch.randn(5, 3), torch.randn(5, 3), torch.tensor([0, 5, 50, 90, 99])
    alpha, sigma = s.alpha_sigma(t, 2)
    xt = alpha * x0 + sigma * eps
    x0_hat, eps_hat = to_x0_eps(prediction, target(prediction, x0, eps, alpha, sigma), xt, alpha, sigma)
    assert torch.allclose(x0_hat, x0, atol=1e-3) and torch.allclose(eps_hat, eps, atol=1e-3)
    x0c, epsc = to_x0_eps(prediction, target(prediction, 3 * x0, eps, alpha, sigma), alpha * 3 * x0 + sigma * eps,
                          alpha, sigma, clip=1.0)
    assert x0c.abs().max() <= 1 and torch.allclose(alpha * x0c + sigma * epsc, alpha * 3 * x0 + sigma * eps, atol=1e-4)


def test_spaced_steps():
    assert spaced_steps(1000, 1000) == list(range(999, -1, -1))
    st = spaced_steps(1000, 10)
    assert len(set(st)) == 10 and st[0] == 999 and st[-1] == 0 and st == sorted(st, reverse=True)


# ----------------------------------------------------------------------------- samplers


def gaussian_denoiser(schedule: NoiseSchedule, mu: float, s: float):
    """The exact E[x0 | x_t] for data N(mu, s^2): the samplers should then produce N(mu, s^2)."""
    def denoise(x, t):
        alpha, sigma = schedule.alpha_sigma(t, x.dim())
        x0 = mu + alpha * s**2 / (alpha**2 * s**2 + sigma**2) * (x - alpha * mu)
        return x0, (x - alpha * x0) / sigma
    return denoise


def ode_error(sampler, steps: int, kind: str = "linear", mu: float = 1.5, s: float = 0.3) -> float:
    """Largest error against the exact probability-flow ODE map for data N(mu, s^2), which keeps the
    standardised value (x_t - alpha_t mu) / sqrt(alpha_t^2 s^2 + sigma_t^2) constant."""
    sch = NoiseSchedule(kind, 1000)
    x = torch.randn(500, 1, generator=torch.Generator().manual_seed(0))
    a, sg = sch.alpha_sigma(999, 0)
    exact = mu + s * (x - a * mu) / torch.sqrt(a**2 * s**2 + sg**2)
    out = sampler(gaussian_denoiser(sch, mu, s), x, sampler.timesteps(sch, steps), sch)
    return float((out - exact).abs().max())


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_deterministic_samplers_converge_to_the_exact_ode_solution(kind):
    ddim = [ode_error(DDIM(0.0), n, kind) for n in (10, 50, 200)]
    dpm = [ode_error(DPMSolverPP(), n, kind) for n in (10, 50, 200)]
    assert ddim[0] > ddim[1] > ddim[2] and ddim[2] < 0.03  # first order
    assert dpm[0] > dpm[1] > dpm[2] and dpm[2] < 0.001  # second order: far ahead of DDIM
    assert dpm[0] < ddim[0] / 3 and dpm[1] < ddim[1] / 5


@pytest.mark.parametrize("sampler", [DDIM(0.5), DDPMSampler()])
def test_stochastic_samplers_reproduce_a_gaussian_with_the_optimal_denoiser(sampler):
    sch = NoiseSchedule("cosine", 1000)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 1, generator=g)
    out = sampler(gaussian_denoiser(sch, 1.5, 0.3), x, sampler.timesteps(sch, 1000), sch, g)
    assert abs(out.mean() - 1.5) < 0.01 and abs(out.std() - 0.3) < 0.01
    few = sampler(gaussian_denoiser(sch, 1.5, 0.3), x, sampler.timesteps(sch, 10), sch, g)
    assert abs(few.mean() - 1.5) < 0.01 and few.std() < 0.28  # few ancestral steps under-disperse


def test_ddpm_sampler_step_is_the_posterior_draw():
    """One ancestral step x_t -> x_{t-1} = posterior mean + posterior std * z (Ho et al. 2020, eq. 7)."""
    sch = NoiseSchedule("linear", 100)
    x0, xt, t = torch.randn(4, 3), torch.randn(4, 3), 40
    alpha, sigma = sch.alpha_sigma(t, 2)

    def denoise(x, step):
        return x0, (x - alpha * x0) / sigma

    seen = {}
    DDPMSampler()(denoise, xt, [t, t - 1], sch, torch.Generator().manual_seed(1),
                  on_step=lambda x, s: seen.setdefault(s, x))
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    mean, var = sch.posterior(x0, xt, torch.tensor(t))
    assert torch.allclose(seen[t - 1], mean + var.sqrt() * z, atol=1e-5)


def test_deterministic_samplers_ignore_the_generator_after_the_start():
    sch = NoiseSchedule("cosine", 100)
    x = torch.randn(10, 2)
    den = gaussian_denoiser(sch, 0.0, 1.0)
    for sampler in (DDIM(0.0), DPMSolverPP()):
        a = sampler(den, x, spaced_steps(100, 7), sch, torch.Generator().manual_seed(1))
        b = sampler(den, x, spaced_steps(100, 7), sch, torch.Generator().manual_seed(2))
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- the model


def test_sample_shapes_range_determinism_and_options():
    m = image_model()
    for sampler in ("ddpm", "ddim", "dpm++"):
        a = m.sample(3, generator=torch.Generator().manual_seed(0), sampler=sampler, steps=4)
        b = m.sample(3, generator=torch.Generator().manual_seed(0), sampler=sampler, steps=4)
        assert a.shape == (3, 1, 8, 8) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)
    m.config.sample_batch_size = 2  # chunked sampling gives the requested count
    assert m.sample(5, steps=2).shape == (5, 1, 8, 8)


def test_bad_sampling_options_are_clear_errors():
    m = image_model()
    with pytest.raises(ConfigError, match="between 1 and 50"):
        m.sample(2, steps=0)
    with pytest.raises(ConfigError, match="between 1 and 50"):
        m.sample(2, steps=51)
    with pytest.raises(ConfigError, match=r"sampler must be ddpm, ddim or dpm\+\+ for model 'ddpm', got 'euler'"):
        m.sample(2, sampler="euler")
    with pytest.raises(ConfigError, match="guidance needs a class-conditional model"):
        m.sample(2, guidance=3.0)
    with pytest.raises(ConfigError, match="does not take sampling option"):
        m.sample(2, temperature=0.5)
    with pytest.raises(ConfigError, match="was not trained with labels"):
        m.sample(2, labels=torch.tensor(1))
    with pytest.raises(ConfigError, match="divisible by 4"):
        DDPM(from_dict(DDPM.Config, {"channel_mult": [1, 2, 2]}), DataInfo("image", (1, 6, 6)))
    with pytest.raises(ConfigError, match="sample_steps"):
        from_dict(DDPM.Config, {"timesteps": 10, "sample_steps": 20}, "model")
    with pytest.raises(ConfigError, match="prediction"):
        from_dict(DDPM.Config, {"prediction": "score"}, "model")


def test_classifier_free_guidance_combines_the_two_predictions():
    m = image_model(conditional=True)
    for p in m.net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    t = torch.full((4,), 20)
    cond, unc = m.net(x, t, y), m.net(x, t, torch.full_like(y, 3))
    alpha, sigma = m.schedule.alpha_sigma(20, 4)
    for w in (0.0, 1.0, 3.0):
        x0, _ = m.denoiser(y, w)(x, 20)
        want, _ = to_x0_eps("epsilon", unc + w * (cond - unc), x, alpha, sigma, clip=1.0)
        assert torch.allclose(x0, want, atol=1e-5)
    s = m.sample(4, labels=torch.tensor(2), guidance=3.0, steps=3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4, 1, 8, 8)
    with pytest.raises(ConfigError, match="labels must be in 0..2"):
        m.sample(2, labels=torch.tensor(3))
    with pytest.raises(ConfigError, match="guidance must be >= 0"):
        m.sample(2, guidance=-1.0)


def test_inpainting_keeps_known_pixels_and_fills_the_rest(tmp_path):
    m = image_model(conditional=True)
    for p in m.net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = torch.rand(2, 1, 8, 8)
    mask = parse_mask("bottom-half", (8, 8))
    out = m.complete(x, mask, 3, generator=torch.Generator().manual_seed(0), labels=torch.tensor([0, 2]), steps=5)
    assert out.shape == (2, 3, 1, 8, 8) and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out[:, :, :, :4], x[:, None, :, :4].expand(2, 3, 1, 4, 8))
    assert not torch.equal(out[0, 0, :, 4:], out[0, 1, :, 4:])  # different completions of one image
    again = m.complete(x, mask, 3, generator=torch.Generator().manual_seed(0), labels=torch.tensor([0, 2]), steps=5)
    assert torch.equal(out, again)
    with pytest.raises(ConfigError, match="shape"):
        m.complete(torch.rand(1, 1, 6, 6), mask, 1)
    with pytest.raises(ConfigError, match="covers no pixels"):
        m.complete(x, torch.zeros(8, 8, dtype=torch.bool), 1)


def test_cli_complete_with_a_diffusion_run(tmp_path):
    from PIL import Image

    from genlab.cli import main

    genlab.train("ddpm", "digits", tmp_path / "run", model_config=TINY, max_steps=2, batch_size=16, progress=False)
    Image.fromarray((torch.rand(8, 8) * 255).byte().numpy()).save(tmp_path / "in.png")
    r = CliRunner().invoke(main, ["complete", str(tmp_path / "run"), "--input", str(tmp_path / "in.png"),
                                  "--mask", "right-half", "-n", "2", "-o", str(tmp_path / "c.npz")])
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "c.npz")
    assert z["completions"].shape == (1, 2, 1, 8, 8)
    assert (z["completions"][0, :, 0, :, :4] == z["inputs"][0, 0, :, :4]).all()


# ----------------------------------------------------------------------------- the bound


def test_bound_is_closed_form_for_a_perfect_denoiser():
    """Data = one constant image and a net that always predicts it (x0-prediction): every step's KL is 0,
    so the bound is -(prior KL) + the discretised decoder term."""
    m = image_model(prediction="x0")
    x = torch.full((2, 1, 8, 8), 200 / 255)
    c = x * 2 - 1
    m.net.forward = lambda xt, t, y: c[:1].expand_as(xt)
    ll = m.log_likelihood({"x": x}, timesteps=49)
    ab = m.schedule.abar(49)
    prior = 0.5 * (ab * c.square() - ab - torch.log1p(-ab)).flatten(1).sum(1)
    std = m.schedule.posterior(c, c, torch.tensor(1))[1].sqrt()
    dec = torch.log(torch.special.ndtr(torch.tensor(1 / 255) / std) * 2 - 1) * 64
    assert torch.allclose(ll, dec - prior, rtol=1e-4)


def test_stratified_bound_is_unbiased():
    m = image_model(timesteps=12)
    for p in m.net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = torch.randint(0, 256, (1, 1, 8, 8)).float().div(255).expand(400, 1, 8, 8)
    torch.manual_seed(0)
    exact = m.log_likelihood({"x": x}, timesteps=11)
    rough = m.log_likelihood({"x": x}, timesteps=2)
    se = math.sqrt((rough.var() + exact.var()) / len(x))
    assert rough.std() > 2 * exact.std()  # fewer strata: noisier
    assert abs(rough.mean() - exact.mean()) < 4 * se


def test_discretised_gaussian_sums_to_one_over_the_bins():
    bins = torch.arange(256).float() / 127.5 - 1
    for mean, std in ((0.3, 0.05), (-0.99, 0.2), (1.0, 0.001)):
        p = discretised_gaussian_log_likelihood(bins, torch.tensor(mean), torch.tensor(std)).exp()
        assert abs(p.sum() - 1) < 1e-4


# ----------------------------------------------------------------------------- training


def test_training_lowers_the_loss_and_the_bound_and_reloads(tmp_path):
    m = genlab.train("ddpm", "digits", tmp_path / "run", model_config={**TINY, "width": 16, "conditional": True},
                     epochs=3, batch_size=64, lr=2e-3, progress=False, val_batches=2, log_every=5, ema_decay=0.9,
                     grid_size=16)
    rows = [r for r in genlab.training.checkpoint.read_metrics(tmp_path / "run")]
    loss = [r["loss"] for r in rows if r["split"] == "train"]
    bpd = [r["bits_per_dim"] for r in rows if r["split"] == "val"]
    assert loss[-1] < 0.6 * loss[0] and bpd[-1] < bpd[0]
    a = m.sample(4, labels=torch.tensor([0, 1, 2, 3]), generator=torch.Generator().manual_seed(3), guidance=2.0)
    b = genlab.load(tmp_path / "run").sample(4, labels=torch.tensor([0, 1, 2, 3]),
                                             generator=torch.Generator().manual_seed(3), guidance=2.0)
    assert torch.equal(a, b)


def test_cli_sample_passes_steps_sampler_and_guidance(tmp_path):
    from genlab.cli import main

    genlab.train("ddpm", "digits", tmp_path / "run", model_config=TINY, max_steps=2, batch_size=16, progress=False)
    r = CliRunner().invoke(main, ["sample", str(tmp_path / "run"), "-n", "4", "--steps", "3", "--sampler", "dpm++",
                                  "-o", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s.png").is_file()
    r = CliRunner().invoke(main, ["sample", str(tmp_path / "run"), "-n", "4", "--guidance", "3"])
    assert r.exit_code == 2 and "guidance needs a class-conditional model" in r.output
    r = CliRunner().invoke(main, ["sample", str(tmp_path / "run"), "-n", "4", "--steps", "51"])
    assert r.exit_code == 2 and "between 1 and 50" in r.output


def fit_vectors(model, x, steps, run_dir, lr=3e-3, batch_size=256):
    """Train ``model`` on rows ``x`` with the genlab trainer (no data loader involved)."""
    ds = TensorDataset({"x": x}, DataInfo("vector", (x.shape[1],)))
    cfg = from_dict(TrainConfig, {"max_steps": steps, "batch_size": batch_size, "lr": lr, "progress": False,
                                  "checkpoint_every": 10**6, "log_every": 10**6}, "train")
    Trainer(model, ds, None, cfg, run_dir, torch.device("cpu")).fit()
    return model.eval()


def test_ddpm_mlp_learns_a_two_mode_mixture(tmp_path):
    torch.manual_seed(0)
    x = torch.cat([torch.randn(2000, 2) * 0.1 + 3, torch.randn(2000, 2) * 0.1 - 3])
    m = DDPMMLP(from_dict(DDPMMLP.Config, {"hidden": 64, "depth": 2, "timesteps": 100, "sample_steps": 20}),
                DataInfo("vector", (2,)))
    fit_vectors(m, x, 600, tmp_path)
    assert torch.allclose(m.scale.mean, x.mean(0)) and torch.allclose(m.scale.std, x.std(0)) and m.scale.fitted
    s = m.sample(1000, generator=torch.Generator().manual_seed(0), sampler="dpm++")
    near = torch.minimum((s - 3).norm(dim=1), (s + 3).norm(dim=1))
    assert (near < 0.6).float().mean() > 0.8  # most samples land on a mode
    assert 0.3 < (s[:, 0] > 0).float().mean() < 0.7  # both modes are used
    ll = m.log_likelihood({"x": x[:100]}, timesteps=99)
    assert torch.isfinite(ll).all() and ll.mean() > -4.0  # the two modes have log-density about 1.1 per point
    with pytest.raises(ConfigError, match="vectors of shape"):
        m.log_likelihood({"x": torch.randn(3, 5)})

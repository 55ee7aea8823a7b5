"""tab-ddpm: multinomial diffusion algebra, the quantile map of numeric columns, training on a small
mixed table, exact --where conditions by inpainting, reload and bad options."""
import numpy as np
import pandas as pd
import pytest
import torch

import genlab
from genlab.errors import ConfigError
from genlab.models.tabular.tab_ddpm import Categories


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_multinomial_posterior_is_bayes_rule():
    cats = Categories([3, 2])
    xt = cats.onehot(torch.tensor([[2, 0]]))
    p0 = torch.tensor([[0.2, 0.5, 0.3, 0.9, 0.1]])
    ab_t, ab_s = torch.tensor([[0.4]]), torch.tensor([[0.7]])
    got = cats.posterior(xt, p0, ab_t, ab_s).exp()
    a = 0.4 / 0.7
    for sl, k, j in ((slice(0, 3), 3, 2), (slice(3, 5), 2, 0)):  # q(x_t | x_s) q(x_s | x0) summed over x0
        lik = torch.full((k,), (1 - a) / k)
        lik[j] += a
        prior = 0.7 * p0[0, sl] + 0.3 / k
        want = lik * prior / (lik * prior).sum()
        assert torch.allclose(got[0, sl], want, atol=1e-6)
    onehot_x0 = cats.onehot(torch.tensor([[1, 1]]))
    assert torch.allclose(cats.posterior(xt, onehot_x0, ab_t, torch.ones(1, 1)).exp(), onehot_x0)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A table where the number depends on the category: red ~ N(10, 1), blue ~ N(20, 1), 10% missing."""
    d = tmp_path_factory.mktemp("tab")
    rng = np.random.default_rng(0)
    n = 3000
    color = rng.choice(["red", "blue"], n, p=[0.7, 0.3])
    size = np.where(color == "red", 10.0, 20.0) + rng.normal(0, 1, n)
    size[rng.random(n) < 0.1] = np.nan
    shape = np.where(rng.random(n) < 0.5, "round", "square")
    pd.DataFrame({"color": color, "size": size.round(3), "shape": shape}).to_csv(d / "t.csv", index=False)
    genlab.train("tab-ddpm", str(d / "t.csv"), d / "run", model_config={"hidden": 128, "depth": 2, "timesteps": 100,
                 "sample_steps": 50}, max_steps=800, batch_size=256, lr=3e-3, progress=False, val_batches=1,
                 log_every=100, sample_every=10**6, grid_size=20)
    return d / "run"


def test_tab_ddpm_learns_marginals_and_dependence(table_run):
    m = genlab.load(table_run)
    x = torch.tensor([[0.0, 12.5, 1.0], [1.0, float("nan"), 0.0]])
    cols = m.num_cols
    back = m.from_scores(m.to_scores(x), x[:, m.cat_cols])
    assert torch.isnan(back[1, cols[0]]) and abs(back[0, cols[0]] - 12.5) < 0.2
    df = m.sample(2000, generator=torch.Generator().manual_seed(0))
    assert list(df.columns) == ["color", "size", "shape"]
    assert abs((df.color == "red").mean() - 0.7) < 0.07
    assert abs(df["size"].isna().mean() - 0.1) < 0.05
    red, blue = df[df.color == "red"]["size"].mean(), df[df.color == "blue"]["size"].mean()
    assert abs(red - 10) < 1.5 and blue - red > 5  # the number follows the category (short training: not fully)


def test_tab_ddpm_conditions_and_reloads(table_run):
    m = genlab.load(table_run)
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    df = m.sample(300, generator=g(), where="color=blue", steps=20, sampler="ddim")
    free = m.sample(1000, generator=g(), steps=20, sampler="ddim")
    assert (df.color == "blue").all() and abs(df["size"].mean() - free[free.color == "blue"]["size"].mean()) < 1.0
    again = genlab.load(table_run).sample(300, generator=g(), where="color=blue", steps=20, sampler="ddim")
    pd.testing.assert_frame_equal(df, again)
    m.config.conditioning = "inpaint"  # one draw per row, every row meets the condition
    df = m.sample(300, generator=g(), where="color=blue,shape=round", steps=20)
    assert (df.color == "blue").all() and (df["shape"] == "round").all() and df["size"].mean() > 12
    with pytest.raises(ConfigError, match="between 1 and 100"):
        m.sample(5, steps=500)
    with pytest.raises(ConfigError, match="guidance"):
        m.sample(5, guidance=2.0)
    with pytest.raises(ConfigError, match="condition samples with --where"):
        genlab.get_model_class("tab-ddpm").Config(conditional=True).validate()


def test_sampling_step_draws_from_the_posterior_and_draw_matches_gumbel_argmax():
    cats = Categories([3, 2, 3, 1])  # two segments of size 3: one group, seen as a dense block
    logits = torch.tensor([[0.3, -1.0, 2.0, 0.5, -0.5, 1.0, 0.0, -2.0, 0.0]]).expand(40_000, -1)
    codes = torch.tensor([[2, 0, 1, 0]]).expand(40_000, -1)
    ab_t, ab_s = 0.3, 0.8
    want = cats.posterior(cats.onehot(codes[:1]), cats.log_softmax(logits[:1]).exp(), torch.tensor([[ab_t]]),
                          torch.tensor([[ab_s]])).exp()[0]
    got = cats.onehot(cats.step(logits, codes, ab_t, ab_s, torch.Generator().manual_seed(0))).mean(0)
    assert torch.allclose(got, want, atol=0.01)  # 40,000 draws: standard errors below 0.0025
    assert torch.equal(cats.step(logits[:5], codes[:5], 0.5, 0.5), codes[:5])  # no noise between s and t
    logp = torch.randn(200, 9)
    noise = torch.Generator().manual_seed(3)
    drawn = cats.draw(logp, torch.Generator().manual_seed(3))
    v = logp + genlab.models.tabular.encoding.gumbel(logp.shape, "cpu", noise)
    assert torch.equal(drawn, torch.stack([v[:, s:e].argmax(1) for s, e in ((0, 3), (3, 5), (5, 8), (8, 9))], 1))


def test_sampling_in_batches_gives_fresh_rows_with_the_same_marginals(table_run, monkeypatch):
    from genlab.models.tabular import tab_ddpm

    monkeypatch.setattr(tab_ddpm, "BATCH_ELEMENTS", 1)  # batches of 64 rows
    m = genlab.load(table_run)
    df = m.sample(1000, generator=torch.Generator().manual_seed(0), steps=20)
    assert len(df) == 1000 and abs((df.color == "red").mean() - 0.7) < 0.07
    assert df["size"].nunique() > 700  # every batch draws its own noise: no repeated batches
    blue = m.sample(200, generator=torch.Generator().manual_seed(0), steps=20, where="color=blue")
    assert len(blue) == 200 and (blue.color == "blue").all()

"""Tabular models: training, sampling records like the input, exact conditions, save/load, the CLI and the
evaluation report."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import genlab
from genlab.cli import main
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.errors import ConfigError
from genlab.data.tabular.io import read_table

from test_tabular import make_table

FAST = {  # a few seconds each on one CPU core
    "ctgan": ({"generator_dims": [32], "discriminator_dims": [32], "embedding_dim": 16, "pac": 5}, {"max_steps": 6, "batch_size": 50}),
    "tvae": ({"encoder_dims": [32], "decoder_dims": [32], "latent_dim": 8}, {"max_steps": 6, "batch_size": 50}),
    "gaussian-copula": ({"n_quantiles": 64}, {}),
    "table-gmm": ({"n_components": 4, "max_iter": 20}, {}),
    "nn-copy": ({}, {}),
    "cart": ({"min_samples_leaf": 5}, {}),
}


pytestmark = pytest.mark.usefixtures("one_thread_blas")


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "people.csv"
    make_table(300).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, (mcfg, tcfg) in FAST.items():
        genlab.train(name, DataConfig(name=str(csv), target="group"), root / name, model_config=mcfg,
                     progress=False, **tcfg)
        out[name] = root / name
    return out


@pytest.mark.parametrize("name", list(FAST))
def test_samples_look_like_the_input(name, runs, csv):
    model = genlab.load(runs[name])
    real = read_table(csv)
    df = model.sample(400, generator=torch.Generator().manual_seed(0))
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(real.columns) and len(df) == 400
    assert df["age"].dtype == np.int64 and df["kids"].dtype == np.int64 and df["income"].dtype == np.float64
    assert pd.api.types.is_datetime64_any_dtype(df["joined"])
    seen = set(real["city"]) - {"?", "Brest", "Metz"} | {"<rare>"}  # values seen once are not stored
    assert set(df["city"].dropna()) <= seen and set(df["member"]) <= {"yes", "no"}
    assert df["age"].between(int(real["age"].astype(int).min()), int(real["age"].astype(int).max())).all()
    assert (df["income"].dropna() == df["income"].dropna().round(2)).all()
    if name in ("nn-copy", "gaussian-copula", "table-gmm", "cart"):  # these reproduce the missing-value pattern closely
        assert 0 < df["city"].isna().mean() < 0.2


@pytest.mark.parametrize("name", list(FAST))
def test_save_load_same_samples_and_exact_conditions(name, runs):
    model, again = genlab.load(runs[name]), genlab.load(runs[name])
    a = model.sample(50, generator=torch.Generator().manual_seed(3))
    b = again.sample(50, generator=torch.Generator().manual_seed(3))
    pd.testing.assert_frame_equal(a, b)
    if name != "tvae":  # conditioned natively (tvae would use bounded rejection: tested below)
        df = again.sample(120, where="city=Nice,member=yes", generator=torch.Generator().manual_seed(0))
        assert len(df) == 120 and (df["city"] == "Nice").all() and (df["member"] == "yes").all()
    rare = again.sample(10, where="city=<rare>", generator=torch.Generator().manual_seed(0)) if name != "tvae" else None
    assert rare is None or (rare["city"] == "<rare>").all()  # the pooled rare values, not stored


def test_tvae_loss_goes_down_and_rejection_meets_conditions(csv, tmp_path):
    model = genlab.train("tvae", DataConfig(name=str(csv)), tmp_path / "tvae", progress=False, max_steps=150, log_every=10,
                         batch_size=100, model_config={"encoder_dims": [64], "decoder_dims": [64], "latent_dim": 8})
    losses = [r["loss"] for r in genlab.training.checkpoint.read_metrics(tmp_path / "tvae") if "loss" in r]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    df = model.sample(30, where="member=no", generator=torch.Generator().manual_seed(0))
    assert (df["member"] == "no").all()


def test_tvae_latent_mixture_is_fitted_at_the_end_saved_and_refused_with_dp(csv, tmp_path):
    cfg = {"encoder_dims": [32], "decoder_dims": [32], "latent_dim": 4, "latent_sampler": "gmm", "latent_components": 3}
    model = genlab.train("tvae", DataConfig(name=str(csv)), tmp_path / "t", progress=False, max_steps=40,
                         batch_size=100, model_config=cfg)
    gmm = model.latent_gmm
    assert float(gmm.fitted) == 1.0 and torch.isclose(gmm.weights.sum(), torch.tensor(1.0))
    # the mixture sits on the training rows' codes, not on N(0, I): its means are not all zero
    assert gmm.means.abs().sum() > 0
    z = model.latent_z(2000, torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), (gmm.weights[:, None] * gmm.means).sum(0), atol=0.15)
    a = model.sample(50, generator=torch.Generator().manual_seed(3))
    b = genlab.load(tmp_path / "t").sample(50, generator=torch.Generator().manual_seed(3))
    pd.testing.assert_frame_equal(a, b)  # the mixture is saved with the weights
    with pytest.raises(ConfigError, match="differential-privacy"):
        genlab.train("tvae", DataConfig(name=str(csv)), tmp_path / "dp", progress=False, max_steps=2,
                     model_config={**cfg, "dp": True})
    with pytest.raises(ConfigError, match="latent_sampler"):
        genlab.train("tvae", DataConfig(name=str(csv)), tmp_path / "bad", progress=False, max_steps=2,
                     model_config={**cfg, "latent_sampler": "flow"})


def test_fit_latent_on_a_tvae_run_changes_its_samples(runs, tmp_path):
    import shutil

    run = tmp_path / "tvae"
    shutil.copytree(runs["tvae"], run)
    before = genlab.load(run).sample(40, generator=torch.Generator().manual_seed(0))
    report = genlab.fit_latent(run, components=2)
    assert report["components"] == 2
    after = genlab.load(run).sample(40, generator=torch.Generator().manual_seed(0))
    assert not before.equals(after)


def test_ctgan_training_by_sampling_and_conditional_vector(csv):
    ds = load_data(DataConfig(name=str(csv)), "table", "train")
    model = genlab.get_model_class("ctgan")(genlab.get_model_class("ctgan").Config(pac=5), ds.info)
    model.on_train_start(ds)
    j = model.schema.index("city")
    i = model.enc.onehot_cols.index(j)
    nice = model.schema.column("city").levels.index("Nice")
    col, code = torch.full((500,), i), torch.full((500,), nice)
    rows = model._real_rows(col, code)
    assert (rows[:, j] == nice).all()  # real rows meet the condition they are drawn for
    vec = model._condvec(col, code)
    assert torch.equal(vec.sum(1), torch.ones(500)) and vec.shape[1] == model.cond_dim
    _, cols, codes = model._conditions(20000, model.train_cum, torch.Generator().manual_seed(0))
    counts = torch.tensor(model.schema.column("city").counts, dtype=torch.float64)
    expected = counts.log1p() / counts.log1p().sum()
    got = torch.bincount(codes[cols == i], minlength=len(counts)).double()
    assert torch.allclose(got / got.sum(), expected, atol=0.03)  # log-frequency: rare codes are trained on


def test_copula_recovers_correlation_and_conditions_exactly(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    y = 0.8 * x + 0.6 * rng.normal(size=3000)
    df = pd.DataFrame({"x": x.round(4), "y": y.round(4), "sign": np.where(x > 0, "pos", "neg")})
    df.to_csv(tmp_path / "c.csv", index=False)
    model = genlab.train("gaussian-copula", DataConfig(name=str(tmp_path / "c.csv")), tmp_path / "run", progress=False)
    s = model.sample(4000, generator=torch.Generator().manual_seed(0))
    assert abs(np.corrcoef(s["x"], s["y"])[0, 1] - 0.8) < 0.05
    pos = model.sample(2000, where="sign=pos", generator=torch.Generator().manual_seed(1))
    assert (pos["sign"] == "pos").all() and pos["y"].mean() > 0.4  # E[y | x > 0] = 0.8 * 0.798 = 0.64


def test_table_gmm_posterior_conditioning(tmp_path):
    rng = np.random.default_rng(0)
    group = rng.choice(["a", "b"], 2000, p=[0.9, 0.1])
    df = pd.DataFrame({"g": group, "v": np.where(group == "a", 0.0, 10.0) + rng.normal(size=2000).round(3)})
    df.to_csv(tmp_path / "g.csv", index=False)
    model = genlab.train("table-gmm", DataConfig(name=str(tmp_path / "g.csv")), tmp_path / "run", progress=False,
                         model_config={"n_components": 3})
    b = model.sample(1000, where="g=b", generator=torch.Generator().manual_seed(0))
    assert (b["g"] == "b").all() and abs(b["v"].mean() - 10) < 0.3


def test_cli_train_sample_schema_and_errors(csv, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(main, ["train", "gaussian-copula", "--data", str(csv), "--target", "group",
                               "--schema", "kids=categorical", "--out", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["sample", str(run), "-n", "200", "-o", str(tmp_path / "s.csv"), "--where", "group=high"])
    assert res.exit_code == 0, res.output
    back = read_table(tmp_path / "s.csv")
    assert list(back.columns) == list(read_table(csv).columns) and (back["group"] == "high").all()
    assert set(back["city"]) <= {"Paris", "Lyon", "Nice", "<rare>", "?"}  # missing spelled as in the input
    res = runner.invoke(main, ["sample", str(run), "-n", "20", "-o", str(tmp_path / "s.parquet")])
    assert res.exit_code == 0 and len(pd.read_parquet(tmp_path / "s.parquet")) == 20
    res = runner.invoke(main, ["schema", str(csv), "-o", str(tmp_path / "schema.yaml")])
    assert res.exit_code == 0 and "city: categorical" in (tmp_path / "schema.yaml").read_text()
    for args, needle in [
        (["sample", str(run), "-o", str(tmp_path / "x.csv"), "--where", "city=Lille"], "never occurs"),
        (["sample", str(run), "-o", str(tmp_path / "x.csv"), "--where", "town=Lyon"], "no column 'town'"),
        (["sample", str(run), "-o", str(tmp_path / "x.png")], "table samples are written as"),
        (["train", "tvae", "--data", str(csv), "--target", "salary", "--out", str(tmp_path / "r2")], "target column 'salary'"),
    ]:
        res = runner.invoke(main, args)
        assert res.exit_code == 2 and needle in res.output, res.output


def test_evaluation_report_has_reference_rows_and_embedded_plots(runs, csv, tmp_path):
    from genlab.eval.tabular.evaluate import INDEPENDENT_ROW, REAL_ROW, evaluate_table_run

    out = tmp_path / "report.html"
    res = evaluate_table_run(runs["table-gmm"], out_html=out, evaluators=["decision_tree"], n=300)
    summary = res["_summary"]
    assert list(summary.index) == [REAL_ROW, "table-gmm", INDEPENDENT_ROW]
    assert {"quality", "detection_auc", "utility_f1", "privacy_share", "exact_copies"} <= set(summary.columns)
    assert summary.loc[INDEPENDENT_ROW, "column_shapes"] == 1.0
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 1 + len(read_table(csv).columns)
    assert "http://" not in html and "https://" not in html and out.with_suffix(".json").is_file()
    with pytest.raises(ConfigError, match="no column 'salary'"):
        evaluate_table_run(runs["table-gmm"], target="salary")


def test_genlab_evaluate_command_uses_the_table_evaluator(runs, csv, tmp_path):
    held_out = tmp_path / "held_out.csv"
    make_table(120, seed=5).to_csv(held_out, index=False)
    res = CliRunner().invoke(main, ["evaluate", str(runs["nn-copy"]), "--data", str(csv), "--test", str(held_out),
                                    "-n", "200"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()  # a short summary, not the whole eval.json
    assert len(lines) < 12 and '"columns"' not in res.output and "{" not in res.output
    header = next(ln for ln in lines if "quality" in ln and "detection AUC" in ln)
    row = next(ln for ln in lines if ln.startswith("nn-copy ")).split()
    assert header.split()[-2:] == ["exact", "copies"] and row[-1] == "1.000"  # a copy: every row copied
    assert any(ln.startswith("independent columns") for ln in lines)
    assert lines[-1] == f"wrote {runs['nn-copy'] / 'eval.json'} and {runs['nn-copy'] / 'report.html'}"
    report = (runs["nn-copy"] / "report.html").read_text()
    assert "independent columns" in report and "Pairwise associations" in report
    assert '"exact_copies": 1.0' in (runs["nn-copy"] / "eval.json").read_text().replace("\n", "")


def _dependent_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """``size`` is a function of ``x``, ``y`` is 2 x plus noise, ``w`` is independent, ``x`` has missing values."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 100, n).astype(float)
    df = pd.DataFrame({"x": x, "size": np.where(x > 50, "big", "small"), "y": np.round(2 * x + rng.normal(size=n), 2),
                       "w": rng.choice(["a", "b", "c"], n)})
    df.loc[rng.choice(n, n // 10, replace=False), "x"] = np.nan
    return df


def test_cart_keeps_dependences_missing_values_and_training_values(tmp_path):
    real = _dependent_table()
    real.to_csv(tmp_path / "d.csv", index=False)
    model = genlab.train("cart", DataConfig(name=str(tmp_path / "d.csv"), val_fraction=0.0), tmp_path / "run", progress=False)
    df = model.sample(2000, generator=torch.Generator().manual_seed(0))
    known = df.dropna(subset=["x"])
    assert ((known["x"] > 50) == (known["size"] == "big")).mean() > 0.97  # a function of x (independent: ~0.5)
    assert np.corrcoef(known["x"], known["y"])[0, 1] > 0.95
    assert set(df["x"].dropna()) <= set(real["x"].dropna())  # numbers are training values without smoothing
    assert abs(df["x"].isna().mean() - 0.1) < 0.03  # missing values drawn as often as in the data
    assert abs((df["w"] == "a").mean() - (real["w"] == "a").mean()) < 0.05
    again = genlab.load(tmp_path / "run").sample(2000, generator=torch.Generator().manual_seed(0))
    pd.testing.assert_frame_equal(df, again)  # the trees are in the weights file
    smooth = genlab.train("cart", DataConfig(name=str(tmp_path / "d.csv"), val_fraction=0.0), tmp_path / "smooth",
                          progress=False, model_config={"smoothing": "density", "order": ["size"]})
    assert smooth.order[0] == 1  # "size" is visited first, the rest in the table's order
    ys = smooth.sample(500, generator=torch.Generator().manual_seed(0))["y"]
    assert not set(ys) <= set(real["y"])  # smoothed numbers are new values


def test_cart_bad_settings_are_named(tmp_path):
    _dependent_table(40).to_csv(tmp_path / "d.csv", index=False)
    data = DataConfig(name=str(tmp_path / "d.csv"), val_fraction=0.0)
    with pytest.raises(ConfigError, match="unknown column.*'colour'.*x, size, y, w"):
        genlab.train("cart", data, tmp_path / "a", progress=False, model_config={"order": ["colour"]})
    with pytest.raises(ConfigError, match="smoothing"):
        genlab.train("cart", data, tmp_path / "b", progress=False, model_config={"smoothing": "spline"})
    with pytest.raises(ConfigError, match="at least 2 x model.min_samples_leaf = 100 rows; the table has 40"):
        genlab.train("cart", data, tmp_path / "c", progress=False, model_config={"min_samples_leaf": 50})

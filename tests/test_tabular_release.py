"""Tables a data owner can release: identifiers and personal data never learned, declared constraints held by
every sampled row, range conditions, train/test splits, privacy attacks and table comparisons."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import genlab
from genlab.cli import main
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.errors import ConfigError, DataError
from genlab.eval.tabular import metrics as M
from genlab.models.tabular.conditions import parse_conditions, split_where
from genlab.eval.tabular.privacy import attribute_inference, membership_inference
from genlab.data.tabular.schema import infer_schema, parse_overrides

TINY_TVAE = ({"encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4}, {"max_steps": 6, "batch_size": 50})


pytestmark = pytest.mark.usefixtures("one_thread_blas")


def shop(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A customer table as a CSV holds it: an id, personal data, numbers bound by constraints, city <-> zip."""
    rng = np.random.default_rng(seed)
    carat = np.round(rng.gamma(2, 0.4, n) + 0.2, 2)
    start = rng.integers(0, 100, n)
    city = rng.choice(["Paris", "Lyon", "Nice"], n)
    return pd.DataFrame({
        "customer_id": [f"C-{i:06d}" for i in rng.permutation(n) + 1000],
        "email": [f"p{i}.{rng.integers(1e6)}@corp{i % 5}.com" for i in range(n)],
        "phone": [f"+33 {rng.integers(100, 999)} {rng.integers(100, 999)} {rng.integers(1000, 9999)}" for _ in range(n)],
        "carat": carat.astype(str),
        "price": (np.round(carat * 4000 * rng.lognormal(0, 0.2, n))).astype(int).astype(str),
        "cut": rng.choice(["Ideal", "Good", "Fair"], n, p=[0.5, 0.35, 0.15]),
        "start": start.astype(str), "end": (start + rng.integers(1, 30, n)).astype(str),
        "city": city, "zip": np.where(city == "Paris", "75001", np.where(city == "Lyon", "69001", "06000")),
        "age": [f"{v}.0" for v in rng.integers(18, 80, n)],  # integers written as 181.0
    })


SCHEMA = """
target: cut
sensitive: [price]
columns:
  customer_id: id
constraints:
  - positive: [price, carat]
  - inequality: start < end
  - range: {column: age, min: 20, max: 75}
  - fixed_combinations: [city, zip]
  - expression: "price / carat < 9000"
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("shop")
    shop(400, 0).to_csv(d / "shop.csv", index=False)
    shop(200, 1).to_csv(d / "shop_test.csv", index=False)
    (d / "schema.yaml").write_text(SCHEMA)
    return d


@pytest.fixture(scope="module")
def copula(files):
    cfg = DataConfig(name=str(files / "shop.csv"), schema=str(files / "schema.yaml"), test=str(files / "shop_test.csv"))
    genlab.train("gaussian-copula", cfg, files / "cop", model_config={"n_quantiles": 64}, progress=False)
    return files / "cop"


# ----------------------------------------------------------------------------- identifiers and personal data


def random_people(seed: int) -> pd.DataFrame:
    """Identifiers in a random format, emails, phones, names: distinctive values easy to look for."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 200))
    prefix = "".join(rng.choice(list("ABCDEFGHJK"), int(rng.integers(1, 4))))
    width = int(rng.integers(6, 9))
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return pd.DataFrame({
        "ref": [f"{prefix}{rng.choice(['-', '/', ''])}{v:0{width}d}" for v in rng.choice(10**width, n, replace=False)],
        "account_no": rng.choice(10**10, n, replace=False) + 10**10,  # 11-digit numbers
        "contact": ["".join(rng.choice(letters, 7)) + f"{i}@{''.join(rng.choice(letters, 5))}.org" for i in range(n)],
        "mobile": [f"0{rng.integers(6, 8)}-{rng.integers(10**7, 10**8)}" for _ in range(n)],
        "full_name": [f"{''.join(rng.choice(letters, 6)).title()} {''.join(rng.choice(letters, 8)).title()}" for _ in range(n)],
        "score": rng.normal(size=n).round(3),
        "group": rng.choice(["a", "b", "c"], n),
    })


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_real_identifier_email_phone_or_name_leaks_into_samples_or_the_run(seed, tmp_path):
    df = random_people(seed)
    df.to_csv(tmp_path / "people.csv", index=False)
    model = genlab.train("gaussian-copula", DataConfig(name=str(tmp_path / "people.csv"), val_fraction=0), tmp_path / "run",
                         model_config={"n_quantiles": 16}, progress=False)
    kinds = {c.name: c.kind for c in model.schema.generated}
    assert kinds == {"ref": "id", "account_no": "id", "contact": "email", "mobile": "phone", "full_name": "name"}
    assert model.schema.names == ["score", "group"]  # only these are learned
    out = model.sample(300, generator=torch.Generator().manual_seed(seed))
    assert list(out.columns) == list(df.columns)
    stored = "".join(p.read_bytes().decode("latin-1") for p in (tmp_path / "run").rglob("*") if p.is_file())
    for col in kinds:
        real = set(df[col].astype(str))
        assert not real & set(out[col].astype(str)), col  # no real value in the samples
        assert not [v for v in real if v in stored], col  # nor anywhere in the run folder
    shape = lambda s: re.sub(r"[A-Za-z]", "A", re.sub(r"\d", "9", s))  # noqa: E731
    assert set(out["ref"].map(shape)) <= set(df["ref"].map(shape))  # fresh ids in the same format
    assert out["ref"].is_unique and out["account_no"].is_unique
    assert set(out["mobile"].map(shape)) <= set(df["mobile"].map(shape))
    assert out["contact"].str.fullmatch(r"[\w.]+@example\.(com|org|net)").all()
    first = out["full_name"].str.split().str[0].str.lower()
    assert (out["contact"].str.split(".").str[0] == first.str.replace(r"[^\w]", "", regex=True)).all()  # one person per row


def test_schema_report_drop_choice_and_integers_written_with_a_decimal_point(files, tmp_path):
    df = shop(100)
    schema = infer_schema(df, parse_overrides(str(files / "schema.yaml")))
    lines = schema.not_learned()
    assert any(x.startswith("customer_id: id") and "declared" in x for x in lines)
    assert any(x.startswith("email: email") and "detected" in x for x in lines)
    assert any(x.startswith("phone: phone") for x in lines)
    assert schema.column("age").kind == "discrete" and schema.column("zip").kind == "categorical"  # "06000" stays text
    (tmp_path / "s.yaml").write_text("columns:\n  customer_id: {kind: id, drop: true}\n  email: ignore\n")
    dropped = infer_schema(df, parse_overrides(str(tmp_path / "s.yaml")))
    assert "customer_id" not in dropped.output_names and "email" not in dropped.output_names
    assert any("dropped by choice" in x for x in dropped.not_learned())
    with pytest.raises(ConfigError, match="drop applies to identifiers"):
        parse_overrides({"columns": {"age": {"kind": "discrete", "drop": True}}})


# ----------------------------------------------------------------------------- constraints


def check_constraints(df: pd.DataFrame) -> None:
    assert (df["price"] > 0).all() and (df["carat"] > 0).all()
    assert (df["start"] < df["end"]).all()
    assert df["age"].between(20, 75).all() and df["age"].dtype == np.int64  # integers stay integers
    allowed = {("Paris", "75001"), ("Lyon", "69001"), ("Nice", "06000")}
    assert set(zip(df["city"], df["zip"])) <= allowed
    assert (df["price"] / df["carat"] < 9000).all()


def test_constraints_hold_in_every_sampled_row(copula, files):
    model = genlab.load(copula)
    df = model.sample(300, generator=torch.Generator().manual_seed(0))
    assert len(df) == 300
    check_constraints(df)
    report = model.last_sample_report
    assert 0 < report["rejection_rate"] < 1 and report["rows_generated"] > 300
    real = {c["type"]: c["real_violations"] for c in model.schema.constraints}
    assert real["range"] > 0 and real["inequality"] == 0  # real ages outside [20, 75] are measured at load
    tvae = genlab.train("tvae", DataConfig(name=str(files / "shop.csv"), schema=str(files / "schema.yaml")),
                        files / "tvae", model_config=TINY_TVAE[0], progress=False, **TINY_TVAE[1])
    check_constraints(tvae.sample(200, generator=torch.Generator().manual_seed(1)))  # a barely trained model too


def test_bad_constraints_are_one_clear_line(files):
    df = shop(60)
    for spec, needle in [({"positive": ["cut"]}, "needs a numeric"), ({"inequality": "start <> end"}, "no column"),
                         ({"range": {"column": "age", "min": 9, "max": 1}}, "min 9 is above max 1"),
                         ({"fixed_combinations": ["city"]}, "two or more"), ({"between": "x"}, "each constraint is one of"),
                         ({"positive": ["email"]}, "not learned")]:
        with pytest.raises(ConfigError, match=needle):
            infer_schema(df, parse_overrides({"constraints": [spec]}))


# ----------------------------------------------------------------------------- conditions with ranges


def test_range_conditions_hold(copula):
    model = genlab.load(copula)
    g = torch.Generator().manual_seed(0)
    df = model.sample(100, where="price>3000,cut=Ideal", generator=g)
    assert (df["price"] > 3000).all() and (df["cut"] == "Ideal").all()
    check_constraints(df)
    df = model.sample(100, where="age in [30,40), carat<=1.5", generator=g)
    assert df["age"].between(30, 39).all() and (df["carat"] <= 1.5).all()
    assert model.last_sample_report["rejection"] == ["age in [30,40)", "carat<=1.5"]
    assert (model.sample(20, where="start=10", generator=g)["start"] == 10).all()  # equality on a many-valued number
    assert split_where("a in [1,2), b=x, c>=3") == ["a in [1,2)", "b=x", "c>=3"]


def test_bad_conditions_are_one_clear_line(copula):
    schema = genlab.load(copula).schema
    for where, needle in [("cut>3", "needs a numeric column"), ("email=a@b.c", "not learned"),
                          ("age in [40,30)", "empty"), ("price>abc", "not a number"), ("age!=3", "not supported"),
                          ("price", "conditions separated by commas")]:
        with pytest.raises(ConfigError, match=needle):
            parse_conditions(schema, where)
    with pytest.raises(ConfigError, match="no training row meets it"):
        genlab.load(copula).sample(10, where="price>1e9")


# ----------------------------------------------------------------------------- splits


def test_val_fraction_zero_and_a_test_file(files):
    every = DataConfig(name=str(files / "shop.csv"), val_fraction=0)
    assert len(load_data(every, "table", "train")) == 400
    with pytest.raises(DataError, match="no test split"):
        load_data(every, "table", "test")
    given = DataConfig(name=str(files / "shop.csv"), test=str(files / "shop_test.csv"))
    assert len(load_data(given, "table", "train")) == 400 and len(load_data(given, "table", "test")) == 200
    with pytest.raises(DataError, match="does not exist"):
        load_data(DataConfig(name=str(files / "shop.csv"), test=str(files / "nope.csv")), "table", "train")
    with pytest.raises(ConfigError, match="val_fraction"):
        DataConfig(val_fraction=1.0).validate()


# ----------------------------------------------------------------------------- privacy attacks and evaluation


def population(n: int, rng) -> pd.DataFrame:
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x.round(3), "z": (x + rng.normal(size=n)).round(3),
                         "c": np.where(x + rng.normal(size=n) > 0, "yes", "no"), "k": rng.choice(list("abcd"), n)})


def test_attacks_are_chance_on_independent_samples_and_perfect_on_copies():
    rng = np.random.default_rng(0)
    train, holdout, fresh = population(600, rng), population(600, rng), population(600, rng)
    indep = membership_inference(train, holdout, fresh)
    assert 0.42 < indep["auc"] < 0.58 and 0.42 < indep["baseline_auc"] < 0.58
    assert membership_inference(train, holdout, train)["auc"] > 0.95
    aia = attribute_inference(train, holdout, train, ["k", "x"])
    assert aia["k"]["members"] == 1.0 and aia["k"]["non_members"] < 0.5  # copies give the members away
    aia = attribute_inference(train, holdout, fresh, ["k"])
    assert abs(aia["k"]["members"] - aia["k"]["non_members"]) < 0.08 and aia["k"]["guess"] < 0.35


def test_evaluate_numeric_target_without_warnings_and_cached_references(copula, files):
    from genlab.eval.tabular.evaluate import REAL_ROW, evaluate_table_run

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        res = evaluate_table_run(copula, target="price", n=300, evaluators=["linear", "mlp"], detection="logistic")
        multi = M.ml_utility(shop(300), shop(200, 3), "city")  # a 3-class target
    summary = res["_summary"]
    assert "utility_r2" in summary.columns and np.isfinite(summary.loc["gaussian-copula", "utility_r2"])
    assert {"quality_associated", "pair_trends_associated", "mia_auc", "aia_price", "aia_price_holdout"} <= set(summary.columns)
    assert 0 <= multi["f1"] <= 1
    again = evaluate_table_run(copula, target="price", n=300, evaluators=["linear", "mlp"], detection="logistic")
    assert any("read from the cache" in x for x in again["notes"])
    pd.testing.assert_series_equal(again["_summary"].loc[REAL_ROW], summary.loc[REAL_ROW])


def test_genlab_compare_takes_table_runs(copula, files, tmp_path):
    if not (files / "tvae").is_dir():
        genlab.train("tvae", DataConfig(name=str(files / "shop.csv"), schema=str(files / "schema.yaml")),
                     files / "tvae", model_config=TINY_TVAE[0], progress=False, **TINY_TVAE[1])
    res = CliRunner().invoke(main, ["compare", str(copula), str(files / "tvae"), "-n", "200", "-o", str(tmp_path / "c.html")])
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "c.json").read_text())
    assert [r["model"] for r in rows][0] == "real data (ceiling)" and rows[-1]["model"] == "independent columns"
    assert {"gaussian-copula (cop)", "tvae"} <= {r["model"] for r in rows}
    assert "quality (assoc. pairs)" in res.output and "MIA AUC" in res.output
    assert "Leaderboard" in (tmp_path / "c.html").read_text()

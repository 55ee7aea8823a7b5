"""Tables: reading files, schema inference, reversible transforms, the loader, and metrics checked against
hand-computed values."""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genlab.config import DataConfig
from genlab.data import load_data
from genlab.errors import ConfigError, DataError
from genlab.eval.tabular import metrics as M
from genlab.data.tabular.bgm import fit_bgm
from genlab.data.tabular.codes import from_codes, to_codes, typed_frame
from genlab.models.tabular.conditions import draw_matching, parse_where
from genlab.models.tabular.encoding import TableEncoding
from genlab.eval.tabular.evaluate import independent_columns
from genlab.data.tabular.io import read_table
from genlab.data.tabular.schema import TableSchema, distinct, infer_schema, parse_overrides

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ADULT = SHARED / "tabular"
needs_adult = pytest.mark.skipif(not (ADULT / "adult.data").is_file(), reason="no ../shared/data/tabular")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one thread is faster, and much faster on a shared machine."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # scikit-learn's OpenMP/BLAS pools too
        yield
    torch.set_num_threads(threads)


def make_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Strings as in a CSV file: numbers, few-valued integers, categories (one rare pair), yes/no, dates,
    and missing values spelled '?' or left empty."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    df = pd.DataFrame({
        "income": [f"{v:.2f}" for v in 50 + 10 * x + rng.normal(size=n)],
        "age": rng.integers(18, 90, n).astype(str),
        "kids": rng.integers(0, 4, n).astype(str),
        "group": np.where(x + 0.3 * rng.normal(size=n) > 0, "high", "low"),
        "city": rng.choice(["Paris", "Lyon", "Nice"], n, p=[0.6, 0.3, 0.1]).astype(object),
        "member": rng.choice(["yes", "no"], n),
        "joined": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
    })
    df.loc[[3, 7], "city"] = ["Brest", "Metz"]  # seen once each: pooled into the rare code
    df.loc[rng.choice(np.arange(10, n), n // 20, replace=False), "city"] = "?"
    df.loc[rng.choice(np.arange(10, n), 3 * n // 80, replace=False), "income"] = ""
    return df


@pytest.fixture(scope="module")
def table():
    df = make_table()
    return df, infer_schema(df, target="group", source="test")


# ----------------------------------------------------------------------------- reading files


def test_read_headerless_uci_file_with_names_and_test_quirks(tmp_path):
    (tmp_path / "adult.names").write_text(">50K, <=50K.\n\nage: continuous.\nsex: Female, Male.\n")
    (tmp_path / "adult.data").write_text("39, Male, <=50K\n50, Female, >50K\n38, ?, <=50K\n")
    (tmp_path / "adult.test").write_text("|1x3 Cross validator\n25, Male, <=50K.\n38, Female, >50K.\n\n")
    train, test = read_table(tmp_path / "adult.data"), read_table(tmp_path / "adult.test")
    assert list(train.columns) == ["age", "sex", "income"] == list(test.columns)
    assert train["sex"].tolist() == ["Male", "Female", "?"]  # ", " separators: no leading spaces
    assert test["income"].tolist() == ["<=50K", ">50K"] and len(test) == 2  # junk line and trailing "." dropped


def test_read_header_separator_and_names(tmp_path):
    (tmp_path / "a.tsv").write_text("x\ty\n1\ta\n2\tb\n")
    assert read_table(tmp_path / "a.tsv").to_dict("list") == {"x": ["1", "2"], "y": ["a", "b"]}
    (tmp_path / "b.csv").write_text("1;a\n2;b\n")
    assert list(read_table(tmp_path / "b.csv").columns) == ["col0", "col1"]
    assert list(read_table(tmp_path / "b.csv", names=["n", "s"]).columns) == ["n", "s"]


@pytest.mark.parametrize("content, needle", [
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary"),
    (b"Once upon a time there was a story\nwith no columns at all\n", "separator"),
    (b"a,b\n1,2\n3,4,5,6\n", "different numbers"),
    (b"a,b\n" + b"1,2\n" * 60 + b"3,4,5,6\n", "not a well-formed table.*line 62"),
    (b"", "empty"),
])
def test_not_a_table(tmp_path, content, needle):
    p = tmp_path / "x.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=needle):
        read_table(p)


def test_parquet_is_read_with_its_types(tmp_path):
    df = pd.DataFrame({"x": [1.5, 2.5, np.nan] * 10, "flag": [True, False, True] * 10, "c": ["u", "v", None] * 10})
    df.to_parquet(tmp_path / "t.parquet")
    schema = infer_schema(read_table(tmp_path / "t.parquet"))
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {"x": "continuous", "flag": "boolean", "c": "categorical"}
    assert schema.column("flag").levels in ([True, False], [False, True])
    assert schema.column("c").n_missing == 10 and schema.column("c").na_token is None


# ----------------------------------------------------------------------------- schema inference


def test_inferred_kinds_levels_and_missing(table):
    _, schema = table
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {"income": "continuous", "age": "discrete", "kids": "discrete", "group": "categorical",
                     "city": "categorical", "member": "boolean", "joined": "datetime"}
    assert schema.column("kids").levels == [0, 1, 2, 3]  # few values: one-hot, numbers ascending
    assert schema.column("age").modes and schema.column("age").levels is None
    city = schema.column("city")
    assert city.levels == ["Paris", "Lyon", "Nice"] and city.rare == ["<rare>"] and city.rare_counts == [2]
    assert "Brest" not in json.dumps(schema.to_meta()) and "Metz" not in json.dumps(schema.to_meta())  # not stored
    assert city.n_missing == 20 and city.na_token == "?" and sum(city.counts) == 400
    assert schema.column("income").n_missing == 15 and schema.column("income").decimals == 2
    assert schema.column("joined").datetime_format == "%Y-%m-%d"
    json.dumps(schema.to_meta())  # JSON-serialisable for DataInfo.meta
    assert TableSchema.from_meta(schema.to_meta()).to_meta() == schema.to_meta()


def test_overrides_from_file_and_inline(tmp_path):
    df = make_table(60)
    (tmp_path / "s.yaml").write_text("columns:\n  kids: categorical\n  joined: ignore\ntarget: group\n")
    schema = infer_schema(df, parse_overrides(str(tmp_path / "s.yaml")))
    kids = schema.column("kids")
    assert kids.kind == "categorical" and sorted(kids.levels) == sorted(set(df["kids"]))  # spellings, not numbers
    assert "joined" not in schema.names and schema.target == "group"
    inline = infer_schema(df, parse_overrides("age=continuous,member=categorical"))
    assert inline.column("age").kind == "continuous" and inline.column("member").kind == "categorical"
    with pytest.raises(ConfigError, match="kind 'number'"):
        parse_overrides("age=number")
    with pytest.raises(ConfigError, match="does not have"):
        infer_schema(df, parse_overrides("nope=categorical"))


def test_distinct_values_merge_spellings_and_spot_missing_ones():
    s = pd.Series([" a", "b", "a ", "?", None, " ?", "NA", "b", "a", "NA"], dtype=object)
    inverse, values, counts, token = distinct(s)
    assert list(values) == ["a", "b"] and list(counts) == [3, 2] and token == "?"  # "?" and "NA" tie: sorted first
    assert list(inverse) == [0, 1, 0, -1, -1, -1, -1, 1, 0, -1]
    df = pd.DataFrame({"k": ["1", "1.0", "2", "2", "3"] * 20})  # two spellings of one number: one level
    schema = infer_schema(df)
    assert schema.column("k").levels == [1, 2, 3] and schema.column("k").counts == [40, 40, 20]
    assert to_codes(schema, df)[:5, 0].tolist() == [0, 0, 1, 1, 2]


def test_bad_columns_get_clear_messages():
    base = make_table(50)
    with pytest.raises(DataError, match="column 'empty' is empty"):
        infer_schema(base.assign(empty=[""] * 50))
    mixed = base.assign(mixed=["12"] * 45 + ["abc", "x", "12b", "7", "y"])
    with pytest.raises(DataError, match="column 'mixed' mixes numbers and text.*'abc'"):
        infer_schema(mixed)
    with pytest.raises(ConfigError, match="target column 'incme' is not in the table.*'income'"):
        infer_schema(base, target="incme")
    with pytest.raises(DataError, match="declared continuous but 50 values are not numbers"):
        infer_schema(base, {"columns": {"group": "continuous"}})


# ----------------------------------------------------------------------------- transforms


def test_bgm_finds_the_modes_and_ignores_missing_values():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(-5, 1, 600), rng.normal(5, 0.5, 1400)])
    a[:50] = np.nan
    cols = fit_bgm(np.stack([a, np.full(len(a), 3.0)], 1), max_iter=40)
    mean, w = np.array(cols[0]["mean"]), np.array(cols[0]["weight"])
    assert abs(w.sum() - 1) < 1e-9 and len(mean) <= 10
    left = mean < 0
    assert abs(w[left].sum() - 0.3) < 0.02 and abs((w[left] * mean[left]).sum() / w[left].sum() + 5) < 0.1
    assert abs((w[~left] * mean[~left]).sum() / w[~left].sum() - 5) < 0.05
    assert cols[1]["mean"] == [3.0] and cols[1]["weight"] == [1.0]


def test_round_trip_is_exact_except_pooled_rare_values(table):
    df, schema = table
    codes = to_codes(schema, df)
    enc = TableEncoding(schema)
    encoded = enc.encode(torch.from_numpy(codes), clip=False)
    assert encoded.shape == (len(df), enc.dim)
    onehot = encoded[:, enc.n_alpha:]
    per_segment = torch.zeros(len(df), enc.n_segments).scatter_add_(1, enc.seg.expand(len(df), -1), onehot)
    assert torch.equal(per_segment, torch.ones_like(per_segment))  # exactly one hot per segment
    back = from_codes(schema, enc.decode(encoded).numpy(), np.random.default_rng(0))
    expected = typed_frame(schema, df)
    for c in df.columns:
        if c == "city":
            continue
        pd.testing.assert_series_equal(back[c], expected[c], check_names=False)
    rare = df["city"].isin(["Brest", "Metz"]).to_numpy()
    assert back["city"][~rare].fillna("<na>").equals(expected["city"][~rare].fillna("<na>"))
    assert (back["city"][rare] == "<rare>").all()  # pooled values are not stored: written as <rare>
    assert back["city"].isna().sum() == 20 and back["income"].isna().sum() == 15  # missing pattern kept


def test_decoding_clips_to_the_observed_range_and_rounds(table):
    _, schema = table
    j = schema.index("age")
    codes = to_codes(schema, make_table(20).head(3))
    codes[:, j] = [-100.0, 44.6, 1e6]
    out = from_codes(schema, codes)
    col = schema.column("age")
    assert out["age"].tolist() == [int(col.min), 45, int(col.max)] and out["age"].dtype == np.int64


def test_unseen_values_are_errors_in_training_data_and_mapped_in_held_out_data(table):
    _, hidden = table
    codes = to_codes(hidden, make_table(20).assign(city="Lille"))  # rare values not stored: any other value is rare
    assert (codes[:, hidden.index("city")] == hidden.column("city").rare_code).all()
    schema = infer_schema(make_table(), target="group", hide_rare=False)  # rare values kept: unseen ones are errors
    assert sorted(schema.column("city").rare) == ["Brest", "Metz"]
    df = make_table(20).assign(city="Lille")
    with pytest.raises(DataError, match="never seen in the training data.*'Lille'"):
        to_codes(schema, df)
    codes = to_codes(schema, df, unseen="nearest")
    assert (codes[:, schema.index("city")] == schema.column("city").rare_code).all()


# ----------------------------------------------------------------------------- conditions


def test_where_parsing_and_errors(table):
    _, schema = table
    conds = parse_where(schema, "city=Lyon, member=YES,kids=2")
    assert [(c.name, c.value) for c in conds] == [("city", "Lyon"), ("member", "yes"), ("kids", 2)]
    assert parse_where(schema, "city=?")[0].code == schema.column("city").missing_code
    for where, needle in [("city=Lille", "never occurs.*Known values"), ("town=Lyon", "no column 'town'.*columns:"),
                          ("age=30", "comparison"), ("city", "conditions separated by commas"),
                          ("city=Lyon,city=Nice", "twice")]:
        with pytest.raises(ConfigError, match=needle):
            parse_where(schema, where)


def test_rejection_is_bounded_and_says_how_rare(table):
    _, schema = table
    conds = parse_where(schema, "city=Nice")
    calls = []

    def never(m, given):
        calls.append(m)
        return torch.zeros(m, len(schema.columns), dtype=torch.float64)  # code 0 = Paris, never Nice

    with pytest.raises(ConfigError, match=r"only 0 of 100 rows met \"city=Nice\".*too rare"):
        draw_matching(never, 100, conds, native=0, budget=5000)
    assert sum(calls) == 5000

    def half(m, given):
        out = torch.zeros(m, len(schema.columns), dtype=torch.float64)
        out[::2, schema.index("city")] = conds[0].code
        return out

    rows = draw_matching(half, 100, conds, native=0)
    assert len(rows) == 100 and (rows[:, schema.index("city")] == conds[0].code).all()


# ----------------------------------------------------------------------------- the loader


def test_loader_csv_holdout_and_meta(tmp_path):
    make_table(200).to_csv(tmp_path / "t.csv", index=False)
    cfg = DataConfig(name=str(tmp_path / "t.csv"), target="group", val_fraction=0.25)
    train, test = load_data(cfg, "table", "train"), load_data(cfg, "table", "test")
    assert len(train) == 150 and len(test) == 50 and train.info.shape == (7,)
    assert train.tensors["x"].dtype == torch.float64 and train.info.modality == "table"
    assert train.info.meta["target"] == "group" and json.loads(json.dumps(train.info.meta)) == train.info.meta
    with pytest.raises(DataError, match="no such file"):
        load_data(DataConfig(name=str(tmp_path / "missing.csv")), "table", "train")
    with pytest.raises(ConfigError, match="target column 'nope'"):
        load_data(DataConfig(name=str(tmp_path / "t.csv"), target="nope"), "table", "train")


@needs_adult
def test_builtin_adult_from_shared_data():
    cfg = DataConfig(name="adult", root=str(SHARED), download=False, limit=1500)
    train, test = load_data(cfg, "table", "train"), load_data(cfg, "table", "test")
    assert len(train) == 1500 and len(test) == 16281 and train.info.shape == (15,)
    schema = TableSchema.from_meta(train.info.meta)
    assert schema.target == "income" and schema.column("income").levels == ["<=50K", ">50K"]
    assert schema.column("workclass").na_token == "?"


@needs_adult
def test_adult_download_is_verified(tmp_path, monkeypatch):
    served = tmp_path / "mirror" / "adult"
    served.mkdir(parents=True)
    for f in ("adult.data", "adult.test", "adult.names"):
        shutil.copy(ADULT / f, served / f)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "mirror"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("GENLAB_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
        from genlab.data.tables import adult_folder

        folder = adult_folder(DataConfig(name="adult", root=str(tmp_path / "root")))
        assert (folder / "adult.test").is_file() and folder == tmp_path / "root" / "adult"
        (served / "adult.test").write_text("corrupted")
        (folder / "adult.test").unlink()
        with pytest.raises(DataError, match="checksum mismatch"):
            adult_folder(DataConfig(name="adult", root=str(tmp_path / "root")))
    finally:
        server.shutdown()


# ----------------------------------------------------------------------------- metrics (hand-computed)


def test_single_column_metrics_by_hand():
    assert M.ks_complement([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5  # CDF gap 0.5 at x = 2..3
    assert M.ks_complement([1, 2, np.nan], [1, 2]) == 1.0  # missing values left out
    assert M.tv_complement(list("aabb"), list("abbb")) == 0.75  # TVD = (0.25 + 0.25) / 2
    assert M.tv_complement(["a", None], ["a", "a"]) == 0.5  # missing is a category
    real = pd.DataFrame({"c": list("aabb")})
    assert M.marginal_rmse(real, pd.DataFrame({"c": list("abbb")})) == pytest.approx(0.25)
    assert M.column_shapes(pd.DataFrame({"x": [1.0, 2, 3, 4]}), pd.DataFrame({"x": [3.0, 4, 5, 6]})) == {"x": 0.5}


def test_pair_metrics_by_hand():
    x = np.arange(10.0)
    assert M.correlation_similarity(x, x, x, -x) == pytest.approx(0.0, abs=1e-12)  # +1 vs -1: 1 - 2 / 2
    assert M.correlation_similarity(x, x, x, 2 * x + 1) == pytest.approx(1.0)
    # real joint: (a,u) 1/2, (b,v) 1/2; synthetic: (a,u) 1/4, (a,v) 1/2, (b,v) 1/4
    # -> TVD = (1/4 + 1/2 + 1/4) / 2 = 1/2
    assert M.contingency_similarity(list("ab"), list("uv"), list("aaba"), list("uvvv")) == 0.5
    assert M.contingency_similarity(list("ab"), list("uv"), list("abab"), list("uvuv")) == 1.0
    assert M.cramers_v(list("aabb") * 5, list("uuvv") * 5) == pytest.approx(1.0)
    assert M.cramers_v(list("abab") * 5, list("uuvv") * 5) == pytest.approx(0.0)
    df = pd.DataFrame({"x": x, "y": 2 * x, "c": list("aaaaabbbbb")})
    q = M.quality_score(df, df)
    assert q == {"column_shapes": 1.0, "pair_trends": 1.0, "quality": 1.0, "pair_trends_associated": 1.0,
                 "quality_associated": 1.0, "associated_pairs": 3, "pairs": 3}
    # x, y: r = 1; c: Cramér's V 1 with both (binned x splits at the median): all three pairs associated
    z = pd.DataFrame({"x": x, "n": np.r_[x[::2], x[1::2]] % 3, "c": list("aaaaabbbbb")})
    pairs = M.pair_trends(z, z).set_index(["column_a", "column_b"])
    assert not pairs.loc[("x", "n"), "associated"] and pairs.loc[("x", "c"), "associated"]


def test_independent_columns_keep_marginals_and_lose_dependence():
    rng = np.random.default_rng(0)

    def draw(n):
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, "y": x + 0.1 * rng.normal(size=n)})

    df = draw(400)
    ind = independent_columns(df, seed=1)
    assert M.quality_score(df, ind)["column_shapes"] == 1.0
    assert abs(np.corrcoef(ind["x"], ind["y"])[0, 1]) < 0.1
    assert M.detection_auc(df, ind, "gbm") > 0.8  # the dependence gives it away
    assert M.detection_auc(df, ind, "logistic") < 0.6  # a linear detector only sees the (exact) marginals
    assert 0.4 < M.detection_auc(df, draw(400), "gbm") < 0.6


def test_privacy_and_utility():
    rng = np.random.default_rng(0)

    def draw(n):
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x.round(3), "z": rng.normal(size=n).round(3), "y": np.where(x > 0, "pos", "neg")})

    train, holdout, fresh = draw(300), draw(300), draw(300)
    copies = M.dcr_privacy(train, holdout, train)
    assert copies["share_closer_to_train"] == 1.0 and copies["exact_copies"] == 1.0
    new = M.dcr_privacy(train, holdout, fresh)
    assert 0.4 < new["share_closer_to_train"] < 0.6 and new["exact_copies"] == 0.0
    util = M.ml_utility(train, holdout, "y", evaluators=["decision_tree", "logistic"])
    assert util["f1"] > 0.9 and util["accuracy"] > 0.9 and util["auc"] > 0.95
    with pytest.raises(ValueError, match="target column 'w'"):
        M.ml_utility(train, holdout, "w")

"""Audiences: events grouped by item, item contexts, conditional models, the novel-item protocol, metrics."""
from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import genlab
from genlab.audiences import metrics as M
from genlab.audiences.protocol import GLOBAL_ROW, NN_ROW, REAL_ROW, Candidate, evaluate_novel, format_table
from genlab.cli import main
from genlab.config import DataConfig
from genlab.data import download
from genlab.data.grouped import make_split, read_grouped
from genlab.errors import ConfigError, DataError
from genlab.data.tabular.schema import Column, TableSchema

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ----------------------------------------------------------------------------- tiny logs with a clear signal


def write_logs(folder: Path, n_items: int = 30, per_item: int = 24, seed: int = 0) -> tuple[str, str]:
    """Items of kind A attract young women who rate 5, items of kind B older men who rate 1."""
    rng = np.random.default_rng(seed)
    items, events = [], []
    for i in range(n_items):
        kind = "A" if i % 2 == 0 else "B"
        items.append((f"it{i}", kind, 1980 + i))  # 30 distinct years: a number column, not categories
        for u in range(per_item):
            a = rng.random() < 0.9
            sex = ("F" if a else "M") if kind == "A" else ("M" if a else "F")
            age = int(rng.integers(18, 30) if kind == "A" else rng.integers(50, 70))
            events.append((f"it{i}", f"u{rng.integers(0, 60)}", age, sex, 5 if kind == "A" else 1))
    ev, it = folder / "events.csv", folder / "items.csv"
    pd.DataFrame(events, columns=["item", "user", "age", "sex", "rating"]).to_csv(ev, index=False)
    pd.DataFrame(items, columns=["item", "kind", "year"]).to_csv(it, index=False)
    return str(ev), str(it)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return write_logs(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def cfg(logs):
    return DataConfig(name=logs[0], group="item", context=logs[1])


# ----------------------------------------------------------------------------- metrics, by hand


def _cats():
    col = Column("sex", "categorical", levels=["F", "M"], counts=[1, 1])
    return TableSchema([col]), M.categories(TableSchema([col]), {})


def test_rmse_and_rsm_match_hand_computed_examples():
    # three items, one attribute (sex: F, M); shares of women: real 0.2, 0.5, 0.8; generated 0.3, 0.6, 0.5
    schema, cats = _cats()
    p_real = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.2]])
    p_gen = np.array([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]])
    # RMSE per item: sqrt(((0.1)^2 + (0.1)^2) / 2) = 0.1 -> 10 pp; item 3: 0.3 -> 30 pp
    assert np.allclose(M.rmse(p_gen, p_real, cats)[:, 0], [10, 10, 30])
    # pairs (1,2), (1,3), (2,3) x 2 proportions: real orders F: 1<2<3, generated 1<2, 1<3, 2>3 -> 2 of 3 agree,
    # and the same for M (mirror image): 4 of 6 = 66.7 %
    assert M.rsm(p_gen, p_real) == pytest.approx(100 * 4 / 6)
    # a generated tie counts one half; a real tie is left out
    p_gen_tie = np.array([[0.3, 0.7], [0.3, 0.7], [0.9, 0.1]])
    assert M.rsm(p_gen_tie, p_real) == pytest.approx(100 * (0.5 + 1 + 1) * 2 / 6)
    assert np.isnan(M.rsm(p_gen, np.full((3, 2), 0.5)))
    assert M.rsm(p_real, p_real) == 100.0 and M.rsm(p_real[::-1], p_real) == 0.0
    # fidelity per item = 1 - TVD = 1 - 0.5 * (|0.1| + |0.1|) = 0.9, 0.9, and 1 - 0.3 = 0.7
    assert np.allclose(M.fidelity(p_gen, p_real, cats), [0.9, 0.9, 0.7])
    assert M.score(p_real, p_real, cats)["fidelity"] == pytest.approx(1.0)


def test_categories_bins_and_proportions():
    age = Column("age", "discrete", min=10, max=80, decimals=0, modes={"mean": [40], "std": [10], "weight": [1]})
    sex = Column("sex", "categorical", levels=["F", "M"], counts=[1, 1], n_missing=1)
    schema = TableSchema([age, sex])
    cats = M.categories(schema, {"age": [18, 25]})
    assert cats.labels == [["<18", "18-24", "25+", "<missing>"], ["F", "M", "<missing>"]]
    codes = np.array([[17, 0], [18, 1], [24.0, 1], [25, 2], [np.nan, 0]])
    cm = M.category_matrix(schema, {"age": [18, 25]}, codes)
    assert cm.tolist() == [[0, 0], [1, 1], [1, 1], [2, 2], [3, 0]]
    p = M.proportions(cats, cm, np.array([0, 0, 1, 1, 1]), 2)
    assert np.allclose(p[0], [0.5, 0.5, 0, 0, 0.5, 0.5, 0]) and np.allclose(p[1], [0, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3])
    assert M.exact_copies(np.array([[1.0, 2.0], [3.0, np.nan]]), np.array([[3.0, np.nan], [5.0, 6.0]])) == 0.5


# ----------------------------------------------------------------------------- data


def test_own_logs_split_by_item(cfg):
    g = read_grouped(cfg)
    assert list(g.events.columns) == ["age", "sex", "rating"] and g.group == "item"  # the user column is not generated
    s = make_split(g, np.array(["it0", "it1"], dtype=object))
    assert set(s.test_items) == {"it0", "it1"} and "it0" not in set(s.train_items)
    assert len(s.train) + len(s.test) == len(g.events)
    meta = s.train.info.meta
    assert s.train.info.modality == "audience" and meta["audience"]["group"] == "item"
    assert [c["name"] for c in meta["audience"]["items"]["columns"]] == ["kind", "year"]
    assert s.train.tensors["ctx"].shape == (len(s.train), 2) and int(s.train.tensors["item"].max()) == len(s.train_items) - 1


def _serve(folder: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def test_movielens_download_through_a_local_mirror_and_offline_folder(tmp_path, monkeypatch):
    src = SHARED / "movielens-100k"
    if not (src / "u.data").is_file():
        pytest.skip("../shared/data/movielens-100k is not present")
    mirror = tmp_path / "mirror" / "movielens-100k"
    mirror.mkdir(parents=True)
    with zipfile.ZipFile(mirror / "ml-100k.zip", "w", zipfile.ZIP_DEFLATED) as z:  # GroupLens' layout
        for f in ("u.data", "u.user", "u.item", "u.genre", "u.occupation"):
            z.write(src / f, f"ml-100k/{f}")
    digest = hashlib.sha256((mirror / "ml-100k.zip").read_bytes()).hexdigest()
    server = _serve(tmp_path / "mirror")
    try:
        monkeypatch.delenv("GENLAB_DATA", raising=False)
        monkeypatch.setenv("GENLAB_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setitem(download.CHECKSUMS, "movielens-100k", {"ml-100k.zip": "0" * 64})
        with pytest.raises(DataError, match="checksum mismatch"):
            read_grouped(DataConfig(name="movielens-100k", root=str(tmp_path / "bad")))
        assert not any(p.is_file() for p in (tmp_path / "bad").rglob("*"))
        monkeypatch.setitem(download.CHECKSUMS, "movielens-100k", {"ml-100k.zip": digest})
        g = read_grouped(DataConfig(name="movielens-100k"))  # into $GENLAB_CACHE
    finally:
        server.shutdown()
        server.server_close()
    assert (Path(download.cache_dir("movielens-100k")) / "ml-100k.zip").is_file()
    assert len(g.events) == 100_000 and len(g.items) == 1682
    assert list(g.events.columns) == ["age", "gender", "occupation", "region", "rating"]
    assert "Comedy" in g.items.columns and "year" in g.items.columns and g.multi["genres"][5] == "Comedy"
    offline = read_grouped(DataConfig(name="movielens-100k", root=str(SHARED), download=False))  # extracted files
    assert offline.events.equals(g.events)
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(DataError, match="MovieLens 100K not found"):
        read_grouped(DataConfig(name="movielens-100k", root=str(tmp_path / "none"), download=False))


# ----------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def trained(cfg, tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("runs")
    runs = {}
    small = {"audience-tvae": {"embedding_dim": 4, "latent_dim": 4, "encoder_dims": [64], "decoder_dims": [64]},
             "audience-gan": {"embedding_dim": 4, "noise_dim": 8, "generator_dims": [32], "discriminator_dims": [32],
                              "pac": 4},
             "audience-nn": {},
             "audience-ddpm": {"embedding_dim": 4, "hidden": 64, "depth": 2, "timesteps": 100, "sample_steps": 20,
                               "n_quantiles": 50}}
    for name, steps in (("audience-tvae", 150), ("audience-gan", 20), ("audience-nn", 1), ("audience-ddpm", 800)):
        runs[name] = (genlab.train(name, cfg, out / name, max_steps=steps, batch_size=64, progress=False,
                                   model_config=small[name], checkpoint_every=10**9, sample_every=10**9), out / name)
    return runs


@pytest.mark.parametrize("name", ["audience-tvae", "audience-gan", "audience-nn", "audience-ddpm"])
def test_models_generate_users_for_an_unseen_item_and_reload(trained, name):
    model, run = trained[name]
    gen = torch.Generator().manual_seed(0)
    df = model.sample(200, generator=gen, context="kind=A,year=2015")  # a year never seen
    assert list(df.columns) == ["age", "sex", "rating"] and len(df) == 200
    assert set(df["sex"]) <= {"F", "M"} and set(df["rating"]) <= {1, 5} and df["age"].between(18, 69).all()
    again = genlab.load(run).sample(200, generator=torch.Generator().manual_seed(0), context="kind=A,year=2015")
    assert again.equals(df)


@pytest.mark.parametrize("name", ["audience-tvae", "audience-ddpm"])
def test_the_context_steers_the_audience(trained, name):
    """Kind A items attract women rating 5, kind B men rating 1: a new item of each kind must show it."""
    model, _ = trained[name]
    a = model.sample(400, generator=torch.Generator().manual_seed(1), context={"kind": "A", "year": "1995"})
    b = model.sample(400, generator=torch.Generator().manual_seed(1), context={"kind": "B", "year": "1995"})
    assert (a["sex"] == "F").mean() > 0.7 and (b["sex"] == "M").mean() > 0.7
    assert a["age"].mean() < b["age"].mean() - 15 and (a["rating"] == 5).mean() > 0.7


def test_nn_copies_the_users_of_the_most_similar_training_item(trained, cfg):
    model, _ = trained["audience-nn"]
    g = read_grouped(cfg)
    item = model.item_ids[0]
    content = g.items.loc[[item]].reset_index(drop=True)
    df = model.sample(10, generator=torch.Generator().manual_seed(0), context=content)
    real = g.events[g.item == item].astype(str)
    got = df.astype(str)
    assert len(df) == 10 and got.merge(real.drop_duplicates(), how="left", indicator=True)["_merge"].eq("both").all()


def test_context_file_writes_one_block_per_item(trained, tmp_path):
    _, run = trained["audience-tvae"]
    new = tmp_path / "new.csv"
    new.write_text("item,kind,year\nfresh1,A,1996\nfresh2,B,1991\n")
    out = tmp_path / "aud.csv"
    r = CliRunner().invoke(main, ["audiences", "sample", str(run), "--context-file", str(new), "-n", "5", "-o", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["item", "age", "sex", "rating"] and df["item"].tolist() == ["fresh1"] * 5 + ["fresh2"] * 5


# ----------------------------------------------------------------------------- the protocol


def test_protocol_rows_and_draws(cfg, one_thread):
    small = {"embedding_dim": 4, "latent_dim": 4, "encoder_dims": [32], "decoder_dims": [32]}
    res = evaluate_novel(cfg, [Candidate("vae", "audience-tvae", small, {"max_steps": 10, "batch_size": 64})],
                         n_novel=6, min_events=10, draws=2, seed=0)
    assert set(res["rows"]) == {"vae", NN_ROW, GLOBAL_ROW, REAL_ROW}
    for row in res["rows"].values():
        assert len(row["draws"]) == 2 and 0 <= row["mean"]["rsm"] <= 100 and row["mean"]["rmse"] >= 0
        assert {"rmse_age", "rsm_sex", "exact_copies", "cpu_s", "fidelity", "detection_auc"} <= set(row["mean"])
        assert 0 <= row["mean"]["fidelity"] <= 1 and 0 <= row["mean"]["detection_auc"] <= 1
    # the real users resampled order items (kind A vs B) far better than random training users
    assert res["rows"][REAL_ROW]["mean"]["rsm"] > res["rows"][GLOBAL_ROW]["mean"]["rsm"] + 15
    # per item, resampled real users look like the item's users; the same users for every item do not
    assert res["rows"][REAL_ROW]["mean"]["fidelity"] > res["rows"][GLOBAL_ROW]["mean"]["fidelity"]
    assert res["rows"][REAL_ROW]["mean"]["detection_auc"] < res["rows"][GLOBAL_ROW]["mean"]["detection_auc"]
    assert "detect AUC" in format_table(res)
    assert res["rows"][NN_ROW]["mean"]["exact_copies"] == 100.0
    with pytest.raises(ConfigError, match="--novel 40 is more than the 30 items"):
        evaluate_novel(cfg, [], n_novel=40, min_events=10, draws=1)


# ----------------------------------------------------------------------------- bad input: one clear line


def _bad(tmp: Path, events: str, items: str, group: str = "item"):
    ev, it = tmp / "ev.csv", tmp / "it.csv"
    ev.write_text(events)
    it.write_text(items)
    return DataConfig(name=str(ev), group=group, context=str(it))


@pytest.mark.parametrize("events,items,group,match", [
    ("item,age\na,1\nb,2\na,3\n", "item,kind\na,x\nb,y\nc,z\n", "item", r"item\(s\) of it.csv have no events.*'c'"),
    ("item,age\na,1\nb,2\nc,3\n", "item,kind\na,x\nb,y\nc,z\n", "item", "every 'item' value of ev.csv has exactly one row"),
    ("item,age\na,1\nq,2\na,3\n", "item,kind\na,x\nb,y\n", "item", r"1 events of ev.csv have 'item' ids absent from it.csv \(e.g. 'q'\)"),
    ("item,age\na,1\nb,2\na,3\n", "item,kind\na,x\nb,y\n", "film", "data.group='film' is not a column of ev.csv"),
    ("item,age\na,1\nb,2\na,3\n", "id,kind\na,x\nb,y\n", "item", "the items table it.csv has no column 'item'"),
    ("item,age\na,1\nb,2\na,3\n", "item,kind\na,x\na,y\n", "item", "lists item\\(s\\) 'a' more than once"),
])
def test_bad_logs(tmp_path, events, items, group, match):
    with pytest.raises((DataError, ConfigError), match=match) as e:
        read_grouped(_bad(tmp_path, events, items, group))
    assert "\n" not in str(e.value)


def test_bad_contexts(trained, tmp_path):
    model, run = trained["audience-tvae"]
    for context, match in [("kind=Z,year=1995", "column 'kind' has 1 values never seen.*'Z'"),
                           ("kind=A", "missing context column\\(s\\) 'year'"),
                           ("kind=A,year=1995,city=Oslo", "column\\(s\\) 'city' that the items table did not have"),
                           ("kind=A,year=soon", "'year' holds numbers; 'soon' is not a number"),
                           ("kindA", "must look like column=value")]:
        with pytest.raises(ConfigError, match=match) as e:
            model.sample(5, context=context)
        assert "\n" not in str(e.value)
    extra = tmp_path / "extra.csv"
    extra.write_text("item,kind,year,price\nx,A,1990,3\n")
    r = CliRunner().invoke(main, ["audiences", "sample", str(run), "--context-file", str(extra), "-o", str(tmp_path / "o.csv")])
    assert r.exit_code == 2 and "error: context file" in r.output and "'price'" in r.output
    assert not (tmp_path / "o.csv").exists()
    r = CliRunner().invoke(main, ["audiences", "evaluate", str(run), "--novel", "500", "--draws", "1"])
    assert r.exit_code == 2 and "--novel 500 is more than the" in r.output

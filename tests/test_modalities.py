"""One record per kind of data (genlab/modalities/): every record's functions resolve, its default output is
accepted, a new module is found without registering anything, and callers use the record."""
from __future__ import annotations

import inspect
import sys

import pytest
import torch

import genlab.modalities as M
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.data.base import DataInfo, TensorDataset
from genlab.errors import ConfigError, DataError
from genlab.outputs import write_samples
from genlab.sampling import check_output_path, default_suffix


@pytest.mark.parametrize("name", M.list_modalities())
def test_every_record_resolves_and_accepts_its_default_suffix(name, tmp_path):
    kind = M.get_modality(name)
    for part in ("loader", "writer", "evaluator"):
        assert callable(kind.resolve(part)), f"{name}.{part} = {getattr(kind, part)}"
    for part in ("summary", "compare", "comparison_page"):
        assert getattr(kind, part) is None or callable(kind.resolve(part))
    if kind.compare is not None:  # genlab.compare hands every kind the same keywords
        params = inspect.signature(kind.resolve("compare")).parameters
        assert {"n", "seed", "echo"} <= set(params), f"{kind.compare} takes {list(params)}"
    assert default_suffix(name) == kind.suffixes[0]
    assert check_output_path(tmp_path / f"s{kind.default_suffix}", name).suffix == kind.default_suffix
    with pytest.raises(ConfigError, match=f"{name} samples are written as"):
        check_output_path(tmp_path / "s.xyz", name)


def test_known_kinds_and_a_clear_error_for_an_unknown_one():
    assert {"image", "vector", "table", "text", "words", "music", "audio", "documents", "paired", "unpaired",
            "audience"} <= set(M.list_modalities())
    with pytest.raises(ConfigError, match="unknown kind of data 'holograms'; known: .*image"):
        M.get_modality("holograms")
    with pytest.raises(DataError, match="no data loader for modality 'holograms'"):
        load_data(DataConfig(name="x"), "holograms")


def _ones(cfg, split):
    n = 3 if split == "train" else 2
    return TensorDataset({"x": torch.ones(n, 4)}, DataInfo("toy", (4,), name=str(cfg.name)))


def _write_toy(samples, path, info, labels=None):
    path.write_text(",".join(str(int(v)) for v in samples.flatten().tolist()), encoding="utf-8")


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
    """A new kind of data as a user would add it: one module in genlab/modalities/ (here on an extra path)."""
    (tmp_path / "toy.py").write_text(
        "from genlab.modalities import Modality\n"
        "MODALITIES = (Modality(name='toy', description='rows of ones', loader='test_modalities:_ones',\n"
        "                       writer='test_modalities:_write_toy', suffixes=('.toy',)),)\n", encoding="utf-8")
    monkeypatch.setattr(M, "__path__", [*M.__path__, str(tmp_path)])
    monkeypatch.setattr(M, "_RECORDS", None)
    sys.modules.setdefault("test_modalities", sys.modules[__name__])
    yield
    sys.modules.pop("genlab.modalities.toy", None)
    monkeypatch.setattr(M, "_RECORDS", None)


def test_a_new_kind_is_one_module(toy_kind, tmp_path):
    assert "toy" in M.list_modalities()
    ds = load_data(DataConfig(name="anything"), "toy", "test")
    assert ds.tensors["x"].shape == (2, 4)
    out = write_samples(torch.ones(2, 2), tmp_path / "out.toy", ds.info)
    assert out.read_text() == "1,1,1,1"
    assert default_suffix("toy") == ".toy"
    assert M.get_modality("toy").resolve("evaluator").__name__ == "evaluate_likelihood_run"  # the default


def test_a_kind_declared_twice_is_refused(tmp_path, monkeypatch):
    (tmp_path / "again.py").write_text(
        "from genlab.modalities import Modality\n"
        "MODALITIES = (Modality(name='image', description='', loader='x:y', writer='x:y', suffixes=('.png',)),)\n",
        encoding="utf-8")
    monkeypatch.setattr(M, "__path__", [*M.__path__, str(tmp_path)])
    monkeypatch.setattr(M, "_RECORDS", None)
    try:
        with pytest.raises(RuntimeError, match="'image' is declared twice"):
            M.list_modalities()
    finally:
        sys.modules.pop("genlab.modalities.again", None)
        monkeypatch.setattr(M, "_RECORDS", None)


def test_previews_and_shards_follow_the_record():
    assert M.get_modality("audio").preview_count == 4
    assert M.get_modality("table").shard_suffix == ".parquet"
    assert M.get_modality("image").shard_suffix == ".npz"
    assert M.get_modality("text").terminal and not M.get_modality("image").terminal

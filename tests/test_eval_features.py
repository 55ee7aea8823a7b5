"""The feature extractor: shapes, input checks, safetensors round trip, shipped weights, on-demand cache."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genlab.config import DataConfig
from genlab.data import load_data
from genlab.eval import features as F
from genlab.eval.images import evaluate_samples

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: a second thread only adds contention on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_feature_net_shapes_and_input_checks():
    net = F.FeatureNet(channels=3, size=(16, 12), num_classes=5, feat_dim=32)
    feats, logits = net.embed(torch.rand(7, 3, 16, 12), batch_size=3)
    assert feats.shape == (7, 32) and logits.shape == (7, 5)
    assert torch.allclose(net.embed(torch.full((2, 3, 16, 12), 255, dtype=torch.uint8))[0],
                          net.embed(torch.ones(2, 3, 16, 12))[0])
    with pytest.raises(ValueError, match=r"shape \(N, 3, 16, 12\)"):
        net.embed(torch.rand(2, 1, 16, 12))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        net.embed(torch.rand(2, 3, 16, 12) * 2)
    with pytest.raises(ValueError, match="NaN"):
        net.embed(torch.full((2, 3, 16, 12), float("nan")))


def test_save_load_roundtrip(tmp_path):
    net = F.FeatureNet(1, 8, 10, 16).eval()
    net.meta = {"test_accuracy": 0.5}
    path = F.save_feature_net(net, tmp_path / "x.safetensors", dataset="toy")
    loaded = F.load_feature_net(path)
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(net.embed(x)[0], loaded.embed(x)[0])
    assert json.loads(path.with_suffix(".json").read_text())["dataset"] == "toy"
    assert path.read_bytes()[:8] != b"\x80\x02\x80\x03"[:8]  # not a pickle


def test_trains_on_demand_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
    train = load_data(DataConfig(name="digits"), "image", "train")
    test = load_data(DataConfig(name="digits"), "image", "test")
    net = F.get_feature_extractor(train, test_data=test, epochs=5, min_steps=0, feat_dim=32)
    assert net.meta["test_accuracy"] > 0.8
    cached = list((tmp_path / "features").glob("*.safetensors"))
    assert len(cached) == 1
    again = F.get_feature_extractor(train, epochs=5, min_steps=0, feat_dim=32)  # loaded, not retrained
    assert again.meta["date"] == net.meta["date"] and torch.equal(again.embed(test.tensors["x"][:5])[0],
                                                                   net.embed(test.tensors["x"][:5])[0])
    with pytest.raises(ValueError, match="no shipped feature extractor"):
        F.get_feature_extractor("cifar10")

    out = evaluate_samples(test.tensors["x"].float() / 255, train, test, net, n=297, baseline=True)
    assert out["n_fake"] == out["n_real"] == 297 and out["fid"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert out["prdc"]["coverage"] == 1.0 and not out["memorisation"]["flagged"]
    assert out["fid"]["ci"][0] == 0.0 and "fid" in out["seconds"]
    # all 297 test images are the reference: no held-out real row at n = 297, and the reason says so
    assert "297" in out["baseline"]["skipped"] and "fid" not in out["baseline"]
    half = evaluate_samples(test.tensors["x"][:140].float() / 255, train, test, net, n=140, baseline=True)
    base = half["baseline"]
    assert base["held_out"] and base["n_fake"] == 140 and base["fid"]["value"] > 0 and not base["memorisation"]["flagged"]
    copies = evaluate_samples(train.tensors["x"][:297].float() / 255, train, test, net, n=297, baseline=False)
    assert copies["memorisation"]["flagged"] and copies["memorisation"]["copy_fraction"] > 0.9

    # a changed recipe (extractor version) retrains instead of reusing the cached net
    monkeypatch.setattr(F, "EXTRACTOR_VERSION", F.EXTRACTOR_VERSION + 1)
    retrained = F.get_feature_extractor(train, epochs=5, min_steps=0, feat_dim=32)
    assert len(list((tmp_path / "features").glob("*.safetensors"))) == 2
    assert retrained.meta["cache_key"]["extractor_version"] == F.EXTRACTOR_VERSION


@pytest.mark.parametrize("name, target", [("mnist", 0.99), ("fashion-mnist", 0.90)])
def test_shipped_extractors(name, target):
    path = F.ASSETS / f"{name}.safetensors"
    assert path.stat().st_size < 5e6
    net = F.get_feature_extractor(name)
    assert net.meta["test_accuracy"] >= target and net.config["feat_dim"] == 128
    if not (DATA / name).is_dir():
        pytest.skip(f"{DATA / name} not found")
    test = load_data(DataConfig(name=name, root=str(DATA), download=False), "image", "test")
    assert F.get_feature_extractor(test).meta == net.meta  # a dataset with a shipped name uses it
    x, y = test.tensors["x"][:1000], test.tensors["y"][:1000]
    assert F.accuracy(net, x, y) >= target - 0.02

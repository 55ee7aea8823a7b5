"""--features inception --weights PATH: safe weight loading and the adapter around torch-fidelity's Inception-v3.

torch-fidelity needs torchvision, which cannot be installed beside the CPU torch build used here, and the
Inception weights cannot be downloaded offline; so a stand-in module with torch-fidelity's interface (same
class name, constructor, uint8 Bx3xHxW input check, ("2048", "logits_unbiased") outputs) is installed in
sys.modules. What is tested is genlab's side: weights are read safely, images converted as torch-fidelity
expects, features and logits wired into the metrics, and every misuse gives one clear error.
"""
import sys
import types

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from click.testing import CliRunner

from genlab.errors import ConfigError
from genlab.eval.inception import InceptionFeatures, make_extractor, read_state_dict


class _FakeInception(nn.Module):
    seen: list = []

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kw):
        super().__init__()
        assert features_list == ["2048", "logits_unbiased"]
        self.proj = nn.Linear(3 * 8 * 8, 2048)
        self.fc = nn.Linear(2048, 1008)
        self.load_state_dict(torch.load(feature_extractor_weights_path, weights_only=True))

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3, (x.dtype, x.shape)
        _FakeInception.seen.append(tuple(x.shape))
        f = self.proj(F.adaptive_avg_pool2d(x.float() / 255, 8).flatten(1))
        return f, f @ self.fc.weight.T


@pytest.fixture
def fidelity(monkeypatch):
    pkg = types.ModuleType("torch_fidelity")
    mod = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    mod.FeatureExtractorInceptionV3 = _FakeInception
    monkeypatch.setitem(sys.modules, "torch_fidelity", pkg)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", mod)
    return mod


def _weights(tmp_path, suffix=".pth"):
    torch.manual_seed(0)
    state = {"proj.weight": torch.randn(2048, 192) * 0.1, "proj.bias": torch.zeros(2048),
             "fc.weight": torch.randn(1008, 2048) * 0.05, "fc.bias": torch.zeros(1008)}
    path = tmp_path / f"inception{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unsafe_or_missing_weights_are_refused(tmp_path, fidelity):
    evil = tmp_path / "evil.pth"
    torch.save({"fc.weight": _Evil()}, evil)
    with pytest.raises(ConfigError, match="refused to unpickle"):
        read_state_dict(evil)
    with pytest.raises(ConfigError, match="no such file"):
        InceptionFeatures(tmp_path / "nope.pth")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="not a readable safetensors"):
        read_state_dict(broken)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3)}, wrong)
    with pytest.raises(ConfigError, match="not Inception-v3 FID weights"):
        InceptionFeatures(wrong)


def test_missing_package_and_option_misuse(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", None)
    with pytest.raises(ConfigError, match="needs the torch-fidelity package"):
        InceptionFeatures(_weights(tmp_path))
    with pytest.raises(ConfigError, match="needs --weights"):
        make_extractor("inception", None, None)
    with pytest.raises(ConfigError, match="--weights is for --features inception"):
        make_extractor("genlab", "w.pth", None)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_embed_converts_images_and_head_matches_logits(tmp_path, fidelity, suffix):
    net = InceptionFeatures(_weights(tmp_path, suffix))
    assert net.meta["sha256"] and len(net.meta["sha256"]) == 64
    _FakeInception.seen.clear()
    grey = torch.rand(7, 1, 28, 28)
    f, logits = net.embed(grey, batch_size=4)
    assert f.shape == (7, 2048) and logits.shape == (7, 1008)
    assert _FakeInception.seen == [(4, 3, 28, 28), (3, 3, 28, 28)]  # batched, grey repeated to RGB, uint8
    torch.testing.assert_close(net.head(f), logits, rtol=1e-4, atol=1e-4)
    f8, _ = net.embed((grey * 255).round().to(torch.uint8))  # uint8 input gives the same features
    torch.testing.assert_close(f8, f)
    with pytest.raises(ValueError, match="expected images of shape"):
        net.embed(torch.rand(2, 2, 8, 8))


def test_metrics_in_inception_space(tmp_path, fidelity):
    from genlab.eval.images import evaluate_samples

    g = torch.Generator().manual_seed(0)
    real = (torch.rand(2100, 1, 8, 8, generator=g) * 255).to(torch.uint8)
    train = (torch.rand(2100, 1, 8, 8, generator=g) * 255).to(torch.uint8)
    ds = lambda x: types.SimpleNamespace(tensors={"x": x})  # noqa: E731
    net = make_extractor("inception", str(_weights(tmp_path)), ds(train), ds(real))
    same = evaluate_samples(train.float() / 255, ds(train), ds(real), net, n=2100, baseline=False)
    shifted = evaluate_samples((train.float() / 255) ** 3, ds(train), ds(real), net, n=2100, baseline=False)
    assert same["extractor"]["feat_dim"] == 2048 and same["extractor"]["sha256"] == net.meta["sha256"]
    assert "class_modes" not in same  # ImageNet classes are not the dataset's classes
    assert same["fid"]["value"] < shifted["fid"]["value"]  # darker images are further from the data
    assert same["memorisation"]["copy_fraction"] == 1.0  # the training images themselves are copies


def test_cli_rejects_inception_without_weights(tmp_path):
    from genlab.cli import main

    r = CliRunner().invoke(main, ["evaluate", str(tmp_path / "run"), "--features", "inception"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path), "--features", "resnet"])
    assert r.exit_code == 2 and "resnet" in r.output

"""The calibrated copy test on real MNIST images: false alarms on held-out data, detection of perturbed copies."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genlab.config import DataConfig
from genlab.data import load_data
from genlab.eval import metrics as M
from genlab.eval.features import get_feature_extractor

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


pytestmark = pytest.mark.usefixtures("one_thread")  # the conftest fixture: small tensors, one thread


@pytest.fixture(scope="module")
def mnist():
    if not (DATA / "mnist").is_dir():
        pytest.skip("../shared/data is not present")
    cfg = DataConfig(name="mnist", root=str(DATA), download=False)
    train, test = load_data(cfg, "image", "train"), load_data(cfg, "image", "test")
    return train.tensors["x"][:5000], test.tensors["x"][:2000], test.tensors["y"][:2000], train.tensors["y"][:5000]


@pytest.fixture(scope="module")
def net():
    return get_feature_extractor("mnist")  # the shipped extractor: candidates are found in its feature space


_train_feats = {}


def scores(net, x: torch.Tensor, train_x: torch.Tensor) -> torch.Tensor:
    if id(train_x) not in _train_feats:
        _train_feats[id(train_x)] = net.embed(train_x)[0]
    xf = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    return M.copy_scores(xf, net.embed(xf)[0], train_x, _train_feats[id(train_x)])["ratio"]


def test_false_alarms_on_held_out_real_data_at_n_500(mnist, net):
    train_x, test_x, test_y, _ = mnist
    s = scores(net, test_x, train_x)
    flagged, rates = 0, []
    draws = 200
    for seed in range(draws):
        perm = torch.randperm(len(s), generator=torch.Generator().manual_seed(seed))
        cal, fresh = perm[:500], perm[500:1000]
        out = M.copy_test(s[fresh], s[cal], test_y[fresh], test_y[cal])
        flagged += out["flagged"]
        rates.append(out["measured_fpr"])
    assert flagged / draws <= 0.01
    assert sum(rates) / draws < 0.05  # per-image: about 1 / (50 + 1) with ~50 calibration images per class
    ones = (test_y == 1).nonzero().flatten()[:100]  # fresh images all of one class are not copies
    others = torch.ones(len(s), dtype=torch.bool)
    others[ones] = False
    rest = others.nonzero().flatten()  # calibration: 500 held-out images of every class
    rest = rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(0))[:500]]
    assert int((test_y[rest] == 1).sum()) >= 20  # enough for a class-1 threshold of its own
    one_class = M.copy_test(s[ones], s[rest], test_y[ones], test_y[rest])
    assert not one_class["flagged"] and one_class["groups"] == 1


@pytest.mark.parametrize("damage", ["noise", "shift"])
def test_detects_perturbed_copies(mnist, net, damage):
    train_x, test_x, test_y, train_y = mnist
    cal = torch.arange(500)
    src = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(1))[:500]
    x = train_x[src].float() / 255
    if damage == "noise":
        x = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2), )).clamp(0, 1)
    else:  # one pixel right and one down, zeros shifted in
        x = torch.nn.functional.pad(x, (1, 0, 1, 0))[:, :, :28, :28]
    out = M.copy_test(scores(net, x, train_x), scores(net, test_x[cal], train_x), train_y[src], test_y[cal])
    assert out["copy_fraction"] >= 0.9 and out["flagged"]

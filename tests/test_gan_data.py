"""Vector data (2-D toys, .npy / .npz), its writer, stacked MNIST and the mode-collapse metrics."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.config import DataConfig
from genlab.data import load_data
from genlab.data.stacked import stack_digits
from genlab.data.vectors import grid_centers, ring_centers
from genlab.errors import ConfigError, DataError
from genlab.eval.modes import mode_metrics, nearest_mode, stacked_mnist_metrics, stacked_mnist_modes
from genlab.outputs import write_samples

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_toy_benchmarks():
    ring = load_data(DataConfig(name="ring8"), "vector", "train")
    x, y = ring.tensors["x"], ring.tensors["y"]
    assert x.shape == (50_000, 2) and x.dtype == torch.float32 and ring.info.shape == (2,)
    assert ring.info.num_classes == 8 and ring.info.meta["mode_std"] == 0.02
    centers = torch.tensor(ring.info.meta["modes"])
    assert centers.norm(dim=1).tolist() == pytest.approx([2.0] * 8, abs=1e-5)
    assert (x - centers[y]).std().item() == pytest.approx(0.02, rel=0.02)  # each point is its mode + noise
    assert torch.bincount(y).min() > 5_800  # uniform over modes
    again = load_data(DataConfig(name="ring8"), "vector", "train")
    assert torch.equal(again.tensors["x"], x)  # fixed seed
    test = load_data(DataConfig(name="ring8"), "vector", "test")
    assert len(test) == 5_000 and not torch.equal(test.tensors["x"][:10], x[:10])
    grid = load_data(DataConfig(name="grid25", limit=100), "vector", "train")
    assert len(grid) == 100 and grid.info.num_classes == 25
    assert sorted(set(grid_centers().flatten().tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_vector_files(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    train = load_data(DataConfig(name=str(tmp_path / "v.npy"), val_fraction=0.2), "vector", "train")
    test = load_data(DataConfig(name=str(tmp_path / "v.npy"), val_fraction=0.2), "vector", "test")
    assert len(train) == 40 and len(test) == 10 and train.info.shape == (3,) and train.info.num_classes == 0
    both = np.concatenate([train.tensors["x"].numpy(), test.tensors["x"].numpy()])
    assert sorted(map(tuple, both)) == sorted(map(tuple, x))  # a split, not a copy
    np.savez(tmp_path / "l.npz", x=x, y=np.arange(50) % 4, x_test=x[:5], y_test=np.arange(5) % 4)
    ds = load_data(DataConfig(name=str(tmp_path / "l.npz")), "vector", "test")
    assert len(ds) == 5 and ds.info.num_classes == 4 and ds.tensors["y"].dtype == torch.int64


@pytest.mark.parametrize("arrays, match", [
    ({"x": np.zeros((4, 8, 8))}, "(N, D)"),
    ({"x": np.array([[1.0, np.nan]])}, "NaN"),
    ({"images": np.zeros((4, 2))}, "no array 'x'"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, -1, 0])}, "non-negative"),
])
def test_bad_vector_files(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load_data(DataConfig(name=str(tmp_path / "bad.npz")), "vector", "train")


def test_bad_vector_names():
    with pytest.raises(DataError, match="unknown vector dataset 'ring9'.*ring8"):
        load_data(DataConfig(name="ring9"), "vector", "train")
    with pytest.raises(DataError, match="data.image_size applies to images"):
        load_data(DataConfig(name="ring8", image_size=32), "vector", "train")


def test_vector_writer(tmp_path):
    ds = load_data(DataConfig(name="ring8", limit=10), "vector", "train")
    x, y = ds.tensors["x"], ds.tensors["y"]
    write_samples(x, tmp_path / "s.npz", ds.info, y)
    with np.load(tmp_path / "s.npz") as z:
        assert np.array_equal(z["x"], x.numpy()) and np.array_equal(z["y"], y.numpy())
    assert (tmp_path / "s.png").stat().st_size > 1000  # 2-D: a scatter plot beside the arrays
    write_samples(x, tmp_path / "s.csv", ds.info, y)
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "x0,x1,label" and len(lines) == 11
    assert float(lines[1].split(",")[0]) == pytest.approx(float(x[0, 0]), rel=1e-6)
    info3 = type(ds.info)("vector", (3,))
    with pytest.raises(ConfigError, match="2-D"):
        write_samples(torch.zeros(4, 3), tmp_path / "s3.png", info3)
    with pytest.raises(ConfigError, match=".npz, .csv or .png"):
        write_samples(x, tmp_path / "s.txt", ds.info)


def test_mode_metrics_closed_forms():
    c = ring_centers()
    perfect = c.repeat(100, 1)
    r = mode_metrics(perfect, c, 0.02)
    assert (r["modes"], r["high_quality"], r["kl_uniform"]) == (8, 1.0, pytest.approx(0.0))
    collapsed = c[:1].repeat(800, 1)
    r = mode_metrics(collapsed, c, 0.02)
    assert (r["modes"], r["high_quality"], r["kl_uniform"]) == (1, 1.0, pytest.approx(math.log(8)))
    # half the samples between modes: low quality; a mode with too few samples is not covered
    between = torch.cat([perfect, torch.zeros(800, 2)])
    r = mode_metrics(between, c, 0.02)
    assert r["high_quality"] == pytest.approx(0.5) and r["modes"] == 8 and r["min_count"] == 40
    sparse = torch.cat([c[:7].repeat(100, 1), c[7:].repeat(5, 1)])
    assert mode_metrics(sparse, c, 0.02)["modes"] == 7
    assert mode_metrics(sparse, c, 0.02, min_count=1)["modes"] == 8
    assert mode_metrics(torch.full((10, 2), 9.0), c, 0.02)["kl_uniform"] == math.inf
    idx, dist = nearest_mode(c + 0.01, c)
    assert idx.tolist() == list(range(8)) and dist.tolist() == pytest.approx([0.01 * math.sqrt(2)] * 8, rel=1e-4)
    with pytest.raises(ValueError, match="dimensions"):
        mode_metrics(torch.zeros(3, 3), c, 0.02)


def test_stacked_mnist_construction_and_modes():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 4, 4) * 20  # digit d is brightness 20 d
    y = torch.arange(10)
    images, modes = stack_digits(x, y, 500, seed=0)
    assert images.shape == (500, 3, 4, 4)
    digits = images[:, :, 0, 0].long() // 20
    assert torch.equal(modes, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    assert len(modes.unique()) > 300

    def classify(grey):  # a perfect "classifier" for these images: brightness -> digit
        return torch.nn.functional.one_hot((grey[:, 0, 0, 0] * 255 / 20).round().long(), 10).float()

    floats = images.float() / 255
    assert torch.equal(stacked_mnist_modes(floats, classify, batch_size=7), modes)
    r = stacked_mnist_metrics(floats, classify)
    assert r["modes"] == len(modes.unique()) and r["num_modes"] == 1000
    one = stacked_mnist_metrics(floats[:1].expand(50, -1, -1, -1), classify)
    assert one["modes"] == 1 and one["kl_uniform"] == pytest.approx(math.log(1000))


def test_stackedmnist_dataset():
    if not (DATA / "mnist").is_dir():
        pytest.skip("../shared/data is not present")
    cfg = DataConfig(name="stackedmnist", root=str(DATA), download=False, limit=200)
    ds = load_data(cfg, "image", "train")
    assert ds.tensors["x"].shape == (200, 3, 28, 28) and ds.info.shape == (3, 28, 28)
    assert ds.info.num_classes == 1000 and ds.info.class_names[123] == "123"
    assert int(ds.tensors["y"].max()) < 1000 and len(ds.tensors["y"].unique()) > 150
    assert torch.equal(load_data(cfg, "image", "train").tensors["x"], ds.tensors["x"])  # fixed seed

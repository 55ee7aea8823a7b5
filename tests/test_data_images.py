"""Image data layer: IDX reading, downloads, built-ins, folders of images, .npz files, binarisation."""
from __future__ import annotations

import functools
import gzip
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.config import DataConfig
from genlab.data import download, load_data
from genlab.data.idx import read_idx
from genlab.data.images import load_images
from genlab.errors import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="no ../shared/data")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No user data folders, cache or mirrors leak into the tests."""
    monkeypatch.delenv("GENLAB_DATA", raising=False)
    monkeypatch.delenv("GENLAB_MIRROR", raising=False)
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def mnist_train():
    if not (SHARED / "mnist").is_dir():
        pytest.skip("no ../shared/data")
    return load_images(DataConfig(name="mnist", root=str(SHARED), download=False), "train")


# ----------------------------------------------------------------------------- built-ins


@needs_shared
def test_mnist_shapes_and_stats(mnist_train):
    x, y = mnist_train.tensors["x"], mnist_train.tensors["y"]
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (60000,) and y.dtype == torch.int64
    assert y.min() == 0 and y.max() == 9
    assert abs(x.float().mean().item() / 255 - 0.1307) < 1e-3
    info = mnist_train.info
    assert info.shape == (1, 28, 28) and info.num_classes == 10 and info.name == "mnist"
    test = load_data(DataConfig(name="mnist", root=str(SHARED), download=False), "image", "test")
    assert test.tensors["x"].shape == (10000, 1, 28, 28) and test.tensors["y"].shape == (10000,)


@needs_shared
def test_fashion_mnist_aliases_and_class_names():
    ds = load_images(DataConfig(name="fmnist", root=str(SHARED / "fashion-mnist"), download=False), "test")
    assert ds.info.name == "fashion-mnist" and ds.tensors["x"].shape == (10000, 1, 28, 28)
    assert ds.info.class_names[0] == "T-shirt/top" and ds.info.class_names[9] == "Ankle boot"
    assert torch.bincount(ds.tensors["y"]).tolist() == [1000] * 10


def test_missing_builtin_lists_folders(tmp_path):
    with pytest.raises(DataError) as e:
        load_images(DataConfig(name="mnist", root=str(tmp_path / "nowhere"), download=False), "train")
    msg = str(e.value)
    assert str(tmp_path / "nowhere" / "mnist") in msg and str(tmp_path / "cache") in msg
    assert "data.download" in msg


def test_digits_split_limit_and_batches():
    train = load_images(DataConfig(name="digits"), "train")
    test = load_images(DataConfig(name="digits"), "test")
    assert len(train) == 1500 and len(test) == 297 and train.info.shape == (1, 8, 8)
    assert train.tensors["x"].max() == 255
    small = load_images(DataConfig(name="digits", limit=100), "train")
    assert len(small) == 100 and torch.equal(small.tensors["x"], train.tensors["x"][:100])
    batches = list(small.batches(32, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert len(batches) == 3 and batches[0]["x"].shape == (32, 1, 8, 8) and batches[0]["y"].shape == (32,)
    assert batches[0]["x"].dtype == torch.float32 and 0 <= batches[0]["x"].min() and batches[0]["x"].max() <= 1


def test_channels_and_resize_for_builtins():
    ds = load_images(DataConfig(name="digits", channels=3, image_size=16, limit=10), "train")
    x = ds.tensors["x"]
    assert x.shape == (10, 3, 16, 16) and x.dtype == torch.uint8 and ds.info.shape == (3, 16, 16)
    assert torch.equal(x[:, 0], x[:, 2])


def test_unknown_name_lists_builtins():
    with pytest.raises(DataError, match="mnist"):
        load_images(DataConfig(name="no-such-dataset"), "train")


# ----------------------------------------------------------------------------- binarisation


def test_binarize_dynamic_and_static():
    dyn = load_images(DataConfig(name="digits", binarize="dynamic"), "train")
    a, b = dyn.all()["x"], dyn.all()["x"]
    assert set(a.unique().tolist()) <= {0.0, 1.0} and a.dtype == torch.float32
    assert not torch.equal(a, b)
    batch = next(dyn.batches(64))["x"]
    assert batch.shape == (64, 1, 8, 8) and set(batch.unique().tolist()) == {0.0, 1.0}
    s1 = load_images(DataConfig(name="digits", binarize="static"), "train")
    s2 = load_images(DataConfig(name="digits", binarize="static"), "train")
    assert torch.equal(s1.tensors["x"], s2.tensors["x"])
    assert set(s1.all()["x"].unique().tolist()) == {0.0, 1.0}


# ----------------------------------------------------------------------------- IDX files


def _idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, a.ndim]) + np.array(a.shape, ">u4").tobytes()
    return header + a.astype(np.uint8).tobytes()


def test_idx_roundtrip_and_corrupt_files(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "ok").write_bytes(_idx_bytes(a))
    (tmp_path / "ok.gz").write_bytes(gzip.compress(_idx_bytes(a)))
    assert np.array_equal(read_idx(tmp_path / "ok"), a) and np.array_equal(read_idx(tmp_path / "ok.gz"), a)
    (tmp_path / "short").write_bytes(_idx_bytes(a)[:-3])
    (tmp_path / "magic").write_bytes(b"\x01\x02" + _idx_bytes(a)[2:])
    (tmp_path / "dtype").write_bytes(b"\x00\x00\x42" + _idx_bytes(a)[3:])
    for bad in ("short", "magic", "dtype"):
        with pytest.raises(DataError, match="truncated or corrupt") as e:
            read_idx(tmp_path / bad)
        assert bad in str(e.value)


@needs_shared
def test_truncated_gz_idx_raises(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / f).write_bytes((SHARED / "mnist" / f).read_bytes())
    gz = (SHARED / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gz[:1000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz.*delete it"):
        load_images(DataConfig(name="mnist", root=str(tmp_path), download=False), "test")


# ----------------------------------------------------------------------------- downloads


@pytest.fixture
def mirror():
    """A local HTTP server over ../shared/data, and the SHA-256 table from its SHA256SUMS."""
    if not (SHARED / "SHA256SUMS").is_file():
        pytest.skip("no ../shared/data")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(SHARED)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    sums: dict[str, dict[str, str]] = {}
    for line in (SHARED / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split()
        name, _, file = rel.partition("/")
        sums.setdefault(name, {})[file] = digest
    yield f"http://127.0.0.1:{server.server_address[1]}", sums
    server.shutdown()
    server.server_close()


def test_download_verifies_and_loads(mirror, monkeypatch, tmp_path):
    url, sums = mirror
    monkeypatch.setenv("GENLAB_MIRROR", url)
    monkeypatch.setattr(download, "CHECKSUMS", {"mnist": sums["mnist"]})
    ds = load_images(DataConfig(name="mnist", download=True), "test")  # no root: into $GENLAB_CACHE
    cache = tmp_path / "cache" / "data" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(sums["mnist"])
    assert ds.tensors["x"].shape == (10000, 1, 28, 28)


def test_download_checksum_mismatch_leaves_no_file(mirror, monkeypatch, tmp_path):
    url, sums = mirror
    monkeypatch.setenv("GENLAB_MIRROR", url)
    dest = tmp_path / "dl"
    with pytest.raises(DataError, match="checksum mismatch"):
        download.fetch("mnist", ["t10k-labels-idx1-ubyte.gz"], dest, checksums={"t10k-labels-idx1-ubyte.gz": "0" * 64})
    assert list(dest.iterdir()) == []


def test_download_offline_and_missing_file(mirror, monkeypatch, tmp_path):
    url, _ = mirror
    monkeypatch.setenv("GENLAB_MIRROR", url)
    with pytest.raises(DataError, match="could not download nope.gz.*404"):
        download.fetch("mnist", ["nope.gz"], tmp_path / "dl", checksums={})
    monkeypatch.setenv("GENLAB_MIRROR", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(DataError, match=r"could not download .*GENLAB_DATA"):
        load_images(DataConfig(name="fashion-mnist", root=str(tmp_path / "root")), "train")
    assert not any(p.is_file() for p in (tmp_path / "root").rglob("*"))


# ----------------------------------------------------------------------------- folders of images


def _png(path: Path, size=(6, 6), mode="L", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 255 - value)).save(path)


def test_folder_with_class_subfolders(tmp_path):
    for i in range(5):
        _png(tmp_path / "cats" / f"{i}.png", value=10 * i)
        _png(tmp_path / "dogs" / f"{i}.png", mode="RGB", value=10 * i)
    train = load_images(DataConfig(name=str(tmp_path), val_fraction=0.2), "train")
    test = load_images(DataConfig(name=str(tmp_path), val_fraction=0.2), "test")
    assert len(train) == 8 and len(test) == 2
    assert train.info.shape == (3, 6, 6) and train.info.class_names == ["cats", "dogs"]
    assert set(train.tensors["y"].tolist()) | set(test.tensors["y"].tolist()) == {0, 1}
    grey = load_images(DataConfig(name=str(tmp_path), channels=1, image_size=4), "train")
    assert grey.tensors["x"].shape == (9, 1, 4, 4)
    again = load_images(DataConfig(name=str(tmp_path), channels=1, image_size=4), "train")
    assert torch.equal(grey.tensors["x"], again.tensors["x"])  # deterministic holdout


def test_flat_grey_folder_has_no_labels(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.png", value=50 * i)
    Image.new("L", (6, 6), 200).save(tmp_path / "3.JPG")
    Image.new("L", (6, 6), 250).save(tmp_path / "4.bmp")
    ds = load_images(DataConfig(name=str(tmp_path), val_fraction=0.2), "train")
    assert set(ds.tensors) == {"x"} and ds.info.shape == (1, 6, 6) and ds.info.num_classes == 0
    assert len(ds) == 4 and next(ds.batches(2))["x"].shape == (2, 1, 6, 6)
    rgb = load_images(DataConfig(name=str(tmp_path), val_fraction=0.2, channels=3), "test")
    assert rgb.tensors["x"].shape == (1, 3, 6, 6)


def test_folder_size_mismatch_corrupt_and_empty(tmp_path):
    _png(tmp_path / "a" / "small.png", size=(6, 6))
    _png(tmp_path / "a" / "big.png", size=(8, 5))
    with pytest.raises(DataError, match=r"(?s)big\.png.*small\.png.*data\.image_size"):
        load_images(DataConfig(name=str(tmp_path / "a")), "train")
    assert load_images(DataConfig(name=str(tmp_path / "a"), image_size=7), "train").info.shape == (1, 7, 7)
    (tmp_path / "a" / "broken.png").write_bytes((tmp_path / "a" / "big.png").read_bytes()[:40])
    with pytest.raises(DataError, match="broken.png"):
        load_images(DataConfig(name=str(tmp_path / "a"), image_size=7), "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_images(DataConfig(name=str(tmp_path / "empty")), "train")


# ----------------------------------------------------------------------------- .npz files


def test_npz_layouts(tmp_path):
    rng = np.random.default_rng(0)
    hw = rng.integers(0, 256, (20, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "hw.npz", x=hw, y=np.arange(20) % 4)
    ds = load_images(DataConfig(name=str(tmp_path / "hw.npz"), val_fraction=0.25), "train")
    assert ds.tensors["x"].shape == (15, 1, 5, 5) and ds.info.num_classes == 4 and ds.info.name == "hw"

    hwc = rng.random((6, 5, 5, 3))
    np.savez(tmp_path / "hwc.npz", images=hwc, x_test=hwc[:2])
    tr = load_images(DataConfig(name=str(tmp_path / "hwc.npz")), "train")
    te = load_images(DataConfig(name=str(tmp_path / "hwc.npz")), "test")
    assert tr.tensors["x"].shape == (6, 3, 5, 5) and len(te) == 2 and "y" not in tr.tensors
    assert torch.equal(tr.tensors["x"][0, :, 1, 2], torch.from_numpy(np.round(hwc[0, 1, 2] * 255).astype(np.uint8)))

    chw = rng.integers(0, 256, (4, 3, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "chw.npz", x=chw, y=np.zeros(4, int), x_test=chw, y_test=np.ones(4, int))
    te = load_images(DataConfig(name=str(tmp_path / "chw.npz"), channels=1), "test")
    assert te.tensors["x"].shape == (4, 1, 5, 5) and te.tensors["y"].tolist() == [1] * 4 and te.info.num_classes == 2


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "none.npz", pixels=np.zeros((3, 4, 4)), targets=np.zeros(3))
    with pytest.raises(DataError, match="pixels, targets"):
        load_images(DataConfig(name=str(tmp_path / "none.npz")), "train")
    np.savez(tmp_path / "range.npz", x=np.full((3, 4, 4), 2.0))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        load_images(DataConfig(name=str(tmp_path / "range.npz")), "train")
    nan = np.zeros((3, 4, 4))
    nan[0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=nan)
    with pytest.raises(DataError, match="NaN"):
        load_images(DataConfig(name=str(tmp_path / "nan.npz")), "train")

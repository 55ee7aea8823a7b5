"""Latent-space tools: eval helpers, the encode / reconstruct / interpolate / score / latent-map / fit-latent
commands, and the sequence autoencoder on word lists."""
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import genlab
from genlab.cli import main
from genlab.config import DataConfig, ModelConfig
from genlab.data import load_data
from genlab.data.words import to_ids, to_text
from genlab.errors import ConfigError, DataError
from genlab.eval import latent as L
from genlab.models.base import GenerativeModel
from genlab.registry import register_model

FAST = dict(progress=False, batch_size=128, log_every=1)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("latent") / "vae"
    torch.set_num_threads(1)
    genlab.train("vae", "digits", run, model_config={"latent_dim": 4, "width": 16}, epochs=2, lr=2e-3, **FAST)
    return run


# ----------------------------------------------------------------------------- helpers
def test_auroc_interpolation_and_pca_baseline():
    assert L.auroc([0.0, 1.0, 2.0], [3.0, 4.0]) == 1.0
    assert L.auroc([3.0, 4.0], [0.0, 1.0]) == 0.0
    assert L.auroc([0.0, 1.0], [0.0, 1.0]) == 0.5
    z0, z1 = torch.randn(3, 5), torch.randn(3, 5)
    for slerp in (False, True):
        p = L.interpolate(z0, z1, 7, slerp)
        assert p.shape == (3, 7, 5)
        torch.testing.assert_close(p[:, 0], z0)
        torch.testing.assert_close(p[:, -1], z1)
    # slerp between two vectors of equal norm stays on that sphere
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    torch.testing.assert_close(L.interpolate(a, b, 5, slerp=True).norm(dim=-1), torch.full((1, 5), 3.0))
    x = torch.randn(200, 6) @ torch.randn(6, 6)
    err = L.pca_reconstruction_mse(x[:150], x[150:], [1, 3, 6])
    assert err[1] > err[3] > err[6] and err[6] == pytest.approx(0.0, abs=1e-8)


def test_linear_autoencoder_reaches_the_pca_error(tmp_path):
    """A linear AE with a Gaussian decoder spans the principal subspace: its error approaches PCA's."""
    from genlab.config import TrainConfig, from_dict
    from genlab.data.base import DataInfo, TensorDataset
    from genlab.training import Trainer

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 8, generator=g) @ torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5, 0.3, 0.2, 0.1, 0.05]))
    ds = TensorDataset({"x": x}, DataInfo("vector", (8,), name="lin"))
    cls = genlab.get_model_class("ae")
    model = cls(from_dict(cls.Config, {"arch": "mlp", "hidden": [], "decoder": "gaussian", "latent_dim": 2}), ds.info)
    tc = from_dict(TrainConfig, {"epochs": 6, "batch_size": 64, "lr": 1e-2, "progress": False})
    Trainer(model, ds, None, tc, tmp_path, torch.device("cpu")).fit()
    pca = L.pca_reconstruction_mse(x, x, [2])[2]
    ae = L.reconstruction_mse(model.eval(), ds)
    assert pca <= ae < 1.1 * pca  # optimum 1.58 = sum of the six smallest variances


def test_plot_latent_map_writes_a_png(tmp_path):
    z, y = torch.randn(120, 5), torch.arange(120) % 3
    path = L.plot_latent_map(z, y, tmp_path / "m.png", class_names=["a", "b", "c"], max_points=100)
    assert Image.open(path).size[0] > 500
    with pytest.raises(ValueError, match="pca or tsne"):
        L.project_2d(z, "umap")


# ----------------------------------------------------------------------------- commands
def test_encode_reconstruct_interpolate(vae_run, tmp_path):
    code, out = cli("encode", vae_run, "-o", tmp_path / "c.npz", "--limit", 50)
    assert code == 0, out
    z = np.load(tmp_path / "c.npz")
    assert z["z"].shape == (50, 4) and z["y"].shape == (50,)
    code, _ = cli("encode", vae_run, "-o", tmp_path / "c.npy", "--split", "train")
    assert np.load(tmp_path / "c.npy").shape == (1500, 4)
    code, out = cli("reconstruct", vae_run, "-o", tmp_path / "r.png", "-n", 20)
    assert code == 0, out
    w, h = Image.open(tmp_path / "r.png").size
    assert w > h > 0  # 16 columns, 2 blocks of (input, reconstruction) rows
    for args in ([], ["--slerp"], ["--data", "digits"]):
        code, out = cli("interpolate", vae_run, "-o", tmp_path / "i.png", "--steps", 5, "--pairs", 2, *args)
        assert code == 0 and "2 paths of 5 points" in out, out


def test_score_with_reference_gives_an_auroc(vae_run, tmp_path):
    code, out = cli("score", vae_run, "--data", "digits", "-o", tmp_path / "s.csv", "--nll-samples", 10, "--limit", 40,
                    "--reference", "digits")
    assert code == 0, out
    rows = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    assert rows.shape == (40, 2) and np.isfinite(rows[:, 1]).all() and (rows[:, 1] > 0).all()
    auroc = float(out.split("AUROC")[1].split(":")[1])
    assert 0.3 < auroc < 0.7  # the same data on both sides


def test_data_of_another_shape_is_refused(vae_run, shared_data):
    code, out = cli("score", vae_run, "--data", "mnist", "--root", shared_data)
    assert code == 2 and "shape (1, 28, 28)" in out and "(1, 8, 8)" in out


def test_fit_latent_updates_the_run_and_sampling(vae_run, tmp_path):
    code, out = cli("fit-latent", vae_run, "--components", 3)
    assert code == 0 and "3-component" in out, out
    cfg = json.loads((vae_run / "config.json").read_text())
    assert cfg["model_config"]["latent_sampler"] == "gmm" and cfg["model_config"]["latent_components"] == 3
    model = genlab.load(vae_run)
    assert model.latent_gmm.fitted.item() == 1.0
    code, _ = cli("sample", vae_run, "-n", 8, "-o", tmp_path / "a.npz")
    code, _ = cli("sample", vae_run, "-n", 8, "-o", tmp_path / "b.npz", "--sampler", "prior")
    a, b = np.load(tmp_path / "a.npz")["x"], np.load(tmp_path / "b.npz")["x"]
    g = torch.Generator().manual_seed(0)
    assert np.array_equal(a, (model.sample(8, generator=g) * 255).round().to(torch.uint8).numpy())
    assert not np.array_equal(a, b)
    code, out = cli("fit-latent", vae_run, "--components", 2)  # refit with another size
    assert code == 0 and genlab.load(vae_run).latent_gmm.weights.shape == (2,)
    code, out = cli("latent-map", vae_run, "-o", tmp_path / "m.png", "--method", "pca", "--limit", 100)
    assert code == 0 and (tmp_path / "m.png").is_file()


@dataclass
class _DecoderConfig(ModelConfig):
    latent_dim: int = 3


@register_model
class _Decoder(GenerativeModel):
    """A model with only ``decode`` and a declared ``latent_dim`` (as a GAN generator has): test double."""

    name = "test-decoder"
    family = "test"
    Config = _DecoderConfig
    iterative = False

    def __init__(self, config, info):
        super().__init__(config, info)
        self.w = torch.nn.Parameter(torch.randn(config.latent_dim, 64))
        self.latent_dim = config.latent_dim

    def fit(self, data):
        return {}

    def decode(self, z):
        return torch.sigmoid(z @ self.w).view(-1, 1, 8, 8)


def test_interpolate_works_for_any_model_with_decode_and_a_latent_dim(tmp_path):
    genlab.train("test-decoder", "digits", tmp_path / "d", **FAST)
    code, out = cli("interpolate", tmp_path / "d", "-o", tmp_path / "i.png", "--steps", 4, "--pairs", 3)
    assert code == 0, out
    code, out = cli("interpolate", tmp_path / "d", "--data", "digits")
    assert code == 2 and "has no encode" in out
    code, out = cli("encode", tmp_path / "d")
    assert code == 2 and "has no encode" in out


# ----------------------------------------------------------------------------- sequence autoencoder
WORDS = ["cat", "cart", "care", "dog", "dot", "door", "bird", "bard", "bare", "card", "core", "cord", "dart", "tar",
         "rat", "art", "toad", "road", "read", "bead", "bed", "red", "rod", "cod", "god", "good", "food", "fold"]


def test_word_ids_round_trip():
    vocab = "abcdefghijklmnopqrstuvwxyz'"
    ids = to_ids(["cat", "o'er", ""], vocab, 6)
    assert ids.shape == (3, 6) and ids[0].tolist() == [4, 2, 21, 1, 0, 0]
    assert to_text(ids, vocab) == ["cat", "o'er", ""]
    with pytest.raises(DataError, match="not in the model's vocabulary"):
        to_ids(["Cat"], vocab, 6)
    with pytest.raises(DataError, match="at most 5"):
        to_ids(["catalog"], vocab, 6)


def test_seq_ae_learns_to_spell_back_words(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS * 4) + "\n")
    ds = load_data(DataConfig(name=str(words), val_fraction=0.1), "words", "train")
    assert ds.info.modality == "words" and ds.tensors["x"].shape[1] == 5
    model = genlab.train("seq-ae", str(words), tmp_path / "r", epochs=60, lr=1e-2, batch_size=32,
                         model_config={"hidden": 48, "embed_dim": 16, "latent_dim": 8}, progress=False, log_every=10)
    losses = [r["loss"] for r in genlab.training.checkpoint.read_metrics(tmp_path / "r") if r["split"] == "train"]
    assert losses[-1] < 0.2 * losses[0]
    assert sum(a == b for a, b in zip(model.decode(model.encode_items(WORDS)), WORDS)) >= 0.8 * len(WORDS)
    near = model.nearest(["cat", "dog"], WORDS, k=3)
    assert len(near["cat"]) == 3 and "cat" not in near["cat"]
    samples = model.sample(5, generator=torch.Generator().manual_seed(0), temperature=0.5)
    assert len(samples) == 5 and all(isinstance(s, str) for s in samples)
    code, out = cli("reconstruct", tmp_path / "r", "-n", 4, "-o", tmp_path / "r.txt")
    assert code == 0 and len((tmp_path / "r.txt").read_text().splitlines()) == 4
    code, out = cli("interpolate", tmp_path / "r", "--pairs", 2, "--steps", 3, "-o", tmp_path / "i.txt")
    assert code == 0 and (tmp_path / "i.txt").read_text().count(" -> ") == 4


def test_rows_of_examples_are_written_by_type_and_suffix(tmp_path):
    """Reconstructions and interpolation paths: images as a grid, strings as lines, anything as arrays; the
    default file follows the kind of data's own default (genlab/modalities/)."""
    imgs = [torch.zeros(3, 1, 8, 8), torch.ones(3, 1, 8, 8)]
    L.write_rows(imgs, tmp_path / "g.png", cols=2, what="reconstructions", arrays=None)
    from PIL import Image

    w, h = Image.open(tmp_path / "g.png").size
    assert w > 0 and h > w  # 2 blocks (3 examples, 2 per block) of 2 rows each: taller than wide
    L.write_rows([["a", "b"], ["c", "d"]], tmp_path / "t.txt", cols=2, what="paths", arrays=None)
    assert (tmp_path / "t.txt").read_text() == "a -> c\nb -> d\n"
    saved = []
    L.write_rows(imgs, tmp_path / "a.npz", cols=2, what="x", arrays=saved.append)
    assert saved == [tmp_path / "a.npz"]
    with pytest.raises(ConfigError, match=r"reconstructions are written as \.png, \.npz, not \.gif"):
        L.write_rows(imgs, tmp_path / "x.gif", cols=2, what="reconstructions", arrays=None)
    assert L.rows_suffix("image", ".npz") == ".png" and L.rows_suffix("words", ".npz") == ".txt"
    assert L.rows_suffix("vector", ".npy") == ".npy"

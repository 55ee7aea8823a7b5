"""Core contract: config, registry, trainer, checkpoints, resume, run folders."""
import json
import os
import signal
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import genlab
from genlab.config import DataConfig, ModelConfig, TrainConfig, apply_overrides, from_dict, load_config_file
from genlab.errors import ConfigError, DataError, RunError, TrainingDiverged
from genlab.models.base import GenerativeModel
from genlab.registry import register_model
from genlab.training import checkpoint as ck

FAST = dict(progress=False, batch_size=128, log_every=1)


def train_losses(run_dir, key="loss"):
    return [r[key] for r in ck.read_metrics(run_dir) if r["split"] == "train"]


# ----------------------------------------------------------------------------- config
def test_config_rejects_unknown_keys_and_wrong_types():
    with pytest.raises(ConfigError, match="unknown train key.*epoch.*valid keys"):
        from_dict(TrainConfig, {"epoch": 3}, "train")
    with pytest.raises(ConfigError, match="train.batch_size: expected an integer"):
        from_dict(TrainConfig, {"batch_size": "many"}, "train")
    with pytest.raises(ConfigError, match="lr must be > 0"):
        from_dict(TrainConfig, {"lr": -1}, "train")
    cfg = from_dict(TrainConfig, {"lr": "1e-3", "epochs": 3.0, "amp": "true", "betas": "0.5,0.9"}, "train")
    assert (cfg.lr, cfg.epochs, cfg.amp, cfg.betas) == (1e-3, 3, True, [0.5, 0.9])


def test_overrides_and_config_file(tmp_path):
    sections = apply_overrides({"model": {}, "train": {}, "data": {}}, ["model.latent_dim=8", "train.lr=1e-3", "data.name=mnist"])
    assert sections == {"model": {"latent_dim": 8}, "train": {"lr": 1e-3}, "data": {"name": "mnist"}}
    with pytest.raises(ConfigError, match="section"):
        apply_overrides({"model": {}}, ["latent_dim=3"])
    with pytest.raises(ConfigError, match="unknown config section 'optim'"):
        apply_overrides({"model": {}}, ["optim.lr=3"])
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  latent_dim: 4\ntrain:\n  epochs: 2\n")
    assert load_config_file(f) == {"model": {"latent_dim": 4}, "train": {"epochs": 2}}
    f.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(f)
    f.write_text("optimizer: {}\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_config_file(f)


def test_unknown_model_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown model 'vea'.*Did you mean vae.*Known models:.*gmm"):
        genlab.get_model_class("vea")


# ----------------------------------------------------------------------------- training
def test_vae_loss_goes_down_and_run_folder_is_complete(tmp_path):
    # batch 25: 60 steps per epoch, so validation, preview and checkpoint run at every epoch's end (epochs of
    # fewer than MIN_STEPS_PER_EPOCH_WORK steps do them only every few epochs)
    model = genlab.train("vae", "digits", tmp_path / "r", epochs=4, lr=2e-3, **{**FAST, "batch_size": 25})
    losses = train_losses(tmp_path / "r")
    assert len(losses) == 240  # 1500 digits / 25 = 60 steps per epoch
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["model"] == "vae" and cfg["seed"] == 0 and cfg["versions"]["torch"] == torch.__version__
    assert cfg["data_config"]["name"] == "digits" and cfg["train_config"]["epochs"] == 4
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert state["status"] == "finished" and state["step"] == 240 and state["epoch"] == 4
    assert (tmp_path / "r" / "samples.png").is_file() and len(list((tmp_path / "r" / "samples").glob("*.png"))) == 4
    val = [r for r in ck.read_metrics(tmp_path / "r") if r["split"] == "val"]
    assert len(val) == 4 and val[-1]["nll"] < val[0]["nll"]
    x = model.sample(8)
    assert x.shape == (8, 1, 8, 8) and 0 <= x.min() and x.max() <= 1


def test_save_load_same_samples_and_seed_determinism(tmp_path):
    a = genlab.train("vae", "digits", tmp_path / "a", epochs=1, seed=3, **FAST)
    b = genlab.train("vae", "digits", tmp_path / "b", epochs=1, seed=3, **FAST)
    c = genlab.train("vae", "digits", tmp_path / "c", epochs=1, seed=4, **FAST)
    loaded = genlab.load(tmp_path / "a")
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    s_a, s_loaded = a.sample(16, generator=gen()), loaded.sample(16, generator=gen())
    assert torch.equal(s_a, s_loaded)
    assert torch.equal(s_a, b.sample(16, generator=gen()))
    assert not torch.allclose(s_a, c.sample(16, generator=gen()))
    assert not torch.equal(s_a, a.sample(16, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("name,ema", [("vae", None), ("dcgan", 0.99)])
def test_resume_reproduces_the_uninterrupted_curve(tmp_path, monkeypatch, name, ema):
    cfg = dict(epochs=3, checkpoint_every=4, ema_decay=ema, **FAST)
    genlab.train(name, "digits", tmp_path / "full", **cfg)
    cls = genlab.get_model_class(name)
    original = cls.training_step

    def interrupted(self, batch, step):  # Ctrl-C arrives during step 15 (mid-epoch 2)
        if step == 15:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch, step)

    monkeypatch.setattr(cls, "training_step", interrupted)
    genlab.train(name, "digits", tmp_path / "cut", **cfg)
    state = ck.read_state(tmp_path / "cut")
    assert state["status"] == "interrupted" and state["step"] == 16
    monkeypatch.setattr(cls, "training_step", original)
    resumed = genlab.resume(tmp_path / "cut", progress=False)
    key = "loss" if name == "vae" else "loss_d"
    full, cut = train_losses(tmp_path / "full", key), train_losses(tmp_path / "cut", key)
    assert len(full) == len(cut) == 33
    np.testing.assert_allclose(cut, full, rtol=1e-5, atol=1e-6)
    full_model = genlab.load(tmp_path / "full")
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch.testing.assert_close(resumed.sample(4, generator=g()), full_model.sample(4, generator=g()), rtol=1e-4, atol=1e-5)


@dataclass
class _NanConfig(ModelConfig):
    nan_at: int = 5


@register_model
class _NanModel(GenerativeModel):
    """A model whose loss becomes NaN at a chosen step (test double)."""

    name = "test-nan"
    family = "test"
    Config = _NanConfig

    def __init__(self, config, info):
        super().__init__(config, info)
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, step):
        loss = (self.w - 1).pow(2).sum() * (float("nan") if step >= self.config.nan_at else 1.0)
        self.optimize(loss)
        return {"loss": loss.detach()}


def test_divergence_stops_with_message_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"diverged at step 5.*last good checkpoint \(step 4\)"):
        genlab.train("test-nan", "digits", tmp_path / "r", epochs=2, checkpoint_every=2, lr=0.1, **FAST)
    assert ck.read_state(tmp_path / "r")["status"] == "diverged"
    state = ck.load_trainer_state(ck.checkpoint_dir(tmp_path / "r"))
    assert state["step"] == 4
    model = genlab.load(tmp_path / "r")
    assert torch.isfinite(model.w).all() and model.w.item() > 0


def test_crash_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    genlab.train("vae", "digits", tmp_path / "r", epochs=1, **FAST)
    before = genlab.load(tmp_path / "r").sample(4, generator=torch.Generator().manual_seed(0))

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        genlab.resume(tmp_path / "r", epochs=2, progress=False)
    monkeypatch.undo()
    after = genlab.load(tmp_path / "r").sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(before, after)


def test_run_folders_are_never_clobbered(tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(RunError, match="not a genlab run"):
        genlab.train("vae", "digits", other, epochs=1, **FAST)
    assert (other / "thesis.txt").read_text() == "precious"
    genlab.train("vae", "digits", tmp_path / "r", epochs=1, **FAST)
    with pytest.raises(RunError, match="already holds a run.*genlab resume"):
        genlab.train("vae", "digits", tmp_path / "r", epochs=1, **FAST)
    with pytest.raises(RunError, match="no config.json"):
        genlab.load(other)
    (tmp_path / "r" / "config.json").write_text("{ not json")
    with pytest.raises(RunError, match="corrupt"):
        genlab.load(tmp_path / "r")


def test_checkpoint_files_load_with_weights_only(tmp_path):
    genlab.train("dcgan", "digits", tmp_path / "r", epochs=1, **FAST)
    state = torch.load(tmp_path / "r" / "ckpt" / "trainer.pt", weights_only=True)
    assert set(state["optimizers"]) == {"d", "g"} and state["step"] == 11


def test_gmm_fit_sample_and_exact_likelihood(tmp_path):
    model = genlab.train("gmm", "digits", tmp_path / "g", model_config={"n_components": 5}, progress=False)
    data = genlab.data.load_data(DataConfig(name="digits"), "image", "train").all()
    x = model.sample(2000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2000, 1, 8, 8)
    assert (x.mean(0) - data["x"].mean(0)).abs().max() < 0.05
    ll_data = model.log_likelihood({"x": data["x"][:200]})
    ll_noise = model.log_likelihood({"x": torch.rand(200, 1, 8, 8)})
    assert ll_data.shape == (200,) and ll_data.mean() > ll_noise.mean() + 100
    # a 1-component GMM is one Gaussian: compare with the closed-form density
    one = genlab.train("gmm", "digits", tmp_path / "g1", model_config={"n_components": 1}, progress=False)
    torch.manual_seed(0)
    xq = data["x"][:5]
    deq = (xq * 255 + torch.rand(xq.shape)) / 256
    mvn = torch.distributions.MultivariateNormal(one.means[0], scale_tril=one.scale[0])
    torch.manual_seed(0)
    np.testing.assert_allclose(one.log_likelihood({"x": xq}), mvn.log_prob(deq.reshape(5, -1)) - 64 * np.log(256), rtol=1e-5)


def test_sample_argument_errors(tmp_path):
    model = genlab.train("vae", "digits", tmp_path / "r", epochs=1, **FAST)
    with pytest.raises(ConfigError, match="positive integer"):
        model.sample(0)
    with pytest.raises(ConfigError, match="not trained with labels"):
        model.sample(2, labels=torch.tensor([1, 2]))
    with pytest.raises(ConfigError, match="does not take sampling option.*temperature"):
        model.sample(2, temperature=0.5)
    cond = genlab.train("vae", "digits", tmp_path / "c", epochs=1, model_config={"conditional": True}, **FAST)
    with pytest.raises(ConfigError, match=r"labels must be in 0..9"):
        cond.sample(2, labels=torch.tensor([3, 10]))
    assert cond.sample(3, labels=torch.tensor(7)).shape == (3, 1, 8, 8)


def test_a_run_that_fails_before_training_leaves_no_folder_behind(tmp_path):
    with pytest.raises(DataError, match="needs binary pixels"):  # grey digits for a Bernoulli model
        genlab.train("pixelcnn", "digits", tmp_path / "r", model_config={"width": 4, "layers": 1, "head": 8}, **FAST)
    assert not (tmp_path / "r").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError):
        genlab.train("pixelcnn", "digits", tmp_path / "empty", model_config={"width": 4, "layers": 1, "head": 8}, **FAST)
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())
    # the same --out works once the data is fixed
    genlab.train("pixelcnn", {"name": "digits", "binarize": "dynamic"}, tmp_path / "r",
                 model_config={"width": 4, "layers": 1, "head": 8}, **FAST)
    assert ck.read_state(tmp_path / "r")["status"] == "finished"


def test_tiny_epochs_validate_preview_and_save_every_few_epochs_and_at_the_end(tmp_path):
    from genlab.training.trainer import MIN_STEPS_PER_EPOCH_WORK, MIN_STEPS_PER_VALIDATION

    genlab.train("vae", "digits", tmp_path / "r", epochs=7, **FAST)  # 11 steps per epoch
    every = lambda steps: sorted({e for e in range(1, 8) if e % -(-steps // 11) == 0} | {7})  # noqa: E731
    val_epochs = [r["epoch"] for r in ck.read_metrics(tmp_path / "r") if r["split"] == "val"]
    assert val_epochs == every(MIN_STEPS_PER_VALIDATION) == list(range(1, 8))
    previews = sorted(int(p.stem.split("_")[1]) for p in (tmp_path / "r" / "samples").glob("*.png"))
    assert previews == [11 * e for e in every(MIN_STEPS_PER_EPOCH_WORK)] == [55, 77]

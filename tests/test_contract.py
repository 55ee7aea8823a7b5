"""The model contract (genlab/models/base.py), checked for every registered model on tiny data of its kind.

A model registered later is covered without writing a test: it is picked up from the registry, trained on
the tiny data of its modality (a factory below; a modality without one is skipped with the reason) with
its ``tiny_config`` (a class attribute), and checked: two training steps change the weights, ``train.lr``
(and ``train.lr_mult``) reaches every optimiser, save -> load gives the same samples for a seed, every
declared sampling option is accepted and a bad value is one clear error, config.json round-trips, and the
declared capabilities work.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import genlab
from genlab.config import DataConfig, TrainConfig, from_dict, to_dict
from genlab.errors import ConfigError, GenlabError
from genlab.models.base import GenerativeModel
from genlab.training import checkpoint as ck
from genlab.training.run import _datasets
from genlab.training.trainer import seed_everything

# ----------------------------------------------------------------------------- tiny data, one factory per modality
TEXT = "the cat sat on the mat. the dog sat on the log. a bird sat on the cat.\n" * 30
WORDS = ["cat", "cart", "care", "dog", "dot", "door", "bird", "bard", "bare", "card", "core", "cord", "dart", "tar"]


def _table_csv() -> str:
    rng = np.random.default_rng(0)
    n = 80
    rows = ["age,income,sex,city"] + [
        f"{int(a)},{inc:.1f},{s},{c}" for a, inc, s, c in zip(
            rng.integers(18, 70, n), rng.lognormal(10, 0.5, n), rng.choice(["F", "M"], n),
            rng.choice(["Oslo", "Rome", "Lima"], n))]
    return "\n".join(rows) + "\n"


def _file(tmp, name: str, text: str) -> str:
    path = tmp / name
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    return str(path)


def _wav_folder(tmp) -> str:
    import soundfile

    folder = tmp / "wavs"
    folder.mkdir(exist_ok=True)
    t = np.arange(2000) / 8000
    for i, f in enumerate((220, 330, 440)):
        soundfile.write(str(folder / f"tone{i}.wav"), 0.5 * np.sin(2 * np.pi * f * t), 8000, subtype="PCM_16")
    return str(folder)


FACTORIES = {  # modality -> data settings of a tiny dataset (tmp: a folder for files)
    "image": lambda tmp: {"name": "digits", "limit": 64},
    "vector": lambda tmp: {"name": "ring8", "limit": 64},
    "text": lambda tmp: {"name": _file(tmp, "tiny.txt", TEXT), "block_size": 16},
    "words": lambda tmp: {"name": _file(tmp, "words.txt", "\n".join(WORDS * 3) + "\n")},
    "table": lambda tmp: {"name": _file(tmp, "tiny.csv", _table_csv())},
    "paired": lambda tmp: {"name": "digits", "limit": 64},
    "unpaired": lambda tmp: {"name": "digits:3:8", "limit": 64},
    "audio": lambda tmp: {"name": _wav_folder(tmp), "block_size": 64},
    "documents": lambda tmp: {"name": _file(tmp, "docs.txt", "\n%\n".join(
        ["rocket planet orbit star moon", "bread cheese apple soup bread", "star moon rocket comet"] * 4))},
}

# Small settings for the models that were registered when this test was written; a model can declare its
# own with a ``tiny_config`` class attribute (model settings, plus "data" / "train" / "sample" sections).
TINY = {
    "gan": {"width": 16, "latent_dim": 4, "depth": 1}, "cgan": {"width": 16, "latent_dim": 4, "depth": 1},
    "acgan": {"width": 16, "latent_dim": 4, "depth": 1}, "wgan": {"width": 16, "latent_dim": 4, "depth": 1},
    "wgan-gp": {"width": 16, "latent_dim": 4, "depth": 1}, "lsgan": {"width": 16, "latent_dim": 4, "depth": 1},
    "hinge-sn": {"width": 16, "latent_dim": 4, "depth": 1}, "pacgan": {"width": 16, "latent_dim": 4, "depth": 1},
    "mgan": {"width": 16, "latent_dim": 4, "depth": 1, "n_generators": 2},
    "d2gan": {"width": 16, "latent_dim": 4, "depth": 1}, "dcgan": {"width": 8, "latent_dim": 4},
    "ctgan": {"embedding_dim": 8, "generator_dims": [16], "discriminator_dims": [16], "pac": 2},
    "tvae": {"latent_dim": 4, "encoder_dims": [16], "decoder_dims": [16]},
    "tab-ddpm": {"timesteps": 20, "sample_steps": 4},
    "ddpm": {"timesteps": 20, "sample_steps": 4}, "ddpm-mlp": {"timesteps": 20, "sample_steps": 4},
    "made": {"data": {"binarize": "static"}}, "pixelcnn": {"data": {"binarize": "static"}},
    "gated-pixelcnn": {"data": {"binarize": "static"}}, "pixel-lstm": {"data": {"binarize": "static"}},
    "rbm": {"data": {"binarize": "static"}},
    "lda": {"topics": 2, "max_iter": 2},
    "char-gru": {"data": {"block_size": 16}}, "char-lstm": {"data": {"block_size": 16}},
    "transformer-lm": {"data": {"block_size": 16}},
    "wavenet": {"layers": 3, "residual": 4, "skip": 8},
    "m2": {"hidden": 16, "latent_dim": 4, "data": {"labels_per_class": 3, "unlabelled": "keep"}},
    "ssgan": {"d_hidden": [16, 8], "g_hidden": 16, "latent_dim": 4, "labelled_batch": 8,
              "data": {"labels_per_class": 3, "unlabelled": "keep"}},
}
SAMPLE_FAST = {"steps": 2, "length": 4}  # options that make sampling cheap, where a model declares them
OPTION_EXAMPLES = {"prompt": "the ", "where": "sex=F"}  # valid text for text options without choices


def _registered() -> list[str]:
    return [n for n, cls in genlab.list_models().items() if not n.startswith("test-") and cls.family != "test"]


def _tiny(name: str) -> dict:
    cls = genlab.get_model_class(name)
    return dict(cls.tiny_config or TINY.get(name, {}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Trained tiny runs by model name, trained on first use: (model returned by train, run folder)."""
    tmp = tmp_path_factory.mktemp("contract")
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            cls = genlab.get_model_class(name)
            modality = next((m for m in cls.modalities if m in FACTORIES), None)
            if modality is None:
                pytest.skip(f"no tiny-data factory for {'/'.join(cls.modalities)} data yet (tests/test_contract.py FACTORIES)")
            tiny = _tiny(name)
            data = {**FACTORIES[modality](tmp), **tiny.pop("data", {})}
            train = {"max_steps": 2, "batch_size": 16, "progress": False, "sample_every": 10**9, "val_batches": 1,
                     "grid_size": 4, "checkpoint_every": 10**9, **tiny.pop("train", {})}
            tiny.pop("sample", None)
            out = tmp / name
            model = genlab.train(name, DataConfig(**data), out, model_config=tiny, train_config=train)
            cache[name] = (model, out, tiny, data, train)
        return cache[name]

    return get


def _sample_kw(model: GenerativeModel) -> dict:
    specs = model.option_specs()
    kw = {k: v for k, v in SAMPLE_FAST.items() if k in specs}
    kw.update(_tiny(model.name).get("sample", {}))
    return kw


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if hasattr(a, "equals"):  # DataFrame
        return bool(a.equals(b))
    return a == b


def _n_items(x) -> int:
    return len(x)


MODELS = _registered()


# ----------------------------------------------------------------------------- declarations (no training)
@pytest.mark.parametrize("name", MODELS)
def test_declarations(name):
    cls = genlab.get_model_class(name)
    assert cls.name == name and cls.family and cls.description and cls.modalities
    assert not cls.duplicated_train_settings(), (
        f"{name}: model config fields {cls.duplicated_train_settings()} duplicate TrainConfig's optimiser settings")
    specs = cls.option_specs()
    assert len(specs) == len(cls.sample_options), f"{name}: a sampling option is declared twice"
    from genlab.cli.sample_options import RESERVED

    assert not set(specs) & RESERVED, f"{name}: sampling options {set(specs) & RESERVED} clash with genlab sample's own flags"
    for spec in specs.values():
        assert spec.default is None or spec.check(spec.default) == spec.default, f"{name}: bad default of {spec.name}"
    assert set(cls.train_defaults) <= {"lr", "betas", "weight_decay", "optimizer"}


# ----------------------------------------------------------------------------- optimisers
@pytest.mark.parametrize("name", MODELS)
def test_train_lr_reaches_every_optimiser(name, runs, one_thread):
    model, *_ = runs(name)
    cls = type(model)
    if not cls.iterative:
        pytest.skip(f"{name} is fitted in one call (iterative = False): no optimisers")
    fresh = cls(model.config, model.info)
    opts = fresh.configure_optimizers(TrainConfig(lr=3.7e-4, weight_decay=1e-3))
    if not opts:
        pytest.skip(f"{name} declares no optimiser (trained without gradients)")
    for key, opt in opts.items():
        for g in opt.param_groups:
            assert math.isclose(g["lr"], 3.7e-4), f"{name}: train.lr did not reach optimiser {key!r} (lr {g['lr']})"
            assert math.isclose(g.get("weight_decay", 0.0), 1e-3), f"{name}: train.weight_decay missed {key!r}"
    first = next(iter(opts))
    opts = fresh.configure_optimizers(TrainConfig(lr=1e-3, lr_mult={first: 0.5}))
    assert math.isclose(opts[first].param_groups[0]["lr"], 5e-4)
    with pytest.raises(ConfigError, match="lr_mult"):
        fresh.configure_optimizers(TrainConfig(lr_mult={"no-such-optimiser": 2.0}))
    covered = {id(p) for o in opts.values() for g in o.param_groups for p in g["params"]}
    missing = [n for n, p in fresh.named_parameters() if p.requires_grad and id(p) not in covered]
    assert not missing, f"{name}: trainable parameters no optimiser steps: {missing[:5]}"


# ----------------------------------------------------------------------------- training, saving, loading
@pytest.mark.parametrize("name", MODELS)
def test_two_steps_change_the_weights_and_save_load_gives_the_same_samples(name, runs, one_thread):
    model, out, tiny, data, train = runs(name)
    cls = type(model)
    if cls.iterative:
        tc = from_dict(TrainConfig, train, "train")
        train_ds, _ = _datasets(from_dict(DataConfig, data, "data"), cls.modalities)
        seed_everything(tc.seed)
        start = cls(from_dict(cls.Config, tiny, "model"), train_ds.info)
        trained = genlab.training.build_model(name, to_dict(model.config), model.info)
        ck.load_weights(trained, ck.checkpoint_dir(out) / "model.safetensors")
        before, after = start.state_dict(), trained.state_dict()  # parameters and buffers (EM-trained models)
        assert before.keys() == after.keys()
        assert any(not torch.equal(before[k], after[k]) for k in before), f"{name}: two steps changed no weight"
    loaded = genlab.load(out)
    if "sample" not in loaded.capabilities():  # e.g. image-to-image models translate inputs instead
        return
    kw = _sample_kw(loaded)
    a = model.eval().sample(3, generator=torch.Generator().manual_seed(0), **kw)
    b = loaded.sample(3, generator=torch.Generator().manual_seed(0), **kw)
    assert _n_items(a) == 3 and _same(a, b), f"{name}: samples differ after save -> load"


@pytest.mark.parametrize("name", MODELS)
def test_config_json_round_trips(name, runs):
    _, out, *_ = runs(name)
    cfg = ck.read_run_config(out)
    assert json.loads(json.dumps(cfg)) == cfg
    cls = genlab.get_model_class(name)
    assert to_dict(from_dict(cls.Config, cfg["model_config"], "model")) == cfg["model_config"]
    tc = from_dict(TrainConfig, cfg["train_config"], "train")
    assert to_dict(tc) == cfg["train_config"]
    if cls.iterative:
        assert None not in (tc.lr, tc.betas, tc.weight_decay, tc.optimizer), "a run records the optimiser settings it used"
    else:
        with pytest.raises(ConfigError, match="without an optimiser: it cannot use train.lr"):
            cls.resolve_train_config(TrainConfig(lr=1e-3))


# ----------------------------------------------------------------------------- sampling options
def _valid_value(spec):
    if spec.choices:
        return spec.choices[0]
    if spec.default is not None:
        return spec.default
    if spec.type is bool:
        return True
    if spec.type in (int, float):
        lo = spec.min if spec.min is not None else 0
        if spec.type is int:  # a small count: lengths and steps have huge maxima
            return int(lo + 1 if spec.max is None else min(lo + 1, spec.max))
        return float(lo + 1 if spec.max is None else (lo + spec.max) / 2)
    return OPTION_EXAMPLES.get(spec.name)


def _bad_value(spec):
    if spec.choices:
        return "no-such-choice"
    if spec.type is bool:
        return "maybe"
    if spec.type in (int, float):
        if spec.min is not None:
            return spec.min - 1
        return "not-a-number"
    if spec.type is str:
        return 3
    return None


@pytest.mark.parametrize("name", MODELS)
def test_every_declared_sampling_option(name, runs, one_thread):
    model, *_ = runs(name)
    model.eval()
    if "sample" not in model.capabilities():
        assert not model.option_specs(), f"{name} declares sampling options but has no sample()"
        pytest.skip(f"{name} has no sample() (it transforms inputs)")
    base = _sample_kw(model)
    for spec in model.option_specs().values():
        value = _valid_value(spec)
        if value is not None:
            try:  # accepted: samples, or a clear error where the value depends on the run (e.g. an unfitted sampler)
                x = model.sample(2, generator=torch.Generator().manual_seed(0), **{**base, spec.name: value})
                assert _n_items(x) == 2
            except ConfigError as e:
                assert "\n" not in str(e)
        for choice in spec.choices or ():
            try:
                model.sample(2, generator=torch.Generator().manual_seed(0), **{**base, spec.name: choice})
            except ConfigError as e:
                assert "\n" not in str(e)
        bad = _bad_value(spec)
        if bad is not None:
            with pytest.raises(ConfigError, match=spec.name) as e:
                model.sample(2, generator=torch.Generator().manual_seed(0), **{**base, spec.name: bad})
            assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="does not take sampling option"):
        model.sample(2, no_such_option=1)


# ----------------------------------------------------------------------------- capabilities
@pytest.mark.parametrize("name", MODELS)
def test_declared_capabilities_work(name, runs, one_thread):
    model, out, _, data, _ = runs(name)
    model = genlab.load(out)
    caps = model.capabilities()
    ds, _ = _datasets(from_dict(DataConfig, data, "data"), model.info.modality)
    batch = next(ds.batches(4, shuffle=False, drop_last=False, device=model.device))
    labels = batch.get("y") if model.conditional else None
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        if "log_likelihood" in caps:
            ll = model.log_likelihood(batch)
            assert ll.shape == (len(batch["x"]),) and torch.isfinite(ll).all()
            assert model.likelihood_estimator
        if "anomaly_score" in caps:
            s = model.anomaly_score(batch)
            assert s.shape == (len(batch["x"]),) and torch.isfinite(s).all()
        if "encode" in caps:
            z = model.encode(batch["x"], labels) if model.conditional else model.encode(batch["x"])
            assert len(z) == len(batch["x"])
            if model.latent_dim is not None:
                assert z.shape[-1] == model.latent_dim
        if "decode" in caps:
            assert model.latent_dim is not None, f"{name} decodes but declares no latent_dim"
            z = model.latent_z(3, gen)
            assert z.shape == (3, model.latent_dim)
            x = model.decode(z, labels[:1].expand(3)) if model.conditional else model.decode(z)
            assert _n_items(x) == 3
        if "classify" in caps:
            logits = model.classify(batch["x"])
            assert logits.shape == (len(batch["x"]), model.info.num_classes) and torch.isfinite(logits).all()
        if "stream" in caps:
            text = "".join(model.stream(1, generator=gen, **_sample_kw(model)))
            assert isinstance(text, str) and text
        if "complete" in caps:
            from genlab.masks import parse_mask

            x = batch["x"][:2]
            if x.dim() == 4:  # images
                mask = parse_mask("bottom-half", tuple(x.shape[-2:])).to(x.device)
            else:  # the last half of the entries of each example
                mask = torch.zeros(x.shape[1:], dtype=torch.bool, device=x.device)
                mask.view(-1)[mask.numel() // 2:] = True
            filled = model.complete(x, mask, 2, generator=gen, labels=None if labels is None else labels[:2])
            assert filled.shape == (2, 2, *x.shape[1:])
            keep = ~mask.expand_as(x)
            assert torch.allclose(filled[:, 0][keep], x[keep]), f"{name}: completion changed uncovered pixels"
        if "conditional" in caps:
            k = model.info.num_classes
            x = model.sample(2, labels=torch.tensor([k - 1, 0]), generator=gen, **_sample_kw(model))
            assert _n_items(x) == 2
            with pytest.raises(ConfigError):
                model.sample(2, labels=torch.tensor([k, 0]), generator=gen, **_sample_kw(model))


def test_old_run_folders_with_player_learning_rates_are_migrated(tmp_path, one_thread):
    """A GAN run written when lr_g / lr_d lived in the model section loads and resumes with the same optimisers."""
    out = tmp_path / "old"
    genlab.train("gan", DataConfig(name="ring8", limit=64), out, model_config=TINY["gan"], max_steps=1, batch_size=16,
                 progress=False, sample_every=10**9)
    cfg = json.loads((out / "config.json").read_text())
    for k in ("lr", "betas", "weight_decay", "optimizer", "lr_mult"):
        cfg["train_config"].pop(k)
    cfg["train_config"].update(lr=2e-4, betas=[0.9, 0.999], weight_decay=0.0)  # the old defaults (unused by GANs)
    cfg["model_config"].update(lr_g=1e-4, lr_d=4e-4, betas=[0.0, 0.9], optimizer="adam")
    (out / "config.json").write_text(json.dumps(cfg))
    migrated = ck.read_run_config(out)
    assert "lr_g" not in migrated["model_config"]
    tc = from_dict(TrainConfig, migrated["train_config"], "train")
    assert (tc.lr, tc.lr_mult, tc.betas, tc.weight_decay, tc.optimizer) == (1e-4, {"d": 4.0}, [0.0, 0.9], 0.0, "adam")
    genlab.load(out)
    model = genlab.resume(out, max_steps=2)
    assert model is not None


def test_a_model_config_key_that_is_a_train_setting_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"model.lr_d is a training setting: use train.lr and train.lr_mult.d"):
        from_dict(genlab.get_model_class("dcgan").Config, {"lr_d": 1e-4}, "model")
    with pytest.raises(GenlabError, match="train.lr_mult.x must be a number > 0"):
        from_dict(TrainConfig, {"lr_mult": {"x": -1}}, "train")

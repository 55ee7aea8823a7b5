"""The Python API: ``train``, ``resume`` and ``load`` a run folder."""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ..config import DataConfig, TrainConfig, from_dict, to_dict
from ..data import load_data
from ..data.base import DataInfo
from ..errors import ConfigError, DataError, RunError
from ..models.base import GenerativeModel
from ..registry import get_model_class
from . import checkpoint as ck
from .trainer import Trainer, resolve_device, seed_everything


def build_model(name: str, model_config: dict | None, info: DataInfo) -> GenerativeModel:
    cls = get_model_class(name)
    cfg = from_dict(cls.Config, model_config, prefix="model")
    return cls(cfg, info)


def _datasets(data_cfg: DataConfig, modality: str | tuple[str, ...]):
    """Train and test splits; with several modalities (a model for vectors and images) the first that loads."""
    modalities = (modality,) if isinstance(modality, str) else tuple(modality)
    errors = []
    for modality in modalities:
        try:
            train_ds = load_data(data_cfg, modality, "train")
            break
        except DataError as e:
            errors.append(e)
    else:
        if len(errors) == 1:
            raise errors[0]
        raise DataError(f"could not load {data_cfg.name!r}: " + "; ".join(
            f"as {m} data, {e}" for m, e in zip(modalities, errors)))
    try:
        val_ds = load_data(data_cfg, modality, "test")
    except DataError:
        val_ds = None
    if len(train_ds) == 0:
        raise DataError(f"dataset {data_cfg.name!r} has no training examples")
    return train_ds, val_ds


def train(model: str, data: str | dict | DataConfig = "digits", out: str | Path | None = None, *,
          model_config: dict | None = None, train_config: dict | TrainConfig | None = None,
          overwrite: bool = False, **train_overrides) -> GenerativeModel:
    """Train model ``model`` on ``data`` and write a run folder to ``out``; returns the trained model.

    ``train_overrides`` are :class:`TrainConfig` fields, e.g. ``epochs=5, seed=1``.
    """
    cls = get_model_class(model)
    data_cfg = data if isinstance(data, DataConfig) else from_dict(DataConfig, {"name": data} if isinstance(data, str) else data, "data")
    tc = train_config if isinstance(train_config, TrainConfig) else from_dict(TrainConfig, {**(train_config or {}), **train_overrides}, "train")
    if isinstance(train_config, TrainConfig) and train_overrides:
        tc = from_dict(TrainConfig, {**to_dict(train_config), **train_overrides}, "train")
    mcfg = from_dict(cls.Config, model_config, "model")
    run_dir = Path(out or f"runs/{model}")
    _prepare_run_dir(run_dir, overwrite)

    train_ds, val_ds = _datasets(data_cfg, cls.modalities)
    seed_everything(tc.seed)
    net = cls(mcfg, train_ds.info)
    device = resolve_device(tc.device)
    config = {
        "model": model, "model_config": to_dict(mcfg), "train_config": to_dict(tc), "data_config": to_dict(data_cfg),
        "data_info": train_ds.info.to_dict(), "seed": tc.seed, "versions": ck.versions(), "created": ck.now(),
        "device": str(device),
    }
    existed = run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    ck.write_json_atomic(run_dir / ck.CONFIG, config)
    try:
        trainer = Trainer(net, train_ds, val_ds, tc, run_dir, device)
        trainer.fit()
    except BaseException:
        _discard_unsaved_run(run_dir, existed)
        raise
    return trainer.sampling_model().eval()


def _discard_unsaved_run(run_dir: Path, existed: bool) -> None:
    """A run that failed before it logged or saved anything (bad data for the model, a setup error) holds
    only its config: remove it, so that the same ``--out`` can be used again once the problem is fixed.
    Runs with a checkpoint or logged metrics (e.g. one that diverged) are kept as a record."""
    if ck.read_metrics(run_dir):
        return
    try:
        ck.checkpoint_dir(run_dir)
    except RunError:
        shutil.rmtree(run_dir, ignore_errors=True)
        if existed:
            run_dir.mkdir(parents=True, exist_ok=True)


def _prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    if run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / ck.CONFIG).is_file():
            raise RunError(f"{run_dir} exists and is not a genlab run; choose another --out (nothing was touched)")
        if not overwrite:
            raise RunError(f"{run_dir} already holds a run; use `genlab resume {run_dir}` to continue it, "
                           f"--overwrite to replace it, or another --out")
        shutil.rmtree(run_dir)


def resume(run_dir: str | Path, **train_overrides) -> GenerativeModel:
    """Continue an interrupted run exactly where its last checkpoint stopped.

    ``train_overrides`` may extend the budget (``epochs``, ``max_steps``, ``max_time``) or change the
    device; other training settings come from the run's ``config.json``.
    """
    run_dir = Path(run_dir)
    cfg = ck.read_run_config(run_dir)
    allowed = {"epochs", "max_steps", "max_time", "device", "progress"}
    bad = set(train_overrides) - allowed
    if bad:
        raise ConfigError(f"resume can only change {', '.join(sorted(allowed))}, not {', '.join(sorted(bad))}")
    tc = from_dict(TrainConfig, {**cfg["train_config"], **{k: v for k, v in train_overrides.items() if v is not None}}, "train")
    data_cfg = from_dict(DataConfig, cfg["data_config"], "data")
    cls = get_model_class(cfg["model"])
    train_ds, val_ds = _datasets(data_cfg, cfg["data_info"]["modality"])
    net = build_model(cfg["model"], cfg["model_config"], DataInfo.from_dict(cfg["data_info"]))
    device = resolve_device(tc.device)
    ckpt = ck.checkpoint_dir(run_dir)
    ck.load_weights(net, ckpt / "model.safetensors")
    trainer = Trainer(net, train_ds, val_ds, tc, run_dir, device)
    if trainer.ema is not None and (ckpt / "ema.safetensors").is_file():
        ck.load_weights(trainer.ema.module, ckpt / "ema.safetensors")
    trainer.load_state_dict(ck.load_trainer_state(ckpt))
    ck.truncate_metrics(run_dir, trainer.step)
    if tc != from_dict(TrainConfig, cfg["train_config"]):
        cfg["train_config"] = to_dict(tc)
        ck.write_json_atomic(run_dir / ck.CONFIG, cfg)
    trainer.fit()
    return trainer.sampling_model().eval()


def load(run_dir: str | Path, device: str = "cpu", ema: bool = True) -> GenerativeModel:
    """Rebuild a trained model from its run folder (EMA weights when the run kept them)."""
    run_dir = Path(run_dir)
    cfg = ck.read_run_config(run_dir)
    net = build_model(cfg["model"], cfg["model_config"], DataInfo.from_dict(cfg["data_info"]))
    ckpt = ck.checkpoint_dir(run_dir)
    weights = ckpt / "ema.safetensors"
    ck.load_weights(net, weights if ema and weights.is_file() else ckpt / "model.safetensors")
    net.run_dir = run_dir
    return net.to(resolve_device(device)).eval()

"""The Python API: ``train``, ``resume`` and ``load`` a run folder."""
from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sys
from pathlib import Path

import torch

from ..config import DataConfig, TrainConfig, from_dict, to_dict
from ..data import load_data
from ..data.base import DataInfo
from ..errors import ConfigError, DataError, GenlabError, RunError
from ..models.base import GenerativeModel
from ..registry import get_model_class
from . import checkpoint as ck
from . import distributed as dist
from .data_summary import print_data_summary
from .trainer import FitInterrupted, Trainer, resolve_device, seed_everything


def build_model(name: str, model_config: dict | None, info: DataInfo, training: bool = False) -> GenerativeModel:
    """Model ``name`` from its config, validated (unused keys, sizes that fit in memory) before allocating."""
    cls = get_model_class(name)
    cfg = from_dict(cls.Config, model_config, prefix="model")
    check_model_config(cls, cfg, info, None, training=training)  # a run's config.json holds every key
    return cls(cfg, info)


def check_model_config(cls, cfg, info: DataInfo, given: dict | None = None, training: bool = True) -> None:
    """Refuse, before any weight is allocated, keys the model would ignore for this data and networks whose
    parameters do not fit in memory (their size measured on PyTorch's "meta" device, which allocates nothing)."""
    unused = getattr(cls, "unused_config_keys", None)
    if unused is not None and given:
        ignored = {k: why for k, why in unused(cfg, info).items() if k in given}
        if ignored:
            raise ConfigError("; ".join(f"model.{k} is not used by {cls.name} here ({why}); remove it"
                                        for k, why in ignored.items()))
    nbytes = estimate_parameter_bytes(cls, cfg, info)
    if nbytes is None:
        return
    # training keeps weights, gradients and two Adam moments (and maybe an EMA copy): about 5x the weights
    need = nbytes * (5 if training else 1)
    avail = ck.available_memory()
    if need > 0.8 * avail:
        raise ConfigError(f"model {cls.name!r} with this config has {ck.human_bytes(nbytes)} of parameters "
                          f"(~{ck.human_bytes(need)} to {'train' if training else 'load'}), more than the "
                          f"{ck.human_bytes(avail)} of memory available; use smaller layers")


def estimate_parameter_bytes(cls, cfg, info: DataInfo) -> int | None:
    """Bytes of the parameters and buffers of ``cls(cfg, info)``, built on the meta device (no memory used);
    None when the model cannot be built there (e.g. it computes with real tensors while it is built)."""
    try:
        with torch.device("meta"):
            net = cls(cfg, info)
    except GenlabError:
        raise
    except Exception:
        return None
    return sum(t.numel() * t.element_size() for t in list(net.parameters()) + list(net.buffers()))


def _resolve_data_paths(data_cfg: DataConfig) -> DataConfig:
    """The data config with absolute, resolved file locations, so the run can be resumed or evaluated from
    any directory (built-in names such as ``digits`` stay as they are)."""
    changes = {}
    if data_cfg.name and not _is_builtin(data_cfg.name) and Path(data_cfg.name).expanduser().exists():
        changes["name"] = str(Path(data_cfg.name).expanduser().resolve())
    if data_cfg.root:
        changes["root"] = str(Path(data_cfg.root).expanduser().resolve())
    schema = getattr(data_cfg, "schema", None)
    if isinstance(schema, str) and "=" not in schema and Path(schema).expanduser().is_file():
        changes["schema"] = str(Path(schema).expanduser().resolve())
    return dataclasses.replace(data_cfg, **changes) if changes else data_cfg


def _is_builtin(name: str) -> bool:
    return "/" not in name and not Path(name).suffix and not Path(name).exists()


CHECKSUM_MAX_BYTES = 256 * 2**20


def data_fingerprint(data_cfg: DataConfig) -> dict | None:
    """Where the data is and, for a file up to 256 MB, its SHA-256 (a folder: file count and bytes)."""
    import hashlib

    path = Path(data_cfg.name).expanduser()
    if _is_builtin(data_cfg.name) or not path.exists():
        return None
    out = {"path": str(path.resolve())}
    if path.is_file():
        size = path.stat().st_size
        out["bytes"] = size
        if size <= CHECKSUM_MAX_BYTES:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(2**20), b""):
                    h.update(block)
            out["sha256"] = h.hexdigest()
    elif path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()][:1_000_000]
        out["files"], out["bytes"] = len(files), sum(p.stat().st_size for p in files)
    return out


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
        raise _best_error(data_cfg, modalities, errors)
    try:
        val_ds = load_data(data_cfg, modality, "test")
    except DataError:
        val_ds = None
    if len(train_ds) == 0:
        raise DataError(f"dataset {data_cfg.name!r} has no training examples")
    return train_ds, val_ds


def _best_error(data_cfg: DataConfig, modalities: tuple[str, ...], errors: list[DataError]) -> DataError:
    """One error for data no modality could load: the loader's own message when the data is plainly of one
    kind (a folder of images, an .npz of images), every modality's message otherwise."""
    path = Path(data_cfg.name).expanduser()
    kind = "image" if path.is_dir() or path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp") else None
    if path.suffix.lower() == ".npy":
        kind = "vector"
    if path.is_file() and path.suffix.lower() == ".npz":
        ndim = _npz_ndim(path)
        kind = "image" if ndim in (3, 4) else "vector" if ndim in (1, 2) else None
    for m, e in zip(modalities, errors):
        if m == kind:
            return e
    return DataError(f"could not load {data_cfg.name!r}: " + "; ".join(
        f"as {m} data, {e}" for m, e in zip(modalities, errors)))


def _npz_ndim(path: Path) -> int | None:
    """Number of dimensions of the array ``x`` (or ``images``) in an .npz, read from its header only."""
    import zipfile

    import numpy as np

    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in ("x.npy", "images.npy") if n in z.namelist()), None)
            if name is None:
                return None
            with z.open(name) as f:
                version = np.lib.format.read_magic(f)
                shape = np.lib.format._read_array_header(f, version)[0]
                return len(shape)
    except Exception:
        return None


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
    given = _given_train_keys(train_config, train_overrides)
    tc = cls.resolve_train_config(tc)  # optimiser settings left at None: the model's defaults, recorded in config.json
    mcfg = from_dict(cls.Config, model_config, "model")
    data_cfg = _resolve_data_paths(data_cfg)
    run_dir = Path(out or f"runs/{model}")
    joined = dist.setup(tc.device)  # under torchrun (WORLD_SIZE > 1): join the process group
    try:
        with _sigterm_as_ctrl_c():
            return _train(cls, model, mcfg, model_config, tc, data_cfg, run_dir, overwrite, given)
    finally:
        if joined:
            dist.cleanup()


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM (docker stop, systemd, batch schedulers) while data loads and the model is built does what
    Ctrl-C does: the run is stopped cleanly (exit status 130), not killed. The trainer installs its own
    handlers while it trains."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or dist.active():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _given_train_keys(train_config, overrides: dict) -> set[str]:
    """The training settings the caller chose: keys of a dict config and of the keyword overrides; for a
    :class:`TrainConfig` object, the fields that differ from their defaults."""
    given = set(overrides)
    if isinstance(train_config, dict):
        given |= set(train_config)
    elif isinstance(train_config, TrainConfig):
        default = TrainConfig()
        given |= {f.name for f in dataclasses.fields(TrainConfig) if getattr(train_config, f.name) != getattr(default, f.name)}
    return given


def _train(cls, model, mcfg, model_config, tc, data_cfg, run_dir, overwrite, given=frozenset()) -> GenerativeModel:
    # under torch.distributed rank 0 alone owns the run folder (lock, config, logs, checkpoints)
    existed = run_dir.exists()
    lock = None

    def claim():
        nonlocal lock
        _check_out_dir(run_dir)
        lock = ck.RunLock(run_dir, "training").acquire()
        try:
            _prepare_run_dir(run_dir, overwrite)
        except BaseException:
            lock.release()
            _remove_if_empty(run_dir, existed)
            raise

    dist.main_first(claim)
    try:
        train_ds, val_ds = _datasets(data_cfg, cls.modalities)
        if dist.is_main():
            print_data_summary(train_ds, val_ds, data_cfg)
        check_model_config(cls, mcfg, train_ds.info, model_config, training=True)
        seed_everything(tc.seed)
        net = cls(mcfg, train_ds.info)
        tc, why = net.scaled_train_config(tc, set(given))
        if why and dist.is_main():
            print(f"genlab: {why}", file=sys.stderr, flush=True)
        device = dist.device_for(tc.device) if dist.active() else resolve_device(tc.device)
        config = {
            "model": model, "model_config": to_dict(mcfg), "train_config": to_dict(tc), "data_config": to_dict(data_cfg),
            "data_info": train_ds.info.to_dict(), "seed": tc.seed, "versions": ck.versions(), "created": ck.now(),
            "device": str(device), "data_source": data_fingerprint(data_cfg),
        }
        if dist.active():
            world = dist.world_size()
            per = dist.global_batch(len(train_ds), tc.batch_size, world)[1]
            config["distributed"] = {"world_size": world, "backend": torch.distributed.get_backend(),
                                     "batch_size_per_process": per, "effective_batch_size": per * world,
                                     "lr": tc.lr, "lr_scaling": "none (train.lr as given, for the effective batch)"}
        if lock is not None:
            ck.write_json_atomic(run_dir / ck.CONFIG, config)
        try:
            trainer = Trainer(net, train_ds, val_ds, tc, run_dir, device)
            trainer.fit()
        except FitInterrupted:
            raise  # kept, marked interrupted: the same command restarts it in place
        except BaseException:
            if lock is not None:
                _discard_unsaved_run(run_dir, existed)
            raise
        dist.barrier()
    finally:
        if lock is not None:
            lock.release()
            _remove_if_empty(run_dir, existed)
    return trainer.sampling_model().eval()


def _check_out_dir(run_dir: Path) -> None:
    """Refuse an output location that cannot be a run folder before anything is loaded or trained."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--out {run_dir} is a file, not a folder; choose another --out")
    parent = next((p for p in [run_dir, *run_dir.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise RunError(f"--out {run_dir}: {parent} is a file, so the run folder cannot be created there")
    import os

    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise RunError(f"--out {run_dir}: {parent} is not writable")


def _remove_if_empty(run_dir: Path, existed: bool) -> None:
    """A folder holding only the lock file (a run removed after a setup error) goes too (only the lock file
    when the folder was there before)."""
    if run_dir.is_dir() and [p.name for p in run_dir.iterdir()] == [ck.LOCK]:
        if existed:
            (run_dir / ck.LOCK).unlink(missing_ok=True)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


def _discard_unsaved_run(run_dir: Path, existed: bool) -> None:
    """A run that failed before it logged or saved anything (bad data for the model, a setup error) holds
    only its config: remove it, so that the same ``--out`` can be used again once the problem is fixed.
    Runs with a checkpoint or logged metrics (e.g. one that diverged) are kept as a record."""
    if ck.read_metrics(run_dir):
        return
    try:
        ck.checkpoint_dir(run_dir)
    except RunError:
        for p in run_dir.iterdir():  # the lock file stays while we hold it
            if p.name != ck.LOCK:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)


def _prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Called with the run's lock held. A run that never saved a checkpoint (killed or failed early) is
    restarted in place; one with a checkpoint needs ``--overwrite`` (or ``genlab resume``)."""
    entries = [p for p in run_dir.iterdir() if p.name != ck.LOCK]
    if not entries:
        return
    if not (run_dir / ck.CONFIG).is_file():
        raise RunError(f"{run_dir} exists and is not a genlab run; choose another --out (nothing was touched)")
    ck.clean_orphans(run_dir)
    try:
        ck.checkpoint_dir(run_dir)
        has_checkpoint = True
    except RunError:
        has_checkpoint = False
    if has_checkpoint and not overwrite:
        raise RunError(f"{run_dir} already holds a run; use `genlab resume {run_dir}` to continue it, "
                       f"--overwrite to replace it, or another --out")
    if not has_checkpoint and not overwrite:
        print(f"note: {run_dir} holds a run that never saved a checkpoint; starting it again in place", file=sys.stderr)
    for p in run_dir.iterdir():
        if p.name != ck.LOCK:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def resume(run_dir: str | Path, **train_overrides) -> GenerativeModel:
    """Continue an interrupted run exactly where its last checkpoint stopped.

    ``train_overrides`` may extend the budget (``epochs``, ``max_steps``, ``max_time``) or change the
    device; other training settings come from the run's ``config.json``.
    """
    run_dir = Path(run_dir)
    data = train_overrides.pop("data", None)
    root = train_overrides.pop("root", None)
    cfg = ck.read_run_config(run_dir)
    allowed = {"epochs", "max_steps", "max_time", "max_cpu_time", "device", "progress", "threads"}
    bad = set(train_overrides) - allowed
    if bad:
        raise ConfigError(f"resume can only change {', '.join(sorted(allowed))} (and the data location), "
                          f"not {', '.join(sorted(bad))}")
    overrides = {k: v for k, v in train_overrides.items() if v is not None}
    joined = dist.setup(overrides.get("device") or cfg.get("train_config", {}).get("device") or "auto")
    try:
        return _resume(run_dir, cfg, overrides, data, root)
    finally:
        if joined:
            dist.cleanup()


def _resume(run_dir: Path, cfg: dict, overrides: dict, data, root) -> GenerativeModel:
    import contextlib

    # under torch.distributed rank 0 alone holds the lock and writes; every rank reads the same checkpoint
    held = contextlib.ExitStack()
    if dist.active():
        lock = dist.main_first(lambda: ck.RunLock(run_dir, "resuming").acquire())
        if lock is not None:
            held.callback(lock.release)
    else:
        held.enter_context(ck.RunLock(run_dir, "resuming"))
    with held:
        if dist.is_main():
            ck.clean_orphans(run_dir)
        dist.barrier()
        try:
            ckpt = ck.checkpoint_dir(run_dir)
        except RunError:
            raise RunError(f"{run_dir} has no checkpoint to resume from (training stopped before it saved one); "
                           f"start it again with the same `genlab train ... --out {run_dir}` command: a run "
                           "without a checkpoint is restarted in place") from None
        tc = from_dict(TrainConfig, {**cfg.get("train_config", {}), **overrides}, "train")
        old_tc = from_dict(TrainConfig, cfg.get("train_config", {}), "train")
        data_cfg = from_dict(DataConfig, cfg.get("data_config", {}), "data")
        if data is not None or root is not None:
            data_cfg = _resolve_data_paths(dataclasses.replace(
                data_cfg, **{k: v for k, v in {"name": data, "root": root}.items() if v is not None}))
        state = ck.load_trainer_state(ckpt)
        info = _data_info(cfg, run_dir)
        net = build_model(cfg["model"], cfg["model_config"], info, training=True)
        ck.load_weights(net, ckpt / "model.safetensors")
        ck.check_finite_weights(net, ckpt / "model.safetensors")
        status = ck.read_state(run_dir).get("status")
        train_ds, val_ds = _resume_datasets(run_dir, cfg, data_cfg)
        if dist.is_main():
            print_data_summary(train_ds, val_ds, data_cfg)
        device = dist.device_for(tc.device) if dist.active() else resolve_device(tc.device)
        trainer = Trainer(net, train_ds, val_ds, tc, run_dir, device)
        if trainer.ema is not None and (ckpt / "ema.safetensors").is_file():
            ck.load_weights(trainer.ema.module, ckpt / "ema.safetensors")
            ck.check_finite_weights(trainer.ema.module, ckpt / "ema.safetensors")
        trainer.load_state_dict(state)
        if status == "finished" and not net.iterative:
            raise RunError(f"{run_dir} already finished: {cfg['model']} is fitted in one pass, so there is nothing "
                           "to continue (nothing was changed); train it again with --overwrite to change it")
        if status == "finished" and trainer._done():
            raise RunError(f"{run_dir} already finished (step {trainer.step}, epochs={tc.epochs}, "
                           f"max_steps={tc.max_steps}); nothing was changed. To train longer give a larger budget, "
                           f"e.g. `genlab resume {run_dir} --epochs {tc.epochs * 2}`")
        if trainer._done():
            raise RunError(f"{run_dir} has already reached its budget at step {trainer.step}; give a larger "
                           f"--epochs, --max-steps or --max-time to continue (nothing was changed)")
        if dist.is_main():
            ck.truncate_metrics(run_dir, trainer.step)
        if dist.is_main() and (tc != old_tc or data_cfg != from_dict(DataConfig, cfg.get("data_config", {}), "data")):
            cfg["train_config"], cfg["data_config"] = to_dict(tc), to_dict(data_cfg)
            cfg["data_source"] = data_fingerprint(data_cfg)
            ck.write_json_atomic(run_dir / ck.CONFIG, cfg)
        trainer.fit()
        dist.barrier()
    return trainer.sampling_model().eval()


def _resume_datasets(run_dir: Path, cfg: dict, data_cfg: DataConfig):
    """The run's data again, with where it looked when it is gone, and a warning when it has changed."""
    import warnings

    try:
        train_ds, val_ds = _datasets(data_cfg, cfg["data_info"]["modality"])
    except DataError as e:
        raise DataError(f"cannot resume {run_dir}: its training data {data_cfg.name!r}"
                        f"{' (root ' + data_cfg.root + ')' if data_cfg.root else ''} could not be loaded ({e}). "
                        f"Point to where it is now with `genlab resume {run_dir} --data PATH`") from None
    old = cfg.get("data_source") or {}
    new = data_fingerprint(data_cfg) or {}
    if old.get("sha256") and new.get("sha256") and old["sha256"] != new["sha256"]:
        warnings.warn(f"{data_cfg.name} has changed since {run_dir} was trained (SHA-256 differs); "
                      "resuming on the new contents", stacklevel=3)
    if list(train_ds.info.shape) != list(cfg["data_info"]["shape"]):
        raise DataError(f"cannot resume {run_dir}: {data_cfg.name!r} now gives examples of shape "
                        f"{tuple(train_ds.info.shape)}, the run was trained on {tuple(cfg['data_info']['shape'])}")
    return train_ds, val_ds


def _data_info(cfg: dict, run_dir: Path) -> DataInfo:
    try:
        return DataInfo.from_dict(cfg["data_info"])
    except (TypeError, KeyError, ValueError) as e:
        raise RunError(f"{run_dir / ck.CONFIG}: 'data_info' is damaged ({e})") from None


def load(run_dir: str | Path, device: str = "cpu", ema: bool = True) -> GenerativeModel:
    """Rebuild a trained model from its run folder (EMA weights when the run kept them)."""
    run_dir = Path(run_dir)
    cfg = ck.read_run_config(run_dir)
    info = _data_info(cfg, run_dir)
    net = build_model(cfg["model"], cfg["model_config"], info)
    ckpt = ck.checkpoint_dir(run_dir)
    weights = ckpt / "ema.safetensors"
    weights = weights if ema and weights.is_file() else ckpt / "model.safetensors"
    ck.load_weights(net, weights)
    ck.check_finite_weights(net, weights)
    return net.to(resolve_device(device)).eval()

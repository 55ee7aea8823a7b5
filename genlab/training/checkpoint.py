"""Run folders: ``config.json``, ``state.json``, ``metrics.jsonl`` and an atomically replaced ``ckpt/``.

``ckpt/`` holds ``model.safetensors`` (and ``ema.safetensors``) plus ``trainer.pt`` (optimiser, scheduler
and RNG states: tensors and plain numbers only, read back with ``torch.load(weights_only=True)``). A new
checkpoint is written to a temporary folder and swapped in with renames, so a crash mid-write leaves the
previous checkpoint intact. Loading never executes code from the files.
"""
from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RunError
from ..resources import available_memory, human_bytes  # noqa: F401  (re-exported: training/ and sampling use them from here)

if TYPE_CHECKING:
    import torch
# torch and safetensors are imported inside the functions that need them, so that reading a run's config and
# state (`genlab info`) starts without them

CONFIG = "config.json"
STATE = "state.json"
METRICS = "metrics.jsonl"
CKPT = "ckpt"
LOCK = ".lock"
MAX_JSON_BYTES = 64 * 2**20  # a config or state file larger than this is not one genlab wrote


def versions() -> dict[str, str]:
    import numpy
    import torch
    import sklearn

    from .. import __version__

    return {
        "genlab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }


def write_json_atomic(path: Path, data: dict) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    try:
        size = Path(path).stat().st_size
        if size > MAX_JSON_BYTES:
            raise RunError(f"{path} is {size / 2**20:.0f} MB, far larger than any file genlab writes; refusing to read it")
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise RunError(f"{path} is corrupt: it holds a {type(data).__name__}, not a JSON object")
        return data
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise RunError(f"{path} is corrupt (not valid JSON: {e})") from None
    except IsADirectoryError:
        raise RunError(f"{path} is a folder, not a file") from None


def read_run_config(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is not a folder; give the folder a `genlab train --out` wrote")
    if not (run_dir / CONFIG).is_file():
        raise RunError(f"{run_dir} is not a genlab run: it has no {CONFIG}")
    cfg = read_json(run_dir / CONFIG)
    for key in ("model", "model_config", "data_info"):
        if key not in cfg:
            raise RunError(f"{run_dir / CONFIG} has no {key!r} entry; it was not written by genlab")
    return _migrate(cfg)


def _migrate(cfg: dict) -> dict:
    """Old run folders: optimiser settings kept in the model section move to train (genlab.config)."""
    import dataclasses

    from ..config import MOVED_TO_TRAIN, migrate_run_config
    from ..errors import ConfigError
    from ..registry import get_model_class

    if not isinstance(cfg["model"], str) or not isinstance(cfg["model_config"], dict):
        return cfg
    if not set(cfg["model_config"]) & set(MOVED_TO_TRAIN):  # nothing to move (every new run): no model import
        return cfg
    from ..config import MOVED_TO_TRAIN

    if not set(cfg["model_config"]) & set(MOVED_TO_TRAIN):  # nothing to move: no need to import the model
        return cfg
    try:
        keep = {f.name for f in dataclasses.fields(get_model_class(cfg["model"]).Config)}
    except ConfigError:  # an unknown model: loading it reports that
        return cfg
    return migrate_run_config(cfg, keep)


def read_state(run_dir: str | Path) -> dict:
    p = Path(run_dir) / STATE
    return read_json(p) if p.is_file() else {}


def checkpoint_dir(run_dir: str | Path) -> Path:
    """The newest complete checkpoint folder (``ckpt`` or, after a crash mid-swap, ``ckpt.old``)."""
    run_dir = Path(run_dir)
    for name in (CKPT, CKPT + ".old"):
        d = run_dir / name
        if (d / "model.safetensors").is_file() and (d / "trainer.pt").is_file():
            return d
    raise RunError(f"{run_dir} has no checkpoint (no {CKPT}/model.safetensors); training never saved one")


def save_checkpoint(run_dir: Path, model: torch.nn.Module, ema: torch.nn.Module | None, trainer_state: dict) -> None:
    import torch
    from safetensors.torch import save_model

    run_dir = Path(run_dir)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".ckpt-"))
    save_model(model, str(tmp / "model.safetensors"))
    if ema is not None:
        save_model(ema, str(tmp / "ema.safetensors"))
    torch.save(trainer_state, tmp / "trainer.pt")
    final, old = run_dir / CKPT, run_dir / (CKPT + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def load_trainer_state(ckpt: Path) -> dict:
    import torch

    path = ckpt / "trainer.pt"
    import warnings

    try:
        with warnings.catch_warnings():  # PyTorch's warnings about foreign pickles suggest unsafe loading
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or foreign file: weights_only refuses anything but tensors
        raise RunError(f"{path} could not be read safely: {_unpickle_reason(e)}. genlab reads checkpoints as "
                       "tensors and numbers only and never runs code from them; the file is damaged or was not "
                       "written by genlab (train the run again, or restore the file)") from None
    if not isinstance(state, dict) or "step" not in state:
        raise RunError(f"{path} is not a genlab trainer state (no 'step' entry)")
    return state


def _unpickle_reason(e: Exception) -> str:
    """PyTorch's message without its advice to load with ``weights_only=False`` (which would run the file's code)."""
    import re

    text = str(e)
    m = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"(Unsupported operand \d+)", text)
    if m:
        return f"it holds Python objects other than tensors ({m.group(1)})"
    first = next((ln.strip() for ln in text.splitlines()
                  if ln.strip() and "weights_only" not in ln and "Weights only load failed" not in ln), "")
    return first[:200] or type(e).__name__


# ----------------------------------------------------------------------------- one writer per run folder


class RunLock:
    """An exclusive OS lock (``fcntl.flock``) on ``RUN/.lock``, held while a process writes the run.

    The kernel releases it when the process dies, however it dies, so a crashed run never stays locked.
    A second writer gets one clear error naming the process that holds it.
    """

    def __init__(self, run_dir: str | Path, what: str = "training"):
        self.run_dir, self.what, self.fd = Path(run_dir), what, None

    def acquire(self) -> "RunLock":
        import fcntl

        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create the run folder {self.run_dir}: {e.strerror}") from None
        path = self.run_dir / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as e:
            raise RunError(f"cannot create the lock file {path}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder_text(fd)
            os.close(fd)
            raise RunError(f"{self.run_dir} is in use by another genlab process ({holder}); wait for it to "
                           f"finish or stop it, or use another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "what": self.what, "since": now()}).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock; the file stays (removing it would race)
            self.fd = None

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _lock_holder_text(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"PID {int(info['pid'])}, {info.get('what', 'writing')} since {info.get('since', '?')}"
    except (ValueError, KeyError, TypeError, OSError):
        return "PID unknown"


def lock_holder(run_dir: str | Path) -> str | None:
    """Who holds the run's lock (``"PID 123, training since ..."``), or None when nobody does."""
    import fcntl

    path = Path(run_dir) / LOCK
    if not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return _lock_holder_text(fd)
    finally:
        os.close(fd)


def clean_orphans(run_dir: str | Path) -> list[str]:
    """Remove the temporary ``.ckpt-*`` folders and ``.*.tmp`` files of writes a crash cut short (call with
    the run's lock held); restore ``ckpt`` from ``ckpt.old`` when a crash fell between the two renames."""
    run_dir = Path(run_dir)
    removed = []
    for p in list(run_dir.glob(".ckpt-*")) + list(run_dir.glob(".*.tmp")) + [run_dir / (METRICS[:-6] + ".tmp")]:
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p.name)
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    final, old = run_dir / CKPT, run_dir / (CKPT + ".old")
    if old.is_dir():
        if (final / "model.safetensors").is_file() and (final / "trainer.pt").is_file():
            shutil.rmtree(old, ignore_errors=True)
        elif (old / "model.safetensors").is_file():
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(old, final)
        removed.append(old.name)
    return removed


def nonfinite_tensors(state: dict) -> list[str]:
    """Names of floating-point tensors in ``state`` holding NaN or infinity."""
    import torch

    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel() and not torch.isfinite(v).all()]


def check_finite_weights(model: torch.nn.Module, path: Path | str) -> None:
    bad = nonfinite_tensors(model.state_dict())
    if bad:
        raise RunError(f"{path} holds non-finite weights (NaN or infinity in {', '.join(bad[:3])}"
                       f"{', ...' if len(bad) > 3 else ''}): the run diverged or the file is damaged; "
                       "refusing to use it. Retrain with a lower train.lr or train.grad_clip=1.0")


def describe_status(run_dir: str | Path, state: dict | None = None) -> str:
    """``finished``, ``running (PID ...)``, ``interrupted at step N (last checkpoint M)`` or ``killed at step N
    (last checkpoint M)`` (state.json says running but no process holds the run's lock)."""
    state = read_state(run_dir) if state is None else state
    status = state.get("status", "unknown")
    holder = lock_holder(run_dir)
    if status == "running" and holder is None:
        status = "killed"
    if status == "running":
        return f"running ({holder})"
    if status in ("killed", "interrupted", "diverged"):
        steps = [r.get("step") for r in read_metrics(run_dir) if isinstance(r.get("step"), int)]
        step = max([state.get("step") or 0] + steps)
        last = state.get("checkpoint_step")
        if last is None:
            try:
                checkpoint_dir(run_dir)
                last = "unknown"
            except RunError:
                last = "none"
        return f"{status} at step {step} (last checkpoint {last})"
    return status


def load_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_model

    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except Exception as e:
        raise RunError(f"{path} is not a readable safetensors file: {e}") from None
    if missing or unexpected:
        raise RunError(f"{path} does not match the model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")


def append_metrics(run_dir: Path, record: dict) -> None:
    with open(Path(run_dir) / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(run_dir: str | Path) -> list[dict]:
    p = Path(run_dir) / METRICS
    if not p.is_file():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash
    return out


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop records logged after the checkpoint we resume from, so the curve has no duplicates."""
    kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= step]
    p = Path(run_dir) / METRICS
    tmp = p.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, p)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")

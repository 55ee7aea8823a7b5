"""Run folders: ``config.json``, ``state.json``, ``metrics.jsonl`` and an atomically replaced ``ckpt/``.

``ckpt/`` holds ``model.safetensors`` (and ``ema.safetensors``) plus ``trainer.pt`` (optimiser, scheduler
and RNG states: tensors and plain numbers only, read back with ``torch.load(weights_only=True)``). A new
checkpoint is written to a temporary folder and swapped in with renames, so a crash mid-write leaves the
previous checkpoint intact. Loading never executes code from the files.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from ..errors import RunError

CONFIG = "config.json"
STATE = "state.json"
METRICS = "metrics.jsonl"
CKPT = "ckpt"


def versions() -> dict[str, str]:
    import numpy
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
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(f"{path} is corrupt (not valid JSON: {e})") from None


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
    return cfg


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
    try:
        return torch.load(ckpt / "trainer.pt", map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or foreign file: weights_only refuses anything but tensors
        raise RunError(f"{ckpt / 'trainer.pt'} could not be read safely: {e}") from None


def load_weights(model: torch.nn.Module, path: Path) -> None:
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

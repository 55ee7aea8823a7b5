"""Configuration dataclasses, their JSON/YAML form and command-line overrides.

Every model has one ``ModelConfig`` subclass; training and data have ``TrainConfig`` and ``DataConfig``.
Values are checked against the dataclass field types when read from a file or from ``--set key=value``,
so a typo or a wrong type is reported by name instead of being silently ignored.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass
class ModelConfig:
    """Base class of every model's config. Subclasses add their own fields with defaults."""

    def validate(self) -> None:  # subclasses raise ConfigError for bad values
        pass


@dataclass
class TrainConfig:
    epochs: int = 10
    max_steps: int | None = None  # stop after this many optimisation steps (overrides epochs)
    max_time: float | None = None  # stop after this many seconds of training
    max_cpu_time: float | None = None  # stop after this many process CPU seconds of training (fair budgets on busy machines)
    batch_size: int = 128
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # constant | cosine | linear
    warmup_steps: int = 0
    grad_clip: float | None = None  # max global gradient norm per optimiser
    ema_decay: float | None = None  # keep an exponential moving average of the weights
    amp: bool = False  # mixed precision (CUDA only)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    log_every: int = 50
    sample_every: int = 0  # steps between sample grids; 0: at the end of every epoch
    checkpoint_every: int = 1000  # steps between checkpoints (and always at the end of an epoch)
    val_batches: int = 20  # batches of held-out data evaluated at the end of every epoch
    grid_size: int = 64
    tensorboard: bool = False
    progress: bool = True

    def validate(self) -> None:
        if self.epochs < 1 and not self.max_steps:
            raise ConfigError("train.epochs must be >= 1 (or give train.max_steps)")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if self.lr_schedule not in ("constant", "cosine", "linear"):
            raise ConfigError(f"train.lr_schedule must be constant, cosine or linear, got {self.lr_schedule!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"train.ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")


@dataclass
class DataConfig:
    name: str = "digits"  # a built-in dataset name or a path (folder of images, .npz, .txt, .csv, ...)
    root: str | None = None  # where built-in datasets live or are downloaded to
    download: bool = True
    image_size: int | None = None  # resize images to this size (folders of images)
    channels: int | None = None  # 1 (grey) or 3 (RGB); None keeps the dataset's own
    binarize: str = "none"  # none | dynamic | static
    limit: int | None = None  # use only the first N training examples
    val_fraction: float = 0.1  # held-out share when the data has no test split
    # text
    tokenizer: str = "char"  # char | bpe
    vocab_size: int = 2000  # for bpe
    block_size: int = 256  # tokens per training window
    documents: str = "stream"  # stream (one long text) | lines (one document per line) | files (one per file)
    # tables
    target: str | None = None
    schema: str | None = None

    def validate(self) -> None:
        if self.binarize not in ("none", "dynamic", "static"):
            raise ConfigError(f"data.binarize must be none, dynamic or static, got {self.binarize!r}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"data.channels must be 1 or 3, got {self.channels}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"data.limit must be >= 1, got {self.limit}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.tokenizer not in ("char", "bpe"):
            raise ConfigError(f"data.tokenizer must be char or bpe, got {self.tokenizer!r}")
        if self.documents not in ("stream", "lines", "files"):
            raise ConfigError(f"data.documents must be stream, lines or files, got {self.documents!r}")
        if self.block_size < 1 or self.vocab_size < 1:
            raise ConfigError("data.block_size and data.vocab_size must be >= 1")


# ----------------------------------------------------------------------------- conversion


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp, key: str):
    """Check ``value`` against the annotation ``tp``; accept ints for floats and strings from the CLI."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, inner, key) for v in value]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def from_dict(cls, data: dict | None, prefix: str = ""):
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types by name."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown {prefix or cls.__name__} key(s): {', '.join(unknown)}; valid keys: {', '.join(names)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    cfg = cls(**kwargs)
    cfg.validate()
    return cfg


def parse_value(text: str) -> Any:
    """A command-line value: JSON/YAML scalars and lists (``3``, ``1e-3``, ``true``, ``[1,2]``) or a string."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            return float(value)
        except ValueError:
            pass
    return value


def apply_overrides(sections: dict[str, dict], overrides: list[str]) -> dict[str, dict]:
    """Apply ``section.key=value`` overrides to a ``{"model": {...}, "train": {...}, "data": {...}}`` tree."""
    out = {k: dict(v) for k, v in sections.items()}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. model.latent_dim=16")
        key, value = item.split("=", 1)
        if "." not in key:
            raise ConfigError(f"override {item!r} must name a section: one of {', '.join(sections)} (e.g. train.lr=1e-3)")
        section, name = key.split(".", 1)
        if section not in out:
            raise ConfigError(f"unknown config section {section!r} in {item!r}; sections: {', '.join(sections)}")
        out[section][name] = parse_value(value)
    return out


def load_config_file(path: str | Path) -> dict[str, dict]:
    """Read a YAML or JSON file with optional ``model``, ``train`` and ``data`` sections."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping with model/train/data sections")
    unknown = set(data) - {"model", "train", "data"}
    if unknown:
        raise ConfigError(f"config file {path}: unknown section(s) {', '.join(sorted(unknown))}; use model, train, data")
    return {k: dict(v or {}) for k, v in data.items()}

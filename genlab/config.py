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
    # Optimiser settings: the one home for every model's optimisers (GenerativeModel.build_optimizers).
    # None means "the model's default" (its ``train_defaults``, else OPTIMIZER_DEFAULTS); a new run's config.json
    # records the values it used.
    lr: float | None = None  # learning rate of every optimiser (times lr_mult[name])
    betas: list[float] | None = None  # Adam betas
    weight_decay: float | None = None
    optimizer: str | None = None  # adam | rmsprop
    lr_mult: dict[str, float] = field(default_factory=dict)  # per-optimiser lr factors, e.g. {"d": 4.0} (two time-scale GANs)
    lr_schedule: str = "constant"  # constant | cosine | linear
    warmup_steps: int = 0
    grad_clip: float | None = None  # max global gradient norm per optimiser
    ema_decay: float | None = None  # keep an exponential moving average of the weights
    precision: str = "auto"  # auto | fp32 | bf16: bf16 autocast where the CPU (AMX/AVX-512-BF16) or CUDA GPU has it
    threads: int | None = None  # torch CPU threads (None: physical cores; 1 per process under torch.distributed)
    amp: bool | None = None  # old name of precision, kept for old run folders: true = auto, false = fp32
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
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if self.betas is not None and not (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)):
            raise ConfigError(f"train.betas must be two numbers in [0, 1), got {self.betas}")
        if self.weight_decay is not None and not self.weight_decay >= 0:
            raise ConfigError(f"train.weight_decay must be >= 0, got {self.weight_decay}")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer must be {' or '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        mult = {}
        for k, v in self.lr_mult.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
                raise ConfigError(f"train.lr_mult.{k} must be a number > 0, got {v!r}")
            mult[str(k)] = float(v)
        self.lr_mult = mult
        if self.lr_schedule not in ("constant", "cosine", "linear"):
            raise ConfigError(f"train.lr_schedule must be constant, cosine or linear, got {self.lr_schedule!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"train.ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"train.precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.threads is not None and not 1 <= self.threads <= 4096:
            raise ConfigError(f"train.threads must be a number of CPU threads >= 1, got {self.threads}")
        _check_ranges(self, "train", TRAIN_RANGES)

    def resolved(self, defaults: dict | None = None) -> "TrainConfig":
        """A copy with every optimiser setting left at None filled from ``defaults`` (a model's
        ``train_defaults``), then from :data:`OPTIMIZER_DEFAULTS`."""
        fill = {**OPTIMIZER_DEFAULTS, **(defaults or {})}
        values = {k: (list(fill[k]) if isinstance(fill[k], list) else fill[k])
                  for k in OPTIMIZER_DEFAULTS if getattr(self, k) is None}
        out = dataclasses.replace(self, **values)
        out.validate()
        return out


OPTIMIZERS = ("adam", "rmsprop")
# What an optimiser setting left at None becomes for a model without its own ``train_defaults``.
OPTIMIZER_DEFAULTS: dict[str, Any] = {"lr": 2e-4, "betas": [0.9, 0.999], "weight_decay": 0.0, "optimizer": "adam"}
# Settings that live in TrainConfig only: a model config field of one of these names breaks the model contract
# (tests/test_contract.py), and old run folders that kept them in the model section are migrated on read
# (migrate_run_config).
OPTIMIZER_KEYS = ("lr", "betas", "weight_decay", "optimizer", "lr_mult", "lr_schedule", "warmup_steps")


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
    test: str | None = None  # tables: a held-out table file (instead of the built-in test split or a val_fraction holdout)
    # events grouped by item (genlab/audiences): the item column of the events table, and the items table
    group: str | None = None
    context: str | None = None
    # music and audio
    music: str = "events"  # events (all voices) | melody (top voice) | grid (four voices, 16th notes)
    transpose: int = 0  # music: also train on every transposition up to this many semitones
    sample_rate: int = 8000  # audio: resample to this rate (Hz)
    # few labels (labelled datasets): keep this many labelled training examples per class (a fixed, seeded
    # choice); the rest are dropped (unlabelled=drop) or kept with label -1 (unlabelled=keep, semi-supervised)
    labels_per_class: int | None = None
    unlabelled: str = "drop"  # drop | keep

    def validate(self) -> None:
        if self.binarize not in ("none", "dynamic", "static"):
            raise ConfigError(f"data.binarize must be none, dynamic or static, got {self.binarize!r}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"data.channels must be 1 or 3, got {self.channels}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"data.limit must be >= 1, got {self.limit}")
        if not 0 <= self.val_fraction < 1:  # 0: no holdout (tables train on every row)
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.tokenizer not in ("char", "bpe"):
            raise ConfigError(f"data.tokenizer must be char or bpe, got {self.tokenizer!r}")
        if self.documents not in ("stream", "lines", "files"):
            raise ConfigError(f"data.documents must be stream, lines or files, got {self.documents!r}")
        if self.unlabelled not in ("drop", "keep"):
            raise ConfigError(f"data.unlabelled must be drop or keep, got {self.unlabelled!r}")
        if self.labels_per_class is not None and self.labels_per_class < 1:
            raise ConfigError(f"data.labels_per_class must be >= 1, got {self.labels_per_class}")
        if self.block_size < 1 or self.vocab_size < 1:
            raise ConfigError("data.block_size and data.vocab_size must be >= 1")
        _check_ranges(self, "data", DATA_RANGES)


# Ranges of numeric settings (inclusive; None: unbounded), checked with finiteness by ``_check_ranges``.
TRAIN_RANGES = {
    "epochs": (0, 10**7), "max_steps": (1, 10**10), "max_time": (1e-3, 1e8), "max_cpu_time": (1e-3, 1e8),
    "batch_size": (1, 10**7), "lr": (0, 10.0), "weight_decay": (0, 10.0), "warmup_steps": (0, 10**10),
    "grad_clip": (1e-12, 1e12), "log_every": (1, 10**10), "sample_every": (0, 10**10),
    "checkpoint_every": (1, 10**10), "val_batches": (0, 10**7), "grid_size": (1, 1024), "seed": (-2**63, 2**63 - 1),
}
DATA_RANGES = {"image_size": (1, 4096), "limit": (1, 10**10), "block_size": (1, 2**20), "vocab_size": (1, 2**20)}


def _check_ranges(cfg, section: str, ranges: dict) -> None:
    """Finite numbers within their declared range, named in the message; None passes (the default applies)."""
    import math

    for name, (lo, hi) in ranges.items():
        v = getattr(cfg, name, None)
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if not math.isfinite(v):
            raise ConfigError(f"{section}.{name} must be a finite number, got {v}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            what = ("is far above any useful learning rate (typical: 1e-5 .. 1e-2)" if name == "lr" and v > hi
                    else f"must be between {lo:g} and {hi:g}")
            raise ConfigError(f"{section}.{name}={v:g} {what}")


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
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError:
                pass
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
    moved = [k for k in unknown if issubclass(cls, ModelConfig) and k in MOVED_TO_TRAIN]
    if moved:
        raise ConfigError(f"{prefix or 'model'}.{moved[0]} is a training setting: use {MOVED_TO_TRAIN[moved[0]]} "
                          "(one home for every model's optimisers)")
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
        if "." in name:  # one entry of a mapping, e.g. train.lr_mult.d=4
            name, sub = name.split(".", 1)
            current = out[section].get(name)
            if current is not None and not isinstance(current, dict):
                raise ConfigError(f"{section}.{name} is not a mapping; {item!r} cannot set an entry of it")
            out[section][name] = {**(current or {}), sub: parse_value(value)}
            continue
        out[section][name] = parse_value(value)
    return out


def split_train_settings(settings: dict) -> tuple[dict, dict]:
    """A mixed settings dict split into (model part, train part): the optimiser settings (OPTIMIZER_KEYS)
    go to the train section, e.g. ``{"d_steps": 1, "lr_mult": {"d": 4}}`` -> ``({"d_steps": 1}, {"lr_mult": ...})``."""
    return ({k: v for k, v in settings.items() if k not in OPTIMIZER_KEYS},
            {k: v for k, v in settings.items() if k in OPTIMIZER_KEYS})


# Model-config keys of old run folders that are training settings now, and what replaces them.
MOVED_TO_TRAIN = {
    "lr": "train.lr (--lr)", "lr_g": "train.lr and train.lr_mult.g (e.g. --set train.lr_mult.g=0.5)",
    "lr_d": "train.lr and train.lr_mult.d (e.g. --set train.lr_mult.d=4)", "betas": "train.betas",
    "weight_decay": "train.weight_decay", "optimizer": "train.optimizer",
}


def migrate_run_config(cfg: dict, keep: tuple[str, ...] | set[str] = ()) -> dict:
    """A run's config.json with optimiser settings moved from ``model_config`` to ``train_config``.

    Runs written before TrainConfig became the one home of optimiser settings kept ``lr_g``/``lr_d``/``betas``/
    ``optimizer`` (GANs, ctgan), ``lr``/``weight_decay`` (tvae) in the model section; they become
    ``train.lr`` (the generator's), ``train.lr_mult`` ({"d": lr_d / lr_g} when they differ), ``train.betas``,
    ``train.optimizer`` and ``train.weight_decay``, which give the same optimisers. New runs pass unchanged;
    ``keep`` names fields the model's config really has (never moved).
    """
    model = dict(cfg.get("model_config") or {})
    old = {k: model.pop(k) for k in list(model) if k in MOVED_TO_TRAIN and k not in keep}
    if not old:
        return cfg
    train = dict(cfg.get("train_config") or {})
    lr = old.get("lr_g", old.get("lr"))
    if lr is not None:
        train["lr"] = lr
        lr_d = old.get("lr_d", lr)
        if lr_d != lr:
            train["lr_mult"] = {**train.get("lr_mult", {}), "d": lr_d / lr}
    for k in ("betas", "weight_decay", "optimizer"):
        if k in old:
            train[k] = old[k]
    # the old train values were never used by these models' own optimisers: keep what they really used
    if "lr_g" in old and "weight_decay" not in old:  # GANs: no weight decay
        train["weight_decay"] = 0.0
    if "lr" in old and "betas" not in old:  # tvae: Adam's own default betas
        train["betas"] = [0.9, 0.999]
    return {**cfg, "model_config": model, "train_config": train}


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

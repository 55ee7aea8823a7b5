"""The contract every genlab model fulfils.

A model is an ``nn.Module`` with a config dataclass (``Config``), built from ``(config, info)`` where
``info`` describes the data. It declares its optimisers and one training step; the trainer owns the loop,
devices, clipping, mixed precision, EMA and checkpoints. Gradient updates go through ``self.optimize(loss,
name)``, so adversarial models can alternate several optimisers inside one step.

Everything a caller (the CLI, the evaluators, the run API) may ask of a model is declared here:

- **capabilities** are methods a subclass overrides (:data:`CAPABILITIES`: ``sample``, ``log_likelihood``,
  ``encode``, ``decode``, ``complete``, ``stream``, ``anomaly_score``, ``latent_z`` (its own latent sampler),
  ``fit_latent``) plus ``conditional`` when the model is built with labels; ``model.capabilities()`` lists them;
- **sampling options** are :class:`SampleOption` declarations in ``sample_options`` (name, type, range or
  choices, default, help); ``check_sample_args`` validates them and ``genlab sample RUN --help`` lists them;
- **optimiser settings** come from ``TrainConfig`` only (``build_optimizers``); a model states its own defaults
  in ``train_defaults`` (e.g. GANs: Adam betas 0.5/0.999).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Iterator

import torch
from torch import nn

from ..config import OPTIMIZER_KEYS, ModelConfig, TrainConfig
from ..data.base import Batch, DataInfo, TensorDataset
from ..errors import ConfigError

# Methods whose override makes a capability (``model.capabilities()``); "conditional" is added for models
# built with labels.
CAPABILITIES = ("sample", "log_likelihood", "encode", "decode", "complete", "stream", "anomaly_score", "latent_z",
                "fit_latent", "classify")


@dataclass(frozen=True)
class SampleOption:
    """One keyword option of a model's ``sample()`` (and a ``genlab sample`` flag).

    ``type`` is int, float, str or bool (None: untyped, passed through as given); ``choices`` limits the
    values; ``min``/``max`` bound numbers (``min_exclusive`` makes the lower bound strict). ``default`` is what
    the model uses when the option is not given (None: the model decides, e.g. from its config).
    """

    name: str
    type: type | None = None
    default: Any = None
    help: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """A short description of the accepted values, e.g. "int >= 1" or "one of prior, gmm"."""
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        kind = {int: "an integer", float: "a number", str: "text", bool: "true or false"}.get(self.type, "a value")
        return f"{kind} {self._range()}".strip()

    def _range(self) -> str:
        """The allowed range as words, e.g. "> 0", ">= 1", "in (0, 1]" ("" when unbounded)."""
        if self.min is not None and self.max is not None:
            return f"in {'(' if self.min_exclusive else '['}{self.min}, {self.max}]"
        if self.min is not None:
            return f"{'>' if self.min_exclusive else '>='} {self.min}"
        return f"<= {self.max}" if self.max is not None else ""

    def check(self, value: Any, model: str = "", parse: bool = False) -> Any:
        """``value`` checked (ints become floats for float options), or one-line ConfigError naming the option:
        ``temperature must be > 0 for model 'char-gru', got 0``. ``parse``: ``value`` may be command-line
        text, converted to ``type`` first (and the option is named by its flag, ``--temperature``)."""
        if value is None:
            return value
        if self.type is None:  # untyped (a plain-name declaration): command-line text read as a YAML scalar
            if parse and isinstance(value, str):
                from ..config import parse_value

                return parse_value(value)
            return value

        raw = value

        def bad(condition: str) -> ConfigError:
            who = self.flag if parse else self.name
            return ConfigError(f"{who} must be {condition}" + (f" for model {model!r}" if model else "") + f", got {raw!r}")

        kind = {int: "an integer", float: "a number", str: "text", bool: "true or false"}.get(self.type, "a value")
        if parse and isinstance(value, str) and self.type in (int, float, bool):
            text = value.strip().lower()
            try:
                if self.type is bool:
                    if text not in ("true", "yes", "1", "on", "false", "no", "0", "off"):
                        raise ValueError(text)
                    value = text in ("true", "yes", "1", "on")
                else:
                    value = self.type(text)
            except ValueError:
                raise bad(kind) from None
        if self.type is bool and not isinstance(value, bool):
            raise bad(kind)
        if self.type is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad(kind)
        if self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise bad(kind)
            value = float(value)
        if self.type is str and not isinstance(value, str):
            raise bad(kind)
        if self.choices is not None and value not in self.choices:
            names = [str(c) for c in self.choices]
            raise bad(names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1])
        if (self.min is not None and (value < self.min or (self.min_exclusive and value == self.min))) or (
                self.max is not None and value > self.max):
            raise bad(self._range())
        return value


def as_option(opt: "SampleOption | str") -> SampleOption:
    """A declaration as a :class:`SampleOption` (a plain name is an untyped option)."""
    return opt if isinstance(opt, SampleOption) else SampleOption(str(opt))


class GenerativeModel(nn.Module):
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    family: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    modalities: ClassVar[tuple[str, ...]] = ("image",)
    iterative: ClassVar[bool] = True  # False: fitted in one call to fit() (e.g. scikit-learn models)
    # keyword options sample() accepts: SampleOption declarations (a plain name is accepted as an untyped option)
    sample_options: ClassVar[tuple[SampleOption | str, ...]] = ()
    likelihood_estimator: ClassVar[str] = ""  # "exact", "elbo", "importance-sampled", ...
    # what log_likelihood is a likelihood of: "binarised", "8-bit discretised", "dequantised" ("": the evaluator
    # infers it from the model's config, see genlab.eval.likelihood_runs.likelihood_label)
    likelihood_data: ClassVar[str] = ""
    # place in the family tree (`genlab models --tree`): "exact" | "approximate" (explicit density) | "implicit";
    # "" derives it: no log_likelihood -> implicit, an estimator starting with "exact" -> exact, else approximate
    density: ClassVar[str] = ""
    supports_nll_samples: ClassVar[bool] = False  # log_likelihood(batch, num_samples=K) (importance sampling)
    # this model's defaults for the optimiser settings of TrainConfig left at None (lr, betas, weight_decay, optimizer)
    train_defaults: ClassVar[dict[str, Any]] = {}
    latent_dim: int | None = None  # size of the codes ``decode`` takes (None: no latent space); set by models that have one
    # small settings for the contract test (tests/test_contract.py): model keys, plus optional "data", "train"
    # and "sample" sections
    tiny_config: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: ModelConfig, info: DataInfo):
        super().__init__()
        if info.modality not in self.modalities:
            raise ConfigError(
                f"model {self.name!r} works on {' or '.join(self.modalities)} data, not {info.modality} data"
            )
        self.config = config
        self.info = info
        self._optimize_hook: Callable[[torch.Tensor, str], None] | None = None

    # ------------------------------------------------------------------ training
    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """One optimiser ("main") over all parameters; adversarial models override this to return one
        optimiser per player through :meth:`build_optimizers`."""
        return self.build_optimizers(train, {"main": self.parameters()})

    def scaled_train_config(self, train: TrainConfig, given: set[str]) -> tuple[TrainConfig, str | None]:
        """The training settings scaled to this model and its data before training starts (e.g. a smaller batch
        for a large vocabulary), and one line saying what changed and why (None: nothing did). Settings named in
        ``given`` were chosen by the user and are never changed."""
        return train, None

    def build_optimizers(self, train: TrainConfig, groups: dict[str, Iterable[nn.Parameter]]
                         ) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per named parameter group, every one built from ``train`` (the one home of optimiser
        settings): ``train.optimizer`` with learning rate ``train.lr * train.lr_mult.get(name, 1)``, ``train.betas``
        and ``train.weight_decay``; settings left at None come from this model's ``train_defaults``."""
        t = train.resolved(self.train_defaults)
        unknown = sorted(set(t.lr_mult) - set(groups))
        if unknown:
            raise ConfigError(f"train.lr_mult names optimiser(s) {', '.join(unknown)}; model {self.name!r} has "
                              f"{', '.join(groups)}")
        out = {}
        for name, params in groups.items():
            lr = t.lr * t.lr_mult.get(name, 1.0)
            if t.optimizer == "rmsprop":
                out[name] = torch.optim.RMSprop(params, lr=lr, weight_decay=t.weight_decay)
            else:
                out[name] = torch.optim.Adam(params, lr=lr, betas=tuple(t.betas), weight_decay=t.weight_decay)
        return out

    @classmethod
    def resolve_train_config(cls, train: TrainConfig) -> TrainConfig:
        """``train`` with the optimiser settings it leaves at None filled in: what this model's runs record.
        A model fitted in one call (``iterative = False``) has no optimiser: setting one is refused by name."""
        if not cls.iterative:
            given = [k for k in ("lr", "betas", "weight_decay", "optimizer") if getattr(train, k) is not None]
            given += ["lr_mult"] if train.lr_mult else []
            if given:
                raise ConfigError(f"model {cls.name!r} is fitted in one call, without an optimiser: it cannot use "
                                  f"train.{', train.'.join(given)}; drop {'it' if len(given) == 1 else 'them'}")
            return train
        return train.resolved(cls.train_defaults)

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor | float]:
        """Compute losses, call ``self.optimize`` for each update, return the values to log."""
        raise NotImplementedError

    def optimize(self, loss: torch.Tensor, name: str = "main") -> None:
        """Back-propagate ``loss`` and step optimiser ``name`` (zeroing, scaling and clipping by the trainer)."""
        if self._optimize_hook is None:
            raise RuntimeError("optimize() is only available while a Trainer runs this model")
        self._optimize_hook(loss, name)

    def fit(self, data: TensorDataset) -> dict[str, float]:
        """Closed-form / non-gradient fitting for models with ``iterative = False``."""
        raise NotImplementedError

    def on_train_start(self, data: TensorDataset) -> None:
        """Called by the trainer before the first step of every fit (also on resume) with the training data,
        e.g. to index its rows for stratified sampling (CTGAN's training-by-sampling)."""

    def on_train_end(self, data: TensorDataset) -> bool:
        """Called by the trainer once training finishes, before the last checkpoint: fit post-training parts
        (e.g. a latent sampler). Returns True when it changed the model."""
        return False

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict[str, float]:
        """Held-out metrics; by default the negative log-likelihood (or its bound) in nats, and the error rate of
        models that classify (semi-supervised models)."""
        if self.has("classify") and "y" in batch:
            return {"error": float((self.classify(batch["x"]).argmax(1) != batch["y"]).float().mean())}
        if not self.has("log_likelihood"):
            return {}
        ll = self.log_likelihood(batch)
        return {"nll": float(-ll.mean())}

    # ------------------------------------------------------------------ generation
    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None, **options):
        """``n`` samples (images: float (n, C, H, W) in [0, 1]); ``labels`` for conditional models."""
        raise NotImplementedError

    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        """Per-example log-likelihood in nats (or a lower bound, see ``likelihood_estimator``)."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (N, latent_dim) of inputs ``x`` (conditional models also take ``labels``)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Data for codes ``z`` (N, latent_dim) (conditional models also take ``labels``)."""
        raise NotImplementedError

    def complete(self, x: torch.Tensor, mask: torch.Tensor, n: int = 1, generator: torch.Generator | None = None,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` completions (B, n, ...) of ``x`` whose ``mask``ed (True) entries are redrawn (genlab/masks.py)."""
        raise NotImplementedError

    def stream(self, n: int = 1, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               **options) -> Iterator[str]:
        """Like ``sample`` for text, but yield the text as it is produced (``genlab sample`` prints it)."""
        raise NotImplementedError

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes) of inputs ``x``: semi-supervised models' own classifier."""
        raise NotImplementedError

    def anomaly_score(self, batch: Batch, num_samples: int = 1) -> torch.Tensor:
        """Per-example scores, higher = less typical (e.g. the negative log-likelihood bound)."""
        raise NotImplementedError

    def latent_z(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None) -> torch.Tensor:
        """``n`` codes from the model's latent sampler; without one, N(0, I) of ``latent_dim`` dimensions."""
        if self.latent_dim is None:
            raise ConfigError(f"model {self.name!r} has no latent space")
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    def fit_latent(self, data: TensorDataset, max_examples: int = 20000) -> dict:
        """Fit the latent sampler (e.g. a Gaussian mixture) on the codes of ``data``."""
        raise NotImplementedError

    @property
    def denoising(self) -> bool:
        """True when the model is trained on corrupted inputs (``corrupt_input``) to reconstruct clean ones."""
        return False

    def corrupt_input(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The corruption a denoising model is trained on (identity for every other model)."""
        return x

    # ------------------------------------------------------------------ capabilities
    @property
    def conditional(self) -> bool:
        return bool(getattr(self.config, "conditional", False))

    @classmethod
    def _overrides(cls, method: str) -> bool:
        return getattr(cls, method) is not getattr(GenerativeModel, method)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities()

    @classmethod
    def declared_capabilities(cls) -> set[str]:
        """The capabilities of the class (without ``conditional``, which depends on the config)."""
        return {m for m in CAPABILITIES if cls._overrides(m)}

    def capabilities(self) -> set[str]:
        caps = self.declared_capabilities()
        if self.conditional:
            caps.add("conditional")
        return caps

    @classmethod
    def option_specs(cls) -> dict[str, SampleOption]:
        """The declared sampling options by name (plain-string declarations become untyped options)."""
        return {o.name: o for o in map(as_option, cls.sample_options)}

    @classmethod
    def duplicated_train_settings(cls) -> list[str]:
        """Model config fields that duplicate an optimiser setting of TrainConfig (the contract forbids them)."""
        import dataclasses

        return sorted({f.name for f in dataclasses.fields(cls.Config)} & set(OPTIMIZER_KEYS + ("lr_g", "lr_d")))

    @property
    def device(self) -> torch.device:
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")

    def check_sample_args(self, n: int, labels: torch.Tensor | None, options: dict) -> torch.Tensor | None:
        """Validate common ``sample`` arguments; returns labels as a long tensor on the model's device."""
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"number of samples must be a positive integer, got {n!r}")
        self.check_sample_options(options)
        if labels is None:
            return None
        if not self.conditional:
            raise ConfigError(f"model {self.name!r} was not trained with labels (model.conditional=false); drop --label")
        labels = torch.as_tensor(labels, dtype=torch.long, device=self.device).reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise ConfigError(f"got {labels.numel()} labels for {n} samples")
        k = self.info.num_classes
        if labels.min() < 0 or labels.max() >= k:
            raise ConfigError(f"labels must be in 0..{k - 1}, got {labels.unique().tolist()}; {self._class_list()}")
        return labels

    def _class_list(self) -> str:
        names = self.info.class_names or [str(i) for i in range(self.info.num_classes)]
        shown = ", ".join(f"{i}={n}" if n != str(i) else n for i, n in enumerate(names[:30]))
        return f"the classes are {shown}" + (" ..." if len(names) > 30 else "")

    def class_index(self, label: "int | str") -> int:
        """A class given by number or by name (``--label 3``, ``--label sneaker``), or a ConfigError naming the
        classes."""
        if not self.conditional:
            raise ConfigError(f"model {self.name!r} was not trained with labels (model.conditional=false); drop --label")
        text = str(label).strip()
        names = self.info.class_names or []
        if text in names:
            return names.index(text)
        if text.lstrip("-").isdigit() and 0 <= int(text) < self.info.num_classes:
            return int(text)
        raise ConfigError(f"--label {text!r} is not a class of this model; {self._class_list()}")

    def check_sample_options(self, options: dict, parse: bool = False) -> dict:
        """``options`` (None values dropped) checked against the declared sampling options; an unknown name or
        a bad value is a ConfigError naming it. ``parse``: values may be command-line text, converted to the
        declared types (``genlab sample``, ``genlab.sample(run, temperature="0.8")``)."""
        specs = self.option_specs()
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(k for k in given if k not in specs)
        if unknown:
            allowed = ", ".join(specs) or "none"
            raise ConfigError(f"model {self.name!r} does not take sampling option(s) {', '.join(unknown)} (it takes: {allowed})")
        return {k: specs[k].check(v, self.name, parse) for k, v in given.items()}

"""The contract every genlab model fulfils.

A model is an ``nn.Module`` with a config dataclass (``Config``), built from ``(config, info)`` where
``info`` describes the data. It declares its optimisers and one training step; the trainer owns the loop,
devices, clipping, mixed precision, EMA and checkpoints. Gradient updates go through ``self.optimize(loss,
name)``, so adversarial models can alternate several optimisers inside one step.

Capabilities are found from what a subclass overrides: ``sample``, ``log_likelihood``, ``encode``,
``decode``; ``conditional`` when the model is built with labels.
"""
from __future__ import annotations

from typing import Callable, ClassVar

import torch
from torch import nn

from ..config import ModelConfig, TrainConfig
from ..data.base import Batch, DataInfo, TensorDataset
from ..errors import ConfigError


class GenerativeModel(nn.Module):
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    family: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    modalities: ClassVar[tuple[str, ...]] = ("image",)
    iterative: ClassVar[bool] = True  # False: fitted in one call to fit() (e.g. scikit-learn models)
    sample_options: ClassVar[tuple[str, ...]] = ()  # extra keyword options sample() accepts
    likelihood_estimator: ClassVar[str] = ""  # "exact", "elbo", "importance-sampled", ...

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
        """One Adam over all parameters; adversarial models return one optimiser per player."""
        return {
            "main": torch.optim.Adam(
                self.parameters(), lr=train.lr, betas=tuple(train.betas), weight_decay=train.weight_decay
            )
        }

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
        """Held-out metrics; by default the negative log-likelihood (or its bound) in nats."""
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
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------ capabilities
    @property
    def conditional(self) -> bool:
        return bool(getattr(self.config, "conditional", False))

    @classmethod
    def _overrides(cls, method: str) -> bool:
        return getattr(cls, method) is not getattr(GenerativeModel, method)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities()

    def capabilities(self) -> set[str]:
        caps = {m for m in ("sample", "log_likelihood", "encode", "decode") if self._overrides(m)}
        if callable(getattr(self, "complete", None)):  # image completion (genlab/masks.py contract)
            caps.add("complete")
        if self.conditional:
            caps.add("conditional")
        return caps

    @property
    def device(self) -> torch.device:
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")

    def check_sample_args(self, n: int, labels: torch.Tensor | None, options: dict) -> torch.Tensor | None:
        """Validate common ``sample`` arguments; returns labels as a long tensor on the model's device."""
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"number of samples must be a positive integer, got {n!r}")
        unknown = sorted(k for k, v in options.items() if v is not None and k not in self.sample_options)
        if unknown:
            allowed = ", ".join(self.sample_options) or "none"
            raise ConfigError(f"model {self.name!r} does not take sampling option(s) {', '.join(unknown)} (it takes: {allowed})")
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
            raise ConfigError(f"labels must be in 0..{k - 1}, got {labels.unique().tolist()}")
        return labels

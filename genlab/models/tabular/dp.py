"""Differentially private training (DP-SGD) of a table model through Opacus's ``PrivacyEngine``.

``model.dp=true`` turns the model's one optimiser into Opacus's ``DPOptimizer``: every row's gradient is
clipped to ``model.max_grad_norm`` and Gaussian noise is added, its scale calibrated by
``make_private_with_epsilon`` so that the run's planned steps spend at most ``(dp_epsilon, dp_delta)``.
Opacus's per-row gradient hooks go on the model's own networks (``wrap_model=False``), so the model keeps
calling them and the trainer keeps the loop: it steps the optimiser as for any model.

Rows come in the trainer's shuffled batches of a fixed size (whole batches only), not by Poisson sampling;
the ε spent is Opacus's RDP accounting at the sampling rate 1 / (batches per epoch), the approximation
Opacus makes with ``poisson_sampling=False``. The noise scale and the steps taken are kept in the model's
weights, so a resumed run keeps counting; resuming past the planned steps spends more than the target, and
the ε reported says so.
"""
from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from ...errors import ConfigError


def check_dp_fields(cfg) -> None:
    """The checks of ``dp``, ``dp_epsilon``, ``dp_delta`` and ``max_grad_norm`` (Opacus installed when dp)."""
    if not cfg.dp:
        return
    if not (math.isfinite(cfg.dp_epsilon) and cfg.dp_epsilon > 0):
        raise ConfigError(f"model.dp_epsilon must be a finite number > 0, got {cfg.dp_epsilon}")
    if not 0 < cfg.dp_delta < 1:
        raise ConfigError(f"model.dp_delta must be in (0, 1) (usually below 1 / training rows), got {cfg.dp_delta}")
    if not (math.isfinite(cfg.max_grad_norm) and cfg.max_grad_norm > 0):
        raise ConfigError(f"model.max_grad_norm must be a finite number > 0, got {cfg.max_grad_norm}")
    try:
        import opacus  # noqa: F401
    except ImportError:
        raise ConfigError("model.dp=true needs Opacus, which is not installed: pip install 'genlab[dp]'") from None


def register_dp_buffers(model: nn.Module) -> None:
    """The state a private run keeps in its weights: the noise scale, steps taken, ε spent (-1: none yet)."""
    model.register_buffer("dp_noise_multiplier", torch.zeros((), dtype=torch.float64))
    model.register_buffer("dp_steps", torch.zeros((), dtype=torch.long))
    model.register_buffer("dp_epsilon_spent", torch.full((), -1.0, dtype=torch.float64))


def make_private(model, networks: nn.Module, optimizer: torch.optim.Optimizer, train) -> torch.optim.Optimizer:
    """``optimizer`` as Opacus's ``DPOptimizer`` over ``networks`` (every trainable parameter of ``model``),
    its noise calibrated for the run's planned steps (or the noise kept in the weights, when resuming)."""
    from opacus import PrivacyEngine
    from opacus.accountants.utils import get_noise_multiplier

    cfg, n = model.config, model.schema.n_rows
    if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
        raise ConfigError("model.dp=true trains on one process: drop --nproc (Opacus' accounting here is per process)")
    if train.ema_decay:
        raise ConfigError("model.dp=true does not keep EMA weights: drop train.ema_decay")
    if not train.max_steps and (train.max_time or train.max_cpu_time):
        raise ConfigError("model.dp=true calibrates its noise to a planned number of steps: with a time budget "
                          "(--max-time / --max-cpu-time) give --max-steps too")
    if cfg.dp_delta >= 1 / n:
        raise ConfigError(f"model.dp_delta={cfg.dp_delta:g} is not below 1 / training rows (1/{n}): a delta that large "
                          f"allows releasing a row; use e.g. {10 ** math.floor(math.log10(0.1 / n)):g}")
    batch = min(train.batch_size, n)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(n)), batch_size=batch,
                                         drop_last=True)  # only its length: the trainer's batches per epoch
    planned = train.max_steps or train.epochs * len(loader)
    epochs = max(1, math.ceil(planned / len(loader)))
    with warnings.catch_warnings():  # "secure RNG turned off": genlab's runs are seeded, for exact resume
        warnings.simplefilter("ignore")
        engine = PrivacyEngine(accountant="rdp")
    # the first layer's inputs (the data) need no gradient: Opacus' hooks still get theirs, torch warns anyway
    warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed with "
                            "respect to module outputs since no inputs require gradients")
    common = dict(module=networks, optimizer=optimizer, data_loader=loader, max_grad_norm=cfg.max_grad_norm,
                  poisson_sampling=False, wrap_model=False)
    with warnings.catch_warnings():  # Opacus warns that fixed-size batches make its accounting approximate
        warnings.simplefilter("ignore")
        if float(model.dp_noise_multiplier) > 0:  # resuming: the same noise, and the steps already spent
            _, private, _ = engine.make_private(noise_multiplier=float(model.dp_noise_multiplier), **common)
        else:
            try:
                sigma = get_noise_multiplier(target_epsilon=cfg.dp_epsilon, target_delta=cfg.dp_delta,
                                             sample_rate=1 / len(loader), epochs=epochs, accountant="rdp")
            except ValueError as e:
                raise ConfigError(f"model.dp_epsilon={cfg.dp_epsilon:g} cannot be met for {epochs} epoch(s) of "
                                  f"{len(loader)} batches: {e}") from None
            _, private, _ = engine.make_private(noise_multiplier=sigma, **common)
            model.dp_noise_multiplier.fill_(private.noise_multiplier)
    if int(model.dp_steps):
        engine.accountant.history = [(private.noise_multiplier, 1 / len(loader), int(model.dp_steps))]
    model._dp_engine = engine
    return private


def spent(model) -> float:
    """ε spent so far (at ``model.dp_delta``), also kept in ``model.dp_epsilon_spent``."""
    engine = getattr(model, "_dp_engine", None)
    if engine is None or not len(engine.accountant):
        return float(model.dp_epsilon_spent)
    eps = float(engine.accountant.get_epsilon(delta=model.config.dp_delta))
    model.dp_epsilon_spent.fill_(eps)
    return eps


def dp_summary(model) -> dict | None:
    """What a private run spent, for reports (None for a model trained without dp)."""
    cfg = model.config
    if not getattr(cfg, "dp", False):
        return None
    return {"epsilon_spent": round(float(model.dp_epsilon_spent), 4), "epsilon_target": cfg.dp_epsilon,
            "delta": cfg.dp_delta, "max_grad_norm": cfg.max_grad_norm,
            "noise_multiplier": round(float(model.dp_noise_multiplier), 4), "steps": int(model.dp_steps),
            "accountant": "Opacus RDP (fixed-size shuffled batches)"}

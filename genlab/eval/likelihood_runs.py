"""The fallback evaluator: held-out negative log-likelihood for any model that has one."""
from __future__ import annotations

import math

import torch

from ..data import load_data
from ..errors import ConfigError
from .metrics import nll_report


@torch.no_grad()
def test_nll(model, test_ds, nll_samples: int | None = None, batch_size: int = 256, limit: int | None = None,
             seed: int = 0) -> dict:
    """Mean test NLL in nats and bits/dim, with the estimator named (exact, ELBO, importance-sampled)."""
    kwargs, estimator = {}, model.likelihood_estimator or "exact"
    if nll_samples and nll_samples > 1:
        if not getattr(model, "supports_nll_samples", False):
            raise ConfigError(f"model {model.name!r} has no importance-sampled likelihood; drop --nll-samples")
        kwargs, estimator = {"num_samples": nll_samples}, f"importance-sampled (k={nll_samples})"
    torch.manual_seed(seed)
    values = []
    seen = 0
    for batch in test_ds.batches(batch_size, shuffle=False, drop_last=False, device=model.device):
        values.append(-model.log_likelihood(batch, **kwargs).double().cpu())
        seen += len(values[-1])
        if limit and seen >= limit:
            break
    nats = torch.cat(values)[:limit]
    dims = math.prod(model.info.shape)
    return {"estimator": estimator, **nll_report(nats, dims)}


def evaluate_likelihood_run(model, run_dir, data_cfg, *, nll_samples=None, nll_limit=None, **_) -> dict:
    if not model.has("log_likelihood"):
        raise ConfigError(f"genlab has no evaluator for {model.info.modality} models without a likelihood "
                          f"({model.name!r})")
    test_ds = load_data(data_cfg, model.info.modality, "test")
    return {"model": model.name, "data": data_cfg.name, "likelihood": test_nll(model, test_ds, nll_samples, limit=nll_limit)}
